//! The validated scenario: what every other module works from.
//!
//! Invariant: a `Scenario` value is always valid. Every service, version and API version
//! it names exists, no reachable call chain loops, every number is in range. Code that
//! consumes it may rely on that and never re-checks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// Every random choice of a run derives from this seed (see `crate::seed`).
    pub seed: u64,
    /// Services by name; ordered, so every iteration is deterministic.
    pub services: BTreeMap<String, Service>,
    /// What runs before the rollout.
    pub initial: Deployment,
    /// What runs after a complete rollout: `initial` with `target` applied.
    pub target: Deployment,
    pub load: Load,
    pub strategies: Vec<Strategy>,
    pub faults: Vec<Fault>,
    pub gate: Option<Gate>,
    pub expect: Expect,
    pub risk: Risk,
    /// `availability:`: the failure model `simulate availability` asks by default, and
    /// its limits.
    pub availability: Availability,
    /// Feature flags, in the order of `flags:` (the order `dark` releases them in).
    pub flags: Vec<Flag>,
    /// What the loader noticed that is valid but likely not meant (services no
    /// entrypoint reaches): shown once by the commands that judge, never failing them.
    pub warnings: Vec<Warning>,
}

/// Something valid in a scenario that is likely not what its author meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Deployed services that no call from any entrypoint reaches, through any version:
    /// their failures reach no request, so nothing can judge them.
    Unreachable(Vec<String>),
}

impl Scenario {
    /// Services deployed at the start or the end that no entrypoint reaches through the
    /// calls (fallbacks included) of any of their versions, in name order.
    pub fn unreachable(&self) -> Vec<String> {
        let mut reached: BTreeSet<&str> = BTreeSet::new();
        let mut frontier: Vec<&str> = self.entrypoints().map(|s| s.name.as_str()).collect();
        while let Some(name) = frontier.pop() {
            if !reached.insert(name) {
                continue;
            }
            let Some(service) = self.services.get(name) else {
                continue;
            };
            for version in service.versions.values() {
                for call in version.every_call() {
                    if !reached.contains(call.service.as_str()) {
                        frontier.push(&call.service);
                    }
                }
            }
        }
        self.services
            .keys()
            .filter(|name| {
                !reached.contains(name.as_str())
                    && (self.initial.version(name).is_some() || self.target.version(name).is_some())
            })
            .cloned()
            .collect()
    }

    /// Every call any version of any service can make (fallbacks included), with the
    /// name of the service that makes it.
    pub fn every_call(&self) -> impl Iterator<Item = (&str, &Call)> {
        self.services.values().flat_map(|service| {
            service
                .versions
                .values()
                .flat_map(Version::every_call)
                .map(move |call| (service.name.as_str(), call))
        })
    }

    /// Whether some version sets `capacity` or some call a protection beyond plain
    /// retries: the keys that make cascades possible, whose effects the report then
    /// shows.
    pub fn models_cascades(&self) -> bool {
        let capacity = self
            .services
            .values()
            .flat_map(|service| service.versions.values())
            .any(|version| version.capacity.is_some());
        capacity
            || self
                .every_call()
                .any(|(_, call)| call.protect != Protect::default())
    }

    /// What `check` does not predict, as the report names it: the latency, errors and
    /// hang faults, each version's `capacity`, and each call's protections that act on
    /// time or load (per-try timeout, breaker, bulkhead, budget, backoff).
    pub fn unpredicted(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .faults
            .iter()
            .filter(|fault| {
                matches!(
                    fault.kind,
                    FaultKind::Latency { .. }
                        | FaultKind::Errors { .. }
                        | FaultKind::Hang(_)
                        | FaultKind::Crash { .. }
                )
            })
            .map(|fault| fault.kind.to_string())
            .collect();
        for service in self.services.values() {
            for version in service.versions.values() {
                if version.capacity.is_some() {
                    found.push(format!("capacity of {} {}", service.name, version.name));
                }
            }
        }
        let mut protected: Vec<String> = self
            .every_call()
            .filter(|(_, call)| {
                let protect = &call.protect;
                protect.per_try_timeout.is_some()
                    || protect.breaker.is_some()
                    || protect.bulkhead.is_some()
                    || protect.budget.is_some()
                    || protect.backoff.is_some()
            })
            .map(|(caller, call)| format!("protections of {caller} -> {}", call.service))
            .collect();
        protected.sort();
        protected.dedup();
        found.extend(protected);
        found
    }

    /// The changes a complete rollout makes, one per service, ordered by service name.
    pub fn changes(&self) -> Vec<Change> {
        changes(&self.initial, &self.target)
    }

