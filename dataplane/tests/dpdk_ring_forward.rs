//! EAL with --no-pci --no-huge, two real ethdev ports backed by rings
//! (net_ring's rte_eth_from_rings), packets through the worker loop on a
//! worker lcore, checked byte for byte and counted.

mod dpdk_common;

use dataplane::dpdk::{Mempool, Port, PortConfig, Ring};
use dataplane::stats::DropReason;
use dataplane::worker::{CrossConnect, StatsSlot, Worker, WorkerPort};
use dpdk_common::*;
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn worker_forwards_ring_port_packets_byte_for_byte() {
    let eal = eal("0-1", &[]);
    let worker_lcore = *eal.worker_lcores().first().expect("a worker lcore");
    let pool = Mempool::pktmbuf(&eal, "fwd_pool", 2047, 32, 2176).unwrap();
    let (a_in, a_out) = (
        Ring::new(&eal, "a_in", 512).unwrap(),
        Ring::new(&eal, "a_out", 512).unwrap(),
    );
    let (b_in, b_out) = (
        Ring::new(&eal, "b_in", 512).unwrap(),
        Ring::new(&eal, "b_out", 512).unwrap(),
    );
    let a_id = Ring::eth_port(&eal, "ring_a", &a_in, &a_out).unwrap();
    let b_id = Ring::eth_port(&eal, "ring_b", &b_in, &b_out).unwrap();
    let mut a = Port::configure(&eal, a_id, &PortConfig::default(), &pool).unwrap();
    let mut b = Port::configure(&eal, b_id, &PortConfig::default(), &pool).unwrap();
    // net_ring names its ethdevs net_ring_<name>; lookup by name finds them.
    assert_eq!(a.name(), "net_ring_ring_a");
    assert_eq!(eal.port_by_name(a.name()).unwrap(), a_id);
    assert_eq!(eal.port_by_name(b.name()).unwrap(), b_id);
    assert!(eal.port_by_name("net_ring_ring_c").is_err());
    a.start().unwrap();
    b.start().unwrap();
    assert!(a.link().unwrap().up);

    let sent_a = frames(150);
    let sent_b = frames(40);
    inject(&pool, &a_in, &sent_a);
    inject(&pool, &b_in, &sent_b);

    let stop = AtomicBool::new(false);
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
        assert!(a.rx_queue(0).is_err(), "a queue is handed out once");
        let mut worker = Worker::new(ports, CrossConnect, &slot).unwrap();
        eal.scope(|s| {
            s.launch(worker_lcore, || worker.run(&stop)).unwrap();
            let done = wait_for(20, || {
                b_out.count() == sent_a.len() && a_out.count() == sent_b.len()
            });
            stop.store(true, Ordering::Relaxed);
            assert!(
                done,
                "forwarded {} of {} and {} of {}",
                b_out.count(),
                sent_a.len(),
                a_out.count(),
                sent_b.len()
            );
        });
    }

    assert_eq!(collect(&b_out), sent_a, "A -> B byte for byte, in order");
    assert_eq!(collect(&a_out), sent_b, "B -> A byte for byte, in order");
    let st = slot.read();
    let total = (sent_a.len() + sent_b.len()) as u64;
    let bytes: u64 = sent_a.iter().chain(&sent_b).map(|f| f.len() as u64).sum();
    assert_eq!(st.rx_packets, total);
    assert_eq!(st.tx_packets, total);
    assert_eq!(st.rx_bytes, bytes);
    assert_eq!(st.tx_bytes, bytes);
    assert!(DropReason::ALL.iter().all(|r| st.dropped(*r) == 0));
    let ps = a.stats().unwrap();
    assert_eq!(
        (ps.rx_packets, ps.tx_packets),
        (sent_a.len() as u64, sent_b.len() as u64)
    );
    assert_eq!(pool.in_use(), 0, "every mbuf is back in the pool");
    a.stop().unwrap();
    b.stop().unwrap();
}
