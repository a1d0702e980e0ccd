//! Fetching a job's sources at its commit into a working copy on the runner host. Both
//! executors use it: the docker executor bind-mounts the result, so job images need no git.

use crate::shell::base_env;
use autogit_protocol::JobResponse;
use std::path::Path;
use tokio::process::Command;
use tokio::sync::mpsc;

fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

/// Fetches `git_info.refspecs` (or the commit) from `git_info.repo_url` into `dir` and checks
/// out the commit, reusing the working copy of an earlier job when there is one.
pub async fn fetch(git: &str, job: &JobResponse, dir: &Path, out: &mpsc::Sender<Vec<u8>>) -> Result<(), String> {
    let g = &job.git_info;
    let _ = out
        .send(format!("\x1b[32;1mFetching changes for {} ({})\x1b[0;m\n", g.ref_name, short(&g.sha)).into_bytes())
        .await;
    tokio::fs::create_dir_all(dir).await.map_err(|e| e.to_string())?;
    if !dir.join(".git").exists() {
        run(git, dir, &["init", "-q"]).await?;
    }
    // The URL carries the job token; set it each time (the token changes per job).
    let _ = run(git, dir, &["remote", "remove", "origin"]).await;
    run(git, dir, &["remote", "add", "origin", &g.repo_url]).await?;
    let mut fetch: Vec<String> = vec!["fetch".into(), "-q".into(), "--prune".into()];
    if g.depth > 0 {
        fetch.push(format!("--depth={}", g.depth));
    }
    fetch.push("origin".into());
    if g.refspecs.is_empty() {
        fetch.push(g.sha.clone());
    } else {
        fetch.extend(g.refspecs.iter().cloned());
    }
    let fetch: Vec<&str> = fetch.iter().map(String::as_str).collect();
    run(git, dir, &fetch).await?;
    run(git, dir, &["checkout", "-q", "-f", "--detach", &g.sha]).await?;
    run(git, dir, &["clean", "-q", "-ffdx"]).await?;
    let _ = out.send(format!("Checked out {} as {}\n", short(&g.sha), g.ref_name).into_bytes()).await;
    Ok(())
}

async fn run(git: &str, dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(git)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(base_env())
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        // The URL (with the job token) may be in git's message; the trace buffer masks it.
        Err(format!("git {}: {}", args.first().unwrap_or(&""), String::from_utf8_lossy(&out.stderr).trim()))
    }
}
