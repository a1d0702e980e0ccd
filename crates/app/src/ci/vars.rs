//! The variables a job gets, assembled in GitLab's precedence order (lowest first; the runner
//! and our agent let a later entry with the same key win): predefined, global YAML, job YAML,
//! group CI/CD settings (root group first), project CI/CD settings, pipeline variables.
//! Protected CI/CD variables reach only pipelines of protected refs whose user may update them
//! (`System::ref_protected_for`).

use super::predefined::{self, CommitFacts, JobFacts, PipelineFacts};
use super::spec::JobSpec;
use crate::{App, Result};
use autogit_core::{PipelineId, ProjectId};
use autogit_protocol::JobVariable;
use autogit_store::{CiVariable, Page, Pipeline, Project, User, VariableOwner};
use chrono::{DateTime, Utc};

/// The owned facts behind [`PipelineFacts`], gathered once per pipeline or job hand-out.
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
fn unscoped(vars: Vec<CiVariable>, protected: bool) -> Vec<CiVariable> {
    vars.into_iter().filter(|v| v.environment_scope == "*" && (protected || !v.protected)).collect()
}

impl App {
    /// CI/CD settings variables of the project's groups (root first) and the project.
    pub(crate) async fn settings_variables(&self, project: &Project, protected: bool) -> Result<Vec<JobVariable>> {
        let mut out = Vec::new();
        for ns in self.store.namespace_ancestry(project.namespace_id).await? {
            let vars = self.store.list_variables(VariableOwner::Group(ns.id), Page::ALL).await?.items;
            for v in unscoped(vars, protected) {
                out.push(setting(self.open_variable(v)?));
            }
        }
        let vars = self.store.list_variables(VariableOwner::Project(project.id), Page::ALL).await?.items;
        for v in unscoped(vars, protected) {
            out.push(setting(self.open_variable(v)?));
        }
        Ok(out)
    }

    /// The commit `sha` of the project's repository, through the pooled object reader.
    async fn commit_facts(
        &self,
        project_id: ProjectId,
        sha: &str,
    ) -> autogit_git::Result<Option<autogit_git::read::CommitInfo>> {
        self.repos.reader(project_id).await?.commit(sha).await
    }

    pub(crate) async fn pipeline_facts_for(
        &self,
        project: &Project,
        req: &super::create::PipelineRequest,
        config_path: &str,
        pipeline_id: PipelineId,
        pipeline_iid: i64,
        created_at: DateTime<Utc>,
    ) -> Result<Facts> {
        let commit = match self.commit_facts(project.id, &req.sha).await {
            Ok(Some(c)) => CommitFacts {
                message: c.message,
                author: format!("{} <{}>", c.author_name, c.author_email),
                timestamp: Some(c.committed_date.with_timezone(&Utc)),
            },
            _ => CommitFacts::default(),
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
            protected: self.system().ref_protected_for(project, &req.ref_name, req.tag, req.user.as_ref()).await?,
            sha: req.sha.clone(),
            before_sha: req.before_sha.clone(),
            commit,
            user: req.user.clone(),
            config_path: config_path.to_string(),
            created_at,
        })
    }

    /// The facts of a stored pipeline.
    pub(crate) async fn facts_of(&self, project: &Project, p: &Pipeline) -> Result<Facts> {
        let user = match p.user_id {
            Some(id) => self.store.user_by_id(id).await?,
            None => None,
        };
        let req = super::create::PipelineRequest {
            ref_name: p.ref_name.clone(),
            tag: p.tag,
            sha: p.sha.clone(),
            before_sha: p.before_sha.clone(),
            source: p.source.clone(),
            user,
            variables: self.open_pipeline_variables(p)?,
        };
        let path = super::create::config_path(project);
        self.pipeline_facts_for(project, &req, &path, p.id, p.iid, p.created_at).await
    }

    /// Every variable of a job, lowest precedence first, duplicates removed (last wins, kept at
    /// its first position so that `$VAR` references to earlier keys still expand in order).
    pub(crate) async fn job_variables(
        &self,
        facts: &Facts,
        pipeline: &Pipeline,
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
        all.extend(self.settings_variables(&facts.project, facts.protected).await?);
        for (k, v) in self.open_pipeline_variables(pipeline)? {
            all.push(JobVariable { public: false, ..JobVariable::public(&k, v) });
        }
        Ok(dedup_last_wins(all))
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
    fn tags_are_normalised() {
        let t = normal_tags(&[" b".into(), "a".into(), "".into(), "b".into(), "x,y".into()]);
        assert_eq!(t, vec!["a".to_string(), "b".to_string()]);
    }
}
