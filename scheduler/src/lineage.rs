//! A job's lineage: the finished jobs of the same algorithm, symbols and features on the same
//! data (so the same held-out bars), numbered in generations. Its champion is the job whose kept
//! model scored best on the *validation* bars; test results never pick it (that would make the
//! test bars part of training).
//!
//! A finished job's "improvement" is its out-of-sample Sharpe minus the baseline's on the same
//! test bars, with a paired bootstrap interval: against the champion before it when there is
//! one (both walks' per-bar portfolio returns, read from their `equity.csv`), else against
//! buy-and-hold (the trainer's own comparison in `metrics.json`).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use skippy_eval::{Comparison, EvalConfig};

use crate::job::{JobRecord, ResultRecord};

/// The equity artifact the comparison reads.
const EQUITY_CSV: &str = "equity.csv";

/// A Sharpe difference against a baseline on the same test bars, with its paired bootstrap
/// interval: the protocol's JSON form, kept as is in the job's record.
pub type Improvement = skippy_proto::json::Improvement;

/// The improvement of a bootstrap comparison against generation `over_generation` (0:
/// buy-and-hold).
pub fn improvement(c: &Comparison, over_generation: u32) -> Improvement {
    Improvement {
        sharpe_difference: c.difference,
        lo: c.interval.lo,
        hi: c.interval.hi,
        level: c.interval.level,
        significant: c.significant,
        over_generation,
    }
}

/// The champion of a lineage when a job finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Champion {
    /// Its job id.
    pub id: String,
    /// Its generation.
    pub generation: u32,
    /// Its kept model's validation Sharpe (what ranks it).
    pub validation_sharpe: f64,
    /// Its test Sharpe (shown once, as the next generation's baseline).
    pub sharpe: f64,
}

/// Where one lineage on one data set stands: what the next job's generation and baseline are,
/// and which jobs retention must keep for them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standing {
    /// The highest generation so far.
    pub generation: u32,
    /// The job of that generation.
    pub newest: Option<Arc<str>>,
    /// The job with the best validation score (the first to reach it).
    pub champion: Option<Champion>,
}

/// Every lineage's standing, kept up to date as jobs finish (so a finishing job never scans the
/// others): by lineage ([`JobRecord::lineage`]), then by data fingerprints. Recording a job of a
/// known lineage allocates nothing (start-up records every finished job).
#[derive(Debug, Default)]
pub struct Standings {
    by_lineage: HashMap<String, HashMap<Vec<(String, String)>, Standing>>,
}

impl Standings {
    /// The standing of `job`'s lineage on the data `fingerprints`, before `job` is recorded.
    pub fn of(&self, job: &JobRecord, fingerprints: &[(String, String)]) -> (u32, Option<Champion>) {
        let standing = self.by_lineage.get(&job.lineage()).and_then(|by_data| by_data.get(fingerprints));
        standing.map_or((0, None), |s| (s.generation, s.champion.clone()))
    }

    /// Records DONE job `id` of `lineage` on the data `fingerprints` with its result: a new
    /// generation, and the champion if its validation score beats the champion's.
    pub fn record(&mut self, lineage: &str, fingerprints: &[(String, String)], id: &Arc<str>, result: &ResultRecord) {
        if !self.by_lineage.contains_key(lineage) {
            self.by_lineage.insert(lineage.to_string(), HashMap::new());
        }
        let by_data = self.by_lineage.get_mut(lineage).expect("inserted above");
        if !by_data.contains_key(fingerprints) {
            by_data.insert(fingerprints.to_vec(), Standing::default());
        }
        let standing = by_data.get_mut(fingerprints).expect("inserted above");
        if result.generation >= standing.generation {
            standing.generation = result.generation;
            standing.newest = Some(id.clone());
        }
        let Some(v) = result.validation_sharpe else { return };
        if standing.champion.as_ref().is_none_or(|c| v > c.validation_sharpe) {
            standing.champion = Some(Champion {
                id: id.to_string(),
                generation: result.generation,
                validation_sharpe: v,
                sharpe: result.sharpe,
            });
        }
    }

    /// The jobs retention keeps whatever its policy: each lineage's champion (the next job is
    /// compared with it, and its walk is read for that) and its newest generation (so generation
    /// numbers never repeat after a restart).
    pub fn kept(&self) -> HashSet<&str> {
        let mut kept = HashSet::new();
        for s in self.by_lineage.values().flat_map(HashMap::values) {
            kept.extend(s.newest.as_deref());
            kept.extend(s.champion.as_ref().map(|c| c.id.as_str()));
        }
        kept
    }
}

