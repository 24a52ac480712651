//! `runs/finished.index`: one line per finished job that has left memory, with what its compact
//! entry keeps ([`FinishedManifest`]) and the inode of its directory. It lets start-up take a
//! hundred thousand finished jobs from one file instead of opening two files in each of a
//! hundred thousand directories.
//!
//! It is a cache of the manifests, never the only copy of anything:
//! - a line is appended only once the job's final manifest and last events are durable
//!   (`Scheduler::retire`), and a finished job's files never change after;
//! - start-up uses a line only while a directory of that name and inode is listed; any other
//!   directory (its line lost in a crash or torn, a directory put back by hand) is read as
//!   before, and its line appended;
//! - lines of directories that are gone (retention) are dropped by rewriting the file once they
//!   outnumber the rest: at start-up, and after retention removes jobs while serving, so the
//!   file stays the size of what is kept however long the scheduler runs.
//!
//! Lines are written without fsync: a crash costs lines, and start-up reads those jobs' directories.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::finished::{FinishedJob, FinishedManifest, Interner};

/// The file's name under `runs/`.
pub const FILE: &str = "finished.index";

/// One line: a finished job and the inode of its directory when the line was written.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    ino: u64,
    job: FinishedManifest,
}

/// The index file, and the jobs that left memory since it was last appended to.
#[derive(Debug)]
pub struct FinishedIndex {
    root: PathBuf,
    pending: Mutex<Vec<FinishedManifest>>,
    /// Held while the file is appended to or replaced; the lines it has (about: a torn line
    /// counts too).
    file: Mutex<usize>,
}

/// What start-up found in the index.
#[derive(Debug, Default)]
pub struct Indexed {
    /// By job id (the last line of each): the inode its directory had, and its entry.
    pub jobs: HashMap<String, (u64, FinishedJob)>,
    /// Lines in the file, readable or not.
    pub lines: usize,
}

impl FinishedIndex {
    /// The index of the store at `root`.
    pub fn new(root: &Path) -> FinishedIndex {
        FinishedIndex { root: root.to_path_buf(), pending: Mutex::new(Vec::new()), file: Mutex::new(0) }
    }

    /// Notes a job that has just left memory; its line is appended by [`Self::write_pending`].
    pub fn note(&self, job: &FinishedJob) {
        lock(&self.pending).push(job.manifest());
    }

    /// Whether jobs wait to be appended.
    pub fn has_pending(&self) -> bool {
        !lock(&self.pending).is_empty()
    }

    /// Appends a line for each job noted since the last call (a job whose directory is gone by
    /// now, removed by retention, gets none).
    pub fn write_pending(&self) -> io::Result<()> {
        let jobs = std::mem::take(&mut *lock(&self.pending));
        self.append(self.with_inodes(jobs))
    }

