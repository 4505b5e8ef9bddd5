//! Hairpinning (N11) for TCP, UDP and ICMP, in both styles, and loop safety.

mod nat_common;
use nat_common::*;

use dataplane::nat::{HairpinMode, NatConfig, Verdict};
use dataplane::stats::DropReason;

fn cfg(h: HairpinMode) -> NatConfig {
    NatConfig {
        hairpin: h,
        ..small_config()
    }
}

const FWD_UDP: &str =
    "chain=dstnat protocol=udp dst-address=203.0.113.1 dst-port=5353 action=dst-nat to-addresses=192.168.88.20 to-ports=53";
const FWD_ICMP: &str =
    "chain=dstnat protocol=icmp dst-address=203.0.113.1 action=dst-nat to-addresses=192.168.88.20";

#[test]
fn n11_hairpin_auto_same_subnet() {
    let mut e = engine(&[FWD_443, MASQ_WAN], cfg(HairpinMode::Auto));
    let (v, p) = run(&mut e, tcp(CLIENT, 41000, PUBLIC, 443, SYN, b""), LAN, t(1));
    assert_eq!(v, fwd(LAN, SERVER));
    let s = parse(&p);
    assert_eq!(
        (s.src, s.sport, s.dst, s.dport),
        (PUBLIC, 41000, SERVER, 443)
    );
    let (v, p) = run(
        &mut e,
        tcp(SERVER, 443, PUBLIC, 41000, SYN | ACK, b""),
        LAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let r = parse(&p);
    assert_eq!(
        (r.src, r.sport, r.dst, r.dport),
        (PUBLIC, 443, CLIENT, 41000)
    );
}

#[test]
fn n11_hairpin_auto_different_subnet() {
    let mut e = engine(&[FWD_443_LAN2, MASQ_WAN], cfg(HairpinMode::Auto));
    let (v, p) = run(&mut e, tcp(CLIENT, 41000, PUBLIC, 443, SYN, b""), LAN, t(1));
    assert_eq!(v, fwd(LAN2, SERVER2));
    assert_eq!(parse(&p).src, PUBLIC);
    let (v, p) = run(
        &mut e,
        tcp(SERVER2, 443, PUBLIC, 41000, SYN | ACK, b""),
        LAN2,
        t(1),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    assert_eq!(parse(&p).src, PUBLIC);
}

#[test]
fn n11_hairpin_rules_same_subnet_with_masquerade_rule() {
    let mut e = engine(&[FWD_443, HAIRPIN_RULE, MASQ_WAN], cfg(HairpinMode::Rules));
    let (v, p) = run(&mut e, tcp(CLIENT, 41000, PUBLIC, 443, SYN, b""), LAN, t(1));
    assert_eq!(v, fwd(LAN, SERVER));
    let s = parse(&p);
    assert_eq!((s.src, s.dst, s.dport), (ROUTER_LAN, SERVER, 443));
    let (v, p) = run(
        &mut e,
        tcp(SERVER, 443, ROUTER_LAN, s.sport, SYN | ACK, b""),
        LAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let r = parse(&p);
    assert_eq!(
        (r.src, r.sport, r.dst, r.dport),
        (PUBLIC, 443, CLIENT, 41000)
    );
}

#[test]
fn n11_hairpin_udp_both_styles() {
    for (mode, rules, seen) in [
        (HairpinMode::Auto, vec![FWD_UDP, MASQ_WAN], PUBLIC),
        (
            HairpinMode::Rules,
            vec![FWD_UDP, "chain=srcnat src-address=192.168.88.0/24 dst-address=192.168.88.20 action=masquerade", MASQ_WAN],
            ROUTER_LAN,
        ),
    ] {
        let mut e = engine(&rules, cfg(mode));
        let (v, p) = run(&mut e, udp(CLIENT, 33000, PUBLIC, 5353, b"query"), LAN, t(1));
        assert_eq!(v, fwd(LAN, SERVER), "{mode:?}");
        let q = parse(&p);
        assert_eq!((q.src, q.dst, q.dport), (seen, SERVER, 53));
        let (v, p) = run(&mut e, udp(SERVER, 53, q.src, q.sport, b"answer"), LAN, t(1));
        assert_eq!(v, fwd(LAN, CLIENT));
        let a = parse(&p);
        assert_eq!((a.src, a.sport, a.dst, a.dport), (PUBLIC, 5353, CLIENT, 33000));
        assert_eq!(l4_payload(&p), b"answer");
    }
}

#[test]
fn n11_hairpin_icmp() {
    let mut e = engine(&[FWD_ICMP, MASQ_WAN], cfg(HairpinMode::Auto));
    let (v, p) = run(&mut e, echo(CLIENT, PUBLIC, 0x1234, 1, true), LAN, t(1));
    assert_eq!(v, fwd(LAN, SERVER));
    let q = parse(&p);
    assert_eq!((q.src, q.dst, q.icmp_type), (PUBLIC, SERVER, 8));
    assert_eq!(
        e.mapping_of(ICMP, PUBLIC, (CLIENT, 0x1234)),
        Some((PUBLIC, q.sport))
    );
    let (v, p) = run(&mut e, echo(SERVER, PUBLIC, q.sport, 1, false), LAN, t(1));
    assert_eq!(v, fwd(LAN, CLIENT));
    let r = parse(&p);
    assert_eq!(
        (r.src, r.dst, r.sport, r.icmp_type),
        (PUBLIC, CLIENT, 0x1234, 0)
    );
}

#[test]
fn n11_hairpin_to_existing_mapping() {
    // RFC 4787 hairpinning proper: client B talks to client A's mapping.
    let mut e = engine(&[MASQ_WAN], cfg(HairpinMode::Auto));
    let (_, p) = run(&mut e, udp(CLIENT, 6000, OUTSIDE, 3478, b"bind"), LAN, t(1));
    let a_ext = parse(&p).sport;
    let (_, p) = run(
        &mut e,
        udp(CLIENT_B, 7000, OUTSIDE, 3478, b"bind"),
        LAN,
        t(1),
    );
    let b_ext = parse(&p).sport;
    let (v, p) = run(
        &mut e,
        udp(CLIENT_B, 7000, PUBLIC, a_ext, b"hello A"),
        LAN,
        t(2),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let h = parse(&p);
    assert_eq!(
        (h.src, h.sport, h.dst, h.dport),
        (PUBLIC, b_ext, CLIENT, 6000),
        "A sees B's external endpoint"
    );
    let (v, p) = run(
        &mut e,
        udp(CLIENT, 6000, PUBLIC, b_ext, b"hello B"),
        LAN,
        t(2),
    );
    assert_eq!(v, fwd(LAN, CLIENT_B));
    let h = parse(&p);
    assert_eq!(
        (h.src, h.sport, h.dst, h.dport),
        (PUBLIC, a_ext, CLIENT_B, 7000)
    );
}

#[test]
fn hairpinning_avoid_infinite_loop() {
    // A forward whose target is the router itself must not loop.
    let looping = "chain=dstnat protocol=tcp dst-address=203.0.113.1 dst-port=8080 action=dst-nat to-addresses=203.0.113.1 to-ports=8080";
    let to_lan_addr = "chain=dstnat protocol=tcp dst-address=203.0.113.1 dst-port=8081 action=dst-nat to-addresses=192.168.88.1";
    for mode in [HairpinMode::Auto, HairpinMode::Rules] {
        let mut e = engine(&[looping, to_lan_addr, MASQ_WAN], cfg(mode));
        for port in [8080u16, 8081] {
            for in_if in [LAN, WAN] {
                let src = if in_if == LAN { CLIENT } else { OUTSIDE };
                let (v, _) = run(&mut e, tcp(src, 1234, PUBLIC, port, SYN, b""), in_if, t(1));
                assert_eq!(v, Verdict::Drop(DropReason::HairpinLoop));
            }
        }
        assert_eq!(e.stats().dropped(DropReason::HairpinLoop), 4);
        assert_eq!(e.sessions().len(), 0);
    }
}

#[test]
fn hairpinning_unknown_proto_is_not_translated() {
    // GRE to the public address: nothing maps it, nothing loops.
    let mut e = engine(&[FWD_443, MASQ_WAN], cfg(HairpinMode::Auto));
    let mut p = ipv4(CLIENT, PUBLIC, 47, 9, 0, &[0u8; 8]);
    assert_eq!(e.process(&mut p, LAN, t(1)), Verdict::Local);
    // GRE that would need source translation is refused and counted.
    let mut p = ipv4(CLIENT, OUTSIDE, 47, 9, 0, &[0u8; 8]);
    assert_eq!(
        e.process(&mut p, LAN, t(1)),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
    // Between LAN segments, without NAT, it is routed unchanged.
    let orig = ipv4(CLIENT, SERVER2, 47, 9, 0, &[0u8; 8]);
    let mut p = orig.clone();
    assert_eq!(e.process(&mut p, LAN, t(1)), fwd(LAN2, SERVER2));
    assert_eq!(p, orig);
}

#[test]
fn redirect_translates_to_router_and_delivers_locally() {
    let redirect =
        "chain=dstnat in-interface-list=LAN protocol=udp dst-port=53 action=redirect to-ports=5353";
    let mut e = engine(&[redirect, MASQ_WAN], small_config());
    let (v, p) = run(&mut e, udp(CLIENT, 9000, OUTSIDE, 53, b"q"), LAN, t(1));
    assert_eq!(v, Verdict::Local);
    let q = parse(&p);
    assert_eq!((q.dst, q.dport), (ROUTER_LAN, 5353));
}
