//! RouterOS rule-line parser and the environment-independent consistency checks.
//!
//! Grammar: whitespace-separated `key=value` tokens. A value is an optional
//! `!` (negation, only on matchers) followed by either a bare run of
//! non-whitespace bytes or a double-quoted string in which `\"` and `\\` are
//! the only escapes. Each key may appear once.
//!
//! Error offsets are byte offsets into the input: the start of the token for
//! key-level errors (unknown, duplicate, missing `=`), the start of the value
//! (just after `=`) for value errors, and the start of the token of the key
//! at fault for cross-key errors (e.g. the `dst-port` token when there is no
//! protocol). A missing `chain` reports offset 0.

use std::fmt;
use std::net::Ipv4Addr;

use super::{protocol_name, Action, AddressSpec, AddressType, Chain, Match, PortRange, RuleSpec};

/// Every key the parser knows, in one table so duplicates are tracked by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Key {
    Chain,
    Action,
    InInterface,
    OutInterface,
    InInterfaceList,
    OutInterfaceList,
    SrcAddress,
    DstAddress,
    SrcAddressList,
    DstAddressList,
    DstAddressType,
    Protocol,
    SrcPort,
    DstPort,
    ToAddresses,
    ToPorts,
    Disabled,
    Comment,
}

impl Key {
    const ALL: [Key; 18] = [
        Key::Chain,
        Key::Action,
        Key::InInterface,
        Key::OutInterface,
        Key::InInterfaceList,
        Key::OutInterfaceList,
        Key::SrcAddress,
        Key::DstAddress,
        Key::SrcAddressList,
        Key::DstAddressList,
        Key::DstAddressType,
        Key::Protocol,
        Key::SrcPort,
        Key::DstPort,
        Key::ToAddresses,
        Key::ToPorts,
        Key::Disabled,
        Key::Comment,
    ];

