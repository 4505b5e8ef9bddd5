//! Table-full behaviour, static port forwards, dnat clashes and snapshot swaps.

mod nat_common;
use nat_common::*;

use dataplane::nat::{NatConfig, Verdict};
use dataplane::stats::DropReason;
use std::net::Ipv4Addr;

#[test]
fn table_full_new_flows_dropped_established_keep_flowing() {
    let mut e = engine(
        &[MASQ_WAN],
        NatConfig {
            table_capacity: 8,
            ..small_config()
        },
    );
    let mut ext = Vec::new();
    for i in 0..8u16 {
        let (v, p) = run(&mut e, udp(CLIENT, 10000 + i, OUTSIDE, 53, b"x"), LAN, t(1));
        assert_eq!(v, fwd(WAN, GATEWAY));
        ext.push(parse(&p).sport);
    }
    let (v, _) = run(&mut e, udp(CLIENT, 20000, OUTSIDE, 53, b"x"), LAN, t(2));
    assert_eq!(v, Verdict::Drop(DropReason::SessionTableFull));
    let (v, _) = run(&mut e, udp(CLIENT_B, 20000, OUTSIDE, 53, b"x"), LAN, t(2));
    assert_eq!(v, Verdict::Drop(DropReason::SessionTableFull));
    assert_eq!(e.stats().dropped(DropReason::SessionTableFull), 2);
    // Established flows continue both ways.
    for (i, p) in ext.iter().enumerate() {
        let (v, _) = run(
            &mut e,
            udp(CLIENT, 10000 + i as u16, OUTSIDE, 53, b"y"),
            LAN,
            t(3),
        );
        assert_eq!(v, fwd(WAN, GATEWAY));
        let (v, r) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, *p, b"z"), WAN, t(3));
        assert_eq!(v, fwd(LAN, CLIENT));
        assert_eq!(parse(&r).dport, 10000 + i as u16);
    }
    // The refused flow's mapping was given back (no leak): lru_cleanup —
    // once time passes the table frees up and new flows succeed.
    e.housekeeping(t(400), 64);
    assert_eq!(e.sessions().len(), 0);
    let (v, _) = run(&mut e, udp(CLIENT, 20000, OUTSIDE, 53, b"x"), LAN, t(401));
    assert_eq!(v, fwd(WAN, GATEWAY));
}

#[test]
fn table_full_reclaims_half_open_tcp_first() {
    let mut e = engine(
        &[MASQ_WAN],
        NatConfig {
            table_capacity: 2,
            ..small_config()
        },
    );
    // One established, one half-open.
    let (_, p) = run(&mut e, tcp(CLIENT, 1111, OUTSIDE, 80, SYN, b""), LAN, t(1));
    let ext = parse(&p).sport;
    run(
        &mut e,
        tcp(OUTSIDE, 80, PUBLIC, ext, SYN | ACK, b""),
        WAN,
        t(1),
    );
    run(&mut e, tcp(CLIENT, 1111, OUTSIDE, 80, ACK, b""), LAN, t(1));
    run(&mut e, tcp(CLIENT, 2222, OUTSIDE, 80, SYN, b""), LAN, t(1));
    let (v, _) = run(&mut e, tcp(CLIENT, 3333, OUTSIDE, 80, SYN, b""), LAN, t(2));
    assert_eq!(v, fwd(WAN, GATEWAY), "the half-open session made room");
    let (v, _) = run(&mut e, tcp(OUTSIDE, 80, PUBLIC, ext, ACK, b""), WAN, t(2));
    assert_eq!(v, fwd(LAN, CLIENT), "the established one was kept");
    assert_eq!(e.stats().sessions_expired, 1);
}

#[test]
fn static_port_forward_in_and_out() {
    let rule = "chain=dstnat in-interface-list=WAN protocol=tcp dst-address=203.0.113.1 dst-port=2222 action=dst-nat to-addresses=192.168.88.20 to-ports=22";
    let mut e = engine(&[rule, MASQ_WAN], small_config());
    let (v, p) = run(
        &mut e,
        tcp(OUTSIDE, 50000, PUBLIC, 2222, SYN, b""),
        WAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, SERVER));
    let s = parse(&p);
    assert_eq!(
        (s.src, s.sport, s.dst, s.dport),
        (OUTSIDE, 50000, SERVER, 22)
    );
    let (v, p) = run(
        &mut e,
        tcp(SERVER, 22, OUTSIDE, 50000, SYN | ACK, b""),
        LAN,
        t(1),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    let r = parse(&p);
    assert_eq!(
        (r.src, r.sport, r.dst, r.dport),
        (PUBLIC, 2222, OUTSIDE, 50000)
    );
    // Rule counted once (only the session-creating packet walks the rules).
    assert_eq!(e.rule_counters().get(0).0, 1);
    // The forward is only for WAN: from the LAN, port 2222 on the public
    // address is not forwarded.
    let (v, _) = run(&mut e, tcp(CLIENT, 1, PUBLIC, 2222, SYN, b""), LAN, t(1));
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
}

