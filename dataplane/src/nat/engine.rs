//! The per-worker NAT engine: session lookup, the miss path, hairpin,
//! ICMP errors and fragments.
//!
//! # Ownership
//! One [`Engine`] per worker lcore, sharing nothing: it owns its session
//! table, its slice of every pool's external ports, its fragment tables, its
//! counters and rule counters. The only shared thing is the read-only
//! [`Snapshot`] behind an `Arc`, swapped between bursts. Return traffic
//! reaches the right worker because external ports are sliced per worker
//! (`WorkerSlice::owner_of`); steering is the pipeline's job.
//!
//! # One packet
//! 1. Parse and validate the IPv4 header (RFC 1812 5.2.2, checksum, martian
//!    source) and the L4 header (ports, ICMP echo identifier).
//! 2. Non-first fragments follow their first fragment (see [`super::frag`]).
//! 3. ICMP errors are translated by the session of the packet they quote
//!    ([`super::icmp_error`]); they never create, refresh or delete one.
//! 4. Hit: apply the session's precompiled [`Rewrite`] for that direction,
//!    run the TCP state machine / refresh the timer, route the result.
//! 5. Miss: destination translation (dstnat rules first so a forwarded port
//!    can't be shadowed by a client's mapping, then an existing
//!    endpoint-independent mapping subject to the filtering mode), routing,
//!    source translation (automatic hairpin, else srcnat rules), port
//!    allocation, session insert under both keys, apply.
//!
//! Packets that need no translation at all are routed without a session.
//!
//! # Drops
//! Every drop is counted exactly once in [`WorkerStats`] under one
//! [`DropReason`], including the drops answered with an ICMP 3/13
//! ([`Verdict::Reply`]). Nothing here panics on any input, and nothing
//! allocates after [`Engine::new`] except [`Engine::set_snapshot`] when a new
//! snapshot introduces a new pool.

use crate::conntrack::{Dir, FlowKey, InsertError, Instant, Session, SessionTable};
use crate::nat::config::{Filtering, HairpinMode};
use crate::nat::fasthash::SeededState;
use crate::nat::frag::{FragKey, FragTable, HoldBuffer};
use crate::nat::icmp_error;
use crate::nat::pools::Pools;
use crate::nat::rules::{CompiledAction, PacketMeta, RuleCounters};
use crate::nat::snapshot::{PoolSpec, Snapshot};
use crate::nat::translate::{L4Part, MappingRef, Rewrite, Translation};
use crate::route::IfIndex;
use crate::stats::{DropReason, WorkerStats};
use crate::wire::icmp::{self as icmp_wire, msg_type as icmp_type, unreachable};
use crate::wire::ip_proto;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::{TcpFlags, TcpPacket};
use crate::wire::udp::UdpPacket;
use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

pub use crate::conntrack::WorkerSlice;

/// Bytes of an ICMP header before the quoted packet of an error.
const ICMP_HEADER_LEN: usize = icmp_wire::field::HEADER_LEN;
/// Packets [`Engine::process_burst`] prefetches together.
pub const BURST_MAX: usize = 32;
/// Below this many sessions the table stays in cache and `process_burst`
/// skips its prefetch passes.
const PREFETCH_MIN_SESSIONS: usize = 16 * 1024;
/// The largest generated error (RFC 1812 4.3.2.3).
const REPLY_BUF_LEN: usize = icmp_wire::MAX_ERROR_LEN;

/// What the caller does with a packet after [`Engine::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Translated (or routed unchanged) in place: send it out of `out_if`
    /// to the link-layer neighbour `next_hop`. TTL, MTU and L2 are the
    /// pipeline's.
    Forward { out_if: IfIndex, next_hop: Ipv4Addr },
    /// Drop it; already counted under this reason.
    Drop(DropReason),
    /// Addressed to the router itself (e.g. ping): hand it to local
    /// processing, untranslated (or, for a redirect, translated to us).
    Local,
    /// The packet was dropped (and counted) and answered: send the `len`
    /// bytes of [`Engine::reply_packet`] (a complete IPv4 packet) out of
    /// `out_if` to `next_hop`.
    Reply {
        out_if: IfIndex,
        next_hop: Ipv4Addr,
        len: usize,
    },
    /// An out-of-order fragment was copied into the hold buffer; free the
    /// original. It comes back through [`Engine::next_released`].
    Held,
}

/// What a first fragment got, replayed on the rest of its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FragOutcome {
    rewrite: Option<Rewrite>,
    verdict: Verdict,
}

/// A validated packet: what [`State::parse`] found, before any state is
/// touched.
#[derive(Debug, Clone, Copy)]
enum Step {
    Drop(DropReason),
    /// A non-first fragment.
    LaterFragment {
        total: usize,
        ihl: usize,
        fkey: FragKey,
    },
    /// An ICMP error, translated by the session of the packet it quotes.
    IcmpError {
        total: usize,
        ihl: usize,
    },
    /// An ICMP message that is neither a query nor an error.
    OtherIcmp {
        dst: Ipv4Addr,
    },
    /// A protocol without ports.
    Other {
        fkey: FragKey,
        fragmented: bool,
    },
    /// TCP, UDP or an ICMP query: looked up in the session table.
    Flow {
        total: usize,
        ihl: usize,
        key: FlowKey,
        hash: u64,
        tcp_flags: Option<u8>,
        fragmented: bool,
        fkey: FragKey,
    },
}

