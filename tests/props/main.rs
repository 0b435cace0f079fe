//! Property tests: random scenarios, orders, faults and malformed input, checked against
//! the reference model in `reference.rs` (see docs/testing.md).
//!
//! Case counts: the pure properties run `PROPTEST_CASES` cases (default 256); the live
//! ones, which start real servers, run `PROPTEST_LIVE_CASES` (default 10), and those in
//! virtual time `PROPTEST_SIM_CASES` (a default per property), whatever `PROPTEST_CASES`
//! says (see `run_property`). A failure
//! prints the shrunk scenario as YAML; proptest keeps its seed in proptest-regressions/,
//! and each one found so far is also a named test in `regressions.rs`.

/// Random scenarios (a spec, its YAML) for every property.
mod arb;
/// What a request can meet in a state, written from the contract for the tests.
mod reference;

/// 7. Availability under random failures against a brute force over the reference.
mod avail;
/// 3. The static check against the reference model.
mod check;
/// The case-count knobs do what docs/testing.md says.
mod knobs;
/// 4 and 5. The live run against the check; accounting under faults.
mod live;
/// 1. The loader never panics.
mod loader;
/// 2 and 6. Planner invariants and determinism.
mod planner;
/// Shrunk failures found by the properties, kept as named tests.
mod regressions;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The configuration of a pure property: `PROPTEST_CASES` cases, default 256.
pub fn pure() -> Config {
    Config::default()
}

/// Runs a property with `config` exactly as given. proptest's own `proptest!` macro lays
/// the environment (`PROPTEST_CASES`, `PROPTEST_MAX_GLOBAL_REJECTS`) over every config,
/// so `PROPTEST_CASES=512`, meant for the pure properties, would make each live property
/// run 512 live cases (a quarter of an hour) with a rejection bound set for 10; the live
/// and sim properties go through here instead, so their counts follow
/// `PROPTEST_LIVE_CASES` and `PROPTEST_SIM_CASES` alone.
pub fn run_property<S>(
    mut config: Config,
    name: &'static str,
    file: &'static str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    config.test_name = Some(name);
    // The file decides where proptest keeps its failure seeds (proptest-regressions/).
    config.source_file = Some(file);
    let mut runner = TestRunner::new(config);
    if let Err(err) = runner.run(&strategy, test) {
        panic!("{err}\n{runner}");
    }
}

/// A property run by [`run_property`]: `property! { #![config(EXPR)] #[test] fn name(a in
/// strategy_a, b in strategy_b) { body } }`, the body returning through `?` and
/// `prop_assert!` as in `proptest!`.
#[macro_export]
macro_rules! property {
    (#![config($config:expr)]
     $(
        $(#[$meta:meta])*
        fn $name:ident($($parm:pat in $strategy:expr),+ $(,)?) $body:block
     )*) => {
        $(
            $(#[$meta])*
            fn $name() {
                $crate::run_property(
                    $config,
                    concat!(module_path!(), "::", stringify!($name)),
                    file!(),
                    ($($strategy,)+),
                    |($($parm,)+)| {
                        let (): () = $body;
                        Ok(())
                    },
                );
            }
        )*
    };
}

/// The configuration of a live property: `PROPTEST_LIVE_CASES` cases, default `default`.
/// Each case starts servers and runs for seconds, so shrinking is bounded too. A case
/// whose run the machine could not keep up with is rejected as inconclusive; more
/// rejections than half the cases fail the property, so a busy machine cannot pass it
/// by measuring nothing.
pub fn live(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_LIVE_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        max_shrink_iters: 64,
        max_global_rejects: (cases / 2).max(1),
        ..Config::default()
    }
}

/// The configuration of a property in virtual time: `PROPTEST_SIM_CASES` cases, default
/// `default`. A case costs tens of milliseconds and replays exactly, so there are many
/// more than live and shrinking is not cut short. Virtual time never falls behind, so no
/// case may be rejected as inconclusive.
pub fn sim(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_SIM_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        max_global_rejects: 0,
        ..Config::default()
    }
}
