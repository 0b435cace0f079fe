//! Expectations against what was measured (pure): which held and which failed, as data;
//! `report` words them.

use std::time::Duration;

use crate::model::Expect;
use crate::record::StepKind;
use crate::record::tally::Tally;

/// One key of `expect`, with its bound.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `graceful: true` (no entry request fails) or `false` (some entry request fails).
    Graceful(bool),
    MaxFailedRatio(f64),
    MaxDegradedRatio(f64),
    P99(Duration),
}

impl Rule {
    /// The scenario key the rule comes from.
    pub fn key(&self) -> &'static str {
        match self {
            Rule::Graceful(_) => "graceful",
            Rule::MaxFailedRatio(_) => "max_failed_ratio",
            Rule::MaxDegradedRatio(_) => "max_degraded_ratio",
            Rule::P99(_) => "p99_ms",
        }
    }
}

/// What a rule was judged on.
#[derive(Debug, Clone, PartialEq)]
pub enum Measured {
    /// Entry requests that failed, of all, and the steps with a failed one.
    Failed {
        failed: u64,
        requests: u64,
        steps: Vec<StepKind>,
    },
    Ratio(f64),
    /// The p99 latency of every entry request, in milliseconds.
    P99Ms(f64),
}

/// One expectation judged against a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub rule: Rule,
    pub measured: Measured,
    pub held: bool,
}

/// Judges `expect` against every entry request of a run (`total`); `failed_steps` are the
/// steps in which a request failed.
pub fn judge(expect: &Expect, total: &Tally, failed_steps: &[StepKind]) -> Vec<Expectation> {
    let mut judged = Vec::new();
    if let Some(graceful) = expect.graceful {
        judged.push(Expectation {
            rule: Rule::Graceful(graceful),
            measured: Measured::Failed {
                failed: total.failed,
                requests: total.requests(),
                steps: failed_steps.to_vec(),
            },
            held: (total.failed == 0) == graceful,
        });
    }
    if let Some(max) = expect.max_failed_ratio {
        let ratio = total.failed_ratio();
        judged.push(Expectation {
            rule: Rule::MaxFailedRatio(max),
            measured: Measured::Ratio(ratio),
            held: ratio <= max,
        });
    }
    if let Some(max) = expect.max_degraded_ratio {
        let ratio = total.degraded_ratio();
        judged.push(Expectation {
            rule: Rule::MaxDegradedRatio(max),
            measured: Measured::Ratio(ratio),
            held: ratio <= max,
        });
    }
    if let Some(p99) = expect.p99 {
        let measured = total.percentiles().p99;
        judged.push(Expectation {
            rule: Rule::P99(p99),
            measured: Measured::P99Ms(measured),
            held: measured <= p99.as_secs_f64() * 1000.0,
        });
    }
    judged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Level;
    use std::time::Duration;

    fn tally(ok: u64, degraded: u64, failed: u64, latency_ms: u64) -> Tally {
        let mut tally = Tally::default();
        let latency = Some(Duration::from_millis(latency_ms));
        for _ in 0..ok {
            tally.record(Level::Ok, &[], latency);
        }
        for _ in 0..degraded {
            tally.record(Level::Degraded, &[], latency);
        }
        for _ in 0..failed {
            tally.record(Level::Failed, &[], latency);
        }
        tally
    }

    #[test]
    fn graceful_true_fails_on_one_failed_request_and_false_needs_one() {
        let expect = Expect {
            graceful: Some(true),
            ..Expect::default()
        };
        assert!(judge(&expect, &tally(10, 5, 0, 1), &[])[0].held);
        let failed = judge(&expect, &tally(10, 0, 1, 1), &[StepKind::Rollout(2)]);
        assert!(!failed[0].held);
        assert_eq!(
            failed[0].measured,
            Measured::Failed {
                failed: 1,
                requests: 11,
                steps: vec![StepKind::Rollout(2)]
            }
        );
        let must_break = Expect {
            graceful: Some(false),
            ..Expect::default()
        };
        assert!(!judge(&must_break, &tally(10, 0, 0, 1), &[])[0].held);
        assert!(judge(&must_break, &tally(10, 0, 1, 1), &[])[0].held);
    }

    #[test]
    fn ratios_and_p99_are_bounds() {
        let expect = Expect {
            graceful: None,
            max_failed_ratio: Some(0.1),
            max_degraded_ratio: Some(0.5),
            p99: Some(Duration::from_millis(50)),
        };
        let checks = judge(&expect, &tally(8, 1, 1, 10), &[]);
        assert_eq!(checks.len(), 3);
        assert!(checks.iter().all(|c| c.held), "{checks:?}");
        let slow = judge(&expect, &tally(8, 1, 2, 100), &[]);
        let held: Vec<bool> = slow.iter().map(|c| c.held).collect();
        assert_eq!(held, vec![false, true, false]);
    }

    #[test]
    fn no_expectation_checks_nothing() {
        assert!(judge(&Expect::default(), &tally(0, 0, 5, 1), &[]).is_empty());
    }
}
