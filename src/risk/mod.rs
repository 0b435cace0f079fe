//! `simulate risk` (pure): defects drawn per trial, the scenario a trial runs, what one
//! strategy's run in a trial measured, and the statistics over trials.
//!
//! Trials are paired (common random numbers): trial i draws its defects once, from the
//! scenario's seed and i, and every strategy meets the same defects, the same load and the
//! same seed. A difference between two strategies in one trial belongs to the strategies.

pub mod job;
pub mod part;
pub mod policy;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::RngExt as _;

use crate::model::{Breach, Deployment, RiskExpect, Scenario, StrategyKind};
use crate::record::result::StrategyRun;
use crate::record::{StepKind, millis};
use crate::{seed, stats};

/// What is wrong with a defective version.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DefectKind {
    /// Its answers fail at `defect.error_rate`.
    Errors,
    /// It adds `defect.add_ms` to every answer.
    Latency,
    /// It stops serving an API version its predecessor served (a contract slip).
    DropApi,
    /// Its handlers never return (a deadlock): callers wait for their deadline, and
    /// with `capacity` each such request holds a worker of it until then.
    Hang,
}

/// How long a hung build's handler takes: the longest `latency_ms` the format allows,
/// longer than any deadline, so that every caller's deadline ends the wait.
pub const HANG: std::time::Duration = std::time::Duration::from_secs(3600);

impl DefectKind {
    pub fn word(self) -> &'static str {
        match self {
            DefectKind::Errors => "errors",
            DefectKind::Latency => "latency",
            DefectKind::DropApi => "drop-api",
            DefectKind::Hang => "hang",
        }
    }
}

/// The defects of one trial: per changed service whose new version is defective, what
/// is wrong with it. Ordered by service name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Draw {
    pub trial: u32,
    pub defects: BTreeMap<String, DefectKind>,
}

/// Draws trial `trial`'s defects: each change to a version is defective with
/// `defect.probability`, of a kind drawn by the weights. The stream is the seed's and the
/// trial's alone, so every strategy and every core count sees the same draw.
pub fn draw(scenario: &Scenario, seed: u64, trial: u32) -> Draw {
    let defect = &scenario.risk.defect;
    let mut rng = seed::rng(seed, &format!("risk.trial/{trial}"));
    let weights = [
        (DefectKind::Errors, defect.weight_errors),
        (DefectKind::Latency, defect.weight_latency),
        (DefectKind::DropApi, defect.weight_drop_api),
        // Last, so that a scenario without `hang` draws what it drew before it existed.
        (DefectKind::Hang, defect.weight_hang),
    ];
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    let mut defects = BTreeMap::new();
    for change in scenario.changes() {
        // Both draws are made for every change, so one change's outcome never shifts
        // the next change's draws.
        let defective = rng.random_bool(defect.probability.clamp(0.0, 1.0));
        let mut pick = rng.random_range(0.0..1.0) * total;
        if !defective || change.to.is_none() {
            continue;
        }
        let kind = weights
            .iter()
            .find(|(_, weight)| {
                pick -= weight;
                pick < 0.0
            })
            .map_or(DefectKind::Errors, |(kind, _)| *kind);
        defects.insert(change.service.clone(), kind);
    }
    Draw { trial, defects }
}

/// The seed of trial `trial`'s runs (load arrivals, users, error draws, replica picks):
/// the same for every strategy of the trial, so they meet the same load, and another for
/// each trial, so the trials sample that randomness too, not only the defects.
pub fn run_seed(seed: u64, trial: u32) -> u64 {
    seed::derive(seed, &format!("risk.run/{trial}"))
}

