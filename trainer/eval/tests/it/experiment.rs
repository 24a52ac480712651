//! Integration tests of an experiment's report: `walk.csv` read by name, the choice on
//! validation only, the stitched figures against hand computations, missing runs named, the
//! cost sensitivity, the charts, and the contract's reader of the JSON it writes.

use std::collections::BTreeMap;

use skippy_contract::experiment::{ExperimentReport, REPORT_WIDTH, report_text};
use skippy_eval::experiment::ExcludedSeed;
use skippy_eval::{
    EXPERIMENT_SCHEMA, EvalConfig, ExperimentInput, RunInput, RunOutcome, Walk, WalkCsvError, experiment_report,
    parse_walk_csv, seeds_strip_svg, walk_forward_svg,
};

/// Few resamples: the intervals are not what these tests check.
fn cfg() -> EvalConfig {
    EvalConfig { bootstrap_samples: 200, ..EvalConfig::new(1.0) }
}

/// A walk over bars `first..first + returns.len()` (times in ms = bar numbers), with no cost
/// columns.
fn walk(first: i64, strategy: &[f64], buy_and_hold: &[f64]) -> Walk {
    Walk {
        ts_ms: (first..first + strategy.len() as i64).collect(),
        strategy: strategy.to_vec(),
        buy_and_hold: buy_and_hold.to_vec(),
        cost_bps: Vec::new(),
        strategy_at_cost: Vec::new(),
    }
}

fn done(config: usize, seed: usize, fold: usize, validation: f64, test: f64, walk: Walk) -> RunInput {
    RunInput {
        job_id: format!("tr_1700000000_c{config}s{seed}f{fold}00"),
        config,
        seed_index: seed,
        seed: 100 + seed as u64,
        fold,
        state: "DONE".into(),
        outcome: Some(RunOutcome { validation_sharpe: validation, test_sharpe: test, buy_and_hold_sharpe: 0.1, walk }),
        unreadable: None,
    }
}

fn ended(config: usize, seed: usize, fold: usize, state: &str) -> RunInput {
    RunInput {
        job_id: format!("tr_1700000000_c{config}s{seed}f{fold}00"),
        config,
        seed_index: seed,
        seed: 100 + seed as u64,
        fold,
        state: state.into(),
        outcome: None,
        unreadable: None,
    }
}

fn experiment(configs: usize, seeds: usize, folds: usize, runs: Vec<RunInput>) -> ExperimentInput {
    ExperimentInput {
        experiment_id: "ex_1700000000_0123abcd".into(),
        configs: (0..configs)
            .map(|c| BTreeMap::from([("ppo.learning_rate".to_string(), format!("{}e-4", c + 1))]))
            .collect(),
        seeds,
        folds,
        bars_per_year: 1.0,
        runs,
    }
}

/// The sample Sharpe ratio, mean over the standard deviation with divisor n − 1, per bar.
fn hand_sharpe(r: &[f64]) -> f64 {
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    mean / var.sqrt()
}

/// Per-bar returns from a formula: a wave around `drift`, different for each `salt`.
fn wave(first: i64, bars: usize, drift: f64, salt: usize) -> Vec<f64> {
    (0..bars).map(|t| drift + 0.01 * (((first as usize + t) * (salt + 2)) as f64 * 0.9).sin()).collect()
}