    /// RouterOS spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Key::Chain => "chain",
            Key::Action => "action",
            Key::InInterface => "in-interface",
            Key::OutInterface => "out-interface",
            Key::InInterfaceList => "in-interface-list",
            Key::OutInterfaceList => "out-interface-list",
            Key::SrcAddress => "src-address",
            Key::DstAddress => "dst-address",
            Key::SrcAddressList => "src-address-list",
            Key::DstAddressList => "dst-address-list",
            Key::DstAddressType => "dst-address-type",
            Key::Protocol => "protocol",
            Key::SrcPort => "src-port",
            Key::DstPort => "dst-port",
            Key::ToAddresses => "to-addresses",
            Key::ToPorts => "to-ports",
            Key::Disabled => "disabled",
            Key::Comment => "comment",
        }
    }

    fn from_name(s: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Matchers accept `!`; actions, targets and metadata do not.
    const fn negatable(self) -> bool {
        !matches!(
            self,
            Key::Chain
                | Key::Action
                | Key::ToAddresses
                | Key::ToPorts
                | Key::Disabled
                | Key::Comment
        )
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a rule line was rejected. `Display` gives the operator-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseReason {
    /// A token without `=`.
    ExpectedKeyValue(String),
    UnknownKey(String),
    DuplicateKey(Key),
    EmptyValue(Key),
    UnterminatedQuote,
    /// Only `\"` and `\\` are escapes inside quotes.
    InvalidEscape(char),
    /// `key="value"x`: bytes after the closing quote.
    TrailingAfterQuote,
    NegationNotAllowed(Key),
    InvalidChain(String),
    InvalidAction(String),
    InvalidAddress(String),
    InvalidCidr(String),
    /// Malformed range or start after end.
    InvalidAddressRange(String),
    InvalidPort(String),
    /// Start after end.
    InvalidPortRange(String),
    InvalidProtocol(String),
    UnsupportedAddressType(String),
    InvalidBool(Key, String),
    MissingChain,
    /// The action needs `to-addresses` (or `to-ports` for dst-nat).
    MissingTarget(Action),
    /// The action is not allowed in this chain.
    WrongChain(Action, Chain),
    /// `out-interface(-list)` in dstnat: no routing decision exists yet.
    OutInterfaceInDstnat(Key),
    /// `src-port`/`dst-port` without `protocol=tcp|udp`.
    PortsNeedProtocol(Key),
    /// `to-ports` without `protocol=tcp|udp`.
    ToPortsNeedProtocol,
    /// `to-addresses`/`to-ports` given to an action that does not use it.
    TargetNotAllowed(Key, Action),
    /// Netmap needs an address or CIDR to map host bits onto, not a range.
    NetmapNeedsPrefix(AddressSpec),
    /// `src-port`/`dst-port` built by hand with no ranges.
    EmptyPortList(Key),
    /// Interface or list name built by hand as the empty string.
    EmptyName(Key),
    /// `to-ports=0`.
    ZeroPort,
}

impl fmt::Display for ParseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseReason as R;
        match self {
            R::ExpectedKeyValue(t) => write!(f, "expected key=value, got '{t}'"),
            R::UnknownKey(k) => write!(f, "unknown key '{k}'"),
            R::DuplicateKey(k) => write!(f, "duplicate key '{k}'"),
            R::EmptyValue(k) => write!(f, "empty value for '{k}'"),
            R::UnterminatedQuote => f.write_str("unterminated quoted value"),
            R::InvalidEscape(c) => write!(f, "invalid escape '\\{c}' in quoted value"),
            R::TrailingAfterQuote => f.write_str("unexpected characters after closing quote"),
            R::NegationNotAllowed(k) => write!(f, "'{k}' cannot be negated"),
            R::InvalidChain(v) => {
                write!(f, "invalid chain '{v}' (expected srcnat or dstnat)")
            }
            R::InvalidAction(v) => write!(
                f,
                "invalid action '{v}' (expected accept, masquerade, src-nat, dst-nat, netmap or redirect)"
            ),
            R::InvalidAddress(v) => write!(f, "invalid address '{v}'"),
            R::InvalidCidr(v) => write!(f, "invalid CIDR '{v}'"),
            R::InvalidAddressRange(v) => write!(f, "invalid address range '{v}'"),
            R::InvalidPort(v) => write!(f, "invalid port '{v}'"),
            R::InvalidPortRange(v) => write!(f, "invalid port range '{v}' (start after end)"),
            R::InvalidProtocol(v) => {
                write!(f, "invalid protocol '{v}' (expected tcp, udp, icmp or 0-255)")
            }
            R::UnsupportedAddressType(v) => {
                write!(f, "unsupported dst-address-type '{v}' (only local)")
            }
            R::InvalidBool(k, v) => write!(f, "invalid value '{v}' for {k} (expected yes or no)"),
            R::MissingChain => f.write_str("chain is required (srcnat or dstnat)"),
            R::MissingTarget(Action::DstNat) => {
                f.write_str("action=dst-nat requires to-addresses or to-ports")
            }
            R::MissingTarget(a) => write!(f, "action={} requires to-addresses", a.as_str()),
            R::WrongChain(a, _) => {
                let only = match a {
                    Action::SrcNat | Action::Masquerade => "srcnat",
                    _ => "dstnat",
                };
                write!(f, "{} only valid in chain={only}", a.as_str())
            }
            R::OutInterfaceInDstnat(k) => {
                write!(f, "{k} not valid in chain=dstnat (no routing decision yet)")
            }
            R::PortsNeedProtocol(k) => write!(f, "{k} needs protocol=tcp or udp"),
            R::ToPortsNeedProtocol => f.write_str("to-ports needs protocol=tcp or udp"),
            R::TargetNotAllowed(k, a) => write!(f, "{k} not valid with action={}", a.as_str()),
            R::NetmapNeedsPrefix(a) => {
                write!(f, "netmap to-addresses must be an address or CIDR, not '{a}'")
            }
            R::EmptyPortList(k) => write!(f, "{k} has no ports"),
            R::EmptyName(k) => write!(f, "{k} name is empty"),
            R::ZeroPort => f.write_str("to-ports cannot be 0"),
        }
    }
}

/// A rejected rule line: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleParseError {
    /// Byte offset into the input (see the module docs for which byte).
    pub offset: usize,
    pub reason: ParseReason,
}

impl fmt::Display for RuleParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for RuleParseError {}

/// One `key=value` token after unquoting.
struct Token {
    key_off: usize,
    val_off: usize,
    key: Key,
    negated: bool,
    value: String,
}

fn err<T>(offset: usize, reason: ParseReason) -> Result<T, RuleParseError> {
    Err(RuleParseError { offset, reason })
}

/// Split `line` into tokens, checking key names, `!` placement and quoting.
fn tokenize(line: &str) -> Result<Vec<Token>, RuleParseError> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let key_off = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return err(
                key_off,
                ParseReason::ExpectedKeyValue(line[key_off..i].to_string()),
            );
        }
        let key_str = &line[key_off..i];
        let Some(key) = Key::from_name(key_str) else {
            return err(key_off, ParseReason::UnknownKey(key_str.to_string()));
        };
        i += 1; // '='
        let val_off = i;
        let negated = i < b.len() && b[i] == b'!';
        if negated {
            if !key.negatable() {
                return err(val_off, ParseReason::NegationNotAllowed(key));
            }
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'"' {
            let quote_off = i;
            i += 1;
            let mut v = String::new();
            let mut run = i; // start of the unescaped run being copied
            loop {
                if i >= b.len() {
                    return err(quote_off, ParseReason::UnterminatedQuote);
                }
                match b[i] {
                    b'"' => {
                        v.push_str(&line[run..i]);
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        v.push_str(&line[run..i]);
                        let Some(c) = line[i + 1..].chars().next() else {
                            return err(quote_off, ParseReason::UnterminatedQuote);
                        };
                        if c != '"' && c != '\\' {
                            return err(i, ParseReason::InvalidEscape(c));
                        }
                        v.push(c);
                        i += 2;
                        run = i;
                    }
                    _ => i += 1,
                }
            }
            if i < b.len() && !b[i].is_ascii_whitespace() {
                return err(i, ParseReason::TrailingAfterQuote);
            }
            v
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            line[start..i].to_string()
        };
        out.push(Token {
            key_off,
            val_off,
            key,
            negated,
            value,
        });
    }
}

