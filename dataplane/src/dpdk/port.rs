//! Ethernet ports: configure, start/stop, queues, link, stats.

use super::{Burst, DpdkError, Eal, Mempool};
use std::ffi::CStr;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

/// How to set a port up. `Default` is one RX and one TX queue of 1024 descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// L3 MTU to configure; `None` keeps the device default.
    pub mtu: Option<u16>,
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            mtu: None,
            promiscuous: true,
        }
    }
}

/// Link state (`rte_eth_link_get_nowait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// Basic device counters (`rte_eth_stats_get`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Dropped by the hardware because no RX descriptor was free.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// RX failures for lack of mbufs.
    pub rx_nombuf: u64,
}

/// A configured ethdev port. Stopped (if started) and closed on drop.
///
/// Borrows the EAL and the mempool its RX queues fill from, so neither can go
/// away while the device may still use them.
pub struct Port<'a> {
    id: u16,
    name: String,
    started: bool,
    rx_taken: Box<[AtomicBool]>,
    tx_taken: Box<[AtomicBool]>,
    _l: PhantomData<(&'a Eal, &'a Mempool<'a>)>,
}

fn check(op: &str, ret: i32) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(DpdkError::from_code(op, ret))
    } else {
        Ok(())
    }
}

impl<'a> Port<'a> {
    /// Configures port `id` with `cfg` (RSS over IP/TCP/UDP when more than one
    /// RX queue) and sets up its queues, RX filling from `pool`. Not started.
    pub fn configure(
        eal: &'a Eal,
        id: u16,
        cfg: &PortConfig,
        pool: &'a Mempool<'a>,
    ) -> Result<Port<'a>, DpdkError> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out pointer; an invalid id returns an error.
        check("rte_eth_dev_info_get", unsafe {
            dpdk_sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        let name = port_name(id)?;
        if cfg.rx_queues == 0 || cfg.tx_queues == 0 {
            return Err(DpdkError::other(
                "rte_eth_dev_configure",
                22,
                "a port needs at least one RX and one TX queue",
            ));
        }
        if cfg.rx_queues > info.max_rx_queues || cfg.tx_queues > info.max_tx_queues {
            return Err(DpdkError::other(
                "rte_eth_dev_configure",
                22,
                format!(
                    "{name}: {} RX / {} TX queues requested, device supports {} / {}",
                    cfg.rx_queues, cfg.tx_queues, info.max_rx_queues, info.max_tx_queues
                ),
            ));
        }
        let mut conf = dpdk_sys::rte_eth_conf::default();
        if cfg.rx_queues > 1 {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            // SAFETY: pure function returning a constant.
            let want = unsafe { dpdk_sys::dpnat_rss_hf_ip_tcp_udp() };
            conf.rx_adv_conf.rss_conf.rss_hf = want & info.flow_type_rss_offloads;
        }
        if let Some(mtu) = cfg.mtu {
            conf.rxmode.mtu = u32::from(mtu);
        }
        // SAFETY: conf is a fully initialised rte_eth_conf that outlives the call.
        check("rte_eth_dev_configure", unsafe {
            dpdk_sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf)
        })?;
        let (mut nrxd, mut ntxd) = (cfg.rx_descriptors, cfg.tx_descriptors);
        // SAFETY: valid out pointers to the descriptor counts.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nrxd, &mut ntxd)
        })?;
        // SAFETY: looks up the device's NUMA node; -1 (SOCKET_ID_ANY) is accepted below.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { eal.socket_id() } else { socket };
        let socket = socket.max(0) as u32;
        for q in 0..cfg.rx_queues {
            // SAFETY: NULL rxconf means the device default; the pool outlives
            // the port (lifetime 'a).
            check("rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    nrxd,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            })?;
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: NULL txconf means the device default.
            check("rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, ntxd, socket, std::ptr::null())
            })?;
        }
        let mut port = Port {
            id,
            name,
            started: false,
            rx_taken: (0..cfg.rx_queues).map(|_| AtomicBool::new(false)).collect(),
            tx_taken: (0..cfg.tx_queues).map(|_| AtomicBool::new(false)).collect(),
            _l: PhantomData,
        };
        port.set_promiscuous(cfg.promiscuous)?;
        Ok(port)
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    /// The ethdev name (e.g. `net_pcap0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    pub fn start(&mut self) -> Result<(), DpdkError> {
        if !self.started {
            // SAFETY: the port is configured with all queues set up.
            check("rte_eth_dev_start", unsafe {
                dpdk_sys::rte_eth_dev_start(self.id)
            })?;
            self.started = true;
        }
        Ok(())
    }

    /// Stops the port; mbufs in its rings go back to the pool. `&mut` proves
    /// no queue handle is being polled.
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        if self.started {
            self.started = false;
            // SAFETY: no queue handle exists (they borrow the port), so no lcore polls it.
            check("rte_eth_dev_stop", unsafe {
                dpdk_sys::rte_eth_dev_stop(self.id)
            })?;
        }
        Ok(())
    }

    /// Link state, without waiting.
    pub fn link(&self) -> Result<LinkStatus, DpdkError> {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid out pointer.
        check("rte_eth_link_get_nowait", unsafe {
            dpdk_sys::rte_eth_link_get_nowait(self.id, &mut l)
        })?;
        Ok(LinkStatus {
            up: u32::from(l.link_status()) == dpdk_sys::RTE_ETH_LINK_UP,
            speed_mbps: l.link_speed,
            full_duplex: u32::from(l.link_duplex()) == dpdk_sys::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid out pointer.
        check("rte_eth_stats_get", unsafe {
            dpdk_sys::rte_eth_stats_get(self.id, &mut s)
        })?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Extended statistics as (name, value) pairs.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        // SAFETY: NULL/0 asks for the count only.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(self.id, std::ptr::null_mut(), 0) };
        check("rte_eth_xstats_get_names", n)?;
        let n = n as usize;
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n];
        let mut vals = vec![dpdk_sys::rte_eth_xstat::default(); n];
        // SAFETY: names has room for n entries.
        let got =
            unsafe { dpdk_sys::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), n as u32) };
        check("rte_eth_xstats_get_names", got)?;
        // SAFETY: vals has room for n entries.
        let got2 = unsafe { dpdk_sys::rte_eth_xstats_get(self.id, vals.as_mut_ptr(), n as u32) };
        check("rte_eth_xstats_get", got2)?;
        let m = (got as usize).min(got2 as usize).min(n);
        Ok(vals[..m]
            .iter()
            .filter_map(|v| {
                let name = names.get(v.id as usize)?;
                // SAFETY: DPDK NUL-terminates names within RTE_ETH_XSTATS_NAME_SIZE.
                let s = unsafe { CStr::from_ptr(name.name.as_ptr()) };
                Some((s.to_string_lossy().into_owned(), v.value))
            })
            .collect())
    }

    /// The port's current MAC address.
    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid out pointer of the C layout (checked by the layout canary).
        check("rte_eth_macaddr_get", unsafe {
            dpdk_sys::rte_eth_macaddr_get(self.id, &mut a)
        })?;
        Ok(a.addr_bytes)
    }

    /// Sets the port's default MAC address.
    pub fn set_mac(&mut self, mac: [u8; 6]) -> Result<(), DpdkError> {
        let mut a = dpdk_sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: valid pointer to a rte_ether_addr.
        check("rte_eth_dev_default_mac_addr_set", unsafe {
            dpdk_sys::rte_eth_dev_default_mac_addr_set(self.id, &mut a)
        })
    }

    pub fn set_promiscuous(&mut self, on: bool) -> Result<(), DpdkError> {
        // SAFETY: plain control call on a configured port.
        let ret = unsafe {
            if on {
                dpdk_sys::rte_eth_promiscuous_enable(self.id)
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.id)
            }
        };
        // Some virtual devices have no promiscuous control; that is not an error for us.
        if ret == -95 {
            return Ok(());
        }
        check("rte_eth_promiscuous_enable", ret)
    }

    pub fn promiscuous(&self) -> bool {
        // SAFETY: read-only query.
        unsafe { dpdk_sys::rte_eth_promiscuous_get(self.id) == 1 }
    }

    pub fn mtu(&self) -> Result<u16, DpdkError> {
        let mut mtu = 0u16;
        // SAFETY: valid out pointer.
        check("rte_eth_dev_get_mtu", unsafe {
            dpdk_sys::rte_eth_dev_get_mtu(self.id, &mut mtu)
        })?;
        Ok(mtu)
    }

    pub fn set_mtu(&mut self, mtu: u16) -> Result<(), DpdkError> {
        // SAFETY: plain control call on a configured port.
        check("rte_eth_dev_set_mtu", unsafe {
            dpdk_sys::rte_eth_dev_set_mtu(self.id, mtu)
        })
    }

    /// The handle for polling RX queue `q`; at most one exists per queue.
    pub fn rx_queue(&self, q: u16) -> Result<RxQueue<'_>, DpdkError> {
        let flag = take(&self.rx_taken, q, &self.name, "RX")?;
        Ok(RxQueue {
            port: self.id,
            queue: q,
            flag,
        })
    }

    /// The handle for transmitting on TX queue `q`; at most one exists per queue.
    pub fn tx_queue(&self, q: u16) -> Result<TxQueue<'_>, DpdkError> {
        let flag = take(&self.tx_taken, q, &self.name, "TX")?;
        Ok(TxQueue {
            port: self.id,
            queue: q,
            flag,
        })
    }
}

