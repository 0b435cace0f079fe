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

pub mod part;
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

impl<'a> Question<'a> {
    /// The initial deployment with `flags`, replicas as units, nothing spared, degraded
    /// answers served, the default budget and samples, seed 1 and one worker: what
    /// callers then change field by field.
    pub fn initial(scenario: &'a Scenario, flags: &'a Flags) -> Question<'a> {
        Question {
            scenario,
            deployment: &scenario.initial,
            flags,
            unit: Unit::Replica,
            spared: Vec::new(),
            degraded_lost: false,
            budget: BUDGET,
            samples: SAMPLES,
            seed: 1,
            workers: 1,
        }
    }
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

/// Shares served: of the whole load, and per entrypoint (in [`Availability::entrypoints`]
/// order) its own and each method's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Shares {
    /// Entrypoints weighed by their rates.
    pub fleet: Estimate,
    pub entrypoints: Vec<(Estimate, Vec<Estimate>)>,
}

/// A level's shares from the evaluator.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Predicted {
    /// Every down set enumerated (a point value), or failure sets drawn (an interval).
    pub exact: bool,
    /// Set when the deployment holds more flags at a percent than the evaluator splits
    /// requests by ([`crate::eval::graph::MAX_SPLIT_FLAGS`]): each call then takes them
    /// both on and off, and the shares are a lower bound (how many there are).
    pub lower_bound: Option<usize>,
    /// Down sets evaluated (exact) or failure sets drawn.
    pub evaluated: u64,
    pub shares: Shares,
}

/// A level's shares measured on servers, set by set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Measured {
    pub trials: u64,
    /// Means over the trials, with their 95% intervals.
    pub shares: Shares,
    /// Whether each trial was held to the evaluator's prediction for its own set (not
    /// where the deployment has capacity, since a dead replica there loads the others,
    /// nor where the prediction is only a lower bound).
    pub held_to_prediction: bool,
    /// Trials whose every method measured what the evaluator predicts for their set.
    pub agreed: u64,
    /// Where a trial measured something else than the evaluator predicts for its set.
    pub disagreements: Vec<Disagreement>,
}

/// A method of a trial that measured other than predicted for its failure set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Disagreement {
    pub trial: u32,
    /// The failure set: each service with failed units, how many, and of how many.
    pub failed: Vec<(String, u32, u32)>,
    pub entrypoint: String,
    pub method: String,
    pub predicted: f64,
    pub measured: f64,
    pub sent: u64,
}

/// At most this many disagreements are listed per level (the sets that disagree are all
/// counted: `trials - agreed`).
pub const MAX_DISAGREEMENTS: usize = 20;

/// One level of the model, answered.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    pub amount: Amount,
    /// The base-10 logarithm of the number of failure sets of the model (a count that
    /// outgrows every number type).
    pub failure_sets_log10: f64,
    /// `None` where the deployment has capacity (out of the evaluator's reach).
    pub predicted: Option<Predicted>,
    /// `None` unless trials were asked.
    pub measured: Option<Measured>,
}

impl Row {
    /// The shares a limit is judged on: the evaluator's where it has them, else the
    /// measured ones; and where they come from.
    pub fn judged(&self) -> Option<(&Shares, Source)> {
        match (&self.predicted, &self.measured) {
            (Some(predicted), _) if predicted.exact => Some((&predicted.shares, Source::Exact)),
            (Some(predicted), _) => Some((&predicted.shares, Source::Drawn)),
            (None, Some(measured)) => Some((&measured.shares, Source::Measured)),
            (None, None) => None,
        }
    }
}

/// The answer: the units, the entrypoints and one row per level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Availability {
    pub unit: Unit,
    /// The services that may fail, and their units.
    pub candidates: Vec<(String, u32)>,
    pub spared: Vec<String>,
    pub degraded_lost: bool,
    /// Versions of the deployment with a `capacity` (then nothing is predicted).
    pub capacity: Vec<(String, String)>,
    pub entrypoints: Vec<Entry>,
    pub rows: Vec<Row>,
}

