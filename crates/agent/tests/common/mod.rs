//! Shared by the executor tests: a real git source repository and output capture.
#![allow(dead_code)]

use autogit_agent::shell::{Outcome, Stages};
use autogit_protocol::JobResponse;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::sync::mpsc;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A source repository with one commit (`hello.txt`); returns (its tempdir, its path, the sha).
pub fn source() -> (tempfile::TempDir, PathBuf, String) {
    let t = tempfile::tempdir().expect("tempdir");
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    git(&src, &["init", "-q", "-b", "main"]);
    std::fs::write(src.join("hello.txt"), "hello from the repo\n").expect("write");
    git(&src, &["add", "."]);
    git(&src, &["commit", "-q", "-m", "one"]);
    let sha = git(&src, &["rev-parse", "HEAD"]);
    (t, src, sha)
}

/// Runs an executor and collects everything it wrote.
pub async fn capture<F, Fut>(run: F) -> (Outcome, String)
where
    F: FnOnce(mpsc::Sender<Vec<u8>>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let (tx, mut rx) = mpsc::channel(64);
    let collect = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(chunk) = rx.recv().await {
            all.extend(chunk);
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let outcome = run(tx).await;
    (outcome, collect.await.expect("collector"))
}

/// The worker's cache stages, without a coordinator.
pub struct CacheStages {
    pub cache_dir: PathBuf,
    pub job: JobResponse,
}

impl Stages for CacheStages {
    async fn before_script(&self, dir: &Path, out: &mpsc::Sender<Vec<u8>>) -> Result<(), Outcome> {
        autogit_agent::cache::restore(&self.job, &self.cache_dir, dir, out).await;
        Ok(())
    }
    async fn after_script(&self, dir: &Path, outcome: Outcome, out: &mpsc::Sender<Vec<u8>>) -> Outcome {
        autogit_agent::cache::save(&self.job, &self.cache_dir, dir, &outcome, out).await;
        outcome
    }
}
