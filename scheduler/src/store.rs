//! The job store: everything under `runs/`, written so that an acknowledged job survives a
//! crash at any moment.
//!
//! ```text
//! runs/
//!   submissions.journal        group-committed log of accepted submissions (one fsync per batch)
//!   <job-id>/manifest.json     the job record (temp file + fsync + rename)
//!   <job-id>/events.jsonl      the job's events, one JSON object per line
//!   <job-id>/results.json      metrics of a finished job
//!   <job-id>/checkpoints/      uploaded checkpoints (pruned)
//!   <job-id>/artifacts/        uploaded artifacts
//!   _quarantine/               unreadable job directories moved aside at start-up
//! ```
//!
//! A submission is acknowledged once its record is in the journal and fsynced; its manifest is
//! written right after without an fsync of its own. At start-up the journal is replayed (any
//! job it names without a readable manifest gets one), the file system is synced, and the
//! journal truncated. So durable submissions cost one fsync per batch, not one per job.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::events::EventRecord;
use crate::job::{ArtifactRecord, JobRecord, is_valid_job_id, now_ms};

const JOURNAL: &str = "submissions.journal";
const QUARANTINE: &str = "_quarantine";

/// Where job files live.
#[derive(Debug)]
pub struct JobStore {
    root: PathBuf,
    journal: std::sync::Mutex<File>,
    /// Jobs journaled so far.
    journaled: std::sync::atomic::AtomicU64,
    /// Journaled jobs whose manifests were written since.
    manifested: std::sync::atomic::AtomicU64,
}

/// What start-up found under `runs/`.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every readable job.
    pub jobs: Vec<JobRecord>,
    /// Directories moved to `_quarantine/`, with the reason.
    pub quarantined: Vec<(String, String)>,
    /// Event logs whose torn last line was cut.
    pub repaired_event_logs: Vec<String>,
    /// Jobs restored from the journal.
    pub replayed: usize,
}

