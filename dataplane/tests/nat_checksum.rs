//! Checksums (N15, N16): every rewrite the engine performs leaves checksums
//! equal to a full recomputation, and parse -> rewrite -> parse round trips.

mod nat_common;
use nat_common::*;

use dataplane::nat::{HairpinMode, NatConfig, Verdict};
use dataplane::wire::checksum::Delta;
use proptest::prelude::*;
use std::net::Ipv4Addr;

#[test]
fn n15_incremental_update_minus_zero_case() {
    // RFC 1624 section 4: m 0x5555 -> 0x3285, other words sum to 0xCD7A, HC 0xDD2F.
    let d = Delta::ZERO.replace16(0x5555, 0x3285);
    assert_eq!(d.apply(0xDD2F), 0x0000);
    // Full recompute of the same data: ~(0xCD7A + 0x3285) = ~0xFFFF = 0.
    assert_eq!(!((0xCD7Au32 + 0x3285) as u16), 0x0000);
}

#[test]
fn n16_udp_zero_checksum_stays_zero() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let p = ipv4(
        CLIENT,
        OUTSIDE,
        UDP,
        1,
        0,
        &udp_datagram(CLIENT, 6000, OUTSIDE, 53, b"no checksum", false),
    );
    let (v, out) = run(&mut e, p, LAN, t(1));
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_eq!(&out[26..28], &[0, 0], "checksum 0 means none and stays 0");
    assert_eq!(parse(&out).src, PUBLIC);
}

#[test]
fn n16_computed_zero_udp_checksum_sent_as_ffff() {
    // Search a payload whose translated checksum would compute to 0.
    let mut e = engine(&[MASQ_WAN], small_config());
    let mut found = false;
    for x in 0..=u16::MAX {
        let payload = x.to_be_bytes();
        let pre = udp(CLIENT, 6000, OUTSIDE, 53, &payload);
        let mut probe = pre.clone();
        // The translation is fixed (same mapping); compute what the full
        // checksum would be with the translated addresses/ports.
        probe[12..16].copy_from_slice(&PUBLIC.octets());
        let seg = udp_datagram(PUBLIC, 6000, OUTSIDE, 53, &payload, false);
        let s =
            dataplane::wire::checksum::pseudo_header_sum(PUBLIC, OUTSIDE, UDP, seg.len() as u16)
                + dataplane::wire::checksum::sum(&seg);
        if !dataplane::wire::checksum::fold(s) != 0 {
            continue;
        }
        let (v, out) = run(&mut e, pre, LAN, t(1));
        assert_eq!(v, fwd(WAN, GATEWAY));
        assert_eq!(parse(&out).sport, 6000);
        assert_eq!(&out[26..28], &[0xff, 0xff]);
        found = true;
        break;
    }
    assert!(found);
}

fn addr(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 88, host)
}

#[derive(Debug, Clone)]
struct Flow {
    proto: u8,
    host: u8,
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    payload: Vec<u8>,
    udp_csum: bool,
}

