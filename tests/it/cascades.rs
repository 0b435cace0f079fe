//! Cascades, measured: workers and queues that fill, per-try timeouts, retries that
//! multiply the load and the budget that bounds them, breakers and bulkheads, on real
//! servers in virtual time (`--net sim`), read from the JSON report as a user would.

use crate::support::{TempDir, simulate, write};

/// `simulate PATH --net sim --json -`, parsed.
fn report(path: &str) -> serde_json::Value {
    let run = simulate(&[path, "--net", "sim", "--json", "-"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}\n{}", run.stdout, run.stderr))
}

/// The counts of `edge` in `step` (a step's `edges` entry).
fn edge<'a>(step: &'a serde_json::Value, edge: &str) -> &'a serde_json::Value {
    step["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|counts| counts["edge"] == edge)
        .unwrap_or_else(|| panic!("no edge {edge} in {}", step["edges"]))
}

fn count(value: &serde_json::Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
}

#[test]
fn past_the_workers_and_the_queue_the_rest_are_refused_with_resource_exhausted() {
    let dir = TempDir::new("cascade-capacity");
    // Every request holds one of web's 2 workers for 2 s; 3 more wait; the baseline
    // sends about 10 before the first is done, so every one past 5 is refused.
    let path = write(
        &dir,
        "capacity.yaml",
        "
name: capacity
services:
  web:
    entrypoint: true
    versions:
      v1: { latency_ms: 2000, capacity: { workers: 2, queue: 3 } }
initial: { web: v1 }
load: { rps: 100, baseline_ms: 100 }
strategies: [batch]
",
    );
    let report = report(&path);
    let step = &report["strategies"][0]["steps"][0];
    let sent = count(&step["requests"], "sent");
    assert!(sent >= 8, "{step}");
    let refused = sent - 5;
    assert_eq!(
        count(&step["pressure"]["web"], "refused"),
        refused,
        "{step}"
    );
    assert_eq!(count(&step["pressure"]["web"], "peak_workers"), 2);
    assert_eq!(count(&step["pressure"]["web"], "peak_queue"), 3);
    assert_eq!(count(&step["requests"], "failed"), refused, "{step}");
    assert_eq!(
        count(&step["requests"], "ok"),
        5,
        "the queued ones are served in turn"
    );
    let causes = step["causes"].as_array().expect("causes");
    assert_eq!(causes.len(), 1, "{step}");
    assert_eq!(causes[0]["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(count(&causes[0], "count"), refused);
}

#[test]
fn a_request_queued_past_its_deadline_is_never_worked_on() {
    let dir = TempDir::new("cascade-expired");
    // api has one worker; each request holds it while api calls db (200 ms). web's
    // requests give the call 3 s, mobile's 100 ms: mobile's requests wait behind web's
    // in api's queue past their deadline. A request is worked on when it takes the
    // worker, and api's only work is its call to db: every request api received was
    // either worked on (one call to db) or expired in the queue.
    let path = write(
        &dir,
        "expired.yaml",
        "
name: expired
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: api, timeout_ms: 3000 } ] }
  mobile:
    entrypoint: true
    versions:
      v1: { calls: [ { service: api, timeout_ms: 100 } ] }
  api:
    versions:
      v1:
        capacity: { workers: 1, queue: 500 }
        calls: [ { service: db, on_failure: ignore, timeout_ms: 2000 } ]
  db: { versions: { v1: { latency_ms: 200 } } }
initial: { web: v1, mobile: v1, api: v1, db: v1 }
load: { rps: 20, baseline_ms: 2000 }
strategies: [batch]
",
    );
    let report = report(&path);
    let run = &report["strategies"][0];
    let received = count(&run["received_totals"], "api");
    let pressure = &run["pressure_totals"]["api"];
    let expired = count(pressure, "expired");
    let worked = count(&run["received_totals"], "db");
    let mobile = run["entrypoint_totals"]
        .as_array()
        .expect("entrypoint totals")
        .iter()
        .find(|entry| entry["name"] == "mobile")
        .expect("mobile");
    let mobile_sent = count(&mobile["requests"], "sent");
    assert!(expired >= mobile_sent / 2, "{pressure}: {mobile}");
    assert_eq!(count(pressure, "refused"), 0);
    assert_eq!(worked + expired, received, "{run}");
}

