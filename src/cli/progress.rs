//! The progress line: one line on stderr, rewritten in place while a long run goes on,
//! only when stderr is a terminal (never in a pipe or a log), cleared before anything
//! else is printed. The one place that writes terminal control sequences.
//!
//! Hand-drawn rather than indicatif's: indicatif redraws from its own ticker on
//! `std::time` (a second clock, and a second writer on stderr beside the error lines),
//! while the commands only need one line rewritten when something happens (a trial
//! ends, a step starts) and cleared before the report; the text itself (elapsed, rate,
//! time left in minutes and seconds) comes from `report`, where it is unit-tested.

use std::io::IsTerminal as _;

use deploysim::record::StepKind;
use deploysim::runtime::run::Progress;

/// Moves to the start of the line and erases it.
const CLEAR: &str = "\r\x1b[2K";

/// The progress line of one command: shown, or not at all.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    shown: bool,
}

impl Line {
    /// A line shown when stderr is a terminal and the user did not ask for quiet.
    pub(super) fn unless_quiet(quiet: bool) -> Line {
        Line {
            shown: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Replaces the line with `text`.
    pub(super) fn show(&self, text: &str) {
        if self.shown {
            eprint!("{CLEAR}  {text}");
        }
    }

    /// Erases the line, so that what is printed next starts on a clean line.
    pub(super) fn clear(&self) {
        if self.shown {
            eprint!("{CLEAR}");
        }
    }

    /// The line as the live run's progress, or `None` when it is not shown.
    pub(super) fn steps(&self) -> Option<Steps> {
        self.shown.then_some(Steps(*self))
    }
}

/// The live run's and the sweep's progress: the strategy and step running.
#[derive(Debug)]
pub(super) struct Steps(Line);

impl Progress for Steps {
    fn step_started(&self, strategy: &str, kind: StepKind, planned: usize) {
        let what = match kind {
            StepKind::Baseline => "baseline".to_owned(),
            StepKind::Rollout(n) => format!("step {n}/{planned}"),
            StepKind::Rollback(n) => format!("rolling back step {n}"),
            StepKind::KillSwitch(_) => "kill switch".to_owned(),
        };
        self.0.show(&format!("running {strategy}: {what}"));
    }
}
