//! `simulate risk`: paired trials with defects, their measures and their reports, on a
//! simulated network (virtual time: the same numbers on every machine).

use std::collections::BTreeMap;

use deploysim::model::{Scenario, Strategy, StrategyKind};
use deploysim::risk::{self, DefectKind, Draw};
use deploysim::runtime::net::Net;
use deploysim::runtime::trials::{self, TrialOptions};

use crate::support::{TempDir, root, simulate, write};

/// A chain of four services, every change compatible in any order (nothing fails
/// without a defect), and a gate that rolls back. `{probability}` and `{kinds}` are the
/// defect model.
fn chain(probability: f64, kinds: &str) -> String {
    format!(
        "
name: chain
seed: 11
services:
  web:
    entrypoint: true
    startup_ms: 20
    versions:
      v1: {{ calls: [ {{ service: cart, timeout_ms: 150 }} ] }}
      v2: {{ calls: [ {{ service: cart, timeout_ms: 150 }} ] }}
  cart:
    startup_ms: 20
    versions:
      v1: {{ calls: [ {{ service: pricing, timeout_ms: 100 }} ] }}
      v2: {{ calls: [ {{ service: pricing, timeout_ms: 100 }} ] }}
  pricing:
    startup_ms: 20
    versions:
      v1: {{ calls: [ {{ service: tax, timeout_ms: 80 }} ] }}
      v2: {{ calls: [ {{ service: tax, timeout_ms: 80 }} ] }}
  tax:
    startup_ms: 20
    versions: {{ v1: {{}}, v2: {{}} }}
initial: {{ web: v1, cart: v1, pricing: v1, tax: v1 }}
target: {{ web: v2, cart: v2, pricing: v2, tax: v2 }}
load: {{ rps: 50, baseline_ms: 200, step_ms: 300 }}
gate: {{ max_failed_ratio: 0.02, on_breach: rollback }}
risk:
  trials: 40
  strategies: [batch, single-piece]
  defect: {{ probability: {probability}, kinds: {{ {kinds} }}, error_rate: 0.8 }}
"
    )
}

fn builtin(kind: StrategyKind) -> Strategy {
    Strategy {
        name: risk::strategy_name(&kind),
        kind,
        expect: Default::default(),
        on_breach: None,
        listed: false,
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// The estimate of `measure` for strategy `name` in a risk JSON report, and the paired
/// difference against single-piece when there is one.
fn estimate<'a>(
    report: &'a serde_json::Value,
    name: &str,
    group: &str,
    measure: &str,
) -> &'a serde_json::Value {
    let strategies = report["strategies"].as_array().expect("strategies");
    let strategy = strategies
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no strategy {name} in {report}"));
    &strategy[group][measure]
}

