//! The live run's report as JSON: the fields the product contract fixes, and more.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{event_text, place};
use crate::eval::{Graph, Level};
use crate::model::{Breach, Scenario};
use crate::plan::PlanError;
use crate::record::StepKind;
use crate::record::expect::{Expectation, Measured, Rule};
use crate::record::millis;
use crate::record::result::{Ending, LiveRun, LiveSummary, StepResult, StrategyRun, Verdict};
use crate::record::tally::{Percentiles, Tally};
use crate::report::plan_error_text;
use crate::runtime::net::Net;

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
    pub conflicts: Vec<crate::report::check::ConflictJson>,
}

#[derive(Debug, Serialize)]
pub struct StrategyJson {
    pub name: String,
    pub kind: String,
    /// `false` as soon as an entry request failed; `true` for a finished, measured run in
    /// which none did; `null` when the run was interrupted or not measured and none failed.
    pub graceful: Option<bool>,
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
    /// This strategy's verdict: `pass`, `fail` (an expectation failed, or the run was
    /// interrupted), `inconclusive` (not measured) or `none` (no expectation: nothing
    /// judged, whatever happened).
    pub verdict: &'static str,
    pub expectations: Vec<ExpectationJson>,
    /// Calls whose failures no entry request heard of (`ignore`, `async`) that failed:
    /// per edge, the calls that failed of all its calls over the run.
    pub swallowed: Vec<crate::record::result::UnseenFailures>,
    pub faults_never_fired: Vec<String>,
    /// How a gate breach was mitigated (rollback or kill switch); `null` when none was.
    pub mitigation: Option<MitigationJson>,
    /// Traffic counts refused because their request named a step the run never had (a
    /// request from outside the run); requests naming a real step are counted.
    pub stray_counts: u64,
    /// Every edge's calls over the whole run (`client -> ...` for entry requests).
    pub edge_totals: Vec<EdgeJson>,
    /// Requests each service's replicas received over the whole run.
    pub received_totals: BTreeMap<String, u64>,
    /// Per edge, attempts per entry request over the whole run: the load one request
    /// puts on each callee (retries multiply it).
    pub amplification: BTreeMap<String, f64>,
    /// Per service with `capacity`, its workers' and queue's pressure over the run.
    pub pressure_totals: BTreeMap<String, crate::record::traffic::Pressure>,
    /// Which edges each step's `edges` (and `received`) lists: `every`, or, for a fleet
    /// too large to keep every edge per step, `tracked` (flagged, ignoring and
    /// asynchronous calls; every edge is in `edge_totals`).
    pub edges_per_step: &'static str,
    /// Each entrypoint over the whole run.
    pub entrypoint_totals: Vec<EntryTotalJson>,
    /// Which entrypoints each step's `entrypoints` lists: `every`, or, for a fleet too
    /// large to keep a tally per entrypoint and step, `not_ok` (those with a failed or
    /// degraded request; the others are in `entrypoint_totals`).
    pub entrypoints_per_step: &'static str,
    pub steps: Vec<StepJson>,
}

#[derive(Debug, Serialize)]
pub struct EntryTotalJson {
    pub name: String,
    pub requests: Requests,
    /// The worst p99 latency of one step.
    pub worst_p99_ms: f64,
    /// The step (`baseline`, a step number, `rollback N`) of its first failed request.
    pub first_failed: Option<String>,
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
    /// Attempts sent to the callee, retries among them, and what the caller's
    /// protections did (retries the budget refused, breaker openings, closings and fast
    /// failures, bulkhead refusals).
    #[serde(flatten)]
    pub tries: crate::record::traffic::Tries,
}

/// One step's settled load, predicted and measured.
#[derive(Debug, Serialize)]
pub struct StepLoadJson {
    pub predicted: BTreeMap<String, f64>,
    pub measured: BTreeMap<String, Option<f64>>,
    /// The prediction stands: no service near its workers, and a settled part at least
    /// five times the longest hold.
    pub decided: bool,
    pub undecided: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct StepJson {
    pub index: usize,
    /// baseline, rollout or rollback.
    pub kind: &'static str,
    /// The rollout step this is (or undoes); 0 for the baseline.
    pub plan_step: usize,
    pub changes: Vec<crate::report::ChangeJson>,
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
    /// Per service with `capacity`: requests refused (RESOURCE_EXHAUSTED) and expired in
    /// the queue, the most workers busy and requests queued at once in one replica.
    pub pressure: BTreeMap<String, crate::record::traffic::Pressure>,
    /// The settled part's share served per entrypoint, as `check` predicts it by
    /// Little's law and as measured; `null` for a scenario with nothing that acts on
    /// time or load.
    pub load: Option<StepLoadJson>,
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

/// A tally's causes, the most frequent first.
pub(crate) fn causes_json(tally: &Tally) -> Vec<CauseJson> {
    tally
        .top_causes()
        .into_iter()
        .map(|(key, count)| CauseJson {
            edge: key.edge.clone(),
            code: key.code.clone(),
            count: count.total(),
            failed: count.failed,
            degraded: count.degraded,
        })
        .collect()
}

pub(crate) fn requests(tally: &Tally) -> Requests {
    Requests {
        sent: tally.requests(),
        ok: tally.ok,
        degraded: tally.degraded,
        failed: tally.failed,
    }
}

/// Builds the JSON form of the live report.
pub fn json(scenario: &Scenario, seed: u64, net: Net, live: &LiveRun) -> LiveReport {
    let summary = live.summary(scenario);
    LiveReport {
        scenario: scenario.name.clone(),
        seed,
        net: net.word(),
        verdict: Verdict::of(&summary).word(),
        interrupted: live.interrupted,
        strategies: live
            .runs
            .iter()
            .map(|run| strategy_json(scenario, run))
            .collect(),
        not_planned: not_planned(&live.unplanned),
    }
}

/// The fields of the JSON report before `strategies`, for a report written as each
/// strategy ends (the same fields as [`LiveReport`]'s).
pub fn json_head(
    scenario: &Scenario,
    seed: u64,
    net: Net,
) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("scenario", serde_json::Value::from(scenario.name.clone())),
        ("seed", serde_json::Value::from(seed)),
        ("net", serde_json::Value::from(net.word())),
    ]
}

