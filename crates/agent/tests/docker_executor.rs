//! The docker executor against the real Docker engine (`scripts/test` and `.ci/run` install and
//! start it) with a base image built locally from Debian's busybox-static — no registry is
//! reachable here, so the test makes its own image with `docker import`.

mod common;

use autogit_agent::docker::DockerExecutor;
use autogit_agent::shell::Outcome;
use autogit_protocol::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const IMAGE: &str = "autogit-test/busybox:2";

/// Imports a busybox root filesystem as an image once (`scripts/docker-test-image`).
fn ensure_image() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/docker-test-image");
    let out = Command::new("bash").arg(script).arg(IMAGE).output().expect("bash runs");
    assert!(
        out.status.success(),
        "building the test image (needs Docker and busybox-static; run ./scripts/test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn job(
    id: i64,
    f: &Fixture,
    script: &[&str],
    after: &[&str],
    services: Vec<Image>,
    image: &str,
    timeout: i64,
) -> JobResponse {
    let (src, sha) = (&f.src, &f.sha);
    let step = |name: &str, lines: &[&str], when| Step {
        name: name.into(),
        script: lines.iter().map(|s| s.to_string()).collect(),
        timeout,
        when,
        allow_failure: name == "after_script",
    };
    JobResponse {
        id,
        token: "glcbt-docker-test".into(),
        allow_git_fetch: true,
        job_info: JobInfo { project_id: 9, project_full_path: "grp/dockerized".into(), ..Default::default() },
        git_info: GitInfo {
            repo_url: format!("file://{}", src.display()),
            ref_name: "main".into(),
            sha: sha.clone(),
            ..Default::default()
        },
        runner_info: JobRunnerInfo { timeout, runner_session_url: None },
        variables: vec![
            JobVariable::public("GREETING", "hello"),
            JobVariable::public("DERIVED", "$GREETING from docker"),
            JobVariable { file: true, ..JobVariable::public("SECRET_FILE", "file-contents") },
        ],
        steps: vec![step("script", script, StepWhen::OnSuccess), step("after_script", after, StepWhen::Always)],
        image: Some(Image { name: image.into(), ..Default::default() }),
        services,
        artifacts: vec![],
        cache: vec![],
        credentials: vec![],
        dependencies: vec![],
        features: JobFeatures::default(),
    }
}

struct Fixture {
    exec: DockerExecutor,
    src: std::path::PathBuf,
    sha: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn fixture(system_id: &str) -> Fixture {
    ensure_image();
    let (t, src, sha) = common::source();
    let builds = tempfile::tempdir().expect("tempdir");
    let exec = DockerExecutor::connect(builds.path().to_path_buf(), IMAGE.into(), system_id.into())
        .await
        .expect("docker engine reachable");
    Fixture { exec, src, sha, _dirs: (t, builds) }
}

async fn run(exec: &DockerExecutor, j: &JobResponse, cancel: CancellationToken) -> (Outcome, String) {
    common::capture(|tx| exec.run(j, tx, cancel)).await
}

fn leftovers(system_id: &str) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=autogit.runner={system_id}")])
        .output()
        .expect("docker ps");
    let nets = Command::new("docker")
        .args(["network", "ls", "-q", "--filter", &format!("label=autogit.runner={system_id}")])
        .output()
        .expect("docker network ls");
    String::from_utf8_lossy(&out.stdout).lines().count() + String::from_utf8_lossy(&nets.stdout).lines().count()
}

