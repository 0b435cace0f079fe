//! The call graph of a scenario, and every order read off it (pure).
//!
//! Two algorithms serve every ordering in the crate: [`toposort`] (Kahn's, ties by the
//! smallest index, so by name wherever nodes are indexed in name order) and [`cycles`]
//! (an iterative depth-first search that names each loop). On them stand the
//! provider-first order of single-piece rollouts, the callers-first order in which a
//! step's old replicas retire, the callees-first order in which the evaluator visits
//! ports, and the layers of the safe-order planner's constraints.
//!
//! petgraph was considered and declined: its topological sorts do not break ties by name
//! (which every plan relies on to be deterministic and readable), and its strongly
//! connected components do not name one loop rotated to its smallest node, which the
//! loader's error message needs; both would have been wrapped in the same code as here.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Change, Deployment, Scenario, Service};

/// A service at a version, in one of its methods (`None`: the default one): one node of
/// the method call graph.
pub type MethodNode = (String, String, Option<String>);

/// Nodes `0..n` in an order where every edge `a -> b` has `a` before `b`; among the
/// nodes that are free to go, the smallest index goes first. `Err` holds the nodes that
/// could not be ordered (those on a loop and those after one), in index order.
pub fn toposort(n: usize, edges: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut incoming = vec![0usize; n];
    for targets in edges {
        for &target in targets {
            incoming[target] += 1;
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&node| incoming[node] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(node) = ready.pop_first() {
        order.push(node);
        for &target in edges.get(node).into_iter().flatten() {
            incoming[target] -= 1;
            if incoming[target] == 0 {
                ready.insert(target);
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        let placed: BTreeSet<usize> = order.into_iter().collect();
        Err((0..n).filter(|node| !placed.contains(node)).collect())
    }
}

/// Nodes `0..n` in as few layers as `edges` allow: each node one layer after the latest
/// node with an edge to it. `None` when the edges loop.
pub fn layers(n: usize, edges: &[Vec<usize>]) -> Option<Vec<Vec<usize>>> {
    let order = toposort(n, edges).ok()?;
    let mut depth = vec![0usize; n];
    for &node in &order {
        for &target in edges.get(node).into_iter().flatten() {
            depth[target] = depth[target].max(depth[node] + 1);
        }
    }
    let count = depth.iter().copied().max().map_or(0, |d| d + 1);
    let mut layers = vec![Vec::new(); count];
    for (node, &d) in depth.iter().enumerate() {
        layers[d].push(node);
    }
    Some(layers)
}

/// Cycles of a directed graph given as adjacency lists, found by an iterative depth-first
/// search (a scenario can have thousands of services, so no recursion). Each cycle is the
/// list of its nodes, rotated to start at its smallest; duplicates are dropped; at most
/// `limit` are returned.
pub fn cycles(edges: &[Vec<usize>], limit: usize) -> Vec<Vec<usize>> {
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

/// Finds call cycles among the versions that can run (`runnable`, see
/// [`crate::model::runnable_versions`]), along methods: a node is a (service, version,
/// method), so two services that call each other on different methods are no cycle.
///
/// Any mix of initial and target versions can be running at once during some rollout, so
/// a call goes from a method to the called method of every runnable version of its callee
/// that serves it (one that does not answers UNIMPLEMENTED and calls nothing). Fallback
/// calls are calls too; an asynchronous call is one as well, since its callee's calls
/// still come back. Each cycle is reported once, rotated to start at its smallest node; at
/// most `limit` are returned. It takes the parts of a scenario rather than a `Scenario`,
/// because the loader asks it before a valid `Scenario` exists.
pub fn version_cycles(
    services: &BTreeMap<String, Service>,
    runnable: &BTreeMap<&str, Vec<&str>>,
    limit: usize,
) -> Vec<Vec<MethodNode>> {
    let mut nodes: Vec<(&str, &str, Option<&str>)> = Vec::new();
    for (service, versions) in runnable {
        for version in versions {
            let Some(definition) = services
                .get(*service)
                .and_then(|service| service.versions.get(*version))
            else {
                continue;
            };
            for (method, _) in definition.all_methods() {
                nodes.push((service, version, method));
            }
        }
    }
    let index: BTreeMap<(&str, &str, Option<&str>), usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (*node, i))
        .collect();
    let edges: Vec<Vec<usize>> = nodes
        .iter()
        .map(|(service, version, method)| {
            let Some(work) = services
                .get(*service)
                .and_then(|service| service.versions.get(*version))
                .and_then(|definition| definition.method(*method))
            else {
                return Vec::new();
            };
            let mut targets: Vec<usize> = work
                .calls
                .iter()
                .flat_map(crate::model::Call::chain)
                .flat_map(|call| {
                    let callee_versions = runnable.get(call.service.as_str()).into_iter().flatten();
                    callee_versions.filter_map(|callee_version| {
                        index
                            .get(&(
                                call.service.as_str(),
                                *callee_version,
                                call.method.as_deref(),
                            ))
                            .copied()
                    })
                })
                .collect();
            targets.sort_unstable();
            targets.dedup();
            targets
        })
        .collect();
    cycles(&edges, limit)
        .into_iter()
        .map(|cycle| {
            cycle
                .into_iter()
                .map(|i| {
                    let (service, version, method) = nodes[i];
                    (
                        service.to_owned(),
                        version.to_owned(),
                        method.map(str::to_owned),
                    )
                })
                .collect()
        })
        .collect()
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
        for call in definition.every_call() {
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

/// Every change, one at a time, providers before their callers; ties by service name.
/// `Err` is a loop of services that wait for each other, caller first (`a -> b -> a`: a
/// waits for b, which waits for a); a valid scenario has none (see below).
///
/// "Provider" follows the calls of the *target* versions: if a changed service's target
/// version reaches another changed service (directly or through unchanged ones), that one
/// goes first, so a caller never moves to a version whose new dependency is not there yet.
/// A removed service goes after every changed service whose *initial* version calls it, so
/// callers stop calling it before it leaves.
///
/// Why a valid scenario always has this order: a removed service only ever waits (it
/// has no target version, so it calls nothing new), so a loop could only run through
/// provider edges, and those follow calls of target versions: a loop of them is a call
/// cycle among runnable versions, which the loader rejects.
pub fn providers_first(scenario: &Scenario) -> Result<Vec<Change>, Vec<String>> {
    let changes = scenario.changes();
    let position: BTreeMap<&str, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, change)| (change.service.as_str(), i))
        .collect();
    let removed = |service: &str| {
        position
            .get(service)
            .is_some_and(|&i| changes[i].to.is_none())
    };
    let unchanged = |service: &str| !position.contains_key(service);
    // waits_for[x]: the changes that must be deployed before change x.
    let mut waits_for: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); changes.len()];
    for (x, change) in changes.iter().enumerate() {
        if let Some(target_version) = &change.to {
            let reached = reachable(
                scenario,
                &scenario.target,
                &change.service,
                target_version,
                unchanged,
            );
            for provider in reached.iter().filter(|s| !removed(s)) {
                if let Some(&p) = position.get(provider.as_str())
                    && p != x
                {
                    waits_for[x].insert(p);
                }
            }
        }
        if let (Some(initial_version), Some(_)) = (&change.from, &change.to) {
            let reached = reachable(
                scenario,
                &scenario.initial,
                &change.service,
                initial_version,
                unchanged,
            );
            for gone in reached.iter().filter(|s| removed(s)) {
                if let Some(&g) = position.get(gone.as_str())
                    && g != x
                {
                    waits_for[g].insert(x);
                }
            }
        }
    }
    // Changes are indexed in name order, so the smallest free index is the first name.
    let mut goes_before: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (x, deps) in waits_for.iter().enumerate() {
        for &dep in deps {
            goes_before[dep].push(x);
        }
    }
    match toposort(changes.len(), &goes_before) {
        Ok(order) => Ok(order.into_iter().map(|i| changes[i].clone()).collect()),
        Err(_) => {
            let edges: Vec<Vec<usize>> = waits_for
                .iter()
                .map(|deps| deps.iter().copied().collect())
                .collect();
            let cycle = cycles(&edges, 1).into_iter().next().unwrap_or_default();
            let mut names: Vec<String> =
                cycle.iter().map(|&i| changes[i].service.clone()).collect();
            if let Some(first) = names.first().cloned() {
                names.push(first);
            }
            Err(names)
        }
    }
}

/// `changes` ordered so that a service comes before every service it can reach through
/// calls of the versions that can run (initial and target, any path); ties keep their
/// order. The live run retires the old replicas of a step in this order, so a request
/// still inside an old caller never meets a callee that has already moved on.
pub fn callers_first<'a>(scenario: &Scenario, changes: &'a [Change]) -> Vec<&'a Change> {
    let runnable = scenario.runnable();
    let reach = |from: &str| -> BTreeSet<&str> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut frontier = vec![from];
        while let Some(service) = frontier.pop() {
            for version in runnable.get(service).into_iter().flatten() {
                for call in scenario
                    .version(service, version)
                    .into_iter()
                    .flat_map(|v| v.every_call())
                {
                    if seen.insert(call.service.as_str()) {
                        frontier.push(call.service.as_str());
                    }
                }
            }
        }
        seen
    };
    let edges: Vec<Vec<usize>> = changes
        .iter()
        .map(|caller| {
            let reached = reach(&caller.service);
            (0..changes.len())
                .filter(|&callee| reached.contains(changes[callee].service.as_str()))
                .collect()
        })
        .collect();
    // A loop (none in a valid scenario) leaves its changes at the end, in their order.
    let order = toposort(changes.len(), &edges).unwrap_or_else(|stuck| {
        let placed: Vec<usize> = (0..changes.len()).filter(|c| !stuck.contains(c)).collect();
        placed.into_iter().chain(stuck).collect()
    });
    order.into_iter().map(|c| &changes[c]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_retire_before_the_services_they_reach() {
        let scenario = crate::scenario::inline(
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
        );
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
        assert_eq!(cycles(&edges, 10), vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn acyclic_graph_has_no_cycles() {
        let edges = vec![vec![1, 2], vec![2], vec![]];
        assert!(cycles(&edges, 10).is_empty());
    }

    #[test]
    fn long_chain_needs_no_recursion() {
        let n = 200_000;
        let mut edges: Vec<Vec<usize>> = (0..n).map(|i| vec![i + 1]).collect();
        edges[n - 1] = vec![0];
        let found = cycles(&edges, 10);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), n);
    }

    #[test]
    fn toposort_breaks_ties_by_index_and_names_what_a_loop_leaves() {
        // 3 -> 1, 2 -> 0: free at first are 2 and 3; 2 goes first.
        let edges = vec![vec![], vec![], vec![0], vec![1]];
        assert_eq!(toposort(4, &edges), Ok(vec![2, 0, 3, 1]));
        // 0 -> 1 -> 0, 2 free: 2 is placed, 0 and 1 are not.
        let looped = vec![vec![1], vec![0], vec![]];
        assert_eq!(toposort(3, &looped), Err(vec![0, 1]));
    }

    #[test]
    fn layers_follow_the_longest_chain() {
        // 0 -> 1 -> 2 and 0 -> 2, 3 alone: [0, 3], [1], [2].
        let edges = vec![vec![1, 2], vec![2], vec![], vec![]];
        assert_eq!(layers(4, &edges), Some(vec![vec![0, 3], vec![1], vec![2]]));
        assert_eq!(layers(2, &[vec![1], vec![0]]), None);
    }
}
