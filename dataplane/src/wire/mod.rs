//! Zero-copy, checked header views over byte slices, and checksum helpers.
//!
//! One file per protocol, smoltcp style. Each header has a view
//! `XxxPacket<T: AsRef<[u8]>>` over a plain byte slice (never an mbuf) and,
//! where building packets is useful, an owned `XxxRepr` with `parse`, `emit`
//! and `buffer_len`.
//!
//! # The view contract
//! * `new_unchecked(buf)` wraps anything. Accessors may panic if the buffer is
//!   too short; only use it on buffers you sized yourself (emit paths).
//! * `new_checked(buf)` validates every length the accessors depend on. **After
//!   `new_checked` succeeds, no getter, setter or payload accessor panics**,
//!   whatever the other bytes hold. The checked length fields themselves (IPv4
//!   IHL and total length, TCP data offset, UDP length) are the exception: a
//!   setter that changes one voids the check, so re-check before reading
//!   through the view again. Every failed check is its own [`ParseError`]
//!   variant, and [`ParseError::reason`] maps it onto the one metric label
//!   ([`DropReason`]) the packet is counted under.
//! * Views never allocate. Payload accessors are bounded by the header's own
//!   length field (IPv4 total length, UDP length), so link-layer padding is
//!   never treated as payload.
//!
//! Multi-byte fields are big-endian (network order) on the wire; accessors
//! return host values.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

use crate::stats::DropReason;
use core::fmt;

/// IPv4 protocol numbers the NAT understands (IANA "Assigned Internet Protocol Numbers").
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// Why a header failed validation. One variant per check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    // --- Ethernet ---
    /// Frame shorter than the 14-byte Ethernet header.
    EthTruncated,
    /// Frame carries an 802.1Q tag but is shorter than the 18-byte tagged header.
    EthVlanTruncated,
    // --- ARP ---
    /// Shorter than the 28-byte Ethernet/IPv4 ARP packet.
    ArpTruncated,
    /// Hardware/protocol type or address lengths are not Ethernet(1)/IPv4(0x0800)/6/4.
    ArpUnsupported,
    /// Operation is neither request (1) nor reply (2).
    ArpBadOp,
    // --- IPv4 (RFC 1812 5.2.2) ---
    /// Buffer shorter than the 20-byte minimum IPv4 header.
    Ipv4Truncated,
    /// Version field is not 4.
    Ipv4BadVersion,
    /// IHL below 5 (20 bytes).
    Ipv4HeaderLenTooSmall,
    /// IHL * 4 exceeds the buffer.
    Ipv4HeaderLenBeyondBuffer,
    /// Total length smaller than the header length.
    Ipv4TotalLenTooSmall,
    /// Total length exceeds the buffer (the packet was truncated in transit).
    Ipv4TotalLenBeyondBuffer,
    /// Header checksum does not verify.
    Ipv4BadChecksum,
    /// Source address does not name a single host (0/8, 127/8, 224/4, 240/4).
    Ipv4MartianSource,
    // --- TCP ---
    /// Segment shorter than the 20-byte minimum TCP header.
    TcpTruncated,
    /// Data offset below 5 (20 bytes).
    TcpDataOffsetTooSmall,
    /// Data offset * 4 exceeds the segment.
    TcpDataOffsetBeyondBuffer,
    /// TCP checksum (with pseudo-header) does not verify.
    TcpBadChecksum,
    // --- UDP ---
    /// Datagram shorter than the 8-byte UDP header.
    UdpTruncated,
    /// UDP length field below 8.
    UdpLengthTooSmall,
    /// UDP length field exceeds the buffer.
    UdpLengthBeyondBuffer,
    /// Non-zero UDP checksum does not verify.
    UdpBadChecksum,
    // --- ICMP ---
    /// Message shorter than the 8-byte ICMP header.
    IcmpTruncated,
    /// ICMP checksum does not verify.
    IcmpBadChecksum,
    // --- ICMP error generation refusals (RFC 1812 4.3.2.7) ---
    /// Asked to build an ICMP error with a type that is not an error type.
    IcmpNotErrorType,
    /// The offending packet is itself an ICMP error; never answer an error with an error.
    IcmpErrorAboutIcmpError,
    /// The offending packet is a non-initial fragment.
    IcmpErrorAboutFragment,
    /// The offending packet's source is not a single host, or its destination is
    /// the limited broadcast or a multicast address.
    IcmpErrorAboutNonUnicast,
    /// The output buffer cannot hold the error packet with at least the quoted
    /// IP header and 8 bytes of its payload.
    BufferTooSmall,
}