/// web calls api; api calls db; db fails every answer with UNAVAILABLE. `protect` is
/// added to both calls.
fn chain(dir: &TempDir, name: &str, protect: &str) -> String {
    write(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "
name: {name}
services:
  web:
    entrypoint: true
    versions:
      v1: {{ calls: [ {{ service: api, timeout_ms: 5000, retries: 2{protect} }} ] }}
  api:
    versions:
      v1: {{ calls: [ {{ service: db, timeout_ms: 2000, retries: 2{protect} }} ] }}
  db: {{ versions: {{ v1: {{}} }} }}
initial: {{ web: v1, api: v1, db: v1 }}
load: {{ rps: 100, baseline_ms: 3000 }}
strategies: [batch]
faults:
  - {{ errors: {{ service: db, rate: 1.0, code: UNAVAILABLE }} }}
"
        ),
    )
}

#[test]
fn without_a_budget_retries_multiply_the_attempts_at_every_hop() {
    let dir = TempDir::new("cascade-retries");
    let report = report(&chain(&dir, "storm", ""));
    let run = &report["strategies"][0];
    let sent = count(&run["requests"], "sent");
    let amplification = &run["amplification"];
    // Three attempts of web's call, each making three attempts at db: 1 + 2 per hop.
    assert_eq!(amplification["web -> api api v1"], 3.0, "{amplification}");
    assert_eq!(amplification["api -> db api v1"], 9.0, "{amplification}");
    let edges = run["edge_totals"].as_array().expect("edge totals");
    let db = edges
        .iter()
        .find(|e| e["edge"] == "api -> db api v1")
        .expect("api -> db");
    assert_eq!(count(db, "attempts"), 9 * sent);
    assert_eq!(count(db, "retries"), 6 * sent);
    assert_eq!(count(db, "calls"), 3 * sent);
}

#[test]
fn a_retry_budget_bounds_the_retries_to_its_share_plus_the_floor() {
    let dir = TempDir::new("cascade-budget");
    let report = report(&chain(
        &dir,
        "budgeted",
        ", retry_budget: { percent: 20, min_per_s: 1 }",
    ));
    let run = &report["strategies"][0];
    let edges = run["edge_totals"].as_array().expect("edge totals");
    for name in ["web -> api api v1", "api -> db api v1"] {
        let counts = edges
            .iter()
            .find(|e| e["edge"] == name)
            .unwrap_or_else(|| panic!("no {name}"));
        let calls = count(counts, "calls") as f64;
        let attempts = count(counts, "attempts") as f64;
        // The floor: 1 retry a second over the budget's 10 s window, per caller replica.
        let floor = 10.0;
        assert!(
            attempts <= 1.2 * calls + floor,
            "{name}: {attempts} attempts for {calls} calls"
        );
        assert!(count(counts, "retries_refused") > 0, "{counts}");
    }
}

#[test]
fn a_slow_answer_past_the_per_try_timeout_fails_that_edge_only() {
    let dir = TempDir::new("cascade-per-try");
    let path = write(
        &dir,
        "per-try.yaml",
        "
name: per-try
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls:
          - { service: api, timeout_ms: 1000, per_try_timeout_ms: 50 }
          - { service: recs, timeout_ms: 1000 }
  api: { versions: { v1: {} } }
  recs: { versions: { v1: {} } }
initial: { web: v1, api: v1, recs: v1 }
load: { rps: 100, baseline_ms: 1000 }
strategies: [batch]
faults:
  - { latency: { service: api, add_ms: 80 } }
  - { latency: { service: recs, add_ms: 80 } }
",
    );
    let report = report(&path);
    let step = &report["strategies"][0]["steps"][0];
    let sent = count(&step["requests"], "sent");
    assert_eq!(count(&step["requests"], "failed"), sent, "{step}");
    let causes = step["causes"].as_array().expect("causes");
    assert_eq!(causes.len(), 1, "{step}");
    assert_eq!(causes[0]["edge"], "web -> api api v1");
    assert_eq!(causes[0]["code"], "DEADLINE_EXCEEDED");
    // recs answered within its 1 s: slow, not failed. web stopped at api, so recs was
    // never called: the per-try timeout failed api's edge, nothing else.
    let latency = step["latency_ms"]["max"].as_f64().expect("max");
    assert!((50.0..80.0).contains(&latency), "max {latency}");
}

