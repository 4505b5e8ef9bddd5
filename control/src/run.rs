//! `dpnat run`: start the EAL from the config, set up the ports, compile
//! the config into the dataplane snapshot, run the NAT pipeline's burst loop
//! on the worker lcore (or inline on the main lcore when it is the only
//! one), serve metrics, apply reloads (SIGHUP), and shut down cleanly when
//! `stop` is set.
//!
//! One worker: return traffic must reach the worker that owns the session,
//! and steering packets between workers is not implemented, so a config
//! with more than one worker lcore is refused before DPDK starts.

use crate::config::{Config, ConfigError};
use crate::eal_args;
use crate::metrics::{self, NatSample, PortSample};
use crate::snapshot;
use dataplane::conntrack::WorkerSlice;
use dataplane::dpdk::{tsc, tsc_hz, DpdkError, Eal, Mempool, Port, PortConfig, BURST_SIZE};
use dataplane::nat::rules::Chain;
use dataplane::pipeline::{Pipeline, SnapshotCell};
use dataplane::route::MacAddr;
use dataplane::stats::{DropReason, WorkerStats};
use dataplane::worker::{NatSlot, PipelineWorker, StatsSlot, WorkerPort};
use std::fmt;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Where a reload comes from: the config file, re-read when `signal` is set
/// (SIGHUP).
pub struct Reload<'a> {
    pub path: PathBuf,
    pub signal: &'a AtomicBool,
}

