//! The variables a job gets, assembled in GitLab's precedence order (lowest first; the runner
//! and our agent let a later entry with the same key win): predefined, global YAML, job YAML,
//! group CI/CD settings (root group first), project CI/CD settings, pipeline variables.
//! Protected CI/CD variables reach only pipelines of protected refs whose user may update them
//! (`protected_branches::ref_protected_for`).

use super::predefined::{self, CommitFacts, JobFacts, PipelineFacts};
use super::spec::JobSpec;
use crate::protected_branches::ref_protected_for;
use crate::{App, Result};
use autogit_core::{PipelineId, ProjectId};
use autogit_protocol::JobVariable;
use autogit_store::{CiSettings, CiVariable, JobContext, Project, User};
use chrono::{DateTime, Utc};

/// The owned facts behind [`PipelineFacts`], gathered once per pipeline or job hand-out.
#[derive(Clone)]
pub(crate) struct Facts {
    pub server_url: String,
    pub project: Project,
    pub namespace_path: String,
    pub pipeline_id: PipelineId,
    pub pipeline_iid: i64,
    pub source: String,
    pub ref_name: String,
    pub tag: bool,
    pub protected: bool,
    pub sha: String,
    pub before_sha: String,
    pub commit: CommitFacts,
    pub user: Option<User>,
    pub config_path: String,
    pub created_at: DateTime<Utc>,
}

impl Facts {
    pub fn borrow(&self) -> PipelineFacts<'_> {
        PipelineFacts {
            server_url: &self.server_url,
            project: &self.project,
            namespace_path: &self.namespace_path,
            pipeline_id: self.pipeline_id,
            pipeline_iid: self.pipeline_iid,
            source: &self.source,
            ref_name: &self.ref_name,
            is_tag: self.tag,
            ref_protected: self.protected,
            sha: &self.sha,
            before_sha: &self.before_sha,
            commit: &self.commit,
            user: self.user.as_ref(),
            config_path: &self.config_path,
            created_at: self.created_at,
        }
    }
}

/// Tags as the store and the queue compare them: trimmed, non-empty, no commas, sorted, unique.
pub(crate) fn normal_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> =
        tags.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty() && !t.contains(',')).collect();
    out.sort();
    out.dedup();
    out
}

fn setting(v: CiVariable) -> JobVariable {
    JobVariable {
        key: v.key,
        value: v.value,
        public: false,
        masked: v.masked,
        file: v.variable_type == "file",
        raw: v.raw,
    }
}

/// Picks one variable per key: the `*` scope when several environment scopes define it (jobs
/// without an environment see only `*` in GitLab).
fn unscoped(vars: &[CiVariable], protected: bool) -> impl Iterator<Item = &CiVariable> {
    vars.iter().filter(move |v| v.environment_scope == "*" && (protected || !v.protected))
}

impl App {
    /// CI/CD settings variables of the project's groups (root first) and the project, as
    /// `settings` holds them.
    pub(crate) fn settings_variables(&self, settings: &CiSettings, protected: bool) -> Result<Vec<JobVariable>> {
        unscoped(&settings.variables, protected).map(|v| Ok(setting(self.open_variable(v.clone())?))).collect()
    }

    /// The commit `sha` of the project's repository, through the pooled object reader.
    async fn commit_facts(
        &self,
        project_id: ProjectId,
        sha: &str,
    ) -> autogit_git::Result<Option<autogit_git::read::CommitInfo>> {
        self.repos.reader(project_id).await?.commit(sha).await
    }

