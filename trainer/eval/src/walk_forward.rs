//! The statistics of a walk-forward experiment: each seed's folds stitched into one
//! out-of-sample track record, the spread of its Sharpe ratio over seeds, the seed-averaged
//! policy against buy-and-hold, the Deflated Sharpe Ratio for the configurations tried, and a
//! verdict in plain words.
//!
//! # What goes in
//! An experiment trains one policy per seed and fold (the configuration of each fold having
//! been chosen on validation only). Fold `k`'s kept model is walked over fold `k`'s test slice,
//! and the slices of the `K` folds are consecutive: stitched in time order ([`stitch`]), one
//! seed's folds are a single out-of-sample record over the last part of the history, made by
//! models that never saw the bars they traded. Buy-and-hold is stitched beside it, from the
//! same walks, on the same bars and costs (it enters at the start of each slice, as the policy
//! starts flat there).
//!
//! # What comes out ([`walk_forward_report`])
//! - Each seed's stitched Sharpe ratio, and their distribution ([`SeedSpread`]): median,
//!   quartiles, worst, best, and how many seeds beat buy-and-hold. One seed's figure is one
//!   draw; the spread says how much of it is the seed.
//! - The **seed-averaged policy**: an equal-weight portfolio of the seeds' policies (rebalanced
//!   every bar, [`crate::portfolio_returns`]), whose Sharpe difference over buy-and-hold gets
//!   the paired block-bootstrap interval of [`crate::paired_sharpe_difference`].
//! - Its **Deflated Sharpe Ratio** ([`crate::deflated_sharpe`]) for the number of
//!   configurations tried: the probability that its Sharpe ratio is not luck.
//! - A [`Verdict`]: an edge survives only if the interval of the difference over buy-and-hold
//!   lies above 0 **and** the DSR is at least [`DSR_THRESHOLD`]; otherwise the line says which
//!   test failed and by how much.

use crate::bootstrap::{Comparison, paired_sharpe_difference, sharpe_interval};
use crate::deflated_sharpe::{DeflatedSharpe, deflated_sharpe_ratio};
use crate::metrics::{EvalConfig, portfolio_returns, sharpe_ratio};
use crate::stats::quantile;

/// The Deflated Sharpe Ratio an edge must reach, besides a difference over buy-and-hold whose
/// interval excludes 0: a 95 % probability that the Sharpe ratio is not luck.
pub const DSR_THRESHOLD: f64 = 0.95;

/// One fold's test walk: the bars' times and, per bar, the policy's and buy-and-hold's net log
/// returns.
#[derive(Debug, Clone, Copy)]
pub struct FoldWalk<'a> {
    /// When each return was earned (ms since the epoch), strictly increasing.
    pub ts_ms: &'a [i64],
    /// The policy's per-bar net log returns.
    pub strategy: &'a [f64],
    /// Buy-and-hold's per-bar net log returns on the same bars and costs.
    pub buy_and_hold: &'a [f64],
}

/// One seed's folds stitched into one out-of-sample record, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRecord {
    /// When each return was earned (ms since the epoch), strictly increasing.
    pub ts_ms: Vec<i64>,
    /// The policy's per-bar net log returns.
    pub strategy: Vec<f64>,
    /// Buy-and-hold's, on the same bars.
    pub buy_and_hold: Vec<f64>,
}

impl TrackRecord {
    /// The policy's annualised Sharpe ratio over the whole record.
    pub fn sharpe(&self, bars_per_year: f64) -> f64 {
        sharpe_ratio(&self.strategy, bars_per_year)
    }

    /// Buy-and-hold's annualised Sharpe ratio over the same bars.
    pub fn buy_and_hold_sharpe(&self, bars_per_year: f64) -> f64 {
        sharpe_ratio(&self.buy_and_hold, bars_per_year)
    }
}

