//! Property 1: the loader never panics. Arbitrary bytes, arbitrary YAML trees built from
//! the format's own keys, and mutations of valid scenarios give either a scenario or
//! located errors, and the binary exits 0 or 2 on them, never with a crash.

use std::fmt::Write as _;
use std::path::Path;

use deploysim::scenario::{self, ScenarioError};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use crate::arb::{self, Options};

/// Every key of the format, and a few values it gives meaning to: random trees built
/// from them reach validation, not only the parser.
const WORDS: &[&str] = &[
    "name",
    "description",
    "seed",
    "services",
    "entrypoint",
    "replicas",
    "startup_ms",
    "rollout",
    "versions",
    "provides",
    "latency_ms",
    "error_rate",
    "calls",
    "service",
    "api",
    "on_failure",
    "timeout_ms",
    "retries",
    "flag",
    "initial",
    "target",
    "flags",
    "load",
    "rps",
    "baseline_ms",
    "step_ms",
    "max_in_flight",
    "strategies",
    "steps",
    "expect",
    "release",
    "faults",
    "kill",
    "missing",
    "partition",
    "from",
    "to",
    "at_step",
    "after_ms",
    "for_ms",
    "gate",
    "on_breach",
    "max_failed_ratio",
    "risk",
    "trials",
    "defect",
    "probability",
    "kinds",
    "graceful",
    "p99_ms",
    "v1",
    "v2",
    "web",
    "catalog",
    "none",
    "rolling",
    "recreate",
    "fail",
    "degrade",
    "batch",
    "single-piece",
    "random",
    "safe",
    "waves-2",
    "rollback",
    "stop",
    "continue",
    "true",
    "false",
    "null",
    "~",
    "0",
    "1",
    "-1",
    "0.5",
    "1e400",
    "99999999999999999999",
    "0x1F",
    ".inf",
    "''",
    "\"x\"",
    "&a x",
    "*a",
    "!!str 1",
    "Web",
    "with space",
    "é",
];

/// Characters that matter to YAML, for byte soup that reaches deeper than random bytes.
const YAML_CHARS: &[u8] = b":-[]{},#&*!|>'\"%@` \n\t?abcv12._";

#[derive(Debug, Clone)]
enum Tree {
    Scalar(String),
    List(Vec<Tree>),
    Map(Vec<(String, Tree)>),
    /// A subtree written in flow style (`{ a: 1 }`, `[1, 2]`).
    Flow(Box<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = select(WORDS).prop_map(|word| Tree::Scalar(word.to_owned()));
    leaf.prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Tree::List),
            vec((select(WORDS), inner.clone()), 0..6).prop_map(|entries| Tree::Map(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.to_owned(), value))
                    .collect()
            )),
            inner.prop_map(|tree| Tree::Flow(Box::new(tree))),
        ]
    })
}

/// A document: usually a mapping whose keys are the top-level keys of the format.
fn document() -> impl Strategy<Value = Tree> {
    prop_oneof![
        4 => vec((select(WORDS), tree()), 0..10).prop_map(|entries| Tree::Map(
            entries
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect()
        )),
        1 => tree(),
    ]
}

fn flow(tree: &Tree) -> String {
    match tree {
        Tree::Scalar(text) => text.clone(),
        Tree::List(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Tree::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(key, value)| format!("{key}: {}", flow(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Tree::Flow(inner) => flow(inner),
    }
}

fn block(tree: &Tree, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let nested = |value: &Tree, out: &mut String| match value {
        Tree::Scalar(_) | Tree::Flow(_) => {
            let _ = writeln!(out, " {}", flow(value));
        }
        Tree::List(items) if items.is_empty() => out.push_str(" []\n"),
        Tree::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        _ => {
            out.push('\n');
            block(value, indent + 2, out);
        }
    };
    match tree {
        Tree::Map(entries) => {
            for (key, value) in entries {
                let _ = write!(out, "{pad}{key}:");
                nested(value, out);
            }
        }
        Tree::List(items) => {
            for item in items {
                let _ = write!(out, "{pad}-");
                nested(item, out);
            }
        }
        Tree::Scalar(_) | Tree::Flow(_) => {
            let _ = writeln!(out, "{pad}{}", flow(tree));
        }
    }
}

/// One edit of a valid scenario's text.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    Truncate(Index),
    Insert(Index, &'static str),
    /// Replaces the word at a position with another word of the format.
    Replace(Index, &'static str),
    Indent(Index),
}

const INSERTS: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "!!str ",
    "\t",
    "'",
    "\"",
    "#",
    "---\n",
    "0",
    "-5",
    "99999999999999999999",
    "none",
    "v9",
    "web",
    "   ",
    "\n",
    "é",
    "\u{0}",
    "\u{feff}",
    ": {",
    "~",
    "<<: *a",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::DeleteLine),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), select(INSERTS)).prop_map(|(at, text)| Mutation::Insert(at, text)),
        (any::<Index>(), select(WORDS)).prop_map(|(at, word)| Mutation::Replace(at, word)),
        any::<Index>().prop_map(Mutation::Indent),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return text.to_owned();
    }
    // Byte offsets that are character boundaries, so any index is a valid place.
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    match mutation {
        Mutation::DeleteLine(at) => {
            lines.remove(at.index(lines.len()));
        }
        Mutation::DuplicateLine(at) => {
            let line = lines[at.index(lines.len())].clone();
            lines.insert(at.index(lines.len()), line);
        }
        Mutation::SwapLines(a, b) => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
        }
        Mutation::Truncate(at) => return text[..*at.get(&boundaries)].to_owned(),
        Mutation::Insert(at, insert) => {
            let at = *at.get(&boundaries);
            return format!("{}{insert}{}", &text[..at], &text[at..]);
        }
        Mutation::Replace(at, word) => {
            let at = *at.get(&boundaries);
            let end = text[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .map_or(text.len(), |offset| at + offset);
            return format!("{}{word}{}", &text[..at], &text[end..]);
        }
        Mutation::Indent(at) => {
            let at = at.index(lines.len());
            lines[at] = format!(" {}", lines[at]);
        }
    }
    lines.join("\n") + "\n"
}

