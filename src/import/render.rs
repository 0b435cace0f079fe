//! A topology as scenario YAML, with a comment on every value saying where it came
//! from, and a note at the top on what to write next.

use std::fmt::Write as _;

use super::{Call, Service, Topology, sanitize};

/// What to write next, at the top of every imported scenario.
const NEXT: &str = "\
#   1. the release: add each changed service's new version under `versions:` and
#      name it in `target:` (below, commented out);
#   2. what each failure does: every call is `on_failure: fail` until you say
#      `degrade`, `ignore`, a `fallback:` or a rule per code (docs/scenario.md);
#   3. the load: `load.rps`, or a rate and a mix per entrypoint.
# Then: simulate check FILE, simulate sweep FILE --pairs --net sim.
";

/// The scenario as YAML, with where each value came from.
pub(super) fn render(name: &str, source: &str, topology: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported by `simulate import` from {source}. What to write next:"
    );
    out.push_str(NEXT);
    for note in &topology.notes {
        wrapped(&mut out, &format!("Note: {}", one_line(note)));
    }
    let _ = writeln!(out, "\nname: {}", word(&sanitize(name)));
    let _ = writeln!(out, "\nservices:");
    for (service_name, service) in &topology.services {
        render_service(&mut out, service_name, service);
    }
    let _ = writeln!(out, "\ninitial:");
    for (service_name, service) in &topology.services {
        let _ = writeln!(out, "  {}: {}", word(service_name), word(&service.version));
    }
    let example = topology.services.keys().next().cloned().unwrap_or_default();
    let _ = writeln!(
        out,
        "\n# target: {{ {}: v2 }}   # the release: what it changes",
        word(&example)
    );
    out
}

/// One service: its settings, its initial version with its calls (and those left out),
/// and its other versions.
fn render_service(out: &mut String, name: &str, service: &Service) {
    let _ = writeln!(out, "  {}:   # {}", word(name), one_line(&service.origin));
    if let Some(why) = &service.entrypoint {
        let _ = writeln!(out, "    entrypoint: true   # {}", one_line(why));
    }
    if let Some((replicas, why)) = &service.replicas {
        let _ = writeln!(out, "    replicas: {}   # {why}", (*replicas).clamp(1, 64));
    }
    if let Some((ms, why)) = &service.startup_ms {
        let _ = writeln!(out, "    startup_ms: {}   # {why}", (*ms).min(3_600_000));
    }
    if let Some(why) = &service.recreate {
        let _ = writeln!(out, "    rollout: recreate   # {why}");
    }
    let _ = writeln!(out, "    versions:");
    let _ = writeln!(
        out,
        "      {}:   # {}",
        word(&service.version),
        one_line(&service.version_origin)
    );
    render_calls(out, &service.calls, &service.left_out);
    for (version, origin, calls) in &service.more_versions {
        let _ = writeln!(out, "      {}:   # {}", word(version), one_line(origin));
        render_calls(out, calls, &[]);
    }
}

/// A version's `calls:`, each with why it is there; the calls left out as comments.
fn render_calls(out: &mut String, calls: &[Call], left_out: &[Call]) {
    if calls.is_empty() && left_out.is_empty() {
        let _ = writeln!(out, "        calls: []");
        return;
    }
    let _ = writeln!(out, "        calls:");
    for (callee, why) in calls {
        let _ = writeln!(
            out,
            "          - {{ service: {} }}   # {}",
            word(callee),
            one_line(why)
        );
    }
    for (callee, why) in left_out {
        let _ = writeln!(
            out,
            "          # - {{ service: {} }}   # left out: {}",
            word(callee),
            one_line(why)
        );
    }
}

/// A name as a YAML scalar that reads back as that name: plain when YAML reads it as
/// text, double-quoted when it would read as something else (`null`, `~`, `true`, `no`,
/// a number). Names here are made of letters, digits, '.', '_' and '-', so quoting
/// needs no escapes.
fn word(name: &str) -> String {
    let special = matches!(
        name.to_ascii_lowercase().as_str(),
        "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    );
    let numeric = name.parse::<f64>().is_ok()
        || name.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '+');
    if special || numeric {
        format!("\"{name}\"")
    } else {
        name.to_owned()
    }
}

/// A comment's text on one line: control characters become spaces. Never cut: a note's
/// advice is at its end.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A header comment, wrapped at spaces to about 90 columns, continued with `#   `.
fn wrapped(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split(' ').filter(|word| !word.is_empty()) {
        if line.len() > 4 && line.len() + 1 + word.len() > 90 {
            let _ = writeln!(out, "{line}");
            line = String::from("#  ");
        }
        line.push(' ');
        line.push_str(word);
    }
    let _ = writeln!(out, "{line}");
}
