//! The `--json` output. Jobs, results, events and the queue are printed in the one JSON form of
//! [`skippy_proto::json`] (the REST gateway's): camelCase fields, states and event kinds by
//! their plain names (`"QUEUED"`, `"PROGRESS"`), times in unix milliseconds, the resolved spec
//! and `metrics.json` embedded as JSON. This module holds only what the CLI itself reports (a
//! cancel, a download) in the same dialect.

use serde::Serialize;
use skippy_proto::json;
use skippy_proto::v1 as pb;

/// A job state's plain name: `"QUEUED"`, … (`"UNSPECIFIED"` for a state this CLI does not know).
pub fn state_name(state: i32) -> &'static str {
    json::JobState::from_proto(state).name()
}

/// The answer to `cancel`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancelled {
    /// The job is CANCELLED (a running job may still be stopping).
    pub cancelled: bool,
    /// The job.
    pub job: json::Job,
}

/// The answer to `download`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Download {
    /// Job id.
    pub job_id: String,
    /// Where the files are.
    pub dir: String,
    /// Every file fetched.
    pub files: Vec<Downloaded>,
}

/// One downloaded file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Downloaded {
    /// Artifact name.
    pub name: String,
    /// Local path.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Hex SHA-256 of the content as written.
    pub sha256: String,
    /// The content's SHA-256 matches the scheduler's.
    pub verified: bool,
}

/// A job in the one JSON form (from a borrowed message).
pub fn job(j: &pb::Job) -> json::Job {
    json::Job::from(j.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_by_plain_name() {
        assert_eq!(state_name(pb::JobState::Queued as i32), "QUEUED");
        assert_eq!(state_name(pb::JobState::Cancelled as i32), "CANCELLED");
        assert_eq!(state_name(42), "UNSPECIFIED");
    }

    #[test]
    fn job_json_is_the_rest_dialect() {
        let j = pb::Job {
            id: "tr_1754727123_a1b2c3d4".into(),
            state: pb::JobState::Queued as i32,
            queue_position: 2,
            resolved_spec_json: r#"{"total_steps":1000}"#.into(),
            spec: Some(pb::JobSpec {
                symbols: vec!["BTC".into()],
                overrides: [("ppo.learning_rate".to_string(), "1e-4".to_string())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(job(&j)).unwrap();
        assert_eq!(v["id"], "tr_1754727123_a1b2c3d4");
        assert_eq!(v["state"], "QUEUED");
        assert_eq!(v["percent"], 0.0);
        assert_eq!(v["queuePosition"], 2);
        assert_eq!(v["resolvedSpec"]["total_steps"], 1000);
        assert_eq!(v["spec"]["overrides"]["ppo.learning_rate"], "1e-4");
        assert!(v.get("result").is_none());
    }
}