/// Address-dependent filtering index key: (proto, external addr, external
/// port, remote addr) -> number of live sessions.
type AdfKey = (u8, Ipv4Addr, u16, Ipv4Addr);

/// The mutable per-worker state; borrowed apart from the snapshot.
struct State {
    sessions: SessionTable<Translation>,
    pools: Pools,
    frags: FragTable<FragOutcome>,
    hold: HoldBuffer<Verdict>,
    /// A released fragment handed out by `next_released`, freed on the next call.
    lent_slot: Option<usize>,
    /// Address-dependent filter index: live sessions per (mapping, remote).
    /// At most `adf_cap` entries; when full a new remote is not recorded
    /// (its inbound packets are filtered), existing entries keep counting.
    /// Only kept (and allocated, ~70 B per session) once a snapshot asks
    /// for address-dependent filtering (`adf_on`); then it stays on.
    adf: HashMap<AdfKey, u32, SeededState>,
    adf_cap: usize,
    adf_on: bool,
    stats: WorkerStats,
    /// Shared so the control thread can read it; only this worker writes.
    rule_counters: Arc<RuleCounters>,
    seed: u64,
    reply: Box<[u8]>,
}

/// One worker's NAT.
pub struct Engine {
    snap: Arc<Snapshot>,
    st: State,
    /// `process_burst`'s parsed packets and candidate slots, kept so that a
    /// burst does not re-initialise 2 KiB of stack.
    steps: [Step; BURST_MAX],
    cand: [u32; BURST_MAX],
}

/// Destination translation chosen on a miss.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DstXlat {
    None,
    Rule {
        redirect: bool,
    },
    Mapping {
        pool: u16,
        internal: (Ipv4Addr, u16),
    },
}

/// Source translation chosen on a miss.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SrcXlat {
    None,
    Pool(u16),
    Fixed(Ipv4Addr, u16),
}

impl Engine {
    /// Preallocates everything for one worker. `seed` keys the flow hashes.
    pub fn new(snap: Arc<Snapshot>, worker: WorkerSlice, seed: u64) -> Engine {
        let nat = &snap.nat;
        let cap = nat.table_capacity as usize;
        let mut sessions = SessionTable::with_seed(cap, nat.timeouts, seed);
        sessions.set_subscriber_limit(nat.limits.sessions_per_subscriber);
        let fr = nat.frag;
        let mut st = State {
            sessions,
            pools: Pools::new(worker),
            frags: FragTable::new(fr.table_entries as usize, fr.timeout_ms, seed ^ 0xf7a9),
            hold: HoldBuffer::new(
                fr.hold_slots as usize,
                fr.hold_slot_size as usize,
                fr.hold_per_source as usize,
                fr.timeout_ms,
                Verdict::Held,
            ),
            lent_slot: None,
            adf: HashMap::with_hasher(SeededState(seed ^ 0xadf)),
            adf_cap: cap,
            adf_on: false,
            stats: WorkerStats::default(),
            rule_counters: Arc::new(RuleCounters::new(snap.rules.len())),
            seed,
            reply: vec![0u8; REPLY_BUF_LEN].into_boxed_slice(),
        };
        st.pools.sync(snap.pools(), &snap.nat);
        if snap.nat.filtering == Filtering::AddressDependent {
            st.start_adf();
        }
        Engine {
            snap,
            st,
            steps: [Step::Drop(DropReason::Ipv4Truncated); BURST_MAX],
            cand: [u32::MAX; BURST_MAX],
        }
    }

