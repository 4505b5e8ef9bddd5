//! Shared fixtures for the NAT engine tests: a three-interface router
//! (LAN 192.168.88.1/24, WAN 203.0.113.1/24, LAN2 192.168.89.1/24, default
//! route via 203.0.113.254), packet builders with correct checksums, and a
//! parser that also verifies every checksum from scratch.
#![allow(dead_code)]

use dataplane::conntrack::{Instant, WorkerSlice};
use dataplane::nat::rules::{compile, parse_rule, CompileContext, RuleSpec};
use dataplane::nat::{Engine, NatConfig, Snapshot, Verdict};
use dataplane::route::{Fib, Interfaces, Ipv4Cidr, MacAddr, StaticRoute};
use dataplane::wire::checksum;
use std::net::Ipv4Addr;
use std::sync::Arc;

pub const LAN: u16 = 0;
pub const WAN: u16 = 1;
pub const LAN2: u16 = 2;

pub const ROUTER_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 1);
pub const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const ROUTER_LAN2: Ipv4Addr = Ipv4Addr::new(192, 168, 89, 1);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 10);
pub const CLIENT_B: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 11);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 20);
pub const SERVER2: Ipv4Addr = Ipv4Addr::new(192, 168, 89, 20);
pub const OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const OUTSIDE_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

pub const MASQ_WAN: &str = "chain=srcnat out-interface-list=WAN action=masquerade";
pub const FWD_443: &str =
    "chain=dstnat protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20";
pub const FWD_443_LAN2: &str =
    "chain=dstnat protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.89.20";
pub const HAIRPIN_RULE: &str =
    "chain=srcnat src-address=192.168.88.0/24 dst-address=192.168.88.20 protocol=tcp dst-port=443 action=masquerade";

pub fn interfaces() -> Interfaces {
    let mut b = Interfaces::builder();
    let c = |s: &str| s.parse::<Ipv4Cidr>().unwrap();
    b.add(
        "lan",
        MacAddr([2, 0, 0, 0, 0, 1]),
        &[c("192.168.88.1/24")],
        1500,
        &["LAN"],
    )
    .unwrap();
    b.add(
        "wan",
        MacAddr([2, 0, 0, 0, 0, 2]),
        &[c("203.0.113.1/24")],
        1500,
        &["WAN"],
    )
    .unwrap();
    b.add(
        "lan2",
        MacAddr([2, 0, 0, 0, 0, 3]),
        &[c("192.168.89.1/24")],
        1500,
        &["LAN"],
    )
    .unwrap();
    b.build().unwrap()
}

pub fn small_config() -> NatConfig {
    NatConfig {
        table_capacity: 1024,
        ..NatConfig::default()
    }
}

pub fn snapshot(rules: &[&str], nat: NatConfig) -> Arc<Snapshot> {
    let ifs = interfaces();
    let mut ctx = CompileContext::new();
    for i in ifs.iter() {
        ctx.add_interface(&i.name, i.index, i.lists);
    }
    ctx.add_interface_list("LAN", ifs.list_mask("LAN").unwrap());
    ctx.add_interface_list("WAN", ifs.list_mask("WAN").unwrap());
    let specs: Vec<RuleSpec> = rules.iter().map(|l| parse_rule(l).unwrap()).collect();
    let compiled = compile(&specs, &ctx).unwrap();
    let statics = [StaticRoute {
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some(GATEWAY),
        interface: None,
    }];
    let fib = Fib::build(&ifs, &statics).unwrap();
    Arc::new(Snapshot::new(compiled, ifs, fib, nat).unwrap())
}

pub fn engine(rules: &[&str], nat: NatConfig) -> Engine {
    Engine::new(snapshot(rules, nat), WorkerSlice::SINGLE, 0x5eed)
}

pub fn t(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// An IPv4 header (no options) for `l4` with a correct checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ident: u16, frag: u16, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    put16(&mut p, 2, (20 + l4.len()) as u16);
    put16(&mut p, 4, ident);
    put16(&mut p, 6, frag);
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&p);
    put16(&mut p, 10, c);
    p.extend_from_slice(l4);
    p
}

fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, seg: &[u8]) -> u16 {
    let s = checksum::pseudo_header_sum(src, dst, proto, seg.len() as u16) + checksum::sum(seg);
    !checksum::fold(s)
}

#[allow(clippy::too_many_arguments)]
pub fn tcp_segment(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut s = vec![0u8; 20];
    put16(&mut s, 0, sport);
    put16(&mut s, 2, dport);
    s[4..8].copy_from_slice(&seq.to_be_bytes());
    s[12] = 5 << 4;
    s[13] = flags;
    put16(&mut s, 14, 65535);
    s.extend_from_slice(payload);
    let c = l4_checksum(src, dst, TCP, &s);
    put16(&mut s, 16, c);
    s
}

pub fn tcp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    ipv4(
        src,
        dst,
        TCP,
        1,
        0,
        &tcp_segment(src, sport, dst, dport, flags, 1000, payload),
    )
}

pub fn udp_datagram(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
    with_checksum: bool,
) -> Vec<u8> {
    let mut s = vec![0u8; 8];
    put16(&mut s, 0, sport);
    put16(&mut s, 2, dport);
    put16(&mut s, 4, (8 + payload.len()) as u16);
    s.extend_from_slice(payload);
    if with_checksum {
        let mut c = l4_checksum(src, dst, UDP, &s);
        if c == 0 {
            c = 0xffff;
        }
        put16(&mut s, 6, c);
    }
    s
}

pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    ipv4(
        src,
        dst,
        UDP,
        2,
        0,
        &udp_datagram(src, sport, dst, dport, payload, true),
    )
}

pub fn icmp_message(typ: u8, code: u8, rest: u32, data: &[u8]) -> Vec<u8> {
    let mut m = vec![typ, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(data);
    let c = checksum::checksum(&m);
    put16(&mut m, 2, c);
    m
}

pub fn echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, request: bool) -> Vec<u8> {
    let typ = if request { 8 } else { 0 };
    let rest = (u32::from(id) << 16) | u32::from(seq);
    ipv4(
        src,
        dst,
        ICMP,
        3,
        0,
        &icmp_message(typ, 0, rest, b"ping-payload"),
    )
}

/// An ICMP error from `src` to `dst` quoting the first `quote` bytes of `offending`.
pub fn icmp_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    typ: u8,
    code: u8,
    offending: &[u8],
    quote: usize,
) -> Vec<u8> {
    let q = &offending[..quote.min(offending.len())];
    ipv4(src, dst, ICMP, 4, 0, &icmp_message(typ, code, 0, q))
}

/// The fields tests look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pkt {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    /// TCP/UDP source port, or ICMP echo identifier.
    pub sport: u16,
    /// TCP/UDP destination port, or ICMP echo identifier.
    pub dport: u16,
    pub flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
}

/// Parses `p` and asserts every checksum verifies by full recomputation
/// (IPv4 header; TCP/UDP with pseudo-header, UDP 0 allowed; ICMP; and for
/// ICMP errors the quoted IP header, plus the quoted L4 if fully quoted).
pub fn parse(p: &[u8]) -> Pkt {
    assert!(p.len() >= 20, "short packet");
    let ihl = usize::from(p[0] & 15) * 4;
    let total = usize::from(rd16(p, 2));
    let p = &p[..total];
    assert_eq!(checksum::checksum(&p[..ihl]), 0, "IPv4 header checksum");
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let proto = p[9];
    let l4 = &p[ihl..];
    let frag = rd16(p, 6) & 0x3fff;
    let mut out = Pkt {
        src,
        dst,
        proto,
        sport: 0,
        dport: 0,
        flags: 0,
        icmp_type: 0,
        icmp_code: 0,
    };
    if frag & 0x1fff != 0 {
        return out;
    }
    let whole = frag & 0x2000 == 0;
    match proto {
        TCP => {
            if whole {
                assert_eq!(l4_checksum(src, dst, TCP, l4), 0, "TCP checksum");
            }
            out.sport = rd16(l4, 0);
            out.dport = rd16(l4, 2);
            out.flags = l4[13];
        }
        UDP => {
            if whole && rd16(l4, 6) != 0 {
                assert_eq!(l4_checksum(src, dst, UDP, l4), 0, "UDP checksum");
            }
            out.sport = rd16(l4, 0);
            out.dport = rd16(l4, 2);
        }
        ICMP => {
            if whole {
                assert_eq!(checksum::checksum(l4), 0, "ICMP checksum");
            }
            out.icmp_type = l4[0];
            out.icmp_code = l4[1];
            if l4[0] == 0 || l4[0] == 8 {
                out.sport = rd16(l4, 4);
                out.dport = out.sport;
            }
        }
        _ => {}
    }
    out
}

/// The packet quoted in an ICMP error, parsed; checks its IP checksum and,
/// when fully quoted, its L4 checksum.
pub fn quoted(p: &[u8]) -> Pkt {
    let ihl = usize::from(p[0] & 15) * 4;
    let q = &p[ihl + 8..usize::from(rd16(p, 2))];
    let qihl = usize::from(q[0] & 15) * 4;
    assert_eq!(
        checksum::checksum(&q[..qihl]),
        0,
        "quoted IPv4 header checksum"
    );
    let qtotal = usize::from(rd16(q, 2));
    if q.len() >= qtotal {
        return parse(q);
    }
    let src = Ipv4Addr::new(q[12], q[13], q[14], q[15]);
    let dst = Ipv4Addr::new(q[16], q[17], q[18], q[19]);
    let l4 = &q[qihl..];
    let (sport, dport) = if q[9] == ICMP {
        (rd16(l4, 4), rd16(l4, 4))
    } else {
        (rd16(l4, 0), rd16(l4, 2))
    };
    Pkt {
        src,
        dst,
        proto: q[9],
        sport,
        dport,
        flags: 0,
        icmp_type: 0,
        icmp_code: 0,
    }
}

pub fn fwd(out_if: u16, next_hop: Ipv4Addr) -> Verdict {
    Verdict::Forward { out_if, next_hop }
}

/// Runs `p` through the engine, returning the verdict and the packet.
pub fn run(e: &mut Engine, mut p: Vec<u8>, in_if: u16, now: Instant) -> (Verdict, Vec<u8>) {
    let v = e.process(&mut p, in_if, now);
    (v, p)
}

/// Payload of a TCP/UDP packet (after the L4 header).
pub fn l4_payload(p: &[u8]) -> &[u8] {
    let ihl = usize::from(p[0] & 15) * 4;
    let total = usize::from(rd16(p, 2));
    let l4 = &p[ihl..total];
    match p[9] {
        TCP => &l4[usize::from(l4[12] >> 4) * 4..],
        UDP => &l4[8..],
        _ => &l4[8..],
    }
}
