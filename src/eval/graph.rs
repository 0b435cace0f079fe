//! The scenario compiled for fast evaluation, and the evaluation of one state (pure).
//!
//! A state says, for every service, which of its runnable versions serve (none, one, or
//! both while it rolls) and which caller -> callee pairs are partitioned. Evaluating a
//! state finds, for every entrypoint, the outcomes an entry request can have in it (the
//! worst is what `check` predicts), following the runtime's rules:
//! - a call to a service with no serving version fails (UNAVAILABLE);
//! - a call to an API version or a method that some serving version does not serve fails
//!   (UNIMPLEMENTED): a request can land on that version;
//! - a service with several serving versions makes the calls of each;
//! - calls are made in order, and a call that fails its caller ends the request, so a
//!   later call's failure code is only possible when every earlier call can succeed;
//! - a failed call's rule for its code (`on_failure`) decides: `fail` passes the code up,
//!   `degrade` degrades the caller, `ignore` leaves it ok; under `degrade` or `ignore` a
//!   `fallback` call is made, and its own outcome (after its own rule) is the call's, a
//!   fallback that answers giving the rule's level; a degraded answer degrades the caller;
//! - an asynchronous call never changes its caller's answer;
//! - a call behind a flag is made only when the flag is on for some request: at a percent
//!   between 0 and 100 the flag is both on and off (a mixed state, like a rolling step),
//!   but the same for the whole of one request (one user): the state is evaluated once
//!   per on/off assignment of its mixed flags and the outcomes united;
//! - an entrypoint's requests go to every method of its mix.
//!
//! Latency, timeouts and error_rate are not modelled (so DEADLINE_EXCEEDED and INTERNAL
//! never arise here): the check is about what is deployed.
//!
//! Invariant: the methods of the versions that can run (initial and target) have no call
//! cycle (the scenario is valid), so the ports, ordered callees first, are evaluated in
//! one pass.

use std::collections::BTreeMap;

use crate::model::{Action, Change, Deployment, FailCode, Flags, Scenario};
use crate::topology;

/// How an entry request, or a call, ends in the worst case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Degraded,
    Failed,
}

/// Why an edge is broken.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Break {
    /// No version of the callee serves.
    NotServing,
    /// A serving version of the callee does not provide the API.
    NoApi { version: String },
    /// A serving version of the callee provides the API but not the method.
    NoMethod { version: String },
    /// The caller is partitioned from the callee.
    Partitioned,
}

