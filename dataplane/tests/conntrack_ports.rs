//! Port mappings and allocation (N1-N5, worker slices).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use dataplane::conntrack::ports::{MappingStats, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use dataplane::conntrack::{AllocError, Instant, Mappings, PortConfig, PortRange, WorkerSlice};
use dataplane::stats::DropReason;

fn host(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + n)
}

fn pool(n: u8) -> Vec<Ipv4Addr> {
    (1..=n).map(|i| Ipv4Addr::new(203, 0, 113, i)).collect()
}

fn cfg() -> PortConfig {
    PortConfig {
        seed: 42,
        ..PortConfig::default()
    }
}

fn t(s: u64) -> Instant {
    Instant::from_secs(s)
}

#[test]
fn n1_endpoint_independent_mapping() {
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, cfg());
    let int = (host(1), 40000);
    let ext = m.map_outbound(PROTO_UDP, int, t(0)).unwrap();
    // A second session to another destination reuses the mapping.
    assert_eq!(m.map_outbound(PROTO_UDP, int, t(1)), Ok(ext));
    assert_eq!(m.refs(PROTO_UDP, int), 2);
    assert_eq!(m.len(), 1);
    assert_eq!(m.lookup_inbound(PROTO_UDP, ext), Some(int));
    assert_eq!(m.lookup_outbound(PROTO_UDP, int), Some(ext));
    assert_eq!(m.lookup_inbound(PROTO_TCP, ext), None);
    assert!(m.unref(PROTO_UDP, int, t(2)));
    assert_eq!(m.lookup_inbound(PROTO_UDP, ext), Some(int));
    assert!(m.unref(PROTO_UDP, int, t(3)));
    assert_eq!(m.lookup_inbound(PROTO_UDP, ext), None);
    assert_eq!(m.lookup_outbound(PROTO_UDP, int), None);
    assert!(!m.unref(PROTO_UDP, int, t(4)));
    assert!(m.is_empty());
    // TCP and ICMP identifiers too.
    let e = m.map_outbound(PROTO_TCP, int, t(5)).unwrap();
    assert_eq!(m.map_outbound(PROTO_TCP, int, t(5)), Ok(e));
    let i = m.map_outbound(PROTO_ICMP, (host(1), 77), t(5)).unwrap();
    assert_eq!(m.map_outbound(PROTO_ICMP, (host(1), 77), t(5)), Ok(i));
    assert_eq!(m.lookup_inbound(PROTO_ICMP, i), Some((host(1), 77)));
}

#[test]
fn n2_paired_pooling() {
    let p = pool(4);
    let mut w0 = Mappings::new(&p, WorkerSlice { index: 0, count: 2 }, cfg());
    let mut w1 = Mappings::new(
        &p,
        WorkerSlice { index: 1, count: 2 },
        PortConfig { seed: 7, ..cfg() },
    );
    let mut used = HashSet::new();
    for h in 0..64 {
        let a = w0.map_outbound(PROTO_UDP, (host(h), 1000), t(0)).unwrap().0;
        // Every later mapping of the host, any protocol, any worker: same address.
        for port in 2000..2010 {
            assert_eq!(
                w0.map_outbound(PROTO_UDP, (host(h), port), t(0)).unwrap().0,
                a
            );
            assert_eq!(
                w0.map_outbound(PROTO_TCP, (host(h), port), t(0)).unwrap().0,
                a
            );
        }
        assert_eq!(
            w1.map_outbound(PROTO_ICMP, (host(h), 9), t(0)).unwrap().0,
            a
        );
        assert_eq!(w0.paired_address(host(h)), Some(a));
        used.insert(a);
    }
    // Hosts are spread over the pool.
    assert_eq!(used.len(), 4);
    // Forgotten once the host has no mappings.
    let h = host(1000);
    let a = w0.map_outbound(PROTO_TCP, (h, 1), t(0)).unwrap().0;
    assert!(w0.unref(PROTO_TCP, (h, 1), t(0)));
    assert_eq!(w0.paired_address(h), None);
    assert_eq!(w0.host_mappings(h), 0);
    assert_eq!(w0.map_outbound(PROTO_TCP, (h, 2), t(0)).unwrap().0, a);
}

