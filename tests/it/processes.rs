//! A run across processes (`--net processes`): the drain acknowledged by every caller
//! child under a rolling step with load, the control service's refusal of a request
//! without the run's token, no process left behind however the parent ends (Ctrl-C to
//! its process group, SIGKILL of the parent alone), and replicas in network namespaces
//! of their own calling each other across a bridge, as across hosts.

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use deploysim::contract::TOKEN_HEADER;
use deploysim::contract::control::{ControlClient, Done, Member};
use deploysim::record::Event;
use deploysim::runtime::child::{Child, Fleet, Spawn};

use super::support::{TempDir, root, run_across_processes, write};

/// web (2 replicas) calls api (3 replicas, 20 ms a request); both roll to v2, one at a
/// time, under 300 requests a second: every old replica of api leaves while web's
/// children are calling it.
const ROLLING: &str = "name: rolling
services:
  web:
    entrypoint: true
    replicas: 2
    versions:
      v1: { calls: [ { service: api } ] }
      v2: { calls: [ { service: api } ] }
  api:
    replicas: 3
    versions:
      v1: { latency_ms: 20 }
      v2: { latency_ms: 20 }
initial: { web: v1, api: v1 }
target: { web: v2, api: v2 }
load: { rps: 300, baseline_ms: 300, step_ms: 1000 }
strategies: [ single-piece ]
";

#[test]
fn a_rolling_step_across_processes_loses_and_fails_no_request() {
    let scenario =
        Arc::new(deploysim::scenario::parse_str(ROLLING, "rolling.yaml".as_ref()).expect("valid"));
    let run = run_across_processes(ROLLING, &scenario, &scenario.strategies[0]);
    assert_eq!(run.steps.len(), 3, "baseline and two steps");
    for step in &run.steps {
        assert_eq!(
            step.total.failed,
            0,
            "step {}: {:?}",
            step.kind.label(),
            step.total.causes
        );
        assert!(
            step.total.ok > 50,
            "step {}: too few requests",
            step.kind.label()
        );
        let drains: Vec<&Event> = step
            .events
            .iter()
            .filter(|event| {
                matches!(
                    event,
                    Event::DrainTimedOut { .. }
                        | Event::CountsLost { .. }
                        | Event::ReplicaExited { .. }
                )
            })
            .collect();
        assert!(drains.is_empty(), "{drains:?}");
    }
    // The calls web's children made to api, counted inside them, reached the parent:
    // one per entry request (web calls api once), none failed by the moves.
    let calls = run.traffic.edges["web -> api api v1"];
    let answered = run.total.ok + run.total.degraded;
    assert!(
        calls.calls.abs_diff(answered) <= answered / 20,
        "{} calls for {answered} answered requests",
        calls.calls
    );
    assert_eq!(calls.failed, 0);
}

/// How the tests below start children of [`ROLLING`] by hand: with `TOKEN` and a run
/// of 4 steps.
fn rolling_fleet() -> Fleet {
    Fleet {
        spawn: Spawn {
            program: env!("CARGO_BIN_EXE_simulate").into(),
            text: Arc::from(ROLLING),
            token: tonic::metadata::AsciiMetadataValue::from_static(TOKEN),
        },
        seed: 7,
        steps: 4,
        counters: 8,
    }
}

/// The run's token of [`rolling_fleet`].
const TOKEN: &str = "the-run-token";

#[test]
fn a_child_refuses_control_without_the_run_token() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let token = tonic::metadata::AsciiMetadataValue::from_static(TOKEN);
        let fleet = rolling_fleet();
        let recorder = Arc::new(deploysim::record::Recorder::new());
        let child = Child::start(&fleet, &recorder, "web", "v1", 1, 1)
            .await
            .expect("the child starts");
        let mut stray = ControlClient::connect(format!("http://{}", child.addr))
            .await
            .expect("connects");
        let member = Member {
            service: "api".to_owned(),
            replica: 9,
            addr: "127.0.0.1:9".to_owned(),
        };
        let refused = stray.join(member.clone()).await.expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        let refused = stray.counts(Done {}).await.expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        let mut wrong = tonic::Request::new(Done {});
        wrong
            .metadata_mut()
            .insert(TOKEN_HEADER, "another-token".parse().expect("ASCII"));
        let refused = stray.counts(wrong).await.expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        // With the token it answers: the same client, the same requests.
        let mut asked = tonic::Request::new(member);
        asked.metadata_mut().insert(TOKEN_HEADER, token.clone());
        stray.join(asked).await.expect("joined with the token");
        let mut asked = tonic::Request::new(Done {});
        asked.metadata_mut().insert(TOKEN_HEADER, token);
        let taken = stray.counts(asked).await.expect("counts with the token");
        assert!(!taken.get_ref().json.is_empty());
        child.abandon();
    });
}

