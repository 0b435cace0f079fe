//! `simulate availability`'s report: per level of the failure model, the share of the
//! whole load and of each entrypoint (and method) still served, exact or with its
//! interval, and the limits of `availability.expect`.

use std::fmt::Write as _;

use serde::Serialize;

use super::{count_text, table};
use crate::avail::{Availability, Judged, Unit};
use crate::model::{Amount, Scenario};
use crate::stats::Estimate;
use crate::verdict::Verdict;

/// What was asked, besides the answer: the scenario, the seed and which deployment.
#[derive(Debug)]
pub struct Header<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    /// "the initial versions", "the target versions", "after step 2 of batch".
    pub deployment: &'a str,
}

/// What the model leaves out, said under every report.
pub const LEFT_OUT: &str = "not modelled: data and caches (a down service loses nothing but its answers), \
partial outages (a unit is up or down), the load a dead replica moves to the others \
(scenarios with `capacity` are refused), and the scenario's own timed faults";

/// The verdict: a limit below its share fails; no limit judged is nothing judged.
pub fn verdict(judged: &[Judged]) -> Verdict {
    let failed: Vec<String> = judged
        .iter()
        .filter(|j| !j.held)
        .map(|j| limit_name(j.amount, j.entrypoint.as_deref()))
        .collect();
    Verdict::from_parts(failed, Vec::new(), !judged.is_empty())
}

fn limit_name(amount: Amount, entrypoint: Option<&str>) -> String {
    format!("{amount} {}", entrypoint.unwrap_or("whole load"))
}

/// A share as a percent, to the hundredth (availability lives in the last nines).
fn percent(value: f64) -> String {
    format!("{:.2}%", value * 100.0)
}

/// An estimate: exact, or its mean and 95% interval.
fn estimate_cell(estimate: &Estimate, exact: bool) -> String {
    if exact {
        percent(estimate.value)
    } else {
        format!(
            "{} ({}-{})",
            percent(estimate.value),
            percent(estimate.low).trim_end_matches('%'),
            percent(estimate.high)
        )
    }
}

/// A method's share of its entrypoint's mix: whole percents, or tenths below 1%.
fn mix_share(share: f64) -> String {
    if share < 0.01 {
        format!("{:.1}%", share * 100.0)
    } else {
        format!("{:.0}%", share * 100.0)
    }
}

/// A count that may outgrow integers: digits with commas, or powers of ten.
fn sets_text(count: f64) -> String {
    if count < 1e15 {
        count_text(count as u64)
    } else {
        format!("{count:.2e}")
    }
}

fn unit_words(answer: &Availability) -> String {
    let units: u32 = answer.candidates.iter().map(|(_, n)| n).sum();
    match answer.unit {
        Unit::Replica => format!(
            "a unit is a replica: {units} replicas of {} services may fail",
            answer.candidates.len()
        ),
        Unit::Service => format!("a unit is a service: {units} may fail"),
    }
}

