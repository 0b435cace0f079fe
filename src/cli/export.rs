//! `simulate export job SCENARIO`: a sharded risk run as a Kubernetes Indexed Job.

use deploysim::output::Place;
use deploysim::risk::job::JobSpec;

use super::args::{ExportJobArgs, ExportKubernetesArgs, ExportWhat};
use super::{exit, output};

pub(super) fn run(what: &ExportWhat) -> u8 {
    match what {
        ExportWhat::Job(args) => job(args),
        ExportWhat::Kubernetes(args) => kubernetes(args),
    }
}

fn kubernetes(args: &ExportKubernetesArgs) -> u8 {
    let (scenario, text) = match super::load_with_text(&args.scenario) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let strategies = match deploysim::plan::select(&scenario, &args.strategies) {
        Ok(strategies) => strategies,
        Err(err) => {
            output::error(&err.to_string());
            return exit::INVALID;
        }
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let fleet = deploysim::kube::Fleet {
        scenario: &scenario,
        text: &text,
        image: &args.image,
        load_ms: args.load_ms,
    };
    let problems = fleet.problems();
    if !problems.is_empty() {
        for problem in &problems {
            output::error(&format!("{}: {problem}", args.scenario.display()));
        }
        output::error("rename them in the scenario: nothing was written");
        return exit::INVALID;
    }
    if let Err(message) = output::make_out_dir(&args.out) {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    let mut files: Vec<(String, String)> = fleet.manifests();
    let manifests = files.len();
    let mut code = exit::OK;
    for strategy in &strategies {
        match deploysim::plan::plan(&scenario, strategy, seed) {
            Ok(plan) => files.push((format!("rollout-{}.sh", strategy.name), fleet.script(&plan))),
            Err(err) => {
                output::error(&format!(
                    "strategy {}: cannot be planned: {}",
                    strategy.name,
                    deploysim::report::plan_error_text(&err)
                ));
                if strategy.listed {
                    code = exit::FAILED;
                }
            }
        }
    }
    let mut said = String::new();
    for (file, content) in &files {
        if let Err(message) = output::write_in(&args.out.join(file), content, Place::InDir) {
            output::error(&message);
            return exit::ENVIRONMENT;
        }
        said.push_str(&format!("wrote {}\n", args.out.join(file).display()));
    }
    let scripts = files.len() - manifests;
    if scripts == 0 {
        said.push_str("no strategy could be planned, so no rollout script was written\n");
    } else {
        said.push_str(&format!(
            "nothing was applied; read a rollout script, then run it: bash {}\n",
            args.out.join("rollout-STRATEGY.sh").display()
        ));
    }
    if let Err(message) = output::print_out(&said) {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    code
}

fn job(args: &ExportJobArgs) -> u8 {
    let (scenario, text) = match super::load_with_text(&args.scenario) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if scenario.changes().is_empty() && scenario.releases().is_empty() {
        output::error(&format!(
            "{}: simulate risk compares rollouts, and this scenario rolls nothing out",
            args.scenario.display()
        ));
        return exit::INVALID;
    }
    // The strategies are checked here, so that no pod fails on a misspelt name.
    if let Err(err) = deploysim::risk::policy::compared(&scenario, &args.strategies) {
        output::error(&err.to_string());
        return exit::INVALID;
    }
    let spec = JobSpec {
        name: &scenario.name,
        text: &text,
        shards: args.shards,
        trials: args.trials.unwrap_or(scenario.risk.trials),
        seed: args.seed.unwrap_or(scenario.seed),
        image: &args.image,
        strategies: &args.strategies,
    };
    if let Err(message) = output::make_out_dir(&args.out) {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    for (file, yaml) in spec.manifests() {
        if let Err(message) = output::write_in(&args.out.join(file), &yaml, Place::InDir) {
            output::error(&message);
            return exit::ENVIRONMENT;
        }
    }
    let dir = args.out.display().to_string();
    let mut text = format!(
        "wrote {} and {}: {} shards of {} trials (seed {}), image {}\n\
         run them, gather the parts and merge them:\n",
        args.out.join("configmap.yaml").display(),
        args.out.join("job.yaml").display(),
        spec.shards,
        spec.trials,
        spec.seed,
        spec.image
    );
    for command in spec.commands(&dir) {
        text.push_str(&format!("  {command}\n"));
    }
    text.push_str(&format!(
        "the merged report names the scenario {} (its path in the pods)\n",
        deploysim::risk::job::MOUNTED
    ));
    match output::print_out(&text) {
        Ok(()) => exit::OK,
        Err(message) => {
            output::error(&message);
            exit::ENVIRONMENT
        }
    }
}
