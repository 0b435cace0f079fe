//! The safe-order planner (pure): the rollout with the fewest steps in which no
//! entrypoint fails in any state, transient states included; or why none exists.
//!
//! Two methods, both checked state by state with the evaluator:
//! - up to [`EXACT_LIMIT`] changes (and [`EXACT_WORK`]), a breadth-first search over the
//!   settled states (sets of changes applied), trying every group of remaining changes
//!   as the next step: the plan found has the fewest steps and, among the plans of that
//!   many steps, the fewest degraded states, then the fewest degraded settled states (a
//!   degradation that lasts a transient is better than one that lasts a settled part);
//!   finding none proves that none exists;
//! - beyond that, ordering constraints read off the call graph ("pricing must finish
//!   before cart starts: cart v2 calls pricing api v2, which pricing v1 does not
//!   provide"), laid out in as few steps as the constraints allow (the longest chain), then
//!   verified. The constraints over-approximate (they are read off every version that
//!   can run), so a loop of them proves nothing there: the answer is "none found".
//!
//! The constraints also explain a missing order: a loop of them is the usual reason, and
//! the usual fix is an intermediate version that serves both API versions (expand, then
//! contract).
//!
//! Flag releases are ordered with the service changes: a release is one more change whose
//! step has no transient of its own (the switch is instant), so "deploy dark, then
//! release" is an order the search can find. The constraint method puts the releases
//! after every service change.
//!
//! Faults are not part of a safe order: it is about what is deployed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::topology;

use crate::eval::graph::{Graph, Level, State, flag_mask};
use crate::eval::{BrokenEdge, Evaluated, transient};
use crate::model::{Change, FlagChange, Move, Scenario, StepSpec};

/// Up to this many changes the search is exhaustive (3^n transitions at most)...
pub const EXACT_LIMIT: usize = 12;

/// ...when 3^n transitions times the ports of the graph stay within this many port
/// evaluations (about a second on the development machine).
pub const EXACT_WORK: u64 = 200_000_000;

/// The planner's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum SafeOrder {
    /// Steps, in order. `fewest` is true when the search was exhaustive.
    Found { steps: Vec<StepSpec>, fewest: bool },
    /// No safe order was found; each conflict says why, with a fix where one is known.
    /// `proven` is true when none exists (the initial or target state fails, a recreate
    /// window no order avoids, or the exhaustive search found none); false when only the
    /// ordering constraints were tried.
    NotFound {
        conflicts: Vec<Conflict>,
        proven: bool,
    },
}

/// One reason no order is safe (`report` words it, with its fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A state fails an entrypoint: the initial or target state, or one that every order
    /// (or every order tried) passes through. `entrypoint` and `edge` say which fails and
    /// the edge that fails it.
    FailingState {
        state: Passed,
        entrypoint: Option<String>,
        edge: Option<BrokenEdge>,
        /// Every broken call of the state, with the caller's version: the consumers the
        /// state strands (a target that drops an API some callers still use, say).
        broken: Vec<(String, BrokenEdge)>,
    },
    /// `service` is recreated (no replica ready while its new ones start) and `callers`
    /// require it in every version that can run, so some entrypoint fails in every order.
    RecreateWindow {
        service: String,
        callers: Vec<String>,
    },
    /// Changes that must each finish before the next starts, in a loop back to the first.
    /// `fix` is set when a link of the loop is a dropped API.
    Loop {
        links: Vec<Precedence>,
        fix: Option<ExpandContract>,
    },
    /// The constraints do not loop, yet no order of whole steps avoids a failing state.
    NoWholeSteps,
}

/// Which state a [`Conflict::FailingState`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    Initial,
    Target,
    /// A state every order passes through.
    EveryOrder,
    /// A state every order the constraint method tried passes through.
    EveryOrderTried,
}

/// `before` must finish before `after` starts, because of `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precedence {
    pub before: String,
    pub after: String,
    pub reason: Reason,
}

/// The fix of a loop with a dropped API: first ship a `service` version that provides
/// `api` and `new_apis`; then roll the callers forward; then drop `api`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandContract {
    pub service: String,
    pub api: String,
    pub new_apis: Vec<String>,
}

