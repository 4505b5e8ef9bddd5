//! Multi-producer/multi-consumer mbuf rings (`rte_ring`), and ring-backed ports.

use super::{Burst, DpdkError, Eal};
use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// An `rte_ring` carrying owned mbufs between threads (MP/MC, so `&self` is enough).
///
/// The ring's memory is never freed before `rte_eal_cleanup`: a ring-backed
/// port ([`Ring::eth_port`]) may keep using it. Dropping the ring frees the
/// mbufs still queued in it.
pub struct Ring<'eal> {
    ptr: NonNull<dpdk_sys::rte_ring>,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: MP/MC rte_ring enqueue/dequeue are thread-safe.
unsafe impl Send for Ring<'_> {}
// SAFETY: as above; all methods take &self and use the MP/MC paths.
unsafe impl Sync for Ring<'_> {}

impl<'eal> Ring<'eal> {
    /// Creates a ring with room for `count - 1` mbufs (`count` a power of two).
    pub fn new(eal: &'eal Eal, name: &str, count: u32) -> Result<Ring<'eal>, DpdkError> {
        let c = CString::new(name)
            .map_err(|_| DpdkError::other("rte_ring_create", 22, "ring name contains NUL"))?;
        // SAFETY: valid C string; flags 0 = multi-producer/multi-consumer.
        let p = unsafe { dpdk_sys::rte_ring_create(c.as_ptr(), count, eal.socket_id(), 0) };
        NonNull::new(p)
            .map(|ptr| Ring {
                ptr,
                _eal: PhantomData,
            })
            .ok_or_else(|| DpdkError::from_errno(format!("rte_ring_create({name})")))
    }

    /// Moves as many mbufs from the front of `burst` as fit; the rest stay in
    /// the burst. Returns how many were enqueued.
    pub fn enqueue<'b>(&self, burst: &mut Burst<'b>) -> usize
    where
        'eal: 'b,
    {
        let r = self.ptr.as_ptr();
        burst.give_prefix(|p, n| {
            // SAFETY: p holds n owned mbufs; the ring takes ownership of the
            // prefix it reports as enqueued.
            unsafe {
                dpdk_sys::dpnat_ring_enqueue_burst(
                    r,
                    p.cast::<*mut c_void>(),
                    n as u32,
                    std::ptr::null_mut(),
                ) as usize
            }
        })
    }

    /// Fills the burst's free slots from the ring; returns how many arrived.
    pub fn dequeue<'b>(&self, burst: &mut Burst<'b>) -> usize
    where
        'eal: 'b,
    {
        let (spare, room) = burst.spare_raw();
        // SAFETY: spare has `room` free slots; the ring only ever holds owned mbufs.
        let n = unsafe {
            dpdk_sys::dpnat_ring_dequeue_burst(
                self.ptr.as_ptr(),
                spare.cast::<*mut c_void>(),
                room as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        let n = n.min(room);
        // SAFETY: n owned mbufs were written into the spare slots.
        unsafe { burst.commit(n) };
        n
    }

    /// Mbufs currently queued.
    pub fn count(&self) -> usize {
        // SAFETY: read-only query.
        unsafe { dpdk_sys::dpnat_ring_count(self.ptr.as_ptr()) as usize }
    }

    /// Creates an ethdev named `name` whose single RX queue reads from `rx`
    /// and single TX queue writes into `tx` (`rte_eth_from_rings`), and
    /// returns its port id. Configure it with [`super::Port::configure`].
    pub fn eth_port(
        eal: &'eal Eal,
        name: &str,
        rx: &Ring<'eal>,
        tx: &Ring<'eal>,
    ) -> Result<u16, DpdkError> {
        let c = CString::new(name)
            .map_err(|_| DpdkError::other("rte_eth_from_rings", 22, "port name contains NUL"))?;
        let mut rxs = [rx.ptr.as_ptr()];
        let mut txs = [tx.ptr.as_ptr()];
        // SAFETY: arrays of one valid ring each; the rings' memory lives until
        // rte_eal_cleanup (Ring never frees it), so the port never dangles.
        let id = unsafe {
            dpdk_sys::rte_eth_from_rings(
                c.as_ptr(),
                rxs.as_mut_ptr(),
                1,
                txs.as_mut_ptr(),
                1,
                eal.socket_id().max(0) as u32,
            )
        };
        if id < 0 {
            return Err(DpdkError::from_errno(format!("rte_eth_from_rings({name})")));
        }
        Ok(id as u16)
    }
}

impl Drop for Ring<'_> {
    fn drop(&mut self) {
        let mut b = Burst::new();
        while self.dequeue(&mut b) > 0 {
            b.free_all();
        }
    }
}
