//! Shrunk failures found by the properties, each kept as a named test with a one-line
//! postmortem of the bug it found. proptest-regressions/ (next to this directory) holds
//! the seeds that replay them inside the properties too.

use std::path::Path;

use deploysim::eval::Graph;
use deploysim::plan::safe;
use deploysim::scenario;

use crate::reference::Model;

use std::sync::Arc;

fn load(text: &str) -> deploysim::model::Scenario {
    scenario::parse_str(text, Path::new("case.yaml")).unwrap_or_else(|err| panic!("{err}"))
}

/// Found by `arbitrary_bytes_never_panic` (shrunk to the bytes 01 0D 0D 00).
/// Postmortem: problems were located by YAML's line count, where a lone CR ends a line,
/// but the excerpt under them split lines on LF only, so files saved with CR line
/// endings got a location and no excerpt.
#[test]
fn a_lone_cr_ends_a_line_in_error_excerpts() {
    let text = "name: x\rservices: 3\r";
    let error = scenario::parse_str(text, Path::new("case.yaml")).expect_err("services is no map");
    let rendered = error.to_string();
    assert!(
        rendered.contains("case.yaml:2:11: error: services"),
        "{rendered}"
    );
    assert!(rendered.contains("2 | services: 3"), "{rendered}");
}

/// Found by `the_safe_order_of_a_large_release_is_safe_or_truly_impossible` (shrunk from 12
/// services to these 3).
/// Postmortem: a recreate window was declared unavoidable when a caller required the
/// service in every version it could run, even when that caller is removed (or stops
/// being called) before the window; now only services every request of an entrypoint
/// needs in every state make a window unavoidable.
#[test]
fn a_recreate_window_is_avoidable_when_its_caller_leaves_first() {
    let scenario = load(
        "
name: leaves-first
services:
  cart:
    entrypoint: true
    versions:
      v1: { calls: [ { service: users } ] }
      v2: {}
  users:
    versions:
      v1: { calls: [ { service: ledger } ] }
  ledger:
    rollout: recreate
    versions:
      v1: {}
      v2: {}
initial: { cart: v1, users: v1, ledger: v1 }
target: { cart: v2, users: none, ledger: v2 }
",
    );
    let graph = Graph::new(&scenario);
    let order = safe::plan(&graph, &scenario);
    let safe::SafeOrder::Found { steps, fewest } = order else {
        panic!("a safe order exists: cart and users first, then ledger; got {order:?}");
    };
    assert!(fewest);
    assert_eq!(steps.len(), 2);
    assert!(
        steps[1] == deploysim::model::StepSpec::deploy(&["ledger"]),
        "ledger goes last: {steps:?}"
    );
    assert_eq!(Model::new(&scenario).fewest_safe_steps(), Some(2));
}

/// Found by the same property, run against the constraint method alone (shrunk to the
/// release in tests/props/cases/constraint-loop-with-an-order.yaml).
/// Postmortem: beyond the exhaustive search, a loop of ordering constraints was reported
/// as "no safe order exists", but the constraints are read off every version that can
/// run and over-approximate; such a loop is now "none found" (`proven: false`), and the
/// exhaustive search, which alone proves that none exists, reaches 12 changes.
#[test]
fn a_loop_of_constraints_is_not_proof_that_no_order_exists() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/props/cases/constraint-loop-with-an-order.yaml"),
    )
    .expect("the case file");
    let scenario = load(&text);
    let graph = Graph::new(&scenario);
    assert_eq!(Model::new(&scenario).fewest_safe_steps(), Some(2));
    assert!(matches!(
        safe::plan_by_constraints(&graph, &scenario),
        safe::SafeOrder::NotFound { proven: false, .. }
    ));
    let safe::SafeOrder::Found { steps, fewest } = safe::plan(&graph, &scenario) else {
        panic!("the exhaustive search finds the order");
    };
    assert!(fewest);
    assert_eq!(steps.len(), 2);
}

