//! Safe RAII wrappers over DPDK: the only module in the workspace allowed `unsafe`.
//!
//! Invariants the wrappers keep, so that safe code cannot cause UB:
//! - [`Eal`] is initialised at most once per process ([`Eal::init`] returns an
//!   error the second time) and runs `rte_eal_cleanup` on drop. Everything
//!   that touches DPDK memory ([`Mempool`], [`Port`], [`Mbuf`], [`Burst`],
//!   [`Ring`]) borrows the `Eal`, so none of it can outlive the cleanup.
//! - An [`Mbuf`] is owned exactly once: it is freed on drop or moved into a
//!   [`Burst`], a TX queue or a ring. A [`Burst`] holds up to [`BURST_SIZE`]
//!   owned mbufs and frees what it still holds with one bulk call.
//! - A mempool is only freed when every mbuf has come back to it; otherwise it
//!   is left to `rte_eal_cleanup`.
//! - Each RX/TX queue of a [`Port`] is handed out at most once at a time
//!   ([`Port::rx_queue`], [`Port::tx_queue`]), so no two threads poll one queue.
//!   Reconfiguring, stopping or dropping a port needs `&mut`, so it cannot
//!   happen while a queue handle is alive.
//! - Closures launched on worker lcores ([`Eal::scope`]) are always waited for
//!   before the scope returns, so they may borrow from the caller.
//!
//! Packets reach the pure Rust code as byte slices ([`Mbuf::data_mut`],
//! [`Burst::frames_mut`]): nothing outside this module sees an `rte_mbuf`.
#![deny(clippy::undocumented_unsafe_blocks)]

mod eal;
mod error;
mod mbuf;
mod mempool;
mod port;
mod ring;

pub use eal::{lcore_id, tsc, tsc_hz, Eal, LcoreScope};
pub use error::DpdkError;
pub use mbuf::{Burst, Mbuf, BURST_SIZE};
pub use mempool::Mempool;
pub use port::{LinkStatus, Port, PortConfig, PortStats, RxQueue, TxOutcome, TxQueue};
pub use ring::Ring;