/// The fields of the JSON report after `strategies`.
pub fn json_tail(live: &LiveSummary) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "not_planned",
            serde_json::to_value(not_planned(&live.unplanned)).unwrap_or_default(),
        ),
        ("interrupted", serde_json::Value::from(live.interrupted)),
        ("verdict", serde_json::Value::from(Verdict::of(live).word())),
    ]
}

fn not_planned(unplanned: &[crate::record::result::Unplanned]) -> Vec<NotPlannedJson> {
    unplanned
        .iter()
        .map(|unplanned| NotPlannedJson {
            name: unplanned.strategy.name.clone(),
            error: plan_error_text(&unplanned.error),
            conflicts: match &unplanned.error {
                PlanError::NoSafeOrder { conflicts, .. } => conflicts
                    .iter()
                    .map(crate::report::check::ConflictJson::from)
                    .collect(),
                PlanError::Cycle { .. } => Vec::new(),
            },
        })
        .collect()
}

/// One strategy's run as JSON.
pub fn strategy_json(scenario: &Scenario, run: &StrategyRun) -> StrategyJson {
    StrategyJson {
        name: run.strategy.name.clone(),
        kind: run.strategy.kind.label().to_owned(),
        graceful: if !run.graceful() {
            Some(false)
        } else {
            run.judged().then_some(true)
        },
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
        verdict: run.verdict().word(),
        swallowed: crate::record::result::unseen_in(
            scenario,
            run.traffic
                .edges
                .iter()
                .map(|(edge, counts)| (edge.as_str(), counts)),
        ),
        expectations: run.expectations.iter().map(ExpectationJson::from).collect(),
        faults_never_fired: run
            .faults_never_fired
            .iter()
            .map(|&fault| scenario.faults[fault].to_string())
            .collect(),
        stray_counts: run.stray,
        edge_totals: run
            .traffic
            .edges
            .iter()
            .map(|(edge, counts)| edge_json(edge, counts))
            .collect(),
        received_totals: run.traffic.received.clone(),
        amplification: run
            .amplification()
            .into_iter()
            .map(|(edge, factor)| (edge, (factor * 1000.0).round() / 1000.0))
            .collect(),
        pressure_totals: run.traffic.pressure.clone(),
        edges_per_step: if run.every_step_traffic {
            "every"
        } else {
            "tracked"
        },
        entrypoint_totals: run
            .entry_totals()
            .into_iter()
            .map(|entry| EntryTotalJson {
                requests: Requests {
                    sent: entry.ok + entry.degraded + entry.failed,
                    ok: entry.ok,
                    degraded: entry.degraded,
                    failed: entry.failed,
                },
                worst_p99_ms: entry.worst_p99,
                first_failed: entry.first_failed.map(|kind| kind.label()),
                name: entry.name,
            })
            .collect(),
        entrypoints_per_step: if run.folded.is_empty() {
            "every"
        } else {
            "not_ok"
        },
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
        changes: step
            .changes
            .iter()
            .map(crate::report::ChangeJson::from)
            .collect(),
        flag_changes: step.flag_changes.iter().map(ToString::to_string).collect(),
        flags: step.flags.shares(),
        edges: step
            .traffic
            .edges
            .iter()
            .map(|(edge, counts)| edge_json(edge, counts))
            .collect(),
        received: step.traffic.received.clone(),
        asynchronous: step.traffic.asynchronous,
        pressure: step.traffic.pressure.clone(),
        load: step.load.as_ref().map(|load| StepLoadJson {
            predicted: load
                .served
                .iter()
                .map(|(entry, share)| (entry.clone(), (share * 1000.0).round() / 1000.0))
                .collect(),
            measured: step
                .settled_served()
                .into_iter()
                .map(|(entry, share)| (entry, share.map(|s| (s * 1000.0).round() / 1000.0)))
                .collect(),
            decided: load.decided_over(
                scenario
                    .load
                    .settled_part(step.kind == crate::record::StepKind::Baseline),
            ),
            undecided: load.undecided.clone(),
        }),
        requests: requests(&step.total),
        latency_ms: step.total.percentiles(),
        causes: causes_json(&step.total),
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

fn edge_json(edge: &str, counts: &crate::record::traffic::EdgeCounts) -> EdgeJson {
    EdgeJson {
        edge: edge.to_owned(),
        calls: counts.calls,
        ok: counts.ok,
        degraded: counts.degraded,
        failed: counts.failed,
        tries: counts.tries,
    }
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
