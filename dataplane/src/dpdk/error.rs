//! Typed DPDK errors carrying `rte_strerror` text.

use std::ffi::CStr;
use std::fmt;

/// A failed DPDK call: which operation, the errno, and DPDK's own text for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkError {
    op: String,
    errno: i32,
    message: String,
}

impl DpdkError {
    /// Error from the current `rte_errno` (for calls that return -1 / NULL).
    pub(crate) fn from_errno(op: impl Into<String>) -> Self {
        // SAFETY: reads this thread's rte_errno; always valid after EAL init or not.
        let e = unsafe { dpdk_sys::dpnat_errno() };
        Self::from_code(op, e)
    }

    /// Error from a returned error code (DPDK returns `-errno`; either sign is accepted).
    pub(crate) fn from_code(op: impl Into<String>, code: i32) -> Self {
        let errno = code.saturating_abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local
        // NUL-terminated string valid until the next call on this thread; we copy it now.
        let message = unsafe {
            let p = dpdk_sys::rte_strerror(errno);
            if p.is_null() {
                format!("error {errno}")
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        DpdkError {
            op: op.into(),
            errno,
            message,
        }
    }

    /// An error detected by the wrapper itself rather than reported by DPDK.
    pub(crate) fn other(op: impl Into<String>, errno: i32, message: impl Into<String>) -> Self {
        DpdkError {
            op: op.into(),
            errno,
            message: message.into(),
        }
    }

    /// The failed operation (usually the DPDK function name).
    pub fn op(&self) -> &str {
        &self.op
    }

    /// The positive errno value.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// DPDK's text for the error (`rte_strerror`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.message)
    }
}

impl std::error::Error for DpdkError {}
