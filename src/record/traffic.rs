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

/// The calls made over one edge in one step, how they ended for the caller, and what
/// the caller's protections did on them (all zero on a call without any).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EdgeCounts {
    pub calls: u64,
    pub ok: u64,
    pub degraded: u64,
    pub failed: u64,
    #[serde(flatten)]
    pub tries: Tries,
}

/// What a caller's protections did on one call, or on an edge's calls added up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tries {
    /// Attempts sent to a replica of the callee (0: the call never reached it): the
    /// load the edge put on the callee.
    pub attempts: u64,
    /// Of the attempts, retries.
    pub retries: u64,
    /// Retries the retry budget refused (the call then failed with its last code).
    pub retries_refused: u64,
    /// Attempts an open circuit breaker failed at once.
    pub breaker_fast_failed: u64,
    /// Breakers (one per caller replica) that opened, and that closed again.
    pub breaker_opened: u64,
    pub breaker_closed: u64,
    /// Calls a full bulkhead refused.
    pub bulkhead_refused: u64,
}

impl Tries {
    /// One call's single attempt, without any protection acting.
    pub const ONE: Tries = Tries {
        attempts: 1,
        retries: 0,
        retries_refused: 0,
        breaker_fast_failed: 0,
        breaker_opened: 0,
        breaker_closed: 0,
        bulkhead_refused: 0,
    };

    fn add(&mut self, other: &Tries) {
        self.attempts += other.attempts;
        self.retries += other.retries;
        self.retries_refused += other.retries_refused;
        self.breaker_fast_failed += other.breaker_fast_failed;
        self.breaker_opened += other.breaker_opened;
        self.breaker_closed += other.breaker_closed;
        self.bulkhead_refused += other.bulkhead_refused;
    }
}

impl EdgeCounts {
    fn count(&mut self, outcome: Level, tries: &Tries) {
        self.calls += 1;
        match outcome {
            Level::Ok => self.ok += 1,
            Level::Degraded => self.degraded += 1,
            Level::Failed => self.failed += 1,
        }
        self.tries.add(tries);
    }

    /// Whether a protection acted on some of these calls (a retry counts).
    pub fn protected(&self) -> bool {
        Tries {
            attempts: 0,
            ..self.tries
        } != Tries::default()
    }
}

/// How full one service's workers and queue were in a step (services with `capacity`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pressure {
    /// Requests refused with RESOURCE_EXHAUSTED: workers busy, queue full.
    pub refused: u64,
    /// Requests that waited in the queue past their deadline and were never worked on.
    pub expired: u64,
    /// Requests whose deadline passed while they held a worker: cut off mid-work (the
    /// caller had given up), their worker freed then.
    pub abandoned: u64,
    /// The most workers busy at once in one replica.
    pub peak_workers: u64,
    /// The most requests waiting at once in one replica's queue.
    pub peak_queue: u64,
}

impl Pressure {
    /// Requests the workers did not serve to the end: refused, expired or abandoned.
    pub fn dropped(&self) -> u64 {
        self.refused + self.expired + self.abandoned
    }

    fn add(&mut self, other: &Pressure) {
        self.refused += other.refused;
        self.expired += other.expired;
        self.abandoned += other.abandoned;
        self.peak_workers = self.peak_workers.max(other.peak_workers);
        self.peak_queue = self.peak_queue.max(other.peak_queue);
    }
}

/// How two counts of the same thing add up: the counts of two processes, or of two
/// takes of one.
pub trait Merge {
    fn merge(&mut self, other: &Self);
}

impl Merge for u64 {
    fn merge(&mut self, other: &Self) {
        *self += other;
    }
}

impl Merge for EdgeCounts {
    fn merge(&mut self, other: &Self) {
        self.calls += other.calls;
        self.ok += other.ok;
        self.degraded += other.degraded;
        self.failed += other.failed;
        self.tries.add(&other.tries);
    }
}

impl Merge for Pressure {
    fn merge(&mut self, other: &Self) {
        self.add(other);
    }
}

impl Merge for Backlog {
    fn merge(&mut self, other: &Self) {
        self.started += other.started;
        self.dropped += other.dropped;
        self.peak = self.peak.max(other.peak);
    }
}

