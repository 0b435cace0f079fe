//! The record of a live run: per step, the entry requests of each entrypoint, the faults
//! in force in each part of the step, the fault events, and the requests still in flight.
//!
//! Invariant: a request is dispatched and recorded in the same step (the one during which
//! it was sent), so a step's in-flight count reaches zero once all its requests answered.

pub mod expect;
pub mod result;
pub mod tally;
pub mod traffic;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::eval::Level;
use tally::{CauseKey, Tally};

/// What a step of the live run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Baseline,
    /// Rollout step `n` of the plan.
    Rollout(usize),
    /// Undoing rollout step `n`.
    Rollback(usize),
    /// The gate's kill switch after rollout step `n`: every flag the rollout released,
    /// back to where it was before, at once.
    KillSwitch(usize),
}

impl StepKind {
    pub fn label(&self) -> String {
        match self {
            StepKind::Baseline => "baseline".to_owned(),
            StepKind::Rollout(n) => n.to_string(),
            StepKind::Rollback(n) => format!("rollback {n}"),
            StepKind::KillSwitch(_) => "kill switch".to_owned(),
        }
    }
}

/// A duration in whole milliseconds, as measures and reports count them (saturating: a
/// run is bounded far below that).
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Which part of a step is running: the transient state (and the preparation before it),
/// or the settled state after it. The baseline is all settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Transient,
    Settled,
}

impl Part {
    /// 0 for the transient part, 1 for the settled one: the index into [`Parts`].
    pub fn index(self) -> usize {
        match self {
            Part::Transient => 0,
            Part::Settled => 1,
        }
    }
}

/// What became of an entry request the load generator sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// It went out to the service.
    Dispatched,
    /// `load.max_in_flight` requests were outstanding: it was refused at once.
    Refused,
}

/// Where the run was when a request was sent: the step and the part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub step: usize,
    pub part: Part,
}

/// Entry requests of one part of a step, counted apart from the tallies: `sent` when the
/// load generator sends one, the outcome when it is recorded. The two sides are counted
/// at different places, so comparing them finds a request counted twice or lost.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub ok: u64,
    pub degraded: u64,
    pub failed: u64,
}

impl Counts {
    pub fn answered(&self) -> u64 {
        self.ok + self.degraded + self.failed
    }
}

/// Per part of a step: `[transient, settled]` (see [`Part::index`]).
pub type Parts = [Counts; 2];

/// Something that happened to the cluster while a step ran, besides the requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Fault (an index into the scenario's) started.
    FaultStarted(usize),
    /// Fault ended: the service is back, the partition repaired.
    FaultEnded(usize),
    /// A kill or missing window ended, but the service could not start again.
    FaultNotEnded { fault: usize, error: String },
    /// A replica out of rotation still had calls in flight when its drain limit ran out;
    /// it was stopped anyway, and those calls were cut.
    DrainTimedOut { service: String, replica: u32 },
    /// A replica of its own process (`--net processes`) did not hand over its counts
    /// when it stopped or was killed: the calls it made and the requests it received
    /// since it last did are missing from the step's edges (never from the entry
    /// requests, which the parent counts).
    CountsLost { service: String, replica: u32 },
    /// A replica of its own process exited without the run's asking (`code`: its exit
    /// code; none when a signal ended it): calls to it fail until a rollout move or a
    /// restart replaces it.
    ReplicaExited {
        service: String,
        replica: u32,
        code: Option<i32>,
    },
    /// The gate did not judge the step: the machine fell behind in it, so its failures
    /// may be the harness's, and neither rolling back nor going on would rest on a
    /// measurement.
    GateNotJudged,
    /// The gate found more failed requests than `max_failed_ratio` among those of the step
    /// that had answered by the end of its bake time.
    GateBreached { failed: u64, answered: u64 },
    /// The gate let the step pass although some of its requests failed: so many, among
    /// those answered by the end of the bake time, no more than `max_failed_ratio`. Said
    /// so that a report shows what the gate saw, not only when it tripped.
    GatePassed {
        failed: u64,
        answered: u64,
        /// The step's wait for its new replicas to be ready (`startup_ms`), whose
        /// requests count in the ratio too.
        startup: std::time::Duration,
    },
    /// The gate's kill switch found no flag that the rollout had released: nothing to
    /// switch off, so the rollout stopped.
    NothingToSwitchOff,
    /// A crash loop crashed `count` replicas of `service` in the step, each replaced by
    /// a new one (one event per service and step, counting).
    Crashed { service: String, count: u32 },
}

