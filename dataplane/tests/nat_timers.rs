//! Timers and TCP session life (N7-N10), driven by the injected clock.

mod nat_common;
use nat_common::*;

use dataplane::conntrack::{Instant, TcpState};
use dataplane::nat::{Engine, NatConfig, Verdict};
use dataplane::stats::DropReason;

fn open_udp(e: &mut Engine, now: Instant) -> u16 {
    let (_, p) = run(e, udp(CLIENT, 6000, OUTSIDE, 53, b"q"), LAN, now);
    parse(&p).sport
}

#[test]
fn n7_udp_timeout_outbound_refresh_only() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let ext = open_udp(&mut e, t(0));
    // Inbound traffic does not refresh by default.
    let (v, _) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, ext, b"a"), WAN, t(200));
    assert_eq!(v, fwd(LAN, CLIENT));
    e.housekeeping(t(299), 64);
    assert_eq!(e.sessions().len(), 1);
    e.housekeeping(t(300), 64);
    assert_eq!(
        e.sessions().len(),
        0,
        "default UDP timeout 300 s from the last outbound packet"
    );
    // Outbound refreshes.
    let ext = open_udp(&mut e, t(400));
    open_udp(&mut e, t(600));
    e.housekeeping(t(899), 64);
    assert_eq!(e.sessions().len(), 1);
    let (v, _) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, ext, b"a"), WAN, t(899));
    assert_eq!(v, fwd(LAN, CLIENT));
    e.housekeeping(t(900), 64);
    assert_eq!(e.sessions().len(), 0);
    let (v, _) = run(&mut e, udp(OUTSIDE, 53, PUBLIC, ext, b"late"), WAN, t(901));
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    assert_eq!(e.stats().sessions_expired, 2);
}

#[test]
fn n7_udp_inbound_refresh_when_configured() {
    let mut cfg = small_config();
    cfg.timeouts.udp_inbound_refresh = true;
    let mut e = engine(&[MASQ_WAN], cfg);
    let ext = open_udp(&mut e, t(0));
    run(&mut e, udp(OUTSIDE, 53, PUBLIC, ext, b"a"), WAN, t(200));
    e.housekeeping(t(450), 64);
    assert_eq!(e.sessions().len(), 1);
    e.housekeeping(t(500), 64);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn n8_tcp_non_syn_never_creates_session() {
    let mut e = engine(&[MASQ_WAN, FWD_443], small_config());
    for flags in [ACK, FIN | ACK, RST, SYN | ACK, PSH | ACK] {
        let (v, _) = run(
            &mut e,
            tcp(CLIENT, 7000, OUTSIDE, 80, flags, b""),
            LAN,
            t(1),
        );
        assert_eq!(v, Verdict::Drop(DropReason::TcpNonSyn), "flags {flags:#x}");
    }
    let (v, _) = run(&mut e, tcp(OUTSIDE, 7000, PUBLIC, 443, ACK, b""), WAN, t(1));
    assert_eq!(v, Verdict::Drop(DropReason::TcpNonSyn));
    assert_eq!(e.sessions().len(), 0);
    assert_eq!(e.stats().dropped(DropReason::TcpNonSyn), 6);
}

fn handshake(e: &mut Engine, now: Instant) -> u16 {
    let (_, p) = run(e, tcp(CLIENT, 7000, OUTSIDE, 80, SYN, b""), LAN, now);
    let ext = parse(&p).sport;
    let (v, _) = run(e, tcp(OUTSIDE, 80, PUBLIC, ext, SYN | ACK, b""), WAN, now);
    assert_eq!(v, fwd(LAN, CLIENT));
    let (v, _) = run(e, tcp(CLIENT, 7000, OUTSIDE, 80, ACK, b""), LAN, now);
    assert_eq!(v, fwd(WAN, GATEWAY));
    ext
}

fn state(e: &Engine) -> Option<TcpState> {
    e.sessions().iter().next().and_then(|(_, s)| s.tcp_state())
}

#[test]
fn n8_tcp_established_timeout_2h4m() {
    let mut e = engine(&[MASQ_WAN], small_config());
    handshake(&mut e, t(0));
    assert_eq!(state(&e), Some(TcpState::Established));
    e.housekeeping(t(7439), 64);
    assert_eq!(e.sessions().len(), 1);
    e.housekeeping(t(7440), 64);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn n8_tcp_transitory_timeout_4m() {
    let mut e = engine(&[MASQ_WAN], small_config());
    // A SYN alone: half-open, transitory.
    run(&mut e, tcp(CLIENT, 7000, OUTSIDE, 80, SYN, b""), LAN, t(0));
    e.housekeeping(t(239), 64);
    assert_eq!(e.sessions().len(), 1);
    e.housekeeping(t(240), 64);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn tcp_session_close_out() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let ext = handshake(&mut e, t(0));
    run(
        &mut e,
        tcp(CLIENT, 7000, OUTSIDE, 80, FIN | ACK, b""),
        LAN,
        t(1),
    );
    let (v, _) = run(
        &mut e,
        tcp(OUTSIDE, 80, PUBLIC, ext, FIN | ACK, b""),
        WAN,
        t(1),
    );
    assert_eq!(v, fwd(LAN, CLIENT));
    let (v, _) = run(&mut e, tcp(CLIENT, 7000, OUTSIDE, 80, ACK, b""), LAN, t(1));
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_ne!(state(&e), Some(TcpState::Established));
    e.housekeeping(t(241), 64);
    assert_eq!(
        e.sessions().len(),
        0,
        "closed session lives only the transitory timeout"
    );
}

#[test]
fn tcp_session_close_in() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let ext = handshake(&mut e, t(0));
    run(
        &mut e,
        tcp(OUTSIDE, 80, PUBLIC, ext, FIN | ACK, b""),
        WAN,
        t(1),
    );
    run(
        &mut e,
        tcp(CLIENT, 7000, OUTSIDE, 80, FIN | ACK, b""),
        LAN,
        t(1),
    );
    let (v, _) = run(&mut e, tcp(OUTSIDE, 80, PUBLIC, ext, ACK, b""), WAN, t(1));
    assert_eq!(v, fwd(LAN, CLIENT));
    e.housekeeping(t(241), 64);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn tcp_session_close_simultaneous() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let ext = handshake(&mut e, t(0));
    run(
        &mut e,
        tcp(CLIENT, 7000, OUTSIDE, 80, FIN | ACK, b""),
        LAN,
        t(1),
    );
    run(
        &mut e,
        tcp(OUTSIDE, 80, PUBLIC, ext, FIN | ACK, b""),
        WAN,
        t(1),
    );
    run(&mut e, tcp(CLIENT, 7000, OUTSIDE, 80, ACK, b""), LAN, t(1));
    run(&mut e, tcp(OUTSIDE, 80, PUBLIC, ext, ACK, b""), WAN, t(1));
    e.housekeeping(t(241), 64);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn tcp_rst_translated_and_session_kept_transitory() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let ext = handshake(&mut e, t(0));
    let (v, p) = run(&mut e, tcp(OUTSIDE, 80, PUBLIC, ext, RST, b""), WAN, t(1));
    assert_eq!(v, fwd(LAN, CLIENT));
    let p = parse(&p);
    assert_eq!((p.dst, p.dport, p.flags), (CLIENT, 7000, RST));
    assert_eq!(
        e.sessions().len(),
        1,
        "RST does not delete the session (N8)"
    );
    e.housekeeping(t(240), 64);
    assert_eq!(e.sessions().len(), 1);
    e.housekeeping(t(241), 64);
    assert_eq!(e.sessions().len(), 0, "rst_timeout: transitory 240 s");
}

#[test]
fn tcp_simultaneous_open() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let (_, p) = run(&mut e, tcp(CLIENT, 7000, OUTSIDE, 80, SYN, b""), LAN, t(0));
    let ext = parse(&p).sport;
    // The peer's own SYN crosses ours.
    let (v, p) = run(&mut e, tcp(OUTSIDE, 80, PUBLIC, ext, SYN, b""), WAN, t(0));
    assert_eq!(v, fwd(LAN, CLIENT));
    assert_eq!(parse(&p).flags, SYN);
    run(
        &mut e,
        tcp(CLIENT, 7000, OUTSIDE, 80, SYN | ACK, b""),
        LAN,
        t(0),
    );
    run(
        &mut e,
        tcp(OUTSIDE, 80, PUBLIC, ext, SYN | ACK, b""),
        WAN,
        t(0),
    );
    assert_eq!(state(&e), Some(TcpState::Established));
}

