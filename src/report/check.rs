//! `simulate check`'s report: each strategy's states with their predicted outcomes, the
//! state space, the safe order, the missing-dependency sweep, and the JSON of it all.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{
    broken_edge_text, conflict_text, edge_text, held_word, level_cell, list_or_none, path_text,
    plan_error_text, plural, table, why_text,
};

use crate::check::sweep::Row;
use crate::check::{Report, StrategyCheck};
use crate::eval::graph::{Graph, Level, Prediction};
use crate::eval::{Evaluated, StepPrediction};
use crate::model::{Change, FaultKind, Scenario};
use crate::plan::safe::{Conflict, SafeOrder};
use crate::verdict::Verdict;

/// The sweep table shows every service up to this many; beyond, only the services whose
/// loss hurts an entrypoint, this many at most (the JSON has every row). Not to be
/// confused with the live sweep's bound on the rows it runs (`runtime::sweep::MAX_ROWS`).
const MAX_SWEEP_TABLE_ROWS: usize = 40;

/// At most this many entrypoints get a column of their own; the rest are summed up.
const MAX_ENTRY_COLUMNS: usize = 4;

/// The check's report; `quiet` keeps each strategy's summary line (and the calls it
/// swallows) and the verdict.
pub fn text(scenario: &Scenario, seed: u64, report: &Report, quiet: bool) -> String {
    let graph = &report.graph;
    let mut out = String::new();
    let entries: Vec<String> = graph.entry_names();
    let changes = scenario.changes();
    let _ = writeln!(
        out,
        "check {} (seed {seed}): {} services, {} {}, {} {}; no server started",
        scenario.name,
        scenario.services.len(),
        changes.len(),
        plural(changes.len(), "change", "changes"),
        plural(entries.len(), "entrypoint", "entrypoints"),
        entries.join(", ")
    );
    out.push_str(&super::warning_lines(scenario));
    let unpredicted = scenario.unpredicted();
    if !unpredicted.is_empty() {
        let _ = writeln!(
            out,
            "note: time and load: {}; their load is predicted for the settled part of each step (Little's law), the rest is left to the run",
            super::list_or_none(unpredicted.into_iter())
        );
    }
    for check in &report.strategies {
        if !quiet {
            out.push('\n');
        }
        strategy(&mut out, scenario, graph, check, quiet);
    }
    out.push('\n');
    if !quiet {
        space(&mut out, report, &changes);
        out.push('\n');
        safe(&mut out, &report.safe);
        out.push('\n');
        sweep(&mut out, graph, report);
        out.push('\n');
    }
    verdict(&mut out, report);
    out
}

