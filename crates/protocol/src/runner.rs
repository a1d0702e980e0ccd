//! Runner-level calls: registration, verification, and the `info` block every call carries.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a runner says about itself (`info` in every runner-level request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunnerInfo {
    pub name: String,
    pub version: String,
    pub revision: String,
    pub platform: String,
    pub architecture: String,
    pub executor: String,
    pub shell: String,
    /// Feature flags (`return_exit_code`, `two_phase_job_commit`, …); kept as a map because
    /// runners add new ones often and the server only reads a few.
    pub features: BTreeMap<String, bool>,
    pub config: BTreeMap<String, serde_json::Value>,
    pub labels: BTreeMap<String, String>,
}

impl RunnerInfo {
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.get(name).copied().unwrap_or(false)
    }
}

/// `access_level` of a runner: whether it runs only jobs of protected refs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    #[default]
    NotProtected,
    RefProtected,
}

/// `POST /api/v4/runners` (legacy registration-token flow).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterRequest {
    pub token: String,
    pub description: String,
    pub maintenance_note: String,
    /// Comma-separated, as gitlab-runner sends it.
    pub tag_list: TagList,
    pub run_untagged: Option<bool>,
    pub locked: Option<bool>,
    pub access_level: Option<AccessLevel>,
    pub maximum_timeout: Option<i64>,
    pub paused: Option<bool>,
    pub info: RunnerInfo,
}

/// Tags as GitLab accepts them: a comma-separated string or a JSON array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "TagListRepr", into = "Vec<String>")]
pub struct TagList(pub Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum TagListRepr {
    Text(String),
    List(Vec<String>),
}

impl From<TagListRepr> for TagList {
    fn from(r: TagListRepr) -> Self {
        let raw = match r {
            TagListRepr::Text(s) => s.split(',').map(str::to_string).collect(),
            TagListRepr::List(v) => v,
        };
        let mut tags: Vec<String> = raw.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
        tags.sort();
        tags.dedup();
        TagList(tags)
    }
}

impl From<TagList> for Vec<String> {
    fn from(t: TagList) -> Self {
        t.0
    }
}

/// `201` of register, `200` of verify: `RunnerRegistrationDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerDetails {
    pub id: i64,
    pub token: String,
    pub token_expires_at: Option<String>,
}

/// `POST /api/v4/runners/verify`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyRequest {
    pub token: String,
    pub system_id: Option<String>,
    pub info: RunnerInfo,
}

/// `DELETE /api/v4/runners` and `POST /api/v4/runners/reset_authentication_token`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenRequest {
    pub token: String,
    pub system_id: Option<String>,
}

/// `POST /api/v4/jobs/request`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRequest {
    pub token: String,
    pub system_id: Option<String>,
    /// The `X-GitLab-Last-Update` value of the previous `204`.
    pub last_update: Option<String>,
    pub info: RunnerInfo,
    pub session: Option<serde_json::Value>,
}
