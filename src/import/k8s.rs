//! Kubernetes manifests to a topology: one service per `Service`, backed by the
//! Deployment, StatefulSet or DaemonSet its selector matches; its callees are the other
//! Services that its containers' environment values, arguments and commands name as a
//! host (`productcatalogservice:3550`, `http://cart/`); replicas, `Recreate` and the
//! readiness delay carry over; entrypoints are the Services of type LoadBalancer or
//! NodePort and the backends of Ingresses (else the Services nothing calls).
//!
//! In phases: the objects of every file (`objects`), what they hold (`Manifests::read`),
//! which workloads each Service selects and which Service names each workload
//! (`Selection`), then one scenario service per Service (`Manifests::service`) and a
//! note per workload no Service selects.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use super::{Call, ImportError, Service, Topology, sanitize};
use crate::scenario::yaml::{self, Node, Value};

/// The topology of Kubernetes manifests: `files` are (name, text), each a YAML stream of
/// objects (`List`s are opened).
pub(super) fn topology(files: &[&(String, String)]) -> Result<Topology, ImportError> {
    let (objects, mut notes) = objects(files)?;
    let manifests = Manifests::read(&objects);
    if manifests.services.is_empty() {
        return Err(ImportError {
            source: files.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", "),
            message: "no Kubernetes Service found: a scenario service is a Service (with the Deployment behind it)".to_owned(),
        });
    }
    let selection = Selection::of(&manifests);
    notes.extend(manifests.unresolved.iter().cloned());
    notes.extend(manifests.dangling());
    notes.extend(manifests.skipped());
    if manifests.labelled_versions() {
        notes.push("versions: each workload's `version` label (the manifests label versions), else its image tag".to_owned());
    }
    let mut topology = Topology {
        notes,
        ..Topology::default()
    };
    let mut backed: BTreeSet<usize> = BTreeSet::new();
    for i in 0..manifests.services.len() {
        manifests.service(i, &selection, &mut topology, &mut backed);
    }
    for w in 0..manifests.workloads.len() {
        if !backed.contains(&w) {
            topology.notes.push(manifests.unselected(w));
        }
    }
    topology.notes.extend(manifests.candidate_calls(&selection));
    Ok(topology)
}

/// Every object of every file, with the file it came from; a `List`'s items are objects
/// of their own. An object met again in a later file (the same kind, namespace and
/// name: Bookinfo ships its Deployments in several variants of one file) is read once,
/// from the first, and the notes say so.
fn objects(files: &[&(String, String)]) -> Result<(Vec<Object>, Vec<String>), ImportError> {
    let mut objects: Vec<Object> = Vec::new();
    let mut seen: HashMap<(String, String, String), String> = HashMap::new();
    let mut repeated: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (file, text) in files {
        if text.contains("{{") && text.contains("}}") {
            return Err(ImportError {
                source: file.clone(),
                message: "a Helm template (it holds `{{ ... }}`): render it first, with `helm template RELEASE CHART > manifests.yaml`, and import that".to_owned(),
            });
        }
        let documents = yaml::parse_stream(text).map_err(|err| ImportError {
            source: file.clone(),
            message: err.to_string(),
        })?;
        for document in documents {
            let items: Vec<Rc<Node>> = match (kind(&document), document.get("items")) {
                (
                    Some("List"),
                    Some(Node {
                        value: Value::Seq(items),
                        ..
                    }),
                ) => items.clone(),
                _ => vec![document],
            };
            for item in items {
                let key = (
                    kind(&item).unwrap_or_default().to_owned(),
                    namespace(&item).to_owned(),
                    object_name(&item).unwrap_or_default().to_owned(),
                );
                if key.2.is_empty() {
                    objects.push((file.clone(), item));
                    continue;
                }
                match seen.get(&key) {
                    Some(first) => repeated
                        .entry((first.clone(), file.clone()))
                        .or_default()
                        .push(format!("{} {}", key.0, key.2)),
                    None => {
                        seen.insert(key, file.clone());
                        objects.push((file.clone(), item));
                    }
                }
            }
        }
    }
    let notes = repeated
        .into_iter()
        .map(|((first, again), names)| {
            format!(
                "{again} repeats {} of {first} ({}): read once, from {first}",
                count(names.len(), "object"),
                names.join(", ")
            )
        })
        .collect();
    Ok((objects, notes))
}

/// An object of the manifests, with the file it came from.
type Object = (String, Rc<Node>);

