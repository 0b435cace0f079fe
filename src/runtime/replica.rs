//! One replica of one service version: a real tonic server on 127.0.0.1 whose routes are
//! the (API version, method) pairs the build serves, and whose handler does what the
//! scenario says for the method (own latency, own error rate, downstream calls in order,
//! a call behind a flag only when the flag is on for the request's user, a failed call
//! handled by its rule for the code, a fallback call made only when the rule handles the
//! failure, an asynchronous call started and not waited for).
//!
//! A path that the build does not serve has no route, so the caller gets UNIMPLEMENTED
//! from tonic's own fallback, not from a check of ours.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, UnaryService};
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};
use tonic_prost::ProstCodec;

use crate::contract::{self, CallReply, CallRequest, Edge, Failure};
use crate::eval::Level;
use crate::model::{Action, Call, flag_on};
use crate::record::Recorder;
use crate::record::traffic::Tries;
use crate::record::traffic::{EdgeKey, ServiceKey};
use crate::runtime::net;
use crate::runtime::pool::{Link, Target};
use crate::runtime::protect::{Guard, fail_code, status_code};
use crate::runtime::workers::Workers;

/// What a replica does for every request, fixed for its lifetime.
#[derive(Debug)]
pub struct Behaviour {
    pub service: String,
    pub version: String,
    pub replica: u32,
    pub provides: Vec<String>,
    /// Each method the build serves: the default one first.
    pub methods: Vec<Work>,
    /// Where calls and received requests are counted.
    pub recorder: Arc<Recorder>,
    /// The counter of this service's received requests.
    pub received: ServiceKey,
    /// This replica's own stream for `error_rate`, derived from the run's seed.
    pub error_draws: Mutex<ChaCha8Rng>,
    /// Asynchronous calls in flight, bounded by [`MAX_ASYNC`]; aborted when the
    /// behaviour is dropped with its server.
    pub background: Mutex<JoinSet<()>>,
    /// The service's latency, errors and hang faults in force.
    pub trouble: Arc<crate::runtime::trouble::Trouble>,
    /// The version's workers and queue; `None`: any number of requests at once.
    pub workers: Option<Workers>,
    /// In `--net sim`, how many times each request yields before it asks for a worker,
    /// drawn from this replica's own stream (see `Behaviour::shuffle`).
    pub tie_draws: Mutex<ChaCha8Rng>,
    /// The run's token, when the replica is its own process: a request without it is
    /// refused (UNAUTHENTICATED) before any work or count. `None` in one process.
    pub token: Option<tonic::metadata::AsciiMetadataValue>,
}

/// At most this many asynchronous calls of one replica are in flight; one more is
/// dropped (counted as failed on its edge and in the step's backlog), as a full queue
/// would drop it.
pub const MAX_ASYNC: usize = 256;

/// A request in `--net sim` yields up to this many times (less one) before it asks for a
/// worker: enough to mix the few requests one tick brings to a replica.
const TIE_YIELDS: u32 = 4;

/// One method of a build: its own work and calls.
#[derive(Debug)]
pub struct Work {
    /// `None`: the default method.
    pub method: Option<String>,
    pub latency: Duration,
    pub error_rate: f64,
    pub calls: Vec<Outgoing>,
}

/// One call of a method, with the link it goes over, what it calls there, the counter
/// its calls are counted on, and its fallback.
#[derive(Debug)]
pub struct Outgoing {
    pub call: Call,
    pub link: Arc<Link>,
    pub target: Arc<Target>,
    pub key: EdgeKey,
    pub fallback: Option<Box<Outgoing>>,
    /// The call's protections, as this replica holds them (its own breaker, budget
    /// and bulkhead, as each process of a real service would).
    pub guard: Arc<Guard>,
}

