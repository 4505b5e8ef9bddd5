//! Frame-level router duties (N13) and NAT through the whole pipeline.

mod pipeline_common;

use dataplane::nat::HairpinMode;
use dataplane::pipeline::{Outcome, Pipeline, PipelineConfig};
use dataplane::route::MacAddr;
use dataplane::stats::DropReason;
use pipeline_common::nat::{echo, parse, tcp, udp, ACK, ICMP, SYN, TCP, UDP};
use pipeline_common::*;

#[test]
fn arp_request_for_router_gets_exact_reply_and_learns_sender() {
    let mut p = pipeline(&[MASQ_WAN]);
    let mut sink = Sink::default();
    let reply = introduce_client(&mut p, &mut sink, t(0));
    let expected = arp_frame(CLIENT_MAC, 2, LAN1_MAC, ROUTER_LAN1, CLIENT_MAC, CLIENT);
    assert_eq!(reply, expected);
    assert_eq!(sink.freed, 1, "the request buffer is given back");
    assert!(p.neighbors().get(CLIENT, t(0)).is_some());

    // A request between two other hosts only refreshes a known sender...
    let other = arp_frame(
        MacAddr::BROADCAST,
        1,
        CLIENT_MAC,
        CLIENT,
        MacAddr::ZERO,
        SERVER,
    );
    assert_eq!(p.process(LAN1, other, t(1), &mut sink), Outcome::Consumed);
    // ...and from an unknown sender it is ignored and counted.
    let other = arp_frame(
        MacAddr::BROADCAST,
        1,
        SERVER_MAC,
        SERVER,
        MacAddr::ZERO,
        CLIENT,
    );
    assert_eq!(
        p.process(LAN1, other, t(1), &mut sink),
        Outcome::Dropped(DropReason::ArpIgnored)
    );
    assert!(sink.take().is_empty());
    // Asking on LAN2 for the LAN1 address is not answered (arp_ignore=1).
    let wrong_if = arp_frame(
        MacAddr::BROADCAST,
        1,
        SERVER2_MAC,
        SERVER2,
        MacAddr::ZERO,
        ROUTER_LAN1,
    );
    p.process(LAN2, wrong_if, t(1), &mut sink);
    assert!(sink.take().is_empty());
}

#[test]
fn ping_to_router_gets_exact_echo_reply_in_place() {
    let mut p = pipeline(&[MASQ_WAN, FWD_443]);
    let mut sink = Sink::default();
    for (to, port, mac) in [
        (ROUTER_LAN1, LAN1, LAN1_MAC),
        (ROUTER_LAN2, LAN1, LAN1_MAC),
        (PUBLIC, LAN1, LAN1_MAC),
    ] {
        let req = ip_frame(mac, CLIENT_MAC, &echo(CLIENT, to, 0x77, 9, true));
        assert_eq!(p.process(port, req, t(0), &mut sink), Outcome::Sent(port));
        let out = sink.take();
        assert_eq!(out.len(), 1);
        let expected = ip_frame(CLIENT_MAC, mac, &echo(to, CLIENT, 0x77, 9, false));
        assert_eq!(out[0].0, port);
        assert_eq!(out[0].1, expected, "echo reply from {to}");
        assert!(!out[0].2, "answered in the request's own buffer");
    }
    // From the WAN side to the public address.
    let req = ip_frame(WAN_MAC, GW_MAC, &echo(OUTSIDE, PUBLIC, 1, 1, true));
    assert_eq!(p.process(WAN, req, t(0), &mut sink), Outcome::Sent(WAN));
    let out = sink.take();
    assert_eq!(
        out[0].1,
        ip_frame(GW_MAC, WAN_MAC, &echo(PUBLIC, OUTSIDE, 1, 1, false))
    );
    assert_eq!(
        p.engine().sessions().len(),
        0,
        "pinging us makes no session"
    );

    // A corrupted echo request (bad ICMP checksum) is not answered.
    let mut bad = echo(CLIENT, ROUTER_LAN1, 1, 1, true);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let f = ip_frame(LAN1_MAC, CLIENT_MAC, &bad);
    assert_eq!(
        p.process(LAN1, f, t(0), &mut sink),
        Outcome::Dropped(DropReason::IcmpMalformed)
    );
}

