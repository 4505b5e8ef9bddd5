//! Mapping and port behaviour (N1-N5) and the dynamic-translation scenarios.

mod nat_common;
use nat_common::*;

use dataplane::nat::Verdict;
use dataplane::stats::DropReason;

#[test]
fn n1_eim_udp_tcp_icmp() {
    let mut e = engine(&[MASQ_WAN], small_config());
    // UDP: same internal endpoint, two destinations -> one external endpoint.
    let (v, a) = run(&mut e, udp(CLIENT, 4000, OUTSIDE, 53, b"a"), LAN, t(1));
    assert_eq!(v, fwd(WAN, GATEWAY));
    let (_, b) = run(&mut e, udp(CLIENT, 4000, OUTSIDE_B, 3478, b"b"), LAN, t(1));
    let (a, b) = (parse(&a), parse(&b));
    assert_eq!((a.src, a.sport), (PUBLIC, 4000));
    assert_eq!((b.src, b.sport), (a.src, a.sport));
    assert_eq!((b.dst, b.dport), (OUTSIDE_B, 3478));
    // TCP.
    let (_, a) = run(&mut e, tcp(CLIENT, 5000, OUTSIDE, 80, SYN, b""), LAN, t(1));
    let (_, b) = run(
        &mut e,
        tcp(CLIENT, 5000, OUTSIDE_B, 443, SYN, b""),
        LAN,
        t(1),
    );
    assert_eq!(
        (parse(&a).src, parse(&a).sport),
        (parse(&b).src, parse(&b).sport)
    );
    // ICMP echo identifiers are mapped like ports.
    let (v, a) = run(&mut e, echo(CLIENT, OUTSIDE, 77, 1, true), LAN, t(1));
    assert_eq!(v, fwd(WAN, GATEWAY));
    let (_, b) = run(&mut e, echo(CLIENT, OUTSIDE_B, 77, 1, true), LAN, t(1));
    let (a, b) = (parse(&a), parse(&b));
    assert_eq!(a.src, PUBLIC);
    assert_eq!(a.sport, b.sport);
    // The echo reply is translated back to the internal identifier.
    let (v, r) = run(&mut e, echo(OUTSIDE, PUBLIC, a.sport, 1, false), WAN, t(1));
    assert_eq!(v, fwd(LAN, CLIENT));
    let r = parse(&r);
    assert_eq!(
        (r.src, r.dst, r.sport, r.icmp_type),
        (OUTSIDE, CLIENT, 77, 0)
    );
    assert_eq!(e.stats().sessions_created, 6);
}

#[test]
fn n2_paired_pooling() {
    let rule =
        "chain=srcnat out-interface-list=WAN action=src-nat to-addresses=203.0.113.10-203.0.113.13";
    let mut e = engine(&[rule], small_config());
    let mut seen = Vec::new();
    for (i, dst) in [OUTSIDE, OUTSIDE_B].iter().enumerate() {
        for port in 0..20u16 {
            let (v, p) = run(
                &mut e,
                udp(CLIENT, 10000 + port, *dst, 53 + i as u16, b"x"),
                LAN,
                t(1),
            );
            assert_eq!(v, fwd(WAN, GATEWAY));
            seen.push(parse(&p).src);
        }
    }
    let first = seen[0];
    assert!((10..=13).contains(&first.octets()[3]));
    assert!(
        seen.iter().all(|a| *a == first),
        "one host, one external address: {seen:?}"
    );
}

#[test]
fn n3_port_preservation_range_and_no_overloading() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let (_, a) = run(&mut e, udp(CLIENT, 40000, OUTSIDE, 53, b"x"), LAN, t(1));
    assert_eq!(parse(&a).sport, 40000, "free source port is preserved");
    // A second host with the same source port must not share the mapping.
    let (_, b) = run(&mut e, udp(CLIENT_B, 40000, OUTSIDE, 53, b"x"), LAN, t(1));
    let b = parse(&b);
    assert_eq!(b.src, PUBLIC);
    assert_ne!(b.sport, 40000);
    assert!(b.sport >= 1024, "stays in the 1024-65535 range");
    assert_eq!(b.sport % 2, 0, "keeps parity");
    // Replies reach the right hosts.
    let (v, r) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, b.sport, b"y"), WAN, t(1));
    assert_eq!(v, fwd(LAN, CLIENT_B));
    assert_eq!(parse(&r).dport, 40000);
    let (v, _) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, 40000, b"y"), WAN, t(1));
    assert_eq!(v, fwd(LAN, CLIENT));
}

#[test]
fn dynamic_edge_ports_1024_and_65535() {
    let mut e = engine(&[MASQ_WAN], small_config());
    for port in [1024u16, 65535] {
        let (v, p) = run(&mut e, udp(CLIENT, port, OUTSIDE, 53, b"x"), LAN, t(1));
        assert_eq!(v, fwd(WAN, GATEWAY));
        assert_eq!(parse(&p).sport, port);
        let (v, r) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, port, b"y"), WAN, t(1));
        assert_eq!(v, fwd(LAN, CLIENT));
        assert_eq!(parse(&r).dport, port);
    }
}

