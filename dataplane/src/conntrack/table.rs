//! The bounded session table with lazy timer-wheel expiry.
//!
//! Layout: a slab `Vec<Slot<T>>` (capacity fixed at `new`, slots pushed
//! lazily but never beyond it; 128-byte cache-aligned slots for the NAT's
//! payload) and a tagged, cache-line-bucketed index (`super::index`) whose
//! values are `slot << 1 | dir`, so one session is reachable from both its
//! original and its reply key. Free slots form a singly linked free list.
//!
//! Expiry (no list work per packet): a refresh only stores `refreshed =
//! now` in the session slot the lookup already touched. UDP, ICMP and
//! established TCP sessions sit in a two-level timer wheel (`Wheel`:
//! 65,536 one-millisecond slots, then 65,536 slots of 65.536 s) at a *lazy*
//! deadline that is never later than their real one. When a slot comes due,
//! each entry is re-checked: a session refreshed meanwhile is re-inserted at
//! its real deadline instead of expiring, so an active session moves at most
//! twice per timeout period and never per packet. Level-0 slots are one
//! millisecond wide, so entries expire exactly at their deadline and in
//! deadline order. Transitory TCP sessions (few packets each, and the
//! full-table policy needs the oldest one) stay on an eagerly maintained
//! list sorted by refresh time. Each step of `expire` is O(1) whatever the
//! table size, and each call does at most a bounded amount of re-insertion
//! work besides the sessions it frees.
//!
//! Invariants:
//! - every index entry names a live slot whose key for that direction is the
//!   entry's key; a live session has exactly its two keys indexed (one if
//!   both keys are equal);
//! - `len` live sessions: transitory TCP ones on the transitory list in
//!   refresh order, every other one in exactly one wheel slot whose time is
//!   at most its deadline (or the wheel's current slot, if already overdue);
//! - the index (`super::index`) is sized for 2 entries per session at a
//!   load of at most about 0.6: nothing allocates after `new`.
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
//! Looking for an expired session re-files at most 256 refreshed wheel
//! entries per insert (bounded cost); past that the insert proceeds as if
//! none had expired.

use std::net::Ipv4Addr;

