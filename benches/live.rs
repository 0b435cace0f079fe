//! What the live harness costs, measured against raw tonic in the same process and run.
//!
//! 1. CPU time per hop: a chain of `DEPTH` services answering at once, driven closed-loop
//!    with `IN_FLIGHT` requests outstanding, once through the harness (discovery,
//!    deadlines, causes, per-API routes) and once as a raw tonic echo chain of the same
//!    depth (generated client and server, one `Channel` per hop). CPU time is the whole
//!    process's user + system time from /proc/self/stat, divided by requests x depth.
//! 2. Open-loop accuracy: the load generator at several rates against the harness chain;
//!    achieved rate = requests scheduled / wall time, against the requested rate.
//!
//! Run with `cargo bench --bench live`. Prints a table; nothing is asserted here.

#[path = "support/chain.rs"]
mod chain;

use std::sync::Arc;
use std::time::Duration;

use deploysim::contract::plain::{Simulated, SimulatedClient, SimulatedServer};
use deploysim::contract::{CLIENT, CallReply, CallRequest};
use deploysim::record::Recorder;
use deploysim::runtime::cluster::Cluster;
use deploysim::runtime::load::{Entry, Load};
use deploysim::scenario;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Server, server::TcpIncoming};
use tonic::{Request, Response, Status};

const DEPTH: usize = 3;
const IN_FLIGHT: usize = 16;
const REQUESTS: usize = 30_000;
const ROUNDS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let harness = harness_chain().await;
        let raw = raw_chain().await;
        // Warm both up (connections, allocator) before measuring.
        chain::drive(&harness, 2_000, IN_FLIGHT).await;
        drive_raw(&raw, 2_000).await;
        let mut harness_us = Vec::new();
        let mut raw_us = Vec::new();
        for _ in 0..ROUNDS {
            harness_us.push(cpu_per_hop(|| chain::drive(&harness, REQUESTS, IN_FLIGHT)).await);
            raw_us.push(cpu_per_hop(|| drive_raw(&raw, REQUESTS)).await);
        }
        let harness_median = median(&mut harness_us);
        let raw_median = median(&mut raw_us);
        println!("CPU per hop, {DEPTH}-hop chain, {IN_FLIGHT} in flight, {REQUESTS} requests x {ROUNDS} rounds (median):");
        println!("  raw tonic echo chain   {raw_median:>7.1} us   rounds {raw_us:.1?}");
        println!("  deploysim harness      {harness_median:>7.1} us   rounds {harness_us:.1?}");
        println!("  ratio                  {:>7.2}x", harness_median / raw_median);
        // A busy neighbour only ever adds CPU time, so the fastest round of each is the
        // least disturbed: its ratio is the steadier figure on a noisy machine.
        let fastest = |rounds: &[f64]| rounds.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "  ratio of fastest rounds {:>6.2}x",
            fastest(&harness_us) / fastest(&raw_us)
        );
        println!();
        println!("Open-loop load against the {DEPTH}-hop harness chain, 3 s each:");
        println!("  requested rps   achieved rps   error     scheduled   failed   p50 ms   p99 ms");
        for rps in [1_000u32, 5_000, 10_000] {
            open_loop(&harness, rps).await;
        }
        harness.shutdown().await;
    });
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux)");
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // USER_HZ is 100 on every Linux this runs on.
    ticks / 100.0
}

async fn cpu_per_hop<F, Fut>(work: F) -> f64
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = cpu_seconds();
    work().await;
    let spent = cpu_seconds() - before;
    spent * 1e6 / (REQUESTS * DEPTH) as f64
}

async fn harness_chain() -> Arc<Cluster> {
    let scenario = scenario::parse_str(
        &chain::chain_yaml(DEPTH),
        std::path::Path::new("bench.yaml"),
    )
    .expect("valid");
    let cluster = Arc::new(Cluster::new(
        Arc::new(scenario),
        1,
        Arc::new(Recorder::new()),
    ));
    cluster.deploy_initial().await.expect("servers start");
    cluster
}

/// A raw tonic hop: answers, after calling the next hop if there is one.
struct RawHop {
    next: Option<SimulatedClient<Channel>>,
}

#[tonic::async_trait]
impl Simulated for RawHop {
    async fn call(&self, request: Request<CallRequest>) -> Result<Response<CallReply>, Status> {
        if let Some(next) = &self.next {
            let mut next = next.clone();
            next.call(request.into_inner()).await?;
        }
        Ok(Response::new(CallReply::default()))
    }
}

async fn raw_chain() -> SimulatedClient<Channel> {
    let mut next: Option<SimulatedClient<Channel>> = None;
    for _ in 0..DEPTH {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hop = RawHop { next: next.take() };
        tokio::spawn(async move {
            Server::builder()
                .add_service(SimulatedServer::new(hop))
                .serve_with_incoming(TcpIncoming::from(listener))
                .await
                .expect("raw server");
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("uri")
            .tcp_nodelay(true)
            .connect_lazy();
        next = Some(SimulatedClient::new(channel));
    }
    next.expect("depth > 0")
}

async fn drive_raw(client: &SimulatedClient<Channel>, requests: usize) {
    let per_worker = requests / IN_FLIGHT;
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    let request = CallRequest::default();
                    client.call(request).await.expect("the raw chain answers");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
}

async fn open_loop(cluster: &Arc<Cluster>, rps: u32) {
    let recorder = Arc::new(Recorder::new());
    let entry = Entry {
        service: "hop1".to_owned(),
        api: "v1".to_owned(),
        link: cluster.link(CLIENT, "hop1").expect("entry link"),
        rps,
        mix: vec![(None, 1)],
    };
    let seconds = 3.0;
    let context = deploysim::runtime::load::Context {
        recorder: Arc::clone(&recorder),
        flags: Arc::new(deploysim::runtime::flags::FlagBoard::new(Default::default())),
        seed: 1,
    };
    let load = Load::start(vec![entry], 10_000, &context);
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let scheduled = load.finish(Duration::from_secs(10)).await;
    let total = recorder.total(0);
    // Achieved: requests sent in the window and answered ok, per second of the window.
    let achieved = total.ok as f64 / seconds;
    let latency = total.percentiles();
    println!(
        "  {rps:>13}   {achieved:>12.0}   {:>+6.2}%   {scheduled:>9}   {:>6}   {:>6.2}   {:>6.2}",
        (achieved - f64::from(rps)) / f64::from(rps) * 100.0,
        total.failed,
        latency.p50,
        latency.p99,
    );
}
