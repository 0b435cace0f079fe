//! `simulate`: the command line. Parses arguments, calls the library, prints through
//! `output`, and maps outcomes to exit codes. One file per command; nothing here decides
//! what a run means (the library does, where tests reach it without the binary).

mod args;
mod avail;
mod check;
mod export;
mod generate;
mod import;
mod load;
mod output;
mod pipeline;
mod plan;
mod progress;
mod risk;
mod run;
mod serve;
mod sweep;

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory as _, Parser as _};

use deploysim::model::{Scenario, Strategy};
use deploysim::runtime::cluster::StartError;
use deploysim::runtime::host;
use deploysim::runtime::interrupt::Interrupt;
use deploysim::runtime::net::Net;
use deploysim::runtime::run::Options;
use deploysim::scenario;

use args::{Cli, Command, ExpectArg, ExpectWhat, Selection};

/// Exit codes, as the product contract fixes them.
pub mod exit {
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

/// Parses the command line and runs the command; the exit code is the contract's.
pub fn main() -> ExitCode {
    init_logging();
    if let Some(message) = misspelt_command(std::env::args_os().skip(1)) {
        output::error(&message);
        return ExitCode::from(exit::INVALID);
    }
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Plan(args)) => plan::run(&args),
        Some(Command::Check(args)) => check::run(&args),
        Some(Command::Sweep(args)) => sweep::run(&args),
        Some(Command::Risk(args)) => risk::run(&args),
        Some(Command::Availability(args)) => avail::run(&args),
        Some(Command::Merge(args)) => risk::merge(&args),
        Some(Command::Export(what)) => export::run(&what),
        Some(Command::Import(args)) => import::run(&args),
        Some(Command::Generate(args)) => generate::run(&args),
        Some(Command::Serve(args)) => serve::run(&args),
        Some(Command::Load(args)) => load::run(&args),
        Some(Command::Schema) => print(scenario::SCHEMA),
        Some(Command::Completions(args)) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "simulate", &mut script);
            print(&String::from_utf8_lossy(&script))
        }
        Some(Command::Man(args)) => man(args.out.as_deref()),
        None => match &cli.run.scenario {
            Some(path) => run::run(path, &cli.run),
            None => {
                output::error(
                    "no scenario given\n\nUsage: simulate SCENARIO | simulate check SCENARIO | simulate sweep SCENARIO | simulate plan SCENARIO | simulate generate --services N\n\nFor more information, try '--help'.",
                );
                exit::INVALID
            }
        },
    };
    ExitCode::from(code)
}

/// The commands, for suggestions.
const COMMANDS: [&str; 14] = [
    "plan",
    "check",
    "sweep",
    "risk",
    "availability",
    "merge",
    "export",
    "import",
    "generate",
    "serve",
    "load",
    "schema",
    "completions",
    "man",
];

/// `simulate man`: the main page on stdout, or with `out` every page into that
/// directory (simulate.1, simulate-check.1, simulate-export-job.1...), which the main
/// page's list of commands refers to.
fn man(out: Option<&Path>) -> u8 {
    // The pages list the commands each has; `help` has no page of its own (man is the
    // help), so it is not listed.
    let command = Cli::command().disable_help_subcommand(true);
    let Some(dir) = out else {
        let mut page = Vec::new();
        return match clap_mangen::Man::new(command).render(&mut page) {
            Ok(()) => print(&String::from_utf8_lossy(&page)),
            Err(err) => {
                output::error(&format!("cannot render the manual page: {err}"));
                exit::ENVIRONMENT
            }
        };
    };
    if let Err(message) = output::make_out_dir(dir) {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    let mut pages = Vec::new();
    collect_pages(command, "simulate", &mut pages);
    for (name, command) in pages {
        let mut page = Vec::new();
        let written = clap_mangen::Man::new(command)
            .title(name.clone())
            .render(&mut page)
            .map_err(|err| format!("cannot render the manual page {name}: {err}"))
            .and_then(|()| {
                output::write_in(
                    &dir.join(format!("{name}.1")),
                    &String::from_utf8_lossy(&page),
                    deploysim::output::Place::InDir,
                )
            });
        if let Err(message) = written {
            output::error(&message);
            return exit::ENVIRONMENT;
        }
    }
    exit::OK
}

/// `command` and every command under it, named as their pages are (`simulate-export-job`).
fn collect_pages(command: clap::Command, name: &str, pages: &mut Vec<(String, clap::Command)>) {
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        collect_pages(sub.clone(), &format!("{name}-{}", sub.get_name()), pages);
    }
    let bin = name.replace('-', " ");
    // clap names a command with a static string; the process ends right after the
    // pages are written, so the few names leaked here cost nothing.
    let page_name: &'static str = name.to_owned().leak();
    pages.push((name.to_owned(), command.name(page_name).bin_name(bin)));
}

