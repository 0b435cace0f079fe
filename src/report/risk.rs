//! `simulate risk`'s report: the terminal tables, the JSON, and the Markdown summary for a
//! pull request.

use std::fmt::Write as _;

use serde::Serialize;

use super::{plural, table};
use crate::model::Scenario;
use crate::record::result::StrategyRun;
use crate::risk::{Draw, Judged, MEASURES, StrategySummary, Trial};
use crate::stats::Estimate;
use crate::verdict::Verdict;

/// What a risk run was, for the header.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub scenario: &'a Scenario,
    /// The scenario's file as given, for the rerun commands the reports print.
    pub file: &'a str,
    /// The strategies compared, in order.
    pub strategies: &'a [String],
    pub seed: u64,
    pub trials: usize,
    pub asked: u32,
    pub net: &'static str,
}

/// What the trials found, for every form of the report.
#[derive(Debug, Clone, Copy)]
pub struct Findings<'a> {
    pub summaries: &'a [StrategySummary],
    pub trials: &'a [Trial],
    /// `risk.expect`'s limits, judged.
    pub judged: &'a [Judged],
    /// Strategies asked for by name that cannot be planned: each fails the verdict.
    pub unplanned: &'a [String],
    /// Every strategy left out because it cannot be planned, with why (the plan error
    /// as the reports word it).
    pub left_out: &'a [(String, String)],
    /// Fewer trials ran than were asked for (Ctrl-C).
    pub partial: bool,
    /// The verdict (`policy::Assessment::verdict`), which the exit code follows too.
    pub verdict: &'a Verdict,
}

impl Findings<'_> {
    /// Per strategy, how many trials without any defect failed anyway, when any did:
    /// (strategy, failed, trials without a defect).
    fn failed_without_defect(&self) -> Vec<(&str, u32, u32)> {
        let (clean, failed) = crate::risk::failed_without_defect(self.trials, self.summaries.len());
        self.summaries
            .iter()
            .zip(failed)
            .filter(|(_, failed)| *failed > 0)
            .map(|(summary, failed)| (summary.name.as_str(), failed, clean))
            .collect()
    }
}

/// A measure's value as the reports print a limit or an estimate alone.
pub(crate) fn amount_text(measure: &str, value: f64) -> String {
    amount(measure, value)
}

fn amount(measure: &str, value: f64) -> String {
    if measure == "change_failure_rate" {
        format!("{:.1}%", value * 100.0)
    } else if MEASURES.iter().any(|m| m.key == measure && m.millis) {
        let (value, unit, decimals) = time_scale(value.abs(), value);
        format!("{value:.decimals$} {unit}")
    } else {
        number(value)
    }
}

/// A time of `ms` milliseconds in the unit a person reads it in, given the largest
/// magnitude it is shown next to: (the time in that unit, the unit, its decimals).
fn time_scale(largest: f64, ms: f64) -> (f64, &'static str, usize) {
    if largest >= 1000.0 {
        (ms / 1000.0, "s", 1)
    } else if largest >= 100.0 {
        (ms, "ms", 0)
    } else {
        (ms, "ms", 1)
    }
}

/// A time and its interval: `15.61 s (15.58-15.64)`, `850 ms (820-880)`. The interval
/// (and the estimate with it) gets as many more decimals (up to two) as it takes for its
/// ends to differ.
fn time_cell(value: f64, low: f64, high: f64, signed: bool) -> String {
    let largest = value.abs().max(low.abs()).max(high.abs());
    let (shown, unit, decimals) = time_scale(largest, value);
    let scale = if unit == "s" { 1000.0 } else { 1.0 };
    let (low, high) = (low / scale, high / scale);
    let mut places = decimals;
    while places < decimals + 2
        && high > low
        && format!("{low:.places$}") == format!("{high:.places$}")
    {
        places += 1;
    }
    let sign = |v: f64, places: usize| {
        if signed && v >= 0.0 {
            format!("+{v:.places$}")
        } else {
            format!("{v:.places$}")
        }
    };
    let between = if signed { " to " } else { "-" };
    // The estimate gets the interval's decimals, so it never reads outside it.
    format!(
        "{} {unit} ({}{between}{})",
        sign(shown, places),
        sign(low, places),
        sign(high, places)
    )
}

fn limit_line(judged: &Judged) -> String {
    let label = MEASURES
        .iter()
        .find(|m| m.key == judged.measure)
        .map_or(judged.measure, |m| m.label);
    if judged.estimate.n == 0 {
        return format!(
            "{label}: not measured, no trial had one (holds; without a gate nothing is detected or restored)"
        );
    }
    format!(
        "{label} {} (95% interval {} to {}), limit {}: {}",
        amount(judged.measure, judged.estimate.value),
        amount(judged.measure, judged.estimate.low.max(0.0)),
        amount(judged.measure, judged.estimate.high),
        amount(judged.measure, judged.limit),
        if judged.holds { "holds" } else { "FAILED" }
    )
}

/// The verdict, as the reports end with it: `risk.expect`'s limits and the strategies
/// asked for that cannot be planned; "nothing judged" without a limit.
fn verdict(findings: &Findings<'_>) -> String {
    let failed = findings.judged.iter().filter(|j| !j.holds).count();
    let mut why = Vec::new();
    if failed > 0 {
        why.push(format!(
            "{failed} of {} {} exceeded",
            findings.judged.len(),
            plural(findings.judged.len(), "limit", "limits")
        ));
    }
    if !findings.unplanned.is_empty() {
        why.push(format!(
            "{} cannot be planned",
            findings.unplanned.join(", ")
        ));
    }
    match findings.verdict {
        Verdict::Interrupted => {
            "not judged (partial: interrupted; nothing is judged on part of the trials)".to_owned()
        }
        Verdict::Fail(_) => format!("fail ({})", why.join("; ")),
        Verdict::Inconclusive(unmeasured) => format!(
            "inconclusive (a trial of {} was not measured: the machine fell behind; neither pass nor fail)",
            unmeasured.join(", ")
        ),
        Verdict::NothingJudged => {
            "nothing judged: no expectation set (add risk.expect, for example \
         `max_change_failure_rate: 0.1`, to judge)"
                .to_owned()
        }
        Verdict::Pass => "pass (every limit holds)".to_owned(),
    }
}