#[test]
fn a_stopped_child_hands_over_its_last_counts_and_one_killed_by_another_is_reported_lost() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let fleet = rolling_fleet();
        // api's replica receives three requests of step 1, then stops with SIGTERM:
        // its last line hands them over.
        let recorder = Arc::new(deploysim::record::Recorder::for_steps(4));
        let api = Child::start(&fleet, &recorder, "api", "v1", 1, 1)
            .await
            .expect("the child starts");
        let pool = Arc::new(deploysim::runtime::pool::Pool::at("api", &[api.addr]));
        let link = deploysim::runtime::pool::Link::new("web", pool, 7)
            .with_token(fleet.spawn.token.clone());
        let target = link.target("v1", None);
        for _ in 0..3 {
            let request = deploysim::contract::CallRequest {
                step: 1,
                ..Default::default()
            };
            link.call(&target, request, Duration::from_secs(5))
                .await
                .expect("api answers");
        }
        api.stop(Duration::from_secs(2), &recorder).await;
        assert_eq!(recorder.traffic.step(1).received.get("api"), Some(&3));
        // Another replica dies by someone else's hand: the run says it exited on its
        // own, and that its counts are lost.
        let other = Child::start(&fleet, &recorder, "api", "v1", 2, 2)
            .await
            .expect("the child starts");
        signal(&other.pid().expect("running").to_string(), "KILL");
        tokio::time::sleep(Duration::from_millis(300)).await;
        other.stop(Duration::from_millis(200), &recorder).await;
        let events = recorder.take().steps.remove(0).events;
        assert_eq!(
            events,
            vec![
                Event::ReplicaExited {
                    service: "api".to_owned(),
                    replica: 2,
                    code: None
                },
                Event::CountsLost {
                    service: "api".to_owned(),
                    replica: 2
                }
            ],
            "and nothing about the replica the run stopped itself"
        );
    });
}

/// The live processes (not zombies) of process group `group`.
fn members_of(group: u32) -> Vec<String> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: the fields after the command's closing paren.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == group.to_string() && fields[0] != "Z" {
            members.push(head.to_owned() + ")");
        }
    }
    members
}

/// Waits until `check` holds, at most `limit`.
fn within(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let tries = limit.as_millis() / 50;
    for _ in 0..tries {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// `simulate SCENARIO --net processes` in a process group of its own, once its
/// children run: (the parent, its group).
fn run_in_own_group() -> (std::process::Child, u32) {
    let parent = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(["scenarios/partial.yaml", "--net", "processes", "--quiet"])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("simulate starts");
    let group = parent.id();
    assert!(
        within(Duration::from_secs(20), || members_of(group).len() >= 6),
        "the children never started: {:?}",
        members_of(group)
    );
    (parent, group)
}

fn signal(target: &str, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), "--", target])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name} {target}");
}

#[test]
fn ctrl_c_to_a_run_across_processes_leaves_no_process() {
    let (mut parent, group) = run_in_own_group();
    // What a terminal does: SIGINT to every process of the foreground group.
    signal(&format!("-{group}"), "INT");
    let ended = within(Duration::from_secs(15), || {
        parent.try_wait().expect("wait").is_some()
    });
    let left = members_of(group);
    if !ended || !left.is_empty() {
        signal(&format!("-{group}"), "KILL");
    }
    assert!(ended, "the parent did not end on Ctrl-C");
    assert_eq!(
        parent.wait().expect("waits").code(),
        Some(130),
        "interrupted"
    );
    assert!(
        within(Duration::from_secs(5), || members_of(group).is_empty()),
        "left behind: {:?}",
        members_of(group)
    );
}

#[test]
fn a_parent_killed_outright_leaves_no_child_behind() {
    let (mut parent, group) = run_in_own_group();
    // SIGKILL runs none of the parent's code (no drop, no handler, as a panic with
    // `panic = abort` would): only the children's lifeline, their standard input,
    // which the system closes with the parent, tells them.
    signal(&parent.id().to_string(), "KILL");
    let _ = parent.wait();
    let gone = within(Duration::from_secs(10), || members_of(group).is_empty());
    let left = members_of(group);
    if !gone {
        signal(&format!("-{group}"), "KILL");
    }
    assert!(gone, "left behind: {left:?}");
}

/// Network namespaces this test made, removed when it ends however it ends.
struct Namespaces {
    names: Vec<String>,
    bridge: String,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {}", args.join(" "));
}

/// Whether this machine lets the test make network namespaces: root and `ip netns`.
/// Where it does not, the test is skipped with a message, but under CI, where a skip
/// would hide that the test never ran.
fn namespaces_possible() -> bool {
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    // Making one is the only sure test: listing works without the capability to add.
    let probe = format!("ds-probe-{}", std::process::id());
    let quiet = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let netns = root_user && quiet(&["netns", "add", &probe]);
    if netns {
        quiet(&["netns", "del", &probe]);
    }
    if root_user && netns {
        return true;
    }
    let why = format!("needs root and `ip netns add` (root: {root_user}, ip netns add: {netns})");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the network namespace test cannot run under CI: {why}"
    );
    eprintln!("skipped: the network namespace test {why}");
    false
}

