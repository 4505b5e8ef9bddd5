//! Endpoint-independent mappings and per-worker external port allocation
//! (N1-N5, RFC 4787 / RFC 5382 / RFC 6888).
//!
//! A mapping binds `(proto, internal addr, internal port)` to `(external
//! addr, external port)` independently of the destination (N1), with a
//! reference count: one per session using it. TCP ports, UDP ports and ICMP
//! query identifiers are three separate spaces.
//!
//! Allocation order for a new mapping:
//! 1. External address: the host's paired address while it holds any
//!    mapping (N2); for a new host, `hash(internal addr)` over the pool with a
//!    seed shared by all workers (so every worker pairs a host alike), moving
//!    on to the next address only if that one has no free port at all.
//! 2. Port: the internal port itself if it is in this worker's slice and
//!    free (N3 preservation); else a random free port of the same range
//!    (0-1023 or 1024-65535) and parity, then of the same range any parity.
//!    Ports 0-1023 may fall back to the high range; high ports never take a
//!    low one. Random = a random word of the bitmap, then a random bit in it,
//!    skipping 64 full words per summary word: O(1) at sane occupancy.
//! 3. Limits: a host with `subscriber_port_limit` mappings gets
//!    `SubscriberLimit`; no free port (or a full mapping table) gets
//!    `OutOfPorts`. Nothing is ever evicted (N4).
//!
//! A freed port stays in use for `quarantine_secs` (N5): it enters a FIFO of
//! `max_mappings` entries, released by `tick` and by each `map_outbound`.
//! Should churn overflow the FIFO, its oldest entry is released early and
//! counted in `MappingStats::quarantine_overflows`.
//!
//! Workers: the configured range is split into `count` contiguous slices
//! ([`WorkerSlice`]); a worker allocates only from its own, so
//! `owner_of(port)` names the worker that owns a return packet's session.
//!
//! Everything (bitmaps per pool address x protocol, mapping and host slabs,
//! both hash indexes, the quarantine FIFO) is allocated in `new`.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::index::Index;

use super::key::{hash2, hash_addr, random_seed};
use super::time::Instant;
use crate::stats::DropReason;
use crate::wire::ip_proto;

pub const PROTO_ICMP: u8 = ip_proto::ICMP;
pub const PROTO_TCP: u8 = ip_proto::TCP;
pub const PROTO_UDP: u8 = ip_proto::UDP;

const PROTOS: usize = 3;
const NIL: u32 = u32::MAX;
/// Quarantine entries released per `map_outbound` call.
const RELEASE_STEP: usize = 32;

fn proto_index(proto: u8) -> Option<usize> {
    match proto {
        PROTO_TCP => Some(0),
        PROTO_UDP => Some(1),
        PROTO_ICMP => Some(2),
        _ => None,
    }
}

/// An inclusive range of external ports (or ICMP identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub min: u16,
    pub max: u16,
}

impl PortRange {
    pub const DEFAULT: PortRange = PortRange {
        min: 1024,
        max: 65535,
    };

    pub const fn len(self) -> u32 {
        if self.min > self.max {
            0
        } else {
            self.max as u32 - self.min as u32 + 1
        }
    }

    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub const fn contains(self, port: u16) -> bool {
        self.min <= port && port <= self.max
    }
}

impl Default for PortRange {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which of `count` workers this is. Worker `index` allocates only from its
/// contiguous slice of the external range; the first `len % count` slices
/// are one port longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSlice {
    pub index: u16,
    pub count: u16,
}

impl WorkerSlice {
    pub const SINGLE: WorkerSlice = WorkerSlice { index: 0, count: 1 };

    fn split(self, range: PortRange) -> (u32, u32, u32) {
        let count = u32::from(self.count.max(1));
        let total = range.len();
        (count, total / count, total % count)
    }

    /// This worker's ports, inclusive; `None` if its slice is empty.
    pub fn bounds(self, range: PortRange) -> Option<(u16, u16)> {
        let (count, per, rem) = self.split(range);
        let i = u32::from(self.index);
        if i >= count {
            return None;
        }
        let len = per + u32::from(i < rem);
        if len == 0 {
            return None;
        }
        let lo = u32::from(range.min) + i * per + i.min(rem);
        Some((lo as u16, (lo + len - 1) as u16))
    }

