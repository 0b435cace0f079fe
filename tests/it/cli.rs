//! The command line as a user or a pipeline meets it: exit codes and messages.

use crate::support::{TempDir, simulate};

#[test]
fn plan_of_a_valid_scenario_exits_0_and_prints_every_strategy() {
    let run = simulate(&["plan", "scenarios/partial.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for strategy in ["batch", "single-piece", "half-done", "consumer-first"] {
        assert!(
            run.stdout.contains(&format!("strategy {strategy}")),
            "{strategy} is shown:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("partial: stops before the target, leaving web v1->v2")
    );
}

#[test]
fn missing_file_and_directory_are_one_line_errors() {
    let missing = simulate(&["plan", "scenarios/no-such-file.yaml"]);
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr.trim(),
        "error: cannot read scenario scenarios/no-such-file.yaml: no such file"
    );
    let directory = simulate(&["plan", "scenarios"]);
    assert_eq!(directory.code, 2);
    assert_eq!(
        directory.stderr.trim(),
        "error: cannot read scenario scenarios: it is a directory, not a scenario file"
    );
}

#[test]
fn a_file_over_the_size_cap_is_refused_without_parsing() {
    let dir = TempDir::new("huge");
    let path = dir.path().join("huge.yaml");
    let line = "# padding padding padding padding padding padding padding padding padding\n";
    let text = line.repeat((deploysim::scenario::MAX_FILE_BYTES as usize / line.len()) + 2);
    std::fs::write(&path, text).expect("write");
    let run = simulate(&["plan", path.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("larger than the 8 MiB limit"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn json_plan_parses_and_carries_the_fixed_fields() {
    let dir = TempDir::new("json");
    let path = dir.path().join("plan.json");
    let run = simulate(&[
        "plan",
        "scenarios/partial.yaml",
        "--json",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&path).expect("JSON written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(json["scenario"], "partial");
    assert_eq!(json["seed"], 42);
    let strategies = json["strategies"].as_array().expect("strategies");
    assert_eq!(strategies.len(), 5);
    let single = strategies
        .iter()
        .find(|s| s["name"] == "single-piece")
        .expect("single-piece");
    let steps = single["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4, "baseline and three steps");
    assert_eq!(steps[0]["index"], 0);
    assert_eq!(steps[1]["changes"][0]["service"], "catalog");
    assert!(
        steps[3].get("versions").is_none(),
        "each step says what it changes, not the whole fleet"
    );
    // With --full, every deployed service's version after every step.
    let full = simulate(&[
        "plan",
        "scenarios/partial.yaml",
        "--strategy",
        "single-piece",
        "--json",
        "-",
        "--full",
    ]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    let json: serde_json::Value = serde_json::from_str(&full.stdout).expect("valid JSON");
    let steps = &json["strategies"][0]["steps"];
    assert_eq!(steps[3]["versions"]["web"], "v2");
    assert_eq!(
        steps[3]["versions"]["cart"], "v1",
        "every deployed service, not only changed ones"
    );
    let half = strategies
        .iter()
        .find(|s| s["name"] == "half-done")
        .expect("half-done");
    assert_eq!(half["complete"], false);
    assert_eq!(half["not_reached"][0]["service"], "web");
}

#[test]
fn json_to_stdout_replaces_the_table() {
    let run = simulate(&[
        "plan",
        "scenarios/partial.yaml",
        "--strategy",
        "batch",
        "--json",
        "-",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is only JSON");
    assert_eq!(json["strategies"].as_array().map(Vec::len), Some(1));
}

#[test]
fn unwritable_json_path_is_an_environment_failure() {
    let run = simulate(&[
        "plan",
        "scenarios/partial.yaml",
        "--json",
        "/nonexistent-dir/plan.json",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot write /nonexistent-dir/plan.json"),
        "{}",
        run.stderr
    );
    // A live run finds out before it starts, not after minutes of load: this one's
    // bake times add up to 40 s.
    let dir = TempDir::new("live-unwritable");
    let scenario = live_scenario(&dir, 20_000, "{ graceful: true }");
    let live = simulate(&[&scenario, "--json", "/nonexistent-dir/run.json"]);
    assert_eq!(live.code, 3, "{}", live.stderr);
    assert!(
        live.stderr
            .contains("cannot write /nonexistent-dir/run.json"),
        "{}",
        live.stderr
    );
    assert!(live.stdout.is_empty(), "nothing ran: {}", live.stdout);
}

#[test]
fn a_run_the_machine_cannot_keep_up_with_is_inconclusive_never_pass_or_fail() {
    // 100,000 requests a second to one entrypoint: the harness refuses or sends late most
    // of them. `graceful: false` would "hold" on the refusals alone.
    let dir = TempDir::new("flood");
    let path = dir.path().join("flood.yaml");
    std::fs::write(
        &path,
        "
name: flood
services:
  web: { entrypoint: true, versions: { v1: {}, v2: {} } }
initial: { web: v1 }
target: { web: v2 }
load: { rps: 100000, baseline_ms: 300, step_ms: 300 }
strategies: [ { name: batch, expect: { graceful: false } } ]
",
    )
    .expect("write scenario");
    let run = simulate(&[path.to_str().expect("utf-8 path"), "--json", "-"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["verdict"], "inconclusive");
    let batch = &json["strategies"][0];
    assert_eq!(batch["judged"], false);
    assert_eq!(batch["expectations"], serde_json::json!([]));
    assert_eq!(batch["steps"][0]["lag"]["kept_up"], false, "{batch}");

    let text = simulate(&[path.to_str().expect("utf-8 path"), "--quiet"]);
    assert_eq!(text.code, 4);
    assert!(
        text.stdout.contains("verdict: inconclusive")
            && text
                .stdout
                .contains("lower load.rps (now 100000 per entrypoint)"),
        "{}",
        text.stdout
    );
    assert!(
        !json["strategies"][0]["steps"][1]["agrees"].is_boolean(),
        "an unmeasured step neither agrees nor differs: {batch}"
    );

    // A gate does not act on what the machine did: the refusals would breach any ratio.
    let gated = dir.path().join("gated.yaml");
    let text = std::fs::read_to_string(&path).expect("read scenario")
        + "gate: { max_failed_ratio: 0.01, on_breach: rollback }\n";
    std::fs::write(&gated, text).expect("write scenario");
    let run = simulate(&[gated.to_str().expect("utf-8 path"), "--json", "-"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let batch = &json["strategies"][0];
    assert_eq!(batch["rolled_back"], false, "{batch}");
    assert_eq!(batch["steps"][1]["gate_breached"], false, "{batch}");
    assert!(
        batch["steps"][1]["events"]
            .to_string()
            .contains("the gate did not judge this step"),
        "{batch}"
    );

    // The sweep holds its rows to the same bounds: no single point of failure is
    // read off a row the machine fell behind in.
    let sweep = simulate(&["sweep", path.to_str().expect("utf-8 path"), "--json", "-"]);
    assert_eq!(sweep.code, 4, "{}", sweep.stderr);
    let json: serde_json::Value = serde_json::from_str(&sweep.stdout).expect("JSON");
    assert_eq!(json["reference"]["kept_up"], false, "{json}");
    assert_eq!(json["single_points_of_failure"], serde_json::json!([]));
    let text = simulate(&["sweep", path.to_str().expect("utf-8 path")]);
    assert!(
        text.stdout
            .contains("~ marks a row the harness fell behind in"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_strategy_error_leaves_no_json_file_behind() {
    let dir = TempDir::new("no-empty-json");
    let json = dir.path().join("run.json");
    let run = simulate(&[
        "scenarios/partial.yaml",
        "--strategy",
        "no-such-strategy",
        "--json",
        json.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        !json.exists(),
        "the run stopped before anything was written"
    );
}

#[test]
fn a_closed_stdout_is_no_panic_and_a_scenario_can_come_from_stdin() {
    use std::io::{BufRead, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(["generate", "--services", "2000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn simulate");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    // The reader is gone (as `| head -1` goes).
    let output = child.wait_with_output().expect("simulate ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(first.starts_with("# Generated"), "{first}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let text = std::fs::read_to_string(crate::support::root().join("scenarios/partial.yaml"))
        .expect("partial.yaml");
    let mut plan = std::process::Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(["plan", "-"])
        .current_dir(crate::support::root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn simulate");
    plan.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write the scenario");
    let output = plan.wait_with_output().expect("simulate ends");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("scenario partial (seed 42)"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn strategy_selection_takes_scenario_and_builtin_names_and_suggests_on_typos() {
    let run = simulate(&[
        "plan",
        "scenarios/partial.yaml",
        "--strategy",
        "half-done",
        "--strategy",
        "waves-2",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("strategy half-done")
            && run.stdout.contains("strategy waves-2 (waves): 2 steps")
    );
    assert!(!run.stdout.contains("strategy batch"));
    let typo = simulate(&["plan", "scenarios/partial.yaml", "--strategy", "half-don"]);
    assert_eq!(typo.code, 2);
    assert!(
        typo.stderr.contains("did you mean \"half-done\"?"),
        "{}",
        typo.stderr
    );
}

#[test]
fn the_same_seed_gives_the_same_random_plan() {
    let args = [
        "plan",
        "scenarios/partial.yaml",
        "--strategy",
        "random",
        "--seed",
        "7",
        "--json",
        "-",
    ];
    let first = simulate(&args);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout, simulate(&args).stdout);
    let orders: std::collections::BTreeSet<String> = (0..12)
        .map(|seed| {
            let seed = seed.to_string();
            simulate(&[
                "plan",
                "scenarios/partial.yaml",
                "--strategy",
                "random",
                "--seed",
                &seed,
                "--json",
                "-",
            ])
            .stdout
        })
        .collect();
    assert!(orders.len() > 1, "the seed changes the random order");
}

#[test]
fn bad_command_lines_exit_2() {
    assert_eq!(simulate(&["plan"]).code, 2);
    assert_eq!(
        simulate(&["plan", "scenarios/partial.yaml", "--seed", "minus-one"]).code,
        2
    );
    assert_eq!(simulate(&["generate", "--services", "1"]).code, 2);
    assert_eq!(simulate(&["frobnicate", "--x"]).code, 2);
}

/// A small live scenario: web needs api, and api v2 drops the API v1 that web v1 calls.
/// `bake_ms` sets every bake time; `expect` is the top-level expectation.
fn live_scenario(dir: &TempDir, bake_ms: u64, expect: &str) -> String {
    let path = dir.path().join("live.yaml");
    let yaml = format!(
        "
name: live-cli
seed: 5
services:
  web:
    entrypoint: true
    versions:
      v1: {{ calls: [ {{ service: api, api: v1 }} ] }}
  api:
    versions:
      v1: {{ provides: [v1] }}
      v2: {{ provides: [v2] }}
initial: {{ web: v1, api: v1 }}
target: {{ api: v2 }}
load: {{ rps: 100, baseline_ms: {bake_ms}, step_ms: {bake_ms} }}
strategies: [batch]
expect: {expect}
"
    );
    std::fs::write(&path, yaml).expect("write scenario");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn the_live_run_exits_1_when_an_expectation_fails_and_0_when_all_hold() {
    let dir = TempDir::new("live-exit");
    let breaks = live_scenario(&dir, 200, "{ graceful: true }");
    let run = simulate(&[&breaks]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("web -> api api v1: UNIMPLEMENTED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("expect graceful: FAILED"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("verdict: fail"), "{}", run.stdout);
    assert!(
        run.stdout.contains("--seed 5"),
        "a failing run prints its seed"
    );

    let known_bad = live_scenario(&dir, 200, "{ graceful: false }");
    let run = simulate(&[&known_bad, "--quiet"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("verdict: pass"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("top causes"),
        "--quiet leaves out the step tables"
    );

    let invalid = simulate(&["scenarios/invalid/unknown-service.yaml"]);
    assert_eq!(invalid.code, 2, "an invalid scenario never starts a server");
    assert!(
        invalid.stderr.contains("unknown service \"catlog\""),
        "{}",
        invalid.stderr
    );
}

#[test]
fn the_live_json_report_has_the_contract_fields() {
    let dir = TempDir::new("live-json");
    let scenario = live_scenario(&dir, 200, "{ graceful: true }");
    let run = simulate(&[&scenario, "--json", "-"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(json["scenario"], "live-cli");
    assert_eq!(json["seed"], 5);
    assert_eq!(json["verdict"], "fail");
    let batch = &json["strategies"][0];
    assert_eq!(batch["name"], "batch");
    assert_eq!(batch["graceful"], false);
    assert_eq!(batch["rolled_back"], false);
    let steps = batch["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "baseline and one step");
    for step in steps {
        for key in ["index", "changes", "requests", "latency_ms", "causes"] {
            assert!(step.get(key).is_some(), "step has {key}: {step}");
        }
        for key in ["ok", "degraded", "failed"] {
            assert!(step["requests"][key].is_u64(), "{step}");
        }
        for key in ["p50", "p90", "p99", "max"] {
            assert!(step["latency_ms"][key].is_number(), "{step}");
        }
    }
    let cause = &steps[1]["causes"][0];
    assert_eq!(cause["edge"], "web -> api api v1");
    assert_eq!(cause["code"], "UNIMPLEMENTED");
    assert!(cause["count"].as_u64().unwrap_or(0) > 0);
    assert_eq!(steps[0]["requests"]["failed"], 0);
}

// The test measures a child process from outside any runtime, where std's clock is right.
#[allow(clippy::disallowed_types)]
#[test]
fn ctrl_c_stops_the_run_reports_what_ran_and_exits_130() {
    let dir = TempDir::new("live-interrupt");
    let scenario = live_scenario(&dir, 20_000, "{ graceful: true }");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn simulate");
    std::thread::sleep(std::time::Duration::from_millis(800));
    let started = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let output = child.wait_with_output().expect("simulate ends");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "it stops promptly, not after the 20 s bake"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(
        stdout.contains("baseline"),
        "the report shows what ran: {stdout}"
    );
    // A run that did not finish is not judged: no expectation held or failed.
    assert!(
        stdout.contains("expectations: not judged (the run was interrupted)"),
        "{stdout}"
    );
    assert!(!stdout.contains("expect graceful: held"), "{stdout}");
    // Nor does it read "graceful yes": no failure seen is not no failure.
    let comparison = stdout.split("comparison\n").nth(1).expect("a comparison");
    let row = comparison.lines().nth(1).expect("a strategy's row");
    assert_eq!(row.split_whitespace().nth(1), Some("unknown"), "{row}");
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let run = simulate(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("simulate plan scenarios/partial.yaml"));
    assert!(run.stdout.contains("simulate scenarios/partial.yaml"));
    assert!(run.stdout.contains("Exit codes"));
    assert!(run.stdout.contains("130 interrupted"));
    let risk = simulate(&["risk", "--help"]);
    assert_eq!(risk.code, 0);
    assert!(
        risk.stdout
            .contains("simulate risk scenarios/risk.yaml --trials 1000 --out report/")
    );
    assert!(risk.stdout.contains("1 a risk.expect limit failed"));
}

#[test]
fn a_generated_500_service_scenario_is_valid_and_plans() {
    let dir = TempDir::new("generated");
    let generated = simulate(&["generate", "--services", "500", "--seed", "3"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    assert_eq!(
        generated.stdout,
        simulate(&["generate", "--services", "500", "--seed", "3"]).stdout,
        "same seed, same text"
    );
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, &generated.stdout).expect("write");
    let run = simulate(&["plan", path.to_str().expect("utf-8 path"), "--json", "-"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let n_changes = json["changes"].as_array().map(Vec::len).unwrap_or(0);
    assert!(
        n_changes > 50,
        "about a third of 500 services change, got {n_changes}"
    );
    let single = json["strategies"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "single-piece"))
        .expect("single-piece");
    assert_eq!(
        single["steps"].as_array().map(Vec::len),
        Some(n_changes + 1)
    );
}

#[test]
fn check_exits_1_when_a_graceful_expectation_fails_in_some_state_and_writes_json() {
    let dir = TempDir::new("check-exit");
    // breaking.yaml with the opposite expectation: every order must now be graceful.
    let text = std::fs::read_to_string(crate::support::root().join("scenarios/breaking.yaml"))
        .expect("breaking.yaml")
        .replace("  graceful: false", "  graceful: true");
    let path = dir.path().join("breaking.yaml");
    std::fs::write(&path, text).expect("write");
    let json_path = dir.path().join("check.json");
    let run = simulate(&[
        "check",
        path.to_str().expect("utf-8 path"),
        "--json",
        json_path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("verdict: fail"), "{}", run.stdout);
    assert!(
        run.stdout.contains("safe order: none exists"),
        "{}",
        run.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("JSON written"))
            .expect("JSON");
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["safe_order"]["found"], false);
    let fix = json["safe_order"]["conflicts"][0]["fix"]
        .as_str()
        .unwrap_or_default();
    assert!(fix.starts_with("expand, then contract"), "{fix}");
    let batch = &json["strategies"][0];
    assert_eq!(batch["name"], "batch");
    assert_eq!(batch["expectation_held"], false);
    let transient = &batch["steps"][1]["transient"];
    assert_eq!(
        transient["serving"]["pricing"],
        serde_json::json!(["v1", "v2"])
    );
    assert_eq!(transient["entrypoints"][0]["level"], "failed");
    assert_eq!(transient["entrypoints"][0]["code"], "UNIMPLEMENTED");
    assert_eq!(
        json["sweep"]["single_points_of_failure"],
        serde_json::json!(["cart", "pricing"])
    );
}

#[test]
fn the_safe_strategy_runs_live_the_order_check_plans() {
    let run = simulate(&[
        "scenarios/expand-contract.yaml",
        "--strategy",
        "safe",
        "--json",
        "-",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let safe = &json["strategies"][0];
    assert_eq!(safe["kind"], "safe");
    assert_eq!(safe["graceful"], true);
    let moved: Vec<&str> = safe["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .skip(1)
        .map(|step| step["changes"][0]["service"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(moved, vec!["pricing", "cart"]);
    assert!(
        safe["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|step| step["agrees"] == true)
    );

    // A strategy with no safe order does not stop the run: the others run, it is
    // reported with the reason, the JSON is written, and the verdict fails.
    let dir = TempDir::new("no-safe-order");
    let json_path = dir.path().join("run.json");
    let none = simulate(&[
        "scenarios/breaking.yaml",
        "--strategy",
        "safe",
        "--strategy",
        "single-piece",
        "--json",
        json_path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(none.code, 1, "{}", none.stderr);
    assert!(
        none.stdout
            .contains("strategy safe: not run: no safe order exists\n  conflict: "),
        "{}",
        none.stdout
    );
    assert!(
        none.stdout.contains("strategy single-piece: "),
        "{}",
        none.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("the JSON is written"))
            .expect("JSON");
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["strategies"][0]["name"], "single-piece");
    assert_eq!(json["not_planned"][0]["name"], "safe");
    assert!(
        json["not_planned"][0]["conflicts"][0]["fix"]
            .as_str()
            .is_some_and(|fix| fix.starts_with("expand, then contract")),
        "{json}"
    );
}

#[test]
fn sweep_measures_each_missing_service_under_load_next_to_the_prediction() {
    let run = simulate(&["sweep", "scenarios/expand-contract.yaml", "--json", "-"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let rows = json["rows"].as_array().expect("rows");
    let missing: Vec<&str> = rows
        .iter()
        .map(|row| row["missing"][0].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        missing,
        vec!["cart", "pricing", "web"],
        "one row per deployed service"
    );
    assert_eq!(
        json["reference"]["requests"]["failed"], 0,
        "nothing missing, nothing fails"
    );
    for row in rows {
        assert_eq!(row["agrees"], true, "{row}");
        // Missing means never started: not one request is served, the first included.
        assert_eq!(row["requests"]["ok"], 0, "{row}");
        assert_eq!(row["requests"]["degraded"], 0, "{row}");
        assert_eq!(
            row["predicted"]["web"], "failed",
            "every service here is required"
        );
        let requests = &row["requests"];
        assert!(requests["sent"].as_u64().unwrap_or(0) > 0);
        assert!(requests["failed"].as_u64().unwrap_or(0) > 0, "{row}");
        assert_eq!(row["measured"]["web"], "failed");
    }
    assert_eq!(
        json["single_points_of_failure"],
        serde_json::json!(["cart", "pricing"])
    );
    let pricing = &rows[1];
    assert_eq!(pricing["causes"][0]["edge"], "cart -> pricing api v1");
    assert_eq!(pricing["causes"][0]["code"], "UNAVAILABLE");
}

#[test]
fn check_holds_graceful_false_to_a_failing_state_too() {
    let dir = TempDir::new("check-known-bad");
    // expand-contract.yaml's safe and single-piece orders never fail, so a top-level
    // "graceful: false" (which they inherit) cannot hold for them.
    let text =
        std::fs::read_to_string(crate::support::root().join("scenarios/expand-contract.yaml"))
            .expect("expand-contract.yaml")
            .replace("expect:\n  graceful: true", "expect:\n  graceful: false");
    let path = dir.path().join("known-bad.yaml");
    std::fs::write(&path, text).expect("write");
    let run = simulate(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "verdict: fail (the prediction breaks the graceful expectation of safe, single-piece)"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn every_command_shows_examples_in_its_help() {
    for command in [
        &["--help"][..],
        &["check", "--help"],
        &["plan", "--help"],
        &["sweep", "--help"],
        &["risk", "--help"],
        &["import", "--help"],
        &["generate", "--help"],
    ] {
        let run = simulate(command);
        assert_eq!(run.code, 0, "{command:?}: {}", run.stderr);
        assert!(
            run.stdout.contains("Examples:\n  # "),
            "{command:?} shows no examples:\n{}",
            run.stdout
        );
        // Each example is its own line under its comment, short enough that no terminal
        // of 80 columns wraps it mid-phrase.
        let examples = run.stdout.split("Examples:\n").nth(1).expect("examples");
        for line in examples.lines().take_while(|line| !line.is_empty()) {
            assert!(
                line.chars().count() <= 80,
                "{command:?}: an example line of {} columns: {line}",
                line.chars().count()
            );
            assert!(
                line.starts_with("  # ")
                    || line.starts_with("  simulate ")
                    || line.starts_with("      --"),
                "{command:?}: not an example or its comment: {line}"
            );
        }
    }
    let bare = simulate(&[]);
    assert_eq!(bare.code, 2);
    for command in ["check", "sweep", "plan", "generate"] {
        assert!(
            bare.stderr.contains(&format!("simulate {command}")),
            "the usage line names {command}: {}",
            bare.stderr
        );
    }
}

#[test]
fn a_sim_run_says_how_to_rerun_it_and_what_limited_it() {
    let dir = TempDir::new("sim-cli");
    let failing = dir.path().join("failing.yaml");
    std::fs::write(
        &failing,
        "
name: sim-fail
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: db } ] }
      v2: { calls: [ { service: db, api: v2 } ] }
  db: { versions: { v1: {}, v2: { provides: [v2] } } }
initial: { web: v1, db: v1 }
target: { web: v2, db: v2 }
strategies: [batch]
expect: { graceful: true }
",
    )
    .expect("write scenario");
    let run = simulate(&[
        failing.to_str().expect("utf-8 path"),
        "--net",
        "sim",
        "--seed",
        "7",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("on a simulated network in virtual time (--net sim)")
            && run.stdout.contains("rerun with --seed 7 --net sim")
            && run.stdout.contains(": UNIMPLEMENTED"),
        "{}",
        run.stdout
    );

    // In virtual time nothing is late, and no machine limits the load generator: its
    // bound follows the entry deadline, so 10 requests held 100 ms each at once are all
    // sent, and the step is measured, however low `max_in_flight` is. Live, the same
    // scenario is refused as overload (live.rs).
    let refused = dir.path().join("refused.yaml");
    std::fs::write(
        &refused,
        "
name: sim-refused
services:
  web: { entrypoint: true, versions: { v1: { latency_ms: 100 } } }
initial: { web: v1 }
target: {}
load: { rps: 100, max_in_flight: 5 }
strategies: [ { name: batch, expect: { graceful: true } } ]
",
    )
    .expect("write scenario");
    let run = simulate(&[refused.to_str().expect("utf-8 path"), "--net", "sim"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        !run.stdout.contains("limited") && run.stdout.contains("verdict: pass"),
        "{}",
        run.stdout
    );

    // The sweep runs in virtual time too, and its JSON says so.
    let sweep = simulate(&[
        "sweep",
        "scenarios/partial.yaml",
        "--net",
        "sim",
        "--json",
        "-",
    ]);
    assert_eq!(sweep.code, 0, "{}", sweep.stderr);
    let json: serde_json::Value = serde_json::from_str(&sweep.stdout).expect("JSON");
    assert_eq!(json["net"], "sim");
    assert_eq!(
        json["single_points_of_failure"],
        serde_json::json!(["cart", "catalog", "inventory", "pricing"])
    );
}

#[test]
fn check_pairs_says_how_many_pairs_it_swept_even_when_none_is_listed() {
    let run = simulate(&["check", "scenarios/partial.yaml", "--pairs"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // partial.yaml deploys 6 services: 15 pairs, none worse than its worse single.
    assert!(
        run.stdout
            .contains("--pairs: 15 pairs swept; none worse than either service missing alone"),
        "{}",
        run.stdout
    );
    let json = simulate(&["check", "scenarios/partial.yaml", "--pairs", "--json", "-"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(json["sweep"]["pairs_swept"], 15);
    let without = simulate(&["check", "scenarios/partial.yaml", "--json", "-"]);
    let without: serde_json::Value = serde_json::from_str(&without.stdout).expect("JSON");
    assert!(without["sweep"]["pairs_swept"].is_null());
}
