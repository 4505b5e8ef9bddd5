//! Minimum-size test packets, written in place with correct checksums.
//!
//! A 64-byte Ethernet frame on the wire is 60 bytes in the mbuf (the NIC
//! adds the 4-byte FCS): 14 bytes of Ethernet, 46 bytes of IPv4. UDP carries
//! 18 bytes of payload, TCP (no options) 6.

use dataplane::wire::checksum;
use dataplane::wire::ip_proto;
use std::net::Ipv4Addr;

/// Ethernet header length (untagged).
pub const ETH_LEN: usize = 14;
/// IPv4 packet length inside a 64-byte frame.
pub const IP_LEN: usize = 46;
/// Frame length without FCS.
pub const FRAME_LEN: usize = ETH_LEN + IP_LEN;
/// UDP payload bytes in a 64-byte frame.
pub const UDP_PAYLOAD: usize = IP_LEN - 20 - 8;
/// TCP payload bytes in a 64-byte frame (no options).
pub const TCP_PAYLOAD: usize = IP_LEN - 20 - 20;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_ACK: u8 = 0x10;

mod field {
    pub const IP_TOTAL_LEN: usize = 2;
    pub const IP_IDENT: usize = 4;
    pub const IP_TTL: usize = 8;
    pub const IP_PROTO: usize = 9;
    pub const IP_CSUM: usize = 10;
    pub const IP_SRC: usize = 12;
    pub const IP_DST: usize = 16;
    pub const L4_SPORT: usize = 0;
    pub const L4_DPORT: usize = 2;
    pub const UDP_LEN: usize = 4;
    pub const UDP_CSUM: usize = 6;
    pub const TCP_SEQ: usize = 4;
    pub const TCP_ACK: usize = 8;
    pub const TCP_OFF: usize = 12;
    pub const TCP_FLAGS: usize = 13;
    pub const TCP_WIN: usize = 14;
    pub const TCP_CSUM: usize = 16;
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// IPv4 header (no options, TTL 64, DF clear) for an L4 segment of
/// `l4_len` bytes that is already at `b[20..]`.
fn ipv4_header(b: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4_len: usize) {
    b[0] = 0x45;
    b[1] = 0;
    put16(b, field::IP_TOTAL_LEN, (20 + l4_len) as u16);
    put16(b, field::IP_IDENT, 0x1234);
    put16(b, 6, 0);
    b[field::IP_TTL] = 64;
    b[field::IP_PROTO] = proto;
    put16(b, field::IP_CSUM, 0);
    b[field::IP_SRC..field::IP_SRC + 4].copy_from_slice(&src.octets());
    b[field::IP_DST..field::IP_DST + 4].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&b[..20]);
    put16(b, field::IP_CSUM, c);
}

fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, seg: &[u8]) -> u16 {
    let s = checksum::pseudo_header_sum(src, dst, proto, seg.len() as u16) + checksum::sum(seg);
    !checksum::fold(s)
}

/// Writes a 46-byte IPv4/UDP packet into `b[..IP_LEN]` with `payload`
/// (up to [`UDP_PAYLOAD`] bytes; the rest is zero).
///
/// # Panics
/// If `b` is shorter than [`IP_LEN`] (a sizing bug in the caller).
pub fn write_udp(
    b: &mut [u8],
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
) {
    let b = &mut b[..IP_LEN];
    let seg = &mut b[20..];
    put16(seg, field::L4_SPORT, sport);
    put16(seg, field::L4_DPORT, dport);
    put16(seg, field::UDP_LEN, (8 + UDP_PAYLOAD) as u16);
    put16(seg, field::UDP_CSUM, 0);
    let n = payload.len().min(UDP_PAYLOAD);
    seg[8..8 + n].copy_from_slice(&payload[..n]);
    seg[8 + n..].fill(0);
    let mut c = l4_checksum(src, dst, ip_proto::UDP, seg);
    if c == 0 {
        c = 0xffff;
    }
    put16(seg, field::UDP_CSUM, c);
    ipv4_header(b, src, dst, ip_proto::UDP, 8 + UDP_PAYLOAD);
}

