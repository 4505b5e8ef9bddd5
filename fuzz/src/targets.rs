//! Fuzz target bodies. Compiled twice: by the cargo-fuzz binaries in
//! `fuzz/fuzz_targets/` and, through `#[path]`, by
//! `dataplane/tests/fuzz_regressions.rs`, which replays `fuzz/corpus/*` and
//! `fuzz/regressions/*` on stable Rust. The only property checked is the
//! dataplane's contract: no input panics, and what a view accepted, its
//! accessors can read.
//!
//! Uses only the `dataplane` crate's public, DPDK-free API.

use dataplane::conntrack::{Instant, WorkerSlice};
use dataplane::nat::rules::{compile, parse_rule, CompileContext, PacketMeta, RuleSpec};
use dataplane::nat::{Engine, HairpinMode, NatConfig, Snapshot, Verdict};
use dataplane::route::{Fib, Interfaces, Ipv4Cidr, MacAddr, StaticRoute};
use dataplane::wire::arp::{ArpPacket, ArpRepr};
use dataplane::wire::checksum;
use dataplane::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use dataplane::wire::icmp::{self, IcmpPacket, IcmpRepr};
use dataplane::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use dataplane::wire::tcp::{TcpPacket, TcpRepr};
use dataplane::wire::udp::{UdpPacket, UdpRepr};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;

fn l4(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, b: &[u8]) {
    match proto {
        6 => {
            if let Ok(t) = TcpPacket::new_checked(b) {
                black_box((t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()));
                black_box((t.flags(), t.window(), t.checksum(), t.urgent(), t.mss()));
                black_box((t.options(), t.payload(), t.verify_checksum(src, dst)));
                let _ = black_box(TcpRepr::parse(&t, src, dst));
            }
        }
        17 => {
            if let Ok(u) = UdpPacket::new_checked(b) {
                black_box((
                    u.src_port(),
                    u.dst_port(),
                    u.len(),
                    u.checksum(),
                    u.payload(),
                ));
                black_box(u.verify_checksum(src, dst));
                let _ = black_box(UdpRepr::parse(&u, src, dst));
            }
        }
        1 => {
            if let Ok(i) = IcmpPacket::new_checked(b) {
                black_box((i.msg_type(), i.code(), i.checksum(), i.rest_of_header()));
                black_box((i.echo_ident(), i.echo_seq(), i.next_hop_mtu(), i.pointer()));
                black_box((i.is_error(), i.is_echo(), i.data(), i.verify_checksum()));
                let _ = black_box(IcmpRepr::parse(&i));
                if let Ok(inner) = i.embedded() {
                    black_box((inner.src_addr(), inner.dst_addr(), inner.protocol()));
                    black_box(inner.payload());
                }
            }
        }
        _ => {}
    }
}

fn ipv4(b: &[u8]) {
    for p in [
        Ipv4Packet::new_checked(b),
        Ipv4Packet::new_checked_quoted(b),
    ]
    .into_iter()
    .flatten()
    {
        black_box((
            p.version(),
            p.header_len(),
            p.dscp_ecn(),
            p.total_len(),
            p.ident(),
        ));
        black_box((
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
            p.is_fragment(),
        ));
        black_box((p.ttl(), p.protocol(), p.checksum(), p.options(), p.header()));
        black_box((p.verify_checksum(), p.validate_rfc1812().is_ok()));
        let _ = black_box(Ipv4Repr::parse(&p));
        l4(p.protocol(), p.src_addr(), p.dst_addr(), p.payload());
    }
    // An ICMP error quoting whatever this is must build or fail cleanly.
    let mut out = [0u8; icmp::MAX_ERROR_LEN];
    if let Ok(n) = icmp::build_error(
        &mut out,
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(192, 0, 2, 2),
        3,
        1,
        0,
        b,
    ) {
        assert!(n <= out.len());
        let p = Ipv4Packet::new_checked(&out[..n]).expect("a built error parses");
        assert!(
            p.verify_checksum(),
            "a built error has a valid header checksum"
        );
    }
}

