//! Stage one of loading: the located YAML tree to raw structs.
//!
//! This stage checks what can be checked one key at a time: unknown and duplicate keys,
//! types, name syntax and number ranges. References between keys (a call naming a
//! service, `initial` naming a version) keep their location (`Located`) and are checked by
//! `validate`. A key with a bad value is reported and left out, and decoding goes on, so
//! one run reports every problem in the file. Nothing outside `scenario` imports this.

use std::rc::Rc;
use std::time::Duration;

use super::problem::{Problems, did_you_mean};
use super::yaml::{Node, Pos, Value};
use crate::model::{
    Action, Breach, DEFAULT_METHOD, Defect, Expect, FailCode, Gate, Load, OnFailure,
    RISK_MEASURE_KEYS, Risk, RiskExpect, Rollout, StrategyKind,
};

/// A flag change as written: `release`/`unrelease` name a flag, `percent` a flag and N.
pub type RawFlagChange = (Located<String>, FlagOp);

/// What a step does to a flag.
#[derive(Debug, Clone, Copy)]
pub enum FlagOp {
    Release,
    Unrelease,
    Percent(u8),
}

/// A value with the key path and position it came from.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub path: String,
    pub pos: Pos,
}

#[derive(Debug, Default)]
pub struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: u64,
    pub services: Vec<(Located<String>, RawService)>,
    pub services_pos: Pos,
    pub initial: Vec<(Located<String>, Located<Option<String>>)>,
    pub target: Vec<(Located<String>, Located<Option<String>>)>,
    pub load: Load,
    pub entry_loads: Vec<RawEntryLoad>,
    /// `None` when the key is absent: the defaults apply.
    pub strategies: Option<(Vec<RawStrategy>, Pos)>,
    pub faults: Vec<RawFault>,
    pub gate: Option<Gate>,
    /// Where the gate's `on_breach` is written, for checks that need the whole scenario.
    pub gate_on_breach: Option<Located<Breach>>,
    pub expect: Expect,
    pub risk: Risk,
    pub flags: Vec<(Located<String>, RawFlag)>,
}

#[derive(Debug)]
pub struct RawFlag {
    pub on: bool,
    pub percent: u8,
}

#[derive(Debug)]
pub struct RawService {
    pub entrypoint: bool,
    pub replicas: u32,
    pub startup: Duration,
    pub rollout: Rollout,
    pub versions: Vec<(Located<String>, RawVersion)>,
}

#[derive(Debug)]
pub struct RawVersion {
    pub provides: Vec<Located<String>>,
    pub latency: Duration,
    pub error_rate: f64,
    pub calls: Vec<RawCall>,
    pub methods: Vec<(Located<String>, RawMethod)>,
}

#[derive(Debug, Default)]
pub struct RawMethod {
    pub latency: Duration,
    pub error_rate: f64,
    pub calls: Vec<RawCall>,
}

/// One entrypoint's `load.entrypoints` entry: its rate and its mix of methods.
#[derive(Debug)]
pub struct RawEntryLoad {
    pub service: Located<String>,
    pub rps: Option<u32>,
    pub mix: Vec<(Located<String>, u32)>,
}

#[derive(Debug)]
pub struct RawCall {
    pub path: String,
    pub service: Located<String>,
    pub api: Located<String>,
    pub method: Option<Located<String>>,
    pub on_failure: OnFailure,
    pub timeout: Duration,
    pub retries: u32,
    pub flag: Option<Located<String>>,
    pub fallback: Option<Box<RawCall>>,
    pub asynchronous: bool,
    /// `on_failure` was written (a fallback list gives the others `degrade`).
    pub explicit_on_failure: bool,
}

#[derive(Debug)]
pub struct RawStrategy {
    pub name: Located<String>,
    pub kind: RawStrategyKind,
    pub expect: Expect,
    pub on_breach: Option<Located<Breach>>,
}

#[derive(Debug)]
pub enum RawStrategyKind {
    Builtin(StrategyKind),
    Steps(Vec<Located<RawStep>>),
}

/// One step of an explicit order: services, and flag changes made in the same step.
#[derive(Debug, Default)]
pub struct RawStep {
    pub services: Vec<Located<String>>,
    pub flags: Vec<RawFlagChange>,
}

#[derive(Debug)]
pub struct RawFault {
    pub kind: RawFaultKind,
    pub at_step: Located<usize>,
    pub after: Duration,
    pub duration: Option<Duration>,
}

#[derive(Debug)]
pub enum RawFaultKind {
    Kill(Located<String>),
    Missing(Located<String>),
    Partition {
        from: Located<String>,
        to: Located<String>,
    },
}

/// The most calls a `fallback:` list may chain (each is a level of every walk of it).
const MAX_FALLBACKS: usize = 16;

/// The longest time any `*_ms` key may take: one hour. Runs are bounded.
const MAX_MS: u64 = 3_600_000;

/// Keys that the format reserves for features that are not built yet, and why.
const NOT_YET_FAULT: &str =
    "is not supported yet: this version injects kill, missing and partition faults";

/// Decodes the tree. Problems go to `problems`; the result holds what decoded cleanly.
pub fn decode(root: &Node, problems: &mut Problems) -> RawScenario {
    let mut decoder = Decoder { problems };
    decoder.scenario(root)
}

struct Decoder<'p> {
    problems: &'p mut Problems,
}

