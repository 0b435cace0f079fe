//! Models of real applications: swallowed failures, fallback calls, rules by gRPC code,
//! asynchronous calls, methods and traffic mixes, on scenarios/fallbacks.yaml (a shop in
//! the style of the Filibuster corpus). The outcome of every service and every pair of
//! services missing is written here by hand, from the scenario's comments; `check`, the
//! live sweep in virtual time and the live sweep on real sockets must each say all of it.

use std::collections::BTreeMap;

use crate::support::{TempDir, simulate};

const SCENARIO: &str = "scenarios/fallbacks.yaml";

/// web's outcome with one service missing, worked out by hand.
const SINGLES: [(&str, &str); 12] = [
    // checkout cannot answer without its cart.
    ("cart", "failed"),
    // browse cannot answer without the catalog.
    ("catalog", "failed"),
    // Asynchronous: nobody waits for the order event.
    ("events", "ok"),
    // The catalog answers without stock levels (degrade), and so do recs through it.
    ("inventory", "degraded"),
    // UNAVAILABLE falls back to the backup provider, which answers: degraded.
    ("payments", "degraded"),
    // Only called when payments fails.
    ("payments-backup", "ok"),
    // Personalised recommendations fall back to the top list: degraded.
    ("recs", "degraded"),
    // Swallowed: the request is ok.
    ("stats", "ok"),
    // The cart falls back to the secondary store: degraded.
    ("store-primary", "degraded"),
    // Only called when the primary store fails.
    ("store-secondary", "ok"),
    // Only called when recs fails.
    ("toprated", "ok"),
    ("web", "failed"),
];

/// The pairs whose joint loss is worse than either loss alone: both stores, both payment
/// providers. (recs + toprated is not one: the top list's own rule is `degrade`.)
const WORSE_PAIRS: [(&str, &str, &str); 2] = [
    ("payments", "payments-backup", "failed"),
    ("store-primary", "store-secondary", "failed"),
];

fn rank(level: &str) -> u8 {
    match level {
        "ok" => 0,
        "degraded" => 1,
        _ => 2,
    }
}

/// web's outcome with `missing` gone, from the hand-written tables.
fn expected(missing: &[&str]) -> &'static str {
    let single = |name: &str| {
        SINGLES
            .iter()
            .find(|(service, _)| *service == name)
            .map(|(_, level)| *level)
            .unwrap_or_else(|| panic!("{name} is not in the table"))
    };
    match missing {
        [one] => single(one),
        [a, b] => WORSE_PAIRS
            .iter()
            .find(|(x, y, _)| (x, y) == (a, b) || (y, x) == (a, b))
            .map(|(_, _, level)| *level)
            .unwrap_or_else(|| {
                let (a, b) = (single(a), single(b));
                if rank(a) >= rank(b) { a } else { b }
            }),
        _ => "ok",
    }
}

