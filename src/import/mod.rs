//! `simulate import` (pure): a scenario to edit, written from what a team already has.
//!
//! Two sources:
//! - Kubernetes manifests ([`from_manifests`]): one service per `Service`, backed by the
//!   Deployment, StatefulSet or DaemonSet its selector matches; its callees are the other
//!   Services that its containers' environment values, arguments and commands name as a
//!   host (`productcatalogservice:3550`, `http://cart/`); replicas, `Recreate` and the
//!   readiness delay carry over; entrypoints are the Services of type LoadBalancer or
//!   NodePort and the backends of Ingresses (else the Services nothing calls).
//! - A tracing system's dependency list ([`from_dependencies`]): Jaeger's
//!   `[{parent, child, callCount}]` (or `{"data": [...]}`, as its API answers), one call
//!   per pair, the busiest first; the entrypoints are the services that are nobody's
//!   child.
//!
//! The result is YAML with a comment on every value saying where it came from, and a
//! note at the top on what to write next (the release, and what each failure does). A
//! call that would close a call cycle (a tracing graph can have them; the format allows
//! cycles only along methods) is written as a comment, not as a call, so the output
//! always loads. The command line reads the files; nothing here does IO.

mod jaeger;
mod k8s;
mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::topology;

pub use jaeger::from_dependencies;
pub use k8s::from_manifests;

/// Why an input could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub source: String,
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

/// A call as imported: the callee, and where it was read.
type Imported = (String, String);

/// One service of the topology being written.
#[derive(Debug, Clone, Default)]
struct Service {
    /// Where it came from, for its comment.
    origin: String,
    version: String,
    version_origin: String,
    replicas: Option<(u64, String)>,
    startup_ms: Option<(u64, String)>,
    recreate: Option<String>,
    entrypoint: Option<String>,
    /// Callee and why.
    calls: Vec<(String, String)>,
    /// How many calls a trace saw per callee; a cycle loses its least-used call.
    counts: BTreeMap<String, u64>,
    /// Calls left out, as comments: callee and why.
    left_out: Vec<(String, String)>,
    /// More workloads behind the same Service (Bookinfo's reviews-v1, -v2, -v3): more
    /// versions, not deployed at the start: (name, where from, calls).
    more_versions: Vec<(String, String, Vec<Imported>)>,
}

/// What an import found, before it is YAML.
#[derive(Debug, Clone, Default)]
struct Topology {
    services: BTreeMap<String, Service>,
    /// Lines for the header: what was left out and why.
    notes: Vec<String>,
}

/// A scenario written from `files` (name, text): one JSON dependency list (a file named
/// `.json`, or whose text starts with `[` or `{`), or Kubernetes manifests.
pub fn import(name: &str, files: &[(String, String)]) -> Result<String, ImportError> {
    let json: Vec<&(String, String)> = files
        .iter()
        .filter(|(file, text)| file.ends_with(".json") || text.trim_start().starts_with(['[', '{']))
        .collect();
    match (json.as_slice(), files) {
        ([], _) => from_manifests(name, files),
        ([(file, text)], [_]) => from_dependencies(name, file, text),
        _ => Err(ImportError {
            source: json
                .iter()
                .map(|(file, _)| file.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            message: "a dependency list is imported alone (one JSON file)".to_owned(),
        }),
    }
}

/// Comments out calls until no call cycle is left: each cycle found loses its
/// least-used call (ties: the last one, so without counts it is the call back to the
/// first node). The graph is indexed once and kept up to date as calls go, so each round
/// costs one search for a cycle, not a rebuild: a list of thousands of services and tens
/// of thousands of calls breaks its cycles in seconds.
fn break_cycles(topology: &mut Topology, names: &[String]) {
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let mut edges: Vec<Vec<usize>> = names
        .iter()
        .map(|name| {
            topology.services[name]
                .calls
                .iter()
                .filter_map(|(callee, _)| index.get(callee.as_str()).copied())
                .collect()
        })
        .collect();
    // Each round removes one call, so this ends.
    while let Some(cycle) = topology::cycles(&edges, 1).into_iter().next() {
        let steps: Vec<(usize, usize)> = (0..cycle.len())
            .map(|k| (cycle[k], cycle[(k + 1) % cycle.len()]))
            .collect();
        let weight = |&(a, b): &(usize, usize)| {
            topology.services[&names[a]]
                .counts
                .get(&names[b])
                .copied()
                .unwrap_or(u64::MAX)
        };
        let lightest = steps.iter().map(weight).min().unwrap_or(u64::MAX);
        let Some(&(a, b)) = steps.iter().rev().find(|step| weight(step) == lightest) else {
            break;
        };
        let mut path: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
        path.push(&names[cycle[0]]);
        let why = format!(
            "closes the cycle {}; split the callee into methods, or drop it",
            path.join(" -> ")
        );
        edges[a].retain(|&callee| callee != b);
        let to = names[b].clone();
        if let Some(service) = topology.services.get_mut(&names[a]) {
            service.calls.retain(|(callee, _)| callee != &to);
            service.left_out.push((to, why));
        }
    }
}

/// Fills the entrypoints when the sources named none (the services nobody calls), and
/// comments out every call that closes a cycle.
fn finish(topology: &mut Topology) {
    let names: Vec<String> = topology.services.keys().cloned().collect();
    break_cycles(topology, &names);
    if !topology.services.values().any(|s| s.entrypoint.is_some()) {
        let called: BTreeSet<String> = topology
            .services
            .values()
            .flat_map(|s| s.calls.iter().map(|(c, _)| c.clone()))
            .collect();
        let mut roots: Vec<String> = names
            .iter()
            .filter(|n| !called.contains(*n))
            .cloned()
            .collect();
        if roots.is_empty() {
            roots.extend(names.first().cloned());
        }
        for root in roots {
            if let Some(service) = topology.services.get_mut(&root) {
                service.entrypoint = Some(
                    "nothing calls it (no LoadBalancer, NodePort or Ingress found)".to_owned(),
                );
            }
        }
    }
}

/// A name as the scenario format takes it: lowercase letters, digits and '-', at most 63
/// characters, starting and ending with a letter or digit.
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out: String = out.trim_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "service".to_owned()
    } else {
        out
    }
}
