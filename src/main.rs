//! `simulate`: the command line. Parses arguments, loads the scenario, calls the pure
//! core, prints through `report`, and maps outcomes to exit codes.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use deploysim::generate;
use deploysim::model::{Scenario, Strategy, StrategyKind};
use deploysim::plan::{self, PlanError};
use deploysim::record::StepKind;
use deploysim::record::result::{LiveRun, Unplanned, Verdict};
use deploysim::report::{self, plan::PlanOutcome};
use deploysim::runtime::host::{self, row_budget, run_budget, sim_limit};
use deploysim::runtime::net::Net;
use deploysim::runtime::run as live;
use deploysim::scenario;

/// Exit codes, as the product contract fixes them.
mod exit {
    /// Every expectation held.
    pub const OK: u8 = 0;
    /// An expectation failed; the report says which.
    pub const FAILED: u8 = 1;
    /// The scenario or the command line is invalid.
    pub const INVALID: u8 = 2;
    /// The environment failed (cannot write a file, cannot bind).
    pub const ENVIRONMENT: u8 = 3;
    /// The machine, not the services, limited the live run (arrivals sent late, waits
    /// overrun): the measurement is not valid, so it neither passes nor fails.
    pub const INCONCLUSIVE: u8 = 4;
    /// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
}

const EXAMPLES: &str = "\
Examples:
  simulate scenarios/partial.yaml                       run every strategy live and compare
  simulate scenarios/partial.yaml --strategy batch --strategy single-piece --json run.json
  simulate scenarios/faults.yaml --quiet                only the comparison and the verdict
  simulate scenarios/partial.yaml --net sim             virtual time, the same every run
  simulate check scenarios/partial.yaml                 every state predicted, the safe order, no server
  simulate check scenarios/breaking.yaml                why no order is safe, and the fix
  simulate sweep scenarios/partial.yaml                 each service missing in turn, under load
  simulate risk scenarios/risk.yaml                     batch vs single-piece over trials with defects
  simulate plan scenarios/partial.yaml                  every strategy's steps (a dry run)
  simulate plan scenarios/partial.yaml --strategy single-piece --json plan.json
  simulate plan scenarios/partial.yaml --strategy random --seed 7
  simulate generate --services 500 --seed 1 > big.yaml  a realistic 500-service scenario

Exit codes: 0 ok, 1 an expectation failed or a strategy cannot be planned, 2 invalid
scenario or command line, 3 the environment failed, 4 inconclusive (the machine could not
keep up with the load: arrivals sent late or refused, waits overrun; the live run neither
passes nor fails), 130 interrupted (Ctrl-C). The scenario format is documented in docs/scenario.md.";

const PLAN_EXAMPLES: &str = "\
Examples:
  simulate plan scenarios/partial.yaml                  every strategy's steps
  simulate plan scenarios/partial.yaml --strategy single-piece --json plan.json
  simulate plan scenarios/partial.yaml --strategy random --seed 7
  simulate plan scenarios/partial.yaml --strategy waves-2

Exit codes: 0 planned, 1 no safe order for --strategy safe, 2 invalid scenario or strategy,
3 the JSON file cannot be written.";

const CHECK_EXAMPLES: &str = "\
Examples:
  simulate check scenarios/partial.yaml                 every state predicted, the safe order
  simulate check scenarios/breaking.yaml                why no order is safe, and the fix
  simulate check scenarios/partial.yaml --pairs         also two services missing at once
  simulate check scenarios/partial.yaml --strategy batch --json check.json

Exit codes: 0 every graceful expectation holds in the prediction, 1 one does not,
2 invalid scenario, 3 the JSON file cannot be written.";

const SWEEP_EXAMPLES: &str = "\
Examples:
  simulate sweep scenarios/partial.yaml                 each service missing in turn, under load
  simulate sweep scenarios/partial.yaml --pairs --json sweep.json
  simulate sweep scenarios/partial.yaml --net sim       the sweep in virtual time

Exit codes: 0 measured, 2 invalid scenario or too many rows, 3 the environment failed,
4 inconclusive (the machine fell behind in a row, marked ~), 130 interrupted (Ctrl-C).";

const RISK_EXAMPLES: &str = "\
Examples:
  simulate risk scenarios/risk.yaml                     the scenario's risk: section, in sim
  simulate risk scenarios/risk.yaml --trials 1000 --out report/
  simulate risk scenarios/risk.yaml --json risk.json    every estimate and every trial's draw
  simulate scenarios/risk.yaml --trial 17 --net sim     rerun trial 17's defects, step by step

Exit codes: 0 done (every risk.expect limit holds), 1 a risk.expect limit failed, 2 invalid
scenario, 3 the environment failed (a file cannot be written), 4 a trial of the judged
strategy was not measured (--net live only), 130 interrupted (Ctrl-C; the trials
finished so far are reported, marked partial).";

