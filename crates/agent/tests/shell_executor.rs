//! The shell executor against real bash and a real git repository (served over file://).

mod common;

use autogit_agent::shell::{Outcome, ShellExecutor, Stages};
use autogit_protocol::*;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A source repository with one commit; returns (tempdir, file:// url, sha).
fn source() -> (tempfile::TempDir, String, String) {
    let (t, src, sha) = common::source();
    (t, format!("file://{}", src.display()), sha)
}

fn job(url: &str, sha: &str, script: &[&str], after: &[&str], timeout: i64) -> JobResponse {
    let step = |name: &str, lines: &[&str], when| Step {
        name: name.into(),
        script: lines.iter().map(|s| s.to_string()).collect(),
        timeout,
        when,
        allow_failure: name == "after_script",
    };
    JobResponse {
        id: 1,
        token: "glcbt-test".into(),
        allow_git_fetch: true,
        job_info: JobInfo {
            project_id: 7,
            project_full_path: "grp/proj".into(),
            name: "t".into(),
            ..Default::default()
        },
        git_info: GitInfo {
            repo_url: url.into(),
            ref_name: "main".into(),
            sha: sha.into(),
            ref_type: "branch".into(),
            refspecs: vec!["+refs/heads/main:refs/remotes/origin/main".into()],
            depth: 0,
            ..Default::default()
        },
        runner_info: JobRunnerInfo { timeout, runner_session_url: None },
        variables: vec![
            JobVariable::public("GREETING", "hi there"),
            JobVariable::public("DERIVED", "$GREETING!"),
            JobVariable { file: true, ..JobVariable::public("CONFIG_FILE", "key: value") },
        ],
        steps: vec![step("script", script, StepWhen::OnSuccess), step("after_script", after, StepWhen::Always)],
        image: None,
        services: vec![],
        artifacts: vec![],
        cache: vec![],
        credentials: vec![],
        dependencies: vec![],
        features: JobFeatures::default(),
    }
}

async fn run(exec: &ShellExecutor, j: &JobResponse, cancel: CancellationToken) -> (Outcome, String) {
    common::capture(|tx| exec.run(j, tx, cancel)).await
}

#[tokio::test]
async fn runs_steps_at_the_commit_with_variables() {
    let (_t, url, sha) = source();
    let builds = tempfile::tempdir().expect("tempdir");
    let exec = ShellExecutor::unsandboxed(builds.path().to_path_buf());
    let j = job(
        &url,
        &sha,
        &["cat hello.txt", "echo \"$DERIVED\"", "cat \"$CONFIG_FILE\"", "git rev-parse HEAD"],
        &["echo after:$CI_JOB_STATUS"],
        60,
    );
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    for needle in [
        "$ cat hello.txt",
        "hello from the repo",
        "hi there!",
        "key: value",
        sha.as_str(),
        "after:success",
        "Job succeeded",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    // A second job reuses the working copy.
    let (outcome, _) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success);
}

#[tokio::test]
async fn failure_reports_the_exit_code_and_still_runs_after_script() {
    let (_t, url, sha) = source();
    let builds = tempfile::tempdir().expect("tempdir");
    let exec = ShellExecutor::unsandboxed(builds.path().to_path_buf());
    let j = job(&url, &sha, &["echo before", "exit 3", "echo never"], &["echo after:$CI_JOB_STATUS"], 60);
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Failed { reason: FailureReason::ScriptFailure, exit_code: Some(3) });
    assert!(log.contains("before") && !log.contains("\nnever") && log.contains("after:failed"), "{log}");
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let (_t, url, sha) = source();
    let builds = tempfile::tempdir().expect("tempdir");
    let pidfile = builds.path().join("bg.pid");
    let exec = ShellExecutor::unsandboxed(builds.path().to_path_buf());
    let script = format!("sleep 300 & echo $! > {}", pidfile.display());
    let j = job(&url, &sha, &[&script, "sleep 300"], &[], 1);
    let started = Instant::now();
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Failed { reason: FailureReason::JobExecutionTimeout, exit_code: None }, "{log}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let pid = std::fs::read_to_string(&pidfile).expect("pid").trim().to_string();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z ")),
        "background process {pid} survived"
    );
}

#[tokio::test]
async fn cancel_stops_the_job() {
    let (_t, url, sha) = source();
    let builds = tempfile::tempdir().expect("tempdir");
    let exec = ShellExecutor::unsandboxed(builds.path().to_path_buf());
    let j = job(&url, &sha, &["echo started", "sleep 300"], &["echo after:$CI_JOB_STATUS"], 600);
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.cancel();
    });
    let (outcome, log) = run(&exec, &j, cancel).await;
    assert_eq!(outcome, Outcome::Canceled, "{log}");
    assert!(log.contains("after:canceled"), "{log}");
}

#[tokio::test]
async fn unreachable_sources_are_a_system_failure() {
    let builds = tempfile::tempdir().expect("tempdir");
    let exec = ShellExecutor::unsandboxed(builds.path().to_path_buf());
    let j = job("file:///nonexistent/repo", "0123456789012345678901234567890123456789", &["true"], &[], 60);
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Failed { reason: FailureReason::RunnerSystemFailure, exit_code: None });
    assert!(log.contains("fetching sources failed"), "{log}");
}

/// A stage that refuses to let the script run (a dependency that cannot be downloaded).
struct Refuse;