/// What one measured trial counted: per method (flattened, entrypoint by entrypoint, in
/// [`Availability::entrypoints`] order) the entry requests served and sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrialCounts {
    pub trial: u32,
    /// Per candidate, its failed units.
    pub failed: Vec<u32>,
    pub methods: Vec<(u64, u64)>,
}

/// A question made ready to answer: the scenario compiled, the units, the entrypoints.
#[derive(Debug)]
pub struct Fleet<'a> {
    question: &'a Question<'a>,
    graph: Graph,
    base: State,
    percents: Vec<u8>,
    /// The graph's service index of each candidate.
    slots: Vec<usize>,
    pub candidates: Vec<(String, u32)>,
    pub units: Units,
    pub entrypoints: Vec<Entry>,
    pub capacity: Vec<(String, String)>,
    /// More flags at a percent than the evaluator splits requests by, when there are.
    pub lower_bound: Option<usize>,
}

/// Answers `question` at each of `amounts` from the evaluator alone (no trials).
pub fn availability(question: &Question, amounts: &[Amount]) -> Result<Availability, Refusal> {
    let fleet = Fleet::new(question, amounts)?;
    if !fleet.capacity.is_empty() {
        return Err(Refusal::Capacity(fleet.capacity.clone()));
    }
    let rows = amounts
        .iter()
        .map(|&amount| fleet.row(amount, None))
        .collect();
    Ok(fleet.answer(rows))
}

