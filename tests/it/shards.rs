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
