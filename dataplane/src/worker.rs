//! The poll-mode burst loop a worker lcore runs.
//!
//! Each iteration polls every port's RX queue for a burst of up to
//! [`BURST_SIZE`], hands the packets' bytes to a [`PacketHandler`] as one
//! burst, then moves each mbuf to its egress port's TX burst or to a drop
//! burst, and finally transmits every non-empty TX burst. Whatever a TX ring
//! refuses is freed in the same call and counted as [`DropReason::TxFull`];
//! dropped packets are freed with one bulk call per burst. Nothing allocates
//! after [`Worker::new`].
//!
//! Counters live in the worker's own [`WorkerStats`] and are published every
//! [`PUBLISH_EVERY`] iterations (and on exit) into a [`StatsSlot`] of atomics,
//! which the control thread reads and sums across workers.

use crate::dpdk::{Burst, Mempool, RxQueue, TxQueue, BURST_SIZE};
use crate::stats::{DropReason, WorkerStats};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Loop iterations between two publications of the counters (a power of two).
pub const PUBLISH_EVERY: u32 = 256;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Transmit on this worker port (an index into the worker's port list).
    Forward(u16),
    /// Drop and count under this reason.
    Drop(DropReason),
}

/// The packet logic plugged into the loop (the NAT pipeline implements this).
pub trait PacketHandler {
    /// Decides one RX burst from worker port `in_port`. `frames[i]` is packet
    /// `i`'s Ethernet frame and may be rewritten in place (its length is
    /// fixed); the handler writes `verdicts[i]` for each, which arrive
    /// pre-filled with `Drop(NoRoute)`. Both slices have the same length.
    /// New packets (ICMP errors, ARP) are sent with `emit`.
    fn handle_burst(
        &mut self,
        in_port: u16,
        frames: &mut [&mut [u8]],
        verdicts: &mut [Verdict],
        emit: &mut Emit<'_, '_>,
    );

    /// Called once per loop iteration, between bursts (timers, snapshots,
    /// ARP retries); may emit packets too.
    fn between_bursts(&mut self, _emit: &mut Emit<'_, '_>) {}
}

/// Any `FnMut(in_port, frame) -> Verdict` is a per-packet handler.
impl<F: FnMut(u16, &mut [u8]) -> Verdict> PacketHandler for F {
    fn handle_burst(
        &mut self,
        in_port: u16,
        frames: &mut [&mut [u8]],
        verdicts: &mut [Verdict],
        _emit: &mut Emit<'_, '_>,
    ) {
        for (f, v) in frames.iter_mut().zip(verdicts.iter_mut()) {
            *v = self(in_port, f);
        }
    }
}

/// Lets a handler transmit packets it builds itself. Emitted packets join
/// the same per-port TX bursts as forwarded ones (and are counted the same).
pub struct Emit<'a, 'p> {
    pool: Option<&'p Mempool<'p>>,
    ports: &'a mut [WorkerPort<'p>],
    tx: &'a mut [Burst<'p>],
    stats: &'a mut WorkerStats,
}

impl<'a, 'p> Emit<'a, 'p> {
    /// An emitter with no ports and no pool: every `packet` fails with
    /// `NoBuffer`. For testing handlers without an EAL.
    pub fn detached(stats: &'a mut WorkerStats) -> Self {
        Emit {
            pool: None,
            ports: &mut [],
            tx: &mut [],
            stats,
        }
    }

    /// Builds a `len`-byte packet with `fill` (which gets exactly `len`
    /// zeroed bytes) and queues it for worker port `port`. On failure the
    /// packet is counted as dropped under the returned reason: `NoRoute` for
    /// an unknown port, `NoBuffer` when no mbuf (or not enough room) is available.
    pub fn packet(
        &mut self,
        port: u16,
        len: u16,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), DropReason> {
        let out = usize::from(port);
        if out >= self.ports.len() {
            self.stats.drop(DropReason::NoRoute);
            return Err(DropReason::NoRoute);
        }
        let Some(mut m) = self.pool.and_then(|p| p.alloc()) else {
            self.stats.drop(DropReason::NoBuffer);
            return Err(DropReason::NoBuffer);
        };
        let Some(buf) = m.append(len) else {
            self.stats.drop(DropReason::NoBuffer);
            return Err(DropReason::NoBuffer);
        };
        buf.fill(0);
        fill(buf);
        if self.tx[out].is_full() {
            flush_port(&mut self.ports[out], &mut self.tx[out], self.stats);
        }
        match self.tx[out].push(m) {
            Ok(()) => Ok(()),
            Err(_m) => {
                // Unreachable after the flush; `_m` is freed on drop, and counted.
                self.stats.drop(DropReason::TxFull);
                Err(DropReason::TxFull)
            }
        }
    }
}

