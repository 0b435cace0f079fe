//! Calls per edge and requests received per service, per step: what shows that a call
//! behind a flag that is off was never made.
//!
//! A call counts in the step of the entry request it serves (the request carries its
//! step), like the entry request itself, so a step's edges are the calls its own
//! requests made.
//!
//! Every hop of every request counts here, so the hot path is short: each edge and each
//! service has a counter of its own, registered once by name when a replica or the load
//! generator is built and then held by it ([`Key`]); a count is one lock of that
//! counter alone (no lookup by name, no lock shared by every edge). A step number comes
//! from a request, and any local process can send one: a step past the run's last is
//! refused and counted ([`Traffic::stray`]), so a stray request cannot grow memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
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

impl EdgeCounts {
    fn count(&mut self, outcome: Level) {
        self.calls += 1;
        match outcome {
            Level::Ok => self.ok += 1,
            Level::Degraded => self.degraded += 1,
            Level::Failed => self.failed += 1,
        }
    }
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

/// One counter's values, per step, grown as steps are met (up to the run's bound).
#[derive(Debug)]
pub struct Counter<T> {
    steps: Mutex<Vec<T>>,
}

impl<T: Default + Clone> Counter<T> {
    fn new() -> Counter<T> {
        Counter {
            steps: Mutex::new(Vec::new()),
        }
    }

    /// Changes step `step`'s value (the caller checked the bound).
    fn with(&self, step: usize, change: impl FnOnce(&mut T)) {
        let mut steps = crate::lock::lock(&self.steps);
        if steps.len() <= step {
            steps.resize(step + 1, T::default());
        }
        change(&mut steps[step]);
    }

    fn get(&self, step: usize) -> Option<T> {
        crate::lock::lock(&self.steps).get(step).cloned()
    }
}

/// What the hot path holds to count one edge's calls or one service's requests.
pub type Key<T> = Arc<Counter<T>>;

/// An edge's counter.
pub type EdgeKey = Key<EdgeCounts>;

/// A service's counter of requests received.
pub type ServiceKey = Key<u64>;

/// Filled by every replica and the load generator while a run goes on.
#[derive(Debug)]
pub struct Traffic {
    /// Steps are numbered below this; a request naming another is stray.
    steps: usize,
    edges: Mutex<BTreeMap<String, EdgeKey>>,
    services: Mutex<BTreeMap<String, ServiceKey>>,
    asynchronous: Counter<Backlog>,
    /// Asynchronous calls in flight now, over every replica.
    async_in_flight: AtomicU64,
    /// Counts refused because their request named a step past the run's last.
    stray: AtomicU64,
}

impl Traffic {
    /// Traffic of a run whose steps are numbered below `steps`.
    pub fn new(steps: usize) -> Traffic {
        Traffic {
            steps,
            edges: Mutex::new(BTreeMap::new()),
            services: Mutex::new(BTreeMap::new()),
            asynchronous: Counter::new(),
            async_in_flight: AtomicU64::new(0),
            stray: AtomicU64::new(0),
        }
    }

    /// The counter of the edge named `edge`, made on first use.
    pub fn edge(&self, edge: &str) -> EdgeKey {
        let mut edges = crate::lock::lock(&self.edges);
        Arc::clone(
            edges
                .entry(edge.to_owned())
                .or_insert_with(|| Arc::new(Counter::new())),
        )
    }

    /// The counter of the requests service `service` receives, made on first use.
    pub fn service(&self, service: &str) -> ServiceKey {
        let mut services = crate::lock::lock(&self.services);
        Arc::clone(
            services
                .entry(service.to_owned())
                .or_insert_with(|| Arc::new(Counter::new())),
        )
    }

    /// Whether `step` is one of the run's; a stray one is counted and refused.
    fn accepts(&self, step: usize) -> bool {
        let accepted = step < self.steps;
        if !accepted {
            self.stray.fetch_add(1, Ordering::Relaxed);
        }
        accepted
    }

    /// A call over `edge` made for a request of `step`, which ended in `outcome`.
    pub fn called(&self, step: usize, edge: &EdgeKey, outcome: Level) {
        if self.accepts(step) {
            edge.with(step, |counts| counts.count(outcome));
        }
    }

    /// A replica of the service behind `service` received a request of `step`.
    pub fn received(&self, step: usize, service: &ServiceKey) {
        if self.accepts(step) {
            service.with(step, |count| *count += 1);
        }
    }

    /// An asynchronous call of a request of `step` started.
    pub fn async_started(&self, step: usize) {
        let now = self.async_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        if self.accepts(step) {
            self.asynchronous.with(step, |backlog| {
                backlog.started += 1;
                backlog.peak = backlog.peak.max(now);
            });
        }
    }

    /// An asynchronous call ended (its outcome is counted on its edge).
    pub fn async_finished(&self) {
        let _ = self
            .async_in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// An asynchronous call of a request of `step` was dropped: its replica's backlog
    /// was full.
    pub fn async_dropped(&self, step: usize) {
        if self.accepts(step) {
            self.asynchronous.with(step, |backlog| backlog.dropped += 1);
        }
    }

    /// Counts refused so far because their request named a step past the run's last:
    /// requests no load of the run sent.
    pub fn stray(&self) -> u64 {
        self.stray.load(Ordering::Relaxed)
    }

    /// Step `step`'s traffic so far: every edge and service with a count in it.
    pub fn step(&self, step: usize) -> StepTraffic {
        let edges = crate::lock::lock(&self.edges)
            .iter()
            .filter_map(|(edge, counter)| {
                let counts = counter.get(step).filter(|counts| counts.calls > 0)?;
                Some((edge.clone(), counts))
            })
            .collect();
        let received = crate::lock::lock(&self.services)
            .iter()
            .filter_map(|(service, counter)| {
                let count = counter.get(step).filter(|count| *count > 0)?;
                Some((service.clone(), count))
            })
            .collect();
        StepTraffic {
            edges,
            received,
            asynchronous: self.asynchronous.get(step).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_count_per_step_and_edge_and_receipts_per_service() {
        let traffic = Traffic::new(10);
        let edge = traffic.edge("web -> reviews api v1");
        let reviews = traffic.service("reviews");
        traffic.called(1, &edge, Level::Ok);
        traffic.called(1, &traffic.edge("web -> reviews api v1"), Level::Failed);
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

    #[test]
    fn a_step_past_the_last_is_refused_and_counted_not_grown() {
        let traffic = Traffic::new(3);
        let edge = traffic.edge("web -> cart api v1");
        let cart = traffic.service("cart");
        traffic.called(2, &edge, Level::Ok);
        for step in [3, 1_000_000, u32::MAX as usize] {
            traffic.called(step, &edge, Level::Ok);
            traffic.received(step, &cart);
            traffic.async_dropped(step);
        }
        assert_eq!(traffic.stray(), 9);
        assert_eq!(
            crate::lock::lock(&edge.steps).len(),
            3,
            "nothing grew past the bound"
        );
        assert_eq!(crate::lock::lock(&cart.steps).len(), 0);
        assert_eq!(traffic.step(2).edges["web -> cart api v1"].calls, 1);
    }
}
