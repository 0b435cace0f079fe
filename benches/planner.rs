//! How long `simulate plan` takes on large fleets: loading (parse and validate) a
//! generated scenario, and planning every built-in strategy.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use deploysim::model::{Strategy, StrategyKind};
use deploysim::scenario;
use deploysim::{generate, plan};

fn load_and_plan(c: &mut Criterion) {
    for n_services in [50usize, 500, 2000] {
        let yaml = generate::scenario_yaml(n_services, 1);
        let path = Path::new("generated.yaml");
        let scenario = scenario::parse_str(&yaml, path).expect("generated scenarios are valid");

        c.bench_function(&format!("load/{n_services}-services"), |b| {
            b.iter(|| scenario::parse_str(black_box(&yaml), path).expect("valid"));
        });
        for kind in [
            StrategyKind::Batch,
            StrategyKind::SinglePiece,
            StrategyKind::Random,
        ] {
            let strategy = Strategy {
                name: kind.label().to_owned(),
                kind,
                expect: Default::default(),
                on_breach: None,
                listed: false,
            };
            c.bench_function(
                &format!("plan/{}/{n_services}-services", strategy.name),
                |b| {
                    b.iter(|| plan::plan(black_box(&scenario), &strategy, 1).expect("plannable"));
                },
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = load_and_plan
}
criterion_main!(benches);
