//! The interface snapshot: names, MACs, addresses, MTU and interface lists.
//!
//! Invariants (checked by [`InterfacesBuilder::build`]):
//! - interface indexes are dense, `0..len()`, in the order interfaces were
//!   added, so [`Interfaces::get`] is a bounds-checked array index;
//! - names are unique and non-empty; MACs are unicast and non-zero;
//! - every interface address is a usable unicast host address (not 0/8,
//!   loopback, multicast, broadcast, nor the network/broadcast address of its
//!   own subnet), and no address is configured twice;
//! - at most [`InterfaceLists::MAX`] interface lists exist, list `n` being bit
//!   `1 << n` of [`Interface::lists`].
//!
//! Once built, [`Interfaces`] is immutable and shared read-only by workers.

use std::fmt;
use std::net::Ipv4Addr;

use super::{IfIndex, Ipv4Cidr, MacAddr};

/// Smallest MTU an IPv4 router must support (RFC 791).
pub const MIN_MTU: u16 = 68;

/// One dataplane interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: IfIndex,
    pub mac: MacAddr,
    /// Configured addresses; the first is the primary one.
    pub addrs: Vec<Ipv4Cidr>,
    /// IP MTU (bytes of IPv4 packet, without the Ethernet header).
    pub mtu: u16,
    /// Bitmask of the interface lists this interface belongs to.
    pub lists: u32,
}

impl Interface {
    /// The first configured address.
    #[inline]
    pub fn primary_addr(&self) -> Option<Ipv4Addr> {
        self.addrs.first().map(|c| c.addr)
    }

    /// Our address whose subnet contains `dst` (the longest such prefix, then
    /// the first configured); used to pick the source for masquerade and ARP.
    pub fn addr_on_link(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let mut best: Option<Ipv4Cidr> = None;
        for c in &self.addrs {
            if c.contains(dst) && !matches!(best, Some(b) if b.prefix_len >= c.prefix_len) {
                best = Some(*c);
            }
        }
        best.map(|c| c.addr)
    }

    /// Whether `ip` is one of this interface's addresses.
    #[inline]
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|c| c.addr == ip)
    }

    /// Whether this interface is in any list of `mask`.
    #[inline]
    pub fn in_lists(&self, mask: u32) -> bool {
        self.lists & mask != 0
    }

    /// Whether `ip` is the limited broadcast or the directed broadcast of one of
    /// this interface's subnets (ARP and routing must not treat it as a host).
    pub fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip == Ipv4Addr::BROADCAST
            || self
                .addrs
                .iter()
                .any(|c| c.prefix_len < 31 && c.broadcast() == ip)
    }
}

/// Why an interface set was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceError {
    EmptyName,
    DuplicateName(String),
    /// More interfaces than an [`IfIndex`] can number.
    TooManyInterfaces,
    /// A 33rd interface list was named.
    TooManyLists(String),
    EmptyListName,
    BadMtu {
        name: String,
        mtu: u16,
    },
    /// Multicast or all-zero MAC.
    BadMac {
        name: String,
    },
    /// Not a usable unicast host address for an interface.
    BadAddress {
        name: String,
        addr: Ipv4Cidr,
    },
    /// The same address on two interfaces (or twice on one).
    DuplicateAddress(Ipv4Addr),
}

impl fmt::Display for InterfaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceError::EmptyName => f.write_str("interface name is empty"),
            InterfaceError::DuplicateName(n) => write!(f, "interface {n:?} defined twice"),
            InterfaceError::TooManyInterfaces => f.write_str("too many interfaces"),
            InterfaceError::TooManyLists(n) => write!(
                f,
                "interface list {n:?}: at most {} interface lists",
                InterfaceLists::MAX
            ),
            InterfaceError::EmptyListName => f.write_str("interface list name is empty"),
            InterfaceError::BadMtu { name, mtu } => {
                write!(f, "interface {name:?}: mtu {mtu} below {MIN_MTU}")
            }
            InterfaceError::BadMac { name } => {
                write!(f, "interface {name:?}: MAC must be unicast and non-zero")
            }
            InterfaceError::BadAddress { name, addr } => {
                write!(f, "interface {name:?}: {addr} is not a usable host address")
            }
            InterfaceError::DuplicateAddress(a) => write!(f, "address {a} configured twice"),
        }
    }
}