/// The last line: what the check judged and how it came out.
pub(crate) fn verdict(out: &mut String, report: &Report) {
    let unplanned = report.unplanned();
    let unjudged: Vec<&str> = report
        .strategies
        .iter()
        .filter(|check| check.plan.is_ok() && check.strategy.expect.graceful.is_none())
        .map(|check| check.strategy.name.as_str())
        .collect();
    let left: Vec<&str> = report
        .strategies
        .iter()
        .filter(|check| check.left_to_the_run())
        .map(|check| check.strategy.name.as_str())
        .collect();
    let left_clause = if left.is_empty() {
        String::new()
    } else {
        format!(
            "; the failure {} {} is left to the run (what fails it is not predicted here)",
            left.join(", "),
            plural(left.len(), "expects", "expect")
        )
    };
    let _ = match report.verdict() {
        Verdict::NothingJudged => {
            let failing: Vec<&str> = report
                .strategies
                .iter()
                .filter(|check| check.plan.is_ok() && !check.graceful())
                .map(|check| check.strategy.name.as_str())
                .collect();
            let seen = if failing.is_empty() {
                "no state fails an entrypoint".to_owned()
            } else {
                format!(
                    "{} {} through a state that fails an entrypoint",
                    failing.join(", "),
                    plural(failing.len(), "passes", "pass")
                )
            };
            // Some strategies may expect other keys (max_failed_ratio, p99_ms), which
            // only a run measures; the check judges `graceful` alone.
            let others = report
                .strategies
                .iter()
                .any(|check| !check.strategy.expect.is_empty());
            let why = if !left.is_empty() {
                format!(
                    "the failure {} {} is left to the run (what fails it is not predicted here)",
                    left.join(", "),
                    plural(left.len(), "expects", "expect")
                )
            } else if others {
                "no strategy expects `graceful`, the one expectation a check judges".to_owned()
            } else {
                "no expectation set".to_owned()
            };
            let how = if left.is_empty() {
                "; to judge, add `expect: { graceful: true }` to the scenario or pass --expect graceful"
            } else {
                ""
            };
            writeln!(out, "verdict: nothing judged: {why}; {seen}{how}")
        }
        Verdict::Fail(failed) => {
            let breaks: Vec<&String> = failed
                .iter()
                .filter(|name| !unplanned.contains(&name.as_str()))
                .collect();
            let mut why = Vec::new();
            if !breaks.is_empty() {
                why.push(format!(
                    "the prediction breaks the graceful expectation of {}",
                    breaks
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !unplanned.is_empty() {
                why.push(format!(
                    "{} cannot be planned, see above",
                    unplanned.join(", ")
                ));
            }
            writeln!(out, "verdict: fail ({})", why.join("; "))
        }
        _ if unjudged.is_empty() && left.is_empty() => writeln!(
            out,
            "verdict: pass (every strategy's graceful expectation holds in the prediction)"
        ),
        _ if unjudged.is_empty() => writeln!(
            out,
            "verdict: pass (every graceful expectation judged here holds in the prediction{left_clause})"
        ),
        _ => writeln!(
            out,
            "verdict: pass (every graceful expectation holds in the prediction; nothing judged for {}: no `graceful` expectation{left_clause})",
            unjudged.join(", ")
        ),
    };
}

fn strategy(
    out: &mut String,
    scenario: &Scenario,
    graph: &Graph,
    check: &StrategyCheck,
    quiet: bool,
) {
    let name = &check.strategy.name;
    let plan = match &check.plan {
        Ok(plan) => plan,
        Err(err) => {
            let _ = writeln!(
                out,
                "strategy {name}: cannot be planned: {}",
                plan_error_text(err)
            );
            return;
        }
    };
    let expectation = match (check.strategy.expect.graceful, check.expectation_held()) {
        (Some(true), Some(held)) => format!("; expects graceful: {}", held_word(held)),
        (Some(false), Some(held)) => format!("; expects a failure: {}", held_word(held)),
        (Some(false), None) if check.left_to_the_run() => {
            "; expects a failure: left to the run (what fails it is not predicted here)".to_owned()
        }
        _ => String::new(),
    };
    let steps = plan.last_step();
    let overloaded = check.overloaded();
    let load = if overloaded.is_empty() {
        String::new()
    } else {
        let at: Vec<String> = overloaded
            .iter()
            .map(|(step, _, _)| {
                if *step == 0 {
                    "the baseline".to_owned()
                } else {
                    format!("step {step}")
                }
            })
            .collect();
        format!("; load fails requests after {}", at.join(", "))
    };
    let _ = writeln!(
        out,
        "strategy {name}: {steps} {}, {} distinct {}, {}{load} {}{expectation}",
        plural(steps, "step", "steps"),
        check.distinct_states,
        plural(check.distinct_states, "state", "states"),
        if check.failing_states == 0 {
            "none fails".to_owned()
        } else {
            format!(
                "{} {}",
                check.failing_states,
                plural(check.failing_states, "fails", "fail")
            )
        },
        if check.graceful() {
            "(graceful)"
        } else {
            "(NOT graceful)"
        }
    );
    if quiet {
        swallowed_lines(out, check);
        return;
    }
    let worst: Vec<Level> = (0..graph.entries.len())
        .map(|entry| {
            check
                .steps
                .iter()
                .map(|step| step.levels[entry])
                .max()
                .unwrap_or(Level::Ok)
        })
        .collect();
    let columns = EntryColumns::new(graph, &worst);
    let mut header = vec!["step".to_owned(), "state".to_owned()];
    columns.header(&mut header);
    header.push("why".to_owned());
    let mut rows = vec![header];
    let mut walk = plan.walk(scenario);
    for prediction in &check.steps {
        let Some((step, _, flags)) = walk.next() else {
            break;
        };
        step_rows(&mut rows, graph, &columns, (step, flags), prediction);
    }
    out.push_str(&table(&rows, "  "));
    swallowed_lines(out, check);
    load_lines(out, check);
}

/// The load prediction of each step's settled part, where it says something: requests
/// refused or failed by load, or a service too close to its workers to tell.
fn load_lines(out: &mut String, check: &StrategyCheck) {
    if check.load.is_empty() {
        return;
    }
    let mut lines = Vec::new();
    for (step, demand) in check.load.iter().enumerate() {
        let label = if step == 0 {
            "baseline".to_owned()
        } else {
            format!("step {step}")
        };
        let wants = |service: &str| {
            // A breaker or a bulkhead near its threshold is named as it is.
            let Some(load) = demand.services.get(service).filter(|l| l.workers.is_some()) else {
                return service.to_owned();
            };
            let mut text = format!(
                "{service} wants {:.1} workers of {} per replica ({:.0} rps x {:.0} ms held",
                load.wanted,
                load.workers.unwrap_or_default(),
                load.rate / f64::from(load.replicas.max(1)),
                load.hold_ms
            );
            if let Some((callee, wait)) = &load.longest_wait {
                let _ = write!(text, ", {wait:.0} ms of it waiting on {callee}");
            }
            text.push(')');
            text
        };
        if !demand.converged {
            lines.push(format!(
                "{label}: undecided: the load did not settle in {} rounds",
                crate::eval::demand::MAX_ITERATIONS
            ));
            continue;
        }
        if !demand.undecided.is_empty() {
            // A fleet can have hundreds of reasons per step: the first few, and a count.
            const SHOWN: usize = 3;
            let mut near: Vec<String> = demand
                .undecided
                .iter()
                .take(SHOWN)
                .map(|s| wants(s))
                .collect();
            if demand.undecided.len() > SHOWN {
                near.push(format!(
                    "{} more (--json lists every one)",
                    demand.undecided.len() - SHOWN
                ));
            }
            lines.push(format!(
                "{label}: undecided: {}: within {} to {} of its workers or slots, failing near a breaker's threshold, or served apart by random and regular arrivals: chance decides",
                near.join("; "),
                crate::eval::demand::UNDECIDED.0,
                crate::eval::demand::UNDECIDED.1
            ));
            continue;
        }
        let short: Vec<String> = demand
            .served
            .iter()
            .filter(|(_, served)| **served < crate::check::SERVED_IN_FULL)
            .map(|(entry, served)| format!("{entry} {:.0}% served", served * 100.0))
            .collect();
        if !demand.decided_over(check.part(step)) {
            if !short.is_empty() {
                let part = check.part(step).as_secs_f64() * 1000.0;
                let why = if part < crate::eval::demand::SETTLE_HOLDS * demand.settle_ms {
                    format!(
                        "under {} times the {:.0} ms a request holds a worker, so the queue's start decides",
                        crate::eval::demand::SETTLE_HOLDS,
                        demand.settle_ms
                    )
                } else {
                    format!(
                        "under {} times the {:.0} ms a breaker takes to open, so whether it was open at the start decides",
                        crate::eval::demand::TRIP_PARTS,
                        demand.trip_ms
                    )
                };
                lines.push(format!(
                    "{label}: undecided ({}): the settled part lasts {part:.0} ms, {why}; a longer step_ms decides it",
                    short.join(", "),
                ));
            }
            continue;
        }
        if short.is_empty() {
            continue;
        }
        let why: Vec<String> = demand
            .refusing()
            .iter()
            .map(|(service, load)| {
                format!("{} -> {:.0}% refused", wants(service), load.refused * 100.0)
            })
            .collect();
        let mut line = format!("{label}: {}", short.join(", "));
        if !why.is_empty() {
            let _ = write!(line, ": {}", why.join("; "));
        }
        lines.push(line);
    }
    if lines.is_empty() {
        let _ = writeln!(
            out,
            "  load (Little's law, settled part of each step): every request served"
        );
        return;
    }
    let _ = writeln!(
        out,
        "  load (Little's law, settled part of each step; the transient part is left to the run):"
    );
    for line in lines {
        let _ = writeln!(out, "    {line}");
    }
}

fn swallowed_lines(out: &mut String, check: &StrategyCheck) {
    for swallowed in &check.swallowed {
        let _ = writeln!(out, "  swallowed: {}", swallowed_text(swallowed));
    }
}

/// `checkout v1 -> email api v1: UNIMPLEMENTED (...); no request hears of it: every call
/// fails in 2 states (after step 1, during step 2)`.
pub fn swallowed_text(swallowed: &crate::check::Swallowed) -> String {
    let mut said = Vec::new();
    if swallowed.count > 0 {
        let more = swallowed.count - swallowed.states.len();
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        said.push(format!(
            "all its calls fail in {} {} ({}{more})",
            swallowed.count,
            plural(swallowed.count, "state", "states"),
            swallowed.states.join(", "),
        ));
    }
    if swallowed.sometimes > 0 {
        let n = swallowed.sometimes;
        said.push(format!(
            "calls reaching a version without it fail in {n}{} {}",
            if swallowed.count > 0 { " more" } else { "" },
            plural(n, "state", "states")
        ));
    }
    format!(
        "{}; no request hears of it: {}",
        broken_edge_text(&swallowed.version, &swallowed.edge),
        said.join("; ")
    )
}

/// A step's rows: its transient state (when it has one) and its settled state, each with
/// the flags on and the faults in force.
fn step_rows(
    rows: &mut Vec<Vec<String>>,
    graph: &Graph,
    columns: &EntryColumns,
    (step, flags): (&crate::plan::Step, &crate::model::Flags),
    prediction: &StepPrediction,
) {
    let label = if step.index == 0 {
        "baseline".to_owned()
    } else {
        step.index.to_string()
    };
    // Flags are shown on every state in which one is on for someone.
    let flags_on = |state: &crate::eval::State| {
        let on: Vec<String> = graph
            .flags_on(state)
            .iter()
            .map(|(name, _)| format!("{name} {}%", flags.share(name)))
            .collect();
        if on.is_empty() {
            String::new()
        } else {
            format!("; flags {}", on.join(", "))
        }
    };
    if let Some(transient) = &prediction.transient {
        let text = with_faults(
            format!(
                "{}{}",
                transient_text(graph, transient, &step.changes),
                flags_on(&transient.state)
            ),
            &prediction.faults_transient,
        );
        push_wrapped(rows, state_row(columns, &label, &text, transient));
    }
    let settled_label = if step.index == 0 {
        format!("initial{}", flags_on(&prediction.settled.state))
    } else {
        format!("settled{}", flags_on(&prediction.settled.state))
    };
    let settled_label = with_faults(settled_label, &prediction.faults_settled);
    push_wrapped(
        rows,
        state_row(columns, &label, &settled_label, &prediction.settled),
    );
}

/// `transient: catalog v1+v2, web v1+v2` (and the faults in force, if any).
fn transient_text(graph: &Graph, transient: &Evaluated, changes: &[Change]) -> String {
    let moving: Vec<String> = changes
        .iter()
        .filter_map(|change| {
            let s = graph.service(&change.service)?;
            let serving = graph.serving(&transient.state, s);
            let serving = if serving.is_empty() {
                "none".to_owned()
            } else {
                serving.join("+")
            };
            Some(format!("{} {}", change.service, serving))
        })
        .collect();
    format!("transient: {}", moving.join(", "))
}

/// `text` and the faults in force: `settled, with kill recommend`.
fn with_faults(text: String, faults: &[FaultKind]) -> String {
    if faults.is_empty() {
        text
    } else {
        let named: Vec<String> = faults.iter().map(ToString::to_string).collect();
        format!("{text}, with {}", named.join(", "))
    }
}

/// Which entrypoints get a column of their own: the ones that fail, then the ones that
/// degrade, then the rest by name, at most [`MAX_ENTRY_COLUMNS`]; the others are summed
/// up in one column.
struct EntryColumns {
    names: Vec<String>,
    shown: Vec<usize>,
    rest: Vec<usize>,
}

impl EntryColumns {
    /// `worst`: each entrypoint's worst level over what the table shows.
    fn new(graph: &Graph, worst: &[Level]) -> EntryColumns {
        let mut order: Vec<usize> = (0..graph.entries.len()).collect();
        order.sort_by_key(|&entry| (std::cmp::Reverse(worst[entry]), entry));
        let rest = order.split_off(order.len().min(MAX_ENTRY_COLUMNS));
        EntryColumns {
            names: graph.entry_names(),
            shown: order,
            rest,
        }
    }

    fn header(&self, header: &mut Vec<String>) {
        header.extend(self.shown.iter().map(|&entry| self.names[entry].clone()));
        if !self.rest.is_empty() {
            header.push(format!("+{} entrypoints", self.rest.len()));
        }
    }

    /// The cells of one row, from each entrypoint's cell and level.
    fn cells(&self, row: &mut Vec<String>, cell: impl Fn(usize) -> (String, Level)) {
        row.extend(self.shown.iter().map(|&entry| cell(entry).0));
        if self.rest.is_empty() {
            return;
        }
        let count = |level: Level| self.rest.iter().filter(|&&e| cell(e).1 == level).count();
        let (failed, degraded) = (count(Level::Failed), count(Level::Degraded));
        row.push(match (failed, degraded) {
            (0, 0) => "ok".to_owned(),
            (f, 0) => format!("{f} FAILED"),
            (0, d) => format!("{d} degraded"),
            (f, d) => format!("{f} FAILED, {d} degraded"),
        });
    }
}

/// The widest a state cell grows before it continues on the rows below: a state of a
/// large step names every moving service, and one such cell would otherwise pad every
/// row of the table to its width.
const MAX_STATE_CELL: usize = 60;

/// Pushes `row`, its state cell (the second) cut at `, ` and `; ` into pieces of at most
/// [`MAX_STATE_CELL`] characters, each piece after the first on a row of its own.
fn push_wrapped(rows: &mut Vec<Vec<String>>, mut row: Vec<String>) {
    let pieces = wrap_cell(&row[1], MAX_STATE_CELL);
    let width = row.len();
    row[1] = pieces[0].clone();
    rows.push(row);
    for piece in &pieces[1..] {
        let mut more = vec![String::new(); width];
        more[1] = format!("  {piece}");
        rows.push(more);
    }
}

/// `text` cut after `, ` or `; ` into pieces of at most `width` characters (a single
/// part longer than that stays whole).
fn wrap_cell(text: &str, width: usize) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest
            .find([',', ';'])
            .map_or(rest.len(), |i| (i + 2).min(rest.len()));
        let (part, tail) = rest.split_at(cut);
        let current = pieces.last_mut().expect("never empty");
        if !current.is_empty() && current.chars().count() + part.trim_end().chars().count() > width
        {
            pieces.push(part.to_owned());
        } else {
            current.push_str(part);
        }
        rest = tail;
    }
    pieces
        .into_iter()
        .map(|p| p.trim_end().to_owned())
        .collect()
}

fn state_row(
    columns: &EntryColumns,
    label: &str,
    state_text: &str,
    evaluated: &Evaluated,
) -> Vec<String> {
    let mut row = vec![label.to_owned(), state_text.to_owned()];
    columns.cells(&mut row, |entry| {
        let level = evaluated.predictions[entry].level;
        (level_cell(level).to_owned(), level)
    });
    let why = evaluated
        .predictions
        .iter()
        .filter(|p| p.level != Level::Ok)
        .max_by_key(|p| p.level)
        .map(path_text)
        .unwrap_or_default();
    row.push(why);
    row
}

fn space(out: &mut String, report: &Report, changes: &[Change]) {
    let counts: Vec<String> = report
        .strategies
        .iter()
        .filter(|check| check.plan.is_ok())
        .map(|check| format!("{} {}", check.strategy.name, check.distinct_states))
        .collect();
    let _ = writeln!(
        out,
        "states passed through: {}",
        list_or_none(counts.into_iter())
    );
    let space = &report.space;
    let releases = space.changes.saturating_sub(changes.len());
    let releases = if releases == 0 {
        String::new()
    } else {
        format!(
            " and {releases} flag {}",
            plural(releases, "release", "releases")
        )
    };
    let _ = write!(
        out,
        "  one {} at a time, in any order, the {} {}{releases} can reach {} {} ({} settled)",
        if releases.is_empty() {
            "service"
        } else {
            "change"
        },
        changes.len(),
        plural(changes.len(), "change", "changes"),
        space.single_piece_states,
        if space.single_piece_states == "1" {
            "state"
        } else {
            "states"
        },
        space.settled_states
    );
    match &space.evaluated {
        Some(evaluation) if evaluation.transient_included => {
            let _ = writeln!(
                out,
                "; all evaluated: {} fail an entrypoint, {} degrade one",
                evaluation.failing, evaluation.degraded
            );
        }
        Some(evaluation) => {
            let _ = writeln!(
                out,
                "; the {} settled ones evaluated: {} fail an entrypoint, {} degrade one",
                evaluation.states, evaluation.failing, evaluation.degraded
            );
        }
        None => {
            let _ = writeln!(out, "; too many to evaluate one by one");
        }
    }
}

fn safe(out: &mut String, order: &SafeOrder) {
    match order {
        SafeOrder::Found { steps, .. } if steps.is_empty() => {
            let _ = writeln!(
                out,
                "safe order: nothing to roll out (`target:` changes no service and releases no flag)"
            );
        }
        SafeOrder::Found { steps, fewest } => {
            let shown: Vec<String> = steps
                .iter()
                .map(|step| format!("[{}]", list_or_none(super::step_items(step).into_iter())))
                .collect();
            let _ = writeln!(
                out,
                "safe order: {} {}{}: {}",
                steps.len(),
                plural(steps.len(), "step", "steps"),
                if *fewest { " (fewest possible)" } else { "" },
                shown.join(" -> ")
            );
            let _ = writeln!(out, "  run it live with --strategy safe");
        }
        SafeOrder::NotFound { conflicts, proven } => {
            if *proven {
                let _ = writeln!(out, "safe order: none exists");
            } else {
                let _ = writeln!(
                    out,
                    "safe order: none found (too many changes for the exhaustive search; the \
                     ordering constraints below allow no safe order, but they over-approximate)"
                );
            }
            for conflict in conflicts {
                let (summary, fix) = conflict_text(conflict);
                let _ = writeln!(out, "  conflict: {summary}");
                if let Some(fix) = fix {
                    let _ = writeln!(out, "  fix: {fix}");
                }
            }
        }
    }
}

fn sweep(out: &mut String, graph: &Graph, report: &Report) {
    let sweep = &report.sweep;
    let _ = writeln!(
        out,
        "missing-dependency sweep (each service missing in turn; initial / target versions)"
    );
    let worst: Vec<Level> = (0..graph.entries.len())
        .map(|entry| {
            sweep
                .singles
                .iter()
                .chain(&sweep.pairs)
                .map(|row| row.initial[entry].max(row.target[entry]))
                .max()
                .unwrap_or(Level::Ok)
        })
        .collect();
    let columns = EntryColumns::new(graph, &worst);
    let mut header = vec!["missing".to_owned()];
    columns.header(&mut header);
    let mut rows = vec![header];
    let all: Vec<&Row> = sweep.singles.iter().chain(&sweep.pairs).collect();
    let shown: Vec<&Row> = if all.len() <= MAX_SWEEP_TABLE_ROWS {
        all.clone()
    } else {
        all.iter()
            .copied()
            .filter(|row| row.worst() != Level::Ok)
            .take(MAX_SWEEP_TABLE_ROWS)
            .collect()
    };
    for row in &shown {
        rows.push(sweep_row(graph, &columns, row));
    }
    out.push_str(&table(&rows, "  "));
    if shown.len() < all.len() {
        let _ = writeln!(
            out,
            "  (showing the {} rows where an entrypoint suffers, of {}; --json has every row)",
            shown.len(),
            all.len()
        );
    }
    if let Some(swept) = sweep.pairs_swept {
        let _ = writeln!(
            out,
            "  --pairs: {swept} {} swept; {} worse than either service missing alone{}",
            plural(swept, "pair", "pairs"),
            match sweep.pairs.len() {
                0 => "none".to_owned(),
                n => n.to_string(),
            },
            if sweep.pairs.is_empty() {
                ""
            } else {
                " (listed above)"
            }
        );
    }
    if let Some(n_pairs) = sweep.pairs_skipped {
        let _ = writeln!(
            out,
            "  --pairs skipped: {n_pairs} pairs are more than the limit of {}",
            crate::check::sweep::MAX_PAIRS
        );
    }
    if sweep.single_points_of_failure.is_empty() {
        let _ = writeln!(out, "  no single point of failure");
    } else {
        let names = sweep
            .single_points_of_failure
            .iter()
            .map(|&s| graph.services[s].clone());
        let _ = writeln!(
            out,
            "  single points of failure ({}): {}",
            sweep.single_points_of_failure.len(),
            list_or_none(names)
        );
    }
}

fn sweep_row(graph: &Graph, columns: &EntryColumns, row: &Row) -> Vec<String> {
    let missing: Vec<&str> = row
        .missing
        .iter()
        .map(|&s| graph.services[s].as_str())
        .collect();
    let mut cells = vec![missing.join(" + ")];
    columns.cells(&mut cells, |entry| {
        let (initial, target) = (row.initial[entry], row.target[entry]);
        let mut cell = if initial == target {
            level_cell(initial).to_owned()
        } else {
            format!("{} / {}", level_cell(initial), level_cell(target))
        };
        let worst = initial.max(target);
        let methods = worst_methods(graph, entry, row, worst);
        if !methods.is_empty() {
            let _ = write!(cell, " ({})", methods.join(", "));
        }
        (cell, worst)
    });
    cells
}

/// The methods of `entry`'s mix that end at `worst` in `row` (initial or target), when
/// some of its methods do not: which part of the traffic the loss hits.
fn worst_methods(graph: &Graph, entry: usize, row: &Row, worst: Level) -> Vec<String> {
    let names = &graph.entry_methods[entry];
    if names.len() < 2 || worst == Level::Ok {
        return Vec::new();
    }
    let at = |m: usize| row.method_level(entry, m);
    let hit: Vec<String> = (0..names.len())
        .filter(|&m| at(m) == worst)
        .map(|m| names[m].clone())
        .collect();
    if hit.len() == names.len() {
        Vec::new()
    } else {
        hit
    }
}

/// `simulate check --json`.
#[derive(Debug, Serialize)]
pub struct CheckJson<'a> {
    pub scenario: String,
    pub seed: u64,
    pub verdict: &'static str,
    pub entrypoints: Vec<String>,
    pub strategies: Vec<StrategyJson<'a>>,
    pub space: crate::check::space::Space,
    pub safe_order: SafeJson,
    pub sweep: SweepJson<'a>,
    /// What the scenario holds that is valid but likely not meant (services no
    /// entrypoint reaches); a warning never changes the verdict.
    pub warnings: Vec<String>,
    /// What the check does not predict (capacity, protections, latency, errors, hang
    /// and crash faults), which the run measures.
    pub unpredicted: Vec<String>,
}

