//! Races on the CI writes that must be exactly-once: two runners claiming one pending job
//! (`assign_job`), two pipelines created at once in one project (distinct iids), and a late
//! trace append racing the trace's archiving (one of them wins, never both). Each runs on
//! SQLite always and on PostgreSQL when `AUTOGIT_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;

use autogit_core::ci::{JobStatus, PipelineStatus};
use autogit_store::{JobChange, NewJob, NewRunner, RunnerAccessLevel, RunnerScope, Store, TraceAppend};
use common::ci::{job, now, pipeline, project};
use common::{PgSchema, sqlite_store};

const ROUNDS: usize = 20;

fn digest(tag: &str, what: &str) -> String {
    let hex: String = format!("{tag}{what}").bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0>64}")
}

async fn race_claims(store: Arc<dyn Store>) {
    let tag = autogit_store::conformance::unique_prefix();
    let p = project(&*store, &tag).await;
    let mut runners = Vec::new();
    for n in 0..2 {
        let new = NewRunner {
            description: format!("racer {n}"),
            token_digest: digest(&tag, &format!("runner{n}")),
            scope: RunnerScope::Project(p.id),
            tags: vec![],
            run_untagged: true,
            locked: false,
            paused: false,
            access_level: RunnerAccessLevel::NotProtected,
            maximum_timeout: None,
        };
        runners.push(store.create_runner(&new, now()).await.expect("create runner").id);
    }
    let jobs: Vec<NewJob> = (0..ROUNDS).map(|n| job(&format!("j{n}"), JobStatus::Pending)).collect();
    let (_, jobs) =
        store.create_pipeline(&pipeline(p.id, PipelineStatus::Pending), &jobs, now()).await.expect("create pipeline");
    let mut wins = [0; 2];
    for (round, j) in jobs.iter().enumerate() {
        let claim = |n: usize| {
            let (s, id, runner, token) = (store.clone(), j.id, runners[n], digest(&tag, &format!("job{round}-{n}")));
            tokio::spawn(async move { s.assign_job(id, runner, &token, now(), now()).await })
        };
        let (a, b) = (claim(0), claim(1));
        let results = [a.await.expect("task"), b.await.expect("task")];
        let winners: Vec<usize> = (0..2).filter(|&n| matches!(&results[n], Ok(Some(_)))).collect();
        let losers = results.iter().filter(|r| matches!(r, Ok(None))).count();
        assert_eq!((winners.len(), losers), (1, 1), "round {round}: exactly one claim wins: {results:?}");
        let won = winners[0];
        wins[won] += 1;
        let stored = store.job_by_id(j.id).await.expect("job_by_id").expect("job exists");
        assert_eq!(
            (stored.status, stored.runner_id, stored.token_digest),
            (JobStatus::Running, Some(runners[won]), Some(digest(&tag, &format!("job{round}-{won}")))),
            "round {round}: the stored job is the winner's"
        );
    }
    println!("runner 0 won {} rounds, runner 1 won {}", wins[0], wins[1]);
}

async fn race_iids(store: Arc<dyn Store>) {
    let tag = autogit_store::conformance::unique_prefix();
    let p = project(&*store, &tag).await;
    let mut iids = Vec::new();
    for round in 0..ROUNDS {
        let create = || {
            let s = store.clone();
            let new = pipeline(p.id, PipelineStatus::Pending);
            let jobs = [job("a", JobStatus::Pending), job("b", JobStatus::Pending)];
            tokio::spawn(async move { s.create_pipeline(&new, &jobs, now()).await })
        };
        let (a, b) = (create(), create());
        let (a, b) = (a.await.expect("task"), b.await.expect("task"));
        let (a, b) = match (a, b) {
            (Ok(a), Ok(b)) => (a, b),
            other => panic!("round {round}: both pipelines must be created: {other:?}"),
        };
        assert_ne!(a.0.iid, b.0.iid, "round {round}: concurrent pipelines get distinct iids");
        assert_eq!((a.1.len(), b.1.len()), (2, 2), "round {round}: each pipeline has its jobs");
        iids.extend([a.0.iid, b.0.iid]);
    }
    iids.sort_unstable();
    let want: Vec<i64> = (1..=2 * ROUNDS as i64).collect();
    assert_eq!(iids, want, "iids are 1, 2, 3… without gaps or repeats");
}

/// An append at the end of a finished job's log races the archiving of the log at its size: either
/// the append lands first (the archiving is refused, the log keeps its rows) or the archiving
/// does (the append is refused) — never an archived log that grew rows afterwards.
async fn race_append_and_archive(store: Arc<dyn Store>) {
    let tag = autogit_store::conformance::unique_prefix();
    let p = project(&*store, &tag).await;
    let jobs: Vec<NewJob> = (0..ROUNDS).map(|n| job(&format!("j{n}"), JobStatus::Pending)).collect();
    let (_, jobs) =
        store.create_pipeline(&pipeline(p.id, PipelineStatus::Pending), &jobs, now()).await.expect("create pipeline");
    let mut appended_first = 0;
    for (round, j) in jobs.iter().enumerate() {
        store.append_trace(j.id, 0, b"log\n").await.expect("append");
        let none = JobChange::default();
        let done = store.transition_job(j.id, &[JobStatus::Pending], JobStatus::Canceled, &none, now());
        done.await.expect("transition").expect("canceled");
        let (s, id) = (store.clone(), j.id);
        let append = tokio::spawn(async move { s.append_trace(id, 4, b"late\n").await });
        let (s, id) = (store.clone(), j.id);
        let archive = tokio::spawn(async move { s.archive_trace(id, 4).await });
        let (appended, archived) = (append.await.expect("task"), archive.await.expect("task"));
        let stored = store.job_by_id(j.id).await.expect("job_by_id").expect("job exists");
        let rows = store.read_trace(j.id, 0, 100).await.expect("read");
        match (appended, archived) {
            (Ok(TraceAppend::Appended { size: 9 }), Ok(false)) => {
                appended_first += 1;
                assert_eq!((stored.trace_archived, rows.as_slice()), (false, &b"log\nlate\n"[..]), "round {round}");
            }
            (Ok(TraceAppend::Archived { size: 4 }), Ok(true)) => {
                assert_eq!((stored.trace_archived, stored.trace_size, rows.len()), (true, 4, 0), "round {round}");
            }
            other => panic!("round {round}: exactly one of append and archive wins: {other:?}"),
        }
    }
    println!("the append won {appended_first} of {ROUNDS} rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ci_races_on_sqlite() {
    let (store, _dir) = sqlite_store().await;
    let store: Arc<dyn Store> = Arc::new(store);
    race_claims(store.clone()).await;
    race_iids(store.clone()).await;
    race_append_and_archive(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ci_races_on_postgres() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(schema.store().await);
    race_claims(store.clone()).await;
    race_iids(store.clone()).await;
    race_append_and_archive(store).await;
    schema.drop().await;
}
