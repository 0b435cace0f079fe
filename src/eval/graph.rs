//! The scenario compiled for fast evaluation, and the evaluation of one state (pure).
//!
//! A state says, for every service, which of its runnable versions serve (none, one, or
//! both while it rolls) and which caller -> callee pairs are partitioned. Evaluating a
//! state predicts, for every entrypoint, the worst outcome any entry request can meet in
//! it, following the runtime's rules:
//! - a call to a service with no serving version fails (UNAVAILABLE);
//! - a call to an API version that some serving version does not provide fails
//!   (UNIMPLEMENTED): a request can land on that version;
//! - a service with several serving versions makes the calls of each;
//! - a failed call fails the caller (`fail`) or degrades it (`degrade`); a degraded answer
//!   degrades the caller;
//! - a call behind a flag is made only when the flag is on for some request: at a percent
//!   between 0 and 100 the flag is both on and off (a mixed state, like a rolling step),
//!   and the worst case is the side where the call is made.
//!
//! Latency, timeouts and error_rate are not modelled: the check is about what is deployed.
//!
//! Invariant: the versions that can run (initial and target) have no call cycle (the
//! scenario is valid), so the ports, ordered callees first, are evaluated in one pass.

use std::collections::BTreeMap;

use crate::model::{Change, Deployment, Flags, OnFailure, Scenario};
use crate::topology;

/// How an entry request, or a call, ends in the worst case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Degraded,
    Failed,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Degraded => "degraded",
            Level::Failed => "failed",
        }
    }
}

/// Why an edge is broken.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Break {
    /// No version of the callee serves.
    NotServing,
    /// A serving version of the callee does not provide the API.
    NoApi { version: String },
    /// The caller is partitioned from the callee.
    Partitioned,
}

impl Break {
    /// The gRPC code the runtime gives a call over an edge broken this way.
    pub fn code(&self) -> &'static str {
        match self {
            Break::NoApi { .. } => "UNIMPLEMENTED",
            Break::NotServing | Break::Partitioned => "UNAVAILABLE",
        }
    }
}

/// A broken edge: `caller` (`None` for the load generator) calling `callee` at API `api`.
/// Named, so that a result outlives the graph it was found in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrokenEdge {
    pub caller: Option<String>,
    pub callee: String,
    pub api: String,
    pub why: Break,
    /// The flag the call is behind, when it is.
    pub flag: Option<String>,
}

/// The worst outcome of an entrypoint, and the path to the edge that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    pub level: Level,
    /// From the entrypoint down: (service, version) of each hop before the broken edge.
    pub path: Vec<(String, String)>,
    pub edge: Option<BrokenEdge>,
}

/// One (service, API) that something calls: the unit of evaluation.
#[derive(Debug, Clone)]
struct Port {
    service: usize,
    api: usize,
    /// Per runnable version of the service: does it provide the API.
    provided_by: Vec<bool>,
}

/// A call of one runnable version.
#[derive(Debug, Clone, Copy)]
struct Call {
    port: usize,
    callee: usize,
    fail: bool,
    /// The slot of the flag the call is behind (see [`State`]).
    flag: Option<usize>,
}

/// A flag's slot value when it is off for every request.
pub const FLAG_OFF: u8 = 1;
/// A flag's slot value when it is on for every request.
pub const FLAG_ON: u8 = 2;

/// A state: one slot per service, the serving versions (a bit per runnable version), then
/// one slot per flag ([`FLAG_OFF`], [`FLAG_ON`], or both bits when the flag is at a
/// percent between: some requests see it on, others off); and the partitioned
/// caller -> callee pairs. Flags share the slot vector with services so that the
/// planners and the state-space walk treat a release like any other change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct State {
    pub serving: Vec<u8>,
    pub cut: Vec<(usize, usize)>,
}

/// The scenario, compiled.
#[derive(Debug, Clone)]
pub struct Graph {
    pub services: Vec<String>,
    index: BTreeMap<String, usize>,
    /// Per service, its runnable versions (those in initial or target), sorted.
    pub versions: Vec<Vec<String>>,
    pub apis: Vec<String>,
    ports: Vec<Port>,
    /// Port indices, callees before callers.
    order: Vec<usize>,
    /// Per service, per runnable version: its calls in order.
    calls: Vec<Vec<Vec<Call>>>,
    /// Per entrypoint: (service, port).
    pub entries: Vec<(usize, usize)>,
    /// Flag names, in the order of `flags:`; flag `f` is slot `services.len() + f`.
    pub flags: Vec<String>,
}

