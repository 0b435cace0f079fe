//! Faults during a live run: when each starts and ends, and what it does to the cluster.
//!
//! A fault's clock starts when rollout step `at_step` starts (step 0 is the baseline);
//! it begins `after_ms` later and lasts `for_ms`, or until the run ends. Rollback steps do
//! not count as rollout steps: a fault whose step is never reached never fires.

use std::sync::Arc;

use tokio::sync::watch;

use crate::model::{Fault, FaultKind};
use crate::record::Recorder;
use crate::runtime::cluster::Cluster;

/// Runs one fault (`index` in the scenario's list) to its end. `steps` carries the rollout step that has most recently
/// started; the task ends when the fault window closes or the sender goes away.
pub async fn run(
    index: usize,
    fault: Fault,
    cluster: Arc<Cluster>,
    recorder: Arc<Recorder>,
    mut steps: watch::Receiver<usize>,
) {
    if steps.wait_for(|step| *step >= fault.at_step).await.is_err() {
        return;
    }
    tokio::time::sleep(fault.after).await;
    // Noted before it acts, so the step it falls in is never predicted without it.
    recorder.fault_started(index);
    match &fault.kind {
        FaultKind::Kill(service) => cluster.kill(service).await,
        FaultKind::Missing(service) => cluster.undeploy(service).await,
        FaultKind::Partition { from, to } => cluster.partition(from, to),
        FaultKind::Latency { service, .. }
        | FaultKind::Errors { service, .. }
        | FaultKind::Hang(service) => {
            if let Some(trouble) = cluster.trouble(service) {
                trouble.begin(index, &fault.kind);
            }
        }
    }
    let Some(duration) = fault.duration else {
        return;
    };
    tokio::time::sleep(duration).await;
    match &fault.kind {
        FaultKind::Kill(service) | FaultKind::Missing(service) => {
            if let Err(err) = cluster.restore(service).await {
                recorder.fault_ended(index, Err(err.to_string()));
                return;
            }
        }
        FaultKind::Partition { from, to } => cluster.repair(from, to),
        FaultKind::Latency { service, .. }
        | FaultKind::Errors { service, .. }
        | FaultKind::Hang(service) => {
            if let Some(trouble) = cluster.trouble(service) {
                trouble.end(index);
            }
        }
    }
    recorder.fault_ended(index, Ok(()));
}
