//! Demand against capacity in one settled state, by Little's law: how many requests a
//! second reach each service, how long each holds a worker, how many workers that wants
//! against how many a version has, and so the share of each entrypoint's requests served.
//!
//! The model, in the order it is computed (`docs/check.md`, "Load"):
//! - A request's *hold* at a service is its own latency (and a `latency` fault's), plus
//!   what each call keeps it waiting: a callee that answers, its own hold; one that is
//!   gone, refuses or is partitioned, nothing (it fails fast); one that is hung or
//!   answers after the per-try timeout, the per-try timeout; times the call's attempts
//!   (retries on the codes it retries, cut by the deadline and the budget), plus the
//!   backoffs. An open breaker (a callee failing at least its threshold) fails fast but
//!   for its half-open probes (`probe_leak`).
//! - A service's *demand* is the entry rates times each method's share of the mix times
//!   the attempts made along every path, spread evenly over its replicas (picks are
//!   random, so live replicas are loaded unevenly around that mean).
//! - *Workers wanted* per replica = demand x hold (the offered load, in Erlangs). The
//!   share refused (RESOURCE_EXHAUSTED) is the blocking probability of a queue with that
//!   many servers and places ([`blocked`]: past the workers, close to 1 - workers /
//!   wanted); refusals fail fast upstream, which shortens the callers' holds and changes their demand, so the
//!   two are iterated to a fixed point (damped; at most [`MAX_ITERATIONS`]).
//! - A service whose workers wanted are within [0.8, 1.25] of its workers is
//!   *undecided*: queueing and chance decide it, not this arithmetic.
//!
//! Outcomes are probabilities here, not the outcome sets of `graph`: overload fails a
//! share of requests. Pure: no clock, no IO.

use std::collections::BTreeMap;

use super::graph::MAX_SPLIT_FLAGS;
use crate::model::{Action, Call, Deployment, FailCode, FaultKind, Flags, Scenario, flag_on};

/// The most rounds of the fixed point; a state that has not settled by then is said so.
pub const MAX_ITERATIONS: usize = 200;

/// The band of workers wanted, as a share of the workers, inside which a service is
/// undecided.
pub const UNDECIDED: (f64, f64) = (0.8, 1.25);

/// How far past its threshold a callee's failure share must be for its breaker to be
/// taken as open; below the threshold (but above 0) it is undecided.
const BREAKER_MARGIN: f64 = 0.1;

/// The time an attempt spends on the network, there and back: the simulated network's
/// 1 ms per message (loopback is faster, so live holds are a little shorter than this
/// predicts).
const ROUND_TRIP_MS: f64 = 2.0;

/// The users over which a flag's share is counted.
const FLAG_SAMPLE: u64 = 1000;

/// The deadline of an entry request (the load generator's), in milliseconds.
const ENTRY_DEADLINE_MS: f64 = 10_000.0;

/// The codes in [`FailCode::ALL`] order, as indices of a failure distribution.
const CODES: usize = FailCode::ALL.len();

/// A failure share per code.
type Fails = [f64; CODES];

/// What one settled state asks of each service, and what that leaves the entrypoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    /// Per service that receives requests.
    pub services: BTreeMap<String, ServiceLoad>,
    /// Per entrypoint: the predicted share of its requests answered (ok or degraded).
    pub served: BTreeMap<String, f64>,
    /// Services whose workers wanted are within the [`UNDECIDED`] band of their workers.
    pub undecided: Vec<String>,
    /// Whether the fixed point settled within [`MAX_ITERATIONS`].
    pub converged: bool,
    /// The longest hold (ms) at a service with workers: how long the queues take to
    /// forget the state before.
    pub settle_ms: f64,
    /// The longest time (ms) a breaker taken as open needs to open from closed: until
    /// the failures of its first attempts come back, every call passes it.
    pub trip_ms: f64,
    /// A fault starts or ends within the part (set by the caller, who knows the
    /// timeline): no one state holds it, so the prediction is undecided.
    pub partial: bool,
}

/// A settled part shorter than this many times [`Demand::settle_ms`] is undecided: the
/// requests and queue the part before left behind take about one hold to drain, and a
/// share measured over less than five holds is theirs as much as the state's.
pub const SETTLE_HOLDS: f64 = 5.0;

/// A settled part shorter than this many times [`Demand::trip_ms`] is undecided. A queue
/// drains gradually, but a breaker flips: until it opens, every call passes it, so the
/// part served differs from the state's by up to the share of the part it takes, and 20
/// trip times keep that under the run's bound of 0.05. (A breaker that opened in the
/// step's transient part is open already; the rule is kept for every part alike.)
pub const TRIP_PARTS: f64 = 20.0;

impl Demand {
    /// Whether the prediction stands: it settled, no service is in the band, and no
    /// fault starts or ends within the part.
    pub fn decided(&self) -> bool {
        self.converged && self.undecided.is_empty() && !self.partial
    }

    /// Whether the prediction stands for a settled part lasting `part`: decided, long
    /// enough for the queues to forget the part before ([`SETTLE_HOLDS`]), and long
    /// enough that a breaker still closed at its start costs no more than the bound
    /// ([`TRIP_PARTS`]).
    pub fn decided_over(&self, part: std::time::Duration) -> bool {
        let part = part.as_secs_f64() * 1000.0;
        self.decided() && part >= SETTLE_HOLDS * self.settle_ms && part >= TRIP_PARTS * self.trip_ms
    }

    /// The services that refuse requests, most refused first.
    pub fn refusing(&self) -> Vec<(&String, &ServiceLoad)> {
        let mut refusing: Vec<(&String, &ServiceLoad)> = self
            .services
            .iter()
            .filter(|(_, load)| load.refused > 0.0005)
            .collect();
        refusing.sort_by(|a, b| b.1.refused.total_cmp(&a.1.refused).then(a.0.cmp(b.0)));
        refusing
    }
}

/// One service's load in a state.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLoad {
    pub version: String,
    /// Requests a second reaching the service (every attempt), over all its replicas.
    pub rate: f64,
    pub replicas: u32,
    /// Milliseconds a served request holds a worker, on average.
    pub hold_ms: f64,
    /// The version's workers per replica; `None`: no `capacity`.
    pub workers: Option<u32>,
    /// Workers wanted per replica if every request were served (rate per replica x hold).
    pub wanted: f64,
    /// The share of requests refused with RESOURCE_EXHAUSTED.
    pub refused: f64,
    /// The call that keeps a request waiting longest, and how long (ms), when one does.
    pub longest_wait: Option<(String, f64)>,
}

