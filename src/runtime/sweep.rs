//! `simulate sweep`, live: the initial versions under load with each service (or pair)
//! missing for the whole baseline, each row on fresh servers.

use std::sync::Arc;

use crate::check::sweep::Missing;
use crate::model::Scenario;
use crate::record::result::SweepRow;
use crate::runtime::cluster::StartError;
use crate::runtime::run::{Options, Progress, run};

/// A live sweep runs at most this many rows (each on fresh servers, for the baseline
/// time): a bound on its run time.
pub const MAX_ROWS: usize = 1_000;

/// The rows a sweep runs: the reference row (nothing missing), then one per deployed
/// service, and with `pairs` one per pair.
pub fn rows(scenario: &Scenario, missing: Missing) -> usize {
    let deployed = scenario.initial.0.len();
    let pair_rows = if missing == Missing::Pairs {
        deployed * deployed.saturating_sub(1) / 2
    } else {
        0
    };
    1 + deployed + pair_rows
}

/// `simulate sweep`: the initial deployment under load for `load.baseline_ms`, first with
/// nothing missing (the reference the single points of failure are judged against), then
/// once per deployed service with that service missing for the whole time (and, with
/// `pairs`, once per pair of services). Each row runs on fresh servers, like a strategy.
pub async fn sweep(
    scenario: Arc<Scenario>,
    missing: Missing,
    options: &Options,
    progress: Option<&dyn Progress>,
) -> Result<Vec<SweepRow>, StartError> {
    let deployed: Vec<String> = scenario.initial.0.keys().cloned().collect();
    let mut sets: Vec<Vec<String>> = vec![Vec::new()];
    sets.extend(deployed.iter().map(|s| vec![s.clone()]));
    if missing == Missing::Pairs {
        for (i, a) in deployed.iter().enumerate() {
            for b in &deployed[i + 1..] {
                sets.push(vec![a.clone(), b.clone()]);
            }
        }
    }
    let mut rows = Vec::new();
    for missing in sets {
        if options.interrupt.is_set() {
            break;
        }
        // Missing means never started: the services are left out of the initial
        // deployment, so not one request meets them (a `missing` fault at the first
        // moment would start them and then undeploy them).
        let mut variant = (*scenario).clone();
        variant.gate = None;
        variant.faults = Vec::new();
        for service in &missing {
            variant.initial.0.remove(service);
        }
        let name = if missing.is_empty() {
            "nothing missing".to_owned()
        } else {
            format!("missing {}", missing.join(" + "))
        };
        // The baseline alone: nothing is rolled out.
        let (strategy, plan) = crate::plan::baseline_only(&name);
        let run = run(Arc::new(variant), &strategy, &plan, options, progress).await?;
        rows.push(SweepRow { missing, run });
    }
    Ok(rows)
}
