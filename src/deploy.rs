//! The cluster: every service's replicas, started, rolled, killed and undeployed on real
//! servers, with discovery kept in step.
//!
//! Rolling (per replica): start the new replica, wait `startup_ms`, make it ready, take
//! an old one out of rotation, wait for its in-flight calls (at most [`DRAIN_LIMIT`]), stop
//! it. Recreate: take every old replica out, drain and stop them, start the new ones, wait
//! `startup_ms`, make them ready; callers see no ready replica in between.
//!
//! Each service has one lock, so a fault and a rollout step on the same service take
//! effect one after the other, never interleaved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;

use crate::contract::CLIENT;
use crate::discovery::{Endpoint, Link, Pool};
use crate::scenario::{Change, Rollout, Scenario};
use crate::seed;
use crate::service::{Behaviour, Replica};

/// How long a replica that leaves rotation may take to finish its in-flight calls.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// A replica could not start: the environment failed (no port, no file descriptor).
#[derive(Debug, thiserror::Error)]
#[error("cannot start a replica of {service} {version} on 127.0.0.1: {source}")]
pub struct StartError {
    pub service: String,
    pub version: String,
    #[source]
    pub source: std::io::Error,
}

#[derive(Debug, Default)]
struct Slot {
    /// The version the rollout has put in place; `None` is not deployed.
    version: Option<String>,
    replicas: Vec<Replica>,
    /// Kill and missing windows in force; replicas run only when this is zero.
    down: u32,
}

/// Every service of one run.
#[derive(Debug)]
pub struct Cluster {
    scenario: Arc<Scenario>,
    seed: u64,
    pools: BTreeMap<String, Arc<Pool>>,
    /// (caller, callee) -> the caller's client to the callee; the load generator's links
    /// have the caller [`CLIENT`].
    links: BTreeMap<(String, String), Arc<Link>>,
    slots: BTreeMap<String, Mutex<Slot>>,
    next_replica: AtomicU32,
    /// Replica numbers per service, for the seeds of their error draws.
    started: StdMutex<BTreeMap<String, u32>>,
}

impl Cluster {
    /// Builds discovery and every link the scenario's versions can use; starts nothing.
    pub fn new(scenario: Arc<Scenario>, seed: u64) -> Cluster {
        let pools: BTreeMap<String, Arc<Pool>> = scenario
            .services
            .keys()
            .map(|name| (name.clone(), Arc::new(Pool::new(name))))
            .collect();
        let mut links = BTreeMap::new();
        let mut link = |caller: &str, callee: &str| {
            if let Some(pool) = pools.get(callee) {
                links
                    .entry((caller.to_owned(), callee.to_owned()))
                    .or_insert_with(|| Arc::new(Link::new(caller, Arc::clone(pool))));
            }
        };
        for service in scenario.services.values() {
            if service.entrypoint {
                link(CLIENT, &service.name);
            }
            for version in service.versions.values() {
                for call in &version.calls {
                    link(&service.name, &call.service);
                }
            }
        }
        let slots = scenario
            .services
            .keys()
            .map(|name| (name.clone(), Mutex::new(Slot::default())))
            .collect();
        Cluster {
            scenario,
            seed,
            pools,
            links,
            slots,
            next_replica: AtomicU32::new(1),
            started: StdMutex::new(BTreeMap::new()),
        }
    }

    pub fn link(&self, caller: &str, callee: &str) -> Option<Arc<Link>> {
        self.links
            .get(&(caller.to_owned(), callee.to_owned()))
            .cloned()
    }

    /// Starts `initial` with every replica ready before the baseline begins.
    pub async fn deploy_initial(&self) -> Result<(), StartError> {
        let starts = self
            .scenario
            .initial
            .0
            .iter()
            .map(|(service, version)| async move {
                let mut slot = self.slot(service).lock().await;
                slot.version = Some(version.clone());
                for _ in 0..self.replicas(service) {
                    let replica = self.start_replica(service, version).await?;
                    self.make_ready(service, &replica);
                    slot.replicas.push(replica);
                }
                Ok::<(), StartError>(())
            });
        for result in futures_util::future::join_all(starts).await {
            result?;
        }
        Ok(())
    }

    /// Applies the changes of one step, all services at once.
    pub async fn apply(&self, changes: &[Change]) -> Result<(), StartError> {
        let moves = changes.iter().map(|change| self.move_service(change));
        for result in futures_util::future::join_all(moves).await {
            result?;
        }
        Ok(())
    }

    async fn move_service(&self, change: &Change) -> Result<(), StartError> {
        let service = &change.service;
        let mut slot = self.slot(service).lock().await;
        slot.version.clone_from(&change.to);
        if slot.down > 0 {
            // Killed or undeployed right now: the new version starts when the window ends.
            return Ok(());
        }
        let Some(version) = change.to.clone() else {
            self.stop_all(service, &mut slot).await;
            return Ok(());
        };
        let rollout = self.scenario.services[service].rollout;
        if slot.replicas.is_empty() || rollout == Rollout::Recreate {
            self.stop_all(service, &mut slot).await;
            return self.start_all(service, &version, &mut slot).await;
        }
        let startup = self.startup(service);
        for _ in 0..self.replicas(service) {
            let replica = self.start_replica(service, &version).await?;
            tokio::time::sleep(startup).await;
            self.make_ready(service, &replica);
            if let Some(position) = slot.replicas.iter().position(|r| r.version != version) {
                let old = slot.replicas.remove(position);
                self.retire(service, old).await;
            }
            slot.replicas.push(replica);
        }
        // A service with more old replicas than new ones (never, with a fixed replica
        // count, but cheap to guarantee) ends with only the new version.
        while let Some(position) = slot.replicas.iter().position(|r| r.version != version) {
            let old = slot.replicas.remove(position);
            self.retire(service, old).await;
        }
        Ok(())
    }

