//! Builds the EAL argument list from the config.

use crate::config::Config;

/// EAL arguments (without argv[0]) for `cfg`:
/// `-l`, `--file-prefix`, memory (`--no-huge` and/or `-m`), `--no-pci` when
/// every device is a vdev, `--vdev` per virtual device and `-a` per PCI
/// device, a quiet default log level, then `extra_args` (which may override).
pub fn build(cfg: &Config) -> Vec<String> {
    let e = &cfg.eal;
    let mut a = vec![
        "-l".to_string(),
        e.lcores_spec.clone(),
        format!("--file-prefix={}", e.file_prefix),
        "-m".to_string(),
        e.memory_mb.to_string(),
    ];
    if e.no_huge {
        a.push("--no-huge".to_string());
    }
    let devices = cfg
        .interfaces
        .iter()
        .map(|i| (i.is_vdev(), &i.device))
        .chain(cfg.exception.iter().map(|e| (e.is_vdev(), &e.device)));
    if devices.clone().all(|(vdev, _)| vdev) {
        a.push("--no-pci".to_string());
    }
    for (vdev, device) in devices {
        a.push(if vdev { "--vdev" } else { "-a" }.to_string());
        a.push(device.clone());
    }
    a.push("--log-level=warning".to_string());
    a.extend(e.extra_args.iter().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vdev_only_configs_get_no_pci_and_one_vdev_each() {
        let c = Config::parse(
            "[eal]\nlcores = \"0-1\"\nno_huge = true\nmemory_mb = 128\nfile_prefix = \"t1\"\nextra_args = [\"--no-telemetry\"]\n\
             [[interface]]\nname = \"a\"\ndevice = \"net_pcap0,rx_pcap=a.pcap\"\n\
             [[interface]]\nname = \"b\"\ndevice = \"net_ring0\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            build(&c),
            [
                "-l",
                "0-1",
                "--file-prefix=t1",
                "-m",
                "128",
                "--no-huge",
                "--no-pci",
                "--vdev",
                "net_pcap0,rx_pcap=a.pcap",
                "--vdev",
                "net_ring0",
                "--log-level=warning",
                "--no-telemetry"
            ]
        );
    }

    #[test]
    fn pci_devices_are_allowlisted_and_keep_pci_probing() {
        let c = Config::parse(
            "[[interface]]\nname = \"a\"\ndevice = \"0000:03:00.0\"\n[[interface]]\nname = \"b\"\ndevice = \"net_null0\"\n",
            "t",
        )
        .unwrap();
        let a = build(&c);
        assert!(!a.contains(&"--no-pci".to_string()));
        assert!(!a.contains(&"--no-huge".to_string()));
        assert!(a.windows(2).any(|w| w == ["-a", "0000:03:00.0"]));
        assert!(a.windows(2).any(|w| w == ["--vdev", "net_null0"]));
    }
}