/// Why one change must wait for another: a call between a caller at `version` and a
/// callee that changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The caller's new version calls an API the callee's old version (`callee_from`,
    /// `None`: not deployed before) does not provide: the callee goes first.
    CallsNewApi {
        caller: String,
        version: String,
        callee: String,
        api: String,
        callee_from: Option<String>,
    },
    /// The callee's new version `to` drops an API the caller's old version calls: the
    /// caller goes first.
    DropsApi {
        callee: String,
        to: String,
        api: String,
        caller: String,
        version: String,
    },
    /// The callee is removed and the caller's old version calls it: the caller goes first.
    Removed {
        callee: String,
        caller: String,
        version: String,
    },
    /// The callee is recreated and the caller's version requires it.
    Recreated {
        callee: String,
        caller: String,
        version: String,
    },
}

/// "`before` must finish before `after` starts" (indices into the changes), and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Constraint {
    pub before: usize,
    pub after: usize,
    pub reason: Reason,
}

/// What the planner orders: the service changes, then the flag releases. Item `i` is
/// change `i` below `changes.len()`, and release `i - changes.len()` from there.
struct Items {
    changes: Vec<Change>,
    releases: Vec<FlagChange>,
    /// Per item: its slot in a state and the slot's value once the item is made.
    after: Vec<(usize, u8)>,
}

impl Items {
    fn new(graph: &Graph, scenario: &Scenario) -> Items {
        let changes = scenario.changes();
        let releases = scenario.releases();
        let target_flags = scenario.target_flags();
        let mut after: Vec<(usize, u8)> = changes
            .iter()
            .filter_map(|change| {
                let s = graph.service(&change.service)?;
                Some((s, graph.mask(s, change.to.as_deref())))
            })
            .collect();
        after.extend(releases.iter().filter_map(|release| {
            let slot = graph.flag_slot(release.flag())?;
            Some((slot, flag_mask(target_flags.share(release.flag()))))
        }));
        Items {
            changes,
            releases,
            after,
        }
    }

    fn len(&self) -> usize {
        self.after.len()
    }

    /// The state during a step that makes `group` from `before`: its services between
    /// versions, its flags already switched.
    fn during(&self, graph: &Graph, scenario: &Scenario, before: &State, group: &[usize]) -> State {
        let step: Vec<Change> = group
            .iter()
            .filter(|&&i| i < self.changes.len())
            .map(|&i| self.changes[i].clone())
            .collect();
        let mut state = transient(graph, scenario, before, &step);
        for &i in group.iter().filter(|&&i| i >= self.changes.len()) {
            let (slot, after) = self.after[i];
            state.serving[slot] = after;
        }
        state
    }

    /// `state` with `group` made.
    fn apply(&self, state: &mut State, group: &[usize]) {
        for &i in group {
            let (slot, after) = self.after[i];
            state.serving[slot] = after;
        }
    }

    fn spec(&self, group: &[usize]) -> StepSpec {
        let mut spec = StepSpec::default();
        for &i in group {
            match self.changes.get(i) {
                Some(change) => spec.services.push(change.service.clone()),
                None => spec
                    .flags
                    .push(self.releases[i - self.changes.len()].clone()),
            }
        }
        spec
    }
}

/// Plans the safe order of `scenario`'s changes and flag releases.
pub fn plan(graph: &Graph, scenario: &Scenario) -> SafeOrder {
    let items = Items::new(graph, scenario);
    let changes = &items.changes;
    let mut scratch = Vec::new();
    let mut levels = Vec::new();
    for (which, deployment, flags) in [
        (Passed::Initial, &scenario.initial, scenario.initial_flags()),
        (Passed::Target, &scenario.target, scenario.target_flags()),
    ] {
        let state = graph.settled(deployment, &flags);
        if graph.worst(&state, &mut scratch, &mut levels) == Level::Failed {
            return SafeOrder::NotFound {
                conflicts: vec![state_conflict(graph, &Evaluated::new(graph, state), which)],
                proven: true,
            };
        }
    }
    if items.len() == 0 {
        return SafeOrder::Found {
            steps: Vec::new(),
            fewest: true,
        };
    }
    let (constraints, windows) = constraints(graph, scenario, changes);
    if !windows.is_empty() {
        return SafeOrder::NotFound {
            conflicts: windows,
            proven: true,
        };
    }
    if exhaustive(graph, items.len()) {
        return match exact(graph, scenario, &items) {
            Some(groups) => SafeOrder::Found {
                steps: names(&items, &groups),
                fewest: true,
            },
            None => SafeOrder::NotFound {
                conflicts: explain_none(graph, scenario, &items, &constraints),
                proven: true,
            },
        };
    }
    by_constraints(graph, scenario, &items, &constraints)
}