    /// Switches to a newly published snapshot (between bursts). Existing
    /// sessions keep their rewrites; rule counters restart when the rule set
    /// changes size. Allocates only for pools the new rules introduce, and
    /// for the address-dependent filter index the first time a snapshot
    /// enables that filtering (built from the live sessions, O(sessions)).
    pub fn set_snapshot(&mut self, snap: Arc<Snapshot>) {
        if snap.nat.filtering == Filtering::AddressDependent && !self.st.adf_on {
            self.st.start_adf();
        }
        if snap.rules.len() != self.snap.rules.len() {
            self.st.rule_counters = Arc::new(RuleCounters::new(snap.rules.len()));
        }
        self.st.sessions.set_timeouts(snap.nat.timeouts);
        self.st
            .sessions
            .set_subscriber_limit(snap.nat.limits.sessions_per_subscriber);
        self.st.pools.sync(snap.pools(), &snap.nat);
        self.snap = snap;
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// Translates one IPv4 packet in place. `pkt` starts at the IP header and
    /// may be longer than the packet (link padding); bytes beyond the IPv4
    /// total length are never touched.
    pub fn process(&mut self, pkt: &mut [u8], in_if: IfIndex, now: Instant) -> Verdict {
        let v = self.st.process(&self.snap, pkt, in_if, now);
        if let Verdict::Drop(r) = v {
            self.st.stats.drop(r);
        }
        v
    }

    /// [`Engine::process`] over a burst; `out[i]` gets packet `i`'s verdict.
    /// Stops at the shorter of the two slices.
    ///
    /// Same result as calling `process` on each packet in order, but in
    /// passes over up to [`BURST_MAX`] packets so that their cache misses
    /// overlap instead of queueing: parse and hash every packet, load every
    /// packet's index line, find each one's candidate slot, load those
    /// slots, then process the packets one by one (looking each up again, so a session an earlier packet of the
    /// burst created or removed is seen as in the one-by-one order).
    pub fn process_burst(
        &mut self,
        pkts: &mut [&mut [u8]],
        in_if: IfIndex,
        now: Instant,
        out: &mut [Verdict],
    ) {
        let n = pkts.len().min(out.len());
        for (pkts, out) in pkts[..n]
            .chunks_mut(BURST_MAX)
            .zip(out[..n].chunks_mut(BURST_MAX))
        {
            let steps = &mut self.steps[..pkts.len()];
            for (st, p) in steps.iter_mut().zip(pkts.iter()) {
                *st = self.st.parse(p, false);
            }
            Self::prefetch_steps(&self.st.sessions, steps, &mut self.cand);
            for ((st, p), v) in steps.iter().zip(pkts.iter_mut()).zip(out.iter_mut()) {
                *v = self.st.finish(&self.snap, *st, p, in_if, now);
                if let Verdict::Drop(r) = *v {
                    self.st.stats.drop(r);
                }
            }
        }
    }

    /// [`Engine::process`] for a caller (the frame pipeline) that already
    /// ran `Ipv4Packet::new_checked` and `validate_rfc1812` on `pkt`: the
    /// header checksum and martian-source check are not repeated. Same
    /// verdicts as `process` for such a packet.
    pub fn process_checked(&mut self, pkt: &mut [u8], in_if: IfIndex, now: Instant) -> Verdict {
        let step = self.st.parse(pkt, true);
        let v = self.st.finish(&self.snap, step, pkt, in_if, now);
        if let Verdict::Drop(r) = v {
            self.st.stats.drop(r);
        }
        v
    }

    /// Warms the cache for up to [`BURST_MAX`] IPv4 packets that the caller
    /// is about to hand to `process`/`process_checked` one by one (when it
    /// cannot use `process_burst`): parses and hashes them, then loads their
    /// index lines and candidate sessions as `process_burst` does. Changes
    /// no state; does nothing while the table is small enough to stay cached.
    pub fn prefetch_burst<'a>(&mut self, pkts: impl IntoIterator<Item = &'a [u8]>) {
        if self.st.sessions.len() < PREFETCH_MIN_SESSIONS {
            return;
        }
        let mut n = 0;
        for (st, p) in self.steps.iter_mut().zip(pkts) {
            *st = self.st.parse(p, false);
            n += 1;
        }
        Self::prefetch_steps(&self.st.sessions, &self.steps[..n], &mut self.cand);
    }

    /// The prefetch passes over parsed packets (see `process_burst`).
    fn prefetch_steps(
        table: &SessionTable<Translation>,
        steps: &[Step],
        cand: &mut [u32; BURST_MAX],
    ) {
        // A table that fits the caches gains nothing from the extra passes.
        if table.len() >= PREFETCH_MIN_SESSIONS {
            // Tight loops with no store per load, so that the out-of-order
            // window holds many misses at once.
            let mut acc = 0u32;
            for st in steps.iter() {
                if let Step::Flow { hash, .. } = *st {
                    acc ^= table.prefetch_index(hash);
                }
            }
            let cand = &mut cand[..steps.len()];
            for (c, st) in cand.iter_mut().zip(steps.iter()) {
                *c = match *st {
                    Step::Flow { hash, .. } => table.prefetch_candidate(hash),
                    _ => u32::MAX,
                };
            }
            for &c in cand.iter() {
                acc ^= table.prefetch_slot(c);
            }
            std::hint::black_box(acc);
        }
    }

    /// The packet a [`Verdict::Reply`] refers to (valid until the next call).
    pub fn reply_packet(&self, len: usize) -> &[u8] {
        self.st.reply.get(..len).unwrap_or(&[])
    }

    /// The next held fragment released by its first fragment, translated,
    /// with its verdict. The bytes stay valid until the next call; call until
    /// `None` after each burst.
    pub fn next_released(&mut self) -> Option<(&[u8], Verdict)> {
        let st = &mut self.st;
        if let Some(s) = st.lent_slot.take() {
            st.hold.free(s);
        }
        let (slot, v) = st.hold.pop_ready()?;
        st.lent_slot = Some(slot);
        Some((st.hold.bytes(slot), v))
    }

    /// Between bursts: expires up to `budget` sessions (releasing their
    /// ports), forgets old fragments. Returns the sessions expired.
    pub fn housekeeping(&mut self, now: Instant, budget: usize) -> usize {
        let State {
            sessions,
            pools,
            adf,
            stats,
            frags,
            hold,
            lent_slot,
            ..
        } = &mut self.st;
        let n = sessions.expire(now, budget, |s| release(pools, adf, s, now));
        stats.sessions_expired += n as u64;
        pools.tick(now, budget);
        frags.expire(now);
        if let Some(s) = lent_slot.take() {
            hold.free(s);
        }
        let dropped = hold.expire(now);
        stats.drops[DropReason::FragmentNoFlow as usize] += dropped as u64;
        n
    }

