//! `simulate check SCENARIO`: every state of every strategy predicted, no server.

use deploysim::record::result::Verdict;
use deploysim::report;

use super::args::CheckArgs;
use super::{exit, output};

pub(super) fn run(args: &CheckArgs) -> u8 {
    let (scenario, seed, strategies) = match super::prepare(&args.scenario, &args.selection) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let strategies = super::with_expect(strategies, &args.expect);
    let report = deploysim::check::run(
        &scenario,
        &strategies,
        seed,
        deploysim::check::sweep::Missing::with_pairs(args.pairs),
    );
    if let Err(code) = output::emit(
        args.selection.json.as_deref(),
        || report::check::text(&scenario, seed, &report, args.quiet),
        || report::check::json(&scenario, seed, &report),
    ) {
        return code;
    }
    match report.verdict() {
        Verdict::Fail(_) => exit::FAILED,
        _ => exit::OK,
    }
}
