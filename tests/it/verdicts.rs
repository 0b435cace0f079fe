//! What every command concludes, and how it says it: "nothing judged" without an
//! expectation, `--expect graceful`, a listed strategy that cannot be planned, failures
//! swallowed by `ignore` in sight, the report edges a user met, `--quiet` everywhere, and
//! a misspelt command.

use crate::support::{Run, TempDir, simulate, write};

/// The JSON `--json -` printed.
fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}\n{}", run.stdout, run.stderr))
}

/// web calls api; api v2 drops the API web calls, so batch fails in its transient state
/// and single-piece (api first) fails once api is v2. No `expect`.
const BREAKS: &str = "
name: breaks
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: api } ] }
  api:
    versions:
      v1: { provides: [v1] }
      v2: { provides: [v2] }
initial: { web: v1, api: v1 }
target: { api: v2 }
load: { rps: 50, baseline_ms: 200, step_ms: 300 }
";

#[test]
fn without_an_expectation_nothing_is_judged_and_what_failed_is_shown() {
    let dir = TempDir::new("verdict-none");
    let path = write(&dir, "breaks.yaml", BREAKS);
    let check = simulate(&["check", &path]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("verdict: nothing judged: no expectation set"),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("batch, single-piece pass through a state that fails an entrypoint"),
        "{}",
        check.stdout
    );
    assert!(!check.stdout.contains("verdict: pass"), "{}", check.stdout);
    assert_eq!(
        json(&simulate(&["check", &path, "--json", "-"]))["verdict"],
        "none"
    );

    let run = simulate(&[&path, "--net", "sim"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let verdict = run
        .stdout
        .lines()
        .find(|line| line.starts_with("verdict:"))
        .expect("a verdict line");
    assert!(
        verdict.starts_with(
            "verdict: nothing judged: no expectation set (2 strategies); failed anyway: batch "
        ),
        "{verdict}"
    );
    assert!(verdict.contains("--expect graceful"), "{verdict}");
    assert!(
        run.stdout.contains("nothing judged\n"),
        "the comparison's expectations column: {}",
        run.stdout
    );
    assert_eq!(
        json(&simulate(&[&path, "--net", "sim", "--json", "-"]))["verdict"],
        "none"
    );

    let risk = simulate(&["risk", &path, "--trials", "4", "--json", "-"]);
    assert_eq!(risk.code, 0, "{}", risk.stderr);
    assert_eq!(json(&risk)["verdict"], "none");
    let risk = simulate(&["risk", &path, "--trials", "4"]);
    assert!(
        risk.stdout
            .contains("verdict: nothing judged: no expectation set (add risk.expect"),
        "{}",
        risk.stdout
    );
}

#[test]
fn expect_graceful_judges_every_strategy_without_an_expectation_of_its_own() {
    let dir = TempDir::new("verdict-expect");
    let path = write(&dir, "breaks.yaml", BREAKS);
    let check = simulate(&["check", &path, "--expect", "graceful"]);
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(
        check.stdout.contains(
            "verdict: fail (the prediction breaks the graceful expectation of batch, single-piece)"
        ),
        "{}",
        check.stdout
    );
    let run = simulate(&[&path, "--net", "sim", "--expect", "graceful", "--json", "-"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(json(&run)["verdict"], "fail");
    // A strategy's own expectation wins: a known-bad order kept as a regression test.
    let own = write(
        &dir,
        "own.yaml",
        &format!("{BREAKS}strategies: [{{ name: batch, expect: {{ graceful: false }} }}]\n"),
    );
    let check = simulate(&["check", &own, "--expect", "graceful"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(check.stdout.contains("expects a failure: held"));
    // An unknown value is a command-line error.
    assert_eq!(simulate(&["check", &path, "--expect", "fast"]).code, 2);
}

#[test]
fn a_strategy_asked_for_by_name_that_cannot_be_planned_fails_every_command() {
    // breaking.yaml has no safe order; naming `safe` asks for one.
    let scenario = "scenarios/breaking.yaml";
    let plan = simulate(&["plan", scenario, "--strategy", "safe"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("verdict: fail (safe was asked for and cannot be planned;"),
        "{}",
        plan.stdout
    );
    let check = simulate(&["check", scenario, "--strategy", "safe"]);
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("verdict: fail (safe cannot be planned, see above)"),
        "{}",
        check.stdout
    );
    let run = simulate(&[scenario, "--net", "sim", "--strategy", "safe"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("strategy safe: not run: no safe order exists")
    );
    let risk = simulate(&[
        "risk",
        scenario,
        "--trials",
        "2",
        "--strategy",
        "safe",
        "--json",
        "-",
    ]);
    assert_eq!(risk.code, 1, "{}", risk.stderr);
    assert_eq!(json(&risk)["verdict"], "fail");
    assert_eq!(json(&risk)["not_planned"][0], "safe");
    assert!(risk.stderr.contains("asked for by name: the verdict fails"));
    // Listed in the scenario is asked for too.
    let dir = TempDir::new("verdict-listed");
    let text = std::fs::read_to_string(crate::support::root().join(scenario)).expect("read");
    let listed = write(
        &dir,
        "listed.yaml",
        &text.replace("  - single-piece\n", "  - single-piece\n  - safe\n"),
    );
    assert_eq!(simulate(&["check", &listed]).code, 1);
    assert_eq!(simulate(&["plan", &listed]).code, 1);
}

/// checkout calls email and ignores its failures; email v2 drops the API checkout v1
/// calls. Single-piece (email first) loses every email call until checkout moves.
const SWALLOWS: &str = "
name: swallows
services:
  frontend:
    entrypoint: true
    versions:
      v1: { calls: [ { service: checkout } ] }
  checkout:
    versions:
      v1: { calls: [ { service: email, on_failure: ignore } ] }
      v2: { calls: [ { service: email, api: v2, on_failure: ignore } ] }
  email:
    versions:
      v1: { provides: [v1] }
      v2: { provides: [v2] }
initial: { frontend: v1, checkout: v1, email: v1 }
target: { checkout: v2, email: v2 }
load: { rps: 100, baseline_ms: 300, step_ms: 600 }
strategies: [single-piece]
expect: { graceful: true }
";

#[test]
fn failures_swallowed_by_ignore_are_in_sight_though_the_run_is_graceful() {
    let dir = TempDir::new("verdict-swallowed");
    let path = write(&dir, "swallows.yaml", SWALLOWS);
    let check = simulate(&["check", &path]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(
        check.stdout.contains(
            "  swallowed: checkout v1 -> email api v1: UNIMPLEMENTED (email v2 does not provide api v1); \
             no request hears of it: all its calls fail in 2 states (after step 1, during step 2)"
        ),
        "{}",
        check.stdout
    );
    let run = simulate(&[&path, "--net", "sim"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let line = run
        .stdout
        .lines()
        .find(|line| line.starts_with("  swallowed in single-piece: checkout -> email api v1: "))
        .unwrap_or_else(|| panic!("a swallowed line: {}", run.stdout));
    assert!(line.ends_with("no entry request heard of it"), "{line}");
    let percent: f64 = line
        .split(": ")
        .nth(2)
        .and_then(|rest| rest.split('%').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a share: {line}"));
    assert!(percent > 20.0, "{line}");
    assert!(
        run.stdout.contains(
            "verdict: pass (1 strategy, every expectation held); calls failed with no request hearing of it in single-piece (swallowed, above)"
        ),
        "{}",
        run.stdout
    );
    // The same count in the step's section and in the comparison, and in the JSON.
    let (failed, calls) = line
        .split('(')
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|counts| counts.split_once(" of "))
        .unwrap_or_else(|| panic!("counts: {line}"));
    assert!(
        run.stdout.contains(&format!(
            "checkout -> email api v1 {failed} of {calls} calls"
        )),
        "{}",
        run.stdout
    );
    let report = json(&simulate(&[&path, "--net", "sim", "--json", "-"]));
    let strategy = &report["strategies"][0];
    assert_eq!(strategy["verdict"], "pass");
    assert_eq!(strategy["swallowed"][0]["edge"], "checkout -> email api v1");
    assert_eq!(strategy["swallowed"][0]["failed"].to_string(), failed);
}

#[test]
fn a_hung_callee_is_named_as_the_cause_not_the_entry_deadline() {
    let dir = TempDir::new("verdict-hung");
    // payments answers after 20 s; web would wait 30 s; the entry deadline is 10 s.
    let path = write(
        &dir,
        "hung.yaml",
        "
name: hung
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: payments, timeout_ms: 30000 } ] }
  payments: { versions: { v1: { latency_ms: 20000 } } }
initial: { web: v1, payments: v1 }
load: { rps: 10, baseline_ms: 500 }
strategies: [batch]
",
    );
    let run = simulate(&[&path, "--net", "sim"]);
    assert!(
        run.stdout
            .contains("web -> payments api v1: DEADLINE_EXCEEDED x5"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("client -> web"), "{}", run.stdout);
}

#[test]
fn the_gate_says_what_it_saw_when_it_lets_a_failing_step_pass() {
    let dir = TempDir::new("verdict-gate");
    let path = write(
        &dir,
        "gate.yaml",
        "
name: gate
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: api } ] }
  api:
    startup_ms: 5000
    versions:
      v1: {}
      v2: { error_rate: 0.1 }
initial: { web: v1, api: v1 }
target: { api: v2 }
load: { rps: 100 }
gate: { max_failed_ratio: 0.02, on_breach: rollback }
strategies: [batch]
",
    );
    let run = simulate(&[&path, "--net", "sim"]);
    let line = run
        .stdout
        .lines()
        .find(|line| line.contains("the gate let the step pass: "))
        .unwrap_or_else(|| panic!("what the gate saw: {}", run.stdout));
    assert!(line.contains("within max_failed_ratio 2.0%"), "{line}");
    assert!(
        line.contains(
            "the step's 5.0 s wait for new replicas to be ready, longer than its 500 ms bake time"
        ),
        "{line}"
    );
}

#[test]
fn a_scenario_that_rolls_nothing_out_gets_no_trials_and_no_empty_order() {
    let dir = TempDir::new("verdict-no-target");
    let path = write(
        &dir,
        "still.yaml",
        "
name: still
services:
  web: { entrypoint: true, versions: { v1: {} } }
initial: { web: v1 }
",
    );
    let risk = simulate(&["risk", &path]);
    assert_eq!(risk.code, 2, "{}", risk.stdout);
    assert!(
        risk.stderr.contains("this scenario rolls nothing out"),
        "{}",
        risk.stderr
    );
    let check = simulate(&["check", &path]);
    assert!(check.stdout.contains("safe order: nothing to roll out"));
    assert!(
        !check.stdout.contains("--strategy safe"),
        "{}",
        check.stdout
    );
}

#[test]
fn check_keeps_a_large_step_s_state_column_narrow() {
    let dir = TempDir::new("verdict-wide");
    let mut services = String::new();
    let mut initial = Vec::new();
    let mut target = Vec::new();
    for i in 0..30 {
        services.push_str(&format!(
            "  service-{i:02}: {{ versions: {{ v1: {{}}, v2: {{}} }} }}\n"
        ));
        initial.push(format!("service-{i:02}: v1"));
        target.push(format!("service-{i:02}: v2"));
    }
    let path = write(
        &dir,
        "wide.yaml",
        &format!(
            "name: wide\nservices:\n  web: {{ entrypoint: true, versions: {{ v1: {{}} }} }}\n{services}\
             initial: {{ web: v1, {} }}\ntarget: {{ {} }}\nstrategies: [batch]\n",
            initial.join(", "),
            target.join(", ")
        ),
    );
    let check = simulate(&["check", &path]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let table: Vec<&str> = check
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("strategy batch"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .collect();
    assert!(
        table.len() > 5,
        "the state continues on rows below: {table:#?}"
    );
    for line in table {
        assert!(line.chars().count() <= 100, "{line}");
    }
}

#[test]
fn quiet_is_accepted_by_every_command_that_runs_and_leaves_only_the_conclusion() {
    for (args, kept) in [
        (&["check", "scenarios/partial.yaml"][..], "verdict: pass"),
        (&["scenarios/partial.yaml", "--net", "sim"], "verdict: pass"),
        (
            &["sweep", "scenarios/partial.yaml", "--net", "sim"],
            "single points of failure",
        ),
        (
            &["risk", "scenarios/risk.yaml", "--trials", "6"],
            "answer: ",
        ),
    ] {
        let loud = simulate(args);
        let quiet_args: Vec<&str> = args.iter().copied().chain(["--quiet"]).collect();
        let quiet = simulate(&quiet_args);
        assert_eq!(quiet.code, loud.code, "{args:?}: {}", quiet.stderr);
        assert!(quiet.stdout.contains(kept), "{args:?}: {}", quiet.stdout);
        assert!(
            quiet.stdout.lines().count() < loud.stdout.lines().count(),
            "{args:?}: quiet is shorter"
        );
        assert_eq!(quiet.stderr, "", "{args:?}: nothing on stderr but errors");
    }
}

#[test]
fn a_misspelt_command_is_named_with_its_fix() {
    let run = simulate(&["chek", "scenarios/partial.yaml"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("error: unknown command \"chek\"; did you mean \"check\"?"),
        "{}",
        run.stderr
    );
}

#[test]
fn risk_says_what_its_trials_will_cost_before_they_run() {
    let run = simulate(&["risk", "scenarios/risk.yaml", "--trials", "10"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cost = run
        .stderr
        .lines()
        .find(|line| line.starts_with("note: cost: 10 trials x 3 strategies: "))
        .unwrap_or_else(|| panic!("a cost line: {}", run.stderr));
    assert!(
        cost.contains("of virtual time, about ") && cost.contains(" entry requests at 100 rps"),
        "{cost}"
    );
}

#[test]
fn a_run_the_gate_stopped_says_how_many_of_its_steps_ran() {
    let dir = TempDir::new("verdict-stopped");
    let path = write(
        &dir,
        "stopped.yaml",
        "
name: stopped
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: api } ] }
  api: { versions: { v1: {}, v2: { error_rate: 0.5 } } }
  db: { versions: { v1: {}, v2: {} } }
initial: { web: v1, api: v1, db: v1 }
target: { api: v2, db: v2 }
gate: { max_failed_ratio: 0.01, on_breach: stop }
strategies: [single-piece]
",
    );
    let run = simulate(&[&path, "--net", "sim"]);
    assert!(
        run.stdout
            .contains("strategy single-piece: 1 of 2 steps in "),
        "{}",
        run.stdout
    );
}
