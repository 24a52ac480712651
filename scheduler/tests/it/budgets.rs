//! Admission over real HTTP: per-job caps are 400s that say which limit and by how much, a
//! full queue and a spent compute budget are 429s, a job without a duration gets the server's
//! cap, and nothing refused is stored.

use serde_json::Value;

use crate::support::*;

fn job(steps: u64, duration: Option<f64>) -> String {
    let mut body = serde_json::json!({"symbols": ["SYN-EDGE"], "totalSteps": steps});
    if let Some(d) = duration {
        body["maxDurationSeconds"] = d.into();
    }
    body.to_string()
}

#[tokio::test]
async fn per_job_caps_refuse_what_exceeds_them_and_fill_in_the_duration() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |c| {
        c.max_steps_per_job = 100_000;
        c.max_job_duration_secs = 3600;
    })
    .await;
    let jobs = s.url("/api/training/jobs");
    assert_error(
        &post(&jobs, &job(250_000, None)).await,
        400,
        "invalid_argument",
        &["total_steps = 250000", "limit of 100000 steps per job by 150000", "--max-steps-per-job"],
    );
    assert_error(
        &post(&jobs, &job(1000, Some(5400.0))).await,
        400,
        "invalid_argument",
        &["max_duration_seconds = 5400", "limit of 3600 s per job by 1800 s"],
    );
    assert_eq!(stored_jobs(dir.path()), Vec::<String>::new(), "refused jobs are not stored");

    let (code, body) = post(&jobs, &job(100_000, None)).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["spec"]["maxDurationSeconds"], 3600.0, "no duration means the server's cap: {body}");
    let (code, body) = post(&jobs, &job(1000, Some(60.0))).await;
    assert_eq!((code.as_u16(), &body["spec"]["maxDurationSeconds"]), (202, &Value::from(60.0)));
    s.stop().await;
}

#[tokio::test]
async fn a_full_queue_is_429_and_says_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |c| c.max_queued_jobs = 2).await;
    let jobs = s.url("/api/training/jobs");
    for _ in 0..2 {
        assert_eq!(post(&jobs, &job(1000, None)).await.0, 202);
    }
    assert_error(
        &post(&jobs, &job(1000, None)).await,
        429,
        "resource_exhausted",
        &["the queue is full", "2 jobs are queued and the limit is 2", "--max-queued-jobs"],
    );
    assert_eq!(stored_jobs(dir.path()).len(), 2);
    // With an idempotency key (the CLI always sends one) the refusal frees the key, and the
    // scheduler keeps answering (the refusal once held the state lock while taking it again).
    let keyed = serde_json::json!({"symbols": ["SYN-EDGE"], "totalSteps": 1000, "idempotencyKey": "full-1"});
    assert_error(&post(&jobs, &keyed.to_string()).await, 429, "resource_exhausted", &["the queue is full"]);
    assert_eq!(get(&jobs).await.0, 200, "the scheduler still answers");

    // A job leaving the queue makes room.
    let id = get(&jobs).await.1["jobs"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(delete(&s.url(&format!("/api/training/jobs/{id}"))).await.0, 200);
    assert_eq!(post(&jobs, &job(1000, None)).await.0, 202);
    s.stop().await;
}

#[tokio::test]
async fn the_compute_budget_counts_queued_work_and_refuses_what_would_exceed_it() {
    let dir = tempfile::tempdir().unwrap();
    // 0.01 trainer-hours = 36 s; before any trainer reports, 20,000 steps/s are assumed, so a
    // 500,000-step job is estimated at 25 s.
    let s = start_with(dir.path(), |c| c.trainer_hours_per_day = 0.01).await;
    let jobs = s.url("/api/training/jobs");
    assert_eq!(post(&jobs, &job(500_000, None)).await.0, 202);
    assert_error(
        &post(&jobs, &job(500_000, None)).await,
        429,
        "resource_exhausted",
        &[
            "compute budget exceeded",
            "about 0.00694 trainer-hours",
            "0.00694 of the 0.01 trainer-hours per day",
            "0.00389 over",
            "assumed 20000 steps/s",
            "over",
            "--trainer-hours-per-day",
        ],
    );
    // A job whose duration budget is short enough still fits: its estimate is bounded by it.
    assert_eq!(post(&jobs, &job(500_000, Some(5.0))).await.0, 202);
    assert_eq!(stored_jobs(dir.path()).len(), 2);
    // The sweep recounts from the jobs themselves and agrees.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(post(&jobs, &job(500_000, None)).await.0, 429);
    s.stop().await;
}
