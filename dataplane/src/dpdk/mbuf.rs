//! Owned mbufs and fixed-size bursts of them.

use super::{Eal, Mempool};
use dpdk_sys::rte_mbuf;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The burst size everything is sized for (DPDK's customary 32).
pub const BURST_SIZE: usize = 32;

/// One owned packet buffer, freed on drop. Only its first segment is exposed:
/// dpnat's pools hold a full frame per mbuf and scatter RX is never enabled.
pub struct Mbuf<'a> {
    ptr: NonNull<rte_mbuf>,
    _eal: PhantomData<&'a Eal>,
}

// SAFETY: an Mbuf is uniquely owned; freeing it from another thread returns it
// through the thread-safe mempool path.
unsafe impl Send for Mbuf<'_> {}

/// # Safety
/// `m` must point to a live, single-segment-or-chained mbuf that the caller
/// has exclusive access to for `'b`.
#[inline]
unsafe fn data_mut<'b>(m: *mut rte_mbuf) -> &'b mut [u8] {
    // SAFETY: per the function contract; buf_addr + data_off .. + data_len is
    // the first segment's data, inside the buffer DPDK allocated.
    unsafe {
        let base = (*m).buf_addr.cast::<u8>().add(usize::from((*m).data_off));
        std::slice::from_raw_parts_mut(base, usize::from((*m).data_len))
    }
}

impl<'a> Mbuf<'a> {
    /// # Safety
    /// `ptr` must be a live mbuf that the caller owns and hands over.
    pub(crate) unsafe fn from_raw(ptr: NonNull<rte_mbuf>) -> Self {
        Mbuf {
            ptr,
            _eal: PhantomData,
        }
    }

