//! Strategies (built-ins and explicit orders), their steps, and the flags and flag
//! changes steps make.

use super::{
    Decoder, FlagOp, Located, Naming, RawFlag, RawFlagChange, RawStep, RawStrategy,
    RawStrategyKind, index,
};
use crate::model::{Expect, StrategyKind};
use crate::scenario::problem::did_you_mean;
use crate::scenario::yaml::{Node, Value};

impl Decoder<'_> {
    pub(super) fn strategies(&mut self, node: &Node) -> Vec<RawStrategy> {
        let mut out = Vec::new();
        for (i, item) in self.seq(node, "strategies").iter().enumerate() {
            let path = index("strategies", i);
            if let Some(strategy) = self.strategy(item, &path) {
                out.push(strategy);
            }
        }
        out
    }

    pub(super) fn builtin(&mut self, name: &Located<String>) -> Option<StrategyKind> {
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

    pub(super) fn strategy(&mut self, node: &Node, path: &str) -> Option<RawStrategy> {
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

    pub(super) fn steps(&mut self, node: &Node, path: &str) -> Vec<Located<RawStep>> {
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
    pub(super) fn flag_changes(&mut self, node: &Node, path: &str) -> Vec<RawFlagChange> {
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

    /// `flags:`: each flag's name, whether it is on before the rollout, and its percent.
    pub(super) fn flags(&mut self, node: &Node) -> Vec<(Located<String>, RawFlag)> {
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
                flag.percent = self
                    .opt(&fields, "percent", |d, node, path| d.percent(node, path))
                    .unwrap_or(100);
            }
            flags.push((name, flag));
        }
        flags
    }
}
