//! Discovery and clients: which replicas of a service are ready, and the one client each
//! caller keeps per callee.
//!
//! A [`Pool`] holds a service's ready replicas; the rollout adds and removes them. A
//! [`Link`] is a caller's client to one callee, shared by its replicas: it makes one
//! attempt at a time (retries and the other protections are `protect::Guard`'s, one per
//! caller replica and call), and it picks a ready replica at random for every attempt
//! (from a stream seeded per link), so rolling the callee never restarts the caller,
//! and a callee with no ready replica fails fast with UNAVAILABLE.
//!
//! Random rather than round-robin: with round-robin at every hop, two links can fall into
//! step (web's first replica always meeting catalog's first) and a mixed-version
//! combination would never be exercised; independent draws reach every combination.
//!
//! Why not `Channel::balance_channel`: tower's power-of-two-choices draws from an unseeded
//! random source (runs would not repeat per seed), a call on an empty member set hangs
//! instead of failing, and a removed replica's in-flight calls cannot be counted, so a
//! rolling update could not drain it. Each replica still gets a real tonic `Channel` (one
//! HTTP/2 connection per caller and replica), opened on first use.
//!
//! Invariant: a replica removed from its pool gets no new attempt once `remove` has
//! returned; `Member::drained` then waits for the attempts already started.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_prost::ProstCodec;

use crate::contract::{self, CallReply, CallRequest, Edge, Failure};
use crate::runtime::net;

/// A replica as discovery sees it.
#[derive(Debug)]
pub struct Member {
    pub replica: u32,
    pub addr: SocketAddr,
    /// Attempts picked and not yet finished, over every link.
    in_flight: AtomicUsize,
    /// Set by `Pool::remove` before it waits for `in_flight` to reach zero.
    removed: AtomicBool,
}

impl Member {
    pub fn new(replica: u32, addr: SocketAddr) -> Member {
        Member {
            replica,
            addr,
            in_flight: AtomicUsize::new(0),
            removed: AtomicBool::new(false),
        }
    }

