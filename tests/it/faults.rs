//! Faults that are not "gone": a slow service (`latency`), one that fails a share of its
//! answers (`errors`), and a black hole (`hang`), on real servers in virtual time.

use crate::support::{TempDir, simulate, write};

/// web calls api (required, `api_timeout_ms`) and recs (optional, 100 ms); `faults` is
/// the scenario's fault list, as YAML lines.
fn shop(dir: &TempDir, api_timeout_ms: u32, faults: &str) -> String {
    write(
        dir,
        "shop.yaml",
        &format!(
            "
name: shop
services:
  web:
    entrypoint: true
    versions:
      v1:
        calls:
          - {{ service: api, timeout_ms: {api_timeout_ms} }}
          - {{ service: recs, on_failure: degrade, timeout_ms: 100 }}
  api: {{ versions: {{ v1: {{}} }} }}
  recs: {{ versions: {{ v1: {{}} }} }}
initial: {{ web: v1, api: v1, recs: v1 }}
load: {{ rps: 100, baseline_ms: 2000 }}
strategies: [batch]
faults:
{faults}
"
        ),
    )
}

/// The baseline step of `simulate PATH --net sim --json -`.
fn baseline(path: &str) -> serde_json::Value {
    let run = simulate(&[path, "--net", "sim", "--json", "-"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}\n{}", run.stdout, run.stderr));
    report["strategies"][0]["steps"][0].clone()
}

/// The causes of a step as `edge: code` -> count.
fn causes(step: &serde_json::Value) -> Vec<(String, u64)> {
    step["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|cause| {
            (
                format!(
                    "{}: {}",
                    cause["edge"].as_str().unwrap_or_default(),
                    cause["code"].as_str().unwrap_or_default()
                ),
                cause["count"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_hung_service_makes_its_callers_wait_for_their_deadline() {
    let dir = TempDir::new("fault-hang");
    let path = shop(&dir, 300, "  - { hang: api }");
    let step = baseline(&path);
    let sent = step["requests"]["sent"].as_u64().expect("sent");
    assert!(sent >= 190, "{step}");
    assert_eq!(step["requests"]["failed"].as_u64(), Some(sent), "{step}");
    assert_eq!(
        causes(&step),
        [("web -> api api v1: DEADLINE_EXCEEDED".to_owned(), sent)]
    );
    // Every request waited for web's 300 ms timeout of the call, no less, no much more.
    let p50 = step["latency_ms"]["p50"].as_f64().expect("p50");
    let max = step["latency_ms"]["max"].as_f64().expect("max");
    assert!((300.0..330.0).contains(&p50), "p50 {p50}");
    assert!(max < 330.0, "max {max}");
    // check's state model does not see a hang; its load model does, and says so.
    let check = simulate(&["check", &path]);
    assert!(
        check
            .stdout
            .contains("note: time and load: hang api; their load is predicted")
            && check.stdout.contains("baseline: web 0% served"),
        "{}",
        check.stdout
    );
}

#[test]
fn latency_past_a_call_s_timeout_fails_that_edge_only_and_below_it_only_slows() {
    let dir = TempDir::new("fault-latency");
    let past = shop(
        &dir,
        1000,
        "  - { latency: { service: recs, add_ms: 150 } }",
    );
    let step = baseline(&past);
    let sent = step["requests"]["sent"].as_u64().expect("sent");
    assert_eq!(step["requests"]["degraded"].as_u64(), Some(sent), "{step}");
    assert_eq!(step["requests"]["failed"].as_u64(), Some(0), "{step}");
    assert_eq!(
        causes(&step),
        [("web -> recs api v1: DEADLINE_EXCEEDED".to_owned(), sent)]
    );
    let below = shop(
        &dir,
        1000,
        "  - { latency: { service: api, add_ms: 50, jitter_ms: 20 } }",
    );
    let step = baseline(&below);
    let sent = step["requests"]["sent"].as_u64().expect("sent");
    assert_eq!(step["requests"]["ok"].as_u64(), Some(sent), "{step}");
    let p50 = step["latency_ms"]["p50"].as_f64().expect("p50");
    let max = step["latency_ms"]["max"].as_f64().expect("max");
    assert!(p50 >= 50.0 && max < 80.0, "p50 {p50}, max {max}");
}

#[test]
fn errors_fail_their_share_with_their_code_the_same_for_the_same_seed() {
    let dir = TempDir::new("fault-errors");
    let path = shop(
        &dir,
        1000,
        "  - { errors: { service: api, rate: 0.3, code: UNAVAILABLE } }",
    );
    let step = baseline(&path);
    let sent = step["requests"]["sent"].as_u64().expect("sent") as f64;
    let failed = step["requests"]["failed"].as_u64().expect("failed") as f64;
    // A binomial share: 0.3 within four standard deviations.
    let sigma = (0.3 * 0.7 / sent).sqrt();
    assert!(
        (failed / sent - 0.3).abs() < 4.0 * sigma,
        "{failed} of {sent} failed"
    );
    let codes: Vec<String> = causes(&step).into_iter().map(|(cause, _)| cause).collect();
    assert_eq!(codes, ["web -> api api v1: UNAVAILABLE"]);
    assert_eq!(
        baseline(&path)["requests"],
        step["requests"],
        "one seed, one run"
    );
}

#[test]
fn fault_mistakes_are_located() {
    let dir = TempDir::new("fault-invalid");
    let path = shop(
        &dir,
        1000,
        "  - { errors: { service: api, rate: 2, code: BOGUS } }\n  - { latency: { service: nope, add_ms: 10 } }\n  - { hang: api, kill: api }",
    );
    let run = simulate(&["check", &path]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    for needle in [
        "faults[0].errors.rate",
        "unknown value \"BOGUS\"",
        "faults[1].latency.service",
        "a fault has exactly one of `kill`, `missing`, `partition`, `latency`, `errors`, `hang` or `crash`",
    ] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
}
