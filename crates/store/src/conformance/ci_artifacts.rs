//! Conformance checks: job artifact records (one per job and file type, replaced on re-upload,
//! expiry, deletion, cascades) and a project's CI configuration path.
//!
//! The expiry list spans every job in the database, and every run uses the same instants, so
//! those checks look only at this run's records and at the order among them.

use super::ci_common::*;
use super::*;

fn new_artifact(cx: &Cx<'_>, job_id: JobId, file_type: &str, expire_at: Option<DateTime<Utc>>) -> NewJobArtifact {
    NewJobArtifact {
        job_id,
        file_type: file_type.to_string(),
        file_format: if file_type == "archive" { "zip" } else { "gzip" }.to_string(),
        filename: format!("{file_type}.out"),
        size: 1234,
        sha256: "ab".repeat(32),
        storage_key: cx.name("blob"),
        expire_at,
    }
}

fn artifact_ids(artifacts: &[JobArtifact]) -> Vec<i64> {
    artifacts.iter().map(|a| a.id).collect()
}

pub(super) async fn ci_artifacts_create_and_replace(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "ar").await;
    let (_, jobs) =
        pipeline_with(cx, &p, "main", &[new_job("a", 0, JobStatus::Pending), new_job("b", 0, JobStatus::Pending)], 600)
            .await;
    let (a, b) = (jobs[0].id, jobs[1].id);
    assert_eq!(ok(s.artifacts_of_job(a).await, "artifacts_of_job"), vec![], "artifacts: a new job has none");

    let new = new_artifact(cx, a, "junit", Some(cx.at(700)));
    let (junit, replaced) = ok(s.create_artifact(&new, cx.at(601)).await, "create_artifact");
    assert_eq!(replaced, None, "artifacts: a first upload replaces nothing");
    assert_eq!(
        junit,
        JobArtifact {
            id: junit.id,
            job_id: a,
            project_id: p.id,
            file_type: "junit".into(),
            file_format: "gzip".into(),
            filename: "junit.out".into(),
            size: 1234,
            sha256: "ab".repeat(32),
            storage_key: new.storage_key.clone(),
            expire_at: Some(cx.at(700)),
            created_at: cx.at(601),
        },
        "artifacts: the record is stored as given, with the job's project and created_at = now"
    );
    let (archive, _) = ok(s.create_artifact(&new_artifact(cx, a, "archive", None), cx.at(602)).await, "create");
    let (other, _) = ok(s.create_artifact(&new_artifact(cx, b, "archive", None), cx.at(602)).await, "create");
    assert_eq!(archive.expire_at, None, "artifacts: no expiry");
    assert_eq!(ok(s.artifact(a, "junit").await, "artifact"), Some(junit.clone()), "artifacts: by job and type");
    assert_eq!(ok(s.artifact(b, "archive").await, "artifact"), Some(other.clone()), "artifacts: per job");
    assert_eq!(ok(s.artifact(b, "junit").await, "artifact"), None, "artifacts: a type the job lacks");
    assert_eq!(
        ok(s.artifact(JobId::new(MISSING), "archive").await, "artifact"),
        None,
        "artifacts: a missing job has none"
    );
    let listed = ok(s.artifacts_of_job(a).await, "artifacts_of_job");
    assert_eq!(listed, vec![archive.clone(), junit.clone()], "artifacts: a job's artifacts, by file type");
    assert_eq!(
        ok(s.artifacts_of_job(JobId::new(MISSING)).await, "artifacts_of_job"),
        vec![],
        "artifacts: a missing job"
    );

    // A retrying runner uploads the same type again: the record is replaced, the old key returned.
    let again = NewJobArtifact { size: 99, ..new_artifact(cx, a, "junit", None) };
    let (junit2, replaced) = ok(s.create_artifact(&again, cx.at(603)).await, "create_artifact again");
    assert_eq!(replaced, Some(junit.storage_key.clone()), "artifacts: a re-upload returns the replaced key");
    assert!(junit2.id > junit.id, "artifacts: the replacement is a new record");
    assert_eq!(
        (junit2.size, &junit2.storage_key, junit2.expire_at, junit2.created_at),
        (99, &again.storage_key, None, cx.at(603)),
        "artifacts: the replacement holds the new upload"
    );
    assert_eq!(ok(s.artifact(a, "junit").await, "artifact"), Some(junit2.clone()), "artifacts: the new one is read");
    let listed = ok(s.artifacts_of_job(a).await, "artifacts_of_job");
    assert_eq!(artifact_ids(&listed), vec![archive.id, junit2.id], "artifacts: still one per type");
    expect_not_found(s.delete_artifact(junit.id).await, "artifacts: the replaced record is gone");

    expect_not_found(
        s.create_artifact(&new_artifact(cx, JobId::new(MISSING), "archive", None), cx.at(604)).await,
        "artifacts: upload for a missing job",
    );
    let negative = NewJobArtifact { size: -1, ..new_artifact(cx, b, "junit", None) };
    expect_invalid(s.create_artifact(&negative, cx.at(604)).await, "artifacts: a negative size");
    assert_eq!(ok(s.artifact(b, "junit").await, "artifact"), None, "artifacts: a failed upload stores nothing");

    // Deleting a job's artifacts hands back every key once.
    let keys = ok(s.delete_artifacts_of_job(a).await, "delete_artifacts_of_job");
    assert_eq!(keys, vec![archive.storage_key, junit2.storage_key], "artifacts: the removed keys, by file type");
    assert_eq!(ok(s.artifacts_of_job(a).await, "artifacts_of_job"), vec![], "artifacts: all gone");
    assert_eq!(ok(s.delete_artifacts_of_job(a).await, "delete again"), Vec::<String>::new(), "artifacts: twice");
    let none = ok(s.delete_artifacts_of_job(JobId::new(MISSING)).await, "delete_artifacts_of_job");
    assert_eq!(none, Vec::<String>::new(), "artifacts: a missing job has nothing to delete");
    assert_eq!(ok(s.artifacts_of_job(b).await, "artifacts_of_job"), vec![other], "artifacts: other jobs keep theirs");
}

