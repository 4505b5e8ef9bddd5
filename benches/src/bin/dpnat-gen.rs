//! `dpnat-gen`: a small DPDK traffic generator and sink for the e2e harness.
//!
//! Two ports: it transmits 64-byte UDP frames on `--tx-dev` (the DUT's LAN
//! side) and receives what the DUT forwards on `--rx-dev`. Flow `i` of
//! `--flows` is `benches::scenario::flow(i)` (source IP and port vary), sent
//! round-robin. Each payload carries a magic, the trial number, a sequence
//! number and the TSC at transmission, so the sink counts loss per trial and
//! measures latency (same core, same TSC). The UDP checksum is 0 (legal for
//! IPv4), so stamping needs no checksum work and a NAT keeps it 0.
//!
//! Search (RFC 2544 style): one trial at the highest rate the generator
//! reaches, then a binary search between 0 and that rate for the highest
//! rate whose loss is at most `--loss` (a fraction; 0 = zero loss). Prints
//! one line per trial and a final `RESULT` line for `e2e/run.sh`.
//!
//! The sink answers ARP requests on the RX port (for the DUT's next hop),
//! so a routing DUT can resolve it.
#![deny(unsafe_code)]

use benches::pkt;
use benches::scenario::flow;
use dataplane::dpdk::{tsc, tsc_hz, Burst, Eal, Mempool, Port, PortConfig, BURST_SIZE};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const MAGIC: u16 = 0xd9a7;
/// Offset of the stamp in a frame: Ethernet + IPv4 + UDP headers.
const STAMP_AT: usize = pkt::ETH_LEN + 20 + 8;

struct Args {
    lcores: String,
    file_prefix: String,
    tx_dev: String,
    rx_dev: String,
    flows: usize,
    trial_ms: u64,
    iterations: u32,
    loss: f64,
    max_mpps: f64,
    label: String,
    dst_mac: [u8; 6],
    gateway: Ipv4Addr,
    link_wait_s: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: dpnat-gen --tx-dev VDEV --rx-dev VDEV [--lcores 0] [--file-prefix P] [--flows N]\n\
         \x20      [--trial-ms MS] [--iterations K] [--loss FRACTION] [--max-mpps R] [--label NAME]\n\
         \x20      [--dst-mac MAC] [--gateway IP] [--link-wait-s S]"
    );
    std::process::exit(2)
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|x| u8::from_str_radix(x, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    v.try_into().ok()
}

fn parse_args() -> Args {
    let mut a = Args {
        lcores: "0".into(),
        file_prefix: format!("dpnat-gen-{}", std::process::id()),
        tx_dev: String::new(),
        rx_dev: String::new(),
        flows: 10_000,
        trial_ms: 1000,
        iterations: 8,
        loss: 0.001,
        max_mpps: 0.0,
        label: "dut".into(),
        dst_mac: [2, 0, 0, 0, 0, 1],
        gateway: Ipv4Addr::new(203, 0, 113, 254),
        link_wait_s: 30,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        let bad = || -> ! {
            eprintln!("dpnat-gen: bad value {v:?} for {k}");
            std::process::exit(2)
        };
        match k.as_str() {
            "--lcores" => a.lcores = v.clone(),
            "--file-prefix" => a.file_prefix = v.clone(),
            "--tx-dev" => a.tx_dev = v.clone(),
            "--rx-dev" => a.rx_dev = v.clone(),
            "--flows" => a.flows = v.parse().unwrap_or_else(|_| bad()),
            "--trial-ms" => a.trial_ms = v.parse().unwrap_or_else(|_| bad()),
            "--iterations" => a.iterations = v.parse().unwrap_or_else(|_| bad()),
            "--loss" => a.loss = v.parse().unwrap_or_else(|_| bad()),
            "--max-mpps" => a.max_mpps = v.parse().unwrap_or_else(|_| bad()),
            "--label" => a.label = v.clone(),
            "--dst-mac" => a.dst_mac = parse_mac(v).unwrap_or_else(|| bad()),
            "--gateway" => a.gateway = v.parse().unwrap_or_else(|_| bad()),
            "--link-wait-s" => a.link_wait_s = v.parse().unwrap_or_else(|_| bad()),
            _ => usage(),
        }
    }
    if a.tx_dev.is_empty() || a.rx_dev.is_empty() || a.flows == 0 {
        usage();
    }
    a
}