/// A running replica: it owns its server. `stop` and `kill` end it; a replica dropped
/// without either (a task aborted while it started one) is killed by its drop, so no
/// server outlives its owner.
#[derive(Debug)]
pub struct Replica {
    pub id: u32,
    pub version: String,
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    /// A second handle on every accepted connection, so a kill can reset them: tonic runs
    /// each connection in its own task, which outlives the accept loop.
    connections: Arc<Mutex<Vec<net::Reset>>>,
    killed: watch::Sender<bool>,
    /// Set once `stop` or `kill` has ended the server.
    ended: bool,
}

impl Replica {
    /// Binds 127.0.0.1 on an OS-assigned port and starts serving.
    pub async fn start(behaviour: Behaviour) -> std::io::Result<Replica> {
        let (listener, addr) = net::listen().await?;
        Replica::serve(behaviour, listener, addr, Routes::default())
    }

    /// Binds `local` and starts serving there, with `extra` routes beside the build's
    /// own (the gRPC health service of `simulate serve`).
    pub async fn start_at(
        behaviour: Behaviour,
        local: SocketAddr,
        extra: Routes,
    ) -> std::io::Result<Replica> {
        let (listener, addr) = net::listen_at(local).await?;
        Replica::serve(behaviour, listener, addr, extra)
    }

    fn serve(
        behaviour: Behaviour,
        listener: net::Listener,
        addr: SocketAddr,
        extra: Routes,
    ) -> std::io::Result<Replica> {
        let (killed, _) = watch::channel(false);
        let id = behaviour.replica;
        let version = behaviour.version.clone();
        let provides = behaviour.provides.clone();
        let service_name = behaviour.service.clone();
        let behaviour = Arc::new(behaviour);
        let methods: Vec<Option<String>> = behaviour
            .methods
            .iter()
            .map(|work| work.method.clone())
            .collect();
        let mut router = extra.into_axum_router();
        for api in &provides {
            for (m, method) in methods.iter().enumerate() {
                let handler = Handler {
                    behaviour: Arc::clone(&behaviour),
                    method: m,
                    killed: killed.subscribe(),
                };
                let path = contract::method_path(&service_name, api, method.as_deref());
                router = router.route_service(&path, handler);
            }
        }
        let connections = Arc::new(Mutex::new(Vec::new()));
        let incoming = accept_loop(listener, Arc::clone(&connections));
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_routes(Routes::from(router))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = signal.await;
                })
                .await;
            if let Err(err) = served {
                tracing::debug!(%err, "replica server ended with an error");
            }
        });
        Ok(Replica {
            id,
            version,
            addr,
            shutdown: Some(shutdown),
            server,
            connections,
            killed,
            ended: false,
        })
    }

    /// Stops gracefully: no new connections, in-flight requests finish, at most `grace`;
    /// whatever is left after that is reset.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if tokio::time::timeout(grace, &mut self.server).await.is_err() {
            self.reset();
        }
        self.ended = true;
    }

    /// Dies at once: handlers stop, every connection is reset, the port closes.
    pub fn kill(mut self) {
        self.reset();
    }

    fn reset(&mut self) {
        let _ = self.killed.send(true);
        self.server.abort();
        let connections = std::mem::take(&mut *crate::lock::lock(&self.connections));
        for connection in connections {
            connection.reset();
        }
        self.ended = true;
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if !self.ended {
            self.reset();
        }
    }
}

/// The listener as a stream of connections, keeping the handle that resets each.
fn accept_loop(
    listener: net::Listener,
    connections: Arc<Mutex<Vec<net::Reset>>>,
) -> impl futures_util::Stream<Item = std::io::Result<net::Conn>> {
    futures_util::stream::unfold(
        (listener, connections),
        |(listener, connections)| async move {
            let accepted = match listener.accept().await {
                Ok((conn, reset)) => {
                    crate::lock::lock(&connections).push(reset);
                    Ok(conn)
                }
                Err(err) => {
                    // Out of descriptors, typically: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Err(err)
                }
            };
            Some((accepted, (listener, connections)))
        },
    )
}

