//! Shards of `simulate risk` (pure): which trials a shard runs, the part it writes, and
//! the merge of parts into the trials one machine would have run.
//!
//! Trial i belongs to shard i mod N: every shard gets every N-th trial, so shards of one
//! run take about the same time whatever the trials cost, and a shard's trials are known
//! from its index alone. A part carries everything a merge needs and nothing it must
//! trust: the scenario's text (parsed again, so the merge needs no other file), the path
//! it was read from (the report shows it), the seed, the trial count, the strategies
//! asked, the network, the tool's version, and each trial's draw and outcomes, whose
//! numbers are integers, so the merged report's floats are computed from the same inputs
//! as one machine's, in the same order.

use std::collections::BTreeMap;

use super::Trial;

/// What a part says it is.
pub const FORMAT: &str = "deploysim-risk-part";
/// The part format's version: a merge refuses parts of another one.
pub const FORMAT_VERSION: u32 = 1;
/// The lines a part is written between on standard output, so that parts can be
/// gathered from logs that hold other lines (`kubectl logs` of every pod of a Job).
pub const BEGIN: &str = "-----BEGIN DEPLOYSIM RISK PART-----";
pub const END: &str = "-----END DEPLOYSIM RISK PART-----";

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `I/N`, with 0 <= I < N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("expected I/N (shard I of N, from 0), got `{text}`"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("expected I/N with whole numbers, got `{text}`"))
        };
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the index runs from 0 to N - 1 (JOB_COMPLETION_INDEX)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// How many of `trials` trials are this shard's.
    pub fn len(&self, trials: u32) -> u32 {
        trials.saturating_sub(self.index).div_ceil(self.count)
    }

    /// The trial number of this shard's `k`-th trial.
    pub fn trial(&self, k: u32) -> u32 {
        self.index + k * self.count
    }
}

/// A shard's part.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub format: String,
    pub format_version: u32,
    /// The version of the `simulate` that ran the shard.
    pub tool: String,
    /// The scenario's path as given to the shard (the report shows it).
    pub scenario_path: String,
    /// The scenario's text, whole.
    pub scenario: String,
    /// [`digest`] of the text, for a person comparing parts.
    pub digest: String,
    pub seed: u64,
    /// The run's trial count (all shards').
    pub trials: u32,
    /// The strategies asked with `--strategy` (empty: the scenario's `risk.strategies`).
    pub strategies: Vec<String>,
    /// `sim` or `live`.
    pub net: String,
    pub shard: Shard,
    /// The shard's trials, in trial order; fewer than its share when it was interrupted.
    pub records: Vec<Trial>,
}

impl Part {
    /// The part as written: the markers around one line of JSON.
    pub fn to_text(&self) -> String {
        let json = serde_json::to_string(self).expect("a part serializes");
        format!("{BEGIN}\n{json}\n{END}\n")
    }
}

/// FNV-1a over `text`, in hex: a digest to tell scenarios apart at a glance.
pub fn digest(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

/// Every part in `text` (a part file, or logs holding parts between their markers among
/// other lines); `source` names the text in errors.
pub fn read(source: &str, text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != BEGIN {
            continue;
        }
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != END).collect();
        let json = body.join("\n");
        let part: Part = serde_json::from_str(&json)
            .map_err(|err| format!("{source}: part {} is not a part: {err}", parts.len() + 1))?;
        parts.push(part);
    }
    if parts.is_empty() {
        return Err(format!(
            "{source}: no part in it (a part is written between `{BEGIN}` and `{END}`)"
        ));
    }
    for part in &parts {
        if part.format != FORMAT || part.format_version != FORMAT_VERSION {
            return Err(format!(
                "{source}: a part of format {} version {}, not {FORMAT} version {FORMAT_VERSION}",
                part.format, part.format_version
            ));
        }
    }
    Ok(parts)
}

/// The run the parts make up: the first part's settings, and every trial in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub scenario_path: String,
    pub scenario: String,
    pub seed: u64,
    pub trials: Vec<Trial>,
    pub strategies: Vec<String>,
    pub net: String,
}

