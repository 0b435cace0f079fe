//! A replica's workers and queue (a version's `capacity`): a thread-per-request server.
//!
//! A request takes a worker for its whole handler, downstream calls, fallbacks and the
//! start of asynchronous calls included (an asynchronous call runs on after the worker
//! is freed: nobody waits for it). Past the workers it waits in a FIFO queue (tokio's
//! semaphore is fair: permits go in the order they were asked for); past the queue it
//! is refused at once with RESOURCE_EXHAUSTED. A queued request whose deadline passes
//! is not worked on: tonic drops its handler at the deadline its `grpc-timeout` gives,
//! which takes it out of the queue; one that reaches a worker with no time left is
//! dropped there. Both count as expired.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tonic::Status;

use crate::model::Capacity;
use crate::record::traffic::{PressureKey, Pressure, Traffic};

/// One replica's workers and queue.
#[derive(Debug)]
pub struct Workers {
    capacity: Capacity,
    idle: Semaphore,
    /// Requests waiting for a worker now.
    waiting: AtomicU64,
    /// The service's pressure counter.
    key: PressureKey,
}

impl Workers {
    pub fn new(capacity: Capacity, key: PressureKey) -> Workers {
        Workers {
            capacity,
            idle: Semaphore::new(capacity.workers as usize),
            waiting: AtomicU64::new(0),
            key,
        }
    }

    /// A worker for a request of `step` ending at `deadline`, after its turn in the
    /// queue; the worker is free again when the permit drops.
    pub async fn take(
        &self,
        step: usize,
        deadline: Option<Instant>,
        traffic: &Traffic,
        service: &str,
    ) -> Result<SemaphorePermit<'_>, Status> {
        let permit = match self.idle.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
                if queued > u64::from(self.capacity.queue) {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    traffic.pressed(
                        step,
                        &self.key,
                        &Pressure {
                            refused: 1,
                            ..Pressure::default()
                        },
                    );
                    return Err(Status::resource_exhausted(format!(
                        "{service}: all {} workers busy and {} requests queued",
                        self.capacity.workers, self.capacity.queue
                    )));
                }
                let mut waiter = Waiter {
                    workers: self,
                    traffic,
                    step,
                    served: false,
                };
                traffic.pressed(
                    step,
                    &self.key,
                    &Pressure {
                        peak_queue: queued,
                        ..Pressure::default()
                    },
                );
                // The semaphore is never closed, so acquiring fails only if it were.
                let permit = self
                    .idle
                    .acquire()
                    .await
                    .map_err(|_| Status::unavailable(format!("{service} is stopping")))?;
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    // Expired at the head of the queue: counted by the waiter's drop.
                    return Err(Status::deadline_exceeded(format!(
                        "{service}: waited in the queue past the deadline"
                    )));
                }
                waiter.served = true;
                permit
            }
        };
        let busy = self.capacity.workers as usize - self.idle.available_permits();
        traffic.pressed(
            step,
            &self.key,
            &Pressure {
                peak_workers: busy as u64,
                ..Pressure::default()
            },
        );
        Ok(permit)
    }
}

/// A request waiting in the queue: leaves it when dropped, and counts as expired if it
/// never got to work (its deadline took it out, or it reached a worker too late).
struct Waiter<'a> {
    workers: &'a Workers,
    traffic: &'a Traffic,
    step: usize,
    served: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.workers.waiting.fetch_sub(1, Ordering::SeqCst);
        if !self.served {
            self.traffic.pressed(
                self.step,
                &self.workers.key,
                &Pressure {
                    expired: 1,
                    ..Pressure::default()
                },
            );
        }
    }
}
