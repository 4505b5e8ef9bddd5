//! The session table's key index: a fixed-size, cache-line-bucketed hash
//! index from a key hash to a `u32` value (`slot << 1 | dir`).
//!
//! Layout: 64-byte buckets of seven entries: eight 32-bit tags (the last
//! never used), seven values and an overflow count. A tag is the hash's
//! high 32 bits with the low bit set (0 marks a free entry); the home
//! bucket comes from the hash's low 32 bits. A lookup compares the tags in
//! two vector compares, reads one cache line and only calls the caller's
//! key comparison (which touches the session) on a tag match: a miss costs
//! one line, not a session.
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

/// Entries per bucket: tags, values and the overflow word fill a line.
const WAYS: usize = 7;

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket {
    /// `tags[WAYS]` stays 0 so eight lanes can be compared at once.
    tags: [u32; WAYS + 1],
    vals: [u32; WAYS],
    /// Entries stored past this bucket whose probe started at or before it.
    overflow: u32,
}

pub(crate) struct Index {
    buckets: Box<[Bucket]>,
    len: usize,
}

#[inline(always)]
fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32 | 1
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

    /// Bit `j` set where `tags[j] == t`.
    #[inline(always)]
    fn matches(bk: &Bucket, t: u32) -> u32 {
        let mut m = 0u32;
        for (j, &x) in bk.tags.iter().enumerate() {
            m |= u32::from(x == t) << j;
        }
        m
    }

    /// The first value under `hash` for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut b = self.home(hash);
        loop {
            let bk = &self.buckets[b];
            let mut m = Self::matches(bk, t);
            while m != 0 {
                // Lane WAYS is never tagged, so j < WAYS.
                let v = bk.vals[(m.trailing_zeros() as usize).min(WAYS - 1)];
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

    /// Adds `value` under `hash`. The caller keeps `len` below the
    /// `max_entries` given to `new`.
    pub(crate) fn insert(&mut self, hash: u64, value: u32) {
        let t = tag(hash);
        let mut b = self.home(hash);
        for _ in 0..self.buckets.len() {
            let bk = &mut self.buckets[b];
            if let Some(j) = bk.tags[..WAYS].iter().position(|&x| x == 0) {
                bk.tags[j] = t;
                bk.vals[j] = value;
                self.len += 1;
                return;
            }
            bk.overflow += 1;
            b = self.next(b);
        }
        unreachable!("index sized above its entry bound");
    }

    /// Removes the entry `value` filed under `hash`; false if absent.
    pub(crate) fn remove(&mut self, hash: u64, value: u32) -> bool {
        let t = tag(hash);
        let home = self.home(hash);
        let mut b = home;
        loop {
            let bk = &mut self.buckets[b];
            if let Some(j) = (0..WAYS).find(|&j| bk.tags[j] == t && bk.vals[j] == value) {
                bk.tags[j] = 0;
                bk.vals[j] = 0;
                self.len -= 1;
                let mut p = home;
                while p != b {
                    self.buckets[p].overflow -= 1;
                    p = self.next(p);
                }
                return true;
            }
            if bk.overflow == 0 {
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
        let h = |i: u32| (u64::from(i) << 33) | 1; // home 0, distinct tags
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
