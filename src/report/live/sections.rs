//! The sections of one strategy's part of the live report, each a function named after
//! what it shows, in the order they print; and the comparison of strategies.

use std::fmt::Write as _;

use super::{
    ExpectationJson, advice, event_text, format_ms, lag_text, limit_of, percent, place, share,
    yes_no,
};
use crate::eval::{Graph, Level};
use crate::model::{Breach, Scenario};
use crate::record::StepKind;
use crate::record::result::{self, Ending, Mitigation, RunSummary, StepResult, StrategyRun};
use crate::record::tally::Tally;
use crate::report::{changes_cell, held_word, level_word, path_text, plural, table};
use crate::runtime::net::Net;

/// Causes shown per step in the table; the JSON has all of them.
const TOP_CAUSES: usize = 3;

/// Everything the report says about one strategy's run.
pub(super) fn strategy(out: &mut String, scenario: &Scenario, net: Net, run: &StrategyRun) {
    summary_line(out, net, run);
    step_table(out, scenario, run);
    flagged_calls(out, scenario, run);
    async_calls(out, scenario, net, run);
    super::cascade::lines(out, scenario, run);
    super::cascade::load_lines(out, scenario, net, run);
    per_method(out, scenario, run);
    unseen(out, scenario, run);
    if run.graph.entries.len() > 1 {
        per_entrypoint(out, run);
    }
    disagreements(out, run);
    events(out, scenario, run);
    never_fired(out, scenario, run);
    if !run.every_step_traffic {
        let _ = writeln!(
            out,
            "  note: a fleet this large keeps per-step call counts only for flagged, ignoring and asynchronous calls; every edge's run total is in the JSON (edge_totals)"
        );
    }
    if !run.folded.is_empty() {
        let _ = writeln!(
            out,
            "  note: a fleet this large keeps a step's per-entrypoint tallies only where a request failed or degraded; the JSON has every entrypoint's run total (entrypoint_totals)"
        );
    }
    if run.stray > 0 {
        let _ = writeln!(
            out,
            "  note: {} traffic counts named a step this run never had (requests from outside the run?): not counted",
            run.stray
        );
    }
    if let Some(mitigation) = &run.mitigation {
        mitigation_lines(out, run, mitigation);
    }
    ending(out, run);
    unmeasured(out, net, run);
    expectations(out, scenario, net, run);
}

/// `strategy batch: 1 step in 0.7 s; NOT graceful (13 of 129 failed)`.
fn summary_line(out: &mut String, net: Net, run: &StrategyRun) {
    let planned = run
        .steps
        .iter()
        .filter(|step| matches!(step.kind, StepKind::Rollout(_)))
        .count();
    let kind = match run.strategy.kind {
        crate::model::StrategyKind::Steps(_) => " (steps)",
        _ => "",
    };
    let outcome = if !run.kept_up() {
        let unmeasured = run.steps.iter().filter(|step| !step.kept_up()).count();
        format!(
            "inconclusive: {} fell behind in {unmeasured} {} ({} of {} failed)",
            limit_of(net),
            plural(unmeasured, "step", "steps"),
            run.total.failed,
            run.total.requests()
        )
    } else if run.graceful() && run.ending == Ending::Interrupted {
        format!(
            "interrupted before it could show it is graceful ({} of {} degraded, none failed so far)",
            run.total.degraded,
            run.total.requests()
        )
    } else if run.graceful() && run.total.degraded == 0 {
        format!(
            "graceful (none of {} failed or degraded)",
            run.total.requests()
        )
    } else if run.graceful() {
        format!(
            "graceful ({} of {} degraded)",
            run.total.degraded,
            run.total.requests()
        )
    } else {
        format!(
            "NOT graceful ({} of {} failed)",
            run.total.failed,
            run.total.requests()
        )
    };
    // Steps run, and of how many when the run stopped short of its plan.
    let of = if planned < run.planned_steps {
        format!("{planned} of {}", run.planned_steps)
    } else {
        planned.to_string()
    };
    let _ = writeln!(
        out,
        "strategy {}{kind}: {of} {} in {:.1} s; {outcome}",
        run.strategy.name,
        plural(run.planned_steps.max(planned), "step", "steps"),
        run.duration.as_secs_f64(),
    );
}

