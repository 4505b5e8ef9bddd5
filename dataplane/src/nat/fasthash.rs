//! A tiny keyed multiply-xorshift hasher for the engine's own bounded side
//! tables (fragment table, address-dependent filter index).
//!
//! `hashbrown` is built without its default hasher, and these tables are keyed
//! by a handful of fixed-size integers, so a few multiplies are enough. The
//! seed is per engine so an outside host cannot pre-compute collisions across
//! deployments.

use core::hash::{BuildHasher, Hasher};

#[derive(Clone, Copy, Debug)]
pub(crate) struct SeededState(pub u64);

impl BuildHasher for SeededState {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

pub(crate) struct FastHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(K).rotate_left(29);
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::Hash;

    fn h<T: Hash>(s: u64, v: T) -> u64 {
        SeededState(s).hash_one(v)
    }

    #[test]
    fn seed_and_value_change_the_hash() {
        assert_ne!(h(1, 5u32), h(2, 5u32));
        assert_ne!(h(1, 5u32), h(1, 6u32));
        assert_eq!(h(7, (1u8, 2u16)), h(7, (1u8, 2u16)));
    }
}
