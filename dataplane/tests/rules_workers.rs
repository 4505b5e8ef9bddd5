//! How workers use the compiled rules: one immutable `Arc<CompiledRules>`
//! shared by every worker, one `RuleCounters` per worker, summed by the
//! control thread.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::thread;

use dataplane::nat::rules::{
    compile, parse_rule, CompileContext, CompiledAction, PacketMeta, RuleCounters, RuleSpec,
};

#[test]
fn shared_snapshot_per_worker_counters() {
    let mut ctx = CompileContext::new();
    ctx.add_interface("lan", 0, 0b01)
        .add_interface("wan", 1, 0b10)
        .add_interface_list("LAN", 0b01)
        .add_interface_list("WAN", 0b10);
    let specs: Vec<RuleSpec> = [
        "chain=srcnat dst-address=10.0.0.0/8 action=accept comment=\"no NAT to the VPN\"",
        "chain=srcnat out-interface-list=WAN action=masquerade",
    ]
    .iter()
    .map(|l| parse_rule(l).unwrap())
    .collect();
    let rules = Arc::new(compile(&specs, &ctx).unwrap());
    let counters: Vec<Arc<RuleCounters>> = (0..2)
        .map(|_| Arc::new(RuleCounters::new(rules.len())))
        .collect();

    let handles: Vec<_> = counters
        .iter()
        .enumerate()
        .map(|(w, c)| {
            let rules = Arc::clone(&rules);
            let c = Arc::clone(c);
            thread::spawn(move || {
                for i in 0..100u32 {
                    let dst = if i % 4 == 0 {
                        Ipv4Addr::new(10, 1, 1, 1)
                    } else {
                        Ipv4Addr::new(8, 8, 8, 8)
                    };
                    let p = PacketMeta {
                        in_if: 0,
                        out_if: Some(1),
                        src: Ipv4Addr::new(192, 168, 88, 10 + w as u8),
                        dst,
                        proto: 17,
                        src_port: 1000 + i as u16,
                        dst_port: 53,
                        dst_is_local: false,
                    };
                    let hit = rules.match_srcnat(&p).unwrap();
                    match hit.action {
                        CompiledAction::Accept => assert_eq!(hit.index, 0),
                        CompiledAction::Masquerade { ports: None } => assert_eq!(hit.index, 1),
                        a => panic!("unexpected {a:?}"),
                    }
                    c.hit(hit.index, 60);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(counters[0].get(0), (25, 1500));
    assert_eq!(counters[1].get(1), (75, 4500));
    let totals = RuleCounters::sum(counters.iter().map(|c| &**c));
    assert_eq!(totals, vec![(50, 3000), (150, 9000)]);
}
