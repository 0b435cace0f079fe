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
    Change, Deployment, FaultKind, FlagChange, Flags, OnFailure, Rollout, Scenario,
};

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
        }
    }
}

/// Which outcomes a request can have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Possible {
    pub ok: bool,
    pub degraded: bool,
    pub failed: bool,
}

impl Possible {
    const FAILED: Possible = Possible {
        ok: false,
        degraded: false,
        failed: true,
    };

    pub fn worst(self) -> Level {
        if self.failed {
            Level::Failed
        } else if self.degraded {
            Level::Degraded
        } else {
            Level::Ok
        }
    }
}

/// How likely each outcome is, when every call picks a serving version at random.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Odds {
    pub ok: f64,
    pub degraded: f64,
    pub failed: f64,
}

impl Odds {
    const FAILED: Odds = Odds {
        ok: 0.0,
        degraded: 0.0,
        failed: 1.0,
    };

    /// The chance that a request ends at `level` or worse.
    pub fn at_least(&self, level: Level) -> f64 {
        match level {
            Level::Ok => 1.0,
            Level::Degraded => self.degraded + self.failed,
            Level::Failed => self.failed,
        }
    }
}

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
    /// assignment a user can have there.
    pub fn possible(&self, state: &RefState, entry: &str) -> Possible {
        let api = self.scenario.entry_api(entry);
        let mut result = Possible::default();
        for (on, _) in state.assignments() {
            let mine = self.call_possible(state, &on, None, entry, &api, &mut HashMap::new());
            result.ok |= mine.ok;
            result.degraded |= mine.degraded;
            result.failed |= mine.failed;
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

    fn call_possible(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        caller: Option<&str>,
        callee: &str,
        api: &str,
        memo: &mut HashMap<(String, String), Possible>,
    ) -> Possible {
        if let Some(caller) = caller
            && state.cut.contains(&(caller.to_owned(), callee.to_owned()))
        {
            return Possible::FAILED;
        }
        let key = (callee.to_owned(), api.to_owned());
        if let Some(known) = memo.get(&key) {
            return *known;
        }
        let mut result = Possible::default();
        let serving = state.serving.get(callee).cloned().unwrap_or_default();
        if serving.is_empty() || state.may_be_down.contains(callee) {
            result = Possible::FAILED;
        }
        for version in &serving {
            let definition = self
                .scenario
                .version(callee, version)
                .expect("a serving version is defined");
            let mine = if definition.provides(api) {
                self.version_possible(state, on, callee, version, memo)
            } else {
                Possible::FAILED
            };
            result.ok |= mine.ok;
            result.degraded |= mine.degraded;
            result.failed |= mine.failed;
        }
        memo.insert(key, result);
        result
    }

    /// Every call picks its callee's version on its own, so the outcomes of a version
    /// are the combinations of its calls' outcomes.
    fn version_possible(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        service: &str,
        version: &str,
        memo: &mut HashMap<(String, String), Possible>,
    ) -> Possible {
        let definition = self.scenario.version(service, version).expect("defined");
        // After on_failure: can each call end fine, degraded, or fail the caller?
        let mut all_can_be_ok = true;
        let mut all_can_avoid_failing = true;
        let mut some_can_degrade = false;
        let mut some_can_fail = false;
        for call in &definition.calls {
            if call.flag.as_ref().is_some_and(|flag| !on.contains(flag)) {
                continue;
            }
            let reached =
                self.call_possible(state, on, Some(service), &call.service, &call.api, memo);
            let (ok, degraded, failed) = match call.on_failure {
                OnFailure::Fail => (reached.ok, reached.degraded, reached.failed),
                OnFailure::Degrade => (reached.ok, reached.degraded || reached.failed, false),
            };
            all_can_be_ok &= ok;
            all_can_avoid_failing &= ok || degraded;
            some_can_degrade |= degraded;
            some_can_fail |= failed;
        }
        Possible {
            ok: all_can_be_ok,
            degraded: all_can_avoid_failing && some_can_degrade,
            failed: some_can_fail,
        }
    }

    /// The odds of an entry request to `entry` in `state`: over the flag assignments,
    /// weighed by their chance (a flag at N% is on for about N% of users).
    pub fn odds(&self, state: &RefState, entry: &str) -> Odds {
        let api = self.scenario.entry_api(entry);
        let mut odds = Odds {
            ok: 0.0,
            degraded: 0.0,
            failed: 0.0,
        };
        for (on, chance) in state.assignments() {
            let mine = self.call_odds(state, &on, None, entry, &api);
            odds.ok += chance * mine.ok;
            odds.degraded += chance * mine.degraded;
            odds.failed += chance * mine.failed;
        }
        odds
    }

    fn call_odds(
        &self,
        state: &RefState,
        on: &BTreeSet<String>,
        caller: Option<&str>,
        callee: &str,
        api: &str,
    ) -> Odds {
        if let Some(caller) = caller
            && state.cut.contains(&(caller.to_owned(), callee.to_owned()))
        {
            return Odds::FAILED;
        }
        let Some(serving) = state.serving.get(callee).filter(|s| !s.is_empty()) else {
            return Odds::FAILED;
        };
        let share = 1.0 / serving.len() as f64;
        let mut odds = Odds {
            ok: 0.0,
            degraded: 0.0,
            failed: 0.0,
        };
        for version in serving {
            let definition = self.scenario.version(callee, version).expect("defined");
            let mine = if definition.provides(api) {
                // Calls are independent: the request fails if any failing call fails, and
                // is fine only if every call is.
                let mut no_failure = 1.0;
                let mut fine = 1.0;
                for call in &definition.calls {
                    if call.flag.as_ref().is_some_and(|flag| !on.contains(flag)) {
                        continue;
                    }
                    let reached = self.call_odds(state, on, Some(callee), &call.service, &call.api);
                    if call.on_failure == OnFailure::Fail {
                        no_failure *= 1.0 - reached.failed;
                    }
                    fine *= reached.ok;
                }
                Odds {
                    ok: fine,
                    degraded: (no_failure - fine).max(0.0),
                    failed: 1.0 - no_failure,
                }
            } else {
                Odds::FAILED
            };
            odds.ok += share * mine.ok;
            odds.degraded += share * mine.degraded;
            odds.failed += share * mine.failed;
        }
        odds
    }

    /// True when no entrypoint can fail in `state`.
    pub fn safe(&self, state: &RefState) -> bool {
        self.entries()
            .iter()
            .all(|entry| !self.possible(state, entry).failed)
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
