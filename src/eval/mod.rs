//! The evaluator that `check`, the planner and the live run share (pure): the scenario
//! compiled to a graph, the state of a rollout (which versions serve, which calls are
//! partitioned), and the outcome every entrypoint can meet in it.
//!
//! A rollout step goes from the settled state before it, through one transient state,
//! to the settled state after it. In the transient state every service of the step is
//! between versions at once: a rolling service serves its old and new versions together,
//! a recreated or newly deployed one has no ready replica, a removed one still serves.
//! A step's flag changes are made at its start, in one switch, so the transient state
//! already has the flags of the step's end.
//! The live run passes through exactly these states, which is what lets the live report
//! put the prediction next to the measurement.

pub mod demand;
pub mod graph;

use std::time::Duration;

use crate::model::{Change, FaultKind, Flags, Move, Scenario};

pub use graph::{Break, BrokenEdge, Graph, Level, Prediction, State};

/// A settled point of a rollout: its state (the versions that run and the flags).
/// Callers keep it as they walk a plan, moving it on by each step's changes
/// ([`Graph::moved`]) rather than building it from a deployment, which costs a lookup
/// per service.
#[derive(Debug, Clone, Copy)]
pub struct Point<'a> {
    pub state: &'a State,
}

/// A state evaluated: each entrypoint's prediction, in `Graph::entries` order.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub state: State,
    pub predictions: Vec<Prediction>,
}

impl Evaluated {
    pub fn new(graph: &Graph, state: State) -> Evaluated {
        let predictions = graph.explain(&state);
        Evaluated { state, predictions }
    }
}

/// The prediction for one step (the baseline has no transient state).
#[derive(Debug, Clone)]
pub struct StepPrediction {
    pub transient: Option<Evaluated>,
    pub settled: Evaluated,
    /// Per entrypoint: the worst level over the step's states.
    pub levels: Vec<Level>,
    /// Per entrypoint: the worst level a run is sure to meet: `levels`, but for the
    /// moment at the start of the transient part when a recreated service's old
    /// replicas may still answer (a run may or may not send a request into it). A
    /// measurement between `floor` and `levels` agrees with the prediction.
    pub floor: Vec<Level>,
    /// The faults in force in the transient and in the settled part.
    pub faults_transient: Vec<FaultKind>,
    pub faults_settled: Vec<FaultKind>,
}

impl StepPrediction {
    pub fn worst(&self) -> Level {
        worst(&self.levels)
    }

    /// True when `measured` is what entrypoint `entry` could end at in this step.
    pub fn allows(&self, entry: usize, measured: Level) -> bool {
        allows(&self.floor, &self.levels, entry, measured)
    }

    /// What a run keeps of the prediction: the levels, and the explaining prediction of
    /// each entrypoint `keep` names (those whose measurement it does not allow). The
    /// states stay here: a run of thousands of steps over thousands of services cannot
    /// keep two per step.
    pub fn into_levels(self, keep: impl Fn(usize) -> bool) -> StepLevels {
        let explained = (0..self.levels.len())
            .filter(|&entry| keep(entry))
            .filter_map(|entry| Some((entry, self.explaining(entry)?.clone())))
            .collect();
        StepLevels {
            levels: self.levels,
            floor: self.floor,
            explained,
        }
    }

    /// The state that explains the step's worst level for `entry`.
    pub fn explaining(&self, entry: usize) -> Option<&Prediction> {
        let level = *self.levels.get(entry)?;
        [self.transient.as_ref(), Some(&self.settled)]
            .into_iter()
            .flatten()
            .map(|evaluated| &evaluated.predictions[entry])
            .find(|prediction| prediction.level == level)
    }
}

/// A step's prediction as a run's report keeps it (see [`StepPrediction::into_levels`]).
#[derive(Debug, Clone, Default)]
pub struct StepLevels {
    /// Per entrypoint: the worst level over the step's states.
    pub levels: Vec<Level>,
    /// Per entrypoint: the worst level a run is sure to meet (see [`StepPrediction`]).
    pub floor: Vec<Level>,
    /// Per entrypoint kept: the state's prediction that explains its level.
    pub explained: std::collections::BTreeMap<usize, Prediction>,
}

