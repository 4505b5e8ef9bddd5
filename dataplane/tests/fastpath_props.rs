//! The packet path never panics, under debug overflow checks: random but
//! mostly well-formed traffic, where the interesting bugs hide (random bytes
//! rarely pass the IPv4 checksum).
//!
//! * Engine: sequences of IPv4 packets with random options, fragment fields,
//!   protocols, ports, flags and L4 bytes (valid IP checksum, L4 checksum
//!   valid or not), replies to earlier outputs and ICMP errors quoting
//!   them, through one small engine (tiny session, fragment and hold
//!   tables, so reclaim and limits run) whose clock moves and whose
//!   housekeeping runs. Every drop is counted exactly once.
//! * ARP: random Ethernet frames (tagged or not, ARP or IPv4 EtherType,
//!   random ARP fields) through `handle_arp` into a small neighbour table.

mod nat_common;
use nat_common::*;

use dataplane::conntrack::Instant;
use dataplane::nat::{Filtering, FragConfig, HairpinMode, Limits, NatConfig, Verdict};
use dataplane::route::arp::{handle_arp, ArpOutcome, MAX_ARP_FRAME_LEN};
use dataplane::route::{MacAddr, NeighborConfig, NeighborTable};
use dataplane::wire::checksum;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const ADDRS: [Ipv4Addr; 12] = [
    CLIENT,
    CLIENT_B,
    SERVER,
    SERVER2,
    PUBLIC,
    ROUTER_LAN,
    ROUTER_LAN2,
    OUTSIDE,
    OUTSIDE_B,
    GATEWAY,
    Ipv4Addr::new(192, 168, 88, 255),
    Ipv4Addr::new(224, 0, 0, 1),
];

const RULES: &[&str] = &[
    FWD_443,
    HAIRPIN_RULE,
    "chain=dstnat protocol=udp dst-address=203.0.113.1 dst-port=5000-5010 action=dst-nat to-addresses=192.168.89.20 to-ports=6000-6010",
    "chain=dstnat protocol=tcp dst-port=8080 in-interface-list=LAN action=redirect to-ports=80",
    "chain=dstnat dst-address=203.0.113.9 action=netmap to-addresses=192.168.89.0/24",
    "chain=srcnat protocol=udp src-address=192.168.89.0/24 out-interface-list=WAN action=src-nat to-addresses=203.0.113.5-203.0.113.6 to-ports=2000-2003",
    MASQ_WAN,
];

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        4 => (0..ADDRS.len()).prop_map(|i| ADDRS[i]),
        1 => any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(443u16),
        Just(5003),
        Just(8080),
        Just(0),
        Just(65535),
        2000u16..2004,
        1024u16..1030,
        any::<u16>(),
    ]
}

fn proto() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => Just(TCP),
        3 => Just(UDP),
        3 => Just(ICMP),
        1 => any::<u8>(),
    ]
}

/// Flags/fragment-offset word: whole, DF, first fragment, later fragments.
fn frag_word() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => Just(0u16),
        1 => Just(0x4000),
        2 => Just(0x2000),
        2 => (1u16..4).prop_map(|o| 0x2000 | o),
        2 => 1u16..4,
        1 => any::<u16>(),
    ]
}

#[derive(Debug, Clone)]
struct Fresh {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    sport: u16,
    dport: u16,
    /// TCP flags, or the ICMP type.
    flags: u8,
    frag: u16,
    ident: u16,
    options: Vec<u8>,
    l4: Vec<u8>,
    /// Fix the UDP length and the L4 checksum.
    fix_l4: bool,
    in_if: u16,
}

#[derive(Debug, Clone)]
enum Op {
    Fresh(Fresh),
    /// Swap the endpoints of an earlier output and send it back.
    Reply {
        of: usize,
        flags: u8,
        in_if: u16,
    },
    /// An ICMP error about an earlier output, quoting `quote` bytes of it.
    Error {
        of: usize,
        from: Ipv4Addr,
        typ: u8,
        quote: usize,
        in_if: u16,
    },
    Advance(u64),
    Housekeeping(usize),
}

