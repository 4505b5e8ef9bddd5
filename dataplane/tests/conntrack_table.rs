//! Session table behaviour driven by an injected clock (N7-N10, table policy).

use std::net::Ipv4Addr;

use dataplane::conntrack::tcp::flags::{ACK, FIN, RST, SYN};
use dataplane::conntrack::{
    Dir, FlowKey, InsertError, Instant, SessionId, SessionTable, TcpState, Timeouts, TimerClass,
};
use dataplane::stats::DropReason;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const EXT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn host(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, n)
}

/// Original (LAN -> peer) and reply (peer -> external mapping) keys of a NATed flow.
fn keys(h: u8, sport: u16, dport: u16, proto: u8) -> (FlowKey, FlowKey) {
    let orig = FlowKey::new(host(h), sport, PEER, dport, proto);
    let reply = FlowKey::new(PEER, dport, EXT, u16::from(h) * 4096 + sport % 4096, proto);
    (orig, reply)
}

fn t(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn table(cap: usize) -> SessionTable<u32> {
    SessionTable::with_seed(cap, Timeouts::default(), 0x1234_5678)
}

fn add(
    tb: &mut SessionTable<u32>,
    h: u8,
    sport: u16,
    proto: u8,
    now: Instant,
) -> Result<SessionId, InsertError> {
    let (o, r) = keys(h, sport, 80, proto);
    tb.insert(o, r, u32::from(sport), now, host(h), |_| {})
}

fn find(tb: &SessionTable<u32>, key: &FlowKey) -> Option<(SessionId, Dir)> {
    tb.lookup(key, key.hash_with(tb.seed()))
}

fn expire_all(tb: &mut SessionTable<u32>, now: Instant) -> Vec<u32> {
    let mut gone = Vec::new();
    tb.expire(now, usize::MAX, |s| gone.push(s.payload));
    gone
}

#[test]
fn one_session_reachable_from_both_keys() {
    let mut tb = table(8);
    let (o, r) = keys(1, 1000, 80, UDP);
    let id = tb.insert(o, r, 7, t(0), host(1), |_| {}).unwrap();
    assert_eq!(find(&tb, &o), Some((id, Dir::Original)));
    assert_eq!(find(&tb, &r), Some((id, Dir::Reply)));
    assert_eq!(find(&tb, &o.reversed()), None);
    assert_eq!(tb.get(id).payload, 7);
    assert_eq!(tb.get(id).orig(), &o);
    assert_eq!(tb.get(id).reply(), &r);
    assert_eq!(tb.len(), 1);
    tb.get_mut(id).payload = 9;
    assert_eq!(tb.get(id).payload, 9);
    // Either key already in use is a clash.
    assert_eq!(
        tb.insert(o, keys(2, 1, 1, UDP).1, 0, t(0), host(1), |_| {}),
        Err(InsertError::Exists)
    );
    assert_eq!(
        tb.insert(keys(2, 1, 1, UDP).0, r, 0, t(0), host(1), |_| {}),
        Err(InsertError::Exists)
    );
    assert_eq!(InsertError::Exists.reason(), DropReason::SessionClash);
    let s = tb.remove(id).unwrap();
    assert_eq!(s.payload, 9);
    assert!(tb.try_get(id).is_none());
    assert!(tb.remove(id).is_none());
    assert!(!tb.on_packet(id, Dir::Original, None, t(1)));
    assert_eq!(find(&tb, &o), None);
    assert_eq!(find(&tb, &r), None);
    assert!(tb.is_empty());
    // The slot is reused under a new generation: the old id stays dead.
    let id2 = add(&mut tb, 3, 3, UDP, t(2)).unwrap();
    assert_eq!(id2.index(), id.index());
    assert_ne!(id2, id);
    assert!(tb.try_get(id).is_none());
}

#[test]
fn identical_orig_and_reply_key_is_indexed_once() {
    let mut tb = table(2);
    let k = FlowKey::new(host(1), 5, host(1), 5, UDP);
    let id = tb.insert(k, k, 1, t(0), host(1), |_| {}).unwrap();
    assert_eq!(find(&tb, &k), Some((id, Dir::Original)));
    assert_eq!(expire_all(&mut tb, t(300)), vec![1]);
    assert_eq!(find(&tb, &k), None);
}

#[test]
fn n7_udp_timeout_and_refresh() {
    let mut tb = table(8);
    let id = add(&mut tb, 1, 5000, UDP, t(0)).unwrap();
    assert_eq!(tb.get(id).timer_class(), TimerClass::Udp);
    assert_eq!(tb.deadline(id), Some(t(300)));
    assert!(expire_all(&mut tb, Instant(299_999)).is_empty());
    // An outbound packet at 200 s restarts the 300 s timer.
    assert!(tb.on_packet(id, Dir::Original, None, t(200)));
    assert_eq!(tb.deadline(id), Some(t(500)));
    assert!(expire_all(&mut tb, t(499)).is_empty());
    assert_eq!(expire_all(&mut tb, t(500)), vec![5000]);
    assert!(tb.is_empty());
}

#[test]
fn n7_udp_inbound_refresh_only_if_configured() {
    let mut tb = table(8);
    let id = add(&mut tb, 1, 5000, UDP, t(0)).unwrap();
    assert!(tb.on_packet(id, Dir::Reply, None, t(250)));
    assert_eq!(tb.get(id).packets(Dir::Reply), 1);
    assert_eq!(
        tb.deadline(id),
        Some(t(300)),
        "inbound must not refresh by default"
    );
    assert_eq!(expire_all(&mut tb, t(300)), vec![5000]);

    let mut tb = SessionTable::with_seed(
        8,
        Timeouts {
            udp_inbound_refresh: true,
            ..Timeouts::default()
        },
        1,
    );
    let (o, r) = keys(1, 5000, 80, UDP);
    let id = tb.insert(o, r, 5000u32, t(0), host(1), |_| {}).unwrap();
    assert!(tb.on_packet(id, Dir::Reply, None, t(250)));
    assert_eq!(tb.deadline(id), Some(t(550)));
    assert_eq!(tb.expire(t(549), 10, |_| {}), 0);
    assert_eq!(tb.expire(t(550), 10, |_| {}), 1);
}

fn tcp_established(tb: &mut SessionTable<u32>, h: u8, sport: u16, now: Instant) -> SessionId {
    let id = add(tb, h, sport, TCP, now).unwrap();
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::SynSent));
    tb.on_packet(id, Dir::Original, Some(SYN), now);
    tb.on_packet(id, Dir::Reply, Some(SYN | ACK), now);
    tb.on_packet(id, Dir::Original, Some(ACK), now);
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Established));
    id
}

