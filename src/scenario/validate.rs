//! Stage two of loading: raw structs to a validated `Scenario`.
//!
//! This stage checks references between keys (calls, `initial`, `target`, steps, faults)
//! and whole-scenario rules (an entrypoint exists, no call chain loops, single-piece can
//! order the changes, faults fall within some strategy). Every problem keeps the location
//! of the key that caused it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::model::{
    Call, Deployment, Fault, FaultKind, Scenario, Service, Strategy, StrategyKind, Version,
};
use super::problem::{Problems, did_you_mean};
use super::raw::{Located, RawFaultKind, RawScenario, RawStrategyKind};
use super::yaml::Pos;
use crate::plan::{self, PlanError};
use crate::topology;

/// At most this many call cycles are reported; past that the fix is the same.
const MAX_CYCLES_REPORTED: usize = 10;

/// Turns decoded raw structs into a `Scenario`, or adds problems and returns `None`.
pub fn validate(raw: RawScenario, problems: &mut Problems) -> Option<Scenario> {
    let mut checker = Checker { problems, call_sites: HashMap::new() };
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

    let mut scenario = Scenario {
        name: raw.name.clone().unwrap_or_default(),
        description: raw.description.clone(),
        seed: raw.seed,
        services,
        initial,
        target,
        load: raw.load.clone(),
        strategies: Vec::new(),
        faults: Vec::new(),
        gate: raw.gate.clone(),
        expect: raw.expect.clone(),
        risk: raw.risk.clone(),
    };
    let has_cycles = checker.cycles(&scenario);
    scenario.strategies = checker.strategies(&raw, &scenario, has_cycles);
    scenario.faults = checker.faults(&raw, &scenario);

    if raw.name.is_none() || !checker.problems.is_empty() {
        return None;
    }
    Some(scenario)
}

struct Checker<'p> {
    problems: &'p mut Problems,
    /// Where each call was written, by (service, version, call index), so that graph
    /// problems found on the model can point back at the YAML.
    call_sites: HashMap<(String, String, usize), (String, Pos)>,
}

