//! Ethernet II frames with at most one 802.1Q VLAN tag.
//!
//! After [`EthernetFrame::new_checked`] succeeds the buffer holds the whole
//! header (14 bytes, or 18 when the outer EtherType is 0x8100), so no accessor
//! panics. [`EthernetFrame::ethertype`] and [`EthernetFrame::payload_offset`]
//! look through one VLAN tag; a second (QinQ) tag is reported as EtherType
//! 0x8100 and left to the caller.

use super::{be16, put16, ParseError};
use core::fmt;
use core::str::FromStr;

/// Field offsets.
pub mod field {
    pub type Field = core::ops::Range<usize>;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    /// Outer EtherType (or TPID 0x8100 when tagged).
    pub const ETHERTYPE: Field = 12..14;
    /// Tag control information (PCP, DEI, VLAN id) when tagged.
    pub const VLAN_TCI: Field = 14..16;
    /// Inner EtherType when tagged.
    pub const VLAN_ETHERTYPE: Field = 16..18;
    pub const HEADER_LEN: usize = 14;
    pub const VLAN_HEADER_LEN: usize = 18;
}

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xFF; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Copies from a slice.
    ///
    /// # Panics
    /// If `b` is not 6 bytes long.
    pub fn from_bytes(b: &[u8]) -> MacAddr {
        let mut a = [0u8; 6];
        a.copy_from_slice(b);
        MacAddr(a)
    }

    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set (includes broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a textual MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacParseError;

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a MAC address like 02:00:00:00:00:01")
    }
}

impl std::error::Error for MacParseError {}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Parses `aa:bb:cc:dd:ee:ff` (or `-` separated), case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            if n == 6 || part.len() != 2 {
                return Err(MacParseError);
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| MacParseError)?;
            n += 1;
        }
        if n != 6 {
            return Err(MacParseError);
        }
        Ok(MacAddr(out))
    }
}

/// An EtherType value; a newtype so unknown values round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: EtherType = EtherType(0x0800);
    pub const ARP: EtherType = EtherType(0x0806);
    pub const VLAN: EtherType = EtherType(0x8100);
    pub const IPV6: EtherType = EtherType(0x86DD);
}

/// A view over an Ethernet frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checks.
    ///
    /// # Panics
    /// Accessors panic if the buffer is shorter than the header; use
    /// [`new_checked`](Self::new_checked) on received frames.
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after checking it holds the full (possibly tagged) header.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks the lengths every accessor relies on.
    pub fn check_len(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < field::HEADER_LEN {
            return Err(ParseError::EthTruncated);
        }
        if be16(b, field::ETHERTYPE.start) == EtherType::VLAN.0 && b.len() < field::VLAN_HEADER_LEN
        {
            return Err(ParseError::EthVlanTruncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::DST])
    }

    pub fn src_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SRC])
    }

    /// True if the outer EtherType is the 802.1Q TPID.
    pub fn is_tagged(&self) -> bool {
        be16(self.buffer.as_ref(), field::ETHERTYPE.start) == EtherType::VLAN.0
    }

    /// The 12-bit VLAN id, if tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci().map(|t| t & 0x0FFF)
    }

    /// The whole tag control information (PCP, DEI, VID), if tagged.
    pub fn vlan_tci(&self) -> Option<u16> {
        if self.is_tagged() {
            Some(be16(self.buffer.as_ref(), field::VLAN_TCI.start))
        } else {
            None
        }
    }

    /// The payload's EtherType, looking through one VLAN tag.
    pub fn ethertype(&self) -> EtherType {
        let b = self.buffer.as_ref();
        if self.is_tagged() {
            EtherType(be16(b, field::VLAN_ETHERTYPE.start))
        } else {
            EtherType(be16(b, field::ETHERTYPE.start))
        }
    }

    /// Header length: 14, or 18 when tagged.
    pub fn payload_offset(&self) -> usize {
        if self.is_tagged() {
            field::VLAN_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_offset()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.0);
    }

    pub fn set_src_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.0);
    }

    /// Sets the payload EtherType (the inner one when tagged).
    pub fn set_ethertype(&mut self, t: EtherType) {
        let at = if self.is_tagged() {
            field::VLAN_ETHERTYPE.start
        } else {
            field::ETHERTYPE.start
        };
        put16(self.buffer.as_mut(), at, t.0);
    }

    /// Rewrites the tag control information of a tagged frame; false if untagged.
    pub fn set_vlan_tci(&mut self, tci: u16) -> bool {
        if !self.is_tagged() {
            return false;
        }
        put16(self.buffer.as_mut(), field::VLAN_TCI.start, tci);
        true
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let off = self.payload_offset();
        &mut self.buffer.as_mut()[off..]
    }
}

