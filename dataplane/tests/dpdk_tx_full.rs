//! TX refusals: the worker frees what the TX ring refused and counts it as
//! DropReason::TxFull; nothing leaks.

mod dpdk_common;

use dataplane::dpdk::{Mempool, Port, PortConfig, Ring};
use dataplane::stats::DropReason;
use dataplane::worker::{CrossConnect, StatsSlot, Worker, WorkerPort};
use dpdk_common::*;
use std::sync::atomic::AtomicBool;

#[test]
fn worker_counts_and_frees_tx_refused_mbufs() {
    // One lcore: the worker is polled on the main lcore, step by step.
    let eal = eal("0", &[]);
    let pool = Mempool::pktmbuf(&eal, "txfull_pool", 1023, 0, 2176).unwrap();
    let (a_in, a_out) = (
        Ring::new(&eal, "a_in", 256).unwrap(),
        Ring::new(&eal, "a_out", 256).unwrap(),
    );
    // B's TX ring holds only 15 packets and nobody drains it.
    let (b_in, b_out) = (
        Ring::new(&eal, "b_in", 256).unwrap(),
        Ring::new(&eal, "b_out", 16).unwrap(),
    );
    let a_id = Ring::eth_port(&eal, "ring_a", &a_in, &a_out).unwrap();
    let b_id = Ring::eth_port(&eal, "ring_b", &b_in, &b_out).unwrap();
    let mut a = Port::configure(&eal, a_id, &PortConfig::default(), &pool).unwrap();
    let mut b = Port::configure(&eal, b_id, &PortConfig::default(), &pool).unwrap();
    a.start().unwrap();
    b.start().unwrap();

    let sent = frames(100);
    inject(&pool, &a_in, &sent);
    let slot = StatsSlot::default();
    {
        let ports = vec![
            WorkerPort {
                rx: a.rx_queue(0).unwrap(),
                tx: a.tx_queue(0).unwrap(),
            },
            WorkerPort {
                rx: b.rx_queue(0).unwrap(),
                tx: b.tx_queue(0).unwrap(),
            },
        ];
        let mut w = Worker::new(ports, CrossConnect, &slot).unwrap();
        let mut got = 0;
        for _ in 0..100 {
            got += w.poll_once();
        }
        assert_eq!(got, 100);
        let st = w.stats();
        assert_eq!(st.tx_packets, 15);
        assert_eq!(st.dropped(DropReason::TxFull), 85);
        // The stop flag is honoured between bursts and publishes the counters.
        w.run(&AtomicBool::new(true));
    }
    let st = slot.read();
    assert_eq!(
        (st.rx_packets, st.tx_packets, st.dropped(DropReason::TxFull)),
        (100, 15, 85)
    );
    assert_eq!(
        collect(&b_out),
        sent[..15].to_vec(),
        "the first 15 went out intact"
    );
    assert_eq!(pool.in_use(), 0, "refused mbufs were freed, none leaked");
}