impl Stages for Refuse {
    async fn before_script(&self, _: &Path, _: &mpsc::Sender<Vec<u8>>) -> Result<(), Outcome> {
        Err(Outcome::Failed { reason: FailureReason::MissingDependencyFailure, exit_code: None })
    }
    async fn after_script(&self, _: &Path, outcome: Outcome, _: &mpsc::Sender<Vec<u8>>) -> Outcome {
        outcome
    }
}

#[tokio::test]
async fn stages_run_after_the_checkout_and_after_after_script() {
    let (_t, url, sha) = source();
    let builds = tempfile::tempdir().expect("tempdir");
    let exec = ShellExecutor::unsandboxed(builds.path().join("builds"));
    let script = "if [ -f built/out.txt ]; then echo \"cache hit: $(cat built/out.txt)\"; else echo cache miss; fi";
    let mut j = job(&url, &sha, &[script, "mkdir -p built", "echo fresh > built/out.txt"], &[], 60);
    j.cache = vec![CacheSpec { key: "k".into(), paths: vec!["built/".into()], ..Default::default() }];
    let stages = common::CacheStages { cache_dir: builds.path().join("cache"), job: j.clone() };
    let (outcome, log) = common::capture(|tx| exec.run_with(&j, tx, CancellationToken::new(), &stages)).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    assert!(log.contains("cache miss") && log.contains("Created cache"), "{log}");
    assert!(log.find("Created cache") < log.find("Job succeeded"), "{log}");
    // The checkout's `git clean` removes built/; the restore, after it, brings it back.
    let (outcome, log) = common::capture(|tx| exec.run_with(&j, tx, CancellationToken::new(), &stages)).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    assert!(log.contains("Successfully extracted cache") && log.contains("cache hit: fresh"), "{log}");

    let (outcome, log) = common::capture(|tx| exec.run_with(&j, tx, CancellationToken::new(), &Refuse)).await;
    assert_eq!(outcome, Outcome::Failed { reason: FailureReason::MissingDependencyFailure, exit_code: None });
    assert!(!log.contains("cache miss") && !log.contains("cache hit"), "{log}");
}

/// A working copy is hostile input: an earlier job may have planted configuration, hooks or a
/// symlinked `.git` for the next fetch, which the runner itself runs. None of it may run or be
/// written through.
#[tokio::test]
async fn a_planted_git_configuration_does_not_run_at_the_next_fetch() {
    let (_t, url, sha) = source();
    let builds = tempfile::tempdir().expect("tempdir");
    let exec = ShellExecutor::unsandboxed(builds.path().to_path_buf());
    let j = job(&url, &sha, &["true"], &[], 60);
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    let git_dir = builds.path().join("grp/proj/.git");
    let pwned = builds.path().join("pwned");
    let hook = format!("#!/bin/sh\ntouch {}\n", pwned.display());
    std::fs::write(git_dir.join("hooks/post-checkout"), &hook).expect("hook");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(git_dir.join("hooks/post-checkout"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let mut config = std::fs::read_to_string(git_dir.join("config")).expect("config");
    config.push_str(&format!(
        "[core]\n\tfsmonitor = touch {}\n\thooksPath = {}\n",
        pwned.display(),
        git_dir.join("hooks").display()
    ));
    std::fs::write(git_dir.join("config"), config).expect("config");
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    assert!(!pwned.exists(), "a planted hook or fsmonitor ran as the runner");

    // A symlinked objects directory would make the runner's git write elsewhere.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::fs::remove_dir_all(git_dir.join("objects/info")).ok();
    std::os::unix::fs::symlink(elsewhere.path(), git_dir.join("objects/info")).expect("symlink");
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    assert!(std::fs::read_dir(elsewhere.path()).expect("dir").next().is_none(), "nothing written through the link");
    assert!(!std::fs::symlink_metadata(git_dir.join("objects/info")).expect("info").file_type().is_symlink());
}

/// An earlier job may leave a replace ref that makes the job's commit show other files; the next
/// checkout ignores it. A job of a protected ref never starts from an unprotected job's working
/// copy at all.
#[tokio::test]
async fn a_replace_ref_left_behind_never_changes_the_checkout() {
    let (_t, url, sha) = source();
    let builds = tempfile::tempdir().expect("tempdir");
    let slot = builds.path().join("0");
    let exec = ShellExecutor::unsandboxed(slot.clone());
    let plant = [
        "echo planted > evil",
        "git add evil",
        "git -c user.name=j -c user.email=j@example.com commit -qm evil",
        "git replace \"$(git rev-parse HEAD~1)\" HEAD",
    ];
    let (outcome, log) = run(&exec, &job(&url, &sha, &plant, &[], 60), CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    assert!(slot.join("grp/proj/.git/refs/replace").is_dir(), "the replace ref was planted");

    let check = ["test ! -e evil", "test \"$(git rev-parse HEAD)\" = \"$EXPECTED\""];
    let mut j = job(&url, &sha, &check, &[], 60);
    j.variables.push(autogit_protocol::JobVariable::public("EXPECTED", sha.clone()));
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success, "a replace ref changed the checkout:\n{log}");

    j.git_info.protected = Some(true);
    let (outcome, log) = run(&exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    assert!(builds.path().join("0-protected/grp/proj/.git").is_dir(), "a protected job has its own working copy");
}
