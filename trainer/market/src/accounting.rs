//! Exact accounting of a position over a price move, shared by the trading environment and the
//! synthetic markets' informed policies so that both are priced the same way.
//!
//! An equity holding `position` (a fraction of the equity, negative for a short) over a move
//! from price `a` to `b` grows by `1 + position · (b / a − 1)`: a short over a move of log
//! return `x` grows by `2 − eˣ`, not `e⁻ˣ`. A trade pays its cost on the whole equity
//! (`1 − cost · |Δposition|`). A step's log return is the log of the product of its factors;
//! a product at or below [`WIPED_OUT`] has lost the equity.

/// A growth factor at or below this has lost the equity (its log, about −20.7, is the floor of
/// a step's log return).
pub const WIPED_OUT: f64 = 1e-9;

/// Growth factor of an equity holding `position` over a move whose price ratio is `ratio`
/// (`b / a`): `1 + position · (ratio − 1)`, never below 0 (a short cannot lose more than the
/// equity).
#[inline]
pub fn position_growth(position: f64, ratio: f64) -> f64 {
    (1.0 + position * (ratio - 1.0)).max(0.0)
}

/// Growth factor of an equity that pays `cost` per unit of position changed: `1 − cost · |Δ|`.
#[inline]
pub fn cost_growth(cost: f64, change: f64) -> f64 {
    (1.0 - cost * change.abs()).max(0.0)
}

/// The log return of a step's growth factor: `ln(growth)`, or `ln(WIPED_OUT)` for a step that
/// lost the equity.
#[inline]
pub fn log_growth(growth: f64) -> f64 {
    growth.max(WIPED_OUT).ln()
}

/// Whether a step's log return (from [`log_growth`]) lost the equity.
#[inline]
pub fn is_wiped_out(log_return: f64) -> bool {
    log_return <= WIPED_OUT.ln()
}