/// One step's settled load, as `check --json` gives it.
#[derive(Debug, Serialize)]
pub struct LoadJson {
    pub served: BTreeMap<String, f64>,
    pub decided: bool,
    pub undecided: Vec<String>,
    pub services: BTreeMap<String, ServiceLoadJson>,
}

#[derive(Debug, Serialize)]
pub struct ServiceLoadJson {
    pub rate: f64,
    pub hold_ms: f64,
    pub workers: Option<u32>,
    pub workers_wanted: f64,
    pub refused: f64,
}

impl LoadJson {
    /// `demand` of a settled part lasting `part` (which decides whether it stands).
    fn new(demand: &crate::eval::demand::Demand, part: std::time::Duration) -> LoadJson {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        LoadJson {
            served: demand
                .served
                .iter()
                .map(|(entry, share)| (entry.clone(), round(*share)))
                .collect(),
            decided: demand.decided_over(part),
            undecided: demand.undecided.clone(),
            services: demand
                .services
                .iter()
                .map(|(service, load)| {
                    (
                        service.clone(),
                        ServiceLoadJson {
                            rate: round(load.rate),
                            hold_ms: round(load.hold_ms),
                            workers: load.workers,
                            workers_wanted: round(load.wanted),
                            refused: round(load.refused),
                        },
                    )
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct StrategyJson<'a> {
    pub name: String,
    pub kind: String,
    pub error: Option<String>,
    pub graceful: bool,
    pub expect_graceful: Option<bool>,
    /// `null` when there is no `graceful` expectation, or when it is left to the run.
    pub expectation_held: Option<bool>,
    /// The strategy expects a failure that only what the check does not predict could
    /// cause: the run judges it.
    pub left_to_the_run: bool,
    /// Per step, the load of its settled part (a scenario with capacity, protections
    /// or timed faults only): each entrypoint's share served, whether the prediction is
    /// decided, and each service's load.
    pub load: Vec<LoadJson>,
    pub distinct_states: usize,
    pub failing_states: usize,
    /// Calls whose failure no request hears of (asynchronous, or `ignore` for the code),
    /// broken in some state: each as `swallowed_text` words it, with at most
    /// six states named.
    pub swallowed: Vec<String>,
    /// Each step as [`StepJson`], made one at a time as it is serialized: a strategy of
    /// thousands of steps is never held as JSON values whole.
    pub steps: StepsJson<'a>,
}

/// A strategy's steps, serialized on the fly.
#[derive(Debug)]
pub struct StepsJson<'a> {
    scenario: &'a Scenario,
    graph: &'a Graph,
    check: &'a StrategyCheck,
}

impl Serialize for StepsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let Ok(plan) = &self.check.plan else {
            return serializer.serialize_seq(Some(0))?.end();
        };
        let entries = self.graph.entry_names();
        let by_entry = |levels: &[Level]| -> BTreeMap<String, Level> {
            entries
                .iter()
                .cloned()
                .zip(levels.iter().copied())
                .collect()
        };
        let mut seq = serializer.serialize_seq(Some(self.check.steps.len()))?;
        let mut walk = plan.walk(self.scenario);
        for prediction in &self.check.steps {
            let Some((step, _, _)) = walk.next() else {
                break;
            };
            seq.serialize_element(&step_json(
                self.graph,
                &by_entry,
                step.index,
                &step.changes,
                prediction,
            ))?;
        }
        seq.end()
    }
}

#[derive(Debug, Serialize)]
pub struct StepJson {
    pub index: usize,
    pub changes: Vec<super::ChangeJson>,
    /// Per entrypoint, the worst level over the step's states.
    pub levels: BTreeMap<String, Level>,
    pub transient: Option<StateJson>,
    pub settled: StateJson,
}

#[derive(Debug, Serialize)]
pub struct StateJson {
    /// Per service the step moves, and per service with no ready replica: the versions
    /// serving (empty: none ready). Services that stay as they were are left out.
    pub serving: BTreeMap<String, Vec<String>>,
    pub partitions: Vec<String>,
    /// Per flag: `off`, `on`, or `mixed` (at a percent between 0 and 100, on for some
    /// requests and off for others).
    pub flags: BTreeMap<String, &'static str>,
    /// Every broken edge of the state, whether or not it reaches an entrypoint.
    pub broken_edges: Vec<String>,
    /// The entrypoints that are not ok in the state, with why.
    pub entrypoints: Vec<PredictionJson>,
}

#[derive(Debug, Serialize)]
pub struct PredictionJson {
    pub entrypoint: String,
    pub level: Level,
    /// The hops from the entrypoint, as `service version`.
    pub path: Vec<String>,
    pub edge: Option<String>,
    pub code: Option<&'static str>,
    pub why: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SafeJson {
    pub found: bool,
    pub fewest: bool,
    /// Whether the answer is exact: with `found: true`, that no safe order has fewer
    /// steps (the same as `fewest`); with `found: false`, that no safe order exists, not
    /// only that the constraint method found none (beyond the exhaustive search).
    pub proven: bool,
    pub steps: Vec<Vec<String>>,
    pub conflicts: Vec<ConflictJson>,
}

#[derive(Debug, Serialize)]
pub struct ConflictJson {
    pub summary: String,
    pub fix: Option<String>,
}

impl From<&Conflict> for ConflictJson {
    fn from(conflict: &Conflict) -> ConflictJson {
        let (summary, fix) = conflict_text(conflict);
        ConflictJson { summary, fix }
    }
}

#[derive(Debug, Serialize)]
pub struct SweepJson<'a> {
    /// Each row: `missing`, `initial` and `target` (entrypoint -> level), and
    /// `methods` (entrypoint -> method -> level) for entrypoints with a mix of several.
    /// Written as it is serialized, from the rows themselves: a fleet's thousands of rows
    /// times its entrypoints are never held as strings.
    pub rows: RowsJson<'a>,
    /// The number of pairs when `--pairs` was asked for but skipped for their number.
    pub pairs_skipped: Option<usize>,
    /// The number of pairs swept when `--pairs` was asked for (rows are only the pairs
    /// worse than either service alone).
    pub pairs_swept: Option<usize>,
    pub single_points_of_failure: Vec<String>,
}

/// The sweep's rows, serialized on the fly.
#[derive(Debug)]
pub struct RowsJson<'a> {
    graph: &'a Graph,
    rows: Vec<&'a Row>,
}