/// Whether the exhaustive search over `n` changes fits the limits.
pub fn exhaustive(graph: &Graph, n: usize) -> bool {
    n <= EXACT_LIMIT
        && 3u64
            .pow(u32::try_from(n).unwrap_or(u32::MAX))
            .saturating_mul(graph.ports().max(1) as u64)
            <= EXACT_WORK
}

/// The constraint method alone, whatever the number of changes: what `plan` falls back
/// to beyond the exhaustive search. Public so that its results can be measured against
/// the exhaustive search on releases where both run.
pub fn plan_by_constraints(graph: &Graph, scenario: &Scenario) -> SafeOrder {
    let items = Items::new(graph, scenario);
    let (constraints, _) = constraints(graph, scenario, &items.changes);
    by_constraints(graph, scenario, &items, &constraints)
}

fn by_constraints(
    graph: &Graph,
    scenario: &Scenario,
    items: &Items,
    constraints: &[Constraint],
) -> SafeOrder {
    let Some(mut layers) = layers(items.changes.len(), constraints) else {
        return SafeOrder::NotFound {
            conflicts: explain_none(graph, scenario, items, constraints),
            proven: false,
        };
    };
    // The releases go once every service has moved: deploy dark, then release.
    let releases: Vec<usize> = (items.changes.len()..items.len()).collect();
    if !releases.is_empty() {
        layers.push(releases);
    }
    if first_failure(graph, scenario, items, &layers).is_none() {
        return SafeOrder::Found {
            steps: names(items, &layers),
            fewest: false,
        };
    }
    // Something the pairwise constraints do not see: try one change per step in an order
    // they allow before giving up.
    let single: Vec<Vec<usize>> = layers.iter().flatten().map(|&c| vec![c]).collect();
    match first_failure(graph, scenario, items, &single) {
        None => SafeOrder::Found {
            steps: names(items, &single),
            fewest: false,
        },
        Some(failing) => SafeOrder::NotFound {
            conflicts: vec![state_conflict(graph, &failing, Passed::EveryOrderTried)],
            proven: false,
        },
    }
}

fn names(items: &Items, groups: &[Vec<usize>]) -> Vec<StepSpec> {
    groups.iter().map(|group| items.spec(group)).collect()
}

/// The settled state with the changes in `applied` made.
fn settled(initial: &State, masks: &[(usize, u8)], applied: u32) -> State {
    let mut state = initial.clone();
    for (c, &(s, after)) in masks.iter().enumerate() {
        if applied & (1 << c) != 0 {
            state.serving[s] = after;
        }
    }
    state
}

