//! A shard's part of `simulate risk` (pure): the run's own settings beside the common
//! part ([`crate::shard`]), and each trial's draw and outcomes as its record.

use super::Trial;
use crate::shard;

/// What a risk part says it is.
pub const FORMAT: &str = "deploysim-risk-part";

/// What a risk run asks besides the scenario, the seed and the trial count.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// The strategies asked with `--strategy` (empty: the scenario's `risk.strategies`).
    pub strategies: Vec<String>,
    /// `sim` or `live`.
    pub net: String,
}

/// A shard's part of a risk run.
pub type Part = shard::Part<Settings, Trial>;

impl shard::Record for Trial {
    fn trial(&self) -> u32 {
        self.draw.trial
    }
}

/// Every risk part in `text`.
pub fn read(source: &str, text: &str) -> Result<Vec<Part>, String> {
    shard::read(FORMAT, source, text)
}
