//! The command line's arguments: every command and flag, with its help and examples
//! (clap's derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use deploysim::runtime::net::Net;

pub(super) use super::pipeline::PipelineArgs;

const EXAMPLES: &str = "\
Examples:
  # Run every strategy live and compare
  simulate scenarios/partial.yaml
  # Two strategies, and the report as JSON too
  simulate scenarios/partial.yaml --strategy batch --strategy single-piece \\
      --json run.json
  # Only the comparison and the verdict
  simulate scenarios/faults.yaml --quiet
  # Virtual time, the same every run
  simulate scenarios/partial.yaml --net sim
  # Gate a pipeline on a scenario without `expect:`
  simulate scenarios/online-boutique.yaml --net sim --expect graceful
  # Every state predicted, the safe order, no server
  simulate check scenarios/partial.yaml
  # Why no order is safe, and the fix
  simulate check scenarios/breaking.yaml
  # Each service missing in turn, under load
  simulate sweep scenarios/partial.yaml
  # Batch vs single-piece over trials with defects
  simulate risk scenarios/risk.yaml
  # Every strategy's steps (a dry run)
  simulate plan scenarios/partial.yaml
  # A realistic 500-service scenario
  simulate generate --services 500 --seed 1 > big.yaml

Exit codes: 0 every expectation held (or none was set: the report says
\"nothing judged\"), 1 an expectation failed or a strategy the scenario lists
(or --strategy names) cannot be planned, 2 invalid scenario or command line, 3
the environment failed, 4 inconclusive (the machine could not keep up with the
load: arrivals sent late or refused, waits overrun; the live run neither
passes nor fails), 130 interrupted (Ctrl-C). The scenario format is documented
in docs/scenario.md.";

const PLAN_EXAMPLES: &str = "\
Examples:
  # Every strategy's steps
  simulate plan scenarios/partial.yaml
  # One strategy, as JSON
  simulate plan scenarios/partial.yaml --strategy single-piece --json plan.json
  # The random order of seed 7
  simulate plan scenarios/partial.yaml --strategy random --seed 7
  # Two services per step
  simulate plan scenarios/partial.yaml --strategy waves-2
  # Every version after every step
  simulate plan scenarios/partial.yaml --json plan.json --full

Exit codes: 0 planned (a default strategy that cannot be planned is reported),
1 a strategy the scenario lists or --strategy names cannot be planned, 2
invalid scenario or strategy, 3 the JSON file cannot be written.";

const CHECK_EXAMPLES: &str = "\
Examples:
  # Every state predicted, the safe order
  simulate check scenarios/partial.yaml
  # Why no order is safe, and the fix
  simulate check scenarios/breaking.yaml
  # Also two services missing at once
  simulate check scenarios/partial.yaml --pairs
  # Judge a scenario without `expect:` as if every strategy expected graceful
  simulate check scenarios/online-boutique.yaml --expect graceful
  # One strategy, as JSON
  simulate check scenarios/partial.yaml --strategy batch --json check.json
  # A pipeline's gate: JUnit for the test view, a summary for the pull request
  simulate check scenarios/partial.yaml --expect graceful --junit check.xml \\
      --markdown summary.md
  # Only each strategy's line and the verdict
  simulate check scenarios/partial.yaml --quiet

Exit codes: 0 every graceful expectation holds in the prediction (or none is
set: the report says \"nothing judged\"), 1 one does not, or a strategy the
scenario lists (or --strategy names) cannot be planned, 2 invalid scenario, 3
the JSON file cannot be written.";

const SWEEP_EXAMPLES: &str = "\
Examples:
  # Each service missing in turn, under load
  simulate sweep scenarios/partial.yaml
  # Each pair too, as JSON
  simulate sweep scenarios/partial.yaml --pairs --json sweep.json
  # The sweep in virtual time
  simulate sweep scenarios/partial.yaml --net sim

Exit codes: 0 measured, 2 invalid scenario or too many rows, 3 the environment
failed, 4 inconclusive (the machine fell behind in a row, marked ~), 130
interrupted (Ctrl-C).";

const AVAILABILITY_EXAMPLES: &str = "\
Examples:
  # The scenario's availability: section (or K = 1 and 2 replicas down)
  simulate availability scenarios/online-boutique.yaml
  # 1 to 3 random replicas down, and each replica down with p = 1% and 5%
  simulate availability scenarios/online-boutique.yaml --kill 1,2,3 --each 0.01,0.05
  # Whole services down, the catalog never, the target versions
  simulate availability scenarios/partial.yaml --unit service --kill 2 --spare catalog --target
  # Each set measured too: 200 failure sets per level on servers, in virtual time
  simulate availability scenarios/sock-shop.yaml --kill 2 --trials 200
  # After step 1 of batch, degraded answers counted as lost, as JSON and Markdown
  simulate availability scenarios/partial.yaml --after batch:1 --degraded-lost \\
      --json avail.json --markdown avail.md

Exit codes: 0 answered (every availability.expect limit holds, or none is set:
the report says \"nothing judged\"), 1 a limit failed, 2 invalid scenario or
question (capacity in the deployment without --trials, more units than there
are), 3 the environment failed (a file cannot be written), 130 interrupted.";

const EXPORT_JOB_EXAMPLES: &str = "\
Examples:
  # 8 shards of 10,000 trials, from an image you pushed
  simulate export job scenarios/risk.yaml --shards 8 --trials 10000 \\
      --image registry.example.com/deploysim:0.1.0 --out job/
  kubectl apply -f job/

Exit codes: 0 written, 2 invalid scenario or arguments, 3 a file cannot be written.";

const MERGE_EXAMPLES: &str = "\
Examples:
  # Four shards, anywhere (each prints its part between markers), then one report
  for i in 0 1 2 3; do simulate risk scenarios/risk.yaml --trials 1000 --shard $i/4 --part part-$i.txt; done
  simulate merge part-*.txt --out report/
  # From a Kubernetes Indexed Job's pods (docs/cluster.md)
  kubectl logs -l job-name=deploysim-risk-risk --tail=-1 > parts.log && simulate merge parts.log
  # Availability's measured trials, sharded the same way
  simulate availability scenarios/availability.yaml --trials 1000 --shard 0/2 --part a0.txt
  simulate availability scenarios/availability.yaml --trials 1000 --shard 1/2 --part a1.txt
  simulate merge a0.txt a1.txt --markdown avail.md

Exit codes: as the command that ran the shards (risk: 0 done, 1 a risk.expect
limit failed, 4 inconclusive; availability: 0 answered, 1 a limit failed), 2 when
the parts are not one whole run (a shard missing or given twice, parts of another
scenario, seed, version or kind, an edited part), naming the part, 3 a report
cannot be written, 130 interrupted.";

const RISK_EXAMPLES: &str = "\
Examples:
  # The scenario's risk: section, in virtual time
  simulate risk scenarios/risk.yaml
  # 1000 trials, with report.md and report.html in report/
  simulate risk scenarios/risk.yaml --trials 1000 --out report/
  # Every estimate and every trial's draw
  simulate risk scenarios/risk.yaml --json risk.json
  # Rerun trial 17's defects, step by step
  simulate scenarios/risk.yaml --trial 17 --net sim
  # Shard 2 of 4 of a 10,000-trial run: its part, for `simulate merge`
  simulate risk scenarios/risk.yaml --trials 10000 --shard 2/4 --part part-2.txt

Exit codes: 0 done (every risk.expect limit holds, or none is set: the report
says \"nothing judged\"), 1 a risk.expect limit failed or a strategy
risk.strategies (or --strategy) names cannot be planned, 2 invalid scenario, 3
the environment failed (a file cannot be written), 4 a trial of the judged
strategy was not measured (--net live only), 130 interrupted (Ctrl-C; the
trials finished so far are reported, marked partial).";

const IMPORT_EXAMPLES: &str = "\
Examples:
  # Every manifest in k8s/
  simulate import k8s/ > shop.yaml
  # Two files, the scenario named shop, written to shop.yaml
  simulate import deployments.yaml services.yaml --name shop --out shop.yaml
  # Jaeger's /api/dependencies answer
  simulate import dependencies.json > traced.yaml

Exit codes: 0 written, 2 unreadable or unusable input, 3 the output cannot be
written.";

const GENERATE_EXAMPLES: &str = "\
Examples:
  # A 50-service fleet
  simulate generate --services 50 > fleet.yaml
  # The same text for the same seed
  simulate generate --services 500 --seed 1 > big.yaml

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
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Option<Command>,
    #[command(flatten)]
    pub(super) run: RunArgs,
}

/// The live run: `simulate SCENARIO`.
#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// The scenario file to run live: every service starts as real gRPC servers on
    /// 127.0.0.1 and each strategy rolls out under load, from the initial versions.
    pub(super) scenario: Option<PathBuf>,
    #[command(flatten)]
    pub(super) selection: Selection,
    #[command(flatten)]
    pub(super) expect: ExpectArg,
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Print only the comparison and the verdict: no per-step tables; and nothing on
    /// stderr but errors: no progress, no cost.
    #[arg(long)]
    pub(super) quiet: bool,
    /// The network: `live`, real servers on 127.0.0.1 in real time; `sim`, the same
    /// servers over a simulated network in virtual time, deterministic per seed; or
    /// `processes`, live with every replica a process of its own (`simulate serve`),
    /// started, stopped with SIGTERM and killed with SIGKILL as the rollout and the
    /// faults say.
    #[arg(long, value_enum, default_value_t = RunNet::Live)]
    pub(super) net: RunNet,
    /// Run `simulate risk`'s trial N: the same defects (drawn from the seed and N) in
    /// the changed versions, step by step. With `--net sim` and the same seed it is the
    /// trial's run exactly.
    #[arg(long, value_name = "N")]
    pub(super) trial: Option<u32>,
}

/// The live run's `--net`: [`NetArg`]'s, or every replica a process of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum RunNet {
    Live,
    Sim,
    Processes,
}

impl RunNet {
    /// `--net ...`, as a command that reruns this one says it.
    pub(super) fn flag(self) -> String {
        format!("--net {}", Net::from(self).word())
    }
}

impl From<RunNet> for Net {
    fn from(net: RunNet) -> Net {
        match net {
            RunNet::Live => Net::Live,
            RunNet::Sim => Net::Sim,
            RunNet::Processes => Net::Processes,
        }
    }
}

/// `--net`: which network the replicas talk over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum NetArg {
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
pub(super) enum Command {
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
    /// The share of each entrypoint's traffic still served when random replicas or
    /// services are down, exactly from the evaluator, without starting a server.
    ///
    /// Exactly K units down (drawn uniformly), or each down with probability p; a
    /// service is down when all its replicas are, and its callers then see UNAVAILABLE.
    /// Every set of services that can be down is enumerated and weighted by its
    /// probability when there are at most --budget of them; past it, --samples failure
    /// sets are drawn from the seed and each share gets a 95% interval. With --trials,
    /// failure sets are also measured one by one on servers in virtual time, and each
    /// trial is held to the evaluator's prediction for its own set. A deployment with
    /// `capacity` is measured only: a dead replica there also loads the others.
    #[command(after_help = AVAILABILITY_EXAMPLES, visible_alias = "avail")]
    Availability(AvailabilityArgs),
    /// Merge the parts of a sharded `simulate risk` (or `availability --trials`) run into
    /// the report one machine would have written (byte for byte in --net sim).
    ///
    /// Each part carries the scenario's text, the seed, the trial count and its trials:
    /// the merge needs nothing else. It refuses parts of different runs, a shard given
    /// twice, a missing shard and a shard with trials missing, naming each.
    #[command(after_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
    /// Write Kubernetes manifests: a sharded `simulate risk` Job, or the fleet itself.
    #[command(subcommand)]
    Export(ExportWhat),
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
    /// Run one replica of one service version as its own process, until SIGTERM.
    ///
    /// The same replica as a run in one process: a gRPC server with a route per (API
    /// version, method) the build serves, doing what the scenario says for each, on
    /// --addr. It answers the standard gRPC health service (SERVING until it drains),
    /// refuses every call without the run's token (from $DEPLOYSIM_TOKEN or
    /// --token-file), and calls its callees at the --callee addresses with the token.
    /// SIGTERM drains it: health turns NOT_SERVING, new connections are refused and
    /// calls in flight finish (at most 2 s); SIGKILL is a kill. Prints `serving SERVICE
    /// VERSION on ADDR` once it listens.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Send the scenario's load to replicas of other processes (`simulate serve`) and
    /// judge the scenario's expectations on what it met, counted here, at the caller.
    ///
    /// The same open-loop generator as a run in one process: each entrypoint's rate and
    /// method mix, a seeded user per request, the run's token on every request. One
    /// step, of --for-ms (default: the scenario's `load.baseline_ms`). Exits 1 when an
    /// expectation fails, 4 when this machine fell behind.
    #[command(after_help = LOAD_EXAMPLES)]
    Load(LoadArgs),
    /// Print the JSON Schema (draft 2020-12) of scenario files, for editors and
    /// validators.
    ///
    /// Every key, type, range, default and description the loader knows. What a schema
    /// cannot say (a call to a service that does not exist, a call cycle, a fault's step
    /// that no strategy reaches) `simulate check` does. An editor with the YAML language
    /// server validates and completes a scenario that starts with
    /// `# yaml-language-server: $schema=PATH`.
    #[command(after_help = SCHEMA_EXAMPLES)]
    Schema,
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), for `man`; with --out, a page per command too.
    #[command(after_help = MAN_EXAMPLES)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(super) struct ManArgs {
    /// Write simulate.1 and a page per command (simulate-check.1, ...) into DIR,
    /// created if missing, instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// The scenario file (`-` reads it from standard input).
    pub(super) scenario: PathBuf,
    /// The service this replica is one of.
    #[arg(long)]
    pub(super) service: String,
    /// The version of the service it runs.
    #[arg(long)]
    pub(super) version: String,
    /// Where it listens (port 0: one the system assigns, printed when it listens).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(super) addr: std::net::SocketAddr,
    /// A callee's replica: SERVICE=HOST:PORT, repeatable (several for one service
    /// spread its calls; a name is resolved once, at the start, to every address it
    /// has). A callee with none fails its calls UNAVAILABLE.
    #[arg(long = "callee", value_name = "SERVICE=HOST:PORT", value_parser = parse_callee)]
    pub(super) callees: Vec<(String, String)>,
    /// The run's token in FILE (first line); default: $DEPLOYSIM_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub(super) token_file: Option<PathBuf>,
    /// Seed of the replica's streams (error draws, picks), instead of the scenario's.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Its number among its service's replicas (from 1), for its seeded streams.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) replica: u32,
    /// A child of a run across processes (`--net processes`), started by its parent:
    /// the scenario on standard input after a line with its length in bytes, standard
    /// input then held open for the child's life (its end stops the child), the control
    /// service served, no notice on SIGTERM.
    #[arg(long, hide = true, requires_all = ["id", "steps", "counters"])]
    pub(super) child: bool,
    /// A child's number in its run, unique over every service.
    #[arg(long, hide = true, requires = "child")]
    pub(super) id: Option<u32>,
    /// The run's steps, as the parent sized its recorder.
    #[arg(long, hide = true, requires = "child", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(super) steps: Option<u64>,
    /// The run's counters, as the parent sized its recorder.
    #[arg(long, hide = true, requires = "child", value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub(super) counters: Option<u64>,
}

