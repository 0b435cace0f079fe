//! Deploy is not release, on real servers: calls behind flags, percentages sticky per
//! user, the kill switch against a rollback. Assertions are on counts, never on timings.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deploysim::model::{Breach, Scenario};
use deploysim::record::StepKind;
use deploysim::record::result::{Ending, StrategyRun};
use deploysim::runtime::net::Net;
use deploysim::scenario;

use crate::support::{run_on, simulate};

fn inline(yaml: &str) -> Scenario {
    scenario::parse_str(yaml, Path::new("inline.yaml")).unwrap_or_else(|err| panic!("{err}"))
}

fn dark_launch(bake_ms: u64) -> Scenario {
    let mut scenario =
        scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/dark-launch.yaml"))
            .expect("the shipped scenario loads");
    scenario.load.baseline = Duration::from_millis(bake_ms);
    scenario.load.bake = Duration::from_millis(bake_ms);
    scenario
}

fn run(net: Net, scenario: &Scenario, strategy: &str) -> StrategyRun {
    let strategy = scenario
        .strategies
        .iter()
        .find(|s| s.name == strategy)
        .cloned()
        .unwrap_or_else(|| panic!("no strategy {strategy}"));
    run_on(net, &Arc::new(scenario.clone()), &strategy)
}

fn calls(run: &StrategyRun, step: usize, edge: &str) -> u64 {
    run.steps[step]
        .traffic
        .edges
        .get(edge)
        .map_or(0, |counts| counts.calls)
}

fn received(run: &StrategyRun, step: usize, service: &str) -> u64 {
    run.steps[step]
        .traffic
        .received
        .get(service)
        .copied()
        .unwrap_or(0)
}

#[test]
fn a_dark_call_is_never_made_while_its_flag_is_off() {
    let scenario = dark_launch(300);
    let run = run(Net::Live, &scenario, "dark");
    // Step 1 deploys web v2 and reviews with the flag off: web serves, nobody calls reviews.
    assert!(received(&run, 1, "web") > 0, "web served step 1");
    assert_eq!(
        calls(&run, 1, "web -> reviews api v1"),
        0,
        "the dark call was made"
    );
    assert_eq!(
        received(&run, 1, "reviews"),
        0,
        "reviews received a request while dark"
    );
    assert_eq!(run.steps[1].total.failed, 0, "a dark deploy fails nothing");
    // Step 2 releases it: every request calls reviews, and fails on the missing ratings.
    let released = calls(&run, 2, "web -> reviews api v1");
    assert_eq!(
        released,
        run.steps[2].total.requests(),
        "at 100% every request calls"
    );
    assert_eq!(received(&run, 2, "reviews"), released);
}

/// web calls `probe` behind `f`, at `percent`; `probe` answers ok.
fn percent_scenario(percent: u8) -> Scenario {
    inline(&format!(
        "
name: percent
seed: 11
services:
  web:
    entrypoint: true
    versions:
      v1: {{ calls: [ {{ service: probe, flag: f }} ] }}
  probe:
    versions: {{ v1: {{}} }}
initial: {{ web: v1, probe: v1 }}
flags:
  f: {{ on: false }}
load: {{ rps: 1000, baseline_ms: 100, step_ms: 1000 }}
strategies:
  - name: release
    steps: [ {{ percent: {{ f: {percent} }} }} ]
"
    ))
}

#[test]
fn at_n_percent_the_share_of_requests_that_make_the_call_is_within_a_binomial_bound() {
    for percent in [10u8, 50] {
        let run = run(Net::Live, &percent_scenario(percent), "release");
        let requests = run.steps[1].total.requests();
        let made = calls(&run, 1, "web -> probe api v1");
        assert!(requests >= 500, "{requests} requests");
        let p = f64::from(percent) / 100.0;
        let share = made as f64 / requests as f64;
        // Requests draw users at random: the share is binomial around the share of the
        // 10,000 users the hash puts under N (itself within about 1.5 points of N). Four
        // standard deviations of the binomial, plus those 1.5 points.
        let bound = 4.0 * (p * (1.0 - p) / requests as f64).sqrt() + 0.015;
        assert!(
            (share - p).abs() <= bound,
            "at {percent}%: {made} of {requests} requests made the call ({share:.3}), bound {bound:.3}"
        );
        assert_eq!(
            calls(&run, 0, "web -> probe api v1"),
            0,
            "off in the baseline"
        );
    }
}

