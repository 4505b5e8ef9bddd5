//! Workloads shared by the criterion benches, the report binary and the
//! e2e generator.
//!
//! - [`pkt`]: 64-byte-frame UDP and TCP packets with correct checksums.
//! - [`scenario`]: a two-interface CGNAT-style router (LAN 10.0.0.0/8,
//!   WAN 203.0.113.0/24, src-nat to a pool sized for the session count) and
//!   a flow set with distinct 5-tuples, populated through the real slow path.
//! - [`frames`]: the full frame pipeline (L2, ARP-resolved next hops, NAT).
//! - [`mem`]: resident memory and transparent huge pages on request.
//! - [`env_sizes`]: session counts from `DPNAT_BENCH_SESSIONS`.
#![deny(unsafe_code)]

pub mod frames;
pub mod mem;
pub mod pkt;
pub mod scenario;

/// Session counts to bench: `DPNAT_BENCH_SESSIONS=1000,1000000,16000000`
/// (`_` separators and `k`/`m` suffixes allowed), else `default`.
pub fn env_sizes(default: &[usize]) -> Vec<usize> {
    match std::env::var("DPNAT_BENCH_SESSIONS") {
        Ok(s) if !s.trim().is_empty() => s
            .split(',')
            .filter_map(|x| parse_count(x.trim()))
            .filter(|&n| n > 0)
            .collect(),
        _ => default.to_vec(),
    }
}

/// `1000`, `1_000`, `1k`, `16m`, `16M`.
pub fn parse_count(s: &str) -> Option<usize> {
    let s = s.replace('_', "");
    let (num, mul) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1_000),
        'm' | 'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (&s[..], 1),
    };
    num.parse::<usize>().ok().map(|n| n * mul)
}

/// A small, fast PRNG (xorshift64*) so workloads are reproducible and the
/// benches measure the engine, not the random number generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; `n > 0`).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse() {
        assert_eq!(parse_count("1000"), Some(1000));
        assert_eq!(parse_count("1_000_000"), Some(1_000_000));
        assert_eq!(parse_count("16m"), Some(16_000_000));
        assert_eq!(parse_count("2K"), Some(2000));
        assert_eq!(parse_count("x"), None);
    }

    #[test]
    fn rng_below_is_in_range() {
        let mut r = Rng::new(7);
        for n in [1usize, 2, 3, 1000, 16_000_000] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
    }
}
