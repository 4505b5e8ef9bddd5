//! The motivating story (seed 000): a LAN port-forward to a home server plus
//! the rule-based hairpin masquerade, compiled against a two-interface box.

use std::net::Ipv4Addr;

use dataplane::nat::rules::{
    compile, parse_rule, AddrPool, CompileContext, CompiledAction, CompiledRules, PacketMeta,
    RuleSpec,
};

const LAN: u16 = 0;
const WAN: u16 = 1;
const LAN_BIT: u32 = 1 << 0;
const WAN_BIT: u32 = 1 << 1;
const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 20);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 10);
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn ctx() -> CompileContext {
    let mut c = CompileContext::new();
    c.add_interface("lan", LAN, LAN_BIT)
        .add_interface("wan", WAN, WAN_BIT)
        .add_interface_list("LAN", LAN_BIT)
        .add_interface_list("WAN", WAN_BIT);
    c
}

fn rules() -> CompiledRules {
    let lines = [
        // Port forward, as in the story: only from the LAN side, to the public address.
        "chain=dstnat in-interface-list=LAN protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20",
        // The same forward from the internet.
        "chain=dstnat in-interface-list=WAN protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20",
        // The missing piece: hairpin masquerade.
        "chain=srcnat src-address=192.168.0.0/16 dst-address=192.168.88.20 dst-port=443 protocol=tcp action=masquerade comment=\"hairpin\"",
        // Ordinary LAN -> WAN masquerade.
        "chain=srcnat out-interface-list=WAN action=masquerade",
    ];
    let specs: Vec<RuleSpec> = lines.iter().map(|l| parse_rule(l).unwrap()).collect();
    compile(&specs, &ctx()).unwrap()
}

fn tcp(in_if: u16, out_if: Option<u16>, src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> PacketMeta {
    PacketMeta {
        in_if,
        out_if,
        src,
        dst,
        proto: 6,
        src_port: 50000,
        dst_port: dport,
        dst_is_local: dst == PUBLIC,
    }
}

#[test]
fn lan_client_to_public_address_is_forwarded_then_masqueraded() {
    let r = rules();
    // dstnat: client -> public:443 arrives on LAN.
    let hit = r
        .match_dstnat(&tcp(LAN, None, CLIENT, PUBLIC, 443))
        .unwrap();
    assert_eq!(hit.index, 0);
    let CompiledAction::DstNat {
        addrs: Some(pool),
        ports: None,
    } = *hit.action
    else {
        panic!("expected dst-nat, got {:?}", hit.action);
    };
    assert_eq!(pool.pick(0xdead_beef), SERVER);
    // After dst-nat and routing the packet leaves on LAN towards the server.
    let hit = r
        .match_srcnat(&tcp(LAN, Some(LAN), CLIENT, SERVER, 443))
        .unwrap();
    assert_eq!(hit.index, 2);
    assert_eq!(*hit.action, CompiledAction::Masquerade { ports: None });
}

#[test]
fn internet_client_is_forwarded_but_not_hairpin_masqueraded() {
    let r = rules();
    let hit = r
        .match_dstnat(&tcp(WAN, None, OUTSIDE, PUBLIC, 443))
        .unwrap();
    assert_eq!(hit.index, 1);
    // Leaves on LAN with an outside source: no srcnat rule applies.
    assert!(r
        .match_srcnat(&tcp(WAN, Some(LAN), OUTSIDE, SERVER, 443))
        .is_none());
}

#[test]
fn other_ports_and_addresses_are_not_forwarded() {
    let r = rules();
    assert!(r
        .match_dstnat(&tcp(LAN, None, CLIENT, PUBLIC, 80))
        .is_none());
    assert!(r
        .match_dstnat(&tcp(LAN, None, CLIENT, OUTSIDE, 443))
        .is_none());
    let mut udp = tcp(LAN, None, CLIENT, PUBLIC, 443);
    udp.proto = 17;
    assert!(r.match_dstnat(&udp).is_none());
}

#[test]
fn lan_to_internet_uses_the_wan_masquerade() {
    let r = rules();
    assert!(r
        .match_dstnat(&tcp(LAN, None, CLIENT, OUTSIDE, 443))
        .is_none());
    let hit = r
        .match_srcnat(&tcp(LAN, Some(WAN), CLIENT, OUTSIDE, 443))
        .unwrap();
    assert_eq!(hit.index, 3);
}

#[test]
fn seed_rules_print_back_in_routeros_syntax() {
    let s = parse_rule("chain=dstnat in-interface-list=LAN protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20").unwrap();
    assert_eq!(
        s.to_string(),
        "chain=dstnat in-interface-list=LAN protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20"
    );
    let s = parse_rule("chain=srcnat src-address=192.168.0.0/16 dst-address=192.168.88.20 dst-port=443 protocol=tcp action=masquerade comment=\"hairpin\"").unwrap();
    assert_eq!(
        s.to_string(),
        "chain=srcnat protocol=tcp src-address=192.168.0.0/16 dst-address=192.168.88.20 dst-port=443 action=masquerade comment=\"hairpin\""
    );
}

#[test]
fn pool_of_one_always_picks_it() {
    let p = match *rules().action(0).unwrap() {
        CompiledAction::DstNat { addrs: Some(p), .. } => p,
        ref a => panic!("{a:?}"),
    };
    let want: AddrPool = p;
    for h in [0, 1, u64::MAX, 0x8000_0000_0000_0000] {
        assert_eq!(want.pick(h), SERVER);
    }
}
