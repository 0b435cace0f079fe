//! What a live run measured, as data: each step's requests and prediction, how the run
//! ended, its expectations, and the one verdict over every strategy.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::contract::{CLIENT, Edge};
use crate::eval::{Graph, Level, StepLevels};
use crate::model::{Breach, Call, Change, DEFAULT_METHOD, FlagChange, Flags, Scenario, Strategy};
use crate::plan::PlanError;
use crate::record::expect::Expectation;
use crate::record::tally::Tally;
use crate::record::traffic::{EdgeCounts, StepTraffic, TrafficTotals};
use crate::record::{Event, Folded, Lag, Parts, StepKind};
pub use crate::verdict::Verdict;

/// One step as measured.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub index: usize,
    pub kind: StepKind,
    pub changes: Vec<Change>,
    /// The step's flag changes: made at its start in a rollout step and a kill switch,
    /// at the end of its moves in a rollback step (undo in reverse order).
    pub flag_changes: Vec<FlagChange>,
    /// Every flag's state once the step's changes are made.
    pub flags: Flags,
    /// The calls each edge carried for the step's requests, and what each service
    /// received.
    pub traffic: StepTraffic,
    pub by_entry: BTreeMap<String, Tally>,
    /// Per entrypoint, requests sent and answered in the transient and the settled part,
    /// counted apart from `by_entry` (see [`crate::record::Counts`]).
    pub parts: BTreeMap<String, Parts>,
    /// Every entrypoint merged.
    pub total: Tally,
    /// Faults that started or ended during the step.
    pub events: Vec<Event>,
    /// The gate was checked after this step and its failed ratio was over the limit.
    pub gate_breached: bool,
    /// Wall time from the start of the step to the end of its bake time.
    pub duration: Duration,
    /// What `check` predicts for the step, with the faults that were in force.
    pub predicted: StepLevels,
    /// Per entrypoint (in `Graph::entries` order): the worst outcome measured, `None`
    /// when no request of that entrypoint was sent in the step.
    pub measured: Vec<Option<Level>>,
    /// How far the harness fell behind in the step.
    pub lag: Lag,
    /// The load of the step's settled part as `check` predicts it by Little's law (a
    /// scenario with something that acts on time or load only).
    pub load: Option<crate::eval::demand::Demand>,
}

/// How far a settled part's measured share served may be from the decided prediction
/// and still agree: in virtual time, 0.05 (the queue a step starts with, and the requests
/// a step's first moments send before it fills, move a share of a few hundred requests
/// by a few points); live, 0.1, and only where the machine kept up.
pub const LOAD_BOUND_SIM: f64 = 0.05;
pub const LOAD_BOUND_LIVE: f64 = 0.1;

impl StepResult {
    /// Per entrypoint, the share of the settled part's requests answered (ok or
    /// degraded); `None` where none was sent.
    pub fn settled_served(&self) -> BTreeMap<String, Option<f64>> {
        self.parts
            .iter()
            .map(|(entry, parts)| {
                let settled = parts[1];
                let share = (settled.sent > 0)
                    .then(|| (settled.ok + settled.degraded) as f64 / settled.sent as f64);
                (entry.clone(), share)
            })
            .collect()
    }

    /// Whether the settled part's measured shares agree with the decided load
    /// prediction within `bound`, for a settled part lasting `part`; `None` when there
    /// is none to hold them to (no load prediction, an undecided one, a part too short
    /// for it, or nothing measured).
    pub fn load_agrees(&self, bound: f64, part: std::time::Duration) -> Option<bool> {
        let load = self.load.as_ref().filter(|load| load.decided_over(part))?;
        let measured = self.settled_served();
        let mut compared = false;
        for (entry, predicted) in &load.served {
            if let Some(Some(share)) = measured.get(entry) {
                compared = true;
                if (share - predicted).abs() > bound {
                    return Some(false);
                }
            }
        }
        compared.then_some(true)
    }

    /// Whether the machine kept up with the step (see [`Lag::kept_up`]): only then is
    /// its measurement the services', to compare with the prediction and to judge.
    pub fn kept_up(&self) -> bool {
        self.lag.kept_up()
    }

