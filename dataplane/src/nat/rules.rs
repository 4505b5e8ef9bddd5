//! NAT rules in RouterOS `/ip firewall nat` syntax, compiled for the fast path.
//!
//! The life of a rule is a typestate chain:
//!
//! 1. [`parse_rule`] turns one RouterOS-syntax line into a [`RuleSpec`]. The
//!    spec is self-consistent (every check RouterOS makes without knowing the
//!    box: action valid for the chain, ports only with tcp/udp, targets
//!    present) but its names are unresolved. Errors carry the byte offset of
//!    the offending token.
//! 2. [`compile`] resolves interface names to [`IfIndex`], interface lists to
//!    bitmasks and address lists to sorted range sets against a
//!    [`CompileContext`]. Unknown names are errors. The result,
//!    [`CompiledRules`], is immutable and `Send + Sync`; it is the only form a
//!    worker ever sees (shared through an `Arc` snapshot).
//! 3. [`CompiledRules::match_dstnat`] / [`CompiledRules::match_srcnat`] walk
//!    one chain in order: first match wins, disabled rules are skipped, and
//!    `action=accept` stops the walk (the hit says "do not translate").
//!    Matching takes `&self` and never allocates: address lists are sorted,
//!    merged `u32` ranges searched by bisection, port sets are sorted ranges.
//!
//! [`RuleSpec`] implements `Display` in RouterOS syntax and
//! `parse_rule(&spec.to_string()) == Ok(spec)` for every valid spec.
//!
//! ```
//! use dataplane::nat::rules::{compile, parse_rule, CompileContext, CompiledAction, PacketMeta};
//! use std::net::Ipv4Addr;
//!
//! let mut ctx = CompileContext::new();
//! ctx.add_interface("ether1", 0, 0b1).add_interface_list("LAN", 0b1);
//! let fwd = parse_rule(
//!     "chain=dstnat in-interface-list=LAN protocol=tcp dst-address=203.0.113.1 \
//!      dst-port=443 action=dst-nat to-addresses=192.168.88.20",
//! )
//! .unwrap();
//! let rules = compile(&[fwd], &ctx).unwrap();
//! let pkt = PacketMeta {
//!     in_if: 0,
//!     out_if: None,
//!     src: Ipv4Addr::new(192, 168, 88, 10),
//!     dst: Ipv4Addr::new(203, 0, 113, 1),
//!     proto: 6,
//!     src_port: 50000,
//!     dst_port: 443,
//!     dst_is_local: true,
//! };
//! let hit = rules.match_dstnat(&pkt).unwrap();
//! let CompiledAction::DstNat { addrs: Some(pool), ports: None } = *hit.action else { panic!() };
//! assert_eq!(pool.pick(0x1234), Ipv4Addr::new(192, 168, 88, 20));
//! ```
//!
//! Rule indices everywhere (hits, counters, compile errors) are positions in
//! the slice given to [`compile`], disabled rules included, so the metrics' `rule` label
//! numbering matches RouterOS `print` numbering.

use std::fmt;
use std::net::Ipv4Addr;

mod compile;
mod counters;
mod parse;

pub use compile::{
    compile, AddrPool, CompileContext, CompileError, CompileReason, CompiledAction, CompiledRules,
    NetmapPrefix, PacketMeta, RuleHit,
};
pub use counters::RuleCounters;
pub use parse::{parse_rule, Key, ParseReason, RuleParseError};

/// Interface index as used by the route module and the worker.
pub type IfIndex = u16;

/// Which NAT hook a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chain {
    /// Before routing: destination translation (port forwards, redirect).
    DstNat,
    /// After routing: source translation (masquerade, src-nat).
    SrcNat,
}

impl Chain {
    /// RouterOS spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Chain::DstNat => "dstnat",
            Chain::SrcNat => "srcnat",
        }
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Stop evaluating this chain and leave the packet untranslated.
    Accept,
    /// Source NAT to the egress interface's address (srcnat only).
    Masquerade,
    /// Source NAT to `to-addresses` (srcnat only).
    SrcNat,
    /// Destination NAT to `to-addresses` and/or `to-ports` (dstnat only).
    DstNat,
    /// 1:1 prefix mapping of the source (srcnat) or destination (dstnat).
    Netmap,
    /// Destination NAT to the router itself (dstnat only).
    Redirect,
}

