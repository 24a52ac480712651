//! One scheduler shared by every input of a process: started on an empty `runs/` in a temporary
//! directory with the local preset (embedded catalog, default limits), serving nothing. The
//! checks call its submission checks and queries directly; nothing is ever submitted.

use std::sync::{Arc, OnceLock};

use skippy_scheduler::{Config, Scheduler};

/// The shared scheduler, its settings, and a runtime to run its async queries on (each check
/// uses some of the fields).
#[allow(dead_code)]
pub struct Harness {
    /// The scheduler.
    pub scheduler: Arc<Scheduler>,
    /// Its settings (the limits resolved specs must keep).
    pub config: Config,
    /// Runs the scheduler's async queries (`cancel`).
    pub runtime: tokio::runtime::Runtime,
    /// Holds `runs/`; removed when the process ends normally.
    _dir: tempfile::TempDir,
}

/// The harness, started on first use.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory for runs/");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let config = Config::local(dir.path().join("runs"));
        let scheduler = {
            let _entered = runtime.enter();
            Scheduler::start(config.clone()).expect("the scheduler starts on an empty runs/").0
        };
        Harness { scheduler, config, runtime, _dir: dir }
    })
}
