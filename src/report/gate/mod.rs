//! Reports for a pipeline that gates a merge: JUnit XML (what every CI server renders as
//! test results), a short Markdown summary (a pull-request comment, a job summary), and
//! GitHub Actions annotations on the scenario lines that break.
//!
//! Every command turns its result into one [`Gate`]: test cases grouped by strategy (or
//! entrypoint, or limit), each passed, failed, skipped (nothing judged) or inconclusive,
//! with findings that name a key path of the scenario. The three renderings read the
//! same cases, so they cannot tell different stories; `cases` builds them per command.

pub mod cases;

use std::fmt::Write as _;

use crate::report::code_span;
use crate::scenario::Positions;
use crate::scenario::yaml::Pos;
use crate::verdict::Verdict;

/// One command's result as test cases.
#[derive(Debug, Clone)]
pub struct Gate {
    /// `check`, `run`, `sweep`, `risk` or `availability`.
    pub command: &'static str,
    /// The scenario's `name`.
    pub scenario: String,
    /// The scenario file as the user gave it (annotations and links point at it).
    pub file: String,
    pub verdict: Verdict,
    /// The verdict as the terminal report words it.
    pub headline: String,
    /// The seed of every random choice; `None` where nothing ran (an invalid scenario).
    pub seed: Option<u64>,
    /// The command that gives the same answer again.
    pub rerun: String,
    pub cases: Vec<Case>,
    /// Lines the summary ends with (`safe order`), after the cases.
    pub notes: Vec<(String, String)>,
}

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// What it belongs to: a strategy, an entrypoint, a limit's level.
    pub group: String,
    pub name: String,
    pub status: Status,
    /// One line: what held, what broke, or why nothing was judged.
    pub message: String,
    /// The key path of what it judges (an expectation, a strategy, a limit); its
    /// testcase points there when nothing broke.
    pub at: String,
    /// Where it broke, most important first.
    pub findings: Vec<Finding>,
    /// A case the summary gives a line of its own (a strategy's expectation); the others
    /// (each state that breaks it) show only through their findings.
    pub primary: bool,
    /// Its failure fails the command (exit 1). A sweep's findings do not: a sweep has no
    /// expectation, so they are annotated as warnings.
    pub blocking: bool,
}

impl Case {
    /// A case that fails the command when it fails, with a line of its own in the
    /// summary: what most cases are.
    pub fn judged(
        group: &str,
        name: impl Into<String>,
        status: Status,
        message: String,
        at: &str,
        findings: Vec<Finding>,
    ) -> Case {
        Case {
            group: group.to_owned(),
            name: name.into(),
            status,
            message,
            at: at.to_owned(),
            findings,
            primary: true,
            blocking: true,
        }
    }
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    /// Nothing judged: no expectation set, or a default strategy that cannot be planned.
    Skipped,
    /// Not measured: the machine fell behind, or Ctrl-C stopped the run.
    Inconclusive,
}

/// A place in the scenario and what happened there.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The key path it concerns (`services.web.versions.v2.calls[0]`); empty: the file.
    pub key: String,
    /// Its position when it is known without the key (a loader's problem).
    pub pos: Option<Pos>,
    pub text: String,
}

impl Finding {
    pub fn at(key: impl Into<String>, text: impl Into<String>) -> Finding {
        Finding {
            key: key.into(),
            pos: None,
            text: text.into(),
        }
    }

    /// Its line and column in the file: its own, its key's, or its nearest written
    /// parent's (a default is shown at what holds it); the first line when none is.
    pub fn line_col(&self, positions: Option<&Positions>) -> (usize, usize) {
        let pos = self.pos.or_else(|| {
            positions
                .and_then(|p| p.nearest(&self.key))
                .map(|(_, pos)| pos)
        });
        pos.map_or((1, 1), |pos| (pos.line.max(1), pos.col.max(1)))
    }
}

impl Gate {
    /// Cases by how JUnit reports them (see [`JunitKind::of`]).
    fn count(&self, kind: JunitKind) -> usize {
        self.cases
            .iter()
            .filter(|c| JunitKind::of(c) == kind)
            .count()
    }

