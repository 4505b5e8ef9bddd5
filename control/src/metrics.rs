//! Prometheus metrics: a text rendering of the summed worker counters and
//! port stats, served by a tiny HTTP listener on a std thread (`/metrics`).
//!
//! Workers own their counters and publish them into per-worker slots; the
//! reader sums the slots at scrape time, so the fast path never shares a
//! cache line or takes a lock.

use dataplane::dpdk::PortStats;
use dataplane::stats::{DropReason, WorkerStats};
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One interface's device counters at scrape time.
#[derive(Debug, Clone)]
pub struct PortSample {
    pub interface: String,
    pub stats: PortStats,
    pub link_up: bool,
}

fn counter(reg: &Registry, name: &str, help: &str, v: u64) -> prometheus::Result<()> {
    let c = IntCounter::new(name, help)?;
    c.inc_by(v);
    reg.register(Box::new(c))
}

fn port_counter(
    reg: &Registry,
    name: &str,
    help: &str,
    ports: &[PortSample],
    f: impl Fn(&PortStats) -> u64,
) -> prometheus::Result<()> {
    let c = IntCounterVec::new(Opts::new(name, help), &["interface"])?;
    for p in ports {
        c.with_label_values(&[p.interface.as_str()])
            .inc_by(f(&p.stats));
    }
    reg.register(Box::new(c))
}

/// Renders the Prometheus text exposition for the given sums.
pub fn render(totals: &WorkerStats, workers: usize, ports: &[PortSample]) -> String {
    match try_render(totals, workers, ports) {
        Ok(s) => s,
        Err(e) => format!("# metrics rendering failed: {e}\n"),
    }
}

