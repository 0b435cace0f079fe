//! The live run's report: a table per strategy with the sections under it
//! (`sections`), a comparison, the verdict, and the JSON form of the same data (`json`).

mod cascade;
pub(crate) mod json;
mod sections;

use std::fmt::Write as _;

use super::{conflict_text, plural};
use crate::model::{Load, Scenario};
use crate::plan::PlanError;
use crate::record::result::{LiveRun, LiveSummary, RunSummary, StrategyRun, Unplanned, Verdict};
use crate::record::{Event, Lag, StepKind};
use crate::runtime::net::Net;

pub(crate) use json::step_json;
pub use json::{
    CauseJson, EdgeJson, EntryJson, ExpectationJson, LagJson, LiveReport, MitigationJson,
    NotPlannedJson, Requests, StepJson, StrategyJson, json, json_head, json_tail, strategy_json,
};
pub(crate) use sections::unseen_text;

/// Per-strategy tables, then the comparison and the verdict. `quiet` leaves out the
/// per-strategy tables. (The command line renders the same pieces as each strategy
/// ends: [`header`], [`section`], [`footer`].)
pub fn text(scenario: &Scenario, seed: u64, net: Net, live: &LiveRun, quiet: bool) -> String {
    let mut out = header(scenario, seed, net);
    if !quiet {
        for run in &live.runs {
            out.push_str(&section(scenario, net, run));
        }
    }
    out.push_str(&footer(scenario, seed, net, &live.summary(scenario)));
    out
}

/// The report's first line: the scenario, where it runs, and its load.
pub fn header(scenario: &Scenario, seed: u64, net: Net) -> String {
    format!(
        "scenario {} (seed {seed}): {} services {}, {}\n{}",
        scenario.name,
        scenario.services.len(),
        net_text(net),
        super::load_text(scenario),
        super::warning_lines(scenario)
    )
}

/// One strategy's part of the report: its table and the sections under it.
pub fn section(scenario: &Scenario, net: Net, run: &StrategyRun) -> String {
    let mut out = String::from("\n");
    sections::strategy(&mut out, scenario, net, run);
    out
}

/// The report's end: the strategies not run, the comparison and the verdict.
pub fn footer(scenario: &Scenario, seed: u64, net: Net, live: &LiveSummary) -> String {
    let mut out = String::new();
    for unplanned in &live.unplanned {
        out.push('\n');
        not_run(&mut out, unplanned);
    }
    if !live.runs.is_empty() {
        out.push('\n');
        sections::comparison(&mut out, &live.runs);
    }
    out.push('\n');
    verdict_line(&mut out, scenario, seed, net, live);
    out
}

/// A strategy that was not run: why it cannot be planned, and the fix when one is known.
fn not_run(out: &mut String, unplanned: &Unplanned) {
    let _ = writeln!(
        out,
        "strategy {}: not run: {}",
        unplanned.strategy.name, unplanned.error
    );
    if let PlanError::NoSafeOrder { conflicts, .. } = &unplanned.error {
        for (summary, fix) in conflicts.iter().map(conflict_text) {
            let _ = writeln!(out, "  conflict: {summary}");
            if let Some(fix) = fix {
                let _ = writeln!(out, "  fix: {fix}");
            }
        }
    }
    let _ = writeln!(
        out,
        "  `simulate check` shows every state of every order and what makes one safe"
    );
}

/// The verdict line without its `verdict: ` label, for a pipeline's summary.
pub(crate) fn verdict_sentence(
    scenario: &Scenario,
    seed: u64,
    net: Net,
    live: &LiveSummary,
) -> String {
    let mut out = String::new();
    verdict_line(&mut out, scenario, seed, net, live);
    out.trim().trim_start_matches("verdict: ").to_owned()
}

