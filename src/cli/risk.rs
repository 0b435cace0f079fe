//! `simulate risk SCENARIO`: the compared strategies over seeded trials with defects.

use std::path::Path;

use deploysim::model::Scenario;
use deploysim::output::Place;
use deploysim::report;
use deploysim::risk::part;
use deploysim::risk::policy::{self, Compared, Planned, Ran};
use deploysim::risk::strategy_name;
use deploysim::runtime::interrupt::Interrupt;
use deploysim::runtime::net::Net;
use deploysim::runtime::trials::{self, TrialOptions};
use deploysim::scenario::input::{MAX_PART_BYTES, read_text_within};
use deploysim::shard::Shard;
use deploysim::verdict::Verdict;

use super::args::{MergeArgs, RiskArgs};
use super::{exit, output, progress};

pub(super) fn run(args: &RiskArgs) -> u8 {
    let (scenario, text) = match super::load_gated(&args.scenario, Some((&args.pipeline, "risk"))) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if scenario.changes().is_empty() && scenario.releases().is_empty() {
        output::error(&format!(
            "{}: simulate risk compares rollouts, and this scenario rolls nothing out (its `target:` \
             changes no service and releases no flag); write the release under `target:`",
            args.scenario.display()
        ));
        return exit::INVALID;
    }
    if let Err(code) = output::check_json_target(args.json.as_deref(), &args.scenario) {
        return code;
    }
    if let Err(code) = output::check_target("--part", args.part.as_deref(), &args.scenario) {
        return code;
    }
    if let Err(code) = args
        .pipeline
        .check_targets(&args.scenario, args.json.as_deref())
    {
        return code;
    }
    // The output directory is made before any trial runs, so a bad --out costs nothing.
    if let Some(dir) = &args.out
        && let Err(message) = output::make_out_dir(dir)
    {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let compared = match policy::compared(&scenario, &args.strategies) {
        Ok(compared) => compared,
        Err(err) => {
            output::error(&err.to_string());
            return exit::INVALID;
        }
    };
    let planned = match planned(&scenario, &compared, seed, args.quiet) {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let options = trial_options(args, &scenario, seed);
    if !args.quiet {
        let per_trial =
            deploysim::plan::cost::Cost::of(&scenario, planned.plans.iter().map(|(_, p)| p));
        let n = planned.plans.len();
        let mine = options
            .shard
            .map_or(options.trials, |shard| shard.len(options.trials));
        let what = format!(
            "{mine} {} x {n} {}",
            report::plural(mine as usize, "trial", "trials"),
            report::plural(n, "strategy", "strategies")
        );
        output::note(&report::cost_text(
            &what,
            &per_trial.times(mine),
            &scenario,
            options.net,
        ));
    }
    let ran = match run_trials(&scenario, &planned, &options, args.quiet) {
        Ok(ran) => ran,
        Err(code) => return code,
    };
    if let Some(shard) = options.shard {
        return write_part(args, text, &options, shard, ran);
    }
    let file = args.scenario.display().to_string();
    let mut extra = super::pipeline::strategy_flags(&args.strategies);
    extra.push(format!("--trials {}", options.trials));
    if args.net == super::args::NetArg::Live {
        extra.push("--net live".to_owned());
    }
    let outputs = Outputs {
        json: args.json.as_deref(),
        out: args.out.as_deref(),
        quiet: args.quiet,
        gated: Some(super::pipeline::Gated {
            pipeline: &args.pipeline,
            command: "risk",
            file: &args.scenario,
            text: &text,
            extra,
        }),
    };
    conclude(
        &outputs, &scenario, &file, &compared, &planned, &options, &ran,
    )
}

/// Where a report goes.
struct Outputs<'a> {
    json: Option<&'a Path>,
    out: Option<&'a Path>,
    quiet: bool,
    /// A run's pipeline outputs; a merge has none.
    gated: Option<super::pipeline::Gated<'a>>,
}

/// The report of `ran` (a whole run, or merged parts): the terminal text, JSON, pages,
/// and the exit code.
fn conclude(
    outputs: &Outputs,
    scenario: &Scenario,
    file: &str,
    compared: &Compared,
    planned: &Planned,
    options: &TrialOptions,
    ran: &trials::TrialsRun,
) -> u8 {
    let asked = options.trials;
    let assessment = policy::assess(scenario, compared, planned, &ran.trials);
    let header = report::risk::Header {
        scenario,
        file,
        strategies: &assessment.names,
        seed: options.seed,
        trials: ran.trials.len(),
        asked,
        net: report::live::net_text(options.net),
    };
    let left_out: Vec<(String, String)> = planned
        .left_out
        .iter()
        .map(|(strategy, err)| (strategy.name.clone(), report::plan_error_text(err)))
        .collect();
    let how = if ran.partial && options.interrupt.is_set() {
        Ran::Interrupted
    } else {
        Ran::Complete
    };
    let verdict = assessment.verdict(how);
    let findings = report::risk::Findings {
        summaries: &assessment.summaries,
        trials: &ran.trials,
        judged: &assessment.judged,
        unplanned: &assessment.unplanned,
        left_out: &left_out,
        partial: ran.partial,
        verdict: &verdict,
    };
    if let Some(dir) = outputs.out
        && let Err(message) = write_pages(dir, header, &findings, scenario, planned, options)
    {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    let shown = !outputs
        .gated
        .as_ref()
        .is_some_and(|gated| gated.pipeline.markdown_on_stdout());
    if let Err(code) = output::emit(
        outputs.json,
        || {
            if shown {
                report::risk::text(header, &findings, outputs.quiet)
            } else {
                String::new()
            }
        },
        || report::risk::json(header, &findings),
    ) {
        return code;
    }
    if let Some(gated) = &outputs.gated
        && let Err(code) = gated.report(options.seed, outputs.json, None, |cx| {
            report::gate::cases::risk(scenario, &assessment, &verdict, ran.trials.len(), cx)
        })
    {
        return code;
    }
    exit_code(&verdict)
}

/// `simulate merge`'s outputs never overwrite a part it reads, and `-` is read once.
fn merge_outputs_apart(args: &MergeArgs) -> Result<(), u8> {
    let stdin = args.parts.iter().filter(|p| p.as_os_str() == "-").count();
    if stdin > 1 {
        output::error("`-` (standard input) is named more than once: it can be read once");
        return Err(exit::INVALID);
    }
    if args.json.as_deref() == Some(Path::new("-"))
        && args.markdown.as_deref() == Some(Path::new("-"))
    {
        output::error("--json - and --markdown - would both write to stdout; send one to a file");
        return Err(exit::INVALID);
    }
    let mut outputs: Vec<(&str, std::path::PathBuf)> = Vec::new();
    if let Some(json) = &args.json {
        outputs.push(("--json", json.clone()));
    }
    if let Some(markdown) = &args.markdown {
        outputs.push(("--markdown", markdown.clone()));
    }
    if let Some(dir) = &args.out {
        outputs.push(("--out", dir.join("report.md")));
        outputs.push(("--out", dir.join("report.html")));
    }
    for (flag, output_path) in outputs.iter().filter(|(_, p)| p.as_os_str() != "-") {
        if let Some(part) = args
            .parts
            .iter()
            .find(|part| deploysim::output::same_file(output_path, part))
        {
            output::error(&format!(
                "{flag} {}: that is {}, a part being read; write the report to another file",
                output_path.display(),
                part.display()
            ));
            return Err(exit::INVALID);
        }
    }
    Ok(())
}

/// `--shard I/N`: the shard's part, to `--part FILE` or standard output.
fn write_part(
    args: &RiskArgs,
    text: String,
    options: &TrialOptions,
    shard: Shard,
    ran: trials::TrialsRun,
) -> u8 {
    let all = shard.len(options.trials);
    let kept = ran.trials.len();
    let written = part::Part::new(
        part::FORMAT,
        &args.scenario.display().to_string(),
        text,
        options.seed,
        options.trials,
        shard,
        part::Settings {
            strategies: args.strategies.clone(),
            net: net_word(options.net).to_owned(),
        },
        ran.trials,
    );
    super::write_part_text(args.part.as_deref(), &written.to_text(), shard, (kept, all))
}

fn net_word(net: Net) -> &'static str {
    net.word()
}

/// Every part of every text read by `read`, each named by its file (and its place in it,
/// after the first); the exit code of a text that holds none, already reported.
fn read_all<P>(
    texts: &[(String, String)],
    read: fn(&str, &str) -> Result<Vec<P>, String>,
) -> Result<Vec<(String, P)>, u8> {
    let mut parts = Vec::new();
    for (source, text) in texts {
        let read = read(source, text).map_err(|message| {
            output::error(&message);
            exit::INVALID
        })?;
        parts.extend(read.into_iter().enumerate().map(|(i, part)| {
            let name = if i == 0 {
                source.clone()
            } else {
                format!("{source} (part {})", i + 1)
            };
            (name, part)
        }));
    }
    Ok(parts)
}

/// `simulate merge PARTS...`: the report of a sharded run's parts.
pub(super) fn merge(args: &MergeArgs) -> u8 {
    if let Err(code) = merge_outputs_apart(args) {
        return code;
    }
    let mut texts = Vec::new();
    for path in &args.parts {
        match read_text_within(path, MAX_PART_BYTES) {
            Ok(text) => texts.push((path.display().to_string(), text)),
            Err(err) => {
                output::error(&err.to_string());
                return exit::INVALID;
            }
        }
    }
    // Per kind of part, the files that hold one.
    let mut kinds: std::collections::BTreeMap<String, Vec<&str>> =
        std::collections::BTreeMap::new();
    for (source, text) in &texts {
        for kind in deploysim::shard::kinds(text) {
            let files = kinds.entry(kind.to_lowercase()).or_default();
            if !files.contains(&source.as_str()) {
                files.push(source);
            }
        }
    }
    if kinds.len() > 1 {
        let held: Vec<String> = kinds
            .iter()
            .map(|(kind, files)| format!("{kind} parts in {}", files.join(", ")))
            .collect();
        output::error(&format!(
            "the parts are of different runs ({}): merge one run's parts at a time",
            held.join("; ")
        ));
        return exit::INVALID;
    }
    let kinds: std::collections::BTreeSet<String> =
        kinds.into_keys().map(|kind| kind.to_uppercase()).collect();
    if kinds.contains("AVAILABILITY") {
        if args.out.is_some() {
            output::error(
                "--out is a risk report's; an availability answer takes --json and --markdown",
            );
            return exit::INVALID;
        }
        return match read_all(&texts, deploysim::avail::part::read) {
            Ok(parts) => super::avail::merge(parts, args),
            Err(code) => code,
        };
    }
    if args.markdown.is_some() {
        output::error(
            "--markdown is an availability answer's; a risk report's Markdown is report.md under --out",
        );
        return exit::INVALID;
    }
    let parts = match read_all(&texts, part::read) {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    let merged = match deploysim::shard::merge(parts) {
        Ok(merged) => merged,
        Err(message) => {
            output::error(&message);
            return exit::INVALID;
        }
    };
    let file = merged.scenario_path.clone();
    let scenario = match deploysim::scenario::parse_str(&merged.scenario, Path::new(&file)) {
        Ok(scenario) => scenario,
        Err(err) => {
            output::report_error(&err);
            return exit::INVALID;
        }
    };
    if let Some(dir) = &args.out
        && let Err(message) = output::make_out_dir(dir)
    {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    let compared = match policy::compared(&scenario, &merged.settings.strategies) {
        Ok(compared) => compared,
        Err(err) => {
            output::error(&err.to_string());
            return exit::INVALID;
        }
    };
    let planned = match planned(&scenario, &compared, merged.seed, args.quiet) {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    // Each record must fit the run the parts describe: an outcome per strategy compared,
    // defects of services the scenario has.
    let strategies = planned.plans.len();
    if let Some(trial) = merged.records.iter().find(|trial| {
        trial.outcomes.len() != strategies
            || trial
                .draw
                .defects
                .keys()
                .any(|service| !scenario.services.contains_key(service))
    }) {
        output::error(&format!(
            "trial {} of the parts does not fit the run they describe ({} outcomes for {strategies} strategies, or a defect of a service the scenario lacks): a part was edited",
            trial.draw.trial,
            trial.outcomes.len()
        ));
        return exit::INVALID;
    }
    let options = TrialOptions {
        trials: merged.trials,
        seed: merged.seed,
        net: if merged.settings.net == "live" {
            Net::Live
        } else {
            Net::Sim
        },
        workers: args.workers.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            |n| n as usize,
        ),
        interrupt: Interrupt::on_ctrl_c(),
        shard: None,
    };
    let ran = trials::TrialsRun {
        trials: merged.records,
        partial: false,
    };
    let outputs = Outputs {
        json: args.json.as_deref(),
        out: args.out.as_deref(),
        quiet: args.quiet,
        gated: None,
    };
    conclude(
        &outputs, &scenario, &file, &compared, &planned, &options, &ran,
    )
}

fn trial_options(args: &RiskArgs, scenario: &Scenario, seed: u64) -> TrialOptions {
    TrialOptions {
        trials: args.trials.unwrap_or(scenario.risk.trials),
        seed,
        net: Net::from(args.net),
        workers: args.workers.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            |n| n as usize,
        ),
        interrupt: Interrupt::on_ctrl_c(),
        shard: args.shard,
    }
}

/// Runs the trials with the progress line, or the exit code of a trial that could not
/// run, already reported.
fn run_trials(
    scenario: &Scenario,
    planned: &Planned,
    options: &TrialOptions,
    quiet: bool,
) -> Result<trials::TrialsRun, u8> {
    let line = progress::Line::unless_quiet(quiet);
    let started = tokio::time::Instant::now();
    let mine = options
        .shard
        .map_or(options.trials, |shard| shard.len(options.trials));
    let ran = trials::run(scenario, &planned.plans, options, &|done: u32| {
        line.show(&report::risk::progress_text(done, mine, started.elapsed()));
    });
    line.clear();
    ran.map_err(|err| {
        output::error(&err.to_string());
        exit::ENVIRONMENT
    })
}

/// Plans the compared strategies, noting those left out; the exit code when the strategy
/// `risk.expect` judges cannot be planned.
fn planned(
    scenario: &Scenario,
    compared: &Compared,
    seed: u64,
    quiet: bool,
) -> Result<Planned, u8> {
    let note = |message: &str| {
        if !quiet {
            output::note(message);
        }
    };
    if let Some(kind) = compared.judged.as_ref().filter(|_| compared.judged_added) {
        note(&format!(
            "{} is compared too: risk.expect judges it",
            strategy_name(kind)
        ));
    }
    let planned = policy::plan(scenario, compared, seed);
    for (strategy, err) in &planned.left_out {
        let listed = if strategy.listed {
            " (it is asked for by name: the verdict fails)"
        } else {
            ""
        };
        note(&format!(
            "strategy {} is left out: {}{listed}",
            strategy.name,
            report::plan_error_text(err)
        ));
    }
    // The others still run: the report says what they measured, and the verdict fails.
    if let Some(kind) = &planned.judged_unplanned {
        output::error(&format!(
            "risk.expect judges {}, which cannot be planned (see the note above): the verdict fails",
            strategy_name(kind)
        ));
    }
    Ok(planned)
}

fn exit_code(verdict: &Verdict) -> u8 {
    match verdict {
        Verdict::Pass | Verdict::NothingJudged => exit::OK,
        Verdict::Fail(_) => exit::FAILED,
        Verdict::Inconclusive(_) => exit::INCONCLUSIVE,
        Verdict::Interrupted => exit::INTERRUPTED,
    }
}

/// `--out DIR`: report.md and report.html, whose timeline reruns one trial (the first
/// in which a gate tripped, else the first with a defect) step by step.
fn write_pages(
    dir: &Path,
    header: report::risk::Header<'_>,
    findings: &report::risk::Findings<'_>,
    scenario: &Scenario,
    planned: &Planned,
    options: &TrialOptions,
) -> Result<(), String> {
    for name in ["report.md", "report.html"] {
        if deploysim::output::same_file(&dir.join(name), Path::new(header.file)) {
            return Err(format!(
                "--out {}: its {name} is the scenario being read",
                dir.display()
            ));
        }
    }
    output::write_in(
        &dir.join("report.md"),
        &report::risk::markdown(header, findings),
        Place::InDir,
    )?;
    let (draw, runs) = trials::timeline(scenario, &planned.plans, options, findings.trials)
        .map_err(|err| err.to_string())?;
    let page = report::risk::page(header, findings, &planned.plans, &draw, &runs)?;
    output::write_in(&dir.join("report.html"), &page, Place::InDir)
}