fn names(row: &serde_json::Value) -> Vec<&str> {
    row["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|name| name.as_str().expect("a name"))
        .collect()
}

#[test]
fn check_predicts_every_single_and_pair_written_by_hand() {
    let run = simulate(&["check", SCENARIO, "--pairs", "--json", "-"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let sweep = &json["sweep"];
    let rows = sweep["rows"].as_array().expect("rows");
    let mut pairs_listed = Vec::new();
    for row in rows {
        let missing = names(row);
        let want = expected(&missing);
        assert_eq!(row["initial"]["web"], want, "{missing:?} initial");
        assert_eq!(row["target"]["web"], want, "{missing:?} target");
        if missing.len() == 2 {
            pairs_listed.push((missing[0].to_owned(), missing[1].to_owned()));
        }
    }
    assert_eq!(
        rows.len() - pairs_listed.len(),
        SINGLES.len(),
        "one row per service"
    );
    // Exactly the pairs worse than either single are listed: the two written above.
    let worse: Vec<(String, String)> = WORSE_PAIRS
        .iter()
        .map(|(a, b, _)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(pairs_listed, worse);
    assert_eq!(sweep["pairs_swept"], 66);
    assert_eq!(
        sweep["single_points_of_failure"],
        serde_json::json!(["cart", "catalog"])
    );
    // Which part of the traffic a loss hits: browse survives the cart being gone,
    // checkout does not, and the other way round for the catalog.
    let row = |name: &str| {
        rows.iter()
            .find(|row| names(row) == [name])
            .unwrap_or_else(|| panic!("a row for {name}"))
    };
    assert_eq!(
        row("cart")["methods"]["web"],
        serde_json::json!({ "browse": "ok", "checkout": "failed" })
    );
    assert_eq!(
        row("catalog")["methods"]["web"],
        serde_json::json!({ "browse": "failed", "checkout": "ok" })
    );
    // Text: the pairs are shown with the singles, and the methods a loss hits.
    let text = simulate(&["check", SCENARIO, "--pairs"]);
    for line in [
        "cart                             FAILED (checkout)",
        "catalog                          FAILED (browse)",
        "recs                             degraded (browse)",
        "payments + payments-backup       FAILED (checkout)",
    ] {
        assert!(text.stdout.contains(line), "{line}\n{}", text.stdout);
    }
    assert!(
        text.stdout
            .contains("--pairs: 66 pairs swept; 2 worse than either service missing alone"),
        "{}",
        text.stdout
    );
}

/// Every row of a live sweep, measured and predicted, against the tables.
fn sweep_matches_the_tables(net: &str, pairs: bool) {
    let mut args = vec!["sweep", SCENARIO, "--net", net, "--json", "-"];
    if pairs {
        args.push("--pairs");
    }
    let run = simulate(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), if pairs { 12 + 66 } else { 12 });
    for row in rows {
        let missing = names(row);
        let want = expected(&missing);
        assert_eq!(
            row["predicted"]["web"], want,
            "{missing:?} predicted ({net})"
        );
        assert_eq!(
            row["measured"]["web"], want,
            "{missing:?} measured ({net}): {row}"
        );
        assert_eq!(row["agrees"], true, "{row}");
    }
    assert_eq!(json["reference"]["requests"]["failed"], 0);
    assert_eq!(
        json["single_points_of_failure"],
        serde_json::json!(["cart", "catalog"])
    );
    if pairs {
        assert_eq!(
            json["worse_pairs"],
            serde_json::json!([
                "payments + payments-backup",
                "store-primary + store-secondary"
            ])
        );
    }
}

#[test]
fn the_live_sweep_in_virtual_time_measures_every_single_and_pair_written_by_hand() {
    sweep_matches_the_tables("sim", true);
}

#[test]
fn the_live_sweep_on_real_sockets_measures_every_single_written_by_hand() {
    sweep_matches_the_tables("live", false);
}

/// The scenario with `faults` added and one strategy, run in sim; its JSON.
fn run_with(faults: &str, strategy: &str) -> serde_json::Value {
    let dir = TempDir::new("models-run");
    let text = std::fs::read_to_string(crate::support::root().join(SCENARIO))
        .expect("the scenario")
        + faults;
    let path = dir.path().join("variant.yaml");
    std::fs::write(&path, text).expect("write");
    let run = simulate(&[
        path.to_str().expect("utf-8 path"),
        "--strategy",
        strategy,
        "--net",
        "sim",
        "--json",
        "-",
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("JSON")
}

fn edges(step: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    step["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            (
                edge["edge"].as_str().expect("name").to_owned(),
                edge.clone(),
            )
        })
        .collect()
}

#[test]
fn swallowed_and_asynchronous_failures_are_counted_on_their_edges_only() {
    let json = run_with(
        "faults: [ { missing: stats }, { missing: events } ]\n",
        "safe",
    );
    let baseline = &json["strategies"][0]["steps"][0];
    let requests = &baseline["requests"];
    assert_eq!(requests["failed"], 0, "{baseline}");
    assert_eq!(
        requests["degraded"], 0,
        "nothing missing is waited for: {baseline}"
    );
    let edges = edges(baseline);
    let stats = &edges["web -> stats api v1"];
    assert!(stats["calls"].as_u64().unwrap_or(0) > 0);
    assert_eq!(
        stats["failed"], stats["calls"],
        "every stats call failed: {stats}"
    );
    let events = &edges["web -> events api v1"];
    assert_eq!(events["failed"], events["calls"], "{events}");
    // The mix: 60% browse, 40% checkout, each its own edge from the load generator.
    let browse = edges["client -> web api v1 method browse"]["calls"]
        .as_u64()
        .unwrap_or(0) as f64;
    let checkout = edges["client -> web api v1 method checkout"]["calls"]
        .as_u64()
        .unwrap_or(0) as f64;
    let share = browse / (browse + checkout);
    assert!((0.5..0.7).contains(&share), "browse share {share}");
    // Only checkout sends order events, asynchronously.
    let asynchronous = &baseline["asynchronous"];
    assert_eq!(asynchronous["started"].as_u64(), Some(checkout as u64));
    assert!(asynchronous["peak"].as_u64().unwrap_or(0) >= 1);
    // A method is routed on its own path: the cart's `get` is called, never its default.
    assert!(edges.contains_key("web -> cart api v1 method get"));
    assert!(!edges.contains_key("web -> cart api v1"));
}

#[test]
fn the_text_says_which_method_fails_and_what_no_request_saw() {
    let dir = TempDir::new("models-text");
    let text = std::fs::read_to_string(crate::support::root().join(SCENARIO))
        .expect("the scenario")
        + "faults: [ { missing: stats } ]\n";
    let path = dir.path().join("variant.yaml");
    std::fs::write(&path, text).expect("write");
    let run = simulate(&[
        path.to_str().expect("utf-8 path"),
        "--strategy",
        "batch",
        "--net",
        "sim",
    ]);
    // batch: checkout fails on UNIMPLEMENTED while web v2 meets payments v1; browse never.
    let by_method = run
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("web by method: "))
        .unwrap_or_else(|| panic!("a by-method line\n{}", run.stdout));
    assert!(
        by_method.contains("checkout") && by_method.contains("failed ("),
        "{by_method}"
    );
    let browse = by_method
        .split("; ")
        .find(|cell| cell.contains("browse"))
        .expect("browse");
    assert!(!browse.contains("failed"), "{by_method}");
    let unseen = run
        .stdout
        .lines()
        .find(|line| {
            line.contains("swallowed (ignored or asynchronous; no entry request heard of it)")
        })
        .unwrap_or_else(|| panic!("an unseen-failures line\n{}", run.stdout));
    assert!(unseen.contains("web -> stats api v1"), "{unseen}");
    // Failures that failed or degraded requests are in the causes, not here: not the
    // load generator's edge, not payments (UNIMPLEMENTED fails checkout).
    assert!(
        !unseen.contains("client ->") && !unseen.contains("payments"),
        "{unseen}"
    );
    assert!(
        run.stdout.contains("asynchronous calls started per step"),
        "{}",
        run.stdout
    );
    let sweep = simulate(&["sweep", SCENARIO, "--net", "sim"]);
    let stats = sweep
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("stats "))
        .expect("a stats row");
    assert!(stats.contains("unseen: web -> stats api v1"), "{stats}");
}

#[test]
fn a_fallback_is_called_only_when_its_call_fails() {
    let healthy = run_with("", "safe");
    let baseline = &healthy["strategies"][0]["steps"][0];
    let edges_ok = edges(baseline);
    assert!(
        !edges_ok.contains_key("cart -> store-secondary api v1"),
        "{edges_ok:?}"
    );
    assert!(!edges_ok.contains_key("web -> toprated api v1"));
    let json = run_with("faults: [ { missing: store-primary } ]\n", "safe");
    let baseline = &json["strategies"][0]["steps"][0];
    let edges = edges(baseline);
    let primary = &edges["cart -> store-primary api v1"];
    let secondary = &edges["cart -> store-secondary api v1"];
    assert_eq!(primary["failed"], primary["calls"]);
    assert_eq!(
        secondary["calls"], primary["calls"],
        "one fallback per failure"
    );
    assert_eq!(secondary["ok"], secondary["calls"]);
    // Checkout is degraded (the secondary answered), browse untouched.
    assert_eq!(baseline["requests"]["failed"], 0);
    assert!(baseline["requests"]["degraded"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn a_rule_by_code_falls_back_on_unavailable_and_fails_on_unimplemented() {
    // batch: web v2 meets payments v1 (UNIMPLEMENTED): checkout fails, no fallback made.
    let json = run_with("", "batch");
    let step = &json["strategies"][0]["steps"][1];
    let causes: Vec<(&str, &str)> = step["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|cause| {
            (
                cause["edge"].as_str().unwrap_or_default(),
                cause["code"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        causes.contains(&("web -> payments api v2", "UNIMPLEMENTED")),
        "{causes:?}"
    );
    assert!(step["requests"]["failed"].as_u64().unwrap_or(0) > 0);
    assert!(
        !edges(step).contains_key("web -> payments-backup api v1"),
        "UNIMPLEMENTED is not handed to the backup"
    );
}

#[test]
fn rules_fallbacks_methods_and_mixes_are_checked_where_they_are_written() {
    let dir = TempDir::new("models-invalid");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "name: bad
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls:
          - { service: db, on_failure: { UNAVAILBLE: degrade } }
          - { service: db, method: lookup }
          - { service: db, async: true, fallback: { service: db } }
          - { service: db, fallback: { service: db, async: true } }
          - { service: db, fallback: [] }
          - { service: db, on_failure: fail, fallback: { service: db } }
          - { service: db, async: true, on_failure: degrade }
        methods:
          default: {}
          Call: {}
          browse: {}
  db:
    versions:
      v1: { methods: { get: {} } }
initial: { web: v1, db: v1 }
load:
  entrypoints:
    db: { rps: 5 }
    web: { mix: { search: 1 } }
",
    )
    .expect("write");
    let run = simulate(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    for expected in [
        "on_failure.UNAVAILBLE: unknown key `UNAVAILBLE`; did you mean \"UNAVAILABLE\"?",
        "calls[1].method: no version of \"db\" has method \"lookup\"",
        "calls[2].fallback: an asynchronous call cannot have a fallback",
        "calls[3].fallback.async: a fallback cannot have `async`",
        "calls[4].fallback: expected a call or a list of calls, found an empty list",
        "methods.default: invalid method name \"default\"",
        "methods.Call: invalid method name \"Call\"",
        "calls[5].on_failure: with `fail` for every code the fallback is never made",
        "calls[6].on_failure: an asynchronous call's failure never reaches its caller",
        "web: entrypoint \"web\" has methods",
        "load.entrypoints.db: \"db\" is not an entrypoint",
        "load.entrypoints.web.mix.search: \"web\" has no method \"search\"",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{}", run.stderr);
    }
}

#[test]
fn a_fallback_list_is_bounded_and_each_link_must_hand_over() {
    let dir = TempDir::new("models-chain");
    let path = dir.path().join("chain.yaml");
    let long: Vec<&str> = std::iter::repeat_n("{ service: db }", 17).collect();
    std::fs::write(
        &path,
        format!(
            "name: chain
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls:
          - {{ service: db, fallback: [{}] }}
          - {{ service: db, fallback: [ {{ service: db, on_failure: fail }}, {{ service: db }} ] }}
  db: {{ versions: {{ v1: {{}} }} }}
initial: {{ web: v1, db: v1 }}
",
            long.join(", ")
        ),
    )
    .expect("write");
    let run = simulate(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("calls[0].fallback: a fallback list has at most 16 calls (this one has 17)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "calls[1].fallback[0].on_failure: with `fail` for every code the next call of the list is never made"
        ),
        "{}",
        run.stderr
    );
}