impl Serialize for RowsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&RowJson {
                graph: self.graph,
                row,
            })?;
        }
        seq.end()
    }
}

struct RowJson<'a> {
    graph: &'a Graph,
    row: &'a Row,
}

impl Serialize for RowJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let graph = self.graph;
        let missing: Vec<&str> = self
            .row
            .missing
            .iter()
            .map(|&s| graph.services[s].as_str())
            .collect();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("missing", &missing)?;
        map.serialize_entry("initial", &LevelsJson(graph, &self.row.initial))?;
        map.serialize_entry("target", &LevelsJson(graph, &self.row.target))?;
        if !self.row.methods.is_empty() {
            let methods: BTreeMap<&str, BTreeMap<&str, Level>> = self
                .row
                .methods
                .iter()
                .map(|(entry, levels)| {
                    let names = graph.entry_methods[*entry].iter().map(String::as_str);
                    (
                        graph.entry_name(*entry),
                        names.zip(levels.iter().copied()).collect(),
                    )
                })
                .collect();
            map.serialize_entry("methods", &methods)?;
        }
        map.end()
    }
}

/// Each entrypoint's level, by name.
struct LevelsJson<'a>(&'a Graph, &'a [Level]);

impl Serialize for LevelsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // In name order, as a map of names would be.
        let mut entries: Vec<(&str, Level)> = (0..self.1.len())
            .map(|e| (self.0.entry_name(e), self.1[e]))
            .collect();
        entries.sort_unstable_by_key(|(name, _)| *name);
        serializer.collect_map(entries)
    }
}