/// One counter's counts taken: per step (empty for one that keeps only its total) and
/// its total.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TakenCounter<T> {
    pub name: String,
    /// Whether the counter keeps its counts per step whatever the run's size (an edge
    /// the report reads per step).
    pub tracked: bool,
    /// (step, counts) for the steps with a count: a long run's zeros are not sent.
    pub steps: Vec<(usize, T)>,
    pub total: T,
}

/// Every count taken from a [`Traffic`] since its last take: what a child of a run
/// across processes hands to its parent, which adds it to its own ([`Traffic::absorb`]).
/// Taken and added, every count reaches the parent once, however often it asks.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delta {
    pub edges: Vec<TakenCounter<EdgeCounts>>,
    pub received: Vec<TakenCounter<u64>>,
    pub pressure: Vec<TakenCounter<Pressure>>,
    pub asynchronous: Vec<(usize, Backlog)>,
    pub stray: u64,
}

/// The steps of `steps` with a count, by number.
fn sparse<T: Default + PartialEq>(steps: Vec<T>) -> Vec<(usize, T)> {
    steps
        .into_iter()
        .enumerate()
        .filter(|(_, counts)| *counts != T::default())
        .collect()
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
    /// Per service with `capacity`, how full its workers and queue were.
    pub pressure: BTreeMap<String, Pressure>,
}

/// One step's asynchronous calls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backlog {
    pub started: u64,
    pub dropped: u64,
    pub peak: u64,
}

/// One counter's values over the run, and per step (grown as steps are met, up to the
/// run's bound) when it keeps a history.
#[derive(Debug)]
pub struct Counter<T> {
    /// Per step; `None` for a counter that keeps only its total (see [`History`]).
    steps: Option<Mutex<Vec<T>>>,
    total: Mutex<T>,
}

/// Whether a counter keeps its values per step or only its total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    PerStep,
    TotalOnly,
}

impl<T: Default + Clone> Counter<T> {
    fn new(history: History) -> Counter<T> {
        Counter {
            steps: (history == History::PerStep).then(|| Mutex::new(Vec::new())),
            total: Mutex::new(T::default()),
        }
    }

    /// Counts in step `step` (the caller checked the bound) and in the total.
    fn with(&self, step: usize, change: impl Fn(&mut T)) {
        self.with_step(step, &change);
        change(&mut crate::lock::lock(&self.total));
    }

    /// Counts in step `step` only, when the counter keeps steps.
    fn with_step(&self, step: usize, change: impl Fn(&mut T)) {
        if let Some(steps) = &self.steps {
            let mut steps = crate::lock::lock(steps);
            if steps.len() <= step {
                steps.resize(step + 1, T::default());
            }
            change(&mut steps[step]);
        }
    }

    /// Takes every count so far, leaving zeros. The two locks are held together, in the
    /// order [`Counter::with`] takes them one after the other, so a count made meanwhile
    /// is in this take or the next, per step and in the total alike.
    fn take(&self) -> (Vec<T>, T) {
        let mut steps = self.steps.as_ref().map(|steps| crate::lock::lock(steps));
        let mut total = crate::lock::lock(&self.total);
        let taken = steps.as_deref_mut().map(std::mem::take).unwrap_or_default();
        (taken, std::mem::take(&mut *total))
    }

    fn get(&self, step: usize) -> Option<T> {
        let steps = self.steps.as_ref()?;
        crate::lock::lock(steps).get(step).cloned()
    }

    fn total(&self) -> T {
        crate::lock::lock(&self.total).clone()
    }
}

/// What the hot path holds to count one edge's calls or one service's requests.
pub type Key<T> = Arc<Counter<T>>;

/// An edge's counter.
pub type EdgeKey = Key<EdgeCounts>;

/// A service's counter of requests received.
pub type ServiceKey = Key<u64>;

/// A service's counter of its workers' and queue's pressure.
pub type PressureKey = Key<Pressure>;

/// Every edge's and service's counts over a whole run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TrafficTotals {
    pub edges: BTreeMap<String, EdgeCounts>,
    pub received: BTreeMap<String, u64>,
    pub pressure: BTreeMap<String, Pressure>,
}

/// At most this many (edge or service) x step counts are kept per step. A 10,000-service
/// fleet has tens of thousands of edges and thousands of steps: past this, only the edges
/// the report reads per step (flagged, ignoring and asynchronous calls) keep a
/// history, every other edge and service its run total (2,000,000 counts: 64 MB).
pub const MAX_STEP_COUNTS: usize = 2_000_000;

