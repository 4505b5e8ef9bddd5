//! The bounded session table with per-timer-class LRU expiry.
//!
//! Layout: a slab `Vec<Slot<T>>` (capacity fixed at `new`, slots pushed
//! lazily but never beyond it) and a `hashbrown::HashTable<u32>` whose
//! entries are `slot << 1 | dir`, so one session is reachable from both its
//! original and its reply key. Free slots form a singly linked free list.
//!
//! Expiry: every live session sits on exactly one doubly linked list
//! (through slot indices) per timer class. All sessions of a class share one
//! timeout, so appending at the tail on every refresh keeps each list sorted
//! by deadline; `expire` pops heads while they are due. Refresh, expiry and
//! removal are O(1) whatever the table size.
//!
//! Invariants:
//! - every index entry names a live slot whose key for that direction is the
//!   entry's key; a live session has exactly its two keys indexed (one if
//!   both keys are equal);
//! - `len` live sessions, each on exactly the list of its timer class;
//! - the hash index is sized for 4 entries per session, so its load never
//!   exceeds one half and hashbrown rehashes tombstones in place instead of
//!   growing: nothing allocates after `new`.
//!
//! Lifetime: a session is live (found by `lookup`, refreshed by
//! `on_packet`) until `expire`, `remove` or a full-table `insert` frees it,
//! even if its deadline has passed; the worker calls `expire` with a budget
//! between bursts. `SessionId`s carry a generation, so a stale one is
//! refused (`try_get` -> `None`, `on_packet` -> false) rather than aliasing
//! the slot's next session.
//!
//! Full table (style principle 8): `insert` first frees one session whose
//! deadline has passed, else the oldest transitory TCP session (half-open,
//! closing or reset), else fails with [`InsertError::TableFull`]. Established
//! TCP sessions and UDP/ICMP sessions are never evicted before their time.

use std::net::Ipv4Addr;

use hashbrown::HashTable;

use super::key::{hash_addr, random_seed, FlowKey};
use super::tcp::{TcpState, TcpTracker};
use super::time::{Instant, Timeouts};
use crate::stats::DropReason;
use crate::wire::ip_proto;

const NIL: u32 = u32::MAX;

/// Largest capacity: slot indices are stored shifted left by one in a u32.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Which side of a session a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Sent by the initiator: matches the session's original key.
    Original = 0,
    /// Sent by the responder: matches the session's reply key.
    Reply = 1,
}

impl Dir {
    pub const fn reverse(self) -> Dir {
        match self {
            Dir::Original => Dir::Reply,
            Dir::Reply => Dir::Original,
        }
    }

    const fn from_bit(b: u32) -> Dir {
        if b & 1 == 0 {
            Dir::Original
        } else {
            Dir::Reply
        }
    }
}

/// Handle to a live session. Stale handles (the session was freed) are
/// detected by a generation count, so they never alias a newer session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId {
    index: u32,
    gen: u32,
}

impl SessionId {
    /// The slot index, stable for the session's life (`< capacity`).
    pub const fn index(self) -> u32 {
        self.index
    }
}

/// Which idle timer a session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerClass {
    TcpEstablished = 0,
    TcpTransitory = 1,
    /// UDP, and any other protocol without ports the NAT passes.
    Udp = 2,
    Icmp = 3,
}

const CLASSES: usize = 4;
const ALL_CLASSES: [TimerClass; CLASSES] = [
    TimerClass::TcpEstablished,
    TimerClass::TcpTransitory,
    TimerClass::Udp,
    TimerClass::Icmp,
];

impl TimerClass {
    fn timeout_secs(self, t: &Timeouts) -> u32 {
        match self {
            TimerClass::TcpEstablished => t.tcp_established,
            TimerClass::TcpTransitory => t.tcp_transitory,
            TimerClass::Udp => t.udp,
            TimerClass::Icmp => t.icmp,
        }
    }
}

/// Why a session could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsertError {
    /// Full, and nothing expired or transitory could be reclaimed.
    TableFull,
    /// The subscriber already has its maximum number of sessions (N4).
    SubscriberLimit,
    /// The original or the reply key already belongs to a session (a clash).
    Exists,
}

impl InsertError {
    pub const fn reason(self) -> DropReason {
        match self {
            InsertError::TableFull => DropReason::SessionTableFull,
            InsertError::SubscriberLimit => DropReason::SubscriberLimit,
            InsertError::Exists => DropReason::SessionClash,
        }
    }
}