/// Breadth-first search over sets of applied changes; each edge is one step (a group of
/// changes), allowed when its transient state and the state after it fail no entrypoint.
fn exact(graph: &Graph, scenario: &Scenario, items: &Items) -> Option<Vec<Vec<usize>>> {
    let n = items.len();
    let full: u32 = (1 << n) - 1;
    let initial = graph.settled(&scenario.initial, &scenario.initial_flags());
    let masks = &items.after;
    let mut scratch = Vec::new();
    let mut levels = Vec::new();
    let settled_level: Vec<Level> = (0..=full)
        .map(|applied| {
            let state = settled(&initial, masks, applied);
            graph.worst(&state, &mut scratch, &mut levels)
        })
        .collect();
    let size = (full as usize) + 1;
    let mut came_from: Vec<Option<(u32, u32)>> = vec![None; size];
    // Steps from the start; a set of changes is first reached at its fewest steps, and
    // every set one step further is reached only after all sets at this depth are out of
    // the queue, so the best of its equally short ways in is known before it goes on.
    let mut depth: Vec<Option<u32>> = vec![None; size];
    // Among the shortest ways: (degraded states, degraded settled states) passed through,
    // to prefer the least degraded order of the fewest steps.
    let mut cost: Vec<(u32, u32)> = vec![(0, 0); size];
    let mut queue = VecDeque::from([0u32]);
    depth[0] = Some(0);
    while let Some(applied) = queue.pop_front() {
        if applied == full {
            break;
        }
        let here = depth[applied as usize].unwrap_or(0);
        let remaining = full & !applied;
        // Every non-empty subset of the remaining changes, in decreasing bit-mask order
        // (the whole remainder first). An equally good way in found later does not
        // replace the first, so the same scenario always gets the same order.
        let mut group = remaining;
        while group != 0 {
            let next = applied | group;
            let settled_after = settled_level[next as usize];
            let reachable_now = depth[next as usize].is_none_or(|d| d == here + 1);
            if reachable_now && settled_after != Level::Failed {
                let before = settled(&initial, masks, applied);
                let step: Vec<usize> = (0..n).filter(|c| group & (1 << c) != 0).collect();
                let during = items.during(graph, scenario, &before, &step);
                let transient_level = graph.worst(&during, &mut scratch, &mut levels);
                if transient_level != Level::Failed {
                    let (states, settled_states) = cost[applied as usize];
                    let settled_degraded = u32::from(settled_after == Level::Degraded);
                    let this = (
                        states + u32::from(transient_level == Level::Degraded) + settled_degraded,
                        settled_states + settled_degraded,
                    );
                    if depth[next as usize].is_none() {
                        depth[next as usize] = Some(here + 1);
                        cost[next as usize] = this;
                        came_from[next as usize] = Some((applied, group));
                        queue.push_back(next);
                    } else if this < cost[next as usize] {
                        cost[next as usize] = this;
                        came_from[next as usize] = Some((applied, group));
                    }
                }
            }
            group = (group - 1) & remaining;
        }
    }
    depth[full as usize]?;
    let mut groups = Vec::new();
    let mut at = full;
    while let Some((from, group)) = came_from[at as usize] {
        groups.push((0..n).filter(|c| group & (1 << c) != 0).collect());
        at = from;
    }
    groups.reverse();
    Some(groups)
}

/// The services every entry request of some entrypoint reaches in every state a rollout
/// can pass through: the entrypoints deployed before and after, then, step by step, each
/// service that a member, deployed before and after, calls with `on_failure: fail` in
/// every version it can run. While a service of this set has no ready replica, some
/// entrypoint fails whatever the order; outside it, a recreate window may be avoidable
/// (its callers may leave, or stop being called, before it), so the search decides.
fn always_required(graph: &Graph, scenario: &Scenario) -> BTreeSet<usize> {
    let stays = |name: &str| {
        scenario.initial.version(name).is_some() && scenario.target.version(name).is_some()
    };
    let seeds = scenario
        .entrypoints()
        .filter(|service| stays(&service.name))
        .filter_map(|service| graph.service(&service.name));
    reach(seeds, |s| {
        let name = &graph.services[s];
        if !stays(name) {
            return Vec::new();
        }
        let mut required: Option<BTreeSet<&str>> = None;
        for version in &graph.versions[s] {
            // A call behind a flag is not made while the flag is off, so it does not make
            // its callee required in every state. With methods, a callee is required only
            // when every method requires it (the mix decides which methods are called;
            // this errs towards "not always required", which only leaves more to the
            // search).
            let mut calls: Option<BTreeSet<&str>> = None;
            for (_, work) in scenario
                .version(name, version)
                .into_iter()
                .flat_map(|v| v.all_methods())
            {
                let mine: BTreeSet<&str> = work
                    .calls
                    .iter()
                    .filter(|call| {
                        call.on_failure.always_fails() && call.flag.is_none() && !call.asynchronous
                    })
                    .map(|call| call.service.as_str())
                    .collect();
                calls = Some(match calls {
                    None => mine,
                    Some(so_far) => so_far.intersection(&mine).copied().collect(),
                });
            }
            let calls = calls.unwrap_or_default();
            required = Some(match required {
                None => calls,
                Some(so_far) => so_far.intersection(&calls).copied().collect(),
            });
        }
        required
            .unwrap_or_default()
            .into_iter()
            .filter_map(|callee| graph.service(callee))
            .collect()
    })
}

