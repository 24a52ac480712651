//! Lists that can grow come a page at a time, over gRPC (`page_size`, `page_token`,
//! `next_page_token`) and REST (`limit`, `cursor`, the `next` link): the jobs newest first and the
//! queue in dispatch order with its total, filtered by state and symbol, every job once, and a
//! cursor that was not given out for the list and its filters refused.

use std::collections::HashSet;

use serde_json::Value;
use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::*;

async fn submit(c: &mut TrainingServiceClient<Channel>, symbol: &str, priority: i32) -> pb::Job {
    let spec = pb::JobSpec { symbols: vec![symbol.into()], total_steps: 4096, priority, ..Default::default() };
    c.submit_job(pb::SubmitJobRequest { spec: Some(spec) }).await.unwrap().into_inner().job.unwrap()
}

/// Every page of `request`, following the tokens; the jobs in the order the pages gave them.
async fn all_pages(c: &mut TrainingServiceClient<Channel>, mut request: pb::ListJobsRequest) -> (Vec<pb::Job>, usize) {
    let (mut jobs, mut pages) = (Vec::new(), 0);
    loop {
        let page = c.list_jobs(request.clone()).await.unwrap().into_inner();
        pages += 1;
        assert!(page.jobs.len() <= request.page_size as usize, "a page holds at most page_size jobs");
        jobs.extend(page.jobs);
        if page.next_page_token.is_empty() {
            return (jobs, pages);
        }
        request.page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn jobs_come_a_page_at_a_time_newest_first_filtered_and_cursors_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (mut c, mut t) = grpc_clients(&s).await;
    let mut submitted = Vec::new();
    for i in 0..25 {
        submitted.push(submit(&mut c, if i % 2 == 0 { "BTC" } else { "ETH" }, 0).await.id);
    }
    // Three of them finish (the oldest: the queue is first in, first out).
    for _ in 0..3 {
        let grant = take(&mut t, "t-1").await;
        finish(&mut t, &grant, &metrics(1.0, 1.0)).await;
    }

    // Every job once, newest first, in pages of 10.
    let (jobs, pages) = all_pages(&mut c, pb::ListJobsRequest { page_size: 10, ..Default::default() }).await;
    assert_eq!(pages, 3);
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    let newest_first: Vec<String> = submitted.iter().rev().cloned().collect();
    assert_eq!(ids, newest_first, "newest first, each once");
    // Summaries: a job's own call has its history and resolved spec.
    assert!(jobs.iter().all(|j| j.history.is_empty() && j.resolved_spec_json.is_empty()));
    let one = c.get_job(pb::GetJobRequest { job_id: ids[0].clone() }).await.unwrap().into_inner();
    assert!(!one.history.is_empty() && one.resolved_spec_json.contains("total_steps"), "{one:?}");
    // Queued jobs in a page carry their queue positions.
    let positions: Vec<u32> =
        jobs.iter().rev().filter(|j| j.state == pb::JobState::Queued as i32).map(|j| j.queue_position).collect();
    assert_eq!(positions, (1..=22).collect::<Vec<u32>>());

    // Filters: by symbol, by state, both.
    let eth = pb::ListJobsRequest { page_size: 4, symbol: "eth".into(), ..Default::default() };
    let (jobs, _) = all_pages(&mut c, eth).await;
    assert_eq!(jobs.len(), 12);
    assert!(jobs.iter().all(|j| j.spec.as_ref().unwrap().symbols == ["ETH"]));
    let done = pb::ListJobsRequest { page_size: 2, states: vec![pb::JobState::Done as i32], ..Default::default() };
    let (jobs, _) = all_pages(&mut c, done).await;
    let done_ids: HashSet<String> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(done_ids, submitted[..3].iter().cloned().collect(), "the three that finished");
    let btc_queued = pb::ListJobsRequest {
        page_size: 100,
        states: vec![pb::JobState::Queued as i32],
        symbol: "BTC".into(),
        ..Default::default()
    };
    let (jobs, pages) = all_pages(&mut c, btc_queued).await;
    assert_eq!((jobs.len(), pages), (11, 1), "13 BTC jobs, 2 of them done");
    // The older field still works: `limit`, one state.
    let old = c.list_jobs(pb::ListJobsRequest { limit: 5, state: pb::JobState::Done as i32, ..Default::default() });
    assert_eq!(old.await.unwrap().into_inner().jobs.len(), 3);

    // A cursor is good only for its list and its filters.
    let first = c.list_jobs(pb::ListJobsRequest { page_size: 5, symbol: "BTC".into(), ..Default::default() });
    let token = first.await.unwrap().into_inner().next_page_token;
    let other = pb::ListJobsRequest { page_size: 5, page_token: token.clone(), ..Default::default() };
    let e = c.list_jobs(other).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("given out for other filters (/BTC)"), "{}", e.message());
    for bad in ["zz", "00", &format!("{token}00")] {
        let request = pb::ListJobsRequest { page_token: bad.to_string(), symbol: "BTC".into(), ..Default::default() };
        let e = c.list_jobs(request).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad}: {e:?}");
    }
    let e = c.get_queue(pb::GetQueueRequest { page_token: token, ..Default::default() }).await.unwrap_err();
    assert!(e.message().contains("is not one this list gave out"), "{}", e.message());

    // REST: `limit` and `cursor`, the `next` link (and a Link header) until the last page.
    let mut url = s.url("/api/training/jobs?limit=10");
    let mut listed = Vec::new();
    loop {
        let response = http().get(&url).send().await.unwrap();
        let link = response.headers().get("link").map(|v| v.to_str().unwrap().to_string());
        let (code, body) = answer(response).await;
        assert_eq!(code, 200, "{body}");
        listed.extend(body["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()));
        assert!(body["jobs"][0]["history"].as_array().unwrap().is_empty() && body["jobs"][0]["resolvedSpec"].is_null());
        match body["next"].as_str() {
            Some(next) => {
                assert_eq!(link, Some(format!("<{next}>; rel=\"next\"")));
                assert!(next.starts_with("/api/training/jobs?limit=10&cursor="), "{next}");
                assert_eq!(next.split("cursor=").nth(1), body["nextCursor"].as_str());
                url = s.url(next);
            }
            None => {
                assert!(link.is_none() && body.get("nextCursor").is_none(), "{body}");
                break;
            }
        }
    }
    assert_eq!(listed, newest_first);
    let (_, page) = get(&s.url("/api/training/jobs?limit=3&state=queued,done&symbol=eth")).await;
    let next = page["next"].as_str().expect("more pages").to_string();
    assert!(next.contains("state=queued,done") && next.contains("symbol=ETH"), "the filters go along: {next}");
    let (_, rest) = get(&s.url(&next)).await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 3);
    let cursor = page["nextCursor"].as_str().unwrap();
    let got = get(&s.url(&format!("/api/training/jobs?limit=3&cursor={cursor}"))).await;
    assert_error(&got, 400, "invalid_argument", &["given out for other filters", "same filters"]);
    s.stop().await;
}

