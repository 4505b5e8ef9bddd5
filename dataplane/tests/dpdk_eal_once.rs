//! The EAL starts once per process: a second init is an error, not UB.

mod dpdk_common;

use dataplane::dpdk::Eal;
use dpdk_common::*;

#[test]
fn second_eal_init_is_an_error() {
    let eal = eal("0", &[]);
    assert_eq!(eal.main_lcore(), 0);
    assert!(eal.worker_lcores().is_empty());
    let again = Eal::init(&eal_args("0", &[]));
    let err = again.err().expect("second init must fail");
    assert_eq!(err.errno(), 114);
    assert!(err.to_string().starts_with("rte_eal_init: "), "{err}");
    drop(eal);
    // Not even after cleanup: DPDK cannot re-initialise.
    assert!(Eal::init(&eal_args("0", &[])).is_err());
}
