//! The offline commands of `skippy-trainer`: one job run locally with a progress bar, as a
//! researcher tries an idea without the scheduler; and the throughput benchmark.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use skippy_market::DuplicatePolicy;
use skippy_market::catalog::Catalog;
use skippy_market::features::parse_feature_sets;
use skippy_trainer::checkpoint::Checkpoint;
use skippy_trainer::dataset::Dataset;
use skippy_trainer::ppo::PpoConfig;
use skippy_trainer::spec::TrainSpec;
use skippy_trainer::training::{self, Observer, Progress, RunOptions, StopReason};
use skippy_trainer::{artifacts, bench, report};

/// The offline subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one policy locally and print its out-of-sample metrics.
    Train(TrainArgs),
    /// Measure environment and end-to-end training throughput (env-steps/s).
    Bench(BenchArgs),
    /// Walk a fixed policy (long, short or flat), or a trained model, over the test bars with
    /// the same backtest and metrics as a job's evaluation: a baseline anyone can check the
    /// accounting with, and a model tried on other bars (a user's own file).
    Backtest(BacktestArgs),
}

/// `skippy-trainer backtest`'s flags.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The fixed policy to walk.
    #[arg(long, value_enum, required_unless_present = "model", conflicts_with = "model")]
    policy: Option<skippy_trainer::backtest::FixedPolicy>,
    /// A trained model to walk instead: a run's output or downloaded artifacts directory
    /// (`model.safetensors` and `spec.json`). Its features, window and settings come from its
    /// spec; `--symbols` and `--set` change them.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Symbols, comma-separated (catalog names, e.g. BTC,ETH or SYN-EDGE).
    #[arg(long, value_delimiter = ',', required = true)]
    symbols: Vec<String>,
    /// Feature sets, comma-separated (they set the warm-up, and so the split, as in training);
    /// a model's own spec names them.
    #[arg(long, default_value = "price", conflicts_with = "model")]
    features: String,
    /// Data directory with one CSV (or folder of CSVs) per symbol; default: the shipped sample bars.
    #[arg(long, env = "SKIPPY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Rows of a data file (or files of one symbol) that give one bar time different values:
    /// refuse them (the default), or keep the bar of the first or the last line (file). Sets
    /// `data.on_duplicate`.
    #[arg(long, value_name = "POLICY", value_parser = on_duplicate_parser())]
    on_duplicate: Option<DuplicatePolicy>,
    /// Override any spec field, e.g. `--set env.cost=0`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Print the evaluation as JSON (`evaluation.portfolio.strategy.total_log_return`, …).
    #[arg(long)]
    json: bool,
}

/// `skippy-trainer train`'s flags.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Symbols to train one policy on, comma-separated (catalog names, e.g. BTC,ETH or SYN-EDGE).
    #[arg(long, value_delimiter = ',', required_unless_present = "spec")]
    symbols: Vec<String>,
    /// Feature sets, comma-separated: price, microstructure.
    #[arg(long, default_value = "price")]
    features: String,
    /// Environment steps to train for.
    #[arg(long, default_value_t = 200_000)]
    steps: u64,
    /// Seed of every random choice: same spec and seed, same result.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory for the artifacts.
    #[arg(long, default_value = "runs/offline")]
    out: PathBuf,
    /// Data directory with one CSV (or folder of CSVs) per symbol; default: the shipped sample bars.
    #[arg(long, env = "SKIPPY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Rows of a data file (or files of one symbol) that give one bar time different values:
    /// refuse them (the default), or keep the bar of the first or the last line (file). Sets
    /// `data.on_duplicate`.
    #[arg(long, value_name = "POLICY", value_parser = on_duplicate_parser())]
    on_duplicate: Option<DuplicatePolicy>,
    /// A full job spec as JSON (other flags are ignored except --set, --out, --data-dir,
    /// --on-duplicate).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Override any spec field, e.g. `--set ppo.learning_rate=1e-4 --set env.cost=0.001`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Only flat and long positions.
    #[arg(long)]
    long_only: bool,
    /// Stop training after this many seconds and evaluate what was learned.
    #[arg(long)]
    max_duration_secs: Option<f64>,
    /// Resume from a checkpoint written by an earlier run of the same spec.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Training threads (results do not depend on it).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print metrics.json instead of the table.
    #[arg(long)]
    json: bool,
}

