//! The dpnat dataplane: everything a worker lcore runs.
//!
//! Only [`dpdk`] may use `unsafe`; every other module works on plain byte
//! slices, so it is testable, fuzzable and benchmarkable without an EAL.
#![deny(unsafe_code)]

#[cfg(feature = "dpdk")]
#[allow(unsafe_code)]
pub mod dpdk;

pub mod conntrack;
pub mod nat;
pub mod pipeline;
pub mod route;
pub mod stats;
pub mod wire;
#[cfg(feature = "dpdk")]
pub mod worker;
