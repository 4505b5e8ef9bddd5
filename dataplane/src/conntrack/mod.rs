//! Per-worker session table, TCP state machine, timers and port allocation.