    /// The flag releases a complete rollout makes: every flag that is off at the start,
    /// in the order of `flags:`, but one at 0%, which a release would leave off. The
    /// release is complete when each of these is on.
    pub fn releases(&self) -> Vec<FlagChange> {
        self.flags
            .iter()
            .filter(|flag| !flag.on && flag.percent > 0)
            .map(|flag| FlagChange::Release(flag.name.clone()))
            .collect()
    }

    /// The flags as they are before the rollout.
    pub fn initial_flags(&self) -> Flags {
        Flags(
            self.flags
                .iter()
                .map(|flag| {
                    let setting = FlagSetting {
                        on: flag.on,
                        percent: flag.percent,
                    };
                    (flag.name.clone(), setting)
                })
                .collect(),
        )
    }

    /// The flags after a complete rollout: every one released.
    pub fn target_flags(&self) -> Flags {
        let mut flags = self.initial_flags();
        for release in self.releases() {
            flags.apply(&release);
        }
        flags
    }

    /// The gate's action on a breach for `strategy`: its own `on_breach`, else the gate's.
    pub fn on_breach(&self, strategy: &Strategy) -> Option<Breach> {
        let gate = self.gate.as_ref()?;
        Some(strategy.on_breach.unwrap_or(gate.on_breach))
    }

    /// The entrypoint services, by name.
    pub fn entrypoints(&self) -> impl Iterator<Item = &Service> {
        self.services.values().filter(|service| service.entrypoint)
    }

    /// The API version the load calls on entrypoint `service`: the first one its initial
    /// version provides (its target version's, when it is not deployed at the start). The
    /// scenario format has no key for it; clients of an entrypoint are assumed to speak
    /// the API version that was live before the release.
    pub fn entry_api(&self, service: &str) -> String {
        let version = self
            .initial
            .version(service)
            .or_else(|| self.target.version(service));
        version
            .and_then(|version| self.version(service, version))
            .and_then(|version| version.provides.first().cloned())
            .unwrap_or_else(|| "v1".to_owned())
    }

    /// The definition of `service` at `version`.
    pub fn version(&self, service: &str, version: &str) -> Option<&Version> {
        self.services.get(service)?.versions.get(version)
    }

    /// The versions of each service that can run during some rollout (see
    /// [`runnable_versions`]).
    pub fn runnable(&self) -> BTreeMap<&str, Vec<&str>> {
        runnable_versions(&self.initial, &self.target)
    }

    /// How `change` moves its service, which decides what serves while it moves.
    pub fn move_of(&self, change: &Change) -> Move {
        match (&change.from, &change.to) {
            (None, _) => Move::Add,
            (Some(_), None) => Move::Remove,
            (Some(_), Some(_)) => match self.services.get(&change.service).map(|s| s.rollout) {
                Some(Rollout::Recreate) => Move::Recreate,
                _ => Move::Roll,
            },
        }
    }
}

/// The changes that take `initial` to `target`, one per service, ordered by service name.
pub fn changes(initial: &Deployment, target: &Deployment) -> Vec<Change> {
    let mut names: Vec<&String> = initial.0.keys().chain(target.0.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let from = initial.version(name);
            let to = target.version(name);
            (from != to).then(|| Change {
                service: name.clone(),
                from: from.map(str::to_owned),
                to: to.map(str::to_owned),
            })
        })
        .collect()
}

/// The versions of each service that can run at some moment of some rollout: its
/// initial and its target version, since any mix of the two can be live at once. Sorted,
/// without duplicates; services deployed in neither are absent.
pub fn runnable_versions<'a>(
    initial: &'a Deployment,
    target: &'a Deployment,
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut runnable: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for deployment in [initial, target] {
        for (service, version) in &deployment.0 {
            let versions = runnable.entry(service).or_default();
            if !versions.contains(&version.as_str()) {
                versions.push(version);
                versions.sort_unstable();
            }
        }
    }
    runnable
}

/// How a change moves its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// A deployed service to a new version, rolling: old and new replicas serve together.
    Roll,
    /// A deployed service to a new version, recreated: no replica is ready while the new
    /// ones start.
    Recreate,
    /// A service that was not deployed: not ready until its replicas start.
    Add,
    /// A deployed service leaves: it serves until the step completes.
    Remove,
}

/// One service and every version of it that the scenario defines.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// Load is sent to entrypoints.
    pub entrypoint: bool,
    /// Each replica is its own gRPC server.
    pub replicas: u32,
    /// Time from process start to ready.
    pub startup: Duration,
    pub rollout: Rollout,
    pub versions: BTreeMap<String, Version>,
}

impl Service {
    /// The named methods of any of its versions, by name.
    pub fn method_names(&self) -> std::collections::BTreeSet<&str> {
        self.versions
            .values()
            .flat_map(|version| version.methods.keys().map(String::as_str))
            .collect()
    }
}

/// How a service moves from one version to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollout {
    /// Start a new replica, then stop an old one; both versions serve meanwhile.
    Rolling,
    /// Stop every old replica, then start the new ones: a window with no replica at all.
    Recreate,
}