#[test]
fn the_configuration_is_chosen_on_validation_even_when_another_does_better_on_test() {
    // Config 0: worse on validation (0.5, 0.7), far better on test. Config 1: better on
    // validation (1.0, 1.2), losing on test.
    let build = |good_test_for: usize| {
        let mut runs = Vec::new();
        for c in 0..2 {
            for s in 0..2 {
                for k in 0..2 {
                    let first = 10 * k as i64;
                    let drift = if c == good_test_for { 0.01 } else { -0.01 };
                    let test = wave(first, 10, drift, s);
                    let validation = if c == 0 { 0.5 + 0.2 * s as f64 } else { 1.0 + 0.2 * s as f64 };
                    runs.push(done(c, s, k, validation, drift * 100.0, walk(first, &test, &[0.0; 10])));
                }
            }
        }
        experiment(2, 2, 2, runs)
    };
    let a = experiment_report(&build(0), &cfg());
    let b = experiment_report(&build(1), &cfg());
    for report in [&a, &b] {
        for f in &report.per_fold {
            assert_eq!(f.chosen_config, Some(1), "fold {}", f.fold);
            assert_eq!(f.candidates.len(), 2);
            assert_eq!(f.candidates[0].mean_validation_sharpe, Some(0.6));
            assert_eq!(f.candidates[1].mean_validation_sharpe, Some(1.1));
            assert_eq!(f.candidates[1].seeds_done, 2);
        }
    }
    // The test figures differ completely; the choices do not.
    assert_ne!(a.per_fold[0].mean_test_sharpe, b.per_fold[0].mean_test_sharpe);
    assert_eq!(a.per_fold[0].chosen[0].test_sharpe, Some(-1.0), "config 1's test Sharpe is shown, not config 0's");
    assert_eq!(b.per_fold[0].chosen[0].test_sharpe, Some(1.0));
    assert!(a.runs.iter().all(|r| r.chosen == (r.config == 1)));

    // A tie goes to the lower index.
    let tie = experiment(
        2,
        1,
        1,
        vec![
            done(1, 0, 0, 0.8, 9.0, walk(0, &[0.01, 0.02], &[0.0; 2])),
            done(0, 0, 0, 0.8, -9.0, walk(0, &[0.0; 2], &[0.0; 2])),
        ],
    );
    assert_eq!(experiment_report(&tie, &cfg()).per_fold[0].chosen_config, Some(0));
    assert!(
        !a.notes.iter().any(|n| n.contains("evaluation.validations")),
        "configurations that look alike: no note: {:?}",
        a.notes
    );

    // Configurations that validate a different number of times: the report says whom the
    // choice favours.
    let mut looks = build(0);
    looks.configs[1].insert("evaluation.validations".into(), "200".into());
    let noted = experiment_report(&looks, &cfg()).notes;
    let note = noted.iter().find(|n| n.contains("evaluation.validations")).expect("a note");
    assert!(
        note.contains("200, the default") && note.contains("favours the configurations that look more often"),
        "{note}"
    );
}

#[test]
fn the_stitched_figures_are_the_hand_computed_ones() {
    // One configuration, two seeds, two folds of two bars, given out of order.
    let (s0f0, s0f1) = ([0.01, -0.02], [0.03, 0.0]);
    let (s1f0, s1f1) = ([0.02, 0.01], [-0.01, 0.02]);
    let (bh0, bh1) = ([0.02, 0.01], [-0.01, 0.0]);
    let runs = vec![
        done(0, 1, 1, 0.3, 0.0, walk(2, &s1f1, &bh1)),
        done(0, 0, 1, 0.2, 0.0, walk(2, &s0f1, &bh1)),
        done(0, 0, 0, 0.1, 0.0, walk(0, &s0f0, &bh0)),
        done(0, 1, 0, 0.4, 0.0, walk(0, &s1f0, &bh0)),
    ];
    let report = experiment_report(&experiment(1, 2, 2, runs), &cfg());
    let stitched = report.stitched.as_ref().expect("every fold and seed finished");
    assert_eq!(stitched.seed_indices, [0, 1]);
    assert_eq!((stitched.from_ms, stitched.to_ms, stitched.bars), (0, 3, 4));

    // Seed 0: 0.01, −0.02, 0.03, 0: mean 0.005, squared deviations sum to 0.0013.
    let seed0 = 0.005 / (0.0013f64 / 3.0).sqrt();
    assert!((stitched.seed_sharpes[0] - seed0).abs() < 1e-12);
    assert!((seed0 - 0.240_192_230_707_631_4).abs() < 1e-12);
    let seed1 = hand_sharpe(&[0.02, 0.01, -0.01, 0.02]);
    assert!((stitched.seed_sharpes[1] - seed1).abs() < 1e-12);
    // Buy-and-hold: 0.02, 0.01, −0.01, 0: mean 0.005, squared deviations 0.0005.
    let bh = 0.005 / (0.0005f64 / 3.0).sqrt();
    assert!((stitched.buy_and_hold_sharpe - bh).abs() < 1e-12);
    // The seed-averaged policy: each bar, the log of the mean growth of the two seeds.
    let averaged: Vec<f64> = [0.01, -0.02, 0.03, 0.0]
        .iter()
        .zip([0.02, 0.01, -0.01, 0.02])
        .map(|(a, b): (&f64, f64)| ((a.exp() + b.exp()) / 2.0).ln())
        .collect();
    assert!((stitched.averaged_sharpe - hand_sharpe(&averaged)).abs() < 1e-12);
    // The spread of two seeds: the median halfway between them.
    let spread = &stitched.spread;
    assert_eq!(spread.seeds, 2);
    assert!((spread.median - (seed0 + seed1) / 2.0).abs() < 1e-12);
    assert!((spread.worst - seed0.min(seed1)).abs() < 1e-12);
    // One configuration: nothing to deflate for.
    assert_eq!(report.configurations_tried, 1);
    assert_eq!(stitched.deflated.trials, 1);
    assert_eq!(stitched.deflated.benchmark, 0.0);
    assert!(report.missing.is_empty() && report.excluded_seeds.is_empty());
    assert_eq!(report.verdict, stitched.verdict.line);
    assert!(report.verdict.starts_with("no significant edge: "), "4 bars prove nothing: {}", report.verdict);
    assert_eq!((report.per_fold[1].test_from_ms, report.per_fold[1].test_to_ms), (Some(2), Some(3)));
}