impl Action {
    /// RouterOS spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Masquerade => "masquerade",
            Action::SrcNat => "src-nat",
            Action::DstNat => "dst-nat",
            Action::Netmap => "netmap",
            Action::Redirect => "redirect",
        }
    }
}

/// A matcher value with RouterOS `!` negation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Match<T> {
    /// `true` when written `key=!value`: the rule matches when the value does not.
    pub negated: bool,
    pub value: T,
}

impl<T> Match<T> {
    pub const fn is(value: T) -> Self {
        Match {
            negated: false,
            value,
        }
    }
    pub const fn not(value: T) -> Self {
        Match {
            negated: true,
            value,
        }
    }
}

/// An IPv4 address, prefix or inclusive range as written in a rule or address list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressSpec {
    /// `192.168.88.20`
    Addr(Ipv4Addr),
    /// `10.0.0.0/24`; the address is stored with host bits cleared.
    Prefix(Ipv4Addr, u8),
    /// `10.0.0.10-10.0.0.20`, start <= end.
    Range(Ipv4Addr, Ipv4Addr),
}

impl AddressSpec {
    /// Inclusive bounds as host-order integers.
    pub fn bounds(&self) -> (u32, u32) {
        match *self {
            AddressSpec::Addr(a) => (u32::from(a), u32::from(a)),
            AddressSpec::Prefix(a, len) => {
                let mask = prefix_mask(len);
                let net = u32::from(a) & mask;
                (net, net | !mask)
            }
            AddressSpec::Range(a, b) => (u32::from(a), u32::from(b)),
        }
    }

    /// Whether `addr` falls inside.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let (lo, hi) = self.bounds();
        (lo..=hi).contains(&u32::from(addr))
    }
}

/// Netmask for a prefix length (lengths above 32 saturate to /32).
pub(crate) const fn prefix_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else if len >= 32 {
        u32::MAX
    } else {
        u32::MAX << (32 - len)
    }
}

impl fmt::Display for AddressSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressSpec::Addr(a) => write!(f, "{a}"),
            AddressSpec::Prefix(a, len) => write!(f, "{a}/{len}"),
            AddressSpec::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

/// An inclusive port range; a single port has `lo == hi`. Invariant: `lo <= hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const fn single(port: u16) -> Self {
        PortRange { lo: port, hi: port }
    }
    /// `None` when `lo > hi`.
    pub const fn new(lo: u16, hi: u16) -> Option<Self> {
        if lo <= hi {
            Some(PortRange { lo, hi })
        } else {
            None
        }
    }
    pub const fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
    /// Number of ports (1..=65536).
    pub const fn len(&self) -> u32 {
        self.hi as u32 - self.lo as u32 + 1
    }
    /// Never empty; present for clippy's `len_without_is_empty`.
    pub const fn is_empty(&self) -> bool {
        false
    }
    /// Deterministic choice of one port from a flow hash, uniform over the range.
    pub fn pick(&self, key_hash: u64) -> u16 {
        let off = scale(key_hash, u64::from(self.len()));
        // off < len <= 65536 and lo + off <= hi, so this cannot overflow.
        self.lo.wrapping_add(off as u16)
    }
}

/// Map a 64-bit hash uniformly onto `0..n` (multiply-high, no modulo bias worth noting).
pub(crate) fn scale(hash: u64, n: u64) -> u64 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u64
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// `dst-address-type` values. Only `local` is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressType {
    /// An address configured on the router.
    Local,
}

/// A parsed rule: consistent in itself, names not yet resolved.
///
/// Fields are public so the control plane can build rules programmatically;
/// [`compile`] re-checks the same consistency rules as [`parse_rule`], so a
/// hand-built inconsistent spec still cannot reach a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub chain: Chain,
    /// RouterOS default: `accept`.
    pub action: Action,
    pub in_interface: Option<Match<String>>,
    pub out_interface: Option<Match<String>>,
    pub in_interface_list: Option<Match<String>>,
    pub out_interface_list: Option<Match<String>>,
    pub src_address: Option<Match<AddressSpec>>,
    pub dst_address: Option<Match<AddressSpec>>,
    pub src_address_list: Option<Match<String>>,
    pub dst_address_list: Option<Match<String>>,
    pub dst_address_type: Option<Match<AddressType>>,
    /// IP protocol number (tcp = 6, udp = 17, icmp = 1).
    pub protocol: Option<Match<u8>>,
    /// Non-empty list of ranges, in the order written.
    pub src_port: Option<Match<Vec<PortRange>>>,
    pub dst_port: Option<Match<Vec<PortRange>>>,
    pub to_addresses: Option<AddressSpec>,
    pub to_ports: Option<PortRange>,
    pub disabled: bool,
    pub comment: Option<String>,
}

