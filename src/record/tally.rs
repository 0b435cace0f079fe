//! Counting entry requests (pure): ok, degraded or failed, their causes, and their latency
//! in an HdrHistogram.
//!
//! Invariant: `ok + degraded + failed` is the number of requests recorded; each request is
//! recorded once, with each of its distinct causes counted once.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::contract::{self, Cause};
use crate::eval::Level;

/// Codes that are not gRPC codes: the load generator's own reasons to fail a request.
pub mod reason {
    /// The request could not be sent: `max_in_flight` requests were outstanding.
    pub const OVERLOAD: &str = "overload";
    /// The run ended and the request never answered within the drain limit.
    pub const SHUTDOWN: &str = "shutdown";
}

/// One cause as reports show it: `web -> catalog api v2` and `UNIMPLEMENTED`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CauseKey {
    pub edge: String,
    pub code: String,
}

impl CauseKey {
    pub fn from_cause(cause: &Cause) -> CauseKey {
        CauseKey {
            edge: cause
                .edge
                .as_ref()
                .map_or_else(|| "unknown edge".to_owned(), ToString::to_string),
            code: contract::code_name(cause.code).to_owned(),
        }
    }
}

/// Counts of one cause, split by what it did to the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CauseCount {
    pub failed: u64,
    pub degraded: u64,
}

impl CauseCount {
    pub fn total(&self) -> u64 {
        self.failed + self.degraded
    }
}

/// Entry requests of one step (and one entrypoint, or all of them merged).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub ok: u64,
    pub degraded: u64,
    pub failed: u64,
    pub causes: BTreeMap<CauseKey, CauseCount>,
    /// Microseconds from the intended send time to the answer, so a stall cannot hide.
    /// Requests that were never sent (`overload`) have no latency and are not in it.
    latency: Latency,
}

/// The latency samples of a tally: a histogram while requests are recorded, then only
/// what the reports read of it. A histogram of this range and precision takes about
/// 180 KiB; a run of hundreds of steps with tens of entrypoints cannot keep one per step
/// and entrypoint, so the recorder summarises each step once its requests have answered.
#[derive(Debug, Clone)]
enum Latency {
    /// Recording; the histogram is made at the first sample.
    Recording(Option<Box<Histogram<u64>>>),
    /// Summarised: no more samples can join.
    Summary {
        percentiles: Percentiles,
        samples: u64,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Recording(None)
    }
}

/// 1 µs to 1 hour at 3 significant digits; values beyond saturate instead of failing.
fn new_histogram() -> Box<Histogram<u64>> {
    Box::new(
        Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .expect("1..=3.6e9 at 3 significant digits are valid histogram bounds"),
    )
}