#[test]
fn missing_runs_are_listed_and_their_seeds_left_out_by_name() {
    let mut runs = Vec::new();
    for s in 0..4 {
        for k in 0..2 {
            let first = 5 * k as i64;
            runs.push(done(0, s, k, 1.0, 0.5, walk(first, &wave(first, 5, 0.001, s), &[0.001; 5])));
        }
    }
    runs[3] = ended(0, 1, 1, "FAILED"); // seed 1, fold 1
    // seed 2, fold 0: DONE, but its files could not be read
    runs[4].outcome = None;
    runs[4].unreadable = Some("metrics.json: kept_model_validation_sharpe is null, not a number".into());
    runs.remove(7); // seed 3, fold 1: no run at all
    let report = experiment_report(&experiment(1, 4, 2, runs), &cfg());

    let missing: Vec<(usize, usize, &str, &str)> =
        report.missing.iter().map(|m| (m.seed_index, m.fold, m.state.as_str(), m.job_id.as_str())).collect();
    assert_eq!(
        missing,
        [(1, 1, "FAILED", "tr_1700000000_c0s1f100"), (2, 0, "DONE", "tr_1700000000_c0s2f000"), (3, 1, "NO RUN", ""),]
    );
    assert_eq!(
        report.missing[1].reason,
        "it finished, but its results could not be read: metrics.json: kept_model_validation_sharpe is null, not a \
         number"
    );
    assert_eq!(report.missing[0].reason, "it ended FAILED");

    let stitched = report.stitched.as_ref().expect("seed 0 has every fold");
    assert_eq!(stitched.seed_indices, [0], "never an average over fewer folds");
    assert_eq!(stitched.seed_sharpes.len(), 1);
    assert_eq!(report.seeds_stitched, 1);
    assert_eq!(
        report.excluded_seeds,
        [
            ExcludedSeed {
                seed_index: 1,
                missing_folds: vec![1],
                reason: "fold 1 (config 0): FAILED (tr_1700000000_c0s1f100)".into()
            },
            ExcludedSeed {
                seed_index: 2,
                missing_folds: vec![0],
                reason: "fold 0 (config 0): DONE, results unreadable (tr_1700000000_c0s2f000)".into()
            },
            ExcludedSeed { seed_index: 3, missing_folds: vec![1], reason: "fold 1 (config 0): NO RUN".into() },
        ]
    );
    assert!(
        report.verdict.ends_with("; 3 of 4 seeds left out of these figures for a missing fold (seeds 1, 2, 3)"),
        "{}",
        report.verdict
    );
    assert!(report.verdict.starts_with("no significant edge: "), "one seed of 10 bars: {}", report.verdict);
    // The fold table still shows every seed of the chosen configuration, missing ones included.
    let fold1: Vec<&str> = report.per_fold[1].chosen.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(fold1, ["DONE", "FAILED", "DONE", "NO RUN"]);
    assert_eq!(report.runs_done, 5);
    assert_eq!(report.runs.len(), 7);
}

