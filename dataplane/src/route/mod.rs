//! Interfaces, longest-prefix-match routing and the neighbour (ARP) table.
//!
//! - [`interfaces`]: the immutable interface snapshot (names, MACs, addresses,
//!   interface-list bitmasks) and the "is this address ours" test.
//! - [`fib`]: connected + static routes compiled into a multibit trie
//!   (16-8-8 strides, at most three dependent reads per lookup).
//! - [`neighbor`]: the bounded, preallocated neighbour table with aging,
//!   per-next-hop hold queues and rate-limited ARP requests.
//! - [`arp`]: answering ARP requests for our addresses, learning from ARP,
//!   and building requests / gratuitous announcements.
//!
//! Invariants: [`Interfaces`] and [`Fib`] are built once by the control
//! thread and never mutated (they are `Send + Sync` and shared read-only by
//! the workers); [`NeighborTable`] is per worker and never allocates after
//! construction.
pub mod arp;
pub mod fib;
pub mod interfaces;
pub mod neighbor;

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

pub use fib::{Fib, FibError, NextHop, Route, RouteKind, StaticRoute};
pub use interfaces::{Interface, InterfaceError, InterfaceLists, Interfaces, InterfacesBuilder};
pub use neighbor::{NeighborConfig, NeighborState, NeighborTable};

pub use crate::wire::ethernet::MacAddr;

/// Dataplane interface index: dense, assigned in configuration order (0, 1, ...).
pub type IfIndex = u16;

/// An IPv4 address with a prefix length, e.g. `192.168.88.1/24`.
///
/// The address may have host bits set (an interface address); use
/// [`Ipv4Cidr::network`] / [`Ipv4Cidr::trunc`] for the network itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

/// Why a CIDR string or value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrError {
    /// The address part is not a dotted-quad IPv4 address.
    BadAddress,
    /// The prefix length is not a number in 0..=32.
    BadPrefixLen,
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::BadAddress => f.write_str("invalid IPv4 address"),
            CidrError::BadPrefixLen => f.write_str("prefix length must be 0..=32"),
        }
    }
}

impl std::error::Error for CidrError {}

/// The netmask for `prefix_len` as a host-order u32 (`prefix_len` > 32 saturates to /32).
#[inline]
pub const fn mask_u32(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else if prefix_len >= 32 {
        u32::MAX
    } else {
        u32::MAX << (32 - prefix_len)
    }
}

impl Ipv4Cidr {
    /// `prefix_len` must be at most 32.
    pub const fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, CidrError> {
        if prefix_len > 32 {
            return Err(CidrError::BadPrefixLen);
        }
        Ok(Ipv4Cidr { addr, prefix_len })
    }

