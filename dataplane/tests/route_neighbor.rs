//! Neighbour resolution end to end: FIB -> neighbour table -> ARP request
//! bytes -> ARP reply -> held packets released in order; and proof that none
//! of it allocates after construction.

use std::net::Ipv4Addr;

use dataplane::conntrack::Instant;
use dataplane::route::arp::{build_request, handle_arp, ArpOutcome, MAX_ARP_FRAME_LEN};
use dataplane::route::neighbor::{Hold, Learn, NeighborEvent, Resolve};
use dataplane::route::{MacAddr, NeighborConfig, NeighborTable};
use dataplane::stats::DropReason;

use allocation_counter::measure;
#[path = "support/home_router.rs"]
mod home_router;
use home_router::{home_router, WAN_MAC};

const GW_MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

/// The gateway's reply to our request, as bytes.
fn gateway_reply() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&WAN_MAC.0);
    f.extend_from_slice(&GW_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&GW_MAC);
    f.extend_from_slice(&[203, 0, 113, 1]);
    f.extend_from_slice(&WAN_MAC.0);
    f.extend_from_slice(&[203, 0, 113, 2]);
    f.resize(60, 0);
    f
}

#[test]
fn forward_to_unresolved_gateway_then_release_in_order() {
    let (ifs, fib) = home_router();
    let mut neigh: NeighborTable<u32> = NeighborTable::new(NeighborConfig::default());
    let mut frame = [0u8; MAX_ARP_FRAME_LEN];
    let mut sent_requests = Vec::new();

    let dst = Ipv4Addr::new(198, 51, 100, 7);
    let allocs = measure(|| {
        for pkt in 0..6u32 {
            let now = Instant(pkt as u64 * 10);
            let nh = fib.lookup(dst).unwrap();
            let gw = nh.neighbor_for(dst);
            assert_eq!(neigh.resolve(gw, now), Resolve::Unresolved);
            match neigh.hold(gw, nh.ifindex, pkt, now) {
                Hold::HeldRequest => {
                    let iface = ifs.get(nh.ifindex).unwrap();
                    let len = build_request(&mut frame, iface, gw).unwrap();
                    sent_requests.push(len);
                }
                Hold::Held => {}
                Hold::Dropped(p, reason) => {
                    assert!(p >= 4, "first four are held");
                    assert_eq!(reason, DropReason::ArpQueueFull);
                }
                other => panic!("{other:?}"),
            }
        }
    })
    .count_total;
    assert_eq!(allocs, 1, "only the test's own Vec push allocates");
    assert_eq!(sent_requests, [60], "one request despite six packets");
    assert_eq!(&frame[..6], &[0xff; 6]);
    assert_eq!(&frame[38..42], &[203, 0, 113, 1]);

    let reply = gateway_reply();
    let mut out = [0u8; MAX_ARP_FRAME_LEN];
    let gw = Ipv4Addr::new(203, 0, 113, 1);
    let mut o = None;
    let mut released = [0u32; 4];
    let mut r_mac_if = None;
    let allocs = measure(|| {
        o = Some(handle_arp(
            &reply,
            1,
            &ifs,
            &mut neigh,
            Instant(200),
            &mut out,
        ));
        let r = neigh.release(gw).unwrap();
        r_mac_if = Some((r.mac(), r.ifindex()));
        for (slot, p) in released.iter_mut().zip(r) {
            *slot = p;
        }
    })
    .count_total;
    assert_eq!(allocs, 0, "ARP input and release never allocate");
    let o = o.unwrap();
    assert_eq!(
        o,
        ArpOutcome::Learned {
            sender: gw,
            learn: Learn::Resolved { held: 4 }
        }
    );
    assert_eq!(r_mac_if, Some((MacAddr(GW_MAC), 1)));
    assert_eq!(released, [0, 1, 2, 3]);
    assert_eq!(
        neigh.resolve(gw, Instant(300)),
        Resolve::Ready(MacAddr(GW_MAC))
    );
}

#[test]
fn unanswered_resolution_drops_held_packets_after_retries() {
    let (ifs, _) = home_router();
    let mut neigh: NeighborTable<u32> = NeighborTable::new(NeighborConfig {
        capacity: 64,
        max_incomplete: 64,
        ..NeighborConfig::default()
    });
    let host = Ipv4Addr::new(192, 168, 88, 50);
    assert_eq!(neigh.hold(host, 0, 1, Instant(0)), Hold::HeldRequest);
    assert_eq!(neigh.hold(host, 0, 2, Instant(0)), Hold::Held);

    let mut requests = 0;
    let mut dropped = [0u32; 2];
    let mut nd = 0;
    let mut frame = [0u8; MAX_ARP_FRAME_LEN];
    // Poll every 100 ms for 5 s, as a worker does between bursts.
    let allocs = measure(|| {
        for t in (0..5000).step_by(100) {
            neigh.poll(Instant(t), 32, |ev| match ev {
                NeighborEvent::Request { ip, ifindex } => {
                    build_request(&mut frame, ifs.get(ifindex).unwrap(), ip).unwrap();
                    requests += 1;
                }
                NeighborEvent::Dropped(p, reason) => {
                    assert_eq!(reason, DropReason::ArpUnresolved);
                    dropped[nd] = p;
                    nd += 1;
                }
            });
        }
    })
    .count_total;
    assert_eq!(allocs, 0, "polling never allocates");
    assert_eq!(requests, 2, "retries at 1 s and 2 s (max_probes = 3)");
    assert_eq!(&dropped[..nd], &[1, 2]);
    assert!(neigh.get(host, Instant(5000)).is_none());
}

#[test]
fn arp_request_storm_is_bounded_and_allocation_free() {
    let (ifs, _) = home_router();
    let mut neigh: NeighborTable<u32> = NeighborTable::new(NeighborConfig {
        capacity: 32,
        max_incomplete: 8,
        ..NeighborConfig::default()
    });
    let mut req = vec![0xffu8; 6];
    req.extend_from_slice(&[0x52, 0x54, 0, 0, 0, 0]);
    req.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    req.extend_from_slice(&[0x52, 0x54, 0, 0, 0, 0]);
    req.extend_from_slice(&[192, 168, 88, 0]);
    req.extend_from_slice(&[0; 6]);
    req.extend_from_slice(&[192, 168, 88, 1]);
    req.resize(60, 0);
    let mut out = [0u8; MAX_ARP_FRAME_LEN];
    let mut replies = 0;
    let allocs = measure(|| {
        for host in 2..=254u8 {
            req[11] = host;
            req[27] = host;
            req[31] = host;
            if let ArpOutcome::Reply { len: 60, .. } =
                handle_arp(&req, 0, &ifs, &mut neigh, Instant(host as u64), &mut out)
            {
                replies += 1;
            }
        }
    })
    .count_total;
    assert_eq!(allocs, 0);
    assert_eq!(replies, 253, "every requester is answered");
    assert_eq!(neigh.len(), 32, "table stays at capacity, LRU-evicting");
    assert!(neigh
        .get(Ipv4Addr::new(192, 168, 88, 254), Instant(300))
        .is_some());
    assert!(neigh
        .get(Ipv4Addr::new(192, 168, 88, 2), Instant(300))
        .is_none());
}
