//! `simulate availability SCENARIO`: the share of each entrypoint's traffic still served
//! when random replicas or services are down, from the evaluator. No server.

use deploysim::avail::{self, Amount, Fleet, Question, Refusal, Unit};
use deploysim::model::{Deployment, Flags, Scenario};
use deploysim::report;
use deploysim::report::avail::Header;
use deploysim::runtime::interrupt::Interrupt;
use deploysim::verdict::Verdict;

use super::args::{AvailabilityArgs, UnitArg};
use super::{exit, output, progress};

/// The levels asked when neither the command line nor the scenario names one.
const DEFAULT_LEVELS: [Amount; 2] = [Amount::Kill(1), Amount::Kill(2)];

pub(super) fn run(args: &AvailabilityArgs) -> u8 {
    let scenario = match super::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    if let Err(code) = output::check_json_target(args.json.as_deref(), &args.scenario) {
        return code;
    }
    if let Err(code) = output::check_target("--markdown", args.markdown.as_deref(), &args.scenario)
    {
        return code;
    }
    if args.json.as_deref() == Some(std::path::Path::new("-"))
        && args.markdown.as_deref() == Some(std::path::Path::new("-"))
    {
        output::error("--json - and --markdown - would both write to stdout; send one to a file");
        return exit::INVALID;
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let (deployment, flags, label) = match deployment(&scenario, args, seed) {
        Ok(found) => found,
        Err(message) => {
            output::error(&message);
            return exit::INVALID;
        }
    };
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
    let question = Question {
        scenario: &scenario,
        deployment: &deployment,
        flags: &flags,
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
        budget: args.budget as f64,
        samples: args.samples,
        seed,
        workers: args.workers.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            |n| n as usize,
        ),
    };
    let fleet = match Fleet::new(&question, &levels) {
        Ok(fleet) => fleet,
        Err(refusal) => {
            output::error(&refusal_text(&refusal));
            return exit::INVALID;
        }
    };
    if !fleet.capacity.is_empty() && args.trials.is_none() {
        output::error(&format!(
            "{}; measure it instead: --trials N",
            refusal_text(&Refusal::Capacity(fleet.capacity.clone()))
        ));
        return exit::INVALID;
    }
    let mut rows = Vec::new();
    let mut interrupted = false;
    let interrupt = Interrupt::on_ctrl_c();
    for &amount in &levels {
        let measured = match args.trials {
            None => None,
            Some(trials) => {
                let line = progress::Line::unless_quiet(args.quiet);
                let started = tokio::time::Instant::now();
                let ran = deploysim::runtime::avail::measure(
                    &fleet,
                    &scenario,
                    &deployment,
                    &flags,
                    amount,
                    trials,
                    (seed, question.workers, question.degraded_lost),
                    &interrupt,
                    &|done: u32| {
                        line.show(&format!(
                            "{amount}: {}",
                            report::risk::progress_text(done, trials, started.elapsed())
                        ));
                    },
                );
                line.clear();
                match ran {
                    Ok((measured, partial)) => {
                        interrupted |= partial;
                        Some(measured)
                    }
                    Err(err) => {
                        output::error(&err.to_string());
                        return exit::ENVIRONMENT;
                    }
                }
            }
        };
        rows.push(fleet.row(amount, measured.as_deref()));
        if interrupted {
            break;
        }
    }
    let answer = fleet.answer(rows);
    let judged = avail::judge(&answer, &spec.expect);
    if !args.quiet && judged.len() < spec.expect.len() {
        output::note(&format!(
            "{} of availability.expect's limits are at levels not asked here and are not judged",
            spec.expect.len() - judged.len()
        ));
    }
    let header = Header {
        scenario: &scenario,
        seed,
        deployment: &label,
    };
    if let Some(path) = &args.markdown {
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
    if let Err(code) = output::emit(
        args.json.as_deref(),
        || report::avail::text(&header, &answer, &judged, args.quiet),
        || report::avail::json(&header, &answer, &judged),
    ) {
        return code;
    }
    if interrupted {
        return exit::INTERRUPTED;
    }
    match report::avail::verdict(&judged) {
        Verdict::Fail(_) => exit::FAILED,
        _ => exit::OK,
    }
}

/// The deployment asked (initial, target, or after a strategy's step), its flags and how
/// the report names it.
fn deployment(
    scenario: &Scenario,
    args: &AvailabilityArgs,
    seed: u64,
) -> Result<(Deployment, Flags, String), String> {
    if args.target {
        return Ok((
            scenario.target.clone(),
            scenario.target_flags(),
            "the target versions".to_owned(),
        ));
    }
    let Some((name, step)) = &args.after else {
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
