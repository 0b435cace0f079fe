//! Unit tests of `validate`.
use std::path::Path;
use std::time::Duration;

use crate::model::{Breach, FailCode, OnFailure, Rollout, Scenario, StrategyKind};
use crate::scenario::{self, Problem};

fn load(yaml: &str) -> Result<Scenario, Vec<Problem>> {
    scenario::parse_str(yaml, Path::new("t.yaml")).map_err(|err| err.problems())
}

fn problems(yaml: &str) -> Vec<(String, usize, String)> {
    match load(yaml) {
        Ok(_) => panic!("expected problems, the scenario loaded"),
        Err(problems) => problems
            .into_iter()
            .map(|p| (p.path, p.pos.line, p.message))
            .collect(),
    }
}

const MINIMAL: &str = "
name: minimal
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls: [ { service: db } ]
  db:
    versions:
      v1:
initial: { web: v1, db: v1 }
";

#[test]
fn defaults_fill_what_is_left_out() {
    let scenario = load(MINIMAL).expect("valid");
    let web = &scenario.services["web"];
    assert_eq!(
        (web.replicas, web.rollout, web.startup),
        (1, Rollout::Rolling, Duration::ZERO)
    );
    let call = &web.versions["v1"].calls[0];
    assert_eq!(
        (
            call.api.as_str(),
            call.on_failure,
            call.timeout,
            call.retries
        ),
        ("v1", OnFailure::FAIL, Duration::from_secs(1), 0)
    );
    assert_eq!(scenario.services["db"].versions["v1"].provides, vec!["v1"]);
    let kinds: Vec<&StrategyKind> = scenario.strategies.iter().map(|s| &s.kind).collect();
    assert_eq!(
        kinds,
        vec![&StrategyKind::Batch, &StrategyKind::SinglePiece]
    );
    assert_eq!(scenario.load.rps, 100);
    assert_eq!(scenario.seed, 0);
    assert!(scenario.gate.is_none());
    assert!(scenario.changes().is_empty(), "no target: nothing changes");
}

#[test]
fn target_none_removes_and_services_left_out_of_initial_are_not_deployed() {
    let yaml = MINIMAL.replace(
        "initial: { web: v1, db: v1 }",
        "initial: { web: v1 }\ntarget: { web: none, db: v1 }",
    );
    let scenario = load(&yaml).expect("valid");
    assert_eq!(scenario.initial.version("db"), None);
    assert_eq!(scenario.target.version("web"), None);
    let changes: Vec<String> = scenario.changes().iter().map(ToString::to_string).collect();
    assert_eq!(changes, vec!["db none->v1", "web v1->none"]);
}

#[test]
fn strategy_expectations_override_the_top_level_key_by_key() {
    let yaml = format!(
        "{MINIMAL}
expect: {{ graceful: true, p99_ms: 250 }}
strategies:
  - batch
  - {{ name: single-piece, expect: {{ graceful: false }} }}
gate: {{ max_failed_ratio: 0.01, on_breach: rollback }}
"
    );
    let scenario = load(&yaml).expect("valid");
    let batch = &scenario.strategies[0].expect;
    assert_eq!(
        (batch.graceful, batch.p99),
        (Some(true), Some(Duration::from_millis(250)))
    );
    let single = &scenario.strategies[1].expect;
    assert_eq!(
        (single.graceful, single.p99),
        (Some(false), Some(Duration::from_millis(250)))
    );
    assert_eq!(
        scenario.gate.as_ref().map(|g| g.on_breach),
        Some(Breach::Rollback)
    );
}

#[test]
fn every_problem_is_reported_with_its_key_path_and_line() {
    let found = problems(
        "
name: many
services:
  web:
    entrypoint: true
    replicas: 0
    versions:
      v1: { calls: [ { service: dbb }, { service: db, api: v2 } ] }
  db:
    versions: { v1: {} }
initial: { web: v1, db: v3 }
",
    );
    assert_eq!(
        found
            .iter()
            .map(|(path, line, _)| (path.as_str(), *line))
            .collect::<Vec<_>>(),
        vec![
            ("services.web.replicas", 6),
            ("services.web.versions.v1.calls[0].service", 8),
            ("services.web.versions.v1.calls[1].api", 8),
            ("initial.db", 11),
        ]
    );
    assert!(found[1].2.contains("did you mean \"db\""), "{found:?}");
}