#[test]
fn a_breaker_opens_fails_fast_probes_and_closes_when_the_callee_heals() {
    let dir = TempDir::new("cascade-breaker");
    let path = write(
        &dir,
        "breaker.yaml",
        "
name: breaker
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls:
          - service: recs
            on_failure: degrade
            breaker: { failure_percent: 50, window: 10, open_ms: 200, probes: 2 }
  recs: { versions: { v1: {} } }
initial: { web: v1, recs: v1 }
load: { rps: 100, baseline_ms: 2000 }
strategies: [batch]
faults:
  - { errors: { service: recs, rate: 1.0, code: UNAVAILABLE }, for_ms: 1000 }
",
    );
    let report = report(&path);
    let step = &report["strategies"][0]["steps"][0];
    let recs = edge(step, "web -> recs api v1");
    let opened = count(recs, "breaker_opened");
    let fast = count(recs, "breaker_fast_failed");
    // Open for 200 ms at a time over the 1 s of errors: it opens, fails fast, a probe
    // fails and it opens again, several times; once recs heals, the probes pass.
    assert!(opened >= 3, "{recs}");
    assert_eq!(count(recs, "breaker_closed"), 1, "{recs}");
    assert!(fast > 50, "{recs}");
    // A fast failure never reached recs: attempts are the calls it did not refuse.
    assert_eq!(
        count(recs, "attempts") + fast,
        count(recs, "calls"),
        "{recs}"
    );
    assert_eq!(
        count(&step["requests"], "failed"),
        0,
        "degraded, never failed"
    );
    let text = simulate(&[&path, "--net", "sim"]);
    assert!(
        text.stdout.contains("breaker opened") && text.stdout.contains("closed 1"),
        "{}",
        text.stdout
    );
}

#[test]
fn the_retry_storm_scenario_fails_one_order_and_not_the_other() {
    let report = report("scenarios/retry-storm.yaml");
    let runs = report["strategies"].as_array().expect("strategies");
    let (storm, guarded) = (&runs[0], &runs[1]);
    assert_eq!(storm["name"], "slow-first");
    assert!(count(&storm["requests"], "failed") > 0, "{storm}");
    assert!(count(&storm["pressure_totals"]["checkout"], "refused") > 0);
    assert_eq!(guarded["name"], "guards-first");
    assert_eq!(count(&guarded["requests"], "failed"), 0);
    let pricing = "checkout -> pricing api v1";
    let blind = storm["amplification"][pricing].as_f64().expect("storm");
    let bounded = guarded["amplification"][pricing].as_f64().expect("guarded");
    assert!(blind > 2.0 * bounded, "{blind} against {bounded}");
    assert_eq!(report["verdict"], "pass");
}

/// web calls api (two retries on UNAVAILABLE); api has `replicas` replicas that start in
/// 50 ms and answer in 7 ms (so that a crash meets calls in flight), and crashes every
/// 100 ms for the whole 2 s baseline.
fn crashing(dir: &TempDir, replicas: u32) -> serde_json::Value {
    report(&write(
        dir,
        &format!("crash-{replicas}.yaml"),
        &format!(
            "
name: crash
services:
  web:
    entrypoint: true
    versions:
      v1: {{ calls: [ {{ service: api, retries: 2 }} ] }}
  api:
    replicas: {replicas}
    startup_ms: 50
    versions: {{ v1: {{ latency_ms: 7 }} }}
initial: {{ web: v1, api: v1 }}
load: {{ rps: 200, baseline_ms: 2000 }}
strategies: [batch]
faults:
  - {{ crash: {{ service: api, every_ms: 100 }}, for_ms: 1900 }}
"
        ),
    ))
}

/// How many replicas the step's crash events say crashed.
fn crashes(step: &serde_json::Value) -> u64 {
    step["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| {
            let text = event.as_str()?;
            let count = text.strip_suffix(" of api crashed and were replaced")?;
            count.split(' ').next()?.parse::<u64>().ok()
        })
        .sum()
}

