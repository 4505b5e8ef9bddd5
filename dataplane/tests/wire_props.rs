//! Property tests for `dataplane::wire`:
//! * N16: incremental checksum update (RFC 1624 `Delta`) equals a full
//!   recompute for every rewrite a NAT does (IPv4 header, TCP, UDP incl. the
//!   zero checksum, ICMP echo identifier, MSS clamping);
//! * parse -> emit -> parse round trips for every `Repr`;
//! * no view panics on arbitrary bytes.

use dataplane::wire::arp::{ArpOp, ArpPacket, ArpRepr};
use dataplane::wire::checksum::{self, Delta};
use dataplane::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr, MacAddr};
use dataplane::wire::icmp::{self, IcmpPacket, IcmpRepr};
use dataplane::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use dataplane::wire::tcp::{TcpPacket, TcpRepr};
use dataplane::wire::udp::{UdpPacket, UdpRepr};
use dataplane::wire::{ip_proto, ParseError};
use proptest::prelude::*;
use std::net::Ipv4Addr;

const CASES: u32 = 3000;

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

/// RFC 1071 reference sum, one word at a time.
fn naive_fold(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            (c[0] as u16) << 8
        };
        acc += w as u32;
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// An IPv4 header with random fields and `opt_words` 4-byte option words.
fn ipv4_header(repr: Ipv4Repr, opts: &[u8]) -> Vec<u8> {
    let hl = 20 + opts.len();
    let mut b = vec![0u8; hl + repr.payload_len as usize];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]));
    let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
    p.set_version_and_header_len(hl as u8);
    p.set_total_len((hl + repr.payload_len as usize) as u16);
    p.options_mut().copy_from_slice(opts);
    p.fill_checksum();
    b
}

fn ipv4_repr() -> impl Strategy<Value = Ipv4Repr> {
    (
        addr(),
        addr(),
        any::<u8>(),
        0u16..64,
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        any::<(bool, bool)>(),
        0u16..8192,
    )
        .prop_map(
            |(src, dst, protocol, payload_len, ttl, dscp_ecn, ident, (df, mf), off)| Ipv4Repr {
                src,
                dst,
                protocol,
                payload_len,
                ttl,
                dscp_ecn,
                ident,
                dont_frag: df,
                more_frags: mf,
                frag_offset: off << 3,
            },
        )
}

