//! Stage two of loading: raw structs to a validated `Scenario`.
//!
//! This stage checks references between keys (calls, `initial`, `target`, steps, faults)
//! and whole-scenario rules (an entrypoint exists, no call chain loops, faults fall within
//! some strategy). Every problem keeps the location of the key that caused it. It works
//! on the parts of a scenario and builds the `Scenario` last, only when nothing is wrong,
//! so no code ever sees a `Scenario` that is not valid.
//!
//! With no call cycle, a provider-first order of the changes always exists (see
//! `topology::providers_first`), so single-piece and waves always plan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::problem::{Problems, did_you_mean};
use super::raw::{
    FlagOp, Located, RawCall, RawFaultKind, RawFlagChange, RawScenario, RawStep, RawStrategyKind,
    RawVersion,
};
use super::yaml::Pos;
use crate::model::{
    self, Breach, Call, Change, Deployment, EntryLoad, Expect, Fault, FaultKind, Flag, FlagChange,
    Method, Scenario, Service, StepSpec, Strategy, StrategyKind, Version,
};
use crate::topology;

/// At most this many call cycles are reported; past that the fix is the same.
const MAX_CYCLES_REPORTED: usize = 10;

/// Turns decoded raw structs into a `Scenario`, or adds problems and returns `None`.
pub fn validate(raw: RawScenario, problems: &mut Problems) -> Option<Scenario> {
    let flags: Vec<Flag> = raw
        .flags
        .iter()
        .map(|(name, flag)| Flag {
            name: name.value.clone(),
            on: flag.on,
            percent: flag.percent,
        })
        .collect();
    let mut checker = Checker {
        problems,
        call_sites: HashMap::new(),
        unresolved: BTreeSet::new(),
        flags: flags.iter().map(|flag| flag.name.clone()).collect(),
    };
    let services = checker.services(&raw);
    let initial = checker.deployment(&raw.initial, &services, Deployment::default());
    let target = checker.deployment(&raw.target, &services, initial.clone());

    if !services.is_empty() && !services.values().any(|service| service.entrypoint) {
        checker.problems.push(
            "services",
            raw.services_pos,
            "no entrypoint: mark at least one service `entrypoint: true` (load is sent to entrypoints)",
        );
    }

    checker.cycles(&services, &initial, &target);
    let mut load = raw.load.clone();
    load.entrypoints = checker.entry_loads(&raw, &services);
    let changes = model::changes(&initial, &target);
    let strategies = checker.strategies(&raw, &services, &initial, &changes);
    if let Some(breach) = &raw.gate_on_breach {
        checker.kill_switch_needs_flags(breach);
    }
    let releases = flags
        .iter()
        .filter(|flag| !flag.on && flag.percent > 0)
        .count();
    let faults = checker.faults(&raw, &services, &strategies, changes.len(), releases);
    let availability = checker.availability(&raw, &services);

    let name = raw.name.clone()?;
    if !checker.problems.is_empty() {
        return None;
    }
    let mut scenario = Scenario {
        name,
        description: raw.description,
        seed: raw.seed,
        services,
        initial,
        target,
        load,
        strategies,
        faults,
        gate: raw.gate,
        expect: raw.expect,
        risk: raw.risk,
        availability,
        flags,
        warnings: Vec::new(),
    };
    let unreachable = scenario.unreachable();
    if !unreachable.is_empty() {
        scenario
            .warnings
            .push(model::Warning::Unreachable(unreachable));
    }
    Some(scenario)
}

/// What the services define, for checking calls: API versions and method names per
/// service (over all its versions).
struct Known {
    apis: BTreeMap<String, BTreeSet<String>>,
    methods: BTreeMap<String, BTreeSet<String>>,
}

/// Where a method's calls are written: (service, version, method).
type CallSite = (String, String, Option<String>);

struct Checker<'p> {
    problems: &'p mut Problems,
    /// Where each call was written, by (service, version, call index), so that graph
    /// problems found on the model can point back at the YAML.
    call_sites: HashMap<(CallSite, usize), (String, Pos)>,
    /// Services whose `initial` or `target` entry was invalid. What the rollout does to
    /// them is unknown, so later checks that depend on it stay silent instead of adding
    /// a second, misleading problem.
    unresolved: BTreeSet<String>,
    /// The declared flags, in the order of `flags:`.
    flags: Vec<String>,
}