impl Break {
    /// The gRPC code the runtime gives a call over an edge broken this way.
    pub fn code(&self) -> &'static str {
        match self {
            Break::NoApi { .. } | Break::NoMethod { .. } => "UNIMPLEMENTED",
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
    /// The callee's method; `None`: its default one.
    pub method: Option<String>,
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
    /// Boxed: a prediction is kept per entrypoint and state, and most have no broken
    /// edge, so its weight is paid only where there is one.
    pub edge: Option<Box<BrokenEdge>>,
}

/// The outcomes a request (or a call) can have, as bits: it can answer ok, answer
/// degraded, or fail with each code the evaluator knows.
pub type Outcomes = u8;
pub const OK: Outcomes = 1;
pub const DEGRADED: Outcomes = 2;
pub const UNAVAILABLE: Outcomes = 4;
pub const UNIMPLEMENTED: Outcomes = 8;
const FAILED: Outcomes = UNAVAILABLE | UNIMPLEMENTED;
/// The failure bits with the code each stands for, in [`FailCode`] order.
const FAIL_BITS: [(Outcomes, FailCode); 2] = [
    (UNAVAILABLE, FailCode::Unavailable),
    (UNIMPLEMENTED, FailCode::Unimplemented),
];

/// The worst of `outcomes`.
pub fn worst_of(outcomes: Outcomes) -> Level {
    if outcomes & FAILED != 0 {
        Level::Failed
    } else if outcomes & DEGRADED != 0 {
        Level::Degraded
    } else {
        Level::Ok
    }
}

/// One (service, API version, method) that something calls: the unit of evaluation.
#[derive(Debug, Clone)]
struct Port {
    service: usize,
    api: usize,
    /// `None`: the default method.
    method: Option<String>,
    /// Per runnable version of the service: does it serve the API and the method.
    provided_by: Vec<bool>,
    /// Per runnable version: does it serve the API (whatever the method).
    api_by: Vec<bool>,
    /// Per runnable version: the method's calls in order (an empty list where the
    /// version does not serve the port).
    calls: Vec<Vec<Call>>,
}

/// A call of one method of one runnable version.
#[derive(Debug, Clone)]
struct Call {
    port: usize,
    callee: usize,
    /// The action per failure code (UNAVAILABLE, UNIMPLEMENTED).
    actions: [Action; 2],
    /// The slot of the flag the call is behind (see [`State`]).
    flag: Option<usize>,
    /// The call made when this one fails and its action is not `fail`.
    fallback: Option<Box<Call>>,
    asynchronous: bool,
}

/// The most flags at a partial percent a state is split by, one evaluation per on/off
/// assignment (2^8 = 256 at most); past it, each call takes such a flag as both on and
/// off by itself (a superset of the outcomes).
pub const MAX_SPLIT_FLAGS: usize = 8;

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
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub services: Vec<String>,
    index: BTreeMap<String, usize>,
    /// Per service, its runnable versions (those in initial or target), sorted.
    pub versions: Vec<Vec<String>>,
    pub apis: Vec<String>,
    ports: Vec<Port>,
    /// Port indices, callees before callers.
    order: Vec<usize>,
    /// Per service, per runnable version: every call of every method, fallbacks
    /// included, for the list of broken edges.
    edges: Vec<Vec<Vec<Call>>>,
    /// Some call is asynchronous or ignores a failure (see [`Graph::swallowed_broken`]).
    any_swallowing: bool,
    /// Per entrypoint: (service, port of the first method of its mix).
    pub entries: Vec<(usize, usize)>,
    /// Per entrypoint: the port of each method its load calls.
    entry_ports: Vec<Vec<usize>>,
    /// Per entrypoint: the name of each method of its mix (`default` for its own calls),
    /// in `entry_ports` order.
    pub entry_methods: Vec<Vec<String>>,
    /// Flag names, in the order of `flags:`; flag `f` is slot `services.len() + f`.
    pub flags: Vec<String>,
}

/// The key of a port: (service, API version, method).
type PortKey = (usize, String, Option<String>);

/// What `Graph::new` builds its passes on: the scenario's names as indices.
struct Compiler<'a> {
    scenario: &'a Scenario,
    services: Vec<String>,
    index: BTreeMap<String, usize>,
    versions: Vec<Vec<String>>,
    flags: Vec<String>,
    /// Every port that is called, in the order first called, with its index.
    wanted: Vec<PortKey>,
    port_of: BTreeMap<PortKey, usize>,
}

impl<'a> Compiler<'a> {
    /// The services, each one's runnable versions, and the flags, as indices.
    fn new(scenario: &'a Scenario) -> Compiler<'a> {
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
        let flags = scenario
            .flags
            .iter()
            .map(|flag| flag.name.clone())
            .collect();
        Compiler {
            scenario,
            services,
            index,
            versions,
            flags,
            wanted: Vec::new(),
            port_of: BTreeMap::new(),
        }
    }

    fn definition(&self, s: usize, v: usize) -> Option<&'a crate::model::Version> {
        self.scenario
            .version(&self.services[s], &self.versions[s][v])
    }

    fn entry_services(&self) -> Vec<usize> {
        self.scenario
            .entrypoints()
            .filter_map(|service| self.index.get(&service.name).copied())
            .collect()
    }

    fn want(&mut self, key: PortKey) {
        if !self.port_of.contains_key(&key) {
            self.port_of.insert(key.clone(), self.wanted.len());
            self.wanted.push(key);
        }
    }

