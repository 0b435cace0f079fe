//! `simulate load`'s report: what the scenario's load to replicas of other processes
//! met, counted at the caller, and the verdict on the scenario's expectations.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::Scenario;
use crate::record::expect::Expectation;
use crate::record::tally::Percentiles;
use crate::runtime::remote::Measured;
use crate::verdict::Verdict;

use super::live::{CauseJson, ExpectationJson, Requests};

/// The verdict of a load: inconclusive when this machine fell behind (its numbers are
/// not a measurement), nothing judged without an expectation, else pass or fail.
pub fn verdict(measured: &Measured, judged: &[Expectation]) -> Verdict {
    if !measured.lag.kept_up() {
        Verdict::Inconclusive(vec!["load".to_owned()])
    } else if judged.is_empty() {
        Verdict::NothingJudged
    } else if judged.iter().all(|e| e.held) {
        Verdict::Pass
    } else {
        Verdict::Fail(vec!["load".to_owned()])
    }
}

/// The terminal report.
pub fn text(
    scenario: &Scenario,
    seed: u64,
    seconds: f64,
    measured: &Measured,
    judged: &[Expectation],
) -> String {
    let mut out = String::new();
    let total = &measured.total;
    let _ = writeln!(
        out,
        "load {} (seed {seed}): {} to the entrypoints for {seconds:.1} s, counted here",
        scenario.name,
        super::rates_text(scenario)
    );
    let latency = total.percentiles();
    let _ = writeln!(
        out,
        "  sent {}: ok {}, degraded {}, failed {}; p50 {:.1} ms, p99 {:.1} ms",
        total.requests(),
        total.ok,
        total.degraded,
        total.failed,
        latency.p50,
        latency.p99
    );
    for (key, count) in total.top_causes().iter().take(5) {
        let _ = writeln!(out, "  cause {}: {} x{}", key.edge, key.code, count.total());
    }
    for expectation in judged.iter().map(ExpectationJson::from) {
        let _ = writeln!(
            out,
            "  expect {}: {} ({}; measured: {})",
            expectation.key,
            super::held_word(expectation.held),
            expectation.expected,
            expectation.actual
        );
    }
    let _ = match verdict(measured, judged) {
        Verdict::Inconclusive(_) => writeln!(
            out,
            "verdict: inconclusive (this machine, not the services, limited the load: arrivals sent late or refused); neither pass nor fail"
        ),
        Verdict::NothingJudged => writeln!(
            out,
            "verdict: nothing judged: no expectation set; pass --expect graceful or add `expect:` to the scenario"
        ),
        Verdict::Pass => writeln!(out, "verdict: pass (every expectation held)"),
        _ => writeln!(out, "verdict: fail (an expectation did not hold)"),
    };
    out
}

#[derive(Debug, Serialize)]
pub struct LoadJson {
    pub scenario: String,
    pub seed: u64,
    pub duration_ms: u64,
    /// Entry requests scheduled: every one counted once, in `requests`.
    pub scheduled: u64,
    pub requests: Requests,
    pub latency_ms: Percentiles,
    pub causes: Vec<CauseJson>,
    /// Whether this machine kept up; `false` makes the verdict `inconclusive`.
    pub kept_up: bool,
    pub expectations: Vec<ExpectationJson>,
    /// `pass`, `fail`, `none` or `inconclusive`.
    pub verdict: &'static str,
}

/// The JSON report.
pub fn json(
    scenario: &Scenario,
    seed: u64,
    duration_ms: u64,
    measured: &Measured,
    judged: &[Expectation],
) -> LoadJson {
    let total = &measured.total;
    LoadJson {
        scenario: scenario.name.clone(),
        seed,
        duration_ms,
        scheduled: measured.scheduled,
        requests: super::live::json::requests(total),
        latency_ms: total.percentiles(),
        causes: super::live::json::causes_json(total),
        kept_up: measured.lag.kept_up(),
        expectations: judged.iter().map(ExpectationJson::from).collect(),
        verdict: verdict(measured, judged).word(),
    }
}
