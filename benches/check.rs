//! How fast `simulate check` is: every settled state of a release with 20 changed services
//! (2^20 states), the whole check of that release, the safe-order planner on a
//! generated 200-service fleet, and the whole check of a generated 1,000-service fleet
//! with and without a capacity on every version (the load prediction's cost). Nothing
//! here starts a server.
//!
//! Run with `cargo bench --bench check`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use deploysim::check::{self, space};
use deploysim::eval::Graph;
use deploysim::generate;
use deploysim::model::Scenario;
use deploysim::scenario;

/// 30 services in tiers; the first 20 change. Each changing v2 keeps every API of v1 and
/// adds v2, and calls the next tier's api v2 when that one also changes, so the 2^20
/// states mix failing, degraded and healthy ones.
fn twenty_changes() -> Scenario {
    let n = 30;
    let mut yaml = String::from("name: twenty\nservices:\n");
    for i in 0..n {
        let entry = if i < 3 { "    entrypoint: true\n" } else { "" };
        let callees: Vec<usize> = [i + 3, i + 7].into_iter().filter(|&c| c < n).collect();
        let calls = |new: bool| {
            let list: Vec<String> = callees
                .iter()
                .enumerate()
                .map(|(k, &c)| {
                    let api = if new && c < 20 { "v2" } else { "v1" };
                    let fail = if k == 0 { "fail" } else { "degrade" };
                    format!("{{ service: s{c}, api: {api}, on_failure: {fail} }}")
                })
                .collect();
            format!("[{}]", list.join(", "))
        };
        yaml.push_str(&format!(
            "  s{i}:\n{entry}    versions:\n      v1: {{ calls: {} }}\n",
            calls(false)
        ));
        if i < 20 {
            yaml.push_str(&format!(
                "      v2: {{ provides: [v1, v2], calls: {} }}\n",
                calls(true)
            ));
        }
    }
    let initial: Vec<String> = (0..n).map(|i| format!("s{i}: v1")).collect();
    let target: Vec<String> = (0..20).map(|i| format!("s{i}: v2")).collect();
    yaml.push_str(&format!(
        "initial: {{ {} }}\ntarget: {{ {} }}\n",
        initial.join(", "),
        target.join(", ")
    ));
    scenario::parse_str(&yaml, Path::new("twenty.yaml")).expect("valid")
}

fn benches(c: &mut Criterion) {
    let scenario = twenty_changes();
    assert_eq!(scenario.changes().len(), 20);
    let graph = Graph::new(&scenario);
    let initial = graph.settled(&scenario.initial, &scenario.initial_flags());
    let masks: Vec<(usize, u8, u8, u8)> = scenario
        .changes()
        .iter()
        .map(|change| {
            let s = graph.service(&change.service).expect("service");
            let old = initial.serving[s];
            let new = graph.mask(s, change.to.as_deref());
            (s, old, new, old | new)
        })
        .collect();
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.bench_function("all-2^20-settled-states/20-changes", |b| {
        b.iter(|| space::evaluate_all(black_box(&graph), &initial, &masks, false));
    });
    group.bench_function("whole-check/20-changes", |b| {
        b.iter(|| {
            check::run(
                black_box(&scenario),
                &scenario.strategies,
                0,
                deploysim::check::sweep::Missing::Singles,
            )
        });
    });
    let fleet_yaml = generate::scenario_yaml(200, 1);
    let fleet = scenario::parse_str(&fleet_yaml, Path::new("fleet.yaml")).expect("valid");
    let fleet_graph = Graph::new(&fleet);
    group.bench_function(
        format!("safe-order/200-services-{}-changes", fleet.changes().len()),
        |b| {
            b.iter(|| deploysim::plan::safe::plan(black_box(&fleet_graph), &fleet));
        },
    );
    group.bench_function("whole-check/200-services", |b| {
        b.iter(|| {
            check::run(
                black_box(&fleet),
                &fleet.strategies,
                0,
                deploysim::check::sweep::Missing::Singles,
            )
        });
    });
    let large_yaml = generate::scenario_yaml(1000, 1);
    let plain = scenario::parse_str(&large_yaml, Path::new("fleet.yaml")).expect("valid");
    let mut loaded = plain.clone();
    for service in loaded.services.values_mut() {
        for version in service.versions.values_mut() {
            version.capacity = Some(deploysim::model::Capacity {
                workers: 4,
                queue: 8,
            });
        }
    }
    for (name, fleet) in [("no-capacity", &plain), ("capacity-everywhere", &loaded)] {
        group.bench_function(format!("whole-check/1000-services/{name}"), |b| {
            b.iter(|| {
                check::run(
                    black_box(fleet),
                    &fleet.strategies,
                    0,
                    deploysim::check::sweep::Missing::Singles,
                )
            });
        });
    }
    group.finish();
}

criterion_group!(check_benches, benches);
criterion_main!(check_benches);
