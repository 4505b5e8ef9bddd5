//! Inbound filtering (N6) and unsolicited inbound traffic.

mod nat_common;
use nat_common::*;

use dataplane::nat::{Filtering, NatConfig, Verdict};
use dataplane::stats::DropReason;

fn setup(f: Filtering) -> (dataplane::nat::Engine, u16) {
    let mut e = engine(
        &[MASQ_WAN],
        NatConfig {
            filtering: f,
            ..small_config()
        },
    );
    let (_, p) = run(&mut e, udp(CLIENT, 6000, OUTSIDE, 3478, b"bind"), LAN, t(1));
    let ext = parse(&p).sport;
    (e, ext)
}

#[test]
fn n6_filtering_modes() {
    // Endpoint-independent: anyone may reach the mapping.
    let (mut e, ext) = setup(Filtering::EndpointIndependent);
    let (v, p) = run(&mut e, udp(OUTSIDE_B, 9999, PUBLIC, ext, b"hi"), WAN, t(2));
    assert_eq!(v, fwd(LAN, CLIENT));
    let p = parse(&p);
    assert_eq!(
        (p.src, p.sport, p.dst, p.dport),
        (OUTSIDE_B, 9999, CLIENT, 6000)
    );
    // The new inbound session is tracked; its reply goes out the same mapping.
    let (v, r) = run(&mut e, udp(CLIENT, 6000, OUTSIDE_B, 9999, b"re"), LAN, t(2));
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_eq!((parse(&r).src, parse(&r).sport), (PUBLIC, ext));

    // Address-dependent: same address other port passes, other address doesn't.
    let (mut e, ext) = setup(Filtering::AddressDependent);
    let (v, p) = run(&mut e, udp(OUTSIDE, 3479, PUBLIC, ext, b"hi"), WAN, t(2));
    assert_eq!(v, fwd(LAN, CLIENT));
    assert_eq!(parse(&p).dport, 6000);
    let (v, _) = run(&mut e, udp(OUTSIDE_B, 3478, PUBLIC, ext, b"hi"), WAN, t(2));
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    assert_eq!(e.stats().dropped(DropReason::Filtered), 1);

    // Address-and-port-dependent: only the exact remote endpoint.
    let (mut e, ext) = setup(Filtering::AddressAndPortDependent);
    let (v, _) = run(&mut e, udp(OUTSIDE, 3478, PUBLIC, ext, b"ok"), WAN, t(2));
    assert_eq!(v, fwd(LAN, CLIENT));
    let (v, _) = run(&mut e, udp(OUTSIDE, 3479, PUBLIC, ext, b"no"), WAN, t(2));
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    let (v, _) = run(&mut e, udp(OUTSIDE_B, 3478, PUBLIC, ext, b"no"), WAN, t(2));
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    assert_eq!(e.stats().dropped(DropReason::Filtered), 2);
}

#[test]
fn n6_address_dependent_forgets_remote_when_sessions_expire() {
    let mut cfg = NatConfig {
        filtering: Filtering::AddressDependent,
        ..small_config()
    };
    cfg.timeouts.udp = 120;
    let mut e = engine(&[MASQ_WAN], cfg);
    let (_, p) = run(&mut e, udp(CLIENT, 6000, OUTSIDE, 3478, b"x"), LAN, t(0));
    let ext = parse(&p).sport;
    // Another session from the same client keeps the mapping alive.
    run(
        &mut e,
        udp(CLIENT, 6000, OUTSIDE_B, 3478, b"x"),
        LAN,
        t(100),
    );
    e.housekeeping(t(125), 64);
    assert_eq!(e.sessions().len(), 1);
    // OUTSIDE's session is gone, so OUTSIDE is filtered now; OUTSIDE_B not.
    let (v, _) = run(&mut e, udp(OUTSIDE, 1, PUBLIC, ext, b"x"), WAN, t(125));
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    let (v, _) = run(&mut e, udp(OUTSIDE_B, 1, PUBLIC, ext, b"x"), WAN, t(125));
    assert_eq!(v, fwd(LAN, CLIENT));
}

