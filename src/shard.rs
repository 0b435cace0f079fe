//! Shards of a run of trials (pure): which trials a shard runs, the part it writes, and
//! the merge of parts into the trials one machine would have run. `simulate risk` and
//! `simulate availability --trials` shard alike (`risk::part`, `avail::part`).
//!
//! Trial i belongs to shard i mod N: every shard gets every N-th trial, so shards of one
//! run take about the same time whatever the trials cost, and a shard's trials are known
//! from its index alone. A part carries everything a merge needs: the scenario's text
//! (parsed again, so the merge needs no other file), the path
//! it was read from (the report shows it), the seed, the trial count, the run's own
//! settings, the tool's version, and each trial's record, whose numbers are integers, so
//! the merged report's floats are computed from the same inputs as one machine's, in the
//! same order. A part is checked for its shape (its shard, its trial numbers, its digest,
//! records that fit the run), not for its counts, which only running the trial again
//! could check: merge parts you made.

use std::collections::BTreeMap;

/// The part format's version: a merge refuses parts of another one.
pub const FORMAT_VERSION: u32 = 1;

/// The most trials a run (and so a part) may have: the commands' own bound.
pub const MAX_TRIALS: u32 = 1_000_000;

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

    /// The whole run as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// How many of `trials` trials are this shard's.
    pub fn len(&self, trials: u32) -> u32 {
        trials.saturating_sub(self.index).div_ceil(self.count)
    }

    /// The trial number of this shard's `k`-th trial.
    pub fn trial(&self, k: u32) -> u32 {
        self.index + k * self.count
    }
}

/// A record of one trial, as a part holds it.
pub trait Record {
    /// Its trial number.
    fn trial(&self) -> u32;
}

/// A shard's part: what is common to every kind of run, the run's own `settings`, and
/// the shard's `records`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Part<S, R> {
    /// `deploysim-risk-part`, `deploysim-availability-part`.
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
    pub shard: Shard,
    pub settings: S,
    /// The shard's trials, in trial order; fewer than its share when it was interrupted.
    pub records: Vec<R>,
}

/// The lines a part of `kind` (`RISK`, `AVAILABILITY`) is written between on standard
/// output, so that parts can be gathered from logs that hold other lines (`kubectl logs`
/// of every pod of a Job).
pub fn markers(kind: &str) -> (String, String) {
    (
        format!("-----BEGIN DEPLOYSIM {kind} PART-----"),
        format!("-----END DEPLOYSIM {kind} PART-----"),
    )
}

/// The kind a part's format names.
fn kind_of(format: &str) -> String {
    format
        .trim_start_matches("deploysim-")
        .trim_end_matches("-part")
        .to_uppercase()
}

impl<S, R> Part<S, R> {
    /// Shard `shard`'s part of `format`, of the scenario read from `path` as `text`, run
    /// by this `simulate`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        format: &str,
        path: &str,
        text: String,
        seed: u64,
        trials: u32,
        shard: Shard,
        settings: S,
        records: Vec<R>,
    ) -> Part<S, R> {
        Part {
            format: format.to_owned(),
            format_version: FORMAT_VERSION,
            tool: env!("CARGO_PKG_VERSION").to_owned(),
            scenario_path: path.to_owned(),
            digest: digest(&text),
            scenario: text,
            seed,
            trials,
            shard,
            settings,
            records,
        }
    }
}

impl<S: serde::Serialize, R: serde::Serialize> Part<S, R> {
    /// The part as written: its markers around one line of JSON.
    pub fn to_text(&self) -> String {
        let (begin, end) = markers(&kind_of(&self.format));
        let json = serde_json::to_string(self).expect("a part serializes");
        format!("{begin}\n{json}\n{end}\n")
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

/// The kinds of the parts in `text`, in order (`RISK`, `AVAILABILITY`).
pub fn kinds(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("-----BEGIN DEPLOYSIM ")?
                .strip_suffix(" PART-----")
                .map(str::to_owned)
        })
        .collect()
}

/// Every part of `format` in `text` (a part file, or logs holding parts between their
/// markers among other lines); `source` names the text in errors.
pub fn read<S, R>(format: &str, source: &str, text: &str) -> Result<Vec<Part<S, R>>, String>
where
    S: serde::de::DeserializeOwned,
    R: serde::de::DeserializeOwned,
{
    let (begin, end) = markers(&kind_of(format));
    let mut parts = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != begin {
            continue;
        }
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != end).collect();
        let part: Part<S, R> = serde_json::from_str(&body.join("\n"))
            .map_err(|err| format!("{source}: part {} is not a part: {err}", parts.len() + 1))?;
        if part.format != format || part.format_version != FORMAT_VERSION {
            return Err(format!(
                "{source}: a part of format {} version {}, not {format} version {FORMAT_VERSION}",
                part.format, part.format_version
            ));
        }
        // A part is checked for its shape, not believed: a hand-edited one is refused
        // where it no longer adds up (its counts themselves cannot be checked).
        let shard = part.shard;
        if shard.count == 0 || shard.index >= shard.count {
            return Err(format!(
                "{source}: shard {}/{} is out of range (I runs from 0 to N - 1)",
                shard.index, shard.count
            ));
        }
        if part.trials > MAX_TRIALS {
            return Err(format!(
                "{source}: {} trials, more than the {MAX_TRIALS} a run may have",
                part.trials
            ));
        }
        if digest(&part.scenario) != part.digest {
            return Err(format!(
                "{source}: its scenario's text does not match its digest {} (edited?)",
                part.digest
            ));
        }
        parts.push(part);
    }
    if parts.is_empty() {
        return Err(format!(
            "{source}: no part in it (a part is written between `{begin}` and `{end}`)"
        ));
    }
    Ok(parts)
}