#[test]
fn call_cycles_are_named_with_versions() {
    let found = problems(
        "
name: loop
services:
  a: { entrypoint: true, versions: { v1: { calls: [ { service: b } ] } } }
  b: { versions: { v1: {}, v2: { calls: [ { service: a } ] } } }
initial: { a: v1, b: v1 }
target: { b: v2 }
",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].2.contains("a v1 -> b v2 -> a v1"), "{found:?}");
}

#[test]
fn versions_that_never_run_cannot_form_a_cycle() {
    // b v9 would call a, but b v9 is neither initial nor target, so it never runs.
    let yaml = "
name: unused
services:
  a: { entrypoint: true, versions: { v1: { calls: [ { service: b } ] } } }
  b: { versions: { v1: {}, v9: { calls: [ { service: a } ] } } }
initial: { a: v1, b: v1 }
";
    assert!(load(yaml).is_ok());
}

#[test]
fn services_calling_each_other_on_different_methods_are_no_cycle() {
    // TrainTicket's seat and travel services: seat's `reserve` asks travel, travel's
    // `book` asks seat's `count`, which calls nothing.
    let valid = "
name: trains
services:
  travel:
    entrypoint: true
    versions:
      v1: { methods: { book: { calls: [ { service: seat, method: count } ] }, left: {} } }
  seat:
    versions:
      v1:
        methods:
          reserve: { calls: [ { service: travel, method: left } ] }
          count: {}
initial: { travel: v1, seat: v1 }
load: { entrypoints: { travel: { mix: { book: 1 } } } }
";
    assert!(load(valid).is_ok(), "{:?}", load(valid).err());
    // The same along one method is a cycle, named with its methods.
    let looping = valid.replace("method: left", "method: book").replace(
        "book: { calls: [ { service: seat, method: count } ] }",
        "book: { calls: [ { service: seat, method: reserve } ] }",
    );
    let found = problems(&looping);
    assert!(
        found.iter().any(|p| p.2.contains(
            "call cycle: seat v1 method reserve -> travel v1 method book -> seat v1 method reserve"
        )),
        "{found:?}"
    );
}

#[test]
fn a_service_calling_itself_is_a_cycle() {
    let found = problems(
        "
name: self
services:
  a: { entrypoint: true, versions: { v1: { calls: [ { service: a } ] } } }
initial: { a: v1 }
",
    );
    assert!(found[0].2.contains("call cycle: a v1 -> a v1"), "{found:?}");
}

#[test]
fn explicit_steps_are_checked_against_the_target() {
    let found = problems(
        "
name: steps
services:
  web: { entrypoint: true, versions: { v1: {}, v2: {} } }
  db: { versions: { v1: {} } }
initial: { web: v1, db: v1 }
target: { web: v2 }
strategies:
  - { name: twice, steps: [[web], [web]] }
  - { name: unchanged, steps: [[db, web]] }
  - { name: empty, steps: [[]] }
  - { name: twice, steps: [[web]] }
",
    );
    let messages: Vec<&str> = found.iter().map(|(_, _, m)| m.as_str()).collect();
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(messages[0].contains("already deployed by strategies[0].steps[0]"));
    assert!(messages[1].contains("the target does not change \"db\""));
    assert!(messages[2].contains("at least one service"));
    assert!(messages[3].contains("defined twice"));
}

#[test]
fn faults_are_checked() {
    let yaml = format!(
        "{MINIMAL}
faults:
  - {{ kill: dbb }}
  - {{ partition: {{ from: web, to: web }} }}
  - {{ missing: db, at_step: 1 }}
  - {{ crash: {{ service: db, every_ms: 5 }} }}
  - {{ kill: wbe, at_step: -1 }}
"
    );
    let found = problems(&yaml);
    let paths: Vec<&str> = found.iter().map(|(path, _, _)| path.as_str()).collect();
    // MINIMAL changes nothing: every strategy ends at step 0.
    assert_eq!(
        paths,
        vec![
            "faults[0].kill",
            "faults[1].partition.to",
            "faults[2].at_step",
            "faults[3].crash.every_ms",
            // A bad step does not hide the fault's other problems.
            "faults[4].kill",
            "faults[4].at_step",
        ]
    );
}

#[test]
fn capacity_and_protections_are_read_with_their_defaults_and_their_mistakes_located() {
    let scenario = load(
        "
name: protected
services:
  web:
    entrypoint: true
    versions:
      v1:
        capacity: { workers: 4 }
        calls:
          - service: db
            timeout_ms: 500
            per_try_timeout_ms: 100
            retries: 2
            retry_on: [DEADLINE_EXCEEDED, UNAVAILABLE, UNAVAILABLE]
            backoff: {}
            retry_budget: {}
            breaker: { window: 8 }
            bulkhead: 3
  db: { versions: { v1: {} } }
initial: { web: v1, db: v1 }
",
    )
    .expect("valid");
    let version = &scenario.services["web"].versions["v1"];
    assert_eq!(
        version.capacity,
        Some(crate::model::Capacity {
            workers: 4,
            queue: 0
        })
    );
    let protect = &version.calls[0].protect;
    assert_eq!(protect.per_try_timeout, Some(Duration::from_millis(100)));
    assert_eq!(
        protect.retry_on,
        vec![FailCode::Unavailable, FailCode::DeadlineExceeded]
    );
    let backoff = protect.backoff.expect("backoff");
    assert_eq!(
        (backoff.base, backoff.max),
        (Duration::from_millis(25), Duration::from_millis(250))
    );
    let budget = protect.budget.expect("budget");
    assert_eq!((budget.percent, budget.min_per_s), (20, 10));
    let breaker = protect.breaker.expect("breaker");
    assert_eq!(
        (breaker.window, breaker.min_calls, breaker.failure_percent),
        (8, 4, 50)
    );
    assert_eq!(protect.bulkhead, Some(3));
    // A call without these keys means what it meant before they existed.
    assert_eq!(
        scenario.services["web"].versions["v1"].calls[0]
            .protect
            .retry_on
            .len(),
        2
    );

    let found = problems(
        "
name: mistaken
services:
  web:
    entrypoint: true
    versions:
      v1:
        capacity: { queue: 4 }
        calls:
          - service: db
            timeout_ms: 500
            per_try_timeout_ms: 800
            retry_on: [UNAVAILABLE, TIMEOUT]
            backoff: { base_ms: 50, max_ms: 10 }
            breaker: { window: 5, min_calls: 6 }
            bulkhead: 0
  db: { versions: { v1: {} } }
initial: { web: v1, db: v1 }
",
    );
    let paths: Vec<&str> = found.iter().map(|(path, _, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "services.web.versions.v1.capacity",
            "services.web.versions.v1.calls[0].per_try_timeout_ms",
            // Without `retries`, a retry setting is a mistake however it is written.
            "services.web.versions.v1.calls[0].retry_on",
            "services.web.versions.v1.calls[0].retry_on[1]",
            "services.web.versions.v1.calls[0].backoff",
            "services.web.versions.v1.calls[0].backoff.max_ms",
            "services.web.versions.v1.calls[0].breaker.min_calls",
            "services.web.versions.v1.calls[0].bulkhead",
        ],
        "{found:?}"
    );
}

#[test]
fn one_mistake_gives_one_problem_not_a_cascade() {
    // web's target version is misspelt: the explicit step that moves web must not add
    // "the target does not change web". db has no `versions`: the call to it must not
    // add "no version of db provides API v1".
    let found = problems(
        "
name: cascade
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: db } ] }, v2: {} } }
  db: { replicas: 1 }
