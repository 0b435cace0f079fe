//! Properties 2 and 6: planner invariants, and determinism (one seed, one plan, one fault
//! schedule, one random order, one check report).

use std::collections::{BTreeMap, BTreeSet};

use deploysim::model::{Change, Deployment, Scenario, StrategyKind};
use deploysim::plan::{self, Plan, PlanError};
use proptest::prelude::*;

use crate::arb::{self, Options};

/// Does `from_version` of `from` reach `target` through calls, passing only through
/// services that the release does not change? (Written for the test; the product has its
/// own in `topology`.)
fn reaches_through_unchanged(
    scenario: &Scenario,
    deployment: &Deployment,
    from: &str,
    from_version: &str,
    target: &str,
    changed: &BTreeSet<String>,
) -> bool {
    let mut stack = vec![(from.to_owned(), from_version.to_owned())];
    let mut visited = BTreeSet::new();
    while let Some((service, version)) = stack.pop() {
        if !visited.insert(service.clone()) {
            continue;
        }
        let Some(definition) = scenario.version(&service, &version) else {
            continue;
        };
        for call in &definition.calls {
            if call.service == target {
                return true;
            }
            if !changed.contains(&call.service)
                && let Some(next) = deployment.version(&call.service)
            {
                stack.push((call.service.clone(), next.to_owned()));
            }
        }
    }
    false
}

/// The pairs (first, then) that single-piece must respect: a provider a changed caller's
/// new version reaches goes first; a removed service goes after the changed callers whose
/// old version reaches it.
fn provider_first_pairs(scenario: &Scenario) -> BTreeSet<(String, String)> {
    let changes = scenario.changes();
    let changed: BTreeSet<String> = changes.iter().map(|c| c.service.clone()).collect();
    let mut pairs = BTreeSet::new();
    for caller in &changes {
        for other in &changes {
            if caller.service == other.service {
                continue;
            }
            if let (Some(new), Some(_)) = (&caller.to, &other.to)
                && reaches_through_unchanged(
                    scenario,
                    &scenario.target,
                    &caller.service,
                    new,
                    &other.service,
                    &changed,
                )
            {
                pairs.insert((other.service.clone(), caller.service.clone()));
            }
            if let (Some(old), Some(_), None) = (&caller.from, &caller.to, &other.to)
                && reaches_through_unchanged(
                    scenario,
                    &scenario.initial,
                    &caller.service,
                    old,
                    &other.service,
                    &changed,
                )
            {
                pairs.insert((caller.service.clone(), other.service.clone()));
            }
        }
    }
    pairs
}

/// True when the pairs, read as "first -> then" edges, contain a cycle.
fn has_cycle(pairs: &BTreeSet<(String, String)>) -> bool {
    let mut indegree: BTreeMap<&str, usize> = BTreeMap::new();
    for (first, then) in pairs {
        indegree.entry(first).or_default();
        *indegree.entry(then).or_default() += 1;
    }
    let mut ready: Vec<&str> = indegree
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(s, _)| *s)
        .collect();
    let mut done = 0;
    while let Some(next) = ready.pop() {
        done += 1;
        for (first, then) in pairs {
            if first == next {
                let count = indegree.get_mut(then.as_str()).expect("counted");
                *count -= 1;
                if *count == 0 {
                    ready.push(then);
                }
            }
        }
    }
    done < indegree.len()
}

