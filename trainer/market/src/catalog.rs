//! The data catalog: which symbols exist and where their bars come from.
