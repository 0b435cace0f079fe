//! `load`: the rate, the mix per entrypoint, the bake times and the bound on requests in
//! flight.

use super::{Decoder, Located, Naming, RawEntryLoad};
use crate::model::{DEFAULT_METHOD, Load};
use crate::scenario::yaml::{Node, Value};

impl Decoder<'_> {
    pub(super) fn load(&mut self, node: &Node, entry_loads: &mut Vec<RawEntryLoad>) -> Load {
        let mut load = Load::default();
        let known = [
            "rps",
            "baseline_ms",
            "step_ms",
            "max_in_flight",
            "entrypoints",
        ];
        let Some(fields) = self.fields(node, "load", &known, &[]) else {
            return load;
        };
        if let Some(value) = fields.get("entrypoints") {
            for (service, entry) in self.entries(value, "load.entrypoints") {
                if self.name_ok(&service, Naming::Service) {
                    entry_loads.push(self.entry_load(service, entry));
                }
            }
        }
        load.rps = self
            .opt(&fields, "rps", |d, node, path| {
                d.count(node, path, 1, 100_000)
            })
            .unwrap_or(load.rps);
        load.baseline = self
            .opt(&fields, "baseline_ms", |d, node, path| {
                d.millis(node, path, 0)
            })
            .unwrap_or(load.baseline);
        load.bake = self
            .opt(&fields, "step_ms", |d, node, path| d.millis(node, path, 0))
            .unwrap_or(load.bake);
        load.max_in_flight = self
            .opt(&fields, "max_in_flight", |d, node, path| {
                d.count(node, path, 1, Load::MAX_IN_FLIGHT)
            })
            .unwrap_or(load.max_in_flight);
        load
    }

    /// One entrypoint's `load.entrypoints` entry: its rate and its mix of methods.
    fn entry_load(&mut self, service: Located<String>, entry: &Node) -> RawEntryLoad {
        let path = service.path.clone();
        let mut raw = RawEntryLoad {
            service,
            rps: None,
            mix: Vec::new(),
        };
        let Some(fields) = self.fields(entry, &path, &["rps", "mix"], &[]) else {
            return raw;
        };
        raw.rps = self.opt(&fields, "rps", |d, node, path| {
            d.count(node, path, 1, 100_000)
        });
        let Some(value) = fields.get("mix") else {
            return raw;
        };
        let mix_path = fields.path("mix");
        for (method, weight) in self.entries(value, &mix_path) {
            let weight = self.count(weight, &method.path, 0, 1_000_000);
            if method.value != DEFAULT_METHOD && !self.name_ok(&method, Naming::Method) {
                continue;
            }
            if let Some(weight) = weight {
                raw.mix.push((method, weight));
            }
        }
        if matches!(&value.value, Value::Map(entries) if entries.is_empty()) {
            self.problem(
                &mix_path,
                value.pos,
                "an empty mix sends nothing: name each method with its weight",
            );
        }
        if !raw.mix.is_empty() && raw.mix.iter().all(|(_, weight)| *weight == 0) {
            self.problem(
                &mix_path,
                value.pos,
                "every weight is 0: no request would be sent",
            );
        }
        raw
    }
}
