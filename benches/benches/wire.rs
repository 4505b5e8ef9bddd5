//! Parse and checksum costs on 64-byte frames.
//!
//! - `parse/{udp,tcp}`: Ethernet + IPv4 (checked view, RFC 1812 checks) +
//!   L4 view + flow key + keyed hash, the work every packet pays before the
//!   session lookup. Per burst of 32 frames.
//! - `checksum/*`: rewriting source address and port of a UDP packet, by
//!   applying a precomputed RFC 1624 `Delta` (what the fast path does) versus
//!   recomputing the IPv4 header and UDP checksums from scratch.

use benches::pkt;
use benches::scenario::{flow, BURST};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dataplane::conntrack::FlowKey;
use dataplane::wire::checksum::{self, Delta};
use dataplane::wire::ethernet::{EtherType, EthernetFrame};
use dataplane::wire::ip_proto;
use dataplane::wire::ipv4::Ipv4Packet;
use dataplane::wire::tcp::TcpPacket;
use dataplane::wire::udp::UdpPacket;
use std::net::Ipv4Addr;

fn frames(proto: u8) -> Vec<[u8; 64]> {
    (0..BURST)
        .map(|i| {
            let mut f = [0u8; 64];
            pkt::write_eth(&mut f, [2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 9]);
            let (s, sp, d, dp) = flow(i * 7919);
            let ip = &mut f[pkt::ETH_LEN..];
            if proto == ip_proto::TCP {
                pkt::write_tcp(ip, s, sp, d, dp, pkt::TCP_ACK, 1, 1);
            } else {
                pkt::write_udp(ip, s, sp, d, dp, b"x");
            }
            f
        })
        .collect()
}

/// Everything the engine checks before its lookup; `None` = would be dropped.
#[inline]
fn parse(frame: &[u8], seed: u64) -> Option<u64> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(&frame[eth.payload_offset()..]).ok()?;
    ip.validate_rfc1812().ok()?;
    let l4 = ip.payload();
    let (sp, dp) = match ip.protocol() {
        ip_proto::UDP => {
            let u = UdpPacket::new_checked(l4).ok()?;
            (u.src_port(), u.dst_port())
        }
        ip_proto::TCP => {
            let t = TcpPacket::new_checked(l4).ok()?;
            (t.src_port(), t.dst_port())
        }
        _ => return None,
    };
    let key = FlowKey::new(ip.src_addr(), sp, ip.dst_addr(), dp, ip.protocol());
    Some(key.hash_with(seed))
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(BURST as u64));
    for (name, proto) in [("udp", ip_proto::UDP), ("tcp", ip_proto::TCP)] {
        let fs = frames(proto);
        assert!(fs.iter().all(|f| parse(f, 1).is_some()), "fixtures parse");
        g.bench_function(format!("{name}/burst32"), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for f in black_box(&fs) {
                    acc ^= parse(&f[..pkt::FRAME_LEN], 0x5eed).unwrap_or(0);
                }
                acc
            })
        });
    }
    g.finish();
}

const NEW_SRC: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 9);
const NEW_PORT: u16 = 61001;

fn set16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Rewrites source address and port, then fixes both checksums with
/// precomputed deltas (RFC 1624).
#[inline]
fn rewrite_incremental(p: &mut [u8], ip_delta: Delta, l4_delta: Delta) {
    p[12..16].copy_from_slice(&NEW_SRC.octets());
    set16(p, 20, NEW_PORT);
    let c = ip_delta.apply(get16(p, 10));
    set16(p, 10, c);
    let c = l4_delta.apply_udp(get16(p, 26));
    set16(p, 26, c);
}

/// The same rewrite, checksums recomputed over the whole headers and payload.
#[inline]
fn rewrite_full(p: &mut [u8]) {
    p[12..16].copy_from_slice(&NEW_SRC.octets());
    set16(p, 20, NEW_PORT);
    set16(p, 10, 0);
    let c = checksum::checksum(&p[..20]);
    set16(p, 10, c);
    set16(p, 26, 0);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let seg = &p[20..pkt::IP_LEN];
    let s = checksum::pseudo_header_sum(NEW_SRC, dst, ip_proto::UDP, seg.len() as u16)
        + checksum::sum(seg);
    let mut c = !checksum::fold(s);
    if c == 0 {
        c = 0xffff;
    }
    set16(p, 26, c);
}

fn bench_checksum(c: &mut Criterion) {
    let (s, sp, d, dp) = flow(1);
    let mut orig = [0u8; 64];
    pkt::write_udp(&mut orig, s, sp, d, dp, b"payload");
    let ip_delta = Delta::ZERO.replace_addr(s, NEW_SRC);
    let l4_delta = ip_delta.replace16(sp, NEW_PORT);

    // Both must give identical bytes, and valid checksums.
    let (mut a, mut b) = (orig, orig);
    rewrite_incremental(&mut a, ip_delta, l4_delta);
    rewrite_full(&mut b);
    assert_eq!(a, b, "incremental and full checksums agree");
    assert!(pkt::checksums_ok(&a));

    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Elements(1));
    g.bench_function("udp_snat/delta_apply", |bch| {
        let mut p = orig;
        bch.iter(|| {
            p.copy_from_slice(black_box(&orig));
            rewrite_incremental(&mut p, black_box(ip_delta), black_box(l4_delta));
            black_box(&p);
        })
    });
    g.bench_function("udp_snat/full_recompute", |bch| {
        let mut p = orig;
        bch.iter(|| {
            p.copy_from_slice(black_box(&orig));
            rewrite_full(&mut p);
            black_box(&p);
        })
    });
    g.bench_function("udp_snat/delta_build", |bch| {
        bch.iter(|| {
            let d = Delta::ZERO.replace_addr(black_box(s), black_box(NEW_SRC));
            (d, d.replace16(black_box(sp), black_box(NEW_PORT)))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse, bench_checksum);
criterion_main!(benches);
