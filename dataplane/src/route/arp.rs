//! ARP (RFC 826) for the router's own addresses.
//!
//! Policy:
//! - Requests are answered only for addresses configured on the interface the
//!   request arrived on (Linux `arp_ignore=1`); NAT pool addresses must be
//!   configured as interface addresses to be answered for.
//! - The sender mapping is *created* only from a request aimed at us (the
//!   requester is about to talk to us, RFC 826), and otherwise only
//!   *updated* (replies, gratuitous ARP, requests for other hosts), so
//!   unsolicited ARP cannot fill the table.
//! - Senders are learned only when on one of the interface's subnets, with a
//!   unicast MAC, and never when they claim one of our addresses.
//! - An ARP probe (sender 0.0.0.0, RFC 5227) for our address is answered, to
//!   defend it, and learns nothing.
//!
//! Frames built here are padded to the 60-byte Ethernet minimum (zero fill)
//! and keep the 802.1Q tag of the frame they answer.

use std::net::Ipv4Addr;

use super::neighbor::{Learn, NeighborTable};
use super::{IfIndex, Interface, Interfaces, MacAddr};
use crate::conntrack::Instant;
use crate::stats::DropReason;
use crate::wire::arp::{ArpOp, ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use crate::wire::ParseError;

/// Minimum Ethernet frame without FCS; shorter frames are zero padded.
pub const MIN_FRAME_LEN: usize = 60;
/// Output buffer size that fits every frame built here (tagged, padded).
pub const MAX_ARP_FRAME_LEN: usize = 64;

/// Why an ARP frame was not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpIgnore {
    /// Ethernet or ARP header invalid or not Ethernet/IPv4.
    Malformed(ParseError),
    /// EtherType is not ARP.
    NotArp,
    /// Input interface index unknown.
    UnknownInterface,
    /// Sender MAC is multicast or zero, or sender IP is not a host address.
    BadSender,
    /// Sender claims one of our addresses (address conflict).
    Conflict,
    /// Sender IP is not on any of the interface's subnets.
    SenderNotOnLink,
    /// A request for another host, or a reply about an unknown neighbour.
    NotForUs,
    /// `reply_out` cannot hold the reply.
    BufferTooSmall,
}

impl ArpIgnore {
    /// The counter the consumed frame is counted under.
    pub const fn reason(self) -> DropReason {
        match self {
            ArpIgnore::Malformed(e) => e.reason(),
            ArpIgnore::NotArp => DropReason::EthUnsupportedType,
            ArpIgnore::BufferTooSmall => DropReason::NoBuffer,
            ArpIgnore::UnknownInterface
            | ArpIgnore::BadSender
            | ArpIgnore::Conflict
            | ArpIgnore::SenderNotOnLink
            | ArpIgnore::NotForUs => DropReason::ArpIgnored,
        }
    }
}

/// Result of [`handle_arp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOutcome {
    /// A reply of `len` bytes is in `reply_out`: send it out of the input
    /// interface. `learn` says what happened to the sender's entry; on
    /// [`Learn::Resolved`] release its held packets.
    Reply {
        len: usize,
        sender: Ipv4Addr,
        learn: Learn,
    },
    /// The sender's existing entry was refreshed (release on [`Learn::Resolved`]).
    Learned { sender: Ipv4Addr, learn: Learn },
    /// Nothing to do; free the frame and count [`ArpIgnore::reason`].
    Ignored(ArpIgnore),
}

/// A validated ARP message and what the policy says to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpMessage {
    pub arp: ArpRepr,
    /// 802.1Q tag of the received frame, copied into the reply.
    pub vlan_tci: Option<u16>,
    /// A request for one of the input interface's addresses: answer it.
    pub answer: bool,
    /// The sender mapping may be learned (a valid on-link host, not a probe).
    /// Create an entry only if `answer`; otherwise only refresh one.
    pub learnable: bool,
}