fn flush_port<'p>(port: &mut WorkerPort<'p>, burst: &mut Burst<'p>, stats: &mut WorkerStats) {
    let out = port.tx.tx(burst);
    stats.tx_packets += out.sent as u64;
    stats.tx_bytes += out.sent_bytes;
    stats.drops[DropReason::TxFull as usize] += out.refused as u64;
}

/// Two-port forwarder: everything from port 0 leaves on port 1 and vice versa.
/// Packets from any other port are dropped as `NoRoute`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CrossConnect;

impl PacketHandler for CrossConnect {
    fn handle_burst(
        &mut self,
        in_port: u16,
        _frames: &mut [&mut [u8]],
        verdicts: &mut [Verdict],
        _emit: &mut Emit<'_, '_>,
    ) {
        let v = match in_port {
            0 => Verdict::Forward(1),
            1 => Verdict::Forward(0),
            _ => Verdict::Drop(DropReason::NoRoute),
        };
        verdicts.fill(v);
    }
}

/// One port as a worker sees it: its own RX and TX queue.
pub struct WorkerPort<'p> {
    pub rx: RxQueue<'p>,
    pub tx: TxQueue<'p>,
}

/// A worker's counters as the control thread sees them: atomics written only
/// by the owning worker (relaxed stores) and read by anyone.
#[repr(C, align(64))]
pub struct StatsSlot {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    sessions_created: AtomicU64,
    sessions_expired: AtomicU64,
    fast_path_hits: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
}

impl Default for StatsSlot {
    fn default() -> Self {
        StatsSlot {
            rx_packets: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            tx_packets: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            sessions_created: AtomicU64::new(0),
            sessions_expired: AtomicU64::new(0),
            fast_path_hits: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl StatsSlot {
    /// Copies the worker's counters out (called by the owning worker only).
    pub fn publish(&self, s: &WorkerStats) {
        let r = Ordering::Relaxed;
        self.rx_packets.store(s.rx_packets, r);
        self.rx_bytes.store(s.rx_bytes, r);
        self.tx_packets.store(s.tx_packets, r);
        self.tx_bytes.store(s.tx_bytes, r);
        self.sessions_created.store(s.sessions_created, r);
        self.sessions_expired.store(s.sessions_expired, r);
        self.fast_path_hits.store(s.fast_path_hits, r);
        for (a, v) in self.drops.iter().zip(s.drops.iter()) {
            a.store(*v, r);
        }
    }

    /// A snapshot of the last published counters.
    pub fn read(&self) -> WorkerStats {
        let r = Ordering::Relaxed;
        let mut s = WorkerStats {
            rx_packets: self.rx_packets.load(r),
            rx_bytes: self.rx_bytes.load(r),
            tx_packets: self.tx_packets.load(r),
            tx_bytes: self.tx_bytes.load(r),
            sessions_created: self.sessions_created.load(r),
            sessions_expired: self.sessions_expired.load(r),
            fast_path_hits: self.fast_path_hits.load(r),
            ..WorkerStats::default()
        };
        for (v, a) in s.drops.iter_mut().zip(self.drops.iter()) {
            *v = a.load(r);
        }
        s
    }

    /// Sums the counters of every worker's slot.
    pub fn sum(slots: &[StatsSlot]) -> WorkerStats {
        let mut total = WorkerStats::default();
        for s in slots {
            total.accumulate(&s.read());
        }
        total
    }
}

/// Errors building a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerError {
    NoPorts,
    TooManyPorts(usize),
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::NoPorts => write!(f, "a worker needs at least one port"),
            WorkerError::TooManyPorts(n) => {
                write!(f, "{n} ports given, a worker handles at most {MAX_PORTS}")
            }
        }
    }
}

impl std::error::Error for WorkerError {}

/// Most ports one worker polls (a `Verdict::Forward` index is below this).
pub const MAX_PORTS: usize = 64;

