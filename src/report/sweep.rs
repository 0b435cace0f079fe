//! `simulate sweep`'s report: per missing service (or pair), how much of the load was
//! still served, next to the prediction, and the single points of failure measured.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{list_or_none, table};
use crate::check::sweep::{EntryLoss, is_single_point_of_failure};
use crate::eval::Level;
use crate::model::Scenario;
use crate::record::result::SweepRow;
use crate::record::tally::Percentiles;
use crate::runtime::net::Net;

pub fn text(
    scenario: &Scenario,
    seed: u64,
    net: Net,
    rows: &[SweepRow],
    interrupted: bool,
    quiet: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sweep {} (seed {seed}): each service{} missing in turn from the initial versions, {} ms at {}, {}",
        scenario.name,
        if rows.iter().any(|row| row.missing.len() > 1) {
            " and each pair"
        } else {
            ""
        },
        scenario.load.baseline.as_millis(),
        if scenario.load.entrypoints.is_empty() {
            format!("{} rps per entrypoint", scenario.load.rps)
        } else {
            super::load_text(scenario).replacen("open-loop: ", "", 1)
        },
        super::live::net_text(net)
    );
    let mut table_rows = vec![
        [
            "missing",
            "sent",
            "ok",
            "degraded",
            "failed",
            "served",
            "predicted",
            "top causes",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    table_rows.extend(rows.iter().map(|row| table_row(scenario, row)));
    if !quiet {
        out.push_str(&table(&table_rows, "  "));
    }
    findings(&mut out, net, rows);
    if interrupted {
        let _ = writeln!(
            out,
            "interrupted: the report covers the rows that ran before Ctrl-C"
        );
    }
    out
}

/// One row of the sweep's table: what was missing, the requests by outcome, the share
/// served, the prediction and the top causes.
fn table_row(scenario: &Scenario, row: &SweepRow) -> Vec<String> {
    let step = &row.run.steps[0];
    let total = &step.total;
    let served = if total.requests() == 0 {
        "-".to_owned()
    } else {
        format!(
            "{:.1}%",
            (total.ok + total.degraded) as f64 * 100.0 / total.requests() as f64
        )
    };
    let mut predicted = super::level_word(step.predicted.worst()).to_owned();
    if !step.kept_up() {
        predicted.push_str(" ~");
    } else if !step.agrees() {
        predicted.push_str(" !");
    }
    let mut causes: Vec<String> = total
        .top_causes()
        .into_iter()
        .take(2)
        .map(|(key, count)| format!("{}: {} x{}", key.edge, key.code, count.total()))
        .collect();
    // Failures no entry request saw (swallowed, asynchronous) would leave an `ok` row
    // looking untouched.
    let unseen = crate::record::result::unseen_failures(scenario, std::iter::once(step));
    if !unseen.is_empty() {
        causes.push(format!("unseen: {}", super::live::unseen_text(&unseen)));
    }
    let missing = if row.missing.is_empty() {
        "(nothing)".to_owned()
    } else {
        row.missing.join(" + ")
    };
    vec![
        missing,
        total.requests().to_string(),
        total.ok.to_string(),
        total.degraded.to_string(),
        total.failed.to_string(),
        served,
        predicted,
        causes.join("; "),
    ]
}

/// The lines under the table: pairs worse than their singles, the single points of
/// failure, and what the `~` and `!` marks mean when a row has one.
fn findings(out: &mut String, net: Net, rows: &[SweepRow]) {
    let worse = worse_pairs(rows);
    if rows.iter().any(|row| row.missing.len() == 2) {
        let _ = writeln!(
            out,
            "  pairs worse than either service missing alone (measured, {}): {}",
            worse.len(),
            if worse.is_empty() {
                "none".to_owned()
            } else {
                worse.join(", ")
            }
        );
    }
    let spof = single_points_of_failure(rows);
    let _ = writeln!(
        out,
        "  single points of failure (measured, {}): {}",
        spof.len(),
        list_or_none(spof.into_iter())
    );
    let unmeasured = rows.iter().filter(|row| !row.kept_up()).count();
    if unmeasured > 0 {
        let _ = writeln!(
            out,
            "  ~ marks a row the harness fell behind in ({unmeasured} of {}): not measured, left out of the single points of failure; {}",
            rows.len(),
            match net {
                Net::Live | Net::Processes => "lower the rates or run fewer entrypoints",
                Net::Sim => "arrivals were refused: raise `load.max_in_flight` or lower the rates",
            }
        );
    }
    if rows
        .iter()
        .any(|row| row.kept_up() && !row.run.steps[0].agrees())
    {
        let _ = writeln!(
            out,
            "  ! marks a row where the measurement differs from `simulate check`'s prediction"
        );
    }
}

/// The measured pairs whose worst outcome is worse than that of either service missing
/// alone (rows the machine kept up with only): what fallbacks make possible.
fn worse_pairs(rows: &[SweepRow]) -> Vec<String> {
    let worst = |row: &SweepRow| row.run.steps[0].measured.iter().flatten().copied().max();
    let single = |name: &str| {
        rows.iter()
            .find(|row| row.missing.len() == 1 && row.missing[0] == name && row.kept_up())
            .and_then(worst)
    };
    rows.iter()
        .filter(|row| row.missing.len() == 2 && row.kept_up())
        .filter(|row| {
            // Only when both services were measured alone.
            match (single(&row.missing[0]), single(&row.missing[1]), worst(row)) {
                (Some(a), Some(b), Some(both)) => both > a.max(b),
                _ => false,
            }
        })
        .map(|row| row.missing.join(" + "))
        .collect()
}

/// Services whose loss alone failed a request of an entrypoint other than themselves
/// that did not fail with nothing missing (the rule of `check`'s sweep, measured). Only
/// rows the machine kept up with count, and none when the reference row was not
/// measured.
fn single_points_of_failure(rows: &[SweepRow]) -> Vec<String> {
    let Some(reference) = rows.iter().find(|row| row.missing.is_empty()) else {
        return Vec::new();
    };
    if !reference.kept_up() {
        return Vec::new();
    }
    let reference = Some(reference);
    let failed_without = |entry: &str| {
        reference
            .and_then(|row| row.run.steps[0].by_entry.get(entry))
            .is_some_and(|tally| tally.failed > 0)
    };
    rows.iter()
        .filter(|row| row.missing.len() == 1 && row.kept_up())
        .filter(|row| {
            let losses = row.run.steps[0]
                .by_entry
                .iter()
                .map(|(entry, tally)| EntryLoss {
                    entrypoint: entry,
                    fails_without: failed_without(entry),
                    fails_with: tally.failed > 0,
                });
            is_single_point_of_failure(&row.missing[0], losses)
        })
        .map(|row| row.missing[0].clone())
        .collect()
}

#[derive(Debug, Serialize)]
pub struct SweepJson {
    pub scenario: String,
    pub seed: u64,
    /// `live` or `sim`.
    pub net: &'static str,
    pub interrupted: bool,
    /// The initial versions with nothing missing: what each row is compared against.
    pub reference: Option<RowJson>,
    /// One row per missing service (or pair).
    pub rows: Vec<RowJson>,
    pub single_points_of_failure: Vec<String>,
    /// Pairs (`a + b`) whose measured worst outcome is worse than either service's alone;
    /// empty without `--pairs`.
    pub worse_pairs: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RowJson {
    pub missing: Vec<String>,
    pub requests: super::live::Requests,
    pub latency_ms: Percentiles,
    pub causes: Vec<super::live::CauseJson>,
    pub predicted: BTreeMap<String, Level>,
    pub measured: BTreeMap<String, Option<Level>>,
    /// `null` when the row was not measured (`kept_up: false`).
    pub agrees: Option<bool>,
    /// Whether the machine kept up with the row's load: a row it fell behind in is not
    /// measured.
    pub kept_up: bool,
}

pub fn json(
    scenario: &Scenario,
    seed: u64,
    net: Net,
    rows: &[SweepRow],
    interrupted: bool,
) -> SweepJson {
    SweepJson {
        scenario: scenario.name.clone(),
        seed,
        net: net.word(),
        interrupted,
        reference: rows
            .iter()
            .find(|row| row.missing.is_empty())
            .map(|row| row_json(scenario, row)),
        rows: rows
            .iter()
            .filter(|row| !row.missing.is_empty())
            .map(|row| row_json(scenario, row))
            .collect(),
        single_points_of_failure: single_points_of_failure(rows),
        worse_pairs: worse_pairs(rows),
    }
}

fn row_json(scenario: &Scenario, row: &SweepRow) -> RowJson {
    let step = super::live::step_json(scenario, &row.run.graph, &row.run.steps[0]);
    RowJson {
        missing: row.missing.clone(),
        requests: step.requests,
        latency_ms: step.latency_ms,
        causes: step.causes,
        predicted: step.predicted,
        measured: step.measured,
        agrees: step.agrees,
        kept_up: row.kept_up(),
    }
}