pub fn json<'a>(scenario: &'a Scenario, seed: u64, report: &'a Report) -> CheckJson<'a> {
    let graph = &report.graph;
    let entries = graph.entry_names();
    let strategies = report
        .strategies
        .iter()
        .map(|check| StrategyJson {
            name: check.strategy.name.clone(),
            kind: check.strategy.kind.label().to_owned(),
            error: check.plan.as_ref().err().map(plan_error_text),
            graceful: check.graceful(),
            expect_graceful: check.strategy.expect.graceful,
            expectation_held: check.expectation_held(),
            left_to_the_run: check.left_to_the_run(),
            load: check
                .load
                .iter()
                .enumerate()
                .map(|(step, demand)| LoadJson::new(demand, check.part(step)))
                .collect(),
            distinct_states: check.distinct_states,
            failing_states: check.failing_states,
            swallowed: check.swallowed.iter().map(swallowed_text).collect(),
            steps: StepsJson {
                scenario,
                graph,
                check,
            },
        })
        .collect();
    CheckJson {
        scenario: scenario.name.clone(),
        seed,
        verdict: report.verdict().word(),
        entrypoints: entries,
        strategies,
        space: report.space.clone(),
        safe_order: safe_json(&report.safe),
        sweep: sweep_json(report),
        warnings: scenario.warnings.iter().map(super::warning_text).collect(),
        unpredicted: scenario.unpredicted(),
    }
}

