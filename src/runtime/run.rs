//! The live run of one strategy: fresh servers from `initial`, open-loop load, the
//! baseline, each step and its bake time, the gate, faults, and a rollback when the gate
//! asks for one.
//!
//! A step: requests count for it from its start; the requests of the step before are
//! let finish first (at most [`PREVIOUS_STEP_LIMIT`]), so each request meets only the states of
//! its own step; then the new replicas start and get their `startup_ms`; then the
//! transient state holds for half the bake time (`step_ms`); then the settled state for
//! the other half. These are the states `check` predicts, and each step's prediction,
//! made with the faults that were actually in force, is reported next to what was
//! measured.
//!
//! A step's flag changes are made at its start, in one switch (entry requests carry the
//! flags they arrived with, so the switch needs no drain). A rollback step undoes in
//! reverse order: the services move back first, then the flags return. The gate's kill
//! switch unreleases every flag released so far at once, in a step of its own, and stops.
//!
//! Step numbering in the result: 0 is the baseline, 1..=n the rollout steps that ran,
//! then one step per rollback of an applied rollout step, newest first (or the kill
//! switch).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::eval;
use crate::eval::{Graph, Level};
use crate::model::{Breach, Change, FlagChange, Flags, Scenario, Strategy};
use crate::plan::Plan;
use crate::record::StepKind;
use crate::record::expect;
use crate::record::result::{Ending, Mitigation, StepResult, StrategyRun, measured_level};
use crate::record::{Event, Part, Recorder};
use crate::runtime::cluster::{Cluster, StartError};
use crate::runtime::fault;
use crate::runtime::flags::FlagBoard;
use crate::runtime::interrupt::Interrupt;
use crate::runtime::load::{Entry, Load};

/// How long the end of a run waits for the entry requests still in flight, after an
/// interrupt (a user who pressed Ctrl-C wants the report now; the interrupted step is
/// not judged, and the requests given up are counted as such).
const INTERRUPT_DRAIN: Duration = Duration::from_millis(100);

/// How long a step waits, at its start, for the requests of the step before to answer.
pub const PREVIOUS_STEP_LIMIT: Duration = Duration::from_secs(1);

/// Settings of a live run that are not in the scenario.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Set on Ctrl-C; the run stops, measures what ran and returns.
    pub interrupt: Interrupt,
    /// Set for a run across processes (`--net processes`): every replica a child.
    pub processes: Option<crate::runtime::child::Spawn>,
}

/// Something that wants to hear about progress (the terminal, when it is one).
pub trait Progress: Send + Sync {
    fn step_started(&self, strategy: &str, kind: StepKind, planned: usize);
}

/// Runs `plan` live. Every server it starts is stopped before it returns.
pub async fn run(
    scenario: Arc<Scenario>,
    strategy: &Strategy,
    plan: &Plan,
    options: &Options,
    progress: Option<&dyn Progress>,
) -> Result<StrategyRun, StartError> {
    // Steps: the baseline, each rollout step, and at most as many rollback steps (or the
    // kill switch) after them. Counters: an edge per call of any version, one per
    // service, one per entrypoint's edge.
    let counters = scenario.every_call().count() + 2 * scenario.services.len();
    let entries = scenario.entrypoints().map(|s| s.name.clone()).collect();
    let recorder = Arc::new(Recorder::for_run(
        2 * plan.steps.len() + 1,
        counters,
        entries,
    ));
    let mut cluster = Cluster::new(Arc::clone(&scenario), options.seed, Arc::clone(&recorder));
    if let Some(spawn) = &options.processes {
        cluster = cluster.across_processes(crate::runtime::child::Fleet {
            spawn: spawn.clone(),
            seed: options.seed,
            steps: 2 * plan.steps.len() + 1,
            counters,
        });
    }
    let cluster = Arc::new(cluster);
    if let Err(err) = cluster.deploy_initial().await {
        cluster.shutdown().await;
        return Err(err);
    }
    let graph = Graph::new(&scenario);
    let settled = graph.settled(&scenario.initial, &scenario.initial_flags());
    let mut runner = Runner {
        graph,
        settled,
        scenario: Arc::clone(&scenario),
        cluster: Arc::clone(&cluster),
        flags: Arc::new(FlagBoard::new(scenario.initial_flags())),
        seed: options.seed,
        mitigated: None,
        recorder,
        interrupt: options.interrupt.clone(),
        fault_clock: watch::channel(0usize).0,
        steps: Vec::new(),
        strategy: strategy.name.clone(),
        progress,
    };
    let started = Instant::now();
    let result = runner.execute(plan, strategy).await;
    let running = cluster.running().await;
    // A user who pressed Ctrl-C wants the report now: the servers are left to the
    // runtime's end rather than drained (the load has given up their requests already).
    if options.interrupt.is_set() {
        cluster.abandon_all().await;
    } else {
        cluster.shutdown().await;
    }
    let (ending, scheduled) = result?;
    let ended = Ended {
        ending,
        duration: started.elapsed(),
        scheduled,
        running,
        planned_steps: plan.last_step(),
    };
    Ok(runner.finish(strategy, ended))
}

