//! Lists that can grow, a page at a time (Google's AIP-158): the jobs, newest first
//! ([`Scheduler::list`]), and the queue in dispatch order ([`Scheduler::queue`]), with filters.
//!
//! A page starts after a cursor, the place of the previous page's last job in an order the
//! scheduler keeps (`State::listing` for jobs, the queue for the queue), so no call sorts the
//! jobs. Cursors are opaque tokens (hex of a short text: the order's key and the filter); one
//! that was not given out for this list and filter is refused with a message saying so. A call
//! examines at most [`MAX_SCAN`] jobs: with a filter few jobs match, a page may hold fewer than
//! asked (even none) and still have a next cursor.

use std::sync::Arc;

use super::{JobView, ListKey, QueueView, Result, Scheduler, SchedulerError, State};
use crate::job::{JobRecord, JobState, is_valid_job_id, now_ms};
use crate::queue::{Entry, Queue};

/// Most jobs one page may hold.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Most jobs one call examines (under the state lock) to fill a filtered page.
pub const MAX_SCAN: usize = 10_000;

/// Which jobs a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only these states (empty: every state).
    pub states: Vec<JobState>,
    /// Only jobs trained on this symbol (upper case; `None`: any).
    pub symbol: Option<String>,
}

impl JobFilter {
    /// The filter of `states` and `symbol` (trimmed, upper-cased; empty means any).
    pub fn new(mut states: Vec<JobState>, symbol: &str) -> JobFilter {
        states.sort_by_key(|s| s.name());
        states.dedup();
        let symbol = symbol.trim().to_ascii_uppercase();
        JobFilter { states, symbol: (!symbol.is_empty()).then_some(symbol) }
    }

    fn keeps(&self, state: JobState, symbols: &[String]) -> bool {
        (self.states.is_empty() || self.states.contains(&state))
            && self.symbol.as_ref().is_none_or(|s| symbols.iter().any(|j| j == s))
    }

    /// How a cursor names its filter.
    fn text(&self) -> String {
        let states: Vec<&str> = self.states.iter().map(|s| s.name()).collect();
        format!("{}/{}", states.join(","), self.symbol.as_deref().unwrap_or(""))
    }
}

/// A page of jobs.
#[derive(Debug, Clone)]
pub struct JobPage {
    /// Newest first (summaries: no history, no resolved spec).
    pub jobs: Vec<JobView>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// Which list a cursor belongs to.
const JOBS: &str = "jobs1";
const QUEUE: &str = "queue1";

fn encode(fields: &[&str]) -> String {
    fields.join("|").bytes().map(|b| format!("{b:02x}")).collect()
}

/// The fields of a cursor of list `kind` given out with `filter`.
fn decode<'a>(token: &str, kind: &str, filter: &str, buf: &'a mut String) -> Result<Vec<&'a str>> {
    let shown: String = token.chars().take(64).collect();
    let invalid = || {
        SchedulerError::Invalid(format!(
            "page token {shown:?} is not one this list gave out (pass the previous page's next_page_token, or \
             nothing for the first page)"
        ))
    };
    if !token.len().is_multiple_of(2) || token.len() > 1024 {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> =
        (0..token.len()).step_by(2).map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok()).collect();
    *buf = String::from_utf8(bytes.ok_or_else(invalid)?).map_err(|_| invalid())?;
    let fields: Vec<&str> = buf.split('|').collect();
    if fields.len() != 5 || fields[0] != kind {
        return Err(invalid());
    }
    if fields[4] != filter {
        return Err(SchedulerError::Invalid(format!(
            "page token {shown:?} was given out for other filters ({}); pass the same filters as for the first page",
            if fields[4] == "/" { "none".to_string() } else { fields[4].to_string() }
        )));
    }
    if !is_valid_job_id(fields[3]) {
        return Err(invalid());
    }
    Ok(fields)
}

/// The listing key a jobs cursor names.
fn jobs_cursor(token: &str, filter: &JobFilter) -> Result<Option<ListKey>> {
    if token.is_empty() {
        return Ok(None);
    }
    let mut buf = String::new();
    let f = decode(token, JOBS, &filter.text(), &mut buf)?;
    let bad =
        || SchedulerError::Invalid(format!("page token {:?} is damaged", token.chars().take(64).collect::<String>()));
    Ok(Some((f[1].parse().map_err(|_| bad())?, f[2].parse().map_err(|_| bad())?, Arc::from(f[3]))))
}

/// The queue entry a queue cursor names.
fn queue_cursor(token: &str, symbol: &str) -> Result<Option<Entry>> {
    if token.is_empty() {
        return Ok(None);
    }
    let mut buf = String::new();
    let f = decode(token, QUEUE, symbol, &mut buf)?;
    let bad =
        || SchedulerError::Invalid(format!("page token {:?} is damaged", token.chars().take(64).collect::<String>()));
    Ok(Some(Entry::at(f[1].parse().map_err(|_| bad())?, f[2].parse().map_err(|_| bad())?, f[3])))
}

impl State {
    /// The summary of job `id` if `filter` keeps it (the finished index has it, or memory).
    pub(super) fn summary_if(&self, id: &str, filter: &JobFilter) -> Option<JobRecord> {
        if let Some(job) = self.jobs.get(id) {
            return filter.keeps(job.state, &job.request.symbols).then(|| job.summary());
        }
        let job = self.finished.get(id)?;
        filter.keeps(job.state, &job.shape.symbols).then(|| job.summary())
    }