    /// The worker whose slice holds `port` (uses only `count`), `None`
    /// outside the range.
    pub fn owner_of(self, port: u16, range: PortRange) -> Option<u16> {
        if !range.contains(port) {
            return None;
        }
        let (_, per, rem) = self.split(range);
        let off = u32::from(port - range.min);
        let big = (per + 1) * rem;
        let w = if off < big {
            off / (per + 1)
        } else {
            rem + (off - big).checked_div(per)?
        };
        Some(w as u16)
    }
}

impl Default for WorkerSlice {
    fn default() -> Self {
        Self::SINGLE
    }
}

/// Port allocation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// External ports (and ICMP identifiers) the NAT may hand out, split over workers.
    pub range: PortRange,
    /// How long a freed port stays unused (N5; RFC 6888 suggests 120 s).
    pub quarantine_secs: u32,
    /// Mappings per internal host across protocols (N4), 0 = unlimited.
    pub subscriber_port_limit: u32,
    /// Mapping table size (per worker); also the quarantine FIFO size.
    pub max_mappings: usize,
    /// Seed of the paired-pooling hash; must be equal on every worker.
    pub pairing_seed: u64,
    /// Seed of this worker's port PRNG and hashes; 0 = random.
    pub seed: u64,
}

impl PortConfig {
    pub const DEFAULT: PortConfig = PortConfig {
        range: PortRange::DEFAULT,
        quarantine_secs: 120,
        subscriber_port_limit: 0,
        max_mappings: 65536,
        pairing_seed: 0x243f_6a88_85a3_08d3,
        seed: 0,
    };

    pub fn validate(&self) -> Result<(), String> {
        if self.range.min == 0 || self.range.min > self.range.max {
            return Err(format!(
                "port range {}-{} must be non-empty and start at 1 or above",
                self.range.min, self.range.max
            ));
        }
        if self.max_mappings == 0 || self.max_mappings > 1 << 28 {
            return Err(format!(
                "max_mappings {} must be in 1..=2^28",
                self.max_mappings
            ));
        }
        if self.quarantine_secs > 3600 {
            return Err(format!(
                "port quarantine {} s is above 3600 s",
                self.quarantine_secs
            ));
        }
        Ok(())
    }
}

impl Default for PortConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why no mapping could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllocError {
    /// No free port for this host's address and protocol in this worker's
    /// slice (or the mapping table is full).
    OutOfPorts,
    /// The internal host already holds `subscriber_port_limit` mappings.
    SubscriberLimit,
    /// Not TCP, UDP or ICMP: there is no port space.
    UnsupportedProtocol,
}

impl AllocError {
    pub const fn reason(self) -> DropReason {
        match self {
            AllocError::OutOfPorts => DropReason::OutOfPorts,
            AllocError::SubscriberLimit => DropReason::SubscriberLimit,
            AllocError::UnsupportedProtocol => DropReason::UnsupportedProtocol,
        }
    }
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AllocError::OutOfPorts => "out of external ports",
            AllocError::SubscriberLimit => "per-subscriber port limit reached",
            AllocError::UnsupportedProtocol => "protocol has no port space",
        })
    }
}

impl std::error::Error for AllocError {}

/// Counters of allocation decisions (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MappingStats {
    /// New mappings made.
    pub allocated: u64,
    /// ... of which kept the internal port (N3).
    pub preserved: u64,
    /// Mappings freed (last reference gone).
    pub freed: u64,
    pub out_of_ports: u64,
    pub subscriber_limit: u64,
    /// Ports released before their quarantine ended because the FIFO was full.
    pub quarantine_overflows: u64,
}

#[derive(Debug, Clone, Copy)]
struct Mapping {
    int_addr: Ipv4Addr,
    int_port: u16,
    ext_port: u16,
    ext_idx: u16,
    proto: u8,
    live: bool,
    refs: u32,
    host: u32,
    next_free: u32,
}

#[derive(Debug, Clone, Copy)]
struct Host {
    addr: Ipv4Addr,
    ext_idx: u16,
    mappings: u32,
    next_free: u32,
}

#[derive(Debug, Clone, Copy)]
struct Quarantined {
    space: u32,
    port: u16,
    due: Instant,
}

