//! The benchmark router and its flows.
//!
//! Router: `lan` 192.168.0.1/24 (list LAN) with the subscribers' 10.0.0.0/8
//! routed via 192.168.0.2 (an aggregation router, as in front of a CGNAT),
//! `wan` 203.0.113.1/24 (list WAN), default route via 203.0.113.254, one rule
//! `chain=srcnat out-interface-list=WAN action=src-nat to-addresses=<pool>`
//! with the pool in 100.64.0.0/10 sized so that the sessions fill at most
//! half of its ports (paired pooling keeps each internal host on one external
//! address, and hosts hash unevenly over the pool).
//!
//! Flows: flow `i` is internal host `10.0.0.2 + i / 64`, source port
//! `20000 + i % 64`, to `198.18.0.0/15` (RFC 2544's benchmarking range, a
//! hashed address per flow) port 443. Every flow has its own internal
//! endpoint, so N flows are N distinct sessions and N endpoint-independent
//! mappings: the honest worst case for the table and the port allocator.

use crate::pkt;
use crate::Rng;
use dataplane::conntrack::{Instant, WorkerSlice};
use dataplane::nat::rules::{compile, parse_rule, CompileContext};
use dataplane::nat::{Engine, NatConfig, Snapshot, Verdict};
use dataplane::route::{Fib, Interfaces, Ipv4Cidr, MacAddr, StaticRoute};
use dataplane::wire::ip_proto;
use std::net::Ipv4Addr;
use std::sync::Arc;

pub const LAN: u16 = 0;
pub const WAN: u16 = 1;
pub const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
/// Next hop towards the subscribers (10.0.0.0/8) on the LAN side.
pub const LAN_GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);
pub const ROUTER_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
pub const ROUTER_WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// MACs of the two next hops (the peers that send us traffic).
pub const LAN_PEER_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
pub const WAN_PEER_MAC: [u8; 6] = [2, 0, 0, 0, 1, 2];
/// Internal endpoints per host.
pub const PORTS_PER_HOST: usize = 64;
/// Usable ports per external address in the default range 1024-65535.
const PORTS_PER_ADDR: usize = 65535 - 1024 + 1;
/// First pool address.
pub const POOL_BASE: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// When sessions are created; the fast path runs a second later.
pub const T0: Instant = Instant::from_secs(1000);

/// External addresses for `sessions` (a power of two, at least 1).
pub fn pool_len(sessions: usize) -> usize {
    (sessions * 2)
        .div_ceil(PORTS_PER_ADDR)
        .max(1)
        .next_power_of_two()
}

/// Table capacity for `sessions`: a little headroom, within the engine's maximum.
pub fn capacity(sessions: usize) -> u32 {
    let want = sessions + sessions / 32 + 64;
    want.min(NatConfig::MAX_TABLE as usize) as u32
}

/// The snapshot for a workload of `sessions` (see the module docs).
pub fn snapshot(sessions: usize) -> Arc<Snapshot> {
    let c = |s: &str| s.parse::<Ipv4Cidr>().expect("static cidr");
    let mut b = Interfaces::builder();
    b.add(
        "lan",
        MacAddr(LAN_MAC),
        &[c("192.168.0.1/24")],
        1500,
        &["LAN"],
    )
    .expect("lan");
    b.add(
        "wan",
        MacAddr(WAN_MAC),
        &[c("203.0.113.1/24")],
        1500,
        &["WAN"],
    )
    .expect("wan");
    let ifs = b.build().expect("interfaces");
    let mut ctx = CompileContext::new();
    for i in ifs.iter() {
        ctx.add_interface(&i.name, i.index, i.lists);
    }
    ctx.add_interface_list("LAN", ifs.list_mask("LAN").expect("LAN"));
    ctx.add_interface_list("WAN", ifs.list_mask("WAN").expect("WAN"));
    let first = u32::from(POOL_BASE);
    let last = Ipv4Addr::from(first + pool_len(sessions) as u32 - 1);
    let rule = format!(
        "chain=srcnat out-interface-list=WAN action=src-nat to-addresses={POOL_BASE}-{last}"
    );
    let specs = [parse_rule(&rule).expect("rule parses")];
    let rules = compile(&specs, &ctx).expect("rule compiles");
    let statics = [
        StaticRoute {
            dst: c("0.0.0.0/0"),
            gateway: Some(GATEWAY),
            interface: None,
        },
        StaticRoute {
            dst: c("10.0.0.0/8"),
            gateway: Some(LAN_GATEWAY),
            interface: None,
        },
    ];
    let fib = Fib::build(&ifs, &statics).expect("fib");
    let nat = NatConfig {
        table_capacity: capacity(sessions),
        ..NatConfig::default()
    };
    Arc::new(Snapshot::new(rules, ifs, fib, nat).expect("snapshot"))
}

