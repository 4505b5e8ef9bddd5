//! The per-worker packet pipeline: Ethernet frame in, decision out.
//!
//! One [`Pipeline`] per worker lcore, pure Rust over byte buffers (no DPDK):
//! the worker hands it each RX burst with [`Pipeline::process_burst`] and
//! an [`Io`] sink that owns transmission, buffer allocation and freeing.
//!
//! # One frame
//! 1. Ethernet (802.1Q aware). Frames whose destination MAC is neither the
//!    input interface's nor broadcast are dropped (`EthNotForUs`). ARP goes
//!    to [`crate::route::arp::handle_arp`]: requests for our addresses are
//!    answered, senders learned, and packets held for a now-resolved next
//!    hop are released. Other EtherTypes are passed unchanged to the port
//!    configured in [`PipelineConfig::pass_non_ip`], else dropped
//!    (`EthUnsupportedType`).
//! 2. IPv4: RFC 1812 5.2.2 header validation (lengths, version, checksum,
//!    martian source). Broadcast/multicast destinations (or frames sent to
//!    the broadcast MAC) are never forwarded (`LocalDelivery`).
//! 3. TTL and MTU (see *Ordering with NAT* below).
//! 4. [`Engine::process`]: sessions, NAT rules, hairpin, ICMP errors,
//!    fragments. `Local` verdicts are ICMP echo requests (answered in place,
//!    N13) or other traffic to the router (dropped as `LocalDelivery`, or
//!    sent to the exception port when configured).
//! 5. Forwarding: TTL decrement with an incremental checksum, fragmentation
//!    of DF-clear packets over the egress MTU, next hop resolution through
//!    the worker's [`NeighborTable`]: `Ready` rewrites the L2 header (source
//!    = egress interface MAC, destination = neighbour) and sends; otherwise
//!    the packet itself is held in the bounded per-neighbour queue and an ARP
//!    request goes out (rate limited by the table).
//!
//! # Ordering with NAT (TTL and MTU)
//! An ICMP error must quote the packet as its sender sent it, but the engine
//! translates in place. So:
//! * destination not ours: TTL <= 1 and "DF and larger than the egress MTU"
//!   are checked against the *pre-NAT* route before the engine runs. The
//!   error quotes the untouched packet, and a packet that dies here creates
//!   no NAT state (a traceroute does not leave a mapping per probe).
//! * destination ours (port forwards, return traffic of a mapping): only the
//!   engine knows whether it is forwarded. When the packet could fail
//!   (TTL <= 1, or DF and larger than the smallest interface MTU) it is first
//!   copied into a per-worker buffer; if the engine forwards it and it does
//!   fail, the error quotes that copy. The session the engine created stays
//!   (as Linux conntrack does in PREROUTING) and simply expires.
//! * a dst-nat that moves a foreign destination to a smaller-MTU interface
//!   is caught after translation and quotes the translated packet (rare:
//!   netmap or dst-nat of a non-local address with DF over the MTU).
//!
//! Errors and echo replies are sent back out of the input port to the
//! frame's source MAC (the reverse L2 path of the packet they answer), from
//! the input interface's address on the sender's subnet (its primary
//! address otherwise), so they need no ARP.
//!
//! # Invariants
//! * Every frame handed in is either given back to the [`Io`] sink exactly
//!   once (`send` or `free`) or held in the neighbour table (which gives it
//!   back later through `send` or `free`).
//! * Every drop is counted exactly once under one [`DropReason`] in the
//!   engine's [`WorkerStats`] (the engine counts its own verdicts).
//! * Nothing panics on any input; nothing allocates after [`Pipeline::new`]
//!   except [`Pipeline::set_snapshot`] when the new rules add a pool.

pub mod fragment;
mod snapshot_cell;

pub use snapshot_cell::SnapshotCell;

use crate::conntrack::{Instant, WorkerSlice};
use crate::nat::engine::BURST_MAX;
use crate::nat::{Engine, Snapshot, Verdict};
use crate::route::arp::{self, ArpOutcome, MAX_ARP_FRAME_LEN};
use crate::route::neighbor::{Hold, Learn, NeighborEvent, Resolve};
use crate::route::{IfIndex, Interface, MacAddr, NeighborConfig, NeighborTable};
use crate::stats::{DropReason, WorkerStats};
use crate::wire::arp::{ArpOp, ArpPacket, ArpRepr};
use crate::wire::checksum::{self, Delta};
use crate::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use crate::wire::icmp::{self, msg_type, time_exceeded, unreachable};
use crate::wire::ip_proto;
use crate::wire::ipv4::{field as ipf, Ipv4Packet};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Largest frame the pipeline builds or copies: a 9216-byte IP MTU plus a
/// tagged Ethernet header.
pub const MAX_FRAME: usize = 9216 + 18;
/// Untagged Ethernet header.
const ETH_LEN: usize = 14;
/// Minimum Ethernet frame (without FCS); shorter generated frames are padded.
const MIN_FRAME: usize = 60;
/// TTL of packets the router originates (echo replies).
const REPLY_TTL: u8 = 64;

/// An owned packet buffer the pipeline can look into (a `Vec<u8>` in tests,
/// an mbuf in the DPDK worker).
pub trait PacketBuf {
    /// The frame's bytes (Ethernet header first). The length is fixed.
    fn bytes_mut(&mut self) -> &mut [u8];
}

