//! `simulate availability`: shares served with random replicas or services down, exact
//! from the evaluator and measured set by set in virtual time, read as a user would.

use crate::support::{TempDir, simulate, write, yaml_files};

/// `simulate availability ARGS... --json -`, parsed, with its exit code.
fn answer(args: &[&str]) -> (serde_json::Value, i32) {
    let mut all = vec!["availability"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", "-"]);
    let run = simulate(&all);
    assert!(
        run.code == 0 || run.code == 1,
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let json = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}\n{}", run.stdout, run.stderr));
    (json, run.code)
}

/// The predicted whole-load share of level `i`.
fn whole(json: &serde_json::Value, i: usize) -> f64 {
    json["levels"][i]["predicted"]["whole_load"]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no prediction at level {i}: {json}"))
}

#[test]
fn replicas_on_the_critical_path_lift_the_shipped_shop_past_its_limit() {
    // Before: web, catalog, carts, checkout and payment have one replica each among 14.
    // One replica down: browse needs web and catalog (12 of 14 spare both), checkout web,
    // carts, checkout and payment (10 of 14): 0.7 x 12/14 + 0.2 x 12/14 + 0.1 x 10/14.
    let (before, code) = answer(&["scenarios/availability-before.yaml", "--kill", "1"]);
    assert_eq!(code, 1, "its limit fails");
    let want = 0.9 * 12.0 / 14.0 + 0.1 * 10.0 / 14.0;
    assert!((whole(&before, 0) - want).abs() < 1e-12, "{before}");
    assert_eq!(before["verdict"], "fail");
    // After: every required service has two replicas, so no single kill takes one down.
    let (after, code) = answer(&["scenarios/availability.yaml", "--kill", "1,2"]);
    assert_eq!(code, 0);
    assert!((whole(&after, 0) - 1.0).abs() < 1e-12, "{after}");
    // Two kills down a required service when both are its replicas: 1 of 91 pairs per
    // service; browse needs web and catalog (2 pairs), checkout 4 services (4 pairs).
    let want = 0.9 * (1.0 - 2.0 / 91.0) + 0.1 * (1.0 - 4.0 / 91.0);
    assert!((whole(&after, 1) - want).abs() < 1e-12, "{after}");
    assert_eq!(after["levels"][1]["failure_sets"], 91);
    assert_eq!(after["verdict"], "pass");
}

#[test]
fn three_replicas_among_five_units_and_two_kills_spare_web_in_three_pairs_of_ten() {
    let dir = TempDir::new("avail-hypergeometric");
    // web (1 replica) needs api (3) and db (1): two kills never take api down, and
    // spare both web and db in C(3, 2) = 3 of the C(5, 2) = 10 pairs.
    let path = write(
        &dir,
        "three.yaml",
        "
name: three
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: api } ] } }
  api:
    replicas: 3
    versions: { v1: { calls: [ { service: db } ] } }
  db: { versions: { v1: {} } }
initial: { web: v1, api: v1, db: v1 }
",
    );
    let (json, _) = answer(&[&path, "--kill", "2"]);
    assert!((whole(&json, 0) - 0.3).abs() < 1e-12, "{json}");
    // As whole services, 2 of 3 down: web served only when api and db... never both
    // spared with web: 0 of 3 pairs leave web, api and db all up.
    let (json, _) = answer(&[&path, "--kill", "2", "--unit", "service"]);
    assert_eq!(whole(&json, 0), 0.0, "{json}");
    // Each replica down with p = 0.5: web and db up (1/4), api not all down (7/8).
    let (json, _) = answer(&[&path, "--each", "0.5"]);
    assert!((whole(&json, 0) - 0.25 * 7.0 / 8.0).abs() < 1e-12, "{json}");
    // Sparing db: web and api's replicas are the 4 units; 2 kills spare web in 3 of 6.
    let (json, _) = answer(&[&path, "--kill", "2", "--spare", "db"]);
    assert!((whole(&json, 0) - 0.5).abs() < 1e-12, "{json}");
}

#[test]
fn every_measured_set_of_every_shipped_scenario_without_capacity_is_what_the_evaluator_predicts() {
    let mut held = 0;
    for file in yaml_files("scenarios") {
        let path = file.to_str().expect("utf-8 path");
        let (json, _) = answer(&[path, "--kill", "1,2", "--trials", "12"]);
        for level in json["levels"].as_array().expect("levels") {
            let measured = &level["measured"];
            assert_eq!(measured["trials"], 12, "{path}: {measured}");
            if measured["held_to_prediction"] == false {
                assert!(!json["capacity"].as_array().expect("capacity").is_empty());
                continue;
            }
            held += 1;
            assert_eq!(
                measured["agreed"], 12,
                "{path} {}: {}",
                level["level"], measured["disagreements"]
            );
        }
    }
    assert!(
        held >= 20,
        "most shipped scenarios have no capacity: {held} levels held"
    );
}

#[test]
fn a_set_the_evaluator_misjudges_is_reported_with_its_failure_set() {
    let dir = TempDir::new("avail-disagree");
    // An error rate the evaluator does not model fails some requests of every set.
    let path = write(
        &dir,
        "errors.yaml",
        "
name: errors
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: api } ] } }
  api:
    replicas: 2
    versions: { v1: { error_rate: 0.3 } }
