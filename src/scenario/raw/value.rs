//! Readers of one value each: a mapping's keys, a list, a string, a name, a bool, a
//! whole number in a range, a duration, a ratio, a choice. Each reports a bad value
//! (with what was expected and what was found) and returns `None`.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use super::{Decoder, Fields, Located, join};
use crate::scenario::problem::did_you_mean;
use crate::scenario::yaml::{Node, Pos, Value};

/// The longest time any `*_ms` key may take: one hour. Runs are bounded.
const MAX_MS: u64 = 3_600_000;

impl Decoder<'_> {
    pub(super) fn problem(&mut self, path: &str, pos: Pos, message: impl Into<String>) {
        self.problems.push(path, pos, message);
    }

    /// Opens a mapping whose keys must come from `known`. Unknown keys are reported with a
    /// suggestion; keys in `not_yet` are reported as not supported yet; duplicates too.
    pub(super) fn fields<'n>(
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
        if let Some(table) = &mut self.known {
            table.insert(
                path.to_owned(),
                known.iter().map(|key| (*key).to_owned()).collect(),
            );
        }
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
    pub(super) fn entries<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
    ) -> Vec<(Located<String>, &'n Node)> {
        let mut out: Vec<(Located<String>, &Node)> = Vec::new();
        // The line each name was first set on: found by hash, so a mapping of a hundred
        // thousand services (or aliases of one) is checked in linear time.
        let mut first_line: HashMap<&str, usize> = HashMap::new();
        for (name, key, value) in self.named_entries(node, path).unwrap_or_default() {
            let key_path = join(path, name);
            if let Some(&line) = first_line.get(name) {
                self.duplicate(&key_path, key, name, line);
                continue;
            }
            first_line.insert(name, key.pos.line);
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
    pub(super) fn named_entries<'n>(
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

    pub(super) fn duplicate(&mut self, key_path: &str, key: &Node, name: &str, first_line: usize) {
        self.problem(
            key_path,
            key.pos,
            format!("duplicate key `{name}` (first set on line {first_line})"),
        );
    }

    pub(super) fn seq<'n>(&mut self, node: &'n Node, path: &str) -> &'n [Rc<Node>] {
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

    pub(super) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
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
    pub(super) fn name(
        &mut self,
        node: &Node,
        path: &str,
        what: Naming,
    ) -> Option<Located<String>> {
        let name = Located {
            value: self.string(node, path)?,
            path: path.to_owned(),
            pos: node.pos,
        };
        self.name_ok(&name, what).then_some(name)
    }

    pub(super) fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
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

    pub(super) fn integer(&mut self, node: &Node, path: &str, min: u64, max: u64) -> Option<u64> {
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
            let range = format!("from {min} to {max}");
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
    pub(super) fn count(&mut self, node: &Node, path: &str, min: u32, max: u32) -> Option<u32> {
        let number = self.integer(node, path, u64::from(min), u64::from(max))?;
        // `integer` checked the range, so the number fits.
        u32::try_from(number).ok()
    }

    pub(super) fn millis(&mut self, node: &Node, path: &str, min: u64) -> Option<Duration> {
        self.integer(node, path, min, MAX_MS)
            .map(Duration::from_millis)
    }

    /// A finite number of at least 0 (a mean: requests, milliseconds, services).
    pub(super) fn amount(&mut self, node: &Node, path: &str) -> Option<f64> {
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

    pub(super) fn ratio(&mut self, node: &Node, path: &str) -> Option<f64> {
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

    pub(super) fn choice<T: Copy>(
        &mut self,
        node: &Node,
        path: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
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

    pub(super) fn percent(&mut self, node: &Node, path: &str) -> Option<u8> {
        self.integer(node, path, 0, 100)
            .and_then(|n| u8::try_from(n).ok())
    }

    pub(super) fn name_ok(&mut self, name: &Located<String>, what: Naming) -> bool {
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
pub enum Naming {
    Scenario,
    Service,
    Version,
    Api,
    Strategy,
    Flag,
    Method,
}

impl Naming {
    pub fn noun(self) -> &'static str {
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

    pub fn check(self, name: &str) -> Result<(), &'static str> {
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