    /// True when every entrypoint's measured outcome is one the prediction allows (the
    /// predicted level, or, where a moment of the step may or may not be met, a level
    /// between what is sure and the worst).
    pub fn agrees(&self) -> bool {
        self.measured
            .iter()
            .enumerate()
            .all(|(entry, measured)| measured.is_none_or(|m| self.predicted.allows(entry, m)))
    }
}

/// The worst outcome among a tally's requests.
pub fn measured_level(tally: &Tally) -> Option<Level> {
    worst_level(tally.ok, tally.degraded, tally.failed)
}

/// The worst outcome among requests counted as ok, degraded and failed; `None` when
/// there were none.
pub fn worst_level(ok: u64, degraded: u64, failed: u64) -> Option<Level> {
    if failed > 0 {
        Some(Level::Failed)
    } else if degraded > 0 {
        Some(Level::Degraded)
    } else if ok > 0 {
        Some(Level::Ok)
    } else {
        None
    }
}

/// How a strategy's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every planned step ran.
    Completed,
    /// The gate breached and the rollout went back to `initial`.
    RolledBack,
    /// The gate breached and the rollout stopped where it was.
    Stopped,
    /// The gate breached and the kill switch unreleased the flags; the rollout stopped.
    Switched,
    /// Ctrl-C.
    Interrupted,
}

/// How a breach was mitigated, and what it cost until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mitigation {
    /// Rollback or kill switch.
    pub action: Breach,
    /// The step (index into the run's steps) whose gate breached.
    pub breached_step: usize,
    /// The step (index into the run's steps) from whose settled part on no entry request
    /// failed: service restored. `None` when the mitigation never got there.
    pub restored_in: Option<usize>,
    /// From the gate's decision to the restoration (the kill switch's flip, or the end of
    /// the moves of the rollback step that left the failure behind); to the end of the
    /// mitigation's last moves when service was not restored.
    pub time: Duration,
    /// Entry requests that failed before service was restored: those of the breached
    /// step and those of the mitigation until then.
    pub failed_before: u64,
    /// Entry requests of the mitigation that failed after it (0 once restored, unless a
    /// later step failed again).
    pub failed_after: u64,
}

/// One strategy's live run.
#[derive(Debug, Clone)]
pub struct StrategyRun {
    pub strategy: Strategy,
    pub steps: Vec<StepResult>,
    pub ending: Ending,
    /// Every entry request of the run.
    pub total: Tally,
    /// The strategy's expectations, judged against `total`.
    pub expectations: Vec<Expectation>,
    pub duration: Duration,
    /// Faults (indices into the scenario's) whose step never started in this run.
    pub faults_never_fired: Vec<usize>,
    /// Entry requests the load generator scheduled; every one of them is in `total`.
    pub scheduled: u64,
    /// The version of every replica still running when the rollout ended, per service.
    pub running: BTreeMap<String, Vec<String>>,
    /// The rollout steps the plan has (after the baseline); a run the gate stopped, or
    /// Ctrl-C, ran fewer.
    pub planned_steps: usize,
    /// The scenario compiled for predictions; names the entrypoints of `measured`.
    pub graph: Graph,
    /// How a gate breach was mitigated (rollback or kill switch), when one was.
    pub mitigation: Option<Mitigation>,
    /// Traffic counts refused because their request named a step the run never had: a
    /// request no load of the run sent (a local process calling a replica).
    pub stray: u64,
    /// Every edge's calls and every service's requests over the whole run.
    pub traffic: TrafficTotals,
    /// Whether every edge's counts are in each step's traffic, or (a fleet too large for
    /// that) only the flagged, ignoring and asynchronous calls'.
    pub every_step_traffic: bool,
    /// Per entrypoint, the steps whose requests were all ok, when a fleet too large to
    /// keep a tally per entrypoint and step folded them (they are then not in the steps'
    /// `by_entry`); empty otherwise.
    pub folded: BTreeMap<String, Folded>,
}

/// One entrypoint's requests over a whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryTotal {
    pub name: String,
    pub ok: u64,
    pub degraded: u64,
    pub failed: u64,
    /// The worst p99 latency of one step, in milliseconds.
    pub worst_p99: f64,
    /// The first step with a failed request of this entrypoint.
    pub first_failed: Option<StepKind>,
}

