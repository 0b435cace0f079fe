//! The reference model: what an entry request can meet in a state, written for the tests
//! from the contract alone, and deliberately simple where the product is fast.
//!
//! The product compiles the scenario to ports and evaluates a state in one pass over
//! bitmasks. The model here walks the calls recursively over names, and answers two
//! questions: which outcomes a request *can* have (the worst one is what `check`
//! predicts), and how likely each is when every call picks a serving version uniformly
//! at random, which is what the live run does when old and new replicas serve together.
//! The brute-force searches (every state, every order) are built on it.
//!
//! Flags: a state holds each flag's percent. A request is for one user, so it sees each
//! flag on or off, the same at every service: the model enumerates every on/off
//! assignment of the flags a state allows (a flag at 0% is off, at 100% on, between
//! both), evaluates each with its flagged calls made or skipped, and unites the outcomes
//! (weighs them by the percents for the odds).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use deploysim::eval::Level;
use deploysim::model::{
    Action, Call, Change, Deployment, FailCode, FaultKind, FlagChange, Flags, Rollout, Scenario,
};

/// What a walk has already found, per (service, API version, method) called.
type Memo<T> = HashMap<(String, String, Option<String>), T>;

/// A state: the serving versions of each service, and the cut caller -> callee pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefState {
    pub serving: BTreeMap<String, BTreeSet<String>>,
    pub cut: BTreeSet<(String, String)>,
    /// Services that may also have nothing serving at the moment of a call: set only by
    /// [`RefState::blur`], for a request that lives across several states.
    pub may_be_down: BTreeSet<String>,
    /// The percent of users each flag is on for; a flag left out is off.
    pub flags: BTreeMap<String, u8>,
}

impl RefState {
    /// Every deployed service serves its one version.
    pub fn settled(deployment: &Deployment) -> RefState {
        RefState {
            serving: deployment
                .0
                .iter()
                .map(|(service, version)| (service.clone(), BTreeSet::from([version.clone()])))
                .collect(),
            ..RefState::default()
        }
    }

    /// The state while `changes` move together from `before` (contract §2 and the
    /// project's docs/live.md): a rolling service serves old and new, a recreated one
    /// nothing, a newly deployed one nothing yet, a removed one its old version.
    pub fn transient(scenario: &Scenario, before: &Deployment, changes: &[Change]) -> RefState {
        let mut state = RefState::settled(before);
        for change in changes {
            let rollout = scenario.services[&change.service].rollout;
            let serving: BTreeSet<String> = match (&change.from, &change.to, rollout) {
                (Some(old), Some(new), Rollout::Rolling) => [old.clone(), new.clone()].into(),
                (Some(_), Some(_), Rollout::Recreate) | (None, _, _) => BTreeSet::new(),
                (Some(old), None, _) => [old.clone()].into(),
            };
            // A service with nothing serving is the same as one not deployed.
            if serving.is_empty() {
                state.serving.remove(&change.service);
            } else {
                state.serving.insert(change.service.clone(), serving);
            }
        }
        state
    }

    /// Every state the transient part of a step can be in: [`RefState::transient`], and
    /// that state with any of the recreated services still serving its old version (its
    /// old replicas answer until they stop, at the start of the part).
    pub fn transients(
        scenario: &Scenario,
        before: &Deployment,
        changes: &[Change],
    ) -> Vec<RefState> {
        let base = RefState::transient(scenario, before, changes);
        let recreated: Vec<&Change> = changes
            .iter()
            .filter(|change| {
                change.from.is_some()
                    && change.to.is_some()
                    && scenario.services[&change.service].rollout == Rollout::Recreate
            })
            .collect();
        (0..1u32 << recreated.len())
            .map(|set| {
                let mut state = base.clone();
                for (i, change) in recreated.iter().enumerate() {
                    if set & (1 << i) != 0
                        && let Some(old) = &change.from
                    {
                        state
                            .serving
                            .insert(change.service.clone(), BTreeSet::from([old.clone()]));
                    }
                }
                state
            })
            .collect()
    }

