//! The scenario's load sent to replicas of other processes (`simulate load`): the same
//! open-loop generator as a run in one process, over links to the addresses given,
//! carrying the run's token, counted here, at the caller, so a replica's death loses no
//! count. One step (the baseline) of the duration asked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;

use crate::contract::CLIENT;
use crate::model::Scenario;
use crate::record::tally::Tally;
use crate::record::{Lag, Part, Recorder};
use crate::runtime::flags::FlagBoard;
use crate::runtime::load::{self, Entry, Load};
use crate::runtime::pool::{Link, Pool};

/// What the load measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Every entry request answered, refused or given up, with causes and latency.
    pub total: Tally,
    /// Whether this machine kept up with the load (see `Lag::kept_up`).
    pub lag: Lag,
    /// Entry requests scheduled: the sum of `total`'s.
    pub scheduled: u64,
}

/// Sends `scenario`'s load to the entrypoints at `targets` for `duration`, from `seed`.
pub async fn load(
    scenario: &Scenario,
    targets: &BTreeMap<String, Vec<SocketAddr>>,
    token: &AsciiMetadataValue,
    seed: u64,
    duration: Duration,
) -> Measured {
    let recorder = Arc::new(Recorder::new());
    recorder.begin(0, Part::Settled);
    let entries: Vec<Entry> = scenario
        .entrypoints()
        .map(|service| {
            let addrs = targets.get(&service.name).map_or(&[][..], Vec::as_slice);
            let pool = Arc::new(Pool::at(&service.name, addrs));
            Entry {
                service: service.name.clone(),
                api: scenario.entry_api(&service.name),
                link: Arc::new(Link::new(CLIENT, pool, seed).with_token(token.clone())),
                rps: scenario.load.rps_of(&service.name),
                mix: scenario.load.mix_of(&service.name),
            }
        })
        .collect();
    let context = load::Context {
        recorder: Arc::clone(&recorder),
        flags: Arc::new(FlagBoard::new(scenario.initial_flags())),
        seed,
    };
    let generator = Load::start(entries, scenario.load.max_in_flight, &context);
    tokio::time::sleep(duration).await;
    let scheduled = generator.finish(load::ENTRY_DEADLINE).await;
    Measured {
        total: recorder.total(0),
        lag: recorder.lag(0),
        scheduled,
    }
}