initial: { web: v1 }
target: { web: v3 }
strategies:
  - { name: web-only, steps: [[web]] }
",
    );
    let paths: Vec<&str> = found.iter().map(|(path, _, _)| path.as_str()).collect();
    assert_eq!(paths, vec!["services.db", "target.web"], "{found:?}");
}

#[test]
fn numbers_too_long_for_any_integer_are_out_of_range() {
    let yaml = MINIMAL.replace(
        "name: minimal",
        "name: minimal\nseed: 123456789012345678901234567890123456789012",
    );
    let found = problems(&yaml);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .2
            .starts_with("123456789012345678901234567890123456789012 is out of range"),
        "{found:?}"
    );
}

#[test]
fn waves_of_zero_services_say_what_k_must_be() {
    let found = problems(&format!("{MINIMAL}strategies: [waves-0, batch]\n"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "strategies[0]");
    assert!(found[0].2.contains("must be at least 1"), "{found:?}");
}

#[test]
fn bounded_numbers_and_names() {
    let found = problems(
            "
name: Shop
seed: -1
services:
  web: { entrypoint: true, replicas: 65, startup_ms: 3600001, versions: { v1: { error_rate: .nan } } }
initial: { web: v1 }
load: { rps: 100001, max_in_flight: 0 }
risk: { trials: 0, defect: { probability: 2, kinds: { errors: 0 } } }
",
        );
    let paths: Vec<&str> = found.iter().map(|(path, _, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "name",
            "seed",
            "services.web.replicas",
            "services.web.startup_ms",
            "services.web.versions.v1.error_rate",
            "load.rps",
            "load.max_in_flight",
            "risk.trials",
            "risk.defect.probability",
            "risk.defect.kinds",
        ]
    );
}
