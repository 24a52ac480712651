//! End to end, the durability of submissions: a job acknowledged to a client survives a SIGKILL
//! of the scheduler at any moment.
//!
//! Eight clients submit small jobs over gRPC as fast as the scheduler acknowledges them (no
//! trainers: every job stays QUEUED, so it lives only in `runs/submissions.journal`), while the
//! test SIGKILLs the scheduler at varied moments (a fixed seed) and starts it again on the same
//! runs directory. Half the clients are careful: after an error they send the same idempotency
//! key again until it is acknowledged (after a restart, that returns the job whose
//! acknowledgement the kill swallowed). The other half move on to a fresh key after an error,
//! so a job stored just before a kill but never acknowledged stays behind as an extra job.
//!
//! Once the clients stop, the scheduler is killed once more (the last acknowledgements must be
//! durable too) and started again. Then every acknowledged job must be there, QUEUED, under its
//! key; no job may be listed twice and no key may name two jobs; the extra jobs must be
//! submissions that failed and were not retried, at most one per such client and kill.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;

use crate::support::{self, Cluster, state_name, wait_until};

/// Concurrent submitting clients: even ones retry a failed key, odd ones abandon it.
const CLIENTS: usize = 8;
/// Clients that abandon a key after an error (the odd ones).
const ABANDONING: usize = CLIENTS / 2;
/// SIGKILLs while the clients submit (one more follows once they stopped).
const KILLS: u32 = 6;
/// Seeds the moments of the kills and how long the scheduler stays down.
const SEED: u64 = 0x5eed_0fc0_ffee;
/// New keys per client at most: a safety net that keeps the queue (20,000 jobs at most) well
/// under the scheduler's queue cap and the final checks short on a very fast machine. The
/// clients normally stop on [`Shared::stop`]; one that used up its keys before the last kill
/// just ends early (the kill loop does not wait for acknowledgements that cannot come).
const MAX_KEYS_PER_CLIENT: u64 = 2_500;
/// One SubmitJob's deadline on the client side.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a careful client keeps retrying one key before the test fails.
const RETRY_FOR: Duration = Duration::from_secs(30);

type Client = TrainingServiceClient<support::Authed>;

fn client(url: &str) -> Client {
    support::lazy_admin_client(url, Duration::from_secs(1))
}

/// A small job under `key`: it never runs (no trainers), so its size does not matter.
fn spec(key: &str) -> pb::JobSpec {
    pb::JobSpec {
        symbols: vec!["SYN-EDGE".into()],
        total_steps: 4096,
        idempotency_key: key.into(),
        ..Default::default()
    }
}

/// One acknowledged submission.
#[derive(Debug, Clone)]
struct Ack {
    /// The idempotency key sent.
    key: String,
    /// The job id the scheduler answered with.
    id: String,
    /// `created` of the answer (false: the key already named a job).
    created: bool,
    /// Attempts of this key that failed before the acknowledgement.
    failed_attempts: u32,
    /// Scheduler incarnation (kills so far) when the acknowledgement arrived.
    incarnation: u32,
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    /// Every acknowledgement, in arrival order.
    acks: Vec<Ack>,
    /// Keys sent (whether acknowledged or not).
    sent_keys: HashSet<String>,
    /// Keys whose submission failed and that were not sent again.
    abandoned: HashSet<String>,
    /// Failed SubmitJob calls (connection refused or reset, deadline, …).
    errors: u64,
    /// Failed calls by gRPC code, for the summary.
    errors_by_code: HashMap<String, u64>,
    /// Answers no retry can fix (invalid argument, queue full, …): the test fails on them.
    unexpected: Vec<String>,
}

/// State shared by the test thread and the submitting clients.
#[derive(Debug, Default)]
struct Shared {
    /// Set when the clients should stop taking new keys (a careful client finishes its key).
    stop: AtomicBool,
    /// Kills so far.
    incarnation: AtomicU32,
    tally: Mutex<Tally>,
}

