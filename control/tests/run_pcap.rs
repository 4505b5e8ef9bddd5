//! `dpnat run` on two net_pcap vdevs: IPv4 packets read from the WAN input
//! pcap are routed to a LAN host into the LAN output pcap. The expected
//! output is computed independently here: TTL - 1, MACs rewritten (router LAN
//! MAC -> host MAC learned from the host's ARP request), IPv4 checksum
//! recomputed from scratch, everything else byte for byte; plus the
//! gratuitous ARPs and the ARP reply. Metrics count it all; SIGTERM stops it
//! cleanly with exit status 0.

mod common;

use common::*;
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn scrape(addr: &str) -> Option<String> {
    let mut c = std::net::TcpStream::connect(addr).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut s = String::new();
    c.read_to_string(&mut s).ok()?;
    Some(s)
}

const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const HOST_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x10];
const HOST: [u8; 4] = [192, 168, 88, 10];
const ROUTER_LAN: [u8; 4] = [192, 168, 88, 1];
const ROUTER_WAN: [u8; 4] = [203, 0, 113, 1];
const UPSTREAM_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0xfe];

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// UDP packets from the internet to the LAN host, assorted sizes.
fn wan_frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let payload = 18 + (i * 89) % 1455;
            let total = 20 + 8 + payload;
            let mut f = Vec::with_capacity(14 + total);
            f.extend_from_slice(&WAN_MAC);
            f.extend_from_slice(&UPSTREAM_MAC);
            f.extend_from_slice(&[0x08, 0x00]);
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
            ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&(i as u16).to_be_bytes());
            ip.extend_from_slice(&[198, 51, 100, (i % 200) as u8 + 1]);
            ip.extend_from_slice(&HOST);
            let c = csum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&ip);
            f.extend_from_slice(&(1000 + i as u16).to_be_bytes());
            f.extend_from_slice(&(2000 + i as u16).to_be_bytes());
            f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]); // no UDP checksum: routing never touches it
            f.extend((0..payload).map(|j| (i * 7 + j) as u8));
            f
        })
        .collect()
}

/// What a router must emit for `f`: TTL - 1, new MACs, fresh header checksum.
fn routed(f: &[u8]) -> Vec<u8> {
    let mut o = f.to_vec();
    o[0..6].copy_from_slice(&HOST_MAC);
    o[6..12].copy_from_slice(&LAN_MAC);
    o[14 + 8] -= 1;
    o[14 + 10] = 0;
    o[14 + 11] = 0;
    let c = csum(&o[14..34]);
    o[24..26].copy_from_slice(&c.to_be_bytes());
    o
}

fn arp(
    eth_dst: [u8; 6],
    op: u16,
    smac: [u8; 6],
    sip: [u8; 4],
    tmac: [u8; 6],
    tip: [u8; 4],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&smac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&smac);
    f.extend_from_slice(&sip);
    f.extend_from_slice(&tmac);
    f.extend_from_slice(&tip);
    f.resize(60, 0);
    f
}