const IMPORT_EXAMPLES: &str = "\
Examples:
  simulate import k8s/ > shop.yaml                      every manifest in k8s/
  simulate import deployments.yaml services.yaml --name shop --out shop.yaml
  simulate import dependencies.json > traced.yaml       Jaeger's /api/dependencies answer

Exit codes: 0 written, 2 unreadable or unusable input, 3 the output cannot be written.";

const GENERATE_EXAMPLES: &str = "\
Examples:
  simulate generate --services 50 > fleet.yaml          a 50-service fleet
  simulate generate --services 500 --seed 1 > big.yaml  the same text for the same seed

Exit codes: 0 written, 2 invalid command line, 3 stdout cannot be written.";

#[derive(Debug, Parser)]
#[command(
    name = "simulate",
    version,
    about = "Rolls gRPC service versions out in the orders under test and reports what each order does",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

/// The live run: `simulate SCENARIO`.
#[derive(Debug, Args)]
struct RunArgs {
    /// The scenario file to run live: every service starts as real gRPC servers on
    /// 127.0.0.1 and each strategy rolls out under load, from the initial versions.
    scenario: Option<PathBuf>,
    #[command(flatten)]
    selection: Selection,
    /// Print only the comparison and the verdict; no per-step tables, no progress.
    #[arg(long)]
    quiet: bool,
    /// The network: `live`, real servers on 127.0.0.1 in real time, or `sim`, the same
    /// servers over a simulated network in virtual time, deterministic per seed.
    #[arg(long, value_enum, default_value_t = NetArg::Live)]
    net: NetArg,
    /// Run `simulate risk`'s trial N: the same defects (drawn from the seed and N) in
    /// the changed versions, step by step. With `--net sim` and the same seed it is the
    /// trial's run exactly.
    #[arg(long, value_name = "N")]
    trial: Option<u32>,
}

/// `--net`: which network the replicas talk over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NetArg {
    Live,
    Sim,
}

