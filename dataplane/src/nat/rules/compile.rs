//! Name resolution and the allocation-free matcher.
//!
//! Invariants of [`CompiledRules`]:
//! - immutable after [`compile`]; every field is plain owned data, so the
//!   value is `Send + Sync` and can sit in an `Arc` snapshot;
//! - every address list referenced by a rule is compiled once into a sorted
//!   vector of disjoint, non-adjacent inclusive `u32` ranges, and port sets
//!   into sorted merged [`PortRange`]s, so membership is a bisection with no
//!   allocation;
//! - `dstnat`/`srcnat` hold the indices of the *enabled* rules of each chain
//!   in configuration order, so matching never looks at a disabled rule.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use super::parse::{check, ParseReason};
use super::{
    prefix_mask, scale, Action, AddressSpec, AddressType, Chain, IfIndex, Match, PortRange,
    RuleSpec,
};

/// What the box looks like: interfaces, interface lists and address lists.
/// Built by the control thread from the config before each compile.
#[derive(Debug, Clone, Default)]
pub struct CompileContext {
    interfaces: HashMap<String, IfIndex>,
    /// IfIndex -> bitmask of the interface lists it belongs to.
    if_lists: HashMap<IfIndex, u32>,
    interface_lists: HashMap<String, u32>,
    address_lists: HashMap<String, Vec<AddressSpec>>,
}

impl CompileContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare an interface and the bitmask of interface lists it is a member of
    /// (the route module's `Interface::lists`).
    pub fn add_interface(&mut self, name: &str, index: IfIndex, lists: u32) -> &mut Self {
        self.interfaces.insert(name.to_string(), index);
        *self.if_lists.entry(index).or_insert(0) |= lists;
        self
    }

    /// Declare an interface list and its bit(s) in `Interface::lists`.
    pub fn add_interface_list(&mut self, name: &str, mask: u32) -> &mut Self {
        self.interface_lists.insert(name.to_string(), mask);
        self
    }

    /// Declare an address list (possibly empty) with these entries; entries
    /// add to any already declared under the same name, as in RouterOS.
    pub fn add_address_list(
        &mut self,
        name: &str,
        entries: impl IntoIterator<Item = AddressSpec>,
    ) -> &mut Self {
        self.address_lists
            .entry(name.to_string())
            .or_default()
            .extend(entries);
        self
    }
}

/// Why a rule failed to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileReason {
    /// The spec is inconsistent in itself (only reachable for hand-built specs).
    Invalid(ParseReason),
    UnknownInterface(String),
    UnknownInterfaceList(String),
    UnknownAddressList(String),
}

impl fmt::Display for CompileReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileReason::Invalid(r) => write!(f, "{r}"),
            CompileReason::UnknownInterface(n) => write!(f, "unknown interface '{n}'"),
            CompileReason::UnknownInterfaceList(n) => write!(f, "unknown interface list '{n}'"),
            CompileReason::UnknownAddressList(n) => write!(f, "unknown address list '{n}'"),
        }
    }
}

/// A rule set that failed to compile: which rule (index into the input) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub rule: usize,
    pub reason: CompileReason,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}: {}", self.rule, self.reason)
    }
}

impl std::error::Error for CompileError {}

/// The fields of a packet that rules can look at, filled in by the engine.
/// Ports are 0 for protocols without ports; for ICMP queries both carry the
/// echo identifier (as in conntrack's `FlowKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    pub in_if: IfIndex,
    /// Egress interface; `None` before routing (the dstnat chain).
    pub out_if: Option<IfIndex>,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// `dst` is one of the router's own addresses.
    pub dst_is_local: bool,
}

/// A contiguous pool of addresses for src-nat/dst-nat `to-addresses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrPool {
    first: u32,
    last: u32,
}

impl AddrPool {
    fn from_spec(a: AddressSpec) -> Self {
        let (first, last) = a.bounds();
        AddrPool { first, last }
    }
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first)
    }
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last)
    }
    /// Number of addresses (1..=2^32).
    pub fn len(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }
    /// Never empty; present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&u32::from(addr))
    }
    /// Deterministic, uniform choice of one address from a flow hash.
    pub fn pick(&self, key_hash: u64) -> Ipv4Addr {
        // scale() < len, so first + off <= last.
        Ipv4Addr::from(self.first.wrapping_add(scale(key_hash, self.len()) as u32))
    }
    /// Every address, in order (for building a port-allocation pool).
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> {
        (self.first..=self.last).map(Ipv4Addr::from)
    }
}

/// Netmap target: the host bits of the translated address are kept, the
/// network bits replaced. `10.0.0.0/24 -> 203.0.113.0/24` maps `.7` to `.7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetmapPrefix {
    net: u32,
    mask: u32,
}

impl NetmapPrefix {
    pub fn new(addr: Ipv4Addr, len: u8) -> Self {
        let mask = prefix_mask(len);
        NetmapPrefix {
            net: u32::from(addr) & mask,
            mask,
        }
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.net)
    }
    pub fn prefix_len(&self) -> u8 {
        self.mask.count_ones() as u8
    }
    /// Replace the network bits of `addr` by this prefix.
    pub fn map(&self, addr: Ipv4Addr) -> Ipv4Addr {
        Ipv4Addr::from(self.net | (u32::from(addr) & !self.mask))
    }
}

