//! Runners: creation by users (`POST /user/runners` → a `glrt-` token shown once), verification
//! and unregistration by the runner itself with its token, and listing. Tokens are stored as
//! SHA-256 digests, like personal access tokens.

use crate::auth::token_digest;
use crate::groups::to_result;
use crate::{App, AppError, Principal, Result};
use autogit_core::access::{Action, decide};
use autogit_store::{Listed, NewRunner, Page, Runner, RunnerAccessLevel, RunnerFilter, RunnerScope, RunnerSeen};
use rand::Rng;
use rand::distr::Alphanumeric;

/// The runner authentication token prefix gitlab-runner recognises (it then calls `verify`).
pub const RUNNER_TOKEN_PREFIX: &str = "glrt-";

#[derive(Debug, Clone, Default)]
pub struct CreateRunner {
    /// `instance_type`, `group_type` or `project_type`.
    pub runner_type: String,
    pub group_id: Option<i64>,
    pub project_id: Option<i64>,
    pub description: String,
    pub tags: Vec<String>,
    /// Defaults to true when the runner has no tags (it could run nothing otherwise).
    pub run_untagged: Option<bool>,
    pub locked: bool,
    pub paused: bool,
    pub access_level: Option<String>,
    pub maximum_timeout: Option<i64>,
}

/// A new runner and its token, which exists in clear only in this response.
pub struct IssuedRunner {
    pub runner: Runner,
    pub token: String,
}

impl App {
    /// Instance runners need an administrator; group and project runners need Maintainer there.
    pub async fn create_runner(&self, who: &Principal, req: CreateRunner) -> Result<IssuedRunner> {
        who.user()?;
        let scope = match req.runner_type.as_str() {
            "instance_type" => {
                who.require_admin()?;
                RunnerScope::Instance
            }
            "group_type" => {
                let id = req.group_id.ok_or(AppError::Missing("group_id"))?;
                let g = self.get_group(who, &id.to_string()).await?;
                self.authorize_namespace(who, &g, Action::Manage).await?;
                RunnerScope::Group(g.id)
            }
            "project_type" => {
                let id = req.project_id.ok_or(AppError::Missing("project_id"))?;
                let (p, _) = self.get_project(who, &id.to_string(), Action::Manage).await?;
                RunnerScope::Project(p.id)
            }
            other => {
                return Err(AppError::Invalid(
                    "runner_type",
                    format!("'{other}' is not instance_type, group_type or project_type"),
                ));
            }
        };
        let access_level = match req.access_level.as_deref() {
            None => RunnerAccessLevel::NotProtected,
            Some(s) => RunnerAccessLevel::parse(s).ok_or_else(|| {
                AppError::Invalid("access_level", format!("'{s}' is not not_protected or ref_protected"))
            })?,
        };
        if req.maximum_timeout.is_some_and(|t| t < 600) {
            return Err(AppError::Invalid("maximum_timeout", "must be at least 600 seconds".into()));
        }
        let token = format!(
            "{RUNNER_TOKEN_PREFIX}{}",
            rand::rng().sample_iter(Alphanumeric).take(32).map(char::from).collect::<String>()
        );
        let new = NewRunner {
            description: req.description,
            token_digest: token_digest(&token),
            scope,
            run_untagged: req.run_untagged.unwrap_or(req.tags.is_empty()),
            tags: req.tags,
            locked: req.locked,
            paused: req.paused,
            access_level,
            maximum_timeout: req.maximum_timeout,
        };
        let runner = self.store.create_runner(&new, self.clock.now()).await.map_err(|e| match e {
            autogit_store::StoreError::Invalid(m) => AppError::Invalid("tag_list", m),
            other => other.into(),
        })?;
        Ok(IssuedRunner { runner, token })
    }

    /// The runner a token belongs to, recording that it was seen. `Forbidden` for an unknown
    /// token, as GitLab answers `403` to runners.
    pub async fn verify_runner(&self, token: &str, seen: &RunnerSeen) -> Result<Runner> {
        let runner = self.store.runner_by_token_digest(&token_digest(token)).await?.ok_or(AppError::Forbidden(None))?;
        self.store.touch_runner(runner.id, self.clock.now(), seen).await?;
        Ok(runner)
    }

    /// `DELETE /runners` with the runner's own token.
    pub async fn unregister_runner(&self, token: &str) -> Result<()> {
        let runner = self.store.runner_by_token_digest(&token_digest(token)).await?.ok_or(AppError::Forbidden(None))?;
        Ok(self.store.delete_runner(runner.id).await?)
    }

    /// Administrators see every runner; others the runners of projects and groups they maintain.
    pub async fn get_runner(&self, who: &Principal, id: i64) -> Result<Runner> {
        let runner = self.store.runner_by_id(id).await?.ok_or(AppError::NotFound("Runner"))?;
        self.authorize_runner(who, &runner).await?;
        Ok(runner)
    }

    async fn authorize_runner(&self, who: &Principal, runner: &Runner) -> Result<()> {
        if who.user()?.is_admin {
            return Ok(());
        }
        let hidden = || AppError::NotFound("Runner");
        match runner.scope {
            RunnerScope::Instance => Err(hidden()),
            RunnerScope::Project(pid) => {
                let p = self.store.project_by_id(pid).await?.ok_or_else(hidden)?;
                let level = self.project_level(who, &p).await?;
                to_result(decide(who.actor, p.visibility, level, Action::Manage), "Runner")
            }
            RunnerScope::Group(gid) => {
                let g = self.store.namespace_by_id(gid).await?.ok_or_else(hidden)?;
                self.authorize_namespace(who, &g, Action::Manage).await.map_err(|_| hidden())
            }
        }
    }

    /// Runners the principal may see (administrators: all; others: none yet — group and project
    /// listings come with `/projects/:id/runners`).
    pub async fn list_runners(&self, who: &Principal, filter: RunnerFilter, page: Page) -> Result<Listed<Runner>> {
        who.require_admin()?;
        Ok(self.store.list_runners(&filter, page).await?)
    }
}
