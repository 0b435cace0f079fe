//! A caller's protections on one call, in one place and in one order: the bulkhead, then
//! for each attempt the circuit breaker, the per-try timeout, and before each retry the
//! retry codes, the retry budget and the backoff.
//!
//! Why this order:
//! - The bulkhead is outermost: it bounds the calls in flight on the edge, retries
//!   included, so a slot is held for the whole call (resilience4j's and Envoy's
//!   `max_requests` count a request, not an attempt). A full bulkhead refuses at once:
//!   the point is to not wait.
//! - The breaker judges every attempt, retries included: a retry into an open circuit
//!   would be the load the breaker is there to shed. It sees each attempt's outcome.
//! - The per-try timeout bounds each attempt within the call's deadline, so a slow
//!   callee leaves time for another try (Envoy's `per_try_timeout`).
//! - A retry is made only for a code the call lists, while the deadline lasts, when the
//!   budget has a retry to spare (the budget is charged only for retries, and every call
//!   deposits in it, as tower's `TpsBudget` and linkerd's budget count), after the
//!   backoff's wait, which is skipped, ending the call, when it would outlast the
//!   deadline.
//!
//! Every clock is tokio's (`tokio::time::Instant`, `sleep`), so `--net sim` drives these
//! exactly; the jitter is drawn from a stream seeded per caller replica and call.
//!
//! A fast failure of the breaker or the bulkhead is UNAVAILABLE (as Envoy's overflow
//! and linkerd's failure accrual answer), so a call's `on_failure` rule for UNAVAILABLE
//! handles it like a callee that is gone.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tonic::Code;

use crate::contract::{CallReply, CallRequest, Failure};
use crate::model::{Breaker, FailCode, Protect};
use crate::record::traffic::Tries;
use crate::runtime::pool::{Link, Target};

/// How long a retry budget remembers calls and retries (linkerd's `ttl`), in slots of
/// one second.
const BUDGET_SLOTS: usize = 10;
const BUDGET_SLOT: Duration = Duration::from_secs(1);

/// The protections of one call as one caller replica holds them.
#[derive(Debug)]
pub struct Guard {
    protect: Protect,
    budget: Option<Budget>,
    breaker: Option<Mutex<Circuit>>,
    bulkhead: Option<Semaphore>,
    /// Backoff jitter; drawn from only when the call has a backoff.
    jitter: Jitter,
}

/// A caller replica's stream of backoff draws, shared by its calls.
pub type Jitter = Arc<Mutex<ChaCha8Rng>>;

impl Guard {
    /// `jitter`: this caller replica's stream for backoff draws.
    pub fn new(protect: &Protect, jitter: Jitter) -> Guard {
        Guard {
            protect: protect.clone(),
            budget: protect
                .budget
                .map(|budget| Mutex::new(Window::new(budget)))
                .map(Budget),
            breaker: protect.breaker.map(|spec| Mutex::new(Circuit::new(spec))),
            bulkhead: protect.bulkhead.map(|slots| Semaphore::new(slots as usize)),
            jitter,
        }
    }