/// A rule's action with its targets resolved. Which address netmap rewrites
/// follows the chain: source in srcnat, destination in dstnat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompiledAction {
    /// Matched; leave the packet untranslated and stop this chain.
    Accept,
    /// Source becomes the egress interface's primary address; `ports`
    /// restricts the external port range.
    Masquerade { ports: Option<PortRange> },
    SrcNat {
        addrs: AddrPool,
        ports: Option<PortRange>,
    },
    /// `addrs: None` keeps the destination address and changes only the port.
    DstNat {
        addrs: Option<AddrPool>,
        ports: Option<PortRange>,
    },
    Netmap {
        prefix: NetmapPrefix,
        ports: Option<PortRange>,
    },
    /// Destination becomes the router's address on the ingress interface.
    Redirect { ports: Option<PortRange> },
}

/// A matching rule: its index in the configured list and its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleHit<'a> {
    pub index: usize,
    pub action: &'a CompiledAction,
}

/// Sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RangeSet(Box<[(u32, u32)]>);

impl RangeSet {
    fn new(mut v: Vec<(u32, u32)>) -> Self {
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        RangeSet(out.into_boxed_slice())
    }

    fn contains(&self, x: u32) -> bool {
        let i = self.0.partition_point(|r| r.1 < x);
        self.0.get(i).is_some_and(|r| r.0 <= x)
    }
}

/// Sorted merged port ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PortSet(Box<[PortRange]>);

impl PortSet {
    fn new(v: &[PortRange]) -> Self {
        let mut v = v.to_vec();
        v.sort_unstable();
        let mut out: Vec<PortRange> = Vec::with_capacity(v.len());
        for r in v {
            match out.last_mut() {
                Some(last) if u32::from(r.lo) <= u32::from(last.hi) + 1 => {
                    last.hi = last.hi.max(r.hi)
                }
                _ => out.push(r),
            }
        }
        PortSet(out.into_boxed_slice())
    }

    fn contains(&self, p: u16) -> bool {
        let i = self.0.partition_point(|r| r.hi < p);
        self.0.get(i).is_some_and(|r| r.lo <= p)
    }
}

/// Apply RouterOS negation to a raw match result.
#[inline]
fn eval<T>(m: &Option<Match<T>>, f: impl FnOnce(&T) -> bool) -> bool {
    match m {
        None => true,
        Some(m) => f(&m.value) != m.negated,
    }
}

#[derive(Debug, Clone)]
struct CompiledRule {
    in_if: Option<Match<IfIndex>>,
    out_if: Option<Match<IfIndex>>,
    in_lists: Option<Match<u32>>,
    out_lists: Option<Match<u32>>,
    src: Option<Match<(u32, u32)>>,
    dst: Option<Match<(u32, u32)>>,
    /// Index into `CompiledRules::sets`.
    src_set: Option<Match<usize>>,
    dst_set: Option<Match<usize>>,
    dst_local: Option<Match<()>>,
    proto: Option<Match<u8>>,
    src_ports: Option<Match<PortSet>>,
    dst_ports: Option<Match<PortSet>>,
    action: CompiledAction,
}

/// An immutable, validated rule set: the only form workers see.
#[derive(Debug, Clone)]
pub struct CompiledRules {
    /// One per input spec, disabled included, so indices match the config.
    rules: Box<[CompiledRule]>,
    chains: Box<[Chain]>,
    disabled: Box<[bool]>,
    dstnat: Box<[usize]>,
    srcnat: Box<[usize]>,
    /// IfIndex -> interface-list membership bitmask.
    if_lists: Box<[u32]>,
    sets: Box<[RangeSet]>,
}

impl CompiledRules {
    /// An empty rule set: nothing matches.
    pub fn empty() -> Self {
        CompiledRules {
            rules: Box::new([]),
            chains: Box::new([]),
            disabled: Box::new([]),
            dstnat: Box::new([]),
            srcnat: Box::new([]),
            if_lists: Box::new([]),
            sets: Box::new([]),
        }
    }

    /// Number of rules, disabled included (size [`super::RuleCounters`] with this).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The chain of rule `index`.
    pub fn chain(&self, index: usize) -> Option<Chain> {
        self.chains.get(index).copied()
    }

    /// Whether rule `index` is disabled.
    pub fn is_disabled(&self, index: usize) -> Option<bool> {
        self.disabled.get(index).copied()
    }

    /// The action of rule `index`.
    pub fn action(&self, index: usize) -> Option<&CompiledAction> {
        self.rules.get(index).map(|r| &r.action)
    }