impl From<NetArg> for Net {
    fn from(net: NetArg) -> Net {
        match net {
            NetArg::Live => Net::Live,
            NetArg::Sim => Net::Sim,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print each strategy's steps and the version of every service after each step.
    ///
    /// A dry run, like `terraform plan`: nothing is started. The scenario is fully
    /// validated first, so `plan` is also the way to check a scenario file.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// Predict every state each strategy passes through, without starting a server.
    ///
    /// Transient states count: while a service rolls, its old and new versions both
    /// answer. Prints each state's predicted outcome per entrypoint and the edge that
    /// causes it, the number of states, the safe order (fewest steps, no failing state) or
    /// why none exists, and the missing-dependency sweep. Exits 1 when a strategy's
    /// `graceful` expectation does not hold in the prediction.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Run the initial versions under load with each service missing in turn, live.
    ///
    /// Each row starts fresh servers, undeploys the service (or, with --pairs, two
    /// services) for the whole `load.baseline_ms`, and measures how much of the load is
    /// still served (ok or degraded), next to `simulate check`'s prediction. Services
    /// whose loss fails a request of another entrypoint are single points of failure.
    #[command(after_help = SWEEP_EXAMPLES)]
    Sweep(SweepArgs),
    /// Compare the strategies' risk over many paired trials with injected defects.
    ///
    /// Trial i draws, from the seed and i, which changed versions are defective (errors,
    /// latency, a dropped API version) and runs every strategy against the same defects
    /// in virtual time. Reports per strategy the change failure rate, failed requests,
    /// time to detect and restore, blast radius, suspects, escaped defects and lead time,
    /// each with a 95% interval, and each one's paired difference against single-piece.
    #[command(after_help = RISK_EXAMPLES)]
    Risk(RiskArgs),
    /// Print a realistic generated scenario of N services as YAML on stdout.
    #[command(after_help = GENERATE_EXAMPLES)]
    Generate(GenerateArgs),
    /// Write a scenario to edit from Kubernetes manifests or a tracing dependency list.
    ///
    /// From manifests: one service per Service, backed by the Deployment (StatefulSet,
    /// DaemonSet) its selector matches, calling the Services its containers' environment
    /// values and arguments name as hosts; replicas, `Recreate` and readiness delays carry
    /// over; LoadBalancer, NodePort and Ingress backends are the entrypoints. From
    /// Jaeger's dependency JSON (`[{parent, child, callCount}]`): one call per pair. Every
    /// value says in a comment where it came from; the release (`target:`) and what each
    /// failure does are left to you.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// The scenario file (`-` reads it from standard input).
    scenario: PathBuf,
    #[command(flatten)]
    selection: Selection,
}

/// Which strategies, which seed, and where the JSON goes: the same for every command that
/// runs strategies.
#[derive(Debug, Args)]
struct Selection {
    /// Only this strategy: one of the scenario's, or a built-in (batch, single-piece,
    /// random, waves-K, safe, dark). Repeatable. Default: the scenario's strategies.
    #[arg(long = "strategy", value_name = "NAME")]
    strategies: Vec<String>,
    /// Seed for every random choice (the random order, error draws), instead of the
    /// scenario's `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the output as JSON to FILE (`-` for stdout, which replaces the tables).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The scenario file (`-` reads it from standard input).
    scenario: PathBuf,
    #[command(flatten)]
    selection: Selection,
    /// Also sweep every pair of services missing at once (rows only for pairs worse than
    /// either service alone).
    #[arg(long)]
    pairs: bool,
}

#[derive(Debug, Args)]
struct SweepArgs {
    /// The scenario file (`-` reads it from standard input).
    scenario: PathBuf,
    /// Also every pair of services missing at once (n x (n-1) / 2 more rows).
    #[arg(long)]
    pairs: bool,
    /// Seed for every random choice, instead of the scenario's `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the sweep as JSON to FILE (`-` for stdout, which replaces the table).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The network: `live` (real time) or `sim` (virtual time, deterministic per seed).
    #[arg(long, value_enum, default_value_t = NetArg::Live)]
    net: NetArg,
}

#[derive(Debug, Args)]
struct RiskArgs {
    /// The scenario file (`-` reads it from standard input); its `risk:` section says
    /// the trials, strategies and defects.
    scenario: PathBuf,
    /// Trials, instead of `risk.trials`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    trials: Option<u32>,
    /// Only this strategy, instead of `risk.strategies` (single-piece is always run too,
    /// as the reference). Repeatable.
    #[arg(long = "strategy", value_name = "NAME")]
    strategies: Vec<String>,
    /// Seed of every draw, instead of the scenario's `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Also write every estimate and every trial as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write report.md (a summary for a pull request) and report.html (one
    /// self-contained page with charts) into DIR, created if missing.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The network: `sim` (virtual time, the default: fast and the same every run) or
    /// `live` (real servers in real time; for a few trials).
    #[arg(long, value_enum, default_value_t = NetArg::Sim)]
    net: NetArg,
    /// Worker threads (default: one per core). The report does not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: Option<u32>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// Manifest files, or directories of them (every .yaml and .yml inside, in name
    /// order); or one JSON file of Jaeger dependencies.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    inputs: Vec<PathBuf>,
    /// The scenario's name (default: the first input's file name).
    #[arg(long)]
    name: Option<String>,
    /// Write the scenario to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Number of services, 2 to 10000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    services: u32,
    /// Seed of the generator; the same seed gives the same scenario.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Plan(args)) => run_plan(&args),
        Some(Command::Check(args)) => run_check(&args),
        Some(Command::Sweep(args)) => run_sweep(&args),
        Some(Command::Risk(args)) => run_risk(&args),
        Some(Command::Import(args)) => run_import(&args),
        Some(Command::Generate(args)) => {
            let text = generate::scenario_yaml(args.services as usize, args.seed);
            match print_out(&text) {
                Ok(()) => exit::OK,
                Err(message) => {
                    eprintln!("error: {message}");
                    exit::ENVIRONMENT
                }
            }
        }
        None => match &cli.run.scenario {
            Some(path) => run_live(path, &cli.run),
            None => {
                eprintln!(
                    "error: no scenario given\n\nUsage: simulate SCENARIO | simulate check SCENARIO | simulate sweep SCENARIO | simulate plan SCENARIO | simulate generate --services N\n\nFor more information, try '--help'."
                );
                exit::INVALID
            }
        },
    };
    ExitCode::from(code)
}

fn load(path: &Path) -> Result<Scenario, u8> {
    scenario::load(path).map_err(|err| {
        eprintln!("{err}");
        exit::INVALID
    })
}

/// Diagnostics (replica server errors and the like) go to stderr when `DEPLOYSIM_LOG` is
/// set to a level: error, warn, info, debug or trace. The report never depends on them.
fn init_logging() {
    let Some(level) = std::env::var_os("DEPLOYSIM_LOG") else {
        return;
    };
    let level = match level.to_str().unwrap_or_default() {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The scenario, the seed and the strategies a command runs, or the exit code of the
/// error already reported.
fn prepare(path: &Path, selection: &Selection) -> Result<(Scenario, u64, Vec<Strategy>), u8> {
    let scenario = load(path)?;
    let seed = selection.seed.unwrap_or(scenario.seed);
    let strategies = select_strategies(&scenario, &selection.strategies).map_err(|message| {
        eprintln!("error: {message}");
        exit::INVALID
    })?;
    check_json_target(selection.json.as_deref())?;
    Ok((scenario, seed, strategies))
}

fn run_live(path: &Path, args: &RunArgs) -> u8 {
    let (scenario, seed, strategies) = match prepare(path, &args.selection) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    // A risk trial's defects go into the scenario before anything is planned: the plan
    // is the same (a team does not know its defects), the versions it deploys are not.
    let (scenario, trial_line, run_seed) = match args.trial {
        Some(trial) => {
            let draw = deploysim::risk::draw(&scenario, seed, trial);
            let line = report::risk::trial_line(&draw, seed);
            let defective = deploysim::risk::with_defects(&scenario, &draw);
            (
                defective,
                line + "\n",
                deploysim::risk::run_seed(seed, trial),
            )
        }
        None => (scenario, String::new(), seed),
    };
    let scenario = Arc::new(scenario);
    let mut plans = Vec::new();
    let mut unplanned = Vec::new();
    for strategy in &strategies {
        match plan::plan(&scenario, strategy, seed) {
            Ok(plan) => plans.push((strategy.clone(), plan)),
            // The scenario is valid; what the strategy asks for cannot be done safely. The
            // other strategies still run; the report says why this one did not.
            Err(error @ PlanError::NoSafeOrder { .. }) => unplanned.push(Unplanned {
                strategy: strategy.clone(),
                error,
            }),
            Err(err) => {
                eprintln!("error: strategy {}: {err}", strategy.name);
                return exit::INVALID;
            }
        }
    }
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let shared = Arc::clone(&scenario);
    let net = Net::from(args.net);
    let limit = sim_limit(plans.iter().map(|(_, plan)| run_budget(&scenario, plan)));
    let outcome = on_runtime(
        run_seed,
        net,
        limit,
        show_progress,
        move |options| async move {
            let progress = TerminalProgress;
            let shown: Option<&dyn live::Progress> =
                if show_progress { Some(&progress) } else { None };
            let mut runs = Vec::new();
            for (strategy, plan) in &plans {
                runs.push(live::run(Arc::clone(&shared), strategy, plan, &options, shown).await?);
                if *options.interrupt.borrow() {
                    break;
                }
            }
            Ok(runs)
        },
    );
    let (runs, interrupted) = match outcome {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    let live = LiveRun {
        runs,
        unplanned,
        interrupted,
    };
    if let Err(code) = emit(
        args.selection.json.as_deref(),
        || trial_line + &report::live::text(&scenario, seed, net, &live, args.quiet),
        || report::live::json(&scenario, seed, net, &live),
    ) {
        return code;
    }
    match Verdict::of(&live) {
        Verdict::Pass => exit::OK,
        Verdict::Fail(_) => exit::FAILED,
        Verdict::Inconclusive(_) => exit::INCONCLUSIVE,
        Verdict::Interrupted => exit::INTERRUPTED,
    }
}

/// Runs `work` on `net` with Ctrl-C wired to `Options::interrupt`. Returns its result and
/// whether Ctrl-C was pressed, or the exit code of an environment failure, already
/// reported. With `show_progress`, the progress line is cleared before anything else is
/// printed.
fn on_runtime<T, F, Fut>(
    seed: u64,
    net: Net,
    limit: Duration,
    show_progress: bool,
    work: F,
) -> Result<(T, bool), u8>
where
    T: 'static,
    F: FnOnce(live::Options) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, deploysim::runtime::cluster::StartError>> + 'static,
{
    let outcome = host::host(net, seed, limit, true, work);
    if show_progress {
        eprint!("\r\x1b[2K");
    }
    let outcome = outcome.map_err(|err| {
        eprintln!("error: {err}");
        exit::ENVIRONMENT
    })?;
    outcome.map_err(|err| {
        let hint = if err.source.raw_os_error() == Some(EMFILE) {
            "; every replica needs a few file descriptors: raise the limit (ulimit -n)"
        } else {
            ""
        };
        eprintln!("error: {err}{hint}");
        exit::ENVIRONMENT
    })
}

/// The strategies `simulate risk` compares: `names` (or the scenario's `risk.strategies`,
/// and `dark` when the release turns a flag on), with single-piece added as the reference
/// and `risk.expect`'s strategy when missing; with that strategy, when a limit is set.
fn risk_strategies(
    scenario: &Scenario,
    names: &[String],
) -> Result<(Vec<Strategy>, Option<StrategyKind>), String> {
    let mut kinds: Vec<StrategyKind> = if names.is_empty() {
        let mut kinds = scenario.risk.strategies.clone();
        // With a release to make, deploying dark and releasing after is the strategy
        // flags exist for: it is compared too.
        if !scenario.releases().is_empty() && !kinds.contains(&StrategyKind::Dark) {
            kinds.push(StrategyKind::Dark);
        }
        kinds
    } else {
        let mut kinds = Vec::new();
        for name in names {
            let kind = StrategyKind::builtin(name).ok_or_else(|| {
                format!(
                    "unknown strategy \"{name}\"; simulate risk compares built-ins: batch, single-piece, random, waves-K, safe, dark"
                )
            })?;
            kinds.push(kind);
        }
        kinds
    };
    let expected = risk_expected(scenario, &kinds);
    if let Some(kind) = expected.as_ref().filter(|kind| !kinds.contains(kind)) {
        eprintln!(
            "note: {} is compared too: risk.expect judges it",
            deploysim::risk::strategy_name(kind)
        );
    }
    for kind in [Some(StrategyKind::SinglePiece), expected.clone()]
        .into_iter()
        .flatten()
    {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let strategies = kinds
        .into_iter()
        .map(|kind| Strategy {
            name: deploysim::risk::strategy_name(&kind),
            kind,
            expect: Default::default(),
            on_breach: None,
        })
        .collect();
    Ok((strategies, expected))
}

/// The strategy `risk.expect` judges, when it sets a limit.
fn risk_expected(scenario: &Scenario, compared: &[StrategyKind]) -> Option<StrategyKind> {
    let expect = &scenario.risk.expect;
    (!expect.limits.is_empty())
        .then(|| deploysim::risk::expected_strategy(expect, compared))
        .flatten()
}

fn run_risk(args: &RiskArgs) -> u8 {
    use deploysim::runtime::trials;
    use std::sync::atomic::{AtomicBool, Ordering};
    let scenario = match load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    if let Err(code) = check_json_target(args.json.as_deref()) {
        return code;
    }
    // The output directory is made before any trial runs, so a bad --out costs nothing.
    if let Some(dir) = &args.out
        && let Err(message) = make_out_dir(dir)
    {
        eprintln!("error: {message}");
        return exit::ENVIRONMENT;
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let (strategies, expected) = match risk_strategies(&scenario, &args.strategies) {
        Ok(chosen) => chosen,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::INVALID;
        }
    };
    let graph = deploysim::eval::Graph::new(&scenario);
    let mut plans = Vec::new();
    for strategy in &strategies {
        match plan::plan(&scenario, strategy, seed) {
            Ok(planned) => plans.push((strategy.clone(), planned)),
            Err(err) => eprintln!(
                "note: strategy {} is left out: {}",
                strategy.name,
                report::plan_error_text(&err)
            ),
        }
    }
    if let Some(kind) = expected
        .as_ref()
        .filter(|kind| !plans.iter().any(|(s, _)| s.kind == **kind))
    {
        eprintln!(
            "error: risk.expect judges {}, which cannot be planned (see the note above)",
            deploysim::risk::strategy_name(kind)
        );
        return exit::FAILED;
    }
    let states: Vec<usize> = plans
        .iter()
        .map(|(strategy, _)| {
            deploysim::check::check_strategy(&graph, &scenario, strategy, seed).distinct_states
        })
        .collect();
    let asked = args.trials.unwrap_or(scenario.risk.trials);
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        |n| n as usize,
    );
    let interrupt = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(Arc::clone(&interrupt));
    let options = trials::TrialOptions {
        trials: asked,
        seed,
        net: Net::from(args.net),
        workers,
        interrupt: Arc::clone(&interrupt),
    };
    let show_progress = std::io::stderr().is_terminal();
    let started = tokio::time::Instant::now();
    let progress = |done: u32| {
        if show_progress {
            let elapsed = started.elapsed().as_secs_f64();
            let left = elapsed / f64::from(done) * f64::from(asked.saturating_sub(done));
            eprint!(
                "\r\x1b[2K  trials {done}/{asked}, about {left:.0} s left (Ctrl-C stops and reports the trials done)"
            );
        }
    };
    let ran = trials::run(&scenario, &plans, &options, &progress);
    if show_progress {
        eprint!("\r\x1b[2K");
    }
    let ran = match ran {
        Ok(ran) => ran,
        Err(err) => {
            eprintln!("error: {err}");
            return exit::ENVIRONMENT;
        }
    };
    let names: Vec<String> = plans.iter().map(|(s, _)| s.name.clone()).collect();
    let reference = plans
        .iter()
        .position(|(s, _)| s.kind == StrategyKind::SinglePiece);
    let summaries = deploysim::risk::summarise(&names, &states, reference, &ran.trials);
    let judged = expected.map_or_else(Vec::new, |kind| {
        deploysim::risk::judge(
            &scenario.risk.expect,
            &deploysim::risk::strategy_name(&kind),
            &summaries,
        )
    });
    let file = args.scenario.display().to_string();
    let header = report::risk::Header {
        scenario: &scenario,
        file: &file,
        strategies: &names,
        seed,
        trials: ran.trials.len(),
        asked,
        net: report::live::net_text(Net::from(args.net)),
    };
    let findings = report::risk::Findings {
        summaries: &summaries,
        trials: &ran.trials,
        judged: &judged,
        partial: ran.partial,
    };
    if let Some(dir) = &args.out
        && let Err(message) = write_risk_pages(dir, header, &findings, &scenario, &plans, &options)
    {
        eprintln!("error: {message}");
        return exit::ENVIRONMENT;
    }
    if let Err(code) = emit(
        args.json.as_deref(),
        || report::risk::text(header, &findings),
        || report::risk::json(header, &findings),
    ) {
        return code;
    }
    if ran.partial && interrupt.load(Ordering::SeqCst) {
        return exit::INTERRUPTED;
    }
    if judged.iter().any(|j| !j.holds) {
        return exit::FAILED;
    }
    if !judged.is_empty()
        && summaries
            .iter()
            .any(|s| s.unjudged > 0 && judged.iter().any(|j| j.strategy == s.name))
    {
        return exit::INCONCLUSIVE;
    }
    exit::OK
}

/// `--out DIR`, made (with its parents) when missing; an error says why it cannot be.
fn make_out_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("--out {}: not a directory", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|err| {
        let reason = err.to_string();
        let reason = reason
            .split(" (os error")
            .next()
            .unwrap_or(&reason)
            .to_owned();
        format!(
            "--out {}: cannot create it: {}",
            dir.display(),
            reason.to_lowercase()
        )
    })?;
    // A directory we cannot write to fails here, not after the trials.
    let probe = dir.join(".simulate-write-probe");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|err| format!("--out {}: cannot write in it: {err}", dir.display()))
}

/// `--out DIR`: report.md and report.html, whose timeline reruns one trial (the first
/// in which a gate tripped, else the first with a defect) step by step.
fn write_risk_pages(
    dir: &Path,
    header: report::risk::Header<'_>,
    findings: &report::risk::Findings<'_>,
    scenario: &Scenario,
    plans: &[(Strategy, plan::Plan)],
    options: &deploysim::runtime::trials::TrialOptions,
) -> Result<(), String> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|err| format!("cannot write {}: {err}", dir.join(name).display()))
    };
    write("report.md", &report::risk::markdown(header, findings))?;
    let shown = deploysim::risk::timeline_trial(findings.trials);
    let draw = shown.map_or_else(
        || deploysim::risk::draw(scenario, options.seed, 0),
        |trial| trial.draw.clone(),
    );
    let runs = deploysim::runtime::trials::run_draw(scenario, plans, options, &draw)
        .map_err(|err| err.to_string())?;
    let timelines: Vec<(String, report::risk::TimelineSteps)> = runs
        .iter()
        .map(|run| (run.strategy.name.clone(), report::risk::timeline_steps(run)))
        .collect();
    let sizes: Vec<f64> = plans
        .iter()
        .map(|(_, planned)| deploysim::risk::changes_per_step(planned))
        .collect();
    let page = report::risk::html(header, findings, &sizes, &draw, &timelines)?;
    write("report.html", &page)
}

