//! Job artifacts on the runner side (research: gitlab-runner.md §1.11, §1.12). Before the
//! script, the artifacts of the jobs this one depends on are downloaded and extracted into the
//! project directory; after after_script, the files named by the job's `artifacts` are zipped
//! and uploaded. Trace lines follow gitlab-runner's wording, so logs read the same.

use crate::archive::{self, ArchiveError, Selection};
use crate::client::{Client, ClientError, UploadOutcome};
use crate::script::{expand, job_env};
use crate::shell::Outcome;
use autogit_protocol::{ArtifactSpec, FailureReason, JobResponse};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tempfile::NamedTempFile;
use tokio::sync::mpsc;

/// Tries at an upload that fails for another reason than its size (GitLab fails the job then).
pub const UPLOAD_ATTEMPTS: u32 = 3;
/// Tries at a dependency download that fails on the network or with a 5xx.
pub const DOWNLOAD_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactsError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("temporary file: {0}")]
    Io(#[from] std::io::Error),
    #[error("archiving task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Whether an artifacts or cache `when` (`on_success`, also `""`, the default; `on_failure`;
/// `always`) covers how the job ended. A canceled job keeps nothing, as with GitLab.
pub fn when_matches(when: &str, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Success => matches!(when, "" | "on_success" | "always"),
        Outcome::Failed { .. } => matches!(when, "on_failure" | "always"),
        Outcome::Canceled => false,
    }
}

/// A trace line: `WARNING:`/`ERROR:` lines in gitlab-runner's colours.
pub(crate) async fn line(out: &mpsc::Sender<Vec<u8>>, text: impl AsRef<str>) {
    let text = text.as_ref();
    let colour = if text.starts_with("WARNING:") {
        "\x1b[0;33m"
    } else if text.starts_with("ERROR:") {
        "\x1b[31;1m"
    } else {
        ""
    };
    let end = if colour.is_empty() { "" } else { "\x1b[0;m" };
    let _ = out.send(format!("{colour}{text}{end}\n").into_bytes()).await;
}

/// A section title (green, as the runner prints its stages).
pub(crate) async fn section(out: &mpsc::Sender<Vec<u8>>, text: &str) {
    let _ = out.send(format!("\x1b[32;1m{text}\x1b[0;m\n").into_bytes()).await;
}

/// The variables `$VAR` in artifact paths and cache keys expand to, as the runner expands them:
/// the job's, plus `CI_PROJECT_DIR` as the host path (so `$CI_PROJECT_DIR/out` works for both
/// executors: absolute paths inside the project directory are accepted).
pub(crate) fn job_vars(job: &JobResponse, dir: &Path) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<_, _> = job_env(&job.variables, &dir.with_extension("tmp")).vars.into_iter().collect();
    vars.insert("CI_PROJECT_DIR".into(), dir.display().to_string());
    vars
}

/// Downloads and extracts, in order, the artifacts of every dependency that has some. Any
/// failure ends the job (`missing_dependency_failure`) before the script runs.
pub async fn download_dependencies(
    client: &Client,
    job: &JobResponse,
    dir: &Path,
    out: &mpsc::Sender<Vec<u8>>,
) -> Result<(), Outcome> {
    for dep in job.dependencies.iter().filter(|d| d.artifacts_file.is_some()) {
        section(out, &format!("Downloading artifacts for {} ({})...", dep.name, dep.id)).await;
        // The coordinator may send the running job's token instead (research §1.7).
        let token = if dep.token.is_empty() { &job.token } else { &dep.token };
        match download(client, dep.id, token, dir).await {
            Ok(skipped) => {
                line(out, format!("Downloading artifacts from coordinator... ok  id={}", dep.id)).await;
                for name in skipped {
                    line(out, format!("WARNING: {name}: symlink pointing outside the project directory, skipped"))
                        .await;
                }
            }
            Err(e) => {
                line(out, format!("ERROR: Downloading artifacts from coordinator... {}  id={}", chain(&e), dep.id))
                    .await;
                line(out, format!("ERROR: Job failed: the artifacts of {} ({}) are not available", dep.name, dep.id))
                    .await;
                return Err(Outcome::Failed { reason: FailureReason::MissingDependencyFailure, exit_code: None });
            }
        }
    }
    Ok(())
}

