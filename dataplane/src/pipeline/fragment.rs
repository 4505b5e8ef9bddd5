//! IPv4 fragmentation of forwarded packets larger than the egress MTU
//! (RFC 791 3.2, RFC 1812 5.2.6) when DF is clear.
//!
//! Invariants: the first fragment keeps every option, later ones only the
//! options whose "copied" bit is set (padded with end-of-list to a multiple
//! of 4); every fragment but the last carries a multiple of 8 payload bytes;
//! the original MF bit and offset are honoured, so a fragment can be
//! fragmented again. Fragments are written one at a time into a
//! caller-provided buffer: nothing allocates.

use crate::wire::checksum;
use crate::wire::ipv4::{field, Ipv4Packet};

/// Why a packet could not be fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentError {
    /// The packet is not a valid IPv4 packet.
    Malformed,
    /// The MTU leaves no room for 8 payload bytes after the header.
    MtuTooSmall,
    /// The output buffer cannot hold one fragment.
    BufferTooSmall,
}

/// Largest IPv4 header (IHL 15).
const MAX_HEADER: usize = 60;
const IPOPT_END: u8 = 0;
const IPOPT_NOP: u8 = 1;
const IPOPT_COPIED: u8 = 0x80;

/// Copies the options of `opts` that must appear in every fragment into
/// `out`, padded to 4 bytes; returns the length written.
fn copied_options(opts: &[u8], out: &mut [u8; MAX_HEADER - field::MIN_HEADER_LEN]) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < opts.len() {
        let t = opts[i];
        if t == IPOPT_END {
            break;
        }
        if t == IPOPT_NOP {
            i += 1;
            continue;
        }
        let Some(&len) = opts.get(i + 1) else { break };
        let len = usize::from(len);
        if len < 2 || i + len > opts.len() {
            break;
        }
        if t & IPOPT_COPIED != 0 && n + len <= out.len() {
            out[n..n + len].copy_from_slice(&opts[i..i + len]);
            n += len;
        }
        i += len;
    }
    let padded = n.div_ceil(4) * 4;
    out[n..padded].fill(IPOPT_END);
    padded
}