    /// This state with `flags` in force.
    pub fn with_flags(mut self, flags: &Flags) -> RefState {
        self.flags = flags
            .0
            .keys()
            .map(|name| (name.clone(), flags.share(name)))
            .filter(|(_, share)| *share > 0)
            .collect();
        self
    }

    /// The state as the product tells states apart: a flag is off, on, or mixed, whatever
    /// its percent between.
    pub fn classed(&self) -> RefState {
        let mut state = self.clone();
        for share in state.flags.values_mut() {
            if *share > 0 && *share < 100 {
                *share = 50;
            }
        }
        state
    }

    /// Every on/off assignment of the flags a request can meet here, with its chance:
    /// the set of flags on, and the product of the shares.
    fn assignments(&self) -> Vec<(BTreeSet<String>, f64)> {
        let mut all = vec![(BTreeSet::new(), 1.0)];
        for (flag, &share) in &self.flags {
            let p = f64::from(share.min(100)) / 100.0;
            let mut next = Vec::new();
            for (on, chance) in all {
                if share > 0 {
                    let mut with = on.clone();
                    with.insert(flag.clone());
                    next.push((with, chance * p));
                }
                if share < 100 {
                    next.push((on, chance * (1.0 - p)));
                }
            }
            all = next;
        }
        all
    }

    /// What a request can meet when each of its calls may happen in any of `states`:
    /// per service, every version serving in one of them, and "nothing" if one of them
    /// has nothing.
    pub fn blur(states: &[&RefState]) -> RefState {
        let mut blurred = RefState::default();
        for state in states {
            for (service, versions) in &state.serving {
                blurred
                    .serving
                    .entry(service.clone())
                    .or_default()
                    .extend(versions.iter().cloned());
            }
            blurred.cut.extend(state.cut.iter().cloned());
            // A request carries the flags it was sent with, so it never spans a switch;
            // the states of one step share their flags.
            blurred.flags.clone_from(&state.flags);
        }
        for state in states {
            for service in blurred.serving.keys() {
                if !state.serving.contains_key(service) {
                    blurred.may_be_down.insert(service.clone());
                }
            }
        }
        blurred
    }

    pub fn with_fault(&mut self, fault: &FaultKind) {
        match fault {
            FaultKind::Kill(service) | FaultKind::Missing(service) => {
                self.serving.remove(service);
            }
            FaultKind::Partition { from, to } => {
                self.cut.insert((from.clone(), to.clone()));
            }
            // Time and error rates are outside the state (the contract's check is about
            // what is deployed); the generator draws none of these.
            FaultKind::Latency { .. }
            | FaultKind::Errors { .. }
            | FaultKind::Hang(_)
            | FaultKind::Crash { .. } => {}
        }
    }
}

/// Which outcomes a request can have: answered ok, answered degraded, failed with
/// UNAVAILABLE, failed with UNIMPLEMENTED (the only codes a state decides).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Possible {
    pub ok: bool,
    pub degraded: bool,
    pub unavailable: bool,
    pub unimplemented: bool,
}

impl Possible {
    const UNAVAILABLE: Possible = Possible {
        ok: false,
        degraded: false,
        unavailable: true,
        unimplemented: false,
    };
    const UNIMPLEMENTED: Possible = Possible {
        ok: false,
        degraded: false,
        unavailable: false,
        unimplemented: true,
    };

    pub fn failed(self) -> bool {
        self.unavailable || self.unimplemented
    }

    fn union(self, other: Possible) -> Possible {
        Possible {
            ok: self.ok || other.ok,
            degraded: self.degraded || other.degraded,
            unavailable: self.unavailable || other.unavailable,
            unimplemented: self.unimplemented || other.unimplemented,
        }
    }

    pub fn worst(self) -> Level {
        if self.failed() {
            Level::Failed
        } else if self.degraded {
            Level::Degraded
        } else {
            Level::Ok
        }
    }
}

/// How likely each outcome is, when every call picks a serving version at random.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Odds {
    pub ok: f64,
    pub degraded: f64,
    pub unavailable: f64,
    pub unimplemented: f64,
}

