//! Hostile input: inputs read within their bound whatever they are (a FIFO, a device, a
//! link to one, standard input), names YAML would misread, secrets kept out of imported
//! files, links planted where reports are written, and requests from outside a run.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use crate::support::{TempDir, root, simulate};

/// What a child process did, with its peak resident memory as /proc saw it.
struct Watched {
    code: Option<i32>,
    stderr: String,
    stdout: String,
    /// The largest VmHWM (peak resident set) read while it ran, in KiB.
    peak_kib: u64,
}

/// Runs `command` to its end, at most `limit` (then kills it and fails), reading its peak
/// memory from /proc every millisecond.
fn watch(mut command: Command, limit: Duration) -> Watched {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let status_file = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak_kib = 0;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(line) = status.lines().find(|line| line.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}: it reads without a bound");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let output = child.wait_with_output().expect("output");
    Watched {
        code: status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        peak_kib,
    }
}

fn simulate_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_simulate"));
    command
        .args(args)
        .current_dir(root())
        .env_remove("RUST_BACKTRACE");
    command
}

/// A Service and the Deployment behind it.
const MANIFEST: &str = "\
apiVersion: v1
kind: Service
metadata: { name: cart }
spec: { selector: { app: cart }, ports: [ { port: 80 } ] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: cart }
spec:
  template:
    metadata: { labels: { app: cart } }
    spec: { containers: [ { name: cart, image: shop/cart:v1 } ] }
";

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils) runs");
    assert!(made.success(), "mkfifo {}", path.display());
}

#[test]
fn import_reads_a_fifo_fed_forever_only_up_to_its_bound() {
    let dir = TempDir::new("hostile-fifo");
    let fifo = dir.path().join("endless.yaml");
    mkfifo(&fifo);
    // A writer that would feed the FIFO 512 MiB of zeros; it stops when the reader goes.
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .expect("the FIFO opens once the reader does");
        let chunk = vec![0u8; 1024 * 1024];
        let mut written = 0usize;
        while written < 512 * 1024 * 1024 {
            match pipe.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    });
    let run = watch(
        simulate_command(&["import", &fifo.to_string_lossy()]),
        Duration::from_secs(60),
    );
    let written = writer.join().expect("the writer ends");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("larger than the 8 MiB limit"),
        "{}",
        run.stderr
    );
    assert!(
        written < 16 * 1024 * 1024,
        "the reader took {written} bytes before it stopped: more than its bound"
    );
    assert!(
        run.peak_kib < 96 * 1024,
        "peak memory {} KiB reading a FIFO bounded at 8 MiB",
        run.peak_kib
    );
}