impl Shared {
    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A small deterministic generator (xorshift64*): the kills vary, but the same way every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Whether a failed call is what a killed or restarting scheduler causes (worth a retry).
fn expected_failure(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(code, Unavailable | Unknown | Cancelled | DeadlineExceeded | Internal | Aborted)
}

/// One client: submits fresh keys until told to stop.
async fn submitter(n: usize, url: String, shared: Arc<Shared>) {
    let careful = n.is_multiple_of(2);
    let mut client = client(&url);
    for k in 0..MAX_KEYS_PER_CLIENT {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let key = format!("survive-c{n}-k{k}");
        shared.tally().sent_keys.insert(key.clone());
        let first_try = Instant::now();
        let mut failed_attempts = 0;
        loop {
            let call = client.submit_job(pb::SubmitJobRequest { spec: Some(spec(&key)) });
            let status = match tokio::time::timeout(CALL_TIMEOUT, call).await {
                Ok(Ok(response)) => {
                    let response = response.into_inner();
                    let id = response.job.map(|j| j.id).unwrap_or_default();
                    let incarnation = shared.incarnation.load(Ordering::SeqCst);
                    let ack = Ack { key: key.clone(), id, created: response.created, failed_attempts, incarnation };
                    shared.tally().acks.push(ack);
                    break;
                }
                Ok(Err(status)) => status,
                Err(_) => tonic::Status::deadline_exceeded(format!("no answer within {CALL_TIMEOUT:?}")),
            };
            failed_attempts += 1;
            {
                let mut tally = shared.tally();
                tally.errors += 1;
                *tally.errors_by_code.entry(format!("{:?}", status.code())).or_default() += 1;
                if !expected_failure(status.code()) {
                    tally.unexpected.push(format!("client {n}, key {key}: {status:?}"));
                    return;
                }
                if careful && first_try.elapsed() > RETRY_FOR {
                    tally.unexpected.push(format!("client {n}, key {key}: not acknowledged within {RETRY_FOR:?}"));
                    return;
                }
                if !careful {
                    tally.abandoned.insert(key.clone());
                }
            }
            // The connection is gone with the scheduler: start afresh, after a breath.
            client = self::client(&url);
            tokio::time::sleep(Duration::from_millis(15)).await;
            if !careful {
                break;
            }
        }
    }
}

/// Where a lost job's traces are (or are not) under `runs/`.
fn traces(cluster: &Cluster, journal: &str, ack: &Ack) -> String {
    let in_journal = journal.lines().filter(|l| l.contains(&format!("\"{}\"", ack.id))).count();
    let manifest = cluster.job_dir(&ack.id).join("manifest.json");
    let quarantined = std::fs::read_dir(cluster.runs.join("_quarantine"))
        .map(|d| d.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with(&ack.id)))
        .unwrap_or(false);
    format!(
        "{ack:?}: {in_journal} journal line(s) name it, manifest {}, quarantined: {quarantined}",
        if manifest.exists() { "present" } else { "absent" }
    )
}

