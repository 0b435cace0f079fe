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
//! always loads. The caller (main.rs) reads the files; nothing here does IO.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::scenario::yaml::{self, Node, Value};
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

/// A scenario written from Kubernetes manifests: `files` are (name, text), each a YAML
/// stream of objects (`List`s are opened).
pub fn from_manifests(name: &str, files: &[(String, String)]) -> Result<String, ImportError> {
    let mut objects: Vec<(String, std::rc::Rc<Node>)> = Vec::new();
    for (file, text) in files {
        let documents = yaml::parse_stream(text).map_err(|err| ImportError {
            source: file.clone(),
            message: err.to_string(),
        })?;
        for document in documents {
            let items: Vec<std::rc::Rc<Node>> = match (kind(&document), document.get("items")) {
                (
                    Some("List"),
                    Some(Node {
                        value: Value::Seq(items),
                        ..
                    }),
                ) => items.clone(),
                _ => vec![document],
            };
            objects.extend(items.into_iter().map(|item| (file.clone(), item)));
        }
    }
    let mut config_maps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (_, object) in &objects {
        if kind(object) == Some("ConfigMap")
            && let Some(name) = object
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Node::scalar)
        {
            let data = object.get("data").map(string_map).unwrap_or_default();
            config_maps.insert(name.to_owned(), data);
        }
    }
    let mut workloads: Vec<Workload> = Vec::new();
    let mut services: Vec<K8sService> = Vec::new();
    let mut ingress_backends: BTreeSet<String> = BTreeSet::new();
    let mut unresolved: Vec<String> = Vec::new();
    for (file, object) in &objects {
        let Some(object_name) = object
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Node::scalar)
        else {
            continue;
        };
        match kind(object) {
            Some(kind @ ("Deployment" | "StatefulSet" | "DaemonSet")) => {
                let workload = Workload::read(kind, object_name, file, object, &config_maps);
                unresolved.extend(workload.unresolved.iter().map(|what| {
                    format!("{kind} {object_name}: {what} not found in the manifests, not read")
                }));
                workloads.push(workload);
            }
            Some("Service") => services.push(K8sService::read(object_name, file, object)),
            Some("Ingress") => collect_backends(object, &mut ingress_backends),
            _ => {}
        }
    }
    if services.is_empty() {
        return Err(ImportError {
            source: files.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", "),
            message: "no Kubernetes Service found: a scenario service is a Service (with the Deployment behind it)".to_owned(),
        });
    }
    let mut topology = Topology {
        notes: unresolved,
        ..Topology::default()
    };
    // Which workloads each Service selects.
    let backing: Vec<Vec<usize>> = services
        .iter()
        .map(|service| {
            (0..workloads.len())
                .filter(|&w| {
                    !service.selector.is_empty()
                        && service
                            .selector
                            .iter()
                            .all(|(k, v)| workloads[w].labels.get(k) == Some(v))
                })
                .collect()
        })
        .collect();
    let named_by_someone = |service: &K8sService| {
        workloads.iter().any(|w| {
            w.strings
                .iter()
                .any(|(whence, text)| names_host(whence, text, service))
        })
    };
    // A workload behind several Services (`frontend` and `frontend-external`) is one
    // service, named after the Service its callers name (else a ClusterIP one).
    let mut primary: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, backed_by) in backing.iter().enumerate() {
        for &w in backed_by {
            let better = |current: usize| {
                let rank = |j: usize| (!named_by_someone(&services[j]), services[j].exposed);
                rank(i) < rank(current)
            };
            match primary.get(&w) {
                Some(&current) if !better(current) => {}
                _ => {
                    primary.insert(w, i);
                }
            }
        }
    }
    // Every Service name a caller may use, to the scenario service it reaches.
    let mut reaches: Vec<(usize, String)> = Vec::new();
    for (i, service) in services.iter().enumerate() {
        let target = match backing[i].first() {
            Some(w) => services[primary[w]].name.clone(),
            None => service.name.clone(),
        };
        reaches.push((i, sanitize(&target)));
    }
    let mut backed: BTreeSet<usize> = BTreeSet::new();
    let calls_of = |own: &str, workload: &Workload| -> Vec<(String, String)> {
        let mut calls: Vec<(String, String)> = Vec::new();
        // In the order the container names them.
        for (whence, text) in &workload.strings {
            for (callee, target) in &reaches {
                if target != own
                    && names_host(whence, text, &services[*callee])
                    && !calls.iter().any(|(known, _)| known == target)
                {
                    calls.push((target.clone(), format!("{whence} = {}", redact(text))));
                }
            }
        }
        calls
    };
    for (i, service) in services.iter().enumerate() {
        let mine: Vec<usize> = backing[i]
            .iter()
            .copied()
            .filter(|w| primary[w] == i)
            .collect();
        if let Some(&w) = backing[i].first()
            && mine.is_empty()
        {
            let main = &services[primary[&w]].name;
            topology.notes.push(format!(
                "Service {} selects the same pods as {main}: one service, {main}",
                service.name
            ));
            if service.exposed || ingress_backends.contains(&service.name) {
                let why = if service.exposed {
                    format!("Service {} is type {}", service.name, service.kind)
                } else {
                    format!("Service {} is an Ingress backend", service.name)
                };
                topology
                    .services
                    .entry(sanitize(main))
                    .or_default()
                    .entrypoint = Some(why);
            }
            continue;
        }
        let mut entry = topology
            .services
            .remove(&sanitize(&service.name))
            .unwrap_or_default();
        entry.origin = format!("Service {} ({})", service.name, service.file);
        entry.version = "v1".to_owned();
        entry.version_origin = "no workload matches its selector; edit the version".to_owned();
        if service.exposed {
            entry.entrypoint = Some(format!("type: {}", service.kind));
        } else if ingress_backends.contains(&service.name) {
            entry.entrypoint = Some("an Ingress backend".to_owned());
        }
        let own = sanitize(&service.name);
        // Several workloads behind one Service are versions of it, named by their
        // `version` label where they have one (their images often share a tag).
        let names = version_names(&mine.iter().map(|&w| &workloads[w]).collect::<Vec<_>>());
        for (k, &w) in mine.iter().enumerate() {
            backed.insert(w);
            let workload = &workloads[w];
            let (version, origin) = names[k].clone();
            if k > 0 {
                let origin = format!(
                    "{} {} (also behind Service {}); {origin}",
                    workload.kind, workload.name, service.name
                );
                entry
                    .more_versions
                    .push((version, origin, calls_of(&own, workload)));
                continue;
            }
            entry.origin = format!(
                "Service {} -> {} {}",
                service.name, workload.kind, workload.name
            );
            entry.version = version;
            entry.version_origin = origin;
            entry.replicas = workload
                .replicas
                .filter(|&n| n != 1)
                .map(|n| (n, "spec.replicas".to_owned()));
            entry.startup_ms = workload
                .startup_ms
                .filter(|&ms| ms > 0)
                .map(|ms| (ms, "readinessProbe.initialDelaySeconds".to_owned()));
            entry.recreate = workload
                .recreate
                .then(|| "strategy.type: Recreate".to_owned());
            entry.calls = calls_of(&own, workload);
        }
        if mine.len() > 1 {
            let others: Vec<&str> = mine[1..]
                .iter()
                .map(|&w| workloads[w].name.as_str())
                .collect();
            topology.notes.push(format!(
                "Service {} selects {} workloads: {} is the initial version, {} more versions (not deployed; a target can name them)",
                service.name,
                mine.len(),
                workloads[mine[0]].name,
                others.join(", ")
            ));
        }
        topology.services.insert(own, entry);
    }
    for (w, workload) in workloads.iter().enumerate() {
        if backed.contains(&w) {
            continue;
        }
        let calls: Vec<&String> = services
            .iter()
            .filter(|callee| {
                workload
                    .strings
                    .iter()
                    .any(|(whence, text)| names_host(whence, text, callee))
            })
            .map(|service| &service.name)
            .collect();
        let what = if calls.is_empty() {
            "no Service selects it and it names none: left out".to_owned()
        } else {
            let calls: Vec<&str> = calls.iter().map(|s| s.as_str()).collect();
            format!(
                "no Service selects it; it calls {}: a client (a load generator?), left out",
                calls.join(", ")
            )
        };
        topology.notes.push(format!(
            "{} {} ({}): {what}",
            workload.kind, workload.name, workload.file
        ));
    }
    finish(&mut topology);
    Ok(render(name, "Kubernetes manifests", &topology))
}