impl Odds {
    const UNAVAILABLE: Odds = Odds {
        ok: 0.0,
        degraded: 0.0,
        unavailable: 1.0,
        unimplemented: 0.0,
    };
    const UNIMPLEMENTED: Odds = Odds {
        ok: 0.0,
        degraded: 0.0,
        unavailable: 0.0,
        unimplemented: 1.0,
    };

    pub fn failed(&self) -> f64 {
        self.unavailable + self.unimplemented
    }

    /// `self` plus `weight` times `other`.
    fn add(&mut self, weight: f64, other: Odds) {
        self.ok += weight * other.ok;
        self.degraded += weight * other.degraded;
        self.unavailable += weight * other.unavailable;
        self.unimplemented += weight * other.unimplemented;
    }

    /// The chance that a request ends at `level` or worse.
    pub fn at_least(&self, level: Level) -> f64 {
        match level {
            Level::Ok => 1.0,
            Level::Degraded => self.degraded + self.failed(),
            Level::Failed => self.failed(),
        }
    }
}

/// The two failure codes a state decides, with the rule code each is.
const CODES: [FailCode; 2] = [FailCode::Unavailable, FailCode::Unimplemented];

/// The model of one scenario.
pub struct Model<'a> {
    scenario: &'a Scenario,
}

