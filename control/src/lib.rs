//! The dpnat control plane: config, EAL start-up, the worker launch,
//! signals and Prometheus metrics. The binary is `src/main.rs`.
#![deny(unsafe_code)]

pub mod config;
pub mod eal_args;
pub mod metrics;
pub mod run;
pub mod snapshot;