/// The tower service behind every provided API path of a replica.
#[derive(Debug, Clone)]
struct Handler {
    behaviour: Arc<Behaviour>,
    /// The index of the method this route serves in `behaviour.methods`.
    method: usize,
    killed: watch::Receiver<bool>,
}

impl<B> Service<http::Request<B>> for Handler
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let handler = self.clone();
        // A replica of its own process answers only its run's token: checked on the
        // headers, before the body is read or decoded, so a stray caller costs nothing.
        if let Some(token) = &self.behaviour.token
            && request
                .headers()
                .get(contract::TOKEN_HEADER)
                .map(|v| v.as_bytes())
                != Some(token.as_encoded_bytes())
        {
            let refused = Status::unauthenticated("this replica answers only its run's token");
            return Box::pin(async move { Ok(refused.into_http()) });
        }
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::<CallReply, CallRequest>::default());
            Ok(grpc.unary(handler, request).await)
        })
    }
}

/// The part of the time left before a request's deadline that its downstream calls may
/// use: a little is kept back (1/32 of it, 1 to 50 ms), so that when a callee hangs, the
/// call to it times out first and the request fails naming that call, not its own
/// caller's deadline (`web -> payments: DEADLINE_EXCEEDED`, not `client -> web`).
fn within_deadline(left: Duration) -> Duration {
    let reserve = (left / 32).clamp(Duration::from_millis(1), Duration::from_millis(50));
    left.saturating_sub(reserve)
}

impl UnaryService<CallRequest> for Handler {
    type Response = CallReply;
    type Future = BoxFuture<Response<CallReply>, Status>;

    fn call(&mut self, request: Request<CallRequest>) -> Self::Future {
        let behaviour = Arc::clone(&self.behaviour);
        let method = self.method;
        let mut killed = self.killed.clone();
        Box::pin(async move {
            let deadline = contract::grpc_timeout(request.metadata()).map(|t| Instant::now() + t);
            let request = request.into_inner();
            // The caller stops waiting at its deadline; so does the work, so a slow chain
            // never piles up abandoned requests. tonic's server already drops the handler
            // at the deadline its `grpc-timeout` header gives (its GrpcTimeout layer), so
            // no timer of ours is armed here: the deadline is only read, for the calls'
            // budgets.
            let work = behaviour.serve(method, deadline, &request);
            tokio::select! {
                biased;
                _ = killed.wait_for(|killed| *killed) => Err(Status::unavailable("replica killed")),
                result = work => result.map(Response::new),
            }
        })
    }
}

impl Behaviour {
    /// In virtual time, every message of a tick arrives at the same instant and the
    /// requests are polled in the order of their connections, so when a worker or queue
    /// place frees up the same caller would always win it (and one entrypoint be refused
    /// where another is served), and arrivals would always be seen before the same
    /// tick's finished requests. A request yields a seeded number of times first, which
    /// puts the same instant's events in a random order, as a real clock would. Live,
    /// nothing arrives at the same instant: it does nothing.
    async fn shuffle(&self) {
        if crate::runtime::net::Net::current() != crate::runtime::net::Net::Sim {
            return;
        }
        let yields = crate::lock::lock(&self.tie_draws).random_range(0..TIE_YIELDS);
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
    }

    async fn serve(
        &self,
        method: usize,
        deadline: Option<Instant>,
        request: &CallRequest,
    ) -> Result<CallReply, Status> {
        let work = &self.methods[method];
        let step = request.step as usize;
        self.recorder.traffic.received(step, &self.received);
        let met = self.trouble.meet();
        if met.hang {
            // A black hole: the request is taken and never answered. tonic drops this
            // handler at the caller's deadline (its `grpc-timeout`), a kill or the end of
            // the run does otherwise, so nothing waits here past what is bounded.
            std::future::pending::<()>().await;
        }
        // A worker is held for the rest: own work, downstream calls and fallbacks.
        let held = match &self.workers {
            Some(workers) => Some({
                self.shuffle().await;
                workers
                    .take(step, deadline, &self.recorder.traffic, &self.service)
                    .await?
            }),
            None => None,
        };
        let answer = self.work(work, met, deadline, request).await;
        if let Some(held) = held {
            held.finish();
        }
        answer
    }

