//! The job store: everything under `runs/`, written so that an acknowledged job survives a
//! crash at any moment.
//!
//! ```text
//! runs/
//!   scheduler.lock             held (flock) by the one scheduler that has runs/ open
//!   submissions.journal        group-committed log of queued jobs not yet in a directory
//!   finished.index             a line per finished job: what start-up keeps of it
//!   <job-id>/manifest.json     the job record (temp file + fsync + rename)
//!   <job-id>/events.jsonl      the job's events, one JSON object per line
//!   <job-id>/results.json      metrics of a finished job
//!   <job-id>/checkpoints/      uploaded checkpoints (pruned)
//!   <job-id>/artifacts/        uploaded artifacts
//!   _quarantine/               unreadable job directories moved aside at start-up
//!   experiments/<ex-id>/       an experiment: manifest.json (its record and runs), artifacts/
//! ```
//!
//! A submission is acknowledged once its record is in the journal and fsynced (one fsync per
//! batch). A queued job lives only there: its directory and manifest are written when it first
//! changes (dispatched, cancelled, timed out), so a burst of submissions costs appends to one
//! file, not a directory and files per job. Compaction rewrites the journal with just the jobs
//! that still have no manifest, after one `syncfs` has made every manifest written so far
//! durable. At start-up the journal is replayed: a job it names without a readable manifest is
//! queued again from its line; it is not compacted then (its `syncfs` would wait for whatever a
//! crashed process left unwritten), but later, beside serving, if it is mostly spent.
//!
//! Memory: the store keeps, per queued job, only where its journal line is (offset and length),
//! not the line: a job's resolved spec is read back from it when the job is granted or its
//! first manifest is written ([`JobStore::resolved_spec`]). Start-up takes finished jobs from
//! `finished.index` ([`crate::finished_index`]) as their compact entries ([`FinishedJob`]), and
//! reads every other directory: its manifest (on 16 threads, in the order of the directories'
//! inodes) and only the end of its `events.jsonl`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::events::EventRecord;
use crate::experiment::ExperimentRecord;
use crate::finished::{FinishedJob, FinishedManifest, Interner};
use crate::finished_index::FinishedIndex;
use crate::job::{ArtifactRecord, JobRecord, JsonText, is_valid_job_id, now_ms};

const JOURNAL: &str = "submissions.journal";
const QUARANTINE: &str = "_quarantine";
const EXPERIMENTS: &str = "experiments";
/// Held by the scheduler that has `runs/` open.
const LOCK: &str = "scheduler.lock";
/// The end of the name a job directory is renamed to while retention removes it.
const REMOVING: &str = ".removing";

/// Where job files live.
#[derive(Debug)]
pub struct JobStore {
    root: PathBuf,
    /// The open journal; held while appending and while compacting.
    journal: Mutex<Journal>,
    /// Journaled jobs with no manifest yet, with their journal line: the journal's live part.
    journal_only: Mutex<LiveLines>,
    /// `finished.index`: finished jobs as start-up takes them ([`crate::finished_index`]).
    finished_index: FinishedIndex,
    /// `scheduler.lock`, locked while this store is open ([`lock_runs_dir`]).
    _owner: File,
}

/// The open journal file.
#[derive(Debug)]
struct Journal {
    file: File,
    /// A failed append left bytes that could not be cut off: the next append starts with a
    /// newline, so the torn line stays a line of its own (skipped at replay) instead of being
    /// glued to an acknowledged one.
    torn: bool,
}

/// Where the journal's live lines are, by job id, and their total size. The lines themselves
/// stay in the file.
#[derive(Debug)]
struct LiveLines {
    lines: HashMap<String, Line>,
    /// Bytes of the live lines, newlines included.
    bytes: usize,
    /// The journal the offsets are in, opened for reading (replaced, with the offsets, by a
    /// compaction; a reader holding the old one still reads the old file).
    file: Arc<File>,
}

/// A line of the journal: its offset and length (without the newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Line {
    offset: u64,
    len: u32,
}

impl LiveLines {
    fn new(file: File) -> LiveLines {
        LiveLines { lines: HashMap::new(), bytes: 0, file: Arc::new(file) }
    }

    fn insert(&mut self, id: String, line: Line) {
        self.bytes += line.len as usize + 1;
        if let Some(old) = self.lines.insert(id, line) {
            self.bytes -= old.len as usize + 1;
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.lines.remove(id) {
            self.bytes -= old.len as usize + 1;
        }
    }
}

/// What start-up found under `runs/`.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every readable job that has not finished (queued or running), in full. Its
    /// `last_sequence` is the last event in its `events.jsonl`.
    pub jobs: Vec<JobRecord>,
    /// Every readable finished job, compact (the rest stays in its manifest).
    pub finished: Vec<FinishedJob>,
    /// Directories moved to `_quarantine/`, with the reason.
    pub quarantined: Vec<(String, String)>,
    /// Event logs whose torn last line was cut.
    pub repaired_event_logs: Vec<String>,
    /// Jobs restored from the journal.
    pub replayed: usize,
}

/// Threads reading job directories at start-up, whatever the cores: from a cold disk they wait
/// on reads, not the CPU (100,000 jobs from the development machine's virtual disk, page cache
/// dropped: 19 - 32 s on 2 threads, 7 - 15 s on 16), and with the files cached 16 threads on 2
/// cores take the time and CPU that 2 take (3.5 - 3.6 s of reading, 2.7 - 2.9 s of CPU).
const START_UP_READERS: usize = 16;

/// A job directory's name and what start-up read of it, or why it is unreadable.
type ReadDir = (String, Result<(Found, bool), String>);

/// One job directory as start-up read it.
// One value per directory, moved once: the size difference costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Found {
    /// Not finished: the whole record.
    Live(JobRecord),
    /// Finished: its compact entry.
    Finished(FinishedJob),
}

