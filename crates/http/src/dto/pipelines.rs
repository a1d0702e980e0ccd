//! JSON shapes of pipelines and jobs, as GitLab's API returns them (the fields python-gitlab and
//! scripts read; `detailed_status` and coverage reports are not modelled).

use super::time;
use autogit_app::store::{Job, JobArtifact, Pipeline, Project};
use serde_json::{Value, json};

fn seconds_between(a: Option<chrono::DateTime<chrono::Utc>>, b: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) => json!((b - a).num_milliseconds() as f64 / 1000.0),
        _ => Value::Null,
    }
}

/// The short form (lists, and `pipeline` inside a job).
pub fn pipeline_basic(base: &str, project: &Project, p: &Pipeline) -> Value {
    json!({
        "id": p.id,
        "iid": p.iid,
        "project_id": p.project_id,
        "sha": p.sha,
        "ref": p.ref_name,
        "status": p.status,
        "source": p.source,
        "created_at": time(p.created_at),
        "updated_at": time(p.updated_at),
        "web_url": format!("{base}/{}/-/pipelines/{}", project.full_path, p.id),
    })
}

pub fn pipeline(base: &str, project: &Project, p: &Pipeline, user: Option<Value>) -> Value {
    let mut v = pipeline_basic(base, project, p);
    let extra = json!({
        "before_sha": p.before_sha,
        "tag": p.tag,
        "yaml_errors": p.yaml_errors,
        "user": user,
        "started_at": p.started_at.map(time),
        "finished_at": p.finished_at.map(time),
        "committed_at": Value::Null,
        "duration": p.duration_secs,
        "queued_duration": seconds_between(Some(p.created_at), p.started_at),
        "coverage": Value::Null,
        "detailed_status": { "text": p.status, "label": p.status, "group": p.status },
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

pub fn job(base: &str, project: &Project, p: &Pipeline, j: &Job, artifacts: &[JobArtifact]) -> Value {
    let archive = artifacts.iter().find(|a| a.file_type == "archive");
    json!({
        "id": j.id,
        "name": j.name,
        "stage": j.stage,
        "status": j.status,
        "ref": p.ref_name,
        "tag": p.tag,
        "allow_failure": j.allow_failure,
        "when": j.when,
        "coverage": Value::Null,
        "created_at": time(j.created_at),
        "started_at": j.started_at.map(time),
        "finished_at": j.finished_at.map(time),
        "erased_at": Value::Null,
        "duration": seconds_between(j.started_at, j.finished_at),
        "queued_duration": seconds_between(j.queued_at, j.started_at),
        "failure_reason": j.failure_reason,
        "exit_code": j.exit_code,
        "retried": j.retried,
        "attempt": j.attempt,
        "tag_list": j.tags,
        "runner": j.runner_id.map(|id| json!({ "id": id })),
        "pipeline": pipeline_basic(base, project, p),
        "commit": { "id": p.sha, "short_id": p.sha.get(..8).unwrap_or(&p.sha) },
        "web_url": format!("{base}/{}/-/jobs/{}", project.full_path, j.id),
        "project": { "ci_job_token_scope_enabled": true },
        "archived": false,
        "artifacts_file": archive.map(|a| json!({ "filename": a.filename, "size": a.size })),
        "artifacts": artifacts.iter().map(|a| json!({
            "file_type": a.file_type, "size": a.size, "filename": a.filename, "file_format": a.file_format,
        })).collect::<Vec<_>>(),
        "artifacts_expire_at": archive.and_then(|a| a.expire_at).map(time),
    })
}