/// Filled by every replica and the load generator while a run goes on.
#[derive(Debug)]
pub struct Traffic {
    /// Steps are numbered below this; a request naming another is stray.
    steps: usize,
    /// Whether every counter keeps a history per step, or only the tracked ones.
    every_step: History,
    edges: Mutex<BTreeMap<String, EdgeKey>>,
    /// The edges that keep their counts per step (every edge, or only the tracked ones),
    /// so that a step's traffic is read without visiting every edge of a large fleet.
    per_step_edges: Mutex<BTreeMap<String, EdgeKey>>,
    services: Mutex<BTreeMap<String, ServiceKey>>,
    /// Services with `capacity` only: few, so always per step.
    pressure: Mutex<BTreeMap<String, PressureKey>>,
    asynchronous: Counter<Backlog>,
    /// Asynchronous calls in flight now, over every replica.
    async_in_flight: AtomicU64,
    /// Counts refused because their request named a step past the run's last.
    stray: AtomicU64,
}

impl Traffic {
    /// Traffic of a run whose steps are numbered below `steps`, every counter kept per
    /// step.
    pub fn new(steps: usize) -> Traffic {
        Traffic::for_run(steps, 0)
    }

    /// Traffic of a run of `steps` steps over `counters` edges and services: per step for
    /// every counter when that fits [`MAX_STEP_COUNTS`], else for the tracked ones only.
    pub fn for_run(steps: usize, counters: usize) -> Traffic {
        let every_step = if counters.saturating_mul(steps) <= MAX_STEP_COUNTS {
            History::PerStep
        } else {
            History::TotalOnly
        };
        Traffic {
            steps,
            every_step,
            edges: Mutex::new(BTreeMap::new()),
            per_step_edges: Mutex::new(BTreeMap::new()),
            services: Mutex::new(BTreeMap::new()),
            pressure: Mutex::new(BTreeMap::new()),
            asynchronous: Counter::new(History::PerStep),
            async_in_flight: AtomicU64::new(0),
            stray: AtomicU64::new(0),
        }
    }

    /// Whether every edge and service keeps its counts per step.
    pub fn every_step(&self) -> bool {
        self.every_step == History::PerStep
    }

    /// The counter of the edge named `edge`, made on first use, per step as the run's
    /// size allows.
    pub fn edge(&self, edge: &str) -> EdgeKey {
        self.edge_with(edge, self.every_step)
    }

    /// The counter of an edge the report reads per step whatever the fleet's size (an
    /// entry edge, a flagged, ignoring or asynchronous call).
    pub fn tracked_edge(&self, edge: &str) -> EdgeKey {
        self.edge_with(edge, History::PerStep)
    }

    fn edge_with(&self, edge: &str, history: History) -> EdgeKey {
        let mut edges = crate::lock::lock(&self.edges);
        if let Some(key) = edges.get(edge) {
            return Arc::clone(key);
        }
        let key = Arc::new(Counter::new(history));
        edges.insert(edge.to_owned(), Arc::clone(&key));
        if history == History::PerStep {
            crate::lock::lock(&self.per_step_edges).insert(edge.to_owned(), Arc::clone(&key));
        }
        key
    }

    /// The counter of the requests service `service` receives, made on first use.
    pub fn service(&self, service: &str) -> ServiceKey {
        let mut services = crate::lock::lock(&self.services);
        Arc::clone(
            services
                .entry(service.to_owned())
                .or_insert_with(|| Arc::new(Counter::new(self.every_step))),
        )
    }

    /// The pressure counter of service `service` (one with `capacity`), made on first
    /// use.
    pub fn pressure(&self, service: &str) -> PressureKey {
        let mut pressure = crate::lock::lock(&self.pressure);
        Arc::clone(
            pressure
                .entry(service.to_owned())
                .or_insert_with(|| Arc::new(Counter::new(History::PerStep))),
        )
    }