initial: { web: v1, api: v1 }
load: { rps: 200, baseline_ms: 1000 }
",
    );
    let (json, _) = answer(&[&path, "--kill", "1", "--trials", "4"]);
    let measured = &json["levels"][0]["measured"];
    assert_eq!(measured["held_to_prediction"], true);
    let disagreements = measured["disagreements"].as_array().expect("list");
    assert!(!disagreements.is_empty(), "{measured}");
    let first = &disagreements[0];
    assert_eq!(first["entrypoint"], "web");
    assert_eq!(first["failed"].as_array().map(Vec::len), Some(1), "{first}");
    assert!(
        first["measured"].as_f64().expect("share") < first["predicted"].as_f64().expect("share")
    );
    let text = simulate(&["availability", &path, "--kill", "1", "--trials", "4"]).stdout;
    assert!(
        text.contains("disagree with the evaluator's prediction"),
        "{text}"
    );
    assert!(text.contains("(failed: api 1 of 2)"), "{text}");
}

#[test]
fn the_same_seed_gives_the_same_json_on_one_worker_or_two() {
    let args = |workers: &'static str| {
        vec![
            "availability",
            "scenarios/online-boutique.yaml",
            "--kill",
            "3",
            "--each",
            "0.1",
            "--budget",
            "50",
            "--samples",
            "300",
            "--trials",
            "16",
            "--workers",
            workers,
            "--json",
            "-",
        ]
    };
    let one = simulate(&args("1"));
    let two = simulate(&args("2"));
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert_eq!(one.stdout, two.stdout);
    let json: serde_json::Value = serde_json::from_str(&one.stdout).expect("JSON");
    let predicted = &json["levels"][0]["predicted"];
    assert_eq!(predicted["exact"], false, "past the budget of 50: drawn");
    assert_eq!(predicted["evaluated"], 300);
    let interval = &predicted["whole_load"];
    assert!(
        interval["low"].as_f64() < interval["high"].as_f64(),
        "{interval}"
    );
}

#[test]
fn a_deployment_with_capacity_is_measured_not_predicted() {
    let refused = simulate(&["availability", "scenarios/retry-storm.yaml", "--kill", "1"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("checkout v1 has a capacity"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--trials"), "{}", refused.stderr);
    let (json, _) = answer(&["scenarios/retry-storm.yaml", "--kill", "1", "--trials", "6"]);
    let level = &json["levels"][0];
    assert!(level["predicted"].is_null(), "{level}");
    assert_eq!(level["measured"]["held_to_prediction"], false);
    assert_eq!(level["measured"]["trials"], 6);
}

#[test]
fn limits_judge_the_levels_asked_and_the_markdown_says_the_verdict() {
    let dir = TempDir::new("avail-markdown");
    let markdown = dir.path().join("avail.md");
    let markdown = markdown.to_str().expect("utf-8 path");
    let run = simulate(&[
        "availability",
        "scenarios/availability-before.yaml",
        "--markdown",
        markdown,
        "--quiet",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("K=2 whole load: at least 90.00%, exactly 70.22%: FAILED"),
        "{}",
        run.stdout
    );
    let summary = std::fs::read_to_string(markdown).expect("written");
    assert!(
        summary.starts_with("### Availability of availability-before: fail"),
        "{summary}"
    );
    assert!(summary.lines().count() <= 40, "{summary}");
    // A level the limits do not name: nothing judged, exit 0, and a note says so.
    let run = simulate(&[
        "availability",
        "scenarios/availability-before.yaml",
        "--kill",
        "3",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("verdict: nothing judged"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("not judged"), "{}", run.stderr);
    // More units than may fail: a clear error.
    let run = simulate(&["availability", "scenarios/partial.yaml", "--kill", "99"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("K=99 asks for more units down than the"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_set_in_which_an_entrypoint_got_no_request_is_left_out_of_its_mean() {
    let dir = TempDir::new("avail-quiet");
    // One request a second for 100 ms: most sets send nothing at all.
    let path = write(
        &dir,
        "quiet.yaml",
        "
name: quiet
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: api } ] } }
  api: { replicas: 2, versions: { v1: {} } }
initial: { web: v1, api: v1 }
load: { rps: 1, baseline_ms: 100 }
",
    );
    let (json, _) = answer(&[&path, "--kill", "0", "--trials", "10"]);
    let measured = &json["levels"][0]["measured"];
    let served = &measured["whole_load"];
    assert_eq!(served["value"], 1.0, "nothing is down: {measured}");
    assert!(served["n"].as_u64() < Some(10), "{served}");
}

#[test]
fn the_markdown_never_overwrites_the_scenario_nor_shares_stdout_with_the_json() {
    let dir = TempDir::new("avail-guard");
    let shipped = std::fs::read_to_string("scenarios/availability.yaml").expect("shipped");
    let path = write(&dir, "shop.yaml", &shipped);
    let run = simulate(&["availability", &path, "--markdown", &path]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--markdown"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&path).expect("kept"), shipped);
    let run = simulate(&["availability", &path, "--json", "-", "--markdown", "-"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_level_asked_twice_is_one_row_and_more_flags_than_the_evaluator_splits_give_a_lower_bound() {
    let (json, _) = answer(&[
        "scenarios/availability.yaml",
        "--kill",
        "1,1",
        "--each",
        "0.1,0.10",
    ]);
    assert_eq!(
        json["levels"].as_array().map(Vec::len),
        Some(2),
        "{}",
        json["levels"]
    );
    let dir = TempDir::new("avail-flags");
    let mut yaml = String::from(
        "name: flags\nservices:\n  web:\n    entrypoint: true\n    versions: { v1: { calls: [ { service: api, flag: f0 } ] } }\n  api: { versions: { v1: {} } }\ninitial: { web: v1 }\nflags:\n",
    );
    for f in 0..9 {
        yaml.push_str(&format!("  f{f}: {{ on: true, percent: 50 }}\n"));
    }
    let path = write(&dir, "flags.yaml", &yaml);
    let run = simulate(&["availability", &path, "--kill", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("a lower bound: 9 flags are at a percent"),
        "{}",
        run.stdout
    );
}