impl ParseError {
    /// The drop counter this failure is counted under.
    ///
    /// The ICMP error generation refusals are not drops of their own: the
    /// offending packet is already dropped for its own reason (TTL, MTU) and the
    /// caller normally counts that. They map to the closest label in case a
    /// caller propagates them.
    pub const fn reason(self) -> DropReason {
        match self {
            ParseError::EthTruncated | ParseError::EthVlanTruncated => DropReason::EthTruncated,
            ParseError::ArpTruncated | ParseError::ArpUnsupported | ParseError::ArpBadOp => {
                DropReason::ArpMalformed
            }
            ParseError::Ipv4Truncated | ParseError::Ipv4TotalLenBeyondBuffer => {
                DropReason::Ipv4Truncated
            }
            ParseError::Ipv4BadVersion => DropReason::Ipv4BadVersion,
            ParseError::Ipv4HeaderLenTooSmall | ParseError::Ipv4HeaderLenBeyondBuffer => {
                DropReason::Ipv4BadHeaderLen
            }
            ParseError::Ipv4TotalLenTooSmall => DropReason::Ipv4BadTotalLen,
            ParseError::Ipv4BadChecksum => DropReason::Ipv4BadChecksum,
            ParseError::Ipv4MartianSource => DropReason::Ipv4MartianSource,
            ParseError::TcpTruncated
            | ParseError::TcpDataOffsetTooSmall
            | ParseError::TcpDataOffsetBeyondBuffer
            | ParseError::TcpBadChecksum => DropReason::TcpMalformed,
            ParseError::UdpTruncated
            | ParseError::UdpLengthTooSmall
            | ParseError::UdpLengthBeyondBuffer
            | ParseError::UdpBadChecksum => DropReason::UdpMalformed,
            ParseError::IcmpTruncated | ParseError::IcmpBadChecksum => DropReason::IcmpMalformed,
            ParseError::IcmpNotErrorType | ParseError::IcmpErrorAboutIcmpError => {
                DropReason::IcmpUnsupportedType
            }
            ParseError::IcmpErrorAboutFragment => DropReason::FragmentMalformed,
            ParseError::IcmpErrorAboutNonUnicast => DropReason::Ipv4MartianSource,
            ParseError::BufferTooSmall => DropReason::NoBuffer,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ParseError::EthTruncated => "ethernet frame shorter than 14 bytes",
            ParseError::EthVlanTruncated => "802.1Q tagged frame shorter than 18 bytes",
            ParseError::ArpTruncated => "ARP packet shorter than 28 bytes",
            ParseError::ArpUnsupported => "ARP is not Ethernet/IPv4",
            ParseError::ArpBadOp => "ARP operation is neither request nor reply",
            ParseError::Ipv4Truncated => "IPv4 packet shorter than 20 bytes",
            ParseError::Ipv4BadVersion => "IP version is not 4",
            ParseError::Ipv4HeaderLenTooSmall => "IPv4 IHL below 5",
            ParseError::Ipv4HeaderLenBeyondBuffer => "IPv4 header length exceeds buffer",
            ParseError::Ipv4TotalLenTooSmall => "IPv4 total length below header length",
            ParseError::Ipv4TotalLenBeyondBuffer => "IPv4 total length exceeds buffer",
            ParseError::Ipv4BadChecksum => "IPv4 header checksum mismatch",
            ParseError::Ipv4MartianSource => "IPv4 source is not a single host",
            ParseError::TcpTruncated => "TCP segment shorter than 20 bytes",
            ParseError::TcpDataOffsetTooSmall => "TCP data offset below 5",
            ParseError::TcpDataOffsetBeyondBuffer => "TCP data offset exceeds segment",
            ParseError::TcpBadChecksum => "TCP checksum mismatch",
            ParseError::UdpTruncated => "UDP datagram shorter than 8 bytes",
            ParseError::UdpLengthTooSmall => "UDP length below 8",
            ParseError::UdpLengthBeyondBuffer => "UDP length exceeds buffer",
            ParseError::UdpBadChecksum => "UDP checksum mismatch",
            ParseError::IcmpTruncated => "ICMP message shorter than 8 bytes",
            ParseError::IcmpBadChecksum => "ICMP checksum mismatch",
            ParseError::IcmpNotErrorType => "ICMP type is not an error type",
            ParseError::IcmpErrorAboutIcmpError => "refusing ICMP error about an ICMP error",
            ParseError::IcmpErrorAboutFragment => {
                "refusing ICMP error about a non-initial fragment"
            }
            ParseError::IcmpErrorAboutNonUnicast => {
                "refusing ICMP error about a non-unicast packet"
            }
            ParseError::BufferTooSmall => "output buffer too small",
        };
        f.write_str(s)
    }
}

