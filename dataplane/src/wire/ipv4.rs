//! IPv4 header (RFC 791), with options and fragment fields.
//!
//! [`Ipv4Packet::new_checked`] performs the RFC 1812 5.2.2 structural checks:
//! buffer >= 20 bytes, version 4, IHL >= 5, IHL*4 <= buffer, total length >=
//! IHL*4 and total length <= buffer. The header checksum is verified
//! separately ([`Ipv4Packet::verify_checksum`], or
//! [`Ipv4Packet::validate_rfc1812`] which also rejects martian sources), so a
//! forwarding path can choose where to spend the cycles.
//!
//! [`Ipv4Packet::new_checked_quoted`] is the same minus "total length <=
//! buffer", for the packet quoted inside an ICMP error, which is truncated by
//! design.
//!
//! After either constructor succeeds no accessor panics: the header (with
//! options) is inside the buffer, and [`Ipv4Packet::payload`] is
//! `header_len..min(total_len, buffer len)`, so Ethernet padding is never
//! payload.

use super::checksum;
use super::{be16, put16, ParseError};
use std::net::Ipv4Addr;

/// Field offsets.
pub mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    /// Options start here when IHL > 5.
    pub const OPTIONS: usize = 20;
    pub const MIN_HEADER_LEN: usize = 20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1FFF;

/// True if `a` cannot be the source of a packet from a single host
/// (RFC 1812 4.2.2.11 / 5.3.7): 0/8, 127/8, multicast 224/4 and class E
/// 240/4 (which includes the limited broadcast).
pub const fn is_martian_source(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0 || o[0] == 127 || o[0] >= 224
}

/// A view over an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checks.
    ///
    /// # Panics
    /// Accessors panic if the buffer is shorter than the header (IHL*4) or,
    /// for payload accessors, if IHL*4 exceeds total length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a received packet after the RFC 1812 5.2.2 length/version checks.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_header()?;
        if p.total_len() as usize > p.buffer.as_ref().len() {
            return Err(ParseError::Ipv4TotalLenBeyondBuffer);
        }
        Ok(p)
    }

    /// Like [`new_checked`](Self::new_checked) but accepts a total length beyond
    /// the buffer: for the truncated packet quoted in an ICMP error.
    pub fn new_checked_quoted(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_header()?;
        Ok(p)
    }

    fn check_header(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < field::MIN_HEADER_LEN {
            return Err(ParseError::Ipv4Truncated);
        }
        if self.version() != 4 {
            return Err(ParseError::Ipv4BadVersion);
        }
        let hl = self.header_len() as usize;
        if hl < field::MIN_HEADER_LEN {
            return Err(ParseError::Ipv4HeaderLenTooSmall);
        }
        if hl > b.len() {
            return Err(ParseError::Ipv4HeaderLenBeyondBuffer);
        }
        if (self.total_len() as usize) < hl {
            return Err(ParseError::Ipv4TotalLenTooSmall);
        }
        Ok(())
    }

    /// Header checksum, then martian source (the checks `new_checked` leaves out).
    pub fn validate_rfc1812(&self) -> Result<(), ParseError> {
        if !self.verify_checksum() {
            return Err(ParseError::Ipv4BadChecksum);
        }
        if is_martian_source(self.src_addr()) {
            return Err(ParseError::Ipv4MartianSource);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The underlying buffer (including any bytes beyond total length).
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), including options.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }

    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }

    fn flg_off(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    pub fn dont_frag(&self) -> bool {
        self.flg_off() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flg_off() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & OFFSET_MASK) << 3
    }

    /// True for any fragment (MF set or offset non-zero).
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (FLAG_MF | OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Options bytes (empty when IHL = 5).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len() as usize]
    }

    /// The header including options.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len() as usize]
    }

    /// True if the header checksum (over IHL*4 bytes) is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.header())) == 0xFFFF
    }

    fn payload_end(&self) -> usize {
        (self.total_len() as usize).min(self.buffer.as_ref().len())
    }

    /// Payload, bounded by total length (and the buffer, for quoted packets).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..self.payload_end()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version 4 and the header length in bytes (multiple of 4, 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: u8) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) & 0x0F);
    }

    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT.start, v);
    }

    fn set_flg_off(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    pub fn set_dont_frag(&mut self, v: bool) {
        let f = self.flg_off() & !FLAG_DF;
        self.set_flg_off(if v { f | FLAG_DF } else { f });
    }

    pub fn set_more_frags(&mut self, v: bool) {
        let f = self.flg_off() & !FLAG_MF;
        self.set_flg_off(if v { f | FLAG_MF } else { f });
    }

    /// Sets the fragment offset in bytes (rounded down to a multiple of 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let f = self.flg_off() & !OFFSET_MASK;
        self.set_flg_off(f | ((bytes >> 3) & OFFSET_MASK));
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Decrements TTL and patches the checksum incrementally (RFC 1624; the
    /// TTL shares its 16-bit word with the protocol). Returns the new TTL;
    /// a TTL of 0 is left alone.
    pub fn decrement_ttl(&mut self) -> u8 {
        let ttl = self.ttl();
        if ttl == 0 {
            return 0;
        }
        let proto = self.protocol() as u16;
        let old = (ttl as u16) << 8 | proto;
        let new = ((ttl - 1) as u16) << 8 | proto;
        let c = checksum::Delta::ZERO
            .replace16(old, new)
            .apply(self.checksum());
        self.set_ttl(ttl - 1);
        self.set_checksum(c);
        ttl - 1
    }

    /// Recomputes the header checksum over IHL*4 bytes.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len() as usize;
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }

    /// Mutable payload, bounded like [`payload`](Ipv4Packet::payload).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len() as usize;
        let end = self.payload_end();
        &mut self.buffer.as_mut()[hl..end]
    }

    /// The header and the payload, split so both can be borrowed mutably at once
    /// (e.g. rewrite addresses in the header and ports in the payload).
    pub fn split_header_payload_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let hl = self.header_len() as usize;
        let end = self.payload_end();
        let (h, rest) = self.buffer.as_mut()[..end].split_at_mut(hl);
        (h, rest)
    }
}

