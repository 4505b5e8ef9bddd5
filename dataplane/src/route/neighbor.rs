//! Neighbour (ARP) table with hold queues and rate-limited resolution.
//!
//! Invariants:
//! - All memory is allocated in [`NeighborTable::new`]: `capacity` entries, an
//!   open-addressing index of at least `2 * capacity` slots (linear probing,
//!   backward-shift deletion, so no tombstones) and `capacity *
//!   hold_per_neighbor` hold slots, one fixed ring per entry. Nothing
//!   allocates afterwards and every operation is O(1) (or O(work returned)).
//! - Every entry is on exactly one intrusive list: *free*, *resolved*
//!   (Reachable/Stale, most recently confirmed first) or *pending*
//!   (Incomplete, least recently requested first).
//! - Only Incomplete entries hold packets, except between a resolving
//!   [`NeighborTable::learn`] and the caller's [`NeighborTable::release`].
//! - At most one ARP request per neighbour per `retry_ms`; after
//!   `max_probes` unanswered requests an Incomplete entry is deleted and its
//!   held packets are dropped as [`DropReason::ArpUnresolved`]. A Stale
//!   entry still forwards while it is re-probed and is deleted when its
//!   probes run out.
//! - When the table is full, the least recently confirmed resolved entry is
//!   evicted; Incomplete entries are never evicted, and at most
//!   `max_incomplete` may exist, so an address scan cannot flush the
//!   neighbours that carry real traffic.
//!
//! Time is the injected [`Instant`] (milliseconds); nothing reads a clock.
//! Tables are per worker; nothing here is shared.

use std::net::Ipv4Addr;

use super::{IfIndex, MacAddr};
use crate::conntrack::Instant;
use crate::stats::DropReason;

/// Sizing and timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborConfig {
    /// Maximum number of neighbours.
    pub capacity: usize,
    /// Packets held per unresolved neighbour.
    pub hold_per_neighbor: usize,
    /// Maximum Incomplete entries at once (bounds an address scan's damage).
    pub max_incomplete: usize,
    /// How long a confirmation keeps an entry Reachable.
    pub reachable_ms: u64,
    /// Minimum interval between two ARP requests for one neighbour.
    pub retry_ms: u64,
    /// Unanswered requests before giving up.
    pub max_probes: u8,
    /// Seeds the index hash (pick per process so layouts are not predictable).
    pub hash_seed: u32,
}

impl Default for NeighborConfig {
    fn default() -> Self {
        NeighborConfig {
            capacity: 4096,
            hold_per_neighbor: 4,
            max_incomplete: 1024,
            reachable_ms: 30_000,
            retry_ms: 1_000,
            max_probes: 3,
            hash_seed: 0x2545_f491,
        }
    }
}

impl NeighborConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.capacity == 0 || self.capacity > (1 << 24) {
            return Err(format!(
                "neighbor capacity {} not in 1..=16777216",
                self.capacity
            ));
        }
        if self.hold_per_neighbor > 1024 {
            return Err(format!(
                "hold_per_neighbor {} above 1024",
                self.hold_per_neighbor
            ));
        }
        if self.max_incomplete == 0 || self.max_incomplete > self.capacity {
            return Err(format!(
                "max_incomplete {} not in 1..=capacity",
                self.max_incomplete
            ));
        }
        if self.retry_ms == 0 || self.reachable_ms == 0 {
            return Err("neighbor reachable_ms and retry_ms must be positive".into());
        }
        if self.max_probes == 0 {
            return Err("neighbor max_probes must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighborState {
    /// Requested, no answer yet; packets are held.
    Incomplete,
    /// Confirmed within `reachable_ms`.
    Reachable,
    /// Confirmation too old: still used, re-probed on use.
    Stale,
}

/// Answer of [`NeighborTable::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// Send to this MAC.
    Ready(MacAddr),
    /// Send to this MAC, and send an ARP request for the address now (stale entry).
    ReadyProbe(MacAddr),
    /// No usable MAC: hold the packet with [`NeighborTable::hold`].
    Unresolved,
}

/// Answer of [`NeighborTable::hold`].
#[derive(Debug, PartialEq, Eq)]
pub enum Hold<T> {
    /// Held; send an ARP request for the address now.
    HeldRequest,
    /// Held; a request was sent recently.
    Held,
    /// Not held (hold queue full, or too many unresolved neighbours). The
    /// caller frees the packet and counts the reason.
    Dropped(T, DropReason),
    /// The neighbour is resolved after all: send the packet to this MAC.
    Ready(T, MacAddr),
}