impl std::fmt::Display for InsertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InsertError::TableFull => "session table full",
            InsertError::SubscriberLimit => "per-subscriber session limit reached",
            InsertError::Exists => "a session with this key already exists",
        })
    }
}

impl std::error::Error for InsertError {}

/// One tracked connection. Only `payload` is writable by the owner; the keys,
/// timers and state belong to the table.
#[derive(Debug, Clone)]
pub struct Session<T> {
    keys: [FlowKey; 2],
    /// The NAT's precompiled rewrite (or whatever the owner stores).
    pub payload: T,
    subscriber: Ipv4Addr,
    created: Instant,
    refreshed: Instant,
    packets: [u64; 2],
    tcp: TcpTracker,
    class: TimerClass,
}

impl<T> Session<T> {
    /// Key of packets from the initiator.
    pub fn orig(&self) -> &FlowKey {
        &self.keys[0]
    }
    /// Key of packets from the responder.
    pub fn reply(&self) -> &FlowKey {
        &self.keys[1]
    }
    pub fn key(&self, dir: Dir) -> &FlowKey {
        &self.keys[dir as usize]
    }
    pub fn proto(&self) -> u8 {
        self.keys[0].proto
    }
    /// The subscriber this session counts against (N4).
    pub fn subscriber(&self) -> Ipv4Addr {
        self.subscriber
    }
    pub fn created(&self) -> Instant {
        self.created
    }
    /// When the idle timer was last restarted.
    pub fn refreshed(&self) -> Instant {
        self.refreshed
    }
    /// Packets seen through `on_packet` in direction `dir`.
    pub fn packets(&self, dir: Dir) -> u64 {
        self.packets[dir as usize]
    }
    pub fn timer_class(&self) -> TimerClass {
        self.class
    }
    /// The TCP state, `None` for other protocols.
    pub fn tcp_state(&self) -> Option<TcpState> {
        (self.proto() == ip_proto::TCP).then(|| self.tcp.state())
    }
}

/// Counters of the table's own decisions (all monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    pub inserted: u64,
    pub expired: u64,
    pub removed: u64,
    /// Sessions freed by a full-table `insert` because their deadline had passed.
    pub reclaimed_expired: u64,
    /// Transitory TCP sessions evicted by a full-table `insert`.
    pub evicted_transitory: u64,
}

struct Slot<T> {
    session: Option<Session<T>>,
    gen: u32,
    /// LRU links while live; `next` links the free list while free.
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

/// A subscriber's live session count.
struct SubCount {
    addr: Ipv4Addr,
    count: u32,
}

/// The per-worker session table. See the module docs for layout and policy.
pub struct SessionTable<T> {
    slots: Vec<Slot<T>>,
    index: HashTable<u32>,
    subs: HashTable<SubCount>,
    free_head: u32,
    lists: [List; CLASSES],
    capacity: usize,
    len: usize,
    seed: u64,
    timeouts: Timeouts,
    timeout_ms: [u64; CLASSES],
    subscriber_limit: u32,
    stats: TableStats,
}

impl<T> SessionTable<T> {
    /// Allocates a table for `capacity` sessions with a random hash seed.
    ///
    /// # Panics
    /// If `capacity > MAX_CAPACITY` (a configuration error at start-up).
    pub fn new(capacity: usize, timeouts: Timeouts) -> Self {
        Self::with_seed(capacity, timeouts, random_seed())
    }