#[test]
fn one_defect_batch_rolls_back_every_change_and_single_piece_only_the_culprit() {
    let scenario: Scenario = deploysim::scenario::parse_str(
        &chain(0.2, "errors: 1"),
        std::path::Path::new("chain.yaml"),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    // tax is the callee of them all, so single-piece deploys it first: its defect is
    // caught in step 1, with nothing else deployed yet.
    let draw = Draw {
        trial: 0,
        defects: BTreeMap::from([("tax".to_owned(), DefectKind::Errors)]),
    };
    let plans: Vec<_> = [StrategyKind::Batch, StrategyKind::SinglePiece]
        .into_iter()
        .map(|kind| {
            let strategy = builtin(kind);
            let plan = deploysim::plan::plan(&scenario, &strategy, scenario.seed).expect("plans");
            (strategy, plan)
        })
        .collect();
    assert_eq!(
        plans[1].1.steps[1].changes[0].service, "tax",
        "single-piece starts with the callee"
    );
    let options = TrialOptions {
        trials: 1,
        seed: scenario.seed,
        net: Net::Sim,
        workers: 1,
        interrupt: deploysim::runtime::interrupt::Interrupt::never(),
        shard: None,
    };
    let runs = trials::run_draw(&scenario, &plans, &options, &draw).expect("runs");
    let batch = risk::outcome(&runs[0], &draw, &scenario.target);
    let single = risk::outcome(&runs[1], &draw, &scenario.target);
    assert!(batch.failed && single.failed, "{batch:?} {single:?}");
    assert_eq!(
        (batch.rolled_back, batch.collateral, batch.suspects),
        (4, 3, Some(4))
    );
    assert_eq!(
        (single.rolled_back, single.collateral, single.suspects),
        (1, 0, Some(1))
    );
    assert!(batch.time_to_restore_ms.is_some() && single.time_to_restore_ms.is_some());
    assert_eq!((batch.escaped, single.escaped), (0, 0));
    assert_eq!(
        batch.lead_time_ms, None,
        "a defective trial has no lead time"
    );
}

#[test]
fn the_paired_difference_has_the_sign_the_defects_force_and_leaves_zero_out() {
    let dir = TempDir::new("risk-paired");
    let path = write(&dir, "chain.yaml", &chain(0.25, "errors: 1"));
    let run = simulate(&["risk", &path, "--trials", "60", "--json", "-"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json(&run.stdout);
    for measure in ["collateral", "suspects", "rolled_back"] {
        let difference = estimate(&report, "batch", "vs_single_piece", measure);
        let low = difference["low"].as_f64().expect("low");
        assert!(
            low > 0.0,
            "batch minus single-piece in {measure} must be sure to be above 0: {difference}"
        );
    }
    // Every trial is in the JSON with its draw.
    let trials = report["trials"].as_array().expect("trials");
    assert_eq!(trials.len(), 60);
    assert!(trials.iter().any(|t| {
        t["draw"]["defects"]
            .as_object()
            .is_some_and(|d| !d.is_empty())
    }));
}

#[test]
fn with_no_defect_nothing_fails_and_every_strategy_reaches_the_target() {
    let dir = TempDir::new("risk-clean");
    let path = write(&dir, "chain.yaml", &chain(0.0, "errors: 1"));
    let run = simulate(&[
        "risk",
        &path,
        "--trials",
        "12",
        "--strategy",
        "batch",
        "--strategy",
        "waves-2",
        "--json",
        "-",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json(&run.stdout);
    for name in ["batch", "waves-2", "single-piece"] {
        let cfr = estimate(&report, name, "estimates", "change_failure_rate");
        assert_eq!(cfr["value"], 0.0, "{name}: {cfr}");
        let lead = estimate(&report, name, "estimates", "lead_time_ms");
        assert_eq!(
            lead["n"], 12,
            "{name} reached the target in every trial: {lead}"
        );
        assert_eq!(
            estimate(&report, name, "estimates", "escaped")["value"],
            0.0
        );
    }
    assert_eq!(report["trials_without_defect"], 12);
}

#[test]
fn the_same_seed_gives_the_same_json_on_one_worker_and_on_two() {
    let dir = TempDir::new("risk-workers");
    let path = write(
        &dir,
        "chain.yaml",
        &chain(0.3, "errors: 1, latency: 1, drop-api: 1"),
    );
    let one = simulate(&[
        "risk",
        &path,
        "--trials",
        "16",
        "--workers",
        "1",
        "--json",
        "-",
    ]);
    let two = simulate(&[
        "risk",
        &path,
        "--trials",
        "16",
        "--workers",
        "2",
        "--json",
        "-",
    ]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert_eq!(one.stdout, two.stdout);
    let other_seed = simulate(&[
        "risk", &path, "--trials", "16", "--seed", "12", "--json", "-",
    ]);
    assert_ne!(one.stdout, other_seed.stdout, "the seed drives the draws");
}

#[test]
fn a_trial_reruns_alone_with_the_same_numbers() {
    let dir = TempDir::new("risk-trial");
    let path = write(&dir, "chain.yaml", &chain(0.5, "errors: 1"));
    let run = simulate(&["risk", &path, "--trials", "6", "--json", "-"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json(&run.stdout);
    let trials = report["trials"].as_array().expect("trials");
    // A trial with a defect that batch (strategy 0) met.
    let (index, trial) = trials
        .iter()
        .enumerate()
        .find(|(_, t)| t["outcomes"][0]["failed"] == true)
        .expect("a failing trial among 6 at probability 0.5");
    let rerun = simulate(&[
        &path,
        "--trial",
        &index.to_string(),
        "--strategy",
        "batch",
        "--net",
        "sim",
        "--json",
        "-",
    ]);
    let rerun_report = json(&rerun.stdout);
    let failed = &rerun_report["strategies"][0]["requests"]["failed"];
    assert_eq!(
        failed, &trial["outcomes"][0]["failed_requests"],
        "trial {index} rerun alone: {rerun_report}"
    );
    let text = simulate(&[
        &path,
        "--trial",
        &index.to_string(),
        "--strategy",
        "batch",
        "--net",
        "sim",
    ]);
    let defective: Vec<&String> = trial["draw"]["defects"]
        .as_object()
        .expect("defects")
        .keys()
        .collect();
    assert!(
        text.stdout.starts_with(&format!(
            "risk trial {index} (seed 11): defective: {}",
            defective[0]
        )),
        "{}",
        text.stdout
    );
}

#[test]
fn risk_expect_decides_the_exit_code() {
    let dir = TempDir::new("risk-expect");
    let strict = chain(0.3, "errors: 1")
        + "  expect: { strategy: batch, max_change_failure_rate: 0.01, max_collateral: 100 }\n";
    let path = write(&dir, "strict.yaml", &strict);
    let run = simulate(&["risk", &path, "--trials", "20"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("risk.expect (batch):"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("limit 1.0%: FAILED"), "{}", run.stdout);
    assert!(run.stdout.contains("collateral"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("verdict: fail (1 of 2 limits exceeded)"),
        "{}",
        run.stdout
    );
    let lenient = chain(0.3, "errors: 1") + "  expect: { max_change_failure_rate: 1 }\n";
    let path = write(&dir, "lenient.yaml", &lenient);
    let run = simulate(&["risk", &path, "--trials", "20"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("verdict: pass"), "{}", run.stdout);
}

#[test]
fn risk_expect_mistakes_are_located() {
    let dir = TempDir::new("risk-expect-bad");
    let bad = chain(0.3, "errors: 1")
        + "  expect: { strategy: waves-2, max_change_failure_rate: 2, max_suspect: 1 }\n";
    let path = write(&dir, "bad.yaml", &bad);
    let run = simulate(&["risk", &path]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for needle in [
        "risk.expect.strategy",
        "\"waves-2\" is not one of the strategies compared",
        "risk.expect.max_change_failure_rate",
        "max_suspect",
        "did you mean \"max_suspects\"",
    ] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
}

/// `simulate risk scenarios/risk.yaml --trials TRIALS --out DIR/report`: the directory
/// (removed when dropped) and the report directory.
fn pages(name: &str, trials: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(name);
    let out = dir.path().join("report");
    let run = simulate(&[
        "risk",
        "scenarios/risk.yaml",
        "--trials",
        trials,
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (dir, out)
}

#[test]
fn out_writes_a_short_markdown_summary_and_a_self_contained_page() {
    let (_dir, out) = pages("risk-out", "30");
    let markdown = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(markdown.lines().count() < 60, "{markdown}");
    assert!(markdown.contains("**Answer:** batch is"), "{markdown}");
    assert!(markdown.contains("| strategy |"), "{markdown}");
    let page = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    // Self-contained: nothing to fetch. The only URL is SVG's namespace, which names a
    // vocabulary and is never requested.
    for needle in ["src=", "href=", "<link", "<script", "@import", "url("] {
        assert!(!page.contains(needle), "the page holds {needle}");
    }
    let urls = page.matches("http://").count() + page.matches("https://").count();
    let namespaces = page.matches("http://www.w3.org/2000/svg").count();
    assert_eq!(urls, namespaces, "a URL other than SVG's namespace");
    assert!(
        page.matches("<svg").count() >= 11,
        "the measure, curve and timeline charts"
    );
    assert!(page.contains("One trial, step by step (trial"));
}

/// Opens report.html in headless Chromium (Debian's `chromium`, which .ci/run installs):
/// the page must log no console error (its Content-Security-Policy turns any request it
/// would make into one) and its screenshot must not be blank. Without a browser the test
/// fails, unless DEPLOYSIM_NO_BROWSER=1 says so on purpose.
#[test]
fn the_page_opens_in_a_real_browser_without_errors_or_requests() {
    let Some(browser) = browser() else {
        return;
    };
    let (dir, out) = pages("risk-browser", "20");
    let shot = dir.path().join("shot.png");
    let output = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-quic",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2400",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", out.join("report.html").display()))
        .current_dir(root())
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    let console: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("CONSOLE") || line.contains("Content Security Policy"))
        .collect();
    assert!(console.is_empty(), "the page logged: {console:#?}");
    let image = std::fs::read(&shot).expect("a screenshot");
    let (width, height, pixels) = decode_png(&image);
    assert_eq!((width, height), (1280, 2400));
    // Not blank: a good share of the pixels are neither white nor one flat colour.
    let white = pixels
        .iter()
        .filter(|p| p[0] > 245 && p[1] > 245 && p[2] > 245)
        .count();
    let inked = pixels.len() - white;
    assert!(
        inked * 100 > pixels.len() * 3,
        "{inked} of {} pixels are not white",
        pixels.len()
    );
    let coloured = pixels
        .iter()
        .filter(|p| p[2] > p[0].saturating_add(40))
        .count();
    assert!(
        coloured > 500,
        "the blue intervals are drawn: {coloured} blue pixels"
    );
}

/// Decodes an 8-bit RGB or RGBA PNG into (width, height, pixels as RGB).
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let pixels = buffer[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

#[test]
fn ctrl_c_stops_after_the_trials_in_flight_and_reports_them_as_partial() {
    let dir = TempDir::new("risk-interrupt");
    let path = write(&dir, "chain.yaml", &chain(0.3, "errors: 1"));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(["risk", &path, "--trials", "100000", "--out"])
        .arg(dir.path().join("report"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn simulate");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let output = child.wait_with_output().expect("simulate ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("of 100000 asked (partial: interrupted)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("answer:"),
        "the trials done are reported: {stdout}"
    );
    // The pages say they are partial, the page as a browser renders it too.
    let markdown = std::fs::read_to_string(dir.path().join("report/report.md")).expect("report.md");
    assert!(
        markdown.contains("**Partial: Ctrl-C stopped the trials after "),
        "{markdown}"
    );
    if let Some(text) = rendered_text(&dir, &dir.path().join("report/report.html")) {
        assert!(
            text.contains("Partial: Ctrl-C stopped the trials after ")
                && text.contains("of the 100000 asked"),
            "{text}"
        );
        assert!(text.contains("verdict: not judged"), "{text}");
    }
}

/// The headless browser on PATH, or `None` when DEPLOYSIM_NO_BROWSER=1 says to go without
/// one (the test fails without a browser otherwise).
fn browser() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            std::process::Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("DEPLOYSIM_NO_BROWSER").is_some(),
            "no chromium on PATH: install it (apt-get install chromium) or set DEPLOYSIM_NO_BROWSER=1"
        );
    }
    found
}

/// The page at `html` as headless Chromium renders it (`--dump-dom`: the DOM after the
/// browser parsed it), or `None` without a browser on purpose.
fn rendered_dom(dir: &TempDir, html: &std::path::Path) -> Option<String> {
    let browser = browser()?;
    let output = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("dom-profile").display()
        ))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The rendered page's text: its DOM without tags, whitespace folded.
fn rendered_text(dir: &TempDir, html: &std::path::Path) -> Option<String> {
    let dom = rendered_dom(dir, html)?;
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The texts of an SVG's `<text>` elements, in order.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|part| {
            let body = part.split_once('>')?.1;
            Some(body.split("</text>").next()?.trim().to_owned())
        })
        .collect()
}

#[test]
fn the_rendered_page_recommends_defines_its_measures_and_reads_its_ticks() {
    let (dir, out) = pages("risk-dom", "40");
    let html = out.join("report.html");
    let Some(dom) = rendered_dom(&dir, &html) else {
        return;
    };
    let text = rendered_text(&dir, &html).expect("rendered");
    // A recommendation naming a strategy, from the paired differences.
    let recommendation = text
        .split("Recommendation: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no recommendation: {text}"));
    assert!(
        recommendation.starts_with("use waves-3: ")
            || recommendation.starts_with("use single-piece: "),
        "{}",
        &recommendation[..200.min(recommendation.len())]
    );
    // Every measure defined, by its label.
    for measure in deploysim::risk::MEASURES {
        assert!(
            dom.contains(&format!("<dt>{}</dt><dd>", measure.label)),
            "{} is not defined on the page",
            measure.label
        );
    }
    // Times read as times: seconds or milliseconds, never bare thousands of ms.
    assert!(text.contains(" s ("), "{text}");
    assert!(!text.contains("time to detect ms"), "{text}");
    // Each chart's axis: its number ticks increase, none repeated (`0 0 1 2 2` is not a
    // scale).
    let charts: Vec<&str> = dom.split("<svg").skip(1).collect();
    assert!(charts.len() >= 12, "{} charts", charts.len());
    for chart in &charts[..12] {
        let ticks: Vec<f64> = svg_texts(chart)
            .iter()
            .filter_map(|t| t.trim_end_matches('%').parse::<f64>().ok())
            .collect();
        assert!(ticks.len() >= 3, "{:?}", svg_texts(chart));
        for pair in ticks.windows(2) {
            assert!(pair[0] != pair[1], "a tick repeats: {:?}", svg_texts(chart));
        }
    }
    // The curve: strategies as points, not one line through them (axes, ticks and
    // interval bars are lines of two points).
    for line in charts[11].split("points=\"").skip(1) {
        let points = line.split('"').next().unwrap_or_default();
        assert!(
            points.split_whitespace().count() <= 2,
            "a line through the strategies: {points}"
        );
    }
}

#[test]
fn a_bad_out_directory_is_refused_before_any_trial_runs() {
    let dir = TempDir::new("risk-bad-out");
    let path = write(&dir, "chain.yaml", &chain(0.3, "errors: 1"));
    let file = write(&dir, "a-file", "");
    // A million trials would take minutes: the error must come first.
    let run = simulate(&["risk", &path, "--trials", "1000000", "--out", &file]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}
