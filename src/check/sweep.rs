//! The missing-dependency sweep (pure): every entrypoint's outcome when one service (or,
//! with `pairs`, two services) is missing, before and after the release.
//!
//! A service whose loss alone fails an entrypoint is a single point of failure.

use crate::eval::graph::{Graph, Level, State};
use crate::model::Scenario;

/// One row of the sweep: which services are missing, and each entrypoint's level with
/// the initial and with the target versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub missing: Vec<usize>,
    pub initial: Vec<Level>,
    pub target: Vec<Level>,
    /// Per entrypoint with more than one method in its mix (`Graph::entry_methods`), in
    /// entrypoint order: each method's worst level over the initial and the target
    /// versions. Entrypoints with one method are left out: a row per service times an
    /// entry per entrypoint would grow with the square of a large fleet.
    pub methods: Vec<(usize, Vec<Level>)>,
}

impl Row {
    /// The worst level of method `m` of entrypoint `entry` (`Ok` for an entrypoint with
    /// one method, whose level is the entrypoint's).
    pub fn method_level(&self, entry: usize, m: usize) -> Level {
        self.methods
            .iter()
            .find(|(e, _)| *e == entry)
            .and_then(|(_, levels)| levels.get(m).copied())
            .unwrap_or(Level::Ok)
    }

    pub fn worst(&self) -> Level {
        self.initial
            .iter()
            .chain(&self.target)
            .copied()
            .max()
            .unwrap_or(Level::Ok)
    }
}

/// The sweep: one row per deployed service; with `pairs`, also one row per pair of
/// services whose joint loss is worse than the loss of either alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub singles: Vec<Row>,
    pub pairs: Vec<Row>,
    /// Set when `pairs` was asked for but there were more than [`MAX_PAIRS`] of them:
    /// how many there were.
    pub pairs_skipped: Option<usize>,
    /// Set when `pairs` was asked for and swept: how many pairs were evaluated (only the
    /// ones worse than either service alone are rows).
    pub pairs_swept: Option<usize>,
    /// Services whose loss alone fails an entrypoint other than themselves that does not
    /// fail without it (see [`is_single_point_of_failure`]).
    pub single_points_of_failure: Vec<usize>,
}

/// One entrypoint in one state, with and without a lost service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryLoss<'a> {
    pub entrypoint: &'a str,
    /// Some request of the entrypoint fails when nothing is missing.
    pub fails_without: bool,
    /// Some request of the entrypoint fails when the service is missing.
    pub fails_with: bool,
}

/// The single-point-of-failure rule, one for the predicted and the measured sweep: `lost`
/// is one when its loss alone fails an entrypoint other than itself that does not fail
/// without it. An entrypoint that already fails (a broken target state, say) is not the
/// lost service's doing.
pub fn is_single_point_of_failure<'a>(
    lost: &str,
    entrypoints: impl IntoIterator<Item = EntryLoss<'a>>,
) -> bool {
    entrypoints
        .into_iter()
        .any(|entry| entry.entrypoint != lost && entry.fails_with && !entry.fails_without)
}

/// What a sweep takes away: each service alone, or also each pair of services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Singles,
    /// Each service alone, and each pair.
    Pairs,
}

impl Missing {
    /// `--pairs` on the command line.
    pub fn with_pairs(pairs: bool) -> Missing {
        if pairs {
            Missing::Pairs
        } else {
            Missing::Singles
        }
    }
}

/// At most this many pairs are evaluated (about 1,000 deployed services), which bounds the
/// time `--pairs` takes.
pub const MAX_PAIRS: usize = 500_000;

