//! Statistics over trials (pure; `risk`'s and `avail`'s): rates with Wilson score
//! intervals, means with Student-t intervals, and paired differences.
//!
//! Why these: a change failure rate is a binomial proportion, often near 0 with a few
//! hundred trials, where the normal ("Wald") interval collapses to a point; Wilson's
//! stays inside [0, 1] and keeps its coverage there. Means (failed requests per trial,
//! times) are averages of independent trials, so a t-interval is the textbook choice;
//! with hundreds of trials it is the normal interval, and it needs no resampling, so the
//! report is the same on every machine. A paired difference is the mean of the per-trial
//! differences, with its own t-interval: pairing removes the variation the trials share
//! (the same defects), which is why it can be sure of a small difference.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The two-sided confidence of every interval.
pub const CONFIDENCE: f64 = 0.95;

/// An estimate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    /// How many trials it is over.
    pub n: u64,
}

impl Estimate {
    /// True when the interval leaves 0 out: the sign is known at 95%. One trial gives
    /// no interval, so it never knows the sign.
    pub fn excludes_zero(&self) -> bool {
        self.n >= 2 && (self.low > 0.0 || self.high < 0.0)
    }
}

/// The normal quantile for [`CONFIDENCE`]: 1.959964.
const Z: f64 = 1.959_963_984_540_054;

/// `successes` of `n` trials, with the Wilson score interval.
pub fn rate(successes: u64, n: u64) -> Estimate {
    if n == 0 {
        return Estimate {
            value: 0.0,
            low: 0.0,
            high: 1.0,
            n,
        };
    }
    let p = successes as f64 / n as f64;
    let (low, high) = wilson(p, n as f64);
    Estimate {
        value: p,
        // At 0 or n successes the interval's end is 0 or 1 exactly; floating point
        // would leave 1e-16 off it.
        low: if successes == 0 { 0.0 } else { low.max(0.0) },
        high: if successes == n { 1.0 } else { high.min(1.0) },
        n,
    }
}

/// The mean of `values`, each a share in [0, 1] (of one failure set's requests served),
/// with the Wilson score interval of that mean over `values.len()` draws: a share's
/// variance is at most p(1 - p), a Bernoulli draw's, so the interval is conservative, and
/// unlike a t-interval it does not shrink to a point when every draw came out alike (200
/// sets all served fully do not prove that none fails).
pub fn share(values: &[f64]) -> Estimate {
    let n = values.len();
    if n == 0 {
        return Estimate {
            value: 0.0,
            low: 0.0,
            high: 1.0,
            n: 0,
        };
    }
    let p = (values.iter().sum::<f64>() / n as f64).clamp(0.0, 1.0);
    let (low, high) = wilson(p, n as f64);
    Estimate {
        value: p,
        low: low.clamp(0.0, p),
        high: high.clamp(p, 1.0),
        n: n as u64,
    }
}

/// The Wilson score interval's ends for a proportion `p` over `n` draws.
fn wilson(p: f64, n: f64) -> (f64, f64) {
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    (centre - half, centre + half)
}

/// The mean of `values`, with a Student-t interval (a point when all are equal; one value
/// has no interval, and the reports say "1 trial" instead; empty input gives 0 over 0
/// trials).
pub fn mean(values: &[f64]) -> Estimate {
    let n = values.len();
    if n == 0 {
        return Estimate {
            value: 0.0,
            low: 0.0,
            high: 0.0,
            n: 0,
        };
    }
    let n_f = n as f64;
    let mean = values.iter().sum::<f64>() / n_f;
    if n == 1 {
        return Estimate {
            value: mean,
            low: mean,
            high: mean,
            n: 1,
        };
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n_f - 1.0);
    let t = StudentsT::new(0.0, 1.0, n_f - 1.0)
        .map(|dist| dist.inverse_cdf(0.5 + CONFIDENCE / 2.0))
        .unwrap_or(Z);
    let half = t * (variance / n_f).sqrt();
    // Kept within the values seen: a count of 7 services cannot average more than 7, nor
    // a count less than 0, which a t-interval over a skewed sample would otherwise say.
    let least = values.iter().copied().fold(f64::INFINITY, f64::min);
    let most = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Estimate {
        value: mean,
        low: (mean - half).max(least),
        high: (mean + half).min(most),
        n: n as u64,
    }
}