/// `skippy-trainer bench`'s flags.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Environment steps for the environment-only benchmark.
    #[arg(long, default_value_t = 50_000_000)]
    env_steps: usize,
    /// Environment steps of PPO training to time (per run).
    #[arg(long, default_value_t = 204_800)]
    train_steps: usize,
    /// Timed repeats of the training benchmark (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Instead: N training runs at once, each on one thread (as a worker with `--concurrency N`
    /// runs its jobs), against one run alone on one thread: their aggregate env-steps/s, the
    /// ratio, and the slowest run's share of the mean run's speed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs an offline subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Train(args) => train(args),
        Command::Backtest(args) => backtest(args),
        Command::Bench(args) if args.jobs.is_some() => {
            let jobs = args.jobs.unwrap_or(1) as usize;
            let r = bench::concurrency::run(&PpoConfig::default(), jobs, args.train_steps, args.repeats);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", concurrency_table(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let cfg = PpoConfig::default();
            let r = bench::run(&cfg, args.env_steps, args.train_steps, args.repeats);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "default configuration: {}-dim observation, 64×64 tanh policy and value, n_steps 2048, batch 64, 10 epochs",
                    r.obs_dim
                );
                println!("environment alone:   {:>12.0} env-steps/s", r.env_steps_per_sec);
                println!(
                    "PPO end to end:      {:>12.0} env-steps/s (median of {}, range {:.0}–{:.0}; {} steps each, {:.0}% in rollouts)",
                    r.train_steps_per_sec,
                    r.repeats,
                    r.train_steps_per_sec_range.0,
                    r.train_steps_per_sec_range.1,
                    r.train_steps,
                    r.rollout_share * 100.0
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What `bench --jobs N` prints.
fn concurrency_table(r: &bench::concurrency::ConcurrencyReport) -> String {
    let mut out = format!(
        "default configuration, {} steps per run, each run on one thread, {} cores; median of {} rounds\n",
        r.steps_per_run,
        r.cores,
        r.rounds.len()
    );
    let mut alone = format!("one run alone:    {:>9.0} env-steps/s", r.alone_steps_per_sec);
    if let Some(used) = r.alone_cores_used {
        let _ = write!(alone, ", on {used:.2} of a core");
    }
    let _ = writeln!(out, "{alone}");
    let mut together = format!(
        "{:<17} {:>9.0} env-steps/s in all: {:.2}x one run alone",
        format!("{} runs at once:", r.jobs),
        r.aggregate_steps_per_sec,
        r.speedup
    );
    if let Some(used) = r.cores_used {
        let _ = write!(together, ", on {used:.2} of {} cores", r.cores);
    }
    let _ = writeln!(out, "{together}");
    let _ = writeln!(
        out,
        "slowest run:      {:>9.2} of the mean run's env-steps/s (the lowest of the rounds)",
        r.slowest_share
    );
    if let Some(efficiency) = r.cpu_efficiency {
        let _ = writeln!(
            out,
            "per CPU-second:   {efficiency:>9.2} of one run alone's env-steps (what running together costs per step)"
        );
    }
    let _ = writeln!(out, "each round: ratio, cores used alone and together, each run's env-steps/s");
    for round in &r.rounds {
        let speeds: Vec<String> = round.per_run_steps_per_sec.iter().map(|s| format!("{s:.0}")).collect();
        let used = |c: Option<f64>| c.map_or("-".to_string(), |c| format!("{c:.2}"));
        let (alone, together) = (used(round.alone_cores_used), used(round.cores_used));
        let _ = writeln!(out, "  {:.2}x  {alone} {together}  {}", round.speedup(), speeds.join(" "));
    }
    out
}

fn build_spec(args: &TrainArgs) -> anyhow::Result<TrainSpec> {
    let spec = match &args.spec {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading spec {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("spec {}", path.display()))?
        }
        None => {
            let features = parse_feature_sets(&args.features)?;
            let mut spec = TrainSpec::new(args.symbols.clone(), features, args.steps, args.seed);
            spec.env.long_only = args.long_only;
            spec
        }
    };
    with_overrides(with_on_duplicate(spec, args.on_duplicate), &args.overrides)
}

/// `--on-duplicate`'s values, named in `--help` and in the error for any other.
fn on_duplicate_parser() -> impl clap::builder::TypedValueParser<Value = DuplicatePolicy> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(DuplicatePolicy::NAMES).try_map(|name| name.parse::<DuplicatePolicy>())
}

/// `spec` with `--on-duplicate` applied (before `--set`, which can still override it).
fn with_on_duplicate(mut spec: TrainSpec, on_duplicate: Option<DuplicatePolicy>) -> TrainSpec {
    if let Some(policy) = on_duplicate {
        spec.data.on_duplicate = policy;
    }
    spec
}

