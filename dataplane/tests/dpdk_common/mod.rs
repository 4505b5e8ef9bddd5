//! Shared by the `dpdk_*` integration tests. Each of those files is its own
//! test binary with one #[test], because the EAL can start once per process.
#![allow(dead_code)]

use dataplane::dpdk::{Burst, Eal, Mempool, Ring};

/// EAL arguments for tests: no PCI, no hugepages, a per-process file prefix.
pub fn eal_args(lcores: &str, vdevs: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "-l",
        lcores,
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-telemetry",
        "--log-level=warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(format!("--file-prefix=dpnat-test-{}", std::process::id()));
    for v in vdevs {
        a.push("--vdev".into());
        a.push(v.clone());
    }
    a
}

/// Deterministic test frames of assorted lengths (60..=1514 bytes).
pub fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = 60 + (i * 97) % (1514 - 60 + 1);
            (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
        })
        .collect()
}

/// Copies `frames` into mbufs and enqueues them on `ring`, in order.
pub fn inject<'e>(pool: &Mempool<'e>, ring: &Ring<'e>, frames: &[Vec<u8>]) {
    for chunk in frames.chunks(16) {
        let mut b = Burst::new();
        for f in chunk {
            let mut m = pool.alloc().expect("pool has mbufs");
            m.append(f.len() as u16)
                .expect("tailroom")
                .copy_from_slice(f);
            assert!(b.push(m).is_ok());
        }
        while !b.is_empty() {
            ring.enqueue(&mut b);
        }
    }
}

/// Dequeues everything in `ring` as byte vectors, in order.
pub fn collect<'e>(ring: &Ring<'e>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = Burst::new();
    while ring.dequeue(&mut b) > 0 {
        for m in b.drain() {
            out.push(m.data().to_vec());
        }
    }
    out
}

/// Waits up to `secs` for `cond`.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    cond()
}

/// Starts the EAL for a test (panics with DPDK's reason if it cannot).
pub fn eal(lcores: &str, vdevs: &[String]) -> Eal {
    Eal::init(&eal_args(lcores, vdevs)).unwrap_or_else(|e| panic!("EAL init failed: {e}"))
}

/// Writes a classic little-endian pcap file (Ethernet link type) by hand.
pub fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        b.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    std::fs::write(path, b).expect("write pcap");
}

/// A fresh private directory for one test process.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dpnat-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}