/// How a run ended, as `finish` needs it to build the whole result.
struct Ended {
    ending: Ending,
    duration: Duration,
    /// Entry requests the load generator scheduled.
    scheduled: u64,
    /// The version of every replica still running when the rollout ended, per service.
    running: BTreeMap<String, Vec<String>>,
    /// The rollout steps the plan has (after the baseline).
    planned_steps: usize,
}

/// A step as it was run: what it was, its changes, the flags before, during its moves,
/// and after, and what the runner itself saw of it. One record per step, so nothing
/// about a step lives in a vector of its own that must stay in step. The deployments
/// before and after are not kept (a fleet's worth per step): `finish` replays them from
/// the changes.
struct Ran {
    kind: StepKind,
    changes: Vec<Change>,
    flag_changes: Vec<FlagChange>,
    flags_before: Flags,
    flags_during: Flags,
    flags_after: Flags,
    /// From the start of the step to the end of its bake time (or its interruption).
    duration: Duration,
    /// How much longer than asked the runner's own timed waits took (startup, bake):
    /// time the machine, not the services, added.
    overrun: Duration,
    /// When its settled part began: the flip of a step with no service to move, the end
    /// of the moves otherwise; `None` while it has not.
    settled_at: Option<Instant>,
    /// The gate was checked after this step and breached.
    gate_breached: bool,
    /// What `check` predicts for the step, once it has ended.
    predicted: Option<eval::StepLevels>,
}

/// When a step's flag changes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagsAt {
    /// At the step's start (a rollout step, the kill switch).
    Start,
    /// Once the step's services have moved (a rollback step).
    End,
}

struct Runner<'a> {
    /// The scenario compiled, for each step's prediction.
    graph: Graph,
    /// The settled state before the first step not predicted yet: steps are predicted
    /// as they end (`predict_ended`), so that a run's end, or its interruption, has at
    /// most one step left to predict.
    settled: eval::State,
    scenario: Arc<Scenario>,
    cluster: Arc<Cluster>,
    /// The flags every request reads, changed by steps and the kill switch.
    flags: Arc<FlagBoard>,
    seed: u64,
    /// The gate's breach that a rollback or kill switch answers: the action, the
    /// breached step and when the gate decided.
    mitigated: Option<(Breach, usize, Instant)>,
    recorder: Arc<Recorder>,
    interrupt: Interrupt,
    /// The rollout step whose fault clocks have started: a fault of step N waits for it.
    /// It moves once the step before has finished its requests, so a fault of step N
    /// never meets a request counted in step N - 1.
    fault_clock: watch::Sender<usize>,
    steps: Vec<Ran>,
    strategy: String,
    progress: Option<&'a dyn Progress>,
}

