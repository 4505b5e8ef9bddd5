//! Per-worker session table, TCP state machine, timers and port allocation.
//!
//! - [`Instant`] / [`Timeouts`]: injected millisecond time and the idle
//!   timeouts (N7-N10); nothing here reads a clock.
//! - [`FlowKey`]: the 5-tuple and its keyed hash, computed once per packet.
//! - [`SessionTable`]: bounded, preallocated, both-keys-indexed sessions
//!   (a tagged one-cache-line-per-probe index), lazy timer-wheel expiry with
//!   no list work per packet, and the full-table policy.
//! - [`tcp`]: the TCP state machine (its module docs list the states).
//! - [`ports`]: endpoint-independent mappings and per-worker port allocation
//!   (N1-N5).
//!
//! Beyond the common contract: `SessionTable::insert` takes an `on_evict`
//! callback (a full-table reclaim frees a session whose port mapping the
//! owner must release), `get`/`get_mut` have non-panicking `try_` twins,
//! `remove` returns the session, `insert_missed` skips re-checking a key
//! the caller just missed, `prefetch_index`/`prefetch_candidate`/
//! `prefetch_slot` let a burst overlap its cache misses, and `AllocError`
//! has an `UnsupportedProtocol` variant. `InsertError::Exists` maps to
//! `DropReason::SessionClash`.
//!
//! Ownership: each worker owns one `SessionTable` and one `ports::Mappings`
//! over its own slice of the external port range, so a return packet has
//! exactly one owner ([`ports::WorkerSlice::owner_of`]). Nothing here is
//! shared or locked, and nothing allocates after construction.
//!
//! Full tables: a full `SessionTable` frees one expired session, else the
//! oldest transitory TCP session, else refuses the new flow
//! (`InsertError::TableFull`); established sessions are never evicted. Out
//! of ports, a new flow gets `AllocError::OutOfPorts`; no mapping is evicted.

mod index;
pub mod key;
pub mod ports;
pub mod table;
pub mod tcp;
pub mod time;

pub use key::{random_seed, FlowKey};
pub use ports::{AllocError, Mappings, PortConfig, PortRange, WorkerSlice};
pub use table::{Dir, InsertError, Session, SessionId, SessionTable, TableStats, TimerClass};
pub use tcp::TcpState;
pub use time::{Instant, Timeouts};