/// A runtime for a command of its own process (`serve`, `load`), or the exit code of
/// the failure, already reported.
fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            output::error(&format!("cannot start the async runtime: {err}"));
            exit::ENVIRONMENT
        })
}

/// Prints a text the command writes whole (the schema, a completion script, the manual).
fn print(text: &str) -> u8 {
    match output::print_out(text) {
        Ok(()) => exit::OK,
        Err(message) => {
            output::error(&message);
            exit::ENVIRONMENT
        }
    }
}

/// `simulate chek x.yaml`: a first word that is no command and no file, close to a
/// command's name, is a misspelt command (clap would take it for the scenario and
/// complain about the next word instead).
fn misspelt_command(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<String> {
    let first = args.next()?;
    let word = first.to_str()?;
    if word.starts_with('-') || COMMANDS.contains(&word) || Path::new(word).exists() {
        return None;
    }
    let hint = deploysim::scenario::problem::did_you_mean(word, COMMANDS);
    (!hint.is_empty()).then(|| {
        format!(
            "unknown command \"{word}\"{hint} (the commands: {}; a scenario file runs live)",
            COMMANDS.join(", ")
        )
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

/// A run that takes at least this long (nominally) says what it will cost before it
/// starts; a shorter one just runs.
const COST_WORTH_SAYING: Duration = Duration::from_secs(10);

/// The scenario at `path` and its text (a shard's part carries it), or the exit code of
/// the problems already reported.
fn load_with_text(path: &Path) -> Result<(Scenario, String), u8> {
    load_gated(path, None)
}

/// [`load_with_text`] for a command that reports to a pipeline (`command` names it):
/// an invalid scenario's problems also become its annotations and JUnit cases.
fn load_gated(
    path: &Path,
    pipeline: Option<(&pipeline::PipelineArgs, &'static str)>,
) -> Result<(Scenario, String), u8> {
    scenario::load_with_text(path).map_err(|err| {
        output::report_error(&err);
        if let Some((pipeline, command)) = pipeline {
            pipeline.invalid(command, path, &err);
        }
        exit::INVALID
    })
}

/// Writes a shard's part (`text`) to `path` or standard output; says so when the shard
/// was cut short (`kept` of `all` trials). The exit code.
fn write_part_text(
    path: Option<&Path>,
    text: &str,
    shard: deploysim::shard::Shard,
    (kept, all): (usize, u32),
) -> u8 {
    let result = match path {
        Some(path) => output::write_file(path, text),
        None => output::print_out(text),
    };
    if let Err(message) = result {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    if kept < all as usize {
        output::error(&format!(
            "shard {}/{} was interrupted: its part holds {kept} of its {all} trials, and a merge refuses it",
            shard.index, shard.count
        ));
        return exit::INTERRUPTED;
    }
    exit::OK
}

/// The scenario, the seed and the strategies a command runs, or the exit code of the
/// error already reported.
fn prepare(
    path: &Path,
    selection: &Selection,
    pipeline: Option<(&pipeline::PipelineArgs, &'static str)>,
) -> Result<(Scenario, String, u64, Vec<Strategy>), u8> {
    let (scenario, text) = load_gated(path, pipeline)?;
    let seed = selection.seed.unwrap_or(scenario.seed);
    let strategies = deploysim::plan::select(&scenario, &selection.strategies).map_err(|err| {
        output::error(&err.to_string());
        exit::INVALID
    })?;
    output::check_json_target(selection.json.as_deref(), path)?;
    if let Some((pipeline, _)) = pipeline {
        pipeline.check_targets(path, selection.json.as_deref())?;
    }
    Ok((scenario, text, seed, strategies))
}

/// The strategies with `--expect` given to those without an expectation of their own.
fn with_expect(mut strategies: Vec<Strategy>, arg: &ExpectArg) -> Vec<Strategy> {
    if let Some(ExpectWhat::Graceful) = arg.expect {
        for strategy in strategies.iter_mut().filter(|s| s.expect.is_empty()) {
            strategy.expect.graceful = Some(true);
        }
    }
    strategies
}

/// Runs `work` on `net` with Ctrl-C as its interrupt. Returns its result and whether
/// Ctrl-C was pressed, or the exit code of an environment failure, already reported.
/// The progress line, if any, is cleared before anything else is printed.
fn hosted<T, F, Fut>(
    seed: u64,
    net: Net,
    limit: Duration,
    progress: &progress::Line,
    work: F,
) -> Result<(T, bool), u8>
where
    T: 'static,
    F: FnOnce(Options) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, StartError>> + 'static,
{
    let outcome = host::host(net, seed, limit, &Interrupt::on_ctrl_c(), work);
    progress.clear();
    let outcome = outcome.map_err(|err| {
        output::error(&err.to_string());
        exit::ENVIRONMENT
    })?;
    outcome.map_err(|err| {
        output::error(&deploysim::report::start_error_text(&err));
        exit::ENVIRONMENT
    })
}
