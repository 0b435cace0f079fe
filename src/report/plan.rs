//! `simulate plan`: each strategy's steps and the versions after each, as a table and as
//! JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::{ChangeJson, changes_cell, list_or_none, plan_error_text, plural, table};
use crate::model::{Breach, Expect, Move, Scenario, Strategy};
use crate::plan::{Plan, PlanError};

/// Up to this many changed services, the plan table has one version column per changed
/// service; past it the table would not fit a terminal, so it shows progress instead and
/// the JSON output carries every version.
const MAX_VERSION_COLUMNS: usize = 8;
/// A strategy and the outcome of planning it, as the `plan` command shows it. The
/// strategy travels with its plan so that the report uses the expectations the plan was
/// made for, with no second lookup by name.
pub type PlanOutcome = (Strategy, Result<Plan, PlanError>);

/// Renders `simulate plan` output for the terminal.
pub fn text(scenario: &Scenario, seed: u64, outcomes: &[PlanOutcome]) -> String {
    let mut out = String::new();
    let changes = scenario.changes();
    let changed: BTreeSet<&str> = changes
        .iter()
        .map(|change| change.service.as_str())
        .collect();
    header(&mut out, scenario, seed, &changes, &changed);
    let columns: Vec<&str> = if changed.len() <= MAX_VERSION_COLUMNS {
        changed.iter().copied().collect()
    } else {
        Vec::new()
    };
    for (strategy, outcome) in outcomes {
        out.push('\n');
        match outcome {
            Ok(plan) => render_plan(&mut out, scenario, strategy, plan, &columns, changes.len()),
            Err(err) => {
                let _ = writeln!(
                    out,
                    "strategy {}: cannot plan: {}",
                    strategy.name,
                    plan_error_text(err)
                );
            }
        }
    }
    if !columns.is_empty() {
        let _ = writeln!(out, "\n* = moved in this step; - = not deployed");
    }
    if columns.is_empty() && !changed.is_empty() {
        let _ = writeln!(
            out,
            "\n{} changed services are too many for version columns; `--json FILE` has every version after every step",
            changed.len()
        );
    }
    // Plan judges one thing: whether what was asked for can be planned.
    let unplanned: Vec<&str> = outcomes
        .iter()
        .filter(|(strategy, outcome)| strategy.listed && outcome.is_err())
        .map(|(strategy, _)| strategy.name.as_str())
        .collect();
    if !unplanned.is_empty() {
        let _ = writeln!(
            out,
            "\nverdict: fail ({} {} asked for and cannot be planned; `simulate check` shows why and what would make an order safe)",
            unplanned.join(", "),
            if unplanned.len() == 1 { "was" } else { "were" }
        );
    }
    out
}