pub fn sweep(graph: &Graph, scenario: &Scenario, missing: Missing) -> Sweep {
    let pairs = missing == Missing::Pairs;
    let initial = graph.settled(&scenario.initial, &scenario.initial_flags());
    let target = graph.settled(&scenario.target, &scenario.target_flags());
    let deployed: Vec<usize> = (0..graph.services.len())
        .filter(|&s| initial.serving[s] != 0 || target.serving[s] != 0)
        .collect();
    let mut scratch = Vec::new();
    let mut levels = Vec::new();
    let mut row = |missing: Vec<usize>| {
        let mut evaluate = |base: &State| {
            let mut state = base.clone();
            for &s in &missing {
                state.serving[s] = 0;
            }
            graph.levels(&state, &mut scratch, &mut levels);
            let methods = graph.method_levels(&state, &mut scratch);
            (levels.clone(), methods)
        };
        let (at_initial, initial_methods) = evaluate(&initial);
        let (at_target, target_methods) = evaluate(&target);
        let methods = initial_methods
            .into_iter()
            .zip(target_methods)
            .enumerate()
            .filter(|(_, (at_initial, _))| at_initial.len() > 1)
            .map(|(entry, (at_initial, at_target))| {
                let worst = at_initial
                    .iter()
                    .zip(&at_target)
                    .map(|(a, b)| (*a).max(*b))
                    .collect();
                (entry, worst)
            })
            .collect();
        Row {
            missing,
            initial: at_initial,
            target: at_target,
            methods,
        }
    };
    let intact = row(Vec::new());
    let singles: Vec<Row> = deployed.iter().map(|&s| row(vec![s])).collect();
    let single_points_of_failure = singles
        .iter()
        .filter(|r| {
            let losses = (0..graph.entries.len()).flat_map(|e| {
                let entrypoint = graph.entry_name(e);
                [(&intact.initial, &r.initial), (&intact.target, &r.target)].map(
                    |(without, with)| EntryLoss {
                        entrypoint,
                        fails_without: without[e] == Level::Failed,
                        fails_with: with[e] == Level::Failed,
                    },
                )
            });
            is_single_point_of_failure(graph.services[r.missing[0]].as_str(), losses)
        })
        .map(|r| r.missing[0])
        .collect();
    // Each single's worst level, by service: a pair looks up its two singles.
    let single_worst: std::collections::BTreeMap<usize, Level> =
        singles.iter().map(|r| (r.missing[0], r.worst())).collect();
    let mut pair_rows = Vec::new();
    let n_pairs = deployed.len() * deployed.len().saturating_sub(1) / 2;
    let pairs_skipped = (pairs && n_pairs > MAX_PAIRS).then_some(n_pairs);
    if pairs && pairs_skipped.is_none() {
        for (i, &a) in deployed.iter().enumerate() {
            for &b in &deployed[i + 1..] {
                let joint = row(vec![a, b]);
                let alone =
                    single_worst[&a].max(single_worst.get(&b).copied().unwrap_or(Level::Ok));
                if joint.worst() > alone {
                    pair_rows.push(joint);
                }
            }
        }
    }
    let pairs_swept = (pairs && pairs_skipped.is_none()).then_some(n_pairs);
    Sweep {
        singles,
        pairs: pair_rows,
        pairs_skipped,
        pairs_swept,
        single_points_of_failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::inline as load;

    #[test]
    fn required_dependencies_are_single_points_of_failure_and_optional_ones_are_not() {
        let scenario = load(
            "
name: sweep
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: cart }, { service: ads, on_failure: degrade } ] } }
  cart: { versions: { v1: { calls: [ { service: db } ] } } }
  db: { versions: { v1: {} } }
  ads: { versions: { v1: {} } }
initial: { web: v1, cart: v1, db: v1, ads: v1 }
target: {}
",
        );
        let graph = Graph::new(&scenario);
        let result = sweep(&graph, &scenario, Missing::Pairs);
        let names: Vec<&str> = result
            .single_points_of_failure
            .iter()
            .map(|&s| graph.services[s].as_str())
            .collect();
        assert_eq!(names, vec!["cart", "db"], "web itself is not a dependency");
        let ads = result
            .singles
            .iter()
            .find(|row| graph.services[row.missing[0]] == "ads")
            .expect("ads row");
        assert_eq!(ads.initial, vec![Level::Degraded]);
        // No pair is worse than its worse half here: ads + anything is as bad as that.
        assert!(result.pairs.is_empty(), "{:?}", result.pairs);
    }

    #[test]
    fn a_broken_target_is_no_services_fault() {
        // cart v2 drops api v1, which web still calls: the target fails web whatever is
        // missing. Counted against the target alone, every service would look like a
        // single point of failure of web (ads and shop included); judged against the
        // same state with nothing missing, only real ones are.
        let scenario = load(
            "
name: stranded
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: cart }, { service: ads, on_failure: degrade } ] } }
  shop:
    entrypoint: true
    versions: { v1: { calls: [ { service: db } ] } }
  cart: { versions: { v1: {}, v2: { provides: [v2] } } }
  db: { versions: { v1: {} } }
  ads: { versions: { v1: {} } }
initial: { web: v1, shop: v1, cart: v1, db: v1, ads: v1 }
target: { cart: v2 }
",
        );
        let graph = Graph::new(&scenario);
        let result = sweep(&graph, &scenario, Missing::Singles);
        let names: Vec<&str> = result
            .single_points_of_failure
            .iter()
            .map(|&s| graph.services[s].as_str())
            .collect();
        // cart: its loss fails web in the initial state, where web works without it.
        // db: fails shop. ads and the entrypoints themselves: not single points.
        assert_eq!(names, vec!["cart", "db"]);
    }
}
