//! The data fingerprint: a SHA-256 over a series' bars that names the data a job trained on.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::BarSeries;

/// The data fingerprint: lowercase hex SHA-256 over the bars.
///
/// Hashed, all little-endian: the tag `skippy-bars-v1`, the bar count (u64), one byte each
/// saying whether trade counts and taker-buy volume are present, then per bar the time (i64)
/// and open, high, low, close, volume (and trades, taker-buy volume when present) as f64 bits
/// (with -0 as +0). The symbol name is not hashed: the same bars give the same fingerprint.
pub fn fingerprint(series: &BarSeries) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"skippy-bars-v1");
    hasher.update((series.ts_ms.len() as u64).to_le_bytes());
    hasher.update([u8::from(series.trades.is_some()), u8::from(series.taker_buy_volume.is_some())]);
    let value = |column: &[f64], i: usize| {
        let v = column.get(i).copied().unwrap_or(0.0) + 0.0;
        v.to_bits().to_le_bytes()
    };
    for (i, ts) in series.ts_ms.iter().enumerate() {
        hasher.update(ts.to_le_bytes());
        for column in [&series.open, &series.high, &series.low, &series.close, &series.volume] {
            hasher.update(value(column, i));
        }
        for column in [&series.trades, &series.taker_buy_volume].into_iter().flatten() {
            hasher.update(value(column, i));
        }
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}
