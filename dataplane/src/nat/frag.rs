//! Fragments of translated flows (N14).
//!
//! Only the first fragment carries the L4 ports, so it is the one that goes
//! through the session lookup. Its outcome (the rewrite that was applied and
//! where the packet went) is recorded here under the datagram's identity
//! `(src, dst, proto, ip id)` as seen *before* translation; later fragments
//! of the same datagram look that up and get the same addresses rewritten.
//!
//! Invariants:
//! * [`FragTable`] holds at most `max_entries` datagrams. Every entry lives
//!   for the same `timeout`, so a FIFO of insertions is also the expiry order
//!   and expiry costs O(expired), never a scan.
//! * [`HoldBuffer`] keeps non-first fragments that arrived before their first
//!   fragment in `slots` preallocated buffers of `slot_size` bytes. One source
//!   address may hold at most `per_source` slots, so a flood from one host
//!   cannot take the buffer from everyone else. Held fragments leave either
//!   released (first fragment seen) or dropped on timeout; both are counted by
//!   the engine.
//! * Nothing here allocates after construction.

use crate::conntrack::Instant;
use crate::nat::fasthash::SeededState;
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// One datagram's identity, as seen on arrival (before translation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ident: u16,
}

/// The table is full of live entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragTableFull;

#[derive(Clone, Copy, Debug)]
struct Entry<V> {
    value: V,
    created: Instant,
}

/// Bounded map from a datagram to what its first fragment got.
#[derive(Debug)]
pub struct FragTable<V: Copy> {
    map: HashMap<FragKey, Entry<V>, SeededState>,
    fifo: VecDeque<(FragKey, Instant)>,
    max_entries: usize,
    timeout_ms: u64,
}

impl<V: Copy> FragTable<V> {
    /// Allocates for `max_entries` datagrams, each remembered for `timeout_ms`.
    pub fn new(max_entries: usize, timeout_ms: u64, seed: u64) -> Self {
        let max_entries = max_entries.max(1);
        FragTable {
            // Twice the live bound: hashbrown then always rehashes in place
            // (no allocation) when tombstones pile up.
            map: HashMap::with_capacity_and_hasher(max_entries * 2, SeededState(seed)),
            fifo: VecDeque::with_capacity(max_entries),
            max_entries,
            timeout_ms,
        }
    }

    fn expired(&self, created: Instant, now: Instant) -> bool {
        now.0.saturating_sub(created.0) >= self.timeout_ms
    }

    /// What the first fragment of `key` got, if it is still remembered.
    pub fn get(&self, key: &FragKey, now: Instant) -> Option<V> {
        match self.map.get(key) {
            Some(e) if !self.expired(e.created, now) => Some(e.value),
            _ => None,
        }
    }

    /// Records (or refreshes, for a retransmitted first fragment) `key`.
    pub fn insert(&mut self, key: FragKey, value: V, now: Instant) -> Result<(), FragTableFull> {
        self.expire(now);
        if self.fifo.len() == self.max_entries {
            // Entries refreshed after being queued leave stale FIFO items;
            // reclaim those from the front before giving up.
            while let Some(&(k, created)) = self.fifo.front() {
                let stale = !matches!(self.map.get(&k), Some(e) if e.created == created);
                if !stale {
                    break;
                }
                self.fifo.pop_front();
            }
            if self.fifo.len() == self.max_entries {
                return Err(FragTableFull);
            }
        }
        self.map.insert(
            key,
            Entry {
                value,
                created: now,
            },
        );
        self.fifo.push_back((key, now));
        Ok(())
    }

    /// Forgets every datagram older than the timeout. Cost O(expired).
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(&(k, created)) = self.fifo.front() {
            if !self.expired(created, now) {
                break;
            }
            self.fifo.pop_front();
            if self.map.get(&k).is_some_and(|e| e.created == created) {
                self.map.remove(&k);
                n += 1;
            }
        }
        n
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Why a fragment could not be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldError {
    /// Every slot is in use, or this source already holds its share.
    Full,
    /// The fragment is larger than a slot.
    TooBig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Free,
    /// Waiting for its first fragment.
    Held,
    /// First fragment seen; translated and waiting for the caller to take it.
    Ready,
}

#[derive(Clone, Copy, Debug)]
struct Slot<V: Copy> {
    state: SlotState,
    key: FragKey,
    len: u16,
    arrived: Instant,
    tag: V,
}

/// Preallocated store for out-of-order fragments. `V` is what a released
/// fragment carries to the caller (the engine's verdict).
#[derive(Debug)]
pub struct HoldBuffer<V: Copy> {
    data: Box<[u8]>,
    slots: Box<[Slot<V>]>,
    ready: VecDeque<usize>,
    slot_size: usize,
    per_source: usize,
    timeout_ms: u64,
}

impl<V: Copy> HoldBuffer<V> {
    /// `empty` is the tag of slots that were never released.
    pub fn new(
        slots: usize,
        slot_size: usize,
        per_source: usize,
        timeout_ms: u64,
        empty: V,
    ) -> Self {
        let slot = Slot {
            state: SlotState::Free,
            key: FragKey {
                src: Ipv4Addr::UNSPECIFIED,
                dst: Ipv4Addr::UNSPECIFIED,
                proto: 0,
                ident: 0,
            },
            len: 0,
            arrived: Instant(0),
            tag: empty,
        };
        HoldBuffer {
            data: vec![0u8; slots * slot_size].into_boxed_slice(),
            slots: vec![slot; slots].into_boxed_slice(),
            ready: VecDeque::with_capacity(slots),
            slot_size,
            per_source: per_source.max(1),
            timeout_ms,
        }
    }

