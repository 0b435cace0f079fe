//! `simulate check`: the outcome of every state a rollout passes through, predicted
//! without starting a server (pure).
//!
//! Each strategy is planned, and every state of its plan is evaluated (see `eval`).
//! Faults apply to the part of a step they overlap: the check places them on a nominal
//! timeline (startup, then half the bake time transient, half settled); the live run
//! passes the faults it actually saw.

pub mod space;
pub mod sweep;

use std::collections::BTreeSet;

use crate::eval::demand::Demand;
use crate::eval::{
    Graph, Level, Point, State, StepMoves, StepPrediction, predict_step, recreate_startup,
    step_startup, step_transient,
};
use crate::model::{Fault, FaultKind, Scenario, Strategy};
use crate::plan::{Plan, PlanError, safe};
use crate::verdict::Verdict;

/// The check of one strategy.
#[derive(Debug, Clone)]
pub struct StrategyCheck {
    pub strategy: Strategy,
    pub plan: Result<Plan, PlanError>,
    /// One per plan step; step 0 is the baseline.
    pub steps: Vec<StepPrediction>,
    /// Distinct states the strategy passes through (transient and settled, with faults).
    pub distinct_states: usize,
    /// Of those, the states in which some entrypoint fails.
    pub failing_states: usize,
    /// Calls whose failure no request hears of (asynchronous, or `ignore` for the code),
    /// broken in some state of the plan: they fail every time they are made there.
    pub swallowed: Vec<Swallowed>,
    /// Per step, the load of its settled part by Little's law (`eval::demand`): only
    /// for a scenario with something that acts on time or load (what
    /// [`Scenario::unpredicted`] lists); empty otherwise.
    pub load: Vec<Demand>,
    /// The scenario's baseline and bake time, which set how long each settled part lasts.
    pub timing: crate::model::Load,
    /// The scenario has what this check does not predict (capacity, protections,
    /// latency, errors, hang and crash faults: see [`Scenario::unpredicted`]), so a predicted
    /// "none fails" does not say the run cannot fail.
    pub unpredicted: bool,
}

/// At most this many states are named per swallowed call; the count covers the rest.
pub const MAX_SWALLOWED_STATES_NAMED: usize = 6;

/// A swallowed call broken in some states of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swallowed {
    /// The caller's version.
    pub version: String,
    pub edge: crate::eval::graph::BrokenEdge,
    /// The first states in which every call over it fails (`after step 1`, `during step
    /// 2`, `at the baseline`).
    pub states: Vec<String>,
    /// Every state in which every call over it fails.
    pub count: usize,
    /// States in which only the calls that reach a version lacking the API fail.
    pub sometimes: usize,
}

/// Adds the swallowed broken calls of `state` (labelled `label`) to `found`.
fn note_swallowed(
    graph: &Graph,
    state: &State,
    label: &str,
    found: &mut std::collections::BTreeMap<(String, crate::eval::graph::BrokenEdge), Swallowed>,
) {
    for (version, edge, always) in graph.swallowed_broken(state) {
        let entry = found
            .entry((version.clone(), edge.clone()))
            .or_insert_with(|| Swallowed {
                version,
                edge,
                states: Vec::new(),
                count: 0,
                sometimes: 0,
            });
        if !always {
            entry.sometimes += 1;
        } else if entry.states.last().map(String::as_str) != Some(label) {
            entry.count += 1;
            if entry.states.len() < MAX_SWALLOWED_STATES_NAMED {
                entry.states.push(label.to_owned());
            }
        }
    }
}

/// A settled part whose decided load prediction serves less than this share of an
/// entrypoint's requests fails it.
pub const SERVED_IN_FULL: f64 = 0.995;

impl StrategyCheck {
    /// True when no state of the strategy fails an entrypoint, and the load of no
    /// settled part is sure (decided) to fail requests.
    pub fn graceful(&self) -> bool {
        self.plan.is_ok() && self.failing_states == 0 && self.overloaded().is_empty()
    }

    /// How long step `step`'s settled part lasts ([`crate::model::Load::settled_part`]).
    pub fn part(&self, step: usize) -> std::time::Duration {
        self.timing.settled_part(step == 0)
    }