impl std::error::Error for InterfaceError {}

/// Registry of interface-list names; list `n` is bit `1 << n`.
///
/// Names are case-sensitive, as in RouterOS. Pseudo-lists such as `all` are
/// the rule compiler's business, not registered here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceLists {
    names: Vec<String>,
}

impl InterfaceLists {
    /// Lists fit in the `u32` bitmask of [`Interface::lists`].
    pub const MAX: usize = 32;

    pub fn new() -> Self {
        InterfaceLists::default()
    }

    /// The bit of list `name`, registering it if new (a list may have no members).
    pub fn define(&mut self, name: &str) -> Result<u32, InterfaceError> {
        if name.is_empty() {
            return Err(InterfaceError::EmptyListName);
        }
        if let Some(m) = self.mask(name) {
            return Ok(m);
        }
        if self.names.len() >= Self::MAX {
            return Err(InterfaceError::TooManyLists(name.to_owned()));
        }
        self.names.push(name.to_owned());
        Ok(1 << (self.names.len() - 1))
    }

    /// The bit of an already registered list.
    pub fn mask(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|i| 1u32 << i)
    }

    /// The name of list bit number `bit` (0..32).
    pub fn name_of(&self, bit: u32) -> Option<&str> {
        self.names.get(bit as usize).map(String::as_str)
    }

    /// Names of the lists set in `mask`, in bit order.
    pub fn names_in(&self, mask: u32) -> impl Iterator<Item = &str> + '_ {
        self.names
            .iter()
            .enumerate()
            .filter(move |(i, _)| mask & (1u32 << i) != 0)
            .map(|(_, n)| n.as_str())
    }

    /// All registered names, in bit order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Collects and validates interfaces; indexes are assigned in call order.
#[derive(Debug, Clone, Default)]
pub struct InterfacesBuilder {
    ifaces: Vec<Interface>,
    lists: InterfaceLists,
}

impl InterfacesBuilder {
    pub fn new() -> Self {
        InterfacesBuilder::default()
    }

    /// Registers list names up front (e.g. RouterOS `/interface list add` with no members).
    pub fn lists_mut(&mut self) -> &mut InterfaceLists {
        &mut self.lists
    }

    /// Adds an interface and returns its index. Address checks happen here;
    /// cross-interface duplicate checks happen in [`InterfacesBuilder::build`].
    pub fn add(
        &mut self,
        name: &str,
        mac: MacAddr,
        addrs: &[Ipv4Cidr],
        mtu: u16,
        lists: &[&str],
    ) -> Result<IfIndex, InterfaceError> {
        if name.is_empty() {
            return Err(InterfaceError::EmptyName);
        }
        if self.ifaces.iter().any(|i| i.name == name) {
            return Err(InterfaceError::DuplicateName(name.to_owned()));
        }
        let index =
            IfIndex::try_from(self.ifaces.len()).map_err(|_| InterfaceError::TooManyInterfaces)?;
        if index == IfIndex::MAX {
            return Err(InterfaceError::TooManyInterfaces);
        }
        if mtu < MIN_MTU {
            return Err(InterfaceError::BadMtu {
                name: name.to_owned(),
                mtu,
            });
        }
        if mac == MacAddr::ZERO || mac.is_multicast() {
            return Err(InterfaceError::BadMac {
                name: name.to_owned(),
            });
        }
        for a in addrs {
            if !usable_host_addr(a) {
                return Err(InterfaceError::BadAddress {
                    name: name.to_owned(),
                    addr: *a,
                });
            }
        }
        let mut mask = 0;
        for l in lists {
            mask |= self.lists.define(l)?;
        }
        self.ifaces.push(Interface {
            name: name.to_owned(),
            index,
            mac,
            addrs: addrs.to_vec(),
            mtu,
            lists: mask,
        });
        Ok(index)
    }

