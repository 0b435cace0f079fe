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

impl Units {
    /// All units.
    pub fn total(&self) -> u32 {
        self.replicas.iter().sum()
    }

    /// The number of failure sets of `amount` (for `Each`, every subset: 2^N), as a float
    /// since it outgrows every integer type on a large fleet.
    pub fn failure_sets(&self, amount: Amount) -> f64 {
        let n = f64::from(self.total());
        match amount {
            Amount::Kill(k) => choose(n, f64::from(k)),
            Amount::Each(_) => 2f64.powf(n),
        }
    }

    /// The number of down sets the exact mode would evaluate: for `Kill(k)`, the sets of
    /// candidates whose replicas add up to at most k; for `Each`, every subset of the
    /// candidates. A float, for the same reason.
    pub fn down_sets(&self, amount: Amount) -> f64 {
        match amount {
            Amount::Kill(k) => {
                let k = k as usize;
                let mut count = vec![0.0f64; k + 1];
                count[0] = 1.0;
                for &r in &self.replicas {
                    let r = r as usize;
                    for j in (r..=k).rev() {
                        count[j] += count[j - r];
                    }
                }
                count.iter().sum()
            }
            Amount::Each(_) => 2f64.powf(self.replicas.len() as f64),
        }
    }

    /// Every down set with a probability above zero, and that probability; the
    /// probabilities add up to 1. Call only when [`Units::down_sets`] is within budget.
    pub fn enumerate(&self, amount: Amount) -> Vec<DownSet> {
        let mut sets = Vec::new();
        let mut chosen = Vec::new();
        self.walk(0, 0, amount, &mut chosen, &mut sets);
        sets
    }

    fn walk(
        &self,
        next: usize,
        down_units: u32,
        amount: Amount,
        chosen: &mut Vec<usize>,
        sets: &mut Vec<DownSet>,
    ) {
        if next == self.replicas.len() {
            let weight = self.weight(chosen, down_units, amount);
            if weight > 0.0 {
                sets.push((chosen.clone(), weight));
            }
            return;
        }
        self.walk(next + 1, down_units, amount, chosen, sets);
        let r = self.replicas[next];
        if let Amount::Kill(k) = amount
            && down_units + r > k
        {
            return;
        }
        chosen.push(next);
        self.walk(next + 1, down_units + r, amount, chosen, sets);
        chosen.pop();
    }

    /// The probability that a failure set of `amount` downs exactly the candidates in
    /// `down` (ascending), whose replicas number `down_units`.
    fn weight(&self, down: &[usize], down_units: u32, amount: Amount) -> f64 {
        let mut rest = down.iter().peekable();
        let mut others = Vec::with_capacity(self.replicas.len() - down.len());
        for (i, &r) in self.replicas.iter().enumerate() {
            if rest.peek() == Some(&&i) {
                rest.next();
            } else {
                others.push(r);
            }
        }
        match amount {
            Amount::Kill(k) => {
                // Every replica of the down set fails; the k - down_units other failures
                // fall on the other services without taking all of any: the coefficient
                // of x^(k - down_units) in the product of ((1 + x)^r - x^r) over them.
                let left = (k - down_units) as usize;
                let mut ways = vec![0.0f64; left + 1];
                ways[0] = 1.0;
                for r in others {
                    let mut next = vec![0.0f64; left + 1];
                    for (j, &w) in ways.iter().enumerate().filter(|(_, w)| **w > 0.0) {
                        for i in 0..r.min((left - j + 1) as u32) {
                            next[j + i as usize] += w * choose(f64::from(r), f64::from(i));
                        }
                    }
                    ways = next;
                }
                ways[left] / choose(f64::from(self.total()), f64::from(k))
            }
            Amount::Each(p) => {
                let down: f64 = down
                    .iter()
                    .map(|&i| p.powf(f64::from(self.replicas[i])))
                    .product();
                let up: f64 = others.iter().map(|&r| 1.0 - p.powf(f64::from(r))).product();
                down * up
            }
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

    #[test]
    fn forty_replicas_have_the_failure_sets_the_issue_counts() {
        let fleet = units(&[1; 40]);
        assert_eq!(fleet.failure_sets(Amount::Kill(5)), 658_008.0);
        let upto: f64 = (1..=5).map(|k| fleet.failure_sets(Amount::Kill(k))).sum();
        assert_eq!(upto, 760_098.0);
        // At most every subset of up to 5 services (the empty one included); with one
        // replica each, only those of exactly 5 can be down after 5 kills.
        assert_eq!(fleet.down_sets(Amount::Kill(5)), 760_099.0);
        assert_eq!(units(&[1; 12]).enumerate(Amount::Kill(5)).len(), 792);
    }

    #[test]
    fn one_required_service_among_twelve_is_spared_by_55_of_66_pairs() {
        let fleet = units(&[1; 12]);
        let sets = fleet.enumerate(Amount::Kill(2));
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
        let sets = fleet.enumerate(Amount::Kill(2));
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
        let sets = fleet.enumerate(Amount::Each(0.5));
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
}
