//! A tracing system's dependency list to a topology: Jaeger's
//! `[{parent, child, callCount}]` (or `{"data": [...]}`, as its API answers), one call
//! per pair, the busiest first; the entrypoints are the services that are nobody's child.
//! Several lists merge into one graph. `callCount` orders a service's calls (the busiest
//! first) and picks the call a cycle loses (the least used); it is not a traffic mix.

use std::collections::{BTreeMap, BTreeSet};

use super::{ImportError, Service, Topology};
use crate::import::sanitize;

/// The topology of one or more dependency lists (file, text), merged: every service
/// they name, every call between two of them.
pub(super) fn topology(lists: &[&(String, String)]) -> Result<Topology, ImportError> {
    let mut merged = Read::default();
    for (file, text) in lists {
        let read = read_list(file, text)?;
        merged.pairs.extend(read.pairs);
        for (name, original) in read.originals {
            merged.originals.entry(name).or_insert(original);
        }
        merged.notes.extend(read.notes);
    }
    let mut topology = Topology {
        notes: merged.notes,
        ..Topology::default()
    };
    add_services(&merged.pairs, &merged.originals, &mut topology);
    add_calls(merged.pairs, &mut topology, "the trace window");
    Ok(topology)
}

/// What one dependency list (Jaeger's JSON) says.
pub(super) fn read_list(file: &str, text: &str) -> Result<Read, ImportError> {
    let error = |message: String| ImportError {
        source: file.to_owned(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| error(format!("not JSON: {err}")))?;
    read(list(&value).map_err(error)?).map_err(error)
}

/// One call as the list gives it: (parent, child, callCount), names sanitized.
pub(super) type Pair = (String, String, u64);

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
#[derive(Debug, Default)]
pub(super) struct Read {
    /// Every pair between two distinct services.
    pub(super) pairs: Vec<Pair>,
    /// Each service's name as the list spells it, by the name it became.
    pub(super) originals: BTreeMap<String, String>,
    /// Names that collide, and self-calls left out.
    pub(super) notes: Vec<String>,
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

/// The calls, the busiest first, as a request would make them first in the trace; after
/// the calls a service already has (from its manifests), and never twice. `whence` says
/// where the counts were seen.
pub(super) fn add_calls(mut edges: Vec<Pair>, topology: &mut Topology, whence: &str) {
    edges.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    for (parent, child, count) in edges {
        if let Some(service) = topology.services.get_mut(&parent)
            && !service.calls.iter().any(|(callee, _)| callee == &child)
        {
            service.counts.insert(child.clone(), count);
            service.calls.push((
                child,
                format!(
                    "{count} call{} in {whence}",
                    if count == 1 { "" } else { "s" }
                ),
            ));
        }
    }
}