use super::index::Index;
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
#[repr(u8)]
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
///
/// `repr(C)` in this order: with the slot header the fields a hit reads or
/// writes (keys, class, TCP flags, refresh time, payload, packet counts)
/// fill a slot's first two cache lines ([`Slot`]).
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Session<T> {
    keys: [FlowKey; 2],
    class: TimerClass,
    tcp: TcpTracker,
    refreshed: Instant,
    /// The NAT's precompiled rewrite (or whatever the owner stores).
    pub payload: T,
    packets: [u64; 2],
    created: Instant,
    subscriber: Ipv4Addr,
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

/// 128 bytes for the NAT's payload, aligned to a cache line (a hit touches
/// two lines, which `prefetch_session` loads).
#[repr(C, align(64))]
struct Slot<T> {
    gen: u32,
    /// `TRANSITORY`, a wheel slot (`< 2 * WHEEL_SLOTS`), or `NIL`.
    list: u32,
    session: Option<Session<T>>,
    /// Links of the timer list the session is on (`list`); `next` links the
    /// free list while free.
    prev: u32,
    next: u32,
}

/// Slots per wheel level; level 0 is one millisecond per slot, level 1 is
/// `WHEEL_SLOTS` milliseconds per slot (65.536 s; 49.7 days in all, beyond
/// `Timeouts::MAX`).
const WHEEL_BITS: u32 = 16;
const WHEEL_SLOTS: usize = 1 << WHEEL_BITS;
const WHEEL_MASK: u64 = WHEEL_SLOTS as u64 - 1;
/// `Slot::list` of a session on the transitory list.
const TRANSITORY: u32 = NIL - 1;
/// Wheel re-insertions one `expire` call may do beyond what it frees.
const REQUEUE_SLACK: usize = 256;

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// One bit per wheel slot with a one-bit-per-word summary, so the next
/// occupied slot is found in a few word scans.
struct Bits {
    words: Box<[u64]>,
    summary: Box<[u64]>,
}

impl Bits {
    fn new() -> Bits {
        Bits {
            words: vec![0; WHEEL_SLOTS / 64].into_boxed_slice(),
            summary: vec![0; WHEEL_SLOTS / 4096].into_boxed_slice(),
        }
    }

    fn set(&mut self, b: usize) {
        let w = b >> 6;
        self.words[w] |= 1 << (b & 63);
        self.summary[w >> 6] |= 1 << (w & 63);
    }

    fn clear(&mut self, b: usize) {
        let w = b >> 6;
        self.words[w] &= !(1 << (b & 63));
        if self.words[w] == 0 {
            self.summary[w >> 6] &= !(1 << (w & 63));
        }
    }

    /// The first set bit at or after `b`, without wrapping.
    fn next_from(&self, b: usize) -> Option<usize> {
        let w = b >> 6;
        let m = *self.words.get(w)? & (!0u64 << (b & 63));
        if m != 0 {
            return Some((w << 6) | m.trailing_zeros() as usize);
        }
        let w1 = w + 1;
        let mut sw = w1 >> 6;
        let mut sm = *self.summary.get(sw)? & (!0u64 << (w1 & 63));
        loop {
            if sm != 0 {
                let ww = (sw << 6) | sm.trailing_zeros() as usize;
                return Some((ww << 6) | self.words[ww].trailing_zeros() as usize);
            }
            sw += 1;
            sm = *self.summary.get(sw)?;
        }
    }
}

/// The two-level timer wheel of the non-transitory sessions (module docs).
/// `cur` is the wheel's time: every entry whose lazy deadline is before it
/// has been handled.
struct Wheel {
    /// List heads, level 0 then level 1.
    heads: Box<[u32]>,
    bits: [Bits; 2],
    cur: u64,
    /// Entries filed.
    len: usize,
}

impl Wheel {
    fn new() -> Wheel {
        Wheel {
            heads: vec![NIL; 2 * WHEEL_SLOTS].into_boxed_slice(),
            bits: [Bits::new(), Bits::new()],
            cur: 0,
            len: 0,
        }
    }

    /// The list a session due at `deadline` belongs in.
    fn slot_for(&self, deadline: u64) -> u32 {
        // Overdue entries go to the current slot (they are due already).
        let d = deadline.max(self.cur);
        let (dw, cw) = (d >> WHEEL_BITS, self.cur >> WHEEL_BITS);
        if dw == cw {
            (d & WHEEL_MASK) as u32
        } else {
            // Beyond level 1's reach: park in its farthest slot, re-checked there.
            let w = if dw - cw < WHEEL_SLOTS as u64 {
                dw
            } else {
                cw + WHEEL_MASK
            };
            (WHEEL_SLOTS as u64 + (w & WHEEL_MASK)) as u32
        }
    }
}

/// A subscriber's live session count (0 while the entry is free).
#[derive(Clone, Copy)]
struct SubCount {
    addr: Ipv4Addr,
    count: u32,
    /// Free-list link while free.
    next_free: u32,
}

/// The per-worker session table. See the module docs for layout and policy.
pub struct SessionTable<T> {
    slots: Vec<Slot<T>>,
    index: Index,
    /// Subscriber slab (at most one entry per live session) and its index.
    subs: Vec<SubCount>,
    sub_index: Index,
    sub_free: u32,
    free_head: u32,
    transitory: List,
    wheel: Wheel,
    class_count: [u32; CLASSES],
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
            index: Index::new(capacity * 2),
            subs: Vec::with_capacity(capacity),
            sub_index: Index::new(capacity),
            sub_free: NIL,
            free_head: NIL,
            transitory: List::EMPTY,
            wheel: Wheel::new(),
            class_count: [0; CLASSES],
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
        self.class_count[class as usize] as usize
    }

    /// Replaces the timeouts; they apply to existing sessions at once
    /// (deadlines are computed from the last refresh and the current value).
    ///
    /// A shorter timeout re-files every wheel entry (O(len), control path
    /// only): wheel positions must never be later than real deadlines.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = t;
        let mut shorter = false;
        for c in ALL_CLASSES {
            let ms = u64::from(c.timeout_secs(&t)) * 1000;
            shorter |= ms < self.timeout_ms[c as usize];
            self.timeout_ms[c as usize] = ms;
        }
        if shorter && self.len > 0 {
            for i in 0..self.slots.len() as u32 {
                let l = self.slots[i as usize].list;
                if l != NIL && l != TRANSITORY {
                    self.unlink(i);
                    self.wheel_insert(i);
                }
            }
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
        self.find_sub(addr)
            .map_or(0, |v| self.subs[v as usize].count)
    }

    fn find_sub(&self, addr: Ipv4Addr) -> Option<u32> {
        let subs = &self.subs;
        self.sub_index.find(hash_addr(addr, self.seed), |v| {
            subs.get(v as usize).is_some_and(|e| e.addr == addr)
        })
    }

    /// Finds the session `key` belongs to and which side sent it.
    /// `hash` must be `key.hash_with(self.seed())`.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<(SessionId, Dir)> {
        let slots = &self.slots;
        let v = self
            .index
            .find(hash, |v| entry_key(slots, v) == Some(key))?;
        let index = v >> 1;
        let gen = slots.get(index as usize)?.gen;
        Some((SessionId { index, gen }, Dir::from_bit(v)))
    }

    /// Reads the index line of `hash` (first pass of a burst: issued for
    /// every packet before any lookup, so the cache misses overlap). Fold
    /// the results and `black_box` them once.
    #[inline]
    pub fn prefetch_index(&self, hash: u64) -> u32 {
        self.index.touch(hash)
    }

    /// The slot of the first index entry tagged like `hash` (no key
    /// comparison), `u32::MAX` if none: second pass of a burst, on lines
    /// [`SessionTable::prefetch_index`] loaded.
    #[inline]
    pub fn prefetch_candidate(&self, hash: u64) -> u32 {
        self.index.find(hash, |_| true).map_or(NIL, |v| v >> 1)
    }

    /// Reads both lines of slot `slot` (third pass; a cheap, branch-free
    /// loop so that many of these misses are in flight together). Only
    /// warms the cache: each packet is looked up for real when processed,
    /// after the burst's earlier packets.
    #[inline]
    pub fn prefetch_slot(&self, slot: u32) -> u32 {
        self.slots.get(slot as usize).map_or(0, |s| s.gen ^ s.next)
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
        on_evict: impl FnMut(&Session<T>),
    ) -> Result<SessionId, InsertError> {
        let h_orig = orig.hash_with(self.seed);
        if self.lookup(&orig, h_orig).is_some() {
            return Err(InsertError::Exists);
        }
        self.insert_missed(orig, h_orig, reply, payload, now, subscriber, on_evict)
    }

    /// [`SessionTable::insert`] for a caller whose `lookup(&orig, h_orig)`
    /// just returned `None` with no table change since (the miss path of a
    /// packet): skips looking `orig` up again.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_missed(
        &mut self,
        orig: FlowKey,
        h_orig: u64,
        reply: FlowKey,
        payload: T,
        now: Instant,
        subscriber: Ipv4Addr,
        mut on_evict: impl FnMut(&Session<T>),
    ) -> Result<SessionId, InsertError> {
        debug_assert_eq!(h_orig, orig.hash_with(self.seed));
        let h_reply = reply.hash_with(self.seed);
        if self.lookup(&reply, h_reply).is_some() {
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
            slot.list = NIL;
            i
        } else {
            // len < capacity and no free slot: slots.len() < capacity, so no realloc.
            self.slots.push(Slot {
                session: Some(session),
                gen: 0,
                prev: NIL,
                next: NIL,
                list: NIL,
            });
            (self.slots.len() - 1) as u32
        };
        self.class_count[class as usize] += 1;
        if self.wheel.len == 0 {
            // An empty wheel may restart anywhere: start it at this insert,
            // so a `now` far from 0 (any epoch) costs no cascade per 49 days.
            self.wheel.cur = now.0;
        }
        self.link(index);

        self.index.insert(h_orig, index << 1);
        if reply != orig {
            self.index.insert(h_reply, (index << 1) | 1);
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
    /// A refresh only writes the session (module docs); timer lists change
    /// only when a TCP session enters or leaves the transitory class.
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
        if self.try_get(id).is_none() {
            return false;
        }
        self.account(id.index, dir, tcp_flags, now);
        true
    }

    /// The fast path in one probe: finds the session `key` (hashed `hash`)
    /// belongs to, lets `f` read its payload for that side, then accounts the
    /// packet as [`SessionTable::on_packet`] does. `None` (nothing touched)
    /// if no session has that key. Same as `lookup` + `get` + `on_packet`.
    #[inline]
    pub fn hit<R>(
        &mut self,
        key: &FlowKey,
        hash: u64,
        tcp_flags: Option<u8>,
        now: Instant,
        f: impl FnOnce(&T, Dir) -> R,
    ) -> Option<R> {
        let slots = &self.slots;
        let v = self
            .index
            .find(hash, |v| entry_key(slots, v) == Some(key))?;
        let (i, dir) = (v >> 1, Dir::from_bit(v));
        // The index only names live slots (module invariants).
        let r = f(&self.slots.get(i as usize)?.session.as_ref()?.payload, dir);
        self.account(i, dir, tcp_flags, now);
        Some(r)
    }

    /// `on_packet` for live slot `i`.
    #[inline]
    fn account(&mut self, i: u32, dir: Dir, tcp_flags: Option<u8>, now: Instant) {
        let inbound_refresh = self.timeouts.udp_inbound_refresh;
        let Some(s) = self
            .slots
            .get_mut(i as usize)
            .and_then(|s| s.session.as_mut())
        else {
            return;
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
            return;
        }
        // Never move a deadline backwards (keeps the transitory list sorted
        // and wheel positions no later than deadlines).
        s.refreshed = s.refreshed.max(now);
        let old = s.class;
        s.class = class;
        if class == TimerClass::TcpTransitory || old == TimerClass::TcpTransitory {
            self.class_count[old as usize] -= 1;
            self.class_count[class as usize] += 1;
            self.unlink(i);
            self.link(i);
        }
    }

    /// Frees up to `budget` sessions whose idle timer ran out by `now`,
    /// oldest deadline first, calling `on_expire` for each before it is
    /// freed. Returns how many were freed. Each step is O(1) whatever the
    /// table size; besides the sessions freed, a call re-files at most
    /// `2 * budget + 256` refreshed sessions (the rest wait for the next call).
    pub fn expire(
        &mut self,
        now: Instant,
        budget: usize,
        mut on_expire: impl FnMut(&Session<T>),
    ) -> usize {
        let mut n = 0;
        let mut work = budget.saturating_mul(2).saturating_add(REQUEUE_SLACK);
        while n < budget {
            let Some(i) = self.oldest_expired(now, &mut work) else {
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

    fn deadline_of(&self, i: u32) -> Option<u64> {
        let s = self.slots.get(i as usize)?.session.as_ref()?;
        Some(
            s.refreshed
                .0
                .saturating_add(self.timeout_ms[s.class as usize]),
        )
    }

    /// The session with the earliest deadline if that is `<= now`: the
    /// transitory head or the wheel's first due entry. Re-files refreshed
    /// wheel entries on the way, spending one `work` unit each; `None` when
    /// `work` runs out.
    fn oldest_expired(&mut self, now: Instant, work: &mut usize) -> Option<u32> {
        let now = now.0;
        let t = match self.transitory.head {
            NIL => None,
            h => self.deadline_of(h).filter(|&d| d <= now).map(|d| (d, h)),
        };
        let w = self.wheel_due(now, work);
        match (t, w) {
            (Some((td, ti)), Some((wd, wi))) => Some(if wd < td { wi } else { ti }),
            (Some((_, ti)), None) => Some(ti),
            (None, w) => w.map(|(_, i)| i),
        }
    }

    /// The wheel entry with the earliest deadline if that is `<= limit`,
    /// advancing the wheel's time (never past `limit`) and re-filing
    /// refreshed entries on the way.
    fn wheel_due(&mut self, limit: u64, work: &mut usize) -> Option<(u64, u32)> {
        loop {
            let cur = self.wheel.cur;
            // Finish moving the current window's level-1 slot down first.
            let l1 = WHEEL_SLOTS + (cur >> WHEEL_BITS & WHEEL_MASK) as usize;
            let h = self.wheel.heads[l1];
            if h != NIL {
                *work = work.checked_sub(1)?;
                self.unlink(h);
                self.wheel_insert(h);
                continue;
            }
            if let Some(s) = self.wheel.bits[0].next_from((cur & WHEEL_MASK) as usize) {
                let d = (cur & !WHEEL_MASK) | s as u64;
                if d > limit {
                    return None;
                }
                self.wheel.cur = d;
                let h = self.wheel.heads[s];
                let real = self.deadline_of(h)?;
                if real <= d {
                    return Some((real, h));
                }
                // Refreshed since it was filed: file it at its real deadline.
                *work = work.checked_sub(1)?;
                self.unlink(h);
                self.wheel_insert(h);
                continue;
            }
            // Level 0 is empty: jump to the next occupied level-1 window.
            let ci = (cur >> WHEEL_BITS & WHEEL_MASK) as usize;
            let b = &self.wheel.bits[1];
            let s1 = b.next_from(ci + 1).or_else(|| b.next_from(0))?;
            let dist = (s1 as u64).wrapping_sub(ci as u64) & WHEEL_MASK;
            let start = ((cur >> WHEEL_BITS) + dist) << WHEEL_BITS;
            if start > limit {
                return None;
            }
            self.wheel.cur = start;
        }
    }

    /// Frees one slot for a full-table insert (see module docs).
    fn reclaim_one(
        &mut self,
        now: Instant,
        on_evict: &mut impl FnMut(&Session<T>),
    ) -> Result<(), InsertError> {
        let mut work = REQUEUE_SLACK;
        let victim = if let Some(i) = self.oldest_expired(now, &mut work) {
            self.stats.reclaimed_expired += 1;
            i
        } else {
            let h = self.transitory.head;
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
        let (keys, subscriber, class) = {
            let s = self.slots.get(i as usize)?.session.as_ref()?;
            (s.keys, s.subscriber, s.class)
        };
        for (d, key) in keys.iter().enumerate() {
            if d == 1 && keys[1] == keys[0] {
                break;
            }
            let v = (i << 1) | d as u32;
            self.index.remove(key.hash_with(self.seed), v);
        }
        self.unlink(i);
        self.class_count[class as usize] -= 1;
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

    /// Puts live slot `i` on the list its class and deadline call for.
    fn link(&mut self, i: u32) {
        let transitory = self.slots[i as usize]
            .session
            .as_ref()
            .is_some_and(|s| s.class == TimerClass::TcpTransitory);
        if transitory {
            self.push_transitory(i);
        } else {
            self.wheel_insert(i);
        }
    }

    fn push_transitory(&mut self, i: u32) {
        let tail = self.transitory.tail;
        self.transitory.tail = i;
        if tail == NIL {
            self.transitory.head = i;
        } else {
            self.slots[tail as usize].next = i;
        }
        let slot = &mut self.slots[i as usize];
        slot.prev = tail;
        slot.next = NIL;
        slot.list = TRANSITORY;
    }

    /// Files live slot `i` in the wheel at its current deadline.
    fn wheel_insert(&mut self, i: u32) {
        let Some(d) = self.deadline_of(i) else {
            return;
        };
        self.wheel.len += 1;
        let l = self.wheel.slot_for(d);
        let head = self.wheel.heads[l as usize];
        if head == NIL {
            self.wheel.bits[l as usize >> WHEEL_BITS].set(l as usize & WHEEL_MASK as usize);
        } else {
            self.slots[head as usize].prev = i;
        }
        self.wheel.heads[l as usize] = i;
        let slot = &mut self.slots[i as usize];
        slot.prev = NIL;
        slot.next = head;
        slot.list = l;
    }

    /// Takes slot `i` off whatever timer list it is on.
    fn unlink(&mut self, i: u32) {
        let slot = &self.slots[i as usize];
        let (prev, next, l) = (slot.prev, slot.next, slot.list);
        if l == NIL {
            return;
        }
        if l != TRANSITORY {
            self.wheel.len -= 1;
        }
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else if l == TRANSITORY {
            self.transitory.head = next;
        } else {
            self.wheel.heads[l as usize] = next;
            if next == NIL {
                self.wheel.bits[l as usize >> WHEEL_BITS].clear(l as usize & WHEEL_MASK as usize);
            }
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else if l == TRANSITORY {
            self.transitory.tail = prev;
        }
        let slot = &mut self.slots[i as usize];
        slot.prev = NIL;
        slot.next = NIL;
        slot.list = NIL;
    }

    fn sub_inc(&mut self, addr: Ipv4Addr) {
        if let Some(v) = self.find_sub(addr) {
            self.subs[v as usize].count += 1;
            return;
        }
        let e = SubCount {
            addr,
            count: 1,
            next_free: NIL,
        };
        // At most one entry per live session, so `subs` never outgrows its capacity.
        let v = if self.sub_free != NIL {
            let v = self.sub_free;
            self.sub_free = self.subs[v as usize].next_free;
            self.subs[v as usize] = e;
            v
        } else {
            self.subs.push(e);
            (self.subs.len() - 1) as u32
        };
        self.sub_index.insert(hash_addr(addr, self.seed), v);
    }

    fn sub_dec(&mut self, addr: Ipv4Addr) {
        let Some(v) = self.find_sub(addr) else {
            return;
        };
        let e = &mut self.subs[v as usize];
        if e.count > 1 {
            e.count -= 1;
            return;
        }
        e.count = 0;
        e.next_free = self.sub_free;
        self.sub_free = v;
        self.sub_index.remove(hash_addr(addr, self.seed), v);
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
            let mut per_class = [0u32; CLASSES];
            // Transitory list: sorted by refresh, all transitory.
            let (mut i, mut prev, mut last) = (self.transitory.head, NIL, Instant::ZERO);
            while i != NIL {
                let slot = &self.slots[i as usize];
                let s = slot.session.as_ref().expect("listed slot is live");
                assert_eq!(s.class, TimerClass::TcpTransitory);
                assert_eq!(slot.list, TRANSITORY);
                assert_eq!(slot.prev, prev);
                assert!(s.refreshed >= last, "list sorted by refresh");
                last = s.refreshed;
                prev = i;
                i = slot.next;
                on_lists += 1;
            }
            assert_eq!(self.transitory.tail, prev);
            // Wheel: every slot list consistent with its bit; entries due no
            // earlier than their wheel time.
            let filed = (0..2 * WHEEL_SLOTS / 64).filter(|&w| {
                // Lists behind a clear word break the count against `len`.
                self.wheel.bits[w >> 10].words[w & 1023] != 0
            });
            for l in filed.flat_map(|w| w * 64..w * 64 + 64) {
                let word = self.wheel.bits[l >> WHEEL_BITS].words[(l & 0xffff) >> 6];
                let (mut i, mut prev) = (self.wheel.heads[l], NIL);
                assert_eq!(word >> (l & 63) & 1 == 1, i != NIL, "bit of wheel slot {l}");
                while i != NIL {
                    let slot = &self.slots[i as usize];
                    let s = slot.session.as_ref().expect("filed slot is live");
                    assert_ne!(s.class, TimerClass::TcpTransitory);
                    assert_eq!(slot.list as usize, l);
                    assert_eq!(slot.prev, prev);
                    let d = self.deadline_of(i).unwrap();
                    if l < WHEEL_SLOTS {
                        let t = (self.wheel.cur & !WHEEL_MASK) | l as u64;
                        assert!(d >= t || t == self.wheel.cur, "filed no later than due");
                    }
                    prev = i;
                    i = slot.next;
                    on_lists += 1;
                }
            }
            for slot in &self.slots {
                if let Some(s) = &slot.session {
                    per_class[s.class as usize] += 1;
                }
            }
            assert_eq!(per_class, self.class_count);
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

#[cfg(test)]
mod layout {
    use super::*;

    #[test]
    fn nat_slot_is_two_lines_with_the_hot_fields_first() {
        type S = Slot<crate::nat::translate::Translation>;
        type N = Session<crate::nat::translate::Translation>;
        assert_eq!(std::mem::size_of::<S>(), 128);
        let session = std::mem::offset_of!(S, session);
        assert!(session + std::mem::offset_of!(N, refreshed) + 8 <= 64);
        assert!(session + std::mem::offset_of!(N, packets) + 16 <= 128);
    }
}
