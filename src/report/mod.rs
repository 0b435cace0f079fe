//! Everything the user reads: the only place where results become sentences, tables and
//! JSON. The rest of the crate returns data.
//!
//! One file per command (`plan`, `check`, `live`, `sweep`); this file holds the cells and
//! tables they share.

pub mod avail;
pub mod charts;
pub mod check;
pub mod gate;
pub mod live;
pub mod load;
pub mod plan;
pub mod risk;
pub mod sweep;

use std::fmt::Write as _;

use serde::Serialize;

use crate::contract::CLIENT;
use crate::eval::{Break, BrokenEdge, Level, Prediction};
use crate::model::{Change, FlagChange, Flags, Scenario, StepSpec};
use crate::plan::PlanError;
use crate::plan::safe::{Conflict, Passed, Reason};

/// A step's changes cell lists at most this many changes, then "(+N more)".
const MAX_CHANGES_SHOWN: usize = 4;
/// The header's lists (entrypoints, changes, unchanged services) show at most this many.
const MAX_LIST_SHOWN: usize = 12;
pub(crate) fn changes_cell(changes: &[Change], flags: &[FlagChange], index: usize) -> String {
    if index == 0 {
        return "baseline".to_owned();
    }
    let all: Vec<String> = changes
        .iter()
        .map(ToString::to_string)
        .chain(flags.iter().map(ToString::to_string))
        .collect();
    let mut shown: Vec<String> = all.iter().take(MAX_CHANGES_SHOWN).cloned().collect();
    if all.len() > MAX_CHANGES_SHOWN {
        shown.push(format!("(+{} more)", all.len() - MAX_CHANGES_SHOWN));
    }
    shown.join(", ")
}

/// A step of an explicit or safe order as text items: its services, then its flag
/// changes (`release show-reviews`, `show-reviews 10%`).
pub fn step_items(step: &StepSpec) -> Vec<String> {
    step.services
        .iter()
        .cloned()
        .chain(step.flags.iter().map(ToString::to_string))
        .collect()
}

/// The flags that are on for someone, with their percent: `show-reviews 10%`; `none`.
pub fn flags_cell(flags: &Flags) -> String {
    let on: Vec<String> = flags
        .0
        .iter()
        .filter(|(_, setting)| setting.share() > 0)
        .map(|(name, setting)| format!("{name} {}%", setting.share()))
        .collect();
    if on.is_empty() {
        "none".to_owned()
    } else {
        on.join(", ")
    }
}

/// `, behind show-reviews` when the broken edge is reached behind a flag.
fn behind(edge: &BrokenEdge) -> String {
    edge.flag
        .as_ref()
        .map(|flag| format!(", behind {flag}"))
        .unwrap_or_default()
}

/// A level as sentences say it: `ok`, `degraded`, `failed`.
pub(crate) fn level_word(level: Level) -> &'static str {
    match level {
        Level::Ok => "ok",
        Level::Degraded => "degraded",
        Level::Failed => "failed",
    }
}

/// A level in a table cell, where a failure should catch the eye: `FAILED`.
pub(crate) fn level_cell(level: Level) -> &'static str {
    match level {
        Level::Failed => "FAILED",
        other => level_word(other),
    }
}

/// Whether an expectation held, as a report line says it: `held` or `FAILED`.
pub(crate) fn held_word(held: bool) -> &'static str {
    if held { "held" } else { "FAILED" }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let n_columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n_columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[column]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// A duration as a person reads it: `850 ms`, `41.5 s`, `9 min 12 s`, `2 h 5 min`.
pub fn duration_text(duration: std::time::Duration) -> String {
    let ms = duration.as_millis();
    let secs = duration.as_secs();
    if ms < 1000 {
        format!("{ms} ms")
    } else if secs < 60 {
        format!("{:.1} s", duration.as_secs_f64())
    } else if secs < 3600 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{} h {} min", secs / 3600, secs % 3600 / 60)
    }
}