impl StepLevels {
    pub fn worst(&self) -> Level {
        worst(&self.levels)
    }

    /// True when `measured` is what entrypoint `entry` could end at in this step.
    pub fn allows(&self, entry: usize, measured: Level) -> bool {
        allows(&self.floor, &self.levels, entry, measured)
    }
}

fn worst(levels: &[Level]) -> Level {
    levels.iter().copied().max().unwrap_or(Level::Ok)
}

/// A measurement agrees anywhere from the sure level to the worst.
fn allows(floor: &[Level], levels: &[Level], entry: usize, measured: Level) -> bool {
    let (Some(&floor), Some(&ceiling)) = (floor.get(entry), levels.get(entry)) else {
        return false;
    };
    (floor..=ceiling).contains(&measured)
}

/// The transient state of a step: `before` with each changed service between versions.
pub fn transient(graph: &Graph, scenario: &Scenario, before: &State, changes: &[Change]) -> State {
    let mut state = before.clone();
    for change in changes {
        let Some(s) = graph.service(&change.service) else {
            continue;
        };
        let old = graph.mask(s, change.from.as_deref());
        let new = graph.mask(s, change.to.as_deref());
        state.serving[s] = match scenario.move_of(change) {
            Move::Roll => old | new,
            // Recreate, or a new service not ready yet: nothing serves.
            Move::Recreate | Move::Add => 0,
            // A removed service drains: it still serves until the step completes.
            Move::Remove => old,
        };
    }
    state
}

/// `state` with `faults` in force.
pub fn with_faults<'a>(
    graph: &Graph,
    state: &State,
    faults: impl IntoIterator<Item = &'a FaultKind>,
) -> State {
    let mut state = state.clone();
    for fault in faults {
        match fault {
            FaultKind::Kill(service) | FaultKind::Missing(service) => {
                if let Some(s) = graph.service(service) {
                    state.serving[s] = 0;
                }
            }
            FaultKind::Partition { from, to } => {
                if let (Some(from), Some(to)) = (graph.service(from), graph.service(to))
                    && !state.cut.contains(&(from, to))
                {
                    state.cut.push((from, to));
                    state.cut.sort_unstable();
                }
            }
            // Time and error rates are not modelled (the check is about what is
            // deployed): a slow, failing, hung or crash-looping service still serves
            // here, and the run marks the steps where its measurement is worse.
            FaultKind::Latency { .. }
            | FaultKind::Errors { .. }
            | FaultKind::Hang(_)
            | FaultKind::Crash { .. } => {}
        }
    }
    state
}

/// The transient state of a step from `before`: its services between versions, with
/// `flags` in force while they move (a rollout step's flags switch at its start, a
/// rollback step's return at its end).
pub fn step_transient(
    graph: &Graph,
    scenario: &Scenario,
    before: Point<'_>,
    changes: &[Change],
    flags: &Flags,
) -> State {
    let mut state = transient(graph, scenario, before.state, changes);
    graph.set_flags(&mut state, flags);
    state
}

/// One step as the prediction sees it: where it starts, what moves, the flags while it
/// moves, and where it ends.
#[derive(Debug, Clone, Copy)]
pub struct StepMoves<'a> {
    pub before: Point<'a>,
    pub changes: &'a [Change],
    pub flags_during: &'a Flags,
    pub after: Point<'a>,
}

