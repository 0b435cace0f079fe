//! `simulate plan SCENARIO`: each strategy's steps, a dry run.

use deploysim::plan;
use deploysim::report::{self, plan::PlanOutcome};

use super::args::PlanArgs;
use super::{exit, output};

pub(super) fn run(args: &PlanArgs) -> u8 {
    let (scenario, _, seed, strategies) =
        match super::prepare(&args.scenario, &args.selection, None) {
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
    // A strategy the scenario lists or the user names that cannot be planned fails, as
    // in every command; a default one is reported, not failed.
    if outcomes
        .iter()
        .any(|(strategy, outcome)| strategy.listed && outcome.is_err())
    {
        return exit::FAILED;
    }
    exit::OK
}