    /// The groups in the order their first case comes.
    fn groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = Vec::new();
        for case in &self.cases {
            if !groups.contains(&case.group.as_str()) {
                groups.push(&case.group);
            }
        }
        groups
    }
}

/// The verdict's word in the summary and the JUnit properties: `interrupted` is said as
/// such here (the JSON's word for it is `fail`).
fn verdict_word(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Interrupted => "interrupted",
        other => other.word(),
    }
}

// ---------------------------------------------------------------------------------------
// JUnit XML

/// What a case is in JUnit: a failure only when it fails the command; a finding that
/// fails nothing is skipped (not judged); an inconclusive case an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JunitKind {
    Passed,
    Failure,
    Skipped,
    Error,
}

impl JunitKind {
    fn of(case: &Case) -> JunitKind {
        match case.status {
            Status::Passed => JunitKind::Passed,
            Status::Failed if case.blocking => JunitKind::Failure,
            Status::Failed | Status::Skipped => JunitKind::Skipped,
            Status::Inconclusive => JunitKind::Error,
        }
    }
}

/// The gate as JUnit XML: a `testsuite` per group, a `testcase` per case; a failure
/// says what broke and where (file:line), the seed and the command to rerun; a case that
/// judged nothing is `skipped`, one that could not be measured an `error`.
pub fn junit(gate: &Gate, positions: Option<&Positions>) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        attr(&format!("deploysim {} {}", gate.command, gate.scenario)),
        gate.cases.len(),
        gate.count(JunitKind::Failure),
        gate.count(JunitKind::Error),
        gate.count(JunitKind::Skipped),
    );
    for group in gate.groups() {
        let cases: Vec<&Case> = gate.cases.iter().filter(|c| c.group == group).collect();
        let count = |kind| cases.iter().filter(|c| JunitKind::of(c) == kind).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            attr(&format!("{} {}: {group}", gate.command, gate.scenario)),
            cases.len(),
            count(JunitKind::Failure),
            count(JunitKind::Error),
            count(JunitKind::Skipped),
        );
        out.push_str("    <properties>\n");
        let seed = gate.seed.map(|seed| seed.to_string());
        for (name, value) in [
            ("scenario", Some(gate.file.as_str())),
            ("seed", seed.as_deref()),
            ("verdict", Some(verdict_word(&gate.verdict))),
            ("rerun", Some(gate.rerun.as_str())),
        ] {
            let Some(value) = value else { continue };
            let _ = writeln!(
                out,
                "      <property name=\"{name}\" value=\"{}\"/>",
                attr(value)
            );
        }
        out.push_str("    </properties>\n");
        for case in cases {
            testcase(&mut out, gate, case, positions);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase(out: &mut String, gate: &Gate, case: &Case, positions: Option<&Positions>) {
    let line = case
        .findings
        .first()
        .unwrap_or(&Finding::at(case.at.clone(), String::new()))
        .line_col(positions)
        .0;
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{line}\"",
        attr(&format!("deploysim.{}.{}", gate.command, case.group)),
        attr(&case.name),
        attr(&gate.file),
    );
    // Where it broke, one line each, for a failure's body or a skipped case's output.
    let mut places = String::new();
    for finding in &case.findings {
        let (line, col) = finding.line_col(positions);
        let _ = writeln!(places, "{}:{line}:{col}: {}", gate.file, finding.text);
    }
    let body = |kind: &str| {
        let mut text = places.clone();
        if let Some(seed) = gate.seed {
            let _ = writeln!(text, "seed: {seed}");
        }
        let _ = writeln!(text, "rerun: {}", gate.rerun);
        format!(
            ">\n      <{kind} message=\"{}\" type=\"{}\">{}</{kind}>\n    </testcase>\n",
            attr(&case.message),
            gate.command,
            text_node(&text)
        )
    };
    // The same classification the counts of the suites use.
    match JunitKind::of(case) {
        JunitKind::Passed => out.push_str("/>\n"),
        JunitKind::Failure => out.push_str(&body("failure")),
        JunitKind::Error => out.push_str(&body("error")),
        // A finding that fails nothing (a sweep's: a sweep has no expectation) is not a
        // failed test, or a CI server would show red where the command exits 0: it is
        // skipped, saying what was found, with its places in the output.
        JunitKind::Skipped if case.status == Status::Failed => {
            let _ = write!(
                out,
                ">\n      <skipped message=\"{}\"/>\n      <system-out>{}</system-out>\n    </testcase>\n",
                attr(&format!("not judged (no expectation): {}", case.message)),
                text_node(&places)
            );
        }
        JunitKind::Skipped => {
            let _ = write!(
                out,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                attr(&case.message)
            );
        }
    }
}

