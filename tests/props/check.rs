//! Property 3: the static check agrees with the reference model: in random states with
//! random faults, in every state of every strategy, over the whole state space, and on
//! whether a safe order exists and how few steps it takes.

use std::collections::BTreeSet;

use deploysim::check::{self, space};
use deploysim::eval::{Graph, Level, State};
use deploysim::model::{Change, FaultKind, Scenario};
use deploysim::plan::safe;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::arb::{self, Options, ScenarioSpec};
use crate::reference::{Model, RefState};

/// The product's state and the reference's for the same serving versions: `choice` picks,
/// per service, a subset of its runnable versions (as a bitmask over them), and after
/// the 12 services, per flag: off, at 50%, or on.
fn both_states(graph: &Graph, choice: &[u8]) -> (State, RefState) {
    let mut reference = RefState::default();
    let mut serving: Vec<u8> = graph
        .versions
        .iter()
        .enumerate()
        .map(|(s, versions)| {
            let mask = choice[s] & ((1u8 << versions.len()) - 1);
            let set: BTreeSet<String> = versions
                .iter()
                .enumerate()
                .filter(|(v, _)| mask & (1 << v) != 0)
                .map(|(_, name)| name.clone())
                .collect();
            if !set.is_empty() {
                reference.serving.insert(graph.services[s].clone(), set);
            }
            mask
        })
        .collect();
    for (f, flag) in graph.flags.iter().enumerate() {
        let share = [0u8, 50, 100][usize::from(choice[12 + f] % 3)];
        serving.push(deploysim::eval::graph::flag_mask(share));
        if share > 0 {
            reference.flags.insert(flag.clone(), share);
        }
    }
    (
        State {
            serving,
            cut: Vec::new(),
        },
        reference,
    )
}

fn faults(scenario: &Scenario, raw: &[(u8, Index, Index)]) -> Vec<FaultKind> {
    let names: Vec<&String> = scenario.services.keys().collect();
    raw.iter()
        .map(|(kind, a, b)| {
            let a = a.index(names.len());
            match kind {
                0 => FaultKind::Kill(names[a].clone()),
                1 => FaultKind::Missing(names[a].clone()),
                _ => FaultKind::Partition {
                    from: names[a].clone(),
                    to: names[(a + 1 + b.index(names.len() - 1)) % names.len()].clone(),
                },
            }
        })
        .collect()
}

fn load(spec: &ScenarioSpec) -> Result<std::sync::Arc<Scenario>, TestCaseError> {
    spec.load().map_err(TestCaseError::fail)
}

fn product_levels(graph: &Graph, state: &State) -> Vec<Level> {
    let mut levels = Vec::new();
    graph.levels(state, &mut Vec::new(), &mut levels);
    levels
}

/// Applies `changes` to the initial deployment, in order.
fn deployment_after(scenario: &Scenario, changes: &[Change]) -> deploysim::model::Deployment {
    let mut deployment = scenario.initial.clone();
    for change in changes {
        deployment.apply(change);
    }
    deployment
}

