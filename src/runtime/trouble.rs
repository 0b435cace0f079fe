//! A service's latency, errors and hang faults in force, as every one of its replicas
//! meets them per request. Kept apart from `fault` (which schedules the windows through
//! the cluster) so that the cluster and the replicas can hold it without a circle.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;

use crate::model::{FailCode, FaultKind};

/// What the faults that slow, fail or black-hole a service's answers do to it now: one
/// per service, shared by all its replicas (those started during a window too), read by
/// each replica's handler for every request. Windows may overlap: each is kept by its
/// fault's index, and their effects add up (latencies add, every error draw is made,
/// one hang is enough).
#[derive(Debug)]
pub struct Trouble {
    /// How many faults are in force: a request meets the lock only when one is, so a
    /// run without these faults pays one atomic load per request.
    active: AtomicUsize,
    state: Mutex<TroubleState>,
}

#[derive(Debug)]
struct TroubleState {
    /// The faults in force, by index in the scenario's list.
    active: Vec<(usize, FaultKind)>,
    /// The service's own stream for jitter and error draws, derived from the run's seed.
    draws: ChaCha8Rng,
}

/// What one request meets: wait this long first; then never answer, or fail with a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Met {
    pub delay: Duration,
    pub hang: bool,
    pub fail: Option<FailCode>,
}

impl Trouble {
    pub fn new(draws: ChaCha8Rng) -> Trouble {
        Trouble {
            active: AtomicUsize::new(0),
            state: Mutex::new(TroubleState {
                active: Vec::new(),
                draws,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TroubleState> {
        // A panic while the lock was held leaves a list of faults still worth reading.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fault `index` of kind `kind` starts.
    pub fn begin(&self, index: usize, kind: &FaultKind) {
        let mut state = self.lock();
        state.active.push((index, kind.clone()));
        self.active.store(state.active.len(), Ordering::SeqCst);
    }

    /// Fault `index` ends.
    pub fn end(&self, index: usize) {
        let mut state = self.lock();
        state.active.retain(|(i, _)| *i != index);
        self.active.store(state.active.len(), Ordering::SeqCst);
    }

    /// The faults in force, by index (a replica started meanwhile in a process of its
    /// own is told of them).
    pub fn in_force(&self) -> Vec<usize> {
        self.lock().active.iter().map(|(index, _)| *index).collect()
    }

    /// What the next request meets. Without a fault in force it draws nothing, so a
    /// run without these faults takes no draw from the stream.
    pub fn meet(&self) -> Met {
        let mut met = Met {
            delay: Duration::ZERO,
            hang: false,
            fail: None,
        };
        if self.active.load(Ordering::SeqCst) == 0 {
            return met;
        }
        let mut state = self.lock();
        let TroubleState { active, draws } = &mut *state;
        for (_, kind) in active.iter() {
            match kind {
                FaultKind::Latency { add, jitter, .. } => {
                    met.delay += *add;
                    if !jitter.is_zero() {
                        let ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
                        met.delay += Duration::from_millis(draws.random_range(0..=ms));
                    }
                }
                FaultKind::Errors {
                    per_million, code, ..
                } => {
                    if draws.random_range(0..1_000_000) < *per_million && met.fail.is_none() {
                        met.fail = Some(*code);
                    }
                }
                FaultKind::Hang(_) => met.hang = true,
                FaultKind::Kill(_)
                | FaultKind::Missing(_)
                | FaultKind::Partition { .. }
                | FaultKind::Crash { .. } => {}
            }
        }
        met
    }
}
