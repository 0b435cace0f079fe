//! Open-loop load: entry requests at a fixed rate per entrypoint, whatever the services do.
//!
//! Arrival `k` is scheduled at `start + (k + u_k) / rps`, with `u_k` drawn uniformly from
//! `[0, 1)` from a seeded stream per entrypoint: the rate is exact (one arrival in every
//! period, so a step of `d` seconds has `rps x d` of them, give or take one), but the
//! streams of several entrypoints are not locked in phase. Evenly spaced streams of equal
//! rate would meet a busy service in the same order every period, in virtual time
//! exactly, so that one entrypoint is refused where another is always served; no fleet's
//! users arrive that way, and no queueing model predicts it. The generator sleeps until the next one is
//! due and then sends every request that is due, so a late wake-up sends a burst instead
//! of dropping requests (the timer has 1 ms resolution). Latency is measured from the
//! scheduled time, so a stalled service cannot hide its stall (no coordinated omission).
//! At most `max_in_flight` requests are outstanding over all entrypoints; one that cannot
//! be sent is counted as failed with cause `overload`.
//!
//! Each entry request is for a user drawn from [`USERS`] with a seeded stream per
//! entrypoint, and carries the flags as they are when it is sent (see `runtime::flags`).
//!
//! Invariant: every scheduled request is recorded exactly once, in the step during which
//! it was sent: answered, refused (`overload`) or, when the run ends before it answers
//! and the drain limit runs out, failed with cause `shutdown`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::contract::{CLIENT, CallRequest, Edge};
use crate::eval::Level;
use crate::record::tally::{CauseKey, reason};
use crate::record::traffic::EdgeKey;
use crate::record::{Recorder, Sent};
use crate::runtime::flags::FlagBoard;
use crate::runtime::pool::{Link, Target};
use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;

/// How long the load generator waits for one entry request.
pub const ENTRY_DEADLINE: Duration = Duration::from_secs(10);

/// At most this many overdue requests are sent per wake-up; the rest go on the next one,
/// so a long stall of the generator itself cannot spawn an unbounded burst at once.
const MAX_BURST: u64 = 10_000;

/// How many distinct users send requests: enough that a percentage is a share of users,
/// few enough that users come back and see their flags stick.
pub const USERS: u64 = 10_000;

/// Where the load generator's requests are counted and what they carry.
#[derive(Debug, Clone)]
pub struct Context {
    pub recorder: Arc<Recorder>,
    pub flags: Arc<FlagBoard>,
    pub seed: u64,
}

/// One entrypoint under load.
#[derive(Debug, Clone)]
pub struct Entry {
    pub service: String,
    /// The API version the load calls.
    pub api: String,
    pub link: Arc<Link>,
    /// Arrivals per second.
    pub rps: u32,
    /// (method, weight): each arrival calls one method, drawn in proportion to the
    /// weights (`None`: the default method). At least one entry, every weight above 0.
    pub mix: Vec<(Option<String>, u32)>,
}

/// The running load generator.
#[derive(Debug)]
pub struct Load {
    stop: watch::Sender<bool>,
    give_up: watch::Sender<bool>,
    arrivals: Vec<JoinHandle<()>>,
    permits: Arc<Semaphore>,
    max_in_flight: u32,
    requests: Arc<AtomicU64>,
}

impl Load {
    /// Starts sending each entry's `rps` requests per second.
    pub fn start(entries: Vec<Entry>, max_in_flight: u32, context: &Context) -> Load {
        let (stop, _) = watch::channel(false);
        let (give_up, _) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(max_in_flight as usize));
        let requests = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let arrivals = entries
            .into_iter()
            .map(|entry| {
                let users =
                    crate::seed::rng(context.seed, &format!("load.users/{}", entry.service));
                let methods = entry
                    .mix
                    .iter()
                    .map(|(method, _)| {
                        let edge = Edge::new(CLIENT, &entry.service, &entry.api)
                            .to_method(method.as_deref())
                            .to_string();
                        EntryMethod {
                            key: context.recorder.traffic.edge(&edge),
                            target: Arc::new(entry.link.target(&entry.api, method.as_deref())),
                            edge,
                        }
                    })
                    .collect();
                let mix_draws =
                    crate::seed::rng(context.seed, &format!("load.mix/{}", entry.service));
                let jitter =
                    crate::seed::rng(context.seed, &format!("load.jitter/{}", entry.service));
                let generator = Generator {
                    rps: entry.rps.max(1),
                    jitter,
                    entry,
                    mix_draws,
                    recorder: Arc::clone(&context.recorder),
                    flags: Arc::clone(&context.flags),
                    users,
                    methods,
                    permits: Arc::clone(&permits),
                    stop: stop.subscribe(),
                    give_up: give_up.subscribe(),
                    requests: Arc::clone(&requests),
                };
                tokio::spawn(generator.run(start))
            })
            .collect();
        Load {
            stop,
            give_up,
            arrivals,
            permits,
            max_in_flight,
            requests,
        }
    }

    /// Stops arrivals, waits at most `drain` for the requests in flight, then counts the
    /// rest as failed with cause `shutdown` and waits until they are recorded. Returns the
    /// number of entry requests scheduled over the whole run.
    pub async fn finish(self, drain: Duration) -> u64 {
        let _ = self.stop.send(true);
        for arrival in self.arrivals {
            let _ = arrival.await;
        }
        let scheduled = self.requests.load(Ordering::SeqCst);
        let all = self.max_in_flight;
        let drained = tokio::time::timeout(drain, self.permits.acquire_many(all)).await;
        if drained.is_err() {
            let _ = self.give_up.send(true);
            // Each request answers `give_up` at once, so this wait is short; it is bounded
            // anyway.
            let _ =
                tokio::time::timeout(Duration::from_secs(5), self.permits.acquire_many(all)).await;
        }
        scheduled
    }
}