/// One worker's endpoint-independent mappings and port bitmaps.
pub struct Mappings {
    pool: Vec<Ipv4Addr>,
    slice: WorkerSlice,
    cfg: PortConfig,
    /// This worker's ports (valid when `words > 0`).
    lo: u32,
    hi: u32,
    /// Port of bit 0 of word 0 (a multiple of 64, so bit parity = port parity).
    base: u32,
    words: usize,
    sum_words: usize,
    /// Per space (pool address x protocol): a set bit is a port not free to
    /// hand out (mapped, quarantined, reserved, or outside the slice).
    bits: Vec<u64>,
    reserved: Vec<u64>,
    /// Per space: the port has an entry in the quarantine FIFO (at most one).
    queued: Vec<u64>,
    /// Per space: bit w set when `bits` word w is all ones.
    full: Vec<u64>,
    /// Per space: free ports in the slice.
    free: Vec<u32>,
    maps: Vec<Mapping>,
    map_free: u32,
    map_len: usize,
    /// (proto, internal addr, internal port) -> mapping index.
    out_index: Index,
    /// (proto, external addr, external port) -> mapping index.
    in_index: Index,
    hosts: Vec<Host>,
    host_free: u32,
    host_index: Index,
    quarantine: VecDeque<Quarantined>,
    seed: u64,
    rng: u64,
    stats: MappingStats,
}

#[inline]
fn out_hash(pi: usize, addr: Ipv4Addr, port: u16, seed: u64) -> u64 {
    hash2(
        u64::from(u32::from(addr)),
        (u64::from(port) << 8) | pi as u64,
        seed,
    )
}

#[inline]
fn in_hash(pi: usize, addr: Ipv4Addr, port: u16, seed: u64) -> u64 {
    hash2(
        u64::from(u32::from(addr)),
        (u64::from(port) << 8) | pi as u64 | 0x100_0000,
        seed,
    )
}

impl Mappings {
    /// Allocates all state for `pool` (the external addresses; duplicates
    /// are dropped, order kept) and this worker's `slice` of `cfg.range`. An empty pool or slice is allowed:
    /// every allocation then fails with `OutOfPorts`.
    ///
    /// # Panics
    /// If the pool has more than 65535 addresses or `cfg.max_mappings`
    /// exceeds 2^28 (start-up configuration errors; see `PortConfig::validate`).
    pub fn new(pool: &[Ipv4Addr], slice: WorkerSlice, cfg: PortConfig) -> Self {
        // A duplicate address would be two port spaces for one address: overloading.
        let mut seen = std::collections::HashSet::with_capacity(pool.len());
        let pool: Vec<Ipv4Addr> = pool.iter().copied().filter(|a| seen.insert(*a)).collect();
        assert!(
            pool.len() <= usize::from(u16::MAX),
            "pool of {} addresses is too large",
            pool.len()
        );
        assert!(
            cfg.max_mappings <= 1 << 28,
            "max_mappings {} too large",
            cfg.max_mappings
        );
        let seed = if cfg.seed == 0 {
            random_seed()
        } else {
            cfg.seed
        };
        let (lo, hi, base, words) = match slice.bounds(cfg.range) {
            Some((lo, hi)) => {
                let (lo, hi) = (u32::from(lo), u32::from(hi));
                let base = lo & !63;
                (lo, hi, base, ((hi - base) / 64 + 1) as usize)
            }
            None => (1, 0, 0, 0),
        };
        let sum_words = words.div_ceil(64);
        let spaces = pool.len() * PROTOS;

        // One space's template: ports outside [lo, hi] permanently in use, port 0 too.
        let mut tmpl = vec![u64::MAX; words];
        let mut free_per_space = 0u32;
        for p in lo..=hi {
            if p == 0 {
                continue;
            }
            let off = (p - base) as usize;
            tmpl[off / 64] &= !(1u64 << (off % 64));
            free_per_space += 1;
        }
        let mut tmpl_full = vec![0u64; sum_words];
        for (w, &word) in tmpl.iter().enumerate() {
            if word == u64::MAX {
                tmpl_full[w / 64] |= 1 << (w % 64);
            }
        }
        let mut bits = Vec::with_capacity(spaces * words);
        let mut full = Vec::with_capacity(spaces * sum_words);
        for _ in 0..spaces {
            bits.extend_from_slice(&tmpl);
            full.extend_from_slice(&tmpl_full);
        }
        let cap = cfg.max_mappings;
        let rng = (seed ^ (u64::from(slice.index) << 48) ^ 0x9e37_79b9_7f4a_7c15) | 1;
        Mappings {
            pool,
            slice,
            cfg,
            lo,
            hi,
            base,
            words,
            sum_words,
            reserved: vec![0; spaces * words],
            queued: vec![0; spaces * words],
            bits,
            full,
            free: vec![free_per_space; spaces],
            maps: Vec::with_capacity(cap),
            map_free: NIL,
            map_len: 0,
            out_index: Index::new(cap),
            in_index: Index::new(cap),
            hosts: Vec::with_capacity(cap),
            host_free: NIL,
            host_index: Index::new(cap),
            quarantine: VecDeque::with_capacity(cap),
            seed,
            rng,
            stats: MappingStats::default(),
        }
    }

