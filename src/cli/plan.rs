//! `simulate plan SCENARIO`: each strategy's steps, a dry run.

use deploysim::plan::{self, PlanError};
use deploysim::report::{self, plan::PlanOutcome};

use super::args::PlanArgs;
use super::{exit, output};

pub(super) fn run(args: &PlanArgs) -> u8 {
    let (scenario, seed, strategies) = match super::prepare(&args.scenario, &args.selection) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let outcomes: Vec<PlanOutcome> = strategies
        .iter()
        .map(|strategy| (strategy.clone(), plan::plan(&scenario, strategy, seed)))
        .collect();
    if let Err(code) = output::emit(
        args.selection.json.as_deref(),
        || report::plan::text(&scenario, seed, &outcomes),
        || {
            let detail = if args.full {
                report::plan::Detail::Full
            } else {
                report::plan::Detail::Changes
            };
            report::plan::json(&scenario, seed, &outcomes, detail)
        },
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
