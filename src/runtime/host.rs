//! Where a run happens: on a multi-threaded tokio runtime over the OS's loopback (live),
//! or inside a turmoil simulation on a virtual clock (sim). Either way the same future
//! runs, with Ctrl-C read through [`Options::interrupt`].

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use super::cluster::{DRAIN_LIMIT, StartError};
use super::interrupt::Interrupt;
use super::load::ENTRY_DEADLINE;
use super::net::{self, Net};
use super::run::{Options, PREVIOUS_STEP_LIMIT};
use crate::model::Scenario;
use crate::plan::Plan;

/// What a hosted run gave back: its value and whether Ctrl-C stopped it, or the replica
/// that could not start.
pub type Outcome<T> = Result<(T, bool), StartError>;

/// The host itself failed, before or around the run.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The simulation stopped: the run's future failed or panicked.
    #[error("the simulation stopped: {0}")]
    Simulation(String),
    /// The run took more virtual time than its limit (see [`sim_limit`]): something in it
    /// waited without a bound, which is a bug.
    #[error(
        "the simulated run took more than {} s of virtual time, twice what its plan can need, \
         and was stopped as stuck; this is a bug in deploysim: please report the scenario, \
         and use --net live meanwhile",
        .limit.as_secs()
    )]
    Stuck { limit: Duration },
}

/// Runs `work` on `net`, with `seed` for the simulation's own random choices and `limit`
/// on its virtual time; `interrupt` stops it (`Interrupt::never()` in tests).
pub fn host<T, F, Fut>(
    net: Net,
    seed: u64,
    limit: Duration,
    interrupt: &Interrupt,
    work: F,
) -> Result<Outcome<T>, HostError>
where
    T: 'static,
    F: FnOnce(Options) -> Fut + 'static,
    Fut: Future<Output = Result<T, StartError>> + 'static,
{
    match net {
        Net::Live | Net::Processes => on_live(seed, interrupt, work),
        Net::Sim => on_sim(seed, limit, interrupt, work),
    }
}

fn on_live<T, F, Fut>(seed: u64, interrupt: &Interrupt, work: F) -> Result<Outcome<T>, HostError>
where
    F: FnOnce(Options) -> Fut,
    Fut: Future<Output = Result<T, StartError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(HostError::Runtime)?;
    let outcome = runtime.block_on(async {
        let options = Options {
            seed,
            interrupt: interrupt.clone(),
            processes: None,
        };
        let result = work(options).await;
        result.map(|value| (value, interrupt.is_set()))
    });
    // Replicas and connections still open in the runtime close with it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(outcome)
}

/// The run inside a turmoil simulation: one simulated host runs everything (replicas,
/// load, runner) on a virtual clock that turmoil moves a tick at a time, its random
/// choices seeded from `seed`. Ctrl-C is watched from a thread of its own, outside the
/// simulation, which has no signal driver (`Interrupt`); only a Ctrl-C can make two runs
/// differ.
fn on_sim<T, F, Fut>(
    seed: u64,
    limit: Duration,
    interrupt: &Interrupt,
    work: F,
) -> Result<Outcome<T>, HostError>
where
    T: 'static,
    F: FnOnce(Options) -> Fut + 'static,
    Fut: Future<Output = Result<T, StartError>> + 'static,
{
    let interrupt = interrupt.clone();
    let watched = interrupt.clone();
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(net::SIM_TICK)
        .simulation_duration(limit)
        .tcp_capacity(SIM_SOCKET_CAPACITY)
        .ephemeral_ports(SIM_PORTS)
        .build();
    let result = Rc::new(RefCell::new(None));
    let out = Rc::clone(&result);
    let options = Options {
        seed,
        interrupt: interrupt.clone(),
        processes: None,
    };
    // `work` is called inside the simulation, so that nothing it does, even before its
    // first await, reaches the real network.
    sim.client("deploysim", async move {
        let value = work(options).await;
        let interrupted = interrupt.is_set();
        *out.borrow_mut() = Some(value.map(|value| (value, interrupted)));
        Ok(())
    });
    if let Err(err) = sim.run() {
        return Err(if sim.elapsed() > limit {
            HostError::Stuck { limit }
        } else {
            HostError::Simulation(err.to_string())
        });
    }
    // Replicas and connections still open in the simulation close with it; after an
    // interrupt, the simulation (a large fleet's hundreds of megabytes, most of a second
    // to free) is left to the process's end, which comes right after the report.
    if watched.is_set() {
        std::mem::forget(sim);
    } else {
        drop(sim);
    }
    let outcome = result.borrow_mut().take();
    outcome.ok_or_else(|| HostError::Simulation("it ended before the run did".to_owned()))
}

/// Segments a simulated socket buffers, and connections a simulated listener holds before
/// they are accepted: turmoil's default of 64 is a few calls' worth on one HTTP/2
/// connection.
const SIM_SOCKET_CAPACITY: usize = 4096;

/// The ports the simulated host hands out. Every replica's listener and every connection
/// of the run share one host, so the range is as wide as a real host's (turmoil's default
/// is the 16,384 of the IANA ephemeral range); ports are reused once closed.
const SIM_PORTS: std::ops::RangeInclusive<u16> = 1024..=65535;

/// Slack per step and per run for what the runner does between its bounded waits.
const SLACK: Duration = Duration::from_secs(5);

/// The virtual time one strategy's run may need at most: its baseline and the end of the
/// run (the load's last requests, bounded by their deadline), and per step its bake time,
/// the previous step's requests, two startups (a recreate's new replicas, a restore after
/// a fault) and a drain per changed service and one more; every step once more, for a
/// rollback.
pub fn run_budget(scenario: &Scenario, plan: &Plan) -> Duration {
    let startup = longest_startup(scenario);
    let steps: Duration = plan
        .steps
        .iter()
        .skip(1)
        .map(|step| {
            scenario.load.bake
                + PREVIOUS_STEP_LIMIT
                + startup * 2
                + DRAIN_LIMIT * (step.changes.len() as u32 + 1)
                + SLACK
        })
        .sum();
    scenario.load.baseline + startup * 2 + ENTRY_DEADLINE + SLACK + steps * 2
}

/// The virtual time one row of the sweep may need at most: a baseline from fresh servers
/// and the end of its load.
pub fn row_budget(scenario: &Scenario) -> Duration {
    scenario.load.baseline + longest_startup(scenario) * 2 + ENTRY_DEADLINE + SLACK
}

/// The most virtual time a simulated run made of parts with these budgets may take before
/// it is stopped as stuck: twice their sum, and a minute more. A run that ends normally
/// stays under its budgets, which already assume every bounded wait runs to its bound.
pub fn sim_limit(budgets: impl IntoIterator<Item = Duration>) -> Duration {
    budgets.into_iter().sum::<Duration>() * 2 + Duration::from_secs(60)
}

fn longest_startup(scenario: &Scenario) -> Duration {
    scenario
        .services
        .values()
        .map(|service| service.startup)
        .max()
        .unwrap_or_default()
}
