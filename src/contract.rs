//! The wire contract: the generated protobuf messages and the gRPC path of each
//! (service, API version) pair.

#[allow(missing_docs, missing_debug_implementations, clippy::all)]
mod generated {
    tonic::include_proto!("deploysim.v1");
}

pub use generated::{CallReply, CallRequest, Cause, Edge};

/// The generated client and server of the fixed `deploysim.v1.Simulated` service. The
/// simulated services do not use them (each needs one path per API version); the
/// benchmark's raw tonic chain does, as the baseline the harness is measured against.
pub mod plain {
    pub use super::generated::simulated_client::SimulatedClient;
    pub use super::generated::simulated_server::{Simulated, SimulatedServer};
}

/// The control service each child of a run across processes (`--net processes`)
/// answers, and its messages.
pub mod control {
    pub use super::generated::control_client::ControlClient;
    pub use super::generated::control_server::{Control, ControlServer};
    pub use super::generated::{Cut, Done, Drained, Member, Taken, Window};
}

use std::time::Duration;

use prost::Message as _;
use tonic::{Code, Status};

/// The gRPC package that every simulated service path lives in.
pub const PACKAGE: &str = "deploysim.v1";

/// The gRPC path at which `service` serves API version `api`.
///
/// Each API version is its own gRPC service name, so a build that does not provide an API
/// version simply has no route for it and the real gRPC stack answers UNIMPLEMENTED.
/// Service and API names are validated to `[a-z0-9][a-z0-9_-]*` / `[A-Za-z0-9._-]+`, so
/// they never contain a `/`.
///
/// A named method is its own gRPC method of that service (`/deploysim.v1.cart.v1/checkout`),
/// so a build without it answers UNIMPLEMENTED from the routing too; the default method
/// is `Call`, a name the loader reserves, so the two never share a path.
pub fn method_path(service: &str, api: &str, method: Option<&str>) -> String {
    format!("/{PACKAGE}.{service}.{api}/{}", method.unwrap_or("Call"))
}

/// The caller name of the load generator in edges and causes: `client -> web api v1`.
pub const CLIENT: &str = "client";

/// The metadata key of a run's token: a replica started with one (`simulate serve`)
/// answers only requests that carry it, and its calls carry it on.
pub const TOKEN_HEADER: &str = "x-deploysim-token";

/// Caps the causes one reply carries, so a wide fan-out cannot grow replies without bound.
pub const MAX_CAUSES: usize = 16;

impl Edge {
    pub fn new(caller: &str, callee: &str, api: &str) -> Edge {
        Edge {
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            api: api.to_owned(),
            method: String::new(),
        }
    }

    /// This edge, to the callee's method `method` (`None`: the default one).
    pub fn to_method(mut self, method: Option<&str>) -> Edge {
        self.method = method.unwrap_or_default().to_owned();
        self
    }
}

impl std::fmt::Display for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} api {}", self.caller, self.callee, self.api)?;
        if !self.method.is_empty() {
            write!(f, " method {}", self.method)?;
        }
        Ok(())
    }
}

/// Adds `more` to `causes`, skipping a cause whose edge and code are already there, and
/// stopping at [`MAX_CAUSES`].
pub fn merge_causes(causes: &mut Vec<Cause>, more: Vec<Cause>) {
    for cause in more {
        if causes.len() >= MAX_CAUSES {
            return;
        }
        if !causes
            .iter()
            .any(|known| known.edge == cause.edge && known.code == cause.code)
        {
            causes.push(cause);
        }
    }
}

/// A failed call as the caller sees it: the gRPC code and the root causes.
///
/// A service that fails because one of its own calls failed passes the deepest cause up in
/// the status details (`grpc-status-details-bin`, encoded as a [`CallReply`] with only
/// `causes` set), so the entry report names the edge that broke, not only the first hop.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    pub causes: Vec<Cause>,
}

impl Failure {
    /// A failure that starts at `edge` (nothing deeper to blame).
    pub fn at(edge: Edge, code: Code, message: impl Into<String>) -> Failure {
        let message = message.into();
        Failure {
            code,
            causes: vec![Cause {
                edge: Some(edge),
                code: code as i32,
                message: message.clone(),
            }],
            message,
        }
    }

    /// Classifies a status that a call over `edge` returned. Causes carried in the details
    /// are kept; without them the edge itself is the cause.
    pub fn from_status(status: &Status, edge: Edge) -> Failure {
        let code = normalize(status);
        let carried = if status.details().is_empty() {
            Vec::new()
        } else {
            CallReply::decode(status.details())
                .map(|reply| reply.causes)
                .unwrap_or_default()
        };
        if carried.is_empty() {
            Failure::at(edge, code, status.message())
        } else {
            Failure {
                code,
                message: status.message().to_owned(),
                causes: carried,
            }
        }
    }

