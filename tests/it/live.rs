//! The live run on loopback, through the library: real tonic servers, real gRPC codes.
//! Bake times are shortened so the suite stays fast; assertions are on counts, codes and
//! edges, never on exact timings.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deploysim::eval::Level;
use deploysim::model::Scenario;
use deploysim::record::Event;
use deploysim::record::StepKind;
use deploysim::record::result::{Ending, StrategyRun};
use deploysim::scenario;

use deploysim::runtime::net::Net;

use crate::support::run_on;

/// Runs `strategy` of `scenario` live, with its own runtime.
fn run(scenario: Scenario, strategy: &str) -> StrategyRun {
    run_on_net(Net::Live, scenario, strategy)
}

/// Runs `strategy` of `scenario` on `net`, with its own runtime or simulation.
fn run_on_net(net: Net, scenario: Scenario, strategy: &str) -> StrategyRun {
    let strategy = scenario
        .strategies
        .iter()
        .find(|s| s.name == strategy)
        .cloned()
        .unwrap_or_else(|| panic!("no strategy {strategy}"));
    let run = run_on(net, &Arc::new(scenario), &strategy);
    assert_accounting(&run);
    run
}

/// ok + degraded + failed = sent in every step, and every scheduled request is counted.
fn assert_accounting(run: &StrategyRun) {
    let mut sum = 0;
    for step in &run.steps {
        let t = &step.total;
        assert_eq!(
            t.ok + t.degraded + t.failed,
            t.requests(),
            "step {}",
            step.index
        );
        assert_eq!(
            t.samples(),
            t.requests() - t.refused(),
            "one latency sample per request sent"
        );
        let by_entry: u64 = step.by_entry.values().map(|e| e.requests()).sum();
        assert_eq!(
            by_entry,
            t.requests(),
            "entrypoints add up in step {}",
            step.index
        );
        sum += t.requests();
    }
    assert_eq!(sum, run.total.requests());
    assert_eq!(
        run.scheduled,
        run.total.requests(),
        "every scheduled request counted once"
    );
    assert!(run.scheduled > 0, "the load ran");
}

fn shipped(name: &str, bake_ms: u64) -> Scenario {
    let mut scenario = scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name),
    )
    .expect("shipped scenario loads");
    scenario.load.baseline = Duration::from_millis(bake_ms);
    scenario.load.bake = Duration::from_millis(bake_ms);
    scenario
}

fn inline(yaml: &str) -> Scenario {
    scenario::parse_str(yaml, Path::new("inline.yaml")).unwrap_or_else(|err| panic!("{err}"))
}

/// The count of `edge` with `code` over the whole run, in failed or degraded requests.
fn cause(run: &StrategyRun, edge: &str, code: &str) -> (u64, u64) {
    run.total
        .causes
        .iter()
        .filter(|(key, _)| key.edge == edge && key.code == code)
        .fold((0, 0), |(f, d), (_, count)| {
            (f + count.failed, d + count.degraded)
        })
}

#[test]
fn consumer_first_breaks_on_the_missing_api_in_the_step_that_ships_it() {
    let run = run(shipped("partial.yaml", 250), "consumer-first");
    let steps = &run.steps;
    assert_eq!(steps[0].kind, StepKind::Baseline);
    assert_eq!(steps[0].total.failed, 0, "the baseline is healthy");
    let web_first = &steps[1];
    assert_eq!(web_first.kind, StepKind::Rollout(1));
    assert!(
        web_first.total.failed > 0,
        "web v2 calls catalog api v2 too early"
    );
    let unimplemented = web_first
        .total
        .causes
        .iter()
        .find(|(key, _)| key.edge == "web -> catalog api v2" && key.code == "UNIMPLEMENTED")
        .map(|(_, count)| count.failed)
        .unwrap_or(0);
    assert!(unimplemented > 0, "{:?}", web_first.total.causes);
    // Every failure of that step is that edge: nothing else is broken.
    let other_failures: u64 = web_first
        .total
        .causes
        .iter()
        .filter(|(key, _)| key.edge != "web -> catalog api v2")
        .map(|(_, count)| count.failed)
        .sum();
    assert_eq!(other_failures, 0, "{:?}", web_first.total.causes);
    assert!(!run.graceful());
    assert!(run.passed(), "the scenario expects this order to fail");
}

#[test]
fn single_piece_and_the_partial_rollout_stay_graceful() {
    for strategy in ["single-piece", "half-done"] {
        let run = run(shipped("partial.yaml", 200), strategy);
        assert_eq!(run.total.failed, 0, "{strategy}: {:?}", run.total.causes);
        assert!(
            run.total.degraded > 0,
            "{strategy}: recommend is lost for a while"
        );
        assert!(run.passed(), "{strategy}: {:?}", run.expectations);
    }
}