/// Merges `parts` (each with the source it was read from): they must belong to one run
/// (the same scenario text, seed, trial count, strategies, network, shard count and
/// tool version), hold every shard once, and each shard every one of its trials.
pub fn merge(parts: Vec<(String, Part)>) -> Result<Merged, String> {
    let Some((first_source, first)) = parts.first() else {
        return Err("no part to merge".to_owned());
    };
    let mut by_shard: BTreeMap<u32, &str> = BTreeMap::new();
    for (source, part) in &parts {
        let differs = |what: &str, theirs: String, ours: String| {
            Err(format!(
                "{source} is not a part of the run of {first_source}: its {what} is {theirs}, not {ours}"
            ))
        };
        if part.scenario != first.scenario {
            return differs("scenario", part.digest.clone(), first.digest.clone());
        }
        if part.seed != first.seed {
            return differs("seed", part.seed.to_string(), first.seed.to_string());
        }
        if part.tool != first.tool {
            return differs("simulate version", part.tool.clone(), first.tool.clone());
        }
        if part.trials != first.trials {
            return differs(
                "trial count",
                part.trials.to_string(),
                first.trials.to_string(),
            );
        }
        if part.strategies != first.strategies {
            return differs(
                "strategies",
                format!("{:?}", part.strategies),
                format!("{:?}", first.strategies),
            );
        }
        if part.net != first.net {
            return differs("network", part.net.clone(), first.net.clone());
        }
        if part.shard.count != first.shard.count {
            return differs(
                "shard count",
                part.shard.count.to_string(),
                first.shard.count.to_string(),
            );
        }
        if let Some(other) = by_shard.insert(part.shard.index, source) {
            return Err(format!(
                "shard {}/{} is given twice: in {other} and in {source}",
                part.shard.index, part.shard.count
            ));
        }
        let want: Vec<u32> = (0..part.shard.len(part.trials))
            .map(|k| part.shard.trial(k))
            .collect();
        let have: Vec<u32> = part.records.iter().map(|t| t.draw.trial).collect();
        if have != want {
            return Err(format!(
                "{source}: shard {}/{} holds {} of its {} trials (interrupted, or not written by simulate): rerun it",
                part.shard.index,
                part.shard.count,
                have.len(),
                want.len()
            ));
        }
    }
    let missing: Vec<String> = (0..first.shard.count)
        .filter(|index| !by_shard.contains_key(index))
        .map(|index| format!("{index}/{}", first.shard.count))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing {} of {} shards: {}",
            missing.len(),
            first.shard.count,
            missing.join(", ")
        ));
    }
    let mut trials: Vec<Trial> = parts
        .iter()
        .flat_map(|(_, part)| part.records.iter().cloned())
        .collect();
    trials.sort_by_key(|trial| trial.draw.trial);
    Ok(Merged {
        scenario_path: first.scenario_path.clone(),
        scenario: first.scenario.clone(),
        seed: first.seed,
        trials,
        strategies: first.strategies.clone(),
        net: first.net.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::{Draw, Outcome};

    fn part(index: u32, count: u32, trials: u32) -> Part {
        let shard = Shard { index, count };
        Part {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            tool: "0.1.0".to_owned(),
            scenario_path: "scenarios/risk.yaml".to_owned(),
            scenario: "name: x\n".to_owned(),
            digest: digest("name: x\n"),
            seed: 7,
            trials,
            strategies: Vec::new(),
            net: "sim".to_owned(),
            shard,
            records: (0..shard.len(trials))
                .map(|k| Trial {
                    draw: Draw {
                        trial: shard.trial(k),
                        defects: [("api".to_owned(), crate::risk::DefectKind::Latency)].into(),
                    },
                    outcomes: vec![Outcome {
                        failed: k % 2 == 0,
                        failed_requests: u64::from(k) * 3,
                        degraded_requests: 1,
                        time_to_detect_ms: Some(250),
                        time_to_restore_ms: None,
                        rolled_back: 1,
                        collateral: 0,
                        entrypoints_failed: 1,
                        suspects: Some(2),
                        escaped: 0,
                        lead_time_ms: None,
                        judged: true,
                    }],
                })
                .collect(),
        }
    }

    fn named(parts: Vec<Part>) -> Vec<(String, Part)> {
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("part-{i}"), p))
            .collect()
    }

    #[test]
    fn shards_take_every_nth_trial_and_together_every_trial_once() {
        for count in [1, 2, 3, 7] {
            let mut all: Vec<u32> = (0..count)
                .flat_map(|index| {
                    let shard = Shard { index, count };
                    (0..shard.len(10)).map(move |k| shard.trial(k))
                })
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..10).collect::<Vec<_>>(), "{count} shards");
        }
        assert_eq!(Shard::parse("2/7"), Ok(Shard { index: 2, count: 7 }));
        assert!(Shard::parse("7/7").is_err());
        assert!(Shard::parse("1").is_err());
    }

    #[test]
    fn a_part_reads_back_as_written_from_among_other_log_lines() {
        let written = part(1, 3, 10);
        let logs = format!("starting\n{}some other line\n", written.to_text());
        assert_eq!(read("logs", &logs), Ok(vec![written]));
        assert!(
            read("empty", "nothing here")
                .unwrap_err()
                .contains("no part")
        );
    }

    #[test]
    fn the_merge_puts_every_trial_back_in_order() {
        let merged = merge(named(vec![part(2, 3, 10), part(0, 3, 10), part(1, 3, 10)]))
            .expect("a whole run");
        let order: Vec<u32> = merged.trials.iter().map(|t| t.draw.trial).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn the_merge_names_a_missing_duplicated_foreign_or_short_part() {
        let missing = merge(named(vec![part(0, 3, 10), part(2, 3, 10)])).unwrap_err();
        assert!(missing.contains("missing 1 of 3 shards: 1/3"), "{missing}");
        let twice = merge(named(vec![part(0, 2, 10), part(0, 2, 10), part(1, 2, 10)])).unwrap_err();
        assert!(
            twice.contains("shard 0/2 is given twice: in part-0 and in part-1"),
            "{twice}"
        );
        let mut other = part(1, 2, 10);
        other.scenario = "name: y\n".to_owned();
        other.digest = digest(&other.scenario);
        let foreign = merge(named(vec![part(0, 2, 10), other])).unwrap_err();
        assert!(
            foreign.contains("part-1 is not a part of the run of part-0: its scenario"),
            "{foreign}"
        );
        let mut seeded = part(1, 2, 10);
        seeded.seed = 8;
        assert!(
            merge(named(vec![part(0, 2, 10), seeded]))
                .unwrap_err()
                .contains("its seed is 8, not 7")
        );
        let mut newer = part(1, 2, 10);
        newer.tool = "0.2.0".to_owned();
        assert!(
            merge(named(vec![part(0, 2, 10), newer]))
                .unwrap_err()
                .contains("simulate version")
        );
        let mut short = part(1, 2, 10);
        short.records.pop();
        assert!(
            merge(named(vec![part(0, 2, 10), short]))
                .unwrap_err()
                .contains("holds 4 of its 5 trials")
        );
    }
}
