//! `download`: a job's artifacts, streamed over `DownloadArtifact` into `DIR/<id>/`, each
//! written to a temporary file and renamed into place only once its size and SHA-256 match what
//! the scheduler listed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use skippy_proto::v1 as pb;
use tokio::io::AsyncWriteExt as _;

use crate::args::{DownloadArgs, GlobalArgs};
use crate::client::{SchedulerClient, Subject};
use crate::commands;
use crate::exit::{self, Failure};
use crate::experiment;
use crate::output;
use crate::render;
use crate::view::{Download, Downloaded};

/// `download`.
pub async fn run(sched: &SchedulerClient, global: &GlobalArgs, args: &DownloadArgs) -> anyhow::Result<ExitCode> {
    // An experiment's files (its report and charts) come over the same DownloadArtifact.
    let (kind, artifacts) = if experiment::is_experiment_id(&args.id) {
        ("experiment", experiment::artifacts(sched, &args.id).await?)
    } else {
        ("job", commands::get_results(sched, &args.id).await?.artifacts)
    };
    let wanted = select(kind, &args.id, &artifacts, &args.names)?;
    for a in &wanted {
        check_name(&a.name)?;
    }
    let dir = args.out.join(&args.id);
    tokio::fs::create_dir_all(&dir).await.with_context(|| format!("creating {}", dir.display()))?;
    if !global.json {
        output::print(&format!(
            "⬇️  Downloading {} artifact{} of {kind} {} into {}",
            wanted.len(),
            if wanted.len() == 1 { "" } else { "s" },
            args.id,
            dir.display()
        ))?;
    }
    let width = wanted.iter().map(|a| a.name.len()).max().unwrap_or(0);
    let mut files = Vec::new();
    for a in wanted {
        let file = fetch(sched, &args.id, a, &dir).await?;
        if !global.json {
            let check = if file.verified { "✓ sha256" } else { "(no checksum listed)" };
            output::print(&format!("   {:<width$}  {:>10}  {check}", file.name, render::bytes(file.size)))?;
        }
        files.push(file);
    }
    if global.json {
        output::print_json(&Download { job_id: args.id.clone(), dir: dir.display().to_string(), files })?;
    } else {
        let total: u64 = files.iter().map(|f| f.size).sum();
        output::print(&format!("✅ Downloaded {} ({}) into {}", files.len(), render::bytes(total), dir.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The artifacts to fetch of `kind` (job or experiment) `id`: the named ones (each must exist),
/// or all of them.
fn select<'a>(
    kind: &str,
    id: &str,
    listed: &'a [pb::Artifact],
    names: &[String],
) -> Result<Vec<&'a pb::Artifact>, Failure> {
    if listed.is_empty() {
        return Err(Failure::new(exit::NOT_FOUND, format!("{kind} {id} has no artifacts (yet)")));
    }
    if names.is_empty() {
        return Ok(listed.iter().collect());
    }
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|name| {
            listed.iter().find(|a| a.name == name).ok_or_else(|| {
                let known: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
                Failure::new(
                    exit::NOT_FOUND,
                    format!("no artifact {name:?} in {kind} {id}; it has: {}", known.join(", ")),
                )
            })
        })
        .collect()
}

/// Refuses a name that is not a plain file name (the scheduler only stores such names; a
/// different answer must not write outside the download directory).
///
/// Public (hidden from the docs) only for the `artifact_names` fuzz target under `fuzz/`.
#[doc(hidden)]
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    anyhow::ensure!(plain, "the scheduler listed an artifact with an unsafe name {name:?}; not downloading it");
    Ok(())
}

async fn fetch(sched: &SchedulerClient, id: &str, artifact: &pb::Artifact, dir: &Path) -> anyhow::Result<Downloaded> {
    let name = &artifact.name;
    let path = dir.join(name);
    let part = dir.join(format!(".{name}.part"));
    let result = fetch_into(sched, id, artifact, &part).await;
    let (size, sha256) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    let listed_sha = artifact.sha256.trim().to_ascii_lowercase();
    if size != artifact.size || (!listed_sha.is_empty() && listed_sha != sha256) {
        let _ = tokio::fs::remove_file(&part).await;
        anyhow::bail!(
            "artifact {name} of job {id} arrived damaged: {size} bytes with SHA-256 {sha256}, but the scheduler \
             listed {} bytes with SHA-256 {listed_sha}",
            artifact.size
        );
    }
    tokio::fs::rename(&part, &path).await.with_context(|| format!("moving {} into place", path.display()))?;
    Ok(Downloaded {
        name: name.clone(),
        path: path.display().to_string(),
        size,
        sha256,
        verified: !listed_sha.is_empty(),
    })
}

/// Streams one artifact into `part`; returns its size and hex SHA-256.
async fn fetch_into(
    sched: &SchedulerClient,
    id: &str,
    artifact: &pb::Artifact,
    part: &Path,
) -> anyhow::Result<(u64, String)> {
    let subject = Subject::Artifact(id, &artifact.name);
    let mut client = sched.client.clone();
    let request = pb::DownloadArtifactRequest { job_id: id.to_string(), name: artifact.name.clone() };
    let mut stream = client.download_artifact(request).await.map_err(|s| sched.error(&s, subject))?.into_inner();
    let mut file = tokio::fs::File::create(part).await.with_context(|| format!("creating {}", part.display()))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while let Some(chunk) = stream.message().await.map_err(|s| sched.error(&s, subject))? {
        anyhow::ensure!(
            chunk.offset == written,
            "artifact {} of job {id}: a chunk at offset {} arrived where {written} was expected",
            artifact.name,
            chunk.offset
        );
        hasher.update(&chunk.data);
        file.write_all(&chunk.data).await.with_context(|| format!("writing {}", part.display()))?;
        written += chunk.data.len() as u64;
    }
    file.sync_all().await.with_context(|| format!("writing {}", part.display()))?;
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((written, sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn art(name: &str) -> pb::Artifact {
        pb::Artifact { name: name.into(), size: 1, sha256: String::new() }
    }

    #[test]
    fn named_artifacts_must_exist() {
        let listed = [art("metrics.json"), art("model.safetensors")];
        assert_eq!(select("job", "tr_1_0", &listed, &[]).unwrap().len(), 2);
        let named = select("job", "tr_1_0", &listed, &["model.safetensors".into()]).unwrap();
        assert_eq!(named[0].name, "model.safetensors");
        let err = select("job", "tr_1_0", &listed, &["plot.png".into()]).unwrap_err();
        assert_eq!(err.code, exit::NOT_FOUND);
        assert_eq!(err.message, "no artifact \"plot.png\" in job tr_1_0; it has: metrics.json, model.safetensors");
        assert_eq!(select("job", "tr_1_0", &[], &[]).unwrap_err().code, exit::NOT_FOUND);
        let none = select("experiment", "ex_1_00000000", &[], &[]).unwrap_err();
        assert_eq!(none.message, "experiment ex_1_00000000 has no artifacts (yet)");
    }

    #[test]
    fn unsafe_names_are_refused() {
        for ok in ["metrics.json", "learning_curve.svg", "checkpoint-3.safetensors"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "x y"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