    /// Parses `a.b.c.d/n`; a bare address means `/32` (as RouterOS does).
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: Ipv4Addr = a.parse().map_err(|_| CidrError::BadAddress)?;
        let prefix_len = match p {
            None => 32,
            // Only plain decimal digits: "+8" or " 8" are typos, not prefixes.
            Some(p) if !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| CidrError::BadPrefixLen)?
            }
            Some(_) => return Err(CidrError::BadPrefixLen),
        };
        Ipv4Cidr::new(addr, prefix_len)
    }

    /// The netmask, e.g. 255.255.255.0 for /24.
    #[inline]
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask_u32(self.prefix_len))
    }

    /// The network address (host bits cleared).
    #[inline]
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & mask_u32(self.prefix_len))
    }

    /// The all-ones host address of the subnet (equal to the address for /31 and /32).
    #[inline]
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask_u32(self.prefix_len))
    }

    /// This prefix with host bits cleared.
    #[inline]
    pub fn trunc(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether host bits are set (an interface address rather than a network).
    #[inline]
    pub fn has_host_bits(&self) -> bool {
        u32::from(self.addr) & !mask_u32(self.prefix_len) != 0
    }

    /// Whether `ip` lies inside this prefix.
    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = mask_u32(self.prefix_len);
        (u32::from(ip) ^ u32::from(self.addr)) & m == 0
    }

    /// Whether `ip` is the subnet's network or broadcast address, which no
    /// host may own (does not apply to /31 and /32, RFC 3021).
    #[inline]
    pub fn is_network_or_broadcast(&self, ip: Ipv4Addr) -> bool {
        self.prefix_len < 31
            && self.contains(ip)
            && (ip == self.network() || ip == self.broadcast())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ipv4Cidr::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        Ipv4Cidr::parse(s).unwrap()
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "192.168.88.1/24",
            "0.0.0.0/0",
            "10.0.0.1/32",
            "203.0.113.5/31",
        ] {
            assert_eq!(c(s).to_string(), s);
        }
        assert_eq!(
            c("10.1.2.3"),
            Ipv4Cidr::new(Ipv4Addr::new(10, 1, 2, 3), 32).unwrap()
        );
        assert_eq!("10.0.0.0/8".parse::<Ipv4Cidr>().unwrap().prefix_len, 8);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(Ipv4Cidr::parse("10.0.0.1/33"), Err(CidrError::BadPrefixLen));
        assert_eq!(Ipv4Cidr::parse("10.0.0.1/"), Err(CidrError::BadPrefixLen));
        assert_eq!(Ipv4Cidr::parse("10.0.0.1/+8"), Err(CidrError::BadPrefixLen));
        assert_eq!(
            Ipv4Cidr::parse("10.0.0.1/008"),
            Err(CidrError::BadPrefixLen)
        );
        assert_eq!(Ipv4Cidr::parse("10.0.0/8"), Err(CidrError::BadAddress));
        assert_eq!(Ipv4Cidr::parse("/8"), Err(CidrError::BadAddress));
        assert_eq!(Ipv4Cidr::parse(""), Err(CidrError::BadAddress));
        assert!(Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 33).is_err());
    }

    #[test]
    fn network_broadcast_netmask() {
        let x = c("192.168.88.77/24");
        assert_eq!(x.network(), Ipv4Addr::new(192, 168, 88, 0));
        assert_eq!(x.broadcast(), Ipv4Addr::new(192, 168, 88, 255));
        assert_eq!(x.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(x.trunc(), c("192.168.88.0/24"));
        assert!(x.has_host_bits());
        assert!(!x.trunc().has_host_bits());

        let d = c("1.2.3.4/0");
        assert_eq!(d.network(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(d.broadcast(), Ipv4Addr::BROADCAST);
        assert_eq!(d.netmask(), Ipv4Addr::UNSPECIFIED);

        let h = c("1.2.3.4/32");
        assert_eq!(h.network(), h.addr);
        assert_eq!(h.broadcast(), h.addr);

        let p = c("203.0.113.4/31");
        assert_eq!(p.network(), Ipv4Addr::new(203, 0, 113, 4));
        assert_eq!(p.broadcast(), Ipv4Addr::new(203, 0, 113, 5));
        assert!(!p.is_network_or_broadcast(Ipv4Addr::new(203, 0, 113, 4)));
        assert!(x.is_network_or_broadcast(Ipv4Addr::new(192, 168, 88, 255)));
        assert!(x.is_network_or_broadcast(Ipv4Addr::new(192, 168, 88, 0)));
        assert!(!x.is_network_or_broadcast(Ipv4Addr::new(192, 168, 88, 1)));
    }

    #[test]
    fn contains_respects_prefix() {
        let x = c("10.20.0.0/14");
        assert!(x.contains(Ipv4Addr::new(10, 20, 0, 0)));
        assert!(x.contains(Ipv4Addr::new(10, 23, 255, 255)));
        assert!(!x.contains(Ipv4Addr::new(10, 24, 0, 0)));
        assert!(!x.contains(Ipv4Addr::new(10, 19, 255, 255)));
        assert!(c("0.0.0.0/0").contains(Ipv4Addr::new(255, 1, 2, 3)));
        assert!(c("9.9.9.9/32").contains(Ipv4Addr::new(9, 9, 9, 9)));
        assert!(!c("9.9.9.9/32").contains(Ipv4Addr::new(9, 9, 9, 8)));
    }
}