/// The scenario as trial `draw` runs it: each defective service's target version with
/// its defect. A drop-api defect removes the first API version that both the service's
/// initial and target versions provide (the contract the new version breaks); a new
/// service, or one whose versions share none, loses its first API version.
pub fn with_defects(scenario: &Scenario, draw: &Draw) -> Scenario {
    let mut defective = scenario.clone();
    let defect = &scenario.risk.defect;
    for (service, kind) in &draw.defects {
        let Some(to) = scenario.target.version(service) else {
            continue;
        };
        let from = scenario
            .initial
            .version(service)
            .and_then(|v| scenario.version(service, v))
            .map(|v| v.provides.clone())
            .unwrap_or_default();
        let Some(version) = defective
            .services
            .get_mut(service)
            .and_then(|s| s.versions.get_mut(to))
        else {
            continue;
        };
        // A defect is in the build, so every method of it has it.
        match kind {
            DefectKind::Errors => {
                version.error_rate = version.error_rate.max(defect.error_rate);
                for method in version.methods.values_mut() {
                    method.error_rate = method.error_rate.max(defect.error_rate);
                }
            }
            DefectKind::Latency => {
                version.latency += defect.add;
                for method in version.methods.values_mut() {
                    method.latency += defect.add;
                }
            }
            DefectKind::Hang => {
                version.latency = HANG;
                for method in version.methods.values_mut() {
                    method.latency = HANG;
                }
            }
            DefectKind::DropApi => {
                let dropped = version
                    .provides
                    .iter()
                    .position(|api| from.contains(api))
                    .or_else(|| (!version.provides.is_empty()).then_some(0));
                if let Some(i) = dropped {
                    version.provides.remove(i);
                }
            }
        }
    }
    defective
}

/// What one strategy's run in one trial measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Some entry request failed.
    pub failed: bool,
    pub failed_requests: u64,
    pub degraded_requests: u64,
    /// From the first rollout step's start to the gate's breach; `None`: not detected.
    pub time_to_detect_ms: Option<u64>,
    /// From the breach to the restoration of service; `None`: nothing restored it.
    pub time_to_restore_ms: Option<u64>,
    /// Services the rollback moved back.
    pub rolled_back: u32,
    /// Of those, the ones whose new version was not defective.
    pub collateral: u32,
    /// Entrypoints that saw a failed request.
    pub entrypoints_failed: u32,
    /// Changes (services and flag changes) in the step where the gate tripped: the
    /// suspects; `None` when the gate did not trip.
    pub suspects: Option<u32>,
    /// Defective versions still running when the rollout ended, with no breach seen.
    pub escaped: u32,
    /// From the first step's start to the end of the last step, when nothing was
    /// defective and the rollout reached its end; `None` otherwise.
    pub lead_time_ms: Option<u64>,
    /// The run was measured: the machine kept up and it was not interrupted.
    pub judged: bool,
}

/// Reads a trial's measures off its run; `target` is what a complete rollout deploys.
pub fn outcome(run: &StrategyRun, draw: &Draw, target: &Deployment) -> Outcome {
    let breached = run.steps.iter().position(|step| step.gate_breached);
    let rollout_time = |upto: usize| -> Duration {
        run.steps
            .iter()
            .take(upto + 1)
            .filter(|step| matches!(step.kind, StepKind::Rollout(_)))
            .map(|step| step.duration)
            .sum()
    };
    let rolled_back: BTreeSet<&str> = run
        .steps
        .iter()
        .filter(|step| matches!(step.kind, StepKind::Rollback(_)))
        .flat_map(|step| step.changes.iter().map(|change| change.service.as_str()))
        .collect();
    let collateral = rolled_back
        .iter()
        .filter(|service| !draw.defects.contains_key(**service))
        .count();
    let mut entrypoints_failed: BTreeSet<&str> = BTreeSet::new();
    for step in &run.steps {
        for (entry, tally) in &step.by_entry {
            if tally.failed > 0 {
                entrypoints_failed.insert(entry);
            }
        }
    }
    let escaped = if breached.is_some() {
        0
    } else {
        draw.defects
            .keys()
            .filter(|service| {
                target.version(service).is_some_and(|version| {
                    run.running
                        .get(*service)
                        .is_some_and(|running| running.iter().any(|v| v == version))
                })
            })
            .count()
    };
    let last_rollout = run
        .steps
        .iter()
        .rposition(|step| matches!(step.kind, StepKind::Rollout(_)));
    let completed = run.ending == crate::record::result::Ending::Completed;
    let restored = run.mitigation.filter(|m| {
        m.restored_in.is_some() && matches!(m.action, Breach::Rollback | Breach::KillSwitch)
    });
    Outcome {
        failed: run.total.failed > 0,
        failed_requests: run.total.failed,
        degraded_requests: run.total.degraded,
        time_to_detect_ms: breached.map(|index| millis(rollout_time(index))),
        time_to_restore_ms: restored.map(|m| millis(m.time)),
        rolled_back: u32::try_from(rolled_back.len()).unwrap_or(u32::MAX),
        collateral: u32::try_from(collateral).unwrap_or(u32::MAX),
        entrypoints_failed: u32::try_from(entrypoints_failed.len()).unwrap_or(u32::MAX),
        suspects: breached.map(|index| {
            let step = &run.steps[index];
            u32::try_from(step.changes.len() + step.flag_changes.len()).unwrap_or(u32::MAX)
        }),
        escaped: u32::try_from(escaped).unwrap_or(u32::MAX),
        lead_time_ms: (draw.defects.is_empty() && completed)
            .then(|| last_rollout.map(|index| millis(rollout_time(index))))
            .flatten(),
        judged: run.judged(),
    }
}

