//! Every scenario file the project ships, checked the way a user meets it.

use std::path::Path;

use deploysim::model::StrategyKind;
use deploysim::plan;
use deploysim::scenario;

use crate::support::{simulate, yaml_files};

#[test]
fn every_shipped_scenario_loads_and_every_strategy_plans() {
    let files = yaml_files("scenarios");
    assert!(
        files.len() >= 3,
        "scenarios/ holds partial.yaml and at least two more"
    );
    for file in files {
        let scenario = scenario::load(&file)
            .unwrap_or_else(|err| panic!("{} is invalid:\n{err}", file.display()));
        for strategy in &scenario.strategies {
            let plan = plan::plan(&scenario, strategy, scenario.seed)
                .unwrap_or_else(|err| panic!("{} / {}: {err}", file.display(), strategy.name));
            // The deployment after each step is derived by the plan's walk; replayed
            // here from the steps' changes on a plain map, the two agree at every step.
            let mut replayed = scenario.initial.0.clone();
            let mut walk = plan.walk(&scenario);
            while let Some((step, derived, _)) = walk.next() {
                for change in &step.changes {
                    match &change.to {
                        Some(version) => replayed.insert(change.service.clone(), version.clone()),
                        None => replayed.remove(&change.service),
                    };
                }
                assert_eq!(
                    derived.0,
                    replayed,
                    "{} / {} after step {}",
                    file.display(),
                    strategy.name,
                    step.index
                );
            }
            if plan.is_complete() {
                assert_eq!(
                    replayed,
                    scenario.target.0,
                    "{} / {} ends at the target",
                    file.display(),
                    strategy.name
                );
            }
        }
    }
}

#[test]
fn partial_yaml_has_what_the_tutorial_promises() {
    let scenario = scenario::load(Path::new("scenarios/partial.yaml")).expect("valid");
    assert!(scenario.services.len() >= 6);
    let web = &scenario.services["web"];
    assert!(web.entrypoint && web.replicas == 2);
    // An additive change: the new catalog keeps API v1. A breaking one: recommend drops it.
    assert!(
        scenario
            .version("catalog", "v2")
            .is_some_and(|v| v.provides("v1") && v.provides("v2"))
    );
    assert!(
        scenario
            .version("recommend", "v2")
            .is_some_and(|v| !v.provides("v1"))
    );
    let partial = scenario
        .strategies
        .iter()
        .find(|s| s.name == "half-done")
        .expect("half-done");
    let plan = plan::plan(&scenario, partial, scenario.seed).expect("plannable");
    assert!(!plan.is_complete(), "half-done stops before the target");
    let must_break = scenario
        .strategies
        .iter()
        .find(|s| s.name == "consumer-first")
        .expect("consumer-first");
    assert!(matches!(must_break.kind, StrategyKind::Steps(_)));
    assert_eq!(must_break.expect.graceful, Some(false));
}

#[test]
fn every_invalid_fixture_is_rejected_with_a_located_message() {
    let files = yaml_files("scenarios/invalid");
    assert!(files.len() >= 15, "one fixture per kind of mistake");
    for file in files {
        let relative = file
            .strip_prefix(crate::support::root())
            .expect("inside the repo");
        let relative = relative.to_str().expect("utf-8 path");
        let run = simulate(&["plan", relative]);
        assert_eq!(run.code, 2, "{relative} exits 2; stderr:\n{}", run.stderr);
        assert!(run.stdout.is_empty(), "{relative} prints no plan");
        assert!(
            run.stderr.contains(relative),
            "{relative}: the message names the file:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("error"),
            "{relative}: says it is an error"
        );
        for crash in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            assert!(
                !run.stderr.contains(crash),
                "{relative} crashed:\n{}",
                run.stderr
            );
        }
        insta::assert_snapshot!(
            format!(
                "invalid__{}",
                file.file_stem().and_then(|s| s.to_str()).unwrap_or("?")
            ),
            run.stderr
        );
    }
}