/// What one step (baseline, rollout step or rollback step) recorded.
#[derive(Debug, Default, Clone)]
pub struct StepRecord {
    pub by_entry: BTreeMap<String, Tally>,
    /// Every entrypoint merged; set when the step is summarised (its requests have all
    /// answered and it is no longer the current step), when its tallies keep only their
    /// percentiles.
    pub total: Option<Tally>,
    /// Per entrypoint, the requests sent and answered in each part of the step.
    pub parts: BTreeMap<String, Parts>,
    /// What happened to the cluster during the step, in order.
    pub events: Vec<Event>,
    /// Faults (indices into the scenario's) in force at some time of each part.
    pub faults_transient: BTreeSet<usize>,
    pub faults_settled: BTreeSet<usize>,
    /// Requests sent in this step that have not answered yet.
    pub in_flight: u64,
    /// How late the load generator sent the step's arrivals (the runner adds its own
    /// overrun when the run ends).
    pub lag: Lag,
    /// The entrypoints (bit i: the recorder's entrypoint i) whose requests in this step
    /// were all ok, when a fleet too large to keep a tally per entrypoint and step folded
    /// them into [`Recorder::take`]'s per-entrypoint totals; they are then in neither
    /// `by_entry` nor `parts`.
    pub all_ok: Vec<u64>,
}

impl StepRecord {
    /// Whether entrypoint `entry` (an index into the recorder's entrypoints) answered
    /// every request of the step ok, its tally folded away.
    pub fn all_ok(&self, entry: usize) -> bool {
        self.all_ok
            .get(entry / 64)
            .is_some_and(|word| word & (1 << (entry % 64)) != 0)
    }
}

/// The most per-entrypoint tallies a run keeps step by step (entrypoints x steps): a
/// 1,000-service fleet's single-piece run fits; past it (a 10,000-service fleet has
/// hundreds of entrypoints and thousands of steps, which would take gigabytes), a step
/// keeps the tallies of the entrypoints that had a failed or degraded request, and the
/// all-ok ones are folded into one total per entrypoint.
pub const MAX_STEP_TALLIES: usize = 200_000;

/// An entrypoint's requests over the steps in which every one of them was ok, folded
/// together (see [`MAX_STEP_TALLIES`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Folded {
    /// Requests, all ok.
    pub ok: u64,
    /// The worst p99 latency of one of those steps, in milliseconds.
    pub worst_p99: f64,
}

/// How far the harness fell behind in a step: what tells the machine's limits from the
/// services' behaviour. A starved machine sends arrivals late and wakes from its timed
/// waits late; slow services do neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    /// Entry requests the load generator sent (or refused) in the step.
    pub arrivals: u64,
    /// Of those, the ones sent more than [`Lag::LATE_ARRIVAL`] after their scheduled time.
    pub late_arrivals: u64,
    /// Of those, the ones the harness refused to send because `load.max_in_flight`
    /// requests were outstanding: what the services would have done with them is
    /// unknown.
    pub refused: u64,
    /// The latest an arrival was sent after its scheduled time.
    pub max_arrival_late: Duration,
    /// How much longer than asked the runner's own timed waits took (startup, bake).
    pub overrun: Duration,
}

impl Lag {
    /// An arrival sent later than this after its scheduled time was held up by the
    /// machine: the generator's timer has 1 ms resolution and wakes within 2 ms on an idle
    /// machine.
    pub const LATE_ARRIVAL: Duration = Duration::from_millis(50);
    /// A step is not measured when more than this share of its arrivals were late, or
    /// more than this share refused...
    pub const MAX_LATE_SHARE: f64 = 0.01;
    /// ...and at least this many were: a step of a few dozen arrivals is not thrown away
    /// for one timer that woke late.
    pub const MIN_LATE_COUNT: u64 = 5;
    /// At most this much may the runner's waits of a step overrun, in total.
    pub const MAX_OVERRUN: Duration = Duration::from_millis(250);

