//! Fragments of translated flows (N14).

mod nat_common;
use nat_common::*;

use dataplane::nat::{Engine, Verdict};
use dataplane::stats::DropReason;
use dataplane::wire::checksum;
use std::net::Ipv4Addr;

/// Splits a UDP datagram into IPv4 fragments at 8-byte-aligned `cuts`.
fn fragments(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    ident: u16,
    payload: &[u8],
    cuts: &[usize],
) -> Vec<Vec<u8>> {
    let dgram = udp_datagram(src, sport, dst, dport, payload, true);
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(dgram.len());
    bounds
        .windows(2)
        .map(|w| {
            let last = w[1] == dgram.len();
            let frag = ((w[0] / 8) as u16) | if last { 0 } else { 0x2000 };
            ipv4(src, dst, UDP, ident, frag, &dgram[w[0]..w[1]])
        })
        .collect()
}

/// Reassembles fragments (any order) and checks the UDP checksum of the
/// whole datagram against the fragments' (translated) addresses.
fn reassemble(frags: &[Vec<u8>]) -> (Ipv4Addr, Ipv4Addr, Vec<u8>) {
    let mut data = vec![0u8; 0];
    let mut src = Ipv4Addr::UNSPECIFIED;
    let mut dst = Ipv4Addr::UNSPECIFIED;
    for f in frags {
        let p = parse(f);
        if src.is_unspecified() {
            (src, dst) = (p.src, p.dst);
        }
        assert_eq!(
            (p.src, p.dst),
            (src, dst),
            "every fragment translated alike"
        );
        let off = usize::from(u16::from_be_bytes([f[6], f[7]]) & 0x1fff) * 8;
        let body = &f[20..usize::from(u16::from_be_bytes([f[2], f[3]]))];
        if data.len() < off + body.len() {
            data.resize(off + body.len(), 0);
        }
        data[off..off + body.len()].copy_from_slice(body);
    }
    let s = checksum::pseudo_header_sum(src, dst, UDP, data.len() as u16) + checksum::sum(&data);
    assert_eq!(!checksum::fold(s), 0, "reassembled UDP checksum");
    (src, dst, data)
}

fn payload() -> Vec<u8> {
    (0..100u8).collect()
}

#[test]
fn n14_frag_in_order() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let frags = fragments(CLIENT, 6000, OUTSIDE, 53, 0x77, &payload(), &[32, 64]);
    let mut out = Vec::new();
    for f in frags {
        let (v, p) = run(&mut e, f, LAN, t(1));
        assert_eq!(v, fwd(WAN, GATEWAY));
        out.push(p);
    }
    let (src, dst, data) = reassemble(&out);
    assert_eq!((src, dst), (PUBLIC, OUTSIDE));
    assert_eq!(u16::from_be_bytes([data[0], data[1]]), 6000);
    assert_eq!(&data[8..], &payload()[..]);
    // Inbound fragments of the reply are translated back.
    let back = fragments(OUTSIDE, 53, PUBLIC, 6000, 0x99, &payload(), &[40]);
    let mut out = Vec::new();
    for f in back {
        let (v, p) = run(&mut e, f, WAN, t(1));
        assert_eq!(v, fwd(LAN, CLIENT));
        out.push(p);
    }
    let (src, dst, _) = reassemble(&out);
    assert_eq!((src, dst), (OUTSIDE, CLIENT));
}

fn drain(e: &mut Engine) -> Vec<(Vec<u8>, Verdict)> {
    let mut v = Vec::new();
    while let Some((b, verdict)) = e.next_released() {
        v.push((b.to_vec(), verdict));
    }
    v
}

#[test]
fn n14_frag_out_of_order() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let frags = fragments(CLIENT, 6000, OUTSIDE, 53, 0x78, &payload(), &[32, 64]);
    // Last, then middle, then the first.
    let (v, _) = run(&mut e, frags[2].clone(), LAN, t(1));
    assert_eq!(v, Verdict::Held);
    let (v, _) = run(&mut e, frags[1].clone(), LAN, t(1));
    assert_eq!(v, Verdict::Held);
    assert_eq!(e.held_fragments(), 2);
    assert!(drain(&mut e).is_empty());
    let (v, first) = run(&mut e, frags[0].clone(), LAN, t(1));
    assert_eq!(v, fwd(WAN, GATEWAY));
    let released = drain(&mut e);
    assert_eq!(released.len(), 2);
    assert!(released.iter().all(|(_, v)| *v == fwd(WAN, GATEWAY)));
    let mut all = vec![first];
    all.extend(released.into_iter().map(|(b, _)| b));
    let (src, _, data) = reassemble(&all);
    assert_eq!(src, PUBLIC);
    assert_eq!(&data[8..], &payload()[..]);
    assert_eq!(e.held_fragments(), 0);
}