/// The burst loop over a fixed set of ports.
pub struct Worker<'p, H> {
    ports: Vec<WorkerPort<'p>>,
    handler: H,
    stats: WorkerStats,
    slot: &'p StatsSlot,
    rx: Burst<'p>,
    tx: Vec<Burst<'p>>,
    dropped: Burst<'p>,
    pool: Option<&'p Mempool<'p>>,
    iterations: u32,
}

impl<'p, H: PacketHandler> Worker<'p, H> {
    /// Builds a worker; all buffers are allocated here, none in the loop.
    pub fn new(
        ports: Vec<WorkerPort<'p>>,
        handler: H,
        slot: &'p StatsSlot,
    ) -> Result<Self, WorkerError> {
        if ports.is_empty() {
            return Err(WorkerError::NoPorts);
        }
        if ports.len() > MAX_PORTS {
            return Err(WorkerError::TooManyPorts(ports.len()));
        }
        let tx = (0..ports.len()).map(|_| Burst::new()).collect();
        Ok(Worker {
            ports,
            handler,
            stats: WorkerStats::default(),
            slot,
            rx: Burst::new(),
            tx,
            dropped: Burst::new(),
            pool: None,
            iterations: 0,
        })
    }

    /// Gives the handler's [`Emit`] a pool to build packets from (without
    /// one, every emitted packet is dropped as `NoBuffer`).
    pub fn with_pool(mut self, pool: &'p Mempool<'p>) -> Self {
        self.pool = Some(pool);
        self
    }

    fn emit(&mut self) -> (&mut H, Emit<'_, 'p>) {
        let e = Emit {
            pool: self.pool,
            ports: &mut self.ports,
            tx: &mut self.tx,
            stats: &mut self.stats,
        };
        (&mut self.handler, e)
    }

