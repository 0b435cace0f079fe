//! The one verdict every command ends with, as data: pass, fail, inconclusive, interrupted,
//! or nothing judged. What decides it lives with what is judged (`check::Report::verdict`,
//! `Verdict::of` in `record::result`); `report` words it.

/// The verdict over every strategy of a live run: what decides the exit code, the
/// verdict line and the JSON's `verdict`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every expectation of every strategy held.
    Pass,
    /// These strategies (by name) did not meet their expectations.
    Fail(Vec<String>),
    /// The machine, not the services, limited these strategies' runs (see
    /// `record::Lag::kept_up`); every other strategy passed. Neither pass nor fail.
    Inconclusive(Vec<String>),
    /// Ctrl-C stopped the run: expectations of a run that did not finish are not judged.
    Interrupted,
    /// No strategy had an expectation, and none asked for by name failed to plan: what
    /// failed is reported, but nothing was judged (exit 0, JSON `none`; never a pass).
    NothingJudged,
}

impl Verdict {
    /// The verdict over strategies, given which failed, which could not be measured and
    /// whether any had an expectation to judge.
    pub fn from_parts(failed: Vec<String>, unmeasured: Vec<String>, any_expected: bool) -> Verdict {
        // A run the machine limited is inconclusive even with nothing expected: its
        // numbers, which the report still shows, are not a measurement (exit 4).
        if !failed.is_empty() {
            Verdict::Fail(failed)
        } else if !unmeasured.is_empty() {
            Verdict::Inconclusive(unmeasured)
        } else if !any_expected {
            Verdict::NothingJudged
        } else {
            Verdict::Pass
        }
    }

    /// The JSON word: `pass`, `fail` (an interrupted run is not a pass), `inconclusive`
    /// or `none` (nothing was judged).
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) | Verdict::Interrupted => "fail",
            Verdict::Inconclusive(_) => "inconclusive",
            Verdict::NothingJudged => "none",
        }
    }
}