/// Validates an ARP frame against the policy in the module docs, without
/// touching any table. [`handle_arp`] is this plus learning and the reply;
/// with several workers, the one that received the frame can hand the
/// learnable mapping to the others, which call
/// [`NeighborTable::learn`]`(sender_ip, sender_mac, in_if, now, false)`.
pub fn parse_arp(
    frame_in: &[u8],
    in_if: IfIndex,
    ifaces: &Interfaces,
) -> Result<ArpMessage, ArpIgnore> {
    let eth = EthernetFrame::new_checked(frame_in).map_err(ArpIgnore::Malformed)?;
    if eth.ethertype() != EtherType::ARP {
        return Err(ArpIgnore::NotArp);
    }
    let arp = ArpPacket::new_checked(eth.payload())
        .and_then(|p| ArpRepr::parse(&p))
        .map_err(ArpIgnore::Malformed)?;
    let iface = ifaces.get(in_if).ok_or(ArpIgnore::UnknownInterface)?;
    if arp.sender_mac == MacAddr::ZERO || arp.sender_mac.is_multicast() {
        return Err(ArpIgnore::BadSender);
    }
    let answer = arp.op == ArpOp::Request && iface.owns(arp.target_ip);
    let msg = ArpMessage {
        arp,
        vlan_tci: eth.vlan_tci(),
        answer,
        learnable: false,
    };
    if arp.sender_ip.is_unspecified() {
        // RFC 5227 probe: defend our address, learn nothing.
        return if answer {
            Ok(msg)
        } else {
            Err(ArpIgnore::NotForUs)
        };
    }
    if ifaces.is_local(arp.sender_ip) {
        return Err(ArpIgnore::Conflict);
    }
    if iface.addr_on_link(arp.sender_ip).is_none() {
        return Err(ArpIgnore::SenderNotOnLink);
    }
    if arp.sender_ip.is_broadcast()
        || iface
            .addrs
            .iter()
            .any(|c| c.is_network_or_broadcast(arp.sender_ip))
    {
        return Err(ArpIgnore::BadSender);
    }
    Ok(ArpMessage {
        learnable: true,
        ..msg
    })
}

/// Handles one received ARP frame (Ethernet header included).
pub fn handle_arp<T>(
    frame_in: &[u8],
    in_if: IfIndex,
    ifaces: &Interfaces,
    neighbors: &mut NeighborTable<T>,
    now: Instant,
    reply_out: &mut [u8],
) -> ArpOutcome {
    let m = match parse_arp(frame_in, in_if, ifaces) {
        Ok(m) => m,
        Err(e) => return ArpOutcome::Ignored(e),
    };
    let Some(iface) = ifaces.get(in_if) else {
        return ArpOutcome::Ignored(ArpIgnore::UnknownInterface);
    };
    if m.answer && reply_out.len() < frame_len(m.vlan_tci) {
        // Do not learn from a request we cannot answer: the peer retries.
        return ArpOutcome::Ignored(ArpIgnore::BufferTooSmall);
    }
    let sender = m.arp.sender_ip;
    let learn = if m.learnable {
        neighbors.learn(sender, m.arp.sender_mac, in_if, now, m.answer)
    } else {
        Learn::Ignored
    };
    if m.answer {
        return match emit_reply(reply_out, iface, &m.arp, m.vlan_tci) {
            Ok(len) => ArpOutcome::Reply { len, sender, learn },
            Err(_) => ArpOutcome::Ignored(ArpIgnore::BufferTooSmall),
        };
    }
    match learn {
        Learn::Updated | Learn::Resolved { .. } | Learn::Created => {
            ArpOutcome::Learned { sender, learn }
        }
        Learn::Ignored | Learn::TableFull => ArpOutcome::Ignored(ArpIgnore::NotForUs),
    }
}

fn frame_len(vlan_tci: Option<u16>) -> usize {
    let head = EthernetRepr {
        src: MacAddr::ZERO,
        dst: MacAddr::ZERO,
        vlan_tci,
        ethertype: EtherType::ARP,
    }
    .buffer_len();
    (head + crate::wire::arp::field::PACKET_LEN).max(MIN_FRAME_LEN)
}

