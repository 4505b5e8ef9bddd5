/* See shim.h. Compiled by build.rs with the exact `pkg-config --cflags libdpdk`. */
#include <stddef.h>
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include "shim.h"

uint16_t dpnat_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t dpnat_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    return rte_eth_tx_burst(port, queue, pkts, n);
}

uint16_t dpnat_eth_tx_burst_free(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    uint16_t sent = rte_eth_tx_burst(port, queue, pkts, n);
    if (sent < n)
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    return sent;
}

struct rte_mbuf *dpnat_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int dpnat_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, unsigned int n)
{
    return rte_pktmbuf_alloc_bulk(mp, pkts, n);
}

void dpnat_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void dpnat_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n)
{
    if (n > 0)
        rte_pktmbuf_free_bulk(pkts, n);
}

char *dpnat_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
char *dpnat_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *dpnat_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
int dpnat_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
void *dpnat_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }
uint16_t dpnat_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }
uint16_t dpnat_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
void dpnat_prefetch0(const void *p) { rte_prefetch0(p); }

uint64_t dpnat_rss_hf_ip_tcp_udp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP; }

int dpnat_errno(void) { return rte_errno; }
unsigned int dpnat_lcore_id(void) { return rte_lcore_id(); }
uint64_t dpnat_rdtsc(void) { return rte_rdtsc(); }
uint64_t dpnat_get_tsc_hz(void) { return rte_get_tsc_hz(); }
int dpnat_mempool_full(const struct rte_mempool *mp) { return rte_mempool_full(mp); }
unsigned int dpnat_mempool_avail_count(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }

unsigned int dpnat_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n, unsigned int *free_space)
{
    return rte_ring_enqueue_burst(r, objs, n, free_space);
}

unsigned int dpnat_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n, unsigned int *available)
{
    return rte_ring_dequeue_burst(r, objs, n, available);
}

unsigned int dpnat_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }

size_t dpnat_layout(unsigned int item)
{
    switch (item) {
    case DPNAT_MBUF_SIZE: return sizeof(struct rte_mbuf);
    case DPNAT_MBUF_BUF_ADDR: return offsetof(struct rte_mbuf, buf_addr);
    case DPNAT_MBUF_DATA_OFF: return offsetof(struct rte_mbuf, data_off);
    case DPNAT_MBUF_REFCNT: return offsetof(struct rte_mbuf, refcnt);
    case DPNAT_MBUF_NB_SEGS: return offsetof(struct rte_mbuf, nb_segs);
    case DPNAT_MBUF_PORT: return offsetof(struct rte_mbuf, port);
    case DPNAT_MBUF_OL_FLAGS: return offsetof(struct rte_mbuf, ol_flags);
    case DPNAT_MBUF_PKT_LEN: return offsetof(struct rte_mbuf, pkt_len);
    case DPNAT_MBUF_DATA_LEN: return offsetof(struct rte_mbuf, data_len);
    case DPNAT_MBUF_VLAN_TCI: return offsetof(struct rte_mbuf, vlan_tci);
    case DPNAT_MBUF_BUF_LEN: return offsetof(struct rte_mbuf, buf_len);
    case DPNAT_MBUF_POOL: return offsetof(struct rte_mbuf, pool);
    case DPNAT_MBUF_NEXT: return offsetof(struct rte_mbuf, next);
    case DPNAT_ETH_CONF_SIZE: return sizeof(struct rte_eth_conf);
    case DPNAT_ETH_CONF_RXMODE: return offsetof(struct rte_eth_conf, rxmode);
    case DPNAT_ETH_CONF_TXMODE: return offsetof(struct rte_eth_conf, txmode);
    case DPNAT_ETH_CONF_RX_ADV_CONF: return offsetof(struct rte_eth_conf, rx_adv_conf);
    case DPNAT_ETH_STATS_SIZE: return sizeof(struct rte_eth_stats);
    case DPNAT_ETH_STATS_IPACKETS: return offsetof(struct rte_eth_stats, ipackets);
    case DPNAT_ETH_STATS_OERRORS: return offsetof(struct rte_eth_stats, oerrors);
    case DPNAT_ETH_STATS_RX_NOMBUF: return offsetof(struct rte_eth_stats, rx_nombuf);
    case DPNAT_ETH_STATS_Q_ERRORS: return offsetof(struct rte_eth_stats, q_errors);
    case DPNAT_ETH_DEV_INFO_SIZE: return sizeof(struct rte_eth_dev_info);
    case DPNAT_ETH_LINK_SIZE: return sizeof(struct rte_eth_link);
    case DPNAT_ETHER_ADDR_SIZE: return sizeof(struct rte_ether_addr);
    case DPNAT_MEMPOOL_SIZE: return sizeof(struct rte_mempool);
    case DPNAT_MEMPOOL_SIZE_FIELD: return offsetof(struct rte_mempool, size);
    case DPNAT_MEMPOOL_ELT_SIZE: return offsetof(struct rte_mempool, elt_size);
    case DPNAT_RING_SIZE: return sizeof(struct rte_ring);
    default: return (size_t)-1;
    }
}
