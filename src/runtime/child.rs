//! A replica as a child process, seen from the parent of a run across processes
//! (`--net processes`): started as `simulate serve --child`, told the scenario on its
//! standard input, controlled over its control service (`runtime::control`), stopped with
//! SIGTERM (it drains) or killed with SIGKILL.
//!
//! No child outlives its parent. Its standard input stays open for its life and is its
//! lifeline: when the parent ends however it ends (a return, a panic, Ctrl-C, SIGKILL),
//! the system closes the pipe and the child stops on the end of its input. The handle
//! also kills the process when it is dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::contract::TOKEN_HEADER;
use crate::contract::control::{ControlClient, Cut, Done, Member, Window};
use crate::record::traffic::Delta;
use crate::record::{Event, Recorder};
use crate::runtime::net;

/// The environment variable a child reads the run's token from.
pub const TOKEN_ENV: &str = "DEPLOYSIM_TOKEN";

/// What starts the line of a child's last counts on its standard output, before the
/// JSON of its `record::traffic::Delta`, written once it has drained on SIGTERM.
pub const FINAL_COUNTS: &str = "counts ";

/// How long a child may take to start and say where it listens.
pub const START_LIMIT: Duration = Duration::from_secs(20);

/// The largest counts message a child may send (JSON of its traffic since the last take).
const MAX_COUNTS_BYTES: usize = 256 * 1024 * 1024;

/// How long one control request may take before the child is taken as lost.
const CONTROL_LIMIT: Duration = Duration::from_secs(5);

/// What `--net processes` adds to a live run: how its children are started.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// The `simulate` binary.
    pub program: PathBuf,
    /// The scenario's text, as the parent loaded it.
    pub text: Arc<str>,
    /// The run's token, fresh per run.
    pub token: AsciiMetadataValue,
}

/// What every child of one run is started from.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub spawn: Spawn,
    pub seed: u64,
    /// The run's steps and counters (each child's recorder is sized like the parent's).
    pub steps: usize,
    pub counters: usize,
}

/// The control client with the run's token on every request.
pub type Controller = ControlClient<InterceptedService<Channel, WithToken>>;

/// Puts the run's token on a control request.
#[derive(Debug, Clone)]
pub struct WithToken(AsciiMetadataValue);

impl Interceptor for WithToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert(TOKEN_HEADER, self.0.clone());
        Ok(request)
    }
}

/// What the parent asks a child through: its number, service and control client.
#[derive(Debug, Clone)]
pub struct Handle {
    pub id: u32,
    pub service: String,
    control: Controller,
    /// False once the process has exited, however: nothing is asked of it then.
    alive: Arc<AtomicBool>,
}

/// A running child: one replica.
#[derive(Debug)]
pub struct Child {
    pub handle: Handle,
    pub version: String,
    pub addr: SocketAddr,
    pid: Option<u32>,
    /// Set before the parent stops or kills the child: an exit after it is expected.
    ending: Arc<AtomicBool>,
    /// True once the process has exited (its watcher reaped it).
    exited: watch::Receiver<bool>,
    /// The lifeline: open while the parent wants the child.
    lifeline: Option<ChildStdin>,
    /// Where the child says where it listens, and its last counts when it stops.
    stdout: BufReader<ChildStdout>,
}

/// Replica `replica` of `service` as a control request names it (its address only
/// where it joins).
fn member(service: &str, replica: u32, addr: Option<SocketAddr>) -> Member {
    Member {
        service: service.to_owned(),
        replica,
        addr: addr.map(|addr| addr.to_string()).unwrap_or_default(),
    }
}

/// A child could not be started or controlled.
fn lost(what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(what.to_string())
}