/// Answer of [`NeighborTable::learn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learn {
    /// A new entry was created.
    Created,
    /// An existing entry was refreshed (MAC possibly changed).
    Updated,
    /// An Incomplete entry was resolved; `held` packets await [`NeighborTable::release`].
    Resolved { held: usize },
    /// Unknown address and `create` was false.
    Ignored,
    /// Table full of entries that cannot be evicted.
    TableFull,
}

/// Work that [`NeighborTable::poll`] asks the caller to do.
#[derive(Debug, PartialEq, Eq)]
pub enum NeighborEvent<T> {
    /// Send an ARP request for `ip` out of `ifindex`.
    Request { ip: Ipv4Addr, ifindex: IfIndex },
    /// Free this held packet and count the reason.
    Dropped(T, DropReason),
}

/// A read-only copy of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbor {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    pub ifindex: IfIndex,
    pub state: NeighborState,
    /// Last confirmation (or creation, while Incomplete), ms.
    pub updated_at: Instant,
    pub held: usize,
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Free = 0,
    Resolved = 1,
    Pending = 2,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: u32,
    mac: MacAddr,
    ifindex: IfIndex,
    /// Incomplete or Reachable; Stale is derived from `updated_at`.
    resolved: bool,
    probes: u8,
    updated_at: Instant,
    last_request: Instant,
    q_head: u16,
    q_len: u16,
    list: List,
    prev: u32,
    next: u32,
}

const EMPTY_ENTRY: Entry = Entry {
    ip: 0,
    mac: MacAddr::ZERO,
    ifindex: 0,
    resolved: false,
    probes: 0,
    updated_at: Instant::ZERO,
    last_request: Instant::ZERO,
    q_head: 0,
    q_len: 0,
    list: List::Free,
    prev: NIL,
    next: NIL,
};

#[derive(Debug, Clone, Copy)]
struct ListHead {
    head: u32,
    tail: u32,
    len: usize,
}

/// Bounded neighbour table holding packet handles of type `T` while resolving.
#[derive(Debug)]
pub struct NeighborTable<T> {
    cfg: NeighborConfig,
    entries: Box<[Entry]>,
    /// Open-addressing index: entry number or NIL.
    slots: Box<[u32]>,
    slot_mask: usize,
    hold: Box<[Option<T>]>,
    lists: [ListHead; 3],
}

impl<T> NeighborTable<T> {
    /// Allocates everything. `cfg` should be validated; out-of-range values are clamped.
    pub fn new(cfg: NeighborConfig) -> Self {
        let capacity = cfg.capacity.clamp(1, 1 << 24);
        let hold_n = cfg.hold_per_neighbor.min(1024);
        let cfg = NeighborConfig {
            capacity,
            hold_per_neighbor: hold_n,
            max_incomplete: cfg.max_incomplete.clamp(1, capacity),
            retry_ms: cfg.retry_ms.max(1),
            max_probes: cfg.max_probes.max(1),
            ..cfg
        };
        let slots = (capacity * 2).next_power_of_two().max(8);
        let mut entries = vec![EMPTY_ENTRY; capacity].into_boxed_slice();
        for (i, e) in entries.iter_mut().enumerate() {
            e.next = if i + 1 < capacity {
                (i + 1) as u32
            } else {
                NIL
            };
            e.prev = if i > 0 { (i - 1) as u32 } else { NIL };
        }
        let mut hold = Vec::with_capacity(capacity * hold_n);
        hold.resize_with(capacity * hold_n, || None);
        NeighborTable {
            cfg,
            entries,
            slots: vec![NIL; slots].into_boxed_slice(),
            slot_mask: slots - 1,
            hold: hold.into_boxed_slice(),
            lists: [
                ListHead {
                    head: 0,
                    tail: (capacity - 1) as u32,
                    len: capacity,
                },
                ListHead {
                    head: NIL,
                    tail: NIL,
                    len: 0,
                },
                ListHead {
                    head: NIL,
                    tail: NIL,
                    len: 0,
                },
            ],
        }
    }