impl StrategyRun {
    /// Each entrypoint (in the graph's order) over the whole run: its steps' tallies and
    /// the steps folded away as all ok.
    pub fn entry_totals(&self) -> Vec<EntryTotal> {
        self.graph
            .entry_names()
            .into_iter()
            .map(|name| {
                let folded = self.folded.get(&name).copied().unwrap_or_default();
                let mut entry = EntryTotal {
                    name,
                    ok: folded.ok,
                    degraded: 0,
                    failed: 0,
                    worst_p99: folded.worst_p99,
                    first_failed: None,
                };
                for step in &self.steps {
                    let Some(tally) = step.by_entry.get(&entry.name) else {
                        continue;
                    };
                    entry.ok += tally.ok;
                    entry.degraded += tally.degraded;
                    entry.failed += tally.failed;
                    entry.worst_p99 = entry.worst_p99.max(tally.percentiles().p99);
                    if tally.failed > 0 && entry.first_failed.is_none() {
                        entry.first_failed = Some(step.kind);
                    }
                }
                entry
            })
            .collect()
    }

    pub fn graceful(&self) -> bool {
        self.total.failed == 0
    }

    /// Per edge, the attempts it sent per entry request over the run: how much load
    /// one request sent puts on each callee (retries multiply it; an edge not on every
    /// request's path is below 1). Empty when no entry request was sent.
    pub fn amplification(&self) -> BTreeMap<String, f64> {
        let requests = self.total.ok + self.total.degraded + self.total.failed;
        if requests == 0 {
            return BTreeMap::new();
        }
        self.traffic
            .edges
            .iter()
            .map(|(edge, counts)| (edge.clone(), counts.tries.attempts as f64 / requests as f64))
            .collect()
    }

    /// True when the run was judged and every expectation held: a run the machine could
    /// not keep up with, or one that was interrupted, has not passed.
    pub fn passed(&self) -> bool {
        self.judged() && self.expectations.iter().all(|expectation| expectation.held)
    }

    /// This strategy's own verdict, by the rule of the whole run's ([`Verdict::of`]).
    pub fn verdict(&self) -> Verdict {
        if self.ending == Ending::Interrupted {
            return Verdict::Interrupted;
        }
        let name = |yes: bool| {
            if yes {
                vec![self.strategy.name.clone()]
            } else {
                Vec::new()
            }
        };
        Verdict::from_parts(
            name(self.judged() && !self.passed()),
            name(!self.judged()),
            !self.strategy.expect.is_empty(),
        )
    }

    /// Whether the machine kept up with every step of the run.
    pub fn kept_up(&self) -> bool {
        self.steps.iter().all(StepResult::kept_up)
    }

    /// Whether the expectations were judged: the run finished (not interrupted) and the
    /// machine kept up with every step. Otherwise the run neither passes nor fails.
    pub fn judged(&self) -> bool {
        self.ending != Ending::Interrupted && self.kept_up()
    }
}

/// A strategy the live run did not run: it cannot be planned (no safe order exists, or
/// none was found).
#[derive(Debug, Clone)]
pub struct Unplanned {
    pub strategy: Strategy,
    pub error: PlanError,
}

/// Everything one live run of a scenario measured: each strategy's run, the strategies
/// it could not run, and whether Ctrl-C stopped it.
#[derive(Debug, Clone, Default)]
pub struct LiveRun {
    pub runs: Vec<StrategyRun>,
    pub unplanned: Vec<Unplanned>,
    pub interrupted: bool,
    /// `--expect graceful` gave strategies their expectation: the rerun hint repeats it.
    pub expect_graceful: bool,
}

impl LiveRun {
    /// What the comparison and the verdict need of the run.
    pub fn summary(&self, scenario: &Scenario) -> LiveSummary {
        LiveSummary {
            runs: self.runs.iter().map(|run| run.summary(scenario)).collect(),
            unplanned: self.unplanned.clone(),
            interrupted: self.interrupted,
            expect_graceful: self.expect_graceful,
        }
    }
}

