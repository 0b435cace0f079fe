//! Each command's result as a [`Gate`]'s test cases, with findings on the scenario's
//! key paths: a broken call at the call's entry, an expectation at its key, a limit at
//! its line.

use crate::avail;
use crate::check::{self, StrategyCheck};
use crate::eval::graph::{BrokenEdge, Level, Prediction};
use crate::model::Scenario;
use crate::record::expect::Rule;
use crate::record::result::{Ending, LiveRun, SweepRow};
use crate::report::live::json::ExpectationJson;
use crate::report::{path_text, plan_error_text, plural};
use crate::risk::policy::Assessment;
use crate::runtime::net::Net;
use crate::scenario::{Positions, Problem};
use crate::verdict::Verdict;

use super::{Case, Finding, Gate, Status};

/// What every gate needs besides the result: the file as the user named it, the seed,
/// the command that reruns it, and where the file's keys are.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub file: &'a str,
    pub seed: u64,
    pub rerun: &'a str,
    pub positions: Option<&'a Positions>,
}

impl Context<'_> {
    fn gate(&self, command: &'static str, scenario: &str, verdict: Verdict) -> Gate {
        Gate {
            command,
            scenario: scenario.to_owned(),
            file: self.file.to_owned(),
            verdict,
            headline: String::new(),
            seed: Some(self.seed),
            rerun: self.rerun.to_owned(),
            cases: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The key of strategy `name` in `strategies:`; empty when the file does not list
    /// it (a built-in the scenario does not name).
    fn strategy(&self, name: &str) -> String {
        self.positions
            .and_then(|p| p.strategy(name))
            .unwrap_or_default()
    }

    /// Where strategy `name`'s expectation `key` (`graceful`, `p99_ms`...) is written:
    /// its own `expect` replaces the scenario's key by key, so the strategy's key, else
    /// the scenario's, else the strategy (`--expect` on the command line is in no file).
    fn expect_key(&self, name: &str, key: &str) -> String {
        let strategy = self.strategy(name);
        let written = |path: &str| self.positions.is_some_and(|p| p.at(path).is_some());
        let own = format!("{strategy}.expect.{key}");
        let top = format!("expect.{key}");
        if !strategy.is_empty() && written(&own) {
            own
        } else if written(&top) {
            top
        } else {
            strategy
        }
    }

    /// The call a broken edge breaks: the caller version's call to the callee at the
    /// edge's API (the version from the prediction's path when known).
    fn call(&self, caller: Option<&str>, version: Option<&str>, callee: &str, api: &str) -> String {
        match (caller, self.positions) {
            (Some(caller), Some(positions)) if caller != crate::contract::CLIENT => {
                positions.call(caller, version, callee, Some(api))
            }
            _ => format!("services.{callee}"),
        }
    }

    fn edge(&self, prediction: &Prediction, edge: &BrokenEdge) -> String {
        let version = prediction
            .path
            .iter()
            .rev()
            .find(|(service, _)| Some(service.as_str()) == edge.caller.as_deref())
            .map(|(_, version)| version.as_str());
        self.call(edge.caller.as_deref(), version, &edge.callee, &edge.api)
    }

    /// A live cause's edge (`web -> catalog api v2 method Get`) at its call.
    fn cause(&self, edge: &str) -> String {
        let Some((caller, rest)) = edge.split_once(" -> ") else {
            return String::new();
        };
        let mut words = rest.split_whitespace();
        let callee = words.next().unwrap_or_default();
        let api = match (words.next(), words.next()) {
            (Some("api"), Some(api)) => api,
            _ => "v1",
        };
        self.call(Some(caller), None, callee, api)
    }
}

/// At most this many failing states of one strategy are cases of their own; the
/// strategy's case counts them all.
pub const MAX_STATE_CASES: usize = 20;

/// `simulate check`: per strategy, its graceful expectation (or "nothing judged"), and
/// per state that breaks it a case at the call that breaks.
pub fn check(scenario: &Scenario, report: &check::Report, cx: Context<'_>) -> Gate {
    let mut gate = cx.gate("check", &scenario.name, report.verdict());
    let mut headline = String::new();
    crate::report::check::verdict(&mut headline, report);
    gate.headline = headline.trim().trim_start_matches("verdict: ").to_owned();
    for check in &report.strategies {
        strategy_cases(&mut gate.cases, scenario, &report.graph, check, cx);
    }
    gate.notes
        .push(("Safe order".to_owned(), safe_text(&report.safe)));
    if let Some(fix) = fix_text(report) {
        gate.notes.push(("To fix".to_owned(), fix));
    }
    gate
}

fn strategy_cases(
    cases: &mut Vec<Case>,
    scenario: &Scenario,
    graph: &crate::eval::graph::Graph,
    check: &StrategyCheck,
    cx: Context<'_>,
) {
    let name = check.strategy.name.clone();
    let declared = cx.strategy(&name);
    let expect_key = cx.expect_key(&name, "graceful");
    let case = |status, title: &str, message: String, findings| {
        Case::judged(&name, title, status, message, &expect_key, findings)
    };
    if let Err(err) = &check.plan {
        let why = format!("cannot be planned: {}", plan_error_text(err));
        cases.push(if check.strategy.listed {
            case(
                Status::Failed,
                "can be planned",
                why.clone(),
                vec![Finding::at(declared, why)],
            )
        } else {
            case(
                Status::Skipped,
                "can be planned",
                format!("{why} (a default strategy: reported, not failed)"),
                Vec::new(),
            )
        });
        return;
    }
    let failing = failing_states(scenario, graph, check, cx);
    let overloaded: Vec<(String, Finding)> = check
        .overloaded()
        .into_iter()
        .map(|(step, entry, served)| {
            let text = format!(
                "{} the load fails requests: {entry} serves {:.1}%",
                if step == 0 {
                    "at the baseline".to_owned()
                } else {
                    format!("after step {step}")
                },
                served * 100.0
            );
            (text.clone(), Finding::at(format!("services.{entry}"), text))
        })
        .collect();
    let states = check.distinct_states;
    let fails = format!(
        "{} of {states} {} {} an entrypoint{}",
        check.failing_states,
        plural(states, "state", "states"),
        plural(check.failing_states, "fails", "fail"),
        if overloaded.is_empty() {
            String::new()
        } else {
            format!("; {}", overloaded[0].0)
        }
    );
    let (status, title, message) = match (check.strategy.expect.graceful, check.expectation_held())
    {
        (Some(true), Some(true)) => (
            Status::Passed,
            "graceful",
            format!("no state of {states} fails an entrypoint"),
        ),
        (Some(true), _) => (Status::Failed, "graceful", fails.clone()),
        (Some(false), Some(true)) => (
            Status::Passed,
            "expects a failure",
            format!("{fails}, as expected"),
        ),
        (Some(false), Some(false)) => (
            Status::Failed,
            "expects a failure",
            format!("no state of {states} fails an entrypoint, but a failure is expected"),
        ),
        (Some(false), None) => (
            Status::Skipped,
            "expects a failure",
            "left to the run: what fails it is not predicted here".to_owned(),
        ),
        (None, _) => (
            Status::Skipped,
            "graceful",
            format!("nothing judged: no `graceful` expectation ({fails})"),
        ),
    };
    let findings = match (status, check.strategy.expect.graceful) {
        (Status::Failed, Some(true)) => failing
            .iter()
            .map(|(_, finding)| finding.clone())
            .chain(overloaded.iter().map(|(_, finding)| finding.clone()))
            .take(MAX_STATE_CASES)
            .collect(),
        (Status::Failed, _) => vec![Finding::at(expect_key.clone(), message.clone())],
        _ => Vec::new(),
    };
    cases.push(case(status, title, message, findings));
    // Each state that breaks a graceful expectation, a case of its own.
    if status == Status::Failed && check.strategy.expect.graceful == Some(true) {
        for (label, finding) in failing.into_iter().chain(overloaded).take(MAX_STATE_CASES) {
            cases.push(Case {
                primary: false,
                ..case(Status::Failed, &label, finding.text.clone(), vec![finding])
            });
        }
    }
}

/// The states of a strategy in which an entrypoint fails: (state, the finding at the
/// call that breaks), one per entrypoint and broken edge, in step order.
fn failing_states(
    scenario: &Scenario,
    graph: &crate::eval::graph::Graph,
    check: &StrategyCheck,
    cx: Context<'_>,
) -> Vec<(String, Finding)> {
    let mut found: Vec<(String, Finding)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (index, step) in check.steps.iter().enumerate() {
        let parts = [
            (step.transient.as_ref(), format!("during step {index}")),
            (
                Some(&step.settled),
                if index == 0 {
                    "at the baseline".to_owned()
                } else {
                    format!("after step {index}")
                },
            ),
        ];
        for (evaluated, label) in parts {
            let Some(evaluated) = evaluated else { continue };
            for (prediction, &(entry, _)) in evaluated.predictions.iter().zip(&graph.entries) {
                if prediction.level != Level::Failed {
                    continue;
                }
                let entry = &graph.services[entry];
                let path = path_text(prediction);
                if !seen.insert((entry.clone(), path.clone())) {
                    continue;
                }
                let key = prediction.edge.as_deref().map_or_else(
                    || format!("services.{entry}"),
                    |edge| broken_key(scenario, prediction, edge, cx),
                );
                let text = if path.is_empty() {
                    format!("{label}: {entry} fails")
                } else {
                    format!("{label}: {entry} fails: {path}")
                };
                found.push((format!("{label}: {entry} fails"), Finding::at(key, text)));
            }
        }
    }
    found
}

/// Where a broken edge is fixed: a new build that no longer provides the API (or the
/// method) a caller still calls is the break, so its `provides` (its entry); a new
/// call to an API an old build lacks is the call.
fn broken_key(
    scenario: &Scenario,
    prediction: &Prediction,
    edge: &BrokenEdge,
    cx: Context<'_>,
) -> String {
    use crate::eval::graph::Break;
    let dropped = match &edge.why {
        Break::NoApi { version } => Some((version, ".provides")),
        Break::NoMethod { version } => Some((version, ".methods")),
        _ => None,
    };
    match dropped {
        Some((version, key))
            if scenario.initial.version(&edge.callee) != Some(version.as_str()) =>
        {
            format!("services.{}.versions.{version}{key}", edge.callee)
        }
        _ => cx.edge(prediction, edge),
    }
}

/// What the summary says to do when a judged strategy breaks: ship in the safe order,
/// or mark a known-bad order as expected to fail; with no safe order, the conflict's
/// fix.
fn fix_text(report: &check::Report) -> Option<String> {
    use crate::plan::safe::SafeOrder;
    if !matches!(report.verdict(), Verdict::Fail(_)) {
        return None;
    }
    match &report.safe {
        SafeOrder::Found { steps, .. } if !steps.is_empty() => Some(
            "ship in the safe order (`--strategy safe`, or list `safe` in `strategies:`); an order kept to show that it breaks takes `expect: { graceful: false }`"
                .to_owned(),
        ),
        SafeOrder::NotFound { conflicts, .. } => conflicts
            .iter()
            .find_map(|c| crate::report::conflict_text(c).1),
        _ => None,
    }
}

fn safe_text(order: &crate::plan::safe::SafeOrder) -> String {
    use crate::plan::safe::SafeOrder;
    match order {
        SafeOrder::Found { steps, .. } if steps.is_empty() => "nothing to roll out".to_owned(),
        SafeOrder::Found { steps, fewest } => {
            let shown: Vec<String> = steps
                .iter()
                .map(|step| format!("[{}]", crate::report::step_items(step).join(", ")))
                .collect();
            format!(
                "{} {}{}: {} (run it with `--strategy safe`)",
                steps.len(),
                plural(steps.len(), "step", "steps"),
                if *fewest { ", the fewest possible" } else { "" },
                shown.join(" → ")
            )
        }
        SafeOrder::NotFound { conflicts, proven } => {
            let first = conflicts
                .first()
                .map(|c| format!(": {}", crate::report::conflict_text(c).0))
                .unwrap_or_default();
            format!(
                "{}{first}",
                if *proven { "none exists" } else { "none found" }
            )
        }
    }
}

/// At most this many causes of a failed expectation are findings.
const MAX_CAUSES: usize = 3;

/// The live run (`--net live` or `sim`): per strategy, each expectation, or "nothing
/// judged"; a run the machine limited or Ctrl-C stopped is inconclusive.
pub fn live(scenario: &Scenario, net: Net, run: &LiveRun, cx: Context<'_>) -> Gate {
    let summary = run.summary(scenario);
    let mut gate = cx.gate("run", &scenario.name, Verdict::of(&summary));
    gate.headline = crate::report::live::verdict_sentence(scenario, cx.seed, net, &summary);
    for strategy_run in &run.runs {
        let name = strategy_run.strategy.name.clone();
        let expect_key = cx.expect_key(&name, "graceful");
        let case = |status, title: String, message: String, findings| {
            Case::judged(&name, title, status, message, &expect_key, findings)
        };
        let total = &strategy_run.total;
        let failed = format!(
            "{} of {} entry requests failed",
            total.failed,
            total.requests()
        );
        if run.interrupted || strategy_run.ending == Ending::Interrupted {
            gate.cases.push(case(
                Status::Inconclusive,
                "expectations".to_owned(),
                "not judged: the run was interrupted".to_owned(),
                Vec::new(),
            ));
            continue;
        }
        if !strategy_run.kept_up() && !strategy_run.strategy.expect.is_empty() {
            let text = "not judged: the machine, not the services, limited the run (arrivals sent late or waits overrun)".to_owned();
            gate.cases.push(case(
                Status::Inconclusive,
                "expectations".to_owned(),
                text.clone(),
                vec![Finding::at(expect_key.clone(), text)],
            ));
            continue;
        }
        if strategy_run.expectations.is_empty() {
            gate.cases.push(case(
                Status::Skipped,
                "expectations".to_owned(),
                format!("nothing judged: no expectation set ({failed})"),
                Vec::new(),
            ));
            continue;
        }
        let causes: Vec<Finding> = total
            .top_causes()
            .iter()
            .take(MAX_CAUSES)
            .map(|(key, count)| {
                Finding::at(
                    cx.cause(&key.edge),
                    format!("{}: {} x{}", key.edge, key.code, count.total()),
                )
            })
            .collect();
        for judged in &strategy_run.expectations {
            let expectation = ExpectationJson::from(judged);
            // Named as `check` names them, so a pipeline reads one word for one rule.
            let title = match judged.rule {
                Rule::Graceful(true) => "graceful".to_owned(),
                Rule::Graceful(false) => "expects a failure".to_owned(),
                _ => format!("expect {}", expectation.key),
            };
            let message = format!("{}; measured: {}", expectation.expected, expectation.actual);
            let (status, findings) = if expectation.held {
                (Status::Passed, Vec::new())
            } else {
                let at = cx.expect_key(&name, expectation.key);
                let mut findings = vec![Finding::at(
                    at,
                    format!("expect {} failed: {message}", expectation.key),
                )];
                findings.extend(causes.iter().cloned());
                (Status::Failed, findings)
            };
            gate.cases.push(case(status, title, message, findings));
        }
    }
    for unplanned in &run.unplanned {
        let name = unplanned.strategy.name.clone();
        let why = format!("cannot be planned: {}", plan_error_text(&unplanned.error));
        let listed = unplanned.strategy.listed;
        gate.cases.push(Case {
            group: name.clone(),
            name: "can be planned".to_owned(),
            status: if listed {
                Status::Failed
            } else {
                Status::Skipped
            },
            message: why.clone(),
            at: cx.strategy(&name),
            findings: if listed {
                vec![Finding::at(cx.strategy(&name), why)]
            } else {
                Vec::new()
            },
            primary: true,
            blocking: true,
        });
    }
    gate
}

/// The live sweep: per entrypoint, whether any one missing service fails it (its single
/// points of failure). A sweep has no expectation, so its verdict judges nothing and its
/// failures do not fail the command: they are warnings.
pub fn sweep(scenario: &Scenario, rows: &[SweepRow], interrupted: bool, cx: Context<'_>) -> Gate {
    let behind: Vec<String> = rows
        .iter()
        .filter(|row| !row.kept_up())
        .map(|row| row.missing.join(" + "))
        .collect();
    let verdict = if interrupted {
        Verdict::Interrupted
    } else if !behind.is_empty() {
        Verdict::Inconclusive(behind.clone())
    } else {
        Verdict::NothingJudged
    };
    let mut gate = cx.gate("sweep", &scenario.name, verdict);
    let reference = rows.iter().find(|row| row.missing.is_empty());
    let fails = |row: &SweepRow, entry: &str| {
        row.run.steps[0]
            .by_entry
            .get(entry)
            .is_some_and(|tally| tally.failed > 0)
    };
    let mut spofs = std::collections::BTreeSet::new();
    for entry in scenario.entrypoints().map(|s| s.name.clone()) {
        let case = |status, message: String, findings| Case {
            group: entry.clone(),
            name: "survives any one service missing".to_owned(),
            status,
            message,
            at: format!("services.{entry}"),
            findings,
            primary: true,
            blocking: false,
        };
        if interrupted || reference.is_none_or(|r| !r.kept_up()) {
            gate.cases.push(case(
                Status::Inconclusive,
                "not measured: the sweep was interrupted or the machine fell behind".to_owned(),
                Vec::new(),
            ));
            continue;
        }
        let fails_without = reference.is_some_and(|r| fails(r, &entry));
        if fails_without {
            // Nothing missing and it fails already: no missing service is to blame, and
            // "survives" would be a pass where nothing survived.
            let tally = reference
                .and_then(|r| r.run.steps[0].by_entry.get(&entry))
                .map(|t| format!("{} of {} requests failed", t.failed, t.requests()))
                .unwrap_or_default();
            let text =
                format!("{entry} fails with nothing missing ({tally}): `simulate check` shows why");
            gate.cases.push(case(
                Status::Failed,
                text.clone(),
                vec![Finding::at(format!("services.{entry}"), text)],
            ));
            continue;
        }
        let lost: Vec<&SweepRow> = rows
            .iter()
            .filter(|row| row.missing.len() == 1 && row.kept_up() && row.missing[0] != entry)
            .filter(|row| fails(row, &entry))
            .collect();
        if lost.is_empty() {
            gate.cases.push(case(
                Status::Passed,
                "no single service's loss fails it".to_owned(),
                Vec::new(),
            ));
            continue;
        }
        let names: Vec<&str> = lost.iter().map(|row| row.missing[0].as_str()).collect();
        spofs.extend(names.iter().map(|name| name.to_string()));
        let findings = lost
            .iter()
            .map(|row| {
                let missing = &row.missing[0];
                let tally = &row.run.steps[0].by_entry[&entry];
                Finding::at(
                    format!("services.{missing}"),
                    format!(
                        "{entry} fails without {missing}: {} of {} requests failed",
                        tally.failed,
                        tally.requests()
                    ),
                )
            })
            .collect();
        gate.cases.push(case(
            Status::Failed,
            format!("single points of failure: {}", names.join(", ")),
            findings,
        ));
    }
    gate.headline = if interrupted {
        "interrupted: not judged".to_owned()
    } else if !behind.is_empty() {
        format!(
            "inconclusive: the machine fell behind in {} {}",
            behind.len(),
            plural(behind.len(), "row", "rows")
        )
    } else if spofs.is_empty() {
        "nothing judged (a sweep has no expectation); no single point of failure".to_owned()
    } else {
        format!(
            "nothing judged (a sweep has no expectation); single points of failure: {}",
            spofs.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    gate
}

/// `simulate risk`: each `risk.expect` limit on its strategy's estimate, each strategy
/// asked for by name that cannot be planned; "nothing judged" without a limit.
pub fn risk(
    scenario: &Scenario,
    assessment: &Assessment,
    verdict: &Verdict,
    trials: usize,
    cx: Context<'_>,
) -> Gate {
    let mut gate = cx.gate("risk", &scenario.name, verdict.clone());
    for judged in &assessment.judged {
        let key = format!("max_{}", judged.measure);
        let estimate = judged.estimate;
        let limit = crate::report::risk::amount_text(judged.measure, judged.limit);
        let value = crate::report::risk::amount_text(judged.measure, estimate.value);
        let interval = format!(
            "95% interval {} to {}, {} trials",
            crate::report::risk::amount_text(judged.measure, estimate.low),
            crate::report::risk::amount_text(judged.measure, estimate.high),
            estimate.n
        );
        let unmeasured = assessment
            .summaries
            .iter()
            .any(|s| s.name == judged.strategy && s.unjudged > 0);
        let (status, message) = if *verdict == Verdict::Interrupted {
            (Status::Inconclusive, "not judged: interrupted".to_owned())
        } else if unmeasured {
            (
                Status::Inconclusive,
                format!(
                    "not judged: some trials were not measured (the machine fell behind); {value}"
                ),
            )
        } else if estimate.n == 0 {
            (
                Status::Passed,
                format!("no trial had the measure (limit {limit})"),
            )
        } else if judged.holds {
            (
                Status::Passed,
                format!("{value} is within the limit {limit} ({interval})"),
            )
        } else {
            (
                Status::Failed,
                format!("{value} is over the limit {limit} ({interval})"),
            )
        };
        let findings = if status == Status::Passed {
            Vec::new()
        } else {
            vec![Finding::at(
                format!("risk.expect.{key}"),
                format!("{key} of {}: {message}", judged.strategy),
            )]
        };
        gate.cases.push(Case {
            group: judged.strategy.clone(),
            name: format!("{key} <= {limit}"),
            status,
            message,
            at: format!("risk.expect.{key}"),
            findings,
            primary: true,
            blocking: true,
        });
    }
    for name in &assessment.unplanned {
        let key = cx.positions.and_then(|p| {
            (0..)
                .map(|i| format!("risk.strategies[{i}]"))
                .take_while(|path| p.at(path).is_some())
                .find(|path| p.scalar(path) == Some(name))
        });
        let why = "asked for by name, and cannot be planned".to_owned();
        gate.cases.push(Case {
            group: name.clone(),
            name: "can be planned".to_owned(),
            status: Status::Failed,
            message: why.clone(),
            at: key.clone().unwrap_or_else(|| "risk".to_owned()),
            findings: vec![Finding::at(
                key.unwrap_or_else(|| "risk".to_owned()),
                format!("{name}: {why}"),
            )],
            primary: true,
            blocking: true,
        });
    }
    if assessment.judged.is_empty() {
        gate.cases.push(Case {
            group: "risk.expect".to_owned(),
            name: "limits".to_owned(),
            status: Status::Skipped,
            message: "nothing judged: no `risk.expect` limit".to_owned(),
            at: "risk".to_owned(),
            findings: Vec::new(),
            primary: true,
            blocking: true,
        });
    }
    let over = assessment.judged.iter().filter(|j| !j.holds).count();
    let unplanned = assessment.unplanned.len();
    gate.headline = match verdict {
        Verdict::Pass => format!("every `risk.expect` limit holds over {trials} trials"),
        Verdict::Fail(_) => {
            let mut why = Vec::new();
            if over > 0 {
                why.push(format!(
                    "{over} {} over {trials} trials",
                    plural(over, "limit fails", "limits fail")
                ));
            }
            if unplanned > 0 {
                why.push(format!(
                    "{} asked for and cannot be planned",
                    assessment.unplanned.join(", ")
                ));
            }
            why.join("; ")
        }
        Verdict::NothingJudged => "nothing judged: no `risk.expect` limit".to_owned(),
        Verdict::Inconclusive(_) => "inconclusive: some trials were not measured".to_owned(),
        Verdict::Interrupted => "interrupted: not judged".to_owned(),
    };
    gate
}

/// `simulate availability`: each `availability.expect` limit judged at its level.
pub fn availability(
    scenario: &Scenario,
    judged: &[avail::Judged],
    verdict: &Verdict,
    cx: Context<'_>,
) -> Gate {
    let mut gate = cx.gate("availability", &scenario.name, verdict.clone());
    for limit in judged {
        let index = scenario.availability.expect.iter().position(|written| {
            written.amount == limit.amount
                && written.entrypoint == limit.entrypoint
                && written.min == limit.min
        });
        let key = index.map_or_else(
            || "availability.expect".to_owned(),
            |i| format!("availability.expect[{i}].min_availability"),
        );
        let group = limit
            .entrypoint
            .clone()
            .unwrap_or_else(|| "whole load".to_owned());
        let percent = crate::report::avail::percent;
        let name = format!("{}: at least {}", limit.amount, percent(limit.min));
        let source = match limit.source {
            avail::Source::Exact => "exact",
            avail::Source::Drawn => "drawn sets",
            avail::Source::Measured => "measured",
        };
        let message = format!(
            "{} served ({source}), {} {}",
            crate::report::avail::percent_apart(limit.value, limit.min),
            if limit.held { "at least" } else { "below" },
            percent(limit.min)
        );
        gate.cases.push(Case {
            group: group.clone(),
            at: key.clone(),
            findings: if limit.held {
                Vec::new()
            } else {
                vec![Finding::at(key, format!("{group}, {name}: {message}"))]
            },
            name,
            status: if limit.held {
                Status::Passed
            } else {
                Status::Failed
            },
            message,
            primary: true,
            blocking: true,
        });
    }
    if judged.is_empty() {
        gate.cases.push(Case {
            group: "availability.expect".to_owned(),
            name: "limits".to_owned(),
            status: Status::Skipped,
            message: "nothing judged: no `availability.expect` limit at the levels asked"
                .to_owned(),
            at: "availability".to_owned(),
            findings: Vec::new(),
            primary: true,
            blocking: true,
        });
    }
    let failed = judged.iter().filter(|j| !j.held).count();
    gate.headline = match verdict {
        Verdict::Fail(_) => format!(
            "{failed} of {} `min_availability` {} fail",
            judged.len(),
            plural(judged.len(), "limit", "limits")
        ),
        Verdict::Pass => "every `min_availability` limit holds".to_owned(),
        _ => "nothing judged: no `availability.expect` limit at the levels asked".to_owned(),
    };
    gate
}

/// An invalid scenario: every problem a failed case at its line, so a pipeline shows
/// each one where it is (the command exits 2).
pub fn invalid(command: &'static str, file: &str, problems: &[Problem]) -> Gate {
    let rerun = format!("simulate check {}", crate::report::shell_word(file));
    let cx = Context {
        file,
        seed: 0,
        rerun: &rerun,
        positions: None,
    };
    let mut gate = cx.gate(command, file, Verdict::Fail(Vec::new()));
    gate.seed = None;
    gate.headline = format!(
        "the scenario is invalid: {} {}",
        problems.len(),
        plural(problems.len(), "problem", "problems")
    );
    for problem in problems {
        let name = if problem.path.is_empty() {
            "the document".to_owned()
        } else {
            problem.path.clone()
        };
        gate.cases.push(Case {
            group: "valid scenario".to_owned(),
            name,
            status: Status::Failed,
            message: problem.message.clone(),
            at: problem.path.clone(),
            findings: vec![Finding {
                key: problem.path.clone(),
                pos: Some(problem.pos),
                text: problem.message.clone(),
            }],
            primary: true,
            blocking: true,
        });
    }
    gate
}
