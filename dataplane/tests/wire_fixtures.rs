//! Whole frames as a capture would show them, with checksums computed by an
//! independent implementation (Python, RFC 1071), parsed through the whole
//! view stack; plus NAT-style rewrites checked against independently
//! computed expected checksums.

use dataplane::wire::arp::{ArpOp, ArpPacket, ArpRepr};
use dataplane::wire::checksum::Delta;
use dataplane::wire::ethernet::{EtherType, EthernetFrame, MacAddr};
use dataplane::wire::icmp::{msg_type, IcmpPacket};
use dataplane::wire::ipv4::Ipv4Packet;
use dataplane::wire::tcp::{TcpFlags, TcpPacket};
use dataplane::wire::udp::UdpPacket;
use dataplane::wire::{ip_proto, l4_ports, ParseError};
use std::net::Ipv4Addr;

const TCP_SYN_FRAME: [u8; 74] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x3c, 0x7c, 0x3a, 0x40, 0x00, 0x40, 0x06, 0x6f, 0xea, 0xc0, 0xa8, 0x58, 0x14, 0x5d, 0xb8,
    0xd8, 0x22, 0xc8, 0x22, 0x01, 0xbb, 0x3a, 0x1d, 0x6e, 0x01, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
    0xfa, 0xf0, 0x4f, 0xa0, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x9a,
    0x3c, 0x41, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

const VLAN_UDP_DNS_FRAME: [u8; 75] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x81, 0x00, 0x00, 0x0a,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x39, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0xf5, 0xa1, 0xc0, 0xa8,
    0x58, 0x14, 0x08, 0x08, 0x08, 0x08, 0xd4, 0x31, 0x00, 0x35, 0x00, 0x25, 0x20, 0xcf, 0x12, 0x34,
    0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
    0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
];

const ICMP_ECHO_FRAME: [u8; 98] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x54, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x01, 0x60, 0xfb, 0xc0, 0xa8, 0x58, 0x14, 0x01, 0x01,
    0x01, 0x01, 0x08, 0x00, 0xde, 0x93, 0x0c, 0x1f, 0x00, 0x01, 0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x00,
    0x00, 0x00, 0xe5, 0xf1, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
    0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
    0x36, 0x37,
];

const ARP_REQUEST_FRAME: [u8; 60] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0x00, 0x01,
    0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x58, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x58, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

const ICMP_TIME_EXCEEDED_FRAME: [u8; 70] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x08, 0x00, 0x45, 0xc0,
    0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0xff, 0x01, 0x42, 0x04, 0xcb, 0x00, 0x71, 0xfe, 0xcb, 0x00,
    0x71, 0x01, 0x0b, 0x00, 0x50, 0x7b, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x12, 0x34,
    0x00, 0x00, 0x01, 0x11, 0x41, 0x41, 0xcb, 0x00, 0x71, 0x01, 0xc6, 0x33, 0x64, 0x07, 0x9c, 0x40,
    0x82, 0x9a, 0x00, 0x28, 0x85, 0x81,
];

const HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 20);
const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

