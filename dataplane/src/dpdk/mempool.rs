//! Packet-buffer pools (`rte_pktmbuf_pool_create`).

use super::{Burst, DpdkError, Eal, Mbuf};
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A pktmbuf pool. Freed on drop only if every mbuf has come back; otherwise
/// (mbufs still held by a device ring, say) it is left to `rte_eal_cleanup`.
pub struct Mempool<'eal> {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: rte_mempool get/put are multi-producer/multi-consumer safe; the
// per-lcore cache is only used by EAL threads, each on its own slot.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above; no `&self` method mutates wrapper state.
unsafe impl Sync for Mempool<'_> {}

impl<'eal> Mempool<'eal> {
    /// Creates a pool of `n` mbufs with `data_room` bytes each (headroom
    /// included; `RTE_MBUF_DEFAULT_BUF_SIZE` is 2048 + 128) and a per-lcore
    /// cache of `cache` mbufs, on the caller's NUMA socket.
    pub fn pktmbuf(
        eal: &'eal Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
    ) -> Result<Mempool<'eal>, DpdkError> {
        let c = CString::new(name).map_err(|_| {
            DpdkError::other("rte_pktmbuf_pool_create", 22, "pool name contains NUL")
        })?;
        // SAFETY: valid C string; the EAL is initialised (we borrow it).
        let p = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(c.as_ptr(), n, cache, 0, data_room, eal.socket_id())
        };
        NonNull::new(p)
            .map(|ptr| Mempool {
                ptr,
                _eal: PhantomData,
            })
            .ok_or_else(|| DpdkError::from_errno(format!("rte_pktmbuf_pool_create({name})")))
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// Allocates one mbuf (reset, empty). `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf<'eal>> {
        // SAFETY: the pool is alive for 'eal; alloc returns NULL or an owned mbuf.
        let m = unsafe { dpdk_sys::dpnat_pktmbuf_alloc(self.ptr.as_ptr()) };
        // SAFETY: a non-NULL result is a fresh mbuf we now own.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Fills `burst` up to `n` mbufs in one bulk allocation (all or nothing).
    /// Returns false (and leaves the burst unchanged) if the pool is short.
    pub fn alloc_into(&self, burst: &mut Burst<'eal>, n: usize) -> bool {
        burst.alloc_from(self, n)
    }

    /// Mbufs currently free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: read-only query on a live pool.
        unsafe { dpdk_sys::dpnat_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs currently handed out.
    pub fn in_use(&self) -> u32 {
        // SAFETY: read-only query on a live pool.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }
}

impl Drop for Mempool<'_> {
    fn drop(&mut self) {
        // SAFETY: read-only query on a live pool.
        let full = unsafe { dpdk_sys::dpnat_mempool_full(self.ptr.as_ptr()) } != 0;
        if full {
            // SAFETY: every mbuf is back in the pool, so nothing references it.
            unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) }
        }
    }
}
