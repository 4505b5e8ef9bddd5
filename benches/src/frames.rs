//! The whole frame-level pipeline (`dataplane::pipeline`) on the benchmark
//! router: Ethernet in, ARP-resolved L2 rewrite out, with the NAT engine,
//! TTL decrement and routing in between.
//!
//! Buffers are 60-byte boxed frames recycled through the [`Recycler`] sink,
//! so the steady state allocates nothing, as with mbufs in the DPDK worker.

use crate::pkt;
use crate::scenario::{self, Dir, Flows, BURST, T0};
use crate::Rng;
use dataplane::conntrack::WorkerSlice;
use dataplane::pipeline::{Io, Pipeline, PipelineConfig};
use std::net::Ipv4Addr;

pub type Frame = Box<[u8]>;

/// The pipeline's output: sent and freed frames go back to `spare`.
pub struct Recycler {
    pub spare: Vec<Frame>,
    /// Frames sent per port (0 = lan, 1 = wan).
    pub sent: [u64; 2],
    pub copies: u64,
    pub freed: u64,
    /// The last frame sent (bytes), for verification.
    pub last: [u8; pkt::FRAME_LEN],
}

impl Recycler {
    pub fn new(frames: usize) -> Recycler {
        Recycler {
            spare: (0..frames)
                .map(|_| vec![0u8; pkt::FRAME_LEN].into_boxed_slice())
                .collect(),
            sent: [0; 2],
            copies: 0,
            freed: 0,
            last: [0; pkt::FRAME_LEN],
        }
    }
}

impl Io<Frame> for Recycler {
    fn send(&mut self, port: u16, pkt: Frame) {
        if let Some(s) = self.sent.get_mut(usize::from(port)) {
            *s += 1;
        }
        let n = pkt.len().min(pkt::FRAME_LEN);
        self.last[..n].copy_from_slice(&pkt[..n]);
        self.spare.push(pkt);
    }
    fn send_copy(&mut self, _port: u16, _frame: &[u8]) -> bool {
        self.copies += 1;
        true
    }
    fn free(&mut self, pkt: Frame) {
        self.freed += 1;
        self.spare.push(pkt);
    }
}

fn arp_request(sender_mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Frame {
    let mut f = vec![0u8; pkt::FRAME_LEN];
    pkt::write_eth(&mut f, [0xff; 6], sender_mac);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&sender_mac);
    f[28..32].copy_from_slice(&sender.octets());
    f[38..42].copy_from_slice(&target.octets());
    f.into_boxed_slice()
}

/// A pipeline for `sessions` with both next hops resolved (they asked for
/// the router's addresses, so it learned them) and the sessions opened.
pub fn pipeline(sessions: usize, proto: u8) -> Result<(Pipeline<Frame>, Flows), String> {
    let snap = scenario::snapshot(sessions);
    let mut p = Pipeline::new(
        snap,
        PipelineConfig::default(),
        WorkerSlice::SINGLE,
        0x5eed_0002,
    )
    .map_err(|e| e.to_string())?;
    let mut io = Recycler::new(0);
    p.process(
        scenario::WAN,
        arp_request(
            scenario::WAN_PEER_MAC,
            scenario::GATEWAY,
            scenario::ROUTER_WAN,
        ),
        T0,
        &mut io,
    );
    p.process(
        scenario::LAN,
        arp_request(
            scenario::LAN_PEER_MAC,
            scenario::LAN_GATEWAY,
            scenario::ROUTER_LAN,
        ),
        T0,
        &mut io,
    );
    for ip in [scenario::GATEWAY, scenario::LAN_GATEWAY] {
        if p.neighbors().get(ip, T0).is_none() {
            return Err(format!("next hop {ip} not learned"));
        }
    }
    let flows = Flows::populate(p.engine_mut(), sessions, proto).map_err(|e| e.to_string())?;
    Ok((p, flows))
}