/// The spec's YAML with `mutations` applied in order.
fn mutated(spec: &arb::ScenarioSpec, mutations: &[Mutation]) -> String {
    mutations
        .iter()
        .fold(spec.to_yaml(), |text, mutation| apply(&text, mutation))
}

/// What the loader said is acceptable: a scenario that the pure core can plan and check
/// without a panic, or errors that each point into the text.
fn assert_sane(text: &str) -> Result<(), TestCaseError> {
    let path = Path::new("input.yaml");
    match scenario::parse_str(text, path) {
        Ok(loaded) => {
            // A scenario the loader accepts must go through the pure core.
            for strategy in &loaded.strategies {
                let _ = deploysim::plan::plan(&loaded, strategy, loaded.seed);
            }
            let report = deploysim::check::run(
                &loaded,
                &loaded.strategies,
                loaded.seed,
                deploysim::check::sweep::Missing::Singles,
            );
            prop_assert_eq!(report.strategies.len(), loaded.strategies.len());
        }
        Err(error) => {
            let rendered = error.to_string();
            prop_assert!(
                rendered.contains("input.yaml"),
                "the message names the file: {rendered}"
            );
            // Lines as YAML counts them: a lone CR ends a line too.
            let lines = deploysim::scenario::problem::yaml_lines(text)
                .count()
                .max(1);
            let empty = matches!(
                &error,
                ScenarioError::Tree {
                    error: scenario::yaml::TreeError::Empty,
                    ..
                }
            );
            let problems = error.problems();
            prop_assert!(
                !problems.is_empty(),
                "an error lists its problems: {rendered}"
            );
            prop_assert!(
                !rendered
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "a control character from the input reaches the terminal: {:?}",
                rendered
            );
            for problem in &problems {
                if empty {
                    continue;
                }
                prop_assert!(
                    (1..=lines + 1).contains(&problem.pos.line) && problem.pos.col >= 1,
                    "problem {:?} is located inside the {} lines of the text:\n{}",
                    problem,
                    lines,
                    rendered
                );
                // A problem on a short line of the text shows that line under it, unless
                // the line holds a control character, which must not reach a terminal.
                let shown = deploysim::scenario::problem::yaml_lines(text)
                    .nth(problem.pos.line - 1)
                    .filter(|line| line.chars().count() <= 200)
                    .filter(|line| !line.chars().any(|c| c.is_control() && c != '\t'));
                if let Some(line) = shown {
                    let excerpt = format!("{} | {line}", problem.pos.line);
                    prop_assert!(
                        rendered.contains(&excerpt),
                        "the excerpt {:?} is shown:\n{}",
                        excerpt,
                        rendered
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::pure())]

    /// Any bytes at all: a scenario or located errors.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..600),
            vec(select(YAML_CHARS), 0..600),
        ]
    ) {
        let text = String::from_utf8_lossy(&bytes);
        assert_sane(&text)?;
    }

    /// Trees built from the format's keys, in block and flow style.
    #[test]
    fn arbitrary_yaml_trees_never_panic(tree in document()) {
        let mut text = String::new();
        block(&tree, 0, &mut text);
        assert_sane(&text)?;
    }

    /// A valid scenario with one to four edits: the edits hit every stage of loading.
    #[test]
    fn mutated_scenarios_never_panic(
        spec in arb::scenario(Options::PURE),
        mutations in vec(mutation(), 1..=4),
    ) {
        let text = mutated(&spec, &mutations);
        assert_sane(&text)?;
    }

    /// The generated scenario is valid, and loads as written, key by key.
    #[test]
    fn generated_scenarios_load_as_written(
        spec in arb::scenario(Options { cascades: true, ..Options::PURE })
    ) {
        let loaded = spec.load().map_err(TestCaseError::fail)?;
        spec.assert_loaded_as_written(&loaded)?;
    }
}

crate::property! {
    #![config(crate::live(24))]

    /// Through the binary: a mutated scenario exits 0 or 1 (`plan` ran) or 2 (invalid,
    /// with located errors), never 101 (a panic) or a signal.
    #[test]
    fn the_binary_exits_0_1_or_2_on_mutated_scenarios(
        spec in arb::scenario(Options::PURE),
        mutations in vec(mutation(), 1..=3),
    ) {
        let text = mutated(&spec, &mutations);
        let dir = std::env::temp_dir().join(format!("deploysim-props-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("mutated.yaml");
        std::fs::write(&file, &text).expect("write the scenario");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_simulate"))
            .args(["plan", &file.to_string_lossy()])
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("simulate runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let code = output.status.code();
        prop_assert!(
            matches!(code, Some(0..=2)),
            "exit {:?}, stderr:\n{}\n--- input ---\n{}",
            code,
            stderr,
            text
        );
        prop_assert!(!stderr.contains("panicked"), "{}", stderr);
        if code == Some(2) {
            prop_assert!(stderr.contains("mutated.yaml"), "names the file: {}", stderr);
        }
    }
}
