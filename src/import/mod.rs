//! `simulate import` (pure): a scenario to edit, written from what a team already has.
//!
//! Two sources, alone or merged ([`import`]):
//! - Kubernetes manifests (`k8s`): one service per `Service`, backed by the Deployment,
//!   StatefulSet or DaemonSet its selector matches; its callees are the other Services
//!   that its containers' environment values, arguments and commands name as a host
//!   (`productcatalogservice:3550`, `http://cart/`); replicas, `Recreate` and the
//!   readiness delay carry over.
//! - A tracing system's dependency list (`jaeger`): Jaeger's `[{parent, child,
//!   callCount}]` (or `{"data": [...]}`, as its API answers), one call per pair, the
//!   busiest first. With manifests, the lists add calls to their services (`merge`).
//!
//! Entrypoints are chosen by a stated rule, or named (`entry`); what the sources could
//! not show is said in notes and in the summary.
//!
//! The result is YAML with a comment on every value saying where it came from, and a
//! note at the top on what to write next (the release, and what each failure does). A
//! call that would close a call cycle (a tracing graph can have them; the format allows
//! cycles only along methods) is written as a comment, not as a call, so the output
//! always loads. The command line reads the files; nothing here does IO.

mod entry;
mod jaeger;
mod k8s;
mod merge;
mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::topology;

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

/// An input: its name and its text.
type Input = (String, String);

/// A call as imported: the callee, and where it was read.
type Call = (String, String);

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
    calls: Vec<Call>,
    /// How many calls a trace saw per callee; a cycle loses its least-used call.
    counts: BTreeMap<String, u64>,
    /// Calls left out, as comments: callee and why.
    left_out: Vec<(String, String)>,
    /// More workloads behind the same Service (Bookinfo's reviews-v1, -v2, -v3): more
    /// versions, not deployed at the start: (name, where from, calls).
    more_versions: Vec<(String, String, Vec<Call>)>,
}

/// What an import found, before it is YAML.
#[derive(Debug, Clone, Default)]
struct Topology {
    services: BTreeMap<String, Service>,
    /// Lines for the header: what was left out and why.
    notes: Vec<String>,
    /// Other names a service goes by in the manifests (its workloads' names, their `app`
    /// labels, the Services that alias it), sanitized: the service, and which name it is.
    aliases: BTreeMap<String, (String, String)>,
}

impl Topology {
    /// `name` (sanitized) also names `service`; the first service to claim a name keeps it.
    fn alias(&mut self, name: &str, service: &str, how: &str) {
        let name = sanitize(name);
        if name != service {
            self.aliases
                .entry(name)
                .or_insert_with(|| (service.to_owned(), how.to_owned()));
        }
    }
}

/// What the user tells an import beside its files.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// (name in a dependency list, service of the manifests): names the matching rules
    /// would not pair, paired by hand (`--map nginx-web-server=nginx-thrift`).
    pub names: Vec<(String, String)>,
    /// The entrypoints, named by hand (`--entrypoint`): they and only they.
    pub entrypoints: Vec<String>,
}

/// An import: the scenario's YAML, and what its summary says.
#[derive(Debug, Clone)]
pub struct Imported {
    pub yaml: String,
    /// Each entrypoint and the rule that chose it.
    pub entrypoints: Vec<(String, String)>,
    /// Services with no call in or out: calls the sources could not see.
    pub isolated: Vec<String>,
    /// Names of a dependency list that matched no manifest: services of their own.
    pub unmatched: Vec<String>,
    /// Calls read from the manifests, and added from dependency lists.
    pub calls_from_manifests: usize,
    pub calls_from_lists: usize,
}

/// A scenario written from `files` (name, text): Kubernetes manifests, dependency lists
/// (a file named `.json`, or one not named `.yaml`/`.yml` whose text starts with `[` or
/// `{`), or both: the manifests give the services, the lists add the calls.
pub fn import(
    name: &str,
    files: &[(String, String)],
    options: &Options,
) -> Result<Imported, ImportError> {
    let (lists, manifests): (Vec<&Input>, Vec<&Input>) = files
        .iter()
        .partition(|(file, text)| is_dependency_list(file, text));
    let (mut topology, source, unmatched, from_manifests) = if manifests.is_empty() {
        let topology = jaeger::topology(&lists)?;
        (topology, "a tracing dependency list", Vec::new(), 0)
    } else {
        let mut topology = k8s::topology(&manifests)?;
        let before = count_calls(&topology);
        let mut unmatched = Vec::new();
        for (file, text) in &lists {
            let read = jaeger::read_list(file, text)?;
            unmatched.extend(merge::calls(&mut topology, read, file, &options.names)?);
        }
        let source = if lists.is_empty() {
            "Kubernetes manifests"
        } else {
            "Kubernetes manifests and a dependency list"
        };
        (topology, source, unmatched, before)
    };
    break_cycles_of(&mut topology);
    // A cycle may have cost a call of either kind; the lists' share is what is left.
    let from_manifests = from_manifests.min(count_calls(&topology));
    let from_lists = count_calls(&topology) - from_manifests;
    entry::choose(&mut topology, &options.entrypoints)?;
    let isolated = isolated(&topology);
    if !isolated.is_empty() {
        topology.notes.push(format!(
            "{} no call in or out ({}): calls made in code are invisible to manifests; give a dependency list (simulate import DIR deps.json) or add them",
            if isolated.len() == 1 { "1 service has".to_owned() } else { format!("{} services have", isolated.len()) },
            isolated.join(", ")
        ));
    }
    let entrypoints = topology
        .services
        .iter()
        .filter_map(|(name, service)| Some((name.clone(), service.entrypoint.clone()?)))
        .collect();
    Ok(Imported {
        yaml: render::render(name, source, &topology),
        entrypoints,
        isolated,
        unmatched,
        calls_from_manifests: from_manifests,
        calls_from_lists: from_lists,
    })
}

/// Whether an input is a dependency list rather than manifests: named `.json`, or not
/// named as YAML and starting like JSON (a Helm template starts with `{{` too, and is
/// named `.yaml`).
fn is_dependency_list(file: &str, text: &str) -> bool {
    file.ends_with(".json")
        || (!file.ends_with(".yaml")
            && !file.ends_with(".yml")
            && text.trim_start().starts_with(['[', '{'])
            && !text.trim_start().starts_with("{{"))
}

fn count_calls(topology: &Topology) -> usize {
    topology.services.values().map(|s| s.calls.len()).sum()
}

/// Services no call reaches and that call nothing.
fn isolated(topology: &Topology) -> Vec<String> {
    if topology.services.len() < 2 {
        return Vec::new();
    }
    let called: BTreeSet<&str> = topology
        .services
        .values()
        .flat_map(|s| s.calls.iter().map(|(c, _)| c.as_str()))
        .collect();
    topology
        .services
        .iter()
        .filter(|(name, service)| service.calls.is_empty() && !called.contains(name.as_str()))
        .map(|(name, _)| name.clone())
        .collect()
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

/// Comments out every call that closes a cycle.
fn break_cycles_of(topology: &mut Topology) {
    let names: Vec<String> = topology.services.keys().cloned().collect();
    break_cycles(topology, &names);
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