/// Labels, or a selector's labels to match.
type Labels = BTreeMap<String, String>;

/// A NetworkPolicy: its name, the labels of the pods it guards, and the pod selectors of
/// its ingress rules' `from`.
type Policy = (String, Labels, Vec<Labels>);

/// A NetworkPolicy, read.
fn policy(name: &str, object: &Node) -> Policy {
    let spec = object.get("spec");
    let labels = |node: Option<&Node>| {
        node.and_then(|n| n.get("matchLabels"))
            .map(string_map)
            .unwrap_or_default()
    };
    let to = labels(spec.and_then(|s| s.get("podSelector")));
    let mut from = Vec::new();
    if let Some(Node {
        value: Value::Seq(rules),
        ..
    }) = spec.and_then(|s| s.get("ingress"))
    {
        for rule in rules {
            if let Some(Node {
                value: Value::Seq(peers),
                ..
            }) = rule.get("from")
            {
                from.extend(peers.iter().map(|peer| labels(peer.get("podSelector"))));
            }
        }
    }
    (name.to_owned(), to, from)
}

/// `n thing` or `n things`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// An object's namespace (`default` when it names none).
fn namespace(object: &Node) -> &str {
    object
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Node::scalar)
        .unwrap_or("default")
}

/// What the manifests hold, as far as the scenario needs it.
#[derive(Debug, Default)]
struct Manifests {
    workloads: Vec<Workload>,
    services: Vec<K8sService>,
    ingress_backends: BTreeSet<String>,
    /// Notes on ConfigMap references the manifests do not hold.
    unresolved: Vec<String>,
    /// Per workload, per string (in `Workload::strings` order): the Services (by index,
    /// ascending) the string names as a host. Found once, through an index of Service
    /// names, so a cluster of thousands of Services is read in near-linear time.
    named: Vec<Vec<Vec<usize>>>,
    /// Per Service: some workload names it.
    named_by_someone: Vec<bool>,
    /// Objects of kinds an import does not read, by kind: how many.
    skipped: BTreeMap<String, usize>,
    /// Per NetworkPolicy: its name, the pods it admits calls to, and the selectors of
    /// the pods it admits calls from.
    policies: Vec<Policy>,
    /// Per workload: hosts its address variables name that no Service has, with where.
    dangling: Vec<Vec<(String, String)>>,
}

/// Which workloads each Service selects, and which Service each workload is imported as.
#[derive(Debug)]
struct Selection {
    /// Per Service (by index), the workloads its selector matches.
    backing: Vec<Vec<usize>>,
    /// Per workload, the Service it is imported as (one of those that select it).
    primary: BTreeMap<usize, usize>,
    /// Every Service (by index) with the scenario service a caller naming it reaches.
    reaches: Vec<(usize, String)>,
}

impl Manifests {
    fn read(objects: &[(String, Rc<Node>)]) -> Manifests {
        let mut config_maps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (_, object) in objects {
            if kind(object) == Some("ConfigMap")
                && let Some(name) = object_name(object)
            {
                let data = object.get("data").map(string_map).unwrap_or_default();
                config_maps.insert(name.to_owned(), data);
            }
        }
        let mut manifests = Manifests::default();
        for (file, object) in objects {
            let Some(object_name) = object_name(object) else {
                continue;
            };
            match kind(object) {
                Some(kind @ ("Deployment" | "StatefulSet" | "DaemonSet")) => {
                    let workload = Workload::read(kind, object_name, file, object, &config_maps);
                    manifests
                        .unresolved
                        .extend(workload.unresolved.iter().map(|what| {
                            format!(
                                "{kind} {object_name}: {what} not found in the manifests, not read"
                            )
                        }));
                    manifests.workloads.push(workload);
                }
                Some("Service") => {
                    manifests
                        .services
                        .push(K8sService::read(object_name, file, object))
                }
                Some("Ingress") => collect_backends(object, &mut manifests.ingress_backends),
                Some("NetworkPolicy") => {
                    *manifests
                        .skipped
                        .entry("NetworkPolicy".to_owned())
                        .or_default() += 1;
                    manifests.policies.push(policy(object_name, object));
                }
                Some("ConfigMap") | None => {}
                Some(other) => *manifests.skipped.entry(other.to_owned()).or_default() += 1,
            }
        }
        manifests.find_names();
        manifests
    }