#[test]
fn n8_tcp_half_open_is_transitory() {
    let mut tb = table(8);
    let id = add(&mut tb, 1, 1000, TCP, t(0)).unwrap();
    assert_eq!(tb.get(id).timer_class(), TimerClass::TcpTransitory);
    assert_eq!(tb.deadline(id), Some(t(240)));
    // Retransmitted SYN refreshes but stays transitory.
    tb.on_packet(id, Dir::Original, Some(SYN), t(100));
    assert_eq!(tb.deadline(id), Some(t(340)));
    assert_eq!(expire_all(&mut tb, t(339)), vec![]);
    assert_eq!(expire_all(&mut tb, t(340)), vec![1000]);
}

#[test]
fn n8_tcp_established_timeout() {
    let mut tb = table(8);
    let id = tcp_established(&mut tb, 1, 1000, t(10));
    assert_eq!(tb.get(id).timer_class(), TimerClass::TcpEstablished);
    assert_eq!(tb.deadline(id), Some(t(10 + 7440)));
    assert!(expire_all(&mut tb, t(10 + 7439)).is_empty());
    // Reply-side traffic refreshes TCP.
    tb.on_packet(id, Dir::Reply, Some(ACK), t(7000));
    assert!(expire_all(&mut tb, t(7000 + 7439)).is_empty());
    assert_eq!(expire_all(&mut tb, t(7000 + 7440)), vec![1000]);
}