/// The demand in the settled state `deployment` with `flags`, `faults` in force.
///
/// The fixed point is solved twice: with random arrivals at each replica ([`blocked`],
/// what random replica picks and mixed callers give) and with regular ones (the fluid
/// limit, what one replica fed at a fixed rate sees). The prediction is the first; where
/// an entrypoint's share served differs between the two by more than [`ARRIVALS_SPREAD`],
/// how random the arrivals are decides it, and the state is undecided.
pub fn predict(
    scenario: &Scenario,
    deployment: &Deployment,
    flags: &Flags,
    faults: &[&FaultKind],
) -> Demand {
    let model = Model::new(scenario, deployment, flags, faults);
    let regular = model.solve(fluid);
    let mut demand = model.solve(blocked);
    for (entry, served) in &demand.served {
        let other = regular.served.get(entry).copied().unwrap_or(*served);
        if (served - other).abs() > ARRIVALS_SPREAD {
            demand.undecided.push(format!(
                "{entry}: {:.0}% served with random arrivals, {:.0}% with regular ones",
                served * 100.0,
                other * 100.0
            ));
        }
    }
    demand
}

/// How far apart an entrypoint's share served with random and with regular arrivals may
/// be for the prediction to stand: the run in virtual time sees something in between, and
/// the prediction (random arrivals) must hold within the run's bound
/// ([`crate::record::result::LOAD_BOUND_SIM`]) of it with room left for
/// the transient a part starts with.
pub const ARRIVALS_SPREAD: f64 = 0.03;

impl Model<'_> {
    /// The damped fixed point of refusals and demand, with `blocking` as the share a
    /// replica (or bulkhead) refuses.
    fn solve(&self, blocking: fn(f64, u32, u32) -> f64) -> Demand {
        let mut refused: BTreeMap<String, f64> = BTreeMap::new();
        let mut bulkhead: BTreeMap<Site, f64> = BTreeMap::new();
        let mut converged = false;
        let mut round = Round::default();
        self.site_rates.borrow_mut().clear();
        for _ in 0..MAX_ITERATIONS {
            round = self.round(&refused, &bulkhead);
            let mut change: f64 = 0.0;
            // An open breaker's leak follows its site's rate, which the round found:
            // the next round uses it, and the fixed point waits for it to settle too
            // (only where a breaker was taken as open, so that other states need no
            // extra round).
            {
                let mut rates = self.site_rates.borrow_mut();
                for site in self.leaking.borrow().iter() {
                    let rate = round.site_rates.get(site).copied().unwrap_or(0.0);
                    let old = rates.get(site).copied().unwrap_or(0.0);
                    change = change.max((rate - old).abs() / rate.max(old).max(1.0));
                }
                *rates = std::mem::take(&mut round.site_rates);
            }
            for (service, load) in &round.loads {
                let Some(workers) = load.workers else {
                    continue;
                };
                let target = blocking(load.wanted, workers, self.queue(service));
                let old = refused.get(service).copied().unwrap_or(0.0);
                let new = 0.5 * old + 0.5 * target;
                change = change.max((new - old).abs());
                refused.insert(service.clone(), new);
            }
            for (site, (_, concurrency, slots)) in &round.concurrency {
                let target = blocking(*concurrency, *slots as u32, 0);
                let old = bulkhead.get(site).copied().unwrap_or(0.0);
                let new = 0.5 * old + 0.5 * target;
                change = change.max((new - old).abs());
                bulkhead.insert(*site, new);
            }
            if change < 1e-5 {
                converged = true;
                break;
            }
        }
        let mut services = BTreeMap::new();
        let mut undecided: Vec<String> = self.near.borrow().iter().cloned().collect();
        for (edge, concurrency, slots) in round.concurrency.values() {
            if (UNDECIDED.0..=UNDECIDED.1).contains(&(concurrency / slots)) {
                undecided.push(format!("the bulkhead of {edge}"));
            }
        }
        let mut settle_ms: f64 = 0.0;
        for (service, mut load) in round.loads {
            if load.workers.is_some() && load.rate > 0.0 {
                settle_ms = settle_ms.max(load.hold_ms);
            }
            load.refused = refused.get(&service).copied().unwrap_or(0.0);
            if let Some(workers) = load.workers
                && (UNDECIDED.0..=UNDECIDED.1).contains(&(load.wanted / f64::from(workers)))
            {
                undecided.push(service.clone());
            }
            services.insert(service, load);
        }
        Demand {
            services,
            served: round.served,
            undecided,
            converged,
            settle_ms,
            trip_ms: self.trip.get(),
            partial: false,
        }
    }
}

/// The share of requests a replica with `workers` workers and `queue` places refuses
/// when `offered` workers' worth of requests arrive (arrival rate x hold): the blocking
/// probability of an M/M/c/K queue (Erlang's loss formula, extended by the queue),
/// B x rho^q / (1 + B x (rho + ... + rho^q)) with B Erlang's B for c servers and rho =
/// offered / c. Random replica picks make the arrivals at a replica close to Poisson.
/// With thousands of workers it is within a hair of the fluid limit 1 - c / offered,
/// which is used there instead.
pub fn blocked(offered: f64, workers: u32, queue: u32) -> f64 {
    if offered <= 0.0 {
        return 0.0;
    }
    let c = f64::from(workers);
    if workers > 2_000 {
        return (1.0 - c / offered).max(0.0);
    }
    // Erlang B by its stable recursion: B(n) = a B(n-1) / (n + a B(n-1)).
    let mut erlang = 1.0;
    for n in 1..=workers {
        erlang = offered * erlang / (f64::from(n) + offered * erlang);
    }
    let rho = offered / c;
    let (mut power, mut sum) = (1.0, 0.0);
    for _ in 0..queue.min(2_000) {
        power *= rho;
        sum += power;
        if !power.is_finite() {
            return (1.0 - c / offered).max(0.0);
        }
    }
    (erlang * power / (1.0 + erlang * sum)).clamp(0.0, 1.0)
}

/// The share refused when the arrivals are regular: the fluid limit 1 - workers /
/// offered (nothing refused below the workers; the queue absorbs no lasting excess).
pub fn fluid(offered: f64, workers: u32, _queue: u32) -> f64 {
    (1.0 - f64::from(workers) / offered.max(f64::MIN_POSITIVE)).max(0.0)
}

/// The chance that one window of `window` attempts, each failing with `failing`, holds
/// `percent` % failures or more: the binomial tail.
fn trips(failing: f64, window: u32, percent: u32) -> f64 {
    let needed = (u64::from(window) * u64::from(percent)).div_ceil(100) as u32;
    let n = window;
    let mut tail = 0.0;
    // C(n, k) p^k (1-p)^(n-k), summed from `needed` to n, in logs for large windows.
    let ln = |x: f64| x.max(f64::MIN_POSITIVE).ln();
    let mut ln_choose = 0.0;
    for k in 0..=n {
        if k > 0 {
            ln_choose += ln(f64::from(n - k + 1)) - ln(f64::from(k));
        }
        if k >= needed {
            tail += (ln_choose + f64::from(k) * ln(failing) + f64::from(n - k) * ln(1.0 - failing))
                .exp();
        }
    }
    if failing <= 0.0 { 0.0 } else { tail.min(1.0) }
}

