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
