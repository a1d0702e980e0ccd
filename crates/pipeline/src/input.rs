//! What the caller gives the compiler: the file, the other files, the pipeline's context.

use std::collections::BTreeMap;

/// Whether the pipeline runs for a branch or a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Branch,
    Tag,
}

/// The facts `rules`, `only`/`except` and `workflow:rules` are evaluated against.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineContext {
    pub ref_name: String,
    pub ref_kind: RefKind,
    pub default_branch: String,
    /// `push`, `web`, `api`, `schedule`, `trigger`, `merge_request_event`…
    pub source: String,
    /// Predefined and user variables. `CI_COMMIT_REF_NAME`, `CI_COMMIT_BRANCH`/`CI_COMMIT_TAG`,
    /// `CI_DEFAULT_BRANCH` and `CI_PIPELINE_SOURCE` are derived from the fields above unless
    /// this map sets them. These win over variables written in the YAML.
    pub variables: BTreeMap<String, String>,
    /// Paths changed by the push; `None` = unknown, and then every `changes` clause is true.
    pub changed_paths: Option<Vec<String>>,
    /// Every file path of the repository at the pipeline's commit, for `exists`.
    pub repo_files: Vec<String>,
}

impl PipelineContext {
    /// A push to `branch` of a repository whose default branch is `default_branch`.
    pub fn push(branch: &str, default_branch: &str) -> Self {
        PipelineContext {
            ref_name: branch.to_string(),
            ref_kind: RefKind::Branch,
            default_branch: default_branch.to_string(),
            source: "push".to_string(),
            variables: BTreeMap::new(),
            changed_paths: None,
            repo_files: Vec::new(),
        }
    }

    /// The predefined variables derived from the context, then the caller's variables.
    pub fn predefined(&self) -> BTreeMap<String, String> {
        let mut v = BTreeMap::new();
        v.insert("CI_COMMIT_REF_NAME".to_string(), self.ref_name.clone());
        let key = if self.ref_kind == RefKind::Tag { "CI_COMMIT_TAG" } else { "CI_COMMIT_BRANCH" };
        v.insert(key.to_string(), self.ref_name.clone());
        v.insert("CI_DEFAULT_BRANCH".to_string(), self.default_branch.clone());
        v.insert("CI_PIPELINE_SOURCE".to_string(), self.source.clone());
        v.extend(self.variables.iter().map(|(k, val)| (k.clone(), val.clone())));
        v
    }
}

/// One compilation's input. `files` holds the repository files `include:local` may name
/// (path → text, paths relative to the repository root, no leading `/`); the caller reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileInput {
    pub path: String,
    pub text: String,
    pub files: BTreeMap<String, String>,
    pub context: PipelineContext,
}
