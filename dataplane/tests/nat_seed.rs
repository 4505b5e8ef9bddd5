//! The seed story (hairpin NAT on a MikroTik-style box) as engine tests:
//! LAN 192.168.88.0/24, server 192.168.88.20:443, public 203.0.113.1 on WAN,
//! dst-nat 203.0.113.1:443 -> 192.168.88.20, client 192.168.88.10 connects
//! to 203.0.113.1:443.

mod nat_common;
use nat_common::*;

use dataplane::nat::{Engine, HairpinMode, NatConfig};
use std::net::Ipv4Addr;

fn config(h: HairpinMode) -> NatConfig {
    NatConfig {
        hairpin: h,
        ..small_config()
    }
}

/// Drives a full TCP handshake, data both ways and a FIN close between the
/// client (always talking to 203.0.113.1:443) and `server`, asserting each
/// translated packet. `seen_src` is the source the server must see;
/// `server_if` its interface.
fn full_exchange(
    e: &mut Engine,
    server: Ipv4Addr,
    server_if: u16,
    seen_src: (Ipv4Addr, Option<u16>),
) {
    let now = t(1);
    // SYN from the client.
    let (v, p) = run(e, tcp(CLIENT, 50000, PUBLIC, 443, SYN, b""), LAN, now);
    assert_eq!(v, fwd(server_if, server));
    let syn = parse(&p);
    assert_eq!((syn.dst, syn.dport), (server, 443));
    assert_eq!(syn.src, seen_src.0);
    if let Some(port) = seen_src.1 {
        assert_eq!(syn.sport, port);
    }
    let (nat_src, nat_port) = (syn.src, syn.sport);
    // The server answers whoever it saw; the packet reaches the router
    // (its source is not on the server's link, or is the router itself).
    let (v, p) = run(
        e,
        tcp(server, 443, nat_src, nat_port, SYN | ACK, b""),
        server_if,
        now,
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let synack = parse(&p);
    assert_eq!(
        (
            synack.src,
            synack.sport,
            synack.dst,
            synack.dport,
            synack.flags
        ),
        (PUBLIC, 443, CLIENT, 50000, SYN | ACK),
        "the client must see the reply come from the address it connected to"
    );
    // ACK + request.
    let (v, p) = run(
        e,
        tcp(
            CLIENT,
            50000,
            PUBLIC,
            443,
            ACK | PSH,
            b"GET / HTTP/1.1\r\n\r\n",
        ),
        LAN,
        now,
    );
    assert_eq!(v, fwd(server_if, server));
    let req = parse(&p);
    assert_eq!(
        (req.src, req.sport, req.dst, req.dport),
        (nat_src, nat_port, server, 443)
    );
    assert_eq!(l4_payload(&p), b"GET / HTTP/1.1\r\n\r\n");
    // Response.
    let (v, p) = run(
        e,
        tcp(
            server,
            443,
            nat_src,
            nat_port,
            ACK | PSH,
            b"HTTP/1.1 200 OK\r\n\r\n",
        ),
        server_if,
        now,
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let resp = parse(&p);
    assert_eq!(
        (resp.src, resp.sport, resp.dst, resp.dport),
        (PUBLIC, 443, CLIENT, 50000)
    );
    assert_eq!(l4_payload(&p), b"HTTP/1.1 200 OK\r\n\r\n");
    // Close from both sides.
    let (v, _) = run(e, tcp(CLIENT, 50000, PUBLIC, 443, FIN | ACK, b""), LAN, now);
    assert_eq!(v, fwd(server_if, server));
    let (v, p) = run(
        e,
        tcp(server, 443, nat_src, nat_port, FIN | ACK, b""),
        server_if,
        now,
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    assert_eq!(parse(&p).flags, FIN | ACK);
    let (v, _) = run(e, tcp(CLIENT, 50000, PUBLIC, 443, ACK, b""), LAN, now);
    assert_eq!(v, fwd(server_if, server));
    assert_eq!(
        e.stats().drops.iter().sum::<u64>(),
        0,
        "no drops: {:?}",
        e.stats()
    );
}

#[test]
fn seed_a_rules_mode_without_hairpin_rule_reaches_server_with_client_source() {
    let mut e = engine(&[FWD_443, MASQ_WAN], config(HairpinMode::Rules));
    let (v, p) = run(&mut e, tcp(CLIENT, 50000, PUBLIC, 443, SYN, b""), LAN, t(1));
    // Forwarded back out of the LAN port to the server, source untouched.
    assert_eq!(v, fwd(LAN, SERVER));
    let syn = parse(&p);
    assert_eq!(
        (syn.src, syn.sport, syn.dst, syn.dport),
        (CLIENT, 50000, SERVER, 443)
    );

    // The server replies to 192.168.88.10, which is on its own link, so the
    // reply goes straight to the client and never reaches the router.
    let lan = e.snapshot().interfaces.get(LAN).unwrap();
    assert_eq!(lan.addr_on_link(CLIENT), Some(ROUTER_LAN));
    assert_eq!(lan.addr_on_link(SERVER), Some(ROUTER_LAN));
    let direct = tcp(SERVER, 443, CLIENT, 50000, SYN | ACK, b"");
    let seen = parse(&direct);
    // What the client receives: from 192.168.88.20, not the 203.0.113.1 it
    // connected to, so its stack drops it (the story's timeout).
    assert_eq!(seen.src, SERVER);
    assert_ne!(seen.src, PUBLIC);
    // Only the router could have rewritten it: the session it holds would
    // (which shows the packet is lost only because the router never sees it).
    let mut via_router = direct.clone();
    assert_eq!(e.process(&mut via_router, LAN, t(1)), fwd(LAN, CLIENT));
    assert_eq!(parse(&via_router).src, PUBLIC);
}

#[test]
fn seed_b_rules_mode_with_routeros_masquerade_rule_completes() {
    // Rule order as on the box: the hairpin rule before the WAN masquerade.
    let mut e = engine(
        &[FWD_443, HAIRPIN_RULE, MASQ_WAN],
        config(HairpinMode::Rules),
    );
    full_exchange(&mut e, SERVER, LAN, (ROUTER_LAN, None));
    // The hairpin rule (index 1) counted the first packet.
    assert_eq!(e.rule_counters().get(1).0, 1);
    assert_eq!(e.rule_counters().get(0).0, 1);
}

#[test]
fn seed_c_auto_hairpin_server_sees_clients_own_mapping() {
    let mut e = engine(&[FWD_443, MASQ_WAN], config(HairpinMode::Auto));
    // Port preservation: the client's mapping keeps 50000.
    full_exchange(&mut e, SERVER, LAN, (PUBLIC, Some(50000)));
    // The same internal endpoint going outside gets the very same mapping (N1).
    let (v, p) = run(
        &mut e,
        tcp(CLIENT, 50000, OUTSIDE, 443, SYN, b""),
        LAN,
        t(2),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    let out = parse(&p);
    assert_eq!((out.src, out.sport), (PUBLIC, 50000));
}

#[test]
fn seed_c_auto_hairpin_uses_existing_mapping_port() {
    let mut e = engine(&[FWD_443, MASQ_WAN], config(HairpinMode::Auto));
    // Another host already holds 50000, so the client's mapping moves.
    let (v, p) = run(
        &mut e,
        tcp(CLIENT_B, 50000, OUTSIDE, 80, SYN, b""),
        LAN,
        t(1),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_eq!(parse(&p).sport, 50000);
    let (_, p) = run(&mut e, udp(CLIENT, 50000, OUTSIDE, 53, b"q"), LAN, t(1));
    let _ = p;
    let (v, p) = run(&mut e, tcp(CLIENT, 50000, PUBLIC, 443, SYN, b""), LAN, t(1));
    assert_eq!(v, fwd(LAN, SERVER));
    let syn = parse(&p);
    assert_eq!(syn.src, PUBLIC);
    assert_ne!(syn.sport, 50000);
    // And it is exactly the client's TCP mapping.
    assert_eq!(
        e.mapping_of(TCP, PUBLIC, (CLIENT, 50000)),
        Some((PUBLIC, syn.sport))
    );
}

#[test]
fn seed_d_different_subnet_completes_without_extra_rule() {
    let mut e = engine(&[FWD_443_LAN2, MASQ_WAN], config(HairpinMode::Rules));
    full_exchange(&mut e, SERVER2, LAN2, (CLIENT, Some(50000)));
}

#[test]
fn seed_d_different_subnet_auto_mode_also_completes() {
    let mut e = engine(&[FWD_443_LAN2, MASQ_WAN], config(HairpinMode::Auto));
    full_exchange(&mut e, SERVER2, LAN2, (PUBLIC, Some(50000)));
}

#[test]
fn seed_internet_client_reaches_server_through_forward() {
    let mut e = engine(&[FWD_443, MASQ_WAN], config(HairpinMode::Auto));
    let (v, p) = run(
        &mut e,
        tcp(OUTSIDE, 40000, PUBLIC, 443, SYN, b""),
        WAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, SERVER));
    let syn = parse(&p);
    // Not hairpinned: the outside client's address is kept.
    assert_eq!(
        (syn.src, syn.sport, syn.dst, syn.dport),
        (OUTSIDE, 40000, SERVER, 443)
    );
    let (v, p) = run(
        &mut e,
        tcp(SERVER, 443, OUTSIDE, 40000, SYN | ACK, b""),
        LAN,
        t(1),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    let sa = parse(&p);
    assert_eq!(
        (sa.src, sa.sport, sa.dst, sa.dport),
        (PUBLIC, 443, OUTSIDE, 40000)
    );
}
