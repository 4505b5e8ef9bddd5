//! Per-worker counters and the one table of drop reasons.
//!
//! Every dropped packet is counted under exactly one [`DropReason`], and each
//! reason is one Prometheus label (`dpnat_drops_total{reason="..."}`).
//! Counters are owned by one worker and only ever written by it; the control
//! thread reads them (plain relaxed loads of aligned u64s are fine for
//! monitoring) and sums across workers.

/// Why a packet was dropped. One variant per check; `label()` is the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    // --- L2 ---
    /// Frame shorter than an Ethernet header.
    EthTruncated,
    /// EtherType we neither handle nor pass through.
    EthUnsupportedType,
    /// Destination MAC is neither the input interface's nor broadcast
    /// (another host's unicast seen in promiscuous mode, or multicast).
    EthNotForUs,
    /// ARP packet malformed or not Ethernet/IPv4.
    ArpMalformed,
    /// Well-formed ARP we do not act on: for another host, unsolicited, or
    /// from a sender we refuse to learn (off-link, conflicting, bad MAC).
    ArpIgnored,
    // --- IPv4 header validation (RFC 1812 5.2.2) ---
    /// Buffer shorter than the IPv4 header or total length.
    Ipv4Truncated,
    /// Version field is not 4.
    Ipv4BadVersion,
    /// IHL below 5 or beyond the buffer.
    Ipv4BadHeaderLen,
    /// Total length smaller than the header length.
    Ipv4BadTotalLen,
    /// Header checksum does not verify.
    Ipv4BadChecksum,
    /// Source address is martian (multicast, broadcast, loopback, 0/8).
    Ipv4MartianSource,
    // --- L4 ---
    /// TCP header truncated or data offset invalid.
    TcpMalformed,
    /// UDP header truncated or length invalid.
    UdpMalformed,
    /// ICMP message truncated.
    IcmpMalformed,
    /// L4 protocol the NAT cannot translate.
    UnsupportedProtocol,
    // --- conntrack / NAT ---
    /// Non-SYN TCP packet with no session (RFC 5382 / N8).
    TcpNonSyn,
    /// Session table is full and nothing could be reclaimed.
    SessionTableFull,
    /// No free external port in this worker's slice of the pool (N4).
    OutOfPorts,
    /// Per-subscriber session or port limit reached (N4).
    SubscriberLimit,
    /// New session's original or reply key already belongs to another session.
    SessionClash,
    /// Inbound packet with no mapping and no dst-nat rule, or refused by filtering (N6).
    NoMapping,
    /// Inbound packet refused by the address(-and-port)-dependent filter (N6).
    Filtered,
    /// ICMP error whose embedded packet matches no session (N12).
    IcmpErrorNoSession,
    /// ICMP type the NAT does not translate.
    IcmpUnsupportedType,
    /// Hairpin would loop back into the router itself.
    HairpinLoop,
    // --- fragments ---
    /// Non-first fragment whose first fragment was never seen in time.
    FragmentNoFlow,
    /// Fragment buffer or per-flow fragment limit reached.
    FragmentLimit,
    /// Fragment with an invalid offset or length.
    FragmentMalformed,
    // --- routing ---
    /// No route to the destination.
    NoRoute,
    /// TTL expired in transit (an ICMP time exceeded is sent).
    TtlExceeded,
    /// DF set and larger than the egress MTU (an ICMP frag-needed is sent).
    FragNeeded,
    /// Next hop unresolved and its hold queue is full.
    ArpQueueFull,
    /// Next hop never answered ARP.
    ArpUnresolved,
    /// Addressed to the router itself and not handled locally.
    LocalDelivery,
    // --- I/O ---
    /// TX ring refused the packet.
    TxFull,
    /// No mbuf available to build a reply.
    NoBuffer,
}