/// The last line: the verdict over every strategy, and how to rerun a run that failed.
fn verdict_line(out: &mut String, scenario: &Scenario, seed: u64, net: Net, live: &LiveSummary) {
    // Strategies that ran: one that could not be planned is reported above on its own.
    let strategies = live.runs.len();
    let strategies_word = plural(strategies, "strategy", "strategies");
    let unexpected: Vec<&str> = live
        .runs
        .iter()
        .filter(|run| run.strategy.expect.is_empty())
        .map(|run| run.strategy.name.as_str())
        .collect();
    let _ = match Verdict::of(live) {
        Verdict::Interrupted => {
            writeln!(
                out,
                "interrupted: the report covers what ran before Ctrl-C; nothing was judged"
            )
        }
        Verdict::Pass if unexpected.is_empty() => writeln!(
            out,
            "verdict: pass ({strategies} {strategies_word}, every expectation held){}",
            swallowed_clause(&live.runs)
        ),
        Verdict::Pass => writeln!(
            out,
            "verdict: pass ({} of {strategies} {strategies_word} judged, every expectation held; \
             nothing judged for {}: no expectation set){}",
            strategies - unexpected.len(),
            unexpected.join(", "),
            swallowed_clause(&live.runs)
        ),
        Verdict::NothingJudged => writeln!(
            out,
            "verdict: nothing judged: no expectation set ({strategies} {strategies_word}); {}{}; \
             to judge, add `expect: {{ graceful: true }}` to the scenario or pass --expect graceful",
            failed_anyway(&live.runs),
            swallowed_clause(&live.runs)
        ),
        Verdict::Fail(failed) => {
            let (unplanned, ran): (Vec<&String>, Vec<&String>) = failed
                .iter()
                .partition(|name| live.unplanned.iter().any(|u| &u.strategy.name == *name));
            let mut why = Vec::new();
            if !ran.is_empty() {
                why.push(format!(
                    "{} of {} {} run did not meet expectations: {}",
                    ran.len(),
                    live.runs.len(),
                    plural(live.runs.len(), "strategy", "strategies"),
                    join(&ran)
                ));
            }
            if !unplanned.is_empty() {
                why.push(format!(
                    "{} {} asked for and cannot be planned, see above",
                    join(&unplanned),
                    if unplanned.len() == 1 { "was" } else { "were" }
                ));
            }
            let rerun = if ran.is_empty() {
                String::new()
            } else {
                format!("; rerun with {}{}", rerun(seed, net), expect_flag(live))
            };
            writeln!(out, "verdict: fail ({}){rerun}", why.join("; "))
        }
        Verdict::Inconclusive(unmeasured) => writeln!(
            out,
            "verdict: inconclusive ({}, not the services, limited {} of {strategies} {strategies_word}: {}); \
             neither pass nor fail: {}; rerun with {}",
            limit_of(net),
            unmeasured.len(),
            unmeasured.join(", "),
            advice(scenario, net),
            rerun(seed, net) + expect_flag(live)
        ),
    };
}

/// ` --expect graceful` when the run's expectations came from it, for the rerun hint.
fn expect_flag(live: &LiveSummary) -> &'static str {
    if live.expect_graceful {
        " --expect graceful"
    } else {
        ""
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|name| name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `; calls failed with no request hearing of it in batch (swallowed, above)` when a call
/// whose failures no request hears of failed: graceful, yet something broke.
fn swallowed_clause(runs: &[RunSummary]) -> String {
    let names: Vec<&str> = runs
        .iter()
        .filter(|run| !run.swallowed.is_empty())
        .map(|run| run.strategy.name.as_str())
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(
            "; calls failed with no request hearing of it in {} (swallowed, above)",
            names.join(", ")
        )
    }
}

/// What failed in runs nobody judged: `batch lost 12 of 1,550 requests (0.8%)`, per
/// strategy, or that nothing failed.
fn failed_anyway(runs: &[RunSummary]) -> String {
    let failed: Vec<String> = runs
        .iter()
        .filter(|run| run.total.failed > 0)
        .map(|run| {
            format!(
                "{} {} of {} requests ({})",
                run.strategy.name,
                run.total.failed,
                run.total.requests(),
                percent(run.total.failed_ratio())
            )
        })
        .collect();
    if failed.is_empty() {
        "no entry request failed".to_owned()
    } else {
        format!("failed anyway: {}", failed.join(", "))
    }
}

