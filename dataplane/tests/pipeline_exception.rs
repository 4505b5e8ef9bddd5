//! The exception path to a host kernel interface: local services (e.g. SSH
//! to the router) work through the dataplane.

mod pipeline_common;

use dataplane::pipeline::{Exception, Outcome, Pipeline, PipelineConfig};
use dataplane::route::MacAddr;
use dataplane::stats::DropReason;
use pipeline_common::nat::{echo, parse, tcp, ACK, SYN};
use pipeline_common::*;

const EX_PORT: u16 = 3;
const EX_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
const KERNEL_MAC: MacAddr = MacAddr([0x0a, 0, 0, 0, 0, 0x99]);
const TAP_MAC: MacAddr = MacAddr([0x0a, 0, 0, 0, 0, 0x98]);

fn with_exception() -> Pipeline<Vec<u8>> {
    let cfg = PipelineConfig {
        exception: Some(Exception {
            port: EX_PORT,
            mac: EX_MAC,
            peer: TAP_MAC,
        }),
        ..PipelineConfig::default()
    };
    Pipeline::new(snapshot(&[MASQ_WAN, FWD_443]), cfg, single(), 11).unwrap()
}

#[test]
fn ssh_to_the_router_goes_to_the_kernel_and_back() {
    let mut p = with_exception();
    let mut sink = Sink::default();
    introduce_client(&mut p, &mut sink, t(0));
    let syn_ip = tcp(CLIENT, 40000, ROUTER_LAN1, 22, SYN, b"");
    let syn = ip_frame(LAN1_MAC, CLIENT_MAC, &syn_ip);
    assert_eq!(p.process(LAN1, syn, t(1), &mut sink), Outcome::Exception);
    let out = sink.take();
    assert_eq!(out[0].0, EX_PORT);
    assert_eq!(
        out[0].1,
        ip_frame(TAP_MAC, EX_MAC, &syn_ip),
        "unchanged but for the MACs; kernel MAC not learned yet"
    );

    // The kernel resolves the client: proxy ARP with our exception MAC.
    let who = arp_frame(
        MacAddr::BROADCAST,
        1,
        KERNEL_MAC,
        ROUTER_LAN1,
        MacAddr::ZERO,
        CLIENT,
    );
    assert_eq!(p.process(EX_PORT, who, t(2), &mut sink), Outcome::Answered);
    let out = sink.take();
    assert_eq!(
        out[0],
        (
            EX_PORT,
            arp_frame(KERNEL_MAC, 2, EX_MAC, CLIENT, KERNEL_MAC, ROUTER_LAN1),
            true
        )
    );

    // The kernel answers: routed to the client without NAT or TTL decrement.
    let synack_ip = tcp(ROUTER_LAN1, 22, CLIENT, 40000, SYN | ACK, b"");
    let synack = ip_frame(EX_MAC, KERNEL_MAC, &synack_ip);
    assert_eq!(
        p.process(EX_PORT, synack, t(3), &mut sink),
        Outcome::Sent(LAN1)
    );
    let out = sink.take();
    assert_eq!(out[0].1, ip_frame(CLIENT_MAC, LAN1_MAC, &synack_ip));
    let x = parse(ip_of(&out[0].1));
    assert_eq!((x.src, x.sport, x.dst), (ROUTER_LAN1, 22, CLIENT));

    // Now the kernel's MAC is known.
    let syn = ip_frame(LAN1_MAC, CLIENT_MAC, &syn_ip);
    assert_eq!(p.process(LAN1, syn, t(4), &mut sink), Outcome::Exception);
    assert_eq!(macs(&sink.take()[0].1), (KERNEL_MAC, EX_MAC));

    // Ping is still answered by the dataplane, port forwards still forward.
    let ping = ip_frame(LAN1_MAC, CLIENT_MAC, &echo(CLIENT, ROUTER_LAN1, 1, 1, true));
    assert_eq!(p.process(LAN1, ping, t(5), &mut sink), Outcome::Sent(LAN1));
    sink.take();
    introduce(
        &mut p,
        &mut sink,
        LAN1,
        SERVER,
        SERVER_MAC,
        ROUTER_LAN1,
        t(5),
    );
    let fwd = ip_frame(WAN_MAC, GW_MAC, &tcp(OUTSIDE, 1234, PUBLIC, 443, SYN, b""));
    assert_eq!(p.process(WAN, fwd, t(6), &mut sink), Outcome::Sent(LAN1));

    // Non-IP from the kernel, and packets to our own addresses, are dropped.
    let v6 = eth(EX_MAC, KERNEL_MAC, 0x86dd, &[0x60; 40]);
    assert_eq!(
        p.process(EX_PORT, v6, t(7), &mut sink),
        Outcome::Dropped(DropReason::EthUnsupportedType)
    );
    let to_self = ip_frame(
        EX_MAC,
        KERNEL_MAC,
        &tcp(ROUTER_LAN1, 1, PUBLIC, 2, SYN, b""),
    );
    assert_eq!(
        p.process(EX_PORT, to_self, t(8), &mut sink),
        Outcome::Dropped(DropReason::LocalDelivery)
    );
}