fn take<'p>(
    flags: &'p [AtomicBool],
    q: u16,
    name: &str,
    what: &str,
) -> Result<&'p AtomicBool, DpdkError> {
    let flag = flags
        .get(usize::from(q))
        .ok_or_else(|| DpdkError::other("queue", 22, format!("{name} has no {what} queue {q}")))?;
    if flag.swap(true, Ordering::AcqRel) {
        return Err(DpdkError::other(
            "queue",
            16,
            format!("{name} {what} queue {q} is already in use"),
        ));
    }
    Ok(flag)
}

fn port_name(id: u16) -> Result<String, DpdkError> {
    let mut buf = [0 as std::ffi::c_char; dpdk_sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: buf holds RTE_ETH_NAME_MAX_LEN bytes as the API requires.
    check("rte_eth_dev_get_name_by_port", unsafe {
        dpdk_sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr())
    })?;
    // SAFETY: DPDK wrote a NUL-terminated name into buf.
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned())
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // Errors here cannot be reported; the device is going away regardless.
        let _ = self.stop();
        // SAFETY: stopped, and no queue handle exists (they borrow the port).
        unsafe {
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

/// Exclusive handle to one RX queue (released on drop).
pub struct RxQueue<'p> {
    port: u16,
    queue: u16,
    flag: &'p AtomicBool,
}