/// What kept a step from being measured: live, the machine (late arrivals, overrun waits,
/// refusals); in virtual time nothing is late, so only `load.max_in_flight` refusing
/// arrivals can.
fn limit_of(net: Net) -> &'static str {
    match net {
        Net::Live | Net::Processes => "the machine",
        Net::Sim => "load.max_in_flight",
    }
}

/// What makes a run that the harness could not keep up with measurable. Raising
/// `load.max_in_flight` is advised only while it can still be raised.
fn advice(scenario: &Scenario, net: Net) -> String {
    let in_flight = scenario.load.max_in_flight;
    let can_raise = in_flight < Load::MAX_IN_FLIGHT;
    if net == Net::Sim {
        let raise = if can_raise {
            format!("raise load.max_in_flight (now {in_flight}) or lower ")
        } else {
            format!("lower (load.max_in_flight is at its maximum, {in_flight}) ")
        };
        return format!(
            "{raise}{}: in virtual time only arrivals refused because that many requests were \
             outstanding leave a step unmeasured",
            super::rates_text(scenario)
        );
    }
    let entrypoints = scenario.entrypoints().count();
    let mut advice = format!("lower {}", super::rates_text(scenario));
    if entrypoints > 1 {
        let _ = write!(advice, ", use fewer entrypoints (now {entrypoints})");
    }
    if can_raise {
        let _ = write!(
            advice,
            ", raise load.max_in_flight if requests were refused (now {in_flight})"
        );
    }
    if net == Net::Processes {
        // Every replica is a process here: a step starts and stops its new and old
        // ones, which takes the machine's time from the load.
        advice.push_str(
            ", run fewer replicas (each is a process of its own here) or without --net processes",
        );
    }
    advice.push_str(", or run on a machine with more cores");
    advice
}

/// Why a step was not measured: how far the harness fell behind.
fn lag_text(lag: &Lag) -> String {
    let mut parts = Vec::new();
    if lag.late_arrivals > 0 {
        parts.push(format!(
            "{} of {} arrivals were sent more than {} ms late (the latest {} ms late)",
            lag.late_arrivals,
            lag.arrivals,
            Lag::LATE_ARRIVAL.as_millis(),
            lag.max_arrival_late.as_millis()
        ));
    }
    if lag.refused > 0 {
        parts.push(format!(
            "{} of {} arrivals were refused because load.max_in_flight requests were outstanding",
            lag.refused, lag.arrivals
        ));
    }
    if lag.overrun > Lag::MAX_OVERRUN {
        parts.push(format!(
            "its timed waits ended {} ms later than asked",
            lag.overrun.as_millis()
        ));
    }
    parts.join("; ")
}

/// Where in a run a step is, as a sentence says it: `baseline`, `step 2`, `rollback 2`.
fn place(kind: StepKind) -> String {
    match kind {
        StepKind::Rollout(_) => format!("step {}", kind.label()),
        StepKind::Baseline | StepKind::Rollback(_) | StepKind::KillSwitch(_) => kind.label(),
    }
}

/// Where the replicas ran, as the first line says it.
pub fn net_text(net: Net) -> &'static str {
    match net {
        Net::Live => "live on 127.0.0.1",
        Net::Sim => "on a simulated network in virtual time (--net sim)",
        Net::Processes => "live on 127.0.0.1, each replica a process of its own (--net processes)",
    }
}

/// The options that rerun the same run.
pub fn rerun(seed: u64, net: Net) -> String {
    match net {
        Net::Live => format!("--seed {seed}"),
        Net::Sim => format!("--seed {seed} --net sim"),
        Net::Processes => format!("--seed {seed} --net processes"),
    }
}