#[test]
fn a_crash_loop_replaces_one_replica_at_a_time_and_never_takes_them_all_down() {
    let dir = TempDir::new("cascade-crash");
    let three = crashing(&dir, 3);
    let run = &three["strategies"][0];
    let step = &run["steps"][0];
    // A crash every 100 ms from the start of the 1.9 s window (each replacement ready
    // 50 ms later, before the next): at 100, 200, ... 1800 ms.
    let crashed = crashes(step);
    assert_eq!(crashed, 18, "{}", step["events"]);
    assert_eq!(
        run["running_after"]["api"].as_array().map(Vec::len),
        Some(3)
    );
    // Two replicas were always ready: a call cut by a crash was retried on one of them.
    assert_eq!(count(&step["requests"], "failed"), 0, "{step}");
    let api = edge(step, "web -> api api v1");
    assert!(count(api, "retries") > 0, "a crash cut some calls: {api}");

    // With one replica, the service is down while its replacement starts.
    let one = crashing(&dir, 1);
    let step = &one["strategies"][0]["steps"][0];
    assert_eq!(crashes(step), 18, "{}", step["events"]);
    assert!(count(&step["requests"], "failed") > 0, "{step}");
}

#[test]
fn a_hung_optional_call_fails_the_entrypoint_unless_a_bulkhead_bounds_it() {
    let hung = report("scenarios/hung-optional.yaml");
    let run = &hung["strategies"][0];
    assert!(count(&run["requests"], "failed") > 0, "{}", run["requests"]);
    assert_eq!(count(&run["pressure_totals"]["shop"], "peak_workers"), 8);
    assert!(count(&run["pressure_totals"]["shop"], "refused") > 0);

    // The same with `bulkhead: 2` on the call, as the scenario's comment suggests.
    let dir = TempDir::new("cascade-bulkhead");
    let text = std::fs::read_to_string(crate::support::root().join("scenarios/hung-optional.yaml"))
        .expect("the shipped scenario");
    let bounded = text.replace(
        "on_failure: degrade, timeout_ms: 500 }",
        "on_failure: degrade, timeout_ms: 500, bulkhead: 2 }",
    );
    assert_ne!(bounded, text, "the call is where the test expects it");
    let report = report(&write(&dir, "bounded.yaml", &bounded));
    let run = &report["strategies"][0];
    assert_eq!(count(&run["requests"], "failed"), 0, "{}", run["requests"]);
    assert!(count(&run["requests"], "degraded") > 0);
    let pressure = &run["pressure_totals"]["shop"];
    // Two workers held by the bulkhead's hung calls, and the requests passing it in the
    // same millisecond: arrivals fall anywhere in their period, so two can share a tick.
    assert!(count(pressure, "peak_workers") <= 4, "{pressure}");
    let edges = run["edge_totals"].as_array().expect("edge totals");
    let recommend = edges
        .iter()
        .find(|e| e["edge"] == "shop -> recommend api v1")
        .expect("shop -> recommend");
    assert!(count(recommend, "bulkhead_refused") > 0, "{recommend}");
}

/// web (200 rps) needs shop (one replica, 8 workers, a queue of 4); shop calls recs with
/// `rule` and a 200 ms timeout; `faults` in force for the 3 s baseline.
fn little(dir: &TempDir, name: &str, rule: &str, faults: &str) -> String {
    little_with(dir, name, &format!("on_failure: {rule}"), faults)
}

/// [`little`] with the whole of shop's call to recs after its service and timeout.
fn little_with(dir: &TempDir, name: &str, call: &str, faults: &str) -> String {
    write(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "
name: {name}
services:
  web:
    entrypoint: true
    versions: {{ v1: {{ calls: [ {{ service: shop, timeout_ms: 5000 }} ] }} }}
  shop:
    versions:
      v1:
        capacity: {{ workers: 8, queue: 4 }}
        calls: [ {{ service: recs, timeout_ms: 200, {call} }} ]
  recs: {{ versions: {{ v1: {{}} }} }}
initial: {{ web: v1, shop: v1, recs: v1 }}
load: {{ rps: 200, baseline_ms: 3000 }}
strategies: [batch]
faults: [{faults}]
"
        ),
    )
}

