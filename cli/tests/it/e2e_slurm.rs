//! Trainers as a SLURM job array: `deploy/slurm/skippy-trainer.sbatch` against a real scheduler.
//!
//! - The script itself, run by bash outside SLURM as an array task would run it: it refuses a
//!   token file other users can read, and otherwise runs a trainer named after its task that
//!   reads the token from the file and ends by itself once idle (exit 0). Needs no SLURM.
//! - On a real single-node SLURM (`.ci/slurm-setup.sh` sets one up from Debian's packages):
//!   `sbatch --array=1-2` of the script drains a queue of three jobs; `scancel` of the task
//!   training a job hands the job back at once with its newest checkpoint, the other task resumes
//!   it (attempt 2) and ends it exactly as an uninterrupted run of the same spec and seed; and the
//!   array ends by itself once the queue is empty (`--exit-when-idle`). Without SLURM (its
//!   commands, or a controller that answers) the test says so and passes, unless
//!   `SKIPPY_REQUIRE_SLURM=1` (as in CI) makes that a failure.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    self, Cluster, SMALL_JOB, TRAINER_TOKEN, assert_attempt_2_resumed, assert_gap_free, assert_two_attempts, binary,
    clean_command, job_of, state_name, wait_until,
};

/// The sbatch script under test.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/slurm/skippy-trainer.sbatch");

/// Steps of the job interrupted and of its uninterrupted twin: several seconds on one thread, so
/// the interrupted one is still training when its trainer is cancelled, right after its first
/// checkpoint (a checkpoint every second).
const STEPS: u64 = 100_000;

/// The seed of both: the same spec and seed give the same result.
const SEED: &str = "7";

/// How long the array's trainers wait without a job before they end.
const IDLE: &str = "5s";

/// How long one SLURM command may take to answer.
const SLURM_CALL: Duration = Duration::from_secs(30);