fn fresh() -> impl Strategy<Value = Fresh> {
    (
        (addr(), addr(), proto(), port(), port()),
        (
            prop_oneof![
                Just(SYN),
                Just(SYN | ACK),
                Just(ACK),
                Just(FIN | ACK),
                Just(RST),
                Just(8),
                Just(0),
                Just(3),
                Just(11),
                any::<u8>()
            ],
            frag_word(),
            0u16..4,
            (0usize..11).prop_flat_map(|w| proptest::collection::vec(any::<u8>(), w * 4)),
            proptest::collection::vec(any::<u8>(), 0..80),
            any::<bool>(),
            0u16..4,
        ),
    )
        .prop_map(
            |(
                (src, dst, proto, sport, dport),
                (flags, frag, ident, options, l4, fix_l4, in_if),
            )| {
                Fresh {
                    src,
                    dst,
                    proto,
                    sport,
                    dport,
                    flags,
                    frag,
                    ident,
                    options,
                    l4,
                    fix_l4,
                    in_if,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => fresh().prop_map(Op::Fresh),
        3 => (any::<usize>(), prop_oneof![Just(SYN | ACK), Just(ACK), Just(RST), Just(FIN)], 0u16..4)
            .prop_map(|(of, flags, in_if)| Op::Reply { of, flags, in_if }),
        2 => (any::<usize>(), addr(), prop_oneof![Just(3u8), Just(4), Just(11), Just(12), Just(0)], 0usize..120, 0u16..4)
            .prop_map(|(of, from, typ, quote, in_if)| Op::Error { of, from, typ, quote, in_if }),
        1 => prop_oneof![Just(1u64), Just(30), Just(130), Just(7500)].prop_map(Op::Advance),
        1 => (0usize..8).prop_map(Op::Housekeeping),
    ]
}

fn config() -> impl Strategy<Value = NatConfig> {
    (0usize..3, any::<bool>(), 1u32..6, 1u32..4).prop_map(|(f, auto, cap, limit)| NatConfig {
        filtering: [
            Filtering::EndpointIndependent,
            Filtering::AddressDependent,
            Filtering::AddressAndPortDependent,
        ][f],
        hairpin: if auto {
            HairpinMode::Auto
        } else {
            HairpinMode::Rules
        },
        table_capacity: cap,
        limits: Limits {
            sessions_per_subscriber: limit,
            ports_per_subscriber: limit,
        },
        frag: FragConfig {
            table_entries: 2,
            timeout_ms: 2_000,
            hold_slots: 3,
            hold_slot_size: 128,
            hold_per_source: 2,
        },
        ..small_config()
    })
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Recomputes the L4 checksum of an unfragmented TCP/UDP/ICMP packet whose
/// header is long enough to hold it.
fn fix_l4_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 15) * 4;
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let proto = p[9];
    let l4 = &mut p[ihl..];
    let at = match proto {
        TCP if l4.len() >= 20 => 16,
        UDP if l4.len() >= 8 => 6,
        ICMP if l4.len() >= 8 => 2,
        _ => return,
    };
    put16(l4, at, 0);
    let mut s = checksum::sum(l4);
    if proto != ICMP {
        s += checksum::pseudo_header_sum(src, dst, proto, l4.len() as u16);
    }
    put16(l4, at, !checksum::fold(s));
}

fn fix_ip_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 15) * 4;
    put16(p, 10, 0);
    let c = checksum::checksum(&p[..ihl]);
    put16(p, 10, c);
}

fn build(f: &Fresh) -> Vec<u8> {
    let mut l4 = f.l4.clone();
    match f.proto {
        TCP | UDP => {
            let min = if f.proto == TCP { 20 } else { 8 };
            if l4.len() < min && f.fix_l4 {
                l4.resize(min, 0);
            }
            if l4.len() >= 4 {
                put16(&mut l4, 0, f.sport);
                put16(&mut l4, 2, f.dport);
            }
            if f.proto == TCP && l4.len() >= 14 {
                l4[13] = f.flags;
                if f.fix_l4 {
                    l4[12] = (l4[12] & 0xf0)
                        .max(0x50)
                        .min((l4.len() / 4).min(15) as u8 * 16);
                }
            }
            if f.proto == UDP && f.fix_l4 {
                let n = l4.len() as u16;
                put16(&mut l4, 4, n);
            }
        }
        ICMP => {
            if l4.len() < 8 && f.fix_l4 {
                l4.resize(8, 0);
            }
            if let Some(t) = l4.first_mut() {
                *t = f.flags;
            }
            if l4.len() >= 6 {
                put16(&mut l4, 4, f.sport);
            }
        }
        _ => {}
    }
    if f.fix_l4 && f.frag & 0x2000 != 0 {
        // Every fragment but the last carries a multiple of 8 bytes.
        l4.resize(l4.len().div_ceil(8) * 8, 0);
    }
    let hl = 20 + f.options.len();
    let mut p = vec![0u8; hl];
    p[0] = 0x40 | (hl / 4) as u8;
    put16(&mut p, 2, (hl + l4.len()) as u16);
    put16(&mut p, 4, f.ident);
    put16(&mut p, 6, f.frag);
    p[8] = 64;
    p[9] = f.proto;
    p[12..16].copy_from_slice(&f.src.octets());
    p[16..20].copy_from_slice(&f.dst.octets());
    p[20..].copy_from_slice(&f.options);
    p.extend_from_slice(&l4);
    if f.fix_l4 && f.frag & 0x3fff == 0 {
        fix_l4_checksum(&mut p);
    }
    fix_ip_checksum(&mut p);
    p
}

