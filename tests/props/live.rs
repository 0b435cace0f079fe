//! Properties 4 and 5, on real servers: the live run measures what the check predicts,
//! part by part of each step; and under random faults every request is counted once.
//!
//! Each request is counted in the part of the step it was sent in. In the settled part
//! every service serves one version, so with no faults, no error_rate and no latency
//! every request has exactly the predicted outcome. The transient part is random: a
//! request meets a mixed-version combination only if its calls pick those versions. The
//! reference model gives the chance of the worst predicted outcome per request; where
//! missing it in every request of the part is less likely than one in a million, the run
//! must have met it.

use std::sync::Arc;

use deploysim::eval::Level;
use deploysim::model::{Scenario, Strategy};
use deploysim::record::StepKind;
use deploysim::record::result::StrategyRun;
use deploysim::runtime::net::Net;
use proptest::prelude::*;

use crate::arb::{self, Options};
use crate::reference::{Model, RefState};

/// Runs one of the scenario's strategies that can be planned (`pick` chooses which) on
/// `net`, on a runtime or simulation of its own. `None` when none can be planned.
fn run_on(
    net: Net,
    scenario: &Arc<Scenario>,
    pick: prop::sample::Index,
) -> Option<(Strategy, StrategyRun)> {
    let plannable: Vec<(&Strategy, deploysim::plan::Plan)> = scenario
        .strategies
        .iter()
        .filter_map(|strategy| {
            let plan = deploysim::plan::plan(scenario, strategy, scenario.seed).ok()?;
            Some((strategy, plan))
        })
        .collect();
    if plannable.is_empty() {
        return None;
    }
    let (strategy, plan) = pick.get(&plannable);
    Some((
        (*strategy).clone(),
        run_planned_on(net, scenario, strategy, plan),
    ))
}

/// Runs `strategy` as `plan` says, live, on a runtime of its own.
pub fn run_planned(
    scenario: &Arc<Scenario>,
    strategy: &Strategy,
    plan: &deploysim::plan::Plan,
) -> StrategyRun {
    run_planned_on(Net::Live, scenario, strategy, plan)
}

/// Runs `strategy` as `plan` says on `net`, on a runtime or simulation of its own.
pub fn run_planned_on(
    net: Net,
    scenario: &Arc<Scenario>,
    strategy: &Strategy,
    plan: &deploysim::plan::Plan,
) -> StrategyRun {
    let limit =
        deploysim::runtime::host::sim_limit([deploysim::runtime::host::run_budget(scenario, plan)]);
    let (scenario, strategy, plan) = (Arc::clone(scenario), strategy.clone(), plan.clone());
    let seed = scenario.seed;
    let (run, _interrupted) = deploysim::runtime::host::host(
        net,
        seed,
        limit,
        &deploysim::runtime::interrupt::Interrupt::never(),
        move |options| async move {
            deploysim::runtime::run::run(scenario, &strategy, &plan, &options, None).await
        },
    )
    .expect("the host starts")
    .expect("the run starts its servers");
    run
}

/// Prints what a case checked, with `PROPS_VERBOSE=1`, to see what the cases cover.
fn note(text: impl FnOnce() -> String) {
    if std::env::var_os("PROPS_VERBOSE").is_some() {
        eprintln!("{}", text());
    }
}

/// The measured level of a part, from its counts.
fn level_of(counts: &deploysim::record::Counts) -> Option<Level> {
    deploysim::record::result::worst_level(counts.ok, counts.degraded, counts.failed)
}

/// Small fleets with nothing random but the version picks: what the check models.
const AGREEMENT: Options = Options {
    min_services: 3,
    max_services: 5,
    faults: false,
    noise: false,
    live: true,
    churn: 85,
    flags: true,
    cascades: false,
};

/// Everything random: faults, latency, error_rate, timeouts, retries, startup times,
/// capacities, protections, and latency, errors, hang and crash faults.
const ACCOUNTING: Options = Options {
    min_services: 2,
    max_services: 5,
    faults: true,
    noise: true,
    live: true,
    churn: 70,
    flags: true,
    cascades: true,
};

