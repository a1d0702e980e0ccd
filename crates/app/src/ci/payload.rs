//! The job payload a runner receives (`201` of `POST /api/v4/jobs/request`, research §1.7),
//! built from the stored job and its context (pipeline, project, user, CI/CD settings) read at
//! hand-out time.

use super::predefined::JobFacts;
use super::spec::JobSpec;
use super::vars::Facts;
use crate::{App, Result};
use autogit_core::ci::{FailureReason, When};
use autogit_core::{ProjectId, UserId};
use autogit_pipeline::Image as PlanImage;
use autogit_protocol::{
    ArtifactSpec, ArtifactsFile, CacheSpec, Dependency, GitInfo, Image, JobFeatures, JobInfo, JobResponse,
    JobRunnerInfo, JobVariable, Step, StepWhen,
};
use autogit_store::{Job, JobContext, Runner};
use sha2::{Digest, Sha256};

/// GitLab's default clone depth for new projects.
pub const DEFAULT_GIT_DEPTH: i64 = 20;

fn image(i: &PlanImage) -> Image {
    Image {
        name: i.name.clone(),
        alias: i.alias.clone(),
        command: i.command.clone().unwrap_or_default(),
        entrypoint: i.entrypoint.clone().unwrap_or_default(),
        pull_policy: i.pull_policy.clone(),
        variables: i.variables.iter().map(|(k, v)| JobVariable::public(k, v.value.clone())).collect(),
    }
}

/// The clone URL with the job token as the password, as `CI_REPOSITORY_URL`.
pub(crate) fn repo_url(server_url: &str, full_path: &str, token: &str) -> String {
    let (scheme, rest) = server_url.split_once("://").unwrap_or(("http", server_url));
    format!("{scheme}://gitlab-ci-token:{token}@{rest}/{full_path}.git")
}

/// `timeout` of the job as the runner must enforce it: the job's, capped by the runner's.
pub(crate) fn effective_timeout(job: &Job, runner: &Runner) -> i64 {
    runner.maximum_timeout.map_or(job.timeout_secs, |m| m.min(job.timeout_secs))
}

impl App {
    pub(crate) async fn job_payload(
        &self,
        job: &Job,
        spec: &JobSpec,
        ctx: &JobContext,
        facts: &Facts,
        runner: &Runner,
        token: &str,
    ) -> Result<JobResponse> {
        let (project, pipeline) = (&facts.project, &ctx.pipeline);
        let started = job.started_at.unwrap_or_else(|| self.clock.now());
        let jf = JobFacts {
            id: job.id.get(),
            name: &job.name,
            stage: &job.stage,
            token,
            manual: job.when == When::Manual,
            node: spec.job.parallel.as_ref().map(|p| (p.index, p.total)),
            started_at: started,
        };
        let mut variables = self.job_variables(facts, ctx, spec, &jf)?;
        // The runner's own predefined variables, first (lowest precedence), as GitLab sends them.
        let tags = serde_json::to_string(&runner.tags).unwrap_or_default();
        variables.splice(
            0..0,
            [
                JobVariable::public("CI_RUNNER_ID", runner.id.to_string()),
                JobVariable::public("CI_RUNNER_DESCRIPTION", runner.description.clone()),
                JobVariable::public("CI_RUNNER_TAGS", tags),
            ],
        );
        let depth = variables
            .iter()
            .rev()
            .find(|v| v.key == "GIT_DEPTH")
            .and_then(|v| v.value.parse().ok())
            .unwrap_or(DEFAULT_GIT_DEPTH);
        let timeout = effective_timeout(job, runner);
        let j = &spec.job;
        let mut steps = vec![Step {
            name: "script".into(),
            script: j.before_script.iter().chain(&j.script).cloned().collect(),
            timeout,
            when: StepWhen::OnSuccess,
            allow_failure: false,
        }];
        if !j.after_script.is_empty() {
            steps.push(Step {
                name: "after_script".into(),
                script: j.after_script.clone(),
                timeout,
                when: StepWhen::Always,
                allow_failure: true,
            });
        }
        let artifacts = j
            .artifacts
            .iter()
            .filter(|a| !a.paths.is_empty() || a.untracked)
            .map(|a| ArtifactSpec {
                name: a.name.clone().unwrap_or_else(|| "artifacts".into()),
                untracked: a.untracked,
                paths: a.paths.clone(),
                exclude: a.exclude.clone(),
                when: a.when.clone(),
                artifact_type: "archive".into(),
                artifact_format: "zip".into(),
                expire_in: a.expire_in.clone(),
            })
            .collect();
        let mut cache = Vec::new();
        for c in &j.cache {
            let separate = |key: String| protection_suffixed(key, facts.protected, c.unprotect);
            cache.push(CacheSpec {
                key: separate(self.cache_key(c, project.id, &pipeline.sha).await),
                untracked: c.untracked,
                policy: c.policy.clone(),
                paths: c.paths.clone(),
                when: c.when.clone(),
                fallback_keys: c.fallback_keys.iter().cloned().map(separate).collect(),
            });
        }
        let (ref_type, refspec) = if pipeline.tag {
            ("tag", format!("+refs/tags/{0}:refs/tags/{0}", pipeline.ref_name))
        } else {
            ("branch", format!("+refs/heads/{0}:refs/remotes/origin/{0}", pipeline.ref_name))
        };
        let queued_at = job.queued_at.unwrap_or(job.created_at);
        Ok(JobResponse {
            id: job.id.get(),
            token: token.to_string(),
            allow_git_fetch: true,
            job_info: JobInfo {
                id: job.id.get(),
                name: job.name.clone(),
                stage: job.stage.clone(),
                pipeline_id: pipeline.id.get(),
                project_id: project.id.get(),
                project_name: project.name.clone(),
                project_full_path: project.full_path.clone(),
                namespace_id: project.namespace_id.get(),
                root_namespace_id: ctx.settings.namespaces.first().map_or(project.namespace_id.get(), |n| n.id.get()),
                user_id: pipeline.user_id.map(UserId::get),
                time_in_queue_seconds: (started - queued_at).num_milliseconds().max(0) as f64 / 1000.0,
                queue_size: self.ci.queue_len() as i64,
                queue_depth: self.ci.queue_len() as i64,
            },
            git_info: GitInfo {
                repo_url: repo_url(&self.ci.settings.server_url, &project.full_path, token),
                repo_object_format: "sha1".into(),
                ref_name: pipeline.ref_name.clone(),
                sha: pipeline.sha.clone(),
                before_sha: pipeline.before_sha.clone(),
                ref_type: ref_type.into(),
                refspecs: vec![refspec],
                depth,
                protected: Some(facts.protected),
            },
            runner_info: JobRunnerInfo { timeout, runner_session_url: None },
            variables,
            steps,
            image: j.image.as_ref().map(image),
            services: j.services.iter().map(image).collect(),
            artifacts,
            cache,
            credentials: Vec::new(),
            dependencies: self.dependencies(job, spec, token).await?,
            features: JobFeatures {
                trace_sections: true,
                failure_reasons: [
                    FailureReason::ScriptFailure,
                    FailureReason::RunnerSystemFailure,
                    FailureReason::JobExecutionTimeout,
                    FailureReason::UnknownFailure,
                ]
                .map(|r| r.as_str().to_string())
                .to_vec(),
            },
        })
    }