    /// Which Services each workload's strings name (see `named`).
    fn find_names(&mut self) {
        let services = &self.services;
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, service) in services.iter().enumerate() {
            by_name.entry(service.name.as_str()).or_default().push(i);
        }
        let mut named_by_someone = vec![false; services.len()];
        let mut dangling: Vec<Vec<(String, String)>> = Vec::new();
        for workload in &self.workloads {
            let mut missing = Vec::new();
            for (whence, text) in &workload.strings {
                if !address_variable(whence) {
                    continue;
                }
                // Only a value that is an address and nothing else (`cart:7070`): a
                // value with more in it may hold credentials, which are never echoed.
                let Some(host) = bare_address(text) else {
                    continue;
                };
                let first = host.split('.').next().unwrap_or_default();
                let internal = !host.contains('.') || host.contains(".svc");
                if internal
                    && first != "localhost"
                    && !by_name.contains_key(first)
                    && !missing.iter().any(|(h, _)| h == host)
                {
                    missing.push((host.to_owned(), whence.clone()));
                }
            }
            dangling.push(missing);
        }
        self.dangling = dangling;
        let named = self
            .workloads
            .iter()
            .map(|workload| {
                workload
                    .strings
                    .iter()
                    .map(|(whence, text)| {
                        let mut found: Vec<usize> = hosts(whence, text)
                            .into_iter()
                            .flat_map(|host| {
                                let first = host.split('.').next().unwrap_or_default();
                                by_name
                                    .get(first)
                                    .into_iter()
                                    .flatten()
                                    .copied()
                                    .filter(move |&i| host_names(host, &services[i]))
                            })
                            .collect();
                        found.sort_unstable();
                        found.dedup();
                        for &i in &found {
                            named_by_someone[i] = true;
                        }
                        found
                    })
                    .collect()
            })
            .collect();
        self.named = named;
        self.named_by_someone = named_by_someone;
    }

    /// Whether any workload carries a `version` label: then versions come from that label
    /// wherever there is one, across the whole app.
    fn labelled_versions(&self) -> bool {
        self.workloads
            .iter()
            .any(|workload| workload.labels.contains_key("version"))
    }

    /// A note per callee named in a workload's address variables that no Service of the
    /// manifests has (Online Boutique's `SHOPPING_ASSISTANT_SERVICE_ADDR`).
    fn dangling(&self) -> Vec<String> {
        self.workloads
            .iter()
            .zip(&self.dangling)
            .flat_map(|(workload, missing)| {
                missing.iter().map(move |(host, whence)| {
                    format!(
                        "{} {}: {whence} names {host}, which no Service in the manifests has: no call (an external service, or a manifest not given?)",
                        workload.kind, workload.name
                    )
                })
            })
            .collect()
    }

    /// The workloads whose labels `selector` matches (an empty selector matches none:
    /// a policy over every pod names no caller).
    fn selected(&self, selector: &BTreeMap<String, String>) -> Vec<usize> {
        if selector.is_empty() {
            return Vec::new();
        }
        (0..self.workloads.len())
            .filter(|&w| {
                selector
                    .iter()
                    .all(|(k, v)| self.workloads[w].labels.get(k) == Some(v))
            })
            .collect()
    }

    /// The calls each NetworkPolicy allows, as notes: candidates, not calls (allowed is
    /// not called).
    fn candidate_calls(&self, selection: &Selection) -> Vec<String> {
        let service_of = |w: usize| -> Option<String> {
            let &i = selection.primary.get(&w)?;
            Some(selection.reaches[i].1.clone())
        };
        self.policies
            .iter()
            .filter_map(|(name, to, from)| {
                let callees: BTreeSet<String> =
                    self.selected(to).into_iter().filter_map(service_of).collect();
                let callers: BTreeSet<String> = from
                    .iter()
                    .flat_map(|selector| self.selected(selector))
                    .filter_map(service_of)
                    .filter(|caller| !callees.contains(caller))
                    .collect();
                (!callees.is_empty() && !callers.is_empty()).then(|| {
                    format!(
                        "NetworkPolicy {name} allows {} to call {}: candidate calls, not added (allowed is not called); add those a request makes",
                        callers.into_iter().collect::<Vec<_>>().join(", "),
                        callees.into_iter().collect::<Vec<_>>().join(", ")
                    )
                })
            })
            .collect()
    }

    /// A note on the objects of kinds an import does not read, and what to do instead.
    fn skipped(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|(kind, &n)| {
                let why = match kind.as_str() {
                    "NetworkPolicy" => "allowed is not called: the calls it allows are not calls; give a dependency list for those",
                    "VirtualService" | "DestinationRule" | "Gateway" => "Istio routing: the scenario's versions and target say what serves",
                    "Kustomization" => "run `kubectl kustomize DIR > manifests.yaml` first and import that",
                    _ => "not a workload, a Service or an Ingress",
                };
                format!("skipped {}: {why}", count(n, kind))
            })
            .collect()
    }

    /// The calls of `workload` (imported as `own`): each Service its values name, in the
    /// order the container names them, once.
    fn calls_of(&self, selection: &Selection, own: &str, w: usize) -> Vec<Call> {
        let workload = &self.workloads[w];
        let mut calls: Vec<Call> = Vec::new();
        for ((whence, _), named) in workload.strings.iter().zip(&self.named[w]) {
            for &callee in named {
                let target = &selection.reaches[callee].1;
                if target != own && !calls.iter().any(|(known, _)| known == target) {
                    // Only where the call was read and whom it names: never the value,
                    // which may hold credentials in any of a dozen forms.
                    calls.push((
                        target.clone(),
                        format!("{whence} names {}", self.services[callee].name),
                    ));
                }
            }
        }
        calls
    }

    /// Service `i` as a scenario service, with the workloads it is imported from
    /// (`backed` gains them); or, when it selects pods another Service is imported from,
    /// a note (and that service becomes an entrypoint when this one exposes it).
    fn service(
        &self,
        i: usize,
        selection: &Selection,
        topology: &mut Topology,
        backed: &mut BTreeSet<usize>,
    ) {
        let service = &self.services[i];
        let mine: Vec<usize> = selection.backing[i]
            .iter()
            .copied()
            .filter(|w| selection.primary[w] == i)
            .collect();
        if let Some(&w) = selection.backing[i].first()
            && mine.is_empty()
        {
            self.alias(
                service,
                &self.services[selection.primary[&w]].name,
                topology,
            );
            return;
        }
        let own = sanitize(&service.name);
        let mut entry = topology.services.remove(&own).unwrap_or_default();
        entry.origin = format!("Service {} ({})", service.name, service.file);
        entry.version = "v1".to_owned();
        entry.version_origin = "no workload matches its selector; edit the version".to_owned();
        if service.exposed {
            entry.entrypoint = Some(format!("type: {}", service.kind));
        } else if self.ingress_backends.contains(&service.name) {
            entry.entrypoint = Some("an Ingress backend".to_owned());
        }
        // Several workloads behind one Service are versions of it, named by their
        // `version` label where they have one (their images often share a tag).
        let names = version_names(
            &mine.iter().map(|&w| &self.workloads[w]).collect::<Vec<_>>(),
            self.labelled_versions(),
        );
        for (k, &w) in mine.iter().enumerate() {
            backed.insert(w);
            let workload = &self.workloads[w];
            topology.alias(&workload.name, &own, &format!("{} name", workload.kind));
            for key in ["app", "app.kubernetes.io/name", "name", "service"] {
                if let Some(value) = workload.labels.get(key) {
                    topology.alias(value, &own, &format!("label {key}"));
                }
            }
            let (version, origin) = names[k].clone();
            let calls = self.calls_of(selection, &own, w);
            if k == 0 {
                first_version(&mut entry, service, workload, version, origin, calls);
            } else {
                let origin = format!(
                    "{} {} (also behind Service {}); {origin}",
                    workload.kind, workload.name, service.name
                );
                entry.more_versions.push((version, origin, calls));
            }
        }
        if mine.len() > 1 {
            let others: Vec<&str> = mine[1..]
                .iter()
                .map(|&w| self.workloads[w].name.as_str())
                .collect();
            topology.notes.push(format!(
                "Service {} selects {} workloads: {} is the initial version, {} more versions (not deployed; a target can name them)",
                service.name,
                mine.len(),
                self.workloads[mine[0]].name,
                others.join(", ")
            ));
        }
        topology.services.insert(own, entry);
    }

    /// A Service that selects the pods of `main`, another Service: one service, `main`,
    /// which is an entrypoint when this Service exposes it.
    fn alias(&self, service: &K8sService, main: &str, topology: &mut Topology) {
        topology.alias(
            &service.name,
            &sanitize(main),
            "the name of a Service in front of it",
        );
        topology.notes.push(format!(
            "Service {} selects the same pods as {main}: one service, {main}",
            service.name
        ));
        if service.exposed || self.ingress_backends.contains(&service.name) {
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
    }

    /// The note on a workload no Service selects: left out, as a client when it calls.
    fn unselected(&self, w: usize) -> String {
        let workload = &self.workloads[w];
        let named: BTreeSet<usize> = self.named[w].iter().flatten().copied().collect();
        let calls: Vec<&str> = named
            .into_iter()
            .map(|i| self.services[i].name.as_str())
            .collect();
        let what = if calls.is_empty() {
            "no Service selects it and it names none: left out".to_owned()
        } else {
            format!(
                "no Service selects it; it calls {}: a client (a load generator?), left out",
                calls.join(", ")
            )
        };
        format!(
            "{} {} ({}): {what}",
            workload.kind, workload.name, workload.file
        )
    }
}