impl PacketBuf for Vec<u8> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl PacketBuf for Box<[u8]> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

/// Where the pipeline's output goes. Implemented by the worker (TX bursts,
/// mempool, bulk free) and by tests.
pub trait Io<P> {
    /// Transmit `pkt` (rewritten in place) on `port`.
    fn send(&mut self, port: u16, pkt: P);
    /// Transmit a frame the pipeline generated (ARP, ICMP, fragments) on
    /// `port`: copy it into a fresh buffer. False if no buffer was available
    /// (the pipeline counts `NoBuffer`).
    fn send_copy(&mut self, port: u16, frame: &[u8]) -> bool;
    /// Give back a packet the pipeline is done with; its drop is counted.
    fn free(&mut self, pkt: P);
}

/// Per-worker settings that are not part of the NAT snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    pub neighbor: NeighborConfig,
    /// `pass_non_ip[in_port] = Some(out)`: frames that are neither IPv4 nor
    /// ARP arriving on `in_port` leave unchanged on port `out` (e.g. to let
    /// IPv6 through a bridge-like pair); `None` or missing: count and drop.
    pub pass_non_ip: Vec<Option<u16>>,
    /// A kernel `net_tap` exception path (see [`Exception`]).
    pub exception: Option<Exception>,
    /// Neighbour entries retried / expired per housekeeping call.
    pub neighbor_budget: usize,
    /// Sessions expired per housekeeping call.
    pub expire_budget: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            neighbor: NeighborConfig::default(),
            pass_non_ip: Vec::new(),
            exception: None,
            neighbor_budget: 64,
            expire_budget: 256,
        }
    }
}

/// The exception path: a port (beyond the interfaces) leading to a kernel
/// `net_tap` interface that carries the router's addresses, so services on
/// the host (SSH, DNS, ...) are reachable through the dataplane.
///
/// * To the kernel: traffic addressed to the router that the pipeline does
///   not answer itself (not ICMP echo, not a NAT session or port forward),
///   and IPv4 broadcasts, leave on `port` with destination MAC = the kernel
///   interface's MAC (learned from the frames it sends; `peer` until then)
///   and source MAC `mac`.
/// * From the kernel: ARP requests are answered with `mac` for any address
///   (the kernel sees the whole world behind the tap); IPv4 is routed by the
///   FIB without NAT or TTL decrement (the host originated it) and resolved
///   like forwarded traffic. Everything else is dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub port: u16,
    /// Our MAC on the exception port (what proxy ARP answers with).
    pub mac: MacAddr,
    /// The kernel interface's MAC until a frame from it says otherwise. For
    /// `net_tap` it is the port's own MAC (the PMD gives its MAC to the
    /// kernel interface), so `mac` must differ from it.
    pub peer: MacAddr,
}

/// What a frame turned into; returned by [`Pipeline::process`] for tests
/// and tracing (the [`Io`] sink has already been told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sent on this port (forwarded, echo reply in place, passed through).
    Sent(u16),
    /// Held until the next hop answers ARP.
    Held,
    /// Answered with a generated frame (ARP reply, ICMP error) and freed.
    Answered,
    /// Handed to the exception port.
    Exception,
    /// Consumed without a drop (ARP learned, fragment kept by the engine).
    Consumed,
    /// Dropped and counted.
    Dropped(DropReason),
}

/// Saved pre-NAT copy of a packet that might need an ICMP error.
struct Orig {
    buf: Box<[u8]>,
    len: usize,
}

/// One worker's packet path. `P` is the owned packet handle.
pub struct Pipeline<P> {
    engine: Engine,
    snap: Arc<Snapshot>,
    neighbors: NeighborTable<P>,
    cfg: PipelineConfig,
    /// Smallest interface MTU of the snapshot.
    min_mtu: u16,
    orig: Orig,
    /// Scratch for generated frames (ARP, ICMP errors, fragments).
    gen: Box<[u8]>,
    /// Snapshot version last taken from a [`SnapshotCell`].
    version: u64,
    /// The kernel's MAC behind the exception port, once seen.
    kernel_mac: Option<MacAddr>,
}

/// Errors building a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineError {
    Neighbor(String),
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineError::Neighbor(s) => write!(f, "neighbor table: {s}"),
        }
    }
}

impl std::error::Error for PipelineError {}

/// The IPv4 packet of an Ethernet frame (after any 802.1Q tag), for the
/// engine's prefetch; `None` for anything else.
fn ipv4_slice<P: PacketBuf>(p: &mut P) -> Option<&[u8]> {
    let frame = p.bytes_mut();
    let l2 = match EthernetFrame::new_checked(&frame[..]) {
        Ok(e) if e.ethertype() == EtherType::IPV4 => e.payload_offset(),
        _ => return None,
    };
    frame.get(l2..)
}

fn min_mtu(snap: &Snapshot) -> u16 {
    snap.interfaces
        .iter()
        .map(|i| i.mtu)
        .min()
        .unwrap_or(u16::MAX)
}

/// Writes an Ethernet header into `buf`; returns its length (0 if `buf` is too short).
fn put_l2(buf: &mut [u8], dst: MacAddr, src: MacAddr, vlan_tci: Option<u16>) -> usize {
    let repr = EthernetRepr {
        src,
        dst,
        vlan_tci,
        ethertype: EtherType::IPV4,
    };
    let n = repr.buffer_len();
    match buf.get_mut(..n) {
        Some(b) => {
            repr.emit(&mut EthernetFrame::new_unchecked(b));
            n
        }
        None => 0,
    }
}