    /// The facts of a pipeline; `settings` are the project's for `req.user` (they decide whether
    /// the pipeline is protected).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn pipeline_facts_for(
        &self,
        project: &Project,
        settings: &CiSettings,
        req: &super::create::PipelineRequest,
        config_path: &str,
        pipeline_id: PipelineId,
        pipeline_iid: i64,
        created_at: DateTime<Utc>,
    ) -> Result<Facts> {
        let commit = match self.ci.commits.get(&req.sha) {
            Some(c) => c,
            None => match self.commit_facts(project.id, &req.sha).await {
                Ok(Some(c)) => {
                    let facts = CommitFacts {
                        message: c.message,
                        author: format!("{} <{}>", c.author_name, c.author_email),
                        timestamp: Some(c.committed_date.with_timezone(&Utc)),
                    };
                    self.ci.commits.put(&req.sha, &facts);
                    facts
                }
                _ => CommitFacts::default(),
            },
        };
        let namespace_path = project.full_path.rsplit_once('/').map(|(ns, _)| ns.to_string()).unwrap_or_default();
        Ok(Facts {
            server_url: self.ci.settings.server_url.clone(),
            project: project.clone(),
            namespace_path,
            pipeline_id,
            pipeline_iid,
            source: req.source.clone(),
            ref_name: req.ref_name.clone(),
            tag: req.tag,
            protected: ref_protected_for(project, settings, &req.ref_name, req.tag, req.user.as_ref()),
            sha: req.sha.clone(),
            before_sha: req.before_sha.clone(),
            commit,
            user: req.user.clone(),
            config_path: config_path.to_string(),
            created_at,
        })
    }

    /// The facts of a stored pipeline, from a job's context.
    pub(crate) async fn facts_of(&self, ctx: &JobContext) -> Result<Facts> {
        let (project, p) = (&ctx.project, &ctx.pipeline);
        let req = super::create::PipelineRequest {
            ref_name: p.ref_name.clone(),
            tag: p.tag,
            sha: p.sha.clone(),
            before_sha: p.before_sha.clone(),
            source: p.source.clone(),
            user: ctx.user.clone(),
            variables: self.open_pipeline_variables(p)?,
        };
        let path = super::create::config_path(project);
        self.pipeline_facts_for(project, &ctx.settings, &req, &path, p.id, p.iid, p.created_at).await
    }

    /// Every variable of a job, lowest precedence first, duplicates removed (last wins, kept at
    /// its first position so that `$VAR` references to earlier keys still expand in order).
    pub(crate) fn job_variables(
        &self,
        facts: &Facts,
        ctx: &JobContext,
        spec: &JobSpec,
        job: &JobFacts<'_>,
    ) -> Result<Vec<JobVariable>> {
        let f = facts.borrow();
        let mut all: Vec<JobVariable> = Vec::new();
        all.extend(predefined::pipeline_variables(&f).into_iter().map(|(k, v)| JobVariable::public(&k, v)));
        for (k, v, masked) in predefined::job_variables(&f, job) {
            all.push(JobVariable { masked, public: !masked, ..JobVariable::public(&k, v) });
        }
        for (k, v, expand) in &spec.globals {
            all.push(JobVariable { raw: !expand, ..JobVariable::public(k, v.clone()) });
        }
        for (k, v) in &spec.job.variables {
            all.push(JobVariable { raw: !v.expand, ..JobVariable::public(k, v.value.clone()) });
        }
        if let Some(p) = &spec.job.parallel {
            for (k, v) in &p.matrix {
                all.push(JobVariable::public(k, v.clone()));
            }
        }
        all.extend(self.settings_variables(&ctx.settings, facts.protected)?);
        for (k, v) in self.open_pipeline_variables(&ctx.pipeline)? {
            all.push(JobVariable { public: false, ..JobVariable::public(&k, v) });
        }
        Ok(dedup_last_wins(all))
    }
}

/// Commits' facts by object id, for the jobs of a pipeline after the first: a commit object never
/// changes (its id is the hash of its content, whichever repository holds it), so a hit needs no
/// read through the object pool. Bounded; emptied when full.
#[derive(Debug, Default)]
pub(crate) struct CommitCache {
    map: std::sync::Mutex<(std::collections::HashMap<String, CommitFacts>, usize)>,
}

/// Commits kept at most, and the bytes of their messages and authors.
const MAX_CACHED_COMMITS: usize = 256;
const MAX_CACHED_COMMIT_BYTES: usize = 4 << 20;

impl CommitCache {
    fn get(&self, sha: &str) -> Option<CommitFacts> {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.get(sha).cloned()
    }

    fn put(&self, sha: &str, facts: &CommitFacts) {
        let size = facts.message.len() + facts.author.len();
        if size > MAX_CACHED_COMMIT_BYTES {
            return;
        }
        let mut held = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, bytes) = &mut *held;
        if map.len() >= MAX_CACHED_COMMITS || *bytes + size > MAX_CACHED_COMMIT_BYTES {
            map.clear();
            *bytes = 0;
        }
        if map.insert(sha.to_string(), facts.clone()).is_none() {
            *bytes += size;
        }
    }
}

fn dedup_last_wins(all: Vec<JobVariable>) -> Vec<JobVariable> {
    let mut pos: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<JobVariable> = Vec::with_capacity(all.len());
    for v in all {
        match pos.get(&v.key) {
            Some(&i) => out[i] = v,
            None => {
                pos.insert(v.key.clone(), out.len());
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_variables_win_in_place() {
        let vars = vec![
            JobVariable::public("A", "1"),
            JobVariable::public("B", "2"),
            JobVariable { masked: true, ..JobVariable::public("A", "3") },
        ];
        let out = dedup_last_wins(vars);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].key.as_str(), out[0].value.as_str(), out[0].masked), ("A", "3", true));
        assert_eq!(out[1].key, "B");
    }

    #[test]
    fn commit_cache_is_bounded() {
        let c = CommitCache::default();
        let facts = |n: usize| CommitFacts { message: "m".repeat(n), ..CommitFacts::default() };
        c.put("a", &facts(10));
        assert_eq!(c.get("a").map(|f| f.message.len()), Some(10));
        assert!(c.get("b").is_none());
        c.put("huge", &facts(MAX_CACHED_COMMIT_BYTES + 1));
        assert!(c.get("huge").is_none() && c.get("a").is_some(), "too big to keep, and nothing dropped for it");
        for i in 0..MAX_CACHED_COMMITS {
            c.put(&i.to_string(), &facts(1));
        }
        let held = c.map.lock().expect("lock");
        assert!(held.0.len() <= MAX_CACHED_COMMITS && held.1 <= MAX_CACHED_COMMIT_BYTES);
    }

    #[test]
    fn tags_are_normalised() {
        let t = normal_tags(&[" b".into(), "a".into(), "".into(), "b".into(), "x,y".into()]);
        assert_eq!(t, vec!["a".to_string(), "b".to_string()]);
    }
}
