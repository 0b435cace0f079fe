//! `simulate availability SCENARIO`: the share of each entrypoint's traffic still served
//! when random replicas or services are down, from the evaluator. No server.

use std::path::Path;

use deploysim::avail::{self, Amount, Fleet, Question, Refusal, TrialCounts, Unit, part};
use deploysim::model::{Deployment, Flags, Scenario};
use deploysim::report;
use deploysim::report::avail::Header;
use deploysim::runtime::interrupt::Interrupt;
use deploysim::shard::Shard;
use deploysim::verdict::Verdict;

use super::args::{AvailabilityArgs, MergeArgs, UnitArg};
use super::{exit, output, progress};

/// The levels asked when neither the command line nor the scenario names one.
const DEFAULT_LEVELS: [Amount; 2] = [Amount::Kill(1), Amount::Kill(2)];

pub(super) fn run(args: &AvailabilityArgs) -> u8 {
    let (scenario, text) =
        match super::load_gated(&args.scenario, Some((&args.pipeline, "availability"))) {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
    if let Err(code) = output::check_json_target(args.json.as_deref(), &args.scenario) {
        return code;
    }
    if let Err(code) = args
        .pipeline
        .check_targets(&args.scenario, args.json.as_deref())
    {
        return code;
    }
    if let Err(code) = output::check_target("--part", args.part.as_deref(), &args.scenario) {
        return code;
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let settings = settings(&scenario, args);
    let outputs = Outputs {
        json: args.json.as_deref(),
        markdown: None,
        quiet: args.quiet,
        gated: Some(super::pipeline::Gated {
            pipeline: &args.pipeline,
            command: "availability",
            file: &args.scenario,
            text: &text,
            extra: rerun_flags(args),
        }),
    };
    let trials = match (args.trials, args.shard) {
        (Some(trials), Some(shard)) => {
            return write_part(args, &scenario, text, seed, &settings, trials, shard);
        }
        (Some(trials), None) => Trials::Run(trials),
        (None, _) => Trials::None,
    };
    conclude(
        &scenario,
        seed,
        &settings,
        trials,
        workers(args.workers),
        &outputs,
    )
}

/// The question the command line and the scenario's `availability:` ask together.
fn settings(scenario: &Scenario, args: &AvailabilityArgs) -> part::Settings {
    let spec = &scenario.availability;
    let mut levels: Vec<Amount> = args
        .kill
        .iter()
        .map(|&k| Amount::Kill(k))
        .chain(args.each.iter().map(|&p| Amount::Each(p)))
        .collect();
    if levels.is_empty() {
        levels.clone_from(&spec.levels);
    }
    // A level asked twice is answered once, where it was first asked.
    let mut seen = Vec::new();
    levels.retain(|level| {
        let new = !seen.contains(level);
        seen.push(*level);
        new
    });
    if levels.is_empty() {
        levels = DEFAULT_LEVELS.to_vec();
        if !args.quiet {
            output::note(
                "no level asked (--kill, --each or availability: in the scenario): K = 1 and 2",
            );
        }
    }
    part::Settings {
        levels,
        unit: match args.unit {
            Some(UnitArg::Replica) => Unit::Replica,
            Some(UnitArg::Service) => Unit::Service,
            None => spec.unit,
        },
        spared: if args.spare.is_empty() {
            spec.spare.clone()
        } else {
            args.spare.clone()
        },
        degraded_lost: args.degraded_lost || spec.degraded_lost,
        target: args.target,
        after: args.after.clone(),
        budget: args.budget as f64,
        samples: args.samples,
    }
}

fn workers(asked: Option<u32>) -> usize {
    asked.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        |n| n as usize,
    )
}

/// Where the answer goes.
struct Outputs<'a> {
    json: Option<&'a Path>,
    /// `merge --markdown`: the summary alone, no pipeline.
    markdown: Option<&'a Path>,
    quiet: bool,
    gated: Option<super::pipeline::Gated<'a>>,
}

