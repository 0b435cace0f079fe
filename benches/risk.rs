//! `simulate risk`'s cost: paired trials of `scenarios/risk.yaml` in sim.
//!
//! 1. `TRIALS` (default 1,000; `DEPLOYSIM_RISK_TRIALS` overrides) paired trials across the
//!    scenario's three strategies on every core: wall time and trials per second. The
//!    goal is under 60 s on two cores.
//! 2. Where the time goes: each strategy alone, `SAMPLE` trials on one worker: wall
//!    milliseconds per run, entry requests per run, and microseconds per entry request.
//!
//! Run with `cargo bench --bench risk`. Prints a table; nothing is asserted here. The
//! numbers go in docs/risk.md with the machine they ran on.

// Wall time is what this bench measures, from outside every simulation, where tokio's
// clock (virtual in sim) is not the one that counts.
#![allow(clippy::disallowed_types)]

use std::time::Instant;

use deploysim::model::{Scenario, Strategy};
use deploysim::plan::{self, Plan};
use deploysim::risk;
use deploysim::runtime::net::Net;
use deploysim::runtime::trials::{self, TrialOptions};

const SAMPLE: u32 = 60;

fn main() {
    let scenario = deploysim::scenario::load(std::path::Path::new("scenarios/risk.yaml"))
        .expect("scenarios/risk.yaml loads");
    let plans: Vec<(Strategy, Plan)> = scenario
        .risk
        .strategies
        .iter()
        .map(|kind| {
            let strategy = Strategy {
                name: risk::strategy_name(kind),
                kind: kind.clone(),
                expect: Default::default(),
                on_breach: None,
                listed: false,
            };
            let planned = plan::plan(&scenario, &strategy, scenario.seed).expect("plans");
            (strategy, planned)
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let count: u32 = std::env::var("DEPLOYSIM_RISK_TRIALS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000);

    let started = Instant::now();
    let ran = trials::run(
        &scenario,
        &plans,
        &options(&scenario, count, cores),
        &|_| {},
    )
    .expect("trials run");
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{} paired trials x {} strategies of scenarios/risk.yaml in sim, {cores} workers:",
        ran.trials.len(),
        plans.len()
    );
    println!(
        "  wall {wall:.1} s, {:.1} trials/s, {:.1} ms per strategy run per core",
        f64::from(count) / wall,
        wall * 1000.0 * cores as f64 / (f64::from(count) * plans.len() as f64)
    );
    println!();

    println!("where the time goes ({SAMPLE} trials, one worker, each strategy alone):");
    println!("  strategy      ms/run  entry requests/run  us/entry request");
    for single in &plans {
        let alone = vec![single.clone()];
        let started = Instant::now();
        let mut requests = 0u64;
        for trial in 0..SAMPLE {
            let draw = risk::draw(&scenario, scenario.seed, trial);
            let runs = trials::run_draw(&scenario, &alone, &options(&scenario, 1, 1), &draw)
                .expect("runs");
            requests += runs.iter().map(|run| run.total.requests()).sum::<u64>();
        }
        let wall = started.elapsed().as_secs_f64();
        println!(
            "  {:<12}  {:>6.1}  {:>18.0}  {:>16.0}",
            single.0.name,
            wall * 1000.0 / f64::from(SAMPLE),
            requests as f64 / f64::from(SAMPLE),
            wall * 1e6 / requests.max(1) as f64
        );
    }
}

fn options(scenario: &Scenario, count: u32, workers: usize) -> TrialOptions {
    TrialOptions {
        trials: count,
        seed: scenario.seed,
        net: Net::Sim,
        workers,
        interrupt: deploysim::runtime::interrupt::Interrupt::never(),
        shard: None,
    }
}