/// Writes an Ethernet + ARP frame, zero padded to the minimum frame size.
fn emit(
    out: &mut [u8],
    eth_dst: MacAddr,
    src_mac: MacAddr,
    vlan_tci: Option<u16>,
    arp: &ArpRepr,
) -> Result<usize, ParseError> {
    let len = frame_len(vlan_tci);
    let Some(buf) = out.get_mut(..len) else {
        return Err(ParseError::BufferTooSmall);
    };
    buf.fill(0);
    let eth = EthernetRepr {
        src: src_mac,
        dst: eth_dst,
        vlan_tci,
        ethertype: EtherType::ARP,
    };
    let head = eth.buffer_len();
    eth.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    arp.emit(&mut ArpPacket::new_unchecked(&mut buf[head..]));
    Ok(len)
}

fn emit_reply(
    out: &mut [u8],
    iface: &Interface,
    req: &ArpRepr,
    vlan_tci: Option<u16>,
) -> Result<usize, ParseError> {
    emit(
        out,
        req.sender_mac,
        iface.mac,
        vlan_tci,
        &ArpRepr {
            op: ArpOp::Reply,
            sender_mac: iface.mac,
            sender_ip: req.target_ip,
            target_mac: req.sender_mac,
            target_ip: req.sender_ip,
        },
    )
}

/// Broadcast "who has `target_ip`" from `iface`, sent from our address on
/// the target's subnet (else the primary address, else 0.0.0.0).
pub fn build_request(
    out: &mut [u8],
    iface: &Interface,
    target_ip: Ipv4Addr,
) -> Result<usize, ParseError> {
    build_request_to(out, iface, target_ip, MacAddr::BROADCAST)
}

/// As [`build_request`], but sent to a known MAC (re-probing a stale
/// neighbour, RFC 1122 2.3.2.1) instead of broadcast.
pub fn build_request_to(
    out: &mut [u8],
    iface: &Interface,
    target_ip: Ipv4Addr,
    dst_mac: MacAddr,
) -> Result<usize, ParseError> {
    let sender_ip = iface
        .addr_on_link(target_ip)
        .or_else(|| iface.primary_addr())
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    emit(
        out,
        dst_mac,
        iface.mac,
        None,
        &ArpRepr {
            op: ArpOp::Request,
            sender_mac: iface.mac,
            sender_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        },
    )
}