/// The invariants every plan keeps, whatever its strategy.
fn assert_plan_is_sound(scenario: &Scenario, plan: &Plan) -> Result<(), TestCaseError> {
    let changes = scenario.changes();
    prop_assert_eq!(plan.steps[0].index, 0);
    prop_assert!(plan.steps[0].changes.is_empty(), "step 0 is the baseline");
    // The deployment after each step is derived by the plan's walk; the test replays the
    // steps' changes itself, on a plain map, and the two must agree at every step.
    let mut deployment = scenario.initial.clone();
    let mut replayed: std::collections::BTreeMap<String, String> = scenario.initial.0.clone();
    let mut flags = scenario.initial_flags();
    let mut applied: Vec<&Change> = Vec::new();
    let mut walk = plan.walk(scenario);
    for (i, step) in plan.steps.iter().enumerate() {
        let Some((walked, derived, derived_flags)) = walk.next() else {
            prop_assert!(false, "the walk ends before step {}", i);
            break;
        };
        prop_assert_eq!(walked.index, i);
        prop_assert_eq!(step.index, i);
        if i > 0 {
            prop_assert!(
                !step.changes.is_empty() || !step.flag_changes.is_empty(),
                "step {} is empty",
                i
            );
        }
        for change in &step.flag_changes {
            flags.apply(change);
        }
        prop_assert_eq!(derived_flags, &flags, "the flags after step {}", i);
        for change in &step.changes {
            prop_assert!(
                changes.contains(change),
                "{} is not a change of the release",
                change
            );
            prop_assert!(
                !applied.iter().any(|done| done.service == change.service),
                "{} is applied twice",
                change.service
            );
            deployment.apply(change);
            match &change.to {
                Some(version) => replayed.insert(change.service.clone(), version.clone()),
                None => replayed.remove(&change.service),
            };
            applied.push(change);
        }
        prop_assert_eq!(&derived.0, &replayed, "the deployment after step {}", i);
        for &fault in &step.faults {
            prop_assert_eq!(scenario.faults[fault].at_step, i);
        }
    }
    // Every change is either applied once or listed as not reached.
    let mut all: Vec<&Change> = applied.clone();
    all.extend(&plan.not_reached);
    all.sort();
    let mut expected: Vec<&Change> = changes.iter().collect();
    expected.sort();
    prop_assert_eq!(all, expected);
    if plan.is_complete() {
        prop_assert_eq!(
            &deployment,
            &scenario.target,
            "a complete plan ends at the target"
        );
    }
    // Every fault either starts in a step of the plan or is reported as never firing.
    for (index, fault) in scenario.faults.iter().enumerate() {
        let fires = fault.at_step < plan.steps.len();
        prop_assert_eq!(
            fires,
            plan.steps
                .get(fault.at_step)
                .is_some_and(|s| s.faults.contains(&index))
        );
        prop_assert_eq!(!fires, plan.faults_never_fired.contains(&index));
    }
    Ok(())
}