impl Checker<'_> {
    /// `availability:` with its names checked: spared services exist, a limit's
    /// entrypoint is one.
    fn availability(
        &mut self,
        raw: &RawScenario,
        services: &BTreeMap<String, Service>,
    ) -> model::Availability {
        let raw = &raw.availability;
        let mut spare = Vec::new();
        for name in &raw.spare {
            if services.contains_key(&name.value) {
                spare.push(name.value.clone());
            } else {
                self.unknown_service(name, services);
            }
        }
        let mut expect = Vec::new();
        for (amount, entrypoint, min) in &raw.expect {
            if let Some(entry) = entrypoint {
                match services.get(&entry.value) {
                    None => {
                        self.unknown_service(entry, services);
                        continue;
                    }
                    Some(service) if !service.entrypoint => {
                        self.problems.push(
                            &entry.path,
                            entry.pos,
                            format!(
                                "\"{}\" is not an entrypoint; a limit is on an entrypoint's share served, or on the whole load's without `entrypoint`",
                                entry.value
                            ),
                        );
                        continue;
                    }
                    Some(_) => {}
                }
            }
            expect.push(model::MinAvailability {
                amount: *amount,
                entrypoint: entrypoint.as_ref().map(|e| e.value.clone()),
                min: *min,
            });
        }
        model::Availability {
            unit: raw.unit,
            levels: raw.levels.clone(),
            spare,
            degraded_lost: raw.degraded_lost,
            expect,
        }
    }

    fn unknown_service(&mut self, name: &Located<String>, services: &BTreeMap<String, Service>) {
        let hint = did_you_mean(&name.value, services.keys().map(String::as_str));
        self.problems.push(
            &name.path,
            name.pos,
            format!("unknown service \"{}\"{hint}", name.value),
        );
    }

    /// Reports a flag that `flags:` does not declare; true when it is declared.
    fn known_flag(&mut self, flag: &Located<String>) -> bool {
        if self.flags.contains(&flag.value) {
            return true;
        }
        let hint = did_you_mean(&flag.value, self.flags.iter().map(String::as_str));
        let declared = if self.flags.is_empty() {
            "the scenario declares no flags; add it under `flags:`".to_owned()
        } else {
            format!("declared flags: {}", self.flags.join(", "))
        };
        self.problems.push(
            &flag.path,
            flag.pos,
            format!("unknown flag \"{}\"{hint} ({declared})", flag.value),
        );
        false
    }

    fn services(&mut self, raw: &RawScenario) -> BTreeMap<String, Service> {
        // First pass: what exists, so that calls can be checked against it.
        let per_service = |names: fn(&RawVersion) -> Vec<String>| {
            raw.services
                .iter()
                .map(|(name, service)| {
                    let all = service.versions.iter().flat_map(|(_, v)| names(v));
                    (name.value.clone(), all.collect())
                })
                .collect()
        };
        let known = Known {
            apis: per_service(|v| v.provides.iter().map(|api| api.value.clone()).collect()),
            methods: per_service(|v| v.methods.iter().map(|(m, _)| m.value.clone()).collect()),
        };

        let mut services = BTreeMap::new();
        for (name, raw_service) in &raw.services {
            let mut versions = BTreeMap::new();
            for (version_name, raw_version) in &raw_service.versions {
                let site = |method: Option<&str>| {
                    (
                        name.value.clone(),
                        version_name.value.clone(),
                        method.map(str::to_owned),
                    )
                };
                let calls = self.calls(&raw_version.calls, &known, site(None));
                let mut methods = BTreeMap::new();
                for (method_name, raw_method) in &raw_version.methods {
                    let calls =
                        self.calls(&raw_method.calls, &known, site(Some(&method_name.value)));
                    methods.insert(
                        method_name.value.clone(),
                        Method {
                            latency: raw_method.latency,
                            error_rate: raw_method.error_rate,
                            calls,
                        },
                    );
                }
                let version = Version {
                    name: version_name.value.clone(),
                    provides: raw_version
                        .provides
                        .iter()
                        .map(|api| api.value.clone())
                        .collect(),
                    latency: raw_version.latency,
                    error_rate: raw_version.error_rate,
                    calls,
                    methods,
                    capacity: raw_version.capacity,
                };
                versions.insert(version_name.value.clone(), version);
            }
            let service = Service {
                name: name.value.clone(),
                entrypoint: raw_service.entrypoint,
                replicas: raw_service.replicas,
                startup: raw_service.startup,
                rollout: raw_service.rollout,
                versions,
            };
            services.insert(name.value.clone(), service);
        }
        services
    }

    /// The calls of one method, checked; `site` is (service, version, method), under
    /// which each call's location is kept for the cycle check.
    fn calls(&mut self, raw_calls: &[RawCall], known: &Known, site: CallSite) -> Vec<Call> {
        let mut calls = Vec::new();
        for (i, raw_call) in raw_calls.iter().enumerate() {
            if let Some(call) = self.call(raw_call, known) {
                self.call_sites.insert(
                    (site.clone(), i),
                    (raw_call.path.clone(), raw_call.service.pos),
                );
                calls.push(call);
            }
        }
        calls
    }

    /// One call and its fallbacks, checked against what exists.
    fn call(&mut self, raw_call: &RawCall, known: &Known) -> Option<Call> {
        let callee = &raw_call.service;
        // Checked first, so that every problem of the chain is reported.
        let fallback = raw_call
            .fallback
            .as_deref()
            .map(|fallback| self.call(fallback, known));
        let Some(provided) = known.apis.get(&callee.value) else {
            let hint = did_you_mean(&callee.value, known.apis.keys().map(String::as_str));
            let message = format!("unknown service \"{}\"{hint}", callee.value);
            self.problems.push(&callee.path, callee.pos, message);
            return None;
        };
        // A callee without a single valid version is already reported where it is
        // defined; "provided: none" would only repeat that.
        if !provided.is_empty() && !provided.contains(&raw_call.api.value) {
            let api = &raw_call.api;
            let hint = did_you_mean(&api.value, provided.iter().map(String::as_str));
            let listed: Vec<&str> = provided.iter().map(String::as_str).collect();
            let message = format!(
                "no version of \"{}\" provides API version \"{}\"{hint} (provided: {})",
                callee.value,
                api.value,
                listed.join(", ")
            );
            self.problems.push(&api.path, api.pos, message);
            return None;
        }
        if let Some(method) = &raw_call.method {
            let methods = known.methods.get(&callee.value);
            if !methods.is_some_and(|methods| methods.contains(&method.value)) {
                let listed: Vec<&str> = methods.into_iter().flatten().map(String::as_str).collect();
                let hint = did_you_mean(&method.value, listed.iter().copied());
                let message = format!(
                    "no version of \"{}\" has method \"{}\"{hint} (methods: {})",
                    callee.value,
                    method.value,
                    if listed.is_empty() {
                        "none; list them under a version's `methods:`".to_owned()
                    } else {
                        listed.join(", ")
                    }
                );
                self.problems.push(&method.path, method.pos, message);
                return None;
            }
        }
        if let Some(flag) = &raw_call.flag
            && !self.known_flag(flag)
        {
            return None;
        }
        let fallback = match fallback {
            Some(None) => return None,
            Some(Some(call)) => Some(Box::new(call)),
            None => None,
        };
        Some(Call {
            service: callee.value.clone(),
            api: raw_call.api.value.clone(),
            method: raw_call.method.as_ref().map(|method| method.value.clone()),
            on_failure: raw_call.on_failure,
            timeout: raw_call.timeout,
            retries: raw_call.retries,
            flag: raw_call.flag.as_ref().map(|flag| flag.value.clone()),
            fallback,
            asynchronous: raw_call.asynchronous,
            protect: raw_call.protect.clone(),
        })
    }

    /// `initial` (starting from nothing) or `target` (starting from `initial`).
    fn deployment(
        &mut self,
        entries: &[(Located<String>, Located<Option<String>>)],
        services: &BTreeMap<String, Service>,
        start: Deployment,
    ) -> Deployment {
        let mut deployment = start;
        for (service, version) in entries {
            let Some(definition) = services.get(&service.value) else {
                self.unknown_service(service, services);
                continue;
            };
            if definition.versions.is_empty() {
                // Its versions were all invalid and are reported where they are written.
                self.unresolved.insert(service.value.clone());
                continue;
            }
            match &version.value {
                None => {
                    deployment.0.remove(&service.value);
                }
                Some(name) if definition.versions.contains_key(name) => {
                    deployment.0.insert(service.value.clone(), name.clone());
                }
                Some(name) => {
                    let known: Vec<&str> = definition.versions.keys().map(String::as_str).collect();
                    let hint = did_you_mean(name, known.iter().copied());
                    let message = format!(
                        "\"{}\" has no version \"{name}\"{hint} (versions: {}; `none` for not deployed)",
                        service.value,
                        known.join(", ")
                    );
                    self.problems.push(&version.path, version.pos, message);
                    self.unresolved.insert(service.value.clone());
                }
            }
        }
        deployment
    }

    /// `load.entrypoints`: each must name an entrypoint, each mix key one of its methods.
    fn entry_loads(
        &mut self,
        raw: &RawScenario,
        services: &BTreeMap<String, Service>,
    ) -> BTreeMap<String, EntryLoad> {
        let mut loads = BTreeMap::new();
        for entry in &raw.entry_loads {
            let Some(service) = services.get(&entry.service.value) else {
                self.unknown_service(&entry.service, services);
                continue;
            };
            if !service.entrypoint {
                let entrypoints: Vec<&str> = services
                    .values()
                    .filter(|service| service.entrypoint)
                    .map(|service| service.name.as_str())
                    .collect();
                self.problems.push(
                    &entry.service.path,
                    entry.service.pos,
                    format!(
                        "\"{}\" is not an entrypoint (entrypoints: {}); load is sent only to entrypoints",
                        entry.service.value,
                        entrypoints.join(", ")
                    ),
                );
                continue;
            }
            let methods = service.method_names();
            let mut mix = Vec::new();
            for (method, weight) in &entry.mix {
                if method.value == model::DEFAULT_METHOD {
                    mix.push((None, *weight));
                    continue;
                }
                if !methods.contains(method.value.as_str()) {
                    let hint = did_you_mean(&method.value, methods.iter().copied());
                    let listed: Vec<&str> = std::iter::once(model::DEFAULT_METHOD)
                        .chain(methods.iter().copied())
                        .collect();
                    self.problems.push(
                        &method.path,
                        method.pos,
                        format!(
                            "\"{}\" has no method \"{}\"{hint} (methods: {})",
                            service.name,
                            method.value,
                            listed.join(", ")
                        ),
                    );
                    continue;
                }
                mix.push((Some(method.value.clone()), *weight));
            }
            loads.insert(
                service.name.clone(),
                EntryLoad {
                    rps: entry.rps,
                    mix,
                },
            );
        }
        // An entrypoint with methods but no mix would send every request to its default
        // method, and the methods would never see the load: say how it splits.
        for (name, raw_service) in &raw.services {
            let Some(service) = services.get(&name.value) else {
                continue;
            };
            let methods = service.method_names();
            let mixed = loads
                .get(&service.name)
                .is_some_and(|load: &EntryLoad| !load.mix.is_empty());
            if raw_service.entrypoint && !methods.is_empty() && !mixed {
                let listed: Vec<&str> = methods.iter().copied().collect();
                self.problems.push(
                    &name.path,
                    name.pos,
                    format!(
                        "entrypoint \"{}\" has methods ({}) but no traffic mix: add load.entrypoints.{}.mix, e.g. {{ {}: 1 }} (`default: 1` for its own calls)",
                        service.name,
                        listed.join(", "),
                        service.name,
                        listed[0]
                    ),
                );
            }
        }
        loads
    }

    /// Reports call cycles among the methods of the versions that can run.
    fn cycles(
        &mut self,
        services: &BTreeMap<String, Service>,
        initial: &Deployment,
        target: &Deployment,
    ) {
        let runnable = model::runnable_versions(initial, target);
        let cycles = topology::version_cycles(services, &runnable, MAX_CYCLES_REPORTED);
        for cycle in &cycles {
            let (service, version, method) = &cycle[0];
            let next = &cycle.get(1).unwrap_or(&cycle[0]).0;
            let call_index = services
                .get(service)
                .and_then(|definition| definition.versions.get(version))
                .and_then(|definition| definition.method(method.as_deref()))
                .and_then(|work| {
                    work.calls
                        .iter()
                        .position(|call| call.chain().any(|call| &call.service == next))
                })
                .unwrap_or(0);
            let Some((path, pos)) = self
                .call_sites
                .get(&(
                    (service.clone(), version.clone(), method.clone()),
                    call_index,
                ))
                .cloned()
            else {
                continue;
            };
            let node = |(service, version, method): &topology::MethodNode| match method {
                Some(method) => format!("{service} {version} method {method}"),
                None => format!("{service} {version}"),
            };
            let mut names: Vec<String> = cycle.iter().map(node).collect();
            names.push(node(&cycle[0]));
            let message = format!(
                "call cycle: {} (a request would call itself until its deadline; break the loop)",
                names.join(" -> ")
            );
            self.problems.push(path, pos, message);
        }
    }

    fn strategies(
        &mut self,
        raw: &RawScenario,
        services: &BTreeMap<String, Service>,
        initial: &Deployment,
        changes: &[Change],
    ) -> Vec<Strategy> {
        let expect: &Expect = &raw.expect;
        let changed: BTreeSet<String> = changes
            .iter()
            .map(|change| change.service.clone())
            .collect();
        let Some((raw_strategies, list_pos)) = &raw.strategies else {
            let defaults = [StrategyKind::Batch, StrategyKind::SinglePiece];
            return defaults
                .into_iter()
                .map(|kind| Strategy {
                    name: kind.label().to_owned(),
                    kind,
                    expect: expect.clone(),
                    on_breach: None,
                    listed: false,
                })
                .collect();
        };
        if raw_strategies.is_empty() {
            self.problems.push(
                "strategies",
                *list_pos,
                "at least one strategy is required (or leave the key out for batch and single-piece)",
            );
        }
        let mut strategies: Vec<Strategy> = Vec::new();
        let mut seen_names: BTreeMap<String, usize> = BTreeMap::new();
        for raw_strategy in raw_strategies {
            let name = &raw_strategy.name;
            if let Some(first_line) = seen_names.get(&name.value) {
                let message = format!(
                    "strategy \"{}\" is defined twice (first on line {first_line})",
                    name.value
                );
                self.problems.push(&name.path, name.pos, message);
                continue;
            }
            seen_names.insert(name.value.clone(), name.pos.line);
            let kind = match &raw_strategy.kind {
                RawStrategyKind::Builtin(kind) => kind.clone(),
                RawStrategyKind::Steps(steps) => {
                    StrategyKind::Steps(self.steps(steps, services, initial, &changed))
                }
            };
            let expect = expect.overridden_by(&raw_strategy.expect);
            let on_breach = raw_strategy.on_breach.as_ref().map(|breach| {
                if raw.gate.is_none() {
                    self.problems.push(
                        &breach.path,
                        breach.pos,
                        "`on_breach` says what the gate does, and the scenario has no `gate:`",
                    );
                }
                self.kill_switch_needs_flags(breach);
                breach.value
            });
            strategies.push(Strategy {
                name: name.value.clone(),
                kind,
                expect,
                on_breach,
                listed: true,
            });
        }
        strategies
    }

    /// A kill switch unreleases flags: without flags it would do nothing.
    fn kill_switch_needs_flags(&mut self, breach: &Located<Breach>) {
        if breach.value == Breach::KillSwitch && self.flags.is_empty() {
            self.problems.push(
                &breach.path,
                breach.pos,
                "`kill-switch` unreleases the flags a rollout released, and the scenario declares no `flags:`; \
                 use rollback, stop or continue",
            );
        }
    }

    fn flag_changes(&mut self, changes: &[RawFlagChange]) -> Vec<FlagChange> {
        changes
            .iter()
            .filter(|(flag, _)| self.known_flag(flag))
            .map(|(flag, op)| match op {
                FlagOp::Release => FlagChange::Release(flag.value.clone()),
                FlagOp::Unrelease => FlagChange::Unrelease(flag.value.clone()),
                FlagOp::Percent(percent) => FlagChange::Percent(flag.value.clone(), *percent),
            })
            .collect()
    }

    fn steps(
        &mut self,
        steps: &[Located<RawStep>],
        services: &BTreeMap<String, Service>,
        initial: &Deployment,
        changed: &BTreeSet<String>,
    ) -> Vec<StepSpec> {
        let mut first_seen: BTreeMap<String, String> = BTreeMap::new();
        let mut out = Vec::new();
        for step in steps {
            let mut moved = Vec::new();
            let mut named: BTreeSet<&str> = BTreeSet::new();
            for (flag, _) in &step.value.flags {
                if !named.insert(flag.value.as_str()) {
                    let message = format!(
                        "flag \"{}\" changes twice in one step; a step sets each flag once",
                        flag.value
                    );
                    self.problems.push(&flag.path, flag.pos, message);
                }
            }
            let flags = self.flag_changes(&step.value.flags);
            for service in &step.value.services {
                if !services.contains_key(&service.value) {
                    self.unknown_service(service, services);
                    continue;
                }
                if !changed.contains(&service.value) && self.unresolved.contains(&service.value) {
                    continue;
                }
                if !changed.contains(&service.value) {
                    let now = initial.version(&service.value).unwrap_or("none");
                    let message = format!(
                        "the target does not change \"{}\" (it stays at {now}); a step lists only services that move{}",
                        service.value,
                        if changed.is_empty() {
                            String::from(": the target changes nothing")
                        } else {
                            format!(
                                " ({})",
                                changed.iter().cloned().collect::<Vec<_>>().join(", ")
                            )
                        }
                    );
                    self.problems.push(&service.path, service.pos, message);
                    continue;
                }
                if let Some(first) = first_seen.get(&service.value) {
                    let message = format!(
                        "\"{}\" is already deployed by {first}; a service moves once",
                        service.value
                    );
                    self.problems.push(&service.path, service.pos, message);
                    continue;
                }
                first_seen.insert(service.value.clone(), step.path.clone());
                moved.push(service.value.clone());
            }
            out.push(StepSpec {
                services: moved,
                flags,
            });
        }
        out
    }

    fn faults(
        &mut self,
        raw: &RawScenario,
        services: &BTreeMap<String, Service>,
        strategies: &[Strategy],
        n_changes: usize,
        n_releases: usize,
    ) -> Vec<Fault> {
        let longest = strategies
            .iter()
            .map(|strategy| {
                let steps = strategy.kind.step_count(n_changes, n_releases);
                (steps, strategy.name.as_str())
            })
            .max_by_key(|(steps, _)| *steps);
        let mut faults = Vec::new();
        for raw_fault in &raw.faults {
            let mut ok = true;
            let mut known = |checker: &mut Self, name: &Located<String>| {
                if !services.contains_key(&name.value) {
                    checker.unknown_service(name, services);
                    ok = false;
                }
            };
            let kind = match &raw_fault.kind {
                RawFaultKind::Kill(service) => {
                    known(self, service);
                    FaultKind::Kill(service.value.clone())
                }
                RawFaultKind::Missing(service) => {
                    known(self, service);
                    FaultKind::Missing(service.value.clone())
                }
                RawFaultKind::Partition { from, to } => {
                    known(self, from);
                    known(self, to);
                    if from.value == to.value {
                        let message = "a partition needs two different services";
                        self.problems.push(&to.path, to.pos, message);
                        ok = false;
                    }
                    FaultKind::Partition {
                        from: from.value.clone(),
                        to: to.value.clone(),
                    }
                }
                RawFaultKind::Latency {
                    service,
                    add,
                    jitter,
                } => {
                    known(self, service);
                    FaultKind::Latency {
                        service: service.value.clone(),
                        add: *add,
                        jitter: *jitter,
                    }
                }
                RawFaultKind::Errors {
                    service,
                    rate,
                    code,
                } => {
                    known(self, service);
                    FaultKind::Errors {
                        service: service.value.clone(),
                        per_million: (rate * 1_000_000.0).round() as u32,
                        code: *code,
                    }
                }
                RawFaultKind::Hang(service) => {
                    known(self, service);
                    FaultKind::Hang(service.value.clone())
                }
                RawFaultKind::Crash { service, every } => {
                    known(self, service);
                    FaultKind::Crash {
                        service: service.value.clone(),
                        every: *every,
                    }
                }
            };
            if let Some((last_step, strategy)) = longest {
                let at_step = &raw_fault.at_step;
                if at_step.value > last_step {
                    let message = format!(
                        "step {} is past the last step of every strategy (the longest, {strategy}, ends at step {last_step}; \
                         step 0 is the baseline)",
                        at_step.value
                    );
                    self.problems.push(&at_step.path, at_step.pos, message);
                    ok = false;
                }
            }
            if ok {
                faults.push(Fault {
                    kind,
                    at_step: raw_fault.at_step.value,
                    after: raw_fault.after,
                    duration: raw_fault.duration,
                });
            }
        }
        faults
    }
}

#[cfg(test)]
mod tests;
