//! UDP header (RFC 768).
//!
//! After [`UdpPacket::new_checked`] succeeds the buffer holds the 8-byte header
//! and `8 <= length field <= buffer`, so no accessor panics; the payload and
//! the checksum cover exactly the length field's bytes.
//!
//! N16: a checksum of 0 means "not computed" and is accepted as is; a
//! computed checksum of 0 is sent as 0xFFFF. Use
//! [`Delta::apply_udp`](super::checksum::Delta::apply_udp) for incremental
//! updates.

use super::checksum;
use super::{be16, ip_proto, put16, ParseError};
use std::net::Ipv4Addr;

/// Field offsets.
pub mod field {
    pub type Field = core::ops::Range<usize>;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const HEADER_LEN: usize = 8;
}

/// A view over a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checks.
    ///
    /// # Panics
    /// Accessors panic if the buffer is shorter than 8 bytes, and payload and
    /// checksum accessors if the length field is below 8 or beyond the buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a datagram after checking the header and length field.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < field::HEADER_LEN {
            return Err(ParseError::UdpTruncated);
        }
        let l = self.len() as usize;
        if l < field::HEADER_LEN {
            return Err(ParseError::UdpLengthTooSmall);
        }
        if l > b.len() {
            return Err(ParseError::UdpLengthBeyondBuffer);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// The length field (header + payload).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Payload, bounded by the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..self.len() as usize]
    }

    fn full_sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let l = self.len();
        checksum::pseudo_header_sum(src, dst, ip_proto::UDP, l)
            + checksum::sum(&self.buffer.as_ref()[..l as usize])
    }

    /// True if the checksum is absent (0) or verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::fold(self.full_sum(src, dst)) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.len() as usize;
        &mut self.buffer.as_mut()[field::HEADER_LEN..l]
    }

    /// Computes and writes the checksum; a computed 0 is written as 0xFFFF (N16).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = !checksum::fold(self.full_sum(src, dst));
        self.set_checksum(if c == 0 { 0xFFFF } else { c });
    }
}

/// An owned UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Parses a datagram and verifies a non-zero checksum against `src`/`dst`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &UdpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<Self, ParseError> {
        p.check_len()?;
        if !p.verify_checksum(src, dst) {
            return Err(ParseError::UdpBadChecksum);
        }
        let buf: &'a T = p.buffer;
        Ok(UdpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload: &AsRef::<[u8]>::as_ref(buf)[field::HEADER_LEN..p.len() as usize],
        })
    }

    pub const fn buffer_len(&self) -> usize {
        field::HEADER_LEN + self.payload.len()
    }

    /// Writes header and payload with a checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
        let len = self.buffer_len();
        let mut p = UdpPacket::new_unchecked(&mut buf[..len]);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(len as u16);
        p.payload_mut().copy_from_slice(self.payload);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::Delta;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 20);
    const DST: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

    /// DNS query for example.com A from port 54321 (checksum filled by fixture()).
    const DNS: [u8; 37] = [
        0xd4, 0x31, 0x00, 0x35, 0x00, 0x25, 0x00, 0x00, // header, checksum set below
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, b'e', b'x',
        b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    fn fixture() -> [u8; 37] {
        let mut b = DNS;
        UdpPacket::new_unchecked(&mut b[..]).fill_checksum(SRC, DST);
        b
    }

    #[test]
    fn parses_dns_query() {
        let b = fixture();
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 54321);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 37);
        assert_eq!(p.payload(), &DNS[8..]);
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(1, 1, 1, 1)));
        let r = UdpRepr::parse(&p, SRC, DST).unwrap();
        let mut out = [0u8; 37];
        r.emit(&mut out, SRC, DST);
        assert_eq!(out, b);
    }

    #[test]
    fn length_field_checks() {
        let b = fixture();
        let mut x = b;
        x[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&x[..]).unwrap_err(),
            ParseError::UdpLengthTooSmall
        );
        assert_eq!(
            UdpPacket::new_checked(&b[..36]).unwrap_err(),
            ParseError::UdpLengthBeyondBuffer
        );
        // Trailing bytes beyond the length field are not payload.
        let mut padded = [0u8; 40];
        padded[..37].copy_from_slice(&b);
        let p = UdpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 29);
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn truncation_never_panics() {
        let b = fixture();
        for n in 0..=b.len() {
            match UdpPacket::new_checked(&b[..n]) {
                Ok(p) => {
                    assert_eq!(n, b.len());
                    let _ = (p.payload(), p.verify_checksum(SRC, DST));
                }
                Err(e) => assert!(matches!(
                    e,
                    ParseError::UdpTruncated | ParseError::UdpLengthBeyondBuffer
                )),
            }
        }
    }

    #[test]
    fn n16_udp_zero_checksum_stays_zero() {
        let mut b = fixture();
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        p.set_checksum(0);
        assert!(p.verify_checksum(SRC, DST));
        // Rewrite the source port and address as a NAT would.
        let d = Delta::ZERO
            .replace_addr(SRC, Ipv4Addr::new(203, 0, 113, 1))
            .replace16(54321, 1024);
        p.set_src_port(1024);
        let c = d.apply_udp(p.checksum());
        p.set_checksum(c);
        assert_eq!(p.checksum(), 0);
        assert_eq!(&b[6..8], &[0, 0]);
    }

    #[test]
    fn n16_udp_computed_zero_sent_as_ffff() {
        // Choose payload bytes so that the full sum is 0xFFFF (checksum 0).
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&[0x00, 0x01, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00]);
        let partial = checksum::fold(
            checksum::pseudo_header_sum(SRC, DST, ip_proto::UDP, 10) + checksum::sum(&b[..8]),
        );
        b[8..].copy_from_slice(&(0xFFFF - partial).to_be_bytes());
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(SRC, DST);
        assert_eq!(p.checksum(), 0xFFFF);
        assert!(p.verify_checksum(SRC, DST));

        // And incrementally: a rewrite landing on computed 0 yields 0xFFFF.
        let mut b = fixture();
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        let before = p.checksum();
        // new port such that the updated checksum is 0: ~(~hc + ~old + new) = 0
        // => new = 0xFFFF - fold(~hc + ~old)
        let old = p.src_port();
        let s = checksum::fold((!before) as u32 + (!old) as u32);
        let new = 0xFFFF - s;
        let d = Delta::ZERO.replace16(old, new);
        assert_eq!(d.apply(before), 0);
        p.set_src_port(new);
        p.set_checksum(d.apply_udp(before));
        assert_eq!(p.checksum(), 0xFFFF);
        assert!(p.verify_checksum(SRC, DST));
    }
}
