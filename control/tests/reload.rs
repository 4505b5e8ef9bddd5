//! SIGHUP reload of a running `dpnat run`: a good config is applied (new
//! rule set visible in the metrics), a broken one is refused with a
//! `FILE:LINE: reason` message while the running configuration stays.

mod common;

use common::*;
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn scrape(addr: &str) -> String {
    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s
}

fn wait_for(addr: &str, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = scrape(addr);
        if t.contains(what) || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(d: &std::path::Path, metrics: &str, rules: &str) -> String {
    let d = d.display();
    format!(
        r#"[eal]
lcores = "0-1"
no_huge = true
memory_mb = 256
file_prefix = "dpnat-reload-test-{pid}"
extra_args = ["--no-telemetry"]

[[interface]]
name = "lan"
device = "net_pcap0,rx_pcap={d}/empty.pcap,tx_pcap={d}/lan-out.pcap"
mac = "02:00:00:00:00:01"
addresses = ["192.168.88.1/24"]
lists = ["LAN"]

[[interface]]
name = "wan"
device = "net_pcap1,rx_pcap={d}/empty.pcap,tx_pcap={d}/wan-out.pcap"
mac = "02:00:00:00:00:02"
addresses = ["203.0.113.1/24"]
lists = ["WAN"]

[nat]
rules = [
{rules}
]

[metrics]
listen = "{metrics}"
"#,
        pid = std::process::id()
    )
}

#[test]
fn sighup_applies_a_good_config_and_refuses_a_broken_one() {
    let dir = temp_dir("reload");
    std::fs::write(dir.join("empty.pcap"), pcap_bytes(&[])).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let metrics = format!("127.0.0.1:{port}");
    let path = dir.join("dpnat.toml");
    let masq = "  \"chain=srcnat out-interface-list=WAN action=masquerade\",";
    std::fs::write(&path, config(&dir, &metrics, masq)).unwrap();

    let mut child = dpnat()
        .arg("run")
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let signal = |sig: &str| {
        assert!(std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    };
    let t = wait_for(&metrics, "dpnat_rule_packets_total{");
    assert!(t.contains("rule=\"0\""), "{t}");
    assert!(!t.contains("rule=\"1\""), "{t}");

    let two = format!(
        "{masq}\n  \"chain=dstnat dst-address=203.0.113.1 protocol=tcp dst-port=443 action=dst-nat to-addresses=192.168.88.20\","
    );
    std::fs::write(&path, config(&dir, &metrics, &two)).unwrap();
    signal("-HUP");
    let t = wait_for(&metrics, "dpnat_reloads_total 1\n");
    assert!(t.contains("dpnat_reloads_total 1\n"), "{t}");
    assert!(t.contains("rule=\"1\""), "{t}");

    // A typo in the second rule (line 25 of the file) is refused.
    let broken = two.replace("to-addresses", "to-adresses");
    std::fs::write(&path, config(&dir, &metrics, &broken)).unwrap();
    signal("-HUP");
    let t = wait_for(&metrics, "dpnat_reload_errors_total 1\n");
    assert!(t.contains("dpnat_reload_errors_total 1\n"), "{t}");
    assert!(t.contains("rule=\"1\""), "the running rules stay: {t}");

    signal("-TERM");
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
    let err = stderr(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(status.success(), "exit {status}; stderr: {err}");
    assert!(out.contains("reloaded"), "{out}");
    let line = format!("{}:25: rule 1", path.display());
    assert!(err.contains(&line), "want {line:?} in: {err}");
    assert!(
        err.contains("reload refused; the running configuration stays"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
