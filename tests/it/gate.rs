//! Reports for a pipeline, from each command on shipped scenarios: JUnit read back by a
//! real JUnit reader (junitparser, from PyPI), the Markdown summary (snapshots, length),
//! GitHub annotations (well formed, on the line of the key that breaks, capped), the
//! job summary; and the completion scripts in their shells, the manual page.

use serde_json::Value;

use super::support::{TempDir, root, simulate, simulate_with, tool, write};

/// Reads a JUnit file with junitparser: every case's suite, class, name, result
/// (`passed`, `failure`, `skipped`, `error`), message, text and line.
const READ_JUNIT: &str = r#"
import json, sys
from junitparser import JUnitXml, TestSuite
xml = JUnitXml.fromfile(sys.argv[1])
suites = [xml] if isinstance(xml, TestSuite) else list(xml)
cases = []
for suite in suites:
    for case in suite:
        result = case.result[0] if case.result else None
        cases.append({
            "suite": suite.name,
            "classname": case.classname,
            "name": case.name,
            "result": type(result).__name__.lower() if result is not None else "passed",
            "message": result.message if result is not None else None,
            "text": result.text if result is not None else None,
            "line": case._elem.get("line"),
        })
print(json.dumps({"declared": [xml.tests, xml.failures, xml.errors, xml.skipped], "cases": cases}))
"#;

