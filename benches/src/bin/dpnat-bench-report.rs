//! Measurements criterion cannot make, printed as one Markdown table each:
//!
//! - `memory`: bytes allocated by `Engine::new` for a table of N sessions
//!   (`allocation_counter`, whose global allocator this binary installs),
//!   resident memory after filling it, bytes/session;
//! - `allocs`: heap allocations per burst in steady state (fast path both
//!   ways, session churn through the slow path, expiry): must be 0;
//! - `scaling`: packets/s of one engine on one thread versus two engines on
//!   two threads (each its own table and half of the port range);
//! - `latency` (only when named): one dependent random memory load, 1 MiB to 2 GiB working sets;
//! - `quick`: fast-path packets/s per session count with a plain timer (the
//!   smoke test's numbers; criterion's `fastpath` bench is the reference).
//!
//! Sizes come from `DPNAT_BENCH_SESSIONS`; `DPNAT_BENCH_THP=1` backs big
//! tables with transparent huge pages (see `benches::mem`).
//!
//! Usage: `dpnat-bench-report [memory|allocs|latency|scaling|quick]...` (all if
//! none), or `dpnat-bench-report profile SESSIONS BURSTS` for a profiler.
#![deny(unsafe_code)]

use allocation_counter::measure;
use benches::mem;
use benches::scenario::{self, BurstBufs, Dir, Flows, BURST, T0};
use benches::{env_sizes, pkt, Rng};
use dataplane::conntrack::WorkerSlice;
use dataplane::nat::Verdict;
use dataplane::wire::ip_proto;
use std::time::{Duration, Instant as WallClock};

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn memory(sizes: &[usize]) {
    println!("\n### Memory (UDP sessions, one engine)\n");
    println!("| sessions | table capacity | allocated by Engine::new | bytes/session (allocated) | RSS growth after fill | bytes/session (RSS) | fill rate |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &n in sizes {
        let rss0 = mem::rss_bytes().unwrap_or(0);
        let mut engine = None;
        let alloc = measure(|| engine = Some(scenario::engine(n, WorkerSlice::SINGLE))).bytes_total;
        let mut e = engine.expect("engine built");
        let t = WallClock::now();
        let mut filled = None;
        let filling =
            measure(|| filled = Some(Flows::populate(&mut e, n, ip_proto::UDP).expect("populate")));
        let flows = filled.expect("flows populated");
        let fill = t.elapsed().as_secs_f64();
        let rss1 = mem::rss_bytes().unwrap_or(0);
        let grew = rss1.saturating_sub(rss0);
        let flows_bytes = (flows.len() * 8) as u64; // the bench's own per-flow record
        let grew_engine = grew.saturating_sub(flows_bytes);
        println!(
            "| {n} | {} | {:.1} MiB | {:.0} | {:.1} MiB | {:.0} | {:.2} M/s |",
            scenario::capacity(n),
            mib(alloc),
            alloc as f64 / n as f64,
            mib(grew_engine),
            grew_engine as f64 / n as f64,
            n as f64 / fill / 1e6
        );
        if filling.count_total > 1 {
            println!(
                "|  | (filling allocated {} times, {:.1} MiB — the bench's flow list is 1 of them) |||||| ",
                filling.count_total,
                mib(filling.bytes_total)
            );
        }
        if let Some(h) = mem::anon_huge_bytes() {
            eprintln!("memory/{n}: AnonHugePages {:.0} MiB", mib(h));
        }
        drop(flows);
        drop(e);
        breakdown(n);
    }
}

/// Where `Engine::new`'s bytes go: the session table and the pool's mapping
/// tables built alone, the rest (filtering index, fragments) by difference.
fn breakdown(n: usize) {
    let cap = scenario::capacity(n) as usize;
    let table = measure(|| {
        drop(dataplane::conntrack::SessionTable::<
            dataplane::nat::Translation,
        >::with_seed(
            cap, dataplane::conntrack::Timeouts::default(), 1
        ))
    })
    .bytes_total;
    let pool: Vec<std::net::Ipv4Addr> = (0..scenario::pool_len(n) as u32)
        .map(|i| std::net::Ipv4Addr::from(u32::from(scenario::POOL_BASE) + i))
        .collect();
    let maps = measure(|| {
        drop(dataplane::conntrack::Mappings::new(
            &pool,
            WorkerSlice::SINGLE,
            dataplane::conntrack::PortConfig {
                max_mappings: cap + 1,
                seed: 1,
                ..dataplane::conntrack::PortConfig::DEFAULT
            },
        ))
    })
    .bytes_total;
    println!(
        "|  | of which: session table {:.1} MiB ({:.0} B/session), port mappings {:.1} MiB ({:.0} B/session) |||||| ",
        mib(table),
        table as f64 / n as f64,
        mib(maps),
        maps as f64 / n as f64
    );
}