impl<'a> Fleet<'a> {
    /// Compiles `question`; refuses a spared service the scenario does not have, a level
    /// with more units than may fail, a probability outside [0, 1].
    pub fn new(question: &'a Question<'a>, amounts: &[Amount]) -> Result<Fleet<'a>, Refusal> {
        let scenario = question.scenario;
        if let Some(unknown) = question
            .spared
            .iter()
            .find(|name| !scenario.services.contains_key(*name))
        {
            return Err(Refusal::UnknownService(unknown.clone()));
        }
        let capacity: Vec<(String, String)> = scenario
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
                Amount::Each(p) if !(0.0..=1.0).contains(&p) => {
                    return Err(Refusal::Probability(p));
                }
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
        let split = percents.iter().filter(|p| **p > 0 && **p < 100).count();
        let lower_bound = (split > crate::eval::graph::MAX_SPLIT_FLAGS).then_some(split);
        Ok(Fleet {
            question,
            graph,
            base,
            percents,
            slots,
            candidates,
            units,
            entrypoints,
            capacity,
            lower_bound,
        })
    }

    /// The answer made of `rows`.
    pub fn answer(self, rows: Vec<Row>) -> Availability {
        Availability {
            unit: self.question.unit,
            candidates: self.candidates,
            spared: self.question.spared.clone(),
            degraded_lost: self.question.degraded_lost,
            capacity: self.capacity,
            entrypoints: self.entrypoints,
            rows,
        }
    }

    /// The row of `amount`: predicted unless the deployment has capacity, with the
    /// measured trials' shares when there are trials.
    pub fn row(&self, amount: Amount, trials: Option<&[TrialCounts]>) -> Row {
        Row {
            amount,
            failure_sets_log10: self.units.failure_sets_log10(amount),
            predicted: self.capacity.is_empty().then(|| self.predicted(amount)),
            measured: trials.map(|trials| self.measured(trials)),
        }
    }

    /// The share served of every method (flattened, entrypoint by entrypoint) with the
    /// candidates `down` down, added times `weight` into `into`.
    fn add_served(&self, down: &[usize], weight: f64, scratch: &mut Scratch, into: &mut [f64]) {
        let state = scratch.state.get_or_insert_with(|| self.base.clone());
        state.serving.clone_from(&self.base.serving);
        for &candidate in down {
            state.serving[self.slots[candidate]] = 0;
        }
        let degraded_lost = self.question.degraded_lost;
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

    /// Per entrypoint its share from the methods' shares `methods` (`None`: not measured,
    /// left out and the others' weights scaled up; an entrypoint with none measured is
    /// `None`), then the whole load's over the entrypoints measured.
    fn entry_shares(&self, methods: &[Option<f64>]) -> (Vec<Option<f64>>, Option<f64>) {
        let mut next = methods.iter();
        let entries: Vec<Option<f64>> = self
            .entrypoints
            .iter()
            .map(|entry| {
                let (mut sum, mut weights) = (0.0, 0.0);
                for (_, share) in &entry.methods {
                    if let Some(Some(served)) = next.next() {
                        sum += share * served;
                        weights += share;
                    }
                }
                (weights > 0.0).then(|| sum / weights)
            })
            .collect();
        let (mut sum, mut rates) = (0.0, 0.0);
        for (entry, share) in self.entrypoints.iter().zip(&entries) {
            if let Some(share) = share {
                sum += f64::from(entry.rps) * share;
                rates += f64::from(entry.rps);
            }
        }
        let fleet = (rates > 0.0).then(|| sum / rates);
        (entries, fleet)
    }

    /// Shares as means with intervals over `samples`, each the methods' shares of one
    /// failure set; a share not measured in a sample is left out of its mean.
    fn mean_shares(&self, samples: &[Vec<Option<f64>>]) -> Shares {
        let shares: Vec<(Vec<Option<f64>>, Option<f64>)> =
            samples.iter().map(|s| self.entry_shares(s)).collect();
        let mut offset = 0;
        let entrypoints = self
            .entrypoints
            .iter()
            .enumerate()
            .map(|(e, entry)| {
                let methods = (0..entry.methods.len())
                    .map(|m| {
                        let values: Vec<f64> =
                            samples.iter().filter_map(|s| s[offset + m]).collect();
                        stats::share(&values)
                    })
                    .collect();
                offset += entry.methods.len();
                let values: Vec<f64> = shares
                    .iter()
                    .filter_map(|(entries, _)| entries[e])
                    .collect();
                (stats::share(&values), methods)
            })
            .collect();
        let values: Vec<f64> = shares.iter().filter_map(|(_, fleet)| *fleet).collect();
        Shares {
            fleet: stats::share(&values),
            entrypoints,
        }
    }

    /// The evaluator's shares at `amount`: exact within the budget, else drawn.
    fn predicted(&self, amount: Amount) -> Predicted {
        let question = self.question;
        if self.units.down_sets(amount) <= question.budget {
            // Chunk by chunk of the enumeration, block by block within a chunk: the
            // sums are added in one order whatever the number of workers.
            let mut methods = vec![0.0; self.methods()];
            let mut evaluated = 0u64;
            self.units.enumerate(amount, |chunk| {
                evaluated += chunk.len() as u64;
                let sums = blocks(chunk.len(), question.workers, |range, scratch| {
                    let mut sum = vec![0.0; self.methods()];
                    for (down, weight) in &chunk[range] {
                        self.add_served(down, *weight, scratch, &mut sum);
                    }
                    sum
                });
                for block in sums {
                    for (total, part) in methods.iter_mut().zip(block) {
                        *total += part;
                    }
                }
            });
            let measured: Vec<Option<f64>> = methods.iter().copied().map(Some).collect();
            let (entries, fleet) = self.entry_shares(&measured);
            let exact = |value: f64| Estimate {
                value,
                low: value,
                high: value,
                n: evaluated,
            };
            let mut next = methods.iter();
            return Predicted {
                exact: true,
                lower_bound: self.lower_bound,
                evaluated,
                shares: Shares {
                    fleet: exact(fleet.unwrap_or(0.0)),
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
                            (exact(share.unwrap_or(0.0)), methods)
                        })
                        .collect(),
                },
            };
        }
        // Past the budget: draw failure sets, set i from its own stream of the seed (the
        // same set measured trial i runs).
        let samples = question.samples.max(1) as usize;
        let per_sample = blocks(samples, question.workers, |range, scratch| {
            range
                .map(|i| {
                    let down = self.units.down(&self.draw(amount, i as u32));
                    let mut served = vec![0.0; self.methods()];
                    self.add_served(&down, 1.0, scratch, &mut served);
                    served.into_iter().map(Some).collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        });
        let per_sample: Vec<Vec<Option<f64>>> = per_sample.into_iter().flatten().collect();
        Predicted {
            exact: false,
            lower_bound: self.lower_bound,
            evaluated: samples as u64,
            shares: self.mean_shares(&per_sample),
        }
    }

    /// Failure set `i` of `amount`: per candidate, its failed units.
    pub fn draw(&self, amount: Amount, i: u32) -> Vec<u32> {
        let mut rng = crate::seed::rng(self.question.seed, &draw_purpose(amount, i));
        self.units.draw(amount, &mut rng)
    }

    /// The measured trials' shares, each trial held to the evaluator's prediction for its
    /// own failure set (where the deployment has no capacity).
    fn measured(&self, trials: &[TrialCounts]) -> Measured {
        let samples: Vec<Vec<Option<f64>>> = trials
            .iter()
            .map(|trial| {
                trial
                    .methods
                    .iter()
                    .map(|&(served, sent)| (sent > 0).then(|| served as f64 / sent as f64))
                    .collect()
            })
            .collect();
        let held = self.capacity.is_empty() && self.lower_bound.is_none();
        let mut agreed = 0;
        let mut disagreements = Vec::new();
        let mut scratch = Scratch::default();
        for trial in trials.iter().filter(|_| held) {
            let mut predicted = vec![0.0; self.methods()];
            self.add_served(
                &self.units.down(&trial.failed),
                1.0,
                &mut scratch,
                &mut predicted,
            );
            let mut all = true;
            let names = self
                .entrypoints
                .iter()
                .flat_map(|e| e.methods.iter().map(move |(m, _)| (&e.name, m)));
            for ((entry, method), (&p, &(served, sent))) in
                names.zip(predicted.iter().zip(&trial.methods))
            {
                if sent == 0 || agrees(p, served, sent) {
                    continue;
                }
                all = false;
                if disagreements.len() < MAX_DISAGREEMENTS {
                    disagreements.push(Disagreement {
                        trial: trial.trial,
                        failed: self
                            .candidates
                            .iter()
                            .zip(&trial.failed)
                            .filter(|(_, f)| **f > 0)
                            .map(|((name, units), f)| (name.clone(), *f, *units))
                            .collect(),
                        entrypoint: entry.clone(),
                        method: method.clone(),
                        predicted: p,
                        measured: served as f64 / sent as f64,
                        sent,
                    });
                }
            }
            agreed += u64::from(all);
        }
        Measured {
            trials: trials.len() as u64,
            shares: self.mean_shares(&samples),
            held_to_prediction: held,
            agreed,
            disagreements,
        }
    }
}

