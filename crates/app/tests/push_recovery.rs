//! The push outbox after a crash at each step: the start-up recovery finishes what was left and
//! never repeats what was done — one push event and one pipeline per applied ref update, however
//! many passes run. git runs for real, with the identity a push record gives it.

mod common;

use autogit_app::{App, CreateProject, CreateUser, Principal, Recovered};
use autogit_core::ci::{JobStatus, PipelineStatus, When};
use autogit_git::RepoStorage;
use autogit_git::pktline::RefUpdate;
use autogit_store::{NewJob, NewPipeline, Page, PipelineFilter, Project, PushRecordState, Store};
use autogit_store_sql::SqlStore;
use common::TestClock;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

struct Fixture {
    app: App,
    /// The store and repositories the app was built over, read and written behind its back.
    store: Arc<dyn Store>,
    repos: RepoStorage,
    clock: Arc<TestClock>,
    project: Project,
    work: PathBuf,
    dir: tempfile::TempDir,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ann")
        .env("GIT_AUTHOR_EMAIL", "ann@example.com")
        .env("GIT_COMMITTER_NAME", "Ann")
        .env("GIT_COMMITTER_EMAIL", "ann@example.com")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.expect("store"));
    let clock = Arc::new(TestClock::at(chrono::Utc::now()));
    let app = App::new(store.clone(), RepoStorage::new(dir.path().join("repos")), clock.clone());
    let repos = RepoStorage::new(dir.path().join("repos"));
    let user = CreateUser {
        username: "ann".into(),
        name: "Ann".into(),
        email: "ann@example.com".into(),
        password: None,
        is_admin: true,
    };
    let who = Principal::trusted(app.system().insert_user(user).await.expect("user"));
    let project = app
        .create_project(&who, CreateProject { name: Some("p".into()), ..Default::default() })
        .await
        .expect("project");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join(".gitlab-ci.yml"), "test:\n  script:\n    - echo hi\n").expect("write");
    Fixture { app, store, repos, clock, project, work, dir }
}