    /// `jobs` with the inodes of their directories; a job whose directory is gone is left out.
    fn with_inodes(&self, jobs: Vec<FinishedManifest>) -> impl Iterator<Item = (u64, FinishedManifest)> + '_ {
        jobs.into_iter().filter_map(|job| Some((fs::metadata(self.root.join(&job.id)).ok()?.ino(), job)))
    }

    /// Appends lines (directory inode, job).
    pub fn append(&self, jobs: impl IntoIterator<Item = (u64, FinishedManifest)>) -> io::Result<()> {
        let (mut text, n) = lines(jobs)?;
        if text.is_empty() {
            return Ok(());
        }
        let mut lines = lock(&self.file);
        let path = self.root.join(FILE);
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        // A torn last line (a crash mid-append) is cut off from the next one by a newline.
        if crate::store::ends_in_torn_line(&path)? {
            text.insert(0, b'\n');
        }
        file.write_all(&text)?;
        *lines += n;
        Ok(())
    }

    /// Replaces the file with one line per job (directory inode, job): written aside, then renamed
    /// over it.
    pub fn rewrite<'a>(&self, jobs: impl IntoIterator<Item = (u64, &'a FinishedJob)>) -> io::Result<()> {
        let mut lines = lock(&self.file);
        *lines = self.replace(jobs.into_iter().map(|(ino, job)| (ino, job.manifest())))?;
        Ok(())
    }

    /// Whether most of the file's lines are of jobs no longer kept (`kept` are): worth a
    /// [`Self::rewrite_kept`].
    pub fn mostly_stale(&self, kept: usize) -> bool {
        *lock(&self.file) > 2 * kept + 1024
    }

    /// Rewrites the file with the jobs `kept` returns, called with the file held: a job that
    /// leaves memory meanwhile waits in the pending lines (appended after, or twice, which costs
    /// a line). A job whose directory is gone gets no line.
    pub fn rewrite_kept(&self, kept: impl FnOnce() -> Vec<FinishedManifest>) -> io::Result<usize> {
        let mut lines = lock(&self.file);
        *lines = self.replace(self.with_inodes(kept()))?;
        Ok(*lines)
    }

    /// Writes `jobs` aside and renames the file over the index; returns the lines written.
    fn replace(&self, jobs: impl IntoIterator<Item = (u64, FinishedManifest)>) -> io::Result<usize> {
        let aside = self.root.join(format!("{FILE}.new"));
        let (text, n) = lines(jobs)?;
        fs::write(&aside, &text)?;
        fs::rename(&aside, self.root.join(FILE))?;
        Ok(n)
    }

    /// Reads the file (none: nothing indexed), parsing on `threads` threads. Lines that do not
    /// read as a job (torn by a crash) are skipped: their jobs' directories are read instead.
    pub fn read(&self, threads: usize) -> io::Result<Indexed> {
        let text = match fs::read(self.root.join(FILE)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Indexed::default()),
            Err(e) => return Err(e),
        };
        let chunks = split_at_lines(&text, threads.max(1));
        let parsed: Vec<(usize, Vec<(u64, FinishedJob)>)> = std::thread::scope(|scope| {
            let readers: Vec<_> = chunks
                .iter()
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut shared = Interner::default();
                        let mut lines = 0;
                        let mut jobs = Vec::new();
                        for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                            lines += 1;
                            if let Ok(Line { ino, job }) = serde_json::from_slice::<Line>(line) {
                                jobs.push((ino, FinishedJob::from_manifest(job, &mut shared)));
                            }
                        }
                        (lines, jobs)
                    })
                })
                .collect();
            readers.into_iter().map(|r| r.join().expect("an index reader panicked")).collect()
        });
        let mut indexed = Indexed::default();
        *lock(&self.file) = parsed.iter().map(|(lines, _)| lines).sum();
        for (lines, jobs) in parsed {
            indexed.lines += lines;
            for (ino, job) in jobs {
                indexed.jobs.insert(job.id.to_string(), (ino, job));
            }
        }
        Ok(indexed)
    }
}

/// The index's lines of `jobs` (directory inode, job), and how many there are.
fn lines(jobs: impl IntoIterator<Item = (u64, FinishedManifest)>) -> io::Result<(Vec<u8>, usize)> {
    let mut text = Vec::new();
    let mut n = 0;
    for (ino, job) in jobs {
        serde_json::to_writer(&mut text, &Line { ino, job }).map_err(io::Error::other)?;
        text.push(b'\n');
        n += 1;
    }
    Ok((text, n))
}