#[tokio::test]
async fn runs_in_the_image_with_a_service_on_the_job_network() {
    let sid = format!("t{}a", std::process::id());
    let f = fixture(&sid).await;
    let svc = Image {
        name: IMAGE.into(),
        alias: Some("cache".into()),
        command: vec!["sleep".into(), "300".into()],
        ..Default::default()
    };
    let j = job(
        1,
        &f,
        &[
            "cat hello.txt",
            "echo \"$DERIVED\"",
            "cat \"$SECRET_FILE\"",
            "echo dir=$CI_PROJECT_DIR",
            "ping -c 1 -W 5 cache",
            "uname -s",
        ],
        &["echo after:$CI_JOB_STATUS"],
        vec![svc],
        IMAGE,
        120,
    );
    let (outcome, log) = run(&f.exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    for needle in [
        "hello from the repo",
        "hello from docker",
        "file-contents",
        "dir=/builds/grp/dockerized",
        "1 packets received",
        "Linux",
        "after:success",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    assert_eq!(leftovers(&sid), 0, "containers and network removed");
}

#[tokio::test]
async fn failures_timeouts_and_missing_images() {
    let sid = format!("t{}b", std::process::id());
    let f = fixture(&sid).await;
    let j = job(2, &f, &["echo before", "exit 3"], &["echo after:$CI_JOB_STATUS"], vec![], IMAGE, 120);
    let (outcome, log) = run(&f.exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Failed { reason: FailureReason::ScriptFailure, exit_code: Some(3) }, "{log}");
    assert!(log.contains("after:failed"), "{log}");

    let j = job(3, &f, &["sleep 300"], &[], vec![], IMAGE, 2);
    let started = std::time::Instant::now();
    let (outcome, log) = run(&f.exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Failed { reason: FailureReason::JobExecutionTimeout, exit_code: None }, "{log}");
    assert!(started.elapsed() < Duration::from_secs(60));

    // `.invalid` never resolves: the pull fails at once, with the GitLab failure reason.
    let j = job(4, &f, &["true"], &[], vec![], "example.invalid/nothing:1", 60);
    let (outcome, log) = run(&f.exec, &j, CancellationToken::new()).await;
    assert_eq!(outcome, Outcome::Failed { reason: FailureReason::ImagePullFailure, exit_code: None }, "{log}");
    assert_eq!(leftovers(&sid), 0, "cleanup after every kind of failure");
}

#[tokio::test]
async fn cancel_and_stale_cleanup() {
    let sid = format!("t{}c", std::process::id());
    let f = fixture(&sid).await;
    let j = job(5, &f, &["echo started", "sleep 300"], &[], vec![], IMAGE, 600);
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        c.cancel();
    });
    let (outcome, log) = run(&f.exec, &j, cancel).await;
    assert_eq!(outcome, Outcome::Canceled, "{log}");

    // A container left by a crashed runner (same label) is removed on the next start.
    let out = Command::new("docker")
        .args(["create", "--label", &format!("autogit.runner={sid}"), IMAGE, "sleep", "300"])
        .output()
        .expect("docker create");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(leftovers(&sid), 1);
    assert_eq!(f.exec.remove_stale().await.expect("remove stale"), 1);
    assert_eq!(leftovers(&sid), 0);
}

#[tokio::test]
async fn stages_see_the_containers_files_on_the_host() {
    let sid = format!("t{}d", std::process::id());
    let f = fixture(&sid).await;
    let script = "if [ -f built/out.txt ]; then echo \"cache hit: $(cat built/out.txt)\"; else echo cache miss; fi";
    let mut j = job(4, &f, &[script, "mkdir -p built", "echo fresh > built/out.txt"], &[], vec![], IMAGE, 60);
    j.cache = vec![CacheSpec { key: "k".into(), paths: vec!["built/".into()], ..Default::default() }];
    let stages = common::CacheStages { cache_dir: f._dirs.1.path().join("cache"), job: j.clone() };
    let (outcome, log) = common::capture(|tx| f.exec.run_with(&j, tx, CancellationToken::new(), &stages)).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    assert!(log.contains("cache miss") && log.contains("Created cache"), "{log}");
    let (outcome, log) = common::capture(|tx| f.exec.run_with(&j, tx, CancellationToken::new(), &stages)).await;
    assert_eq!(outcome, Outcome::Success, "{log}");
    assert!(log.contains("Successfully extracted cache") && log.contains("cache hit: fresh"), "{log}");
    assert_eq!(leftovers(&sid), 0);
}
