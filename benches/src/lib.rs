//! Shared packet fixtures for the benches.
#![deny(unsafe_code)]
