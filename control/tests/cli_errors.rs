//! Bad configs and DPDK failures give one `FILE:LINE: reason` (or `dpnat: ...`)
//! line on stderr and a non-zero exit, never a panic or an abort.

mod common;

use common::*;

fn check(tag: &str, body: &str) -> (i32, String, String) {
    let dir = temp_dir(tag);
    let path = dir.join("bad.toml");
    std::fs::write(&path, body).unwrap();
    let o = dpnat().arg("check-config").arg(&path).output().unwrap();
    let code = o.status.code().expect("exited, not killed by a signal");
    let _ = std::fs::remove_dir_all(&dir);
    (code, stderr(&o), path.display().to_string())
}

const BASE: &str = "[eal]\nno_huge = true\n\n[[interface]]\nname = \"lan\"\ndevice = \"net_null0\"\nmtu = 1500\n\n[[interface]]\nname = \"wan\"\ndevice = \"net_null1\"\naddresses = [\"203.0.113.1/24\"]\n";

#[test]
fn check_config_accepts_a_good_file() {
    let (code, err, path) = check("good", BASE);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty());
    let _ = path;
}

#[test]
fn check_config_reports_file_line_reason_on_one_line() {
    let cases: &[(&str, String, usize, &str)] = &[
        (
            "unknown-key",
            BASE.replace("mtu = 1500", "mtu = 1500\nspeed = 1"),
            8,
            "unknown field `speed`",
        ),
        (
            "mtu",
            BASE.replace("mtu = 1500", "mtu = 67"),
            7,
            "mtu 67 out of range 68..=9216",
        ),
        (
            "cidr",
            BASE.replace("203.0.113.1/24", "203.0.113.1/40"),
            12,
            "bad CIDR \"203.0.113.1/40\"",
        ),
        (
            "mac",
            BASE.replace("mtu = 1500", "mac = \"zz:00:00:00:00:01\""),
            7,
            "bad MAC address",
        ),
        (
            "dup",
            BASE.replace("name = \"wan\"", "name = \"lan\""),
            10,
            "duplicate interface name \"lan\"",
        ),
        ("syntax", BASE.replace("mtu = 1500", "mtu = 1500x"), 7, ""),
        (
            "route",
            format!("{BASE}[[route]]\ndst = \"0.0.0.0/0\"\ninterface = \"dmz\"\n"),
            15,
            "route names unknown interface \"dmz\"",
        ),
        (
            "eal",
            BASE.replace("no_huge = true", "no_huge = true\nhugepages = 4"),
            3,
            "unknown field `hugepages`",
        ),
    ];
    for (tag, body, line, reason) in cases {
        let (code, err, path) = check(tag, body);
        assert_eq!(code, 1, "{tag}: {err}");
        assert_eq!(err.lines().count(), 1, "{tag}: one line: {err:?}");
        let prefix = format!("{path}:{line}: {reason}");
        assert!(
            err.starts_with(&prefix),
            "{tag}: expected {prefix:?}, got {err:?}"
        );
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn missing_config_file_is_one_line_error() {
    let o = dpnat()
        .args(["check-config", "/nonexistent/dpnat.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("/nonexistent/dpnat.toml:1: cannot read config:"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
}

#[test]
fn run_with_a_bad_config_fails_before_starting_dpdk() {
    let dir = temp_dir("run-bad");
    let path = dir.join("bad.toml");
    std::fs::write(&path, BASE.replace("mtu = 1500", "mtu = 100000")).unwrap();
    let o = dpnat()
        .arg("run")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(
        e,
        format!("{}:7: mtu 100000 out of range 68..=9216\n", path.display())
    );
    assert!(
        o.stdout.is_empty(),
        "no EAL start-up: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_with_an_unprobeable_device_exits_cleanly() {
    let dir = temp_dir("run-dpdk-fail");
    let path = dir.join("c.toml");
    let body = format!(
        "[eal]\nno_huge = true\nmemory_mb = 128\nfile_prefix = \"dpnat-fail-{}\"\nextra_args = [\"--no-telemetry\"]\n\
         [[interface]]\nname = \"a\"\ndevice = \"net_pcap0,rx_pcap={}/missing.pcap,tx_pcap={}/o.pcap\"\n\
         [[interface]]\nname = \"b\"\ndevice = \"net_null0\"\n",
        std::process::id(),
        dir.display(),
        dir.display()
    );
    std::fs::write(&path, body).unwrap();
    let o = dpnat()
        .arg("run")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "a clean error exit, not a signal/abort"
    );
    let e = stderr(&o);
    let ours: Vec<&str> = e.lines().filter(|l| l.starts_with("dpnat: ")).collect();
    assert_eq!(ours.len(), 1, "{e}");
    assert!(
        ours[0].starts_with(
            "dpnat: interface a: rte_eth_dev_get_port_by_name: no ethdev named \"net_pcap0\""
        ),
        "{e}"
    );
    assert!(!e.contains("panicked"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_refuses_what_this_build_cannot_forward() {
    let dir = temp_dir("run-workers");
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "[eal]\nlcores = \"0-2\"\n[[interface]]\nname = \"a\"\ndevice = \"net_null0\"\n",
    )
    .unwrap();
    let o = dpnat()
        .arg("run")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("dpnat: lcores \"0-2\" gives 2 worker lcores; this build runs the NAT pipeline on one worker"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
