//! Helpers for the dpnat binary tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn dpnat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dpnat"))
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dpnat-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A classic little-endian pcap file (Ethernet link type), written by hand.
pub fn pcap_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for v in [1_700_000_000 + i as u32, 0, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(f);
    }
    b
}

/// The packets of a pcap file (either byte order, micro- or nanosecond
/// magic); `None` if the file is missing or truncated mid-header.
pub fn read_pcap(path: &Path) -> Option<Vec<Vec<u8>>> {
    let b = std::fs::read(path).ok()?;
    if b.len() < 24 {
        return None;
    }
    let magic = u32::from_le_bytes(b[0..4].try_into().ok()?);
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return None,
    };
    let u32_at = |o: usize| -> Option<u32> {
        let a: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let mut off = 24;
    let mut out = Vec::new();
    while off + 16 <= b.len() {
        let incl = u32_at(off + 8)? as usize;
        let data = b.get(off + 16..off + 16 + incl)?;
        out.push(data.to_vec());
        off += 16 + incl;
    }
    Some(out)
}

/// Ethernet/IPv4/UDP-looking frames of assorted sizes, all distinct.
pub fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = 60 + (i * 89) % 1455;
            let mut f: Vec<u8> = (0..len).map(|j| (i * 13 + j * 3) as u8).collect();
            f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
            f[12] = 0x08;
            f[13] = 0x00;
            f
        })
        .collect()
}