/// The flags of `args` that change the answer, for the command that reruns it.
fn rerun_flags(args: &AvailabilityArgs) -> Vec<String> {
    let list = |values: Vec<String>| values.join(",");
    let mut extra = Vec::new();
    if !args.kill.is_empty() {
        extra.push(format!(
            "--kill {}",
            list(args.kill.iter().map(u32::to_string).collect())
        ));
    }
    if !args.each.is_empty() {
        extra.push(format!(
            "--each {}",
            list(args.each.iter().map(f64::to_string).collect())
        ));
    }
    if let Some(unit) = args.unit {
        extra.push(format!(
            "--unit {}",
            match unit {
                UnitArg::Replica => "replica",
                UnitArg::Service => "service",
            }
        ));
    }
    if !args.spare.is_empty() {
        extra.push(format!("--spare {}", list(args.spare.clone())));
    }
    if args.degraded_lost {
        extra.push("--degraded-lost".to_owned());
    }
    if args.target {
        extra.push("--target".to_owned());
    }
    if let Some((strategy, step)) = &args.after {
        extra.push(format!("--after {strategy}:{step}"));
    }
    if let Some(trials) = args.trials {
        extra.push(format!("--trials {trials}"));
    }
    // Past the budget the shares are drawn, so both change the answer.
    extra.push(format!(
        "--budget {} --samples {}",
        args.budget, args.samples
    ));
    extra
}

/// The measured trials of the answer: none, run here, or merged from shards' parts (per
/// level, in trial order).
enum Trials {
    None,
    Run(u32),
    Merged(Vec<Vec<TrialCounts>>),
}

/// The question made ready: the deployment asked, its flags and its label.
type Asked = (Deployment, Flags, String);

fn asked(scenario: &Scenario, settings: &part::Settings, seed: u64) -> Result<Asked, u8> {
    deployment(scenario, settings.target, settings.after.as_ref(), seed).map_err(|message| {
        output::error(&message);
        exit::INVALID
    })
}

fn question<'a>(
    scenario: &'a Scenario,
    (deployment, flags, _): &'a Asked,
    settings: &part::Settings,
    seed: u64,
    workers: usize,
) -> Question<'a> {
    Question {
        scenario,
        deployment,
        flags,
        unit: settings.unit,
        spared: settings.spared.clone(),
        degraded_lost: settings.degraded_lost,
        budget: settings.budget,
        samples: settings.samples,
        seed,
        workers,
    }
}

/// The answer, its reports and the exit code: for a run here and for merged parts alike.
fn conclude(
    scenario: &Scenario,
    seed: u64,
    settings: &part::Settings,
    trials: Trials,
    workers: usize,
    outputs: &Outputs,
) -> u8 {
    let asked = match asked(scenario, settings, seed) {
        Ok(asked) => asked,
        Err(code) => return code,
    };
    let question = question(scenario, &asked, settings, seed, workers);
    let levels = &settings.levels;
    let fleet = match Fleet::new(&question, levels) {
        Ok(fleet) => fleet,
        Err(refusal) => {
            output::error(&refusal_text(&refusal));
            return exit::INVALID;
        }
    };
    if !fleet.capacity.is_empty() && matches!(trials, Trials::None) {
        output::error(&format!(
            "{}; measure it instead: --trials N",
            refusal_text(&Refusal::Capacity(fleet.capacity.clone()))
        ));
        return exit::INVALID;
    }
    if let Trials::Merged(per_level) = &trials {
        let methods: usize = fleet.entrypoints.iter().map(|e| e.methods.len()).sum();
        let misfit = per_level.iter().flatten().find(|counts| {
            counts.failed.len() != fleet.candidates.len() || counts.methods.len() != methods
        });
        if let Some(counts) = misfit {
            output::error(&format!(
                "trial {} of the parts does not fit the fleet its scenario runs ({} services may fail, {methods} methods are sent): a part was edited",
                counts.trial,
                fleet.candidates.len()
            ));
            return exit::INVALID;
        }
    }
    let mut rows = Vec::new();
    let mut interrupted = false;
    let interrupt = Interrupt::on_ctrl_c();
    for (i, &amount) in levels.iter().enumerate() {
        let measured = match &trials {
            Trials::None => None,
            Trials::Merged(per_level) => per_level.get(i).cloned(),
            Trials::Run(count) => {
                match measure(
                    &fleet,
                    &asked,
                    amount,
                    (*count, None),
                    seed,
                    &question,
                    outputs.quiet,
                    &interrupt,
                ) {
                    Ok((measured, partial)) => {
                        interrupted |= partial;
                        Some(measured)
                    }
                    Err(code) => return code,
                }
            }
        };
        rows.push(fleet.row(amount, measured.as_deref()));
        if interrupted {
            break;
        }
    }
    let answer = fleet.answer(rows);
    let spec = &scenario.availability;
    let judged = avail::judge(&answer, &spec.expect);
    if !outputs.quiet && judged.len() < spec.expect.len() {
        output::note(&format!(
            "{} of availability.expect's limits are at levels not asked here and are not judged",
            spec.expect.len() - judged.len()
        ));
    }
    let header = Header {
        scenario,
        seed,
        deployment: &asked.2,
    };
    if let Some(path) = outputs.markdown {
        let text = report::avail::markdown(&header, &answer, &judged);
        let written = if path.as_os_str() == "-" {
            output::print_out(&text)
        } else {
            output::write_file(path, &text)
        };
        if let Err(message) = written {
            output::error(&message);
            return exit::ENVIRONMENT;
        }
    }
    let shown = !outputs
        .gated
        .as_ref()
        .is_some_and(|gated| gated.pipeline.markdown_on_stdout());
    if let Err(code) = output::emit(
        outputs.json,
        || {
            if shown {
                report::avail::text(&header, &answer, &judged, outputs.quiet)
            } else {
                String::new()
            }
        },
        || report::avail::json(&header, &answer, &judged),
    ) {
        return code;
    }
    let verdict = if interrupted {
        Verdict::Interrupted
    } else {
        report::avail::verdict(&judged)
    };
    if let Some(gated) = &outputs.gated {
        let summary = report::avail::markdown(&header, &answer, &judged);
        if let Err(code) = gated.report(seed, outputs.json, Some(summary), |cx| {
            report::gate::cases::availability(scenario, &judged, &verdict, cx)
        }) {
            return code;
        }
    }
    if interrupted {
        return exit::INTERRUPTED;
    }
    match verdict {
        Verdict::Fail(_) => exit::FAILED,
        _ => exit::OK,
    }
}