/// The safe order against the reference: every state it passes through is safe; when
/// it claims the fewest steps, no safe order is shorter; when it finds none, none exists.
fn assert_safe_order(spec: &ScenarioSpec) -> Result<(), TestCaseError> {
    let scenario = load(spec)?;
    let graph = Graph::new(&scenario);
    let model = Model::new(&scenario);
    let fewest = model.fewest_safe_steps();
    match safe::plan(&graph, &scenario) {
        safe::SafeOrder::Found {
            steps,
            fewest: claimed_fewest,
        } => {
            let changes = scenario.changes();
            let mut applied: Vec<Change> = Vec::new();
            let mut flags = scenario.initial_flags();
            prop_assert!(model.safe(&RefState::settled(&scenario.initial).with_flags(&flags)));
            for step in &steps {
                for change in &step.flags {
                    flags.apply(change);
                }
                let moving: Vec<Change> = step
                    .services
                    .iter()
                    .map(|service| {
                        changes
                            .iter()
                            .find(|change| &change.service == service)
                            .cloned()
                            .expect("a step names a changed service")
                    })
                    .collect();
                let before = deployment_after(&scenario, &applied);
                let transient = RefState::transient(&scenario, &before, &moving).with_flags(&flags);
                prop_assert!(
                    model.safe(&transient),
                    "the safe order {:?} fails in the transient state of {:?}: {:?}\n{}",
                    steps,
                    step,
                    transient,
                    spec.to_yaml()
                );
                applied.extend(moving);
                let after =
                    RefState::settled(&deployment_after(&scenario, &applied)).with_flags(&flags);
                prop_assert!(
                    model.safe(&after),
                    "the safe order {:?} fails after {:?}\n{}",
                    steps,
                    step,
                    spec.to_yaml()
                );
            }
            let mut services: Vec<&String> = applied.iter().map(|c| &c.service).collect();
            services.sort();
            let mut expected: Vec<&String> = changes.iter().map(|c| &c.service).collect();
            expected.sort();
            prop_assert_eq!(services, expected, "every change once");
            prop_assert_eq!(&flags, &scenario.target_flags(), "every flag released");
            let Some(fewest) = fewest else {
                return Err(TestCaseError::fail("the reference found no safe order"));
            };
            if claimed_fewest {
                prop_assert_eq!(steps.len(), fewest, "{}", spec.to_yaml());
            } else {
                prop_assert!(steps.len() >= fewest);
            }
        }
        safe::SafeOrder::NotFound { conflicts, proven } => {
            prop_assert!(
                proven,
                "within the exhaustive search a missing order is proven"
            );
            prop_assert!(!conflicts.is_empty());
            prop_assert_eq!(
                fewest,
                None,
                "the planner found no safe order ({:?}), the reference one of {:?} steps\n{}",
                conflicts
                    .iter()
                    .map(|c| deploysim::report::conflict_text(c).0)
                    .collect::<Vec<_>>(),
                fewest,
                spec.to_yaml()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::pure())]

    /// Any mix of serving versions, with kills, undeploys and partitions: the product's
    /// one-pass evaluation gives every entrypoint the reference's worst outcome.
    #[test]
    fn check_levels_agree_with_the_reference_in_random_states(
        spec in arb::scenario(Options::PURE),
        choice in vec(0u8..8, 14),
        raw_faults in vec((0u8..3, any::<Index>(), any::<Index>()), 0..=3),
    ) {
        let scenario = load(&spec)?;
        let graph = Graph::new(&scenario);
        let model = Model::new(&scenario);
        let (state, mut reference) = both_states(&graph, &choice);
        let faults = faults(&scenario, &raw_faults);
        let state = deploysim::eval::with_faults(&graph, &state, &faults);
        for fault in &faults {
            reference.with_fault(fault);
        }
        prop_assert_eq!(
            product_levels(&graph, &state),
            model.levels(&reference),
            "state {:?}\n{}",
            reference,
            spec.to_yaml()
        );
        // The explanation names an edge exactly when something is wrong.
        for (prediction, level) in graph.explain(&state).iter().zip(model.levels(&reference)) {
            prop_assert_eq!(prediction.level, level);
            prop_assert_eq!(prediction.edge.is_some(), level != Level::Ok);
        }
    }

    /// Every step of every strategy: the transient and settled predictions are the
    /// reference's, and the strategy's distinct and failing state counts are too.
    #[test]
    fn check_predicts_every_step_of_every_strategy_as_the_reference_does(
        spec in arb::scenario(Options { faults: false, ..Options::PURE }),
    ) {
        let scenario = load(&spec)?;
        let graph = Graph::new(&scenario);
        let model = Model::new(&scenario);
        for strategy in &scenario.strategies {
            let checked = check::check_strategy(&graph, &scenario, strategy, scenario.seed);
            let Ok(plan) = &checked.plan else { continue };
            let mut seen = BTreeSet::new();
            let mut before = scenario.initial.clone();
            let mut walk = plan.walk(&scenario);
            for predicted in &checked.steps {
                let Some((step, deployment, flags)) = walk.next() else { break };
                let (deployment, flags) = (deployment.clone(), flags.clone());
                let settled = RefState::settled(&deployment).with_flags(&flags);
                prop_assert_eq!(
                    predicted.settled.predictions.iter().map(|p| p.level).collect::<Vec<_>>(),
                    model.levels(&settled),
                    "{} step {} settled\n{}", strategy.name, step.index, spec.to_yaml()
                );
                let mut worst = model.levels(&settled);
                seen.insert(settled.classed());
                if step.changes.is_empty() {
                    prop_assert!(predicted.transient.is_none());
                } else {
                    // A rollout step's flags switch at its start.
                    let transient = RefState::transient(&scenario, &before, &step.changes)
                        .with_flags(&flags);
                    // The part's prediction also covers recreated services whose old
                    // replicas still answer at its start.
                    let mut levels = model.levels(&transient);
                    for state in RefState::transients(&scenario, &before, &step.changes) {
                        let state = state.with_flags(&flags);
                        for (level, during) in levels.iter_mut().zip(model.levels(&state)) {
                            *level = (*level).max(during);
                        }
                    }
                    let Some(evaluated) = &predicted.transient else {
                        return Err(TestCaseError::fail("a step with changes has a transient state"));
                    };
                    prop_assert_eq!(
                        evaluated.predictions.iter().map(|p| p.level).collect::<Vec<_>>(),
                        levels.clone(),
                        "{} step {} transient {:?}\n{}", strategy.name, step.index, transient, spec.to_yaml()
                    );
                    for (w, l) in worst.iter_mut().zip(levels) {
                        *w = (*w).max(l);
                    }
                    seen.insert(transient.classed());
                }
                prop_assert_eq!(&predicted.levels, &worst);
                before = deployment;
            }
            let failing = seen.iter().filter(|state| !model.safe(state)).count();
            prop_assert_eq!(checked.distinct_states, seen.len(), "{}\n{}", strategy.name, spec.to_yaml());
            prop_assert_eq!(checked.failing_states, failing, "{}\n{}", strategy.name, spec.to_yaml());
        }
    }

    /// The state space: counts and the failing and degraded states among them, against
    /// a brute-force enumeration of every settled and single-piece transient state.
    #[test]
    fn the_state_space_matches_a_brute_force_enumeration(
        spec in arb::scenario(Options { faults: false, ..Options::PURE }),
    ) {
        let scenario = load(&spec)?;
        let graph = Graph::new(&scenario);
        let model = Model::new(&scenario);
        let explored = space::explore(&graph, &scenario);
        let n = scenario.changes().len() + scenario.releases().len();
        prop_assert_eq!(explored.changes, n);
        prop_assert_eq!(&explored.settled_states, &(1u64 << n).to_string());
        let states = model.single_piece_states();
        prop_assert_eq!(&explored.single_piece_states, &states.len().to_string(), "{}", spec.to_yaml());
        let evaluation = explored.evaluated.expect("12 changes at most fit in the budget");
        prop_assert!(evaluation.transient_included);
        prop_assert_eq!(evaluation.states, states.len() as u64);
        let worst: Vec<Level> = states
            .iter()
            .map(|state| model.levels(state).into_iter().max().unwrap_or(Level::Ok))
            .collect();
        let failing = worst.iter().filter(|level| **level == Level::Failed).count() as u64;
        let degraded = worst.iter().filter(|level| **level == Level::Degraded).count() as u64;
        prop_assert_eq!(evaluation.failing, failing, "{}", spec.to_yaml());
        prop_assert_eq!(evaluation.degraded, degraded, "{}", spec.to_yaml());
    }

    /// The safe order: every state it passes through is safe in the reference; when it
    /// claims the fewest steps, no safe order is shorter; when it finds none, none exists
    /// (a breadth-first search over every set of changes and every group as a step).
    #[test]
    fn the_safe_order_is_safe_fewest_or_truly_impossible(
        spec in arb::scenario(Options { faults: false, ..Options::PURE }),
    ) {
        assert_safe_order(&spec)?;
    }
}

proptest! {
    #![proptest_config(crate::pure())]

    /// The same with 11 or 12 changes, where the planner lays out ordering constraints
    /// instead of searching exhaustively: is it still safe, and does it miss no order?
    #[test]
    fn the_safe_order_of_a_large_release_is_safe_or_truly_impossible(
        spec in arb::scenario(Options::LARGE),
    ) {
        assert_safe_order(&spec)?;
    }
}

/// Diagnostics run only when `DEPLOYSIM_DIAGNOSTICS` is set (docs/testing.md): they
/// measure rather than pass or fail, and take longer than a test should.
fn diagnostics_wanted(name: &str) -> bool {
    let wanted = std::env::var_os("DEPLOYSIM_DIAGNOSTICS").is_some();
    if !wanted {
        eprintln!("{name}: skipped; set DEPLOYSIM_DIAGNOSTICS=1 to run it");
    }
    wanted
}

/// What the generator produces: services and changes per scenario, and how many have a
/// safe order (and of how many steps). Run it after changing the generator:
/// `DEPLOYSIM_DIAGNOSTICS=1 cargo test --release --test props generator_mix -- --nocapture`
/// (`LARGE=1` for the large releases).
#[test]
fn generator_mix() {
    use proptest::strategy::ValueTree;
    if !diagnostics_wanted("generator_mix") {
        return;
    }
    let options = if std::env::var_os("LARGE").is_some() {
        Options::LARGE
    } else {
        Options::PURE
    };
    let mut runner = proptest::test_runner::TestRunner::default();
    let mut sizes = std::collections::BTreeMap::new();
    let mut fewest = std::collections::BTreeMap::new();
    // Flags: scenarios with any, releases, flagged calls, explicit orders with flag steps.
    let mut flagged = [0usize; 4];
    for _ in 0..256 {
        let spec = arb::scenario(options)
            .new_tree(&mut runner)
            .expect("a scenario")
            .current();
        let scenario = spec.load().expect("valid");
        *sizes
            .entry((scenario.services.len(), scenario.changes().len()))
            .or_insert(0) += 1;
        *fewest
            .entry(Model::new(&scenario).fewest_safe_steps())
            .or_insert(0) += 1;
        flagged[0] += usize::from(!scenario.flags.is_empty());
        flagged[1] += usize::from(!scenario.releases().is_empty());
        flagged[2] += usize::from(scenario.services.values().any(|service| {
            service
                .versions
                .values()
                .any(|version| version.calls.iter().any(|call| call.flag.is_some()))
        }));
        flagged[3] += usize::from(scenario.strategies.iter().any(|strategy| {
            matches!(&strategy.kind, deploysim::model::StrategyKind::Steps(steps)
                if steps.iter().any(|step| !step.flags.is_empty()))
        }));
    }
    println!("(services, changes): scenarios {sizes:?}\nfewest safe steps: scenarios {fewest:?}");
    println!(
        "flags: {} of 256 scenarios have some, {} release one, {} call behind one, {} have flag steps",
        flagged[0], flagged[1], flagged[2], flagged[3]
    );
}

/// How often the constraint method (what `plan` falls back to beyond the exhaustive
/// search) misses a safe order that exists, on large releases where the reference can
/// still search them all. A measurement, and a check that every order it claims is safe:
/// `DEPLOYSIM_DIAGNOSTICS=1 cargo test --release --test props constraint_method_completeness -- --nocapture`
#[test]
fn constraint_method_completeness() {
    use proptest::strategy::ValueTree;
    if !diagnostics_wanted("constraint_method_completeness") {
        return;
    }
    let mut runner = proptest::test_runner::TestRunner::default();
    let cases = 1000;
    let (mut exist, mut found, mut unsafe_found) = (0, 0, 0);
    for _ in 0..cases {
        let spec = arb::scenario(Options::LARGE)
            .new_tree(&mut runner)
            .expect("a scenario")
            .current();
        let scenario = spec.load().expect("valid");
        let graph = Graph::new(&scenario);
        let model = Model::new(&scenario);
        let by_constraints = safe::plan_by_constraints(&graph, &scenario);
        if model.fewest_safe_steps().is_some() {
            exist += 1;
            if let safe::SafeOrder::Found { .. } = by_constraints {
                found += 1;
            }
        } else if let safe::SafeOrder::Found { .. } = by_constraints {
            unsafe_found += 1;
        }
    }
    println!(
        "{cases} large releases: a safe order exists in {exist}; the constraint method finds \
         one in {found} of them; it claims one where none exists in {unsafe_found}"
    );
    assert_eq!(
        unsafe_found, 0,
        "the constraint method's orders are verified"
    );
}

/// Takes out of `spec` what the reference's load walk leaves to the product alone: flags
/// on calls, breakers, bulkheads, retries on DEADLINE_EXCEEDED (which come with a backoff
/// and a budget) and `crash` faults. Capacities, methods, mixes, fallbacks, asynchronous
/// calls, latencies, error rates, timeouts, per-try timeouts, retries and the `hang`,
/// `latency` and `errors` faults stay.
fn strip_for_load(spec: &mut ScenarioSpec) {
    fn strip(call: &mut arb::CallSpec) {
        call.flag = None;
        call.protect = call
            .protect
            .take()
            .and_then(|protect| protect.per_try_ms)
            .map(|per_try_ms| arb::ProtectSpec {
                per_try_ms: Some(per_try_ms),
                retry_deadlines: false,
                breaker: false,
                bulkhead: None,
            });
        if let Some(fallback) = &mut call.fallback {
            strip(fallback);
        }
    }
    spec.faults
        .retain(|fault| !matches!(fault.kind, arb::FaultKindSpec::Crash(..)));
    for service in &mut spec.services {
        for version in &mut service.versions {
            version.calls.iter_mut().for_each(strip);
        }
    }
}

proptest! {
    #![proptest_config(crate::pure())]

    /// Property 3 for load: in the initial and the target state of generated scenarios
    /// with capacities, the load prediction serves each entrypoint the share the
    /// reference's plain walk over names finds (tests/props/reference.rs, `load`).
    #[test]
    fn the_load_prediction_agrees_with_the_reference_walk(
        spec in arb::scenario(Options {
            faults: false,
            noise: true,
            flags: false,
            cascades: true,
            live: true,
            ..Options::PURE
        }),
    ) {
        let mut spec = spec;
        strip_for_load(&mut spec);
        let scenario = load(&spec)?;
        let flags = scenario.initial_flags();
        // Every fault left is taken as in force for the whole state.
        let faults: Vec<&deploysim::model::FaultKind> =
            scenario.faults.iter().map(|fault| &fault.kind).collect();
        for deployment in [&scenario.initial, &scenario.target] {
            let product = deploysim::eval::demand::predict(&scenario, deployment, &flags, &faults);
            let Some(reference) = crate::reference::load::served(&scenario, deployment, &faults)
            else {
                continue;
            };
            if !product.converged {
                continue;
            }
            for (entry, share) in &reference {
                let predicted = product.served.get(entry).copied().unwrap_or(f64::NAN);
                prop_assert!(
                    // The product stops its fixed point once no refusal moves by 1e-5 in a
                    // round (the reference by 1e-9); near a steep point (retries into a
                    // refusing service) that leaves a share served about 1e-4 off.
                    (predicted - share).abs() < 1e-3,
                    "{entry}: predicted {predicted}, reference {share}\n{product:?}\n{}",
                    spec.to_yaml()
                );
            }
        }
    }
}