/// web calls catalog (required) and recommend (optional); each service's replica runs
/// in a namespace of its own with its own address on a bridge, and the load comes from
/// the host's namespace: every call crosses from one namespace to another.
const ACROSS: &str = "name: across
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: catalog }, { service: recommend, on_failure: degrade } ] }
  catalog: { versions: { v1: { latency_ms: 1 } } }
  recommend: { versions: { v1: { latency_ms: 1 } } }
initial: { web: v1, catalog: v1, recommend: v1 }
load: { rps: 100, baseline_ms: 1500 }
expect: { graceful: true }
";

#[test]
fn replicas_in_three_network_namespaces_call_each_other_across_a_bridge() {
    if !namespaces_possible() {
        return;
    }
    let tag = std::process::id() % 100_000;
    let bridge = format!("dsb{tag}");
    let hosts = ["web", "catalog", "recommend"];
    let namespaces = Namespaces {
        names: hosts.iter().map(|h| format!("ds-{h}-{tag}")).collect(),
        bridge: bridge.clone(),
    };
    // The bridge, with the host's own address on it (where the load comes from).
    ip(&["link", "add", &bridge, "type", "bridge"]);
    ip(&["addr", "add", "10.231.0.1/24", "dev", &bridge]);
    ip(&["link", "set", &bridge, "up"]);
    let mut addrs = Vec::new();
    for (i, name) in namespaces.names.iter().enumerate() {
        let (outside, inside) = (format!("dso{tag}{i}"), format!("dsi{tag}{i}"));
        let addr = format!("10.231.0.{}", i + 2);
        ip(&["netns", "add", name]);
        ip(&[
            "link", "add", &outside, "type", "veth", "peer", "name", &inside,
        ]);
        ip(&["link", "set", &inside, "netns", name]);
        ip(&["link", "set", &outside, "master", &bridge]);
        ip(&["link", "set", &outside, "up"]);
        ip(&[
            "-n",
            name,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &inside,
        ]);
        ip(&["-n", name, "link", "set", &inside, "up"]);
        ip(&["-n", name, "link", "set", "lo", "up"]);
        addrs.push(addr);
    }
    let dir = TempDir::new("netns");
    let file = write(&dir, "across.yaml", ACROSS);
    let token = "token-across-namespaces";
    let serve = |i: usize, callees: &[(&str, String)]| {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &namespaces.names[i]])
            .arg(env!("CARGO_BIN_EXE_simulate"))
            .args(["serve", &file, "--service", hosts[i], "--version", "v1"])
            .args(["--addr", &format!("{}:7000", addrs[i])])
            .env("DEPLOYSIM_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (callee, addr) in callees {
            command.arg("--callee").arg(format!("{callee}={addr}:7000"));
        }
        Guarded(
            command
                .spawn()
                .expect("ip netns exec simulate serve starts"),
        )
    };
    let mut catalog = serve(1, &[]);
    let mut recommend = serve(2, &[]);
    let mut web = serve(
        0,
        &[
            ("catalog", addrs[1].clone()),
            ("recommend", addrs[2].clone()),
        ],
    );
    for child in [&mut web, &mut catalog, &mut recommend] {
        assert!(child.said_serving(), "a replica did not start");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(["load", &file, "--json", "-"])
        .args(["--target", &format!("web={}:7000", addrs[0])])
        .env("DEPLOYSIM_TOKEN", token)
        .output()
        .expect("simulate load runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON report: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let requests = &report["requests"];
    assert!(requests["ok"].as_u64().unwrap_or(0) > 100, "{report:#}");
    assert_eq!(
        requests["degraded"], 0,
        "recommend answered across: {report:#}"
    );
    assert_eq!(requests["failed"], 0, "catalog answered across: {report:#}");
    drop((web, catalog, recommend));
    drop(namespaces);
}

/// A child process killed when the test ends.
struct Guarded(std::process::Child);

impl Guarded {
    /// Reads its first line: `serving ...` once it listens.
    fn said_serving(&mut self) -> bool {
        use std::io::BufRead as _;
        let Some(stdout) = self.0.stdout.take() else {
            return false;
        };
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        line.starts_with("serving ")
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_sweep_across_processes_finds_what_one_process_finds() {
    let sweep = |net: &str| {
        let run = super::support::simulate(&[
            "sweep",
            "scenarios/partial.yaml",
            "--net",
            net,
            "--json",
            "-",
            "--quiet",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
        let rows: Vec<(String, String)> = report["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| (row["missing"].to_string(), row["measured"].to_string()))
            .collect();
        (
            rows,
            report["single_points_of_failure"].clone(),
            report["net"].clone(),
        )
    };
    let (one, points, _) = sweep("live");
    let (many, points_across, net) = sweep("processes");
    assert_eq!(net, "processes");
    assert_eq!(one, many);
    assert_eq!(points, points_across);
    assert!(one.len() >= 6, "{one:?}");
}