impl Graph {
    pub fn new(scenario: &Scenario) -> Graph {
        let services: Vec<String> = scenario.services.keys().cloned().collect();
        let index: BTreeMap<String, usize> = services
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i))
            .collect();
        let runnable = scenario.runnable();
        let versions: Vec<Vec<String>> = services
            .iter()
            .map(|name| {
                runnable
                    .get(name.as_str())
                    .into_iter()
                    .flatten()
                    .map(|version| (*version).to_owned())
                    .collect()
            })
            .collect();
        let entry_services: Vec<usize> = scenario
            .entrypoints()
            .filter_map(|service| index.get(&service.name).copied())
            .collect();
        // Every API name that is called, by a runnable version or by the load.
        let mut apis: Vec<String> = Vec::new();
        let mut note_api = |name: &str| {
            if !apis.iter().any(|a| a == name) {
                apis.push(name.to_owned());
            }
        };
        for (s, name) in services.iter().enumerate() {
            for version in &versions[s] {
                for call in scenario
                    .version(name, version)
                    .into_iter()
                    .flat_map(|v| &v.calls)
                {
                    note_api(&call.api);
                }
            }
        }
        for &s in &entry_services {
            note_api(&scenario.entry_api(&services[s]));
        }
        let api_of = |name: &str| apis.iter().position(|a| a == name).unwrap_or(0);
        let mut ports: Vec<Port> = Vec::new();
        let mut port_of: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        let mut port = |service: usize, api: usize| -> usize {
            *port_of.entry((service, api)).or_insert_with(|| {
                let name = &services[service];
                let provided_by = versions[service]
                    .iter()
                    .map(|version| {
                        scenario
                            .version(name, version)
                            .is_some_and(|v| v.provides(&apis[api]))
                    })
                    .collect();
                ports.push(Port {
                    service,
                    api,
                    provided_by,
                });
                ports.len() - 1
            })
        };
        let flags: Vec<String> = scenario
            .flags
            .iter()
            .map(|flag| flag.name.clone())
            .collect();
        let flag_slot = |name: &str| {
            flags
                .iter()
                .position(|flag| flag == name)
                .map(|f| services.len() + f)
        };
        let mut calls: Vec<Vec<Vec<Call>>> = Vec::with_capacity(services.len());
        for (s, name) in services.iter().enumerate() {
            let mut per_version = Vec::new();
            for version in &versions[s] {
                let mut list = Vec::new();
                if let Some(definition) = scenario.version(name, version) {
                    for call in &definition.calls {
                        let Some(&callee) = index.get(&call.service) else {
                            continue;
                        };
                        let api = api_of(&call.api);
                        list.push(Call {
                            port: port(callee, api),
                            callee,
                            fail: call.on_failure == OnFailure::Fail,
                            flag: call.flag.as_deref().and_then(flag_slot),
                        });
                    }
                }
                per_version.push(list);
            }
            calls.push(per_version);
        }
        let entries: Vec<(usize, usize)> = entry_services
            .iter()
            .map(|&s| {
                let api = api_of(&scenario.entry_api(&services[s]));
                (s, port(s, api))
            })
            .collect();
        let order = callees_first(&ports, &calls);
        Graph {
            services,
            index,
            versions,
            apis,
            ports,
            order,
            calls,
            entries,
            flags,
        }
    }

    /// The service name of entrypoint `entry` (an index into `entries`).
    pub fn entry_name(&self, entry: usize) -> &str {
        &self.services[self.entries[entry].0]
    }

    /// Every entrypoint's service name, in `entries` order.
    pub fn entry_names(&self) -> Vec<String> {
        (0..self.entries.len())
            .map(|entry| self.entry_name(entry).to_owned())
            .collect()
    }

    /// How much work one evaluation is: the number of (service, API) ports.
    pub fn ports(&self) -> usize {
        self.ports.len()
    }

    pub fn service(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The serving mask of `service` at `version`: its bit among the service's runnable
    /// versions; 0 for `None` (not deployed) or a version that is not one of them.
    pub fn mask(&self, service: usize, version: Option<&str>) -> u8 {
        version
            .and_then(|version| self.versions[service].iter().position(|v| v == version))
            .map_or(0, |i| 1 << i)
    }

    /// `state` after `change` is complete: the service serves its new version (or nothing).
    pub fn apply(&self, state: &mut State, change: &Change) {
        if let Some(s) = self.service(&change.service) {
            state.serving[s] = self.mask(s, change.to.as_deref());
        }
    }

    /// The settled state of a deployment with `flags`: each deployed service serves its
    /// one version.
    pub fn settled(&self, deployment: &Deployment, flags: &Flags) -> State {
        let serving = self
            .services
            .iter()
            .enumerate()
            .map(|(s, name)| self.mask(s, deployment.version(name)))
            .chain(self.flags.iter().map(|flag| flag_mask(flags.share(flag))))
            .collect();
        State {
            serving,
            cut: Vec::new(),
        }
    }

    /// `state` with its flag slots set from `flags`.
    pub fn set_flags(&self, state: &mut State, flags: &Flags) {
        for (f, flag) in self.flags.iter().enumerate() {
            state.serving[self.services.len() + f] = flag_mask(flags.share(flag));
        }
    }

    /// The slot of flag `name` in a state.
    pub fn flag_slot(&self, name: &str) -> Option<usize> {
        let f = self.flags.iter().position(|flag| flag == name)?;
        Some(self.services.len() + f)
    }

    /// The flags that are on for some request in `state`, with their slot value.
    pub fn flags_on(&self, state: &State) -> Vec<(&str, u8)> {
        self.flags
            .iter()
            .enumerate()
            .map(|(f, flag)| (flag.as_str(), state.serving[self.services.len() + f]))
            .filter(|(_, mask)| mask & FLAG_ON != 0)
            .collect()
    }

    /// False when `call` is behind a flag that is off for every request in `state`.
    fn made(call: &Call, state: &State) -> bool {
        call.flag
            .is_none_or(|slot| state.serving[slot] & FLAG_ON != 0)
    }

    /// The worst level of every entrypoint in `state`. `scratch` is reused between calls
    /// (one slot per port) so that sweeping millions of states allocates nothing.
    pub fn levels(&self, state: &State, scratch: &mut Vec<Level>, out: &mut Vec<Level>) {
        scratch.clear();
        scratch.resize(self.ports.len(), Level::Ok);
        for &p in &self.order {
            scratch[p] = self.port_level(p, state, scratch);
        }
        out.clear();
        out.extend(self.entries.iter().map(|&(_, port)| scratch[port]));
    }

    /// The worst level over every entrypoint.
    pub fn worst(&self, state: &State, scratch: &mut Vec<Level>, out: &mut Vec<Level>) -> Level {
        self.levels(state, scratch, out);
        out.iter().copied().max().unwrap_or(Level::Ok)
    }

    fn port_level(&self, p: usize, state: &State, done: &[Level]) -> Level {
        let port = &self.ports[p];
        let mask = state.serving[port.service];
        if mask == 0 {
            return Level::Failed;
        }
        let mut worst = Level::Ok;
        for (v, provided) in port.provided_by.iter().enumerate() {
            if mask & (1 << v) == 0 {
                continue;
            }
            if !provided {
                return Level::Failed;
            }
            for call in &self.calls[port.service][v] {
                if !Self::made(call, state) {
                    continue;
                }
                let reached = if state.cut.contains(&(port.service, call.callee)) {
                    Level::Failed
                } else {
                    done[call.port]
                };
                let effect = effect(reached, call.fail);
                if effect == Level::Failed {
                    return Level::Failed;
                }
                worst = worst.max(effect);
            }
        }
        worst
    }

    /// Every entrypoint's prediction in `state`, with the path to the edge that causes
    /// its level (the first such edge in call order, over versions in name order).
    pub fn explain(&self, state: &State) -> Vec<Prediction> {
        let mut scratch = Vec::new();
        let mut levels = Vec::new();
        self.levels(state, &mut scratch, &mut levels);
        self.entries
            .iter()
            .zip(levels)
            .map(|(&(_, port), level)| {
                let mut path = Vec::new();
                let edge = if level == Level::Ok {
                    None
                } else {
                    self.trace(port, None, level, state, &scratch, &mut path)
                };
                Prediction { level, path, edge }
            })
            .collect()
    }

    /// Follows the calls from `port` to an edge that explains `level`.
    fn trace(
        &self,
        p: usize,
        caller: Option<usize>,
        level: Level,
        state: &State,
        done: &[Level],
        path: &mut Vec<(String, String)>,
    ) -> Option<BrokenEdge> {
        let port = &self.ports[p];
        let mask = state.serving[port.service];
        if mask == 0 {
            return Some(self.broken(caller, port.service, port.api, Break::NotServing));
        }
        for (v, provided) in port.provided_by.iter().enumerate() {
            if mask & (1 << v) != 0 && !provided {
                let version = self.versions[port.service][v].clone();
                return Some(self.broken(caller, port.service, port.api, Break::NoApi { version }));
            }
        }
        for v in 0..port.provided_by.len() {
            if mask & (1 << v) == 0 {
                continue;
            }
            for call in &self.calls[port.service][v] {
                if !Self::made(call, state) {
                    continue;
                }
                let cut = state.cut.contains(&(port.service, call.callee));
                let reached = if cut { Level::Failed } else { done[call.port] };
                if effect(reached, call.fail) != level {
                    continue;
                }
                path.push((
                    self.services[port.service].clone(),
                    self.versions[port.service][v].clone(),
                ));
                if cut {
                    let api = self.ports[call.port].api;
                    let edge =
                        self.broken(Some(port.service), call.callee, api, Break::Partitioned);
                    return Some(self.behind(edge, call));
                }
                // The callee's own level is what made this call fail or degrade.
                let below =
                    self.trace(call.port, Some(port.service), reached, state, done, path)?;
                // The edge is reached behind the flag nearest to it on the path.
                return Some(if below.flag.is_none() {
                    self.behind(below, call)
                } else {
                    below
                });
            }
        }
        None
    }

    fn broken(&self, caller: Option<usize>, callee: usize, api: usize, why: Break) -> BrokenEdge {
        BrokenEdge {
            caller: caller.map(|c| self.services[c].clone()),
            callee: self.services[callee].clone(),
            api: self.apis[api].clone(),
            why,
            flag: None,
        }
    }

    /// `edge`, named as behind `call`'s flag.
    fn behind(&self, mut edge: BrokenEdge, call: &Call) -> BrokenEdge {
        if let Some(slot) = call.flag {
            edge.flag = Some(self.flags[slot - self.services.len()].clone());
        }
        edge
    }

    /// The versions of `service` that serve in `state`, in name order (empty: none).
    pub fn serving(&self, state: &State, service: usize) -> Vec<&str> {
        self.versions[service]
            .iter()
            .enumerate()
            .filter(|(v, _)| state.serving[service] & (1 << v) != 0)
            .map(|(_, name)| name.as_str())
            .collect()
    }

    /// Every broken edge of `state`, with the caller's version: a serving version's call
    /// to a service with no serving version, to an API that some serving version lacks,
    /// or across a partition; whether or not its failure reaches an entrypoint.
    pub fn broken_edges(&self, state: &State) -> Vec<(String, BrokenEdge)> {
        let mut found = Vec::new();
        for (s, versions) in self.calls.iter().enumerate() {
            for (v, calls) in versions.iter().enumerate() {
                if state.serving[s] & (1 << v) == 0 {
                    continue;
                }
                for call in calls {
                    if !Self::made(call, state) {
                        continue;
                    }
                    let port = &self.ports[call.port];
                    let mask = state.serving[call.callee];
                    let why = if state.cut.contains(&(s, call.callee)) {
                        Some(Break::Partitioned)
                    } else if mask == 0 {
                        Some(Break::NotServing)
                    } else {
                        port.provided_by
                            .iter()
                            .enumerate()
                            .find(|(w, provided)| mask & (1 << w) != 0 && !**provided)
                            .map(|(w, _)| Break::NoApi {
                                version: self.versions[call.callee][w].clone(),
                            })
                    };
                    if let Some(why) = why {
                        let edge = self.broken(Some(s), call.callee, port.api, why);
                        found.push((self.versions[s][v].clone(), self.behind(edge, call)));
                    }
                }
            }
        }
        found
    }
}