#[test]
fn n2_new_host_moves_on_when_its_address_is_exhausted() {
    let p = pool(2);
    let c = PortConfig {
        range: PortRange {
            min: 2000,
            max: 2001,
        },
        ..cfg()
    };
    let mut m = Mappings::new(&p, WorkerSlice::SINGLE, c);
    let h = host(1);
    let a = m.map_outbound(PROTO_UDP, (h, 1), t(0)).unwrap().0;
    m.map_outbound(PROTO_UDP, (h, 2), t(0)).unwrap();
    assert_eq!(m.free_ports(PROTO_UDP, a), 0);
    // The paired host itself is out of ports on its address ...
    assert_eq!(
        m.map_outbound(PROTO_UDP, (h, 3), t(0)),
        Err(AllocError::OutOfPorts)
    );
    // ... but a new host that would hash to it gets the other address.
    let other = p.iter().copied().find(|&x| x != a).unwrap();
    for n in 2..40 {
        let (ea, _) = match m.map_outbound(PROTO_UDP, (host(n), 1), t(0)) {
            Ok(e) => e,
            Err(e) => {
                assert_eq!(e, AllocError::OutOfPorts);
                break;
            }
        };
        assert_eq!(ea, other);
    }
}

#[test]
fn n3_port_preservation_and_range_parity() {
    let c = PortConfig {
        range: PortRange { min: 1, max: 65535 },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 5000), t(0)).unwrap().1,
        5000
    );
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 5001), t(0)).unwrap().1,
        5001
    );
    assert_eq!(m.stats().preserved, 2);
    for h in 2..50 {
        let even = m.map_outbound(PROTO_UDP, (host(h), 5000), t(0)).unwrap().1;
        assert!(even >= 1024 && even & 1 == 0, "{even}");
        let odd = m.map_outbound(PROTO_UDP, (host(h), 5001), t(0)).unwrap().1;
        assert!(odd >= 1024 && odd & 1 == 1, "{odd}");
    }
    // Privileged source ports stay privileged.
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 123), t(0)).unwrap().1,
        123
    );
    for h in 2..50 {
        let p = m.map_outbound(PROTO_UDP, (host(h), 123), t(0)).unwrap().1;
        assert!((1..1024).contains(&p) && p & 1 == 1, "{p}");
    }
    // With the default range (no low ports) a privileged port falls back to the high range.
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, cfg());
    let p = m.map_outbound(PROTO_UDP, (host(1), 123), t(0)).unwrap().1;
    assert!(p >= 1024 && p & 1 == 1, "{p}");
}

#[test]
fn n3_random_ports_are_not_sequential() {
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, cfg());
    m.map_outbound(PROTO_TCP, (host(0), 3000), t(0)).unwrap();
    let ports: Vec<u16> = (1..200)
        .map(|h| m.map_outbound(PROTO_TCP, (host(h), 3000), t(0)).unwrap().1)
        .collect();
    let small_steps = ports
        .windows(2)
        .filter(|w| w[1].abs_diff(w[0]) <= 64)
        .count();
    assert!(
        small_steps < 20,
        "{small_steps} predictable steps in {ports:?}"
    );
    let distinct_words: HashSet<u16> = ports.iter().map(|p| p / 64).collect();
    assert!(distinct_words.len() > 100);
}

