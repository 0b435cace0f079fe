//! Which strategies a command runs: the scenario's own, or those the user names on the
//! command line (the scenario's by name, or a built-in).

use crate::model::{Scenario, Strategy, StrategyKind};
use crate::scenario::problem::did_you_mean;

/// A strategy named on the command line that is neither the scenario's nor a built-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown strategy \"{name}\"{}this scenario has: {}; built-in: batch, single-piece, random, waves-K, safe, dark",
    if hint.is_empty() { ". ".to_owned() } else { format!("{hint} ") },
    own.join(", ")
)]
pub struct UnknownStrategy {
    pub name: String,
    /// `; did you mean "..."?`, or empty.
    pub hint: String,
    /// The scenario's own strategies.
    pub own: Vec<String>,
}

/// The strategies named in `names` (each once, in the order first named), or all of the
/// scenario's when none is named. A built-in named on the command line takes the
/// scenario's top-level `expect`.
pub fn select(scenario: &Scenario, names: &[String]) -> Result<Vec<Strategy>, UnknownStrategy> {
    if names.is_empty() {
        return Ok(scenario.strategies.clone());
    }
    // `--strategy batch --strategy batch` plans batch once.
    let mut unique: Vec<&String> = Vec::new();
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
        .into_iter()
        .map(|name| named(scenario, name))
        .collect()
}

fn named(scenario: &Scenario, name: &str) -> Result<Strategy, UnknownStrategy> {
    // Named on the command line: listed, whether the scenario lists it or not.
    if let Some(strategy) = scenario.strategies.iter().find(|s| s.name == name) {
        return Ok(Strategy {
            listed: true,
            ..strategy.clone()
        });
    }
    if let Some(kind) = StrategyKind::builtin(name) {
        return Ok(Strategy {
            name: name.to_owned(),
            kind,
            expect: scenario.expect.clone(),
            on_breach: None,
            listed: true,
        });
    }
    let own: Vec<String> = scenario.strategies.iter().map(|s| s.name.clone()).collect();
    let candidates = own
        .iter()
        .map(String::as_str)
        .chain(StrategyKind::BUILTIN_NAMES);
    Err(UnknownStrategy {
        name: name.to_owned(),
        hint: did_you_mean(name, candidates),
        own,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = "
name: s
services:
  web: { entrypoint: true, versions: { v1: {}, v2: {} } }
initial: { web: v1 }
target: { web: v2 }
strategies: [batch, { name: mine, steps: [[web]] }]
expect: { graceful: true }
";

    #[test]
    fn named_strategies_come_once_in_order_and_built_ins_take_the_top_level_expect() {
        let scenario = crate::scenario::inline(SCENARIO);
        let names = ["mine", "waves-2", "mine"].map(str::to_owned);
        let chosen = select(&scenario, &names).expect("known names");
        let picked: Vec<&str> = chosen.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(picked, ["mine", "waves-2"]);
        assert_eq!(chosen[1].expect.graceful, Some(true));
        assert_eq!(select(&scenario, &[]).expect("all").len(), 2);
    }

    #[test]
    fn an_unknown_name_suggests_the_closest() {
        let scenario = crate::scenario::inline(SCENARIO);
        let err = select(&scenario, &["single_piece".to_owned()]).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown strategy \"single_piece\"; did you mean \"single-piece\"? this scenario has: batch, mine; built-in: batch, single-piece, random, waves-K, safe, dark"
        );
    }
}