fn cell(measure: usize, estimate: &Estimate) -> String {
    if estimate.n == 0 {
        return "-".to_owned();
    }
    if estimate.n == 1 && !MEASURES[measure].rate {
        return format!(
            "{} (1 trial)",
            amount(MEASURES[measure].key, estimate.value)
        );
    }
    if MEASURES[measure].millis {
        return time_cell(estimate.value, estimate.low.max(0.0), estimate.high, false);
    }
    if MEASURES[measure].rate {
        format!(
            "{:.0}% ({:.0}-{:.0})",
            estimate.value * 100.0,
            estimate.low * 100.0,
            estimate.high * 100.0
        )
    } else {
        format!(
            "{} ({}-{})",
            number(estimate.value),
            number(estimate.low.max(0.0)),
            number(estimate.high)
        )
    }
}

fn difference(measure: usize, estimate: &Estimate) -> String {
    if estimate.n == 0 {
        return "-".to_owned();
    }
    let scale = if MEASURES[measure].rate { 100.0 } else { 1.0 };
    let unit = if MEASURES[measure].rate { " pts" } else { "" };
    let sure = if estimate.excludes_zero() { "" } else { " ~" };
    let signed = |value: f64| {
        let text = number(value);
        if value >= 0.0 {
            format!("+{text}")
        } else {
            text
        }
    };
    if estimate.n == 1 {
        let value = if MEASURES[measure].millis {
            let shown = amount(MEASURES[measure].key, estimate.value);
            if estimate.value >= 0.0 {
                format!("+{shown}")
            } else {
                shown
            }
        } else {
            signed(estimate.value * scale)
        };
        return format!("{value}{unit} (1 trial) ~");
    }
    if MEASURES[measure].millis {
        return format!(
            "{}{sure}",
            time_cell(estimate.value, estimate.low, estimate.high, true)
        );
    }
    format!(
        "{}{unit} ({} to {}){sure}",
        signed(estimate.value * scale),
        signed(estimate.low * scale),
        signed(estimate.high * scale)
    )
}

/// A number as the tables print it: whole above 100, one decimal below.
fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Single-piece's summary, the reference every paired difference is taken against;
/// `None` when it could not be planned (then no strategy has a paired difference).
fn reference_of(summaries: &[StrategySummary]) -> Option<&StrategySummary> {
    summaries
        .iter()
        .find(|s| s.vs_single_piece.is_none() && s.name == "single-piece")
}

/// The index of a measure in [`MEASURES`].
fn measure_index(key: &str) -> usize {
    MEASURES
        .iter()
        .position(|m| m.key == key)
        .expect("a measure of MEASURES")
}