#[test]
fn tcp_open_retransmit_and_reopen() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let (_, a) = run(&mut e, tcp(CLIENT, 7000, OUTSIDE, 80, SYN, b""), LAN, t(0));
    let (_, b) = run(&mut e, tcp(CLIENT, 7000, OUTSIDE, 80, SYN, b""), LAN, t(3));
    assert_eq!(a, b, "retransmitted SYN is translated identically");
    assert_eq!(e.sessions().len(), 1);
    e.housekeeping(t(300), 64);
    assert_eq!(e.sessions().len(), 0);
    let (v, _) = run(
        &mut e,
        tcp(CLIENT, 7000, OUTSIDE, 80, SYN, b""),
        LAN,
        t(301),
    );
    assert_eq!(v, fwd(WAN, GATEWAY));
    assert_eq!(e.sessions().len(), 1);
}

#[test]
fn n9_icmp_query_timeout_60s() {
    let mut e = engine(&[MASQ_WAN], small_config());
    run(&mut e, echo(CLIENT, OUTSIDE, 9, 1, true), LAN, t(0));
    e.housekeeping(t(59), 64);
    assert_eq!(e.sessions().len(), 1);
    e.housekeeping(t(60), 64);
    assert_eq!(e.sessions().len(), 0);
}

#[test]
fn n10_timeouts_configurable() {
    let mut cfg: NatConfig = small_config();
    cfg.timeouts.udp = 150;
    cfg.timeouts.icmp = 90;
    let mut e = engine(&[MASQ_WAN], cfg);
    open_udp(&mut e, t(0));
    run(&mut e, echo(CLIENT, OUTSIDE, 9, 1, true), LAN, t(0));
    e.housekeeping(t(89), 64);
    assert_eq!(e.sessions().len(), 2);
    e.housekeeping(t(90), 64);
    assert_eq!(e.sessions().len(), 1);
    e.housekeeping(t(150), 64);
    assert_eq!(e.sessions().len(), 0);
    // Validation enforces the RFC minimums.
    let mut bad = small_config();
    bad.timeouts.udp = 60;
    assert!(bad.validate().is_err());
}