/// A fresh engine for `sessions` (worker 0 of `workers`).
pub fn engine(sessions: usize, worker: WorkerSlice) -> Engine {
    Engine::new(snapshot(sessions), worker, 0x5eed_0001)
}

/// Internal endpoint and remote endpoint of flow `i`.
#[inline]
pub fn flow(i: usize) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let host = Ipv4Addr::from(0x0a00_0002 + (i / PORTS_PER_HOST) as u32);
    let sport = 20000 + (i % PORTS_PER_HOST) as u16;
    let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 47; // 17 bits
    let dst = Ipv4Addr::from(0xc612_0000 + h as u32);
    (host, sport, dst, 443)
}

/// Direction of a packet through the NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// LAN -> WAN: source translated.
    In2Out,
    /// WAN -> LAN: destination translated back.
    Out2In,
}

impl Dir {
    pub fn label(self) -> &'static str {
        match self {
            Dir::In2Out => "in2out",
            Dir::Out2In => "out2in",
        }
    }
}

/// N established sessions and the external endpoint of each.
pub struct Flows {
    pub proto: u8,
    /// `ext[i]` = external address (high 32 bits) and port of flow `i`.
    ext: Vec<u64>,
}

/// Why populating failed (the workload or the engine is broken).
#[derive(Debug)]
pub struct PopulateError {
    pub flow: usize,
    pub verdict: Verdict,
}

impl std::fmt::Display for PopulateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "flow {} was not forwarded: {:?}",
            self.flow, self.verdict
        )
    }
}

impl std::error::Error for PopulateError {}

fn expect_forward(v: Verdict, flow: usize, out_if: u16) -> Result<(), PopulateError> {
    match v {
        Verdict::Forward { out_if: o, .. } if o == out_if => Ok(()),
        verdict => Err(PopulateError { flow, verdict }),
    }
}

impl Flows {
    /// Opens `n` sessions through the slow path: UDP with one outbound
    /// packet each; TCP with a full handshake (SYN out, SYN-ACK in, ACK out)
    /// so every session is established.
    pub fn populate(engine: &mut Engine, n: usize, proto: u8) -> Result<Flows, PopulateError> {
        let mut ext = Vec::with_capacity(n);
        let mut b = [0u8; pkt::IP_LEN];
        for i in 0..n {
            let (src, sport, dst, dport) = flow(i);
            if proto == ip_proto::TCP {
                pkt::write_tcp(&mut b, src, sport, dst, dport, pkt::TCP_SYN, 1, 0);
            } else {
                pkt::write_udp(&mut b, src, sport, dst, dport, b"open");
            }
            expect_forward(engine.process(&mut b, LAN, T0), i, WAN)?;
            let (ea, ep) = pkt::src_endpoint(&b);
            ext.push((u64::from(u32::from(ea)) << 16) | u64::from(ep));
            if proto == ip_proto::TCP {
                pkt::write_tcp(
                    &mut b,
                    dst,
                    dport,
                    ea,
                    ep,
                    pkt::TCP_SYN | pkt::TCP_ACK,
                    9,
                    2,
                );
                expect_forward(engine.process(&mut b, WAN, T0), i, LAN)?;
                pkt::write_tcp(&mut b, src, sport, dst, dport, pkt::TCP_ACK, 2, 10);
                expect_forward(engine.process(&mut b, LAN, T0), i, WAN)?;
            }
        }
        Ok(Flows { proto, ext })
    }

    pub fn len(&self) -> usize {
        self.ext.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ext.is_empty()
    }

    /// External endpoint of flow `i`.
    pub fn external(&self, i: usize) -> (Ipv4Addr, u16) {
        let e = self.ext[i];
        (Ipv4Addr::from((e >> 16) as u32), e as u16)
    }

