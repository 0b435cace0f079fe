//! One replica of one service version: a real tonic server on 127.0.0.1 whose routes are
//! the API versions the build provides, and whose handler does what the scenario says
//! (own latency, own error rate, downstream calls in order, a call behind a flag only
//! when the flag is on for the request's user).
//!
//! A path that the build does not provide has no route, so the caller gets UNIMPLEMENTED
//! from tonic's own fallback, not from a check of ours.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, UnaryService};
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};
use tonic_prost::ProstCodec;

use crate::contract::{self, CallReply, CallRequest, Edge, Failure};
use crate::eval::Level;
use crate::model::{Call, OnFailure, flag_on};
use crate::record::Recorder;
use crate::record::traffic::Key;
use crate::runtime::net;
use crate::runtime::pool::Link;

/// What a replica does for every request, fixed for its lifetime.
#[derive(Debug)]
pub struct Behaviour {
    pub service: String,
    pub version: String,
    pub replica: u32,
    pub provides: Vec<String>,
    pub latency: Duration,
    pub error_rate: f64,
    /// The version's calls, in order, each with the link it goes over and the key its
    /// calls are counted under.
    pub calls: Vec<(Call, Arc<Link>, Key)>,
    /// Where calls and received requests are counted.
    pub recorder: Arc<Recorder>,
    /// The key this service's received requests are counted under.
    pub received: Key,
    /// This replica's own stream for `error_rate`, derived from the run's seed.
    pub error_draws: Mutex<ChaCha8Rng>,
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
        let (killed, _) = watch::channel(false);
        let id = behaviour.replica;
        let version = behaviour.version.clone();
        let provides = behaviour.provides.clone();
        let service_name = behaviour.service.clone();
        let handler = Handler {
            behaviour: Arc::new(behaviour),
            killed: killed.subscribe(),
        };
        let mut router = Routes::default().into_axum_router();
        for api in &provides {
            router =
                router.route_service(&contract::method_path(&service_name, api), handler.clone());
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
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::<CallReply, CallRequest>::default());
            Ok(grpc.unary(handler, request).await)
        })
    }
}

impl UnaryService<CallRequest> for Handler {
    type Response = CallReply;
    type Future = BoxFuture<Response<CallReply>, Status>;

    fn call(&mut self, request: Request<CallRequest>) -> Self::Future {
        let behaviour = Arc::clone(&self.behaviour);
        let mut killed = self.killed.clone();
        Box::pin(async move {
            let deadline = contract::grpc_timeout(request.metadata()).map(|t| Instant::now() + t);
            let request = request.into_inner();
            let work = behaviour.serve(deadline, &request);
            let bounded = async {
                match deadline {
                    // The caller stops waiting at its deadline; so does the work, so a
                    // slow chain never piles up abandoned requests.
                    Some(deadline) => tokio::time::timeout_at(deadline, work)
                        .await
                        .unwrap_or_else(|_| Err(Status::deadline_exceeded("deadline exceeded"))),
                    None => work.await,
                }
            };
            tokio::select! {
                biased;
                _ = killed.wait_for(|killed| *killed) => Err(Status::unavailable("replica killed")),
                result = bounded => result.map(Response::new),
            }
        })
    }
}

impl Behaviour {
    async fn serve(
        &self,
        deadline: Option<Instant>,
        request: &CallRequest,
    ) -> Result<CallReply, Status> {
        let step = request.step as usize;
        self.recorder.traffic.received(step, &self.received);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if self.error_rate > 0.0 && self.draw_error() {
            return Err(Status::internal(format!(
                "{} {} failed on its own (error_rate {})",
                self.service, self.version, self.error_rate
            )));
        }
        let mut reply = CallReply {
            degraded: false,
            causes: Vec::new(),
        };
        for (call, link, key) in &self.calls {
            if let Some(flag) = &call.flag {
                let percent = request.flags.get(flag).copied().unwrap_or(0);
                if !flag_on(flag, request.user, percent) {
                    continue;
                }
            }
            let budget = match deadline {
                Some(deadline) => call
                    .timeout
                    .min(deadline.saturating_duration_since(Instant::now())),
                None => call.timeout,
            };
            let downstream = request.clone();
            let outcome = if budget.is_zero() {
                Err(Failure::at(
                    Edge::new(&self.service, &call.service, &call.api),
                    Code::DeadlineExceeded,
                    "no time left for the call",
                ))
            } else {
                link.call(&call.api, downstream, budget, call.retries).await
            };
            let level = match &outcome {
                Ok(answer) if answer.degraded => Level::Degraded,
                Ok(_) => Level::Ok,
                Err(_) => Level::Failed,
            };
            self.recorder.traffic.called(step, key, level);
            match outcome {
                Ok(answer) => {
                    if answer.degraded {
                        reply.degraded = true;
                        contract::merge_causes(&mut reply.causes, answer.causes);
                    }
                }
                Err(failure) => match call.on_failure {
                    OnFailure::Degrade => {
                        reply.degraded = true;
                        contract::merge_causes(&mut reply.causes, failure.causes);
                    }
                    OnFailure::Fail => return Err(failure.into_status()),
                },
            }
        }
        Ok(reply)
    }

    fn draw_error(&self) -> bool {
        let mut rng = crate::lock::lock(&self.error_draws);
        rng.random_bool(self.error_rate.clamp(0.0, 1.0))
    }
}
