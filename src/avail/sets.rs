//! Failure sets (pure): which units may fail, how many, and each set of services left
//! with no replica, with its probability.
//!
//! Replicas of one service are alike: without capacity, a service answers the same with
//! one replica left as with all of them, so what a failure set does depends only on which
//! services it takes down whole. The exact mode therefore enumerates *down sets* (sets of
//! services with every replica failed), each weighted by the probability that a failure
//! set of the model downs exactly those services, instead of every failure set: a fleet
//! of 40 single-replica services at K = 5 has as many down sets as failure sets, one of
//! 20 services with two replicas each far fewer.

use rand::RngExt as _;

pub use crate::model::Amount;

/// The units that may fail, grouped by service: `replicas[i]` units of candidate `i`
/// (1 each when the unit is a whole service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Units {
    pub replicas: Vec<u32>,
}

/// One down set: candidate indices (ascending) and its probability.
pub type DownSet = (Vec<usize>, f64);

/// Down sets are handed out in chunks of this many, so that enumerating millions of them
/// holds one chunk in memory, not all of them.
pub const CHUNK: usize = 1 << 18;

impl Units {
    /// All units.
    pub fn total(&self) -> u32 {
        self.replicas.iter().sum()
    }

    /// The base-10 logarithm of the number of failure sets of `amount` (for `Each`, every
    /// subset: 2^N): a count that outgrows every number type on a large fleet.
    pub fn failure_sets_log10(&self, amount: Amount) -> f64 {
        let n = u64::from(self.total());
        match amount {
            Amount::Kill(k) => ln_choose(n, u64::from(k)) / std::f64::consts::LN_10,
            Amount::Each(_) => n as f64 * std::f64::consts::LOG10_2,
        }
    }

    /// The number of down sets of `amount` with a probability above zero, which the exact
    /// mode evaluates (a float: it outgrows integers; infinite when too large to count
    /// cheaply, which is past any budget anyway). For `Kill(k)`: the sets D of
    /// candidates whose replicas add up to at most k and that leave enough replicas
    /// elsewhere to take the other failures without downing another service, which is
    /// |D| >= k - (units - candidates). For `Each`: every subset.
    pub fn down_sets(&self, amount: Amount) -> f64 {
        match amount {
            Amount::Kill(k) => {
                let k = k as usize;
                // (k + 1)^2 counts per candidate: refuse to count a huge level.
                if (k + 1)
                    .saturating_mul(k + 1)
                    .saturating_mul(self.replicas.len())
                    > 1 << 32
                {
                    return f64::INFINITY;
                }
                let spare = self.total() as usize - self.replicas.len();
                // count[j][m]: sets of m candidates with j replicas in all.
                let mut count = vec![vec![0.0f64; k + 1]; k + 1];
                count[0][0] = 1.0;
                for &r in &self.replicas {
                    let r = r as usize;
                    for j in (r..=k).rev() {
                        for m in (1..=k).rev() {
                            count[j][m] += count[j - r][m - 1];
                        }
                    }
                }
                let least = k.saturating_sub(spare);
                count
                    .iter()
                    .map(|by_size| by_size.iter().skip(least).sum::<f64>())
                    .sum()
            }
            Amount::Each(_) => 2f64.powf(self.replicas.len() as f64),
        }
    }

    /// Every down set with a probability above zero, and that probability, in a fixed
    /// order, handed to `each` in chunks of [`CHUNK`]; the probabilities add up to 1.
    /// Call only when [`Units::down_sets`] is within budget.
    pub fn enumerate(&self, amount: Amount, mut each: impl FnMut(&[DownSet])) {
        let mut chunk = Vec::new();
        let mut chosen = Vec::new();
        let binomials = Binomials::new(self, amount);
        let mut walk = Walk {
            units: self,
            amount,
            binomials: &binomials,
            chosen: &mut chosen,
            chunk: &mut chunk,
        };
        walk.next(0, 0, &mut each);
        if !chunk.is_empty() {
            each(&chunk);
        }
    }

