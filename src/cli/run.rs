//! `simulate SCENARIO`: the live run of every strategy (or a risk trial's, `--trial N`).

use std::path::Path;
use std::sync::Arc;

use deploysim::model::{Scenario, Strategy};
use deploysim::plan::{self, Plan};
use deploysim::record::result::{LiveRun, Unplanned, Verdict};
use deploysim::report::{self, gate};
use deploysim::runtime::host::{run_budget, sim_limit};
use deploysim::runtime::net::Net;
use deploysim::runtime::run::{self as live, Progress};

use super::args::RunArgs;
use super::{exit, output, pipeline, progress};

pub(super) fn run(path: &Path, args: &RunArgs) -> u8 {
    let gated = Some((&args.pipeline, "run"));
    let (scenario, text, seed, strategies) = match super::prepare(path, &args.selection, gated) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let strategies = super::with_expect(strategies, &args.expect);
    if Net::from(args.net) == Net::Processes && args.trial.is_some() {
        output::error(
            "--trial runs in one process (--net live or sim): a trial's defects are not in the scenario's text its children would read",
        );
        return exit::INVALID;
    }
    // A risk trial's defects go into the scenario before anything is planned: the plan
    // is the same (a team does not know its defects), the versions it deploys are not.
    let (scenario, trial_line, run_seed) = match args.trial {
        Some(trial) => {
            let trial = deploysim::risk::policy::trial(&scenario, seed, trial);
            let line = report::risk::trial_line(&trial.draw, seed) + "\n";
            (trial.scenario, line, trial.run_seed)
        }
        None => (scenario, String::new(), seed),
    };
    let scenario = Arc::new(scenario);
    let (plans, unplanned) = plans(&scenario, &strategies, seed);
    let cost = deploysim::plan::cost::Cost::of(&scenario, plans.iter().map(|(_, plan)| plan));
    if !args.quiet && cost.time >= super::COST_WORTH_SAYING {
        let what = format!(
            "{} {}",
            plans.len(),
            report::plural(plans.len(), "strategy", "strategies")
        );
        output::note(&report::cost_text(
            &what,
            &cost,
            &scenario,
            Net::from(args.net),
        ));
    }
    let net = Net::from(args.net);
    let processes = match processes(net, &text) {
        Ok(processes) => processes,
        Err(code) => return code,
    };
    let line = progress::Line::unless_quiet(args.quiet);
    let shared = Arc::clone(&scenario);
    let limit = sim_limit(plans.iter().map(|(_, plan)| run_budget(&scenario, plan)));
    let outcome = super::hosted(run_seed, net, limit, &line, move |options| async move {
        let options = live::Options {
            processes,
            ..options
        };
        let steps = line.steps(plans.len(), "strategy");
        let shown = steps.as_ref().map(|steps| steps as &dyn Progress);
        let mut runs = Vec::new();
        for (strategy, plan) in &plans {
            runs.push(live::run(Arc::clone(&shared), strategy, plan, &options, shown).await?);
            if options.interrupt.is_set() {
                break;
            }
        }
        Ok(runs)
    });
    let (runs, interrupted) = match outcome {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    let live = LiveRun {
        runs,
        unplanned,
        interrupted,
        expect_graceful: args.expect.expect.is_some(),
    };
    if let Err(code) = output::emit(
        args.selection.json.as_deref(),
        args.pipeline
            .terminal(|| trial_line + &report::live::text(&scenario, seed, net, &live, args.quiet)),
        || report::live::json(&scenario, seed, net, &live),
    ) {
        return code;
    }
    let mut extra = vec![args.net.flag()];
    extra.extend(pipeline::strategy_flags(&args.selection.strategies));
    if args.expect.expect.is_some() {
        extra.push("--expect graceful".to_owned());
    }
    if let Some(trial) = args.trial {
        extra.push(format!("--trial {trial}"));
    }
    let gated = pipeline::Gated {
        pipeline: &args.pipeline,
        command: "run",
        file: path,
        text: &text,
        extra,
    };
    if let Err(code) = gated.report(seed, args.selection.json.as_deref(), None, |cx| {
        gate::cases::live(&scenario, net, &live, cx)
    }) {
        return code;
    }
    let code = match Verdict::of(&live.summary(&scenario)) {
        Verdict::Pass => exit::OK,
        Verdict::Fail(_) => exit::FAILED,
        Verdict::Inconclusive(_) => exit::INCONCLUSIVE,
        Verdict::Interrupted => exit::INTERRUPTED,
        Verdict::NothingJudged => exit::OK,
    };
    if live.interrupted {
        // The process ends now: a large fleet's results are left to it rather than
        // freed one by one, so Ctrl-C is answered within a second.
        std::mem::forget(live);
    }
    code
}

/// With `--net processes`, how the run starts its children: this very binary, the
/// scenario's text, and a token fresh for the run (from the system's randomness: it is
/// a secret, not one of the run's seeded choices). `None` on another network; the exit
/// code when this program cannot be found.
pub(super) fn processes(
    net: Net,
    text: &str,
) -> Result<Option<deploysim::runtime::child::Spawn>, u8> {
    use rand::RngExt as _;
    if net != Net::Processes {
        return Ok(None);
    }
    let program = std::env::current_exe().map_err(|err| {
        output::error(&format!(
            "--net processes: cannot find this program to start its children: {err}"
        ));
        exit::ENVIRONMENT
    })?;
    let token = format!("{:032x}", rand::rng().random::<u128>());
    let token = tonic::metadata::AsciiMetadataValue::try_from(token.as_str()).map_err(|err| {
        output::error(&format!("--net processes: {err}"));
        exit::ENVIRONMENT
    })?;
    Ok(Some(deploysim::runtime::child::Spawn {
        program,
        text: Arc::from(text),
        token,
    }))
}

/// The strategies that will run, with their plans, and those that will not.
type Planned = (Vec<(Strategy, Plan)>, Vec<Unplanned>);

/// Each strategy's plan; a strategy that cannot be planned is not run (the report says
/// why, and the verdict fails when it was asked for by name) while the others are.
fn plans(scenario: &Scenario, strategies: &[Strategy], seed: u64) -> Planned {
    let mut plans = Vec::new();
    let mut unplanned = Vec::new();
    for strategy in strategies {
        match plan::plan(scenario, strategy, seed) {
            Ok(plan) => plans.push((strategy.clone(), plan)),
            Err(error) => unplanned.push(Unplanned {
                strategy: strategy.clone(),
                error,
            }),
        }
    }
    (plans, unplanned)
}