    /// The steps whose settled part the load prediction decides fails requests: (step,
    /// the entrypoint served least, its share).
    pub fn overloaded(&self) -> Vec<(usize, &str, f64)> {
        self.load
            .iter()
            .enumerate()
            .filter(|(step, demand)| demand.decided_over(self.part(*step)))
            .filter_map(|(step, demand)| {
                let (entry, served) = demand.served.iter().min_by(|a, b| a.1.total_cmp(b.1))?;
                (*served < SERVED_IN_FULL).then_some((step, entry.as_str(), *served))
            })
            .collect()
    }

    /// Whether the strategy's `expect.graceful` holds for the prediction (`None` when it
    /// does not say, or when it cannot be told here: a failure is expected, none is
    /// predicted, and the scenario has what the check does not predict, which may be
    /// what fails it; the live run judges that).
    pub fn expectation_held(&self) -> Option<bool> {
        let graceful = self.strategy.expect.graceful?;
        if self.left_to_the_run() {
            return None;
        }
        Some(self.plan.is_ok() && graceful == self.graceful())
    }

    /// True when the strategy expects a failure that only what the check does not
    /// predict could cause (or predicts only as undecided).
    pub fn left_to_the_run(&self) -> bool {
        self.strategy.expect.graceful == Some(false)
            && self.plan.is_ok()
            && self.graceful()
            && self.unpredicted
    }
}

/// The nominal timeline of a plan, in milliseconds from the start of the run: for each
/// step, when its transient part starts and ends, and when the step ends. The live run
/// follows the same shape; its own timings replace these there.
fn timeline(scenario: &Scenario, plan: &Plan) -> Vec<(u128, u128, u128)> {
    let half = scenario.load.bake.as_millis() / 2;
    let mut spans = Vec::new();
    let mut t = 0;
    for step in &plan.steps {
        if step.index == 0 {
            let end = scenario.load.baseline.as_millis();
            spans.push((0, 0, end));
            t = end;
            continue;
        }
        let startup = step_startup(scenario, &step.changes).as_millis();
        let recreate = recreate_startup(scenario, &step.changes).as_millis();
        let transient_start = t + startup;
        let transient_end = transient_start + recreate + half;
        let end = t + startup + recreate + scenario.load.bake.as_millis();
        spans.push((transient_start, transient_end, end));
        t = end;
    }
    spans
}

/// Faults whose window overlaps `[from, to)` on the nominal timeline, given when each
/// step starts.
fn faults_during<'a>(
    scenario: &'a Scenario,
    step_starts: &[u128],
    from: u128,
    to: u128,
) -> Vec<&'a FaultKind> {
    scenario
        .faults
        .iter()
        .filter(|fault| fault_overlaps(fault, step_starts, from, to))
        .map(|fault| &fault.kind)
        .collect()
}

/// Whether some fault starts or ends strictly inside `from..to`: a part whose state
/// changes midway, whose load no one state predicts.
fn fault_changes_within(scenario: &Scenario, step_starts: &[u128], from: u128, to: u128) -> bool {
    scenario.faults.iter().any(|fault| {
        let Some(&step_start) = step_starts.get(fault.at_step) else {
            return false;
        };
        let start = step_start + fault.after.as_millis();
        let end = fault.duration.map(|d| start + d.as_millis());
        let inside = |t: u128| from < t && t < to;
        inside(start) || end.is_some_and(inside)
    })
}

fn fault_overlaps(fault: &Fault, step_starts: &[u128], from: u128, to: u128) -> bool {
    let Some(&step_start) = step_starts.get(fault.at_step) else {
        return false;
    };
    let start = step_start + fault.after.as_millis();
    let end = fault.duration.map_or(u128::MAX, |d| start + d.as_millis());
    start < to && from < end && from < to
}