/// Reads a job directory at start-up: its manifest, and the last event of its `events.jsonl`
/// (cutting a torn last line). True in the second place when a torn line was cut.
fn recover_job(dir: &Path, name: &str, shared: &mut Interner) -> Result<(Found, bool), String> {
    let path = dir.join("manifest.json");
    let bytes = fs::read(&path).map_err(|source| ManifestError::Read { path: path.clone(), source }.to_string())?;
    // A finished job (most of them) is read into what its compact entry keeps; any other in full.
    let parse = |e| ManifestError::Parse { path: path.clone(), source: e }.to_string();
    let head: FinishedManifest = serde_json::from_slice(&bytes).map_err(parse)?;
    if head.id != name {
        return Err(format!("manifest names another job, {}", head.id));
    }
    // Numbering continues after the last event on disk: events recorded but never written were
    // never shown to anyone, so their numbers are free again.
    let (last, repaired) = last_event(&dir.join("events.jsonl")).map_err(|e| format!("events.jsonl: {e}"))?;
    let found = if head.state.is_terminal() {
        Found::Finished(FinishedJob::from_manifest(FinishedManifest { last_sequence: last, ..head }, shared))
    } else {
        let mut job: JobRecord = serde_json::from_slice(&bytes).map_err(parse)?;
        job.last_sequence = last;
        Found::Live(job)
    };
    Ok((found, repaired))
}