    pub fn pool(&self) -> &[Ipv4Addr] {
        &self.pool
    }
    pub fn slice(&self) -> WorkerSlice {
        self.slice
    }
    pub fn config(&self) -> &PortConfig {
        &self.cfg
    }
    /// This worker's external ports, inclusive.
    pub fn slice_bounds(&self) -> Option<(u16, u16)> {
        self.slice.bounds(self.cfg.range)
    }
    /// The worker owning `port` under this configuration.
    pub fn owner_of(&self, port: u16) -> Option<u16> {
        self.slice.owner_of(port, self.cfg.range)
    }
    /// Live mappings.
    pub fn len(&self) -> usize {
        self.map_len
    }
    pub fn is_empty(&self) -> bool {
        self.map_len == 0
    }
    pub fn capacity(&self) -> usize {
        self.cfg.max_mappings
    }
    pub fn stats(&self) -> MappingStats {
        self.stats
    }
    /// Ports waiting out their quarantine.
    pub fn quarantined(&self) -> usize {
        self.quarantine.len()
    }

    /// Free ports of `proto` on pool address `addr` in this worker's slice.
    pub fn free_ports(&self, proto: u8, addr: Ipv4Addr) -> u32 {
        let (Some(pi), Some(ai)) = (
            proto_index(proto),
            self.pool.iter().position(|&a| a == addr),
        ) else {
            return 0;
        };
        self.free[ai * PROTOS + pi]
    }

    /// Mappings held by internal host `addr` (all protocols).
    pub fn host_mappings(&self, addr: Ipv4Addr) -> u32 {
        self.find_host(addr)
            .map_or(0, |h| self.hosts[h as usize].mappings)
    }

    /// The external address host `addr` is paired with while it holds mappings.
    pub fn paired_address(&self, addr: Ipv4Addr) -> Option<Ipv4Addr> {
        let h = self.find_host(addr)?;
        self.pool
            .get(usize::from(self.hosts[h as usize].ext_idx))
            .copied()
    }

    /// References (sessions) on the mapping of `internal`, 0 if none.
    pub fn refs(&self, proto: u8, internal: (Ipv4Addr, u16)) -> u32 {
        proto_index(proto)
            .and_then(|pi| self.find_out(pi, internal))
            .map_or(0, |m| self.maps[m as usize].refs)
    }

    /// The external endpoint of `internal`, without taking a reference.
    pub fn lookup_outbound(&self, proto: u8, internal: (Ipv4Addr, u16)) -> Option<(Ipv4Addr, u16)> {
        let m = &self.maps[self.find_out(proto_index(proto)?, internal)? as usize];
        Some((*self.pool.get(usize::from(m.ext_idx))?, m.ext_port))
    }

    /// The internal endpoint mapped to `external`, without taking a reference.
    #[inline]
    pub fn lookup_inbound(&self, proto: u8, external: (Ipv4Addr, u16)) -> Option<(Ipv4Addr, u16)> {
        let m = &self.maps[self.find_in(proto_index(proto)?, external)? as usize];
        Some((m.int_addr, m.int_port))
    }

    /// Returns the external endpoint for `internal`, taking one reference:
    /// the existing mapping if there is one (N1), else a new one (see the
    /// module docs for how it is chosen). Pair every success with `unref`.
    pub fn map_outbound(
        &mut self,
        proto: u8,
        internal: (Ipv4Addr, u16),
        now: Instant,
    ) -> Result<(Ipv4Addr, u16), AllocError> {
        let pi = proto_index(proto).ok_or(AllocError::UnsupportedProtocol)?;
        self.tick(now, RELEASE_STEP);
        if let Some(mi) = self.find_out(pi, internal) {
            let m = &mut self.maps[mi as usize];
            m.refs = m.refs.saturating_add(1);
            let (ext_idx, port) = (m.ext_idx, m.ext_port);
            return Ok((self.pool[usize::from(ext_idx)], port));
        }
        match self.allocate(pi, internal) {
            Ok(ext) => {
                self.stats.allocated += 1;
                Ok(ext)
            }
            Err(e) => {
                match e {
                    AllocError::SubscriberLimit => self.stats.subscriber_limit += 1,
                    _ => self.stats.out_of_ports += 1,
                }
                Err(e)
            }
        }
    }