/// An earlier output with source and destination (and ports) swapped.
fn reply_to(out: &[u8], flags: u8) -> Option<Vec<u8>> {
    let ihl = usize::from(out.first()? & 15) * 4;
    if out.len() < ihl + 8 {
        return None;
    }
    let mut p = out.to_vec();
    let (s, d) = (p[12..16].to_vec(), p[16..20].to_vec());
    p[12..16].copy_from_slice(&d);
    p[16..20].copy_from_slice(&s);
    match p[9] {
        TCP | UDP => {
            let (sp, dp) = (rd16(&p, ihl), rd16(&p, ihl + 2));
            put16(&mut p, ihl, dp);
            put16(&mut p, ihl + 2, sp);
            if p[9] == TCP && p.len() >= ihl + 14 {
                p[ihl + 13] = flags;
            }
        }
        ICMP => {
            // Echo request <-> reply.
            p[ihl] = if p[ihl] == 8 { 0 } else { 8 };
        }
        _ => {}
    }
    if rd16(&p, 6) & 0x3fff == 0 {
        fix_l4_checksum(&mut p);
    }
    fix_ip_checksum(&mut p);
    Some(p)
}

/// Runs one packet and checks the drop accounting. Returns the output when
/// the packet was forwarded or delivered.
fn step(
    e: &mut dataplane::nat::Engine,
    mut p: Vec<u8>,
    in_if: u16,
    now: Instant,
) -> Option<Vec<u8>> {
    let before: u64 = e.stats().drops.iter().sum();
    let v = e.process(&mut p, in_if, now);
    let after: u64 = e.stats().drops.iter().sum();
    let dropped = matches!(v, Verdict::Drop(_) | Verdict::Reply { .. });
    assert_eq!(after - before, u64::from(dropped), "{v:?} counted once");
    if let Verdict::Reply { len, .. } = v {
        assert!(!e.reply_packet(len).is_empty());
    }
    while e.next_released().is_some() {}
    matches!(v, Verdict::Forward { .. } | Verdict::Local).then_some(p)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_survives_random_traffic(cfg in config(), ops in proptest::collection::vec(op(), 1..60)) {
        let mut e = engine(RULES, cfg);
        let mut now = t(1);
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for op in ops {
            let out = match op {
                Op::Fresh(f) => {
                    let p = build(&f);
                    seen.push(p.clone());
                    step(&mut e, p, f.in_if, now)
                }
                Op::Reply { of, flags, in_if } => {
                    let Some(p) = seen.get(of % seen.len().max(1)).and_then(|o| reply_to(o, flags)) else {
                        continue;
                    };
                    step(&mut e, p, in_if, now)
                }
                Op::Error { of, from, typ, quote, in_if } => {
                    let Some(o) = seen.get(of % seen.len().max(1)) else { continue };
                    let to = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
                    step(&mut e, icmp_error(from, to, typ, 0, o, quote), in_if, now)
                }
                Op::Advance(s) => {
                    now = now.add_secs(s);
                    None
                }
                Op::Housekeeping(budget) => {
                    e.housekeeping(now, budget);
                    None
                }
            };
            if let Some(o) = out {
                seen.push(o);
            }
            if seen.len() > 32 {
                seen.remove(0);
            }
        }
        e.housekeeping(now.add_secs(10_000), usize::MAX);
        prop_assert_eq!(e.sessions().len(), 0, "every session expires eventually");
    }

    #[test]
    fn arp_survives_random_frames(
        frames in proptest::collection::vec(
            (
                any::<bool>(),
                prop_oneof![Just(0x0806u16), Just(0x0800), any::<u16>()],
                (prop_oneof![Just(1u16), any::<u16>()], prop_oneof![Just(0x0800u16), any::<u16>()]),
                (prop_oneof![Just(6u8), any::<u8>()], prop_oneof![Just(4u8), any::<u8>()]),
                prop_oneof![Just(1u16), Just(2), any::<u16>()],
                (any::<[u8; 6]>(), addr(), any::<[u8; 6]>(), addr()),
                0usize..70,
                0u16..4,
                0u64..100_000,
            ),
            1..40,
        ),
    ) {
        let ifs = interfaces();
        let mut neigh: NeighborTable<u32> = NeighborTable::new(NeighborConfig {
            capacity: 4,
            max_incomplete: 2,
            ..NeighborConfig::default()
        });
        for (tagged, ethertype, (htype, ptype), (hlen, plen), op, (sha, spa, tha, tpa), cut, in_if, ms) in frames {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
            if tagged {
                f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
            }
            f.extend_from_slice(&ethertype.to_be_bytes());
            f.extend_from_slice(&htype.to_be_bytes());
            f.extend_from_slice(&ptype.to_be_bytes());
            f.extend_from_slice(&[hlen, plen]);
            f.extend_from_slice(&op.to_be_bytes());
            f.extend_from_slice(&sha);
            f.extend_from_slice(&spa.octets());
            f.extend_from_slice(&tha);
            f.extend_from_slice(&tpa.octets());
            f.resize(f.len().max(60), 0);
            f.truncate(cut.max(1));
            let mut out = [0u8; MAX_ARP_FRAME_LEN];
            let o = handle_arp(&f, in_if, &ifs, &mut neigh, Instant(ms), &mut out);
            if let ArpOutcome::Reply { len, .. } = o {
                prop_assert!(len <= MAX_ARP_FRAME_LEN);
                prop_assert_eq!(MacAddr::from_bytes(&out[..6]), MacAddr(sha));
            }
            prop_assert!(neigh.len() <= 4);
        }
    }
}
