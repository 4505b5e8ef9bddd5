//! Garbage, truncated and mutated frames never panic, and every frame handed
//! in is accounted for exactly once (sent, freed or held).

mod pipeline_common;

use dataplane::pipeline::{Outcome, Pipeline};
use dataplane::stats::DropReason;
use pipeline_common::nat::{echo, tcp, udp, ACK, SYN};
use pipeline_common::*;
use proptest::prelude::*;

/// Valid frames of every kind the pipeline handles, as mutation seeds.
fn seeds() -> Vec<(u16, Vec<u8>)> {
    vec![
        (
            LAN1,
            arp_frame(
                dataplane::route::MacAddr::BROADCAST,
                1,
                CLIENT_MAC,
                CLIENT,
                dataplane::route::MacAddr::ZERO,
                ROUTER_LAN1,
            ),
        ),
        (WAN, arp_frame(WAN_MAC, 2, GW_MAC, GATEWAY, WAN_MAC, PUBLIC)),
        (
            LAN1,
            ip_frame(LAN1_MAC, CLIENT_MAC, &echo(CLIENT, ROUTER_LAN1, 1, 1, true)),
        ),
        (
            LAN1,
            ip_frame(
                LAN1_MAC,
                CLIENT_MAC,
                &udp(CLIENT, 5000, OUTSIDE, 53, b"query"),
            ),
        ),
        (
            LAN1,
            ip_frame(
                LAN1_MAC,
                CLIENT_MAC,
                &tcp(CLIENT, 40000, PUBLIC, 443, SYN, b""),
            ),
        ),
        (
            WAN,
            ip_frame(
                WAN_MAC,
                GW_MAC,
                &tcp(OUTSIDE, 80, PUBLIC, 40000, SYN | ACK, b"x"),
            ),
        ),
        (
            LAN1,
            ip_frame(
                LAN1_MAC,
                CLIENT_MAC,
                &with_ttl_df(udp(CLIENT, 1, OUTSIDE, 2, &[7; 64]), 1, true),
            ),
        ),
    ]
}

/// Runs frames through a fresh pipeline and checks the accounting invariant.
fn run(frames: Vec<(u16, Vec<u8>)>) {
    let mut p: Pipeline<Vec<u8>> = pipeline(&[MASQ_WAN, FWD_443]);
    let mut sink = Sink::default();
    let n = frames.len();
    let mut held = 0usize;
    let mut received_out = 0usize;
    for (i, (port, f)) in frames.into_iter().enumerate() {
        if p.process(port, f, t(i as u64 * 10), &mut sink) == Outcome::Held {
            held += 1;
        }
        for (_, _, generated) in sink.take() {
            if !generated {
                received_out += 1;
            }
        }
        p.housekeeping(t(i as u64 * 10), &mut sink);
        for (_, _, generated) in sink.take() {
            if !generated {
                received_out += 1;
            }
        }
    }
    let now = t(n as u64 * 10);
    let still_held: usize = p.neighbors().iter(now).map(|e| e.held).sum();
    assert!(still_held <= held);
    assert_eq!(
        received_out + sink.freed + still_held,
        n,
        "every frame is sent, freed or held exactly once"
    );
    let drops: u64 = DropReason::ALL.iter().map(|r| p.stats().dropped(*r)).sum();
    assert!(drops as usize <= n + 64, "drops {drops} for {n} frames");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(
        frames in proptest::collection::vec((0u16..5, proptest::collection::vec(any::<u8>(), 0..200)), 1..20)
    ) {
        run(frames);
    }

    #[test]
    fn random_payload_behind_our_mac_never_panics(
        frames in proptest::collection::vec(
            (0u16..3, prop_oneof![Just(0x0800u16), Just(0x0806), Just(0x8100), any::<u16>()],
             proptest::collection::vec(any::<u8>(), 0..120)),
            1..20)
    ) {
        let macs = [LAN1_MAC, LAN2_MAC, WAN_MAC];
        run(frames
            .into_iter()
            .map(|(port, et, body)| (port, eth(macs[usize::from(port)], CLIENT_MAC, et, &body)))
            .collect());
    }

    #[test]
    fn mutated_and_truncated_valid_frames_never_panic(
        picks in proptest::collection::vec((0usize..7, any::<usize>(), any::<u8>(), any::<usize>()), 1..24)
    ) {
        let seeds = seeds();
        let frames = picks
            .into_iter()
            .map(|(i, at, x, cut)| {
                let (port, mut f) = seeds[i].clone();
                let at = at % f.len();
                f[at] ^= x;
                let keep = f.len() - cut % (f.len() / 2 + 1);
                f.truncate(keep);
                (port, f)
            })
            .collect();
        run(frames);
    }
}

#[test]
fn every_drop_reason_label_is_distinct_and_pipeline_counts_truncation() {
    let mut p = pipeline(&[]);
    let mut sink = Sink::default();
    assert_eq!(
        p.process(LAN1, vec![0u8; 5], t(0), &mut sink),
        Outcome::Dropped(DropReason::EthTruncated)
    );
    let mut f = ip_frame(LAN1_MAC, CLIENT_MAC, &udp(CLIENT, 1, OUTSIDE, 2, b"abc"));
    f.truncate(30);
    assert_eq!(
        p.process(LAN1, f, t(0), &mut sink),
        Outcome::Dropped(DropReason::Ipv4Truncated)
    );
    assert_eq!(
        p.process(9, vec![0u8; 60], t(0), &mut sink),
        Outcome::Dropped(DropReason::NoRoute),
        "unknown input port"
    );
    assert_eq!(sink.freed, 3);
}
