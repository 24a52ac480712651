//! End to end, a trainer is cut off the network while its process lives: trainer t-a reaches
//! the scheduler only through a TCP proxy of this test; after t-a's first checkpoint the proxy
//! drops every connection and refuses new ones. t-a goes on training, but its lease expires within
//! the scheduler's TTL, the job is re-queued and t-b (connected directly) resumes it from the
//! checkpoint. While t-b trains, the proxy forwards again: t-a's reports under its stale lease are
//! refused, change nothing, and t-a drops the job and asks for work again. The job ends DONE on
//! attempt 2, with t-b's result.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::support::{
    Cluster, assert_attempt_2_resumed, assert_gap_free, assert_two_attempts, job_of, scheduler_flag_ms, state_name,
    wait_until,
};

/// Long enough (about 10 s on two threads) that neither trainer can finish it before the
/// network comes back, a few seconds after t-b resumed it.
const STEPS: u64 = 200_000;

/// Slack on top of the lease TTL for the sweeper (every 100 ms) and a slow, busy machine:
/// generous, so only a lease that outlives its TTL by far fails the test.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// A loopback TCP proxy to one upstream address, with a switch: cut, it drops every connection
/// it carries and closes new ones as soon as they are accepted; restored, it forwards again.
struct Proxy {
    /// Runs the proxy (the harness is synchronous); dropping it stops everything.
    _rt: tokio::runtime::Runtime,
    /// Where it listens.
    addr: SocketAddr,
    /// `true` while cut.
    cut: watch::Sender<bool>,
    /// Connections forwarded.
    forwarded: Arc<AtomicU64>,
    /// Connections closed at once because the proxy was cut.
    refused: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on an ephemeral loopback port and forwards to `upstream`.
    fn start(upstream: SocketAddr) -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("e2e-proxy")
            .enable_all()
            .build()
            .expect("starting the proxy's runtime");
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("binding the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (cut, _) = watch::channel(false);
        let (forwarded, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        rt.spawn(accept(listener, upstream, cut.subscribe(), forwarded.clone(), refused.clone()));
        Proxy { _rt: rt, addr, cut, forwarded, refused }
    }

    /// The URL to give a trainer.
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards new connections again.
    fn restore(&self) {
        self.cut.send_replace(false);
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    cut: watch::Receiver<bool>,
    forwarded: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
) {
    loop {
        let inbound = match listener.accept().await {
            Ok((inbound, _)) => inbound,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if *cut.borrow() {
            refused.fetch_add(1, Ordering::Relaxed);
            drop(inbound);
            continue;
        }
        forwarded.fetch_add(1, Ordering::Relaxed);
        let mut cut = cut.clone();
        tokio::spawn(async move {
            let (mut inbound, Ok(mut outbound)) = (inbound, TcpStream::connect(upstream).await) else { return };
            let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
            // Either side closing, or the cut, ends the connection: both sockets are dropped.
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = cut.wait_for(|cut| *cut) => {}
            }
        });
    }
}

/// Unix milliseconds, the scheduler's clock (same machine).
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as i64
}

/// The steps of a checkpoint file `ckpt-a<attempt>-<steps>.safetensors`.
fn checkpoint_steps(name: &str) -> u64 {
    let steps = name.trim_end_matches(".safetensors").rsplit('-').next().unwrap_or_default();
    steps.parse().unwrap_or_else(|e| panic!("checkpoint name {name}: {e}"))
}

#[test]
fn a_partitioned_trainer_loses_its_lease_and_its_stale_reports_change_nothing() {
    let started = Instant::now();
    let ttl = scheduler_flag_ms("--lease-ttl-ms");
    let mut cluster = Cluster::start();
    let upstream: SocketAddr = cluster.url().trim_start_matches("http://").parse().expect("a loopback address");
    let proxy = Proxy::start(upstream);
    cluster.start_trainer_at("t-a", 2, &proxy.url());
    let id = cluster.submit(&job_of(STEPS));

    // Attempt 1 trains on t-a, through the proxy, until a checkpoint is stored.
    cluster.wait_for_state(&id, &["TRAINING"], Duration::from_secs(60));
    wait_until("the first checkpoint of attempt 1", Duration::from_secs(60), || {
        (!cluster.checkpoint_files(&id).is_empty()).then_some(())
    });
    let job = cluster.job(&id).expect("GetJob");
    assert_eq!((state_name(job.state).as_str(), job.attempt), ("TRAINING", 1), "attempt 1 must be training");
    let a_id = job.trainer_id.clone();

    // The cut: t-a's process lives on, but nothing it sends reaches the scheduler.
    let cut_ms = now_ms();
    proxy.cut();
    cluster.start_trainer("t-b", 2);

    // The lease expires within the TTL of t-a's last heartbeat (sent at most a heartbeat interval
    // or so before the cut), and because it expired: the dropped connections alone do not end it
    // (the reason says so). The job is re-queued, then granted to t-b, which was waiting.
    let (granted, requeued) = wait_until("the lease of attempt 1 to expire", ttl + EXPIRY_MARGIN, || {
        let job = cluster.job(&id).ok()?;
        let queued = job.history.iter().filter(|h| state_name(h.state) == "QUEUED").nth(1)?;
        let granted = job.history.iter().find(|h| state_name(h.state) == "PREFLIGHT").expect("attempt 1 was granted");
        Some((granted.clone(), queued.clone()))
    });
    assert!(requeued.reason.contains("attempt 1: lease expired"), "re-queued for another reason: {}", requeued.reason);
    // After the cut, and within a generous margin of the TTL (no lower bound on the test's clock:
    // how long before the cut t-a's last heartbeat landed depends on the machine's load).
    let cut_to_requeue = requeued.at_ms - cut_ms;
    assert!(
        cut_to_requeue > 0 && cut_to_requeue <= (ttl + EXPIRY_MARGIN).as_millis() as i64,
        "the job was re-queued {cut_to_requeue} ms after the cut; the lease TTL is {ttl:?} (+{EXPIRY_MARGIN:?})"
    );
    // On the scheduler's own clock, a lease lives at least one TTL from its grant.
    let lease_lived = requeued.at_ms - granted.at_ms;
    assert!(
        lease_lived >= ttl.as_millis() as i64,
        "the lease of attempt 1 ended {lease_lived} ms after its grant, under the TTL of {ttl:?}"
    );
    assert!(cluster.trainer("t-a").exited().is_none(), "t-a must live through the cut");
    // Attempt 1's checkpoints, now that nothing more can be stored for it.
    let manifest = cluster.manifest(&id);
    let stored: Vec<u64> = manifest["checkpoints"]
        .as_array()
        .expect("a checkpoint list")
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("ckpt-a1-")))
        .map(|c| c["steps"].as_u64().expect("checkpoint steps"))
        .collect();
    let resume_from = *stored.iter().max().expect("attempt 1 stored a checkpoint");
    assert!(resume_from > 0 && resume_from < STEPS, "checkpoint at {resume_from} steps");

    // t-b trains attempt 2 and stores a checkpoint of its own; t-a, still cut off, trains on.
    wait_until("a checkpoint of attempt 2", Duration::from_secs(60), || {
        cluster.checkpoint_files(&id).iter().any(|n| n.starts_with("ckpt-a2-")).then_some(())
    });
    let job = cluster.job(&id).expect("GetJob");
    assert_eq!((state_name(job.state).as_str(), job.attempt), ("TRAINING", 2), "attempt 2 must be training");
    let b_id = job.trainer_id.clone();
    assert_ne!(a_id, b_id);
    let a_log = cluster.trainer("t-a").stdout_text();
    assert!(a_log.contains("heartbeat failed"), "t-a did not notice the cut:\n{a_log}");
    assert!(!a_log.contains("lease lost"), "t-a heard of its lost lease while cut off:\n{a_log}");
    assert!(proxy.refused.load(Ordering::Relaxed) > 0, "t-a never tried to reconnect during the cut");

    // The network comes back while t-b trains: t-a's reports race t-b's and are refused.
    let restore_ms = now_ms();
    let forwarded_before = proxy.forwarded.load(Ordering::Relaxed);
    proxy.restore();
    let dropped = "lease lost: the job is dropped without completing it";
    let a_log = wait_until("t-a to drop the job as stale", Duration::from_secs(30), || {
        let log = cluster.trainer("t-a").stdout_text();
        log.contains(dropped).then_some(log)
    });
    assert!(proxy.forwarded.load(Ordering::Relaxed) > forwarded_before, "t-a never reconnected through the proxy");
    // A refused heartbeat or checkpoint logs the scheduler's refusal; a refused progress report
    // comes back as a lease-lost command on the event stream.
    let refusal = format!("stale lease for job {id}: the job is held under attempt 2 by trainer {b_id}");
    let refusal_line = a_log
        .lines()
        .find(|l| l.contains(&refusal))
        .or_else(|| a_log.lines().find(|l| l.contains("the scheduler says the lease is lost")))
        .unwrap_or_else(|| {
            panic!("t-a's log does not show the scheduler refusing its stale lease ({refusal}):\n{a_log}")
        });
    assert!(!a_log.contains("job completed"), "t-a completed the job under a stale lease:\n{a_log}");

    // t-a lives on and asks for work again (only AcquireJob marks it seen: its stale calls do
    // not), holding nothing; the job is still t-b's.
    wait_until("t-a to ask for work again", Duration::from_secs(30), || {
        let queue = cluster.queue().ok()?;
        let a = queue.trainers.iter().find(|t| t.trainer_id == a_id)?;
        (a.last_seen_ms > restore_ms && a.job_ids.is_empty()).then_some(())
    });
    assert!(cluster.trainer("t-a").exited().is_none(), "t-a exited after losing its lease");
    let job = cluster.job(&id).expect("GetJob");
    assert_eq!(job.attempt, 2, "t-a's return started another attempt");
    assert!(
        job.trainer_id == b_id || state_name(job.state) == "DONE",
        "the job moved off t-b: {} held by {:?}",
        state_name(job.state),
        job.trainer_id
    );

    // t-b finishes it.
    let done = cluster.wait_for_state(&id, &["DONE"], Duration::from_secs(120));
    assert_eq!(done.attempt, 2);
    let (manifest, events) = cluster.settled(&id, "DONE");
    // t-a's stale reports add no state change.
    assert_two_attempts(&manifest, "t-a", "attempt 1: lease expired", "t-b");
    assert_eq!(manifest["attemptErrors"].as_array().map(Vec::len), Some(1), "{}", manifest["attemptErrors"]);
    assert!(done.result.is_some(), "a DONE job has a result");
    // The one completion the scheduler accepted was attempt 2's. Its log line is written just
    // after the completion is applied (so after GetJob can show DONE): wait for it.
    let completions: Vec<String> =
        wait_until("the scheduler logs the accepted completion", Duration::from_secs(30), || {
            let lines: Vec<String> = cluster
                .scheduler_log()
                .lines()
                .filter(|l| l.contains("attempt completed"))
                .map(str::to_string)
                .collect();
            (!lines.is_empty()).then_some(lines)
        });
    assert!(
        completions.len() == 1 && completions[0].contains(&b_id) && completions[0].contains("attempt=2"),
        "completions accepted: {completions:#?}"
    );

    // Attempt 2 resumed from attempt 1's checkpoint: its TRAINING state event starts at the
    // checkpoint's share of 10–85%; from its start on, progress never jumps to t-a's (further
    // along) and falls back, as a stale report would make it.
    assert_gap_free(&id, &events);
    let granted = assert_attempt_2_resumed(&id, &events, "t-b", resume_from, STEPS);
    let percents: Vec<f64> = events[granted..].iter().map(|e| e["percent"].as_f64().expect("a percent")).collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "progress of attempt 2 went back: {percents:?}");
    assert!(cluster.trainer("t-b").stdout_text().contains("resume=true"), "t-b did not resume from a checkpoint");
    let b_log = cluster.trainer("t-b").stdout_text();
    assert!(!b_log.contains("lease lost"), "t-b lost its lease:\n{b_log}");

    // No checkpoint of attempt 1 past the one resumed from was stored, in the manifest or on disk.
    let listed: Vec<String> = manifest["checkpoints"]
        .as_array()
        .expect("a checkpoint list")
        .iter()
        .map(|c| c["name"].as_str().expect("a checkpoint name").to_string())
        .collect();
    for name in listed.iter().chain(&cluster.checkpoint_files(&id)) {
        assert!(
            name.starts_with("ckpt-a2-") || (name.starts_with("ckpt-a1-") && checkpoint_steps(name) <= resume_from),
            "checkpoint {name} was stored after attempt 1 lost its lease (resumed from {resume_from} steps)"
        );
    }
    assert_eq!(cluster.status(&id)["state"], "DONE");
    assert!(cluster.trainer("t-a").exited().is_none(), "t-a must still be running");

    println!(
        "[e2e] partitioned trainer: cut→re-queue {cut_to_requeue} ms (lease TTL {} ms); attempts {}; attempt 2 \
         resumed from {resume_from}/{STEPS} steps; final {}; t-a refused after restore ({} connections refused \
         while cut): {}; {:.1} s",
        ttl.as_millis(),
        done.attempt,
        state_name(done.state),
        proxy.refused.load(Ordering::Relaxed),
        refusal_line.find("stale lease").map_or(refusal_line, |at| &refusal_line[at..]),
        started.elapsed().as_secs_f64()
    );
    drop(proxy);
}