const TRIO: &str = "
name: trio
services:
  front:
    entrypoint: true
    versions:
      v1:
        calls:
          - { service: middle, timeout_ms: 500 }
          - { service: nice, on_failure: degrade, timeout_ms: 500 }
  middle:
    versions:
      v1: { calls: [ { service: must, timeout_ms: 400 } ] }
  must: { versions: { v1: {} } }
  nice: { versions: { v1: {} } }
initial: { front: v1, middle: v1, must: v1, nice: v1 }
target: {}
load: { rps: 200, baseline_ms: 600 }
strategies: [batch]
";

fn trio_with(fault: &str) -> Scenario {
    inline(&format!("{TRIO}faults: [ {fault} ]\n"))
}

#[test]
fn killing_an_optional_dependency_degrades_without_failing() {
    let run = run(
        trio_with("{ kill: nice, after_ms: 150, for_ms: 200 }"),
        "batch",
    );
    assert_eq!(run.total.failed, 0, "{:?}", run.total.causes);
    assert!(run.total.degraded > 0);
    let (failed, degraded) = cause(&run, "front -> nice api v1", "UNAVAILABLE");
    assert_eq!(failed, 0);
    assert_eq!(degraded, run.total.degraded, "{:?}", run.total.causes);
    assert!(run.total.ok > 0, "before and after the window all is well");
    assert_eq!(
        run.steps[0].events,
        vec![Event::FaultStarted(0), Event::FaultEnded(0)]
    );
}

#[test]
fn killing_a_required_dependency_fails_and_names_the_deepest_edge() {
    let run = run(
        trio_with("{ kill: must, after_ms: 150, for_ms: 200 }"),
        "batch",
    );
    assert!(run.total.failed > 0);
    // front -> middle -> must: the cause is the edge that broke, not the first hop.
    let (failed, _) = cause(&run, "middle -> must api v1", "UNAVAILABLE");
    assert_eq!(failed, run.total.failed, "{:?}", run.total.causes);
    assert!(run.total.ok > 0, "the service is back after the window");
}

#[test]
fn a_partition_fails_calls_across_it() {
    let run = run(
        trio_with("{ partition: { from: middle, to: must }, after_ms: 150, for_ms: 200 }"),
        "batch",
    );
    assert!(run.total.failed > 0);
    let (failed, _) = cause(&run, "middle -> must api v1", "UNAVAILABLE");
    assert_eq!(failed, run.total.failed, "{:?}", run.total.causes);
}

#[test]
fn missing_undeploys_for_the_window_and_brings_the_service_back() {
    let run = run(
        trio_with("{ missing: nice, after_ms: 150, for_ms: 200 }"),
        "batch",
    );
    assert_eq!(run.total.failed, 0);
    let (_, degraded) = cause(&run, "front -> nice api v1", "UNAVAILABLE");
    assert!(degraded > 0, "{:?}", run.total.causes);
    assert_eq!(
        run.running.get("nice").map(Vec::len),
        Some(1),
        "nice is back"
    );
}

#[test]
fn a_slow_callee_past_its_timeout_is_deadline_exceeded() {
    let run = run(
        inline(
            "
name: slow
services:
  front:
    entrypoint: true
    versions: { v1: { calls: [ { service: slow, timeout_ms: 20 } ] } }
  slow: { versions: { v1: { latency_ms: 200 } } }
initial: { front: v1, slow: v1 }
target: {}
load: { rps: 100, baseline_ms: 300 }
strategies: [batch]
",
        ),
        "batch",
    );
    assert_eq!(run.total.failed, run.total.requests());
    let (failed, _) = cause(&run, "front -> slow api v1", "DEADLINE_EXCEEDED");
    assert_eq!(failed, run.total.failed, "{:?}", run.total.causes);
    // The caller gave up after its 20 ms, not after the callee's 200.
    assert!(
        run.total.percentiles().p50 < 150.0,
        "{:?}",
        run.total.percentiles()
    );
}

