//! Zero allocations per burst in steady state (own test binary: linking
//! `allocation_counter` installs its counting global allocator).

mod pipeline_common;

use dataplane::pipeline::{Io, Pipeline};
use pipeline_common::nat::udp;
use pipeline_common::*;
/// A sink that recycles preallocated buffers, like a mempool.
struct PoolSink {
    free: Vec<Vec<u8>>,
    out: Vec<(u16, Vec<u8>)>,
}

impl Io<Vec<u8>> for PoolSink {
    fn send(&mut self, port: u16, pkt: Vec<u8>) {
        self.out.push((port, pkt));
    }
    fn send_copy(&mut self, port: u16, frame: &[u8]) -> bool {
        match self.free.pop() {
            Some(mut b) => {
                b.clear();
                b.extend_from_slice(frame);
                self.out.push((port, b));
                true
            }
            None => false,
        }
    }
    fn free(&mut self, pkt: Vec<u8>) {
        self.free.push(pkt);
    }
}

#[test]
fn steady_state_bursts_do_not_allocate() {
    let mut p: Pipeline<Vec<u8>> = pipeline(&[MASQ_WAN, FWD_443]);
    let mut sink = Sink::default();
    introduce(&mut p, &mut sink, WAN, GATEWAY, GW_MAC, PUBLIC, t(0));
    introduce_client(&mut p, &mut sink, t(0));

    let outbound: Vec<Vec<u8>> = (0..32)
        .map(|i| {
            ip_frame(
                LAN1_MAC,
                CLIENT_MAC,
                &udp(CLIENT, 10_000 + i, OUTSIDE, 53, &[1; 64]),
            )
        })
        .collect();
    let inbound: Vec<Vec<u8>> = (0..32)
        .map(|i| {
            ip_frame(
                WAN_MAC,
                GW_MAC,
                &udp(OUTSIDE, 53, PUBLIC, 10_000 + i, &[2; 64]),
            )
        })
        .collect();
    let mut pool = PoolSink {
        free: (0..256).map(|_| Vec::with_capacity(2048)).collect(),
        out: Vec::with_capacity(256),
    };
    let mut burst: Vec<Vec<u8>> = Vec::with_capacity(32);
    let mut round = |p: &mut Pipeline<Vec<u8>>, pool: &mut PoolSink, now: u64| {
        for (port, frames) in [(LAN1, &outbound), (WAN, &inbound)] {
            for f in frames.iter() {
                let mut b = pool.free.pop().expect("pool");
                b.clear();
                b.extend_from_slice(f);
                burst.push(b);
            }
            p.process_burst(port, burst.drain(..), t(now), pool);
            let sent = pool.out.len();
            assert_eq!(sent, 32, "every packet forwarded");
            for (_, b) in pool.out.drain(..) {
                pool.free.push(b);
            }
        }
        p.housekeeping(t(now), pool);
    };
    // Warm up: sessions, mappings and neighbour entries are created here.
    for i in 0..4 {
        round(&mut p, &mut pool, 1_000 + i);
    }
    let allocs = allocation_counter::measure(|| {
        for i in 0..1_000 {
            round(&mut p, &mut pool, 2_000 + i);
        }
    })
    .count_total;
    assert_eq!(allocs, 0, "allocations in 2000 steady-state bursts");
    assert_eq!(p.engine().sessions().len(), 32);
}