fn allocs(n: usize) {
    println!("\n### Heap allocations in steady state ({n} UDP + {n} TCP sessions)\n");
    println!("| phase | bursts | packets | allocations | allocations/burst |");
    println!("|---|---:|---:|---:|---:|");
    for (pname, proto) in [("udp", ip_proto::UDP), ("tcp", ip_proto::TCP)] {
        let mut e = scenario::engine(n, WorkerSlice::SINGLE);
        let flows = Flows::populate(&mut e, n, proto).expect("populate");
        let mut rng = Rng::new(5);
        let mut b = BurstBufs::default();
        let mut out = [Verdict::Local; BURST];
        const BURSTS: usize = 20_000;
        for dir in [Dir::In2Out, Dir::Out2In] {
            let mut now = T0;
            let d = measure(|| {
                for i in 0..BURSTS {
                    b.fill(&flows, dir, &mut rng);
                    b.process(&mut e, Flows::in_if(dir), now, &mut out);
                    if i % 64 == 0 {
                        now = now.add_millis(10);
                        e.housekeeping(now, 64);
                    }
                }
            })
            .count_total;
            println!(
                "| fast path {pname} {} + housekeeping | {BURSTS} | {} | {d} | {} |",
                dir.label(),
                BURSTS * BURST,
                d as f64 / BURSTS as f64
            );
        }
        drop(flows);
        drop(e);
    }
    // Churn: every packet opens a new UDP session while the clock advances
    // so that sessions time out at the rate they are created (steady
    // occupancy about n/2); mappings go through quarantine and come back.
    let mut e = scenario::engine(n, WorkerSlice::SINGLE);
    let mut buf = [[0u8; 64]; BURST];
    let mut now = T0;
    let step_ms = (301_000 * BURST as u64 / (n as u64 / 2).max(1)).max(1);
    let flows = 8 * n;
    let bursts = (2 * flows / BURST).max(1000);
    let mut created = 0usize;
    let d = measure(|| {
        for k in 0..bursts {
            for (j, p) in buf.iter_mut().enumerate() {
                let (s, sp, d, dp) = scenario::flow((k * BURST + j) % flows);
                pkt::write_udp(p, s, sp, d, dp, b"churn");
                if let Verdict::Forward { .. } =
                    e.process(&mut p[..pkt::IP_LEN], scenario::LAN, now)
                {
                    created += 1;
                }
            }
            now = now.add_millis(step_ms);
            e.housekeeping(now, 4 * BURST);
        }
    })
    .count_total;
    println!(
        "| slow path churn: {} new UDP sessions, {} expired | {bursts} | {} | {d} | {} |",
        e.stats().sessions_created,
        e.stats().sessions_expired,
        bursts * BURST,
        d as f64 / bursts as f64
    );
    if created != bursts * BURST {
        println!(
            "\n(churn: only {created} of {} packets were forwarded)",
            bursts * BURST
        );
    }
}

/// A fixed number of in2out bursts, for `valgrind --toggle-collect=*profile_loop*`.
#[inline(never)]
fn profile_loop(
    engine: &mut dataplane::nat::Engine,
    bufs: &mut [BurstBufs],
    out: &mut [Verdict; BURST],
) -> usize {
    let mut n = 0;
    for b in bufs.iter_mut() {
        n += b.process(engine, scenario::LAN, T0.add_secs(1), out);
    }
    n
}

fn profile(n: usize, bursts: usize) {
    let mut e = scenario::engine(n, WorkerSlice::SINGLE);
    let flows = Flows::populate(&mut e, n, ip_proto::UDP).expect("populate");
    let mut rng = Rng::new(77);
    let mut bufs = vec![BurstBufs::default(); 64];
    let mut out = [Verdict::Local; BURST];
    let mut fwd = 0;
    for _ in 0..bursts.div_ceil(64) {
        for b in bufs.iter_mut() {
            b.fill(&flows, Dir::In2Out, &mut rng);
        }
        fwd += profile_loop(&mut e, &mut bufs, &mut out);
    }
    println!("profile: {n} sessions, {fwd} packets forwarded in2out");
}

/// Packets/s of the fast path on `engine` for `dur` (plain timer).
fn run_for(
    engine: &mut dataplane::nat::Engine,
    flows: &Flows,
    dir: Dir,
    dur: Duration,
    seed: u64,
) -> f64 {
    const CHUNK: usize = 64;
    let mut bufs = vec![BurstBufs::default(); CHUNK];
    let mut out = [Verdict::Local; BURST];
    let mut rng = Rng::new(seed);
    let in_if = Flows::in_if(dir);
    let now = T0.add_secs(1);
    let mut busy = Duration::ZERO;
    let mut pkts = 0usize;
    let wall = WallClock::now();
    while wall.elapsed() < dur {
        for b in &mut bufs {
            b.fill(flows, dir, &mut rng);
        }
        let t = WallClock::now();
        for b in &mut bufs {
            pkts += b.process(engine, in_if, now, &mut out);
        }
        busy += t.elapsed();
    }
    pkts as f64 / busy.as_secs_f64()
}