#[test]
fn n14_frag_flood_is_bounded_per_source_and_expires() {
    let mut e = engine(&[MASQ_WAN], small_config());
    let cfg = e.snapshot().nat.frag;
    let attacker = Ipv4Addr::new(192, 168, 88, 66);
    let mut limited = 0;
    for id in 0..100u16 {
        let f = fragments(attacker, 1, OUTSIDE, 2, id, &payload(), &[32]).remove(1);
        match run(&mut e, f, LAN, t(1)).0 {
            Verdict::Held => {}
            Verdict::Drop(DropReason::FragmentLimit) => limited += 1,
            v => panic!("{v:?}"),
        }
    }
    assert_eq!(100 - limited, cfg.hold_per_source as usize);
    assert_eq!(e.stats().dropped(DropReason::FragmentLimit), limited as u64);
    // Someone else's out-of-order datagram still gets through.
    let frags = fragments(CLIENT, 6000, OUTSIDE, 53, 0x79, &payload(), &[32]);
    assert_eq!(run(&mut e, frags[1].clone(), LAN, t(1)).0, Verdict::Held);
    assert_eq!(
        run(&mut e, frags[0].clone(), LAN, t(1)).0,
        fwd(WAN, GATEWAY)
    );
    assert_eq!(drain(&mut e).len(), 1);
    // Unfragmented traffic is unaffected.
    assert_eq!(
        run(&mut e, udp(CLIENT_B, 1, OUTSIDE, 2, b"x"), LAN, t(1)).0,
        fwd(WAN, GATEWAY)
    );
    // The attacker's fragments time out and are counted.
    e.housekeeping(t(10), 64);
    assert_eq!(e.held_fragments(), 0);
    assert_eq!(
        e.stats().dropped(DropReason::FragmentNoFlow),
        cfg.hold_per_source as u64
    );
}

#[test]
fn n14_frag_without_first_or_malformed() {
    let mut e = engine(&[MASQ_WAN], small_config());
    // First fragment too short to hold the UDP header.
    let short = ipv4(CLIENT, OUTSIDE, UDP, 5, 0x2000, &[0u8; 0]);
    assert_eq!(
        run(&mut e, short, LAN, t(1)).0,
        Verdict::Drop(DropReason::FragmentMalformed)
    );
    // Non-last fragment with a length not a multiple of 8.
    let odd = ipv4(CLIENT, OUTSIDE, UDP, 5, 0x2000 | 3, &[0u8; 7]);
    assert_eq!(
        run(&mut e, odd, LAN, t(1)).0,
        Verdict::Drop(DropReason::FragmentMalformed)
    );
    // Beyond 65535 bytes.
    let big = ipv4(CLIENT, OUTSIDE, UDP, 5, 0x1fff, &[0u8; 16]);
    assert_eq!(
        run(&mut e, big, LAN, t(1)).0,
        Verdict::Drop(DropReason::FragmentMalformed)
    );
}

#[test]
fn reassembly_with_hairpinning() {
    let fwd_udp = "chain=dstnat protocol=udp dst-address=203.0.113.1 dst-port=5353 action=dst-nat to-addresses=192.168.88.20 to-ports=53";
    let mut e = engine(&[fwd_udp, MASQ_WAN], small_config());
    let frags = fragments(CLIENT, 6000, PUBLIC, 5353, 0x80, &payload(), &[48]);
    assert_eq!(run(&mut e, frags[1].clone(), LAN, t(1)).0, Verdict::Held);
    let (v, first) = run(&mut e, frags[0].clone(), LAN, t(1));
    assert_eq!(v, fwd(LAN, SERVER));
    let mut all = vec![first];
    all.extend(drain(&mut e).into_iter().map(|(b, _)| b));
    let (src, dst, data) = reassemble(&all);
    assert_eq!((src, dst), (PUBLIC, SERVER));
    assert_eq!(u16::from_be_bytes([data[2], data[3]]), 53);
}
