//! Several loads of one symbol joined into one series: the parts checked to be of one symbol and
//! one interval, bars that several parts hold kept once or resolved by the [`DuplicatePolicy`],
//! the parts' reports summed.

use super::DuplicatePolicy;
use super::error::LoadError;
use super::fingerprint::fingerprint;
use super::gaps::find_gaps;
use super::row::{Row, series_of};
use crate::{BarSeries, LoadReport};

/// Joins several loads of one symbol (files covering different, possibly overlapping, time
/// ranges) into one series ordered by time. Bars present in several parts that agree exactly
/// are kept once (counted in `duplicates_dropped`); disagreeing bars are an error. Trade
/// counts and taker-buy volume are kept only when every part has them.
pub fn merge(parts: Vec<(BarSeries, LoadReport)>) -> Result<(BarSeries, LoadReport), LoadError> {
    merge_with(parts, DuplicatePolicy::Refuse)
}

/// [`merge`] with bars that parts disagree about handled by `on_duplicate`: refused, or the
/// bar of the first or the last part that has the time kept (the others counted in
/// `duplicates_resolved`). The parts' order is the merge order.
pub fn merge_with(
    parts: Vec<(BarSeries, LoadReport)>,
    on_duplicate: DuplicatePolicy,
) -> Result<(BarSeries, LoadReport), LoadError> {
    let Some((first, first_report)) = parts.first() else {
        return Err(LoadError::NothingToMerge);
    };
    let first_interval = parts.iter().find_map(|(s, r)| s.interval_ms().map(|i| (i, r)));
    for (series, report) in &parts {
        if series.symbol != first.symbol {
            return Err(LoadError::MixedSymbols {
                first_file: first_report.files.join(", "),
                first_symbol: first.symbol.clone(),
                second_file: report.files.join(", "),
                second_symbol: series.symbol.clone(),
            });
        }
        if let (Some((want, want_report)), Some(interval)) = (first_interval, series.interval_ms())
            && interval != want
        {
            return Err(LoadError::IntervalMismatch {
                first_file: want_report.files.join(", "),
                first_interval_ms: want,
                second_file: report.files.join(", "),
                second_interval_ms: interval,
            });
        }
    }
    let has_trades = parts.iter().all(|(s, _)| s.trades.is_some());
    let has_taker = parts.iter().all(|(s, _)| s.taker_buy_volume.is_some());

    // Every bar as (time, part, index), ordered by time then by part.
    let mut order: Vec<(i64, usize, usize)> = parts
        .iter()
        .enumerate()
        .flat_map(|(p, (s, _))| s.ts_ms.iter().enumerate().map(move |(i, &t)| (t, p, i)))
        .collect();
    order.sort_unstable();

    let bar = |p: usize, i: usize| -> Option<Row> {
        let (s, _) = parts.get(p)?;
        Some(Row {
            line: 0,
            ts_ms: *s.ts_ms.get(i)?,
            open: *s.open.get(i)?,
            high: *s.high.get(i)?,
            low: *s.low.get(i)?,
            close: *s.close.get(i)?,
            volume: *s.volume.get(i)?,
            trades: if has_trades { s.trades.as_ref().and_then(|v| v.get(i).copied()) } else { None },
            taker_buy: if has_taker { s.taker_buy_volume.as_ref().and_then(|v| v.get(i).copied()) } else { None },
        })
    };
    let files_of = |p: usize| parts.get(p).map(|(_, r)| r.files.join(", ")).unwrap_or_default();

    let mut kept: Vec<Row> = Vec::with_capacity(order.len());
    let (mut overlap_dropped, mut overlap_resolved) = (0, 0);
    // Under `Refuse`: the first disagreement (its parts and time), and how many more.
    let mut disagreement: Option<(usize, usize, i64)> = None;
    let mut more_disagreements = 0;
    // Each time's bars, from every part that has it, in part order.
    for same_time in order.chunk_by(|a, b| a.0 == b.0) {
        if let &[(_, p, i)] = same_time {
            kept.extend(bar(p, i));
            continue;
        }
        let rows: Vec<(usize, Row)> = same_time.iter().filter_map(|&(_, p, i)| Some((p, bar(p, i)?))).collect();
        let (Some(&(first_part, first_row)), Some(&(_, last_row))) = (rows.first(), rows.last()) else {
            continue;
        };
        let chosen = if on_duplicate == DuplicatePolicy::KeepLast { last_row } else { first_row };
        let differing = rows.iter().filter(|(_, row)| !row.same_bar(&chosen)).count();
        if on_duplicate == DuplicatePolicy::Refuse && differing > 0 {
            match disagreement {
                None => {
                    let other = rows.iter().find(|(_, row)| !row.same_bar(&first_row)).map_or(first_part, |&(p, _)| p);
                    disagreement = Some((first_part, other, first_row.ts_ms));
                }
                Some(_) => more_disagreements += 1,
            }
            continue;
        }
        overlap_dropped += rows.len() - 1 - differing;
        overlap_resolved += differing;
        kept.push(chosen);
    }
    if let Some((first_part, second_part, ts_ms)) = disagreement {
        return Err(LoadError::ConflictingOverlap {
            first_file: files_of(first_part),
            second_file: files_of(second_part),
            ts_ms,
            more: more_disagreements,
        });
    }

    let series = series_of(first.symbol.clone(), &kept, has_trades, has_taker);
    let report = LoadReport {
        files: parts.iter().flat_map(|(_, r)| r.files.clone()).collect(),
        rows_read: parts.iter().map(|(_, r)| r.rows_read).sum(),
        duplicates_dropped: parts.iter().map(|(_, r)| r.duplicates_dropped).sum::<usize>() + overlap_dropped,
        duplicates_resolved: parts.iter().map(|(_, r)| r.duplicates_resolved).sum::<usize>() + overlap_resolved,
        reversed: parts.iter().any(|(_, r)| r.reversed),
        gaps: find_gaps(&series),
        banner: parts.iter().find_map(|(_, r)| r.banner.clone()),
        fingerprint: fingerprint(&series),
    };
    Ok((series, report))
}