    /// Whether the machine kept up with the step, so that its measurement is the
    /// services' and can pass or fail.
    ///
    /// Refused arrivals count against it although slow services, not only a slow machine,
    /// fill `load.max_in_flight`: either way the refused requests never reached a
    /// service, so what the services would have answered is unknown, and a verdict that
    /// left them out would rest on the requests that happened to fit.
    pub fn kept_up(&self) -> bool {
        let too_many = |count: u64| {
            count >= Self::MIN_LATE_COUNT
                && self.arrivals > 0
                && count as f64 / self.arrivals as f64 > Self::MAX_LATE_SHARE
        };
        !too_many(self.late_arrivals)
            && !too_many(self.refused)
            && self.overrun <= Self::MAX_OVERRUN
    }
}

#[derive(Debug)]
struct Inner {
    steps: Vec<StepRecord>,
    part: Part,
    active: BTreeSet<usize>,
    /// Every request of the run, merged from each step as it is summarised.
    run_total: Tally,
    /// The run's entrypoints, and each one's index, when all-ok tallies are folded.
    entries: Vec<String>,
    entry_index: HashMap<String, usize>,
    /// Per entrypoint, its folded all-ok steps; empty when every tally is kept.
    folded: Vec<Folded>,
}

impl Inner {
    /// Summarises every finished step (not `current`, nothing in flight): its total is
    /// merged into the run's, and its histograms give way to their percentiles, so memory
    /// stays bounded per step however long the run.
    fn summarise_finished(&mut self, current: usize) {
        for index in 0..self.steps.len() {
            let record = &self.steps[index];
            if index != current && record.total.is_none() && record.in_flight == 0 {
                self.summarise(index);
            }
        }
    }

    fn summarise(&mut self, index: usize) {
        let record = &mut self.steps[index];
        let mut total = Tally::default();
        for tally in record.by_entry.values_mut() {
            total.merge(tally);
            tally.summarise();
        }
        self.run_total.merge(&total);
        total.summarise();
        record.total = Some(total);
        if !self.folded.is_empty() {
            Self::fold(record, &self.entry_index, &mut self.folded);
        }
    }

    /// Moves the step's all-ok tallies into the per-entrypoint totals, leaving a bit.
    fn fold(record: &mut StepRecord, index: &HashMap<String, usize>, folded: &mut [Folded]) {
        let all_ok: Vec<(String, usize)> = record
            .by_entry
            .iter()
            .filter(|(_, tally)| tally.failed == 0 && tally.degraded == 0 && tally.ok > 0)
            .filter_map(|(name, _)| Some((name.clone(), *index.get(name)?)))
            .collect();
        for (name, entry) in all_ok {
            let Some(tally) = record.by_entry.remove(&name) else {
                continue;
            };
            record.parts.remove(&name);
            let words = entry / 64 + 1;
            if record.all_ok.len() < words {
                record.all_ok.resize(words, 0);
            }
            record.all_ok[entry / 64] |= 1 << (entry % 64);
            let total = &mut folded[entry];
            total.ok += tally.ok;
            total.worst_p99 = total.worst_p99.max(tally.percentiles().p99);
        }
    }
}

/// The parts of `entry`, created on first use; looked up first, so that the hot path of
/// every request does not allocate the key.
fn parts_of<'a>(parts: &'a mut BTreeMap<String, Parts>, entry: &str) -> &'a mut Parts {
    if !parts.contains_key(entry) {
        parts.insert(entry.to_owned(), Parts::default());
    }
    parts
        .get_mut(entry)
        .expect("the entry was inserted just above")
}

/// Filled while the run goes on, by the load generator, the fault tasks and the runner.
#[derive(Debug)]
pub struct Recorder {
    /// The current step shifted left by one, with the part in the low bit, so that a
    /// request reads its step and part at once.
    current: AtomicUsize,
    inner: Mutex<Inner>,
    /// Calls per edge and requests per service, under their own lock.
    pub traffic: traffic::Traffic,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// The most steps a recorder made by [`Recorder::new`] counts traffic for: enough
    /// for the benches and tests that drive a cluster by hand.
    pub const DEFAULT_STEPS: usize = 64;

    /// A recorder for a run of at most [`Recorder::DEFAULT_STEPS`] steps.
    pub fn new() -> Recorder {
        Recorder::for_steps(Self::DEFAULT_STEPS)
    }