    /// First enabled dstnat rule that matches (pre-routing: `out_if` is ignored
    /// since dstnat rules cannot test it).
    pub fn match_dstnat(&self, p: &PacketMeta) -> Option<RuleHit<'_>> {
        self.first_match(&self.dstnat, p)
    }

    /// First enabled srcnat rule that matches (post-routing).
    pub fn match_srcnat(&self, p: &PacketMeta) -> Option<RuleHit<'_>> {
        self.first_match(&self.srcnat, p)
    }

    fn first_match(&self, chain: &[usize], p: &PacketMeta) -> Option<RuleHit<'_>> {
        chain.iter().find_map(|&i| {
            let r = self.rules.get(i)?;
            self.matches(r, p).then_some(RuleHit {
                index: i,
                action: &r.action,
            })
        })
    }

    fn lists_of(&self, ifindex: IfIndex) -> u32 {
        self.if_lists
            .get(usize::from(ifindex))
            .copied()
            .unwrap_or(0)
    }

    fn in_set(&self, set: usize, addr: Ipv4Addr) -> bool {
        self.sets
            .get(set)
            .is_some_and(|s| s.contains(u32::from(addr)))
    }

    /// Cheap tests first: protocol and ports, then interfaces, then addresses.
    fn matches(&self, r: &CompiledRule, p: &PacketMeta) -> bool {
        let src = u32::from(p.src);
        let dst = u32::from(p.dst);
        eval(&r.proto, |&x| x == p.proto)
            && eval(&r.dst_ports, |s| s.contains(p.dst_port))
            && eval(&r.src_ports, |s| s.contains(p.src_port))
            && eval(&r.in_if, |&x| x == p.in_if)
            && eval(&r.in_lists, |&m| self.lists_of(p.in_if) & m != 0)
            // Without a routing decision an out-interface test cannot hold,
            // negated or not.
            && match (&r.out_if, p.out_if) {
                (None, _) => true,
                (Some(_), None) => false,
                (m, Some(o)) => eval(m, |&x| x == o),
            }
            && match (&r.out_lists, p.out_if) {
                (None, _) => true,
                (Some(_), None) => false,
                (m, Some(o)) => eval(m, |&mask| self.lists_of(o) & mask != 0),
            }
            && eval(&r.dst, |&(lo, hi)| (lo..=hi).contains(&dst))
            && eval(&r.src, |&(lo, hi)| (lo..=hi).contains(&src))
            && eval(&r.dst_local, |_| p.dst_is_local)
            && eval(&r.dst_set, |&s| self.in_set(s, p.dst))
            && eval(&r.src_set, |&s| self.in_set(s, p.src))
    }
}