#[test]
fn outbound_udp_is_held_until_arp_then_masqueraded_with_correct_macs() {
    let mut p = pipeline(&[MASQ_WAN, FWD_443]);
    let mut sink = Sink::default();
    let pkt = udp(CLIENT, 5000, OUTSIDE, 53, b"query");
    let f = ip_frame(LAN1_MAC, CLIENT_MAC, &pkt);
    assert_eq!(p.process(LAN1, f, t(0), &mut sink), Outcome::Held);
    let out = sink.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, WAN);
    assert_eq!(
        out[0].1,
        arp_frame(
            MacAddr::BROADCAST,
            1,
            WAN_MAC,
            PUBLIC,
            MacAddr::ZERO,
            GATEWAY
        ),
        "exact ARP request for the next hop"
    );
    // A second packet to the same next hop is held without another request.
    let f = ip_frame(
        LAN1_MAC,
        CLIENT_MAC,
        &udp(CLIENT, 5000, OUTSIDE, 53, b"again"),
    );
    assert_eq!(p.process(LAN1, f, t(10), &mut sink), Outcome::Held);
    assert!(sink.take().is_empty(), "ARP requests are rate limited");

    // The gateway answers: both packets leave, in order.
    let ans = arp_frame(WAN_MAC, 2, GW_MAC, GATEWAY, WAN_MAC, PUBLIC);
    assert_eq!(p.process(WAN, ans, t(20), &mut sink), Outcome::Consumed);
    let out = sink.take();
    assert_eq!(out.len(), 2);
    for ((port, frame, generated), payload) in out.iter().zip([&b"query"[..], b"again"]) {
        assert_eq!(*port, WAN);
        assert!(!generated);
        assert_eq!(macs(frame), (GW_MAC, WAN_MAC));
        let ip = ip_of(frame);
        let x = parse(ip);
        assert_eq!(
            (x.src, x.sport, x.dst, x.dport, x.proto),
            (PUBLIC, 5000, OUTSIDE, 53, UDP)
        );
        assert_eq!(ttl(ip), 63);
        assert_eq!(pipeline_common::nat::l4_payload(ip), payload);
    }

    // The answer comes back; the client is unknown, so it is held and ARPed.
    let back = ip_frame(WAN_MAC, GW_MAC, &udp(OUTSIDE, 53, PUBLIC, 5000, b"answer"));
    assert_eq!(p.process(WAN, back, t(30), &mut sink), Outcome::Held);
    let out = sink.take();
    assert_eq!(
        out[0].1,
        arp_frame(
            MacAddr::BROADCAST,
            1,
            LAN1_MAC,
            ROUTER_LAN1,
            MacAddr::ZERO,
            CLIENT
        )
    );
    assert_eq!(out[0].0, LAN1);
    let ans = arp_frame(LAN1_MAC, 2, CLIENT_MAC, CLIENT, LAN1_MAC, ROUTER_LAN1);
    p.process(LAN1, ans, t(40), &mut sink);
    let out = sink.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, LAN1);
    assert_eq!(macs(&out[0].1), (CLIENT_MAC, LAN1_MAC));
    let x = parse(ip_of(&out[0].1));
    assert_eq!(
        (x.src, x.sport, x.dst, x.dport),
        (OUTSIDE, 53, CLIENT, 5000)
    );
}

