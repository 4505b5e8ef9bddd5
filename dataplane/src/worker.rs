//! The poll-mode burst loop a worker lcore runs.