#[test]
fn tcp_syn_frame_parses_through_the_stack() {
    let f = EthernetFrame::new_checked(&TCP_SYN_FRAME[..]).unwrap();
    assert_eq!(f.src_addr(), MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
    assert_eq!(f.ethertype(), EtherType::IPV4);
    let ip = Ipv4Packet::new_checked(f.payload()).unwrap();
    assert_eq!(ip.validate_rfc1812(), Ok(()));
    assert_eq!(ip.checksum(), 0x6fea);
    assert_eq!(
        (ip.src_addr(), ip.dst_addr()),
        (HOST, Ipv4Addr::new(93, 184, 216, 34))
    );
    assert_eq!((ip.ident(), ip.ttl(), ip.dont_frag()), (0x7c3a, 64, true));
    assert_eq!(ip.protocol(), ip_proto::TCP);
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(tcp.checksum(), 0x4fa0);
    assert!(tcp.verify_checksum(ip.src_addr(), ip.dst_addr()));
    assert_eq!((tcp.src_port(), tcp.dst_port()), (51234, 443));
    assert_eq!(tcp.flags(), TcpFlags::SYN);
    assert_eq!(tcp.mss(), Some(1460));
    assert_eq!(tcp.header_len(), 40);
}

#[test]
fn tcp_syn_snat_incremental_matches_independent_checksums() {
    let mut frame = TCP_SYN_FRAME;
    let mut f = EthernetFrame::new_checked(&mut frame[..]).unwrap();
    let mut ip = Ipv4Packet::new_checked(f.payload_mut()).unwrap();
    let dst = ip.dst_addr();
    // What the session stores: one delta for the IP header, one for TCP.
    let ip_delta = Delta::ZERO.replace_addr(HOST, PUBLIC);
    let l4_delta = ip_delta.replace16(51234, 1024);
    let c = ip_delta.apply(ip.checksum());
    ip.set_src_addr(PUBLIC);
    ip.set_checksum(c);
    assert_eq!(ip.decrement_ttl(), 63);
    assert_eq!(ip.checksum(), 0x4da5);
    let mut tcp = TcpPacket::new_checked(ip.payload_mut()).unwrap();
    tcp.set_src_port(1024);
    let c = l4_delta.apply(tcp.checksum());
    tcp.set_checksum(c);
    assert_eq!(tcp.checksum(), 0xf07d);
    assert!(tcp.verify_checksum(PUBLIC, dst));
    // MSS clamping on the untranslated SYN.
    let mut frame = TCP_SYN_FRAME;
    let mut tcp = TcpPacket::new_checked(&mut frame[34..]).unwrap();
    assert_eq!(tcp.clamp_mss(1452), Some(1460));
    assert_eq!(tcp.checksum(), 0x4fa8);
}

#[test]
fn vlan_udp_dns_frame() {
    let f = EthernetFrame::new_checked(&VLAN_UDP_DNS_FRAME[..]).unwrap();
    assert_eq!(f.vlan_id(), Some(10));
    assert_eq!(f.ethertype(), EtherType::IPV4);
    assert_eq!(f.payload_offset(), 18);
    let ip = Ipv4Packet::new_checked(f.payload()).unwrap();
    assert_eq!(ip.validate_rfc1812(), Ok(()));
    assert_eq!(ip.dst_addr(), Ipv4Addr::new(8, 8, 8, 8));
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((udp.src_port(), udp.dst_port(), udp.len()), (54321, 53, 37));
    assert_eq!(udp.checksum(), 0x20cf);
    assert!(udp.verify_checksum(HOST, ip.dst_addr()));
    assert_eq!(&udp.payload()[12..20], b"\x07example");

    let mut frame = VLAN_UDP_DNS_FRAME;
    let mut udp = UdpPacket::new_checked(&mut frame[38..]).unwrap();
    let d = Delta::ZERO
        .replace_addr(HOST, PUBLIC)
        .replace16(54321, 1024);
    udp.set_src_port(1024);
    let c = d.apply_udp(udp.checksum());
    udp.set_checksum(c);
    assert_eq!(udp.checksum(), 0xcdbb);
}

#[test]
fn icmp_echo_frame_and_ident_rewrite() {
    let f = EthernetFrame::new_checked(&ICMP_ECHO_FRAME[..]).unwrap();
    let ip = Ipv4Packet::new_checked(f.payload()).unwrap();
    assert_eq!(ip.validate_rfc1812(), Ok(()));
    assert_eq!(ip.protocol(), ip_proto::ICMP);
    let icmp = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.msg_type(), msg_type::ECHO_REQUEST);
    assert_eq!((icmp.echo_ident(), icmp.echo_seq()), (0x0c1f, 1));
    assert_eq!(icmp.checksum(), 0xde93);
    assert!(icmp.verify_checksum());
    assert_eq!(icmp.data().len(), 56);

    let mut frame = ICMP_ECHO_FRAME;
    let mut icmp = IcmpPacket::new_checked(&mut frame[34..]).unwrap();
    let c = Delta::ZERO.replace16(0x0c1f, 0x0400).apply(icmp.checksum());
    icmp.set_echo_ident(0x0400);
    icmp.set_checksum(c);
    assert_eq!(icmp.checksum(), 0xe6b2);
}

