//! The planner: each strategy's steps, and the versions running after each (pure).
//!
//! Invariant: in a complete plan every change of the scenario is applied exactly once and
//! the deployment after the last step equals `Scenario::target`. A partial plan applies a
//! subset of the changes, each once, and says which it leaves out.

pub mod cost;
pub mod safe;
mod select;

pub use select::{UnknownStrategy, select};

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;

use crate::model::{
    Change, Deployment, FlagChange, Flags, Scenario, StepSpec, Strategy, StrategyKind,
};
use crate::{seed, topology};
use safe::{Conflict, SafeOrder};

/// The steps of one strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub strategy: String,
    pub kind: StrategyKind,
    /// Step 0 is the baseline (`initial`, no changes); steps 1.. each apply their changes.
    pub steps: Vec<Step>,
    /// Changes the plan never makes: empty for a complete plan, the rest for a partial one.
    pub not_reached: Vec<Change>,
    /// Flags the release turns on that are not on at the end of the plan.
    pub flags_left: Vec<String>,
    /// Faults (indices into `Scenario::faults`) that start after the plan's last step and
    /// so never fire in it.
    pub faults_never_fired: Vec<usize>,
}

impl Plan {
    /// True when the plan reaches the target: every change made, every flag released.
    pub fn is_complete(&self) -> bool {
        self.not_reached.is_empty() && self.flags_left.is_empty()
    }

    /// The index of the last step (0 when there is nothing to roll out).
    pub fn last_step(&self) -> usize {
        self.steps.len() - 1
    }

    /// Walks the plan from `scenario`'s initial state (see [`Walk`]).
    pub fn walk(&self, scenario: &Scenario) -> Walk<'_> {
        Walk {
            steps: self.steps.iter(),
            deployment: scenario.initial.clone(),
            flags: scenario.initial_flags(),
        }
    }

    /// The deployment and flags after the plan's last step.
    pub fn end_state(&self, scenario: &Scenario) -> (Deployment, Flags) {
        let mut walk = self.walk(scenario);
        while walk.next().is_some() {}
        walk.into_state()
    }
}

/// One step: what it changes. What runs after it is derived when asked ([`Plan::walk`]),
/// not stored: a step of a 10,000-service fleet holds its one change, not the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub index: usize,
    pub changes: Vec<Change>,
    /// Flag changes, made at the start of the step (a release is one switch, not a move).
    pub flag_changes: Vec<FlagChange>,
    /// Faults (indices into `Scenario::faults`) whose `at_step` is this step.
    pub faults: Vec<usize>,
}

/// A walk through a plan from the initial state: each step in turn with the deployment
/// and flags after it, kept as one running state (O(services) however many steps).
#[derive(Debug)]
pub struct Walk<'a> {
    steps: std::slice::Iter<'a, Step>,
    deployment: Deployment,
    flags: Flags,
}

impl<'a> Walk<'a> {
    /// The next step and what runs after it; the baseline (step 0) first.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<(&'a Step, &Deployment, &Flags)> {
        let step = self.steps.next()?;
        for change in &step.changes {
            self.deployment.apply(change);
        }
        for change in &step.flag_changes {
            self.flags.apply(change);
        }
        Some((step, &self.deployment, &self.flags))
    }

    /// The deployment and flags after the last step walked.
    pub fn into_state(self) -> (Deployment, Flags) {
        (self.deployment, self.flags)
    }
}

/// Why a strategy cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Provider-first ordering is impossible: the changed services depend on each other in
    /// a loop.
    #[error(
        "no provider-first order exists: the changed services depend on each other in a cycle ({})",
        cycle.join(" -> ")
    )]
    Cycle { cycle: Vec<String> },
    /// `safe`: every order passes through a state in which an entrypoint fails (`proven`),
    /// or none of the orders the constraint method tries is safe. `report` words the
    /// conflicts.
    #[error("no safe order {}", if *proven { "exists" } else { "found" })]
    NoSafeOrder {
        conflicts: Vec<Conflict>,
        proven: bool,
    },
}