/// Every wire view over arbitrary bytes: as an Ethernet frame, as a bare
/// IPv4 packet, and as each L4 header.
pub fn wire_parse(data: &[u8]) {
    let _ = black_box(checksum::checksum(data));
    if let Ok(f) = EthernetFrame::new_checked(data) {
        black_box((
            f.dst_addr(),
            f.src_addr(),
            f.is_tagged(),
            f.vlan_id(),
            f.vlan_tci(),
        ));
        let _ = black_box(EthernetRepr::parse(&f));
        let off = f.payload_offset();
        let payload = f.payload();
        assert_eq!(
            payload.len(),
            data.len() - off,
            "payload is the rest of the frame"
        );
        match f.ethertype() {
            EtherType::ARP => {
                if let Ok(a) = ArpPacket::new_checked(payload) {
                    black_box((a.hardware_type(), a.protocol_type(), a.operation()));
                    black_box((a.sender_hw_addr(), a.sender_proto_addr()));
                    black_box((a.target_hw_addr(), a.target_proto_addr()));
                    let _ = black_box(ArpRepr::parse(&a));
                }
            }
            EtherType::IPV4 => ipv4(payload),
            _ => {}
        }
    }
    ipv4(data);
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    for proto in [1, 6, 17] {
        l4(proto, src, dst, data);
    }
}

pub const LAN: u16 = 0;
pub const WAN: u16 = 1;
pub const LAN2: u16 = 2;

/// The seed story's router (MikroTik hairpin NAT): LAN 192.168.88.1/24 with
/// the server .20, WAN 203.0.113.1/24, a second LAN 192.168.89.1/24, port 443
/// forwarded to the server, masquerade out of WAN and the RouterOS hairpin
/// masquerade rule.
pub fn seed_snapshot(hairpin: HairpinMode) -> Arc<Snapshot> {
    let c = |s: &str| s.parse::<Ipv4Cidr>().expect("cidr");
    let mut b = Interfaces::builder();
    b.add(
        "lan",
        MacAddr([2, 0, 0, 0, 0, 1]),
        &[c("192.168.88.1/24")],
        1500,
        &["LAN"],
    )
    .expect("lan");
    b.add(
        "wan",
        MacAddr([2, 0, 0, 0, 0, 2]),
        &[c("203.0.113.1/24")],
        1500,
        &["WAN"],
    )
    .expect("wan");
    b.add(
        "lan2",
        MacAddr([2, 0, 0, 0, 0, 3]),
        &[c("192.168.89.1/24")],
        1500,
        &["LAN"],
    )
    .expect("lan2");
    let ifs = b.build().expect("interfaces");
    let rules = [
        "chain=dstnat in-interface-list=LAN protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20",
        "chain=dstnat in-interface-list=WAN protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20",
        "chain=dstnat protocol=udp dst-address=203.0.113.1 dst-port=5000-5010 action=dst-nat to-addresses=192.168.89.20 to-ports=6000",
        "chain=srcnat src-address=192.168.88.0/24 dst-address=192.168.88.20 protocol=tcp dst-port=443 action=masquerade",
        "chain=srcnat out-interface-list=WAN action=masquerade",
    ];
    let specs: Vec<RuleSpec> = rules
        .iter()
        .map(|r| parse_rule(r).expect("seed rule"))
        .collect();
    let compiled = compile(&specs, &context(&ifs)).expect("seed rules compile");
    let statics = [StaticRoute {
        dst: c("0.0.0.0/0"),
        gateway: Some(Ipv4Addr::new(203, 0, 113, 254)),
        interface: None,
    }];
    let fib = Fib::build(&ifs, &statics).expect("fib");
    let mut nat = NatConfig {
        hairpin,
        table_capacity: 256,
        ..NatConfig::default()
    };
    nat.frag.hold_slots = 8;
    nat.frag.table_entries = 64;
    Arc::new(Snapshot::new(compiled, ifs, fib, nat).expect("snapshot"))
}

fn context(ifs: &Interfaces) -> CompileContext {
    let mut ctx = CompileContext::new();
    for i in ifs.iter() {
        ctx.add_interface(&i.name, i.index, i.lists);
    }
    for l in ["LAN", "WAN"] {
        if let Some(m) = ifs.list_mask(l) {
            ctx.add_interface_list(l, m);
        }
    }
    ctx
}

