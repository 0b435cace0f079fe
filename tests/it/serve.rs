//! `simulate serve`: one replica as its own process, over real gRPC between processes:
//! calls with the run's token, refusal without it, the health service, a drain on
//! SIGTERM that lets the call in flight finish, a kill on SIGKILL.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use deploysim::contract::{self, CallReply, CallRequest, TOKEN_HEADER};
use tonic::Code;

use super::support::{TempDir, write};

const SCENARIO: &str = "name: served
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: db, timeout_ms: 3000 } ] }
  db:
    versions:
      v1: { latency_ms: 300 }
initial: { web: v1, db: v1 }
";

const TOKEN: &str = "t0k3n-of-this-run";

/// A `simulate serve` child, killed when dropped (a failing test leaves no process).
struct Served {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Served {
    fn start(scenario: &str, service: &str, callees: &[(&str, std::net::SocketAddr)]) -> Served {
        let mut command = Command::new(env!("CARGO_BIN_EXE_simulate"));
        command
            .args(["serve", scenario, "--service", service, "--version", "v1"])
            .env("DEPLOYSIM_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (callee, addr) in callees {
            command.arg("--callee").arg(format!("{callee}={addr}"));
        }
        let child = command.spawn().expect("simulate serve starts");
        // Held by its guard before anything can fail, so no process outlives the test.
        let mut served = Served {
            child,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = served.child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("it says where it serves");
        served.addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        assert!(
            line.starts_with(&format!("serving {service} v1 on 127.0.0.1:")),
            "{line}"
        );
        served
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    /// Its exit code, waiting at most `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<i32> {
        let tries = limit.as_millis() / 20;
        for _ in 0..tries {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(addr: std::net::SocketAddr, token: Option<&str>) -> Result<CallReply, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("a URI")
        .connect()
        .await
        .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
    let mut request = tonic::Request::new(CallRequest::default());
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert(TOKEN_HEADER, token.parse().expect("ASCII"));
    }
    let path = contract::method_path("web", "v1", None)
        .parse()
        .expect("a gRPC path");
    grpc.unary(
        request,
        path,
        tonic_prost::ProstCodec::<CallRequest, CallReply>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn replicas_as_processes_answer_with_the_token_refuse_without_it_and_say_their_health() {
    let dir = TempDir::new("serve-calls");
    let scenario = write(&dir, "served.yaml", SCENARIO);
    let db = Served::start(&scenario, "db", &[]);
    let web = Served::start(&scenario, "web", &[("db", db.addr)]);
    runtime().block_on(async {
        // web v1 calls db over real gRPC between the two processes, with the token.
        let reply = call(web.addr, Some(TOKEN))
            .await
            .expect("the call is answered");
        assert!(!reply.degraded);
        for token in [None, Some("another-run")] {
            let refused = call(web.addr, token).await.expect_err("refused");
            assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
        }
        // The standard health service.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", web.addr))
            .expect("a URI")
            .connect()
            .await
            .expect("connects");
        let health = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health answers")
            .into_inner();
        assert_eq!(
            health.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    });
}

#[test]
fn sigterm_drains_the_call_in_flight_and_sigkill_is_a_kill() {
    let dir = TempDir::new("serve-drain");
    let scenario = write(&dir, "served.yaml", SCENARIO);
    let mut db = Served::start(&scenario, "db", &[]);
    let web = Served::start(&scenario, "web", &[("db", db.addr)]);
    let rt = runtime();
    rt.block_on(async {
        // db takes 300 ms a request: SIGTERM it 100 ms into one; the call still answers.
        let in_flight = tokio::spawn(call(web.addr, Some(TOKEN)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        db.signal("TERM");
        let reply = in_flight.await.expect("the task ran");
        assert!(reply.is_ok(), "the drained call failed: {reply:?}");
    });
    assert_eq!(
        db.exit_within(Duration::from_secs(5)),
        Some(0),
        "a drain exits 0"
    );
    // db is gone: web's call to it fails UNAVAILABLE, and so does web's request.
    let gone = rt
        .block_on(call(web.addr, Some(TOKEN)))
        .expect_err("db is gone");
    assert_eq!(gone.code(), Code::Unavailable, "{gone:?}");
    // SIGKILL: no drain, the process is dead at once.
    let mut web = web;
    web.signal("KILL");
    assert_eq!(
        web.exit_within(Duration::from_secs(5)),
        Some(-1),
        "killed by a signal"
    );
}

#[test]
fn serve_refuses_to_start_without_a_token_or_with_an_unknown_version() {
    let dir = TempDir::new("serve-refused");
    let scenario = write(&dir, "served.yaml", SCENARIO);
    let run = |args: &[&str], token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_simulate"));
        command.arg("serve").arg(&scenario).args(args);
        command.env_remove("DEPLOYSIM_TOKEN");
        if let Some(token) = token {
            command.env("DEPLOYSIM_TOKEN", token);
        }
        command.output().expect("runs")
    };
    let out = run(&["--service", "db", "--version", "v1"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DEPLOYSIM_TOKEN"));
    let out = run(&["--service", "db", "--version", "v9"], Some(TOKEN));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("db has no such version"));
    let out = run(
        &[
            "--service",
            "web",
            "--version",
            "v1",
            "--callee",
            "nope=127.0.0.1:1",
        ],
        Some(TOKEN),
    );
    assert_eq!(out.status.code(), Some(2));
    // db calls nothing: a callee for it is a mistake, said.
    let out = run(
        &[
            "--service",
            "db",
            "--version",
            "v1",
            "--callee",
            "web=127.0.0.1:1",
        ],
        Some(TOKEN),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("db v1 calls no service web"));
}

/// `simulate export kubernetes SCENARIO ... --out DIR/k8s`: what it said, and the
/// directory.
fn export(
    dir: &TempDir,
    scenario: &str,
    extra: &[&str],
) -> (super::support::Run, std::path::PathBuf) {
    let out = dir.path().join("k8s");
    let out_text = out.display().to_string();
    let mut args = vec!["export", "kubernetes", scenario];
    args.extend_from_slice(extra);
    args.extend(["--out", out_text.as_str()]);
    (super::support::simulate(&args), out)
}

#[test]
fn names_kubernetes_would_take_for_one_are_refused_before_anything_is_written() {
    let dir = TempDir::new("export-collide");
    let scenario = write(
        &dir,
        "collide.yaml",
        "name: collide
services:
  web:
    entrypoint: true
    versions: { v1.0: {}, v1-0: {}, x_: {} }
  9new: { versions: { v1: {} } }
initial: { web: v1.0, 9new: v1 }
target: { web: v1-0 }
",
    );
    let (run, out) = export(&dir, &scenario, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("would both be the Deployment web-v1-0"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn the_exported_fleet_validates_reads_as_snapshotted_and_imports_back() {
    let dir = TempDir::new("export-kubernetes");
    let (run, out) = export(&dir, "scenarios/partial.yaml", &[]);
    let out_text = out.display().to_string();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for file in [
        "configmap.yaml",
        "services.yaml",
        "deployments.yaml",
        "load-job.yaml",
        "rollout-single-piece.sh",
    ] {
        let text = std::fs::read_to_string(out.join(file)).expect("written");
        insta::assert_snapshot!(format!("export_kubernetes__{file}"), text);
    }
    // Every strategy's script is bash, and moves the services in the plan's order.
    for strategy in [
        "batch",
        "single-piece",
        "half-done",
        "consumer-first",
        "safe",
    ] {
        let script = out.join(format!("rollout-{strategy}.sh"));
        let parsed = Command::new("bash")
            .arg("-n")
            .arg(&script)
            .status()
            .expect("bash runs");
        assert!(parsed.success(), "{}", script.display());
    }
    let single = std::fs::read_to_string(out.join("rollout-single-piece.sh")).expect("written");
    let order: Vec<&str> = single
        .lines()
        .filter_map(|line| line.strip_prefix("kubectl scale deployment/"))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    assert_eq!(
        order,
        [
            "catalog-v2",
            "catalog-v1",
            "recommend-v2",
            "recommend-v1",
            "web-v2",
            "web-v1"
        ],
        "rolling: the new version up and ready, then the old one down, providers first"
    );
    // Offline validation against Kubernetes 1.31's schemas, strict.
    let files: Vec<String> = [
        "configmap.yaml",
        "services.yaml",
        "deployments.yaml",
        "load-job.yaml",
    ]
    .iter()
    .map(|file| out.join(file).display().to_string())
    .collect();
    let mut args = vec!["-m", "kubernetes_validate", "--strict", "-k", "1.31.0"];
    args.extend(files.iter().map(String::as_str));
    if let Some(validated) = super::support::tool("python3", &args, "kubernetes-validate (PyPI)") {
        assert!(
            validated.status.success(),
            "{}{}",
            String::from_utf8_lossy(&validated.stdout),
            String::from_utf8_lossy(&validated.stderr)
        );
    }
    // The round trip: import reads back the services, their versions and replicas.
    let imported = dir.path().join("imported.yaml");
    let run = super::support::simulate(&[
        "import",
        &out_text,
        "--out",
        &imported.display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let back = deploysim::scenario::load(&imported).expect("the import loads");
    let original =
        deploysim::scenario::load(&super::support::root().join("scenarios/partial.yaml"))
            .expect("shipped");
    let shape = |scenario: &deploysim::model::Scenario, only_deployed: bool| {
        scenario
            .services
            .iter()
            .map(|(name, service)| {
                let versions: Vec<String> = service
                    .versions
                    .keys()
                    .filter(|v| {
                        !only_deployed
                            || scenario.initial.version(name) == Some(v.as_str())
                            || scenario.target.version(name) == Some(v.as_str())
                    })
                    .cloned()
                    .collect();
                (name.clone(), versions, service.replicas)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&back, false), shape(&original, true));
}

#[test]
fn a_recreated_service_goes_down_before_its_new_version_comes_up() {
    let dir = TempDir::new("export-recreate");
    let scenario = write(
        &dir,
        "recreate.yaml",
        "name: recreate
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: db, on_failure: degrade } ] }
  db:
    rollout: recreate
    replicas: 3
    versions: { v1: {}, v2: {} }
initial: { web: v1, db: v1 }
target: { db: v2 }
",
    );
    let (run, out) = export(&dir, &scenario, &["--strategy", "batch"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let script = std::fs::read_to_string(out.join("rollout-batch.sh")).expect("written");
    let moves: Vec<&str> = script
        .lines()
        .filter(|line| {
            line.starts_with("kubectl scale") || line.starts_with("kubectl wait --for=delete")
        })
        .collect();
    assert_eq!(
        moves,
        [
            "kubectl scale deployment/db-v1 --replicas=0",
            "kubectl wait --for=delete pod -l deploysim/scenario=recreate,deploysim/service=db,deploysim/version=v1 --timeout=2m",
            "kubectl scale deployment/db-v2 --replicas=3",
        ]
    );
    let deployments = std::fs::read_to_string(out.join("deployments.yaml")).expect("written");
    assert!(deployments.contains("type: Recreate"));
    assert!(deployments.contains("terminationGracePeriodSeconds: 4"));
}

#[test]
fn a_step_brings_every_new_version_up_before_old_ones_go_callers_first() {
    let dir = TempDir::new("export-phases");
    let scenario = write(
        &dir,
        "phases.yaml",
        "name: phases
services:
  web:
    entrypoint: true
    versions:
      v1: { calls: [ { service: old } ] }
      v2: { calls: [ { service: fresh } ] }
  old: { versions: { v1: {} } }
  fresh: { versions: { v1: {} } }
initial: { web: v1, old: v1 }
target: { web: v2, old: none, fresh: v1 }
",
    );
    let (run, out) = export(&dir, &scenario, &["--strategy", "batch"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let script = std::fs::read_to_string(out.join("rollout-batch.sh")).expect("written");
    let scaled: Vec<&str> = script
        .lines()
        .filter_map(|line| line.strip_prefix("kubectl scale deployment/"))
        .collect();
    // Both new versions up first; then web v1 (the caller) down before old, which it
    // calls: no old caller outlives what it calls.
    assert_eq!(
        scaled,
        [
            "fresh-v1 --replicas=1",
            "web-v2 --replicas=1",
            "web-v1 --replicas=0",
            "old-v1 --replicas=0",
        ]
    );
}

/// `simulate load` against `web` with `token`: its exit code and JSON report.
fn load_against(
    scenario: &str,
    web: std::net::SocketAddr,
    token: &str,
) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args([
            "load", scenario, "--for-ms", "500", "--expect", "graceful", "--json", "-",
        ])
        .arg("--target")
        .arg(format!("web={web}"))
        .env("DEPLOYSIM_TOKEN", token)
        .output()
        .expect("simulate load runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn load_to_replicas_of_other_processes_is_counted_at_the_caller_and_judged() {
    let dir = TempDir::new("serve-load");
    let scenario = write(&dir, "served.yaml", SCENARIO);
    let mut db = Served::start(&scenario, "db", &[]);
    let web = Served::start(&scenario, "web", &[("db", db.addr)]);
    // 100 rps for 0.5 s: about 50 entry requests, each counted once, all answered.
    let (code, report) = load_against(&scenario, web.addr, TOKEN);
    assert_eq!(code, 0, "{report}");
    let sent = report["requests"]["sent"].as_u64().expect("a count");
    assert_eq!(report["scheduled"].as_u64(), Some(sent));
    assert!((45..=55).contains(&sent), "{report}");
    assert_eq!(report["requests"]["ok"].as_u64(), Some(sent), "{report}");
    assert_eq!(report["verdict"], "pass");
    // Another run's token: web refuses every request, and the caller counts each.
    let (code, report) = load_against(&scenario, web.addr, "another-run");
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["requests"]["failed"], report["requests"]["sent"]);
    assert_eq!(report["causes"][0]["code"], "UNAUTHENTICATED", "{report}");
    // db killed: web's calls to it fail UNAVAILABLE, and so does every request, counted
    // here though a process died.
    db.signal("KILL");
    assert_eq!(db.exit_within(Duration::from_secs(5)), Some(-1));
    let (code, report) = load_against(&scenario, web.addr, TOKEN);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["verdict"], "fail");
    assert_eq!(report["causes"][0]["edge"], "web -> db api v1", "{report}");
    assert_eq!(report["causes"][0]["code"], "UNAVAILABLE", "{report}");
}