pub(super) async fn ci_artifacts_expiry(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "ae").await;
    let (_, jobs) =
        pipeline_with(cx, &p, "main", &[new_job("a", 0, JobStatus::Pending), new_job("b", 0, JobStatus::Pending)], 610)
            .await;
    let (a, b) = (jobs[0].id, jobs[1].id);
    let create = |job_id: i64, file_type: &'static str, expire_at: Option<DateTime<Utc>>| async move {
        ok(s.create_artifact(&new_artifact(cx, JobId::new(job_id), file_type, expire_at), cx.at(611)).await, "create").0
    };
    let late = create(a.get(), "archive", Some(cx.at(650))).await;
    let early = create(a.get(), "junit", Some(cx.at(620))).await;
    let never = create(a.get(), "trace", None).await;
    let same = create(b.get(), "archive", Some(cx.at(620))).await;
    let mine = [late.id, early.id, never.id, same.id];
    let expired = |now: i64, limit: i64| async move {
        let all = ok(s.expired_artifacts(cx.at(now), limit).await, "expired_artifacts");
        assert!(all.iter().all(|x| x.expire_at.is_some_and(|e| e < cx.at(now))), "artifacts: only expired ones");
        all.into_iter().filter(|x| mine.contains(&x.id)).collect::<Vec<_>>()
    };

    assert_eq!(artifact_ids(&expired(619, i64::MAX).await), vec![], "artifacts: none expired yet");
    assert_eq!(artifact_ids(&expired(620, i64::MAX).await), vec![], "artifacts: expiring at `now` is not expired");
    let due = expired(621, i64::MAX).await;
    assert_eq!(due, vec![early.clone(), same.clone()], "artifacts: expired ones, by expire_at then id");
    let all = expired(10_000, i64::MAX).await;
    assert_eq!(artifact_ids(&all), vec![early.id, same.id, late.id], "artifacts: never-expiring ones are never listed");
    let first = ok(s.expired_artifacts(cx.at(621), 1).await, "expired_artifacts limit 1");
    assert!(
        first.len() == 1 && first[0].expire_at <= early.expire_at,
        "artifacts: the limit keeps the soonest expired: {first:?}"
    );
    assert_eq!(ok(s.expired_artifacts(cx.at(621), 0).await, "limit 0"), vec![], "artifacts: limit 0");

    // The sweep deletes what it listed, one record at a time.
    assert_eq!(ok(s.delete_artifact(early.id).await, "delete_artifact"), early.storage_key, "artifacts: the key");
    expect_not_found(s.delete_artifact(early.id).await, "artifacts: deleting twice");
    expect_not_found(s.delete_artifact(MISSING).await, "artifacts: deleting a missing artifact");
    assert_eq!(artifact_ids(&expired(621, i64::MAX).await), vec![same.id], "artifacts: a deleted one is not listed");
    let left = ok(s.artifacts_of_job(a).await, "artifacts_of_job");
    assert_eq!(artifact_ids(&left), vec![late.id, never.id], "artifacts: the job keeps the others");
}