/// Checks one strategy: every state of its plan, with the scenario's faults.
pub fn check_strategy(
    graph: &Graph,
    scenario: &Scenario,
    strategy: &Strategy,
    seed: u64,
) -> StrategyCheck {
    let plan = crate::plan::plan(scenario, strategy, seed);
    // Whether something acts on time or load: then each settled part's load is
    // predicted too.
    let timed = !scenario.unpredicted().is_empty();
    let Ok(planned) = &plan else {
        return StrategyCheck {
            strategy: strategy.clone(),
            plan,
            steps: Vec::new(),
            distinct_states: 0,
            failing_states: 0,
            swallowed: Vec::new(),
            load: Vec::new(),
            timing: scenario.load.clone(),
            unpredicted: timed,
        };
    };
    let mut swallowed = std::collections::BTreeMap::new();
    let spans = timeline(scenario, planned);
    let step_starts: Vec<u128> = std::iter::once(0)
        .chain(spans.iter().map(|(_, _, end)| *end))
        .collect();
    let mut steps = Vec::new();
    let mut seen: BTreeSet<State> = BTreeSet::new();
    let mut failing = 0;
    // Where each step starts: the settled state after the step before, moved on by each
    // step's changes (one running state, not one built from a deployment per step).
    let mut before = graph.settled(&scenario.initial, &scenario.initial_flags());
    let mut walk = planned.walk(scenario);
    let mut load = Vec::new();
    for &(t_start, t_end, end) in &spans {
        let Some((step, deployment, flags)) = walk.next() else {
            break;
        };
        let after = graph.moved(&before, &step.changes, flags);
        let begin = step_starts[step.index];
        let in_transient = faults_during(scenario, &step_starts, begin, t_end.max(t_start));
        let in_settled = faults_during(scenario, &step_starts, t_end.max(begin), end);
        let start = Point { state: &before };
        let moves = StepMoves {
            before: start,
            changes: &step.changes,
            flags_during: flags,
            after: Point { state: &after },
        };
        if timed {
            let mut demand = crate::eval::demand::predict(scenario, deployment, flags, &in_settled);
            demand.partial = fault_changes_within(scenario, &step_starts, t_end.max(begin), end);
            load.push(demand);
        }
        let prediction = predict_step(graph, scenario, moves, &in_transient, &in_settled);
        if let Some(t) = &prediction.transient {
            let label = format!("during step {}", step.index);
            note_swallowed(graph, &t.state, &label, &mut swallowed);
        }
        let label = if step.index == 0 {
            "at the baseline".to_owned()
        } else {
            format!("after step {}", step.index)
        };
        note_swallowed(graph, &prediction.settled.state, &label, &mut swallowed);
        // A fault that starts partway through a part leaves the state without it seen
        // too; both count as states the strategy passes through.
        let mut states = vec![prediction.settled.state.clone(), after.clone()];
        if let Some(t) = &prediction.transient {
            states.push(t.state.clone());
            states.push(step_transient(graph, scenario, start, &step.changes, flags));
        }
        let mut scratch = Vec::new();
        let mut levels = Vec::new();
        for state in states {
            if seen.insert(state.clone())
                && graph.worst(&state, &mut scratch, &mut levels) == Level::Failed
            {
                failing += 1;
            }
        }
        before = after;
        steps.push(prediction);
    }
    StrategyCheck {
        strategy: strategy.clone(),
        plan,
        steps,
        distinct_states: seen.len(),
        failing_states: failing,
        swallowed: swallowed.into_values().collect(),
        load,
        timing: scenario.load.clone(),
        unpredicted: timed,
    }
}

/// Everything `simulate check` reports.
#[derive(Debug, Clone)]
pub struct Report {
    pub graph: Graph,
    pub strategies: Vec<StrategyCheck>,
    pub space: space::Space,
    pub safe: safe::SafeOrder,
    pub sweep: sweep::Sweep,
}

impl Report {
    /// The strategies that fail the check: those whose `expect.graceful` the prediction
    /// breaks, and those asked for by name that cannot be planned (a default strategy
    /// that cannot be planned is reported, not failed).
    pub fn failed(&self) -> Vec<&str> {
        self.strategies
            .iter()
            .filter(|check| match &check.plan {
                Err(_) => check.strategy.listed,
                Ok(_) => check.expectation_held() == Some(false),
            })
            .map(|check| check.strategy.name.as_str())
            .collect()
    }