    pub fn config(&self) -> &NeighborConfig {
        &self.cfg
    }

    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    pub fn len(&self) -> usize {
        self.entries.len() - self.lists[List::Free as usize].len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of Incomplete entries.
    pub fn incomplete(&self) -> usize {
        self.lists[List::Pending as usize].len
    }

    // ---- fast path ----

    /// The MAC for next hop `ip`, if usable. A Stale entry asks for a probe
    /// (rate-limited); a Stale entry whose probes ran out is deleted and
    /// reported Unresolved.
    #[inline]
    pub fn resolve(&mut self, ip: Ipv4Addr, now: Instant) -> Resolve {
        let Some(i) = self.find(ip) else {
            return Resolve::Unresolved;
        };
        let cfg = self.cfg;
        let e = &mut self.entries[i];
        if !e.resolved {
            return Resolve::Unresolved;
        }
        if now.saturating_sub(e.updated_at) < cfg.reachable_ms {
            return Resolve::Ready(e.mac);
        }
        // Stale: probe at most once per retry interval.
        if e.probes == 0 || now.saturating_sub(e.last_request) >= cfg.retry_ms {
            if e.probes >= cfg.max_probes {
                self.delete(i);
                return Resolve::Unresolved;
            }
            e.probes += 1;
            e.last_request = now;
            return Resolve::ReadyProbe(e.mac);
        }
        Resolve::Ready(e.mac)
    }

    /// Holds `pkt` until `ip` (reached through `ifindex`) resolves, creating
    /// an Incomplete entry if needed. Call after [`Resolve::Unresolved`].
    pub fn hold(&mut self, ip: Ipv4Addr, ifindex: IfIndex, pkt: T, now: Instant) -> Hold<T> {
        let i = match self.find(ip) {
            Some(i) => i,
            None => {
                if self.incomplete() >= self.cfg.max_incomplete {
                    return Hold::Dropped(pkt, DropReason::ArpQueueFull);
                }
                let Some(i) = self.alloc(ip) else {
                    return Hold::Dropped(pkt, DropReason::ArpQueueFull);
                };
                let e = &mut self.entries[i];
                e.ifindex = ifindex;
                e.resolved = false;
                e.updated_at = now;
                e.probes = 0;
                self.push_back(List::Pending, i);
                i
            }
        };
        if self.entries[i].resolved {
            return Hold::Ready(pkt, self.entries[i].mac);
        }
        if let Err(pkt) = self.enqueue(i, pkt) {
            return Hold::Dropped(pkt, DropReason::ArpQueueFull);
        }
        let cfg = self.cfg;
        let e = &mut self.entries[i];
        if e.probes == 0
            || (e.probes < cfg.max_probes && now.saturating_sub(e.last_request) >= cfg.retry_ms)
        {
            e.probes += 1;
            e.last_request = now;
            self.unlink(i);
            self.push_back(List::Pending, i);
            Hold::HeldRequest
        } else {
            Hold::Held
        }
    }

    // ---- ARP input ----

    /// Records `ip -> mac` seen on `ifindex` (ARP reply, or request aimed at
    /// us). Unknown addresses are added only if `create`. Resolving an
    /// Incomplete entry leaves its packets for [`NeighborTable::release`].
    pub fn learn(
        &mut self,
        ip: Ipv4Addr,
        mac: MacAddr,
        ifindex: IfIndex,
        now: Instant,
        create: bool,
    ) -> Learn {
        let (i, outcome) = match self.find(ip) {
            Some(i) => {
                let held = self.entries[i].q_len as usize;
                let was_resolved = self.entries[i].resolved;
                (
                    i,
                    if was_resolved {
                        Learn::Updated
                    } else {
                        Learn::Resolved { held }
                    },
                )
            }
            None if create => match self.alloc(ip) {
                Some(i) => (i, Learn::Created),
                None => return Learn::TableFull,
            },
            None => return Learn::Ignored,
        };
        let e = &mut self.entries[i];
        e.mac = mac;
        e.ifindex = ifindex;
        e.resolved = true;
        e.updated_at = now;
        e.probes = 0;
        if e.list != List::Free {
            self.unlink(i);
        }
        self.push_front(List::Resolved, i);
        outcome
    }

    /// Drains the packets held for a resolved `ip`, in arrival order, with
    /// the MAC and interface to send them on. Packets not taken from the
    /// iterator stay held for the next call.
    pub fn release(&mut self, ip: Ipv4Addr) -> Option<Release<'_, T>> {
        let i = self.find(ip)?;
        let e = &self.entries[i];
        if !e.resolved {
            return None;
        }
        Some(Release {
            mac: e.mac,
            ifindex: e.ifindex,
            table: self,
            entry: i,
        })
    }

