//! The 5-tuple flow key and the keyed hash the fast path computes once per packet.
//!
//! Invariants: a key is what is on the wire in one direction, before any
//! translation; ICMP query keys carry the identifier in both port fields,
//! so `reversed()` of a request is its reply. A hash is only meaningful for
//! the seed it was computed with: pass a table `key.hash_with(table.seed())`.

use std::net::Ipv4Addr;

/// One direction of a flow as seen on the wire.
///
/// For ICMP queries (echo, timestamp, ...) both `src_port` and `dst_port`
/// carry the query identifier, so [`FlowKey::reversed`] of a request key is
/// the reply key.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
}

impl FlowKey {
    pub const fn new(
        src: Ipv4Addr,
        src_port: u16,
        dst: Ipv4Addr,
        dst_port: u16,
        proto: u8,
    ) -> Self {
        FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            proto,
        }
    }

    /// The key of the opposite direction (source and destination swapped).
    #[inline]
    pub const fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
        }
    }

    /// Keyed hash of the 13 key bytes, packed into two u64 words.
    ///
    /// Computed once per packet by the caller so a burst can hash (and
    /// prefetch) before it looks anything up. The seed is per table and
    /// random, so a sender who cannot observe it cannot aim collisions.
    #[inline]
    pub fn hash_with(&self, seed: u64) -> u64 {
        let a = (u64::from(u32::from(self.src)) << 32) | u64::from(u32::from(self.dst));
        let b = (u64::from(self.src_port) << 24)
            | (u64::from(self.dst_port) << 8)
            | u64::from(self.proto);
        hash2(a, b, seed)
    }
}

// Odd 64-bit constants with well-mixed bits (the wyhash primes).
const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// 64x64 -> 128 bit multiply, folded: every output bit depends on every input bit.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Keyed hash of two words (folded-multiply, as in wyhash/foldhash).
#[inline]
pub(crate) fn hash2(a: u64, b: u64, seed: u64) -> u64 {
    let h = fold_mul(a ^ seed ^ P0, b ^ seed.rotate_left(29) ^ P1);
    fold_mul(h ^ P2, P3)
}

/// Keyed hash of one IPv4 address (subscriber and host tables).
#[inline]
pub(crate) fn hash_addr(addr: Ipv4Addr, seed: u64) -> u64 {
    hash2(u64::from(u32::from(addr)), 0x5ab5_c41b, seed)
}

/// A seed from the OS-randomised std hasher keys; for use at construction only.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x0d9a_7c0d_e5ee_d000);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(a: [u8; 4], sp: u16, b: [u8; 4], dp: u16, p: u8) -> FlowKey {
        FlowKey::new(Ipv4Addr::from(a), sp, Ipv4Addr::from(b), dp, p)
    }

    #[test]
    fn reversed_swaps_and_is_involutive() {
        let f = k([10, 0, 0, 1], 1234, [8, 8, 8, 8], 53, 17);
        let r = f.reversed();
        assert_eq!(r, k([8, 8, 8, 8], 53, [10, 0, 0, 1], 1234, 17));
        assert_eq!(r.reversed(), f);
    }

    #[test]
    fn hash_depends_on_every_field_and_seed() {
        let f = k([10, 0, 0, 1], 1234, [8, 8, 8, 8], 53, 17);
        let h = f.hash_with(7);
        assert_eq!(h, f.hash_with(7));
        assert_ne!(h, f.hash_with(8));
        let variants = [
            k([10, 0, 0, 2], 1234, [8, 8, 8, 8], 53, 17),
            k([10, 0, 0, 1], 1235, [8, 8, 8, 8], 53, 17),
            k([10, 0, 0, 1], 1234, [8, 8, 8, 9], 53, 17),
            k([10, 0, 0, 1], 1234, [8, 8, 8, 8], 54, 17),
            k([10, 0, 0, 1], 1234, [8, 8, 8, 8], 53, 6),
            f.reversed(),
        ];
        for v in variants {
            assert_ne!(v.hash_with(7), h, "{v:?}");
        }
    }

    #[test]
    fn hash_spreads_sequential_ports_over_low_bits() {
        // hashbrown uses the low bits for the bucket and the top 7 for tags.
        let mut low = [0u32; 64];
        let mut top = [0u32; 128];
        for p in 0..64 * 128u16 {
            let h = k([10, 0, 0, 1], p, [1, 1, 1, 1], 80, 6).hash_with(0x1234);
            low[(h & 63) as usize] += 1;
            top[(h >> 57) as usize] += 1;
        }
        // 128 expected per low bucket and 64 per tag; allow generous slack.
        assert!(low.iter().all(|&c| (64..=192).contains(&c)), "{low:?}");
        assert!(top.iter().all(|&c| (24..=104).contains(&c)), "{top:?}");
    }
}