/// An owned IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// Payload length (total length minus header length).
    pub payload_len: u16,
    pub ttl: u8,
    pub dscp_ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in bytes; a multiple of 8.
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Parses a checked packet and verifies its header checksum. Options are
    /// skipped (not represented).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Self, ParseError> {
        p.check_header()?;
        if !p.verify_checksum() {
            return Err(ParseError::Ipv4BadChecksum);
        }
        Ok(Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.total_len() - p.header_len() as u16,
            ttl: p.ttl(),
            dscp_ecn: p.dscp_ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
        })
    }

    /// Header length written by [`emit`](Self::emit): 20.
    pub const fn buffer_len(&self) -> usize {
        field::MIN_HEADER_LEN
    }

    /// Writes a 20-byte header with a correct checksum. The payload is not touched.
    ///
    /// # Panics
    /// If the buffer is shorter than 20 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ipv4Packet<T>) {
        p.set_version_and_header_len(field::MIN_HEADER_LEN as u8);
        p.set_dscp_ecn(self.dscp_ecn);
        p.set_total_len(
            self.payload_len
                .saturating_add(field::MIN_HEADER_LEN as u16),
        );
        p.set_ident(self.ident);
        let mut f = (self.frag_offset >> 3) & OFFSET_MASK;
        if self.dont_frag {
            f |= FLAG_DF;
        }
        if self.more_frags {
            f |= FLAG_MF;
        }
        p.set_flg_off(f);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 192.168.88.20 -> 8.8.8.8 UDP/53 query, DF, TTL 64, with 2 bytes of Ethernet padding.
    pub(crate) const UDP_DNS: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x58,
        0x14, 0x08, 0x08, 0x08, 0x08, // header (checksum filled in by fixture())
        0xd4, 0x31, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, // UDP
        0xaa, 0xbb, // padding
    ];

    fn fixture() -> [u8; 30] {
        let mut b = UDP_DNS;
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    /// Header with a 4-byte option (router alert), IHL 6.
    const WITH_OPTIONS: [u8; 28] = [
        0x46, 0xc0, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x2b, 0x49, 0xc0, 0xa8, 0x58,
        0x14, 0xe0, 0x00, 0x00, 0x16, 0x94, 0x04, 0x00, 0x00, 0x22, 0x00, 0xf9, 0x02,
    ];

    #[test]
    fn known_checksum() {
        let b = fixture();
        // Worked by hand: the words sum to 0x20a3f, folded 0x0a41, complemented 0xf5be.
        assert_eq!(&b[10..12], &[0xf5, 0xbe]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.validate_rfc1812(), Ok(()));
    }

    #[test]
    fn parses_fields() {
        let b = fixture();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), super::super::ip_proto::UDP);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 88, 20));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(8, 8, 8, 8));
        // Padding is not payload.
        assert_eq!(p.payload(), &UDP_DNS[20..28]);
        assert!(p.options().is_empty());
    }

    #[test]
    fn parses_options() {
        let p = Ipv4Packet::new_checked(&WITH_OPTIONS[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload(), &[0x22, 0x00, 0xf9, 0x02]);
        assert!(p.verify_checksum());
        assert_eq!(p.dst_addr(), Ipv4Addr::new(224, 0, 0, 22));
        let mut b = WITH_OPTIONS;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.options_mut()[2] = 1;
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
    }

    #[test]
    fn rfc1812_checks_each_have_a_variant() {
        let good = fixture();
        let mut b = good;
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::Ipv4BadVersion
        );
        let mut b = good;
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::Ipv4HeaderLenTooSmall
        );
        let mut b = good;
        b[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::Ipv4HeaderLenBeyondBuffer
        );
        let mut b = good;
        b[3] = 19;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::Ipv4TotalLenTooSmall
        );
        let mut b = good;
        b[3] = 31;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::Ipv4TotalLenBeyondBuffer
        );
        // ... which the quoted constructor accepts, with payload cut at the buffer.
        let q = Ipv4Packet::new_checked_quoted(&b[..]).unwrap();
        assert_eq!(q.payload().len(), 10);
        let mut b = good;
        b[11] ^= 1;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.validate_rfc1812(), Err(ParseError::Ipv4BadChecksum));
        assert_eq!(Ipv4Repr::parse(&p), Err(ParseError::Ipv4BadChecksum));
        let mut b = good;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_addr(Ipv4Addr::new(127, 0, 0, 1));
        p.fill_checksum();
        assert_eq!(p.validate_rfc1812(), Err(ParseError::Ipv4MartianSource));
    }

    #[test]
    fn martian_sources() {
        for a in [
            [0, 0, 0, 0],
            [0, 1, 2, 3],
            [127, 0, 0, 1],
            [224, 0, 0, 1],
            [240, 0, 0, 1],
            [255; 4],
        ] {
            assert!(is_martian_source(Ipv4Addr::from(a)), "{a:?}");
        }
        for a in [[10, 0, 0, 1], [192, 168, 88, 20], [223, 255, 255, 254]] {
            assert!(!is_martian_source(Ipv4Addr::from(a)), "{a:?}");
        }
    }

    #[test]
    fn truncation_never_panics() {
        let good = fixture();
        for fixture in [&good[..28], &WITH_OPTIONS[..]] {
            for n in 0..=fixture.len() {
                for quoted in [false, true] {
                    let r = if quoted {
                        Ipv4Packet::new_checked_quoted(&fixture[..n])
                    } else {
                        Ipv4Packet::new_checked(&fixture[..n])
                    };
                    match r {
                        Ok(p) => {
                            assert!(quoted || n == fixture.len());
                            let _ = (p.payload(), p.options(), p.verify_checksum(), p.src_addr());
                            let _ = Ipv4Repr::parse(&p);
                        }
                        Err(e) => assert!(
                            matches!(
                                e,
                                ParseError::Ipv4Truncated
                                    | ParseError::Ipv4HeaderLenBeyondBuffer
                                    | ParseError::Ipv4TotalLenBeyondBuffer
                            ),
                            "{n} {e:?}"
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn fragment_fields_and_setters() {
        let mut b = fixture();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_dont_frag(false);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        assert!(!p.dont_frag());
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.is_fragment());
        assert_eq!(&b[6..8], &[0x20, 0xb9]);
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_more_frags(false);
        assert!(p.is_fragment());
        p.set_frag_offset(0);
        assert!(!p.is_fragment());
    }

    #[test]
    fn decrement_ttl_matches_full_recompute() {
        let mut b = fixture();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.decrement_ttl(), 63);
        let c = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), c);
    }

    #[test]
    fn repr_round_trip_bytes() {
        let b = fixture();
        let r = Ipv4Repr::parse(&Ipv4Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.payload_len, 8);
        let mut out = [0u8; 28];
        out[20..].copy_from_slice(&b[20..28]);
        r.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(&out[..], &b[..28]);
    }
}