    // ---- timers ----

    /// Retries and gives up on Incomplete entries whose retry interval
    /// passed, oldest first, handling at most `budget` entries. Returns the
    /// number handled. Cost is O(work), independent of table size.
    pub fn poll(
        &mut self,
        now: Instant,
        budget: usize,
        mut on: impl FnMut(NeighborEvent<T>),
    ) -> usize {
        let mut done = 0;
        while done < budget {
            let i = self.lists[List::Pending as usize].head;
            if i == NIL {
                break;
            }
            let i = i as usize;
            let cfg = self.cfg;
            let e = &mut self.entries[i];
            if now.saturating_sub(e.last_request) < cfg.retry_ms {
                break; // pending list is ordered by last request
            }
            done += 1;
            if e.probes >= cfg.max_probes {
                while let Some(p) = self.dequeue(i) {
                    on(NeighborEvent::Dropped(p, DropReason::ArpUnresolved));
                }
                self.delete(i);
            } else {
                e.probes += 1;
                e.last_request = now;
                let ev = NeighborEvent::Request {
                    ip: Ipv4Addr::from(e.ip),
                    ifindex: e.ifindex,
                };
                self.unlink(i);
                self.push_back(List::Pending, i);
                on(ev);
            }
        }
        done
    }

    // ---- management ----

    /// A copy of the entry for `ip`.
    pub fn get(&self, ip: Ipv4Addr, now: Instant) -> Option<Neighbor> {
        self.find(ip).map(|i| self.view(i, now))
    }