#[test]
fn a_fold_without_a_finished_run_leaves_no_stitched_record_and_the_verdict_says_why() {
    let runs = vec![
        done(0, 0, 0, 1.0, 0.5, walk(0, &[0.01, 0.02], &[0.0; 2])),
        done(1, 0, 0, 1.5, 0.5, walk(0, &[0.01, 0.02], &[0.0; 2])),
        ended(0, 0, 1, "FAILED"),
        ended(1, 0, 1, "CANCELLED"),
    ];
    let report = experiment_report(&experiment(2, 1, 2, runs), &cfg());
    assert!(report.stitched.is_none());
    assert!(!report.edge_survives);
    assert_eq!(
        report.verdict,
        "no significant edge: there is no out-of-sample record to judge: fold 1 has no finished run \
         (1 CANCELLED, 1 FAILED)"
    );
    assert_eq!(report.per_fold[0].chosen_config, Some(1));
    assert_eq!(report.per_fold[1].chosen_config, None);
    assert!(report.per_fold[1].chosen.is_empty());
    assert_eq!(report.missing.len(), 2);
    // Nothing to draw, but both charts are still documents.
    let input = experiment(2, 1, 2, Vec::new());
    roxmltree::Document::parse(&walk_forward_svg(&input, &report)).expect("valid XML");
    roxmltree::Document::parse(&seeds_strip_svg(&report)).expect("valid XML");
}

#[test]
fn the_cost_sensitivity_reprices_the_stitched_seed_averaged_policy() {
    let text = |first: i64, at0: [f64; 3], at20: [f64; 3]| {
        let mut csv = String::from("time_ms,strategy,buy_and_hold,strategy_cost_0bps,strategy_cost_20bps\n");
        for t in 0..3 {
            let r = at20[t] + 0.0001;
            csv.push_str(&format!("{},{r},{},{},{}\n", first + t as i64, 0.001 * t as f64, at0[t], at20[t]));
        }
        parse_walk_csv(&csv).expect("a valid walk.csv")
    };
    let (a0, a20) = ([0.02, -0.01, 0.015], [0.018, -0.012, 0.013]);
    let (b0, b20) = ([0.01, 0.005, -0.02], [0.008, 0.003, -0.022]);
    let runs = vec![done(0, 0, 0, 1.0, 0.0, text(0, a0, a20)), done(0, 0, 1, 1.0, 0.0, text(3, b0, b20))];
    let report = experiment_report(&experiment(1, 1, 2, runs), &cfg());
    let costs = &report.stitched.as_ref().expect("stitched").cost_sensitivity;
    assert_eq!(costs.iter().map(|c| c.cost_bps).collect::<Vec<_>>(), [0.0, 20.0]);
    let at0: Vec<f64> = a0.iter().chain(&b0).copied().collect();
    let at20: Vec<f64> = a20.iter().chain(&b20).copied().collect();
    assert!((costs[0].sharpe - hand_sharpe(&at0)).abs() < 1e-12);
    assert!((costs[1].sharpe - hand_sharpe(&at20)).abs() < 1e-12);
    // Against buy-and-hold at the job's cost, on the same bars.
    let bh = hand_sharpe(&[0.0, 0.001, 0.002, 0.0, 0.001, 0.002]);
    assert!((costs[1].versus_buy_and_hold.difference - (hand_sharpe(&at20) - bh)).abs() < 1e-12);
}

