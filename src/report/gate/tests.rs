//! The three renderings of a gate: caps, escapes and counts.

use super::*;

fn case(group: &str, status: Status, findings: usize) -> Case {
    Case {
        group: group.to_owned(),
        name: "graceful".to_owned(),
        status,
        message: format!("{group} <&> \"quoted\" | piped"),
        at: "expect".to_owned(),
        findings: (0..findings)
            .map(|i| {
                Finding::at(
                    format!("services.s{i}"),
                    format!("step {i}: 50% failed\nnext"),
                )
            })
            .collect(),
        primary: true,
        blocking: true,
    }
}

fn gate(cases: Vec<Case>) -> Gate {
    Gate {
        command: "check",
        scenario: "shop".to_owned(),
        file: "scenarios/shop, v2.yaml".to_owned(),
        verdict: Verdict::Fail(vec!["a".to_owned()]),
        headline: "fail".to_owned(),
        seed: Some(7),
        rerun: "simulate check scenarios/shop.yaml --seed 7".to_owned(),
        cases,
        notes: vec![("Safe order".to_owned(), "[a] → [b]".to_owned())],
    }
}

fn positions() -> Positions {
    crate::scenario::positions("name: shop\nservices:\n  s1:\n    replicas: 2\nexpect: {}\n")
        .unwrap()
}

#[test]
fn annotations_are_capped_with_a_last_one_that_counts_the_rest() {
    let g = gate(vec![case("a", Status::Failed, 25)]);
    let lines = annotations(&g, Some(&positions()));
    assert_eq!(lines.len(), MAX_ANNOTATIONS);
    assert!(lines[..9].iter().all(|l| l.starts_with("::error file=")));
    assert!(lines[9].contains("16 more problems"), "{}", lines[9]);
    // A file name with a comma is escaped as a property; a message's newline and
    // percent as data.
    // services.s0 is not written: it points at `services`, what holds it.
    assert!(lines[0].contains("file=scenarios/shop%2C v2.yaml,line=2,col=1,"));
    assert!(
        lines[0].ends_with("::step 0: 50%25 failed%0Anext"),
        "{}",
        lines[0]
    );
    // services.s1 is written at line 3: the finding points there.
    assert!(lines[1].contains(",line=3,col=3,"), "{}", lines[1]);
}

#[test]
fn errors_come_before_warnings_and_passed_cases_say_nothing() {
    let mut warn = case("w", Status::Failed, 1);
    warn.blocking = false;
    let g = gate(vec![
        warn,
        case("ok", Status::Passed, 0),
        case("a", Status::Failed, 1),
    ]);
    let lines = annotations(&g, None);
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("::error "));
    assert!(lines[1].starts_with("::warning "));
}

#[test]
fn the_summary_stays_within_its_lines_however_many_cases() {
    let mut cases = Vec::new();
    for i in 0..60 {
        cases.push(case(&format!("s{i}"), Status::Failed, 3));
    }
    let text = markdown(&gate(cases), Some(&positions()));
    assert!(text.lines().count() <= MAX_SUMMARY_LINES, "{text}");
    assert!(text.starts_with("### ❌ deploysim check `shop`: fail\n"));
    assert!(text.contains("45 more cases"));
    assert!(text.contains("\\| piped"), "pipes are escaped in cells");
    assert!(text.contains("**Safe order**: [a] → [b]"));
    assert!(
        text.trim_end()
            .ends_with("Rerun: `simulate check scenarios/shop.yaml --seed 7`")
    );
}

#[test]
fn junit_counts_each_status_and_escapes_what_it_quotes() {
    let g = gate(vec![
        case("a", Status::Failed, 1),
        case("a", Status::Passed, 0),
        case("b", Status::Skipped, 0),
        case("c", Status::Inconclusive, 0),
    ]);
    let xml = junit(&g, Some(&positions()));
    assert!(xml.contains(
        "<testsuites name=\"deploysim check shop\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\">"
    ));
    assert_eq!(xml.matches("<testsuite ").count(), 3);
    assert!(xml.contains("message=\"a &lt;&amp;&gt; &quot;quoted&quot; | piped\""));
    assert!(xml.contains("<skipped message="));
    assert!(xml.contains("<error message="));
    assert!(xml.contains("seed: 7\nrerun: simulate check"));
    // The passed case points at its expectation, written at line 5.
    assert!(xml.contains("name=\"graceful\" file=\"scenarios/shop, v2.yaml\" line=\"5\"/>"));
}

#[test]
fn a_finding_that_fails_nothing_is_skipped_in_junit_and_a_warning() {
    let mut sweep = case("web", Status::Failed, 1);
    sweep.blocking = false;
    let g = gate(vec![sweep]);
    let xml = junit(&g, None);
    assert!(
        xml.contains("failures=\"0\" errors=\"0\" skipped=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("<skipped message=\"not judged (no expectation): web"));
    assert!(xml.contains("<system-out>scenarios/shop, v2.yaml:1:1: step 0"));
    assert!(annotations(&g, None)[0].starts_with("::warning "));
}

#[test]
fn control_characters_never_reach_the_xml() {
    assert_eq!(attr("a\u{1}b\u{7}c"), "abc");
    assert_eq!(text_node("x\u{0}<y>\n"), "x&lt;y&gt;\n");
}