    /// A request's work once it has a worker (or needs none): the faults' delay and
    /// errors, its own latency and error rate, then its calls in order.
    async fn work(
        &self,
        work: &Work,
        met: crate::runtime::trouble::Met,
        deadline: Option<Instant>,
        request: &CallRequest,
    ) -> Result<CallReply, Status> {
        if !met.delay.is_zero() {
            tokio::time::sleep(met.delay).await;
        }
        if let Some(code) = met.fail {
            return Err(Status::new(
                status_code(code),
                format!("{} {} failed: an errors fault", self.service, self.version),
            ));
        }
        if !work.latency.is_zero() {
            tokio::time::sleep(work.latency).await;
        }
        if work.error_rate > 0.0 && self.draw_error(work.error_rate) {
            return Err(Status::internal(format!(
                "{} {} failed on its own (error_rate {})",
                self.service, self.version, work.error_rate
            )));
        }
        let mut reply = CallReply {
            degraded: false,
            causes: Vec::new(),
        };
        for outgoing in &work.calls {
            let call = &outgoing.call;
            if let Some(flag) = &call.flag {
                let percent = request.flags.get(flag).copied().unwrap_or(0);
                if !flag_on(flag, request.user, percent) {
                    continue;
                }
            }
            if call.asynchronous {
                self.start_async(outgoing, request.clone());
                continue;
            }
            match self.handled(outgoing, deadline, request).await {
                Handled::Answered { degraded, causes } => {
                    if degraded {
                        reply.degraded = true;
                        contract::merge_causes(&mut reply.causes, causes);
                    }
                }
                Handled::Failed(failure) => return Err(failure.into_status()),
            }
        }
        Ok(reply)
    }

    /// Makes one call and applies its rule: the failure passes up (`fail`), or is
    /// handled, after the fallback when there is one (`degrade`, `ignore`). A fallback is
    /// handled the same way, through a box (chains are as long as the scenario wrote
    /// them); a call without one, the common case, costs no allocation here.
    async fn handled(
        &self,
        outgoing: &Outgoing,
        deadline: Option<Instant>,
        request: &CallRequest,
    ) -> Handled {
        let call = &outgoing.call;
        let failure = match self.made(outgoing, deadline, request).await {
            Ok(answer) => {
                return Handled::Answered {
                    degraded: answer.degraded,
                    causes: answer.causes,
                };
            }
            Err(failure) => failure,
        };
        let degraded = match call.on_failure.action(fail_code(failure.code)) {
            Action::Fail => return Handled::Failed(failure),
            Action::Degrade => true,
            Action::Ignore => false,
        };
        let mut causes = if degraded { failure.causes } else { Vec::new() };
        let Some(fallback) = &outgoing.fallback else {
            return Handled::Answered { degraded, causes };
        };
        match self.handled_boxed(fallback, deadline, request).await {
            Handled::Answered {
                degraded: fallback_degraded,
                causes: more,
            } => {
                contract::merge_causes(&mut causes, more);
                Handled::Answered {
                    degraded: degraded || fallback_degraded,
                    causes,
                }
            }
            failed => failed,
        }
    }

