//! Per-worker rule hit counters.
//!
//! One `RuleCounters` per worker, sized from [`super::CompiledRules::len`]
//! when the worker picks up a snapshot. Only its worker writes it (a relaxed
//! load + store, no read-modify-write atomics on the fast path); the control
//! thread reads any worker's counters through a shared reference and sums
//! them with [`RuleCounters::sum_into`]. Relaxed loads may see a slightly
//! stale value, which is fine for monitoring.

use std::sync::atomic::{AtomicU64, Ordering};

/// Packets and bytes per rule index for one worker.
#[derive(Debug)]
pub struct RuleCounters {
    packets: Box<[AtomicU64]>,
    bytes: Box<[AtomicU64]>,
}

impl RuleCounters {
    /// Preallocate counters for `rules` rules, all zero.
    pub fn new(rules: usize) -> Self {
        RuleCounters {
            packets: (0..rules).map(|_| AtomicU64::new(0)).collect(),
            bytes: (0..rules).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Count one packet of `bytes` bytes against rule `index`. Only the owning
    /// worker may call this (single writer). An out-of-range index, possible
    /// only with counters sized for another snapshot, is ignored.
    #[inline]
    pub fn hit(&self, index: usize, bytes: u64) {
        if let (Some(p), Some(b)) = (self.packets.get(index), self.bytes.get(index)) {
            p.store(p.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
            b.store(
                b.load(Ordering::Relaxed).wrapping_add(bytes),
                Ordering::Relaxed,
            );
        }
    }

    /// `(packets, bytes)` for rule `index`; `(0, 0)` when out of range.
    pub fn get(&self, index: usize) -> (u64, u64) {
        match (self.packets.get(index), self.bytes.get(index)) {
            (Some(p), Some(b)) => (p.load(Ordering::Relaxed), b.load(Ordering::Relaxed)),
            _ => (0, 0),
        }
    }

    /// Add this worker's counts into `totals[index] = (packets, bytes)`;
    /// indices beyond `totals` are skipped.
    pub fn sum_into(&self, totals: &mut [(u64, u64)]) {
        for (i, t) in totals.iter_mut().enumerate().take(self.len()) {
            let (p, b) = self.get(i);
            t.0 = t.0.wrapping_add(p);
            t.1 = t.1.wrapping_add(b);
        }
    }

    /// Totals across workers, one entry per rule of the longest counter set.
    pub fn sum<'a>(workers: impl IntoIterator<Item = &'a RuleCounters>) -> Vec<(u64, u64)> {
        let mut totals: Vec<(u64, u64)> = Vec::new();
        for w in workers {
            if totals.len() < w.len() {
                totals.resize(w.len(), (0, 0));
            }
            w.sum_into(&mut totals);
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_and_get() {
        let c = RuleCounters::new(3);
        c.hit(1, 100);
        c.hit(1, 60);
        c.hit(2, 1);
        assert_eq!(c.get(0), (0, 0));
        assert_eq!(c.get(1), (2, 160));
        assert_eq!(c.get(2), (1, 1));
    }

    #[test]
    fn out_of_range_is_ignored() {
        let c = RuleCounters::new(1);
        c.hit(5, 100);
        assert_eq!(c.get(5), (0, 0));
        assert_eq!(c.get(0), (0, 0));
    }

    #[test]
    fn sum_across_workers() {
        let a = RuleCounters::new(2);
        let b = RuleCounters::new(3);
        a.hit(0, 10);
        b.hit(0, 5);
        b.hit(2, 7);
        assert_eq!(RuleCounters::sum([&a, &b]), vec![(2, 15), (0, 0), (1, 7)]);
        let mut t = [(1, 1)];
        b.sum_into(&mut t);
        assert_eq!(t, [(2, 6)]);
    }

    #[test]
    fn shared_with_reader_thread() {
        let c = std::sync::Arc::new(RuleCounters::new(1));
        c.hit(0, 40);
        let r = std::sync::Arc::clone(&c);
        let got = std::thread::spawn(move || r.get(0)).join().unwrap();
        assert_eq!(got, (1, 40));
    }
}