/// One build of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub name: String,
    /// API versions this build serves.
    pub provides: Vec<String>,
    /// Own work per request of the default method.
    pub latency: Duration,
    /// Share of requests of the default method that fail on their own, 0..=1.
    pub error_rate: f64,
    /// Downstream calls made for every request of the default method, in order.
    pub calls: Vec<Call>,
    /// Named methods, served on every API version the build provides, each with its own
    /// work and calls. A call names one with `method`; without it, a call reaches the
    /// default method above.
    pub methods: BTreeMap<String, Method>,
    /// Workers and queue per replica; `None`: any number of requests at once.
    pub capacity: Option<Capacity>,
}

impl Version {
    pub fn provides(&self, api: &str) -> bool {
        self.provides.iter().any(|provided| provided == api)
    }

    /// The method a call naming `method` reaches (`None`: the default method), when this
    /// build serves it.
    pub fn method(&self, method: Option<&str>) -> Option<MethodRef<'_>> {
        match method {
            None => Some(MethodRef {
                latency: self.latency,
                error_rate: self.error_rate,
                calls: &self.calls,
            }),
            Some(name) => self.methods.get(name).map(|method| MethodRef {
                latency: method.latency,
                error_rate: method.error_rate,
                calls: &method.calls,
            }),
        }
    }

    /// Every method this build serves: the default one (`None`) first, then the named
    /// ones by name.
    pub fn all_methods(&self) -> impl Iterator<Item = (Option<&str>, MethodRef<'_>)> {
        std::iter::once(None)
            .chain(self.methods.keys().map(|name| Some(name.as_str())))
            .filter_map(|name| self.method(name).map(|method| (name, method)))
    }

    /// Every call any method of this build can make, fallbacks included: the edges of
    /// the call graph.
    pub fn every_call(&self) -> impl Iterator<Item = &Call> {
        self.calls
            .iter()
            .chain(self.methods.values().flat_map(|method| &method.calls))
            .flat_map(Call::chain)
    }
}

/// A named method of a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub latency: Duration,
    pub error_rate: f64,
    pub calls: Vec<Call>,
}

/// One method of a version, the default one or a named one, as the runtime serves it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodRef<'a> {
    pub latency: Duration,
    pub error_rate: f64,
    pub calls: &'a [Call],
}

/// One downstream call of a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub service: String,
    pub api: String,
    /// The callee's method; `None` is its default method.
    pub method: Option<String>,
    pub on_failure: OnFailure,
    /// Deadline for this call, retries included.
    pub timeout: Duration,
    /// Extra attempts on a code of `protect.retry_on` (UNAVAILABLE unless the call says).
    pub retries: u32,
    /// The call is made only for requests for which this flag is on.
    pub flag: Option<String>,
    /// Made only when this call fails and its rule for the code is not `fail`; the
    /// fallback's own `on_failure` then decides what its failure does.
    pub fallback: Option<Box<Call>>,
    /// The caller does not wait: the outcome is counted on the edge, never in the
    /// caller's answer.
    pub asynchronous: bool,
    /// How the caller protects itself on this call: per-try timeout, retried codes,
    /// backoff, retry budget, circuit breaker, bulkhead. The default is none of them,
    /// which is what a call meant before they existed.
    pub protect: Protect,
}

impl Call {
    /// A plain call of `service`'s default method at API `api`: fails its caller on
    /// failure, one second, no retry, no flag, no fallback.
    pub fn to(service: &str, api: &str) -> Call {
        Call {
            service: service.to_owned(),
            api: api.to_owned(),
            method: None,
            on_failure: OnFailure::FAIL,
            timeout: Duration::from_secs(1),
            retries: 0,
            flag: None,
            fallback: None,
            asynchronous: false,
            protect: Protect::default(),
        }
    }

    /// This call and its fallbacks, in the order they would be made.
    pub fn chain(&self) -> impl Iterator<Item = &Call> {
        std::iter::successors(Some(self), |call| call.fallback.as_deref())
    }

    /// The method's name for reports: `default` when the call names none.
    pub fn method_name(&self) -> &str {
        self.method.as_deref().unwrap_or(DEFAULT_METHOD)
    }
}

/// How a caller protects itself on one call. Each protection is off unless the scenario
/// sets it, so a call without `protect` keys behaves as before they existed: one deadline
/// for the whole call, retries on UNAVAILABLE at once, no budget, no breaker, no bulkhead.
/// The runtime applies them in one place (`runtime::protect`), in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protect {
    /// The bound of each attempt (Envoy's `per_try_timeout`); `None`: the whole call's
    /// deadline.
    pub per_try_timeout: Option<Duration>,
    /// The codes an attempt is retried on, in [`FailCode::ALL`] order.
    pub retry_on: Vec<FailCode>,
    /// The wait before each retry; `None`: retry at once.
    pub backoff: Option<Backoff>,
    /// A retry budget shared by every request of the call; `None`: no budget.
    pub budget: Option<RetryBudget>,
    /// A circuit breaker on the call; `None`: none.
    pub breaker: Option<Breaker>,
    /// At most this many of the call's calls in flight at once, per caller replica.
    pub bulkhead: Option<u32>,
}