/// One strategy's run as the comparison and the verdict see it: its totals and what was
/// judged, without its steps. A run of a large fleet is summarised as soon as its steps
/// are reported, so the runs of every strategy are never held at once.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub strategy: Strategy,
    pub total: Tally,
    pub ending: Ending,
    pub duration: Duration,
    pub expectations: Vec<Expectation>,
    /// Steps whose measurement differs from the prediction (the machine kept up).
    pub differing: Vec<StepKind>,
    /// Steps the machine fell behind in: not measured.
    pub unmeasured: Vec<StepKind>,
    /// Calls whose failures no entry request heard of (asynchronous, or ignored), with
    /// how many failed over the run.
    pub swallowed: Vec<UnseenFailures>,
}

impl RunSummary {
    pub fn graceful(&self) -> bool {
        self.total.failed == 0
    }

    /// See [`StrategyRun::judged`].
    pub fn judged(&self) -> bool {
        self.ending != Ending::Interrupted && self.unmeasured.is_empty()
    }

    /// See [`StrategyRun::passed`].
    pub fn passed(&self) -> bool {
        self.judged() && self.expectations.iter().all(|expectation| expectation.held)
    }
}

impl StrategyRun {
    /// The run without its steps.
    pub fn summary(&self, scenario: &Scenario) -> RunSummary {
        let kinds = |keep: &dyn Fn(&StepResult) -> bool| -> Vec<StepKind> {
            self.steps
                .iter()
                .filter(|step| keep(step))
                .map(|step| step.kind)
                .collect()
        };
        RunSummary {
            strategy: self.strategy.clone(),
            total: self.total.clone(),
            ending: self.ending,
            duration: self.duration,
            expectations: self.expectations.clone(),
            differing: kinds(&|step| step.kept_up() && !step.agrees()),
            unmeasured: kinds(&|step| !step.kept_up()),
            swallowed: unseen_in(
                scenario,
                self.traffic.edges.iter().map(|(e, c)| (e.as_str(), c)),
            ),
        }
    }
}

/// A live run of every strategy, summarised: what the comparison and the verdict read.
#[derive(Debug, Clone, Default)]
pub struct LiveSummary {
    pub runs: Vec<RunSummary>,
    pub unplanned: Vec<Unplanned>,
    pub interrupted: bool,
    /// See [`LiveRun::expect_graceful`].
    pub expect_graceful: bool,
}

impl Verdict {
    /// The verdict of a live run. A strategy asked for by name that cannot be planned
    /// fails: what it asks for cannot be shipped safely; a default one is only reported.
    pub fn of(live: &LiveSummary) -> Verdict {
        let runs = &live.runs;
        if live.interrupted {
            return Verdict::Interrupted;
        }
        let names = |keep: &dyn Fn(&RunSummary) -> bool| -> Vec<String> {
            runs.iter()
                .filter(|run| keep(run))
                .map(|run| run.strategy.name.clone())
                .collect()
        };
        // A failure measured while the machine kept up is real whatever the others did.
        let mut failed = names(&|run| run.judged() && !run.passed());
        failed.extend(
            live.unplanned
                .iter()
                .filter(|u| u.strategy.listed)
                .map(|u| u.strategy.name.clone()),
        );
        let unmeasured = names(&|run| !run.judged());
        let any_expected = runs.iter().any(|run| !run.strategy.expect.is_empty());
        Verdict::from_parts(failed, unmeasured, any_expected)
    }
}

/// One row of the live sweep: the services missing (none in the reference row), and the
/// run of the initial deployment without them.
#[derive(Debug, Clone)]
pub struct SweepRow {
    pub missing: Vec<String>,
    pub run: StrategyRun,
}

impl SweepRow {
    /// Whether the machine kept up with the row's load, so that it measured the services.
    pub fn kept_up(&self) -> bool {
        self.run.kept_up()
    }
}

/// A call whose failures no entry request sees (it is asynchronous, or its rule ignores
/// some code), with how many of its calls failed over some steps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnseenFailures {
    pub edge: String,
    pub failed: u64,
    pub calls: u64,
}

/// Edges whose failures no entry request sees, by construction: calls that are
/// asynchronous or whose rule ignores some code (a failure passed up or degrading a
/// request is named in the request's causes instead); those that failed in `steps`, in
/// name order.
pub fn unseen_failures<'a>(
    scenario: &Scenario,
    steps: impl Iterator<Item = &'a StepResult>,
) -> Vec<UnseenFailures> {
    unseen_in(
        scenario,
        steps.flat_map(|step| step.traffic.edges.iter().map(|(e, c)| (e.as_str(), c))),
    )
}