/// The measured trials of one level (a shard's, when one is given), with the progress
/// line; the exit code of a trial that could not run, already reported.
#[allow(clippy::too_many_arguments)]
fn measure(
    fleet: &Fleet,
    (deployment, flags, _): &Asked,
    amount: Amount,
    (trials, shard): (u32, Option<Shard>),
    seed: u64,
    question: &Question,
    quiet: bool,
    interrupt: &Interrupt,
) -> Result<(Vec<TrialCounts>, bool), u8> {
    let line = progress::Line::unless_quiet(quiet);
    let started = tokio::time::Instant::now();
    let mine = shard.map_or(trials, |shard| shard.len(trials));
    let ran = deploysim::runtime::avail::measure(
        fleet,
        question.scenario,
        deployment,
        flags,
        amount,
        (trials, shard),
        (seed, question.workers, question.degraded_lost),
        interrupt,
        &|done: u32| {
            line.show(&format!(
                "{amount}: {}",
                report::risk::progress_text(done, mine, started.elapsed())
            ));
        },
    );
    line.clear();
    ran.map_err(|err| {
        output::error(&err.to_string());
        exit::ENVIRONMENT
    })
}

/// `--trials N --shard I/N`: the shard's trials at every level, written as its part.
fn write_part(
    args: &AvailabilityArgs,
    scenario: &Scenario,
    text: String,
    seed: u64,
    settings: &part::Settings,
    trials: u32,
    shard: Shard,
) -> u8 {
    let asked = match asked(scenario, settings, seed) {
        Ok(asked) => asked,
        Err(code) => return code,
    };
    let question = question(scenario, &asked, settings, seed, workers(args.workers));
    let fleet = match Fleet::new(&question, &settings.levels) {
        Ok(fleet) => fleet,
        Err(refusal) => {
            output::error(&refusal_text(&refusal));
            return exit::INVALID;
        }
    };
    let interrupt = Interrupt::on_ctrl_c();
    let mut per_level = Vec::new();
    for &amount in &settings.levels {
        match measure(
            &fleet,
            &asked,
            amount,
            (trials, Some(shard)),
            seed,
            &question,
            args.quiet,
            &interrupt,
        ) {
            // A cut level shows as fewer trials, which `kept` below takes.
            Ok((measured, _)) => per_level.push(measured),
            Err(code) => return code,
        }
    }
    // Record k holds trial k of the shard at every level; an interrupted level keeps the
    // trials every level has.
    let kept = per_level.iter().map(Vec::len).min().unwrap_or(0);
    let records = (0..kept)
        .map(|k| part::LevelsTrial {
            trial: shard.trial(k as u32),
            levels: per_level.iter().map(|level| level[k].clone()).collect(),
        })
        .collect();
    let written = part::Part::new(
        part::FORMAT,
        &args.scenario.display().to_string(),
        text,
        seed,
        trials,
        shard,
        settings.clone(),
        records,
    );
    super::write_part_text(
        args.part.as_deref(),
        &written.to_text(),
        shard,
        (kept, shard.len(trials)),
    )
}

