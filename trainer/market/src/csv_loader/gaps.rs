//! Holes in a series' bar grid, reported in [`LoadReport::gaps`](crate::LoadReport::gaps) rather
//! than refused.

use crate::{BarSeries, Gap};

/// Holes in the bar grid: consecutive bars further apart than [`BarSeries::interval_ms`].
pub fn find_gaps(series: &BarSeries) -> Vec<Gap> {
    let Some(interval) = series.interval_ms().filter(|&i| i > 0) else {
        return Vec::new();
    };
    series
        .ts_ms
        .windows(2)
        .filter_map(|w| match w {
            [after, before] if before.saturating_sub(*after) > interval => Some(Gap {
                after_ms: *after,
                before_ms: *before,
                missing_bars: (before.saturating_sub(*after) - 1) / interval,
            }),
            _ => None,
        })
        .collect()
}
