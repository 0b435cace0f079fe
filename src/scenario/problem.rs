//! Problems found in a scenario file, and how they are shown to a user.
//!
//! A `Problem` is one located mistake: the key path (`services.web.replicas`), the line
//! and column, and a lowercase message. A `ScenarioError` carries every problem of one
//! file, so a user fixes them all in one pass instead of one per run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::yaml::{Pos, TreeError};

/// One located problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the scenario, as a key path: `services.web.versions.v2.calls[0].service`.
    /// Empty for the document root.
    pub path: String,
    pub pos: Pos,
    pub message: String,
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read at all (missing, a directory, too large, not UTF-8).
    #[error("error: cannot read scenario {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// The file is not a YAML document we can walk.
    #[error("{}", render_tree_error(path, source_text, error))]
    Tree {
        path: PathBuf,
        source_text: String,
        error: TreeError,
    },
    /// The YAML is well formed but describes an invalid scenario.
    #[error("{}", render_problems(path, source_text, problems))]
    Invalid {
        path: PathBuf,
        source_text: String,
        problems: Vec<Problem>,
    },
}

impl ScenarioError {
    /// The located problems, for callers (tests, JSON output) that want data, not text.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ScenarioError::Read { .. } => Vec::new(),
            ScenarioError::Tree { error, .. } => {
                vec![Problem {
                    path: String::new(),
                    pos: error.pos().unwrap_or_default(),
                    message: error.to_string(),
                }]
            }
            ScenarioError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

fn render_tree_error(path: &Path, source_text: &str, error: &TreeError) -> String {
    let message = shown(&error.to_string(), MAX_SHOWN);
    match error.pos() {
        Some(pos) => {
            let mut out = format!(
                "{}:{}:{}: error: {message}",
                shown(&path.display().to_string(), MAX_SHOWN),
                pos.line,
                pos.col
            );
            // Budget errors stay on one line: the source line of an alias bomb or of
            // deeply nested brackets shows nothing a user can act on.
            if !matches!(
                error,
                TreeError::TooManyNodes { .. } | TreeError::Depth { .. }
            ) {
                let lines = Lines::of(source_text);
                push_snippet(&mut out, lines.get(pos.line), pos);
            }
            out
        }
        None => format!(
            "{}: error: {message}",
            shown(&path.display().to_string(), MAX_SHOWN)
        ),
    }
}

/// Messages, key paths and file names are cut at this many characters: a value of a
/// megabyte echoed whole would bury every other problem.
const MAX_SHOWN: usize = 300;

/// `text` as a terminal should show it: control characters (an escape sequence in a key
/// could set the terminal's title or write to the clipboard) as `\u{1b}`, and cut at
/// `max` characters with `...`.
pub fn shown(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 16));
    for (i, c) in text.chars().enumerate() {
        if i >= max {
            out.push_str("...");
            break;
        }
        if c.is_control() && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The source's lines, found once: a problem's snippet is a lookup, so rendering n
/// problems costs O(n + lines), not O(n x lines).
struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    fn of(text: &'a str) -> Lines<'a> {
        Lines {
            lines: yaml_lines(text).collect(),
        }
    }

    /// Line `number` (from 1).
    fn get(&self, number: usize) -> Option<&'a str> {
        number
            .checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .copied()
    }
}

/// Renders every problem as `file:line:col: error: key: message`, followed by the source
/// line and a caret under the offending text, then a count. This is gcc's form, which
/// editors and CI annotators recognise.
fn render_problems(path: &Path, source_text: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    let lines = Lines::of(source_text);
    let file = shown(&path.display().to_string(), MAX_SHOWN);
    for problem in problems {
        let location = format!("{file}:{}:{}", problem.pos.line, problem.pos.col);
        let message = shown(&problem.message, MAX_SHOWN);
        if problem.path.is_empty() {
            let _ = write!(out, "{location}: error: {message}");
        } else {
            let _ = write!(
                out,
                "{location}: error: {}: {message}",
                shown(&problem.path, MAX_SHOWN)
            );
        }
        push_snippet(&mut out, lines.get(problem.pos.line), problem.pos);
        out.push('\n');
    }
    let noun = if problems.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    let _ = write!(out, "{} {noun} in {}", problems.len(), path.display());
    out
}