#[test]
fn outbound_tcp_is_masqueraded_and_return_traffic_translated() {
    let mut p = pipeline(&[MASQ_WAN]);
    let mut sink = Sink::default();
    introduce_client(&mut p, &mut sink, t(0));
    let syn = ip_frame(
        LAN1_MAC,
        CLIENT_MAC,
        &tcp(CLIENT, 40000, OUTSIDE, 80, SYN, b""),
    );
    assert_eq!(p.process(LAN1, syn, t(0), &mut sink), Outcome::Held);
    sink.take();
    let ans = arp_frame(WAN_MAC, 2, GW_MAC, GATEWAY, WAN_MAC, PUBLIC);
    p.process(WAN, ans, t(1), &mut sink);
    let out = sink.take();
    let x = parse(ip_of(&out[0].1));
    assert_eq!(
        (x.src, x.dst, x.dport, x.flags, x.proto),
        (PUBLIC, OUTSIDE, 80, SYN, TCP)
    );
    let ext_port = x.sport;
    let synack = ip_frame(
        WAN_MAC,
        GW_MAC,
        &tcp(OUTSIDE, 80, PUBLIC, ext_port, SYN | ACK, b""),
    );
    assert_eq!(p.process(WAN, synack, t(2), &mut sink), Outcome::Sent(LAN1));
    let out = sink.take();
    assert_eq!(macs(&out[0].1), (CLIENT_MAC, LAN1_MAC));
    let x = parse(ip_of(&out[0].1));
    assert_eq!(
        (x.src, x.sport, x.dst, x.dport),
        (OUTSIDE, 80, CLIENT, 40000)
    );
    // Unsolicited TCP to the public address is local delivery, not forwarded.
    let stray = ip_frame(WAN_MAC, GW_MAC, &tcp(OUTSIDE, 80, PUBLIC, 22, SYN, b""));
    assert_eq!(
        p.process(WAN, stray, t(3), &mut sink),
        Outcome::Dropped(DropReason::LocalDelivery)
    );
    assert_eq!(p.stats().dropped(DropReason::LocalDelivery), 1);
    assert_eq!(p.stats().dropped(DropReason::NoMapping), 0);
}

#[test]
fn ttl_1_to_a_foreign_host_gets_time_exceeded_without_nat_state() {
    let mut p = pipeline(&[MASQ_WAN]);
    let mut sink = Sink::default();
    let orig = with_ttl_df(udp(CLIENT, 33434, OUTSIDE, 33434, b"probe"), 1, false);
    let f = ip_frame(LAN1_MAC, CLIENT_MAC, &orig);
    assert_eq!(
        p.process(LAN1, f, t(0), &mut sink),
        Outcome::Dropped(DropReason::TtlExceeded)
    );
    let out = sink.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, LAN1);
    assert_eq!(macs(&out[0].1), (CLIENT_MAC, LAN1_MAC));
    let ip = ip_of(&out[0].1);
    let x = parse(ip);
    assert_eq!(
        (x.src, x.dst, x.proto, x.icmp_type, x.icmp_code),
        (ROUTER_LAN1, CLIENT, ICMP, 11, 0)
    );
    assert_eq!(&ip[28..], &orig[..], "quotes exactly what the client sent");
    assert_eq!(p.engine().sessions().len(), 0);
    assert_eq!(p.stats().dropped(DropReason::TtlExceeded), 1);

    // TTL 2 leaves with TTL 1.
    introduce(&mut p, &mut sink, WAN, GATEWAY, GW_MAC, PUBLIC, t(0));
    let orig = with_ttl_df(udp(CLIENT, 33435, OUTSIDE, 33435, b"probe"), 2, false);
    let f = ip_frame(LAN1_MAC, CLIENT_MAC, &orig);
    assert_eq!(p.process(LAN1, f, t(1), &mut sink), Outcome::Sent(WAN));
    assert_eq!(ttl(ip_of(&sink.take()[0].1)), 1);
}

#[test]
fn ttl_1_through_a_port_forward_quotes_the_pre_nat_packet() {
    let mut p = pipeline(&[MASQ_WAN, FWD_443]);
    let mut sink = Sink::default();
    let orig = with_ttl_df(tcp(OUTSIDE, 40000, PUBLIC, 443, SYN, b""), 1, true);
    let f = ip_frame(WAN_MAC, GW_MAC, &orig);
    assert_eq!(
        p.process(WAN, f, t(0), &mut sink),
        Outcome::Dropped(DropReason::TtlExceeded)
    );
    let out = sink.take();
    assert_eq!(out[0].0, WAN);
    assert_eq!(macs(&out[0].1), (GW_MAC, WAN_MAC));
    let ip = ip_of(&out[0].1);
    let x = parse(ip);
    assert_eq!((x.src, x.dst, x.icmp_type), (PUBLIC, OUTSIDE, 11));
    assert_eq!(
        &ip[28..],
        &orig[..],
        "quote names the public address, not the server"
    );
}