#[test]
fn walk_csv_is_read_by_column_name() {
    let csv = "\u{feff}buy_and_hold, strategy_cost_2.5bps ,note,time_ms,strategy,strategy_cost_40bps\r\n\
               0.5,1.5,x,1000,0.25,-1\r\n\
               \r\n\
               -0.5,2.5,y,2000,0.75,-2\r\n";
    let w = parse_walk_csv(csv).unwrap();
    assert_eq!(w.ts_ms, [1000, 2000]);
    assert_eq!(w.strategy, [0.25, 0.75]);
    assert_eq!(w.buy_and_hold, [0.5, -0.5]);
    assert_eq!(w.cost_bps, [2.5, 40.0]);
    assert_eq!(w.strategy_at_cost, [vec![1.5, 2.5], vec![-1.0, -2.0]]);
    // The trainer's header, without rows: an empty walk.
    let empty = parse_walk_csv(
        "time_ms,strategy,buy_and_hold,strategy_cost_0bps,strategy_cost_5bps,strategy_cost_10bps,\
         strategy_cost_20bps,strategy_cost_40bps\n",
    )
    .unwrap();
    assert_eq!(empty.cost_bps, [0.0, 5.0, 10.0, 20.0, 40.0]);
    assert!(empty.ts_ms.is_empty() && empty.strategy_at_cost.iter().all(Vec::is_empty));
}

#[test]
fn walk_csv_errors_name_the_line_and_the_column() {
    let head = "time_ms,strategy,buy_and_hold,strategy_cost_10bps";
    let cases: [(String, &str); 9] = [
        (String::new(), "walk.csv is empty: no header line"),
        ("\n\ntime_ms,buy_and_hold\n".into(), "walk.csv line 3: the header has no column `strategy`"),
        (
            "time_ms,strategy,buy_and_hold,strategy\n".into(),
            "walk.csv line 1, column 4: `strategy` is named twice in the header",
        ),
        (
            format!("{head},strategy_cost_10.0bps\n"),
            "walk.csv line 1, column 5: `strategy_cost_10.0bps` is named twice in the header",
        ),
        (
            "time_ms,strategy,buy_and_hold,strategy_cost_tenbps\n".into(),
            "walk.csv line 1, column 4: `strategy_cost_tenbps` is not a cost column (`strategy_cost_<bps>bps`, \
             with bps a number of at least 0)",
        ),
        (format!("{head}\n1,0.1,0.2,0.3\n2,0.1,0.2\n"), "walk.csv line 3: 3 fields, but the header has 4"),
        (
            format!("{head}\n1,0.1,0.2,0.3\n2,0.1,abc,0.3\n"),
            "walk.csv line 3, column 3 (`buy_and_hold`): `abc` is not a finite number",
        ),
        (
            format!("{head}\n1.5,0.1,0.2,0.3\n"),
            "walk.csv line 2, column 1 (`time_ms`): `1.5` is not a whole number of milliseconds",
        ),
        (
            format!("{head}\n7,0.1,0.2,0.3\n\n7,0.1,0.2,NaN\n"),
            "walk.csv line 4, column 1 (`time_ms`): 7 does not follow the row before it (7)",
        ),
    ];
    for (csv, want) in cases {
        let err = parse_walk_csv(&csv).expect_err(&csv);
        assert_eq!(err.to_string(), want, "{csv:?}");
    }
    let err = parse_walk_csv(&format!("{head}\n1,0.1,0.2,inf\n")).unwrap_err();
    assert!(matches!(err, WalkCsvError::BadValue { line: 2, column: 4, .. }), "{err:?}");
}

/// Three configurations × three seeds × two folds over 400 bars a fold; config 2 wins on
/// validation. `drift` is the chosen configuration's edge a bar.
fn grid(drift: f64) -> ExperimentInput {
    let mut runs = Vec::new();
    for c in 0..3 {
        for s in 0..3 {
            for k in 0..2 {
                let first = 400 * k as i64;
                let market = wave(first, 400, 0.0002, 7);
                let strategy: Vec<f64> = wave(first, 400, drift * c as f64 / 2.0, s + 3 * c)
                    .iter()
                    .zip(&market)
                    .map(|(own, m)| own * 0.5 + 0.3 * m)
                    .collect();
                runs.push(done(c, s, k, c as f64 + 0.1 * s as f64, 0.0, walk(first, &strategy, &market)));
            }
        }
    }
    ExperimentInput { bars_per_year: 8760.0, ..experiment(3, 3, 2, runs) }
}