/// A breaker whose windows trip with a chance above this (about one trip in a thousand
/// windows, say a part's worth of them) may open during a part: undecided.
const TRIP_CHANCE: f64 = 1e-5;

/// The state, read once.
struct Model<'a> {
    scenario: &'a Scenario,
    deployment: &'a Deployment,
    /// Per flag, the share of users it is on for (the runtime's hash over a fixed
    /// sample of users, computed once).
    flags: BTreeMap<String, f64>,
    /// A user sees a flag the same at every call of a request: per on/off assignment of
    /// the flags some users have and others lack (each such flag's share 0 or 1), the
    /// share of the sample's users who see it. One entry, the shares themselves, when no
    /// flag is split or more than [`MAX_SPLIT_FLAGS`] are (each call then takes its flag
    /// apart from the others).
    assignments: Vec<(BTreeMap<String, f64>, f64)>,
    /// The flag shares of the assignment a round is computing.
    current: std::cell::RefCell<BTreeMap<String, f64>>,
    /// Services a kill or missing window takes away.
    down: Vec<&'a str>,
    hung: Vec<&'a str>,
    /// (from, to) partitions.
    cut: Vec<(&'a str, &'a str)>,
    /// Per service, added latency (ms, jitter at its mean) and error shares by code.
    slow: BTreeMap<&'a str, f64>,
    errors: BTreeMap<&'a str, Fails>,
    /// Breakers whose callee fails too near their threshold for the arithmetic to say
    /// whether they open (chance decides), found during a round.
    near: std::cell::RefCell<std::collections::BTreeSet<String>>,
    /// The longest wait of a failing attempt behind a breaker taken as open, in a round.
    trip: std::cell::Cell<f64>,
    /// Per call site, the calls per second one caller replica makes there, as the round
    /// before found them: how many attempts an open breaker's half-open probes are out of.
    site_rates: std::cell::RefCell<BTreeMap<Site, f64>>,
    /// The call sites whose breaker a round took as open (their leak reads `site_rates`).
    leaking: std::cell::RefCell<std::collections::BTreeSet<Site>>,
}

/// Per on/off assignment of the flags that `shares` splits (on for some users, off for
/// others) and some call of `scenario` is behind, the share of the runtime's sample of users
/// who see it, with the split flags' shares set to 0 or 1. The shares alone when none is split, or more than
/// [`MAX_SPLIT_FLAGS`] are.
fn assignments(
    scenario: &Scenario,
    flags: &Flags,
    shares: &BTreeMap<String, f64>,
) -> Vec<(BTreeMap<String, f64>, f64)> {
    let whole = || vec![(shares.clone(), 1.0)];
    if !shares.values().any(|share| *share > 0.0 && *share < 1.0) {
        return whole();
    }
    // Only the flags some call is behind split a round: the others change nothing. Read
    // only where some flag is split, so that a state without one pays nothing for it.
    let used: std::collections::BTreeSet<&str> = scenario
        .every_call()
        .filter_map(|(_, call)| call.flag.as_deref())
        .collect();
    let split: Vec<(&String, u32)> = shares
        .iter()
        .filter(|(flag, share)| **share > 0.0 && **share < 1.0 && used.contains(flag.as_str()))
        .map(|(flag, _)| (flag, u32::from(flags.share(flag))))
        .collect();
    if split.is_empty() || split.len() > MAX_SPLIT_FLAGS {
        return whole();
    }
    let mut users: BTreeMap<Vec<bool>, u64> = BTreeMap::new();
    for user in 0..FLAG_SAMPLE {
        let seen: Vec<bool> = split
            .iter()
            .map(|(flag, percent)| flag_on(flag, user, *percent))
            .collect();
        *users.entry(seen).or_default() += 1;
    }
    users
        .into_iter()
        .map(|(seen, count)| {
            let mut assigned = shares.clone();
            for ((flag, _), on) in split.iter().zip(seen) {
                assigned.insert((*flag).clone(), if on { 1.0 } else { 0.0 });
            }
            (assigned, count as f64 / FLAG_SAMPLE as f64)
        })
        .collect()
}

/// One round of the fixed point: every service's load and every entrypoint's share,
/// given the refusals of the round before.
#[derive(Debug, Default)]
struct Round {
    loads: BTreeMap<String, ServiceLoad>,
    served: BTreeMap<String, f64>,
    /// Per bulkhead (a call site; each has its own, as in the runtime): its name
    /// (caller -> callee), calls offered to it per caller replica, and its slots.
    concurrency: BTreeMap<Site, (String, f64, f64)>,
    /// Per call site, calls per second per caller replica.
    site_rates: BTreeMap<Site, f64>,
}

impl Round {
    /// Adds `one`, a round of the users who share one flag assignment, weighted by their
    /// `share`: rates and shares add up, holds are weighted by rate ([`Round::finish`]
    /// divides them).
    fn add(&mut self, share: f64, one: Round) {
        for (entry, served) in one.served {
            *self.served.entry(entry).or_default() += share * served;
        }
        for (service, load) in one.loads {
            let total = self.loads.entry(service).or_insert_with(|| ServiceLoad {
                rate: 0.0,
                hold_ms: 0.0,
                longest_wait: None,
                ..load.clone()
            });
            total.rate += share * load.rate;
            total.hold_ms += share * load.rate * load.hold_ms;
            if total.longest_wait.is_none() {
                total.longest_wait = load.longest_wait;
            }
        }
        for (site, (name, offered, slots)) in one.concurrency {
            let total = self.concurrency.entry(site).or_insert((name, 0.0, slots));
            total.1 += share * offered;
        }
        for (site, rate) in one.site_rates {
            *self.site_rates.entry(site).or_default() += share * rate;
        }
    }

    /// The holds as means again, and the workers wanted from them.
    fn finish(&mut self) {
        for load in self.loads.values_mut() {
            load.hold_ms = if load.rate > 0.0 {
                load.hold_ms / load.rate
            } else {
                0.0
            };
            load.wanted = load.rate / f64::from(load.replicas.max(1)) * load.hold_ms / 1000.0;
        }
    }
}

/// What a request at one method does, once served.
#[derive(Debug, Clone, Default)]
struct Handling {
    fails: Fails,
    hold: f64,
    /// (callee, method, attempts sent to it per request served here).
    calls: Vec<(String, Option<String>, f64)>,
    /// (call site, share of the requests served here that make the call).
    sites: Vec<(Site, f64)>,
    longest_wait: Option<(String, f64)>,
}

/// One call as its caller sees it.
#[derive(Debug, Clone, Default)]
struct View {
    fails: Fails,
    /// Milliseconds the caller waits, attempts and backoffs included.
    wait: f64,
    /// Attempts that reach the callee, per call.
    attempts: f64,
}