    /// One failure set drawn from `rng`: per candidate, how many of its units fail.
    pub fn draw(&self, amount: Amount, rng: &mut impl rand::Rng) -> Vec<u32> {
        let mut failed = vec![0u32; self.replicas.len()];
        match amount {
            Amount::Kill(k) => {
                let total = self.total() as usize;
                let mut picked = rand::seq::index::sample(rng, total, k as usize).into_vec();
                picked.sort_unstable();
                let mut candidate = 0;
                let mut end = self.replicas.first().copied().unwrap_or(0) as usize;
                for unit in picked {
                    while unit >= end {
                        candidate += 1;
                        end += self.replicas[candidate] as usize;
                    }
                    failed[candidate] += 1;
                }
            }
            Amount::Each(p) => {
                for (count, &r) in failed.iter_mut().zip(&self.replicas) {
                    *count = (0..r).filter(|_| rng.random::<f64>() < p).count() as u32;
                }
            }
        }
        failed
    }

    /// The candidates a drawn failure set takes down whole.
    pub fn down(&self, failed: &[u32]) -> Vec<usize> {
        failed
            .iter()
            .zip(&self.replicas)
            .enumerate()
            .filter(|(_, (f, r))| f == r)
            .map(|(i, _)| i)
            .collect()
    }
}

/// n choose i, and its logarithm, for every replica count r of the fleet and i up to K:
/// looked up, not recomputed, in the millions of weights of an enumeration.
struct Binomials {
    plain: Vec<Vec<f64>>,
    logs: Vec<Vec<f64>>,
    /// Whether C(units, K) outgrows floats, so that weights are found in logarithms.
    in_logs: bool,
    /// ln C(units, K), or C(units, K).
    all: f64,
}

impl Binomials {
    fn new(units: &Units, amount: Amount) -> Binomials {
        let Amount::Kill(k) = amount else {
            return Binomials {
                plain: Vec::new(),
                logs: Vec::new(),
                in_logs: false,
                all: 1.0,
            };
        };
        let most = units.replicas.iter().copied().max().unwrap_or(0) as usize;
        let upto = most.min(k as usize);
        let plain: Vec<Vec<f64>> = (0..=most)
            .map(|r| {
                (0..=upto.min(r))
                    .map(|i| choose(r as f64, i as f64))
                    .collect()
            })
            .collect();
        let logs: Vec<Vec<f64>> = (0..=most)
            .map(|r| {
                (0..=upto.min(r))
                    .map(|i| ln_choose(r as u64, i as u64))
                    .collect()
            })
            .collect();
        let all = choose(f64::from(units.total()), f64::from(k));
        let in_logs = !(all.is_finite() && all < FLOAT_LIMIT);
        Binomials {
            plain,
            logs,
            in_logs,
            all: if in_logs {
                ln_choose(u64::from(units.total()), u64::from(k))
            } else {
                all
            },
        }
    }
}

/// Past this many failure sets, weights are found in logarithms: the counts of ways
/// multiply up to it, and a float holds about 1.8e308.
const FLOAT_LIMIT: f64 = 1e250;

/// One enumeration's walk over the candidates, each in or out of the down set.
struct Walk<'a> {
    units: &'a Units,
    amount: Amount,
    binomials: &'a Binomials,
    chosen: &'a mut Vec<usize>,
    chunk: &'a mut Vec<DownSet>,
}

impl Walk<'_> {
    fn next(&mut self, candidate: usize, down_units: u32, each: &mut impl FnMut(&[DownSet])) {
        let replicas = &self.units.replicas;
        if candidate == replicas.len() {
            let weight = self.weight(down_units);
            if weight > 0.0 {
                self.chunk.push((self.chosen.clone(), weight));
                if self.chunk.len() == CHUNK {
                    each(self.chunk);
                    self.chunk.clear();
                }
            }
            return;
        }
        self.next(candidate + 1, down_units, each);
        let r = replicas[candidate];
        if let Amount::Kill(k) = self.amount
            && down_units + r > k
        {
            return;
        }
        self.chosen.push(candidate);
        self.next(candidate + 1, down_units + r, each);
        self.chosen.pop();
    }

    /// The probability that a failure set downs exactly the candidates chosen, whose
    /// replicas number `down_units`.
    fn weight(&self, down_units: u32) -> f64 {
        let replicas = &self.units.replicas;
        let mut rest = self.chosen.iter().peekable();
        let mut others = Vec::with_capacity(replicas.len() - self.chosen.len());
        for (i, &r) in replicas.iter().enumerate() {
            if rest.peek() == Some(&&i) {
                rest.next();
            } else {
                others.push(r);
            }
        }
        match self.amount {
            Amount::Kill(k) => kill_weight(&others, (k - down_units) as usize, self.binomials),
            Amount::Each(p) => {
                let down: f64 = self
                    .chosen
                    .iter()
                    .map(|&i| p.powf(f64::from(replicas[i])))
                    .product();
                let up: f64 = others.iter().map(|&r| 1.0 - p.powf(f64::from(r))).product();
                down * up
            }
        }
    }
}