impl Checker<'_> {
    fn unknown_service(&mut self, name: &Located<String>, services: &BTreeMap<String, Service>) {
        let hint = did_you_mean(&name.value, services.keys().map(String::as_str));
        self.problems.push(&name.path, name.pos, format!("unknown service \"{}\"{hint}", name.value));
    }

    fn services(&mut self, raw: &RawScenario) -> BTreeMap<String, Service> {
        // First pass: what exists, so that calls can be checked against it.
        let apis: BTreeMap<&str, BTreeSet<&str>> = raw
            .services
            .iter()
            .map(|(name, service)| {
                let provided = service.versions.iter().flat_map(|(_, v)| v.provides.iter().map(|api| api.value.as_str()));
                (name.value.as_str(), provided.collect())
            })
            .collect();

        let mut services = BTreeMap::new();
        for (name, raw_service) in &raw.services {
            let mut versions = BTreeMap::new();
            for (version_name, raw_version) in &raw_service.versions {
                let mut calls = Vec::new();
                for (i, raw_call) in raw_version.calls.iter().enumerate() {
                    let callee = &raw_call.service;
                    match apis.get(callee.value.as_str()) {
                        None => {
                            let hint = did_you_mean(&callee.value, apis.keys().copied());
                            let message = format!("unknown service \"{}\"{hint}", callee.value);
                            self.problems.push(&callee.path, callee.pos, message);
                            continue;
                        }
                        Some(provided) if !provided.contains(raw_call.api.value.as_str()) => {
                            let api = &raw_call.api;
                            let hint = did_you_mean(&api.value, provided.iter().copied());
                            let listed: Vec<&str> = provided.iter().copied().collect();
                            let message = format!(
                                "no version of \"{}\" provides API version \"{}\"{hint} (provided: {})",
                                callee.value,
                                api.value,
                                if listed.is_empty() { "none".to_owned() } else { listed.join(", ") }
                            );
                            self.problems.push(&api.path, api.pos, message);
                            continue;
                        }
                        Some(_) => {}
                    }
                    self.call_sites.insert(
                        (name.value.clone(), version_name.value.clone(), i),
                        (raw_call.path.clone(), callee.pos),
                    );
                    calls.push(Call {
                        service: callee.value.clone(),
                        api: raw_call.api.value.clone(),
                        on_failure: raw_call.on_failure,
                        timeout: raw_call.timeout,
                        retries: raw_call.retries,
                    });
                }
                let version = Version {
                    name: version_name.value.clone(),
                    provides: raw_version.provides.iter().map(|api| api.value.clone()).collect(),
                    latency: raw_version.latency,
                    error_rate: raw_version.error_rate,
                    calls,
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
                }
            }
        }
        deployment
    }

    /// Reports call cycles among the versions that can run. Returns whether any exist.
    fn cycles(&mut self, scenario: &Scenario) -> bool {
        let cycles = topology::version_cycles(scenario, MAX_CYCLES_REPORTED);
        for cycle in &cycles {
            let (service, version) = &cycle[0];
            let next = &cycle.get(1).unwrap_or(&cycle[0]).0;
            let call_index = scenario
                .version(service, version)
                .and_then(|definition| definition.calls.iter().position(|call| &call.service == next))
                .unwrap_or(0);
            let Some((path, pos)) = self.call_sites.get(&(service.clone(), version.clone(), call_index)).cloned() else {
                continue;
            };
            let mut names: Vec<String> = cycle.iter().map(|(s, v)| format!("{s} {v}")).collect();
            names.push(format!("{service} {version}"));
            let message = format!(
                "call cycle: {} (a request would call itself until its deadline; break the loop)",
                names.join(" -> ")
            );
            self.problems.push(path, pos, message);
        }
        !cycles.is_empty()
    }

    fn strategies(&mut self, raw: &RawScenario, scenario: &Scenario, has_cycles: bool) -> Vec<Strategy> {
        let changed: BTreeMap<String, _> =
            scenario.changes().into_iter().map(|change| (change.service.clone(), change)).collect();
        let Some((raw_strategies, list_pos)) = &raw.strategies else {
            let defaults = [StrategyKind::Batch, StrategyKind::SinglePiece];
            return defaults
                .into_iter()
                .map(|kind| Strategy { name: kind.label().to_owned(), kind, expect: scenario.expect.clone() })
                .collect();
        };
        if raw_strategies.is_empty() {
            self.problems.push("strategies", *list_pos, "at least one strategy is required (or leave the key out for batch and single-piece)");
        }
        let mut strategies: Vec<Strategy> = Vec::new();
        let mut seen_names: BTreeMap<String, usize> = BTreeMap::new();
        for raw_strategy in raw_strategies {
            let name = &raw_strategy.name;
            if let Some(first_line) = seen_names.get(&name.value) {
                let message = format!("strategy \"{}\" is defined twice (first on line {first_line})", name.value);
                self.problems.push(&name.path, name.pos, message);
                continue;
            }
            seen_names.insert(name.value.clone(), name.pos.line);
            let kind = match &raw_strategy.kind {
                RawStrategyKind::Builtin(kind) => kind.clone(),
                RawStrategyKind::Steps(steps) => StrategyKind::Steps(self.steps(steps, scenario, &changed)),
            };
            let orders_by_calls = matches!(kind, StrategyKind::SinglePiece | StrategyKind::Waves(_));
            // A call cycle is already reported where it is written; the same loop would
            // only be reported again here.
            if orders_by_calls && !has_cycles {
                if let Err(PlanError::Cycle { cycle }) = plan::single_piece_order(scenario) {
                    let message = format!(
                        "{} cannot order the changes provider first: they depend on each other in a cycle ({}); \
                         list the steps explicitly",
                        kind.label(),
                        cycle.join(" -> ")
                    );
                    self.problems.push(&name.path, name.pos, message);
                }
            }
            let expect = scenario.expect.overridden_by(&raw_strategy.expect);
            strategies.push(Strategy { name: name.value.clone(), kind, expect });
        }
        strategies
    }

    fn steps(
        &mut self,
        steps: &[Located<Vec<Located<String>>>],
        scenario: &Scenario,
        changed: &BTreeMap<String, crate::scenario::Change>,
    ) -> Vec<Vec<String>> {
        let mut first_seen: BTreeMap<String, String> = BTreeMap::new();
        let mut out = Vec::new();
        for step in steps {
            let mut services = Vec::new();
            for service in &step.value {
                if !scenario.services.contains_key(&service.value) {
                    self.unknown_service(service, &scenario.services);
                    continue;
                }
                if !changed.contains_key(&service.value) {
                    let now = scenario.initial.version(&service.value).unwrap_or("none");
                    let message = format!(
                        "the target does not change \"{}\" (it stays at {now}); a step lists only services that move{}",
                        service.value,
                        if changed.is_empty() {
                            String::from(": the target changes nothing")
                        } else {
                            format!(" ({})", changed.keys().cloned().collect::<Vec<_>>().join(", "))
                        }
                    );
                    self.problems.push(&service.path, service.pos, message);
                    continue;
                }
                if let Some(first) = first_seen.get(&service.value) {
                    let message = format!("\"{}\" is already deployed by {first}; a service moves once", service.value);
                    self.problems.push(&service.path, service.pos, message);
                    continue;
                }
                first_seen.insert(service.value.clone(), step.path.clone());
                services.push(service.value.clone());
            }
            out.push(services);
        }
        out
    }

    fn faults(&mut self, raw: &RawScenario, scenario: &Scenario) -> Vec<Fault> {
        let n_changes = scenario.changes().len();
        let longest = scenario
            .strategies
            .iter()
            .map(|strategy| (plan::step_count(n_changes, &strategy.kind), strategy.name.as_str()))
            .max_by_key(|(steps, _)| *steps);
        let mut faults = Vec::new();
        for raw_fault in &raw.faults {
            let mut ok = true;
            let mut known = |checker: &mut Self, name: &Located<String>| {
                if !scenario.services.contains_key(&name.value) {
                    checker.unknown_service(name, &scenario.services);
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
                    FaultKind::Partition { from: from.value.clone(), to: to.value.clone() }
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
