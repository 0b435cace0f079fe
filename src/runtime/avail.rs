//! `simulate availability --trials N`: failure sets measured one by one on servers in
//! virtual time.
//!
//! Trial i of a level draws failure set i of [`crate::avail::Fleet::draw`] (the same set
//! the drawn prediction takes as its i-th), starts the deployment asked without the
//! failed units (a failed replica never starts, a service with every replica failed is
//! not deployed: callers find no replica and fail with UNAVAILABLE, as after `kill`) and
//! sends the scenario's load for `load.baseline_ms`, with neither gate nor the scenario's
//! own faults. Trials run on worker threads, each in a simulation of its own seeded by its
//! level and number, so a trial's counts do not depend on the worker or their number.

use std::sync::Arc;

use crate::avail::{Fleet, TrialCounts};
use crate::model::{Amount, Deployment, Flags, Scenario};
use crate::record::result::StrategyRun;
use crate::runtime::host;
use crate::runtime::interrupt::Interrupt;
use crate::runtime::net::Net;
use crate::runtime::trials::TrialError;
use crate::shard::Shard;

/// Measures `trials` failure sets of `amount` (only `shard`'s, when there is one) on up
/// to `workers` threads; `done` is called with the number finished after each. Returns
/// the trials in order, and whether Ctrl-C cut them short (then only those before the
/// first one missing are kept).
#[allow(clippy::too_many_arguments)]
pub fn measure(
    fleet: &Fleet,
    scenario: &Scenario,
    deployment: &Deployment,
    flags: &Flags,
    amount: Amount,
    (trials, shard): (u32, Option<Shard>),
    (seed, workers, degraded_lost): (u64, usize, bool),
    interrupt: &Interrupt,
    done: &(dyn Fn(u32) + Sync),
) -> Result<(Vec<TrialCounts>, bool), TrialError> {
    let shard = shard.unwrap_or(Shard::WHOLE);
    crate::runtime::trials::in_order(shard.len(trials), workers, interrupt, done, |k| {
        let trial = shard.trial(k);
        let failed = fleet.draw(amount, trial);
        let variant = without(scenario, deployment, flags, fleet, &failed);
        let run = run_one(variant, seed, amount, trial)?;
        let methods = counts(fleet, scenario, &run, degraded_lost);
        Ok(TrialCounts {
            trial,
            failed,
            methods,
        })
    })
}

/// The scenario a trial runs: `deployment` with `flags` as its initial state, each
/// candidate's failed replicas never started and a candidate with all of them failed not
/// deployed; no gate, no faults.
fn without(
    scenario: &Scenario,
    deployment: &Deployment,
    flags: &Flags,
    fleet: &Fleet,
    failed: &[u32],
) -> Scenario {
    let mut variant = scenario.clone();
    variant.gate = None;
    variant.faults = Vec::new();
    variant.initial = deployment.clone();
    for flag in &mut variant.flags {
        if let Some(setting) = flags.0.get(&flag.name) {
            flag.on = setting.on;
            flag.percent = setting.percent;
        }
    }
    for ((name, units), &lost) in fleet.candidates.iter().zip(failed) {
        if lost == 0 {
            continue;
        }
        if lost >= *units {
            variant.initial.0.remove(name);
        } else if let Some(service) = variant.services.get_mut(name) {
            // A replica unit: the service runs with the replicas left.
            service.replicas -= lost;
        }
    }
    variant
}

/// The baseline of `variant` in a simulation of its own.
fn run_one(
    variant: Scenario,
    seed: u64,
    amount: Amount,
    trial: u32,
) -> Result<StrategyRun, TrialError> {
    let name = format!("{amount} set {trial}");
    let (strategy, plan) = crate::plan::baseline_only(&name);
    let variant = Arc::new(variant);
    let limit = host::sim_limit([host::row_budget(&variant)]);
    let run_seed = crate::seed::derive(seed, &format!("availability.run/{amount}/{trial}"));
    let hosted = host::host(
        Net::Sim,
        run_seed,
        limit,
        &Interrupt::never(),
        move |options| async move {
            crate::runtime::run::run(variant, &strategy, &plan, &options, None).await
        },
    )
    .map_err(|source| TrialError::Host {
        trial,
        strategy: name.clone(),
        source,
    })?;
    let (run, _) = hosted.map_err(|err| TrialError::Start {
        trial,
        strategy: name,
        message: err.to_string(),
    })?;
    Ok(run)
}

/// Per method of the fleet's entrypoints (flattened), the entry requests served and sent.
fn counts(
    fleet: &Fleet,
    scenario: &Scenario,
    run: &StrategyRun,
    degraded_lost: bool,
) -> Vec<(u64, u64)> {
    let names = run.graph.entry_names();
    fleet
        .entrypoints
        .iter()
        .flat_map(|entry| {
            let measured = names
                .iter()
                .position(|name| name == &entry.name)
                .map(|e| run.by_method(scenario, e))
                .unwrap_or_default();
            entry
                .methods
                .iter()
                .map(|(method, _)| {
                    measured
                        .iter()
                        .find(|(m, _)| m == method)
                        .map_or((0, 0), |(_, counts)| {
                            let served =
                                counts.ok + if degraded_lost { 0 } else { counts.degraded };
                            (served, counts.ok + counts.degraded + counts.failed)
                        })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
