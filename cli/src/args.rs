//! The command line of `skippy-train`: every command, flag and environment variable, and the
//! parsers of flag values (durations, `KEY=VALUE` overrides, job states).

use std::fmt;
use std::path::PathBuf;

use clap::builder::FalseyValueParser;
use clap::{Args, Parser, Subcommand};
use skippy_proto::v1::JobState;

/// The exit codes, as `--help` shows them (the library docs carry the same table).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    the job is DONE, or the command succeeded
  1    the job FAILED, or a scheduler or transport error
  2    usage error (bad flag or value)
  3    the job was CANCELLED
  4    no such job (or artifact)
  130  interrupted while watching (the job keeps running)";

/// Submit, watch and inspect PPO training jobs on a skippy-train scheduler.
#[derive(Debug, Parser)]
#[command(name = "skippy-train", version, about, long_about = None, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes (each may also come from its environment variable).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The scheduler's gRPC URL.
    #[arg(long, global = true, env = "SKIPPY_SCHEDULER", default_value = "http://127.0.0.1:50051")]
    pub scheduler: String,
    /// The scheduler's client secret, sent as `authorization: Bearer <secret>` (never printed).
    #[arg(long, global = true, env = "ADMIN_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub admin_secret: Option<Secret>,
    /// PEM certificate(s) to trust for an https:// scheduler (a private CA or a self-signed
    /// scheduler certificate), besides the system's roots.
    #[arg(long, global = true, env = "SKIPPY_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Machine-readable output: one JSON object (JSON Lines while watching).
    #[arg(long, global = true, env = "SKIPPY_JSON", value_parser = FalseyValueParser::new())]
    pub json: bool,
    /// No colours (the progress bar is the only coloured output).
    #[arg(long, global = true, env = "NO_COLOR", value_parser = FalseyValueParser::new())]
    pub no_color: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a PPO training job, then watch it until it ends.
    #[command(after_help = EXIT_CODES_HELP)]
    Ppo(PpoArgs),
    /// Run one spec over seeds × walk-forward folds × configurations, fanned out over the
    /// trainers, then report whether an edge survives them (selection on validation only).
    #[command(after_help = EXIT_CODES_HELP)]
    Experiment(ExperimentArgs),
    /// One job's (or experiment's) state, progress and headline result.
    Status(JobArg),
    /// A finished job's out-of-sample metrics next to buy-and-hold, and its artifacts; an
    /// experiment's report.
    Results(JobArg),
    /// Jobs, newest first (or experiments, with --experiments).
    List(ListArgs),
    /// The first queued jobs in dispatch order and how many are queued, running jobs, and the
    /// connected trainers.
    Queue(QueueArgs),
    /// Cancel a queued or running job, or every unfinished run of an experiment.
    Cancel(JobArg),
    /// Follow a job (or an experiment's runs) live until it ends (Ctrl+C stops watching, not
    /// the job).
    #[command(after_help = EXIT_CODES_HELP)]
    Watch(JobArg),
    /// Download a job's artifacts, or an experiment's report and charts, into DIR/<id>/ (checking
    /// size and SHA-256).
    Download(DownloadArgs),
    /// Print a shell completion script: `skippy-train completions bash > /etc/bash_completion.d/skippy-train`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `skippy-train man | man -l -`.
    Man,
}