/// Predicts one step: from the settled state of `before`, through `changes`, to the
/// settled state of `after`, with the faults in force during each part.
pub fn predict_step(
    graph: &Graph,
    scenario: &Scenario,
    step: StepMoves<'_>,
    faults_transient: &[&FaultKind],
    faults_settled: &[&FaultKind],
) -> StepPrediction {
    let StepMoves {
        before,
        changes,
        flags_during,
        after,
    } = step;
    let settled = Evaluated::new(
        graph,
        with_faults(graph, after.state, faults_settled.iter().copied()),
    );
    let transient = (!changes.is_empty()).then(|| {
        let state = step_transient(graph, scenario, before, changes, flags_during);
        transient_prediction(graph, scenario, &state, changes, faults_transient)
    });
    let settled_levels = settled.predictions.iter().map(|p| p.level);
    let levels = settled_levels
        .clone()
        .enumerate()
        .map(|(entry, level)| {
            transient
                .as_ref()
                .map_or(level, |(t, _)| t.predictions[entry].level.max(level))
        })
        .collect();
    let floor = settled_levels
        .enumerate()
        .map(|(entry, level)| {
            transient
                .as_ref()
                .map_or(level, |(_, sure)| sure[entry].max(level))
        })
        .collect();
    let transient = transient.map(|(evaluated, _)| evaluated);
    let owned = |faults: &[&FaultKind]| faults.iter().map(|&f| f.clone()).collect();
    StepPrediction {
        transient,
        settled,
        levels,
        floor,
        faults_transient: if changes.is_empty() {
            Vec::new()
        } else {
            owned(faults_transient)
        },
        faults_settled: owned(faults_settled),
    }
}

/// A step's transient part, predicted: the worst each entrypoint can meet in `state`
/// (with the faults in force) or while a recreated service's old replicas still answer;
/// and the levels that are sure (those of `state` alone).
fn transient_prediction(
    graph: &Graph,
    scenario: &Scenario,
    state: &State,
    changes: &[Change],
    faults: &[&FaultKind],
) -> (Evaluated, Vec<Level>) {
    let mut evaluated = Evaluated::new(graph, with_faults(graph, state, faults.iter().copied()));
    let sure: Vec<Level> = evaluated.predictions.iter().map(|p| p.level).collect();
    // A recreated service's old replicas still answer the first requests of the part,
    // until they stop. With rules by code, an old build's answer (UNIMPLEMENTED, say) can
    // be worse than none (UNAVAILABLE), so the part's prediction is the worst over each
    // recreated service serving its old version or nothing (every combination, up to
    // 2^6; past that, all old or all none).
    let recreated: Vec<(usize, u8)> = changes
        .iter()
        .filter(|change| scenario.move_of(change) == Move::Recreate)
        .filter_map(|change| {
            let s = graph.service(&change.service)?;
            Some((s, graph.mask(s, change.from.as_deref())))
        })
        .collect();
    let combinations: Vec<u32> = if recreated.len() <= 6 {
        (1..1u32 << recreated.len()).collect()
    } else {
        vec![u32::MAX]
    };
    for combination in combinations {
        let mut start = state.clone();
        for (i, &(s, old)) in recreated.iter().enumerate() {
            if combination & (1 << i.min(31)) != 0 {
                start.serving[s] = old;
            }
        }
        let start = graph.explain(&with_faults(graph, &start, faults.iter().copied()));
        for (mine, theirs) in evaluated.predictions.iter_mut().zip(start) {
            if theirs.level > mine.level {
                *mine = theirs;
            }
        }
    }
    (evaluated, sure)
}

/// How long a step waits for its new replicas before its transient state begins: the
/// longest `startup_ms` of the services it starts ahead (every change to a version but a
/// recreate).
pub fn step_startup(scenario: &Scenario, changes: &[Change]) -> Duration {
    longest_startup(scenario, changes, |change| {
        change.to.is_some() && scenario.move_of(change) != Move::Recreate
    })
}

/// How long a step's recreated services have no ready replica beyond the transient's half
/// of the bake time: a recreate stops the old replicas first and only then starts the new
/// ones, so the longest `startup_ms` among them passes inside the transient state.
pub fn recreate_startup(scenario: &Scenario, changes: &[Change]) -> Duration {
    longest_startup(scenario, changes, |change| {
        scenario.move_of(change) == Move::Recreate
    })
}

fn longest_startup(
    scenario: &Scenario,
    changes: &[Change],
    counts: impl Fn(&Change) -> bool,
) -> Duration {
    changes
        .iter()
        .filter(|change| counts(change))
        .map(|change| scenario.services[&change.service].startup)
        .max()
        .unwrap_or(Duration::ZERO)
}