impl Default for Protect {
    fn default() -> Protect {
        Protect {
            per_try_timeout: None,
            retry_on: vec![FailCode::Unavailable],
            backoff: None,
            budget: None,
            breaker: None,
            bulkhead: None,
        }
    }
}

impl Protect {
    /// Whether an attempt that failed with `code` may be retried.
    pub fn retries_on(&self, code: FailCode) -> bool {
        self.retry_on.contains(&code)
    }
}

/// Exponential backoff with full jitter (gRPC's retry policy, AWS's "full jitter"): the
/// wait before retry n is drawn uniformly from 0 to min(`max`, `base` x 2^(n-1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

/// A retry budget as linkerd and Envoy keep one: retries may add `percent` % to the
/// calls made over the last 10 seconds, plus `min_per_s` retries per second whatever
/// the traffic (tower's `TpsBudget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    pub percent: u32,
    pub min_per_s: u32,
}

/// A circuit breaker (resilience4j's shape): over the last `window` attempts, once at
/// least `min_calls` were made, a failure share of `failure_percent` % or more opens it;
/// open, every attempt fails at once with UNAVAILABLE for `open`; then `probes` attempts
/// go through half-open: all succeed and it closes, one fails and it opens again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub failure_percent: u32,
    pub window: u32,
    pub min_calls: u32,
    pub open: Duration,
    pub probes: u32,
}

/// How many requests one replica of a version works on at once and how many more wait.
/// A worker is held for the whole handler, downstream calls included (a
/// thread-per-request server: what makes a slow callee hurt its callers); past the
/// workers a request waits in a FIFO queue; past the queue it is refused at once with
/// RESOURCE_EXHAUSTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub workers: u32,
    pub queue: u32,
}

/// How reports and `load.entrypoints.*.mix` name a version's default method.
pub const DEFAULT_METHOD: &str = "default";

/// A feature flag as the scenario declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    /// Released before the rollout.
    pub on: bool,
    /// The share of users it is on for, once released (0..=100).
    pub percent: u8,
}

/// One flag's state: released or not, and for what share of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlagSetting {
    pub on: bool,
    pub percent: u8,
}

impl FlagSetting {
    /// The percent of users the flag is on for: 0 while it is not released.
    pub fn share(self) -> u8 {
        if self.on { self.percent } else { 0 }
    }
}

/// Every flag's state at one moment of a rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flags(pub BTreeMap<String, FlagSetting>);

impl Flags {
    /// The percent of users `flag` is on for (0 for an unknown flag).
    pub fn share(&self, flag: &str) -> u8 {
        self.0.get(flag).map_or(0, |setting| setting.share())
    }

    /// Every flag's percent of users now (0: off), by name: what the reports show.
    pub fn shares(&self) -> BTreeMap<String, u8> {
        self.0
            .iter()
            .map(|(name, setting)| (name.clone(), setting.share()))
            .collect()
    }

    /// Applies one flag change. `release` turns the flag on at its percent, `unrelease`
    /// turns it off and keeps the percent for a later release, `percent` sets the percent
    /// and turns it on.
    pub fn apply(&mut self, change: &FlagChange) {
        let Some(setting) = self.0.get_mut(change.flag()) else {
            return;
        };
        match change {
            FlagChange::Release(_) => setting.on = true,
            FlagChange::Unrelease(_) => setting.on = false,
            FlagChange::Percent(_, percent) => {
                setting.on = true;
                setting.percent = *percent;
            }
        }
    }

    /// The changes that take `self` back to `to`, for the flags whose share differs.
    pub fn back_to(&self, to: &Flags) -> Vec<FlagChange> {
        to.0.iter()
            .filter(|(name, setting)| self.share(name) != setting.share())
            .map(|(name, setting)| {
                if setting.on {
                    FlagChange::Percent(name.clone(), setting.percent)
                } else {
                    FlagChange::Unrelease(name.clone())
                }
            })
            .collect()
    }
}

/// The bucket, 0..100, of `user` for `flag`: a flag at N% is on for the user when the
/// bucket is below N, so raising N only adds users (sticky, as gradual rollouts in flag
/// services are). FNV-1a over the flag name and the user, then a 64-bit finaliser so that
/// the buckets of one user for two flags are not related; stable across platforms.
pub fn flag_bucket(flag: &str, user: u64) -> u8 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in flag.bytes().chain([0]).chain(user.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    u8::try_from(hash % 100).unwrap_or(0)
}