#[test]
fn n8_tcp_transitory_after_rst() {
    let mut tb = table(8);
    let id = tcp_established(&mut tb, 1, 1000, t(0));
    assert!(tb.on_packet(id, Dir::Reply, Some(RST), t(100)));
    // Kept (so the RST is translated), now on the 4 min timer.
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Reset));
    assert_eq!(tb.get(id).timer_class(), TimerClass::TcpTransitory);
    assert!(find(&tb, tb.get(id).reply()).is_some());
    assert!(expire_all(&mut tb, t(339)).is_empty());
    assert_eq!(expire_all(&mut tb, t(340)), vec![1000]);
}

#[test]
fn rst_then_traffic_returns_to_established() {
    // RFC 6146 TRANS: a spoofed RST cannot cut a live connection to 4 min.
    let mut tb = table(8);
    let id = tcp_established(&mut tb, 1, 1000, t(0));
    tb.on_packet(id, Dir::Reply, Some(RST), t(100));
    tb.on_packet(id, Dir::Original, Some(ACK), t(101));
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Established));
    assert_eq!(tb.deadline(id), Some(t(101 + 7440)));
}

#[test]
fn n8_simultaneous_open() {
    let mut tb = table(8);
    let id = add(&mut tb, 1, 1000, TCP, t(0)).unwrap();
    tb.on_packet(id, Dir::Original, Some(SYN), t(0));
    tb.on_packet(id, Dir::Reply, Some(SYN), t(1));
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Established));
    assert_eq!(tb.deadline(id), Some(t(1 + 7440)));
}

fn close(first: Dir) {
    let mut tb = table(8);
    let id = tcp_established(&mut tb, 1, 1000, t(0));
    tb.on_packet(id, first, Some(FIN | ACK), t(10));
    tb.on_packet(id, first.reverse(), Some(ACK), t(11));
    // Half-closed connections can idle for long: established timer.
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::FinWait));
    assert_eq!(tb.deadline(id), Some(t(11 + 7440)));
    tb.on_packet(id, first.reverse(), Some(FIN | ACK), t(20));
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Closed));
    tb.on_packet(id, first, Some(ACK), t(21));
    assert_eq!(tb.get(id).timer_class(), TimerClass::TcpTransitory);
    assert!(expire_all(&mut tb, t(21 + 239)).is_empty());
    assert_eq!(expire_all(&mut tb, t(21 + 240)), vec![1000]);
}

#[test]
fn tcp_session_close_out() {
    close(Dir::Original);
}

#[test]
fn tcp_session_close_in() {
    close(Dir::Reply);
}

#[test]
fn tcp_session_close_simultaneous() {
    let mut tb = table(8);
    let id = tcp_established(&mut tb, 1, 1000, t(0));
    tb.on_packet(id, Dir::Original, Some(FIN | ACK), t(10));
    tb.on_packet(id, Dir::Reply, Some(FIN | ACK), t(10));
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Closed));
    tb.on_packet(id, Dir::Original, Some(ACK), t(11));
    tb.on_packet(id, Dir::Reply, Some(ACK), t(11));
    assert_eq!(tb.deadline(id), Some(t(11 + 240)));
    assert_eq!(expire_all(&mut tb, t(251)), vec![1000]);
}