/// Artifact names: letters, digits, `.`, `_`, `-`; 1–128 characters; no leading dot.
pub fn is_valid_artifact_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl JobStore {
    /// Opens (creating) `root`, recovering every job in it.
    pub fn open(root: &Path) -> io::Result<(JobStore, Recovered)> {
        fs::create_dir_all(root)?;
        let mut recovered = Recovered::default();
        let mut known = std::collections::HashSet::new();
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type()?.is_dir() || name == QUARANTINE {
                continue;
            }
            if !is_valid_job_id(&name) {
                continue;
            }
            match read_manifest(&entry.path()) {
                Ok(job) if job.id == name => {
                    if repair_event_log(&entry.path().join("events.jsonl"))? {
                        recovered.repaired_event_logs.push(name.clone());
                    }
                    known.insert(name);
                    recovered.jobs.push(job);
                }
                Ok(job) => recovered.quarantined.push((name, format!("manifest names another job, {}", job.id))),
                Err(e) => recovered.quarantined.push((name, e)),
            }
        }
        // Replay the journal before quarantining: a torn manifest of a journaled job is rebuilt.
        let journal_path = root.join(JOURNAL);
        let mut rebuilt = Vec::new();
        if let Ok(file) = File::open(&journal_path) {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                // A torn last line was never acknowledged.
                let Ok(job) = serde_json::from_str::<JobRecord>(&line) else { continue };
                if !is_valid_job_id(&job.id) || known.contains(&job.id) {
                    continue;
                }
                known.insert(job.id.clone());
                rebuilt.push(job);
            }
        }
        recovered.quarantined.retain(|(name, _)| !rebuilt.iter().any(|j| &j.id == name));
        for (name, _) in &recovered.quarantined {
            let to = root.join(QUARANTINE).join(format!("{name}-{}", now_ms()));
            fs::create_dir_all(root.join(QUARANTINE))?;
            fs::rename(root.join(name), to)?;
        }
        let store = JobStore {
            root: root.to_path_buf(),
            journal: std::sync::Mutex::new(OpenOptions::new().create(true).append(true).open(&journal_path)?),
            journaled: Default::default(),
            manifested: Default::default(),
        };
        for job in &rebuilt {
            store.write_manifest(job)?;
        }
        recovered.replayed = rebuilt.len();
        recovered.jobs.extend(rebuilt);
        store.compact_journal()?;
        Ok((store, recovered))
    }

    /// The directory of a job.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Appends accepted submissions to the journal with one fsync. Once this returns they
    /// survive a crash; their manifests are written afterwards by [`Self::write_manifests`].
    pub fn journal_submissions(&self, jobs: &[JobRecord]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(jobs.len() * 1024);
        for job in jobs {
            serde_json::to_writer(&mut buf, job).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        journal.write_all(&buf)?;
        journal.sync_data()?;
        self.journaled.fetch_add(jobs.len() as u64, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Writes manifests of journaled jobs without an fsync of their own (the journal keeps
    /// them durable until the next compaction syncs the file system).
    pub fn write_manifests(&self, jobs: &[JobRecord], journaled: usize) -> io::Result<()> {
        for job in jobs {
            let dir = self.job_dir(&job.id);
            fs::create_dir_all(&dir)?;
            // A new file in a new directory, written in place: a torn one is rebuilt from the
            // journal at start-up, so the temp file and rename would buy nothing here.
            let path = dir.join("manifest.json");
            if path.exists() {
                write_atomic(&path, &manifest_bytes(job), false)?;
            } else {
                fs::write(&path, manifest_bytes(job))?;
            }
        }
        self.manifested.fetch_add(journaled as u64, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Makes every manifest durable (one `syncfs`) and empties the journal — only when every
    /// journaled job's manifest has been written; otherwise it waits for a later call.
    pub fn compact_journal(&self) -> io::Result<bool> {
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let order = std::sync::atomic::Ordering::SeqCst;
        if self.journaled.load(order) != self.manifested.load(order) {
            return Ok(false);
        }
        sync_filesystem(&self.root)?;
        journal.set_len(0)?;
        journal.sync_all()?;
        Ok(true)
    }

    /// Bytes in the journal.
    pub fn journal_len(&self) -> u64 {
        self.journal.lock().map(|j| j.metadata().map(|m| m.len()).unwrap_or(0)).unwrap_or(0)
    }

    /// Writes a job's manifest atomically and durably.
    pub fn write_manifest(&self, job: &JobRecord) -> io::Result<()> {
        self.write_manifest_with(job, true)
    }

    /// Writes a job's manifest atomically; `durable` adds the fsyncs.
    pub fn write_manifest_with(&self, job: &JobRecord, durable: bool) -> io::Result<()> {
        let dir = self.job_dir(&job.id);
        fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("manifest.json"), &manifest_bytes(job), durable)
    }

    /// Appends events to a job's `events.jsonl`.
    pub fn append_events(&self, id: &str, events: &[EventRecord]) -> io::Result<()> {
        let mut buf = Vec::new();
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        let dir = self.job_dir(id);
        fs::create_dir_all(&dir)?;
        let mut f = OpenOptions::new().create(true).append(true).open(dir.join("events.jsonl"))?;
        f.write_all(&buf)
    }

    /// A job's events after sequence `after`, from its `events.jsonl`.
    pub fn read_events(&self, id: &str, after: u64) -> io::Result<Vec<EventRecord>> {
        let f = match File::open(self.job_dir(id).join("events.jsonl")) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in BufReader::new(f).lines() {
            if let Ok(e) = serde_json::from_str::<EventRecord>(&line?)
                && e.sequence > after
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Stores a checkpoint durably.
    pub fn write_checkpoint(&self, id: &str, name: &str, data: &[u8]) -> io::Result<()> {
        let dir = self.job_dir(id).join("checkpoints");
        fs::create_dir_all(&dir)?;
        write_atomic(&dir.join(name), data, true)
    }

    /// Reads a checkpoint.
    pub fn read_checkpoint(&self, id: &str, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.job_dir(id).join("checkpoints").join(name))
    }

    /// Deletes a checkpoint (pruning).
    pub fn remove_checkpoint(&self, id: &str, name: &str) -> io::Result<()> {
        match fs::remove_file(self.job_dir(id).join("checkpoints").join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Stores an artifact durably; the name must pass [`is_valid_artifact_name`].
    pub fn write_artifact(&self, id: &str, name: &str, data: &[u8]) -> io::Result<ArtifactRecord> {
        if !is_valid_artifact_name(name) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid artifact name {name:?}")));
        }
        let dir = self.job_dir(id).join("artifacts");
        fs::create_dir_all(&dir)?;
        write_atomic(&dir.join(name), data, true)?;
        Ok(ArtifactRecord { name: name.into(), size: data.len() as u64, sha256: format!("{:x}", Sha256::digest(data)) })
    }

    /// Path of a stored artifact (name already validated).
    pub fn artifact_path(&self, id: &str, name: &str) -> Option<PathBuf> {
        is_valid_artifact_name(name).then(|| self.job_dir(id).join("artifacts").join(name))
    }

    /// Writes `results.json` durably.
    pub fn write_results(&self, id: &str, json: &str) -> io::Result<()> {
        write_atomic(&self.job_dir(id).join("results.json"), json.as_bytes(), true)
    }

    /// Reads `results.json` (empty string if absent).
    pub fn read_results(&self, id: &str) -> io::Result<String> {
        match fs::read_to_string(self.job_dir(id).join("results.json")) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            other => other,
        }
    }
}

fn manifest_bytes(job: &JobRecord) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(job).expect("job records serialise");
    v.push(b'\n');
    v
}

fn read_manifest(dir: &Path) -> Result<JobRecord, String> {
    let path = dir.join("manifest.json");
    let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Cuts a torn (unterminated or unparsable) last line off an event log. True if it did.
fn repair_event_log(path: &Path) -> io::Result<bool> {
    let Ok(bytes) = fs::read(path) else { return Ok(false) };
    let mut good = 0usize;
    let mut offset = 0usize;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let complete = line.ends_with(b"\n");
        if !complete || serde_json::from_slice::<EventRecord>(&line[..line.len() - 1]).is_err() {
            break;
        }
        offset += line.len();
        good = offset;
    }
    if good == bytes.len() {
        return Ok(false);
    }
    OpenOptions::new().write(true).open(path)?.set_len(good as u64)?;
    Ok(true)
}

/// Temp file + (fsync) + rename + (directory fsync).
fn write_atomic(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        uuid::Uuid::new_v4().simple()
    ));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_data()?;
        }
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Flushes the whole file system holding `root` (`syncfs(2)`).
fn sync_filesystem(root: &Path) -> io::Result<()> {
    let dir = File::open(root)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `dir` is an open file descriptor for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        dir.sync_all()
    }
}
