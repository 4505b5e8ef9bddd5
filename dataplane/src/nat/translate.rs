//! Precompiled per-direction rewrites (the fast path's only work).
//!
//! A session stores one [`Rewrite`] per direction. Each holds the new
//! addresses and ports plus two checksum deltas computed once at session
//! creation (RFC 1624, N15):
//! * `ip_delta`: the address changes, applied to the IPv4 header checksum;
//! * `l4_delta`: for TCP/UDP the address changes (pseudo-header) plus the port
//!   changes; for ICMP queries only the identifier change (ICMP has no
//!   pseudo-header, N16).
//!
//! Applying a rewrite is a handful of stores and two ones-complement
//! additions, whatever the packet length. A UDP checksum of 0 stays 0 and a
//! computed 0 is sent as 0xFFFF (N16). Non-first fragments carry no L4 header:
//! only the IP part is applied to them.
//!
//! Invariant: [`Rewrite::apply`] is only called on a packet whose IPv4 header
//! and (for [`L4Part::Full`]) L4 header were validated by the wire views; it
//! still never panics on shorter input, it just leaves the missing part alone.

use crate::conntrack::FlowKey;
use crate::wire::checksum::Delta;
use crate::wire::ip_proto;
use std::net::Ipv4Addr;

/// Byte offsets of the fields a rewrite touches.
mod field {
    use core::ops::Range;
    pub const IP_CHECKSUM: Range<usize> = 10..12;
    pub const IP_SRC: Range<usize> = 12..16;
    pub const IP_DST: Range<usize> = 16..20;
    pub const L4_SRC_PORT: Range<usize> = 0..2;
    pub const L4_DST_PORT: Range<usize> = 2..4;
    pub const TCP_CHECKSUM: Range<usize> = 16..18;
    pub const UDP_CHECKSUM: Range<usize> = 6..8;
    pub const ICMP_CHECKSUM: Range<usize> = 2..4;
    pub const ICMP_IDENT: Range<usize> = 4..6;
}

/// Which part of the packet a rewrite applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Part {
    /// Unfragmented packet or first fragment: IP and L4 header.
    Full,
    /// Non-first fragment: IP header only.
    IpOnly,
}

/// How one direction of a session is translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// New source port (TCP/UDP) or ICMP identifier.
    pub src_port: u16,
    /// New destination port (TCP/UDP) or ICMP identifier.
    pub dst_port: u16,
    pub ip_delta: Delta,
    pub l4_delta: Delta,
    /// The translated destination is the router itself (redirect).
    pub to_local: bool,
}

impl Rewrite {
    /// The rewrite that turns packets keyed `from` into packets keyed `to`.
    /// For ICMP queries both ports of a key carry the identifier.
    pub fn between(from: &FlowKey, to: &FlowKey) -> Rewrite {
        let ip_delta = Delta::ZERO
            .replace_addr(from.src, to.src)
            .replace_addr(from.dst, to.dst);
        let l4_delta = if from.proto == ip_proto::ICMP {
            Delta::ZERO.replace16(from.src_port, to.src_port)
        } else {
            ip_delta
                .replace16(from.src_port, to.src_port)
                .replace16(from.dst_port, to.dst_port)
        };
        Rewrite {
            proto: from.proto,
            src: to.src,
            dst: to.dst,
            src_port: to.src_port,
            dst_port: to.dst_port,
            ip_delta,
            l4_delta,
            to_local: false,
        }
    }

    /// The flow key a packet has after this rewrite.
    pub fn key(&self) -> FlowKey {
        FlowKey {
            src: self.src,
            dst: self.dst,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto: self.proto,
        }
    }

    /// Rewrites `pkt` (an IPv4 packet whose header is `ihl` bytes) in place.
    #[inline]
    pub fn apply(&self, pkt: &mut [u8], ihl: usize, part: L4Part) {
        if pkt.len() < field::IP_DST.end {
            return;
        }
        pkt[field::IP_SRC].copy_from_slice(&self.src.octets());
        pkt[field::IP_DST].copy_from_slice(&self.dst.octets());
        let c = rd16(pkt, field::IP_CHECKSUM.start);
        wr16(pkt, field::IP_CHECKSUM.start, self.ip_delta.apply(c));
        if part == L4Part::IpOnly {
            return;
        }
        let Some(l4) = pkt.get_mut(ihl..) else { return };
        match self.proto {
            ip_proto::TCP if l4.len() >= field::TCP_CHECKSUM.end => {
                wr16(l4, field::L4_SRC_PORT.start, self.src_port);
                wr16(l4, field::L4_DST_PORT.start, self.dst_port);
                let c = rd16(l4, field::TCP_CHECKSUM.start);
                wr16(l4, field::TCP_CHECKSUM.start, self.l4_delta.apply(c));
            }
            ip_proto::UDP if l4.len() >= field::UDP_CHECKSUM.end => {
                wr16(l4, field::L4_SRC_PORT.start, self.src_port);
                wr16(l4, field::L4_DST_PORT.start, self.dst_port);
                let c = rd16(l4, field::UDP_CHECKSUM.start);
                wr16(l4, field::UDP_CHECKSUM.start, self.l4_delta.apply_udp(c));
            }
            ip_proto::ICMP if l4.len() >= field::ICMP_IDENT.end => {
                wr16(l4, field::ICMP_IDENT.start, self.src_port);
                let c = rd16(l4, field::ICMP_CHECKSUM.start);
                wr16(l4, field::ICMP_CHECKSUM.start, self.l4_delta.apply(c));
            }
            _ => {}
        }
    }
}

/// What a session stores: one rewrite per direction plus what must be
/// released when the session dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Applied to packets matching the session's original key.
    pub fwd: Rewrite,
    /// Applied to packets matching the session's reply key.
    pub rev: Rewrite,
    /// The mapping the translated source uses.
    pub(crate) owner: MappingRef,
    /// The mapping an inbound session reached (endpoint-independent inbound).
    pub(crate) dst_owner: MappingRef,
}

impl Translation {
    /// The external endpoint this session holds in a pool, if any.
    pub fn mapping(&self) -> Option<(Ipv4Addr, u16)> {
        (self.owner.pool != MappingRef::NO_POOL).then_some(self.owner.external)
    }
}

/// The pool mapping (and address-dependent filter entry) a session holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MappingRef {
    /// Index into the engine's pools, or [`MappingRef::NO_POOL`].
    pub pool: u16,
    pub proto: u8,
    pub internal: (Ipv4Addr, u16),
    pub external: (Ipv4Addr, u16),
    /// The remote address the mapping talks to (address-dependent filtering).
    pub remote: Ipv4Addr,
}

impl MappingRef {
    pub const NO_POOL: u16 = u16::MAX;
    pub const NONE: MappingRef = MappingRef {
        pool: Self::NO_POOL,
        proto: 0,
        internal: (Ipv4Addr::UNSPECIFIED, 0),
        external: (Ipv4Addr::UNSPECIFIED, 0),
        remote: Ipv4Addr::UNSPECIFIED,
    };
}

#[inline(always)]
fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
