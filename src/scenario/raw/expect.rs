//! What must hold: `expect` (per run and per strategy), `risk` with its defects and
//! limits, and `availability` with its failure model and limits.

use super::{Decoder, Naming, RawAvailability, index, join};
use crate::model::{
    Amount, Defect, Expect, FailUnit, RISK_MEASURE_KEYS, Risk, RiskExpect, StrategyKind,
};
use crate::scenario::yaml::Node;

impl Decoder<'_> {
    pub(super) fn expect(&mut self, node: &Node, path: &str) -> Expect {
        let mut expect = Expect::default();
        let known = [
            "graceful",
            "max_failed_ratio",
            "max_degraded_ratio",
            "p99_ms",
        ];
        let Some(fields) = self.fields(node, path, &known, &[]) else {
            return expect;
        };
        expect.graceful = self.opt(&fields, "graceful", |d, node, path| d.bool(node, path));
        expect.max_failed_ratio = self.opt(&fields, "max_failed_ratio", |d, node, path| {
            d.ratio(node, path)
        });
        expect.max_degraded_ratio = self.opt(&fields, "max_degraded_ratio", |d, node, path| {
            d.ratio(node, path)
        });
        expect.p99 = self.opt(&fields, "p99_ms", |d, node, path| d.millis(node, path, 1));
        expect
    }

    /// `availability:`: `unit`, the levels (`kill: [K...]`, `each: [P...]`), `spare`,
    /// `degraded_lost` and `expect: [{ kill | each, entrypoint, min_availability }]`. A
    /// level an expectation names is asked even when the lists leave it out.
    pub(super) fn availability(&mut self, node: &Node) -> RawAvailability {
        let mut raw = RawAvailability::default();
        let path = "availability";
        let known = ["unit", "kill", "each", "spare", "degraded_lost", "expect"];
        let Some(fields) = self.fields(node, path, &known, &[]) else {
            return raw;
        };
        let units = [
            ("replica", FailUnit::Replica),
            ("service", FailUnit::Service),
        ];
        raw.unit = self
            .opt(&fields, "unit", |d, node, path| {
                d.choice(node, path, &units)
            })
            .unwrap_or_default();
        if let Some(value) = fields.get("kill") {
            for (i, item) in self.seq(value, "availability.kill").iter().enumerate() {
                let item_path = index("availability.kill", i);
                if let Some(k) = self.count(item, &item_path, 0, 1_000_000) {
                    raw.levels.push(Amount::Kill(k));
                }
            }
        }
        if let Some(value) = fields.get("each") {
            for (i, item) in self.seq(value, "availability.each").iter().enumerate() {
                let item_path = index("availability.each", i);
                if let Some(p) = self.ratio(item, &item_path) {
                    raw.levels.push(Amount::Each(p));
                }
            }
        }
        if let Some(value) = fields.get("spare") {
            for (i, item) in self.seq(value, "availability.spare").iter().enumerate() {
                let item_path = index("availability.spare", i);
                raw.spare
                    .extend(self.name(item, &item_path, Naming::Service));
            }
        }
        raw.degraded_lost = self
            .opt(&fields, "degraded_lost", |d, node, path| d.bool(node, path))
            .unwrap_or(false);
        if let Some(value) = fields.get("expect") {
            for (i, item) in self.seq(value, "availability.expect").iter().enumerate() {
                let item_path = index("availability.expect", i);
                let known = ["kill", "each", "entrypoint", "min_availability"];
                let Some(limit) = self.fields(item, &item_path, &known, &[]) else {
                    continue;
                };
                if limit.get("min_availability").is_none() {
                    self.problem(
                        &item_path,
                        item.pos,
                        "missing required key `min_availability` (the least share served, 0 to 1)",
                    );
                }
                let kill = self.opt(&limit, "kill", |d, node, path| {
                    d.count(node, path, 0, 1_000_000)
                });
                let each = self.opt(&limit, "each", |d, node, path| d.ratio(node, path));
                let amount = match (kill, each, limit.get("kill"), limit.get("each")) {
                    (Some(k), None, _, None) => Some(Amount::Kill(k)),
                    (None, Some(p), None, _) => Some(Amount::Each(p)),
                    (_, _, Some(_), Some(_)) => {
                        self.problem(
                            &item_path,
                            item.pos,
                            "a limit names one level: `kill: K` or `each: P`, not both",
                        );
                        None
                    }
                    (None, None, None, None) => {
                        self.problem(
                            &item_path,
                            item.pos,
                            "a limit names its level: `kill: K` (exactly K units down) or `each: P` (each unit down with probability P)",
                        );
                        None
                    }
                    _ => None,
                };
                let entrypoint = self.opt(&limit, "entrypoint", |d, node, path| {
                    d.name(node, path, Naming::Service)
                });
                let min = self.opt(&limit, "min_availability", |d, node, path| {
                    d.ratio(node, path)
                });
                if let (Some(amount), Some(min)) = (amount, min) {
                    if !raw.levels.contains(&amount) {
                        raw.levels.push(amount);
                    }
                    raw.expect.push((amount, entrypoint, min));
                }
            }
        }
        raw
    }

    pub(super) fn risk(&mut self, node: &Node) -> Risk {
        let mut risk = Risk::default();
        let known = ["trials", "strategies", "defect", "expect"];
        let Some(fields) = self.fields(node, "risk", &known, &[]) else {
            return risk;
        };
        risk.trials = self
            .opt(&fields, "trials", |d, node, path| {
                d.count(node, path, 1, 1_000_000)
            })
            .unwrap_or(risk.trials);
        if let Some(value) = fields.get("strategies") {
            let mut kinds = Vec::new();
            for (i, item) in self.seq(value, "risk.strategies").iter().enumerate() {
                let item_path = index("risk.strategies", i);
                if let Some(name) = self.name(item, &item_path, Naming::Strategy) {
                    kinds.extend(self.builtin(&name));
                }
            }
            risk.strategies = kinds;
            risk.strategies_listed = true;
        }
        if let Some(value) = fields.get("defect") {
            risk.defect = self.defect(value);
        }
        if let Some(value) = fields.get("expect") {
            risk.expect = self.risk_expect(value, &risk.strategies);
        }
        risk
    }

    /// `risk.expect`: `strategy` and `max_KEY` for each of the risk measures; a rate
    /// from 0 to 1, every other measure a number of at least 0.
    pub(super) fn risk_expect(&mut self, node: &Node, compared: &[StrategyKind]) -> RiskExpect {
        let mut expect = RiskExpect::default();
        let path = "risk.expect";
        let keys: Vec<String> = std::iter::once("strategy".to_owned())
            .chain(RISK_MEASURE_KEYS.iter().map(|key| format!("max_{key}")))
            .collect();
        let known: Vec<&str> = keys.iter().map(String::as_str).collect();
        let Some(fields) = self.fields(node, path, &known, &[]) else {
            return expect;
        };
        if let Some(value) = fields.get("strategy") {
            let strategy_path = join(path, "strategy");
            if let Some(name) = self.name(value, &strategy_path, Naming::Strategy) {
                expect.strategy = self.builtin(&name);
                let compared_here = |kind: &StrategyKind| {
                    *kind == StrategyKind::SinglePiece || compared.contains(kind)
                };
                if expect
                    .strategy
                    .as_ref()
                    .is_some_and(|kind| !compared_here(kind))
                {
                    self.problem(
                        &strategy_path,
                        value.pos,
                        format!(
                            "\"{}\" is not one of the strategies compared: add it to risk.strategies",
                            name.value
                        ),
                    );
                }
            }
        }
        for key in RISK_MEASURE_KEYS {
            let field = format!("max_{key}");
            let Some(value) = fields.get(field.as_str()) else {
                continue;
            };
            let field_path = join(path, &field);
            let limit = if key == "change_failure_rate" {
                self.ratio(value, &field_path)
            } else {
                self.amount(value, &field_path)
            };
            if let Some(limit) = limit {
                expect.limits.push((key.to_owned(), limit));
            }
        }
        expect
    }

    pub(super) fn defect(&mut self, node: &Node) -> Defect {
        let mut defect = Defect::default();
        let known = ["probability", "kinds", "error_rate", "add_ms"];
        let Some(fields) = self.fields(node, "risk.defect", &known, &[]) else {
            return defect;
        };
        defect.probability = self
            .opt(&fields, "probability", |d, node, path| d.ratio(node, path))
            .unwrap_or(defect.probability);
        defect.error_rate = self
            .opt(&fields, "error_rate", |d, node, path| d.ratio(node, path))
            .unwrap_or(defect.error_rate);
        defect.add = self
            .opt(&fields, "add_ms", |d, node, path| d.millis(node, path, 0))
            .unwrap_or(defect.add);
        if let Some(value) = fields.get("kinds") {
            let kinds_path = "risk.defect.kinds";
            if let Some(kinds) = self.fields(
                value,
                kinds_path,
                &["errors", "latency", "drop-api", "hang"],
                &[],
            ) {
                let mut weight = |key: &str| {
                    kinds
                        .get(key)
                        .map(|w| self.ratio(w, &join(kinds_path, key)).unwrap_or(0.0))
                };
                defect.weight_errors = weight("errors").unwrap_or(0.0);
                defect.weight_latency = weight("latency").unwrap_or(0.0);
                defect.weight_drop_api = weight("drop-api").unwrap_or(0.0);
                defect.weight_hang = weight("hang").unwrap_or(0.0);
                let total = defect.weight_errors
                    + defect.weight_latency
                    + defect.weight_drop_api
                    + defect.weight_hang;
                if total <= 0.0 {
                    self.problem(
                        kinds_path,
                        value.pos,
                        "at least one defect kind needs a weight above 0",
                    );
                }
            }
        }
        defect
    }
}