crate::property! {
    #![config(crate::live(10))]

    /// Property 4: per step, per part, per entrypoint, the live run measures the
    /// reference's prediction (which property 3 ties to the product's check).
    #[test]
    fn the_live_run_measures_what_the_check_predicts(
        spec in arb::scenario(AGREEMENT),
        pick in any::<prop::sample::Index>(),
    ) {
        measures_what_the_check_predicts(Net::Live, &spec, pick)?;
    }

    /// Property 5: under random faults, latency, errors and timeouts, every request sent
    /// is counted exactly once, in the step and part it was sent in; no step, part or
    /// entrypoint loses or invents one.
    #[test]
    fn every_request_is_counted_once_under_random_faults(
        spec in arb::scenario(ACCOUNTING),
        pick in any::<prop::sample::Index>(),
        max_in_flight in prop_oneof![3 => Just(1000u32), 1 => 2u32..20],
    ) {
        counts_every_request_once(Net::Live, spec, pick, max_in_flight)?;
    }
}

/// Property 4 on `net`: per step, per part, per entrypoint, the run measures the
/// reference's prediction.
fn measures_what_the_check_predicts(
    net: Net,
    spec: &arb::ScenarioSpec,
    pick: prop::sample::Index,
) -> Result<(), TestCaseError> {
    let scenario = spec.load().map_err(TestCaseError::fail)?;
    let Some((strategy, run)) = run_on(net, &scenario, pick) else {
        return Ok(());
    };
    // A run the machine could not keep up with measured the machine, not the
    // services: inconclusive, not a failure. Such cases are rejected, and a run with
    // more rejected cases than half the cases asked for fails (see `crate::live`).
    prop_assume!(run.kept_up(), "inconclusive: the machine fell behind");
    let mut certain = 0;
    let mut uncertain = 0;
    let model = Model::new(&scenario);
    let entries = model.entries();
    let half = scenario.load.bake.as_secs_f64() / 2.0;
    let yaml = spec.to_yaml();
    let mut before = scenario.initial.clone();
    for step in &run.steps {
        prop_assert!(matches!(
            step.kind,
            StepKind::Baseline | StepKind::Rollout(_)
        ));
        let mut after = before.clone();
        for change in &step.changes {
            after.apply(change);
        }
        // A step's flags switch at its start, and every request of the step carries them.
        let settled = RefState::settled(&after).with_flags(&step.flags);
        let transient =
            RefState::transient(&scenario, &before, &step.changes).with_flags(&step.flags);
        let start = RefState::settled(&before).with_flags(&step.flags);
        let blurred = RefState::blur(&[&start, &transient, &settled]);
        // The prediction the live report prints for the step is the reference's.
        let mut reference_levels = model.levels(&settled);
        if !step.changes.is_empty() {
            for state in RefState::transients(&scenario, &before, &step.changes) {
                let state = state.with_flags(&step.flags);
                for (level, during) in reference_levels.iter_mut().zip(model.levels(&state)) {
                    *level = (*level).max(during);
                }
            }
        }
        prop_assert_eq!(
            &step.predicted.levels,
            &reference_levels,
            "{} step {}",
            strategy.name,
            step.kind.label()
        );
        let mut all_certain = true;
        for entry in &entries {
            let label = format!("{} step {} entry {entry}", strategy.name, step.kind.label());
            let parts = step.parts.get(entry).copied().unwrap_or_default();
            for part in &parts {
                prop_assert_eq!(
                    part.sent,
                    part.answered(),
                    "{}: every request answered once",
                    label
                );
            }
            // The settled part: exactly the settled outcome, for every request; with a flag
            // at a percent between, some users see one side and some the other, so every
            // request's outcome is one the state allows.
            let possible = model.possible(&settled, entry);
            let expected = possible.worst();
            let counts = parts[1];
            prop_assert!(counts.sent > 0, "{}: the settled part had requests", label);
            let mixed =
                u8::from(possible.ok) + u8::from(possible.degraded) + u8::from(possible.failed())
                    > 1;
            if mixed {
                // The worst outcome is met when the flag's users are enough of the
                // settled half's requests (as for the transient part below).
                let chance = model.odds(&settled, entry).at_least(expected);
                let requests = f64::from(scenario.load.rps) * half * 0.8;
                if (1.0 - chance).powf(requests) < 1e-6 {
                    certain += 1;
                    prop_assert!(
                        level_of(&counts).is_some_and(|m| m >= expected),
                        "{}: settled part {:?}, predicted {:?} (chance per request {:.4})\n{}",
                        label,
                        counts,
                        expected,
                        chance,
                        yaml
                    );
                } else {
                    uncertain += 1;
                    all_certain = false;
                }
            }
            let exact = if mixed {
                (counts.ok == 0 || possible.ok)
                    && (counts.degraded == 0 || possible.degraded)
                    && (counts.failed == 0 || possible.failed())
            } else {
                match expected {
                    Level::Ok => counts.ok == counts.sent,
                    Level::Degraded => counts.degraded == counts.sent,
                    Level::Failed => counts.failed == counts.sent,
                }
            };
            prop_assert!(
                exact,
                "{}: settled part {:?}, expected all {:?} in {:?}\n{}",
                label,
                counts,
                expected,
                settled,
                yaml
            );
            if step.changes.is_empty() {
                prop_assert_eq!(
                    parts[0].sent,
                    0,
                    "{}: a step without changes has no transient part",
                    label
                );
                continue;
            }
            // The transient part: never worse than what its states allow...
            let measured = level_of(&parts[0]);
            let ceiling = model.possible(&blurred, entry).worst();
            prop_assert!(
                measured.is_none_or(|m| m <= ceiling),
                "{}: transient part {:?} is worse than {:?}\n{}",
                label,
                parts[0],
                ceiling,
                yaml
            );
            // ...and at least the transient state's worst outcome when a run all but
            // surely meets it: the transient state lasts half the step, at the
            // scenario's rate (counted at 80%, for the time the moves take).
            let predicted = model.possible(&transient, entry).worst();
            let chance = model.odds(&transient, entry).at_least(predicted);
            let requests = f64::from(scenario.load.rps) * half * 0.8;
            let missed = (1.0 - chance).powf(requests);
            if missed < 1e-6 {
                certain += 1;
                prop_assert!(
                    measured.is_some_and(|m| m >= predicted),
                    "{}: transient part {:?}, predicted {:?} (chance per request {:.4}, {:.0} requests)\n{}",
                    label,
                    parts[0],
                    predicted,
                    chance,
                    requests,
                    yaml
                );
            } else {
                uncertain += 1;
                all_certain = false;
            }
        }
        // Where every part was held to its prediction, the report's own verdict on the
        // step (its `!` mark when false) must be agreement.
        if all_certain {
            prop_assert!(
                step.agrees(),
                "{} step {}: the report marks a disagreement: predicted {:?}, measured {:?}, parts {:?}, causes {:?}\n{}",
                strategy.name,
                step.kind.label(),
                step.predicted.levels,
                step.measured,
                step.parts,
                step.by_entry
                    .iter()
                    .map(|(entry, tally)| (entry, tally.causes.keys().collect::<Vec<_>>()))
                    .collect::<Vec<_>>(),
                yaml
            );
        }
        before = after;
    }
    note(|| {
        format!(
            "agreement: {} ({} steps, {} entrypoints): transient parts held to the prediction {certain}, too unlikely to require {uncertain}",
            strategy.name,
            run.steps.len(),
            entries.len()
        )
    });
    Ok(())
}