    /// A recorder for a run whose steps are numbered below `steps`: traffic naming
    /// another step is stray (see [`traffic::Traffic::stray`]).
    pub fn for_steps(steps: usize) -> Recorder {
        Recorder::for_run(steps, 0, Vec::new())
    }

    /// A recorder for a run of `steps` steps whose traffic has `counters` edges and
    /// services: each keeps its counts per step when that fits
    /// [`traffic::MAX_STEP_COUNTS`] (see [`traffic::Traffic::for_run`]); and whose
    /// `entries` keep a tally per step when that fits [`MAX_STEP_TALLIES`].
    pub fn for_run(steps: usize, counters: usize, entries: Vec<String>) -> Recorder {
        Recorder::with_limit(steps, counters, entries, MAX_STEP_TALLIES)
    }

    /// [`Recorder::for_run`] with another limit on the tallies kept per step.
    pub fn with_limit(
        steps: usize,
        counters: usize,
        entries: Vec<String>,
        max_step_tallies: usize,
    ) -> Recorder {
        let fold = entries.len().saturating_mul(steps) > max_step_tallies;
        let entry_index = if fold {
            entries
                .iter()
                .enumerate()
                .map(|(i, name)| (name.clone(), i))
                .collect()
        } else {
            HashMap::new()
        };
        Recorder {
            // Step 0 (the baseline), settled, as `inner.part` says.
            current: AtomicUsize::new(Part::Settled.index()),
            inner: Mutex::new(Inner {
                steps: vec![StepRecord::default()],
                part: Part::Settled,
                active: BTreeSet::new(),
                run_total: Tally::default(),
                folded: if fold {
                    vec![Folded::default(); entries.len()]
                } else {
                    Vec::new()
                },
                entries,
                entry_index,
            }),
            traffic: traffic::Traffic::for_run(steps, counters),
        }
    }

    /// Starts step `index` in `part`: requests sent from now on count for it.
    pub fn begin(&self, index: usize, part: Part) {
        let mut inner = self.lock();
        while inner.steps.len() <= index {
            inner.steps.push(StepRecord::default());
        }
        self.current
            .store(index << 1 | part.index(), Ordering::SeqCst);
        inner.part = part;
        Self::note_active(&mut inner, index);
        inner.summarise_finished(index);
    }

    /// The current step moves on to `part`.
    pub fn set_part(&self, part: Part) {
        let mut inner = self.lock();
        inner.part = part;
        let step = self.current();
        self.current
            .store(step << 1 | part.index(), Ordering::SeqCst);
        Self::note_active(&mut inner, step);
    }

    fn note_active(inner: &mut Inner, step: usize) {
        let active: Vec<usize> = inner.active.iter().copied().collect();
        let part = inner.part;
        if let Some(record) = inner.steps.get_mut(step) {
            let set = match part {
                Part::Transient => &mut record.faults_transient,
                Part::Settled => &mut record.faults_settled,
            };
            set.extend(active);
        }
    }

