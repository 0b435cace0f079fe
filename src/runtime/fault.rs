//! Faults during a live run: when each starts and ends, and what it does to the cluster.
//!
//! A fault's clock starts when rollout step `at_step` starts (step 0 is the baseline);
//! it begins `after_ms` later and lasts `for_ms`, or until the run ends. Rollback steps do
//! not count as rollout steps: a fault whose step is never reached never fires.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::model::{Fault, FaultKind};
use crate::record::Recorder;
use crate::runtime::cluster::{Cluster, StartError};

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
    if let FaultKind::Crash { service, every } = &fault.kind {
        let ended = crash_loop(&cluster, &recorder, service, *every, fault.duration).await;
        recorder.fault_ended(index, ended.map_err(|err| err.to_string()));
        return;
    }
    match &fault.kind {
        FaultKind::Kill(service) => cluster.kill(service).await,
        FaultKind::Missing(service) => cluster.undeploy(service).await,
        FaultKind::Partition { from, to } => cluster.partition(from, to).await,
        FaultKind::Latency { service, .. }
        | FaultKind::Errors { service, .. }
        | FaultKind::Hang(service) => cluster.trouble_begin(service, index, &fault.kind).await,
        FaultKind::Crash { .. } => {}
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
        FaultKind::Partition { from, to } => cluster.repair(from, to).await,
        FaultKind::Latency { service, .. }
        | FaultKind::Errors { service, .. }
        | FaultKind::Hang(service) => cluster.trouble_end(service, index).await,
        FaultKind::Crash { .. } => {}
    }
    recorder.fault_ended(index, Ok(()));
}

/// A crash loop on `service` for `window` (`None`: until the run ends): a crash every
/// `every` from the start of the window, or as soon as the previous replacement is ready
/// when it takes longer (one replica down at a time). A crash is never cut short by the
/// end of the window: the window ends between crashes, so no replica stays down.
async fn crash_loop(
    cluster: &Cluster,
    recorder: &Recorder,
    service: &str,
    every: Duration,
    window: Option<Duration>,
) -> Result<(), StartError> {
    let end = window.map(|window| Instant::now() + window);
    let mut next = Instant::now() + every;
    loop {
        if let Some(end) = end
            && next >= end
        {
            tokio::time::sleep_until(end).await;
            return Ok(());
        }
        tokio::time::sleep_until(next).await;
        cluster
            .crash_one(service, || recorder.crashed(service))
            .await?;
        next = (next + every).max(Instant::now());
    }
}
