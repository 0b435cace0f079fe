//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root, where scenarios/ lives.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `.yaml` files directly inside `dir` (relative to the root), sorted.
pub fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|err| panic!("cannot list {dir}: {err}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

/// What one run of `simulate` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `simulate` with `args` from the repository root, so paths in messages are
/// relative and stable, and lines whole whatever `COLUMNS` the shell running the tests
/// exported.
pub fn simulate(args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(args)
        .current_dir(root())
        .env_remove("RUST_BACKTRACE")
        .env_remove("COLUMNS")
        .output()
        .expect("the simulate binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Writes `text` as `name` in `dir`; returns its path.
pub fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write scenario");
    path.display().to_string()
}

/// A fresh directory for one test's files, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        // Numbered as well as named: two tests that pick the same name (they run in
        // parallel) must not remove each other's files.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("deploysim-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `strategy` of `scenario` on `net` (as planned with the scenario's seed), on a
/// runtime (live) or simulation (sim) of its own, with no Ctrl-C and no progress. Panics
/// if the strategy cannot be planned or a server cannot start.
pub fn run_on(
    net: deploysim::runtime::net::Net,
    scenario: &std::sync::Arc<deploysim::model::Scenario>,
    strategy: &deploysim::model::Strategy,
) -> deploysim::record::result::StrategyRun {
    run_with(net, scenario, strategy, None)
}

/// [`run_on`] with every replica a child process (`--net processes`) that reads
/// `text`: the scenario's file, which must hold the same services and faults.
pub fn run_across_processes(
    text: &str,
    scenario: &std::sync::Arc<deploysim::model::Scenario>,
    strategy: &deploysim::model::Strategy,
) -> deploysim::record::result::StrategyRun {
    let spawn = deploysim::runtime::child::Spawn {
        program: env!("CARGO_BIN_EXE_simulate").into(),
        text: std::sync::Arc::from(text),
        token: tonic::metadata::AsciiMetadataValue::from_static("the-tests-token"),
    };
    run_with(
        deploysim::runtime::net::Net::Processes,
        scenario,
        strategy,
        Some(spawn),
    )
}

fn run_with(
    net: deploysim::runtime::net::Net,
    scenario: &std::sync::Arc<deploysim::model::Scenario>,
    strategy: &deploysim::model::Strategy,
    processes: Option<deploysim::runtime::child::Spawn>,
) -> deploysim::record::result::StrategyRun {
    let plan = deploysim::plan::plan(scenario, strategy, scenario.seed).expect("plans");
    let limit = deploysim::runtime::host::sim_limit([deploysim::runtime::host::run_budget(
        scenario, &plan,
    )]);
    let (scenario, strategy) = (std::sync::Arc::clone(scenario), strategy.clone());
    let seed = scenario.seed;
    let (run, _interrupted) = deploysim::runtime::host::host(
        net,
        seed,
        limit,
        &deploysim::runtime::interrupt::Interrupt::never(),
        move |options| async move {
            let options = deploysim::runtime::run::Options {
                processes,
                ..options
            };
            deploysim::runtime::run::run(scenario, &strategy, &plan, &options, None).await
        },
    )
    .expect("the host starts")
    .expect("the run starts its servers");
    run
}

/// [`simulate`] with environment variables set (`GITHUB_ACTIONS`, say) and the rest as
/// the tests run it.
pub fn simulate_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(args)
        .current_dir(root())
        .env_remove("RUST_BACKTRACE")
        .env_remove("COLUMNS")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .envs(env.iter().copied())
        .output()
        .expect("the simulate binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a tool the tests read outputs with (a Python module from PyPI, a shell), from
/// the repository root. `None` when it is not installed here, said on stderr; under CI
/// (`CI=true`), which installs every one of them (.ci/run), a missing tool fails.
pub fn tool(program: &str, args: &[&str], what: &str) -> Option<Output> {
    let output = Command::new(program)
        .args(args)
        .current_dir(root())
        .output();
    let missing = match &output {
        Err(_) => true,
        Ok(out) => String::from_utf8_lossy(&out.stderr).contains("No module named"),
    };
    if !missing {
        return output.ok();
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} must run under CI (.ci/run installs it)"
    );
    eprintln!("skipped: {what} is not installed here (.ci/run installs it)");
    None
}