/// One dependency: into a temporary file next to the project directory, then extracted.
async fn download(client: &Client, id: i64, token: &str, dir: &Path) -> Result<Vec<String>, ArtifactsError> {
    let tmp = NamedTempFile::new_in(dir.parent().unwrap_or(dir))?;
    for attempt in 1.. {
        let mut f = tokio::fs::File::create(tmp.path()).await?;
        match client.download_artifacts(id, token, &mut f).await {
            Ok(_) => break,
            Err(e) if attempt < DOWNLOAD_ATTEMPTS && retryable(&e) => {
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let (file, dir) = (tmp.reopen()?, dir.to_path_buf());
    let (_, skipped) = tokio::task::spawn_blocking(move || archive::extract(file, &dir)).await??;
    Ok(skipped)
}

fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Http(_) => true,
        ClientError::Unexpected { status, .. } => *status >= 500 || *status == 408 || *status == 429,
        _ => false,
    }
}

/// Uploads the artifacts of every `artifacts` entry whose `when` covers `outcome`; returns the
/// outcome to report: a successful job whose upload failed has failed (as in GitLab).
pub async fn upload(
    client: &Client,
    job: &JobResponse,
    dir: &Path,
    outcome: Outcome,
    out: &mpsc::Sender<Vec<u8>>,
) -> Outcome {
    let specs: Vec<&ArtifactSpec> = job.artifacts.iter().filter(|a| when_matches(&a.when, &outcome)).collect();
    if specs.is_empty() {
        return outcome;
    }
    let title = if outcome == Outcome::Success { "successful" } else { "failed" };
    section(out, &format!("Uploading artifacts for {title} job")).await;
    let vars = job_vars(job, dir);
    let mut failure = None;
    for spec in specs {
        if !matches!(spec.artifact_format.as_str(), "" | "zip") {
            // Reports (`junit`, gzip) are not archived by this runner yet.
            let kind = artifact_type(spec);
            line(out, format!("WARNING: {kind}: artifact format {:?} is not supported, skipped", spec.artifact_format))
                .await;
            continue;
        }
        line(out, "Uploading artifacts...").await;
        if let Err(reason) = upload_one(client, job, spec, dir, &vars, out).await {
            failure.get_or_insert(reason);
        }
    }
    match (outcome, failure) {
        (Outcome::Success, Some(reason)) => Outcome::Failed { reason, exit_code: None },
        (outcome, _) => outcome,
    }
}

fn artifact_type(spec: &ArtifactSpec) -> &str {
    if spec.artifact_type.is_empty() { "archive" } else { &spec.artifact_type }
}

async fn upload_one(
    client: &Client,
    job: &JobResponse,
    spec: &ArtifactSpec,
    dir: &Path,
    vars: &BTreeMap<String, String>,
    out: &mpsc::Sender<Vec<u8>>,
) -> Result<(), FailureReason> {
    let expanded = |v: &[String]| v.iter().map(|p| expand(p, vars)).collect::<Vec<_>>();
    let (paths, exclude, untracked) = (expanded(&spec.paths), expanded(&spec.exclude), spec.untracked);
    let root = dir.to_path_buf();
    let zipped = tokio::task::spawn_blocking(move || -> Result<(Selection, Option<NamedTempFile>), ArtifactsError> {
        let sel = archive::select(&root, &paths, &exclude, untracked);
        if sel.entries.is_empty() {
            return Ok((sel, None));
        }
        let tmp = NamedTempFile::new_in(root.parent().unwrap_or(&root))?;
        archive::write_zip(&root, &sel.entries, tmp.reopen()?)?;
        Ok((sel, Some(tmp)))
    })
    .await
    .map_err(ArtifactsError::from)
    .and_then(|r| r);
    let (sel, tmp) = match zipped {
        Ok(z) => z,
        Err(e) => {
            line(out, format!("ERROR: creating the artifacts archive failed: {}", chain(&e))).await;
            return Err(FailureReason::RunnerSystemFailure);
        }
    };
    for l in &sel.log {
        line(out, l).await;
    }
    // Nothing matched: the warnings above say so; as with GitLab, not a failure.
    let Some(tmp) = tmp else { return Ok(()) };
    let kind = artifact_type(spec);
    let mut query = vec![("artifact_format", "zip".to_string()), ("artifact_type", kind.to_string())];
    if let Some(expire_in) = spec.expire_in.as_ref().filter(|e| !e.is_empty()) {
        query.push(("expire_in", expire_in.clone()));
    }
    let what = format!("Uploading artifacts as {kind:?} to coordinator...");
    for attempt in 1..=UPLOAD_ATTEMPTS {
        let failed = match client.upload_artifacts(job.id, &job.token, &query, tmp.path()).await {
            Ok(UploadOutcome::Created) => {
                line(out, format!("{what} 201 Created  id={}", job.id)).await;
                return Ok(());
            }
            Ok(UploadOutcome::TooLarge) => {
                line(out, format!("ERROR: {what} 413 Payload Too Large: artifacts too large  id={}", job.id)).await;
                return Err(FailureReason::ScriptFailure);
            }
            Ok(UploadOutcome::Failed { status, body }) => {
                format!("{status} {}", body.chars().take(200).collect::<String>())
            }
            Err(e) => chain(&e),
        };
        if attempt < UPLOAD_ATTEMPTS {
            line(out, format!("WARNING: {what} {failed}  id={}; retrying", job.id)).await;
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        } else {
            line(out, format!("ERROR: {what} {failed}  id={}", job.id)).await;
        }
    }
    Err(FailureReason::RunnerSystemFailure)
}

/// An error with its causes (`reqwest`'s top-level message alone says little).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        // Some errors already print their cause.
        let c_text = c.to_string();
        if !s.contains(&c_text) {
            s.push_str(&format!(": {c_text}"));
        }
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_follows_the_outcome() {
        let failed = Outcome::Failed { reason: FailureReason::ScriptFailure, exit_code: Some(1) };
        for (when, ok, fail) in [("", true, false), ("on_success", true, false), ("on_failure", false, true)] {
            assert_eq!((when_matches(when, &Outcome::Success), when_matches(when, &failed)), (ok, fail), "{when}");
        }
        assert!(when_matches("always", &Outcome::Success) && when_matches("always", &failed));
        assert!(!when_matches("always", &Outcome::Canceled));
        assert!(!when_matches("never", &Outcome::Success));
    }
}