/// Found by `the_live_run_measures_what_the_check_predicts` (shrunk to a step that moves
/// web off v1 and removes pricing, which web v1 calls).
/// Postmortem: at the end of a step every service retired its old replicas at once, so a
/// request still inside an old web v1 replica called pricing after pricing had left and
/// degraded, in a state `check` does not predict; old replicas now retire callers first,
/// each after its in-flight requests finished.
#[test]
fn an_old_caller_in_flight_never_meets_a_callee_removed_in_the_same_step() {
    // web v1 works 40 ms before it calls pricing, so at 400 rps about 16 requests are
    // inside web v1 when the step completes: before the fix, some of them met no pricing.
    let scenario = Arc::new(load(
        "
name: in-flight
services:
  web:
    entrypoint: true
    replicas: 2
    versions:
      v1: { latency_ms: 40, calls: [ { service: pricing, on_failure: degrade } ] }
      v2: {}
  pricing:
    versions:
      v1: {}
initial: { web: v1, pricing: v1 }
target: { web: v2, pricing: none }
load: { rps: 400, baseline_ms: 200, step_ms: 600 }
strategies: [batch]
",
    ));
    let strategy = &scenario.strategies[0];
    let plan = deploysim::plan::plan(&scenario, strategy, scenario.seed).expect("plans");
    let run = crate::live::run_planned(&scenario, strategy, &plan);
    let step = &run.steps[1];
    assert!(step.total.requests() > 200, "the step was loaded");
    assert_eq!(
        (step.total.degraded, step.total.failed),
        (0, 0),
        "no request met web v1 without pricing: {:?}",
        step.total.causes
    );
    assert!(step.agrees());
}

/// Found by `the_safe_order_is_safe_fewest_or_truly_impossible` when the generator
/// learned flags (shrunk to these 3 services).
/// Postmortem: a call behind a flag counted as made in every state, so the recreate of a
/// service that only a flagged call needs was declared a window no order avoids; while
/// the flag is off nobody calls it. Flagged calls no longer make a callee always
/// required: recreate catalog first, then release the flag.
#[test]
fn a_recreate_window_behind_an_unreleased_flag_is_avoidable() {
    let scenario = load(
        "
name: behind-a-flag
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: pricing, flag: show-prices } ] } }
  pricing:
    versions: { v1: { calls: [ { service: catalog } ] } }
  catalog:
    rollout: recreate
    startup_ms: 50
    versions: { v1: {}, v2: {} }
initial: { web: v1, pricing: v1, catalog: v1 }
target: { catalog: v2 }
flags:
  show-prices: {}
",
    );
    let graph = Graph::new(&scenario);
    let order = safe::plan(&graph, &scenario);
    let safe::SafeOrder::Found { steps, fewest } = order else {
        panic!("recreate catalog while the flag is off, then release: {order:?}");
    };
    assert!(fewest);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].services, ["catalog"]);
    assert_eq!(Model::new(&scenario).fewest_safe_steps(), Some(2));
}

/// Found by `the_state_space_matches_a_brute_force_enumeration` (a flag `on: false,
/// percent: 0`).
/// Postmortem: releasing a flag at 0% leaves it off, yet it counted as a change of the
/// release, so the state space doubled with states that are the same. A flag at 0% is
/// not a release; a `percent:` step is how it goes on.
#[test]
fn a_flag_at_zero_percent_is_no_release() {
    let scenario = load(
        "
name: zero
services:
  web:
    entrypoint: true
    versions: { v1: {} }
initial: { web: v1 }
flags:
  later: { percent: 0 }
",
    );
    assert!(scenario.releases().is_empty());
    let graph = Graph::new(&scenario);
    let space = deploysim::check::space::explore(&graph, &scenario);
    assert_eq!(space.changes, 0);
    assert_eq!(space.settled_states, "1");
}