/// The mean of the per-trial differences `a[i] - b[i]` over the trials where both are
/// known, with its t-interval.
pub fn paired(a: &[Option<f64>], b: &[Option<f64>]) -> Estimate {
    let differences: Vec<f64> = a
        .iter()
        .zip(b)
        .filter_map(|(a, b)| Some((*a)? - (*b)?))
        .collect();
    mean(&differences)
}

/// The paired difference of two rates (each trial 0 or 1 for both). Its t-interval
/// collapses to a point when the two strategies failed in exactly the same trials, which
/// only says that these trials saw no difference: the interval is then the Wilson bound
/// of a discordant trial, +-1.9 points at 200 trials.
pub fn paired_rate(a: &[Option<f64>], b: &[Option<f64>]) -> Estimate {
    let estimate = paired(a, b);
    let discordant = a
        .iter()
        .zip(b)
        .filter(|(a, b)| matches!((a, b), (Some(a), Some(b)) if a != b))
        .count();
    if discordant > 0 || estimate.n == 0 {
        return estimate;
    }
    let bound = rate(0, estimate.n).high;
    Estimate {
        low: -bound,
        high: bound,
        ..estimate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values_and_stays_in_bounds() {
        // 0 of 10: [0, 0.2775]; 5 of 10: [0.2366, 0.7634] (Wilson 1927, as tabled by
        // Newcombe 1998).
        let none = rate(0, 10);
        assert_eq!(none.low, 0.0);
        assert!((none.high - 0.2775).abs() < 1e-4, "{none:?}");
        let half = rate(5, 10);
        assert!((half.low - 0.2366).abs() < 1e-4, "{half:?}");
        assert!((half.high - 0.7634).abs() < 1e-4, "{half:?}");
        let all = rate(10, 10);
        assert_eq!(all.high, 1.0);
    }

    #[test]
    fn intervals_stay_within_what_can_be_and_a_rate_tie_is_not_a_certainty() {
        // Six trials rolled back 7 services and one rolled back 6: the mean is under 7
        // and so is the interval.
        let rolled = mean(&[7.0, 7.0, 7.0, 6.0, 7.0, 7.0, 7.0]);
        assert!(rolled.high <= 7.0 && rolled.low >= 6.0, "{rolled:?}");
        let same = vec![Some(1.0), Some(0.0), Some(1.0)];
        let tie = paired_rate(&same, &same);
        assert_eq!(tie.value, 0.0);
        assert!(tie.low < 0.0 && tie.high > 0.0, "{tie:?}");
        assert!(!tie.excludes_zero());
    }

    #[test]
    fn the_t_interval_of_a_small_sample_is_wider_than_the_normal_one() {
        // 1, 2, 3, 4, 5: mean 3, sd 1.581; t(4) = 2.776 -> half-width 1.963.
        let estimate = mean(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(estimate.value, 3.0);
        assert!(
            (estimate.high - estimate.value - 1.963).abs() < 1e-3,
            "{estimate:?}"
        );
    }

    #[test]
    fn a_paired_difference_is_sure_of_a_small_shift_the_trials_share() {
        // b varies a lot from trial to trial; a is b plus 1 with a little noise.
        let b: Vec<Option<f64>> = (0..50).map(|i| Some(f64::from(i * 7 % 50))).collect();
        let a: Vec<Option<f64>> = b
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(|v| v + 1.0 + if i % 2 == 0 { 0.1 } else { -0.1 }))
            .collect();
        let difference = paired(&a, &b);
        assert!((difference.value - 1.0).abs() < 1e-9);
        assert!(difference.excludes_zero(), "{difference:?}");
        let unpaired = mean(&a.iter().flatten().copied().collect::<Vec<_>>());
        assert!(
            unpaired.high - unpaired.low > 5.0,
            "unpaired means are far less sure"
        );
    }
}