/// One thing a release does: move a service, or switch a flag.
#[derive(Debug, Clone)]
enum Item {
    Service(Change),
    Flag(FlagChange),
}

/// The items of one step, split by kind.
fn group(items: impl IntoIterator<Item = Item>) -> (Vec<Change>, Vec<FlagChange>) {
    let mut changes = Vec::new();
    let mut flags = Vec::new();
    for item in items {
        match item {
            Item::Service(change) => changes.push(change),
            Item::Flag(flag) => flags.push(flag),
        }
    }
    (changes, flags)
}

/// A strategy named `name` whose plan is the baseline alone (step 0, nothing rolled out,
/// no fault): what the live sweep and availability's trials run, each on a deployment
/// of their own.
pub fn baseline_only(name: &str) -> (Strategy, Plan) {
    let strategy = Strategy {
        name: name.to_owned(),
        kind: StrategyKind::Batch,
        expect: crate::model::Expect::default(),
        on_breach: None,
        listed: false,
    };
    let plan = Plan {
        strategy: name.to_owned(),
        kind: StrategyKind::Batch,
        steps: vec![Step {
            index: 0,
            changes: Vec::new(),
            flag_changes: Vec::new(),
            faults: Vec::new(),
        }],
        not_reached: Vec::new(),
        flags_left: Vec::new(),
        faults_never_fired: Vec::new(),
    };
    (strategy, plan)
}

/// Plans `strategy`. `seed` drives the random order (the scenario's seed unless the user
/// overrides it).
///
/// Flag releases are part of the release: `batch` deploys and releases in one step,
/// single-piece and waves release one flag per step after the services (in the order of
/// `flags:`), `random` shuffles them in with the services, `dark` deploys everything in
/// one step with the flags still off and then releases them one per step, and `safe`
/// orders them with the services.
pub fn plan(scenario: &Scenario, strategy: &Strategy, seed: u64) -> Result<Plan, PlanError> {
    let groups = groups(scenario, &strategy.kind, seed)?;
    Ok(assemble(scenario, strategy, groups))
}

/// The changes and flag changes of one step.
type Group = (Vec<Change>, Vec<FlagChange>);

/// Each step's changes, in order, as the strategy kind orders them.
fn groups(scenario: &Scenario, kind: &StrategyKind, seed: u64) -> Result<Vec<Group>, PlanError> {
    let changes = scenario.changes();
    let by_service: BTreeMap<&str, &Change> = changes
        .iter()
        .map(|change| (change.service.as_str(), change))
        .collect();
    let releases = || scenario.releases().into_iter().map(Item::Flag);
    let everything = || -> Vec<Item> {
        changes
            .iter()
            .cloned()
            .map(Item::Service)
            .chain(releases())
            .collect()
    };
    let one_per_step =
        |items: Vec<Item>| -> Vec<Group> { items.into_iter().map(|item| group([item])).collect() };
    let single_piece = || -> Result<Vec<Item>, PlanError> {
        Ok(single_piece_order(scenario)?
            .into_iter()
            .map(Item::Service)
            .chain(releases())
            .collect())
    };
    Ok(match kind {
        StrategyKind::Batch => {
            let all = everything();
            if all.is_empty() {
                Vec::new()
            } else {
                vec![group(all)]
            }
        }
        StrategyKind::SinglePiece => one_per_step(single_piece()?),
        StrategyKind::Waves(size) => single_piece()?
            .chunks((*size).max(1))
            .map(|chunk| group(chunk.iter().cloned()))
            .collect(),
        StrategyKind::Random => {
            let mut order = everything();
            order.shuffle(&mut seed::rng(seed, "plan.random"));
            one_per_step(order)
        }
        StrategyKind::Dark => {
            let deploy = (!changes.is_empty()).then(|| (changes.clone(), Vec::new()));
            deploy
                .into_iter()
                .chain(one_per_step(releases().collect()))
                .collect()
        }
        StrategyKind::Steps(steps) => groups_of(steps, &by_service),
        StrategyKind::Safe => {
            let graph = crate::eval::Graph::new(scenario);
            match safe::plan(&graph, scenario) {
                SafeOrder::Found { steps, .. } => groups_of(&steps, &by_service),
                SafeOrder::NotFound { conflicts, proven } => {
                    return Err(PlanError::NoSafeOrder { conflicts, proven });
                }
            }
        }
    })
}

