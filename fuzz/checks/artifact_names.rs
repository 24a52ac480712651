//! Invariants of artifact names, which trainers upload (`UploadArtifact`), the scheduler stores
//! under `runs/<id>/artifacts/`, and the CLI's `download` turns into local file names: shared by
//! the `artifact_names` fuzz target and `cli/tests/it/fuzz_seeds.rs`, which replays the committed
//! seed corpus under `cargo test`. A violation panics.
//!
//! - A name the scheduler accepts (`is_valid_artifact_name`) is 1–128 ASCII bytes and one plain
//!   path component: joined under `artifacts/` it stays directly inside it (no separator, no
//!   `.`/`..`, no NUL, nothing absolute, no hidden file), and `JobStore::artifact_path` is that
//!   path.
//! - A name it refuses has no path, and `JobStore::write_artifact` refuses it without touching
//!   the disk.
//! - Every name the scheduler accepts, the CLI accepts too (or a valid artifact could not be
//!   downloaded), and whatever the CLI accepts, its file and its `.part` file stay directly
//!   inside the download directory.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use skippy_scheduler::store::{JobStore, is_valid_artifact_name};

/// The job the names are checked under.
const JOB: &str = "tr_1754727123_a1b2c3d4";

/// A store in a temporary directory, shared by every input of a process.
fn store() -> &'static (JobStore, PathBuf, tempfile::TempDir) {
    static STORE: OnceLock<(JobStore, PathBuf, tempfile::TempDir)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory for the store");
        let root = dir.path().join("runs");
        let (store, _) = JobStore::open(&root).expect("a store opens on an empty directory");
        (store, root, dir)
    })
}

/// Checks `data` as an artifact name; `cli_accepts` is the CLI's check of a listed name.
/// Panics on a violation.
pub fn check(data: &[u8], cli_accepts: &dyn Fn(&str) -> bool) {
    let name = String::from_utf8_lossy(data);
    let name = name.as_ref();
    let (store, root, _) = store();
    let artifacts = root.join(JOB).join("artifacts");
    let valid = is_valid_artifact_name(name);
    match store.artifact_path(JOB, name) {
        Some(path) => {
            assert!(valid, "a path for a refused name {name:?}");
            assert!((1..=128).contains(&name.len()) && name.is_ascii(), "{name:?}");
            assert!(!name.starts_with('.'), "{name:?} is hidden (or `.`/`..`)");
            assert_one_component(name, &artifacts, &path);
            assert!(cli_accepts(name), "the CLI refuses {name:?}, which the scheduler stores");
        }
        None => {
            assert!(!valid, "no path for an accepted name {name:?}");
            let err = store.write_artifact(JOB, name, b"x").expect_err("a refused name was written");
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
            assert!(!root.join(JOB).exists(), "refusing {name:?} created the job's directory");
        }
    }
    if cli_accepts(name) {
        let downloads = Path::new("/home/user/downloads/tr_1754727123_a1b2c3d4");
        assert_one_component(name, downloads, &downloads.join(name));
        let part = format!(".{name}.part");
        assert_one_component(&part, downloads, &downloads.join(&part));
    }
}

/// `path` is `dir` joined with `name`, and `name` is one plain component.
fn assert_one_component(name: &str, dir: &Path, path: &Path) {
    assert!(!name.contains(['/', '\\', '\0']), "{name:?} holds a separator or NUL");
    assert_eq!(path.parent(), Some(dir), "{name:?} leaves {}", dir.display());
    assert_eq!(path.file_name(), Some(OsStr::new(name)), "{name:?}");
    assert_eq!(Path::new(name).components().collect::<Vec<_>>(), [Component::Normal(OsStr::new(name))], "{name:?}");
}