/// Whether `flag` at `percent` is on for `user`.
pub fn flag_on(flag: &str, user: u64, percent: u32) -> bool {
    u32::from(flag_bucket(flag, user)) < percent
}

/// A step's change to one flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlagChange {
    Release(String),
    Unrelease(String),
    Percent(String, u8),
}

impl FlagChange {
    pub fn flag(&self) -> &str {
        match self {
            FlagChange::Release(flag)
            | FlagChange::Unrelease(flag)
            | FlagChange::Percent(flag, _) => flag,
        }
    }
}

impl fmt::Display for FlagChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagChange::Release(flag) => write!(f, "release {flag}"),
            FlagChange::Unrelease(flag) => write!(f, "unrelease {flag}"),
            FlagChange::Percent(flag, percent) => write!(f, "{flag} {percent}%"),
        }
    }
}

/// One step of an explicit order: services that move to their target version, and flag
/// changes, made together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepSpec {
    pub services: Vec<String>,
    pub flags: Vec<FlagChange>,
}

impl StepSpec {
    /// A step that moves `services` and changes no flag.
    pub fn deploy<S: AsRef<str>>(services: &[S]) -> StepSpec {
        StepSpec {
            services: services.iter().map(|s| s.as_ref().to_owned()).collect(),
            flags: Vec::new(),
        }
    }
}

/// What a caller does with a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// The error goes up: the caller's request fails with the call's code.
    Fail,
    /// The caller answers with a fallback (or its `fallback:` call's answer), marked
    /// degraded.
    Degrade,
    /// The caller swallows the failure and answers normally; the edge still counts it.
    Ignore,
}

impl Action {
    pub fn word(self) -> &'static str {
        match self {
            Action::Fail => "fail",
            Action::Degrade => "degrade",
            Action::Ignore => "ignore",
        }
    }
}

/// The gRPC codes an `on_failure` rule can name: the ones a simulated call can fail
/// with (UNAVAILABLE: nothing serves, a partition, a killed replica; UNIMPLEMENTED: an API
/// version or method the build lacks; DEADLINE_EXCEEDED: a timeout; INTERNAL: a
/// version's own `error_rate`; RESOURCE_EXHAUSTED: a replica whose workers and queue are
/// full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailCode {
    Unavailable,
    Unimplemented,
    DeadlineExceeded,
    Internal,
    ResourceExhausted,
}

impl FailCode {
    pub const ALL: [FailCode; 5] = [
        FailCode::Unavailable,
        FailCode::Unimplemented,
        FailCode::DeadlineExceeded,
        FailCode::Internal,
        FailCode::ResourceExhausted,
    ];

    /// The canonical gRPC name, as rules write it.
    pub fn name(self) -> &'static str {
        match self {
            FailCode::Unavailable => "UNAVAILABLE",
            FailCode::Unimplemented => "UNIMPLEMENTED",
            FailCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            FailCode::Internal => "INTERNAL",
            FailCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
        }
    }

    pub fn from_name(name: &str) -> Option<FailCode> {
        FailCode::ALL.into_iter().find(|code| code.name() == name)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// What a caller does when a call fails: one action, or one per gRPC code with a
/// default for the rest (`{ UNAVAILABLE: degrade, default: fail }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OnFailure {
    pub default: Action,
    /// Per [`FailCode`] (in `FailCode::ALL` order), the action that replaces `default`.
    pub by_code: [Option<Action>; 5],
}

impl OnFailure {
    pub const FAIL: OnFailure = OnFailure::always(Action::Fail);
    pub const DEGRADE: OnFailure = OnFailure::always(Action::Degrade);
    pub const IGNORE: OnFailure = OnFailure::always(Action::Ignore);

    pub const fn always(action: Action) -> OnFailure {
        OnFailure {
            default: action,
            by_code: [None; 5],
        }
    }

    /// The action for a failure with `code`; `None`: a code no rule names (CANCELLED,
    /// say), which takes the default.
    pub fn action(&self, code: Option<FailCode>) -> Action {
        code.and_then(|code| self.by_code[code.slot()])
            .unwrap_or(self.default)
    }

    /// The one action every code gets, when there is one.
    pub fn single(&self) -> Option<Action> {
        self.by_code
            .iter()
            .all(|action| action.is_none_or(|action| action == self.default))
            .then_some(self.default)
    }

    /// True when some failure can fail the caller.
    pub fn can_fail(&self) -> bool {
        self.default == Action::Fail || self.by_code.contains(&Some(Action::Fail))
    }

    /// True when every failure, whatever its code, fails the caller.
    pub fn always_fails(&self) -> bool {
        self.single() == Some(Action::Fail)
    }