/// The cases of a JUnit file as junitparser reads them; `None` when it is not installed
/// (and not under CI).
fn junit(path: &std::path::Path) -> Option<Vec<Value>> {
    let out = tool(
        "python3",
        &["-c", READ_JUNIT, &path.display().to_string()],
        "junitparser (PyPI)",
    )?;
    assert!(
        out.status.success(),
        "junitparser cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value =
        serde_json::from_slice(&out.stdout).expect("the shape the test wrote or read");
    let cases = read["cases"]
        .as_array()
        .expect("the shape the test wrote or read")
        .clone();
    // The counts the file declares are the counts of its cases.
    let count = |kind: &str| cases.iter().filter(|c| c["result"] == kind).count();
    assert_eq!(
        read["declared"],
        serde_json::json!([
            cases.len(),
            count("failure"),
            count("error"),
            count("skipped")
        ])
    );
    Some(cases)
}

fn results(cases: &[Value]) -> Vec<(String, String, String)> {
    cases
        .iter()
        .map(|c| {
            (
                c["classname"]
                    .as_str()
                    .expect("the shape the test wrote or read")
                    .to_owned(),
                c["name"]
                    .as_str()
                    .expect("the shape the test wrote or read")
                    .to_owned(),
                c["result"]
                    .as_str()
                    .expect("the shape the test wrote or read")
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn check_junit_fails_each_broken_expectation_and_each_state_that_breaks_it() {
    let dir = TempDir::new("gate-check-junit");
    let xml = dir.path().join("check.xml");
    let run = simulate(&[
        "check",
        "scenarios/hotel-reservation.yaml",
        "--expect",
        "graceful",
        "--quiet",
        "--junit",
        &xml.display().to_string(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let Some(cases) = junit(&xml) else { return };
    let results = results(&cases);
    for strategy in ["batch", "single-piece", "frontend-last"] {
        let class = format!("deploysim.check.{strategy}");
        assert!(results.contains(&(class.clone(), "graceful".into(), "failure".into())));
        assert!(results.contains(&(
            class,
            "during step 1: frontend fails".into(),
            "failure".into()
        )));
    }
    let failure = cases
        .iter()
        .find(|c| c["name"] == "graceful")
        .expect("the shape the test wrote or read");
    let text = failure["text"]
        .as_str()
        .expect("the shape the test wrote or read");
    // What broke and where, the seed and the command to rerun.
    assert!(
        text.contains("scenarios/hotel-reservation.yaml:80:13: during step 1: frontend fails: frontend v1 -> profile v1 -> memcached-profile api v1: UNAVAILABLE"),
        "{text}"
    );
    assert!(text.contains("seed: 5"));
    assert!(text.contains(
        "rerun: simulate check scenarios/hotel-reservation.yaml --seed 5 --expect graceful"
    ));
    assert_eq!(failure["line"], "80");
}

#[test]
fn nothing_judged_is_skipped_never_passed() {
    let dir = TempDir::new("gate-nothing");
    let xml = dir.path().join("none.xml");
    // online-boutique has no expectation: without --expect nothing is judged.
    let run = simulate(&[
        "check",
        "scenarios/online-boutique.yaml",
        "--quiet",
        "--junit",
        &xml.display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let Some(cases) = junit(&xml) else { return };
    assert!(!cases.is_empty());
    for case in &cases {
        assert_eq!(case["result"], "skipped", "{case}");
        assert!(
            case["message"]
                .as_str()
                .expect("the shape the test wrote or read")
                .starts_with("nothing judged"),
            "{case}"
        );
    }
}

#[test]
fn each_command_writes_junit_a_reader_reads() {
    let dir = TempDir::new("gate-commands");
    let file = |name: &str| dir.path().join(name).display().to_string();
    let runs: [(&str, Vec<String>, i32); 4] = [
        (
            "run.xml",
            ["scenarios/partial.yaml", "--net", "sim", "--quiet"]
                .map(String::from)
                .to_vec(),
            0,
        ),
        (
            "sweep.xml",
            ["sweep", "scenarios/partial.yaml", "--net", "sim", "--quiet"]
                .map(String::from)
                .to_vec(),
            0,
        ),
        (
            "risk.xml",
            ["risk", "scenarios/risk.yaml", "--trials", "20", "--quiet"]
                .map(String::from)
                .to_vec(),
            0,
        ),
        (
            "avail.xml",
            [
                "availability",
                "scenarios/availability-before.yaml",
                "--quiet",
            ]
            .map(String::from)
            .to_vec(),
            1,
        ),
    ];
    let mut read = Vec::new();
    for (name, mut args, code) in runs {
        let summary = file(&format!("{name}.md"));
        args.extend([
            "--junit".to_owned(),
            file(name),
            "--markdown".to_owned(),
            summary.clone(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = simulate(&args);
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        // Each command's summary: a heading with its verdict, within 40 lines.
        let text = std::fs::read_to_string(&summary).expect("the summary is written");
        assert!(text.starts_with("### "), "{text}");
        assert!(text.lines().count() <= 40, "{text}");
        match junit(std::path::Path::new(&file(name))) {
            Some(cases) => read.push((name, run.code, cases)),
            None => return,
        }
    }
    for (name, code, cases) in read {
        let results = results(&cases);
        match name {
            // Every strategy of partial.yaml has an expectation, and each holds.
            "run.xml" => {
                assert_eq!(cases.len(), 5, "{results:?}");
                assert!(results.iter().all(
                    |(_, n, r)| r == "passed" && (n == "graceful" || n == "expects a failure")
                ));
            }
            // The sweep: one case per entrypoint.
            "sweep.xml" => {
                assert_eq!(
                    results,
                    vec![(
                        "deploysim.sweep.web".to_owned(),
                        "survives any one service missing".to_owned(),
                        results[0].2.clone()
                    )]
                );
            }
            // risk.yaml sets no `risk.expect`: one case, skipped, says so.
            "risk.xml" => {
                assert_eq!(code, 0);
                assert_eq!(
                    results,
                    vec![(
                        "deploysim.risk.risk.expect".to_owned(),
                        "limits".to_owned(),
                        "skipped".to_owned()
                    )]
                );
            }
            // The shop before its fix misses a min_availability limit: exit 1.
            "avail.xml" => {
                assert!(
                    results.iter().any(|(_, _, r)| r == "failure"),
                    "{results:?}"
                );
                assert!(
                    results
                        .iter()
                        .all(|(c, _, _)| c.starts_with("deploysim.availability."))
                );
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn a_risk_limit_over_its_estimate_is_a_failure_at_its_line() {
    let dir = TempDir::new("gate-risk-limit");
    let text = std::fs::read_to_string(root().join("scenarios/risk.yaml"))
        .expect("the shape the test wrote or read")
        + "  expect: { strategy: batch, max_change_failure_rate: 0.5, max_suspects: 100 }\n";
    let path = write(&dir, "risk.yaml", &text);
    let limit_line = text.lines().count();
    let xml = dir.path().join("risk.xml");
    let run = simulate_with(
        &[
            "risk",
            &path,
            "--trials",
            "20",
            "--quiet",
            "--junit",
            &xml.display().to_string(),
        ],
        &[("GITHUB_ACTIONS", "true")],
    );
    // batch fails 19 of 20 trials here (the text report says 95%): over 50%.
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let found = annotations(&run.stdout);
    assert_eq!(found.len(), 1, "{}", run.stdout);
    assert_eq!((found[0].0.as_str(), found[0].2), ("error", limit_line));
    assert!(
        found[0]
            .3
            .starts_with("max_change_failure_rate of batch: 95.0% is over the limit 50.0%"),
        "{}",
        found[0].3
    );
    let Some(cases) = junit(&xml) else { return };
    assert_eq!(
        results(&cases),
        vec![
            (
                "deploysim.risk.batch".to_owned(),
                "max_change_failure_rate <= 50.0%".to_owned(),
                "failure".to_owned()
            ),
            (
                "deploysim.risk.batch".to_owned(),
                "max_suspects <= 100".to_owned(),
                "passed".to_owned()
            ),
        ]
    );
}

/// A workflow command's text as the runner shows it.
fn unescape(text: &str) -> String {
    text.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

/// Every annotation line: `::error|warning file=F,line=N,col=N,title=T::MESSAGE`.
fn annotations(stdout: &str) -> Vec<(String, String, usize, String)> {
    stdout
        .lines()
        .filter(|line| line.starts_with("::"))
        .map(|line| {
            let rest = line
                .strip_prefix("::")
                .expect("the shape the test wrote or read");
            let (level, rest) = rest.split_once(' ').expect("a level");
            let (properties, message) = rest.split_once("::").expect("properties::message");
            let props: std::collections::BTreeMap<&str, &str> = properties
                .split(',')
                .map(|p| p.split_once('=').expect("key=value"))
                .collect();
            assert_eq!(
                props.keys().copied().collect::<Vec<_>>(),
                ["col", "file", "line", "title"],
                "{line}"
            );
            assert!(
                props["col"]
                    .parse::<usize>()
                    .expect("the shape the test wrote or read")
                    >= 1
            );
            assert!(!message.contains('\n') && !message.is_empty());
            (
                level.to_owned(),
                unescape(props["file"]),
                props["line"]
                    .parse()
                    .expect("the shape the test wrote or read"),
                unescape(message),
            )
        })
        .collect()
}

#[test]
fn in_github_actions_a_broken_state_is_annotated_at_the_call_that_breaks() {
    let run = simulate_with(
        &[
            "check",
            "scenarios/online-boutique.yaml",
            "--expect",
            "graceful",
            "--quiet",
        ],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let found = annotations(&run.stdout);
    assert!(!found.is_empty(), "{}", run.stdout);
    let text = std::fs::read_to_string(root().join("scenarios/online-boutique.yaml"))
        .expect("the shape the test wrote or read");
    for (level, file, line, message) in &found {
        assert_eq!(
            (level.as_str(), file.as_str()),
            ("error", "scenarios/online-boutique.yaml")
        );
        // The line holds the call of the broken edge: `caller VERSION -> ... -> callee api`.
        let callee = message
            .rsplit(" -> ")
            .next()
            .and_then(|last| last.split(" api ").next())
            .expect("the shape the test wrote or read");
        let source = text
            .lines()
            .nth(line - 1)
            .expect("the shape the test wrote or read");
        assert!(
            source.contains(&format!("service: {callee}")),
            "line {line} ({source:?}) is not a call to {callee}: {message}"
        );
    }
    // Outside GitHub Actions: no workflow command.
    let plain = simulate(&[
        "check",
        "scenarios/online-boutique.yaml",
        "--expect",
        "graceful",
        "--quiet",
    ]);
    assert!(!plain.stdout.contains("::error"));
}

#[test]
fn every_problem_of_an_invalid_scenario_is_annotated_and_the_cap_counts_the_rest() {
    let dir = TempDir::new("gate-invalid");
    // Twelve unknown keys, each its own problem on its own line.
    let mut text = String::from(
        "name: shop\nservices:\n  web:\n    entrypoint: true\n    versions: { v1: {} }\n",
    );
    for i in 0..12 {
        text.push_str(&format!("mistake{i}: 1\n"));
    }
    let path = write(&dir, "many.yaml", &text);
    let xml = dir.path().join("invalid.xml");
    let run = simulate_with(
        &["check", &path, "--junit", &xml.display().to_string()],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let found = annotations(&run.stdout);
    assert_eq!(found.len(), 10, "{}", run.stdout);
    for (i, (level, _, line, message)) in found[..9].iter().enumerate() {
        assert_eq!(level, "error");
        assert_eq!(*line, 6 + i, "mistake{i} is on line {}", 6 + i);
        assert!(
            message.starts_with(&format!("unknown key `mistake{i}`")),
            "{message}"
        );
    }
    assert!(
        found[9].3.starts_with("3 more problems not annotated"),
        "{}",
        found[9].3
    );
    // The JUnit has all twelve.
    if let Some(cases) = junit(&xml) {
        assert_eq!(cases.len(), 12);
        assert!(cases.iter().all(|c| c["result"] == "failure"));
    }
}

#[test]
fn the_summary_snapshots_of_check_and_of_a_sim_run() {
    for scenario in ["partial", "breaking"] {
        let file = format!("scenarios/{scenario}.yaml");
        let check = simulate(&["check", &file, "--expect", "graceful", "--markdown", "-"]);
        assert!(check.code <= 1, "{}", check.stderr);
        assert!(check.stdout.lines().count() <= 40);
        insta::assert_snapshot!(format!("summary_check__{scenario}"), check.stdout);
        let run = simulate(&[&file, "--net", "sim", "--markdown", "-"]);
        assert!(run.code <= 1, "{}", run.stderr);
        assert!(run.stdout.lines().count() <= 40);
        insta::assert_snapshot!(format!("summary_run__{scenario}"), run.stdout);
    }
}

#[test]
fn the_step_summary_is_appended_to_and_needs_github_actions() {
    let dir = TempDir::new("gate-step-summary");
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").expect("the shape the test wrote or read");
    let env = [(
        "GITHUB_STEP_SUMMARY",
        summary.to_str().expect("the shape the test wrote or read"),
    )];
    for file in ["scenarios/partial.yaml", "scenarios/breaking.yaml"] {
        let run = simulate_with(&["check", file, "--quiet", "--step-summary"], &env);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let text = std::fs::read_to_string(&summary).expect("the shape the test wrote or read");
    assert!(text.starts_with("earlier step\n### "));
    assert!(text.contains("deploysim check `partial`: pass"));
    assert!(text.contains("deploysim check `breaking`: pass"));
    let outside = simulate(&["check", "scenarios/partial.yaml", "--step-summary"]);
    assert_eq!(outside.code, 2);
    assert!(
        outside.stderr.contains("$GITHUB_STEP_SUMMARY"),
        "{}",
        outside.stderr
    );
}

const SUBCOMMANDS: [&str; 14] = [
    "plan",
    "check",
    "sweep",
    "risk",
    "availability",
    "merge",
    "export",
    "generate",
    "import",
    "serve",
    "load",
    "schema",
    "completions",
    "man",
];

#[test]
fn the_list_of_commands_here_is_the_one_help_shows() {
    let run = simulate(&["--help"]);
    let listed: Vec<&str> = run
        .stdout
        .split("Commands:")
        .nth(1)
        .expect("a list of commands")
        .lines()
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // A command's line, not the wrapped rest of a description.
        .filter(|line| !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| *word != "help")
        .collect();
    assert_eq!(listed, SUBCOMMANDS, "{}", run.stdout);
}

#[test]
fn each_completion_script_loads_in_its_shell_and_offers_every_subcommand() {
    let dir = TempDir::new("gate-completions");
    for shell in ["bash", "zsh", "fish"] {
        let run = simulate(&["completions", shell]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let script = write(&dir, &format!("simulate.{shell}"), &run.stdout);
        let offered = match shell {
            "bash" => tool(
                "bash",
                &[
                    "-c",
                    &format!(
                        "source {script} && COMP_WORDS=(simulate '') && COMP_CWORD=1 && _simulate simulate '' simulate && printf '%s\\n' \"${{COMPREPLY[@]}}\""
                    ),
                ],
                "bash",
            ),
            "zsh" => tool(
                "zsh",
                &[
                    "-fc",
                    &format!(
                        "autoload -U compinit && compinit -u -D && source {script} && print -- ${{_comps[simulate]}} && functions _simulate_commands"
                    ),
                ],
                "zsh (Debian's package)",
            ),
            _ => tool(
                "fish",
                &["-c", &format!("source {script}; complete -C 'simulate '")],
                "fish (Debian's package)",
            ),
        };
        let Some(offered) = offered else { continue };
        assert!(
            offered.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&offered.stderr)
        );
        let out = String::from_utf8_lossy(&offered.stdout);
        let words: Vec<&str> = match shell {
            "zsh" => {
                assert!(
                    out.starts_with("_simulate\n"),
                    "zsh did not register it: {out}"
                );
                out.split(['\'', ':']).collect()
            }
            _ => out
                .lines()
                .map(|l| {
                    l.split('\t')
                        .next()
                        .expect("the shape the test wrote or read")
                })
                .collect(),
        };
        for command in SUBCOMMANDS {
            assert!(
                words.contains(&command),
                "{shell} does not offer {command}: {out}"
            );
        }
    }
}

#[test]
fn the_manual_page_is_roff_with_every_subcommand() {
    let run = simulate(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(".TH simulate 1"));
    assert!(run.stdout.contains(".SH NAME"));
    assert!(
        !run.stdout.contains("simulate\\-help"),
        "no page is written for help, so none is listed"
    );
    for command in SUBCOMMANDS {
        assert!(
            run.stdout.contains(&format!("simulate\\-{command}")) || run.stdout.contains(command),
            "{command}"
        );
    }
    // With --out, a page per command, which the main page's list refers to.
    let dir = TempDir::new("gate-man-pages");
    let out = dir.path().join("man1");
    let run_out = simulate(&["man", "--out", &out.display().to_string()]);
    assert_eq!(run_out.code, 0, "{}", run_out.stderr);
    for command in SUBCOMMANDS {
        let page = std::fs::read_to_string(out.join(format!("simulate-{command}.1")))
            .unwrap_or_else(|err| panic!("simulate-{command}.1: {err}"));
        assert!(
            page.contains(&format!(".TH simulate-{command} 1")),
            "{page}"
        );
    }
    let check = std::fs::read_to_string(out.join("simulate-check.1")).expect("written");
    assert!(check.contains("step\\-summary"), "{check}");
    // And man reads it, where man is installed (it is optional: no test tool of CI).
    let man = std::process::Command::new("man").arg("--version").output();
    if man.is_ok_and(|out| out.status.success()) {
        let dir = TempDir::new("gate-man");
        let page = write(&dir, "simulate.1", &run.stdout);
        let shown = std::process::Command::new("man")
            .args(["-l", &page])
            .env("MANPAGER", "cat")
            .env("COLUMNS", "100")
            .output()
            .expect("man runs");
        assert!(shown.status.success());
        assert!(String::from_utf8_lossy(&shown.stdout).contains("SUBCOMMANDS"));
    }
}

/// What the CI recipe (docs/ci/gate.sh) answers for each shipped scenario, command by
/// command: some are built to fail (a known-bad release, an availability limit the shop
/// misses before its fix).
const RECIPE: [(&str, &[(&str, i32)]); 15] = [
    ("availability-before", &[("check", 0), ("availability", 1)]),
    ("availability", &[("check", 0), ("availability", 0)]),
    ("breaking", &[("check", 0)]),
    ("dark-launch", &[("check", 0)]),
    ("expand-contract", &[("check", 0)]),
    ("fallbacks", &[("check", 1)]),
    ("faults", &[("check", 0)]),
    ("hotel-reservation", &[("check", 1)]),
    ("hung-optional", &[("check", 0)]),
    ("online-boutique", &[("check", 1)]),
    ("partial", &[("check", 0)]),
    ("retry-storm", &[("check", 0)]),
    ("risk", &[("check", 1), ("risk", 0)]),
    ("rollback", &[("check", 0)]),
    ("sock-shop", &[("check", 1)]),
];

#[test]
fn the_ci_recipe_gives_each_shipped_scenario_its_expected_exit_codes() {
    let shipped: Vec<String> = super::support::yaml_files("scenarios")
        .iter()
        .map(|p| {
            p.file_stem()
                .expect("the shape the test wrote or read")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        shipped,
        RECIPE
            .iter()
            .map(|(name, _)| name.to_string())
            .collect::<Vec<_>>(),
        "every shipped scenario has its expected exit codes here"
    );
    let dir = TempDir::new("gate-recipe");
    for (name, expected) in RECIPE {
        let out = std::process::Command::new("bash")
            .arg("docs/ci/gate.sh")
            .arg(env!("CARGO_BIN_EXE_simulate"))
            .arg(dir.path())
            .arg(format!("scenarios/{name}.yaml"))
            .current_dir(root())
            .env("RISK_TRIALS", "20")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let codes: Vec<(String, i32)> = stdout
            .lines()
            .filter_map(|line| line.strip_prefix("gate: exit "))
            .map(|rest| {
                let (code, command) = rest
                    .split_once(": ")
                    .expect("the shape the test wrote or read");
                let word = command
                    .split_whitespace()
                    .nth(1)
                    .expect("the shape the test wrote or read")
                    .to_owned();
                (
                    word,
                    code.parse().expect("the shape the test wrote or read"),
                )
            })
            .collect();
        let want: Vec<(String, i32)> = expected.iter().map(|(c, n)| (c.to_string(), *n)).collect();
        assert_eq!(codes, want, "{name}: {stdout}");
        let worst = expected
            .iter()
            .map(|(_, n)| *n)
            .max()
            .expect("the shape the test wrote or read");
        assert_eq!(out.status.code(), Some(worst), "{name}");
        for (command, _) in expected {
            assert!(dir.path().join(format!("{command}-{name}.xml")).is_file());
        }
    }
}

#[test]
fn the_documented_workflow_and_gitlab_job_validate_and_run_the_recipe() {
    for (file, schema) in [
        ("docs/ci/github-workflow.yml", "vendor.github-workflows"),
        ("docs/ci/gitlab-ci.yml", "vendor.gitlab-ci"),
    ] {
        let text =
            std::fs::read_to_string(root().join(file)).expect("the shape the test wrote or read");
        assert!(
            text.contains("bash docs/ci/gate.sh target/release/simulate reports"),
            "{file} runs the recipe the tests run"
        );
        let Some(out) = tool(
            "python3",
            &["-m", "check_jsonschema", "--builtin-schema", schema, file],
            "check-jsonschema (PyPI)",
        ) else {
            return;
        };
        assert!(
            out.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_dropped_api_is_annotated_at_the_provides_of_the_build_that_drops_it() {
    let dir = TempDir::new("gate-dropped-api");
    let path = write(
        &dir,
        "drop.yaml",
        "name: drop
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls: [ { service: pay } ]
  pay:
    versions:
      v1: { provides: [v1] }
      v2:
        provides: [v2]
initial: { web: v1, pay: v1 }
target: { pay: v2 }
",
    );
    let run = simulate_with(
        &[
            "check",
            &path,
            "--expect",
            "graceful",
            "--quiet",
            "--markdown",
            "-",
        ],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    // With --markdown -, the annotations go to stderr.
    let found = annotations(&run.stderr);
    assert!(!found.is_empty(), "{}", run.stderr);
    for (_, _, line, message) in &found {
        assert_eq!(*line, 12, "pay v2's `provides: [v2]` is line 12: {message}");
        assert!(
            message.contains("pay v2 does not provide api v1"),
            "{message}"
        );
    }
    // No safe order exists (the caller never moves): the summary says the fix.
    assert!(run.stdout.contains("**To fix**: "), "{}", run.stdout);
}