/// Writes a 46-byte IPv4/TCP packet into `b[..IP_LEN]`.
///
/// # Panics
/// If `b` is shorter than [`IP_LEN`].
#[allow(clippy::too_many_arguments)]
pub fn write_tcp(
    b: &mut [u8],
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
) {
    let b = &mut b[..IP_LEN];
    let seg = &mut b[20..];
    put16(seg, field::L4_SPORT, sport);
    put16(seg, field::L4_DPORT, dport);
    put32(seg, field::TCP_SEQ, seq);
    put32(seg, field::TCP_ACK, ack);
    seg[field::TCP_OFF] = 5 << 4;
    seg[field::TCP_FLAGS] = flags;
    put16(seg, field::TCP_WIN, 65535);
    put16(seg, field::TCP_CSUM, 0);
    put16(seg, 18, 0);
    seg[20..].fill(0xab);
    let c = l4_checksum(src, dst, ip_proto::TCP, seg);
    put16(seg, field::TCP_CSUM, c);
    ipv4_header(b, src, dst, ip_proto::TCP, 20 + TCP_PAYLOAD);
}

/// Writes an untagged IPv4 Ethernet header into `b[..ETH_LEN]`.
pub fn write_eth(b: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    b[0..6].copy_from_slice(&dst);
    b[6..12].copy_from_slice(&src);
    put16(b, 12, 0x0800);
}

/// Source address and port of an IPv4/TCP-or-UDP packet (no validation:
/// for packets this module or the engine wrote).
pub fn src_endpoint(ip: &[u8]) -> (Ipv4Addr, u16) {
    let a = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    (a, u16::from_be_bytes([ip[ihl], ip[ihl + 1]]))
}

/// Destination address and port (as [`src_endpoint`]).
pub fn dst_endpoint(ip: &[u8]) -> (Ipv4Addr, u16) {
    let a = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    (a, u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]))
}

/// True if the IPv4 header checksum and the TCP/UDP checksum verify by full
/// recomputation (UDP checksum 0 accepted).
pub fn checksums_ok(ip: &[u8]) -> bool {
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if checksum::checksum(&ip[..ihl]) != 0 {
        return false;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let seg = &ip[ihl..total];
    let proto = ip[9];
    if proto == ip_proto::UDP && seg[6..8] == [0, 0] {
        return true;
    }
    let s = checksum::pseudo_header_sum(src, dst, proto, seg.len() as u16) + checksum::sum(seg);
    checksum::fold(s) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::wire::ipv4::Ipv4Packet;
    use dataplane::wire::tcp::TcpPacket;
    use dataplane::wire::udp::UdpPacket;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    #[test]
    fn udp_is_valid_and_minimum_size() {
        let mut b = [0u8; IP_LEN];
        write_udp(&mut b, A, 1234, B, 53, b"hello");
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.total_len() as usize, IP_LEN);
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum(A, B));
        assert_eq!((u.src_port(), u.dst_port()), (1234, 53));
        assert_eq!(&u.payload()[..5], b"hello");
        assert!(checksums_ok(&b));
        assert_eq!(src_endpoint(&b), (A, 1234));
        assert_eq!(dst_endpoint(&b), (B, 53));
        b[30] ^= 1;
        assert!(!checksums_ok(&b));
    }

    #[test]
    fn tcp_is_valid_and_minimum_size() {
        let mut b = [0u8; IP_LEN];
        write_tcp(&mut b, A, 40000, B, 443, TCP_SYN, 1, 0);
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(ip.verify_checksum());
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(t.verify_checksum(A, B));
        assert_eq!(t.flags(), TCP_SYN);
        assert!(checksums_ok(&b));
    }
}