/// Every service reached from `seeds` by following `next` (a worklist: each service is
/// expanded once).
fn reach(
    seeds: impl IntoIterator<Item = usize>,
    next: impl Fn(usize) -> Vec<usize>,
) -> BTreeSet<usize> {
    let mut reached: BTreeSet<usize> = BTreeSet::new();
    let mut work: Vec<usize> = Vec::new();
    for seed in seeds {
        if reached.insert(seed) {
            work.push(seed);
        }
    }
    while let Some(s) = work.pop() {
        for t in next(s) {
            if reached.insert(t) {
                work.push(t);
            }
        }
    }
    reached
}

/// For each (service, version) that can run: could its failure fail an entrypoint? True
/// for entrypoints, and for versions called with `fail` by such a version of any caller
/// (over every runnable version, so this errs towards caution).
fn critical(graph: &Graph, scenario: &Scenario) -> BTreeSet<(String, String)> {
    let seeds = scenario
        .entrypoints()
        .filter_map(|service| graph.service(&service.name));
    let critical = reach(seeds, |s| {
        let name = &graph.services[s];
        graph.versions[s]
            .iter()
            .filter_map(|version| scenario.version(name, version))
            .flat_map(|v| v.every_call())
            .filter(|call| call.on_failure.can_fail() && !call.asynchronous)
            .filter_map(|call| graph.service(&call.service))
            .collect()
    });
    critical
        .into_iter()
        .flat_map(|s| {
            graph.versions[s]
                .iter()
                .map(move |v| (graph.services[s].clone(), v.clone()))
        })
        .collect()
}

/// Ordering constraints between changes, and the windows no order avoids.
fn constraints(
    graph: &Graph,
    scenario: &Scenario,
    changes: &[Change],
) -> (Vec<Constraint>, Vec<Conflict>) {
    let critical = critical(graph, scenario);
    let always = always_required(graph, scenario);
    let mut found = Constraints {
        scenario,
        changes,
        position: changes
            .iter()
            .enumerate()
            .map(|(i, change)| (change.service.as_str(), i))
            .collect(),
        found: BTreeSet::new(),
    };
    let mut windows = Vec::new();
    // Every required call, indexed by callee once: each change looks up its callers
    // instead of scanning every call of the fleet (linear, not changes x calls).
    let mut by_callee: BTreeMap<&str, Vec<RequiredCall<'_>>> = BTreeMap::new();
    for required in required_calls(graph, scenario, &critical) {
        by_callee
            .entry(required.2.service.as_str())
            .or_default()
            .push(required);
    }
    for (y, callee) in changes.iter().enumerate() {
        let callers = by_callee
            .get(callee.service.as_str())
            .map_or(&[][..], Vec::as_slice);
        for &(caller, version, call) in callers {
            found.call(y, caller, version, call);
        }
        if let Some(window) = recreate_window(graph, scenario, &always, callee, callers) {
            windows.push(window);
        }
    }
    (found.found.into_iter().collect(), windows)
}

/// A call that can fail its caller: (caller, version, call).
type RequiredCall<'a> = (&'a str, &'a str, &'a crate::model::Call);

/// Every call that can fail its caller, of a critical runnable version.
fn required_calls<'a>(
    graph: &'a Graph,
    scenario: &'a Scenario,
    critical: &'a BTreeSet<(String, String)>,
) -> impl Iterator<Item = RequiredCall<'a>> + 'a {
    scenario
        .services
        .iter()
        .flat_map(move |(caller_name, caller)| {
            let versions = graph
                .service(caller_name)
                .map(|s| graph.versions[s].as_slice())
                .unwrap_or_default();
            versions
                .iter()
                .filter(move |version| {
                    critical.contains(&(caller_name.clone(), (*version).clone()))
                })
                .filter_map(move |version| Some((version, caller.versions.get(version)?)))
                .flat_map(move |(version, definition)| {
                    definition
                        .every_call()
                        .filter(|call| call.on_failure.can_fail() && !call.asynchronous)
                        .map(move |call| (caller_name.as_str(), version.as_str(), call))
                })
        })
}