impl<'a> Model<'a> {
    pub fn new(scenario: &'a Scenario) -> Model<'a> {
        Model { scenario }
    }

    /// The entrypoints, in name order (the product's `Graph::entries` order).
    pub fn entries(&self) -> Vec<String> {
        self.scenario
            .entrypoints()
            .map(|service| service.name.clone())
            .collect()
    }

    /// What an entry request to `entry` can meet in `state`, over every flag
    /// assignment a user can have there and every method of its mix.
    pub fn possible(&self, state: &RefState, entry: &str) -> Possible {
        let api = self.scenario.entry_api(entry);
        let mut result = Possible::default();
        for (on, _) in state.assignments() {
            for (method, _) in self.scenario.load.mix_of(entry) {
                let target = (entry, api.as_str(), method.as_deref());
                let mine = self.reach_possible(state, &on, None, target, &mut HashMap::new());
                result = result.union(mine);
            }
        }
        result
    }

    /// The worst outcome of every entrypoint.
    pub fn levels(&self, state: &RefState) -> Vec<Level> {
        self.entries()
            .iter()
            .map(|entry| self.possible(state, entry).worst())
            .collect()
    }

    /// What a call from `caller` to (callee, api, method) can meet, before its rule.
    fn reach_possible(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        caller: Option<&str>,
        (callee, api, method): (&str, &str, Option<&str>),
        memo: &mut Memo<Possible>,
    ) -> Possible {
        if let Some(caller) = caller
            && state.cut.contains(&(caller.to_owned(), callee.to_owned()))
        {
            return Possible::UNAVAILABLE;
        }
        let key = (callee.to_owned(), api.to_owned(), method.map(str::to_owned));
        if let Some(known) = memo.get(&key) {
            return *known;
        }
        let mut result = Possible::default();
        let serving = state.serving.get(callee).cloned().unwrap_or_default();
        if serving.is_empty() || state.may_be_down.contains(callee) {
            result = Possible::UNAVAILABLE;
        }
        for version in &serving {
            let definition = self
                .scenario
                .version(callee, version)
                .expect("a serving version is defined");
            let mine = match definition
                .method(method)
                .filter(|_| definition.provides(api))
            {
                Some(work) => self.method_possible(state, on, callee, work.calls, memo),
                None => Possible::UNIMPLEMENTED,
            };
            result = result.union(mine);
        }
        memo.insert(key, result);
        result
    }

    /// Every call picks its callee's version on its own, so the outcomes of a method
    /// are the combinations of its calls' outcomes; the first call that fails the caller
    /// ends the method, so a later call's code needs every earlier call to be able to
    /// pass.
    fn method_possible(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        service: &str,
        calls: &[Call],
        memo: &mut Memo<Possible>,
    ) -> Possible {
        let mut result = Possible::default();
        let mut all_can_be_ok = true;
        let mut reached = true;
        let mut some_can_degrade = false;
        for call in calls {
            if call.asynchronous || call.flag.as_ref().is_some_and(|flag| !on.contains(flag)) {
                continue;
            }
            let mine = self.call_possible(state, on, service, call, memo);
            if reached {
                result.unavailable |= mine.unavailable;
                result.unimplemented |= mine.unimplemented;
            }
            all_can_be_ok &= mine.ok;
            some_can_degrade |= mine.degraded;
            reached &= mine.ok || mine.degraded;
        }
        result.ok = all_can_be_ok;
        result.degraded = reached && some_can_degrade;
        result
    }

    /// What `call` can do to its caller, after its rule and its fallback.
    fn call_possible(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        service: &str,
        call: &Call,
        memo: &mut Memo<Possible>,
    ) -> Possible {
        let target = (
            call.service.as_str(),
            call.api.as_str(),
            call.method.as_deref(),
        );
        let reached = self.reach_possible(state, on, Some(service), target, memo);
        let mut result = Possible {
            ok: reached.ok,
            degraded: reached.degraded,
            ..Possible::default()
        };
        for (code, failed) in CODES
            .into_iter()
            .zip([reached.unavailable, reached.unimplemented])
        {
            if !failed {
                continue;
            }
            let handled = match call.on_failure.action(Some(code)) {
                Action::Fail => {
                    match code {
                        FailCode::Unimplemented => result.unimplemented = true,
                        _ => result.unavailable = true,
                    }
                    continue;
                }
                Action::Degrade => Possible {
                    degraded: true,
                    ..Possible::default()
                },
                Action::Ignore => Possible {
                    ok: true,
                    ..Possible::default()
                },
            };
            match &call.fallback {
                None => result = result.union(handled),
                Some(fallback) => {
                    // Recomputed per code: the reference stays simple (chains are short).
                    let instead = self.call_possible(state, on, service, fallback, memo);
                    result = result.union(Possible {
                        ok: false,
                        ..instead
                    });
                    if instead.ok {
                        result = result.union(handled);
                    }
                }
            }
        }
        result
    }

    /// The odds of an entry request to `entry` in `state`: over the flag assignments,
    /// weighed by their chance (a flag at N% is on for about N% of users), and over the
    /// methods of its mix, weighed by their weights.
    pub fn odds(&self, state: &RefState, entry: &str) -> Odds {
        let api = self.scenario.entry_api(entry);
        let mix = self.scenario.load.mix_of(entry);
        let total: f64 = mix.iter().map(|(_, weight)| f64::from(*weight)).sum();
        let mut odds = Odds::default();
        for (on, chance) in state.assignments() {
            for (method, weight) in &mix {
                let target = (entry, api.as_str(), method.as_deref());
                let mine = self.reach_odds(state, &on, None, target);
                odds.add(chance * f64::from(*weight) / total, mine);
            }
        }
        odds
    }

    fn reach_odds(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        caller: Option<&str>,
        (callee, api, method): (&str, &str, Option<&str>),
    ) -> Odds {
        if let Some(caller) = caller
            && state.cut.contains(&(caller.to_owned(), callee.to_owned()))
        {
            return Odds::UNAVAILABLE;
        }
        let Some(serving) = state.serving.get(callee).filter(|s| !s.is_empty()) else {
            return Odds::UNAVAILABLE;
        };
        let share = 1.0 / serving.len() as f64;
        let mut odds = Odds::default();
        for version in serving {
            let definition = self.scenario.version(callee, version).expect("defined");
            let mine = match definition
                .method(method)
                .filter(|_| definition.provides(api))
            {
                Some(work) => self.method_odds(state, on, callee, work.calls),
                None => Odds::UNIMPLEMENTED,
            };
            odds.add(share, mine);
        }
        odds
    }

    /// Calls are independent; the method fails at the first call that fails it, with
    /// that call's code, and is fine only if every call is.
    fn method_odds(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        service: &str,
        calls: &[Call],
    ) -> Odds {
        let mut no_failure_yet = 1.0;
        let mut fine = 1.0;
        let mut result = Odds::default();
        for call in calls {
            if call.asynchronous || call.flag.as_ref().is_some_and(|flag| !on.contains(flag)) {
                continue;
            }
            let mine = self.call_odds(state, on, service, call);
            result.unavailable += no_failure_yet * mine.unavailable;
            result.unimplemented += no_failure_yet * mine.unimplemented;
            no_failure_yet *= 1.0 - mine.failed();
            fine *= mine.ok;
        }
        result.ok = fine;
        result.degraded = (no_failure_yet - fine).max(0.0);
        result
    }

    /// The odds of what `call` does to its caller, after its rule and its fallback.
    fn call_odds(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        service: &str,
        call: &Call,
    ) -> Odds {
        let target = (
            call.service.as_str(),
            call.api.as_str(),
            call.method.as_deref(),
        );
        let reached = self.reach_odds(state, on, Some(service), target);
        let mut result = Odds {
            ok: reached.ok,
            degraded: reached.degraded,
            ..Odds::default()
        };
        for (code, chance) in CODES
            .into_iter()
            .zip([reached.unavailable, reached.unimplemented])
        {
            let handled = match call.on_failure.action(Some(code)) {
                Action::Fail => {
                    match code {
                        FailCode::Unimplemented => result.unimplemented += chance,
                        _ => result.unavailable += chance,
                    }
                    continue;
                }
                Action::Degrade => Level::Degraded,
                Action::Ignore => Level::Ok,
            };
            let answered = match &call.fallback {
                None => 1.0,
                Some(fallback) => {
                    let instead = self.call_odds(state, on, service, fallback);
                    result.degraded += chance * instead.degraded;
                    result.unavailable += chance * instead.unavailable;
                    result.unimplemented += chance * instead.unimplemented;
                    instead.ok
                }
            };
            match handled {
                Level::Ok => result.ok += chance * answered,
                _ => result.degraded += chance * answered,
            }
        }
        result
    }

    /// True when no entrypoint can fail in `state`.
    pub fn safe(&self, state: &RefState) -> bool {
        self.entries()
            .iter()
            .all(|entry| !self.possible(state, entry).failed())
    }

    /// The fewest steps of a safe rollout (every step a set of changes and flag
    /// releases, no entrypoint failing in any transient or settled state), by
    /// breadth-first search over every set applied, trying every group of the rest as
    /// the next step; a step's flags switch at its start. `None` when no order is safe.
    /// Exponential (3^n transitions): for small n only.
    pub fn fewest_safe_steps(&self) -> Option<usize> {
        let changes = self.scenario.changes();
        let releases = self.scenario.releases();
        let n = changes.len() + releases.len();
        let full: u32 = (1u32 << n) - 1;
        let point = |set: u32| self.applied(&changes, &releases, set);
        let mut settled_safe: HashMap<u32, bool> = HashMap::new();
        let mut is_settled_safe = |set: u32| {
            *settled_safe.entry(set).or_insert_with(|| {
                let (deployment, flags) = point(set);
                self.safe(&RefState::settled(&deployment).with_flags(&flags))
            })
        };
        if !is_settled_safe(0) {
            return None;
        }
        let mut distance: HashMap<u32, usize> = HashMap::from([(0, 0)]);
        let mut queue = VecDeque::from([0u32]);
        while let Some(set) = queue.pop_front() {
            if set == full {
                return Some(distance[&set]);
            }
            let rest = full & !set;
            let (before, _) = point(set);
            // Every non-empty subset of the rest.
            let mut group = rest;
            while group != 0 {
                let next = set | group;
                if !distance.contains_key(&next) && is_settled_safe(next) {
                    let moving: Vec<Change> = changes
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| group & (1 << i) != 0)
                        .map(|(_, change)| change.clone())
                        .collect();
                    let (_, flags_after) = point(next);
                    let during = RefState::transient(self.scenario, &before, &moving)
                        .with_flags(&flags_after);
                    if self.safe(&during) {
                        distance.insert(next, distance[&set] + 1);
                        queue.push_back(next);
                    }
                }
                group = (group - 1) & rest;
            }
        }
        None
    }