    pub fn build(self) -> Result<Interfaces, InterfaceError> {
        let mut local: Vec<(u32, IfIndex)> = self
            .ifaces
            .iter()
            .flat_map(|i| i.addrs.iter().map(move |c| (u32::from(c.addr), i.index)))
            .collect();
        local.sort_unstable();
        if let Some(w) = local.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(InterfaceError::DuplicateAddress(Ipv4Addr::from(w[0].0)));
        }
        Ok(Interfaces {
            ifaces: self.ifaces.into_boxed_slice(),
            local_addrs: local.iter().map(|&(a, _)| a).collect(),
            local_owner: local.iter().map(|&(_, i)| i).collect(),
            lists: self.lists,
        })
    }
}

fn usable_host_addr(c: &Ipv4Cidr) -> bool {
    let a = c.addr;
    !(a.is_unspecified()
        || a.octets()[0] == 0
        || a.is_loopback()
        || a.is_multicast()
        || a.is_broadcast()
        || u32::from(a) >= 0xF000_0000 // class E
        || c.prefix_len == 0
        || c.is_network_or_broadcast(a))
}

/// Immutable interface snapshot shared by all workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interfaces {
    ifaces: Box<[Interface]>,
    /// Every interface address, sorted (host order), for `is_local`.
    local_addrs: Box<[u32]>,
    /// `local_owner[i]` owns `local_addrs[i]`.
    local_owner: Box<[IfIndex]>,
    lists: InterfaceLists,
}

impl Default for Interfaces {
    fn default() -> Self {
        Interfaces {
            ifaces: Box::new([]),
            local_addrs: Box::new([]),
            local_owner: Box::new([]),
            lists: InterfaceLists::default(),
        }
    }
}

impl Interfaces {
    pub fn builder() -> InterfacesBuilder {
        InterfacesBuilder::new()
    }

    #[inline]
    pub fn get(&self, index: IfIndex) -> Option<&Interface> {
        self.ifaces.get(index as usize)
    }

    pub fn by_name(&self, name: &str) -> Option<&Interface> {
        self.ifaces.iter().find(|i| i.name == name)
    }