impl std::error::Error for ParseError {}

/// Source and destination port of a TCP or UDP header, from its first 4
/// bytes only. For the L4 header quoted in an ICMP error, which is often just
/// 8 bytes long and so too short for the TCP/UDP views.
pub fn l4_ports(l4: &[u8]) -> Option<(u16, u16)> {
    match l4 {
        [a, b, c, d, ..] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
        _ => None,
    }
}

/// Writes the ports of a (possibly truncated) TCP/UDP header; false if shorter than 4 bytes.
/// Checksums are the caller's to patch.
pub fn set_l4_ports(l4: &mut [u8], src: u16, dst: u16) -> bool {
    match l4 {
        [a, b, c, d, ..] => {
            [*a, *b] = src.to_be_bytes();
            [*c, *d] = dst.to_be_bytes();
            true
        }
        _ => false,
    }
}

/// Reads a big-endian u16 at `at`. Callers guarantee the bounds (checked views).
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_reason_and_message() {
        let all = [
            ParseError::EthTruncated,
            ParseError::ArpUnsupported,
            ParseError::Ipv4TotalLenBeyondBuffer,
            ParseError::TcpBadChecksum,
            ParseError::UdpLengthTooSmall,
            ParseError::IcmpTruncated,
            ParseError::BufferTooSmall,
        ];
        assert_eq!(all[0].reason(), DropReason::EthTruncated);
        assert_eq!(all[2].reason(), DropReason::Ipv4Truncated);
        assert_eq!(all[3].reason(), DropReason::TcpMalformed);
        assert_eq!(all[4].reason(), DropReason::UdpMalformed);
        assert_eq!(all[5].reason(), DropReason::IcmpMalformed);
        assert_eq!(all[6].reason(), DropReason::NoBuffer);
        for e in all {
            assert!(!e.to_string().is_empty());
        }
        assert_eq!(
            ParseError::Ipv4HeaderLenTooSmall.reason(),
            DropReason::Ipv4BadHeaderLen
        );
        assert_eq!(
            ParseError::Ipv4TotalLenTooSmall.reason(),
            DropReason::Ipv4BadTotalLen
        );
    }

    #[test]
    fn l4_ports_on_short_headers() {
        assert_eq!(l4_ports(&[0x9c, 0x40, 0x82, 0x9a]), Some((40000, 33434)));
        assert_eq!(l4_ports(&[0x9c, 0x40, 0x82]), None);
        let mut b = [0u8; 8];
        assert!(set_l4_ports(&mut b, 1024, 53));
        assert_eq!(b, [0x04, 0x00, 0x00, 0x35, 0, 0, 0, 0]);
        assert!(!set_l4_ports(&mut b[..3], 1, 2));
    }
}