fn try_render(t: &WorkerStats, workers: usize, ports: &[PortSample]) -> prometheus::Result<String> {
    let reg = Registry::new();
    counter(
        &reg,
        "dpnat_rx_packets_total",
        "Packets received by the workers.",
        t.rx_packets,
    )?;
    counter(
        &reg,
        "dpnat_rx_bytes_total",
        "Bytes received by the workers.",
        t.rx_bytes,
    )?;
    counter(
        &reg,
        "dpnat_tx_packets_total",
        "Packets transmitted by the workers.",
        t.tx_packets,
    )?;
    counter(
        &reg,
        "dpnat_tx_bytes_total",
        "Bytes transmitted by the workers.",
        t.tx_bytes,
    )?;
    counter(
        &reg,
        "dpnat_sessions_created_total",
        "NAT sessions created.",
        t.sessions_created,
    )?;
    counter(
        &reg,
        "dpnat_sessions_expired_total",
        "NAT sessions expired or closed.",
        t.sessions_expired,
    )?;
    counter(
        &reg,
        "dpnat_fast_path_hits_total",
        "Packets translated by an existing session.",
        t.fast_path_hits,
    )?;
    let drops = IntCounterVec::new(
        Opts::new("dpnat_drops_total", "Dropped packets by reason."),
        &["reason"],
    )?;
    for r in DropReason::ALL {
        drops.with_label_values(&[r.label()]).inc_by(t.dropped(r));
    }
    reg.register(Box::new(drops))?;
    let w = IntGauge::new("dpnat_workers", "Worker lcores running the burst loop.")?;
    w.set(workers as i64);
    reg.register(Box::new(w))?;
    if !ports.is_empty() {
        port_counter(
            &reg,
            "dpnat_port_rx_packets_total",
            "Packets the device received.",
            ports,
            |s| s.rx_packets,
        )?;
        port_counter(
            &reg,
            "dpnat_port_tx_packets_total",
            "Packets the device sent.",
            ports,
            |s| s.tx_packets,
        )?;
        port_counter(
            &reg,
            "dpnat_port_rx_bytes_total",
            "Bytes the device received.",
            ports,
            |s| s.rx_bytes,
        )?;
        port_counter(
            &reg,
            "dpnat_port_tx_bytes_total",
            "Bytes the device sent.",
            ports,
            |s| s.tx_bytes,
        )?;
        port_counter(
            &reg,
            "dpnat_port_rx_missed_total",
            "Packets the device dropped for lack of RX descriptors.",
            ports,
            |s| s.rx_missed,
        )?;
        port_counter(
            &reg,
            "dpnat_port_rx_errors_total",
            "Erroneous packets received.",
            ports,
            |s| s.rx_errors,
        )?;
        port_counter(
            &reg,
            "dpnat_port_tx_errors_total",
            "Failed transmissions.",
            ports,
            |s| s.tx_errors,
        )?;
        port_counter(
            &reg,
            "dpnat_port_rx_nombuf_total",
            "RX failures for lack of mbufs.",
            ports,
            |s| s.rx_nombuf,
        )?;
        let up = IntGaugeVec::new(
            Opts::new("dpnat_port_link_up", "1 when the link is up."),
            &["interface"],
        )?;
        for p in ports {
            up.with_label_values(&[p.interface.as_str()])
                .set(i64::from(p.link_up));
        }
        reg.register(Box::new(up))?;
    }
    let mut buf = Vec::new();
    TextEncoder::new().encode(&reg.gather(), &mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// NAT state at scrape time: live sessions, neighbours, per-rule counters.
#[derive(Debug, Clone, Default)]
pub struct NatSample {
    pub sessions: u64,
    pub neighbors: u64,
    /// Snapshot reloads applied since start.
    pub reloads: u64,
    /// Reloads refused (config errors).
    pub reload_errors: u64,
    /// Per rule: (index, chain, rule text, packets, bytes).
    pub rules: Vec<(usize, &'static str, String, u64, u64)>,
}

/// Renders the NAT metrics (appended to [`render`]'s output).
pub fn render_nat(n: &NatSample) -> String {
    match try_render_nat(n) {
        Ok(s) => s,
        Err(e) => format!("# nat metrics rendering failed: {e}\n"),
    }
}

fn try_render_nat(n: &NatSample) -> prometheus::Result<String> {
    let reg = Registry::new();
    let g = IntGauge::new("dpnat_sessions", "NAT sessions in the workers' tables.")?;
    g.set(n.sessions as i64);
    reg.register(Box::new(g))?;
    let g = IntGauge::new(
        "dpnat_neighbors",
        "Neighbour (ARP) entries in the workers' tables.",
    )?;
    g.set(n.neighbors as i64);
    reg.register(Box::new(g))?;
    counter(
        &reg,
        "dpnat_reloads_total",
        "Configuration reloads applied.",
        n.reloads,
    )?;
    counter(
        &reg,
        "dpnat_reload_errors_total",
        "Configuration reloads refused because of errors.",
        n.reload_errors,
    )?;
    let labels = ["rule", "chain", "text"];
    let pk = IntCounterVec::new(
        Opts::new(
            "dpnat_rule_packets_total",
            "Packets that matched each NAT rule (new flows).",
        ),
        &labels,
    )?;
    let by = IntCounterVec::new(
        Opts::new(
            "dpnat_rule_bytes_total",
            "Bytes of packets that matched each NAT rule.",
        ),
        &labels,
    )?;
    for (i, chain, text, p, b) in &n.rules {
        let idx = i.to_string();
        let l = [idx.as_str(), chain, text.as_str()];
        pk.with_label_values(&l).inc_by(*p);
        by.with_label_values(&l).inc_by(*b);
    }
    reg.register(Box::new(pk))?;
    reg.register(Box::new(by))?;
    let mut buf = Vec::new();
    TextEncoder::new().encode(&reg.gather(), &mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Serves `GET /metrics` (body from `body()`) until `stop` is set. Other
/// paths get 404. One connection at a time; each is bounded by timeouts.
pub fn serve(listener: TcpListener, stop: &AtomicBool, body: impl Fn() -> String) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                // A broken client must not take the exporter down.
                let _ = handle(stream, &body);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn handle(mut s: TcpStream, body: &impl Fn() -> String) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut req = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&req);
    let first = line.lines().next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, text) =
        if method == "GET" && (path == "/metrics" || path.starts_with("/metrics?")) {
            ("200 OK", "text/plain; version=0.0.4", body())
        } else {
            (
                "404 Not Found",
                "text/plain",
                "not found; try /metrics\n".to_string(),
            )
        };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    s.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sums_and_every_drop_reason() {
        let mut t = WorkerStats {
            rx_packets: 10,
            tx_packets: 7,
            ..WorkerStats::default()
        };
        t.drop(DropReason::TxFull);
        t.drop(DropReason::TxFull);
        t.drop(DropReason::NoRoute);
        let ports = [PortSample {
            interface: "lan".into(),
            stats: PortStats {
                rx_packets: 4,
                ..PortStats::default()
            },
            link_up: true,
        }];
        let text = render(&t, 2, &ports);
        assert!(text.contains("dpnat_rx_packets_total 10\n"), "{text}");
        assert!(text.contains("dpnat_tx_packets_total 7\n"));
        assert!(text.contains("dpnat_drops_total{reason=\"tx_full\"} 2\n"));
        assert!(text.contains("dpnat_drops_total{reason=\"no_route\"} 1\n"));
        assert!(text.contains("dpnat_drops_total{reason=\"ttl_exceeded\"} 0\n"));
        assert!(text.contains("dpnat_workers 2\n"));
        assert!(text.contains("dpnat_port_rx_packets_total{interface=\"lan\"} 4\n"));
        assert!(text.contains("dpnat_port_link_up{interface=\"lan\"} 1\n"));
        assert_eq!(
            text.matches("dpnat_drops_total{").count(),
            DropReason::COUNT
        );
    }

    #[test]
    fn renders_nat_sessions_and_rule_counters() {
        let text = render_nat(&NatSample {
            sessions: 3,
            neighbors: 2,
            reloads: 1,
            reload_errors: 0,
            rules: vec![(0, "srcnat", "chain=srcnat action=masquerade".into(), 5, 500)],
        });
        assert!(text.contains("dpnat_sessions 3\n"), "{text}");
        assert!(text.contains("dpnat_neighbors 2\n"));
        assert!(text.contains("dpnat_reloads_total 1\n"));
        assert!(text.contains(
            "dpnat_rule_packets_total{chain=\"srcnat\",rule=\"0\",text=\"chain=srcnat action=masquerade\"} 5\n"
        ), "{text}");
        assert!(text.contains("dpnat_rule_bytes_total{chain=\"srcnat\",rule=\"0\""));
    }

    #[test]
    fn serves_metrics_over_http_on_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| serve(l, &stop, || "dpnat_x 1\n".to_string()));
            let get = |path: &str| {
                let mut c = TcpStream::connect(addr).unwrap();
                write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                let mut out = String::new();
                c.read_to_string(&mut out).unwrap();
                out
            };
            let ok = get("/metrics");
            assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
            assert!(ok.ends_with("\r\n\r\ndpnat_x 1\n"));
            assert!(get("/").starts_with("HTTP/1.1 404"));
            stop.store(true, Ordering::Relaxed);
        });
    }
}
