//! FIB integration: a realistic router table, scale, and the lookup cost.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant as WallClock;

use dataplane::route::fib::{LinearLpm, Lpm};
use dataplane::route::{Ipv4Cidr, NextHop, RouteKind};

#[path = "support/home_router.rs"]
mod home_router;
use home_router::home_router;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// xorshift64*: deterministic pseudo-random inputs without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn home_router_table() {
    let (ifs, fib) = home_router();
    let via_isp = NextHop {
        ifindex: 1,
        gateway: Some(ip("203.0.113.1")),
    };
    assert_eq!(fib.lookup(ip("1.1.1.1")), Some(via_isp));
    assert_eq!(
        fib.lookup(ip("203.0.113.8")),
        Some(via_isp),
        "just outside the /29"
    );
    assert_eq!(
        fib.lookup(ip("203.0.113.7")),
        Some(NextHop {
            ifindex: 1,
            gateway: None
        })
    );
    assert_eq!(
        fib.lookup(ip("10.200.1.1")),
        Some(NextHop {
            ifindex: 0,
            gateway: Some(ip("192.168.88.254"))
        })
    );
    // Local delivery is the caller's check, before the FIB.
    assert!(ifs.is_local(ip("203.0.113.2")));
    let nh = fib.lookup(ip("8.8.8.8")).unwrap();
    // Masquerade picks the WAN address on the gateway's subnet.
    assert_eq!(
        ifs.source_for(nh.ifindex, nh.neighbor_for(ip("8.8.8.8"))),
        Some(ip("203.0.113.2"))
    );
    let kinds: Vec<_> = fib.routes().iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RouteKind::Connected,
            RouteKind::Connected,
            RouteKind::Static,
            RouteKind::Static
        ]
    );
    // Groups only under 192.168/16, 203.0/16 and 203.0.113/24: every other
    // destination (the bulk of forwarded traffic) is a single read.
    assert_eq!(fib.lpm().group_count(), 3);
}

/// A synthetic internet-sized table (lengths skewed to /24 as in the DFZ).
fn big_table(n: usize, seed: u64) -> Vec<(Ipv4Cidr, u32)> {
    let mut r = Rng(seed);
    (0..n)
        .map(|i| {
            let x = r.next();
            let len = match x % 100 {
                0..=59 => 24,
                60..=79 => 22 + (x >> 8) as u8 % 2,
                80..=94 => 16 + (x >> 8) as u8 % 6,
                95..=97 => 8 + (x >> 8) as u8 % 8,
                _ => 25 + (x >> 8) as u8 % 8,
            };
            let addr = Ipv4Addr::from((x >> 32) as u32);
            (
                Ipv4Cidr {
                    addr,
                    prefix_len: len,
                }
                .trunc(),
                (i % 4096) as u32,
            )
        })
        .collect()
}

#[test]
fn large_table_builds_fast_and_matches_reference() {
    let routes = big_table(200_000, 7);
    let t = WallClock::now();
    let lpm = Lpm::build(&routes).unwrap();
    let built = t.elapsed();
    // Generous for debug builds on a shared 2-core box; release is ~20x faster.
    assert!(built.as_secs_f64() < 5.0, "build took {built:?}");
    let reference = LinearLpm::new(&routes);
    let mut r = Rng(99);
    for _ in 0..300 {
        let a = Ipv4Addr::from(r.next() as u32);
        assert_eq!(lpm.lookup(a), reference.lookup(a), "{a}");
    }
    for (p, _) in routes.iter().step_by(997) {
        assert_eq!(lpm.lookup(p.addr), reference.lookup(p.addr), "{p}");
        assert_eq!(
            lpm.lookup(p.broadcast()),
            reference.lookup(p.broadcast()),
            "{p}"
        );
    }
    eprintln!(
        "200k routes: built in {built:?}, {} groups, {} KiB",
        lpm.group_count(),
        lpm.memory_bytes() / 1024
    );
}

/// Lookup cost. Run with
/// `cargo test --release -p dataplane --test route_fib -- --ignored --nocapture`.
#[test]
#[ignore]
fn lookup_cost() {
    const N: usize = 1 << 22;
    let mut r = Rng(12345);
    let addrs: Vec<Ipv4Addr> = (0..N).map(|_| Ipv4Addr::from(r.next() as u32)).collect();

    let (_, small) = home_router();
    let tables: [(&str, Lpm); 2] = [
        ("home router (4 routes)", small.lpm().clone()),
        (
            "synthetic 500k routes",
            Lpm::build(&big_table(500_000, 3)).unwrap(),
        ),
    ];
    for (name, lpm) in &tables {
        let t = WallClock::now();
        let mut hits = 0u32;
        for &a in &addrs {
            hits = hits.wrapping_add(lpm.lookup(black_box(a)).unwrap_or(0));
        }
        black_box(hits);
        let tput = t.elapsed().as_nanos() as f64 / N as f64;
        // Dependent chain: the next address depends on this result (latency).
        let t = WallClock::now();
        let mut x = 0u32;
        for &a in &addrs {
            let v = lpm
                .lookup(Ipv4Addr::from(u32::from(a) ^ (x & 1)))
                .unwrap_or(0);
            x = x.wrapping_add(v);
        }
        black_box(x);
        let lat = t.elapsed().as_nanos() as f64 / N as f64;
        eprintln!(
            "{name}: {tput:.2} ns/lookup (independent), {lat:.2} ns/lookup (dependent), {} KiB",
            lpm.memory_bytes() / 1024
        );
    }
    let t = WallClock::now();
    let _ = Lpm::build(&big_table(500_000, 3)).unwrap();
    eprintln!("build 500k routes: {:?}", t.elapsed());
}