    /// Whether `ip` is one of the router's own addresses (any interface).
    /// Binary search over a small sorted array: no hashing, one cache line
    /// for up to 16 addresses.
    #[inline]
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.local_addrs.binary_search(&u32::from(ip)).is_ok()
    }

    /// The interface owning local address `ip`.
    #[inline]
    pub fn local_owner(&self, ip: Ipv4Addr) -> Option<IfIndex> {
        let i = self.local_addrs.binary_search(&u32::from(ip)).ok()?;
        self.local_owner.get(i).copied()
    }

    #[inline]
    pub fn primary_addr(&self, index: IfIndex) -> Option<Ipv4Addr> {
        self.get(index)?.primary_addr()
    }

    /// Our address on `index` whose subnet contains `dst`.
    #[inline]
    pub fn addr_on_link(&self, index: IfIndex, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.get(index)?.addr_on_link(dst)
    }

    /// Source address for traffic leaving `index` towards `next_hop` (the
    /// gateway, or the destination when on-link): the address on that subnet,
    /// else the primary address. This is what masquerade uses.
    #[inline]
    pub fn source_for(&self, index: IfIndex, next_hop: Ipv4Addr) -> Option<Ipv4Addr> {
        let i = self.get(index)?;
        i.addr_on_link(next_hop).or_else(|| i.primary_addr())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Interface> + '_ {
        self.ifaces.iter()
    }

    pub fn len(&self) -> usize {
        self.ifaces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ifaces.is_empty()
    }

    pub fn lists(&self) -> &InterfaceLists {
        &self.lists
    }

    /// The bitmask of list `name`, if registered.
    pub fn list_mask(&self, name: &str) -> Option<u32> {
        self.lists.mask(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        Ipv4Cidr::parse(s).unwrap()
    }

    fn mac(last: u8) -> MacAddr {
        MacAddr([0x02, 0, 0, 0, 0, last])
    }

    fn sample() -> Interfaces {
        let mut b = Interfaces::builder();
        b.lists_mut().define("EMPTY").unwrap();
        let lan = b
            .add(
                "lan",
                mac(1),
                &[c("192.168.88.1/24"), c("10.0.0.1/8"), c("10.1.0.1/16")],
                1500,
                &["LAN"],
            )
            .unwrap();
        let wan = b
            .add("wan", mac(2), &[c("203.0.113.1/24")], 1500, &["WAN", "LAN"])
            .unwrap();
        assert_eq!((lan, wan), (0, 1));
        b.add("mgmt", mac(3), &[], 9000, &[]).unwrap();
        b.build().unwrap()
    }

    #[test]
    fn lookups_by_index_name_and_address() {
        let ifs = sample();
        assert_eq!(ifs.len(), 3);
        assert_eq!(ifs.get(1).unwrap().name, "wan");
        assert!(ifs.get(3).is_none());
        assert_eq!(ifs.by_name("mgmt").unwrap().index, 2);
        assert!(ifs.by_name("nope").is_none());
        assert!(ifs.is_local(Ipv4Addr::new(203, 0, 113, 1)));
        assert!(ifs.is_local(Ipv4Addr::new(10, 1, 0, 1)));
        assert!(!ifs.is_local(Ipv4Addr::new(203, 0, 113, 2)));
        assert!(!ifs.is_local(Ipv4Addr::new(192, 168, 88, 255)));
        assert_eq!(ifs.local_owner(Ipv4Addr::new(10, 0, 0, 1)), Some(0));
        assert_eq!(ifs.local_owner(Ipv4Addr::new(203, 0, 113, 1)), Some(1));
        assert_eq!(ifs.local_owner(Ipv4Addr::new(1, 1, 1, 1)), None);
        let names: Vec<_> = ifs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lan", "wan", "mgmt"]);
    }

    #[test]
    fn primary_and_on_link_source_selection() {
        let ifs = sample();
        assert_eq!(ifs.primary_addr(0), Some(Ipv4Addr::new(192, 168, 88, 1)));
        assert_eq!(ifs.primary_addr(2), None);
        assert_eq!(ifs.primary_addr(9), None);
        // 10.1.2.3 is in both 10/8 and 10.1/16: the longer prefix wins.
        assert_eq!(
            ifs.addr_on_link(0, Ipv4Addr::new(10, 1, 2, 3)),
            Some(Ipv4Addr::new(10, 1, 0, 1))
        );
        assert_eq!(
            ifs.addr_on_link(0, Ipv4Addr::new(10, 2, 2, 3)),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(ifs.addr_on_link(0, Ipv4Addr::new(8, 8, 8, 8)), None);
        assert_eq!(
            ifs.source_for(0, Ipv4Addr::new(8, 8, 8, 8)),
            Some(Ipv4Addr::new(192, 168, 88, 1))
        );
        assert_eq!(
            ifs.source_for(0, Ipv4Addr::new(10, 9, 9, 9)),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(ifs.source_for(2, Ipv4Addr::new(10, 9, 9, 9)), None);
    }

    #[test]
    fn interface_lists_map_to_bits() {
        let ifs = sample();
        let l = ifs.lists();
        assert_eq!(l.mask("EMPTY"), Some(1));
        assert_eq!(l.mask("LAN"), Some(2));
        assert_eq!(l.mask("WAN"), Some(4));
        assert_eq!(l.mask("lan"), None, "names are case-sensitive");
        assert_eq!(ifs.get(0).unwrap().lists, 2);
        assert_eq!(ifs.get(1).unwrap().lists, 6);
        assert_eq!(ifs.get(2).unwrap().lists, 0);
        assert!(ifs.get(1).unwrap().in_lists(ifs.list_mask("WAN").unwrap()));
        assert!(!ifs.get(0).unwrap().in_lists(4));
        assert_eq!(l.names_in(6).collect::<Vec<_>>(), ["LAN", "WAN"]);
        assert_eq!(l.name_of(2), Some("WAN"));
        assert_eq!(l.name_of(3), None);
    }

    #[test]
    fn at_most_32_lists() {
        let mut l = InterfaceLists::new();
        for i in 0..32 {
            assert_eq!(l.define(&format!("L{i}")).unwrap(), 1u32 << i);
        }
        assert_eq!(
            l.define("L31").unwrap(),
            1 << 31,
            "existing name still resolves"
        );
        assert_eq!(
            l.define("L32"),
            Err(InterfaceError::TooManyLists("L32".into()))
        );
        assert_eq!(l.define(""), Err(InterfaceError::EmptyListName));
    }

    #[test]
    fn builder_rejects_bad_interfaces() {
        let mut b = Interfaces::builder();
        b.add("a", mac(1), &[c("192.0.2.1/24")], 1500, &[]).unwrap();
        assert_eq!(
            b.add("a", mac(2), &[], 1500, &[]),
            Err(InterfaceError::DuplicateName("a".into()))
        );
        assert_eq!(
            b.add("", mac(2), &[], 1500, &[]),
            Err(InterfaceError::EmptyName)
        );
        assert!(matches!(
            b.add("m", mac(2), &[], 67, &[]),
            Err(InterfaceError::BadMtu { mtu: 67, .. })
        ));
        assert!(matches!(
            b.add("m", MacAddr([1, 0, 0, 0, 0, 1]), &[], 1500, &[]),
            Err(InterfaceError::BadMac { .. })
        ));
        assert!(matches!(
            b.add("m", MacAddr([0; 6]), &[], 1500, &[]),
            Err(InterfaceError::BadMac { .. })
        ));
        for bad in [
            "192.0.2.0/24",
            "192.0.2.255/24",
            "127.0.0.1/8",
            "224.0.0.1/24",
            "0.1.2.3/8",
            "255.255.255.255/32",
            "240.0.0.1/8",
            "10.0.0.1/0",
        ] {
            assert!(
                matches!(
                    b.add("m", mac(2), &[c(bad)], 1500, &[]),
                    Err(InterfaceError::BadAddress { .. })
                ),
                "{bad} accepted"
            );
        }
        // /31 and /32 have no network/broadcast address (RFC 3021).
        b.add(
            "p2p",
            mac(3),
            &[c("198.51.100.0/31"), c("198.51.100.7/32")],
            1500,
            &[],
        )
        .unwrap();
        b.add("dup", mac(4), &[c("192.0.2.1/25")], 1500, &[])
            .unwrap();
        assert_eq!(
            b.build(),
            Err(InterfaceError::DuplicateAddress(Ipv4Addr::new(
                192, 0, 2, 1
            )))
        );
    }

    #[test]
    fn broadcast_detection() {
        let ifs = sample();
        let lan = ifs.get(0).unwrap();
        assert!(lan.is_broadcast(Ipv4Addr::new(192, 168, 88, 255)));
        assert!(lan.is_broadcast(Ipv4Addr::new(10, 255, 255, 255)));
        assert!(lan.is_broadcast(Ipv4Addr::BROADCAST));
        assert!(!lan.is_broadcast(Ipv4Addr::new(192, 168, 88, 254)));
    }

    #[test]
    fn snapshot_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Interfaces>();
    }
}