#[test]
fn n6_unsolicited_inbound_without_mapping_is_dropped_and_counted() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let (v, _) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, 40000, b"x"), WAN, t(1));
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    let (v, _) = run(&mut e, tcp(OUTSIDE, 53, PUBLIC, 22, SYN, b""), WAN, t(1));
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    assert_eq!(e.stats().dropped(DropReason::NoMapping), 2);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn n6_mapping_of_other_protocol_does_not_open_inbound() {
    let (mut e, ext) = setup(Filtering::EndpointIndependent);
    let (v, _) = run(&mut e, tcp(OUTSIDE, 3478, PUBLIC, ext, SYN, b""), WAN, t(2));
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
}

#[test]
fn port_shadowing_forward_wins_over_client_mapping() {
    // A LAN client binding source port 443 must not capture the forward
    // (the range includes low ports so 443 is preserved for it).
    let mut e = engine(
        &[FWD_443, MASQ_WAN],
        NatConfig {
            port_range: (1, 65535),
            ..small_config()
        },
    );
    let (_, p) = run(&mut e, tcp(CLIENT, 443, OUTSIDE, 80, SYN, b""), LAN, t(1));
    assert_eq!((parse(&p).src, parse(&p).sport), (PUBLIC, 443));
    let (v, p) = run(
        &mut e,
        tcp(OUTSIDE_B, 5555, PUBLIC, 443, SYN, b""),
        WAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, SERVER));
    assert_eq!(parse(&p).dst, SERVER);
    // The client's own flow still gets its replies.
    let (v, _) = run(
        &mut e,
        tcp(OUTSIDE, 80, PUBLIC, 443, SYN | ACK, b""),
        WAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
}

/// Regression: with the filter index as full as the session table, a new
/// session whose remote was already allowed did not add its reference, so
/// the first older session to die removed the entry while the new one still
/// lived, and the peer was filtered.
#[test]
fn n6_address_dependent_entry_outlives_older_sessions_when_index_full() {
    let mut e = engine(
        &[
            "chain=srcnat src-address=192.168.88.20 action=src-nat to-addresses=203.0.113.1",
            MASQ_WAN,
        ],
        NatConfig {
            filtering: Filtering::AddressDependent,
            table_capacity: 2,
            ..small_config()
        },
    );
    // S1: the server's mapping talks to the client (LAN to LAN, translated).
    let (v, p) = run(&mut e, udp(SERVER, 5000, CLIENT, 7000, b"s1"), LAN, t(0));
    assert_eq!(v, fwd(LAN, CLIENT));
    let ext = parse(&p).sport;
    // S2: the client reaches that mapping (allowed) and is hairpinned, so
    // it holds two filter entries; index and table are now full.
    let (v, _) = run(&mut e, udp(CLIENT, 7001, PUBLIC, ext, b"s2"), LAN, t(0));
    assert_eq!(v, fwd(LAN, SERVER));
    assert_eq!(e.sessions().len(), 2);
    // S3 after S1 and S2 timed out: the full-table insert reclaims S1; the
    // server talks to the client again through the same mapping.
    let (v, _) = run(&mut e, udp(SERVER, 5000, CLIENT, 7002, b"s3"), LAN, t(350));
    assert_eq!(v, fwd(LAN, CLIENT));
    // S2 expires; S3 still allows the client's address.
    assert_eq!(e.housekeeping(t(350), 16), 1);
    assert_eq!(e.sessions().len(), 1);
    let (v, _) = run(&mut e, udp(CLIENT, 7003, PUBLIC, ext, b"s4"), LAN, t(351));
    assert_eq!(v, fwd(LAN, SERVER));
    assert_eq!(e.stats().dropped(DropReason::Filtered), 0);
}

#[test]
fn n6_switching_to_address_dependent_counts_existing_sessions() {
    // The filter index is only kept once a snapshot asks for it; it must then
    // know the remotes of sessions opened before the switch.
    let (mut e, ext) = setup(Filtering::EndpointIndependent);
    e.set_snapshot(snapshot(
        &[MASQ_WAN],
        NatConfig {
            filtering: Filtering::AddressDependent,
            ..small_config()
        },
    ));
    let (v, p) = run(&mut e, udp(OUTSIDE, 3479, PUBLIC, ext, b"hi"), WAN, t(2));
    assert_eq!(v, fwd(LAN, CLIENT));
    assert_eq!(parse(&p).dport, 6000);
    let (v, _) = run(&mut e, udp(OUTSIDE_B, 3478, PUBLIC, ext, b"hi"), WAN, t(2));
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    assert_eq!(e.stats().dropped(DropReason::Filtered), 1);
}