/// The entries of one mapping, after unknown and duplicate keys were reported.
struct Fields<'n> {
    entries: Vec<(&'n str, &'n Rc<Node>, &'n Rc<Node>)>,
    path: String,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(name, _, _)| *name == key)
            .map(|(_, _, value)| -> &'n Node { value })
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

impl Decoder<'_> {
    fn problem(&mut self, path: &str, pos: Pos, message: impl Into<String>) {
        self.problems.push(path, pos, message);
    }

    /// Opens a mapping whose keys must come from `known`. Unknown keys are reported with a
    /// suggestion; keys in `not_yet` are reported as not supported yet; duplicates too.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&str],
        not_yet: &[(&str, &str)],
    ) -> Option<Fields<'n>> {
        let mut fields = Fields {
            entries: Vec::new(),
            path: path.to_owned(),
        };
        for (name, key, value) in self.named_entries(node, path)? {
            let key_path = join(path, name);
            if let Some((_, reason)) = not_yet.iter().find(|(reserved, _)| *reserved == name) {
                self.problem(&key_path, key.pos, format!("`{name}` {reason}"));
                continue;
            }
            if !known.contains(&name) {
                let hint = did_you_mean(name, known.iter().copied());
                let expected = known.join(", ");
                self.problem(
                    &key_path,
                    key.pos,
                    format!("unknown key `{name}`{hint} (expected one of: {expected})"),
                );
                continue;
            }
            if let Some((_, first, _)) = fields.entries.iter().find(|(seen, _, _)| *seen == name) {
                self.duplicate(&key_path, key, name, first.pos.line);
                continue;
            }
            fields.entries.push((name, key, value));
        }
        Some(fields)
    }

    /// The entries of a mapping with free-form keys (service names, versions), after
    /// duplicate keys were reported.
    fn entries<'n>(&mut self, node: &'n Node, path: &str) -> Vec<(Located<String>, &'n Node)> {
        let mut out: Vec<(Located<String>, &Node)> = Vec::new();
        for (name, key, value) in self.named_entries(node, path).unwrap_or_default() {
            let key_path = join(path, name);
            if let Some((first, _)) = out.iter().find(|(seen, _)| seen.value == name) {
                self.duplicate(&key_path, key, name, first.pos.line);
                continue;
            }
            out.push((
                Located {
                    value: name.to_owned(),
                    path: key_path,
                    pos: key.pos,
                },
                value.as_ref(),
            ));
        }
        out
    }

    /// The entries of a mapping whose keys are plain names; any other key is reported and
    /// left out. `None`, reported, when `node` is not a mapping.
    #[allow(clippy::type_complexity)]
    fn named_entries<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
    ) -> Option<Vec<(&'n str, &'n Rc<Node>, &'n Rc<Node>)>> {
        let Value::Map(entries) = &node.value else {
            self.problem(
                path,
                node.pos,
                format!("expected a mapping, found {}", node.kind_name()),
            );
            return None;
        };
        let mut named = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            match key.scalar() {
                Some(name) => named.push((name, key, value)),
                None => self.problem(
                    path,
                    key.pos,
                    format!("keys must be plain names, found {}", key.kind_name()),
                ),
            }
        }
        Some(named)
    }

    fn duplicate(&mut self, key_path: &str, key: &Node, name: &str, first_line: usize) {
        self.problem(
            key_path,
            key.pos,
            format!("duplicate key `{name}` (first set on line {first_line})"),
        );
    }

    fn seq<'n>(&mut self, node: &'n Node, path: &str) -> &'n [Rc<Node>] {
        match &node.value {
            Value::Seq(items) => items,
            _ if node.is_null() => &[],
            Value::Scalar { text, .. } => {
                self.problem(
                    path,
                    node.pos,
                    format!("expected a list, found \"{text}\"; write [{text}]"),
                );
                &[]
            }
            Value::Map(_) => {
                self.problem(
                    path,
                    node.pos,
                    "expected a list, found a mapping; write each item after `- `",
                );
                &[]
            }
        }
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.problem(
                    path,
                    node.pos,
                    format!("expected a string, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// A name made of the given characters, at most 63 long (a DNS label, so that
    /// services can later become Kubernetes objects).
    fn name(&mut self, node: &Node, path: &str, what: Naming) -> Option<Located<String>> {
        let name = Located {
            value: self.string(node, path)?,
            path: path.to_owned(),
            pos: node.pos,
        };
        self.name_ok(&name, what).then_some(name)
    }

    fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar {
                text,
                quoted: false,
            } if matches!(text.as_str(), "true" | "True" | "TRUE") => Some(true),
            Value::Scalar {
                text,
                quoted: false,
            } if matches!(text.as_str(), "false" | "False" | "FALSE") => Some(false),
            _ => {
                self.problem(
                    path,
                    node.pos,
                    format!("expected true or false, found {}", describe(node)),
                );
                None
            }
        }
    }

    fn integer(&mut self, node: &Node, path: &str, min: u64, max: u64) -> Option<u64> {
        let parsed = match &node.value {
            Value::Scalar {
                text,
                quoted: false,
            } => {
                let digits = text.replace('_', "");
                // Digits too many for i128 are still a number, just far out of range.
                let unsigned = digits.strip_prefix(['-', '+']).unwrap_or(&digits);
                let huge = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
                match digits.parse::<i128>() {
                    Ok(number) => Some(number),
                    Err(_) if huge && digits.starts_with('-') => Some(i128::MIN),
                    Err(_) if huge => Some(i128::MAX),
                    Err(_) => None,
                }
            }
            _ => None,
        };
        let Some(number) = parsed else {
            self.problem(
                path,
                node.pos,
                format!("expected a whole number, found {}", describe(node)),
            );
            return None;
        };
        if number < i128::from(min) || number > i128::from(max) {
            let range = if max == u64::MAX {
                format!("at least {min}")
            } else {
                format!("from {min} to {max}")
            };
            self.problem(
                path,
                node.pos,
                format!(
                    "{} is out of range: must be {range}",
                    node.scalar().unwrap_or_default()
                ),
            );
            return None;
        }
        u64::try_from(number).ok()
    }

    /// A whole number from `min` to `max` that fits a `u32` (replicas, retries, rates).
    fn count(&mut self, node: &Node, path: &str, min: u32, max: u32) -> Option<u32> {
        let number = self.integer(node, path, u64::from(min), u64::from(max))?;
        // `integer` checked the range, so the number fits.
        u32::try_from(number).ok()
    }

    fn millis(&mut self, node: &Node, path: &str, min: u64) -> Option<Duration> {
        self.integer(node, path, min, MAX_MS)
            .map(Duration::from_millis)
    }

    /// A finite number of at least 0 (a mean: requests, milliseconds, services).
    fn amount(&mut self, node: &Node, path: &str) -> Option<f64> {
        match finite(node) {
            Some(number) if number >= 0.0 => Some(number),
            Some(number) => {
                self.problem(
                    path,
                    node.pos,
                    format!("{number} is out of range: must be at least 0"),
                );
                None
            }
            None => {
                self.problem(
                    path,
                    node.pos,
                    format!("expected a number of at least 0, found {}", describe(node)),
                );
                None
            }
        }
    }

    fn ratio(&mut self, node: &Node, path: &str) -> Option<f64> {
        let Some(number) = finite(node) else {
            self.problem(
                path,
                node.pos,
                format!("expected a number from 0 to 1, found {}", describe(node)),
            );
            return None;
        };
        if !(0.0..=1.0).contains(&number) {
            self.problem(
                path,
                node.pos,
                format!("{number} is out of range: must be from 0 to 1"),
            );
            return None;
        }
        Some(number)
    }

    fn choice<T: Copy>(&mut self, node: &Node, path: &str, options: &[(&str, T)]) -> Option<T> {
        let text = self.string(node, path)?;
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == text) {
            return Some(*value);
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let hint = did_you_mean(&text, names.iter().copied());
        self.problem(
            path,
            node.pos,
            format!(
                "unknown value \"{text}\"{hint} (expected one of: {})",
                names.join(", ")
            ),
        );
        None
    }

    fn scenario(&mut self, root: &Node) -> RawScenario {
        let mut raw = RawScenario::default();
        let known = [
            "name",
            "description",
            "seed",
            "services",
            "initial",
            "target",
            "load",
            "strategies",
            "faults",
            "gate",
            "risk",
            "expect",
            "flags",
        ];
        let Some(fields) = self.fields(root, "", &known, &[]) else {
            return raw;
        };

        match fields.get("name") {
            Some(node) => {
                raw.name = self
                    .name(node, "name", Naming::Scenario)
                    .map(|name| name.value)
            }
            None => self.problem("name", root.pos, "missing required key `name`"),
        }
        if let Some(node) = fields.get("description") {
            raw.description = self.string(node, "description");
        }
        if let Some(node) = fields.get("seed") {
            raw.seed = self.integer(node, "seed", 0, u64::MAX).unwrap_or(0);
        }
        match fields.get("services") {
            Some(node) => {
                raw.services_pos = node.pos;
                for (name, service) in self.entries(node, "services") {
                    if self.name_ok(&name, Naming::Service) {
                        let path = name.path.clone();
                        if let Some(decoded) = self.service(service, &path, name.pos) {
                            raw.services.push((name, decoded));
                        }
                    }
                }
                if matches!(&node.value, Value::Map(entries) if entries.is_empty()) {
                    self.problem("services", node.pos, "at least one service is required");
                }
            }
            None => self.problem("services", root.pos, "missing required key `services`"),
        }
        if let Some(node) = fields.get("initial") {
            raw.initial = self.deployment(node, "initial");
        }
        if let Some(node) = fields.get("target") {
            raw.target = self.deployment(node, "target");
        }
        if let Some(node) = fields.get("load") {
            raw.load = self.load(node, &mut raw.entry_loads);
        }
        if let Some(node) = fields.get("strategies") {
            raw.strategies = Some((self.strategies(node), node.pos));
        }
        if let Some(node) = fields.get("faults") {
            for (i, item) in self.seq(node, "faults").iter().enumerate() {
                if let Some(fault) = self.fault(item, &index("faults", i)) {
                    raw.faults.push(fault);
                }
            }
        }
        if let Some(node) = fields.get("gate") {
            raw.gate = self.gate(node);
            if let (Some(gate), Some(value)) = (&raw.gate, node.get("on_breach")) {
                raw.gate_on_breach = Some(Located {
                    value: gate.on_breach,
                    path: "gate.on_breach".to_owned(),
                    pos: value.pos,
                });
            }
        }
        if let Some(node) = fields.get("expect") {
            raw.expect = self.expect(node, "expect");
        }
        if let Some(node) = fields.get("risk") {
            raw.risk = self.risk(node);
        }
        if let Some(node) = fields.get("flags") {
            raw.flags = self.flags(node);
        }
        raw
    }

    /// `flags:`: each flag's name, whether it is on before the rollout, and its percent.
    fn flags(&mut self, node: &Node) -> Vec<(Located<String>, RawFlag)> {
        let mut flags = Vec::new();
        for (name, value) in self.entries(node, "flags") {
            if !self.name_ok(&name, Naming::Flag) {
                continue;
            }
            let path = name.path.clone();
            let mut flag = RawFlag {
                on: false,
                percent: 100,
            };
            if !value.is_null()
                && let Some(fields) = self.fields(value, &path, &["on", "percent"], &[])
            {
                if let Some(on) = fields.get("on") {
                    flag.on = self.bool(on, &fields.path("on")).unwrap_or(false);
                }
                if let Some(percent) = fields.get("percent") {
                    flag.percent = self
                        .percent(percent, &fields.path("percent"))
                        .unwrap_or(100);
                }
            }
            flags.push((name, flag));
        }
        flags
    }

    fn percent(&mut self, node: &Node, path: &str) -> Option<u8> {
        self.integer(node, path, 0, 100)
            .and_then(|n| u8::try_from(n).ok())
    }

    fn name_ok(&mut self, name: &Located<String>, what: Naming) -> bool {
        match what.check(&name.value) {
            Ok(()) => true,
            Err(reason) => {
                self.problem(
                    &name.path,
                    name.pos,
                    format!("invalid {} \"{}\": {reason}", what.noun(), name.value),
                );
                false
            }
        }
    }

    /// One service; `name_pos` is where its name is written, for "missing `versions`".
    fn service(&mut self, node: &Node, path: &str, name_pos: Pos) -> Option<RawService> {
        let known = [
            "entrypoint",
            "replicas",
            "startup_ms",
            "rollout",
            "versions",
        ];
        let fields = self.fields(node, path, &known, &[])?;
        let mut service = RawService {
            entrypoint: false,
            replicas: 1,
            startup: Duration::ZERO,
            rollout: Rollout::Rolling,
            versions: Vec::new(),
        };
        if let Some(value) = fields.get("entrypoint") {
            // An unreadable value counts as `true`: the user meant something, and the
            // scenario is rejected anyway; this only avoids a second, misleading
            // "no entrypoint" problem.
            service.entrypoint = self.bool(value, &fields.path("entrypoint")).unwrap_or(true);
        }
        if let Some(value) = fields.get("replicas") {
            service.replicas = self
                .count(value, &fields.path("replicas"), 1, 64)
                .unwrap_or(1);
        }
        if let Some(value) = fields.get("startup_ms") {
            service.startup = self
                .millis(value, &fields.path("startup_ms"), 0)
                .unwrap_or_default();
        }
        if let Some(value) = fields.get("rollout") {
            let options = [
                ("rolling", Rollout::Rolling),
                ("recreate", Rollout::Recreate),
            ];
            service.rollout = self
                .choice(value, &fields.path("rollout"), &options)
                .unwrap_or(Rollout::Rolling);
        }
        match fields.get("versions") {
            Some(value) => {
                let versions_path = fields.path("versions");
                for (name, version) in self.entries(value, &versions_path) {
                    if !self.name_ok(&name, Naming::Version) {
                        continue;
                    }
                    let version_path = name.path.clone();
                    if let Some(decoded) = self.version(version, &version_path) {
                        service.versions.push((name, decoded));
                    }
                }
                if matches!(&value.value, Value::Map(entries) if entries.is_empty()) {
                    self.problem(
                        &versions_path,
                        value.pos,
                        "at least one version is required",
                    );
                }
            }
            None => self.problem(path, name_pos, "missing required key `versions`"),
        }
        Some(service)
    }

    fn version(&mut self, node: &Node, path: &str) -> Option<RawVersion> {
        let mut version = RawVersion {
            provides: Vec::new(),
            latency: Duration::ZERO,
            error_rate: 0.0,
            calls: Vec::new(),
            methods: Vec::new(),
        };
        // `v1: {}` and a bare `v1:` are both a version with every default.
        if node.is_null() {
            version.provides.push(Located {
                value: "v1".into(),
                path: path.to_owned(),
                pos: node.pos,
            });
            return Some(version);
        }
        let known = ["provides", "latency_ms", "error_rate", "calls", "methods"];
        let fields = self.fields(node, path, &known, &[])?;
        match fields.get("provides") {
            Some(value) => {
                let provides_path = fields.path("provides");
                for (i, item) in self.seq(value, &provides_path).iter().enumerate() {
                    let item_path = index(&provides_path, i);
                    if let Some(api) = self.name(item, &item_path, Naming::Api) {
                        if version.provides.iter().any(|seen| seen.value == api.value) {
                            self.problem(
                                &item_path,
                                item.pos,
                                format!("API version \"{}\" is listed twice", api.value),
                            );
                        } else {
                            version.provides.push(api);
                        }
                    }
                }
            }
            None => version.provides.push(Located {
                value: "v1".into(),
                path: path.to_owned(),
                pos: node.pos,
            }),
        }
        let work = self.work(&fields);
        version.latency = work.latency;
        version.error_rate = work.error_rate;
        version.calls = work.calls;
        if let Some(value) = fields.get("methods") {
            for (name, method) in self.entries(value, &fields.path("methods")) {
                if !self.name_ok(&name, Naming::Method) {
                    continue;
                }
                let method_path = name.path.clone();
                let known = ["latency_ms", "error_rate", "calls"];
                if method.is_null() {
                    version.methods.push((name, RawMethod::default()));
                } else if let Some(fields) = self.fields(method, &method_path, &known, &[]) {
                    let work = self.work(&fields);
                    version.methods.push((name, work));
                }
            }
        }
        Some(version)
    }

    /// What a method does (the default one: a version's own keys): `latency_ms`,
    /// `error_rate` and `calls`.
    fn work(&mut self, fields: &Fields<'_>) -> RawMethod {
        let mut work = RawMethod::default();
        if let Some(value) = fields.get("latency_ms") {
            work.latency = self
                .millis(value, &fields.path("latency_ms"), 0)
                .unwrap_or_default();
        }
        if let Some(value) = fields.get("error_rate") {
            work.error_rate = self.ratio(value, &fields.path("error_rate")).unwrap_or(0.0);
        }
        if let Some(value) = fields.get("calls") {
            let calls_path = fields.path("calls");
            for (i, item) in self.seq(value, &calls_path).iter().enumerate() {
                if let Some(call) = self.call(item, &index(&calls_path, i), false) {
                    work.calls.push(call);
                }
            }
        }
        work
    }

    /// One call; `in_fallback` for a call made only when another one failed, which may
    /// not be behind a flag or asynchronous (it is part of the call it stands in for).
    fn call(&mut self, node: &Node, path: &str, in_fallback: bool) -> Option<RawCall> {
        let known = [
            "service",
            "api",
            "method",
            "on_failure",
            "timeout_ms",
            "retries",
            "flag",
            "fallback",
            "async",
        ];
        let fields = self.fields(node, path, &known, &[])?;
        let service = match fields.get("service") {
            Some(value) => self.name(value, &fields.path("service"), Naming::Service),
            None => {
                self.problem(path, node.pos, "missing required key `service`");
                None
            }
        };
        let api = match fields.get("api") {
            Some(value) => self.name(value, &fields.path("api"), Naming::Api),
            None => Some(Located {
                value: "v1".into(),
                path: fields.path("api"),
                pos: node.pos,
            }),
        };
        let method = fields
            .get("method")
            .and_then(|value| self.name(value, &fields.path("method"), Naming::Method));
        let fallback = fields
            .get("fallback")
            .and_then(|value| self.fallback(value, &fields.path("fallback")));
        // A call with a fallback handles its failures by default: that is what the
        // fallback is for.
        let mut on_failure = if fallback.is_some() {
            OnFailure::DEGRADE
        } else {
            OnFailure::FAIL
        };
        if let Some(value) = fields.get("on_failure") {
            on_failure = self
                .on_failure(value, &fields.path("on_failure"))
                .unwrap_or(on_failure);
        }
        let mut timeout = Duration::from_millis(1000);
        if let Some(value) = fields.get("timeout_ms") {
            timeout = self
                .millis(value, &fields.path("timeout_ms"), 1)
                .unwrap_or(timeout);
        }
        let mut retries = 0;
        if let Some(value) = fields.get("retries") {
            retries = self
                .count(value, &fields.path("retries"), 0, 10)
                .unwrap_or(0);
        }
        let flag = fields
            .get("flag")
            .and_then(|value| self.name(value, &fields.path("flag"), Naming::Flag));
        let mut asynchronous = false;
        if let Some(value) = fields.get("async") {
            asynchronous = self.bool(value, &fields.path("async")).unwrap_or(false);
        }
        if in_fallback {
            for (key, set) in [("flag", flag.is_some()), ("async", asynchronous)] {
                if set && let Some(value) = fields.get(key) {
                    self.problem(
                        &fields.path(key),
                        value.pos,
                        format!(
                            "a fallback cannot have `{key}`: it is made exactly when the call it stands in for fails"
                        ),
                    );
                }
            }
        }
        // Keys that could never take effect are mistakes, not settings to ignore.
        if let (Some(_), Some(value)) = (&fallback, fields.get("on_failure"))
            && on_failure.always_fails()
        {
            self.problem(
                &fields.path("on_failure"),
                value.pos,
                "with `fail` for every code the fallback is never made: use `degrade` (or a rule per code that handles some codes)",
            );
        }
        if let (true, Some(value)) = (asynchronous, fields.get("on_failure")) {
            self.problem(
                &fields.path("on_failure"),
                value.pos,
                "an asynchronous call's failure never reaches its caller, so `on_failure` has no effect: remove it",
            );
        }
        if asynchronous && let (Some(_), Some(value)) = (&fallback, fields.get("fallback")) {
            self.problem(
                &fields.path("fallback"),
                value.pos,
                "an asynchronous call cannot have a fallback: nobody waits for its failure",
            );
        }
        Some(RawCall {
            path: path.to_owned(),
            service: service?,
            api: api?,
            method,
            on_failure,
            timeout,
            retries,
            flag,
            fallback: fallback.map(Box::new),
            asynchronous,
            explicit_on_failure: fields.get("on_failure").is_some(),
        })
    }

    /// `fallback:`: one call, or a list of calls, each the fallback of the one before.
    fn fallback(&mut self, node: &Node, path: &str) -> Option<RawCall> {
        if matches!(node.value, Value::Map(_)) {
            return self.call(node, path, true);
        }
        let items = self.seq(node, path);
        if items.is_empty() {
            // A scalar was reported by `seq`; an empty list or nothing is reported here.
            if node.is_null() || matches!(node.value, Value::Seq(_)) {
                let found = if node.is_null() {
                    "nothing"
                } else {
                    "an empty list"
                };
                self.problem(
                    path,
                    node.pos,
                    format!("expected a call or a list of calls, found {found}"),
                );
            }
            return None;
        }
        if items.len() > MAX_FALLBACKS {
            self.problem(
                path,
                node.pos,
                format!(
                    "a fallback list has at most {MAX_FALLBACKS} calls (this one has {})",
                    items.len()
                ),
            );
            return None;
        }
        let mut chain: Vec<RawCall> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = index(path, i);
            if let Some(call) = self.call(item, &item_path, true) {
                if i + 1 < items.len()
                    && call.explicit_on_failure
                    && call.on_failure.always_fails()
                    && let Some(value) = item.get("on_failure")
                {
                    self.problem(
                        &join(&item_path, "on_failure"),
                        value.pos,
                        "with `fail` for every code the next call of the list is never made: use `degrade`, or end the list here",
                    );
                }
                if call.fallback.is_some() {
                    self.problem(
                        &join(&item_path, "fallback"),
                        item.pos,
                        "a call in a fallback list cannot have its own `fallback`: the next item is its fallback",
                    );
                }
                chain.push(call);
            }
        }
        // [a, b, c]: b is a's fallback, c is b's; each but the last handles its failure.
        let mut next: Option<RawCall> = None;
        while let Some(mut call) = chain.pop() {
            if let Some(after) = next.take() {
                if !call.explicit_on_failure {
                    call.on_failure = OnFailure::DEGRADE;
                }
                call.fallback = Some(Box::new(after));
            }
            next = Some(call);
        }
        next
    }

    /// `on_failure`: `fail`, `degrade` or `ignore`, or a mapping from gRPC code names
    /// (and `default`) to one of those.
    fn on_failure(&mut self, node: &Node, path: &str) -> Option<OnFailure> {
        let actions = [
            ("fail", Action::Fail),
            ("degrade", Action::Degrade),
            ("ignore", Action::Ignore),
        ];
        if !matches!(node.value, Value::Map(_)) {
            return self.choice(node, path, &actions).map(OnFailure::always);
        }
        let mut known: Vec<&str> = FailCode::ALL.iter().map(|code| code.name()).collect();
        known.push("default");
        let fields = self.fields(node, path, &known, &[])?;
        let mut rule = OnFailure::FAIL;
        let mut clean = true;
        for (name, _, value) in &fields.entries {
            let Some(action) = self.choice(value, &fields.path(name), &actions) else {
                clean = false;
                continue;
            };
            match FailCode::from_name(name) {
                Some(code) => rule.by_code[code as usize] = Some(action),
                None => rule.default = action,
            }
        }
        clean.then_some(rule)
    }

    /// `initial` and `target`: service name to version, where `none` means not deployed.
    fn deployment(
        &mut self,
        node: &Node,
        path: &str,
    ) -> Vec<(Located<String>, Located<Option<String>>)> {
        let mut out = Vec::new();
        for (service, value) in self.entries(node, path) {
            if !self.name_ok(&service, Naming::Service) {
                continue;
            }
            let value_path = service.path.clone();
            let Some(version) = self.string(value, &value_path) else {
                continue;
            };
            let version = (version != "none").then_some(version);
            out.push((
                service,
                Located {
                    value: version,
                    path: value_path,
                    pos: value.pos,
                },
            ));
        }
        out
    }

    fn load(&mut self, node: &Node, entry_loads: &mut Vec<RawEntryLoad>) -> Load {
        let mut load = Load::default();
        let known = [
            "rps",
            "baseline_ms",
            "step_ms",
            "max_in_flight",
            "entrypoints",
        ];
        let Some(fields) = self.fields(node, "load", &known, &[]) else {
            return load;
        };
        if let Some(value) = fields.get("entrypoints") {
            for (service, entry) in self.entries(value, "load.entrypoints") {
                if !self.name_ok(&service, Naming::Service) {
                    continue;
                }
                let path = service.path.clone();
                let mut raw = RawEntryLoad {
                    service,
                    rps: None,
                    mix: Vec::new(),
                };
                if let Some(fields) = self.fields(entry, &path, &["rps", "mix"], &[]) {
                    if let Some(value) = fields.get("rps") {
                        raw.rps = self.count(value, &fields.path("rps"), 1, 100_000);
                    }
                    if let Some(value) = fields.get("mix") {
                        let mix_path = fields.path("mix");
                        for (method, weight) in self.entries(value, &mix_path) {
                            let weight = self.count(weight, &method.path, 0, 1_000_000);
                            if method.value != DEFAULT_METHOD
                                && !self.name_ok(&method, Naming::Method)
                            {
                                continue;
                            }
                            if let Some(weight) = weight {
                                raw.mix.push((method, weight));
                            }
                        }
                        if matches!(&value.value, Value::Map(entries) if entries.is_empty()) {
                            self.problem(
                                &mix_path,
                                value.pos,
                                "an empty mix sends nothing: name each method with its weight",
                            );
                        }
                        if !raw.mix.is_empty() && raw.mix.iter().all(|(_, weight)| *weight == 0) {
                            self.problem(
                                &mix_path,
                                value.pos,
                                "every weight is 0: no request would be sent",
                            );
                        }
                    }
                }
                entry_loads.push(raw);
            }
        }
        if let Some(value) = fields.get("rps") {
            load.rps = self
                .count(value, "load.rps", 1, 100_000)
                .unwrap_or(load.rps);
        }
        if let Some(value) = fields.get("baseline_ms") {
            load.baseline = self
                .millis(value, "load.baseline_ms", 0)
                .unwrap_or(load.baseline);
        }
        if let Some(value) = fields.get("step_ms") {
            load.bake = self.millis(value, "load.step_ms", 0).unwrap_or(load.bake);
        }
        if let Some(value) = fields.get("max_in_flight") {
            load.max_in_flight = self
                .count(value, "load.max_in_flight", 1, 100_000)
                .unwrap_or(load.max_in_flight);
        }
        load
    }

    fn strategies(&mut self, node: &Node) -> Vec<RawStrategy> {
        let mut out = Vec::new();
        for (i, item) in self.seq(node, "strategies").iter().enumerate() {
            let path = index("strategies", i);
            if let Some(strategy) = self.strategy(item, &path) {
                out.push(strategy);
            }
        }
        out
    }

    fn builtin(&mut self, name: &Located<String>) -> Option<StrategyKind> {
        if let Some(kind) = StrategyKind::builtin(&name.value) {
            return Some(kind);
        }
        if name
            .value
            .strip_prefix("waves-")
            .and_then(|size| size.parse::<usize>().ok())
            == Some(0)
        {
            self.problem(
                &name.path,
                name.pos,
                "waves-0 has no services per step: K in waves-K must be at least 1",
            );
            return None;
        }
        let hint = did_you_mean(&name.value, StrategyKind::BUILTIN_NAMES);
        let message = format!(
            "unknown strategy \"{}\"{hint} (built-in strategies: batch, single-piece, random, waves-K, safe, dark; \
             an explicit order is a mapping with `name` and `steps`)",
            name.value
        );
        self.problem(&name.path, name.pos, message);
        None
    }

    fn strategy(&mut self, node: &Node, path: &str) -> Option<RawStrategy> {
        if let Value::Scalar { .. } = node.value {
            // A bare name must be a built-in; checking that first gives "did you mean
            // single-piece?" for `single_piece` instead of a syntax complaint.
            let name = Located {
                value: self.string(node, path)?,
                path: path.to_owned(),
                pos: node.pos,
            };
            let kind = self.builtin(&name)?;
            return Some(RawStrategy {
                name,
                kind: RawStrategyKind::Builtin(kind),
                expect: Expect::default(),
                on_breach: None,
            });
        }
        let fields = self.fields(node, path, &["name", "steps", "expect", "on_breach"], &[])?;
        let on_breach = fields.get("on_breach").and_then(|value| {
            let path = fields.path("on_breach");
            let breach = self.breach(value, &path)?;
            Some(Located {
                value: breach,
                path,
                pos: value.pos,
            })
        });
        let name = match fields.get("name") {
            Some(value) => self.name(value, &fields.path("name"), Naming::Strategy),
            None => {
                self.problem(path, node.pos, "missing required key `name`");
                None
            }
        };
        let expect = fields
            .get("expect")
            .map(|value| self.expect(value, &fields.path("expect")))
            .unwrap_or_default();
        let name = name?;
        let kind = match fields.get("steps") {
            None => RawStrategyKind::Builtin(self.builtin(&name)?),
            Some(value) => {
                if StrategyKind::builtin(&name.value).is_some() {
                    let message = format!(
                        "\"{}\" is a built-in strategy; give an explicit order another name",
                        name.value
                    );
                    self.problem(&name.path, name.pos, message);
                }
                RawStrategyKind::Steps(self.steps(value, &fields.path("steps")))
            }
        };
        Some(RawStrategy {
            name,
            kind,
            expect,
            on_breach,
        })
    }

    fn steps(&mut self, node: &Node, path: &str) -> Vec<Located<RawStep>> {
        let mut steps = Vec::new();
        let items = self.seq(node, path);
        if items.is_empty() {
            self.problem(path, node.pos, "an explicit order needs at least one step");
        }
        for (i, item) in items.iter().enumerate() {
            let step_path = index(path, i);
            let mut step = RawStep::default();
            match &item.value {
                Value::Seq(parts) => {
                    if parts.is_empty() {
                        self.problem(&step_path, item.pos, "a step needs at least one service");
                    }
                    // A list step moves services; a mapping inside it changes flags in the
                    // same step (deploy and release together).
                    for (j, part) in parts.iter().enumerate() {
                        let part_path = index(&step_path, j);
                        if let Value::Map(_) = part.value {
                            step.flags.extend(self.flag_changes(part, &part_path));
                        } else if let Some(name) = self.name(part, &part_path, Naming::Service) {
                            step.services.push(name);
                        }
                    }
                }
                Value::Map(_) => step.flags = self.flag_changes(item, &step_path),
                Value::Scalar { text, .. } => {
                    let message = format!(
                        "a step is a list of services or a flag change, found \"{text}\"; write [{text}] for a step that deploys only {text}"
                    );
                    self.problem(&step_path, item.pos, message);
                }
            }
            steps.push(Located {
                value: step,
                path: step_path,
                pos: item.pos,
            });
        }
        steps
    }

    /// A flag step: `{release: F}`, `{unrelease: F}`, `{percent: {F: N, ...}}`, or several
    /// of them in one mapping.
    fn flag_changes(&mut self, node: &Node, path: &str) -> Vec<RawFlagChange> {
        let mut changes = Vec::new();
        let Some(fields) = self.fields(node, path, &["release", "unrelease", "percent"], &[])
        else {
            return changes;
        };
        // An empty mapping; a mapping with only unknown keys is already reported.
        if matches!(&node.value, Value::Map(entries) if entries.is_empty()) {
            self.problem(
                path,
                node.pos,
                "a flag step needs `release`, `unrelease` or `percent`",
            );
        }
        for (key, op) in [
            ("release", FlagOp::Release),
            ("unrelease", FlagOp::Unrelease),
        ] {
            if let Some(value) = fields.get(key)
                && let Some(flag) = self.name(value, &fields.path(key), Naming::Flag)
            {
                changes.push((flag, op));
            }
        }
        if let Some(value) = fields.get("percent") {
            for (flag, share) in self.entries(value, &fields.path("percent")) {
                if !self.name_ok(&flag, Naming::Flag) {
                    continue;
                }
                let share_path = flag.path.clone();
                if let Some(percent) = self.percent(share, &share_path) {
                    changes.push((flag, FlagOp::Percent(percent)));
                }
            }
        }
        changes
    }

    fn fault(&mut self, node: &Node, path: &str) -> Option<RawFault> {
        let known = [
            "kill",
            "missing",
            "partition",
            "at_step",
            "after_ms",
            "for_ms",
        ];
        let not_yet = [
            ("latency", NOT_YET_FAULT),
            ("errors", NOT_YET_FAULT),
            ("crash", NOT_YET_FAULT),
        ];
        let fields = self.fields(node, path, &known, &not_yet)?;
        let mut kinds = Vec::new();
        if let Some(value) = fields.get("kill") {
            kinds.push(
                self.name(value, &fields.path("kill"), Naming::Service)
                    .map(RawFaultKind::Kill),
            );
        }
        if let Some(value) = fields.get("missing") {
            kinds.push(
                self.name(value, &fields.path("missing"), Naming::Service)
                    .map(RawFaultKind::Missing),
            );
        }
        if let Some(value) = fields.get("partition") {
            let partition_path = fields.path("partition");
            let parsed = self
                .fields(value, &partition_path, &["from", "to"], &[])
                .and_then(|ends| {
                    let from = ends
                        .get("from")
                        .and_then(|end| self.name(end, &ends.path("from"), Naming::Service));
                    let to = ends
                        .get("to")
                        .and_then(|end| self.name(end, &ends.path("to"), Naming::Service));
                    if ends.get("from").is_none() || ends.get("to").is_none() {
                        self.problem(
                            &partition_path,
                            value.pos,
                            "a partition needs both `from` and `to`",
                        );
                    }
                    Some(RawFaultKind::Partition {
                        from: from?,
                        to: to?,
                    })
                });
            kinds.push(parsed);
        }
        let at_step = match fields.get("at_step") {
            Some(value) => {
                let step_path = fields.path("at_step");
                // A bad value is reported here; step 0 stands in for it so that the
                // fault's services are still checked.
                let step = self
                    .integer(value, &step_path, 0, 1_000_000)
                    .and_then(|n| usize::try_from(n).ok());
                Located {
                    value: step.unwrap_or(0),
                    path: step_path,
                    pos: value.pos,
                }
            }
            None => Located {
                value: 0,
                path: fields.path("at_step"),
                pos: node.pos,
            },
        };
        let after = fields
            .get("after_ms")
            .and_then(|value| self.millis(value, &fields.path("after_ms"), 0));
        let duration = fields
            .get("for_ms")
            .and_then(|value| self.millis(value, &fields.path("for_ms"), 1));
        if kinds.is_empty() && not_yet.iter().any(|(key, _)| node.has_key(key)) {
            // Already reported as not supported yet; "needs one of" would only repeat it.
            return None;
        }
        if kinds.len() != 1 {
            let message = if kinds.is_empty() {
                "a fault needs one of `kill`, `missing` or `partition`"
            } else {
                "a fault has exactly one of `kill`, `missing` or `partition`; write one fault per list item"
            };
            self.problem(path, node.pos, message);
            return None;
        }
        Some(RawFault {
            kind: kinds.pop().flatten()?,
            at_step,
            after: after.unwrap_or_default(),
            duration,
        })
    }

    fn gate(&mut self, node: &Node) -> Option<Gate> {
        let fields = self.fields(node, "gate", &["max_failed_ratio", "on_breach"], &[])?;
        let mut gate = Gate {
            max_failed_ratio: 0.0,
            on_breach: Breach::Continue,
        };
        if let Some(value) = fields.get("max_failed_ratio") {
            gate.max_failed_ratio = self.ratio(value, "gate.max_failed_ratio").unwrap_or(0.0);
        }
        if let Some(value) = fields.get("on_breach") {
            gate.on_breach = self
                .breach(value, "gate.on_breach")
                .unwrap_or(Breach::Continue);
        }
        Some(gate)
    }

    fn breach(&mut self, node: &Node, path: &str) -> Option<Breach> {
        let options = [
            ("rollback", Breach::Rollback),
            ("stop", Breach::Stop),
            ("continue", Breach::Continue),
            ("kill-switch", Breach::KillSwitch),
        ];
        self.choice(node, path, &options)
    }

    fn expect(&mut self, node: &Node, path: &str) -> Expect {
        let mut expect = Expect::default();
        let known = [
            "graceful",
            "max_failed_ratio",
            "max_degraded_ratio",
            "p99_ms",
        ];
        let Some(fields) = self.fields(node, path, &known, &[]) else {
            return expect;
        };
        if let Some(value) = fields.get("graceful") {
            expect.graceful = self.bool(value, &fields.path("graceful"));
        }
        if let Some(value) = fields.get("max_failed_ratio") {
            expect.max_failed_ratio = self.ratio(value, &fields.path("max_failed_ratio"));
        }
        if let Some(value) = fields.get("max_degraded_ratio") {
            expect.max_degraded_ratio = self.ratio(value, &fields.path("max_degraded_ratio"));
        }
        if let Some(value) = fields.get("p99_ms") {
            expect.p99 = self.millis(value, &fields.path("p99_ms"), 1);
        }
        expect
    }

    fn risk(&mut self, node: &Node) -> Risk {
        let mut risk = Risk::default();
        let known = ["trials", "strategies", "defect", "expect"];
        let Some(fields) = self.fields(node, "risk", &known, &[]) else {
            return risk;
        };
        if let Some(value) = fields.get("trials") {
            risk.trials = self
                .count(value, "risk.trials", 1, 1_000_000)
                .unwrap_or(risk.trials);
        }
        if let Some(value) = fields.get("strategies") {
            let mut kinds = Vec::new();
            for (i, item) in self.seq(value, "risk.strategies").iter().enumerate() {
                let item_path = index("risk.strategies", i);
                if let Some(name) = self.name(item, &item_path, Naming::Strategy) {
                    kinds.extend(self.builtin(&name));
                }
            }
            risk.strategies = kinds;
        }
        if let Some(value) = fields.get("defect") {
            risk.defect = self.defect(value);
        }
        if let Some(value) = fields.get("expect") {
            risk.expect = self.risk_expect(value, &risk.strategies);
        }
        risk
    }

    /// `risk.expect`: `strategy` and `max_KEY` for each of the risk measures; a rate
    /// from 0 to 1, every other measure a number of at least 0.
    fn risk_expect(&mut self, node: &Node, compared: &[StrategyKind]) -> RiskExpect {
        let mut expect = RiskExpect::default();
        let path = "risk.expect";
        let keys: Vec<String> = std::iter::once("strategy".to_owned())
            .chain(RISK_MEASURE_KEYS.iter().map(|key| format!("max_{key}")))
            .collect();
        let known: Vec<&str> = keys.iter().map(String::as_str).collect();
        let Some(fields) = self.fields(node, path, &known, &[]) else {
            return expect;
        };
        if let Some(value) = fields.get("strategy") {
            let strategy_path = join(path, "strategy");
            if let Some(name) = self.name(value, &strategy_path, Naming::Strategy) {
                expect.strategy = self.builtin(&name);
                let compared_here = |kind: &StrategyKind| {
                    *kind == StrategyKind::SinglePiece || compared.contains(kind)
                };
                if expect
                    .strategy
                    .as_ref()
                    .is_some_and(|kind| !compared_here(kind))
                {
                    self.problem(
                        &strategy_path,
                        value.pos,
                        format!(
                            "\"{}\" is not one of the strategies compared: add it to risk.strategies",
                            name.value
                        ),
                    );
                }
            }
        }
        for key in RISK_MEASURE_KEYS {
            let field = format!("max_{key}");
            let Some(value) = fields.get(field.as_str()) else {
                continue;
            };
            let field_path = join(path, &field);
            let limit = if key == "change_failure_rate" {
                self.ratio(value, &field_path)
            } else {
                self.amount(value, &field_path)
            };
            if let Some(limit) = limit {
                expect.limits.push((key.to_owned(), limit));
            }
        }
        expect
    }

    fn defect(&mut self, node: &Node) -> Defect {
        let mut defect = Defect::default();
        let known = ["probability", "kinds", "error_rate", "add_ms"];
        let Some(fields) = self.fields(node, "risk.defect", &known, &[]) else {
            return defect;
        };
        if let Some(value) = fields.get("probability") {
            defect.probability = self
                .ratio(value, "risk.defect.probability")
                .unwrap_or(defect.probability);
        }
        if let Some(value) = fields.get("error_rate") {
            defect.error_rate = self
                .ratio(value, "risk.defect.error_rate")
                .unwrap_or(defect.error_rate);
        }
        if let Some(value) = fields.get("add_ms") {
            defect.add = self
                .millis(value, "risk.defect.add_ms", 0)
                .unwrap_or(defect.add);
        }
        if let Some(value) = fields.get("kinds") {
            let kinds_path = "risk.defect.kinds";
            if let Some(kinds) =
                self.fields(value, kinds_path, &["errors", "latency", "drop-api"], &[])
            {
                let mut weight = |key: &str| {
                    kinds
                        .get(key)
                        .map(|w| self.ratio(w, &join(kinds_path, key)).unwrap_or(0.0))
                };
                defect.weight_errors = weight("errors").unwrap_or(0.0);
                defect.weight_latency = weight("latency").unwrap_or(0.0);
                defect.weight_drop_api = weight("drop-api").unwrap_or(0.0);
                if defect.weight_errors + defect.weight_latency + defect.weight_drop_api <= 0.0 {
                    self.problem(
                        kinds_path,
                        value.pos,
                        "at least one defect kind needs a weight above 0",
                    );
                }
            }
        }
        defect
    }
}