/// A histogram of two significant digits: about 26 KiB instead of 180.
fn new_coarse_histogram() -> Box<Histogram<u64>> {
    Box::new(
        Histogram::new_with_bounds(1, 3_600_000_000, 2)
            .expect("1..=3.6e9 at 2 significant digits are valid histogram bounds"),
    )
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Tally {
    /// A tally whose latency percentiles have two significant digits (1% apart) instead
    /// of three: for a fleet with hundreds of entrypoints, whose per-entrypoint
    /// histograms of every step in flight would otherwise take hundreds of megabytes.
    pub fn coarse() -> Tally {
        Tally {
            latency: Latency::Recording(Some(new_coarse_histogram())),
            ..Tally::default()
        }
    }

    /// Every entry request counted: answered, or refused by `max_in_flight` and never
    /// sent (see [`Tally::refused`]).
    pub fn requests(&self) -> u64 {
        self.ok + self.degraded + self.failed
    }

    /// Requests refused at once by `max_in_flight` (cause `overload`): failed, and never
    /// sent, so they have no latency sample.
    pub fn refused(&self) -> u64 {
        self.causes
            .iter()
            .filter(|(cause, _)| cause.code == reason::OVERLOAD)
            .map(|(_, count)| count.failed)
            .sum()
    }

    /// The number of latency samples: one per request that was sent.
    pub fn samples(&self) -> u64 {
        match &self.latency {
            Latency::Recording(histogram) => histogram.as_ref().map_or(0, |h| h.len()),
            Latency::Summary { samples, .. } => *samples,
        }
    }

    /// Keeps the percentiles and the sample count, and drops the histogram. A summarised
    /// tally still counts outcomes, but takes no more latency samples and cannot lend
    /// them to a merge: merge first, then summarise.
    pub fn summarise(&mut self) {
        self.latency = Latency::Summary {
            percentiles: self.percentiles(),
            samples: self.samples(),
        };
    }

    /// Records one request. A cause listed twice counts once. `latency` is `None` for a
    /// request that was never sent.
    pub fn record(&mut self, outcome: Level, causes: &[CauseKey], latency: Option<Duration>) {
        match outcome {
            Level::Ok => self.ok += 1,
            Level::Degraded => self.degraded += 1,
            Level::Failed => self.failed += 1,
        }
        for (position, cause) in causes.iter().enumerate() {
            if causes[..position].contains(cause) {
                continue;
            }
            let count = self.causes.entry(cause.clone()).or_default();
            match outcome {
                Level::Failed => count.failed += 1,
                Level::Degraded | Level::Ok => count.degraded += 1,
            }
        }
        if let Some(latency) = latency {
            let micros = u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            match &mut self.latency {
                Latency::Recording(histogram) => histogram
                    .get_or_insert_with(new_histogram)
                    .saturating_record(micros),
                Latency::Summary { .. } => {
                    debug_assert!(false, "a summarised tally takes no latency sample");
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.degraded += other.degraded;
        self.failed += other.failed;
        for (cause, count) in &other.causes {
            let mine = self.causes.entry(cause.clone()).or_default();
            mine.failed += count.failed;
            mine.degraded += count.degraded;
        }
        match (&mut self.latency, &other.latency) {
            (Latency::Recording(mine), Latency::Recording(Some(theirs))) => {
                // Both histograms have the same bounds, so adding cannot fail.
                let _ = mine.get_or_insert_with(new_histogram).add(theirs.as_ref());
            }
            (_, Latency::Recording(None)) => {}
            _ => debug_assert!(false, "summarised tallies cannot merge their samples"),
        }
    }

    pub fn failed_ratio(&self) -> f64 {
        ratio(self.failed, self.requests())
    }

    pub fn degraded_ratio(&self) -> f64 {
        ratio(self.degraded, self.requests())
    }

    pub fn percentiles(&self) -> Percentiles {
        let histogram = match &self.latency {
            Latency::Summary { percentiles, .. } => return *percentiles,
            Latency::Recording(Some(histogram)) if !histogram.is_empty() => histogram,
            Latency::Recording(_) => return Percentiles::default(),
        };
        let ms = |micros: u64| (micros as f64 / 1000.0 * 100.0).round() / 100.0;
        Percentiles {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }

    /// The causes, most frequent first, ties by edge and code.
    pub fn top_causes(&self) -> Vec<(&CauseKey, CauseCount)> {
        let mut causes: Vec<(&CauseKey, CauseCount)> = self
            .causes
            .iter()
            .map(|(key, count)| (key, *count))
            .collect();
        causes.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then_with(|| a.0.cmp(b.0)));
        causes
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(edge: &str, code: &str) -> CauseKey {
        CauseKey {
            edge: edge.to_owned(),
            code: code.to_owned(),
        }
    }

    #[test]
    fn every_request_lands_in_exactly_one_bucket() {
        let mut tally = Tally::default();
        let ms = Duration::from_millis;
        tally.record(Level::Ok, &[], Some(ms(1)));
        tally.record(
            Level::Degraded,
            &[key("web -> recommend api v1", "UNAVAILABLE")],
            Some(ms(2)),
        );
        tally.record(
            Level::Failed,
            &[key("client -> web api v1", "overload")],
            None,
        );
        assert_eq!((tally.ok, tally.degraded, tally.failed), (1, 1, 1));
        assert_eq!(tally.requests(), 3);
        assert_eq!(tally.samples(), 2, "the refused request has no latency");
        assert!((tally.failed_ratio() - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_cause_repeated_in_one_request_counts_once() {
        let mut tally = Tally::default();
        let cause = key("cart -> pricing api v1", "UNAVAILABLE");
        tally.record(
            Level::Failed,
            &[cause.clone(), cause.clone()],
            Some(Duration::ZERO),
        );
        assert_eq!(
            tally.causes[&cause],
            CauseCount {
                failed: 1,
                degraded: 0
            }
        );
    }

    #[test]
    fn merge_adds_counts_causes_and_samples() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        let cause = key("web -> catalog api v2", "UNIMPLEMENTED");
        a.record(
            Level::Failed,
            std::slice::from_ref(&cause),
            Some(Duration::from_millis(3)),
        );
        b.record(
            Level::Failed,
            std::slice::from_ref(&cause),
            Some(Duration::from_millis(5)),
        );
        b.record(Level::Ok, &[], Some(Duration::from_millis(100)));
        a.merge(&b);
        assert_eq!((a.ok, a.failed), (1, 2));
        assert_eq!(a.causes[&cause].failed, 2);
        let p = a.percentiles();
        assert!(p.max >= 99.9 && p.max <= 100.1, "{p:?}");
        assert!(p.p50 >= 4.9 && p.p50 <= 5.1, "{p:?}");
        // A summary keeps what the reports read, and still counts outcomes.
        a.summarise();
        assert_eq!(a.percentiles(), p);
        assert_eq!(a.samples(), 3);
        a.record(Level::Ok, &[], None);
        assert_eq!(a.requests(), 4);
    }

    #[test]
    fn top_causes_are_ordered_by_count() {
        let mut tally = Tally::default();
        let rare = key("a -> b api v1", "UNAVAILABLE");
        let common = key("z -> y api v1", "UNIMPLEMENTED");
        tally.record(
            Level::Failed,
            std::slice::from_ref(&rare),
            Some(Duration::ZERO),
        );
        for _ in 0..3 {
            tally.record(
                Level::Failed,
                std::slice::from_ref(&common),
                Some(Duration::ZERO),
            );
        }
        let top: Vec<&CauseKey> = tally.top_causes().into_iter().map(|(k, _)| k).collect();
        assert_eq!(top, vec![&common, &rare]);
    }
}
