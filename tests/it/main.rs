//! The one integration-test binary. Each module tests one face of the product.

/// Shared helpers: running the `simulate` binary, listing fixture files.
mod support;

/// The command line: exit codes, file errors, `--json`, `--strategy`, `generate`.
mod cli;

/// The live run: real servers on loopback, faults, gate, accounting.
mod live;

/// Faults that are not "gone": latency, errors and hang on real servers.
mod faults;

/// Cascades, measured: capacity, per-try timeouts, retries and their budget, breakers,
/// bulkheads, in virtual time.
mod cascades;

/// Flags on real servers: dark calls, percentages, the kill switch.
mod flags;

/// `simulate availability`: shares served with random replicas or services down, exact
/// and measured.
mod avail;

/// `simulate risk --shard` and `simulate merge`: shards merged byte for byte.
mod shards;

/// `simulate risk`: paired trials with defects, the measures, the reports, the page in a
/// real browser.
mod risk;

/// Models of real applications: swallowed failures, fallbacks, rules by code,
/// asynchronous calls, methods and mixes, held to outcomes written by hand.
mod models;

/// `simulate import`: scenarios from Kubernetes manifests and tracing dependency lists.
mod import;

/// Hostile input: bounded reads, misread names, secrets, planted links, stray requests,
/// and what a user sees of hostile text in a scenario.
mod hostile;

/// What every command concludes and how it says it: nothing judged, `--expect`,
/// unplannable strategies, swallowed failures, `--quiet`, the report edges.
mod verdicts;

/// `check`'s prediction against the live run, on every shipped scenario.
mod agreement;

/// Every scenario in scenarios/ and scenarios/invalid/, through the library and as
/// snapshots of what a user reads.
mod scenarios;

/// `simulate serve`: one replica as its own process.
mod serve;

/// A run across processes: drains, the control token, orphans, network namespaces.
mod processes;

/// The JSON Schema of scenario files against the loader and a real validator.
mod schema;

/// Reports for a pipeline (JUnit, Markdown, annotations), completions and the manual.
mod gate;

/// House rules: module docs on every file, README and CI agree.
mod tidy;