    /// Views of `records`, queued ones with their positions (counted in one pass).
    pub(super) fn views(&self, records: Vec<JobRecord>) -> Vec<JobView> {
        let queued: Vec<Entry> = records.iter().filter(|r| r.state == JobState::Queued).map(Queue::entry).collect();
        let positions = if queued.is_empty() { Default::default() } else { self.queue.positions(queued) };
        records
            .into_iter()
            .map(|record| JobView { queue_position: positions.get(&record.id).copied().unwrap_or(0), record })
            .collect()
    }
}

impl Scheduler {
    /// A page of jobs, newest first, after the cursor `token` ("" for the first page), kept by
    /// `filter`. At most `page_size` jobs (1 to [`MAX_PAGE_SIZE`]).
    pub fn list(&self, page_size: usize, token: &str, filter: &JobFilter) -> Result<JobPage> {
        let page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        let after = jobs_cursor(token, filter)?;
        let st = self.lock();
        let older = match &after {
            None => st.listing.range::<ListKey, _>(..),
            Some(key) => st.listing.range(..key.clone()),
        };
        let mut records = Vec::with_capacity(page_size.min(64));
        // The last job this page accounts for (shown, or passed over by the filter).
        let mut last: Option<&ListKey> = None;
        let mut more = false;
        for (scanned, key) in older.rev().enumerate() {
            if scanned == MAX_SCAN {
                more = true;
                break;
            }
            match st.summary_if(&key.2, filter) {
                Some(_) if records.len() == page_size => {
                    more = true;
                    break;
                }
                Some(record) => records.push(record),
                None => {}
            }
            last = Some(key);
        }
        let next = match (more, last) {
            (true, Some((created, seq, id))) => {
                Some(encode(&[JOBS, &created.to_string(), &seq.to_string(), id, &filter.text()]))
            }
            _ => None,
        };
        Ok(JobPage { jobs: st.views(records), next })
    }

    /// A page of the queue in dispatch order after the cursor `token` ("" for the first page),
    /// only jobs trained on `symbol` when it is not empty; with the running jobs and the trainers
    /// seen recently.
    pub fn queue(&self, page_size: usize, token: &str, symbol: &str) -> Result<QueueView> {
        let page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        let filter = JobFilter::new(Vec::new(), symbol);
        let symbol = filter.symbol.clone().unwrap_or_default();
        let after = queue_cursor(token, &symbol)?;
        let st = self.lock();
        let mut queued = Vec::with_capacity(page_size.min(64));
        let mut last: Option<&Entry> = None;
        let mut more = false;
        for (scanned, (position, entry)) in st.queue.from(after.as_ref()).enumerate() {
            if scanned == MAX_SCAN {
                more = true;
                break;
            }
            match st.jobs.get(entry.parts().2).filter(|j| filter.keeps(j.state, &j.request.symbols)) {
                Some(_) if queued.len() == page_size => {
                    more = true;
                    break;
                }
                Some(job) => queued.push(JobView { record: job.summary(), queue_position: position }),
                None => {}
            }
            last = Some(entry);
        }
        let next = match (more, last) {
            (true, Some(entry)) => {
                let (priority, seq, id) = entry.parts();
                Some(encode(&[QUEUE, &priority.to_string(), &seq.to_string(), id, &symbol]))
            }
            _ => None,
        };
        // Running jobs are few (one per trainer slot): one pass finds them and their trainers.
        let mut running: Vec<JobView> = st
            .jobs
            .values()
            .filter(|j| j.state.is_running())
            .map(|j| JobView { record: j.summary(), queue_position: 0 })
            .collect();
        running.sort_by_key(|v| (v.record.created_ms, v.record.seq));
        let mut held: std::collections::HashMap<&str, Vec<String>> = Default::default();
        for v in &running {
            if let Some(lease) = &v.record.lease {
                held.entry(lease.trainer_id.as_str()).or_default().push(v.record.id.clone());
            }
        }
        let horizon = now_ms() - super::TRAINER_HORIZON_LEASES * self.config.lease_ttl_ms as i64;
        let mut trainers: Vec<(String, super::TrainerSeen, Vec<String>)> = st
            .trainers
            .iter()
            .filter(|(_, t)| t.last_seen_ms >= horizon)
            .map(|(id, t)| (id.clone(), t.clone(), held.get(id.as_str()).cloned().unwrap_or_default()))
            .collect();
        trainers.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(&b.0)));
        let total_queued = st.queue.len();
        drop(st);
        Ok(QueueView { queued, total_queued, next, running, trainers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_opaque_and_checked() {
        let filter = JobFilter::new(vec![JobState::Done], "btc");
        assert_eq!(filter.symbol.as_deref(), Some("BTC"));
        let token = encode(&[JOBS, "5", "7", "tr_1_0000000a", &filter.text()]);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        assert_eq!(jobs_cursor(&token, &filter).unwrap(), Some((5, 7, Arc::from("tr_1_0000000a"))));
        assert_eq!(jobs_cursor("", &filter).unwrap(), None);
        for bad in ["zz", "abc", "6a6f627331", &encode(&[QUEUE, "5", "7", "tr_1_0000000a", &filter.text()])] {
            let e = jobs_cursor(bad, &filter).unwrap_err().to_string();
            assert!(e.contains("is not one this list gave out"), "{bad}: {e}");
        }
        let e = jobs_cursor(&token, &JobFilter::default()).unwrap_err().to_string();
        assert!(e.contains("other filters (DONE/BTC)"), "{e}");
        let e = jobs_cursor(&encode(&[JOBS, "x", "7", "tr_1_0000000a", &filter.text()]), &filter).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        let e = jobs_cursor(&encode(&[JOBS, "5", "7", "../../etc", &filter.text()]), &filter).unwrap_err();
        assert!(e.to_string().contains("is not one"), "{e}");
    }
}