/// An event as the report says it: `kill recommend started`.
pub fn event_text(scenario: &Scenario, event: &Event) -> String {
    let fault = |index: &usize| {
        scenario
            .faults
            .get(*index)
            .map_or_else(|| format!("fault {index}"), |fault| fault.kind.to_string())
    };
    match event {
        Event::FaultStarted(index) => format!("{} started", fault(index)),
        Event::FaultEnded(index) => format!("{} ended", fault(index)),
        Event::FaultNotEnded {
            fault: index,
            error,
        } => {
            format!("{} could not end: {error}", fault(index))
        }
        Event::Crashed { service, count } => format!(
            "{count} {} of {service} crashed and {} replaced",
            crate::report::plural(*count as usize, "replica", "replicas"),
            crate::report::plural(*count as usize, "was", "were")
        ),
        Event::DrainTimedOut { service, replica } => format!(
            "{service} replica {replica} still had calls in flight after its drain limit; it was stopped and they were cut"
        ),
        Event::ReplicaExited {
            service,
            replica,
            code,
        } => format!(
            "{service} replica {replica} (a process of its own) exited without being asked ({}): calls to it fail until a rollout move or a restart replaces it",
            code.map_or_else(|| "ended by a signal".to_owned(), |code| format!("exit code {code}"))
        ),
        Event::CountsLost { service, replica } => format!(
            "{service} replica {replica} (a process of its own) did not hand over its counts: its calls and requests since its last are missing from the edges (not from the entry requests)"
        ),
        Event::GateBreached { failed, answered } => format!(
            "the gate was breached: {failed} of the {answered} requests answered by the end of the bake time failed ({}), more than max_failed_ratio {}",
            percent(*failed as f64 / (*answered).max(1) as f64),
            scenario
                .gate
                .as_ref()
                .map_or_else(|| "-".to_owned(), |gate| percent(gate.max_failed_ratio))
        ),
        Event::GatePassed {
            failed,
            answered,
            startup,
        } => {
            let limit = scenario
                .gate
                .as_ref()
                .map_or_else(|| "-".to_owned(), |gate| percent(gate.max_failed_ratio));
            let diluted = if *startup > scenario.load.bake {
                format!(
                    "; its requests include the step's {} wait for new replicas to be ready, longer than its {} bake time, \
                     which dilutes the failures after the switch",
                    super::duration_text(*startup),
                    super::duration_text(scenario.load.bake)
                )
            } else {
                String::new()
            };
            format!(
                "the gate let the step pass: {failed} of the {answered} requests answered by the end of the bake time failed ({}), within max_failed_ratio {limit}{diluted}",
                percent(*failed as f64 / (*answered).max(1) as f64),
            )
        }
        Event::GateNotJudged => {
            "the gate did not judge this step: the harness fell behind in it".to_owned()
        }
        Event::NothingToSwitchOff => {
            "the kill switch found no flag the rollout had released: nothing to switch off, the rollout stopped; \
             the breach came from a deploy, which only a rollback undoes"
                .to_owned()
        }
    }
}

/// A latency in milliseconds as a table shows it: whole above 100, one decimal below.
fn format_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// `12.5%` of a ratio.
fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// `12.5%` of `part` in `whole`.
fn share(part: u64, whole: u64) -> String {
    format!("{:.1}%", part as f64 * 100.0 / whole.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_max_in_flight_is_advised_only_below_its_maximum() {
        let mut scenario = crate::scenario::inline(
            "name: s\nservices:\n  web: { entrypoint: true, versions: { v1: {} } }\ninitial: { web: v1 }\n",
        );
        for net in [Net::Live, Net::Sim] {
            let said = advice(&scenario, net);
            assert!(
                said.contains("raise load.max_in_flight") && said.contains("(now 1000)"),
                "{said}"
            );
        }
        scenario.load.max_in_flight = Load::MAX_IN_FLIGHT;
        for net in [Net::Live, Net::Sim] {
            let said = advice(&scenario, net);
            assert!(!said.contains("raise"), "{said}");
            assert!(said.contains("lower"), "{said}");
        }
    }
}
