//! The control service of a replica that is its own process in a run across processes
//! (`--net processes`): what the parent does in memory when every replica shares its
//! process, it asks of each child here. Membership of the child's callees (joins, leaves
//! with an acknowledgement, drains), partitions of its calls, the latency, errors and
//! hang faults of its service, and the counts it made, taken.
//!
//! Every request must carry the run's token, as a call to the replica must: a stray
//! local process can neither change what a replica calls nor take its counts.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

use crate::contract::TOKEN_HEADER;
use crate::contract::control::{
    Control, ControlServer, Cut, Done, Drained, Member as Joined, Taken, Window,
};
use crate::model::Scenario;
use crate::record::Recorder;
use crate::runtime::cluster::DRAIN_LIMIT;
use crate::runtime::pool::{Link, Member};
use crate::runtime::trouble::Trouble;

/// At most this many replicas a child was told to leave are kept for a drain to be
/// asked; past it the oldest is forgotten (a drain asked of it then says drained). A
/// killed or crashed replica is left without a drain, so a long crash loop would
/// otherwise grow the list for the whole run.
const MAX_LEAVING: usize = 1024;

/// The control service as a child serves it.
pub type ControlService = InterceptedService<ControlServer<Controlled>, TokenCheck>;

/// Refuses a request without the run's token.
#[derive(Debug, Clone)]
pub struct TokenCheck(AsciiMetadataValue);

impl Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if request.metadata().get(TOKEN_HEADER) == Some(&self.0) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "this replica is controlled only with its run's token",
            ))
        }
    }
}

/// What a child's control service acts on: its links to each callee (their pools), its
/// service's trouble, its recorder.
#[derive(Debug)]
pub struct Controlled {
    pub scenario: Arc<Scenario>,
    /// Callee -> this replica's link to it.
    pub links: BTreeMap<String, Arc<Link>>,
    pub trouble: Arc<Trouble>,
    pub recorder: Arc<Recorder>,
    /// Replicas taken out of rotation, until their drain is asked.
    leaving: Mutex<VecDeque<Arc<Member>>>,
}

impl Controlled {
    pub fn new(
        scenario: Arc<Scenario>,
        links: BTreeMap<String, Arc<Link>>,
        trouble: Arc<Trouble>,
        recorder: Arc<Recorder>,
    ) -> Controlled {
        Controlled {
            scenario,
            links,
            trouble,
            recorder,
            leaving: Mutex::new(VecDeque::new()),
        }
    }

    /// The service, asking every request for `token`, to serve beside the replica's
    /// own routes.
    pub fn service(self, token: AsciiMetadataValue) -> ControlService {
        ControlServer::with_interceptor(self, TokenCheck(token))
    }

    fn link(&self, service: &str) -> Result<&Arc<Link>, Status> {
        self.links
            .get(service)
            .ok_or_else(|| Status::not_found(format!("this replica calls no service {service}")))
    }
}

#[tonic::async_trait]
impl Control for Controlled {
    async fn join(&self, request: Request<Joined>) -> Result<Response<Done>, Status> {
        let joined = request.into_inner();
        let addr: SocketAddr = joined
            .addr
            .parse()
            .map_err(|_| Status::invalid_argument(format!("not an address: {}", joined.addr)))?;
        let pool = self.link(&joined.service)?.pool();
        pool.add(Arc::new(Member::new(joined.replica, addr)));
        Ok(Response::new(Done {}))
    }

    async fn leave(&self, request: Request<Joined>) -> Result<Response<Done>, Status> {
        let left = request.into_inner();
        let pool = self.link(&left.service)?.pool();
        // Out of rotation before this answers: the acknowledgement the parent waits for.
        if let Some(member) = pool.remove(left.replica) {
            let mut leaving = crate::lock::lock(&self.leaving);
            if leaving.len() >= MAX_LEAVING {
                leaving.pop_front();
            }
            leaving.push_back(member);
        }
        Ok(Response::new(Done {}))
    }

    async fn drain(&self, request: Request<Joined>) -> Result<Response<Drained>, Status> {
        let asked = request.into_inner();
        let replica = asked.replica;
        // Still in rotation here (its leave never arrived): not drained, whatever the
        // in-flight count says, since new calls may still pick it.
        if self.link(&asked.service)?.pool().holds(replica) {
            return Ok(Response::new(Drained { drained: false }));
        }
        let member = {
            let mut leaving = crate::lock::lock(&self.leaving);
            let position = leaving.iter().position(|member| member.replica == replica);
            position.and_then(|position| leaving.remove(position))
        };
        let drained = match member {
            Some(member) => member.drained(DRAIN_LIMIT).await,
            // Never known here (it left before this replica started), or drained already.
            None => true,
        };
        Ok(Response::new(Drained { drained }))
    }

    async fn partition(&self, request: Request<Cut>) -> Result<Response<Done>, Status> {
        let cut = request.into_inner();
        let link = self.link(&cut.callee)?;
        if cut.cut {
            link.partition();
        } else {
            link.repair();
        }
        Ok(Response::new(Done {}))
    }

    async fn trouble(&self, request: Request<Window>) -> Result<Response<Done>, Status> {
        let window = request.into_inner();
        let fault = self
            .scenario
            .faults
            .get(window.fault as usize)
            .ok_or_else(|| Status::not_found(format!("no fault {}", window.fault)))?;
        if window.begin {
            self.trouble.begin(window.fault as usize, &fault.kind);
        } else {
            self.trouble.end(window.fault as usize);
        }
        Ok(Response::new(Done {}))
    }

    async fn counts(&self, _request: Request<Done>) -> Result<Response<Taken>, Status> {
        let json = serde_json::to_vec(&self.recorder.traffic.take())
            .map_err(|err| Status::internal(err.to_string()))?;
        Ok(Response::new(Taken { json }))
    }
}
