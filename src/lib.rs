//! deploysim: runs a fleet of gRPC services and measures what each rollout order does to
//! them.
//!
//! # Layout
//!
//! - [`scenario`]: YAML scenario files to a validated [`crate::model::Scenario`] (no IO but
//!   reading the file).
//! - [`topology`]: the call graph of service versions, cycles, reachability (pure).
//! - [`plan`]: each strategy's steps and the versions after each step (pure).
//! - [`generate`]: realistic scenarios of any size, as YAML text (pure).
//! - [`check`]: every state a rollout passes through, predicted without a server; the
//!   safe-order planner and the missing-dependency sweep (pure).
//! - [`report`]: the only module that formats output: plan tables and JSON.
//! - [`contract`]: the protobuf messages and the gRPC path of each (service, API version).
//! - [`seed`]: sub-seeds, so one seed drives every random choice.
//! - The live run, thin IO around pure accounting: [`service`] (one replica, a tonic
//!   server), [`discovery`] (ready replicas and callers' clients), [`deploy`] (the
//!   cluster: step moves, kill, undeploy), [`fault`], [`load`] (open-loop entry
//!   requests), [`record`] (what a run measured, per step), [`live`] (one strategy's
//!   run); [`tally`] and [`verdict`] are pure.
//!
//! `src/main.rs` is the `simulate` command line.

pub mod check;
pub mod contract;
pub mod eval;
pub mod generate;
mod lock;
pub mod model;
pub mod plan;
pub mod record;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod seed;
pub mod topology;