#[test]
fn n3_no_port_overloading() {
    let c = PortConfig {
        range: PortRange {
            min: 1024,
            max: 4095,
        },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(2), WorkerSlice::SINGLE, c);
    let mut seen = HashSet::new();
    let mut n = 0;
    // Many hosts all using the same few source ports fill both addresses exactly.
    'outer: for h in 0.. {
        for sp in [5000u16, 5002, 6001] {
            match m.map_outbound(PROTO_TCP, (host(h), sp), t(0)) {
                Ok(ext) => {
                    assert!(seen.insert(ext), "{ext:?} handed out twice");
                    assert_eq!(m.lookup_inbound(PROTO_TCP, ext), Some((host(h), sp)));
                    n += 1;
                }
                Err(AllocError::OutOfPorts) => break 'outer,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    // 3072 ports per address; a host is stuck once its paired address is full.
    assert!(n >= 2 * 3072 - 3, "{n}");
    assert_eq!(
        m.free_ports(PROTO_TCP, pool(2)[0]) + m.free_ports(PROTO_TCP, pool(2)[1]),
        (2 * 3072 - n) as u32
    );
}

#[test]
fn n4_subscriber_port_limit() {
    let c = PortConfig {
        subscriber_port_limit: 3,
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    let h = host(1);
    m.map_outbound(PROTO_TCP, (h, 1), t(0)).unwrap();
    m.map_outbound(PROTO_UDP, (h, 1), t(0)).unwrap();
    m.map_outbound(PROTO_ICMP, (h, 1), t(0)).unwrap();
    assert_eq!(
        m.map_outbound(PROTO_TCP, (h, 2), t(0)),
        Err(AllocError::SubscriberLimit)
    );
    assert_eq!(
        AllocError::SubscriberLimit.reason(),
        DropReason::SubscriberLimit
    );
    // Existing mappings keep working, other hosts are unaffected.
    assert!(m.map_outbound(PROTO_TCP, (h, 1), t(0)).is_ok());
    assert!(m.map_outbound(PROTO_TCP, (host(2), 2), t(0)).is_ok());
    assert_eq!(m.host_mappings(h), 3);
    assert!(m.unref(PROTO_UDP, (h, 1), t(1)));
    assert!(m.map_outbound(PROTO_TCP, (h, 2), t(1)).is_ok());
    assert_eq!(m.stats().subscriber_limit, 1);
}

#[test]
fn n4_out_of_ports_never_evicts() {
    let c = PortConfig {
        range: PortRange {
            min: 2000,
            max: 2009,
        },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    let mut exts = Vec::new();
    for h in 0..10 {
        exts.push(m.map_outbound(PROTO_UDP, (host(h), 999), t(0)).unwrap());
    }
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(10), 999), t(0)),
        Err(AllocError::OutOfPorts)
    );
    assert_eq!(AllocError::OutOfPorts.reason(), DropReason::OutOfPorts);
    assert_eq!(m.stats().out_of_ports, 1);
    for (h, ext) in exts.iter().enumerate() {
        assert_eq!(
            m.lookup_inbound(PROTO_UDP, *ext),
            Some((host(h as u32), 999))
        );
    }
    // Separate port space per protocol.
    assert!(m.map_outbound(PROTO_TCP, (host(10), 999), t(0)).is_ok());
    assert_eq!(
        m.map_outbound(1 + 46, (host(10), 1), t(0)),
        Err(AllocError::UnsupportedProtocol)
    );
}

#[test]
fn n4_mapping_table_full_is_out_of_ports() {
    let c = PortConfig {
        max_mappings: 4,
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    for h in 0..4 {
        m.map_outbound(PROTO_UDP, (host(h), 1), t(0)).unwrap();
    }
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(9), 1), t(0)),
        Err(AllocError::OutOfPorts)
    );
    assert!(m.map_outbound(PROTO_UDP, (host(0), 1), t(0)).is_ok());
}

#[test]
fn n5_quarantine_120s() {
    let c = PortConfig {
        range: PortRange {
            min: 2000,
            max: 2001,
        },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 2000), t(0)).unwrap().1,
        2000
    );
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(2), 2001), t(0)).unwrap().1,
        2001
    );
    assert!(m.unref(PROTO_UDP, (host(1), 2000), t(10)));
    assert_eq!(m.quarantined(), 1);
    assert_eq!(m.free_ports(PROTO_UDP, pool(1)[0]), 0);
    // Nobody, not even a host asking for exactly that port, gets it for 120 s.
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(3), 2000), Instant(129_999)),
        Err(AllocError::OutOfPorts)
    );
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(3), 2000), t(130))
            .unwrap()
            .1,
        2000
    );
    assert_eq!(m.quarantined(), 0);

    // Quarantine 0 releases at once; tick() releases without an allocation.
    let c0 = PortConfig {
        quarantine_secs: 0,
        ..c
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c0);
    m.map_outbound(PROTO_UDP, (host(1), 2000), t(0)).unwrap();
    m.unref(PROTO_UDP, (host(1), 2000), t(0));
    assert_eq!(m.free_ports(PROTO_UDP, pool(1)[0]), 2);
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    m.map_outbound(PROTO_UDP, (host(1), 2000), t(0)).unwrap();
    m.unref(PROTO_UDP, (host(1), 2000), t(0));
    assert_eq!(m.tick(t(119), 10), 0);
    assert_eq!(m.tick(t(120), 10), 1);
    assert_eq!(m.free_ports(PROTO_UDP, pool(1)[0]), 2);
}