/// The share of the C(units, k) failure sets of k units that put `left` failures on
/// the services `others` (their replicas) without taking all of any one: the coefficient
/// of x^left in the product of ((1 + x)^r - x^r) over them, over C(units, k). In floats
/// while C(units, k) fits comfortably; in logarithms past that, where the counts
/// themselves overflow (a fleet of hundreds of replicas at K = 400).
fn kill_weight(others: &[u32], left: usize, binomials: &Binomials) -> f64 {
    if binomials.in_logs {
        return kill_weight_ln(others, left, binomials);
    }
    let mut ways = vec![0.0f64; left + 1];
    ways[0] = 1.0;
    for &r in others {
        let row = &binomials.plain[r as usize];
        let mut next = vec![0.0f64; left + 1];
        for (j, &w) in ways.iter().enumerate().filter(|(_, w)| **w > 0.0) {
            // i < r failures of this service (not all of it), at most what is left.
            for (i, ways_here) in row.iter().enumerate().take((r as usize).min(left - j + 1)) {
                next[j + i] += w * ways_here;
            }
        }
        ways = next;
    }
    ways[left] / binomials.all
}

/// [`kill_weight`] in logarithms.
fn kill_weight_ln(others: &[u32], left: usize, binomials: &Binomials) -> f64 {
    let mut ways = vec![f64::NEG_INFINITY; left + 1];
    ways[0] = 0.0;
    for &r in others {
        let row = &binomials.logs[r as usize];
        let mut next = vec![f64::NEG_INFINITY; left + 1];
        for (j, &w) in ways.iter().enumerate().filter(|(_, w)| w.is_finite()) {
            for (i, ways_here) in row.iter().enumerate().take((r as usize).min(left - j + 1)) {
                let slot = &mut next[j + i];
                *slot = log_add(*slot, w + ways_here);
            }
        }
        ways = next;
    }
    (ways[left] - binomials.all).exp()
}

/// ln(e^a + e^b), without overflow.
fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    let (high, low) = if a > b { (a, b) } else { (b, a) };
    high + (low - high).exp().ln_1p()
}

/// ln C(n, k) (negative infinity when k > n).
fn ln_choose(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    statrs::function::factorial::ln_binomial(n, k)
}