fn safe_json(safe: &SafeOrder) -> SafeJson {
    match safe {
        SafeOrder::Found { steps, fewest } => SafeJson {
            found: true,
            fewest: *fewest,
            proven: *fewest,
            steps: steps.iter().map(super::step_items).collect(),
            conflicts: Vec::new(),
        },
        SafeOrder::NotFound { conflicts, proven } => SafeJson {
            found: false,
            fewest: false,
            proven: *proven,
            steps: Vec::new(),
            conflicts: conflicts.iter().map(ConflictJson::from).collect(),
        },
    }
}

/// The sweep's rows, each entrypoint's level (and each method's, for a mix of several)
/// with the services missing.
fn sweep_json(report: &Report) -> SweepJson<'_> {
    let graph = &report.graph;
    SweepJson {
        rows: RowsJson {
            graph,
            rows: report
                .sweep
                .singles
                .iter()
                .chain(&report.sweep.pairs)
                .collect(),
        },
        pairs_skipped: report.sweep.pairs_skipped,
        pairs_swept: report.sweep.pairs_swept,
        single_points_of_failure: report
            .sweep
            .single_points_of_failure
            .iter()
            .map(|&s| graph.services[s].clone())
            .collect(),
    }
}

fn step_json(
    graph: &Graph,
    by_entry: &dyn Fn(&[Level]) -> BTreeMap<String, Level>,
    index: usize,
    changes: &[Change],
    prediction: &StepPrediction,
) -> StepJson {
    StepJson {
        index,
        changes: changes.iter().map(super::ChangeJson::from).collect(),
        levels: by_entry(&prediction.levels),
        transient: prediction
            .transient
            .as_ref()
            .map(|t| state_json(graph, t, changes)),
        settled: state_json(graph, &prediction.settled, changes),
    }
}