/// The first workload behind a Service gives the service its initial version, replicas,
/// rollout, startup and calls.
fn first_version(
    entry: &mut Service,
    service: &K8sService,
    workload: &Workload,
    version: String,
    origin: String,
    calls: Vec<Call>,
) {
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
    entry.calls = calls;
}

impl Selection {
    fn of(manifests: &Manifests) -> Selection {
        let services = &manifests.services;
        let workloads = &manifests.workloads;
        // Workloads by label: a selector looks up the workloads with its first label and
        // keeps those with the others, instead of testing every workload.
        let mut by_label: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (w, workload) in workloads.iter().enumerate() {
            for (key, value) in &workload.labels {
                by_label.entry((key, value)).or_default().push(w);
            }
        }
        let backing: Vec<Vec<usize>> = services
            .iter()
            .map(|service| {
                let Some((key, value)) = service.selector.iter().next() else {
                    return Vec::new();
                };
                by_label
                    .get(&(key.as_str(), value.as_str()))
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&w| {
                        service
                            .selector
                            .iter()
                            .all(|(k, v)| workloads[w].labels.get(k) == Some(v))
                    })
                    .collect()
            })
            .collect();
        // A workload behind several Services (`frontend` and `frontend-external`) is one
        // service, named after the Service its callers name (else a ClusterIP one).
        let mut primary: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, backed_by) in backing.iter().enumerate() {
            for &w in backed_by {
                let rank = |j: usize| (!manifests.named_by_someone[j], services[j].exposed);
                match primary.get(&w) {
                    Some(&current) if rank(i) >= rank(current) => {}
                    _ => {
                        primary.insert(w, i);
                    }
                }
            }
        }
        // Every Service name a caller may use, to the scenario service it reaches.
        let reaches = services
            .iter()
            .enumerate()
            .map(|(i, service)| {
                let target = match backing[i].first() {
                    Some(w) => services[primary[w]].name.clone(),
                    None => service.name.clone(),
                };
                (i, sanitize(&target))
            })
            .collect();
        Selection {
            backing,
            primary,
            reaches,
        }
    }
}