impl<'a> Model<'a> {
    fn new(
        scenario: &'a Scenario,
        deployment: &'a Deployment,
        flags: &Flags,
        faults: &[&'a FaultKind],
    ) -> Model<'a> {
        let mut model = Model {
            scenario,
            deployment,
            flags: flags
                .shares()
                .into_iter()
                .map(|(flag, percent)| {
                    let on = (0..FLAG_SAMPLE)
                        .filter(|user| flag_on(&flag, *user, u32::from(percent)))
                        .count();
                    (flag, on as f64 / FLAG_SAMPLE as f64)
                })
                .collect(),
            assignments: Vec::new(),
            current: std::cell::RefCell::new(BTreeMap::new()),
            down: Vec::new(),
            hung: Vec::new(),
            cut: Vec::new(),
            slow: BTreeMap::new(),
            errors: BTreeMap::new(),
            near: std::cell::RefCell::new(std::collections::BTreeSet::new()),
            trip: std::cell::Cell::new(0.0),
            site_rates: std::cell::RefCell::new(BTreeMap::new()),
            leaking: std::cell::RefCell::new(std::collections::BTreeSet::new()),
        };
        for fault in faults {
            match *fault {
                FaultKind::Kill(service) | FaultKind::Missing(service) => {
                    model.down.push(service);
                }
                FaultKind::Partition { from, to } => model.cut.push((from, to)),
                FaultKind::Hang(service) => model.hung.push(service),
                FaultKind::Latency {
                    service,
                    add,
                    jitter,
                } => {
                    *model.slow.entry(service).or_default() +=
                        add.as_secs_f64() * 1000.0 + jitter.as_secs_f64() * 500.0;
                }
                FaultKind::Errors {
                    service,
                    per_million,
                    code,
                } => {
                    let fails = model.errors.entry(service).or_insert([0.0; CODES]);
                    fails[*code as usize] += f64::from(*per_million) / 1e6;
                }
                // A crash loop's cost is a share of calls cut in flight: left to the run.
                FaultKind::Crash { .. } => {}
            }
        }
        model.assignments = assignments(scenario, flags, &model.flags);
        model
    }

    /// One round: per flag assignment, weighted by its users' share.
    fn round(&self, refused: &BTreeMap<String, f64>, bulkhead: &BTreeMap<Site, f64>) -> Round {
        self.near.borrow_mut().clear();
        self.leaking.borrow_mut().clear();
        self.trip.set(0.0);
        let mut total = Round::default();
        for (flags, share) in &self.assignments {
            self.current.borrow_mut().clone_from(flags);
            let one = self.round_with(refused, bulkhead);
            if self.assignments.len() == 1 {
                return one;
            }
            total.add(*share, one);
        }
        total.finish();
        total
    }

    /// One round with the flag shares of [`Model::current`].
    fn round_with(&self, refused: &BTreeMap<String, f64>, bulkhead: &BTreeMap<Site, f64>) -> Round {
        let mut memo: BTreeMap<(String, Option<String>), Handling> = BTreeMap::new();
        let mut round = Round::default();
        let mut arrivals: BTreeMap<(String, Option<String>), f64> = BTreeMap::new();
        let entries: Vec<&str> = self
            .scenario
            .entrypoints()
            .map(|service| service.name.as_str())
            .collect();
        for entry in &entries {
            let rate = f64::from(self.scenario.load.rps_of(entry));
            let mix = self.scenario.load.mix_of(entry);
            let total: f64 = mix.iter().map(|(_, weight)| f64::from(*weight)).sum();
            let mut served = 0.0;
            // The load calls one API version; a build without it answers UNIMPLEMENTED
            // from its routing, before any handler or worker.
            let api = self.scenario.entry_api(entry);
            let routed = self.deployed(entry).is_none_or(|v| v.provides(&api));
            if !routed {
                round.served.insert((*entry).to_owned(), 0.0);
                continue;
            }
            for (method, weight) in &mix {
                let share = f64::from(*weight) / total.max(1.0);
                let view = self.attempt(
                    entry,
                    method.as_deref(),
                    ENTRY_DEADLINE_MS,
                    refused,
                    bulkhead,
                    &mut memo,
                );
                served += share * (1.0 - view.fails.iter().sum::<f64>()).max(0.0);
                *arrivals
                    .entry(((*entry).to_owned(), method.clone()))
                    .or_default() += rate * share * view.attempts;
            }
            round.served.insert((*entry).to_owned(), served);
        }
        // Arrivals flow from callers to callees: a method's calls are known once its
        // handling is, and the call graph of a state has no loop, so one pass in
        // callers-first order adds every arrival before its method passes them on.
        let mut order: Vec<(String, Option<String>)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for key in arrivals.keys() {
            post_order(key, &memo, &mut order, &mut seen);
        }
        order.reverse();
        for key in &order {
            let arriving = arrivals.get(key).copied().unwrap_or(0.0);
            let service = &key.0;
            let served = arriving * (1.0 - refused.get(service).copied().unwrap_or(0.0));
            let Some(handling) = memo.get(key) else {
                continue;
            };
            for (callee, method, attempts) in &handling.calls {
                *arrivals
                    .entry((callee.clone(), method.clone()))
                    .or_default() += served * attempts;
            }
            let version = self
                .deployment
                .version(service)
                .unwrap_or_default()
                .to_owned();
            let spec = &self.scenario.services[service];
            let load = round
                .loads
                .entry(service.clone())
                .or_insert_with(|| ServiceLoad {
                    version,
                    rate: 0.0,
                    replicas: spec.replicas,
                    hold_ms: 0.0,
                    workers: self
                        .deployed(service)
                        .and_then(|v| v.capacity)
                        .map(|c| c.workers),
                    wanted: 0.0,
                    refused: 0.0,
                    longest_wait: None,
                });
            // The hold is the arrivals' weighted mean over the service's methods.
            let before = load.rate;
            load.rate += arriving;
            if load.rate > 0.0 {
                load.hold_ms = (load.hold_ms * before + handling.hold * arriving) / load.rate;
            }
            if load.longest_wait.is_none() {
                load.longest_wait = handling.longest_wait.clone();
            }
        }
        for load in round.loads.values_mut() {
            load.wanted = load.rate / f64::from(load.replicas.max(1)) * load.hold_ms / 1000.0;
        }
        // A request that calls one refusing service twice (two calls, a call and its
        // fallback, a synchronous and an asynchronous one) meets its busy workers twice
        // within a few milliseconds: the second attempt's chance depends on the first's,
        // which this arithmetic takes as independent.
        for ((service, _), handling) in &memo {
            let mut visits: BTreeMap<&str, usize> = BTreeMap::new();
            for (callee, _, attempts) in &handling.calls {
                if *attempts > 0.0 && refused.get(callee).copied().unwrap_or(0.0) > 0.01 {
                    *visits.entry(callee.as_str()).or_default() += 1;
                }
            }
            for (callee, _) in visits.into_iter().filter(|(_, n)| *n > 1) {
                self.near.borrow_mut().insert(format!(
                    "{service}'s calls to {callee}: more than one per request into its refusals"
                ));
            }
        }
        // Calls per second per caller replica at every call site.
        for (key, handling) in &memo {
            let arriving = arrivals.get(key).copied().unwrap_or(0.0)
                * (1.0 - refused.get(&key.0).copied().unwrap_or(0.0));
            let replicas = f64::from(self.scenario.services[&key.0].replicas.max(1));
            for (site, made) in &handling.sites {
                *round.site_rates.entry(*site).or_default() += arriving * made / replicas;
            }
        }
        // Bulkheads: calls in flight per caller replica on each protected call site, its
        // rate (just found) times the calls' wait.
        let mut guarded: BTreeMap<Site, (String, &Call)> = BTreeMap::new();
        for (service, method) in memo.keys() {
            let Some(method) = self
                .deployed(service)
                .and_then(|v| v.method(method.as_deref()))
            else {
                continue;
            };
            for call in method.calls {
                let mut next = Some(call);
                while let Some(call) = next {
                    if call.protect.bulkhead.is_some() {
                        guarded.insert(site(call), (service.clone(), call));
                    }
                    next = call.fallback.as_deref();
                }
            }
        }
        for (site, (service, call)) in guarded {
            let slots = call.protect.bulkhead.unwrap_or(1);
            let rate = round.site_rates.get(&site).copied().unwrap_or(0.0);
            // The offered load: the calls' wait as if the bulkhead refused none
            // (Erlang's formula takes what is offered, not what is carried).
            let view = self.view(&service, call, refused, bulkhead, 0.0, &mut memo);
            round.concurrency.insert(
                site,
                (
                    format!("{service} -> {}", call.service),
                    rate * view.wait / 1000.0,
                    f64::from(slots),
                ),
            );
        }
        round
    }

