//! Scenario files: YAML to a validated [`Scenario`].
//!
//! Loading has three stages, each in its own file: `yaml` builds a located tree with
//! hard budgets, `raw` decodes it key by key, `validate` checks references between keys.
//! Each stage collects every problem it finds, so a user sees all of them at once.

pub mod input;
pub mod located;
pub mod problem;
mod raw;
mod validate;
pub mod yaml;

use std::path::Path;

use crate::model::Scenario;

pub use located::Positions;
pub use problem::{Problem, ScenarioError};

pub use input::MAX_FILE_BYTES;

/// The JSON Schema (draft 2020-12) of scenario files: `simulate schema` prints it, and
/// `tests/it/schema.rs` holds its keys to the loader's ([`known_keys`]).
pub const SCHEMA: &str = include_str!("../../schema/scenario.schema.json");

/// Reads and validates the scenario at `path`; `-` reads standard input (named
/// `<stdin>` in messages).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with_text(path).map(|(scenario, _)| scenario)
}

/// [`load`], and the text the scenario was read from (a sharded run's part carries it).
pub fn load_with_text(path: &Path) -> Result<(Scenario, String), ScenarioError> {
    if path.is_dir() {
        return Err(ScenarioError::Read {
            path: path.to_owned(),
            reason: "it is a directory, not a scenario file".to_owned(),
        });
    }
    let text = input::read_text(path).map_err(|err| ScenarioError::Read {
        path: err.path,
        reason: err.reason,
    })?;
    let shown = if path == Path::new("-") {
        Path::new(input::STDIN_NAME)
    } else {
        path
    };
    let scenario = parse_str(&text, shown)?;
    Ok((scenario, text))
}

/// Validates scenario `text`; `path` is only used in messages.
pub fn parse_str(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let root = yaml::parse(text).map_err(|error| ScenarioError::Tree {
        path: path.to_owned(),
        source_text: text.to_owned(),
        error,
    })?;
    let mut problems = problem::Problems::default();
    let raw = raw::decode(&root, &mut problems);
    let scenario = validate::validate(raw, &mut problems);
    match scenario {
        Some(scenario) if problems.is_empty() => Ok(scenario),
        _ => Err(ScenarioError::Invalid {
            path: path.to_owned(),
            source_text: text.to_owned(),
            problems: problems.into_sorted(),
        }),
    }
}

/// Where each key of scenario `text` is, read by the same parser the loader uses (so
/// the same lines and columns its problems name); `None` when the text is no YAML
/// tree. Read on demand, by the reports that point at lines: a run that prints none
/// pays nothing for it.
pub fn positions(text: &str) -> Option<Positions> {
    yaml::parse(text).ok().map(|root| Positions::of(&root))
}

/// The keys the loader knows at each mapping of scenario `text` it reads, by key path
/// (`services.web.versions.v1` -> `latency_ms`, `calls`, ...); `None` when the text is
/// no YAML tree. What the JSON Schema of `simulate schema` is held to.
pub fn known_keys(text: &str) -> Option<std::collections::BTreeMap<String, Vec<String>>> {
    yaml::parse(text).ok().map(|root| raw::known_keys(&root))
}

/// A scenario written inline in a unit test; a test scenario that does not load is a bug
/// in the test, so this panics with every problem found.
#[cfg(test)]
pub(crate) fn inline(yaml: &str) -> Scenario {
    parse_str(yaml, Path::new("test.yaml")).unwrap_or_else(|err| panic!("{err}"))
}