    /// The initial deployment and flags with the changes (bits 0..) and releases (the
    /// bits after them) set in `set` applied.
    fn applied(
        &self,
        changes: &[Change],
        releases: &[FlagChange],
        set: u32,
    ) -> (Deployment, Flags) {
        let mut deployment = self.scenario.initial.clone();
        let mut flags = self.scenario.initial_flags();
        for (i, change) in changes.iter().enumerate() {
            if set & (1 << i) != 0 {
                deployment.apply(change);
            }
        }
        for (i, release) in releases.iter().enumerate() {
            if set & (1 << (changes.len() + i)) != 0 {
                flags.apply(release);
            }
        }
        (deployment, flags)
    }

    /// Every distinct state that one-change-at-a-time rollouts can reach: each set of
    /// changes applied, and each of those with one more change between versions.
    /// A flag release has no transient state of its own: its switch is instant. States
    /// are [`RefState::classed`], as the product counts them.
    pub fn single_piece_states(&self) -> BTreeSet<RefState> {
        let changes = self.scenario.changes();
        let releases = self.scenario.releases();
        let n = changes.len() + releases.len();
        let mut states = BTreeSet::new();
        for set in 0u32..(1 << n) {
            let (deployment, flags) = self.applied(&changes, &releases, set);
            for (i, change) in changes.iter().enumerate() {
                if set & (1 << i) == 0 {
                    let during = RefState::transient(
                        self.scenario,
                        &deployment,
                        std::slice::from_ref(change),
                    );
                    states.insert(during.with_flags(&flags).classed());
                }
            }
            states.insert(RefState::settled(&deployment).with_flags(&flags).classed());
        }
        states
    }
}