/// What `ppo` and `experiment` train: the flags of a job's spec, of each run's in an
/// experiment.
#[derive(Debug, Clone, Args)]
pub struct TrainingArgs {
    /// Environment steps to train for (in an experiment, each run's).
    #[arg(long, default_value_t = 1_000_000)]
    pub steps: u64,
    /// Catalog symbols to train one policy on, comma-separated (e.g. BTC,ETH).
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// Feature sets, comma-separated: price, microstructure.
    #[arg(long, value_delimiter = ',', default_value = "price")]
    pub features: Vec<String>,
    /// Training wall-clock budget (in an experiment, each run's): 10h, 90m, 3600s, 1h30m, a
    /// bare number of hours, or `none` (the scheduler's cap). Training stops at it and the
    /// model is still evaluated.
    #[arg(long, default_value = "10h", value_parser = parse_duration)]
    pub duration: Budget,
    /// Seed of every random choice; an experiment's first seed, the others following it
    /// (default: the scheduler draws one and records it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Higher runs first; equal priorities run first-in-first-out.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
    /// Override a hyper-parameter or any resolved spec field (of every run, in an experiment),
    /// e.g. `--set ppo.learning_rate=1e-4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
    pub overrides: Vec<(String, String)>,
    /// Submitting again with the same key returns the first job (or experiment) instead of a
    /// new one (default: a fresh key, so a retried submission never runs twice).
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `skippy-train ppo`.
#[derive(Debug, Clone, Args)]
pub struct PpoArgs {
    #[command(flatten)]
    pub training: TrainingArgs,
    /// Rows of a data file (or files of one symbol) that give one bar time different values:
    /// refuse them (the default), or keep the bar of the first or the last line (file). Sent as
    /// the override `data.on_duplicate` (a `--set` of that key wins).
    #[arg(long, value_name = "POLICY", value_parser = ["refuse", "keep-first", "keep-last"])]
    pub on_duplicate: Option<String>,
    /// Print the job id and return at once instead of watching.
    #[arg(long, conflicts_with = "local")]
    pub detach: bool,
    /// Run an in-process scheduler and trainer on loopback (store: --runs-dir), train, print the
    /// results, and shut both down.
    #[arg(long)]
    pub local: bool,
    /// With --local: the job store.
    #[arg(long, env = "SKIPPY_RUNS_DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// With --local: the market-data directory (default: the shipped sample bars).
    #[arg(long, env = "SKIPPY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// A command about one job or experiment.
#[derive(Debug, Clone, Args)]
pub struct JobArg {
    /// The job id (tr_<unix-seconds>_<8 hex>) or experiment id (ex_<unix-seconds>_<8 hex>).
    #[arg(value_name = "ID")]
    pub id: String,
}

/// `skippy-train experiment`.
#[derive(Debug, Clone, Args)]
pub struct ExperimentArgs {
    #[command(flatten)]
    pub training: TrainingArgs,
    /// Seeds per configuration and fold.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub seeds: u32,
    /// Walk-forward folds: the last 40 % of the history cut into this many consecutive test
    /// slices, each fold trained on everything before its validation slice (1: one split).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub folds: u32,
    /// A setting tried over several values, `PATH=V1,V2,…` (repeatable; the configurations
    /// are the product of the axes), e.g. `--grid ppo.learning_rate=1e-4,3e-4`.
    #[arg(long, value_name = "PATH=V1,V2", value_parser = parse_grid)]
    pub grid: Vec<(String, Vec<String>)>,
    /// Print the experiment id and return at once instead of following it.
    #[arg(long)]
    pub detach: bool,
    /// Only check the experiment with the scheduler (every run resolved, the whole experiment
    /// admitted) and print its estimate; nothing is queued.
    #[arg(long, conflicts_with = "detach")]
    pub dry_run: bool,
    /// If an edge survives, queue the champion candidate: the configuration chosen on the latest
    /// fold's validation, one job per seed on the lineage's own split, ranked in the lineage on
    /// validation as any job is (nothing is queued without an edge).
    #[arg(long)]
    pub promote: bool,
}

/// Parses `PATH=V1,V2,…` (a dotted spec path and the values to try).
pub fn parse_grid(s: &str) -> Result<(String, Vec<String>), String> {
    let (key, values) =
        parse_override(s).map_err(|_| format!("{s:?}: expected PATH=V1,V2, e.g. ppo.ent_coef=0,0.01"))?;
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return Err(format!("{s:?}: name at least one value after '='"));
    }
    Ok((key, values))
}

/// `skippy-train list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Most jobs to show (newest first).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000), conflicts_with = "all")]
    pub limit: u32,
    /// Every job, however many: follows the scheduler's pages to the end.
    #[arg(long)]
    pub all: bool,
    /// Only jobs in these states, comma-separated: queued, preflight, training, evaluating, done,
    /// failed, cancelled, or running (= preflight, training and evaluating).
    #[arg(long, value_delimiter = ',', value_parser = parse_state_filter)]
    pub state: Vec<StateFilter>,
    /// Only jobs trained on this symbol (e.g. BTC).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only the runs of this experiment (ex_…), in its order.
    #[arg(long, value_name = "EXPERIMENT_ID")]
    pub experiment: Option<String>,
    /// List experiments instead of jobs.
    #[arg(long, conflicts_with_all = ["state", "symbol", "experiment"])]
    pub experiments: bool,
}

