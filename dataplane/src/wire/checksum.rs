//! Internet checksum (RFC 1071) and incremental update (RFC 1624).
//!
//! # Maths
//! The Internet checksum is the ones-complement of the ones-complement sum of
//! the data taken as big-endian 16-bit words (an odd trailing byte is padded
//! with a zero low byte). Ones-complement addition is addition modulo
//! 0xFFFF with end-around carry, so:
//! * words may be summed in any order and in any width that is a multiple of
//!   16 bits (2^32 ≡ 2^16 ≡ 1 mod 0xFFFF), and in either byte order (the sum
//!   of byte-swapped words is the byte-swapped sum), which is why [`sum`]
//!   adds 32-bit halves of 8-byte little-endian loads into u64 accumulators;
//! * a sum over nonzero data folds to a value in `1..=0xFFFF`, never 0, so a
//!   full recompute never yields the checksum 0xFFFF.
//!
//! # Incremental update
//! Changing one 16-bit word `m` to `m'` updates the checksum `HC` by RFC 1624
//! equation 3: `HC' = ~(~HC + ~m + m')`. Equation 2 (`HC - ~m - m'`) gets the
//! -0 case wrong (N15); equation 3 does not. A [`Delta`] is the ones-complement
//! sum of `~m + m'` over every changed word, so it can be precomputed once per
//! session (address and port rewrite) and applied to every packet with one add
//! and one fold. A word that does not change (`m == m'`) is skipped.
//!
//! UDP (N16): a transmitted checksum of 0 means "none" and must stay 0, and a
//! computed checksum of 0 is sent as 0xFFFF ([`Delta::apply_udp`]).
//! ICMP has no pseudo-header: only TCP and UDP include the addresses, so
//! rewriting an address changes TCP/UDP checksums but never ICMP ones.

use std::net::Ipv4Addr;

/// Unfolded ones-complement sum of `data` as big-endian 16-bit words.
///
/// The result is partially folded to at most 0xFFFF, so callers can add many
/// sums (and [`pseudo_header_sum`]) together in a u32 without overflow before
/// calling [`fold`]. Sums of consecutive slices may only be added if every
/// slice but the last has even length.
///
/// Speed: 16 bytes per iteration into two independent u64 accumulators,
/// each 8-byte load split into two 32-bit halves so no carry needs
/// propagating (an accumulator cannot overflow below 32 GiB of input). Loads
/// are little-endian, which is free on x86/ARM: the ones-complement sum of
/// byte-swapped words is the byte-swapped sum, so one swap at the end gives
/// the big-endian result.
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    #[inline(always)]
    fn halves(c: &[u8]) -> u64 {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        (w >> 32) + (w & 0xFFFF_FFFF)
    }
    let (mut a, mut b): (u64, u64) = (0, 0);
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        a += halves(&c[..8]);
        b += halves(&c[8..]);
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 8 {
        a += halves(rest);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        a += u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        b += u16::from_le_bytes([rest[0], rest[1]]) as u64;
        rest = &rest[2..];
    }
    if let [last] = rest {
        // Padded with a zero low byte in network order: the low byte of an LE word.
        b += *last as u64;
    }
    fold64(a + b).swap_bytes() as u32
}

#[inline(always)]
fn fold64(mut x: u64) -> u16 {
    x = (x >> 32) + (x & 0xFFFF_FFFF);
    x = (x >> 32) + (x & 0xFFFF_FFFF);
    fold(x as u32)
}

/// Folds a 32-bit ones-complement accumulator to 16 bits (not complemented).
#[inline(always)]
pub const fn fold(mut x: u32) -> u16 {
    x = (x >> 16) + (x & 0xFFFF);
    x = (x >> 16) + (x & 0xFFFF);
    x as u16
}

/// The Internet checksum of `data`: `!fold(sum(data))`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Sum of the TCP/UDP pseudo-header (source, destination, zero, protocol, L4 length).
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4_len: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    (s >> 16) + (s & 0xFFFF) + (d >> 16) + (d & 0xFFFF) + proto as u32 + l4_len as u32
}

/// A precomputable checksum adjustment: the ones-complement sum of `~m + m'`
/// over every rewritten 16-bit word (RFC 1624). Build it once per rewrite,
/// apply it to every packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Delta(u16);

impl Delta {
    /// No change.
    pub const ZERO: Delta = Delta(0);

    /// Adds the rewrite of one 16-bit word `old` -> `new`. A no-op if equal (N15).
    #[inline]
    #[must_use]
    pub const fn replace16(self, old: u16, new: u16) -> Delta {
        if old == new {
            return self;
        }
        Delta(fold(self.0 as u32 + (!old) as u32 + new as u32))
    }

    /// Adds the rewrite of a 32-bit word-aligned value (two 16-bit words).
    #[inline]
    #[must_use]
    pub const fn replace32(self, old: u32, new: u32) -> Delta {
        self.replace16((old >> 16) as u16, (new >> 16) as u16)
            .replace16(old as u16, new as u16)
    }

    /// Adds the rewrite of an IPv4 address (IP header, and pseudo-header for TCP/UDP).
    #[inline]
    #[must_use]
    pub fn replace_addr(self, old: Ipv4Addr, new: Ipv4Addr) -> Delta {
        self.replace32(u32::from(old), u32::from(new))
    }

    /// Combines two deltas (e.g. address + port rewrite).
    #[inline]
    #[must_use]
    pub const fn add(self, other: Delta) -> Delta {
        Delta(fold(self.0 as u32 + other.0 as u32))
    }

    /// The delta of the inverse rewrite (every `new` back to `old`): the
    /// ones-complement negation, since `~(~m + m') = m + ~m'`. Lets the reply
    /// direction of a session reuse the original direction's delta.
    #[inline]
    #[must_use]
    pub const fn reverse(self) -> Delta {
        Delta(!self.0)
    }

