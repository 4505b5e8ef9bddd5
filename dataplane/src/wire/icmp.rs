//! ICMPv4 (RFC 792): echo queries, error messages and error generation.
//!
//! After [`IcmpPacket::new_checked`] succeeds the buffer holds the 8-byte
//! header, so no accessor panics. For error messages, [`IcmpPacket::data`] is
//! the quoted offending packet; [`IcmpPacket::embedded`] parses it as an IPv4
//! packet whose total length may exceed what was quoted.
//!
//! The ICMP checksum covers the ICMP message only: there is no pseudo-header
//! (N16), so rewriting the outer IP addresses never changes it; rewriting the
//! echo identifier or anything inside the quoted packet does.
//!
//! [`build_error`] writes a complete IPv4 + ICMP error following RFC 1812
//! 4.3.2: at most 576 bytes, quoting the offending IP header and as much
//! payload as fits, and refusing the cases of 4.3.2.7.

use super::checksum;
use super::ipv4::{self, Ipv4Packet};
use super::{be16, be32, ip_proto, put16, put32, ParseError};
use std::net::Ipv4Addr;

/// Field offsets.
pub mod field {
    pub type Field = core::ops::Range<usize>;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// The 4 type-specific bytes.
    pub const REST: Field = 4..8;
    /// Echo identifier (types 0 and 8).
    pub const ECHO_IDENT: Field = 4..6;
    /// Echo sequence number (types 0 and 8).
    pub const ECHO_SEQ: Field = 6..8;
    /// Parameter problem pointer (type 12).
    pub const POINTER: usize = 4;
    /// Next-hop MTU (type 3 code 4, RFC 1191).
    pub const NEXT_HOP_MTU: Field = 6..8;
    pub const DATA: usize = 8;
    pub const HEADER_LEN: usize = 8;
}

/// Message types.
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
}

/// Destination unreachable codes (type 3).
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; rest of header carries the next-hop MTU.
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (RFC 1812).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Time exceeded codes (type 11).
pub mod time_exceeded {
    pub const TTL: u8 = 0;
    pub const REASSEMBLY: u8 = 1;
}

/// Largest ICMP error datagram a router sends (RFC 1812 4.3.2.3).
pub const MAX_ERROR_LEN: usize = 576;

/// TTL of generated errors.
pub const ERROR_TTL: u8 = 64;

/// True for the error message types (3, 4, 5, 11, 12), which quote a packet.
pub const fn is_error_type(t: u8) -> bool {
    matches!(
        t,
        msg_type::DEST_UNREACHABLE
            | msg_type::SOURCE_QUENCH
            | msg_type::REDIRECT
            | msg_type::TIME_EXCEEDED
            | msg_type::PARAM_PROBLEM
    )
}

/// `rest_of_header` for destination unreachable / fragmentation needed.
pub const fn frag_needed_rest(next_hop_mtu: u16) -> u32 {
    next_hop_mtu as u32
}

/// `rest_of_header` for parameter problem pointing at byte `pointer`.
pub const fn param_problem_rest(pointer: u8) -> u32 {
    (pointer as u32) << 24
}

/// A view over an ICMP message.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps a buffer without checks.
    ///
    /// # Panics
    /// Accessors panic if the buffer is shorter than 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wraps a message after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < field::HEADER_LEN {
            return Err(ParseError::IcmpTruncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The 4 type-specific header bytes as a big-endian u32.
    pub fn rest_of_header(&self) -> u32 {
        be32(self.buffer.as_ref(), field::REST.start)
    }

    /// Echo identifier (meaningful for echo request/reply).
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo sequence number (meaningful for echo request/reply).
    pub fn echo_seq(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_SEQ.start)
    }

    /// Next-hop MTU of a fragmentation-needed error (0 from pre-RFC 1191 routers).
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), field::NEXT_HOP_MTU.start)
    }

    /// Parameter problem pointer.
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// True for error messages, which quote an offending packet in [`data`](Self::data).
    pub fn is_error(&self) -> bool {
        is_error_type(self.msg_type())
    }

    /// True for echo request or reply.
    pub fn is_echo(&self) -> bool {
        matches!(
            self.msg_type(),
            msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY
        )
    }

    /// Everything after the 8-byte header: echo data, or the quoted packet of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// The quoted offending IPv4 packet of an error message. Its total length
    /// may exceed what was quoted; its payload is cut at the buffer.
    pub fn embedded(&self) -> Result<Ipv4Packet<&[u8]>, ParseError> {
        Ipv4Packet::new_checked_quoted(self.data())
    }

    /// True if the ICMP checksum (no pseudo-header) verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    pub fn set_rest_of_header(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::REST.start, v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::ECHO_IDENT.start, v);
    }

    pub fn set_echo_seq(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::ECHO_SEQ.start, v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Mutable view of the quoted packet, to translate it (N12).
    pub fn embedded_mut(&mut self) -> Result<Ipv4Packet<&mut [u8]>, ParseError> {
        Ipv4Packet::new_checked_quoted(self.data_mut())
    }

    /// Recomputes the checksum over the whole message (no pseudo-header).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An owned ICMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpRepr<'a> {
    pub msg_type: u8,
    pub code: u8,
    pub rest_of_header: u32,
    pub data: &'a [u8],
}