/// `check --json`'s load of the baseline: web's share served, and whether it is decided.
fn predicted(path: &str) -> (f64, bool) {
    let run = simulate(&["check", path, "--json", "-"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let load = &report["strategies"][0]["load"][0];
    (
        load["served"]["web"].as_f64().expect("a share"),
        load["decided"].as_bool().expect("decided"),
    )
}

#[test]
fn check_predicts_the_share_served_by_little_s_law_and_the_sim_run_measures_it() {
    let dir = TempDir::new("cascade-little");
    // 200 rps x 200 ms = 40 workers wanted of 8: a fifth served; without the hang,
    // all; with the call required, none.
    for (name, rule, faults, expected) in [
        ("hung", "degrade", "{ hang: recs }", 0.2),
        ("healthy", "degrade", "", 1.0),
        ("required", "fail", "{ hang: recs }", 0.0),
    ] {
        let path = little(&dir, name, rule, faults);
        let (share, decided) = predicted(&path);
        assert!(decided, "{name}");
        assert!(
            (share - expected).abs() < 0.005,
            "{name}: predicted {share}"
        );
        let measured = report(&path)["strategies"][0]["steps"][0]["load"]["measured"]["web"]
            .as_f64()
            .expect("measured");
        assert!(
            (measured - share).abs() <= 0.05,
            "{name}: predicted {share}, measured {measured}"
        );
    }
}

#[test]
fn a_retry_budget_caps_the_storm_as_check_predicts_and_the_sim_run_measures() {
    let dir = TempDir::new("cascade-budget");
    // recs hangs; each try gets 20 ms and DEADLINE_EXCEEDED is retried 3 times: 4 tries
    // hold a shop worker 80 ms, 200 rps x 80 ms = 16 workers wanted of 8, about half
    // served. A budget of 20% lets 1.2 tries through on average: 24 ms, 4.8 workers of
    // 8, nearly all served (degraded).
    let retried = "on_failure: degrade, per_try_timeout_ms: 20, retries: 3, \
                   retry_on: [DEADLINE_EXCEEDED]";
    for (name, call, low, high, wanted_tries) in [
        ("blind", retried.to_owned(), 0.4, 0.6, 4.0),
        (
            "budgeted",
            format!("{retried}, retry_budget: {{ percent: 20, min_per_s: 1 }}"),
            0.95,
            1.0,
            1.2,
        ),
    ] {
        let path = little_with(&dir, name, &call, "{ hang: recs }");
        let (share, decided) = predicted(&path);
        assert!(decided, "{name}");
        assert!((low..=high).contains(&share), "{name}: predicted {share}");
        let report = report(&path);
        let measured = report["strategies"][0]["steps"][0]["load"]["measured"]["web"]
            .as_f64()
            .expect("measured");
        assert!(
            (measured - share).abs() <= 0.05,
            "{name}: predicted {share}, measured {measured}"
        );
        let recs = report["strategies"][0]["edge_totals"]
            .as_array()
            .expect("edge totals")
            .iter()
            .find(|e| e["edge"] == "shop -> recs api v1")
            .expect("shop -> recs")
            .clone();
        let tries = count(&recs, "attempts") as f64 / count(&recs, "calls") as f64;
        // The budget's floor (1 a second, 10 in reserve) adds a few hundredths.
        assert!(
            (tries - wanted_tries).abs() < 0.1,
            "{name}: {tries} tries a call"
        );
    }
}

#[test]
fn check_judges_the_shipped_cascades_and_the_runs_agree() {
    for (path, strategy, step) in [
        ("scenarios/retry-storm.yaml", 0, 1),
        ("scenarios/hung-optional.yaml", 0, 1),
    ] {
        let run = simulate(&["check", path, "--json", "-"]);
        assert_eq!(run.code, 0, "{path}: {}", run.stdout);
        let check: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
        let judged = &check["strategies"][strategy];
        assert_eq!(judged["expectation_held"], true, "{path}: {judged}");
        assert_eq!(judged["left_to_the_run"], false);
        let load = &judged["load"][step];
        assert_eq!(load["decided"], true, "{path}: {load}");
        let share = load["served"]["web"].as_f64().expect("share");
        assert!(share < 0.6, "{path}: {share}");
        let measured =
            report(path)["strategies"][strategy]["steps"][step]["load"]["measured"]["web"]
                .as_f64()
                .expect("measured");
        assert!(
            (measured - share).abs() <= 0.05,
            "{path}: predicted {share}, measured {measured}"
        );
    }
}
