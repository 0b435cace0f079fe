//! The state space of a release (pure): how many states one-service-at-a-time rollouts can
//! reach, and how many of them fail, counted by visiting every one when there are few
//! enough.
//!
//! With n changes, the settled states are the 2^n subsets of changes applied. A
//! single-piece order also passes through transient states with one service between
//! versions and every other one before or after its change: n x 2^(n-1) of them, less
//! those equal to a settled state (a new service that is not ready yet, or a removed one
//! that still drains, looks exactly like the state before its change). A flag release
//! counts as a change with no transient state of its own (the switch is instant).

use crate::eval::graph::{Graph, Level, State, flag_mask};
use crate::eval::transient;
use crate::model::Scenario;

/// At most this many states are evaluated one by one; beyond it only counts are given.
pub const ENUMERATION_BUDGET: u64 = 1 << 22;

/// At most this many port evaluations (states x ports) are spent visiting states, about
/// 1.5 s on the development machine, so a large fleet with a score of changes stays
/// quick.
pub const WORK_BUDGET: u64 = 400_000_000;

/// What is known of the state space.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Space {
    pub changes: usize,
    /// 2^n, as text when it does not fit in 64 bits.
    pub settled_states: String,
    /// Settled plus distinct transient states that single-piece orders can reach.
    pub single_piece_states: String,
    /// Set when every reachable state was evaluated (within the budget).
    pub evaluated: Option<Evaluation>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evaluation {
    /// False when only the settled states fit in the budget.
    pub transient_included: bool,
    pub states: u64,
    pub failing: u64,
    pub degraded: u64,
}

/// Counts, and evaluates every reachable state if they fit in the budget.
pub fn explore(graph: &Graph, scenario: &Scenario) -> Space {
    let changes = scenario.changes();
    let initial = graph.settled(&scenario.initial, &scenario.initial_flags());
    // Each change's slot, and its value before, after, and in its transient state.
    let mut masks: Vec<(usize, u8, u8, u8)> = changes
        .iter()
        .filter_map(|change| {
            let s = graph.service(&change.service)?;
            let before = initial.serving[s];
            let after = graph.mask(s, change.to.as_deref());
            let during =
                transient(graph, scenario, &initial, std::slice::from_ref(change)).serving[s];
            Some((s, before, after, during))
        })
        .collect();
    let target_flags = scenario.target_flags();
    masks.extend(scenario.releases().iter().filter_map(|release| {
        let slot = graph.flag_slot(release.flag())?;
        let after = flag_mask(target_flags.share(release.flag()));
        Some((slot, initial.serving[slot], after, after))
    }));
    let n = masks.len();
    let distinct_transients = masks
        .iter()
        .filter(|(_, before, after, during)| during != before && during != after)
        .count();
    let settled = pow2_text(n, 1, 0);
    let single_piece = pow2_text(n, 1, distinct_transients);
    let total = if n < 40 {
        Some((1u64 << n) + distinct_transients as u64 * (1u64 << n.saturating_sub(1)))
    } else {
        None
    };
    let affordable = |states: u64| {
        states <= ENUMERATION_BUDGET
            && states.saturating_mul(graph.ports().max(1) as u64) <= WORK_BUDGET
    };
    let evaluated = match total {
        Some(total) if affordable(total) => Some(evaluate_all(graph, &initial, &masks, true)),
        _ if n < 40 && affordable(1u64 << n) => Some(evaluate_all(graph, &initial, &masks, false)),
        _ => None,
    };
    Space {
        changes: n,
        settled_states: settled,
        single_piece_states: single_piece,
        evaluated,
    }
}

/// 2^n x a + k x 2^(n-1), exactly when it fits in u128, else approximately.
fn pow2_text(n: usize, a: u128, k: usize) -> String {
    if n < 120 {
        let full = a << n;
        let half = if n == 0 { 0 } else { 1u128 << (n - 1) };
        (full + k as u128 * half).to_string()
    } else {
        let value = (a as f64 + k as f64 / 2.0) * 2f64.powi(n as i32);
        format!("{value:.3e}")
    }
}