fn object_name(object: &Node) -> Option<&str> {
    object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Node::scalar)
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
        let mut values = Values {
            config_maps,
            strings: Vec::new(),
            unresolved: Vec::new(),
        };
        for container in &containers {
            values.env(container);
            values.env_from(container);
            values.args(container);
        }
        let Values {
            strings,
            unresolved,
            ..
        } = values;
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

/// The strings a workload's containers hold (env values, ConfigMap values, arguments and
/// commands), each with where it was read.
struct Values<'a> {
    config_maps: &'a BTreeMap<String, BTreeMap<String, String>>,
    strings: Vec<(String, String)>,
    /// ConfigMap references the manifests do not hold.
    unresolved: Vec<String>,
}

impl Values<'_> {
    /// `env`: each variable's value, or the ConfigMap key it refers to.
    fn env(&mut self, container: &Node) {
        let Some(Node {
            value: Value::Seq(env),
            ..
        }) = container.get("env")
        else {
            return;
        };
        for var in env {
            let Some(key) = var.get("name").and_then(Node::scalar) else {
                continue;
            };
            if let Some(value) = var.get("value").and_then(Node::scalar) {
                self.strings.push((format!("env {key}"), value.to_owned()));
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
                match self.config_maps.get(map).and_then(|data| data.get(item)) {
                    Some(value) => self
                        .strings
                        .push((format!("env {key} (ConfigMap {map})"), value.clone())),
                    None => self.unresolved.push(format!("ConfigMap {map} key {item}")),
                }
            }
        }
    }

    /// `envFrom`: every key of each ConfigMap named.
    fn env_from(&mut self, container: &Node) {
        let Some(Node {
            value: Value::Seq(sources),
            ..
        }) = container.get("envFrom")
        else {
            return;
        };
        for source in sources {
            let Some(map) = source
                .get("configMapRef")
                .and_then(|r| r.get("name"))
                .and_then(Node::scalar)
            else {
                continue;
            };
            match self.config_maps.get(map) {
                Some(data) => self.strings.extend(
                    data.iter()
                        .map(|(k, v)| (format!("env {k} (ConfigMap {map})"), v.clone())),
                ),
                None => self.unresolved.push(format!("ConfigMap {map}")),
            }
        }
    }

    /// `args` and `command`: each item.
    fn args(&mut self, container: &Node) {
        for key in ["args", "command"] {
            if let Some(Node {
                value: Value::Seq(items),
                ..
            }) = container.get(key)
            {
                for item in items.iter().filter_map(|item| item.scalar()) {
                    self.strings.push((key.to_owned(), item.to_owned()));
                }
            }
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
        let namespace = namespace(object);
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
    let address_var = address_variable(whence);
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

/// The host of a value that is a cluster address and nothing else: `name` or `name:port`
/// (`name` lowercase DNS labels, the first starting with a letter, `port` digits).
fn bare_address(text: &str) -> Option<&str> {
    let text = text.trim();
    let (host, port) = text.split_once(':').unwrap_or((text, "0"));
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let starts_with_letter = host.starts_with(|c: char| c.is_ascii_lowercase());
    (starts_with_letter
        && host.split('.').all(label)
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit()))
    .then_some(host)
}

/// True when `whence` is an environment variable whose name says it holds an address.
fn address_variable(whence: &str) -> bool {
    whence.starts_with("env ")
        && [
            "HOST", "ADDR", "URL", "URI", "ENDPOINT", "SERVICE", "SERVER", "BROKER", "DSN",
        ]
        .iter()
        .any(|word| whence.to_ascii_uppercase().contains(word))
}

/// True when the value `text` (from `whence`) names `service` as a host.
#[cfg(test)]
fn names_host(whence: &str, text: &str, service: &K8sService) -> bool {
    hosts(whence, text)
        .into_iter()
        .any(|host| host_names(host, service))
}

/// True when `host` names `service`: its name, or its name in its own namespace
/// (`cart.shop`, `cart.shop.svc.cluster.local`).
fn host_names(host: &str, service: &K8sService) -> bool {
    let mut labels = host.split('.');
    labels.next() == Some(service.name.as_str())
        && labels
            .next()
            .is_none_or(|namespace| namespace == service.namespace || namespace == "svc")
}

/// Version names for the workloads behind one Service: each one's `version` label when
/// there are several or when the manifests label versions anywhere (`labelled`: one rule
/// for the whole app, so Bookinfo's productpage is `v1` like its reviews, not its image
/// tag), else its image tag, else its name, made unique. (name, where it came from)
fn version_names(workloads: &[&Workload], labelled: bool) -> Vec<(String, String)> {
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
            .filter(|label| (labelled || workloads.len() > 1) && valid(label));
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
    fn one_rule_names_the_versions_of_the_whole_app() {
        let workload = |name: &str, label: Option<&str>| Workload {
            kind: "Deployment".to_owned(),
            name: name.to_owned(),
            file: "app.yaml".to_owned(),
            labels: label
                .map(|l| BTreeMap::from([("version".to_owned(), l.to_owned())]))
                .unwrap_or_default(),
            replicas: None,
            recreate: false,
            startup_ms: None,
            version: "1.20.2".to_owned(),
            version_origin: "image tag".to_owned(),
            strings: Vec::new(),
            unresolved: Vec::new(),
        };
        let productpage = workload("productpage-v1", Some("v1"));
        // Alone behind its Service, it takes its label when the app labels versions...
        assert_eq!(version_names(&[&productpage], true)[0].0, "v1");
        // ...and its image tag when nothing in the app does.
        assert_eq!(version_names(&[&productpage], false)[0].0, "1.20.2");
        let untagged = workload("details-v1", None);
        assert_eq!(version_names(&[&untagged], true)[0].0, "1.20.2");
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
