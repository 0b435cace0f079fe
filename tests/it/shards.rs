//! `simulate risk --shard I/N` and `simulate merge`: shards run apart merge into the
//! report one machine writes, byte for byte in virtual time; parts that are not one whole
//! run are refused, naming the part.

use crate::support::{TempDir, simulate};

const SCENARIO: &str = "scenarios/risk.yaml";
const TRIALS: &str = "21";

/// Runs every shard of `count` into `dir`, each its own part file; returns their paths.
fn shards(dir: &TempDir, count: u32, seed: &str) -> Vec<String> {
    (0..count)
        .map(|index| {
            let path = dir
                .path()
                .join(format!("part-{index}-of-{count}-{seed}.txt"));
            let path = path.to_str().expect("utf-8 path").to_owned();
            let shard = format!("{index}/{count}");
            let run = simulate(&[
                "risk", SCENARIO, "--trials", TRIALS, "--seed", seed, "--shard", &shard, "--part",
                &path, "--quiet",
            ]);
            assert_eq!(run.code, 0, "shard {shard}: {}", run.stderr);
            assert!(
                run.stdout.is_empty(),
                "a shard writes its part, not a report"
            );
            path
        })
        .collect()
}

#[test]
fn shards_merged_give_the_report_of_one_machine_byte_for_byte() {
    let dir = TempDir::new("shards-identity");
    let whole_dir = dir.path().join("whole");
    let whole_dir = whole_dir.to_str().expect("utf-8 path");
    let one = simulate(&[
        "risk", SCENARIO, "--trials", TRIALS, "--seed", "5", "--json", "-",
    ]);
    assert!(one.code == 0 || one.code == 1, "{}", one.stderr);
    let text = simulate(&[
        "risk", SCENARIO, "--trials", TRIALS, "--seed", "5", "--out", whole_dir,
    ]);
    for count in [1, 2, 3, 7] {
        let parts = shards(&dir, count, "5");
        let mut args: Vec<&str> = vec!["merge"];
        args.extend(parts.iter().map(String::as_str));
        let mut json_args = args.clone();
        json_args.extend(["--json", "-"]);
        let merged = simulate(&json_args);
        assert_eq!(merged.code, one.code, "{count} shards: {}", merged.stderr);
        assert_eq!(
            merged.stdout, one.stdout,
            "{count} shards: the JSON differs"
        );
        if count == 3 {
            let out = dir.path().join("merged");
            let out = out.to_str().expect("utf-8 path");
            let mut page_args = args.clone();
            page_args.extend(["--out", out]);
            let merged = simulate(&page_args);
            assert_eq!(merged.stdout, text.stdout, "the terminal report differs");
            for page in ["report.md", "report.html"] {
                let read = |dir: &str| {
                    std::fs::read_to_string(std::path::Path::new(dir).join(page)).expect("written")
                };
                assert!(read(out) == read(whole_dir), "{page} differs");
            }
        }
    }
}

#[test]
fn parts_gathered_from_logs_among_other_lines_merge_alike() {
    let dir = TempDir::new("shards-logs");
    let parts = shards(&dir, 2, "9");
    let mut logs = String::from("pod deploysim-risk-0 starting\n");
    for part in &parts {
        logs.push_str(&std::fs::read_to_string(part).expect("part"));
        logs.push_str("note: a line of the pod's own\n");
    }
    let log_path = dir.path().join("pods.log");
    std::fs::write(&log_path, logs).expect("written");
    let from_logs = simulate(&["merge", log_path.to_str().expect("utf-8"), "--json", "-"]);
    let from_files = simulate(&["merge", &parts[0], &parts[1], "--json", "-"]);
    assert_eq!(from_logs.code, from_files.code, "{}", from_logs.stderr);
    assert_eq!(from_logs.stdout, from_files.stdout);
}

