//! A shard's part of `simulate availability --trials` (pure): the question beside the
//! common part ([`crate::shard`]), and for each trial number its counts at every level.

use super::{Amount, TrialCounts, Unit};
use crate::shard;

/// What an availability part says it is.
pub const FORMAT: &str = "deploysim-availability-part";

/// The question a sharded availability run asks, as the command line resolved it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub levels: Vec<Amount>,
    pub unit: Unit,
    pub spared: Vec<String>,
    pub degraded_lost: bool,
    /// The deployment: the target's, or the one after step N of a strategy, else the
    /// initial one.
    pub target: bool,
    pub after: Option<(String, usize)>,
    pub budget: f64,
    pub samples: u32,
}

/// Trial i's counts at every level (in [`Settings::levels`] order).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LevelsTrial {
    pub trial: u32,
    pub levels: Vec<TrialCounts>,
}

impl shard::Record for LevelsTrial {
    fn trial(&self) -> u32 {
        self.trial
    }
}

/// A shard's part of an availability run.
pub type Part = shard::Part<Settings, LevelsTrial>;

/// Every availability part in `text`.
pub fn read(source: &str, text: &str) -> Result<Vec<Part>, String> {
    shard::read(FORMAT, source, text)
}