    pub fn stats(&self) -> &WorkerStats {
        &self.st.stats
    }

    /// The pipeline counts rx/tx and its own drops here too.
    pub fn stats_mut(&mut self) -> &mut WorkerStats {
        &mut self.st.stats
    }

    /// This worker's per-rule counters (replaced when the rule count changes).
    pub fn rule_counters(&self) -> &Arc<RuleCounters> {
        &self.st.rule_counters
    }

    pub fn sessions(&self) -> &SessionTable<Translation> {
        &self.st.sessions
    }

    /// Fragments currently held or awaiting `next_released`.
    pub fn held_fragments(&self) -> usize {
        self.st.hold.in_use()
    }

    /// The external endpoint `internal` is mapped to in the pool containing
    /// `external_addr`, if any (CLI / tests).
    pub fn mapping_of(
        &self,
        proto: u8,
        external_addr: Ipv4Addr,
        internal: (Ipv4Addr, u16),
    ) -> Option<(Ipv4Addr, u16)> {
        self.st.pools.mapping_of(proto, external_addr, internal)
    }
}

/// Releases what a dying session holds: pool references and its
/// address-dependent filter entry.
fn release(
    pools: &mut Pools,
    adf: &mut HashMap<AdfKey, u32, SeededState>,
    s: &Session<Translation>,
    now: Instant,
) {
    for m in &s.payload.refs(s.orig(), s.reply()) {
        if m.pool == MappingRef::NO_POOL {
            continue;
        }
        pools.unref(m.pool, m.proto, m.internal, now);
        let k = (m.proto, m.external.0, m.external.1, m.remote);
        if let Some(c) = adf.get_mut(&k) {
            *c -= 1;
            if *c == 0 {
                adf.remove(&k);
            }
        }
    }
}

/// Counts one more session of mapping `m` talking to its remote.
fn adf_add(adf: &mut HashMap<AdfKey, u32, SeededState>, cap: usize, m: &MappingRef) {
    if m.pool == MappingRef::NO_POOL {
        return;
    }
    // A full index refuses new remotes only: an existing entry must count
    // every session, or the first to die would remove it under the others.
    let full = adf.len() >= cap;
    match adf.entry((m.proto, m.external.0, m.external.1, m.remote)) {
        Entry::Occupied(mut o) => *o.get_mut() += 1,
        Entry::Vacant(v) if !full => {
            v.insert(1);
        }
        Entry::Vacant(_) => {}
    }
}

/// TCP segment that may open a session: SYN without ACK/RST/FIN (N8).
fn is_syn(flags: u8) -> bool {
    flags & (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN) == TcpFlags::SYN
}

impl State {
    fn process(
        &mut self,
        snap: &Snapshot,
        buf: &mut [u8],
        in_if: IfIndex,
        now: Instant,
    ) -> Verdict {
        let step = self.parse(buf, false);
        self.finish(snap, step, buf, in_if, now)
    }

    /// Validates a packet and extracts what processing needs, without
    /// touching any state (so a burst can parse every packet first).
    #[inline]
    ///
    /// `checked`: the caller already ran `Ipv4Packet::new_checked` and
    /// `validate_rfc1812` on these bytes, so the header checksum and the
    /// martian-source check are not repeated.
    fn parse(&self, buf: &[u8], checked: bool) -> Step {
        let ip = match Ipv4Packet::new_checked(buf) {
            Ok(p) => p,
            Err(e) => return Step::Drop(e.reason()),
        };
        if !checked {
            if let Err(e) = ip.validate_rfc1812() {
                return Step::Drop(e.reason());
            }
        }
        let ihl = usize::from(ip.header_len());
        let total = usize::from(ip.total_len());
        let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
        let frag_off = ip.frag_offset();
        let more = ip.more_frags();
        let fkey = FragKey {
            src,
            dst,
            proto,
            ident: ip.ident(),
        };
        let Some(pkt) = buf.get(..total) else {
            return Step::Drop(DropReason::Ipv4Truncated);
        };
        let payload_len = total - ihl;
        let fragmented = more || frag_off != 0;
        if fragmented {
            // Offsets count 8-byte units and the datagram must fit 65535 bytes;
            // every fragment but the last carries a multiple of 8.
            if usize::from(frag_off) + payload_len > 65_535 || (more && payload_len % 8 != 0) {
                return Step::Drop(DropReason::FragmentMalformed);
            }
            if frag_off != 0 {
                return Step::LaterFragment { total, ihl, fkey };
            }
        }
        let l4 = &pkt[ihl..];
        let (key, tcp_flags) = match proto {
            ip_proto::TCP => {
                let t = if fragmented {
                    // A first fragment must hold the whole fixed header.
                    if l4.len() < 20 {
                        return Step::Drop(DropReason::FragmentMalformed);
                    }
                    TcpPacket::new_unchecked(l4)
                } else {
                    match TcpPacket::new_checked(l4) {
                        Ok(t) => t,
                        Err(e) => return Step::Drop(e.reason()),
                    }
                };
                let k = FlowKey {
                    src,
                    dst,
                    src_port: t.src_port(),
                    dst_port: t.dst_port(),
                    proto,
                };
                (k, Some(t.flags()))
            }
            ip_proto::UDP => {
                let u = if fragmented {
                    if l4.len() < 8 {
                        return Step::Drop(DropReason::FragmentMalformed);
                    }
                    UdpPacket::new_unchecked(l4)
                } else {
                    match UdpPacket::new_checked(l4) {
                        Ok(u) => u,
                        Err(e) => return Step::Drop(e.reason()),
                    }
                };
                (
                    FlowKey {
                        src,
                        dst,
                        src_port: u.src_port(),
                        dst_port: u.dst_port(),
                        proto,
                    },
                    None,
                )
            }
            ip_proto::ICMP => {
                if l4.len() < ICMP_HEADER_LEN {
                    return Step::Drop(DropReason::IcmpMalformed);
                }
                let ic = icmp_wire::IcmpPacket::new_unchecked(l4);
                match ic.msg_type() {
                    icmp_type::ECHO_REQUEST | icmp_type::ECHO_REPLY => {
                        let id = ic.echo_ident();
                        (
                            FlowKey {
                                src,
                                dst,
                                src_port: id,
                                dst_port: id,
                                proto,
                            },
                            None,
                        )
                    }
                    icmp_type::DEST_UNREACHABLE
                    | icmp_type::SOURCE_QUENCH
                    | icmp_type::TIME_EXCEEDED
                    | icmp_type::PARAM_PROBLEM => {
                        if fragmented {
                            return Step::Drop(DropReason::FragmentMalformed);
                        }
                        return Step::IcmpError { total, ihl };
                    }
                    _ => return Step::OtherIcmp { dst },
                }
            }
            _ => return Step::Other { fkey, fragmented },
        };

        let hash = key.hash_with(self.seed);
        Step::Flow {
            total,
            ihl,
            key,
            hash,
            tcp_flags,
            fragmented,
            fkey,
        }
    }