#[test]
fn df_over_egress_mtu_gets_frag_needed_and_df_clear_is_fragmented() {
    let snap = snapshot_with(&[MASQ_WAN], nat_config(), 1400);
    let mut p: Pipeline<Vec<u8>> =
        Pipeline::new(snap, PipelineConfig::default(), single(), 1).unwrap();
    let mut sink = Sink::default();
    introduce(&mut p, &mut sink, WAN, GATEWAY, GW_MAC, PUBLIC, t(0));
    let payload = vec![0xab; 1472];
    let orig = with_ttl_df(udp(CLIENT, 7000, OUTSIDE, 9, &payload), 64, true);
    assert_eq!(orig.len(), 1500);
    let f = ip_frame(LAN1_MAC, CLIENT_MAC, &orig);
    assert_eq!(
        p.process(LAN1, f, t(0), &mut sink),
        Outcome::Dropped(DropReason::FragNeeded)
    );
    let out = sink.take();
    assert_eq!(out.len(), 1);
    assert_eq!(macs(&out[0].1), (CLIENT_MAC, LAN1_MAC));
    let ip = ip_of(&out[0].1);
    let x = parse(ip);
    assert_eq!(
        (x.src, x.dst, x.icmp_type, x.icmp_code),
        (ROUTER_LAN1, CLIENT, 3, 4)
    );
    assert_eq!(u16::from_be_bytes([ip[26], ip[27]]), 1400, "next-hop MTU");
    assert_eq!(ip.len(), 576);
    assert_eq!(&ip[28..], &orig[..548]);

    // Same size without DF: fragmented, translated, reassembles to the original payload.
    let orig = with_ttl_df(udp(CLIENT, 7000, OUTSIDE, 9, &payload), 64, false);
    let f = ip_frame(LAN1_MAC, CLIENT_MAC, &orig);
    assert_eq!(p.process(LAN1, f, t(1), &mut sink), Outcome::Sent(WAN));
    let out = sink.take();
    assert_eq!(out.len(), 2);
    let mut data = Vec::new();
    for (port, frame, _) in &out {
        assert_eq!(*port, WAN);
        assert_eq!(macs(frame), (GW_MAC, WAN_MAC));
        let ip = ip_of(frame);
        assert!(ip.len() <= 1400);
        assert_eq!(dataplane::wire::checksum::checksum(&ip[..20]), 0);
        assert_eq!(ttl(ip), 63);
        assert_eq!(&ip[12..16], &PUBLIC.octets());
        data.extend_from_slice(&ip[20..]);
    }
    // The reassembled UDP datagram has the translated source port and a valid checksum.
    let mut whole = orig.clone();
    whole[20..].copy_from_slice(&data);
    whole[8] = 63;
    whole[12..16].copy_from_slice(&PUBLIC.octets());
    whole[10] = 0;
    whole[11] = 0;
    let c = dataplane::wire::checksum::checksum(&whole[..20]);
    whole[10..12].copy_from_slice(&c.to_be_bytes());
    let x = parse(&whole);
    assert_eq!((x.src, x.dst, x.dport), (PUBLIC, OUTSIDE, 9));
    assert_eq!(&whole[28..], &payload[..]);
}

#[test]
fn hairpin_same_subnet_auto_shows_the_public_address_to_the_server() {
    let mut p = pipeline(&[MASQ_WAN, FWD_443]);
    assert_eq!(p.snapshot().nat.hairpin, HairpinMode::Auto);
    let mut sink = Sink::default();
    introduce(
        &mut p,
        &mut sink,
        LAN1,
        SERVER,
        SERVER_MAC,
        ROUTER_LAN1,
        t(0),
    );
    introduce_client(&mut p, &mut sink, t(0));
    let syn = ip_frame(
        LAN1_MAC,
        CLIENT_MAC,
        &tcp(CLIENT, 50000, PUBLIC, 443, SYN, b""),
    );
    assert_eq!(p.process(LAN1, syn, t(1), &mut sink), Outcome::Sent(LAN1));
    let out = sink.take();
    assert_eq!(macs(&out[0].1), (SERVER_MAC, LAN1_MAC));
    let x = parse(ip_of(&out[0].1));
    assert_eq!((x.src, x.dst, x.dport), (PUBLIC, SERVER, 443));
    let synack = ip_frame(
        LAN1_MAC,
        SERVER_MAC,
        &tcp(SERVER, 443, PUBLIC, x.sport, SYN | ACK, b""),
    );
    assert_eq!(
        p.process(LAN1, synack, t(2), &mut sink),
        Outcome::Sent(LAN1)
    );
    let out = sink.take();
    assert_eq!(macs(&out[0].1), (CLIENT_MAC, LAN1_MAC));
    let y = parse(ip_of(&out[0].1));
    assert_eq!(
        (y.src, y.sport, y.dst, y.dport),
        (PUBLIC, 443, CLIENT, 50000)
    );
}