/// A count with thousands separated: `3,301,200`.
pub fn count_text(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// What a run will cost, said before it starts: `cost: 3 strategies, 12.5 s of virtual
/// time, about 5,000 entry requests at 400 rps`, and what drives the time when readiness
/// delays do.
pub fn cost_text(
    what: &str,
    cost: &crate::plan::cost::Cost,
    scenario: &Scenario,
    net: crate::runtime::net::Net,
) -> String {
    let clock = match net {
        crate::runtime::net::Net::Live | crate::runtime::net::Net::Processes => "real time",
        crate::runtime::net::Net::Sim => "virtual time",
    };
    let mut text = format!(
        "cost: {what}: {} of {clock}, about {} entry requests at {} rps",
        duration_text(cost.time),
        count_text(cost.requests),
        crate::plan::cost::total_rps(scenario)
    );
    if let Some((service, delay)) = &cost.slowest
        && cost.startup_share() >= 0.25
    {
        let _ = write!(
            text,
            "; {:.0}% of that time is waiting for new replicas to be ready (startup_ms; the longest: {service}, {})",
            cost.startup_share() * 100.0,
            duration_text(*delay)
        );
    }
    text
}

/// A comma-separated list, cut after `MAX_LIST_SHOWN` items so that a large fleet's header
/// stays readable; the JSON output always has every item.
pub(crate) fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return "none".to_owned();
    }
    let mut shown: Vec<String> = items.iter().take(MAX_LIST_SHOWN).cloned().collect();
    if items.len() > MAX_LIST_SHOWN {
        shown.push(format!("(+{} more)", items.len() - MAX_LIST_SHOWN));
    }
    shown.join(", ")
}

