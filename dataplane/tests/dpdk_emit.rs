//! Handlers can transmit packets they build (ICMP errors, ARP) through
//! `Emit`; those join the TX bursts, and failures are counted.

mod dpdk_common;

use dataplane::dpdk::{Mempool, Port, PortConfig, Ring};
use dataplane::stats::DropReason;
use dataplane::worker::{Emit, PacketHandler, StatsSlot, Verdict, Worker, WorkerPort};
use dpdk_common::*;

/// Forwards A -> B and answers each packet from A with a 64-byte reply on A
/// whose first two bytes carry the original length.
struct Echo;

impl PacketHandler for Echo {
    fn handle_burst(
        &mut self,
        in_port: u16,
        frames: &mut [&mut [u8]],
        verdicts: &mut [Verdict],
        emit: &mut Emit<'_, '_>,
    ) {
        for (f, v) in frames.iter_mut().zip(verdicts.iter_mut()) {
            *v = Verdict::Forward(1 - in_port);
            let len = f.len() as u16;
            let _ = emit.packet(in_port, 64, |b| {
                b[..2].copy_from_slice(&len.to_be_bytes());
                b[2..].fill(0xee);
            });
        }
    }
}

#[test]
fn handlers_emit_their_own_packets() {
    let eal = eal("0", &[]);
    let pool = Mempool::pktmbuf(&eal, "emit_pool", 2047, 0, 2176).unwrap();
    let (a_in, a_out) = (
        Ring::new(&eal, "a_in", 256).unwrap(),
        Ring::new(&eal, "a_out", 256).unwrap(),
    );
    let (b_in, b_out) = (
        Ring::new(&eal, "b_in", 256).unwrap(),
        Ring::new(&eal, "b_out", 256).unwrap(),
    );
    let mut a = Port::configure(
        &eal,
        Ring::eth_port(&eal, "a", &a_in, &a_out).unwrap(),
        &PortConfig::default(),
        &pool,
    )
    .unwrap();
    let mut b = Port::configure(
        &eal,
        Ring::eth_port(&eal, "b", &b_in, &b_out).unwrap(),
        &PortConfig::default(),
        &pool,
    )
    .unwrap();
    a.start().unwrap();
    b.start().unwrap();
    let slot = StatsSlot::default();

    // Without a pool, emitting fails and is counted as NoBuffer; forwarding still works.
    let first = frames(10);
    inject(&pool, &a_in, &first);
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
        let mut w = Worker::new(ports, Echo, &slot).unwrap();
        assert_eq!(w.poll_once(), 10);
        assert_eq!(w.stats().dropped(DropReason::NoBuffer), 10);
        assert_eq!(w.stats().tx_packets, 10);
    }
    assert_eq!(collect(&b_out), first);
    assert_eq!(a_out.count(), 0);

    let sent = frames(70);
    inject(&pool, &a_in, &sent);
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
        let mut w = Worker::new(ports, Echo, &slot).unwrap().with_pool(&pool);
        let mut got = 0;
        for _ in 0..10 {
            got += w.poll_once();
        }
        assert_eq!(got, 70);
        let st = w.stats();
        assert_eq!(st.tx_packets, 140, "70 forwarded + 70 emitted");
        assert!(DropReason::ALL.iter().all(|r| st.dropped(*r) == 0));
    }
    assert_eq!(collect(&b_out), sent);
    let replies = collect(&a_out);
    assert_eq!(replies.len(), 70);
    for (r, s) in replies.iter().zip(&sent) {
        assert_eq!(r.len(), 64);
        assert_eq!(u16::from_be_bytes([r[0], r[1]]) as usize, s.len());
        assert!(r[2..].iter().all(|&x| x == 0xee));
    }
    assert_eq!(pool.in_use(), 0);
}
