//! What `simulate risk` compares and how it concludes (pure): the strategies (the
//! scenario's or the user's, with single-piece as the reference and the strategy
//! `risk.expect` judges), their plans, a trial's scenario for `--trial N`, and the
//! assessment of the trials that ran.

use crate::check;
use crate::eval::Graph;
use crate::model::{Scenario, Strategy, StrategyKind};
use crate::plan::{self, Plan, PlanError};
use crate::verdict::Verdict;

use super::{Draw, Judged, StrategySummary, Trial};

/// A strategy named for `simulate risk` that is not a built-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown strategy \"{0}\"; simulate risk compares built-ins: batch, single-piece, random, waves-K, safe, dark"
)]
pub struct UnknownRiskStrategy(pub String);

/// The strategies a risk run compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    /// In the order compared: those asked for, then single-piece (the reference) and the
    /// judged strategy when they were not asked for.
    pub strategies: Vec<Strategy>,
    /// The strategy `risk.expect` judges, when it sets a limit.
    pub judged: Option<StrategyKind>,
    /// The judged strategy had to be added: it was not among those asked for.
    pub judged_added: bool,
}

/// The strategies `simulate risk` compares: `names` (or the scenario's
/// `risk.strategies`, and `dark` when the release turns a flag on), with single-piece
/// added as the reference and `risk.expect`'s strategy when missing.
pub fn compared(scenario: &Scenario, names: &[String]) -> Result<Compared, UnknownRiskStrategy> {
    let mut kinds: Vec<StrategyKind> = if names.is_empty() {
        let mut kinds = scenario.risk.strategies.clone();
        // Without `risk.strategies`, the built-ins the scenario lists (`safe`, `waves-3`)
        // are compared too: they are what the team considers shipping with.
        if !scenario.risk.strategies_listed {
            for strategy in scenario.strategies.iter().filter(|s| s.listed) {
                if !matches!(strategy.kind, StrategyKind::Steps(_))
                    && !kinds.contains(&strategy.kind)
                {
                    kinds.push(strategy.kind.clone());
                }
            }
        }
        // With a release to make, deploying dark and releasing after is the strategy
        // flags exist for: it is compared too.
        if !scenario.releases().is_empty() && !kinds.contains(&StrategyKind::Dark) {
            kinds.push(StrategyKind::Dark);
        }
        kinds
    } else {
        names
            .iter()
            .map(|name| {
                StrategyKind::builtin(name).ok_or_else(|| UnknownRiskStrategy(name.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    let judged = judged_strategy(scenario, &kinds);
    let judged_added = judged.as_ref().is_some_and(|kind| !kinds.contains(kind));
    for kind in [Some(StrategyKind::SinglePiece), judged.clone()]
        .into_iter()
        .flatten()
    {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    // Named on the command line or in `risk.strategies`: listed. Single-piece (the
    // reference), dark and the judged strategy, added here, are not.
    let listed: Vec<StrategyKind> = if !names.is_empty() {
        names
            .iter()
            .filter_map(|n| StrategyKind::builtin(n))
            .collect()
    } else if scenario.risk.strategies_listed {
        scenario.risk.strategies.clone()
    } else {
        scenario
            .strategies
            .iter()
            .filter(|s| s.listed)
            .map(|s| s.kind.clone())
            .collect()
    };
    let strategies = kinds
        .into_iter()
        .map(|kind| Strategy {
            name: super::strategy_name(&kind),
            listed: listed.contains(&kind),
            kind,
            expect: Default::default(),
            on_breach: None,
        })
        .collect();
    Ok(Compared {
        strategies,
        judged,
        judged_added,
    })
}

/// The strategy `risk.expect` judges, when it sets a limit.
fn judged_strategy(scenario: &Scenario, compared: &[StrategyKind]) -> Option<StrategyKind> {
    let expect = &scenario.risk.expect;
    (!expect.limits.is_empty())
        .then(|| super::expected_strategy(expect, compared))
        .flatten()
}

/// The compared strategies, planned on the scenario as written (a team does not know
/// its defects), with the states each passes through.
#[derive(Debug, Clone)]
pub struct Planned {
    pub plans: Vec<(Strategy, Plan)>,
    /// Per plan: the distinct states it passes through (from `check`).
    pub states: Vec<usize>,
    /// Strategies that cannot be planned, left out of the comparison.
    pub left_out: Vec<(Strategy, PlanError)>,
    /// The judged strategy cannot be planned: the limits cannot be judged.
    pub judged_unplanned: Option<StrategyKind>,
}

/// Plans every compared strategy with `seed`.
pub fn plan(scenario: &Scenario, compared: &Compared, seed: u64) -> Planned {
    let graph = Graph::new(scenario);
    let mut plans = Vec::new();
    let mut left_out = Vec::new();
    for strategy in &compared.strategies {
        match plan::plan(scenario, strategy, seed) {
            Ok(planned) => plans.push((strategy.clone(), planned)),
            Err(err) => left_out.push((strategy.clone(), err)),
        }
    }
    let judged_unplanned = compared
        .judged
        .clone()
        .filter(|kind| !plans.iter().any(|(s, _)| s.kind == *kind));
    let states = plans
        .iter()
        .map(|(strategy, _)| {
            check::check_strategy(&graph, scenario, strategy, seed).distinct_states
        })
        .collect();
    Planned {
        plans,
        states,
        left_out,
        judged_unplanned,
    }
}

/// What the trials say: each strategy's summary and the limits judged.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The planned strategies' names, in the order compared.
    pub names: Vec<String>,
    pub summaries: Vec<StrategySummary>,
    /// Every `risk.expect` limit, judged on its strategy.
    pub judged: Vec<Judged>,
    /// Strategies asked for by name (in `risk.strategies` or with `--strategy`) that
    /// cannot be planned: each fails the verdict.
    pub unplanned: Vec<String>,
}

/// How the trials ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// Every trial asked for ran.
    Complete,
    /// Ctrl-C stopped them before every trial ran.
    Interrupted,
}

/// Summarises `trials` of `planned` and judges the scenario's `risk.expect`.
pub fn assess(
    scenario: &Scenario,
    compared: &Compared,
    planned: &Planned,
    trials: &[Trial],
) -> Assessment {
    let names: Vec<String> = planned.plans.iter().map(|(s, _)| s.name.clone()).collect();
    let reference = planned
        .plans
        .iter()
        .position(|(s, _)| s.kind == StrategyKind::SinglePiece);
    let summaries = super::summarise(&names, &planned.states, reference, trials);
    let judged = compared.judged.as_ref().map_or_else(Vec::new, |kind| {
        super::judge(
            &scenario.risk.expect,
            &super::strategy_name(kind),
            &summaries,
        )
    });
    // Asked for: named in `risk.strategies` or with `--strategy`, or judged by
    // `risk.expect`.
    let unplanned = planned
        .left_out
        .iter()
        .filter(|(strategy, _)| strategy.listed || compared.judged.as_ref() == Some(&strategy.kind))
        .map(|(strategy, _)| strategy.name.clone())
        .collect();
    Assessment {
        names,
        summaries,
        judged,
        unplanned,
    }
}

impl Assessment {
    /// The verdict of a run whose trials ran as `ran` says: fail when a limit failed or
    /// a strategy asked for cannot be planned; inconclusive when a trial of the judged
    /// strategy was not measured; nothing judged without a limit.
    pub fn verdict(&self, ran: Ran) -> Verdict {
        if ran == Ran::Interrupted {
            return Verdict::Interrupted;
        }
        let mut failed = self.unplanned.clone();
        for limit in self.judged.iter().filter(|j| !j.holds) {
            if !failed.contains(&limit.strategy) {
                failed.push(limit.strategy.clone());
            }
        }
        let unmeasured = self
            .summaries
            .iter()
            .filter(|s| s.unjudged > 0 && self.judged.iter().any(|j| j.strategy == s.name))
            .map(|s| s.name.clone())
            .collect();
        Verdict::from_parts(failed, unmeasured, !self.judged.is_empty())
    }
}

/// Trial `trial` as `simulate SCENARIO --trial N` runs it: its defects drawn from the
/// seed and N, in the changed versions; the same runs' seed as the trial's. The plan is
/// made on the scenario as written (a team does not know its defects), the versions it
/// deploys are the defective ones.
#[derive(Debug, Clone)]
pub struct TrialRun {
    pub scenario: Scenario,
    pub draw: Draw,
    pub run_seed: u64,
}

pub fn trial(scenario: &Scenario, seed: u64, trial: u32) -> TrialRun {
    let draw = super::draw(scenario, seed, trial);
    TrialRun {
        scenario: super::with_defects(scenario, &draw),
        run_seed: super::run_seed(seed, trial),
        draw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = "
name: s
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: db } ] }, v2: { calls: [ { service: db } ] } } }
  db: { versions: { v1: {}, v2: {} } }
initial: { web: v1, db: v1 }
target: { web: v2, db: v2 }
risk:
  strategies: [batch, waves-2]
  expect: { strategy: waves-2, max_change_failure_rate: 0.5 }
";

    #[test]
    fn single_piece_and_the_judged_strategy_are_compared_too() {
        let scenario = crate::scenario::inline(SCENARIO);
        let names = |compared: &Compared| -> Vec<String> {
            compared.strategies.iter().map(|s| s.name.clone()).collect()
        };
        let all = compared(&scenario, &[]).expect("built-ins");
        assert_eq!(names(&all), ["batch", "waves-2", "single-piece"]);
        assert!(!all.judged_added);
        let asked = compared(&scenario, &["batch".to_owned()]).expect("built-ins");
        assert_eq!(names(&asked), ["batch", "single-piece", "waves-2"]);
        assert_eq!(asked.judged, Some(StrategyKind::Waves(2)));
        assert!(asked.judged_added);
        let err = super::compared(&scenario, &["bach".to_owned()]).expect_err("unknown");
        assert!(
            err.to_string().starts_with("unknown strategy \"bach\""),
            "{err}"
        );
    }

    #[test]
    fn a_failed_limit_fails_and_an_interrupted_partial_run_is_interrupted() {
        let scenario = crate::scenario::inline(SCENARIO);
        let compared = compared(&scenario, &[]).expect("built-ins");
        let planned = plan(&scenario, &compared, 1);
        assert!(planned.judged_unplanned.is_none());
        let assessment = assess(&scenario, &compared, &planned, &[]);
        assert_eq!(
            assessment.verdict(Ran::Complete),
            Verdict::Pass,
            "no trial, no measure: a limit on a measure no trial had holds"
        );
        assert_eq!(assessment.verdict(Ran::Interrupted), Verdict::Interrupted);
        let mut failing = assessment.clone();
        failing.judged.iter_mut().for_each(|j| j.holds = false);
        assert_eq!(
            failing.verdict(Ran::Complete),
            Verdict::Fail(vec!["waves-2".to_owned()])
        );
    }
}