/// The terminal report; `quiet` keeps the heading, the limits and the verdict.
pub fn text(header: &Header, answer: &Availability, judged: &[Judged], quiet: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "availability {} (seed {}): {}; {}{}; served = ok{}",
        header.scenario.name,
        header.seed,
        header.deployment,
        unit_words(answer),
        if answer.spared.is_empty() {
            String::new()
        } else {
            format!(" (spared: {})", answer.spared.join(", "))
        },
        if answer.degraded_lost {
            " (degraded counts as lost)"
        } else {
            " or degraded"
        }
    );
    if !quiet {
        let mut rows = vec![
            [
                "level",
                "failure sets",
                "evaluated",
                "whole load",
                "worst entrypoint",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for row in &answer.rows {
            let worst = row
                .entrypoints
                .iter()
                .zip(&answer.entrypoints)
                .min_by(|a, b| a.0.0.value.total_cmp(&b.0.0.value))
                .map_or(String::new(), |((estimate, _), entry)| {
                    format!("{} {}", entry.name, estimate_cell(estimate, row.exact))
                });
            rows.push(vec![
                row.amount.to_string(),
                sets_text(row.failure_sets),
                if row.exact {
                    format!("{} down sets (exact)", count_text(row.evaluated))
                } else {
                    format!("{} drawn", count_text(row.evaluated))
                },
                estimate_cell(&row.fleet, row.exact),
                worst,
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows, "  "));
        // Per entrypoint (and method, where its mix has several), one column per level.
        let mut rows = vec![
            std::iter::once("served".to_owned())
                .chain(answer.rows.iter().map(|row| row.amount.to_string()))
                .collect::<Vec<_>>(),
        ];
        for (e, entry) in answer.entrypoints.iter().enumerate() {
            rows.push(
                std::iter::once(entry.name.clone())
                    .chain(
                        answer
                            .rows
                            .iter()
                            .map(|row| estimate_cell(&row.entrypoints[e].0, row.exact)),
                    )
                    .collect(),
            );
            if entry.methods.len() > 1 {
                for (m, (method, share)) in entry.methods.iter().enumerate() {
                    rows.push(
                        std::iter::once(format!("  {method} ({} of it)", mix_share(*share)))
                            .chain(
                                answer
                                    .rows
                                    .iter()
                                    .map(|row| estimate_cell(&row.entrypoints[e].1[m], row.exact)),
                            )
                            .collect(),
                    );
                }
            }
        }
        out.push('\n');
        out.push_str(&table(&rows, "  "));
        let _ = writeln!(out, "\n  {LEFT_OUT}.");
    }
    limits(&mut out, judged);
    let _ = writeln!(out, "verdict: {}", verdict_words(judged));
    out
}

fn limits(out: &mut String, judged: &[Judged]) {
    if judged.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nlimits (availability.expect):");
    for limit in judged {
        let _ = writeln!(
            out,
            "  {}: at least {}, {} {}: {}",
            limit_name(limit.amount, limit.entrypoint.as_deref()),
            percent(limit.min),
            if limit.exact { "exactly" } else { "drawn mean" },
            percent(limit.value),
            super::held_word(limit.held)
        );
    }
}

fn verdict_words(judged: &[Judged]) -> String {
    match verdict(judged) {
        Verdict::Fail(names) => format!("fail (below its limit: {})", names.join("; ")),
        Verdict::Pass => "pass (every limit of availability.expect holds)".to_owned(),
        _ => "nothing judged: no `availability.expect` limit at the levels asked".to_owned(),
    }
}

/// A short summary for a pull request or a job summary.
pub fn markdown(header: &Header, answer: &Availability, judged: &[Judged]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Availability of {}: {}\n",
        header.scenario.name,
        verdict_words(judged)
    );
    let _ = writeln!(
        out,
        "{} (seed {}); {}.\n",
        header.deployment,
        header.seed,
        unit_words(answer)
    );
    let mut head = String::from("| level | whole load |");
    let mut rule = String::from("|---|---|");
    for entry in answer.entrypoints.iter().take(6) {
        let _ = write!(head, " {} |", entry.name);
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for row in &answer.rows {
        let mut line = format!(
            "| {} | {} |",
            row.amount,
            estimate_cell(&row.fleet, row.exact)
        );
        for (estimate, _) in row.entrypoints.iter().take(6) {
            let _ = write!(line, " {} |", estimate_cell(estimate, row.exact));
        }
        let _ = writeln!(out, "{line}");
    }
    if answer.entrypoints.len() > 6 {
        let _ = writeln!(
            out,
            "\n{} more entrypoints in the JSON report.",
            answer.entrypoints.len() - 6
        );
    }
    let mut limits_text = String::new();
    limits(&mut limits_text, judged);
    out.push_str(&limits_text);
    let _ = writeln!(out, "\n{LEFT_OUT}.");
    out
}

#[derive(Debug, Serialize)]
pub struct AvailabilityJson<'a> {
    pub scenario: &'a str,
    pub seed: u64,
    pub deployment: &'a str,
    pub unit: Unit,
    pub candidates: Vec<CandidateJson<'a>>,
    pub spared: &'a [String],
    pub degraded_lost: bool,
    pub levels: Vec<LevelJson<'a>>,
    pub limits: &'a [Judged],
    pub verdict: &'static str,
    pub not_modelled: &'static str,
}

#[derive(Debug, Serialize)]
pub struct CandidateJson<'a> {
    pub service: &'a str,
    pub units: u32,
}

#[derive(Debug, Serialize)]
pub struct LevelJson<'a> {
    pub level: Amount,
    pub failure_sets: f64,
    pub evaluated: u64,
    pub exact: bool,
    pub whole_load: Estimate,
    pub entrypoints: Vec<EntryJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct EntryJson<'a> {
    pub entrypoint: &'a str,
    pub rps: u32,
    pub served: Estimate,
    pub methods: Vec<MethodJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct MethodJson<'a> {
    pub method: &'a str,
    pub share_of_mix: f64,
    pub served: Estimate,
}

pub fn json<'a>(
    header: &Header<'a>,
    answer: &'a Availability,
    judged: &'a [Judged],
) -> AvailabilityJson<'a> {
    AvailabilityJson {
        scenario: &header.scenario.name,
        seed: header.seed,
        deployment: header.deployment,
        unit: answer.unit,
        candidates: answer
            .candidates
            .iter()
            .map(|(service, units)| CandidateJson {
                service,
                units: *units,
            })
            .collect(),
        spared: &answer.spared,
        degraded_lost: answer.degraded_lost,
        levels: answer
            .rows
            .iter()
            .map(|row| LevelJson {
                level: row.amount,
                failure_sets: row.failure_sets,
                evaluated: row.evaluated,
                exact: row.exact,
                whole_load: row.fleet,
                entrypoints: answer
                    .entrypoints
                    .iter()
                    .zip(&row.entrypoints)
                    .map(|(entry, (served, methods))| EntryJson {
                        entrypoint: &entry.name,
                        rps: entry.rps,
                        served: *served,
                        methods: entry
                            .methods
                            .iter()
                            .zip(methods)
                            .map(|((method, share), served)| MethodJson {
                                method,
                                share_of_mix: *share,
                                served: *served,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        limits: judged,
        verdict: verdict(judged).word(),
        not_modelled: LEFT_OUT,
    }
}