/// The lines of `text` as YAML counts them: `\r\n`, `\n` and a lone `\r` each end a
/// line, so a file saved with old Mac line endings gets its excerpts too.
pub fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(end) => {
                let skip = if current[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[end + skip..]).filter(|next| !next.is_empty());
                Some(&current[..end])
            }
            None => {
                rest = None;
                (!current.is_empty()).then_some(current)
            }
        }
    })
}

fn push_snippet(out: &mut String, line: Option<&str>, pos: Pos) {
    let Some(line) = line else {
        return;
    };
    // Long lines (minified YAML) would flood the terminal; the location alone says
    // enough. A line holding control characters is not echoed either: they would reach
    // the terminal raw, and escaped they would move the caret off its column.
    if line.chars().count() > 200 || line.chars().any(|c| c.is_control() && c != '\t') {
        return;
    }
    let gutter = pos.line.to_string().len();
    let _ = write!(out, "\n{:>gutter$} | {line}", pos.line);
    let pad: String = line
        .chars()
        .take(pos.col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let available = line
        .chars()
        .count()
        .saturating_sub(pos.col.saturating_sub(1))
        .max(1);
    let _ = write!(
        out,
        "\n{:>gutter$} | {pad}{}",
        "",
        "^".repeat(pos.len.clamp(1, available))
    );
}

/// Collects problems while a scenario is decoded and validated.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, pos: Pos, message: impl Into<String>) {
        self.list.push(Problem {
            path: path.into(),
            pos,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The problems in source order, without exact repeats (an alias can make one node
    /// appear at several paths; each path still gets its own line).
    pub fn into_sorted(mut self) -> Vec<Problem> {
        self.list.sort_by(|a, b| {
            (a.pos.line, a.pos.col, &a.path).cmp(&(b.pos.line, b.pos.col, &b.path))
        });
        self.list.dedup();
        self.list
    }
}

/// The closest of `candidates` to `name`, if one is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(name, candidate), candidate))
        .filter(|(distance, candidate)| {
            *distance > 0 && *distance <= (candidate.len().max(name.len()) / 3).max(1)
        })
        .min()
        .map(|(_, candidate)| candidate)
}

/// `; did you mean "x"?` or nothing.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(name, candidates)
        .map(|s| format!("; did you mean \"{s}\"?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["catalog", "recommend", "web"];
        assert_eq!(suggest("catlog", names), Some("catalog"));
        assert_eq!(suggest("recomend", names), Some("recommend"));
        assert_eq!(suggest("payments", names), None);
        assert_eq!(
            suggest("web", names),
            None,
            "an exact match is not a suggestion"
        );
    }

    #[test]
    fn lines_end_where_yaml_ends_them() {
        fn split(text: &str) -> Vec<&str> {
            yaml_lines(text).collect()
        }
        assert_eq!(split("a\nb\n"), ["a", "b"]);
        assert_eq!(split("a\r\nb"), ["a", "b"]);
        assert_eq!(split("a\rb\r"), ["a", "b"], "a lone CR ends a line in YAML");
        assert_eq!(split("a\n\n\rb"), ["a", "", "", "b"]);
        assert!(split("").is_empty());
    }

    #[test]
    fn renders_location_key_snippet_and_caret() {
        let source = "name: shop\nservices:\n  web:\n    replicas: 0\n";
        let problems = vec![Problem {
            path: "services.web.replicas".into(),
            pos: Pos {
                line: 4,
                col: 15,
                len: 1,
            },
            message: "must be at least 1".into(),
        }];
        let text = render_problems(Path::new("s.yaml"), source, &problems);
        assert_eq!(
            text,
            "s.yaml:4:15: error: services.web.replicas: must be at least 1\n4 |     replicas: 0\n  |               ^\n1 problem in s.yaml"
        );
    }
}