fn opts() -> impl Strategy<Value = Vec<u8>> {
    (0usize..=10).prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 4))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn fast_sum_equals_rfc1071_reference(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert_eq!(checksum::fold(checksum::sum(&data)), naive_fold(&data));
    }

    #[test]
    fn ipv4_header_delta_equals_full_recompute(
        repr in ipv4_repr(), o in opts(), new_src in addr(), new_dst in addr(), ttl_dec in any::<bool>()
    ) {
        let mut b = ipv4_header(repr, &o);
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        prop_assert!(p.verify_checksum());
        let d = Delta::ZERO
            .replace_addr(p.src_addr(), new_src)
            .replace_addr(p.dst_addr(), new_dst);
        let inc = d.apply(p.checksum());
        p.set_src_addr(new_src);
        p.set_dst_addr(new_dst);
        p.set_checksum(inc);
        if ttl_dec {
            p.decrement_ttl();
        }
        let inc = p.checksum();
        p.fill_checksum();
        prop_assert_eq!(inc, p.checksum());
    }

    #[test]
    fn tcp_delta_equals_full_recompute(
        src in addr(), dst in addr(), sport in any::<u16>(), dport in any::<u16>(),
        seq in any::<u32>(), flags in any::<u8>(), mss in proptest::option::of(any::<u16>()),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        new_src in addr(), new_sport in any::<u16>(), new_dst in addr(), new_dport in any::<u16>(),
    ) {
        let r = TcpRepr { src_port: sport, dst_port: dport, seq, ack: !seq, flags, window: 1000, urgent: 0, mss, payload: &payload };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, src, dst);
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        // Precompiled session rewrite: source (SNAT) and destination (DNAT).
        let d = Delta::ZERO
            .replace_addr(src, new_src)
            .replace16(sport, new_sport)
            .add(Delta::ZERO.replace_addr(dst, new_dst).replace16(dport, new_dport));
        p.set_src_port(new_sport);
        p.set_dst_port(new_dport);
        let inc = d.apply(p.checksum());
        p.set_checksum(inc);
        prop_assert!(p.verify_checksum(new_src, new_dst));
        p.fill_checksum(new_src, new_dst);
        prop_assert_eq!(inc, p.checksum());
    }

    #[test]
    fn udp_delta_equals_full_recompute_including_zero(
        src in addr(), dst in addr(), sport in any::<u16>(), dport in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        no_checksum in any::<bool>(),
        new_src in addr(), new_sport in any::<u16>(),
    ) {
        let r = UdpRepr { src_port: sport, dst_port: dport, payload: &payload };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, src, dst);
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        if no_checksum {
            p.set_checksum(0);
        }
        prop_assert_ne!(r.buffer_len(), 0);
        let d = Delta::ZERO.replace_addr(src, new_src).replace16(sport, new_sport);
        p.set_src_port(new_sport);
        let inc = d.apply_udp(p.checksum());
        p.set_checksum(inc);
        if no_checksum {
            prop_assert_eq!(inc, 0);
        } else {
            prop_assert_ne!(inc, 0);
            prop_assert!(p.verify_checksum(new_src, dst));
            p.fill_checksum(new_src, dst);
            prop_assert_eq!(inc, p.checksum());
        }
    }

    /// Force the rewrite to land on a computed checksum of 0 (N16: sent as 0xFFFF).
    #[test]
    fn udp_rewrite_landing_on_zero_is_sent_as_ffff(
        src in addr(), dst in addr(), sport in any::<u16>(), dport in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64), new_src in addr(),
    ) {
        let r = UdpRepr { src_port: sport, dst_port: dport, payload: &payload };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, src, dst);
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        let hc = p.checksum();
        let addr_delta = Delta::ZERO.replace_addr(src, new_src);
        // X = ~hc + addr_delta + ~sport = ~partial; the port making
        // ~(X + new_port) == 0 is new_port = ~X = partial.
        let partial = addr_delta.replace16(sport, 0).apply(hc);
        let new_sport = partial;
        let d = addr_delta.replace16(sport, new_sport);
        // A net-zero rewrite cannot change hc (which emit never makes 0).
        prop_assume!(!d.is_zero());
        prop_assert_eq!(d.apply(hc), 0);
        p.set_src_port(new_sport);
        p.set_checksum(d.apply_udp(hc));
        prop_assert_eq!(p.checksum(), 0xFFFF);
        prop_assert!(p.verify_checksum(new_src, dst));
        p.fill_checksum(new_src, dst);
        prop_assert_eq!(p.checksum(), 0xFFFF);
    }

    #[test]
    fn reverse_delta_restores_checksum(
        src in addr(), dst in addr(), sport in any::<u16>(), new_src in addr(), new_sport in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let r = TcpRepr { src_port: sport, dst_port: 80, seq: 7, ack: 0, flags: 0x02, window: 1, urgent: 0, mss: None, payload: &payload };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, src, dst);
        let hc = TcpPacket::new_checked(&b[..]).unwrap().checksum();
        let d = Delta::ZERO.replace_addr(src, new_src).replace16(sport, new_sport);
        prop_assert_eq!(d.reverse().apply(d.apply(hc)), hc);
    }

    #[test]
    fn icmp_echo_ident_delta_equals_full_recompute(
        ident in any::<u16>(), seq in any::<u16>(), new_ident in any::<u16>(),
        data in proptest::collection::vec(any::<u8>(), 0..100), reply in any::<bool>(),
    ) {
        let r = if reply { IcmpRepr::echo_reply(ident, seq, &data) } else { IcmpRepr::echo_request(ident, seq, &data) };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b);
        let mut p = IcmpPacket::new_checked(&mut b[..]).unwrap();
        let inc = Delta::ZERO.replace16(ident, new_ident).apply(p.checksum());
        p.set_echo_ident(new_ident);
        p.set_checksum(inc);
        prop_assert!(p.verify_checksum());
        p.fill_checksum();
        prop_assert_eq!(inc, p.checksum());
    }

    #[test]
    fn mss_clamp_equals_full_recompute(
        nops in 0usize..4, mss in any::<u16>(), max in any::<u16>(), src in addr(), dst in addr(),
        payload in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        // NOPs before MSS make its value odd- or even-aligned.
        let mut opt = vec![1u8; nops];
        opt.extend_from_slice(&[2, 4]);
        opt.extend_from_slice(&mss.to_be_bytes());
        while opt.len() % 4 != 0 {
            opt.push(0);
        }
        let hl = 20 + opt.len();
        let mut b = vec![0u8; hl + payload.len()];
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.set_header_len(hl as u8);
        p.set_flags(0x02);
        p.options_mut().copy_from_slice(&opt);
        p.payload_mut().copy_from_slice(&payload);
        p.fill_checksum(src, dst);
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        prop_assert_eq!(p.mss(), Some(mss));
        let changed = p.clamp_mss(max);
        prop_assert_eq!(changed, if mss > max { Some(mss) } else { None });
        prop_assert_eq!(p.mss(), Some(mss.min(max)));
        prop_assert!(p.verify_checksum(src, dst));
        let inc = p.checksum();
        p.fill_checksum(src, dst);
        prop_assert_eq!(inc, p.checksum());
    }

    #[test]
    fn ethernet_repr_round_trip(
        src in mac(), dst in mac(), vlan in proptest::option::of(any::<u16>()), et in any::<u16>()
    ) {
        // A tagged inner EtherType of 0x8100 would be QinQ, out of scope.
        prop_assume!(et != EtherType::VLAN.0);
        let r = EthernetRepr { src, dst, vlan_tci: vlan, ethertype: EtherType(et) };
        let mut b = vec![0u8; r.buffer_len() + 4];
        r.emit(&mut EthernetFrame::new_unchecked(&mut b[..]));
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        prop_assert_eq!(f.payload_offset(), r.buffer_len());
        prop_assert_eq!(EthernetRepr::parse(&f).unwrap(), r);
    }

    #[test]
    fn arp_repr_round_trip(
        reply in any::<bool>(), sm in mac(), si in addr(), tm in mac(), ti in addr()
    ) {
        let r = ArpRepr {
            op: if reply { ArpOp::Reply } else { ArpOp::Request },
            sender_mac: sm, sender_ip: si, target_mac: tm, target_ip: ti,
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut ArpPacket::new_unchecked(&mut b[..]));
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn ipv4_repr_round_trip(repr in ipv4_repr(), o in opts()) {
        // With options: the repr skips them, and re-emitting gives the same repr.
        let b = ipv4_header(repr, &o);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        let parsed = Ipv4Repr::parse(&p).unwrap();
        prop_assert_eq!(parsed, repr);
        let mut out = vec![0u8; parsed.buffer_len() + parsed.payload_len as usize];
        parsed.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        let p2 = Ipv4Packet::new_checked(&out[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&p2).unwrap(), repr);
        prop_assert_eq!(p2.header(), &out[..20]);
    }

    #[test]
    fn tcp_repr_round_trip(
        src in addr(), dst in addr(), sport in any::<u16>(), dport in any::<u16>(),
        seq in any::<u32>(), ack in any::<u32>(), flags in any::<u8>(), window in any::<u16>(),
        urgent in any::<u16>(), mss in proptest::option::of(any::<u16>()),
        payload in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let r = TcpRepr { src_port: sport, dst_port: dport, seq, ack, flags, window, urgent, mss, payload: &payload };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, src, dst);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let parsed = TcpRepr::parse(&p, src, dst).unwrap();
        prop_assert_eq!(parsed, r);
        let mut b2 = vec![0u8; parsed.buffer_len()];
        parsed.emit(&mut b2, src, dst);
        prop_assert_eq!(b2, b);
    }

    #[test]
    fn udp_repr_round_trip(
        src in addr(), dst in addr(), sport in any::<u16>(), dport in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let r = UdpRepr { src_port: sport, dst_port: dport, payload: &payload };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, src, dst);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        prop_assert_ne!(p.checksum(), 0);
        let parsed = UdpRepr::parse(&p, src, dst).unwrap();
        prop_assert_eq!(parsed, r);
        let mut b2 = vec![0u8; parsed.buffer_len()];
        parsed.emit(&mut b2, src, dst);
        prop_assert_eq!(b2, b);
    }

    #[test]
    fn icmp_repr_round_trip(
        t in any::<u8>(), code in any::<u8>(), rest in any::<u32>(),
        data in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let r = IcmpRepr { msg_type: t, code, rest_of_header: rest, data: &data };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b);
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        prop_assert_eq!(IcmpRepr::parse(&p).unwrap(), r);
    }

    #[test]
    fn build_error_is_valid_for_any_offending_packet(
        repr in ipv4_repr(), o in opts(), t in prop_oneof![Just(3u8), Just(4), Just(5), Just(11), Just(12)],
        code in any::<u8>(), rest in any::<u32>(), out_len in 0usize..700,
    ) {
        let off = ipv4_header(repr, &o);
        let mut out = vec![0u8; out_len];
        match icmp::build_error(&mut out, Ipv4Addr::new(10, 0, 0, 1), repr.src, t, code, rest, &off) {
            Ok(len) => {
                prop_assert!(len <= icmp::MAX_ERROR_LEN);
                prop_assert!(len <= out_len);
                prop_assert_eq!(repr.frag_offset, 0);
                let ip = Ipv4Packet::new_checked(&out[..len]).unwrap();
                prop_assert!(ip.verify_checksum());
                prop_assert_eq!(ip.total_len() as usize, len);
                prop_assert_eq!(ip.ttl(), 64);
                prop_assert!(!ip.dont_frag());
                let m = IcmpPacket::new_checked(ip.payload()).unwrap();
                prop_assert!(m.verify_checksum());
                prop_assert!(m.is_error());
                prop_assert_eq!(m.rest_of_header(), rest);
                let quoted = m.data();
                prop_assert!(quoted.len() >= (20 + o.len() + 8).min(off.len()));
                prop_assert_eq!(quoted, &off[..quoted.len()]);
                let e = m.embedded().unwrap();
                prop_assert_eq!(e.src_addr(), repr.src);
            }
            Err(e) => prop_assert!(matches!(
                e,
                ParseError::IcmpErrorAboutFragment
                    | ParseError::IcmpErrorAboutNonUnicast
                    | ParseError::IcmpErrorAboutIcmpError
                    | ParseError::IcmpTruncated
                    | ParseError::BufferTooSmall
            ), "{:?}", e),
        }
    }

    /// Any bytes: constructors either fail or give a view whose accessors don't panic.
    #[test]
    fn views_never_panic_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..120)) {
        let a = Ipv4Addr::new(1, 2, 3, 4);
        if let Ok(f) = EthernetFrame::new_checked(&data[..]) {
            let _ = (f.ethertype(), f.vlan_id(), f.payload(), EthernetRepr::parse(&f));
        }
        if let Ok(p) = ArpPacket::new_checked(&data[..]) {
            let _ = ArpRepr::parse(&p);
        }
        for p in [Ipv4Packet::new_checked(&data[..]), Ipv4Packet::new_checked_quoted(&data[..])].into_iter().flatten() {
            let _ = (p.payload(), p.options(), p.validate_rfc1812(), Ipv4Repr::parse(&p), p.frag_offset());
        }
        if let Ok(p) = TcpPacket::new_checked(&data[..]) {
            let _ = (p.mss(), p.payload(), p.options(), TcpRepr::parse(&p, a, a));
        }
        if let Ok(p) = UdpPacket::new_checked(&data[..]) {
            let _ = (p.payload(), UdpRepr::parse(&p, a, a));
        }
        if let Ok(p) = IcmpPacket::new_checked(&data[..]) {
            let _ = (p.data(), p.is_error(), IcmpRepr::parse(&p));
            if let Ok(e) = p.embedded() {
                let _ = (e.payload(), e.options(), e.protocol());
            }
        }
        let mut out = [0u8; 600];
        let _ = icmp::build_error(&mut out, a, a, 11, 0, 0, &data);
        let mut m = data.clone();
        if let Ok(mut p) = TcpPacket::new_checked(&mut m[..]) {
            let _ = p.clamp_mss(536);
        }
        if let Ok(mut p) = Ipv4Packet::new_checked(&mut m[..]) {
            let _ = p.decrement_ttl();
            let _ = p.split_header_payload_mut();
        }
    }
}

#[test]
fn ip_proto_numbers() {
    assert_eq!((ip_proto::ICMP, ip_proto::TCP, ip_proto::UDP), (1, 6, 17));
}