/// Takes `runs/scheduler.lock` (an exclusive `flock`, released by the kernel when the process
/// ends, however it ends) and writes this process's id in it: two schedulers on one `runs/`
/// would each replay and compact the other's journal and hand out its jobs again.
fn lock_runs_dir(root: &Path) -> io::Result<File> {
    let path = root.join(LOCK);
    let mut file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "{} is in use by another scheduler{holder}: one scheduler per runs directory \
                     (stop it first, or give this one another --runs-dir)",
                    root.display()
                ),
            ));
        }
        Err(fs::TryLockError::Error(e)) => return Err(e),
    }
    file.set_len(0)?;
    file.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0)?;
    Ok(file)
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
        let owner = lock_runs_dir(root)?;
        let started = std::time::Instant::now();
        let mut recovered = Recovered::default();
        let mut known = std::collections::HashSet::new();
        let mut names = Vec::new();
        let mut removing = Vec::new();
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type()?.is_dir() || name == QUARANTINE {
                continue;
            }
            if is_valid_job_id(&name) {
                names.push((std::os::unix::fs::DirEntryExt::ino(&entry), name));
            } else if name.ends_with(REMOVING) {
                removing.push(root.join(name));
            }
        }
        let listed = started.elapsed();
        // Finished jobs whose directories are as the finished index lists them come from it;
        // the other directories are read.
        // A cache: one that cannot be read costs the time of reading every directory, no more.
        let index = FinishedIndex::new(root);
        let mut indexed = index.read(std::thread::available_parallelism().map_or(2, |n| n.get())).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the finished-jobs index cannot be read; every job directory is read instead");
            Default::default()
        });
        let index_lines = indexed.lines;
        let mut inos = HashMap::with_capacity(names.len());
        names.retain(|(ino, name)| {
            inos.insert(name.clone(), *ino);
            match indexed.jobs.remove(name) {
                Some((at, job)) if at == *ino => {
                    recovered.finished.push(job);
                    known.insert(name.clone());
                    false
                }
                _ => true,
            }
        });
        let from_index = recovered.finished.len();
        drop(indexed);
        let indexed_at = started.elapsed();
        // In the order of the directories' inodes, which is roughly where their files lie on the
        // disk (not the directory's hash order): a cold start reads much less at random.
        names.sort_unstable();
        let names: Vec<String> = names.into_iter().map(|(_, name)| name).collect();
        let threads = START_UP_READERS;
        let chunk = names.len().div_ceil(threads).max(1);
        let read: Vec<Vec<ReadDir>> = std::thread::scope(|scope| {
            let workers: Vec<_> = names
                .chunks(chunk)
                .map(|names| {
                    scope.spawn(move || {
                        // What many jobs share is kept once from the start: only what each job
                        // keeps stays allocated, densely (the rest is reused job after job).
                        let mut shared = Interner::default();
                        names
                            .iter()
                            .map(|n| (n.clone(), recover_job(&root.join(n), n, &mut shared)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("a start-up reader panicked")).collect()
        });
        let read_at = started.elapsed();
        for (name, found) in read.into_iter().flatten() {
            match found {
                Ok((found, repaired)) => {
                    if repaired {
                        recovered.repaired_event_logs.push(name.clone());
                    }
                    match found {
                        Found::Live(job) => recovered.jobs.push(job),
                        Found::Finished(job) => recovered.finished.push(job),
                    }
                    known.insert(name);
                }
                Err(reason) => recovered.quarantined.push((name, reason)),
            }
        }
        // Replay the journal before quarantining: a torn manifest of a journaled job is rebuilt.
        let journal_path = root.join(JOURNAL);
        let mut rebuilt = Vec::new();
        if let Ok(file) = File::open(&journal_path) {
            let mut offset = 0u64;
            // By bytes: a torn line may end inside a character.
            for line in BufReader::new(file).split(b'\n') {
                let line = line?;
                let at = Line { offset, len: line.len() as u32 };
                offset += line.len() as u64 + 1;
                // A torn line (a crash or a failed append) was never acknowledged.
                let Ok(job) = serde_json::from_slice::<JobRecord>(&line) else { continue };
                if !is_valid_job_id(&job.id) || known.contains(&job.id) {
                    continue;
                }
                known.insert(job.id.clone());
                rebuilt.push((job, at));
            }
        }
        let rebuilt_ids: std::collections::HashSet<&str> = rebuilt.iter().map(|(j, _)| j.id.as_str()).collect();
        recovered.quarantined.retain(|(name, _)| !rebuilt_ids.contains(name.as_str()));
        for (name, _) in &recovered.quarantined {
            let to = root.join(QUARANTINE).join(format!("{name}-{}", now_ms()));
            fs::create_dir_all(root.join(QUARANTINE))?;
            fs::rename(root.join(name), to)?;
        }
        let store = JobStore {
            root: root.to_path_buf(),
            journal: Mutex::new(Journal {
                file: OpenOptions::new().create(true).append(true).open(&journal_path)?,
                torn: false,
            }),
            journal_only: Mutex::new(LiveLines::new(File::open(&journal_path)?)),
            finished_index: index,
            _owner: owner,
        };
        {
            let mut live = lock(&store.journal_only);
            for (job, at) in &rebuilt {
                live.insert(job.id.clone(), *at);
            }
        }
        recovered.replayed = rebuilt.len();
        recovered.jobs.extend(rebuilt.into_iter().map(|(job, _)| job));
        // Not compacted here: a compaction first waits for everything written to the file system
        // to reach the disk (`syncfs`), which after a crash is whatever the dead process (and
        // anyone else) left in the page cache, seconds of it on a real disk. The journal stays
        // as it was (its lines are where `journal_only` says); a torn last line is kept apart
        // from the next append by a newline, and a journal mostly spent is compacted in the
        // background once serving (`Scheduler::start`).
        lock(&store.journal).torn = ends_in_torn_line(&journal_path)?;
        // The index catches up: a line for each finished job read from its directory, and a
        // rewrite once most lines are of directories that are gone.
        let unindexed = &recovered.finished[from_index..];
        let stale = index_lines.saturating_sub(from_index);
        let caught_up = if stale > from_index.max(1024) {
            store.finished_index.rewrite(recovered.finished.iter().map(|job| (inos[&*job.id], job)))
        } else {
            store.finished_index.append(unindexed.iter().map(|job| (inos[&*job.id], job.manifest())))
        };
        if let Err(e) = caught_up {
            // (A full disk, say.) The next start reads those directories again.
            tracing::warn!(error = %e, "the finished-jobs index could not be brought up to date");
        }
        if !removing.is_empty() {
            // Directories retention had begun to remove when the process stopped.
            std::thread::Builder::new().name("removing".into()).spawn(move || {
                for dir in removing {
                    let _ = fs::remove_dir_all(dir);
                }
            })?;
        }
        tracing::info!(
            jobs = known.len(),
            from_index,
            listed = ?listed,
            index = ?indexed_at.saturating_sub(listed),
            read = ?read_at.saturating_sub(indexed_at),
            readers = threads,
            total = ?started.elapsed(),
            "runs/ read"
        );
        Ok((store, recovered))
    }

    /// The directory of a job.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Appends accepted submissions to the journal with one fsync. Once this returns they
    /// survive a crash; until their manifests are written the journal is their only copy.
    pub fn journal_submissions(&self, jobs: &[JobRecord]) -> io::Result<()> {
        let lines: Vec<Vec<u8>> = jobs.iter().map(journal_line).collect();
        let mut journal = lock(&self.journal);
        let j = &mut *journal;
        let before = j.file.metadata()?.len();
        let mut batch = if j.torn { b"\n".to_vec() } else { Vec::new() };
        let start = before + batch.len() as u64;
        batch.extend(lines.concat());
        if let Err(e) = j.file.write_all(&batch).and_then(|()| j.file.sync_data()) {
            // A full disk, a file-size limit, an I/O error: nothing of this batch may stay, or
            // a job never acknowledged could come back at start-up.
            return Err(match j.file.set_len(before).and_then(|()| j.file.sync_data()) {
                Ok(()) => e,
                Err(cut) => {
                    j.torn = true;
                    io::Error::new(e.kind(), format!("{e} (and the journal could not be cut back: {cut})"))
                }
            });
        }
        j.torn = false;
        #[cfg(test)]
        tests::after_append();
        // Recorded as live before the journal is released (the order compaction takes the two
        // locks in): a compaction cannot snapshot the live lines between this batch's fsync and
        // its recording, and rewrite the journal without an acknowledged batch.
        let mut only = lock(&self.journal_only);
        let mut offset = start;
        for (job, line) in jobs.iter().zip(&lines) {
            only.insert(job.id.clone(), Line { offset, len: line.len() as u32 - 1 });
            offset += line.len() as u64;
        }
        drop(only);
        drop(journal);
        Ok(())
    }

    /// A journaled job's line, read back from the journal (`None` when the job has left it).
    fn journal_line_of(&self, id: &str) -> io::Result<Option<Vec<u8>>> {
        let (file, at) = {
            let only = lock(&self.journal_only);
            match only.lines.get(id) {
                None => return Ok(None),
                Some(at) => (only.file.clone(), *at),
            }
        };
        let mut line = vec![0u8; at.len as usize];
        file.read_exact_at(&mut line, at.offset)?;
        Ok(Some(line))
    }

    /// A job's resolved spec, from its journal line while it has one, else from its manifest:
    /// what a queued job does not keep in memory.
    pub fn resolved_spec(&self, id: &str) -> io::Result<JsonText> {
        /// The one field wanted (the others are skipped, not built).
        #[derive(serde::Deserialize)]
        struct SpecOnly {
            #[serde(rename = "resolvedSpec", alias = "resolved_spec")]
            resolved_spec: JsonText,
        }
        let (bytes, from) = match self.journal_line_of(id)? {
            Some(line) => (line, JOURNAL.to_string()),
            None => (fs::read(self.job_dir(id).join("manifest.json"))?, format!("{id}/manifest.json")),
        };
        let spec: SpecOnly = serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("the resolved spec of job {id} in {from}: {e}"))
        })?;
        Ok(spec.resolved_spec)
    }

    /// A job's manifest (the whole record of a finished job, which memory keeps compact).
    pub fn read_job(&self, id: &str) -> io::Result<JobRecord> {
        read_manifest(&self.job_dir(id)).map_err(|e| match e {
            ManifestError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound => source,
            e => io::Error::other(e),
        })
    }

    /// Deletes a finished job's directory (retention). A directory already gone is no error.
    pub fn remove_job_dir(&self, id: &str) -> io::Result<()> {
        if !is_valid_job_id(id) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{id:?} is not a job id")));
        }
        // Renamed first, so that a directory half removed when the process stops is not taken
        // for the job at start-up (the finished index would vouch for it); start-up finishes
        // removing it.
        let aside = self.root.join(format!(".{id}{REMOVING}"));
        match fs::rename(self.job_dir(id), &aside) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        fs::remove_dir_all(aside)
    }

    /// Notes a finished job that has left memory: its line in the finished index is written by
    /// [`Self::write_finished_index`].
    pub fn note_finished(&self, job: &FinishedJob) {
        self.finished_index.note(job);
    }

    /// Whether finished jobs wait for their line in the finished index.
    pub fn finished_index_pending(&self) -> bool {
        self.finished_index.has_pending()
    }

    /// Appends the finished index's lines of the jobs noted since the last call.
    pub fn write_finished_index(&self) -> io::Result<()> {
        self.finished_index.write_pending()
    }

    /// Whether most of the finished index is lines of jobs no longer kept (`kept` are).
    pub fn finished_index_mostly_stale(&self, kept: usize) -> bool {
        self.finished_index.mostly_stale(kept)
    }

    /// Rewrites the finished index with the jobs `kept` returns (called with the file held, so
    /// no append is lost); returns its lines.
    pub fn rewrite_finished_index(&self, kept: impl FnOnce() -> Vec<FinishedManifest>) -> io::Result<usize> {
        self.finished_index.rewrite_kept(kept)
    }

    /// Whether the journal holds lines of jobs that have left it (a compaction would drop them).
    pub fn journal_has_spent_lines(&self) -> bool {
        let len = lock(&self.journal).file.metadata().map(|m| m.len()).unwrap_or(0);
        len > lock(&self.journal_only).bytes as u64
    }

    /// Whether a job has no directory of its own yet (it is only a journal line).
    pub fn is_journal_only(&self, id: &str) -> bool {
        lock(&self.journal_only).lines.contains_key(id)
    }

    /// Whether the journal holds more than twice what is still live in it (and over 8 MiB).
    pub fn journal_needs_compaction(&self) -> bool {
        let len = lock(&self.journal).file.metadata().map(|m| m.len()).unwrap_or(0);
        let live = lock(&self.journal_only).bytes as u64;
        len > 8 << 20 && len > 2 * live
    }

    /// Rewrites the journal with only the jobs that still have no manifest, after one `syncfs`
    /// has made every manifest written so far durable. Appends wait meanwhile.
    pub fn compact_journal(&self) -> io::Result<()> {
        let mut journal = lock(&self.journal);
        // Taken before the sync: a manifest written after it may not be durable yet, so its
        // job keeps its line (a line beside a manifest is harmless: the manifest wins).
        let (mut live, old): (Vec<(String, Line)>, Arc<File>) = {
            let only = lock(&self.journal_only);
            (only.lines.iter().map(|(id, at)| (id.clone(), *at)).collect(), only.file.clone())
        };
        sync_filesystem(&self.root)?;
        let path = self.root.join(JOURNAL);
        let tmp = self.root.join(format!("{JOURNAL}.tmp"));
        // The live lines, copied from the old file in its order.
        live.sort_by_key(|(_, at)| at.offset);
        let mut moved = Vec::with_capacity(live.len());
        {
            let mut out = io::BufWriter::new(File::create(&tmp)?);
            let mut offset = 0u64;
            let mut line = Vec::new();
            for (id, at) in live {
                line.resize(at.len as usize, 0);
                old.read_exact_at(&mut line, at.offset)?;
                out.write_all(&line)?;
                out.write_all(b"\n")?;
                moved.push((id, Line { offset, len: at.len }));
                offset += at.len as u64 + 1;
            }
            let f = out.into_inner().map_err(io::IntoInnerError::into_error)?;
            f.sync_data()?;
        }
        fs::rename(&tmp, &path)?;
        File::open(&self.root)?.sync_all()?;
        let read = File::open(&path)?;
        *journal = Journal { file: OpenOptions::new().append(true).open(&path)?, torn: false };
        // Jobs that left the journal meanwhile (a manifest written) stay gone.
        let mut only = lock(&self.journal_only);
        only.file = Arc::new(read);
        for (id, at) in moved {
            if let Some(line) = only.lines.get_mut(&id) {
                *line = at;
            }
        }
        Ok(())
    }

    /// Writes a job's manifest atomically and durably.
    pub fn write_manifest(&self, job: &JobRecord) -> io::Result<()> {
        self.write_manifest_with(job, true)
    }

    /// Writes a job's manifest atomically; `durable` adds the fsyncs.
    pub fn write_manifest_with(&self, job: &JobRecord, durable: bool) -> io::Result<()> {
        // A queued job's resolved spec is kept only in its journal line: the manifest gets it
        // from there.
        let filled;
        let job = if job.resolved_spec.is_null() {
            filled = JobRecord { resolved_spec: self.resolved_spec(&job.id)?, ..job.clone() };
            &filled
        } else {
            job
        };
        let dir = self.job_dir(&job.id);
        let created = !dir.exists();
        fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("manifest.json"), &manifest_bytes(job), durable)?;
        if created && durable {
            // The new directory's own entry in runs/.
            File::open(&self.root)?.sync_all()?;
        }
        lock(&self.journal_only).remove(&job.id);
        Ok(())
    }

    /// Appends events to a job's `events.jsonl`, durably: once this returns they survive a
    /// power loss (file data fsynced; a new file's and directory's entries too), so a number
    /// shown to a watcher is never given to another event after a crash.
    pub fn append_events(&self, id: &str, events: &[EventRecord]) -> io::Result<()> {
        let mut buf = Vec::new();
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        let dir = self.job_dir(id);
        create_dir_durable(&dir)?;
        let path = dir.join("events.jsonl");
        let created = !path.exists();
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(&buf)?;
        f.sync_data()?;
        if created {
            File::open(&dir)?.sync_all()?;
        }
        Ok(())
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
        create_dir_durable(&dir)?;
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
        let (record, staged) = self.stage_artifact(id, name, "direct", data)?;
        staged.install()?;
        Ok(record)
    }

    /// Writes an artifact durably under a name of its own (`tag`: the attempt's), invisible
    /// until [`Staged::install`] moves it into place: a trainer's upload becomes the job's
    /// artifact only once its lease is checked again, under the state lock.
    pub fn stage_artifact(&self, id: &str, name: &str, tag: &str, data: &[u8]) -> io::Result<(ArtifactRecord, Staged)> {
        if !is_valid_artifact_name(name) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid artifact name {name:?}")));
        }
        let dir = self.job_dir(id).join("artifacts");
        let staged = Staged::write(&dir, name, tag, data)?;
        Ok((
            ArtifactRecord {
                name: name.into(),
                size: data.len() as u64,
                sha256: format!("{:x}", Sha256::digest(data)),
            },
            staged,
        ))
    }

    /// Path of a stored artifact (name already validated).
    pub fn artifact_path(&self, id: &str, name: &str) -> Option<PathBuf> {
        is_valid_artifact_name(name).then(|| self.job_dir(id).join("artifacts").join(name))
    }

    /// Writes `results.json` durably. The job's directory may not exist yet: a trainer can
    /// finish a short job before the manifest written at dispatch lands.
    pub fn write_results(&self, id: &str, json: &str) -> io::Result<()> {
        self.stage_results(id, "direct", json)?.install()
    }

    /// `results.json` written under the attempt's own name (`tag`), invisible until installed.
    pub fn stage_results(&self, id: &str, tag: &str, json: &str) -> io::Result<Staged> {
        Staged::write(&self.job_dir(id), "results.json", tag, json.as_bytes())
    }

    /// Reads `results.json` (empty string if absent).
    pub fn read_results(&self, id: &str) -> io::Result<String> {
        match fs::read_to_string(self.job_dir(id).join("results.json")) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            other => other,
        }
    }
}