/// An owned Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    /// Tag control information when tagged.
    pub vlan_tci: Option<u16>,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<Self, ParseError> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src: frame.src_addr(),
            dst: frame.dst_addr(),
            vlan_tci: frame.vlan_tci(),
            ethertype: frame.ethertype(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        if self.vlan_tci.is_some() {
            field::VLAN_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    /// Writes the header.
    ///
    /// # Panics
    /// If the frame is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        let b = frame.buffer.as_mut();
        b[field::DST].copy_from_slice(&self.dst.0);
        b[field::SRC].copy_from_slice(&self.src.0);
        match self.vlan_tci {
            Some(tci) => {
                put16(b, field::ETHERTYPE.start, EtherType::VLAN.0);
                put16(b, field::VLAN_TCI.start, tci);
                put16(b, field::VLAN_ETHERTYPE.start, self.ethertype.0);
            }
            None => put16(b, field::ETHERTYPE.start, self.ethertype.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A tagged ARP request frame head: dst broadcast, src 52:54:00:12:34:56, VLAN 100, ARP.
    const TAGGED: [u8; 20] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x81, 0x00, 0x20,
        0x64, 0x08, 0x06, 0x00, 0x01,
    ];
    // Untagged IPv4 frame head.
    const PLAIN: [u8; 16] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45,
        0x00,
    ];

    #[test]
    fn parses_untagged() {
        let f = EthernetFrame::new_checked(&PLAIN[..]).unwrap();
        assert_eq!(f.dst_addr(), "02:00:00:00:00:01".parse().unwrap());
        assert_eq!(f.src_addr().to_string(), "02:00:00:00:00:02");
        assert_eq!(f.ethertype(), EtherType::IPV4);
        assert_eq!(f.vlan_id(), None);
        assert_eq!(f.payload_offset(), 14);
        assert_eq!(f.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn parses_one_vlan_tag() {
        let f = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert!(f.dst_addr().is_broadcast());
        assert!(f.is_tagged());
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.vlan_tci(), Some(0x2064));
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.payload_offset(), 18);
        assert_eq!(f.payload(), &[0x00, 0x01]);
    }

    #[test]
    fn truncation_never_panics() {
        for fixture in [&TAGGED[..], &PLAIN[..]] {
            for n in 0..=fixture.len() {
                match EthernetFrame::new_checked(&fixture[..n]) {
                    Ok(f) => {
                        let _ = (f.ethertype(), f.payload(), f.vlan_id(), f.src_addr());
                        assert!(n >= f.payload_offset());
                    }
                    Err(e) => assert!(matches!(
                        e,
                        ParseError::EthTruncated | ParseError::EthVlanTruncated
                    )),
                }
            }
        }
        assert_eq!(
            EthernetFrame::new_checked(&TAGGED[..16]).unwrap_err(),
            ParseError::EthVlanTruncated
        );
    }

    #[test]
    fn setters_and_repr_round_trip() {
        let mut buf = PLAIN;
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.set_dst_addr(MacAddr::BROADCAST);
        f.set_src_addr(MacAddr([2, 0, 0, 0, 0, 9]));
        f.set_ethertype(EtherType::ARP);
        assert!(!f.set_vlan_tci(5));
        assert_eq!(
            &buf[..14],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 9, 8, 6]
        );

        let r = EthernetRepr::parse(&EthernetFrame::new_checked(&TAGGED[..]).unwrap()).unwrap();
        assert_eq!(r.buffer_len(), 18);
        let mut out = [0u8; 18];
        r.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        assert_eq!(&out[..], &TAGGED[..18]);
    }

    #[test]
    fn mac_parse_and_flags() {
        assert_eq!(
            "AA-bb-cc-00-11-22".parse::<MacAddr>(),
            Ok(MacAddr([0xaa, 0xbb, 0xcc, 0, 0x11, 0x22]))
        );
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:f",
            "zz:bb:cc:dd:ee:ff",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        assert!(MacAddr([0x01, 0, 0x5e, 0, 0, 1]).is_multicast());
        assert!(MacAddr([0x02, 0, 0, 0, 0, 1]).is_unicast());
    }
}