impl Runner<'_> {
    /// Runs the rollout under load; returns how it ended and how many entry requests the
    /// load generator scheduled.
    async fn execute(
        &mut self,
        plan: &Plan,
        strategy: &Strategy,
    ) -> Result<(Ending, u64), StartError> {
        let load = self.start_load();
        // Fault tasks are owned here: aborted and joined before the run ends, so none
        // outlives it (a replica a fault was starting is dropped, which stops it).
        let mut faults = tokio::task::JoinSet::new();
        for (index, fault) in self.scenario.faults.iter().enumerate() {
            faults.spawn(fault::run(
                index,
                fault.clone(),
                Arc::clone(&self.cluster),
                Arc::clone(&self.recorder),
                self.fault_clock.subscribe(),
            ));
        }

        let result = self.roll(plan, strategy).await;
        let drain = if matches!(result, Ok(Ending::Interrupted)) {
            INTERRUPT_DRAIN
        } else {
            crate::runtime::load::ENTRY_DEADLINE
        };
        let scheduled = load.finish(drain).await;
        faults.abort_all();
        while faults.join_next().await.is_some() {}
        result.map(|ending| (ending, scheduled))
    }

    /// The load generator's bound on outstanding entry requests.
    fn start_load(&self) -> Load {
        let entries: Vec<Entry> = self
            .scenario
            .entrypoints()
            .filter_map(|service| {
                let link = self.cluster.link(crate::contract::CLIENT, &service.name)?;
                Some(Entry {
                    service: service.name.clone(),
                    api: self.scenario.entry_api(&service.name),
                    link,
                    rps: self.scenario.load.rps_of(&service.name),
                    mix: self.scenario.load.mix_of(&service.name),
                })
            })
            .collect();
        let load = &self.scenario.load;
        let context = crate::runtime::load::Context {
            recorder: Arc::clone(&self.recorder),
            flags: Arc::clone(&self.flags),
            seed: self.seed,
        };
        let rps: u64 = entries.iter().map(|entry| u64::from(entry.rps)).sum();
        Load::start(entries, in_flight_bound(load.max_in_flight, rps), &context)
    }

    async fn roll(&mut self, plan: &Plan, strategy: &Strategy) -> Result<Ending, StartError> {
        let baseline = self.scenario.load.baseline;
        let started = Instant::now();
        self.begin(
            StepKind::Baseline,
            Vec::new(),
            Vec::new(),
            FlagsAt::Start,
            plan,
        );
        let waited = self.wait(baseline).await;
        self.close_step(started);
        if !waited {
            return Ok(Ending::Interrupted);
        }
        let mut applied: Vec<&crate::plan::Step> = Vec::new();
        for step in plan.steps.iter().skip(1) {
            if !self
                .step(
                    StepKind::Rollout(step.index),
                    step.changes.clone(),
                    step.flag_changes.clone(),
                    FlagsAt::Start,
                    plan,
                )
                .await?
            {
                return Ok(Ending::Interrupted);
            }
            applied.push(step);
            let Some(gate) = &self.scenario.gate else {
                continue;
            };
            let on_breach = self.scenario.on_breach(strategy).unwrap_or(gate.on_breach);
            let index = self.steps.len() - 1;
            if !self.with_overrun(index, self.recorder.lag(index)).kept_up() {
                // The run is inconclusive whatever the gate does; going on measures the
                // remaining steps, which may still show a real failure.
                self.recorder.event(Event::GateNotJudged);
                continue;
            }
            // The gate judges what has answered by the end of the bake time; requests
            // still in flight count in the step's report later, not here.
            let seen = self.recorder.total(index);
            if seen.failed_ratio() <= gate.max_failed_ratio {
                if seen.failed > 0 {
                    self.recorder.event(Event::GatePassed {
                        failed: seen.failed,
                        answered: seen.requests(),
                        startup: crate::eval::step_startup(&self.scenario, &step.changes)
                            + crate::eval::recreate_startup(&self.scenario, &step.changes),
                    });
                }
                continue;
            }
            self.recorder.event(Event::GateBreached {
                failed: seen.failed,
                answered: seen.requests(),
            });
            self.steps[index].gate_breached = true;
            let decided = Instant::now();
            match on_breach {
                Breach::Continue => {}
                Breach::Stop => return Ok(Ending::Stopped),
                Breach::KillSwitch => return self.kill_switch(index, decided, plan).await,
                Breach::Rollback => return self.rollback(&applied, index, decided, plan).await,
            }
        }
        Ok(Ending::Completed)
    }

    /// The gate's kill switch after the breach of step `breached`: every flag a step of
    /// this run turned on, or up, goes back to where it was before the rollout (off, or
    /// the share it had), in a step of its own; then the rollout stops.
    async fn kill_switch(
        &mut self,
        breached: usize,
        decided: Instant,
        plan: &Plan,
    ) -> Result<Ending, StartError> {
        let initial = self.scenario.initial_flags();
        let now = self.flags.now();
        let back: Vec<FlagChange> = now
            .0
            .iter()
            .filter(|(name, setting)| setting.share() > initial.share(name))
            .map(|(name, _)| match initial.0.get(name) {
                Some(setting) if setting.share() > 0 => {
                    FlagChange::Percent(name.clone(), setting.percent)
                }
                _ => FlagChange::Unrelease(name.clone()),
            })
            .collect();
        if back.is_empty() {
            // Nothing to switch off: the breach did not come from a flag.
            self.recorder.event(Event::NothingToSwitchOff);
            return Ok(Ending::Stopped);
        }
        self.mitigated = Some((Breach::KillSwitch, breached, decided));
        let kind = StepKind::KillSwitch(plan_step(self.steps[breached].kind));
        let switched = self
            .step(kind, Vec::new(), back, FlagsAt::Start, plan)
            .await?;
        Ok(if switched {
            Ending::Switched
        } else {
            Ending::Interrupted
        })
    }

    /// The rollback after the breach of step `breached`: each applied step undone,
    /// newest first, its services moved back and then its flags returned.
    async fn rollback(
        &mut self,
        applied: &[&crate::plan::Step],
        breached: usize,
        decided: Instant,
        plan: &Plan,
    ) -> Result<Ending, StartError> {
        self.mitigated = Some((Breach::Rollback, breached, decided));
        // The flags before each applied step (flags are few: a copy per step is cheap).
        let mut flags = self.scenario.initial_flags();
        let mut flags_before: Vec<Flags> = vec![flags.clone()];
        for step in applied {
            for change in &step.flag_changes {
                flags.apply(change);
            }
            flags_before.push(flags.clone());
        }
        for (i, step) in applied.iter().enumerate().rev() {
            let undo: Vec<Change> = step
                .changes
                .iter()
                .map(|change| Change {
                    service: change.service.clone(),
                    from: change.to.clone(),
                    to: change.from.clone(),
                })
                .collect();
            let back = self.flags.now().back_to(&flags_before[i]);
            let kind = StepKind::Rollback(step.index);
            if !self.step(kind, undo, back, FlagsAt::End, plan).await? {
                return Ok(Ending::Interrupted);
            }
        }
        Ok(Ending::RolledBack)
    }

    /// Runs one step through its three moves (see the module documentation). False when
    /// interrupted.
    async fn step(
        &mut self,
        kind: StepKind,
        changes: Vec<Change>,
        flag_changes: Vec<FlagChange>,
        flags_at: FlagsAt,
        plan: &Plan,
    ) -> Result<bool, StartError> {
        let started = Instant::now();
        // With no service to move back, a rollback step's flags return at once.
        let flags_at = if changes.is_empty() {
            FlagsAt::Start
        } else {
            flags_at
        };
        let previous = self.steps.len().saturating_sub(1);
        self.begin(kind, changes.clone(), flag_changes.clone(), flags_at, plan);
        if flags_at == FlagsAt::Start && changes.is_empty() {
            self.settled_now();
        }
        // The previous step's requests finish in its own states.
        let give_up = Instant::now() + PREVIOUS_STEP_LIMIT;
        while self.recorder.in_flight(previous) > 0 && Instant::now() < give_up {
            if !self.wait_untimed(Duration::from_millis(1)).await {
                self.close_step(started);
                return Ok(false);
            }
        }
        if let StepKind::Rollout(n) = kind {
            self.fault_clock.send_replace(n);
        }
        let half = self.scenario.load.bake / 2;
        let moved = self.interruptible(self.cluster.prepare(&changes)).await?
            && self
                .wait(eval::step_startup(&self.scenario, &changes))
                .await;
        if moved {
            self.cluster.switch(&changes).await;
        }
        // A recreate stops its old replicas before it starts the new ones: their startup
        // passes with none ready, inside the transient state.
        let recreated = moved
            && self
                .interruptible(self.cluster.start_recreated(&changes))
                .await?
            && self
                .wait(eval::recreate_startup(&self.scenario, &changes))
                .await;
        let held = recreated && self.wait(half).await;
        // The settled part starts when the old versions are out of rotation, not when the
        // move starts: a request sent in between could still meet an old version. A
        // rollback step's flags return at that same moment.
        let recorder = &self.recorder;
        let flags = &self.flags;
        let at_end = if flags_at == FlagsAt::End {
            flag_changes.as_slice()
        } else {
            &[]
        };
        let completed = held
            && self
                .interruptible(self.cluster.complete(&changes, || {
                    flags.apply(at_end);
                    recorder.set_part(Part::Settled);
                }))
                .await?;
        if completed && !changes.is_empty() {
            self.settled_now();
        }
        let baked = completed && self.wait(self.scenario.load.bake - half).await;
        self.close_step(started);
        Ok(baked)
    }

    fn begin(
        &mut self,
        kind: StepKind,
        changes: Vec<Change>,
        flag_changes: Vec<FlagChange>,
        flags_at: FlagsAt,
        plan: &Plan,
    ) {
        let flags_before = self.steps.last().map_or_else(
            || self.scenario.initial_flags(),
            |ran| ran.flags_after.clone(),
        );
        let mut flags_after = flags_before.clone();
        for change in &flag_changes {
            flags_after.apply(change);
        }
        let flags_during = match flags_at {
            FlagsAt::Start => flags_after.clone(),
            FlagsAt::End => flags_before.clone(),
        };
        let index = self.steps.len();
        self.steps.push(Ran {
            kind,
            changes,
            flag_changes,
            flags_before,
            flags_during,
            flags_after,
            duration: Duration::ZERO,
            overrun: Duration::ZERO,
            settled_at: None,
            gate_breached: false,
            predicted: None,
        });
        // A step with no service to move (the baseline, a flag switch) is all settled.
        let part = if kind == StepKind::Baseline || self.steps[index].changes.is_empty() {
            Part::Settled
        } else {
            Part::Transient
        };
        // A step whose flags change at its start flips them in the same switch as it
        // begins: a request is counted in this step exactly when it carries its flags.
        if flags_at == FlagsAt::Start {
            let changes = self.steps[index].flag_changes.clone();
            let board = Arc::clone(&self.flags);
            board.apply_then(&changes, || self.recorder.begin(index, part));
        } else {
            self.recorder.begin(index, part);
        }
        self.predict_ended(index);
        if let Some(progress) = self.progress {
            progress.step_started(&self.strategy, kind, plan.last_step());
        }
    }

    /// Step `index`'s lag as the load generator recorded it, with the runner's own
    /// overrun of its waits.
    fn with_overrun(&self, index: usize, mut lag: crate::record::Lag) -> crate::record::Lag {
        lag.overrun = self
            .steps
            .get(index)
            .map(|ran| ran.overrun)
            .unwrap_or_default();
        lag
    }

    fn close_step(&mut self, started: Instant) {
        if let Some(last) = self.steps.last_mut() {
            last.duration = started.elapsed();
        }
    }

    /// `check`'s load prediction of step `index`'s settled part, with the faults in
    /// force there; `partial` where a fault event leaves no one state to hold the part to.
    ///
    /// A fault that starts or ends in a step whose services move, on that step's own
    /// fault clock, early enough that the queues of the state it made have
    /// [`SETTLE_HOLDS`](crate::eval::demand::SETTLE_HOLDS) holds to drain before the
    /// settled part (which starts at least half the bake time after the clock), leaves
    /// the settled part in one state. Any other event does not: one on another step's
    /// clock (its time here depends on how long the steps between took), one in a step
    /// that is all settled, or a crash loop in force in the part, which changes the state
    /// every crash.
    fn load_prediction(
        &self,
        index: usize,
        deployment: &crate::model::Deployment,
        record: &crate::record::StepRecord,
    ) -> crate::eval::demand::Demand {
        let scenario = &self.scenario;
        let kinds = |faults: &BTreeSet<usize>| -> Vec<&crate::model::FaultKind> {
            faults
                .iter()
                .filter_map(|&fault| scenario.faults.get(fault).map(|f| &f.kind))
                .collect()
        };
        let ran = &self.steps[index];
        let settled = kinds(&record.faults_settled);
        let mut demand =
            crate::eval::demand::predict(scenario, deployment, &ran.flags_after, &settled);
        let crashing = settled
            .iter()
            .any(|fault| matches!(fault, crate::model::FaultKind::Crash { .. }));
        let events: Vec<(usize, bool)> = record
            .events
            .iter()
            .filter_map(|event| match event {
                Event::FaultStarted(fault) => Some((*fault, true)),
                Event::FaultEnded(fault) => Some((*fault, false)),
                _ => None,
            })
            .collect();
        // A service left one short by a replacement that could not start is a state no
        // prediction has.
        let short = record
            .events
            .iter()
            .any(|event| matches!(event, Event::FaultNotEnded { .. }));
        if crashing || short {
            demand.partial = true;
            return demand;
        }
        if events.is_empty() {
            return demand;
        }
        // The longest hold (or breaker trip) of the state the events made, faults of
        // either part in force: the settled part's own when none was in force only in
        // the transient part.
        let longest = |demand: &crate::eval::demand::Demand| demand.settle_ms.max(demand.trip_ms);
        let mut slowest = longest(&demand);
        if !record.faults_transient.is_subset(&record.faults_settled) {
            let seen: BTreeSet<usize> = record
                .faults_transient
                .union(&record.faults_settled)
                .copied()
                .collect();
            let during =
                crate::eval::demand::predict(scenario, deployment, &ran.flags_after, &kinds(&seen));
            slowest = slowest.max(longest(&during));
        }
        let drain = std::time::Duration::from_secs_f64(
            crate::eval::demand::SETTLE_HOLDS * slowest / 1000.0,
        );
        let moves = !ran.changes.is_empty();
        let half = scenario.load.bake / 2;
        demand.partial = events.iter().any(|&(fault, started)| {
            let Some(fault) = scenario.faults.get(fault) else {
                return true;
            };
            let own_clock = match ran.kind {
                StepKind::Baseline => fault.at_step == 0,
                StepKind::Rollout(n) => n == fault.at_step,
                _ => false,
            };
            // A fault on from its step's start is in force for the whole step.
            if started && fault.after.is_zero() && own_clock {
                return false;
            }
            // A crash loop's last replacement may still be starting when its window
            // closes: the loop ends once it is ready.
            let replacing = match &fault.kind {
                crate::model::FaultKind::Crash { service, .. } => scenario
                    .services
                    .get(service)
                    .map_or(Duration::ZERO, |s| s.startup),
                _ => Duration::ZERO,
            };
            let at = if started {
                Some(fault.after)
            } else {
                fault.duration.map(|d| fault.after + d + replacing)
            };
            !(moves && own_clock && at.is_some_and(|at| at + drain <= half))
        });
        demand
    }

    /// The current step's settled part begins now.
    fn settled_now(&mut self) {
        if let Some(last) = self.steps.last_mut() {
            last.settled_at = Some(Instant::now());
        }
    }

    /// Runs a cluster move unless interrupted first; false when interrupted.
    async fn interruptible(
        &self,
        action: impl std::future::Future<Output = Result<(), StartError>>,
    ) -> Result<bool, StartError> {
        tokio::select! {
            biased;
            () = self.interrupt.wait() => Ok(false),
            result = action => result.map(|()| true),
        }
    }

    /// Sleeps `duration` unless interrupted first; false when interrupted. A wake-up
    /// later than asked counts as the step's overrun: the time the machine, not the
    /// services, added to the step.
    async fn wait(&mut self, duration: Duration) -> bool {
        let due = Instant::now() + duration;
        let waited = self.wait_untimed(duration).await;
        if waited && let Some(last) = self.steps.last_mut() {
            last.overrun += Instant::now().saturating_duration_since(due);
        }
        waited
    }

    /// Sleeps `duration` unless interrupted first; false when interrupted. For polling
    /// loops, whose wake-ups are not part of the step's plan.
    async fn wait_untimed(&self, duration: Duration) -> bool {
        tokio::select! {
            biased;
            () = self.interrupt.wait() => false,
            () = tokio::time::sleep(duration) => true,
        }
    }

    /// The whole result of the run: every step measured and predicted, the
    /// expectations judged, the mitigation, and how it ended.
    fn finish(&mut self, strategy: &Strategy, ended: Ended) -> StrategyRun {
        // The last steps first, while the recorder still holds their faults.
        self.predict_ended(self.steps.len());
        let taken = self.recorder.take();
        let total = taken.total;
        // Every step is predicted: the run's result takes the compiled scenario.
        let graph = std::mem::take(&mut self.graph);
        // Where all-ok tallies were folded, a step's bit per entrypoint says it was
        // measured ok: the recorder's entrypoint number of each of the graph's.
        let folded_index: HashMap<&str, usize> = taken
            .entries
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        let recorded_as: Vec<Option<usize>> = graph
            .entries
            .iter()
            .map(|&(service, _)| folded_index.get(graph.services[service].as_str()).copied())
            .collect();
        let mut records = taken.steps.into_iter();
        let mut steps: Vec<StepResult> = Vec::with_capacity(self.steps.len());
        // The states are walked again (cheap: each step moves its changes) so that a
        // step whose measurement differs gets the prediction's explanation; kept for
        // every step during the run, explanations would grow with steps x entrypoints.
        let mut before = graph.settled(&self.scenario.initial, &self.scenario.initial_flags());
        let timed = !self.scenario.unpredicted().is_empty();
        let mut deployment = self.scenario.initial.clone();
        for index in 0..self.steps.len() {
            let record = records.next().unwrap_or_default();
            for change in &self.steps[index].changes {
                deployment.apply(change);
            }
            let load = timed.then(|| self.load_prediction(index, &deployment, &record));
            let measured = measured(&graph, &record, &recorded_as);
            let ran = &self.steps[index];
            graph.set_flags(&mut before, &ran.flags_before);
            let after = graph.moved(&before, &ran.changes, &ran.flags_after);
            let differs: Vec<bool> = measured
                .iter()
                .enumerate()
                .map(|(entry, level)| {
                    level.is_some_and(|level| {
                        !ran.predicted
                            .as_ref()
                            .is_some_and(|p| p.allows(entry, level))
                    })
                })
                .collect();
            if differs.contains(&true) {
                let faults = (&record.faults_transient, &record.faults_settled);
                let predicted = predict(&graph, &self.scenario, ran, (&before, &after), faults);
                self.steps[index].predicted = Some(predicted.into_levels(|entry| differs[entry]));
            }
            let mut result = self.step_result(index, record, measured);
            result.load = load;
            steps.push(result);
            before = after;
        }
        let failed_steps: Vec<StepKind> = steps
            .iter()
            .filter(|step| step.total.failed > 0)
            .map(|step| step.kind)
            .collect();
        // A run that was interrupted, or that the machine could not keep up with, is not
        // judged: it neither passes nor fails.
        let judged = ended.ending != Ending::Interrupted && steps.iter().all(StepResult::kept_up);
        let expectations = if judged {
            expect::judge(&strategy.expect, &total, &failed_steps)
        } else {
            Vec::new()
        };
        let settled_at: Vec<Option<Instant>> =
            self.steps.iter().map(|ran| ran.settled_at).collect();
        let mitigation = self.mitigated.map(|(action, breached_step, decided)| {
            mitigation(&steps, &settled_at, action, breached_step, decided)
        });
        StrategyRun {
            mitigation,
            strategy: strategy.clone(),
            faults_never_fired: self.faults_never_fired(&steps),
            steps,
            ending: ended.ending,
            total,
            expectations,
            duration: ended.duration,
            scheduled: ended.scheduled,
            running: ended.running,
            planned_steps: ended.planned_steps,
            stray: self.recorder.traffic.stray(),
            traffic: self.recorder.traffic.totals(),
            every_step_traffic: self.recorder.traffic.every_step(),
            folded: taken.folded,
            graph,
        }
    }

    /// Predicts every step before `end` not predicted yet, each with the faults that
    /// were in force in each of its parts (final once a later step has begun), moving
    /// the settled state on by its changes: one running state, not one per step. Only
    /// the levels are kept; `finish` explains the steps whose measurement differs.
    fn predict_ended(&mut self, end: usize) {
        let first = self
            .steps
            .iter()
            .take_while(|ran| ran.predicted.is_some())
            .count();
        for index in first..end.min(self.steps.len()) {
            let (transient, settled) = self.recorder.faults(index);
            let ran = &self.steps[index];
            self.graph.set_flags(&mut self.settled, &ran.flags_before);
            let after = self
                .graph
                .moved(&self.settled, &ran.changes, &ran.flags_after);
            let predicted = predict(
                &self.graph,
                &self.scenario,
                ran,
                (&self.settled, &after),
                (&transient, &settled),
            );
            self.steps[index].predicted = Some(predicted.into_levels(|_| false));
            self.settled = after;
        }
    }

    /// Step `index` as measured (`record`) and as predicted.
    fn step_result(
        &mut self,
        index: usize,
        record: crate::record::StepRecord,
        measured: Vec<Option<Level>>,
    ) -> StepResult {
        let lag = self.with_overrun(index, record.lag);
        let ran = &mut self.steps[index];
        StepResult {
            index,
            kind: ran.kind,
            changes: ran.changes.clone(),
            flag_changes: ran.flag_changes.clone(),
            flags: ran.flags_after.clone(),
            traffic: self.recorder.traffic.step(index),
            by_entry: record.by_entry,
            parts: record.parts,
            total: record.total.unwrap_or_default(),
            events: record.events,
            gate_breached: ran.gate_breached,
            duration: ran.duration,
            predicted: ran.predicted.take().unwrap_or_default(),
            measured,
            lag,
            load: None,
        }
    }

    /// Faults (indices into the scenario's) whose step the run never reached.
    fn faults_never_fired(&self, steps: &[StepResult]) -> Vec<usize> {
        let reached = steps
            .iter()
            .filter_map(|step| match step.kind {
                StepKind::Rollout(n) => Some(n),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        (0..self.scenario.faults.len())
            .filter(|&fault| self.scenario.faults[fault].at_step > reached)
            .collect()
    }
}

/// The rollout step a run step is, or undoes (0 for the baseline).
fn plan_step(kind: StepKind) -> usize {
    match kind {
        StepKind::Baseline => 0,
        StepKind::Rollout(n) | StepKind::Rollback(n) | StepKind::KillSwitch(n) => n,
    }
}

/// `check`'s prediction of a step that ran from `before` to `after`, with the faults
/// (indices into the scenario's) in force in its transient and its settled part.
fn predict(
    graph: &Graph,
    scenario: &Scenario,
    ran: &Ran,
    (before, after): (&eval::State, &eval::State),
    (transient, settled): (&BTreeSet<usize>, &BTreeSet<usize>),
) -> eval::StepPrediction {
    let faults = |indices: &BTreeSet<usize>| {
        indices
            .iter()
            .filter_map(|&i| scenario.faults.get(i).map(|fault| &fault.kind))
            .collect::<Vec<&crate::model::FaultKind>>()
    };
    let moves = eval::StepMoves {
        before: eval::Point { state: before },
        changes: &ran.changes,
        flags_during: &ran.flags_during,
        after: eval::Point { state: after },
    };
    eval::predict_step(graph, scenario, moves, &faults(transient), &faults(settled))
}

/// Per entrypoint of the graph: the worst outcome measured in the step, from its tally,
/// or ok where its all-ok tally was folded (`recorded_as`: the recorder's number of
/// each entrypoint); `None` when no request of it was sent.
fn measured(
    graph: &Graph,
    record: &crate::record::StepRecord,
    recorded_as: &[Option<usize>],
) -> Vec<Option<Level>> {
    graph
        .entries
        .iter()
        .zip(recorded_as)
        .map(|(&(service, _), &recorded)| {
            record
                .by_entry
                .get(&graph.services[service])
                .and_then(measured_level)
                .or_else(|| recorded.filter(|&i| record.all_ok(i)).map(|_| Level::Ok))
        })
        .collect()
}

/// What the mitigation after the breach of step `breached` achieved. Service counts as
/// restored at the start of the first mitigation step's settled part in which no entry
/// request failed: for a kill switch, its flip; for a rollback, the end of the moves of
/// the first rollback step that left the failure behind (the bake times of the rollback
/// steps before it count, as they would in a real rollback that waits on its health
/// checks). The failed requests before it: the breached step's, and the mitigation's
/// until then; after it: the rest of the mitigation's.
fn mitigation(
    steps: &[StepResult],
    settled_at: &[Option<Instant>],
    action: Breach,
    breached: usize,
    decided: Instant,
) -> Mitigation {
    let failed = |step: &StepResult, part: Part| -> u64 {
        step.parts
            .values()
            .map(|counts| counts[part.index()].failed)
            .sum()
    };
    let mut failed_before = steps.get(breached).map_or(0, |step| step.total.failed);
    let mut failed_after = 0;
    let mut restored: Option<(usize, Instant)> = None;
    for step in steps.iter().skip(breached + 1) {
        if restored.is_some() {
            failed_after += step.total.failed;
            continue;
        }
        failed_before += failed(step, Part::Transient);
        let settled = failed(step, Part::Settled);
        match settled_at.get(step.index).copied().flatten() {
            Some(at) if settled == 0 => restored = Some((step.index, at)),
            _ => failed_before += settled,
        }
    }
    // Not restored: what failed once the last moves had ended counts after them.
    if restored.is_none()
        && let Some(last) = steps.get(breached + 1..).and_then(<[StepResult]>::last)
    {
        let settled = failed(last, Part::Settled);
        failed_before -= settled;
        failed_after = settled;
    }
    let last_moves = settled_at.iter().rev().flatten().next().copied();
    let ended = restored.map(|(_, at)| at).or(last_moves).unwrap_or(decided);
    Mitigation {
        action,
        breached_step: breached,
        restored_in: restored.map(|(index, _)| index),
        time: ended.saturating_duration_since(decided),
        failed_before,
        failed_after,
    }
}

/// The most entry requests outstanding in `--net sim` (the largest `max_in_flight` a
/// scenario may set): about 1.3 GiB of requests in flight.
pub const SIM_MAX_IN_FLIGHT: u32 = 100_000;

/// The load generator's bound on outstanding entry requests. Live, it is
/// `load.max_in_flight`: past it the machine, not the services, would set the pace, so a
/// refused request makes its step unmeasured. In `--net sim` no machine limits the
/// generator (virtual time waits for the work), so the bound follows the scenario
/// instead: an open loop at `rps` whose requests each end by [`ENTRY_DEADLINE`] has at
/// most `rps` x deadline of them outstanding, and services overloaded by design (a hang
/// holding every request until its deadline) show as failed requests, not as an
/// inconclusive run. It stays bounded: by the rate and the deadline, and by
/// [`SIM_MAX_IN_FLIGHT`] (about 13 KiB each), past which a refusal makes the step
/// unmeasured as it does live.
///
/// [`ENTRY_DEADLINE`]: crate::runtime::load::ENTRY_DEADLINE
fn in_flight_bound(max_in_flight: u32, rps: u64) -> u32 {
    match crate::runtime::net::Net::current() {
        crate::runtime::net::Net::Live | crate::runtime::net::Net::Processes => max_in_flight,
        crate::runtime::net::Net::Sim => {
            let deadline = crate::runtime::load::ENTRY_DEADLINE.as_secs() + 1;
            let needed = u32::try_from(rps.saturating_mul(deadline)).unwrap_or(u32::MAX);
            max_in_flight.max(needed.min(SIM_MAX_IN_FLIGHT))
        }
    }
}
