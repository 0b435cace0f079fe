//! Scenario files: YAML to a validated [`Scenario`].
//!
//! Loading has three stages, each in its own file: `yaml` builds a located tree with
//! hard budgets, `raw` decodes it key by key, `validate` checks references between keys.
//! Each stage collects every problem it finds, so a user sees all of them at once.

pub mod problem;
mod raw;
mod validate;
pub mod yaml;

use std::io::Read;
use std::path::Path;

use crate::model::Scenario;

pub use problem::{Problem, ScenarioError};

/// The largest scenario file accepted. A generated 10,000-service scenario is about
/// 2 MiB; anything far larger is a mistake, and reading it would cost memory for nothing.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Reads and validates the scenario at `path`; `-` reads standard input (named
/// `<stdin>` in messages).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    if path == Path::new("-") {
        return read(std::io::stdin().lock(), Path::new("<stdin>"));
    }
    let read_error = |reason: String| ScenarioError::Read {
        path: path.to_owned(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|err| read_error(io_reason(&err)))?;
    if metadata.is_dir() {
        return Err(read_error("it is a directory, not a scenario file".into()));
    }
    let file = std::fs::File::open(path).map_err(|err| read_error(io_reason(&err)))?;
    read(file, path)
}

/// Reads a scenario from `source` (named `path` in messages) and validates it.
fn read(source: impl Read, path: &Path) -> Result<Scenario, ScenarioError> {
    let read_error = |reason: String| ScenarioError::Read {
        path: path.to_owned(),
        reason,
    };
    // Read at most one byte past the cap, so a huge file (or an endless one such as
    // /dev/zero) costs no more than the cap to refuse.
    let mut bytes = Vec::new();
    source
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| read_error(io_reason(&err)))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(read_error(format!(
            "it is larger than the {} MiB limit",
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|err| {
        read_error(format!(
            "it is not UTF-8 text (invalid byte at offset {})",
            err.utf8_error().valid_up_to()
        ))
    })?;
    parse_str(&text, path)
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

/// The OS error without Rust's "(os error 2)" suffix, lowercase as the house style has it.
fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let text = err.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            text.to_lowercase()
        }
    }
}

/// A scenario written inline in a unit test; a test scenario that does not load is a bug
/// in the test, so this panics with every problem found.
#[cfg(test)]
pub(crate) fn inline(yaml: &str) -> Scenario {
    parse_str(yaml, Path::new("test.yaml")).unwrap_or_else(|err| panic!("{err}"))
}