/// A scenario written from a tracing system's dependency list (Jaeger's JSON).
pub fn from_dependencies(name: &str, file: &str, text: &str) -> Result<String, ImportError> {
    let error = |message: String| ImportError {
        source: file.to_owned(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| error(format!("not JSON: {err}")))?;
    let list = match &value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(object) => match object.get("data") {
            Some(serde_json::Value::Array(items)) => items,
            _ => {
                return Err(error(
                    "expected a list of {parent, child, callCount}, or {\"data\": [...]}"
                        .to_owned(),
                ));
            }
        },
        _ => {
            return Err(error(
                "expected a list of {parent, child, callCount}".to_owned(),
            ));
        }
    };
    let mut topology = Topology::default();
    let mut edges: Vec<(String, String, u64)> = Vec::new();
    let mut originals: BTreeMap<String, String> = BTreeMap::new();
    for (i, item) in list.iter().enumerate() {
        let field = |key: &str| item.get(key).and_then(serde_json::Value::as_str);
        let (Some(parent), Some(child)) = (field("parent"), field("child")) else {
            return Err(error(format!(
                "item {i}: expected string keys `parent` and `child`"
            )));
        };
        if parent.trim().is_empty() || child.trim().is_empty() {
            return Err(error(format!(
                "item {i}: `parent` and `child` must not be empty"
            )));
        }
        let count = item
            .get("callCount")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let (p, c) = (sanitize(parent), sanitize(child));
        for (name, original) in [(&p, parent), (&c, child)] {
            if let Some(known) = originals.get(name.as_str())
                && known != original
            {
                let note = format!("\"{known}\" and \"{original}\" are both {name}: one service");
                if !topology.notes.contains(&note) {
                    topology.notes.push(note);
                }
                continue;
            }
            originals.insert(name.clone(), original.to_owned());
        }
        if p == c {
            topology
                .notes
                .push(format!("{parent} calls itself ({count} calls): left out"));
            continue;
        }
        edges.push((p, c, count));
    }
    if originals.is_empty() {
        return Err(error("the dependency list is empty".to_owned()));
    }
    let children: BTreeSet<&String> = edges.iter().map(|(_, c, _)| c).collect();
    for (service, original) in &originals {
        let origin = if service == original {
            format!("{service} in the dependency list")
        } else {
            format!("\"{original}\" in the dependency list")
        };
        let entrypoint = (!children.contains(service)).then(|| "nobody calls it".to_owned());
        topology.services.insert(
            service.clone(),
            Service {
                origin,
                version: "v1".to_owned(),
                version_origin: "a tracing system knows no versions; edit it".to_owned(),
                entrypoint,
                ..Service::default()
            },
        );
    }
    // The busiest calls first, as a request would make them first in the trace.
    edges.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    for (parent, child, count) in edges {
        if let Some(service) = topology.services.get_mut(&parent)
            && !service.calls.iter().any(|(callee, _)| callee == &child)
        {
            service.counts.insert(child.clone(), count);
            service.calls.push((
                child,
                format!(
                    "{count} call{} in the trace window",
                    if count == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    finish(&mut topology);
    Ok(render(name, "a tracing dependency list", &topology))
}

/// Fills the entrypoints when the sources named none (the services nobody calls), and
/// comments out every call that closes a cycle.
fn finish(topology: &mut Topology) {
    let names: Vec<String> = topology.services.keys().cloned().collect();
    let index = |name: &str| names.iter().position(|n| n == name);
    // Every cycle found loses its last call, until none is left (each round removes one
    // call, so this ends).
    loop {
        let edges: Vec<Vec<usize>> = names
            .iter()
            .map(|name| {
                topology.services[name]
                    .calls
                    .iter()
                    .filter_map(|(callee, _)| index(callee))
                    .collect()
            })
            .collect();
        let Some(cycle) = topology::cycles(&edges, 1).into_iter().next() else {
            break;
        };
        // The cycle's least-used call goes (ties: the last one, so without counts it is
        // the call back to the first node).
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
        let &(a, b) = steps
            .iter()
            .rev()
            .find(|step| weight(step) == lightest)
            .expect("a cycle has a step");
        let from = &names[a];
        let to = names[b].clone();
        let mut path: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
        path.push(&names[cycle[0]]);
        let why = format!(
            "closes the cycle {}; split the callee into methods, or drop it",
            path.join(" -> ")
        );
        let service = topology.services.get_mut(from).expect("a named service");
        service.calls.retain(|(callee, _)| callee != &to);
        service.left_out.push((to, why));
    }
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

/// The scenario as YAML, with where each value came from.
fn render(name: &str, source: &str, topology: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported by `simulate import` from {source}. What to write next:"
    );
    let _ = writeln!(
        out,
        "#   1. the release: add each changed service's new version under `versions:` and"
    );
    let _ = writeln!(out, "#      name it in `target:` (below, commented out);");
    let _ = writeln!(
        out,
        "#   2. what each failure does: every call is `on_failure: fail` until you say"
    );
    let _ = writeln!(
        out,
        "#      `degrade`, `ignore`, a `fallback:` or a rule per code (docs/scenario.md);"
    );
    let _ = writeln!(
        out,
        "#   3. the load: `load.rps`, or a rate and a mix per entrypoint."
    );
    let _ = writeln!(
        out,
        "# Then: simulate check FILE, simulate sweep FILE --pairs --net sim."
    );
    for note in &topology.notes {
        let _ = writeln!(out, "# Note: {}", one_line(note));
    }
    let _ = writeln!(out, "\nname: {}", sanitize(name));
    let _ = writeln!(out, "\nservices:");
    for (service_name, service) in &topology.services {
        let _ = writeln!(out, "  {service_name}:   # {}", one_line(&service.origin));
        if let Some(why) = &service.entrypoint {
            let _ = writeln!(out, "    entrypoint: true   # {}", one_line(why));
        }
        if let Some((replicas, why)) = &service.replicas {
            let _ = writeln!(out, "    replicas: {}   # {why}", (*replicas).clamp(1, 64));
        }
        if let Some((ms, why)) = &service.startup_ms {
            let _ = writeln!(out, "    startup_ms: {}   # {why}", (*ms).min(3_600_000));
        }
        if let Some(why) = &service.recreate {
            let _ = writeln!(out, "    rollout: recreate   # {why}");
        }
        let _ = writeln!(out, "    versions:");
        let _ = writeln!(
            out,
            "      {}:   # {}",
            service.version,
            one_line(&service.version_origin)
        );
        if service.calls.is_empty() && service.left_out.is_empty() {
            let _ = writeln!(out, "        calls: []");
        } else {
            let _ = writeln!(out, "        calls:");
        }
        for (callee, why) in &service.calls {
            let _ = writeln!(
                out,
                "          - {{ service: {callee} }}   # {}",
                one_line(why)
            );
        }
        for (callee, why) in &service.left_out {
            let _ = writeln!(
                out,
                "          # - {{ service: {callee} }}   # left out: {}",
                one_line(why)
            );
        }
        for (version, origin, calls) in &service.more_versions {
            let _ = writeln!(out, "      {version}:   # {}", one_line(origin));
            if calls.is_empty() {
                let _ = writeln!(out, "        calls: []");
            } else {
                let _ = writeln!(out, "        calls:");
            }
            for (callee, why) in calls {
                let _ = writeln!(
                    out,
                    "          - {{ service: {callee} }}   # {}",
                    one_line(why)
                );
            }
        }
    }
    let _ = writeln!(out, "\ninitial:");
    for (service_name, service) in &topology.services {
        let _ = writeln!(out, "  {service_name}: {}", service.version);
    }
    let example = topology.services.keys().next().cloned().unwrap_or_default();
    let _ = writeln!(
        out,
        "\n# target: {{ {example}: v2 }}   # the release: what it changes"
    );
    out
}

/// A Deployment, StatefulSet or DaemonSet, as far as the scenario needs it.
#[derive(Debug, Clone)]
struct Workload {
    kind: String,
    name: String,
    file: String,
    labels: BTreeMap<String, String>,
    replicas: Option<u64>,
    recreate: bool,
    startup_ms: Option<u64>,
    version: String,
    version_origin: String,
    /// (where, text) of every env value, argument and command of its containers.
    strings: Vec<(String, String)>,
    /// ConfigMap references it makes that the manifests do not hold.
    unresolved: Vec<String>,
}

impl Workload {
    fn read(
        kind: &str,
        name: &str,
        file: &str,
        object: &Node,
        config_maps: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Workload {
        let spec = object.get("spec");
        let template = spec.and_then(|s| s.get("template"));
        let labels = template
            .and_then(|t| t.get("metadata"))
            .and_then(|m| m.get("labels"))
            .map(string_map)
            .unwrap_or_default();
        let replicas = spec
            .and_then(|s| s.get("replicas"))
            .and_then(Node::scalar)
            .and_then(|n| n.parse().ok());
        let recreate = spec
            .and_then(|s| s.get("strategy"))
            .and_then(|s| s.get("type"))
            .and_then(Node::scalar)
            == Some("Recreate");
        let containers: Vec<&Node> = match template
            .and_then(|t| t.get("spec"))
            .and_then(|s| s.get("containers"))
        {
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items.iter().map(|item| item.as_ref()).collect(),
            _ => Vec::new(),
        };
        let startup_ms = containers
            .first()
            .and_then(|c| c.get("readinessProbe"))
            .and_then(|p| p.get("initialDelaySeconds"))
            .and_then(Node::scalar)
            .and_then(|n| n.parse::<u64>().ok())
            .map(|seconds| seconds.saturating_mul(1000));
        let image = containers
            .first()
            .and_then(|c| c.get("image"))
            .and_then(Node::scalar)
            .unwrap_or_default();
        let (version, version_origin) = match image_tag(image) {
            Some(tag) => (tag, format!("image {image}")),
            None => (
                "v1".to_owned(),
                format!("image {image} has no usable tag; edit the version"),
            ),
        };
        let mut strings = Vec::new();
        let mut unresolved = Vec::new();
        for container in &containers {
            if let Some(Node {
                value: Value::Seq(env),
                ..
            }) = container.get("env")
            {
                for var in env {
                    let Some(key) = var.get("name").and_then(Node::scalar) else {
                        continue;
                    };
                    if let Some(value) = var.get("value").and_then(Node::scalar) {
                        strings.push((format!("env {key}"), value.to_owned()));
                    } else if let Some(reference) = var
                        .get("valueFrom")
                        .and_then(|from| from.get("configMapKeyRef"))
                    {
                        let map = reference
                            .get("name")
                            .and_then(Node::scalar)
                            .unwrap_or_default();
                        let item = reference
                            .get("key")
                            .and_then(Node::scalar)
                            .unwrap_or_default();
                        match config_maps.get(map).and_then(|data| data.get(item)) {
                            Some(value) => strings
                                .push((format!("env {key} (ConfigMap {map})"), value.clone())),
                            None => unresolved.push(format!("ConfigMap {map} key {item}")),
                        }
                    }
                }
            }
            if let Some(Node {
                value: Value::Seq(sources),
                ..
            }) = container.get("envFrom")
            {
                for source in sources {
                    let Some(map) = source
                        .get("configMapRef")
                        .and_then(|r| r.get("name"))
                        .and_then(Node::scalar)
                    else {
                        continue;
                    };
                    match config_maps.get(map) {
                        Some(data) => strings.extend(
                            data.iter()
                                .map(|(k, v)| (format!("env {k} (ConfigMap {map})"), v.clone())),
                        ),
                        None => unresolved.push(format!("ConfigMap {map}")),
                    }
                }
            }
            for key in ["args", "command"] {
                if let Some(Node {
                    value: Value::Seq(items),
                    ..
                }) = container.get(key)
                {
                    for item in items.iter().filter_map(|item| item.scalar()) {
                        strings.push((key.to_owned(), item.to_owned()));
                    }
                }
            }
        }
        Workload {
            kind: kind.to_owned(),
            name: name.to_owned(),
            file: file.to_owned(),
            labels,
            replicas: if kind == "DaemonSet" { None } else { replicas },
            recreate,
            startup_ms,
            version,
            version_origin,
            strings,
            unresolved,
        }
    }
}

/// A Kubernetes Service.
#[derive(Debug, Clone)]
struct K8sService {
    name: String,
    /// `metadata.namespace`, else `default`: a host `name.NAMESPACE...` reaches it.
    namespace: String,
    file: String,
    selector: BTreeMap<String, String>,
    kind: String,
    exposed: bool,
}

impl K8sService {
    fn read(name: &str, file: &str, object: &Node) -> K8sService {
        let spec = object.get("spec");
        let kind = spec
            .and_then(|s| s.get("type"))
            .and_then(Node::scalar)
            .unwrap_or("ClusterIP");
        let namespace = object
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(Node::scalar)
            .unwrap_or("default");
        K8sService {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            file: file.to_owned(),
            selector: spec
                .and_then(|s| s.get("selector"))
                .map(string_map)
                .unwrap_or_default(),
            kind: kind.to_owned(),
            exposed: matches!(kind, "LoadBalancer" | "NodePort"),
        }
    }
}

fn kind(object: &Node) -> Option<&str> {
    object.get("kind").and_then(Node::scalar)
}

/// The Services an Ingress sends to (`backend.service.name`, or the older
/// `backend.serviceName`), anywhere under it.
fn collect_backends(node: &Node, found: &mut BTreeSet<String>) {
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                match key.scalar() {
                    Some("serviceName") => found.extend(value.scalar().map(str::to_owned)),
                    Some("service") => {
                        found.extend(value.get("name").and_then(Node::scalar).map(str::to_owned))
                    }
                    _ => collect_backends(value, found),
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                collect_backends(item, found);
            }
        }
        Value::Scalar { .. } => {}
    }
}

fn string_map(node: &Node) -> BTreeMap<String, String> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| Some((k.scalar()?.to_owned(), v.scalar()?.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The hosts a value names: of each word (split at spaces, commas and semicolons; the
/// part after a `=` of `--addr=host:port`), the host of its authority: after a scheme's
/// `://`, after credentials' `@`, before a port, a path or a query. So
/// `jdbc:mysql://u:p@cart-db:3306/db?user=cart` names `cart-db` only, and
/// `kafka://broker:9092/orders` names `broker`. A bare word (no scheme, port or dot)
/// counts only in an environment variable whose name says it holds an address
/// (`REDIS_HOST=redis`), never in arguments (`QUEUE_NAME=orders` names no host).
fn hosts<'t>(whence: &str, text: &'t str) -> Vec<&'t str> {
    let address_var = whence.starts_with("env ")
        && [
            "HOST", "ADDR", "URL", "URI", "ENDPOINT", "SERVICE", "SERVER", "BROKER", "DSN",
        ]
        .iter()
        .any(|word| whence.to_ascii_uppercase().contains(word));
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter_map(|word| {
            let word = word.trim_matches(|c| c == '"' || c == '\'');
            // `--addr=host:port`, but not the `=` of a URL's query.
            let word = match word.split_once('=') {
                Some((key, value)) if !key.contains([':', '/']) => value,
                _ => word,
            };
            let (rest, scheme) = match word.split_once("://") {
                Some((_, rest)) => (rest, true),
                None => (word, false),
            };
            let authority = rest.split(['/', '?', '#']).next()?;
            let authority = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, !port.is_empty()),
                None => (authority, false),
            };
            let bare = !scheme && !port && !host.contains('.');
            (!host.is_empty() && (!bare || address_var)).then_some(host)
        })
        .collect()
}

/// True when the value `text` (from `whence`) names `service` as a host: its name, or its
/// name in its own namespace (`cart.shop`, `cart.shop.svc.cluster.local`).
fn names_host(whence: &str, text: &str, service: &K8sService) -> bool {
    hosts(whence, text).into_iter().any(|host| {
        let mut labels = host.split('.');
        labels.next() == Some(service.name.as_str())
            && labels
                .next()
                .is_none_or(|namespace| namespace == service.namespace || namespace == "svc")
    })
}

/// Hides credentials in a URL (`postgres://user:secret@db` -> `postgres://***@db`), for
/// the comments an import writes.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', ' ', '?', '#']).unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(user_end) => {
                out.push_str("***");
                rest = &tail[user_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Version names for the workloads behind one Service: their image tags when there is
/// one workload; with several, each one's `version` label, else its tag, else its name,
/// made unique. (name, where it came from)
fn version_names(workloads: &[&Workload]) -> Vec<(String, String)> {
    let valid = |name: &str| {
        !name.is_empty()
            && name.len() <= 63
            && name != "none"
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for workload in workloads {
        let label = workload
            .labels
            .get("version")
            .filter(|label| workloads.len() > 1 && valid(label));
        let (mut name, origin) = match label {
            Some(label) => (label.clone(), format!("label version: {label}")),
            None => (workload.version.clone(), workload.version_origin.clone()),
        };
        if out.iter().any(|(taken, _)| *taken == name) {
            name = sanitize(&workload.name);
        }
        out.push((name, origin));
    }
    out
}

/// A usable version from an image reference's tag: `v0.8.0` from `.../frontend:v0.8.0`
/// (digest dropped); `None` for no tag, `latest`, or a tag that is no version name.
fn image_tag(image: &str) -> Option<String> {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    let (_, tag) = last.split_once(':')?;
    let valid = !tag.is_empty()
        && tag.len() <= 63
        && tag != "latest"
        && tag != "none"
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric())
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    valid.then(|| tag.to_owned())
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

fn one_line(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() > 100 {
        format!("{}...", line.chars().take(100).collect::<String>())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> K8sService {
        K8sService {
            name: name.to_owned(),
            namespace: "shop".to_owned(),
            file: String::new(),
            selector: BTreeMap::new(),
            kind: "ClusterIP".to_owned(),
            exposed: false,
        }
    }

    #[test]
    fn a_host_is_named_only_in_the_host_part_of_a_value() {
        let named = |whence: &str, text: &str, name: &str| names_host(whence, text, &service(name));
        let env = "env PRODUCT_CATALOG_SERVICE_ADDR";
        assert!(named(
            env,
            "productcatalogservice:3550",
            "productcatalogservice"
        ));
        assert!(named(env, "http://cart/api", "cart"));
        assert!(named(env, "redis-cart:6379", "redis-cart"));
        assert!(
            !named(env, "redis-cart:6379", "cart"),
            "part of a longer name"
        );
        assert!(
            !named(env, "api.cart.example.com", "cart"),
            "another domain"
        );
        assert!(named(env, "mongodb://user-db:27017/users", "user-db"));
        assert!(!named(env, "https://example.com/cart", "cart"), "a path");
        assert!(
            !named(env, "jdbc:mysql://cart-db:3306/db?user=cart", "cart"),
            "a query"
        );
        assert!(!named(env, "kafka://broker:9092/orders", "orders"));
        assert!(
            named(env, "cart.shop.svc.cluster.local:80", "cart"),
            "its namespace"
        );
        assert!(
            !named(env, "cart.other.svc.cluster.local:80", "cart"),
            "another namespace"
        );
        assert!(
            named("env REDIS_HOST", "redis", "redis"),
            "a bare host in an address variable"
        );
        assert!(
            !named("env QUEUE_NAME", "orders", "orders"),
            "a bare word elsewhere"
        );
        assert!(named("args", "--cart-addr=cart:7070", "cart"));
    }

    #[test]
    fn credentials_are_hidden() {
        assert_eq!(
            redact("postgresql://admin:secret@accounts-db:5432/db"),
            "postgresql://***@accounts-db:5432/db"
        );
        assert_eq!(redact("http://cart/api"), "http://cart/api");
    }

    #[test]
    fn tags_become_versions_and_names_become_labels() {
        assert_eq!(
            image_tag("gcr.io/x/frontend:v0.8.0").as_deref(),
            Some("v0.8.0")
        );
        assert_eq!(
            image_tag("localhost:5000/cart").as_deref(),
            None,
            "a registry port is no tag"
        );
        assert_eq!(image_tag("cart:latest"), None);
        assert_eq!(image_tag("cart:1.2@sha256:abc").as_deref(), Some("1.2"));
        assert_eq!(sanitize("Frontend_Service"), "frontend-service");
        assert_eq!(sanitize("--"), "service");
    }
}
