//! What virtual time buys, measured against the live network in the same process and run.
//!
//! 1. A generated 1,000-service scenario's batch strategy in sim: wall time and the
//!    process's peak resident memory (measured first, so that nothing else has raised it).
//! 2. The whole `scenarios/partial.yaml` run (every strategy), in sim and live, alternating,
//!    `ROUNDS` rounds: wall time of each and their ratio.
//! 3. The 3-hop chain of `benches/live.rs`, driven closed-loop with 16 requests in flight,
//!    in sim and live: gRPC calls (hops) per wall-second.
//!
//! Run with `cargo bench --bench sim`. Prints a table; nothing is asserted here. The
//! numbers go in README.md with the machine they ran on.

// Wall time is what this bench measures, from outside every runtime and simulation, where
// tokio's clock (virtual in sim) is not the one that counts.
#![allow(clippy::disallowed_types)]

#[path = "support/chain.rs"]
mod chain;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deploysim::model::Scenario;
use deploysim::record::Recorder;
use deploysim::runtime::cluster::{Cluster, StartError};
use deploysim::runtime::host::{host, run_budget, sim_limit};
use deploysim::runtime::net::Net;
use deploysim::runtime::run::Options;
use deploysim::{generate, plan, scenario};

const ROUNDS: usize = 3;
const DEPTH: usize = 3;
const IN_FLIGHT: usize = 16;
const CHAIN_REQUESTS: usize = 20_000;

fn main() {
    let fleet = parse(&generate::scenario_yaml(1_000, 1), "generated-1000.yaml");
    let started = Instant::now();
    let (sent, failed) = run_strategies(Net::Sim, &fleet, Some("batch"));
    let wall = started.elapsed();
    println!("1,000-service generated fleet (seed 1), batch, in sim:");
    println!(
        "  wall {:.2} s, peak RSS {} MiB, {sent} entry requests, {failed} failed",
        wall.as_secs_f64(),
        peak_rss_kib() / 1024
    );
    println!();

    let partial = Arc::new(
        scenario::load(std::path::Path::new("scenarios/partial.yaml"))
            .expect("scenarios/partial.yaml loads"),
    );
    let mut sim_s = Vec::new();
    let mut live_s = Vec::new();
    for _ in 0..ROUNDS {
        sim_s.push(timed(|| run_strategies(Net::Sim, &partial, None)));
        live_s.push(timed(|| run_strategies(Net::Live, &partial, None)));
    }
    let (sim, live) = (median(&mut sim_s), median(&mut live_s));
    println!("scenarios/partial.yaml, every strategy, {ROUNDS} rounds (median wall time):");
    println!("  live  {live:>7.3} s   rounds {live_s:.3?}");
    println!("  sim   {sim:>7.3} s   rounds {sim_s:.3?}");
    println!("  sim is {:.1}x faster", live / sim);
    println!();

    let chain = parse(&chain::chain_yaml(DEPTH), "chain.yaml");
    println!(
        "{DEPTH}-hop chain, closed loop, {IN_FLIGHT} in flight, {CHAIN_REQUESTS} requests x {ROUNDS} rounds (median):"
    );
    for net in [Net::Live, Net::Sim] {
        let mut rates: Vec<f64> = (0..ROUNDS).map(|_| calls_per_second(net, &chain)).collect();
        let rate = median(&mut rates);
        println!(
            "  {:<4}  {rate:>9.0} gRPC calls per wall-second   rounds {rates:.0?}",
            net.word()
        );
    }
}

fn parse(yaml: &str, name: &str) -> Arc<Scenario> {
    Arc::new(scenario::parse_str(yaml, std::path::Path::new(name)).expect("a valid scenario"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn timed(work: impl FnOnce() -> (u64, u64)) -> f64 {
    let started = Instant::now();
    work();
    started.elapsed().as_secs_f64()
}

/// The peak resident set of this process so far, from /proc (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// Hosts `work` on `net` and returns its value.
fn on<T: 'static, Fut>(net: Net, limit: Duration, work: impl FnOnce(Options) -> Fut + 'static) -> T
where
    Fut: Future<Output = Result<T, StartError>> + 'static,
{
    let (value, _) = host(
        net,
        1,
        limit,
        &deploysim::runtime::interrupt::Interrupt::never(),
        work,
    )
    .expect("the host starts")
    .expect("the servers start");
    value
}

/// Runs the scenario's strategies (or only `only`) on `net`; the entry requests sent and
/// failed.
fn run_strategies(net: Net, scenario: &Arc<Scenario>, only: Option<&str>) -> (u64, u64) {
    let strategies = match only {
        Some(name) => vec![deploysim::model::Strategy {
            name: name.to_owned(),
            kind: deploysim::model::StrategyKind::builtin(name).expect("a built-in strategy"),
            expect: scenario.expect.clone(),
            on_breach: None,
            listed: false,
        }],
        None => scenario.strategies.clone(),
    };
    let plans: Vec<_> = strategies
        .into_iter()
        .filter_map(|strategy| {
            let plan = plan::plan(scenario, &strategy, scenario.seed).ok()?;
            Some((strategy, plan))
        })
        .collect();
    let limit = sim_limit(plans.iter().map(|(_, plan)| run_budget(scenario, plan)));
    let scenario = Arc::clone(scenario);
    on(net, limit, move |options| async move {
        let mut totals = (0, 0);
        for (strategy, plan) in &plans {
            let run =
                deploysim::runtime::run::run(Arc::clone(&scenario), strategy, plan, &options, None)
                    .await?;
            totals.0 += run.total.requests();
            totals.1 += run.total.failed;
        }
        Ok(totals)
    })
}

/// gRPC calls (hops) per wall-second through the chain on `net`, closed loop.
fn calls_per_second(net: Net, chain: &Arc<Scenario>) -> f64 {
    let chain = Arc::clone(chain);
    let started = Instant::now();
    on(net, Duration::from_secs(3_600), move |_| async move {
        let cluster = Arc::new(Cluster::new(chain, 1, Arc::new(Recorder::new())));
        cluster.deploy_initial().await?;
        chain::drive(&cluster, CHAIN_REQUESTS, IN_FLIGHT).await;
        cluster.shutdown().await;
        Ok(())
    });
    (CHAIN_REQUESTS * DEPTH) as f64 / started.elapsed().as_secs_f64()
}