    /// True when some failure is swallowed (`ignore`): no request hears of it.
    pub fn ignores_some(&self) -> bool {
        self.default == Action::Ignore || self.by_code.contains(&Some(Action::Ignore))
    }
}

impl fmt::Display for OnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(action) = self.single() {
            return f.write_str(action.word());
        }
        f.write_str("{ ")?;
        for (code, action) in FailCode::ALL.iter().zip(self.by_code) {
            if let Some(action) = action {
                write!(f, "{}: {}, ", code.name(), action.word())?;
            }
        }
        write!(f, "default: {} }}", self.default.word())
    }
}

/// Which version of each deployed service runs. A service that is absent is not deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Deployment(pub BTreeMap<String, String>);

impl Deployment {
    pub fn version(&self, service: &str) -> Option<&str> {
        self.0.get(service).map(String::as_str)
    }

    /// Applies one change: the service moves to `change.to`, or leaves when it is `None`.
    pub fn apply(&mut self, change: &Change) {
        match &change.to {
            Some(version) => self.0.insert(change.service.clone(), version.clone()),
            None => self.0.remove(&change.service),
        };
    }
}

/// One service moving from one version to another. `None` is "not deployed".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Change {
    pub service: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |version: &Option<String>| version.clone().unwrap_or_else(|| "none".to_owned());
        write!(
            f,
            "{} {}->{}",
            self.service,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// Open-loop load settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Arrival rate per entrypoint, for entrypoints `entrypoints` does not set.
    pub rps: u32,
    /// Traffic before the first step.
    pub baseline: Duration,
    /// Bake time after each step (`step_ms`).
    pub bake: Duration,
    /// Bound on outstanding requests.
    pub max_in_flight: u32,
    /// Per entrypoint: its own rate and traffic mix (`load.entrypoints`).
    pub entrypoints: BTreeMap<String, EntryLoad>,
}

/// One entrypoint's load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLoad {
    /// Arrivals per second; `None`: the top-level `rps`.
    pub rps: Option<u32>,
    /// (method, weight): the share of requests each method gets, in proportion to its
    /// weight; `None` is the default method. Empty: every request to the default method.
    pub mix: Vec<(Option<String>, u32)>,
}

impl Load {
    /// How long the settled part of a step lasts: the baseline whole (it has no
    /// transient part), a rollout or rollback step the second half of its bake time.
    pub fn settled_part(&self, baseline: bool) -> Duration {
        if baseline {
            self.baseline
        } else {
            self.bake / 2
        }
    }

    /// The largest `max_in_flight` a scenario may set.
    pub const MAX_IN_FLIGHT: u32 = 100_000;

    /// The arrival rate of entrypoint `service`.
    pub fn rps_of(&self, service: &str) -> u32 {
        self.entrypoints
            .get(service)
            .and_then(|entry| entry.rps)
            .unwrap_or(self.rps)
    }

    /// The methods the load calls on `service`, with their weights (at least one, every
    /// weight above 0): its mix, or the default method alone.
    pub fn mix_of(&self, service: &str) -> Vec<(Option<String>, u32)> {
        let mix: Vec<(Option<String>, u32)> = self
            .entrypoints
            .get(service)
            .map(|entry| {
                entry
                    .mix
                    .iter()
                    .filter(|(_, weight)| *weight > 0)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if mix.is_empty() { vec![(None, 1)] } else { mix }
    }
}

impl Default for Load {
    fn default() -> Self {
        Load {
            rps: 100,
            baseline: Duration::from_millis(500),
            bake: Duration::from_millis(500),
            max_in_flight: 1000,
            entrypoints: BTreeMap::new(),
        }
    }
}

/// A named rollout strategy and the expectations it must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    pub name: String,
    pub kind: StrategyKind,
    /// The top-level `expect`, with this strategy's own keys laid over it.
    pub expect: Expect,
    /// What the gate does on a breach in this strategy, over the gate's own `on_breach`.
    pub on_breach: Option<Breach>,
    /// Asked for by name: listed in the scenario's `strategies` (or `risk.strategies`), or
    /// named with `--strategy`. A listed strategy that cannot be planned fails the
    /// verdict; a default one (the scenario lists none) is only reported.
    pub listed: bool,
}

/// How a strategy orders the changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyKind {
    /// One step with every change.
    Batch,
    /// One service per step, providers before their callers, ties by name.
    SinglePiece,
    /// One service per step in a seeded random order.
    Random,
    /// `waves-K`: the single-piece order cut into steps of K services.
    Waves(usize),
    /// An explicit list of steps; it may stop before the target (a partial rollout).
    Steps(Vec<StepSpec>),
    /// Deploy dark: every service change in one step with the flags the release
    /// introduces still off, then one flag release per step, in the order of `flags:`.
    Dark,
    /// The order `simulate check` plans: the fewest steps in which no entrypoint fails in
    /// any state.
    Safe,
}

