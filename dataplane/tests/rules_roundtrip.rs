//! Property tests: every valid `RuleSpec` prints in RouterOS syntax and
//! parses back to itself; the parser never panics on arbitrary input.

use std::net::Ipv4Addr;

use dataplane::nat::rules::{
    parse_rule, Action, AddressSpec, AddressType, Chain, Match, PortRange, RuleSpec,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_.-]{1,12}",
        // Spaces, quotes, backslashes and a leading '!' force quoting.
        "[ -~]{1,12}",
        "[\t\n a-z\"\\\\!=]{1,8}",
        "\\PC{1,8}",
    ]
}

fn neg<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<Match<T>>> {
    proptest::option::of((any::<bool>(), s).prop_map(|(negated, value)| Match { negated, value }))
}

fn addr() -> impl Strategy<Value = AddressSpec> {
    prop_oneof![
        any::<u32>().prop_map(|a| AddressSpec::Addr(Ipv4Addr::from(a))),
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            AddressSpec::Prefix(Ipv4Addr::from(a & mask), len)
        }),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| {
            AddressSpec::Range(Ipv4Addr::from(a.min(b)), Ipv4Addr::from(a.max(b)))
        }),
    ]
}

fn port_range(min: u16) -> impl Strategy<Value = PortRange> {
    (min..=u16::MAX, min..=u16::MAX).prop_map(|(a, b)| PortRange {
        lo: a.min(b),
        hi: a.max(b),
    })
}

fn ports() -> impl Strategy<Value = Vec<PortRange>> {
    proptest::collection::vec(port_range(0), 1..5)
}

/// Independent random fields, then repaired into a consistent rule the way
/// an operator would have to write it.
fn spec() -> impl Strategy<Value = RuleSpec> {
    let ifaces = (
        neg(name()),
        neg(name()),
        neg(name()),
        neg(name()),
        neg(name()),
        neg(name()),
    );
    let matchers = (
        neg(addr()),
        neg(addr()),
        neg(Just(AddressType::Local)),
        neg(prop_oneof![Just(6u8), Just(17u8), any::<u8>()]),
        neg(ports()),
        neg(ports()),
    );
    let rest = (
        any::<bool>(),
        0usize..4,
        proptest::option::of(addr()),
        proptest::option::of(port_range(1)),
        any::<bool>(),
        proptest::option::of("\\PC{0,20}|[ -~\t]{0,20}"),
    );
    (ifaces, matchers, rest).prop_map(
        |(
            (in_if, out_if, in_list, out_list, src_list, dst_list),
            (src, dst, dst_type, protocol, src_port, dst_port),
            (dstnat, action_idx, to_addresses, to_ports, disabled, comment),
        )| {
            let chain = if dstnat { Chain::DstNat } else { Chain::SrcNat };
            let action = match chain {
                Chain::SrcNat => [
                    Action::Accept,
                    Action::Masquerade,
                    Action::SrcNat,
                    Action::Netmap,
                ],
                Chain::DstNat => [
                    Action::Accept,
                    Action::DstNat,
                    Action::Netmap,
                    Action::Redirect,
                ],
            }[action_idx];
            let mut s = RuleSpec::new(chain, action);
            s.in_interface = in_if;
            s.in_interface_list = in_list;
            if chain == Chain::SrcNat {
                s.out_interface = out_if;
                s.out_interface_list = out_list;
            }
            s.src_address_list = src_list;
            s.dst_address_list = dst_list;
            s.src_address = src;
            s.dst_address = dst;
            s.dst_address_type = dst_type;
            s.protocol = protocol;
            let l4 = matches!(
                s.protocol,
                Some(Match {
                    negated: false,
                    value: 6 | 17
                })
            );
            if l4 {
                s.src_port = src_port;
                s.dst_port = dst_port;
            }
            let fallback = AddressSpec::Addr(Ipv4Addr::new(203, 0, 113, 1));
            s.to_ports = if l4 && action != Action::Accept {
                to_ports
            } else {
                None
            };
            s.to_addresses = match action {
                Action::Accept | Action::Masquerade | Action::Redirect => None,
                Action::SrcNat => Some(to_addresses.unwrap_or(fallback)),
                Action::Netmap => Some(match to_addresses {
                    Some(AddressSpec::Range(a, _)) => AddressSpec::Addr(a),
                    Some(t) => t,
                    None => fallback,
                }),
                Action::DstNat => match (to_addresses, s.to_ports) {
                    (None, None) => Some(fallback),
                    (t, _) => t,
                },
            };
            s.disabled = disabled;
            s.comment = comment;
            s
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn display_parses_back_to_the_same_spec(s in spec()) {
        prop_assert_eq!(s.check(), Ok(()));
        let text = s.to_string();
        let back = parse_rule(&text);
        prop_assert_eq!(back.as_ref(), Ok(&s), "text: {}", text);
    }

    #[test]
    fn parser_never_panics(line in "\\PC{0,80}") {
        let _ = parse_rule(&line);
    }

    /// Truncated or spliced valid lines either fail cleanly or parse to a
    /// spec whose printed form is a fixed point.
    #[test]
    fn mangled_lines_are_handled(s in spec(), cut in any::<prop::sample::Index>(), junk in "[ -~]{0,6}") {
        let text = s.to_string();
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let line = format!("{}{}{}", &text[..at], junk, &text[at..]);
        if let Ok(p) = parse_rule(&line) {
            prop_assert_eq!(parse_rule(&p.to_string()), Ok(p));
        }
        if let Err(e) = parse_rule(&line) {
            prop_assert!(e.offset <= line.len());
        }
    }
}

#[test]
fn display_quotes_only_when_needed() {
    let mut s = RuleSpec::new(Chain::SrcNat, Action::Masquerade);
    s.out_interface = Some(Match::is("ether1".into()));
    s.src_address_list = Some(Match::not("my list".into()));
    s.dst_address_list = Some(Match::is("!bang".into()));
    s.comment = Some("say \"hi\" \\o/".into());
    assert_eq!(
        s.to_string(),
        "chain=srcnat out-interface=ether1 src-address-list=!\"my list\" \
         dst-address-list=\"!bang\" action=masquerade comment=\"say \\\"hi\\\" \\\\o/\""
    );
    assert_eq!(parse_rule(&s.to_string()), Ok(s));
}

#[test]
fn display_of_every_key() {
    let line = "chain=srcnat disabled=yes in-interface=lan in-interface-list=!LAN \
                out-interface=!wan out-interface-list=WAN protocol=!47 \
                src-address=10.0.0.0/8 dst-address=!1.1.1.1-1.1.1.9 src-address-list=a \
                dst-address-list=!b dst-address-type=!local action=accept comment=\"\"";
    let s = parse_rule(line).unwrap();
    assert_eq!(s.to_string(), line);
    let line = "chain=dstnat protocol=udp src-port=!1-1023 dst-port=53,5353 \
                action=dst-nat to-addresses=10.0.0.53 to-ports=5300-5399";
    assert_eq!(parse_rule(line).unwrap().to_string(), line);
}