#[test]
fn dnat_clash_is_dropped_and_counted() {
    // Two forwards to the same server port: the same outside endpoint using
    // both yields one reply key for two sessions.
    let a = "chain=dstnat protocol=tcp dst-address=203.0.113.1 dst-port=8000 action=dst-nat to-addresses=192.168.88.20 to-ports=80";
    let b = "chain=dstnat protocol=tcp dst-address=203.0.113.1 dst-port=8001 action=dst-nat to-addresses=192.168.88.20 to-ports=80";
    let mut e = engine(&[a, b, MASQ_WAN], small_config());
    let (v, _) = run(
        &mut e,
        tcp(OUTSIDE, 40000, PUBLIC, 8000, SYN, b""),
        WAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, SERVER));
    let (v, _) = run(
        &mut e,
        tcp(OUTSIDE, 40000, PUBLIC, 8001, SYN, b""),
        WAN,
        t(1),
    );
    assert_eq!(v, Verdict::Drop(DropReason::SessionClash));
    assert_eq!(e.sessions().len(), 1);
    // The first session still works.
    let (v, p) = run(
        &mut e,
        tcp(SERVER, 80, OUTSIDE, 40000, SYN | ACK, b""),
        LAN,
        t(1),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_eq!(parse(&p).sport, 8000);
}

#[test]
fn new_snapshot_keeps_established_translations() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let (_, p) = run(&mut e, udp(CLIENT, 6000, OUTSIDE, 53, b"x"), LAN, t(1));
    let ext = parse(&p).sport;
    // New rules: LAN traffic to OUTSIDE is now src-nat'ed to another address.
    let other = "chain=srcnat out-interface-list=WAN action=src-nat to-addresses=203.0.113.50";
    e.set_snapshot(snapshot(&[other], small_config()));
    let (_, p) = run(&mut e, udp(CLIENT, 6000, OUTSIDE, 53, b"y"), LAN, t(2));
    assert_eq!(
        (parse(&p).src, parse(&p).sport),
        (PUBLIC, ext),
        "old session, old rewrite"
    );
    let (_, p) = run(&mut e, udp(CLIENT, 6001, OUTSIDE, 53, b"y"), LAN, t(2));
    assert_eq!(
        parse(&p).src,
        Ipv4Addr::new(203, 0, 113, 50),
        "new session, new rules"
    );
    // Replies to the old mapping still find it.
    let (v, _) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, ext, b"r"), WAN, t(2));
    assert_eq!(v, fwd(LAN, CLIENT));
}

#[test]
fn netmap_one_to_one() {
    let src = "chain=srcnat src-address=192.168.88.0/24 out-interface-list=WAN action=netmap to-addresses=203.0.113.0/24";
    let dst = "chain=dstnat dst-address=203.0.113.0/24 in-interface-list=WAN action=netmap to-addresses=192.168.88.0/24";
    let mut e = engine(&[src, dst], small_config());
    let (v, p) = run(&mut e, udp(CLIENT, 6000, OUTSIDE, 53, b"x"), LAN, t(1));
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_eq!(
        (parse(&p).src, parse(&p).sport),
        (Ipv4Addr::new(203, 0, 113, 10), 6000)
    );
    let (v, p) = run(
        &mut e,
        udp(OUTSIDE, 53, Ipv4Addr::new(203, 0, 113, 11), 7000, b"in"),
        WAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, CLIENT_B));
    assert_eq!((parse(&p).dst, parse(&p).dport), (CLIENT_B, 7000));
}

#[test]
fn routed_traffic_without_nat_rules_passes_unchanged() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let orig = tcp(CLIENT, 1000, SERVER2, 80, ACK, b"mid-stream");
    let (v, p) = run(&mut e, orig.clone(), LAN, t(1));
    assert_eq!(v, fwd(LAN2, SERVER2));
    assert_eq!(p, orig);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn snapshot_rejects_bad_pools_and_names_return_traffic_owner() {
    use dataplane::nat::rules::{compile, parse_rule, CompileContext};
    use dataplane::nat::{ConfigError, Snapshot};
    use dataplane::route::Fib;
    let ifs = interfaces();
    let fib = Fib::build(&ifs, &[]).unwrap();
    let mk = |lines: &[&str]| {
        let specs: Vec<_> = lines.iter().map(|l| parse_rule(l).unwrap()).collect();
        compile(&specs, &CompileContext::new()).unwrap()
    };
    let big = mk(&["chain=srcnat action=src-nat to-addresses=10.0.0.0/16"]);
    assert!(matches!(
        Snapshot::new(big, ifs.clone(), fib.clone(), small_config()),
        Err(ConfigError::PoolTooLarge { len: 65536, .. })
    ));
    let overlap = mk(&[
        "chain=srcnat action=masquerade",
        "chain=srcnat action=src-nat to-addresses=203.0.113.1-203.0.113.2",
    ]);
    assert_eq!(
        Snapshot::new(overlap, ifs.clone(), fib.clone(), small_config()).unwrap_err(),
        ConfigError::OverlappingPools(PUBLIC)
    );
    let s = snapshot(&[MASQ_WAN], small_config());
    // Four workers split 1024-65535; the first slice starts at 1024.
    assert_eq!(s.owner_worker(PUBLIC, 1024, 4), Some(0));
    assert_eq!(s.owner_worker(PUBLIC, 65535, 4), Some(3));
    assert_eq!(s.owner_worker(OUTSIDE, 1024, 4), None);
}
