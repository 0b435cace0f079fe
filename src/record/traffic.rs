//! Calls per edge and requests received per service, per step: what shows that a call
//! behind a flag that is off was never made.
//!
//! A call counts in the step of the entry request it serves (the request carries its
//! step), like the entry request itself, so a step's edges are the calls its own
//! requests made. Kept apart from the entry tallies, under its own lock: every hop of
//! every request counts here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::eval::Level;

/// The calls made over one edge in one step, and how they ended for the caller.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct EdgeCounts {
    pub calls: u64,
    pub ok: u64,
    pub degraded: u64,
    pub failed: u64,
}

/// One step's traffic, by edge name (`caller -> callee api A`) and by service.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepTraffic {
    pub edges: BTreeMap<String, EdgeCounts>,
    /// Requests each service's replicas received (before their own work).
    pub received: BTreeMap<String, u64>,
    /// Asynchronous calls of the step's requests: started, dropped (a replica's backlog
    /// was full), and the most in flight at once when one started (the backlog).
    pub asynchronous: Backlog,
}

/// One step's asynchronous calls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Backlog {
    pub started: u64,
    pub dropped: u64,
    pub peak: u64,
}

/// Filled by every replica and the load generator while a run goes on.
#[derive(Debug, Default)]
pub struct Traffic {
    steps: Mutex<Vec<Counting>>,
    /// Asynchronous calls in flight now, over every replica.
    async_in_flight: std::sync::atomic::AtomicU64,
}

/// One step's counts while the run goes on, under the keys the hot path holds.
#[derive(Debug, Default)]
struct Counting {
    edges: BTreeMap<Key, EdgeCounts>,
    received: BTreeMap<Key, u64>,
    asynchronous: Backlog,
}

/// A name the hot path counts under: made once per replica, cloned only when a step
/// first sees it.
pub type Key = Arc<str>;

/// The key of an edge.
pub fn edge_key(edge: &str) -> Key {
    Arc::from(edge)
}

/// The key of a service's received requests.
pub fn service_key(service: &str) -> Key {
    Arc::from(service)
}

/// The count under `key`, created at its default the first time; looked up first, so
/// that counting does not clone the key.
fn entry<'a, T: Default>(map: &'a mut BTreeMap<Key, T>, key: &Key) -> &'a mut T {
    if !map.contains_key(key) {
        map.insert(Arc::clone(key), T::default());
    }
    map.get_mut(key).expect("the key was inserted just above")
}

impl Traffic {
    /// A call over `edge` made for a request of `step`, which ended in `outcome`.
    pub fn called(&self, step: usize, edge: &Key, outcome: Level) {
        self.with(step, |counting| {
            let counts = entry(&mut counting.edges, edge);
            counts.calls += 1;
            match outcome {
                Level::Ok => counts.ok += 1,
                Level::Degraded => counts.degraded += 1,
                Level::Failed => counts.failed += 1,
            }
        });
    }

    /// A replica of the service behind `service` received a request of `step`.
    pub fn received(&self, step: usize, service: &Key) {
        self.with(step, |counting| {
            *entry(&mut counting.received, service) += 1
        });
    }

    /// An asynchronous call of a request of `step` started.
    pub fn async_started(&self, step: usize) {
        use std::sync::atomic::Ordering;
        let now = self.async_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.with(step, |counting| {
            counting.asynchronous.started += 1;
            counting.asynchronous.peak = counting.asynchronous.peak.max(now);
        });
    }

    /// An asynchronous call ended (its outcome is counted on its edge).
    pub fn async_finished(&self, _step: usize) {
        use std::sync::atomic::Ordering;
        let _ = self
            .async_in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// An asynchronous call of a request of `step` was dropped: its replica's backlog
    /// was full.
    pub fn async_dropped(&self, step: usize) {
        self.with(step, |counting| counting.asynchronous.dropped += 1);
    }

    fn with(&self, step: usize, count: impl FnOnce(&mut Counting)) {
        let mut steps = crate::lock::lock(&self.steps);
        // A step number comes from a request; one far past the steps the run can have
        // would be a corrupt request, not a reason to grow without bound.
        if step > steps.len() + 1_000_000 {
            return;
        }
        if steps.len() <= step {
            steps.resize_with(step + 1, Counting::default);
        }
        count(&mut steps[step]);
    }

    /// Step `step`'s traffic so far.
    pub fn step(&self, step: usize) -> StepTraffic {
        let steps = crate::lock::lock(&self.steps);
        let Some(counting) = steps.get(step) else {
            return StepTraffic::default();
        };
        StepTraffic {
            edges: counting
                .edges
                .iter()
                .map(|(edge, counts)| (edge.to_string(), *counts))
                .collect(),
            received: counting
                .received
                .iter()
                .map(|(service, count)| (service.to_string(), *count))
                .collect(),
            asynchronous: counting.asynchronous,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_count_per_step_and_edge_and_receipts_per_service() {
        let traffic = Traffic::default();
        let edge = edge_key("web -> reviews api v1");
        let reviews = service_key("reviews");
        traffic.called(1, &edge, Level::Ok);
        traffic.called(1, &edge, Level::Failed);
        traffic.received(1, &reviews);
        traffic.called(2, &edge, Level::Degraded);
        let one = traffic.step(1);
        assert_eq!(
            one.edges["web -> reviews api v1"],
            EdgeCounts {
                calls: 2,
                ok: 1,
                degraded: 0,
                failed: 1
            }
        );
        assert_eq!(one.received["reviews"], 1);
        assert_eq!(traffic.step(2).edges["web -> reviews api v1"].degraded, 1);
        assert_eq!(traffic.step(0), StepTraffic::default());
    }
}