crate::property! {
    #![config(crate::sim(64))]

    /// Property 4 in virtual time: many more cases than live, each deterministic, so a
    /// shrunk case replays exactly.
    #[test]
    fn the_sim_run_measures_what_the_check_predicts(
        spec in arb::scenario(AGREEMENT),
        pick in any::<prop::sample::Index>(),
    ) {
        measures_what_the_check_predicts(Net::Sim, &spec, pick)?;
    }
}

crate::property! {
    #![config(crate::sim(24))]

    /// Property 6 for whole runs: in virtual time, the same scenario and seed give the
    /// same report, byte for byte, under random faults, latency, errors, timeouts, retries
    /// and overload.
    #[test]
    fn the_same_seed_gives_the_same_sim_report(
        spec in arb::scenario(ACCOUNTING),
        pick in any::<prop::sample::Index>(),
        max_in_flight in prop_oneof![3 => Just(1000u32), 1 => 2u32..20],
    ) {
        let mut spec = spec;
        spec.load.max_in_flight = max_in_flight;
        let scenario = spec.load().map_err(TestCaseError::fail)?;
        let report = |run: StrategyRun| {
            let live = deploysim::record::result::LiveRun { runs: vec![run], ..Default::default() };
            serde_json::to_string(&deploysim::report::live::json(&scenario, scenario.seed, Net::Sim, &live))
                .expect("the report serialises")
        };
        let Some((_, first)) = run_on(Net::Sim, &scenario, pick) else {
            return Ok(());
        };
        let (_, second) = run_on(Net::Sim, &scenario, pick).expect("planned the first time");
        prop_assert_eq!(report(first), report(second), "\n{}", spec.to_yaml());
    }
}

