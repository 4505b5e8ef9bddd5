//! NAT behaviour knobs the control thread validates once and workers read
//! from the snapshot.
//!
//! Invariant: a [`NatConfig`] inside a published [`crate::nat::Snapshot`] has
//! passed [`NatConfig::validate`]; the engine never re-checks it.

use crate::conntrack::Timeouts;
use core::fmt;
use core::str::FromStr;

/// Inbound filtering behaviour for packets that reach an existing
/// endpoint-independent mapping without an exact session (RFC 4787 §5, N6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filtering {
    /// Anyone may reach the mapping (full cone, best for P2P).
    #[default]
    EndpointIndependent,
    /// Only addresses the internal endpoint has sent to.
    AddressDependent,
    /// Only address:port pairs the internal endpoint has sent to.
    AddressAndPortDependent,
}

impl Filtering {
    pub const fn label(self) -> &'static str {
        match self {
            Filtering::EndpointIndependent => "endpoint-independent",
            Filtering::AddressDependent => "address-dependent",
            Filtering::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl FromStr for Filtering {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "endpoint-independent" => Ok(Filtering::EndpointIndependent),
            "address-dependent" => Ok(Filtering::AddressDependent),
            "address-and-port-dependent" => Ok(Filtering::AddressAndPortDependent),
            _ => Err(ConfigError::UnknownFiltering(s.to_owned())),
        }
    }
}

/// How a LAN client reaching a LAN server through the public address is
/// handled (N11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HairpinMode {
    /// RFC 4787 REQ-9: the hairpinned packet's source becomes the client's
    /// own external IP:port, exactly what an outside peer would see. Needs no
    /// extra rule.
    #[default]
    Auto,
    /// RouterOS / nftables: no implicit source translation; an explicit
    /// srcnat rule (usually masquerade towards the server) is required when
    /// client and server share a subnet.
    Rules,
}

impl HairpinMode {
    pub const fn label(self) -> &'static str {
        match self {
            HairpinMode::Auto => "auto",
            HairpinMode::Rules => "rules",
        }
    }
}

impl FromStr for HairpinMode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "auto" => Ok(HairpinMode::Auto),
            "rules" => Ok(HairpinMode::Rules),
            _ => Err(ConfigError::UnknownHairpin(s.to_owned())),
        }
    }
}

/// Per-subscriber limits (N4). A subscriber is the internal host whose
/// source is translated (or, for sessions without source translation, the
/// packet's source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions one subscriber may hold in one worker.
    pub sessions_per_subscriber: u32,
    /// External ports one subscriber may hold per protocol in one worker.
    pub ports_per_subscriber: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions_per_subscriber: 16_384,
            ports_per_subscriber: 8_192,
        }
    }
}

/// Fragment handling bounds (N14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragConfig {
    /// Datagrams whose first fragment is remembered at once.
    pub table_entries: u32,
    /// How long a first fragment's translation is remembered, and how long an
    /// out-of-order fragment may wait for its first fragment (milliseconds).
    pub timeout_ms: u64,
    /// Out-of-order fragments held at once.
    pub hold_slots: u32,
    /// Largest fragment that can be held (bytes of IPv4 packet).
    pub hold_slot_size: u32,
    /// Held fragments one source address may occupy.
    pub hold_per_source: u32,
}

impl Default for FragConfig {
    fn default() -> Self {
        FragConfig {
            table_entries: 4096,
            timeout_ms: 2_000,
            hold_slots: 64,
            hold_slot_size: 1_600,
            hold_per_source: 8,
        }
    }
}