#[test]
fn the_gate_rolls_back_to_the_initial_versions_in_reverse_order() {
    let mut scenario = shipped("rollback.yaml", 300);
    let initial = scenario.initial.0.clone();
    scenario.load.baseline = Duration::from_millis(100);
    let run = run(scenario, "shipping-first");
    assert_eq!(run.ending, Ending::RolledBack);
    let kinds: Vec<StepKind> = run.steps.iter().map(|step| step.kind).collect();
    assert_eq!(
        kinds,
        vec![
            StepKind::Baseline,
            StepKind::Rollout(1),
            StepKind::Rollout(2),
            StepKind::Rollback(2),
            StepKind::Rollback(1),
        ]
    );
    assert!(
        run.steps[2].gate_breached,
        "inventory's recreate window breaches the gate"
    );
    for (service, version) in &initial {
        let running = &run.running[service];
        assert!(!running.is_empty());
        assert!(
            running.iter().all(|v| v == version),
            "{service} runs {running:?} after the rollback, expected {version}"
        );
    }
}

/// One service whose update needs 150 ms to start; `rollout` is rolling or recreate.
fn startup_window(rollout: &str) -> Scenario {
    inline(&format!(
        "
name: window
services:
  front:
    entrypoint: true
    versions: {{ v1: {{ calls: [ {{ service: db, timeout_ms: 500 }} ] }} }}
  db:
    replicas: 2
    startup_ms: 150
    rollout: {rollout}
    versions: {{ v1: {{}}, v2: {{}} }}
initial: {{ front: v1, db: v1 }}
target: {{ db: v2 }}
load: {{ rps: 200, baseline_ms: 100, step_ms: 200 }}
strategies: [batch]
"
    ))
}

#[test]
fn recreate_opens_a_failure_window_that_rolling_does_not() {
    let recreate = run(startup_window("recreate"), "batch");
    assert!(
        recreate.steps[1].total.failed > 0,
        "callers find no ready db"
    );
    let (failed, _) = cause(&recreate, "front -> db api v1", "UNAVAILABLE");
    assert_eq!(failed, recreate.total.failed, "{:?}", recreate.total.causes);

    let rolling = run(startup_window("rolling"), "batch");
    assert_eq!(rolling.total.failed, 0, "{:?}", rolling.total.causes);
    assert_eq!(
        rolling.running["db"],
        vec!["v2".to_owned(), "v2".to_owned()]
    );
}

#[test]
fn load_beyond_max_in_flight_is_refused_as_overload() {
    let run = run(
        inline(
            "
name: overload
services:
  front:
    entrypoint: true
    versions: { v1: { latency_ms: 100 } }
initial: { front: v1 }
target: {}
load: { rps: 400, baseline_ms: 300, max_in_flight: 5 }
strategies: [batch]
",
        ),
        "batch",
    );
    let (failed, _) = cause(&run, "client -> front api v1", "overload");
    assert!(failed > 50, "{:?}", run.total.causes);
    assert_eq!(failed, run.total.failed);
    assert!(
        run.total.ok > 0 && run.total.ok <= 5 * 4,
        "{}",
        run.total.ok
    );
    // The harness refused to send most of the load: what the service would have done
    // with it is unknown, so the step is not measured and the run is not judged.
    assert!(run.steps[0].lag.refused > 50, "{:?}", run.steps[0].lag);
    assert!(!run.kept_up() && !run.judged());
}

#[test]
fn a_kill_in_the_middle_of_a_rolling_step_ends_on_the_new_version() {
    // db rolls v1 -> v2; both versions die 30 ms into the step and come back 120 ms
    // later, while old and new serve side by side. What comes back is the new version,
    // and the step settles on it.
    let run = run(
        inline(
            "
name: kill-mid-step
services:
  front:
    entrypoint: true
    versions: { v1: { calls: [ { service: db, timeout_ms: 500 } ] } }
  db:
    replicas: 2
    versions: { v1: {}, v2: {} }
initial: { front: v1, db: v1 }
target: { db: v2 }
load: { rps: 200, baseline_ms: 100, step_ms: 600 }
strategies: [batch]
faults: [ { kill: db, at_step: 1, after_ms: 30, for_ms: 120 } ]
",
        ),
        "batch",
    );
    let step = &run.steps[1];
    let (failed, _) = cause(&run, "front -> db api v1", "UNAVAILABLE");
    assert!(
        failed > 0,
        "the kill window fails requests: {:?}",
        step.total.causes
    );
    assert_eq!(failed, run.total.failed, "{:?}", run.total.causes);
    assert!(step.total.ok > 0, "db is back within the step");
    assert_eq!(run.running["db"], vec!["v2".to_owned(), "v2".to_owned()]);
    assert!(
        step.agrees(),
        "predicted {:?}, measured {:?}",
        step.predicted.levels,
        step.measured
    );
}