impl Child {
    /// Starts replica `id` (the `nth` of its service) of `version` of `service` and waits
    /// until it listens.
    /// A child that exits without the parent's asking is reported in `recorder`
    /// ([`Event::ReplicaExited`]).
    pub async fn start(
        fleet: &Fleet,
        recorder: &Arc<Recorder>,
        service: &str,
        version: &str,
        id: u32,
        nth: u32,
    ) -> std::io::Result<Child> {
        let spawn = &fleet.spawn;
        let mut process = tokio::process::Command::new(&spawn.program)
            .arg("serve")
            .arg("-")
            .args(["--child", "--service", service, "--version", version])
            .args(["--replica", &nth.to_string(), "--id", &id.to_string()])
            .args(["--seed", &fleet.seed.to_string()])
            .args(["--steps", &fleet.steps.to_string()])
            .args(["--counters", &fleet.counters.to_string()])
            .env(TOKEN_ENV, spawn.token.to_str().unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let mut stdin = process.stdin.take().ok_or_else(|| lost("no stdin"))?;
        let stdout = process.stdout.take().ok_or_else(|| lost("no stdout"))?;
        let mut stdout = BufReader::new(stdout);
        let said = tokio::time::timeout(START_LIMIT, async {
            stdin
                .write_all(format!("{}\n", spawn.text.len()).as_bytes())
                .await?;
            stdin.write_all(spawn.text.as_bytes()).await?;
            stdin.flush().await?;
            let mut line = String::new();
            stdout.read_line(&mut line).await?;
            Ok::<String, std::io::Error>(line)
        })
        .await
        .map_err(|_| {
            lost(format!(
                "{service} {version} did not start within {START_LIMIT:?}"
            ))
        })??;
        let Some(addr) = said
            .trim()
            .rsplit_once(" on ")
            .and_then(|(_, addr)| addr.parse::<SocketAddr>().ok())
        else {
            let ended = match process.try_wait() {
                Ok(Some(status)) => format!("exited ({status}) before it said where it listens"),
                _ => "did not say where it listens".to_owned(),
            };
            return Err(lost(format!("{ended}; its own message, if any, is above")));
        };
        let pid = process.id();
        let alive = Arc::new(AtomicBool::new(true));
        let ending = Arc::new(AtomicBool::new(false));
        let (reaped, exited) = watch::channel(false);
        let watcher = Watcher {
            alive: Arc::clone(&alive),
            ending: Arc::clone(&ending),
            recorder: Arc::clone(recorder),
            service: service.to_owned(),
            id,
        };
        // The process is the watcher's: it reaps it whenever it ends, and says so; a
        // runtime that ends first drops it, which kills the process (`kill_on_drop`).
        tokio::spawn(async move {
            let status = process.wait().await;
            watcher.exited(status.ok().and_then(|status| status.code()));
            let _ = reaped.send(true);
        });
        // A long run's counts of a busy replica can pass tonic's 4 MiB default.
        let control =
            ControlClient::with_interceptor(net::channel(addr), WithToken(spawn.token.clone()))
                .max_decoding_message_size(MAX_COUNTS_BYTES);
        Ok(Child {
            handle: Handle {
                id,
                service: service.to_owned(),
                control,
                alive,
            },
            version: version.to_owned(),
            addr,
            pid,
            ending,
            exited,
            lifeline: Some(stdin),
            stdout,
        })
    }

    /// Sends `signal` to the process, once the parent has marked its end as its own.
    fn signal(&self, signal: rustix::process::Signal) {
        self.ending.store(true, Ordering::SeqCst);
        if *self.exited.borrow() {
            return;
        }
        if let Some(pid) = self.pid.and_then(|pid| i32::try_from(pid).ok())
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// Waits at most `limit` for the process to have exited; false when it has not.
    async fn exited_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.exited.wait_for(|exited| *exited))
            .await
            .is_ok()
    }

    /// Stops the child gracefully: SIGTERM, and it drains (at most `grace`), writes its
    /// last counts on its standard output ([`FINAL_COUNTS`]: everything it counted
    /// since the last take, the calls its drain cut included) and exits; past that it
    /// is killed.
    pub async fn stop(mut self, grace: Duration, recorder: &Recorder) {
        self.signal(rustix::process::Signal::TERM);
        // Drain time, plus a moment to write the counts and end.
        let limit = grace + Duration::from_millis(500);
        let stdout = &mut self.stdout;
        let last = tokio::time::timeout(limit, async {
            let mut line = String::new();
            // Bounded: one line of counts at most, then the end of the output.
            let read = stdout
                .take(MAX_COUNTS_BYTES as u64)
                .read_line(&mut line)
                .await;
            read.ok().and_then(|_| {
                line.trim_end()
                    .strip_prefix(FINAL_COUNTS)
                    .map(str::to_owned)
            })
        })
        .await;
        let delta = match last {
            Ok(Some(json)) => serde_json::from_str::<Delta>(&json).ok(),
            Ok(None) | Err(_) => None,
        };
        self.handle.absorb(delta, recorder);
        if !self.exited_within(Duration::from_millis(500)).await {
            self.signal(rustix::process::Signal::KILL);
            self.exited_within(Duration::from_secs(1)).await;
        }
        self.lifeline = None;
    }