#[test]
fn import_refuses_dev_zero_at_its_bound() {
    let run = watch(
        simulate_command(&["import", "/dev/zero"]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("/dev/zero: it is larger than the 8 MiB limit"),
        "{}",
        run.stderr
    );
    assert!(run.peak_kib < 96 * 1024, "peak memory {} KiB", run.peak_kib);
}

#[cfg(unix)]
#[test]
fn import_skips_what_is_not_a_regular_file_in_a_directory_and_says_so() {
    let dir = TempDir::new("hostile-dir");
    std::fs::write(dir.path().join("cart.yaml"), MANIFEST).expect("write");
    // A FIFO nobody writes would hang a reader forever; a link to /dev/zero never ends.
    mkfifo(&dir.path().join("stuck.yaml"));
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.yml")).expect("link");
    let run = watch(
        simulate_command(&["import", &dir.path().to_string_lossy()]),
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for name in ["stuck.yaml", "zero.yml"] {
        assert!(
            run.stderr
                .lines()
                .any(|line| line.contains(name) && line.contains("skipped: not a regular file")),
            "{name} not said to be skipped: {}",
            run.stderr
        );
    }
    assert!(run.stdout.contains("  cart:"), "{}", run.stdout);
}

#[test]
fn import_reads_standard_input_and_process_substitution() {
    let mut command = simulate_command(&["import", "-", "--name", "shop"]);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(MANIFEST.as_bytes())
        .expect("written");
    let output = child.wait_with_output().expect("ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("name: shop") && stdout.contains("  cart:"),
        "{stdout}"
    );

    let dir = TempDir::new("hostile-substitution");
    let file = dir.path().join("cart.yaml");
    std::fs::write(&file, MANIFEST).expect("write");
    let output = Command::new("bash")
        .args([
            "-c",
            "\"$0\" import <(cat \"$1\")",
            env!("CARGO_BIN_EXE_simulate"),
            &file.to_string_lossy(),
        ])
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("  cart:"));
}

/// Words YAML reads as something other than the text they spell.
const SPECIAL_WORDS: [&str; 16] = [
    "null", "Null", "NULL", "true", "false", "True", "yes", "no", "on", "off", "y", "n", "123",
    "1e3", "0x1f", "1.0",
];

#[test]
fn import_quotes_every_name_and_version_yaml_would_misread() {
    let mut manifests = String::new();
    let mut calls = Vec::new();
    for (i, word) in SPECIAL_WORDS.iter().enumerate() {
        let service = word.to_ascii_lowercase().replace('.', "-");
        calls.push(format!(
            "{{ name: CALL_{i}_ADDR, value: \"{service}:80\" }}"
        ));
        // The Service's name, its image tag and (behind a second Service) the version
        // labels of two workloads are each the word.
        manifests.push_str(&format!(
            "---\nkind: Service\nmetadata: {{ name: \"{service}\" }}\nspec: {{ selector: {{ app: \"{service}\" }} }}\n\
             ---\nkind: Deployment\nmetadata: {{ name: \"{service}\" }}\nspec:\n  template:\n    metadata: {{ labels: {{ app: \"{service}\" }} }}\n    spec: {{ containers: [ {{ name: c, image: \"shop/x:{word}\" }} ] }}\n\
             ---\nkind: Service\nmetadata: {{ name: labelled-{i} }}\nspec: {{ selector: {{ app: labelled-{i} }} }}\n\
             ---\nkind: Deployment\nmetadata: {{ name: labelled-{i}-a }}\nspec:\n  template:\n    metadata: {{ labels: {{ app: labelled-{i}, version: \"{word}\" }} }}\n    spec: {{ containers: [ {{ name: c, image: shop/l:v1 }} ] }}\n\
             ---\nkind: Deployment\nmetadata: {{ name: labelled-{i}-b }}\nspec:\n  template:\n    metadata: {{ labels: {{ app: labelled-{i}, version: v2 }} }}\n    spec: {{ containers: [ {{ name: c, image: shop/l:v1 }} ] }}\n"
        ));
    }
    manifests.push_str(&format!(
        "---\nkind: Service\nmetadata: {{ name: front }}\nspec: {{ type: LoadBalancer, selector: {{ app: front }} }}\n\
         ---\nkind: Deployment\nmetadata: {{ name: front }}\nspec:\n  template:\n    metadata: {{ labels: {{ app: front }} }}\n    spec: {{ containers: [ {{ name: c, image: shop/front:v1, env: [ {} ] }} ] }}\n",
        calls.join(", ")
    ));
    let dir = TempDir::new("hostile-words");
    let file = dir.path().join("words.yaml");
    std::fs::write(&file, &manifests).expect("write");
    let out = dir.path().join("scenario.yaml");
    let run = simulate(&[
        "import",
        &file.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let scenario = deploysim::scenario::load(&out).expect("the written scenario loads");
    for word in SPECIAL_WORDS {
        let service = word.to_ascii_lowercase().replace('.', "-");
        assert!(
            scenario.services.contains_key(&service),
            "service {service} missing"
        );
        let front = &scenario.services["front"].versions["v1"];
        assert!(
            front.calls.iter().any(|call| call.service == service),
            "front's call to {service} missing"
        );
    }
    assert!(
        scenario.services["null"].versions.contains_key("null"),
        "the image tag null is the version null"
    );
    assert!(
        scenario.services["labelled-0"]
            .versions
            .contains_key("null")
    );
}

/// Secrets in the forms a manifest carries them, each next to a host that is a Service.
const SECRETS: [(&str, &str); 18] = [
    ("DB_URL", "postgres://admin:S3CR3T-01@db:5432/app"),
    ("DB_URL", "http://db:80/path?user=admin&password=S3CR3T-02"),
    ("DB_URL", "http://db/?api_key=S3CR3T-03"),
    ("DB_ADDR", "admin:S3CR3T-04@db:5432"),
    (
        "DB_URL",
        "jdbc:postgresql://db:5432/app;user=admin;password=S3CR3T-05",
    ),
    ("DB_DSN", "host=db port=5432 user=admin password=S3CR3T-06"),
    ("DB_ADDR", "db:6379?token=S3CR3T-07"),
    ("DB_HOST", "db:80 Authorization: Basic S3CR3T-08"),
    (
        "DB_URL",
        "mongodb://user:S3CR3T-09@db:27017/?authSource=admin",
    ),
    ("DB_URL", "redis://:S3CR3T-10@db:6379/0"),
    ("DB_URL", "amqp://guest:S3CR3T-11@db:5672/"),
    ("DB_URL", "https://db:443/callback#access_token=S3CR3T-12"),
    ("DB_ADDR", "db:80,secret=S3CR3T-13"),
    ("DATABASE_URL", "mysql://root:S3CR3T-14@db/app"),
    (
        "DB_SERVER",
        "db.default.svc.cluster.local:5432;Password=S3CR3T-15",
    ),
    ("DB_URL", "db:5432 --password=S3CR3T-16"),
    ("ARGS", "--db=db:5432 --password=S3CR3T-17"),
    ("COMMAND", "PGPASSWORD=S3CR3T-18 psql -h db:5432"),
];

#[test]
fn import_writes_where_a_call_was_read_and_never_the_value() {
    let env: Vec<String> = SECRETS
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| !matches!(*name, "ARGS" | "COMMAND"))
        .map(|(i, (name, value))| format!("{{ name: {name}_{i}, value: \"{value}\" }}"))
        .collect();
    let manifests = format!(
        "kind: Service\nmetadata: {{ name: db }}\nspec: {{ selector: {{ app: db }} }}\n\
         ---\nkind: Deployment\nmetadata: {{ name: db }}\nspec:\n  template:\n    metadata: {{ labels: {{ app: db }} }}\n    spec: {{ containers: [ {{ name: c, image: db:v1 }} ] }}\n\
         ---\nkind: Service\nmetadata: {{ name: app }}\nspec: {{ type: LoadBalancer, selector: {{ app: app }} }}\n\
         ---\nkind: Deployment\nmetadata: {{ name: app }}\nspec:\n  template:\n    metadata: {{ labels: {{ app: app }} }}\n    spec:\n      containers:\n        - name: c\n          image: app:v1\n          env: [ {} ]\n          args: [ \"{}\" ]\n          command: [ \"sh\", \"-c\", \"{}\" ]\n",
        env.join(", "),
        SECRETS[16].1,
        SECRETS[17].1
    );
    let dir = TempDir::new("hostile-secrets");
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, &manifests).expect("write");
    let run = simulate(&["import", &file.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("- { service: db }"), "{}", run.stdout);
    assert!(run.stdout.contains("names db"), "{}", run.stdout);
    for (i, _) in SECRETS.iter().enumerate() {
        let secret = format!("S3CR3T-{:02}", i + 1);
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "{secret} leaked:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
}

#[cfg(unix)]
#[test]
fn links_planted_in_the_out_directory_are_replaced_not_followed() {
    let dir = TempDir::new("hostile-links");
    let victims: Vec<std::path::PathBuf> = (0..3)
        .map(|i| {
            let victim = dir.path().join(format!("victim-{i}.txt"));
            std::fs::write(&victim, "precious").expect("write");
            victim
        })
        .collect();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    for (name, victim) in ["report.md", "report.html", ".simulate-write-probe"]
        .iter()
        .zip(&victims)
    {
        std::os::unix::fs::symlink(victim, out.join(name)).expect("link");
    }
    let run = simulate(&[
        "risk",
        "scenarios/risk.yaml",
        "--trials",
        "2",
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for victim in &victims {
        assert_eq!(
            std::fs::read_to_string(victim).expect("read"),
            "precious",
            "{} was written through a planted link",
            victim.display()
        );
    }
    for name in ["report.md", "report.html"] {
        let meta = std::fs::symlink_metadata(out.join(name)).expect("written");
        assert!(meta.is_file(), "{name} is a file of its own now");
    }
}

#[cfg(unix)]
#[test]
fn a_json_file_the_user_links_is_written_through_and_the_scenario_is_never_overwritten() {
    let dir = TempDir::new("hostile-json");
    let scenario = dir.path().join("partial.yaml");
    let text = std::fs::read_to_string(root().join("scenarios/partial.yaml")).expect("read");
    std::fs::write(&scenario, &text).expect("write");
    let scenario_arg = scenario.to_string_lossy().into_owned();
    // --json naming the scenario (directly, or through a link) is refused before
    // anything runs, and the scenario stays as it was.
    let link = dir.path().join("alias.json");
    std::os::unix::fs::symlink(&scenario, &link).expect("link");
    for json in [scenario_arg.clone(), link.to_string_lossy().into_owned()] {
        let run = simulate(&["plan", &scenario_arg, "--json", &json]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("that is the scenario being read"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&scenario).expect("read"), text);
    // A link the user names on purpose is written through.
    let target = dir.path().join("plan.json");
    std::fs::write(&target, "old").expect("write");
    let chosen = dir.path().join("chosen.json");
    std::os::unix::fs::symlink(&target, &chosen).expect("link");
    let run = simulate(&["plan", &scenario_arg, "--json", &chosen.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        std::fs::read_to_string(&target)
            .expect("read")
            .contains("\"strategies\"")
    );
    // import --out naming its own input is refused.
    let manifest = dir.path().join("cart.yaml");
    std::fs::write(&manifest, MANIFEST).expect("write");
    let path = manifest.to_string_lossy().into_owned();
    let run = simulate(&["import", &path, "--out", &path]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("that is an input"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&manifest).expect("read"), MANIFEST);
}

#[test]
fn a_stray_request_naming_a_far_step_is_refused_and_counted() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // A run of three steps: a request naming step 4,000,000,000 did not come from it.
        let recorder = std::sync::Arc::new(deploysim::record::Recorder::for_steps(3));
        let behaviour = deploysim::runtime::replica::Behaviour {
            service: "web".to_owned(),
            version: "v1".to_owned(),
            replica: 1,
            provides: vec!["v1".to_owned()],
            methods: vec![deploysim::runtime::replica::Work {
                method: None,
                latency: Duration::ZERO,
                error_rate: 0.0,
                calls: Vec::new(),
            }],
            received: recorder.traffic.service("web"),
            recorder: std::sync::Arc::clone(&recorder),
            error_draws: std::sync::Mutex::new(deploysim::seed::rng(1, "test")),
            tie_draws: std::sync::Mutex::new(deploysim::seed::rng(1, "ties")),
            token: None,
            background: std::sync::Mutex::new(tokio::task::JoinSet::new()),
            trouble: std::sync::Arc::new(deploysim::runtime::trouble::Trouble::new(
                deploysim::seed::rng(1, "faults"),
            )),
            workers: None,
        };
        let replica = deploysim::runtime::replica::Replica::start(behaviour)
            .await
            .expect("binds 127.0.0.1");
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", replica.addr))
            .expect("an address is a URI")
            .connect()
            .await
            .expect("the replica serves");
        let mut grpc = tonic::client::Grpc::new(channel);
        for step in [4_000_000_000u32, 1] {
            grpc.ready().await.expect("ready");
            let path = deploysim::contract::method_path("web", "v1", None)
                .parse()
                .expect("a gRPC path");
            let request = deploysim::contract::CallRequest {
                step,
                ..Default::default()
            };
            grpc.unary(
                tonic::Request::new(request),
                path,
                tonic_prost::ProstCodec::<
                    deploysim::contract::CallRequest,
                    deploysim::contract::CallReply,
                >::default(),
            )
            .await
            .expect("the replica answers");
        }
        assert_eq!(
            recorder.traffic.stray(),
            1,
            "the far step is refused and counted"
        );
        assert_eq!(
            recorder.traffic.step(1).received["web"],
            1,
            "a request naming one of the run's steps still counts (until callers authenticate)"
        );
        replica.kill();
    });
}

/// A scenario with hostile text, written to a file of its own.
fn scenario_file(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path.to_string_lossy().into_owned()
}

#[test]
fn text_from_the_file_reaches_the_terminal_escaped_and_cut() {
    let dir = TempDir::new("hostile-text");
    // An OSC 52 sequence in a key would write to the clipboard of the user's terminal.
    let osc = "\u{1b}]52;c;aGFja2Vk\u{7}";
    let path = scenario_file(
        &dir,
        "osc.yaml",
        &format!(
            "name: osc\nservices:\n  web: {{ entrypoint: true, \"{osc}\": 1, versions: {{ v1: {{}} }} }}\ninitial: {{ web: v1 }}\n"
        ),
    );
    let run = simulate(&["plan", &path]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "a raw escape reached the terminal"
    );
    assert!(
        !run.stderr.contains('\u{7}'),
        "a raw bell reached the terminal"
    );
    assert!(run.stderr.contains("\\u{1b}]52;c;"), "{}", run.stderr);
    // A megabyte of value is not echoed whole.
    let huge = "x".repeat(1024 * 1024);
    let path = scenario_file(
        &dir,
        "huge.yaml",
        &format!(
            "name: huge\nservices:\n  web: {{ entrypoint: true, replicas: {huge}, versions: {{ v1: {{}} }} }}\ninitial: {{ web: v1 }}\n"
        ),
    );
    let run = simulate(&["plan", &path]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("expected a whole number"),
        "{}",
        &run.stderr[..200]
    );
    assert!(
        run.stderr.len() < 4096,
        "{} bytes of error",
        run.stderr.len()
    );
}

#[test]
fn a_number_out_of_range_and_a_large_document_are_named_for_what_they_are() {
    let dir = TempDir::new("hostile-numbers");
    let path = scenario_file(
        &dir,
        "seed.yaml",
        "name: s\nseed: 18446744073709551616\nservices:\n  web: { entrypoint: true, versions: { v1: {} } }\ninitial: { web: v1 }\n",
    );
    let run = simulate(&["plan", &path]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "18446744073709551616 is out of range: must be from 0 to 18446744073709551615"
        ),
        "{}",
        run.stderr
    );
    // Two million and one nodes, no alias: not an alias bomb.
    let items = vec!["0"; 2_000_001].join(",");
    let path = scenario_file(&dir, "big.yaml", &format!("name: big\nlist: [{items}]\n"));
    let run = simulate(&["plan", &path]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("more than 2000000 nodes"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("alias"), "{}", run.stderr);
}

#[test]
fn the_risk_summary_quotes_a_hostile_path_for_the_shell_and_for_markdown() {
    let dir = TempDir::new("hostile-path");
    let text = std::fs::read_to_string(root().join("scenarios/risk.yaml")).expect("read");
    let path = scenario_file(&dir, "my `risk` $(touch x).yaml", &text);
    let out = dir.path().join("out");
    let run = simulate(&[
        "risk",
        &path,
        "--trials",
        "2",
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let markdown = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    let quoted = format!("simulate '{path}' --trial N");
    assert!(
        markdown.contains(&format!("``{quoted}")),
        "the command, shell-quoted, in a code span a backtick cannot close:\n{markdown}"
    );
}