#[test]
fn a_merge_refuses_a_missing_a_twice_given_and_a_foreign_part_naming_it() {
    let dir = TempDir::new("shards-errors");
    let parts = shards(&dir, 3, "5");
    let missing = simulate(&["merge", &parts[0], &parts[2]]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("missing 1 of 3 shards: 1/3"),
        "{}",
        missing.stderr
    );
    let twice = simulate(&["merge", &parts[0], &parts[1], &parts[1], &parts[2]]);
    assert_eq!(twice.code, 2);
    assert!(
        twice.stderr.contains("shard 1/3 is given twice"),
        "{}",
        twice.stderr
    );
    let other = shards(&dir, 3, "6");
    let foreign = simulate(&["merge", &parts[0], &parts[1], &other[2]]);
    assert_eq!(foreign.code, 2);
    assert!(foreign.stderr.contains(&other[2]), "{}", foreign.stderr);
    assert!(
        foreign.stderr.contains("its seed is 6, not 5"),
        "{}",
        foreign.stderr
    );
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "no part here\n").expect("written");
    let none = simulate(&["merge", junk.to_str().expect("utf-8")]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("no part in it"), "{}", none.stderr);
    let refused = simulate(&["risk", SCENARIO, "--shard", "3/3"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let both = simulate(&["risk", SCENARIO, "--shard", "0/2", "--json", "-"]);
    assert_eq!(
        both.code, 2,
        "a shard writes a part, not a report: {}",
        both.stderr
    );
}

#[test]
fn the_exported_job_validates_against_the_kubernetes_schemas_and_reads_as_snapshotted() {
    let dir = TempDir::new("shards-job");
    let out = dir.path().join("job");
    let out = out.to_str().expect("utf-8 path");
    let run = simulate(&[
        "export",
        "job",
        SCENARIO,
        "--shards",
        "4",
        "--trials",
        "1000",
        "--image",
        "registry.example.com/deploysim:test",
        "--out",
        out,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("kubectl logs -l job-name=deploysim-risk-risk"),
        "{}",
        run.stdout
    );
    for file in ["configmap.yaml", "job.yaml"] {
        let path = std::path::Path::new(out).join(file);
        let yaml = std::fs::read_to_string(&path).expect("written");
        insta::assert_snapshot!(format!("export_job__{file}"), yaml);
    }
    // Offline validation against Kubernetes 1.31's OpenAPI schemas, strict (no unknown
    // field): kubernetes-validate from PyPI, which .ci/run installs.
    let validator = std::process::Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", "1.31.0"])
        .arg(std::path::Path::new(out).join("configmap.yaml"))
        .arg(std::path::Path::new(out).join("job.yaml"))
        .output();
    let installed = validator
        .as_ref()
        .is_ok_and(|v| !String::from_utf8_lossy(&v.stderr).contains("No module named"));
    match validator {
        Ok(validated) if installed => assert!(
            validated.status.success(),
            "{}{}",
            String::from_utf8_lossy(&validated.stdout),
            String::from_utf8_lossy(&validated.stderr)
        ),
        _ if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!(
                "skipped: kubernetes-validate is not installed; pip install kubernetes-validate==1.31.0"
            );
        }
        _ => panic!("kubernetes-validate must run under CI (.ci/run installs it)"),
    }
}

#[test]
fn availability_trials_as_shards_merge_into_the_answer_of_one_machine() {
    let dir = TempDir::new("shards-availability");
    let scenario = "scenarios/availability.yaml";
    let whole = simulate(&[
        "availability",
        scenario,
        "--kill",
        "1,2",
        "--trials",
        "14",
        "--json",
        "-",
    ]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let mut parts = Vec::new();
    for index in 0..3 {
        let path = dir.path().join(format!("avail-{index}.txt"));
        let path = path.to_str().expect("utf-8 path").to_owned();
        let shard = format!("{index}/3");
        let run = simulate(&[
            "availability",
            scenario,
            "--kill",
            "1,2",
            "--trials",
            "14",
            "--shard",
            &shard,
            "--part",
            &path,
            "--quiet",
        ]);
        assert_eq!(run.code, 0, "shard {shard}: {}", run.stderr);
        parts.push(path);
    }
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(parts.iter().map(String::as_str));
    args.extend(["--json", "-"]);
    let merged = simulate(&args);
    assert_eq!(merged.code, whole.code, "{}", merged.stderr);
    assert_eq!(merged.stdout, whole.stdout, "the merged JSON differs");
    // A risk part and an availability part are not one run.
    let risk = shards(&dir, 1, "5");
    let mixed = simulate(&["merge", &parts[0], &risk[0]]);
    assert_eq!(mixed.code, 2, "{}", mixed.stderr);
    assert!(mixed.stderr.contains("different runs"), "{}", mixed.stderr);
}

#[test]
fn an_edited_part_or_an_output_over_a_part_is_refused_naming_it() {
    let dir = TempDir::new("shards-edited");
    let parts = shards(&dir, 2, "5");
    // One outcome taken out of a risk trial: the record no longer fits its run.
    let text = std::fs::read_to_string(&parts[1]).expect("part");
    let mut json: serde_json::Value =
        serde_json::from_str(text.lines().nth(1).expect("the part's JSON line")).expect("JSON");
    json["records"][0]["outcomes"]
        .as_array_mut()
        .expect("outcomes")
        .pop();
    let lines: Vec<&str> = text.lines().collect();
    let edited = format!("{}\n{}\n{}\n", lines[0], json, lines[2]);
    let edited_path = dir.path().join("edited.txt");
    std::fs::write(&edited_path, edited).expect("written");
    let run = simulate(&["merge", &parts[0], edited_path.to_str().expect("utf-8")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("a part was edited"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // A shard index past its count.
    json["shard"]["index"] = serde_json::json!(3);
    let beyond = format!("{}\n{}\n{}\n", lines[0], json, lines[2]);
    std::fs::write(&edited_path, beyond).expect("written");
    let run = simulate(&["merge", &parts[0], edited_path.to_str().expect("utf-8")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("shard 3/2 is out of range"),
        "{}",
        run.stderr
    );
    // The report is never written over a part being read, nor a part over the scenario.
    let run = simulate(&["merge", &parts[0], &parts[1], "--json", &parts[0]]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("a part being read"), "{}", run.stderr);
    let scenario = dir.path().join("risk.yaml");
    std::fs::copy(SCENARIO, &scenario).expect("copied");
    let scenario = scenario.to_str().expect("utf-8");
    let run = simulate(&[
        "risk", scenario, "--trials", "2", "--shard", "0/1", "--part", scenario,
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        std::fs::read_to_string(scenario)
            .expect("kept")
            .contains("risk:")
    );
}

#[test]
fn a_long_scenario_name_and_a_name_yaml_reads_as_a_boolean_still_give_a_valid_job() {
    let dir = TempDir::new("shards-names");
    let text = std::fs::read_to_string(SCENARIO).expect("shipped");
    for name in [
        "a-very-long-scenario-name-that-fills-up-the-dns-label-limit-xx",
        "yes",
    ] {
        let renamed = text.replacen("name: risk", &format!("name: {name}"), 1);
        let path = crate::support::write(&dir, &format!("{name}.yaml"), &renamed);
        let out = dir.path().join(format!("job-{name}"));
        let run = simulate(&[
            "export",
            "job",
            &path,
            "--shards",
            "12",
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let job = std::fs::read_to_string(out.join("job.yaml")).expect("written");
        let job_name = job
            .lines()
            .find_map(|line| line.trim().strip_prefix("name: deploysim-risk-"))
            .expect("the job's name");
        assert!(
            format!("deploysim-risk-{job_name}-11").len() <= 63,
            "pod hostnames must be DNS labels: {job_name}"
        );
        assert!(
            job.contains(&format!("deploysim/scenario: \"{name}\"")),
            "{job}"
        );
    }
}
