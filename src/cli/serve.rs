//! `simulate serve SCENARIO --service S --version V`: one replica as its own process,
//! until SIGTERM (a drain) or Ctrl-C.

use std::collections::BTreeMap;
use std::sync::Arc;

use deploysim::runtime::cluster::DRAIN_LIMIT;
use deploysim::runtime::serve::{self, Spec};

use super::args::ServeArgs;
use super::{exit, output};

/// The environment variable the run's token is read from without --token-file.
const TOKEN_ENV: &str = "DEPLOYSIM_TOKEN";

pub(super) fn run(args: &ServeArgs) -> u8 {
    let loaded = if args.child {
        framed_scenario()
    } else {
        super::load_with_text(&args.scenario).map(|(scenario, _)| scenario)
    };
    let scenario = match loaded {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let Some(service) = scenario.services.get(&args.service) else {
        output::error(&format!(
            "--service {}: the scenario has no such service (its services: {})",
            args.service,
            scenario
                .services
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return exit::INVALID;
    };
    if !service.versions.contains_key(&args.version) {
        output::error(&format!(
            "--version {}: {} has no such version (its versions: {})",
            args.version,
            args.service,
            service
                .versions
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return exit::INVALID;
    }
    let called: std::collections::BTreeSet<&str> = service.versions[&args.version]
        .every_call()
        .map(|call| call.service.as_str())
        .collect();
    if let Some((unknown, _)) = args
        .callees
        .iter()
        .find(|(callee, _)| !called.contains(callee.as_str()))
    {
        output::error(&format!(
            "--callee {unknown}=...: {} {} calls no service {unknown} (it calls: {})",
            args.service,
            args.version,
            if called.is_empty() {
                "none".to_owned()
            } else {
                called.iter().copied().collect::<Vec<_>>().join(", ")
            }
        ));
        return exit::INVALID;
    }
    let token = match token(args.token_file.as_deref()) {
        Ok(token) => token,
        Err(message) => {
            output::error(&message);
            return exit::INVALID;
        }
    };
    let runtime = match super::runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let callees = match runtime.block_on(resolve(&args.callees)) {
        Ok(callees) => callees,
        Err(message) => {
            output::error(&message);
            return exit::ENVIRONMENT;
        }
    };
    let spec = Spec {
        seed: args.seed.unwrap_or(scenario.seed),
        scenario: Arc::new(scenario),
        service: args.service.clone(),
        version: args.version.clone(),
        addr: args.addr,
        callees,
        token,
        replica: args.replica,
        child: match (args.child, args.id, args.steps, args.counters) {
            (true, Some(id), Some(steps), Some(counters)) => Some(serve::Child {
                id,
                steps: usize::try_from(steps).unwrap_or(usize::MAX),
                counters: usize::try_from(counters).unwrap_or(usize::MAX),
            }),
            _ => None,
        },
    };
    runtime.block_on(serve_until_signal(spec))
}

/// A child's scenario: a line with its length in bytes, then the text, on standard
/// input, which stays open after it (the child's lifeline, watched by [`lifeline`]).
fn framed_scenario() -> Result<deploysim::model::Scenario, u8> {
    use std::io::{BufRead as _, Read as _};
    let path = std::path::Path::new(deploysim::scenario::input::STDIN_NAME);
    let mut stdin = std::io::stdin().lock();
    let mut header = String::new();
    let read = stdin.read_line(&mut header).map_err(|err| err.to_string());
    let length = read.and_then(|_| {
        header
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|length| *length <= deploysim::scenario::input::MAX_FILE_BYTES)
            .ok_or_else(|| format!("expected the scenario's length, found {:?}", header.trim()))
    });
    let text = length.and_then(|length| {
        let mut bytes = Vec::new();
        stdin
            .take(length)
            .read_to_end(&mut bytes)
            .map_err(|err| err.to_string())?;
        if bytes.len() as u64 != length {
            return Err(format!(
                "the scenario ended after {} of its {length} bytes",
                bytes.len()
            ));
        }
        String::from_utf8(bytes).map_err(|err| err.to_string())
    });
    let text = text.map_err(|message| {
        output::error(&format!("--child: {message}"));
        exit::INVALID
    })?;
    deploysim::scenario::parse_str(&text, path).map_err(|err| {
        output::report_error(&err);
        exit::INVALID
    })
}

/// Ends when standard input ends: the parent of a child has gone (however it ended,
/// the system closed the pipe). Read on a thread of its own, as a blocking read on
/// the runtime's would hold up its end.
fn lifeline() -> tokio::sync::oneshot::Receiver<()> {
    let (ended, end) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = ended.send(());
    });
    end
}

/// Each callee's addresses: an IP as written, a name resolved now to every address it
/// has (a Kubernetes Service's cluster IP, or a headless Service's pods).
pub(super) async fn resolve(
    callees: &[(String, String)],
) -> Result<BTreeMap<String, Vec<std::net::SocketAddr>>, String> {
    let mut resolved: BTreeMap<String, Vec<std::net::SocketAddr>> = BTreeMap::new();
    for (callee, host) in callees {
        let addrs = tokio::net::lookup_host(host.as_str())
            .await
            .map_err(|err| format!("{callee}={host}: cannot resolve it: {err}"))?;
        resolved.entry(callee.clone()).or_default().extend(addrs);
    }
    Ok(resolved)
}

async fn serve_until_signal(spec: Spec) -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    // Signals are watched before the replica listens, so one sent as soon as it says
    // it serves is never missed.
    let (Ok(mut term), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        output::error("cannot watch for SIGTERM and SIGINT");
        return exit::ENVIRONMENT;
    };
    let serving = match serve::start(&spec).await {
        Ok(serving) => serving,
        Err(err) => {
            output::error(&deploysim::report::start_error_text(&err));
            return exit::ENVIRONMENT;
        }
    };
    let said = format!(
        "serving {} {} on {}\n",
        spec.service, spec.version, serving.addr
    );
    if let Err(message) = output::print_out(&said) {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    let child = spec.child.is_some();
    let parent_gone = async {
        if child {
            let _ = lifeline().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    // A child ignores Ctrl-C: it shares its parent's process group, so a terminal's
    // SIGINT reaches it too, and dying then would fail the requests of the step the
    // parent is still measuring. Its parent ends it (or its lifeline does).
    let interrupted = async {
        if child {
            std::future::pending::<()>().await;
        }
        let _ = interrupt.recv().await;
    };
    // Biased, as every select of the crate: SIGTERM first when both came at once.
    let code = tokio::select! {
        biased;
        _ = term.recv() => exit::OK,
        () = interrupted => exit::INTERRUPTED,
        () = parent_gone => exit::INTERRUPTED,
    };
    // A child's parent took it out of rotation and waited for its callers' drains
    // before SIGTERM: no notice is needed. A parent gone leaves nobody to wait for.
    let notice = if child {
        std::time::Duration::ZERO
    } else {
        serve::NOTICE
    };
    let recorder = std::sync::Arc::clone(&serving.recorder);
    serving.drain(notice, DRAIN_LIMIT).await;
    if child {
        // Everything counted since the parent's last take, the calls the drain cut
        // included (the server and its behaviour are gone now), for the parent that
        // reads this line after its SIGTERM.
        let last = serde_json::to_string(&recorder.traffic.take()).unwrap_or_default();
        let line = format!("{}{last}\n", deploysim::runtime::child::FINAL_COUNTS);
        if let Err(message) = output::print_out(&line) {
            output::error(&message);
        }
    }
    code
}

/// The run's token: --token-file's first line, else $DEPLOYSIM_TOKEN; visible ASCII.
pub(super) fn token(
    token_file: Option<&std::path::Path>,
) -> Result<tonic::metadata::AsciiMetadataValue, String> {
    let text = match token_file {
        Some(path) => deploysim::scenario::input::read_text(path)
            .map_err(|err| format!("--token-file {}: {}", path.display(), err.reason))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => std::env::var(TOKEN_ENV)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    if text.is_empty() {
        return Err(format!(
            "a replica answers only its run's token: set ${TOKEN_ENV} or pass --token-file FILE"
        ));
    }
    if !text.chars().all(|c| c.is_ascii_graphic()) || text.len() > 256 {
        return Err("the token is at most 256 visible ASCII characters".to_owned());
    }
    tonic::metadata::AsciiMetadataValue::try_from(text.as_str())
        .map_err(|err| format!("the token cannot travel as gRPC metadata: {err}"))
}
