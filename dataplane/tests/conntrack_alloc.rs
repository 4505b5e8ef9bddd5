//! Proves the steady state allocates nothing: after `new`, cycles of
//! insert / lookup / on_packet / expire / remove on the session table and
//! map_outbound / lookup / unref / tick on the mappings make zero heap
//! allocations, even with enough churn to force hashbrown's tombstone
//! cleanup. Counted on this test's thread only (`allocation_counter::measure`),
//! so the harness's own threads never show up in the count.

use std::net::Ipv4Addr;

use dataplane::conntrack::ports::{PROTO_TCP, PROTO_UDP};
use dataplane::conntrack::tcp::flags::{ACK, FIN, SYN};
use dataplane::conntrack::{
    Dir, FlowKey, Instant, Mappings, PortConfig, PortRange, SessionTable, Timeouts, WorkerSlice,
};

/// A payload like the NAT's: what a session must release when it dies.
#[derive(Clone, Copy)]
struct Nat {
    proto: u8,
    internal: (Ipv4Addr, u16),
}

#[test]
fn steady_state_allocates_nothing() {
    const CAP: usize = 1024;
    let peer = Ipv4Addr::new(198, 51, 100, 1);
    let pool = [Ipv4Addr::new(203, 0, 113, 1), Ipv4Addr::new(203, 0, 113, 2)];
    let mut table: SessionTable<Nat> = SessionTable::with_seed(CAP, Timeouts::default(), 3);
    table.set_subscriber_limit(64);
    let cfg = PortConfig {
        range: PortRange {
            min: 1024,
            max: 65535,
        },
        max_mappings: 4 * CAP,
        subscriber_port_limit: 64,
        seed: 11,
        ..PortConfig::default()
    };
    let mut maps = Mappings::new(&pool, WorkerSlice { index: 0, count: 2 }, cfg);
    let mut now = 0u64;
    let mut created = 0u64;
    let mut refused = 0u64;

    let mut run = |rounds: u32, now: &mut u64| {
        for round in 0..rounds {
            for i in 0..256u32 {
                *now += 400;
                let t = Instant(*now);
                let n = round.wrapping_mul(257).wrapping_add(i);
                let h = Ipv4Addr::new(10, 0, (n % 40) as u8, 1);
                let sport = 1024 + (n % 30_000) as u16;
                let proto = if n % 3 == 0 { PROTO_TCP } else { PROTO_UDP };
                let orig = FlowKey::new(h, sport, peer, 443, proto);
                let hash = orig.hash_with(table.seed());
                if let Some((id, dir)) = table.lookup(&orig, hash) {
                    table.on_packet(id, dir, (proto == PROTO_TCP).then_some(ACK), t);
                    continue;
                }
                let Ok(ext) = maps.map_outbound(proto, (h, sport), t) else {
                    refused += 1;
                    continue;
                };
                let reply = FlowKey::new(peer, 443, ext.0, ext.1, proto);
                let payload = Nat {
                    proto,
                    internal: (h, sport),
                };
                match table.insert(orig, reply, payload, t, h, |s| {
                    maps.unref(s.payload.proto, s.payload.internal, t);
                }) {
                    Ok(id) => {
                        created += 1;
                        table.on_packet(id, Dir::Original, (proto == PROTO_TCP).then_some(SYN), t);
                        if proto == PROTO_TCP && n % 2 == 0 {
                            table.on_packet(id, Dir::Reply, Some(SYN | ACK), t);
                            table.on_packet(id, Dir::Original, Some(FIN | ACK), t);
                            table.on_packet(id, Dir::Reply, Some(FIN | ACK), t);
                        }
                        if n % 7 == 0 {
                            let s = table.remove(id).unwrap();
                            maps.unref(s.payload.proto, s.payload.internal, t);
                        }
                    }
                    Err(_) => {
                        refused += 1;
                        maps.unref(proto, (h, sport), t);
                    }
                }
                let _ = maps.lookup_inbound(proto, ext);
            }
            let t = Instant(*now);
            table.expire(t, 64, |s| {
                maps.unref(s.payload.proto, s.payload.internal, t);
            });
            maps.tick(t, 64);
        }
    };

    // Warm up (first use of every slot), then count.
    run(40, &mut now);
    let allocs = allocation_counter::measure(|| run(400, &mut now)).count_total;
    eprintln!(
        "created {created} refused {refused} {:?} {:?}",
        table.stats(),
        maps.stats()
    );
    assert!(maps.stats().freed > 50_000);
    assert!(
        created > 50_000,
        "churn too low to prove anything: {created}"
    );
    // Both expiry and the full-table reclaim path ran.
    assert!(table.stats().expired > 0 && table.stats().reclaimed_expired > 0);
    assert_eq!(allocs, 0, "steady state allocated {allocs} times");
}
