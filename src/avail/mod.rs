//! `simulate availability` (pure): when a random part of the fleet is down, the share of
//! each entrypoint's (and method's, and the whole load's) requests still served.
//!
//! The failure model: a unit (a replica, or a whole service) fails for the whole
//! measurement, exactly K of them drawn uniformly without replacement, or each one
//! independently with probability p; a service is down when every replica of it is,
//! and a down service has left discovery (its callers see UNAVAILABLE), as `kill` does.
//! One state per down set, evaluated by the same evaluator `check` uses
//! ([`crate::eval::Graph`]), so a set always gives the same outcome.
//!
//! The measure: an entry request is served when it ends ok or degraded (or only ok, with
//! `degraded_lost`). Where a flag is at a percent between 0 and 100, a request meets each
//! on/off assignment of the flags with the share of users it stands for, so a state's
//! share served is the flag-weighted mean, not the worst case `check` predicts. Each
//! entrypoint's share is its methods' weighed by the load's mix, the fleet's its
//! entrypoints' weighed by their rates: no sample of the mix is drawn.
//!
//! Exact where the down sets can be enumerated within a budget ([`sets`]); past it,
//! failure sets are drawn from the seed, one stream per set, and the shares are means with
//! a 95% interval. Either way the sums are made in fixed blocks, added in block order, so
//! the result is the same on one thread or many.

pub mod sets;

use std::sync::atomic::{AtomicUsize, Ordering};

pub use sets::{Amount, Units};

use crate::eval::{Graph, Level, State};
use crate::model::{Deployment, Flags, Scenario};
use crate::stats::{self, Estimate};

/// What fails.
pub use crate::model::FailUnit as Unit;

/// The default budget of down sets evaluated exactly per level.
pub const BUDGET: f64 = 1_000_000.0;
/// The default number of failure sets drawn per level past the budget.
pub const SAMPLES: u32 = 10_000;
/// Failure sets are summed in blocks of this many, added in block order.
const BLOCK: usize = 4096;

/// The question asked: a deployment, what may fail, and how a request counts.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    pub scenario: &'a Scenario,
    pub deployment: &'a Deployment,
    pub flags: &'a Flags,
    pub unit: Unit,
    /// Services that never fail.
    pub spared: Vec<String>,
    /// Count a degraded answer as lost.
    pub degraded_lost: bool,
    /// At most this many down sets are enumerated per level; past it, sets are drawn.
    pub budget: f64,
    /// Failure sets drawn per level past the budget.
    pub samples: u32,
    pub seed: u64,
    /// Threads to evaluate on (the result does not depend on it).
    pub workers: usize,
}

/// Why a question cannot be answered exactly here.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// These versions (service, version) of the deployment have a `capacity`: a killed
    /// replica also loads the others, which the evaluator does not model.
    Capacity(Vec<(String, String)>),
    /// More units to fail than there are.
    TooMany { amount: Amount, units: u32 },
    /// A probability outside [0, 1].
    Probability(f64),
    /// A spared service the scenario does not have.
    UnknownService(String),
}

/// One entrypoint of the load.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Entry {
    pub name: String,
    pub rps: u32,
    /// Each method of its mix (`default` for the entrypoint's own calls) and its share.
    pub methods: Vec<(String, f64)>,
}

/// One level of the model, answered.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    pub amount: Amount,
    /// Failure sets of the model (a float: it outgrows integers).
    pub failure_sets: f64,
    /// Down sets evaluated (exact) or failure sets drawn (sampled).
    pub evaluated: u64,
    pub exact: bool,
    /// The whole load's share served, entrypoints weighed by their rates.
    pub fleet: Estimate,
    /// Per entrypoint (in [`Availability::entrypoints`] order): its share served, and
    /// each method's.
    pub entrypoints: Vec<(Estimate, Vec<Estimate>)>,
}