    /// Pass 1: every port that is called, by a runnable version or by the load.
    fn want_ports(&mut self) {
        for s in 0..self.services.len() {
            for v in 0..self.versions[s].len() {
                let calls: Vec<PortKey> = self
                    .definition(s, v)
                    .into_iter()
                    .flat_map(|v| v.every_call())
                    .filter_map(|call| {
                        let callee = *self.index.get(&call.service)?;
                        Some((callee, call.api.clone(), call.method.clone()))
                    })
                    .collect();
                for key in calls {
                    self.want(key);
                }
            }
        }
        for s in self.entry_services() {
            let api = self.scenario.entry_api(&self.services[s]);
            for (method, _) in self.scenario.load.mix_of(&self.services[s]) {
                self.want((s, api.clone(), method));
            }
        }
    }

    /// A call as ports and slots; `None` when it reaches no port (its callee is not
    /// runnable).
    fn compile(&self, call: &crate::model::Call) -> Option<Call> {
        let callee = *self.index.get(&call.service)?;
        let port = *self
            .port_of
            .get(&(callee, call.api.clone(), call.method.clone()))?;
        let fallback = match &call.fallback {
            Some(fallback) => Some(Box::new(self.compile(fallback)?)),
            None => None,
        };
        let flag = call.flag.as_deref().and_then(|name| {
            self.flags
                .iter()
                .position(|flag| flag == name)
                .map(|f| self.services.len() + f)
        });
        Some(Call {
            port,
            callee,
            actions: FAIL_BITS.map(|(_, code)| call.on_failure.action(Some(code))),
            flag,
            fallback,
            asynchronous: call.asynchronous,
        })
    }

    /// Pass 2: each port with, per runnable version, whether it serves the port and the
    /// calls it makes there.
    fn ports(&self, apis: &[String]) -> Vec<Port> {
        let api_of = |name: &str| apis.iter().position(|a| a == name).unwrap_or(0);
        self.wanted
            .iter()
            .map(|(s, api, method)| {
                let mut provided_by = Vec::new();
                let mut api_by = Vec::new();
                let mut calls = Vec::new();
                for v in 0..self.versions[*s].len() {
                    let serves = self
                        .definition(*s, v)
                        .filter(|version| version.provides(api));
                    api_by.push(serves.is_some());
                    let work = serves.and_then(|version| version.method(method.as_deref()));
                    provided_by.push(work.is_some());
                    calls.push(
                        work.map(|work| {
                            work.calls
                                .iter()
                                .filter_map(|call| self.compile(call))
                                .collect()
                        })
                        .unwrap_or_default(),
                    );
                }
                Port {
                    service: *s,
                    api: api_of(api),
                    method: method.clone(),
                    provided_by,
                    api_by,
                    calls,
                }
            })
            .collect()
    }

