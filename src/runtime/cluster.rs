//! The cluster: every service's replicas, started, rolled, killed and undeployed on real
//! servers, with discovery kept in step.
//!
//! A rollout step moves all its services together, in three moves, so that the live run
//! passes through exactly the states `check` predicts:
//! 1. [`Cluster::prepare`]: the new replicas start (not ready yet), but a recreated
//!    service's; the runner then waits the longest `startup_ms` of those. Callers still
//!    see the state before the step.
//! 2. [`Cluster::switch`]: the transient state. A rolling service's new replicas join its
//!    old ones (both versions answer); a recreated service's old replicas leave (none is
//!    ready), and only then do its new ones start ([`Cluster::start_recreated`]; the
//!    runner waits their `startup_ms` inside the transient state); a new service is not
//!    ready yet; a removed one still serves.
//! 3. [`Cluster::complete`]: the settled state after the step. Old replicas leave
//!    (drained: in-flight calls finish, at most [`DRAIN_LIMIT`]), waiting ones join.
//!
//! Each service has one lock, held for short moves, so a fault that falls in the middle
//! of a step takes effect on time. It is never held across a step's startup wait or its
//! bake time; the one wait it is held across is a restart (the end of a kill or missing
//! window, or a new version started again after a kill that ended inside the step), which
//! holds it for the service's `startup_ms` so that no other move sees a half-started
//! service. A second fault on the same service waits for that restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;

use crate::contract::CLIENT;
use crate::model::{Call, Change, Move, Scenario};
use crate::record::{Event, Recorder};
use crate::runtime::child::{Child, Fleet, Handle};
use crate::runtime::pool::{Link, Member, Pool};
use crate::runtime::protect::{Guard, Jitter};
use crate::runtime::replica::{Behaviour, Outgoing, Replica, Work};
use crate::runtime::trouble::Trouble;
use crate::runtime::workers::Workers;
use crate::seed;

/// How long a replica that leaves rotation may take to finish its in-flight calls.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// A replica could not start: the environment failed (no port, no file descriptor).
#[derive(Debug, thiserror::Error)]
#[error("cannot start a replica of {service} {version}: {source}")]
pub struct StartError {
    pub service: String,
    pub version: String,
    #[source]
    pub source: std::io::Error,
}

/// One replica of the cluster: a server of this process, or a child process.
#[derive(Debug)]
enum Running {
    Here(Replica),
    /// Boxed: a process's handle is several times a server's.
    Child(Box<Child>),
}

impl Running {
    fn id(&self) -> u32 {
        match self {
            Running::Here(replica) => replica.id,
            Running::Child(child) => child.handle.id,
        }
    }

