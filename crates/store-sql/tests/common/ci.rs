//! CI fixtures of the store-sql tests: a project in a group of its own, a new pipeline and a new
//! job, all at one fixed time.

use autogit_core::Visibility;
use autogit_core::ci::{JobStatus, PipelineStatus, When};
use autogit_store::{NewGroup, NewJob, NewPipeline, NewProject, Project, ProjectId, Store};
use chrono::{DateTime, Utc};

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).expect("valid time")
}

/// A public project `<path>-ci/ci`.
pub async fn project(store: &dyn Store, path: &str) -> Project {
    let group = NewGroup {
        name: format!("{path} ci"),
        path: format!("{path}-ci"),
        parent_id: None,
        visibility: Visibility::Public,
        description: String::new(),
    };
    let group = store.create_group(&group, None, now()).await.expect("create group");
    let project = NewProject {
        namespace_id: group.id,
        name: "ci".into(),
        path: "ci".into(),
        description: String::new(),
        visibility: Visibility::Public,
        default_branch: None,
        default_branch_protection: None,
    };
    store.create_project(&project, None, now()).await.expect("create project")
}

pub fn pipeline(project_id: ProjectId, status: PipelineStatus) -> NewPipeline {
    NewPipeline {
        project_id,
        ref_name: "main".into(),
        tag: false,
        sha: "a".repeat(40),
        before_sha: "0".repeat(40),
        source: "push".into(),
        status,
        user_id: None,
        yaml_errors: None,
        variables: vec![],
    }
}

pub fn job(name: &str, status: JobStatus) -> NewJob {
    NewJob {
        name: name.into(),
        stage: "test".into(),
        stage_index: 0,
        status,
        when: When::OnSuccess,
        allow_failure: false,
        spec: "{}".into(),
        tags: vec![],
        protected: false,
        timeout_secs: 60,
        scheduled_at: None,
    }
}
