//! Reads OHLCV bars from CSV files as people have them, and validates them.