/// Text as an XML attribute value. Characters XML 1.0 cannot hold at all (most
/// control characters) are left out; a scenario's strings are user input.
fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// Text as an XML text node.
fn text_node(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\t' => out.push(c),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

fn xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

// ---------------------------------------------------------------------------------------
// Markdown

/// The summary never runs longer than this many lines: it is read in a pull request.
pub const MAX_SUMMARY_LINES: usize = 40;
/// Case rows of the summary's table; the rest are counted in one row.
const MAX_SUMMARY_ROWS: usize = 15;
/// Findings listed under "what breaks"; the rest are counted in one line.
const MAX_SUMMARY_FINDINGS: usize = 8;

/// The gate as Markdown for a pull-request comment or a job summary, at most
/// [`MAX_SUMMARY_LINES`] lines: the verdict first, a line per strategy (or limit), what
/// breaks with its file and line, the notes (the safe order), the command to rerun.
pub fn markdown(gate: &Gate, positions: Option<&Positions>) -> String {
    let mut out = String::new();
    let mark = match gate.verdict {
        Verdict::Pass => "✅",
        Verdict::Fail(_) => "❌",
        Verdict::NothingJudged => "➖",
        Verdict::Inconclusive(_) | Verdict::Interrupted => "⚠️",
    };
    let _ = writeln!(
        out,
        "### {mark} deploysim {} {}: {}",
        gate.command,
        code_span(&one_line(&gate.scenario)),
        verdict_word(&gate.verdict)
    );
    let _ = writeln!(out, "{}", one_line(&gate.headline));
    out.push('\n');
    let rows: Vec<&Case> = gate.cases.iter().filter(|c| c.primary).collect();
    if !rows.is_empty() {
        out.push_str("| | case | result |\n|---|---|---|\n");
        for case in rows.iter().take(MAX_SUMMARY_ROWS) {
            let mark = match case.status {
                Status::Passed => "✅",
                Status::Failed if case.blocking => "❌",
                Status::Failed => "⚠️",
                Status::Skipped => "➖",
                Status::Inconclusive => "⚠️",
            };
            let _ = writeln!(
                out,
                "| {mark} | {} | {} |",
                cell(&format!("{}: {}", case.group, case.name)),
                cell(&case.message)
            );
        }
        if rows.len() > MAX_SUMMARY_ROWS {
            let _ = writeln!(
                out,
                "| | … | {} more cases (the JUnit report has every one) |",
                rows.len() - MAX_SUMMARY_ROWS
            );
        }
        out.push('\n');
    }
    let findings = findings(gate);
    if !findings.is_empty() {
        out.push_str("**What breaks**\n");
        for (case, finding) in findings.iter().take(MAX_SUMMARY_FINDINGS) {
            let (line, _) = finding.line_col(positions);
            let _ = writeln!(
                out,
                "- {} {}: {}",
                code_span(&format!("{}:{line}", one_line(&gate.file))),
                one_line(&case.group),
                one_line(&finding.text)
            );
        }
        if findings.len() > MAX_SUMMARY_FINDINGS {
            let _ = writeln!(
                out,
                "- … and {} more",
                findings.len() - MAX_SUMMARY_FINDINGS
            );
        }
        out.push('\n');
    }
    for (label, text) in gate.notes.iter().take(3) {
        let _ = writeln!(out, "**{label}**: {}", one_line(text));
    }
    if !gate.notes.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "Rerun: {}", code_span(&gate.rerun));
    out
}

