//! Out-of-sample evaluation: metrics of a position series, bootstrap intervals, plots.