    /// Processes a parsed packet.
    #[inline]
    fn finish(
        &mut self,
        snap: &Snapshot,
        step: Step,
        buf: &mut [u8],
        in_if: IfIndex,
        now: Instant,
    ) -> Verdict {
        let (total, ihl, key, hash, tcp_flags, fragmented, fkey) = match step {
            Step::Drop(r) => return Verdict::Drop(r),
            Step::LaterFragment { total, ihl, fkey } => {
                let Some(pkt) = buf.get_mut(..total) else {
                    return Verdict::Drop(DropReason::Ipv4Truncated);
                };
                return self.later_fragment(pkt, ihl, fkey, now);
            }
            Step::IcmpError { total, ihl } => {
                let Some(pkt) = buf.get_mut(..total) else {
                    return Verdict::Drop(DropReason::Ipv4Truncated);
                };
                return self.icmp_error(snap, pkt, ihl);
            }
            Step::OtherIcmp { dst } => {
                return if snap.interfaces.is_local(dst) {
                    Verdict::Local
                } else {
                    Verdict::Drop(DropReason::IcmpUnsupportedType)
                };
            }
            Step::Other { fkey, fragmented } => {
                return self.other_protocol(snap, fkey, in_if, fragmented, now)
            }
            Step::Flow {
                total,
                ihl,
                key,
                hash,
                tcp_flags,
                fragmented,
                fkey,
            } => (total, ihl, key, hash, tcp_flags, fragmented, fkey),
        };
        let Some(pkt) = buf.get_mut(..total) else {
            return Verdict::Drop(DropReason::Ipv4Truncated);
        };
        let hit = self.sessions.hit(&key, hash, tcp_flags, now, |t, dir| {
            if dir == Dir::Original {
                t.fwd
            } else {
                t.rev
            }
        });
        let verdict = if let Some(rw) = hit {
            rw.apply(pkt, ihl, L4Part::Full);
            self.stats.fast_path_hits += 1;
            let v = route_to(snap, &rw);
            (Some(rw), v)
        } else {
            match self.miss(snap, pkt, ihl, key, hash, tcp_flags, in_if, now) {
                Ok(x) => x,
                Err(v) => return v,
            }
        };
        let (rewrite, v) = verdict;
        if fragmented && !matches!(v, Verdict::Drop(_) | Verdict::Reply { .. }) {
            return self.first_fragment(
                fkey,
                FragOutcome {
                    rewrite,
                    verdict: v,
                },
                now,
            );
        }
        v
    }

    /// Records a first fragment's outcome and releases fragments of the same
    /// datagram that arrived before it.
    fn first_fragment(&mut self, fkey: FragKey, o: FragOutcome, now: Instant) -> Verdict {
        if self.frags.insert(fkey, o, now).is_err() {
            return Verdict::Drop(DropReason::FragmentLimit);
        }
        self.hold.release(&fkey, o.verdict, |b| {
            if let Some(rw) = o.rewrite {
                rw.apply(b, ihl_of(b), L4Part::IpOnly);
            }
        });
        o.verdict
    }

    /// A non-first fragment: replay its first fragment's outcome, or hold it.
    fn later_fragment(
        &mut self,
        pkt: &mut [u8],
        ihl: usize,
        fkey: FragKey,
        now: Instant,
    ) -> Verdict {
        if let Some(o) = self.frags.get(&fkey, now) {
            if let Some(rw) = o.rewrite {
                rw.apply(pkt, ihl, L4Part::IpOnly);
            }
            return o.verdict;
        }
        match self.hold.hold(fkey, pkt, now) {
            Ok(()) => Verdict::Held,
            Err(_) => Verdict::Drop(DropReason::FragmentLimit),
        }
    }

