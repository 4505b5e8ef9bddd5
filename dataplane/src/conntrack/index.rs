//! The session table's key index: a fixed-size, cache-line-bucketed hash
//! index from a key hash to a `u32` value (`slot << 1 | dir`).
//!
//! Layout: `buckets` 64-byte buckets, each seven `u64` entries plus an
//! overflow count. An entry is `tag << 32 | (value + 1)`, 0 when empty; the
//! tag is the hash's high 32 bits and the home bucket comes from its low 32
//! bits, so a lookup reads one cache line and only calls the caller's key
//! comparison (which touches the session) on a tag match: a miss costs one
//! line, not a session.
//!
//! Collisions: an entry goes in the first bucket with a free entry from its
//! home on (wrapping); every bucket it passes counts it in `overflow`, so a
//! lookup stops at the first bucket whose overflow count is 0, and removal
//! decrements the counts again. Nothing moves on removal.
//!
//! Invariants: at most `max_entries` entries (checked by the owner), fewer
//! than the bucket slots, so an insert always finds room; for every entry in
//! bucket `b` with home `h`, each bucket from `h` up to (excluding) `b` has
//! an `overflow` count that includes it. Sized once in `new`.

/// Entries per bucket: seven entries and the overflow word fill a line.
const WAYS: usize = 7;

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket {
    e: [u64; WAYS],
    /// Entries stored past this bucket whose probe started at or before it.
    overflow: u32,
    _pad: u32,
}

pub(crate) struct Index {
    buckets: Box<[Bucket]>,
    len: usize,
}

#[inline(always)]
fn tag(hash: u64) -> u64 {
    hash >> 32
}

impl Index {
    /// An index for up to `max_entries` entries, at a load of at most
    /// about 0.6 when full.
    pub(crate) fn new(max_entries: usize) -> Index {
        let n = (max_entries * 5).div_ceil(WAYS * 3).max(1) + 1;
        Index {
            buckets: vec![Bucket::default(); n].into_boxed_slice(),
            len: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        // Multiply-shift range reduction of the low 32 bits.
        (((hash & 0xffff_ffff) * self.buckets.len() as u64) >> 32) as usize
    }

    #[inline(always)]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    /// Reads the home bucket of `hash` so that a later [`Index::find`] hits
    /// the cache: a burst issues these for all its packets back to back so
    /// that the misses overlap. The caller folds the results and passes
    /// them to `black_box` once, so no store waits on each load.
    #[inline(always)]
    pub(crate) fn touch(&self, hash: u64) -> u32 {
        self.buckets[self.home(hash)].overflow
    }

    /// The first value under `hash` for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut b = self.home(hash);
        loop {
            let bk = &self.buckets[b];
            // Branch-free tag match over the line, then the (usually one) hit.
            let mut m = 0u32;
            for (j, &e) in bk.e.iter().enumerate() {
                m |= u32::from(e >> 32 == t && e as u32 != 0) << j;
            }
            while m != 0 {
                let v = (bk.e[m.trailing_zeros() as usize] as u32).wrapping_sub(1);
                if eq(v) {
                    return Some(v);
                }
                m &= m - 1;
            }
            if bk.overflow == 0 {
                return None;
            }
            b = self.next(b);
        }
    }

    /// Adds `value` (< 2^31) under `hash`. The caller keeps `len` below the
    /// `max_entries` given to `new`.
    pub(crate) fn insert(&mut self, hash: u64, value: u32) {
        let entry = (tag(hash) << 32) | u64::from(value + 1);
        let mut b = self.home(hash);
        for _ in 0..self.buckets.len() {
            if let Some(e) = self.buckets[b].e.iter_mut().find(|e| **e == 0) {
                *e = entry;
                self.len += 1;
                return;
            }
            self.buckets[b].overflow += 1;
            b = self.next(b);
        }
        unreachable!("index sized above its entry bound");
    }

    /// Removes the entry `value` filed under `hash`; false if absent.
    pub(crate) fn remove(&mut self, hash: u64, value: u32) -> bool {
        let entry = (tag(hash) << 32) | u64::from(value + 1);
        let home = self.home(hash);
        let mut b = home;
        loop {
            if let Some(e) = self.buckets[b].e.iter_mut().find(|e| **e == entry) {
                *e = 0;
                self.len -= 1;
                let mut p = home;
                while p != b {
                    self.buckets[p].overflow -= 1;
                    p = self.next(p);
                }
                return true;
            }
            if self.buckets[b].overflow == 0 {
                return false;
            }
            b = self.next(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_overflow_and_removal_keeps_later_entries_reachable() {
        // 4 buckets, 28 entries; force everything into bucket 0's probe chain.
        let mut ix = Index::new(12);
        assert_eq!(ix.buckets.len(), 4);
        let h = |i: u32| (u64::from(i) << 32) | 1; // home 0, distinct tags
        for i in 0..12 {
            ix.insert(h(i), i);
        }
        assert_eq!(ix.len(), 12);
        assert_eq!(ix.buckets[0].overflow, 5);
        for i in 0..12 {
            assert_eq!(ix.find(h(i), |v| v == i), Some(i));
        }
        // Removing from the home bucket keeps overflowed entries findable.
        assert!(ix.remove(h(0), 0));
        assert!(ix.remove(h(9), 9));
        assert!(!ix.remove(h(9), 9));
        assert_eq!(ix.buckets[0].overflow, 4);
        for i in (1..12).filter(|&i| i != 9) {
            assert_eq!(ix.find(h(i), |v| v == i), Some(i));
        }
        assert_eq!(ix.find(h(0), |_| true), None);
        // A tag match with a failing comparison is a miss.
        assert_eq!(ix.find(h(3), |_| false), None);
    }
}
