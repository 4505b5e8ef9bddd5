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