/// Gratuitous ARP announcement of `addr` (RFC 5227 2.3: a broadcast request
/// with sender and target address both `addr`), sent when an address comes
/// up so neighbours and switches update their caches.
pub fn build_gratuitous(
    out: &mut [u8],
    iface: &Interface,
    addr: Ipv4Addr,
) -> Result<usize, ParseError> {
    emit(
        out,
        MacAddr::BROADCAST,
        iface.mac,
        None,
        &ArpRepr {
            op: ArpOp::Request,
            sender_mac: iface.mac,
            sender_ip: addr,
            target_mac: MacAddr::ZERO,
            target_ip: addr,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::neighbor::{NeighborConfig, NeighborState};
    use crate::route::Ipv4Cidr;

    const OUR_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
    const HOST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    fn ifaces() -> Interfaces {
        let mut b = Interfaces::builder();
        b.add(
            "lan",
            OUR_MAC,
            &[Ipv4Cidr::parse("192.168.88.1/24").unwrap()],
            1500,
            &[],
        )
        .unwrap();
        b.add(
            "wan",
            MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            &[Ipv4Cidr::parse("203.0.113.2/24").unwrap()],
            1500,
            &[],
        )
        .unwrap();
        b.build().unwrap()
    }

    fn table() -> NeighborTable<u32> {
        NeighborTable::new(NeighborConfig {
            capacity: 16,
            max_incomplete: 16,
            ..NeighborConfig::default()
        })
    }

    /// 192.168.88.10 (52:54:00:12:34:56) asks who has `target`.
    fn request(target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst broadcast
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // src
            0x08, 0x06, // ARP
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet/IPv4, 6/4
            0x00, 0x01, // request
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // sha
            192, 168, 88, 10, // spa
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha
        ];
        f.extend_from_slice(&target);
        f.extend_from_slice(&[0; 18]); // padding to 60
        f
    }

    #[test]
    fn request_for_our_address_gets_exact_reply_and_learns_sender() {
        let ifs = ifaces();
        let mut n = table();
        let mut out = [0xAAu8; MAX_ARP_FRAME_LEN];
        let o = handle_arp(
            &request([192, 168, 88, 1]),
            0,
            &ifs,
            &mut n,
            Instant(5),
            &mut out,
        );
        assert_eq!(
            o,
            ArpOutcome::Reply {
                len: 60,
                sender: Ipv4Addr::new(192, 168, 88, 10),
                learn: Learn::Created
            }
        );
        let mut want = vec![
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // dst: the requester
            0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src: us
            0x08, 0x06, //
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, //
            0x00, 0x02, // reply
            0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // sha: us
            192, 168, 88, 1, // spa: the asked address
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // tha
            192, 168, 88, 10, // tpa
        ];
        want.extend_from_slice(&[0; 18]);
        assert_eq!(&out[..60], &want[..]);
        assert_eq!(&out[60..], &[0xAA; 4], "nothing written past the frame");
        let e = n.get(Ipv4Addr::new(192, 168, 88, 10), Instant(5)).unwrap();
        assert_eq!(
            (e.mac, e.state, e.ifindex),
            (MacAddr(HOST_MAC), NeighborState::Reachable, 0)
        );
    }

    #[test]
    fn tagged_request_gets_tagged_reply() {
        let ifs = ifaces();
        let mut n = table();
        let untagged = request([192, 168, 88, 1]);
        let mut f = untagged[..12].to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x20, 0x64]); // PCP 1, VLAN 100
        f.extend_from_slice(&untagged[12..42]);
        let mut out = [0u8; MAX_ARP_FRAME_LEN];
        let o = handle_arp(&f, 0, &ifs, &mut n, Instant(0), &mut out);
        assert!(matches!(o, ArpOutcome::Reply { len: 60, .. }), "{o:?}");
        assert_eq!(&out[12..18], &[0x81, 0x00, 0x20, 0x64, 0x08, 0x06]);
        assert_eq!(&out[18 + 6..18 + 8], &[0x00, 0x02]);
        assert_eq!(&out[18 + 14..18 + 18], &[192, 168, 88, 1]);
        // A 4-byte-short buffer is refused without learning.
        let mut n2 = table();
        let mut small = [0u8; 59];
        assert_eq!(
            handle_arp(&f, 0, &ifs, &mut n2, Instant(0), &mut small),
            ArpOutcome::Ignored(ArpIgnore::BufferTooSmall)
        );
        assert!(n2.is_empty());
    }

    #[test]
    fn requests_for_others_or_wrong_interface_are_ignored() {
        let ifs = ifaces();
        let mut n = table();
        let mut out = [0u8; 64];
        assert_eq!(
            handle_arp(
                &request([192, 168, 88, 7]),
                0,
                &ifs,
                &mut n,
                Instant(0),
                &mut out
            ),
            ArpOutcome::Ignored(ArpIgnore::NotForUs)
        );
        // Our WAN address asked on the LAN: not answered there (arp_ignore=1),
        // and the LAN sender is off the WAN's subnets.
        assert_eq!(
            handle_arp(
                &request([203, 0, 113, 2]),
                0,
                &ifs,
                &mut n,
                Instant(0),
                &mut out
            ),
            ArpOutcome::Ignored(ArpIgnore::NotForUs)
        );
        assert_eq!(
            handle_arp(
                &request([203, 0, 113, 2]),
                1,
                &ifs,
                &mut n,
                Instant(0),
                &mut out
            ),
            ArpOutcome::Ignored(ArpIgnore::SenderNotOnLink)
        );
        assert_eq!(
            handle_arp(
                &request([192, 168, 88, 1]),
                9,
                &ifs,
                &mut n,
                Instant(0),
                &mut out
            ),
            ArpOutcome::Ignored(ArpIgnore::UnknownInterface)
        );
        assert!(n.is_empty(), "nothing learned");
        assert_eq!(ArpIgnore::NotForUs.reason(), DropReason::ArpIgnored);
    }

    #[test]
    fn request_for_other_host_refreshes_known_sender() {
        let ifs = ifaces();
        let mut n = table();
        n.learn(
            Ipv4Addr::new(192, 168, 88, 10),
            MacAddr([2, 9, 9, 9, 9, 9]),
            0,
            Instant(0),
            true,
        );
        let mut out = [0u8; 64];
        let o = handle_arp(
            &request([192, 168, 88, 7]),
            0,
            &ifs,
            &mut n,
            Instant(100),
            &mut out,
        );
        assert_eq!(
            o,
            ArpOutcome::Learned {
                sender: Ipv4Addr::new(192, 168, 88, 10),
                learn: Learn::Updated
            }
        );
        let e = n
            .get(Ipv4Addr::new(192, 168, 88, 10), Instant(100))
            .unwrap();
        assert_eq!((e.mac, e.updated_at), (MacAddr(HOST_MAC), Instant(100)));
    }

    fn reply_from(spa: [u8; 4], sha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
        let mut f = vec![];
        f.extend_from_slice(&OUR_MAC.0);
        f.extend_from_slice(&sha);
        f.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02]);
        f.extend_from_slice(&sha);
        f.extend_from_slice(&spa);
        f.extend_from_slice(&OUR_MAC.0);
        f.extend_from_slice(&tpa);
        f
    }

    #[test]
    fn reply_resolves_pending_neighbour_and_unsolicited_is_ignored() {
        let ifs = ifaces();
        let mut n = table();
        let gw = Ipv4Addr::new(203, 0, 113, 1);
        n.hold(gw, 1, 7, Instant(0));
        n.hold(gw, 1, 8, Instant(0));
        let mut out = [0u8; 64];
        let mac = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
        let o = handle_arp(
            &reply_from([203, 0, 113, 1], mac, [203, 0, 113, 2]),
            1,
            &ifs,
            &mut n,
            Instant(10),
            &mut out,
        );
        assert_eq!(
            o,
            ArpOutcome::Learned {
                sender: gw,
                learn: Learn::Resolved { held: 2 }
            }
        );
        let r = n.release(gw).unwrap();
        assert_eq!(r.mac(), MacAddr(mac));
        assert_eq!(r.collect::<Vec<_>>(), [7, 8]);
        // Unsolicited reply from an unknown host: not learned.
        assert_eq!(
            handle_arp(
                &reply_from([203, 0, 113, 9], mac, [203, 0, 113, 2]),
                1,
                &ifs,
                &mut n,
                Instant(10),
                &mut out
            ),
            ArpOutcome::Ignored(ArpIgnore::NotForUs)
        );
        assert!(n.get(Ipv4Addr::new(203, 0, 113, 9), Instant(10)).is_none());
    }

    #[test]
    fn bad_senders_and_conflicts_are_ignored() {
        let ifs = ifaces();
        let mut n = table();
        let mut out = [0u8; 64];
        let mut f = request([192, 168, 88, 1]);
        f[22] |= 1; // multicast sha
        assert_eq!(
            handle_arp(&f, 0, &ifs, &mut n, Instant(0), &mut out),
            ArpOutcome::Ignored(ArpIgnore::BadSender)
        );
        let mut f = request([192, 168, 88, 1]);
        f[28..32].copy_from_slice(&[192, 168, 88, 1]); // claims our address
        assert_eq!(
            handle_arp(&f, 0, &ifs, &mut n, Instant(0), &mut out),
            ArpOutcome::Ignored(ArpIgnore::Conflict)
        );
        let mut f = request([192, 168, 88, 1]);
        f[28..32].copy_from_slice(&[192, 168, 88, 255]);
        assert_eq!(
            handle_arp(&f, 0, &ifs, &mut n, Instant(0), &mut out),
            ArpOutcome::Ignored(ArpIgnore::BadSender)
        );
        let mut f = request([192, 168, 88, 1]);
        f[28..32].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(
            handle_arp(&f, 0, &ifs, &mut n, Instant(0), &mut out),
            ArpOutcome::Ignored(ArpIgnore::SenderNotOnLink)
        );
        assert!(n.is_empty());
    }

    #[test]
    fn probe_for_our_address_is_defended_without_learning() {
        let ifs = ifaces();
        let mut n = table();
        let mut f = request([192, 168, 88, 1]);
        f[28..32].copy_from_slice(&[0, 0, 0, 0]);
        let mut out = [0u8; 64];
        let o = handle_arp(&f, 0, &ifs, &mut n, Instant(0), &mut out);
        assert_eq!(
            o,
            ArpOutcome::Reply {
                len: 60,
                sender: Ipv4Addr::UNSPECIFIED,
                learn: Learn::Ignored
            }
        );
        assert_eq!(&out[38..42], &[0, 0, 0, 0], "reply targets 0.0.0.0");
        assert!(n.is_empty());
    }

    #[test]
    fn malformed_and_non_arp_frames() {
        let ifs = ifaces();
        let mut n = table();
        let mut out = [0u8; 64];
        let o = handle_arp(&[0u8; 10], 0, &ifs, &mut n, Instant(0), &mut out);
        assert_eq!(
            o,
            ArpOutcome::Ignored(ArpIgnore::Malformed(ParseError::EthTruncated))
        );
        assert_eq!(
            ArpIgnore::Malformed(ParseError::EthTruncated).reason(),
            DropReason::EthTruncated
        );
        let f = request([192, 168, 88, 1]);
        let o = handle_arp(&f[..40], 0, &ifs, &mut n, Instant(0), &mut out);
        assert_eq!(
            o,
            ArpOutcome::Ignored(ArpIgnore::Malformed(ParseError::ArpTruncated))
        );
        let mut g = f.clone();
        g[21] = 3; // RARP request
        let o = handle_arp(&g, 0, &ifs, &mut n, Instant(0), &mut out);
        assert_eq!(
            o,
            ArpOutcome::Ignored(ArpIgnore::Malformed(ParseError::ArpBadOp))
        );
        assert_eq!(
            ArpIgnore::Malformed(ParseError::ArpBadOp).reason(),
            DropReason::ArpMalformed
        );
        let mut g = f.clone();
        g[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(
            handle_arp(&g, 0, &ifs, &mut n, Instant(0), &mut out),
            ArpOutcome::Ignored(ArpIgnore::NotArp)
        );
        // Every truncation of a valid request is handled without panicking.
        for len in 0..f.len() {
            let _ = handle_arp(&f[..len], 0, &ifs, &mut n, Instant(0), &mut out);
        }
    }

    #[test]
    fn parse_arp_reports_policy_without_a_table() {
        let ifs = ifaces();
        let m = parse_arp(&request([192, 168, 88, 1]), 0, &ifs).unwrap();
        assert!(m.answer && m.learnable);
        assert_eq!(m.arp.sender_mac, MacAddr(HOST_MAC));
        assert_eq!(m.vlan_tci, None);
        let m = parse_arp(&request([192, 168, 88, 7]), 0, &ifs).unwrap();
        assert!(!m.answer && m.learnable);
        let mut probe = request([192, 168, 88, 1]);
        probe[28..32].fill(0);
        let m = parse_arp(&probe, 0, &ifs).unwrap();
        assert!(m.answer && !m.learnable);
    }

    proptest::proptest! {
        /// Arbitrary bytes behind a valid Ethernet/ARP prefix never panic,
        /// and a reply is only ever written for one of our addresses.
        #[test]
        fn arbitrary_arp_never_panics(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            keep_prefix in 0usize..23,
        ) {
            let ifs = ifaces();
            let mut n = table();
            let mut f = request([192, 168, 88, 1])[..keep_prefix].to_vec();
            f.extend_from_slice(&tail);
            let mut out = [0u8; MAX_ARP_FRAME_LEN];
            if let ArpOutcome::Reply { len, .. } = handle_arp(&f, 0, &ifs, &mut n, Instant(0), &mut out) {
                proptest::prop_assert!(len <= MAX_ARP_FRAME_LEN);
                let spa = Ipv4Addr::new(out[28], out[29], out[30], out[31]);
                let spa_tagged = Ipv4Addr::new(out[32], out[33], out[34], out[35]);
                proptest::prop_assert!(ifs.is_local(spa) || ifs.is_local(spa_tagged));
            }
        }
    }

    #[test]
    fn request_and_gratuitous_formats() {
        let ifs = ifaces();
        let wan = ifs.get(1).unwrap();
        let mut out = [0xAAu8; 64];
        let len = build_request(&mut out, wan, Ipv4Addr::new(203, 0, 113, 1)).unwrap();
        assert_eq!(len, 60);
        let mut want = vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, //
            0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 203, 0, 113, 2, //
            0, 0, 0, 0, 0, 0, 203, 0, 113, 1,
        ];
        want.extend_from_slice(&[0; 18]);
        assert_eq!(&out[..60], &want[..]);

        let len = build_request_to(
            &mut out,
            wan,
            Ipv4Addr::new(203, 0, 113, 1),
            MacAddr(HOST_MAC),
        )
        .unwrap();
        assert_eq!(len, 60);
        assert_eq!(&out[..6], &HOST_MAC);
        assert_eq!(&out[6..60], &want[6..]);

        let len = build_gratuitous(&mut out, wan, Ipv4Addr::new(203, 0, 113, 2)).unwrap();
        assert_eq!(len, 60);
        let mut want = vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, //
            0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 203, 0, 113, 2, //
            0, 0, 0, 0, 0, 0, 203, 0, 113, 2,
        ];
        want.extend_from_slice(&[0; 18]);
        assert_eq!(&out[..60], &want[..]);
        assert_eq!(
            build_gratuitous(&mut [0u8; 59], wan, Ipv4Addr::new(203, 0, 113, 2)),
            Err(ParseError::BufferTooSmall)
        );
    }

    #[test]
    fn request_source_follows_target_subnet() {
        let mut b = Interfaces::builder();
        b.add(
            "lan",
            OUR_MAC,
            &[
                Ipv4Cidr::parse("192.168.88.1/24").unwrap(),
                Ipv4Cidr::parse("10.0.0.1/24").unwrap(),
            ],
            1500,
            &[],
        )
        .unwrap();
        b.add("bare", MacAddr([2, 0, 0, 0, 0, 9]), &[], 1500, &[])
            .unwrap();
        let ifs = b.build().unwrap();
        let mut out = [0u8; 64];
        build_request(&mut out, ifs.get(0).unwrap(), Ipv4Addr::new(10, 0, 0, 9)).unwrap();
        assert_eq!(&out[28..32], &[10, 0, 0, 1]);
        build_request(&mut out, ifs.get(0).unwrap(), Ipv4Addr::new(172, 16, 0, 9)).unwrap();
        assert_eq!(&out[28..32], &[192, 168, 88, 1]);
        build_request(&mut out, ifs.get(1).unwrap(), Ipv4Addr::new(172, 16, 0, 9)).unwrap();
        assert_eq!(&out[28..32], &[0, 0, 0, 0]);
    }
}