    pub(crate) fn into_raw(self) -> *mut rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The packet bytes of the first segment.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: we own the mbuf; the shared borrow of self bounds the slice.
        unsafe { data_mut(self.ptr.as_ptr()) }
    }

    /// The packet bytes of the first segment, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: we own the mbuf; the unique borrow of self bounds the slice.
        unsafe { data_mut(self.ptr.as_ptr()) }
    }

    /// Length of the first segment (what [`Mbuf::data`] returns).
    #[inline]
    pub fn len(&self) -> usize {
        // SAFETY: reading a header field of an mbuf we own.
        usize::from(unsafe { (*self.ptr.as_ptr()).data_len })
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total packet length over all segments.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        // SAFETY: reading a header field of an mbuf we own.
        unsafe { (*self.ptr.as_ptr()).pkt_len }
    }

    /// The port the mbuf was received on.
    pub fn port(&self) -> u16 {
        // SAFETY: reading a header field of an mbuf we own.
        unsafe { (*self.ptr.as_ptr()).port }
    }

    /// Free bytes before the data.
    pub fn headroom(&self) -> usize {
        // SAFETY: read-only query on an mbuf we own.
        usize::from(unsafe { dpdk_sys::dpnat_pktmbuf_headroom(self.ptr.as_ptr()) })
    }

    /// Free bytes after the data (in the last segment).
    pub fn tailroom(&self) -> usize {
        // SAFETY: read-only query on an mbuf we own.
        usize::from(unsafe { dpdk_sys::dpnat_pktmbuf_tailroom(self.ptr.as_ptr()) })
    }

    /// Grows the packet by `len` bytes at the end and returns them (contents
    /// unspecified). `None` if there is not enough tailroom.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        if self.tailroom() < usize::from(len) {
            return None;
        }
        // SAFETY: we own the mbuf; append returns NULL or a pointer to `len`
        // bytes inside its last segment's buffer.
        let p = unsafe { dpdk_sys::dpnat_pktmbuf_append(self.ptr.as_ptr(), len) };
        let p = NonNull::new(p.cast::<u8>())?;
        // SAFETY: `len` bytes at p belong to this mbuf, borrowed uniquely via self.
        Some(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), usize::from(len)) })
    }

    /// Grows the packet by `len` bytes at the front and returns them. `None`
    /// if there is not enough headroom.
    pub fn prepend(&mut self, len: u16) -> Option<&mut [u8]> {
        if self.headroom() < usize::from(len) {
            return None;
        }
        // SAFETY: we own the mbuf; prepend returns NULL or a pointer to the new
        // first `len` bytes of its first segment.
        let p = unsafe { dpdk_sys::dpnat_pktmbuf_prepend(self.ptr.as_ptr(), len) };
        let p = NonNull::new(p.cast::<u8>())?;
        // SAFETY: `len` bytes at p belong to this mbuf, borrowed uniquely via self.
        Some(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), usize::from(len)) })
    }

    /// Removes `len` bytes from the front. False if the segment is shorter.
    pub fn adj(&mut self, len: u16) -> bool {
        if self.len() < usize::from(len) {
            return false;
        }
        // SAFETY: we own the mbuf and checked the length.
        !unsafe { dpdk_sys::dpnat_pktmbuf_adj(self.ptr.as_ptr(), len) }.is_null()
    }

    /// Removes `len` bytes from the end. False if the last segment is shorter.
    pub fn trim(&mut self, len: u16) -> bool {
        if self.len() < usize::from(len) {
            return false;
        }
        // SAFETY: we own the mbuf and checked the length.
        unsafe { dpdk_sys::dpnat_pktmbuf_trim(self.ptr.as_ptr(), len) == 0 }
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and never use it again.
        unsafe { dpdk_sys::dpnat_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

/// Up to [`BURST_SIZE`] owned mbufs in a fixed array (no allocation).
/// Whatever it still holds is freed with one bulk call on drop or [`Burst::free_all`].
pub struct Burst<'a> {
    pkts: [*mut rte_mbuf; BURST_SIZE],
    len: usize,
    _eal: PhantomData<&'a Eal>,
}

// SAFETY: the burst uniquely owns its mbufs (see Mbuf's Send).
unsafe impl Send for Burst<'_> {}

impl Default for Burst<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Burst<'a> {
    pub const fn new() -> Self {
        Burst {
            pkts: [std::ptr::null_mut(); BURST_SIZE],
            len: 0,
            _eal: PhantomData,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BURST_SIZE
    }

    /// Adds an mbuf at the end; gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf<'a>) -> Result<(), Mbuf<'a>> {
        if self.is_full() {
            return Err(m);
        }
        self.pkts[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    pub fn pop(&mut self) -> Option<Mbuf<'a>> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let p = std::mem::replace(&mut self.pkts[self.len], std::ptr::null_mut());
        // SAFETY: slots below the old len hold owned, non-NULL mbufs.
        NonNull::new(p).map(|p| unsafe { Mbuf::from_raw(p) })
    }

    /// The `i`th packet's bytes.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        // SAFETY: slots below len hold owned mbufs; the slice borrows self.
        (i < self.len).then(|| unsafe { &*data_mut(self.pkts[i]) })
    }

    /// The `i`th packet's bytes, writable.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        // SAFETY: slots below len hold owned mbufs; the slice borrows self uniquely.
        (i < self.len).then(|| unsafe { data_mut(self.pkts[i]) })
    }

    /// Writable views of every packet at once (each mbuf is distinct, so the
    /// slices never alias). This is how packets reach the pure code.
    pub fn frames_mut(&mut self) -> impl Iterator<Item = &mut [u8]> + '_ {
        // SAFETY: each slot below len is a distinct owned mbuf, so the yielded
        // slices are disjoint; all are bounded by the unique borrow of self.
        self.pkts[..self.len]
            .iter()
            .map(|&p| unsafe { data_mut(p) })
    }

    /// Packet length of the `i`th mbuf (0 if out of range).
    #[inline]
    pub fn pkt_len_at(&self, i: usize) -> u32 {
        if i >= self.len {
            return 0;
        }
        // SAFETY: slots below len hold owned mbufs; reading a header field.
        unsafe { (*self.pkts[i]).pkt_len }
    }

    /// Total packet length of every mbuf in the burst.
    pub fn bytes(&self) -> u64 {
        self.pkts[..self.len]
            .iter()
            // SAFETY: slots below len hold owned mbufs; reading a header field.
            .map(|&p| u64::from(unsafe { (*p).pkt_len }))
            .sum()
    }

    /// Moves every mbuf out, in order, leaving the burst empty. Mbufs the
    /// iterator did not yield are freed (in bulk) when it is dropped.
    pub fn drain(&mut self) -> Drain<'a> {
        let d = Drain {
            pkts: self.pkts,
            next: 0,
            end: self.len,
            _eal: PhantomData,
        };
        self.len = 0;
        d
    }

    /// Frees every mbuf with one bulk call.
    pub fn free_all(&mut self) {
        if self.len > 0 {
            // SAFETY: slots below len hold owned mbufs, none used again.
            unsafe { dpdk_sys::dpnat_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }

    /// Pointer to the first free slot and how many are free (for RX and dequeue).
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut rte_mbuf, usize) {
        // SAFETY: len <= BURST_SIZE, so the offset stays inside the array.
        (
            unsafe { self.pkts.as_mut_ptr().add(self.len) },
            BURST_SIZE - self.len,
        )
    }

    /// Records that `n` spare slots were just filled with owned mbufs.
    ///
    /// # Safety
    /// The `n` slots after `len` must now hold owned mbufs.
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(self.len + n <= BURST_SIZE);
        self.len = (self.len + n).min(BURST_SIZE);
    }

    /// Hands the mbufs to a consumer (`f(ptr, len) -> taken`) that takes a
    /// prefix of them; the rest stay in the burst, moved to the front.
    pub(crate) fn give_prefix(
        &mut self,
        f: impl FnOnce(*mut *mut rte_mbuf, usize) -> usize,
    ) -> usize {
        let taken = f(self.pkts.as_mut_ptr(), self.len).min(self.len);
        self.pkts.copy_within(taken..self.len, 0);
        self.len -= taken;
        taken
    }

    /// Hands every mbuf to a consumer that takes ownership of all of them
    /// (sends some, frees the rest), leaving the burst empty.
    pub(crate) fn give_all<R>(&mut self, f: impl FnOnce(*mut *mut rte_mbuf, usize) -> R) -> R {
        let n = self.len;
        self.len = 0;
        f(self.pkts.as_mut_ptr(), n)
    }

    pub(crate) fn alloc_from(&mut self, pool: &Mempool<'a>, n: usize) -> bool {
        let (spare, room) = self.spare_raw();
        if n > room {
            return false;
        }
        // SAFETY: spare has room for n pointers; bulk alloc fills all or none.
        let ret = unsafe { dpdk_sys::dpnat_pktmbuf_alloc_bulk(pool.as_ptr(), spare, n as u32) };
        if ret != 0 {
            return false;
        }
        // SAFETY: alloc_bulk succeeded, so the n slots hold fresh owned mbufs.
        unsafe { self.commit(n) };
        true
    }
}

impl Drop for Burst<'_> {
    fn drop(&mut self) {
        self.free_all();
    }
}

/// Iterator from [`Burst::drain`].
pub struct Drain<'a> {
    pkts: [*mut rte_mbuf; BURST_SIZE],
    next: usize,
    end: usize,
    _eal: PhantomData<&'a Eal>,
}

impl<'a> Iterator for Drain<'a> {
    type Item = Mbuf<'a>;

    #[inline]
    fn next(&mut self) -> Option<Mbuf<'a>> {
        if self.next >= self.end {
            return None;
        }
        let p = self.pkts[self.next];
        self.next += 1;
        // SAFETY: slots in next..end hold owned mbufs moved out of the burst.
        NonNull::new(p).map(|p| unsafe { Mbuf::from_raw(p) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Drain<'_> {}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        let rest = self.end - self.next;
        if rest > 0 {
            // SAFETY: slots in next..end are owned and were never yielded.
            unsafe {
                dpdk_sys::dpnat_pktmbuf_free_bulk(
                    self.pkts.as_mut_ptr().add(self.next),
                    rest as u32,
                )
            };
        }
    }
}
