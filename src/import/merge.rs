//! A dependency list's calls merged into the services read from manifests.
//!
//! Names are matched in this order: a pairing the user gave (`--map TRACE=SERVICE`); the
//! same name, sanitized, as a scenario service; another name the service goes by in the
//! manifests (a workload's name, its `app` label, a Service in front of it). A name that
//! matches nothing is a service of its own (a database, a cache, an external API the
//! manifests do not run), and the notes list it.

use std::collections::BTreeMap;

use super::jaeger::{Pair, Read};
use super::{ImportError, Service, Topology, sanitize};

/// Adds the calls of `read` (from `file`) to `topology`; returns the names that matched
/// no service of the manifests.
pub(super) fn calls(
    topology: &mut Topology,
    read: Read,
    file: &str,
    names: &[(String, String)],
) -> Result<Vec<String>, ImportError> {
    let mut resolved: BTreeMap<String, String> = BTreeMap::new();
    let mut unmatched: Vec<String> = Vec::new();
    let mut matched: Vec<String> = Vec::new();
    for (name, original) in &read.originals {
        let by_hand = names
            .iter()
            .find(|(from, _)| from == original || sanitize(from) == *name);
        let service = if let Some((from, to)) = by_hand {
            let to = sanitize(to);
            if !topology.services.contains_key(&to) {
                return Err(ImportError {
                    source: format!("--map {from}={to}"),
                    message: format!("no service {to} in the manifests"),
                });
            }
            to
        } else if topology.services.contains_key(name) {
            name.clone()
        } else if let Some((service, how)) = topology.aliases.get(name) {
            matched.push(format!("\"{original}\" is {service} (its {how})"));
            service.clone()
        } else {
            unmatched.push(original.clone());
            topology.services.insert(
                name.clone(),
                Service {
                    origin: format!(
                        "\"{original}\" in {file}; no manifest matches it (a database, a cache, an external API?)"
                    ),
                    version: "v1".to_owned(),
                    version_origin: "a tracing system knows no versions; edit it".to_owned(),
                    ..Service::default()
                },
            );
            name.clone()
        };
        resolved.insert(name.clone(), service);
    }
    topology.notes.extend(read.notes);
    if !matched.is_empty() {
        topology.notes.push(format!(
            "{file}: names matched by another name of the service: {}",
            matched.join("; ")
        ));
    }
    if !unmatched.is_empty() {
        topology.notes.push(format!(
            "{file}: {} no manifest, each a service of its own: {} (pair one with a manifest's service: --map NAME=SERVICE)",
            if unmatched.len() == 1 { "1 name matches".to_owned() } else { format!("{} names match", unmatched.len()) },
            unmatched.join(", ")
        ));
    }
    let pairs: Vec<Pair> = read
        .pairs
        .into_iter()
        .filter_map(|(parent, child, count)| {
            let (parent, child) = (resolved.get(&parent)?, resolved.get(&child)?);
            (parent != child).then(|| (parent.clone(), child.clone(), count))
        })
        .collect();
    super::jaeger::add_calls(pairs, topology, file);
    Ok(unmatched)
}