/// Sets `flag` on Ctrl-C, from a thread of its own (the trials run on plain threads).
fn watch_ctrl_c(flag: Arc<std::sync::atomic::AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
    });
}

fn run_sweep(args: &SweepArgs) -> u8 {
    let scenario = match load(&args.scenario) {
        Ok(scenario) => Arc::new(scenario),
        Err(code) => return code,
    };
    if let Err(code) = check_json_target(args.json.as_deref()) {
        return code;
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let deployed = scenario.initial.0.len();
    // The reference row (nothing missing), then one per service or pair.
    let rows = 1
        + deployed
        + if args.pairs {
            deployed * deployed.saturating_sub(1) / 2
        } else {
            0
        };
    if rows > MAX_SWEEP_ROWS {
        eprintln!(
            "error: the sweep would run {rows} rows of {} ms each, more than the limit of {MAX_SWEEP_ROWS}; \
             `simulate check{} {}` sweeps without servers in milliseconds",
            scenario.load.baseline.as_millis(),
            if args.pairs { " --pairs" } else { "" },
            args.scenario.display()
        );
        return exit::INVALID;
    }
    let show_progress = std::io::stderr().is_terminal();
    let shared = Arc::clone(&scenario);
    let net = Net::from(args.net);
    let pairs = args.pairs;
    let limit = sim_limit(std::iter::repeat_n(row_budget(&scenario), rows));
    let outcome = on_runtime(seed, net, limit, show_progress, move |options| async move {
        let progress = TerminalProgress;
        let shown: Option<&dyn live::Progress> = if show_progress { Some(&progress) } else { None };
        deploysim::runtime::sweep::sweep(shared, pairs, &options, shown).await
    });
    let (rows, interrupted) = match outcome {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    if let Err(code) = emit(
        args.json.as_deref(),
        || report::sweep::text(&scenario, seed, net, &rows, interrupted),
        || report::sweep::json(&scenario, seed, net, &rows, interrupted),
    ) {
        return code;
    }
    if interrupted {
        exit::INTERRUPTED
    } else if rows.iter().any(|row| !row.kept_up()) {
        exit::INCONCLUSIVE
    } else {
        exit::OK
    }
}

/// A live sweep runs at most this many rows (each on fresh servers, for the baseline
/// time): a bound on its run time.
const MAX_SWEEP_ROWS: usize = 1_000;

/// "Too many open files" on Linux and macOS.
const EMFILE: i32 = 24;

/// One line on stderr, rewritten in place, while a run goes on.
struct TerminalProgress;

impl live::Progress for TerminalProgress {
    fn step_started(&self, strategy: &str, kind: StepKind, planned: usize) {
        let what = match kind {
            StepKind::Baseline => "baseline".to_owned(),
            StepKind::Rollout(n) => format!("step {n}/{planned}"),
            StepKind::Rollback(n) => format!("rolling back step {n}"),
            StepKind::KillSwitch(_) => "kill switch".to_owned(),
        };
        eprint!("\r\x1b[2K  running {strategy}: {what}");
    }
}

fn run_check(args: &CheckArgs) -> u8 {
    let (scenario, seed, strategies) = match prepare(&args.scenario, &args.selection) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let report = deploysim::check::run(&scenario, &strategies, seed, args.pairs);
    if let Err(code) = emit(
        args.selection.json.as_deref(),
        || report::check::text(&scenario, seed, &report),
        || report::check::json(&scenario, seed, &report),
    ) {
        return code;
    }
    if report.passed() {
        exit::OK
    } else {
        exit::FAILED
    }
}

fn run_plan(args: &PlanArgs) -> u8 {
    let (scenario, seed, strategies) = match prepare(&args.scenario, &args.selection) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let outcomes: Vec<PlanOutcome> = strategies
        .iter()
        .map(|strategy| (strategy.clone(), plan::plan(&scenario, strategy, seed)))
        .collect();

    if let Err(code) = emit(
        args.selection.json.as_deref(),
        || report::plan::text(&scenario, seed, &outcomes),
        || report::plan::json(&scenario, seed, &outcomes),
    ) {
        return code;
    }
    // A strategy asked for on the command line that cannot be planned is an invalid
    // request; the scenario's own strategies were checked when it was loaded.
    if outcomes
        .iter()
        .any(|(_, outcome)| matches!(outcome, Err(PlanError::Cycle { .. })))
    {
        return exit::INVALID;
    }
    if outcomes
        .iter()
        .any(|(_, outcome)| matches!(outcome, Err(PlanError::NoSafeOrder { .. })))
    {
        return exit::FAILED;
    }
    exit::OK
}

/// The strategies named on the command line, or all of the scenario's.
fn select_strategies(scenario: &Scenario, names: &[String]) -> Result<Vec<Strategy>, String> {
    if names.is_empty() {
        return Ok(scenario.strategies.clone());
    }
    // `--strategy batch --strategy batch` plans batch once.
    let mut unique: Vec<&String> = Vec::new();
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
        .into_iter()
        .map(|name| {
            if let Some(strategy) = scenario.strategies.iter().find(|s| &s.name == name) {
                return Ok(strategy.clone());
            }
            if let Some(kind) = StrategyKind::builtin(name) {
                return Ok(Strategy {
                    name: name.clone(),
                    kind,
                    expect: scenario.expect.clone(),
                    on_breach: None,
                });
            }
            let own: Vec<&str> = scenario.strategies.iter().map(|s| s.name.as_str()).collect();
            let candidates = own.iter().copied().chain(StrategyKind::BUILTIN_NAMES);
            let hint = scenario::problem::did_you_mean(name, candidates);
            Err(format!(
                "unknown strategy \"{name}\"{hint}; this scenario has: {}; built-in: batch, single-piece, random, waves-K, safe, dark",
                own.join(", ")
            ))
        })
        .collect()
}

/// Prints a command's report: the text on stdout, unless the JSON goes there (`--json -`),
/// and the JSON to its file. Err is the exit code of a JSON file that cannot be written,
/// already reported.
fn emit<J: serde::Serialize>(
    json: Option<&Path>,
    text: impl FnOnce() -> String,
    report: impl FnOnce() -> J,
) -> Result<(), u8> {
    let written = if json == Some(Path::new("-")) {
        Ok(())
    } else {
        let text = text();
        match terminal_width() {
            Some(width) => print_out(&report::fit(&text, width)),
            None => print_out(&text),
        }
    };
    let written = written.and_then(|()| match json {
        Some(json_path) => write_json(json_path, &report()),
        None => Ok(()),
    });
    written.map_err(|message| {
        eprintln!("error: {message}");
        exit::ENVIRONMENT
    })
}

/// The width reports are fitted to: `COLUMNS` when set, else the terminal's when stdout
/// is one. Output to a file or a pipe keeps its full lines, for grep and diff.
fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
    {
        return Some(columns);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(width, _)| usize::from(width.0))
}

/// Writes `text` to stdout. A reader that went away (`simulate generate | head -1`) is not
/// an error: the command has nothing more to say to it.
/// `simulate import`: reads the inputs, writes the scenario, and checks that it loads.
fn run_import(args: &ImportArgs) -> u8 {
    const MAX_INPUT: u64 = 8 * 1024 * 1024;
    let mut files: Vec<PathBuf> = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            let mut inside: Vec<PathBuf> = match std::fs::read_dir(input) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| {
                        path.extension()
                            .is_some_and(|ext| ext == "yaml" || ext == "yml")
                    })
                    .collect(),
                Err(err) => {
                    eprintln!("error: {}: {err}", input.display());
                    return exit::INVALID;
                }
            };
            inside.sort();
            files.extend(inside);
        } else {
            files.push(input.clone());
        }
    }
    let mut texts: Vec<(String, String)> = Vec::new();
    for file in &files {
        let shown = file.display().to_string();
        let too_big = std::fs::metadata(file).is_ok_and(|meta| meta.len() > MAX_INPUT);
        if too_big {
            eprintln!("error: {shown}: larger than 8 MiB");
            return exit::INVALID;
        }
        match std::fs::read_to_string(file) {
            Ok(text) => texts.push((shown, text)),
            Err(err) => {
                eprintln!("error: {shown}: {err}");
                return exit::INVALID;
            }
        }
    }
    if texts.is_empty() {
        eprintln!(
            "error: no .yaml or .yml file in {}",
            args.inputs[0].display()
        );
        return exit::INVALID;
    }
    let name = args.name.clone().unwrap_or_else(|| {
        args.inputs[0].file_stem().map_or_else(
            || "imported".to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        )
    });
    let json = texts
        .iter()
        .any(|(file, text)| file.ends_with(".json") || text.trim_start().starts_with(['[', '{']));
    let imported = if json {
        if texts.len() > 1 {
            eprintln!("error: a dependency list is imported alone (one JSON file)");
            return exit::INVALID;
        }
        deploysim::import::from_dependencies(&name, &texts[0].0, &texts[0].1)
    } else {
        deploysim::import::from_manifests(&name, &texts)
    };
    let yaml = match imported {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("error: {err}");
            return exit::INVALID;
        }
    };
    // What import writes must load; were it not to, that is a bug to report, not a file
    // to hand over.
    let shown = args
        .out
        .as_ref()
        .map_or_else(|| PathBuf::from("imported.yaml"), Clone::clone);
    let scenario = match scenario::parse_str(&yaml, &shown) {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!(
                "error: the imported scenario does not load (a bug, please report it):\n{err}"
            );
            return exit::ENVIRONMENT;
        }
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, &yaml)
            .map_err(|err| format!("cannot write {}: {err}", path.display())),
        None => print_out(&yaml),
    };
    if let Err(message) = written {
        eprintln!("error: {message}");
        return exit::ENVIRONMENT;
    }
    let calls: usize = scenario
        .services
        .values()
        .flat_map(|service| service.versions.values())
        .map(|version| version.calls.len())
        .sum();
    let entrypoints: Vec<&str> = scenario
        .entrypoints()
        .map(|service| service.name.as_str())
        .collect();
    eprintln!(
        "imported {} services, {calls} calls, entrypoints: {}; next: write the release (target:), then simulate check {}",
        scenario.services.len(),
        entrypoints.join(", "),
        args.out
            .as_ref()
            .map_or_else(|| "FILE".to_owned(), |path| path.display().to_string())
    );
    exit::OK
}

