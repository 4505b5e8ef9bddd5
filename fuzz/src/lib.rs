//! dpnat fuzz targets; the bodies live in `targets.rs`, shared with
//! `dataplane/tests/fuzz_regressions.rs`.
#![deny(unsafe_code)]

mod targets;
pub use targets::*;
