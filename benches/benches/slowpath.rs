//! Session creation and expiry.
//!
//! - `session_create/{udp,tcp_syn}`: the first packet of a new flow through
//!   the miss path: parse, lookup miss, dstnat rules, FIB, srcnat rule,
//!   endpoint-independent port allocation, insert under both keys, rewrite.
//!   One element = one session created. The table fills from empty to
//!   `DPNAT_BENCH_SLOW_SESSIONS` (default 1M) sessions, then a fresh engine is
//!   built outside the timed region, so the figure averages over occupancy.
//! - `expire/udp`: `Engine::housekeeping` expiring idle UDP sessions, each
//!   releasing its mapping into port quarantine. One element = one session
//!   expired (batches of 64K, refilled outside the timed region).

use benches::parse_count;
use benches::pkt;
use benches::scenario::{self, flow, LAN, T0};
use criterion::{Criterion, Throughput};
use dataplane::conntrack::WorkerSlice;
use dataplane::nat::{Engine, Verdict};
use dataplane::wire::ip_proto;
use std::time::{Duration, Instant as WallClock};

const CHUNK: usize = 256;

fn slow_sessions() -> usize {
    std::env::var("DPNAT_BENCH_SLOW_SESSIONS")
        .ok()
        .and_then(|s| parse_count(&s))
        .unwrap_or(1 << 20)
}

struct Creator {
    cap: usize,
    proto: u8,
    engine: Option<Engine>,
    next: usize,
    bufs: Vec<[u8; 64]>,
}

impl Creator {
    fn new(cap: usize, proto: u8) -> Creator {
        Creator {
            cap,
            proto,
            engine: None,
            next: 0,
            bufs: vec![[0u8; 64]; CHUNK],
        }
    }

    fn run(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters as usize;
        while left > 0 {
            if self.engine.is_none() || self.next >= self.cap {
                // Drop the old one first so two big tables never coexist.
                self.engine = None;
                self.engine = Some(scenario::engine(self.cap, WorkerSlice::SINGLE));
                self.next = 0;
            }
            let k = left.min(CHUNK).min(self.cap - self.next);
            for (j, b) in self.bufs[..k].iter_mut().enumerate() {
                let (s, sp, d, dp) = flow(self.next + j);
                if self.proto == ip_proto::TCP {
                    pkt::write_tcp(b, s, sp, d, dp, pkt::TCP_SYN, 1, 0);
                } else {
                    pkt::write_udp(b, s, sp, d, dp, b"new");
                }
            }
            let e = self.engine.as_mut().expect("built above");
            let mut forwarded = 0;
            let t = WallClock::now();
            for b in &mut self.bufs[..k] {
                if let Verdict::Forward { .. } = e.process(&mut b[..pkt::IP_LEN], LAN, T0) {
                    forwarded += 1;
                }
            }
            total += t.elapsed();
            assert_eq!(forwarded, k, "every new flow gets a session");
            self.next += k;
            left -= k;
        }
        total
    }
}

fn bench_create(c: &mut Criterion) {
    let cap = slow_sessions();
    let mut g = c.benchmark_group("session_create");
    g.throughput(Throughput::Elements(1));
    for (name, proto) in [("udp", ip_proto::UDP), ("tcp_syn", ip_proto::TCP)] {
        let mut cr = Creator::new(cap, proto);
        g.bench_function(format!("{name}/fill_to_{cap}"), |b| {
            b.iter_custom(|i| cr.run(i))
        });
    }
    g.finish();
}

fn bench_expire(c: &mut Criterion) {
    const BATCH: usize = 1 << 16;
    let mut g = c.benchmark_group("expire");
    g.throughput(Throughput::Elements(1));
    let mut engine = scenario::engine(BATCH, WorkerSlice::SINGLE);
    // Each round opens BATCH sessions at `now`, then expires them all once
    // the UDP timeout has passed; time only moves forward.
    let mut now = T0;
    g.bench_function("udp/per_session", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let k = left.min(BATCH);
                let mut buf = [0u8; 64];
                for i in 0..k {
                    let (s, sp, d, dp) = flow(i);
                    pkt::write_udp(&mut buf, s, sp, d, dp, b"x");
                    let v = engine.process(&mut buf[..pkt::IP_LEN], LAN, now);
                    assert!(matches!(v, Verdict::Forward { .. }), "open: {v:?}");
                }
                now = now.add_secs(301);
                let t = WallClock::now();
                let n = engine.housekeeping(now, k);
                total += t.elapsed();
                assert_eq!(n, k, "all idle sessions expire");
                now = now.add_secs(1);
                left -= k;
            }
            total
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_create(&mut c);
    bench_expire(&mut c);
    c.final_summary();
}