    /// The queue places per replica of `service`'s version in this state.
    fn queue(&self, service: &str) -> u32 {
        self.deployed(service)
            .and_then(|v| v.capacity)
            .map_or(0, |c| c.queue)
    }

    /// The share of requests for which `call`'s flag is on (1 without a flag).
    fn flag_share(&self, call: &Call) -> f64 {
        call.flag.as_ref().map_or(1.0, |flag| {
            self.current.borrow().get(flag).copied().unwrap_or(0.0)
        })
    }

    /// The version of `service` this state runs, if it runs one.
    fn deployed(&self, service: &str) -> Option<&'a crate::model::Version> {
        let version = self.deployment.version(service)?;
        self.scenario.version(service, version)
    }

    /// One attempt at `method` of `service` (as an entry request or a call's attempt),
    /// with `limit` ms to answer in: how it ends for the caller.
    fn attempt(
        &self,
        service: &str,
        method: Option<&str>,
        limit: f64,
        refused: &BTreeMap<String, f64>,
        bulkhead: &BTreeMap<Site, f64>,
        memo: &mut BTreeMap<(String, Option<String>), Handling>,
    ) -> View {
        let mut view = View::default();
        let Some(version) = self
            .deployed(service)
            .filter(|_| !self.down.contains(&service))
        else {
            view.fails[FailCode::Unavailable as usize] = 1.0;
            return view;
        };
        view.attempts = 1.0;
        if version.method(method).is_none() {
            view.fails[FailCode::Unimplemented as usize] = 1.0;
            view.wait = ROUND_TRIP_MS;
            return view;
        }
        if self.hung.contains(&service) {
            view.fails[FailCode::DeadlineExceeded as usize] = 1.0;
            view.wait = limit;
            return view;
        }
        let refuse = refused.get(service).copied().unwrap_or(0.0);
        let handling = self.handling(service, method, refused, bulkhead, memo);
        view.fails[FailCode::ResourceExhausted as usize] = refuse;
        let answered = handling.hold + ROUND_TRIP_MS;
        if answered >= limit && self.cut_by_deadline(service, method, limit) {
            // The caller's deadline travels with the request (`grpc-timeout`) and the
            // callee cuts its own calls to fit inside it: they end DEADLINE_EXCEEDED a
            // moment before the caller gives up, and the callee's rules for that code
            // answer (ignore, degrade, a fallback) or fail just in time. Which side of
            // the deadline that answer lands on is a race of milliseconds, not this
            // arithmetic's to say.
            self.near.borrow_mut().insert(format!(
                "the calls of {service} cut by its callers' deadline"
            ));
        }
        if answered >= limit {
            view.fails[FailCode::DeadlineExceeded as usize] += 1.0 - refuse;
            view.wait = refuse * ROUND_TRIP_MS + (1.0 - refuse) * limit;
        } else {
            for (code, share) in handling.fails.iter().enumerate() {
                view.fails[code] += (1.0 - refuse) * share;
            }
            view.wait = refuse * ROUND_TRIP_MS + (1.0 - refuse) * answered;
        }
        view
    }

    /// Whether a request at `method` of `service` would still have time left for its
    /// own work inside a caller's `limit`, so that only its calls, which the propagated
    /// deadline cuts, keep it past the limit.
    fn cut_by_deadline(&self, service: &str, method: Option<&str>, limit: f64) -> bool {
        let Some(work) = self.deployed(service).and_then(|v| v.method(method)) else {
            return false;
        };
        let own =
            self.slow.get(service).copied().unwrap_or(0.0) + work.latency.as_secs_f64() * 1000.0;
        // Only a call whose rule answers on DEADLINE_EXCEEDED makes a difference: one
        // that fails passes the code up, as the caller's own timeout would.
        let handled = work.calls.iter().any(|call| {
            call.on_failure.action(Some(FailCode::DeadlineExceeded)) != Action::Fail
                || call.fallback.is_some()
        });
        handled && own + ROUND_TRIP_MS < limit
    }

    /// What a served request at `method` of `service` does (memoized per round).
    fn handling(
        &self,
        service: &str,
        method: Option<&str>,
        refused: &BTreeMap<String, f64>,
        bulkhead: &BTreeMap<Site, f64>,
        memo: &mut BTreeMap<(String, Option<String>), Handling>,
    ) -> Handling {
        let key = (service.to_owned(), method.map(str::to_owned));
        if let Some(known) = memo.get(&key) {
            return known.clone();
        }
        // A placeholder breaks a loop a state should not have, rather than recursing.
        memo.insert(key.clone(), Handling::default());
        let mut handling = Handling::default();
        let work = self.deployed(service).and_then(|v| v.method(method));
        if let Some(work) = work {
            let mut alive = 1.0;
            if let Some(errors) = self.errors.get(service) {
                for (code, share) in errors.iter().enumerate() {
                    handling.fails[code] += alive * share;
                }
                alive *= (1.0 - errors.iter().sum::<f64>()).max(0.0);
            }
            handling.hold = self.slow.get(service).copied().unwrap_or(0.0)
                + work.latency.as_secs_f64() * 1000.0;
            handling.fails[FailCode::Internal as usize] += alive * work.error_rate;
            alive *= 1.0 - work.error_rate;
            for call in work.calls {
                let made = alive * self.flag_share(call);
                if made <= 0.0 {
                    continue;
                }
                if call.asynchronous {
                    handling.sites.push((site(call), made));
                    let view = self.call_view(service, call, refused, bulkhead, memo);
                    handling.calls.push((
                        call.service.clone(),
                        call.method.clone(),
                        made * view.attempts,
                    ));
                    continue;
                }
                let lost = self.made(service, call, made, refused, bulkhead, memo, &mut handling);
                alive -= lost;
            }
        }
        memo.insert(key, handling.clone());
        handling
    }

    /// Makes `call` (and its fallbacks) for a share `made` of the requests, adding its
    /// wait, attempts and failures to `handling`; returns the share it failed.
    #[allow(clippy::too_many_arguments)]
    fn made(
        &self,
        service: &str,
        call: &Call,
        made: f64,
        refused: &BTreeMap<String, f64>,
        bulkhead: &BTreeMap<Site, f64>,
        memo: &mut BTreeMap<(String, Option<String>), Handling>,
        handling: &mut Handling,
    ) -> f64 {
        handling.sites.push((site(call), made));
        let view = self.call_view(service, call, refused, bulkhead, memo);
        handling.hold += made * view.wait;
        if made * view.wait > handling.longest_wait.as_ref().map_or(0.5, |(_, w)| *w) {
            handling.longest_wait = Some((call.service.clone(), made * view.wait));
        }
        handling.calls.push((
            call.service.clone(),
            call.method.clone(),
            made * view.attempts,
        ));
        let mut lost = 0.0;
        let mut handled = 0.0;
        for (code, share) in view.fails.iter().enumerate() {
            let share = made * share;
            match call.on_failure.action(Some(FailCode::ALL[code])) {
                Action::Fail => {
                    handling.fails[code] += share;
                    lost += share;
                }
                Action::Degrade | Action::Ignore => handled += share,
            }
        }
        if let Some(fallback) = &call.fallback
            && handled > 0.0
        {
            lost += self.made(
                service, fallback, handled, refused, bulkhead, memo, handling,
            );
        }
        lost
    }

    /// `call` of `service` as the caller sees it: per attempt the callee's answer within
    /// the per-try limit, then the retries, the budget, the backoffs, the deadline, the
    /// breaker and the bulkhead.
    fn call_view(
        &self,
        service: &str,
        call: &Call,
        refused: &BTreeMap<String, f64>,
        bulkhead: &BTreeMap<Site, f64>,
        memo: &mut BTreeMap<(String, Option<String>), Handling>,
    ) -> View {
        let full = bulkhead.get(&site(call)).copied().unwrap_or(0.0);
        self.view(service, call, refused, bulkhead, full, memo)
    }

    /// [`Model::call_view`] with the call's own bulkhead refusing the share `full` (0: as
    /// if it refused none, which is what the bulkhead is offered).
    fn view(
        &self,
        service: &str,
        call: &Call,
        refused: &BTreeMap<String, f64>,
        bulkhead: &BTreeMap<Site, f64>,
        full: f64,
        memo: &mut BTreeMap<(String, Option<String>), Handling>,
    ) -> View {
        let protect = &call.protect;
        let timeout = call.timeout.as_secs_f64() * 1000.0;
        let limit = protect
            .per_try_timeout
            .map_or(timeout, |t| t.as_secs_f64() * 1000.0)
            .min(timeout);
        let mut one = if self.cut.contains(&(service, call.service.as_str())) {
            let mut view = View::default();
            view.fails[FailCode::Unavailable as usize] = 1.0;
            view
        } else {
            let mut view = self.attempt(
                &call.service,
                call.method.as_deref(),
                limit,
                refused,
                bulkhead,
                memo,
            );
            let reaches = self
                .deployed(&call.service)
                .is_some_and(|v| v.provides(&call.api));
            // A build without the API answers UNIMPLEMENTED from its routing: a round
            // trip for the caller, and no worker or call of the callee's.
            if view.attempts > 0.0 && !reaches {
                view = View {
                    attempts: 0.0,
                    wait: ROUND_TRIP_MS,
                    ..View::default()
                };
                view.fails[FailCode::Unimplemented as usize] = 1.0;
            }
            view
        };
        let failing: f64 = one.fails.iter().sum();
        // An open breaker: a callee failing at least the threshold (by a margin) is
        // failed fast; one failing never leaves it closed; in between, whether a window
        // of attempts trips it is chance.
        if let Some(breaker) = protect.breaker {
            let threshold = f64::from(breaker.failure_percent) / 100.0;
            if failing >= (threshold + BREAKER_MARGIN).min(1.0) {
                self.trip.set(self.trip.get().max(one.wait));
                self.leaking.borrow_mut().insert(site(call));
                let rate = self.site_rates.borrow().get(&site(call)).copied();
                let leak = probe_leak(breaker, rate.unwrap_or(0.0), one.wait);
                let mut view = View {
                    fails: one.fails.map(|share| share * leak),
                    wait: one.wait * leak,
                    attempts: one.attempts * leak,
                };
                view.fails[FailCode::Unavailable as usize] += 1.0 - leak;
                return view;
            }
            if trips(failing, breaker.window, breaker.failure_percent) > TRIP_CHANCE {
                self.near
                    .borrow_mut()
                    .insert(format!("the breaker of {service} -> {}", call.service));
            }
        }
        // Retries: attempt k + 1 is made when the first k failed with a retried code.
        let retried: f64 = FailCode::ALL
            .iter()
            .filter(|code| protect.retries_on(**code))
            .map(|code| one.fails[*code as usize])
            .sum();
        let backoff = protect
            .backoff
            .map_or(0.0, |b| b.base.as_secs_f64() * 1000.0 / 2.0);
        let per_attempt = one.wait + backoff;
        let by_time = if per_attempt > 0.0 {
            ((timeout / per_attempt).floor() as u32).saturating_sub(1)
        } else {
            call.retries
        };
        let retries = call.retries.min(by_time);
        // A retry into a service that refuses meets its busy workers again a moment
        // later: the attempts are not independent, which this arithmetic assumes.
        if retries > 0 && retried > 0.0 && refused.get(&call.service).copied().unwrap_or(0.0) > 0.01
        {
            self.near.borrow_mut().insert(format!(
                "the retries of {service} -> {} into its refusals",
                call.service
            ));
        }
        let mut expected = 0.0;
        let mut reach = 1.0;
        for _ in 0..retries {
            reach *= retried;
            expected += reach;
        }
        if let Some(budget) = protect.budget {
            expected = expected.min(f64::from(budget.percent) / 100.0);
        }
        // How the call ends: an attempt failing with a code that is not retried ends it,
        // and each of the 1 + expected attempts may; one failing with a retried code ends
        // it only on the last attempt, which leaves the failing share no retry saved,
        // r - expected x (1 - r) of it (r^(n+1) with n retries and no budget).
        let last = if retried > 0.0 {
            ((retried - expected * (1.0 - retried)) / retried).max(0.0)
        } else {
            0.0
        };
        let mut fails = one.fails;
        for (code, share) in fails.iter_mut().enumerate() {
            *share *= if protect.retries_on(FailCode::ALL[code]) {
                last
            } else {
                1.0 + expected
            };
        }
        one.wait = one.wait * (1.0 + expected) + backoff * expected;
        one.attempts *= 1.0 + expected;
        one.fails = fails;
        // A full bulkhead fails the excess at once.
        if protect.bulkhead.is_some() {
            for share in &mut one.fails {
                *share *= 1.0 - full;
            }
            one.fails[FailCode::Unavailable as usize] += full;
            one.wait *= 1.0 - full;
            one.attempts *= 1.0 - full;
        }
        one.wait = one.wait.min(timeout);
        one
    }
}