/// The answer: the units, the entrypoints and one row per level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Availability {
    pub unit: Unit,
    /// The services that may fail, and their units.
    pub candidates: Vec<(String, u32)>,
    pub spared: Vec<String>,
    pub degraded_lost: bool,
    pub entrypoints: Vec<Entry>,
    pub rows: Vec<Row>,
}

/// Answers `question` at each of `amounts`.
pub fn availability(question: &Question, amounts: &[Amount]) -> Result<Availability, Refusal> {
    let scenario = question.scenario;
    if let Some(unknown) = question
        .spared
        .iter()
        .find(|name| !scenario.services.contains_key(*name))
    {
        return Err(Refusal::UnknownService(unknown.clone()));
    }
    let with_capacity: Vec<(String, String)> = scenario
        .services
        .keys()
        .filter_map(|name| {
            let version = question.deployment.version(name)?;
            scenario
                .version(name, version)?
                .capacity
                .map(|_| (name.clone(), version.to_owned()))
        })
        .collect();
    if !with_capacity.is_empty() {
        return Err(Refusal::Capacity(with_capacity));
    }
    let graph = Graph::new(scenario);
    let candidates: Vec<(String, u32)> = scenario
        .services
        .iter()
        .filter(|(name, _)| question.deployment.version(name).is_some())
        .filter(|(name, _)| !question.spared.contains(name))
        .map(|(name, service)| {
            let units = match question.unit {
                Unit::Replica => service.replicas.max(1),
                Unit::Service => 1,
            };
            (name.clone(), units)
        })
        .collect();
    let units = Units {
        replicas: candidates.iter().map(|(_, n)| *n).collect(),
    };
    for &amount in amounts {
        match amount {
            Amount::Kill(k) if k > units.total() => {
                return Err(Refusal::TooMany {
                    amount,
                    units: units.total(),
                });
            }
            Amount::Each(p) if !(0.0..=1.0).contains(&p) => return Err(Refusal::Probability(p)),
            _ => {}
        }
    }
    let entrypoints: Vec<Entry> = (0..graph.entries.len())
        .map(|e| {
            let name = graph.entry_name(e).to_owned();
            let mix = scenario.load.mix_of(&name);
            let total: f64 = mix.iter().map(|(_, w)| f64::from(*w)).sum();
            let methods = graph.entry_methods[e]
                .iter()
                .map(|method| {
                    let weight = mix
                        .iter()
                        .find(|(m, _)| m.as_deref().unwrap_or("default") == method)
                        .map_or(0.0, |(_, w)| f64::from(*w));
                    (method.clone(), weight / total.max(1.0))
                })
                .collect();
            Entry {
                rps: scenario.load.rps_of(&name),
                name,
                methods,
            }
        })
        .collect();
    let base = graph.settled(question.deployment, question.flags);
    let percents: Vec<u8> = graph
        .flags
        .iter()
        .map(|flag| question.flags.share(flag))
        .collect();
    let slots: Vec<usize> = candidates
        .iter()
        .map(|(name, _)| graph.service(name).expect("a scenario service"))
        .collect();
    let evaluator = Evaluator {
        graph: &graph,
        base,
        percents,
        slots,
        entrypoints: &entrypoints,
        degraded_lost: question.degraded_lost,
    };
    let rows = amounts
        .iter()
        .map(|&amount| evaluator.row(question, &units, amount))
        .collect();
    Ok(Availability {
        unit: question.unit,
        candidates,
        spared: question.spared.clone(),
        degraded_lost: question.degraded_lost,
        entrypoints,
        rows,
    })
}

/// What one down set's state serves.
struct Evaluator<'a> {
    graph: &'a Graph,
    base: State,
    percents: Vec<u8>,
    /// The graph's service index of each candidate.
    slots: Vec<usize>,
    entrypoints: &'a [Entry],
    degraded_lost: bool,
}

/// Per-thread buffers, so that a million evaluations allocate nothing.
#[derive(Default)]
struct Scratch {
    state: Option<State>,
    outcomes: Vec<u8>,
    levels: Vec<Level>,
}