/// Sets source and destination MAC of a frame already known to hold a header.
fn set_macs(frame: &mut [u8], dst: MacAddr, src: MacAddr) {
    if let Some(h) = frame.get_mut(..12) {
        h[..6].copy_from_slice(&dst.0);
        h[6..12].copy_from_slice(&src.0);
    }
}

/// Whether `dst` may never be forwarded: limited broadcast, multicast, or the
/// directed broadcast of one of our subnets.
fn is_broadcastish(snap: &Snapshot, dst: Ipv4Addr) -> bool {
    dst.is_broadcast() || dst.is_multicast() || snap.interfaces.iter().any(|i| i.is_broadcast(dst))
}

/// Addresses no packet may be routed to (RFC 1812 5.3.7 / 4.2.3.1).
fn is_unroutable_dst(dst: Ipv4Addr) -> bool {
    let o = dst.octets();
    o[0] == 0 || o[0] == 127 || o[0] >= 240
}

impl<P: PacketBuf> Pipeline<P> {
    /// Preallocates everything for one worker.
    pub fn new(
        snap: Arc<Snapshot>,
        cfg: PipelineConfig,
        worker: WorkerSlice,
        seed: u64,
    ) -> Result<Self, PipelineError> {
        cfg.neighbor.validate().map_err(PipelineError::Neighbor)?;
        let neighbors = NeighborTable::new(cfg.neighbor);
        Ok(Pipeline {
            engine: Engine::new(Arc::clone(&snap), worker, seed),
            min_mtu: min_mtu(&snap),
            snap,
            neighbors,
            cfg,
            orig: Orig {
                buf: vec![0u8; MAX_FRAME].into_boxed_slice(),
                len: 0,
            },
            gen: vec![0u8; MAX_FRAME].into_boxed_slice(),
            version: 0,
            kernel_mac: None,
        })
    }

    /// Switches to a new snapshot (between bursts). Established sessions keep
    /// their rewrites; new flows use the new rules.
    pub fn set_snapshot(&mut self, snap: Arc<Snapshot>) {
        self.engine.set_snapshot(Arc::clone(&snap));
        self.min_mtu = min_mtu(&snap);
        self.snap = snap;
    }

