//! A replica's workers and queue (a version's `capacity`): a thread-per-request server.
//!
//! A request takes a worker for its whole handler, downstream calls, fallbacks and the
//! start of asynchronous calls included (an asynchronous call runs on after the worker
//! is freed: nobody waits for it). Past the workers it waits in a FIFO queue (tokio's
//! semaphore is fair: permits go in the order they were asked for); past the queue it
//! is refused at once with RESOURCE_EXHAUSTED. A queued request whose deadline passes
//! is not worked on: tonic drops its handler at the deadline its `grpc-timeout` gives,
//! which takes it out of the queue; one that reaches a worker with no time left is
//! dropped there. Both count as expired. A request whose deadline passes while it holds
//! a worker is cut off there (its caller gave up) and counts as abandoned. A request a
//! kill or a crash cuts off counts as neither.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

use tokio::time::Instant;
use tonic::Status;

use crate::model::Capacity;
use crate::record::traffic::{Pressure, PressureKey, Traffic};

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
    /// queue; the worker is free again when the returned hold drops (call
    /// [`Held::finish`] when the work ended on its own).
    pub async fn take<'a>(
        &'a self,
        step: usize,
        deadline: Option<Instant>,
        traffic: &'a Traffic,
        service: &str,
    ) -> Result<Held<'a>, Status> {
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
                    deadline,
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
                if past(deadline) {
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
        Ok(Held {
            _permit: permit,
            workers: self,
            traffic,
            step,
            deadline,
            finished: false,
        })
    }
}

/// A worker held by a request. Dropped before [`Held::finish`] after the request's
/// deadline passed, it counts the request as abandoned.
#[derive(Debug)]
pub struct Held<'a> {
    _permit: SemaphorePermit<'a>,
    workers: &'a Workers,
    traffic: &'a Traffic,
    step: usize,
    deadline: Option<Instant>,
    finished: bool,
}

impl Held<'_> {
    /// The request's work ended on its own (answered or failed).
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if !self.finished && past(self.deadline) {
            self.traffic.pressed(
                self.step,
                &self.workers.key,
                &Pressure {
                    abandoned: 1,
                    ..Pressure::default()
                },
            );
        }
    }
}

/// Whether `deadline` has passed (a request without one never expires).
fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|deadline| Instant::now() >= deadline)
}

/// A request waiting in the queue: leaves it when dropped, and counts as expired if it
/// never got to work because its deadline passed (it took the request out, or the
/// request reached a worker too late); one a kill cut off is not counted.
struct Waiter<'a> {
    workers: &'a Workers,
    traffic: &'a Traffic,
    step: usize,
    deadline: Option<Instant>,
    served: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.workers.waiting.fetch_sub(1, Ordering::SeqCst);
        if !self.served && past(self.deadline) {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn workers(traffic: &Traffic, workers: u32, queue: u32) -> Arc<Workers> {
        Arc::new(Workers::new(
            Capacity { workers, queue },
            traffic.pressure("api"),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_workers_and_the_queue_exactly_the_rest_are_refused() {
        let traffic = Arc::new(Traffic::new(1));
        let (n, m, k) = (3, 2, 4);
        let pool = workers(&traffic, n, m);
        let mut held = Vec::new();
        for _ in 0..n + m + k {
            let (pool, traffic) = (Arc::clone(&pool), Arc::clone(&traffic));
            held.push(tokio::spawn(async move {
                match pool.take(0, None, &traffic, "api").await {
                    Ok(_worker) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(())
                    }
                    Err(status) => Err(status.code()),
                }
            }));
            // Every request arrives before the first is done.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut refused = 0;
        for task in held {
            if let Err(code) = task.await.expect("the task ran") {
                assert_eq!(code, tonic::Code::ResourceExhausted);
                refused += 1;
            }
        }
        assert_eq!(refused, k);
        let pressure = traffic.step(0).pressure["api"];
        assert_eq!(pressure.refused, u64::from(k));
        assert_eq!(pressure.peak_workers, u64::from(n));
        assert_eq!(pressure.peak_queue, u64::from(m));
        assert_eq!(
            pressure.expired, 0,
            "the queued ones waited without a deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_reaches_a_worker_past_its_deadline_is_not_worked_on() {
        let traffic = Arc::new(Traffic::new(1));
        let pool = workers(&traffic, 1, 1);
        let first = pool.take(0, None, &traffic, "api").await.expect("a worker");
        let deadline = Instant::now() + Duration::from_millis(50);
        let queued = {
            let (pool, traffic) = (Arc::clone(&pool), Arc::clone(&traffic));
            tokio::spawn(async move {
                pool.take(0, Some(deadline), &traffic, "api")
                    .await
                    .map(drop)
                    .map_err(|status| status.code())
            })
        };
        tokio::time::sleep(Duration::from_millis(80)).await;
        drop(first);
        let taken = queued.await.expect("the task ran");
        assert_eq!(taken, Err(tonic::Code::DeadlineExceeded));
        assert_eq!(traffic.step(0).pressure["api"].expired, 1);
        // Its worker went back: the next request gets one at once.
        let next = pool.take(0, None, &traffic, "api").await;
        assert!(next.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_cut_off_at_its_deadline_while_working_is_abandoned_not_one_a_kill_cuts() {
        let traffic = Arc::new(Traffic::new(1));
        let pool = workers(&traffic, 2, 0);
        let deadline = Some(Instant::now() + Duration::from_millis(50));
        let late = pool
            .take(0, deadline, &traffic, "api")
            .await
            .expect("a worker");
        let killed = pool
            .take(0, deadline, &traffic, "api")
            .await
            .expect("a worker");
        // Cut before its deadline (a kill): not the request's own timeout.
        drop(killed);
        tokio::time::advance(Duration::from_millis(60)).await;
        drop(late);
        let done = pool.take(0, deadline, &traffic, "api").await;
        assert!(done.is_ok());
        done.expect("a worker").finish();
        assert_eq!(traffic.step(0).pressure["api"].abandoned, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_is_first_in_first_out() {
        let traffic = Arc::new(Traffic::new(1));
        let pool = workers(&traffic, 1, 5);
        let first = pool.take(0, None, &traffic, "api").await.expect("a worker");
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..4 {
            let (pool, traffic, order) =
                (Arc::clone(&pool), Arc::clone(&traffic), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let _worker = pool.take(0, None, &traffic, "api").await.expect("a worker");
                crate::lock::lock(&order).push(i);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(first);
        for task in waiting {
            task.await.expect("the task ran");
        }
        assert_eq!(*crate::lock::lock(&order), vec![0, 1, 2, 3]);
    }
}