/// The share of calls an open breaker still lets through, at `rate` calls per second
/// (one caller replica's, at this call site) to a callee whose failing attempts take
/// `wait` ms: when its `open` time is over it turns half-open and lets its probes through
/// one by one, until the first one fails (one wait later) and opens it again. So each
/// cycle of `open + wait` passes the first call and those that come within that wait, at
/// most `probes`, out of all the calls of the cycle.
fn probe_leak(breaker: crate::model::Breaker, rate: f64, wait: f64) -> f64 {
    let open = breaker.open.as_secs_f64() * 1000.0;
    let passed = (1.0 + rate * wait / 1000.0).min(f64::from(breaker.probes.max(1)));
    let cycle = rate * (open + wait) / 1000.0 + 1.0;
    (passed / cycle).clamp(0.0, 1.0)
}

/// Appends `key` and every method it calls to `order`, callees first, each once
/// (`seen`; a loop a state should not have is cut where it closes).
fn post_order(
    key: &(String, Option<String>),
    memo: &BTreeMap<(String, Option<String>), Handling>,
    order: &mut Vec<(String, Option<String>)>,
    seen: &mut std::collections::BTreeSet<(String, Option<String>)>,
) {
    if !seen.insert(key.clone()) {
        return;
    }
    if let Some(handling) = memo.get(key) {
        for (callee, method, _) in &handling.calls {
            post_order(&(callee.clone(), method.clone()), memo, order, seen);
        }
    }
    order.push(key.clone());
}

