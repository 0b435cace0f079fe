//! What the callers' protections did and how full the workers were, for a scenario that
//! can cascade (`capacity`, retries, protections) or a run where one acted: the load per
//! entry request on each edge over the run, then step by step the edges where a
//! protection acted and the services that refused or dropped requests.

use std::fmt::Write as _;

use crate::model::Scenario;
use crate::record::result::{LOAD_BOUND_LIVE, LOAD_BOUND_SIM, StrategyRun};
use crate::record::traffic::{EdgeCounts, Pressure};
use crate::report::count_text;
use crate::runtime::net::Net;

/// Edges shown in the amplification line, the highest first; the JSON has every one.
const AMPLIFIED_SHOWN: usize = 6;

/// Step lines shown per strategy; the JSON has every step's counts.
const STEP_LINES: usize = 12;

/// The load of each step's settled part: the share served `check` predicts by Little's
/// law against the share measured, per entrypoint; `!` where a decided prediction and
/// the measurement differ by more than the bound, `~` where the prediction is undecided
/// (or the machine fell behind).
pub(super) fn load_lines(out: &mut String, scenario: &Scenario, net: Net, run: &StrategyRun) {
    if run.steps.iter().all(|step| step.load.is_none()) {
        return;
    }
    let bound = match net {
        Net::Sim => LOAD_BOUND_SIM,
        Net::Live | Net::Processes => LOAD_BOUND_LIVE,
    };
    let part = |step: &crate::record::result::StepResult| {
        scenario
            .load
            .settled_part(step.kind == crate::record::StepKind::Baseline)
    };
    let mut cells = Vec::new();
    for step in &run.steps {
        let Some(load) = &step.load else {
            continue;
        };
        let measured = step.settled_served();
        let shares: Vec<String> = load
            .served
            .iter()
            .map(|(entry, predicted)| {
                let got = measured
                    .get(entry)
                    .copied()
                    .flatten()
                    .map_or_else(|| "-".to_owned(), |share| format!("{:.0}%", share * 100.0));
                format!("{entry} {:.0}% / {got}", predicted * 100.0)
            })
            .collect();
        let mark = if !load.decided_over(part(step)) || !step.kept_up() {
            " ~"
        } else if step.load_agrees(bound, part(step)) == Some(false) {
            " !"
        } else {
            ""
        };
        cells.push(format!(
            "{} {}{mark}",
            super::place(step.kind),
            shares.join(", ")
        ));
    }
    let _ = writeln!(
        out,
        "  served in each step's settled part, predicted (Little's law) / measured: {}",
        cells.join("; ")
    );
    if cells.iter().any(|cell| cell.ends_with('~')) {
        let _ = writeln!(
            out,
            "  ~ undecided (chance decides): a service near its workers, arrivals whose randomness matters, a breaker near its threshold, a fault starting or ending in the part, or a part shorter than {} holds or {} breaker trips",
            crate::eval::demand::SETTLE_HOLDS,
            crate::eval::demand::TRIP_PARTS
        );
    }
    let differs = run
        .steps
        .iter()
        .filter(|step| step.kept_up() && step.load_agrees(bound, part(step)) == Some(false))
        .count();
    if differs > 0 {
        let _ = writeln!(
            out,
            "  ! {differs} {} measured more than {:.0} points from the load prediction",
            crate::report::plural(differs, "settled part", "settled parts"),
            bound * 100.0
        );
    }
}