/// The plan of `groups`: the baseline, then a step per group with what runs after it;
/// what it never reaches; each fault attached to its step.
fn assemble(scenario: &Scenario, strategy: &Strategy, groups: Vec<Group>) -> Plan {
    let applied: BTreeSet<&str> = groups
        .iter()
        .flat_map(|(changes, _)| changes)
        .map(|change| change.service.as_str())
        .collect();
    let not_reached = scenario
        .changes()
        .into_iter()
        .filter(|change| !applied.contains(change.service.as_str()))
        .collect();
    let mut flags = scenario.initial_flags();
    let mut steps = vec![Step {
        index: 0,
        changes: Vec::new(),
        flag_changes: Vec::new(),
        faults: Vec::new(),
    }];
    for (i, (changes, flag_changes)) in groups.into_iter().enumerate() {
        for change in &flag_changes {
            flags.apply(change);
        }
        steps.push(Step {
            index: i + 1,
            changes,
            flag_changes,
            faults: Vec::new(),
        });
    }
    let flags_left = scenario
        .target_flags()
        .0
        .iter()
        .filter(|(name, setting)| setting.share() > flags.share(name))
        .map(|(name, _)| name.clone())
        .collect();
    let mut faults_never_fired = Vec::new();
    for (fault_index, fault) in scenario.faults.iter().enumerate() {
        match steps.get_mut(fault.at_step) {
            Some(step) => step.faults.push(fault_index),
            None => faults_never_fired.push(fault_index),
        }
    }
    Plan {
        strategy: strategy.name.clone(),
        kind: strategy.kind.clone(),
        steps,
        not_reached,
        flags_left,
        faults_never_fired,
    }
}

/// The changes of each step, from explicit steps.
fn groups_of(
    steps: &[StepSpec],
    by_service: &BTreeMap<&str, &Change>,
) -> Vec<(Vec<Change>, Vec<FlagChange>)> {
    steps
        .iter()
        .map(|step| {
            let changes = step
                .services
                .iter()
                .filter_map(|service| by_service.get(service.as_str()).map(|c| (*c).clone()))
                .collect();
            (changes, step.flags.clone())
        })
        .collect()
}