impl Fixture {
    fn commit(&self, n: u32) -> String {
        std::fs::write(self.work.join("n.txt"), n.to_string()).expect("write");
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", &format!("commit {n}")]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Records a push of `HEAD` to `branch` as the server does, then lets git apply it under the
    /// record's identity — and then "crashes": nothing after git runs. Returns the record id.
    async fn push_and_crash(&self, branch: &str, old: &str) -> i64 {
        let new = git(&self.work, &["rev-parse", "HEAD"]);
        let update = RefUpdate { old: old.into(), new, name: format!("refs/heads/{branch}") };
        let recorded = self.app.system().begin_push(self.project.id, None, &[update], None).await.expect("recorded");
        let wrapper = self.dir.path().join(format!("receive-pack-{}", recorded.record_id()));
        let env: String = recorded.identity().env().iter().map(|(k, v)| format!("export {k}='{v}'\n")).collect();
        let script = format!("#!/bin/sh\n{env}exec git -c core.logAllRefUpdates=always receive-pack \"$@\"\n");
        std::fs::write(&wrapper, script).expect("write wrapper");
        assert!(Command::new("chmod").arg("+x").arg(&wrapper).status().expect("chmod").success());
        let repo = self.repos.path_for(self.project.id);
        let _ = Command::new("git")
            .current_dir(&self.work)
            .args(["push", "-q", "--receive-pack"])
            .arg(&wrapper)
            .arg(&repo)
            .arg(format!("HEAD:refs/heads/{branch}"))
            .output()
            .expect("git push runs");
        recorded.record_id()
    }

    async fn counts(&self, branch: &str) -> (usize, Vec<PipelineStatus>) {
        let events = self.store.list_push_events(self.project.id, Page::ALL).await.expect("events");
        let events = events.items.iter().filter(|e| e.ref_name == format!("refs/heads/{branch}")).count();
        let filter = PipelineFilter { ref_name: Some(branch.into()), ..Default::default() };
        let pipelines = self.store.list_pipelines(self.project.id, &filter, Page::ALL).await.expect("list");
        (events, pipelines.items.into_iter().map(|p| p.status).collect())
    }

    /// The stored spec of the job the compiler made for `branch`'s pipeline.
    async fn real_job_spec(&self, branch: &str) -> String {
        let filter = PipelineFilter { ref_name: Some(branch.into()), ..Default::default() };
        let pipelines = self.store.list_pipelines(self.project.id, &filter, Page::ALL).await.expect("list");
        let jobs = self.store.jobs_of_pipeline(pipelines.items[0].id, false).await.expect("jobs");
        jobs[0].spec.clone()
    }

    async fn recover_twice(&self) -> Recovered {
        let first = self.app.system().recover_pushes().await.expect("recover");
        let second = self.app.system().recover_pushes().await.expect("recover again");
        assert_eq!(second, Recovered::default(), "a second pass finds nothing to do");
        first
    }
}

const ZERO: &str = "0000000000000000000000000000000000000000";

#[tokio::test]
async fn a_crash_at_any_step_is_finished_exactly_once() {
    let f = fixture().await;

    // Crash right after git: nothing but the record.
    f.commit(1);
    let a = f.push_and_crash("a", ZERO).await;
    assert_eq!(f.counts("a").await, (0, vec![]));
    assert_eq!(f.recover_twice().await, Recovered { settled: 1, ..Default::default() });
    assert_eq!(f.counts("a").await, (1, vec![PipelineStatus::Pending]), "one event, one processed pipeline");
    let done = f.store.push_record(a).await.expect("read").expect("kept until pruned");
    assert_eq!(done.state, PushRecordState::Done);

    // Crash after the events were written.
    f.commit(2);
    let b = f.push_and_crash("b", ZERO).await;
    f.store.record_push_events(b, &[0], chrono::Utc::now()).await.expect("events").expect("recorded");
    f.recover_twice().await;
    assert_eq!(f.counts("b").await, (1, vec![PipelineStatus::Pending]), "events not written twice");

    // Crash after the pipeline was created, before it was processed.
    let sha = f.commit(3);
    let c = f.push_and_crash("c", ZERO).await;
    f.store.record_push_events(c, &[0], chrono::Utc::now()).await.expect("events").expect("recorded");
    let new = NewPipeline {
        project_id: f.project.id,
        ref_name: "c".into(),
        tag: false,
        sha,
        before_sha: ZERO.into(),
        source: "push".into(),
        status: PipelineStatus::Created,
        user_id: None,
        yaml_errors: None,
        variables: vec![],
    };
    let job = NewJob {
        name: "test".into(),
        stage: "test".into(),
        stage_index: 0,
        status: JobStatus::Created,
        when: When::OnSuccess,
        allow_failure: false,
        spec: f.real_job_spec("a").await,
        tags: vec![],
        protected: false,
        timeout_secs: 60,
        scheduled_at: None,
    };
    let made = f.store.create_push_pipeline(c, 0, &new, &[job], chrono::Utc::now()).await.expect("create");
    assert!(made.is_some());
    assert_eq!(f.counts("c").await, (1, vec![PipelineStatus::Created]));
    f.recover_twice().await;
    assert_eq!(f.counts("c").await, (1, vec![PipelineStatus::Pending]), "the pipeline is processed, not made again");

    // A push git refused (not a fast-forward) leaves nothing, not even its record.
    git(&f.work, &["checkout", "-q", "--orphan", "unrelated"]);
    f.commit(4);
    let refused = f.push_and_crash("a", ZERO).await;
    assert_eq!(f.recover_twice().await, Recovered { discarded: 1, ..Default::default() });
    assert!(f.store.push_record(refused).await.expect("read").is_none());
    assert_eq!(f.counts("a").await, (1, vec![PipelineStatus::Pending]), "nothing for the refused push");
}

/// A push whose events could not be written while it ran (the store failing then) is settled
/// by maintenance while the server runs, not only at the next start — but never while this
/// process may still be running its git.
#[tokio::test]
async fn maintenance_settles_a_push_left_received_once_its_git_is_done() {
    let f = fixture().await;
    f.commit(1);
    let left = f.push_and_crash("a", ZERO).await;
    let head = git(&f.work, &["rev-parse", "HEAD"]);
    let update = RefUpdate { old: ZERO.into(), new: head, name: "refs/heads/b".into() };
    let running = f.app.system().begin_push(f.project.id, None, &[update], None).await.expect("recorded");
    let store = &f.store;
    let state = |id| async move { store.push_record(id).await.expect("read").map(|r| r.state) };

    f.app.system().maintain_push_records().await.expect("maintain");
    assert_eq!(state(left).await, Some(PushRecordState::Received), "a fresh record may still be settling");
    f.clock.advance(chrono::Duration::minutes(5));
    f.app.system().maintain_push_records().await.expect("maintain");
    assert_eq!(state(left).await, Some(PushRecordState::Done));
    assert_eq!(f.counts("a").await, (1, vec![PipelineStatus::Pending]), "its event and pipeline, once");
    assert_eq!(
        state(running.record_id()).await,
        Some(PushRecordState::Received),
        "a push this process still runs is left alone, however old"
    );

    let id = running.record_id();
    drop(running);
    f.app.system().maintain_push_records().await.expect("maintain");
    assert_eq!(state(id).await, None, "once its git is done: it applied nothing, so it goes");
    f.app.system().maintain_push_records().await.expect("maintain");
    assert_eq!(f.counts("a").await, (1, vec![PipelineStatus::Pending]), "never twice");
}