/// Parse one rule in RouterOS syntax, e.g.
/// `chain=dstnat in-interface-list=LAN protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20`.
///
/// `action` defaults to `accept` as in RouterOS; `chain` is required.
pub fn parse_rule(line: &str) -> Result<RuleSpec, RuleParseError> {
    let tokens = tokenize(line)?;
    let mut seen: [Option<usize>; Key::ALL.len()] = [None; Key::ALL.len()];
    let mut chain = None;
    let mut spec = RuleSpec::new(Chain::SrcNat, Action::Accept);
    for t in tokens {
        let slot = &mut seen[t.key as usize];
        if slot.is_some() {
            return err(t.key_off, ParseReason::DuplicateKey(t.key));
        }
        *slot = Some(t.key_off);
        if t.value.is_empty() && t.key != Key::Comment {
            return err(t.val_off, ParseReason::EmptyValue(t.key));
        }
        let at = |reason| RuleParseError {
            offset: t.val_off,
            reason,
        };
        let v = t.value.as_str();
        let n = t.negated;
        match t.key {
            Key::Chain => {
                chain = Some(match v {
                    "srcnat" => Chain::SrcNat,
                    "dstnat" => Chain::DstNat,
                    _ => return Err(at(ParseReason::InvalidChain(v.to_string()))),
                })
            }
            Key::Action => {
                spec.action = match v {
                    "accept" => Action::Accept,
                    "masquerade" => Action::Masquerade,
                    "src-nat" => Action::SrcNat,
                    "dst-nat" => Action::DstNat,
                    "netmap" => Action::Netmap,
                    "redirect" => Action::Redirect,
                    _ => return Err(at(ParseReason::InvalidAction(v.to_string()))),
                }
            }
            Key::InInterface => spec.in_interface = Some(mk(n, t.value.clone())),
            Key::OutInterface => spec.out_interface = Some(mk(n, t.value.clone())),
            Key::InInterfaceList => spec.in_interface_list = Some(mk(n, t.value.clone())),
            Key::OutInterfaceList => spec.out_interface_list = Some(mk(n, t.value.clone())),
            Key::SrcAddress => spec.src_address = Some(mk(n, parse_address(v).map_err(at)?)),
            Key::DstAddress => spec.dst_address = Some(mk(n, parse_address(v).map_err(at)?)),
            Key::SrcAddressList => spec.src_address_list = Some(mk(n, t.value.clone())),
            Key::DstAddressList => spec.dst_address_list = Some(mk(n, t.value.clone())),
            Key::DstAddressType => {
                if v != "local" {
                    return Err(at(ParseReason::UnsupportedAddressType(v.to_string())));
                }
                spec.dst_address_type = Some(mk(n, AddressType::Local));
            }
            Key::Protocol => spec.protocol = Some(mk(n, parse_protocol(v).map_err(at)?)),
            Key::SrcPort => spec.src_port = Some(mk(n, parse_port_list(v).map_err(at)?)),
            Key::DstPort => spec.dst_port = Some(mk(n, parse_port_list(v).map_err(at)?)),
            Key::ToAddresses => spec.to_addresses = Some(parse_address(v).map_err(at)?),
            Key::ToPorts => {
                let r = parse_port_range(v).map_err(at)?;
                if r.lo == 0 {
                    return Err(at(ParseReason::ZeroPort));
                }
                spec.to_ports = Some(r);
            }
            Key::Disabled => {
                spec.disabled = match v {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(at(ParseReason::InvalidBool(t.key, v.to_string()))),
                }
            }
            Key::Comment => spec.comment = Some(t.value),
        }
    }
    let Some(chain) = chain else {
        return err(0, ParseReason::MissingChain);
    };
    spec.chain = chain;
    if let Err((key, reason)) = check(&spec) {
        // The key at fault is present except for a missing target, where the
        // action token is the one to point at.
        let offset = seen[key as usize]
            .or(seen[Key::Action as usize])
            .unwrap_or(0);
        return err(offset, reason);
    }
    Ok(spec)
}

fn mk<T>(negated: bool, value: T) -> Match<T> {
    Match { negated, value }
}