/// `text` cut into about `parts` pieces, each ending at the end of a line.
fn split_at_lines(text: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(parts);
    let mut rest = text;
    let size = text.len().div_ceil(parts).max(1);
    while !rest.is_empty() {
        let end = match rest.get(size..).and_then(|after| after.iter().position(|b| *b == b'\n')) {
            Some(newline) => size + newline + 1,
            None => rest.len(),
        };
        let (piece, after) = rest.split_at(end);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobRecord, JobState, JsonText, ResultRecord, SubmittedSpec};

    fn finished(n: u64) -> FinishedJob {
        let request = SubmittedSpec {
            algorithm: "ppo".into(),
            symbols: vec!["BTC".into(), "ETH".into()],
            features: vec!["price".into()],
            total_steps: 4096,
            idempotency_key: format!("key-{n}"),
            overrides: [("ppo.learning_rate".to_string(), "1e-4".to_string())].into(),
            ..Default::default()
        };
        let mut job = JobRecord::queued(format!("tr_1_{n:08x}"), request, JsonText::null(), 7, 100 + n as i64);
        job.seq = n;
        job.state = JobState::Done;
        job.finished_ms = 1000 + n as i64;
        job.error = "é".repeat(300);
        job.last_sequence = 9;
        job.data_fingerprints = vec![("BTC".into(), "ab".into())];
        job.result = Some(Box::new(ResultRecord {
            sharpe: 1.5,
            buy_and_hold_sharpe: 0.25,
            generation: 3,
            improvement: None,
            champion: true,
            validation_sharpe: Some(0.5),
            stop_reason: "completed".into(),
            edge_significant: false,
        }));
        FinishedJob::of(job)
    }

    fn text(job: &FinishedJob) -> String {
        serde_json::to_string(&job.summary()).unwrap()
    }

    #[test]
    fn an_entry_reads_back_as_it_was_written_and_a_torn_line_costs_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let index = FinishedIndex::new(dir.path());
        let jobs: Vec<FinishedJob> = (1..=50).map(finished).collect();
        index.append(jobs.iter().map(|j| (u64::from(j.seq as u32) + 1000, j.manifest()))).unwrap();
        // A crash in the middle of an append: half a line, then more lines after a restart.
        let path = dir.path().join(FILE);
        let mut torn = fs::read(&path).unwrap();
        torn.extend_from_slice(br#"{"ino":5,"job":{"id":"tr_1_000000ff","req"#);
        fs::write(&path, &torn).unwrap();
        index.append([(77, finished(51).manifest())]).unwrap();

        for threads in [1, 3, 16] {
            let read = index.read(threads).unwrap();
            assert_eq!(read.lines, 52, "50 lines, the torn one, the one after it");
            assert_eq!(read.jobs.len(), 51);
            for job in jobs.iter().chain([&finished(51)]) {
                let (ino, back) = &read.jobs[&*job.id];
                assert_eq!(text(back), text(job), "{}", job.id);
                assert_eq!(*ino, if job.seq == 51 { 77 } else { job.seq + 1000 });
            }
        }
    }

    #[test]
    fn a_rewrite_keeps_only_the_jobs_given_and_no_file_is_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let index = FinishedIndex::new(dir.path());
        assert_eq!(index.read(2).unwrap().lines, 0);
        let jobs: Vec<FinishedJob> = (1..=4).map(finished).collect();
        index.append(jobs.iter().map(|j| (j.seq, j.manifest()))).unwrap();
        index.rewrite(jobs[2..].iter().map(|j| (j.seq, j))).unwrap();
        let read = index.read(2).unwrap();
        assert_eq!(read.lines, 2);
        let mut ids: Vec<&String> = read.jobs.keys().collect();
        ids.sort();
        assert_eq!(ids, ["tr_1_00000003", "tr_1_00000004"]);
    }

    #[test]
    fn an_index_mostly_of_removed_jobs_is_rewritten_with_the_kept_ones_whose_directories_remain() {
        let dir = tempfile::tempdir().unwrap();
        let index = FinishedIndex::new(dir.path());
        let jobs: Vec<FinishedJob> = (1..=1100).map(finished).collect();
        index.append(jobs.iter().map(|j| (j.seq, j.manifest()))).unwrap();
        assert!(!index.mostly_stale(1100), "every line is kept");
        // Retention kept the newest 10; one of them lost its directory since.
        assert!(index.mostly_stale(10));
        for job in &jobs[1090..1099] {
            fs::create_dir(dir.path().join(&*job.id)).unwrap();
        }
        let lines = index.rewrite_kept(|| jobs[1090..].iter().map(FinishedJob::manifest).collect()).unwrap();
        assert_eq!(lines, 9, "the kept jobs with a directory");
        assert!(!index.mostly_stale(10));
        let read = index.read(2).unwrap();
        assert_eq!(read.lines, 9);
        let (ino, back) = &read.jobs[&*jobs[1090].id];
        assert_eq!(*ino, fs::metadata(dir.path().join(&*jobs[1090].id)).unwrap().ino(), "the directory as it is");
        assert_eq!(text(back), text(&jobs[1090]));
    }

    #[test]
    fn pieces_end_at_line_ends() {
        let text = b"a\nbb\nccc\ndddd\n";
        for parts in 1..8 {
            let pieces = split_at_lines(text, parts);
            assert_eq!(pieces.concat(), text);
            assert!(pieces.iter().all(|p| p.ends_with(b"\n")), "{parts}: {pieces:?}");
        }
    }
}