    /// As [`SessionTable::new`] with a caller-chosen hash seed.
    ///
    /// # Panics
    /// If `capacity > MAX_CAPACITY`.
    pub fn with_seed(capacity: usize, timeouts: Timeouts, seed: u64) -> Self {
        assert!(
            capacity <= MAX_CAPACITY,
            "session table capacity {capacity} above {MAX_CAPACITY}"
        );
        let mut t = SessionTable {
            slots: Vec::with_capacity(capacity),
            // Load <= 1/2 keeps hashbrown's tombstone cleanup in place (no realloc).
            index: HashTable::with_capacity(capacity * 4 + 2),
            subs: HashTable::with_capacity(capacity * 2 + 2),
            free_head: NIL,
            lists: [List::EMPTY; CLASSES],
            capacity,
            len: 0,
            seed,
            timeouts,
            timeout_ms: [0; CLASSES],
            subscriber_limit: 0,
            stats: TableStats::default(),
        };
        t.set_timeouts(timeouts);
        t
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }
    /// The seed to pass to [`FlowKey::hash_with`] for this table.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// `key.hash_with(self.seed())`.
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        key.hash_with(self.seed)
    }
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }
    pub fn stats(&self) -> TableStats {
        self.stats
    }
    /// Live sessions per timer class, indexed by `TimerClass as usize`.
    pub fn class_len(&self, class: TimerClass) -> usize {
        self.lists[class as usize].len as usize
    }

    /// Replaces the timeouts; they apply to existing sessions at once
    /// (deadlines are computed from the last refresh and the current value).
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = t;
        for c in ALL_CLASSES {
            self.timeout_ms[c as usize] = u64::from(c.timeout_secs(&t)) * 1000;
        }
    }

    /// Maximum sessions per subscriber, 0 = unlimited (N4).
    pub fn set_subscriber_limit(&mut self, limit: u32) {
        self.subscriber_limit = limit;
    }
    pub fn subscriber_limit(&self) -> u32 {
        self.subscriber_limit
    }
    /// Live sessions of one subscriber.
    pub fn subscriber_sessions(&self, addr: Ipv4Addr) -> u32 {
        self.subs
            .find(hash_addr(addr, self.seed), |e| e.addr == addr)
            .map_or(0, |e| e.count)
    }

    /// Finds the session `key` belongs to and which side sent it.
    /// `hash` must be `key.hash_with(self.seed())`.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<(SessionId, Dir)> {
        let slots = &self.slots;
        let v = *self
            .index
            .find(hash, |&v| entry_key(slots, v) == Some(key))?;
        let index = v >> 1;
        let gen = slots.get(index as usize)?.gen;
        Some((SessionId { index, gen }, Dir::from_bit(v)))
    }

    /// The session behind a live id.
    ///
    /// # Panics
    /// If `id` is stale (its session was expired or removed), which is a
    /// caller bug; use [`SessionTable::try_get`] where that can happen.
    pub fn get(&self, id: SessionId) -> &Session<T> {
        self.try_get(id).expect("stale SessionId")
    }

    /// Mutable access (only `payload` is public).
    ///
    /// # Panics
    /// If `id` is stale, as for [`SessionTable::get`].
    pub fn get_mut(&mut self, id: SessionId) -> &mut Session<T> {
        self.try_get_mut(id).expect("stale SessionId")
    }

    pub fn try_get(&self, id: SessionId) -> Option<&Session<T>> {
        let s = self.slots.get(id.index as usize)?;
        if s.gen != id.gen {
            return None;
        }
        s.session.as_ref()
    }

    pub fn try_get_mut(&mut self, id: SessionId) -> Option<&mut Session<T>> {
        let s = self.slots.get_mut(id.index as usize)?;
        if s.gen != id.gen {
            return None;
        }
        s.session.as_mut()
    }

    /// When the session expires if nothing refreshes it.
    pub fn deadline(&self, id: SessionId) -> Option<Instant> {
        let s = self.try_get(id)?;
        Some(s.refreshed.add_millis(self.timeout_ms[s.class as usize]))
    }

    /// Iterates over live sessions (control path: CLI listings, dumps).
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Session<T>)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.session.as_ref().map(|sess| {
                (
                    SessionId {
                        index: i as u32,
                        gen: s.gen,
                    },
                    sess,
                )
            })
        })
    }

    /// Creates a session reachable from `orig` and `reply`.
    ///
    /// The creating packet is taken to be the original side's first packet:
    /// a TCP session starts in `SynSent` (callers only create TCP sessions
    /// for SYNs, N8), others on their idle timer. Calling `on_packet` for
    /// the creating packet as well is harmless.
    ///
    /// When the table is full, one expired or transitory session is freed
    /// first and handed to `on_evict` (so the owner can release what it
    /// holds, e.g. port mappings); see the module docs.
    pub fn insert(
        &mut self,
        orig: FlowKey,
        reply: FlowKey,
        payload: T,
        now: Instant,
        subscriber: Ipv4Addr,
        mut on_evict: impl FnMut(&Session<T>),
    ) -> Result<SessionId, InsertError> {
        let h_orig = orig.hash_with(self.seed);
        let h_reply = reply.hash_with(self.seed);
        if self.lookup(&orig, h_orig).is_some() || self.lookup(&reply, h_reply).is_some() {
            return Err(InsertError::Exists);
        }
        if self.subscriber_limit != 0
            && self.subscriber_sessions(subscriber) >= self.subscriber_limit
        {
            return Err(InsertError::SubscriberLimit);
        }
        if self.len >= self.capacity {
            self.reclaim_one(now, &mut on_evict)?;
        }

        let class = if orig.proto == ip_proto::TCP {
            TimerClass::TcpTransitory
        } else if orig.proto == ip_proto::ICMP {
            TimerClass::Icmp
        } else {
            TimerClass::Udp
        };
        let session = Session {
            keys: [orig, reply],
            payload,
            subscriber,
            created: now,
            refreshed: now,
            packets: [0; 2],
            tcp: TcpTracker::opened_by(0),
            class,
        };
        let index = if self.free_head != NIL {
            let i = self.free_head;
            let slot = &mut self.slots[i as usize];
            self.free_head = slot.next;
            slot.session = Some(session);
            i
        } else {
            // len < capacity and no free slot: slots.len() < capacity, so no realloc.
            self.slots.push(Slot {
                session: Some(session),
                gen: 0,
                prev: NIL,
                next: NIL,
            });
            (self.slots.len() - 1) as u32
        };
        self.push_tail(class, index);

        let slots = &self.slots;
        let seed = self.seed;
        let rehash = |&v: &u32| entry_key(slots, v).map_or(0, |k| k.hash_with(seed));
        self.index.insert_unique(h_orig, index << 1, rehash);
        if reply != orig {
            self.index.insert_unique(h_reply, (index << 1) | 1, rehash);
        }
        self.sub_inc(subscriber);
        self.len += 1;
        self.stats.inserted += 1;
        Ok(SessionId {
            index,
            gen: self.slots[index as usize].gen,
        })
    }

    /// Accounts one packet of session `id` from side `dir`: runs the TCP
    /// state machine (`tcp_flags` = the TCP header's flag byte) and restarts
    /// the idle timer. UDP/ICMP/other sessions are refreshed by original-side
    /// packets always and by reply-side packets only if
    /// `Timeouts::udp_inbound_refresh` (N7); TCP by both sides.
    ///
    /// Returns false (and does nothing) for a stale id.
    #[inline]
    pub fn on_packet(
        &mut self,
        id: SessionId,
        dir: Dir,
        tcp_flags: Option<u8>,
        now: Instant,
    ) -> bool {
        let inbound_refresh = self.timeouts.udp_inbound_refresh;
        let Some(s) = self.try_get_mut(id) else {
            return false;
        };
        s.packets[dir as usize] += 1;
        let (class, refresh) = if s.keys[0].proto == ip_proto::TCP {
            if let Some(f) = tcp_flags {
                s.tcp.on_segment(dir as usize, f);
            }
            let class = if s.tcp.state().is_transitory() {
                TimerClass::TcpTransitory
            } else {
                TimerClass::TcpEstablished
            };
            (class, true)
        } else {
            (s.class, dir == Dir::Original || inbound_refresh)
        };
        if !refresh {
            return true;
        }
        self.unlink(id.index);
        if let Some(s) = self.slots[id.index as usize].session.as_mut() {
            // Never move a deadline backwards, so each list stays sorted.
            s.refreshed = s.refreshed.max(now);
            s.class = class;
        }
        self.push_tail(class, id.index);
        true
    }

    /// Frees up to `budget` sessions whose idle timer ran out by `now`,
    /// oldest deadline first, calling `on_expire` for each before it is
    /// freed. Returns how many were freed. Cost is O(freed), independent of
    /// the table size.
    pub fn expire(
        &mut self,
        now: Instant,
        budget: usize,
        mut on_expire: impl FnMut(&Session<T>),
    ) -> usize {
        let mut n = 0;
        while n < budget {
            let Some(i) = self.oldest_expired(now) else {
                break;
            };
            if let Some(s) = self.free(i) {
                on_expire(&s);
            }
            self.stats.expired += 1;
            n += 1;
        }
        n
    }

    /// Removes a session now (e.g. the owner tears it down) and returns it.
    /// `None` for a stale id.
    pub fn remove(&mut self, id: SessionId) -> Option<Session<T>> {
        self.try_get(id)?;
        let s = self.free(id.index);
        self.stats.removed += 1;
        s
    }

    /// The earliest deadline among the class heads that is `<= now`.
    fn oldest_expired(&self, now: Instant) -> Option<u32> {
        let mut best: Option<(Instant, u32)> = None;
        for c in 0..CLASSES {
            let h = self.lists[c].head;
            if h == NIL {
                continue;
            }
            let Some(s) = self.slots.get(h as usize).and_then(|s| s.session.as_ref()) else {
                continue;
            };
            let deadline = s.refreshed.add_millis(self.timeout_ms[c]);
            let earlier = match best {
                None => true,
                Some((d, _)) => deadline < d,
            };
            if deadline <= now && earlier {
                best = Some((deadline, h));
            }
        }
        best.map(|(_, i)| i)
    }

    /// Frees one slot for a full-table insert (see module docs).
    fn reclaim_one(
        &mut self,
        now: Instant,
        on_evict: &mut impl FnMut(&Session<T>),
    ) -> Result<(), InsertError> {
        let victim = if let Some(i) = self.oldest_expired(now) {
            self.stats.reclaimed_expired += 1;
            i
        } else {
            let h = self.lists[TimerClass::TcpTransitory as usize].head;
            if h == NIL {
                return Err(InsertError::TableFull);
            }
            self.stats.evicted_transitory += 1;
            h
        };
        if let Some(s) = self.free(victim) {
            on_evict(&s);
        }
        Ok(())
    }

    /// Unindexes, unlinks and frees slot `i`, returning its session.
    fn free(&mut self, i: u32) -> Option<Session<T>> {
        let (keys, subscriber) = {
            let s = self.slots.get(i as usize)?.session.as_ref()?;
            (s.keys, s.subscriber)
        };
        for (d, key) in keys.iter().enumerate() {
            if d == 1 && keys[1] == keys[0] {
                break;
            }
            let v = (i << 1) | d as u32;
            if let Ok(e) = self.index.find_entry(key.hash_with(self.seed), |&x| x == v) {
                e.remove();
            }
        }
        self.unlink(i);
        self.sub_dec(subscriber);
        let slot = &mut self.slots[i as usize];
        let s = slot.session.take();
        slot.gen = slot.gen.wrapping_add(1);
        slot.prev = NIL;
        slot.next = self.free_head;
        self.free_head = i;
        self.len -= 1;
        s
    }

    fn push_tail(&mut self, class: TimerClass, i: u32) {
        let list = &mut self.lists[class as usize];
        let tail = list.tail;
        list.tail = i;
        if tail == NIL {
            list.head = i;
        }
        list.len += 1;
        if tail != NIL {
            self.slots[tail as usize].next = i;
        }
        let slot = &mut self.slots[i as usize];
        slot.prev = tail;
        slot.next = NIL;
    }

    fn unlink(&mut self, i: u32) {
        let slot = &self.slots[i as usize];
        let (prev, next) = (slot.prev, slot.next);
        let Some(class) = slot.session.as_ref().map(|s| s.class) else {
            return;
        };
        let list = &mut self.lists[class as usize];
        if prev == NIL {
            list.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            list.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        list.len -= 1;
        let slot = &mut self.slots[i as usize];
        slot.prev = NIL;
        slot.next = NIL;
    }

    fn sub_inc(&mut self, addr: Ipv4Addr) {
        let seed = self.seed;
        let h = hash_addr(addr, seed);
        if let Some(e) = self.subs.find_mut(h, |e| e.addr == addr) {
            e.count += 1;
        } else {
            self.subs
                .insert_unique(h, SubCount { addr, count: 1 }, |e| hash_addr(e.addr, seed));
        }
    }

    fn sub_dec(&mut self, addr: Ipv4Addr) {
        if let Ok(mut e) = self
            .subs
            .find_entry(hash_addr(addr, self.seed), |e| e.addr == addr)
        {
            if e.get().count <= 1 {
                e.remove();
            } else {
                e.get_mut().count -= 1;
            }
        }
    }
}