#[derive(Debug, Serialize)]
pub struct ChangeJson {
    pub service: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl From<&Change> for ChangeJson {
    fn from(change: &Change) -> Self {
        ChangeJson {
            service: change.service.clone(),
            from: change.from.clone(),
            to: change.to.clone(),
        }
    }
}

/// The load as a header says it: `100 rps open-loop to web api v1`, or, with rates and
/// mixes per entrypoint, `open-loop: web api v1 at 500 rps (browse 60%, checkout 40%),
/// mobile api v1 at 100 rps`.
pub fn load_text(scenario: &Scenario) -> String {
    let plain = scenario.load.entrypoints.is_empty();
    let entrypoints: Vec<String> = scenario
        .entrypoints()
        .map(|service| {
            let name = &service.name;
            let mut text = format!("{name} api {}", scenario.entry_api(name));
            if !plain {
                let _ = write!(text, " at {} rps", scenario.load.rps_of(name));
                let mix = scenario.load.mix_of(name);
                if mix.len() > 1 || mix[0].0.is_some() {
                    let total: u32 = mix.iter().map(|(_, weight)| weight).sum();
                    let shares: Vec<String> = mix
                        .iter()
                        .map(|(method, weight)| {
                            let method = method.as_deref().unwrap_or(crate::model::DEFAULT_METHOD);
                            let percent = f64::from(*weight) * 100.0 / f64::from(total.max(1));
                            format!("{method} {percent:.0}%")
                        })
                        .collect();
                    let _ = write!(text, " ({})", shares.join(", "));
                }
            }
            text
        })
        .collect();
    if plain {
        format!(
            "{} rps open-loop to {}",
            scenario.load.rps,
            list_or_none(entrypoints.into_iter())
        )
    } else {
        format!("open-loop: {}", list_or_none(entrypoints.into_iter()))
    }
}

/// The rates to lower, for advice: `load.rps (now 100 per entrypoint)`, or each
/// entrypoint's.
pub fn rates_text(scenario: &Scenario) -> String {
    if scenario.load.entrypoints.is_empty() {
        return format!("load.rps (now {} per entrypoint)", scenario.load.rps);
    }
    let rates: Vec<String> = scenario
        .entrypoints()
        .map(|service| format!("{} {}", service.name, scenario.load.rps_of(&service.name)))
        .collect();
    format!("the rates (now {} rps)", rates.join(", "))
}

/// `web -> catalog api v2`, as the live report names edges; the load generator calls as
/// `client`.
pub fn edge_text(edge: &BrokenEdge) -> String {
    let method = edge
        .method
        .as_deref()
        .map(|method| format!(" method {method}"))
        .unwrap_or_default();
    format!(
        "{} -> {} api {}{method}",
        edge.caller.as_deref().unwrap_or(CLIENT),
        edge.callee,
        edge.api
    )
}

/// Why `edge` is broken, naming versions: `catalog v1 does not provide api v2`.
pub fn why_text(edge: &BrokenEdge) -> String {
    match &edge.why {
        Break::NotServing => format!("no replica of {} is ready", edge.callee),
        Break::NoApi { version } => {
            format!(
                "{} {version} does not provide api {}",
                edge.callee, edge.api
            )
        }
        Break::NoMethod { version } => format!(
            "{} {version} has no method {}",
            edge.callee,
            edge.method
                .as_deref()
                .unwrap_or(crate::model::DEFAULT_METHOD)
        ),
        Break::Partitioned => format!("partitioned from {}", edge.callee),
    }
}

/// `web v2 -> cart v1 -> pricing api v1: UNAVAILABLE (no replica of pricing is ready)`:
/// the hops of a prediction and the broken edge at its end; empty when nothing broke.
pub fn path_text(prediction: &Prediction) -> String {
    let Some(edge) = &prediction.edge else {
        return String::new();
    };
    let mut parts: Vec<String> = prediction
        .path
        .iter()
        .map(|(service, version)| format!("{service} {version}"))
        .collect();
    if parts.is_empty() {
        parts.push(CLIENT.to_owned());
    }
    parts.push(format!("{} api {}", edge.callee, edge.api));
    format!(
        "{}{}: {} ({})",
        parts.join(" -> "),
        behind(edge),
        edge.why.code(),
        why_text(edge)
    )
}

/// `cart v1 -> pricing api v1: UNAVAILABLE (no replica of pricing is ready)`: a broken
/// edge with its caller's version.
pub fn broken_edge_text(caller_version: &str, edge: &BrokenEdge) -> String {
    format!(
        "{} {caller_version} -> {} api {}{}: {} ({})",
        edge.caller.as_deref().unwrap_or(CLIENT),
        edge.callee,
        edge.api,
        behind(edge),
        edge.why.code(),
        why_text(edge)
    )
}

/// A state every order (or the initial or target state) passes through that fails an
/// entrypoint; for a settled state, every call it strands, and the two ways out.
fn failing_state_text(
    state: Passed,
    entrypoint: Option<&str>,
    edge: Option<&BrokenEdge>,
    broken: &[(String, BrokenEdge)],
) -> (String, Option<String>) {
    let which = match state {
        Passed::Initial => "the initial state",
        Passed::Target => "the target state",
        Passed::EveryOrder => "every order passes through a state that",
        Passed::EveryOrderTried => "every order tried passes through a state that",
    };
    let summary = match (entrypoint, edge) {
        (Some(entry), Some(edge)) => format!(
            "{which} fails {entry}: {}: {} ({})",
            edge_text(edge),
            edge.why.code(),
            why_text(edge)
        ),
        (Some(entry), None) => format!("{which} fails {entry}"),
        (None, _) => format!("{which} fails"),
    };
    // A settled state the rollout must reach strands every caller whose call breaks in
    // it; name them all, with the two ways out.
    if !matches!(state, Passed::Initial | Passed::Target) || broken.is_empty() {
        return (summary, None);
    }
    let stranded: Vec<String> = broken
        .iter()
        .map(|(version, edge)| broken_edge_text(version, edge))
        .collect();
    let callers: Vec<&str> = broken
        .iter()
        .filter_map(|(_, edge)| edge.caller.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let dropped: Vec<String> = broken
        .iter()
        .filter(|(_, edge)| matches!(edge.why, Break::NoApi { .. }))
        .map(|(_, edge)| format!("{} api {}", edge.callee, edge.api))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let summary = format!(
        "{summary}; it strands {} {}: {}",
        stranded.len(),
        plural(stranded.len(), "call", "calls"),
        stranded.join("; ")
    );
    let fix = if dropped.is_empty() {
        format!(
            "move the stranded callers ({}) in the release, or keep what they call deployed",
            callers.join(", ")
        )
    } else {
        format!(
            "move the stranded callers ({}) to versions that no longer call it, in the release; \
             or keep the old API ({}) in the providers' new versions",
            callers.join(", "),
            dropped.join(", ")
        )
    };
    (summary, Some(fix))
}

/// A conflict of the safe-order planner as the reports say it: what is wrong, and the
/// fix when one is known.
pub fn conflict_text(conflict: &Conflict) -> (String, Option<String>) {
    match conflict {
        Conflict::FailingState {
            state,
            entrypoint,
            edge,
            broken,
        } => failing_state_text(*state, entrypoint.as_deref(), edge.as_ref(), broken),
        Conflict::RecreateWindow { service, callers } => (
            format!(
                "{service} uses rollout: recreate: while its new replicas start no replica is ready, and {} {} it in every version that can run",
                callers.join(", "),
                plural(callers.len(), "requires", "require")
            ),
            Some(format!(
                "roll {service} out with rollout: rolling, or make the calls to it degrade (on_failure: degrade)"
            )),
        ),
        Conflict::Loop { links, fix } => {
            let reasons: Vec<String> = links
                .iter()
                .map(|link| {
                    format!(
                        "{} must finish before {} starts ({})",
                        link.before,
                        link.after,
                        reason_text(&link.reason)
                    )
                })
                .collect();
            let fix = fix.as_ref().map(|fix| {
                format!(
                    "expand, then contract: first ship a version of {service} that provides api {api} and api {new_apis}; \
                     then roll the callers forward; then ship the version of {service} that drops api {api}",
                    service = fix.service,
                    api = fix.api,
                    new_apis = fix.new_apis.join(", ")
                )
            });
            (reasons.join("; "), fix)
        }
        Conflict::NoWholeSteps => (
            "no order of whole steps avoids a failing state".to_owned(),
            None,
        ),
    }
}

/// Why one change must wait for another.
fn reason_text(reason: &Reason) -> String {
    match reason {
        Reason::CallsNewApi {
            caller,
            version,
            callee,
            api,
            callee_from,
        } => {
            let old = match callee_from {
                Some(from) => format!("{callee} {from}"),
                None => format!("{callee} (not deployed before)"),
            };
            format!("{caller} {version} calls {callee} api {api}, which {old} does not provide")
        }
        Reason::DropsApi {
            callee,
            to,
            api,
            caller,
            version,
        } => format!("{callee} {to} drops api {api}, which {caller} {version} calls"),
        Reason::Removed {
            callee,
            caller,
            version,
        } => format!("{callee} is removed, and {caller} {version} calls it"),
        Reason::Recreated {
            callee,
            caller,
            version,
        } => format!(
            "{callee} is recreated (no ready replica while it starts), and {caller} {version} requires it"
        ),
    }
}

/// A planning error with its conflicts: `no safe order exists: ...`.
pub fn plan_error_text(error: &PlanError) -> String {
    match error {
        PlanError::NoSafeOrder { conflicts, .. } => {
            let summaries: Vec<String> = conflicts.iter().map(|c| conflict_text(c).0).collect();
            format!("{error}: {}", summaries.join("; "))
        }
        PlanError::Cycle { .. } => error.to_string(),
    }
}

/// `text` as one word of a POSIX shell command: as it is when it holds only characters
/// no shell treats specially, else single-quoted (a `'` inside as `'\''`), so a copied
/// command runs on the file it names.
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// `text` as a Markdown code span: fenced by one more backtick than the longest run of
/// them inside, padded with a space where it starts or ends with one, so no text can
/// close the span early.
pub fn code_span(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// "Too many open files" on Linux and macOS.
const EMFILE: i32 = 24;

/// A replica that could not start, with what to do when the process ran out of file
/// descriptors.
pub fn start_error_text(err: &crate::runtime::cluster::StartError) -> String {
    let hint = if err.source.raw_os_error() == Some(EMFILE) {
        "; every replica needs a few file descriptors: raise the limit (ulimit -n)"
    } else {
        ""
    };
    format!("{err}{hint}")
}

/// What `simulate import` says once it has written `scenario` (to `out`, or stdout):
/// what it found, and what to do next.
pub fn import_summary(
    scenario: &Scenario,
    imported: &crate::import::Imported,
    out: Option<&std::path::Path>,
) -> String {
    let calls: usize = scenario
        .services
        .values()
        .flat_map(|service| service.versions.values())
        .map(|version| version.calls.len())
        .sum();
    let mut text = format!(
        "imported {} services, {}",
        scenario.services.len(),
        count_of(calls, "call")
    );
    if imported.calls_from_lists > 0 && imported.calls_from_manifests > 0 {
        let _ = write!(
            text,
            " ({} from the manifests, {} from dependency lists)",
            imported.calls_from_manifests, imported.calls_from_lists
        );
    }
    text.push('\n');
    for (name, why) in &imported.entrypoints {
        let _ = writeln!(text, "  entrypoint {name}: {why}");
    }
    if !imported.isolated.is_empty() {
        let _ = writeln!(
            text,
            "  warning: {} no call in or out: {}; calls made in code are invisible to manifests: give a dependency list (simulate import DIR deps.json) or add them",
            if imported.isolated.len() == 1 {
                "1 service has".to_owned()
            } else {
                format!("{} services have", imported.isolated.len())
            },
            imported.isolated.join(", ")
        );
    }
    if !imported.unmatched.is_empty() {
        let _ = writeln!(
            text,
            "  {} of a dependency list matched no manifest, each a service of its own: {} (--map NAME=SERVICE pairs one)",
            count_of(imported.unmatched.len(), "name"),
            imported.unmatched.join(", ")
        );
    }
    let _ = write!(
        text,
        "next: read the notes at the top of the file, write the release (target:), then simulate check {}",
        out.map_or_else(|| "FILE".to_owned(), |path| path.display().to_string())
    );
    text
}

/// The scenario's warnings, a line each (`warning: ...`), for the top of a report; empty
/// when it has none.
pub fn warning_lines(scenario: &Scenario) -> String {
    scenario
        .warnings
        .iter()
        .map(|warning| format!("warning: {}\n", warning_text(warning)))
        .collect()
}

/// A warning as a sentence.
pub fn warning_text(warning: &crate::model::Warning) -> String {
    match warning {
        crate::model::Warning::Unreachable(services) => {
            const SHOWN: usize = 20;
            let mut names = services
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if services.len() > SHOWN {
                let _ = write!(names, " and {} more", services.len() - SHOWN);
            }
            format!(
                "no entrypoint reaches {} ({names}): no request meets their failures, so nothing here judges them; add the calls that reach them, or make one an entrypoint",
                count_of(services.len(), "service")
            )
        }
    }
}

/// `1 call`, `2 calls`.
fn count_of(n: usize, thing: &str) -> String {
    let many = format!("{thing}s");
    format!("{n} {}", plural(n, thing, &many))
}

/// `text` with every line longer than `width` characters wrapped at spaces, so a report
/// fits a terminal. A continuation line starts under the last column the line had
/// reached (under a table's last cell), or a few spaces in from the line's own indent.
pub fn fit(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        fit_line(&mut out, line, width.max(40));
    }
    out
}

fn fit_line(out: &mut String, line: &str, width: usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= width {
        out.push_str(line);
        out.push('\n');
        return;
    }
    let own_indent = chars.iter().take_while(|c| **c == ' ').count();
    // Where the last column before the cut starts: after the last run of two spaces.
    let column = (own_indent..width.saturating_sub(1))
        .rev()
        .find(|&i| chars[i] == ' ' && chars[i + 1] == ' ')
        .map(|i| i + 2);
    let indent = match column {
        Some(at) if at <= width / 2 => at,
        _ => (own_indent + 4).min(width / 2),
    };
    let mut rest: &[char] = &chars;
    let mut first = true;
    while !rest.is_empty() {
        let room = if first { width } else { width - indent };
        if rest.len() <= room {
            if !first {
                out.extend(std::iter::repeat_n(' ', indent));
            }
            out.extend(rest.iter());
            out.push('\n');
            break;
        }
        // Break at the last space that fits; a word longer than the room is cut.
        let cut = (1..=room).rev().find(|&i| rest[i] == ' ').unwrap_or(room);
        if !first {
            out.extend(std::iter::repeat_n(' ', indent));
        }
        let piece: String = rest[..cut].iter().collect();
        out.push_str(piece.trim_end());
        out.push('\n');
        rest = &rest[cut..];
        while rest.first() == Some(&' ') {
            rest = &rest[1..];
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_counts_read_as_a_person_says_them() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(duration_text(ms(850)), "850 ms");
        assert_eq!(duration_text(ms(41_500)), "41.5 s");
        assert_eq!(duration_text(ms(3_801_000)), "1 h 3 min");
        assert_eq!(duration_text(ms(552_000)), "9 min 12 s");
        assert_eq!(count_text(3_301_200), "3,301,200");
        assert_eq!(count_text(999), "999");
        assert_eq!(count_of(1, "call"), "1 call");
        assert_eq!(count_of(2, "call"), "2 calls");
    }

    #[test]
    fn long_lines_wrap_under_their_last_column() {
        let line = format!("  step  {}", "word ".repeat(20));
        let fitted = fit(&line, 40);
        let lines: Vec<&str> = fitted.lines().collect();
        assert!(lines.len() > 1, "{fitted}");
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{fitted}");
        assert!(lines[1].starts_with("        word"), "{fitted}");
        assert_eq!(fit("short\n", 40), "short\n");
        let joined: Vec<&str> = fitted.split_whitespace().collect();
        assert_eq!(joined.len(), 21, "no word is lost: {fitted}");
    }

    #[test]
    fn a_path_is_quoted_for_the_shell_and_fenced_for_markdown() {
        assert_eq!(shell_word("scenarios/risk.yaml"), "scenarios/risk.yaml");
        assert_eq!(shell_word("my risk.yaml"), "'my risk.yaml'");
        assert_eq!(shell_word("a'b;rm -rf ~"), "'a'\\''b;rm -rf ~'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(code_span("simulate x.yaml"), "`simulate x.yaml`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x``"), "``` `x`` ```");
    }

    #[test]
    fn table_aligns_columns_and_trims_trailing_space() {
        let rows = vec![
            vec!["step".to_owned(), "changes".to_owned(), "web".to_owned()],
            vec!["10".to_owned(), "a".to_owned(), "v2*".to_owned()],
        ];
        assert_eq!(table(&rows, ""), "step  changes  web\n10    a        v2*\n");
    }
}