/// Every change, one at a time, providers before their callers; ties by service name
/// (see [`topology::providers_first`]).
pub fn single_piece_order(scenario: &Scenario) -> Result<Vec<Change>, PlanError> {
    topology::providers_first(scenario).map_err(|cycle| PlanError::Cycle { cycle })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::model::Call;

    use crate::scenario::inline as load;

    fn plan_of(scenario: &Scenario, kind: StrategyKind, seed: u64) -> Plan {
        plan(scenario, &strategy(scenario, kind), seed).expect("plannable")
    }

    fn strategy(scenario: &Scenario, kind: StrategyKind) -> Strategy {
        Strategy {
            name: kind.label().to_owned(),
            kind,
            expect: scenario.expect.clone(),
            on_breach: None,
            listed: false,
        }
    }

    /// The deployment after step `k`, from a walk.
    fn after(scenario: &Scenario, plan: &Plan, k: usize) -> Deployment {
        let mut walk = plan.walk(scenario);
        for _ in 0..k {
            walk.next();
        }
        walk.next()
            .map(|(_, deployment, _)| deployment.clone())
            .expect("a step")
    }

    fn order(plan: &Plan) -> Vec<Vec<&str>> {
        plan.steps[1..]
            .iter()
            .map(|step| step.changes.iter().map(|c| c.service.as_str()).collect())
            .collect()
    }

    /// a -> b -> c, all three change; d changes and calls nothing; e is unchanged.
    const CHAIN: &str = "
name: chain
services:
  a: { entrypoint: true, versions: { v1: { calls: [ { service: b } ] }, v2: { calls: [ { service: b, api: v2 } ] } } }
  b: { versions: { v1: { calls: [ { service: c } ] }, v2: { provides: [v1, v2], calls: [ { service: c, api: v2 } ] } } }
  c: { versions: { v1: {}, v2: { provides: [v1, v2] } } }
  d: { versions: { v1: {}, v2: {} } }
  e: { versions: { v1: {} } }
initial: { a: v1, b: v1, c: v1, d: v1, e: v1 }
target: { a: v2, b: v2, c: v2, d: v2 }
faults:
  - { kill: e, at_step: 3 }
";

    #[test]
    fn single_piece_puts_providers_first_and_breaks_ties_by_name() {
        let scenario = load(CHAIN);
        let plan = plan_of(&scenario, StrategyKind::SinglePiece, 0);
        // c has no changed providers, nor has d; c < d by name. b needs c; a needs b.
        assert_eq!(
            order(&plan),
            vec![vec!["c"], vec!["b"], vec!["a"], vec!["d"]]
        );
    }

    #[test]
    fn every_complete_strategy_applies_each_change_once_and_ends_at_target() {
        let scenario = load(CHAIN);
        let kinds = [
            StrategyKind::Batch,
            StrategyKind::SinglePiece,
            StrategyKind::Random,
            StrategyKind::Waves(3),
            StrategyKind::Steps(vec![
                StepSpec::deploy(&["d", "c"]),
                StepSpec::deploy(&["b", "a"]),
            ]),
        ];
        for kind in kinds {
            let plan = plan_of(&scenario, kind.clone(), 7);
            let mut applied: Vec<&str> = order(&plan).into_iter().flatten().collect();
            applied.sort_unstable();
            assert_eq!(applied, vec!["a", "b", "c", "d"], "{kind:?}");
            assert!(plan.is_complete(), "{kind:?}");
            assert_eq!(plan.end_state(&scenario).0, scenario.target, "{kind:?}");
            assert_eq!(after(&scenario, &plan, 0), scenario.initial, "{kind:?}");
        }
    }

    #[test]
    fn batch_is_one_step_and_waves_cut_the_single_piece_order() {
        let scenario = load(CHAIN);
        let batch = plan_of(&scenario, StrategyKind::Batch, 0);
        assert_eq!(order(&batch), vec![vec!["a", "b", "c", "d"]]);
        let waves = plan_of(&scenario, StrategyKind::Waves(3), 0);
        assert_eq!(order(&waves), vec![vec!["c", "b", "a"], vec!["d"]]);
    }

    #[test]
    fn random_order_is_reproducible_per_seed() {
        let scenario = load(CHAIN);
        let random = strategy(&scenario, StrategyKind::Random);
        let first = plan(&scenario, &random, 42).expect("plannable");
        assert_eq!(first, plan(&scenario, &random, 42).expect("plannable"));
        let orders: BTreeSet<Vec<Vec<String>>> = (0..20)
            .map(|seed| {
                let planned = plan(&scenario, &random, seed).expect("plannable");
                order(&planned)
                    .into_iter()
                    .map(|step| step.into_iter().map(str::to_owned).collect())
                    .collect()
            })
            .collect();
        assert!(
            orders.len() > 5,
            "20 seeds gave only {} distinct orders of 4 services",
            orders.len()
        );
    }

    #[test]
    fn partial_steps_list_what_they_leave_out() {
        let scenario = load(CHAIN);
        let half = StrategyKind::Steps(vec![StepSpec::deploy(&["c"]), StepSpec::deploy(&["b"])]);
        let plan = plan_of(&scenario, half, 0);
        assert!(!plan.is_complete());
        let left: Vec<&str> = plan
            .not_reached
            .iter()
            .map(|c| c.service.as_str())
            .collect();
        assert_eq!(left, vec!["a", "d"]);
        assert_eq!(after(&scenario, &plan, 2).version("a"), Some("v1"));
    }

    #[test]
    fn faults_attach_to_their_step_or_are_reported_as_never_firing() {
        let scenario = load(CHAIN);
        let single = plan_of(&scenario, StrategyKind::SinglePiece, 0);
        assert_eq!(single.steps[3].faults, vec![0]);
        assert!(single.faults_never_fired.is_empty());
        let batch = plan_of(&scenario, StrategyKind::Batch, 0);
        assert_eq!(batch.faults_never_fired, vec![0]);
    }

    #[test]
    fn providers_reached_through_unchanged_services_go_first() {
        // a (changed) -> u (unchanged) -> b (changed): b must go before a, although "a" < "b".
        let scenario = load(
            "
name: through
services:
  a: { entrypoint: true, versions: { v1: { calls: [ { service: u } ] }, v2: { calls: [ { service: u } ] } } }
  u: { versions: { v1: { calls: [ { service: b } ] } } }
  b: { versions: { v1: {}, v2: {} } }
initial: { a: v1, u: v1, b: v1 }
target: { a: v2, b: v2 }
",
        );
        let plan = plan_of(&scenario, StrategyKind::SinglePiece, 0);
        assert_eq!(order(&plan), vec![vec!["b"], vec!["a"]]);
    }

    #[test]
    fn removed_services_leave_after_their_callers_stopped_calling_them() {
        let scenario = load(
            "
name: removal
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: legacy } ] }, v2: { calls: [ { service: search } ] } } }
  legacy: { versions: { v1: {} } }
  search: { versions: { v1: {} } }