/// The experiments start-up found, and the directories it could not read (name, why).
pub type StoredExperiments = (Vec<ExperimentRecord>, Vec<(String, String)>);

/// Experiments' files: `runs/experiments/<id>/manifest.json` (the record, written before the
/// runs are journaled: the commit point of a creation) and `artifacts/` (the report).
impl JobStore {
    /// The directory of experiment `id`.
    pub fn experiment_dir(&self, id: &str) -> PathBuf {
        self.root.join(EXPERIMENTS).join(id)
    }

    /// Writes an experiment's record durably (temp file, fsync, rename, directory fsync).
    pub fn write_experiment(&self, experiment: &ExperimentRecord) -> io::Result<()> {
        let dir = self.experiment_dir(&experiment.id);
        create_dir_durable(&dir)?;
        let mut bytes = serde_json::to_vec_pretty(experiment).expect("experiment records serialise");
        bytes.push(b'\n');
        write_atomic(&dir.join("manifest.json"), &bytes, true)
    }

    /// Every stored experiment, and the directories that could not be read (with why).
    pub fn read_experiments(&self) -> io::Result<StoredExperiments> {
        let (mut found, mut unreadable) = (Vec::new(), Vec::new());
        let entries = match fs::read_dir(self.root.join(EXPERIMENTS)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((found, unreadable)),
            other => other?,
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !crate::experiment::is_valid_experiment_id(&name) {
                continue;
            }
            let path = entry.path().join("manifest.json");
            match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<ExperimentRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(record) if record.id == name => found.push(record),
                Ok(record) => unreadable.push((name, format!("{} names experiment {}", path.display(), record.id))),
                Err(why) => unreadable.push((name, format!("{}: {why}", path.display()))),
            }
        }
        Ok((found, unreadable))
    }

    /// Stores one of an experiment's report files durably.
    pub fn write_experiment_artifact(&self, id: &str, name: &str, data: &[u8]) -> io::Result<ArtifactRecord> {
        if !is_valid_artifact_name(name) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid artifact name {name:?}")));
        }
        let dir = self.experiment_dir(id).join("artifacts");
        let staged = Staged::write(&dir, name, "report", data)?;
        staged.install()?;
        staged.sync()?;
        Ok(ArtifactRecord { name: name.into(), size: data.len() as u64, sha256: format!("{:x}", Sha256::digest(data)) })
    }

    /// Path of one of an experiment's report files (name already validated).
    pub fn experiment_artifact_path(&self, id: &str, name: &str) -> Option<PathBuf> {
        is_valid_artifact_name(name).then(|| self.experiment_dir(id).join("artifacts").join(name))
    }
}

