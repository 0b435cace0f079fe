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

    /// Replaces the line with `text`, cut to the terminal's width: a line that wrapped
    /// would leave its first rows behind at every redraw.
    pub(super) fn show(&self, text: &str) {
        if self.shown {
            let width = terminal_size::terminal_size_of(std::io::stderr())
                .map_or(80, |(width, _)| usize::from(width.0));
            let room = width.saturating_sub(3).max(10);
            let text: String = if text.chars().count() > room {
                text.chars().take(room - 1).chain(['…']).collect()
            } else {
                text.to_owned()
            };
            eprint!("{CLEAR}  {text}");
        }
    }

    /// Erases the line, so that what is printed next starts on a clean line.
    pub(super) fn clear(&self) {
        if self.shown {
            eprint!("{CLEAR}");
        }
    }

    /// The line as the progress of `parts` strategies (the live run) or rows (the
    /// sweep), or `None` when it is not shown.
    pub(super) fn steps(&self, parts: usize, part: &'static str) -> Option<Steps> {
        self.shown.then(|| Steps {
            line: *self,
            parts,
            part,
            started: Wall::now(),
            seen: std::sync::Mutex::new((0, String::new(), Wall::now())),
        })
    }
}

/// The user's wall clock: what the progress line's elapsed time and time left measure.
/// It is std's on purpose: in `--net sim` tokio's clock is the simulation's, and a
/// person waits in wall time. Nothing it reads changes what a run measures.
#[allow(clippy::disallowed_types)]
type Wall = std::time::Instant;

/// The live run's and the sweep's progress: which strategy (or row) of how many, the
/// step running, the time elapsed and, from the pace so far, the time left.
#[derive(Debug)]
pub(super) struct Steps {
    line: Line,
    parts: usize,
    /// `strategy` or `row`.
    part: &'static str,
    started: Wall,
    /// How many strategies (rows) have started, the name of the last, and when it did.
    seen: std::sync::Mutex<(usize, String, Wall)>,
}

impl Progress for Steps {
    fn step_started(&self, strategy: &str, kind: StepKind, planned: usize) {
        let what = match kind {
            StepKind::Baseline => "baseline".to_owned(),
            StepKind::Rollout(n) => format!("step {n}/{planned}"),
            StepKind::Rollback(n) => format!("rolling back step {n}"),
            StepKind::KillSwitch(_) => "kill switch".to_owned(),
        };
        let (part, part_started) = {
            // A poisoned lock still holds a count worth showing.
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.1 != strategy {
                seen.0 += 1;
                seen.1 = strategy.to_owned();
                seen.2 = Wall::now();
            }
            (seen.0, seen.2)
        };
        let elapsed = self.started.elapsed();
        let mut text = format!(
            "{} {part}/{} {strategy}: {what}, {} elapsed",
            self.part,
            self.parts,
            deploysim::report::duration_text(elapsed)
        );
        // The pace of the parts finished so far gives the time left: the parts still to
        // start, and what the one running has left of its share.
        if part > 1 && self.parts > 1 {
            let done = part_started.duration_since(self.started).as_secs_f64();
            let per_part = done / (part - 1) as f64;
            let current = part_started.elapsed().as_secs_f64();
            let left = (per_part * (self.parts + 1 - part) as f64 - current).max(0.0);
            text.push_str(&format!(
                ", about {} left",
                deploysim::report::duration_text(std::time::Duration::from_secs_f64(left))
            ));
        }
        self.line.show(&text);
    }
}
