//! What running plans will cost, said before anything runs (pure): the (virtual) time
//! the plans take on the nominal timeline, the entry requests the load sends meanwhile,
//! and what drives the time: bake time, or readiness delays (`startup_ms`).
//!
//! In `--net sim` the time is virtual: what a run costs in wall time is what the machine
//! takes to answer that many requests, so the requests are the cost a user can act on
//! (fewer trials, a lower rate, shorter readiness delays).

use std::time::Duration;

use crate::eval::{recreate_startup, step_startup};
use crate::model::Scenario;

use super::Plan;

/// The cost of running some plans once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cost {
    /// From the first baseline to the end of the last plan's last bake, nominally.
    pub time: Duration,
    /// Of `time`, the waits for new replicas to be ready (`startup_ms`).
    pub startup: Duration,
    /// Entry requests sent over `time` at the scenario's rates.
    pub requests: u64,
    /// The changed service with the longest readiness delay, and that delay, when any
    /// step waits for one.
    pub slowest: Option<(String, Duration)>,
}

impl Cost {
    /// The cost of `plans`, each run once from its baseline.
    pub fn of<'a>(scenario: &Scenario, plans: impl IntoIterator<Item = &'a Plan>) -> Cost {
        let mut cost = Cost::default();
        for plan in plans {
            cost.time += scenario.load.baseline;
            for step in plan.steps.iter().skip(1) {
                let startup = step_startup(scenario, &step.changes)
                    + recreate_startup(scenario, &step.changes);
                cost.startup += startup;
                cost.time += startup + scenario.load.bake;
                for change in &step.changes {
                    let delay = scenario.services[&change.service].startup;
                    if !delay.is_zero() && cost.slowest.as_ref().is_none_or(|(_, d)| delay > *d) {
                        cost.slowest = Some((change.service.clone(), delay));
                    }
                }
            }
        }
        cost.requests = requests_over(scenario, cost.time);
        cost
    }

    /// The cost of one baseline alone: what one row of a sweep runs.
    pub fn of_baseline(scenario: &Scenario) -> Cost {
        Cost {
            time: scenario.load.baseline,
            requests: requests_over(scenario, scenario.load.baseline),
            ..Cost::default()
        }
    }

    /// This cost `times` over (trials).
    pub fn times(&self, times: u32) -> Cost {
        Cost {
            time: self.time * times,
            startup: self.startup * times,
            requests: self.requests * u64::from(times),
            slowest: self.slowest.clone(),
        }
    }

    /// The share of the time spent waiting for replicas to be ready.
    pub fn startup_share(&self) -> f64 {
        if self.time.is_zero() {
            0.0
        } else {
            self.startup.as_secs_f64() / self.time.as_secs_f64()
        }
    }
}

/// Entry requests the load sends over `time`.
fn requests_over(scenario: &Scenario, time: Duration) -> u64 {
    (time.as_secs_f64() * f64::from(total_rps(scenario))).round() as u64
}

/// Entry requests per second over every entrypoint.
pub fn total_rps(scenario: &Scenario) -> u32 {
    scenario
        .entrypoints()
        .map(|service| scenario.load.rps_of(&service.name))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Strategy, StrategyKind};

    #[test]
    fn time_is_baseline_plus_each_step_startup_and_bake_and_requests_follow_the_rate() {
        let scenario = crate::scenario::inline(
            "
name: s
services:
  web: { entrypoint: true, versions: { v1: {}, v2: {} } }
  slow: { startup_ms: 3000, versions: { v1: {}, v2: {} } }
initial: { web: v1, slow: v1 }
target: { web: v2, slow: v2 }
load: { rps: 10, baseline_ms: 1000, step_ms: 500 }
",
        );
        let strategy = Strategy {
            name: "single-piece".into(),
            kind: StrategyKind::SinglePiece,
            expect: Default::default(),
            on_breach: None,
            listed: false,
        };
        let plan = crate::plan::plan(&scenario, &strategy, 0).expect("plans");
        let cost = Cost::of(&scenario, [&plan]);
        // 1 s baseline, slow: 3 s + 0.5 s, web: 0.5 s.
        assert_eq!(cost.time, Duration::from_millis(5000));
        assert_eq!(cost.startup, Duration::from_millis(3000));
        assert_eq!(cost.requests, 50);
        assert_eq!(
            cost.slowest,
            Some(("slow".to_owned(), Duration::from_secs(3)))
        );
        assert!((cost.startup_share() - 0.6).abs() < 1e-9);
        assert_eq!(cost.times(200).requests, 10_000);
    }
}
