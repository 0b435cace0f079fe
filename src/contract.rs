//! The wire contract: the generated protobuf messages and the gRPC path of each
//! (service, API version) pair.

#[allow(missing_docs, missing_debug_implementations, clippy::all)]
mod generated {
    tonic::include_proto!("deploysim.v1");
}

pub use generated::{CallReply, CallRequest, Cause, Edge, Hop};

/// The gRPC package that every simulated service path lives in.
pub const PACKAGE: &str = "deploysim.v1";

/// The gRPC path at which `service` serves API version `api`.
///
/// Each API version is its own gRPC service name, so a build that does not provide an API
/// version simply has no route for it and the real gRPC stack answers UNIMPLEMENTED.
/// Service and API names are validated to `[a-z0-9][a-z0-9_-]*` / `[A-Za-z0-9._-]+`, so
/// they never contain a `/`.
pub fn method_path(service: &str, api: &str) -> String {
    format!("/{PACKAGE}.{service}.{api}/Call")
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn each_api_version_has_its_own_path() {
        assert_eq!(
            method_path("catalog", "v2"),
            "/deploysim.v1.catalog.v2/Call"
        );
        assert_ne!(method_path("catalog", "v1"), method_path("catalog", "v2"));
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
                }),
                code: tonic::Code::Unavailable as i32,
                message: "no ready replica".into(),
            }],
            service: "web".into(),
            version: "v2".into(),
            replica: 1,
        };
        let decoded = CallReply::decode(reply.encode_to_vec().as_slice()).expect("valid protobuf");
        assert_eq!(decoded, reply);
    }
}