/// Whether `served` of `sent` requests measure a predicted share `p`: exactly where the
/// prediction is all or nothing (a state decides every request alike), and within four
/// standard deviations of a binomial draw (plus one request) where a flag at a percent
/// splits the users.
pub fn agrees(p: f64, served: u64, sent: u64) -> bool {
    let n = sent as f64;
    let measured = served as f64 / n;
    if p <= 1e-12 {
        return served == 0;
    }
    if p >= 1.0 - 1e-12 {
        return served == sent;
    }
    (measured - p).abs() <= 4.0 * (p * (1.0 - p) / n).sqrt() + 1.0 / n
}

/// Per-thread buffers, so that a million evaluations allocate nothing.
#[derive(Default)]
struct Scratch {
    state: Option<State>,
    outcomes: Vec<u8>,
    levels: Vec<Level>,
}

/// Where a judged share comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Every down set enumerated.
    Exact,
    /// The mean over failure sets drawn past the budget.
    Drawn,
    /// The mean over the measured trials (no prediction: capacity).
    Measured,
}

/// One `availability.expect` limit against its row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Judged {
    pub amount: Amount,
    /// `None`: the whole load.
    pub entrypoint: Option<String>,
    pub min: f64,
    /// The share served at that level: the evaluator's (exact, or the mean of the drawn
    /// sets), or where it has none (capacity) the measured trials' mean.
    pub value: f64,
    pub source: Source,
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
            let (shares, source) = row.judged()?;
            let estimate = match &limit.entrypoint {
                None => shares.fleet,
                Some(name) => {
                    let e = answer.entrypoints.iter().position(|e| &e.name == name)?;
                    shares.entrypoints[e].0
                }
            };
            Some(Judged {
                amount: limit.amount,
                entrypoint: limit.entrypoint.clone(),
                min: limit.min,
                value: estimate.value,
                source,
                // A share equal to the limit in print but a rounding below it is held.
                held: estimate.value >= limit.min - 1e-12,
            })
        })
        .collect()
}