/// One trial: its draw and each strategy's outcome, in the order of the strategies.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trial {
    pub draw: Draw,
    pub outcomes: Vec<Outcome>,
}

/// A measure of the risk report: its key (JSON), its words, and how it reads an outcome.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub key: &'static str,
    pub label: &'static str,
    /// A rate over all trials (Wilson), or a mean over the trials where it is known (t).
    pub rate: bool,
    /// A time in milliseconds: reports show it in ms or s as a person reads it.
    pub millis: bool,
    /// What it measures, and over which trials, as the reports define it.
    pub definition: &'static str,
    pub read: fn(&Outcome) -> Option<f64>,
}

fn count(value: u32) -> Option<f64> {
    Some(f64::from(value))
}

/// Every measure, in the order the reports show them.
pub const MEASURES: [Measure; 11] = [
    Measure {
        key: "change_failure_rate",
        label: "change failure rate",
        rate: true,
        millis: false,
        definition: "share of trials in which any entry request failed (every trial)",
        read: |o| Some(f64::from(u8::from(o.failed))),
    },
    Measure {
        key: "failed_requests",
        label: "failed requests",
        rate: false,
        millis: false,
        definition: "failed entry requests per trial (every trial)",
        read: |o| Some(o.failed_requests as f64),
    },
    Measure {
        key: "degraded_requests",
        label: "degraded requests",
        rate: false,
        millis: false,
        definition: "degraded entry requests per trial (every trial)",
        read: |o| Some(o.degraded_requests as f64),
    },
    Measure {
        key: "time_to_detect_ms",
        label: "time to detect",
        rate: false,
        millis: true,
        definition: "from the first rollout step's start to the end of the step whose gate tripped (trials where the gate tripped)",
        read: |o| o.time_to_detect_ms.map(|ms| ms as f64),
    },
    Measure {
        key: "time_to_restore_ms",
        label: "time to restore",
        rate: false,
        millis: true,
        definition: "from the gate's decision to the first part of a mitigation step with no failed entry request (trials where the gate tripped and service came back)",
        read: |o| o.time_to_restore_ms.map(|ms| ms as f64),
    },
    Measure {
        key: "rolled_back",
        label: "rolled back",
        rate: false,
        millis: false,
        definition: "services the rollback moved back (every trial)",
        read: |o| count(o.rolled_back),
    },
    Measure {
        key: "collateral",
        label: "collateral",
        rate: false,
        millis: false,
        definition: "of the services rolled back, those whose new version was not defective: good changes undone with the bad (every trial)",
        read: |o| count(o.collateral),
    },
    Measure {
        key: "entrypoints_failed",
        label: "entrypoints failed",
        rate: false,
        millis: false,
        definition: "entrypoints that saw a failed request: the blast radius (every trial)",
        read: |o| count(o.entrypoints_failed),
    },
    Measure {
        key: "suspects",
        label: "suspects",
        rate: false,
        millis: false,
        definition: "changes in the step where the gate tripped: how many a person must look at to find the culprit (trials where the gate tripped)",
        read: |o| o.suspects.map(f64::from),
    },
    Measure {
        key: "escaped",
        label: "escaped defects",
        rate: false,
        millis: false,
        definition: "defective versions still running when the rollout ended without a breach: defects that shipped (every trial)",
        read: |o| count(o.escaped),
    },
    Measure {
        key: "lead_time_ms",
        label: "lead time",
        rate: false,
        millis: true,
        definition: "from the first step's start to the end of the last rollout step: how long a release takes (trials with no defect that completed)",
        read: |o| o.lead_time_ms.map(|ms| ms as f64),
    },
];

