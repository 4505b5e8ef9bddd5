//! The immutable world a worker translates against.
//!
//! The control thread builds a [`Snapshot`] (compiled rules, interfaces, FIB,
//! NAT configuration), validates it once in [`Snapshot::new`] and publishes
//! it as an `Arc`. Workers swap their pointer between bursts
//! ([`crate::nat::Engine::set_snapshot`]); nothing in a snapshot changes
//! after publication, so workers read it without locks. Established
//! sessions keep the rewrite they were created with: a new snapshot only
//! affects sessions created after it.

use crate::nat::config::{ConfigError, NatConfig};
use crate::nat::rules::{CompiledAction, CompiledRules};
use crate::route::{Fib, Interfaces};
use std::net::Ipv4Addr;

/// Most addresses one srcnat pool may have: every worker preallocates a
/// port bitmap per address and protocol.
pub const MAX_POOL_ADDRS: u64 = 1024;

/// One set of external addresses and ports a srcnat rule may hand out. The
/// engine keeps one port allocator per distinct spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolSpec {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    /// Inclusive external port range.
    pub ports: (u16, u16),
}

impl PoolSpec {
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        (u32::from(self.first)..=u32::from(self.last)).contains(&u32::from(a))
    }

    fn overlaps(&self, o: &PoolSpec) -> bool {
        u32::from(self.first) <= u32::from(o.last)
            && u32::from(o.first) <= u32::from(self.last)
            && self.ports.0 <= o.ports.1
            && o.ports.0 <= self.ports.1
    }

    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)).saturating_sub(u64::from(u32::from(self.first))) + 1
    }

    pub fn is_empty(&self) -> bool {
        u32::from(self.last) < u32::from(self.first)
    }

    /// Every address, in order.
    pub fn addrs(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.first)..=u32::from(self.last)).map(Ipv4Addr::from)
    }
}

/// Compiled rules + interfaces + FIB + NAT configuration.
#[derive(Debug)]
pub struct Snapshot {
    pub rules: CompiledRules,
    pub interfaces: Interfaces,
    pub fib: Fib,
    pub nat: NatConfig,
    /// Every pool a srcnat rule can use, derived from the rules and the
    /// interfaces' primary addresses.
    pools: Box<[PoolSpec]>,
}

impl Snapshot {
    /// Validates `nat` and derives the srcnat pools. Fails if the
    /// configuration is invalid or two pools would hand out the same
    /// external address:port.
    pub fn new(
        rules: CompiledRules,
        interfaces: Interfaces,
        fib: Fib,
        nat: NatConfig,
    ) -> Result<Snapshot, ConfigError> {
        nat.validate()?;
        let mut pools: Vec<PoolSpec> = Vec::new();
        let mut add = |p: PoolSpec| {
            if !pools.contains(&p) {
                pools.push(p);
            }
        };
        for i in 0..rules.len() {
            match rules.action(i) {
                Some(CompiledAction::Masquerade { ports }) => {
                    let ports = ports.map_or(nat.port_range, |r| (r.lo, r.hi));
                    for ifc in interfaces.iter() {
                        if let Some(a) = ifc.primary_addr() {
                            add(PoolSpec {
                                first: a,
                                last: a,
                                ports,
                            });
                        }
                    }
                }
                Some(CompiledAction::SrcNat { addrs, ports }) => {
                    let ports = ports.map_or(nat.port_range, |r| (r.lo, r.hi));
                    add(PoolSpec {
                        first: addrs.first(),
                        last: addrs.last(),
                        ports,
                    });
                }
                _ => {}
            }
        }
        if let Some(p) = pools.iter().find(|p| p.len() > MAX_POOL_ADDRS) {
            return Err(ConfigError::PoolTooLarge {
                first: p.first,
                len: p.len(),
            });
        }
        for (i, a) in pools.iter().enumerate() {
            for b in &pools[i + 1..] {
                if a.overlaps(b) {
                    let first = u32::from(a.first).max(u32::from(b.first));
                    return Err(ConfigError::OverlappingPools(Ipv4Addr::from(first)));
                }
            }
        }
        Ok(Snapshot {
            rules,
            interfaces,
            fib,
            nat,
            pools: pools.into_boxed_slice(),
        })
    }

    /// The pools srcnat rules of this snapshot can allocate from.
    pub fn pools(&self) -> &[PoolSpec] {
        &self.pools
    }

    /// Which of `workers` workers owns the session of an inbound packet to
    /// `dst:port` (TCP/UDP port or ICMP identifier), for steering return
    /// traffic: the worker whose slice of the pool's port range holds the
    /// port. `None` when no pool holds `dst` (any worker may take it).
    pub fn owner_worker(&self, dst: Ipv4Addr, port: u16, workers: u16) -> Option<u16> {
        let p = self.pools.iter().find(|p| p.contains(dst))?;
        let range = crate::conntrack::PortRange {
            min: p.ports.0,
            max: p.ports.1,
        };
        crate::conntrack::WorkerSlice {
            index: 0,
            count: workers,
        }
        .owner_of(port, range)
    }

    /// The pool a masquerade out of `out_if` uses, if that interface has an address.
    pub(crate) fn masquerade_pool(
        &self,
        out_if: u16,
        ports: Option<crate::nat::rules::PortRange>,
    ) -> Option<PoolSpec> {
        let a = self.interfaces.primary_addr(out_if)?;
        let ports = ports.map_or(self.nat.port_range, |r| (r.lo, r.hi));
        Some(PoolSpec {
            first: a,
            last: a,
            ports,
        })
    }
}