    /// All entries (for the CLI), most recently confirmed first, then Incomplete ones.
    pub fn iter(&self, now: Instant) -> impl Iterator<Item = Neighbor> + '_ {
        let walk = |start: u32| {
            let mut i = start;
            std::iter::from_fn(move || {
                if i == NIL {
                    return None;
                }
                let cur = i as usize;
                i = self.entries[cur].next;
                Some(cur)
            })
        };
        walk(self.lists[List::Resolved as usize].head)
            .chain(walk(self.lists[List::Pending as usize].head))
            .map(move |i| self.view(i, now))
    }

    /// Deletes `ip`'s entry, handing back any held packets.
    pub fn remove(&mut self, ip: Ipv4Addr, mut dropped: impl FnMut(T)) -> bool {
        let Some(i) = self.find(ip) else {
            return false;
        };
        while let Some(p) = self.dequeue(i) {
            dropped(p);
        }
        self.delete(i);
        true
    }

    fn view(&self, i: usize, now: Instant) -> Neighbor {
        let e = &self.entries[i];
        Neighbor {
            ip: Ipv4Addr::from(e.ip),
            mac: e.mac,
            ifindex: e.ifindex,
            state: if !e.resolved {
                NeighborState::Incomplete
            } else if now.saturating_sub(e.updated_at) < self.cfg.reachable_ms {
                NeighborState::Reachable
            } else {
                NeighborState::Stale
            },
            updated_at: e.updated_at,
            held: e.q_len as usize,
        }
    }

    // ---- index ----

    #[inline]
    fn home(&self, ip: u32) -> usize {
        // Multiply-shift hash; the top bits are the best mixed.
        let h = (ip ^ self.cfg.hash_seed).wrapping_mul(0x9e37_79b1);
        (h >> (32 - self.slot_mask.count_ones())) as usize
    }

    #[inline]
    fn find(&self, ip: Ipv4Addr) -> Option<usize> {
        let ip = u32::from(ip);
        let mut s = self.home(ip);
        loop {
            let e = self.slots[s];
            if e == NIL {
                return None;
            }
            if self.entries[e as usize].ip == ip {
                return Some(e as usize);
            }
            s = (s + 1) & self.slot_mask;
        }
    }

    /// Takes a free entry (evicting the least recently confirmed resolved
    /// entry if none is free) and indexes it under `ip`. Not on any list.
    fn alloc(&mut self, ip: Ipv4Addr) -> Option<usize> {
        let mut i = self.lists[List::Free as usize].head;
        if i == NIL {
            let victim = self.lists[List::Resolved as usize].tail;
            // Never evict an entry whose packets the caller has not released.
            if victim == NIL || self.entries[victim as usize].q_len != 0 {
                return None;
            }
            self.delete(victim as usize);
            i = self.lists[List::Free as usize].head;
        }
        let i = i as usize;
        self.unlink(i);
        let ip = u32::from(ip);
        self.entries[i] = Entry { ip, ..EMPTY_ENTRY };
        let mut s = self.home(ip);
        while self.slots[s] != NIL {
            s = (s + 1) & self.slot_mask;
        }
        self.slots[s] = i as u32;
        Some(i)
    }

    /// Unindexes entry `i`, clears its queue and returns it to the free list.
    fn delete(&mut self, i: usize) {
        let ip = self.entries[i].ip;
        let mut s = self.home(ip);
        while self.slots[s] != i as u32 {
            s = (s + 1) & self.slot_mask;
        }
        // Backward-shift deletion: pull later members of the cluster into
        // the hole when their home slot does not lie in (hole, them].
        let mut hole = s;
        let mut j = (s + 1) & self.slot_mask;
        while self.slots[j] != NIL {
            let h = self.home(self.entries[self.slots[j] as usize].ip);
            let dist_h = j.wrapping_sub(h) & self.slot_mask;
            let dist_hole = j.wrapping_sub(hole) & self.slot_mask;
            if dist_h >= dist_hole {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) & self.slot_mask;
        }
        self.slots[hole] = NIL;
        let base = i * self.cfg.hold_per_neighbor;
        for h in &mut self.hold[base..base + self.cfg.hold_per_neighbor] {
            *h = None;
        }
        let e = &mut self.entries[i];
        e.q_len = 0;
        e.q_head = 0;
        self.unlink(i);
        self.push_front(List::Free, i);
    }

    // ---- hold rings ----

    fn enqueue(&mut self, i: usize, pkt: T) -> Result<(), T> {
        let n = self.cfg.hold_per_neighbor;
        let e = &mut self.entries[i];
        if e.q_len as usize >= n {
            return Err(pkt);
        }
        let slot = i * n + (e.q_head as usize + e.q_len as usize) % n;
        e.q_len += 1;
        self.hold[slot] = Some(pkt);
        Ok(())
    }

    fn dequeue(&mut self, i: usize) -> Option<T> {
        let n = self.cfg.hold_per_neighbor;
        let e = &mut self.entries[i];
        if e.q_len == 0 {
            return None;
        }
        let slot = i * n + e.q_head as usize;
        e.q_head = ((e.q_head as usize + 1) % n) as u16;
        e.q_len -= 1;
        self.hold[slot].take()
    }

    // ---- intrusive lists ----

    fn unlink(&mut self, i: usize) {
        let (list, prev, next) = {
            let e = &self.entries[i];
            (e.list as usize, e.prev, e.next)
        };
        if prev == NIL {
            if self.lists[list].head == i as u32 {
                self.lists[list].head = next;
            } else {
                return; // not linked
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[list].tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        self.lists[list].len -= 1;
        let e = &mut self.entries[i];
        e.prev = NIL;
        e.next = NIL;
    }

    fn push_front(&mut self, list: List, i: usize) {
        let l = list as usize;
        let old = self.lists[l].head;
        {
            let e = &mut self.entries[i];
            e.list = list;
            e.prev = NIL;
            e.next = old;
        }
        if old == NIL {
            self.lists[l].tail = i as u32;
        } else {
            self.entries[old as usize].prev = i as u32;
        }
        self.lists[l].head = i as u32;
        self.lists[l].len += 1;
    }

    fn push_back(&mut self, list: List, i: usize) {
        let l = list as usize;
        let old = self.lists[l].tail;
        {
            let e = &mut self.entries[i];
            e.list = list;
            e.prev = old;
            e.next = NIL;
        }
        if old == NIL {
            self.lists[l].head = i as u32;
        } else {
            self.entries[old as usize].next = i as u32;
        }
        self.lists[l].tail = i as u32;
        self.lists[l].len += 1;
    }
}

/// Iterator over one neighbour's held packets, oldest first.
#[derive(Debug)]
pub struct Release<'a, T> {
    table: &'a mut NeighborTable<T>,
    entry: usize,
    mac: MacAddr,
    ifindex: IfIndex,
}

impl<T> Release<'_, T> {
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    pub fn ifindex(&self) -> IfIndex {
        self.ifindex
    }
}