    /// Picks up the cell's snapshot if it was republished since the last
    /// call (one atomic load when nothing changed). Returns true on a swap.
    pub fn refresh(&mut self, cell: &SnapshotCell) -> bool {
        let v = cell.version();
        if v == self.version {
            return false;
        }
        let (snap, v) = cell.load();
        self.version = v;
        if Arc::ptr_eq(&snap, &self.snap) {
            return false;
        }
        self.set_snapshot(snap);
        true
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// The [`SnapshotCell`] version last taken by [`Pipeline::refresh`].
    pub fn snapshot_version(&self) -> u64 {
        self.version
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    pub fn neighbors(&self) -> &NeighborTable<P> {
        &self.neighbors
    }

    /// This worker's counters (the engine's, shared with the pipeline).
    pub fn stats(&self) -> &WorkerStats {
        self.engine.stats()
    }

    pub fn stats_mut(&mut self) -> &mut WorkerStats {
        self.engine.stats_mut()
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.cfg
    }

    fn count(&mut self, r: DropReason) -> Outcome {
        self.engine.stats_mut().drop(r);
        Outcome::Dropped(r)
    }

    fn drop_pkt(&mut self, pkt: P, r: DropReason, io: &mut impl Io<P>) -> Outcome {
        io.free(pkt);
        self.count(r)
    }

    /// Sends a gratuitous ARP for every address of every interface (start-up,
    /// and after a reload that added addresses). Returns the number sent.
    pub fn announce(&mut self, io: &mut impl Io<P>) -> usize {
        let mut n = 0;
        let snap = Arc::clone(&self.snap);
        for ifc in snap.interfaces.iter() {
            for a in &ifc.addrs {
                if let Ok(len) = arp::build_gratuitous(&mut self.gen, ifc, a.addr) {
                    if io.send_copy(ifc.index, &self.gen[..len]) {
                        n += 1;
                    } else {
                        self.count(DropReason::NoBuffer);
                    }
                }
            }
        }
        n
    }

    /// Processes one RX burst from `in_port`, then releases fragments the
    /// engine reassembled in order. One call per burst.
    pub fn process_burst(
        &mut self,
        in_port: u16,
        pkts: impl IntoIterator<Item = P>,
        now: Instant,
        io: &mut impl Io<P>,
    ) {
        // One snapshot reference for the whole burst (the snapshot only
        // changes between bursts).
        let snap = Arc::clone(&self.snap);
        let kernel = self.cfg.exception.is_some_and(|ex| ex.port == in_port);
        let mut it = pkts.into_iter();
        loop {
            // Up to BURST_MAX frames at a time, on the stack: their IPv4
            // headers go to the engine's prefetch before any is processed.
            let mut chunk: [Option<P>; BURST_MAX] = std::array::from_fn(|_| None);
            let mut n = 0;
            for (slot, p) in chunk.iter_mut().zip(&mut it) {
                *slot = Some(p);
                n += 1;
            }
            if n == 0 {
                break;
            }
            if !kernel {
                self.engine.prefetch_burst(
                    chunk[..n]
                        .iter_mut()
                        .filter_map(|p| ipv4_slice(p.as_mut()?)),
                );
            }
            for p in chunk[..n].iter_mut().filter_map(Option::take) {
                self.frame(&snap, in_port, p, now, io);
            }
            if n < BURST_MAX {
                break;
            }
        }
        self.drain_released(now, io);
    }

    /// Between bursts: ARP retries and give-ups, session expiry.
    pub fn housekeeping(&mut self, now: Instant, io: &mut impl Io<P>) {
        let Pipeline {
            neighbors,
            engine,
            snap,
            gen,
            cfg,
            ..
        } = self;
        neighbors.poll(now, cfg.neighbor_budget, |ev| match ev {
            NeighborEvent::Request { ip, ifindex } => {
                if let Some(ifc) = snap.interfaces.get(ifindex) {
                    if let Ok(len) = arp::build_request(gen, ifc, ip) {
                        if !io.send_copy(ifindex, &gen[..len]) {
                            engine.stats_mut().drop(DropReason::NoBuffer);
                        }
                    }
                }
            }
            NeighborEvent::Dropped(p, r) => {
                engine.stats_mut().drop(r);
                io.free(p);
            }
        });
        engine.housekeeping(now, cfg.expire_budget);
        self.drain_released(now, io);
    }

    /// Handles one frame received on `in_port`.
    pub fn process(&mut self, in_port: u16, pkt: P, now: Instant, io: &mut impl Io<P>) -> Outcome {
        let snap = Arc::clone(&self.snap);
        self.frame(&snap, in_port, pkt, now, io)
    }

    /// [`Pipeline::process`] with the current snapshot in `snap`.
    fn frame(
        &mut self,
        snap: &Snapshot,
        in_port: u16,
        mut pkt: P,
        now: Instant,
        io: &mut impl Io<P>,
    ) -> Outcome {
        if let Some(ex) = self.cfg.exception {
            if in_port == ex.port {
                return self.kernel_frame(ex, pkt, now, io);
            }
        }
        let Some(iface) = snap.interfaces.get(in_port) else {
            return self.drop_pkt(pkt, DropReason::NoRoute, io);
        };
        let frame = pkt.bytes_mut();
        let (eth_dst, eth_src, ethertype, vlan, l2) = match EthernetFrame::new_checked(&frame[..]) {
            Ok(e) => (
                e.dst_addr(),
                e.src_addr(),
                e.ethertype(),
                e.vlan_tci(),
                e.payload_offset(),
            ),
            Err(e) => return self.drop_pkt(pkt, e.reason(), io),
        };
        let bcast = eth_dst.is_broadcast();
        if eth_dst != iface.mac && !bcast {
            return self.drop_pkt(pkt, DropReason::EthNotForUs, io);
        }
        match ethertype {
            EtherType::ARP => self.arp(in_port, pkt, now, io),
            EtherType::IPV4 => {
                if bcast {
                    // Link broadcast: never forwarded, nothing we answer.
                    return self.local_other(pkt, io);
                }
                self.ipv4(snap, iface, pkt, l2, eth_src, vlan, now, io)
            }
            _ => match self
                .cfg
                .pass_non_ip
                .get(usize::from(in_port))
                .copied()
                .flatten()
            {
                Some(out) => {
                    io.send(out, pkt);
                    Outcome::Sent(out)
                }
                None => self.drop_pkt(pkt, DropReason::EthUnsupportedType, io),
            },
        }
    }

    fn arp(&mut self, in_port: u16, mut pkt: P, now: Instant, io: &mut impl Io<P>) -> Outcome {
        let out = arp::handle_arp(
            pkt.bytes_mut(),
            in_port,
            &self.snap.interfaces,
            &mut self.neighbors,
            now,
            &mut self.gen[..MAX_ARP_FRAME_LEN],
        );
        io.free(pkt);
        match out {
            ArpOutcome::Reply { len, sender, learn } => {
                if !io.send_copy(in_port, &self.gen[..len]) {
                    self.count(DropReason::NoBuffer);
                }
                self.release(sender, learn, io);
                Outcome::Answered
            }
            ArpOutcome::Learned { sender, learn } => {
                self.release(sender, learn, io);
                Outcome::Consumed
            }
            ArpOutcome::Ignored(e) => self.count(e.reason()),
        }
    }

    /// Sends the packets held for `ip` once it resolved.
    fn release(&mut self, ip: Ipv4Addr, learn: Learn, io: &mut impl Io<P>) {
        if !matches!(learn, Learn::Resolved { .. }) {
            return;
        }
        let Pipeline {
            neighbors,
            snap,
            engine,
            gen,
            ..
        } = self;
        let Some(rel) = neighbors.release(ip) else {
            return;
        };
        let (mac, port) = (rel.mac(), rel.ifindex());
        let Some(egress) = snap.interfaces.get(port) else {
            for p in rel {
                engine.stats_mut().drop(DropReason::NoRoute);
                io.free(p);
            }
            return;
        };
        for p in rel {
            transmit(p, egress, mac, gen, engine.stats_mut(), io);
        }
    }

    /// Sends fragments the engine held until their first fragment came.
    fn drain_released(&mut self, now: Instant, io: &mut impl Io<P>) {
        let snap = Arc::clone(&self.snap);
        while let Some((bytes, v)) = self.engine.next_released() {
            let Verdict::Forward { out_if, next_hop } = v else {
                // Local or dropped datagrams: their first fragment was
                // counted; the tail has nowhere to go.
                self.engine.stats_mut().drop(DropReason::LocalDelivery);
                continue;
            };
            let Some(egress) = snap.interfaces.get(out_if) else {
                self.engine.stats_mut().drop(DropReason::NoRoute);
                continue;
            };
            let mac = match self.neighbors.resolve(next_hop, now) {
                Resolve::Ready(m) | Resolve::ReadyProbe(m) => m,
                Resolve::Unresolved => {
                    self.engine.stats_mut().drop(DropReason::ArpUnresolved);
                    continue;
                }
            };
            let n = bytes.len();
            if n + ETH_LEN > self.gen.len() || n > usize::from(egress.mtu) {
                self.engine.stats_mut().drop(DropReason::FragNeeded);
                continue;
            }
            let head = put_l2(&mut self.gen, mac, egress.mac, None);
            self.gen[head..head + n].copy_from_slice(bytes);
            let ip = &mut self.gen[head..head + n];
            let mut p = Ipv4Packet::new_unchecked(ip);
            if p.ttl() <= 1 {
                self.engine.stats_mut().drop(DropReason::TtlExceeded);
                continue;
            }
            p.decrement_ttl();
            let len = (head + n).max(MIN_FRAME);
            self.gen[head + n..len].fill(0);
            if !io.send_copy(out_if, &self.gen[..len]) {
                self.engine.stats_mut().drop(DropReason::NoBuffer);
            }
        }
    }

    /// Traffic for the router that it does not answer itself.
    fn local_other(&mut self, mut pkt: P, io: &mut impl Io<P>) -> Outcome {
        match self.cfg.exception {
            Some(ex) => {
                let dst = self.kernel_mac.unwrap_or(ex.peer);
                set_macs(pkt.bytes_mut(), dst, ex.mac);
                io.send(ex.port, pkt);
                Outcome::Exception
            }
            None => self.drop_pkt(pkt, DropReason::LocalDelivery, io),
        }
    }

    /// A frame the host kernel sent through the exception port.
    fn kernel_frame(
        &mut self,
        ex: Exception,
        mut pkt: P,
        now: Instant,
        io: &mut impl Io<P>,
    ) -> Outcome {
        let frame = pkt.bytes_mut();
        let (src_mac, ethertype, l2) = match EthernetFrame::new_checked(&frame[..]) {
            Ok(e) => (e.src_addr(), e.ethertype(), e.payload_offset()),
            Err(e) => return self.drop_pkt(pkt, e.reason(), io),
        };
        if src_mac.is_unicast() && src_mac != MacAddr::ZERO {
            self.kernel_mac = Some(src_mac);
        }
        match ethertype {
            EtherType::ARP => {
                let req = frame
                    .get(l2..)
                    .and_then(|b| ArpPacket::new_checked(b).ok())
                    .and_then(|p| ArpRepr::parse(&p).ok());
                let Some(req) = req.filter(|r| r.op == ArpOp::Request) else {
                    return self.drop_pkt(pkt, DropReason::ArpIgnored, io);
                };
                // Proxy: everything the kernel asks for is behind us.
                let reply = ArpRepr {
                    op: ArpOp::Reply,
                    sender_mac: ex.mac,
                    sender_ip: req.target_ip,
                    target_mac: req.sender_mac,
                    target_ip: req.sender_ip,
                };
                let eth = EthernetRepr {
                    src: ex.mac,
                    dst: req.sender_mac,
                    vlan_tci: None,
                    ethertype: EtherType::ARP,
                };
                let head = eth.buffer_len();
                let g = &mut self.gen[..MIN_FRAME];
                g.fill(0);
                eth.emit(&mut EthernetFrame::new_unchecked(&mut g[..]));
                reply.emit(&mut ArpPacket::new_unchecked(&mut g[head..]));
                if !io.send_copy(ex.port, &self.gen[..MIN_FRAME]) {
                    self.count(DropReason::NoBuffer);
                }
                io.free(pkt);
                Outcome::Answered
            }
            EtherType::IPV4 => {
                let Some(ipbuf) = frame.get(l2..) else {
                    return self.drop_pkt(pkt, DropReason::Ipv4Truncated, io);
                };
                let dst = match Ipv4Packet::new_checked(ipbuf) {
                    Ok(ip) => match ip.validate_rfc1812() {
                        Ok(()) => ip.dst_addr(),
                        Err(e) => return self.drop_pkt(pkt, e.reason(), io),
                    },
                    Err(e) => return self.drop_pkt(pkt, e.reason(), io),
                };
                let snap = Arc::clone(&self.snap);
                if snap.interfaces.is_local(dst) || is_unroutable_dst(dst) || dst.is_broadcast() {
                    return self.drop_pkt(pkt, DropReason::LocalDelivery, io);
                }
                let Some(nh) = snap.fib.lookup(dst) else {
                    return self.drop_pkt(pkt, DropReason::NoRoute, io);
                };
                let Some(egress) = snap.interfaces.get(nh.ifindex) else {
                    return self.drop_pkt(pkt, DropReason::NoRoute, io);
                };
                set_macs(frame, MacAddr::ZERO, egress.mac);
                self.send_to_neighbor(pkt, egress, nh.neighbor_for(dst), now, io)
            }
            _ => self.drop_pkt(pkt, DropReason::EthUnsupportedType, io),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ipv4(
        &mut self,
        snap: &Snapshot,
        iface: &Interface,
        mut pkt: P,
        l2: usize,
        eth_src: MacAddr,
        vlan: Option<u16>,
        now: Instant,
        io: &mut impl Io<P>,
    ) -> Outcome {
        let in_port = iface.index;
        let frame = pkt.bytes_mut();
        let Some(ipbuf) = frame.get_mut(l2..) else {
            return self.drop_pkt(pkt, DropReason::Ipv4Truncated, io);
        };
        let (src, dst, ttl, df, total) = match Ipv4Packet::new_checked(&ipbuf[..]) {
            Ok(ip) => {
                if let Err(e) = ip.validate_rfc1812() {
                    return self.drop_pkt(pkt, e.reason(), io);
                }
                (
                    ip.src_addr(),
                    ip.dst_addr(),
                    ip.ttl(),
                    ip.dont_frag(),
                    usize::from(ip.total_len()),
                )
            }
            Err(e) => return self.drop_pkt(pkt, e.reason(), io),
        };
        if is_broadcastish(snap, dst) {
            return self.local_other(pkt, io);
        }
        if is_unroutable_dst(dst) {
            return self.drop_pkt(pkt, DropReason::NoRoute, io);
        }
        let dst_local = snap.interfaces.is_local(dst);
        let risky_ttl = ttl <= 1;
        let risky_mtu = df && total > usize::from(self.min_mtu);
        let mut saved = false;
        if risky_ttl || risky_mtu {
            let pre = if dst_local {
                None
            } else {
                snap.fib.lookup(dst)
            };
            match pre {
                Some(nh) => {
                    // Foreign destination: answer from the untouched packet.
                    let quote = &ipbuf[..total];
                    if risky_ttl {
                        self.icmp_error(
                            in_port,
                            eth_src,
                            vlan,
                            src,
                            quote,
                            msg_type::TIME_EXCEEDED,
                            time_exceeded::TTL,
                            0,
                            io,
                        );
                        return self.drop_pkt(pkt, DropReason::TtlExceeded, io);
                    }
                    let mtu = snap.interfaces.get(nh.ifindex).map_or(u16::MAX, |i| i.mtu);
                    if total > usize::from(mtu) {
                        self.icmp_error(
                            in_port,
                            eth_src,
                            vlan,
                            src,
                            quote,
                            msg_type::DEST_UNREACHABLE,
                            unreachable::FRAG_NEEDED,
                            icmp::frag_needed_rest(mtu),
                            io,
                        );
                        return self.drop_pkt(pkt, DropReason::FragNeeded, io);
                    }
                }
                None => {
                    // Only the engine knows where it goes: keep the original.
                    if let Some(b) = self.orig.buf.get_mut(..total) {
                        b.copy_from_slice(&ipbuf[..total]);
                        self.orig.len = total;
                        saved = true;
                    }
                }
            }
        }

        // Validated above (new_checked + validate_rfc1812): don't pay for it twice.
        let verdict = self.engine.process_checked(ipbuf, in_port, now);
        match verdict {
            Verdict::Drop(DropReason::NoMapping) if dst_local => {
                // Addressed to the router and no session or forward owns it:
                // that is local delivery, not a NAT miss.
                let s = self.engine.stats_mut();
                s.drops[DropReason::NoMapping as usize] -= 1;
                self.local_other(pkt, io)
            }
            Verdict::Drop(r) => {
                io.free(pkt);
                Outcome::Dropped(r)
            }
            Verdict::Held => {
                io.free(pkt);
                Outcome::Consumed
            }
            Verdict::Local => self.local(iface, pkt, l2, eth_src, io),
            Verdict::Reply {
                out_if,
                next_hop,
                len,
            } => {
                let rlen = len;
                let (mac, port, vl) = if out_if == in_port {
                    (Some(eth_src), in_port, vlan)
                } else {
                    match self.neighbors.resolve(next_hop, now) {
                        Resolve::Ready(m) | Resolve::ReadyProbe(m) => (Some(m), out_if, None),
                        Resolve::Unresolved => (None, out_if, None),
                    }
                };
                io.free(pkt);
                let src_mac = snap.interfaces.get(port).map(|i| i.mac);
                if let (Some(mac), Some(src_mac)) = (mac, src_mac) {
                    let head = put_l2(&mut self.gen, mac, src_mac, vl);
                    let body = self.engine.reply_packet(rlen);
                    if head > 0 && head + body.len() <= self.gen.len() {
                        self.gen[head..head + body.len()].copy_from_slice(body);
                        let n = (head + body.len()).max(MIN_FRAME);
                        self.gen[head + body.len()..n].fill(0);
                        if !io.send_copy(port, &self.gen[..n]) {
                            self.count(DropReason::NoBuffer);
                        }
                    }
                }
                Outcome::Answered
            }
            Verdict::Forward { out_if, next_hop } => self.forward(
                snap, iface, pkt, l2, eth_src, vlan, saved, out_if, next_hop, now, io,
            ),
        }
    }

    /// ICMP echo requests to the router are answered in place; everything
    /// else goes to the exception path or is dropped.
    fn local(
        &mut self,
        iface: &Interface,
        mut pkt: P,
        l2: usize,
        eth_src: MacAddr,
        io: &mut impl Io<P>,
    ) -> Outcome {
        let frame = pkt.bytes_mut();
        match echo_reply_in_place(frame, l2) {
            Ok(true) => {
                set_macs(frame, eth_src, iface.mac);
                io.send(iface.index, pkt);
                Outcome::Sent(iface.index)
            }
            Ok(false) => self.local_other(pkt, io),
            Err(r) => self.drop_pkt(pkt, r, io),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        snap: &Snapshot,
        iface: &Interface,
        mut pkt: P,
        l2: usize,
        eth_src: MacAddr,
        vlan: Option<u16>,
        saved: bool,
        out_if: IfIndex,
        next_hop: Ipv4Addr,
        now: Instant,
        io: &mut impl Io<P>,
    ) -> Outcome {
        let Some(egress) = snap.interfaces.get(out_if) else {
            return self.drop_pkt(pkt, DropReason::NoRoute, io);
        };
        let frame = pkt.bytes_mut();
        let Some(ipbuf) = frame.get_mut(l2..) else {
            return self.drop_pkt(pkt, DropReason::Ipv4Truncated, io);
        };
        let (src_now, ttl, df, total) = {
            let ip = Ipv4Packet::new_unchecked(&ipbuf[..]);
            (
                ip.src_addr(),
                ip.ttl(),
                ip.dont_frag(),
                usize::from(ip.total_len()),
            )
        };
        let too_big = total > usize::from(egress.mtu);
        if ttl <= 1 || (too_big && df) {
            let (ty, code, rest, reason) = if ttl <= 1 {
                (
                    msg_type::TIME_EXCEEDED,
                    time_exceeded::TTL,
                    0,
                    DropReason::TtlExceeded,
                )
            } else {
                (
                    msg_type::DEST_UNREACHABLE,
                    unreachable::FRAG_NEEDED,
                    icmp::frag_needed_rest(egress.mtu),
                    DropReason::FragNeeded,
                )
            };
            // Quote what the sender sent when we kept it (see module docs).
            let (quote, to): (&[u8], Ipv4Addr) = if saved {
                let q = &self.orig.buf[..self.orig.len];
                let s = Ipv4Packet::new_checked(q).map_or(src_now, |p| p.src_addr());
                (q, s)
            } else {
                (ipbuf.get(..total).unwrap_or(&[]), src_now)
            };
            let built = build_error_frame(
                &mut self.gen,
                snap,
                iface.index,
                eth_src,
                vlan,
                to,
                quote,
                ty,
                code,
                rest,
            );
            if let Some(n) = built {
                if !io.send_copy(iface.index, &self.gen[..n]) {
                    self.count(DropReason::NoBuffer);
                }
            }
            return self.drop_pkt(pkt, reason, io);
        }
        Ipv4Packet::new_unchecked(&mut ipbuf[..]).decrement_ttl();
        // L2 source now; destination once the neighbour is known.
        set_macs(frame, MacAddr::ZERO, egress.mac);
        self.send_to_neighbor(pkt, egress, next_hop, now, io)
    }

    /// Sends `pkt` (L3 done) to `next_hop` on `egress`, or holds it while
    /// ARP resolves.
    fn send_to_neighbor(
        &mut self,
        pkt: P,
        egress: &Interface,
        next_hop: Ipv4Addr,
        now: Instant,
        io: &mut impl Io<P>,
    ) -> Outcome {
        let out_if = egress.index;
        match self.neighbors.resolve(next_hop, now) {
            Resolve::Ready(mac) => {
                transmit(pkt, egress, mac, &mut self.gen, self.engine.stats_mut(), io)
            }
            Resolve::ReadyProbe(mac) => {
                if let Ok(n) = arp::build_request_to(&mut self.gen, egress, next_hop, mac) {
                    if !io.send_copy(out_if, &self.gen[..n]) {
                        self.count(DropReason::NoBuffer);
                    }
                }
                transmit(pkt, egress, mac, &mut self.gen, self.engine.stats_mut(), io)
            }
            Resolve::Unresolved => match self.neighbors.hold(next_hop, out_if, pkt, now) {
                Hold::HeldRequest => {
                    if let Ok(n) = arp::build_request(&mut self.gen, egress, next_hop) {
                        if !io.send_copy(out_if, &self.gen[..n]) {
                            self.count(DropReason::NoBuffer);
                        }
                    }
                    Outcome::Held
                }
                Hold::Held => Outcome::Held,
                Hold::Dropped(p, r) => self.drop_pkt(p, r, io),
                Hold::Ready(p, mac) => {
                    transmit(p, egress, mac, &mut self.gen, self.engine.stats_mut(), io)
                }
            },
        }
    }

    /// Builds an ICMP error about `quote` back to `to` along the reverse L2
    /// path and sends it out of `in_port`.
    #[allow(clippy::too_many_arguments)]
    fn icmp_error(
        &mut self,
        in_port: u16,
        eth_src: MacAddr,
        vlan: Option<u16>,
        to: Ipv4Addr,
        quote: &[u8],
        ty: u8,
        code: u8,
        rest: u32,
        io: &mut impl Io<P>,
    ) {
        let snap = Arc::clone(&self.snap);
        if let Some(n) = build_error_frame(
            &mut self.gen,
            &snap,
            in_port,
            eth_src,
            vlan,
            to,
            quote,
            ty,
            code,
            rest,
        ) {
            if !io.send_copy(in_port, &self.gen[..n]) {
                self.count(DropReason::NoBuffer);
            }
        }
    }
}

/// An Ethernet + IPv4 + ICMP error frame in `gen` from the input interface
/// to `to` via `eth_dst`; `None` when RFC 1812 forbids an error (about an
/// ICMP error, a non-first fragment, a non-unicast source) or no address.
#[allow(clippy::too_many_arguments)]
fn build_error_frame(
    gen: &mut [u8],
    snap: &Snapshot,
    in_port: u16,
    eth_dst: MacAddr,
    vlan: Option<u16>,
    to: Ipv4Addr,
    quote: &[u8],
    ty: u8,
    code: u8,
    rest: u32,
) -> Option<usize> {
    let ifc = snap.interfaces.get(in_port)?;
    let from = ifc.addr_on_link(to).or_else(|| ifc.primary_addr())?;
    let head = put_l2(gen, eth_dst, ifc.mac, vlan);
    if head == 0 {
        return None;
    }
    let out = gen.get_mut(head..head + icmp::MAX_ERROR_LEN)?;
    let n = icmp::build_error(out, from, to, ty, code, rest, quote).ok()?;
    Some((head + n).max(MIN_FRAME))
}

/// Rewrites the destination MAC and sends `pkt` out of `egress`,
/// fragmenting it when it is larger than the egress MTU (DF clear: DF set
/// was answered with frag-needed before).
fn transmit<P: PacketBuf>(
    mut pkt: P,
    egress: &Interface,
    mac: MacAddr,
    gen: &mut [u8],
    stats: &mut WorkerStats,
    io: &mut impl Io<P>,
) -> Outcome {
    let frame = pkt.bytes_mut();
    set_macs(frame, mac, egress.mac);
    let (l2, vlan) = match EthernetFrame::new_checked(&frame[..]) {
        Ok(e) => (e.payload_offset(), e.vlan_tci()),
        Err(e) => {
            io.free(pkt);
            stats.drop(e.reason());
            return Outcome::Dropped(e.reason());
        }
    };
    let total = frame
        .get(l2..)
        .and_then(|b| Ipv4Packet::new_checked(b).ok())
        .map_or(0, |p| usize::from(p.total_len()));
    if total <= usize::from(egress.mtu) {
        io.send(egress.index, pkt);
        return Outcome::Sent(egress.index);
    }
    let head = put_l2(gen, mac, egress.mac, vlan);
    let mut nobuf = 0u64;
    let r = fragment::fragment(
        &frame[l2..l2 + total],
        usize::from(egress.mtu),
        gen,
        head,
        |f| {
            if f.len() < MIN_FRAME {
                // Fragments are at least 28 + 14 bytes; pad through a stack copy.
                let mut pad = [0u8; MIN_FRAME];
                pad[..f.len()].copy_from_slice(f);
                if !io.send_copy(egress.index, &pad) {
                    nobuf += 1;
                }
            } else if !io.send_copy(egress.index, f) {
                nobuf += 1;
            }
            true
        },
    );
    stats.drops[DropReason::NoBuffer as usize] += nobuf;
    io.free(pkt);
    match r {
        Ok(_) => Outcome::Sent(egress.index),
        Err(_) => {
            stats.drop(DropReason::FragNeeded);
            Outcome::Dropped(DropReason::FragNeeded)
        }
    }
}

/// Turns an ICMP echo request (IPv4 at `frame[l2..]`, already validated by
/// the engine) into the echo reply in place: addresses swapped, TTL 64,
/// type 0, both checksums updated. `Ok(false)`: not an echo request (or a
/// fragment of one, which is not reassembled).
fn echo_reply_in_place(frame: &mut [u8], l2: usize) -> Result<bool, DropReason> {
    let Some(ipbuf) = frame.get_mut(l2..) else {
        return Ok(false);
    };
    let Ok(ip) = Ipv4Packet::new_checked(&ipbuf[..]) else {
        return Ok(false);
    };
    if ip.protocol() != ip_proto::ICMP || ip.is_fragment() {
        return Ok(false);
    }
    let ihl = usize::from(ip.header_len());
    let total = usize::from(ip.total_len());
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let Some(msg) = ipbuf.get_mut(ihl..total) else {
        return Ok(false);
    };
    if msg.len() < icmp::field::HEADER_LEN || msg[icmp::field::TYPE] != msg_type::ECHO_REQUEST {
        return Ok(false);
    }
    if checksum::fold(checksum::sum(msg)) != 0xFFFF {
        return Err(DropReason::IcmpMalformed);
    }
    let code = msg[icmp::field::CODE];
    let old = u16::from_be_bytes([msg_type::ECHO_REQUEST, code]);
    let new = u16::from_be_bytes([msg_type::ECHO_REPLY, code]);
    let c = u16::from_be_bytes([msg[2], msg[3]]);
    let c = Delta::ZERO.replace16(old, new).apply(c);
    msg[icmp::field::TYPE] = msg_type::ECHO_REPLY;
    msg[icmp::field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    let mut ip = Ipv4Packet::new_unchecked(&mut ipbuf[..]);
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_ttl(REPLY_TTL);
    ip.fill_checksum();
    debug_assert!(ipf::MIN_HEADER_LEN <= ihl);
    Ok(true)
}