/// Tells what loading did to the files beyond dropping exact duplicates: a banner line
/// skipped, conflicting rows resolved by the duplicate policy.
fn print_load_notes(data: &Dataset, spec: &TrainSpec) {
    for s in &data.symbols {
        if let Some(banner) = &s.report.banner {
            eprintln!("  {}: skipped the line before the header: {banner:?}", s.bars.symbol);
        }
        if s.report.duplicates_resolved > 0 {
            eprintln!(
                "  {}: {} row(s) dropped for sharing a time with the row kept but not its values \
                 (data.on_duplicate = {})",
                s.bars.symbol, s.report.duplicates_resolved, spec.data.on_duplicate
            );
        }
    }
}

/// `spec` with the `--set KEY=VALUE` overrides applied, validated.
fn with_overrides(mut spec: TrainSpec, overrides: &[String]) -> anyhow::Result<TrainSpec> {
    if !overrides.is_empty() {
        let mut pairs = Vec::with_capacity(overrides.len());
        for kv in overrides {
            let Some(pair) = kv.split_once('=') else {
                bail!("--set {kv:?}: expected KEY=VALUE, e.g. ppo.learning_rate=1e-4");
            };
            pairs.push(pair);
        }
        spec = spec.with_overrides(pairs).context("--set")?;
    }
    spec.validate()?;
    Ok(spec)
}

struct Terminal {
    bar: ProgressBar,
    phase: Option<training::Phase>,
    cancel: Arc<AtomicBool>,
}

impl Observer for Terminal {
    fn progress(&mut self, p: &Progress) {
        if self.phase != Some(p.phase) {
            self.phase = Some(p.phase);
            let phase =
                serde_json::to_value(p.phase).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            self.bar.println(format!("[{phase}] {:.0}% · {}", p.percent, p.message));
        }
        self.bar.set_position(p.steps_done.min(p.total_steps));
        let mut msg = format!("{:>7.0} steps/s · episode reward {:+.3}", p.steps_per_sec, p.episode_reward);
        if let Some(u) = &p.update {
            msg += &format!(
                " · entropy {:.3} · kl {:.4} · clip {:.2} · ev {:.2}",
                u.entropy, u.approx_kl, u.clip_fraction, u.explained_variance
            );
        }
        if let Some(v) = p.best_validation_sharpe {
            msg += &format!(" · best val Sharpe {v:+.2}");
        }
        self.bar.set_message(msg);
    }

    fn stop_requested(&mut self) -> Option<StopReason> {
        self.cancel.load(Ordering::Relaxed).then_some(StopReason::Cancelled)
    }

    fn checkpoint(&mut self, _checkpoint: &Checkpoint) {}
}