/// The run the parts make up: the first part's settings, and every trial in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged<S, R> {
    pub scenario_path: String,
    pub scenario: String,
    pub seed: u64,
    pub trials: u32,
    pub settings: S,
    pub records: Vec<R>,
}

/// Merges `parts` (each with the source it was read from): they must belong to one run
/// (the same scenario text, seed, trial count, settings, shard count and tool version),
/// hold every shard once, and each shard every one of its trials.
pub fn merge<S, R>(parts: Vec<(String, Part<S, R>)>) -> Result<Merged<S, R>, String>
where
    S: PartialEq + serde::Serialize + Clone,
    R: Record + Clone,
{
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
        if part.settings != first.settings {
            let json = |settings: &S| serde_json::to_string(settings).unwrap_or_default();
            return differs("settings", json(&part.settings), json(&first.settings));
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
        let shard = part.shard;
        let want = shard.len(part.trials) as usize;
        if part.records.len() != want {
            return Err(format!(
                "{source}: shard {}/{} holds {} of its {want} trials (interrupted?): rerun it",
                shard.index,
                shard.count,
                part.records.len()
            ));
        }
        if let Some((k, record)) = part
            .records
            .iter()
            .enumerate()
            .find(|(k, record)| record.trial() != shard.trial(*k as u32))
        {
            return Err(format!(
                "{source}: its record {} is of trial {}, where shard {}/{} has trial {} (edited?)",
                k + 1,
                record.trial(),
                shard.index,
                shard.count,
                shard.trial(k as u32)
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
    let mut records: Vec<R> = parts
        .iter()
        .flat_map(|(_, part)| part.records.iter().cloned())
        .collect();
    records.sort_by_key(Record::trial);
    Ok(Merged {
        scenario_path: first.scenario_path.clone(),
        scenario: first.scenario.clone(),
        seed: first.seed,
        trials: first.trials,
        settings: first.settings.clone(),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Counted {
        trial: u32,
        failed: u64,
    }

    impl Record for Counted {
        fn trial(&self) -> u32 {
            self.trial
        }
    }

    const FORMAT: &str = "deploysim-test-part";

    fn part(index: u32, count: u32, trials: u32) -> Part<Vec<String>, Counted> {
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
            shard,
            settings: vec!["batch".to_owned()],
            records: (0..shard.len(trials))
                .map(|k| Counted {
                    trial: shard.trial(k),
                    failed: u64::from(k) * 3,
                })
                .collect(),
        }
    }

    fn named(parts: Vec<Part<Vec<String>, Counted>>) -> Vec<(String, Part<Vec<String>, Counted>)> {
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
        assert_eq!(kinds(&logs), vec!["TEST".to_owned()]);
        assert_eq!(read(FORMAT, "logs", &logs), Ok(vec![written]));
        let none: Result<Vec<Part<Vec<String>, Counted>>, String> =
            read(FORMAT, "empty", "nothing here");
        assert!(none.unwrap_err().contains("no part"));
    }

    #[test]
    fn a_part_out_of_range_or_edited_is_refused_when_read() {
        let read_one = |part: &Part<Vec<String>, Counted>| {
            read::<Vec<String>, Counted>(FORMAT, "p", &part.to_text()).map(|_| ())
        };
        let mut beyond = part(1, 2, 10);
        beyond.shard.index = 3;
        assert!(
            read_one(&beyond)
                .unwrap_err()
                .contains("shard 3/2 is out of range")
        );
        let mut none = part(0, 1, 10);
        none.shard.count = 0;
        assert!(read_one(&none).unwrap_err().contains("out of range"));
        let mut huge = part(0, 1, 10);
        huge.trials = u32::MAX;
        assert!(read_one(&huge).unwrap_err().contains("more than the"));
        let mut edited = part(0, 1, 10);
        edited.scenario.push_str("seed: 3\n");
        assert!(
            read_one(&edited)
                .unwrap_err()
                .contains("does not match its digest")
        );
        let mut renumbered = part(1, 2, 10);
        renumbered.records[2].trial = 4;
        let merged = merge(named(vec![part(0, 2, 10), renumbered])).unwrap_err();
        assert!(
            merged.contains("its record 3 is of trial 4, where shard 1/2 has trial 5"),
            "{merged}"
        );
    }

    #[test]
    fn the_merge_puts_every_trial_back_in_order() {
        let merged = merge(named(vec![part(2, 3, 10), part(0, 3, 10), part(1, 3, 10)]))
            .expect("a whole run");
        let order: Vec<u32> = merged.records.iter().map(|t| t.trial).collect();
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
        let mut asked = part(1, 2, 10);
        asked.settings = vec!["single-piece".to_owned()];
        assert!(
            merge(named(vec![part(0, 2, 10), asked]))
                .unwrap_err()
                .contains("its settings")
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