#[test]
fn n4_port_exhaustion_sends_icmp_3_13_and_never_evicts() {
    let rule =
        "chain=srcnat out-interface-list=WAN protocol=udp action=masquerade to-ports=20000-20001";
    let mut e = engine(&[rule], small_config());
    for (host, port) in [(CLIENT, 20000u16), (CLIENT_B, 20001)] {
        let (v, p) = run(&mut e, udp(host, 5555, OUTSIDE, 53, b"x"), LAN, t(1));
        assert_eq!(v, fwd(WAN, GATEWAY));
        let _ = port;
        assert!((20000..=20001).contains(&parse(&p).sport));
    }
    let third = std::net::Ipv4Addr::new(192, 168, 88, 12);
    let offending = udp(third, 5555, OUTSIDE, 53, b"x");
    let (v, p) = run(&mut e, offending.clone(), LAN, t(1));
    let Verdict::Reply {
        out_if,
        next_hop,
        len,
    } = v
    else {
        panic!("expected a reply, got {v:?}")
    };
    assert_eq!((out_if, next_hop), (LAN, third));
    assert_eq!(p, offending, "the refused packet is left untouched");
    let reply = e.reply_packet(len).to_vec();
    let r = parse(&reply);
    assert_eq!(
        (r.src, r.dst, r.proto, r.icmp_type, r.icmp_code),
        (ROUTER_LAN, third, ICMP, 3, 13)
    );
    let q = quoted(&reply);
    assert_eq!((q.src, q.sport, q.dst, q.dport), (third, 5555, OUTSIDE, 53));
    assert_eq!(e.stats().dropped(DropReason::OutOfPorts), 1);
    // Nobody was evicted: both existing flows still translate.
    assert_eq!(e.sessions().len(), 2);
    for host in [CLIENT, CLIENT_B] {
        let (v, _) = run(&mut e, udp(host, 5555, OUTSIDE, 53, b"again"), LAN, t(2));
        assert_eq!(v, fwd(WAN, GATEWAY));
    }
}

#[test]
fn n4_subscriber_port_limit() {
    let mut cfg = small_config();
    cfg.limits.ports_per_subscriber = 2;
    let mut e = engine(&[MASQ_WAN], cfg);
    for port in [1000u16, 1001] {
        let (v, _) = run(
            &mut e,
            udp(CLIENT, 30000 + port, OUTSIDE, 53, b"x"),
            LAN,
            t(1),
        );
        assert_eq!(v, fwd(WAN, GATEWAY));
    }
    let (v, _) = run(&mut e, udp(CLIENT, 32000, OUTSIDE, 53, b"x"), LAN, t(1));
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    assert_eq!(e.stats().dropped(DropReason::SubscriberLimit), 1);
    // Another subscriber is unaffected.
    let (v, _) = run(&mut e, udp(CLIENT_B, 32000, OUTSIDE, 53, b"x"), LAN, t(1));
    assert_eq!(v, fwd(WAN, GATEWAY));
}

#[test]
fn n4_session_limit_per_subscriber() {
    let mut cfg = small_config();
    cfg.limits.sessions_per_subscriber = 3;
    let mut e = engine(&[MASQ_WAN], cfg);
    // Same mapping, three destinations: three sessions.
    for d in 1..=3u8 {
        let dst = std::net::Ipv4Addr::new(198, 51, 100, d);
        let (v, _) = run(&mut e, udp(CLIENT, 7000, dst, 53, b"x"), LAN, t(1));
        assert_eq!(v, fwd(WAN, GATEWAY));
    }
    let (v, _) = run(&mut e, udp(CLIENT, 7000, OUTSIDE, 53, b"x"), LAN, t(1));
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    assert_eq!(e.stats().dropped(DropReason::SubscriberLimit), 1);
    assert_eq!(e.sessions().len(), 3);
}

#[test]
fn n5_freed_port_quarantined_for_120s() {
    let rule =
        "chain=srcnat out-interface-list=WAN protocol=udp action=masquerade to-ports=20000-20000";
    let mut cfg = small_config();
    cfg.timeouts.udp = 120;
    let mut e = engine(&[rule], cfg);
    let (_, p) = run(&mut e, udp(CLIENT, 5555, OUTSIDE, 53, b"x"), LAN, t(0));
    assert_eq!(parse(&p).sport, 20000);
    // The session expires at 120 s and frees the port into quarantine.
    assert_eq!(e.housekeeping(t(121), 64), 1);
    let (v, _) = run(&mut e, udp(CLIENT_B, 5555, OUTSIDE, 53, b"x"), LAN, t(122));
    assert!(
        matches!(v, Verdict::Reply { .. }),
        "port still quarantined: {v:?}"
    );
    // 120 s after being freed it can be handed out again.
    e.housekeeping(t(242), 64);
    let (v, p) = run(&mut e, udp(CLIENT_B, 5555, OUTSIDE, 53, b"x"), LAN, t(242));
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_eq!(parse(&p).sport, 20000);
}

#[test]
fn port_range_masquerade_to_ports() {
    let rule =
        "chain=srcnat out-interface-list=WAN protocol=tcp action=masquerade to-ports=30000-30099";
    let mut e = engine(&[rule], small_config());
    for i in 0..50u16 {
        let (v, p) = run(
            &mut e,
            tcp(CLIENT, 1025 + i, OUTSIDE, 80, SYN, b""),
            LAN,
            t(1),
        );
        assert_eq!(v, fwd(WAN, GATEWAY));
        let s = parse(&p).sport;
        assert!((30000..=30099).contains(&s), "port {s} outside to-ports");
    }
}

#[test]
fn masquerade_external_address_distribution() {
    let rule =
        "chain=srcnat out-interface-list=WAN action=src-nat to-addresses=203.0.113.10-203.0.113.13";
    let mut e = engine(&[rule], small_config());
    let mut addrs = std::collections::BTreeSet::new();
    for h in 2..100u8 {
        let host = std::net::Ipv4Addr::new(192, 168, 88, h);
        let (v, p) = run(&mut e, udp(host, 5000, OUTSIDE, 53, b"x"), LAN, t(1));
        assert_eq!(v, fwd(WAN, GATEWAY));
        addrs.insert(parse(&p).src);
    }
    assert_eq!(
        addrs.len(),
        4,
        "hosts spread over the whole pool: {addrs:?}"
    );
}
