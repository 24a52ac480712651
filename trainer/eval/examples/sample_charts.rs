//! Writes two sample charts (an equity curve and a learning curve) as SVG into
//! the directory given as the only argument, to look at the chart style:
//! `cargo run -p skippy-eval --example sample_charts -- /tmp/charts`.

use skippy_eval::{Series, equity_curve, line_chart_svg};

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let bars = 5_000;
    let market: Vec<f64> = (0..bars).map(|i| 0.0001 + 0.01 * (i as f64 * 0.31).sin()).collect();
    let strategy: Vec<f64> =
        (0..bars).map(|i| 0.0004 + 0.01 * (i as f64 * 0.7).sin() * (i as f64 * 0.013).cos()).collect();
    let days: Vec<f64> = (0..=bars).map(|i| i as f64 / 24.0).collect();
    let equity = line_chart_svg(
        "BTC test bars: equity",
        "days",
        "equity (start = 1)",
        &days,
        &[Series::new("PPO strategy", equity_curve(&strategy)), Series::new("buy & hold", equity_curve(&market))],
    );
    std::fs::write(dir.join("equity.svg"), equity)?;

    let steps: Vec<f64> = (1..=200).map(|i| i as f64 * 5_000.0).collect();
    let reward: Vec<f64> = steps.iter().map(|s| 1.0 - (-s / 2e5).exp()).collect();
    let loss: Vec<f64> = steps.iter().map(|s| 0.5 * (-s / 3e5).exp()).collect();
    let learning = line_chart_svg(
        "learning curve",
        "env steps",
        "value",
        &steps,
        &[Series::new("mean episode reward", reward), Series::new("value loss", loss)],
    );
    std::fs::write(dir.join("learning.svg"), learning)
}