/// Why walks cannot be stitched or compared; each variant names the fold or seed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WalkForwardError {
    /// Nothing to stitch.
    #[error("no folds to stitch")]
    NoFolds,
    /// No seeds to summarise.
    #[error("no seeds to summarise")]
    NoSeeds,
    /// A fold without bars.
    #[error("fold {fold} has no bars")]
    EmptyFold {
        /// The fold, as given.
        fold: usize,
    },
    /// A fold's series of different lengths.
    #[error("fold {fold} has {ts} times, {strategy} policy returns and {buy_and_hold} buy-and-hold returns")]
    FoldLengths {
        /// The fold, as given.
        fold: usize,
        /// Times.
        ts: usize,
        /// Policy returns.
        strategy: usize,
        /// Buy-and-hold returns.
        buy_and_hold: usize,
    },
    /// A fold's times that do not increase.
    #[error("fold {fold}: bar {bar} at {ts_ms} ms does not follow the bar before it ({previous_ms} ms)")]
    Unordered {
        /// The fold, as given.
        fold: usize,
        /// Index of the bar within the fold.
        bar: usize,
        /// Its time.
        ts_ms: i64,
        /// The time of the bar before it.
        previous_ms: i64,
    },
    /// Two folds' test slices overlap in time: they are not walk-forward test slices.
    #[error(
        "folds {earlier} and {later} overlap: {later} starts at {starts_ms} ms, before {earlier} ends at {ends_ms} ms"
    )]
    Overlap {
        /// The fold that starts first, as given.
        earlier: usize,
        /// The fold that starts inside it.
        later: usize,
        /// Where the later one starts.
        starts_ms: i64,
        /// Where the earlier one ends.
        ends_ms: i64,
    },
    /// A record whose series have different lengths.
    #[error("seed {seed}'s record has {ts} times, {strategy} policy returns and {buy_and_hold} buy-and-hold returns")]
    RecordLengths {
        /// The seed, as given.
        seed: usize,
        /// Times.
        ts: usize,
        /// Policy returns.
        strategy: usize,
        /// Buy-and-hold returns.
        buy_and_hold: usize,
    },
    /// The paired comparison refused its series.
    #[error(transparent)]
    Comparison(#[from] crate::EvalError),
    /// Seeds whose records cover different bars cannot be averaged or compared.
    #[error(
        "seed {seed}'s track record covers other bars than seed 0's ({bars} bars against {first_bars}, \
         first differing at bar {at}); every seed must run the same folds"
    )]
    SeedsDiffer {
        /// The seed, as given.
        seed: usize,
        /// Its bars.
        bars: usize,
        /// Seed 0's bars.
        first_bars: usize,
        /// The first bar index where the times differ.
        at: usize,
    },
}