    /// Calls `target` over `link` with `budget` for the whole call, the protections
    /// applied in the order the module documents. `retries`: extra attempts at most.
    /// Counts the attempts sent and what the protections did in `tries`.
    pub async fn call(
        &self,
        link: &Link,
        target: &Target,
        mut request: CallRequest,
        budget: Duration,
        retries: u32,
        tries: &mut Tries,
    ) -> Result<CallReply, Failure> {
        let fast_failure = |why: String| {
            Failure::at(
                link.edge(&target.api, target.method.as_deref()),
                Code::Unavailable,
                why,
            )
        };
        let _slot = match &self.bulkhead {
            Some(bulkhead) => match bulkhead.try_acquire() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    tries.bulkhead_refused += 1;
                    return Err(fast_failure(format!(
                        "bulkhead full: {} calls in flight",
                        self.protect.bulkhead.unwrap_or_default()
                    )));
                }
            },
            None => None,
        };
        if let Some(budget) = &self.budget {
            budget.deposit(Instant::now());
        }
        let deadline = Instant::now() + budget;
        let mut attempt = 0;
        // The last attempt's failure: what the call ends with when a retry is not made.
        let mut last: Option<Failure> = None;
        loop {
            let admitted = match &self.breaker {
                Some(breaker) => match crate::lock::lock(breaker).admit(Instant::now()) {
                    Some(admission) => Some(Probe {
                        circuit: breaker,
                        admission,
                        recorded: false,
                    }),
                    None => {
                        tries.breaker_fast_failed += 1;
                        // A retry the breaker refuses ends the call with the failure it
                        // would have retried, as a budget that refuses it does.
                        return Err(
                            last.unwrap_or_else(|| fast_failure("circuit breaker open".to_owned()))
                        );
                    }
                },
                None => None,
            };
            if attempt > 0 {
                tries.retries += 1;
            }
            let try_deadline = match self.protect.per_try_timeout {
                Some(per_try) => deadline.min(Instant::now() + per_try),
                None => deadline,
            };
            // A retry sends the same request again; the clone is paid only by retries.
            let this = if attempt < retries {
                request.clone()
            } else {
                std::mem::take(&mut request)
            };
            let (result, sent) = link.call_until(target, this, try_deadline).await;
            tries.attempts += u64::from(sent);
            if let Some(mut probe) = admitted {
                match probe.record(result.is_ok(), Instant::now()) {
                    Some(State::Open) => tries.breaker_opened += 1,
                    Some(State::Closed) => tries.breaker_closed += 1,
                    // An attempt only turns a breaker half-open in `admit`.
                    Some(State::HalfOpen) | None => {}
                }
            }
            let failure = match result {
                Err(failure) if attempt < retries && self.retried(failure.code) => failure,
                other => return other,
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(failure);
            }
            attempt += 1;
            // The wait is drawn first: a retry that could not be made before the deadline
            // is not charged to the budget.
            let wait = self.backoff(attempt);
            if wait.is_some_and(|wait| now + wait >= deadline) {
                return Err(failure);
            }
            if let Some(budget) = &self.budget
                && !budget.withdraw(now)
            {
                tries.retries_refused += 1;
                return Err(failure);
            }
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
            last = Some(failure);
        }
    }

    fn retried(&self, code: Code) -> bool {
        fail_code(code).is_some_and(|code| self.protect.retries_on(code))
    }

    /// The wait before retry `n` (from 1): full jitter up to min(max, base x 2^(n-1)).
    fn backoff(&self, n: u32) -> Option<Duration> {
        let backoff = self.protect.backoff?;
        let doubled = backoff
            .base
            .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX));
        let cap = doubled.min(backoff.max);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        let drawn = crate::lock::lock(&self.jitter).random_range(0..=ms);
        Some(Duration::from_millis(drawn))
    }
}

/// A retry budget (linkerd's and finagle's rule, exact in percent): over the last 10 s,
/// retries may number `percent` % of the calls, plus a reserve of `min_per_s` x 10 s
/// (so `min_per_s` a second on average, or all at once after a quiet spell). tower's
/// `TpsBudget` keeps the same rule but rounds the percent to 1/n (51 % acts as 100 %),
/// so the budget is kept here, on tokio's clock.
#[derive(Debug)]
struct Budget(Mutex<Window>);

impl Budget {
    fn deposit(&self, now: Instant) {
        let mut window = crate::lock::lock(&self.0);
        window.roll(now);
        let current = window.current;
        window.slots[current].0 += 1;
    }

