//! Publishing snapshots to workers.
//!
//! The control thread [`SnapshotCell::publish`]es a new `Arc<Snapshot>`;
//! each worker checks [`SnapshotCell::version`] between bursts (one relaxed
//! atomic load, no lock) and only when it changed takes the new `Arc` under
//! a mutex that nothing else holds on the fast path. Old snapshots are freed
//! when the last worker lets go of them. Established sessions keep their
//! precompiled rewrites across a swap.

use crate::nat::Snapshot;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The current snapshot and a version that changes on every publish.
#[derive(Debug)]
pub struct SnapshotCell {
    version: AtomicU64,
    current: Mutex<(Arc<Snapshot>, u64)>,
}

impl SnapshotCell {
    /// A cell holding `snap` as version 1 (workers start at version 0, so
    /// their first refresh takes it if they were built from another one).
    pub fn new(snap: Arc<Snapshot>) -> SnapshotCell {
        SnapshotCell {
            version: AtomicU64::new(1),
            current: Mutex::new((snap, 1)),
        }
    }

    /// Publishes `snap`; workers pick it up between bursts.
    pub fn publish(&self, snap: Arc<Snapshot>) -> u64 {
        let mut cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let v = cur.1 + 1;
        *cur = (snap, v);
        self.version.store(v, Ordering::Release);
        v
    }

    /// The version of the last publish.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current snapshot and its version.
    pub fn load(&self) -> (Arc<Snapshot>, u64) {
        let cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (Arc::clone(&cur.0), cur.1)
    }
}