impl Evaluator<'_> {
    /// The share served of every method (flattened, entrypoint by entrypoint) with the
    /// candidates `down` down, added times `weight` into `into`.
    fn add_served(&self, down: &[usize], weight: f64, scratch: &mut Scratch, into: &mut [f64]) {
        let state = scratch.state.get_or_insert_with(|| self.base.clone());
        state.serving.clone_from(&self.base.serving);
        for &candidate in down {
            state.serving[self.slots[candidate]] = 0;
        }
        let degraded_lost = self.degraded_lost;
        self.graph.weighted_method_levels(
            state,
            &self.percents,
            &mut scratch.outcomes,
            &mut scratch.levels,
            |share, levels| {
                for (sum, level) in into.iter_mut().zip(levels) {
                    let served = match level {
                        Level::Ok => true,
                        Level::Degraded => !degraded_lost,
                        Level::Failed => false,
                    };
                    if served {
                        *sum += weight * share;
                    }
                }
            },
        );
    }

    fn methods(&self) -> usize {
        self.entrypoints.iter().map(|e| e.methods.len()).sum()
    }

    /// Per entrypoint its share from the methods' shares `methods`, then the fleet's.
    fn entry_shares(&self, methods: &[f64]) -> (Vec<f64>, f64) {
        let mut next = methods.iter();
        let entries: Vec<f64> = self
            .entrypoints
            .iter()
            .map(|entry| {
                entry
                    .methods
                    .iter()
                    .map(|(_, share)| share * next.next().copied().unwrap_or(0.0))
                    .sum()
            })
            .collect();
        let rates: f64 = self.entrypoints.iter().map(|e| f64::from(e.rps)).sum();
        let fleet = self
            .entrypoints
            .iter()
            .zip(&entries)
            .map(|(entry, share)| f64::from(entry.rps) * share)
            .sum::<f64>()
            / rates.max(1.0);
        (entries, fleet)
    }

    fn row(&self, question: &Question, units: &Units, amount: Amount) -> Row {
        let failure_sets = units.failure_sets(amount);
        if units.down_sets(amount) <= question.budget {
            let sets = units.enumerate(amount);
            let sums = blocks(sets.len(), question.workers, |range, scratch| {
                let mut sum = vec![0.0; self.methods()];
                for (down, weight) in &sets[range] {
                    self.add_served(down, *weight, scratch, &mut sum);
                }
                sum
            });
            let mut methods = vec![0.0; self.methods()];
            for block in sums {
                for (total, part) in methods.iter_mut().zip(block) {
                    *total += part;
                }
            }
            let (entries, fleet) = self.entry_shares(&methods);
            let exact = |value: f64| Estimate {
                value,
                low: value,
                high: value,
                n: sets.len() as u64,
            };
            let mut next = methods.iter();
            return Row {
                amount,
                failure_sets,
                evaluated: sets.len() as u64,
                exact: true,
                fleet: exact(fleet),
                entrypoints: self
                    .entrypoints
                    .iter()
                    .zip(&entries)
                    .map(|(entry, share)| {
                        let methods = entry
                            .methods
                            .iter()
                            .map(|_| exact(next.next().copied().unwrap_or(0.0)))
                            .collect();
                        (exact(*share), methods)
                    })
                    .collect(),
            };
        }
        // Past the budget: draw failure sets, set i from its own stream of the seed.
        let samples = question.samples.max(1) as usize;
        let per_sample = blocks(samples, question.workers, |range, scratch| {
            range
                .map(|i| {
                    let mut rng = crate::seed::rng(question.seed, &draw_purpose(amount, i));
                    let down = units.down(&units.draw(amount, &mut rng));
                    let mut served = vec![0.0; self.methods()];
                    self.add_served(&down, 1.0, scratch, &mut served);
                    served
                })
                .collect::<Vec<_>>()
        });
        let per_sample: Vec<Vec<f64>> = per_sample.into_iter().flatten().collect();
        let shares: Vec<(Vec<f64>, f64)> = per_sample
            .iter()
            .map(|methods| self.entry_shares(methods))
            .collect();
        let estimate = |values: Vec<f64>| {
            let mut estimate = stats::mean(&values);
            estimate.low = estimate.low.max(0.0);
            estimate.high = estimate.high.min(1.0);
            estimate
        };
        let mut offset = 0;
        let entrypoints = self
            .entrypoints
            .iter()
            .enumerate()
            .map(|(e, entry)| {
                let methods = (0..entry.methods.len())
                    .map(|m| estimate(per_sample.iter().map(|s| s[offset + m]).collect()))
                    .collect();
                offset += entry.methods.len();
                (
                    estimate(shares.iter().map(|(entries, _)| entries[e]).collect()),
                    methods,
                )
            })
            .collect();
        Row {
            amount,
            failure_sets,
            evaluated: samples as u64,
            exact: false,
            fleet: estimate(shares.iter().map(|(_, fleet)| *fleet).collect()),
            entrypoints,
        }
    }
}

