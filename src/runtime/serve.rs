//! One replica as its own process (`simulate serve`): the same replica code as a run in
//! one process (`cluster::Build`), listening where it is told, answering the standard
//! gRPC health service, asking the run's token of every request and carrying it on its
//! own calls, which go to the callee addresses it is given. A drain is the health status
//! turned to NOT_SERVING for a notice, then the server's graceful stop: in-flight
//! requests finish within the drain limit.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::model::Scenario;
use crate::record::Recorder;
use crate::runtime::cluster::{Build, StartError};
use crate::runtime::control::Controlled;
use crate::runtime::pool::{Link, Pool};
use crate::runtime::replica::Replica;
use crate::runtime::trouble::Trouble;
use crate::seed;

/// What one replica of its own process is.
#[derive(Debug, Clone)]
pub struct Spec {
    pub scenario: Arc<Scenario>,
    pub service: String,
    pub version: String,
    /// Where it listens (port 0: one the system assigns).
    pub addr: SocketAddr,
    /// Each callee's replicas, by address.
    pub callees: BTreeMap<String, Vec<SocketAddr>>,
    pub token: AsciiMetadataValue,
    pub seed: u64,
    /// Its number among its service's replicas (from 1), for its seeded streams.
    pub replica: u32,
    /// Set for a child of a run across processes: its parent controls it (see
    /// `runtime::control`), and its counts are the parent's, sized like its recorder.
    pub child: Option<Child>,
}

/// What a child of a run across processes is told besides a replica's spec.
#[derive(Debug, Clone, Copy)]
pub struct Child {
    /// Its number in the run, unique over every service (a callee's member number in
    /// its callers' pools).
    pub id: u32,
    /// The run's steps and counters, as the parent sized its recorder: the two count
    /// alike.
    pub steps: usize,
    pub counters: usize,
}

/// A replica serving in this process.
#[derive(Debug)]
pub struct Serving {
    pub addr: SocketAddr,
    replica: Replica,
    health: HealthReporter,
    /// Where its calls and requests are counted (in this process; the parent of a run
    /// across processes counts at the caller).
    pub recorder: Arc<Recorder>,
}

/// Starts the replica `spec` describes. The scenario must hold its service and version.
pub async fn start(spec: &Spec) -> Result<Serving, StartError> {
    let recorder = Arc::new(match spec.child {
        Some(child) => Recorder::for_run(child.steps, child.counters, Vec::new()),
        None => Recorder::new(),
    });
    let mut links: BTreeMap<String, Arc<Link>> = BTreeMap::new();
    // Every callee of every version gets a link; one with no address given has no
    // replica, so its calls fail UNAVAILABLE, as a call to a service with none ready
    // does in one process.
    for version in spec.scenario.services[&spec.service].versions.values() {
        for call in version.every_call() {
            links.entry(call.service.clone()).or_insert_with(|| {
                let addrs = spec
                    .callees
                    .get(&call.service)
                    .map_or(&[][..], Vec::as_slice);
                let pool = Arc::new(Pool::at(&call.service, addrs));
                // One process's replicas of a service share one link and its stream of
                // picks; each child has its own, so each draws from a stream of its own.
                let picks = match spec.child {
                    Some(child) => seed::derive(spec.seed, &format!("child/{}", child.id)),
                    None => spec.seed,
                };
                Arc::new(Link::new(&spec.service, pool, picks).with_token(spec.token.clone()))
            });
        }
    }
    // One stream per replica: in one process a service's replicas share one, which
    // processes cannot.
    let trouble = Arc::new(Trouble::new(seed::rng(
        spec.seed,
        &format!("faults/{}/{}", spec.service, spec.replica),
    )));
    let behaviour = Build {
        scenario: &spec.scenario,
        seed: spec.seed,
        recorder: &recorder,
        trouble: Arc::clone(&trouble),
        links: &|_caller: &str, callee: &str| links.get(callee).cloned(),
        token: Some(spec.token.clone()),
    }
    .behaviour(
        &spec.service,
        &spec.version,
        spec.child.map_or(spec.replica, |child| child.id),
        spec.replica,
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    let mut routes = Routes::new(health_service);
    if spec.child.is_some() {
        let controlled = Controlled::new(
            Arc::clone(&spec.scenario),
            links.clone(),
            trouble,
            Arc::clone(&recorder),
        );
        routes = routes.add_service(controlled.service(spec.token.clone()));
    }
    let replica = Replica::start_at(behaviour, spec.addr, routes)
        .await
        .map_err(|source| StartError {
            service: spec.service.clone(),
            version: spec.version.clone(),
            source,
        })?;
    Ok(Serving {
        addr: replica.addr,
        replica,
        health,
        recorder,
    })
}

/// How long a draining replica says NOT_SERVING while it still serves, before it stops
/// taking connections: a readiness probe asking every second sees it, and takes the
/// replica out of rotation before a new connection could be refused.
pub const NOTICE: Duration = Duration::from_secs(1);

impl Serving {
    /// Drains: health says NOT_SERVING for `notice` while it serves on (a readiness probe
    /// takes the replica out of rotation), then new connections are refused and
    /// in-flight requests finish, within `grace`; what is left after it is reset.
    pub async fn drain(self, notice: Duration, grace: Duration) {
        self.health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        tokio::time::sleep(notice).await;
        self.replica.stop(grace).await;
    }
}