/// The ordering constraints found so far among the changes.
struct Constraints<'a> {
    scenario: &'a Scenario,
    changes: &'a [Change],
    /// Each changed service's index in `changes`.
    position: BTreeMap<&'a str, usize>,
    found: BTreeSet<Constraint>,
}

impl Constraints<'_> {
    fn provides(&self, service: &str, version: Option<&str>, api: &str) -> bool {
        version
            .and_then(|v| self.scenario.version(service, v))
            .is_some_and(|v| v.provides(api))
    }

    /// What one required call of `caller` `version` to changed service `y` asks of the
    /// order: a caller's new version that needs the callee's new API moves after it; an
    /// old version that needs an API the callee drops (or a callee removed) moves before
    /// it; a recreated callee needs its old callers gone first and its new callers after.
    fn call(&mut self, y: usize, caller: &str, version: &str, call: &crate::model::Call) {
        let callee = &self.changes[y];
        let Some(&x) = self.position.get(caller) else {
            return;
        };
        let change = &self.changes[x];
        let old_has = self.provides(&callee.service, callee.from.as_deref(), &call.api);
        let new_has = self.provides(&callee.service, callee.to.as_deref(), &call.api);
        let recreate = self.scenario.move_of(callee) == Move::Recreate;
        let is_old = change.from.as_deref() == Some(version);
        let is_new = change.to.as_deref() == Some(version);
        let mut add = |before: usize, after: usize, reason: Reason| {
            self.found.insert(Constraint {
                before,
                after,
                reason,
            });
        };
        if is_new && !old_has && new_has {
            add(
                y,
                x,
                Reason::CallsNewApi {
                    caller: caller.to_owned(),
                    version: version.to_owned(),
                    callee: callee.service.clone(),
                    api: call.api.clone(),
                    callee_from: callee.from.clone(),
                },
            );
        }
        if is_old && old_has && !new_has {
            let reason = match &callee.to {
                Some(to) => Reason::DropsApi {
                    callee: callee.service.clone(),
                    to: to.clone(),
                    api: call.api.clone(),
                    caller: caller.to_owned(),
                    version: version.to_owned(),
                },
                None => Reason::Removed {
                    callee: callee.service.clone(),
                    caller: caller.to_owned(),
                    version: version.to_owned(),
                },
            };
            add(x, y, reason);
        }
        let recreated = || Reason::Recreated {
            callee: callee.service.clone(),
            caller: caller.to_owned(),
            version: version.to_owned(),
        };
        if recreate && is_old {
            add(x, y, recreated());
        }
        if recreate && is_new {
            add(y, x, recreated());
        }
    }
}

