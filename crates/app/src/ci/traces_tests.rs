//! Trace archiving over a real SQLite store and a real filesystem blob store: a finished job's
//! log moves into one blob and reads back the same; a crash between the blob and the store is
//! finished by the sweep; a read under way when the pieces go on from the blob; a deleted
//! project's blobs go, and the orphan sweep removes those nobody removed.

use super::*;
use crate::{CreateProject, CreateUser, Principal};
use autogit_blob_fs::FsBlobStore;
use autogit_core::ci::JobStatus;
use autogit_git::storage::RepoStorage;
use autogit_store::blob::BlobStore;
use autogit_store::{JobChange, NewJob, NewPipeline, TraceAppend};
use autogit_store_sql::SqlStore;

struct Fixture {
    app: App,
    blobs: Arc<FsBlobStore>,
    who: Principal,
    project: autogit_store::Project,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqlStore::connect(&url).await.expect("store");
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).expect("blob store"));
    let app = App::new(Arc::new(store), RepoStorage::new(dir.path().join("repos")), Arc::new(crate::SystemClock))
        .with_blobs(blobs.clone());
    let root = CreateUser {
        username: "root".into(),
        name: "root".into(),
        email: "root@example.com".into(),
        password: None,
        is_admin: true,
    };
    let who = Principal::trusted(app.system().insert_user(root).await.expect("user"));
    let project =
        app.create_project(&who, CreateProject { name: Some("p".into()), ..Default::default() }).await.expect("p");
    Fixture { app, blobs, who, project, _dir: dir }
}

fn job_named(name: &str) -> NewJob {
    NewJob {
        name: name.into(),
        stage: "test".into(),
        stage_index: 0,
        status: JobStatus::Pending,
        when: autogit_core::ci::When::OnSuccess,
        allow_failure: false,
        spec: "{}".into(),
        tags: vec![],
        protected: false,
        timeout_secs: 3600,
        scheduled_at: None,
    }
}

/// A running job with `log` appended in pieces of `piece` bytes.
async fn running_job(f: &Fixture, name: &str, log: &[u8], piece: usize) -> Job {
    let store = &f.app.store;
    let new = NewPipeline {
        project_id: f.project.id,
        ref_name: "main".into(),
        tag: false,
        sha: "a".repeat(40),
        before_sha: "0".repeat(40),
        source: "push".into(),
        status: autogit_core::ci::PipelineStatus::Pending,
        user_id: None,
        yaml_errors: None,
        variables: vec![],
    };
    let (_, jobs) = store.create_pipeline(&new, &[job_named(name)], chrono::Utc::now()).await.expect("pipeline");
    let id = jobs[0].id;
    // No runner: a job moved to running directly is enough here.
    let now = chrono::Utc::now();
    let none = JobChange::default();
    let started = store.transition_job(id, &[JobStatus::Pending], JobStatus::Running, &none, now);
    started.await.expect("transition").expect("running");
    for (i, part) in log.chunks(piece).enumerate() {
        let at = (i * piece) as i64;
        assert!(matches!(store.append_trace(id, at, part).await, Ok(TraceAppend::Appended { .. })), "append at {at}");
    }
    store.job_by_id(id).await.expect("read").expect("job")
}

async fn finish(f: &Fixture, job: &Job) -> Job {
    let now = chrono::Utc::now();
    let none = JobChange::default();
    let done = f.app.store.transition_job(job.id, &[JobStatus::Running], JobStatus::Success, &none, now);
    done.await.expect("transition").expect("finished")
}

async fn read_all(mut body: ByteStream<'static>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// A log of `n` bytes, every byte value included, longer than a page when `n` is.
fn log_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 256) as u8).collect()
}

async fn reread(f: &Fixture, job: &Job) -> Job {
    f.app.store.job_by_id(job.id).await.expect("read").expect("job")
}

async fn blob_bytes(f: &Fixture, job: &Job) -> Option<Vec<u8>> {
    let key = trace_key(job.project_id, job.id).expect("key");
    match f.blobs.open(&key, None).await {
        Ok(opened) => Some(read_all(opened.body).await.expect("blob reads")),
        Err(autogit_store::blob::BlobError::NotFound(_)) => None,
        Err(e) => panic!("blob {key}: {e}"),
    }
}

#[tokio::test]
async fn a_finished_trace_moves_into_one_blob_and_reads_back_the_same() {
    let f = fixture().await;
    let log = log_of(PAGE as usize * 2 + 1234);
    let job = running_job(&f, "build", &log, 100_000).await;
    let live = f.app.trace_of(&job).await.expect("trace");
    assert_eq!(live.size, log.len() as u64);
    assert_eq!(read_all(live.body).await.expect("read"), log, "a running job's log reads from the store");
    assert!(!f.app.archive_trace(job.id).await.expect("archive"), "a running job's log is not archived");
    assert_eq!(blob_bytes(&f, &job).await, None, "... and has no blob");

    let done = finish(&f, &job).await;
    assert!(f.app.archive_trace(done.id).await.expect("archive"), "a finished job's log is archived");
    let archived = reread(&f, &done).await;
    assert!(archived.trace_archived && archived.trace_size == log.len() as i64, "{archived:?}");
    assert_eq!(blob_bytes(&f, &done).await.as_deref(), Some(&log[..]), "the blob is the whole log");
    assert_eq!(f.app.store.read_trace(done.id, 0, 10).await.expect("read"), b"", "the store's pieces are gone");
    let shown = f.app.job_trace(&f.who, &f.project.full_path, done.id).await.expect("trace");
    assert_eq!(shown.size, log.len() as u64);
    assert_eq!(read_all(shown.body).await.expect("read"), log, "the archived log reads back byte for byte");
    assert!(!f.app.archive_trace(done.id).await.expect("archive"), "archiving again does nothing");
}