/// Each step's items: its services, then its flag changes as text.
fn services_of(plan: &Plan) -> Vec<Vec<String>> {
    plan.steps[1..]
        .iter()
        .map(|step| {
            step.changes
                .iter()
                .map(|c| c.service.clone())
                .chain(step.flag_changes.iter().map(ToString::to_string))
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(crate::pure())]

    /// Every strategy: each change once, step by step deployments, the target at the end
    /// of a complete plan, faults attached to their steps, and each kind's shape.
    #[test]
    fn every_plan_applies_each_change_once_and_ends_at_the_target(
        spec in arb::scenario(Options::PURE),
    ) {
        let scenario = spec.load().map_err(TestCaseError::fail)?;
        let n = scenario.changes().len();
        let releases: Vec<String> = scenario.releases().iter().map(ToString::to_string).collect();
        let r = releases.len();
        let single_piece = plan::single_piece_order(&scenario);
        for strategy in &scenario.strategies {
            let planned = match plan::plan(&scenario, strategy, scenario.seed) {
                Ok(planned) => planned,
                Err(PlanError::Cycle { .. }) => {
                    prop_assert!(single_piece.is_err(), "only provider-first orders can loop");
                    continue;
                }
                Err(PlanError::NoSafeOrder { .. }) => {
                    prop_assert_eq!(&strategy.kind, &StrategyKind::Safe);
                    continue;
                }
            };
            assert_plan_is_sound(&scenario, &planned)?;
            let steps = services_of(&planned);
            // `step_count` is what validation checks fault steps against.
            if strategy.kind == StrategyKind::Safe {
                prop_assert!(steps.len() <= strategy.kind.step_count(n, r));
            } else {
                prop_assert_eq!(steps.len(), strategy.kind.step_count(n, r));
            }
            match &strategy.kind {
                StrategyKind::Batch => prop_assert!(steps.len() == usize::from(n + r > 0)),
                StrategyKind::SinglePiece | StrategyKind::Random => {
                    prop_assert_eq!(steps.len(), n + r);
                    prop_assert!(steps.iter().all(|step| step.len() == 1));
                }
                StrategyKind::Waves(size) => {
                    prop_assert_eq!(steps.len(), (n + r).div_ceil(*size));
                    let order: Vec<String> = single_piece
                        .as_ref()
                        .expect("waves planned, so single-piece did")
                        .iter()
                        .map(|c| c.service.clone())
                        .chain(releases.iter().cloned())
                        .collect();
                    prop_assert_eq!(steps.concat(), order, "waves cut the single-piece order");
                    prop_assert!(steps.iter().all(|step| step.len() <= *size));
                }
                StrategyKind::Steps(listed) => {
                    let mut listed: Vec<Vec<String>> = listed
                        .iter()
                        .map(|step| {
                            step.services
                                .iter()
                                .cloned()
                                .chain(step.flags.iter().map(ToString::to_string))
                                .collect()
                        })
                        .collect();
                    for step in &mut listed {
                        step.sort();
                    }
                    let mut planned_steps = steps.clone();
                    for step in &mut planned_steps {
                        step.sort();
                    }
                    prop_assert_eq!(planned_steps, listed);
                }
                StrategyKind::Dark => {
                    // Every service in the first step, flags off; then one release a step.
                    prop_assert_eq!(steps.len(), usize::from(n > 0) + r);
                    let released: Vec<String> = steps[usize::from(n > 0)..].concat();
                    prop_assert_eq!(released, releases.clone());
                }
                StrategyKind::Safe => {}
            }
            if !matches!(strategy.kind, StrategyKind::Steps(_)) {
                prop_assert!(planned.is_complete(), "{} is complete", strategy.name);
            }
        }
    }

    /// Single-piece puts providers before their callers (and removed services after the
    /// callers that stop calling them) whenever those rules leave an order at all; and it
    /// refuses only when they form a loop.
    #[test]
    fn single_piece_puts_providers_before_callers_wherever_the_graph_allows(
        spec in arb::scenario(Options::PURE),
    ) {
        let scenario = spec.load().map_err(TestCaseError::fail)?;
        let pairs = provider_first_pairs(&scenario);
        match plan::single_piece_order(&scenario) {
            Ok(order) => {
                prop_assert!(!has_cycle(&pairs), "an order was found despite a loop: {:?}", pairs);
                let position: BTreeMap<&str, usize> = order
                    .iter()
                    .enumerate()
                    .map(|(i, change)| (change.service.as_str(), i))
                    .collect();
                for (first, then) in &pairs {
                    prop_assert!(
                        position[first.as_str()] < position[then.as_str()],
                        "{} must go before {} in {:?}\n{}",
                        first,
                        then,
                        order.iter().map(|c| &c.service).collect::<Vec<_>>(),
                        spec.to_yaml()
                    );
                }
            }
            Err(PlanError::Cycle { cycle }) => {
                prop_assert!(has_cycle(&pairs), "no loop in {:?}, yet refused with {:?}\n{}", pairs, cycle, spec.to_yaml());
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
        }
    }

    /// Property 6: the same seed gives the same plans (with their fault schedules), the
    /// same random order, and the same check report; the random order is a permutation
    /// of the changes whatever the seed.
    #[test]
    fn one_seed_gives_one_plan_one_schedule_one_report(
        spec in arb::scenario(Options::PURE),
        other_seed in any::<u64>(),
    ) {
        let scenario = spec.load().map_err(TestCaseError::fail)?;
        let again = spec.load().map_err(TestCaseError::fail)?;
        for strategy in &scenario.strategies {
            prop_assert_eq!(
                plan::plan(&scenario, strategy, scenario.seed),
                plan::plan(&again, strategy, again.seed)
            );
        }
        let random = deploysim::model::Strategy {
            name: "random".to_owned(),
            kind: StrategyKind::Random,
            expect: Default::default(),
            on_breach: None,
            listed: false,
        };
        let first = plan::plan(&scenario, &random, other_seed).expect("random always plans");
        let second = plan::plan(&scenario, &random, other_seed).expect("random always plans");
        prop_assert_eq!(&first, &second);
        let mut services: Vec<String> = services_of(&first).concat();
        services.sort();
        let mut expected: Vec<String> = scenario
            .changes()
            .into_iter()
            .map(|c| c.service)
            .chain(scenario.releases().iter().map(ToString::to_string))
            .collect();
        expected.sort();
        prop_assert_eq!(services, expected);
        let report = |s: &Scenario| {
            let checked = deploysim::check::run(s, &s.strategies, s.seed, deploysim::check::sweep::Missing::Singles);
            format!("{:?} {:?} {:?}", checked.strategies, checked.safe, checked.space)
        };
        prop_assert_eq!(report(&scenario), report(&again));
    }
}

proptest! {
    #![proptest_config(crate::pure())]

    /// The generator behind `simulate generate`: one seed, one scenario, and it loads.
    #[test]
    fn generate_gives_one_valid_scenario_per_seed(services in 1usize..60, seed in any::<u64>()) {
        let text = deploysim::generate::scenario_yaml(services, seed);
        prop_assert_eq!(&text, &deploysim::generate::scenario_yaml(services, seed));
        let loaded = deploysim::scenario::parse_str(&text, std::path::Path::new("generated.yaml"));
        prop_assert!(loaded.is_ok(), "{}", loaded.err().map(|e| e.to_string()).unwrap_or_default());
    }
}
