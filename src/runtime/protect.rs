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
use tower::retry::budget::{Budget as _, TpsBudget};

use crate::contract::{CallReply, CallRequest, Failure};
use crate::model::{Breaker, FailCode, Protect};
use crate::record::traffic::Tries;
use crate::runtime::pool::{Link, Target};

/// How long a retry budget remembers calls and retries (linkerd's `ttl`).
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// The protections of one call as one caller replica holds them.
#[derive(Debug)]
pub struct Guard {
    protect: Protect,
    budget: Option<TpsBudget>,
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
            budget: protect.budget.map(|budget| {
                // Percent and floor are validated (0..=1000 and at most 100,000), inside
                // what `TpsBudget::new` asserts.
                TpsBudget::new(
                    BUDGET_WINDOW,
                    budget.min_per_s,
                    budget.percent as f32 / 100.0,
                )
            }),
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
            budget.deposit();
        }
        let deadline = Instant::now() + budget;
        let mut attempt = 0;
        loop {
            if let Some(breaker) = &self.breaker
                && !crate::lock::lock(breaker).admit(Instant::now())
            {
                tries.breaker_fast_failed += 1;
                return Err(fast_failure("circuit breaker open".to_owned()));
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
            tries.attempts += 1;
            let result = link.call_until(target, this, try_deadline).await;
            if let Some(breaker) = &self.breaker {
                let change = crate::lock::lock(breaker).record(result.is_ok(), Instant::now());
                match change {
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
            if let Some(budget) = &self.budget
                && !budget.withdraw()
            {
                tries.retries_refused += 1;
                return Err(failure);
            }
            attempt += 1;
            if let Some(wait) = self.backoff(attempt) {
                if now + wait >= deadline {
                    return Err(failure);
                }
                tokio::time::sleep(wait).await;
            }
            tries.retries += 1;
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

/// A circuit breaker over the last `window` attempts (resilience4j's count-based
/// sliding window), on tokio's clock.
#[derive(Debug)]
pub struct Circuit {
    spec: Breaker,
    state: State,
    /// Closed: the outcomes of the last attempts, true for a failure, at most `window`.
    recent: VecDeque<bool>,
    failures: u32,
    /// Open: until when.
    until: Instant,
    /// Half-open: probes let through and probes that succeeded.
    probes: u32,
    passed: u32,
}

impl Circuit {
    pub fn new(spec: Breaker) -> Circuit {
        Circuit {
            spec,
            state: State::Closed,
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

    /// Whether an attempt may go now. An open breaker whose wait is over turns
    /// half-open and lets `probes` attempts through, one by one as they are asked for.
    pub fn admit(&mut self, now: Instant) -> bool {
        if self.state == State::Open && now >= self.until {
            self.state = State::HalfOpen;
            self.probes = 0;
            self.passed = 0;
        }
        match self.state {
            State::Closed => true,
            State::Open => false,
            State::HalfOpen if self.probes < self.spec.probes => {
                self.probes += 1;
                true
            }
            State::HalfOpen => false,
        }
    }

    /// An admitted attempt ended; returns the state it moved the breaker to, if it did.
    pub fn record(&mut self, ok: bool, now: Instant) -> Option<State> {
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
                self.state = State::Closed;
                self.recent.clear();
                self.failures = 0;
                Some(State::Closed)
            }
            // An attempt admitted before the breaker opened, ending after: the window
            // it belonged to is gone.
            State::Open => None,
        }
    }

    fn open(&mut self, now: Instant) -> State {
        self.state = State::Open;
        self.until = now + self.spec.open;
        self.recent.clear();
        self.failures = 0;
        State::Open
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

    #[tokio::test(start_paused = true)]
    async fn a_breaker_opens_fails_fast_probes_and_closes() {
        let mut circuit = Circuit::new(spec());
        let now = Instant::now();
        for ok in [true, false, true] {
            assert!(circuit.admit(now));
            assert_eq!(
                circuit.record(ok, now),
                None,
                "three calls are below min_calls"
            );
        }
        assert!(circuit.admit(now));
        assert_eq!(
            circuit.record(false, now),
            Some(State::Open),
            "2 of 4 failed: 50%"
        );
        assert!(!circuit.admit(now), "open: fails fast");
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(
            !circuit.admit(Instant::now()),
            "still open 1 ms before the wait ends"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        let later = Instant::now();
        assert!(circuit.admit(later), "the first probe");
        assert!(circuit.admit(later), "the second probe");
        assert!(!circuit.admit(later), "no third while the probes are out");
        assert_eq!(circuit.state(), State::HalfOpen);
        assert_eq!(circuit.record(true, later), None);
        assert_eq!(circuit.record(true, later), Some(State::Closed));
        assert!(circuit.admit(later));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_the_breaker_again() {
        let mut circuit = Circuit::new(spec());
        let now = Instant::now();
        for _ in 0..4 {
            assert!(circuit.admit(now));
            circuit.record(false, now);
        }
        assert_eq!(circuit.state(), State::Open);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(circuit.admit(Instant::now()));
        assert_eq!(circuit.record(false, Instant::now()), Some(State::Open));
        assert!(!circuit.admit(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_forgets_old_failures() {
        let mut circuit = Circuit::new(spec());
        let now = Instant::now();
        // Failures first, then successes push them out of the 4-attempt window.
        for ok in [false, true, true, true, true, true] {
            assert!(circuit.admit(now));
            assert_eq!(circuit.record(ok, now), None);
        }
        assert_eq!(circuit.state(), State::Closed);
    }

    /// A link to a service with no ready replica: every attempt fails at once with
    /// UNAVAILABLE, without the network.
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
        assert_eq!((tries.attempts, tries.retries), (4, 3));
        // UNAVAILABLE is not retried when the call's codes leave it out.
        let deadlines_only = guard(Protect {
            retry_on: vec![FailCode::DeadlineExceeded],
            ..Protect::default()
        });
        let tries = call(&deadlines_only, 3, Duration::from_secs(1)).await;
        assert_eq!((tries.attempts, tries.retries), (1, 0));
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
            total.attempts += tries.attempts;
            total.retries += tries.retries;
            total.retries_refused += tries.retries_refused;
        }
        assert!(total.retries <= 20, "{total:?}");
        assert!(total.retries >= 15, "{total:?}");
        assert_eq!(total.attempts, 100 + total.retries);
        assert!(total.retries_refused >= 80, "{total:?}");
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
        assert_eq!(tries.attempts, 1 + tries.retries);
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
            total.attempts += tries.attempts;
            total.breaker_fast_failed += tries.breaker_fast_failed;
            total.breaker_opened += tries.breaker_opened;
        }
        // Four failed attempts open it; the six calls after fail fast.
        assert_eq!(
            (
                total.attempts,
                total.breaker_fast_failed,
                total.breaker_opened
            ),
            (4, 6, 1)
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        let probe = call(&breaking, 0, Duration::from_secs(1)).await;
        assert_eq!(
            (probe.attempts, probe.breaker_opened),
            (1, 1),
            "a failed probe"
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