/// Demand against capacity the simple way, for a settled state with capacities, `hang`,
/// `latency` and `errors` faults in force, timeouts and retries, but no flags, breakers,
/// bulkheads, backoffs or budgets (what `strip_for_load` in tests/props/check.rs leaves):
/// every entry request is walked down its calls over names, each retry an explicit
/// attempt reached by the share the attempts before it failed with a retried code, each
/// service's offered load summed along the way, and the refusals iterated to a fixed
/// point. The product computes the same numbers from memoized handlings, a closed form
/// for the retries, callers-first arrival passes and per-site maps (src/eval/demand.rs);
/// only the blocking formula, Erlang's, is shared. Returns each entrypoint's share
/// served, or `None` when the walk did not settle.
pub mod load {
    use std::collections::{BTreeMap, BTreeSet};

    use deploysim::eval::demand::blocked;
    use deploysim::model::{Action, Call, Deployment, FailCode, FaultKind, Scenario};

    /// A message there and back on the simulated network, as docs/check.md gives it.
    const ROUND_TRIP_MS: f64 = 2.0;
    /// The load generator's deadline for an entry request (docs/live.md).
    const ENTRY_DEADLINE_MS: f64 = 10_000.0;

    fn ms(duration: std::time::Duration) -> f64 {
        duration.as_secs_f64() * 1000.0
    }

    /// How one attempt (or one call, retries and all) ends, as its caller sees it: a
    /// failure share per code, and how long the caller waits for it.
    #[derive(Clone, Copy)]
    struct Ending {
        fails: [f64; FailCode::ALL.len()],
        wait: f64,
    }

    impl Ending {
        fn failing(code: FailCode, wait: f64) -> Ending {
            let mut fails = [0.0; FailCode::ALL.len()];
            fails[code as usize] = 1.0;
            Ending { fails, wait }
        }
    }

    /// The faults in force, by service.
    #[derive(Default)]
    struct Faults {
        hung: BTreeSet<String>,
        /// Milliseconds added to every answer (a latency fault's add plus half its jitter).
        slow: BTreeMap<String, f64>,
        /// The code and share of answers an errors fault fails.
        errors: BTreeMap<String, (FailCode, f64)>,
    }