/// A plain (unquoted) scalar that reads as a finite number.
fn finite(node: &Node) -> Option<f64> {
    match &node.value {
        Value::Scalar {
            text,
            quoted: false,
        } => text.parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// How a scalar looks, for "expected X, found Y" messages.
fn describe(node: &Node) -> String {
    match &node.value {
        Value::Scalar { text, quoted } if !node.is_null() => {
            if *quoted {
                format!("the quoted string \"{text}\"")
            } else {
                format!("\"{text}\"")
            }
        }
        _ => node.kind_name().to_owned(),
    }
}

/// The kinds of names a scenario has, with their syntax.
#[derive(Debug, Clone, Copy)]
enum Naming {
    Scenario,
    Service,
    Version,
    Api,
    Strategy,
    Flag,
    Method,
}

impl Naming {
    fn noun(self) -> &'static str {
        match self {
            Naming::Scenario => "scenario name",
            Naming::Service => "service name",
            Naming::Version => "version name",
            Naming::Api => "API version",
            Naming::Strategy => "strategy name",
            Naming::Flag => "flag name",
            Naming::Method => "method name",
        }
    }

    fn check(self, name: &str) -> Result<(), &'static str> {
        if name.is_empty() {
            return Err("it is empty");
        }
        if name.chars().count() > 63 {
            return Err("names are at most 63 characters");
        }
        match self {
            Naming::Scenario | Naming::Service | Naming::Strategy | Naming::Flag => {
                if !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    return Err("use lowercase letters, digits and '-'");
                }
                if name.starts_with('-') || name.ends_with('-') {
                    return Err("it must start and end with a letter or digit");
                }
            }
            Naming::Method => {}
            Naming::Version | Naming::Api => {
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                {
                    return Err("use letters, digits, '.', '_' and '-'");
                }
                if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                    return Err("it must start with a letter or digit");
                }
            }
        }
        if let Naming::Method = self {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            {
                return Err("use letters, digits, '_' and '-'");
            }
            if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err("it must start with a letter");
            }
        }
        if matches!(self, Naming::Method) && name == "default" {
            return Err("\"default\" names a version's own calls (no `method:` needed)");
        }
        if matches!(self, Naming::Method) && name == "Call" {
            return Err("\"Call\" is the gRPC method of a version's own calls");
        }
        if matches!(self, Naming::Version) && name == "none" {
            return Err("\"none\" means not deployed in `initial` and `target`");
        }
        Ok(())
    }
}