#[test]
fn tcp_reopen_after_close() {
    let mut tb = table(8);
    let id = tcp_established(&mut tb, 1, 1000, t(0));
    tb.on_packet(id, Dir::Original, Some(FIN | ACK), t(10));
    tb.on_packet(id, Dir::Reply, Some(FIN | ACK), t(10));
    assert_eq!(tb.get(id).timer_class(), TimerClass::TcpTransitory);
    // Same 5-tuple re-used for a new connection within the transitory time.
    tb.on_packet(id, Dir::Original, Some(SYN), t(60));
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::SynSent));
    tb.on_packet(id, Dir::Reply, Some(SYN | ACK), t(60));
    tb.on_packet(id, Dir::Original, Some(ACK), t(60));
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Established));
    assert_eq!(tb.deadline(id), Some(t(60 + 7440)));
    assert!(expire_all(&mut tb, t(1000)).is_empty());
}

#[test]
fn tcp_reopen_after_rst() {
    let mut tb = table(8);
    let id = tcp_established(&mut tb, 1, 1000, t(0));
    tb.on_packet(id, Dir::Original, Some(RST), t(5));
    tb.on_packet(id, Dir::Original, Some(SYN), t(6));
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::SynSent));
    tb.on_packet(id, Dir::Reply, Some(SYN | ACK), t(6));
    assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Established));
}

#[test]
fn n9_icmp_query_timeout() {
    let mut tb = table(8);
    let o = FlowKey::new(host(1), 77, PEER, 77, ICMP);
    let r = FlowKey::new(PEER, 4001, EXT, 4001, ICMP);
    let id = tb.insert(o, r, 1, t(0), host(1), |_| {}).unwrap();
    assert_eq!(tb.get(id).timer_class(), TimerClass::Icmp);
    assert_eq!(tb.get(id).tcp_state(), None);
    tb.on_packet(id, Dir::Original, None, t(30));
    assert!(expire_all(&mut tb, t(89)).is_empty());
    assert_eq!(expire_all(&mut tb, t(90)), vec![1]);
}

