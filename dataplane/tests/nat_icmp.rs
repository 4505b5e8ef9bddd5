//! ICMP errors about translated flows (N12) and the router's own ICMP (N13).

mod nat_common;
use nat_common::*;

use dataplane::nat::{Engine, Verdict};
use dataplane::stats::DropReason;
use std::net::Ipv4Addr;

const HOP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 254);
const INSIDE_ROUTER: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 254);

/// An outbound UDP flow; returns (translated packet as it left, external port).
fn outbound(e: &mut Engine) -> (Vec<u8>, u16) {
    let (v, p) = run(
        e,
        udp(CLIENT, 6000, OUTSIDE, 53, b"query-payload"),
        LAN,
        t(1),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    let ext = parse(&p).sport;
    (p, ext)
}

#[test]
fn n12_icmp_error_translated_both_directions() {
    let mut e = engine(&[MASQ_WAN, FWD_443], small_config());
    let (left, ext) = outbound(&mut e);
    let sessions = e.sessions().len();

    // Inward: a router on the path reports TTL exceeded, quoting the full packet.
    let (v, p) = run(
        &mut e,
        icmp_error(HOP, PUBLIC, 11, 0, &left, left.len()),
        WAN,
        t(2),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let outer = parse(&p);
    assert_eq!(
        (outer.src, outer.dst, outer.icmp_type),
        (HOP, CLIENT, 11),
        "outside router stays visible"
    );
    let q = quoted(&p);
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport),
        (CLIENT, 6000, OUTSIDE, 53)
    );

    // Inward from the destination itself: port unreachable.
    let (v, p) = run(
        &mut e,
        icmp_error(OUTSIDE, PUBLIC, 3, 3, &left, 28),
        WAN,
        t(2),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let outer = parse(&p);
    assert_eq!((outer.src, outer.dst), (OUTSIDE, CLIENT));
    let q = quoted(&p);
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport),
        (CLIENT, 6000, OUTSIDE, 53)
    );

    // Outward: the inside host rejects an inbound reply packet it received.
    let (_, received) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, ext, b"answer"), WAN, t(2));
    let (v, p) = run(
        &mut e,
        icmp_error(CLIENT, OUTSIDE, 3, 3, &received, received.len()),
        LAN,
        t(3),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    let outer = parse(&p);
    assert_eq!(
        (outer.src, outer.dst),
        (PUBLIC, OUTSIDE),
        "the inside host is hidden"
    );
    let q = quoted(&p);
    assert_eq!((q.src, q.sport, q.dst, q.dport), (OUTSIDE, 53, PUBLIC, ext));

    // Outward from an inside router: its address is hidden too.
    let (v, p) = run(
        &mut e,
        icmp_error(INSIDE_ROUTER, OUTSIDE, 11, 0, &received, 28),
        LAN,
        t(3),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_eq!(parse(&p).src, PUBLIC);

    // Errors never create, refresh or delete sessions.
    assert_eq!(e.sessions().len(), sessions);
    e.housekeeping(t(301), 64);
    assert_eq!(
        e.sessions().len(),
        0,
        "errors at t=2..3 did not refresh the t=1 session"
    );
}

#[test]
fn n12_icmp_error_tcp_and_echo_and_dnat() {
    let mut e = engine(&[MASQ_WAN, FWD_443], small_config());
    // TCP, quoted with only 8 bytes of L4 (the checksum is not quoted).
    let (_, syn) = run(&mut e, tcp(CLIENT, 7000, OUTSIDE, 80, SYN, b""), LAN, t(1));
    let (v, p) = run(&mut e, icmp_error(HOP, PUBLIC, 3, 1, &syn, 28), WAN, t(1));
    assert_eq!(v, fwd(LAN, CLIENT));
    let q = quoted(&p);
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport, q.proto),
        (CLIENT, 7000, OUTSIDE, 80, TCP)
    );
    // Echo request quoted in full: the embedded ICMP checksum is fixed.
    let (_, ping) = run(&mut e, echo(CLIENT, OUTSIDE, 0x4242, 7, true), LAN, t(1));
    let (v, p) = run(
        &mut e,
        icmp_error(HOP, PUBLIC, 11, 0, &ping, ping.len()),
        WAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let q = quoted(&p);
    assert_eq!(
        (q.src, q.dst, q.sport, q.proto),
        (CLIENT, OUTSIDE, 0x4242, ICMP)
    );
    // Port-forwarded flow: the server's error about an inbound packet.
    let (_, inb) = run(
        &mut e,
        tcp(OUTSIDE_B, 5000, PUBLIC, 443, SYN, b""),
        WAN,
        t(1),
    );
    let (v, p) = run(
        &mut e,
        icmp_error(SERVER, OUTSIDE_B, 3, 3, &inb, inb.len()),
        LAN,
        t(1),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    let outer = parse(&p);
    assert_eq!(
        (outer.src, outer.dst),
        (PUBLIC, OUTSIDE_B),
        "the server hides behind the public address"
    );
    let q = quoted(&p);
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport),
        (OUTSIDE_B, 5000, PUBLIC, 443)
    );
}