impl<'a> IcmpRepr<'a> {
    pub const fn echo_request(ident: u16, seq: u16, data: &'a [u8]) -> Self {
        IcmpRepr {
            msg_type: msg_type::ECHO_REQUEST,
            code: 0,
            rest_of_header: (ident as u32) << 16 | seq as u32,
            data,
        }
    }

    pub const fn echo_reply(ident: u16, seq: u16, data: &'a [u8]) -> Self {
        IcmpRepr {
            msg_type: msg_type::ECHO_REPLY,
            code: 0,
            rest_of_header: (ident as u32) << 16 | seq as u32,
            data,
        }
    }

    /// Parses a message and verifies its checksum.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &IcmpPacket<&'a T>) -> Result<Self, ParseError> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(ParseError::IcmpBadChecksum);
        }
        let buf: &'a T = p.buffer;
        Ok(IcmpRepr {
            msg_type: p.msg_type(),
            code: p.code(),
            rest_of_header: p.rest_of_header(),
            data: &AsRef::<[u8]>::as_ref(buf)[field::DATA..],
        })
    }

    pub const fn buffer_len(&self) -> usize {
        field::HEADER_LEN + self.data.len()
    }

    /// Writes the message with its checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let mut p = IcmpPacket::new_unchecked(&mut buf[..len]);
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_rest_of_header(self.rest_of_header);
        p.data_mut().copy_from_slice(self.data);
        p.fill_checksum();
    }
}