#[test]
fn every_service_answers_a_flag_alike_for_one_request() {
    // web calls left and right; each calls a service that is not deployed, behind the
    // same flag at 50%, and degrades without it. A request sees the flag on at both or
    // at neither: every degraded request names both edges, and no request names one.
    let scenario = inline(
        "
name: same-user
seed: 5
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: left }, { service: right } ] }
  left:
    versions: { v1: { calls: [ { service: gone-l, on_failure: degrade, flag: f } ] } }
  right:
    versions: { v1: { calls: [ { service: gone-r, on_failure: degrade, flag: f } ] } }
  gone-l:
    versions: { v1: {} }
  gone-r:
    versions: { v1: {} }
initial: { web: v1, left: v1, right: v1 }
flags:
  f: { on: true, percent: 50 }
load: { rps: 500, baseline_ms: 800 }
strategies:
  - name: nothing
    steps: [ { percent: { f: 50 } } ]
",
    );
    let run = run(Net::Live, &scenario, "nothing");
    let total = &run.total;
    let count = |edge: &str| -> u64 {
        total
            .causes
            .iter()
            .filter(|(key, _)| key.edge == edge)
            .map(|(_, count)| count.degraded)
            .sum()
    };
    assert!(
        total.degraded > 50,
        "about half degrade: {}",
        total.degraded
    );
    assert!(total.ok > 50, "about half do not: {}", total.ok);
    assert_eq!(total.failed, 0);
    assert_eq!(count("left -> gone-l api v1"), total.degraded);
    assert_eq!(count("right -> gone-r api v1"), total.degraded);
}

#[test]
fn a_kill_switch_mitigates_with_fewer_failed_requests_than_a_rollback() {
    let scenario = dark_launch(400);
    let rollback = run(Net::Live, &scenario, "together");
    let switched = run(Net::Live, &scenario, "together-kill-switch");
    assert_eq!(rollback.ending, Ending::RolledBack);
    assert_eq!(switched.ending, Ending::Switched);
    let by_rollback = rollback.mitigation.expect("the rollback is measured");
    let by_switch = switched.mitigation.expect("the kill switch is measured");
    assert_eq!(by_rollback.action, Breach::Rollback);
    assert_eq!(by_switch.action, Breach::KillSwitch);
    // The same defect breaks the same step in both...
    assert!(rollback.steps[1].gate_breached && switched.steps[1].gate_breached);
    // ...after it, the kill switch fails nothing: a request that arrives after the switch
    // carries the flag off. The rollback redeploys web v1 first, and web v2 keeps calling
    // the broken feature until it leaves.
    let kill = switched
        .steps
        .iter()
        .find(|step| matches!(step.kind, StepKind::KillSwitch(1)))
        .expect("a kill-switch step");
    assert_eq!(kill.total.failed, 0, "{:?}", kill.total);
    assert_eq!(calls(&switched, kill.index, "web -> reviews api v1"), 0);
    let undo = &rollback.steps[2];
    assert_eq!(undo.kind, StepKind::Rollback(1));
    assert!(
        undo.total.failed > 0,
        "the rollback's moves meet the defect"
    );
    assert!(
        by_switch.failed_before < by_rollback.failed_before,
        "kill switch {} failed before mitigation, rollback {}",
        by_switch.failed_before,
        by_rollback.failed_before
    );
    assert_eq!(by_switch.failed_before, switched.steps[1].total.failed);
    assert_eq!(
        by_switch.restored_in,
        Some(kill.index),
        "restored by the switch"
    );
    assert_eq!(
        by_rollback.restored_in,
        Some(2),
        "restored once web v1 is back"
    );
    assert_eq!(by_switch.failed_after + by_rollback.failed_after, 0);
}

