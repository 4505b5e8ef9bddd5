//! Injected time and the idle timeouts (N7-N10).
//!
//! Invariants: nothing in the dataplane reads a clock; every table takes
//! `now` from its caller. A `now` that repeats or steps backwards is
//! harmless: session refreshes never move a deadline backwards, every elapsed
//! time saturates at 0, so a backwards step only delays expiry. Instant
//! arithmetic saturates instead of overflowing.

/// Milliseconds since an arbitrary epoch. The dataplane never reads a
/// clock itself: the worker loop (or a test) passes `now` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    pub const fn from_secs(s: u64) -> Instant {
        Instant(s.saturating_mul(1000))
    }

    pub const fn millis(self) -> u64 {
        self.0
    }

    pub const fn secs(self) -> u64 {
        self.0 / 1000
    }

    pub const fn add_millis(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }

    pub const fn add_secs(self, s: u64) -> Instant {
        Instant(self.0.saturating_add(s.saturating_mul(1000)))
    }

    /// Milliseconds from `earlier` to `self`, 0 if `earlier` is later.
    pub const fn saturating_sub(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Idle timeouts in seconds. Every one is configurable (N10).
///
/// [`Timeouts::validate`] enforces the RFC minimums; the table itself
/// accepts any value so tests and labs can use short ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// UDP mapping idle timeout (RFC 4787 REQ-5: >= 120 s; default 300 s).
    pub udp: u32,
    /// Whether packets in the reply direction refresh UDP (and ICMP query)
    /// sessions too (RFC 4787 REQ-6: outbound refresh is mandatory, inbound optional).
    pub udp_inbound_refresh: bool,
    /// TCP established idle timeout (RFC 5382 REQ-5: >= 2 h 4 min).
    pub tcp_established: u32,
    /// TCP transitory states: SYN seen, both FINs seen, after RST (RFC 5382: >= 4 min).
    pub tcp_transitory: u32,
    /// ICMP query idle timeout (RFC 5508 REQ-1: >= 60 s).
    pub icmp: u32,
}

impl Timeouts {
    pub const MIN_UDP: u32 = 120;
    pub const MIN_TCP_ESTABLISHED: u32 = 7440;
    pub const MIN_TCP_TRANSITORY: u32 = 240;
    pub const MIN_ICMP: u32 = 60;
    /// Upper bound for every timeout (one week) so deadlines never overflow
    /// and a typo cannot pin sessions forever.
    pub const MAX: u32 = 7 * 24 * 3600;

    pub const DEFAULT: Timeouts = Timeouts {
        udp: 300,
        udp_inbound_refresh: false,
        tcp_established: 7440,
        tcp_transitory: 240,
        icmp: 60,
    };

    /// Checks the RFC minimums (N7, N8, N9) and the upper bound.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            ("udp", self.udp, Self::MIN_UDP),
            (
                "tcp_established",
                self.tcp_established,
                Self::MIN_TCP_ESTABLISHED,
            ),
            (
                "tcp_transitory",
                self.tcp_transitory,
                Self::MIN_TCP_TRANSITORY,
            ),
            ("icmp", self.icmp, Self::MIN_ICMP),
        ];
        for (name, value, min) in checks {
            if value < min {
                return Err(format!(
                    "timeout {name} = {value} s is below the minimum of {min} s"
                ));
            }
            if value > Self::MAX {
                return Err(format!(
                    "timeout {name} = {value} s is above the maximum of {} s",
                    Self::MAX
                ));
            }
        }
        Ok(())
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_secs(10);
        assert_eq!(t.millis(), 10_000);
        assert_eq!(t.add_secs(5), Instant(15_000));
        assert_eq!(t.add_millis(1), Instant(10_001));
        assert_eq!(t.saturating_sub(Instant(4_000)), 6_000);
        assert_eq!(Instant(4_000).saturating_sub(t), 0);
        assert_eq!(Instant(u64::MAX).add_secs(1), Instant(u64::MAX));
        assert_eq!(Instant::from_secs(u64::MAX), Instant(u64::MAX));
    }

    #[test]
    fn defaults_are_the_rfc_values_and_valid() {
        let t = Timeouts::default();
        assert_eq!(
            (t.udp, t.tcp_established, t.tcp_transitory, t.icmp),
            (300, 7440, 240, 60)
        );
        assert!(!t.udp_inbound_refresh);
        assert_eq!(t.validate(), Ok(()));
    }
}