/// A call site: the address of its [`Call`] in the scenario, the same for the whole of
/// one prediction. Each call site has a bulkhead of its own, as in the runtime.
type Site = usize;

fn site(call: &Call) -> Site {
    std::ptr::from_ref(call) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// web (200 rps) needs shop (one replica, 8 workers); shop calls recs with `rule`
    /// and a 200 ms timeout; `faults` in force.
    fn shop(rule: &str, faults: &str) -> Demand {
        let yaml = format!(
            "
name: shop
services:
  web:
    entrypoint: true
    versions: {{ v1: {{ calls: [ {{ service: shop, timeout_ms: 5000 }} ] }} }}
  shop:
    versions:
      v1:
        capacity: {{ workers: 8, queue: 4 }}
        calls: [ {{ service: recs, on_failure: {rule}, timeout_ms: 200 }} ]
  recs: {{ versions: {{ v1: {{}} }} }}
initial: {{ web: v1, shop: v1, recs: v1 }}
load: {{ rps: 200 }}
faults: [{faults}]
"
        );
        of(&yaml)
    }

    /// The demand of `yaml`'s initial state, with all its faults in force.
    fn of(yaml: &str) -> Demand {
        let scenario =
            crate::scenario::parse_str(yaml, std::path::Path::new("t.yaml")).expect("valid");
        let faults: Vec<&FaultKind> = scenario.faults.iter().map(|f| &f.kind).collect();
        predict(
            &scenario,
            &scenario.initial,
            &scenario.initial_flags(),
            &faults,
        )
    }

    #[test]
    fn a_hung_optional_call_wants_forty_workers_of_eight_and_serves_a_fifth() {
        let demand = shop("degrade", "{ hang: recs }");
        let load = &demand.services["shop"];
        assert!((load.rate - 200.0).abs() < 1e-6, "{load:?}");
        assert!((load.hold_ms - 200.0).abs() < 1e-6, "{load:?}");
        assert!((load.wanted - 40.0).abs() < 1e-6, "{load:?}");
        assert!((load.refused - 0.8).abs() < 1e-3, "{load:?}");
        assert!((demand.served["web"] - 0.2).abs() < 1e-3, "{demand:?}");
        assert!(demand.decided());
        assert_eq!(
            load.longest_wait.as_ref().map(|(c, _)| c.as_str()),
            Some("recs")
        );
    }

    #[test]
    fn without_the_fault_nothing_is_refused() {
        let demand = shop("degrade", "");
        // 0.8 workers wanted of 8: Erlang's formula refuses about one in 10^13.
        assert!(demand.services["shop"].refused < 1e-9);
        assert!(demand.served["web"] > 1.0 - 1e-9, "{demand:?}");
        assert!(demand.decided());
    }

    #[test]
    fn the_same_call_required_serves_nothing() {
        let demand = shop("fail", "{ hang: recs }");
        assert!(demand.served["web"] < 1e-9, "{demand:?}");
    }

    /// web calls cart with cart's own `inner` timeout; cart calls a hung pricing with
    /// `rule` and the same timeout: cart waits as long as web gives it.
    fn chain(rule: &str) -> Demand {
        of(&format!(
            "
name: chain
services:
  web:
    entrypoint: true
    versions: {{ v1: {{ calls: [ {{ service: cart, on_failure: fail, timeout_ms: 1000 }} ] }} }}
  cart:
    versions: {{ v1: {{ calls: [ {{ service: pricing, on_failure: {rule}, timeout_ms: 1000 }} ] }} }}
  pricing: {{ versions: {{ v1: {{}} }} }}
initial: {{ web: v1, cart: v1, pricing: v1 }}
load: {{ rps: 50 }}
faults: [ {{ hang: pricing }} ]
"
        ))
    }

    #[test]
    fn a_callee_that_answers_when_the_propagated_deadline_cuts_its_call_is_undecided() {
        // cart's call is cut by web's deadline a moment before web gives up, and cart
        // then ignores the failure and answers: which side of the deadline that lands
        // on is not the arithmetic's to say (a sim run measured it served).
        let demand = chain("ignore");
        assert!(!demand.decided(), "{demand:?}");
        assert!(
            demand
                .undecided
                .contains(&"the calls of cart cut by its callers' deadline".to_owned()),
            "{demand:?}"
        );
        // One that fails on the cut passes DEADLINE_EXCEEDED up either way: decided.
        let demand = chain("fail");
        assert!(demand.decided(), "{demand:?}");
        assert!(demand.served["web"] < 1e-9, "{demand:?}");
    }

    #[test]
    fn near_the_workers_a_service_is_undecided() {
        // 200 rps held 40 ms: 8 workers wanted of 8.
        let demand = shop("degrade", "{ latency: { service: recs, add_ms: 40 } }");
        assert_eq!(demand.undecided[0], "shop");
        assert!(!demand.decided());
    }

    #[test]
    fn a_breaker_on_a_hung_callee_wants_twenty_trips_of_settled_part() {
        // Until the first 500 ms attempts come back failed, every call passes the
        // breaker; after, it fails them fast, and the required call fails web.
        let demand = of("
name: trip
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls: [ { service: api, on_failure: fail, per_try_timeout_ms: 500, breaker: { window: 10, open_ms: 100 } } ]
  api: { versions: { v1: {} } }
initial: { web: v1, api: v1 }
load: { rps: 100 }
faults: [ { hang: api } ]
");
        assert!(demand.served["web"] < 1e-9, "{demand:?}");
        assert!((demand.trip_ms - 500.0).abs() < 1e-6, "{demand:?}");
        assert!(demand.decided());
        assert!(!demand.decided_over(std::time::Duration::from_secs(3)));
        assert!(demand.decided_over(std::time::Duration::from_secs(10)));
    }

    #[test]
    fn an_open_breaker_lets_its_half_open_probes_through() {
        // api lacks v2: every call is UNIMPLEMENTED, a round trip later, and the breaker
        // is open. Each 100 ms it lets the first call through, and those that come in
        // the 2 ms before that one fails (250 calls a second: half a call more), out of
        // 250 x 0.102 + 1 calls: 1.5 / 26.5, which fail web; the rest degrade.
        let demand = of("
name: probes
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls: [ { service: api, api: v2, on_failure: { UNAVAILABLE: degrade, default: fail }, breaker: { window: 10, open_ms: 100 } } ]
  api: { versions: { v1: { capacity: { workers: 4, queue: 0 } }, v2: { provides: [v2] } } }
initial: { web: v1, api: v1 }
load: { rps: 250 }
");
        let leak = 1.5 / 26.5;
        assert!(
            (demand.served["web"] - (1.0 - leak)).abs() < 1e-3,
            "{demand:?}"
        );
        // Refused by routing, before a worker: no load on api.
        assert!(demand.services["api"].rate < 1e-9, "{demand:?}");
        assert!(
            (demand.services["web"].hold_ms - 2.0 * leak).abs() < 1e-3,
            "{demand:?}"
        );
    }

    #[test]
    fn a_call_to_an_api_the_callee_lacks_costs_a_round_trip_and_no_worker() {
        let demand = of("
name: lacks
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: api, api: v2, on_failure: degrade } ] } }
  api: { versions: { v1: { capacity: { workers: 1, queue: 0 }, latency_ms: 50 }, v2: { provides: [v2] } } }
initial: { web: v1, api: v1 }
load: { rps: 100 }
");
        assert!(demand.services["api"].rate < 1e-9, "{demand:?}");
        assert!(
            (demand.services["web"].hold_ms - 2.0).abs() < 1e-9,
            "{demand:?}"
        );
        assert_eq!(demand.served["web"], 1.0);
    }

    #[test]
    fn below_the_workers_random_and_regular_arrivals_can_disagree() {
        // 2 workers, no queue, 1.4 workers wanted: random arrivals find both busy about
        // 29% of the time (Erlang B), regular ones never.
        let demand = of("
name: few
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: api, on_failure: fail } ] } } }
  api: { versions: { v1: { capacity: { workers: 2, queue: 0 }, latency_ms: 70 } } }
