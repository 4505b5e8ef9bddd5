//! Safe RAII wrappers over DPDK: the only module in the workspace allowed `unsafe`.