    pub fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst) >> 1
    }

    /// The current step and part, read at once.
    pub fn position(&self) -> Position {
        let value = self.current.load(Ordering::SeqCst);
        Position {
            step: value >> 1,
            part: if value & 1 == 0 {
                Part::Transient
            } else {
                Part::Settled
            },
        }
    }

    /// A request of `entry` is sent now, `late` after its scheduled time: dispatched to
    /// the service, or refused at once (`overload`).
    /// Returns the position it counts in, where it must be recorded once. The position
    /// is read under the lock that [`Recorder::begin`] takes, so a step is never
    /// summarised between reading its position and counting a request in it.
    pub fn sent(&self, entry: &str, sent: Sent, late: Duration) -> Position {
        let mut inner = self.lock();
        let at = self.position();
        if let Some(record) = inner.steps.get_mut(at.step) {
            parts_of(&mut record.parts, entry)[at.part.index()].sent += 1;
            // Counted in flight until `record`, refused ones too: a step is summarised
            // only when nothing of it is in flight, so a refusal recorded just after the
            // next step began still lands in its step's total.
            record.in_flight += 1;
            let lag = &mut record.lag;
            lag.arrivals += 1;
            if sent == Sent::Refused {
                lag.refused += 1;
            }
            if late > Lag::LATE_ARRIVAL {
                lag.late_arrivals += 1;
            }
            lag.max_arrival_late = lag.max_arrival_late.max(late);
        }
        at
    }

    /// Records one request sent at `at` (it leaves the in-flight count). `latency` is
    /// `Some` for a request that was dispatched and `None` for one never sent.
    pub fn record(
        &self,
        at: Position,
        entry: &str,
        outcome: Level,
        causes: &[CauseKey],
        latency: Option<Duration>,
    ) {
        let mut inner = self.lock();
        // A fleet large enough to fold its tallies also keeps coarser histograms.
        let coarse = !inner.folded.is_empty();
        if let Some(record) = inner.steps.get_mut(at.step) {
            record.in_flight = record.in_flight.saturating_sub(1);
            let counts = &mut parts_of(&mut record.parts, entry)[at.part.index()];
            match outcome {
                Level::Ok => counts.ok += 1,
                Level::Degraded => counts.degraded += 1,
                Level::Failed => counts.failed += 1,
            }
            record
                .by_entry
                .entry(entry.to_owned())
                .or_insert_with(|| {
                    if coarse {
                        Tally::coarse()
                    } else {
                        Tally::default()
                    }
                })
                .record(outcome, causes, latency);
        }
    }

    /// The faults (indices into the scenario's) in force at some time of step `index`'s
    /// transient part and of its settled part; final once a later step has begun.
    pub fn faults(&self, index: usize) -> (BTreeSet<usize>, BTreeSet<usize>) {
        self.lock()
            .steps
            .get(index)
            .map_or_else(Default::default, |record| {
                (
                    record.faults_transient.clone(),
                    record.faults_settled.clone(),
                )
            })
    }

    /// Requests of `step` still in flight.
    pub fn in_flight(&self, step: usize) -> u64 {
        self.lock()
            .steps
            .get(step)
            .map_or(0, |record| record.in_flight)
    }

    /// Fault `index` started.
    pub fn fault_started(&self, index: usize) {
        let mut inner = self.lock();
        inner.active.insert(index);
        let step = self.current();
        Self::note_active(&mut inner, step);
        Self::note(&mut inner, step, Event::FaultStarted(index));
    }

    /// A crash loop crashed one replica of `service` and started its replacement:
    /// counted in the current step's one `Crashed` event for the service.
    pub fn crashed(&self, service: &str) {
        let mut inner = self.lock();
        let step = self.current();
        let Some(record) = inner.steps.get_mut(step) else {
            return;
        };
        for event in &mut record.events {
            if let Event::Crashed { service: s, count } = event
                && s == service
            {
                *count += 1;
                return;
            }
        }
        record.events.push(Event::Crashed {
            service: service.to_owned(),
            count: 1,
        });
    }

    /// Fault `index` ended (`Ok`), or its service could not start again (`Err`).
    pub fn fault_ended(&self, index: usize, result: Result<(), String>) {
        let mut inner = self.lock();
        inner.active.remove(&index);
        let step = self.current();
        let event = match result {
            Ok(()) => Event::FaultEnded(index),
            Err(error) => Event::FaultNotEnded {
                fault: index,
                error,
            },
        };
        Self::note(&mut inner, step, event);
    }

    /// Something else happened to the cluster during the current step.
    pub fn event(&self, event: Event) {
        let mut inner = self.lock();
        let step = self.current();
        Self::note(&mut inner, step, event);
    }

    fn note(inner: &mut Inner, step: usize, event: Event) {
        if let Some(record) = inner.steps.get_mut(step) {
            record.events.push(event);
        }
    }

    /// How late the load generator has sent step `index`'s arrivals so far (the runner
    /// adds its own overrun).
    pub fn lag(&self, index: usize) -> Lag {
        self.lock()
            .steps
            .get(index)
            .map_or_else(Lag::default, |record| record.lag)
    }

    /// Requests of step `index` so far, all entrypoints merged.
    pub fn total(&self, index: usize) -> Tally {
        let inner = self.lock();
        let Some(record) = inner.steps.get(index) else {
            return Tally::default();
        };
        if let Some(total) = &record.total {
            return total.clone();
        }
        let mut total = Tally::default();
        for tally in record.by_entry.values() {
            total.merge(tally);
        }
        total
    }

    /// Every step's record, each summarised (with its `total` set), and every request of
    /// the run merged and summarised. Called once the load has finished.
    pub fn take(&self) -> Taken {
        let mut inner = self.lock();
        for index in 0..inner.steps.len() {
            if inner.steps[index].total.is_none() {
                inner.summarise(index);
            }
        }
        let mut total = std::mem::take(&mut inner.run_total);
        total.summarise();
        let folded = std::mem::take(&mut inner.folded);
        Taken {
            steps: std::mem::take(&mut inner.steps),
            total,
            folded: inner.entries.iter().cloned().zip(folded).collect(),
            entries: std::mem::take(&mut inner.entries),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::lock::lock(&self.inner)
    }
}