#[test]
fn n12_icmp_error_without_session_dropped() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let bogus = udp(PUBLIC, 1111, OUTSIDE, 53, b"x");
    let (v, _) = run(&mut e, icmp_error(HOP, PUBLIC, 3, 3, &bogus, 28), WAN, t(1));
    assert_eq!(v, Verdict::Drop(DropReason::IcmpErrorNoSession));
    // Error quoting an error: no session either.
    let inner = icmp_error(HOP, PUBLIC, 3, 3, &bogus, 28);
    let (v, _) = run(&mut e, icmp_error(HOP, PUBLIC, 3, 3, &inner, 28), WAN, t(1));
    assert_eq!(v, Verdict::Drop(DropReason::IcmpErrorNoSession));
    // Truncated quote.
    let (v, _) = run(&mut e, icmp_error(HOP, PUBLIC, 3, 3, &bogus, 24), WAN, t(1));
    assert_eq!(v, Verdict::Drop(DropReason::IcmpMalformed));
    assert_eq!(e.stats().dropped(DropReason::IcmpErrorNoSession), 2);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn n13_ping_to_router_is_local_and_untranslated() {
    let mut e = engine(&[MASQ_WAN], small_config());
    for (src, dst, in_if) in [
        (OUTSIDE, PUBLIC, WAN),
        (CLIENT, ROUTER_LAN, LAN),
        (CLIENT, PUBLIC, LAN),
    ] {
        let orig = echo(src, dst, 5, 1, true);
        let (v, p) = run(&mut e, orig.clone(), in_if, t(1));
        assert_eq!(v, Verdict::Local);
        assert_eq!(p, orig);
    }
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn echo_reply_with_trailer_is_translated_and_padding_untouched() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let (_, p) = run(&mut e, echo(CLIENT, OUTSIDE, 21, 1, true), LAN, t(1));
    let ext = parse(&p).sport;
    // Ethernet padding after the IP packet.
    let mut reply = echo(OUTSIDE, PUBLIC, ext, 1, false);
    let ip_len = reply.len();
    reply.extend_from_slice(&[0xee; 10]);
    let v = e.process(&mut reply, WAN, t(1));
    assert_eq!(v, fwd(LAN, CLIENT));
    assert_eq!(&reply[ip_len..], &[0xee; 10]);
    assert_eq!(parse(&reply).sport, 21);
}

#[test]
fn malformed_packets_are_dropped_with_reasons() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (vec![0x45, 0, 0], DropReason::Ipv4Truncated),
        (
            {
                let mut p = udp(CLIENT, 1, OUTSIDE, 2, b"x");
                p[10] ^= 0xff;
                p
            },
            DropReason::Ipv4BadChecksum,
        ),
        (
            ipv4(CLIENT, OUTSIDE, TCP, 1, 0, &[0u8; 10]),
            DropReason::TcpMalformed,
        ),
        (
            ipv4(CLIENT, OUTSIDE, UDP, 1, 0, &[0u8; 4]),
            DropReason::UdpMalformed,
        ),
        (
            ipv4(CLIENT, OUTSIDE, ICMP, 1, 0, &[8, 0, 0]),
            DropReason::IcmpMalformed,
        ),
        (
            ipv4(
                Ipv4Addr::new(127, 0, 0, 1),
                OUTSIDE,
                UDP,
                1,
                0,
                &udp_datagram(CLIENT, 1, OUTSIDE, 2, b"", false),
            ),
            DropReason::Ipv4MartianSource,
        ),
    ];
    for (mut p, reason) in cases {
        assert_eq!(e.process(&mut p, LAN, t(1)), Verdict::Drop(reason));
        assert_eq!(e.stats().dropped(reason), 1, "{reason:?}");
    }
}
