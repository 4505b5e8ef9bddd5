//! Zero allocations per burst in steady state (style principle 9): a
//! counting global allocator around thousands of packets of established
//! flows, new-session creation (outbound, port-forward, hairpin) and expiry.

mod nat_common;
use nat_common::*;

use std::net::Ipv4Addr;

#[test]
fn steady_state_bursts_allocate_nothing() {
    let mut cfg = small_config();
    cfg.table_capacity = 8192;
    cfg.timeouts.udp = 120;
    let mut e = engine(&[FWD_443, MASQ_WAN], cfg);
    let hosts: Vec<Ipv4Addr> = (2..=201u8)
        .map(|h| Ipv4Addr::new(192, 168, 88, h))
        .collect();

    // Established flows: 1000 outbound UDP flows and their replies.
    let mut out_pkts = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        for k in 0..5u16 {
            out_pkts.push(udp(*h, 10000 + k, OUTSIDE, 53 + i as u16 % 7, b"steady"));
        }
    }
    let mut in_pkts = Vec::new();
    for p in &out_pkts {
        let (_, x) = run(&mut e, p.clone(), LAN, t(0));
        let x = parse(&x);
        in_pkts.push(udp(x.dst, x.dport, PUBLIC, x.sport, b"reply"));
    }
    // New flows created (and later expired) during the measured window.
    let rounds = 6u64;
    let mut new_pkts: Vec<Vec<Vec<u8>>> = Vec::new();
    for r in 0..rounds {
        let mut v = Vec::new();
        for (i, h) in hosts.iter().enumerate().take(100) {
            v.push(udp(
                *h,
                20000 + r as u16 * 100 + i as u16,
                OUTSIDE_B,
                123,
                b"new",
            ));
            v.push(tcp(
                *h,
                30000 + r as u16 * 100 + i as u16,
                OUTSIDE,
                443,
                SYN,
                b"",
            ));
        }
        v.push(tcp(OUTSIDE_B, 40000 + r as u16, PUBLIC, 443, SYN, b""));
        v.push(tcp(CLIENT, 41000 + r as u16, PUBLIC, 443, SYN, b""));
        new_pkts.push(v);
    }
    let mut work: Vec<u8> = vec![0u8; 2048];
    let mut burst = |e: &mut dataplane::nat::Engine, p: &[u8], in_if: u16, now| {
        work[..p.len()].copy_from_slice(p);
        e.process(&mut work[..p.len()], in_if, now)
    };
    // Warm-up round, not counted.
    for p in out_pkts.iter() {
        burst(&mut e, p, LAN, t(1));
    }
    e.housekeeping(t(1), 1024);

    let created0 = e.stats().sessions_created;
    let allocs = allocation_counter::measure(|| {
        for r in 0..rounds {
            let now = t(60 * (r + 1));
            for (o, i) in out_pkts.iter().zip(&in_pkts) {
                burst(&mut e, o, LAN, now);
                burst(&mut e, i, WAN, now);
            }
            for p in &new_pkts[r as usize] {
                let in_if = if p[12] == 198 { WAN } else { LAN };
                burst(&mut e, p, in_if, now);
            }
            while e.next_released().is_some() {}
            e.housekeeping(now, 4096);
        }
    })
    .count_total;

    let st = e.stats();
    assert!(
        st.sessions_created - created0 >= 6 * 200,
        "new sessions were created: {}",
        st.sessions_created - created0
    );
    assert!(
        st.sessions_expired > 0,
        "sessions expired during the window"
    );
    assert!(st.fast_path_hits > 12_000);
    assert_eq!(st.drops.iter().sum::<u64>(), 0, "{st:?}");
    assert_eq!(allocs, 0, "allocations in steady state");
}