/// The scenario's line, and what every strategy shares: the changes, the services left
/// as they are, the flags, the gate, and the recreate windows.
fn header(
    out: &mut String,
    scenario: &Scenario,
    seed: u64,
    changes: &[crate::model::Change],
    changed: &BTreeSet<&str>,
) {
    let n_entrypoints = scenario.entrypoints().count();
    let entry_names = list_or_none(scenario.entrypoints().map(|service| service.name.clone()));
    let _ = writeln!(
        out,
        "scenario {} (seed {seed}): {} services, {} {} ({}), {} {}",
        scenario.name,
        scenario.services.len(),
        n_entrypoints,
        plural(n_entrypoints, "entrypoint", "entrypoints"),
        entry_names,
        changes.len(),
        plural(changes.len(), "change", "changes"),
    );
    let unchanged: Vec<String> = scenario
        .services
        .keys()
        .filter(|name| !changed.contains(name.as_str()))
        .map(|name| {
            format!(
                "{name} {}",
                scenario.initial.version(name).unwrap_or("(not deployed)")
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "  changes:   {}",
        list_or_none(changes.iter().map(ToString::to_string))
    );
    let _ = writeln!(out, "  unchanged: {}", list_or_none(unchanged.into_iter()));
    if !scenario.flags.is_empty() {
        let flags = scenario.flags.iter().map(|flag| {
            let state = if flag.on {
                format!("on for {}%", flag.percent)
            } else {
                "off".to_owned()
            };
            format!("{} ({state}; {}% once released)", flag.name, flag.percent)
        });
        let _ = writeln!(out, "  flags:     {}", list_or_none(flags));
    }
    if let Some(gate) = &scenario.gate {
        let action = match gate.on_breach {
            Breach::Rollback => "roll back to the initial versions, in reverse order",
            Breach::Stop => "stop the rollout",
            Breach::Continue => "report the breach and continue",
            Breach::KillSwitch => "unrelease every flag released so far, without a redeploy",
        };
        let _ = writeln!(
            out,
            "  gate:      after each step, more than {}% failed requests -> {action}",
            gate.max_failed_ratio * 100.0
        );
    }
    for change in changes {
        let Some(service) = scenario.services.get(&change.service) else {
            continue;
        };
        if scenario.move_of(change) == Move::Recreate {
            let _ = writeln!(out, "  note:      {}", recreate_note(service));
        }
    }
}

/// What a recreate costs: a window with no ready replica, as long as its startup.
fn recreate_note(service: &crate::model::Service) -> String {
    let window = if service.startup.is_zero() {
        "while its new replicas start (startup_ms is 0: a short window, but a window)".to_owned()
    } else {
        format!(
            "for at least {} ms while it moves",
            service.startup.as_millis()
        )
    };
    format!(
        "{} rolls out with recreate: it has no ready replica {window}",
        service.name
    )
}

fn render_plan(
    out: &mut String,
    scenario: &Scenario,
    strategy: &Strategy,
    plan: &Plan,
    columns: &[&str],
    n_changes: usize,
) {
    let n_steps = plan.last_step();
    let (_, end_flags) = plan.end_state(scenario);
    let reach = if n_changes == 0 && scenario.releases().is_empty() {
        "nothing to roll out: the target is what runs initially".to_owned()
    } else if plan.is_complete() {
        "reaches the target".to_owned()
    } else {
        format!(
            "partial: stops before the target, leaving {}",
            plan.not_reached
                .iter()
                .map(ToString::to_string)
                .chain(plan.flags_left.iter().map(|flag| {
                    let now = end_flags.share(flag);
                    let released = scenario.target_flags().share(flag);
                    if now == 0 {
                        format!("{flag} unreleased")
                    } else {
                        format!("{flag} at {now}% ({released}% once released)")
                    }
                }))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let kind = if plan.kind.label() == plan.strategy {
        String::new()
    } else {
        format!(" ({})", plan.kind.label())
    };
    let _ = writeln!(
        out,
        "strategy {}{kind}: {n_steps} {}, {reach}{}{}",
        plan.strategy,
        plural(n_steps, "step", "steps"),
        expect_text(&strategy.expect),
        match strategy.on_breach {
            Some(Breach::KillSwitch) => "; on a breach: the kill switch",
            Some(Breach::Rollback) => "; on a breach: roll back",
            Some(Breach::Stop) => "; on a breach: stop",
            Some(Breach::Continue) => "; on a breach: continue",
            None => "",
        }
    );

    out.push_str(&table(&step_rows(scenario, plan, columns, n_changes), "  "));
    for fault_index in &plan.faults_never_fired {
        let fault = &scenario.faults[*fault_index];
        let _ = writeln!(
            out,
            "  note: fault {} ({fault}) starts at step {}, after this strategy's last step: it never fires here",
            fault_index, fault.at_step
        );
    }
}

/// The plan's table: per step its changes, the version of each changed service (or how
/// many have moved), and the faults starting in it.
fn step_rows(
    scenario: &Scenario,
    plan: &Plan,
    columns: &[&str],
    n_changes: usize,
) -> Vec<Vec<String>> {
    let has_faults = plan.steps.iter().any(|step| !step.faults.is_empty());
    let mut header = vec!["step".to_owned(), "changes".to_owned()];
    header.extend(columns.iter().map(|name| (*name).to_owned()));
    if columns.is_empty() && n_changes > 0 {
        header.push("moved".to_owned());
    }
    if has_faults {
        header.push("faults starting".to_owned());
    }
    let mut rows = vec![header];
    let mut moved = 0usize;
    let mut walk = plan.walk(scenario);
    while let Some((step, deployment, _)) = walk.next() {
        moved += step.changes.len();
        let mut row = vec![
            step.index.to_string(),
            changes_cell(&step.changes, &step.flag_changes, step.index),
        ];
        for service in columns {
            let version = deployment.version(service).unwrap_or("-");
            let marker = if step.changes.iter().any(|change| change.service == *service) {
                "*"
            } else {
                ""
            };
            row.push(format!("{version}{marker}"));
        }
        if columns.is_empty() && n_changes > 0 {
            row.push(format!("{moved}/{n_changes}"));
        }
        if has_faults {
            let faults: Vec<String> = step
                .faults
                .iter()
                .map(|i| scenario.faults[*i].to_string())
                .collect();
            row.push(faults.join("; "));
        }
        rows.push(row);
    }
    rows
}

fn expect_text(expect: &Expect) -> String {
    let mut parts = Vec::new();
    if let Some(graceful) = expect.graceful {
        parts.push(if graceful {
            "graceful".to_owned()
        } else {
            "a failure (graceful: false)".to_owned()
        });
    }
    if let Some(ratio) = expect.max_failed_ratio {
        parts.push(format!("failed <= {ratio}"));
    }
    if let Some(ratio) = expect.max_degraded_ratio {
        parts.push(format!("degraded <= {ratio}"));
    }
    if let Some(p99) = expect.p99 {
        parts.push(format!("p99 <= {}ms", p99.as_millis()));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; expects {}", parts.join(", "))
    }
}

/// `simulate plan --json`: the same data as the table, for machines.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub scenario: String,
    pub seed: u64,
    pub changes: Vec<ChangeJson>,
    pub strategies: Vec<PlanJson>,
}

#[derive(Debug, Serialize)]
pub struct PlanJson {
    pub name: String,
    pub kind: Option<String>,
    pub complete: bool,
    /// Why the strategy could not be planned; `null` when it could.
    pub error: Option<String>,
    pub steps: Vec<StepJson>,
    pub not_reached: Vec<ChangeJson>,
    /// Flags the release turns on that the plan leaves off.
    pub flags_left: Vec<String>,
    pub faults_never_fired: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct StepJson {
    pub index: usize,
    pub changes: Vec<ChangeJson>,
    /// The step's flag changes (`release show-reviews`, `show-reviews 25%`).
    pub flag_changes: Vec<String>,
    /// Every flag's percent of users after the step (0: off).
    pub flags: std::collections::BTreeMap<String, u8>,
    /// With `--full` only: the version of every deployed service after the step
    /// (services not deployed are absent). Left out by default, so the JSON grows with
    /// the changes, not with the fleet times the steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<std::collections::BTreeMap<String, String>>,
    pub faults: Vec<String>,
}

/// How much `simulate plan --json` says of each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// What each step changes.
    Changes,
    /// And the version of every deployed service after each step (`--full`).
    Full,
}

/// Builds the JSON form of `simulate plan`.
pub fn json(
    scenario: &Scenario,
    seed: u64,
    outcomes: &[PlanOutcome],
    detail: Detail,
) -> PlanReport {
    let fault_text = |i: &usize| scenario.faults[*i].to_string();
    let strategies = outcomes
        .iter()
        .map(|(strategy, outcome)| match outcome {
            Ok(plan) => PlanJson {
                name: strategy.name.clone(),
                kind: Some(plan.kind.label().to_owned()),
                complete: plan.is_complete(),
                error: None,
                steps: steps_json(scenario, plan, detail),
                not_reached: plan.not_reached.iter().map(ChangeJson::from).collect(),
                flags_left: plan.flags_left.clone(),
                faults_never_fired: plan.faults_never_fired.iter().map(fault_text).collect(),
            },
            Err(err) => PlanJson {
                name: strategy.name.clone(),
                kind: None,
                complete: false,
                error: Some(plan_error_text(err)),
                steps: Vec::new(),
                not_reached: Vec::new(),
                flags_left: Vec::new(),
                faults_never_fired: Vec::new(),
            },
        })
        .collect();
    PlanReport {
        scenario: scenario.name.clone(),
        seed,
        changes: scenario.changes().iter().map(ChangeJson::from).collect(),
        strategies,
    }
}

/// Each step of `plan` as JSON, walking it once for the flags (and, with `Full`, the
/// versions) after each.
fn steps_json(scenario: &Scenario, plan: &Plan, detail: Detail) -> Vec<StepJson> {
    let fault_text = |i: &usize| scenario.faults[*i].to_string();
    let mut steps = Vec::with_capacity(plan.steps.len());
    let mut walk = plan.walk(scenario);
    while let Some((step, deployment, flags)) = walk.next() {
        steps.push(StepJson {
            index: step.index,
            changes: step.changes.iter().map(ChangeJson::from).collect(),
            flag_changes: step.flag_changes.iter().map(ToString::to_string).collect(),
            flags: flags.shares(),
            versions: (detail == Detail::Full).then(|| deployment.0.clone()),
            faults: step.faults.iter().map(fault_text).collect(),
        });
    }
    steps
}
