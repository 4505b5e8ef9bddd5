//! The distro's PMDs load from its driver directory without `-d`: every
//! virtual device dpnat relies on probes as a vdev, and each port can be
//! configured, started, queried and stopped.

mod dpdk_common;

use dataplane::dpdk::{Mempool, Port, PortConfig};
use dpdk_common::*;

#[test]
fn distro_pmds_probe_as_vdevs() {
    let dir = temp_dir("probe");
    let rx = dir.join("in.pcap");
    write_pcap(&rx, &frames(3));
    let tap = format!("dpnt{}", std::process::id() % 100_000);
    let vdevs = vec![
        "net_ring0".to_string(),
        "net_null0".to_string(),
        format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            rx.display(),
            dir.join("out.pcap").display()
        ),
        format!("net_tap0,iface={tap}"),
        format!(
            "net_memif0,role=server,socket-abstract=no,socket={}",
            dir.join("memif.sock").display()
        ),
        "net_af_packet0,iface=lo".to_string(),
    ];
    let eal = eal("0", &vdevs);
    assert_eq!(eal.port_count(), vdevs.len() as u16);
    let pool = Mempool::pktmbuf(&eal, "probe_pool", 8191, 32, 2176).unwrap();
    for v in &vdevs {
        let name = v.split(',').next().unwrap();
        let id = eal
            .port_by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut p = Port::configure(&eal, id, &PortConfig::default(), &pool)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.name(), name);
        p.start().unwrap_or_else(|e| panic!("{name}: start: {e}"));
        p.link().unwrap_or_else(|e| panic!("{name}: link: {e}"));
        p.mac().unwrap_or_else(|e| panic!("{name}: mac: {e}"));
        p.stats().unwrap_or_else(|e| panic!("{name}: stats: {e}"));
        p.xstats().unwrap_or_else(|e| panic!("{name}: xstats: {e}"));
        p.stop().unwrap_or_else(|e| panic!("{name}: stop: {e}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
