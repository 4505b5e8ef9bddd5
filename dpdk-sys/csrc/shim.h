/* Out-of-line wrappers for DPDK's `static inline` hot-path functions.
 * Burst-granular on purpose: Rust makes one call per burst, never per packet. */
#ifndef DPNAT_SHIM_H
#define DPNAT_SHIM_H
#include <stdint.h>
#include <stddef.h>

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

uint16_t dpnat_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t dpnat_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
/* Transmits pkts[0..n) and frees every mbuf the TX ring refused, in one call.
 * Returns how many were sent; n - return value were freed. */
uint16_t dpnat_eth_tx_burst_free(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *dpnat_pktmbuf_alloc(struct rte_mempool *mp);
int dpnat_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, unsigned int n);
void dpnat_pktmbuf_free(struct rte_mbuf *m);
void dpnat_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n);
char *dpnat_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *dpnat_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *dpnat_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int dpnat_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
void *dpnat_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t dpnat_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t dpnat_pktmbuf_tailroom(const struct rte_mbuf *m);
void dpnat_prefetch0(const void *p);

/* RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP (function-like macros bindgen cannot expand). */
uint64_t dpnat_rss_hf_ip_tcp_udp(void);

int dpnat_errno(void);
unsigned int dpnat_lcore_id(void);
uint64_t dpnat_rdtsc(void);
uint64_t dpnat_get_tsc_hz(void);
int dpnat_mempool_full(const struct rte_mempool *mp);
unsigned int dpnat_mempool_avail_count(const struct rte_mempool *mp);

unsigned int dpnat_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n, unsigned int *free_space);
unsigned int dpnat_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n, unsigned int *available);
unsigned int dpnat_ring_count(const struct rte_ring *r);

/* Layout canary: offsetof/sizeof as the C compiler sees them with the same
 * cflags, compared against Rust's offset_of!/size_of in tests/layout.rs. */
enum dpnat_layout_item {
    DPNAT_MBUF_SIZE,
    DPNAT_MBUF_BUF_ADDR,
    DPNAT_MBUF_DATA_OFF,
    DPNAT_MBUF_REFCNT,
    DPNAT_MBUF_NB_SEGS,
    DPNAT_MBUF_PORT,
    DPNAT_MBUF_OL_FLAGS,
    DPNAT_MBUF_PKT_LEN,
    DPNAT_MBUF_DATA_LEN,
    DPNAT_MBUF_VLAN_TCI,
    DPNAT_MBUF_BUF_LEN,
    DPNAT_MBUF_POOL,
    DPNAT_MBUF_NEXT,
    DPNAT_ETH_CONF_SIZE,
    DPNAT_ETH_CONF_RXMODE,
    DPNAT_ETH_CONF_TXMODE,
    DPNAT_ETH_CONF_RX_ADV_CONF,
    DPNAT_ETH_STATS_SIZE,
    DPNAT_ETH_STATS_IPACKETS,
    DPNAT_ETH_STATS_OERRORS,
    DPNAT_ETH_STATS_RX_NOMBUF,
    DPNAT_ETH_STATS_Q_ERRORS,
    DPNAT_ETH_DEV_INFO_SIZE,
    DPNAT_ETH_LINK_SIZE,
    DPNAT_ETHER_ADDR_SIZE,
    DPNAT_MEMPOOL_SIZE,
    DPNAT_MEMPOOL_SIZE_FIELD,
    DPNAT_MEMPOOL_ELT_SIZE,
    DPNAT_RING_SIZE,
    DPNAT_LAYOUT_COUNT
};
size_t dpnat_layout(unsigned int item);

#endif