    /// Writes flow `i`'s next packet in direction `dir` into `b`.
    pub fn write(&self, b: &mut [u8], i: usize, dir: Dir) {
        let (src, sport, dst, dport) = flow(i);
        let tcp = self.proto == ip_proto::TCP;
        match dir {
            Dir::In2Out if tcp => pkt::write_tcp(b, src, sport, dst, dport, pkt::TCP_ACK, 100, 200),
            Dir::In2Out => pkt::write_udp(b, src, sport, dst, dport, b"data"),
            Dir::Out2In => {
                let (ea, ep) = self.external(i);
                if tcp {
                    pkt::write_tcp(b, dst, dport, ea, ep, pkt::TCP_ACK, 200, 100);
                } else {
                    pkt::write_udp(b, dst, dport, ea, ep, b"data");
                }
            }
        }
    }

    /// The interface a packet of direction `dir` arrives on.
    pub fn in_if(dir: Dir) -> u16 {
        match dir {
            Dir::In2Out => LAN,
            Dir::Out2In => WAN,
        }
    }
}

/// A burst of [`BURST`] minimum-size packets.
pub const BURST: usize = 32;

/// Packet buffers for one burst (64-byte slots, cache-line aligned like mbuf data).
#[repr(C, align(64))]
#[derive(Clone)]
pub struct BurstBufs(pub [[u8; 64]; BURST]);

impl Default for BurstBufs {
    fn default() -> Self {
        BurstBufs([[0u8; 64]; BURST])
    }
}

impl BurstBufs {
    /// Fills every slot with a packet of a random flow.
    pub fn fill(&mut self, flows: &Flows, dir: Dir, rng: &mut Rng) {
        let n = flows.len();
        for b in self.0.iter_mut() {
            flows.write(b, rng.below(n), dir);
        }
    }

    /// Runs the burst through the engine; returns how many were forwarded.
    #[inline]
    pub fn process(
        &mut self,
        engine: &mut Engine,
        in_if: u16,
        now: Instant,
        out: &mut [Verdict; BURST],
    ) -> usize {
        let mut views: [&mut [u8]; BURST] = Default::default();
        for (v, b) in views.iter_mut().zip(self.0.iter_mut()) {
            *v = &mut b[..pkt::IP_LEN];
        }
        engine.process_burst(&mut views, in_if, now, out);
        out.iter()
            .filter(|v| matches!(v, Verdict::Forward { .. }))
            .count()
    }
}

/// Sanity check before timing: one burst each way is fully forwarded with
/// checksums that verify from scratch and the expected addresses. A bench
/// that measured drops would be meaningless.
pub fn verify_fast_path(engine: &mut Engine, flows: &Flows, seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut out = [Verdict::Local; BURST];
    for dir in [Dir::In2Out, Dir::Out2In] {
        let mut b = BurstBufs::default();
        let mut idx = [0usize; BURST];
        for (slot, i) in b.0.iter_mut().zip(idx.iter_mut()) {
            *i = rng.below(flows.len());
            flows.write(slot, *i, dir);
        }
        let fwd = b.process(engine, Flows::in_if(dir), T0.add_secs(1), &mut out);
        if fwd != BURST {
            return Err(format!("{}: {fwd}/{BURST} forwarded: {out:?}", dir.label()));
        }
        for (slot, &i) in b.0.iter().zip(idx.iter()) {
            let p = &slot[..pkt::IP_LEN];
            if !pkt::checksums_ok(p) {
                return Err(format!("{}: bad checksum for flow {i}", dir.label()));
            }
            let (src, sport, _, _) = flow(i);
            let ok = match dir {
                Dir::In2Out => pkt::src_endpoint(p) == flows.external(i),
                Dir::Out2In => pkt::dst_endpoint(p) == (src, sport),
            };
            if !ok {
                return Err(format!("{}: flow {i} translated wrongly", dir.label()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_sizes() {
        assert_eq!(pool_len(1000), 1);
        assert_eq!(pool_len(1_000_000), 32);
        assert_eq!(pool_len(16_000_000), 512);
    }

    #[test]
    fn flows_are_distinct_endpoints() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            let (a, p, _, _) = flow(i);
            assert!(seen.insert((a, p)));
        }
    }

    #[test]
    fn udp_and_tcp_fast_path_translate_both_ways() {
        for proto in [ip_proto::UDP, ip_proto::TCP] {
            let mut e = engine(2000, WorkerSlice::SINGLE);
            let f = Flows::populate(&mut e, 2000, proto).unwrap();
            assert_eq!(e.sessions().len(), 2000);
            verify_fast_path(&mut e, &f, 3).unwrap();
            if proto == ip_proto::TCP {
                let s = e.sessions().iter().next().unwrap().1;
                assert_eq!(
                    s.tcp_state(),
                    Some(dataplane::conntrack::TcpState::Established)
                );
            }
        }
    }
}