initial: { web: v1, legacy: v1 }
target: { web: v2, legacy: none, search: v1 }
",
        );
        let plan = plan_of(&scenario, StrategyKind::SinglePiece, 0);
        // search is new and web v2 needs it: first. legacy leaves once web stopped calling it.
        assert_eq!(
            order(&plan),
            vec![vec!["search"], vec!["web"], vec!["legacy"]]
        );
        assert_eq!(after(&scenario, &plan, 3).version("legacy"), None);
    }

    #[test]
    fn a_dependency_cycle_is_named() {
        // Validation rejects call cycles, so build one by hand on a valid model.
        let mut scenario = load(CHAIN);
        let c2 = scenario
            .services
            .get_mut("c")
            .and_then(|c| c.versions.get_mut("v2"))
            .expect("c v2 exists");
        c2.calls.push(Call::to("a", "v1"));
        let err = single_piece_order(&scenario).expect_err("a -> b -> c -> a cannot be ordered");
        let PlanError::Cycle { cycle } = err else {
            panic!("expected a cycle, got {err}");
        };
        assert_eq!(cycle.first(), cycle.last());
        for service in ["a", "b", "c"] {
            assert!(
                cycle.iter().any(|s| s == service),
                "{cycle:?} names {service}"
            );
        }
    }

    #[test]
    fn step_count_matches_the_built_plan() {
        let scenario = load(CHAIN);
        let n_changes = scenario.changes().len();
        for kind in [
            StrategyKind::Batch,
            StrategyKind::SinglePiece,
            StrategyKind::Random,
            StrategyKind::Waves(3),
        ] {
            let plan = plan_of(&scenario, kind.clone(), 0);
            assert_eq!(kind.step_count(n_changes, 0), plan.last_step(), "{kind:?}");
        }
    }
}