    fn version(&self) -> &str {
        match self {
            Running::Here(replica) => &replica.version,
            Running::Child(child) => &child.version,
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Running::Here(replica) => replica.addr,
            Running::Child(child) => child.addr,
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// The version the rollout has put in place; `None` is not deployed.
    version: Option<String>,
    /// Replicas in rotation.
    ready: Vec<Running>,
    /// Replicas started by `prepare`, not in rotation yet.
    waiting: Vec<Running>,
    /// Replicas out of rotation that `complete` (or `shutdown`) stops once drained.
    retiring: Vec<Leaving>,
    /// Kill and missing windows in force; replicas run only when this is zero.
    down: u32,
}

/// A replica taken out of rotation, with its discovery entry, to wait for its in-flight
/// calls before it stops.
#[derive(Debug)]
struct Leaving {
    service: String,
    replica: Running,
    member: Option<Arc<Member>>,
    /// Across processes, the children that took it out of their rotation and must say
    /// they drained it.
    told: Vec<Handle>,
}

/// A run across processes: how children start, who calls whom, and every child, so
/// that what the cluster does in memory reaches each.
#[derive(Debug)]
struct Processes {
    fleet: Fleet,
    /// Callee -> the services whose versions call it.
    callers: BTreeMap<String, Vec<String>>,
    /// Service -> the services its versions call.
    callees: BTreeMap<String, Vec<String>>,
    /// Held across each change of membership, partitions or faults and its requests to
    /// the children, so that a child that registers meanwhile is told the state before
    /// or after the change, whole.
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    /// Service -> its children, in rotation or not.
    children: BTreeMap<String, Vec<Handle>>,
    /// (from, to) -> partition windows in force.
    partitions: BTreeMap<(String, String), u32>,
}

/// Every service of one run.
#[derive(Debug)]
pub struct Cluster {
    scenario: Arc<Scenario>,
    seed: u64,
    /// Where the cluster reports what went wrong with its own moves (a drain that ran
    /// out of time).
    recorder: Arc<Recorder>,
    pools: BTreeMap<String, Arc<Pool>>,
    /// (caller, callee) -> the caller's client to the callee; the load generator's links
    /// have the caller [`CLIENT`].
    links: BTreeMap<(String, String), Arc<Link>>,
    slots: BTreeMap<String, Mutex<Slot>>,
    next_replica: AtomicU32,
    /// Replica numbers per service, for the seeds of their error draws.
    started: StdMutex<BTreeMap<String, u32>>,
    /// Per service, the latency, errors and hang faults in force (shared with its
    /// replicas).
    troubles: BTreeMap<String, Arc<Trouble>>,
    /// Set when every replica is a child process.
    processes: Option<Processes>,
}

impl Cluster {
    /// Builds discovery and every link the scenario's versions can use; starts nothing.
    pub fn new(scenario: Arc<Scenario>, seed: u64, recorder: Arc<Recorder>) -> Cluster {
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
                    .or_insert_with(|| Arc::new(Link::new(caller, Arc::clone(pool), seed)));
            }
        };
        for service in scenario.services.values() {
            if service.entrypoint {
                link(CLIENT, &service.name);
            }
            for version in service.versions.values() {
                for call in version.every_call() {
                    link(&service.name, &call.service);
                }
            }
        }
        let slots = scenario
            .services
            .keys()
            .map(|name| (name.clone(), Mutex::new(Slot::default())))
            .collect();
        let troubles = scenario
            .services
            .keys()
            .map(|name| {
                let draws = seed::rng(seed, &format!("faults/{name}"));
                (name.clone(), Arc::new(Trouble::new(draws)))
            })
            .collect();
        Cluster {
            scenario,
            seed,
            recorder,
            pools,
            links,
            slots,
            troubles,
            next_replica: AtomicU32::new(1),
            started: StdMutex::new(BTreeMap::new()),
            processes: None,
        }
    }

    /// This cluster, every replica of which is a child process started from `fleet`;
    /// the load's links carry the run's token. Before anything starts.
    pub fn across_processes(mut self, fleet: Fleet) -> Cluster {
        for ((caller, _), link) in &mut self.links {
            *link = Arc::new(
                Link::new(caller, Arc::clone(link.pool()), self.seed)
                    .with_token(fleet.spawn.token.clone()),
            );
        }
        let mut callers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut callees: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for service in self.scenario.services.values() {
            let called: std::collections::BTreeSet<&str> = service
                .versions
                .values()
                .flat_map(|version| version.every_call())
                .map(|call| call.service.as_str())
                .collect();
            for callee in called {
                callers
                    .entry(callee.to_owned())
                    .or_default()
                    .push(service.name.clone());
                callees
                    .entry(service.name.clone())
                    .or_default()
                    .push(callee.to_owned());
            }
        }
        self.processes = Some(Processes {
            fleet,
            callers,
            callees,
            registry: Mutex::new(Registry::default()),
        });
        self
    }