impl RuleSpec {
    /// A rule with only a chain and an action; everything else unset.
    pub fn new(chain: Chain, action: Action) -> Self {
        RuleSpec {
            chain,
            action,
            in_interface: None,
            out_interface: None,
            in_interface_list: None,
            out_interface_list: None,
            src_address: None,
            dst_address: None,
            src_address_list: None,
            dst_address_list: None,
            dst_address_type: None,
            protocol: None,
            src_port: None,
            dst_port: None,
            to_addresses: None,
            to_ports: None,
            disabled: false,
            comment: None,
        }
    }

    /// The RouterOS consistency checks, independent of the box's interfaces
    /// and lists. On failure, names the key whose presence (or absence, for
    /// targets) is at fault so the parser can point at it.
    pub fn check(&self) -> Result<(), (parse::Key, ParseReason)> {
        parse::check(self)
    }
}

/// Protocol names RouterOS prints instead of numbers.
pub(crate) fn protocol_name(p: u8) -> Option<&'static str> {
    match p {
        1 => Some("icmp"),
        6 => Some("tcp"),
        17 => Some("udp"),
        _ => None,
    }
}

/// Quote a free-form value when it would not survive bare tokenisation.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let bare_ok = !s.is_empty()
            && !s.starts_with('!')
            && !s.starts_with('"')
            && !s
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\\');
        if bare_ok {
            return f.write_str(s);
        }
        f.write_str("\"")?;
        for c in s.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

fn neg(m: bool) -> &'static str {
    if m {
        "!"
    } else {
        ""
    }
}

impl fmt::Display for RuleSpec {
    /// RouterOS syntax, keys in a fixed order; parses back to the same spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chain={}", self.chain.as_str())?;
        if self.disabled {
            f.write_str(" disabled=yes")?;
        }
        let names = [
            ("in-interface", &self.in_interface),
            ("in-interface-list", &self.in_interface_list),
            ("out-interface", &self.out_interface),
            ("out-interface-list", &self.out_interface_list),
        ];
        for (key, m) in names {
            if let Some(m) = m {
                write!(f, " {key}={}{}", neg(m.negated), Quoted(&m.value))?;
            }
        }
        if let Some(m) = &self.protocol {
            match protocol_name(m.value) {
                Some(n) => write!(f, " protocol={}{n}", neg(m.negated))?,
                None => write!(f, " protocol={}{}", neg(m.negated), m.value)?,
            }
        }
        let addrs = [
            ("src-address", &self.src_address),
            ("dst-address", &self.dst_address),
        ];
        for (key, m) in addrs {
            if let Some(m) = m {
                write!(f, " {key}={}{}", neg(m.negated), m.value)?;
            }
        }
        let lists = [
            ("src-address-list", &self.src_address_list),
            ("dst-address-list", &self.dst_address_list),
        ];
        for (key, m) in lists {
            if let Some(m) = m {
                write!(f, " {key}={}{}", neg(m.negated), Quoted(&m.value))?;
            }
        }
        if let Some(m) = &self.dst_address_type {
            match m.value {
                AddressType::Local => write!(f, " dst-address-type={}local", neg(m.negated))?,
            }
        }
        let ports = [("src-port", &self.src_port), ("dst-port", &self.dst_port)];
        for (key, m) in ports {
            if let Some(m) = m {
                write!(f, " {key}={}", neg(m.negated))?;
                for (i, r) in m.value.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{r}")?;
                }
            }
        }
        write!(f, " action={}", self.action.as_str())?;
        if let Some(a) = &self.to_addresses {
            write!(f, " to-addresses={a}")?;
        }
        if let Some(p) = &self.to_ports {
            write!(f, " to-ports={p}")?;
        }
        if let Some(c) = &self.comment {
            // Always quoted, as RouterOS export does.
            f.write_str(" comment=\"")?;
            for ch in c.chars() {
                if ch == '"' || ch == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{ch}")?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}
