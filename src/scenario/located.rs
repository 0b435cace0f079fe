//! Where each key of a scenario file is: its key path (`services.web.versions.v2.calls[0]`,
//! the form problems use) mapped to its line and column. The validated `Scenario` holds
//! names, not positions; reports for a pipeline (annotations on the line that breaks)
//! find them here, read from the same located tree the loader validated.

use std::collections::BTreeMap;

use super::yaml::{Node, Pos, Value};

/// Every key path of one file, with the position of its key (of its item, in a
/// sequence) and its text when its value is a scalar.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    keys: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    pos: Pos,
    scalar: Option<String>,
}

impl Positions {
    /// The positions of every key under `root`.
    pub fn of(root: &Node) -> Positions {
        let mut positions = Positions::default();
        positions.walk(root, "");
        positions
    }

    fn walk(&mut self, node: &Node, path: &str) {
        match &node.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    self.keys.insert(
                        item_path.clone(),
                        Entry {
                            pos: item.pos,
                            scalar: item.scalar().map(str::to_owned),
                        },
                    );
                    self.walk(item, &item_path);
                }
            }
            Value::Map(entries) => {
                for (key, value) in entries {
                    // A key that is no scalar is reported by the loader; no path names it.
                    let Some(name) = key.scalar() else { continue };
                    let key_path = if path.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{path}.{name}")
                    };
                    // The first of two same keys is the one a problem names.
                    if self.keys.contains_key(&key_path) {
                        continue;
                    }
                    self.keys.insert(
                        key_path.clone(),
                        Entry {
                            pos: key.pos,
                            scalar: value.scalar().map(str::to_owned),
                        },
                    );
                    self.walk(value, &key_path);
                }
            }
        }
    }

    /// The position of `path`'s key, when the file writes it.
    pub fn at(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).map(|entry| entry.pos)
    }

    /// The scalar text at `path`, when the file writes one there.
    pub fn scalar(&self, path: &str) -> Option<&str> {
        self.keys.get(path)?.scalar.as_deref()
    }

    /// The nearest written key of `path` or of one of its parents, and its position:
    /// a key that is a default (not in the file) is shown at what holds it.
    pub fn nearest<'p>(&self, mut path: &'p str) -> Option<(&'p str, Pos)> {
        loop {
            if let Some(pos) = self.at(path) {
                return Some((path, pos));
            }
            path = parent(path)?;
        }
    }

    /// The key path of the call that `version` of `caller` makes to `callee` (at API
    /// `api`, when given): the first such call in the file's order, its fallbacks and
    /// methods' calls included; else the version's own key.
    /// With no `version`, the first call to `callee` of any of `caller`'s versions, else
    /// the service's own key.
    pub fn call(
        &self,
        caller: &str,
        version: Option<&str>,
        callee: &str,
        api: Option<&str>,
    ) -> String {
        let prefix = match version {
            Some(version) => format!("services.{caller}.versions.{version}"),
            None => format!("services.{caller}"),
        };
        let under = format!("{prefix}.");
        let mut found: Vec<(Pos, String)> = self
            .keys
            .range(under.clone()..)
            .take_while(|(path, _)| path.starts_with(&under))
            // Under a named version the call is that version's own (`calls[`, or a
            // method's): version `2` is not `2.1`, whose paths share the prefix.
            .filter(|(path, _)| {
                version.is_none() || {
                    let rest = &path[under.len()..];
                    rest.starts_with("calls[") || rest.starts_with("methods.")
                }
            })
            .filter_map(|(path, entry)| {
                let call = path.strip_suffix(".service")?;
                (entry.scalar.as_deref() == Some(callee)).then_some((entry.pos, call))
            })
            .filter(|(_, call)| {
                api.is_none_or(|api| self.scalar(&format!("{call}.api")).unwrap_or("v1") == api)
            })
            .map(|(pos, call)| (pos, call.to_owned()))
            .collect();
        found.sort_by_key(|(pos, _)| (pos.line, pos.col));
        found
            .into_iter()
            .next()
            .map(|(_, call)| call)
            .unwrap_or(prefix)
    }

    /// The key path of strategy `name` in `strategies:` (written as a word or with
    /// `name:`), when the file lists it.
    pub fn strategy(&self, name: &str) -> Option<String> {
        (0..)
            .map(|i| format!("strategies[{i}]"))
            .take_while(|path| self.keys.contains_key(path))
            .find(|path| {
                self.scalar(path) == Some(name)
                    || self.scalar(&format!("{path}.name")) == Some(name)
            })
    }
}

/// The key path that holds `path`: `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a`; `None` at
/// the root.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(text: &str) -> Positions {
        Positions::of(&super::super::yaml::parse(text).unwrap())
    }

    const SHOP: &str = "\
name: shop
services:
  web:
    versions:
      v1:
        calls:
          - service: catalog
          - { service: cart, api: v2 }
      v2:
        methods:
          Get: { calls: [ { service: cart } ] }
strategies: [batch, { name: slow, kind: single-piece }]
";

    #[test]
    fn keys_and_items_are_found_at_their_line_and_column() {
        let at = positions(SHOP);
        let pos = at.at("services.web.versions.v1.calls[1]").unwrap();
        assert_eq!((pos.line, pos.col), (8, 13));
        let pos = at.at("services.web.versions").unwrap();
        assert_eq!((pos.line, pos.col), (4, 5));
        assert_eq!(at.scalar("name"), Some("shop"));
        assert!(at.at("services.web.replicas").is_none());
    }

    #[test]
    fn a_default_key_is_shown_at_what_holds_it() {
        let at = positions(SHOP);
        let (path, pos) = at.nearest("services.web.replicas").unwrap();
        assert_eq!((path, pos.line), ("services.web", 3));
        assert!(at.nearest("nowhere").is_none());
    }

    #[test]
    fn a_call_is_found_by_its_callee_and_api_in_versions_and_methods() {
        let at = positions(SHOP);
        assert_eq!(
            at.call("web", Some("v1"), "catalog", None),
            "services.web.versions.v1.calls[0]"
        );
        assert_eq!(
            at.call("web", Some("v1"), "cart", Some("v2")),
            "services.web.versions.v1.calls[1]"
        );
        // No call to cart at API v1 in v1: the version itself.
        assert_eq!(
            at.call("web", Some("v1"), "cart", Some("v1")),
            "services.web.versions.v1"
        );
        assert_eq!(
            at.call("web", Some("v2"), "cart", None),
            "services.web.versions.v2.methods.Get.calls[0]"
        );
        assert_eq!(
            at.call("web", None, "cart", None),
            "services.web.versions.v1.calls[1]"
        );
        assert_eq!(at.call("web", None, "pay", None), "services.web");
    }

    #[test]
    fn a_version_is_not_taken_for_another_whose_name_it_begins() {
        let at = positions(
            "services:\n  web:\n    versions:\n      2.1: { calls: [ { service: db } ] }\n      2: { calls: [ { service: db } ] }\n",
        );
        assert_eq!(
            at.call("web", Some("2"), "db", None),
            "services.web.versions.2.calls[0]"
        );
        assert_eq!(
            at.call("web", Some("2.1"), "db", None),
            "services.web.versions.2.1.calls[0]"
        );
    }

    #[test]
    fn strategies_are_found_as_words_and_as_mappings() {
        let at = positions(SHOP);
        assert_eq!(at.strategy("batch").as_deref(), Some("strategies[0]"));
        assert_eq!(at.strategy("slow").as_deref(), Some("strategies[1]"));
        assert_eq!(at.strategy("random"), None);
    }
}
