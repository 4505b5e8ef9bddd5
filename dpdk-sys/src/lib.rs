//! Raw FFI to DPDK. No logic lives here; see `dataplane::dpdk` for the safe layer.