/// A state as JSON. It names the services `changes` moves and every service with no
/// ready replica (what a state is about), not the whole fleet; and the entrypoints that
/// are not ok (each one's level is in the step's `levels`): so the JSON grows with the
/// changes and the failures, not with the fleet times the steps.
pub fn state_json(graph: &Graph, evaluated: &Evaluated, changes: &[Change]) -> StateJson {
    let state = &evaluated.state;
    let moved: std::collections::BTreeSet<&str> = changes
        .iter()
        .map(|change| change.service.as_str())
        .collect();
    StateJson {
        serving: graph
            .services
            .iter()
            .enumerate()
            .filter(|(s, name)| state.serving[*s] == 0 || moved.contains(name.as_str()))
            .map(|(s, name)| {
                let versions = graph.versions[s]
                    .iter()
                    .enumerate()
                    .filter(|(v, _)| state.serving[s] & (1 << v) != 0)
                    .map(|(_, version)| version.clone())
                    .collect();
                (name.clone(), versions)
            })
            .collect(),
        partitions: state
            .cut
            .iter()
            .map(|&(from, to)| format!("{}->{}", graph.services[from], graph.services[to]))
            .collect(),
        flags: graph
            .flags
            .iter()
            .enumerate()
            .map(|(f, name)| {
                let word = match state.serving[graph.services.len() + f] {
                    crate::eval::graph::FLAG_OFF => "off",
                    crate::eval::graph::FLAG_ON => "on",
                    _ => "mixed",
                };
                (name.clone(), word)
            })
            .collect(),
        broken_edges: {
            let mut edges: Vec<String> = graph
                .broken_edges(state)
                .iter()
                .map(|(version, edge)| broken_edge_text(version, edge))
                .collect();
            edges.sort();
            edges.dedup();
            edges
        },
        entrypoints: evaluated
            .predictions
            .iter()
            .zip(&graph.entries)
            .filter(|(prediction, _)| prediction.level != Level::Ok)
            .map(|(prediction, &(entry, _))| prediction_json(&graph.services[entry], prediction))
            .collect(),
    }
}

