//! Invariants of job ids, which arrive in REST paths (`/api/training/jobs/{id}/...`) and gRPC
//! requests and name directories under `runs/`: shared by the `job_ids` fuzz target and
//! `scheduler/tests/it/fuzz_seeds.rs`, which replays the committed seed corpus under `cargo test`.
//! A violation panics.
//!
//! - An id `is_valid_job_id` accepts is `tr_<digits>_<8 lowercase hex>`: one plain path
//!   component directly under `runs/` (no separator, no `.`/`..`, no NUL, nothing absolute), and
//!   fits the `Location` header the gateway writes for it.
//! - Any other text is "not found" at every query that takes an id, with a short message, and
//!   never reaches the store.

use std::path::{Component, Path};

use skippy_scheduler::job::{is_valid_job_id, new_job_id};
use skippy_scheduler::scheduler::SchedulerError;

use super::harness::harness;

/// Checks `data` as a job id; panics on a violation.
pub fn check(data: &[u8]) {
    let id = String::from_utf8_lossy(data);
    let id = id.as_ref();
    let valid = is_valid_job_id(id);
    if valid {
        check_safe(id);
    }
    // The shape, by an independent reading of the documented form.
    let shaped = id.strip_prefix("tr_").and_then(|rest| rest.split_once('_')).is_some_and(|(secs, hex)| {
        (1..=12).contains(&secs.len())
            && secs.bytes().all(|b| b.is_ascii_digit())
            && hex.len() == 8
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    assert_eq!(valid, shaped, "is_valid_job_id({id:?}) = {valid}");

    // Queries answer "not found" (there are no jobs), quoting at most a short prefix.
    let h = harness();
    for answer in
        [h.runtime.block_on(h.scheduler.view(id)).map(|_| ()), h.runtime.block_on(h.scheduler.cancel(id)).map(|_| ())]
    {
        match answer {
            Err(SchedulerError::NotFound(quoted)) => {
                assert!(quoted.chars().count() <= 64, "a not-found message quotes {} characters", quoted.len());
                let status = tonic::Status::from(SchedulerError::NotFound(quoted));
                assert_eq!(status.code(), tonic::Code::NotFound);
            }
            other => panic!("a query for {id:?} in an empty scheduler answered {other:?}"),
        }
    }
    let fresh = new_job_id();
    assert!(is_valid_job_id(&fresh), "new_job_id made {fresh:?}");
}

/// An accepted id is one plain component under `runs/` and a valid header value.
fn check_safe(id: &str) {
    assert!(!id.is_empty() && id.len() <= 24 && id.is_ascii(), "{id:?}");
    assert!(!id.contains(['/', '\\', '\0', '.', ':', '%', ' ']), "{id:?}");
    let root = Path::new("/srv/skippy/runs");
    let dir = root.join(id);
    assert_eq!(dir.parent(), Some(root), "{id:?} leaves runs/");
    assert_eq!(Path::new(id).components().collect::<Vec<_>>(), [Component::Normal(id.as_ref())], "{id:?}");
    let location = format!("/api/training/jobs/{id}/status");
    assert!(axum::http::HeaderValue::from_str(&location).is_ok(), "{location:?} is no header value");
    assert!(location.parse::<axum::http::Uri>().is_ok(), "{location:?} is no URI");
}