    /// Polls until `stop` is set (checked between bursts), then publishes the
    /// final counters. Packets already received are transmitted or freed.
    pub fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            self.poll_once();
        }
        self.slot.publish(&self.stats);
    }

    /// One pass over every port. Returns how many packets were received.
    pub fn poll_once(&mut self) -> usize {
        let mut received = 0;
        for in_port in 0..self.ports.len() {
            received += self.rx_one(in_port);
        }
        self.flush_tx();
        let (h, mut e) = self.emit();
        h.between_bursts(&mut e);
        self.iterations = self.iterations.wrapping_add(1);
        if self.iterations & (PUBLISH_EVERY - 1) == 0 {
            self.slot.publish(&self.stats);
        }
        received
    }

    fn rx_one(&mut self, in_port: usize) -> usize {
        let n = self.ports[in_port].rx.rx(&mut self.rx);
        if n == 0 {
            return 0;
        }
        self.stats.rx_packets += n as u64;
        self.stats.rx_bytes += self.rx.bytes();

        let mut verdicts = [Verdict::Drop(DropReason::NoRoute); BURST_SIZE];
        {
            let mut views: [&mut [u8]; BURST_SIZE] = Default::default();
            let mut len = 0;
            for (v, f) in views.iter_mut().zip(self.rx.frames_mut()) {
                *v = f;
                len += 1;
            }
            let mut emit = Emit {
                pool: self.pool,
                ports: &mut self.ports,
                tx: &mut self.tx,
                stats: &mut self.stats,
            };
            self.handler.handle_burst(
                in_port as u16,
                &mut views[..len],
                &mut verdicts[..len],
                &mut emit,
            );
        }

        let nports = self.ports.len();
        for (m, v) in self.rx.drain().zip(verdicts) {
            let reason = match v {
                Verdict::Forward(out) if usize::from(out) < nports => {
                    let out = usize::from(out);
                    if self.tx[out].is_full() {
                        flush_port(&mut self.ports[out], &mut self.tx[out], &mut self.stats);
                    }
                    match self.tx[out].push(m) {
                        Ok(()) => continue,
                        // Cannot happen after the flush above; counted, never leaked.
                        Err(m) => {
                            self.drop_mbuf(m, DropReason::TxFull);
                            continue;
                        }
                    }
                }
                Verdict::Forward(_) => DropReason::NoRoute,
                Verdict::Drop(r) => r,
            };
            self.drop_mbuf(m, reason);
        }
        self.dropped.free_all();
        n
    }

    #[inline]
    fn drop_mbuf(&mut self, m: crate::dpdk::Mbuf<'p>, reason: DropReason) {
        self.stats.drop(reason);
        if let Err(m) = self.dropped.push(m) {
            self.dropped.free_all();
            // The burst was just emptied, so this push succeeds; if not, the
            // mbuf is freed by its own drop.
            let _ = self.dropped.push(m);
        }
    }

    fn flush_tx(&mut self) {
        for (port, burst) in self.ports.iter_mut().zip(self.tx.iter_mut()) {
            if !burst.is_empty() {
                flush_port(port, burst, &mut self.stats);
            }
        }
    }

    /// This worker's live counters.
    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Publishes the counters now (also done periodically by the loop).
    pub fn publish(&self) {
        self.slot.publish(&self.stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_connect_swaps_ports_and_drops_others() {
        let mut h = CrossConnect;
        let mut st = WorkerStats::default();
        let mut a = [0u8; 4];
        let mut frames: [&mut [u8]; 1] = [&mut a];
        let mut v = [Verdict::Drop(DropReason::NoRoute)];
        h.handle_burst(0, &mut frames, &mut v, &mut Emit::detached(&mut st));
        assert_eq!(v[0], Verdict::Forward(1));
        h.handle_burst(1, &mut frames, &mut v, &mut Emit::detached(&mut st));
        assert_eq!(v[0], Verdict::Forward(0));
        h.handle_burst(2, &mut frames, &mut v, &mut Emit::detached(&mut st));
        assert_eq!(v[0], Verdict::Drop(DropReason::NoRoute));
    }

    #[test]
    fn closures_are_per_packet_handlers() {
        let mut st = WorkerStats::default();
        let mut h = |port: u16, f: &mut [u8]| {
            f[0] = f[0].wrapping_add(1);
            if f[0] == 2 {
                Verdict::Drop(DropReason::TtlExceeded)
            } else {
                Verdict::Forward(port)
            }
        };
        let (mut a, mut b) = ([0u8], [1u8]);
        let mut frames: [&mut [u8]; 2] = [&mut a, &mut b];
        let mut v = [Verdict::Drop(DropReason::NoRoute); 2];
        h.handle_burst(3, &mut frames, &mut v, &mut Emit::detached(&mut st));
        assert_eq!(
            v,
            [Verdict::Forward(3), Verdict::Drop(DropReason::TtlExceeded)]
        );
        assert_eq!((a[0], b[0]), (1, 2));
    }

    #[test]
    fn detached_emit_counts_what_it_cannot_send() {
        let mut st = WorkerStats::default();
        let mut e = Emit::detached(&mut st);
        assert_eq!(e.packet(0, 64, |_| {}), Err(DropReason::NoRoute));
        assert_eq!(st.dropped(DropReason::NoRoute), 1);
    }

    #[test]
    fn stats_slots_publish_and_sum() {
        let slots = [StatsSlot::default(), StatsSlot::default()];
        let mut s = WorkerStats {
            rx_packets: 5,
            tx_bytes: 7,
            ..WorkerStats::default()
        };
        s.drop(DropReason::TxFull);
        slots[0].publish(&s);
        s.drop(DropReason::TxFull);
        slots[1].publish(&s);
        let t = StatsSlot::sum(&slots);
        assert_eq!(t.rx_packets, 10);
        assert_eq!(t.tx_bytes, 14);
        assert_eq!(t.dropped(DropReason::TxFull), 3);
        assert_eq!(t.dropped(DropReason::NoRoute), 0);
    }
}

// ---------------------------------------------------------------------------
// The NAT pipeline on DPDK ports.
// ---------------------------------------------------------------------------

use crate::conntrack::Instant;
use crate::dpdk::Mbuf;
use crate::nat::rules::RuleCounters;
use crate::nat::Snapshot;
use crate::pipeline::{Io, PacketBuf, Pipeline, SnapshotCell};
use std::sync::{Arc, Mutex};

impl PacketBuf for Mbuf<'_> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.data_mut()
    }
}

/// Loop iterations between two housekeeping passes (ARP retries, expiry); a power of two.
pub const HOUSEKEEPING_EVERY: u32 = 8;

/// NAT state a worker publishes for the control thread (metrics, CLI).
#[derive(Debug, Default)]
pub struct NatSlot {
    sessions: AtomicU64,
    neighbors: AtomicU64,
    /// The worker's current per-rule counters (atomics the worker bumps);
    /// replaced when a reload changes the number of rules.
    rules: Mutex<Option<Arc<RuleCounters>>>,
    /// Snapshot version the worker runs.
    version: AtomicU64,
}

