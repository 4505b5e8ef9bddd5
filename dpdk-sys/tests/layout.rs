//! Layout canary: the C compiler (with the exact `pkg-config --cflags`) and
//! Rust must agree on every struct field dataplane::dpdk touches directly.
//! A mismatch means the bindings were generated against a different
//! rte_config.h than the library was built with, and mbuf access would be UB.

use dpdk_sys::*;
use std::mem::{offset_of, size_of};

fn c(item: u32) -> usize {
    // SAFETY: dpnat_layout is a pure function returning a constant per item.
    unsafe { dpnat_layout(item) }
}

#[test]
fn struct_layouts_match_the_c_compiler() {
    let checks: &[(&str, u32, usize)] = &[
        ("sizeof rte_mbuf", DPNAT_MBUF_SIZE, size_of::<rte_mbuf>()),
        (
            "rte_mbuf.buf_addr",
            DPNAT_MBUF_BUF_ADDR,
            offset_of!(rte_mbuf, buf_addr),
        ),
        (
            "rte_mbuf.data_off",
            DPNAT_MBUF_DATA_OFF,
            offset_of!(rte_mbuf, data_off),
        ),
        (
            "rte_mbuf.refcnt",
            DPNAT_MBUF_REFCNT,
            offset_of!(rte_mbuf, refcnt),
        ),
        (
            "rte_mbuf.nb_segs",
            DPNAT_MBUF_NB_SEGS,
            offset_of!(rte_mbuf, nb_segs),
        ),
        ("rte_mbuf.port", DPNAT_MBUF_PORT, offset_of!(rte_mbuf, port)),
        (
            "rte_mbuf.ol_flags",
            DPNAT_MBUF_OL_FLAGS,
            offset_of!(rte_mbuf, ol_flags),
        ),
        (
            "rte_mbuf.pkt_len",
            DPNAT_MBUF_PKT_LEN,
            offset_of!(rte_mbuf, pkt_len),
        ),
        (
            "rte_mbuf.data_len",
            DPNAT_MBUF_DATA_LEN,
            offset_of!(rte_mbuf, data_len),
        ),
        (
            "rte_mbuf.vlan_tci",
            DPNAT_MBUF_VLAN_TCI,
            offset_of!(rte_mbuf, vlan_tci),
        ),
        (
            "rte_mbuf.buf_len",
            DPNAT_MBUF_BUF_LEN,
            offset_of!(rte_mbuf, buf_len),
        ),
        ("rte_mbuf.pool", DPNAT_MBUF_POOL, offset_of!(rte_mbuf, pool)),
        ("rte_mbuf.next", DPNAT_MBUF_NEXT, offset_of!(rte_mbuf, next)),
        (
            "sizeof rte_eth_conf",
            DPNAT_ETH_CONF_SIZE,
            size_of::<rte_eth_conf>(),
        ),
        (
            "rte_eth_conf.rxmode",
            DPNAT_ETH_CONF_RXMODE,
            offset_of!(rte_eth_conf, rxmode),
        ),
        (
            "rte_eth_conf.txmode",
            DPNAT_ETH_CONF_TXMODE,
            offset_of!(rte_eth_conf, txmode),
        ),
        (
            "rte_eth_conf.rx_adv_conf",
            DPNAT_ETH_CONF_RX_ADV_CONF,
            offset_of!(rte_eth_conf, rx_adv_conf),
        ),
        (
            "sizeof rte_eth_stats",
            DPNAT_ETH_STATS_SIZE,
            size_of::<rte_eth_stats>(),
        ),
        (
            "rte_eth_stats.ipackets",
            DPNAT_ETH_STATS_IPACKETS,
            offset_of!(rte_eth_stats, ipackets),
        ),
        (
            "rte_eth_stats.oerrors",
            DPNAT_ETH_STATS_OERRORS,
            offset_of!(rte_eth_stats, oerrors),
        ),
        (
            "rte_eth_stats.rx_nombuf",
            DPNAT_ETH_STATS_RX_NOMBUF,
            offset_of!(rte_eth_stats, rx_nombuf),
        ),
        (
            "rte_eth_stats.q_errors",
            DPNAT_ETH_STATS_Q_ERRORS,
            offset_of!(rte_eth_stats, q_errors),
        ),
        (
            "sizeof rte_eth_dev_info",
            DPNAT_ETH_DEV_INFO_SIZE,
            size_of::<rte_eth_dev_info>(),
        ),
        (
            "sizeof rte_eth_link",
            DPNAT_ETH_LINK_SIZE,
            size_of::<rte_eth_link>(),
        ),
        (
            "sizeof rte_ether_addr",
            DPNAT_ETHER_ADDR_SIZE,
            size_of::<rte_ether_addr>(),
        ),
        (
            "sizeof rte_mempool",
            DPNAT_MEMPOOL_SIZE,
            size_of::<rte_mempool>(),
        ),
        (
            "rte_mempool.size",
            DPNAT_MEMPOOL_SIZE_FIELD,
            offset_of!(rte_mempool, size),
        ),
        (
            "rte_mempool.elt_size",
            DPNAT_MEMPOOL_ELT_SIZE,
            offset_of!(rte_mempool, elt_size),
        ),
        ("sizeof rte_ring", DPNAT_RING_SIZE, size_of::<rte_ring>()),
    ];
    assert_eq!(
        checks.len(),
        DPNAT_LAYOUT_COUNT as usize,
        "every canary item is checked"
    );
    let bad: Vec<String> = checks
        .iter()
        .filter(|(_, item, rust)| c(*item) != *rust)
        .map(|(name, item, rust)| format!("{name}: C {} vs Rust {rust}", c(*item)))
        .collect();
    assert!(bad.is_empty(), "layout mismatch: {bad:?}");
    // The mbuf is two cache lines and its first fields are where every PMD expects.
    assert_eq!(size_of::<rte_mbuf>(), 128);
    assert_eq!(offset_of!(rte_mbuf, buf_addr), 0);
    assert_eq!(
        c(DPNAT_LAYOUT_COUNT),
        usize::MAX,
        "unknown items are rejected"
    );
}
