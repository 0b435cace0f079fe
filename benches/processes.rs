//! What a process boundary costs per hop: the same 3-hop chain (benches/support/chain.rs),
//! once with every replica a server of this process and once with every replica a
//! process of its own (`--net processes`: `simulate serve --child`, the run's token on
//! every call), driven closed-loop from this process.
//!
//! Two figures each, from the wall clock: the time a request takes with one in flight
//! (the chain's latency: the difference over the depth is what each boundary adds to a
//! hop), and with `IN_FLIGHT` in flight (the time each request takes when the two
//! cores are the limit). Wall time, not CPU time: the CPU time /proc reports for a busy
//! multi-threaded process on the sandboxes this was measured on exceeds its cores (3.4
//! cores' worth on 2), so per-process CPU readings are not comparable across processes.
//!
//! Run with `cargo bench --bench processes`. Prints a table; nothing is asserted here.

#[path = "support/chain.rs"]
mod chain;

use std::sync::Arc;

use deploysim::record::Recorder;
use deploysim::runtime::child::{Fleet, Spawn};
use deploysim::runtime::cluster::Cluster;
use deploysim::scenario;
use tokio::time::Instant;

const DEPTH: usize = 3;
const IN_FLIGHT: usize = 16;
const REQUESTS: usize = 20_000;
const LATENCY_REQUESTS: usize = 3_000;
const ROUNDS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let here = chain_cluster(false).await;
        let there = chain_cluster(true).await;
        chain::drive(&here, 2_000, IN_FLIGHT).await;
        chain::drive(&there, 2_000, IN_FLIGHT).await;
        println!("{DEPTH}-hop chain, closed loop, {ROUNDS} rounds each (medians), microseconds per request:");
        println!("                          1 in flight   {IN_FLIGHT} in flight");
        let mut rows = Vec::new();
        for (name, cluster) in [("one process", &here), ("a process per replica", &there)] {
            let mut alone = Vec::new();
            let mut busy = Vec::new();
            for _ in 0..ROUNDS {
                alone.push(measure(cluster, LATENCY_REQUESTS, 1).await);
                busy.push(measure(cluster, REQUESTS, IN_FLIGHT).await);
            }
            let (alone, busy) = (median(&mut alone), median(&mut busy));
            println!("  {name:<22}  {alone:>11.1}   {busy:>12.1}");
            rows.push((alone, busy));
        }
        let ((here_alone, here_busy), (there_alone, there_busy)) = (rows[0], rows[1]);
        println!(
            "  a process boundary adds {:.1} us per hop alone ({:.2}x the request), {:.2}x at {IN_FLIGHT} in flight",
            (there_alone - here_alone) / DEPTH as f64,
            there_alone / here_alone,
            there_busy / here_busy
        );
        here.shutdown().await;
        there.shutdown().await;
    });
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn chain_cluster(across_processes: bool) -> Arc<Cluster> {
    let text = chain::chain_yaml(DEPTH);
    let scenario = scenario::parse_str(&text, std::path::Path::new("bench.yaml")).expect("valid");
    let mut cluster = Cluster::new(Arc::new(scenario), 1, Arc::new(Recorder::new()));
    if across_processes {
        cluster = cluster.across_processes(Fleet {
            spawn: Spawn {
                program: env!("CARGO_BIN_EXE_simulate").into(),
                text: Arc::from(text.as_str()),
                token: tonic::metadata::AsciiMetadataValue::from_static("bench-token"),
            },
            seed: 1,
            steps: Recorder::DEFAULT_STEPS,
            counters: 0,
        });
    }
    let cluster = Arc::new(cluster);
    cluster.deploy_initial().await.expect("servers start");
    cluster
}

/// Wall microseconds per request over `requests`, `in_flight` at a time.
async fn measure(cluster: &Arc<Cluster>, requests: usize, in_flight: usize) -> f64 {
    let started = Instant::now();
    chain::drive(cluster, requests, in_flight).await;
    started.elapsed().as_secs_f64() * 1e6 * in_flight as f64 / requests as f64
}