#[test]
fn n5_quarantine_overflow_releases_oldest_and_counts() {
    let c = PortConfig {
        max_mappings: 2,
        range: PortRange {
            min: 2000,
            max: 2009,
        },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    for h in 0..3 {
        m.map_outbound(PROTO_UDP, (host(h), 1), t(0))
            .unwrap_or_else(|e| panic!("{h} {e:?}"));
        m.unref(PROTO_UDP, (host(h), 1), t(0));
    }
    assert_eq!(m.quarantined(), 2);
    assert_eq!(
        m.stats(),
        MappingStats {
            allocated: 3,
            freed: 3,
            quarantine_overflows: 1,
            ..MappingStats::default()
        }
    );
    assert_eq!(m.free_ports(PROTO_UDP, pool(1)[0]), 8);
}

#[test]
fn reserved_ports_are_never_handed_out() {
    let c = PortConfig {
        range: PortRange {
            min: 8080,
            max: 8081,
        },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    let ext = (pool(1)[0], 8080);
    assert!(m.reserve(PROTO_TCP, ext));
    assert!(m.is_reserved(PROTO_TCP, ext));
    assert!(!m.is_reserved(PROTO_UDP, ext));
    assert!(!m.reserve(PROTO_TCP, (Ipv4Addr::new(1, 1, 1, 1), 8080)));
    assert!(!m.reserve(PROTO_TCP, (pool(1)[0], 9000)));
    assert_eq!(
        m.map_outbound(PROTO_TCP, (host(1), 8080), t(0)).unwrap().1,
        8081
    );
    assert_eq!(
        m.map_outbound(PROTO_TCP, (host(2), 8080), t(0)),
        Err(AllocError::OutOfPorts)
    );
    // UDP 8080 is a different port.
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 8080), t(0)).unwrap().1,
        8080
    );
    // A mapped port reserved later is withheld once freed.
    assert!(m.reserve(PROTO_UDP, (pool(1)[0], 8080)));
    m.unref(PROTO_UDP, (host(1), 8080), t(0));
    assert_eq!(m.quarantined(), 0);
    assert_eq!(m.tick(t(1000), 10), 0);
    assert_eq!(m.free_ports(PROTO_UDP, pool(1)[0]), 1);
    // Unreserving goes through quarantine.
    assert!(m.unreserve(PROTO_TCP, ext, t(1000)));
    assert_eq!(
        m.map_outbound(PROTO_TCP, (host(3), 8080), t(1119)),
        Err(AllocError::OutOfPorts)
    );
    assert_eq!(
        m.map_outbound(PROTO_TCP, (host(3), 8080), t(1120))
            .unwrap()
            .1,
        8080
    );
}

#[test]
fn worker_slice_owner_of() {
    let range = PortRange::DEFAULT;
    for count in [1u16, 2, 3, 7, 16] {
        let mut next = u32::from(range.min);
        for index in 0..count {
            let s = WorkerSlice { index, count };
            let (lo, hi) = s.bounds(range).unwrap();
            assert_eq!(u32::from(lo), next, "slices are contiguous");
            next = u32::from(hi) + 1;
            for p in [lo, hi, lo + (hi - lo) / 2] {
                assert_eq!(s.owner_of(p, range), Some(index));
            }
        }
        assert_eq!(next, 65536, "slices cover the range");
        let s = WorkerSlice { index: 0, count };
        for p in 1024..=65535u16 {
            let o = s.owner_of(p, range).unwrap();
            let (lo, hi) = WorkerSlice { index: o, count }.bounds(range).unwrap();
            assert!((lo..=hi).contains(&p));
        }
        assert_eq!(s.owner_of(1023, range), None);
        assert_eq!(s.owner_of(80, range), None);
    }
    // More workers than ports: the extra ones get nothing.
    let tiny = PortRange { min: 10, max: 12 };
    assert_eq!(
        WorkerSlice { index: 2, count: 5 }.bounds(tiny),
        Some((12, 12))
    );
    assert_eq!(WorkerSlice { index: 3, count: 5 }.bounds(tiny), None);
    assert_eq!(
        WorkerSlice { index: 0, count: 5 }.owner_of(12, tiny),
        Some(2)
    );
    assert_eq!(WorkerSlice { index: 5, count: 5 }.bounds(tiny), None);
    assert_eq!(
        WorkerSlice { index: 0, count: 0 }.bounds(tiny),
        Some((10, 12))
    );

    // Allocation stays inside the worker's slice and owner_of finds it.
    let mut m = Mappings::new(&pool(1), WorkerSlice { index: 1, count: 3 }, cfg());
    let (lo, hi) = m.slice_bounds().unwrap();
    for h in 0..500 {
        let (_, p) = m.map_outbound(PROTO_UDP, (host(h), 5000), t(0)).unwrap();
        assert!((lo..=hi).contains(&p));
        assert_eq!(m.owner_of(p), Some(1));
    }
}