#[test]
fn plans_of_shipped_scenarios_read_as_snapshotted() {
    for file in yaml_files("scenarios") {
        let relative = file
            .strip_prefix(crate::support::root())
            .expect("inside the repo");
        let run = simulate(&["plan", relative.to_str().expect("utf-8 path")]);
        assert_eq!(run.code, 0, "{}: {}", relative.display(), run.stderr);
        insta::assert_snapshot!(
            format!(
                "plan__{}",
                file.file_stem().and_then(|s| s.to_str()).unwrap_or("?")
            ),
            run.stdout
        );
    }
}

/// `simulate check` of every shipped scenario: what a user reads, and exit 0 because
/// every shipped scenario states its expectations truthfully.
#[test]
fn checks_of_shipped_scenarios_read_as_snapshotted() {
    for file in yaml_files("scenarios") {
        let relative = file
            .strip_prefix(crate::support::root())
            .expect("inside the repo");
        let run = simulate(&["check", relative.to_str().expect("utf-8 path")]);
        assert_eq!(
            run.code,
            0,
            "{}: {}{}",
            relative.display(),
            run.stdout,
            run.stderr
        );
        insta::assert_snapshot!(
            format!(
                "check__{}",
                file.file_stem().and_then(|s| s.to_str()).unwrap_or("?")
            ),
            run.stdout
        );
    }
}

#[test]
fn single_piece_is_provider_first_on_a_generated_fleet() {
    let yaml = deploysim::generate::scenario_yaml(300, 11);
    let scenario = scenario::parse_str(&yaml, Path::new("generated.yaml"))
        .expect("generated scenarios are valid");
    let single = scenario
        .strategies
        .iter()
        .find(|s| s.name == "single-piece")
        .expect("single-piece");
    let plan = plan::plan(&scenario, single, scenario.seed).expect("plannable");
    let step_of: std::collections::BTreeMap<&str, usize> = plan
        .steps
        .iter()
        .flat_map(|step| {
            step.changes
                .iter()
                .map(move |change| (change.service.as_str(), step.index))
        })
        .collect();
    assert!(
        step_of.len() > 50,
        "enough changes to mean something: {}",
        step_of.len()
    );
    let mut checked_edges = 0;
    // Independent of the planner's reachability: every direct call from a changed
    // service's target version to another changed service must point at an earlier step.
    for (service, step) in &step_of {
        let version = scenario
            .target
            .version(service)
            .expect("generated changes are upgrades");
        for call in &scenario.version(service, version).expect("defined").calls {
            if let Some(callee_step) = step_of.get(call.service.as_str()) {
                assert!(
                    callee_step < step,
                    "{service} (step {step}) calls {} (step {callee_step})",
                    call.service
                );
                checked_edges += 1;
            }
        }
    }
    assert!(
        checked_edges > 10,
        "the fleet has changed-to-changed calls: {checked_edges}"
    );
}

#[test]
fn generated_scenarios_hold_their_own_expectations_at_a_load_two_cores_carry() {
    for (services, seed) in [(12, 1), (60, 2), (300, 3), (1000, 4)] {
        let yaml = deploysim::generate::scenario_yaml(services, seed);
        let scenario = scenario::parse_str(&yaml, Path::new("generated.yaml"))
            .expect("generated scenarios are valid");
        let report = deploysim::check::run(
            &scenario,
            &scenario.strategies,
            seed,
            deploysim::check::sweep::Missing::Singles,
        );
        assert_eq!(
            report.verdict(),
            deploysim::record::result::Verdict::Pass,
            "{services} services, seed {seed}: the check breaks {:?}",
            report.failed()
        );
        // The generator's budget, counted independently: calls per second over the
        // fleet at the generated rate, following each entrypoint's initial calls.
        let calls_per_request = |entry: &str| -> u64 {
            let mut count = 0;
            let mut frontier = vec![entry.to_owned()];
            while let Some(service) = frontier.pop() {
                count += 1;
                let version = scenario.initial.version(&service).expect("deployed");
                for call in &scenario.version(&service, version).expect("defined").calls {
                    frontier.push(call.service.clone());
                }
            }
            count
        };
        let per_round: u64 = scenario
            .entrypoints()
            .map(|entry| calls_per_request(&entry.name))
            .sum();
        let calls_per_second = per_round * u64::from(scenario.load.rps);
        assert!(
            calls_per_second <= 5_000 || scenario.load.rps == 1,
            "{services} services: {calls_per_second} calls/s at {} rps",
            scenario.load.rps
        );
    }
}