/// Arbitrary packets through an engine with the seed-story snapshot.
///
/// Input: byte 0 picks the hairpin mode (bit 0); then records of
/// `[in_if % 3][time step in 100 ms][len][len bytes of IPv4 packet]` until
/// the input ends (a short last record takes what is left). Packets go
/// through `process` from any interface, so both directions and hairpin
/// paths are reached; fragments are released and housekeeping runs as the
/// pipeline would. Returns (packets forwarded, sessions created) so tests
/// can check that a seed reaches the translation paths.
pub fn engine_process(data: &[u8]) -> (u64, u64) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return (0, 0);
    };
    let mut forwarded = 0u64;
    let hairpin = if mode & 1 == 0 {
        HairpinMode::Auto
    } else {
        HairpinMode::Rules
    };
    let mut e = Engine::new(seed_snapshot(hairpin), WorkerSlice::SINGLE, 0x5eed);
    let mut now = Instant::from_secs(1);
    let mut buf = [0u8; 1600];
    while rest.len() >= 3 {
        let (in_if, step, len) = (
            u16::from(rest[0] % 3),
            u64::from(rest[1]),
            usize::from(rest[2]),
        );
        rest = &rest[3..];
        let n = len.min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        now = now.add_millis(step * 100);
        match e.process(&mut buf[..n], in_if, now) {
            Verdict::Reply { len, .. } => {
                let r = e.reply_packet(len);
                assert_eq!(r.len(), len, "reply_packet returns the announced length");
                let p = Ipv4Packet::new_checked(r).expect("an engine reply parses");
                assert!(p.verify_checksum(), "an engine reply has a valid checksum");
            }
            Verdict::Forward { .. } => forwarded += 1,
            Verdict::Local | Verdict::Drop(_) | Verdict::Held => {}
        }
        while let Some((b, _)) = e.next_released() {
            black_box(b);
        }
        e.housekeeping(now, 64);
    }
    black_box(e.sessions().len());
    (forwarded, e.stats().sessions_created)
}

/// Rule lines (one per line of the input, as UTF-8 with replacement): each
/// parses or returns an error; a parsed rule prints to a line that parses to
/// the same rule; the parsed set compiles or fails cleanly, and a compiled
/// set can be matched.
pub fn rules_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut specs = Vec::new();
    for line in text.lines().take(64) {
        match parse_rule(line) {
            Ok(spec) => {
                let printed = spec.to_string();
                let again = parse_rule(&printed)
                    .unwrap_or_else(|e| panic!("printed rule {printed:?} does not parse: {e:?}"));
                assert_eq!(again, spec, "print/parse round trip of {line:?}");
                specs.push(spec);
            }
            Err(e) => {
                assert!(e.offset <= line.len(), "error offset inside the line");
            }
        }
    }
    let ifs = seed_snapshot(HairpinMode::Auto);
    let ctx = context(&ifs.interfaces);
    if let Ok(rules) = compile(&specs, &ctx) {
        for (in_if, out_if, src, dst, proto, sp, dp, local) in [
            (
                LAN,
                Some(WAN),
                [192, 168, 88, 10],
                [198, 51, 100, 7],
                6u8,
                40000u16,
                443u16,
                false,
            ),
            (
                WAN,
                None,
                [198, 51, 100, 7],
                [203, 0, 113, 1],
                6,
                5555,
                443,
                true,
            ),
            (
                LAN2,
                Some(LAN),
                [192, 168, 89, 5],
                [192, 168, 88, 20],
                17,
                53,
                53,
                false,
            ),
            (
                LAN,
                None,
                [192, 168, 88, 10],
                [203, 0, 113, 1],
                1,
                7,
                7,
                true,
            ),
        ] {
            let m = PacketMeta {
                in_if,
                out_if,
                src: Ipv4Addr::from(src),
                dst: Ipv4Addr::from(dst),
                proto,
                src_port: sp,
                dst_port: dp,
                dst_is_local: local,
            };
            if let Some(h) = rules.match_dstnat(&m) {
                black_box((h.index, h.action));
            }
            if let Some(h) = rules.match_srcnat(&m) {
                black_box((h.index, h.action));
            }
        }
    }
}
