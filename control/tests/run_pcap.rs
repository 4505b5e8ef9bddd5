//! `dpnat run` on two net_pcap vdevs: packets read from an input pcap leave
//! through the other interface into an output pcap, byte for byte; metrics
//! count them; SIGTERM stops it cleanly with exit status 0.

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

#[test]
fn dpnat_run_forwards_pcap_to_pcap_byte_for_byte() {
    let dir = temp_dir("run-pcap");
    let input = frames(200);
    std::fs::write(dir.join("in.pcap"), pcap_bytes(&input)).unwrap();
    std::fs::write(dir.join("empty.pcap"), pcap_bytes(&[])).unwrap();
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

[[interface]]
name = "wan"
device = "net_pcap0,rx_pcap={d}/in.pcap,tx_pcap={d}/wan-out.pcap"
addresses = ["203.0.113.1/24"]

[[interface]]
name = "lan"
device = "net_pcap1,rx_pcap={d}/empty.pcap,tx_pcap={d}/out.pcap"
addresses = ["192.168.88.1/24"]

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
    // Bounded wait for every packet to reach the output pcap.
    let deadline = Instant::now() + Duration::from_secs(60);
    let out = dir.join("out.pcap");
    let mut got = Vec::new();
    while Instant::now() < deadline {
        if let Some(p) = read_pcap(&out) {
            got = p;
            if got.len() >= input.len() {
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
        if text.contains(&format!("dpnat_tx_packets_total {}\n", input.len())) {
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
        input.len(),
        "every packet forwarded exactly once (saw {} before SIGTERM)",
        got.len()
    );
    for (i, (a, b)) in input.iter().zip(&got_final).enumerate() {
        assert_eq!(a, b, "packet {i} differs");
    }
    assert_eq!(
        read_pcap(&dir.join("wan-out.pcap")).map(|p| p.len()),
        Some(0),
        "nothing flows back"
    );

    let n = input.len();
    let bytes: usize = input.iter().map(Vec::len).sum();
    assert!(
        text.contains(&format!("dpnat_rx_packets_total {n}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("dpnat_tx_packets_total {n}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("dpnat_tx_bytes_total {bytes}\n")),
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
            "rx {n} packets / {bytes} bytes, tx {n} packets / {bytes} bytes, dropped 0"
        )),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