    /// `service`'s latency, errors and hang faults in force.
    pub fn trouble(&self, service: &str) -> Option<Arc<Trouble>> {
        self.troubles.get(service).cloned()
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
                for replica in self.start_replicas(service, version).await? {
                    self.make_ready(service, &replica).await;
                    slot.ready.push(replica);
                }
                Ok::<(), StartError>(())
            });
        for result in futures_util::future::join_all(starts).await {
            result?;
        }
        Ok(())
    }

    /// Step move 1: starts the new replicas of every change but a recreate, out of
    /// rotation.
    pub async fn prepare(&self, changes: &[Change]) -> Result<(), StartError> {
        self.start_new(changes, |change| {
            self.scenario.move_of(change) != Move::Recreate
        })
        .await
    }

    /// After the switch: starts the new replicas of every recreated service, out of
    /// rotation, now that its old ones are gone (the runner then waits their startup).
    pub async fn start_recreated(&self, changes: &[Change]) -> Result<(), StartError> {
        self.start_new(changes, |change| {
            self.scenario.move_of(change) == Move::Recreate
        })
        .await
    }

    async fn start_new(
        &self,
        changes: &[Change],
        starts_now: impl Fn(&Change) -> bool,
    ) -> Result<(), StartError> {
        let starts = changes
            .iter()
            .filter(|change| starts_now(change))
            .map(|change| async move {
                let Some(version) = &change.to else {
                    return Ok(());
                };
                let mut slot = self.slot(&change.service).lock().await;
                if slot.down > 0 {
                    // Killed or undeployed right now: the new version starts when the window
                    // ends.
                    return Ok(());
                }
                let fresh = self.start_replicas(&change.service, version).await?;
                slot.waiting.extend(fresh);
                Ok(())
            });
        for result in futures_util::future::join_all(starts).await {
            result?;
        }
        Ok(())
    }

    /// Step move 2: the transient state (see the module documentation).
    pub async fn switch(&self, changes: &[Change]) {
        for change in changes {
            let service = &change.service;
            let mut slot = self.slot(service).lock().await;
            slot.version.clone_from(&change.to);
            match self.scenario.move_of(change) {
                Move::Roll => {
                    let joining: Vec<Running> = slot.waiting.drain(..).collect();
                    for replica in joining {
                        self.make_ready(service, &replica).await;
                        slot.ready.push(replica);
                    }
                }
                Move::Recreate => {
                    let leaving: Vec<Running> = slot.ready.drain(..).collect();
                    for replica in leaving {
                        let leaving = self.leave(service, replica).await;
                        slot.retiring.push(leaving);
                    }
                }
                // A new service is not ready yet; a removed one still serves.
                Move::Add | Move::Remove => {}
            }
        }
    }

    /// Step move 3: the settled state after the step. `settled` is called once every
    /// service of the step serves only its new version and its old replicas have drained
    /// (before they stop), so that a request sent after it meets nothing but the settled
    /// state.
    ///
    /// Services leave callers first, each once its old replicas have drained: a request
    /// still inside an old caller makes its remaining calls, and they must meet the
    /// transient state, not a callee that has already moved on (a removed service, or
    /// one whose new version drops the API the old caller calls).
    pub async fn complete(
        &self,
        changes: &[Change],
        settled: impl FnOnce(),
    ) -> Result<(), StartError> {
        let mut leaving = Vec::new();
        for change in crate::topology::callers_first(&self.scenario, changes) {
            let gone = self.take_over(change).await?;
            self.drain(&gone).await;
            leaving.extend(gone);
        }
        settled();
        self.stop(leaving).await;
        Ok(())
    }

    /// Makes the new version of `change` the only one in rotation; returns the old
    /// replicas, which still have to drain.
    async fn take_over(&self, change: &Change) -> Result<Vec<Leaving>, StartError> {
        let service = &change.service;
        let mut slot = self.slot(service).lock().await;
        slot.version.clone_from(&change.to);
        let joining: Vec<Running> = slot.waiting.drain(..).collect();
        for replica in joining {
            self.make_ready(service, &replica).await;
            slot.ready.push(replica);
        }
        let mut leaving: Vec<Leaving> = slot.retiring.drain(..).collect();
        let mut index = 0;
        while index < slot.ready.len() {
            if Some(slot.ready[index].version()) == change.to.as_deref() {
                index += 1;
            } else {
                let old = slot.ready.remove(index);
                leaving.push(self.leave(service, old).await);
            }
        }
        // A kill window that ended inside the step restarted the version of that moment;
        // make sure the new version runs now.
        if slot.down == 0
            && slot.ready.is_empty()
            && let Some(version) = change.to.clone()
        {
            self.start_all(service, &version, &mut slot).await?;
        }
        Ok(leaving)
    }

    /// `kill`: every replica dies at once, no drain.
    pub async fn kill(&self, service: &str) {
        let mut slot = self.slot(service).lock().await;
        slot.down += 1;
        let gone: Vec<u32> = self
            .pool(service)
            .clear()
            .iter()
            .map(|member| member.replica)
            .collect();
        self.tell_left(service, &gone).await;
        self.kill_all(Self::take_all(&mut slot)).await;
    }

    /// One crash of a `crash` loop: the oldest ready replica dies at once (its calls in
    /// flight fail, its connections reset), and a new replica of its version starts in
    /// its place, ready after `startup_ms`. The slot stays locked meanwhile, so a
    /// rollout move of the service waits for the replacement, and the next crash too:
    /// one replica is down at a time. `crashed` is called as the replica dies, so that
    /// the crash counts in the step it happened in. Returns false when nothing was
    /// crashed: the service is down (a kill or missing window) or has no ready replica.
    /// A replacement that cannot start (no port left) leaves the service a replica short
    /// and ends the loop with the error.
    pub async fn crash_one(
        &self,
        service: &str,
        crashed: impl FnOnce(),
    ) -> Result<bool, StartError> {
        let mut slot = self.slot(service).lock().await;
        if slot.down > 0 || slot.ready.is_empty() {
            return Ok(false);
        }
        let victim = slot.ready.remove(0);
        self.pool(service).remove(victim.id());
        self.tell_left(service, &[victim.id()]).await;
        let version = victim.version().to_owned();
        self.kill_all(vec![victim]).await;
        crashed();
        let fresh = self.start_replica(service, &version).await?;
        tokio::time::sleep(self.startup(service)).await;
        self.make_ready(service, &fresh).await;
        slot.ready.push(fresh);
        Ok(true)
    }

    /// `missing`: the service is undeployed; its replicas drain and stop.
    pub async fn undeploy(&self, service: &str) {
        let mut slot = self.slot(service).lock().await;
        slot.down += 1;
        let mut all = Vec::new();
        for replica in Self::take_all(&mut slot) {
            all.push(self.leave(service, replica).await);
        }
        drop(slot);
        self.drain(&all).await;
        self.stop(all).await;
    }

    /// The end of a kill or missing window: the service's current version starts again
    /// (after `startup_ms`) once no other window holds it down.
    pub async fn restore(&self, service: &str) -> Result<(), StartError> {
        let mut slot = self.slot(service).lock().await;
        slot.down = slot.down.saturating_sub(1);
        if slot.down > 0 || !slot.ready.is_empty() {
            return Ok(());
        }
        match slot.version.clone() {
            Some(version) => self.start_all(service, &version, &mut slot).await,
            None => Ok(()),
        }
    }

    /// Calls from `from` to `to` fail as unreachable until the matching `repair`.
    pub async fn partition(&self, from: &str, to: &str) {
        self.cut(from, to, true).await;
    }

    /// Ends one `partition` of `from` from `to` (windows may overlap).
    pub async fn repair(&self, from: &str, to: &str) {
        self.cut(from, to, false).await;
    }

    async fn cut(&self, from: &str, to: &str, cut: bool) {
        if let Some(link) = self.link(from, to) {
            if cut {
                link.partition();
            } else {
                link.repair();
            }
        }
        let Some(processes) = &self.processes else {
            return;
        };
        let mut registry = processes.registry.lock().await;
        let windows = registry
            .partitions
            .entry((from.to_owned(), to.to_owned()))
            .or_insert(0);
        *windows = if cut {
            *windows + 1
        } else {
            windows.saturating_sub(1)
        };
        let children = registry.children.get(from).cloned().unwrap_or_default();
        futures_util::future::join_all(children.iter().map(|child| child.partition(to, cut))).await;
    }

    /// Fault `index` (a latency, errors or hang fault of `service`) begins: every
    /// replica of the service meets it from its next request.
    pub async fn trouble_begin(&self, service: &str, index: usize, kind: &crate::model::FaultKind) {
        self.trouble_window(service, index, Some(kind)).await;
    }

    /// Fault `index` of `service` ends.
    pub async fn trouble_end(&self, service: &str, index: usize) {
        self.trouble_window(service, index, None).await;
    }

    async fn trouble_window(
        &self,
        service: &str,
        index: usize,
        begins: Option<&crate::model::FaultKind>,
    ) {
        let Some(trouble) = self.troubles.get(service) else {
            return;
        };
        // Across processes, held while the children are told, so a child that
        // registers meanwhile reads the faults in force before or after, whole.
        let registry = match &self.processes {
            Some(processes) => Some(processes.registry.lock().await),
            None => None,
        };
        match begins {
            Some(kind) => trouble.begin(index, kind),
            None => trouble.end(index),
        }
        if let Some(registry) = registry {
            let children = registry.children.get(service).cloned().unwrap_or_default();
            futures_util::future::join_all(
                children
                    .iter()
                    .map(|child| child.trouble(index, begins.is_some())),
            )
            .await;
        }
    }

    /// The version of every replica in rotation, per service (services with none left
    /// out).
    pub async fn running(&self) -> BTreeMap<String, Vec<String>> {
        let mut running = BTreeMap::new();
        for (service, slot) in &self.slots {
            let slot = slot.lock().await;
            if !slot.ready.is_empty() {
                let versions = slot.ready.iter().map(|r| r.version().to_owned()).collect();
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
            for replica in Self::take_all(&mut slot) {
                self.stop_running(replica, Duration::from_millis(200)).await;
            }
        });
        futures_util::future::join_all(stops).await;
    }

    /// Leaves every replica to the runtime's end, untouched: for a run that was
    /// interrupted, whose user wants the report now. Resetting a 10,000-service fleet's
    /// connections wakes every one of their tasks (most of a second); left alone, they
    /// sleep until the runtime that owns them is dropped with its tasks, which is
    /// moments later (the run's host ends with the command). Each replica's handle is
    /// forgotten, not dropped: dropping it would reset it.
    pub async fn abandon_all(&self) {
        for (service, slot) in &self.slots {
            let mut slot = slot.lock().await;
            self.pool(service).clear();
            for replica in Self::take_all(&mut slot) {
                match replica {
                    Running::Here(replica) => std::mem::forget(replica),
                    // A process is not left to the runtime's end: it would outlive it.
                    Running::Child(child) => child.abandon(),
                }
            }
        }
    }

    /// Every replica of the slot, in rotation or not; the caller stops or kills them.
    fn take_all(slot: &mut Slot) -> Vec<Running> {
        let mut all: Vec<Running> = slot.ready.drain(..).collect();
        all.append(&mut slot.waiting);
        all.extend(slot.retiring.drain(..).map(|leaving| leaving.replica));
        all
    }

    /// Starts `version`'s replicas, waits `startup_ms`, puts them in rotation.
    async fn start_all(
        &self,
        service: &str,
        version: &str,
        slot: &mut Slot,
    ) -> Result<(), StartError> {
        let fresh = self.start_replicas(service, version).await?;
        tokio::time::sleep(self.startup(service)).await;
        for replica in fresh {
            self.make_ready(service, &replica).await;
            slot.ready.push(replica);
        }
        Ok(())
    }

    /// Takes a replica out of rotation: no new call reaches it once this returns
    /// (across processes, once every child of its callers has said so).
    async fn leave(&self, service: &str, replica: Running) -> Leaving {
        let member = self.pool(service).remove(replica.id());
        let told = self.tell_left(service, &[replica.id()]).await;
        Leaving {
            service: service.to_owned(),
            replica,
            member,
            told,
        }
    }

    /// Across processes: tells every child of every caller of `service` to take its
    /// replicas `gone` out of rotation, and waits for each to say it has. Returns the
    /// children told.
    async fn tell_left(&self, service: &str, gone: &[u32]) -> Vec<Handle> {
        let Some(processes) = &self.processes else {
            return Vec::new();
        };
        let registry = processes.registry.lock().await;
        let told = processes.callers_children(&registry, service);
        let acknowledged = futures_util::future::join_all(told.iter().map(|child| async move {
            let acks =
                futures_util::future::join_all(gone.iter().map(|id| child.leave(service, *id)))
                    .await;
            !acks.contains(&false)
        }))
        .await;
        // A child that did not say it took the replicas out may still pick them: what
        // a drain that ran out of time means, and reported as one.
        if acknowledged.contains(&false) {
            for replica in gone {
                self.recorder.event(Event::DrainTimedOut {
                    service: service.to_owned(),
                    replica: *replica,
                });
            }
        }
        told.into_iter()
            .zip(acknowledged)
            .filter_map(|(child, acked)| acked.then_some(child))
            .collect()
    }

    /// Across processes: the children of `told` still running (one stopped or killed
    /// since has no call in flight left to drain).
    async fn still_running(&self, told: &[Handle]) -> Vec<Handle> {
        let Some(processes) = &self.processes else {
            return Vec::new();
        };
        let registry = processes.registry.lock().await;
        told.iter()
            .filter(|child| child.alive())
            .filter(|child| {
                registry
                    .children
                    .get(&child.service)
                    .is_some_and(|known| known.iter().any(|known| known.id == child.id))
            })
            .cloned()
            .collect()
    }

    /// Waits until each replica (already out of rotation) has no call in flight, at most
    /// [`DRAIN_LIMIT`], all at once; a replica that still has calls then is reported.
    async fn drain(&self, replicas: &[Leaving]) {
        let drains = replicas.iter().map(|leaving| async move {
            let id = leaving.replica.id();
            let here = async {
                match &leaving.member {
                    Some(member) => member.drained(DRAIN_LIMIT).await,
                    None => true,
                }
            };
            // Across processes, every child that called it acknowledges its drain.
            let told = self.still_running(&leaving.told).await;
            let there = futures_util::future::join_all(
                told.iter().map(|child| child.drained(&leaving.service, id)),
            );
            let (here, there) = futures_util::future::join(here, there).await;
            if !here || there.contains(&false) {
                self.recorder.event(Event::DrainTimedOut {
                    service: leaving.service.clone(),
                    replica: id,
                });
            }
        });
        futures_util::future::join_all(drains).await;
    }

    /// Stops replicas that have drained (or run out of time to), gracefully: calls still
    /// inside them get [`DRAIN_LIMIT`] more, then are cut.
    async fn stop(&self, replicas: Vec<Leaving>) {
        let stops = replicas
            .into_iter()
            .map(|leaving| self.stop_running(leaving.replica, DRAIN_LIMIT));
        futures_util::future::join_all(stops).await;
    }

    /// Stops a replica gracefully, at most `grace` for its calls in flight; a child's
    /// last counts are taken first.
    async fn stop_running(&self, replica: Running, grace: Duration) {
        match replica {
            Running::Here(replica) => replica.stop(grace).await,
            Running::Child(child) => {
                self.unregister(&child.handle).await;
                child.stop(grace, &self.recorder).await;
            }
        }
    }

    /// Kills replicas at once; the children's counts are taken first.
    async fn kill_all(&self, replicas: Vec<Running>) {
        // Every child's counts are taken first, then all die together: a kill is one
        // moment, not one replica after another's round trip.
        let takes = replicas.iter().filter_map(|replica| match replica {
            Running::Child(child) => Some(child.handle.collect(&self.recorder)),
            Running::Here(_) => None,
        });
        futures_util::future::join_all(takes).await;
        for replica in replicas {
            match replica {
                Running::Here(replica) => replica.kill(),
                Running::Child(child) => {
                    self.unregister(&child.handle).await;
                    child.kill();
                }
            }
        }
    }

    /// Puts a replica in rotation: callers pick it from their next attempt (across
    /// processes, every child of its callers is told first).
    async fn make_ready(&self, service: &str, replica: &Running) {
        let member = Arc::new(Member::new(replica.id(), replica.addr()));
        let Some(processes) = &self.processes else {
            self.pool(service).add(member);
            return;
        };
        let registry = processes.registry.lock().await;
        let told = processes.callers_children(&registry, service);
        futures_util::future::join_all(
            told.iter()
                .map(|child| child.join(service, replica.id(), replica.addr())),
        )
        .await;
        self.pool(service).add(member);
    }

    /// Across processes: a child started, told the state it joins: its callees'
    /// replicas in rotation, the partitions of its calls and its service's faults in
    /// force.
    async fn register(&self, processes: &Processes, child: &Handle) {
        let mut registry = processes.registry.lock().await;
        let service = &child.service;
        registry
            .children
            .entry(service.clone())
            .or_default()
            .push(child.clone());
        // Every callee's replicas in rotation, asked at once.
        let members: Vec<(&String, Arc<Member>)> = processes
            .callees
            .get(service)
            .into_iter()
            .flatten()
            .flat_map(|callee| {
                self.pool(callee)
                    .snapshot()
                    .iter()
                    .map(|member| (callee, Arc::clone(member)))
                    .collect::<Vec<_>>()
            })
            .collect();
        futures_util::future::join_all(
            members
                .iter()
                .map(|(callee, member)| child.join(callee, member.replica, member.addr)),
        )
        .await;
        for ((from, to), windows) in &registry.partitions {
            if from == service {
                for _ in 0..*windows {
                    child.partition(to, true).await;
                }
            }
        }
        for index in self.troubles[service].in_force() {
            child.trouble(index, true).await;
        }
    }

    /// Across processes: a child leaves the registry before it stops, so that no
    /// change is sent to it any more.
    async fn unregister(&self, child: &Handle) {
        if let Some(processes) = &self.processes {
            let mut registry = processes.registry.lock().await;
            if let Some(children) = registry.children.get_mut(&child.service) {
                children.retain(|known| known.id != child.id);
            }
        }
    }

    /// Starts every replica of `version` of `service`, out of rotation: one after the
    /// other in this process (which keeps `--net sim`'s order of events), all at once
    /// across processes (each waits for a process to say where it listens; numbers and
    /// seeds are drawn in order either way). When one cannot start, those that did go.
    async fn start_replicas(
        &self,
        service: &str,
        version: &str,
    ) -> Result<Vec<Running>, StartError> {
        let count = self.replicas(service);
        let results = if self.processes.is_some() {
            futures_util::future::join_all((0..count).map(|_| self.start_replica(service, version)))
                .await
        } else {
            let mut results = Vec::new();
            for _ in 0..count {
                let result = self.start_replica(service, version).await;
                let failed = result.is_err();
                results.push(result);
                if failed {
                    break;
                }
            }
            results
        };
        let mut fresh = Vec::new();
        let mut error = None;
        for result in results {
            match result {
                Ok(replica) => fresh.push(replica),
                Err(err) => error = error.or(Some(err)),
            }
        }
        if let Some(err) = error {
            // Those started already go, and leave the registry with them.
            self.kill_all(fresh).await;
            return Err(err);
        }
        Ok(fresh)
    }

    async fn start_replica(&self, service: &str, version: &str) -> Result<Running, StartError> {
        let id = self.next_replica.fetch_add(1, Ordering::Relaxed);
        // Error draws are seeded per service, version and the how-many-th replica of the
        // service this is, so a rerun with the same seed draws the same sequences.
        let nth = {
            let mut started = crate::lock::lock(&self.started);
            let count = started.entry(service.to_owned()).or_insert(0);
            *count += 1;
            *count
        };
        let failed = |source| StartError {
            service: service.to_owned(),
            version: version.to_owned(),
            source,
        };
        if let Some(processes) = &self.processes {
            let child = Child::start(&processes.fleet, &self.recorder, service, version, id, nth)
                .await
                .map_err(failed)?;
            self.register(processes, &child.handle).await;
            return Ok(Running::Child(Box::new(child)));
        }
        // Built before the start is awaited: the recipe borrows this cluster's links.
        let behaviour = Build {
            scenario: &self.scenario,
            seed: self.seed,
            recorder: &self.recorder,
            trouble: Arc::clone(&self.troubles[service]),
            links: &|caller: &str, callee: &str| self.link(caller, callee),
            token: None,
        }
        .behaviour(service, version, id, nth);
        Replica::start(behaviour)
            .await
            .map(Running::Here)
            .map_err(failed)
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

impl Processes {
    /// Every child of every service that calls `service`.
    fn callers_children(&self, registry: &Registry, service: &str) -> Vec<Handle> {
        self.callers
            .get(service)
            .into_iter()
            .flatten()
            .filter_map(|caller| registry.children.get(caller))
            .flatten()
            .filter(|child| child.alive())
            .cloned()
            .collect()
    }
}

/// What a replica's behaviour is built from besides its service and version: the one
/// recipe for a replica of this process's cluster and for one of its own (`serve`).
pub struct Build<'a> {
    pub scenario: &'a Scenario,
    /// The run's seed, from which every stream of the replica is derived.
    pub seed: u64,
    pub recorder: &'a Arc<Recorder>,
    /// The service's latency, errors and hang faults in force.
    pub trouble: Arc<Trouble>,
    /// The caller's link to each callee (`None`: the callee has none, and the call is
    /// left out).
    pub links: &'a dyn Fn(&str, &str) -> Option<Arc<Link>>,
    /// The run's token a replica of its own process asks of every request.
    pub token: Option<tonic::metadata::AsciiMetadataValue>,
}