/// A recreate window cannot be ordered away when the service is always required (see
/// `always_required`): the conflict, naming the callers that make it so.
fn recreate_window(
    graph: &Graph,
    scenario: &Scenario,
    always: &BTreeSet<usize>,
    callee: &Change,
    callers: &[RequiredCall<'_>],
) -> Option<Conflict> {
    let recreate = scenario.move_of(callee) == Move::Recreate;
    let required = graph
        .service(&callee.service)
        .is_some_and(|y| always.contains(&y));
    if !recreate || !required {
        return None;
    }
    // Per caller, its versions that require the service.
    let mut window_callers: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for &(caller, version, _) in callers {
        if let Some(s) = graph.service(caller) {
            window_callers.entry(s).or_default().insert(version);
        }
    }
    let blocked: Vec<String> = window_callers
        .iter()
        .filter(|(s, versions)| always.contains(s) && versions.len() >= graph.versions[**s].len())
        .map(|(s, _)| graph.services[*s].clone())
        .collect();
    (!blocked.is_empty()).then(|| Conflict::RecreateWindow {
        service: callee.service.clone(),
        callers: blocked,
    })
}

/// Steps as few as the constraints allow: each change goes one step after the latest of
/// the changes it must follow. `None` when the constraints loop.
fn layers(n: usize, constraints: &[Constraint]) -> Option<Vec<Vec<usize>>> {
    topology::layers(n, &constraint_edges(n, constraints))
}

/// The constraints as a graph over changes: an edge from each change to those that must
/// wait for it.
fn constraint_edges(n: usize, constraints: &[Constraint]) -> Vec<Vec<usize>> {
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for constraint in constraints {
        edges[constraint.before].push(constraint.after);
    }
    for list in &mut edges {
        list.sort_unstable();
        list.dedup();
    }
    edges
}

/// The first state of `groups` (as steps) in which an entrypoint fails, if any.
fn first_failure(
    graph: &Graph,
    scenario: &Scenario,
    items: &Items,
    groups: &[Vec<usize>],
) -> Option<Evaluated> {
    let mut state = graph.settled(&scenario.initial, &scenario.initial_flags());
    let mut scratch = Vec::new();
    let mut levels = Vec::new();
    for group in groups {
        let during = items.during(graph, scenario, &state, group);
        if graph.worst(&during, &mut scratch, &mut levels) == Level::Failed {
            return Some(Evaluated::new(graph, during));
        }
        items.apply(&mut state, group);
        if graph.worst(&state, &mut scratch, &mut levels) == Level::Failed {
            return Some(Evaluated::new(graph, state));
        }
    }
    None
}

/// Why no order is safe: the loops among the constraints, each with the usual fix; or,
/// when the constraints do not loop, the first failing state of the order they allow.
fn explain_none(
    graph: &Graph,
    scenario: &Scenario,
    items: &Items,
    constraints: &[Constraint],
) -> Vec<Conflict> {
    let changes = &items.changes;
    let n = changes.len();
    let cycles = topology::cycles(&constraint_edges(n, constraints), 5);
    if cycles.is_empty() {
        let order: Vec<Vec<usize>> = layers(n, constraints)
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .chain(n..items.len())
            .map(|c| vec![c])
            .collect();
        return match first_failure(graph, scenario, items, &order) {
            Some(failing) => vec![state_conflict(graph, &failing, Passed::EveryOrder)],
            None => vec![Conflict::NoWholeSteps],
        };
    }
    cycles
        .iter()
        .map(|cycle| {
            let mut links = Vec::new();
            for (i, &before) in cycle.iter().enumerate() {
                let after = cycle[(i + 1) % cycle.len()];
                if let Some(constraint) = constraints
                    .iter()
                    .find(|c| c.before == before && c.after == after)
                {
                    links.push(Precedence {
                        before: changes[before].service.clone(),
                        after: changes[after].service.clone(),
                        reason: constraint.reason.clone(),
                    });
                }
            }
            let fix = links.iter().find_map(|link| match &link.reason {
                Reason::DropsApi {
                    callee, to, api, ..
                } => Some(ExpandContract {
                    service: callee.clone(),
                    api: api.clone(),
                    new_apis: scenario
                        .version(callee, to)
                        .map(|v| v.provides.clone())
                        .unwrap_or_default(),
                }),
                _ => None,
            });
            Conflict::Loop { links, fix }
        })
        .collect()
}

/// A conflict that is one failing state: the first entrypoint that fails in it, and why.
fn state_conflict(graph: &Graph, evaluated: &Evaluated, state: Passed) -> Conflict {
    let failing = evaluated
        .predictions
        .iter()
        .enumerate()
        .find(|(_, prediction)| prediction.level == Level::Failed);
    let mut broken = graph.broken_edges(&evaluated.state);
    broken.sort();
    broken.dedup();
    Conflict::FailingState {
        state,
        entrypoint: failing.map(|(entry, _)| graph.entry_name(entry).to_owned()),
        edge: failing.and_then(|(_, prediction)| prediction.edge.as_deref().cloned()),
        broken,
    }
}

#[cfg(test)]
mod tests;