/// `skippy-train queue`.
#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    /// Most queued jobs to show, in dispatch order (the total is always shown).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
}

/// `skippy-train download`.
#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    /// The job id, or an experiment id (ex_…).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Directory to write into; files land in DIR/<id>/.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Only these artifacts (repeatable or comma-separated; default: every artifact).
    #[arg(long = "name", value_name = "FILE", value_delimiter = ',')]
    pub names: Vec<String>,
}

/// A secret that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret made here (the local run's generated one).
    pub fn new(secret: String) -> Secret {
        Secret(secret)
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    if s.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return Err("the secret must be printable ASCII (it travels in an HTTP header)".into());
    }
    Ok(Secret(s.to_string()))
}

/// A training wall-clock budget in seconds; 0 means none beyond the scheduler's cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget(pub f64);

/// Parses a duration: `10h`, `90m`, `3600s`, `1h30m`, `2.5h`, `1d`, a bare number of hours
/// (as the REST API's `duration`), or `none` / `0` for no budget.
pub fn parse_duration(s: &str) -> Result<Budget, String> {
    let bad = || format!("invalid duration {s:?}: use e.g. 10h, 90m, 3600s, 1h30m or none");
    let t = s.trim().to_ascii_lowercase();
    if t == "none" || t == "0" {
        return Ok(Budget(0.0));
    }
    if let Ok(hours) = t.parse::<f64>() {
        let secs = hours * 3600.0;
        return if secs.is_finite() && secs > 0.0 { Ok(Budget(secs)) } else { Err(bad()) };
    }
    skippy_contract::duration::parse_seconds(&t).map(Budget).ok_or_else(bad)
}

/// Parses `KEY=VALUE` (a dotted spec path and its value, JSON or a bare string).
pub fn parse_override(s: &str) -> Result<(String, String), String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!("{s:?}: expected KEY=VALUE, e.g. ppo.learning_rate=1e-4"));
    };
    let key = key.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("{s:?}: the key must be a dotted field path such as ppo.learning_rate"));
    }
    Ok((key.to_string(), value.trim().to_string()))
}

/// One `--state` value of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    /// Exactly this state.
    One(JobState),
    /// Any state a trainer is working in: PREFLIGHT, TRAINING, EVALUATING.
    Running,
}

impl StateFilter {
    /// The job states it stands for.
    pub fn states(self) -> Vec<JobState> {
        match self {
            StateFilter::One(s) => vec![s],
            StateFilter::Running => vec![JobState::Preflight, JobState::Training, JobState::Evaluating],
        }
    }
}

