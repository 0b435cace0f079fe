//! Expectations against what was measured (pure): which held, which failed, and why.

use crate::model::Expect;
use crate::record::tally::Tally;

/// One expectation checked.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    /// The scenario key: `graceful`, `max_failed_ratio`, `max_degraded_ratio`, `p99_ms`.
    pub key: &'static str,
    pub expected: String,
    pub actual: String,
    pub held: bool,
}

/// Checks `expect` against every entry request of a run (`total`). `failed_steps` names
/// the steps with a failed request, for the message.
pub fn check(expect: &Expect, total: &Tally, failed_steps: &[String]) -> Vec<Check> {
    let mut checks = Vec::new();
    let sent = total.sent();
    let where_failed = if failed_steps.is_empty() {
        String::new()
    } else {
        format!(" (in {})", failed_steps.join(", "))
    };
    if let Some(graceful) = expect.graceful {
        let actual = format!(
            "{} of {sent} entry requests failed{where_failed}",
            total.failed
        );
        checks.push(if graceful {
            Check {
                key: "graceful",
                expected: "no entry request fails".to_owned(),
                held: total.failed == 0,
                actual,
            }
        } else {
            Check {
                key: "graceful",
                expected: "some entry request fails (graceful: false)".to_owned(),
                held: total.failed > 0,
                actual,
            }
        });
    }
    if let Some(max) = expect.max_failed_ratio {
        let ratio = total.failed_ratio();
        checks.push(Check {
            key: "max_failed_ratio",
            expected: format!("failed ratio <= {max}"),
            actual: format!("{ratio:.4}"),
            held: ratio <= max,
        });
    }
    if let Some(max) = expect.max_degraded_ratio {
        let ratio = total.degraded_ratio();
        checks.push(Check {
            key: "max_degraded_ratio",
            expected: format!("degraded ratio <= {max}"),
            actual: format!("{ratio:.4}"),
            held: ratio <= max,
        });
    }
    if let Some(p99) = expect.p99 {
        let measured = total.percentiles().p99;
        let max_ms = p99.as_secs_f64() * 1000.0;
        checks.push(Check {
            key: "p99_ms",
            expected: format!("p99 <= {max_ms} ms"),
            actual: format!("{measured} ms"),
            held: measured <= max_ms,
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tally::Outcome;
    use std::time::Duration;

    fn tally(ok: u64, degraded: u64, failed: u64, latency_ms: u64) -> Tally {
        let mut tally = Tally::default();
        let latency = Some(Duration::from_millis(latency_ms));
        for _ in 0..ok {
            tally.record(Outcome::Ok, &[], latency);
        }
        for _ in 0..degraded {
            tally.record(Outcome::Degraded, &[], latency);
        }
        for _ in 0..failed {
            tally.record(Outcome::Failed, &[], latency);
        }
        tally
    }

    #[test]
    fn graceful_true_fails_on_one_failed_request_and_false_needs_one() {
        let expect = Expect {
            graceful: Some(true),
            ..Expect::default()
        };
        assert!(check(&expect, &tally(10, 5, 0, 1), &[])[0].held);
        let failed = check(&expect, &tally(10, 0, 1, 1), &["step 2".to_owned()]);
        assert!(!failed[0].held);
        assert_eq!(
            failed[0].actual,
            "1 of 11 entry requests failed (in step 2)"
        );
        let must_break = Expect {
            graceful: Some(false),
            ..Expect::default()
        };
        assert!(!check(&must_break, &tally(10, 0, 0, 1), &[])[0].held);
        assert!(check(&must_break, &tally(10, 0, 1, 1), &[])[0].held);
    }

    #[test]
    fn ratios_and_p99_are_bounds() {
        let expect = Expect {
            graceful: None,
            max_failed_ratio: Some(0.1),
            max_degraded_ratio: Some(0.5),
            p99: Some(Duration::from_millis(50)),
        };
        let checks = check(&expect, &tally(8, 1, 1, 10), &[]);
        assert_eq!(checks.len(), 3);
        assert!(checks.iter().all(|c| c.held), "{checks:?}");
        let slow = check(&expect, &tally(8, 1, 2, 100), &[]);
        let held: Vec<bool> = slow.iter().map(|c| c.held).collect();
        assert_eq!(held, vec![false, true, false]);
    }

    #[test]
    fn no_expectation_checks_nothing() {
        assert!(check(&Expect::default(), &tally(0, 0, 5, 1), &[]).is_empty());
    }
}