impl NatSlot {
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }

    pub fn neighbors(&self) -> u64 {
        self.neighbors.load(Ordering::Relaxed)
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    pub fn rule_counters(&self) -> Option<Arc<RuleCounters>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Per-rule (packets, bytes) summed over workers, for `rules` rules.
    pub fn sum_rules(slots: &[NatSlot], rules: usize) -> Vec<(u64, u64)> {
        let mut out = vec![(0, 0); rules];
        for s in slots {
            if let Some(c) = s.rule_counters() {
                c.sum_into(&mut out);
            }
        }
        out
    }
}

/// The [`Io`] sink over DPDK: per-port TX bursts (flushed when full), the
/// mempool for generated frames, and a bulk-free burst for dropped mbufs.
struct DpdkIo<'a, 'p> {
    ports: &'a mut [WorkerPort<'p>],
    tx: &'a mut [Burst<'p>],
    dropped: &'a mut Burst<'p>,
    pool: &'p Mempool<'p>,
    stats: &'a mut WorkerStats,
}

impl<'p> Io<Mbuf<'p>> for DpdkIo<'_, 'p> {
    fn send(&mut self, port: u16, m: Mbuf<'p>) {
        let out = usize::from(port);
        if out >= self.ports.len() {
            self.stats.drop(DropReason::NoRoute);
            self.free(m);
            return;
        }
        if self.tx[out].is_full() {
            flush_port(&mut self.ports[out], &mut self.tx[out], self.stats);
        }
        if let Err(m) = self.tx[out].push(m) {
            // Unreachable after the flush; counted, never leaked.
            self.stats.drop(DropReason::TxFull);
            self.free(m);
        }
    }

    fn send_copy(&mut self, port: u16, frame: &[u8]) -> bool {
        let Ok(len) = u16::try_from(frame.len()) else {
            return false;
        };
        let Some(mut m) = self.pool.alloc() else {
            return false;
        };
        match m.append(len) {
            Some(buf) => buf.copy_from_slice(frame),
            None => return false,
        }
        self.send(port, m);
        true
    }

    fn free(&mut self, m: Mbuf<'p>) {
        if let Err(m) = self.dropped.push(m) {
            self.dropped.free_all();
            // Just emptied; if it still fails the mbuf frees itself on drop.
            let _ = self.dropped.push(m);
        }
    }
}

/// The burst loop running the NAT [`Pipeline`]: rx burst -> pipeline ->
/// per-port tx bursts. Held packets are the mbufs themselves (the neighbour
/// queue owns them until ARP resolves or gives up); generated packets are
/// copied into mbufs from the pool. Between bursts: snapshot pick-up,
/// housekeeping, counter publication. Nothing allocates in the loop.
pub struct PipelineWorker<'p> {
    ports: Vec<WorkerPort<'p>>,
    pipeline: Pipeline<Mbuf<'p>>,
    pool: &'p Mempool<'p>,
    cell: Option<&'p SnapshotCell>,
    /// rx/tx and I/O drops (TxFull, NoRoute for bad ports); the pipeline
    /// counts everything else.
    io_stats: WorkerStats,
    slot: &'p StatsSlot,
    nat_slot: Option<&'p NatSlot>,
    rx: Burst<'p>,
    tx: Vec<Burst<'p>>,
    dropped: Burst<'p>,
    iterations: u32,
    /// TSC ticks per millisecond.
    tsc_per_ms: u64,
}

impl<'p> PipelineWorker<'p> {
    /// `ports[i]` must be interface `i` of the pipeline's snapshot.
    pub fn new(
        ports: Vec<WorkerPort<'p>>,
        pipeline: Pipeline<Mbuf<'p>>,
        pool: &'p Mempool<'p>,
        slot: &'p StatsSlot,
        tsc_hz: u64,
    ) -> Result<Self, WorkerError> {
        if ports.is_empty() {
            return Err(WorkerError::NoPorts);
        }
        if ports.len() > MAX_PORTS {
            return Err(WorkerError::TooManyPorts(ports.len()));
        }
        let tx = (0..ports.len()).map(|_| Burst::new()).collect();
        Ok(PipelineWorker {
            ports,
            pipeline,
            pool,
            cell: None,
            io_stats: WorkerStats::default(),
            slot,
            nat_slot: None,
            rx: Burst::new(),
            tx,
            dropped: Burst::new(),
            iterations: 0,
            tsc_per_ms: (tsc_hz / 1000).max(1),
        })
    }

