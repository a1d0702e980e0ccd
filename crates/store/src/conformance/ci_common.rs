//! Conformance fixtures shared by the CI checks: a project to run pipelines in, new pipelines and
//! jobs, runner and token digests.

use super::*;

/// A fresh 64-hex-digit digest, unique to the run.
pub(super) fn digest(cx: &Cx<'_>, what: &str) -> String {
    let name = cx.name(what);
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0>64}")
}

/// A project in a public group of its own.
pub(super) async fn ci_project(cx: &Cx<'_>, what: &str) -> Project {
    let g = cx.group(what, None, Visibility::Public).await;
    cx.project(&g, what, Visibility::Public, None).await
}

pub(super) fn new_pipeline(project_id: ProjectId, ref_name: &str, sha: &str) -> NewPipeline {
    NewPipeline {
        project_id,
        ref_name: ref_name.to_string(),
        tag: false,
        sha: sha.to_string(),
        before_sha: "0".repeat(40),
        source: "push".to_string(),
        status: PipelineStatus::Created,
        user_id: None,
        yaml_errors: None,
        variables: vec![],
    }
}

pub(super) fn new_job(name: &str, stage_index: i32, status: JobStatus) -> NewJob {
    NewJob {
        name: name.to_string(),
        stage: format!("stage{stage_index}"),
        stage_index,
        status,
        when: When::OnSuccess,
        allow_failure: false,
        spec: format!("{{\"name\":\"{name}\",\"script\":[\"echo hi\"]}}"),
        tags: vec![],
        protected: false,
        timeout_secs: 3600,
        scheduled_at: None,
    }
}

/// Creates a pipeline with these jobs, created at `cx.at(at)`.
pub(super) async fn pipeline_with(
    cx: &Cx<'_>,
    project: &Project,
    ref_name: &str,
    jobs: &[NewJob],
    at: i64,
) -> (Pipeline, Vec<Job>) {
    let new = new_pipeline(project.id, ref_name, &"a".repeat(40));
    ok(cx.store.create_pipeline(&new, jobs, cx.at(at)).await, "create_pipeline")
}

pub(super) fn new_runner(token_digest: String, scope: RunnerScope, tags: &[&str]) -> NewRunner {
    NewRunner {
        description: "a runner".to_string(),
        token_digest,
        scope,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        run_untagged: true,
        locked: false,
        paused: false,
        access_level: RunnerAccessLevel::NotProtected,
        maximum_timeout: None,
    }
}

pub(super) async fn runner(cx: &Cx<'_>, scope: RunnerScope, tags: &[&str]) -> Runner {
    let new = new_runner(digest(cx, "rt"), scope, tags);
    ok(cx.store.create_runner(&new, cx.at(0)).await, "create_runner")
}

pub(super) fn job_ids(jobs: &[Job]) -> Vec<JobId> {
    jobs.iter().map(|j| j.id).collect()
}

/// Re-reads a job that must exist.
pub(super) async fn job(cx: &Cx<'_>, id: JobId) -> Job {
    ok(cx.store.job_by_id(id).await, "job_by_id").unwrap_or_else(|| panic!("job {id} must exist"))
}
