//! Mutex locking for the live run's shared state.
//!
//! A panic while a lock is held poisons it; the data behind every lock here (counters,
//! random streams, connection lists) stays meaningful after such a panic, so the guard is
//! taken anyway rather than spreading the panic to every task of the run.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, poisoned or not.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