#[test]
fn a_clear_edge_survives_seeds_folds_and_configurations_and_noise_does_not() {
    let report = experiment_report(&grid(0.004), &cfg());
    assert!(report.edge_survives, "{}", report.verdict);
    assert!(report.verdict.starts_with("edge survives 3 seeds, 2 folds and 3 configurations: "), "{}", report.verdict);
    assert!(report.verdict.contains("each fold's configuration is the best of 3 on validation"));
    let stitched = report.stitched.as_ref().unwrap();
    assert_eq!(stitched.trials.configurations, 3);
    assert!(stitched.trials.sharpe_variance > 0.0, "the configurations' own stitched Sharpe ratios vary");
    assert!(report.configurations.iter().all(|c| c.stitched_sharpe.is_some() && c.stitched_seeds == 3));
    assert_eq!(stitched.deflated.trials, 3);
    assert!(stitched.deflated.benchmark > 0.0);

    let none = experiment_report(&grid(0.0), &cfg());
    assert!(!none.edge_survives);
    assert!(none.verdict.starts_with("no significant edge: "), "{}", none.verdict);
}

#[test]
fn the_report_is_snake_case_json_with_its_headline_first_and_reads_back() {
    let report = experiment_report(&grid(0.004), &cfg());
    let json = serde_json::to_string_pretty(&report).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["schema"], EXPERIMENT_SCHEMA);
    assert_eq!(value["experiment_id"], "ex_1700000000_0123abcd");
    assert_eq!(value["edge_survives"], true);
    assert_eq!(
        (value["configurations_tried"].as_u64(), value["seeds"].as_u64(), value["folds"].as_u64()),
        (Some(3), Some(3), Some(2))
    );
    let keys: Vec<&str> =
        json.lines().filter(|l| l.starts_with("  \"")).map(|l| l[3..].split('"').next().unwrap()).collect();
    assert_eq!(
        keys[..7],
        ["schema", "experiment_id", "verdict", "edge_survives", "configurations_tried", "seeds", "folds"]
    );
    for key in ["seed_sharpes", "versus_buy_and_hold", "deflated", "spread", "cost_sensitivity", "averaged_sharpe_ci"] {
        assert!(value["stitched"].get(key).is_some(), "stitched.{key}");
    }
    let back: ExperimentReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn the_report_reads_back_as_written_and_prints_as_every_tool_prints_it() {
    let mut input = grid(0.004);
    input.runs.retain(|r| !(r.config == 2 && r.seed_index == 1 && r.fold == 0));
    input.runs.push(ended(2, 1, 0, "FAILED"));
    let report = experiment_report(&input, &cfg());
    let json = serde_json::to_string(&report).unwrap();
    let file = ExperimentReport::parse(&json).unwrap();
    assert_eq!(file, report, "the contract's type writes it and reads it back");
    assert_eq!(file.schema, EXPERIMENT_SCHEMA);
    assert_eq!((file.configurations_tried, file.seeds, file.folds), (3, 3, 2));
    assert_eq!((file.missing.len(), file.excluded_seeds.len()), (1, 1));
    assert_eq!(file.per_fold[0].chosen_config, Some(2));

    let text = report_text(&file);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("experiment ex_1700000000_0123abcd: 3 configurations × 3 seeds × 2 folds"));
    assert!(lines[1].starts_with("verdict: "), "{text}");
    for line in &lines {
        assert!(line.chars().count() <= REPORT_WIDTH, "{} chars: {line}", line.chars().count());
    }
    for wanted in [
        "fold 0: test 1970-01-01 00:00 to 1970-01-01 00:00 UTC (400 bars); config 2 chosen on validation",
        "2 <- chosen",
        "seed-averaged policy: Sharpe",
        "Sharpe difference over buy-and-hold: ",
        "deflated Sharpe ratio: ",
        "for 3 configurations tried",
        "missing runs (1), never averaged in:",
        "config 2 seed 1 fold 0: tr_1700000000_c2s1f000 it ended FAILED",
        "seed 1: fold 0 (config 2): FAILED (tr_1700000000_c2s1f000)",
        "tr_1700000000_c2s0f100 *",
        "how to read: ",
    ] {
        assert!(text.contains(wanted), "missing {wanted:?} in\n{text}");
    }
}