/// What a run recorded, taken once its load has finished.
#[derive(Debug)]
pub struct Taken {
    pub steps: Vec<StepRecord>,
    /// Every request of the run.
    pub total: Tally,
    /// The run's entrypoints, as [`StepRecord::all_ok`] numbers them.
    pub entries: Vec<String>,
    /// Per entrypoint, the steps whose requests were all ok, when they were folded
    /// (empty when every step kept every tally).
    pub folded: BTreeMap<String, Folded>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(arrivals: u64, late_arrivals: u64, refused: u64, overrun_ms: u64) -> Lag {
        Lag {
            arrivals,
            late_arrivals,
            refused,
            max_arrival_late: Duration::ZERO,
            overrun: Duration::from_millis(overrun_ms),
        }
    }

    #[test]
    fn a_step_is_not_measured_past_one_percent_late_or_refused_and_five_arrivals() {
        assert!(lag(1000, 10, 10, 250).kept_up(), "1% each, at the bounds");
        assert!(!lag(1000, 11, 0, 0).kept_up(), "over 1% late");
        assert!(!lag(1000, 0, 11, 0).kept_up(), "over 1% refused");
        assert!(!lag(1000, 0, 0, 251).kept_up(), "overran");
        assert!(
            lag(40, 4, 4, 0).kept_up(),
            "10% of a short step, but fewer than 5: one slow timer"
        );
        assert!(!lag(40, 5, 0, 0).kept_up(), "5 of 40 is past the floor");
        assert!(lag(0, 0, 0, 0).kept_up(), "no load, nothing late");
    }

