//! deploysim: runs a fleet of gRPC services and measures what each rollout order does to
//! them.
//!
//! # Layout, in the order data flows
//!
//! - [`scenario`]: the loader: a YAML file to a validated [`model::Scenario`], with every
//!   problem located (file, line, column, key); every input file is read through its
//!   bounded reader.
//! - [`model`]: the validated types everything else works from; imports nothing.
//! - [`topology`]: the call graph: cycles, provider-first, callers-first and layered
//!   orders.
//! - [`eval`]: the evaluator shared by the check, the planner and the live run: states,
//!   transient states, the outcomes each entrypoint can meet.
//! - [`plan`]: each strategy's steps and the versions after each; `plan::safe` searches
//!   the safe order; `plan::select` picks the strategies a command runs.
//! - [`import`]: `simulate import`: a scenario to edit from Kubernetes manifests or a
//!   tracing system's dependency list.
//! - [`check`]: `simulate check`: every state each strategy passes through, the state
//!   space, the missing-dependency sweep. No server.
//! - [`avail`]: `simulate availability`: failure sets of random replicas or services,
//!   folded into sets of services down, enumerated exactly or drawn, each state's share
//!   served from the evaluator; measured trials held to it.
//! - [`kube`]: `simulate export kubernetes`: the fleet as Deployments of `simulate
//!   serve`, Services and a ConfigMap, and each strategy's steps as `kubectl` commands.
//! - [`record`]: what a run measured, as data: the recorder, tallies, traffic, the
//!   expectations and the one verdict.
//! - [`risk`]: `simulate risk`: defects drawn per trial, what a trial measured, the
//!   statistics, and the policy (which strategies, how a run concludes).
//! - [`runtime`]: the live run, the only IO below the command line: replicas as tonic
//!   servers, pools and links, the cluster's step moves, faults, open-loop load, the run,
//!   the live sweep and risk's trials; `runtime::net` is where a simulated network plugs
//!   in, `runtime::interrupt` where Ctrl-C does.
//! - [`report`]: the only place results become sentences, tables and JSON.
//!
//! Beside the flow: [`contract`] (the protobuf messages and each API version's gRPC
//! path), [`seed`] (one seed, a stream per purpose), [`shard`] (a run of trials
//! as shards, their parts and the merge), [`stats`] (intervals for rates,
//! means and paired differences), [`verdict`] (the one verdict every command ends
//! with), [`generate`] (realistic scenarios of any size), [`output`] (writing output files without following a planted link or
//! truncating in place) and `lock` (locking that survives a poisoned lock). The `simulate`
//! binary's command line is `src/cli/`, outside the library.
//!
//! Imports follow layers, not this flow: a module imports only from the layers below it
//! (`record` sits below `runtime`, which fills it). ARCHITECTURE.md gives the layers, and
//! `tests/it/tidy.rs` fails on an import against them, and on an import circle between
//! the files of any folder.

pub mod avail;
pub mod check;
pub mod eval;
pub mod import;
pub mod kube;
pub mod model;
pub mod plan;
pub mod record;
pub mod report;
pub mod risk;
pub mod runtime;
pub mod scenario;
pub mod topology;

pub mod contract;
pub mod generate;
mod lock;
pub mod output;
pub mod seed;
pub mod shard;
pub mod stats;
pub mod verdict;
