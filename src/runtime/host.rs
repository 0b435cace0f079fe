//! Where a run happens: on a multi-threaded tokio runtime over the OS's loopback (live),
//! or inside a turmoil simulation on a virtual clock (sim). Either way the same future
//! runs, with Ctrl-C wired to [`Options::interrupt`].

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::watch;

use super::cluster::StartError;
use super::net::{self, Net};
use super::run::Options;
use crate::model::Scenario;

/// What a hosted run gave back: its value and whether Ctrl-C stopped it, or the replica
/// that could not start.
pub type Outcome<T> = Result<(T, bool), StartError>;

/// The host itself failed, before or around the run.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The simulation stopped: a task panicked, or the run took more virtual time than its
    /// limit (see [`sim_limit`]).
    #[error("the simulation stopped: {0}")]
    Simulation(String),
}

/// Runs `work` on `net`, with `seed` for the simulation's own random choices and `limit`
/// on its virtual time. `watch_ctrl_c` wires Ctrl-C to the run's interrupt (tests leave
/// it off).
pub fn host<T, F, Fut>(
    net: Net,
    seed: u64,
    limit: Duration,
    watch_ctrl_c: bool,
    work: F,
) -> Result<Outcome<T>, HostError>
where
    T: 'static,
    F: FnOnce(Options) -> Fut,
    Fut: Future<Output = Result<T, StartError>> + 'static,
{
    match net {
        Net::Live => on_live(seed, watch_ctrl_c, work),
        Net::Sim => on_sim(seed, limit, watch_ctrl_c, work),
    }
}

fn on_live<T, F, Fut>(seed: u64, watch_ctrl_c: bool, work: F) -> Result<Outcome<T>, HostError>
where
    F: FnOnce(Options) -> Fut,
    Fut: Future<Output = Result<T, StartError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(HostError::Runtime)?;
    let outcome = runtime.block_on(async {
        let (interrupt_tx, interrupt) = watch::channel(false);
        if watch_ctrl_c {
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = interrupt_tx.send(true);
                }
            });
        }
        let options = Options {
            seed,
            interrupt: interrupt.clone(),
        };
        let result = work(options).await;
        let interrupted = *interrupt.borrow();
        result.map(|value| (value, interrupted))
    });
    // Replicas and connections still open in the runtime close with it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(outcome)
}

/// The run inside a turmoil simulation: one simulated host runs everything (replicas,
/// load, runner) on a virtual clock that turmoil moves a tick at a time, its random
/// choices seeded from `seed`. Ctrl-C is watched from a thread of its own, outside the
/// simulation, which has no signal driver; only a Ctrl-C can make two runs differ.
fn on_sim<T, F, Fut>(
    seed: u64,
    limit: Duration,
    watch_ctrl_c: bool,
    work: F,
) -> Result<Outcome<T>, HostError>
where
    T: 'static,
    F: FnOnce(Options) -> Fut,
    Fut: Future<Output = Result<T, StartError>> + 'static,
{
    let (interrupt_tx, interrupt) = watch::channel(false);
    if watch_ctrl_c {
        let watcher = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(HostError::Runtime)?;
        std::thread::spawn(move || {
            watcher.block_on(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = interrupt_tx.send(true);
                }
            });
        });
    }
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(net::SIM_TICK)
        .simulation_duration(limit)
        .tcp_capacity(SIM_SOCKET_CAPACITY)
        .build();
    let result = Rc::new(RefCell::new(None));
    let out = Rc::clone(&result);
    let run = work(Options {
        seed,
        interrupt: interrupt.clone(),
    });
    sim.client("deploysim", async move {
        let value = run.await;
        let interrupted = *interrupt.borrow();
        *out.borrow_mut() = Some(value.map(|value| (value, interrupted)));
        Ok(())
    });
    sim.run()
        .map_err(|err| HostError::Simulation(err.to_string()))?;
    // Replicas and connections still open in the simulation close with it.
    drop(sim);
    let outcome = result.borrow_mut().take();
    outcome.ok_or_else(|| HostError::Simulation("it ended before the run did".to_owned()))
}

/// Segments a simulated socket buffers, and connections a simulated listener holds before
/// they are accepted: turmoil's default of 64 is a few calls' worth on one HTTP/2
/// connection.
const SIM_SOCKET_CAPACITY: usize = 4096;

/// A generous bound on what a step waits for beyond its bake time: the previous step's
/// requests (1 s), the longest startup, drains (2 s per service leaving).
const STEP_WAIT_BOUND: Duration = Duration::from_secs(30);

/// The most virtual time a simulated run of `runs` baselines and `steps` steps (rollout
/// and rollback) may take before it is stopped as stuck: twice what they plan, each step
/// with the runner's own bounded waits and the longest startup, and a minute more. A run
/// that ends normally never reaches it; a stuck one ends in seconds of wall time.
pub fn sim_limit(scenario: &Scenario, runs: usize, steps: usize) -> Duration {
    let load = &scenario.load;
    let startup = scenario
        .services
        .values()
        .map(|service| service.startup)
        .max()
        .unwrap_or_default();
    let per_step = load.bake + STEP_WAIT_BOUND + startup;
    let planned = (load.baseline + startup) * runs as u32 + per_step * steps as u32;
    planned * 2 + Duration::from_secs(60)
}