/// Why `run` failed; displayed as one line.
#[derive(Debug)]
pub enum RunError {
    /// The config is valid but cannot be run by this build.
    Unsupported(String),
    /// The config does not compile against the running ports.
    Config(ConfigError),
    Dpdk(DpdkError),
    Io(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Unsupported(s) | RunError::Io(s) => f.write_str(s),
            RunError::Dpdk(e) => write!(f, "{e}"),
            RunError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<DpdkError> for RunError {
    fn from(e: DpdkError) -> Self {
        RunError::Dpdk(e)
    }
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub workers: usize,
    pub totals: WorkerStats,
}

impl RunSummary {
    pub fn dropped(&self) -> u64 {
        DropReason::ALL
            .iter()
            .map(|r| self.totals.dropped(*r))
            .sum()
    }
}

/// Mbufs needed: every RX/TX descriptor full, plus each worker's bursts and
/// the per-lcore caches, rounded up to 2^n - 1 (the mempool's sweet spot).
fn pool_size(ports: usize, queues: usize, workers: usize, descriptors: usize) -> u32 {
    // Per worker: its bursts, the packets its neighbour table may hold while
    // ARP resolves (max_incomplete * hold_per_neighbor), and slack.
    let held = {
        let n = dataplane::route::NeighborConfig::default();
        n.max_incomplete * n.hold_per_neighbor
    };
    let need =
        ports * queues * 2 * descriptors + workers * (BURST_SIZE * (ports + 2) + 512 + held) + 1024;
    (need + 1).next_power_of_two() as u32 - 1
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs until `stop` is set. `log` receives one-line progress messages.
pub fn run(cfg: &Config, stop: &AtomicBool, log: impl FnMut(&str)) -> Result<RunSummary, RunError> {
    run_with(cfg, stop, None, log)
}

/// [`run`], re-reading the config whenever `reload.signal` is set.
pub fn run_with(
    cfg: &Config,
    stop: &AtomicBool,
    reload: Option<Reload<'_>>,
    mut log: impl FnMut(&str),
) -> Result<RunSummary, RunError> {
    if cfg.eal.lcores.len() > 2 {
        return Err(RunError::Unsupported(format!(
            "lcores {:?} gives {} worker lcores; this build runs the NAT pipeline on one worker \
             (return traffic is not steered between workers yet): use two lcores, e.g. \"0-1\"",
            cfg.eal.lcores_spec,
            cfg.eal.lcores.len() - 1
        )));
    }
    let listener = match cfg.metrics.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .map_err(|e| RunError::Io(format!("metrics: cannot listen on {addr}: {e}")))?,
        ),
        None => None,
    };

    let args = eal_args::build(cfg);
    log(&format!("starting EAL: {}", args.join(" ")));
    let eal = Eal::init(&args)?;
    let lcores = eal.worker_lcores();
    let nworkers = lcores.len().max(1);
    let queues = nworkers as u16;

    let pcfg_desc = 1024;
    let pool = Mempool::pktmbuf(
        &eal,
        "dpnat_pool",
        pool_size(
            cfg.interfaces.len() + usize::from(cfg.exception.is_some()),
            nworkers,
            nworkers,
            pcfg_desc,
        ),
        256,
        dataplane_buf_size(),
    )?;

    let mut ports = Vec::with_capacity(cfg.interfaces.len() + 1);
    let mut port_macs = Vec::with_capacity(cfg.interfaces.len());
    for iface in &cfg.interfaces {
        let id = eal
            .port_by_name(iface.device_name())
            .map_err(|e| RunError::Io(format!("interface {}: {e}", iface.name)))?;
        let pc = PortConfig {
            rx_queues: queues,
            tx_queues: queues,
            rx_descriptors: pcfg_desc as u16,
            tx_descriptors: pcfg_desc as u16,
            mtu: Some(iface.mtu),
            promiscuous: true,
        };
        let mut p = Port::configure(&eal, id, &pc, &pool)
            .map_err(|e| RunError::Io(format!("interface {}: {e}", iface.name)))?;
        if let Some(mac) = iface.mac {
            // The pipeline uses the configured MAC in software either way
            // (the port is promiscuous), so a device that cannot take it
            // (net_pcap, some VFs) still works.
            if let Err(e) = p.set_mac(mac) {
                log(&format!(
                    "interface {}: device keeps its own MAC ({e}); using {} in software",
                    iface.name,
                    mac_str(mac)
                ));
            }
        }
        p.start()
            .map_err(|e| RunError::Io(format!("interface {}: {e}", iface.name)))?;
        let link = p
            .link()
            .map(|l| if l.up { "up" } else { "down" })
            .unwrap_or("unknown");
        let mac = p
            .mac()
            .map_err(|e| RunError::Io(format!("interface {}: {e}", iface.name)))?;
        log(&format!(
            "interface {}: {} (port {}), mac {}, mtu {}, {queues} queue(s), link {link}",
            iface.name,
            p.name(),
            p.id(),
            mac_str(mac),
            iface.mtu
        ));
        port_macs.push(MacAddr(mac));
        ports.push(p);
    }

    let mut exception_mac = None;
    if let Some(ex) = &cfg.exception {
        let at = |e: DpdkError| RunError::Io(format!("exception device {}: {e}", ex.device_name()));
        let id = eal.port_by_name(ex.device_name()).map_err(at)?;
        let pc = PortConfig {
            rx_queues: queues,
            tx_queues: queues,
            rx_descriptors: pcfg_desc as u16,
            tx_descriptors: pcfg_desc as u16,
            mtu: None,
            promiscuous: true,
        };
        let mut p = Port::configure(&eal, id, &pc, &pool).map_err(at)?;
        p.start().map_err(at)?;
        let mac = p.mac().map_err(at)?;
        log(&format!(
            "exception path: {} (port {}), mac {}",
            p.name(),
            p.id(),
            mac_str(mac)
        ));
        exception_mac = Some(MacAddr(mac));
        ports.push(p);
    }

    let macs = snapshot::effective_macs(cfg, &port_macs);
    let snap = snapshot::build(cfg, &macs).map_err(RunError::Config)?;
    log(&format!(
        "snapshot: {} interface(s), {} route(s), {} NAT rule(s), hairpin {}, filtering {}",
        snap.interfaces.len(),
        snap.fib.routes().len(),
        snap.rules.len(),
        snap.nat.hairpin.label(),
        snap.nat.filtering.label()
    ));
    let cell = SnapshotCell::new(Arc::new(snap));
    let slots: Vec<StatsSlot> = (0..nworkers).map(|_| StatsSlot::default()).collect();
    let nat_slots: Vec<NatSlot> = (0..nworkers).map(|_| NatSlot::default()).collect();
    let ctx = RunCtx {
        cfg,
        macs,
        exception_mac,
        cell: &cell,
        rule_text: Mutex::new(rule_text(cfg)),
        reloads: AtomicU64::new(0),
        reload_errors: AtomicU64::new(0),
    };
    let result = launch(
        &eal, &lcores, &ports, &pool, &slots, &nat_slots, &ctx, listener, stop, reload, &mut log,
    );
    // Workers are gone (the scope joined them, dropping their held mbufs);
    // stop the devices so their rings hand every mbuf back before the pool
    // and the EAL go away.
    for p in &mut ports {
        if let Err(e) = p.stop() {
            log(&format!("stopping {}: {e}", p.name()));
        }
    }
    result?;
    let summary = RunSummary {
        workers: nworkers,
        totals: StatsSlot::sum(&slots),
    };
    drop(ports);
    drop(pool);
    drop(eal);
    Ok(summary)
}

/// What the control threads share while the workers run.
struct RunCtx<'a> {
    cfg: &'a Config,
    /// The MAC each interface runs with (reloads cannot change them).
    macs: Vec<MacAddr>,
    exception_mac: Option<MacAddr>,
    cell: &'a SnapshotCell,
    /// (chain, text) of each rule of the running config, for metric labels.
    rule_text: Mutex<Vec<(&'static str, String)>>,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
}

fn rule_text(cfg: &Config) -> Vec<(&'static str, String)> {
    cfg.nat
        .as_ref()
        .map(|n| {
            n.rules
                .iter()
                .map(|r| {
                    let chain = match r.spec.chain {
                        Chain::DstNat => "dstnat",
                        Chain::SrcNat => "srcnat",
                    };
                    (chain, r.text.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Re-reads the config and publishes its snapshot; the running one stays on
/// any error. Interfaces (names, devices, MACs) must not change: ports are
/// set up once.
fn reload_once(ctx: &RunCtx<'_>, path: &std::path::Path) -> Result<usize, ConfigError> {
    let new = Config::load(path)?;
    let old = ctx.cfg;
    let same = new.interfaces.len() == old.interfaces.len()
        && new
            .interfaces
            .iter()
            .zip(&old.interfaces)
            .all(|(a, b)| a.name == b.name && a.device == b.device && a.mac == b.mac);
    let ex = |c: &Config| c.exception.as_ref().map(|e| e.device.clone());
    if ex(&new) != ex(old) {
        let line = new.exception.as_ref().map_or(1, |e| e.line);
        return Err(new.error_at(line, "[exception] changed: restart dpnat to apply that"));
    }
    if !same {
        let line = new
            .interfaces
            .iter()
            .zip(&old.interfaces)
            .find(|(a, b)| a.name != b.name || a.device != b.device || a.mac != b.mac)
            .map_or(1, |(a, _)| a.line);
        return Err(new.error_at(
            line,
            "interfaces (names, devices, MACs) changed: restart dpnat to apply that",
        ));
    }
    let snap = snapshot::build(&new, &ctx.macs)?;
    let n = snap.rules.len();
    *ctx.rule_text.lock().unwrap_or_else(PoisonError::into_inner) = rule_text(&new);
    ctx.cell.publish(Arc::new(snap));
    Ok(n)
}

fn dataplane_buf_size() -> u16 {
    // 2048 bytes of data + DPDK's 128-byte headroom: one full frame per mbuf.
    2048 + 128
}

#[allow(clippy::too_many_arguments)]
fn launch<'e>(
    eal: &'e Eal,
    lcores: &[u32],
    ports: &'e [Port<'e>],
    pool: &'e Mempool<'e>,
    slots: &'e [StatsSlot],
    nat_slots: &'e [NatSlot],
    ctx: &'e RunCtx<'e>,
    listener: Option<TcpListener>,
    stop: &AtomicBool,
    reload: Option<Reload<'_>>,
    log: &mut impl FnMut(&str),
) -> Result<(), RunError> {
    let hz = tsc_hz(eal);
    let count = slots.len() as u16;
    let mut workers = Vec::with_capacity(slots.len());
    for (w, (slot, nslot)) in slots.iter().zip(nat_slots).enumerate() {
        let q = w as u16;
        let mut wp = Vec::with_capacity(ports.len());
        for p in ports {
            wp.push(WorkerPort {
                rx: p.rx_queue(q)?,
                tx: p.tx_queue(q)?,
            });
        }
        let pipeline = Pipeline::new(
            ctx.cell.load().0,
            snapshot::pipeline_config(ctx.cfg, ctx.exception_mac),
            WorkerSlice { index: q, count },
            tsc() ^ (u64::from(q) << 48) ^ u64::from(std::process::id()),
        )
        .map_err(|e| RunError::Unsupported(e.to_string()))?;
        let mut worker = PipelineWorker::new(wp, pipeline, pool, slot, hz)
            .map_err(|e| RunError::Unsupported(e.to_string()))?
            .with_snapshots(ctx.cell)
            .with_nat_slot(nslot);
        if w == 0 {
            let n = worker.announce();
            log(&format!("sent {n} gratuitous ARP announcement(s)"));
        }
        workers.push(worker);
    }
    let sample = || {
        let samples: Vec<PortSample> = ports
            .iter()
            .zip(&ctx.cfg.interfaces)
            .map(|(p, i)| PortSample {
                interface: i.name.clone(),
                stats: p.stats().unwrap_or_default(),
                link_up: p.link().map(|l| l.up).unwrap_or(false),
            })
            .collect();
        let texts = ctx
            .rule_text
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let counts = NatSlot::sum_rules(nat_slots, texts.len());
        let nat = NatSample {
            sessions: nat_slots.iter().map(NatSlot::sessions).sum(),
            neighbors: nat_slots.iter().map(NatSlot::neighbors).sum(),
            reloads: ctx.reloads.load(Ordering::Relaxed),
            reload_errors: ctx.reload_errors.load(Ordering::Relaxed),
            rules: texts
                .into_iter()
                .zip(counts)
                .enumerate()
                .map(|(i, ((chain, text), (p, b)))| (i, chain, text, p, b))
                .collect(),
        };
        let mut text = metrics::render(&StatsSlot::sum(slots), slots.len(), &samples);
        text.push_str(&metrics::render_nat(&nat));
        text
    };

    eal.scope(|s| {
        std::thread::scope(|ts| {
            if let Some(l) = listener {
                if let Ok(addr) = l.local_addr() {
                    log(&format!("metrics on http://{addr}/metrics"));
                }
                ts.spawn(|| metrics::serve(l, stop, sample));
            }
            if let Some(r) = reload {
                ts.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if r.signal.swap(false, Ordering::Relaxed) {
                            match reload_once(ctx, &r.path) {
                                Ok(n) => {
                                    ctx.reloads.fetch_add(1, Ordering::Relaxed);
                                    println!(
                                        "dpnat: reloaded {}: {n} NAT rule(s); established sessions keep their translation",
                                        r.path.display()
                                    );
                                }
                                Err(e) => {
                                    ctx.reload_errors.fetch_add(1, Ordering::Relaxed);
                                    eprintln!("{e}");
                                    eprintln!("dpnat: reload refused; the running configuration stays");
                                }
                            }
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                });
            }
            let mut inline = None;
            for (w, mut worker) in workers.into_iter().enumerate() {
                match lcores.get(w) {
                    Some(&lcore) => {
                        if let Err(e) = s.launch(lcore, move || worker.run(stop)) {
                            stop.store(true, Ordering::Relaxed);
                            return Err(RunError::Dpdk(e));
                        }
                        log(&format!("worker {w} running on lcore {lcore}"));
                    }
                    None => inline = Some(worker),
                }
            }
            match inline {
                Some(mut w) => {
                    log(&format!(
                        "worker running on the main lcore {}",
                        eal.main_lcore()
                    ));
                    w.run(stop);
                }
                None => {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            Ok(())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_a_power_of_two_minus_one_covering_all_descriptors() {
        let n = pool_size(2, 1, 1, 1024);
        assert_eq!(n, 16383);
        // Descriptors, bursts, and every packet the neighbour table may hold.
        assert!(n as usize >= 2 * 2 * 1024 + BURST_SIZE * 4 + 1024 * 4);
        assert_eq!(pool_size(2, 4, 4, 1024), 65535);
    }

    #[test]
    fn rejects_several_workers_before_touching_dpdk() {
        let c = Config::parse(
            "[eal]\nlcores = \"0-2\"\n[[interface]]\nname = \"a\"\ndevice = \"net_null0\"\n",
            "t",
        )
        .unwrap();
        let e = run(&c, &AtomicBool::new(true), |_| {}).unwrap_err();
        assert!(e.to_string().contains("one worker"), "{e}");
    }
}