/// Property 5 on `net`: every request sent is counted exactly once.
fn counts_every_request_once(
    net: Net,
    spec: arb::ScenarioSpec,
    pick: prop::sample::Index,
    max_in_flight: u32,
) -> Result<(), TestCaseError> {
    let mut spec = spec;
    spec.load.max_in_flight = max_in_flight;
    let scenario = spec.load().map_err(TestCaseError::fail)?;
    let Some((strategy, run)) = run_on(net, &scenario, pick) else {
        return Ok(());
    };
    note(|| {
        format!(
            "accounting: {} ({} steps, {} faults, max_in_flight {}): {} requests, {} failed",
            strategy.name,
            run.steps.len(),
            scenario.faults.len(),
            max_in_flight,
            run.scheduled,
            run.total.failed
        )
    });
    let yaml = spec.to_yaml();
    let mut sent_in_steps = 0;
    for step in &run.steps {
        let label = format!("{} step {}", strategy.name, step.kind.label());
        let mut step_sent = 0;
        for (entry, tally) in &step.by_entry {
            let parts = step.parts.get(entry).copied().unwrap_or_default();
            let sent = parts[0].sent + parts[1].sent;
            prop_assert_eq!(
                tally.requests(),
                sent,
                "{} {}: tallies against sends\n{}",
                label,
                entry,
                yaml
            );
            prop_assert_eq!(parts[0].answered() + parts[1].answered(), sent);
            prop_assert_eq!(tally.ok, parts[0].ok + parts[1].ok);
            prop_assert_eq!(tally.degraded, parts[0].degraded + parts[1].degraded);
            prop_assert_eq!(tally.failed, parts[0].failed + parts[1].failed);
            // One latency sample per request that went out (refused ones have none).
            prop_assert_eq!(
                tally.samples(),
                sent - tally.refused(),
                "{} {}",
                label,
                entry
            );
            if tally.failed > 0 {
                prop_assert!(
                    !tally.causes.is_empty(),
                    "{} {}: a failure names its cause",
                    label,
                    entry
                );
            }
            step_sent += sent;
        }
        prop_assert!(
            step.parts
                .keys()
                .all(|entry| step.by_entry.contains_key(entry))
        );
        prop_assert_eq!(step.total.requests(), step_sent);
        sent_in_steps += step_sent;
    }
    prop_assert_eq!(run.total.requests(), sent_in_steps);
    prop_assert_eq!(
        run.scheduled,
        sent_in_steps,
        "scheduled against counted\n{}",
        yaml
    );
    // Open loop: arrivals follow the clock, whatever the services do.
    let entries = scenario.entrypoints().count() as f64;
    let seconds: f64 = run
        .steps
        .iter()
        .map(|step| step.duration.as_secs_f64())
        .sum();
    let expected = f64::from(scenario.load.rps) * entries * seconds;
    let scheduled = run.scheduled as f64;
    // In virtual time nothing is late: the count is exact but for the arrival at each
    // step's edges, per entrypoint.
    let slack = match net {
        Net::Live | Net::Processes => expected * 0.1 + 20.0,
        Net::Sim => entries * (run.steps.len() as f64 + 1.0),
    };
    prop_assert!(
        (scheduled - expected).abs() <= slack,
        "{} requests scheduled over {:.2} s at {} rps x {} entrypoints (expected about {:.0})",
        scheduled,
        seconds,
        scenario.load.rps,
        entries,
        expected
    );
    Ok(())
}