/// Resolve names and build the matcher. Fails on the first rule that names an
/// unknown interface, interface list or address list, or that is inconsistent.
pub fn compile(specs: &[RuleSpec], ctx: &CompileContext) -> Result<CompiledRules, CompileError> {
    let mut rules = Vec::with_capacity(specs.len());
    let mut sets: Vec<RangeSet> = Vec::new();
    let mut set_ids: HashMap<&str, usize> = HashMap::new();
    let mut dstnat = Vec::new();
    let mut srcnat = Vec::new();

    for (i, s) in specs.iter().enumerate() {
        let fail = |reason| CompileError { rule: i, reason };
        check(s).map_err(|(_, r)| fail(CompileReason::Invalid(r)))?;

        let iface = |m: &Option<Match<String>>| -> Result<Option<Match<IfIndex>>, CompileError> {
            m.as_ref()
                .map(|m| match ctx.interfaces.get(&m.value) {
                    Some(&idx) => Ok(Match {
                        negated: m.negated,
                        value: idx,
                    }),
                    None => Err(fail(CompileReason::UnknownInterface(m.value.clone()))),
                })
                .transpose()
        };
        let list = |m: &Option<Match<String>>| -> Result<Option<Match<u32>>, CompileError> {
            m.as_ref()
                .map(|m| match ctx.interface_lists.get(&m.value) {
                    Some(&mask) => Ok(Match {
                        negated: m.negated,
                        value: mask,
                    }),
                    None => Err(fail(CompileReason::UnknownInterfaceList(m.value.clone()))),
                })
                .transpose()
        };
        let mut set = |m: &Option<Match<String>>| -> Result<Option<Match<usize>>, CompileError> {
            let Some(m) = m else { return Ok(None) };
            let id = match set_ids.get(m.value.as_str()) {
                Some(&id) => id,
                None => {
                    let (name, entries) = ctx
                        .address_lists
                        .get_key_value(&m.value)
                        .ok_or_else(|| fail(CompileReason::UnknownAddressList(m.value.clone())))?;
                    sets.push(RangeSet::new(entries.iter().map(|e| e.bounds()).collect()));
                    set_ids.insert(name.as_str(), sets.len() - 1);
                    sets.len() - 1
                }
            };
            Ok(Some(Match {
                negated: m.negated,
                value: id,
            }))
        };
        let addr = |m: &Option<Match<AddressSpec>>| {
            m.as_ref().map(|m| Match {
                negated: m.negated,
                value: m.value.bounds(),
            })
        };
        let ports = |m: &Option<Match<Vec<PortRange>>>| {
            m.as_ref().map(|m| Match {
                negated: m.negated,
                value: PortSet::new(&m.value),
            })
        };

        let action = match s.action {
            Action::Accept => CompiledAction::Accept,
            Action::Masquerade => CompiledAction::Masquerade { ports: s.to_ports },
            Action::Redirect => CompiledAction::Redirect { ports: s.to_ports },
            Action::SrcNat => match s.to_addresses {
                Some(a) => CompiledAction::SrcNat {
                    addrs: AddrPool::from_spec(a),
                    ports: s.to_ports,
                },
                None => {
                    return Err(fail(CompileReason::Invalid(ParseReason::MissingTarget(
                        Action::SrcNat,
                    ))))
                }
            },
            Action::DstNat => CompiledAction::DstNat {
                addrs: s.to_addresses.map(AddrPool::from_spec),
                ports: s.to_ports,
            },
            Action::Netmap => {
                let prefix = match s.to_addresses {
                    Some(AddressSpec::Addr(a)) => NetmapPrefix::new(a, 32),
                    Some(AddressSpec::Prefix(a, len)) => NetmapPrefix::new(a, len),
                    Some(t @ AddressSpec::Range(..)) => {
                        return Err(fail(CompileReason::Invalid(
                            ParseReason::NetmapNeedsPrefix(t),
                        )))
                    }
                    None => {
                        return Err(fail(CompileReason::Invalid(ParseReason::MissingTarget(
                            Action::Netmap,
                        ))))
                    }
                };
                CompiledAction::Netmap {
                    prefix,
                    ports: s.to_ports,
                }
            }
        };

        let rule = CompiledRule {
            in_if: iface(&s.in_interface)?,
            out_if: iface(&s.out_interface)?,
            in_lists: list(&s.in_interface_list)?,
            out_lists: list(&s.out_interface_list)?,
            src: addr(&s.src_address),
            dst: addr(&s.dst_address),
            src_set: set(&s.src_address_list)?,
            dst_set: set(&s.dst_address_list)?,
            dst_local: s.dst_address_type.as_ref().map(|m| Match {
                negated: m.negated,
                value: match m.value {
                    AddressType::Local => (),
                },
            }),
            proto: s.protocol.clone(),
            src_ports: ports(&s.src_port),
            dst_ports: ports(&s.dst_port),
            action,
        };
        if !s.disabled {
            match s.chain {
                Chain::DstNat => dstnat.push(i),
                Chain::SrcNat => srcnat.push(i),
            }
        }
        rules.push(rule);
    }

    let max_if = ctx.if_lists.keys().copied().max();
    let mut if_lists = vec![0u32; max_if.map_or(0, |m| usize::from(m) + 1)];
    for (&idx, &mask) in &ctx.if_lists {
        if_lists[usize::from(idx)] = mask;
    }

    Ok(CompiledRules {
        rules: rules.into_boxed_slice(),
        chains: specs.iter().map(|s| s.chain).collect(),
        disabled: specs.iter().map(|s| s.disabled).collect(),
        dstnat: dstnat.into_boxed_slice(),
        srcnat: srcnat.into_boxed_slice(),
        if_lists: if_lists.into_boxed_slice(),
        sets: sets.into_boxed_slice(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse_rule;
    use super::*;
    use proptest::prelude::*;

    const LAN: IfIndex = 1;
    const WAN: IfIndex = 2;
    const DMZ: IfIndex = 5;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ctx() -> CompileContext {
        let mut c = CompileContext::new();
        c.add_interface("lan", LAN, 0b001)
            .add_interface("wan", WAN, 0b010)
            .add_interface("dmz", DMZ, 0b101)
            .add_interface_list("LAN", 0b001)
            .add_interface_list("WAN", 0b010)
            .add_interface_list("SERVERS", 0b100)
            .add_address_list(
                "blocked",
                [
                    AddressSpec::Addr(a("198.51.100.7")),
                    AddressSpec::Prefix(a("10.9.0.0"), 16),
                    AddressSpec::Range(a("172.16.0.10"), a("172.16.0.20")),
                ],
            )
            .add_address_list("empty", []);
        c
    }

    fn rules(lines: &[&str]) -> CompiledRules {
        let specs: Vec<RuleSpec> = lines
            .iter()
            .map(|l| parse_rule(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        compile(&specs, &ctx()).unwrap()
    }

    fn pkt() -> PacketMeta {
        PacketMeta {
            in_if: LAN,
            out_if: Some(WAN),
            src: a("192.168.88.10"),
            dst: a("8.8.8.8"),
            proto: 17,
            src_port: 40000,
            dst_port: 53,
            dst_is_local: false,
        }
    }

    /// Whether a single srcnat rule with `matcher` matches `p`.
    fn src_hit(matcher: &str, p: PacketMeta) -> bool {
        let r = rules(&[&format!("chain=srcnat {matcher} action=masquerade")]);
        r.match_srcnat(&p).is_some()
    }

    fn dst_hit(matcher: &str, p: PacketMeta) -> bool {
        let r = rules(&[&format!("chain=dstnat {matcher} action=accept")]);
        r.match_dstnat(&p).is_some()
    }

    #[test]
    fn compiled_rules_are_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<CompiledRules>();
        assert_send_sync::<std::sync::Arc<CompiledRules>>();
    }

    #[test]
    fn empty_matches_nothing() {
        let r = CompiledRules::empty();
        assert!(r.is_empty());
        assert!(r.match_srcnat(&pkt()).is_none());
        assert!(r.match_dstnat(&pkt()).is_none());
    }

    #[test]
    fn in_interface() {
        assert!(src_hit("in-interface=lan", pkt()));
        assert!(!src_hit("in-interface=wan", pkt()));
        assert!(!src_hit("in-interface=!lan", pkt()));
        assert!(src_hit("in-interface=!wan", pkt()));
    }

    #[test]
    fn out_interface() {
        assert!(src_hit("out-interface=wan", pkt()));
        assert!(!src_hit("out-interface=lan", pkt()));
        assert!(src_hit("out-interface=!lan", pkt()));
        assert!(!src_hit("out-interface=!wan", pkt()));
        // Unknown egress: neither the test nor its negation holds.
        let p = PacketMeta {
            out_if: None,
            ..pkt()
        };
        assert!(!src_hit("out-interface=wan", p));
        assert!(!src_hit("out-interface=!wan", p));
        assert!(!src_hit("out-interface-list=WAN", p));
        assert!(!src_hit("out-interface-list=!WAN", p));
    }

    #[test]
    fn interface_lists() {
        assert!(src_hit("in-interface-list=LAN", pkt()));
        assert!(!src_hit("in-interface-list=WAN", pkt()));
        assert!(src_hit("in-interface-list=!WAN", pkt()));
        assert!(src_hit("out-interface-list=WAN", pkt()));
        assert!(!src_hit("out-interface-list=!WAN", pkt()));
        // dmz belongs to two lists.
        let p = PacketMeta {
            in_if: DMZ,
            ..pkt()
        };
        assert!(src_hit("in-interface-list=LAN", p));
        assert!(src_hit("in-interface-list=SERVERS", p));
        assert!(!src_hit("in-interface-list=!SERVERS", p));
        // An interface index the context never declared is in no list.
        let p = PacketMeta {
            in_if: 999,
            ..pkt()
        };
        assert!(!src_hit("in-interface-list=LAN", p));
        assert!(src_hit("in-interface-list=!LAN", p));
    }

    #[test]
    fn addresses() {
        assert!(src_hit("src-address=192.168.88.10", pkt()));
        assert!(!src_hit("src-address=192.168.88.11", pkt()));
        assert!(src_hit("src-address=192.168.0.0/16", pkt()));
        assert!(!src_hit("src-address=!192.168.0.0/16", pkt()));
        assert!(src_hit("src-address=192.168.88.10-192.168.88.12", pkt()));
        assert!(!src_hit("src-address=192.168.88.11-192.168.88.12", pkt()));
        assert!(src_hit("dst-address=0.0.0.0/0", pkt()));
        assert!(src_hit("dst-address=8.8.8.8/32", pkt()));
        assert!(!src_hit("dst-address=8.8.8.0/32", pkt()));
        assert!(src_hit("dst-address=!8.8.4.4", pkt()));
        // Edges of a range are inclusive.
        let p = PacketMeta {
            dst: a("10.0.0.255"),
            ..pkt()
        };
        assert!(src_hit("dst-address=10.0.0.0/24", p));
        assert!(src_hit("dst-address=10.0.0.0-10.0.0.255", p));
        assert!(!src_hit("dst-address=10.0.1.0/24", p));
    }

    #[test]
    fn address_lists() {
        for (addr, inside) in [
            ("198.51.100.7", true),
            ("198.51.100.8", false),
            ("10.9.255.255", true),
            ("10.10.0.0", false),
            ("172.16.0.9", false),
            ("172.16.0.10", true),
            ("172.16.0.20", true),
            ("172.16.0.21", false),
        ] {
            let p = PacketMeta {
                dst: a(addr),
                src: a(addr),
                ..pkt()
            };
            assert_eq!(src_hit("dst-address-list=blocked", p), inside, "{addr}");
            assert_eq!(src_hit("src-address-list=blocked", p), inside, "{addr}");
            assert_eq!(src_hit("dst-address-list=!blocked", p), !inside, "{addr}");
        }
        assert!(!src_hit("dst-address-list=empty", pkt()));
        assert!(src_hit("dst-address-list=!empty", pkt()));
    }

    #[test]
    fn address_list_is_compiled_once_per_name() {
        let r = rules(&[
            "chain=srcnat src-address-list=blocked action=accept",
            "chain=dstnat dst-address-list=blocked action=accept",
            "chain=dstnat src-address-list=empty action=accept",
        ]);
        assert_eq!(r.sets.len(), 2);
    }

    #[test]
    fn dst_address_type_local() {
        let local = PacketMeta {
            dst_is_local: true,
            ..pkt()
        };
        assert!(dst_hit("dst-address-type=local", local));
        assert!(!dst_hit("dst-address-type=local", pkt()));
        assert!(dst_hit("dst-address-type=!local", pkt()));
        assert!(!dst_hit("dst-address-type=!local", local));
    }

    #[test]
    fn protocol() {
        assert!(src_hit("protocol=udp", pkt()));
        assert!(src_hit("protocol=17", pkt()));
        assert!(!src_hit("protocol=tcp", pkt()));
        assert!(src_hit("protocol=!tcp", pkt()));
        assert!(!src_hit("protocol=!udp", pkt()));
        let gre = PacketMeta {
            proto: 47,
            src_port: 0,
            dst_port: 0,
            ..pkt()
        };
        assert!(src_hit("protocol=47", gre));
    }

    #[test]
    fn ports() {
        let m = |s: &str, dport: u16| {
            src_hit(
                &format!("protocol=udp {s}"),
                PacketMeta {
                    dst_port: dport,
                    ..pkt()
                },
            )
        };
        assert!(m("dst-port=53", 53));
        assert!(!m("dst-port=54", 53));
        for (port, inside) in [
            (79, false),
            (80, true),
            (81, false),
            (443, true),
            (7999, false),
            (8000, true),
            (8042, true),
            (8080, true),
            (8081, false),
        ] {
            assert_eq!(m("dst-port=8000-8080,443,80", port), inside, "{port}");
            assert_eq!(m("dst-port=!80,443,8000-8080", port), !inside, "{port}");
        }
        assert!(m("dst-port=0-65535", 0));
        assert!(m("dst-port=0-65535", 65535));
        assert!(src_hit("protocol=udp src-port=40000", pkt()));
        assert!(!src_hit("protocol=udp src-port=!30000-50000", pkt()));
    }

    #[test]
    fn port_set_merges_overlaps_and_neighbours() {
        let s = PortSet::new(&[
            PortRange { lo: 10, hi: 20 },
            PortRange::single(21),
            PortRange { lo: 15, hi: 18 },
            PortRange {
                lo: 65000,
                hi: 65535,
            },
            PortRange::single(5),
        ]);
        assert_eq!(
            &*s.0,
            &[
                PortRange::single(5),
                PortRange { lo: 10, hi: 21 },
                PortRange {
                    lo: 65000,
                    hi: 65535
                }
            ]
        );
    }

    #[test]
    fn range_set_merges_and_handles_extremes() {
        let s = RangeSet::new(vec![(5, 9), (0, 0), (10, 12), (u32::MAX, u32::MAX), (7, 8)]);
        assert_eq!(&*s.0, &[(0, 0), (5, 12), (u32::MAX, u32::MAX)]);
        assert!(s.contains(0));
        assert!(!s.contains(1));
        assert!(s.contains(12));
        assert!(!s.contains(13));
        assert!(s.contains(u32::MAX));
        let all = RangeSet::new(vec![(0, u32::MAX), (3, 4)]);
        assert_eq!(&*all.0, &[(0, u32::MAX)]);
        assert!(!RangeSet::new(vec![]).contains(0));
    }

    #[test]
    fn first_match_wins() {
        let r = rules(&[
            "chain=srcnat src-address=10.0.0.0/8 action=src-nat to-addresses=203.0.113.1",
            "chain=srcnat src-address=192.168.88.0/24 action=src-nat to-addresses=203.0.113.2",
            "chain=srcnat action=masquerade",
        ]);
        assert_eq!(r.match_srcnat(&pkt()).unwrap().index, 1);
        let p = PacketMeta {
            src: a("10.1.2.3"),
            ..pkt()
        };
        assert_eq!(r.match_srcnat(&p).unwrap().index, 0);
        let p = PacketMeta {
            src: a("172.16.0.1"),
            ..pkt()
        };
        let hit = r.match_srcnat(&p).unwrap();
        assert_eq!(hit.index, 2);
        assert_eq!(*hit.action, CompiledAction::Masquerade { ports: None });
    }

    #[test]
    fn accept_stops_evaluation() {
        let r = rules(&[
            "chain=srcnat dst-address=10.0.0.0/8 action=accept",
            "chain=srcnat action=masquerade",
        ]);
        let p = PacketMeta {
            dst: a("10.2.3.4"),
            ..pkt()
        };
        let hit = r.match_srcnat(&p).unwrap();
        assert_eq!((hit.index, *hit.action), (0, CompiledAction::Accept));
        assert_eq!(r.match_srcnat(&pkt()).unwrap().index, 1);
    }

    #[test]
    fn disabled_rules_are_skipped_but_keep_their_index() {
        let r = rules(&[
            "chain=srcnat disabled=yes action=src-nat to-addresses=203.0.113.9",
            "chain=srcnat disabled=no action=masquerade",
        ]);
        assert_eq!(r.len(), 2);
        assert_eq!(r.is_disabled(0), Some(true));
        assert_eq!(r.is_disabled(1), Some(false));
        assert_eq!(r.match_srcnat(&pkt()).unwrap().index, 1);
        let all_off = rules(&["chain=dstnat disabled=yes action=accept"]);
        assert!(all_off.match_dstnat(&pkt()).is_none());
    }

    #[test]
    fn chains_are_separate() {
        let r = rules(&[
            "chain=dstnat action=accept",
            "chain=srcnat action=masquerade",
        ]);
        assert_eq!(r.match_dstnat(&pkt()).unwrap().index, 0);
        assert_eq!(r.match_srcnat(&pkt()).unwrap().index, 1);
        assert_eq!(r.chain(0), Some(Chain::DstNat));
        assert_eq!(r.chain(1), Some(Chain::SrcNat));
        assert_eq!(r.chain(2), None);
    }

    #[test]
    fn all_matchers_must_hold() {
        let line = "in-interface=lan in-interface-list=LAN out-interface=wan out-interface-list=WAN \
                    src-address=192.168.88.0/24 dst-address=8.8.8.8 src-address-list=!blocked \
                    dst-address-list=!empty dst-address-type=!local protocol=udp src-port=1024-65535 \
                    dst-port=53";
        assert!(src_hit(line, pkt()));
        for p in [
            PacketMeta {
                in_if: DMZ,
                ..pkt()
            },
            PacketMeta {
                out_if: Some(DMZ),
                ..pkt()
            },
            PacketMeta {
                src: a("192.168.89.1"),
                ..pkt()
            },
            PacketMeta {
                dst: a("8.8.4.4"),
                ..pkt()
            },
            PacketMeta {
                dst_is_local: true,
                ..pkt()
            },
            PacketMeta { proto: 6, ..pkt() },
            PacketMeta {
                src_port: 1023,
                ..pkt()
            },
            PacketMeta {
                dst_port: 54,
                ..pkt()
            },
        ] {
            assert!(!src_hit(line, p), "{p:?}");
        }
    }

    #[test]
    fn actions_compile_to_their_targets() {
        let r = rules(&[
            "chain=srcnat action=masquerade protocol=tcp to-ports=10000-19999",
            "chain=srcnat action=src-nat to-addresses=203.0.113.8/30",
            "chain=dstnat action=dst-nat protocol=tcp to-ports=8080",
            "chain=dstnat action=dst-nat to-addresses=10.0.0.1-10.0.0.3 protocol=udp to-ports=53",
            "chain=dstnat action=netmap to-addresses=10.0.0.77/24",
            "chain=dstnat action=redirect",
        ]);
        assert_eq!(
            r.action(0),
            Some(&CompiledAction::Masquerade {
                ports: Some(PortRange {
                    lo: 10000,
                    hi: 19999
                })
            })
        );
        let CompiledAction::SrcNat { addrs, ports: None } = *r.action(1).unwrap() else {
            panic!()
        };
        assert_eq!(
            (addrs.first(), addrs.last(), addrs.len()),
            (a("203.0.113.8"), a("203.0.113.11"), 4)
        );
        assert_eq!(
            r.action(2),
            Some(&CompiledAction::DstNat {
                addrs: None,
                ports: Some(PortRange::single(8080))
            })
        );
        let CompiledAction::DstNat {
            addrs: Some(addrs),
            ports: Some(p),
        } = *r.action(3).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            addrs.iter().collect::<Vec<_>>(),
            [a("10.0.0.1"), a("10.0.0.2"), a("10.0.0.3")]
        );
        assert_eq!(p.pick(12345), 53);
        let CompiledAction::Netmap {
            prefix,
            ports: None,
        } = *r.action(4).unwrap()
        else {
            panic!()
        };
        assert_eq!((prefix.network(), prefix.prefix_len()), (a("10.0.0.0"), 24));
        assert_eq!(r.action(5), Some(&CompiledAction::Redirect { ports: None }));
        assert_eq!(r.action(6), None);
    }

    #[test]
    fn netmap_maps_host_bits_one_to_one() {
        let n = NetmapPrefix::new(a("203.0.113.0"), 24);
        assert_eq!(n.map(a("10.0.0.7")), a("203.0.113.7"));
        assert_eq!(n.map(a("10.0.0.0")), a("203.0.113.0"));
        assert_eq!(n.map(a("10.0.0.255")), a("203.0.113.255"));
        let n = NetmapPrefix::new(a("192.168.0.0"), 16);
        assert_eq!(n.map(a("10.20.30.40")), a("192.168.30.40"));
        // /32 replaces everything, /0 replaces nothing.
        assert_eq!(
            NetmapPrefix::new(a("1.2.3.4"), 32).map(a("9.9.9.9")),
            a("1.2.3.4")
        );
        assert_eq!(
            NetmapPrefix::new(a("1.2.3.4"), 0).map(a("9.9.9.9")),
            a("9.9.9.9")
        );
        // Host bits given in the target are ignored.
        assert_eq!(
            NetmapPrefix::new(a("203.0.113.99"), 24).map(a("10.0.0.7")),
            a("203.0.113.7")
        );
    }

    #[test]
    fn netmap_rule_in_both_chains() {
        let r = rules(&[
            "chain=srcnat src-address=10.0.0.0/24 action=netmap to-addresses=203.0.113.0/24",
            "chain=dstnat dst-address=203.0.113.0/24 action=netmap to-addresses=10.0.0.0/24",
        ]);
        let out = PacketMeta {
            src: a("10.0.0.7"),
            ..pkt()
        };
        let hit = r.match_srcnat(&out).unwrap();
        let CompiledAction::Netmap { prefix, .. } = *hit.action else {
            panic!()
        };
        assert_eq!(prefix.map(out.src), a("203.0.113.7"));
        let inb = PacketMeta {
            in_if: WAN,
            out_if: None,
            dst: a("203.0.113.7"),
            ..pkt()
        };
        let hit = r.match_dstnat(&inb).unwrap();
        let CompiledAction::Netmap { prefix, .. } = *hit.action else {
            panic!()
        };
        assert_eq!(prefix.map(inb.dst), a("10.0.0.7"));
    }

    #[test]
    fn pool_pick_is_deterministic_and_spreads() {
        let p = AddrPool::from_spec(AddressSpec::Range(a("203.0.113.1"), a("203.0.113.4")));
        let mut seen = [0u32; 4];
        for i in 0..4000u64 {
            let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let x = p.pick(h);
            assert_eq!(x, p.pick(h));
            assert!(p.contains(x));
            seen[(u32::from(x) - u32::from(a("203.0.113.1"))) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(p.pick(0), a("203.0.113.1"));
        assert_eq!(p.pick(u64::MAX), a("203.0.113.4"));
        let all = AddrPool::from_spec(AddressSpec::Prefix(a("0.0.0.0"), 0));
        assert_eq!(all.len(), 1 << 32);
        assert_eq!(all.pick(u64::MAX), a("255.255.255.255"));
    }

    #[test]
    fn port_pick_stays_in_range() {
        let r = PortRange {
            lo: 1024,
            hi: 65535,
        };
        assert_eq!(r.pick(0), 1024);
        assert_eq!(r.pick(u64::MAX), 65535);
        let full = PortRange { lo: 0, hi: 65535 };
        assert_eq!(full.len(), 65536);
        assert_eq!(full.pick(u64::MAX), 65535);
        assert_eq!(PortRange::single(80).pick(u64::MAX), 80);
    }

    #[test]
    fn unknown_names_are_errors_with_the_rule_index() {
        let specs: Vec<RuleSpec> = [
            "chain=srcnat action=masquerade",
            "chain=srcnat out-interface=ether9 action=masquerade",
        ]
        .iter()
        .map(|l| parse_rule(l).unwrap())
        .collect();
        let e = compile(&specs, &ctx()).unwrap_err();
        assert_eq!(
            e,
            CompileError {
                rule: 1,
                reason: CompileReason::UnknownInterface("ether9".into())
            }
        );
        assert_eq!(e.to_string(), "rule 1: unknown interface 'ether9'");
        for (line, reason) in [
            (
                "chain=srcnat in-interface=!nope",
                CompileReason::UnknownInterface("nope".into()),
            ),
            (
                "chain=srcnat in-interface-list=DMZ",
                CompileReason::UnknownInterfaceList("DMZ".into()),
            ),
            (
                "chain=srcnat out-interface-list=lan",
                CompileReason::UnknownInterfaceList("lan".into()),
            ),
            (
                "chain=srcnat src-address-list=allowed",
                CompileReason::UnknownAddressList("allowed".into()),
            ),
            (
                "chain=dstnat dst-address-list=!x",
                CompileReason::UnknownAddressList("x".into()),
            ),
        ] {
            let e = compile(&[parse_rule(line).unwrap()], &ctx()).unwrap_err();
            assert_eq!(e, CompileError { rule: 0, reason }, "{line}");
        }
        assert_eq!(
            CompileReason::UnknownAddressList("x".into()).to_string(),
            "unknown address list 'x'"
        );
    }

    #[test]
    fn hand_built_inconsistent_spec_is_rejected() {
        let s = RuleSpec::new(Chain::DstNat, Action::Masquerade);
        let e = compile(&[s], &ctx()).unwrap_err();
        assert_eq!(
            e,
            CompileError {
                rule: 0,
                reason: CompileReason::Invalid(ParseReason::WrongChain(
                    Action::Masquerade,
                    Chain::DstNat
                ))
            }
        );
        let mut s = RuleSpec::new(Chain::SrcNat, Action::Netmap);
        s.to_addresses = Some(AddressSpec::Range(a("1.1.1.1"), a("1.1.1.2")));
        assert!(matches!(
            compile(&[s], &ctx()).unwrap_err().reason,
            CompileReason::Invalid(ParseReason::NetmapNeedsPrefix(_))
        ));
    }

    proptest! {
        /// Bisection over the merged set agrees with a linear scan of the entries.
        #[test]
        fn range_set_matches_linear_scan(
            entries in proptest::collection::vec((any::<u32>(), 0u32..1000), 0..20),
            probes in proptest::collection::vec(any::<u32>(), 1..50),
        ) {
            let raw: Vec<(u32, u32)> = entries.iter().map(|&(lo, w)| (lo, lo.saturating_add(w))).collect();
            let set = RangeSet::new(raw.clone());
            let mut extra: Vec<u32> = raw.iter().flat_map(|&(lo, hi)| [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]).collect();
            extra.extend(probes);
            for x in extra {
                let want = raw.iter().any(|&(lo, hi)| lo <= x && x <= hi);
                prop_assert_eq!(set.contains(x), want, "x={}", x);
            }
        }

        #[test]
        fn port_set_matches_linear_scan(
            entries in proptest::collection::vec((any::<u16>(), 0u16..500), 1..16),
            probe in any::<u16>(),
        ) {
            let raw: Vec<PortRange> = entries.iter().map(|&(lo, w)| PortRange { lo, hi: lo.saturating_add(w) }).collect();
            let set = PortSet::new(&raw);
            for x in raw.iter().flat_map(|r| [r.lo, r.hi, r.lo.wrapping_sub(1), r.hi.wrapping_add(1)]).chain([probe]) {
                prop_assert_eq!(set.contains(x), raw.iter().any(|r| r.contains(x)));
            }
        }

        #[test]
        fn netmap_keeps_host_bits(net in any::<u32>(), len in 0u8..=32, addr in any::<u32>()) {
            let n = NetmapPrefix::new(Ipv4Addr::from(net), len);
            let out = u32::from(n.map(Ipv4Addr::from(addr)));
            let mask = prefix_mask(len);
            prop_assert_eq!(out & !mask, addr & !mask);
            prop_assert_eq!(out & mask, net & mask);
        }

        #[test]
        fn picks_stay_in_bounds(lo in any::<u32>(), w in any::<u32>(), plo in any::<u16>(), pw in any::<u16>(), h in any::<u64>()) {
            let hi = lo.saturating_add(w);
            let pool = AddrPool::from_spec(AddressSpec::Range(Ipv4Addr::from(lo), Ipv4Addr::from(hi)));
            prop_assert!(pool.contains(pool.pick(h)));
            let pr = PortRange { lo: plo, hi: plo.saturating_add(pw) };
            prop_assert!(pr.contains(pr.pick(h)));
        }
    }
}