/// Consistency checks RouterOS makes before accepting a rule.
pub(crate) fn check(s: &RuleSpec) -> Result<(), (Key, ParseReason)> {
    use ParseReason as R;
    let names = [
        (Key::InInterface, &s.in_interface),
        (Key::OutInterface, &s.out_interface),
        (Key::InInterfaceList, &s.in_interface_list),
        (Key::OutInterfaceList, &s.out_interface_list),
        (Key::SrcAddressList, &s.src_address_list),
        (Key::DstAddressList, &s.dst_address_list),
    ];
    for (k, m) in names {
        if m.as_ref().is_some_and(|m| m.value.is_empty()) {
            return Err((k, R::EmptyName(k)));
        }
    }
    if s.chain == Chain::DstNat {
        if s.out_interface.is_some() {
            return Err((
                Key::OutInterface,
                R::OutInterfaceInDstnat(Key::OutInterface),
            ));
        }
        if s.out_interface_list.is_some() {
            return Err((
                Key::OutInterfaceList,
                R::OutInterfaceInDstnat(Key::OutInterfaceList),
            ));
        }
    }
    for (k, p) in [(Key::SrcPort, &s.src_port), (Key::DstPort, &s.dst_port)] {
        if let Some(p) = p {
            if p.value.is_empty() {
                return Err((k, R::EmptyPortList(k)));
            }
            if let Some(r) = p.value.iter().find(|r| r.lo > r.hi) {
                return Err((k, R::InvalidPortRange(format!("{}-{}", r.lo, r.hi))));
            }
        }
    }
    let l4 = matches!(
        s.protocol,
        Some(Match {
            negated: false,
            value: 6 | 17
        })
    );
    if !l4 {
        if s.src_port.is_some() {
            return Err((Key::SrcPort, R::PortsNeedProtocol(Key::SrcPort)));
        }
        if s.dst_port.is_some() {
            return Err((Key::DstPort, R::PortsNeedProtocol(Key::DstPort)));
        }
    }
    let a = s.action;
    let chain_ok = match a {
        Action::Accept | Action::Netmap => true,
        Action::Masquerade | Action::SrcNat => s.chain == Chain::SrcNat,
        Action::DstNat | Action::Redirect => s.chain == Chain::DstNat,
    };
    if !chain_ok {
        return Err((Key::Action, R::WrongChain(a, s.chain)));
    }
    let (addrs_allowed, ports_allowed) = match a {
        Action::Accept => (false, false),
        Action::Masquerade | Action::Redirect => (false, true),
        Action::SrcNat | Action::DstNat | Action::Netmap => (true, true),
    };
    if s.to_addresses.is_some() && !addrs_allowed {
        return Err((Key::ToAddresses, R::TargetNotAllowed(Key::ToAddresses, a)));
    }
    if s.to_ports.is_some() && !ports_allowed {
        return Err((Key::ToPorts, R::TargetNotAllowed(Key::ToPorts, a)));
    }
    let needs_target = match a {
        Action::SrcNat | Action::Netmap => s.to_addresses.is_none(),
        Action::DstNat => s.to_addresses.is_none() && s.to_ports.is_none(),
        _ => false,
    };
    if needs_target {
        return Err((Key::ToAddresses, R::MissingTarget(a)));
    }
    if let (Action::Netmap, Some(t @ AddressSpec::Range(..))) = (a, s.to_addresses) {
        return Err((Key::ToAddresses, R::NetmapNeedsPrefix(t)));
    }
    if let Some(p) = s.to_ports {
        if p.lo > p.hi {
            return Err((
                Key::ToPorts,
                R::InvalidPortRange(format!("{}-{}", p.lo, p.hi)),
            ));
        }
        if p.lo == 0 {
            return Err((Key::ToPorts, R::ZeroPort));
        }
        if !l4 {
            return Err((Key::ToPorts, R::ToPortsNeedProtocol));
        }
    }
    Ok(())
}

/// `a.b.c.d`, `a.b.c.d/len` or `a.b.c.d-e.f.g.h`.
pub(crate) fn parse_address(v: &str) -> Result<AddressSpec, ParseReason> {
    if let Some((a, len)) = v.split_once('/') {
        let bad = || ParseReason::InvalidCidr(v.to_string());
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let len: u8 = len.parse().map_err(|_| bad())?;
        if len > 32 {
            return Err(bad());
        }
        let net = u32::from(addr) & super::prefix_mask(len);
        return Ok(AddressSpec::Prefix(Ipv4Addr::from(net), len));
    }
    if let Some((a, b)) = v.split_once('-') {
        let bad = || ParseReason::InvalidAddressRange(v.to_string());
        let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let b: Ipv4Addr = b.parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
        return Ok(AddressSpec::Range(a, b));
    }
    v.parse()
        .map(AddressSpec::Addr)
        .map_err(|_| ParseReason::InvalidAddress(v.to_string()))
}

fn parse_port(v: &str) -> Result<u16, ParseReason> {
    // Digits only: u16::from_str would also take "+80".
    if v.is_empty() || v.len() > 5 || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ParseReason::InvalidPort(v.to_string()));
    }
    v.parse()
        .map_err(|_| ParseReason::InvalidPort(v.to_string()))
}

