//! Store access off the async threads: any blocking store call ([`Scheduler::on_store`]), and
//! manifest writes ordered per job so that the latest state always lands last
//! ([`Scheduler::persist`]); a finished job's final manifest lets it leave memory.

use super::{Result, Scheduler, SchedulerError};
use crate::store::JobStore;

impl Scheduler {
    /// Writes a job's manifest (durably), ordered per job: the latest state always lands last.
    pub(crate) async fn persist(&self, id: &str) -> Result<()> {
        self.persist_with(id, true).await
    }

    /// [`Self::persist`], optionally without fsync: for changes a crash may lose harmlessly
    /// (a grant: after a crash the job is queued again and the trainer fenced off).
    pub(crate) async fn persist_with(&self, id: &str, durable: bool) -> Result<()> {
        let lock = {
            let mut locks = self.write_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(id.to_string()).or_default().clone()
        };
        let _guard = lock.lock().await;
        let Some(snapshot) = self.lock().jobs.get(id).cloned() else { return Ok(()) };
        let finished = snapshot.state.is_terminal() && durable;
        self.on_store(format!("writing the manifest of {id}"), move |store| {
            store.write_manifest_with(&snapshot, durable)
        })
        .await?;
        if finished {
            // Its final manifest is on disk: the job leaves memory once its events are too.
            let mut st = self.lock();
            if let Some(log) = st.events.get_mut(id) {
                log.final_manifest = true;
            }
            self.retire(&mut st, id);
        }
        Ok(())
    }

    /// Runs `f` on the store on a blocking thread; a failure says it was `what`.
    pub(crate) async fn on_store<T: Send + 'static>(
        &self,
        what: String,
        f: impl FnOnce(&JobStore) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(SchedulerError::storage(what, source)),
            Err(source) => Err(SchedulerError::StorageTask { what, source }),
        }
    }
}
