//! The engine's port allocators: one [`Mappings`] per distinct srcnat pool
//! ([`PoolSpec`]), over this worker's slice of the pool's port range.
//!
//! Invariants: pools are only ever added (a session may still reference a
//! pool the current snapshot no longer uses), so a pool index stored in a
//! session stays valid for the engine's lifetime; `Snapshot::new` guarantees
//! that no two pools share an external address:port, so an inbound
//! address:port belongs to at most one pool.

use crate::conntrack::{Instant, Mappings, PortConfig, PortRange, WorkerSlice};
use crate::nat::config::NatConfig;
use crate::nat::snapshot::PoolSpec;
use crate::stats::DropReason;
use std::net::Ipv4Addr;

struct Pool {
    spec: PoolSpec,
    map: Mappings,
}

pub(crate) struct Pools {
    pools: Vec<Pool>,
    slice: WorkerSlice,
}

/// Most pools one engine keeps (indices are stored as u16 in sessions).
const MAX_POOLS: usize = 4096;

impl Pools {
    pub fn new(slice: WorkerSlice) -> Pools {
        Pools {
            pools: Vec::new(),
            slice,
        }
    }

    /// Makes sure every pool of a snapshot has an allocator.
    pub fn sync(&mut self, specs: &[PoolSpec], nat: &NatConfig) {
        for s in specs {
            self.find_or_add(s, nat);
        }
    }

    pub fn find(&self, spec: &PoolSpec) -> Option<u16> {
        self.pools
            .iter()
            .position(|p| p.spec == *spec)
            .map(|i| i as u16)
    }

    /// The allocator for `spec`, created if new (slow path only; `None` if
    /// the engine already has `MAX_POOLS`).
    pub fn find_or_add(&mut self, spec: &PoolSpec, nat: &NatConfig) -> Option<u16> {
        if let Some(i) = self.find(spec) {
            return Some(i);
        }
        if self.pools.len() >= MAX_POOLS {
            return None;
        }
        // `Snapshot::new` bounds pool sizes (MAX_POOL_ADDRS); the take is belt and braces.
        let addrs: Vec<Ipv4Addr> = spec.addrs().take(usize::from(u16::MAX)).collect();
        let cfg = PortConfig {
            range: PortRange {
                min: spec.ports.0,
                max: spec.ports.1,
            },
            subscriber_port_limit: nat.limits.ports_per_subscriber,
            // Every live mapping is held by a session, so at most
            // `table_capacity` exist when a new flow asks for one; the +1
            // lets that flow allocate before the table reclaims a
            // half-open session for it (which frees its mapping).
            max_mappings: nat.table_capacity as usize + 1,
            ..PortConfig::DEFAULT
        };
        self.pools.push(Pool {
            spec: *spec,
            map: Mappings::new(&addrs, self.slice, cfg),
        });
        Some((self.pools.len() - 1) as u16)
    }

    /// Existing mapping (+1 reference) or a new one.
    pub fn map_outbound(
        &mut self,
        pool: u16,
        proto: u8,
        internal: (Ipv4Addr, u16),
        now: Instant,
    ) -> Result<(Ipv4Addr, u16), DropReason> {
        match self.pools.get_mut(usize::from(pool)) {
            Some(p) => p
                .map
                .map_outbound(proto, internal, now)
                .map_err(|e| e.reason()),
            None => Err(DropReason::OutOfPorts),
        }
    }

    /// The pool and internal endpoint an external endpoint maps to.
    pub fn lookup_inbound(
        &self,
        proto: u8,
        external: (Ipv4Addr, u16),
    ) -> Option<(u16, (Ipv4Addr, u16))> {
        self.pools.iter().enumerate().find_map(|(i, p)| {
            if !p.spec.contains(external.0) {
                return None;
            }
            p.map
                .lookup_inbound(proto, external)
                .map(|int| (i as u16, int))
        })
    }

    pub fn unref(&mut self, pool: u16, proto: u8, internal: (Ipv4Addr, u16), now: Instant) {
        if let Some(p) = self.pools.get_mut(usize::from(pool)) {
            p.map.unref(proto, internal, now);
        }
    }

    /// Releases quarantined ports that are due (N5).
    pub fn tick(&mut self, now: Instant, budget: usize) {
        for p in &mut self.pools {
            p.map.tick(now, budget);
        }
    }

    /// The mapping of `internal` in the pool holding `external_addr`.
    pub fn mapping_of(
        &self,
        proto: u8,
        external_addr: Ipv4Addr,
        internal: (Ipv4Addr, u16),
    ) -> Option<(Ipv4Addr, u16)> {
        self.pools
            .iter()
            .filter(|p| p.spec.contains(external_addr))
            .find_map(|p| p.map.lookup_outbound(proto, internal))
    }
}
