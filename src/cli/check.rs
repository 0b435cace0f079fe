//! `simulate check SCENARIO`: every state of every strategy predicted, no server.

use deploysim::record::result::Verdict;
use deploysim::report::{self, gate};

use super::args::{CheckArgs, ExpectWhat};
use super::{exit, output, pipeline};

pub(super) fn run(args: &CheckArgs) -> u8 {
    let gated = Some((&args.pipeline, "check"));
    let (scenario, text, seed, strategies) =
        match super::prepare(&args.scenario, &args.selection, gated) {
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
        args.pipeline
            .terminal(|| report::check::text(&scenario, seed, &report, args.quiet)),
        || report::check::json(&scenario, seed, &report),
    ) {
        return code;
    }
    let mut extra = pipeline::strategy_flags(&args.selection.strategies);
    if args.expect.expect == Some(ExpectWhat::Graceful) {
        extra.push("--expect graceful".to_owned());
    }
    if args.pairs {
        extra.push("--pairs".to_owned());
    }
    let gated = pipeline::Gated {
        pipeline: &args.pipeline,
        command: "check",
        file: &args.scenario,
        text: &text,
        extra,
    };
    if let Err(code) = gated.report(seed, args.selection.json.as_deref(), None, |cx| {
        gate::cases::check(&scenario, &report, cx)
    }) {
        return code;
    }
    match report.verdict() {
        Verdict::Fail(_) => exit::FAILED,
        _ => exit::OK,
    }
}