#[tokio::test]
async fn the_sweep_archives_what_a_crash_left_between_blob_and_store() {
    let f = fixture().await;
    let log = b"step 1\nstep 2\n\x00\xff done\n".to_vec();
    let crashed = finish(&f, &running_job(&f, "crashed", &log, 5).await).await;
    let running = running_job(&f, "running", b"still going\n", 4).await;
    // The crash: the blob was written (here: a half-written value from an older try, which the
    // port never shows, but the sweep must not care what is there), the store never archived.
    let key = trace_key(crashed.project_id, crashed.id).expect("key");
    f.blobs.put(&key, bytes_body(b"step 1\n".to_vec()), None).await.expect("put");
    assert!(!reread(&f, &crashed).await.trace_archived);

    let mut at = Some(SweepFrom::default());
    while let Some(after) = at {
        at = f.app.system().archive_traces_after(after).await.expect("sweep");
    }
    let swept = reread(&f, &crashed).await;
    assert!(swept.trace_archived, "the sweep archived the finished job");
    assert_eq!(blob_bytes(&f, &crashed).await, Some(log.clone()), "the same key, overwritten with the whole log");
    assert_eq!(f.app.store.read_trace(crashed.id, 0, 100).await.expect("read"), b"", "its pieces are gone");
    let shown = f.app.trace_of(&swept).await.expect("trace");
    assert_eq!(read_all(shown.body).await.expect("read"), log);
    assert!(!reread(&f, &running).await.trace_archived, "a running job is left alone");
    assert_eq!(blob_bytes(&f, &running).await, None, "... and gets no blob");
}

#[tokio::test]
async fn a_read_under_way_when_the_trace_is_archived_goes_on_from_the_blob() {
    let f = fixture().await;
    let log = log_of(PAGE as usize * 3);
    let job = finish(&f, &running_job(&f, "big", &log, PAGE as usize / 2).await).await;
    let mut body = f.app.trace_of(&job).await.expect("trace").body;
    let mut read = body.next().await.expect("a first page").expect("reads").to_vec();
    assert_eq!(read.len(), PAGE as usize, "one page at a time");
    assert!(f.app.archive_trace(job.id).await.expect("archive"));
    read.extend(read_all(body).await.expect("the rest reads"));
    assert_eq!(read, log, "the rest came from the blob");
}

#[tokio::test]
async fn deleting_a_project_removes_its_trace_blobs_and_the_sweep_removes_orphans() {
    let f = fixture().await;
    let job = finish(&f, &running_job(&f, "build", b"hello\n", 3).await).await;
    assert!(f.app.archive_trace(job.id).await.expect("archive"));
    assert!(blob_bytes(&f, &job).await.is_some());

    let other =
        f.app.create_project(&f.who, CreateProject { name: Some("q".into()), ..Default::default() }).await.expect("q");
    let kept = trace_key(other.id, JobId::new(1)).expect("key");
    f.blobs.put(&kept, bytes_body(b"kept".to_vec()), None).await.expect("put");
    let orphan = trace_key(ProjectId::new(other.id.get() + 1000), JobId::new(7)).expect("key");
    f.blobs.put(&orphan, bytes_body(b"orphan".to_vec()), None).await.expect("put");

    f.app.delete_project(&f.who, &f.project.full_path).await.expect("delete");
    assert_eq!(blob_bytes(&f, &job).await, None, "the deleted project's trace blob is gone");
    assert_eq!(f.app.system().remove_orphan_traces().await.expect("sweep"), 1, "one orphan");
    assert!(f.blobs.meta(&orphan).await.expect("meta").is_none(), "the orphan is gone");
    assert!(f.blobs.meta(&kept).await.expect("meta").is_some(), "an existing project's blob stays");
}

#[tokio::test]
async fn archiving_started_before_shutdown_is_finished_by_it() {
    let f = fixture().await;
    let job = running_job(&f, "late", &log_of(50_000), 10_000).await;
    let done = finish(&f, &job).await;
    f.app.archive_trace_soon(done.id);
    // What the housekeeping loop does when the server stops.
    f.app.system().finish_background().await;
    assert!(f.app.ci.background.is_empty(), "no background write is left");
    assert!(reread(&f, &done).await.trace_archived, "the log was archived before shutdown returned");
    assert_eq!(blob_bytes(&f, &done).await, Some(log_of(50_000)));
}