    struct Walk<'a> {
        scenario: &'a Scenario,
        deployment: &'a Deployment,
        faults: &'a Faults,
        refused: &'a BTreeMap<String, f64>,
        /// Per service: requests per second arriving, and the sum of rate x hold.
        offered: BTreeMap<String, (f64, f64)>,
    }

    impl Walk<'_> {
        /// `rate` attempts a second at `method` of `service`, reached over `api`, each
        /// given `limit` ms to answer.
        fn attempt(
            &mut self,
            service: &str,
            api: &str,
            method: Option<&str>,
            rate: f64,
            limit: f64,
        ) -> Ending {
            let version = self
                .deployment
                .version(service)
                .and_then(|v| self.scenario.version(service, v));
            let Some(version) = version else {
                return Ending::failing(FailCode::Unavailable, 0.0);
            };
            if !version.provides(api) || version.method(method).is_none() {
                return Ending::failing(FailCode::Unimplemented, ROUND_TRIP_MS);
            }
            if self.faults.hung.contains(service) {
                return Ending::failing(FailCode::DeadlineExceeded, limit);
            }
            let work = version.method(method).expect("checked above");
            let refused = self.refused.get(service).copied().unwrap_or(0.0);
            let served = rate * (1.0 - refused);
            // Served: the fault's errors, its own latency and errors, then its calls one
            // after another.
            let mut hold = ms(work.latency) + self.faults.slow.get(service).copied().unwrap_or(0.0);
            let mut fails = [0.0; FailCode::ALL.len()];
            let mut alive = 1.0;
            if let Some((code, share)) = self.faults.errors.get(service) {
                fails[*code as usize] += share;
                alive -= share;
            }
            fails[FailCode::Internal as usize] += alive * work.error_rate;
            alive *= 1.0 - work.error_rate;
            for call in work.calls {
                if call.asynchronous {
                    let _ = self.call(call, served * alive);
                    continue;
                }
                let mut share = alive;
                let mut next = Some(call);
                while let Some(call) = next.take() {
                    let callee = self.call(call, served * share);
                    hold += share * callee.wait;
                    let mut handled = 0.0;
                    for (i, code) in FailCode::ALL.iter().enumerate() {
                        let failed = share * callee.fails[i];
                        match call.on_failure.action(Some(*code)) {
                            Action::Fail => {
                                fails[i] += failed;
                                alive -= failed;
                            }
                            Action::Degrade | Action::Ignore => handled += failed,
                        }
                    }
                    if call.fallback.is_some() && handled > 0.0 {
                        share = handled;
                        next = call.fallback.as_deref();
                    }
                }
            }
            let entry = self.offered.entry(service.to_owned()).or_default();
            entry.0 += rate;
            entry.1 += rate * hold;
            let mut ending = Ending {
                fails: [0.0; FailCode::ALL.len()],
                wait: 0.0,
            };
            ending.fails[FailCode::ResourceExhausted as usize] = refused;
            let answered = hold + ROUND_TRIP_MS;
            if answered >= limit {
                ending.fails[FailCode::DeadlineExceeded as usize] += 1.0 - refused;
                ending.wait = refused * ROUND_TRIP_MS + (1.0 - refused) * limit;
            } else {
                for (i, share) in fails.iter().enumerate() {
                    ending.fails[i] += (1.0 - refused) * share;
                }
                ending.wait = refused * ROUND_TRIP_MS + (1.0 - refused) * answered;
            }
            ending
        }

        /// `rate` calls a second of `call`: its attempts one by one, attempt k + 1 made
        /// for the share whose k attempts all failed with a code the call retries, while
        /// k + 1 attempts fit in the call's timeout.
        fn call(&mut self, call: &Call, rate: f64) -> Ending {
            let timeout = ms(call.timeout);
            let limit = call
                .protect
                .per_try_timeout
                .map_or(timeout, ms)
                .min(timeout);
            let method = call.method.as_deref();
            // How an attempt ends does not depend on how many are made: learn it with no
            // load, then put the attempts' load on the callee.
            let one = self.attempt(&call.service, &call.api, method, 0.0, limit);
            let fits = |attempts: u32| f64::from(attempts) * one.wait <= timeout;
            let mut ending = Ending {
                fails: [0.0; FailCode::ALL.len()],
                wait: 0.0,
            };
            let mut reach = 1.0;
            let mut attempts = 0.0;
            for k in 0..=call.retries {
                attempts += reach;
                ending.wait += reach * one.wait;
                let last = k == call.retries || !fits(k + 2);
                let mut again = 0.0;
                for (i, code) in FailCode::ALL.iter().enumerate() {
                    let failed = reach * one.fails[i];
                    if !last && call.protect.retries_on(*code) {
                        again += failed;
                    } else {
                        ending.fails[i] += failed;
                    }
                }
                if last {
                    break;
                }
                reach = again;
            }
            let _ = self.attempt(&call.service, &call.api, method, rate * attempts, limit);
            ending.wait = ending.wait.min(timeout);
            ending
        }
    }

    /// Each entrypoint's share served in `deployment` with `faults` in force (`hang`,
    /// `latency` and `errors`; others are not walked), or `None` when 400 damped rounds
    /// did not settle.
    pub fn served(
        scenario: &Scenario,
        deployment: &Deployment,
        faults: &[&FaultKind],
    ) -> Option<BTreeMap<String, f64>> {
        let mut walked = Faults::default();
        for fault in faults {
            match fault {
                FaultKind::Hang(service) => {
                    walked.hung.insert(service.clone());
                }
                FaultKind::Latency {
                    service,
                    add,
                    jitter,
                } => {
                    *walked.slow.entry(service.clone()).or_default() +=
                        ms(*add) + ms(*jitter) / 2.0;
                }
                FaultKind::Errors {
                    service,
                    per_million,
                    code,
                } => {
                    walked
                        .errors
                        .insert(service.clone(), (*code, f64::from(*per_million) / 1e6));
                }
                _ => {}
            }
        }
        let mut refused: BTreeMap<String, f64> = BTreeMap::new();
        for _ in 0..400 {
            let mut walk = Walk {
                scenario,
                deployment,
                faults: &walked,
                refused: &refused,
                offered: BTreeMap::new(),
            };
            let mut served = BTreeMap::new();
            for entry in scenario.entrypoints() {
                let name = entry.name.as_str();
                let api = scenario.entry_api(name);
                let mix = scenario.load.mix_of(name);
                let total: f64 = mix.iter().map(|(_, w)| f64::from(*w)).sum();
                let rate = f64::from(scenario.load.rps_of(name));
                let mut share_served = 0.0;
                for (method, weight) in &mix {
                    let share = f64::from(*weight) / total;
                    let ending = walk.attempt(
                        name,
                        &api,
                        method.as_deref(),
                        rate * share,
                        ENTRY_DEADLINE_MS,
                    );
                    share_served += share * (1.0 - ending.fails.iter().sum::<f64>()).max(0.0);
                }
                served.insert(name.to_owned(), share_served);
            }
            let mut change: f64 = 0.0;
            let offered = std::mem::take(&mut walk.offered);
            for (service, (rate, held)) in offered {
                let Some(capacity) = deployment
                    .version(&service)
                    .and_then(|v| scenario.version(&service, v))
                    .and_then(|v| v.capacity)
                else {
                    continue;
                };
                let hold = if rate > 0.0 { held / rate } else { 0.0 };
                let replicas = f64::from(scenario.services[&service].replicas.max(1));
                let target = blocked(
                    rate / replicas * hold / 1000.0,
                    capacity.workers,
                    capacity.queue,
                );
                let old = refused.get(&service).copied().unwrap_or(0.0);
                let new = 0.5 * old + 0.5 * target;
                change = change.max((new - old).abs());
                refused.insert(service, new);
            }
            if change < 1e-9 {
                return Some(served);
            }
        }
        None
    }
}