/// One strategy over every trial.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StrategySummary {
    pub name: String,
    /// Per measure (in [`MEASURES`] order): the estimate.
    pub estimates: Vec<stats::Estimate>,
    /// Per measure: this strategy minus single-piece, paired by trial; `None` for
    /// single-piece itself.
    pub vs_single_piece: Option<Vec<stats::Estimate>>,
    /// Distinct states the strategy passes through (from `check`): the combinations it
    /// asks a team to test.
    pub states: usize,
    /// Trials in which the machine fell behind or the run was interrupted.
    pub unjudged: u32,
}

/// The name `simulate risk` gives a built-in strategy: its label, with the wave size.
pub fn strategy_name(kind: &StrategyKind) -> String {
    match kind {
        StrategyKind::Waves(size) => format!("waves-{size}"),
        other => other.label().to_owned(),
    }
}

/// One `risk.expect` limit against what the trials measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Judged {
    pub strategy: String,
    pub measure: &'static str,
    pub limit: f64,
    pub estimate: stats::Estimate,
    /// The estimate is at most the limit, or no trial had the measure.
    pub holds: bool,
}

/// The strategy `risk.expect` judges: its own `strategy`, or the first one compared.
pub fn expected_strategy(expect: &RiskExpect, compared: &[StrategyKind]) -> Option<StrategyKind> {
    expect
        .strategy
        .clone()
        .or_else(|| compared.first().cloned())
}

/// Judges `expect`'s limits on the estimates of `strategy` (by name). A limit is on the
/// estimate, not on its interval's upper end: more trials narrow the interval, they do
/// not move the estimate, so a team's limit means the same at 100 trials and at 10,000.
pub fn judge(expect: &RiskExpect, strategy: &str, summaries: &[StrategySummary]) -> Vec<Judged> {
    let Some(summary) = summaries.iter().find(|s| s.name == strategy) else {
        return Vec::new();
    };
    expect
        .limits
        .iter()
        .filter_map(|(key, limit)| {
            let m = MEASURES.iter().position(|measure| measure.key == key)?;
            let estimate = summary.estimates[m];
            Some(Judged {
                strategy: strategy.to_owned(),
                measure: MEASURES[m].key,
                limit: *limit,
                estimate,
                holds: estimate.n == 0 || estimate.value <= *limit,
            })
        })
        .collect()
}

/// Per strategy, how many trials with no defect at all still failed an entry request:
/// failures of the order itself, not of a defect (`simulate check` shows where).
pub fn failed_without_defect(trials: &[Trial], strategies: usize) -> (u32, Vec<u32>) {
    let clean: Vec<&Trial> = trials
        .iter()
        .filter(|t| t.draw.defects.is_empty())
        .collect();
    let failed = (0..strategies)
        .map(|s| {
            u32::try_from(clean.iter().filter(|t| t.outcomes[s].failed).count()).unwrap_or(u32::MAX)
        })
        .collect();
    (u32::try_from(clean.len()).unwrap_or(u32::MAX), failed)
}

/// The trial a report shows step by step: the first in which every strategy's gate
/// tripped (a defect caught by all), else the first in which one did, else the first
/// with a defect, else the first.
pub fn timeline_trial(trials: &[Trial]) -> Option<&Trial> {
    trials
        .iter()
        .find(|t| !t.draw.defects.is_empty() && t.outcomes.iter().all(|o| o.suspects.is_some()))
        .or_else(|| {
            trials
                .iter()
                .find(|t| t.outcomes.iter().any(|o| o.suspects.is_some()))
        })
        .or_else(|| trials.iter().find(|t| !t.draw.defects.is_empty()))
        .or_else(|| trials.first())
}

