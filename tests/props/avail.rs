//! Property 7: `simulate availability`'s exact mode (down sets of services, each weighted
//! by its probability, replicas folded) is the plain mean over every failure set of
//! replicas, enumerated one by one, of the reference model's odds.

use deploysim::avail::{self, Amount, Question};
use deploysim::model::{Deployment, FaultKind, Flags, Scenario};
use proptest::prelude::*;

use crate::arb::{self, Options};
use crate::reference::{Model, RefState};

/// Every replica of every service `deployment` runs, as (service, replica number).
fn replicas(scenario: &Scenario, deployment: &Deployment) -> Vec<String> {
    scenario
        .services
        .iter()
        .filter(|(name, _)| deployment.version(name).is_some())
        .flat_map(|(name, service)| {
            std::iter::repeat_n(name.clone(), service.replicas.max(1) as usize)
        })
        .collect()
}

/// The reference's share served per entrypoint and of the whole load, with the replicas
/// whose indices are in `failed` down.
fn served(
    scenario: &Scenario,
    deployment: &Deployment,
    flags: &Flags,
    units: &[String],
    failed: &[usize],
) -> (Vec<f64>, f64) {
    let mut state = RefState::settled(deployment).with_flags(flags);
    for name in units {
        let all = units.iter().filter(|u| *u == name).count();
        let down = failed.iter().filter(|&&i| &units[i] == name).count();
        if all == down {
            state.with_fault(&FaultKind::Kill(name.clone()));
        }
    }
    let model = Model::new(scenario);
    let mut entries = Vec::new();
    let mut total = 0.0;
    let mut rates = 0.0;
    for entry in model.entries() {
        let odds = model.odds(&state, &entry);
        let share = odds.ok + odds.degraded;
        let rps = f64::from(scenario.load.rps_of(&entry));
        total += rps * share;
        rates += rps;
        entries.push(share);
    }
    (entries, total / rates.max(1.0))
}

/// Calls `each` with every k-subset of 0..n, in lexicographic order.
fn subsets(n: usize, k: usize, each: &mut impl FnMut(&[usize])) {
    fn go(
        start: usize,
        n: usize,
        k: usize,
        chosen: &mut Vec<usize>,
        each: &mut impl FnMut(&[usize]),
    ) {
        if chosen.len() == k {
            each(chosen);
            return;
        }
        for i in start..n {
            chosen.push(i);
            go(i + 1, n, k, chosen, each);
            chosen.pop();
        }
    }
    go(0, n, k, &mut Vec::new(), each);
}

proptest! {
    #![proptest_config(crate::pure())]

    /// Property 7, in the initial and the target deployment of generated scenarios with
    /// replicas, swallowed calls, fallbacks, mixes and flags at a percent: K = 0 to 3
    /// replicas down and each down with p = 0.3 (every subset, for up to 14 replicas).
    #[test]
    fn exact_availability_is_the_mean_over_every_failure_set(
        spec in arb::scenario(Options { faults: false, ..Options::PURE }),
    ) {
        let scenario = spec.load().map_err(TestCaseError::fail)?;
        for (deployment, flags) in [
            (&scenario.initial, scenario.initial_flags()),
            (&scenario.target, scenario.target_flags()),
        ] {
            let units = replicas(&scenario, deployment);
            let n = units.len();
            let mut amounts: Vec<Amount> =
                (0..=3u32.min(n as u32)).map(Amount::Kill).collect();
            if n <= 14 {
                amounts.push(Amount::Each(0.3));
            }
            let question = Question {
                deployment,
                samples: 2,
                ..Question::initial(&scenario, &flags)
            };
            let answer = avail::availability(&question, &amounts).map_err(|refusal| {
                TestCaseError::fail(format!("{refusal:?}"))
            })?;
            for (row, amount) in answer.rows.iter().zip(&amounts) {
                let predicted = row.predicted.as_ref().expect("no capacity: predicted");
                prop_assert!(predicted.exact);
                let shares = &predicted.shares;
                let entries = answer.entrypoints.len();
                let mut want = vec![0.0; entries];
                let mut fleet = 0.0;
                let mut add = |failed: &[usize], weight: f64| {
                    let (shares, whole) = served(&scenario, deployment, &flags, &units, failed);
                    for (sum, share) in want.iter_mut().zip(shares) {
                        *sum += weight * share;
                    }
                    fleet += weight * whole;
                };
                match *amount {
                    Amount::Kill(k) => {
                        let mut sets = Vec::new();
                        subsets(n, k as usize, &mut |set: &[usize]| sets.push(set.to_vec()));
                        let weight = 1.0 / sets.len() as f64;
                        for set in &sets {
                            add(set, weight);
                        }
                    }
                    Amount::Each(p) => {
                        for mask in 0u32..1 << n {
                            let set: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
                            let down = set.len() as i32;
                            add(&set, p.powi(down) * (1.0 - p).powi(n as i32 - down));
                        }
                    }
                }
                prop_assert!(
                    (shares.fleet.value - fleet).abs() < 1e-9,
                    "{amount}: whole load {} against {fleet}\n{}", shares.fleet.value, spec.to_yaml()
                );
                for (e, entry) in answer.entrypoints.iter().enumerate() {
                    prop_assert!(
                        (shares.entrypoints[e].0.value - want[e]).abs() < 1e-9,
                        "{amount}: {} {} against {}\n{}", entry.name, shares.entrypoints[e].0.value, want[e], spec.to_yaml()
                    );
                }
            }
        }
    }
}