    /// Takes one retry from the budget, if it has one to spare.
    fn withdraw(&self, now: Instant) -> bool {
        let mut window = crate::lock::lock(&self.0);
        window.roll(now);
        let (calls, retries) = window
            .slots
            .iter()
            .fold((0u64, 0u64), |(c, r), slot| (c + slot.0, r + slot.1));
        let reserve = u64::from(window.spec.min_per_s) * BUDGET_SLOTS as u64;
        // In hundredths, so that every percent is exact.
        let allowed = calls * u64::from(window.spec.percent) + reserve * 100;
        if (retries + 1) * 100 > allowed {
            return false;
        }
        let current = window.current;
        window.slots[current].1 += 1;
        true
    }
}

/// Calls and retries per one-second slot over the last [`BUDGET_SLOTS`] seconds.
#[derive(Debug)]
struct Window {
    spec: crate::model::RetryBudget,
    slots: [(u64, u64); BUDGET_SLOTS],
    current: usize,
    /// When the current slot began.
    began: Instant,
}

impl Window {
    fn new(spec: crate::model::RetryBudget) -> Window {
        Window {
            spec,
            slots: [(0, 0); BUDGET_SLOTS],
            current: 0,
            began: Instant::now(),
        }
    }

    /// Moves the current slot on to `now`, emptying the slots it passes (at most all).
    fn roll(&mut self, now: Instant) {
        let mut passed = 0;
        while now.saturating_duration_since(self.began) >= BUDGET_SLOT && passed < BUDGET_SLOTS {
            self.current = (self.current + 1) % BUDGET_SLOTS;
            self.slots[self.current] = (0, 0);
            self.began += BUDGET_SLOT;
            passed += 1;
        }
        if passed == BUDGET_SLOTS {
            // A long quiet spell: every slot is empty; start the clock afresh.
            self.began = now;
        }
    }
}

/// The rule code of a normalized gRPC code; `None` for codes no rule names.
pub fn fail_code(code: Code) -> Option<FailCode> {
    match code {
        Code::Unavailable => Some(FailCode::Unavailable),
        Code::Unimplemented => Some(FailCode::Unimplemented),
        Code::DeadlineExceeded => Some(FailCode::DeadlineExceeded),
        Code::Internal => Some(FailCode::Internal),
        Code::ResourceExhausted => Some(FailCode::ResourceExhausted),
        _ => None,
    }
}

/// The tonic code of a failure code.
pub fn status_code(code: FailCode) -> Code {
    match code {
        FailCode::Unavailable => Code::Unavailable,
        FailCode::Unimplemented => Code::Unimplemented,
        FailCode::DeadlineExceeded => Code::DeadlineExceeded,
        FailCode::Internal => Code::Internal,
        FailCode::ResourceExhausted => Code::ResourceExhausted,
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

/// An attempt the breaker let through: the state it was let through in (its epoch), and
/// whether it is a half-open probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    epoch: u64,
    probe: bool,
}

/// An admitted attempt whose outcome the breaker waits for: recorded when it ends, and
/// released if it never does (its call was cancelled), so that a probe cut short does
/// not hold a half-open breaker's place forever.
struct Probe<'a> {
    circuit: &'a Mutex<Circuit>,
    admission: Admission,
    recorded: bool,
}

impl Probe<'_> {
    fn record(&mut self, ok: bool, now: Instant) -> Option<State> {
        self.recorded = true;
        crate::lock::lock(self.circuit).record(ok, self.admission, now)
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            crate::lock::lock(self.circuit).release(self.admission);
        }
    }
}

/// A circuit breaker over the last `window` attempts (resilience4j's count-based
/// sliding window), on tokio's clock. Each change of state starts a new epoch: an
/// attempt let through in an earlier one (a slow call that outlived the window it
/// belonged to) is not counted in the new one.
#[derive(Debug)]
pub struct Circuit {
    spec: Breaker,
    state: State,
    epoch: u64,
    /// Closed: the outcomes of the last attempts, true for a failure, at most `window`.
    recent: VecDeque<bool>,
    failures: u32,
    /// Open: until when.
    until: Instant,
    /// Half-open: probes let through and not released, and probes that succeeded.
    probes: u32,
    passed: u32,
}