impl StrategyKind {
    /// Parses the name of a built-in strategy (`batch`, `single-piece`, `random`,
    /// `waves-K`, `safe`).
    pub fn builtin(name: &str) -> Option<StrategyKind> {
        match name {
            "batch" => Some(StrategyKind::Batch),
            "single-piece" => Some(StrategyKind::SinglePiece),
            "random" => Some(StrategyKind::Random),
            "safe" => Some(StrategyKind::Safe),
            "dark" => Some(StrategyKind::Dark),
            _ => {
                let size: usize = name.strip_prefix("waves-")?.parse().ok()?;
                (size >= 1).then_some(StrategyKind::Waves(size))
            }
        }
    }

    /// The names a user can write for built-in strategies, for suggestions.
    pub const BUILTIN_NAMES: [&'static str; 6] =
        ["batch", "single-piece", "random", "waves-2", "safe", "dark"];

    /// How many steps (after the baseline) this kind has for `n_changes` service changes
    /// and `n_releases` flag releases, without planning it: what the loader checks fault
    /// steps against.
    pub fn step_count(&self, n_changes: usize, n_releases: usize) -> usize {
        let items = n_changes + n_releases;
        match self {
            StrategyKind::Batch => usize::from(items > 0),
            // A safe order has at most one step per change.
            StrategyKind::SinglePiece | StrategyKind::Random | StrategyKind::Safe => items,
            StrategyKind::Waves(size) => items.div_ceil((*size).max(1)),
            StrategyKind::Steps(steps) => steps.len(),
            StrategyKind::Dark => usize::from(n_changes > 0) + n_releases,
        }
    }

    /// A short word for reports: `batch`, `single-piece`, `random`, `waves`, `steps`.
    pub fn label(&self) -> &'static str {
        match self {
            StrategyKind::Batch => "batch",
            StrategyKind::SinglePiece => "single-piece",
            StrategyKind::Random => "random",
            StrategyKind::Waves(_) => "waves",
            StrategyKind::Steps(_) => "steps",
            StrategyKind::Safe => "safe",
            StrategyKind::Dark => "dark",
        }
    }
}

/// A fault injected during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// The step at whose start the fault's clock starts (0 is the baseline).
    pub at_step: usize,
    /// Delay after the start of `at_step`.
    pub after: Duration,
    /// How long it lasts; `None` is until the end of the run.
    pub duration: Option<Duration>,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Every replica dies at once and restarts when the window ends.
    Kill(String),
    /// The service is undeployed for the window.
    Missing(String),
    /// Calls from `from` to `to` fail as unreachable.
    Partition { from: String, to: String },
    /// Every answer of the service comes `add` later, plus a seeded uniform draw in
    /// `[0, jitter]`.
    Latency {
        service: String,
        add: Duration,
        jitter: Duration,
    },
    /// That share of the service's answers (in parts per million, so that a fault
    /// compares exactly) fail with `code`.
    Errors {
        service: String,
        per_million: u32,
        code: FailCode,
    },
    /// A black-holed service: its replicas take requests and never answer, so a
    /// caller fails only at its deadline (DEADLINE_EXCEEDED).
    Hang(String),
    /// A crash loop: every `every`, one replica of the service dies at once and a new
    /// one of its version starts, ready after `startup_ms`; the next crash waits for it,
    /// so with two replicas or more one is always up.
    Crash { service: String, every: Duration },
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Kill(service) => write!(f, "kill {service}"),
            FaultKind::Missing(service) => write!(f, "missing {service}"),
            FaultKind::Partition { from, to } => write!(f, "partition {from}->{to}"),
            FaultKind::Latency {
                service,
                add,
                jitter,
            } => {
                write!(f, "latency {service} +{}ms", add.as_millis())?;
                if !jitter.is_zero() {
                    write!(f, " (jitter {}ms)", jitter.as_millis())?;
                }
                Ok(())
            }
            FaultKind::Errors {
                service,
                per_million,
                code,
            } => write!(
                f,
                "errors {service} {}% {}",
                f64::from(*per_million) / 10_000.0,
                code.name()
            ),
            FaultKind::Hang(service) => write!(f, "hang {service}"),
            FaultKind::Crash { service, every } => {
                write!(f, "crash {service} every {}ms", every.as_millis())
            }
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.after.is_zero() {
            write!(f, " after {}ms", self.after.as_millis())?;
        }
        match self.duration {
            Some(duration) => write!(f, " for {}ms", duration.as_millis()),
            None => write!(f, " until the end"),
        }
    }
}

/// The health gate checked after each step's bake time.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub max_failed_ratio: f64,
    pub on_breach: Breach,
}

/// What a breached gate does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Go back to `initial`, in reverse order.
    Rollback,
    /// Stop where it is.
    Stop,
    /// Carry on and report the breach.
    Continue,
    /// Unrelease, at once, every flag the rollout has released so far; no redeploy.
    KillSwitch,
}