/// The key an index entry points at, `None` if the slot is not live.
#[inline]
fn entry_key<T>(slots: &[Slot<T>], v: u32) -> Option<&FlowKey> {
    slots
        .get((v >> 1) as usize)?
        .session
        .as_ref()
        .map(|s| &s.keys[(v & 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::tcp::flags::{ACK, FIN, RST, SYN};
    use proptest::prelude::*;

    impl<T> SessionTable<T> {
        /// Walks every structure and checks the module invariants.
        fn check_invariants(&self) {
            let mut on_lists = 0usize;
            for c in ALL_CLASSES {
                let list = self.lists[c as usize];
                let (mut i, mut prev, mut n, mut last_refresh) =
                    (list.head, NIL, 0u32, Instant::ZERO);
                while i != NIL {
                    let slot = &self.slots[i as usize];
                    let s = slot.session.as_ref().expect("listed slot is live");
                    assert_eq!(s.class, c);
                    assert_eq!(slot.prev, prev);
                    assert!(s.refreshed >= last_refresh, "list sorted by refresh");
                    last_refresh = s.refreshed;
                    prev = i;
                    i = slot.next;
                    n += 1;
                }
                assert_eq!(list.tail, prev);
                assert_eq!(list.len, n);
                on_lists += n as usize;
            }
            assert_eq!(on_lists, self.len);
            let live: Vec<u32> = (0..self.slots.len() as u32)
                .filter(|&i| self.slots[i as usize].session.is_some())
                .collect();
            assert_eq!(live.len(), self.len);
            let mut keys = 0;
            for &i in &live {
                let s = self.slots[i as usize].session.as_ref().unwrap();
                for (d, k) in s.keys.iter().enumerate() {
                    let (id, dir) = self.lookup(k, self.hash(k)).expect("key indexed");
                    assert_eq!(id.index, i);
                    if !(d == 1 && s.keys[0] == s.keys[1]) {
                        assert_eq!(dir as usize, d);
                        keys += 1;
                    }
                }
            }
            assert_eq!(self.index.len(), keys);
            let (mut free, mut i) = (0, self.free_head);
            while i != NIL {
                assert!(self.slots[i as usize].session.is_none());
                free += 1;
                i = self.slots[i as usize].next;
            }
            assert_eq!(free + self.len, self.slots.len());
            let subs: u32 = self.subs.iter().map(|e| e.count).sum();
            assert_eq!(subs as usize, self.len);
        }
    }

    fn key(h: u8, p: u16, proto: u8) -> FlowKey {
        FlowKey::new(
            Ipv4Addr::new(10, 0, 0, h),
            p,
            Ipv4Addr::new(1, 1, 1, 1),
            80,
            proto,
        )
    }

    proptest! {
        #[test]
        fn invariants_hold_under_random_tcp_udp_traffic(
            ops in prop::collection::vec((0u8..4, 0u8..5, 0u16..6, any::<bool>(), 0u8..6, 0u64..200_000), 1..200)
        ) {
            let t = Timeouts { tcp_transitory: 30, tcp_established: 600, udp: 120, icmp: 60, udp_inbound_refresh: false };
            let mut tb: SessionTable<u16> = SessionTable::with_seed(16, t, 1);
            tb.set_subscriber_limit(6);
            let mut now = Instant::ZERO;
            for (op, h, p, reply, f, dt) in ops {
                now = now.add_millis(dt);
                let proto = if p % 2 == 0 { ip_proto::TCP } else { 17 };
                let k = key(h, p, proto);
                match op {
                    0 => {
                        let r = FlowKey::new(Ipv4Addr::new(1, 1, 1, 1), 80, Ipv4Addr::new(9, 9, 9, 9), u16::from(h) * 8 + p, proto);
                        let _ = tb.insert(k, r, p, now, k.src, |_| {});
                    }
                    1 | 2 => {
                        let probe = if reply { tb.lookup(&k, tb.hash(&k)).map(|(id, _)| *tb.get(id).reply()) } else { Some(k) };
                        if let Some(pk) = probe {
                            if let Some((id, dir)) = tb.lookup(&pk, tb.hash(&pk)) {
                                let flags = [SYN, SYN | ACK, ACK, FIN | ACK, RST, 0][usize::from(f)];
                                prop_assert!(tb.on_packet(id, dir, Some(flags), now));
                            }
                        }
                    }
                    _ => {
                        if reply {
                            if let Some((id, _)) = tb.lookup(&k, tb.hash(&k)) {
                                prop_assert!(tb.remove(id).is_some());
                            }
                        } else {
                            tb.expire(now, usize::from(f), |_| {});
                        }
                    }
                }
                tb.check_invariants();
            }
        }
    }
}