    /// Drops one reference on `internal`'s mapping; the last one frees the
    /// mapping and quarantines its port. Returns false if there is no mapping.
    pub fn unref(&mut self, proto: u8, internal: (Ipv4Addr, u16), now: Instant) -> bool {
        let Some(pi) = proto_index(proto) else {
            return false;
        };
        let Some(mi) = self.find_out(pi, internal) else {
            return false;
        };
        let m = self.maps[mi as usize];
        if m.refs > 1 {
            self.maps[mi as usize].refs -= 1;
            return true;
        }
        let ext_addr = self.pool[usize::from(m.ext_idx)];
        self.out_index
            .remove(out_hash(pi, m.int_addr, m.int_port, self.seed), mi);
        self.in_index
            .remove(in_hash(pi, ext_addr, m.ext_port, self.seed), mi);
        let h = m.host as usize;
        self.hosts[h].mappings -= 1;
        if self.hosts[h].mappings == 0 {
            let addr = self.hosts[h].addr;
            self.host_index.remove(hash_addr(addr, self.seed), h as u32);
            self.hosts[h].next_free = self.host_free;
            self.host_free = h as u32;
        }
        let slot = &mut self.maps[mi as usize];
        slot.live = false;
        slot.refs = 0;
        slot.next_free = self.map_free;
        self.map_free = mi;
        self.map_len -= 1;
        self.stats.freed += 1;
        self.quarantine_port(
            usize::from(m.ext_idx) * PROTOS + pi,
            u32::from(m.ext_port),
            now,
        );
        true
    }

    /// Releases up to `budget` ports whose quarantine ended by `now`.
    /// Call it from the worker's timer; `map_outbound` also does a little.
    pub fn tick(&mut self, now: Instant, budget: usize) -> usize {
        let mut n = 0;
        while n < budget {
            match self.quarantine.front() {
                Some(q) if q.due <= now => {
                    let q = *q;
                    self.quarantine.pop_front();
                    self.dequeue(q);
                    n += 1;
                }
                _ => break,
            }
        }
        n
    }

    /// Keeps `external` from ever being handed out (e.g. a dst-nat port
    /// forward to the router's own address). Returns false if the address is
    /// not in the pool, the port is not in this worker's slice, or `proto`
    /// has no port space. A port mapped right now stays with its mapping
    /// and is withheld once that is freed.
    pub fn reserve(&mut self, proto: u8, external: (Ipv4Addr, u16)) -> bool {
        let Some((space, p, w, b)) = self.slice_port(proto, external) else {
            return false;
        };
        self.reserved[w] |= b;
        if self.bits[w] & b == 0 {
            self.set(space, p);
        }
        true
    }

    /// Undoes `reserve`; the port then goes through quarantine like a freed one.
    pub fn unreserve(&mut self, proto: u8, external: (Ipv4Addr, u16), now: Instant) -> bool {
        let Some((space, p, w, b)) = self.slice_port(proto, external) else {
            return false;
        };
        if self.reserved[w] & b == 0 {
            return false;
        }
        self.reserved[w] &= !b;
        // A port still mapped is quarantined when its mapping is freed.
        if self.find_in(space % PROTOS, external).is_none() {
            self.quarantine_port(space, p, now);
        }
        true
    }

    pub fn is_reserved(&self, proto: u8, external: (Ipv4Addr, u16)) -> bool {
        self.slice_port(proto, external)
            .is_some_and(|(_, _, w, b)| self.reserved[w] & b != 0)
    }

    // ---- internals ----

    /// `external` as (space, port, bitmap word, bit) when its address is in
    /// the pool, `proto` has a port space and the port is in this slice.
    fn slice_port(&self, proto: u8, external: (Ipv4Addr, u16)) -> Option<(usize, u32, usize, u64)> {
        let space = self.space_of(proto, external.0)?;
        let p = u32::from(external.1);
        if !(self.lo..=self.hi).contains(&p) {
            return None;
        }
        let (w, b) = self.word_bit(space, p);
        Some((space, p, w, b))
    }

    fn space_of(&self, proto: u8, addr: Ipv4Addr) -> Option<usize> {
        let pi = proto_index(proto)?;
        let ai = self.pool.iter().position(|&a| a == addr)?;
        Some(ai * PROTOS + pi)
    }

