//! Memory facts for the report and the benches: resident set size, and
//! transparent huge pages on request (`DPNAT_BENCH_THP=1`).
//!
//! Allocation counting itself is `allocation_counter::measure` (per thread),
//! linked only by the report binary and the zero-allocation test: linking that
//! crate installs its global allocator, so the timed benches never carry it.

use std::process::Command;

/// The glibc tunable that makes malloc ask for transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`) on the memory it maps, as a DPDK deployment
/// gets from hugepage memory. Only matters where THP is in `madvise` mode.
pub const THP_TUNABLE: &str = "glibc.malloc.hugetlb=1";

/// `DPNAT_BENCH_THP=1|yes|on`: returns whether huge pages are requested.
/// glibc reads its tunables only at start-up, so when the variable is set
/// but `GLIBC_TUNABLES` lacks [`THP_TUNABLE`], this runs the current program
/// again with it added and exits with that run's status.
pub fn huge_pages_from_env() -> bool {
    let on = matches!(
        std::env::var("DPNAT_BENCH_THP").as_deref(),
        Ok("1") | Ok("yes") | Ok("on")
    );
    if !on {
        return false;
    }
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if tunables.split(':').any(|t| t == THP_TUNABLE) {
        return true;
    }
    let with = if tunables.is_empty() {
        THP_TUNABLE.to_string()
    } else {
        format!("{tunables}:{THP_TUNABLE}")
    };
    let exe = std::env::current_exe().expect("current executable");
    let status = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", with)
        .status()
        .expect("re-run with GLIBC_TUNABLES");
    std::process::exit(status.code().unwrap_or(1));
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// `AnonHugePages` of this process in bytes, if the kernel reports it.
pub fn anon_huge_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
