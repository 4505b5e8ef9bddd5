//! EAL lifetime (once per process) and launching closures on worker lcores.

use super::DpdkError;
use std::cell::RefCell;
use std::ffi::{c_int, c_void, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};

const EAL_UNUSED: u8 = 0;
const EAL_USED: u8 = 1;

/// DPDK allows `rte_eal_init` once per process, even after `rte_eal_cleanup`.
static EAL_STATE: AtomicU8 = AtomicU8::new(EAL_UNUSED);

/// The initialised Environment Abstraction Layer. Dropping it runs `rte_eal_cleanup`.
///
/// `Eal` stays on the thread that created it (the main lcore) but may be
/// shared by reference: its `&self` methods are thread-safe queries.
pub struct Eal {
    main_lcore: u32,
    runtime_dir: Option<std::path::PathBuf>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: every `&self` method only reads EAL configuration that is immutable
// after rte_eal_init, or is guarded against being called off the main lcore.
unsafe impl Sync for Eal {}

impl Eal {
    /// Initialises the EAL with `args` (without argv[0]), e.g.
    /// `["-l", "0-1", "--no-huge", "-m", "256", "--no-pci", "--vdev", "net_ring0"]`.
    ///
    /// Returns an error, never UB, when called a second time in the process.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        let mut cargs = Vec::with_capacity(args.len() + 1);
        cargs.push(CString::new("dpnat").expect("no NUL in literal"));
        for a in args {
            let c = CString::new(a.as_ref()).map_err(|_| {
                DpdkError::other(
                    "rte_eal_init",
                    libc_einval(),
                    "EAL argument contains a NUL byte",
                )
            })?;
            cargs.push(c);
        }
        if EAL_STATE
            .compare_exchange(EAL_UNUSED, EAL_USED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(DpdkError::other(
                "rte_eal_init",
                114, // EALREADY
                "the EAL was already initialised in this process (it can only be initialised once)",
            ));
        }
        // DPDK may keep pointers into argv (and getopt permutes it), so the
        // strings live for the rest of the process. This happens once.
        let cargs: &'static [CString] = Box::leak(cargs.into_boxed_slice());
        let argv: &'static mut [*mut std::ffi::c_char] = Box::leak(
            cargs
                .iter()
                .map(|c| c.as_ptr().cast_mut())
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let argc = (argv.len() - 1) as c_int;
        // SAFETY: argv holds argc valid NUL-terminated strings plus a NULL
        // terminator, all leaked so they outlive the EAL; the state flag
        // guarantees this is the only call in the process.
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::from_errno("rte_eal_init"));
        }
        // SAFETY: the EAL is initialised; rte_get_main_lcore only reads its config.
        let main_lcore = unsafe { dpdk_sys::rte_get_main_lcore() };
        // SAFETY: returns a pointer to the EAL's static runtime-dir string.
        let dir = unsafe { dpdk_sys::rte_eal_get_runtime_dir() };
        let runtime_dir = (!dir.is_null()).then(|| {
            // SAFETY: non-NULL, NUL-terminated and static for the process.
            let s = unsafe { std::ffi::CStr::from_ptr(dir) };
            std::path::PathBuf::from(s.to_string_lossy().into_owned())
        });
        Ok(Eal {
            main_lcore,
            runtime_dir,
            _not_send: PhantomData,
        })
    }

    /// The main lcore's id (the thread that called [`Eal::init`]).
    pub fn main_lcore(&self) -> u32 {
        self.main_lcore
    }

    /// Enabled lcores other than the main one, in ascending order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX; // rte_get_next_lcore(-1, ...) starts at 0
        loop {
            // SAFETY: pure query of the lcore config set up by rte_eal_init.
            i = unsafe { dpdk_sys::rte_get_next_lcore(i, 1, 0) };
            if i >= dpdk_sys::RTE_MAX_LCORE {
                return out;
            }
            out.push(i);
        }
    }

    /// The NUMA socket of the calling thread.
    pub fn socket_id(&self) -> i32 {
        // SAFETY: reads a per-thread EAL value; returns SOCKET_ID_ANY off EAL threads.
        unsafe { dpdk_sys::rte_socket_id() as i32 }
    }

    /// Port id of the ethdev named `name` (the vdev name before the first comma,
    /// e.g. `net_pcap0`, or a PCI address such as `0000:03:00.0`).
    pub fn port_by_name(&self, name: &str) -> Result<u16, DpdkError> {
        let c = CString::new(name).map_err(|_| {
            DpdkError::other(
                "rte_eth_dev_get_port_by_name",
                libc_einval(),
                "name contains NUL",
            )
        })?;
        let mut id = 0u16;
        // SAFETY: c is a valid C string; id is a valid out pointer.
        let ret = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(DpdkError::other(
                "rte_eth_dev_get_port_by_name",
                19, // ENODEV
                format!("no ethdev named {name:?} (not probed: check the device string and the EAL messages above)"),
            ));
        }
        Ok(id)
    }

    /// Number of ethdev ports available.
    pub fn port_count(&self) -> u16 {
        // SAFETY: pure query of the ethdev table.
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    /// Runs `f` with a scope in which closures can be launched on worker lcores.
    /// Every launched closure has finished when `scope` returns, so closures may
    /// borrow anything that outlives the call. Must be called on the main lcore.
    ///
    /// # Panics
    /// If a launched closure panicked (after all of them finished), or if
    /// called from a thread other than the main lcore.
    pub fn scope<'env, F, T>(&'env self, f: F) -> T
    where
        F: for<'scope> FnOnce(&'scope LcoreScope<'scope, 'env>) -> T,
    {
        assert_eq!(
            lcore_id(),
            self.main_lcore,
            "Eal::scope must run on the main lcore"
        );
        let scope = LcoreScope {
            eal: self,
            launched: RefCell::new(Vec::new()),
            failed: RefCell::new(Vec::new()),
            _scope: PhantomData,
        };
        let result = {
            let guard = WaitAll(&scope);
            let r = f(&scope);
            drop(guard);
            r
        };
        let failed = scope.failed.take();
        assert!(
            failed.is_empty(),
            "closure launched on lcore(s) {failed:?} panicked"
        );
        result
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every DPDK object borrows the Eal, so none is alive now;
        // rte_eal_cleanup is called once, on the main thread (Eal is !Send).
        unsafe {
            dpdk_sys::rte_eal_cleanup();
        }
        // The primary process's runtime files (config, fbarrays, telemetry
        // socket) are useless once it is gone; don't leave them in /var/run.
        if let Some(d) = &self.runtime_dir {
            if d.components().count() > 2 {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

/// Lets closures run on worker lcores for the duration of [`Eal::scope`].
pub struct LcoreScope<'scope, 'env: 'scope> {
    eal: &'env Eal,
    launched: RefCell<Vec<u32>>,
    failed: RefCell<Vec<u32>>,
    _scope: PhantomData<&'scope mut &'env ()>,
}

impl<'scope, 'env> LcoreScope<'scope, 'env> {
    /// Launches `f` on worker lcore `lcore` (`rte_eal_remote_launch`).
    /// Fails if `lcore` is not an idle worker lcore.
    pub fn launch<F>(&'scope self, lcore: u32, f: F) -> Result<(), DpdkError>
    where
        F: FnOnce() + Send + 'scope,
    {
        if lcore == self.eal.main_lcore || !self.eal.worker_lcores().contains(&lcore) {
            return Err(DpdkError::other(
                "rte_eal_remote_launch",
                libc_einval(),
                format!("lcore {lcore} is not an enabled worker lcore"),
            ));
        }
        let boxed: Box<Box<dyn FnOnce() + Send + 'scope>> = Box::new(Box::new(f));
        let arg = Box::into_raw(boxed).cast::<c_void>();
        // SAFETY: trampoline takes ownership of `arg` exactly once when it runs;
        // the scope waits for the lcore before 'scope ends, so borrows in `f`
        // stay valid. We are on the main lcore (checked in Eal::scope).
        let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if ret != 0 {
            // SAFETY: the launch failed, so the lcore never saw `arg`; reclaim it.
            drop(unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send + 'scope>>()) });
            return Err(DpdkError::from_code("rte_eal_remote_launch", ret));
        }
        self.launched.borrow_mut().push(lcore);
        Ok(())
    }

    /// The EAL this scope belongs to.
    pub fn eal(&self) -> &'env Eal {
        self.eal
    }
}

/// Waits for every launched lcore, also when the scope body unwinds.
struct WaitAll<'a, 'scope, 'env>(&'a LcoreScope<'scope, 'env>);

impl Drop for WaitAll<'_, '_, '_> {
    fn drop(&mut self) {
        let launched = std::mem::take(&mut *self.0.launched.borrow_mut());
        for lcore in launched {
            // SAFETY: lcore was launched from this (main) thread; waiting is the
            // documented way to join it.
            let rc = unsafe { dpdk_sys::rte_eal_wait_lcore(lcore) };
            if rc != 0 {
                self.0.failed.borrow_mut().push(lcore);
            }
        }
    }
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` came from Box::into_raw in LcoreScope::launch and is
    // consumed only here. The 'scope lifetime is erased, which is sound because
    // the scope waits for this function to return before 'scope ends.
    let f = unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) };
    // Never unwind into C.
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

fn libc_einval() -> i32 {
    22
}

/// The calling thread's lcore id (`u32::MAX` on non-EAL threads).
pub fn lcore_id() -> u32 {
    // SAFETY: reads a thread-local set by the EAL; valid on any thread.
    unsafe { dpdk_sys::dpnat_lcore_id() }
}

/// The CPU timestamp counter.
#[inline]
pub fn tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions.
    unsafe { dpdk_sys::dpnat_rdtsc() }
}

/// Timestamp-counter ticks per second (calibrated by the EAL).
pub fn tsc_hz(_eal: &Eal) -> u64 {
    // SAFETY: the Eal exists, so the TSC frequency has been calibrated.
    unsafe { dpdk_sys::dpnat_get_tsc_hz() }
}