/// Writes flow `i`'s frame for `dir` as the peer on that side sends it.
pub fn write_frame(f: &mut [u8], flows: &Flows, i: usize, dir: Dir) {
    let (dst, src) = match dir {
        Dir::In2Out => (scenario::LAN_MAC, scenario::LAN_PEER_MAC),
        Dir::Out2In => (scenario::WAN_MAC, scenario::WAN_PEER_MAC),
    };
    pkt::write_eth(f, dst, src);
    flows.write(&mut f[pkt::ETH_LEN..], i, dir);
}

/// One burst: frames of random flows taken from `io.spare` into `batch`.
pub fn fill(batch: &mut Vec<Frame>, io: &mut Recycler, flows: &Flows, dir: Dir, rng: &mut Rng) {
    for _ in 0..BURST {
        let Some(mut f) = io.spare.pop() else { break };
        write_frame(&mut f, flows, rng.below(flows.len()), dir);
        batch.push(f);
    }
}

/// Checks that one burst each way leaves on the right port, L2-rewritten
/// towards the right neighbour, translated, with valid checksums and TTL 63.
pub fn verify(p: &mut Pipeline<Frame>, flows: &Flows) -> Result<(), String> {
    let mut io = Recycler::new(BURST);
    let mut rng = Rng::new(4);
    let mut batch = Vec::with_capacity(BURST);
    for (dir, in_port, out_port, next_mac, our_mac) in [
        (
            Dir::In2Out,
            scenario::LAN,
            scenario::WAN,
            scenario::WAN_PEER_MAC,
            scenario::WAN_MAC,
        ),
        (
            Dir::Out2In,
            scenario::WAN,
            scenario::LAN,
            scenario::LAN_PEER_MAC,
            scenario::LAN_MAC,
        ),
    ] {
        let i = rng.below(flows.len());
        let mut f = io.spare.pop().ok_or("no frame")?;
        write_frame(&mut f, flows, i, dir);
        batch.push(f);
        let before = io.sent[usize::from(out_port)];
        p.process_burst(in_port, batch.drain(..), T0.add_secs(1), &mut io);
        if io.sent[usize::from(out_port)] != before + 1 {
            return Err(format!(
                "{}: not sent on port {out_port}: {:?}",
                dir.label(),
                p.stats()
            ));
        }
        let out = io.last;
        if out[0..6] != next_mac || out[6..12] != our_mac {
            return Err(format!("{}: L2 not rewritten", dir.label()));
        }
        let ip = &out[pkt::ETH_LEN..];
        if !pkt::checksums_ok(ip) || ip[8] != 63 {
            return Err(format!("{}: bad checksum or TTL", dir.label()));
        }
        let (src, sport, _, _) = scenario::flow(i);
        let ok = match dir {
            Dir::In2Out => pkt::src_endpoint(ip) == flows.external(i),
            Dir::Out2In => pkt::dst_endpoint(ip) == (src, sport),
        };
        if !ok {
            return Err(format!("{}: not translated", dir.label()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::route::MacAddr;
    use dataplane::wire::ip_proto;

    #[test]
    fn pipeline_forwards_both_ways_and_recycles_every_frame() {
        for proto in [ip_proto::UDP, ip_proto::TCP] {
            let (mut p, flows) = pipeline(1000, proto).unwrap();
            verify(&mut p, &flows).unwrap();
            let mut io = Recycler::new(BURST);
            let mut batch = Vec::with_capacity(BURST);
            let mut rng = Rng::new(1);
            for _ in 0..10 {
                fill(&mut batch, &mut io, &flows, Dir::In2Out, &mut rng);
                p.process_burst(scenario::LAN, batch.drain(..), T0.add_secs(1), &mut io);
            }
            assert_eq!(io.sent[usize::from(scenario::WAN)], 10 * BURST as u64);
            assert_eq!(io.spare.len(), BURST, "every frame came back");
            assert_eq!(io.freed, 0);
        }
    }

    #[test]
    fn macs_are_the_scenario_interfaces() {
        let snap = scenario::snapshot(10);
        assert_eq!(
            snap.interfaces.get(scenario::LAN).unwrap().mac,
            MacAddr(scenario::LAN_MAC)
        );
        assert_eq!(
            snap.interfaces.get(scenario::WAN).unwrap().mac,
            MacAddr(scenario::WAN_MAC)
        );
    }
}