    /// [`Behaviour::handled`] of a fallback, boxed: the recursion needs a known size.
    fn handled_boxed<'a>(
        &'a self,
        outgoing: &'a Outgoing,
        deadline: Option<Instant>,
        request: &'a CallRequest,
    ) -> Pin<Box<dyn Future<Output = Handled> + Send + 'a>> {
        Box::pin(self.handled(outgoing, deadline, request))
    }

    /// Makes one call within the request's deadline and counts it on its edge.
    async fn made(
        &self,
        outgoing: &Outgoing,
        deadline: Option<Instant>,
        request: &CallRequest,
    ) -> Result<CallReply, Failure> {
        let call = &outgoing.call;
        let budget = match deadline {
            Some(deadline) => call.timeout.min(within_deadline(
                deadline.saturating_duration_since(Instant::now()),
            )),
            None => call.timeout,
        };
        let mut tries = Tries::default();
        let outcome = if budget.is_zero() {
            Err(Failure::at(
                Edge::new(&self.service, &call.service, &call.api)
                    .to_method(call.method.as_deref()),
                Code::DeadlineExceeded,
                "no time left for the call",
            ))
        } else {
            outgoing
                .guard
                .call(
                    &outgoing.link,
                    &outgoing.target,
                    request.clone(),
                    budget,
                    call.retries,
                    &mut tries,
                )
                .await
        };
        self.recorder.traffic.called_after(
            request.step as usize,
            &outgoing.key,
            level_of(&outcome),
            &tries,
        );
        outcome
    }

    /// Starts an asynchronous call: the request goes on without it. Its own timeout
    /// bounds it (the caller's deadline does not: nobody waits); at most [`MAX_ASYNC`]
    /// are in flight, past that it is dropped and counted as failed.
    fn start_async(&self, outgoing: &Outgoing, request: CallRequest) {
        let step = request.step as usize;
        let traffic = &self.recorder.traffic;
        let mut background = crate::lock::lock(&self.background);
        while background.try_join_next().is_some() {}
        if background.len() >= MAX_ASYNC {
            traffic.called(step, &outgoing.key, Level::Failed);
            traffic.async_dropped(step);
            return;
        }
        let (timeout, retries) = (outgoing.call.timeout, outgoing.call.retries);
        let target = Arc::clone(&outgoing.target);
        let link = Arc::clone(&outgoing.link);
        let guard = Arc::clone(&outgoing.guard);
        let key = Arc::clone(&outgoing.key);
        let recorder = Arc::clone(&self.recorder);
        recorder.traffic.async_started(step);
        background.spawn(async move {
            // Counts the call as failed if the task is aborted (its replica stopped or
            // was killed) before it ends, and leaves the in-flight count either way.
            let mut counted = AsyncCall {
                recorder: Arc::clone(&recorder),
                step,
                key: Arc::clone(&key),
                counted: false,
            };
            let mut tries = Tries::default();
            let outcome = guard
                .call(&link, &target, request, timeout, retries, &mut tries)
                .await;
            recorder
                .traffic
                .called_after(step, &key, level_of(&outcome), &tries);
            counted.counted = true;
        });
    }

    fn draw_error(&self, error_rate: f64) -> bool {
        let mut rng = crate::lock::lock(&self.error_draws);
        rng.random_bool(error_rate.clamp(0.0, 1.0))
    }
}

/// An asynchronous call in flight: its end is counted when it drops, whether the call
/// finished (its outcome already counted) or its task was aborted (counted as failed).
struct AsyncCall {
    recorder: Arc<Recorder>,
    step: usize,
    key: EdgeKey,
    counted: bool,
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        if !self.counted {
            self.recorder
                .traffic
                .called(self.step, &self.key, Level::Failed);
        }
        self.recorder.traffic.async_finished();
    }
}

/// How one call ended for its caller, its rule applied.
enum Handled {
    Answered {
        degraded: bool,
        causes: Vec<contract::Cause>,
    },
    Failed(Failure),
}

/// How a call ended for its caller, before its rule.
fn level_of(outcome: &Result<CallReply, Failure>) -> Level {
    match outcome {
        Ok(answer) if answer.degraded => Level::Degraded,
        Ok(_) => Level::Ok,
        Err(_) => Level::Failed,
    }
}
