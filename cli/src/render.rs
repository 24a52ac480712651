//! Every human-readable line and table the CLI prints, as pure functions of the protocol's
//! messages (and of "now" where an age is shown), so each is tested as an exact string.

use std::fmt::Write as _;

use skippy_proto::v1 as pb;
use skippy_proto::v1::JobState;

use crate::metrics::{Evaluation, MetricsFile};
use crate::view::state_name;

/// The line that opens a watch.
pub const WATCHING: &str = "⏳ Watching job progress (Ctrl+C to exit)...";

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate rounded to a whole number, grouped: `12345.6` → `12,346`.
pub fn rate(x: f64) -> String {
    if x.is_finite() && x > 0.0 { count(x.round() as u64) } else { "0".to_string() }
}

/// A training budget in words: `10 hours`, `1 hour 30 minutes`, `45 seconds`.
pub fn human_duration(secs: f64) -> String {
    if !(secs.is_finite() && secs > 0.0) {
        return "no limit (the scheduler's cap)".to_string();
    }
    if secs < 1.0 {
        return format!("{secs:.1} seconds");
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let unit = |n: u64, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
    let parts: Vec<String> = [(h, "hour"), (m, "minute"), (s, "second")]
        .into_iter()
        .filter(|&(n, _)| n > 0)
        .map(|(n, one)| unit(n, one))
        .collect();
    parts.join(" ")
}

/// Elapsed time as the watch lines show it: `0m`, `47m`, `10h 3m` (whole minutes, rounded down).
pub fn elapsed(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    if minutes < 60 { format!("{minutes}m") } else { format!("{}h {}m", minutes / 60, minutes % 60) }
}

/// A short age: `12s`, `3m`, `2h 5m`, `3d 4h`.
pub fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A byte count: `512 B`, `12.3 KiB`, `4.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A unix-ms time in UTC to the second, `-` for 0.
pub fn utc(ms: i64) -> String {
    if ms <= 0 {
        return "-".to_string();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| format!("{ms} ms"), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// A unix-ms time in UTC to the minute, for tables.
fn utc_minute(ms: i64) -> String {
    if ms <= 0 {
        return "-".to_string();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| format!("{ms} ms"), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// Progress as a whole percent, rounded down (99.6% is not done).
pub fn percent(p: f64) -> String {
    let p = if p.is_finite() { p.clamp(0.0, 100.0) } else { 0.0 };
    format!("{}%", p.floor() as u32)
}

/// The mark of a state in watch lines.
pub fn state_mark(state: i32) -> &'static str {
    match JobState::try_from(state) {
        Ok(JobState::Queued) => "🕒",
        Ok(JobState::Preflight) => "🔍",
        Ok(JobState::Training) => "🏃",
        Ok(JobState::Evaluating) => "📊",
        Ok(JobState::Done) => "✅",
        Ok(JobState::Failed) => "❌",
        Ok(JobState::Cancelled) => "🚫",
        _ => "❔",
    }
}

/// What a state line says when the event carries no message.
pub fn default_message(state: i32) -> &'static str {
    match JobState::try_from(state) {
        Ok(JobState::Queued) => "waiting for a trainer",
        Ok(JobState::Preflight) => "validating inputs",
        Ok(JobState::Training) => "PPO training in progress",
        Ok(JobState::Evaluating) => "evaluating results",
        Ok(JobState::Done) => "complete",
        Ok(JobState::Failed) => "failed",
        Ok(JobState::Cancelled) => "cancelled",
        _ => "",
    }
}

/// Whether a state is final.
pub fn is_terminal(state: i32) -> bool {
    matches!(JobState::try_from(state), Ok(JobState::Done | JobState::Failed | JobState::Cancelled))
}

/// One watch line: `🔍 [PREFLIGHT] 5% • validating inputs • 0m elapsed`.
pub fn phase_line(state: i32, pct: f64, message: &str, elapsed_ms: i64) -> String {
    let message = if message.trim().is_empty() { default_message(state) } else { message.trim() };
    format!(
        "{} [{}] {} • {} • {} elapsed",
        state_mark(state),
        state_name(state),
        percent(pct),
        message,
        elapsed(elapsed_ms)
    )
}

/// The time `remaining` steps take at `steps_per_sec`: `~3m left` (as [`age`] writes it; `~0s left`
/// never: under a second is `~1s left`); none without a speed or with nothing left.
pub fn time_left(remaining: u64, steps_per_sec: f64) -> Option<String> {
    if remaining == 0 || !(steps_per_sec.is_finite() && steps_per_sec > 0.0) {
        return None;
    }
    let ms = (remaining as f64 / steps_per_sec * 1000.0).min(i64::MAX as f64) as i64;
    Some(format!("~{} left", age(ms.max(1000))))
}

/// The progress bar's message: speed, the time left at that speed (`remaining` steps), and
/// training diagnostics.
pub fn bar_message(steps_per_sec: f64, remaining: u64, stats: Option<&pb::TrainingStats>) -> String {
    let mut msg = format!("{} steps/s", rate(steps_per_sec));
    if let Some(left) = time_left(remaining, steps_per_sec) {
        let _ = write!(msg, " • {left}");
    }
    if let Some(s) = stats {
        let _ = write!(msg, " • episode reward {:+.3}", s.episode_reward);
        if let Some(v) = s.best_validation_sharpe {
            let _ = write!(msg, " • best validation Sharpe {v:+.2}");
        }
    }
    msg
}

/// What `ppo` says before submitting.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// Steps asked for.
    pub steps: u64,
    /// Symbols.
    pub symbols: &'a [String],
    /// Feature sets.
    pub features: &'a [String],
    /// Training budget in seconds (0: none).
    pub budget_secs: f64,
}

/// `🚀 Starting PPO training job...` and what it will train.
pub fn header(h: &Header<'_>) -> String {
    format!(
        "🚀 Starting PPO training job...\n   Duration: {}\n   Symbols: {}\n   Features: {}\n   Steps: {}\n",
        human_duration(h.budget_secs),
        h.symbols.join(", "),
        h.features.join(", "),
        count(h.steps)
    )
}

/// The answer to a submission: the job id and where it stands.
pub fn submitted(job: &pb::Job, created: bool) -> String {
    let mut out = if created {
        format!("✅ Job created: {}\n", job.id)
    } else {
        format!("✅ Job already submitted with this idempotency key: {}\n", job.id)
    };
    let position = match JobState::try_from(job.state) {
        Ok(JobState::Queued) if job.queue_position > 0 => job.queue_position.to_string(),
        Ok(JobState::Queued) => "queued".to_string(),
        _ if is_terminal(job.state) => format!("finished ({})", state_name(job.state)),
        _ => "Processing".to_string(),
    };
    let _ = writeln!(out, "   Queue position: {position}");
    out
}

/// `+0.44 Sharpe over buy-and-hold [-5.10, +5.66], not significant`: the Sharpe difference
/// against the baseline on the same test bars, with its paired bootstrap interval.
pub fn improvement(r: &pb::ResultSummary) -> String {
    let Some(i) = &r.improvement else { return "not recorded (a job finished before it was)".to_string() };
    let over = match i.over_generation {
        0 => "buy-and-hold".to_string(),
        g => format!("generation {g}"),
    };
    let verdict = if i.significant { "significant" } else { "not significant" };
    format!("{:+.2} Sharpe over {over} [{:+.2}, {:+.2}], {verdict}", i.sharpe_difference, i.lo, i.hi)
}

/// The summary after a DONE job.
pub fn summary(job: &pb::Job) -> String {
    let mut out = String::from("\n✅ Training completed successfully!\n");
    let Some(r) = &job.result else {
        out.push_str("   (the scheduler reported no result summary)\n");
        return out;
    };
    let _ = writeln!(
        out,
        "   Sharpe Ratio: {:.4} (buy-and-hold {:.4} on the same test bars)",
        r.sharpe, r.buy_and_hold_sharpe
    );
    let champion = if r.champion { " (new champion)" } else { "" };
    let _ = writeln!(out, "   Generation: {}{champion}", r.generation);
    let _ = writeln!(out, "   Improvement: {}", improvement(r));
    if r.stop_reason == "duration_limit" {
        let _ = writeln!(
            out,
            "   ⏱  Training stopped at its duration budget after {} of {} steps",
            count(job.steps_done),
            count(job.total_steps)
        );
    }
    if !r.edge_significant {
        out.push_str("   ⚠️  Not a significant edge: the Sharpe's confidence interval includes 0\n");
    }
    out
}

/// The pointer to `results` after a DONE job.
pub fn results_hint(id: &str) -> String {
    format!("\n💡 Use: skippy-train results {id} for detailed results\n")
}

/// What a FAILED job prints after its last state line.
pub fn failed(job: &pb::Job) -> String {
    let error = if job.error.trim().is_empty() { job.message.trim() } else { job.error.trim() };
    let error = if error.is_empty() { "no reason given" } else { error };
    format!("\n❌ Training failed: {error}\n")
}

/// What a CANCELLED job prints after its last state line.
pub fn cancelled(id: &str) -> String {
    format!("\n🚫 Job {id} was cancelled.\n")
}

/// What Ctrl+C prints while watching.
pub fn stopped_watching(id: &str) -> String {
    format!("⏹  Stopped watching; job {id} keeps running. Resume with: skippy-train watch {id}")
}

/// The answer to `cancel`.
pub fn cancel(job: &pb::Job) -> String {
    match JobState::try_from(job.state) {
        Ok(JobState::Cancelled) => format!("🚫 Job {} cancelled.\n", job.id),
        _ => format!(
            "🚫 Cancelling job {} ({}): its trainer stops at the next update. Follow it with: skippy-train watch {}\n",
            job.id,
            state_name(job.state),
            job.id
        ),
    }
}

/// `status`: one job in full.
pub fn status(job: &pb::Job, now_ms: i64) -> String {
    let mut out = format!("Job {}\n", job.id);
    let message = if job.message.trim().is_empty() { default_message(job.state) } else { job.message.trim() };
    let _ = writeln!(
        out,
        "   State: {} {} {} • {}",
        state_mark(job.state),
        state_name(job.state),
        percent(job.percent),
        message
    );
    if let Some(spec) = &job.spec {
        let _ = writeln!(out, "   Symbols: {}", spec.symbols.join(", "));
        let _ = writeln!(out, "   Features: {}", spec.features.join(", "));
        let _ = writeln!(out, "   Duration budget: {}", human_duration(spec.max_duration_seconds));
        let seed = spec.seed.map_or_else(|| "drawn by the scheduler".to_string(), |s| s.to_string());
        let _ = writeln!(out, "   Priority: {} • Seed: {seed}", spec.priority);
    }
    let mut steps = format!("   Steps: {} / {}", count(job.steps_done), count(job.total_steps));
    if job.steps_per_sec > 0.0 && !is_terminal(job.state) {
        let _ = write!(steps, " • {} steps/s", rate(job.steps_per_sec));
    }
    let _ = writeln!(out, "{steps}");
    if job.state == JobState::Queued as i32 && job.queue_position > 0 {
        let _ = writeln!(out, "   Queue position: {}", job.queue_position);
    }
    if !job.trainer_id.is_empty() {
        let _ = writeln!(out, "   Trainer: {} (attempt {})", job.trainer_id, job.attempt);
    } else if job.attempt > 1 {
        let _ = writeln!(out, "   Attempts: {}", job.attempt);
    }
    let _ = writeln!(out, "   Created: {}", utc(job.created_ms));
    if job.started_ms > 0 {
        let _ = writeln!(out, "   Started: {}", utc(job.started_ms));
    }
    if job.finished_ms > 0 {
        let _ = writeln!(out, "   Finished: {}", utc(job.finished_ms));
    }
    let since = if job.started_ms > 0 { job.started_ms } else { job.created_ms };
    let until = if job.finished_ms > 0 { job.finished_ms } else { now_ms };
    if since > 0 {
        let _ = writeln!(out, "   Elapsed: {}", elapsed(until - since));
    }
    if let Some(r) = &job.result {
        let _ = writeln!(
            out,
            "   Result: Sharpe {:.4} (buy-and-hold {:.4}) • Generation {} • Improvement {}{}",
            r.sharpe,
            r.buy_and_hold_sharpe,
            r.generation,
            improvement(r),
            if r.champion { " • champion" } else { "" }
        );
    }
    if !job.error.trim().is_empty() {
        let _ = writeln!(out, "   Error: {}", job.error.trim());
    }
    if !job.history.is_empty() {
        out.push_str("   History:\n");
        for h in &job.history {
            let line = format!("     {}  {:<10}  {}", utc(h.at_ms), state_name(h.state), h.reason);
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

/// `list`: one job per row, newest first.
pub fn list(jobs: &[pb::Job]) -> String {
    if jobs.is_empty() {
        return "no jobs\n".to_string();
    }
    let mut out = format!(
        "{:<24} {:<10} {:>4} {:>13} {:>8}  {:<16} {}\n",
        "ID", "STATE", "DONE", "STEPS", "SHARPE", "SYMBOLS", "CREATED"
    );
    for j in jobs {
        let sharpe = j.result.as_ref().map_or_else(|| "-".to_string(), |r| format!("{:+.2}", r.sharpe));
        let symbols = j.spec.as_ref().map(|s| s.symbols.join(",")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<24} {:<10} {:>4} {:>13} {:>8}  {:<16} {}",
            j.id,
            state_name(j.state),
            percent(j.percent),
            count(j.total_steps),
            sharpe,
            symbols,
            utc_minute(j.created_ms)
        );
    }
    out
}

/// `queue`: queued jobs with positions, running jobs with trainer and progress, the trainers.
pub fn queue(q: &pb::GetQueueResponse, now_ms: i64) -> String {
    let mut out = String::new();
    // The total, whatever the page holds (an older scheduler sends no total: the page is all).
    let total = (q.total_queued as usize).max(q.queued.len());
    if q.queued.is_empty() && total == 0 {
        out.push_str("Queued: none\n");
    } else {
        let _ = writeln!(out, "Queued ({total}):");
        let _ =
            writeln!(out, "  {:>3}  {:<24} {:>8} {:>13}  {:<16} WAITING", "POS", "ID", "PRIORITY", "STEPS", "SYMBOLS");
        for j in &q.queued {
            let symbols = j.spec.as_ref().map(|s| s.symbols.join(",")).unwrap_or_default();
            let priority = j.spec.as_ref().map_or(0, |s| s.priority);
            let _ = writeln!(
                out,
                "  {:>3}  {:<24} {:>8} {:>13}  {:<16} {}",
                j.queue_position,
                j.id,
                priority,
                count(j.total_steps),
                symbols,
                age(now_ms - j.created_ms)
            );
        }
        if total > q.queued.len() {
            let _ = writeln!(
                out,
                "  … and {} more (skippy-train queue --limit N shows up to 1000; skippy-train list --state queued --all \
                 lists them all)",
                total - q.queued.len()
            );
        }
    }
    let trainer_name = |id: &str| {
        let name = q.trainers.iter().find(|t| t.trainer_id == id).map(|t| t.name.as_str()).unwrap_or("");
        let short: String = id.chars().take(8).collect();
        if name.is_empty() { short } else { format!("{name} ({short})") }
    };
    if q.running.is_empty() {
        out.push_str("Running: none\n");
    } else {
        let _ = writeln!(out, "Running ({}):", q.running.len());
        let _ = writeln!(out, "  {:<24} {:<10} {:>4} {:>21} {:>8}  TRAINER", "ID", "STATE", "DONE", "STEPS", "STEPS/S");
        for j in &q.running {
            let _ = writeln!(
                out,
                "  {:<24} {:<10} {:>4} {:>21} {:>8}  {}",
                j.id,
                state_name(j.state),
                percent(j.percent),
                format!("{}/{}", count(j.steps_done), count(j.total_steps)),
                rate(j.steps_per_sec),
                trainer_name(&j.trainer_id)
            );
        }
    }
    if q.trainers.is_empty() {
        out.push_str("Trainers: none connected (queued jobs wait until a skippy-trainer connects)\n");
    } else {
        let _ = writeln!(out, "Trainers ({}):", q.trainers.len());
        let _ = writeln!(out, "  {:<20} {:<10} {:>4} {:>8}  LAST SEEN", "NAME", "ID", "JOBS", "STEPS/S");
        for t in &q.trainers {
            let short: String = t.trainer_id.chars().take(8).collect();
            let _ = writeln!(
                out,
                "  {:<20} {:<10} {:>4} {:>8}  {} ago",
                t.name,
                short,
                t.job_ids.len(),
                rate(t.steps_per_sec),
                age(now_ms - t.last_seen_ms)
            );
            if !t.drained.is_empty() {
                let _ = writeln!(out, "    ⛔ DRAINED: {}", t.drained);
            }
        }
    }
    out
}

/// `results`: the headline, the metrics table and the artifacts (with a pointer to `download`
/// when `download_hint`: not for `--local`, whose scheduler is gone afterwards).
pub fn results(r: &pb::GetResultsResponse, metrics: Option<&MetricsFile>, download_hint: bool) -> String {
    let default_job = pb::Job::default();
    let job = r.job.as_ref().unwrap_or(&default_job);
    let mut out = format!("📊 Results of job {}\n", job.id);
    if let Some(spec) = &job.spec {
        let _ = writeln!(
            out,
            "   {} • Symbols: {} • Features: {}",
            state_name(job.state),
            spec.symbols.join(", "),
            spec.features.join(", ")
        );
    }
    if let Some(s) = &job.result {
        let _ = writeln!(
            out,
            "   Sharpe Ratio: {:.4} • Generation: {}{} • Improvement: {}",
            s.sharpe,
            s.generation,
            if s.champion { " (champion)" } else { "" },
            improvement(s)
        );
    }
    match metrics {
        Some(m) => {
            if let (Some(done), Some(total)) = (m.steps_done, m.total_steps) {
                let mut line = format!("   Trained {} of {} steps", count(done), count(total));
                if let Some(reason) = &m.stop_reason {
                    let _ = write!(line, " ({})", reason.replace('_', " "));
                }
                if let (Some(steps), Some(v)) = (m.kept_model_steps, m.kept_model_validation_sharpe) {
                    let _ = write!(line, "; kept the model of step {} (validation Sharpe {v:+.2}", count(steps));
                    match m.validations {
                        Some(n) if n > 1 => {
                            let _ = write!(line, ": the maximum of {n} validations)");
                        }
                        _ => line.push(')'),
                    }
                }
                let _ = writeln!(out, "{line}");
            }
            match &m.evaluation {
                Some(e) => {
                    out.push('\n');
                    out.push_str(&metrics_table(e));
                }
                None => out.push_str("\n   No out-of-sample evaluation: training stopped before it.\n"),
            }
        }
        None if r.metrics_json.trim().is_empty() => out.push_str("\n   No metrics.json stored for this job.\n"),
        None => {
            out.push_str("\n   metrics.json (not in a format this CLI can tabulate):\n");
            out.push_str(&r.metrics_json);
            if !r.metrics_json.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out.push('\n');
    out.push_str(&artifacts(&r.artifacts));
    if download_hint && !r.artifacts.is_empty() {
        let _ = writeln!(out, "\n💡 Use: skippy-train download {} to fetch them", job.id);
    }
    out
}

/// The artifact list with sizes.
pub fn artifacts(list: &[pb::Artifact]) -> String {
    if list.is_empty() {
        return "Artifacts: none\n".to_string();
    }
    let width = list.iter().map(|a| a.name.len()).max().unwrap_or(0).max(8);
    let mut out = format!("Artifacts ({}):\n", list.len());
    for a in list {
        let sha: String = a.sha256.chars().take(12).collect();
        let _ = writeln!(out, "   {:<width$}  {:>10}  sha256 {sha}…", a.name, bytes(a.size));
    }
    out
}

/// The out-of-sample table ([`skippy_contract::results::table`], as `skippy-trainer train`
/// prints it) and the test segment's dates.
pub fn metrics_table(e: &Evaluation) -> String {
    let mut out = skippy_contract::results::table(e, "PPO");
    let (from, to) = (e.portfolio.from_ms, e.portfolio.to_ms);
    if from > 0 && to > 0 {
        let _ = writeln!(out, "test bars: {} to {}", utc_minute(from), utc_minute(to));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "tr_1754727123_a1b2c3d4";
    const T0: i64 = 1_754_727_123_000;

    fn job(state: JobState) -> pb::Job {
        pb::Job {
            id: ID.into(),
            state: state as i32,
            spec: Some(pb::JobSpec {
                algorithm: "ppo".into(),
                total_steps: 1_000_000,
                symbols: vec!["BTC".into(), "ETH".into()],
                features: vec!["price".into(), "microstructure".into()],
                seed: Some(7),
                max_duration_seconds: 36_000.0,
                ..Default::default()
            }),
            total_steps: 1_000_000,
            created_ms: T0,
            ..Default::default()
        }
    }

    fn done() -> pb::Job {
        let mut j = job(JobState::Done);
        j.percent = 100.0;
        j.steps_done = 1_000_000;
        j.started_ms = T0 + 1_000;
        j.finished_ms = T0 + 1_000 + 47 * 60_000;
        j.result = Some(pb::ResultSummary {
            sharpe: 1.2534,
            buy_and_hold_sharpe: 0.5567,
            generation: 3,
            improvement: Some(pb::Improvement {
                sharpe_difference: 0.6967,
                lo: 0.12,
                hi: 1.31,
                level: 0.95,
                significant: true,
                over_generation: 2,
            }),
            champion: true,
            stop_reason: "completed".into(),
            edge_significant: true,
        });
        j
    }

    #[test]
    fn numbers_times_and_sizes() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(human_duration(36_000.0), "10 hours");
        assert_eq!(human_duration(3_600.0), "1 hour");
        assert_eq!(human_duration(5_400.0), "1 hour 30 minutes");
        assert_eq!(human_duration(90.0), "1 minute 30 seconds");
        assert_eq!(human_duration(0.0), "no limit (the scheduler's cap)");
        assert_eq!(elapsed(0), "0m");
        assert_eq!(elapsed(59_999), "0m");
        assert_eq!(elapsed(47 * 60_000 + 59_000), "47m");
        assert_eq!(elapsed(603 * 60_000), "10h 3m");
        assert_eq!(elapsed(-5), "0m");
        assert_eq!(age(12_000), "12s");
        assert_eq!(age(3 * 3_600_000 + 5 * 60_000), "3h 5m");
        assert_eq!(age(2 * 86_400_000), "2d 0h");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(12_595), "12.3 KiB");
        assert_eq!(bytes(4 << 20), "4.0 MiB");
        assert_eq!(percent(99.6), "99%");
        assert_eq!(percent(5.0), "5%");
        assert_eq!(percent(f64::NAN), "0%");
        assert_eq!(percent(120.0), "100%");
        assert_eq!(utc(T0), "2025-08-09 08:12:03 UTC");
        assert_eq!(utc(0), "-");
    }

    #[test]
    fn the_briefs_watch_lines() {
        let line = |s: JobState, p, m, e| phase_line(s as i32, p, m, e);
        assert_eq!(
            line(JobState::Preflight, 5.0, "validating inputs", 0),
            "🔍 [PREFLIGHT] 5% • validating inputs • 0m elapsed"
        );
        assert_eq!(
            line(JobState::Training, 15.0, "PPO training in progress", 2 * 60_000),
            "🏃 [TRAINING] 15% • PPO training in progress • 2m elapsed"
        );
        assert_eq!(
            line(JobState::Evaluating, 85.0, "", 45 * 60_000),
            "📊 [EVALUATING] 85% • evaluating results • 45m elapsed"
        );
        assert_eq!(line(JobState::Done, 100.0, "complete", 47 * 60_000), "✅ [DONE] 100% • complete • 47m elapsed");
        assert_eq!(line(JobState::Failed, 40.0, "  ", 60_000), "❌ [FAILED] 40% • failed • 1m elapsed");
        assert_eq!(line(JobState::Cancelled, 12.0, "", 0), "🚫 [CANCELLED] 12% • cancelled • 0m elapsed");
        assert_eq!(WATCHING, "⏳ Watching job progress (Ctrl+C to exit)...");
        assert_eq!(
            bar_message(
                12_345.6,
                2_000_000,
                Some(&pb::TrainingStats {
                    episode_reward: -0.5,
                    best_validation_sharpe: Some(1.234),
                    ..Default::default()
                })
            ),
            "12,346 steps/s • ~2m left • episode reward -0.500 • best validation Sharpe +1.23"
        );
        assert_eq!(bar_message(0.0, 2_000_000, None), "0 steps/s", "no speed, no time left");
    }

    #[test]
    fn time_left_at_a_speed() {
        assert_eq!(time_left(3_000_000, 1_000.0).as_deref(), Some("~50m left"));
        assert_eq!(time_left(10_000_000, 1_000.0).as_deref(), Some("~2h 46m left"));
        assert_eq!(time_left(100, 1_000.0).as_deref(), Some("~1s left"), "under a second is a second");
        assert_eq!(time_left(0, 1_000.0), None, "nothing left");
        assert_eq!(time_left(1_000, 0.0), None);
        assert_eq!(time_left(1_000, f64::NAN), None);
        assert_eq!(time_left(u64::MAX, 1e-300).as_deref().map(|s| s.starts_with('~')), Some(true), "no overflow");
    }

    #[test]
    fn submission_header_and_answer() {
        let (symbols, features) =
            (["BTC".to_string(), "ETH".to_string()], ["price".to_string(), "microstructure".to_string()]);
        let h = Header { steps: 1_000_000, symbols: &symbols, features: &features, budget_secs: 36_000.0 };
        assert_eq!(
            header(&h),
            "🚀 Starting PPO training job...\n   Duration: 10 hours\n   Symbols: BTC, ETH\n   Features: price, microstructure\n   Steps: 1,000,000\n"
        );
        let mut j = job(JobState::Queued);
        j.queue_position = 3;
        assert_eq!(submitted(&j, true), format!("✅ Job created: {ID}\n   Queue position: 3\n"));
        j.state = JobState::Preflight as i32;
        assert_eq!(submitted(&j, true), format!("✅ Job created: {ID}\n   Queue position: Processing\n"));
        assert_eq!(
            submitted(&j, false),
            format!("✅ Job already submitted with this idempotency key: {ID}\n   Queue position: Processing\n")
        );
    }

    #[test]
    fn the_briefs_summary() {
        assert_eq!(
            summary(&done()),
            "\n✅ Training completed successfully!\n   Sharpe Ratio: 1.2534 (buy-and-hold 0.5567 on the same test bars)\n   \
             Generation: 3 (new champion)\n   Improvement: +0.70 Sharpe over generation 2 [+0.12, +1.31], significant\n"
        );
        assert_eq!(results_hint(ID), format!("\n💡 Use: skippy-train results {ID} for detailed results\n"));
        let mut j = done();
        let r = j.result.as_mut().unwrap();
        r.generation = 1;
        r.champion = false;
        r.improvement = Some(pb::Improvement {
            sharpe_difference: 0.44,
            lo: -5.1,
            hi: 5.66,
            level: 0.95,
            significant: false,
            over_generation: 0,
        });
        r.stop_reason = "duration_limit".into();
        r.edge_significant = false;
        j.steps_done = 400_000;
        assert_eq!(
            summary(&j),
            "\n✅ Training completed successfully!\n   Sharpe Ratio: 1.2534 (buy-and-hold 0.5567 on the same test bars)\n   \
             Generation: 1\n   Improvement: +0.44 Sharpe over buy-and-hold [-5.10, +5.66], not significant\n   \
             ⏱  Training stopped at its duration budget after 400,000 of 1,000,000 steps\n   \
             ⚠️  Not a significant edge: the Sharpe's confidence interval includes 0\n"
        );
    }

    #[test]
    fn endings() {
        let mut j = job(JobState::Failed);
        j.error = "attempt 1: unknown symbol \"DOGE\"".into();
        assert_eq!(failed(&j), "\n❌ Training failed: attempt 1: unknown symbol \"DOGE\"\n");
        assert_eq!(cancelled(ID), format!("\n🚫 Job {ID} was cancelled.\n"));
        assert_eq!(
            stopped_watching(ID),
            format!("⏹  Stopped watching; job {ID} keeps running. Resume with: skippy-train watch {ID}")
        );
        assert_eq!(cancel(&job(JobState::Cancelled)), format!("🚫 Job {ID} cancelled.\n"));
        assert_eq!(
            cancel(&job(JobState::Training)),
            format!(
                "🚫 Cancelling job {ID} (TRAINING): its trainer stops at the next update. Follow it with: skippy-train watch {ID}\n"
            )
        );
    }

    #[test]
    fn status_of_a_finished_job() {
        let mut j = done();
        j.trainer_id = "3f2a".into();
        j.attempt = 1;
        j.history = vec![
            pb::StateChange { state: JobState::Queued as i32, at_ms: T0, reason: "submitted".into() },
            pb::StateChange { state: JobState::Preflight as i32, at_ms: T0 + 1_000, reason: String::new() },
        ];
        assert_eq!(
            status(&j, T0),
            format!(
                "Job {ID}
   State: ✅ DONE 100% • complete
   Symbols: BTC, ETH
   Features: price, microstructure
   Duration budget: 10 hours
   Priority: 0 • Seed: 7
   Steps: 1,000,000 / 1,000,000
   Trainer: 3f2a (attempt 1)
   Created: 2025-08-09 08:12:03 UTC
   Started: 2025-08-09 08:12:04 UTC
   Finished: 2025-08-09 08:59:04 UTC
   Elapsed: 47m
   Result: Sharpe 1.2534 (buy-and-hold 0.5567) • Generation 3 • Improvement +0.70 Sharpe over generation 2 [+0.12, +1.31], significant • champion
   History:
     2025-08-09 08:12:03 UTC  QUEUED      submitted
     2025-08-09 08:12:04 UTC  PREFLIGHT
"
            )
        );
    }

    fn running() -> pb::Job {
        let mut r = job(JobState::Training);
        r.id = "tr_1754727000_00ff00ff".into();
        r.percent = 42.5;
        r.steps_done = 432_000;
        r.steps_per_sec = 12_345.0;
        r.trainer_id = "3f2a9c1e-aaaa".into();
        r
    }

    #[test]
    fn list_table() {
        let mut queued = job(JobState::Queued);
        queued.id = "tr_1754727200_0000abcd".into();
        assert_eq!(
            list(&[queued, running(), done()]),
            "\
ID                       STATE      DONE         STEPS   SHARPE  SYMBOLS          CREATED
tr_1754727200_0000abcd   QUEUED       0%     1,000,000        -  BTC,ETH          2025-08-09 08:12 UTC
tr_1754727000_00ff00ff   TRAINING    42%     1,000,000        -  BTC,ETH          2025-08-09 08:12 UTC
tr_1754727123_a1b2c3d4   DONE       100%     1,000,000    +1.25  BTC,ETH          2025-08-09 08:12 UTC
"
        );
        assert_eq!(list(&[]), "no jobs\n");
    }

    #[test]
    fn queue_tables() {
        let mut queued = job(JobState::Queued);
        queued.queue_position = 1;
        let q = pb::GetQueueResponse {
            queued: vec![queued],
            running: vec![running()],
            trainers: vec![pb::TrainerInfo {
                trainer_id: "3f2a9c1e-aaaa".into(),
                name: "gpu-box".into(),
                job_ids: vec!["tr_1754727000_00ff00ff".into()],
                last_seen_ms: T0 + 60_000,
                steps_per_sec: 12_345.0,
                drained: String::new(),
            }],
            // The first page of a queue of 25.
            total_queued: 25,
            next_page_token: "71".into(),
        };
        assert_eq!(
            queue(&q, T0 + 62_000),
            "\
Queued (25):
  POS  ID                       PRIORITY         STEPS  SYMBOLS          WAITING
    1  tr_1754727123_a1b2c3d4          0     1,000,000  BTC,ETH          1m
  … and 24 more (skippy-train queue --limit N shows up to 1000; skippy-train list --state queued --all lists them all)
Running (1):
  ID                       STATE      DONE                 STEPS  STEPS/S  TRAINER
  tr_1754727000_00ff00ff   TRAINING    42%     432,000/1,000,000   12,345  gpu-box (3f2a9c1e)
Trainers (1):
  NAME                 ID         JOBS  STEPS/S  LAST SEEN
  gpu-box              3f2a9c1e      1   12,345  2s ago
"
        );
        assert_eq!(
            queue(&pb::GetQueueResponse::default(), T0),
            "Queued: none\nRunning: none\nTrainers: none connected (queued jobs wait until a skippy-trainer connects)\n"
        );
    }

    const METRICS: &str = include_str!("../tests/data/metrics-two-symbols.json");
    /// What `skippy-trainer train` printed for the same run (the look the CLI keeps).
    const TRAINER_TABLE: &str = include_str!("../tests/data/metrics-two-symbols.table");

    #[test]
    fn the_metrics_table_looks_like_the_trainers() {
        let m = MetricsFile::parse(METRICS).unwrap();
        let table = metrics_table(m.evaluation.as_ref().unwrap());
        assert_eq!(table, format!("{TRAINER_TABLE}test bars: 2024-11-06 11:00 UTC to 2025-09-14 07:30 UTC\n"));
    }

    #[test]
    fn results_page() {
        let r = pb::GetResultsResponse {
            job: Some(done()),
            metrics_json: METRICS.into(),
            artifacts: vec![
                pb::Artifact { name: "metrics.json".into(), size: 5_833, sha256: "ab".repeat(32) },
                pb::Artifact { name: "model.safetensors".into(), size: 40_123, sha256: "0f".repeat(32) },
            ],
        };
        let m = MetricsFile::parse(METRICS).unwrap();
        let page = results(&r, Some(&m), true);
        let head = format!(
            "📊 Results of job {ID}
   DONE • Symbols: BTC, ETH • Features: price, microstructure
   Sharpe Ratio: 1.2534 • Generation: 3 (champion) • Improvement: +0.70 Sharpe over generation 2 [+0.12, +1.31], significant
   Trained 8,192 of 8,192 steps (completed); kept the model of step 8,192 (validation Sharpe -2.47: the maximum of 4 validations)

out-of-sample (test)"
        );
        assert!(page.starts_with(&head), "{page}");
        let tail = format!(
            "
Artifacts (2):
   metrics.json          5.7 KiB  sha256 abababababab…
   model.safetensors    39.2 KiB  sha256 0f0f0f0f0f0f…

💡 Use: skippy-train download {ID} to fetch them
"
        );
        assert!(page.ends_with(&tail), "{page}");
        assert!(page.contains("SYN-EDGE best achievable    +7.25"));
        // Results of a run stopped before evaluating, and a metrics.json of another shape.
        let stopped = MetricsFile::parse(r#"{"stop_reason":"cancelled","steps_done":10,"total_steps":20}"#).unwrap();
        assert!(results(&r, Some(&stopped), true).contains(
            "   Trained 10 of 20 steps (cancelled)\n\n   No out-of-sample evaluation: training stopped before it.\n"
        ));
        let odd = pb::GetResultsResponse { metrics_json: "[1,2]".into(), ..r.clone() };
        assert!(results(&odd, None, false).contains("metrics.json (not in a format this CLI can tabulate):\n[1,2]\n"));
    }
}