/// The recommendation, in one sentence, from the paired differences against
/// single-piece: a strategy that surely fails fewer changes; else the fastest (shortest
/// lead time, surely shorter than single-piece's) of those not surely riskier; else
/// single-piece when every other is surely riskier; else that the trials cannot tell.
pub fn recommendation(summaries: &[StrategySummary], fails_alone: &[&str]) -> String {
    let cfr = measure_index("change_failure_rate");
    let lead = measure_index("lead_time_ms");
    let Some(reference) = reference_of(summaries) else {
        return "no recommendation: single-piece, the reference, could not be planned".to_owned();
    };
    let diff = |s: &StrategySummary, m: usize| s.vs_single_piece.as_ref().map(|d| d[m]);
    // A strategy whose order fails with no defect at all is never recommended, however
    // its numbers compare: it ships a failure every time.
    let others: Vec<&StrategySummary> = summaries
        .iter()
        .filter(|s| s.vs_single_piece.is_some() && !fails_alone.contains(&s.name.as_str()))
        .collect();
    if fails_alone.contains(&reference.name.as_str()) && others.is_empty() {
        return "none: every strategy compared fails on its own order, with no defect (simulate check shows the states that fail, and the safe order if one exists)".to_owned();
    }
    if others.is_empty() {
        return "use single-piece: no other strategy compared ships without failing on its own order".to_owned();
    }
    let rate = |s: &StrategySummary| format!("{:.0}%", s.estimates[cfr].value * 100.0);
    let surely_safer = others
        .iter()
        .filter(|s| diff(s, cfr).is_some_and(|d| d.excludes_zero() && d.value < 0.0))
        .min_by(|a, b| a.estimates[cfr].value.total_cmp(&b.estimates[cfr].value));
    if let Some(best) = surely_safer {
        return format!(
            "use {}: it fails fewer changes than single-piece ({} against {}, surely: the 95% interval of the paired difference excludes zero)",
            best.name,
            rate(best),
            rate(reference)
        );
    }
    let not_riskier: Vec<&&StrategySummary> = others
        .iter()
        .filter(|s| diff(s, cfr).is_some_and(|d| !(d.excludes_zero() && d.value > 0.0)))
        .collect();
    let faster = not_riskier
        .iter()
        .filter(|s| diff(s, lead).is_some_and(|d| d.n > 1 && d.excludes_zero() && d.value < 0.0))
        .min_by(|a, b| a.estimates[lead].value.total_cmp(&b.estimates[lead].value));
    if let Some(best) = faster {
        let (mine, theirs) = (best.estimates[lead].value, reference.estimates[lead].value);
        return format!(
            "use {}: its change failure rate cannot be told apart from single-piece's ({} against {}), and its lead time is {:.0}% shorter ({} against {}, surely)",
            best.name,
            rate(best),
            rate(reference),
            (1.0 - mine / theirs.max(f64::MIN_POSITIVE)) * 100.0,
            amount("lead_time_ms", mine),
            amount("lead_time_ms", theirs)
        );
    }
    if not_riskier.is_empty() {
        return format!(
            "use single-piece: every other strategy compared surely fails more changes ({} for single-piece)",
            rate(reference)
        );
    }
    let names = |list: &[&&StrategySummary]| -> String {
        list.iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let undecided: Vec<&&StrategySummary> = not_riskier
        .iter()
        .copied()
        .filter(|s| diff(s, lead).is_none_or(|d| d.n <= 1 || !d.excludes_zero()))
        .collect();
    if undecided.is_empty() {
        let rest = if others.len() > not_riskier.len() {
            "; the others fail surely more changes"
        } else {
            ""
        };
        return format!(
            "use single-piece: {} cannot be told apart from it on change failure rate but {} surely slower{rest}",
            names(&not_riskier),
            if not_riskier.len() == 1 {
                "ships"
            } else {
                "ship"
            }
        );
    }
    format!(
        "the trials cannot tell single-piece from {} on change failure rate or lead time: run more trials (--trials) before choosing",
        names(&undecided)
    )
}

/// The recommendation of `findings`' trials (see [`recommendation`]).
fn recommend(findings: &Findings<'_>) -> String {
    let fails_alone = findings.failed_without_defect();
    let names: Vec<&str> = fails_alone.iter().map(|(name, ..)| *name).collect();
    recommendation(findings.summaries, &names)
}

/// The one-sentence answer: how batch (or else the riskiest strategy) compares with
/// single-piece on the change failure rate, and how sure the trials are.
pub fn answer(summaries: &[StrategySummary]) -> String {
    let Some(reference) = reference_of(summaries) else {
        return "no single-piece run to compare with".to_owned();
    };
    let others: Vec<&StrategySummary> = summaries
        .iter()
        .filter(|s| s.vs_single_piece.is_some())
        .collect();
    // The question is batch against single-piece: batch answers it when it ran;
    // otherwise the strategy with the highest change failure rate (the first of equals).
    let worst = others.iter().find(|s| s.name == "batch").or_else(|| {
        others.iter().reduce(|worst, s| {
            if s.estimates[0].value > worst.estimates[0].value {
                s
            } else {
                worst
            }
        })
    });
    let Some(worst) = worst else {
        return format!(
            "single-piece alone: change failure rate {}",
            cell(0, &reference.estimates[0])
        );
    };
    let diff = worst
        .vs_single_piece
        .as_ref()
        .map(|d| d[0])
        .unwrap_or(worst.estimates[0]);
    let verdict = if !diff.excludes_zero() {
        "cannot be told apart from"
    } else if diff.value > 0.0 {
        "is riskier than"
    } else {
        "is safer than"
    };
    format!(
        "{} {verdict} single-piece: change failure rate {:.0}% against {:.0}%, a difference of {} points (95% interval {} to {}) over {} paired {}",
        worst.name,
        worst.estimates[0].value * 100.0,
        reference.estimates[0].value * 100.0,
        signed(diff.value * 100.0),
        signed(diff.low * 100.0),
        signed(diff.high * 100.0),
        diff.n,
        plural(
            usize::try_from(diff.n).unwrap_or(usize::MAX),
            "trial",
            "trials"
        )
    ) + &failed_requests_clause(worst)
}

/// When the failure rates cannot tell the two apart, the failed requests per trial
/// often can: "; but it fails 70.5 more entry requests per trial (95% interval ...)".
fn failed_requests_clause(strategy: &StrategySummary) -> String {
    let Some(failed) = strategy.vs_single_piece.as_ref().map(|d| d[1]) else {
        return String::new();
    };
    // Said when the rates cannot tell the two apart, or when the requests say the
    // opposite (without a gate, batch fails in more trials but may fail fewer requests).
    let rate = strategy.vs_single_piece.as_ref().map(|d| d[0]);
    let rate_agrees =
        rate.is_some_and(|r| r.excludes_zero() && (r.value > 0.0) == (failed.value > 0.0));
    if rate_agrees || !failed.excludes_zero() {
        return String::new();
    }
    format!(
        "; but it fails {} {} entry requests per trial (95% interval {} to {})",
        number(failed.value.abs()),
        if failed.value > 0.0 { "more" } else { "fewer" },
        signed(failed.low),
        signed(failed.high)
    )
}

fn signed(value: f64) -> String {
    format!("{value:+.1}")
}

/// The terminal report.
/// The terminal report; `quiet` keeps the heading, the answer and the verdict.
pub fn text(header: Header<'_>, findings: &Findings<'_>, quiet: bool) -> String {
    let summaries = findings.summaries;
    let mut out = String::new();
    heading(&mut out, &header);
    for (name, why) in findings.left_out {
        let _ = writeln!(out, "  not compared: {name} cannot be planned: {why}");
    }
    if !quiet {
        out.push('\n');
        estimates_table(&mut out, summaries);
        if summaries.iter().any(|s| s.vs_single_piece.is_some()) {
            paired_table(&mut out, summaries);
        }
        notes(&mut out, findings);
    }
    let _ = writeln!(out, "\nanswer: {}", answer(summaries));
    let _ = writeln!(out, "recommendation: {}", recommend(findings));
    limits(&mut out, findings);
    out
}

/// What was run: the trials, the defects drawn, and what detects them.
fn heading(out: &mut String, header: &Header<'_>) {
    let defect = &header.scenario.risk.defect;
    let _ = writeln!(
        out,
        "risk {} (seed {}): {} paired {}{}, {}",
        header.scenario.name,
        header.seed,
        header.trials,
        plural(header.trials, "trial", "trials"),
        if header.trials < header.asked as usize {
            format!(" of {} asked (partial: interrupted)", header.asked)
        } else {
            String::new()
        },
        header.net
    );
    let _ = writeln!(
        out,
        "  defects: each changed version defective with probability {}; kinds errors {}, latency {}, drop-api {}{} (relative)",
        defect.probability,
        defect.weight_errors,
        defect.weight_latency,
        defect.weight_drop_api,
        if defect.weight_hang > 0.0 {
            format!(", hang {}", defect.weight_hang)
        } else {
            String::new()
        }
    );
    let _ = match &header.scenario.gate {
        Some(gate) => writeln!(
            out,
            "  detection: the gate, more than {}% failed in a step",
            gate.max_failed_ratio * 100.0
        ),
        None => writeln!(
            out,
            "  detection: none (no `gate:`): nothing is detected or rolled back; user impact only"
        ),
    };
}

/// Each strategy's estimate of every measure, with its interval.
fn estimates_table(out: &mut String, summaries: &[StrategySummary]) {
    let mut rows = vec![
        std::iter::once("strategy".to_owned())
            .chain(MEASURES.iter().map(|m| m.label.to_owned()))
            .chain(std::iter::once("states".to_owned()))
            .collect::<Vec<_>>(),
    ];
    for summary in summaries {
        rows.push(
            std::iter::once(summary.name.clone())
                .chain(
                    summary
                        .estimates
                        .iter()
                        .enumerate()
                        .map(|(m, e)| cell(m, e)),
                )
                .chain(std::iter::once(summary.states.to_string()))
                .collect(),
        );
    }
    out.push_str(&table(&rows, "  "));
    let _ = writeln!(
        out,
        "  each cell: the estimate and its 95% interval (rates: Wilson; means: Student t, over the trials where the measure applies)"
    );
}

/// Each strategy minus single-piece, paired by trial.
fn paired_table(out: &mut String, summaries: &[StrategySummary]) {
    let _ = writeln!(
        out,
        "\npaired against single-piece (same defects, same seed)"
    );
    let mut rows = vec![
        std::iter::once("strategy".to_owned())
            .chain(MEASURES.iter().map(|m| m.label.to_owned()))
            .collect::<Vec<_>>(),
    ];
    for summary in summaries {
        if let Some(differences) = &summary.vs_single_piece {
            rows.push(
                std::iter::once(summary.name.clone())
                    .chain(
                        differences
                            .iter()
                            .enumerate()
                            .map(|(m, e)| difference(m, e)),
                    )
                    .collect(),
            );
        }
    }
    out.push_str(&table(&rows, "  "));
    let _ = writeln!(
        out,
        "  ~ = the interval holds 0: these trials cannot tell the two apart on that measure; a difference is over the trials where both have the measure, so it need not equal the difference of the means above"
    );
}

/// Trials not measured, and strategies that failed without a defect.
fn notes(out: &mut String, findings: &Findings<'_>) {
    for summary in findings.summaries.iter().filter(|s| s.unjudged > 0) {
        let _ = writeln!(
            out,
            "  note: {}: {} {} not measured (the machine fell behind)",
            summary.name,
            summary.unjudged,
            plural(summary.unjudged as usize, "trial", "trials")
        );
    }
    for (name, failed, clean) in findings.failed_without_defect() {
        let _ = writeln!(
            out,
            "  note: {name} failed in {failed} of the {clean} {} with no defect: the order itself fails (simulate check shows the states)",
            plural(clean as usize, "trial", "trials")
        );
    }
}

/// `risk.expect`'s limits, each judged, and the verdict.
fn limits(out: &mut String, findings: &Findings<'_>) {
    if let Some(first) = findings.judged.first() {
        let _ = writeln!(out, "\nrisk.expect ({}):", first.strategy);
        for limit in findings.judged {
            let _ = writeln!(out, "  {}", limit_line(limit));
        }
    } else {
        out.push('\n');
    }
    let _ = writeln!(out, "verdict: {}", verdict(findings));
}

/// What the tables' last column counts.
const STATES_DEFINITION: &str = "distinct states the strategy passes through, transient ones included: the version combinations a request can meet (simulate check shows each)";

/// `Partial: Ctrl-C stopped the trials after 37 of 200...`, when fewer trials ran than
/// were asked for.
fn partial_line(header: &Header<'_>, findings: &Findings<'_>) -> Option<String> {
    findings.partial.then(|| {
        format!(
            "Partial: Ctrl-C stopped the trials after {} of the {} asked; every number covers those trials only, and nothing is judged",
            header.trials, header.asked
        )
    })
}

/// The Markdown summary for a pull request: the question, the answer, the table.
pub fn markdown(header: Header<'_>, findings: &Findings<'_>) -> String {
    let summaries = findings.summaries;
    let mut out = String::new();
    let _ = writeln!(out, "## Deployment risk: {}\n", header.scenario.name);
    let _ = writeln!(
        out,
        "**Deploy everything at once, or piece by piece?** {} paired trials (seed {}), each \
         changed version defective with probability {}, every strategy meeting the same \
         defects.\n",
        header.trials, header.seed, header.scenario.risk.defect.probability
    );
    if let Some(partial) = partial_line(&header, findings) {
        let _ = writeln!(out, "**{partial}**\n");
    }
    for (name, why) in findings.left_out {
        let _ = writeln!(out, "Not compared: {name} cannot be planned: {why}.\n");
    }
    let _ = writeln!(out, "**Answer:** {}.\n", answer(summaries));
    let _ = writeln!(out, "**Recommendation:** {}.\n", recommend(findings));
    for (name, failed, clean) in findings.failed_without_defect() {
        let _ = writeln!(
            out,
            "Note: {name} failed in {failed} of the {clean} trials with no defect: the order itself fails (`simulate check` shows the states).\n"
        );
    }
    if let Some(first) = findings.judged.first() {
        let _ = writeln!(out, "**risk.expect** ({}):\n", first.strategy);
        for judged in findings.judged {
            let _ = writeln!(out, "- {}", limit_line(judged));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "**verdict: {}**\n", verdict(findings));
    let _ = write!(out, "| strategy |");
    for measure in &MEASURES {
        let _ = write!(out, " {} |", measure.label);
    }
    let _ = writeln!(out, " states |");
    let _ = writeln!(out, "|---{}|---|", "|---".repeat(MEASURES.len()));
    for summary in summaries {
        let _ = write!(out, "| {} |", summary.name);
        for (m, estimate) in summary.estimates.iter().enumerate() {
            let _ = write!(out, " {} |", cell(m, estimate));
        }
        let _ = writeln!(out, " {} |", summary.states);
    }
    if summaries.iter().any(|s| s.vs_single_piece.is_some()) {
        let _ = write!(
            out,
            "\n**Paired against single-piece** (same defects, same load; `~`: the interval holds 0; each difference is over the trials where both have the measure)\n\n| strategy |"
        );
        for measure in &MEASURES {
            let _ = write!(out, " {} |", measure.label);
        }
        let _ = writeln!(out, "\n|---{}", "|---".repeat(MEASURES.len()) + "|");
        for summary in summaries {
            if let Some(differences) = &summary.vs_single_piece {
                let _ = write!(out, "| {} |", summary.name);
                for (m, estimate) in differences.iter().enumerate() {
                    let _ = write!(out, " {} |", difference(m, estimate));
                }
                out.push('\n');
            }
        }
    }
    let _ = writeln!(out, "\n<details><summary>What each measure is</summary>\n");
    for measure in &MEASURES {
        let _ = writeln!(out, "- **{}**: {}", measure.label, measure.definition);
    }
    let _ = writeln!(out, "- **states**: {STATES_DEFINITION}");
    let _ = writeln!(out, "\n</details>");
    let _ = writeln!(
        out,
        "\nEach cell: estimate (95% interval). Rates: Wilson; means: Student t over the \
         trials where the measure applies. Every trial's draw is in the JSON; rerun trial \
         N step by step with {}.",
        super::code_span(&rerun_command(&header, "N"))
    );
    out
}

/// `simulate risk --json`.
#[derive(Debug, Serialize)]
pub struct RiskReport<'a> {
    pub scenario: String,
    pub seed: u64,
    pub net: &'static str,
    pub trials_asked: u32,
    /// Fewer trials than asked ran (Ctrl-C); the numbers are those of the trials that ran.
    pub partial: bool,
    pub measures: Vec<&'static str>,
    pub answer: String,
    /// Which strategy the paired differences favour, and why, in one sentence.
    pub recommendation: String,
    /// `pass`, `fail` (a limit failed, a strategy asked for cannot be planned, or the
    /// trials were interrupted), `inconclusive` or `none` (no `risk.expect`).
    pub verdict: &'static str,
    /// Strategies asked for by name that cannot be planned.
    pub not_planned: &'a [String],
    /// `risk.expect`'s limits on its strategy, judged (empty without limits).
    pub expect: &'a [Judged],
    /// Per strategy (in `strategies` order): trials with no defect that failed anyway.
    pub failed_without_defect: Vec<u32>,
    /// Trials in which nothing was defective.
    pub trials_without_defect: u32,
    pub strategies: Vec<StrategyJson<'a>>,
    /// Every trial: its draw and each strategy's outcome (in `strategies` order).
    pub trials: &'a [Trial],
}

#[derive(Debug, Serialize)]
pub struct StrategyJson<'a> {
    pub name: &'a str,
    pub states: usize,
    pub unjudged: u32,
    /// Per measure key: the estimate and its interval.
    pub estimates: std::collections::BTreeMap<&'static str, Estimate>,
    /// Per measure key: this strategy minus single-piece, paired by trial.
    pub vs_single_piece: Option<std::collections::BTreeMap<&'static str, Estimate>>,
}