#[test]
fn dpnat_run_routes_pcap_to_pcap() {
    let dir = temp_dir("run-pcap");
    let input = wan_frames(200);
    let host_arp = arp([0xff; 6], 1, HOST_MAC, HOST, [0; 6], ROUTER_LAN);
    std::fs::write(dir.join("in.pcap"), pcap_bytes(&input)).unwrap();
    std::fs::write(
        dir.join("lan-in.pcap"),
        pcap_bytes(std::slice::from_ref(&host_arp)),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let metrics = format!("127.0.0.1:{port}");
    let d = dir.display();
    let cfg = format!(
        r#"[eal]
lcores = "0-1"
no_huge = true
memory_mb = 256
file_prefix = "dpnat-run-test-{pid}"
extra_args = ["--no-telemetry"]

# The LAN port is polled first, so the host's ARP request (its only
# input) is learned before the WAN traffic for it arrives.
[[interface]]
name = "lan"
device = "net_pcap0,rx_pcap={d}/lan-in.pcap,tx_pcap={d}/out.pcap"
mac = "02:00:00:00:00:01"
addresses = ["192.168.88.1/24"]

[[interface]]
name = "wan"
device = "net_pcap1,rx_pcap={d}/in.pcap,tx_pcap={d}/wan-out.pcap"
mac = "02:00:00:00:00:02"
addresses = ["203.0.113.1/24"]

[nat]
rules = ["chain=srcnat out-interface=wan action=masquerade"]

[metrics]
listen = "{metrics}"
"#,
        pid = std::process::id()
    );
    let cfg_path = dir.join("dpnat.toml");
    std::fs::write(&cfg_path, cfg).unwrap();

    let mut child = dpnat()
        .arg("run")
        .arg("--config")
        .arg(&cfg_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The LAN side sees: gratuitous ARP, the ARP reply, the routed packets.
    let mut expected = vec![
        arp([0xff; 6], 1, LAN_MAC, ROUTER_LAN, [0; 6], ROUTER_LAN),
        arp(HOST_MAC, 2, LAN_MAC, ROUTER_LAN, HOST_MAC, HOST),
    ];
    expected.extend(input.iter().map(|f| routed(f)));
    // Bounded wait for every packet to reach the output pcap.
    let deadline = Instant::now() + Duration::from_secs(60);
    let out = dir.join("out.pcap");
    let mut got = Vec::new();
    while Instant::now() < deadline {
        if let Some(p) = read_pcap(&out) {
            got = p;
            if got.len() >= expected.len() {
                break;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let o = child.wait_with_output().unwrap();
            panic!("dpnat exited early with {status}: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Counters are published every few hundred idle loops; poll briefly.
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&metrics).unwrap_or_default();
        if text.contains(&format!("dpnat_tx_packets_total {}\n", expected.len() + 1)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dpnat did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(status.success(), "exit {status}; stderr: {}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));

    let got_final = read_pcap(&out).expect("output pcap is readable");
    assert_eq!(
        got_final.len(),
        expected.len(),
        "every packet routed exactly once (saw {} before SIGTERM)",
        got.len()
    );
    for (i, (a, b)) in expected.iter().zip(&got_final).enumerate() {
        assert_eq!(a, b, "LAN output frame {i} differs");
    }
    assert_eq!(
        read_pcap(&dir.join("wan-out.pcap")),
        Some(vec![arp(
            [0xff; 6], 1, WAN_MAC, ROUTER_WAN, [0; 6], ROUTER_WAN
        )]),
        "only the WAN gratuitous ARP flows back"
    );

    let n = input.len();
    let rx_pkts = n + 1;
    let rx_bytes: usize = input.iter().map(Vec::len).sum::<usize>() + host_arp.len();
    let tx_pkts = expected.len() + 1;
    let tx_bytes: usize = expected.iter().map(Vec::len).sum::<usize>() + 60;
    assert!(
        text.contains(&format!("dpnat_rx_packets_total {rx_pkts}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("dpnat_tx_packets_total {tx_pkts}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("dpnat_tx_bytes_total {tx_bytes}\n")),
        "{text}"
    );
    assert!(
        text.contains("dpnat_sessions 0\n"),
        "plain routing makes no session: {text}"
    );
    assert!(
        text.contains("dpnat_rule_packets_total{chain=\"srcnat\",rule=\"0\""),
        "{text}"
    );
    assert!(
        text.contains("dpnat_drops_total{reason=\"tx_full\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "dpnat_port_rx_packets_total{{interface=\"wan\"}} {n}\n"
        )),
        "{text}"
    );
    assert!(
        stdout.contains(&format!(
            "rx {rx_pkts} packets / {rx_bytes} bytes, tx {tx_pkts} packets / {tx_bytes} bytes, dropped 0"
        )),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