    /// Pass 3: per service and runnable version, every call of every method.
    fn edges(&self) -> Vec<Vec<Vec<Call>>> {
        (0..self.services.len())
            .map(|s| {
                (0..self.versions[s].len())
                    .map(|v| {
                        self.definition(s, v)
                            .into_iter()
                            .flat_map(|version| version.all_methods())
                            .flat_map(|(_, work)| {
                                work.calls.iter().filter_map(|call| self.compile(call))
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// Pass 4: per entrypoint, each method of its mix: its port and its name.
    fn entry_ports(&self, entry_services: &[usize]) -> (Vec<Vec<usize>>, Vec<Vec<String>>) {
        entry_services
            .iter()
            .map(|&s| {
                let api = self.scenario.entry_api(&self.services[s]);
                self.scenario
                    .load
                    .mix_of(&self.services[s])
                    .into_iter()
                    .filter_map(|(method, _)| {
                        let port = *self.port_of.get(&(s, api.clone(), method.clone()))?;
                        let name =
                            method.unwrap_or_else(|| crate::model::DEFAULT_METHOD.to_owned());
                        Some((port, name))
                    })
                    .unzip::<usize, String, Vec<usize>, Vec<String>>()
            })
            .unzip()
    }
}

impl Graph {
    pub fn new(scenario: &Scenario) -> Graph {
        let mut compiler = Compiler::new(scenario);
        compiler.want_ports();
        let mut apis: Vec<String> = Vec::new();
        for (_, api, _) in &compiler.wanted {
            if !apis.contains(api) {
                apis.push(api.clone());
            }
        }
        let ports = compiler.ports(&apis);
        let edges = compiler.edges();
        let any_swallowing = edges.iter().flatten().flatten().any(|top| {
            std::iter::successors(Some(top), |call| call.fallback.as_deref())
                .any(|call| call.asynchronous || call.actions.contains(&Action::Ignore))
        });
        let entry_services = compiler.entry_services();
        let (entry_ports, entry_methods) = compiler.entry_ports(&entry_services);
        let entries: Vec<(usize, usize)> = entry_services
            .iter()
            .zip(&entry_ports)
            .map(|(&s, ports)| (s, ports.first().copied().unwrap_or(0)))
            .collect();
        let order = callees_first(&ports);
        let Compiler {
            services,
            index,
            versions,
            flags,
            ..
        } = compiler;
        Graph {
            services,
            index,
            versions,
            apis,
            ports,
            order,
            edges,
            any_swallowing,
            entries,
            entry_ports,
            entry_methods,
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

    /// How much work one evaluation is: the number of (service, API, method) ports.
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

    /// The settled state after `changes` from the settled `state`, with `flags`: each
    /// changed service serving its new version. O(changes) after a copy, where
    /// [`Graph::settled`] looks every service up.
    pub fn moved(&self, state: &State, changes: &[crate::model::Change], flags: &Flags) -> State {
        let mut next = state.clone();
        for change in changes {
            if let Some(s) = self.service(&change.service) {
                next.serving[s] = self.mask(s, change.to.as_deref());
            }
        }
        self.set_flags(&mut next, flags);
        next
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
    /// True when `call` is behind a flag on for some requests and off for others: the
    /// call is made for some requests and skipped for the rest, so besides its own
    /// outcomes a request can go on as if it were not there.
    fn partly_made(call: &Call, state: &State) -> bool {
        call.flag
            .is_some_and(|slot| state.serving[slot] == FLAG_OFF | FLAG_ON)
    }

    fn made(call: &Call, state: &State) -> bool {
        call.flag
            .is_none_or(|slot| state.serving[slot] & FLAG_ON != 0)
    }

    /// The worst level of every entrypoint in `state`. `scratch` is reused between calls
    /// (one slot per port) so that sweeping millions of states allocates nothing.
    pub fn levels(&self, state: &State, scratch: &mut Vec<Outcomes>, out: &mut Vec<Level>) {
        self.outcomes(state, scratch);
        out.clear();
        out.extend(
            self.entry_ports
                .iter()
                .map(|ports| worst_of(ports.iter().fold(0, |all, &p| all | scratch[p]))),
        );
    }

    /// The worst level of each method of each entrypoint's mix in `state` (in
    /// `entry_methods` order).
    pub fn method_levels(&self, state: &State, scratch: &mut Vec<Outcomes>) -> Vec<Vec<Level>> {
        self.outcomes(state, scratch);
        self.entry_ports
            .iter()
            .map(|ports| ports.iter().map(|&p| worst_of(scratch[p])).collect())
            .collect()
    }

    /// Every method's level in `state` for each on/off assignment of the flags it holds
    /// at a percent between 0 and 100, with the share of requests that meet it: `each`
    /// gets (share, levels), the levels flattened in `entry_methods` order, entrypoint
    /// by entrypoint. A flag at N% is on for N% of users, each flag drawn apart from the
    /// others, so an assignment's share is the product of its flags' N% or (100 - N)%.
    /// `percents` gives each flag's percent, in `flags` order. Past
    /// [`MAX_SPLIT_FLAGS`] such flags, the state is passed once with share 1, each flag
    /// both on and off at every call (the superset [`Graph::levels`] takes).
    pub fn weighted_method_levels(
        &self,
        state: &State,
        percents: &[u8],
        scratch: &mut Vec<Outcomes>,
        levels: &mut Vec<Level>,
        mut each: impl FnMut(f64, &[Level]),
    ) {
        let mixed: Vec<usize> = (self.services.len()..state.serving.len())
            .filter(|&slot| state.serving[slot] == FLAG_OFF | FLAG_ON)
            .collect();
        let mut emit = |scratch: &[Outcomes], share: f64| {
            levels.clear();
            levels.extend(
                self.entry_ports
                    .iter()
                    .flatten()
                    .map(|&port| worst_of(scratch[port])),
            );
            each(share, levels);
        };
        if mixed.is_empty() || mixed.len() > MAX_SPLIT_FLAGS {
            self.outcomes(state, scratch);
            emit(scratch, 1.0);
            return;
        }
        let mut assigned = state.clone();
        for bits in 0..1u32 << mixed.len() {
            let mut share = 1.0;
            for (i, &slot) in mixed.iter().enumerate() {
                let on = f64::from(percents[slot - self.services.len()]) / 100.0;
                if bits & (1 << i) != 0 {
                    assigned.serving[slot] = FLAG_ON;
                    share *= on;
                } else {
                    assigned.serving[slot] = FLAG_OFF;
                    share *= 1.0 - on;
                }
            }
            self.outcomes_of(&assigned, scratch);
            emit(scratch, share);
        }
    }

    /// The outcomes of every port in `state`, into `scratch`: over every on/off
    /// assignment of the flags the state holds at a percent between 0 and 100 (see
    /// [`Graph::for_each_assignment`]), united. A state without such flags is evaluated
    /// as it is, allocating nothing.
    fn outcomes(&self, state: &State, scratch: &mut Vec<Outcomes>) {
        let mut first = true;
        let mut one = Vec::new();
        self.for_each_assignment(state, |assigned| {
            if first {
                self.outcomes_of(assigned, scratch);
                first = false;
                return;
            }
            self.outcomes_of(assigned, &mut one);
            for (all, these) in scratch.iter_mut().zip(&one) {
                *all |= these;
            }
        });
    }

    /// The outcomes of every port in `state`, taken as it is, into `scratch`.
    fn outcomes_of(&self, state: &State, scratch: &mut Vec<Outcomes>) {
        scratch.clear();
        scratch.resize(self.ports.len(), OK);
        for &p in &self.order {
            scratch[p] = self.port_outcomes(p, state, scratch);
        }
    }

    /// Calls `each` with `state` under every on/off assignment of its flags at a percent
    /// between 0 and 100, each flag on or off for the whole of a request: a request is
    /// for one user, who sees a flag the same at every service (the contract). A state
    /// with no such flag is passed as it is, once. Past [`MAX_SPLIT_FLAGS`] such flags,
    /// it is passed whole too, each flag both on and off at every call independently: a
    /// superset of the outcomes (never better than a request can end), said in
    /// docs/check.md.
    fn for_each_assignment(&self, state: &State, mut each: impl FnMut(&State)) {
        let mixed: Vec<usize> = (self.services.len()..state.serving.len())
            .filter(|&slot| state.serving[slot] == FLAG_OFF | FLAG_ON)
            .collect();
        if mixed.is_empty() || mixed.len() > MAX_SPLIT_FLAGS {
            each(state);
            return;
        }
        let mut assigned = state.clone();
        for bits in 0..1u32 << mixed.len() {
            for (i, &slot) in mixed.iter().enumerate() {
                assigned.serving[slot] = if bits & (1 << i) != 0 {
                    FLAG_ON
                } else {
                    FLAG_OFF
                };
            }
            each(&assigned);
        }
    }

    /// The worst level over every entrypoint.
    pub fn worst(&self, state: &State, scratch: &mut Vec<Outcomes>, out: &mut Vec<Level>) -> Level {
        self.levels(state, scratch, out);
        out.iter().copied().max().unwrap_or(Level::Ok)
    }

    fn port_outcomes(&self, p: usize, state: &State, done: &[Outcomes]) -> Outcomes {
        let port = &self.ports[p];
        let mask = state.serving[port.service];
        if mask == 0 {
            return UNAVAILABLE;
        }
        let mut all = 0;
        for (v, provided) in port.provided_by.iter().enumerate() {
            if mask & (1 << v) == 0 {
                continue;
            }
            all |= if *provided {
                self.method_outcomes(&port.calls[v], port.service, state, done)
            } else {
                UNIMPLEMENTED
            };
        }
        all
    }

    /// The outcomes of one method: each call can end ok, degraded or failing the caller
    /// (after its rule), independently of the others, and the first call that fails the
    /// caller ends the method.
    fn method_outcomes(
        &self,
        calls: &[Call],
        caller: usize,
        state: &State,
        done: &[Outcomes],
    ) -> Outcomes {
        let mut failures = 0;
        let mut all_ok = true;
        let mut reached = true;
        let mut some_degraded = false;
        for call in calls {
            if call.asynchronous || !Self::made(call, state) {
                continue;
            }
            let mut outcomes = self.call_outcomes(call, caller, state, done);
            // Skipped for the requests the flag is off for: one that would fail here
            // goes on, and may end degraded by another call.
            if Self::partly_made(call, state) {
                outcomes |= OK;
            }
            if reached {
                failures |= outcomes & FAILED;
            }
            all_ok &= outcomes & OK != 0;
            some_degraded |= outcomes & DEGRADED != 0;
            reached &= outcomes & (OK | DEGRADED) != 0;
        }
        let mut all = failures;
        if all_ok {
            all |= OK;
        }
        if reached && some_degraded {
            all |= DEGRADED;
        }
        all
    }

    /// What `call`, made by `caller`, can do to its caller, its rule and its fallback
    /// applied.
    fn call_outcomes(
        &self,
        call: &Call,
        caller: usize,
        state: &State,
        done: &[Outcomes],
    ) -> Outcomes {
        let reached = if state.cut.contains(&(caller, call.callee)) {
            UNAVAILABLE
        } else {
            done[call.port]
        };
        let mut all = reached & (OK | DEGRADED);
        // The fallback's outcomes do not depend on why this call failed: computed once,
        // so a chain costs its length, not two to the power of it.
        let mut instead: Option<Outcomes> = None;
        for (i, (bit, _)) in FAIL_BITS.iter().enumerate() {
            if reached & bit == 0 {
                continue;
            }
            let handled = match call.actions[i] {
                Action::Fail => {
                    all |= bit;
                    continue;
                }
                Action::Degrade => DEGRADED,
                Action::Ignore => OK,
            };
            match &call.fallback {
                None => all |= handled,
                Some(fallback) => {
                    let instead = *instead
                        .get_or_insert_with(|| self.call_outcomes(fallback, caller, state, done));
                    all |= instead & (FAILED | DEGRADED);
                    if instead & OK != 0 {
                        all |= handled;
                    }
                }
            }
        }
        all
    }

    /// Every entrypoint's prediction in `state`, with the path to the edge that causes
    /// its level (the first such edge in call order, over versions in name order).
    ///
    /// With flags at a partial percent, the level is the worst over their on/off
    /// assignments, and the path is traced in the first assignment that reaches it, so
    /// that it never mixes a flag on at one service with the same flag off at another.
    pub fn explain(&self, state: &State) -> Vec<Prediction> {
        // Each assignment with its ports' outcomes.
        let mut runs: Vec<(State, Vec<Outcomes>)> = Vec::new();
        self.for_each_assignment(state, |assigned| {
            let mut scratch = Vec::new();
            self.outcomes_of(assigned, &mut scratch);
            runs.push((assigned.clone(), scratch));
        });
        self.entry_ports
            .iter()
            .map(|ports| {
                let level_in = |scratch: &[Outcomes]| {
                    worst_of(ports.iter().fold(0, |all, &p| all | scratch[p]))
                };
                let level = runs
                    .iter()
                    .map(|(_, scratch)| level_in(scratch))
                    .max()
                    .unwrap_or(Level::Ok);
                let mut path = Vec::new();
                let edge = if level == Level::Ok {
                    None
                } else {
                    runs.iter()
                        .find(|(_, scratch)| level_in(scratch) == level)
                        .and_then(|(assignment, scratch)| {
                            ports
                                .iter()
                                .find(|&&p| worst_of(scratch[p]) == level)
                                .and_then(|&p| {
                                    self.trace(p, None, level, assignment, scratch, &mut path)
                                })
                        })
                        .map(Box::new)
                };
                Prediction { level, path, edge }
            })
            .collect()
    }

    /// Follows the calls from `port` to an edge that explains how it can end at `level`.
    fn trace(
        &self,
        p: usize,
        caller: Option<usize>,
        level: Level,
        state: &State,
        done: &[Outcomes],
        path: &mut Vec<(String, String)>,
    ) -> Option<BrokenEdge> {
        let port = &self.ports[p];
        let mask = state.serving[port.service];
        if mask == 0 {
            return Some(self.broken(caller, p, Break::NotServing));
        }
        if level == Level::Failed {
            for (v, provided) in port.provided_by.iter().enumerate() {
                if mask & (1 << v) != 0 && !provided {
                    let why = self.unserved(p, v);
                    return Some(self.broken(caller, p, why));
                }
            }
        }
        for v in 0..port.provided_by.len() {
            if mask & (1 << v) == 0 || !port.provided_by[v] {
                continue;
            }
            for call in &port.calls[v] {
                if call.asynchronous || !Self::made(call, state) {
                    continue;
                }
                let outcomes = self.call_outcomes(call, port.service, state, done);
                let matches = match level {
                    Level::Failed => outcomes & FAILED != 0,
                    Level::Degraded => outcomes & DEGRADED != 0,
                    Level::Ok => false,
                };
                if !matches {
                    continue;
                }
                path.push((
                    self.services[port.service].clone(),
                    self.versions[port.service][v].clone(),
                ));
                return self.trace_call(call, port.service, level, state, done, path);
            }
        }
        None
    }

    /// Why `call` (made by `caller`) can end at `level`: its own edge, the callee's
    /// answer, or its fallback.
    fn trace_call(
        &self,
        call: &Call,
        caller: usize,
        level: Level,
        state: &State,
        done: &[Outcomes],
        path: &mut Vec<(String, String)>,
    ) -> Option<BrokenEdge> {
        let cut = state.cut.contains(&(caller, call.callee));
        let reached = if cut { UNAVAILABLE } else { done[call.port] };
        let failed_with = |action: Action| {
            FAIL_BITS
                .iter()
                .enumerate()
                .any(|(i, (bit, _))| reached & bit != 0 && call.actions[i] == action)
        };
        // The callee's own failure explains the level when the rule passes it up
        // (failed), or when the rule degrades without a fallback, or with a fallback
        // that answered (degraded).
        let fallback_outcomes = call
            .fallback
            .as_deref()
            .map(|fallback| self.call_outcomes(fallback, caller, state, done));
        let own_failure = match level {
            Level::Failed => failed_with(Action::Fail),
            Level::Degraded => {
                reached & DEGRADED == 0
                    && failed_with(Action::Degrade)
                    && fallback_outcomes.is_none_or(|outcomes| outcomes & OK != 0)
            }
            Level::Ok => false,
        };
        if level == Level::Degraded && reached & DEGRADED != 0 {
            let below = self.trace(call.port, Some(caller), Level::Degraded, state, done, path)?;
            return Some(self.nearest_flag(below, call));
        }
        if own_failure {
            if cut {
                let edge = self.broken(Some(caller), call.port, Break::Partitioned);
                return Some(self.behind(edge, call));
            }
            let below = self.trace(call.port, Some(caller), Level::Failed, state, done, path)?;
            return Some(self.nearest_flag(below, call));
        }
        let fallback = call.fallback.as_deref()?;
        let below = self.trace_call(fallback, caller, level, state, done, path)?;
        Some(self.nearest_flag(below, call))
    }

    /// `below`, named as behind `call`'s flag unless a flag nearer to the edge is named.
    fn nearest_flag(&self, below: BrokenEdge, call: &Call) -> BrokenEdge {
        if below.flag.is_none() {
            self.behind(below, call)
        } else {
            below
        }
    }

    /// Why runnable version `v` of port `p`'s service does not serve it.
    fn unserved(&self, p: usize, v: usize) -> Break {
        let port = &self.ports[p];
        let version = self.versions[port.service][v].clone();
        if port.api_by[v] {
            Break::NoMethod { version }
        } else {
            Break::NoApi { version }
        }
    }

    fn broken(&self, caller: Option<usize>, p: usize, why: Break) -> BrokenEdge {
        let port = &self.ports[p];
        BrokenEdge {
            caller: caller.map(|c| self.services[c].clone()),
            callee: self.services[port.service].clone(),
            api: self.apis[port.api].clone(),
            method: port.method.clone(),
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
    /// (fallbacks and asynchronous calls included) to a service with no serving version,
    /// to an API or method that some serving version lacks, or across a partition;
    /// whether or not its failure reaches an entrypoint.
    pub fn broken_edges(&self, state: &State) -> Vec<(String, BrokenEdge)> {
        // Sorted and without repeats already: whether every call fails follows from the
        // edge itself.
        self.broken_where(state, |_, _| true)
            .into_iter()
            .map(|(version, edge, _)| (version, edge))
            .collect()
    }

    /// The broken edges of `state` whose failure no request hears of: asynchronous calls,
    /// and calls whose rule ignores the code the break gives. Only versions with such a
    /// call are looked at, so that a large fleet's states are walked cheaply. The flag
    /// says whether every call over the edge fails (no serving version of the callee
    /// answers it), not only those that reach a version lacking the API.
    pub fn swallowed_broken(&self, state: &State) -> Vec<(String, BrokenEdge, bool)> {
        if !self.any_swallowing {
            return Vec::new();
        }
        self.broken_where(state, |call, why| {
            let slot = usize::from(why.code() == "UNIMPLEMENTED");
            call.asynchronous || call.actions[slot] == Action::Ignore
        })
    }

    fn broken_where(
        &self,
        state: &State,
        keep: impl Fn(&Call, &Break) -> bool,
    ) -> Vec<(String, BrokenEdge, bool)> {
        let mut found = Vec::new();
        for (s, versions) in self.edges.iter().enumerate() {
            for (v, calls) in versions.iter().enumerate() {
                if state.serving[s] & (1 << v) == 0 {
                    continue;
                }
                for top in calls {
                    if !Self::made(top, state) {
                        continue;
                    }
                    let chain = std::iter::successors(Some(top), |call| call.fallback.as_deref());
                    for call in chain {
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
                                .map(|(w, _)| self.unserved(call.port, w))
                        };
                        if let Some(why) = why.filter(|why| keep(call, why)) {
                            let always = mask == 0
                                || state.cut.contains(&(s, call.callee))
                                || (0..port.provided_by.len())
                                    .all(|w| mask & (1 << w) == 0 || !port.provided_by[w]);
                            let edge = self.broken(Some(s), call.port, why);
                            found.push((
                                self.versions[s][v].clone(),
                                self.behind(edge, top),
                                always,
                            ));
                        }
                    }
                }
            }
        }
        found.sort();
        found.dedup();
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

/// Ports ordered so that every port comes after the ports its versions call: the
/// reverse of a topological order of the calls between ports. The methods that can run
/// have no call cycle (module invariant); were there one, its ports would go last.
fn callees_first(ports: &[Port]) -> Vec<usize> {
    let edges: Vec<Vec<usize>> = ports
        .iter()
        .map(|port| {
            let mut called: Vec<usize> = port
                .calls
                .iter()
                .flatten()
                .flat_map(|call| std::iter::successors(Some(call), |call| call.fallback.as_deref()))
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