/// Builds the JSON form.
pub fn json<'a>(header: Header<'_>, findings: &Findings<'a>) -> RiskReport<'a> {
    let summaries = findings.summaries;
    let (clean, failed) = crate::risk::failed_without_defect(findings.trials, summaries.len());
    let keyed = |estimates: &[Estimate]| {
        MEASURES
            .iter()
            .zip(estimates)
            .map(|(measure, estimate)| (measure.key, *estimate))
            .collect()
    };
    RiskReport {
        scenario: header.scenario.name.clone(),
        seed: header.seed,
        net: header.net,
        trials_asked: header.asked,
        partial: findings.partial,
        measures: MEASURES.iter().map(|m| m.key).collect(),
        answer: answer(summaries),
        recommendation: recommend(findings),
        verdict: findings.verdict.word(),
        not_planned: findings.unplanned,
        expect: findings.judged,
        failed_without_defect: failed,
        trials_without_defect: clean,
        strategies: summaries
            .iter()
            .map(|summary| StrategyJson {
                name: &summary.name,
                states: summary.states,
                unjudged: summary.unjudged,
                estimates: keyed(&summary.estimates),
                vs_single_piece: summary.vs_single_piece.as_deref().map(keyed),
            })
            .collect(),
        trials: findings.trials,
    }
}

