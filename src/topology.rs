//! The call graph of a scenario: which service versions call which (pure).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Change, Deployment, Scenario};

/// A service at a version: one node of the version call graph.
pub type ServiceVersion = (String, String);

/// Finds call cycles among the versions that can run: those in `initial` or `target`.
///
/// Any mix of initial and target versions can be running at once during some rollout, so
/// an edge goes from a version to every version of its callee that can run. Each cycle is
/// reported once, rotated to start at its smallest node; at most `limit` are returned.
pub fn version_cycles(scenario: &Scenario, limit: usize) -> Vec<Vec<ServiceVersion>> {
    let mut running: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for deployment in [&scenario.initial, &scenario.target] {
        for (service, version) in &deployment.0 {
            running.entry(service).or_default().insert(version);
        }
    }
    let nodes: Vec<(&str, &str)> = running
        .iter()
        .flat_map(|(service, versions)| versions.iter().map(move |version| (*service, *version)))
        .collect();
    let index: BTreeMap<(&str, &str), usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (*node, i))
        .collect();
    let edges: Vec<Vec<usize>> = nodes
        .iter()
        .map(|(service, version)| {
            let Some(definition) = scenario.version(service, version) else {
                return Vec::new();
            };
            let mut targets: Vec<usize> = definition
                .calls
                .iter()
                .flat_map(|call| {
                    let callee_versions = running.get(call.service.as_str()).into_iter().flatten();
                    callee_versions.filter_map(|callee_version| {
                        index
                            .get(&(call.service.as_str(), *callee_version))
                            .copied()
                    })
                })
                .collect();
            targets.sort_unstable();
            targets.dedup();
            targets
        })
        .collect();

    let cycles = find_cycles(&edges, limit);
    cycles
        .into_iter()
        .map(|cycle| {
            cycle
                .into_iter()
                .map(|i| (nodes[i].0.to_owned(), nodes[i].1.to_owned()))
                .collect()
        })
        .collect()
}

/// Cycles of a directed graph given as adjacency lists, found by an iterative depth-first
/// search (a scenario can have thousands of services, so no recursion). Each cycle is the
/// list of its nodes, rotated to start at its smallest; duplicates are dropped.
pub fn find_cycles(edges: &[Vec<usize>], limit: usize) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    let mut found: BTreeSet<Vec<usize>> = BTreeSet::new();
    for start in 0..edges.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Each frame is a node and the index of the next edge to follow.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnStack;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&target) = edges[node].get(*next) {
                *next += 1;
                match mark[target] {
                    Mark::New => {
                        mark[target] = Mark::OnStack;
                        stack.push((target, 0));
                    }
                    Mark::OnStack => {
                        let from = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|(n, _)| *n).collect();
                        let smallest = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, n)| **n)
                            .map_or(0, |(i, _)| i);
                        cycle.rotate_left(smallest);
                        found.insert(cycle);
                        if found.len() >= limit {
                            return found.into_iter().collect();
                        }
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    found.into_iter().collect()
}

/// The services that `service` at `version` reaches through calls in `deployment`,
/// passing only through services for which `pass_through` holds (the start is always
/// left). The result never contains `service` itself unless a path loops back to it.
pub fn reachable(
    scenario: &Scenario,
    deployment: &Deployment,
    service: &str,
    version: &str,
    pass_through: impl Fn(&str) -> bool,
) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut frontier: Vec<(String, String)> = vec![(service.to_owned(), version.to_owned())];
    while let Some((current, current_version)) = frontier.pop() {
        let Some(definition) = scenario.version(&current, &current_version) else {
            continue;
        };
        for call in &definition.calls {
            if !seen.insert(call.service.clone()) {
                continue;
            }
            if pass_through(&call.service)
                && let Some(callee_version) = deployment.version(&call.service)
            {
                frontier.push((call.service.clone(), callee_version.to_owned()));
            }
        }
    }
    seen
}

/// `changes` ordered so that a service comes before every service it can reach through
/// calls of the versions that can run (initial and target, any path); ties and anything
/// a loop leaves (none in a valid scenario) keep their order. The live run retires the
/// old replicas of a step in this order, so a request still inside an old caller never
/// meets a callee that has already moved on.
pub fn callers_first<'a>(scenario: &Scenario, changes: &'a [Change]) -> Vec<&'a Change> {
    let runnable = |service: &str| -> Vec<String> {
        [&scenario.initial, &scenario.target]
            .iter()
            .filter_map(|deployment| deployment.version(service).map(str::to_owned))
            .collect()
    };
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut frontier = vec![from.to_owned()];
        while let Some(service) = frontier.pop() {
            for version in runnable(&service) {
                for call in scenario
                    .version(&service, &version)
                    .into_iter()
                    .flat_map(|v| &v.calls)
                {
                    if seen.insert(call.service.clone()) {
                        frontier.push(call.service.clone());
                    }
                }
            }
        }
        seen
    };
    let reaches: Vec<BTreeSet<String>> = changes.iter().map(|c| reach(&c.service)).collect();
    let mut left: Vec<usize> = (0..changes.len()).collect();
    let mut order = Vec::with_capacity(changes.len());
    while !left.is_empty() {
        // The first change that no other remaining change reaches.
        let next = left
            .iter()
            .position(|&c| {
                !left
                    .iter()
                    .any(|&other| other != c && reaches[other].contains(&changes[c].service))
            })
            .unwrap_or(0);
        order.push(&changes[left.remove(next)]);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_retire_before_the_services_they_reach() {
        let scenario = crate::scenario::parse_str(
            "
name: chain
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: mid } ] }, v2: {} } }
  mid: { versions: { v1: { calls: [ { service: pricing } ] } } }
  pricing: { versions: { v1: {}, v2: {} } }
  other: { versions: { v1: {}, v2: {} } }
initial: { web: v1, mid: v1, pricing: v1, other: v1 }
target: { web: v2, pricing: none, other: v2 }
",
            std::path::Path::new("chain.yaml"),
        )
        .expect("valid");
        let changes = scenario.changes();
        let order: Vec<&str> = callers_first(&scenario, &changes)
            .iter()
            .map(|change| change.service.as_str())
            .collect();
        // web reaches pricing through the unchanged mid; other is independent.
        assert_eq!(order, ["other", "web", "pricing"]);
    }

    #[test]
    fn finds_each_cycle_once_rotated_to_smallest() {
        // 0 -> 1 -> 2 -> 0, and 3 -> 3.
        let edges = vec![vec![1], vec![2], vec![0], vec![3]];
        assert_eq!(find_cycles(&edges, 10), vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn acyclic_graph_has_no_cycles() {
        let edges = vec![vec![1, 2], vec![2], vec![]];
        assert!(find_cycles(&edges, 10).is_empty());
    }

    #[test]
    fn long_chain_needs_no_recursion() {
        let n = 200_000;
        let mut edges: Vec<Vec<usize>> = (0..n).map(|i| vec![i + 1]).collect();
        edges[n - 1] = vec![0];
        let cycles = find_cycles(&edges, 10);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].len(), n);
    }
}
