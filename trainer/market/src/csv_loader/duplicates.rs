//! Rows of one file that share a time: exact copies dropped, differing ones refused or one of
//! them kept, as the [`DuplicatePolicy`] says.

use std::collections::HashMap;

use super::DuplicatePolicy;
use super::error::ConflictingTime;
use super::row::Row;

/// A file's rows with one per time.
pub(super) struct Resolved {
    /// One row per time, in the order of each time's first line.
    pub(super) unique: Vec<Row>,
    /// Rows dropped as exact copies of the row kept.
    pub(super) dropped: usize,
    /// Rows dropped for differing from the row kept.
    pub(super) resolved: usize,
}

/// Reduces rows that share a time to one, as the [`csv_loader`](super) docs say: the kept row takes the
/// place (and the line, for messages about order) of its time's first row. Under
/// [`DuplicatePolicy::Refuse`], the times whose rows differ are the error.
pub(super) fn resolve_duplicates(rows: Vec<Row>, policy: DuplicatePolicy) -> Result<Resolved, Vec<ConflictingTime>> {
    let mut slot_of: HashMap<i64, usize> = HashMap::with_capacity(rows.len());
    let mut unique: Vec<Row> = Vec::with_capacity(rows.len());
    // Later rows of a time already seen, with the slot of its first row, in line order.
    let mut repeats: Vec<(usize, Row)> = Vec::new();
    for row in rows {
        match slot_of.get(&row.ts_ms) {
            Some(&slot) => repeats.push((slot, row)),
            None => {
                slot_of.insert(row.ts_ms, unique.len());
                unique.push(row);
            }
        }
    }
    // Stable: each slot's repeats stay in line order.
    repeats.sort_by_key(|&(slot, _)| slot);
    let (mut dropped, mut resolved) = (0, 0);
    let mut conflicts = Vec::new();
    for group in repeats.chunk_by(|a, b| a.0 == b.0) {
        let Some(&(slot, _)) = group.first() else { continue };
        let Some(&first) = unique.get(slot) else { continue };
        let kept = match (policy, group.last()) {
            (DuplicatePolicy::KeepLast, Some((_, last))) => Row { line: first.line, ..*last },
            _ => first,
        };
        let rows = std::iter::once(&first).chain(group.iter().map(|(_, row)| row));
        let differing = rows.filter(|row| !row.same_bar(&kept)).count();
        if policy == DuplicatePolicy::Refuse && differing > 0 {
            let lines = std::iter::once(first.line).chain(group.iter().map(|(_, row)| row.line)).collect();
            conflicts.push(ConflictingTime { ts_ms: first.ts_ms, lines });
            continue;
        }
        dropped += group.len() - differing;
        resolved += differing;
        if let Some(place) = unique.get_mut(slot) {
            *place = kept;
        }
    }
    if conflicts.is_empty() { Ok(Resolved { unique, dropped, resolved }) } else { Err(conflicts) }
}