    /// Copies `pkt` into a free slot.
    pub fn hold(&mut self, key: FragKey, pkt: &[u8], now: Instant) -> Result<(), HoldError> {
        if pkt.len() > self.slot_size || pkt.len() > usize::from(u16::MAX) {
            return Err(HoldError::TooBig);
        }
        let mut free = None;
        let mut same_source = 0;
        for (i, s) in self.slots.iter().enumerate() {
            if s.state == SlotState::Free {
                free = free.or(Some(i));
            } else if s.key.src == key.src {
                same_source += 1;
            }
        }
        let Some(i) = free else {
            return Err(HoldError::Full);
        };
        if same_source >= self.per_source {
            return Err(HoldError::Full);
        }
        let off = i * self.slot_size;
        self.data[off..off + pkt.len()].copy_from_slice(pkt);
        let s = &mut self.slots[i];
        s.state = SlotState::Held;
        s.key = key;
        // Fits: checked against u16::MAX above.
        s.len = pkt.len() as u16;
        s.arrived = now;
        Ok(())
    }

    /// Marks every fragment held for `key` ready, tagged `tag`, after letting
    /// `f` rewrite its bytes. Returns how many were released.
    pub fn release(&mut self, key: &FragKey, tag: V, mut f: impl FnMut(&mut [u8])) -> usize {
        let mut n = 0;
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            if s.state != SlotState::Held || s.key != *key {
                continue;
            }
            s.state = SlotState::Ready;
            s.tag = tag;
            let off = i * self.slot_size;
            let len = usize::from(s.len);
            f(&mut self.data[off..off + len]);
            self.ready.push_back(i);
            n += 1;
        }
        n
    }

    /// The next released fragment: (slot, tag). Its bytes stay readable
    /// through [`HoldBuffer::bytes`] until [`HoldBuffer::free`].
    pub fn pop_ready(&mut self) -> Option<(usize, V)> {
        while let Some(i) = self.ready.pop_front() {
            if let Some(s) = self.slots.get(i) {
                if s.state == SlotState::Ready {
                    return Some((i, s.tag));
                }
            }
        }
        None
    }

    /// Bytes of a held or ready slot (empty for a free one).
    pub fn bytes(&self, slot: usize) -> &[u8] {
        match self.slots.get(slot) {
            Some(s) if s.state != SlotState::Free => {
                let off = slot * self.slot_size;
                &self.data[off..off + usize::from(s.len)]
            }
            _ => &[],
        }
    }

    pub fn free(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.state = SlotState::Free;
        }
    }

    /// Frees fragments older than the timeout (never released, or released
    /// but never taken); returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        for s in self.slots.iter_mut() {
            if s.state != SlotState::Free && now.0.saturating_sub(s.arrived.0) >= self.timeout_ms {
                s.state = SlotState::Free;
                n += 1;
            }
        }
        n
    }

    /// Slots in use (held or ready).
    pub fn in_use(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state != SlotState::Free)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src: u8, ident: u16) -> FragKey {
        FragKey {
            src: Ipv4Addr::new(10, 0, 0, src),
            dst: Ipv4Addr::new(1, 1, 1, 1),
            proto: 17,
            ident,
        }
    }

    #[test]
    fn table_remembers_until_timeout_and_is_bounded() {
        let mut t: FragTable<u32> = FragTable::new(2, 1000, 1);
        t.insert(key(1, 1), 10, Instant(0)).unwrap();
        t.insert(key(1, 2), 20, Instant(10)).unwrap();
        assert_eq!(t.insert(key(1, 3), 30, Instant(20)), Err(FragTableFull));
        assert_eq!(t.get(&key(1, 1), Instant(999)), Some(10));
        assert_eq!(t.get(&key(1, 1), Instant(1000)), None);
        // The first entry expired, so there is room again.
        t.insert(key(1, 3), 30, Instant(1000)).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(&key(1, 3), Instant(1001)), Some(30));
    }

    #[test]
    fn refreshed_entries_do_not_wedge_the_fifo() {
        let mut t: FragTable<u32> = FragTable::new(2, 1000, 1);
        t.insert(key(1, 1), 1, Instant(0)).unwrap();
        t.insert(key(1, 1), 2, Instant(5)).unwrap();
        // FIFO holds a stale item for the first insert; it is reclaimed.
        t.insert(key(1, 2), 3, Instant(6)).unwrap();
        assert_eq!(t.get(&key(1, 1), Instant(7)), Some(2));
        assert_eq!(t.get(&key(1, 2), Instant(7)), Some(3));
    }

    #[test]
    fn hold_buffer_caps_per_source_releases_and_expires() {
        let mut h: HoldBuffer<u8> = HoldBuffer::new(4, 64, 2, 100, 0);
        h.hold(key(1, 1), &[1; 10], Instant(0)).unwrap();
        h.hold(key(1, 2), &[2; 10], Instant(0)).unwrap();
        assert_eq!(
            h.hold(key(1, 3), &[3; 10], Instant(0)),
            Err(HoldError::Full)
        );
        h.hold(key(2, 3), &[3; 10], Instant(50)).unwrap();
        assert_eq!(
            h.hold(key(2, 3), &[3; 65], Instant(50)),
            Err(HoldError::TooBig)
        );
        assert_eq!(h.release(&key(1, 2), 7, |b| b[0] = 9), 1);
        let (slot, tag) = h.pop_ready().unwrap();
        assert_eq!(tag, 7);
        assert_eq!(h.bytes(slot)[..2], [9, 2]);
        h.free(slot);
        assert_eq!(h.pop_ready(), None);
        assert_eq!(h.in_use(), 2);
        assert_eq!(h.expire(Instant(100)), 1);
        assert_eq!(h.in_use(), 1);
    }
}
