//! The compiled plan: plain data for the coordinator, `Serialize` for snapshots and
//! `autogit ci lint`. Everything is ordered (Vec, never a HashMap) so output is deterministic.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A pipeline ready to be created: stages in order, global variables, jobs in stage order
/// (definition order inside a stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stages: Vec<String>,
    #[serde(serialize_with = "ser_vars", deserialize_with = "de_vars")]
    pub variables: Vec<(String, Var)>,
    pub jobs: Vec<Job>,
}

/// A CI variable as written in YAML. `expand: false` is GitLab's `raw`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Var {
    pub value: String,
    #[serde(skip_serializing_if = "is_true", default = "yes")]
    pub expand: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

/// When a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    OnSuccess,
    OnFailure,
    Always,
    Manual,
    Delayed,
}

/// One job of the pipeline (a `parallel` job is expanded into one `Job` per instance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub name: String,
    pub stage: String,
    pub stage_index: usize,
    pub script: Vec<String>,
    pub before_script: Vec<String>,
    pub after_script: Vec<String>,
    pub image: Option<Image>,
    pub services: Vec<Image>,
    /// Job-level variables (rules variables applied); global ones are in [`Plan::variables`].
    #[serde(serialize_with = "ser_vars", deserialize_with = "de_vars")]
    pub variables: Vec<(String, Var)>,
    pub when: When,
    pub start_in_seconds: Option<u64>,
    pub allow_failure: AllowFailure,
    pub retry: Retry,
    pub timeout_seconds: Option<u64>,
    pub tags: Vec<String>,
    /// The GPUs the job needs, as the canonical compact `GPU_REQUEST` string
    /// (`nvidia:2,mem>=40GB,cc>=8.0`): `autogit_gpu::request::GpuRequest::parse` reads it back.
    /// From `gpu:`, else the `GPU_REQUEST` variable, else the tags `[gpu, <vendor>]`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu: Option<String>,
    /// `None` = ordered by stages; `Some(vec![])` = `needs: []` (starts at once).
    pub needs: Option<Vec<Need>>,
    /// `None` = artifacts of all earlier-stage jobs; `Some(vec![])` = none.
    pub dependencies: Option<Vec<String>>,
    pub artifacts: Option<Artifacts>,
    pub cache: Vec<Cache>,
    pub parallel: Option<Parallel>,
    pub interruptible: Option<bool>,
    pub environment: Option<serde_json::Value>,
    pub resource_group: Option<String>,
    pub coverage: Option<String>,
    /// `inherit:variables`: `None` = every global variable, `Some(list)` = only those.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inherit_variables: Option<Vec<String>>,
}

/// `image` or one `services` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub pull_policy: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ser_vars", deserialize_with = "de_vars", default)]
    pub variables: Vec<(String, Var)>,
    /// `docker: {platform, user}` and anything else kept raw.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub docker: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowFailure {
    pub allowed: bool,
    pub exit_codes: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    pub max: u8,
    pub when: Vec<String>,
    pub exit_codes: Vec<i64>,
}

/// One resolved `needs` entry (a parallel job is expanded to each instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    pub job: String,
    pub artifacts: bool,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifacts {
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
    pub expire_in: Option<String>,
    pub when: String,
    pub name: Option<String>,
    pub untracked: bool,
    pub reports: Option<serde_json::Value>,
    pub expose_as: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    /// A literal key, or `None` when `key:files` is used (the server hashes the files).
    pub key: Option<String>,
    pub key_files: Vec<String>,
    pub key_prefix: Option<String>,
    pub paths: Vec<String>,
    pub policy: String,
    pub when: String,
    pub untracked: bool,
    pub fallback_keys: Vec<String>,
    /// `cache:unprotect`: shared between protected and unprotected refs (keys get no suffix).
    #[serde(default)]
    pub unprotect: bool,
}

/// Which instance of a `parallel` job this is (1-based `index`, like `CI_NODE_INDEX`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parallel {
    pub index: u32,
    pub total: u32,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub matrix: Vec<(String, String)>,
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Ordered variables as a JSON object (not an array of pairs).
fn ser_vars<S: Serializer>(vars: &[(String, Var)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(vars.iter().map(|(k, v)| (k, v)))
}

fn yes() -> bool {
    true
}

/// The inverse of [`ser_vars`], keeping the object's order (the stored plan is read back by the
/// coordinator, and variable order matters for expansion).
fn de_vars<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Var)>, D::Error> {
    struct Ordered;
    impl<'de> Visitor<'de> for Ordered {
        type Value = Vec<(String, Var)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of variables")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, Var>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Ordered)
}