/// One `availability.expect` limit against its row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Judged {
    pub amount: Amount,
    /// `None`: the whole load.
    pub entrypoint: Option<String>,
    pub min: f64,
    /// The share served at that level: exact, or the mean of the drawn sets.
    pub value: f64,
    pub exact: bool,
    pub held: bool,
}

/// Each limit of `limits` judged against `answer`'s row of its level. A limit whose
/// level or entrypoint `answer` does not have is left out (the command line asked other
/// levels): the caller says so.
pub fn judge(answer: &Availability, limits: &[crate::model::MinAvailability]) -> Vec<Judged> {
    limits
        .iter()
        .filter_map(|limit| {
            let row = answer.rows.iter().find(|row| row.amount == limit.amount)?;
            let estimate = match &limit.entrypoint {
                None => row.fleet,
                Some(name) => {
                    let e = answer.entrypoints.iter().position(|e| &e.name == name)?;
                    row.entrypoints[e].0
                }
            };
            Some(Judged {
                amount: limit.amount,
                entrypoint: limit.entrypoint.clone(),
                min: limit.min,
                value: estimate.value,
                exact: row.exact,
                // A share equal to the limit in print but a rounding below it is held.
                held: estimate.value >= limit.min - 1e-12,
            })
        })
        .collect()
}

/// The seed purpose of failure set `i` drawn at `amount` (listed in src/seed.rs).
pub fn draw_purpose(amount: Amount, i: usize) -> String {
    format!("availability/{amount}/{i}")
}

