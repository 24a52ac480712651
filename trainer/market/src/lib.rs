//! Market data for skippy-train: everything a training job reads about a market.
//!
//! # Layout
//! - [`accounting`]: the exact growth of a position over a price move, and of a trade's cost.
//! - [`bars`]: the in-memory bar series ([`BarSeries`]) every other module works on.
//! - [`csv_loader`]: reads OHLCV CSV files as people have them and validates them.
//! - [`catalog`]: maps symbol names (`BTC`, `ETH`) to data files in a data directory,
//!   with the shipped sample bars as the default catalog.
//! - [`synthetic`]: seeded synthetic markets with a planted, known edge (and one without).
//! - [`features`]: turns bars into causal feature matrices (`price`, `microstructure`).

pub mod accounting;
pub mod bars;
pub mod catalog;
pub mod csv_loader;
pub mod features;
pub mod synthetic;

pub use bars::{BarSeries, Gap, LoadReport};
pub use csv_loader::DuplicatePolicy;