impl std::fmt::Debug for Build<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Build")
            .field("scenario", &self.scenario.name)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Build<'_> {
    /// Replica `id` of `version` of `service`, the `nth` of its service started.
    pub fn behaviour(&self, service: &str, version: &str, id: u32, nth: u32) -> Behaviour {
        let build = &self.scenario.services[service].versions[version];
        // Backoff jitter is seeded like the error draws, one stream per replica.
        let jitter = Arc::new(std::sync::Mutex::new(seed::rng(
            self.seed,
            &format!("backoff/{service}/{version}/{nth}"),
        )));
        let methods = build
            .all_methods()
            .map(|(method, work)| Work {
                method: method.map(str::to_owned),
                latency: work.latency,
                error_rate: work.error_rate,
                calls: work
                    .calls
                    .iter()
                    .filter_map(|call| self.outgoing(service, call, &jitter))
                    .collect(),
            })
            .collect();
        Behaviour {
            service: service.to_owned(),
            version: version.to_owned(),
            replica: id,
            provides: build.provides.clone(),
            methods,
            recorder: Arc::clone(self.recorder),
            received: self.recorder.traffic.service(service),
            error_draws: std::sync::Mutex::new(seed::rng(
                self.seed,
                &format!("errors/{service}/{version}/{nth}"),
            )),
            tie_draws: std::sync::Mutex::new(seed::rng(
                self.seed,
                &format!("ties/{service}/{version}/{nth}"),
            )),
            background: std::sync::Mutex::new(tokio::task::JoinSet::new()),
            trouble: Arc::clone(&self.trouble),
            workers: build
                .capacity
                .map(|capacity| Workers::new(capacity, self.recorder.traffic.pressure(service))),
            token: self.token.clone(),
        }
    }

    /// `call` of `service` with its link, edge key, protections and fallback chain;
    /// `jitter`: the replica's stream for backoff draws.
    fn outgoing(&self, service: &str, call: &Call, jitter: &Jitter) -> Option<Outgoing> {
        let edge = crate::contract::Edge::new(service, &call.service, &call.api)
            .to_method(call.method.as_deref());
        let fallback = match &call.fallback {
            Some(fallback) => Some(Box::new(self.outgoing(service, fallback, jitter)?)),
            None => None,
        };
        let link = (self.links)(service, &call.service)?;
        Some(Outgoing {
            call: call.clone(),
            target: Arc::new(link.target(&call.api, call.method.as_deref())),
            link,
            key: if call.flag.is_some()
                || call.asynchronous
                || call.on_failure.ignores_some()
                || call.protect != crate::model::Protect::default()
            {
                // The report reads these edges step by step, whatever the fleet's size
                // (protected calls: what their protections did, per step).
                self.recorder.traffic.tracked_edge(&edge.to_string())
            } else {
                self.recorder.traffic.edge(&edge.to_string())
            },
            fallback,
            guard: Arc::new(Guard::new(&call.protect, Arc::clone(jitter))),
        })
    }
}