fn parse_callee(text: &str) -> Result<(String, String), String> {
    let (service, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("expected SERVICE=HOST:PORT, found \"{text}\""))?;
    let port = addr.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
    if !matches!(port, Some(Ok(_))) {
        return Err(format!("\"{addr}\" is no HOST:PORT"));
    }
    Ok((service.to_owned(), addr.to_owned()))
}

const SERVE_EXAMPLES: &str = "\
Examples:
  # db, then web calling it; both ask the same token of every call
  export DEPLOYSIM_TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')
  simulate serve scenarios/partial.yaml --service catalog --version v1 --addr 127.0.0.1:7001
  simulate serve scenarios/partial.yaml --service web --version v1 --addr 127.0.0.1:7000 \\
      --callee catalog=127.0.0.1:7001
  # Is it ready?
  grpc-health-probe -addr 127.0.0.1:7000";

#[derive(Debug, Args)]
pub(super) struct LoadArgs {
    /// The scenario file (`-` reads it from standard input).
    pub(super) scenario: PathBuf,
    /// An entrypoint's replica: SERVICE=HOST:PORT, repeatable; every entrypoint needs
    /// one.
    #[arg(long = "target", value_name = "SERVICE=HOST:PORT", value_parser = parse_callee)]
    pub(super) targets: Vec<(String, String)>,
    /// How long to send, in milliseconds (default: the scenario's `load.baseline_ms`).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub(super) for_ms: Option<u64>,
    /// The run's token in FILE (first line); default: $DEPLOYSIM_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub(super) token_file: Option<PathBuf>,
    /// Seed of every draw (users, mixes, arrival jitter), instead of the scenario's.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    #[command(flatten)]
    pub(super) expect: ExpectArg,
    /// Also write the report as JSON to FILE (`-` for stdout, which replaces the text).
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<PathBuf>,
}

