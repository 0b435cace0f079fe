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
    let markdown_out = args.pipeline.markdown_on_stdout();
    if let Err(code) = output::emit(
        args.selection.json.as_deref(),
        || {
            if markdown_out {
                String::new()
            } else {
                report::check::text(&scenario, seed, &report, args.quiet)
            }
        },
        || report::check::json(&scenario, seed, &report),
    ) {
        return code;
    }
    if args.pipeline.wanted() {
        let positions = deploysim::scenario::positions(&text);
        let mut extra: Vec<String> = args
            .selection
            .strategies
            .iter()
            .map(|name| format!("--strategy {}", report::shell_word(name)))
            .collect();
        if args.expect.expect == Some(ExpectWhat::Graceful) {
            extra.push("--expect graceful".to_owned());
        }
        if args.pairs {
            extra.push("--pairs".to_owned());
        }
        let rerun = pipeline::rerun("check", &args.scenario, seed, &extra);
        let file = pipeline::shown(&args.scenario);
        let cx = gate::cases::Context {
            file: &file,
            seed,
            rerun: &rerun,
            positions: positions.as_ref(),
        };
        let gate = gate::cases::check(&scenario, &report, cx);
        let stdout_taken =
            args.selection.json.as_deref() == Some(std::path::Path::new("-")) || markdown_out;
        if let Err(code) = args
            .pipeline
            .emit(&gate, positions.as_ref(), stdout_taken, None)
        {
            return code;
        }
    }
    match report.verdict() {
        Verdict::Fail(_) => exit::FAILED,
        _ => exit::OK,
    }
}