/// The paired comparison of job `new`'s test walk with job `old`'s, from their stored
/// `equity.csv` under `runs`-relative directories `new_dir` and `old_dir`. `None` when either
/// file is missing or unreadable, or when the two walks do not cover the same bar times.
pub fn compare_walks(new_dir: &Path, old_dir: &Path, cfg: &EvalConfig) -> Option<Comparison> {
    let new = portfolio_walk(&new_dir.join("artifacts").join(EQUITY_CSV))?;
    let old = portfolio_walk(&old_dir.join("artifacts").join(EQUITY_CSV))?;
    if new.0 != old.0 || new.1.len() < 2 {
        return None;
    }
    skippy_eval::paired_sharpe_difference(&new.1, &old.1, cfg).ok()
}

/// The bar times and per-bar log returns of the portfolio column of an `equity.csv`.
fn portfolio_walk(path: &Path) -> Option<(Vec<i64>, Vec<f64>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let (t_col, e_col) = (header.iter().position(|h| *h == "time_ms")?, header.iter().position(|h| *h == "portfolio")?);
    let mut times = Vec::new();
    let mut equity = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        times.push(cells.get(t_col)?.parse::<i64>().ok()?);
        equity.push(cells.get(e_col)?.parse::<f64>().ok().filter(|e| e.is_finite() && *e > 0.0)?);
    }
    // Row 0 is the starting equity: returns are between consecutive rows.
    let returns = equity.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    Some((times.split_off(1.min(times.len())), returns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_equity(dir: &Path, rows: &[(i64, f64)]) {
        let artifacts = dir.join("artifacts");
        std::fs::create_dir_all(&artifacts).unwrap();
        let mut csv = String::from("bar,time_ms,portfolio,portfolio_buy_and_hold\n");
        for (i, (t, e)) in rows.iter().enumerate() {
            csv += &format!("{i},{t},{e},1\n");
        }
        std::fs::write(artifacts.join(EQUITY_CSV), csv).unwrap();
    }

    fn cfg() -> EvalConfig {
        EvalConfig { bars_per_year: 8760.0, bootstrap_samples: 200, block_len: None, level: 0.95, seed: 7 }
    }

    #[test]
    fn walks_on_the_same_bars_are_compared_pairwise() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut ea = 1.0;
        let mut eb = 1.0;
        let (mut ra, mut rb) = (vec![(0, 1.0)], vec![(0, 1.0)]);
        for i in 1..300i64 {
            let x = ((i * 7919) % 101) as f64 / 1e4 - 0.004;
            ea *= (x + 0.001f64).exp();
            eb *= x.exp();
            ra.push((i * 3_600_000, ea));
            rb.push((i * 3_600_000, eb));
        }
        write_equity(&a, &ra);
        write_equity(&b, &rb);
        let c = compare_walks(&a, &b, &cfg()).expect("same bars");
        assert!(c.difference > 0.0, "{c:?}");
        // The same returns shifted by a constant: the paired interval is tight around it.
        assert!(c.significant, "{c:?}");
        assert_eq!(compare_walks(&a, &a, &cfg()).map(|c| c.difference), Some(0.0));
    }

    fn done(generation: u32, validation: Option<f64>) -> ResultRecord {
        ResultRecord {
            sharpe: 1.0,
            buy_and_hold_sharpe: 0.0,
            generation,
            improvement: None,
            champion: false,
            validation_sharpe: validation,
            stop_reason: "completed".into(),
            edge_significant: false,
        }
    }

    #[test]
    fn a_lineage_on_one_data_set_numbers_generations_and_keeps_the_first_best_on_validation() {
        let job = JobRecord::queued("tr_1_00000009".into(), Default::default(), crate::job::JsonText::null(), 1, 0);
        let (lineage, data, other) = (job.lineage(), vec![("BTC".to_string(), "ab".to_string())], vec![]);
        let mut standings = Standings::default();
        assert_eq!(standings.of(&job, &data), (0, None));
        for (id, generation, validation) in
            [("tr_1_00000001", 1, 1.0), ("tr_1_00000002", 2, 0.5), ("tr_1_00000003", 3, 1.0)]
        {
            standings.record(&lineage, &data, &Arc::from(id), &done(generation, Some(validation)));
        }
        let (generation, champion) = standings.of(&job, &data);
        assert_eq!(generation, 3);
        assert_eq!(champion.map(|c| c.id), Some("tr_1_00000001".to_string()), "a tie does not take it");
        assert_eq!(standings.of(&job, &other), (0, None), "other data is another lineage");
        let mut kept: Vec<&str> = standings.kept().into_iter().collect();
        kept.sort();
        assert_eq!(kept, ["tr_1_00000001", "tr_1_00000003"], "the champion and the newest generation");
    }

    #[test]
    fn walks_over_other_bars_or_missing_files_are_not_compared() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_equity(&a, &[(0, 1.0), (1, 1.1), (2, 1.2)]);
        write_equity(&b, &[(0, 1.0), (1, 1.1), (3, 1.2)]);
        assert!(compare_walks(&a, &b, &cfg()).is_none());
        assert!(compare_walks(&a, &dir.path().join("missing"), &cfg()).is_none());
    }
}
