//! `simulate sweep SCENARIO`: each service (or pair) missing in turn, under load.

use std::sync::Arc;

use deploysim::check::sweep::Missing;
use deploysim::report::{self, gate};
use deploysim::runtime::host::{row_budget, sim_limit};
use deploysim::runtime::net::Net;
use deploysim::runtime::run::Progress;
use deploysim::runtime::sweep::{self, MAX_ROWS};

use super::args::SweepArgs;
use super::{exit, output, pipeline, progress};

pub(super) fn run(args: &SweepArgs) -> u8 {
    let (scenario, text) = match super::load_gated(&args.scenario, Some((&args.pipeline, "sweep")))
    {
        Ok((scenario, text)) => (Arc::new(scenario), text),
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
    let seed = args.seed.unwrap_or(scenario.seed);
    let missing = Missing::with_pairs(args.pairs);
    let rows = sweep::rows(&scenario, missing);
    if rows > MAX_ROWS {
        output::error(&format!(
            "the sweep would run {rows} rows of {} ms each, more than the limit of {MAX_ROWS}; \
             `simulate check{} {}` sweeps without servers in milliseconds",
            scenario.load.baseline.as_millis(),
            if args.pairs { " --pairs" } else { "" },
            args.scenario.display()
        ));
        return exit::INVALID;
    }
    if !args.quiet {
        let row = deploysim::plan::cost::Cost::of_baseline(&scenario);
        let what = format!("{rows} {}", report::plural(rows, "row", "rows"));
        output::note(&report::cost_text(
            &what,
            &row.times(rows as u32),
            &scenario,
            Net::from(args.net),
        ));
    }
    let net = Net::from(args.net);
    let processes = match super::run::processes(net, &text) {
        Ok(processes) => processes,
        Err(code) => return code,
    };
    let line = progress::Line::unless_quiet(args.quiet);
    let shared = Arc::clone(&scenario);
    let limit = sim_limit(std::iter::repeat_n(row_budget(&scenario), rows));
    let total_rows = rows;
    let outcome = super::hosted(seed, net, limit, &line, move |options| async move {
        let options = deploysim::runtime::run::Options {
            processes,
            ..options
        };
        let steps = line.steps(total_rows, "row");
        let shown = steps.as_ref().map(|steps| steps as &dyn Progress);
        sweep::sweep(shared, missing, &options, shown).await
    });
    let (rows, interrupted) = match outcome {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    if let Err(code) = output::emit(
        args.json.as_deref(),
        args.pipeline
            .terminal(|| report::sweep::text(&scenario, seed, net, &rows, interrupted, args.quiet)),
        || report::sweep::json(&scenario, seed, net, &rows, interrupted),
    ) {
        return code;
    }
    let mut extra = vec![args.net.flag()];
    if args.pairs {
        extra.push("--pairs".to_owned());
    }
    let gated = pipeline::Gated {
        pipeline: &args.pipeline,
        command: "sweep",
        file: &args.scenario,
        text: &text,
        extra,
    };
    if let Err(code) = gated.report(seed, args.json.as_deref(), None, |cx| {
        gate::cases::sweep(&scenario, &rows, interrupted, cx)
    }) {
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