/// Splits `pkt` (an IPv4 packet, DF clear) into fragments of at most `mtu`
/// bytes. Each fragment is written to `buf[head..]` and `emit` is called with
/// `buf[..head + len]` (so a link header the caller placed in `buf[..head]`
/// precedes every fragment). Returns the number of fragments emitted; stops
/// early (without error) when `emit` returns false.
pub fn fragment(
    pkt: &[u8],
    mtu: usize,
    buf: &mut [u8],
    head: usize,
    mut emit: impl FnMut(&[u8]) -> bool,
) -> Result<usize, FragmentError> {
    let ip = Ipv4Packet::new_checked(pkt).map_err(|_| FragmentError::Malformed)?;
    let ihl = usize::from(ip.header_len());
    let total = usize::from(ip.total_len());
    let base_off = usize::from(ip.frag_offset());
    let orig_mf = ip.more_frags();
    let payload = &pkt[ihl..total];

    let mut later_opts = [0u8; MAX_HEADER - field::MIN_HEADER_LEN];
    let later_opt_len = copied_options(&pkt[field::MIN_HEADER_LEN..ihl], &mut later_opts);

    let mut pos = 0;
    let mut count = 0;
    while pos < payload.len() || (payload.is_empty() && count == 0) {
        let hl = if pos == 0 {
            ihl
        } else {
            field::MIN_HEADER_LEN + later_opt_len
        };
        let room = mtu.saturating_sub(hl) / 8 * 8;
        if room == 0 {
            return Err(FragmentError::MtuTooSmall);
        }
        let chunk = room.min(payload.len() - pos);
        let last = pos + chunk == payload.len();
        let len = hl + chunk;
        let Some(out) = buf.get_mut(head..head + len) else {
            return Err(FragmentError::BufferTooSmall);
        };
        if pos == 0 {
            out[..ihl].copy_from_slice(&pkt[..ihl]);
        } else {
            out[..field::MIN_HEADER_LEN].copy_from_slice(&pkt[..field::MIN_HEADER_LEN]);
            out[field::MIN_HEADER_LEN..hl].copy_from_slice(&later_opts[..later_opt_len]);
        }
        out[hl..].copy_from_slice(&payload[pos..pos + chunk]);
        let mut f = Ipv4Packet::new_unchecked(&mut out[..]);
        f.set_version_and_header_len(hl as u8);
        f.set_total_len(len as u16);
        f.set_more_frags(!last || orig_mf);
        f.set_frag_offset((base_off + pos) as u16);
        f.set_checksum(0);
        let c = checksum::checksum(&out[..hl]);
        Ipv4Packet::new_unchecked(&mut out[..]).set_checksum(c);
        count += 1;
        pos += chunk;
        let Some(frame) = buf.get(..head + len) else {
            return Err(FragmentError::BufferTooSmall);
        };
        if !emit(frame) || payload.is_empty() {
            break;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn packet(payload: usize, opts: &[u8], mf: bool, off: u16) -> Vec<u8> {
        let ihl = 20 + opts.len();
        let mut p = vec![0u8; ihl + payload];
        for (i, b) in p[ihl..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p[20..ihl].copy_from_slice(opts);
        let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.set_version_and_header_len(ihl as u8);
        ip.set_total_len((ihl + payload) as u16);
        ip.set_ident(0x1234);
        ip.set_more_frags(mf);
        ip.set_frag_offset(off);
        ip.set_ttl(63);
        ip.set_protocol(17);
        ip.set_src_addr(Ipv4Addr::new(192, 168, 88, 10));
        ip.set_dst_addr(Ipv4Addr::new(198, 51, 100, 7));
        ip.fill_checksum();
        p
    }

    fn split(p: &[u8], mtu: usize) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; 2000];
        let mut out = Vec::new();
        fragment(p, mtu, &mut buf, 0, |f| {
            out.push(f.to_vec());
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn splits_on_8_byte_boundaries_and_reassembles() {
        let p = packet(1480, &[], false, 0);
        let frags = split(&p, 576);
        let mut data = Vec::new();
        let mut next = 0;
        for (i, f) in frags.iter().enumerate() {
            let ip = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert!(ip.verify_checksum());
            assert!(f.len() <= 576);
            assert_eq!(usize::from(ip.frag_offset()), next);
            assert_eq!(ip.more_frags(), i + 1 < frags.len());
            assert_eq!(ip.ident(), 0x1234);
            if i + 1 < frags.len() {
                assert_eq!(ip.payload().len() % 8, 0);
            }
            next += ip.payload().len();
            data.extend_from_slice(ip.payload());
        }
        assert_eq!(frags.len(), 3);
        assert_eq!(data, p[20..]);
    }

    #[test]
    fn later_fragments_keep_only_copied_options_and_mf_of_the_original() {
        // Security option (copied, type 0x82, len 4) then record route (not copied, 7, len 4).
        let opts = [0x82, 4, 0xaa, 0xbb, 0x07, 4, 0, 0];
        let p = packet(100, &opts, true, 800);
        let frags = split(&p, 28 + 40);
        assert_eq!(&frags[0][20..28], &opts);
        let second = Ipv4Packet::new_checked(&frags[1][..]).unwrap();
        assert_eq!(second.header_len(), 24);
        assert_eq!(&frags[1][20..24], &[0x82, 4, 0xaa, 0xbb]);
        for f in &frags {
            let ip = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert!(ip.more_frags(), "original MF must stay set");
            assert!(ip.frag_offset() >= 800);
            assert!(ip.verify_checksum());
        }
    }

    #[test]
    fn refuses_tiny_mtu_and_small_buffer() {
        let p = packet(100, &[], false, 0);
        let mut buf = [0u8; 2000];
        assert_eq!(
            fragment(&p, 27, &mut buf, 0, |_| true),
            Err(FragmentError::MtuTooSmall)
        );
        assert_eq!(
            fragment(&p, 68, &mut buf[..30], 0, |_| true),
            Err(FragmentError::BufferTooSmall)
        );
        assert_eq!(
            fragment(&p[..10], 68, &mut buf, 0, |_| true),
            Err(FragmentError::Malformed)
        );
    }
}