/// One trial's outcome.
#[derive(Debug, Clone, Default)]
struct Trial {
    offered_pps: f64,
    sent: u64,
    received: u64,
    /// Latencies in nanoseconds (a sample, at most `LAT_SAMPLES`).
    lat_ns: Vec<u32>,
}

const LAT_SAMPLES: usize = 1 << 20;

impl Trial {
    fn loss(&self) -> f64 {
        if self.sent == 0 {
            return 1.0;
        }
        self.sent.saturating_sub(self.received) as f64 / self.sent as f64
    }

    fn percentile_us(&self, q: f64) -> f64 {
        if self.lat_ns.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat_ns.len() - 1) as f64 * q).round() as usize;
        f64::from(self.lat_ns[i]) / 1000.0
    }
}

struct Gen<'e> {
    pool: &'e Mempool<'e>,
    tx_port: &'e Port<'e>,
    rx_port: &'e Port<'e>,
    templates: Vec<[u8; pkt::FRAME_LEN]>,
    hz: u64,
    rx_mac: [u8; 6],
    gateway: Ipv4Addr,
    trial_no: u16,
    next_flow: usize,
    arp_replies: u64,
}

impl<'e> Gen<'e> {
    /// Runs one trial at `pps` (None = as fast as the TX ring takes them).
    fn trial(&mut self, pps: Option<f64>, dur: Duration) -> Trial {
        self.trial_no = self.trial_no.wrapping_add(1);
        let trial_no = self.trial_no;
        let mut txq = self.tx_port.tx_queue(0).expect("tx queue");
        let mut rxq = self.rx_port.rx_queue(0).expect("rx queue");
        let mut arp_txq = if self.rx_port.id() != self.tx_port.id() {
            Some(self.rx_port.tx_queue(0).expect("rx port tx queue"))
        } else {
            None
        };
        let mut out = Burst::new();
        let mut inb = Burst::new();
        let mut t = Trial {
            lat_ns: Vec::with_capacity(LAT_SAMPLES),
            ..Trial::default()
        };
        let ticks = (dur.as_secs_f64() * self.hz as f64) as u64;
        let per_burst = pps.map(|r| (BURST_SIZE as f64 / r * self.hz as f64) as u64);
        let start = tsc();
        let end = start + ticks;
        let mut next_tx = start;
        let mut seq = 0u32;
        loop {
            let now = tsc();
            if now >= end {
                break;
            }
            if now >= next_tx {
                for _ in 0..BURST_SIZE {
                    let Some(mut m) = self.pool.alloc() else {
                        break;
                    };
                    let Some(d) = m.append(pkt::FRAME_LEN as u16) else {
                        break;
                    };
                    let f = self.next_flow;
                    self.next_flow = if f + 1 == self.templates.len() {
                        0
                    } else {
                        f + 1
                    };
                    d.copy_from_slice(&self.templates[f]);
                    let s = &mut d[STAMP_AT..STAMP_AT + 16];
                    s[0..2].copy_from_slice(&MAGIC.to_be_bytes());
                    s[2..4].copy_from_slice(&trial_no.to_be_bytes());
                    s[4..8].copy_from_slice(&seq.to_be_bytes());
                    s[8..16].copy_from_slice(&tsc().to_le_bytes());
                    seq = seq.wrapping_add(1);
                    if out.push(m).is_err() {
                        break;
                    }
                }
                let o = txq.tx(&mut out);
                t.sent += o.sent as u64;
                if let Some(pb) = per_burst {
                    next_tx += pb;
                    // Never try to catch up more than a few bursts after a stall.
                    if now > next_tx + 4 * pb {
                        next_tx = now;
                    }
                }
            }
            self.receive(&mut rxq, &mut inb, arp_txq.as_mut(), trial_no, &mut t);
        }
        // Drain what is still in flight.
        let drain_end = tsc() + self.hz / 10;
        while tsc() < drain_end {
            self.receive(&mut rxq, &mut inb, arp_txq.as_mut(), trial_no, &mut t);
        }
        let secs = (drain_end.min(end) - start) as f64 / self.hz as f64;
        t.offered_pps = pps.unwrap_or(t.sent as f64 / secs.max(1e-9));
        t.lat_ns.sort_unstable();
        t
    }

