//! The job cache, kept on the runner's own disk (GitLab leaves caches to the runner; the server
//! only sends the spec, research §1.7): `<cache_dir>/<project path>/<key>/cache.zip`, like
//! gitlab-runner's local cache when no shared (S3/GCS) cache is configured. A cache is best
//! effort: failing to restore or save one is a trace warning, never a job failure.
//!
//! Keys: `$VAR`s are expanded as gitlab-runner does; an empty key becomes `<job name>/<ref>`
//! (gitlab-runner's fallback). Each key, and each component of the project path, is then made
//! one safe path component by [`sanitize`], so no key reaches outside its project's directory.

use crate::archive::{self, ArchiveError, Selection};
use crate::artifacts::{chain, job_vars, line, section, when_matches};
use crate::docker::project_path;
use crate::script::expand;
use crate::shell::Outcome;
use autogit_protocol::{CacheSpec, JobResponse};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

pub const CACHE_FILE: &str = "cache.zip";

/// One path component: ASCII letters, digits, `-`, `_` and `.` stay; every other byte (`/`,
/// `%`, spaces, non-ASCII) becomes `%XX`; a name made only of dots (`.`, `..`) has its dots
/// encoded too. Distinct keys stay distinct, and none can name a parent directory.
pub fn sanitize(component: &str) -> String {
    let only_dots = component.bytes().all(|b| b == b'.');
    let mut s = String::with_capacity(component.len());
    for b in component.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !only_dots) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// `<cache_dir>/<project path>/<key>/cache.zip`.
pub fn cache_file(cache_dir: &Path, job: &JobResponse, key: &str) -> PathBuf {
    let mut p = cache_dir.to_path_buf();
    p.extend(project_path(job).split('/').filter(|c| !c.is_empty()).map(sanitize));
    p.push(sanitize(key));
    p.push(CACHE_FILE);
    p
}

/// The key, then the fallback keys, expanded.
pub fn keys(spec: &CacheSpec, job: &JobResponse, vars: &BTreeMap<String, String>) -> Vec<String> {
    let key = expand(&spec.key, vars);
    let key = if key.is_empty() { format!("{}/{}", job.job_info.name, job.git_info.ref_name) } else { key };
    let fallbacks = spec.fallback_keys.iter().map(|k| expand(k, vars)).filter(|k| !k.is_empty());
    std::iter::once(key).chain(fallbacks).collect()
}

/// Before the script: for each cache with policy `pull` or `pull-push` (the default), extracts
/// the first of its keys that has a cache file into the project directory.
pub async fn restore(job: &JobResponse, cache_dir: &Path, dir: &Path, out: &mpsc::Sender<Vec<u8>>) {
    let vars = job_vars(job, dir);
    for spec in job.cache.iter().filter(|c| matches!(c.policy.as_str(), "" | "pull" | "pull-push")) {
        section(out, "Restoring cache").await;
        let mut restored = false;
        for key in keys(spec, job, &vars) {
            line(out, format!("Checking cache for {key}...")).await;
            let file = cache_file(cache_dir, job, &key);
            let root = dir.to_path_buf();
            let extracted = tokio::task::spawn_blocking(move || -> Result<_, ArchiveError> {
                match File::open(&file) {
                    Ok(f) => archive::extract(f, &root).map(Some),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(ArchiveError::Io { path: file.display().to_string(), source }),
                }
            })
            .await;
            match extracted {
                Ok(Ok(Some(_))) => {
                    line(out, "Successfully extracted cache").await;
                    restored = true;
                    break;
                }
                Ok(Ok(None)) => line(out, "WARNING: Cache file does not exist").await,
                Ok(Err(e)) => line(out, format!("WARNING: {}", chain(&e))).await,
                Err(e) => line(out, format!("WARNING: {e}")).await,
            }
        }
        if !restored {
            line(out, "Failed to extract cache").await;
        }
    }
}

/// After after_script: for each cache with policy `push` or `pull-push` whose `when` covers the
/// outcome, zips its `paths` (and untracked files) into its key's file, atomically (a temporary
/// file in the same directory, then a rename), so a concurrent restore sees the old or the new.
pub async fn save(job: &JobResponse, cache_dir: &Path, dir: &Path, outcome: &Outcome, out: &mpsc::Sender<Vec<u8>>) {
    let vars = job_vars(job, dir);
    let specs = job.cache.iter().filter(|c| matches!(c.policy.as_str(), "" | "push" | "pull-push"));
    for spec in specs.filter(|c| when_matches(&c.when, outcome)) {
        let title = if *outcome == Outcome::Success { "successful" } else { "failed" };
        section(out, &format!("Saving cache for {title} job")).await;
        let Some(key) = keys(spec, job, &vars).into_iter().next() else { continue };
        line(out, format!("Creating cache {key}...")).await;
        let paths: Vec<String> = spec.paths.iter().map(|p| expand(p, &vars)).collect();
        let (root, file, untracked) = (dir.to_path_buf(), cache_file(cache_dir, job, &key), spec.untracked);
        let saved = tokio::task::spawn_blocking(move || write(&root, &paths, untracked, &file)).await;
        match saved {
            Ok(Ok((sel, created))) => {
                for l in &sel.log {
                    line(out, l).await;
                }
                line(out, if created { "Created cache" } else { "WARNING: Cache is empty; not saved" }).await;
            }
            Ok(Err(e)) => line(out, format!("WARNING: Failed to create cache: {}", chain(&e))).await,
            Err(e) => line(out, format!("WARNING: Failed to create cache: {e}")).await,
        }
    }
}