#[test]
fn a_gate_that_stops_ends_the_rollout_and_one_that_continues_marks_the_breach() {
    // Two steps; the first recreates db (a failure window), the second moves front.
    let scenario = |on_breach: &str| {
        inline(&format!(
            "
name: gate
services:
  front:
    entrypoint: true
    versions: {{ v1: {{ calls: [ {{ service: db, timeout_ms: 500 }} ] }}, v2: {{ calls: [ {{ service: db, timeout_ms: 500 }} ] }} }}
  db:
    rollout: recreate
    startup_ms: 100
    versions: {{ v1: {{}}, v2: {{}} }}
initial: {{ front: v1, db: v1 }}
target: {{ front: v2, db: v2 }}
load: {{ rps: 200, baseline_ms: 100, step_ms: 200 }}
strategies: [ {{ name: db-first, steps: [[db], [front]] }} ]
gate: {{ max_failed_ratio: 0.0, on_breach: {on_breach} }}
"
        ))
    };
    let stopped = run(scenario("stop"), "db-first");
    assert_eq!(stopped.ending, Ending::Stopped);
    assert_eq!(
        stopped.steps.len(),
        2,
        "baseline and the breaching step only"
    );
    assert!(stopped.steps[1].gate_breached);
    // The breach names what the gate saw: failed requests among those answered, never
    // more than the step's row counts.
    let seen = stopped.steps[1]
        .events
        .iter()
        .find_map(|event| match event {
            Event::GateBreached { failed, answered } => Some((*failed, *answered)),
            _ => None,
        });
    let (failed, answered) = seen.expect("the breach is an event of its step");
    assert!(failed > 0 && failed <= answered, "{failed} of {answered}");
    assert!(failed <= stopped.steps[1].total.failed);
    assert!(answered <= stopped.steps[1].total.requests());
    assert_eq!(
        stopped.running["front"],
        vec!["v1".to_owned()],
        "front never moved"
    );

    let continued = run(scenario("continue"), "db-first");
    assert_eq!(continued.ending, Ending::Completed);
    let kinds: Vec<StepKind> = continued.steps.iter().map(|step| step.kind).collect();
    assert_eq!(
        kinds,
        vec![
            StepKind::Baseline,
            StepKind::Rollout(1),
            StepKind::Rollout(2)
        ]
    );
    assert!(continued.steps[1].gate_breached && !continued.steps[2].gate_breached);
    assert_eq!(continued.running["front"], vec!["v2".to_owned()]);
}

#[test]
fn each_entrypoint_is_loaded_counted_and_predicted_on_its_own() {
    // Two entrypoints; only `shop` needs `stock`, which is killed for the whole baseline.
    let run = run(
        inline(
            "
name: two-doors
services:
  shop:
    entrypoint: true
    versions: { v1: { calls: [ { service: stock } ] } }
  blog:
    entrypoint: true
    versions: { v1: {} }
  stock: { versions: { v1: {} } }
initial: { shop: v1, blog: v1, stock: v1 }
target: {}
load: { rps: 100, baseline_ms: 300 }
strategies: [batch]
faults: [ { kill: stock } ]
",
        ),
        "batch",
    );
    let baseline = &run.steps[0];
    let shop = &baseline.by_entry["shop"];
    let blog = &baseline.by_entry["blog"];
    assert!(
        shop.failed > 0 && blog.failed == 0,
        "shop {shop:?}, blog {blog:?}"
    );
    assert!(
        blog.ok > 20 && shop.requests() > 20,
        "both are loaded at 100 rps"
    );
    // Graph entries are in name order: blog, shop.
    assert_eq!(baseline.predicted.levels, vec![Level::Ok, Level::Failed]);
    assert!(baseline.agrees(), "measured {:?}", baseline.measured);
}

#[test]
fn a_replica_that_outlives_its_drain_limit_is_reported() {
    // Every request of web takes 2.5 s, longer than the 2 s a leaving replica may take
    // to finish its calls: when web v1 leaves, its calls are still running.
    let run = run(
        inline(
            "
name: slow-drain
services:
  web:
    entrypoint: true
    versions:
      v1: { latency_ms: 2500 }
      v2: { latency_ms: 2500 }
initial: { web: v1 }
target: { web: v2 }
load: { rps: 20, baseline_ms: 200, step_ms: 400 }
strategies: [batch]
",
        ),
        "batch",
    );
    let drains: Vec<&Event> = run.steps[1]
        .events
        .iter()
        .filter(|event| matches!(event, Event::DrainTimedOut { service, .. } if service == "web"))
        .collect();
    assert!(!drains.is_empty(), "{:?}", run.steps[1].events);
}

