//! A version's `capacity` and a call's protections: `per_try_timeout_ms`, `retry_on`,
//! `backoff`, `retry_budget`, `breaker` and `bulkhead`. Each is read here, one key at a
//! time, with its default; a setting that could never take effect (a retry setting on
//! a call without retries, a per-try timeout longer than the whole call) is reported.

use std::time::Duration;

use super::{Decoder, Fields};
use crate::model::{Backoff, Breaker, Capacity, FailCode, Protect, RetryBudget};
use crate::scenario::yaml::Node;

/// The keys of a call that set its protections.
pub(super) const KEYS: [&str; 6] = [
    "per_try_timeout_ms",
    "retry_on",
    "backoff",
    "retry_budget",
    "breaker",
    "bulkhead",
];

/// The most workers, queue places or bulkhead slots one setting may ask for.
const MAX_SLOTS: u32 = 100_000;

impl Decoder<'_> {
    /// `capacity: { workers: N, queue: M }`: `workers` is required, `queue` defaults to 0
    /// (refuse as soon as every worker is busy).
    pub(super) fn capacity(&mut self, node: &Node, path: &str) -> Option<Capacity> {
        let fields = self.fields(node, path, &["workers", "queue"], &[])?;
        let workers = self.opt(&fields, "workers", |d, node, path| {
            d.count(node, path, 1, MAX_SLOTS)
        });
        let queue = self
            .opt(&fields, "queue", |d, node, path| {
                d.count(node, path, 0, MAX_SLOTS)
            })
            .unwrap_or(0);
        if fields.get("workers").is_none() {
            self.problem(path, node.pos, "`capacity` needs `workers`");
        }
        Some(Capacity {
            workers: workers?,
            queue,
        })
    }

    /// A call's protections, read from its own keys; `timeout` and `retries` are the
    /// call's, to report settings that cannot take effect.
    pub(super) fn protect(
        &mut self,
        fields: &Fields<'_>,
        timeout: Duration,
        retries: u32,
    ) -> Protect {
        let per_try_timeout = self.opt(fields, "per_try_timeout_ms", |d, node, path| {
            let per_try = d.millis(node, path, 1)?;
            if per_try > timeout {
                d.problem(
                    path,
                    node.pos,
                    format!(
                        "{} ms is longer than the call's timeout_ms ({} ms), so it never takes effect",
                        per_try.as_millis(),
                        timeout.as_millis()
                    ),
                );
                return None;
            }
            Some(per_try)
        });
        let retry_on = self.opt(fields, "retry_on", |d, node, path| d.codes(node, path));
        if retries > 0
            && retry_on.as_ref().is_some_and(Vec::is_empty)
            && let Some(value) = fields.get("retry_on")
        {
            self.problem(
                &fields.path("retry_on"),
                value.pos,
                "an empty `retry_on` retries nothing: list the codes to retry, or remove `retries`",
            );
        }
        let protect = Protect {
            per_try_timeout,
            retry_on: retry_on.unwrap_or_else(|| Protect::default().retry_on),
            backoff: self.opt(fields, "backoff", |d, node, path| d.backoff(node, path)),
            budget: self.opt(fields, "retry_budget", |d, node, path| {
                d.retry_budget(node, path)
            }),
            breaker: self.opt(fields, "breaker", |d, node, path| d.breaker(node, path)),
            bulkhead: self.opt(fields, "bulkhead", |d, node, path| {
                d.count(node, path, 1, MAX_SLOTS)
            }),
        };
        if retries == 0 {
            for key in ["retry_on", "backoff", "retry_budget"] {
                if let Some(value) = fields.get(key) {
                    self.problem(
                        &fields.path(key),
                        value.pos,
                        format!("`{key}` has no effect on a call without `retries`"),
                    );
                }
            }
        }
        protect
    }

    /// A list of gRPC code names, each once, in [`FailCode::ALL`] order.
    fn codes(&mut self, node: &Node, path: &str) -> Option<Vec<FailCode>> {
        let options: Vec<(&str, FailCode)> = FailCode::ALL
            .iter()
            .map(|code| (code.name(), *code))
            .collect();
        let mut codes = Vec::new();
        let mut bad = false;
        for (i, item) in self.seq(node, path).iter().enumerate() {
            match self.choice(item, &super::index(path, i), &options) {
                Some(code) => codes.push(code),
                None => bad = true,
            }
        }
        if bad {
            return None;
        }
        codes.sort();
        codes.dedup();
        Some(codes)
    }

    /// `backoff: { base_ms, max_ms }`: defaults 25 ms and ten times the base (Envoy's).
    fn backoff(&mut self, node: &Node, path: &str) -> Option<Backoff> {
        let fields = self.fields(node, path, &["base_ms", "max_ms"], &[])?;
        let base = self
            .opt(&fields, "base_ms", |d, node, path| d.millis(node, path, 1))
            .unwrap_or(Duration::from_millis(25));
        let max = self.opt(&fields, "max_ms", |d, node, path| d.millis(node, path, 1));
        let max = match max {
            Some(max) if max < base => {
                let value = fields.get("max_ms")?;
                self.problem(
                    &fields.path("max_ms"),
                    value.pos,
                    format!(
                        "{} ms is below base_ms ({} ms)",
                        max.as_millis(),
                        base.as_millis()
                    ),
                );
                return None;
            }
            Some(max) => max,
            None => base * 10,
        };
        Some(Backoff { base, max })
    }

    /// `retry_budget: { percent, min_per_s }`: defaults 20 % and 10 per second
    /// (linkerd's retryRatio 0.2 and minRetriesPerSecond 10).
    fn retry_budget(&mut self, node: &Node, path: &str) -> Option<RetryBudget> {
        let fields = self.fields(node, path, &["percent", "min_per_s"], &[])?;
        let percent = self
            .opt(&fields, "percent", |d, node, path| {
                d.count(node, path, 0, 1000)
            })
            .unwrap_or(20);
        let min_per_s = self
            .opt(&fields, "min_per_s", |d, node, path| {
                d.count(node, path, 0, MAX_SLOTS)
            })
            .unwrap_or(10);
        Some(RetryBudget { percent, min_per_s })
    }

    /// `breaker: { failure_percent, window, min_calls, open_ms, probes }`: defaults 50 %,
    /// 20 attempts, 10 attempts, 5 s and 3 probes (resilience4j's shape, smaller numbers:
    /// its 100-call window outlasts a short step).
    fn breaker(&mut self, node: &Node, path: &str) -> Option<Breaker> {
        let known = [
            "failure_percent",
            "window",
            "min_calls",
            "open_ms",
            "probes",
        ];
        let fields = self.fields(node, path, &known, &[])?;
        let failure_percent = self
            .opt(&fields, "failure_percent", |d, node, path| {
                d.count(node, path, 1, 100)
            })
            .unwrap_or(50);
        let window = self
            .opt(&fields, "window", |d, node, path| {
                d.count(node, path, 1, 10_000)
            })
            .unwrap_or(20);
        let min_calls = self.opt(&fields, "min_calls", |d, node, path| {
            d.count(node, path, 1, 10_000)
        });
        let open = self
            .opt(&fields, "open_ms", |d, node, path| d.millis(node, path, 1))
            .unwrap_or(Duration::from_secs(5));
        let probes = self
            .opt(&fields, "probes", |d, node, path| {
                d.count(node, path, 1, 1000)
            })
            .unwrap_or(3);
        let min_calls = match min_calls {
            Some(min) if min > window => {
                let value = fields.get("min_calls")?;
                self.problem(
                    &fields.path("min_calls"),
                    value.pos,
                    format!("{min} is more than the window ({window} attempts): the breaker could never open"),
                );
                return None;
            }
            Some(min) => min,
            None => window.div_ceil(2),
        };
        Some(Breaker {
            failure_percent,
            window,
            min_calls,
            open,
            probes,
        })
    }
}