    /// Every edge's and service's counts over the run so far.
    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            edges: crate::lock::lock(&self.edges)
                .iter()
                .map(|(edge, counter)| (edge.clone(), counter.total()))
                .filter(|(_, counts)| counts.calls > 0)
                .collect(),
            received: crate::lock::lock(&self.services)
                .iter()
                .map(|(service, counter)| (service.clone(), counter.total()))
                .filter(|(_, count)| *count > 0)
                .collect(),
            pressure: crate::lock::lock(&self.pressure)
                .iter()
                .map(|(service, counter)| (service.clone(), counter.total()))
                .collect(),
        }
    }

    /// Whether `step` is one of the run's; a stray one is counted and refused.
    fn accepts(&self, step: usize) -> bool {
        let accepted = step < self.steps;
        if !accepted {
            self.stray.fetch_add(1, Ordering::Relaxed);
        }
        accepted
    }

    /// A call over `edge` made for a request of `step` in one attempt, which ended in
    /// `outcome`.
    pub fn called(&self, step: usize, edge: &EdgeKey, outcome: Level) {
        self.called_after(step, edge, outcome, &Tries::ONE);
    }

    /// A call over `edge` made for a request of `step`, which ended in `outcome`;
    /// `tries`: its attempts and what the caller's protections did on it.
    pub fn called_after(&self, step: usize, edge: &EdgeKey, outcome: Level, tries: &Tries) {
        if self.accepts(step) {
            edge.with(step, |counts| counts.count(outcome, tries));
        }
    }

    /// Adds `change` to a service's pressure in `step`: refusals and expiries add up,
    /// peaks keep the highest.
    pub fn pressed(&self, step: usize, key: &PressureKey, change: &Pressure) {
        if self.accepts(step) {
            key.with(step, |pressure| pressure.add(change));
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

    /// Every count since the last take, taken (see [`Delta`]).
    pub fn take(&self) -> Delta {
        fn taken<T: Default + Clone + PartialEq>(
            counters: &Mutex<BTreeMap<String, Key<T>>>,
            tracked: impl Fn(&Counter<T>) -> bool,
        ) -> Vec<TakenCounter<T>> {
            crate::lock::lock(counters)
                .iter()
                .filter_map(|(name, counter)| {
                    let (steps, total) = counter.take();
                    let steps = sparse(steps);
                    // A take between a count's step and its total sees one without the
                    // other: either is worth sending.
                    (total != T::default() || !steps.is_empty()).then(|| TakenCounter {
                        name: name.clone(),
                        tracked: tracked(counter),
                        steps,
                        total,
                    })
                })
                .collect()
        }
        let per_step = |counter: &Counter<EdgeCounts>| counter.steps.is_some();
        Delta {
            edges: taken(&self.edges, per_step),
            received: taken(&self.services, |_| false),
            pressure: taken(&self.pressure, |_| true),
            asynchronous: sparse(self.asynchronous.take().0),
            stray: self.stray.swap(0, Ordering::Relaxed),
        }
    }

    /// Adds counts taken from another traffic (a child's) to this one's, each to the
    /// counter of its name; steps past this run's last are refused as stray.
    pub fn absorb(&self, delta: &Delta) {
        for edge in &delta.edges {
            let key = if edge.tracked {
                self.tracked_edge(&edge.name)
            } else {
                self.edge(&edge.name)
            };
            self.add_to(&key, &edge.steps, &edge.total);
        }
        for service in &delta.received {
            self.add_to(&self.service(&service.name), &service.steps, &service.total);
        }
        for pressure in &delta.pressure {
            self.add_to(
                &self.pressure(&pressure.name),
                &pressure.steps,
                &pressure.total,
            );
        }
        for (step, backlog) in &delta.asynchronous {
            if self.accepts(*step) {
                self.asynchronous
                    .with_step(*step, |mine| mine.merge(backlog));
            }
        }
        self.stray.fetch_add(delta.stray, Ordering::Relaxed);
    }

    fn add_to<T: Default + Clone + PartialEq + Merge>(
        &self,
        counter: &Counter<T>,
        steps: &[(usize, T)],
        total: &T,
    ) {
        for (step, counts) in steps {
            if self.accepts(*step) {
                counter.with_step(*step, |mine| mine.merge(counts));
            }
        }
        crate::lock::lock(&counter.total).merge(total);
    }

    /// Step `step`'s traffic so far: every edge and service with a count in it.
    pub fn step(&self, step: usize) -> StepTraffic {
        let edges = crate::lock::lock(&self.per_step_edges)
            .iter()
            .filter_map(|(edge, counter)| {
                let counts = counter.get(step).filter(|counts| counts.calls > 0)?;
                Some((edge.clone(), counts))
            })
            .collect();
        // Services keep their counts per step only when every counter does.
        let received = if self.every_step == History::PerStep {
            crate::lock::lock(&self.services)
                .iter()
                .filter_map(|(service, counter)| {
                    let count = counter.get(step).filter(|count| *count > 0)?;
                    Some((service.clone(), count))
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let pressure = crate::lock::lock(&self.pressure)
            .iter()
            .filter_map(|(service, counter)| Some((service.clone(), counter.get(step)?)))
            .collect();
        StepTraffic {
            edges,
            received,
            asynchronous: self.asynchronous.get(step).unwrap_or_default(),
            pressure,
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
                failed: 1,
                tries: Tries {
                    attempts: 2,
                    ..Tries::default()
                },
            }
        );
        assert_eq!(one.received["reviews"], 1);
        assert_eq!(traffic.step(2).edges["web -> reviews api v1"].degraded, 1);
        assert_eq!(traffic.step(0), StepTraffic::default());
    }

    #[test]
    fn counts_taken_from_one_traffic_and_added_to_another_reach_it_once() {
        let child = Traffic::new(4);
        let parent = Traffic::new(4);
        let edge = child.edge("web -> cart api v1");
        let cart = child.service("cart");
        child.called(1, &edge, Level::Ok);
        child.called(2, &edge, Level::Failed);
        child.received(1, &cart);
        child.async_started(2);
        child.called(9, &edge, Level::Ok);
        parent.called(1, &parent.edge("web -> cart api v1"), Level::Degraded);
        parent.absorb(&child.take());
        // A second take has only what came after the first.
        child.called(1, &edge, Level::Ok);
        let second = child.take();
        assert_eq!(second.edges[0].total.calls, 1);
        assert!(second.received.is_empty());
        parent.absorb(&second);
        parent.absorb(&child.take());
        let one = parent.step(1);
        assert_eq!(one.edges["web -> cart api v1"].calls, 3);
        assert_eq!(one.edges["web -> cart api v1"].degraded, 1);
        assert_eq!(one.received["cart"], 1);
        assert_eq!(parent.step(2).edges["web -> cart api v1"].failed, 1);
        assert_eq!(parent.step(2).asynchronous.started, 1);
        let totals = parent.totals();
        assert_eq!(totals.edges["web -> cart api v1"].calls, 4);
        assert_eq!(parent.stray(), 1, "the child's stray count came along");
        // Through JSON, as it crosses processes.
        child.called(3, &edge, Level::Ok);
        let json = serde_json::to_vec(&child.take()).expect("serializes");
        let back: Delta = serde_json::from_slice(&json).expect("reads back");
        parent.absorb(&back);
        assert_eq!(parent.step(3).edges["web -> cart api v1"].ok, 1);
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
        let steps = |counter: &EdgeKey| {
            counter
                .steps
                .as_ref()
                .map_or(0, |steps| crate::lock::lock(steps).len())
        };
        assert_eq!(steps(&edge), 3, "nothing grew past the bound");
        assert_eq!(traffic.totals().received.get("cart"), None);
        assert_eq!(traffic.step(2).edges["web -> cart api v1"].calls, 1);
    }

    #[test]
    fn past_the_budget_only_tracked_edges_keep_a_history_and_every_edge_its_total() {
        let traffic = Traffic::for_run(1_000, MAX_STEP_COUNTS);
        assert!(!traffic.every_step());
        let entry = traffic.tracked_edge("client -> web api v1");
        let inner = traffic.edge("web -> cart api v1");
        for step in [1, 2, 2] {
            traffic.called(step, &entry, Level::Ok);
            traffic.called(step, &inner, Level::Failed);
        }
        assert_eq!(traffic.step(2).edges["client -> web api v1"].calls, 2);
        assert!(!traffic.step(2).edges.contains_key("web -> cart api v1"));
        let totals = traffic.totals();
        assert_eq!(totals.edges["web -> cart api v1"].failed, 3);
        assert_eq!(totals.edges["client -> web api v1"].calls, 3);
    }
}