/// `simulate merge` of availability parts: the answer one machine would have given.
pub(super) fn merge(parts: Vec<(String, part::Part)>, args: &MergeArgs) -> u8 {
    let merged = match deploysim::shard::merge(parts) {
        Ok(merged) => merged,
        Err(message) => {
            output::error(&message);
            return exit::INVALID;
        }
    };
    let scenario =
        match deploysim::scenario::parse_str(&merged.scenario, Path::new(&merged.scenario_path)) {
            Ok(scenario) => scenario,
            Err(err) => {
                output::report_error(&err);
                return exit::INVALID;
            }
        };
    let settings = &merged.settings;
    if settings.budget < 1.0 || settings.samples < 2 || settings.levels.is_empty() {
        output::error(
            "the parts' settings are out of the command's ranges (budget, samples, levels): a part was edited",
        );
        return exit::INVALID;
    }

    let levels = merged.settings.levels.len();
    if let Some(record) = merged.records.iter().find(|record| {
        record.levels.len() != levels || record.levels.iter().any(|c| c.trial != record.trial)
    }) {
        output::error(&format!(
            "trial {} of the parts does not hold one count per level of its run: a part was edited",
            record.trial
        ));
        return exit::INVALID;
    }
    let per_level: Vec<Vec<TrialCounts>> = (0..levels)
        .map(|i| {
            merged
                .records
                .iter()
                .filter_map(|record| record.levels.get(i).cloned())
                .collect()
        })
        .collect();
    let outputs = Outputs {
        json: args.json.as_deref(),
        markdown: args.markdown.as_deref(),
        quiet: args.quiet,
        gated: None,
    };
    conclude(
        &scenario,
        merged.seed,
        &merged.settings,
        Trials::Merged(per_level),
        workers(args.workers),
        &outputs,
    )
}

/// The deployment asked (initial, target, or after a strategy's step), its flags and how
/// the report names it.
fn deployment(
    scenario: &Scenario,
    target: bool,
    after: Option<&(String, usize)>,
    seed: u64,
) -> Result<(Deployment, Flags, String), String> {
    if target {
        return Ok((
            scenario.target.clone(),
            scenario.target_flags(),
            "the target versions".to_owned(),
        ));
    }
    let Some((name, step)) = after else {
        return Ok((
            scenario.initial.clone(),
            scenario.initial_flags(),
            "the initial versions".to_owned(),
        ));
    };
    let strategy = deploysim::plan::select(scenario, std::slice::from_ref(name))
        .map_err(|err| err.to_string())?
        .remove(0);
    let plan = deploysim::plan::plan(scenario, &strategy, seed).map_err(|err| {
        format!(
            "{name} cannot be planned: {}",
            report::plan_error_text(&err)
        )
    })?;
    let last = plan.last_step();
    if *step > last {
        return Err(format!(
            "{name} has steps 0 (the baseline) to {last}; there is no step {step}"
        ));
    }
    let mut walk = plan.walk(scenario);
    for _ in 0..*step {
        walk.next();
    }
    walk.next();
    let (deployment, flags) = walk.into_state();
    Ok((
        deployment,
        flags,
        format!("the versions once step {step} of {name} has settled"),
    ))
}

fn refusal_text(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Capacity(versions) => format!(
            "{} {} a capacity: a replica that dies there also loads the others, which the \
             evaluator does not model",
            versions
                .iter()
                .map(|(service, version)| format!("{service} {version}"))
                .collect::<Vec<_>>()
                .join(", "),
            if versions.len() == 1 { "has" } else { "have" }
        ),
        Refusal::TooMany { amount, units } => {
            format!("{amount} asks for more units down than the {units} that may fail")
        }
        Refusal::Probability(p) => format!("p = {p} is not a probability (0 to 1)"),
        Refusal::UnknownService(name) => {
            format!("--spare names \"{name}\", which the scenario does not have")
        }
    }
}