fn quick(sizes: &[usize], dur: Duration) {
    println!(
        "\n### Fast path, plain timer ({} ms per cell, burst {BURST}, random flows)\n",
        dur.as_millis()
    );
    println!("| sessions | proto | in2out Mpps | out2in Mpps | in2out ns/pkt |");
    println!("|---:|---|---:|---:|---:|");
    for &n in sizes {
        for (pname, proto) in [("udp", ip_proto::UDP), ("tcp", ip_proto::TCP)] {
            let mut e = scenario::engine(n, WorkerSlice::SINGLE);
            let flows = Flows::populate(&mut e, n, proto).expect("populate");
            scenario::verify_fast_path(&mut e, &flows, 1).expect("fast path");
            let a = run_for(&mut e, &flows, Dir::In2Out, dur, 11);
            let b = run_for(&mut e, &flows, Dir::Out2In, dur, 12);
            println!(
                "| {n} | {pname} | {:.2} | {:.2} | {:.1} |",
                a / 1e6,
                b / 1e6,
                1e9 / a
            );
        }
    }
}

fn scaling(n: usize, dur: Duration) {
    println!(
        "\n### Two workers in-process ({n} UDP sessions per worker, in2out, {} ms)\n",
        dur.as_millis()
    );
    let setup = |w: u16, count: u16| {
        let mut e = scenario::engine(n, WorkerSlice { index: w, count });
        let f = Flows::populate(&mut e, n, ip_proto::UDP).expect("populate");
        (e, f)
    };
    let (mut e, f) = setup(0, 1);
    let one = run_for(&mut e, &f, Dir::In2Out, dur, 21);
    drop((e, f));
    let mut pairs: Vec<_> = (0..2).map(|w| setup(w, 2)).collect();
    let start = std::sync::Barrier::new(2);
    let rates: Vec<f64> = std::thread::scope(|s| {
        let hs: Vec<_> = pairs
            .iter_mut()
            .enumerate()
            .map(|(w, (e, f))| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    run_for(e, f, Dir::In2Out, dur, 31 + w as u64)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("worker thread"))
            .collect()
    });
    let two: f64 = rates.iter().sum();
    println!("| workers | Mpps total | per worker | speed-up |");
    println!("|---:|---:|---|---:|");
    println!("| 1 | {:.2} | {:.2} | 1.00x |", one / 1e6, one / 1e6);
    println!(
        "| 2 | {:.2} | {} | {:.2}x |",
        two / 1e6,
        rates
            .iter()
            .map(|r| format!("{:.2}", r / 1e6))
            .collect::<Vec<_>>()
            .join(" + "),
        two / one
    );
    eprintln!(
        "scaling: available parallelism {:?}",
        std::thread::available_parallelism()
    );
}

/// Dependent random loads over `bytes` of memory (a random cyclic
/// permutation, Sattolo's algorithm): the latency one cache/TLB miss costs on
/// this machine, to read the fast path's ns/packet against.
fn latency(bytes: usize) {
    let n = bytes / 4;
    let mut next: Vec<u32> = (0..n as u32).collect();
    let mut rng = Rng::new(99);
    for i in (1..n).rev() {
        let j = rng.below(i);
        next.swap(i, j);
    }
    let loads = 5_000_000usize;
    let mut p = 0u32;
    let t = WallClock::now();
    for _ in 0..loads {
        p = next[p as usize];
    }
    let ns = t.elapsed().as_nanos() as f64 / loads as f64;
    println!(
        "| {} MiB | {ns:.1} ns per dependent random load (end {p}) |",
        bytes >> 20
    );
}

fn main() {
    let thp = mem::huge_pages_from_env();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let want = |w: &str| args.is_empty() || args.iter().any(|a| a == w);
    let sizes = env_sizes(&[1_000, 1_000_000, 16_000_000]);
    let ms = std::env::var("DPNAT_BENCH_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let dur = Duration::from_millis(ms);
    println!(
        "dpnat-bench-report: sizes {sizes:?}, transparent huge pages {}",
        if thp {
            "requested (GLIBC_TUNABLES=glibc.malloc.hugetlb=1)"
        } else {
            "not requested"
        }
    );
    if want("memory") {
        memory(&sizes);
    }
    if want("allocs") {
        allocs(sizes.iter().copied().min().unwrap_or(1000).min(100_000));
    }
    if want("quick") {
        quick(&sizes, dur);
    }
    if args.iter().any(|a| a == "latency") {
        println!("\n### Memory latency (pointer chase)\n");
        println!("| working set | latency |");
        println!("|---:|---|");
        for mb in [1usize, 16, 256, 2048] {
            latency(mb << 20);
        }
    }
    if let Some(i) = args.iter().position(|a| a == "profile") {
        let n = args
            .get(i + 1)
            .and_then(|s| benches::parse_count(s))
            .unwrap_or(1000);
        let b = args
            .get(i + 2)
            .and_then(|s| benches::parse_count(s))
            .unwrap_or(10_000);
        profile(n, b);
        return;
    }
    if want("scaling") {
        let n = sizes
            .iter()
            .copied()
            .filter(|&n| n <= 1_000_000)
            .max()
            .unwrap_or(1000);
        scaling(n, dur);
    }
}