    /// Waits until no attempt is in flight to this replica, at most `limit`. Returns
    /// false when the limit ran out first.
    pub async fn drained(&self, limit: Duration) -> bool {
        let give_up = Instant::now() + limit;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= give_up {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

/// An attempt in flight to one replica; dropping it ends the attempt.
struct Attempt(Arc<Member>);

impl Drop for Attempt {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The ready replicas of one service.
#[derive(Debug)]
pub struct Pool {
    pub service: String,
    /// Replaced as a whole on every change, so a pick reads a consistent snapshot without
    /// holding the lock during the call.
    ready: RwLock<Arc<Vec<Arc<Member>>>>,
}

impl Pool {
    pub fn new(service: &str) -> Pool {
        Pool {
            service: service.to_owned(),
            ready: RwLock::new(Arc::new(Vec::new())),
        }
    }

    /// A pool of `service` whose ready members are the replicas at `addrs` (numbered
    /// from 1): a replica of its own process calling others, or load sent to them.
    pub fn at(service: &str, addrs: &[SocketAddr]) -> Pool {
        let pool = Pool::new(service);
        for (i, addr) in addrs.iter().enumerate() {
            pool.add(Arc::new(Member::new(i as u32 + 1, *addr)));
        }
        pool
    }

    pub fn snapshot(&self) -> Arc<Vec<Arc<Member>>> {
        match self.ready.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Arc<Member>>)) {
        let mut guard = match self.ready.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next: Vec<Arc<Member>> = guard.as_ref().clone();
        change(&mut next);
        *guard = Arc::new(next);
    }

    /// Makes a replica ready: callers start picking it on their next attempt. A replica
    /// already ready is not added twice (a join retried, or arriving late, across
    /// processes).
    pub fn add(&self, member: Arc<Member>) {
        self.update(|ready| {
            if !ready.iter().any(|known| known.replica == member.replica) {
                ready.push(member);
            }
        });
    }

    /// Whether replica `replica` is ready (in rotation).
    pub fn holds(&self, replica: u32) -> bool {
        self.snapshot()
            .iter()
            .any(|member| member.replica == replica)
    }

    /// Takes a replica out of rotation. No attempt starts on it after this returns.
    pub fn remove(&self, replica: u32) -> Option<Arc<Member>> {
        let mut removed = None;
        self.update(|ready| {
            if let Some(position) = ready.iter().position(|e| e.replica == replica) {
                removed = Some(ready.remove(position));
            }
        });
        if let Some(member) = &removed {
            member.removed.store(true, Ordering::SeqCst);
        }
        removed
    }

    /// Takes every replica out of rotation.
    pub fn clear(&self) -> Vec<Arc<Member>> {
        let mut removed = Vec::new();
        self.update(|ready| removed = std::mem::take(ready));
        for member in &removed {
            member.removed.store(true, Ordering::SeqCst);
        }
        removed
    }
}

/// A method of a callee's API, as a link calls it.
#[derive(Debug, Clone)]
pub struct Target {
    pub api: String,
    /// `None`: the default method.
    pub method: Option<String>,
    /// Its gRPC path; service, API and method names are validated, so this holds a path
    /// (an error is reported as the call's failure, not a panic).
    path: Result<PathAndQuery, String>,
}

/// A caller's client to one callee service.
#[derive(Debug)]
pub struct Link {
    pub caller: String,
    pub callee: String,
    pool: Arc<Pool>,
    picks: Mutex<ChaCha8Rng>,
    /// Partitions in force from the caller to the callee (windows may overlap).
    partitions: AtomicU32,
    channels: Mutex<BTreeMap<u32, Channel>>,
    /// The run's token, carried by every attempt, when replicas ask for one.
    token: Option<tonic::metadata::AsciiMetadataValue>,
}

impl Link {
    /// A client from `caller` to the pool's service; `seed` is the run's seed.
    pub fn new(caller: &str, pool: Arc<Pool>, seed: u64) -> Link {
        let picks = crate::seed::rng(seed, &format!("pick/{caller}/{}", pool.service));
        Link {
            caller: caller.to_owned(),
            callee: pool.service.clone(),
            pool,
            picks: Mutex::new(picks),
            partitions: AtomicU32::new(0),
            channels: Mutex::new(BTreeMap::new()),
            token: None,
        }
    }

    /// This link, carrying `token` on every attempt.
    pub fn with_token(mut self, token: tonic::metadata::AsciiMetadataValue) -> Link {
        self.token = Some(token);
        self
    }

    /// The callee's ready replicas this link picks from.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Partitions the caller from the callee: attempts fail as unreachable until every
    /// partition in force is repaired.
    pub fn partition(&self) {
        self.partitions.fetch_add(1, Ordering::SeqCst);
    }

    /// Repairs one partition. Saturating: a repair never underflows even if windows are
    /// misordered.
    pub fn repair(&self) {
        let _ = self
            .partitions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// What a caller calls over this link: method `method` (`None`: the default one) of
    /// API `api` of the callee, with its gRPC path made once (not per call).
    pub fn target(&self, api: &str, method: Option<&str>) -> Target {
        Target {
            api: api.to_owned(),
            method: method.map(str::to_owned),
            path: PathAndQuery::try_from(contract::method_path(&self.callee, api, method))
                .map_err(|err| err.to_string()),
        }
    }

    /// One attempt at `target` within `budget` (the load generator's entry requests,
    /// the benches). A caller's retries and protections are `protect::Guard`'s.
    pub async fn call(
        &self,
        target: &Target,
        request: CallRequest,
        budget: Duration,
    ) -> Result<CallReply, Failure> {
        self.call_until(target, request, Instant::now() + budget)
            .await
            .0
    }

    /// One attempt at `target` on a replica drawn now, ending by `deadline`; and whether
    /// it was sent to a replica (false: a partition, or no replica was ready, failed it
    /// before it left the caller).
    pub async fn call_until(
        &self,
        target: &Target,
        request: CallRequest,
        deadline: Instant,
    ) -> (Result<CallReply, Failure>, bool) {
        let (api, method) = (target.api.as_str(), target.method.as_deref());
        match &target.path {
            Ok(path) => self.attempt(api, method, path, request, deadline).await,
            Err(err) => (
                Err(Failure::at(
                    self.edge(api, method),
                    Code::Internal,
                    err.to_string(),
                )),
                false,
            ),
        }
    }

    /// The edge a call of `method` of API `api` of the callee goes over.
    pub fn edge(&self, api: &str, method: Option<&str>) -> Edge {
        Edge::new(&self.caller, &self.callee, api).to_method(method)
    }

    async fn attempt(
        &self,
        api: &str,
        method: Option<&str>,
        path: &PathAndQuery,
        request: CallRequest,
        deadline: Instant,
    ) -> (Result<CallReply, Failure>, bool) {
        let edge = || self.edge(api, method);
        if self.partitions.load(Ordering::SeqCst) > 0 {
            let why = format!("{} is partitioned from {}", self.caller, self.callee);
            return (Err(Failure::at(edge(), Code::Unavailable, why)), false);
        }
        let Some((member, _attempt)) = self.pick() else {
            let why = format!("no ready replica of {}", self.callee);
            return (Err(Failure::at(edge(), Code::Unavailable, why)), false);
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let why = "deadline exceeded before the call";
            return (Err(Failure::at(edge(), Code::DeadlineExceeded, why)), false);
        }
        let channel = self.channel(&member);
        let mut grpc = tonic::client::Grpc::new(channel);
        let mut request = Request::new(request);
        // Writes grpc-timeout, so the callee knows how long it has.
        request.set_timeout(remaining);
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert(contract::TOKEN_HEADER, token.clone());
        }
        let call = async {
            grpc.ready()
                .await
                .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
            grpc.unary(
                request,
                path.clone(),
                ProstCodec::<CallRequest, CallReply>::default(),
            )
            .await
        };
        // The outer timeout is what bounds the call: tonic's own only covers the
        // request once it reaches a connection.
        let result = match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(Failure::from_status(&status, edge())),
            Err(_) => Err(Failure::at(
                edge(),
                Code::DeadlineExceeded,
                "deadline exceeded",
            )),
        };
        (result, true)
    }

    /// A ready replica drawn at random, counted as in flight. A member removed between the
    /// snapshot and the count is skipped, so `Pool::remove` + `drained` never misses an
    /// attempt.
    fn pick(&self) -> Option<(Arc<Member>, Attempt)> {
        let ready = self.pool.snapshot();
        for _ in 0..ready.len() {
            let index = {
                let mut picks = crate::lock::lock(&self.picks);
                picks.random_range(0..ready.len())
            };
            let member = Arc::clone(&ready[index]);
            member.in_flight.fetch_add(1, Ordering::SeqCst);
            let attempt = Attempt(Arc::clone(&member));
            if !member.removed.load(Ordering::SeqCst) {
                return Some((member, attempt));
            }
        }
        None
    }

    fn channel(&self, member: &Member) -> Channel {
        let mut channels = crate::lock::lock(&self.channels);
        if let Some(channel) = channels.get(&member.replica) {
            return channel.clone();
        }
        // Forget channels of replicas that left, so a long run does not pile them up.
        let ready = self.pool.snapshot();
        channels.retain(|replica, _| ready.iter().any(|e| e.replica == *replica));
        let channel = net::channel(member.addr);
        channels.insert(member.replica, channel.clone());
        channel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_joins_a_pool_once_and_leaves_it() {
        let pool = Pool::new("api");
        let addr: SocketAddr = "127.0.0.1:7000".parse().expect("an address");
        pool.add(Arc::new(Member::new(3, addr)));
        pool.add(Arc::new(Member::new(3, addr)));
        assert_eq!(pool.snapshot().len(), 1, "a second join of 3 adds nothing");
        assert!(pool.holds(3));
        assert!(pool.remove(3).is_some());
        assert!(!pool.holds(3));
        assert!(
            pool.remove(3).is_none(),
            "gone once removed: not held twice"
        );
    }
}