/// One row per step: its changes (and flags), the requests by outcome, latency, the
/// prediction and the top causes.
fn step_table(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    let with_flags = !scenario.flags.is_empty();
    let mut header: Vec<&str> = vec!["step", "changes"];
    if with_flags {
        header.push("flags");
    }
    header.extend([
        "ok",
        "degraded",
        "failed",
        "p50 ms",
        "p99 ms",
        "predicted",
        "top causes",
    ]);
    let mut rows = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
    for step in &run.steps {
        let p = step.total.percentiles();
        let mut label = step.kind.label();
        if step.gate_breached {
            label.push_str(" gate!");
        }
        let mut row = vec![label, step_changes(step)];
        if with_flags {
            row.push(crate::report::flags_cell(&step.flags));
        }
        row.extend([
            step.total.ok.to_string(),
            step.total.degraded.to_string(),
            step.total.failed.to_string(),
            format_ms(p.p50),
            format_ms(p.p99),
            predicted_cell(step),
            top_causes(&step.total),
        ]);
        rows.push(row);
    }
    out.push_str(&table(&rows, "  "));
}

/// The failed calls of calls whose failures no entry request sees.
fn unseen(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    let unseen = result::unseen_failures(scenario, run.steps.iter());
    if !unseen.is_empty() {
        let _ = writeln!(
            out,
            "  swallowed (ignored or asynchronous; no entry request heard of it): {}",
            unseen_text(&unseen)
        );
    }
}

