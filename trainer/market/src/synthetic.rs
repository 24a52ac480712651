//! Seeded synthetic markets: one with a planted, learnable edge, one pure random walk.

use crate::BarSeries;

/// A generated market and what the generator knows about it.
#[derive(Debug, Clone)]
pub struct SyntheticMarket {
    /// The bars.
    pub series: BarSeries,
}

/// The synthetic market for a catalog symbol name (`SYN-EDGE`, `SYN-RW`), or `None`
/// when the name is not a synthetic symbol.
pub fn generate_named(symbol: &str) -> Option<SyntheticMarket> {
    let _ = symbol;
    None
}