impl<'p> RxQueue<'p> {
    /// Receives into the burst's free slots; returns how many arrived.
    #[inline]
    pub fn rx(&mut self, burst: &mut Burst<'p>) -> usize {
        let (spare, room) = burst.spare_raw();
        if room == 0 {
            return 0;
        }
        // SAFETY: we hold the only handle to this queue; spare has `room` slots.
        let n = unsafe { dpdk_sys::dpnat_eth_rx_burst(self.port, self.queue, spare, room as u16) };
        let n = usize::from(n).min(room);
        // SAFETY: the PMD stored n owned mbufs in the spare slots.
        unsafe { burst.commit(n) };
        n
    }

    pub fn port_id(&self) -> u16 {
        self.port
    }

    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Drop for RxQueue<'_> {
    fn drop(&mut self) {
        self.flag.store(false, Ordering::Release);
    }
}

/// What one TX call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOutcome {
    /// Packets the device accepted.
    pub sent: usize,
    /// Bytes (packet lengths) of the accepted packets.
    pub sent_bytes: u64,
    /// Packets the TX ring refused; already freed. Count as `DropReason::TxFull`.
    pub refused: usize,
}

/// Exclusive handle to one TX queue (released on drop).
pub struct TxQueue<'p> {
    port: u16,
    queue: u16,
    flag: &'p AtomicBool,
}

impl<'p> TxQueue<'p> {
    /// Transmits the whole burst, freeing (in the same call) whatever the TX
    /// ring refused. The burst is empty afterwards.
    #[inline]
    pub fn tx(&mut self, burst: &mut Burst<'p>) -> TxOutcome {
        let mut lens = [0u32; super::BURST_SIZE];
        for (l, f) in lens.iter_mut().zip(0..burst.len()) {
            *l = burst.pkt_len_at(f);
        }
        let (port, queue) = (self.port, self.queue);
        let (n, sent) = burst.give_all(|p, n| {
            // SAFETY: we hold the only handle to this queue; p holds n owned
            // mbufs, all of which the shim sends or frees.
            let sent = unsafe { dpdk_sys::dpnat_eth_tx_burst_free(port, queue, p, n as u16) };
            (n, usize::from(sent).min(n))
        });
        TxOutcome {
            sent,
            sent_bytes: lens[..sent].iter().map(|&l| u64::from(l)).sum(),
            refused: n - sent,
        }
    }

    pub fn port_id(&self) -> u16 {
        self.port
    }

    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Drop for TxQueue<'_> {
    fn drop(&mut self) {
        self.flag.store(false, Ordering::Release);
    }
}
