//! The job handed to a runner: the `201` body of `POST /api/v4/jobs/request`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResponse {
    pub id: i64,
    /// The job token (`glcbt-…`): `JOB-TOKEN` for job calls and the git password.
    pub token: String,
    pub allow_git_fetch: bool,
    pub job_info: JobInfo,
    pub git_info: GitInfo,
    pub runner_info: JobRunnerInfo,
    pub variables: Vec<JobVariable>,
    pub steps: Vec<Step>,
    pub image: Option<Image>,
    #[serde(default)]
    pub services: Vec<Image>,
    #[serde(default)]
    pub artifacts: Vec<ArtifactSpec>,
    #[serde(default)]
    pub cache: Vec<CacheSpec>,
    #[serde(default)]
    pub credentials: Vec<serde_json::Value>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub features: JobFeatures,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobInfo {
    pub id: i64,
    pub name: String,
    pub stage: String,
    pub pipeline_id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub project_full_path: String,
    pub namespace_id: i64,
    pub root_namespace_id: i64,
    pub user_id: Option<i64>,
    pub time_in_queue_seconds: f64,
    pub queue_size: i64,
    pub queue_depth: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GitInfo {
    /// Absolute URL with `gitlab-ci-token:<job token>@` credentials.
    pub repo_url: String,
    pub repo_object_format: String,
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub sha: String,
    pub before_sha: String,
    /// `branch` or `tag`.
    pub ref_type: String,
    pub refspecs: Vec<String>,
    pub depth: i64,
    pub protected: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRunnerInfo {
    /// Seconds.
    pub timeout: i64,
    pub runner_session_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobVariable {
    pub key: String,
    pub value: String,
    pub public: bool,
    pub masked: bool,
    /// The runner writes the value to a file and sets the variable to its path.
    pub file: bool,
    /// No `$VAR` expansion.
    pub raw: bool,
}

impl JobVariable {
    pub fn public(key: &str, value: impl Into<String>) -> Self {
        JobVariable { key: key.into(), value: value.into(), public: true, ..Default::default() }
    }
}

/// `on_success` (also sent as `""`), `on_failure` or `always`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepWhen {
    #[default]
    #[serde(alias = "")]
    OnSuccess,
    OnFailure,
    Always,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Step {
    /// `script`, `after_script`, `release` or `run`.
    pub name: String,
    pub script: Vec<String>,
    /// Seconds.
    pub timeout: i64,
    pub when: StepWhen,
    pub allow_failure: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pull_policy: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<JobVariable>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArtifactSpec {
    pub name: String,
    pub untracked: bool,
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
    pub when: String,
    pub artifact_type: String,
    pub artifact_format: String,
    pub expire_in: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheSpec {
    pub key: String,
    pub untracked: bool,
    pub policy: String,
    pub paths: Vec<String>,
    pub when: String,
    pub fallback_keys: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dependency {
    pub id: i64,
    pub name: String,
    pub token: String,
    pub artifacts_file: Option<ArtifactsFile>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactsFile {
    pub filename: String,
    pub size: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobFeatures {
    pub trace_sections: bool,
    pub failure_reasons: Vec<String>,
}