    /// Protocols without ports: delivered if local, routed unchanged when no
    /// NAT rule applies, refused when one would.
    fn other_protocol(
        &mut self,
        snap: &Snapshot,
        fkey: FragKey,
        in_if: IfIndex,
        fragmented: bool,
        now: Instant,
    ) -> Verdict {
        let v = 'v: {
            let dst_is_local = snap.interfaces.is_local(fkey.dst);
            let mut meta = PacketMeta {
                in_if,
                out_if: None,
                src: fkey.src,
                dst: fkey.dst,
                proto: fkey.proto,
                src_port: 0,
                dst_port: 0,
                dst_is_local,
            };
            if let Some(hit) = snap.rules.match_dstnat(&meta) {
                if *hit.action != CompiledAction::Accept {
                    break 'v Verdict::Drop(DropReason::UnsupportedProtocol);
                }
            }
            if dst_is_local {
                break 'v Verdict::Local;
            }
            let Some(nh) = snap.fib.lookup(fkey.dst) else {
                break 'v Verdict::Drop(DropReason::NoRoute);
            };
            meta.out_if = Some(nh.ifindex);
            if let Some(hit) = snap.rules.match_srcnat(&meta) {
                if *hit.action != CompiledAction::Accept {
                    break 'v Verdict::Drop(DropReason::UnsupportedProtocol);
                }
            }
            Verdict::Forward {
                out_if: nh.ifindex,
                next_hop: nh.neighbor_for(fkey.dst),
            }
        };
        if fragmented && !matches!(v, Verdict::Drop(_)) {
            return self.first_fragment(
                fkey,
                FragOutcome {
                    rewrite: None,
                    verdict: v,
                },
                now,
            );
        }
        v
    }

    /// The session-miss path. `Ok((rewrite applied, verdict))`, or `Err` with
    /// the final verdict when no forwarding happens.
    #[allow(clippy::too_many_arguments)]
    fn miss(
        &mut self,
        snap: &Snapshot,
        pkt: &mut [u8],
        ihl: usize,
        key: FlowKey,
        hash: u64,
        tcp_flags: Option<u8>,
        in_if: IfIndex,
        now: Instant,
    ) -> Result<(Option<Rewrite>, Verdict), Verdict> {
        let len = pkt.len() as u64;
        let is_icmp = key.proto == ip_proto::ICMP;
        let dst_is_local = snap.interfaces.is_local(key.dst);
        let meta = PacketMeta {
            in_if,
            out_if: None,
            src: key.src,
            dst: key.dst,
            proto: key.proto,
            src_port: key.src_port,
            dst_port: key.dst_port,
            dst_is_local,
        };
        let mut to = key;

        // 1. Destination: dstnat rules, then an existing mapping (N1, N6).
        let mut dnat = DstXlat::None;
        if let Some(hit) = snap.rules.match_dstnat(&meta) {
            self.rule_counters.hit(hit.index, len);
            match *hit.action {
                CompiledAction::DstNat { addrs, ports } => {
                    if let Some(a) = addrs {
                        to.dst = a.pick(hash);
                    }
                    if let (Some(p), false) = (ports, is_icmp) {
                        to.dst_port = p.pick(hash);
                    }
                    dnat = DstXlat::Rule { redirect: false };
                }
                CompiledAction::Netmap { prefix, ports } => {
                    to.dst = prefix.map(key.dst);
                    if let (Some(p), false) = (ports, is_icmp) {
                        to.dst_port = p.pick(hash);
                    }
                    dnat = DstXlat::Rule { redirect: false };
                }
                CompiledAction::Redirect { ports } => {
                    let Some(a) = snap.interfaces.primary_addr(in_if) else {
                        return Err(Verdict::Drop(DropReason::NoRoute));
                    };
                    to.dst = a;
                    if let (Some(p), false) = (ports, is_icmp) {
                        to.dst_port = p.pick(hash);
                    }
                    dnat = DstXlat::Rule { redirect: true };
                }
                // Accept, or a srcnat action (the compiler keeps those out).
                _ => {}
            }
        }
        if dnat == DstXlat::None && dst_is_local && !is_icmp {
            if let Some((pool, internal)) = self
                .pools
                .lookup_inbound(key.proto, (key.dst, key.dst_port))
            {
                let allowed = match snap.nat.filtering {
                    Filtering::EndpointIndependent => true,
                    Filtering::AddressDependent => {
                        self.adf
                            .contains_key(&(key.proto, key.dst, key.dst_port, key.src))
                    }
                    // An allowed packet would have matched the session exactly.
                    Filtering::AddressAndPortDependent => false,
                };
                if !allowed {
                    return Err(Verdict::Drop(DropReason::Filtered));
                }
                to.dst = internal.0;
                to.dst_port = internal.1;
                dnat = DstXlat::Mapping { pool, internal };
            }
        }
        let redirect = dnat == (DstXlat::Rule { redirect: true });
        if dnat != DstXlat::None && !redirect && snap.interfaces.is_local(to.dst) {
            // Translating to ourselves would loop back into this path.
            return Err(Verdict::Drop(DropReason::HairpinLoop));
        }
        if dnat == DstXlat::None && dst_is_local {
            return Err(if is_icmp {
                Verdict::Local
            } else {
                Verdict::Drop(DropReason::NoMapping)
            });
        }

        // 2. Route the translated destination.
        let (out_if, next_hop) = if redirect {
            (in_if, to.dst)
        } else {
            match snap.fib.lookup(to.dst) {
                Some(nh) => (nh.ifindex, nh.neighbor_for(to.dst)),
                None => return Err(Verdict::Drop(DropReason::NoRoute)),
            }
        };

        // 3. Source: automatic hairpin, else the srcnat chain.
        let mut src = SrcXlat::None;
        let mut hairpinned = false;
        if snap.nat.hairpin == HairpinMode::Auto
            && dnat != DstXlat::None
            && dst_is_local
            && !redirect
        {
            // The client reached us through a public address owned by `w`.
            // If it would be source-translated leaving through `w`, it is an
            // inside host: give the server the identity an outside peer sees.
            if let Some(w) = snap.interfaces.local_owner(key.dst) {
                if w != in_if {
                    let m = PacketMeta {
                        out_if: Some(w),
                        ..meta
                    };
                    if let Some(hit) = snap.rules.match_srcnat(&m) {
                        let s = self.resolve_src(snap, hit.action, w, &key, hash)?;
                        if s != SrcXlat::None {
                            self.rule_counters.hit(hit.index, len);
                            src = s;
                            hairpinned = true;
                        }
                    }
                }
            }
        }
        if !hairpinned && !redirect {
            let m = PacketMeta {
                in_if,
                out_if: Some(out_if),
                src: key.src,
                dst: to.dst,
                proto: key.proto,
                src_port: key.src_port,
                dst_port: to.dst_port,
                dst_is_local: false,
            };
            if let Some(hit) = snap.rules.match_srcnat(&m) {
                self.rule_counters.hit(hit.index, len);
                src = self.resolve_src(snap, hit.action, out_if, &key, hash)?;
            }
        }

        if src == SrcXlat::None && dnat == DstXlat::None {
            // Plain routing: nothing to remember.
            return Ok((None, Verdict::Forward { out_if, next_hop }));
        }
        // 4. A session is needed; TCP may only open one with a SYN (N8).
        if let Some(f) = tcp_flags {
            if !is_syn(f) {
                return Err(Verdict::Drop(DropReason::TcpNonSyn));
            }
        }

        // 5. Take the mappings this session holds.
        let mut dst_owner = MappingRef::NONE;
        if let DstXlat::Mapping { pool, internal } = dnat {
            // Takes a reference on the existing mapping (same external endpoint).
            match self.pools.map_outbound(pool, key.proto, internal, now) {
                Ok(ext) if ext == (key.dst, key.dst_port) => {
                    dst_owner = MappingRef {
                        pool,
                        proto: key.proto,
                        internal,
                        external: ext,
                        remote: key.src,
                    };
                }
                Ok(_) => {
                    self.pools.unref(pool, key.proto, internal, now);
                    return Err(Verdict::Drop(DropReason::NoMapping));
                }
                Err(r) => return Err(Verdict::Drop(r)),
            }
        }
        let mut owner = MappingRef::NONE;
        match src {
            SrcXlat::None => {}
            SrcXlat::Fixed(a, p) => {
                to.src = a;
                to.src_port = p;
            }
            SrcXlat::Pool(pool) => {
                let internal = (key.src, key.src_port);
                match self.pools.map_outbound(pool, key.proto, internal, now) {
                    Ok(ext) => {
                        to.src = ext.0;
                        to.src_port = ext.1;
                        owner = MappingRef {
                            pool,
                            proto: key.proto,
                            internal,
                            external: ext,
                            remote: to.dst,
                        };
                    }
                    Err(r) => {
                        self.release_refs(&dst_owner, now);
                        return Err(self.refuse(snap, pkt, in_if, key.src, r));
                    }
                }
            }
        }
        if is_icmp {
            // Both key ports carry the identifier.
            to.dst_port = to.src_port;
        }

        // 6. The session, reachable from both keys.
        let reply = to.reversed();
        let mut fwd = Rewrite::between(&key, &to);
        fwd.to_local = redirect;
        let rev = Rewrite::between(&reply, &key.reversed());
        let t = Translation {
            fwd,
            rev,
            owner_pool: owner.pool,
            dst_owner_pool: dst_owner.pool,
        };
        debug_assert_eq!(t.refs(&key, &reply), [owner, dst_owner]);
        let State {
            sessions,
            pools,
            adf,
            stats,
            ..
        } = self;
        let mut evicted = 0u64;
        // `key` missed under `hash` at the start of this path.
        let ins = sessions.insert_missed(key, hash, reply, t, now, key.src, |s| {
            evicted += 1;
            release(pools, adf, s, now);
        });
        stats.sessions_expired += evicted;
        match ins {
            Ok(_) => {
                self.stats.sessions_created += 1;
                if self.adf_on {
                    for m in [&owner, &dst_owner] {
                        adf_add(&mut self.adf, self.adf_cap, m);
                    }
                }
            }
            Err(e) => {
                self.release_refs(&owner, now);
                self.release_refs(&dst_owner, now);
                return Err(match e {
                    InsertError::SubscriberLimit => {
                        self.refuse(snap, pkt, in_if, key.src, DropReason::SubscriberLimit)
                    }
                    e => Verdict::Drop(e.reason()),
                });
            }
        }
        fwd.apply(pkt, ihl, L4Part::Full);
        let v = if redirect {
            Verdict::Local
        } else {
            Verdict::Forward { out_if, next_hop }
        };
        Ok((Some(fwd), v))
    }

    /// Allocates the address-dependent filter index and counts every live
    /// session in it.
    fn start_adf(&mut self) {
        // Twice the live bound so hashbrown only ever rehashes in place.
        self.adf = HashMap::with_capacity_and_hasher(self.adf_cap * 2, *self.adf.hasher());
        self.adf_on = true;
        for (_, s) in self.sessions.iter() {
            for m in &s.payload.refs(s.orig(), s.reply()) {
                adf_add(&mut self.adf, self.adf_cap, m);
            }
        }
    }

    fn release_refs(&mut self, m: &MappingRef, now: Instant) {
        if m.pool != MappingRef::NO_POOL {
            self.pools.unref(m.pool, m.proto, m.internal, now);
        }
    }

    /// What a srcnat action does to this flow's source.
    fn resolve_src(
        &mut self,
        snap: &Snapshot,
        action: &CompiledAction,
        egress: IfIndex,
        key: &FlowKey,
        hash: u64,
    ) -> Result<SrcXlat, Verdict> {
        let spec = match *action {
            CompiledAction::Masquerade { ports } => match snap.masquerade_pool(egress, ports) {
                Some(s) => s,
                None => return Err(Verdict::Drop(DropReason::OutOfPorts)),
            },
            CompiledAction::SrcNat { addrs, ports } => PoolSpec {
                first: addrs.first(),
                last: addrs.last(),
                ports: ports.map_or(snap.nat.port_range, |r| (r.lo, r.hi)),
            },
            CompiledAction::Netmap { prefix, ports } => {
                let p = match ports {
                    Some(r) if key.proto != ip_proto::ICMP => r.pick(hash),
                    _ => key.src_port,
                };
                return Ok(SrcXlat::Fixed(prefix.map(key.src), p));
            }
            _ => return Ok(SrcXlat::None),
        };
        match self.pools.find_or_add(&spec, &snap.nat) {
            Some(p) => Ok(SrcXlat::Pool(p)),
            None => Err(Verdict::Drop(DropReason::OutOfPorts)),
        }
    }

    /// Drops a new flow for `reason` and answers the inside host with an
    /// ICMP 3/13 (N4). If no error can be built it is a plain drop (counted
    /// by the caller like every `Verdict::Drop`); a reply is counted here.
    fn refuse(
        &mut self,
        snap: &Snapshot,
        pkt: &[u8],
        in_if: IfIndex,
        to: Ipv4Addr,
        reason: DropReason,
    ) -> Verdict {
        let from = snap
            .interfaces
            .primary_addr(in_if)
            .or_else(|| Ipv4Packet::new_checked(pkt).ok().map(|p| p.dst_addr()));
        let (Some(from), Some(nh)) = (from, snap.fib.lookup(to)) else {
            return Verdict::Drop(reason);
        };
        match icmp_wire::build_error(
            &mut self.reply,
            from,
            to,
            icmp_type::DEST_UNREACHABLE,
            unreachable::ADMIN_PROHIBITED,
            0,
            pkt,
        ) {
            Ok(len) => {
                self.stats.drop(reason);
                Verdict::Reply {
                    out_if: nh.ifindex,
                    next_hop: nh.neighbor_for(to),
                    len,
                }
            }
            Err(_) => Verdict::Drop(reason),
        }
    }

    fn icmp_error(&mut self, snap: &Snapshot, pkt: &mut [u8], ihl: usize) -> Verdict {
        match icmp_error::translate(&self.sessions, self.seed, pkt, ihl) {
            Ok(rw) => {
                let dst = Ipv4Packet::new_unchecked(&pkt[..]).dst_addr();
                if rw.to_local || snap.interfaces.is_local(dst) {
                    return Verdict::Local;
                }
                match snap.fib.lookup(dst) {
                    Some(nh) => Verdict::Forward {
                        out_if: nh.ifindex,
                        next_hop: nh.neighbor_for(dst),
                    },
                    None => Verdict::Drop(DropReason::NoRoute),
                }
            }
            Err(r) => Verdict::Drop(r),
        }
    }
}

/// IHL in bytes of a held fragment (copied from a validated packet).
fn ihl_of(b: &[u8]) -> usize {
    b.first().map_or(20, |v| usize::from(v & 0x0f) * 4)
}

/// Where a packet translated by `rw` goes.
fn route_to(snap: &Snapshot, rw: &Rewrite) -> Verdict {
    if rw.to_local {
        return Verdict::Local;
    }
    match snap.fib.lookup(rw.dst) {
        Some(nh) => Verdict::Forward {
            out_if: nh.ifindex,
            next_hop: nh.neighbor_for(rw.dst),
        },
        None => Verdict::Drop(DropReason::NoRoute),
    }
}
