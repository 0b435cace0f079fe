//! Everything the user reads: the only place where results become sentences, tables and
//! JSON. The rest of the crate returns data.
//!
//! One file per command (`plan`, `check`, `live`, `sweep`); this file holds the cells and
//! tables they share.

pub mod check;
pub mod live;
pub mod plan;
pub mod sweep;

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::Change;

/// A step's changes cell lists at most this many changes, then "(+N more)".
const MAX_CHANGES_SHOWN: usize = 4;
/// The header's lists (entrypoints, changes, unchanged services) show at most this many.
const MAX_LIST_SHOWN: usize = 12;
pub(crate) fn changes_cell(changes: &[Change], index: usize) -> String {
    if index == 0 {
        return "baseline".to_owned();
    }
    let mut shown: Vec<String> = changes
        .iter()
        .take(MAX_CHANGES_SHOWN)
        .map(ToString::to_string)
        .collect();
    if changes.len() > MAX_CHANGES_SHOWN {
        shown.push(format!("(+{} more)", changes.len() - MAX_CHANGES_SHOWN));
    }
    shown.join(", ")
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let n_columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n_columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[column]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// A comma-separated list, cut after `MAX_LIST_SHOWN` items so that a large fleet's header
/// stays readable; the JSON output always has every item.
pub(crate) fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return "none".to_owned();
    }
    let mut shown: Vec<String> = items.iter().take(MAX_LIST_SHOWN).cloned().collect();
    if items.len() > MAX_LIST_SHOWN {
        shown.push(format!("(+{} more)", items.len() - MAX_LIST_SHOWN));
    }
    shown.join(", ")
}

#[derive(Debug, Serialize)]
pub struct ChangeJson {
    pub service: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl From<&Change> for ChangeJson {
    fn from(change: &Change) -> Self {
        ChangeJson {
            service: change.service.clone(),
            from: change.from.clone(),
            to: change.to.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims_trailing_space() {
        let rows = vec![
            vec!["step".to_owned(), "changes".to_owned(), "web".to_owned()],
            vec!["10".to_owned(), "a".to_owned(), "v2*".to_owned()],
        ];
        assert_eq!(table(&rows, ""), "step  changes  web\n10    a        v2*\n");
    }
}
