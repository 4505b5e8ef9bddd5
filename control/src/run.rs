//! `dpnat run`: start the EAL from the config, set up the ports, run the
//! burst loop on the worker lcores (or inline on the main lcore when it is
//! the only one), serve metrics, and shut down cleanly when `stop` is set.
//!
//! Until the NAT pipeline is plugged in, the worker is a two-port
//! cross-connect (interface 1 <-> interface 2).

use crate::config::Config;
use crate::eal_args;
use crate::metrics::{self, PortSample};
use dataplane::dpdk::{DpdkError, Eal, Mempool, Port, PortConfig, BURST_SIZE};
use dataplane::stats::{DropReason, WorkerStats};
use dataplane::worker::{CrossConnect, StatsSlot, Worker, WorkerPort};
use std::fmt;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why `run` failed; displayed as one line.
#[derive(Debug)]
pub enum RunError {
    /// The config is valid but cannot be run by this build.
    Unsupported(String),
    Dpdk(DpdkError),
    Io(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Unsupported(s) | RunError::Io(s) => f.write_str(s),
            RunError::Dpdk(e) => write!(f, "{e}"),
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
    let need = ports * queues * 2 * descriptors + workers * (BURST_SIZE * (ports + 2) + 512) + 1024;
    (need + 1).next_power_of_two() as u32 - 1
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs until `stop` is set. `log` receives one-line progress messages.
pub fn run(
    cfg: &Config,
    stop: &AtomicBool,
    mut log: impl FnMut(&str),
) -> Result<RunSummary, RunError> {
    if cfg.interfaces.len() != 2 {
        return Err(RunError::Unsupported(format!(
            "this build forwards between exactly two interfaces (the NAT pipeline is not integrated yet); the config has {}",
            cfg.interfaces.len()
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
        pool_size(cfg.interfaces.len(), nworkers, nworkers, pcfg_desc),
        256,
        dataplane_buf_size(),
    )?;

    let mut ports = Vec::with_capacity(cfg.interfaces.len());
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
            p.set_mac(mac)
                .map_err(|e| RunError::Io(format!("interface {}: {e}", iface.name)))?;
        }
        p.start()
            .map_err(|e| RunError::Io(format!("interface {}: {e}", iface.name)))?;
        let link = p
            .link()
            .map(|l| if l.up { "up" } else { "down" })
            .unwrap_or("unknown");
        let mac = p.mac().map(mac_str).unwrap_or_else(|_| "unknown".into());
        log(&format!(
            "interface {}: {} (port {}), mac {mac}, mtu {}, {queues} queue(s), link {link}",
            iface.name,
            p.name(),
            p.id(),
            iface.mtu
        ));
        ports.push(p);
    }

    let slots: Vec<StatsSlot> = (0..nworkers).map(|_| StatsSlot::default()).collect();
    let result = launch(
        &eal, &lcores, &ports, &pool, &slots, cfg, listener, stop, &mut log,
    );
    // Workers are gone (the scope joined them); stop the devices so their
    // rings hand every mbuf back before the pool and the EAL go away.
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

fn dataplane_buf_size() -> u16 {
    // 2048 bytes of data + DPDK's 128-byte headroom: one full frame per mbuf.
    2048 + 128
}

#[allow(clippy::too_many_arguments)]
fn launch(
    eal: &Eal,
    lcores: &[u32],
    ports: &[Port<'_>],
    pool: &Mempool<'_>,
    slots: &[StatsSlot],
    cfg: &Config,
    listener: Option<TcpListener>,
    stop: &AtomicBool,
    log: &mut impl FnMut(&str),
) -> Result<(), RunError> {
    let mut workers = Vec::with_capacity(slots.len());
    for (w, slot) in slots.iter().enumerate() {
        let q = w as u16;
        let mut wp = Vec::with_capacity(ports.len());
        for p in ports {
            wp.push(WorkerPort {
                rx: p.rx_queue(q)?,
                tx: p.tx_queue(q)?,
            });
        }
        workers.push(
            Worker::new(wp, CrossConnect, slot)
                .map_err(|e| RunError::Unsupported(e.to_string()))?
                .with_pool(pool),
        );
    }
    let sample = || {
        let samples: Vec<PortSample> = ports
            .iter()
            .zip(&cfg.interfaces)
            .map(|(p, i)| PortSample {
                interface: i.name.clone(),
                stats: p.stats().unwrap_or_default(),
                link_up: p.link().map(|l| l.up).unwrap_or(false),
            })
            .collect();
        metrics::render(&StatsSlot::sum(slots), slots.len(), &samples)
    };

    eal.scope(|s| {
        std::thread::scope(|ts| {
            if let Some(l) = listener {
                if let Ok(addr) = l.local_addr() {
                    log(&format!("metrics on http://{addr}/metrics"));
                }
                ts.spawn(|| metrics::serve(l, stop, sample));
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
        assert_eq!(n, 8191);
        assert!(n as usize >= 2 * 2 * 1024 + BURST_SIZE * 4);
        assert_eq!(pool_size(2, 4, 4, 1024), 32767);
    }

    #[test]
    fn rejects_configs_it_cannot_forward_before_touching_dpdk() {
        let c =
            Config::parse("[[interface]]\nname = \"a\"\ndevice = \"net_null0\"\n", "t").unwrap();
        let e = run(&c, &AtomicBool::new(true), |_| {}).unwrap_err();
        assert!(e.to_string().contains("exactly two interfaces"), "{e}");
    }
}
