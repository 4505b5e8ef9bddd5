//! Per-session TCP state tracking (RFC 5382, RFC 6146 section 3.5.2, RFC 7857 section 2.2).
//!
//! The NAT does not validate sequence numbers; it only tracks which control
//! flags each side has sent, which is enough to choose the idle timer:
//!
//! | state         | how it is reached                                  | timer       |
//! |---------------|----------------------------------------------------|-------------|
//! | `SynSent`     | SYN from one side only (the session was created)   | transitory  |
//! | `Established` | SYN seen from both sides (SYN-ACK or simultaneous open) | established |
//! | `FinWait`     | established, FIN from exactly one side             | established |
//! | `Closed`      | established, FIN from both sides                   | transitory  |
//! | `Reset`       | RST from either side                               | transitory  |
//!
//! Transitions:
//! - A RST moves any state to `Reset`. The session is kept (and the RST is
//!   translated) so a spoofed RST cannot tear down a live connection: as in
//!   RFC 6146's TRANS state, a later non-RST, non-SYN packet of a connection
//!   that had been established returns it to where it was.
//! - A SYN in `Closed` or `Reset` re-opens the session: the flags are
//!   cleared and the sender is recorded as having sent a SYN (`SynSent`).
//! - A SYN in any other state only records that side's SYN, so a SYN from
//!   the second side (SYN-ACK, or a bare SYN in a simultaneous open)
//!   establishes the connection; retransmitted SYNs change nothing.
//! - FINs are recorded per side once the connection is established or not.

/// TCP flag bits as they appear in byte 13 of the TCP header.
pub mod flags {
    use crate::wire::tcp::TcpFlags;
    pub const FIN: u8 = TcpFlags::FIN;
    pub const SYN: u8 = TcpFlags::SYN;
    pub const RST: u8 = TcpFlags::RST;
    pub const PSH: u8 = TcpFlags::PSH;
    pub const ACK: u8 = TcpFlags::ACK;
}

/// The tracked state of a TCP session (see the module docs for the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    SynSent,
    Established,
    FinWait,
    Closed,
    Reset,
}

impl TcpState {
    /// Whether this state uses the transitory (short) idle timer.
    pub const fn is_transitory(self) -> bool {
        matches!(self, TcpState::SynSent | TcpState::Closed | TcpState::Reset)
    }
}

/// Flags seen per direction, one bit each (one byte per session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TcpTracker(u8);

const SYN0: u8 = 1;
const FIN0: u8 = 4;
const RST_SEEN: u8 = 16;
const BOTH_SYN: u8 = SYN0 | SYN0 << 1;
const BOTH_FIN: u8 = FIN0 | FIN0 << 1;

impl TcpTracker {
    /// A connection whose first SYN came from side `dir`.
    pub(crate) const fn opened_by(dir: usize) -> Self {
        TcpTracker(SYN0 << (dir & 1))
    }

    pub(crate) fn state(&self) -> TcpState {
        let b = self.0;
        if b & RST_SEEN != 0 {
            TcpState::Reset
        } else if b & BOTH_SYN != BOTH_SYN {
            TcpState::SynSent
        } else if b & BOTH_FIN == BOTH_FIN {
            TcpState::Closed
        } else if b & BOTH_FIN != 0 {
            TcpState::FinWait
        } else {
            TcpState::Established
        }
    }

    /// Records one segment from side `dir` (0 original, 1 reply).
    pub(crate) fn on_segment(&mut self, dir: usize, f: u8) {
        let dir = dir & 1;
        if f & flags::RST != 0 {
            self.0 |= RST_SEEN;
            return;
        }
        if f & flags::SYN != 0 {
            if matches!(self.state(), TcpState::Closed | TcpState::Reset) {
                *self = Self::opened_by(dir);
            } else {
                self.0 |= SYN0 << dir;
            }
        } else if self.0 & RST_SEEN != 0 && self.0 & BOTH_SYN == BOTH_SYN {
            // RFC 6146 TRANS: traffic after a RST means the RST did not end it.
            self.0 &= !RST_SEEN;
        }
        if f & flags::FIN != 0 {
            self.0 |= FIN0 << dir;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::flags::*;
    use super::*;

    fn run(steps: &[(usize, u8)]) -> TcpState {
        let mut t = TcpTracker::opened_by(0);
        for &(d, f) in steps {
            t.on_segment(d, f);
        }
        t.state()
    }

    #[test]
    fn three_way_handshake_and_close() {
        assert_eq!(run(&[]), TcpState::SynSent);
        assert_eq!(run(&[(0, SYN)]), TcpState::SynSent);
        assert_eq!(run(&[(1, SYN | ACK)]), TcpState::Established);
        assert_eq!(
            run(&[(1, SYN | ACK), (0, ACK), (0, FIN | ACK)]),
            TcpState::FinWait
        );
        assert_eq!(
            run(&[(1, SYN | ACK), (0, FIN | ACK), (1, ACK)]),
            TcpState::FinWait
        );
        assert_eq!(
            run(&[(1, SYN | ACK), (0, FIN | ACK), (1, FIN | ACK)]),
            TcpState::Closed
        );
        assert_eq!(
            run(&[(1, SYN | ACK), (0, FIN | ACK), (0, FIN | ACK)]),
            TcpState::FinWait
        );
    }

    #[test]
    fn simultaneous_open_without_syn_ack() {
        assert_eq!(run(&[(1, SYN)]), TcpState::Established);
    }

    #[test]
    fn rst_is_transitory_and_traffic_revives_only_established() {
        assert_eq!(run(&[(1, SYN | ACK), (1, RST)]), TcpState::Reset);
        assert_eq!(
            run(&[(1, SYN | ACK), (1, RST), (0, ACK)]),
            TcpState::Established
        );
        assert_eq!(run(&[(0, RST)]), TcpState::Reset);
        assert_eq!(run(&[(0, RST), (0, ACK)]), TcpState::Reset);
        assert_eq!(
            run(&[(1, SYN | ACK), (0, RST | ACK), (1, RST)]),
            TcpState::Reset
        );
    }

    #[test]
    fn syn_after_close_or_reset_reopens() {
        assert_eq!(
            run(&[(1, SYN | ACK), (0, FIN), (1, FIN), (0, SYN)]),
            TcpState::SynSent
        );
        assert_eq!(
            run(&[(1, SYN | ACK), (0, FIN), (1, FIN), (0, SYN), (1, SYN | ACK)]),
            TcpState::Established
        );
        assert_eq!(
            run(&[(1, SYN | ACK), (1, RST), (0, SYN)]),
            TcpState::SynSent
        );
        // A SYN while half-closed is not a reopen.
        assert_eq!(
            run(&[(1, SYN | ACK), (0, FIN), (0, SYN)]),
            TcpState::FinWait
        );
    }

    #[test]
    fn transitory_classification() {
        assert!(TcpState::SynSent.is_transitory());
        assert!(TcpState::Closed.is_transitory());
        assert!(TcpState::Reset.is_transitory());
        assert!(!TcpState::Established.is_transitory());
        assert!(!TcpState::FinWait.is_transitory());
    }
}