/// `checkout -> email api v1 3 of 40 calls, ...`.
pub(crate) fn unseen_text(unseen: &[result::UnseenFailures]) -> String {
    unseen
        .iter()
        .map(|u| {
            format!(
                "{} {} of {} {}",
                u.edge,
                u.failed,
                u.calls,
                super::plural(u.calls as usize, "call", "calls")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `! step 2: ...` for each measured step that differs from its prediction.
fn disagreements(out: &mut String, run: &StrategyRun) {
    for step in run
        .steps
        .iter()
        .filter(|step| step.kept_up() && !step.agrees())
    {
        let _ = writeln!(
            out,
            "  ! step {}: {}{}",
            step.kind.label(),
            disagreement(&run.graph, step),
            load_explains(step)
        );
    }
}

/// `; load explains it: the settled part predicted 50% served (measured 54%)`, when the
/// load prediction of the step's settled part loses requests that the deployment does not.
fn load_explains(step: &StepResult) -> String {
    let Some(load) = &step.load else {
        return String::new();
    };
    let measured = step.settled_served();
    let short: Vec<String> = load
        .served
        .iter()
        .filter(|(_, served)| **served < crate::check::SERVED_IN_FULL)
        .map(|(entry, served)| {
            let got = measured
                .get(entry)
                .copied()
                .flatten()
                .map_or_else(String::new, |share| {
                    format!(" (measured {:.0}%)", share * 100.0)
                });
            format!("{entry} {:.0}% served{got}", served * 100.0)
        })
        .collect();
    if short.is_empty() {
        return String::new();
    }
    format!(
        "; the load prediction explains it: in the settled part {}",
        short.join(", ")
    )
}

/// Each fault event, under the step it happened in.
fn events(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    for step in &run.steps {
        for event in &step.events {
            let _ = writeln!(
                out,
                "  step {}: {}",
                step.kind.label(),
                event_text(scenario, event)
            );
        }
    }
}

fn never_fired(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    for &fault in &run.faults_never_fired {
        let _ = writeln!(
            out,
            "  note: fault \"{}\" never fired: its step did not run",
            scenario.faults[fault]
        );
    }
}

/// How the rollback or kill switch after a breach went: when service was restored, and
/// what failed until then.
fn mitigation_lines(out: &mut String, run: &StrategyRun, mitigation: &Mitigation) {
    let what = match mitigation.action {
        Breach::KillSwitch => "the kill switch",
        _ => "the rollback",
    };
    let requests = |n: u64| {
        format!(
            "{n} entry {}",
            plural(
                usize::try_from(n).unwrap_or(usize::MAX),
                "request",
                "requests"
            )
        )
    };
    let line = match mitigation.restored_in {
        Some(index) => format!(
            "{what} restored service {} ms after the breach (no entry request failed from {} on); {} failed until then",
            mitigation.time.as_millis(),
            // Restoration is the start of a step's settled part: a rollback step's
            // requests during its moves may still fail.
            run.steps
                .get(index)
                .map_or_else(String::new, |step| match step.kind {
                    StepKind::Rollback(_) => format!("the end of {}'s moves", place(step.kind)),
                    kind => place(kind),
                }),
            requests(mitigation.failed_before)
        ),
        None => format!(
            "{what} did not restore service: {} failed before its last moves ended ({} ms after the breach), {} after",
            requests(mitigation.failed_before),
            mitigation.time.as_millis(),
            mitigation.failed_after
        ),
    };
    let _ = writeln!(out, "  mitigation: {line}");
    if mitigation.restored_in.is_some() && mitigation.failed_after > 0 {
        let _ = writeln!(
            out,
            "  note: {} failed later in the mitigation",
            requests(mitigation.failed_after)
        );
    }
}

/// How the rollout ended, when it did not complete.
fn ending(out: &mut String, run: &StrategyRun) {
    let said = match run.ending {
        Ending::Completed => return,
        Ending::RolledBack => "the gate was breached: rolled back to the initial versions",
        Ending::Stopped => "the gate was breached: the rollout stopped there",
        Ending::Switched => {
            "the gate was breached: the kill switch unreleased the flags; the rollout stopped there"
        }
        Ending::Interrupted => "interrupted (Ctrl-C)",
    };
    let _ = writeln!(out, "  {said}");
}

/// `~ step 2: not measured: ...` for each step the harness fell behind in.
fn unmeasured(out: &mut String, net: Net, run: &StrategyRun) {
    for step in run.steps.iter().filter(|step| !step.kept_up()) {
        let _ = writeln!(
            out,
            "  ~ step {}: not measured: {} fell behind ({})",
            step.kind.label(),
            limit_of(net),
            lag_text(&step.lag)
        );
    }
}

/// Each expectation, held or failed, with what was measured; or why none was judged.
fn expectations(out: &mut String, scenario: &Scenario, net: Net, run: &StrategyRun) {
    if run.ending == Ending::Interrupted && !run.strategy.expect.is_empty() {
        let _ = writeln!(out, "  expectations: not judged (the run was interrupted)");
    } else if !run.kept_up() && !run.strategy.expect.is_empty() {
        let _ = writeln!(
            out,
            "  expectations: not judged ({} fell behind: {})",
            limit_of(net),
            advice(scenario, net)
        );
    }
    for expectation in run.expectations.iter().map(ExpectationJson::from) {
        let _ = writeln!(
            out,
            "  expect {}: {} ({}; measured: {})",
            expectation.key,
            held_word(expectation.held),
            expectation.expected,
            expectation.actual
        );
    }
}

/// At most this many entrypoints get a row of their own in the per-entrypoint table; the
/// rest (all ok, since the ones that suffered come first) are counted in one line.
const MAX_ENTRY_ROWS: usize = 12;

/// Each entrypoint over the whole run, the ones that failed first, then the degraded:
/// where a fleet with many entrypoints hurt, which the step table merges away.
fn per_entrypoint(out: &mut String, run: &StrategyRun) {
    let mut entries = run.entry_totals();
    entries.sort_by(|a, b| {
        (b.failed, b.degraded)
            .cmp(&(a.failed, a.degraded))
            .then_with(|| a.name.cmp(&b.name))
    });
    let _ = writeln!(out, "  per entrypoint, the ones that suffered first:");
    let mut rows = vec![
        [
            "entrypoint",
            "sent",
            "ok",
            "degraded",
            "failed",
            "worst p99 ms",
            "first failed in",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for entry in entries.iter().take(MAX_ENTRY_ROWS) {
        rows.push(vec![
            entry.name.clone(),
            (entry.ok + entry.degraded + entry.failed).to_string(),
            entry.ok.to_string(),
            entry.degraded.to_string(),
            entry.failed.to_string(),
            format_ms(entry.worst_p99),
            entry.first_failed.map_or_else(|| "-".to_owned(), place),
        ]);
    }
    out.push_str(&table(&rows, "    "));
    if entries.len() > MAX_ENTRY_ROWS {
        let rest = &entries[MAX_ENTRY_ROWS..];
        let suffered = rest
            .iter()
            .filter(|entry| entry.failed + entry.degraded > 0)
            .count();
        let _ = writeln!(
            out,
            "    (+{} more entrypoints, {suffered} of them failed or degraded; --json has each one)",
            rest.len()
        );
    }
}

/// The predicted outcome of a step (the worst over its entrypoints), and `!` when the
/// measurement differs.
fn predicted_cell(step: &StepResult) -> String {
    let word = level_word(step.predicted.worst());
    if !step.kept_up() {
        format!("{word} ~")
    } else if step.agrees() {
        word.to_owned()
    } else {
        format!("{word} !")
    }
}

/// What was predicted and measured for each entrypoint that differs, and why the
/// prediction said so.
fn disagreement(graph: &Graph, step: &StepResult) -> String {
    let mut parts = Vec::new();
    for (entry, (predicted, measured)) in
        step.predicted.levels.iter().zip(&step.measured).enumerate()
    {
        let Some(measured) = measured else { continue };
        if measured == predicted || step.predicted.allows(entry, *measured) {
            continue;
        }
        let name = graph.entry_name(entry);
        let explaining = step
            .predicted
            .explained
            .get(&entry)
            .filter(|p| p.level != Level::Ok);
        let why = explaining
            .map(|p| format!(" ({})", path_text(p)))
            .unwrap_or_default();
        // Behind a flag at a percent between, the state is met only by that share of users.
        let sampled = explaining
            .and_then(|p| p.edge.as_ref())
            .and_then(|edge| edge.flag.as_ref())
            .map(|flag| (flag, step.flags.share(flag)))
            .filter(|(_, share)| (1..100).contains(share));
        let note = match sampled {
            Some((flag, share)) if measured < predicted => format!(
                "not observed: no request was for one of the {share}% of users {flag} is on for"
            ),
            _ if measured < predicted => "not observed: no request met that state".to_owned(),
            _ => {
                "worse than the deployment explains: timeouts, overload or an error rate".to_owned()
            }
        };
        parts.push(format!(
            "{name} predicted {}{why}, measured {}; {note}",
            level_word(*predicted),
            level_word(*measured)
        ));
    }
    parts.join("; ")
}

/// One line per call behind a flag: how many calls it carried in each step, so a user
/// sees that a dark call was never made.
fn flagged_calls(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    for (edge, flag) in result::flagged_edges(scenario) {
        let counts: Vec<String> = run
            .steps
            .iter()
            .map(|step| {
                let calls = step
                    .traffic
                    .edges
                    .get(&edge)
                    .map_or(0, |counts| counts.calls);
                format!("{} {calls}", step.kind.label())
            })
            .collect();
        let _ = writeln!(out, "  calls {edge} (behind {flag}): {}", counts.join(", "));
    }
}

/// One line for the asynchronous calls, when the scenario has any: per step, how many
/// started, the most in flight at once, and how many a full backlog dropped. Their
/// outcomes are on their edges (JSON `edges`), never in an entry request's.
fn async_calls(out: &mut String, scenario: &Scenario, net: Net, run: &StrategyRun) {
    if !scenario.every_call().any(|(_, call)| call.asynchronous) {
        return;
    }
    let counts: Vec<String> = run
        .steps
        .iter()
        .map(|step| {
            let backlog = step.traffic.asynchronous;
            let dropped = if backlog.dropped > 0 {
                format!(", {} dropped", backlog.dropped)
            } else {
                String::new()
            };
            format!(
                "{} {} (at most {} in flight{dropped})",
                step.kind.label(),
                backlog.started,
                backlog.peak
            )
        })
        .collect();
    // Each child counts its own backlog; the most at once over the fleet is not known.
    let peak = if net == Net::Processes {
        "; \"at most\" is the busiest replica's"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  asynchronous calls started per step: {} (their failures are on their edges{peak})",
        counts.join(", ")
    );
}

/// One line per entrypoint with a mix of several methods: each method's entry requests
/// over the run and how many failed: which part of the traffic a failure hits.
fn per_method(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    for (entry, methods) in run.graph.entry_methods.iter().enumerate() {
        if methods.len() < 2 {
            continue;
        }
        let cells: Vec<String> = run
            .by_method(scenario, entry)
            .into_iter()
            .map(|(method, counts)| {
                let mut cell = format!("{method} {}", counts.calls);
                if counts.failed > 0 {
                    let _ = write!(
                        cell,
                        ", {} failed ({})",
                        counts.failed,
                        share(counts.failed, counts.calls)
                    );
                }
                if counts.degraded > 0 {
                    let _ = write!(
                        cell,
                        ", {} degraded ({})",
                        counts.degraded,
                        share(counts.degraded, counts.calls)
                    );
                }
                cell
            })
            .collect();
        let _ = writeln!(
            out,
            "  {} by method: {}",
            run.graph.entry_name(entry),
            cells.join("; ")
        );
    }
}

fn step_changes(step: &StepResult) -> String {
    match step.kind {
        StepKind::Baseline => "-".to_owned(),
        _ => changes_cell(&step.changes, &step.flag_changes, step.index.max(1)),
    }
}

fn top_causes(tally: &Tally) -> String {
    let causes = tally.top_causes();
    let mut shown: Vec<String> = causes
        .iter()
        .take(TOP_CAUSES)
        .map(|(key, count)| format!("{}: {} x{}", key.edge, key.code, count.total()))
        .collect();
    if causes.len() > TOP_CAUSES {
        shown.push(format!("(+{} more)", causes.len() - TOP_CAUSES));
    }
    shown.join("; ")
}

pub(super) fn comparison(out: &mut String, runs: &[RunSummary]) {
    let _ = writeln!(out, "comparison");
    let mut rows = vec![
        [
            "strategy",
            "graceful",
            "sent",
            "ok",
            "degraded",
            "failed",
            "rolled back",
            "p99 ms",
            "duration",
            "prediction",
            "expectations",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for run in runs {
        let total = &run.total;
        rows.push(vec![
            run.strategy.name.clone(),
            graceful_cell(run).to_owned(),
            total.requests().to_string(),
            total.ok.to_string(),
            format!("{} ({})", total.degraded, percent(total.degraded_ratio())),
            format!("{} ({})", total.failed, percent(total.failed_ratio())),
            yes_no(run.ending == Ending::RolledBack).to_owned(),
            format_ms(total.percentiles().p99),
            format!("{:.1}s", run.duration.as_secs_f64()),
            agreement(run),
            if !run.judged() {
                "not judged".to_owned()
            } else if run.expectations.is_empty() {
                "nothing judged".to_owned()
            } else if run.passed() {
                "held".to_owned()
            } else {
                let failed: Vec<&str> = run
                    .expectations
                    .iter()
                    .filter(|expectation| !expectation.held)
                    .map(|expectation| expectation.rule.key())
                    .collect();
                format!("FAILED: {}", failed.join(", "))
            },
        ]);
    }
    out.push_str(&table(&rows, "  "));
    for run in runs {
        for swallowed in &run.swallowed {
            let _ = writeln!(
                out,
                "  swallowed in {}: {}: {} of calls failed ({} of {}); no entry request heard of it",
                run.strategy.name,
                swallowed.edge,
                whole_percent(swallowed.failed, swallowed.calls),
                swallowed.failed,
                swallowed.calls
            );
        }
    }
}

/// `99%` of `part` in `whole`, never rounded to 0% or 100% unless it is.
fn whole_percent(part: u64, whole: u64) -> String {
    let whole = whole.max(1);
    let pct = part as f64 * 100.0 / whole as f64;
    let shown = if part > 0 && pct < 1.0 {
        "<1".to_owned()
    } else if part < whole && pct > 99.0 {
        "99".to_owned()
    } else {
        format!("{pct:.0}")
    };
    format!("{shown}%")
}

/// Whether no entry request failed: `no` as soon as one did; `yes` only for a run that
/// finished and was measured (an interrupted run, or one the machine could not keep up
/// with, has not shown that nothing fails: `unknown`).
fn graceful_cell(run: &RunSummary) -> &'static str {
    if !run.graceful() {
        "no"
    } else if run.judged() {
        "yes"
    } else {
        "unknown"
    }
}

/// `agrees`, or the steps where the measurement differs from the prediction.
fn agreement(run: &RunSummary) -> String {
    let labels =
        |kinds: &[StepKind]| -> Vec<String> { kinds.iter().map(StepKind::label).collect() };
    let unmeasured = labels(&run.unmeasured);
    let differing = labels(&run.differing);
    let mut said = Vec::new();
    if !differing.is_empty() {
        said.push(format!("differs: {}", differing.join(", ")));
    }
    if !unmeasured.is_empty() {
        said.push(format!("not measured: {}", unmeasured.join(", ")));
    }
    if said.is_empty() {
        "agrees".to_owned()
    } else {
        said.join("; ")
    }
}
