//! How fast `simulate availability` is: the exact mode on a generated 40-service fleet
//! at K = 1 to 5 replicas down (about 770,000 down sets), and measured trials of a
//! 12-service shop whose entrypoint has 3 methods, each trial a fleet started in virtual
//! time with its failure set left out and the load sent for 1 s.
//!
//! Run with `cargo bench --bench avail`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use deploysim::avail::{self, Amount, Fleet, Question};
use deploysim::model::Scenario;
use deploysim::runtime::interrupt::Interrupt;
use deploysim::{generate, scenario};

/// Every core of the machine, as the command uses by default.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

fn question(scenario: &Scenario, flags: &deploysim::model::Flags) -> Question<'static> {
    // The benches leak their scenario: a question borrows it for the bench's life.
    let scenario: &'static Scenario = Box::leak(Box::new(scenario.clone()));
    let flags: &'static deploysim::model::Flags = Box::leak(Box::new(flags.clone()));
    Question {
        workers: workers(),
        ..Question::initial(scenario, flags)
    }
}

/// A shop of 12 services: web (3 methods) needs catalog and search to browse, carts and
/// its cache for the cart, and checkout, payment and fraud to buy; recommendations, ads
/// and shipping are optional, email asynchronous.
const SHOP: &str = "
name: shop12
services:
  web:
    entrypoint: true
    replicas: 2
    versions:
      v1:
        methods:
          browse: { calls: [ { service: catalog }, { service: recommend, on_failure: degrade }, { service: ads, on_failure: ignore } ] }
          cart: { calls: [ { service: carts } ] }
          checkout: { calls: [ { service: carts }, { service: checkout } ] }
  catalog: { replicas: 2, versions: { v1: { calls: [ { service: search } ] } } }
  search: { versions: { v1: {} } }
  carts: { replicas: 2, versions: { v1: { calls: [ { service: cache, on_failure: degrade } ] } } }
  cache: { versions: { v1: {} } }
  checkout:
    versions:
      v1:
        calls:
          - { service: payment }
          - { service: shipping, on_failure: degrade }
          - { service: email, async: true }
  payment: { versions: { v1: { calls: [ { service: fraud } ] } } }
  fraud: { versions: { v1: {} } }
  recommend: { versions: { v1: { calls: [ { service: catalog } ] } } }
  ads: { versions: { v1: {} } }
  shipping: { versions: { v1: {} } }
  email: { versions: { v1: {} } }
initial:
  { web: v1, catalog: v1, search: v1, carts: v1, cache: v1, checkout: v1, payment: v1,
    fraud: v1, recommend: v1, ads: v1, shipping: v1, email: v1 }
load:
  entrypoints:
    web: { rps: 200, mix: { browse: 70, cart: 20, checkout: 10 } }
  baseline_ms: 1000
";

fn bench(c: &mut Criterion) {
    let fleet40 = generate::scenario_yaml(40, 1);
    let fleet40 = scenario::parse_str(&fleet40, Path::new("fleet40.yaml")).expect("valid");
    let flags = fleet40.initial_flags();
    let asked = question(&fleet40, &flags);
    let levels: Vec<Amount> = (1..=5).map(Amount::Kill).collect();
    let mut group = c.benchmark_group("availability");
    group.sample_size(10);
    group.bench_function("exact/40-services/K=1..5", |b| {
        b.iter(|| black_box(avail::availability(&asked, &levels).expect("answerable")));
    });
    let shop = scenario::parse_str(SHOP, Path::new("shop12.yaml")).expect("valid");
    let flags = shop.initial_flags();
    let asked = question(&shop, &flags);
    let fleet = Fleet::new(&asked, &[Amount::Kill(2)]).expect("answerable");
    group.bench_function("measured/12-services-3-methods/100-trials", |b| {
        b.iter(|| {
            let (trials, _) = deploysim::runtime::avail::measure(
                &fleet,
                asked.scenario,
                asked.deployment,
                asked.flags,
                Amount::Kill(2),
                (100, None),
                (asked.seed, asked.workers, false),
                &Interrupt::never(),
                &|_| {},
            )
            .expect("measured");
            black_box(fleet.row(Amount::Kill(2), Some(&trials)))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