#[test]
fn n10_timeouts_configurable_and_validated() {
    assert_eq!(Timeouts::default().validate(), Ok(()));
    let base = Timeouts::default();
    for bad in [
        Timeouts { udp: 119, ..base },
        Timeouts {
            tcp_established: 7439,
            ..base
        },
        Timeouts {
            tcp_transitory: 239,
            ..base
        },
        Timeouts { icmp: 59, ..base },
        Timeouts {
            udp: Timeouts::MAX + 1,
            ..base
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    assert!(Timeouts { udp: 119, ..base }
        .validate()
        .unwrap_err()
        .contains("udp"));
    let custom = Timeouts {
        udp: 120,
        tcp_established: 86400,
        tcp_transitory: 300,
        icmp: 90,
        udp_inbound_refresh: true,
    };
    assert_eq!(custom.validate(), Ok(()));

    let mut tb = SessionTable::with_seed(8, custom, 5);
    let u = add(&mut tb, 1, 1, UDP, t(0)).unwrap();
    let c = add(&mut tb, 1, 2, TCP, t(0)).unwrap();
    let e = tcp_established(&mut tb, 1, 3, t(0));
    let i = add(&mut tb, 1, 4, ICMP, t(0)).unwrap();
    assert_eq!(tb.deadline(u), Some(t(120)));
    assert_eq!(tb.deadline(c), Some(t(300)));
    assert_eq!(tb.deadline(e), Some(t(86400)));
    assert_eq!(tb.deadline(i), Some(t(90)));
    // Changing timeouts applies to live sessions at once.
    tb.set_timeouts(Timeouts { udp: 600, ..custom });
    assert_eq!(tb.deadline(u), Some(t(600)));
    assert_eq!(tb.timeouts().udp, 600);
}

#[test]
fn table_full_drops_new_keeps_established() {
    let mut tb = table(4);
    let ids: Vec<_> = (0..4)
        .map(|i| tcp_established(&mut tb, 1, 100 + i, t(0)))
        .collect();
    assert!(tb.is_full());
    let mut evicted = 0;
    assert_eq!(
        tb.insert(
            keys(2, 9, 9, TCP).0,
            keys(2, 9, 9, TCP).1,
            0,
            t(100),
            host(2),
            |_| evicted += 1
        ),
        Err(InsertError::TableFull)
    );
    // UDP sessions are not evicted before their time either.
    let mut tb2 = table(2);
    add(&mut tb2, 1, 1, UDP, t(0)).unwrap();
    add(&mut tb2, 1, 2, UDP, t(0)).unwrap();
    assert_eq!(
        add(&mut tb2, 1, 3, UDP, t(299)),
        Err(InsertError::TableFull)
    );
    assert_eq!(
        InsertError::TableFull.reason(),
        DropReason::SessionTableFull
    );
    assert_eq!(evicted, 0);
    for id in ids {
        assert_eq!(tb.get(id).tcp_state(), Some(TcpState::Established));
    }
    assert_eq!(tb.len(), 4);
}

#[test]
fn table_full_reclaims_expired_and_half_open() {
    let mut tb = table(3);
    let est = tcp_established(&mut tb, 1, 1, t(0));
    add(&mut tb, 1, 2, UDP, t(0)).unwrap(); // due 300
    let half = add(&mut tb, 1, 3, TCP, t(250)).unwrap(); // half-open, due 490
    let mut evicted = Vec::new();
    let ins = |tb: &mut SessionTable<u32>, p: u16, now: u64, ev: &mut Vec<u32>| {
        let (o, r) = keys(2, p, 4, UDP);
        tb.insert(o, r, u32::from(p), t(now), host(2), |s| ev.push(s.payload))
    };
    // Expired sessions are reclaimed before a live half-open one.
    ins(&mut tb, 4, 300, &mut evicted).unwrap();
    assert_eq!(evicted, vec![2]);
    assert_eq!(tb.stats().reclaimed_expired, 1);
    assert!(tb.try_get(half).is_some());
    // Nothing expired: the oldest transitory session goes.
    ins(&mut tb, 5, 301, &mut evicted).unwrap();
    assert_eq!(evicted, vec![2, 3]);
    assert!(tb.try_get(half).is_none());
    assert_eq!(tb.stats().evicted_transitory, 1);
    // Only established TCP and live UDP left: the new flow is dropped.
    assert_eq!(
        ins(&mut tb, 6, 302, &mut evicted),
        Err(InsertError::TableFull)
    );
    assert_eq!(evicted, vec![2, 3]);
    assert!(tb.try_get(est).is_some());
    assert_eq!(tb.len(), 3);
}

#[test]
fn lru_cleanup() {
    // Full table of UDP sessions, time passes, new flows succeed.
    let cap = 64;
    let mut tb = table(cap);
    for i in 0..cap as u16 {
        add(&mut tb, 1, 1000 + i, UDP, t(u64::from(i))).unwrap();
    }
    assert_eq!(add(&mut tb, 2, 1, UDP, t(100)), Err(InsertError::TableFull));
    // At 300 + 9 s the ten oldest have expired; new flows reclaim them oldest first.
    let mut evicted = Vec::new();
    for i in 0..10u16 {
        let (o, r) = keys(2, i, 1, UDP);
        tb.insert(o, r, 0, t(309), host(2), |s| evicted.push(s.payload))
            .unwrap();
    }
    assert_eq!(evicted, (1000..1010).collect::<Vec<u32>>());
    assert_eq!(
        add(&mut tb, 2, 99, UDP, t(309)),
        Err(InsertError::TableFull)
    );
    assert_eq!(tb.len(), cap);
    // Much later everything left expires in deadline order.
    let gone = expire_all(&mut tb, t(10_000));
    assert_eq!(gone.len(), cap);
    assert_eq!(&gone[..cap - 10], &(1010..1064).collect::<Vec<u32>>()[..]);
    assert!(tb.is_empty());
}

#[test]
fn refresh_moves_to_tail_of_lru() {
    let mut tb = table(4);
    let a = add(&mut tb, 1, 1, UDP, t(0)).unwrap();
    add(&mut tb, 1, 2, UDP, t(1)).unwrap();
    tb.on_packet(a, Dir::Original, None, t(2));
    let mut order = Vec::new();
    tb.expire(t(1000), 10, |s| order.push(s.payload));
    assert_eq!(order, vec![2, 1]);
}

#[test]
fn session_limit_per_subscriber() {
    let mut tb = table(16);
    tb.set_subscriber_limit(3);
    for p in 0..3 {
        add(&mut tb, 1, p, UDP, t(0)).unwrap();
    }
    assert_eq!(tb.subscriber_sessions(host(1)), 3);
    assert_eq!(
        add(&mut tb, 1, 9, UDP, t(0)),
        Err(InsertError::SubscriberLimit)
    );
    assert_eq!(
        InsertError::SubscriberLimit.reason(),
        DropReason::SubscriberLimit
    );
    // Others are unaffected.
    add(&mut tb, 2, 9, UDP, t(0)).unwrap();
    // Once one expires or is removed, the subscriber may open a new one.
    let (o, _) = keys(1, 0, 80, UDP);
    let (id, _) = find(&tb, &o).unwrap();
    tb.remove(id).unwrap();
    assert_eq!(tb.subscriber_sessions(host(1)), 2);
    add(&mut tb, 1, 9, UDP, t(1)).unwrap();
    expire_all(&mut tb, t(1000));
    assert_eq!(tb.subscriber_sessions(host(1)), 0);
    // 0 = unlimited.
    tb.set_subscriber_limit(0);
    for p in 0..16 {
        add(&mut tb, 1, p, UDP, t(1000)).unwrap();
    }
}

#[test]
fn expire_budget_bounded() {
    let mut tb = table(100);
    for i in 0..100 {
        add(&mut tb, 1, i, UDP, t(0)).unwrap();
    }
    let mut seen = 0;
    assert_eq!(tb.expire(t(300), 30, |_| seen += 1), 30);
    assert_eq!(seen, 30);
    assert_eq!(tb.len(), 70);
    assert_eq!(tb.expire(t(300), 0, |_| seen += 1), 0);
    assert_eq!(tb.expire(t(300), 100, |_| seen += 1), 70);
    assert_eq!(seen, 100);
    assert_eq!(tb.expire(t(300), 100, |_| seen += 1), 0);
    assert_eq!(tb.stats().expired, 100);
}

#[test]
fn expire_interleaves_classes_by_deadline() {
    let mut tb = table(8);
    add(&mut tb, 1, 1, ICMP, t(0)).unwrap(); // due 60
    add(&mut tb, 1, 2, TCP, t(0)).unwrap(); // due 240
    add(&mut tb, 1, 3, UDP, t(0)).unwrap(); // due 300
    add(&mut tb, 1, 4, ICMP, t(200)).unwrap(); // due 260
    assert_eq!(expire_all(&mut tb, t(1000)), vec![1, 2, 4, 3]);
}

#[test]
fn zero_capacity_table_is_always_full() {
    let mut tb = table(0);
    assert_eq!(add(&mut tb, 1, 1, UDP, t(0)), Err(InsertError::TableFull));
    assert_eq!(tb.expire(t(0), 10, |_| {}), 0);
}

#[test]
fn expiry_is_exact_and_cheap_far_from_the_epoch() {
    // `now` is milliseconds since an arbitrary epoch: a wall-clock one puts
    // it decades from 0, which must not cost anything extra.
    let t0 = 1_700_000_000_000u64;
    let mut tb = table(1000);
    for i in 0..1000u16 {
        add(
            &mut tb,
            1 + (i / 200) as u8,
            i,
            UDP,
            Instant(t0 + u64::from(i)),
        )
        .unwrap();
    }
    assert_eq!(tb.expire(Instant(t0 + 299_999), 1000, |_| {}), 0);
    assert_eq!(tb.expire(Instant(t0 + 300_000), 1000, |_| {}), 1);
    assert_eq!(tb.expire(Instant(t0 + 301_000), 1000, |_| {}), 999);
    assert!(tb.is_empty());
}