fn prediction_json(entry: &str, prediction: &Prediction) -> PredictionJson {
    PredictionJson {
        entrypoint: entry.to_owned(),
        level: prediction.level,
        path: prediction
            .path
            .iter()
            .map(|(service, version)| format!("{service} {version}"))
            .collect(),
        edge: prediction.edge.as_deref().map(edge_text),
        code: prediction.edge.as_ref().map(|edge| edge.why.code()),
        why: prediction.edge.as_deref().map(why_text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_and_degraded_entrypoints_get_the_columns_first() {
        // Six entrypoints, four columns: zeta fails and yak degrades when db rolls with
        // recreate; alphabetically they would be hidden in "+2 entrypoints".
        let scenario = crate::scenario::inline(
            "
name: many-entries
services:
  alpha: { entrypoint: true, versions: { v1: {} } }
  beta: { entrypoint: true, versions: { v1: {} } }
  gamma: { entrypoint: true, versions: { v1: {} } }
  delta: { entrypoint: true, versions: { v1: {} } }
  yak: { entrypoint: true, versions: { v1: { calls: [ { service: db, on_failure: degrade } ] } } }
  zeta: { entrypoint: true, versions: { v1: { calls: [ { service: db } ] } } }
  db: { rollout: recreate, versions: { v1: {}, v2: {} } }
initial: { alpha: v1, beta: v1, gamma: v1, delta: v1, yak: v1, zeta: v1, db: v1 }
target: { db: v2 }
strategies: [batch]
",
        );
        let report = crate::check::run(
            &scenario,
            &scenario.strategies,
            0,
            crate::check::sweep::Missing::Singles,
        );
        let text = text(&scenario, 0, &report, false);
        let header = text
            .lines()
            .find(|line| line.trim_start().starts_with("step "))
            .expect("a strategy table");
        let columns: Vec<&str> = header.split_whitespace().collect();
        assert_eq!(
            columns,
            [
                "step",
                "state",
                "zeta",
                "yak",
                "alpha",
                "beta",
                "+2",
                "entrypoints",
                "why"
            ],
            "{text}"
        );
        let transient = text
            .lines()
            .find(|line| line.contains("transient: db none"))
            .expect("the recreate window");
        let cells: Vec<&str> = transient.split_whitespace().skip(4).take(5).collect();
        assert_eq!(
            cells,
            ["FAILED", "degraded", "ok", "ok", "ok"],
            "{transient}"
        );
    }
}
