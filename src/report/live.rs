//! The live run's report: a table per strategy, a comparison, the verdict, and the JSON
//! form of the same data.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{changes_cell, conflict_text, path_text, plan_error_text, plural, table};
use crate::contract::CLIENT;
use crate::eval::{Graph, Level};
use crate::model::{Breach, Scenario};
use crate::plan::PlanError;
use crate::record::StepKind;
use crate::record::expect::{Expectation, Measured, Rule};
use crate::record::result::{Ending, LiveRun, StepResult, StrategyRun, Verdict};
use crate::record::tally::{Percentiles, Tally};
use crate::record::{Event, Lag};
use crate::runtime::net::Net;

/// Causes shown per step in the table; the JSON has all of them.
const TOP_CAUSES: usize = 3;

/// Per-strategy tables, then the comparison and the verdict. `quiet` leaves out the
/// per-strategy tables.
pub fn text(scenario: &Scenario, seed: u64, net: Net, live: &LiveRun, quiet: bool) -> String {
    let runs = &live.runs;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} (seed {seed}): {} services {}, {}",
        scenario.name,
        scenario.services.len(),
        net_text(net),
        super::load_text(scenario)
    );
    if !quiet {
        for run in runs {
            out.push('\n');
            strategy_table(&mut out, scenario, net, run);
        }
    }
    for unplanned in &live.unplanned {
        out.push('\n');
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
    out.push('\n');
    comparison(&mut out, runs);
    out.push('\n');
    let strategies = runs.len() + live.unplanned.len();
    match Verdict::of(live) {
        Verdict::Interrupted => {
            let _ = writeln!(out, "interrupted: the report covers what ran before Ctrl-C");
        }
        Verdict::Pass => {
            let _ = writeln!(
                out,
                "verdict: pass ({} {}, every expectation held)",
                strategies,
                plural(strategies, "strategy", "strategies")
            );
        }
        Verdict::Fail(failed) => {
            let _ = writeln!(
                out,
                "verdict: fail ({} of {} {} did not meet expectations: {}); rerun with {}",
                failed.len(),
                strategies,
                plural(strategies, "strategy", "strategies"),
                failed.join(", "),
                rerun(seed, net)
            );
        }
        Verdict::Inconclusive(unmeasured) => {
            let _ = writeln!(
                out,
                "verdict: inconclusive ({}, not the services, limited {} of {} {}: {}); \
                 neither pass nor fail: {}; rerun with {}",
                limit_of(net),
                unmeasured.len(),
                strategies,
                plural(strategies, "strategy", "strategies"),
                unmeasured.join(", "),
                advice(scenario, net),
                rerun(seed, net)
            );
        }
    }
    out
}

/// What kept a step from being measured: live, the machine (late arrivals, overrun waits,
/// refusals); in virtual time nothing is late, so only `load.max_in_flight` refusing
/// arrivals can.
fn limit_of(net: Net) -> &'static str {
    match net {
        Net::Live => "the machine",
        Net::Sim => "load.max_in_flight",
    }
}

/// What makes a run that the harness could not keep up with measurable.
fn advice(scenario: &Scenario, net: Net) -> String {
    if net == Net::Sim {
        return format!(
            "raise load.max_in_flight (now {}) or lower {}: \
             in virtual time only arrivals refused because that many requests were \
             outstanding leave a step unmeasured",
            scenario.load.max_in_flight,
            super::rates_text(scenario)
        );
    }
    let entrypoints = scenario.entrypoints().count();
    let mut advice = format!("lower {}", super::rates_text(scenario));
    if entrypoints > 1 {
        let _ = write!(advice, ", use fewer entrypoints (now {entrypoints})");
    }
    let _ = write!(
        advice,
        ", raise load.max_in_flight if requests were refused (now {}), or run on a machine with more cores",
        scenario.load.max_in_flight
    );
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
    }
}