    /// The strategies asked for by name (listed, or named with `--strategy`) that cannot
    /// be planned.
    pub fn unplanned(&self) -> Vec<&str> {
        self.strategies
            .iter()
            .filter(|check| check.plan.is_err() && check.strategy.listed)
            .map(|check| check.strategy.name.as_str())
            .collect()
    }

    /// The strategies the check judged: planned, with a `graceful` expectation (the one
    /// the prediction can decide).
    pub fn judged(&self) -> Vec<&str> {
        self.strategies
            .iter()
            .filter(|check| check.plan.is_ok() && check.expectation_held().is_some())
            .map(|check| check.strategy.name.as_str())
            .collect()
    }

    /// The check's verdict: fail when a strategy fails (see [`Report::failed`]), nothing
    /// judged when no strategy has a `graceful` expectation, else pass.
    pub fn verdict(&self) -> Verdict {
        let failed: Vec<String> = self.failed().into_iter().map(str::to_owned).collect();
        Verdict::from_parts(failed, Vec::new(), !self.judged().is_empty())
    }
}

/// Runs the whole check: every strategy's states, the state space, the safe order and the
/// sweep (`missing`: each service alone, or also each pair).
pub fn run(
    scenario: &Scenario,
    strategies: &[Strategy],
    seed: u64,
    missing: sweep::Missing,
) -> Report {
    let graph = Graph::new(scenario);
    let checks = strategies
        .iter()
        .map(|strategy| check_strategy(&graph, scenario, strategy, seed))
        .collect();
    let space = space::explore(&graph, scenario);
    let safe = safe::plan(&graph, scenario);
    let sweep = sweep::sweep(&graph, scenario, missing);
    Report {
        graph,
        strategies: checks,
        space,
        safe,
        sweep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{transient, with_faults};
    use crate::model::StrategyKind;
    use crate::report;

    use crate::scenario::inline as load;

    /// web calls catalog (required, api from `web_api`) and recommend (optional).
    fn shop(catalog_v2_provides: &str, rollout: &str) -> Scenario {
        load(&format!(
            "
name: shop
services:
  web:
    entrypoint: true
    versions:
      v1: {{ calls: [ {{ service: catalog }}, {{ service: recommend, on_failure: degrade }} ] }}
      v2: {{ calls: [ {{ service: catalog, api: v2 }}, {{ service: recommend, on_failure: degrade }} ] }}
  catalog:
    rollout: {rollout}
    versions:
      v1: {{ provides: [v1] }}
      v2: {{ provides: {catalog_v2_provides} }}
  recommend: {{ versions: {{ v1: {{}} }} }}
initial: {{ web: v1, catalog: v1, recommend: v1 }}
target: {{ web: v2, catalog: v2 }}
"
        ))
    }

    fn level_of(graph: &Graph, state: &State) -> Level {
        graph.worst(state, &mut Vec::new(), &mut Vec::new())
    }

    #[test]
    fn a_mixed_state_fails_when_any_serving_version_lacks_the_api() {
        let scenario = shop("[v1, v2]", "rolling");
        let graph = Graph::new(&scenario);
        let changes = scenario.changes();
        let initial = graph.settled(&scenario.initial, &scenario.initial_flags());
        // Both at once: web v2 can meet catalog v1, which lacks api v2.
        let both = transient(&graph, &scenario, &initial, &changes);
        assert_eq!(level_of(&graph, &both), Level::Failed);
        let broken: Vec<String> = graph
            .broken_edges(&both)
            .iter()
            .map(|(version, edge)| report::broken_edge_text(version, edge))
            .collect();
        assert_eq!(
            broken,
            vec!["web v2 -> catalog api v2: UNIMPLEMENTED (catalog v1 does not provide api v2)"]
        );
        let explained = &graph.explain(&both)[0];
        assert_eq!(
            report::path_text(explained),
            "web v2 -> catalog api v2: UNIMPLEMENTED (catalog v1 does not provide api v2)"
        );
        // Catalog first: every catalog version serves api v1, which web v1 calls.
        let catalog = changes
            .iter()
            .find(|c| c.service == "catalog")
            .cloned()
            .into_iter()
            .collect::<Vec<_>>();
        assert_eq!(
            level_of(&graph, &transient(&graph, &scenario, &initial, &catalog)),
            Level::Ok
        );
        assert_eq!(
            level_of(
                &graph,
                &graph.settled(&scenario.target, &scenario.target_flags())
            ),
            Level::Ok
        );
    }

    #[test]
    fn transient_states_follow_the_rollout_kind() {
        let scenario = shop("[v1, v2]", "recreate");
        let graph = Graph::new(&scenario);
        let initial = graph.settled(&scenario.initial, &scenario.initial_flags());
        let catalog = graph.service("catalog").expect("catalog");
        let web = graph.service("web").expect("web");
        let during = transient(&graph, &scenario, &initial, &scenario.changes());
        assert_eq!(during.serving[catalog], 0, "recreate: nothing ready");
        assert_eq!(graph.serving(&during, web), ["v1", "v2"], "rolling: both");
        let explained = &graph.explain(&during)[0];
        assert_eq!(explained.level, Level::Failed);
        assert_eq!(
            report::why_text(explained.edge.as_ref().expect("edge")),
            "no replica of catalog is ready"
        );
    }

    #[test]
    fn an_optional_dependency_lost_degrades_and_a_partition_of_a_required_one_fails() {
        let scenario = shop("[v1, v2]", "rolling");
        let graph = Graph::new(&scenario);
        let initial = graph.settled(&scenario.initial, &scenario.initial_flags());
        let killed = with_faults(&graph, &initial, [&FaultKind::Kill("recommend".into())]);
        assert_eq!(level_of(&graph, &killed), Level::Degraded);
        let cut = FaultKind::Partition {
            from: "web".into(),
            to: "catalog".into(),
        };
        let partitioned = with_faults(&graph, &initial, [&cut]);
        assert_eq!(level_of(&graph, &partitioned), Level::Failed);
        let edge = graph.explain(&partitioned)[0].edge.clone().expect("edge");
        assert_eq!(report::edge_text(&edge), "web -> catalog api v1");
        assert_eq!(edge.why.code(), "UNAVAILABLE");
    }

    #[test]
    fn strategies_count_states_and_failures() {
        let scenario = shop("[v1, v2]", "rolling");
        let graph = Graph::new(&scenario);
        let strategy = |kind| Strategy {
            name: "s".into(),
            kind,
            expect: Expect::default(),
            on_breach: None,
            listed: false,
        };
        let batch = check_strategy(&graph, &scenario, &strategy(StrategyKind::Batch), 0);
        // initial, transient (fails), target.
        assert_eq!((batch.distinct_states, batch.failing_states), (3, 1));
        assert!(!batch.graceful());
        let single = check_strategy(&graph, &scenario, &strategy(StrategyKind::SinglePiece), 0);
        // initial, catalog mixed, catalog done, web mixed, target: none fails.
        assert_eq!((single.distinct_states, single.failing_states), (5, 0));
        assert_eq!(single.steps[1].worst(), Level::Ok);
    }

    #[test]
    fn a_call_behind_a_partial_flag_is_also_skipped_so_a_degraded_answer_gets_through() {
        // mail degrades without search's m2, and fails on the flagged call: for the 19% of
        // requests the flag is off for, mail answers degraded, which gateway passes on
        // (its rule ignores only failures).
        let scenario = load(
            "
name: partial-flag
services:
  gateway:
    entrypoint: true
    versions:
      v1: { calls: [ { service: mail, on_failure: ignore } ] }
  mail:
    versions:
      v1:
        calls:
          - { service: search, method: m2, on_failure: degrade }
          - { service: search, method: m2, flag: f }
  search:
    versions:
      v1: { methods: { m1: {} } }
      v2: { methods: { m1: {}, m2: {} } }
initial: { gateway: v1, mail: v1, search: v2 }
target: { search: v1 }
flags:
  f: { on: true, percent: 81 }
",
        );
        let graph = Graph::new(&scenario);
        let state = graph.settled(&scenario.target, &scenario.target_flags());
        assert_eq!(level_of(&graph, &state), Level::Degraded);
    }

    use crate::model::Expect;
}