/// The page's template: one self-contained file. Its Content-Security-Policy forbids
/// every request (scripts, styles and images from anywhere but the page), so a page that
/// tried to load anything would say so in the browser's console.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Deployment risk: {{ scenario }}</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.note { color: #555; font-size: 13px; }
.partial { background: #fdecea; border: 1px solid #be2828; padding: 6px 10px; }
dl.definitions dt { font-weight: bold; margin-top: 4px; }
dl.definitions dd { margin-left: 1.5em; color: #333; }
</style>
</head>
<body>
<h1>Deployment risk: {{ scenario }}</h1>
<p><strong>Deploy everything at once, or piece by piece?</strong> {{ trials }} paired trials
(seed {{ seed }}, {{ net }}); each changed version defective with probability
{{ probability }}; every strategy meets the same defects.</p>
{% if partial %}<p class="partial"><strong>{{ partial }}.</strong></p>{% endif %}
{% for line in left_out %}<p class="note">Not compared: {{ line }}.</p>{% endfor %}
<p><strong>Answer:</strong> {{ answer }}.</p>
<p class="recommendation"><strong>Recommendation:</strong> {{ recommendation }}.</p>
{% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
{% if expect_strategy %}<h2>risk.expect ({{ expect_strategy }})</h2>
<ul>{% for line in expect %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
<p><strong>verdict: {{ verdict }}</strong></p>
<h2>Every measure</h2>
<table>
<tr><th>strategy</th>{% for label in labels %}<th>{{ label }}</th>{% endfor %}<th>states</th></tr>
{% for row in rows %}<tr><td>{{ row[0] }}</td>{% for cell in row[1] %}<td>{{ cell }}</td>{% endfor %}<td>{{ row[2] }}</td></tr>
{% endfor %}</table>
<p class="note">Each cell: the estimate and its 95% interval. Rates: Wilson; means: Student t over the trials where the measure applies.</p>
<h2>What each measure is</h2>
<dl class="definitions">{% for d in definitions %}<dt>{{ d[0] }}</dt><dd>{{ d[1] }}</dd>{% endfor %}</dl>
{% if paired %}<h2>Paired against single-piece</h2>
<table>
<tr><th>strategy</th>{% for label in labels %}<th>{{ label }}</th>{% endfor %}</tr>
{% for row in paired %}<tr><td>{{ row[0] }}</td>{% for cell in row[1] %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p class="note">~ = the interval holds 0: these trials cannot tell the two apart on that measure. A difference is over the trials where both strategies have the measure, so it need not equal the difference of the means above.</p>{% endif %}
<h2>Each measure with its interval</h2>
<div class="charts">{% for chart in charts %}{{ chart|safe }}{% endfor %}</div>
<h2>From one piece to one batch</h2>
<div class="charts">{{ curve|safe }}</div>
<h2>One trial, step by step (trial {{ timeline_trial }}: {{ timeline_defects }})</h2>
<p class="note">Entry requests per step: <span style="color:#3c9650">&#9632; ok</span>
<span style="color:#d6961e">&#9632; degraded</span> <span style="color:#be2828">&#9632; failed</span>.<br>
Rerun it with <code>{{ rerun }}</code></p>
<div class="charts">{% for chart in timelines %}{{ chart|safe }}{% endfor %}</div>
</body>
</html>
"#;

/// One strategy's steps in the trial the page shows: (step label, ok, degraded, failed).
pub type TimelineSteps = Vec<(String, u64, u64, u64)>;

/// The command that reruns trial `trial` step by step, to copy and paste.
pub fn rerun_command(header: &Header<'_>, trial: &str) -> String {
    let strategies: String = header
        .strategies
        .iter()
        .map(|name| format!(" --strategy {name}"))
        .collect();
    format!(
        "simulate {} --trial {trial} --net sim --seed {}{strategies}",
        super::shell_word(header.file),
        header.seed
    )
}

/// What `simulate SCENARIO --trial N` says first: the trial and its defects.
pub fn trial_line(draw: &Draw, seed: u64) -> String {
    format!(
        "risk trial {} (seed {seed}): {}",
        draw.trial,
        defects_text(draw)
    )
}

/// A draw's defects in words: "cart errors, web latency", or "no defect".
fn defects_text(draw: &Draw) -> String {
    if draw.defects.is_empty() {
        return "no defect".to_owned();
    }
    let defects: Vec<String> = draw
        .defects
        .iter()
        .map(|(service, kind)| format!("{service} {}", kind.word()))
        .collect();
    format!("defective: {}", defects.join(", "))
}

/// One run's steps as the timeline chart draws them.
fn timeline_steps(run: &StrategyRun) -> TimelineSteps {
    run.steps
        .iter()
        .map(|step| {
            (
                step.kind.label(),
                step.total.ok,
                step.total.degraded,
                step.total.failed,
            )
        })
        .collect()
}

/// The line the terminal shows while trials run: how many are done, and how long the
/// rest will take at the pace so far.
pub fn progress_text(done: u32, asked: u32, elapsed: std::time::Duration) -> String {
    let percent = f64::from(done) * 100.0 / f64::from(asked.max(1));
    let mut text = format!(
        "trials {done}/{asked} ({percent:.0}%), {} elapsed",
        super::duration_text(elapsed)
    );
    if done > 0 && done < asked && !elapsed.is_zero() {
        let rate = f64::from(done) / elapsed.as_secs_f64();
        let left = std::time::Duration::from_secs_f64(
            elapsed.as_secs_f64() / f64::from(done) * f64::from(asked.saturating_sub(done)),
        );
        let _ = write!(
            text,
            ", {} trials/s, about {} left",
            if rate >= 10.0 {
                format!("{rate:.0}")
            } else {
                format!("{rate:.1}")
            },
            super::duration_text(left)
        );
    }
    text.push_str("; Ctrl-C reports the trials done");
    text
}

/// The self-contained HTML report of the trials: `plans` are the compared strategies'
/// (their pieces' size is the curve's x), `runs` each strategy's run of trial `shown`,
/// drawn as the timeline.
pub fn page(
    header: Header<'_>,
    findings: &Findings<'_>,
    plans: &[(crate::model::Strategy, crate::plan::Plan)],
    shown: &Draw,
    runs: &[StrategyRun],
) -> Result<String, String> {
    let timelines: Vec<(String, TimelineSteps)> = runs
        .iter()
        .map(|run| (run.strategy.name.clone(), timeline_steps(run)))
        .collect();
    let sizes: Vec<f64> = plans
        .iter()
        .map(|(_, planned)| crate::risk::changes_per_step(planned))
        .collect();
    html(header, findings, &sizes, shown, &timelines)
}

/// The self-contained HTML report, with its charts as inline SVG.
/// `sizes`: each strategy's changes per step (the curve's x); `shown`: the trial whose
/// runs `timelines` are.
fn html(
    header: Header<'_>,
    findings: &Findings<'_>,
    sizes: &[f64],
    shown: &Draw,
    timelines: &[(String, TimelineSteps)],
) -> Result<String, String> {
    let summaries = findings.summaries;
    use super::charts;
    #[derive(Serialize)]
    struct Row {
        name: String,
        cells: Vec<String>,
        states: usize,
    }
    let rows: Vec<Row> = summaries
        .iter()
        .map(|summary| Row {
            name: summary.name.clone(),
            cells: summary
                .estimates
                .iter()
                .enumerate()
                .map(|(m, e)| cell(m, e))
                .collect(),
            states: summary.states,
        })
        .collect();
    let paired: Vec<Row> = summaries
        .iter()
        .filter_map(|summary| {
            let differences = summary.vs_single_piece.as_ref()?;
            Some(Row {
                name: summary.name.clone(),
                cells: differences
                    .iter()
                    .enumerate()
                    .map(|(m, e)| difference(m, e))
                    .collect(),
                states: summary.states,
            })
        })
        .collect();
    let charts: Vec<String> = (0..MEASURES.len())
        .map(|m| {
            let rows: Vec<(String, Estimate)> = summaries
                .iter()
                .map(|s| (s.name.clone(), s.estimates[m]))
                .collect();
            let unit = if MEASURES[m].rate {
                charts::Unit::Percent
            } else if MEASURES[m].millis {
                charts::Unit::Millis
            } else {
                charts::Unit::Number
            };
            charts::intervals(MEASURES[m].label, &rows, unit)
        })
        .collect();
    let mut points: Vec<(String, f64, Estimate)> = summaries
        .iter()
        .zip(sizes)
        .filter(|(_, size)| **size > 0.0)
        .map(|(s, size)| (s.name.clone(), *size, s.estimates[0]))
        .collect();
    points.sort_by(|a, b| a.1.total_cmp(&b.1));
    let context = minijinja::context! {
        scenario => header.scenario.name.clone(),
        trials => header.trials,
        seed => header.seed,
        net => header.net,
        probability => header.scenario.risk.defect.probability,
        answer => answer(summaries),
        recommendation => recommend(findings),
        left_out => findings
            .left_out
            .iter()
            .map(|(name, why)| format!("{name} cannot be planned: {why}"))
            .collect::<Vec<_>>(),
        partial => partial_line(&header, findings),
        definitions => MEASURES
            .iter()
            .map(|m| (m.label, m.definition))
            .chain([("states", STATES_DEFINITION)])
            .collect::<Vec<_>>(),
        labels => MEASURES.iter().map(|m| m.label).collect::<Vec<_>>(),
        rows => rows.iter().map(|r| (r.name.clone(), r.cells.clone(), r.states)).collect::<Vec<_>>(),
        paired => paired.iter().map(|r| (r.name.clone(), r.cells.clone(), r.states)).collect::<Vec<_>>(),
        charts => charts,
        curve => charts::curve(&points),
        timeline_trial => shown.trial,
        rerun => rerun_command(&header, &shown.trial.to_string()),
        verdict => verdict(findings),
        expect => findings.judged.iter().map(limit_line).collect::<Vec<_>>(),
        expect_strategy => findings.judged.first().map(|j| j.strategy.clone()),
        notes => findings.failed_without_defect().iter().map(|(name, failed, clean)| format!(
            "{name} failed in {failed} of the {clean} trials with no defect: the order itself fails (simulate check shows the states)."
        )).collect::<Vec<_>>(),
        timeline_defects => defects_text(shown),
        timelines => timelines
            .iter()
            .map(|(name, steps)| charts::timeline(name, steps))
            .collect::<Vec<_>>(),
    };
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", PAGE)
        .map_err(|err| err.to_string())?;
    env.get_template("report.html")
        .and_then(|template| template.render(context))
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(value: f64, low: f64, high: f64) -> Estimate {
        Estimate {
            value,
            low,
            high,
            n: 100,
        }
    }

    /// A strategy whose every measure is `value`, and whose paired differences are `rate`
    /// (change failure rate) and `failed` (failed requests), when given.
    fn summary(
        name: &str,
        value: f64,
        differences: Option<(Estimate, Estimate)>,
    ) -> StrategySummary {
        StrategySummary {
            name: name.to_owned(),
            estimates: vec![estimate(value, value, value); MEASURES.len()],
            vs_single_piece: differences.map(|(rate, failed)| {
                let mut all = vec![estimate(0.0, -1.0, 1.0); MEASURES.len()];
                all[0] = rate;
                all[1] = failed;
                all
            }),
            states: 3,
            unjudged: 0,
        }
    }

    #[test]
    fn the_answer_is_batch_against_single_piece_with_its_interval() {
        let sure = estimate(0.3, 0.2, 0.4);
        let summaries = [
            summary("waves-2", 0.9, Some((estimate(0.5, 0.4, 0.6), sure))),
            summary("batch", 0.6, Some((sure, sure))),
            summary("single-piece", 0.3, None),
        ];
        assert_eq!(
            answer(&summaries),
            "batch is riskier than single-piece: change failure rate 60% against 30%, a difference of +30.0 points (95% interval +20.0 to +40.0) over 100 paired trials"
        );
    }

    #[test]
    fn equal_failure_rates_name_the_failed_requests_when_those_differ_surely() {
        let unsure = estimate(0.0, -0.05, 0.05);
        let summaries = [
            summary("batch", 0.5, Some((unsure, estimate(70.0, 60.0, 80.0)))),
            summary("single-piece", 0.5, None),
        ];
        let text = answer(&summaries);
        assert!(
            text.starts_with("batch cannot be told apart from single-piece"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "; but it fails 70.0 more entry requests per trial (95% interval +60.0 to +80.0)"
            ),
            "{text}"
        );
        let summaries = [
            summary("batch", 0.5, Some((unsure, unsure))),
            summary("single-piece", 0.5, None),
        ];
        assert!(!answer(&summaries).contains("but"));
    }

    #[test]
    fn a_single_trial_has_no_interval_and_no_known_sign() {
        let one = Estimate {
            value: 352.0,
            low: 352.0,
            high: 352.0,
            n: 1,
        };
        assert_eq!(cell(10, &one), "352 ms (1 trial)");
        assert_eq!(difference(10, &one), "+352 ms (1 trial) ~");
        assert_eq!(cell(1, &one), "352 (1 trial)");
        assert!(!one.excludes_zero());
    }

    /// A strategy with a change failure rate and a lead time (ms), and its paired
    /// differences on both against single-piece, when given.
    fn paced(
        name: &str,
        rate: f64,
        lead: f64,
        vs: Option<(Estimate, Estimate)>,
    ) -> StrategySummary {
        let cfr = measure_index("change_failure_rate");
        let lead_at = measure_index("lead_time_ms");
        let mut strategy = summary(name, 0.0, None);
        strategy.estimates[cfr] = estimate(rate, rate, rate);
        strategy.estimates[lead_at] = estimate(lead, lead, lead);
        strategy.vs_single_piece = vs.map(|(d_rate, d_lead)| {
            let mut all = vec![estimate(0.0, -1.0, 1.0); MEASURES.len()];
            all[cfr] = d_rate;
            all[lead_at] = d_lead;
            all
        });
        strategy
    }

    #[test]
    fn the_recommendation_follows_the_paired_differences() {
        let unsure = estimate(0.0, -0.04, 0.04);
        let riskier = estimate(0.5, 0.4, 0.6);
        let reference = paced("single-piece", 0.45, 15_600.0, None);
        // As safe and surely faster: recommended, with how much faster.
        let safe = paced(
            "safe",
            0.45,
            8_600.0,
            Some((unsure, estimate(-7_000.0, -7_200.0, -6_800.0))),
        );
        let batch = paced(
            "batch",
            0.95,
            350.0,
            Some((riskier, estimate(-15_000.0, -15_100.0, -14_900.0))),
        );
        let text = recommendation(&[batch.clone(), safe.clone(), reference.clone()], &[]);
        assert_eq!(
            text,
            "use safe: its change failure rate cannot be told apart from single-piece's (45% against 45%), and its lead time is 45% shorter (8.6 s against 15.6 s, surely)"
        );
        // A strategy whose order fails with no defect is never recommended.
        assert!(
            recommendation(&[safe.clone(), reference.clone()], &["safe"])
                .starts_with("use single-piece: no other strategy")
        );
        // Surely safer wins outright.
        let careful = paced(
            "waves-2",
            0.2,
            20_000.0,
            Some((estimate(-0.25, -0.3, -0.2), unsure)),
        );
        assert!(
            recommendation(&[careful, safe.clone(), reference.clone()], &[])
                .starts_with("use waves-2: it fails fewer changes"),
        );
        // Every other strategy surely riskier: single-piece.
        assert!(
            recommendation(&[batch, reference.clone()], &[])
                .starts_with("use single-piece: every other strategy")
        );
        // Too few trials to tell.
        let unclear = paced(
            "waves-3",
            0.45,
            15_000.0,
            Some((unsure, estimate(-600.0, -2_000.0, 800.0))),
        );
        assert_eq!(
            recommendation(&[unclear, reference], &[]),
            "the trials cannot tell single-piece from waves-3 on change failure rate or lead time: run more trials (--trials) before choosing"
        );
    }

    #[test]
    fn times_read_in_seconds_or_milliseconds_with_an_interval_that_tells_its_ends_apart() {
        assert_eq!(
            time_cell(15_611.0, 15_580.0, 15_643.0, false),
            "15.61 s (15.58-15.64)"
        );
        assert_eq!(time_cell(850.0, 820.0, 880.0, false), "850 ms (820-880)");
        assert_eq!(
            time_cell(-675.0, -876.0, -474.0, true),
            "-675 ms (-876 to -474)"
        );
        assert_eq!(amount("lead_time_ms", 2_500.0), "2.5 s");
        assert_eq!(amount("failed_requests", 2_500.0), "2500");
    }

    #[test]
    fn progress_says_elapsed_rate_and_time_left_in_minutes_and_seconds() {
        let text = progress_text(37, 200, std::time::Duration::from_secs(41));
        assert_eq!(
            text,
            "trials 37/200 (18%), 41.0 s elapsed, 0.9 trials/s, about 3 min 0 s left; Ctrl-C reports the trials done"
        );
        assert!(
            progress_text(0, 200, std::time::Duration::ZERO)
                .starts_with("trials 0/200 (0%), 0 ms elapsed; Ctrl-C")
        );
    }
}