/// How long a job of the test may take from submission to DONE, on a slow, busy machine.
const JOB_DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn the_batch_script_refuses_a_token_file_others_can_read_and_runs_a_trainer_that_ends_when_idle() {
    let mut cluster = Cluster::start();
    let token_file = cluster.dir().join("trainer-token");
    fs::write(&token_file, format!("{TRAINER_TOKEN}\n")).expect("writing the token file");
    let url = cluster.url();
    let script = |task: &str| {
        let mut cmd = clean_command("bash");
        cmd.arg(SCRIPT)
            .env("SKIPPY_SCHEDULER", &url)
            .env("SKIPPY_TRAINER_BIN", binary("skippy-trainer"))
            .env("SKIPPY_TRAINER_TOKEN_FILE", &token_file)
            .env("SKIPPY_EXIT_WHEN_IDLE", "3s")
            .env("SLURM_ARRAY_JOB_ID", "41")
            .env("SLURM_ARRAY_TASK_ID", task)
            .env("SLURM_CPUS_PER_TASK", "2");
        cmd
    };

    fs::set_permissions(&token_file, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let refused = cluster.spawn_trainer("slurm-41_1", script("1"));
    let status = refused.wait(Duration::from_secs(30));
    let output = refused.stdout_text();
    assert_eq!(status.code(), Some(1), "a token file others can read is refused:\n{output}");
    let expected = format!("{} is open to other users (mode 644): chmod 600", token_file.display());
    assert!(output.contains(&expected), "no {expected:?} in:\n{output}");

    fs::set_permissions(&token_file, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    cluster.spawn_trainer("slurm-41_2", script("2"));
    // The scheduler accepted the token from the file and knows the trainer by its task's name.
    wait_until("trainer slurm-41_2 to ask the scheduler for work", Duration::from_secs(60), || {
        let queue = cluster.queue().ok()?;
        queue.trainers.iter().any(|t| t.name == "slurm-41_2").then_some(())
    });
    let trainer = cluster.trainer("slurm-41_2");
    let status = trainer.wait(Duration::from_secs(60));
    let log = trainer.stdout_text();
    assert_eq!(status.code(), Some(0), "the trainer ends by itself, cleanly:\n{log}");
    for line in [
        "trainer slurm-41_2 on ",
        "2 job(s) at once, 1 thread(s) each, on 2 CPU(s)",
        "trainer stopped: no job granted for 3s and none running (--exit-when-idle)",
    ] {
        assert!(log.contains(line), "no {line:?} in:\n{log}");
    }
    assert!(!log.contains("refused"), "the scheduler refused the trainer:\n{log}");
}

#[test]
fn a_slurm_array_drains_the_queue_hands_back_on_scancel_and_ends_when_idle() {
    if !slurm_is_up() {
        return;
    }
    let cluster = Cluster::start();
    let twin: Vec<String> = job_of(STEPS).into_iter().chain(["--seed".to_string(), SEED.to_string()]).collect();
    let interrupted = cluster.submit(&twin);
    let uninterrupted = cluster.submit(&twin);
    let small = cluster.submit(SMALL_JOB);
    let array = Array::submit(&cluster, 2);

    // The first task to ask takes the first job; once it has stored a checkpoint, scancel it.
    cluster.wait_for_state(&interrupted, &["TRAINING"], JOB_DEADLINE);
    wait_until("the first checkpoint of attempt 1", JOB_DEADLINE, || {
        (!cluster.checkpoint_files(&interrupted).is_empty()).then_some(())
    });
    let holder = wait_until("the trainer holding the job in the queue view", Duration::from_secs(30), || {
        let queue = cluster.queue().ok()?;
        queue.trainers.into_iter().find(|t| t.job_ids.contains(&interrupted)).map(|t| t.name)
    });
    let task = array.task_named(&holder);
    let survivor = if task == 1 { 2 } else { 1 };
    let job = cluster.job(&interrupted).expect("GetJob");
    assert_eq!(state_name(job.state), "TRAINING", "the job must still be training when its trainer is cancelled");
    assert!(job.steps_done < STEPS, "attempt 1 trained {} of {STEPS} steps before scancel", job.steps_done);
    slurm(Command::new("scancel").arg(format!("{}_{task}", array.id))).expect("scancel of one array task");

    // The cancelled trainer got SIGTERM (the script execs it), handed its job back and exited by
    // itself before SLURM's SIGKILL.
    wait_until("the cancelled task to leave squeue", Duration::from_secs(60), || {
        array.tasks_in_squeue().iter().all(|t| *t != task).then_some(())
    });
    let log = array.output(task);
    for line in ["signal received: handing back running jobs", "job completed outcome=HandedBack", "trainer stopped"] {
        assert!(log.contains(line), "no {line:?} in the output of task {task}:\n{log}");
    }

    // Every job ends DONE, the interrupted one on the other task, from its checkpoint.
    for id in [&uninterrupted, &interrupted, &small] {
        cluster.wait_for_state(id, &["DONE"], JOB_DEADLINE);
    }
    let (manifest, events) = cluster.settled(&interrupted, "DONE");
    let other = format!("slurm-{}_{survivor}", array.id);
    assert_two_attempts(&manifest, &holder, "attempt 1: handed back by trainer", &other);
    let requeued = manifest["history"][3]["reason"].as_str().expect("a reason");
    assert!(requeued.contains("(trainer shutting down)"), "handed back for another reason: {requeued}");
    assert_gap_free(&interrupted, &events);
    let resume_from = newest_checkpoint_before_attempt_2(&interrupted, &events);
    assert!(resume_from > 0 && resume_from < STEPS, "resumed from {resume_from} steps");
    assert_attempt_2_resumed(&interrupted, &events, &other, resume_from, STEPS);

    // Resumed, it ends exactly as the uninterrupted run of the same spec and seed.
    for artifact in ["model.safetensors", "equity.csv", "learning_curve.csv"] {
        let resumed = fs::read(cluster.job_dir(&interrupted).join("artifacts").join(artifact)).expect(artifact);
        let whole = fs::read(cluster.job_dir(&uninterrupted).join("artifacts").join(artifact)).expect(artifact);
        assert!(resumed == whole, "{artifact} of the resumed job differs from the uninterrupted run's");
    }
    let metrics = |id: &str| -> serde_json::Value {
        let path = cluster.job_dir(id).join("artifacts/metrics.json");
        serde_json::from_slice(&fs::read(&path).expect("metrics.json")).expect("metrics.json is JSON")
    };
    assert_eq!(metrics(&interrupted), metrics(&uninterrupted), "metrics.json of the resumed and uninterrupted runs");

    // With the queue empty, the array ends by itself: the remaining task exits 0 when idle.
    wait_until("the array to leave squeue", JOB_DEADLINE, || array.tasks_in_squeue().is_empty().then_some(()));
    let log = array.output(survivor);
    let idle_line = format!("trainer stopped: no job granted for {IDLE} and none running (--exit-when-idle)");
    assert!(log.contains(&idle_line), "no {idle_line:?} in the output of task {survivor}:\n{log}");
    let record = array.record(survivor);
    assert!(
        record.contains("JobState=COMPLETED") && record.contains("ExitCode=0:0"),
        "task {survivor} did not end COMPLETED with exit code 0: {record}"
    );
}

/// Whether a SLURM controller answers here, with a node to run on; if not, says so (a failure
/// where `SKIPPY_REQUIRE_SLURM=1`).
fn slurm_is_up() -> bool {
    let missing: Vec<&str> = ["sbatch", "squeue", "scancel", "scontrol", "sinfo"]
        .into_iter()
        .filter(|tool| support::which(&[tool]).is_none())
        .collect();
    let notice = if !missing.is_empty() {
        format!(
            "{} not found on PATH: the SLURM test did not run (apt-get install slurmctld slurmd slurm-client munge, \
             then bash .ci/slurm-setup.sh as root)",
            missing.join(", ")
        )
    } else {
        match slurm(Command::new("sinfo").args(["-h", "-o", "%T"])) {
            Ok(states) if states.lines().any(|s| matches!(s.trim(), "idle" | "mixed" | "allocated")) => return true,
            Ok(states) => format!(
                "no SLURM node is up (sinfo: {:?}): the SLURM test did not run (bash .ci/slurm-setup.sh as root)",
                states.trim()
            ),
            Err(e) => {
                format!("SLURM does not answer ({e}): the SLURM test did not run (bash .ci/slurm-setup.sh as root)")
            }
        }
    };
    support::not_run("SKIPPY_REQUIRE_SLURM", &notice);
    false
}

/// Runs a SLURM command to its end (at most [`SLURM_CALL`]); its standard output, or why not.
fn slurm(cmd: &mut Command) -> Result<String, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let deadline = Instant::now() + SLURM_CALL;
    while child.try_wait().map_err(|e| format!("{what}: {e}"))?.is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} did not answer within {SLURM_CALL:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().map_err(|e| format!("{what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{what} exited with {}: {}{stdout}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(stdout)
}

/// A job array of the sbatch script, cancelled when dropped (after a failure, say).
struct Array {
    /// SLURM's id of the array job.
    id: u64,
    /// Where its tasks write their output (`slurm-<id>_<task>.out`).
    dir: PathBuf,
}

impl Array {
    /// `sbatch --array=1-N` of the script, one CPU per task, its trainers pointed at `cluster`.
    fn submit(cluster: &Cluster, tasks: u32) -> Array {
        let dir = cluster.dir().to_path_buf();
        let mut cmd = clean_command("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--array=1-{tasks}"))
            .args(["--cpus-per-task=1", "--job-name=skippy-e2e"])
            .arg(format!("--output={}/slurm-%A_%a.out", dir.display()))
            .arg(SCRIPT)
            .env("SKIPPY_SCHEDULER", cluster.url())
            .env("SKIPPY_TRAINER_BIN", binary("skippy-trainer"))
            .env("SKIPPY_TRAINER_TOKEN", TRAINER_TOKEN)
            .env("SKIPPY_EXIT_WHEN_IDLE", IDLE)
            .env("SKIPPY_CHECKPOINT_INTERVAL_SECS", "1");
        let answer = slurm(&mut cmd).unwrap_or_else(|e| panic!("sbatch: {e}"));
        // `--parsable` prints `<id>` or `<id>;<cluster>`.
        let id = answer.trim().split(';').next().and_then(|id| id.parse().ok());
        let id = id.unwrap_or_else(|| panic!("sbatch printed no job id: {answer:?}"));
        let array = Array { id, dir };
        for task in 1..=tasks {
            cluster.add_log(&format!("SLURM array task {id}_{task}"), &array.output_path(task));
        }
        array
    }

    fn output_path(&self, task: u32) -> PathBuf {
        self.dir.join(format!("slurm-{}_{task}.out", self.id))
    }

    /// What task `task` has written so far.
    fn output(&self, task: u32) -> String {
        fs::read_to_string(self.output_path(task)).unwrap_or_default()
    }

    /// The task of this array whose trainer is named `name` (`slurm-<id>_<task>`).
    fn task_named(&self, name: &str) -> u32 {
        name.strip_prefix(&format!("slurm-{}_", self.id))
            .and_then(|task| task.parse().ok())
            .unwrap_or_else(|| panic!("trainer {name:?} is not a task of array {}", self.id))
    }

    /// The tasks SLURM still lists (pending, running or completing).
    fn tasks_in_squeue(&self) -> Vec<u32> {
        let listed = slurm(Command::new("squeue").args(["-h", "-r", "-o", "%i", "-j", &self.id.to_string()]))
            .unwrap_or_else(|e| panic!("squeue: {e}"));
        listed.lines().filter_map(|line| line.trim().rsplit_once('_')?.1.parse().ok()).collect()
    }

    /// SLURM's record of a task (`scontrol show job`), one line.
    fn record(&self, task: u32) -> String {
        slurm(Command::new("scontrol").args(["-o", "show", "job", &format!("{}_{task}", self.id)]))
            .unwrap_or_else(|e| panic!("scontrol: {e}"))
    }
}

impl Drop for Array {
    fn drop(&mut self) {
        // Nothing of a failed test keeps holding the node's CPUs.
        let _ = slurm(Command::new("scancel").arg(self.id.to_string()));
    }
}

/// The steps of the newest checkpoint stored before attempt 2 started: the one it resumed from.
fn newest_checkpoint_before_attempt_2(id: &str, events: &[serde_json::Value]) -> u64 {
    let started = events
        .iter()
        .position(|e| e["kind"] == "STATE" && e["message"].as_str().is_some_and(|m| m.starts_with("attempt 2 started")))
        .unwrap_or_else(|| panic!("no start of attempt 2 in events.jsonl of {id}"));
    events[..started]
        .iter()
        .filter(|e| e["kind"] == "CHECKPOINT")
        .filter_map(|e| e["message"].as_str()?.strip_prefix("checkpoint at ")?.strip_suffix(" steps")?.parse().ok())
        .max()
        .unwrap_or_else(|| panic!("no checkpoint of attempt 1 in events.jsonl of {id}"))
}
