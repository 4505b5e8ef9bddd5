//! The established-session fast path on bursts of 32 minimum-size packets:
//! parse, validate, hash, session lookup, precompiled rewrite (addresses,
//! ports, checksum deltas), TCP state / timer refresh, route lookup.
//!
//! For each session count in `DPNAT_BENCH_SESSIONS` (default 1000, 1M, 16M)
//! and each protocol in `DPNAT_BENCH_PROTOS` (default `udp,tcp`), the table
//! is filled through the real slow path (TCP with full handshakes), then
//! bursts of packets of uniformly random flows are timed in both directions.
//! Packets are written into the burst buffers before the clock starts (as a
//! NIC would DMA them); only `Engine::process_burst` is timed.
//!
//! `DPNAT_BENCH_THP=1` backs the big tables with transparent huge pages
//! (glibc's `glibc.malloc.hugetlb=1` tunable), as hugepage memory would in a DPDK deployment; those
//! groups are named `fastpath-thp/...`.
//!
//! The same sessions then go through the whole frame pipeline
//! (`dataplane::pipeline`: Ethernet, IPv4 checks, TTL, NAT, route, neighbour
//! lookup, L2 rewrite), groups `pipeline/<proto>/<sessions>`.
//!
//! Group names: `fastpath/<proto>/<sessions>`, functions `in2out`/`out2in`;
//! throughput is reported in packets (elements) per second.

use benches::scenario::{verify_fast_path, BurstBufs, Dir, Flows, BURST, T0};
use benches::{env_sizes, frames, Rng};
use criterion::{Criterion, Throughput};
use dataplane::nat::Verdict;
use dataplane::wire::ip_proto;
use std::time::{Duration, Instant as WallClock};

/// Bursts prepared per timed stretch: 64 x 2 KiB stays in L2.
const CHUNK: usize = 64;

fn protos() -> Vec<(&'static str, u8)> {
    let s = std::env::var("DPNAT_BENCH_PROTOS").unwrap_or_else(|_| "udp,tcp".into());
    s.split(',')
        .filter_map(|p| match p.trim() {
            "udp" => Some(("udp", ip_proto::UDP)),
            "tcp" => Some(("tcp", ip_proto::TCP)),
            _ => None,
        })
        .collect()
}

fn main() {
    let thp = benches::mem::huge_pages_from_env();
    let tag = if thp { "-thp" } else { "" };
    let mut c = Criterion::default().configure_from_args();
    for n in env_sizes(&[1_000, 1_000_000, 16_000_000]) {
        for (pname, proto) in protos() {
            let t = WallClock::now();
            let (mut pipe, flows) = frames::pipeline(n, proto).expect("populate");
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "fastpath/{pname}/{n}: {n} sessions opened in {secs:.1} s ({:.2} M/s incl. allocation{})",
                n as f64 / secs / 1e6,
                if proto == ip_proto::TCP { ", 3 packets each" } else { "" }
            );
            verify_fast_path(pipe.engine_mut(), &flows, 99)
                .expect("fast path forwards and translates");
            frames::verify(&mut pipe, &flows)
                .expect("pipeline forwards, rewrites L2 and translates");
            let engine = pipe.engine_mut();

            let mut g = c.benchmark_group(format!("fastpath{tag}/{pname}/{n}"));
            g.throughput(Throughput::Elements(BURST as u64));
            for dir in [Dir::In2Out, Dir::Out2In] {
                let in_if = Flows::in_if(dir);
                let mut rng = Rng::new(0xbe7c_0000 + n as u64);
                let mut bufs = vec![BurstBufs::default(); CHUNK];
                let mut out = [Verdict::Local; BURST];
                g.bench_function(dir.label(), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        let mut left = iters as usize;
                        let mut forwarded = 0usize;
                        let now = T0.add_secs(1);
                        while left > 0 {
                            let k = left.min(CHUNK);
                            for bb in &mut bufs[..k] {
                                bb.fill(&flows, dir, &mut rng);
                            }
                            let t = WallClock::now();
                            for bb in &mut bufs[..k] {
                                forwarded += bb.process(engine, in_if, now, &mut out);
                            }
                            total += t.elapsed();
                            left -= k;
                        }
                        assert_eq!(forwarded, iters as usize * BURST, "every packet forwarded");
                        total
                    })
                });
            }
            g.finish();

            // The same sessions through the whole frame pipeline.
            let mut g = c.benchmark_group(format!("pipeline{tag}/{pname}/{n}"));
            g.throughput(Throughput::Elements(BURST as u64));
            let mut io = frames::Recycler::new(CHUNK * BURST);
            let mut batches: Vec<Vec<frames::Frame>> =
                (0..CHUNK).map(|_| Vec::with_capacity(BURST)).collect();
            for dir in [Dir::In2Out, Dir::Out2In] {
                let in_if = Flows::in_if(dir);
                let out = usize::from(Flows::in_if(match dir {
                    Dir::In2Out => Dir::Out2In,
                    Dir::Out2In => Dir::In2Out,
                }));
                let mut rng = Rng::new(0xf7a3_0000 + n as u64);
                g.bench_function(dir.label(), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        let mut left = iters as usize;
                        let before = io.sent[out];
                        let now = T0.add_secs(1);
                        while left > 0 {
                            let k = left.min(CHUNK);
                            for batch in &mut batches[..k] {
                                frames::fill(batch, &mut io, &flows, dir, &mut rng);
                            }
                            let t = WallClock::now();
                            for batch in &mut batches[..k] {
                                pipe.process_burst(in_if, batch.drain(..), now, &mut io);
                            }
                            total += t.elapsed();
                            left -= k;
                        }
                        assert_eq!(
                            io.sent[out] - before,
                            iters * BURST as u64,
                            "every frame forwarded"
                        );
                        total
                    })
                });
            }
            g.finish();
        }
    }
    c.final_summary();
}
