//! Which imported services are entrypoints, each for a reason the summary repeats.
//!
//! In order: the services the user names (`--entrypoint`), and only they; else the
//! Services exposed outside the cluster (LoadBalancer, NodePort, an Ingress backend),
//! leaving out one that calls nothing while another exposed one calls something (a
//! tracing agent's or a dashboard's port, not the application's); else, with nothing
//! exposed, the services nothing calls that call others; else, when no call is known
//! at all, the services whose names read like a front door; else every service nothing
//! calls.

use std::collections::BTreeSet;

use super::{ImportError, Topology, sanitize};

/// Words in a service's name that make it a likely front door when nothing else tells.
const FRONT_WORDS: [&str; 7] = [
    "frontend",
    "front-end",
    "gateway",
    "web",
    "ui",
    "nginx",
    "edge",
];

pub(super) fn choose(topology: &mut Topology, named: &[String]) -> Result<(), ImportError> {
    if !named.is_empty() {
        return by_hand(topology, named);
    }
    let exposed: Vec<String> = topology
        .services
        .iter()
        .filter(|(_, service)| service.entrypoint.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    if !exposed.is_empty() {
        let calling = |name: &String| !topology.services[name].calls.is_empty();
        if exposed.iter().any(calling) {
            let idle: Vec<String> = exposed.iter().filter(|n| !calling(n)).cloned().collect();
            for name in &idle {
                if let Some(service) = topology.services.get_mut(name) {
                    service.entrypoint = None;
                }
            }
            if !idle.is_empty() {
                topology.notes.push(format!(
                    "exposed but calling nothing, so not entrypoints (a tool's UI or agent?): {}; name one with --entrypoint to make it one",
                    idle.join(", ")
                ));
            }
        }
        return Ok(());
    }
    let called: BTreeSet<String> = topology
        .services
        .values()
        .flat_map(|s| s.calls.iter().map(|(c, _)| c.clone()))
        .collect();
    let roots: Vec<String> = topology
        .services
        .keys()
        .filter(|name| !called.contains(*name))
        .cloned()
        .collect();
    let calling_roots: Vec<String> = roots
        .iter()
        .filter(|name| !topology.services[*name].calls.is_empty())
        .cloned()
        .collect();
    let fronts: Vec<String> = roots
        .iter()
        .filter(|name| FRONT_WORDS.iter().any(|word| name.contains(word)))
        .cloned()
        .collect();
    let (chosen, why) = if !calling_roots.is_empty() {
        (
            calling_roots,
            "nothing calls it, and it calls others (no LoadBalancer, NodePort or Ingress found)",
        )
    } else if called.is_empty() && !fronts.is_empty() {
        topology.notes.push(
            "no call is known and nothing is exposed: entrypoints guessed by name; name them with --entrypoint".to_owned(),
        );
        (fronts, "no call is known; its name reads like a front door")
    } else if !roots.is_empty() {
        (
            roots,
            "nothing calls it (no LoadBalancer, NodePort or Ingress found)",
        )
    } else {
        let first = topology.services.keys().next().cloned();
        (
            first.into_iter().collect(),
            "every service is called (a cycle): the first by name",
        )
    };
    for name in chosen {
        if let Some(service) = topology.services.get_mut(&name) {
            service.entrypoint = Some(why.to_owned());
        }
    }
    Ok(())
}

/// The entrypoints the user named, by a service's name or another name it goes by.
fn by_hand(topology: &mut Topology, named: &[String]) -> Result<(), ImportError> {
    let mut chosen = Vec::new();
    for name in named {
        let sanitized = sanitize(name);
        let service = if topology.services.contains_key(&sanitized) {
            sanitized
        } else if let Some((service, _)) = topology.aliases.get(&sanitized) {
            service.clone()
        } else {
            let known: Vec<&str> = topology
                .services
                .keys()
                .map(String::as_str)
                .take(12)
                .collect();
            return Err(ImportError {
                source: format!("--entrypoint {name}"),
                message: format!(
                    "no such service; the services are {}{}",
                    known.join(", "),
                    if topology.services.len() > known.len() {
                        ", ..."
                    } else {
                        ""
                    }
                ),
            });
        };
        chosen.push(service);
    }
    for service in topology.services.values_mut() {
        service.entrypoint = None;
    }
    for name in chosen {
        if let Some(service) = topology.services.get_mut(&name) {
            service.entrypoint = Some("named with --entrypoint".to_owned());
        }
    }
    Ok(())
}
