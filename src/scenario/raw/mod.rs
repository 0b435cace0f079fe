//! Stage one of loading: the located YAML tree to raw structs.
//!
//! This stage checks what can be checked one key at a time: unknown and duplicate keys,
//! types, name syntax and number ranges. References between keys (a call naming a
//! service, `initial` naming a version) keep their location (`Located`) and are checked by
//! `validate`. A key with a bad value is reported and left out, and decoding goes on, so
//! one run reports every problem in the file. Nothing outside `scenario` imports this.

//!
//! One file per part of the format: `service` (services, versions, methods, calls),
//! `strategy` (strategies, steps, flags), `load`, `fault` (faults and the gate),
//! `protect` (a version's capacity, a call's protections) and `expect` (expectations
//! and risk); `value` holds the readers of one value each (a
//! bool, a count, a ratio, a name...) that every part uses, and `opt`, which reads an
//! optional key with one of them.

mod expect;
mod fault;
mod load;
mod protect;
mod service;
mod strategy;
mod value;

use std::rc::Rc;
use std::time::Duration;

use super::problem::Problems;
use super::yaml::{Node, Pos};
use crate::model::{
    Amount, Breach, Expect, FailUnit, Gate, Load, OnFailure, Risk, Rollout, StrategyKind,
};

pub use value::Naming;

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
    pub availability: RawAvailability,
    pub flags: Vec<(Located<String>, RawFlag)>,
}

/// `availability:`, its names still located for the checks against the services.
#[derive(Debug, Default)]
pub struct RawAvailability {
    pub unit: FailUnit,
    pub levels: Vec<Amount>,
    pub spare: Vec<Located<String>>,
    pub degraded_lost: bool,
    /// (level, entrypoint or the whole load, the least share served).
    pub expect: Vec<(Amount, Option<Located<String>>, f64)>,
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
    pub capacity: Option<crate::model::Capacity>,
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
    pub protect: crate::model::Protect,
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
    Latency {
        service: Located<String>,
        add: std::time::Duration,
        jitter: std::time::Duration,
    },
    Errors {
        service: Located<String>,
        rate: f64,
        code: crate::model::FailCode,
    },
    Hang(Located<String>),
    Crash {
        service: Located<String>,
        every: std::time::Duration,
    },
}

/// Decodes the tree. Problems go to `problems`; the result holds what decoded cleanly.
pub fn decode(root: &Node, problems: &mut Problems) -> RawScenario {
    let mut decoder = Decoder {
        problems,
        known: None,
    };
    decoder.scenario(root)
}

/// The keys the decoder knows at each mapping of `root` it reads (by its key path): the
/// loader's own table of keys, which the JSON Schema is held to (`tests/it/schema.rs`).
pub fn known_keys(root: &Node) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut problems = Problems::default();
    let mut decoder = Decoder {
        problems: &mut problems,
        known: Some(std::collections::BTreeMap::new()),
    };
    decoder.scenario(root);
    decoder.known.unwrap_or_default()
}

struct Decoder<'p> {
    problems: &'p mut Problems,
    /// When asked for (`known_keys`), the keys known at each mapping read.
    known: Option<std::collections::BTreeMap<String, Vec<String>>>,
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
    pub(super) fn scenario(&mut self, root: &Node) -> RawScenario {
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
            "availability",
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
        raw.description = self.opt(&fields, "description", |d, node, path| d.string(node, path));
        raw.seed = self
            .opt(&fields, "seed", |d, node, path| {
                d.integer(node, path, 0, u64::MAX)
            })
            .unwrap_or(0);
        match fields.get("services") {
            Some(node) => {
                raw.services_pos = node.pos;
                raw.services = self.services(node);
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
        raw.expect = self
            .opt(&fields, "expect", |d, node, path| {
                Some(d.expect(node, path))
            })
            .unwrap_or_default();
        if let Some(node) = fields.get("risk") {
            raw.risk = self.risk(node);
        }
        if let Some(node) = fields.get("flags") {
            raw.flags = self.flags(node);
        }
        if let Some(node) = fields.get("availability") {
            raw.availability = self.availability(node);
        }
        raw
    }

    /// The value of `key` in `fields` read by `read`, when the key is written; `None`
    /// when it is not, or when its value is bad (then `read` has reported it).
    pub(super) fn opt<T>(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        read: impl FnOnce(&mut Self, &Node, &str) -> Option<T>,
    ) -> Option<T> {
        let node = fields.get(key)?;
        read(self, node, &fields.path(key))
    }
}