/// A file written durably under an attempt-scoped name (`.<name>.<tag>`, which no reader
/// serves), waiting to be moved into place or thrown away.
#[derive(Debug)]
#[must_use = "a staged file is installed or discarded"]
pub struct Staged {
    staged: PathBuf,
    dest: PathBuf,
}

impl Staged {
    fn write(dir: &Path, name: &str, tag: &str, data: &[u8]) -> io::Result<Staged> {
        create_dir_durable(dir)?;
        let staged = dir.join(format!(".{name}.{tag}"));
        {
            let mut f = File::create(&staged)?;
            f.write_all(data)?;
            f.sync_data()?;
        }
        Ok(Staged { staged, dest: dir.join(name) })
    }

    /// Moves the file into place (one `rename`, cheap enough to run under the state lock).
    /// The directory entry is made durable by [`Staged::sync`] afterwards.
    pub fn install(&self) -> io::Result<()> {
        fs::rename(&self.staged, &self.dest)
    }

    /// Makes the installed file's directory entry durable.
    pub fn sync(&self) -> io::Result<()> {
        File::open(self.dest.parent().unwrap_or(Path::new(".")))?.sync_all()
    }

    /// Removes a staged file that will not be installed (its attempt lost the lease).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.staged);
    }
}

/// Creates `dir` (and its parents); a directory that did not exist has its entry made durable
/// in its parent, so a file written into it survives a power loss with the path that leads to it.
fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    File::open(dir.parent().unwrap_or(Path::new(".")))?.sync_all()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn journal_line(job: &JobRecord) -> Vec<u8> {
    let mut v = serde_json::to_vec(job).expect("job records serialise");
    v.push(b'\n');
    v
}

fn manifest_bytes(job: &JobRecord) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(job).expect("job records serialise");
    v.push(b'\n');
    v
}

/// A manifest that cannot be recovered (its job is quarantined, with this as the reason).
#[derive(Debug, thiserror::Error)]
enum ManifestError {
    /// It could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The manifest.
        path: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// It is not a job record.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The manifest.
        path: std::path::PathBuf,
        /// Where it stops being one.
        source: serde_json::Error,
    },
}

fn read_manifest(dir: &Path) -> Result<JobRecord, ManifestError> {
    let path = dir.join("manifest.json");
    let bytes = fs::read(&path).map_err(|source| ManifestError::Read { path: path.clone(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| ManifestError::Parse { path, source })
}

/// The sequence of the last event in an event log (0 for none or no log), and whether a torn
/// last line was cut first. Reads only the end of the file: appends tear only the last line,
/// and a log whose end does not read as whole events is checked from the start
/// ([`repair_event_log`]).
fn last_event(path: &Path) -> io::Result<(u64, bool)> {
    /// The end read: longer than any event line.
    const TAIL: u64 = 16 * 1024;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, false)),
        Err(_) => return Ok((0, false)),
    };
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok((0, false));
    }
    let from = len.saturating_sub(TAIL);
    f.seek(io::SeekFrom::Start(from))?;
    let mut end = Vec::with_capacity((len - from) as usize);
    f.read_to_end(&mut end)?;
    if let Some(body) = end.strip_suffix(b"\n") {
        let last = match body.iter().rposition(|&b| b == b'\n') {
            Some(at) => Some(&body[at + 1..]),
            // The whole file is one line.
            None if from == 0 => Some(body),
            None => None,
        };
        if let Some(event) = last.and_then(|line| serde_json::from_slice::<EventRecord>(line).ok()) {
            return Ok((event.sequence, false));
        }
    }
    repair_event_log(path)
}

/// Cuts a torn (unterminated or unparsable) last line off an event log, reading it from the
/// start. Returns the sequence of the last whole event and whether anything was cut.
fn repair_event_log(path: &Path) -> io::Result<(u64, bool)> {
    let Ok(bytes) = fs::read(path) else { return Ok((0, false)) };
    let mut good = 0usize;
    let mut offset = 0usize;
    let mut last = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let complete = line.ends_with(b"\n");
        let Some(event) =
            complete.then(|| serde_json::from_slice::<EventRecord>(&line[..line.len() - 1]).ok()).flatten()
        else {
            break;
        };
        last = last.max(event.sequence);
        offset += line.len();
        good = offset;
    }
    if good == bytes.len() {
        return Ok((last, false));
    }
    OpenOptions::new().write(true).open(path)?.set_len(good as u64)?;
    Ok((last, true))
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

