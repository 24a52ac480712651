//! A finished job leaves the scheduler's memory (a compact entry stays) and is read back from its
//! manifest, whole, when a client asks for it: GetJob, GetResults, a watch of it, its place in the
//! list; before a restart and after one, which reads of each job's events only the last.

use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::*;

/// The job's events from `after`, as a watch gives them: (kind, state) after the snapshot.
async fn watched(c: &mut TrainingServiceClient<Channel>, id: &str, after: u64) -> (pb::Job, Vec<(i32, i32, u64)>) {
    let request = pb::WatchJobRequest { job_id: id.into(), after_sequence: after };
    let mut stream = c.watch_job(request).await.unwrap().into_inner();
    let first = tokio::time::timeout(STEP, stream.message()).await.unwrap().unwrap().expect("a snapshot");
    assert_eq!(first.kind, pb::EventKind::Snapshot as i32);
    let mut events = Vec::new();
    while let Some(e) =
        tokio::time::timeout(STEP, stream.message()).await.expect("the watch of a finished job ends").unwrap()
    {
        events.push((e.kind, e.state, e.sequence));
    }
    (first.job.unwrap(), events)
}

fn spec() -> pb::JobSpec {
    pb::JobSpec {
        symbols: vec!["BTC".into()],
        total_steps: 4096,
        idempotency_key: "finished-1".into(),
        overrides: [("ppo.learning_rate".to_string(), "0.0001".to_string())].into(),
        ..Default::default()
    }
}

/// Everything a client can ask of finished job `id` (done with `metrics` under `lease`).
async fn check_finished(s: &Running, id: &str, metrics: &str, lease: &Option<pb::Lease>, round: &str) {
    let (mut c, mut t) = grpc_clients(s).await;
    let job = c.get_job(pb::GetJobRequest { job_id: id.into() }).await.unwrap().into_inner();
    assert_eq!(job.state, pb::JobState::Done as i32, "{round}");
    let history: Vec<i32> = job.history.iter().map(|h| h.state).collect();
    let states = [pb::JobState::Queued, pb::JobState::Preflight, pb::JobState::Done].map(|s| s as i32);
    assert_eq!(history, states, "{round}: the whole history");
    assert!(job.resolved_spec_json.contains("\"learning_rate\":0.0001"), "{round}: the resolved spec");
    assert_eq!(job.last_sequence, 3, "{round}");
    assert_eq!(job.result.as_ref().map(|r| (r.sharpe, r.generation)), Some((2.0, 1)), "{round}");

    let results = c.get_results(pb::GetResultsRequest { job_id: id.into() }).await.unwrap().into_inner();
    assert_eq!(results.metrics_json, metrics, "{round}");

    let (snapshot, events) = watched(&mut c, id, 0).await;
    assert_eq!(snapshot.state, pb::JobState::Done as i32);
    let got: Vec<(i32, u64)> = events.iter().map(|(_, state, seq)| (*state, *seq)).collect();
    assert_eq!(got, states.iter().zip(1..).map(|(s, q)| (*s, q)).collect::<Vec<_>>(), "{round}: every event once");
    let (_, events) = watched(&mut c, id, 2).await;
    assert_eq!(events.len(), 1, "{round}: from after event 2, the last one");
    let e = c.watch_job(pb::WatchJobRequest { job_id: id.into(), after_sequence: 4 }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{round}: past the last event");

    let listed = c.list_jobs(pb::ListJobsRequest::default()).await.unwrap().into_inner().jobs;
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id.as_str(), listed[0].state, listed[0].last_sequence), (id, job.state, 3));
    assert_eq!(listed[0].result, job.result, "{round}: the list has the headline");

    let e = c.cancel_job(pb::CancelJobRequest { job_id: id.into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{round}");
    let again = c.submit_job(pb::SubmitJobRequest { spec: Some(spec()) }).await.unwrap().into_inner();
    assert!(!again.created && again.job.unwrap().id == id, "{round}: the idempotency key still answers");
    let stale = t.heartbeat(pb::HeartbeatRequest { lease: lease.clone(), steps_done: 1 }).await.unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition, "{round}: its old lease is stale");
}

#[tokio::test]
async fn a_finished_job_is_read_back_whole_from_its_manifest_before_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (mut c, mut t) = grpc_clients(&s).await;
    let id = c.submit_job(pb::SubmitJobRequest { spec: Some(spec()) }).await.unwrap().into_inner().job.unwrap().id;
    let grant = take(&mut t, "t-1").await;
    let metrics = metrics(1.5, 2.0);
    finish(&mut t, &grant, &metrics).await;
    check_finished(&s, &id, &metrics, &grant.lease, "before a restart").await;
    s.stop().await;
    let s = start(dir.path()).await;
    check_finished(&s, &id, &metrics, &grant.lease, "after a restart").await;
    s.stop().await;
}
