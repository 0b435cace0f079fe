//! `simulate risk SCENARIO`: the compared strategies over seeded trials with defects.

use std::path::Path;

use deploysim::model::Scenario;
use deploysim::output::Place;
use deploysim::report;
use deploysim::risk::policy::{self, Compared, Planned, Ran};
use deploysim::risk::strategy_name;
use deploysim::runtime::interrupt::Interrupt;
use deploysim::runtime::net::Net;
use deploysim::runtime::trials::{self, TrialOptions};
use deploysim::verdict::Verdict;

use super::args::RiskArgs;
use super::{exit, output, progress};

pub(super) fn run(args: &RiskArgs) -> u8 {
    let scenario = match super::load(&args.scenario) {
        Ok(scenario) => scenario,
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
        let what = format!(
            "{} {} x {n} {}",
            options.trials,
            report::plural(options.trials as usize, "trial", "trials"),
            report::plural(n, "strategy", "strategies")
        );
        output::note(&report::cost_text(
            &what,
            &per_trial.times(options.trials),
            &scenario,
            options.net,
        ));
    }
    let ran = match run_trials(&scenario, &planned, &options, args.quiet) {
        Ok(ran) => ran,
        Err(code) => return code,
    };
    let asked = options.trials;
    let assessment = policy::assess(&scenario, &compared, &planned, &ran.trials);
    let file = args.scenario.display().to_string();
    let header = report::risk::Header {
        scenario: &scenario,
        file: &file,
        strategies: &assessment.names,
        seed,
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
    if let Some(dir) = &args.out
        && let Err(message) = write_pages(dir, header, &findings, &scenario, &planned, &options)
    {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    if let Err(code) = output::emit(
        args.json.as_deref(),
        || report::risk::text(header, &findings, args.quiet),
        || report::risk::json(header, &findings),
    ) {
        return code;
    }
    exit_code(&verdict)
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
    let ran = trials::run(scenario, &planned.plans, options, &|done: u32| {
        line.show(&report::risk::progress_text(
            done,
            options.trials,
            started.elapsed(),
        ));
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