/// Runs `work` on `0..n` in blocks of [`BLOCK`] on up to `workers` threads, and returns
/// the blocks' results in block order.
fn blocks<T: Send>(
    n: usize,
    workers: usize,
    work: impl Fn(std::ops::Range<usize>, &mut Scratch) -> T + Sync,
) -> Vec<T> {
    let count = n.div_ceil(BLOCK);
    let next = AtomicUsize::new(0);
    let threads = workers.clamp(1, count.max(1));
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut scratch = Scratch::default();
                    let mut mine = Vec::new();
                    loop {
                        let block = next.fetch_add(1, Ordering::Relaxed);
                        if block >= count {
                            return mine;
                        }
                        let range = block * BLOCK..((block + 1) * BLOCK).min(n);
                        mine.push((block, work(range, &mut scratch)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("an availability worker panicked"))
            .collect()
    });
    done.sort_by_key(|(block, _)| *block);
    done.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(yaml: &str, unit: Unit, amounts: &[Amount], workers: usize) -> Availability {
        let scenario =
            crate::scenario::parse_str(yaml, std::path::Path::new("t.yaml")).expect("valid");
        let flags = scenario.initial_flags();
        let question = Question {
            scenario: &scenario,
            deployment: &scenario.initial,
            flags: &flags,
            unit,
            spared: Vec::new(),
            degraded_lost: false,
            budget: BUDGET,
            samples: 2000,
            seed: 1,
            workers,
        };
        availability(&question, amounts).expect("answerable")
    }

    /// web needs db; eleven more services nobody calls.
    fn twelve() -> String {
        let mut yaml = String::from(
            "name: twelve\nservices:\n  web:\n    entrypoint: true\n    versions: { v1: { calls: [ { service: db } ] } }\n  db: { versions: { v1: {} } }\n",
        );
        let mut initial = String::from("initial: { web: v1, db: v1");
        for i in 0..10 {
            yaml.push_str(&format!("  s{i}: {{ versions: {{ v1: {{}} }} }}\n"));
            initial.push_str(&format!(", s{i}: v1"));
        }
        yaml + &initial + " }\n"
    }

    #[test]
    fn a_required_service_among_twelve_and_two_kills_serves_45_of_66() {
        // web is served when neither web nor db is among the two: C(10, 2) = 45 of 66.
        let answer = answer(&twelve(), Unit::Service, &[Amount::Kill(2)], 1);
        let row = &answer.rows[0];
        assert!(row.exact);
        assert_eq!(row.evaluated, 66);
        assert!((row.fleet.value - 45.0 / 66.0).abs() < 1e-12, "{row:?}");
    }

    #[test]
    fn a_flag_at_a_percent_weighs_its_outcomes() {
        // The call to the missing db is behind a flag on for 30% of users: 70% served.
        let yaml = "
name: flagged
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: db, flag: new-db } ] } }
  db: { versions: { v1: {} } }
initial: { web: v1 }
flags: { new-db: { on: true, percent: 30 } }
";
        let answer = answer(yaml, Unit::Service, &[Amount::Kill(0)], 1);
        assert!(
            (answer.rows[0].fleet.value - 0.7).abs() < 1e-12,
            "{answer:?}"
        );
    }

    #[test]
    fn past_the_budget_sets_are_drawn_and_the_interval_holds_the_exact_value() {
        let yaml = twelve();
        let exact = answer(&yaml, Unit::Service, &[Amount::Kill(2)], 2);
        let scenario =
            crate::scenario::parse_str(&yaml, std::path::Path::new("t.yaml")).expect("valid");
        let flags = scenario.initial_flags();
        let question = Question {
            scenario: &scenario,
            deployment: &scenario.initial,
            flags: &flags,
            unit: Unit::Service,
            spared: Vec::new(),
            degraded_lost: false,
            budget: 10.0,
            samples: 5000,
            seed: 3,
            workers: 2,
        };
        let drawn = availability(&question, &[Amount::Kill(2)]).expect("answerable");
        let one = availability(
            &Question {
                workers: 1,
                ..question.clone()
            },
            &[Amount::Kill(2)],
        )
        .expect("answerable");
        assert_eq!(drawn, one, "the same on one thread or two");
        let row = &drawn.rows[0];
        assert!(!row.exact);
        let value = exact.rows[0].fleet.value;
        assert!(row.fleet.low <= value && value <= row.fleet.high, "{row:?}");
    }

    #[test]
    fn capacity_is_refused_with_the_versions_that_have_it() {
        let yaml = "
name: capacity
services:
  web:
    entrypoint: true
    versions: { v1: { capacity: { workers: 2 } } }
initial: { web: v1 }
";
        let scenario =
            crate::scenario::parse_str(yaml, std::path::Path::new("t.yaml")).expect("valid");
        let flags = scenario.initial_flags();
        let question = Question {
            scenario: &scenario,
            deployment: &scenario.initial,
            flags: &flags,
            unit: Unit::Replica,
            spared: Vec::new(),
            degraded_lost: false,
            budget: BUDGET,
            samples: SAMPLES,
            seed: 1,
            workers: 1,
        };
        assert_eq!(
            availability(&question, &[Amount::Kill(1)]),
            Err(Refusal::Capacity(vec![("web".to_owned(), "v1".to_owned())]))
        );
    }
}