    /// The status a service returns when this failure makes its own request fail.
    pub fn into_status(self) -> Status {
        let details = CallReply {
            causes: self.causes,
            ..CallReply::default()
        }
        .encode_to_vec();
        Status::with_details(self.code, self.message, details.into())
    }
}

/// The code a status stands for, as gRPC defines it. tonic differs in two places:
/// - its own deadline enforcement is CANCELLED "Timeout expired", which gRPC calls
///   DEADLINE_EXCEEDED;
/// - a connection that breaks under a call (a killed replica) is UNKNOWN with a transport
///   error as its source, which gRPC calls UNAVAILABLE (and which gRPC clients retry).
pub fn normalize(status: &Status) -> Code {
    match status.code() {
        Code::Cancelled if status.message() == "Timeout expired" => Code::DeadlineExceeded,
        Code::Unknown if is_transport_error(status) => Code::Unavailable,
        code => code,
    }
}

fn is_transport_error(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::transport::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// A gRPC code as its canonical upper-case name (`UNIMPLEMENTED`), as grpc tools print it.
pub fn code_name(code: i32) -> &'static str {
    match Code::from_i32(code) {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The time left for a request, from its `grpc-timeout` header (an integer of at most 8
/// digits and a unit: H, M, S, m, u or n). tonic writes the header but does not hand a
/// deadline to handlers, so each service reads it here and passes the remainder on.
pub fn grpc_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    parse_grpc_timeout(value)
}

fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999u"),
            Some(Duration::from_micros(99_999))
        );
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "12", "123456789m", "5x", "-1m"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tonic_timeouts_count_as_deadline_exceeded() {
        let status = Status::cancelled("Timeout expired");
        assert_eq!(normalize(&status), Code::DeadlineExceeded);
        assert_eq!(
            normalize(&Status::cancelled("client went away")),
            Code::Cancelled
        );
        assert_eq!(
            code_name(Code::DeadlineExceeded as i32),
            "DEADLINE_EXCEEDED"
        );
    }

    #[test]
    fn root_causes_travel_in_status_details() {
        let root = Failure::at(
            Edge::new("cart", "pricing", "v1"),
            Code::Unavailable,
            "down",
        );
        let status = root.clone().into_status();
        // One hop up, the caller of cart still blames cart -> pricing.
        let seen = Failure::from_status(&status, Edge::new("web", "cart", "v1"));
        assert_eq!(seen.code, Code::Unavailable);
        assert_eq!(seen.causes, root.causes);
        // A bare status blames the edge it came over.
        let bare = Failure::from_status(&Status::unimplemented(""), Edge::new("web", "cart", "v2"));
        assert_eq!(bare.causes[0].edge, Some(Edge::new("web", "cart", "v2")));
    }

    #[test]
    fn merged_causes_are_unique_and_bounded() {
        let cause = |i: usize| Cause {
            edge: Some(Edge::new("a", &format!("s{i}"), "v1")),
            code: Code::Unavailable as i32,
            message: String::new(),
        };
        let mut causes = vec![cause(0)];
        merge_causes(&mut causes, vec![cause(0), cause(1)]);
        assert_eq!(causes.len(), 2);
        merge_causes(&mut causes, (0..100).map(cause).collect());
        assert_eq!(causes.len(), MAX_CAUSES);
    }

    #[test]
    fn each_api_version_has_its_own_path() {
        assert_eq!(
            method_path("catalog", "v2", None),
            "/deploysim.v1.catalog.v2/Call"
        );
        assert_ne!(
            method_path("catalog", "v1", None),
            method_path("catalog", "v2", None)
        );
        assert_eq!(
            method_path("cart", "v1", Some("checkout")),
            "/deploysim.v1.cart.v1/checkout"
        );
    }

    #[test]
    fn reply_round_trips_through_protobuf() {
        let reply = CallReply {
            degraded: true,
            causes: vec![Cause {
                edge: Some(Edge {
                    caller: "web".into(),
                    callee: "recommend".into(),
                    api: "v1".into(),
                    method: String::new(),
                }),
                code: tonic::Code::Unavailable as i32,
                message: "no ready replica".into(),
            }],
        };
        let decoded = CallReply::decode(reply.encode_to_vec().as_slice()).expect("valid protobuf");
        assert_eq!(decoded, reply);
    }
}