/// What must hold for a run to pass. `None` checks nothing for that key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    /// `Some(true)`: no entry request failed; `Some(false)`: some entry request fails.
    pub graceful: Option<bool>,
    pub max_failed_ratio: Option<f64>,
    pub max_degraded_ratio: Option<f64>,
    pub p99: Option<Duration>,
}

impl Expect {
    /// True when no key is set: nothing to judge.
    pub fn is_empty(&self) -> bool {
        *self == Expect::default()
    }

    /// `self` with every key that `overrides` sets replaced by its value.
    pub fn overridden_by(&self, overrides: &Expect) -> Expect {
        Expect {
            graceful: overrides.graceful.or(self.graceful),
            max_failed_ratio: overrides.max_failed_ratio.or(self.max_failed_ratio),
            max_degraded_ratio: overrides.max_degraded_ratio.or(self.max_degraded_ratio),
            p99: overrides.p99.or(self.p99),
        }
    }
}

/// What fails in `simulate availability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailUnit {
    /// One replica of a service; a service is down when all of its replicas are.
    #[default]
    Replica,
    /// A whole service.
    Service,
}

/// How many units fail at one level of `simulate availability`'s model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    /// Exactly this many, drawn uniformly without replacement over all units.
    Kill(u32),
    /// Each unit independently, with this probability.
    Each(f64),
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Kill(k) => write!(f, "K={k}"),
            Amount::Each(p) => write!(f, "p={p}"),
        }
    }
}

/// `availability:` in a scenario: the failure model `simulate availability` asks when
/// its command line does not say, and the limits that fail it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Availability {
    pub unit: FailUnit,
    /// The levels, in the order written (`kill` first, then `each`).
    pub levels: Vec<Amount>,
    /// Services that never fail.
    pub spare: Vec<String>,
    /// Count a degraded answer as lost.
    pub degraded_lost: bool,
    pub expect: Vec<MinAvailability>,
}

/// `availability.expect[]`: at `amount`, the share served of `entrypoint` (of the whole
/// load when `None`) must be at least `min`.
#[derive(Debug, Clone, PartialEq)]
pub struct MinAvailability {
    pub amount: Amount,
    pub entrypoint: Option<String>,
    pub min: f64,
}

/// Settings of `simulate risk`: strategies compared over seeded trials.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    pub trials: u32,
    pub strategies: Vec<StrategyKind>,
    /// `risk.strategies` was written (not the default): its strategies are listed (see
    /// [`Strategy::listed`]).
    pub strategies_listed: bool,
    pub defect: Defect,
    pub expect: RiskExpect,
}

impl Default for Risk {
    fn default() -> Self {
        Risk {
            trials: 200,
            strategies: vec![StrategyKind::Batch, StrategyKind::SinglePiece],
            strategies_listed: false,
            defect: Defect::default(),
            expect: RiskExpect::default(),
        }
    }
}

/// The keys of `simulate risk`'s measures, in report order: `risk.expect` takes
/// `max_KEY` for each. (The measures themselves live in `risk`; a unit test there keeps
/// the two lists one.)
pub const RISK_MEASURE_KEYS: [&str; 11] = [
    "change_failure_rate",
    "failed_requests",
    "degraded_requests",
    "time_to_detect_ms",
    "time_to_restore_ms",
    "rolled_back",
    "collateral",
    "entrypoints_failed",
    "suspects",
    "escaped",
    "lead_time_ms",
];

/// `risk.expect`: thresholds on one strategy's estimates that decide `simulate risk`'s
/// exit code, for a pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskExpect {
    /// The strategy the team uses; `None`: the first of `risk.strategies`.
    pub strategy: Option<StrategyKind>,
    /// (measure key, largest allowed estimate), in the order written.
    pub limits: Vec<(String, f64)>,
}

/// How `simulate risk` draws defective versions.
#[derive(Debug, Clone, PartialEq)]
pub struct Defect {
    /// Chance that each changed service's new version is defective.
    pub probability: f64,
    /// Relative weights of the defect kinds.
    pub weight_errors: f64,
    pub weight_latency: f64,
    pub weight_drop_api: f64,
    /// `hang`: 0 unless the scenario weighs it, so older scenarios draw as before.
    pub weight_hang: f64,
    /// Error rate of an `errors` defect.
    pub error_rate: f64,
    /// Added latency of a `latency` defect.
    pub add: Duration,
}

impl Default for Defect {
    fn default() -> Self {
        Defect {
            probability: 0.2,
            weight_errors: 0.5,
            weight_latency: 0.3,
            weight_drop_api: 0.2,
            weight_hang: 0.0,
            error_rate: 0.5,
            add: Duration::from_millis(200),
        }
    }
}

#[cfg(test)]
mod tests;
