//! Property test: random insert / packet / remove / expire sequences keep the
//! session table consistent with a plain HashMap model.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use dataplane::conntrack::{Dir, FlowKey, InsertError, Instant, SessionTable, Timeouts};
use proptest::prelude::*;

const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const EXT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const CAP: usize = 12;
const SUB_LIMIT: u32 = 4;
const TIMEOUTS: Timeouts = Timeouts {
    udp: 120,
    udp_inbound_refresh: false,
    tcp_established: 7440,
    tcp_transitory: 60,
    icmp: 30,
};

#[derive(Debug, Clone)]
enum Op {
    Insert { h: u8, p: u8, proto: u8, dt: u32 },
    Packet { pick: usize, reply: bool, dt: u32 },
    Remove { pick: usize },
    Expire { dt: u32, budget: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6, 0u8..4, prop::sample::select(vec![1u8, 6, 17]), 0u32..20_000)
            .prop_map(|(h, p, proto, dt)| Op::Insert { h, p, proto, dt }),
        3 => (any::<usize>(), any::<bool>(), 0u32..30_000).prop_map(|(pick, reply, dt)| Op::Packet { pick, reply, dt }),
        1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        2 => (0u32..90_000, 0usize..6).prop_map(|(dt, budget)| Op::Expire { dt, budget }),
    ]
}

#[derive(Debug, Clone)]
struct Model {
    reply: FlowKey,
    payload: u32,
    refreshed: u64,
    sub: Ipv4Addr,
}

fn timeout_ms(proto: u8) -> u64 {
    1000 * u64::from(match proto {
        6 => TIMEOUTS.tcp_transitory, // no flags are sent: TCP stays SynSent
        1 => TIMEOUTS.icmp,
        _ => TIMEOUTS.udp,
    })
}

fn deadline(k: &FlowKey, m: &Model) -> u64 {
    m.refreshed + timeout_ms(k.proto)
}

fn check(tb: &SessionTable<u32>, model: &HashMap<FlowKey, Model>) {
    assert_eq!(tb.len(), model.len());
    let mut subs: HashMap<Ipv4Addr, u32> = HashMap::new();
    for (k, m) in model {
        let (id, d) = tb.lookup(k, tb.hash(k)).expect("orig key indexed");
        assert_eq!(d, Dir::Original);
        assert_eq!(
            tb.lookup(&m.reply, tb.hash(&m.reply)),
            Some((id, Dir::Reply))
        );
        let s = tb.get(id);
        assert_eq!(s.payload, m.payload);
        assert_eq!(s.orig(), k);
        assert_eq!(tb.deadline(id), Some(Instant(deadline(k, m))));
        *subs.entry(m.sub).or_default() += 1;
    }
    for (a, n) in subs {
        assert_eq!(tb.subscriber_sessions(a), n);
    }
    assert_eq!(tb.iter().count(), model.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn table_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut tb: SessionTable<u32> = SessionTable::with_seed(CAP, TIMEOUTS, 99);
        tb.set_subscriber_limit(SUB_LIMIT);
        let mut model: HashMap<FlowKey, Model> = HashMap::new();
        let mut now = 0u64;
        let mut next_payload = 0u32;
        for op in ops {
            match op {
                Op::Insert { h, p, proto, dt } => {
                    now += u64::from(dt);
                    let sub = Ipv4Addr::new(10, 0, 0, h);
                    let orig = FlowKey::new(sub, 1000 + u16::from(p), PEER, 80, proto);
                    let reply = FlowKey::new(PEER, 80, EXT, u16::from(h) * 16 + u16::from(p), proto);
                    next_payload += 1;
                    let mut evicted = Vec::new();
                    let r = tb.insert(orig, reply, next_payload, Instant(now), sub, |s| evicted.push(*s.orig()));
                    let sub_count = model.values().filter(|m| m.sub == sub).count() as u32;
                    let expired: Vec<u64> = model.iter().map(|(k, m)| deadline(k, m)).filter(|&d| d <= now).collect();
                    let has_transitory = model.keys().any(|k| k.proto == 6);
                    if model.contains_key(&orig) {
                        prop_assert_eq!(r, Err(InsertError::Exists));
                    } else if sub_count >= SUB_LIMIT {
                        prop_assert_eq!(r, Err(InsertError::SubscriberLimit));
                    } else if model.len() >= CAP && expired.is_empty() && !has_transitory {
                        prop_assert_eq!(r, Err(InsertError::TableFull));
                    } else {
                        prop_assert!(r.is_ok());
                        if model.len() >= CAP {
                            prop_assert_eq!(evicted.len(), 1);
                            let victim = model.remove(&evicted[0]).expect("victim was live");
                            let vd = deadline(&evicted[0], &victim);
                            if let Some(&min) = expired.iter().min() {
                                prop_assert_eq!(vd, min, "oldest expired first");
                            } else {
                                prop_assert_eq!(evicted[0].proto, 6, "only transitory TCP is evicted");
                                let oldest = model.iter().filter(|(k, _)| k.proto == 6).map(|(_, m)| m.refreshed).min();
                                prop_assert!(!matches!(oldest, Some(o) if o < victim.refreshed), "oldest transitory first");
                            }
                        } else {
                            prop_assert!(evicted.is_empty());
                        }
                        model.insert(orig, Model { reply, payload: next_payload, refreshed: now, sub });
                    }
                }
                Op::Packet { pick, reply, dt } => {
                    now += u64::from(dt);
                    if model.is_empty() { continue; }
                    let mut keys: Vec<FlowKey> = model.keys().copied().collect();
                    keys.sort();
                    let k = keys[pick % keys.len()];
                    let m = model.get_mut(&k).unwrap();
                    let (key, dir) = if reply { (m.reply, Dir::Reply) } else { (k, Dir::Original) };
                    let (id, d) = tb.lookup(&key, tb.hash(&key)).unwrap();
                    prop_assert_eq!(d, dir);
                    prop_assert!(tb.on_packet(id, dir, None, Instant(now)));
                    if !reply || k.proto == 6 {
                        m.refreshed = now;
                    }
                }
                Op::Remove { pick } => {
                    if model.is_empty() { continue; }
                    let mut keys: Vec<FlowKey> = model.keys().copied().collect();
                    keys.sort();
                    let k = keys[pick % keys.len()];
                    let (id, _) = tb.lookup(&k, tb.hash(&k)).unwrap();
                    let s = tb.remove(id).unwrap();
                    prop_assert_eq!(s.payload, model.remove(&k).unwrap().payload);
                    prop_assert!(tb.try_get(id).is_none());
                }
                Op::Expire { dt, budget } => {
                    now += u64::from(dt);
                    let mut gone = Vec::new();
                    let n = tb.expire(Instant(now), budget, |s| gone.push(*s.orig()));
                    let due = model.iter().filter(|(k, m)| deadline(k, m) <= now).count();
                    prop_assert_eq!(n, due.min(budget));
                    prop_assert_eq!(gone.len(), n);
                    let mut max_gone = 0;
                    for k in &gone {
                        let m = model.remove(k).expect("expired session was live");
                        let d = deadline(k, &m);
                        prop_assert!(d <= now);
                        max_gone = max_gone.max(d);
                    }
                    // Oldest deadlines go first.
                    for (k, m) in &model {
                        let d = deadline(k, m);
                        prop_assert!(d > now || d >= max_gone);
                    }
                }
            }
            check(&tb, &model);
        }
    }
}
