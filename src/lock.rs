//! Locking a `Mutex` that a panicking user closure may have poisoned.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the data even when the mutex is poisoned.
pub(crate) fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    // A user closure that panicked while a lock was held leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
