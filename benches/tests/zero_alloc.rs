//! Steady state allocates nothing: engine fast path, full frame pipeline and
//! session churn on the benchmark workload, counted on this thread by
//! `allocation_counter` (linking it installs its global allocator). The
//! report binary prints the same per-burst numbers.

use allocation_counter::measure;
use benches::scenario::{self, BurstBufs, Dir, Flows, BURST, T0};
use benches::{frames, pkt, Rng};
use dataplane::conntrack::WorkerSlice;
use dataplane::nat::Verdict;
use dataplane::wire::ip_proto;

#[test]
fn steady_state_allocates_nothing() {
    for proto in [ip_proto::UDP, ip_proto::TCP] {
        let (mut p, flows) = frames::pipeline(2000, proto).unwrap();
        let mut rng = Rng::new(3);
        let mut out = [Verdict::Local; BURST];
        let mut b = BurstBufs::default();
        let mut io = frames::Recycler::new(BURST);
        let mut batch = Vec::with_capacity(BURST);
        // Warm up once (first use of every path), then count.
        for dir in [Dir::In2Out, Dir::Out2In] {
            b.fill(&flows, dir, &mut rng);
            b.process(p.engine_mut(), Flows::in_if(dir), T0, &mut out);
        }
        let mut now = T0;
        let allocs = measure(|| {
            for i in 0..2000 {
                let dir = if i % 2 == 0 { Dir::In2Out } else { Dir::Out2In };
                b.fill(&flows, dir, &mut rng);
                assert_eq!(
                    b.process(p.engine_mut(), Flows::in_if(dir), now, &mut out),
                    BURST
                );
                frames::fill(&mut batch, &mut io, &flows, dir, &mut rng);
                p.process_burst(Flows::in_if(dir), batch.drain(..), now, &mut io);
                if i % 64 == 0 {
                    now = now.add_millis(10);
                    p.housekeeping(now, &mut io);
                }
            }
        })
        .count_total;
        assert_eq!(
            allocs, 0,
            "proto {proto}: {allocs} allocations in 4000 bursts"
        );
        assert_eq!(io.sent.iter().sum::<u64>(), 2000 * BURST as u64);
    }

    // Session churn: new sessions every burst, expiry and port quarantine.
    let n = 1000;
    let mut e = scenario::engine(n, WorkerSlice::SINGLE);
    let mut buf = [[0u8; 64]; BURST];
    let mut now = T0;
    let step_ms = 301_000 * BURST as u64 / (n as u64 / 2);
    let allocs = measure(|| {
        for k in 0..500 {
            for (j, p) in buf.iter_mut().enumerate() {
                let (s, sp, d, dp) = scenario::flow((k * BURST + j) % (8 * n));
                pkt::write_udp(p, s, sp, d, dp, b"churn");
                let v = e.process(&mut p[..pkt::IP_LEN], scenario::LAN, now);
                assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
            }
            now = now.add_millis(step_ms);
            e.housekeeping(now, 4 * BURST);
        }
    })
    .count_total;
    assert_eq!(allocs, 0, "churn allocates");
    assert!(e.stats().sessions_expired > 10_000);
}