    #[test]
    fn a_request_counted_in_a_step_is_summarised_with_it() {
        // The position is read under the lock that `begin` takes, so a request is either
        // counted in the step before the next begins (and summarised with it) or in the
        // next one: never in a step already summarised.
        let recorder = std::sync::Arc::new(Recorder::new());
        let sender = {
            let recorder = std::sync::Arc::clone(&recorder);
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    let at = recorder.sent("web", Sent::Refused, Duration::ZERO);
                    recorder.record(at, "web", Level::Failed, &[], None);
                }
            })
        };
        for step in 1..200 {
            recorder.begin(step, Part::Transient);
        }
        sender.join().expect("the sender does not panic");
        let taken = recorder.take();
        let (steps, total) = (taken.steps, taken.total);
        let counted: u64 = steps
            .iter()
            .map(|step| step.total.as_ref().map_or(0, Tally::requests))
            .sum();
        assert_eq!(counted, 20_000);
        assert_eq!(total.requests(), 20_000);
    }

    #[test]
    fn faults_are_noted_in_the_part_of_the_step_they_touch() {
        let recorder = Recorder::new();
        recorder.begin(1, Part::Transient);
        recorder.fault_started(0);
        recorder.set_part(Part::Settled);
        recorder.fault_ended(0, Ok(()));
        recorder.fault_started(1);
        recorder.begin(2, Part::Transient);
        let steps = recorder.take().steps;
        assert_eq!(steps[1].faults_transient, BTreeSet::from([0]));
        assert_eq!(steps[1].faults_settled, BTreeSet::from([0, 1]));
        assert_eq!(
            steps[2].faults_transient,
            BTreeSet::from([1]),
            "still in force"
        );
        assert_eq!(
            steps[1].events,
            vec![
                Event::FaultStarted(0),
                Event::FaultEnded(0),
                Event::FaultStarted(1)
            ]
        );
    }

    #[test]
    fn in_flight_counts_every_request_until_recorded() {
        let recorder = Recorder::new();
        let at = recorder.sent("web", Sent::Dispatched, Duration::ZERO);
        recorder.sent("web", Sent::Dispatched, Duration::ZERO);
        recorder.sent("web", Sent::Refused, Duration::ZERO);
        recorder.record(at, "web", Level::Ok, &[], Some(Duration::from_millis(1)));
        assert_eq!(recorder.in_flight(0), 2);
        // A refused request counts until it is recorded (just after it was refused), so
        // its step is not summarised without it.
        recorder.record(at, "web", Level::Failed, &[], None);
        assert_eq!(recorder.in_flight(0), 1);
        recorder.record(at, "web", Level::Ok, &[], Some(Duration::from_millis(1)));
        assert_eq!(recorder.in_flight(0), 0);
        assert_eq!(recorder.total(0).requests(), 3);
    }

    #[test]
    fn each_request_counts_in_the_part_of_the_step_it_was_sent_in() {
        let recorder = Recorder::new();
        recorder.begin(1, Part::Transient);
        let early = recorder.sent("web", Sent::Dispatched, Duration::ZERO);
        recorder.set_part(Part::Settled);
        let late = recorder.sent("web", Sent::Dispatched, Duration::ZERO);
        assert_eq!(
            late,
            Position {
                step: 1,
                part: Part::Settled
            }
        );
        // The early request answers after the part changed: it still counts where it
        // was sent.
        recorder.record(
            early,
            "web",
            Level::Failed,
            &[],
            Some(Duration::from_millis(1)),
        );
        recorder.record(late, "web", Level::Ok, &[], Some(Duration::from_millis(1)));
        let steps = recorder.take().steps;
        let parts = steps[1].parts["web"];
        assert_eq!(
            parts[0],
            Counts {
                sent: 1,
                ok: 0,
                degraded: 0,
                failed: 1
            }
        );
        assert_eq!(
            parts[1],
            Counts {
                sent: 1,
                ok: 1,
                degraded: 0,
                failed: 0
            }
        );
    }

    #[test]
    fn a_large_fleet_folds_all_ok_tallies_and_keeps_the_ones_that_suffered() {
        let entries = vec!["api".to_owned(), "web".to_owned()];
        // Two entrypoints x three steps is over a limit of 5: tallies fold.
        let recorder = Recorder::with_limit(3, 0, entries, 5);
        let request = |entry: &str, level: Level, ms: u64| {
            let at = recorder.sent(entry, Sent::Dispatched, Duration::ZERO);
            recorder.record(at, entry, level, &[], Some(Duration::from_millis(ms)));
        };
        request("web", Level::Ok, 10);
        request("api", Level::Ok, 1);
        recorder.begin(1, Part::Settled);
        request("web", Level::Ok, 30);
        request("api", Level::Failed, 1);
        let taken = recorder.take();
        let (baseline, step) = (&taken.steps[0], &taken.steps[1]);
        assert!(baseline.all_ok(0) && baseline.all_ok(1));
        assert!(baseline.by_entry.is_empty() && baseline.parts.is_empty());
        assert!(step.all_ok(1) && !step.all_ok(0));
        assert_eq!(step.by_entry["api"].failed, 1);
        assert_eq!(step.parts["api"][1].failed, 1);
        assert_eq!(taken.folded["web"].ok, 2);
        assert!((taken.folded["web"].worst_p99 - 30.0).abs() < 0.5);
        assert_eq!(taken.folded["api"].ok, 1);
        // The step totals and the run's still count every request.
        assert_eq!(step.total.as_ref().map(Tally::requests), Some(2));
        assert_eq!(taken.total.requests(), 4);
    }

    #[test]
    fn a_fleet_under_the_limit_keeps_every_tally() {
        let recorder = Recorder::with_limit(3, 0, vec!["web".to_owned()], 5);
        let at = recorder.sent("web", Sent::Dispatched, Duration::ZERO);
        recorder.record(at, "web", Level::Ok, &[], Some(Duration::from_millis(1)));
        let taken = recorder.take();
        assert_eq!(taken.steps[0].by_entry["web"].ok, 1);
        assert!(!taken.steps[0].all_ok(0) && taken.folded.is_empty());
    }
}