/// Everything about NAT behaviour besides the rules themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct NatConfig {
    pub filtering: Filtering,
    pub hairpin: HairpinMode,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub frag: FragConfig,
    /// Sessions per worker table (preallocated).
    pub table_capacity: u32,
    /// Default external port range for masquerade/src-nat without to-ports
    /// (inclusive). Ports below 1024 are only used to preserve a privileged
    /// source port, when the range includes them.
    pub port_range: (u16, u16),
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            filtering: Filtering::default(),
            hairpin: HairpinMode::default(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            frag: FragConfig::default(),
            table_capacity: 65_536,
            port_range: (1024, 65535),
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    UnknownFiltering(String),
    UnknownHairpin(String),
    Timeouts(String),
    TableCapacity(u32),
    PortRange(u16, u16),
    Limit(&'static str),
    Frag(&'static str),
    /// Two srcnat pools share an address with different port ranges that
    /// overlap, which would hand out one external port twice.
    OverlappingPools(std::net::Ipv4Addr),
    /// A srcnat pool has more addresses than one worker preallocates for.
    PoolTooLarge {
        first: std::net::Ipv4Addr,
        len: u64,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownFiltering(s) => write!(
                f,
                "unknown filtering {s:?} (endpoint-independent | address-dependent | address-and-port-dependent)"
            ),
            ConfigError::UnknownHairpin(s) => write!(f, "unknown hairpin mode {s:?} (auto | rules)"),
            ConfigError::Timeouts(s) => write!(f, "timeouts: {s}"),
            ConfigError::TableCapacity(n) => {
                write!(f, "table capacity {n} must be between 1 and {}", NatConfig::MAX_TABLE)
            }
            ConfigError::PortRange(a, b) => write!(f, "port range {a}-{b} is empty or starts at 0"),
            ConfigError::Limit(s) => write!(f, "limit {s} must be at least 1"),
            ConfigError::Frag(s) => write!(f, "fragments: {s}"),
            ConfigError::PoolTooLarge { first, len } => write!(
                f,
                "srcnat pool starting at {first} has {len} addresses (at most {})",
                crate::nat::snapshot::MAX_POOL_ADDRS
            ),
            ConfigError::OverlappingPools(a) => {
                write!(f, "address {a} is used by two srcnat rules with overlapping port ranges")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl NatConfig {
    /// Largest session table one worker may preallocate.
    pub const MAX_TABLE: u32 = 1 << 24;

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.timeouts.validate().map_err(ConfigError::Timeouts)?;
        if self.table_capacity == 0 || self.table_capacity > Self::MAX_TABLE {
            return Err(ConfigError::TableCapacity(self.table_capacity));
        }
        let (lo, hi) = self.port_range;
        if lo == 0 || lo > hi {
            return Err(ConfigError::PortRange(lo, hi));
        }
        if self.limits.sessions_per_subscriber == 0 {
            return Err(ConfigError::Limit("sessions_per_subscriber"));
        }
        if self.limits.ports_per_subscriber == 0 {
            return Err(ConfigError::Limit("ports_per_subscriber"));
        }
        let fr = &self.frag;
        if fr.table_entries == 0 {
            return Err(ConfigError::Frag("table_entries must be at least 1"));
        }
        if fr.timeout_ms == 0 || fr.timeout_ms > 60_000 {
            return Err(ConfigError::Frag("timeout_ms must be within 1..=60000"));
        }
        if fr.hold_slots > 0 && !(68..=9216).contains(&fr.hold_slot_size) {
            return Err(ConfigError::Frag("hold_slot_size must be within 68..=9216"));
        }
        if fr.hold_per_source == 0 {
            return Err(ConfigError::Frag("hold_per_source must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_rejects_unknown() {
        assert_eq!(
            "address-dependent".parse::<Filtering>(),
            Ok(Filtering::AddressDependent)
        );
        assert_eq!("rules".parse::<HairpinMode>(), Ok(HairpinMode::Rules));
        assert!("full-cone".parse::<Filtering>().is_err());
        assert!("on".parse::<HairpinMode>().is_err());
        for f in [
            Filtering::EndpointIndependent,
            Filtering::AddressDependent,
            Filtering::AddressAndPortDependent,
        ] {
            assert_eq!(f.label().parse::<Filtering>(), Ok(f));
        }
    }

    #[test]
    fn validation_catches_bad_values() {
        assert_eq!(NatConfig::default().validate(), Ok(()));
        let c = NatConfig {
            table_capacity: 0,
            ..NatConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::TableCapacity(0)));
        let c = NatConfig {
            port_range: (2000, 1000),
            ..NatConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::PortRange(2000, 1000)));
        let mut c = NatConfig::default();
        c.limits.ports_per_subscriber = 0;
        assert!(c.validate().is_err());
        let mut c = NatConfig::default();
        c.frag.timeout_ms = 0;
        assert!(c.validate().is_err());
    }
}