/// n choose k over floats (0 when k > n); exact while the result fits in 2^53.
pub fn choose(n: f64, k: f64) -> f64 {
    if k < 0.0 || k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    let mut result = 1.0;
    let mut i = 0.0;
    while i < k {
        result = result * (n - i) / (i + 1.0);
        i += 1.0;
    }
    // Products of ratios drift by an ulp; a count below 2^53 is a whole number.
    if result < 9.0e15 {
        result.round()
    } else {
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(replicas: &[u32]) -> Units {
        Units {
            replicas: replicas.to_vec(),
        }
    }

    fn total(sets: &[DownSet]) -> f64 {
        sets.iter().map(|(_, w)| w).sum()
    }

    fn every(fleet: &Units, amount: Amount) -> Vec<DownSet> {
        let mut sets = Vec::new();
        fleet.enumerate(amount, |chunk| sets.extend_from_slice(chunk));
        sets
    }

    #[test]
    fn forty_replicas_have_the_failure_sets_the_issue_counts() {
        let fleet = units(&[1; 40]);
        let sets = |k| {
            10f64
                .powf(fleet.failure_sets_log10(Amount::Kill(k)))
                .round()
        };
        assert_eq!(sets(5), 658_008.0);
        let upto: f64 = (1..=5).map(sets).sum();
        assert_eq!(upto, 760_098.0);
        // With one replica each, only the sets of exactly 5 services are down after 5
        // kills: as many down sets as failure sets.
        assert_eq!(fleet.down_sets(Amount::Kill(5)), 658_008.0);
        assert_eq!(every(&units(&[1; 12]), Amount::Kill(5)).len(), 792);
    }

    #[test]
    fn one_required_service_among_twelve_is_spared_by_55_of_66_pairs() {
        let fleet = units(&[1; 12]);
        let sets = every(&fleet, Amount::Kill(2));
        assert_eq!(sets.len(), 66);
        let spared: f64 = sets
            .iter()
            .filter(|(down, _)| !down.contains(&0))
            .map(|(_, w)| w)
            .sum();
        assert!((spared - 55.0 / 66.0).abs() < 1e-12, "{spared}");
    }

    #[test]
    fn three_replicas_among_five_units_survive_two_kills() {
        // a: 3 replicas, b and c: 1 each. Of the 10 pairs, a is never down; b and c
        // together in 1 pair, b alone (with one of a's) in 3, c alone in 3, nothing in 3.
        let fleet = units(&[3, 1, 1]);
        let sets = every(&fleet, Amount::Kill(2));
        let weight = |down: &[usize]| {
            sets.iter()
                .find(|(d, _)| d == down)
                .map_or(0.0, |(_, w)| *w)
        };
        assert!((weight(&[]) - 0.3).abs() < 1e-12);
        assert!((weight(&[1]) - 0.3).abs() < 1e-12);
        assert!((weight(&[2]) - 0.3).abs() < 1e-12);
        assert!((weight(&[1, 2]) - 0.1).abs() < 1e-12);
        assert!(sets.iter().all(|(down, _)| !down.contains(&0)));
        assert!((total(&sets) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn independent_failures_down_a_service_with_p_to_its_replicas() {
        let fleet = units(&[2, 1]);
        let sets = every(&fleet, Amount::Each(0.5));
        assert_eq!(sets.len(), 4);
        let weight = |down: &[usize]| sets.iter().find(|(d, _)| d == down).expect("set").1;
        assert!((weight(&[0]) - 0.25 * 0.5).abs() < 1e-12);
        assert!((weight(&[]) - 0.75 * 0.5).abs() < 1e-12);
        assert!((total(&sets) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn draws_fail_exactly_k_units_and_down_only_whole_services() {
        let fleet = units(&[3, 1, 2]);
        let mut rng = crate::seed::rng(7, &crate::avail::draw_purpose(Amount::Kill(3), 0));
        for _ in 0..200 {
            let failed = fleet.draw(Amount::Kill(3), &mut rng);
            assert_eq!(failed.iter().sum::<u32>(), 3);
            assert!(failed.iter().zip(&fleet.replicas).all(|(f, r)| f <= r));
            for i in fleet.down(&failed) {
                assert_eq!(failed[i], fleet.replicas[i]);
            }
        }
    }

    #[test]
    fn the_down_sets_counted_are_those_enumerated() {
        for replicas in [&[3, 1, 1][..], &[2, 2, 2, 1], &[1, 4, 1, 2, 3], &[5]] {
            let fleet = units(replicas);
            for k in 0..=fleet.total() {
                let amount = Amount::Kill(k);
                let sets = every(&fleet, amount);
                assert_eq!(
                    fleet.down_sets(amount),
                    sets.len() as f64,
                    "{replicas:?} K={k}"
                );
                assert!((total(&sets) - 1.0).abs() < 1e-12, "{replicas:?} K={k}");
            }
        }
    }

    #[test]
    fn past_what_floats_count_the_weights_are_found_in_logarithms() {
        // 17 services of 64 replicas, 400 down: C(1088, 400), about 1e300, is past the
        // float limit; the number of failure sets is still said.
        let big = units(&[64; 17]);
        assert!(Binomials::new(&big, Amount::Kill(400)).in_logs);
        assert!(big.failure_sets_log10(Amount::Kill(400)) > 300.0);
        // In floats and in logarithms, the same weights: 6 services of 40 replicas, 100
        // down, for a few down sets.
        let fleet = units(&[40; 6]);
        let mut binomials = Binomials::new(&fleet, Amount::Kill(100));
        assert!(!binomials.in_logs);
        let floats: Vec<f64> = [0usize, 1, 2]
            .iter()
            .map(|&d| kill_weight(&vec![40; 6 - d], 100 - 40 * d, &binomials))
            .collect();
        binomials.in_logs = true;
        binomials.all = ln_choose(240, 100);
        for (d, float) in floats.iter().enumerate() {
            let logs = kill_weight(&vec![40; 6 - d], 100 - 40 * d, &binomials);
            assert!(
                (logs - float).abs() <= 1e-9 * float.max(1e-300),
                "{d}: {logs} {float}"
            );
        }
        assert!(floats[0] > 0.99 && floats[2] > 0.0, "{floats:?}");
    }
}