#[test]
fn every_acknowledged_submission_survives_sigkills_of_the_scheduler() {
    let mut cluster = Cluster::start();
    // After the start (which may have built the scheduler).
    let started = Instant::now();
    let url = cluster.url();
    let shared = Arc::new(Shared::default());

    let submitters = {
        let (url, shared) = (url.clone(), shared.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
            rt.block_on(async move {
                let tasks: Vec<_> =
                    (0..CLIENTS).map(|n| tokio::spawn(submitter(n, url.clone(), shared.clone()))).collect();
                for task in tasks {
                    task.await.expect("a submitting client panicked");
                }
            });
        })
    };

    let mut rng = Rng(SEED);
    let mut kills_under_load = 0;
    for kill in 1..=KILLS {
        // Under load: this incarnation must have acknowledged some submissions before it dies,
        // unless every client has already used up its keys (a very fast machine), when no more
        // can come and the kill strikes an idle scheduler.
        let acked_before = shared.tally().acks.len();
        std::thread::sleep(Duration::from_millis(150 + rng.below(251)));
        let under_load = wait_until(&format!("acknowledgements before kill {kill}"), Duration::from_secs(30), || {
            if shared.tally().acks.len() >= acked_before + 2 * CLIENTS {
                Some(true)
            } else {
                submitters.is_finished().then_some(false)
            }
        });
        kills_under_load += u32::from(under_load);
        cluster.kill_scheduler();
        shared.incarnation.fetch_add(1, Ordering::SeqCst);
        // Down a moment: the clients meet refused connections.
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        cluster.start_scheduler();
    }
    std::thread::sleep(Duration::from_millis(200));
    shared.stop.store(true, Ordering::SeqCst);
    if submitters.join().is_err() {
        panic!("the submitting clients' thread panicked");
    }
    let submitting = started.elapsed();

    // The last acknowledgements came just before the clients stopped: they must survive too.
    cluster.kill_scheduler();
    shared.incarnation.fetch_add(1, Ordering::SeqCst);
    cluster.start_scheduler();

    let tally = std::mem::take(&mut *shared.tally());
    assert!(tally.unexpected.is_empty(), "answers no retry can fix:\n{}", tally.unexpected.join("\n"));
    assert!(tally.errors > 0, "no submission failed: the kills never hit a submission in flight");

    // Acknowledgements name distinct jobs; a key is acknowledged once.
    let mut acked: HashMap<&str, &Ack> = HashMap::new();
    for ack in &tally.acks {
        assert!(!ack.id.is_empty(), "an acknowledgement without a job: {ack:?}");
        if let Some(other) = acked.insert(&ack.id, ack) {
            panic!("two submissions were acknowledged with the same job id:\n{other:?}\n{ack:?}");
        }
        // `created: false` only answers a key sent before.
        assert!(ack.created || ack.failed_attempts > 0, "a fresh key named an existing job: {ack:?}");
    }
    let recovered = tally.acks.iter().filter(|a| !a.created).count();
    let mut per_incarnation = vec![0usize; KILLS as usize + 1];
    for ack in &tally.acks {
        per_incarnation[ack.incarnation as usize] += 1;
    }

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let (queue, others, lookups) = rt.block_on(async {
        let mut c = client(&url);
        // The whole queue, a page at a time.
        let first = pb::GetQueueRequest { page_size: 1000, ..Default::default() };
        let mut queue = c.get_queue(first).await.expect("GetQueue").into_inner();
        let mut page_token = std::mem::take(&mut queue.next_page_token);
        while !page_token.is_empty() {
            let request = pb::GetQueueRequest { page_size: 1000, page_token, ..Default::default() };
            let next = c.get_queue(request).await.expect("GetQueue").into_inner();
            queue.queued.extend(next.queued);
            page_token = next.next_page_token;
        }
        assert_eq!(queue.queued.len() as u64, queue.total_queued, "the pages hold every queued job");
        // Every job that is not QUEUED, a page at a time.
        let mut others = Vec::new();
        let mut page_token = String::new();
        loop {
            let states = [
                pb::JobState::Preflight,
                pb::JobState::Training,
                pb::JobState::Evaluating,
                pb::JobState::Done,
                pb::JobState::Failed,
                pb::JobState::Cancelled,
            ];
            let request = pb::ListJobsRequest {
                page_size: 1000,
                page_token,
                states: states.iter().map(|s| *s as i32).collect(),
                ..Default::default()
            };
            let page = c.list_jobs(request).await.expect("ListJobs").into_inner();
            others.extend(page.jobs);
            page_token = page.next_page_token;
            if page_token.is_empty() {
                break;
            }
        }
        // Every acknowledged id, one GetJob each (a few at a time over one connection).
        let ids: Vec<String> = tally.acks.iter().map(|a| a.id.clone()).collect();
        let chunks: Vec<Vec<String>> = ids.chunks(ids.len().div_ceil(8).max(1)).map(<[String]>::to_vec).collect();
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let mut c = c.clone();
                tokio::spawn(async move {
                    let mut out = Vec::with_capacity(chunk.len());
                    for id in chunk {
                        let found = c.get_job(pb::GetJobRequest { job_id: id.clone() }).await;
                        out.push((id, found.map(tonic::Response::into_inner)));
                    }
                    out
                })
            })
            .collect();
        let mut lookups = Vec::new();
        for task in tasks {
            lookups.extend(task.await.expect("a GetJob task panicked"));
        }
        (queue, others, lookups)
    });

    // Lost: an acknowledged job the restarted scheduler does not know.
    let journal = std::fs::read_to_string(cluster.runs.join("submissions.journal")).unwrap_or_default();
    let mut lost = Vec::new();
    for (id, found) in &lookups {
        let ack = acked[id.as_str()];
        match found {
            Ok(job) => {
                assert_eq!(state_name(job.state), "QUEUED", "{ack:?} is {job:?}");
                let key = job.spec.as_ref().map(|s| s.idempotency_key.as_str()).unwrap_or_default();
                assert_eq!(key, ack.key, "job {id} has another key than the one acknowledged: {job:?}");
            }
            Err(status) if status.code() == tonic::Code::NotFound => lost.push(traces(&cluster, &journal, ack)),
            Err(status) => panic!("GetJob {id}: {status:?}"),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged jobs are gone after the kills (journal: {} lines):\n{}",
        lost.len(),
        tally.acks.len(),
        journal.lines().count(),
        lost.join("\n")
    );
    assert!(others.is_empty(), "jobs not QUEUED with no trainer ever connected: {others:?}");
    assert!(queue.running.is_empty(), "running jobs with no trainer: {:?}", queue.running);

    // The queue: each job once, QUEUED, under one of the keys sent; each key names one job.
    let mut listed: HashSet<&str> = HashSet::new();
    let mut by_key: HashMap<&str, Vec<&str>> = HashMap::new();
    for job in &queue.queued {
        assert!(listed.insert(&job.id), "job {} is in the queue twice", job.id);
        assert_eq!(state_name(job.state), "QUEUED", "{job:?}");
        let key = job.spec.as_ref().map(|s| s.idempotency_key.as_str()).unwrap_or_default();
        assert!(tally.sent_keys.contains(key), "job {} has a key no client sent: {key:?}", job.id);
        by_key.entry(key).or_default().push(&job.id);
    }
    let doubled: Vec<_> = by_key.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "idempotency keys naming more than one job: {doubled:?}");
    for id in acked.keys() {
        assert!(listed.contains(id), "acknowledged job {id} answers GetJob but is not in the queue");
    }

    // Extra jobs: stored, but their acknowledgement died with the scheduler and the client gave up
    // on the key. At most one in flight per abandoning client when a kill struck.
    let extra: Vec<&pb::Job> = queue.queued.iter().filter(|j| !acked.contains_key(j.id.as_str())).collect();
    for job in &extra {
        let key = job.spec.as_ref().map(|s| s.idempotency_key.as_str()).unwrap_or_default();
        assert!(tally.abandoned.contains(key), "job {} ({key}) was stored but never acknowledged or failed", job.id);
    }
    assert!(
        extra.len() <= ABANDONING * KILLS as usize,
        "{} jobs stored without an acknowledgement, more than one per abandoning client and kill",
        extra.len()
    );
    assert!(queue.queued.len() >= tally.acks.len());

    eprintln!(
        "[e2e] submissions acknowledged: {} ({recovered} after a retry found the job stored before a kill); \
         errors during kills: {} {:?}; kills: {} ({kills_under_load} under load, +1 after the clients stopped), acknowledged per scheduler incarnation: {per_incarnation:?}; jobs listed: {}; \
         stored without acknowledgement: {} (of {} abandoned keys); lost: 0; submitting took {:.1}s, \
         checks done after {:.1}s",
        tally.acks.len(),
        tally.errors,
        tally.errors_by_code,
        KILLS,
        queue.queued.len(),
        extra.len(),
        tally.abandoned.len(),
        submitting.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
}