#[test]
fn hairpin_same_subnet_routeros_style_needs_the_rule() {
    let nat = dataplane::nat::NatConfig {
        hairpin: HairpinMode::Rules,
        ..nat_config()
    };
    for (rules, expect_src) in [
        (&[MASQ_WAN, FWD_443, HAIRPIN_RULE][..], ROUTER_LAN1),
        (&[MASQ_WAN, FWD_443][..], CLIENT),
    ] {
        let snap = snapshot_with(rules, nat.clone(), 1500);
        let mut p: Pipeline<Vec<u8>> =
            Pipeline::new(snap, PipelineConfig::default(), single(), 2).unwrap();
        let mut sink = Sink::default();
        introduce(
            &mut p,
            &mut sink,
            LAN1,
            SERVER,
            SERVER_MAC,
            ROUTER_LAN1,
            t(0),
        );
        let syn = ip_frame(
            LAN1_MAC,
            CLIENT_MAC,
            &tcp(CLIENT, 50000, PUBLIC, 443, SYN, b""),
        );
        assert_eq!(p.process(LAN1, syn, t(1), &mut sink), Outcome::Sent(LAN1));
        let out = sink.take();
        assert_eq!(macs(&out[0].1), (SERVER_MAC, LAN1_MAC));
        let x = parse(ip_of(&out[0].1));
        assert_eq!((x.src, x.dst, x.dport), (expect_src, SERVER, 443));
    }
}

#[test]
fn hairpin_to_another_subnet_works_without_a_rule() {
    let nat = dataplane::nat::NatConfig {
        hairpin: HairpinMode::Rules,
        ..nat_config()
    };
    let snap = snapshot_with(&[MASQ_WAN, FWD_443_LAN2], nat, 1500);
    let mut p: Pipeline<Vec<u8>> =
        Pipeline::new(snap, PipelineConfig::default(), single(), 3).unwrap();
    let mut sink = Sink::default();
    introduce(
        &mut p,
        &mut sink,
        LAN2,
        SERVER2,
        SERVER2_MAC,
        ROUTER_LAN2,
        t(0),
    );
    introduce_client(&mut p, &mut sink, t(0));
    let syn = ip_frame(
        LAN1_MAC,
        CLIENT_MAC,
        &tcp(CLIENT, 50000, PUBLIC, 443, SYN, b""),
    );
    assert_eq!(p.process(LAN1, syn, t(1), &mut sink), Outcome::Sent(LAN2));
    let out = sink.take();
    assert_eq!(macs(&out[0].1), (SERVER2_MAC, LAN2_MAC));
    let x = parse(ip_of(&out[0].1));
    assert_eq!((x.src, x.dst), (CLIENT, SERVER2));
    let synack = ip_frame(
        LAN2_MAC,
        SERVER2_MAC,
        &tcp(SERVER2, 443, CLIENT, 50000, SYN | ACK, b""),
    );
    assert_eq!(
        p.process(LAN2, synack, t(2), &mut sink),
        Outcome::Sent(LAN1)
    );
    let y = parse(ip_of(&sink.take()[0].1));
    assert_eq!((y.src, y.sport, y.dst), (PUBLIC, 443, CLIENT));
}

