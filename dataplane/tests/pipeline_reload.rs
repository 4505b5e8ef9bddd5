//! Hot reload at the pipeline level: a new snapshot is picked up between
//! bursts; established sessions keep their old rewrite, new flows use the
//! new rules.

mod pipeline_common;

use dataplane::pipeline::{Outcome, Pipeline, PipelineConfig, SnapshotCell};
use pipeline_common::nat::{parse, udp};
use pipeline_common::*;
use std::net::Ipv4Addr;

const NEW_POOL: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

#[test]
fn reload_keeps_established_flows_and_applies_new_rules_to_new_ones() {
    let cell = SnapshotCell::new(snapshot(&[MASQ_WAN]));
    let mut p: Pipeline<Vec<u8>> =
        Pipeline::new(cell.load().0, PipelineConfig::default(), single(), 7).unwrap();
    assert!(!p.refresh(&cell), "same snapshot: nothing to swap");
    let mut sink = Sink::default();
    introduce(&mut p, &mut sink, WAN, GATEWAY, GW_MAC, PUBLIC, t(0));
    introduce_client(&mut p, &mut sink, t(0));

    let out_a = |p: &mut Pipeline<Vec<u8>>, sink: &mut Sink, sport: u16, now| {
        let f = ip_frame(LAN1_MAC, CLIENT_MAC, &udp(CLIENT, sport, OUTSIDE, 53, b"q"));
        assert_eq!(p.process(LAN1, f, t(now), sink), Outcome::Sent(WAN));
        parse(ip_of(&sink.take()[0].1))
    };
    let a = out_a(&mut p, &mut sink, 5000, 1);
    assert_eq!((a.src, a.sport), (PUBLIC, 5000));

    let rule =
        format!("chain=srcnat out-interface-list=WAN action=src-nat to-addresses={NEW_POOL}");
    cell.publish(snapshot(&[&rule]));
    assert!(p.refresh(&cell));
    assert!(!p.refresh(&cell));
    assert_eq!(p.snapshot().rules.len(), 1);

    // The established flow keeps its translation both ways.
    let a2 = out_a(&mut p, &mut sink, 5000, 2);
    assert_eq!((a2.src, a2.sport), (PUBLIC, 5000));
    let back = ip_frame(WAN_MAC, GW_MAC, &udp(OUTSIDE, 53, PUBLIC, 5000, b"a"));
    assert_eq!(p.process(WAN, back, t(3), &mut sink), Outcome::Sent(LAN1));
    let r = parse(ip_of(&sink.take()[0].1));
    assert_eq!((r.dst, r.dport), (CLIENT, 5000));

    // A new flow uses the new rule.
    let b = out_a(&mut p, &mut sink, 6000, 4);
    assert_eq!(b.src, NEW_POOL);
    assert_eq!(p.engine().sessions().len(), 2);
}

#[test]
fn a_reload_that_changes_mtu_is_seen_by_the_next_packet() {
    let cell = SnapshotCell::new(snapshot(&[MASQ_WAN]));
    let mut p: Pipeline<Vec<u8>> =
        Pipeline::new(cell.load().0, PipelineConfig::default(), single(), 8).unwrap();
    let mut sink = Sink::default();
    introduce(&mut p, &mut sink, WAN, GATEWAY, GW_MAC, PUBLIC, t(0));
    let big = with_ttl_df(udp(CLIENT, 1, OUTSIDE, 2, &[0; 1400]), 64, true);
    let f = ip_frame(LAN1_MAC, CLIENT_MAC, &big);
    assert_eq!(
        p.process(LAN1, f.clone(), t(1), &mut sink),
        Outcome::Sent(WAN)
    );
    cell.publish(snapshot_with(&[MASQ_WAN], nat_config(), 1280));
    assert!(p.refresh(&cell));
    assert_eq!(
        p.process(LAN1, f, t(2), &mut sink),
        Outcome::Dropped(dataplane::stats::DropReason::FragNeeded)
    );
}