impl Circuit {
    pub fn new(spec: Breaker) -> Circuit {
        Circuit {
            spec,
            state: State::Closed,
            epoch: 0,
            recent: VecDeque::with_capacity(spec.window as usize),
            failures: 0,
            until: Instant::now(),
            probes: 0,
            passed: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Lets an attempt through now, or not (`None`: fail it fast). An open breaker whose
    /// wait is over turns half-open and lets `probes` attempts through, one by one as
    /// they are asked for.
    pub fn admit(&mut self, now: Instant) -> Option<Admission> {
        if self.state == State::Open && now >= self.until {
            self.move_to(State::HalfOpen);
            self.probes = 0;
            self.passed = 0;
        }
        let admission = |probe| Admission {
            epoch: self.epoch,
            probe,
        };
        match self.state {
            State::Closed => Some(admission(false)),
            State::Open => None,
            State::HalfOpen if self.probes < self.spec.probes => {
                self.probes += 1;
                Some(admission(true))
            }
            State::HalfOpen => None,
        }
    }

    /// An admitted attempt ended; returns the state it moved the breaker to, if it did.
    pub fn record(&mut self, ok: bool, admission: Admission, now: Instant) -> Option<State> {
        if admission.epoch != self.epoch {
            return None;
        }
        match self.state {
            State::Closed => {
                self.recent.push_back(!ok);
                self.failures += u32::from(!ok);
                if self.recent.len() > self.spec.window as usize
                    && self.recent.pop_front() == Some(true)
                {
                    self.failures -= 1;
                }
                let calls = self.recent.len() as u32;
                let tripped = calls >= self.spec.min_calls
                    && self.failures * 100 >= self.spec.failure_percent * calls;
                tripped.then(|| self.open(now))
            }
            State::HalfOpen if !ok => Some(self.open(now)),
            State::HalfOpen => {
                self.passed += 1;
                if self.passed < self.spec.probes {
                    return None;
                }
                self.move_to(State::Closed);
                Some(State::Closed)
            }
            State::Open => None,
        }
    }

    /// An admitted attempt that ended without an outcome (its call was cancelled): a
    /// half-open probe gives its place back.
    pub fn release(&mut self, admission: Admission) {
        if admission.probe && admission.epoch == self.epoch && self.state == State::HalfOpen {
            self.probes = self.probes.saturating_sub(1);
        }
    }

    fn open(&mut self, now: Instant) -> State {
        self.move_to(State::Open);
        self.until = now + self.spec.open;
        State::Open
    }

    fn move_to(&mut self, state: State) {
        self.state = state;
        self.epoch += 1;
        self.recent.clear();
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Breaker {
        Breaker {
            failure_percent: 50,
            window: 4,
            min_calls: 4,
            open: Duration::from_millis(100),
            probes: 2,
        }
    }

    /// Lets an attempt through and records its outcome at once.
    fn attempt(circuit: &mut Circuit, ok: bool, now: Instant) -> Option<State> {
        let admission = circuit.admit(now).expect("let through");
        circuit.record(ok, admission, now)
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_opens_fails_fast_probes_and_closes() {
        let mut circuit = Circuit::new(spec());
        let now = Instant::now();
        for ok in [true, false, true] {
            assert_eq!(attempt(&mut circuit, ok, now), None, "below min_calls");
        }
        assert_eq!(
            attempt(&mut circuit, false, now),
            Some(State::Open),
            "2 of 4: 50%"
        );
        assert!(circuit.admit(now).is_none(), "open: fails fast");
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(
            circuit.admit(Instant::now()).is_none(),
            "still open 1 ms before"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        let later = Instant::now();
        let first = circuit.admit(later).expect("the first probe");
        let second = circuit.admit(later).expect("the second probe");
        assert!(
            circuit.admit(later).is_none(),
            "no third while the probes are out"
        );
        assert_eq!(circuit.state(), State::HalfOpen);
        assert_eq!(circuit.record(true, first, later), None);
        assert_eq!(circuit.record(true, second, later), Some(State::Closed));
        assert!(circuit.admit(later).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_the_breaker_again() {
        let mut circuit = Circuit::new(spec());
        let now = Instant::now();
        for _ in 0..4 {
            attempt(&mut circuit, false, now);
        }
        assert_eq!(circuit.state(), State::Open);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(
            attempt(&mut circuit, false, Instant::now()),
            Some(State::Open)
        );
        assert!(circuit.admit(Instant::now()).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_probe_gives_its_place_back_and_a_late_answer_counts_nowhere() {
        let mut circuit = Circuit::new(spec());
        let now = Instant::now();
        // Admitted while closed, answering only after the breaker opened.
        let late = circuit.admit(now).expect("closed");
        for _ in 0..4 {
            attempt(&mut circuit, false, now);
        }
        assert_eq!(circuit.state(), State::Open);
        tokio::time::advance(Duration::from_millis(100)).await;
        let now = Instant::now();
        let cancelled = circuit.admit(now).expect("a probe");
        let kept = circuit.admit(now).expect("a probe");
        assert!(circuit.admit(now).is_none());
        circuit.release(cancelled);
        assert_eq!(circuit.record(false, late, now), None, "from another epoch");
        assert_eq!(circuit.state(), State::HalfOpen);
        let again = circuit.admit(now).expect("the released place");
        assert_eq!(circuit.record(true, kept, now), None);
        assert_eq!(circuit.record(true, again, now), Some(State::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_forgets_old_failures() {
        let mut circuit = Circuit::new(spec());
        let now = Instant::now();
        // Failures first, then successes push them out of the 4-attempt window.
        for ok in [false, true, true, true, true, true] {
            assert_eq!(attempt(&mut circuit, ok, now), None);
        }
        assert_eq!(circuit.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_is_exact_in_percent_and_its_reserve_is_ten_seconds_of_its_floor() {
        let budget = |percent, min_per_s| {
            Budget(Mutex::new(Window::new(crate::model::RetryBudget {
                percent,
                min_per_s,
            })))
        };
        let now = Instant::now();
        for percent in [20u32, 51, 60, 100] {
            let budget = budget(percent, 0);
            for _ in 0..1000 {
                budget.deposit(now);
            }
            let granted = (0..2000).filter(|_| budget.withdraw(now)).count();
            assert_eq!(granted, percent as usize * 10, "{percent}%");
        }
        let floor = budget(0, 2);
        assert_eq!((0..100).filter(|_| floor.withdraw(now)).count(), 20);
        // Ten seconds on, the window has forgotten them.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            (0..100).filter(|_| floor.withdraw(Instant::now())).count(),
            20
        );
    }

    /// A link to a service with no ready replica: every attempt fails at once with
    /// UNAVAILABLE, without the network (so none counts as sent).
    fn gone() -> (Link, Target) {
        let link = Link::new("web", Arc::new(crate::runtime::pool::Pool::new("db")), 1);
        let target = link.target("v1", None);
        (link, target)
    }

    fn guard(protect: Protect) -> Guard {
        let jitter = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        Guard::new(&protect, Arc::new(Mutex::new(jitter)))
    }

    async fn call(guard: &Guard, retries: u32, budget: Duration) -> Tries {
        let (link, target) = gone();
        let mut tries = Tries::default();
        let outcome = guard
            .call(
                &link,
                &target,
                CallRequest::default(),
                budget,
                retries,
                &mut tries,
            )
            .await;
        assert_eq!(
            outcome.map(drop).map_err(|f| f.code),
            Err(Code::Unavailable)
        );
        tries
    }

    #[tokio::test(start_paused = true)]
    async fn without_protections_a_call_retries_its_codes_at_once_and_no_others() {
        let plain = guard(Protect::default());
        let tries = call(&plain, 3, Duration::from_secs(1)).await;
        assert_eq!(
            (tries.attempts, tries.retries),
            (0, 3),
            "none reached a replica"
        );
        // UNAVAILABLE is not retried when the call's codes leave it out.
        let deadlines_only = guard(Protect {
            retry_on: vec![FailCode::DeadlineExceeded],
            ..Protect::default()
        });
        let tries = call(&deadlines_only, 3, Duration::from_secs(1)).await;
        assert_eq!(tries.retries, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_lets_retries_add_their_share_and_refuses_the_rest() {
        let budgeted = guard(Protect {
            budget: Some(crate::model::RetryBudget {
                percent: 20,
                min_per_s: 0,
            }),
            ..Protect::default()
        });
        let mut total = Tries::default();
        for _ in 0..100 {
            let tries = call(&budgeted, 3, Duration::from_secs(1)).await;
            total.retries += tries.retries;
            total.retries_refused += tries.retries_refused;
        }
        // 20% of 100 calls, each deposited before its retries are asked for; every call
        // ends at the first retry the budget refuses.
        assert_eq!(total.retries, 20, "{total:?}");
        assert_eq!(total.retries_refused, 100, "{total:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_waits_on_tokio_s_clock_and_never_past_the_deadline() {
        let backing_off = guard(Protect {
            backoff: Some(crate::model::Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_millis(100),
            }),
            ..Protect::default()
        });
        let start = Instant::now();
        let tries = call(&backing_off, 10, Duration::from_millis(250)).await;
        let waited = Instant::now() - start;
        assert!(waited < Duration::from_millis(250), "{waited:?}");
        assert!(
            tries.retries < 10,
            "the deadline cut the retries short: {tries:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_breaker_fails_attempts_fast_until_its_wait_is_over() {
        let breaking = guard(Protect {
            breaker: Some(spec()),
            ..Protect::default()
        });
        let mut total = Tries::default();
        for _ in 0..10 {
            let tries = call(&breaking, 0, Duration::from_secs(1)).await;
            total.breaker_fast_failed += tries.breaker_fast_failed;
            total.breaker_opened += tries.breaker_opened;
        }
        // Four failed attempts open it; the six calls after fail fast.
        assert_eq!((total.breaker_fast_failed, total.breaker_opened), (6, 1));
        tokio::time::advance(Duration::from_millis(100)).await;
        let probe = call(&breaking, 0, Duration::from_secs(1)).await;
        assert_eq!(
            (probe.breaker_fast_failed, probe.breaker_opened),
            (0, 1),
            "a failed probe"
        );

        // A retry the breaker refuses is not counted as one, and the call ends with the
        // failure it would have retried, not with the breaker's own.
        let retrying = guard(Protect {
            breaker: Some(spec()),
            ..Protect::default()
        });
        let (link, target) = gone();
        let mut tries = Tries::default();
        let failure = retrying
            .call(
                &link,
                &target,
                CallRequest::default(),
                Duration::from_secs(1),
                9,
                &mut tries,
            )
            .await
            .expect_err("nothing serves");
        assert_eq!(
            (tries.retries, tries.breaker_fast_failed),
            (3, 1),
            "{tries:?}"
        );
        assert!(
            failure.message.contains("no ready replica"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let protect = Protect {
            backoff: Some(crate::model::Backoff {
                base: Duration::from_millis(10),
                max: Duration::from_millis(35),
            }),
            ..Protect::default()
        };
        let guard = guard(protect);
        for _ in 0..200 {
            assert!(guard.backoff(1).unwrap() <= Duration::from_millis(10));
            assert!(guard.backoff(2).unwrap() <= Duration::from_millis(20));
            assert!(guard.backoff(3).unwrap() <= Duration::from_millis(35));
            assert!(guard.backoff(40).unwrap() <= Duration::from_millis(35));
        }
        let draws: std::collections::BTreeSet<Duration> =
            (0..200).map(|_| guard.backoff(3).unwrap()).collect();
        assert!(draws.len() > 20, "jitter spreads the waits: {draws:?}");
    }
}
