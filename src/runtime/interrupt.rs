//! Ctrl-C, as one value every part of a run reads: the live runtime, a simulation and the
//! risk command's worker threads alike.
//!
//! One watcher per process, on a thread of its own with its own small runtime: a
//! simulation has no signal driver, and risk's trials run on plain threads, so the
//! watcher cannot live inside either. It flips a `watch` channel, which both async code
//! (`changed`, `wait_for`) and plain threads (`is_set`) can read.

use std::sync::Arc;

use tokio::sync::watch;

/// Whether Ctrl-C was pressed: cheap to clone, read anywhere.
#[derive(Debug, Clone)]
pub struct Interrupt {
    receiver: watch::Receiver<bool>,
    /// The sending side, kept alive for an interrupt nobody can set, so that a wait on
    /// it never ends because the sender went away.
    _sender: Option<Arc<watch::Sender<bool>>>,
}

impl Interrupt {
    /// Set when the process receives Ctrl-C (SIGINT). Call it once per process: each
    /// call starts a watcher thread.
    pub fn on_ctrl_c() -> Interrupt {
        let (sender, receiver) = watch::channel(false);
        let watcher = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match watcher {
            Ok(watcher) => {
                // The thread lives as long as the process: it waits for the signal and
                // owns the sender, so nothing ever joins it.
                std::thread::spawn(move || {
                    watcher.block_on(async move {
                        if tokio::signal::ctrl_c().await.is_ok() {
                            let _ = sender.send(true);
                        }
                    });
                });
                Interrupt {
                    receiver,
                    _sender: None,
                }
            }
            // Without a runtime for the watcher, Ctrl-C keeps its default action (the
            // process ends at once); the run itself is unaffected.
            Err(_) => Interrupt {
                receiver,
                _sender: Some(Arc::new(sender)),
            },
        }
    }

    /// An interrupt that is never set: for tests and for runs inside another command
    /// that watches Ctrl-C itself.
    pub fn never() -> Interrupt {
        let (sender, receiver) = watch::channel(false);
        Interrupt {
            receiver,
            _sender: Some(Arc::new(sender)),
        }
    }

    /// An interrupt set by hand (tests): the returned sender sets it.
    pub fn manual() -> (watch::Sender<bool>, Interrupt) {
        let (sender, receiver) = watch::channel(false);
        (
            sender,
            Interrupt {
                receiver,
                _sender: None,
            },
        )
    }

    /// True once Ctrl-C was pressed.
    pub fn is_set(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Waits until Ctrl-C is pressed (forever, if it never is).
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        if receiver.wait_for(|set| *set).await.is_err() {
            // The sender is gone, so it can never be set: wait forever, as promised.
            std::future::pending::<()>().await;
        }
    }
}
