//! Compiled NAT rules, the session-miss path, translations, hairpin, ICMP errors, fragments.
//!
//! - [`rules`]: RouterOS-syntax rules, compiled for matching (rules helper).
//! - [`config`]: [`NatConfig`] (filtering, hairpin mode, limits, timeouts).
//! - [`snapshot`]: the immutable [`Snapshot`] workers translate against.
//! - [`translate`]: per-direction precompiled [`Rewrite`]s (O(1) per packet).
//! - [`engine`]: the per-worker [`Engine`] and its [`Verdict`]s.
//! - [`icmp_error`]: translating ICMP errors about translated flows (N12).
//! - [`frag`]: fragment tracking and the out-of-order hold buffer (N14).
//!
//! # Hairpin (N11)
//! A LAN client sending to the router's public address, where a dst-nat rule
//! or an existing mapping points back into a LAN, is "hairpinned". Two styles:
//! * `hairpin = "auto"` (RFC 4787 REQ-9): if the client would be
//!   source-translated leaving through the interface that owns the public
//!   address (a srcnat rule matches with that out-interface), its source is
//!   translated to its own external IP:port, exactly what an outside peer
//!   would see. The server's reply returns through the router. No extra rule.
//! * `hairpin = "rules"` (RouterOS / nftables): nothing implicit; an explicit
//!   srcnat rule such as
//!   `chain=srcnat src-address=192.168.88.0/24 dst-address=192.168.88.20 protocol=tcp dst-port=443 action=masquerade`
//!   makes the source the router's LAN address. Without it, a server on the
//!   client's own subnet answers the client directly and the connection
//!   fails (the classic symptom); on a different subnet it works anyway,
//!   since the reply is routed back through the router.
//!
//! Ordering: dstnat is evaluated before routing, srcnat after (the
//! out-interface is known). A translated destination that is the router
//! itself (other than `action=redirect`) is dropped as `HairpinLoop`, so
//! hairpinning can never loop.

pub mod config;
pub mod engine;
mod fasthash;
pub mod frag;
pub mod icmp_error;
mod pools;
pub mod rules;
pub mod snapshot;
pub mod translate;

pub use config::{ConfigError, Filtering, FragConfig, HairpinMode, Limits, NatConfig};
pub use engine::{Engine, Verdict};
pub use snapshot::{PoolSpec, Snapshot};
pub use translate::{Rewrite, Translation};
