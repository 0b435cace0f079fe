//! A tracing system's dependency list to a topology: Jaeger's
//! `[{parent, child, callCount}]` (or `{"data": [...]}`, as its API answers), one call
//! per pair, the busiest first; the entrypoints are the services that are nobody's child.

use std::collections::{BTreeMap, BTreeSet};

use super::{ImportError, Service, Topology, sanitize};

/// A scenario written from a tracing system's dependency list (Jaeger's JSON).
pub fn from_dependencies(name: &str, file: &str, text: &str) -> Result<String, ImportError> {
    let error = |message: String| ImportError {
        source: file.to_owned(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| error(format!("not JSON: {err}")))?;
    let read = read(list(&value).map_err(error)?).map_err(error)?;
    let mut topology = Topology {
        notes: read.notes,
        ..Topology::default()
    };
    add_services(&read.pairs, &read.originals, &mut topology);
    add_calls(read.pairs, &mut topology);
    super::finish(&mut topology);
    Ok(super::render::render(
        name,
        "a tracing dependency list",
        &topology,
    ))
}

/// One call as the list gives it: (parent, child, callCount), names sanitized.
type Pair = (String, String, u64);

/// The list of pairs, from either shape Jaeger gives.
fn list(value: &serde_json::Value) -> Result<&Vec<serde_json::Value>, String> {
    match value {
        serde_json::Value::Array(items) => Ok(items),
        serde_json::Value::Object(object) => match object.get("data") {
            Some(serde_json::Value::Array(items)) => Ok(items),
            _ => Err(
                "expected a list of {parent, child, callCount}, or {\"data\": [...]}".to_owned(),
            ),
        },
        _ => Err("expected a list of {parent, child, callCount}".to_owned()),
    }
}

/// What a dependency list says.
struct Read {
    /// Every pair between two distinct services.
    pairs: Vec<Pair>,
    /// Each service's name as the list spells it, by the name it became.
    originals: BTreeMap<String, String>,
    /// Names that collide, and self-calls left out.
    notes: Vec<String>,
}

fn read(list: &[serde_json::Value]) -> Result<Read, String> {
    let mut notes: Vec<String> = Vec::new();
    let mut edges: Vec<Pair> = Vec::new();
    let mut originals: BTreeMap<String, String> = BTreeMap::new();
    for (i, item) in list.iter().enumerate() {
        let field = |key: &str| item.get(key).and_then(serde_json::Value::as_str);
        let (Some(parent), Some(child)) = (field("parent"), field("child")) else {
            return Err(format!(
                "item {i}: expected string keys `parent` and `child`"
            ));
        };
        if parent.trim().is_empty() || child.trim().is_empty() {
            return Err(format!("item {i}: `parent` and `child` must not be empty"));
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
                if !notes.contains(&note) {
                    notes.push(note);
                }
                continue;
            }
            originals.insert(name.clone(), original.to_owned());
        }
        if p == c {
            notes.push(format!("{parent} calls itself ({count} calls): left out"));
            continue;
        }
        edges.push((p, c, count));
    }
    if originals.is_empty() {
        return Err("the dependency list is empty".to_owned());
    }
    Ok(Read {
        pairs: edges,
        originals,
        notes,
    })
}

/// A service per name, an entrypoint when nobody calls it.
fn add_services(pairs: &[Pair], originals: &BTreeMap<String, String>, topology: &mut Topology) {
    let children: BTreeSet<&String> = pairs.iter().map(|(_, c, _)| c).collect();
    for (service, original) in originals {
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
}

/// The calls, the busiest first, as a request would make them first in the trace.
fn add_calls(mut edges: Vec<Pair>, topology: &mut Topology) {
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
}