/// Changes (service moves and flag changes) per rollout step of a plan: the size of its
/// pieces, from 1 (single-piece) to every change (batch).
pub fn changes_per_step(plan: &crate::plan::Plan) -> f64 {
    let steps = plan
        .steps
        .iter()
        .skip(1)
        .filter(|s| !s.changes.is_empty() || !s.flag_changes.is_empty());
    let (count, changes) = steps.fold((0usize, 0usize), |(count, changes), step| {
        (
            count + 1,
            changes + step.changes.len() + step.flag_changes.len(),
        )
    });
    if count == 0 {
        0.0
    } else {
        changes as f64 / count as f64
    }
}

/// Every strategy over the trials. `states` gives each strategy's state count, and
/// `reference` which strategy (an index) is single-piece.
pub fn summarise(
    names: &[String],
    states: &[usize],
    reference: Option<usize>,
    trials: &[Trial],
) -> Vec<StrategySummary> {
    let column = |s: usize, measure: &Measure| -> Vec<Option<f64>> {
        trials
            .iter()
            .map(|trial| (measure.read)(&trial.outcomes[s]))
            .collect()
    };
    names
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let estimates = MEASURES
                .iter()
                .map(|measure| {
                    let values = column(s, measure);
                    if measure.rate {
                        let hits = values.iter().flatten().filter(|v| **v > 0.0).count();
                        stats::rate(hits as u64, values.len() as u64)
                    } else {
                        stats::mean(&values.into_iter().flatten().collect::<Vec<_>>())
                    }
                })
                .collect();
            let vs_single_piece = reference.filter(|r| *r != s).map(|r| {
                MEASURES
                    .iter()
                    .map(|measure| {
                        let (a, b) = (column(s, measure), column(r, measure));
                        if measure.rate {
                            stats::paired_rate(&a, &b)
                        } else {
                            stats::paired(&a, &b)
                        }
                    })
                    .collect()
            });
            StrategySummary {
                name: name.clone(),
                estimates,
                vs_single_piece,
                states: states.get(s).copied().unwrap_or(0),
                unjudged: u32::try_from(trials.iter().filter(|t| !t.outcomes[s].judged).count())
                    .unwrap_or(u32::MAX),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::inline as load;

    const SHOP: &str = "
name: shop
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: cart } ] }, v2: { calls: [ { service: cart } ] } } }
  cart: { versions: { v1: { provides: [v1] }, v2: { provides: [v1, v2] } } }
  mail: { versions: { v1: {}, v2: {} } }
initial: { web: v1, cart: v1, mail: v1 }
target: { web: v2, cart: v2, mail: v2 }
risk:
  defect: { probability: 0.5, kinds: { errors: 1, latency: 1, drop-api: 1 } }