/// The slot value of a flag on for `share` percent of requests.
pub fn flag_mask(share: u8) -> u8 {
    match share {
        0 => FLAG_OFF,
        100.. => FLAG_ON,
        _ => FLAG_OFF | FLAG_ON,
    }
}

/// What a call that reached `reached` does to its caller: a failed required call fails
/// it, a failed optional call or a degraded answer degrades it.
fn effect(reached: Level, fail: bool) -> Level {
    match (reached, fail) {
        (Level::Failed, true) => Level::Failed,
        (Level::Failed, false) | (Level::Degraded, _) => Level::Degraded,
        (Level::Ok, _) => Level::Ok,
    }
}

/// Ports ordered so that every port comes after the ports its service's versions call:
/// the reverse of a topological order of the calls between ports. The versions that can
/// run have no call cycle (module invariant); were there one, its ports would go last.
fn callees_first(ports: &[Port], calls: &[Vec<Vec<Call>>]) -> Vec<usize> {
    let edges: Vec<Vec<usize>> = ports
        .iter()
        .map(|port| {
            let mut called: Vec<usize> = calls[port.service]
                .iter()
                .flatten()
                .map(|call| call.port)
                .collect();
            called.sort_unstable();
            called.dedup();
            called
        })
        .collect();
    let mut order = topology::toposort(ports.len(), &edges).unwrap_or_else(|stuck| {
        let placed: Vec<usize> = (0..ports.len()).filter(|p| !stuck.contains(p)).collect();
        stuck.into_iter().chain(placed).collect()
    });
    order.reverse();
    order
}
