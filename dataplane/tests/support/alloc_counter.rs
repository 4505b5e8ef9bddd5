//! The counting global allocator behind the zero-allocation tests (style
//! principle 9), shared so the `unsafe` it needs lives in one place.
//!
//! Include it with `#[path = "support/alloc_counter.rs"] mod alloc_counter;`:
//! that installs it as the test binary's global allocator. Counts are per
//! thread, because the harness runs the tests of one binary in parallel and
//! does its own allocating (output capture, result reporting) on other
//! threads; neither may show up in a test's count. Reallocations count as
//! allocations: a growing `Vec` on the fast path is as bad as a new one.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // `const` and `Cell<u64>` (no destructor): reading it never allocates and
    // never registers a TLS destructor, so the allocator can use it.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// Allocations (including reallocations) the calling thread has made so far.
/// Take it before and after the code under test; the difference is its count.
pub fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

fn count_one() {
    // `try_with` so an allocation during thread teardown is passed through
    // uncounted instead of panicking inside the allocator.
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
}

struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds the `GlobalAlloc` contract; counting touches only a thread-local
// `Cell` and neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size),
        // which is `System.alloc`'s too.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: every pointer this allocator hands out came from `System`
        // with the same layout, as the caller guarantees for `ptr`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` came from `System` with `layout` (see `dealloc`), and
        // the caller upholds `realloc`'s rules for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