/// Parses a job state name, case-insensitive, with or without the `JOB_STATE_` prefix.
pub fn parse_state_filter(s: &str) -> Result<StateFilter, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_prefix("job_state_").unwrap_or(&t);
    Ok(StateFilter::One(match t {
        "running" | "active" => return Ok(StateFilter::Running),
        "queued" => JobState::Queued,
        "preflight" => JobState::Preflight,
        "training" => JobState::Training,
        "evaluating" => JobState::Evaluating,
        "done" => JobState::Done,
        "failed" => JobState::Failed,
        "cancelled" | "canceled" => JobState::Cancelled,
        _ => {
            return Err(format!(
                "unknown state {s:?}: use queued, running, preflight, training, evaluating, done, failed or cancelled"
            ));
        }
    }))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_in_the_forms_people_type() {
        let secs = |s: &str| parse_duration(s).map(|b| b.0);
        assert_eq!(secs("10h"), Ok(36_000.0));
        assert_eq!(secs("90m"), Ok(5_400.0));
        assert_eq!(secs("3600s"), Ok(3_600.0));
        assert_eq!(secs("1h30m"), Ok(5_400.0));
        assert_eq!(secs("1h 30m 15s"), Ok(5_415.0));
        assert_eq!(secs("2.5h"), Ok(9_000.0));
        assert_eq!(secs("10 hours"), Ok(36_000.0));
        assert_eq!(secs("1d"), Ok(86_400.0));
        assert_eq!(secs("0.1"), Ok(360.0));
        assert_eq!(secs("none"), Ok(0.0));
        assert_eq!(secs("0"), Ok(0.0));
        for bad in ["", "h", "10x", "-1h", "1e400", "ten hours", "0m", "1h-5m"] {
            assert!(secs(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            parse_duration("10x"),
            Err("invalid duration \"10x\": use e.g. 10h, 90m, 3600s, 1h30m or none".into())
        );
    }

    #[test]
    fn overrides_are_key_value_pairs() {
        assert_eq!(parse_override("ppo.learning_rate=1e-4"), Ok(("ppo.learning_rate".into(), "1e-4".into())));
        assert_eq!(parse_override("env.note=a=b"), Ok(("env.note".into(), "a=b".into())));
        assert!(parse_override("ppo.learning_rate").is_err());
        assert!(parse_override("=1").is_err());
        assert!(parse_override("a b=1").is_err());
    }

    #[test]
    fn state_filters() {
        assert_eq!(parse_state_filter("QUEUED"), Ok(StateFilter::One(JobState::Queued)));
        assert_eq!(parse_state_filter("job_state_done"), Ok(StateFilter::One(JobState::Done)));
        assert_eq!(parse_state_filter("canceled"), Ok(StateFilter::One(JobState::Cancelled)));
        assert_eq!(
            parse_state_filter("running").map(StateFilter::states),
            Ok(vec![JobState::Preflight, JobState::Training, JobState::Evaluating])
        );
        assert!(parse_state_filter("sleeping").is_err());
    }

    #[test]
    fn ppo_flags_parse_into_a_job_request() {
        let cli = Cli::try_parse_from([
            "skippy-train",
            "ppo",
            "--steps",
            "1000000",
            "--symbols",
            "BTC,ETH",
            "--features",
            "price,microstructure",
            "--duration",
            "90m",
            "--priority",
            "-2",
            "--set",
            "ppo.learning_rate=1e-4",
            "--set",
            "env.cost=0.001",
        ])
        .unwrap();
        let Command::Ppo(p) = cli.command else { panic!("not ppo") };
        assert_eq!(p.training.symbols, ["BTC", "ETH"]);
        assert_eq!(p.training.features, ["price", "microstructure"]);
        assert_eq!(p.training.duration, Budget(5_400.0));
        assert_eq!(p.training.priority, -2);
        assert_eq!(p.training.overrides.len(), 2);
        assert_eq!(p.on_duplicate, None);
        assert!(!p.detach && !p.local);
    }

    #[test]
    fn on_duplicate_takes_a_policy_name() {
        let ppo = |extra: &[&str]| Cli::try_parse_from([&["skippy-train", "ppo", "--symbols", "BTC"], extra].concat());
        let cli = ppo(&["--on-duplicate", "keep-last"]).unwrap();
        let Command::Ppo(p) = cli.command else { panic!("not ppo") };
        assert_eq!(p.on_duplicate.as_deref(), Some("keep-last"));
        let err = ppo(&["--on-duplicate", "keep_last"]).expect_err("not a policy").to_string();
        assert!(err.contains("[possible values: refuse, keep-first, keep-last]"), "{err}");
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let cli = Cli::try_parse_from(["skippy-train", "--admin-secret", "hunter2", "queue"]).unwrap();
        assert_eq!(cli.global.admin_secret.as_ref().map(Secret::expose), Some("hunter2"));
        assert!(!format!("{cli:?}").contains("hunter2"));
    }

    #[test]
    fn usage_errors_are_refused_by_clap() {
        assert!(Cli::try_parse_from(["skippy-train", "ppo"]).is_err(), "--symbols is required");
        assert!(Cli::try_parse_from(["skippy-train", "ppo", "--symbols", "BTC", "--detach", "--local"]).is_err());
        assert!(Cli::try_parse_from(["skippy-train", "list", "--limit", "0"]).is_err());
        assert!(Cli::try_parse_from(["skippy-train", "ppo", "--symbols", "BTC", "--set", "x"]).is_err());
    }
}