/// Whether the file at `path` ends inside a line (a crash or a failed append tore its last
/// one): not empty, and its last byte no newline.
pub(crate) fn ends_in_torn_line(path: &Path) -> io::Result<bool> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8];
    file.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] != b'\n')
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobState, JsonText, SubmittedSpec};

    fn queued(id: &str, seq: u64) -> JobRecord {
        let resolved = JsonText::of(&serde_json::json!({"total_steps": 1000})).unwrap();
        JobRecord {
            seq,
            code_version: "test".into(),
            ..JobRecord::queued(id.into(), SubmittedSpec::default(), resolved, 1, 1)
        }
    }

    fn journal_ids(root: &Path) -> Vec<String> {
        let text = fs::read_to_string(root.join(JOURNAL)).unwrap();
        text.lines().map(|l| serde_json::from_str::<JobRecord>(l).unwrap().id).collect()
    }

    fn ids(recovered: &Recovered) -> Vec<String> {
        let finished = recovered.finished.iter().map(|j| j.id.to_string());
        let mut ids: Vec<String> = recovered.jobs.iter().map(|j| j.id.clone()).chain(finished).collect();
        ids.sort();
        ids
    }

    const A: &str = "tr_1_0000000a";
    const B: &str = "tr_1_0000000b";
    const C: &str = "tr_1_0000000c";

    /// A finished job's manifest written, and its line in the finished index as the scheduler
    /// writes it once the job leaves memory.
    fn finish(store: &JobStore, id: &str, seq: u64, state: JobState) {
        let mut job = queued(id, seq);
        job.state = state;
        job.finished_ms = 10 + seq as i64;
        store.write_manifest(&job).unwrap();
        store.note_finished(&FinishedJob::of(job));
        store.write_finished_index().unwrap();
    }

    fn state_of(recovered: &Recovered, id: &str) -> Option<JobState> {
        recovered.finished.iter().find(|j| &*j.id == id).map(|j| j.state)
    }

    #[test]
    fn finished_jobs_come_back_from_the_index_while_their_directories_are_the_ones_it_lists() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        finish(&store, A, 1, JobState::Done);
        finish(&store, B, 2, JobState::Done);
        finish(&store, C, 3, JobState::Done);
        drop(store);
        // A's manifest is not read again: the index vouches for it (made unreadable to show it).
        fs::write(dir.path().join(A).join("manifest.json"), b"not json").unwrap();
        // B's directory is another one by now (a copy put in its place by hand): it is read, not
        // taken from the index.
        let mut other = queued(B, 2);
        other.state = JobState::Failed;
        let copy = dir.path().join("copy");
        fs::create_dir(&copy).unwrap();
        fs::write(copy.join("manifest.json"), serde_json::to_vec(&other).unwrap()).unwrap();
        fs::remove_dir_all(dir.path().join(B)).unwrap();
        fs::rename(&copy, dir.path().join(B)).unwrap();
        // C's directory was removed (retention): its line is not a job.
        fs::remove_dir_all(dir.path().join(C)).unwrap();

        let (_, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), [A, B]);
        assert!(recovered.quarantined.is_empty(), "{:?}", recovered.quarantined);
        assert_eq!(state_of(&recovered, A), Some(JobState::Done), "from the index");
        assert_eq!(state_of(&recovered, B), Some(JobState::Failed), "from its directory");
        // B's line was appended: the next start-up takes it from the index too.
        fs::write(dir.path().join(B).join("manifest.json"), b"not json").unwrap();
        let (_, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(state_of(&recovered, B), Some(JobState::Failed));
        assert!(recovered.quarantined.is_empty());
    }

    #[test]
    fn an_index_that_cannot_be_read_or_written_costs_only_the_directories_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        finish(&store, A, 1, JobState::Done);
        finish(&store, B, 2, JobState::Failed);
        drop(store);
        // Neither readable nor writable as a file: a directory in its place.
        let index = dir.path().join("finished.index");
        fs::remove_file(&index).unwrap();
        fs::create_dir(&index).unwrap();
        let (_, recovered) = JobStore::open(dir.path()).expect("start-up does without the index");
        assert_eq!(ids(&recovered), [A, B]);
        assert_eq!(state_of(&recovered, B), Some(JobState::Failed), "from its directory");
    }

    #[test]
    fn a_job_without_a_line_is_read_from_its_directory_and_lines_of_removed_jobs_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        let jobs: Vec<String> = (1..=1100u64).map(|n| format!("tr_1_{n:08x}")).collect();
        for (n, id) in jobs.iter().enumerate() {
            finish(&store, id, n as u64 + 1, JobState::Done);
        }
        // A crash before its line was written: the job is read from its directory.
        let late = "tr_2_00000001";
        let mut job = queued(late, 2000);
        job.state = JobState::Cancelled;
        store.write_manifest(&job).unwrap();
        for id in &jobs[..1090] {
            store.remove_job_dir(id).unwrap();
        }
        drop(store);
        let index = || fs::read_to_string(dir.path().join(crate::finished_index::FILE)).unwrap();
        assert_eq!(index().lines().count(), 1100, "retention leaves lines behind");

        let (_, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(recovered.finished.len(), 11, "the 10 kept and the one without a line");
        assert_eq!(state_of(&recovered, late), Some(JobState::Cancelled));
        assert_eq!(index().lines().count(), 11, "rewritten once most lines were of removed jobs");
        let (_, again) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&again), ids(&recovered));
    }

    #[test]
    fn a_directory_half_removed_by_retention_is_not_a_job_and_start_up_finishes_removing_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        finish(&store, A, 1, JobState::Done);
        finish(&store, B, 2, JobState::Done);
        drop(store);
        // Retention renames a directory before removing it; a stop in between leaves this.
        let aside = dir.path().join(format!(".{A}{REMOVING}"));
        fs::rename(dir.path().join(A), &aside).unwrap();
        let (_, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), [B]);
        for _ in 0..500 {
            if !aside.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{} was not removed", aside.display());
    }

    #[test]
    fn a_second_store_on_the_same_runs_directory_is_refused_until_the_first_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        let err = JobStore::open(dir.path()).expect_err("refused while the first is open");
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy);
        let message = err.to_string();
        assert!(message.contains("in use by another scheduler"), "{message}");
        assert!(message.contains(&format!("process {}", std::process::id())), "{message}");
        drop(store);
        JobStore::open(dir.path()).expect("opened once the first is closed");
    }

    #[test]
    fn queued_jobs_live_in_the_journal_until_their_manifest_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        store.journal_submissions(&[queued(A, 0), queued(B, 1), queued(C, 2)]).unwrap();
        // No directory per queued job.
        assert!(!dir.path().join(A).exists());
        assert!(store.is_journal_only(A));

        let mut started = queued(B, 1);
        started.state = JobState::Preflight;
        store.write_manifest_with(&started, false).unwrap();
        assert!(!store.is_journal_only(B));
        store.compact_journal().unwrap();
        let mut left = journal_ids(dir.path());
        left.sort();
        assert_eq!(left, vec![A.to_string(), C.to_string()], "B has its manifest and leaves the journal");
        drop(store);

        let (_, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), vec![A, B, C]);
        assert_eq!(recovered.replayed, 2);
        let b = recovered.jobs.iter().find(|j| j.id == B).unwrap();
        assert_eq!(b.state, JobState::Preflight, "the manifest wins over the journal line");
    }

    /// The store keeps where a queued job's line is, not the line: its resolved spec is read back
    /// from the journal (before and after a compaction moves the line), and a manifest written
    /// from a record without it gets it from there.
    #[test]
    fn a_queued_jobs_resolved_spec_is_read_back_from_its_journal_line() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        let spec = |n: u64| JsonText::of(&serde_json::json!({"total_steps": n})).unwrap();
        let jobs: Vec<JobRecord> =
            [A, B, C].iter().zip(0..).map(|(id, n)| JobRecord { resolved_spec: spec(n), ..queued(id, n) }).collect();
        store.journal_submissions(&jobs[..2]).unwrap();
        store.journal_submissions(&jobs[2..]).unwrap();
        assert_eq!(store.resolved_spec(C).unwrap(), spec(2));
        // A leaves the journal (its manifest, from a record that does not hold the spec).
        let a = JobRecord { resolved_spec: JsonText::null(), state: JobState::Cancelled, ..jobs[0].clone() };
        store.write_manifest(&a).unwrap();
        assert_eq!(store.read_job(A).unwrap().resolved_spec, spec(0), "the manifest has it");
        assert_eq!(store.resolved_spec(A).unwrap(), spec(0), "read from the manifest now");
        store.compact_journal().unwrap();
        assert_eq!(journal_ids(dir.path()).len(), 2);
        for (id, n) in [(B, 1), (C, 2)] {
            assert_eq!(store.resolved_spec(id).unwrap(), spec(n), "{id} after the compaction moved its line");
        }
        let err = store.resolved_spec("tr_1_000000ff").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    /// What a failed append can leave (a torn line, cut inside a character) costs only itself.
    #[test]
    fn a_torn_line_in_the_journal_costs_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let line = |id: &str, seq: u64| journal_line(&queued(id, seq));
        let torn = &line(B, 1)[..40];
        let mut text = line(A, 0);
        text.extend_from_slice(torn);
        text.extend_from_slice("é".as_bytes().split_at(1).0); // half a character
        text.push(b'\n'); // what the next append starts with when the tear could not be cut
        text.extend(line(C, 2));
        fs::write(dir.path().join(JOURNAL), text).unwrap();
        let (_, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), vec![A, C]);
    }

    /// A trainer can finish a short job before the manifest written at dispatch lands (seen as
    /// a flaky "No such file or directory" from CompleteJob).
    #[test]
    fn results_and_artifacts_can_arrive_before_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        store.journal_submissions(&[queued(A, 0)]).unwrap();
        store.write_results(A, "{}").unwrap();
        store.write_artifact(A, "report.md", b"x").unwrap();
        store.write_checkpoint(A, "ckpt-1.safetensors", b"x").unwrap();
        store.append_events(A, &[]).unwrap();
        assert_eq!(store.read_results(A).unwrap(), "{}");
    }

    /// Start-up reads; it does not compact the journal, whose `syncfs` would first wait for
    /// whatever anyone left unwritten on the file system (seconds of it after a crash).
    #[test]
    fn start_up_leaves_the_journal_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        store.journal_submissions(&[queued(A, 0), queued(B, 1)]).unwrap();
        let mut started = queued(A, 0);
        started.state = JobState::Preflight;
        store.write_manifest(&started).unwrap();
        drop(store);
        let before = fs::read(dir.path().join(JOURNAL)).unwrap();

        let (store, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join(JOURNAL)).unwrap(), before, "not rewritten at start-up");
        assert_eq!(ids(&recovered), vec![A, B]);
        assert!(!store.is_journal_only(A) && store.is_journal_only(B));
        assert_eq!(store.resolved_spec(B).unwrap(), queued(B, 1).resolved_spec, "read where it was");
        assert!(store.journal_has_spent_lines(), "A's line waits for a compaction");
        store.compact_journal().unwrap();
        assert_eq!(journal_ids(dir.path()), vec![B]);
    }

    #[test]
    fn a_torn_journal_line_was_never_acknowledged_and_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        store.journal_submissions(&[queued(A, 0)]).unwrap();
        drop(store);
        let line = String::from_utf8(journal_line(&queued(B, 1))).unwrap();
        let mut f = OpenOptions::new().append(true).open(dir.path().join(JOURNAL)).unwrap();
        f.write_all(&line.as_bytes()[..line.len() / 2]).unwrap();
        drop(f);
        let (store, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), vec![A]);
        assert!(store.is_journal_only(A));
        // The torn line stays (start-up does not compact) and the next append is not glued to it.
        store.journal_submissions(&[queued(C, 2)]).unwrap();
        assert_eq!(store.resolved_spec(A).unwrap(), queued(A, 0).resolved_spec);
        assert_eq!(store.resolved_spec(C).unwrap(), queued(C, 2).resolved_spec);
        drop(store);
        let (store, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), vec![A, C]);
        store.compact_journal().unwrap();
        assert_eq!(journal_ids(dir.path()), vec![A, C], "a compaction drops the torn line");
    }

    #[test]
    fn a_torn_manifest_of_a_journaled_job_is_rebuilt_not_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        store.journal_submissions(&[queued(A, 0)]).unwrap();
        drop(store);
        fs::create_dir_all(dir.path().join(A)).unwrap();
        fs::write(dir.path().join(A).join("manifest.json"), b"{\"id\": \"tr_1_").unwrap();
        let (_, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), vec![A]);
        assert!(recovered.quarantined.is_empty(), "{:?}", recovered.quarantined);
    }

    #[test]
    fn an_unreadable_job_is_quarantined_and_a_torn_event_line_cut_while_the_rest_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        for (id, seq) in [(A, 0), (B, 1)] {
            let mut job = queued(id, seq);
            job.state = JobState::Preflight;
            store.write_manifest(&job).unwrap();
        }
        drop(store);
        // A's manifest is torn (and A is in no journal); B's event log ends in half a line.
        fs::write(dir.path().join(A).join("manifest.json"), b"{\"id\": \"tr_1_0000000a\", \"sta").unwrap();
        let event = r#"{"sequence":1,"at_ms":1,"kind":"state","state":"QUEUED","percent":0.0,"message":"queued","steps_done":0,"steps_per_sec":0.0}"#;
        fs::write(dir.path().join(B).join("events.jsonl"), format!("{event}\n{}", &event[..40])).unwrap();

        let (store, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), vec![B], "B is served");
        assert_eq!(recovered.quarantined.len(), 1);
        assert_eq!(recovered.quarantined[0].0, A);
        assert!(recovered.quarantined[0].1.contains("manifest.json"), "{:?}", recovered.quarantined);
        assert!(!dir.path().join(A).exists(), "moved aside");
        let aside: Vec<String> = fs::read_dir(dir.path().join(QUARANTINE))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(aside.len() == 1 && aside[0].starts_with(A), "{aside:?}");
        assert_eq!(recovered.repaired_event_logs, vec![B.to_string()]);
        assert_eq!(store.read_events(B, 0).unwrap().len(), 1, "the whole first event is kept");
        assert_eq!(fs::read_to_string(dir.path().join(B).join("events.jsonl")).unwrap(), format!("{event}\n"));
    }

    thread_local! {
        /// Run by `journal_submissions` on this thread once a batch is fsynced.
        static AFTER_APPEND: std::cell::RefCell<Option<Box<dyn FnOnce()>>> = const { std::cell::RefCell::new(None) };
    }

    pub(super) fn after_append() {
        if let Some(hook) = AFTER_APPEND.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }

    /// The interleaving the old code allowed: a batch fsynced, then a whole compaction (on
    /// another thread) before the batch was recorded as live. The compaction rewrote the journal
    /// without the acknowledged batch, and a restart lost it.
    #[test]
    fn a_compaction_racing_an_append_keeps_the_acknowledged_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        let store = std::sync::Arc::new(store);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let compactor = store.clone();
        let compaction = std::sync::Arc::new(Mutex::new(None));
        let handle = compaction.clone();
        AFTER_APPEND.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                // A compaction starts in the window: it must wait for the append to finish.
                *lock(&handle) = Some(std::thread::spawn(move || {
                    compactor.compact_journal().unwrap();
                    let _ = done_tx.send(());
                }));
                // The old code let it run to the end here (it never blocks for long); the fix
                // holds it at the journal lock until the batch is recorded.
                let finished = done_rx.recv_timeout(std::time::Duration::from_millis(500)).is_ok();
                assert!(!finished, "a compaction ran between the batch's fsync and its recording");
            }))
        });
        store.journal_submissions(&[queued(A, 0)]).unwrap();
        lock(&compaction).take().unwrap().join().unwrap();
        assert_eq!(journal_ids(dir.path()), vec![A], "the compacted journal keeps the batch");
        drop(store);
        let (_, recovered) = JobStore::open(dir.path()).unwrap();
        assert_eq!(ids(&recovered), vec![A], "and a restart still has the job");
    }

    fn event_line(sequence: u64, message: &str) -> String {
        let event = EventRecord {
            sequence,
            kind: crate::events::EventKind::Log,
            at_ms: 1,
            state: JobState::Training,
            percent: 0.0,
            message: message.into(),
            steps_done: 0,
            steps_per_sec: 0.0,
            stats: None,
        };
        format!("{}\n", serde_json::to_string(&event).unwrap())
    }

    /// Start-up reads of each event log only its end: the last event's number, a torn last
    /// line cut.
    #[test]
    fn the_last_event_is_read_from_the_end_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        assert_eq!(last_event(&path).unwrap(), (0, false), "no log");
        fs::write(&path, "").unwrap();
        assert_eq!(last_event(&path).unwrap(), (0, false), "an empty log");
        fs::write(&path, event_line(1, "one")).unwrap();
        assert_eq!(last_event(&path).unwrap(), (1, false), "one line");

        // A long log: 5,000 events (about 700 KB), a damaged line far from its end. Only the end
        // is read, so the damage is left alone (appends tear only the last line).
        let mut text: String = (1..=5000).map(|i| event_line(i, "training")).collect();
        text.insert_str(1000, "{\"not an event\"}\n");
        fs::write(&path, &text).unwrap();
        assert_eq!(last_event(&path).unwrap(), (5000, false));
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "untouched");

        // A torn last line is cut, and the one before it counts.
        let good: String = (1..=300).map(|i| event_line(i, "training")).collect();
        fs::write(&path, format!("{good}{}", &event_line(301, "x")[..30])).unwrap();
        assert_eq!(last_event(&path).unwrap(), (300, true));
        assert_eq!(fs::read_to_string(&path).unwrap(), good);

        // A last line longer than the end that is read: the whole log is read.
        let long = format!("{}{}", event_line(1, "a"), event_line(2, &"x".repeat(40_000)));
        fs::write(&path, &long).unwrap();
        assert_eq!(last_event(&path).unwrap(), (2, false));
    }

    #[test]
    fn compaction_is_due_once_most_of_a_large_journal_is_spent() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = JobStore::open(dir.path()).unwrap();
        let jobs: Vec<JobRecord> = (0..20_000).map(|i| queued(&format!("tr_1_{i:08x}"), i)).collect();
        store.journal_submissions(&jobs).unwrap();
        assert!(fs::metadata(dir.path().join(JOURNAL)).unwrap().len() > 8 << 20, "the test needs a large journal");
        assert!(!store.journal_needs_compaction(), "every line is still live");
        for job in &jobs[..15_000] {
            lock(&store.journal_only).remove(&job.id);
        }
        assert!(store.journal_needs_compaction());
        store.compact_journal().unwrap();
        assert_eq!(journal_ids(dir.path()).len(), 5_000);
        assert!(!store.journal_needs_compaction());
    }
}