/// The options that rerun the same run.
pub fn rerun(seed: u64, net: Net) -> String {
    match net {
        Net::Live => format!("--seed {seed}"),
        Net::Sim => format!("--seed {seed} --net sim"),
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
        Event::DrainTimedOut { service, replica } => format!(
            "{service} replica {replica} still had calls in flight after its drain limit; it was stopped and they were cut"
        ),
        Event::GateBreached { failed, answered } => format!(
            "the gate was breached: {failed} of the {answered} requests answered by the end of the bake time failed ({}), more than max_failed_ratio {}",
            percent(*failed as f64 / (*answered).max(1) as f64),
            scenario
                .gate
                .as_ref()
                .map_or_else(|| "-".to_owned(), |gate| percent(gate.max_failed_ratio))
        ),
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

/// The JSON word of a verdict: `pass`, `fail` (an interrupted run is not a pass) or
/// `inconclusive`.
pub fn verdict_word(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail(_) | Verdict::Interrupted => "fail",
        Verdict::Inconclusive(_) => "inconclusive",
    }
}

fn strategy_table(out: &mut String, scenario: &Scenario, net: Net, run: &StrategyRun) {
    let planned = run
        .steps
        .iter()
        .filter(|step| matches!(step.kind, StepKind::Rollout(_)))
        .count();
    let kind = match run.strategy.kind {
        crate::model::StrategyKind::Steps(_) => " (steps)",
        _ => "",
    };
    let _ = writeln!(
        out,
        "strategy {}{kind}: {planned} {} in {:.1} s; {}",
        run.strategy.name,
        plural(planned, "step", "steps"),
        run.duration.as_secs_f64(),
        if !run.kept_up() {
            let unmeasured = run.steps.iter().filter(|step| !step.kept_up()).count();
            format!(
                "inconclusive: {} fell behind in {unmeasured} {} ({} of {} failed)",
                limit_of(net),
                plural(unmeasured, "step", "steps"),
                run.total.failed,
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
        }
    );
    let with_flags = !scenario.flags.is_empty();
    let mut header: Vec<String> = ["step", "changes"].map(str::to_owned).to_vec();
    if with_flags {
        header.push("flags".to_owned());
    }
    let mut rows = vec![
        [
            "ok",
            "degraded",
            "failed",
            "p50 ms",
            "p99 ms",
            "predicted",
            "top causes",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    rows[0].splice(0..0, header);
    for step in &run.steps {
        let p = step.total.percentiles();
        let mut label = step.kind.label();
        if step.gate_breached {
            label.push_str(" gate!");
        }
        let mut row = vec![label, step_changes(step)];
        if with_flags {
            row.push(super::flags_cell(&step.flags));
        }
        rows.push(row);
        let row = rows.last_mut().expect("pushed just above");
        row.extend([
            step.total.ok.to_string(),
            step.total.degraded.to_string(),
            step.total.failed.to_string(),
            format_ms(p.p50),
            format_ms(p.p99),
            predicted_cell(step),
            top_causes(&step.total),
        ]);
    }
    out.push_str(&table(&rows, "  "));
    flagged_calls(out, scenario, run);
    async_calls(out, scenario, run);
    per_method(out, scenario, run);
    let unseen = unseen_failures(scenario, run.steps.iter());
    if !unseen.is_empty() {
        let _ = writeln!(
            out,
            "  failed calls no request saw (ignored or asynchronous): {}",
            unseen.join(", ")
        );
    }
    if run.graph.entries.len() > 1 {
        per_entrypoint(out, run);
    }
    for step in run
        .steps
        .iter()
        .filter(|step| step.kept_up() && !step.agrees())
    {
        let _ = writeln!(
            out,
            "  ! step {}: {}",
            step.kind.label(),
            disagreement(&run.graph, step)
        );
    }
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
    for &fault in &run.faults_never_fired {
        let _ = writeln!(
            out,
            "  note: fault \"{}\" never fired: its step did not run",
            scenario.faults[fault]
        );
    }
    if let Some(mitigation) = &run.mitigation {
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
    match run.ending {
        Ending::Completed => {}
        Ending::RolledBack => {
            let _ = writeln!(
                out,
                "  the gate was breached: rolled back to the initial versions"
            );
        }
        Ending::Stopped => {
            let _ = writeln!(out, "  the gate was breached: the rollout stopped there");
        }
        Ending::Switched => {
            let _ = writeln!(
                out,
                "  the gate was breached: the kill switch unreleased the flags; the rollout stopped there"
            );
        }
        Ending::Interrupted => {
            let _ = writeln!(out, "  interrupted (Ctrl-C)");
        }
    }
    for step in run.steps.iter().filter(|step| !step.kept_up()) {
        let _ = writeln!(
            out,
            "  ~ step {}: not measured: {} fell behind ({})",
            step.kind.label(),
            limit_of(net),
            lag_text(&step.lag)
        );
    }
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
            if expectation.held { "held" } else { "FAILED" },
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
    struct Entry {
        name: String,
        ok: u64,
        degraded: u64,
        failed: u64,
        worst_p99: f64,
        first_failed: Option<String>,
    }
    let mut entries: Vec<Entry> = run
        .graph
        .entry_names()
        .into_iter()
        .map(|name| {
            let mut entry = Entry {
                name,
                ok: 0,
                degraded: 0,
                failed: 0,
                worst_p99: 0.0,
                first_failed: None,
            };
            for step in &run.steps {
                let Some(tally) = step.by_entry.get(&entry.name) else {
                    continue;
                };
                entry.ok += tally.ok;
                entry.degraded += tally.degraded;
                entry.failed += tally.failed;
                entry.worst_p99 = entry.worst_p99.max(tally.percentiles().p99);
                if tally.failed > 0 && entry.first_failed.is_none() {
                    entry.first_failed = Some(place(step.kind));
                }
            }
            entry
        })
        .collect();
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
            entry
                .first_failed
                .as_deref()
                .map_or_else(|| "-".to_owned(), str::to_owned),
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
    let word = step.predicted.worst().word();
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
            .explaining(entry)
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
            predicted.word(),
            measured.word()
        ));
    }
    parts.join("; ")
}

/// One line per call behind a flag: how many calls it carried in each step, so a user
/// sees that a dark call was never made.
fn flagged_calls(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    for (edge, flag) in flagged_edges(scenario) {
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
fn async_calls(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    let any = scenario
        .services
        .values()
        .flat_map(|service| service.versions.values())
        .flat_map(|version| version.every_call())
        .any(|call| call.asynchronous);
    if !any {
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
    let _ = writeln!(
        out,
        "  asynchronous calls started per step: {} (their failures are on their edges)",
        counts.join(", ")
    );
}

/// One line per entrypoint with a mix of several methods: each method's entry requests
/// over the run and how many failed, from the load generator's edges (an entry request's
/// outcome is its edge's): which part of the traffic a failure hits.
fn per_method(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    for (entry, methods) in run.graph.entry_methods.iter().enumerate() {
        if methods.len() < 2 {
            continue;
        }
        let name = run.graph.entry_name(entry);
        let api = scenario.entry_api(name);
        let cells: Vec<String> = methods
            .iter()
            .map(|method| {
                let edge = crate::contract::Edge::new(CLIENT, name, &api)
                    .to_method((method != crate::model::DEFAULT_METHOD).then_some(method.as_str()))
                    .to_string();
                let (calls, failed, degraded) = run
                    .steps
                    .iter()
                    .filter_map(|step| step.traffic.edges.get(&edge))
                    .fold((0, 0, 0), |(c, f, d), counts| {
                        (c + counts.calls, f + counts.failed, d + counts.degraded)
                    });
                let mut cell = format!("{method} {calls}");
                if failed > 0 {
                    let _ = write!(cell, ", {failed} failed ({})", share(failed, calls));
                }
                if degraded > 0 {
                    let _ = write!(cell, ", {degraded} degraded ({})", share(degraded, calls));
                }
                cell
            })
            .collect();
        let _ = writeln!(out, "  {name} by method: {}", cells.join("; "));
    }
}

/// `12.5%` of `part` in `whole`.
fn share(part: u64, whole: u64) -> String {
    format!("{:.1}%", part as f64 * 100.0 / whole.max(1) as f64)
}

/// Edges whose failures no entry request sees, by construction: calls that are
/// asynchronous or whose rule ignores some code (a failure passed up or degrading a
/// request is named in the request's causes instead). `edge N of M calls` for those that
/// failed in `steps`, in name order.
pub(crate) fn unseen_failures<'a>(
    scenario: &Scenario,
    steps: impl Iterator<Item = &'a StepResult>,
) -> Vec<String> {
    let mut quiet: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for service in scenario.services.values() {
        for version in service.versions.values() {
            for call in version.every_call() {
                let ignores = call.on_failure.default == crate::model::Action::Ignore
                    || call
                        .on_failure
                        .by_code
                        .contains(&Some(crate::model::Action::Ignore));
                if call.asynchronous || ignores {
                    let edge = crate::contract::Edge::new(&service.name, &call.service, &call.api)
                        .to_method(call.method.as_deref());
                    quiet.insert(edge.to_string());
                }
            }
        }
    }
    let mut failed: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for step in steps {
        for (edge, counts) in &step.traffic.edges {
            if counts.failed > 0 && quiet.contains(edge) {
                let total = failed.entry(edge.as_str()).or_default();
                total.0 += counts.failed;
                total.1 += counts.calls;
            }
        }
    }
    failed
        .into_iter()
        .map(|(edge, (failed, calls))| format!("{edge} {failed} of {calls} calls"))
        .collect()
}

/// Every edge a call behind a flag can take, with its flag, in name order.
fn flagged_edges(scenario: &Scenario) -> BTreeMap<String, String> {
    let mut edges = BTreeMap::new();
    for service in scenario.services.values() {
        for version in service.versions.values() {
            for call in version.every_call() {
                if let Some(flag) = &call.flag {
                    let edge = crate::contract::Edge::new(&service.name, &call.service, &call.api)
                        .to_method(call.method.as_deref());
                    edges.insert(edge.to_string(), flag.clone());
                }
            }
        }
    }
    edges
}

fn step_changes(step: &StepResult) -> String {
    match step.kind {
        StepKind::Baseline => "-".to_owned(),
        _ => changes_cell(&step.changes, &step.flag_changes, step.index.max(1)),
    }
}

fn format_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
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

fn comparison(out: &mut String, runs: &[StrategyRun]) {
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
            yes_no(run.graceful()).to_owned(),
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
                "none".to_owned()
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
}

/// `agrees`, or the steps where the measurement differs from the prediction.
fn agreement(run: &StrategyRun) -> String {
    let labels = |keep: &dyn Fn(&StepResult) -> bool| -> Vec<String> {
        run.steps
            .iter()
            .filter(|step| keep(step))
            .map(|step| step.kind.label())
            .collect()
    };
    let unmeasured = labels(&|step| !step.kept_up());
    let differing = labels(&|step| step.kept_up() && !step.agrees());
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

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// `simulate SCENARIO --json`: the fields the product contract fixes, and more.
#[derive(Debug, Serialize)]
pub struct LiveReport {
    pub scenario: String,
    pub seed: u64,
    /// `live` or `sim`.
    pub net: &'static str,
    pub verdict: &'static str,
    pub interrupted: bool,
    pub strategies: Vec<StrategyJson>,
    /// Strategies that were not run because they cannot be planned (no safe order).
    pub not_planned: Vec<NotPlannedJson>,
}

#[derive(Debug, Serialize)]
pub struct NotPlannedJson {
    pub name: String,
    pub error: String,
    pub conflicts: Vec<super::check::ConflictJson>,
}

#[derive(Debug, Serialize)]
pub struct StrategyJson {
    pub name: String,
    pub kind: String,
    pub graceful: bool,
    pub rolled_back: bool,
    /// completed, rolled_back, stopped or interrupted.
    pub ending: &'static str,
    pub duration_ms: u64,
    /// Entry requests the load generator scheduled: always `requests.sent`.
    pub scheduled: u64,
    pub requests: Requests,
    pub latency_ms: Percentiles,
    /// The version of every replica running when the rollout ended, per service.
    pub running_after: BTreeMap<String, Vec<String>>,
    /// False when the run was interrupted or the machine fell behind in a step: then
    /// `expectations` is empty and the strategy neither passes nor fails.
    pub judged: bool,
    pub expectations: Vec<ExpectationJson>,
    pub faults_never_fired: Vec<String>,
    /// How a gate breach was mitigated (rollback or kill switch); `null` when none was.
    pub mitigation: Option<MitigationJson>,
    pub steps: Vec<StepJson>,
}

#[derive(Debug, Serialize)]
pub struct MitigationJson {
    /// `rollback` or `kill_switch`.
    pub action: &'static str,
    /// The index of the step whose gate breached.
    pub breached_step: usize,
    /// The index of the step from whose settled part on no entry request failed;
    /// `null` when service was not restored.
    pub restored_step: Option<usize>,
    /// From the gate's decision to the restoration (to the end of the mitigation's last
    /// moves when service was not restored).
    pub time_ms: u64,
    /// Entry requests that failed before service was restored (the breached step's and
    /// the mitigation's until then).
    pub failed_before: u64,
    /// Entry requests of the mitigation that failed after that.
    pub failed_after: u64,
}

#[derive(Debug, Serialize)]
pub struct EdgeJson {
    pub edge: String,
    pub calls: u64,
    pub ok: u64,
    pub degraded: u64,
    pub failed: u64,
}

#[derive(Debug, Serialize)]
pub struct StepJson {
    pub index: usize,
    /// baseline, rollout or rollback.
    pub kind: &'static str,
    /// The rollout step this is (or undoes); 0 for the baseline.
    pub plan_step: usize,
    pub changes: Vec<super::ChangeJson>,
    /// The step's flag changes (`release show-reviews`, `show-reviews 10%`).
    pub flag_changes: Vec<String>,
    /// Every flag's percent of users once the step's changes are made (0: off).
    pub flags: BTreeMap<String, u8>,
    pub requests: Requests,
    pub latency_ms: Percentiles,
    pub causes: Vec<CauseJson>,
    /// The calls each edge carried for the step's entry requests (the load generator's
    /// edges are `client -> ...`); an edge with no call is left out.
    pub edges: Vec<EdgeJson>,
    /// Requests each service's replicas received for the step's entry requests.
    pub received: BTreeMap<String, u64>,
    /// The step's asynchronous calls: started, dropped (a replica's backlog was full)
    /// and the most in flight at once (their outcomes are on their edges).
    pub asynchronous: crate::record::traffic::Backlog,
    pub entrypoints: BTreeMap<String, EntryJson>,
    pub events: Vec<String>,
    pub gate_breached: bool,
    pub duration_ms: u64,
    /// Per entrypoint: what `check` predicts for the step (with the faults in force) and
    /// the worst outcome measured (`null`: no request).
    pub predicted: BTreeMap<String, Level>,
    pub measured: BTreeMap<String, Option<Level>>,
    /// True when every measured outcome is the predicted one; `null` for a step the
    /// machine fell behind in, which was not measured.
    pub agrees: Option<bool>,
    /// How far the harness fell behind; with `kept_up: false` the step was not measured.
    pub lag: LagJson,
}

#[derive(Debug, Serialize)]
pub struct LagJson {
    pub arrivals: u64,
    /// Arrivals sent more than 50 ms after their scheduled time.
    pub late_arrivals: u64,
    /// Arrivals refused because `load.max_in_flight` requests were outstanding.
    pub refused: u64,
    pub max_arrival_late_ms: u64,
    /// How much longer than asked the runner's timed waits took.
    pub overrun_ms: u64,
    pub kept_up: bool,
}

/// One expectation as the report says it: the scenario key, what it asks, what was
/// measured, and whether it held.
#[derive(Debug, Serialize)]
pub struct ExpectationJson {
    pub key: &'static str,
    pub expected: String,
    pub actual: String,
    pub held: bool,
}

impl From<&Expectation> for ExpectationJson {
    fn from(expectation: &Expectation) -> Self {
        let expected = match &expectation.rule {
            Rule::Graceful(true) => "no entry request fails".to_owned(),
            Rule::Graceful(false) => "some entry request fails (graceful: false)".to_owned(),
            Rule::MaxFailedRatio(max) => format!("failed ratio <= {max}"),
            Rule::MaxDegradedRatio(max) => format!("degraded ratio <= {max}"),
            Rule::P99(max) => format!("p99 <= {} ms", max.as_secs_f64() * 1000.0),
        };
        let actual = match &expectation.measured {
            Measured::Failed {
                failed,
                requests,
                steps,
            } => {
                let places: Vec<String> = steps.iter().copied().map(place).collect();
                let where_failed = if places.is_empty() {
                    String::new()
                } else {
                    format!(" (in {})", places.join(", "))
                };
                format!("{failed} of {requests} entry requests failed{where_failed}")
            }
            Measured::Ratio(ratio) => format!("{ratio:.4}"),
            Measured::P99Ms(ms) => format!("{ms} ms"),
        };
        ExpectationJson {
            key: expectation.rule.key(),
            expected,
            actual,
            held: expectation.held,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Requests {
    pub sent: u64,
    pub ok: u64,
    pub degraded: u64,
    pub failed: u64,
}

#[derive(Debug, Serialize)]
pub struct CauseJson {
    /// `caller -> callee api V`; the caller of entry requests is `client`.
    pub edge: String,
    /// A gRPC code name, or `overload` / `shutdown` for requests the load generator
    /// itself failed.
    pub code: String,
    pub count: u64,
    pub failed: u64,
    pub degraded: u64,
}

#[derive(Debug, Serialize)]
pub struct EntryJson {
    pub requests: Requests,
    pub latency_ms: Percentiles,
}

fn requests(tally: &Tally) -> Requests {
    Requests {
        sent: tally.requests(),
        ok: tally.ok,
        degraded: tally.degraded,
        failed: tally.failed,
    }
}

/// Builds the JSON form of the live report.
pub fn json(scenario: &Scenario, seed: u64, net: Net, live: &LiveRun) -> LiveReport {
    let strategies = live
        .runs
        .iter()
        .map(|run| StrategyJson {
            name: run.strategy.name.clone(),
            kind: run.strategy.kind.label().to_owned(),
            graceful: run.graceful(),
            rolled_back: run.ending == Ending::RolledBack,
            ending: match run.ending {
                Ending::Completed => "completed",
                Ending::RolledBack => "rolled_back",
                Ending::Stopped => "stopped",
                Ending::Switched => "kill_switch",
                Ending::Interrupted => "interrupted",
            },
            duration_ms: millis(run.duration),
            scheduled: run.scheduled,
            requests: requests(&run.total),
            latency_ms: run.total.percentiles(),
            running_after: run.running.clone(),
            judged: run.judged(),
            expectations: run.expectations.iter().map(ExpectationJson::from).collect(),
            faults_never_fired: run
                .faults_never_fired
                .iter()
                .map(|&fault| scenario.faults[fault].to_string())
                .collect(),
            mitigation: run.mitigation.map(|mitigation| MitigationJson {
                action: match mitigation.action {
                    Breach::KillSwitch => "kill_switch",
                    _ => "rollback",
                },
                breached_step: mitigation.breached_step,
                restored_step: mitigation.restored_in,
                time_ms: millis(mitigation.time),
                failed_before: mitigation.failed_before,
                failed_after: mitigation.failed_after,
            }),
            steps: run
                .steps
                .iter()
                .map(|step| step_json(scenario, &run.graph, step))
                .collect(),
        })
        .collect();
    LiveReport {
        scenario: scenario.name.clone(),
        seed,
        net: net.word(),
        verdict: verdict_word(&Verdict::of(live)),
        interrupted: live.interrupted,
        strategies,
        not_planned: live
            .unplanned
            .iter()
            .map(|unplanned| NotPlannedJson {
                name: unplanned.strategy.name.clone(),
                error: plan_error_text(&unplanned.error),
                conflicts: match &unplanned.error {
                    PlanError::NoSafeOrder { conflicts, .. } => conflicts
                        .iter()
                        .map(super::check::ConflictJson::from)
                        .collect(),
                    PlanError::Cycle { .. } => Vec::new(),
                },
            })
            .collect(),
    }
}

pub(crate) fn step_json(scenario: &Scenario, graph: &Graph, step: &StepResult) -> StepJson {
    let entry_name = |entry: usize| graph.entry_name(entry).to_owned();
    let (kind, plan_step) = match step.kind {
        StepKind::Baseline => ("baseline", 0),
        StepKind::Rollout(n) => ("rollout", n),
        StepKind::Rollback(n) => ("rollback", n),
        StepKind::KillSwitch(n) => ("kill_switch", n),
    };
    StepJson {
        index: step.index,
        kind,
        plan_step,
        changes: step.changes.iter().map(super::ChangeJson::from).collect(),
        flag_changes: step.flag_changes.iter().map(ToString::to_string).collect(),
        flags: step.flags.shares(),
        edges: step
            .traffic
            .edges
            .iter()
            .map(|(edge, counts)| EdgeJson {
                edge: edge.clone(),
                calls: counts.calls,
                ok: counts.ok,
                degraded: counts.degraded,
                failed: counts.failed,
            })
            .collect(),
        received: step.traffic.received.clone(),
        asynchronous: step.traffic.asynchronous,
        requests: requests(&step.total),
        latency_ms: step.total.percentiles(),
        causes: step
            .total
            .top_causes()
            .into_iter()
            .map(|(key, count)| CauseJson {
                edge: key.edge.clone(),
                code: key.code.clone(),
                count: count.total(),
                failed: count.failed,
                degraded: count.degraded,
            })
            .collect(),
        entrypoints: step
            .by_entry
            .iter()
            .map(|(name, tally)| {
                (
                    name.clone(),
                    EntryJson {
                        requests: requests(tally),
                        latency_ms: tally.percentiles(),
                    },
                )
            })
            .collect(),
        events: step
            .events
            .iter()
            .map(|event| event_text(scenario, event))
            .collect(),
        gate_breached: step.gate_breached,
        duration_ms: millis(step.duration),
        predicted: step
            .predicted
            .levels
            .iter()
            .enumerate()
            .map(|(entry, level)| (entry_name(entry), *level))
            .collect(),
        measured: step
            .measured
            .iter()
            .enumerate()
            .map(|(entry, level)| (entry_name(entry), *level))
            .collect(),
        agrees: step.kept_up().then(|| step.agrees()),
        lag: LagJson {
            arrivals: step.lag.arrivals,
            late_arrivals: step.lag.late_arrivals,
            refused: step.lag.refused,
            max_arrival_late_ms: millis(step.lag.max_arrival_late),
            overrun_ms: millis(step.lag.overrun),
            kept_up: step.kept_up(),
        },
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_graceful_expectation_names_the_steps_that_failed() {
        let expectation = Expectation {
            rule: Rule::Graceful(true),
            measured: Measured::Failed {
                failed: 1,
                requests: 11,
                steps: vec![StepKind::Rollout(2), StepKind::Rollback(2)],
            },
            held: false,
        };
        let said = ExpectationJson::from(&expectation);
        assert_eq!(said.expected, "no entry request fails");
        assert_eq!(
            said.actual,
            "1 of 11 entry requests failed (in step 2, rollback 2)"
        );
    }
}