";

    #[test]
    fn the_measures_are_the_keys_risk_expect_takes() {
        let keys: Vec<&str> = MEASURES.iter().map(|m| m.key).collect();
        assert_eq!(keys, crate::model::RISK_MEASURE_KEYS);
    }

    fn summary(name: &str, rate: f64) -> StrategySummary {
        let estimate = stats::Estimate {
            value: rate,
            low: 0.0,
            high: 1.0,
            n: 10,
        };
        StrategySummary {
            name: name.to_owned(),
            estimates: vec![estimate; MEASURES.len()],
            vs_single_piece: None,
            states: 1,
            unjudged: 0,
        }
    }

    #[test]
    fn a_limit_holds_up_to_the_estimate_of_the_named_strategy() {
        let expect = RiskExpect {
            strategy: None,
            limits: vec![("change_failure_rate".to_owned(), 0.2)],
        };
        let summaries = [summary("batch", 0.5), summary("single-piece", 0.2)];
        let judged = judge(&expect, "single-piece", &summaries);
        assert_eq!(judged.len(), 1);
        assert!(judged[0].holds);
        assert!(!judge(&expect, "batch", &summaries)[0].holds);
        assert_eq!(
            expected_strategy(&expect, &[StrategyKind::Waves(3), StrategyKind::Batch]),
            Some(StrategyKind::Waves(3))
        );
    }

    #[test]
    fn a_trial_draws_the_same_defects_every_time_and_trials_differ() {
        let scenario = load(SHOP);
        assert_eq!(draw(&scenario, 1, 7), draw(&scenario, 1, 7));
        let draws: BTreeSet<Vec<(String, DefectKind)>> = (0..40)
            .map(|trial| draw(&scenario, 1, trial).defects.into_iter().collect())
            .collect();
        assert!(
            draws.len() > 10,
            "40 trials gave {} distinct draws",
            draws.len()
        );
    }

    #[test]
    fn the_defect_probability_is_the_share_of_defective_versions() {
        let scenario = load(SHOP);
        let defective: usize = (0..2000)
            .map(|trial| draw(&scenario, 3, trial).defects.len())
            .sum();
        let share = defective as f64 / 6000.0;
        assert!((share - 0.5).abs() < 0.03, "{share}");
    }

    #[test]
    fn defects_change_only_the_defective_target_version() {
        let scenario = load(SHOP);
        let draw = Draw {
            trial: 0,
            defects: BTreeMap::from([
                ("cart".to_owned(), DefectKind::DropApi),
                ("mail".to_owned(), DefectKind::Latency),
                ("web".to_owned(), DefectKind::Errors),
            ]),
        };
        let defective = with_defects(&scenario, &draw);
        // cart v2 drops v1, the API cart v1 served: its old callers break.
        assert_eq!(
            defective.version("cart", "v2").map(|v| v.provides.clone()),
            Some(vec!["v2".to_owned()])
        );
        assert_eq!(
            defective.version("cart", "v1"),
            scenario.version("cart", "v1")
        );
        assert_eq!(
            defective.version("mail", "v2").map(|v| v.latency),
            Some(scenario.risk.defect.add)
        );
        assert_eq!(
            defective.version("web", "v2").map(|v| v.error_rate),
            Some(scenario.risk.defect.error_rate)
        );
        assert_eq!(
            defective.version("web", "v1"),
            scenario.version("web", "v1")
        );
    }

    #[test]
    fn a_hung_build_never_answers_in_any_method_and_is_drawn_only_when_weighed() {
        let scenario = load(
            "
name: hung
services:
  web:
    entrypoint: true
    versions:
      v1: { methods: { browse: {} } }
      v2: { methods: { browse: { latency_ms: 1 } } }
initial: { web: v1 }
target: { web: v2 }
load: { entrypoints: { web: { mix: { browse: 1 } } } }
risk: { defect: { probability: 1, kinds: { hang: 1 } } }
",
        );
        let draw = draw(&scenario, 1, 0);
        assert_eq!(draw.defects["web"], DefectKind::Hang);
        let defective = with_defects(&scenario, &draw);
        let v2 = defective.version("web", "v2").expect("v2");
        assert_eq!(v2.latency, HANG);
        assert_eq!(v2.methods["browse"].latency, HANG);
        // Without a weight for it, no trial of the default kinds is a hang.
        let mut plain = scenario.clone();
        plain.risk.defect = crate::model::Defect {
            probability: 1.0,
            ..crate::model::Defect::default()
        };
        assert!(
            (0..200).all(|trial| self::draw(&plain, 1, trial).defects["web"] != DefectKind::Hang)
        );
    }

    #[test]
    fn a_defect_is_in_every_method_of_the_build() {
        let scenario = load(
            "
name: methods
services:
  web:
    entrypoint: true
    versions:
      v1: { methods: { browse: {} } }
      v2: { methods: { browse: { latency_ms: 1 } } }
initial: { web: v1 }
target: { web: v2 }
load: { entrypoints: { web: { mix: { browse: 1 } } } }
",
        );
        for (kind, check) in [
            (DefectKind::Errors, "errors"),
            (DefectKind::Latency, "latency"),
        ] {
            let draw = Draw {
                trial: 0,
                defects: BTreeMap::from([("web".to_owned(), kind)]),
            };
            let defective = with_defects(&scenario, &draw);
            let browse = &defective.version("web", "v2").expect("v2").methods["browse"];
            match check {
                "errors" => assert_eq!(browse.error_rate, scenario.risk.defect.error_rate),
                _ => assert_eq!(
                    browse.latency,
                    std::time::Duration::from_millis(1) + scenario.risk.defect.add
                ),
            }
        }
    }
}
