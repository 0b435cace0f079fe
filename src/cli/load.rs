//! `simulate load SCENARIO --target SERVICE=HOST:PORT...`: the scenario's load to
//! replicas of other processes, counted here.

use std::time::Duration;

use deploysim::record::StepKind;
use deploysim::report;
use deploysim::verdict::Verdict;

use super::args::{ExpectWhat, LoadArgs};
use super::{exit, output, serve};

pub(super) fn run(args: &LoadArgs) -> u8 {
    let (scenario, _) = match super::load_with_text(&args.scenario) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if let Err(code) = output::check_json_target(args.json.as_deref(), &args.scenario) {
        return code;
    }
    let missing: Vec<&str> = scenario
        .entrypoints()
        .map(|service| service.name.as_str())
        .filter(|name| !args.targets.iter().any(|(target, _)| target == name))
        .collect();
    if !missing.is_empty() {
        output::error(&format!(
            "every entrypoint needs a --target SERVICE=HOST:PORT; none for {}",
            missing.join(", ")
        ));
        return exit::INVALID;
    }
    if let Some((stray, _)) = args
        .targets
        .iter()
        .find(|(target, _)| !scenario.entrypoints().any(|s| &s.name == target))
    {
        output::error(&format!(
            "--target {stray}=...: {stray} is no entrypoint of the scenario (load is sent to entrypoints)"
        ));
        return exit::INVALID;
    }
    let token = match serve::token(args.token_file.as_deref()) {
        Ok(token) => token,
        Err(message) => {
            output::error(&message);
            return exit::INVALID;
        }
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let duration = args
        .for_ms
        .map_or(scenario.load.baseline, Duration::from_millis)
        .max(Duration::from_millis(1));
    let runtime = match super::runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let measured = runtime.block_on(async {
        let targets = serve::resolve(&args.targets).await?;
        Ok::<_, String>(
            deploysim::runtime::remote::load(&scenario, &targets, &token, seed, duration).await,
        )
    });
    let measured = match measured {
        Ok(measured) => measured,
        Err(message) => {
            output::error(&message);
            return exit::ENVIRONMENT;
        }
    };
    let mut expect = scenario.expect.clone();
    if expect.is_empty() && args.expect.expect == Some(ExpectWhat::Graceful) {
        expect.graceful = Some(true);
    }
    let failed_steps = if measured.total.failed > 0 {
        vec![StepKind::Baseline]
    } else {
        Vec::new()
    };
    let judged = deploysim::record::expect::judge(&expect, &measured.total, &failed_steps);
    if let Err(code) = output::emit(
        args.json.as_deref(),
        || report::load::text(&scenario, seed, duration.as_secs_f64(), &measured, &judged),
        || {
            report::load::json(
                &scenario,
                seed,
                u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                &measured,
                &judged,
            )
        },
    ) {
        return code;
    }
    match report::load::verdict(&measured, &judged) {
        Verdict::Fail(_) => exit::FAILED,
        Verdict::Inconclusive(_) => exit::INCONCLUSIVE,
        _ => exit::OK,
    }
}