/// `80` or `8000-8080`.
pub(crate) fn parse_port_range(v: &str) -> Result<PortRange, ParseReason> {
    match v.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (parse_port(a)?, parse_port(b)?);
            PortRange::new(lo, hi).ok_or_else(|| ParseReason::InvalidPortRange(v.to_string()))
        }
        None => parse_port(v).map(PortRange::single),
    }
}

/// `80,443,8000-8080`, order kept as written.
fn parse_port_list(v: &str) -> Result<Vec<PortRange>, ParseReason> {
    v.split(',').map(parse_port_range).collect()
}

fn parse_protocol(v: &str) -> Result<u8, ParseReason> {
    if let Some(p) = (0..=255u8).find(|&p| protocol_name(p) == Some(v)) {
        return Ok(p);
    }
    if v.is_empty() || v.len() > 3 || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ParseReason::InvalidProtocol(v.to_string()));
    }
    v.parse()
        .map_err(|_| ParseReason::InvalidProtocol(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParseReason as R;

    /// Parse and expect an error at `offset` with `reason`.
    fn fails(line: &str, offset: usize, reason: ParseReason) {
        let e = parse_rule(line).expect_err(line);
        assert_eq!(e, RuleParseError { offset, reason }, "{line}");
    }

    fn off(line: &str, needle: &str) -> usize {
        line.find(needle).expect(needle)
    }

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn minimal_rule_defaults_to_accept() {
        let s = parse_rule("chain=srcnat").unwrap();
        assert_eq!(s, RuleSpec::new(Chain::SrcNat, Action::Accept));
    }

    #[test]
    fn every_key_parses() {
        let s = parse_rule(
            "chain=srcnat in-interface=!ether1 out-interface=ether2 in-interface-list=LAN \
             out-interface-list=!WAN src-address=10.0.0.1 dst-address=!10.1.0.0/16 \
             src-address-list=!blocked dst-address-list=servers dst-address-type=!local \
             protocol=udp src-port=53 dst-port=!80,443,8000-8080 action=src-nat \
             to-addresses=203.0.113.1-203.0.113.9 to-ports=1024-65535 disabled=yes \
             comment=\"a \\\"quoted\\\" \\\\ comment\"",
        )
        .unwrap();
        assert_eq!(s.chain, Chain::SrcNat);
        assert_eq!(s.action, Action::SrcNat);
        assert_eq!(s.in_interface, Some(Match::not("ether1".to_string())));
        assert_eq!(s.out_interface, Some(Match::is("ether2".to_string())));
        assert_eq!(s.in_interface_list, Some(Match::is("LAN".to_string())));
        assert_eq!(s.out_interface_list, Some(Match::not("WAN".to_string())));
        assert_eq!(
            s.src_address,
            Some(Match::is(AddressSpec::Addr(a("10.0.0.1"))))
        );
        assert_eq!(
            s.dst_address,
            Some(Match::not(AddressSpec::Prefix(a("10.1.0.0"), 16)))
        );
        assert_eq!(s.src_address_list, Some(Match::not("blocked".to_string())));
        assert_eq!(s.dst_address_list, Some(Match::is("servers".to_string())));
        assert_eq!(s.dst_address_type, Some(Match::not(AddressType::Local)));
        assert_eq!(s.protocol, Some(Match::is(17)));
        assert_eq!(s.src_port, Some(Match::is(vec![PortRange::single(53)])));
        assert_eq!(
            s.dst_port,
            Some(Match::not(vec![
                PortRange::single(80),
                PortRange::single(443),
                PortRange { lo: 8000, hi: 8080 }
            ]))
        );
        assert_eq!(
            s.to_addresses,
            Some(AddressSpec::Range(a("203.0.113.1"), a("203.0.113.9")))
        );
        assert_eq!(
            s.to_ports,
            Some(PortRange {
                lo: 1024,
                hi: 65535
            })
        );
        assert!(s.disabled);
        assert_eq!(s.comment.as_deref(), Some("a \"quoted\" \\ comment"));
    }

    #[test]
    fn whitespace_and_order_do_not_matter() {
        let a = parse_rule("\t action=masquerade   chain=srcnat\n").unwrap();
        let b = parse_rule("chain=srcnat action=masquerade").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn quoted_names_and_negated_quoted_names() {
        let s =
            parse_rule("chain=srcnat in-interface=!\"my if\" src-address-list=\"!odd\"").unwrap();
        assert_eq!(s.in_interface, Some(Match::not("my if".to_string())));
        // Inside quotes '!' is part of the name.
        assert_eq!(s.src_address_list, Some(Match::is("!odd".to_string())));
    }

    #[test]
    fn protocol_numbers_and_names_are_the_same() {
        let n = parse_rule("chain=dstnat protocol=6 dst-port=22 action=redirect").unwrap();
        let t = parse_rule("chain=dstnat protocol=tcp dst-port=22 action=redirect").unwrap();
        assert_eq!(n, t);
        let s = parse_rule("chain=srcnat protocol=!47").unwrap();
        assert_eq!(s.protocol, Some(Match::not(47)));
        let s = parse_rule("chain=srcnat protocol=icmp").unwrap();
        assert_eq!(s.protocol, Some(Match::is(1)));
    }

    #[test]
    fn cidr_host_bits_are_cleared() {
        let s = parse_rule("chain=srcnat src-address=192.168.88.77/24").unwrap();
        assert_eq!(
            s.src_address,
            Some(Match::is(AddressSpec::Prefix(a("192.168.88.0"), 24)))
        );
        let s = parse_rule("chain=srcnat src-address=1.2.3.4/0").unwrap();
        assert_eq!(
            s.src_address,
            Some(Match::is(AddressSpec::Prefix(a("0.0.0.0"), 0)))
        );
    }

    #[test]
    fn valid_action_chain_combinations() {
        for ok in [
            "chain=srcnat action=masquerade to-ports=10000-20000 protocol=udp",
            "chain=srcnat action=src-nat to-addresses=203.0.113.5",
            "chain=srcnat action=netmap to-addresses=203.0.113.0/24",
            "chain=dstnat action=netmap to-addresses=10.0.0.0/24",
            "chain=dstnat action=netmap to-addresses=10.0.0.7",
            "chain=dstnat action=dst-nat to-ports=8080 protocol=tcp",
            "chain=dstnat action=dst-nat to-addresses=10.0.0.1-10.0.0.4",
            "chain=dstnat action=redirect",
            "chain=dstnat action=redirect to-ports=53 protocol=udp dst-port=53",
            "chain=dstnat action=accept",
            "chain=srcnat action=accept",
            "chain=srcnat comment=",
        ] {
            parse_rule(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn err_expected_key_value() {
        fails("chain=srcnat foo", 13, R::ExpectedKeyValue("foo".into()));
        fails("chain", 0, R::ExpectedKeyValue("chain".into()));
    }

    #[test]
    fn err_unknown_key() {
        let l = "chain=dstnat protocol=tcp dts-port=443 action=accept";
        fails(l, off(l, "dts-port"), R::UnknownKey("dts-port".into()));
        assert_eq!(
            parse_rule(l).unwrap_err().to_string(),
            "at byte 26: unknown key 'dts-port'"
        );
        fails("=x", 0, R::UnknownKey(String::new()));
    }

    #[test]
    fn err_duplicate_key() {
        let l = "chain=srcnat action=accept chain=dstnat";
        fails(l, 27, R::DuplicateKey(Key::Chain));
        assert_eq!(
            R::DuplicateKey(Key::Chain).to_string(),
            "duplicate key 'chain'"
        );
    }

    #[test]
    fn err_empty_value() {
        fails("chain=", 6, R::EmptyValue(Key::Chain));
        fails(
            "chain=srcnat src-address=!",
            25,
            R::EmptyValue(Key::SrcAddress),
        );
        fails(
            "chain=srcnat in-interface=\"\"",
            26,
            R::EmptyValue(Key::InInterface),
        );
    }

    #[test]
    fn err_quoting() {
        let l = "chain=srcnat comment=\"abc";
        fails(l, off(l, "\""), R::UnterminatedQuote);
        let l = "chain=srcnat comment=\"abc\\";
        fails(l, off(l, "\""), R::UnterminatedQuote);
        let l = "chain=srcnat comment=\"a\\nb\"";
        fails(l, off(l, "\\"), R::InvalidEscape('n'));
        assert_eq!(
            R::InvalidEscape('n').to_string(),
            "invalid escape '\\n' in quoted value"
        );
        let l = "chain=srcnat comment=\"abc\"def";
        fails(l, off(l, "def"), R::TrailingAfterQuote);
    }

    #[test]
    fn err_negation_not_allowed() {
        fails("chain=!srcnat", 6, R::NegationNotAllowed(Key::Chain));
        let l = "chain=srcnat action=!masquerade";
        fails(l, 20, R::NegationNotAllowed(Key::Action));
        let l = "chain=srcnat disabled=!yes";
        fails(l, 22, R::NegationNotAllowed(Key::Disabled));
        assert_eq!(
            R::NegationNotAllowed(Key::Action).to_string(),
            "'action' cannot be negated"
        );
    }

    #[test]
    fn err_bad_chain_and_action() {
        fails("chain=forward", 6, R::InvalidChain("forward".into()));
        fails(
            "chain=srcnat action=drop",
            20,
            R::InvalidAction("drop".into()),
        );
    }

    #[test]
    fn err_addresses() {
        let l = "chain=srcnat src-address=10.0.0.0/33";
        fails(l, 25, R::InvalidCidr("10.0.0.0/33".into()));
        assert_eq!(
            parse_rule(l).unwrap_err().reason.to_string(),
            "invalid CIDR '10.0.0.0/33'"
        );
        for bad in [
            "10.0.0.0/",
            "10.0.0/8",
            "10.0.0.0/+8",
            "10.0.0.0/008",
            "10.0.0.0/a",
        ] {
            let l = format!("chain=srcnat dst-address={bad}");
            fails(&l, 25, R::InvalidCidr(bad.into()));
        }
        fails(
            "chain=srcnat dst-address=10.0.0.256",
            25,
            R::InvalidAddress("10.0.0.256".into()),
        );
        fails(
            "chain=srcnat dst-address=host.example",
            25,
            R::InvalidAddress("host.example".into()),
        );
        fails(
            "chain=srcnat dst-address=10.0.0.9-10.0.0.1",
            25,
            R::InvalidAddressRange("10.0.0.9-10.0.0.1".into()),
        );
        fails(
            "chain=srcnat dst-address=10.0.0.1-",
            25,
            R::InvalidAddressRange("10.0.0.1-".into()),
        );
        let l = "chain=srcnat action=src-nat to-addresses=1.2.3";
        fails(l, off(l, "1.2.3"), R::InvalidAddress("1.2.3".into()));
    }

    #[test]
    fn err_ports() {
        let pre = "chain=dstnat protocol=tcp dst-port=";
        for (bad, reason) in [
            ("http", R::InvalidPort("http".into())),
            ("65536", R::InvalidPort("65536".into())),
            ("+80", R::InvalidPort("+80".into())),
            ("80,", R::InvalidPort(String::new())),
            ("80,,443", R::InvalidPort(String::new())),
            ("-80", R::InvalidPort(String::new())),
            ("100000", R::InvalidPort("100000".into())),
            ("90-80", R::InvalidPortRange("90-80".into())),
        ] {
            fails(&format!("{pre}{bad}"), pre.len(), reason);
        }
        assert_eq!(
            R::InvalidPortRange("90-80".into()).to_string(),
            "invalid port range '90-80' (start after end)"
        );
        let l = "chain=dstnat protocol=tcp action=redirect to-ports=0";
        fails(l, off(l, "0"), R::ZeroPort);
        let l = "chain=dstnat protocol=tcp action=redirect to-ports=2-1";
        fails(l, off(l, "2-1"), R::InvalidPortRange("2-1".into()));
    }

    #[test]
    fn err_protocol_type_bool() {
        fails(
            "chain=srcnat protocol=tcpx",
            22,
            R::InvalidProtocol("tcpx".into()),
        );
        fails(
            "chain=srcnat protocol=256",
            22,
            R::InvalidProtocol("256".into()),
        );
        fails(
            "chain=srcnat protocol=TCP",
            22,
            R::InvalidProtocol("TCP".into()),
        );
        let l = "chain=srcnat dst-address-type=broadcast";
        fails(l, 30, R::UnsupportedAddressType("broadcast".into()));
        assert_eq!(
            parse_rule(l).unwrap_err().reason.to_string(),
            "unsupported dst-address-type 'broadcast' (only local)"
        );
        fails(
            "chain=srcnat disabled=true",
            22,
            R::InvalidBool(Key::Disabled, "true".into()),
        );
    }

    #[test]
    fn err_missing_chain() {
        fails("action=masquerade", 0, R::MissingChain);
        fails("", 0, R::MissingChain);
    }

    #[test]
    fn err_missing_targets() {
        let l = "chain=dstnat protocol=tcp dst-port=443 action=dst-nat";
        fails(l, off(l, "action"), R::MissingTarget(Action::DstNat));
        assert_eq!(
            parse_rule(l).unwrap_err().reason.to_string(),
            "action=dst-nat requires to-addresses or to-ports"
        );
        let l = "chain=srcnat action=src-nat to-ports=1000 protocol=udp";
        fails(l, off(l, "action"), R::MissingTarget(Action::SrcNat));
        assert_eq!(
            R::MissingTarget(Action::SrcNat).to_string(),
            "action=src-nat requires to-addresses"
        );
        let l = "chain=dstnat action=netmap";
        fails(l, off(l, "action"), R::MissingTarget(Action::Netmap));
    }

    #[test]
    fn err_wrong_chain() {
        for (l, act, msg) in [
            (
                "chain=dstnat action=src-nat to-addresses=1.2.3.4",
                Action::SrcNat,
                "src-nat only valid in chain=srcnat",
            ),
            (
                "chain=dstnat action=masquerade",
                Action::Masquerade,
                "masquerade only valid in chain=srcnat",
            ),
            (
                "chain=srcnat action=dst-nat to-addresses=1.2.3.4",
                Action::DstNat,
                "dst-nat only valid in chain=dstnat",
            ),
            (
                "chain=srcnat action=redirect",
                Action::Redirect,
                "redirect only valid in chain=dstnat",
            ),
        ] {
            let e = parse_rule(l).unwrap_err();
            let chain = if l.contains("srcnat") {
                Chain::SrcNat
            } else {
                Chain::DstNat
            };
            assert_eq!(e.offset, off(l, "action"), "{l}");
            assert_eq!(e.reason, R::WrongChain(act, chain), "{l}");
            assert_eq!(e.reason.to_string(), msg);
        }
    }

    #[test]
    fn err_out_interface_in_dstnat() {
        let l = "chain=dstnat out-interface=wan action=accept";
        fails(l, 13, R::OutInterfaceInDstnat(Key::OutInterface));
        let l = "chain=dstnat action=accept out-interface-list=!WAN";
        fails(
            l,
            off(l, "out-"),
            R::OutInterfaceInDstnat(Key::OutInterfaceList),
        );
        assert_eq!(
            R::OutInterfaceInDstnat(Key::OutInterface).to_string(),
            "out-interface not valid in chain=dstnat (no routing decision yet)"
        );
    }

    #[test]
    fn err_ports_need_protocol() {
        let l = "chain=dstnat dst-port=443 action=redirect";
        fails(l, 13, R::PortsNeedProtocol(Key::DstPort));
        assert_eq!(
            parse_rule(l).unwrap_err().reason.to_string(),
            "dst-port needs protocol=tcp or udp"
        );
        let l = "chain=srcnat protocol=icmp src-port=1";
        fails(l, off(l, "src-port"), R::PortsNeedProtocol(Key::SrcPort));
        // A negated protocol does not say which ports mean anything.
        let l = "chain=srcnat protocol=!tcp dst-port=1";
        fails(l, off(l, "dst-port"), R::PortsNeedProtocol(Key::DstPort));
        let l = "chain=dstnat action=dst-nat to-ports=8080";
        fails(l, off(l, "to-ports"), R::ToPortsNeedProtocol);
        assert_eq!(
            R::ToPortsNeedProtocol.to_string(),
            "to-ports needs protocol=tcp or udp"
        );
    }

    #[test]
    fn err_target_not_allowed() {
        let l = "chain=srcnat action=masquerade to-addresses=1.2.3.4";
        fails(
            l,
            off(l, "to-addresses"),
            R::TargetNotAllowed(Key::ToAddresses, Action::Masquerade),
        );
        assert_eq!(
            parse_rule(l).unwrap_err().reason.to_string(),
            "to-addresses not valid with action=masquerade"
        );
        let l = "chain=dstnat action=redirect to-addresses=1.2.3.4";
        fails(
            l,
            off(l, "to-addresses"),
            R::TargetNotAllowed(Key::ToAddresses, Action::Redirect),
        );
        let l = "chain=dstnat protocol=tcp to-ports=80";
        fails(
            l,
            off(l, "to-ports"),
            R::TargetNotAllowed(Key::ToPorts, Action::Accept),
        );
    }

    #[test]
    fn err_netmap_range() {
        let l = "chain=srcnat action=netmap to-addresses=1.2.3.4-1.2.3.9";
        let t = AddressSpec::Range(a("1.2.3.4"), a("1.2.3.9"));
        fails(l, off(l, "to-addresses"), R::NetmapNeedsPrefix(t));
        assert_eq!(
            R::NetmapNeedsPrefix(t).to_string(),
            "netmap to-addresses must be an address or CIDR, not '1.2.3.4-1.2.3.9'"
        );
    }

    #[test]
    fn check_catches_hand_built_specs() {
        let mut s = RuleSpec::new(Chain::SrcNat, Action::Accept);
        s.in_interface = Some(Match::is(String::new()));
        assert_eq!(
            s.check(),
            Err((Key::InInterface, R::EmptyName(Key::InInterface)))
        );
        let mut s = RuleSpec::new(Chain::DstNat, Action::Accept);
        s.protocol = Some(Match::is(6));
        s.dst_port = Some(Match::is(vec![]));
        assert_eq!(
            s.check(),
            Err((Key::DstPort, R::EmptyPortList(Key::DstPort)))
        );
        s.dst_port = Some(Match::is(vec![PortRange { lo: 9, hi: 1 }]));
        assert_eq!(
            s.check(),
            Err((Key::DstPort, R::InvalidPortRange("9-1".into())))
        );
        let mut s = RuleSpec::new(Chain::DstNat, Action::Redirect);
        s.protocol = Some(Match::is(17));
        s.to_ports = Some(PortRange { lo: 0, hi: 5 });
        assert_eq!(s.check(), Err((Key::ToPorts, R::ZeroPort)));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for l in [
            "\"",
            "=",
            "==",
            "!",
            "chain=\"",
            "chain=srcnat comment=\"é\\é\"",
            "é=é",
            "chain=srcnat comment=\"\\\"",
            "chain=srcnat\u{a0}action=accept",
            "\\",
        ] {
            let _ = parse_rule(l);
        }
    }
}