    /// Kills the child at once (SIGKILL): its calls in flight fail, its connections
    /// reset; its watcher reaps it. Take its counts first (`Handle::collect`) for the
    /// report to keep them.
    pub fn kill(self) {
        self.signal(rustix::process::Signal::KILL);
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Kills the child without taking its counts: the run was interrupted.
    pub fn abandon(self) {
        self.signal(rustix::process::Signal::KILL);
    }
}

/// What reaps a child: says when it exited without the parent's asking.
struct Watcher {
    alive: Arc<AtomicBool>,
    ending: Arc<AtomicBool>,
    recorder: Arc<Recorder>,
    service: String,
    id: u32,
}

impl Watcher {
    fn exited(&self, code: Option<i32>) {
        self.alive.store(false, Ordering::SeqCst);
        if !self.ending.load(Ordering::SeqCst) {
            self.recorder.event(Event::ReplicaExited {
                service: self.service.clone(),
                replica: self.id,
                code,
            });
        }
    }
}

impl Handle {
    /// Whether the process still runs (nothing is asked of one that has ended).
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Takes the counts the child made since the last take and adds them to `recorder`;
    /// counts that cannot be taken are reported as lost.
    pub async fn collect(&self, recorder: &Recorder) {
        let mut control = self.control.clone();
        let taken = tokio::time::timeout(CONTROL_LIMIT, control.counts(Done {})).await;
        let delta = match taken {
            Ok(Ok(taken)) => serde_json::from_slice::<Delta>(&taken.get_ref().json).ok(),
            Ok(Err(_)) | Err(_) => None,
        };
        self.absorb(delta, recorder);
    }

    /// Adds counts the child handed over to `recorder`, or reports them lost.
    fn absorb(&self, delta: Option<Delta>, recorder: &Recorder) {
        match delta {
            Some(delta) => recorder.traffic.absorb(&delta),
            None => recorder.event(Event::CountsLost {
                service: self.service.clone(),
                replica: self.id,
            }),
        }
    }

    /// Asks the child to put a callee's replica in rotation.
    pub async fn join(&self, service: &str, replica: u32, addr: SocketAddr) -> bool {
        let member = member(service, replica, Some(addr));
        self.ask(|mut control| async move { control.join(member).await.map(|_| ()) })
            .await
    }

    /// Asks the child to take a callee's replica out of rotation; true once it has.
    pub async fn leave(&self, service: &str, replica: u32) -> bool {
        let member = member(service, replica, None);
        self.ask(|mut control| async move { control.leave(member).await.map(|_| ()) })
            .await
    }

    /// Waits until the child has no call in flight to a replica it left; false when it
    /// still has (or could not say).
    pub async fn drained(&self, service: &str, replica: u32) -> bool {
        let member = member(service, replica, None);
        let mut control = self.control.clone();
        matches!(
            tokio::time::timeout(CONTROL_LIMIT, control.drain(member)).await,
            Ok(Ok(drained)) if drained.get_ref().drained
        )
    }

    /// One partition window of the child's calls to `callee` begins (`cut`) or ends.
    pub async fn partition(&self, callee: &str, cut: bool) -> bool {
        let cut = Cut {
            callee: callee.to_owned(),
            cut,
        };
        self.ask(|mut control| async move { control.partition(cut).await.map(|_| ()) })
            .await
    }

    /// Fault `fault` (a latency, errors or hang fault of the child's service) begins or
    /// ends.
    pub async fn trouble(&self, fault: usize, begin: bool) -> bool {
        let window = Window {
            fault: u32::try_from(fault).unwrap_or(u32::MAX),
            begin,
        };
        self.ask(|mut control| async move { control.trouble(window).await.map(|_| ()) })
            .await
    }

    async fn ask<F, Fut>(&self, request: F) -> bool
    where
        F: FnOnce(Controller) -> Fut,
        Fut: std::future::Future<Output = Result<(), Status>>,
    {
        let asked = tokio::time::timeout(CONTROL_LIMIT, request(self.control.clone())).await;
        match asked {
            Ok(Ok(())) => true,
            Ok(Err(status)) => {
                tracing::warn!(child = self.id, service = %self.service, %status, "a control request failed");
                false
            }
            Err(_) => {
                tracing::warn!(child = self.id, service = %self.service, "a control request timed out");
                false
            }
        }
    }
}