crate::property! {
    #![config(crate::sim(24))]

    /// Property 5 in virtual time.
    #[test]
    fn every_request_is_counted_once_under_random_faults_in_sim(
        spec in arb::scenario(ACCOUNTING),
        pick in any::<prop::sample::Index>(),
        max_in_flight in prop_oneof![3 => Just(1000u32), 1 => 2u32..20],
    ) {
        counts_every_request_once(Net::Sim, spec, pick, max_in_flight)?;
    }
}

/// Capacities, protections and the faults that are not "gone", with steps long enough
/// for queues to settle.
const LOAD: Options = Options {
    min_services: 2,
    max_services: 5,
    faults: false,
    noise: false,
    live: true,
    churn: 70,
    flags: true,
    cascades: true,
};

/// Property 6 in virtual time: where `check`'s load prediction of a settled part is
/// decided, the share served measured there is within the bound of the predicted one;
/// returns (decided, settled parts with traffic).
fn load_agrees(
    spec: arb::ScenarioSpec,
    pick: prop::sample::Index,
) -> Result<(usize, usize), TestCaseError> {
    let mut spec = spec;
    spec.load.baseline_ms = 3000;
    spec.load.step_ms = 6000;
    // The baseline is all settled part: a fault that starts or ends inside it leaves no
    // one state to hold it to (undecided by construction, not by the model). One on the
    // baseline's clock is made to hold from the start to the end of the run, so that it
    // is a state the model predicts; faults of later steps keep their timing (they fall
    // in the transient part, which the settled part is held after). A crash keeps its
    // timing: a crash loop is not a state the model predicts (docs/check.md), and one
    // made to hold would leave every part of the run undecided, not only the baseline.
    for fault in &mut spec.faults {
        if fault.at_step == 0 && !matches!(fault.kind, arb::FaultKindSpec::Crash(..)) {
            fault.after_ms = 0;
            fault.for_ms = None;
        }
    }
    let scenario = spec.load().map_err(TestCaseError::fail)?;
    let Some((strategy, run)) = run_on(Net::Sim, &scenario, pick) else {
        return Ok((0, 0));
    };
    let (mut decided, mut parts) = (0, 0);
    for step in &run.steps {
        let Some(load) = &step.load else {
            continue;
        };
        let part = scenario
            .load
            .settled_part(step.kind == deploysim::record::StepKind::Baseline);
        parts += 1;
        if !load.decided_over(part) {
            note(|| {
                format!(
                    "undecided: {:?} {:?} partial {} converged {} short {} undecided {:?}",
                    step.kind,
                    step.events,
                    load.partial,
                    load.converged,
                    load.decided() && !load.decided_over(part),
                    load.undecided
                )
            });
            note(|| {
                format!(
                    "measured {:?} predicted {:?}",
                    step.settled_served(),
                    load.served
                )
            });
            continue;
        }
        decided += 1;
        let measured = step.settled_served();
        for (entry, predicted) in &load.served {
            if let Some(Some(share)) = measured.get(entry) {
                prop_assert!(
                    (share - predicted).abs() <= deploysim::record::result::LOAD_BOUND_SIM,
                    "{} step {} {}: predicted {:.3}, measured {:.3}\n{:?}\n{}",
                    strategy.name,
                    step.kind.label(),
                    entry,
                    predicted,
                    share,
                    load,
                    spec.to_yaml()
                );
            }
        }
    }
    Ok((decided, parts))
}

/// The share of settled parts with traffic whose load prediction must be decided, over
/// the generator's scenarios, so that a wide undecided band cannot pass property 6 by
/// deciding nothing.
const DECIDED_SHARE: f64 = 0.7;

/// One-sided 95% normal quantile: the test fails when the cases run put the generator's
/// decided share below [`DECIDED_SHARE`] with 95% confidence.
const DECIDED_CONFIDENCE_Z: f64 = 1.645;