/// A command's own summary (availability's) fitted to the same promise: at most
/// [`MAX_SUMMARY_LINES`] lines, the last saying how to rerun it.
pub fn fit_summary(text: &str, rerun: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let room = MAX_SUMMARY_LINES - 2;
    let mut out = String::new();
    for line in lines
        .iter()
        .take(if lines.len() > room { room - 1 } else { room })
    {
        out.push_str(line);
        out.push('\n');
    }
    if lines.len() > room {
        let _ = writeln!(
            out,
            "… {} more lines: the command's text or JSON report has them",
            lines.len() - (room - 1)
        );
    }
    let _ = writeln!(out, "\nRerun: {}", code_span(rerun));
    out
}

/// A table cell: one line, pipes escaped, and no longer than a reader takes in.
fn cell(text: &str) -> String {
    let text = one_line(text).replace('|', "\\|");
    shorten(&text, 160)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// Every finding of a failed or inconclusive case, those that fail the command first,
/// each (key, text) once.
fn findings(gate: &Gate) -> Vec<(&Case, &Finding)> {
    let mut found: Vec<(&Case, &Finding)> = Vec::new();
    for blocking in [true, false] {
        for case in gate.cases.iter().filter(|c| {
            c.blocking == blocking && matches!(c.status, Status::Failed | Status::Inconclusive)
        }) {
            for finding in &case.findings {
                if !found.iter().any(|(c, f)| {
                    c.group == case.group && f.key == finding.key && f.text == finding.text
                }) {
                    found.push((case, finding));
                }
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// GitHub Actions annotations

/// GitHub shows at most this many error annotations of one step; the last line counts
/// the rest.
pub const MAX_ANNOTATIONS: usize = 10;

/// The gate's findings as GitHub Actions workflow commands (`::error file=F,line=L,...::`),
/// those that fail the command first (errors, then warnings), at most
/// [`MAX_ANNOTATIONS`]: past that, the last one counts the rest.
pub fn annotations(gate: &Gate, positions: Option<&Positions>) -> Vec<String> {
    let lines: Vec<Annotation> = findings(gate)
        .into_iter()
        .map(|(case, finding)| {
            let (line, col) = finding.line_col(positions);
            Annotation {
                level: if case.blocking && case.status == Status::Failed {
                    "error"
                } else {
                    "warning"
                },
                line,
                col,
                title: format!("deploysim {} {}: {}", gate.command, case.group, case.name),
                text: finding.text.clone(),
            }
        })
        .collect();
    render_annotations(&gate.file, lines, &gate.rerun)
}

struct Annotation {
    level: &'static str,
    line: usize,
    col: usize,
    title: String,
    text: String,
}

fn render_annotations(file: &str, mut lines: Vec<Annotation>, rerun: &str) -> Vec<String> {
    if lines.len() > MAX_ANNOTATIONS {
        let rest = lines.len() - (MAX_ANNOTATIONS - 1);
        let level = if lines[MAX_ANNOTATIONS - 1..]
            .iter()
            .any(|a| a.level == "error")
        {
            "error"
        } else {
            "warning"
        };
        lines.truncate(MAX_ANNOTATIONS - 1);
        lines.push(Annotation {
            level,
            line: 1,
            col: 1,
            title: "deploysim: more problems".to_owned(),
            text: format!(
                "{rest} more {} not annotated (GitHub shows {MAX_ANNOTATIONS} a step); the JUnit report, the summary and `{rerun}` show every one",
                if rest == 1 { "problem" } else { "problems" }
            ),
        });
    }
    lines
        .into_iter()
        .map(|a| {
            format!(
                "::{} file={},line={},col={},title={}::{}",
                a.level,
                property(file),
                a.line,
                a.col,
                property(&a.title),
                data(&a.text)
            )
        })
        .collect()
}

/// A workflow command's message: `%`, CR and LF escaped as the runner unescapes them.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: a message's escapes, and `:` and `,`.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests;