struct Generator {
    entry: Entry,
    rps: u32,
    /// Where in its period each arrival falls, drawn in arrival order.
    jitter: ChaCha8Rng,
    recorder: Arc<Recorder>,
    flags: Arc<FlagBoard>,
    /// The seeded stream users are drawn from, one per entrypoint.
    users: ChaCha8Rng,
    /// The method of each arrival is drawn from this stream, one per entrypoint (only
    /// when the mix has more than one method, so a scenario without a mix draws as before).
    mix_draws: ChaCha8Rng,
    /// Each method of the mix, in mix order, made once for every arrival.
    methods: Vec<EntryMethod>,
    permits: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    give_up: watch::Receiver<bool>,
    requests: Arc<AtomicU64>,
}

/// One method of an entrypoint's mix, as every arrival for it uses it.
#[derive(Debug)]
struct EntryMethod {
    /// The counter of its entry edge.
    key: EdgeKey,
    target: Arc<Target>,
    /// Its entry edge's name, for the causes of requests the generator fails itself.
    edge: String,
}

impl Generator {
    /// When arrival `k` is due: its period's start plus a fresh draw within the period.
    fn due(&mut self, start: Instant, k: u64) -> Instant {
        let period = 1_000_000_000 / u128::from(self.rps);
        let within = u128::from(
            self.jitter
                .random_range(0..u64::try_from(period).unwrap_or(1)),
        );
        let nanos = u128::from(k) * 1_000_000_000 / u128::from(self.rps) + within;
        start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    async fn run(mut self, start: Instant) {
        let mut k: u64 = 0;
        let mut next = self.due(start, k);
        loop {
            tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep_until(next) => {}
            }
            let now = Instant::now();
            let mut burst = 0;
            while next <= now && burst < MAX_BURST {
                self.send(next, now);
                k += 1;
                burst += 1;
                next = self.due(start, k);
            }
        }
    }

    /// The index in the mix of the next arrival's method.
    fn pick_method(&mut self) -> usize {
        let mix = &self.entry.mix;
        if mix.len() <= 1 {
            return 0;
        }
        let total: u64 = mix.iter().map(|(_, weight)| u64::from(*weight)).sum();
        let mut draw = self.mix_draws.random_range(0..total.max(1));
        for (i, (_, weight)) in mix.iter().enumerate() {
            if draw < u64::from(*weight) {
                return i;
            }
            draw -= u64::from(*weight);
        }
        mix.len() - 1
    }

    /// Sends the request scheduled at `intended`, at `now`.
    fn send(&mut self, intended: Instant, now: Instant) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        // Drawn for every arrival, sent or refused, so the users of later arrivals do not
        // depend on how many were refused.
        let user = self.users.random_range(0..USERS);
        let m = self.pick_method();
        let entry = &self.entry;
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok();
        let late = now.saturating_duration_since(intended);
        let sent = if permit.is_some() {
            Sent::Dispatched
        } else {
            Sent::Refused
        };
        // The flags and the step together: a step that flips flags at its start does
        // both in one switch (`FlagBoard::apply_then`).
        let (flags, at) = self
            .flags
            .context_with(|| self.recorder.sent(&entry.service, sent, late));
        let Some(permit) = permit else {
            // Never sent: recorded at once, with no latency and nothing in flight.
            let cause = CauseKey {
                edge: self.methods[m].edge.clone(),
                code: reason::OVERLOAD.to_owned(),
            };
            self.recorder
                .record(at, &entry.service, Level::Failed, &[cause], None);
            return;
        };
        let recorder = Arc::clone(&self.recorder);
        let entry = entry.clone();
        let key = Arc::clone(&self.methods[m].key);
        let target = Arc::clone(&self.methods[m].target);
        let edge = self.methods[m].edge.clone();
        let mut give_up = self.give_up.clone();
        let request = CallRequest {
            user,
            flags,
            step: u32::try_from(at.step).unwrap_or(u32::MAX),
        };
        tokio::spawn(async move {
            let call = entry.link.call(&target, request, ENTRY_DEADLINE);
            let (outcome, causes) = tokio::select! {
                biased;
                result = call => match result {
                    Ok(reply) if reply.degraded => (
                        Level::Degraded,
                        reply.causes.iter().map(CauseKey::from_cause).collect(),
                    ),
                    Ok(_) => (Level::Ok, Vec::new()),
                    Err(failure) => (
                        Level::Failed,
                        failure.causes.iter().map(CauseKey::from_cause).collect(),
                    ),
                },
                _ = give_up.wait_for(|give_up| *give_up) => (
                    Level::Failed,
                    vec![CauseKey { edge, code: reason::SHUTDOWN.to_owned() }],
                ),
            };
            recorder.traffic.called(at.step, &key, outcome);
            recorder.record(
                at,
                &entry.service,
                outcome,
                &causes,
                Some(intended.elapsed()),
            );
            drop(permit);
        });
    }
}
