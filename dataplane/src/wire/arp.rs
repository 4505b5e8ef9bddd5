//! ARP for Ethernet/IPv4 only (RFC 826).
//!
//! [`ArpPacket::new_checked`] requires the full 28-byte packet *and* hardware
//! type 1, protocol type 0x0800, address lengths 6/4, so every accessor can
//! use fixed offsets and none panics afterwards. Other ARP flavours are
//! [`ParseError::ArpUnsupported`].

use super::ethernet::{EtherType, MacAddr};
use super::{be16, put16, ParseError};
use std::net::Ipv4Addr;

/// Field offsets (Ethernet/IPv4 layout).
pub mod field {
    pub type Field = core::ops::Range<usize>;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
    pub const PACKET_LEN: usize = 28;
}

/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    Request,
    Reply,
}

impl ArpOp {
    pub const fn from_u16(v: u16) -> Option<ArpOp> {
        match v {
            1 => Some(ArpOp::Request),
            2 => Some(ArpOp::Reply),
            _ => None,
        }
    }

    pub const fn to_u16(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        }
    }
}

/// A view over an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checks.
    ///
    /// # Panics
    /// Accessors panic if the buffer is shorter than 28 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer after checking length and the Ethernet/IPv4 address format.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    pub fn check(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < field::PACKET_LEN {
            return Err(ParseError::ArpTruncated);
        }
        if self.hardware_type() != HTYPE_ETHERNET
            || self.protocol_type() != EtherType::IPV4.0
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(ParseError::ArpUnsupported);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE.start)
    }

    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE.start)
    }

    /// Raw operation code.
    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER.start)
    }

    pub fn sender_hw_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    pub fn sender_proto_addr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SPA.start)
    }

    pub fn target_hw_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    pub fn target_proto_addr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::TPA.start)
    }
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the fixed Ethernet/IPv4 format fields (htype, ptype, hlen, plen).
    pub fn set_ethernet_ipv4_format(&mut self) {
        let b = self.buffer.as_mut();
        put16(b, field::HTYPE.start, HTYPE_ETHERNET);
        put16(b, field::PTYPE.start, EtherType::IPV4.0);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    pub fn set_operation(&mut self, op: u16) {
        put16(self.buffer.as_mut(), field::OPER.start, op);
    }

    pub fn set_sender_hw_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a.0);
    }

    pub fn set_sender_proto_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets());
    }

    pub fn set_target_hw_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a.0);
    }

    pub fn set_target_proto_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets());
    }
}

/// An owned Ethernet/IPv4 ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<Self, ParseError> {
        p.check()?;
        Ok(ArpRepr {
            op: ArpOp::from_u16(p.operation()).ok_or(ParseError::ArpBadOp)?,
            sender_mac: p.sender_hw_addr(),
            sender_ip: p.sender_proto_addr(),
            target_mac: p.target_hw_addr(),
            target_ip: p.target_proto_addr(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        field::PACKET_LEN
    }

    /// Writes the full 28-byte packet.
    ///
    /// # Panics
    /// If the buffer is shorter than 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ArpPacket<T>) {
        p.set_ethernet_ipv4_format();
        p.set_operation(self.op.to_u16());
        p.set_sender_hw_addr(self.sender_mac);
        p.set_sender_proto_addr(self.sender_ip);
        p.set_target_hw_addr(self.target_mac);
        p.set_target_proto_addr(self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // who-has 192.168.88.1 tell 192.168.88.20, from 52:54:00:12:34:56.
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0,
        0xa8, 0x58, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x58, 0x01,
    ];

    #[test]
    fn parses_request() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(
            r,
            ArpRepr {
                op: ArpOp::Request,
                sender_mac: MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
                sender_ip: Ipv4Addr::new(192, 168, 88, 20),
                target_mac: MacAddr::ZERO,
                target_ip: Ipv4Addr::new(192, 168, 88, 1),
            }
        );
    }

    #[test]
    fn emits_reply_bytes() {
        let r = ArpRepr {
            op: ArpOp::Reply,
            sender_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(192, 168, 88, 1),
            target_mac: MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            target_ip: Ipv4Addr::new(192, 168, 88, 20),
        };
        let mut out = [0u8; 28];
        r.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
        let expect: [u8; 28] = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
            0xc0, 0xa8, 0x58, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x58, 0x14,
        ];
        assert_eq!(out, expect);
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&out[..]).unwrap()),
            Ok(r)
        );
    }

    #[test]
    fn rejects_non_ethernet_ipv4_and_bad_op() {
        let mut b = REQUEST;
        b[5] = 16; // IPv6-sized protocol address
        assert_eq!(
            ArpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::ArpUnsupported
        );
        let mut b = REQUEST;
        b[1] = 6; // IEEE 802 hardware
        assert_eq!(
            ArpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::ArpUnsupported
        );
        let mut b = REQUEST;
        b[7] = 3; // RARP request
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap_err(), ParseError::ArpBadOp);
    }

    #[test]
    fn truncation_never_panics() {
        for n in 0..=REQUEST.len() {
            match ArpPacket::new_checked(&REQUEST[..n]) {
                Ok(p) => {
                    assert_eq!(n, 28);
                    let _ = ArpRepr::parse(&p).unwrap();
                }
                Err(e) => assert_eq!(e, ParseError::ArpTruncated),
            }
        }
    }
}