/// The seed purpose of failure set `i` drawn at `amount` (listed in src/seed.rs).
pub fn draw_purpose(amount: Amount, i: u32) -> String {
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

    fn parse(yaml: &str) -> (Scenario, Flags) {
        let scenario =
            crate::scenario::parse_str(yaml, std::path::Path::new("t.yaml")).expect("valid");
        let flags = scenario.initial_flags();
        (scenario, flags)
    }

    /// The initial deployment, replicas as units, the default budget, 2,000 samples.
    fn question<'a>(scenario: &'a Scenario, flags: &'a Flags) -> Question<'a> {
        Question {
            samples: 2000,
            ..Question::initial(scenario, flags)
        }
    }

    fn answer(yaml: &str, unit: Unit, amounts: &[Amount], workers: usize) -> Availability {
        let (scenario, flags) = parse(yaml);
        let question = Question {
            unit,
            workers,
            ..question(&scenario, &flags)
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
        let predicted = answer.rows[0].predicted.as_ref().expect("predicted");
        assert!(predicted.exact);
        assert_eq!(predicted.evaluated, 66);
        let fleet = predicted.shares.fleet.value;
        assert!((fleet - 45.0 / 66.0).abs() < 1e-12, "{predicted:?}");
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
        let predicted = answer.rows[0].predicted.as_ref().expect("predicted");
        assert!(
            (predicted.shares.fleet.value - 0.7).abs() < 1e-12,
            "{answer:?}"
        );
    }

    #[test]
    fn past_the_budget_sets_are_drawn_and_the_interval_holds_the_exact_value() {
        let yaml = twelve();
        let exact = answer(&yaml, Unit::Service, &[Amount::Kill(2)], 2);
        let (scenario, flags) = parse(&yaml);
        let question = Question {
            unit: Unit::Service,
            budget: 10.0,
            samples: 5000,
            seed: 3,
            workers: 2,
            ..question(&scenario, &flags)
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
        let drawn = drawn.rows[0].predicted.as_ref().expect("predicted");
        assert!(!drawn.exact);
        let value = exact.rows[0]
            .predicted
            .as_ref()
            .expect("predicted")
            .shares
            .fleet
            .value;
        let fleet = drawn.shares.fleet;
        assert!(fleet.low <= value && value <= fleet.high, "{drawn:?}");
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
        let (scenario, flags) = parse(yaml);
        let question = question(&scenario, &flags);
        assert_eq!(
            availability(&question, &[Amount::Kill(1)]),
            Err(Refusal::Capacity(vec![("web".to_owned(), "v1".to_owned())]))
        );
    }
}