    /// Picks up snapshots published in `cell` between bursts.
    pub fn with_snapshots(mut self, cell: &'p SnapshotCell) -> Self {
        self.cell = Some(cell);
        self
    }

    /// Publishes sessions, neighbours and rule counters into `slot`.
    pub fn with_nat_slot(mut self, slot: &'p NatSlot) -> Self {
        self.nat_slot = Some(slot);
        self
    }

    fn now(&self) -> Instant {
        Instant::from_millis(crate::dpdk::tsc() / self.tsc_per_ms)
    }

    fn io(&mut self) -> (&mut Pipeline<Mbuf<'p>>, DpdkIo<'_, 'p>) {
        (
            &mut self.pipeline,
            DpdkIo {
                ports: &mut self.ports,
                tx: &mut self.tx,
                dropped: &mut self.dropped,
                pool: self.pool,
                stats: &mut self.io_stats,
            },
        )
    }

    /// Gratuitous ARP for every address (call once the ports are up).
    pub fn announce(&mut self) -> usize {
        let (p, mut io) = self.io();
        let n = p.announce(&mut io);
        self.flush_tx();
        n
    }

    /// Polls until `stop` is set, then publishes the final counters.
    pub fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            self.poll_once();
        }
        self.dropped.free_all();
        self.publish();
    }

    /// One pass over every port. Returns how many packets were received.
    pub fn poll_once(&mut self) -> usize {
        let now = self.now();
        let mut received = 0;
        for in_port in 0..self.ports.len() {
            let n = self.ports[in_port].rx.rx(&mut self.rx);
            if n == 0 {
                continue;
            }
            received += n;
            self.io_stats.rx_packets += n as u64;
            self.io_stats.rx_bytes += self.rx.bytes();
            let mut io = DpdkIo {
                ports: &mut self.ports,
                tx: &mut self.tx,
                dropped: &mut self.dropped,
                pool: self.pool,
                stats: &mut self.io_stats,
            };
            self.pipeline
                .process_burst(in_port as u16, self.rx.drain(), now, &mut io);
            self.dropped.free_all();
        }
        self.flush_tx();
        if let Some(cell) = self.cell {
            self.pipeline.refresh(cell);
        }
        self.iterations = self.iterations.wrapping_add(1);
        if self.iterations & (HOUSEKEEPING_EVERY - 1) == 0 {
            let (p, mut io) = self.io();
            p.housekeeping(now, &mut io);
            self.dropped.free_all();
            self.flush_tx();
        }
        if self.iterations & (PUBLISH_EVERY - 1) == 0 {
            self.publish();
        }
        received
    }

    fn flush_tx(&mut self) {
        for (port, burst) in self.ports.iter_mut().zip(self.tx.iter_mut()) {
            if !burst.is_empty() {
                flush_port(port, burst, &mut self.io_stats);
            }
        }
    }

    /// The pipeline's and the loop's counters together.
    pub fn stats(&self) -> WorkerStats {
        let mut s = self.pipeline.stats().clone();
        s.accumulate(&self.io_stats);
        s
    }

    /// Publishes the counters now (also done periodically by the loop).
    pub fn publish(&self) {
        self.slot.publish(&self.stats());
        if let Some(n) = self.nat_slot {
            let e = self.pipeline.engine();
            n.sessions
                .store(e.sessions().len() as u64, Ordering::Relaxed);
            n.version
                .store(self.pipeline.snapshot_version(), Ordering::Relaxed);
            n.neighbors
                .store(self.pipeline.neighbors().len() as u64, Ordering::Relaxed);
            // Never block the worker on a reader.
            if let Ok(mut g) = n.rules.try_lock() {
                let cur = e.rule_counters();
                if !g.as_ref().is_some_and(|c| Arc::ptr_eq(c, cur)) {
                    *g = Some(Arc::clone(cur));
                }
            }
        }
    }

    pub fn pipeline(&self) -> &Pipeline<Mbuf<'p>> {
        &self.pipeline
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        self.pipeline.snapshot()
    }
}