fn print_out(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {err}"))
        }
        _ => Ok(()),
    }
}

fn write_json(path: &Path, report: &impl serde::Serialize) -> Result<(), String> {
    let text =
        serde_json::to_string_pretty(report).map_err(|err| format!("cannot encode JSON: {err}"))?;
    if path == Path::new("-") {
        return print_out(&(text + "\n"));
    }
    std::fs::write(path, text + "\n")
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

/// Fails early, before anything runs, when the JSON report could not be written at the
/// end: a long run should not end in "cannot write". An existing file is opened for
/// appending, not truncated, so the old report stays until the new one replaces it; for a
/// new file, its directory must exist.
fn check_json_target(json: Option<&Path>) -> Result<(), u8> {
    let Some(path) = json.filter(|path| *path != Path::new("-")) else {
        return Ok(());
    };
    // Nothing is created here: a run that stops on a later error leaves no empty file.
    let problem = if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .err()
            .map(|err| err.to_string())
    } else {
        let parent = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.exists() {
            Some(format!("{} does not exist", parent.display()))
        } else {
            (!parent.is_dir()).then(|| format!("{} is not a directory", parent.display()))
        }
    };
    match problem {
        Some(problem) => {
            eprintln!("error: cannot write {}: {problem}", path.display());
            Err(exit::ENVIRONMENT)
        }
        None => Ok(()),
    }
}