impl DropReason {
    /// Every reason, in declaration order; index with `reason as usize`.
    pub const ALL: [DropReason; 36] = [
        DropReason::EthTruncated,
        DropReason::EthUnsupportedType,
        DropReason::EthNotForUs,
        DropReason::ArpMalformed,
        DropReason::ArpIgnored,
        DropReason::Ipv4Truncated,
        DropReason::Ipv4BadVersion,
        DropReason::Ipv4BadHeaderLen,
        DropReason::Ipv4BadTotalLen,
        DropReason::Ipv4BadChecksum,
        DropReason::Ipv4MartianSource,
        DropReason::TcpMalformed,
        DropReason::UdpMalformed,
        DropReason::IcmpMalformed,
        DropReason::UnsupportedProtocol,
        DropReason::TcpNonSyn,
        DropReason::SessionTableFull,
        DropReason::OutOfPorts,
        DropReason::SubscriberLimit,
        DropReason::SessionClash,
        DropReason::NoMapping,
        DropReason::Filtered,
        DropReason::IcmpErrorNoSession,
        DropReason::IcmpUnsupportedType,
        DropReason::HairpinLoop,
        DropReason::FragmentNoFlow,
        DropReason::FragmentLimit,
        DropReason::FragmentMalformed,
        DropReason::NoRoute,
        DropReason::TtlExceeded,
        DropReason::FragNeeded,
        DropReason::ArpQueueFull,
        DropReason::ArpUnresolved,
        DropReason::LocalDelivery,
        DropReason::TxFull,
        DropReason::NoBuffer,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The Prometheus label value.
    pub const fn label(self) -> &'static str {
        match self {
            DropReason::EthTruncated => "eth_truncated",
            DropReason::EthUnsupportedType => "eth_unsupported_type",
            DropReason::EthNotForUs => "eth_not_for_us",
            DropReason::ArpMalformed => "arp_malformed",
            DropReason::ArpIgnored => "arp_ignored",
            DropReason::Ipv4Truncated => "ipv4_truncated",
            DropReason::Ipv4BadVersion => "ipv4_bad_version",
            DropReason::Ipv4BadHeaderLen => "ipv4_bad_header_len",
            DropReason::Ipv4BadTotalLen => "ipv4_bad_total_len",
            DropReason::Ipv4BadChecksum => "ipv4_bad_checksum",
            DropReason::Ipv4MartianSource => "ipv4_martian_source",
            DropReason::TcpMalformed => "tcp_malformed",
            DropReason::UdpMalformed => "udp_malformed",
            DropReason::IcmpMalformed => "icmp_malformed",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::TcpNonSyn => "tcp_non_syn",
            DropReason::SessionTableFull => "session_table_full",
            DropReason::OutOfPorts => "out_of_ports",
            DropReason::SubscriberLimit => "subscriber_limit",
            DropReason::SessionClash => "session_clash",
            DropReason::NoMapping => "no_mapping",
            DropReason::Filtered => "filtered",
            DropReason::IcmpErrorNoSession => "icmp_error_no_session",
            DropReason::IcmpUnsupportedType => "icmp_unsupported_type",
            DropReason::HairpinLoop => "hairpin_loop",
            DropReason::FragmentNoFlow => "fragment_no_flow",
            DropReason::FragmentLimit => "fragment_limit",
            DropReason::FragmentMalformed => "fragment_malformed",
            DropReason::NoRoute => "no_route",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::FragNeeded => "frag_needed",
            DropReason::ArpQueueFull => "arp_queue_full",
            DropReason::ArpUnresolved => "arp_unresolved",
            DropReason::LocalDelivery => "local_delivery",
            DropReason::TxFull => "tx_full",
            DropReason::NoBuffer => "no_buffer",
        }
    }
}

/// Counters one worker owns. Cache-line aligned so two workers never share a line.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct WorkerStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Sessions created by the miss path.
    pub sessions_created: u64,
    /// Sessions removed by expiry or close.
    pub sessions_expired: u64,
    /// Packets translated by an existing session (fast path).
    pub fast_path_hits: u64,
    pub drops: [u64; DropReason::COUNT],
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
            sessions_created: 0,
            sessions_expired: 0,
            fast_path_hits: 0,
            drops: [0; DropReason::COUNT],
        }
    }
}

impl WorkerStats {
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Adds another worker's counters into this one (used by the metrics reader).
    pub fn accumulate(&mut self, other: &WorkerStats) {
        self.rx_packets += other.rx_packets;
        self.rx_bytes += other.rx_bytes;
        self.tx_packets += other.tx_packets;
        self.tx_bytes += other.tx_bytes;
        self.sessions_created += other.sessions_created;
        self.sessions_expired += other.sessions_expired;
        self.fast_path_hits += other.fast_path_hits;
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += *b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_in_order_with_unique_labels() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?} out of order");
        }
        let mut labels: Vec<_> = DropReason::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), DropReason::COUNT);
    }
}