impl<T> Iterator for Release<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.table.dequeue(self.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Instant {
        Instant(v)
    }
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 88, last)
    }
    const M1: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x11]);
    const M2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x22]);

    fn table(capacity: usize) -> NeighborTable<u32> {
        NeighborTable::new(NeighborConfig {
            capacity,
            max_incomplete: capacity,
            ..NeighborConfig::default()
        })
    }

    #[test]
    fn hold_queue_keeps_order_and_bounds_overflow() {
        let mut t = table(8);
        assert_eq!(t.resolve(ip(5), ms(0)), Resolve::Unresolved);
        assert_eq!(t.hold(ip(5), 1, 100, ms(0)), Hold::HeldRequest);
        assert_eq!(t.hold(ip(5), 1, 101, ms(10)), Hold::Held);
        assert_eq!(t.hold(ip(5), 1, 102, ms(20)), Hold::Held);
        assert_eq!(t.hold(ip(5), 1, 103, ms(30)), Hold::Held);
        assert_eq!(
            t.hold(ip(5), 1, 104, ms(40)),
            Hold::Dropped(104, DropReason::ArpQueueFull)
        );
        let n = t.get(ip(5), ms(40)).unwrap();
        assert_eq!(
            (n.state, n.held, n.ifindex),
            (NeighborState::Incomplete, 4, 1)
        );
        assert_eq!(t.resolve(ip(5), ms(50)), Resolve::Unresolved);
        assert!(
            t.release(ip(5)).is_none(),
            "nothing released before resolution"
        );

        assert_eq!(
            t.learn(ip(5), M1, 1, ms(60), false),
            Learn::Resolved { held: 4 }
        );
        let r = t.release(ip(5)).unwrap();
        assert_eq!((r.mac(), r.ifindex()), (M1, 1));
        assert_eq!(r.collect::<Vec<_>>(), [100, 101, 102, 103]);
        assert_eq!(t.release(ip(5)).unwrap().count(), 0);
        assert_eq!(t.resolve(ip(5), ms(70)), Resolve::Ready(M1));
        assert_eq!(
            t.get(ip(5), ms(70)).unwrap().state,
            NeighborState::Reachable
        );
        // Ring wrapped correctly: the queue is reusable after a drain.
        assert_eq!(t.incomplete(), 0);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn partial_release_keeps_the_rest() {
        let mut t = table(4);
        for p in 0..3 {
            t.hold(ip(9), 0, p, ms(0));
        }
        t.learn(ip(9), M1, 0, ms(5), false);
        assert_eq!(t.release(ip(9)).unwrap().next(), Some(0));
        assert_eq!(t.release(ip(9)).unwrap().collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn requests_are_rate_limited_and_resolution_gives_up() {
        let mut t = table(8);
        assert_eq!(t.hold(ip(7), 0, 1, ms(0)), Hold::HeldRequest);
        assert_eq!(t.hold(ip(7), 0, 2, ms(999)), Hold::Held);
        let mut ev = Vec::new();
        assert_eq!(t.poll(ms(999), 16, |e| ev.push(e)), 0);
        assert!(ev.is_empty());
        // Second request from the packet path, once the interval passed.
        assert_eq!(t.hold(ip(7), 0, 3, ms(1000)), Hold::HeldRequest);
        assert_eq!(t.poll(ms(1999), 16, |e| ev.push(e)), 0);
        // Third request from the timer.
        assert_eq!(t.poll(ms(2000), 16, |e| ev.push(e)), 1);
        assert_eq!(
            ev,
            [NeighborEvent::Request {
                ip: ip(7),
                ifindex: 0
            }]
        );
        ev.clear();
        assert_eq!(t.hold(ip(7), 0, 4, ms(2500)), Hold::Held);
        // max_probes (3) spent: give up, drop held packets in order.
        assert_eq!(
            t.hold(ip(7), 0, 5, ms(3000)),
            Hold::Dropped(5, DropReason::ArpQueueFull)
        );
        assert_eq!(t.poll(ms(3000), 16, |e| ev.push(e)), 1);
        assert_eq!(
            ev,
            [1, 2, 3, 4].map(|p| NeighborEvent::Dropped(p, DropReason::ArpUnresolved))
        );
        assert!(t.get(ip(7), ms(3000)).is_none());
        assert_eq!(t.len(), 0);
        // A new packet starts over with an immediate request.
        assert_eq!(t.hold(ip(7), 0, 6, ms(3001)), Hold::HeldRequest);
    }

    #[test]
    fn poll_is_oldest_first_and_respects_budget() {
        let mut t = table(8);
        t.hold(ip(1), 0, 1, ms(0));
        t.hold(ip(2), 0, 2, ms(100));
        t.hold(ip(3), 0, 3, ms(200));
        let mut ev = Vec::new();
        assert_eq!(t.poll(ms(1150), 1, |e| ev.push(e)), 1);
        assert_eq!(t.poll(ms(1150), 8, |e| ev.push(e)), 1);
        assert_eq!(
            ev,
            [
                NeighborEvent::Request {
                    ip: ip(1),
                    ifindex: 0
                },
                NeighborEvent::Request {
                    ip: ip(2),
                    ifindex: 0
                }
            ]
        );
    }

    #[test]
    fn aging_reachable_stale_probe_and_expiry() {
        let mut t = table(8);
        assert_eq!(t.learn(ip(1), M1, 0, ms(1_000), true), Learn::Created);
        assert_eq!(t.resolve(ip(1), ms(30_999)), Resolve::Ready(M1));
        assert_eq!(
            t.get(ip(1), ms(31_000)).unwrap().state,
            NeighborState::Stale
        );
        assert_eq!(t.resolve(ip(1), ms(31_000)), Resolve::ReadyProbe(M1));
        assert_eq!(t.resolve(ip(1), ms(31_999)), Resolve::Ready(M1));
        assert_eq!(t.resolve(ip(1), ms(32_000)), Resolve::ReadyProbe(M1));
        // A reply makes it Reachable again with a fresh probe budget.
        assert_eq!(t.learn(ip(1), M2, 0, ms(32_100), false), Learn::Updated);
        assert_eq!(t.resolve(ip(1), ms(32_200)), Resolve::Ready(M2));
        assert_eq!(t.resolve(ip(1), ms(62_100)), Resolve::ReadyProbe(M2));
        assert_eq!(t.resolve(ip(1), ms(63_100)), Resolve::ReadyProbe(M2));
        assert_eq!(t.resolve(ip(1), ms(64_100)), Resolve::ReadyProbe(M2));
        assert_eq!(t.resolve(ip(1), ms(64_500)), Resolve::Ready(M2));
        // Three probes unanswered: the entry goes and the caller must resolve afresh.
        assert_eq!(t.resolve(ip(1), ms(65_100)), Resolve::Unresolved);
        assert!(t.get(ip(1), ms(65_100)).is_none());
    }

    #[test]
    fn learn_without_create_ignores_unknown() {
        let mut t = table(8);
        assert_eq!(t.learn(ip(1), M1, 0, ms(0), false), Learn::Ignored);
        assert!(t.is_empty());
    }

    #[test]
    fn full_table_evicts_least_recently_confirmed_but_never_incomplete() {
        let mut t = table(3);
        t.learn(ip(1), M1, 0, ms(0), true);
        t.learn(ip(2), M1, 0, ms(1), true);
        t.learn(ip(3), M1, 0, ms(2), true);
        t.learn(ip(1), M2, 0, ms(3), false); // refresh 1: now 2 is the oldest
        assert_eq!(t.learn(ip(4), M1, 0, ms(4), true), Learn::Created);
        assert!(t.get(ip(2), ms(4)).is_none());
        assert_eq!(t.len(), 3);
        // Two incomplete entries evict 3 and 1...
        assert_eq!(t.hold(ip(5), 0, 50, ms(5)), Hold::HeldRequest);
        assert_eq!(t.hold(ip(6), 0, 60, ms(5)), Hold::HeldRequest);
        assert!(t.get(ip(3), ms(5)).is_none() && t.get(ip(1), ms(5)).is_none());
        assert_eq!(t.hold(ip(7), 0, 70, ms(5)), Hold::HeldRequest); // evicts 4
                                                                    // ...and then nothing is evictable.
        assert_eq!(
            t.hold(ip(8), 0, 80, ms(5)),
            Hold::Dropped(80, DropReason::ArpQueueFull)
        );
        assert_eq!(t.learn(ip(9), M1, 0, ms(5), true), Learn::TableFull);
        assert_eq!(t.incomplete(), 3);
    }

    #[test]
    fn incomplete_entries_are_capped() {
        let mut t: NeighborTable<u32> = NeighborTable::new(NeighborConfig {
            capacity: 8,
            max_incomplete: 2,
            ..NeighborConfig::default()
        });
        t.learn(ip(1), M1, 0, ms(0), true);
        assert_eq!(t.hold(ip(2), 0, 2, ms(0)), Hold::HeldRequest);
        assert_eq!(t.hold(ip(3), 0, 3, ms(0)), Hold::HeldRequest);
        assert_eq!(
            t.hold(ip(4), 0, 4, ms(0)),
            Hold::Dropped(4, DropReason::ArpQueueFull)
        );
        assert_eq!(t.resolve(ip(1), ms(1)), Resolve::Ready(M1));
    }

    #[test]
    fn hold_on_resolved_neighbour_sends_now() {
        let mut t = table(4);
        t.learn(ip(1), M1, 0, ms(0), true);
        assert_eq!(t.hold(ip(1), 0, 9, ms(1)), Hold::Ready(9, M1));
    }

    #[test]
    fn remove_returns_held_packets_and_iter_lists_all() {
        let mut t = table(4);
        t.learn(ip(1), M1, 2, ms(0), true);
        t.hold(ip(2), 3, 20, ms(0));
        t.hold(ip(2), 3, 21, ms(0));
        let all: Vec<_> = t.iter(ms(0)).map(|n| (n.ip, n.state)).collect();
        assert_eq!(
            all,
            [
                (ip(1), NeighborState::Reachable),
                (ip(2), NeighborState::Incomplete)
            ]
        );
        let mut freed = Vec::new();
        assert!(t.remove(ip(2), |p| freed.push(p)));
        assert_eq!(freed, [20, 21]);
        assert!(!t.remove(ip(2), |_| {}));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn config_validation() {
        assert!(NeighborConfig::default().validate().is_ok());
        let bad = [
            NeighborConfig {
                capacity: 0,
                ..Default::default()
            },
            NeighborConfig {
                max_incomplete: 0,
                ..Default::default()
            },
            NeighborConfig {
                capacity: 10,
                max_incomplete: 11,
                ..Default::default()
            },
            NeighborConfig {
                retry_ms: 0,
                ..Default::default()
            },
            NeighborConfig {
                max_probes: 0,
                ..Default::default()
            },
            NeighborConfig {
                hold_per_neighbor: 5000,
                ..Default::default()
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Learn(u8, bool),
        Hold(u8),
        Remove(u8),
        Resolve(u8),
    }

    proptest! {
        /// The open-addressing index (with backward-shift deletion) and the
        /// lists agree with a HashMap model under random operations.
        #[test]
        fn index_matches_model(ops in proptest::collection::vec(
            prop_oneof![
                (0u8..40, any::<bool>()).prop_map(|(a, c)| Op::Learn(a, c)),
                (0u8..40).prop_map(Op::Hold),
                (0u8..40).prop_map(Op::Remove),
                (0u8..40).prop_map(Op::Resolve),
            ], 0..300)) {
            // Tiny index, same-/24 keys and seed 0: lots of collisions.
            let cap = 16;
            let mut t: NeighborTable<u32> = NeighborTable::new(NeighborConfig {
                capacity: cap, max_incomplete: cap, hash_seed: 0, ..Default::default()
            });
            let mut model: HashMap<u8, ()> = HashMap::new();
            for (n, op) in ops.into_iter().enumerate() {
                let now = Instant(n as u64); // never ages: only membership is modelled
                match op {
                    Op::Learn(a, create) => match t.learn(ip(a), M1, 0, now, create) {
                        Learn::Created => { prop_assert!(!model.contains_key(&a)); model.insert(a, ()); }
                        Learn::Updated | Learn::Resolved { .. } => prop_assert!(model.contains_key(&a)),
                        Learn::Ignored => prop_assert!(!create && !model.contains_key(&a)),
                        Learn::TableFull => prop_assert!(model.len() == cap),
                    },
                    Op::Hold(a) => match t.hold(ip(a), 0, a as u32, now) {
                        Hold::HeldRequest | Hold::Held | Hold::Ready(..) => { model.insert(a, ()); }
                        Hold::Dropped(..) => {}
                    },
                    Op::Remove(a) => {
                        prop_assert_eq!(t.remove(ip(a), |_| {}), model.remove(&a).is_some());
                    }
                    Op::Resolve(a) => { let _ = t.resolve(ip(a), now); }
                }
                // Evictions remove silently: sync the model from the table.
                model.retain(|a, _| t.get(ip(*a), now).is_some());
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.iter(now).count(), model.len());
                for a in 0u8..40 {
                    prop_assert_eq!(t.get(ip(a), now).is_some(), model.contains_key(&a));
                }
            }
        }
    }
}