/// Writes a complete IPv4 + ICMP error message about `offending` into `out`
/// and returns its length.
///
/// * Quotes the offending IP header (with options) and as much of its payload
///   as fits in [`MAX_ERROR_LEN`] bytes total (RFC 1812 4.3.2.3), and as fits
///   in `out`, which must hold at least the header and 8 payload bytes.
/// * IP header: no options, TTL [`ERROR_TTL`], DF clear, ident 0 (the
///   datagram never exceeds the 576-byte minimum MTU), precedence 6
///   (internetwork control) except source quench, which keeps the offending
///   packet's precedence (RFC 1812 4.3.2.5). Both checksums are filled.
/// * Refuses (RFC 1812 4.3.2.7): a type that is not an error, an offending
///   ICMP error, a non-initial fragment, a source that is not a single host,
///   a destination that is the limited broadcast, multicast or class E.
///   Directed broadcasts and link-layer broadcasts need interface knowledge
///   and are the caller's to check.
///
/// `rest_of_header` is the 4 type-specific bytes: see [`frag_needed_rest`] and
/// [`param_problem_rest`]; 0 for the others.
pub fn build_error(
    out: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest_of_header: u32,
    offending: &[u8],
) -> Result<usize, ParseError> {
    if !is_error_type(icmp_type) {
        return Err(ParseError::IcmpNotErrorType);
    }
    let orig = Ipv4Packet::new_checked(offending)?;
    if orig.frag_offset() != 0 {
        return Err(ParseError::IcmpErrorAboutFragment);
    }
    if ipv4::is_martian_source(orig.src_addr()) || orig.dst_addr().octets()[0] >= 224 {
        return Err(ParseError::IcmpErrorAboutNonUnicast);
    }
    if orig.protocol() == ip_proto::ICMP {
        let t = *orig.payload().first().ok_or(ParseError::IcmpTruncated)?;
        if is_error_type(t) {
            return Err(ParseError::IcmpErrorAboutIcmpError);
        }
    }

    const HDRS: usize = ipv4::field::MIN_HEADER_LEN + field::HEADER_LEN;
    let total = orig.total_len() as usize;
    let min_quote = total.min(orig.header_len() as usize + 8);
    if out.len() < HDRS + min_quote {
        return Err(ParseError::BufferTooSmall);
    }
    let quote = total.min(MAX_ERROR_LEN - HDRS).min(out.len() - HDRS);
    let len = HDRS + quote;
    let tos = if icmp_type == msg_type::SOURCE_QUENCH {
        orig.dscp_ecn() & 0xE0
    } else {
        0xC0
    };

    let (ip, icmp) = out[..len].split_at_mut(ipv4::field::MIN_HEADER_LEN);
    let mut p = Ipv4Packet::new_unchecked(ip);
    p.set_version_and_header_len(ipv4::field::MIN_HEADER_LEN as u8);
    p.set_dscp_ecn(tos);
    p.set_total_len(len as u16);
    p.set_ident(0);
    p.set_dont_frag(false);
    p.set_more_frags(false);
    p.set_frag_offset(0);
    p.set_ttl(ERROR_TTL);
    p.set_protocol(ip_proto::ICMP);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    p.fill_checksum();

    let mut m = IcmpPacket::new_unchecked(icmp);
    m.set_msg_type(icmp_type);
    m.set_code(code);
    m.set_rest_of_header(rest_of_header);
    m.data_mut().copy_from_slice(&offending[..quote]);
    m.fill_checksum();
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::Delta;
    use crate::wire::ipv4::Ipv4Repr;

    /// Echo request, ident 0x1a2b, seq 1, 8 data bytes (checksum filled by fixture()).
    const ECHO: [u8; 16] = [
        0x08, 0x00, 0x00, 0x00, 0x1a, 0x2b, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68,
    ];

    fn echo() -> [u8; 16] {
        let mut b = ECHO;
        IcmpPacket::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 1);
    const HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 20);
    const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// An IPv4/UDP packet of `payload` bytes from HOST to FAR.
    fn offending(payload: usize, buf: &mut [u8]) -> usize {
        let r = Ipv4Repr {
            src: HOST,
            dst: FAR,
            protocol: ip_proto::UDP,
            payload_len: payload as u16,
            ttl: 1,
            dscp_ecn: 0x28,
            ident: 0x4242,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        for (i, b) in buf[20..20 + payload].iter_mut().enumerate() {
            *b = i as u8;
        }
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        20 + payload
    }

    #[test]
    fn parses_echo() {
        let b = echo();
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.echo_ident(), 0x1a2b);
        assert_eq!(p.echo_seq(), 1);
        assert_eq!(p.rest_of_header(), 0x1a2b_0001);
        assert!(p.is_echo());
        assert!(!p.is_error());
        assert_eq!(p.data(), b"abcdefgh");
        assert!(p.verify_checksum());
        // Hand computed: words 0800 0000 1a2b 0001 6162 6364 6566 6768.
        assert_eq!(p.checksum(), 0x4c3e);
        let r = IcmpRepr::parse(&p).unwrap();
        assert_eq!(r, IcmpRepr::echo_request(0x1a2b, 1, b"abcdefgh"));
        let mut out = [0u8; 16];
        r.emit(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn truncation_never_panics() {
        let b = echo();
        for n in 0..=b.len() {
            match IcmpPacket::new_checked(&b[..n]) {
                Ok(p) => {
                    assert!(n >= 8);
                    let _ = (p.data(), p.echo_ident(), p.verify_checksum(), p.embedded());
                    let _ = IcmpRepr::parse(&p);
                }
                Err(e) => assert_eq!(e, ParseError::IcmpTruncated),
            }
        }
        // And for an error message whose quote is cut anywhere.
        let mut off = [0u8; 120];
        let n = offending(100, &mut off);
        let mut err = [0u8; 200];
        let len = build_error(&mut err, ROUTER, HOST, 11, 0, 0, &off[..n]).unwrap();
        let icmp = &err[20..len];
        for k in 0..=icmp.len() {
            if let Ok(p) = IcmpPacket::new_checked(&icmp[..k]) {
                if let Ok(e) = p.embedded() {
                    let _ = (e.payload(), e.src_addr(), e.total_len());
                }
            }
        }
    }

    #[test]
    fn n16_icmp_has_no_pseudo_header() {
        // The same echo message inside two IP packets with different addresses
        // has the same checksum, which verifies without any address input.
        let b = echo();
        let c = IcmpPacket::new_checked(&b[..]).unwrap().checksum();
        let mut pkt = [0u8; 36];
        pkt[20..].copy_from_slice(&b);
        for (s, d) in [(HOST, FAR), (Ipv4Addr::new(203, 0, 113, 1), FAR)] {
            let r = Ipv4Repr {
                src: s,
                dst: d,
                protocol: ip_proto::ICMP,
                payload_len: 16,
                ttl: 64,
                dscp_ecn: 0,
                ident: 1,
                dont_frag: false,
                more_frags: false,
                frag_offset: 0,
            };
            r.emit(&mut Ipv4Packet::new_unchecked(&mut pkt[..]));
            let ip = Ipv4Packet::new_checked(&pkt[..]).unwrap();
            let icmp = IcmpPacket::new_checked(ip.payload()).unwrap();
            assert_eq!(icmp.checksum(), c);
            assert!(icmp.verify_checksum());
        }
        // A NAT rewriting the echo ident updates the ICMP checksum by the ident
        // word alone; an address delta must not be applied.
        let mut b = echo();
        let mut p = IcmpPacket::new_checked(&mut b[..]).unwrap();
        let d = Delta::ZERO.replace16(0x1a2b, 0x0400);
        p.set_echo_ident(0x0400);
        let c2 = d.apply(p.checksum());
        p.set_checksum(c2);
        assert!(p.verify_checksum());
    }

    #[test]
    fn build_time_exceeded() {
        let mut off = [0u8; 1500];
        let n = offending(1000, &mut off);
        let mut out = [0u8; 1500];
        let len = build_error(
            &mut out,
            ROUTER,
            HOST,
            msg_type::TIME_EXCEEDED,
            time_exceeded::TTL,
            0,
            &off[..n],
        )
        .unwrap();
        assert_eq!(len, 576);
        let ip = Ipv4Packet::new_checked(&out[..len]).unwrap();
        assert_eq!(ip.validate_rfc1812(), Ok(()));
        assert_eq!(ip.total_len(), 576);
        assert_eq!(ip.ttl(), 64);
        assert!(!ip.dont_frag());
        assert_eq!(ip.dscp_ecn(), 0xC0);
        assert_eq!(ip.protocol(), ip_proto::ICMP);
        assert_eq!(ip.src_addr(), ROUTER);
        assert_eq!(ip.dst_addr(), HOST);
        let icmp = IcmpPacket::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert!(icmp.is_error());
        assert_eq!(
            (icmp.msg_type(), icmp.code(), icmp.rest_of_header()),
            (11, 0, 0)
        );
        assert_eq!(icmp.data(), &off[..548]);
        let e = icmp.embedded().unwrap();
        assert_eq!(e.total_len(), 1020);
        assert_eq!(e.src_addr(), HOST);
        assert_eq!(e.payload().len(), 528);
        assert!(e.verify_checksum());
    }

    #[test]
    fn build_frag_needed_small_packet_quotes_all() {
        let mut off = [0u8; 64];
        let n = offending(30, &mut off);
        let mut out = [0u8; 576];
        let len = build_error(
            &mut out,
            ROUTER,
            HOST,
            msg_type::DEST_UNREACHABLE,
            unreachable::FRAG_NEEDED,
            frag_needed_rest(1400),
            &off[..n],
        )
        .unwrap();
        assert_eq!(len, 28 + 50);
        let icmp = IcmpPacket::new_checked(&out[20..len]).unwrap();
        assert_eq!(icmp.next_hop_mtu(), 1400);
        assert_eq!(icmp.rest_of_header(), 1400);
        assert_eq!(icmp.data(), &off[..n]);
        assert!(icmp.verify_checksum());
        // Exact header bytes: 45 c0 004e 0000 0000 40 01 csum c0a85801 c0a85814.
        assert_eq!(
            &out[..10],
            &[0x45, 0xc0, 0x00, 0x4e, 0, 0, 0, 0, 0x40, 0x01]
        );
        assert_eq!(&out[12..20], &[192, 168, 88, 1, 192, 168, 88, 20]);
    }

    #[test]
    fn build_into_small_buffer_truncates_quote() {
        let mut off = [0u8; 200];
        let n = offending(150, &mut off);
        let mut out = [0u8; 100];
        let len = build_error(&mut out, ROUTER, HOST, 3, 13, 0, &off[..n]).unwrap();
        assert_eq!(len, 100);
        let mut tiny = [0u8; 55];
        assert_eq!(
            build_error(&mut tiny, ROUTER, HOST, 3, 13, 0, &off[..n]),
            Err(ParseError::BufferTooSmall)
        );
    }

    #[test]
    fn source_quench_keeps_precedence_and_param_problem_pointer() {
        let mut off = [0u8; 64];
        let n = offending(8, &mut off);
        off[1] = 0xA8;
        Ipv4Packet::new_unchecked(&mut off[..n]).fill_checksum();
        let mut out = [0u8; 576];
        let len = build_error(&mut out, ROUTER, HOST, 4, 0, 0, &off[..n]).unwrap();
        assert_eq!(out[1], 0xA0);
        assert_eq!(len, 56);
        let len = build_error(
            &mut out,
            ROUTER,
            HOST,
            12,
            0,
            param_problem_rest(9),
            &off[..n],
        )
        .unwrap();
        let icmp = IcmpPacket::new_checked(&out[20..len]).unwrap();
        assert_eq!(icmp.pointer(), 9);
    }

    #[test]
    fn build_refusals() {
        let mut out = [0u8; 576];
        let mut off = [0u8; 64];
        let n = offending(16, &mut off);
        assert_eq!(
            build_error(
                &mut out,
                ROUTER,
                HOST,
                msg_type::ECHO_REPLY,
                0,
                0,
                &off[..n]
            ),
            Err(ParseError::IcmpNotErrorType)
        );
        // Non-initial fragment.
        let mut f = off;
        let mut p = Ipv4Packet::new_unchecked(&mut f[..n]);
        p.set_frag_offset(8);
        p.fill_checksum();
        assert_eq!(
            build_error(&mut out, ROUTER, HOST, 11, 0, 0, &f[..n]),
            Err(ParseError::IcmpErrorAboutFragment)
        );
        // First fragment (MF set, offset 0) is fine.
        let mut f = off;
        Ipv4Packet::new_unchecked(&mut f[..n]).set_more_frags(true);
        assert!(build_error(&mut out, ROUTER, HOST, 11, 0, 0, &f[..n]).is_ok());
        // Multicast / broadcast destinations and martian sources.
        for (s, d) in [
            (HOST, Ipv4Addr::new(224, 0, 0, 251)),
            (HOST, Ipv4Addr::BROADCAST),
            (Ipv4Addr::UNSPECIFIED, FAR),
            (Ipv4Addr::new(127, 0, 0, 1), FAR),
        ] {
            let mut f = off;
            let mut p = Ipv4Packet::new_unchecked(&mut f[..n]);
            p.set_src_addr(s);
            p.set_dst_addr(d);
            assert_eq!(
                build_error(&mut out, ROUTER, HOST, 3, 1, 0, &f[..n]),
                Err(ParseError::IcmpErrorAboutNonUnicast)
            );
        }
        // ICMP error about an ICMP error is refused; about an echo it is allowed.
        let mut f = off;
        Ipv4Packet::new_unchecked(&mut f[..n]).set_protocol(ip_proto::ICMP);
        for (t, ok) in [
            (3u8, false),
            (11, false),
            (12, false),
            (5, false),
            (4, false),
            (8, true),
            (0, true),
        ] {
            f[20] = t;
            let r = build_error(&mut out, ROUTER, HOST, 11, 0, 0, &f[..n]);
            if ok {
                assert!(r.is_ok(), "{t}");
            } else {
                assert_eq!(r, Err(ParseError::IcmpErrorAboutIcmpError), "{t}");
            }
        }
        // Malformed offending packet.
        assert_eq!(
            build_error(&mut out, ROUTER, HOST, 11, 0, 0, &off[..10]),
            Err(ParseError::Ipv4Truncated)
        );
    }

    #[test]
    fn build_output_len_is_bounded_for_all_offending_sizes() {
        let mut off = vec![0u8; 1600];
        let mut out = [0u8; 1600];
        for payload in 0..1500 {
            let n = offending(payload, &mut off);
            let len = build_error(&mut out, ROUTER, HOST, 11, 0, 0, &off[..n]).unwrap();
            assert_eq!(len, (28 + n).min(576));
            let ip = Ipv4Packet::new_checked(&out[..len]).unwrap();
            assert!(ip.verify_checksum());
            assert!(IcmpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum());
        }
    }
}