/// Stitches one seed's fold walks into one record, in time order (the folds may come in any
/// order; their slices must not overlap).
///
/// # Errors
/// [`WalkForwardError`]: no folds, an empty fold, series of different lengths, times that do not
/// increase, or two folds that overlap.
pub fn stitch(folds: &[FoldWalk<'_>]) -> Result<TrackRecord, WalkForwardError> {
    if folds.is_empty() {
        return Err(WalkForwardError::NoFolds);
    }
    for (fold, w) in folds.iter().enumerate() {
        if w.ts_ms.len() != w.strategy.len() || w.ts_ms.len() != w.buy_and_hold.len() {
            return Err(WalkForwardError::FoldLengths {
                fold,
                ts: w.ts_ms.len(),
                strategy: w.strategy.len(),
                buy_and_hold: w.buy_and_hold.len(),
            });
        }
        if w.ts_ms.is_empty() {
            return Err(WalkForwardError::EmptyFold { fold });
        }
        if let Some(bar) = (1..w.ts_ms.len()).find(|&i| w.ts_ms[i] <= w.ts_ms[i - 1]) {
            return Err(WalkForwardError::Unordered { fold, bar, ts_ms: w.ts_ms[bar], previous_ms: w.ts_ms[bar - 1] });
        }
    }
    let mut order: Vec<usize> = (0..folds.len()).collect();
    order.sort_by_key(|&k| folds[k].ts_ms[0]);
    for pair in order.windows(2) {
        let (a, b) = (&folds[pair[0]], &folds[pair[1]]);
        let (ends_ms, starts_ms) = (a.ts_ms[a.ts_ms.len() - 1], b.ts_ms[0]);
        if starts_ms <= ends_ms {
            return Err(WalkForwardError::Overlap { earlier: pair[0], later: pair[1], starts_ms, ends_ms });
        }
    }
    let bars = folds.iter().map(|w| w.ts_ms.len()).sum();
    let mut record = TrackRecord {
        ts_ms: Vec::with_capacity(bars),
        strategy: Vec::with_capacity(bars),
        buy_and_hold: Vec::with_capacity(bars),
    };
    for k in order {
        record.ts_ms.extend_from_slice(folds[k].ts_ms);
        record.strategy.extend_from_slice(folds[k].strategy);
        record.buy_and_hold.extend_from_slice(folds[k].buy_and_hold);
    }
    Ok(record)
}

/// The distribution over seeds of the stitched out-of-sample Sharpe ratio (annualised):
/// [`seed_spread`] measures it. The contract's, as the report writes it.
pub use skippy_contract::experiment::SeedSpread;

/// The spread of `sharpes` (one per seed) and how many beat their buy-and-hold's
/// (`buy_and_hold`, the same index; on shared bars all the same). No seeds give zeros.
pub fn seed_spread(sharpes: &[f64], buy_and_hold: &[f64]) -> SeedSpread {
    let mut sorted: Vec<f64> = sharpes.iter().copied().map(crate::stats::finite_input).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let beating = sharpes.iter().zip(buy_and_hold).filter(|(s, b)| s > b).count();
    SeedSpread {
        seeds: sharpes.len(),
        worst: sorted.first().copied().unwrap_or_default(),
        lower_quartile: quantile(&sorted, 0.25),
        median: quantile(&sorted, 0.5),
        upper_quartile: quantile(&sorted, 0.75),
        best: sorted.last().copied().unwrap_or_default(),
        beating_buy_and_hold: beating,
        share_beating_buy_and_hold: if sharpes.is_empty() { 0.0 } else { beating as f64 / sharpes.len() as f64 },
    }
}

/// How many configurations were tried and how their Sharpe ratios varied: what the Deflated
/// Sharpe Ratio deflates for (`Trials::ONE`: a single configuration, nothing to deflate for).
/// The contract's, as the report writes it.
pub use skippy_contract::experiment::Trials;

/// The configurations tried, from their annualised Sharpe ratios (one each) over bars of
/// `bars_per_year`: the variance is taken per period, as the deflation needs it (an annualised
/// variance divided by the bars per year; see [`crate::deflated_sharpe::sharpe_variance`]).
pub fn trials_from_annualised_sharpes(annualised_sharpes: &[f64], bars_per_year: f64) -> Trials {
    let periods = if bars_per_year.is_finite() && bars_per_year > 0.0 { bars_per_year } else { 1.0 };
    Trials {
        configurations: annualised_sharpes.len().max(1),
        sharpe_variance: crate::deflated_sharpe::sharpe_variance(annualised_sharpes) / periods,
    }
}

/// The report of a walk-forward experiment's out-of-sample record: the contract's
/// [`Stitched`], as `experiment.json` writes it.
pub use skippy_contract::experiment::Stitched;

/// The report of `records` (one stitched record per seed, all over the same bars) of an
/// experiment of `folds` folds that tried `trials`, with bootstrap settings and annualisation
/// from `cfg`. Its seeds are numbered in the order given and it has no cost sensitivity: the
/// experiment's report, which knows which seeds the records are and the costs of their walks,
/// fills in both.
///
/// # Errors
/// [`WalkForwardError::NoSeeds`], or [`WalkForwardError::SeedsDiffer`] when the records do not
/// cover the same bars.
pub fn walk_forward_report(
    records: &[TrackRecord],
    folds: usize,
    trials: Trials,
    cfg: &EvalConfig,
) -> Result<Stitched, WalkForwardError> {
    let first = records.first().ok_or(WalkForwardError::NoSeeds)?;
    for (seed, r) in records.iter().enumerate() {
        if r.strategy.len() != r.ts_ms.len() || r.buy_and_hold.len() != r.ts_ms.len() {
            return Err(WalkForwardError::RecordLengths {
                seed,
                ts: r.ts_ms.len(),
                strategy: r.strategy.len(),
                buy_and_hold: r.buy_and_hold.len(),
            });
        }
        if r.ts_ms != first.ts_ms {
            let at = r.ts_ms.iter().zip(&first.ts_ms).position(|(a, b)| a != b);
            return Err(WalkForwardError::SeedsDiffer {
                seed,
                bars: r.ts_ms.len(),
                first_bars: first.ts_ms.len(),
                at: at.unwrap_or(r.ts_ms.len().min(first.ts_ms.len())),
            });
        }
    }
    let bars_per_year = cfg.bars_per_year;
    let seed_sharpes: Vec<f64> = records.iter().map(|r| r.sharpe(bars_per_year)).collect();
    let buy_and_hold: Vec<f64> = records.iter().map(|r| r.buy_and_hold_sharpe(bars_per_year)).collect();
    let legs: Vec<&[f64]> = records.iter().map(|r| r.strategy.as_slice()).collect();
    let averaged = portfolio_returns(&legs);
    let versus_buy_and_hold = paired_sharpe_difference(&averaged, &first.buy_and_hold, cfg)?;
    let deflated = deflated_sharpe_ratio(&averaged, trials.configurations, trials.sharpe_variance);
    let verdict = verdict(&versus_buy_and_hold, &deflated, records.len(), folds);
    Ok(Stitched {
        seed_indices: (0..records.len()).collect(),
        from_ms: first.ts_ms.first().copied().unwrap_or_default(),
        to_ms: first.ts_ms.last().copied().unwrap_or_default(),
        folds,
        bars: first.ts_ms.len(),
        spread: seed_spread(&seed_sharpes, &buy_and_hold),
        seed_sharpes,
        buy_and_hold_sharpe: first.buy_and_hold_sharpe(bars_per_year),
        averaged_sharpe: sharpe_ratio(&averaged, bars_per_year),
        averaged_sharpe_ci: sharpe_interval(&averaged, cfg),
        versus_buy_and_hold,
        deflated,
        verdict,
        trials,
        cost_sensitivity: Vec::new(),
    })
}

/// Whether an edge survives, and the sentence that says so or says why not
/// (`Verdict::without_record` when there is nothing to judge). The contract's, as the report
/// writes it.
pub use skippy_contract::experiment::Verdict;

/// The verdict on a seed-averaged policy of `seeds` seeds over `folds` folds, from its
/// difference over buy-and-hold (`versus`) and its Deflated Sharpe Ratio (`deflated`, whose
/// `trials` are the configurations tried).
///
/// "Edge survives seeds, folds and N configurations" requires both tests; anything less reads
/// "no significant edge", followed by what failed. When several configurations were tried the
/// line says that each fold's configuration is the best of them on validation, a maximum over
/// several looks, and that the DSR accounts for it.
pub fn verdict(versus: &Comparison, deflated: &DeflatedSharpe, seeds: usize, folds: usize) -> Verdict {
    let n = deflated.trials;
    let plural = |count: usize, one: &str, many: &str| format!("{count} {}", if count == 1 { one } else { many });
    let configurations = plural(n, "configuration", "configurations");
    let difference = format!(
        "Sharpe difference over buy-and-hold {:+.2} [{:+.2}, {:+.2}] ({:.0}% paired bootstrap)",
        versus.difference,
        versus.interval.lo,
        versus.interval.hi,
        versus.interval.level * 100.0
    );
    let luck = format!(
        "probability that the Sharpe ratio is not luck {:.1}% (deflated Sharpe ratio {:.3}{})",
        deflated.probability * 100.0,
        deflated.probability,
        if n > 1 { format!(" for {configurations} tried") } else { String::new() }
    );
    let looks = if n > 1 {
        format!("; each fold's configuration is the best of {n} on validation, a maximum the deflation accounts for")
    } else {
        String::new()
    };
    let beats = versus.significant && versus.difference > 0.0;
    let lucky = deflated.probability < DSR_THRESHOLD;
    if beats && !lucky {
        return Verdict {
            edge: true,
            line: format!(
                "edge survives {}, {} and {configurations}: {difference}, {luck}{looks}",
                plural(seeds, "seed", "seeds"),
                plural(folds, "fold", "folds")
            ),
        };
    }
    let mut why = Vec::new();
    if !versus.significant {
        why.push(format!("the {difference} includes 0"));
    } else if versus.difference <= 0.0 {
        why.push(format!("the policy does worse than buy-and-hold: {difference}"));
    }
    if lucky {
        why.push(format!("the {luck} is below {:.0}%", DSR_THRESHOLD * 100.0));
    }
    Verdict { edge: false, line: format!("no significant edge: {}{looks}", why.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Interval;

    fn walk<'a>(ts: &'a [i64], strategy: &'a [f64], buy_and_hold: &'a [f64]) -> FoldWalk<'a> {
        FoldWalk { ts_ms: ts, strategy, buy_and_hold }
    }

    #[test]
    fn folds_are_stitched_in_time_order_whatever_order_they_come_in() {
        let (t0, t1, t2) = ([1, 2, 3], [4, 5], [6, 7, 8]);
        let (s0, s1, s2) = ([0.1, 0.2, 0.3], [0.4, 0.5], [0.6, 0.7, 0.8]);
        let (b0, b1, b2) = ([1.1, 1.2, 1.3], [1.4, 1.5], [1.6, 1.7, 1.8]);
        let record = stitch(&[walk(&t2, &s2, &b2), walk(&t0, &s0, &b0), walk(&t1, &s1, &b1)]).unwrap();
        assert_eq!(record.ts_ms, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(record.strategy, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
        assert_eq!(record.buy_and_hold, [1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8]);
        // Its Sharpe ratio is the whole record's, not an average of the folds'.
        assert_eq!(record.sharpe(365.0), sharpe_ratio(&record.strategy, 365.0));
        assert_eq!(record.buy_and_hold_sharpe(365.0), sharpe_ratio(&record.buy_and_hold, 365.0));
    }

    #[test]
    fn walks_that_are_not_walk_forward_test_slices_are_refused_by_name() {
        let ts = [1, 2, 3];
        let r = [0.0; 3];
        assert_eq!(stitch(&[]), Err(WalkForwardError::NoFolds));
        assert_eq!(stitch(&[walk(&[], &[], &[])]), Err(WalkForwardError::EmptyFold { fold: 0 }));
        let err = stitch(&[walk(&ts, &r, &r), walk(&[4, 5], &[0.0; 2], &[0.0])]).unwrap_err();
        assert_eq!(err.to_string(), "fold 1 has 2 times, 2 policy returns and 1 buy-and-hold returns");
        let err = stitch(&[walk(&[1, 3, 3], &r, &r)]).unwrap_err();
        assert_eq!(err.to_string(), "fold 0: bar 2 at 3 ms does not follow the bar before it (3 ms)");
        let err = stitch(&[walk(&[3, 4, 5], &r, &r), walk(&ts, &r, &r)]).unwrap_err();
        assert_eq!(err.to_string(), "folds 1 and 0 overlap: 0 starts at 3 ms, before 1 ends at 3 ms");
    }

    #[test]
    fn the_seed_spread_is_hand_computable() {
        // Sorted: −0.5, 0.1, 0.4, 0.9, 2.0. Quartiles by linear interpolation at 1, 2 and 3 of 4.
        let spread = seed_spread(&[0.4, 2.0, -0.5, 0.9, 0.1], &[0.3; 5]);
        assert_eq!(spread.seeds, 5);
        assert_eq!((spread.worst, spread.best), (-0.5, 2.0));
        assert_eq!((spread.lower_quartile, spread.median, spread.upper_quartile), (0.1, 0.4, 0.9));
        assert_eq!(spread.beating_buy_and_hold, 3);
        assert_eq!(spread.share_beating_buy_and_hold, 0.6);
        // Four seeds: the median halfway between the middle two, quartiles a quarter of the way.
        let spread = seed_spread(&[1.0, 2.0, 3.0, 5.0], &[5.0; 4]);
        assert_eq!((spread.lower_quartile, spread.median, spread.upper_quartile), (1.75, 2.5, 3.5));
        assert_eq!(spread.beating_buy_and_hold, 0, "equal is not beating");
        assert_eq!(seed_spread(&[], &[]).share_beating_buy_and_hold, 0.0);
    }

    /// `seeds` records over the same `bars` bars: the market's returns plus each seed's edge and
    /// noise, from a formula (no random numbers).
    fn records(seeds: usize, bars: usize, edge: f64) -> Vec<TrackRecord> {
        let market: Vec<f64> = (0..bars).map(|t| 0.01 * ((t as f64) * 0.7).sin() + 0.0002).collect();
        (0..seeds)
            .map(|s| TrackRecord {
                ts_ms: (0..bars as i64).map(|t| t * 1_800_000).collect(),
                strategy: (0..bars)
                    .map(|t| edge + 0.004 * ((t * (s + 3)) as f64 * 1.3).cos() + 0.3 * market[t])
                    .collect(),
                buy_and_hold: market.clone(),
            })
            .collect()
    }

    #[test]
    fn a_clear_edge_survives_and_noise_does_not() {
        let cfg = EvalConfig { bootstrap_samples: 500, ..EvalConfig::new(17_520.0) };
        let edge = walk_forward_report(&records(5, 2_000, 0.002), 4, Trials::ONE, &cfg).unwrap();
        assert!(edge.verdict.edge, "{}", edge.verdict.line);
        assert!(edge.verdict.line.starts_with("edge survives 5 seeds, 4 folds and 1 configuration: "));
        assert_eq!(edge.spread.beating_buy_and_hold, 5);
        assert_eq!(edge.bars, 2_000);
        assert_eq!(edge.seed_sharpes.len(), 5);
        assert!(edge.averaged_sharpe > edge.buy_and_hold_sharpe);
        assert_eq!(edge.deflated.trials, 1);
        assert_eq!(edge.deflated.benchmark, 0.0);
        assert!(serde_json::to_string(&edge).is_ok());

        let none = walk_forward_report(&records(5, 2_000, 0.0), 4, Trials::ONE, &cfg).unwrap();
        assert!(!none.verdict.edge, "{}", none.verdict.line);
        assert!(none.verdict.line.starts_with("no significant edge: "), "{}", none.verdict.line);
    }

    #[test]
    fn deflating_for_many_configurations_can_take_an_edge_away() {
        let cfg = EvalConfig { bootstrap_samples: 300, ..EvalConfig::new(17_520.0) };
        let recs = records(3, 1_500, 0.0004);
        let one = walk_forward_report(&recs, 2, Trials::ONE, &cfg).unwrap();
        let many = walk_forward_report(&recs, 2, Trials { configurations: 50, sharpe_variance: 0.01 }, &cfg).unwrap();
        assert!(many.deflated.probability < one.deflated.probability);
        assert_eq!(many.versus_buy_and_hold, one.versus_buy_and_hold, "the bootstrap does not depend on N");
        assert!(!many.verdict.edge);
        assert!(many.verdict.line.contains("for 50 configurations tried) is below 95%"), "{}", many.verdict.line);
        assert!(many.verdict.line.ends_with(
            "each fold's configuration is the best of 50 on validation, a maximum the deflation accounts for"
        ));
    }

    #[test]
    fn trials_from_annualised_sharpes_are_deflated_per_period() {
        // Annualised 1, 2, 3: variance 1 a year, 1/250 a day.
        let trials = trials_from_annualised_sharpes(&[1.0, 2.0, 3.0], 250.0);
        assert_eq!(trials.configurations, 3);
        assert!((trials.sharpe_variance - 1.0 / 250.0).abs() < 1e-18);
        assert_eq!(trials_from_annualised_sharpes(&[], 250.0).configurations, 1);
    }

    #[test]
    fn seeds_over_other_bars_are_refused() {
        let cfg = EvalConfig::new(17_520.0);
        let mut recs = records(3, 100, 0.001);
        recs[2].ts_ms[40] += 1;
        let err = walk_forward_report(&recs, 2, Trials::ONE, &cfg).unwrap_err();
        assert_eq!(err, WalkForwardError::SeedsDiffer { seed: 2, bars: 100, first_bars: 100, at: 40 });
        assert_eq!(walk_forward_report(&[], 2, Trials::ONE, &cfg).unwrap_err(), WalkForwardError::NoSeeds);
    }

    #[test]
    fn the_verdict_needs_both_tests_and_says_which_failed() {
        let interval = |lo, hi| Interval { lo, hi, level: 0.95, block_len: 1.0 };
        let comparison = |d, lo, hi| Comparison {
            difference: d,
            interval: interval(lo, hi),
            significant: crate::is_significant(&interval(lo, hi)),
        };
        let dsr = |p| DeflatedSharpe {
            shape: crate::deflated_sharpe::ReturnShape { observations: 100, sharpe: 0.1, skewness: 0.0, kurtosis: 3.0 },
            trials: 1,
            sharpe_variance: 0.0,
            benchmark: 0.0,
            probability: p,
        };
        let v = verdict(&comparison(1.2, 0.3, 2.1), &dsr(0.97), 5, 4);
        assert_eq!(
            v,
            Verdict {
                edge: true,
                line: "edge survives 5 seeds, 4 folds and 1 configuration: Sharpe difference over buy-and-hold +1.20 \
                       [+0.30, +2.10] (95% paired bootstrap), probability that the Sharpe ratio is not luck 97.0% \
                       (deflated Sharpe ratio 0.970)"
                    .into()
            }
        );
        let v = verdict(&comparison(0.8, -0.2, 1.9), &dsr(0.97), 5, 4);
        assert!(!v.edge);
        assert_eq!(
            v.line,
            "no significant edge: the Sharpe difference over buy-and-hold +0.80 [-0.20, +1.90] (95% paired bootstrap) \
             includes 0"
        );
        let v = verdict(&comparison(1.2, 0.3, 2.1), &dsr(0.90), 1, 1);
        assert_eq!(
            v.line,
            "no significant edge: the probability that the Sharpe ratio is not luck 90.0% (deflated Sharpe ratio \
             0.900) is below 95%"
        );
        let v = verdict(&comparison(-1.5, -2.5, -0.5), &dsr(0.01), 3, 2);
        assert!(v.line.starts_with("no significant edge: the policy does worse than buy-and-hold: "), "{}", v.line);
        assert!(v.line.contains("; the probability that the Sharpe ratio is not luck 1.0%"), "{}", v.line);
    }
}
