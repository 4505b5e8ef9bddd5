//! A counting global allocator: allocations, bytes requested, live and peak
//! live bytes. A binary opts in with
//! `#[global_allocator] static A: benches::counting::Counting = benches::counting::Counting;`
//! and reads [`snapshot`] around the code it measures.
//!
//! It can also ask for transparent huge pages on big allocations
//! ([`set_huge_pages`]), to measure what hugepage-backed tables would gain.
//!
//! Counts are process-wide (relaxed atomics), so measure on a quiet process:
//! the report binary runs its measurements one at a time on one thread.
#![allow(unsafe_code)] // GlobalAlloc is an unsafe trait; every call forwards to System.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static HUGE: AtomicBool = AtomicBool::new(false);

/// Allocations at least this large get `MADV_HUGEPAGE` when [`set_huge_pages`] is on.
pub const HUGE_MIN: usize = 4 << 20;

/// Asks the kernel to back big allocations (session tables, indexes) with
/// transparent huge pages, as a DPDK application gets by allocating from
/// hugepage memory. Only matters where THP is in `madvise` mode; must be set
/// before the tables are allocated.
pub fn set_huge_pages(on: bool) {
    HUGE.store(on, Ordering::Relaxed);
}

/// `DPNAT_BENCH_THP=1` turns [`set_huge_pages`] on; returns the setting.
pub fn huge_pages_from_env() -> bool {
    let on = matches!(
        std::env::var("DPNAT_BENCH_THP").as_deref(),
        Ok("1") | Ok("yes") | Ok("on")
    );
    set_huge_pages(on);
    on
}

fn advise(ptr: *mut u8, size: usize) {
    if ptr.is_null() || size < HUGE_MIN || !HUGE.load(Ordering::Relaxed) {
        return;
    }
    // madvise needs a page-aligned start; round inward.
    let start = (ptr as usize + 4095) & !4095;
    let end = (ptr as usize + size) & !4095;
    if end > start {
        // SAFETY: the range lies inside an allocation we just made and own;
        // MADV_HUGEPAGE only changes how the kernel backs it, never its contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// The counting allocator (forwards to [`System`]).
pub struct Counting;

fn grow(bytes: u64) {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(bytes, Ordering::Relaxed);
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every method forwards unchanged to the system allocator with the
// caller's arguments; the counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size() as u64);
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size() as u64);
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        grow(new_size as u64);
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}

/// Counter values at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls to alloc/alloc_zeroed/realloc.
    pub allocs: u64,
    /// Bytes requested by those calls.
    pub bytes: u64,
    /// Bytes allocated and not yet freed.
    pub live: u64,
    /// Highest `live` seen since the last [`reset_peak`].
    pub peak: u64,
}

impl Counts {
    /// What happened between `self` (earlier) and `later`.
    pub fn delta(self, later: Counts) -> Counts {
        Counts {
            allocs: later.allocs - self.allocs,
            bytes: later.bytes - self.bytes,
            live: later.live.wrapping_sub(self.live),
            peak: later.peak,
        }
    }
}

pub fn snapshot() -> Counts {
    Counts {
        allocs: ALLOCS.load(Ordering::Relaxed),
        bytes: BYTES.load(Ordering::Relaxed),
        live: LIVE.load(Ordering::Relaxed),
        peak: PEAK.load(Ordering::Relaxed),
    }
}

/// Restarts peak tracking from the current live bytes.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
