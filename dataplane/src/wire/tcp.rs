//! TCP header (RFC 9293) with options and MSS clamping.
//!
//! The view covers the whole segment: header, options and payload (pass the
//! IPv4 payload, which is already bounded by the IP total length). After
//! [`TcpPacket::new_checked`] succeeds the buffer holds at least 20 bytes and
//! the data offset is within `5..=len/4`, so no accessor panics. Option
//! parsing is defensive: a malformed option list simply has no MSS.
//!
//! Checksums include the IPv4 pseudo-header, so address rewrites must update
//! them (see [`super::checksum::Delta`]).

use super::checksum::{self, Delta};
use super::{be16, be32, ip_proto, put16, put32, ParseError};
use std::net::Ipv4Addr;

/// Field offsets.
pub mod field {
    pub type Field = core::ops::Range<usize>;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data offset in the high nibble.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    pub const OPTIONS: usize = 20;
    pub const MIN_HEADER_LEN: usize = 20;
}

/// TCP flag bits of byte 13, as returned by [`TcpPacket::flags`].
#[derive(Debug, Clone, Copy)]
pub struct TcpFlags;

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Option kinds.
pub mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const MSS_LEN: u8 = 4;
}

/// A view over a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checks.
    ///
    /// # Panics
    /// Accessors panic if the buffer is shorter than 20 bytes or the data
    /// offset points beyond it.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a segment after checking the header and data offset fit.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < field::MIN_HEADER_LEN {
            return Err(ParseError::TcpTruncated);
        }
        let hl = self.header_len() as usize;
        if hl < field::MIN_HEADER_LEN {
            return Err(ParseError::TcpDataOffsetTooSmall);
        }
        if hl > b.len() {
            return Err(ParseError::TcpDataOffsetBeyondBuffer);
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

    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Header length in bytes (data offset * 4), including options.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// Flag byte; test with [`TcpFlags`] constants.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// Options bytes between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len() as usize]
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..]
    }

    /// Offset within the segment of the MSS option's 16-bit value, if present
    /// and well-formed. Walks the option list; stops at END or a bad length.
    pub fn mss_value_offset(&self) -> Option<usize> {
        let opts = self.options();
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                option::END => return None,
                option::NOP => i += 1,
                kind => {
                    let len = *opts.get(i + 1)? as usize;
                    if len < 2 || i + len > opts.len() {
                        return None;
                    }
                    if kind == option::MSS {
                        if len != option::MSS_LEN as usize {
                            return None;
                        }
                        return Some(field::OPTIONS + i + 2);
                    }
                    i += len;
                }
            }
        }
        None
    }

    /// The MSS option value, if present.
    pub fn mss(&self) -> Option<u16> {
        self.mss_value_offset()
            .map(|at| be16(self.buffer.as_ref(), at))
    }

    /// Pseudo-header sum for this segment's length.
    fn pseudo(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        // Lengths beyond u16 cannot occur inside an IPv4 packet.
        checksum::pseudo_header_sum(src, dst, ip_proto::TCP, self.buffer.as_ref().len() as u16)
    }

    /// True if the checksum over pseudo-header + segment verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let s = self.pseudo(src, dst) + checksum::sum(self.buffer.as_ref());
        checksum::fold(s) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    pub fn set_seq_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SEQ_NUM.start, v);
    }

    pub fn set_ack_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::ACK_NUM.start, v);
    }

    /// Sets the data offset from a header length in bytes (multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, bytes: u8) {
        let b = self.buffer.as_mut();
        b[field::DATA_OFF] = ((bytes / 4) << 4) | (b[field::DATA_OFF] & 0x0F);
    }

    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }

    pub fn set_window(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::WIN_SIZE.start, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    pub fn set_urgent(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::URGENT.start, v);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len() as usize;
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len() as usize;
        &mut self.buffer.as_mut()[hl..]
    }

    /// Recomputes the checksum over pseudo-header + whole segment.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let s = self.pseudo(src, dst) + checksum::sum(self.buffer.as_ref());
        self.set_checksum(!checksum::fold(s));
    }

    /// Lowers the MSS option to `max` if it is larger, patching the checksum
    /// incrementally. Returns the original MSS when it was changed.
    ///
    /// The option may sit at an odd offset (after a NOP); a 16-bit value at an
    /// odd offset contributes to the ones-complement sum byte-swapped, so the
    /// delta is computed on swapped values there.
    pub fn clamp_mss(&mut self, max: u16) -> Option<u16> {
        let at = self.mss_value_offset()?;
        let old = be16(self.buffer.as_ref(), at);
        if old <= max {
            return None;
        }
        let d = if at % 2 == 0 {
            Delta::ZERO.replace16(old, max)
        } else {
            Delta::ZERO.replace16(old.swap_bytes(), max.swap_bytes())
        };
        let c = d.apply(self.checksum());
        put16(self.buffer.as_mut(), at, max);
        self.set_checksum(c);
        Some(old)
    }
}

