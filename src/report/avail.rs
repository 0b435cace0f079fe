//! `simulate availability`'s report: per level of the failure model, the share of the
//! whole load and of each entrypoint (and method) still served, exact or with its
//! interval, and the limits of `availability.expect`.

use std::fmt::Write as _;

use serde::Serialize;

use super::{count_text, table};
use crate::avail::{Availability, Judged, Measured, Row, Shares, Source, Unit};
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
(a deployment with `capacity` is measured, not predicted), and the scenario's own timed faults";

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

/// A share as a percent: to the hundredth, and past 99% with as many more decimals as
/// show two digits of what is lost (availability lives in the last nines), at most 6.
pub(crate) fn percent(value: f64) -> String {
    let lost = (1.0 - value) * 100.0;
    // Less than the sixth decimal shows is lost: 100%, to the hundredth like the rest
    // (a sum of weights drifts a few ulps from 1).
    let decimals = if value < 0.99 || lost < 5e-7 {
        2
    } else {
        ((-lost.log10()).ceil() as i64 + 1).clamp(2, 6) as usize
    };
    format!("{:.*}%", decimals, value * 100.0)
}

/// `value` as a percent with enough decimals to tell it from `than` (at most 10).
pub(crate) fn percent_apart(value: f64, than: f64) -> String {
    let text = percent(value);
    if value == than || text != percent(than) {
        return text;
    }
    let at = |decimals: usize, share: f64| format!("{:.*}%", decimals, share * 100.0);
    (3..10)
        .map(|decimals| at(decimals, value))
        .zip((3..10).map(|decimals| at(decimals, than)))
        .find(|(ours, theirs)| ours != theirs)
        .map_or_else(|| at(10, value), |(ours, _)| ours)
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

/// A count given by its base-10 logarithm: digits with commas below 10^15, else
/// `1.23e450`.
fn sets_text(log10: f64) -> String {
    if log10 < 15.0 {
        count_text(10f64.powf(log10).round() as u64)
    } else {
        let exponent = log10.floor();
        format!("{:.2}e{exponent}", 10f64.powf(log10 - exponent))
    }
}

/// A count given by its base-10 logarithm, for the JSON: a number below 10^15 (exact),
/// else its text (`"1.23e450"`), as state counts too large for 64 bits are.
fn sets_json(log10: f64) -> serde_json::Value {
    if log10 < 15.0 {
        serde_json::Value::from(10f64.powf(log10).round() as u64)
    } else {
        serde_json::Value::from(sets_text(log10))
    }
}

fn unit_words(answer: &Availability) -> String {
    let units: u32 = answer.candidates.iter().map(|(_, n)| n).sum();
    match answer.unit {
        Unit::Replica => format!(
            "a unit is a replica: {units} {} of {} {} may fail",
            super::plural(units as usize, "replica", "replicas"),
            answer.candidates.len(),
            super::plural(answer.candidates.len(), "service", "services")
        ),
        Unit::Service => format!("a unit is a service: {units} may fail"),
    }
}

/// The evaluator's cell of a level: its whole-load share and how it was found.
fn predicted_cell(row: &Row) -> String {
    match &row.predicted {
        Some(predicted) if predicted.exact => format!(
            "{} (exact, {} down {})",
            percent(predicted.shares.fleet.value),
            count_text(predicted.evaluated),
            if predicted.evaluated == 1 {
                "set"
            } else {
                "sets"
            }
        ),
        Some(predicted) => format!(
            "{}, {} drawn",
            estimate_cell(&predicted.shares.fleet, false),
            count_text(predicted.evaluated)
        ),
        None => "not predicted (capacity)".to_owned(),
    }
}

/// The measured cell of a level: its whole-load mean, the trials, and how many agreed.
fn measured_cell(measured: &Measured) -> String {
    let agreement = if measured.held_to_prediction {
        format!(", {} agree", count_text(measured.agreed))
    } else {
        String::new()
    };
    format!(
        "{}, {} sets{agreement}",
        estimate_cell(&measured.shares.fleet, false),
        count_text(measured.trials)
    )
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
    if !answer.capacity.is_empty() {
        let _ = writeln!(
            out,
            "  measured only: {} {} a capacity, and a replica that dies there also loads the others",
            answer
                .capacity
                .iter()
                .map(|(service, version)| format!("{service} {version}"))
                .collect::<Vec<_>>()
                .join(", "),
            if answer.capacity.len() == 1 {
                "has"
            } else {
                "have"
            }
        );
    }
    if let Some(flags) = answer
        .rows
        .iter()
        .find_map(|row| row.predicted.as_ref().and_then(|p| p.lower_bound))
    {
        let _ = writeln!(
            out,
            "  a lower bound: {flags} flags are at a percent, past the {} the evaluator splits requests by, so each call takes them both on and off (measured sets are not held to it)",
            crate::eval::graph::MAX_SPLIT_FLAGS
        );
    }
    let measured = answer.rows.iter().any(|row| row.measured.is_some());
    if !quiet {
        let mut head = vec!["level", "failure sets", "whole load, predicted"];
        if measured {
            head.push("measured in virtual time");
        }
        head.push("worst entrypoint");
        let mut rows = vec![head.into_iter().map(str::to_owned).collect::<Vec<_>>()];
        for row in &answer.rows {
            let mut cells = vec![
                row.amount.to_string(),
                sets_text(row.failure_sets_log10),
                predicted_cell(row),
            ];
            if measured {
                cells.push(row.measured.as_ref().map_or("-".to_owned(), measured_cell));
            }
            let worst = row.judged().and_then(|(shares, source)| {
                let exact = source == Source::Exact;
                shares
                    .entrypoints
                    .iter()
                    .zip(&answer.entrypoints)
                    .min_by(|a, b| a.0.0.value.total_cmp(&b.0.0.value))
                    .map(|((estimate, _), entry)| {
                        format!("{} {}", entry.name, estimate_cell(estimate, exact))
                    })
            });
            cells.push(worst.unwrap_or_default());
            rows.push(cells);
        }
        out.push('\n');
        out.push_str(&table(&rows, "  "));
        entry_table(&mut out, answer);
        disagreements(&mut out, answer);
        let _ = writeln!(out, "\n  {LEFT_OUT}.");
    }
    limits(&mut out, judged);
    let _ = writeln!(out, "verdict: {}", verdict_words(judged));
    out
}

/// Per entrypoint (and method, where its mix has several), a column per level: the
/// evaluator's share, and the measured one beside it where trials ran.
fn entry_table(out: &mut String, answer: &Availability) {
    let mut head = vec!["served".to_owned()];
    for row in &answer.rows {
        if row.predicted.is_some() {
            head.push(row.amount.to_string());
        }
        if row.measured.is_some() {
            head.push(format!("{} measured", row.amount));
        }
    }
    let mut rows = vec![head];
    let cells = |e: usize, m: Option<usize>| -> Vec<String> {
        let pick = |shares: &Shares, exact: bool| {
            let estimate = match m {
                None => &shares.entrypoints[e].0,
                Some(m) => &shares.entrypoints[e].1[m],
            };
            estimate_cell(estimate, exact)
        };
        answer
            .rows
            .iter()
            .flat_map(|row| {
                let predicted = row.predicted.as_ref().map(|p| pick(&p.shares, p.exact));
                let measured = row.measured.as_ref().map(|m| pick(&m.shares, false));
                predicted.into_iter().chain(measured)
            })
            .collect()
    };
    for (e, entry) in answer.entrypoints.iter().enumerate() {
        rows.push(
            std::iter::once(entry.name.clone())
                .chain(cells(e, None))
                .collect(),
        );
        if entry.methods.len() > 1 {
            for (m, (method, share)) in entry.methods.iter().enumerate() {
                rows.push(
                    std::iter::once(format!("  {method} ({} of it)", mix_share(*share)))
                        .chain(cells(e, Some(m)))
                        .collect(),
                );
            }
        }
    }
    out.push('\n');
    out.push_str(&table(&rows, "  "));
}

/// Trials that measured other than the evaluator predicts for their own set.
fn disagreements(out: &mut String, answer: &Availability) {
    for row in &answer.rows {
        let Some(measured) = &row.measured else {
            continue;
        };
        let disagreeing = measured.trials - measured.agreed;
        if !measured.held_to_prediction || disagreeing == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "\n  ! {}: {} of {} measured sets disagree with the evaluator's prediction for their set (the model misses something: error rates, timeouts, overload):",
            row.amount,
            count_text(disagreeing),
            count_text(measured.trials)
        );
        for d in &measured.disagreements {
            let failed: Vec<String> = d
                .failed
                .iter()
                .map(|(service, n, of)| format!("{service} {n} of {of}"))
                .collect();
            let _ = writeln!(
                out,
                "    set {} (failed: {}): {} {} predicted {}, measured {} of {} requests",
                d.trial,
                failed.join(", "),
                d.entrypoint,
                d.method,
                percent(d.predicted),
                percent(d.measured),
                count_text(d.sent)
            );
        }
        if (measured.disagreements.len() as u64) < disagreeing {
            let _ = writeln!(
                out,
                "    (the first {} listed, here and in the JSON)",
                measured.disagreements.len()
            );
        }
    }
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
            match limit.source {
                Source::Exact => "exactly",
                Source::Drawn => "drawn mean",
                Source::Measured => "measured mean",
            },
            percent_apart(limit.value, limit.min),
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
    let measured = answer.rows.iter().any(|row| row.measured.is_some());
    let mut head = String::from("| level | whole load |");
    let mut rule = String::from("|---|---|");
    if measured {
        head.push_str(" measured |");
        rule.push_str("---|");
    }
    for entry in answer.entrypoints.iter().take(6) {
        let _ = write!(head, " {} |", entry.name);
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for row in &answer.rows {
        let mut line = format!("| {} | {} |", row.amount, predicted_cell(row));
        if measured {
            let cell = row.measured.as_ref().map_or("-".to_owned(), measured_cell);
            let _ = write!(line, " {cell} |");
        }
        if let Some((shares, source)) = row.judged() {
            let exact = source == Source::Exact;
            for (estimate, _) in shares.entrypoints.iter().take(6) {
                let _ = write!(line, " {} |", estimate_cell(estimate, exact));
            }
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
    // The terminal's indented lines, as a Markdown list (indented lines would run
    // together into one paragraph).
    for line in limits_text.lines() {
        match line.strip_prefix("  ") {
            Some(item) => {
                let _ = writeln!(out, "- {item}");
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
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
    /// Versions with a capacity: then nothing is predicted, and only trials answer.
    pub capacity: Vec<CandidateVersion<'a>>,
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
pub struct CandidateVersion<'a> {
    pub service: &'a str,
    pub version: &'a str,
}

#[derive(Debug, Serialize)]
pub struct LevelJson<'a> {
    pub level: Amount,
    /// A number below 10^15, else its text (`"1.23e450"`).
    pub failure_sets: serde_json::Value,
    pub predicted: Option<PredictedJson<'a>>,
    pub measured: Option<MeasuredJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct PredictedJson<'a> {
    pub exact: bool,
    /// How many flags at a percent made the shares a lower bound, when they did.
    pub lower_bound: Option<usize>,
    pub evaluated: u64,
    #[serde(flatten)]
    pub shares: SharesJson<'a>,
}

#[derive(Debug, Serialize)]
pub struct MeasuredJson<'a> {
    pub trials: u64,
    pub held_to_prediction: bool,
    pub agreed: u64,
    /// Sets with a method that measured other than predicted (the first
    /// `disagreements` of them listed).
    pub disagreeing: u64,
    pub disagreements: &'a [crate::avail::Disagreement],
    #[serde(flatten)]
    pub shares: SharesJson<'a>,
}

#[derive(Debug, Serialize)]
pub struct SharesJson<'a> {
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

fn shares_json<'a>(answer: &'a Availability, shares: &Shares) -> SharesJson<'a> {
    SharesJson {
        whole_load: shares.fleet,
        entrypoints: answer
            .entrypoints
            .iter()
            .zip(&shares.entrypoints)
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
    }
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
        capacity: answer
            .capacity
            .iter()
            .map(|(service, version)| CandidateVersion { service, version })
            .collect(),
        levels: answer
            .rows
            .iter()
            .map(|row| LevelJson {
                level: row.amount,
                failure_sets: sets_json(row.failure_sets_log10),
                predicted: row.predicted.as_ref().map(|p| PredictedJson {
                    exact: p.exact,
                    lower_bound: p.lower_bound,
                    evaluated: p.evaluated,
                    shares: shares_json(answer, &p.shares),
                }),
                measured: row.measured.as_ref().map(|m| MeasuredJson {
                    trials: m.trials,
                    held_to_prediction: m.held_to_prediction,
                    agreed: m.agreed,
                    disagreeing: if m.held_to_prediction {
                        m.trials - m.agreed
                    } else {
                        0
                    },
                    disagreements: &m.disagreements,
                    shares: shares_json(answer, &m.shares),
                }),
            })
            .collect(),
        limits: judged,
        verdict: verdict(judged).word(),
        not_modelled: LEFT_OUT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percent_shows_the_nines_that_are_lost_and_a_limit_line_tells_them_apart() {
        assert_eq!(percent(0.9758), "97.58%");
        assert_eq!(percent(1.0), "100.00%");
        assert_eq!(percent(0.999_999_999_999_999_8), "100.00%");
        assert_eq!(percent(0.9999978), "99.99978%");
        assert_eq!(percent(0.995), "99.50%");
        assert_eq!(percent_apart(0.999_999_7, 0.999_999_8), "99.999970%");
        assert_eq!(percent_apart(0.5, 0.5), "50.00%");
    }

    #[test]
    fn counts_past_integers_are_written_as_powers_of_ten() {
        assert_eq!(sets_text(91f64.log10()), "91");
        assert_eq!(sets_text(450.0 + 2f64.log10()), "2.00e450");
        assert_eq!(sets_json(91f64.log10()), serde_json::json!(91));
        assert_eq!(sets_json(450.0), serde_json::json!("1.00e450"));
    }
}
