//! `Engine::process_burst` (parse, prefetch passes, then in-order
//! processing), `process_checked` and `prefetch_burst` give exactly what
//! `process` gives packet by packet: same verdicts, bytes and counters,
//! including packets of one burst that depend on each other (a new flow's
//! second packet must hit the session its first packet created), with the
//! table both small (no prefetch passes) and above the prefetch threshold.

mod nat_common;
use nat_common::*;

use dataplane::nat::{Engine, NatConfig, Verdict};
use std::net::Ipv4Addr;

fn config() -> NatConfig {
    NatConfig {
        table_capacity: 40_000,
        ..NatConfig::default()
    }
}

/// One LAN burst and the WAN burst answering it, for flows based at `base`.
fn bursts(base: u16) -> [(u16, Vec<Vec<u8>>); 2] {
    let mut lan = Vec::new();
    let mut wan = Vec::new();
    for i in 0..12u16 {
        let sport = base + i;
        let p = udp(CLIENT, sport, OUTSIDE, 53, b"query");
        // The same new flow twice in one burst: create, then hit.
        lan.push(p.clone());
        lan.push(p);
        // Ports are preserved (N3), so the reply goes to the same port.
        wan.push(udp(OUTSIDE, 53, PUBLIC, sport, b"answer"));
    }
    lan.push(tcp(CLIENT_B, base, OUTSIDE, 443, SYN, b""));
    wan.push(tcp(OUTSIDE, 443, PUBLIC, base, SYN | ACK, b""));
    lan.push(echo(CLIENT, OUTSIDE, base, 1, true));
    wan.push(echo(OUTSIDE, PUBLIC, base, 1, false));
    let mut bad = udp(CLIENT, base + 100, OUTSIDE, 53, b"x");
    bad[10] ^= 0x55; // header checksum
    lan.push(bad);
    lan.push(vec![0x45, 0, 0]); // truncated
    wan.push(udp(OUTSIDE_B, 9, PUBLIC, 7, b"unsolicited"));
    [(LAN, lan), (WAN, wan)]
}

fn one_by_one(e: &mut Engine, in_if: u16, pkts: &mut [Vec<u8>], now: u64) -> Vec<Verdict> {
    pkts.iter_mut()
        .map(|p| e.process(p, in_if, t(now)))
        .collect()
}

fn as_burst(e: &mut Engine, in_if: u16, pkts: &mut [Vec<u8>], now: u64) -> Vec<Verdict> {
    let mut out = vec![Verdict::Local; pkts.len()];
    let mut refs: Vec<&mut [u8]> = pkts.iter_mut().map(|p| &mut p[..]).collect();
    e.process_burst(&mut refs, in_if, t(now), &mut out);
    out
}

fn checked(e: &mut Engine, in_if: u16, pkts: &mut [Vec<u8>], now: u64) -> Vec<Verdict> {
    let views: Vec<&[u8]> = pkts.iter().map(|p| &p[..]).collect();
    e.prefetch_burst(views);
    pkts.iter_mut()
        .map(|p| {
            let ok = dataplane::wire::ipv4::Ipv4Packet::new_checked(&p[..])
                .is_ok_and(|ip| ip.validate_rfc1812().is_ok());
            if ok {
                e.process_checked(p, in_if, t(now))
            } else {
                e.process(p, in_if, t(now))
            }
        })
        .collect()
}

/// Opens `n` (< 18,000) UDP sessions from other hosts so the table passes
/// the prefetch threshold. Every source port is distinct, so each keeps its
/// port (N3) and no engine draws a random one.
fn fill(e: &mut Engine, n: u32) {
    for i in 0..n {
        let host = Ipv4Addr::new(192, 168, 88, 100 + (i / 4000) as u8);
        let mut p = udp(host, 1024 + i as u16, OUTSIDE_B, 80, b"f");
        assert!(matches!(
            e.process(&mut p, LAN, t(1)),
            Verdict::Forward { .. }
        ));
    }
}

fn compare(fill_n: u32) {
    let mut engines = [
        engine(&[MASQ_WAN], config()),
        engine(&[MASQ_WAN], config()),
        engine(&[MASQ_WAN], config()),
    ];
    for e in &mut engines {
        fill(e, fill_n);
    }
    let mut now = 2;
    for base in [20_000u16, 30_000] {
        for (in_if, pkts) in bursts(base) {
            let mut a = pkts.clone();
            let mut b = pkts.clone();
            let mut c = pkts;
            let va = one_by_one(&mut engines[0], in_if, &mut a, now);
            let vb = as_burst(&mut engines[1], in_if, &mut b, now);
            let vc = checked(&mut engines[2], in_if, &mut c, now);
            assert_eq!(va, vb, "burst verdicts, base {base} if {in_if}");
            assert_eq!(va, vc, "checked verdicts, base {base} if {in_if}");
            assert_eq!(a, b, "burst bytes");
            assert_eq!(a, c, "checked bytes");
            now += 1;
        }
    }
    let s0 = engines[0].stats();
    for e in &engines[1..] {
        let s = e.stats();
        assert_eq!(s.drops, s0.drops);
        assert_eq!(s.sessions_created, s0.sessions_created);
        assert_eq!(s.fast_path_hits, s0.fast_path_hits);
        assert_eq!(e.sessions().len(), engines[0].sessions().len());
    }
    // Every LAN flow was created once and hit once in its own burst, and
    // its reply was translated back.
    assert_eq!(s0.sessions_created, u64::from(fill_n) + 2 * (12 + 2));
    assert!(s0.fast_path_hits >= 2 * (12 + 12 + 2));
}

#[test]
fn burst_equals_one_by_one_small_table() {
    compare(0);
}

#[test]
fn burst_equals_one_by_one_above_prefetch_threshold() {
    compare(17_000);
}