/// At least this many cases with traffic before the decided share is judged (fewer, with
/// a small `PROPTEST_SIM_CASES`, say too little about it).
const DECIDED_OVER_CASES: usize = 20;

/// The decided share of the cases' settled parts, `(decided, parts)` per case, and the
/// upper end of its one-sided 95% confidence interval. The parts of one case share one
/// scenario and are decided or not together, so the sample is the cases, not the parts:
/// the standard error is the ratio estimator's over cases. 32 cases estimate the share
/// within about 6 points; a lone sample at 63% is not evidence that the mean is under
/// 70% (eight seeds measured 63% to 83%, 74% together), one at 50% is.
fn decided_share(cases: &[(usize, usize)]) -> (f64, f64) {
    let n = cases.len() as f64;
    let decided: usize = cases.iter().map(|c| c.0).sum();
    let parts: usize = cases.iter().map(|c| c.1).sum();
    let share = decided as f64 / parts.max(1) as f64;
    let mean_parts = parts as f64 / n;
    let spread: f64 = cases
        .iter()
        .map(|&(d, p)| (d as f64 - share * p as f64).powi(2))
        .sum::<f64>()
        / (n - 1.0).max(1.0);
    let error = (spread / n).sqrt() / mean_parts.max(f64::MIN_POSITIVE);
    (share, share + DECIDED_CONFIDENCE_Z * error)
}

/// Property 6: the load prediction holds where it is decided, in virtual time, and it
/// is decided for at least [`DECIDED_SHARE`] of the settled parts of generated
/// scenarios (judged with 95% confidence from the cases run, [`decided_share`]).
#[test]
fn the_sim_run_measures_the_load_check_predicts() {
    let cases = std::cell::RefCell::new(Vec::new());
    crate::run_property(
        crate::sim(32),
        concat!(
            module_path!(),
            "::the_sim_run_measures_the_load_check_predicts"
        ),
        file!(),
        (arb::scenario(LOAD), any::<prop::sample::Index>()),
        |(spec, pick)| {
            let (decided, parts) = load_agrees(spec, pick)?;
            if parts > 0 {
                cases.borrow_mut().push((decided, parts));
            }
            note(|| format!("load: {decided} of {parts} settled parts decided"));
            Ok(())
        },
    );
    let cases = cases.into_inner();
    let (share, upper) = decided_share(&cases);
    eprintln!(
        "load: {:.1}% of the settled parts of {} cases decided (95% upper bound {:.1}%)",
        share * 100.0,
        cases.len(),
        upper * 100.0
    );
    if cases.len() >= DECIDED_OVER_CASES {
        assert!(
            upper >= DECIDED_SHARE,
            "the load prediction decided {:.1}% of the settled parts of {} cases: below {:.0}% with 95% confidence (upper bound {:.1}%)",
            share * 100.0,
            cases.len(),
            DECIDED_SHARE * 100.0,
            upper * 100.0
        );
    }
}

#[test]
fn the_decided_share_is_judged_over_cases_not_parts() {
    // 32 cases of 3 parts, three in four decided: well within 70%.
    let even = vec![(3, 4); 32];
    let (share, upper) = decided_share(&even);
    assert!((share - 0.75).abs() < 1e-9);
    assert!(
        (upper - 0.75).abs() < 1e-9,
        "no spread between cases: {upper}"
    );
    // Half the cases decide everything, half nothing: 50%, and too sure of it to pass.
    let split: Vec<(usize, usize)> = (0..32)
        .map(|i| (if i % 2 == 0 { 3 } else { 0 }, 3))
        .collect();
    let (share, upper) = decided_share(&split);
    assert!((share - 0.5).abs() < 1e-9);
    assert!(upper < DECIDED_SHARE, "{upper}");
    // 63% from 32 cases that differ as generated cases do is no proof of a mean under 70%.
    let mut near: Vec<(usize, usize)> = (0..20).map(|_| (3, 3)).collect();
    near.extend((0..12).map(|i| (usize::from(i % 3 == 0), 3)));
    let (share, upper) = decided_share(&near);
    assert!(share > 0.6 && share < 0.7, "{share}");
    assert!(upper >= DECIDED_SHARE, "{upper}");
}