    /// True if applying this delta changes nothing (its sum is +0 or -0).
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0 || self.0 == 0xFFFF
    }

    /// Applies the delta to a stored checksum by RFC 1624 eqn 3:
    /// `HC' = ~(~HC + delta)`. Correct for the -0 case; a zero delta leaves
    /// `hc` untouched.
    #[inline]
    pub const fn apply(self, hc: u16) -> u16 {
        if self.is_zero() {
            return hc;
        }
        !fold((!hc) as u32 + self.0 as u32)
    }

    /// [`apply`](Self::apply) for UDP (N16): a checksum of 0 means "none" and
    /// stays 0; an updated checksum of 0 is transmitted as 0xFFFF.
    #[inline]
    pub const fn apply_udp(self, hc: u16) -> u16 {
        if hc == 0 {
            return 0;
        }
        match self.apply(hc) {
            0 => 0xFFFF,
            c => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 reference: one 16-bit word at a time.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                (c[0] as u16) << 8
            };
            acc += w as u32;
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn sum_matches_naive_for_all_lengths_and_alignments() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 151 + 7) as u8).collect();
        for start in 0..4 {
            for end in start..data.len() {
                assert_eq!(fold(sum(&data[start..end])), naive_sum(&data[start..end]));
            }
        }
        assert_eq!(sum(&[]), 0);
        assert_eq!(fold(sum(&[0xFF; 64])), 0xFFFF);
    }

    #[test]
    fn sum_of_nonzero_data_is_never_zero() {
        // 0x8000 + 0x8000 wraps to 0x0001, not 0x0000.
        assert_eq!(fold(sum(&[0x80, 0, 0x80, 0])), 1);
        assert_eq!(fold(sum(&[0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 1])), 1);
    }

    #[test]
    fn pseudo_header_matches_byte_sum() {
        let src = Ipv4Addr::new(192, 168, 1, 10);
        let dst = Ipv4Addr::new(203, 0, 113, 7);
        let mut ph = Vec::new();
        ph.extend_from_slice(&src.octets());
        ph.extend_from_slice(&dst.octets());
        ph.extend_from_slice(&[0, 17, 0x05, 0xdc]);
        assert_eq!(fold(pseudo_header_sum(src, dst, 17, 1500)), fold(sum(&ph)));
    }

    /// N15: RFC 1624 section 3 -0 example must give 0x0000 (eqn 2 gives 0xFFFF).
    #[test]
    fn n15_rfc1624_minus_zero_case() {
        // Header of words: m = 0x5555 plus others summing to 0xCD7A.
        let others: u16 = 0xCD7A;
        let hc = !fold(others as u32 + 0x5555);
        assert_eq!(hc, 0xDD2F);
        let d = Delta::ZERO.replace16(0x5555, 0x3285);
        assert_eq!(d.apply(0xDD2F), 0x0000);
        // And that is what a full recompute gives.
        assert_eq!(!fold(others as u32 + 0x3285), 0x0000);
    }

    #[test]
    fn n15_skip_when_word_unchanged() {
        let d = Delta::ZERO.replace16(0x1234, 0x1234);
        assert!(d.is_zero());
        assert_eq!(d, Delta::ZERO);
        // Even HC = 0xFFFF stays as is (eqn 3 with ~m + m = -0 would give 0).
        assert_eq!(d.apply(0xFFFF), 0xFFFF);
        // A rewrite and its inverse cancel to a -0 delta, which is also a no-op.
        let back = Delta::ZERO
            .replace16(0x1234, 0xABCD)
            .replace16(0xABCD, 0x1234);
        assert!(back.is_zero());
        assert_eq!(back.apply(0x4321), 0x4321);
    }

    #[test]
    fn delta_matches_full_recompute_for_word_rewrites() {
        let mut data: Vec<u8> = (0..40u32).map(|i| (i * 37 + 11) as u8).collect();
        let before = checksum(&data);
        let old = u32::from_be_bytes([data[12], data[13], data[14], data[15]]);
        let new = 0xC633_7101u32;
        data[12..16].copy_from_slice(&new.to_be_bytes());
        let d = Delta::ZERO.replace32(old, new);
        assert_eq!(d.apply(before), checksum(&data));
    }

    #[test]
    fn delta_reverse_undoes() {
        let mut data: Vec<u8> = (0..40u32).map(|i| (i * 53 + 1) as u8).collect();
        let before = checksum(&data);
        let d = Delta::ZERO
            .replace_addr(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(203, 0, 113, 9))
            .replace16(0x1234, 0x0400);
        let after = d.apply(before);
        assert_eq!(d.reverse().apply(after), before);
        assert!(Delta::ZERO.reverse().is_zero());
        data[0] ^= 1;
        let _ = data;
    }

    #[test]
    fn delta_add_combines() {
        let a = Delta::ZERO.replace16(1, 2);
        let b = Delta::ZERO.replace16(3, 4);
        assert_eq!(a.add(b), Delta::ZERO.replace16(1, 2).replace16(3, 4));
        assert_eq!(a.add(Delta::ZERO), a);
    }

    #[test]
    fn n16_apply_udp_zero_and_ffff() {
        let d = Delta::ZERO.replace16(0x0001, 0x0002);
        assert_eq!(d.apply_udp(0), 0);
        // hc such that the update yields 0: ~(~hc + ~1 + 2) = 0 => ~hc + 1 = 0xFFFF => hc = 1
        assert_eq!(d.apply(0x0001), 0x0000);
        assert_eq!(d.apply_udp(0x0001), 0xFFFF);
    }
}
