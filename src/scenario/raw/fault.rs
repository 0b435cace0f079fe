//! Faults (kill, missing, partition, latency, errors, hang, crash) with their timing,
//! and the gate.

use super::{Decoder, Fields, Located, Naming, RawFault, RawFaultKind};
use crate::model::{Breach, FailCode, Gate};
use crate::scenario::yaml::Node;

/// The fault kinds, as the messages list them.
const KINDS: &str = "`kill`, `missing`, `partition`, `latency`, `errors`, `hang` or `crash`";

/// The shortest `every_ms` of a crash loop: a replica a millisecond is no test of
/// anything but the harness.
const MIN_CRASH_EVERY_MS: u64 = 10;

impl Decoder<'_> {
    pub(super) fn fault(&mut self, node: &Node, path: &str) -> Option<RawFault> {
        let known = [
            "kill",
            "missing",
            "partition",
            "latency",
            "errors",
            "hang",
            "crash",
            "at_step",
            "after_ms",
            "for_ms",
        ];
        let fields = self.fields(node, path, &known, &[])?;
        let mut kinds = self.fault_kinds(&fields);
        let at_step = self.at_step(&fields, node);
        let after = self.opt(&fields, "after_ms", |d, node, path| d.millis(node, path, 0));
        let duration = self.opt(&fields, "for_ms", |d, node, path| d.millis(node, path, 1));
        if kinds.len() != 1 {
            let message = if kinds.is_empty() {
                format!("a fault needs one of {KINDS}")
            } else {
                format!("a fault has exactly one of {KINDS}; write one fault per list item")
            };
            self.problem(path, node.pos, message);
            return None;
        }
        Some(RawFault {
            kind: kinds.pop().flatten()?,
            at_step,
            after: after.unwrap_or_default(),
            duration,
        })
    }

    /// Each fault kind key written (one is right), `None` for one whose value is bad.
    fn fault_kinds(&mut self, fields: &Fields<'_>) -> Vec<Option<RawFaultKind>> {
        let mut kinds = Vec::new();
        let service = |d: &mut Self, node: &Node, path: &str| d.name(node, path, Naming::Service);
        if fields.get("kill").is_some() {
            kinds.push(self.opt(fields, "kill", service).map(RawFaultKind::Kill));
        }
        if fields.get("missing").is_some() {
            kinds.push(
                self.opt(fields, "missing", service)
                    .map(RawFaultKind::Missing),
            );
        }
        if fields.get("partition").is_some() {
            kinds.push(self.opt(fields, "partition", |d, node, path| d.partition(node, path)));
        }
        if fields.get("latency").is_some() {
            kinds.push(self.opt(fields, "latency", |d, node, path| d.latency(node, path)));
        }
        if fields.get("errors").is_some() {
            kinds.push(self.opt(fields, "errors", |d, node, path| d.errors(node, path)));
        }
        if fields.get("hang").is_some() {
            kinds.push(self.opt(fields, "hang", service).map(RawFaultKind::Hang));
        }
        if fields.get("crash").is_some() {
            kinds.push(self.opt(fields, "crash", |d, node, path| d.crash(node, path)));
        }
        kinds
    }

    /// `latency: {service, add_ms, jitter_ms}`.
    fn latency(&mut self, node: &Node, path: &str) -> Option<RawFaultKind> {
        let fields = self.fields(node, path, &["service", "add_ms", "jitter_ms"], &[])?;
        let service = self.opt(&fields, "service", |d, node, path| {
            d.name(node, path, Naming::Service)
        });
        let add = self.opt(&fields, "add_ms", |d, node, path| d.millis(node, path, 1));
        let jitter = self.opt(&fields, "jitter_ms", |d, node, path| {
            d.millis(node, path, 0)
        });
        if fields.get("service").is_none() || fields.get("add_ms").is_none() {
            self.problem(
                path,
                node.pos,
                "a latency fault needs `service` and `add_ms`",
            );
        }
        Some(RawFaultKind::Latency {
            service: service?,
            add: add?,
            jitter: jitter.unwrap_or_default(),
        })
    }

    /// `errors: {service, rate, code}`; the code defaults to INTERNAL, as a version's
    /// own `error_rate` fails.
    fn errors(&mut self, node: &Node, path: &str) -> Option<RawFaultKind> {
        let fields = self.fields(node, path, &["service", "rate", "code"], &[])?;
        let service = self.opt(&fields, "service", |d, node, path| {
            d.name(node, path, Naming::Service)
        });
        let rate = self.opt(&fields, "rate", |d, node, path| d.ratio(node, path));
        let codes: Vec<(&str, FailCode)> = FailCode::ALL
            .iter()
            .map(|code| (code.name(), *code))
            .collect();
        let code = self.opt(&fields, "code", |d, node, path| {
            d.choice(node, path, &codes)
        });
        if fields.get("service").is_none() || fields.get("rate").is_none() {
            self.problem(path, node.pos, "an errors fault needs `service` and `rate`");
        }
        Some(RawFaultKind::Errors {
            service: service?,
            rate: rate?,
            code: if fields.get("code").is_some() {
                code?
            } else {
                FailCode::Internal
            },
        })
    }

    /// `crash: {service, every_ms}`.
    fn crash(&mut self, node: &Node, path: &str) -> Option<RawFaultKind> {
        let fields = self.fields(node, path, &["service", "every_ms"], &[])?;
        let service = self.opt(&fields, "service", |d, node, path| {
            d.name(node, path, Naming::Service)
        });
        let every = self.opt(&fields, "every_ms", |d, node, path| {
            d.millis(node, path, MIN_CRASH_EVERY_MS)
        });
        if fields.get("service").is_none() || fields.get("every_ms").is_none() {
            self.problem(
                path,
                node.pos,
                "a crash fault needs `service` and `every_ms`",
            );
        }
        Some(RawFaultKind::Crash {
            service: service?,
            every: every?,
        })
    }

    /// `partition: {from, to}`.
    fn partition(&mut self, node: &Node, path: &str) -> Option<RawFaultKind> {
        let ends = self.fields(node, path, &["from", "to"], &[])?;
        let service = |d: &mut Self, node: &Node, path: &str| d.name(node, path, Naming::Service);
        let from = self.opt(&ends, "from", service);
        let to = self.opt(&ends, "to", service);
        if ends.get("from").is_none() || ends.get("to").is_none() {
            self.problem(path, node.pos, "a partition needs both `from` and `to`");
        }
        Some(RawFaultKind::Partition {
            from: from?,
            to: to?,
        })
    }

    /// `at_step`, 0 when it is not written. A bad value is reported, and step 0 stands
    /// in for it so that the fault's services are still checked.
    fn at_step(&mut self, fields: &Fields<'_>, node: &Node) -> Located<usize> {
        let step_path = fields.path("at_step");
        let Some(value) = fields.get("at_step") else {
            return Located {
                value: 0,
                path: step_path,
                pos: node.pos,
            };
        };
        let step = self
            .integer(value, &step_path, 0, 1_000_000)
            .and_then(|n| usize::try_from(n).ok());
        Located {
            value: step.unwrap_or(0),
            path: step_path,
            pos: value.pos,
        }
    }

    pub(super) fn gate(&mut self, node: &Node) -> Option<Gate> {
        let fields = self.fields(node, "gate", &["max_failed_ratio", "on_breach"], &[])?;
        let mut gate = Gate {
            max_failed_ratio: 0.0,
            on_breach: Breach::Continue,
        };
        if let Some(value) = fields.get("max_failed_ratio") {
            gate.max_failed_ratio = self.ratio(value, "gate.max_failed_ratio").unwrap_or(0.0);
        }
        gate.on_breach = self
            .opt(&fields, "on_breach", |d, node, path| d.breach(node, path))
            .unwrap_or(Breach::Continue);
        Some(gate)
    }

    pub(super) fn breach(&mut self, node: &Node, path: &str) -> Option<Breach> {
        let options = [
            ("rollback", Breach::Rollback),
            ("stop", Breach::Stop),
            ("continue", Breach::Continue),
            ("kill-switch", Breach::KillSwitch),
        ];
        self.choice(node, path, &options)
    }
}