#[test]
fn non_ipv4_is_counted_and_dropped_or_passed_through() {
    let ipv6 = eth(LAN1_MAC, CLIENT_MAC, 0x86dd, &[0x60; 40]);
    let mut p = pipeline(&[MASQ_WAN]);
    let mut sink = Sink::default();
    assert_eq!(
        p.process(LAN1, ipv6.clone(), t(0), &mut sink),
        Outcome::Dropped(DropReason::EthUnsupportedType)
    );
    assert_eq!(p.stats().dropped(DropReason::EthUnsupportedType), 1);
    assert_eq!(sink.freed, 1);

    let cfg = PipelineConfig {
        pass_non_ip: vec![Some(WAN), None, Some(LAN1)],
        ..PipelineConfig::default()
    };
    let mut p: Pipeline<Vec<u8>> = Pipeline::new(snapshot(&[]), cfg, single(), 4).unwrap();
    assert_eq!(
        p.process(LAN1, ipv6.clone(), t(0), &mut sink),
        Outcome::Sent(WAN)
    );
    assert_eq!(sink.take()[0].1, ipv6, "passed through unchanged");
    let ipv6_lan2 = eth(LAN2_MAC, SERVER2_MAC, 0x86dd, &[0x60; 40]);
    assert_eq!(
        p.process(LAN2, ipv6_lan2, t(0), &mut sink),
        Outcome::Dropped(DropReason::EthUnsupportedType)
    );
}

#[test]
fn frames_for_other_macs_and_broadcast_ip_are_not_forwarded() {
    let mut p = pipeline(&[MASQ_WAN]);
    let mut sink = Sink::default();
    let other = ip_frame(SERVER_MAC, CLIENT_MAC, &udp(CLIENT, 1, OUTSIDE, 2, b"x"));
    assert_eq!(
        p.process(LAN1, other, t(0), &mut sink),
        Outcome::Dropped(DropReason::EthNotForUs)
    );
    let bcast = ip_frame(
        MacAddr::BROADCAST,
        CLIENT_MAC,
        &udp(CLIENT, 68, std::net::Ipv4Addr::BROADCAST, 67, b"dhcp"),
    );
    assert_eq!(
        p.process(LAN1, bcast, t(0), &mut sink),
        Outcome::Dropped(DropReason::LocalDelivery)
    );
    let directed = ip_frame(
        LAN1_MAC,
        CLIENT_MAC,
        &udp(CLIENT, 137, "192.168.89.255".parse().unwrap(), 137, b"nb"),
    );
    assert_eq!(
        p.process(LAN1, directed, t(0), &mut sink),
        Outcome::Dropped(DropReason::LocalDelivery)
    );
    // Bad IPv4 header checksum.
    let mut bad = udp(CLIENT, 1, OUTSIDE, 2, b"x");
    bad[10] ^= 1;
    assert_eq!(
        p.process(LAN1, ip_frame(LAN1_MAC, CLIENT_MAC, &bad), t(0), &mut sink),
        Outcome::Dropped(DropReason::Ipv4BadChecksum)
    );
    assert!(sink.take().is_empty());
    assert_eq!(sink.freed, 4);
}

#[test]
fn unanswered_arp_gives_up_and_drops_held_packets() {
    let mut p = pipeline(&[MASQ_WAN]);
    let mut sink = Sink::default();
    let f = ip_frame(LAN1_MAC, CLIENT_MAC, &udp(CLIENT, 1, OUTSIDE, 2, b"x"));
    assert_eq!(p.process(LAN1, f, t(0), &mut sink), Outcome::Held);
    assert_eq!(sink.take().len(), 1);
    let mut requests = 0;
    for s in 1..=5 {
        p.housekeeping(t(s * 1000), &mut sink);
        requests += sink.take().len();
    }
    assert_eq!(requests, 2, "retried up to max_probes (3) requests in all");
    assert_eq!(p.stats().dropped(DropReason::ArpUnresolved), 1);
    assert_eq!(sink.freed, 1);
}

#[test]
fn gratuitous_arp_for_every_address() {
    let mut p = pipeline(&[]);
    let mut sink = Sink::default();
    assert_eq!(p.announce(&mut sink), 3);
    let out = sink.take();
    assert_eq!(
        out[2],
        (
            WAN,
            arp_frame(
                MacAddr::BROADCAST,
                1,
                WAN_MAC,
                PUBLIC,
                MacAddr::ZERO,
                PUBLIC
            ),
            true
        )
    );
}