    fn receive(
        &mut self,
        rxq: &mut dataplane::dpdk::RxQueue<'e>,
        inb: &mut Burst<'e>,
        arp_txq: Option<&mut dataplane::dpdk::TxQueue<'e>>,
        trial_no: u16,
        t: &mut Trial,
    ) {
        if rxq.rx(inb) == 0 {
            return;
        }
        let now = tsc();
        let mut arp = Burst::new();
        for f in inb.frames_mut() {
            if f.len() >= STAMP_AT + 16
                && f[12..14] == [0x08, 0x00]
                && f[STAMP_AT..STAMP_AT + 2] == MAGIC.to_be_bytes()
            {
                if f[STAMP_AT + 2..STAMP_AT + 4] == trial_no.to_be_bytes() {
                    t.received += 1;
                    let mut ts = [0u8; 8];
                    ts.copy_from_slice(&f[STAMP_AT + 8..STAMP_AT + 16]);
                    let ns = (now.saturating_sub(u64::from_le_bytes(ts)) as u128 * 1_000_000_000
                        / u128::from(self.hz)) as u64;
                    if t.lat_ns.len() < LAT_SAMPLES {
                        t.lat_ns.push(ns.min(u64::from(u32::MAX)) as u32);
                    }
                }
            } else if let Some(reply) = self.arp_reply(f) {
                if let Some(mut m) = self.pool.alloc() {
                    if let Some(d) = m.append(reply.len() as u16) {
                        d.copy_from_slice(&reply);
                        let _ = arp.push(m);
                    }
                }
            }
        }
        inb.free_all();
        if !arp.is_empty() {
            if let Some(q) = arp_txq {
                self.arp_replies += q.tx(&mut arp).sent as u64;
            }
        }
    }

    /// An ARP reply if `f` asks for the gateway address we stand in for.
    fn arp_reply(&self, f: &[u8]) -> Option<[u8; 60]> {
        if f.len() < 42 || f[12..14] != [0x08, 0x06] || f[20..22] != [0, 1] {
            return None;
        }
        if f[38..42] != self.gateway.octets() {
            return None;
        }
        let mut r = [0u8; 60];
        r[0..6].copy_from_slice(&f[6..12]);
        r[6..12].copy_from_slice(&self.rx_mac);
        r[12..14].copy_from_slice(&[0x08, 0x06]);
        r[14..20].copy_from_slice(&[0, 1, 0x08, 0, 6, 4]);
        r[20..22].copy_from_slice(&[0, 2]);
        r[22..28].copy_from_slice(&self.rx_mac);
        r[28..32].copy_from_slice(&self.gateway.octets());
        r[32..38].copy_from_slice(&f[22..28]);
        r[38..42].copy_from_slice(&f[28..32]);
        Some(r)
    }
}

fn report(label: &str, what: &str, t: &Trial) {
    println!(
        "{label}: {what:>9} offered {:8.3} Mpps  sent {:>10}  received {:>10}  loss {:8.4}%  latency p50 {:7.1} us  p99 {:7.1} us",
        t.offered_pps / 1e6,
        t.sent,
        t.received,
        t.loss() * 100.0,
        t.percentile_us(0.5),
        t.percentile_us(0.99)
    );
}