initial: { web: v1, api: v1 }
load: { rps: 20 }
");
        let load = &demand.services["api"];
        assert!((load.wanted - 1.4).abs() < 1e-6, "{load:?}");
        assert!((load.refused - 0.29).abs() < 0.01, "{load:?}");
        assert!((demand.served["web"] - 0.71).abs() < 0.01, "{demand:?}");
        assert!(!demand.decided());
        assert_eq!(
            demand.undecided,
            vec!["web: 71% served with random arrivals, 100% with regular ones".to_owned()]
        );
    }

    #[test]
    fn retries_multiply_the_load_and_a_budget_caps_it() {
        let yaml = |protect: &str| {
            format!(
                "
name: storm
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls:
          - {{ service: db, on_failure: degrade, retries: 3, timeout_ms: 1000{protect} }}
  db: {{ versions: {{ v1: {{}} }} }}
initial: {{ web: v1, db: v1 }}
load: {{ rps: 100 }}
faults: [ {{ errors: {{ service: db, rate: 1.0, code: UNAVAILABLE }} }} ]
"
            )
        };
        let predict_of = |protect: &str| of(&yaml(protect));
        let blind = predict_of("");
        assert!(
            (blind.services["db"].rate - 400.0).abs() < 1e-6,
            "{blind:?}"
        );
        let budgeted = predict_of(", retry_budget: { percent: 20, min_per_s: 0 }");
        assert!(
            (budgeted.services["db"].rate - 120.0).abs() < 1e-6,
            "{budgeted:?}"
        );
    }

    #[test]
    fn a_retried_code_ends_the_call_only_on_the_last_attempt() {
        // recs fails half its answers with UNAVAILABLE (retried, then degraded) and a
        // tenth with INTERNAL (not retried, required): each of the 1.5 attempts a call
        // makes on average may end it with INTERNAL, so 15% of web's requests fail, not
        // the 6.7% that scaling every failing code alike gave.
        let demand = of("
name: codes
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls:
          - { service: recs, on_failure: { UNAVAILABLE: degrade, default: fail }, retries: 1 }
  recs: { versions: { v1: { error_rate: 0.2 } } }
initial: { web: v1, recs: v1 }
load: { rps: 100 }
faults: [ { errors: { service: recs, rate: 0.5, code: UNAVAILABLE } } ]
");
        assert!(
            (demand.services["recs"].rate - 150.0).abs() < 1e-6,
            "{demand:?}"
        );
        assert!((demand.served["web"] - 0.85).abs() < 1e-9, "{demand:?}");
    }

    #[test]
    fn a_user_sees_a_flag_alike_at_every_call_of_a_request() {
        // Two calls behind one flag to a service that is not deployed: the users with the
        // flag on fail at the first, and the second is never theirs to make; the others
        // make neither. Served: the users with the flag off, not (1 - p)^2.
        let demand = of("
name: flagged
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls:
          - { service: db, flag: f }
          - { service: db, flag: f }
  db: { versions: { v1: {} } }
initial: { web: v1 }
flags: { f: { on: true, percent: 50 } }
load: { rps: 100 }
");
        let on = (0..FLAG_SAMPLE)
            .filter(|user| flag_on("f", *user, 50))
            .count() as f64
            / FLAG_SAMPLE as f64;
        assert!(
            (demand.served["web"] - (1.0 - on)).abs() < 1e-9,
            "{demand:?} {on}"
        );
    }
}