/// Zips the selected files into `file` atomically; `false` when nothing matched.
fn write(root: &Path, paths: &[String], untracked: bool, file: &Path) -> Result<(Selection, bool), ArchiveError> {
    let sel = archive::select(root, paths, &[], untracked);
    if sel.entries.is_empty() {
        return Ok((sel, false));
    }
    let at = |path: &Path| {
        let path = path.display().to_string();
        move |source| ArchiveError::Io { path, source }
    };
    let key_dir = file.parent().unwrap_or(root);
    fs::create_dir_all(key_dir).map_err(at(key_dir))?;
    let tmp = tempfile::NamedTempFile::new_in(key_dir).map_err(at(key_dir))?;
    archive::write_zip(root, &sel.entries, tmp.reopen().map_err(at(tmp.path()))?)?;
    tmp.persist(file).map_err(|e| at(file)(e.error))?;
    Ok((sel, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use autogit_protocol::JobInfo;

    #[test]
    fn keys_are_single_safe_components() {
        assert_eq!(sanitize("main-1.2_x"), "main-1.2_x");
        assert_eq!(sanitize("a/b"), "a%2Fb");
        assert_eq!(sanitize("a%2Fb"), "a%252Fb");
        assert_eq!(sanitize(".."), "%2E%2E");
        assert_eq!(sanitize("../../etc"), "..%2F..%2Fetc");
        assert_eq!(sanitize("ünï code"), "%C3%BCn%C3%AF%20code");
        let job = JobResponse {
            job_info: JobInfo { project_id: 7, project_full_path: "grp/../proj".into(), ..Default::default() },
            ..test_job()
        };
        // A project path that is not plain falls back to the project id (docker::project_path).
        let f = cache_file(Path::new("/c"), &job, "../x");
        assert_eq!(f, Path::new("/c/7/..%2Fx/cache.zip"));
    }

    fn test_job() -> JobResponse {
        serde_json::from_value(serde_json::json!({
            "id": 1, "token": "t", "allow_git_fetch": true,
            "job_info": {"name": "build", "project_id": 7, "project_full_path": "grp/proj"},
            "git_info": {"ref": "main"}, "runner_info": {"timeout": 60},
            "variables": [{"key": "CI_COMMIT_REF_SLUG", "value": "main"}],
            "steps": [], "image": null,
        }))
        .expect("job")
    }

    #[tokio::test]
    async fn save_then_restore_with_a_fallback_key() {
        let t = tempfile::tempdir().expect("tempdir");
        let (cache_dir, dir) = (t.path().join("cache"), t.path().join("builds/grp/proj"));
        fs::create_dir_all(dir.join("deps/sub")).expect("mkdir");
        fs::write(dir.join("deps/sub/lib.a"), "lib").expect("write");
        let mut job = test_job();
        let spec = |key: &str, policy: &str| CacheSpec {
            key: key.into(),
            policy: policy.into(),
            paths: vec!["deps/".into()],
            fallback_keys: vec!["nope".into(), "deps-$CI_COMMIT_REF_SLUG".into()],
            ..Default::default()
        };
        job.cache = vec![spec("deps-$CI_COMMIT_REF_SLUG", "push")];
        let (tx, mut rx) = mpsc::channel(100);
        save(&job, &cache_dir, &dir, &Outcome::Success, &tx).await;
        assert!(cache_dir.join("grp/proj/deps-main/cache.zip").is_file());
        // `pull` never saves; a failed job saves nothing by default.
        job.cache = vec![spec("other", "pull")];
        save(&job, &cache_dir, &dir, &Outcome::Success, &tx).await;
        job.cache = vec![spec("other", "pull-push")];
        let failed = Outcome::Failed { reason: autogit_protocol::FailureReason::ScriptFailure, exit_code: None };
        save(&job, &cache_dir, &dir, &failed, &tx).await;
        assert!(!cache_dir.join("grp/proj/other").exists());
        fs::remove_dir_all(dir.join("deps")).expect("rm");
        restore(&job, &cache_dir, &dir, &tx).await;
        assert_eq!(fs::read_to_string(dir.join("deps/sub/lib.a")).expect("restored"), "lib");
        drop(tx);
        let mut log = String::new();
        while let Some(chunk) = rx.recv().await {
            log.push_str(&String::from_utf8_lossy(&chunk));
        }
        for needle in [
            "Saving cache for successful job",
            "Creating cache deps-main...",
            "deps/: found 3 matching artifact files and directories",
            "Created cache",
            "Restoring cache",
            "Checking cache for other...",
            "Cache file does not exist",
            "Checking cache for nope...",
            "Checking cache for deps-main...",
            "Successfully extracted cache",
        ] {
            assert!(log.contains(needle), "missing {needle:?} in\n{log}");
        }
    }
}
