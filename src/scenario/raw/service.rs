//! Services, their versions and methods, and each call with its rule, fallback, flag
//! and timing.

use std::time::Duration;

use super::{
    Decoder, Fields, Located, Naming, RawCall, RawMethod, RawService, RawVersion, index, join,
};
use crate::model::{Action, FailCode, OnFailure, Rollout};
use crate::scenario::yaml::{Node, Pos, Value};

/// The most calls a `fallback:` list may chain (each is a level of every walk of it).
const MAX_FALLBACKS: usize = 16;

/// What a call is to its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// A call of a method.
    Own,
    /// The fallback of another call.
    Fallback,
}

/// What a call's keys make of it, for the keys that could never take effect.
struct Shape {
    fallback: bool,
    /// `on_failure` is written and fails for every code.
    fails_always: bool,
    flag: bool,
    asynchronous: bool,
    /// The call is a fallback of another.
    in_fallback: bool,
}

impl Decoder<'_> {
    /// `services:`: each service by name.
    pub(super) fn services(&mut self, node: &Node) -> Vec<(Located<String>, RawService)> {
        let mut services = Vec::new();
        for (name, service) in self.entries(node, "services") {
            if self.name_ok(&name, Naming::Service) {
                let path = name.path.clone();
                if let Some(decoded) = self.service(service, &path, name.pos) {
                    services.push((name, decoded));
                }
            }
        }
        if matches!(&node.value, Value::Map(entries) if entries.is_empty()) {
            self.problem("services", node.pos, "at least one service is required");
        }
        services
    }

    /// One service; `name_pos` is where its name is written, for "missing `versions`".
    pub(super) fn service(&mut self, node: &Node, path: &str, name_pos: Pos) -> Option<RawService> {
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
        service.replicas = self
            .opt(&fields, "replicas", |d, node, path| {
                d.count(node, path, 1, 64)
            })
            .unwrap_or(1);
        service.startup = self
            .opt(&fields, "startup_ms", |d, node, path| {
                d.millis(node, path, 0)
            })
            .unwrap_or_default();
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

    pub(super) fn version(&mut self, node: &Node, path: &str) -> Option<RawVersion> {
        let mut version = RawVersion {
            provides: Vec::new(),
            latency: Duration::ZERO,
            error_rate: 0.0,
            calls: Vec::new(),
            methods: Vec::new(),
            capacity: None,
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
        let known = [
            "provides",
            "latency_ms",
            "error_rate",
            "calls",
            "methods",
            "capacity",
        ];
        let fields = self.fields(node, path, &known, &[])?;
        version.capacity = self.opt(&fields, "capacity", |d, node, path| d.capacity(node, path));
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
    pub(super) fn work(&mut self, fields: &Fields<'_>) -> RawMethod {
        let mut work = RawMethod {
            latency: self
                .opt(fields, "latency_ms", |d, node, path| {
                    d.millis(node, path, 0)
                })
                .unwrap_or_default(),
            error_rate: self
                .opt(fields, "error_rate", |d, node, path| d.ratio(node, path))
                .unwrap_or(0.0),
            calls: Vec::new(),
        };
        if let Some(value) = fields.get("calls") {
            let calls_path = fields.path("calls");
            for (i, item) in self.seq(value, &calls_path).iter().enumerate() {
                if let Some(call) = self.call(item, &index(&calls_path, i), Role::Own) {
                    work.calls.push(call);
                }
            }
        }
        work
    }

    /// One call: a call of its own, or a fallback, made only when another one failed,
    /// which may not be behind a flag or asynchronous (it is part of the call it stands
    /// in for).
    pub(super) fn call(&mut self, node: &Node, path: &str, role: Role) -> Option<RawCall> {
        let mut known = vec![
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
        known.extend(super::protect::KEYS);
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
        let fallback = self.opt(&fields, "fallback", |d, node, path| d.fallback(node, path));
        // A call with a fallback handles its failures by default: that is what the
        // fallback is for.
        let default_rule = if fallback.is_some() {
            OnFailure::DEGRADE
        } else {
            OnFailure::FAIL
        };
        // Every key is read before a missing one ends the call, so that one run reports
        // every problem.
        let method = self.opt(&fields, "method", |d, node, path| {
            d.name(node, path, Naming::Method)
        });
        let on_failure = self
            .opt(&fields, "on_failure", |d, node, path| {
                d.on_failure(node, path)
            })
            .unwrap_or(default_rule);
        let timeout = self
            .opt(&fields, "timeout_ms", |d, node, path| {
                d.millis(node, path, 1)
            })
            .unwrap_or(Duration::from_millis(1000));
        let retries = self
            .opt(&fields, "retries", |d, node, path| {
                d.count(node, path, 0, 10)
            })
            .unwrap_or(0);
        let protect = self.protect(&fields, timeout, retries);
        let flag = self.opt(&fields, "flag", |d, node, path| {
            d.name(node, path, Naming::Flag)
        });
        let asynchronous = self
            .opt(&fields, "async", |d, node, path| d.bool(node, path))
            .unwrap_or(false);
        let explicit_on_failure = fields.get("on_failure").is_some();
        let shape = Shape {
            fallback: fallback.is_some(),
            fails_always: explicit_on_failure && on_failure.always_fails(),
            flag: flag.is_some(),
            asynchronous,
            in_fallback: role == Role::Fallback,
        };
        self.no_effect(&fields, &shape);
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
            explicit_on_failure,
            protect,
        })
    }

    /// Keys of a call that could never take effect are mistakes, not settings to ignore:
    /// a fallback behind a flag or asynchronous (it is made exactly when the call it
    /// stands in for fails), a fallback never made, a rule nobody hears.
    fn no_effect(&mut self, fields: &Fields<'_>, call: &Shape) {
        let mistake = |decoder: &mut Self, key: &str, message: &str| {
            if let Some(value) = fields.get(key) {
                decoder.problem(&fields.path(key), value.pos, message);
            }
        };
        if call.in_fallback {
            for (key, set) in [("flag", call.flag), ("async", call.asynchronous)] {
                if set {
                    mistake(
                        self,
                        key,
                        &format!(
                            "a fallback cannot have `{key}`: it is made exactly when the call it stands in for fails"
                        ),
                    );
                }
            }
        }
        if call.fallback && call.fails_always {
            mistake(
                self,
                "on_failure",
                "with `fail` for every code the fallback is never made: use `degrade` (or a rule per code that handles some codes)",
            );
        }
        if call.asynchronous {
            mistake(
                self,
                "on_failure",
                "an asynchronous call's failure never reaches its caller, so `on_failure` has no effect: remove it",
            );
            if call.fallback {
                mistake(
                    self,
                    "fallback",
                    "an asynchronous call cannot have a fallback: nobody waits for its failure",
                );
            }
        }
    }

    /// `fallback:`: one call, or a list of calls, each the fallback of the one before.
    pub(super) fn fallback(&mut self, node: &Node, path: &str) -> Option<RawCall> {
        if matches!(node.value, Value::Map(_)) {
            return self.call(node, path, Role::Fallback);
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
            if let Some(call) = self.call(item, &item_path, Role::Fallback) {
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
    pub(super) fn on_failure(&mut self, node: &Node, path: &str) -> Option<OnFailure> {
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
    pub(super) fn deployment(
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
}
