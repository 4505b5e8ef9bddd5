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
use crate::wire::{be16, icmp, ip_proto, ipv4, put16, set_l4_ports, tcp, udp};
use std::net::Ipv4Addr;

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
        use ipv4::field::{CHECKSUM as IP_CHECKSUM, DST_ADDR, SRC_ADDR};
        if pkt.len() < DST_ADDR.end {
            return;
        }
        pkt[SRC_ADDR].copy_from_slice(&self.src.octets());
        pkt[DST_ADDR].copy_from_slice(&self.dst.octets());
        let c = be16(pkt, IP_CHECKSUM.start);
        put16(pkt, IP_CHECKSUM.start, self.ip_delta.apply(c));
        if part == L4Part::IpOnly {
            return;
        }
        let Some(l4) = pkt.get_mut(ihl..) else { return };
        match self.proto {
            ip_proto::TCP if l4.len() >= tcp::field::CHECKSUM.end => {
                set_l4_ports(l4, self.src_port, self.dst_port);
                let at = tcp::field::CHECKSUM.start;
                put16(l4, at, self.l4_delta.apply(be16(l4, at)));
            }
            ip_proto::UDP if l4.len() >= udp::field::CHECKSUM.end => {
                set_l4_ports(l4, self.src_port, self.dst_port);
                let at = udp::field::CHECKSUM.start;
                put16(l4, at, self.l4_delta.apply_udp(be16(l4, at)));
            }
            ip_proto::ICMP if l4.len() >= icmp::field::ECHO_IDENT.end => {
                put16(l4, icmp::field::ECHO_IDENT.start, self.src_port);
                let at = icmp::field::CHECKSUM.start;
                put16(l4, at, self.l4_delta.apply(be16(l4, at)));
            }
            _ => {}
        }
    }
}

/// What a session stores: one rewrite per direction plus the pools whose
/// mappings it holds (the mappings themselves follow from the session's
/// keys, see [`Translation::refs`]). 40 bytes, `repr(C)` so that it sits
/// right after the session's hot fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Translation {
    /// Applied to packets matching the session's original key.
    pub fwd: Rewrite,
    /// Applied to packets matching the session's reply key.
    pub rev: Rewrite,
    /// Pool of the mapping the translated source uses, or `NO_POOL`.
    pub(crate) owner_pool: u16,
    /// Pool of the mapping an inbound session reached
    /// (endpoint-independent inbound), or `NO_POOL`.
    pub(crate) dst_owner_pool: u16,
}

impl Translation {
    /// The mappings (source, destination) a session keyed `orig`/`reply`
    /// holds: a source mapping binds the original source to the reply's
    /// destination and talks to the reply's source; a destination mapping
    /// binds the reply's source (the internal host) to the original
    /// destination and talks to the original source.
    pub(crate) fn refs(&self, orig: &FlowKey, reply: &FlowKey) -> [MappingRef; 2] {
        let owner = if self.owner_pool == MappingRef::NO_POOL {
            MappingRef::NONE
        } else {
            MappingRef {
                pool: self.owner_pool,
                proto: orig.proto,
                internal: (orig.src, orig.src_port),
                external: (reply.dst, reply.dst_port),
                remote: reply.src,
            }
        };
        let dst_owner = if self.dst_owner_pool == MappingRef::NO_POOL {
            MappingRef::NONE
        } else {
            MappingRef {
                pool: self.dst_owner_pool,
                proto: orig.proto,
                internal: (reply.src, reply.src_port),
                external: (orig.dst, orig.dst_port),
                remote: orig.src,
            }
        };
        [owner, dst_owner]
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