    fn find_out(&self, pi: usize, (addr, port): (Ipv4Addr, u16)) -> Option<u32> {
        let maps = &self.maps;
        self.out_index
            .find(out_hash(pi, addr, port, self.seed), |m| {
                let m = &maps[m as usize];
                m.int_addr == addr && m.int_port == port && usize::from(m.proto) == pi
            })
    }

    fn find_in(&self, pi: usize, (addr, port): (Ipv4Addr, u16)) -> Option<u32> {
        let (maps, pool) = (&self.maps, &self.pool);
        self.in_index.find(in_hash(pi, addr, port, self.seed), |m| {
            let m = &maps[m as usize];
            m.ext_port == port
                && usize::from(m.proto) == pi
                && pool.get(usize::from(m.ext_idx)) == Some(&addr)
        })
    }

    fn find_host(&self, addr: Ipv4Addr) -> Option<u32> {
        let hosts = &self.hosts;
        self.host_index.find(hash_addr(addr, self.seed), |h| {
            hosts[h as usize].addr == addr
        })
    }

    fn allocate(
        &mut self,
        pi: usize,
        internal: (Ipv4Addr, u16),
    ) -> Result<(Ipv4Addr, u16), AllocError> {
        if self.pool.is_empty() || self.words == 0 || self.map_len >= self.cfg.max_mappings {
            return Err(AllocError::OutOfPorts);
        }
        let host = self.find_host(internal.0);
        let ext_idx = match host {
            Some(h) => {
                let h = &self.hosts[h as usize];
                let limit = self.cfg.subscriber_port_limit;
                if limit != 0 && h.mappings >= limit {
                    return Err(AllocError::SubscriberLimit);
                }
                h.ext_idx
            }
            None => self.pick_address(internal.0, pi),
        };
        let space = usize::from(ext_idx) * PROTOS + pi;
        let port = self
            .alloc_port(space, internal.1)
            .ok_or(AllocError::OutOfPorts)?;
        if port == internal.1 {
            self.stats.preserved += 1;
        }

        let h = match host {
            Some(h) => h,
            None => {
                let host = Host {
                    addr: internal.0,
                    ext_idx,
                    mappings: 0,
                    next_free: NIL,
                };
                let h = if self.host_free != NIL {
                    let h = self.host_free;
                    self.host_free = self.hosts[h as usize].next_free;
                    self.hosts[h as usize] = host;
                    h
                } else {
                    self.hosts.push(host);
                    (self.hosts.len() - 1) as u32
                };
                self.host_index.insert(hash_addr(internal.0, self.seed), h);
                h
            }
        };
        self.hosts[h as usize].mappings += 1;

        let m = Mapping {
            int_addr: internal.0,
            int_port: internal.1,
            ext_port: port,
            ext_idx,
            proto: pi as u8,
            live: true,
            refs: 1,
            host: h,
            next_free: NIL,
        };
        let mi = if self.map_free != NIL {
            let mi = self.map_free;
            self.map_free = self.maps[mi as usize].next_free;
            self.maps[mi as usize] = m;
            mi
        } else {
            self.maps.push(m);
            (self.maps.len() - 1) as u32
        };
        self.map_len += 1;
        let ext_addr = self.pool[usize::from(ext_idx)];
        let seed = self.seed;
        self.out_index
            .insert(out_hash(pi, internal.0, internal.1, seed), mi);
        self.in_index.insert(in_hash(pi, ext_addr, port, seed), mi);
        Ok((ext_addr, port))
    }