pub(super) async fn ci_artifacts_cascade(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "ac").await;
    let keep = ci_project(cx, "ak").await;
    let (_, jobs) = pipeline_with(cx, &p, "main", &[new_job("a", 0, JobStatus::Pending)], 630).await;
    let (_, kept_jobs) = pipeline_with(cx, &keep, "main", &[new_job("a", 0, JobStatus::Pending)], 630).await;
    let (j, k) = (jobs[0].id, kept_jobs[0].id);
    let (gone, _) = ok(s.create_artifact(&new_artifact(cx, j, "archive", Some(cx.at(640))), cx.at(631)).await, "c");
    let (kept, _) = ok(s.create_artifact(&new_artifact(cx, k, "archive", Some(cx.at(640))), cx.at(631)).await, "c");

    ok(s.delete_project(p.id).await, "delete_project");
    assert_eq!(ok(s.artifacts_of_job(j).await, "artifacts_of_job"), vec![], "cascade: artifact records go");
    assert_eq!(ok(s.artifact(j, "archive").await, "artifact"), None, "cascade: ... by type too");
    let expired = ok(s.expired_artifacts(cx.at(641), i64::MAX).await, "expired_artifacts");
    assert!(!expired.iter().any(|x| x.id == gone.id), "cascade: ... and are not swept");
    expect_not_found(s.delete_artifact(gone.id).await, "cascade: the record is gone");
    assert_eq!(ok(s.artifacts_of_job(k).await, "artifacts_of_job"), vec![kept], "cascade: others' artifacts stay");
}

pub(super) async fn ci_config_path(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "cp").await;
    assert_eq!(p.ci_config_path, None, "ci config: a new project uses the default");
    let set = ProjectUpdate { ci_config_path: Some(Some("ci/pipeline.yml".into())), ..Default::default() };
    let updated = ok(s.update_project(p.id, &set, cx.at(660)).await, "update_project ci_config_path");
    assert_eq!(
        updated,
        Project { ci_config_path: Some("ci/pipeline.yml".into()), ..p.clone() },
        "ci config: set, and nothing else changes"
    );
    assert_eq!(ok(s.project_by_id(p.id).await, "project_by_id"), Some(updated.clone()), "ci config: read back");
    let by_path = ok(s.project_by_full_path(&p.full_path).await, "project_by_full_path");
    assert_eq!(by_path, Some(updated.clone()), "ci config: read back by path");
    let access = AccessFilter { all: true, ..Default::default() };
    let filter = ProjectFilter { access, namespace_id: Some(p.namespace_id), ..Default::default() };
    let listed = ok(s.list_projects(&filter, Page::ALL).await, "list_projects");
    assert_eq!(listed.items, vec![updated.clone()], "ci config: in lists too");

    let other = ProjectUpdate { description: Some("other".into()), ..Default::default() };
    let kept = ok(s.update_project(p.id, &other, cx.at(661)).await, "update_project description");
    assert_eq!(kept.ci_config_path, updated.ci_config_path, "ci config: kept by updates that leave it out");
    let clear = ProjectUpdate { ci_config_path: Some(None), ..Default::default() };
    let cleared = ok(s.update_project(p.id, &clear, cx.at(662)).await, "update_project clear");
    assert_eq!(cleared, Project { ci_config_path: None, ..kept }, "ci config: Some(None) clears it");
    let read = ok(s.project_by_id(p.id).await, "project_by_id").expect("project exists");
    assert_eq!(read.ci_config_path, None, "ci config: cleared for good");
}