#[test]
fn dynamic_edge_ports_1024_and_65535() {
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, cfg());
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 1024), t(0)).unwrap().1,
        1024
    );
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 65535), t(0)).unwrap().1,
        65535
    );
    let a = pool(1)[0];
    assert_eq!(
        m.lookup_inbound(PROTO_UDP, (a, 1024)),
        Some((host(1), 1024))
    );
    assert_eq!(
        m.lookup_inbound(PROTO_UDP, (a, 65535)),
        Some((host(1), 65535))
    );
    // Edge slices with several workers.
    let w = |i| Mappings::new(&pool(1), WorkerSlice { index: i, count: 4 }, cfg());
    assert_eq!(
        w(0).map_outbound(PROTO_TCP, (host(1), 1024), t(0))
            .unwrap()
            .1,
        1024
    );
    assert_eq!(
        w(3).map_outbound(PROTO_TCP, (host(1), 65535), t(0))
            .unwrap()
            .1,
        65535
    );
    // Exhausting a range ending at 65535 hands out every port once, no wrap to 0.
    let c = PortConfig {
        range: PortRange {
            min: 65500,
            max: 65535,
        },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    let mut got: Vec<u16> = (0..36)
        .map(|h| m.map_outbound(PROTO_UDP, (host(h), 7), t(0)).unwrap().1)
        .collect();
    got.sort_unstable();
    assert_eq!(got, (65500..=65535).collect::<Vec<u16>>());
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(99), 7), t(0)),
        Err(AllocError::OutOfPorts)
    );
    // And one starting at 1024 (slice not aligned to 64).
    let c = PortConfig {
        range: PortRange {
            min: 1030,
            max: 1040,
        },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice::SINGLE, c);
    let mut got: Vec<u16> = (0..11)
        .map(|h| m.map_outbound(PROTO_UDP, (host(h), 7), t(0)).unwrap().1)
        .collect();
    got.sort_unstable();
    assert_eq!(got, (1030..=1040).collect::<Vec<u16>>());
}

#[test]
fn empty_pool_or_slice_is_out_of_ports() {
    let mut m = Mappings::new(&[], WorkerSlice::SINGLE, cfg());
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 1), t(0)),
        Err(AllocError::OutOfPorts)
    );
    let c = PortConfig {
        range: PortRange { min: 10, max: 10 },
        ..cfg()
    };
    let mut m = Mappings::new(&pool(1), WorkerSlice { index: 1, count: 2 }, c);
    assert_eq!(m.slice_bounds(), None);
    assert_eq!(
        m.map_outbound(PROTO_UDP, (host(1), 1), t(0)),
        Err(AllocError::OutOfPorts)
    );
}

#[test]
fn port_config_validate() {
    assert_eq!(PortConfig::default().validate(), Ok(()));
    let d = PortConfig::default();
    assert!(PortConfig {
        range: PortRange { min: 0, max: 100 },
        ..d
    }
    .validate()
    .is_err());
    assert!(PortConfig {
        range: PortRange { min: 200, max: 100 },
        ..d
    }
    .validate()
    .is_err());
    assert!(PortConfig {
        max_mappings: 0,
        ..d
    }
    .validate()
    .is_err());
    assert!(PortConfig {
        quarantine_secs: 3601,
        ..d
    }
    .validate()
    .is_err());
}