/// An owned TCP segment (only the MSS option is represented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub mss: Option<u16>,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a segment and verifies its checksum against `src`/`dst`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &TcpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<Self, ParseError> {
        p.check_len()?;
        if !p.verify_checksum(src, dst) {
            return Err(ParseError::TcpBadChecksum);
        }
        let buf: &'a T = p.buffer;
        let payload = &AsRef::<[u8]>::as_ref(buf)[p.header_len() as usize..];
        Ok(TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            flags: p.flags(),
            window: p.window(),
            urgent: p.urgent(),
            mss: p.mss(),
            payload,
        })
    }

    pub const fn header_len(&self) -> usize {
        field::MIN_HEADER_LEN + if self.mss.is_some() { 4 } else { 0 }
    }

    /// Header, options and payload.
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the segment (`buffer_len()` bytes) with a correct checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
        let len = self.buffer_len();
        let hl = self.header_len();
        let mut p = TcpPacket::new_unchecked(&mut buf[..len]);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq);
        p.set_ack_number(self.ack);
        p.buffer[field::DATA_OFF] = 0;
        p.set_header_len(hl as u8);
        p.set_flags(self.flags);
        p.set_window(self.window);
        p.set_urgent(self.urgent);
        if let Some(mss) = self.mss {
            let o = p.options_mut();
            o[0] = option::MSS;
            o[1] = option::MSS_LEN;
            o[2..4].copy_from_slice(&mss.to_be_bytes());
        }
        p.payload_mut().copy_from_slice(self.payload);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 20);
    const DST: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);

    /// SYN 192.168.88.20:51234 -> 93.184.216.34:443 with options
    /// MSS 1460, SACK permitted, timestamps, NOP, window scale 7 (Linux style).
    const SYN: [u8; 40] = [
        0xc8, 0x22, 0x01, 0xbb, 0x3a, 0x1d, 0x6e, 0x01, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, // header, checksum filled by fixture()
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x9a, 0x3c, 0x41, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    fn fixture() -> [u8; 40] {
        let mut b = SYN;
        TcpPacket::new_unchecked(&mut b[..]).fill_checksum(SRC, DST);
        b
    }

    #[test]
    fn parses_syn() {
        let b = fixture();
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 51234);
        assert_eq!(p.dst_port(), 443);
        assert_eq!(p.seq_number(), 0x3a1d6e01);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!(p.window(), 64240);
        assert_eq!(p.mss(), Some(1460));
        assert_eq!(p.mss_value_offset(), Some(22));
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(Ipv4Addr::new(192, 168, 88, 21), DST));
    }

    #[test]
    fn clamp_mss_even_offset_matches_full_recompute() {
        let mut b = fixture();
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.clamp_mss(1500), None);
        assert_eq!(p.clamp_mss(1452), Some(1460));
        assert_eq!(p.mss(), Some(1452));
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn clamp_mss_odd_offset_matches_full_recompute() {
        // NOP, MSS 1460, NOP, NOP, NOP: MSS value at odd offset 23.
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&SYN[..20]);
        b[12] = 0x70;
        b[20..28].copy_from_slice(&[0x01, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x01]);
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(SRC, DST);
        assert_eq!(p.mss_value_offset(), Some(23));
        assert_eq!(p.clamp_mss(1200), Some(1460));
        assert_eq!(p.mss(), Some(1200));
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn malformed_options_have_no_mss() {
        for opts in [
            [0x00, 0x02, 0x04, 0x05, 0xb4, 0x00, 0x00, 0x00], // END first
            [0x08, 0x01, 0x02, 0x04, 0x05, 0xb4, 0x00, 0x00], // length 1
            [0x08, 0x0a, 0x02, 0x04, 0x05, 0xb4, 0x00, 0x00], // length past the end
            [0x02, 0x03, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01], // MSS with length 3
            [0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02], // kind with no length byte
        ] {
            let mut b = [0u8; 28];
            b[..20].copy_from_slice(&SYN[..20]);
            b[12] = 0x70;
            b[20..].copy_from_slice(&opts);
            let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
            assert_eq!(p.mss(), None, "{opts:?}");
            assert_eq!(p.clamp_mss(536), None);
        }
    }

    #[test]
    fn data_offset_checks() {
        let b = fixture();
        let mut x = b;
        x[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&x[..]).unwrap_err(),
            ParseError::TcpDataOffsetTooSmall
        );
        assert_eq!(
            TcpPacket::new_checked(&b[..36]).unwrap_err(),
            ParseError::TcpDataOffsetBeyondBuffer
        );
        assert_eq!(
            TcpPacket::new_checked(&b[..19]).unwrap_err(),
            ParseError::TcpTruncated
        );
    }

    #[test]
    fn truncation_never_panics() {
        let b = fixture();
        let mut data = [0u8; 45];
        data[..40].copy_from_slice(&b);
        data[40..].copy_from_slice(b"hello");
        for fixture in [&b[..], &data[..]] {
            for n in 0..=fixture.len() {
                match TcpPacket::new_checked(&fixture[..n]) {
                    Ok(p) => {
                        assert!(n >= 40);
                        let _ = (p.mss(), p.options(), p.payload(), p.flags());
                        let _ = TcpRepr::parse(&p, SRC, DST);
                    }
                    Err(e) => assert!(matches!(
                        e,
                        ParseError::TcpTruncated | ParseError::TcpDataOffsetBeyondBuffer
                    )),
                }
            }
        }
    }

    #[test]
    fn repr_round_trip() {
        let r = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 1,
            ack: 2,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 502,
            urgent: 0,
            mss: None,
            payload: b"GET / HTTP/1.0\r\n\r\n",
        };
        let mut out = [0u8; 64];
        let n = r.buffer_len();
        r.emit(&mut out, SRC, DST);
        let p = TcpPacket::new_checked(&out[..n]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(TcpRepr::parse(&p, SRC, DST), Ok(r));
        // Changing one payload byte breaks the checksum.
        out[30] ^= 0x20;
        let p = TcpPacket::new_checked(&out[..n]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST),
            Err(ParseError::TcpBadChecksum)
        );
    }
}