#[test]
fn a_dropped_replica_is_killed_with_the_calls_inside_it() {
    // A task aborted while it starts a replica drops it: its server must not live on, and
    // a call inside it must not go on as if nothing happened.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let recorder = std::sync::Arc::new(deploysim::record::Recorder::new());
        let behaviour = deploysim::runtime::replica::Behaviour {
            service: "web".to_owned(),
            version: "v1".to_owned(),
            replica: 1,
            provides: vec!["v1".to_owned()],
            methods: vec![deploysim::runtime::replica::Work {
                method: None,
                latency: Duration::from_millis(500),
                error_rate: 0.0,
                calls: Vec::new(),
            }],
            received: recorder.traffic.service("web"),
            recorder,
            error_draws: std::sync::Mutex::new(deploysim::seed::rng(1, "test")),
            tie_draws: std::sync::Mutex::new(deploysim::seed::rng(1, "ties")),
            token: None,
            background: std::sync::Mutex::new(tokio::task::JoinSet::new()),
            trouble: std::sync::Arc::new(deploysim::runtime::trouble::Trouble::new(
                deploysim::seed::rng(1, "faults"),
            )),
            workers: None,
        };
        let replica = deploysim::runtime::replica::Replica::start(behaviour)
            .await
            .expect("binds 127.0.0.1");
        let addr = replica.addr;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("an address is a URI")
            .connect()
            .await
            .expect("the replica serves");
        let call = tokio::spawn(async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.expect("ready");
            let path = deploysim::contract::method_path("web", "v1", None)
                .parse()
                .expect("a gRPC path");
            grpc.unary(
                tonic::Request::new(deploysim::contract::CallRequest::default()),
                path,
                tonic_prost::ProstCodec::<
                    deploysim::contract::CallRequest,
                    deploysim::contract::CallReply,
                >::default(),
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(replica);
        let answer = tokio::time::timeout(Duration::from_secs(2), call)
            .await
            .expect("the call ends")
            .expect("the task ran");
        let status = answer.expect_err("the call inside a dropped replica fails");
        // Killed while the handler sleeps: the handler's UNAVAILABLE or the reset
        // connection, which the harness classifies as UNAVAILABLE too (as gRPC does).
        assert_eq!(
            deploysim::contract::normalize(&status),
            tonic::Code::Unavailable,
            "{status:?}"
        );
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "a dropped replica still accepts connections on {addr}"
        );
    });
}

#[test]
fn a_fault_of_step_1_is_not_booked_in_the_baseline() {
    // Each request of web takes 30 ms, so when step 1 begins the baseline still has
    // requests in flight; the kill of db at step 1 must wait for them.
    let run = run(
        inline(
            "
name: fault-leak
services:
  web:
    entrypoint: true
    versions:
      v1: { latency_ms: 30, calls: [ { service: db } ] }
      v2: { latency_ms: 30, calls: [ { service: db } ] }
  db: { versions: { v1: {} } }
initial: { web: v1, db: v1 }
target: { web: v2 }
load: { rps: 100, baseline_ms: 300, step_ms: 400 }
strategies: [ { name: batch, expect: { graceful: false } } ]
faults: [ { kill: db, at_step: 1, after_ms: 0, for_ms: 100 } ]
",
        ),
        "batch",
    );
    assert_eq!(
        run.steps[0].total.failed, 0,
        "{:?}",
        run.steps[0].total.causes
    );
    assert!(
        run.steps[0].agrees(),
        "the baseline measures what it predicts"
    );
    assert!(
        run.steps[1].total.failed > 0,
        "the kill fails requests of step 1"
    );
    assert!(run.passed(), "{:?}", run.expectations);
}

/// A recreate stops the old replicas before it starts the new ones: the service has no
/// ready replica for its whole `startup_ms`, not only for the transient's half of the
/// bake time. In virtual time, so the count is exact.
#[test]
fn a_recreated_service_is_down_for_its_whole_startup() {
    let scenario = inline(
        "
name: recreate-window
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: db } ] } } }
  db:
    rollout: recreate
    startup_ms: 1000
    versions: { v1: {}, v2: {} }
initial: { web: v1, db: v1 }
target: { db: v2 }
load: { rps: 100, baseline_ms: 200, step_ms: 100 }
strategies: [batch]
",
    );
    let run = run_on_net(Net::Sim, scenario, "batch");
    let failed = run.steps[1].total.failed;
    // 1 s of startup and 50 ms of transient at 100 rps, give or take the edges.
    assert!(
        (100..=110).contains(&failed),
        "{failed} entry requests failed while db was recreated"
    );
}