/// web calls `extra` behind `more`, on for half the users before the rollout; the
/// rollout raises it to everyone, then deploys an api version that drops what web calls.
fn raise_then_break(breach: &str) -> Scenario {
    inline(&format!(
        "
name: raise-then-break
seed: 3
services:
  web:
    entrypoint: true
    versions:
      v1: {{ calls: [ {{ service: api }}, {{ service: extra, flag: more }} ] }}
  api:
    versions: {{ v1: {{}}, v2: {{ provides: [v2] }} }}
  extra:
    versions: {{ v1: {{}} }}
initial: {{ web: v1, api: v1, extra: v1 }}
target: {{ api: v2 }}
flags:
  more: {{ on: true, percent: 50 }}
load: {{ rps: 300, baseline_ms: 300, step_ms: 300 }}
gate: {{ max_failed_ratio: 0.05, on_breach: {breach} }}
strategies:
  - name: raise-then-break
    steps: [ {{ percent: {{ more: 100 }} }}, [api] ]
"
    ))
}

#[test]
fn a_kill_switch_puts_a_flag_that_was_on_back_to_its_share_and_cannot_undo_a_deploy() {
    let run = run(
        Net::Sim,
        &raise_then_break("kill-switch"),
        "raise-then-break",
    );
    // Step 2 breaks api: the breach is the deploy's, and the only flag the rollout
    // touched goes back to the 50% it had, not off.
    assert!(run.steps[2].gate_breached);
    let kill = run.steps.last().expect("a kill-switch step");
    assert_eq!(kill.kind, StepKind::KillSwitch(2));
    assert_eq!(kill.flags.share("more"), 50, "{:?}", kill.flag_changes);
    // It cannot undo the deploy: the failure goes on, and the report says so.
    let mitigation = run.mitigation.expect("a kill switch was tried");
    assert_eq!(mitigation.restored_in, None);
    assert!(mitigation.failed_after > 0);
}

#[test]
fn a_kill_switch_with_no_flag_released_stops_and_says_so() {
    // Break api without touching the flag: there is nothing to switch off.
    let mut scenario = raise_then_break("kill-switch");
    scenario.strategies[0].kind =
        deploysim::model::StrategyKind::Steps(vec![deploysim::model::StepSpec::deploy(&["api"])]);
    let run = run(Net::Sim, &scenario, "raise-then-break");
    assert_eq!(run.ending, Ending::Stopped);
    assert!(run.mitigation.is_none());
    assert!(
        run.steps[1]
            .events
            .contains(&deploysim::record::Event::NothingToSwitchOff),
        "{:?}",
        run.steps[1].events
    );
}

#[test]
fn the_json_report_has_flags_calls_per_edge_and_the_mitigation() {
    let run = simulate(&[
        "scenarios/dark-launch.yaml",
        "--strategy",
        "dark-by-percent",
        "--net",
        "sim",
        "--json",
        "-",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    let strategy = &json["strategies"][0];
    let steps = strategy["steps"].as_array().expect("steps");
    assert_eq!(steps[1]["flags"]["show-reviews"], 0, "deployed dark");
    assert_eq!(steps[2]["flags"]["show-reviews"], 5);
    assert_eq!(steps[2]["flag_changes"][0], "show-reviews 5%");
    let reviews_calls = |step: &serde_json::Value| -> u64 {
        step["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|edge| edge["edge"] == "web -> reviews api v1")
            .map_or(0, |edge| edge["calls"].as_u64().expect("calls"))
    };
    assert_eq!(reviews_calls(&steps[1]), 0);
    assert!(
        reviews_calls(&steps[3]) > reviews_calls(&steps[2]),
        "25% calls more than 5%"
    );
    let client = steps[1]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|edge| edge["edge"] == "client -> web api v1")
        .expect("the load generator's edge");
    assert_eq!(client["calls"], steps[1]["requests"]["sent"]);
    assert_eq!(strategy["ending"], "kill_switch");
    assert_eq!(strategy["mitigation"]["action"], "kill_switch");
    assert!(
        strategy["mitigation"]["failed_before"]
            .as_u64()
            .expect("a count")
            > 0
    );
}