const LOAD_EXAMPLES: &str = "\
Examples:
  # With web and its callees served as processes (simulate serve --help)
  simulate load scenarios/partial.yaml --target web=127.0.0.1:7000 --for-ms 2000 \\
      --expect graceful --json load.json";

#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// The shell.
    pub(super) shell: clap_complete::Shell,
}

const SCHEMA_EXAMPLES: &str = "\
Examples:
  simulate schema > scenario.schema.json
  check-jsonschema --schemafile scenario.schema.json scenarios/*.yaml";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  simulate completions bash > ~/.local/share/bash-completion/completions/simulate
  simulate completions zsh > ~/.zfunc/_simulate      # with fpath+=(~/.zfunc) before compinit
  simulate completions fish > ~/.config/fish/completions/simulate.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  simulate man > ~/.local/share/man/man1/simulate.1 && man simulate
  simulate man --out ~/.local/share/man/man1     # and a page per command";

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    /// The scenario file (`-` reads it from standard input).
    pub(super) scenario: PathBuf,
    #[command(flatten)]
    pub(super) selection: Selection,
    /// With --json: also the version of every deployed service after each step (by
    /// default each step gives what it changes, so the file grows with the release, not
    /// with the fleet times the steps).
    #[arg(long)]
    pub(super) full: bool,
}

/// Which strategies, which seed, and where the JSON goes: the same for every command that
/// runs strategies.
#[derive(Debug, Args)]
pub(super) struct Selection {
    /// Only this strategy: one of the scenario's, or a built-in (batch, single-piece,
    /// random, waves-K, safe, dark). Repeatable. Default: the scenario's strategies.
    #[arg(long = "strategy", value_name = "NAME")]
    pub(super) strategies: Vec<String>,
    /// Seed for every random choice (the random order, error draws), instead of the
    /// scenario's `seed`.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Also write the output as JSON to FILE (`-` for stdout, which replaces the tables).
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<PathBuf>,
}

/// `--expect`: an expectation for the strategies that have none of their own.
#[derive(Debug, Args)]
pub(super) struct ExpectArg {
    /// Give every strategy without an `expect` of its own this expectation, so that a
    /// pipeline can gate on any scenario: `graceful` (no entry request may fail; degraded
    /// is allowed). Without it, a strategy with no expectation is not judged.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub(super) expect: Option<ExpectWhat>,
}

/// What `--expect` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ExpectWhat {
    Graceful,
}

#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// The scenario file (`-` reads it from standard input).
    pub(super) scenario: PathBuf,
    #[command(flatten)]
    pub(super) selection: Selection,
    #[command(flatten)]
    pub(super) expect: ExpectArg,
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Also sweep every pair of services missing at once (rows only for pairs worse than
    /// either service alone).
    #[arg(long)]
    pub(super) pairs: bool,
    /// Print only the conclusion (no tables), and nothing on stderr but errors: no
    /// progress, no notes.
    #[arg(long)]
    pub(super) quiet: bool,
}

#[derive(Debug, Args)]
pub(super) struct SweepArgs {
    /// The scenario file (`-` reads it from standard input).
    pub(super) scenario: PathBuf,
    /// Also every pair of services missing at once (n x (n-1) / 2 more rows).
    #[arg(long)]
    pub(super) pairs: bool,
    /// Seed for every random choice, instead of the scenario's `seed`.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Also write the sweep as JSON to FILE (`-` for stdout, which replaces the table).
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<PathBuf>,
    /// The network: `live` (real time), `sim` (virtual time, deterministic per seed) or
    /// `processes` (live, every replica a process of its own).
    #[arg(long, value_enum, default_value_t = RunNet::Live)]
    pub(super) net: RunNet,
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Print only the conclusion (no tables), and nothing on stderr but errors: no
    /// progress, no notes.
    #[arg(long)]
    pub(super) quiet: bool,
}

#[derive(Debug, Args)]
pub(super) struct RiskArgs {
    /// The scenario file (`-` reads it from standard input); its `risk:` section says
    /// the trials, strategies and defects.
    pub(super) scenario: PathBuf,
    /// Trials, instead of `risk.trials`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(super) trials: Option<u32>,
    /// Only this strategy, instead of `risk.strategies` (single-piece is always run too,
    /// as the reference). Repeatable.
    #[arg(long = "strategy", value_name = "NAME")]
    pub(super) strategies: Vec<String>,
    /// Seed of every draw, instead of the scenario's `seed`.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Also write every estimate and every trial as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<PathBuf>,
    /// Write report.md (a summary for a pull request) and report.html (one
    /// self-contained page with charts) into DIR, created if missing.
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
    /// The network: `sim` (virtual time, the default: fast and the same every run) or
    /// `live` (real servers in real time; for a few trials).
    #[arg(long, value_enum, default_value_t = NetArg::Sim)]
    pub(super) net: NetArg,
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Worker threads (default: one per core). The report does not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(super) workers: Option<u32>,
    /// Print only the conclusion (no tables), and nothing on stderr but errors: no
    /// progress, no notes.
    #[arg(long)]
    pub(super) quiet: bool,
    /// Run only shard I of N (trials i with i mod N = I, I from 0) and write its part
    /// instead of a report; `simulate merge` makes the report of the parts.
    #[arg(long, value_name = "I/N", value_parser = parse_shard,
          conflicts_with_all = ["json", "out", "junit", "markdown", "step_summary"])]
    pub(super) shard: Option<deploysim::shard::Shard>,
    /// Write the shard's part to FILE (default: standard output, between its markers).
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub(super) part: Option<PathBuf>,
}

fn parse_shard(text: &str) -> Result<deploysim::shard::Shard, String> {
    deploysim::shard::Shard::parse(text)
}

/// What `simulate export` writes.
#[derive(Debug, Subcommand)]
pub(super) enum ExportWhat {
    /// A Kubernetes Indexed Job (and a ConfigMap with the scenario) whose N pods each run
    /// one shard of `simulate risk` and print its part, for `simulate merge`.
    ///
    /// Nothing is applied: the files go to DIR, and the commands to run the Job, gather
    /// the parts and merge them are printed (docs/cluster.md).
    #[command(after_help = EXPORT_JOB_EXAMPLES)]
    Job(ExportJobArgs),
    /// The fleet as Kubernetes manifests: a Deployment of `simulate serve` per service
    /// version that runs in some state, a Service per service, a ConfigMap with the
    /// scenario; and per strategy a script of `kubectl` commands that rolls it out.
    ///
    /// Nothing is applied (docs/kubernetes.md): read each rollout-STRATEGY.sh before
    /// running it. Replicas, Recreate or RollingUpdate, and the drain time come from the
    /// scenario and the runtime; probes use the gRPC health service.
    #[command(after_help = EXPORT_KUBERNETES_EXAMPLES)]
    Kubernetes(ExportKubernetesArgs),
}

const EXPORT_KUBERNETES_EXAMPLES: &str = "\
Examples:
  simulate export kubernetes scenarios/partial.yaml --out k8s/
  less k8s/rollout-single-piece.sh && bash k8s/rollout-single-piece.sh";

#[derive(Debug, Args)]
pub(super) struct ExportKubernetesArgs {
    /// The scenario file.
    pub(super) scenario: PathBuf,
    /// Only this strategy's script (repeatable); default: the scenario's strategies.
    #[arg(long = "strategy", value_name = "NAME")]
    pub(super) strategies: Vec<String>,
    /// Seed of the random order, instead of the scenario's.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// The image the pods run, with `simulate` on its PATH.
    #[arg(long, default_value = concat!("localhost/deploysim:", env!("CARGO_PKG_VERSION")))]
    pub(super) image: String,
    /// How long the load Job sends load, in milliseconds: it should outlast the rollout.
    #[arg(long, value_name = "MS", default_value_t = 600_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub(super) load_ms: u64,
    /// The directory the manifests and scripts go to, created if missing.
    #[arg(long, value_name = "DIR")]
    pub(super) out: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct ExportJobArgs {
    /// The scenario file.
    pub(super) scenario: PathBuf,
    /// Shards: the Job's completions and pods at once.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(super) shards: u32,
    /// Trials of the whole run, instead of `risk.trials`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(super) trials: Option<u32>,
    /// Seed, instead of the scenario's `seed`.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Only this strategy, as `simulate risk --strategy` (repeatable).
    #[arg(long = "strategy", value_name = "NAME")]
    pub(super) strategies: Vec<String>,
    /// The image with `simulate` on its PATH (built from the Containerfile).
    #[arg(long, default_value = concat!("localhost/deploysim:", env!("CARGO_PKG_VERSION")))]
    pub(super) image: String,
    /// The directory the manifests are written to, created if missing.
    #[arg(long, value_name = "DIR")]
    pub(super) out: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct MergeArgs {
    /// The parts of one sharded `simulate risk` (or `availability --trials`) run: files,
    /// or logs that hold parts between their markers (`-` reads standard input).
    #[arg(required = true, value_name = "PART")]
    pub(super) parts: Vec<PathBuf>,
    /// Also write every estimate and every trial as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<PathBuf>,
    /// Risk parts: write report.md and report.html into DIR, created if missing.
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
    /// Availability parts: also write the Markdown summary to FILE.
    #[arg(long, value_name = "FILE")]
    pub(super) markdown: Option<PathBuf>,
    /// Worker threads for the page's one-trial timeline (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(super) workers: Option<u32>,
    /// Print only the conclusion (no tables), and nothing on stderr but errors.
    #[arg(long)]
    pub(super) quiet: bool,
}

#[derive(Debug, Args)]
pub(super) struct AvailabilityArgs {
    /// The scenario file (`-` reads it from standard input).
    pub(super) scenario: PathBuf,
    /// Levels of exactly K units down, comma-separated (`--kill 1,2,3`). With --kill or
    /// --each, the levels asked are these alone, not the scenario's.
    #[arg(long, value_delimiter = ',', value_name = "K")]
    pub(super) kill: Vec<u32>,
    /// Levels of each unit down with probability P, comma-separated (`--each 0.01,0.1`).
    /// With --kill or --each, the levels asked are these alone, not the scenario's.
    #[arg(long, value_delimiter = ',', value_name = "P")]
    pub(super) each: Vec<f64>,
    /// What fails: a replica (default) or a whole service.
    #[arg(long, value_enum)]
    pub(super) unit: Option<UnitArg>,
    /// Services that never fail, comma-separated, instead of `availability.spare`.
    #[arg(long, value_delimiter = ',', value_name = "SERVICE")]
    pub(super) spare: Vec<String>,
    /// Answer for the target versions instead of the initial ones.
    #[arg(long, conflicts_with = "after")]
    pub(super) target: bool,
    /// Answer for what runs once step N of STRATEGY has settled (`--after batch:1`).
    #[arg(long, value_name = "STRATEGY:N", value_parser = parse_after)]
    pub(super) after: Option<(String, usize)>,
    /// Count a degraded answer as lost (as `availability.degraded_lost: true`, which this
    /// cannot turn off).
    #[arg(long)]
    pub(super) degraded_lost: bool,
    /// Enumerate at most this many sets of down services per level; past it, draw.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub(super) budget: u64,
    /// Failure sets drawn per level past the budget.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..=10_000_000))]
    pub(super) samples: u32,
    /// Seed of the draws, instead of the scenario's `seed`.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Also measure N failure sets per level on servers in virtual time (set i is the
    /// i-th drawn), each held to the evaluator's prediction for its set.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub(super) trials: Option<u32>,
    /// Threads (default: every core); the answer does not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(super) workers: Option<u32>,
    /// Also write the answer as JSON to FILE (`-` for stdout, which replaces the table).
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<PathBuf>,
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Print only the heading, the limits and the verdict.
    #[arg(long)]
    pub(super) quiet: bool,
    /// With --trials: measure only shard I of N (trials i with i mod N = I, I from 0) at
    /// every level and write its part instead of an answer, for `simulate merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard, requires = "trials",
          conflicts_with_all = ["json", "junit", "markdown", "step_summary"])]
    pub(super) shard: Option<deploysim::shard::Shard>,
    /// Write the shard's part to FILE (default: standard output, between its markers).
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub(super) part: Option<PathBuf>,
}

/// What fails, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(super) enum UnitArg {
    Replica,
    Service,
}

/// `STRATEGY:N`, N a step number.
fn parse_after(text: &str) -> Result<(String, usize), String> {
    let (name, step) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("expected STRATEGY:N, got `{text}`"))?;
    let step = step
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("expected a step number after `:`, got `{step}`"))?;
    if name.trim().is_empty() {
        return Err(format!("expected STRATEGY:N, got `{text}`"));
    }
    Ok((name.trim().to_owned(), step))
}

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    /// Manifest files, or directories of them (every .yaml and .yml inside, folders
    /// within included, in path order); and JSON files of Jaeger dependencies, alone or
    /// with manifests (the manifests give the services, the lists add the calls).
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub(super) inputs: Vec<PathBuf>,
    /// A dependency list's name for a service of the manifests, when the matching rules
    /// do not pair them (repeatable): `--map nginx-web-server=nginx-thrift`.
    #[arg(long = "map", value_name = "NAME=SERVICE", value_parser = parse_pair)]
    pub(super) map: Vec<(String, String)>,
    /// An entrypoint, named by hand (repeatable): these and only these.
    #[arg(long = "entrypoint", value_name = "NAME")]
    pub(super) entrypoints: Vec<String>,
    /// The scenario's name (default: the first input's file name).
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Write the scenario to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct GenerateArgs {
    /// Number of services, 2 to 10000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub(super) services: u32,
    /// Seed of the generator; the same seed gives the same scenario.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
}

/// `NAME=SERVICE`, both non-empty.
fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, service)) if !name.trim().is_empty() && !service.trim().is_empty() => {
            Ok((name.trim().to_owned(), service.trim().to_owned()))
        }
        _ => Err(format!("expected NAME=SERVICE, got `{text}`")),
    }
}