#[test]
fn padded_arp_request_frame() {
    let f = EthernetFrame::new_checked(&ARP_REQUEST_FRAME[..]).unwrap();
    assert!(f.dst_addr().is_broadcast());
    assert_eq!(f.ethertype(), EtherType::ARP);
    let arp = ArpPacket::new_checked(f.payload()).unwrap();
    let r = ArpRepr::parse(&arp).unwrap();
    assert_eq!(r.op, ArpOp::Request);
    assert_eq!(r.sender_ip, HOST);
    assert_eq!(r.target_ip, Ipv4Addr::new(192, 168, 88, 1));
    assert_eq!(r.target_mac, MacAddr::ZERO);
}

#[test]
fn icmp_time_exceeded_quotes_a_traceroute_probe() {
    let f = EthernetFrame::new_checked(&ICMP_TIME_EXCEEDED_FRAME[..]).unwrap();
    let ip = Ipv4Packet::new_checked(f.payload()).unwrap();
    assert_eq!(ip.validate_rfc1812(), Ok(()));
    let icmp = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert!(icmp.is_error());
    assert_eq!((icmp.msg_type(), icmp.code()), (11, 0));
    assert!(icmp.verify_checksum());
    // The quoted packet says 60 bytes but only 28 were quoted.
    assert_eq!(
        Ipv4Packet::new_checked(icmp.data()).unwrap_err(),
        ParseError::Ipv4TotalLenBeyondBuffer
    );
    let inner = icmp.embedded().unwrap();
    assert_eq!(inner.total_len(), 60);
    assert_eq!(inner.ttl(), 1);
    assert!(inner.verify_checksum());
    assert_eq!(inner.src_addr(), PUBLIC);
    assert_eq!(inner.protocol(), ip_proto::UDP);
    assert_eq!(inner.payload().len(), 8);
    assert_eq!(l4_ports(inner.payload()), Some((40000, 33434)));
    // The 8-byte quote is too short for the full UDP view's length check.
    assert_eq!(
        UdpPacket::new_checked(inner.payload()).unwrap_err(),
        ParseError::UdpLengthBeyondBuffer
    );
}

#[test]
fn every_prefix_of_every_frame_parses_or_errors() {
    for frame in [
        &TCP_SYN_FRAME[..],
        &VLAN_UDP_DNS_FRAME[..],
        &ICMP_ECHO_FRAME[..],
        &ARP_REQUEST_FRAME[..],
        &ICMP_TIME_EXCEEDED_FRAME[..],
    ] {
        for n in 0..=frame.len() {
            let Ok(f) = EthernetFrame::new_checked(&frame[..n]) else {
                continue;
            };
            let _ = ArpPacket::new_checked(f.payload()).map(|a| ArpRepr::parse(&a));
            let Ok(ip) = Ipv4Packet::new_checked(f.payload()) else {
                continue;
            };
            let p = ip.payload();
            let _ = TcpPacket::new_checked(p).map(|t| (t.mss(), t.payload().len()));
            let _ = UdpPacket::new_checked(p).map(|u| u.payload().len());
            let _ = IcmpPacket::new_checked(p).map(|i| i.embedded().map(|e| e.payload().len()));
            assert_eq!(
                n,
                frame.len(),
                "only the full frame has a complete IPv4 packet"
            );
        }
    }
}