fn flow() -> impl Strategy<Value = Flow> {
    (
        prop_oneof![Just(TCP), Just(UDP), Just(ICMP)],
        2u8..200,
        1u16..,
        (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254),
        1u16..,
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_filter("public destination", |f| {
            f.3 .0 != 127 && f.3 .0 != 192 && f.3 .0 != 203 && f.3 .0 != 10
        })
        .prop_map(|(proto, host, sport, d, dport, payload, udp_csum)| Flow {
            proto,
            host,
            sport,
            dst: [d.0, d.1, d.2, d.3],
            dport,
            payload,
            udp_csum,
        })
}

#[allow(clippy::too_many_arguments)]
fn packet(
    proto: u8,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    payload: &[u8],
    udp_csum: bool,
    request: bool,
) -> Vec<u8> {
    match proto {
        TCP => tcp(src, sport, dst, dport, flags, payload),
        UDP => ipv4(
            src,
            dst,
            UDP,
            7,
            0,
            &udp_datagram(src, sport, dst, dport, payload, udp_csum),
        ),
        _ => {
            let typ = if request { 8 } else { 0 };
            ipv4(
                src,
                dst,
                ICMP,
                7,
                0,
                &icmp_message(typ, 0, (u32::from(sport) << 16) | 1, payload),
            )
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Outbound, inbound reply, and both ICMP error directions: every output
    /// checksum verifies from scratch, and the reply round-trips to the
    /// original internal endpoint.
    #[test]
    fn prop_outbound_inbound_and_icmp_errors(f in flow()) {
        let mut e = engine(&[MASQ_WAN], small_config());
        let (src, dst) = (addr(f.host), Ipv4Addr::from(f.dst));
        let dport = if f.proto == ICMP { f.sport } else { f.dport };
        let (v, out) = run(&mut e, packet(f.proto, src, f.sport, dst, dport, SYN, &f.payload, f.udp_csum, true), LAN, t(1));
        prop_assert_eq!(v, fwd(WAN, GATEWAY));
        let o = parse(&out);
        prop_assert_eq!((o.src, o.dst), (PUBLIC, dst));
        prop_assert_eq!(l4_payload(&out), &f.payload[..]);
        if f.proto == UDP && !f.udp_csum {
            prop_assert_eq!(&out[26..28], &[0u8, 0][..]);
        }
        // The reply.
        let (v, back) = run(&mut e, packet(f.proto, dst, o.dport, PUBLIC, o.sport, SYN | ACK, &f.payload, f.udp_csum, false), WAN, t(1));
        prop_assert_eq!(v, fwd(LAN, src));
        let b = parse(&back);
        prop_assert_eq!((b.src, b.dst, b.dport), (dst, src, f.sport));
        // Inward ICMP error quoting the outbound packet, fully and partially.
        for q in [out.len(), 28] {
            let (v, err) = run(&mut e, icmp_error(Ipv4Addr::new(198, 51, 100, 254), PUBLIC, 11, 0, &out, q), WAN, t(1));
            prop_assert_eq!(v, fwd(LAN, src));
            let inner = quoted(&err);
            prop_assert_eq!((inner.src, inner.sport, inner.dst), (src, f.sport, dst));
        }
        // Outward ICMP error quoting the translated reply.
        let (v, err) = run(&mut e, icmp_error(src, dst, 3, 3, &back, back.len()), LAN, t(1));
        prop_assert_eq!(v, fwd(WAN, GATEWAY));
        parse(&err);
        let inner = quoted(&err);
        prop_assert_eq!((inner.src, inner.dst, inner.dport), (dst, PUBLIC, o.sport));
    }

    /// Hairpin and port-forward rewrites (both destination and source change).
    #[test]
    fn prop_hairpin_and_forward(host in 2u8..19, sport in 1024u16.., payload in proptest::collection::vec(any::<u8>(), 0..64), auto in any::<bool>(), udp_proto in any::<bool>()) {
        let mode = if auto { HairpinMode::Auto } else { HairpinMode::Rules };
        let rules: &[&str] = if udp_proto {
            &["chain=dstnat protocol=udp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20",
              "chain=srcnat src-address=192.168.88.0/24 dst-address=192.168.88.20 action=masquerade", MASQ_WAN]
        } else {
            &[FWD_443, HAIRPIN_RULE, MASQ_WAN]
        };
        let proto = if udp_proto { UDP } else { TCP };
        let mut e = engine(rules, NatConfig { hairpin: mode, ..small_config() });
        let c = addr(host);
        let (v, out) = run(&mut e, packet(proto, c, sport, PUBLIC, 443, SYN, &payload, true, true), LAN, t(1));
        prop_assert_eq!(v, fwd(LAN, SERVER));
        let o = parse(&out);
        prop_assert_eq!(o.src, if auto { PUBLIC } else { ROUTER_LAN });
        prop_assert_eq!(l4_payload(&out), &payload[..]);
        let (v, back) = run(&mut e, packet(proto, SERVER, 443, o.src, o.sport, SYN | ACK, &payload, true, false), LAN, t(1));
        prop_assert_eq!(v, fwd(LAN, c));
        let b = parse(&back);
        prop_assert_eq!((b.src, b.sport, b.dst, b.dport), (PUBLIC, 443, c, sport));
        // The server's error about the hairpinned packet goes back to the client.
        let (v, err) = run(&mut e, icmp_error(SERVER, o.src, 3, 3, &out, out.len()), LAN, t(1));
        prop_assert_eq!(v, fwd(LAN, c));
        let inner = quoted(&err);
        prop_assert_eq!((inner.src, inner.sport, inner.dst, inner.dport), (c, sport, PUBLIC, 443));
    }

    /// Nothing panics on arbitrary bytes, and every drop is counted once.
    #[test]
    fn prop_arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), in_if in 0u16..4) {
        let mut e = engine(&[FWD_443, MASQ_WAN], small_config());
        let v = e.process(&mut bytes, in_if, t(1));
        let drops: u64 = e.stats().drops.iter().sum();
        prop_assert_eq!(drops, u64::from(matches!(v, Verdict::Drop(_) | Verdict::Reply { .. })));
    }

    /// Valid packets with mutated L4 bytes (IP header kept valid): no panic,
    /// drops counted once, forwarded packets still parse.
    #[test]
    fn prop_mutated_packets_never_panic(f in flow(), muts in proptest::collection::vec((20usize..120, any::<u8>()), 1..6), in_if in 0u16..3) {
        let mut e = engine(&[FWD_443, MASQ_WAN], small_config());
        let src = addr(f.host);
        let mut p = packet(f.proto, src, f.sport, Ipv4Addr::from(f.dst), f.dport, SYN, &f.payload, true, true);
        for (at, b) in muts {
            if at < p.len() {
                p[at] = b;
            }
        }
        let v = e.process(&mut p, in_if, t(1));
        let drops: u64 = e.stats().drops.iter().sum();
        prop_assert_eq!(drops, u64::from(matches!(v, Verdict::Drop(_) | Verdict::Reply { .. })));
    }
}