    /// `kill`: every replica dies at once, no drain.
    pub async fn kill(&self, service: &str) {
        let mut slot = self.slot(service).lock().await;
        slot.down += 1;
        self.pool(service).clear();
        for replica in slot.replicas.drain(..) {
            replica.kill();
        }
    }

    /// `missing`: the service is undeployed; its replicas drain and stop.
    pub async fn undeploy(&self, service: &str) {
        let mut slot = self.slot(service).lock().await;
        slot.down += 1;
        self.stop_all(service, &mut slot).await;
    }

    /// The end of a kill or missing window: the service's current version starts again
    /// (after `startup_ms`) once no other window holds it down.
    pub async fn restore(&self, service: &str) -> Result<(), StartError> {
        let mut slot = self.slot(service).lock().await;
        slot.down = slot.down.saturating_sub(1);
        if slot.down > 0 || !slot.replicas.is_empty() {
            return Ok(());
        }
        match slot.version.clone() {
            Some(version) => self.start_all(service, &version, &mut slot).await,
            None => Ok(()),
        }
    }

    pub fn partition(&self, from: &str, to: &str, partitioned: bool) {
        if let Some(link) = self.link(from, to) {
            link.set_partitioned(partitioned);
        }
    }

    /// The version of every running replica, per service (services with none left out).
    pub async fn running(&self) -> BTreeMap<String, Vec<String>> {
        let mut running = BTreeMap::new();
        for (service, slot) in &self.slots {
            let slot = slot.lock().await;
            if !slot.replicas.is_empty() {
                let versions = slot.replicas.iter().map(|r| r.version.clone()).collect();
                running.insert(service.clone(), versions);
            }
        }
        running
    }

    /// Stops every replica, gracefully but briefly: the run is over.
    pub async fn shutdown(&self) {
        let stops = self.slots.iter().map(|(service, slot)| async move {
            let mut slot = slot.lock().await;
            self.pool(service).clear();
            for replica in slot.replicas.drain(..) {
                replica.stop(Duration::from_millis(200)).await;
            }
        });
        futures_util::future::join_all(stops).await;
    }

    async fn start_all(
        &self,
        service: &str,
        version: &str,
        slot: &mut Slot,
    ) -> Result<(), StartError> {
        let mut fresh = Vec::new();
        for _ in 0..self.replicas(service) {
            fresh.push(self.start_replica(service, version).await?);
        }
        tokio::time::sleep(self.startup(service)).await;
        for replica in fresh {
            self.make_ready(service, &replica);
            slot.replicas.push(replica);
        }
        Ok(())
    }

    async fn stop_all(&self, service: &str, slot: &mut Slot) {
        let olds: Vec<Replica> = slot.replicas.drain(..).collect();
        let retirements = olds.into_iter().map(|old| self.retire(service, old));
        futures_util::future::join_all(retirements).await;
    }

    /// Out of rotation, drained, stopped.
    async fn retire(&self, service: &str, replica: Replica) {
        if let Some(endpoint) = self.pool(service).remove(replica.id) {
            endpoint.drained(DRAIN_LIMIT).await;
        }
        replica.stop(DRAIN_LIMIT).await;
    }

    fn make_ready(&self, service: &str, replica: &Replica) {
        self.pool(service).add(Arc::new(Endpoint::new(
            replica.id,
            &replica.version,
            replica.addr,
        )));
    }

    async fn start_replica(&self, service: &str, version: &str) -> Result<Replica, StartError> {
        let spec = &self.scenario.services[service];
        let build = &spec.versions[version];
        let id = self.next_replica.fetch_add(1, Ordering::Relaxed);
        // Error draws are seeded per service, version and the how-many-th replica of the
        // service this is, so a rerun with the same seed draws the same sequences.
        let nth = {
            let mut started = match self.started.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let count = started.entry(service.to_owned()).or_insert(0);
            *count += 1;
            *count
        };
        let calls = build
            .calls
            .iter()
            .filter_map(|call| {
                self.link(service, &call.service)
                    .map(|link| (call.clone(), link))
            })
            .collect();
        let behaviour = Behaviour {
            service: service.to_owned(),
            version: version.to_owned(),
            replica: id,
            provides: build.provides.clone(),
            latency: build.latency,
            error_rate: build.error_rate,
            calls,
            errors: std::sync::Mutex::new(seed::rng(
                self.seed,
                &format!("errors/{service}/{version}/{nth}"),
            )),
        };
        Replica::start(behaviour)
            .await
            .map_err(|source| StartError {
                service: service.to_owned(),
                version: version.to_owned(),
                source,
            })
    }

    fn slot(&self, service: &str) -> &Mutex<Slot> {
        &self.slots[service]
    }

    fn pool(&self, service: &str) -> &Arc<Pool> {
        &self.pools[service]
    }

    fn replicas(&self, service: &str) -> u32 {
        self.scenario.services[service].replicas
    }

    fn startup(&self, service: &str) -> Duration {
        self.scenario.services[service].startup
    }
}