#[test]
fn the_charts_are_well_formed_with_a_line_per_seed_and_a_dot_per_seed_and_fold() {
    let mut input = grid(0.004);
    input.runs.retain(|r| !(r.config == 2 && r.seed_index == 1 && r.fold == 1));
    let report = experiment_report(&input, &cfg());
    assert_eq!(report.stitched.as_ref().unwrap().seed_indices, [0, 2]);

    let svg = walk_forward_svg(&input, &report);
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("invalid XML: {e}"));
    let lines = doc.descendants().filter(|n| n.has_tag_name("path")).count();
    assert_eq!(lines, 2 + 2, "one line per stitched seed, the seed average and buy-and-hold");
    let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    for wanted in ["seed 0 (100)", "seed 2 (102)", "seed average", "buy-and-hold", "year (UTC)"] {
        assert!(texts.contains(&wanted), "{wanted:?} not in {texts:?}");
    }

    let svg = seeds_strip_svg(&report);
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("invalid XML: {e}"));
    let dots = doc.descendants().filter(|n| n.has_tag_name("circle")).count();
    assert_eq!(dots, 3 + 2, "fold 0 has three seeds, fold 1 two");
    let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    for wanted in ["fold 0 (config 2)", "fold 1 (config 2)", "seed 0", "seed 1", "seed 2", "buy-and-hold"] {
        assert!(texts.contains(&wanted), "{wanted:?} not in {texts:?}");
    }
    // Buy-and-hold: one black bar per fold, and one in the legend.
    let bars = doc.descendants().filter(|n| n.has_tag_name("line") && n.attribute("stroke") == Some("black")).count();
    assert_eq!(bars, 2 + 1);
}

#[test]
fn hostile_input_gives_a_report_that_serialises() {
    let bad_walk = Walk { ts_ms: vec![3, 2, 1], strategy: vec![f64::NAN; 2], ..Walk::default() };
    let cases = [
        experiment(0, 0, 0, Vec::new()),
        experiment(1, 2, 0, vec![done(0, 0, 0, 1.0, 1.0, walk(0, &[0.1], &[0.1]))]),
        experiment(2, usize::MAX, 3, Vec::new()),
        experiment(
            2,
            2,
            2,
            vec![
                done(0, 0, 0, f64::NAN, f64::INFINITY, walk(0, &[0.1, 0.2], &[0.0; 2])),
                done(0, 0, 0, 2.0, 1.0, walk(0, &[0.1, 0.2], &[0.0; 2])),
                done(1, 0, 0, 1.0, 1.0, walk(0, &[0.1, 0.2], &[0.0; 2])),
                done(1, 0, 1, 1.0, 1.0, bad_walk),
                done(1, 1, 0, 1.0, 1.0, walk(0, &[], &[])),
                done(1, 1, 1, 1.0, 1.0, walk(1, &[0.1, 0.2], &[0.0; 2])),
                done(5, 9, 9, 1.0, 1.0, walk(0, &[0.1], &[0.1])),
                ended(0, 1, 1, ""),
            ],
        ),
    ];
    for input in &cases {
        let report = experiment_report(input, &cfg());
        assert!(!report.edge_survives);
        assert!(report.verdict.starts_with("no significant edge: "), "{}", report.verdict);
        let json = serde_json::to_string(&report).expect("finite figures serialise");
        assert_eq!(serde_json::from_str::<ExperimentReport>(&json).unwrap(), report);
        roxmltree::Document::parse(&walk_forward_svg(input, &report)).expect("valid XML");
        roxmltree::Document::parse(&seeds_strip_svg(&report)).expect("valid XML");
        let text = report_text(&ExperimentReport::parse(&json).unwrap());
        assert!(text.lines().all(|l| l.chars().count() <= REPORT_WIDTH), "{text}");
    }
    let report = experiment_report(&cases[3], &cfg());
    assert!(report.notes.iter().any(|n| n.contains("outside the grid")), "{:?}", report.notes);
    assert!(report.notes.iter().any(|n| n.contains("has two runs")), "{:?}", report.notes);
    assert!(report.verdict.contains("walks cannot be stitched") || report.verdict.contains("no finished run"));
    assert_eq!(experiment_report(&cases[2], &cfg()).runs_total, usize::MAX);
}