    /// Paired pooling (N2) for a host without mappings.
    fn pick_address(&self, addr: Ipv4Addr, pi: usize) -> u16 {
        let n = self.pool.len();
        let start = (hash_addr(addr, self.cfg.pairing_seed) % n as u64) as usize;
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.free[i * PROTOS + pi] > 0)
            .unwrap_or(start) as u16
    }

    fn alloc_port(&mut self, space: usize, want: u16) -> Option<u16> {
        if self.words == 0 || self.free[space] == 0 {
            return None;
        }
        let want = u32::from(want);
        if (self.lo..=self.hi).contains(&want) && !self.test(space, want) {
            self.set(space, want);
            return Some(want as u16);
        }
        let low = (self.lo, self.hi.min(1023));
        let high = (self.lo.max(1024), self.hi);
        // Low ports may fall back to the high range; never the other way round.
        let classes = if want < 1024 {
            [low, high]
        } else {
            [high, (1, 0)]
        };
        for (a, b) in classes {
            if a > b {
                continue;
            }
            let found = self
                .scan(space, a, b, Some(want & 1))
                .or_else(|| self.scan(space, a, b, None));
            if let Some(p) = found {
                self.set(space, p);
                return Some(p as u16);
            }
        }
        None
    }

    /// A random free port in `[a, b]` (within the slice), of parity `parity` if given.
    fn scan(&mut self, space: usize, a: u32, b: u32, parity: Option<u32>) -> Option<u32> {
        let w_lo = ((a - self.base) / 64) as usize;
        let w_hi = ((b - self.base) / 64) as usize;
        let n = w_hi - w_lo + 1;
        let start = w_lo + (self.next_rand() % n as u64) as usize;
        let rot = (self.next_rand() % 64) as u32;
        let parity_mask = match parity {
            Some(0) => 0x5555_5555_5555_5555,
            Some(_) => 0xaaaa_aaaa_aaaa_aaaa,
            None => u64::MAX,
        };
        let words = &self.bits[space * self.words..(space + 1) * self.words];
        let full = &self.full[space * self.sum_words..(space + 1) * self.sum_words];
        let passes = [(start, w_hi + 1), (w_lo, start)];
        for (from, to) in passes {
            let mut w = from;
            while w < to {
                if w % 64 == 0 && w + 64 <= to && full[w / 64] == u64::MAX {
                    w += 64;
                    continue;
                }
                let word_start = self.base + 64 * w as u32;
                let lo_bit = a.saturating_sub(word_start).min(63);
                let hi_bit = (b - word_start.min(b)).min(63);
                let range_mask = (u64::MAX << lo_bit) & (u64::MAX >> (63 - hi_bit));
                let cand = !words[w] & range_mask & parity_mask;
                if cand != 0 {
                    let bit = (cand.rotate_right(rot).trailing_zeros() + rot) % 64;
                    return Some(word_start + bit);
                }
                w += 1;
            }
        }
        None
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: fast, full period, good enough for unguessable ports
        // given a secret seed (not cryptographic).
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[inline]
    fn word_bit(&self, space: usize, p: u32) -> (usize, u64) {
        let off = (p - self.base) as usize;
        (space * self.words + off / 64, 1u64 << (off % 64))
    }

    fn test(&self, space: usize, p: u32) -> bool {
        let (w, b) = self.word_bit(space, p);
        self.bits[w] & b != 0
    }

    fn set(&mut self, space: usize, p: u32) {
        let (w, b) = self.word_bit(space, p);
        if self.bits[w] & b != 0 {
            return;
        }
        self.bits[w] |= b;
        self.free[space] -= 1;
        if self.bits[w] == u64::MAX {
            let lw = w - space * self.words;
            self.full[space * self.sum_words + lw / 64] |= 1 << (lw % 64);
        }
    }

    /// A quarantine entry left the FIFO: free its port.
    fn dequeue(&mut self, q: Quarantined) {
        let (space, p) = (q.space as usize, u32::from(q.port));
        let (w, b) = self.word_bit(space, p);
        self.queued[w] &= !b;
        self.release(space, p);
    }

    /// Makes an unmapped, unqueued port free again unless it is reserved.
    fn release(&mut self, space: usize, p: u32) {
        let (w, b) = self.word_bit(space, p);
        if self.bits[w] & b == 0 || self.reserved[w] & b != 0 {
            return;
        }
        self.bits[w] &= !b;
        self.free[space] += 1;
        let lw = w - space * self.words;
        self.full[space * self.sum_words + lw / 64] &= !(1 << (lw % 64));
    }

    fn quarantine_port(&mut self, space: usize, p: u32, now: Instant) {
        let (w, b) = self.word_bit(space, p);
        // Reserved ports stay in use; a port already queued keeps its entry.
        if self.reserved[w] & b != 0 || self.queued[w] & b != 0 {
            return;
        }
        if self.cfg.quarantine_secs == 0 {
            self.release(space, p);
            return;
        }
        if self.quarantine.len() >= self.cfg.max_mappings {
            if let Some(q) = self.quarantine.pop_front() {
                self.dequeue(q);
                self.stats.quarantine_overflows += 1;
            }
        }
        self.queued[w] |= b;
        self.quarantine.push_back(Quarantined {
            space: space as u32,
            port: p as u16,
            due: now.add_secs(u64::from(self.cfg.quarantine_secs)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Mappings {
        /// Checks bitmaps, free counts, summaries, indexes and host counts agree.
        fn check_invariants(&self) {
            let spaces = self.pool.len() * PROTOS;
            for s in 0..spaces {
                let words = &self.bits[s * self.words..(s + 1) * self.words];
                let zeros: u32 = words.iter().map(|w| w.count_zeros()).sum();
                assert_eq!(zeros, self.free[s], "free count of space {s}");
                for (w, &word) in words.iter().enumerate() {
                    let full = self.full[s * self.sum_words + w / 64] >> (w % 64) & 1 == 1;
                    assert_eq!(full, word == u64::MAX);
                }
            }
            let mut live = 0;
            let mut per_host = std::collections::HashMap::new();
            let mut exts = std::collections::HashSet::new();
            for (i, m) in self.maps.iter().enumerate() {
                if !m.live {
                    continue;
                }
                live += 1;
                assert!(m.refs >= 1);
                let pi = usize::from(m.proto);
                assert_eq!(self.find_out(pi, (m.int_addr, m.int_port)), Some(i as u32));
                let ext = (self.pool[usize::from(m.ext_idx)], m.ext_port);
                assert!(exts.insert((pi, ext)), "port overloading");
                assert_eq!(self.find_in(pi, ext), Some(i as u32));
                assert!(self.test(usize::from(m.ext_idx) * PROTOS + pi, u32::from(m.ext_port)));
                assert_eq!(self.hosts[m.host as usize].addr, m.int_addr);
                assert_eq!(
                    self.hosts[m.host as usize].ext_idx, m.ext_idx,
                    "paired pooling"
                );
                *per_host.entry(m.host).or_insert(0u32) += 1;
            }
            assert_eq!(live, self.map_len);
            assert_eq!(self.out_index.len(), live);
            assert_eq!(self.in_index.len(), live);
            assert_eq!(self.host_index.len(), per_host.len());
            for (h, n) in per_host {
                assert_eq!(self.hosts[h as usize].mappings, n);
                assert_eq!(self.find_host(self.hosts[h as usize].addr), Some(h));
            }
            let mut queued = 0;
            for q in &self.quarantine {
                let (w, b) = self.word_bit(q.space as usize, u32::from(q.port));
                assert!(self.bits[w] & b != 0, "queued port in use");
                assert!(self.queued[w] & b != 0);
                assert!(self
                    .find_in(
                        q.space as usize % PROTOS,
                        (self.pool[q.space as usize / PROTOS], q.port)
                    )
                    .is_none());
                queued += 1;
            }
            let marks: u32 = self.queued.iter().map(|w| w.count_ones()).sum();
            assert_eq!(marks, queued, "one FIFO entry per queued port");
        }
    }

    proptest! {
        #[test]
        fn invariants_hold_under_random_churn(
            ops in prop::collection::vec((0u8..5, 0u32..8, 0u16..6, 0u8..3, 0u64..60_000), 1..300)
        ) {
            let cfg = PortConfig {
                range: PortRange { min: 1000, max: 1100 },
                max_mappings: 64,
                subscriber_port_limit: 5,
                seed: 5,
                ..PortConfig::default()
            };
            let pool = [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 1)];
            let mut m = Mappings::new(&pool, WorkerSlice { index: 0, count: 1 }, cfg);
            let mut held: Vec<(u8, (Ipv4Addr, u16))> = Vec::new();
            let mut now = Instant::ZERO;
            for (op, h, p, pr, dt) in ops {
                now = now.add_millis(dt);
                let proto = [PROTO_TCP, PROTO_UDP, PROTO_ICMP][usize::from(pr)];
                let int = (Ipv4Addr::new(10, 0, 0, h as u8), 1040 + p * 7);
                match op {
                    0 | 1 => {
                        if m.map_outbound(proto, int, now).is_ok() {
                            held.push((proto, int));
                        }
                    }
                    2 => {
                        if !held.is_empty() {
                            let (proto, int) = held.swap_remove(h as usize % held.len());
                            prop_assert!(m.unref(proto, int, now));
                        }
                    }
                    3 => {
                        m.tick(now, usize::from(p));
                    }
                    _ => {
                        let ext = (pool[usize::from(pr) % 2], 1000 + p * 20);
                        if h % 2 == 0 {
                            m.reserve(proto, ext);
                        } else {
                            m.unreserve(proto, ext, now);
                        }
                    }
                }
                m.check_invariants();
            }
        }
    }
}