/// Visits every settled state in Gray-code order (one change flips per state, so the
/// state is updated in place), and, with `transients`, every single-piece transient state.
pub fn evaluate_all(
    graph: &Graph,
    initial: &State,
    masks: &[(usize, u8, u8, u8)],
    transients: bool,
) -> Evaluation {
    let n = masks.len();
    let mut state = initial.clone();
    let mut scratch = Vec::new();
    let mut levels = Vec::new();
    let mut result = Evaluation {
        transient_included: transients,
        states: 0,
        failing: 0,
        degraded: 0,
    };
    let mut count = |state: &State, result: &mut Evaluation| {
        result.states += 1;
        match graph.worst(state, &mut scratch, &mut levels) {
            Level::Failed => result.failing += 1,
            Level::Degraded => result.degraded += 1,
            Level::Ok => {}
        }
    };
    let mut applied = vec![false; n];
    for i in 0..(1u64 << n) {
        if i > 0 {
            // Gray code: the bit that flips between i-1 and i is the lowest set bit of i.
            let flip = i.trailing_zeros() as usize;
            applied[flip] = !applied[flip];
            let (s, before, after, _) = masks[flip];
            state.serving[s] = if applied[flip] { after } else { before };
        }
        count(&state, &mut result);
        if !transients {
            continue;
        }
        // The transient states reachable from here: one unapplied change in progress.
        for (j, &(s, before, after, during)) in masks.iter().enumerate() {
            if applied[j] || during == before || during == after {
                continue;
            }
            state.serving[s] = during;
            count(&state, &mut result);
            state.serving[s] = before;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::inline as load;

    #[test]
    fn counts_match_a_direct_enumeration() {
        let scenario = load(
            "
name: space
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: a }, { service: b, on_failure: degrade } ] }
      v2: { calls: [ { service: a, api: v2 }, { service: b, on_failure: degrade } ] }
  a: { versions: { v1: {}, v2: { provides: [v1, v2] } } }
  b: { rollout: recreate, versions: { v1: {}, v2: {} } }
  c: { versions: { v1: {} } }
initial: { web: v1, a: v1, b: v1 }
target: { web: v2, a: v2, b: v2, c: v1 }
",
        );
        let graph = Graph::new(&scenario);
        let space = explore(&graph, &scenario);
        // 4 changes (c is new: its transient equals its state before), 3 distinct
        // transients: 16 + 3 x 8.
        assert_eq!(space.settled_states, "16");
        assert_eq!(space.single_piece_states, "40");
        let evaluation = space.evaluated.expect("small enough to visit");
        assert_eq!(evaluation.states, 40);
        // Direct: every subset, and every subset with one unapplied change in transit.
        let changes = scenario.changes();
        let initial = graph.settled(&scenario.initial, &scenario.initial_flags());
        let (mut failing, mut degraded) = (0, 0);
        let mut tally = |state: &State| match graph.worst(state, &mut Vec::new(), &mut Vec::new()) {
            Level::Failed => failing += 1,
            Level::Degraded => degraded += 1,
            Level::Ok => {}
        };
        for subset in 0u32..16 {
            let mut state = initial.clone();
            for (i, change) in changes.iter().enumerate() {
                if subset & (1 << i) != 0 {
                    graph.apply(&mut state, change);
                }
            }
            tally(&state);
            for (i, change) in changes.iter().enumerate() {
                if subset & (1 << i) == 0 {
                    let during = transient(&graph, &scenario, &state, std::slice::from_ref(change));
                    if during != state {
                        tally(&during);
                    }
                }
            }
        }
        assert_eq!(
            (evaluation.failing, evaluation.degraded),
            (failing, degraded)
        );
        assert!(failing > 0 && degraded > 0);
    }
}
