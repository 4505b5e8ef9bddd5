//! Translating ICMP errors about translated flows (RFC 5508, N12).
//!
//! An error quotes a packet Q as the error's sender saw it, i.e. *after*
//! translation on the sender's side. Reversing Q's key gives the key of
//! packets flowing from the sender's side, so the session lookup names the
//! direction D the error travels in, and D's rewrite `R`:
//! * outer destination := `R.dst` (Q's original source);
//! * outer source := `R.src` if the error came from Q's destination itself or
//!   direction D translates sources (an inside router must not leak);
//!   otherwise unchanged (an outside router stays visible, as traceroute
//!   expects);
//! * Q's source/port := `R.dst`/`R.dst_port`, Q's destination/port :=
//!   `R.src`/`R.src_port` (the mirror of a D packet), ICMP query identifier
//!   likewise;
//! * Q's IP header checksum is updated; Q's L4 checksum only when Q is
//!   quoted in full (otherwise it cannot be right anyway); the ICMP checksum
//!   and the outer IP checksum are recomputed over what is there.
//!
//! Invariant: an error never creates, refreshes or deletes a session; an
//! error matching no session is dropped (`IcmpErrorNoSession`).

use crate::conntrack::{Dir, FlowKey, SessionTable};
use crate::nat::translate::{Rewrite, Translation};
use crate::stats::DropReason;
use crate::wire::checksum;
use crate::wire::icmp::{field as icmp_field, msg_type};
use crate::wire::ip_proto;
use crate::wire::ipv4::Ipv4Packet;
use std::net::Ipv4Addr;

/// Offsets inside the quoted packet's L4 header.
mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const UDP_CHECKSUM: Range<usize> = 6..8;
    pub const TCP_CHECKSUM: Range<usize> = 16..18;
    /// RFC 792: an error quotes at least 8 bytes past the IP header.
    pub const MIN_QUOTED_L4: usize = 8;
}

/// Translates the ICMP error `pkt` (IPv4 header of `ihl` bytes, exactly
/// total-length long) in place. Returns the rewrite of the direction the
/// error travels in.
pub fn translate(
    sessions: &SessionTable<Translation>,
    seed: u64,
    pkt: &mut [u8],
    ihl: usize,
) -> Result<Rewrite, DropReason> {
    let (hdr, icmp) = pkt.split_at_mut(ihl.min(pkt.len()));
    if icmp.len() < icmp_field::HEADER_LEN {
        return Err(DropReason::IcmpMalformed);
    }
    let (icmp_hdr, quoted) = icmp.split_at_mut(icmp_field::HEADER_LEN);
    let q = Ipv4Packet::new_checked_quoted(&quoted[..]).map_err(|_| DropReason::IcmpMalformed)?;
    let q_ihl = usize::from(q.header_len());
    let q_total = usize::from(q.total_len());
    let (q_src, q_dst, q_proto) = (q.src_addr(), q.dst_addr(), q.protocol());
    if q.frag_offset() != 0 {
        // No ports to match a session with.
        return Err(DropReason::IcmpErrorNoSession);
    }
    let Some(q_l4) = quoted.get(q_ihl..) else {
        return Err(DropReason::IcmpMalformed);
    };
    if q_l4.len() < field::MIN_QUOTED_L4 {
        return Err(DropReason::IcmpMalformed);
    }
    let (sport, dport) = match q_proto {
        ip_proto::TCP | ip_proto::UDP => (
            rd16(q_l4, field::SRC_PORT.start),
            rd16(q_l4, field::DST_PORT.start),
        ),
        ip_proto::ICMP => match q_l4[icmp_field::TYPE] {
            msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY => {
                let id = rd16(q_l4, icmp_field::ECHO_IDENT.start);
                (id, id)
            }
            // Errors about errors (or other ICMP) belong to no session.
            _ => return Err(DropReason::IcmpErrorNoSession),
        },
        _ => return Err(DropReason::IcmpErrorNoSession),
    };
    let quoted_key = FlowKey {
        src: q_src,
        dst: q_dst,
        src_port: sport,
        dst_port: dport,
        proto: q_proto,
    };
    let k = quoted_key.reversed();
    let (id, dir) = sessions
        .lookup(&k, k.hash_with(seed))
        .ok_or(DropReason::IcmpErrorNoSession)?;
    let t = &sessions
        .try_get(id)
        .ok_or(DropReason::IcmpErrorNoSession)?
        .payload;
    let rw = if dir == Dir::Original { t.fwd } else { t.rev };

    // The quoted packet: mirror of a D-direction packet.
    let new_q = FlowKey {
        src: rw.dst,
        dst: rw.src,
        src_port: rw.dst_port,
        dst_port: rw.src_port,
        proto: q_proto,
    };
    let inner = Rewrite::between(&quoted_key, &new_q);
    let full = quoted.len() >= q_total;
    rewrite_quoted(quoted, q_ihl, &inner, full);

    // The outer header.
    let outer_src = Ipv4Packet::new_unchecked(&hdr[..]).src_addr();
    let new_src = if outer_src == q_dst || rw.src != k.src {
        rw.src
    } else {
        outer_src
    };
    let mut outer = Ipv4Packet::new_unchecked(&mut hdr[..]);
    outer.set_src_addr(new_src);
    outer.set_dst_addr(rw.dst);
    outer.fill_checksum();

    // ICMP checksum over the whole message (no pseudo-header).
    icmp_hdr[icmp_field::CHECKSUM].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::sum(icmp_hdr) + checksum::sum(quoted));
    icmp_hdr[icmp_field::CHECKSUM].copy_from_slice(&(!c).to_be_bytes());
    Ok(rw)
}

/// Rewrites the quoted packet's addresses and ports/identifier. Its IP
/// checksum is updated incrementally; its L4 checksum only if `full`.
fn rewrite_quoted(q: &mut [u8], q_ihl: usize, rw: &Rewrite, full: bool) {
    let mut ip = Ipv4Packet::new_unchecked(&mut q[..]);
    ip.set_src_addr(rw.src);
    ip.set_dst_addr(rw.dst);
    let c = ip.checksum();
    ip.set_checksum(rw.ip_delta.apply(c));
    let Some(l4) = q.get_mut(q_ihl..) else { return };
    match rw.proto {
        ip_proto::TCP | ip_proto::UDP => {
            wr16(l4, field::SRC_PORT.start, rw.src_port);
            wr16(l4, field::DST_PORT.start, rw.dst_port);
            if !full {
                return;
            }
            if rw.proto == ip_proto::TCP && l4.len() >= field::TCP_CHECKSUM.end {
                let c = rd16(l4, field::TCP_CHECKSUM.start);
                wr16(l4, field::TCP_CHECKSUM.start, rw.l4_delta.apply(c));
            } else if rw.proto == ip_proto::UDP {
                let c = rd16(l4, field::UDP_CHECKSUM.start);
                wr16(l4, field::UDP_CHECKSUM.start, rw.l4_delta.apply_udp(c));
            }
        }
        ip_proto::ICMP => {
            wr16(l4, icmp_field::ECHO_IDENT.start, rw.src_port);
            if full {
                let c = rd16(l4, icmp_field::CHECKSUM.start);
                wr16(l4, icmp_field::CHECKSUM.start, rw.l4_delta.apply(c));
            }
        }
        _ => {}
    }
}

/// The outer destination after translation (for routing).
pub fn outer_dst(pkt: &[u8]) -> Option<Ipv4Addr> {
    Ipv4Packet::new_checked(pkt).ok().map(|p| p.dst_addr())
}

#[inline(always)]
fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
