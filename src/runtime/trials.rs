//! `simulate risk`'s trials: every strategy in every trial, on every core.
//!
//! Workers (one per core by default) take trial numbers from one counter; each trial is
//! drawn from the seed and its number alone (see `risk::draw`) and runs each strategy in
//! a simulation of its own, so a trial's result does not depend on which worker ran it or
//! on how many there are. Results are put back in trial order.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::{Scenario, Strategy};
use crate::plan::Plan;
use crate::record::result::StrategyRun;
use crate::risk::{self, Trial};
use crate::runtime::host::{self, HostError};
use crate::runtime::interrupt::Interrupt;
use crate::runtime::net::Net;
use crate::shard::Shard;

/// How the trials run.
#[derive(Debug, Clone)]
pub struct TrialOptions {
    pub trials: u32,
    pub seed: u64,
    pub net: Net,
    /// Worker threads; at least 1.
    pub workers: usize,
    /// Set on Ctrl-C: workers finish the trial in hand and take no other.
    pub interrupt: Interrupt,
    /// Run only this shard's trials (`--shard I/N`).
    pub shard: Option<Shard>,
}

/// The trials that ran, in trial order.
#[derive(Debug, Clone)]
pub struct TrialsRun {
    pub trials: Vec<Trial>,
    /// Fewer trials ran than were asked for (Ctrl-C).
    pub partial: bool,
}

/// A trial could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("trial {trial}, strategy {strategy}: {source}")]
    Host {
        trial: u32,
        strategy: String,
        source: HostError,
    },
    #[error("trial {trial}, strategy {strategy}: {message}")]
    Start {
        trial: u32,
        strategy: String,
        message: String,
    },
}

/// Runs `plans` (each strategy planned on the scenario as written: the team does not
/// know its defects) in every trial. `done` is called with the number of trials finished
/// after each one, from the worker that finished it.
pub fn run(
    scenario: &Scenario,
    plans: &[(Strategy, Plan)],
    options: &TrialOptions,
    done: &(dyn Fn(u32) + Sync),
) -> Result<TrialsRun, TrialError> {
    let shard = options.shard.unwrap_or(Shard::WHOLE);
    let (trials, partial) = in_order(
        shard.len(options.trials),
        options.workers,
        &options.interrupt,
        done,
        |k| run_trial(scenario, plans, options, shard.trial(k)),
    )?;
    Ok(TrialsRun { trials, partial })
}

/// Runs `work` for each number of 0..count on `workers` threads that take numbers from
/// one counter, so a result does not depend on which worker made it or on how many there
/// are. The first error stops every worker once its number in hand is done, and so does
/// `interrupt`. Returns the results in number order, keeping only those before the first
/// number missing (a run cut short is the run of fewer), and whether it was cut short.
pub fn in_order<T: Send, E: Send>(
    count: u32,
    workers: usize,
    interrupt: &Interrupt,
    done: &(dyn Fn(u32) + Sync),
    work: impl Fn(u32) -> Result<T, E> + Sync,
) -> Result<(Vec<T>, bool), E> {
    let next = AtomicU32::new(0);
    let finished = AtomicU32::new(0);
    let results: Mutex<Vec<(u32, T)>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<E>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::SeqCst) || interrupt.is_set() {
                        return;
                    }
                    let number = next.fetch_add(1, Ordering::SeqCst);
                    if number >= count {
                        return;
                    }
                    match work(number) {
                        Ok(result) => {
                            crate::lock::lock(&results).push((number, result));
                            done(finished.fetch_add(1, Ordering::SeqCst) + 1);
                        }
                        Err(err) => {
                            stop.store(true, Ordering::SeqCst);
                            crate::lock::lock(&failure).get_or_insert(err);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(err) = crate::lock::lock(&failure).take() {
        return Err(err);
    }
    let mut results = std::mem::take(&mut *crate::lock::lock(&results));
    results.sort_by_key(|(number, _)| *number);
    let complete = results
        .iter()
        .enumerate()
        .take_while(|(i, (number, _))| *number as usize == *i)
        .count();
    results.truncate(complete);
    let partial = results.len() < count as usize;
    Ok((
        results.into_iter().map(|(_, result)| result).collect(),
        partial,
    ))
}

/// Trial `trial`: its draw, and each strategy's outcome on the scenario with its defects.
pub fn run_trial(
    scenario: &Scenario,
    plans: &[(Strategy, Plan)],
    options: &TrialOptions,
    trial: u32,
) -> Result<Trial, TrialError> {
    let draw = risk::draw(scenario, options.seed, trial);
    let runs = run_draw(scenario, plans, options, &draw)?;
    let outcomes = runs
        .iter()
        .map(|run| risk::outcome(run, &draw, &scenario.target))
        .collect();
    Ok(Trial { draw, outcomes })
}

/// The trial a report shows step by step (see [`risk::timeline_trial`]; trial 0's draw
/// when no trial ran), and every strategy's run of it.
pub fn timeline(
    scenario: &Scenario,
    plans: &[(Strategy, Plan)],
    options: &TrialOptions,
    trials: &[Trial],
) -> Result<(risk::Draw, Vec<StrategyRun>), TrialError> {
    let draw = risk::timeline_trial(trials).map_or_else(
        || risk::draw(scenario, options.seed, 0),
        |trial| trial.draw.clone(),
    );
    let runs = run_draw(scenario, plans, options, &draw)?;
    Ok((draw, runs))
}

/// Every strategy's run on the scenario with `draw`'s defects: what a trial measures, and
/// what `simulate SCENARIO --trial N` and the report's timeline show step by step.
pub fn run_draw(
    scenario: &Scenario,
    plans: &[(Strategy, Plan)],
    options: &TrialOptions,
    draw: &risk::Draw,
) -> Result<Vec<StrategyRun>, TrialError> {
    let trial = draw.trial;
    let defective = Arc::new(risk::with_defects(scenario, draw));
    let mut runs = Vec::with_capacity(plans.len());
    for (strategy, plan) in plans {
        let limit = host::sim_limit([host::run_budget(&defective, plan) * 2]);
        let (shared, owned_strategy, owned_plan) =
            (Arc::clone(&defective), strategy.clone(), plan.clone());
        let hosted = host::host(
            options.net,
            risk::run_seed(options.seed, trial),
            limit,
            &Interrupt::never(),
            move |run_options| async move {
                crate::runtime::run::run(shared, &owned_strategy, &owned_plan, &run_options, None)
                    .await
            },
        )
        .map_err(|source| TrialError::Host {
            trial,
            strategy: strategy.name.clone(),
            source,
        })?;
        let (run, _) = hosted.map_err(|err| TrialError::Start {
            trial,
            strategy: strategy.name.clone(),
            message: err.to_string(),
        })?;
        runs.push(run);
    }
    Ok(runs)
}