fn backtest(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let model = args.model.as_deref().map(read_model_dir).transpose()?;
    let spec = match &model {
        Some((_, spec)) => TrainSpec { symbols: args.symbols.clone(), ..spec.clone() },
        None => TrainSpec::new(args.symbols.clone(), parse_feature_sets(&args.features)?, 1, 1),
    };
    let spec = with_overrides(with_on_duplicate(spec, args.on_duplicate), &args.overrides)?;
    let catalog = Catalog::open_or_embedded(args.data_dir.as_deref())?;
    let data = Dataset::load(&spec, &catalog)?;
    print_load_notes(&data, &spec);
    let (evaluation, label) = match (&model, args.policy) {
        (Some(((agent, info), _)), _) => {
            let dir = args.model.as_deref().unwrap_or(std::path::Path::new("")).display();
            if info.features != data.feature_names || info.obs_dim != agent.obs_dim() {
                bail!(
                    "the model in {dir} reads the features {:?}; these bars give {:?} (microstructure columns \
                     depend on the data having trade counts and taker volumes)",
                    info.features,
                    data.feature_names
                );
            }
            let want = data.symbols.first().map_or(0, |s| s.market.obs_dim(spec.env.window));
            if want != agent.obs_dim() || agent.n_actions() != spec.env.n_actions() {
                bail!(
                    "the model in {dir} takes {} inputs and {} actions; with env.window = {} and env.long_only = {} \
                     these bars give {want} inputs and {} actions",
                    agent.obs_dim(),
                    agent.n_actions(),
                    spec.env.window,
                    spec.env.long_only,
                    spec.env.n_actions()
                );
            }
            let evaluation = skippy_trainer::evaluation::evaluate(agent, &data, &spec.env, &spec.evaluation, spec.seed);
            (evaluation, "model".to_string())
        }
        (None, Some(policy)) => {
            let evaluation =
                skippy_trainer::evaluation::evaluate_fixed(policy, &data, &spec.env, &spec.evaluation, spec.seed);
            (evaluation, serde_json::to_value(policy)?.as_str().unwrap_or("fixed").to_string())
        }
        (None, None) => bail!("name a --policy or a --model"),
    };
    if args.json {
        let out = serde_json::json!({
            "policy": args.policy,
            "model": args.model,
            "spec": spec,
            "evaluation": evaluation,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let what = match &args.model {
            Some(dir) => format!("the model in {}", dir.display()),
            None => format!("fixed policy {label}"),
        };
        println!("{what} on {}, scored on the test bars as a job's model is:", spec.symbols.join(", "));
        print!("{}", report::labelled_table(&evaluation, &label));
        println!("total log return of the portfolio: {:+.6}", evaluation.portfolio.strategy.total_log_return);
    }
    Ok(ExitCode::SUCCESS)
}

/// A trained model's networks and spec, from a run's output directory.
fn read_model_dir(
    dir: &std::path::Path,
) -> anyhow::Result<((skippy_trainer::ppo::ActorCritic, artifacts::ModelInfo), TrainSpec)> {
    let path = dir.join(artifacts::names::MODEL);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let model = artifacts::read_model(&bytes).with_context(|| format!("{}", path.display()))?;
    let path = dir.join(artifacts::names::SPEC);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let spec: TrainSpec = serde_json::from_str(&text).with_context(|| format!("{} is not a spec", path.display()))?;
    Ok((model, spec))
}

fn train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let spec = build_spec(&args)?;
    let catalog = Catalog::open_or_embedded(args.data_dir.as_deref())?;
    eprintln!(
        "training PPO on {} with {} features for {} steps (seed {}), data: {}",
        spec.symbols.join(", "),
        spec.features.iter().map(|f| f.name()).collect::<Vec<_>>().join(","),
        spec.total_steps,
        spec.seed,
        catalog.describe()
    );
    let data = Dataset::load(&spec, &catalog)?;
    for s in &data.symbols {
        let left_out = data.calendar.left_out.get(&s.bars.symbol).copied().unwrap_or_default();
        eprintln!(
            "  {}: {} bars, {} gaps, {} duplicates dropped{}",
            s.bars.symbol,
            s.bars.len() + left_out,
            s.report.gaps.len(),
            s.report.duplicates_dropped,
            if left_out > 0 { format!(", {left_out} at times another symbol lacks left out") } else { String::new() }
        );
    }
    print_load_notes(&data, &spec);
    if let Some(s) = data.symbols.first() {
        let fold = if spec.split.is_walk_forward() {
            format!(" (walk-forward fold {} of {})", spec.split.fold, spec.split.folds)
        } else {
            String::new()
        };
        eprintln!(
            "  {} shared bar times: train {} / validation {} / test {} bars, embargo {}{fold}",
            data.calendar.bars,
            s.segments.train.len(),
            s.segments.validation.len(),
            s.segments.test.len(),
            s.segments.embargo
        );
    }
    let resume = match &args.resume {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
            Some(Checkpoint::from_bytes(&bytes).with_context(|| format!("checkpoint {}", path.display()))?)
        }
        None => None,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
        })
        .context("installing the Ctrl+C handler")?;
    }
    let bar = ProgressBar::new(spec.total_steps);
    bar.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos:>9}/{len} steps {elapsed_precise} · {msg}")
            .expect("valid template")
            .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    let mut observer = Terminal { bar: bar.clone(), phase: None, cancel };
    let opts = RunOptions {
        max_duration: args.max_duration_secs.map(Duration::from_secs_f64),
        threads: args.threads,
        ..RunOptions::default()
    };
    let outcome = training::train(&spec, &data, resume, &opts, &mut observer)?;
    bar.finish_and_clear();
    let written = artifacts::write(&args.out, &spec, &data, &outcome)
        .with_context(|| format!("writing artifacts to {}", args.out.display()))?;
    match (&outcome.evaluation, args.json) {
        (Some(_), true) => print!("{}", std::fs::read_to_string(args.out.join(artifacts::names::METRICS))?),
        (Some(report), false) => {
            print!("{}", report::metrics_table(report));
            if let Some(best) = &outcome.checkpoint.best {
                let looks = outcome.checkpoint.curve.iter().filter(|p| p.validation_sharpe.is_some()).count();
                println!(
                    "kept model: validation Sharpe {:+.2} at {} steps (the maximum of {looks} validations)",
                    best.validation_sharpe, best.steps
                );
            }
            if outcome.stop == StopReason::DurationLimit {
                println!(
                    "stopped by the duration limit after {} of {} steps",
                    outcome.checkpoint.steps_done, spec.total_steps
                );
            }
            println!("artifacts ({}): {}", written.len(), args.out.display());
        }
        (None, _) => {
            eprintln!(
                "training cancelled after {} steps; checkpoint kept at {}",
                outcome.checkpoint.steps_done,
                args.out.join(artifacts::names::CHECKPOINT).display()
            );
            return Ok(ExitCode::from(130));
        }
    }
    Ok(ExitCode::SUCCESS)
}