/// [`unseen_failures`] over edge counts, each edge's counted once or over several steps.
pub fn unseen_in<'a>(
    scenario: &Scenario,
    edges: impl Iterator<Item = (&'a str, &'a EdgeCounts)>,
) -> Vec<UnseenFailures> {
    let mut quiet: BTreeSet<String> = BTreeSet::new();
    for (caller, call) in scenario.every_call() {
        if call.asynchronous || call.on_failure.ignores_some() {
            quiet.insert(call_edge(caller, call));
        }
    }
    if quiet.is_empty() {
        return Vec::new();
    }
    // Every call of a quiet edge counts in its share, the steps without a failure too.
    let mut failed: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (edge, counts) in edges {
        if quiet.contains(edge) {
            let total = failed.entry(edge).or_default();
            total.0 += counts.failed;
            total.1 += counts.calls;
        }
    }
    failed
        .into_iter()
        .filter(|(_, (failed, _))| *failed > 0)
        .map(|(edge, (failed, calls))| UnseenFailures {
            edge: edge.to_owned(),
            failed,
            calls,
        })
        .collect()
}

/// Every edge a call behind a flag can take, with its flag, in name order.
pub fn flagged_edges(scenario: &Scenario) -> BTreeMap<String, String> {
    scenario
        .every_call()
        .filter_map(|(caller, call)| Some((call_edge(caller, call), call.flag.clone()?)))
        .collect()
}

/// The name of the edge a call of `caller` takes, as traffic counts it.
fn call_edge(caller: &str, call: &Call) -> String {
    Edge::new(caller, &call.service, &call.api)
        .to_method(call.method.as_deref())
        .to_string()
}

impl StrategyRun {
    /// Each method of entrypoint `entry` (an index into the graph's entries) with the
    /// entry requests sent for it over the run, from the load generator's edges (an entry
    /// request's outcome is its edge's).
    pub fn by_method(&self, scenario: &Scenario, entry: usize) -> Vec<(String, EdgeCounts)> {
        let name = self.graph.entry_name(entry);
        let api = scenario.entry_api(name);
        self.graph.entry_methods[entry]
            .iter()
            .map(|method| {
                let edge = Edge::new(CLIENT, name, &api)
                    .to_method((method != DEFAULT_METHOD).then_some(method.as_str()))
                    .to_string();
                let total = self.traffic.edges.get(&edge).copied().unwrap_or_default();
                (method.clone(), total)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StrategyKind;

    fn unplanned(listed: bool) -> Unplanned {
        Unplanned {
            strategy: Strategy {
                name: "safe".into(),
                kind: StrategyKind::Safe,
                expect: Default::default(),
                on_breach: None,
                listed,
            },
            error: PlanError::NoSafeOrder {
                conflicts: Vec::new(),
                proven: true,
            },
        }
    }

    #[test]
    fn a_strategy_that_cannot_be_planned_fails_only_when_it_was_asked_for() {
        let summary = |listed| LiveSummary {
            runs: Vec::new(),
            unplanned: vec![unplanned(listed)],
            interrupted: false,
            expect_graceful: false,
        };
        assert_eq!(
            Verdict::of(&summary(true)),
            Verdict::Fail(vec!["safe".to_owned()])
        );
        assert_eq!(Verdict::of(&summary(false)), Verdict::NothingJudged);
        assert_eq!(Verdict::NothingJudged.word(), "none");
    }

    #[test]
    fn the_verdict_is_pass_only_when_something_was_judged() {
        assert_eq!(
            Verdict::from_parts(Vec::new(), Vec::new(), false),
            Verdict::NothingJudged
        );
        assert_eq!(
            Verdict::from_parts(Vec::new(), Vec::new(), true),
            Verdict::Pass
        );
        assert_eq!(
            Verdict::from_parts(Vec::new(), vec!["batch".into()], true),
            Verdict::Inconclusive(vec!["batch".into()]),
            "a measurement the machine limited is never a pass"
        );
        assert_eq!(
            Verdict::from_parts(Vec::new(), vec!["batch".into()], false),
            Verdict::Inconclusive(vec!["batch".into()]),
            "nor, with nothing expected, nothing judged: the numbers are not a measurement"
        );
    }
}