fn run(a: &Args) -> Result<(), String> {
    let eal_args = vec![
        "dpnat-gen".to_string(),
        "-l".into(),
        a.lcores.clone(),
        "--no-huge".into(),
        "-m".into(),
        "256".into(),
        "--no-pci".into(),
        "--file-prefix".into(),
        a.file_prefix.clone(),
        "--vdev".into(),
        a.tx_dev.clone(),
        "--vdev".into(),
        a.rx_dev.clone(),
    ];
    let eal = Eal::init(&eal_args).map_err(|e| e.to_string())?;
    let hz = tsc_hz(&eal);
    let pool =
        Mempool::pktmbuf(&eal, "gen_pool", 16383, 256, 2048 + 128).map_err(|e| e.to_string())?;
    let name = |d: &str| d.split(',').next().unwrap_or(d).to_string();
    let cfg = PortConfig {
        rx_descriptors: 1024,
        tx_descriptors: 1024,
        ..PortConfig::default()
    };
    let mut ports = Vec::new();
    for d in [&a.tx_dev, &a.rx_dev] {
        let id = eal
            .port_by_name(&name(d))
            .map_err(|e| format!("{d}: {e}"))?;
        let mut p = Port::configure(&eal, id, &cfg, &pool).map_err(|e| format!("{d}: {e}"))?;
        p.start().map_err(|e| format!("{d}: {e}"))?;
        ports.push(p);
    }
    let deadline = Instant::now() + Duration::from_secs(a.link_wait_s);
    loop {
        let up = ports
            .iter()
            .all(|p| p.link().map(|l| l.up).unwrap_or(false));
        if up {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "links not up after {} s (is the DUT running?)",
                a.link_wait_s
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let src_mac = ports[0].mac().map_err(|e| e.to_string())?;
    let rx_mac = ports[1].mac().map_err(|e| e.to_string())?;
    let templates = (0..a.flows)
        .map(|i| {
            let mut f = [0u8; pkt::FRAME_LEN];
            pkt::write_eth(&mut f, a.dst_mac, src_mac);
            let (s, sp, d, dp) = flow(i);
            pkt::write_udp(&mut f[pkt::ETH_LEN..], s, sp, d, dp, &[]);
            // Checksum 0: the payload stamp changes per packet.
            f[pkt::ETH_LEN + 26] = 0;
            f[pkt::ETH_LEN + 27] = 0;
            f
        })
        .collect();
    let (p0, p1) = (&ports[0], &ports[1]);
    let mut g = Gen {
        pool: &pool,
        tx_port: p0,
        rx_port: p1,
        templates,
        hz,
        rx_mac,
        gateway: a.gateway,
        trial_no: 0,
        next_flow: 0,
        arp_replies: 0,
    };
    println!(
        "{}: links up; {} flows, {} ms trials, {} search steps, loss threshold {}%",
        a.label,
        a.flows,
        a.trial_ms,
        a.iterations,
        a.loss * 100.0
    );
    let dur = Duration::from_millis(a.trial_ms);
    // Warm-up: resolve ARP, open the DUT's sessions, fill caches.
    let w = g.trial(Some(100_000.0), Duration::from_millis(200));
    report(&a.label, "warm-up", &w);
    let first = if a.max_mpps > 0.0 {
        g.trial(Some(a.max_mpps * 1e6), dur)
    } else {
        g.trial(None, dur)
    };
    report(&a.label, "max", &first);
    let mut best = if first.loss() <= a.loss {
        Some(first.clone())
    } else {
        None
    };
    let (mut lo, mut hi) = (0.0, first.offered_pps);
    if best.is_none() {
        for _ in 0..a.iterations {
            let mid = (lo + hi) / 2.0;
            let t = g.trial(Some(mid), dur);
            report(&a.label, "search", &t);
            if t.loss() <= a.loss {
                lo = mid;
                best = Some(t);
            } else {
                hi = mid;
            }
        }
    }
    let b = best.unwrap_or_default();
    println!(
        "RESULT label={} rate_mpps={:.4} loss_pct={:.4} p50_us={:.2} p99_us={:.2} p999_us={:.2} max_offered_mpps={:.4} flows={} arp_replies={}",
        a.label,
        b.offered_pps / 1e6,
        b.loss() * 100.0,
        b.percentile_us(0.5),
        b.percentile_us(0.99),
        b.percentile_us(0.999),
        first.offered_pps / 1e6,
        a.flows,
        g.arp_replies
    );
    drop(g);
    for p in &mut ports {
        let _ = p.stop();
    }
    Ok(())
}

fn main() -> ExitCode {
    let a = parse_args();
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpnat-gen: {e}");
            ExitCode::FAILURE
        }
    }
}