#[tokio::test]
async fn the_queue_comes_a_page_at_a_time_with_its_total_and_every_position() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (mut c, _) = grpc_clients(&s).await;
    let mut ids = Vec::new();
    for i in 0..230 {
        // Every tenth job has a higher priority: dispatch order is not submission order.
        ids.push(submit(&mut c, if i % 3 == 0 { "ETH" } else { "BTC" }, i32::from(i % 10 == 0)).await.id);
    }
    let dispatch: Vec<&String> =
        ids.iter().step_by(10).chain(ids.iter().enumerate().filter(|(i, _)| i % 10 != 0).map(|(_, id)| id)).collect();

    // gRPC: pages of 40, positions 1..=230 in dispatch order, the total on each page.
    let (mut queued, mut token) = (Vec::new(), String::new());
    loop {
        let request = pb::GetQueueRequest { page_size: 40, page_token: token, ..Default::default() };
        let page = c.get_queue(request).await.unwrap().into_inner();
        assert_eq!(page.total_queued, 230);
        queued.extend(page.queued);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let order: Vec<&String> = queued.iter().map(|j| &j.id).collect();
    assert_eq!(order, dispatch);
    let positions: Vec<u32> = queued.iter().map(|j| j.queue_position).collect();
    assert_eq!(positions, (1..=230).collect::<Vec<u32>>());
    // A job's own position agrees.
    let last = c.get_job(pb::GetJobRequest { job_id: dispatch[229].clone() }).await.unwrap().into_inner();
    assert_eq!(last.queue_position, 230);

    // Filtered by symbol: positions stay places in the whole queue.
    let eth = c.get_queue(pb::GetQueueRequest { page_size: 1000, symbol: "ETH".into(), ..Default::default() });
    let eth = eth.await.unwrap().into_inner();
    assert_eq!(eth.queued.len(), 77);
    let expected: Vec<u32> = dispatch
        .iter()
        .enumerate()
        .filter(|(_, id)| eth.queued.iter().any(|j| &j.id == **id))
        .map(|(i, _)| i as u32 + 1)
        .collect();
    assert_eq!(eth.queued.iter().map(|j| j.queue_position).collect::<Vec<_>>(), expected);

    // REST: the default page is 100 jobs, with the total and the next link.
    let (code, page) = get(&s.url("/api/training/queue")).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!((page["queued"].as_array().unwrap().len(), &page["totalQueued"]), (100, &Value::from(230)));
    let next = page["next"].as_str().expect("a next page");
    let (_, second) = get(&s.url(next)).await;
    assert_eq!(second["queued"][0]["queuePosition"], 101);
    let (_, small) = get(&s.url("/api/training/queue?limit=5&symbol=eth")).await;
    assert_eq!(small["queued"].as_array().unwrap().len(), 5);
    assert!(small["next"].as_str().unwrap().starts_with("/api/training/queue?limit=5&symbol=ETH&cursor="));
    s.stop().await;
}