pub(super) fn lines(out: &mut String, scenario: &Scenario, run: &StrategyRun) {
    let acted =
        run.traffic.edges.values().any(EdgeCounts::protected) || !run.traffic.pressure.is_empty();
    if !scenario.models_cascades() && !acted {
        return;
    }
    amplification(out, run);
    let mut all = Vec::new();
    for step in &run.steps {
        let label = super::place(step.kind);
        let requests = step.total.requests();
        let mut step_lines: Vec<String> = step
            .traffic
            .edges
            .iter()
            .filter(|(_, counts)| counts.protected())
            .map(|(edge, counts)| format!("{label}: {edge}: {}", tries_text(counts, requests)))
            .collect();
        step_lines.extend(
            step.traffic
                .pressure
                .iter()
                .filter(|(_, pressure)| pressure.dropped() > 0)
                .map(|(service, pressure)| {
                    format!("{label}: {service}'s workers: {}", pressure_text(pressure))
                }),
        );
        all.extend(step_lines);
    }
    if !all.is_empty() {
        let _ = writeln!(out, "  protections and workers, step by step:");
    }
    for line in all.iter().take(STEP_LINES) {
        let _ = writeln!(out, "    {line}");
    }
    let left = all.len().saturating_sub(STEP_LINES);
    if left > 0 {
        let _ = writeln!(
            out,
            "    ... {left} more step lines in the JSON (steps[].edges, steps[].pressure)"
        );
    }
    for (service, pressure) in &run.traffic.pressure {
        let _ = writeln!(
            out,
            "  workers of {service} over the run: at most {} busy and {} queued in one replica{}",
            pressure.peak_workers,
            pressure.peak_queue,
            if pressure.dropped() > 0 {
                format!("; {}", pressure_text(pressure))
            } else {
                String::new()
            }
        );
    }
}

/// `load per entry request (attempts, over the run): shop -> stock api v1 3.85x, ...`.
fn amplification(out: &mut String, run: &StrategyRun) {
    let mut edges: Vec<(String, f64)> = run
        .amplification()
        .into_iter()
        .filter(|(edge, _)| !edge.starts_with(crate::contract::CLIENT))
        .collect();
    if edges.is_empty() {
        return;
    }
    edges.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let more = edges.len().saturating_sub(AMPLIFIED_SHOWN);
    let cells: Vec<String> = edges
        .iter()
        .take(AMPLIFIED_SHOWN)
        .map(|(edge, factor)| format!("{edge} {factor:.2}x"))
        .collect();
    let _ = writeln!(
        out,
        "  attempts per entry request over the run: {}{}",
        cells.join(", "),
        if more > 0 {
            format!(" (and {more} more edges in the JSON: amplification)")
        } else {
            String::new()
        }
    );
}

/// `3,852 attempts for 1,000 calls (3.85 per entry request); 2,852 retries, 40 refused
/// by the budget; breaker opened 2, closed 1, failed 450 attempts fast; bulkhead refused
/// 12 calls`. `requests`: the step's entry requests.
fn tries_text(counts: &EdgeCounts, requests: u64) -> String {
    let tries = &counts.tries;
    let per_request = if requests > 0 {
        format!(
            " ({:.2} per entry request)",
            tries.attempts as f64 / requests as f64
        )
    } else {
        String::new()
    };
    let mut parts = vec![format!(
        "{} attempts for {} calls{per_request}",
        count_text(tries.attempts),
        count_text(counts.calls)
    )];
    if tries.retries > 0 || tries.retries_refused > 0 {
        let mut retried = format!("{} retries", count_text(tries.retries));
        if tries.retries_refused > 0 {
            let _ = write!(
                retried,
                ", {} refused by the budget",
                count_text(tries.retries_refused)
            );
        }
        parts.push(retried);
    }
    if tries.breaker_opened + tries.breaker_closed + tries.breaker_fast_failed > 0 {
        parts.push(format!(
            "breaker opened {}, closed {}, failed {} attempts fast",
            tries.breaker_opened,
            tries.breaker_closed,
            count_text(tries.breaker_fast_failed)
        ));
    }
    if tries.bulkhead_refused > 0 {
        parts.push(format!(
            "bulkhead refused {} calls",
            count_text(tries.bulkhead_refused)
        ));
    }
    parts.join("; ")
}

/// `320 refused (RESOURCE_EXHAUSTED), 14 expired in the queue`.
fn pressure_text(pressure: &Pressure) -> String {
    let mut parts = Vec::new();
    if pressure.refused > 0 {
        parts.push(format!(
            "{} refused (RESOURCE_EXHAUSTED)",
            count_text(pressure.refused)
        ));
    }
    if pressure.expired > 0 {
        parts.push(format!(
            "{} expired in the queue",
            count_text(pressure.expired)
        ));
    }
    if pressure.abandoned > 0 {
        parts.push(format!(
            "{} cut off at their deadline while holding a worker",
            count_text(pressure.abandoned)
        ));
    }
    parts.join(", ")
}