    /// `cache:key:files` is keyed by the content of those files at the commit, as GitLab keys
    /// it by their last commits: same files, same cache.
    async fn cache_key(&self, c: &autogit_pipeline::Cache, project_id: ProjectId, sha: &str) -> String {
        if let Some(k) = &c.key {
            return k.clone();
        }
        if c.key_files.is_empty() {
            return "default".into();
        }
        let mut objects = self.repos.reader(project_id).await.ok();
        let mut h = Sha256::new();
        for f in &c.key_files {
            h.update(f.as_bytes());
            if let Some(r) = objects.as_mut()
                && let Ok(Some(content)) = r.file_at(sha, f).await
            {
                h.update(&content);
            }
        }
        let digest = hex::encode(h.finalize());
        match &c.key_prefix {
            Some(p) => format!("{p}-{}", &digest[..40]),
            None => digest[..40].to_string(),
        }
    }

    /// The jobs whose artifacts this one downloads: `dependencies:` when given, else the `needs`
    /// with `artifacts: true`, else every job of an earlier stage.
    async fn dependencies(&self, job: &Job, spec: &JobSpec, token: &str) -> Result<Vec<Dependency>> {
        let names: Option<Vec<&str>> = match (&spec.job.dependencies, &spec.job.needs) {
            (Some(d), _) => Some(d.iter().map(String::as_str).collect()),
            (None, Some(needs)) => Some(needs.iter().filter(|n| n.artifacts).map(|n| n.job.as_str()).collect()),
            (None, None) => None,
        };
        let deps = self
            .latest_jobs_where(job.pipeline_id, |j| {
                j.id != job.id
                    && match &names {
                        Some(names) => names.contains(&j.name.as_str()),
                        None => j.stage_index < job.stage_index,
                    }
            })
            .await?;
        let mut out = Vec::new();
        for dep in &deps {
            let file = self.store.artifact(dep.id, "archive").await?;
            out.push(Dependency {
                id: dep.id.get(),
                name: dep.name.clone(),
                token: token.to_string(),
                artifacts_file: file.map(|a| ArtifactsFile { filename: a.filename, size: a.size }),
            });
        }
        Ok(out)
    }
}

/// GitLab's separate caches for protected refs: a key gets `-protected` or `-non_protected`
/// (unless the cache says `unprotect: true`), so that a job any developer can push never fills
/// the cache a job under protected variables restores and runs.
fn protection_suffixed(key: String, protected: bool, unprotect: bool) -> String {
    match (unprotect, protected) {
        (true, _) => key,
        (false, true) => format!("{key}-protected"),
        (false, false) => format!("{key}-non_protected"),
    }
}

#[cfg(test)]
mod tests {
    use super::protection_suffixed;

    #[test]
    fn caches_of_protected_and_unprotected_refs_are_apart() {
        assert_eq!(protection_suffixed("deps".into(), true, false), "deps-protected");
        assert_eq!(protection_suffixed("deps".into(), false, false), "deps-non_protected");
        assert_eq!(protection_suffixed("deps".into(), true, true), "deps");
        assert_eq!(protection_suffixed("deps".into(), false, true), "deps");
    }
}
