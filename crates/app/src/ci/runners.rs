//! Runners: creation by users (`POST /user/runners` → a `glrt-` token shown once) or by the
//! legacy registration-token flow (`POST /runners`), verification and unregistration by the
//! runner itself with its token, and what users do with them (show, update, list, their jobs).
//! Tokens are stored as SHA-256 digests, like personal access tokens.

use super::contacts::needs_write;
use crate::audit::Entry;
use crate::auth::token_digest;
use crate::groups::to_result;
use crate::{App, AppError, Principal, Result, System};
use autogit_core::access::{Action, decide};
use autogit_core::audit::AuditAction;
use autogit_core::ci::JobStatus;
use autogit_core::{NamespaceId, ProjectId, RunnerId};
use autogit_store::{
    Job, Listed, NewRunner, Page, Runner, RunnerAccessLevel, RunnerFilter, RunnerScope, RunnerSeen, RunnerUpdate,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The runner authentication token prefix gitlab-runner recognises (it then calls `verify`).
pub const RUNNER_TOKEN_PREFIX: &str = "glrt-";

#[derive(Debug, Clone, Default)]
pub struct CreateRunner {
    /// `instance_type`, `group_type` or `project_type`.
    pub runner_type: String,
    pub group_id: Option<NamespaceId>,
    pub project_id: Option<ProjectId>,
    pub description: String,
    pub tags: Vec<String>,
    /// Defaults to true when the runner has no tags (it could run nothing otherwise).
    pub run_untagged: Option<bool>,
    pub locked: bool,
    pub paused: bool,
    pub access_level: Option<String>,
    pub maximum_timeout: Option<i64>,
}

/// `PUT /runners/:id`: the fields that are `Some` change. `maximum_timeout: Some(None)` removes
/// the limit.
#[derive(Debug, Clone, Default)]
pub struct UpdateRunner {
    pub description: Option<String>,
    pub paused: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub run_untagged: Option<bool>,
    pub locked: Option<bool>,
    pub access_level: Option<String>,
    pub maximum_timeout: Option<Option<i64>>,
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
        let action = AuditAction::RunnerRegistered;
        let (scope, entry) = match req.runner_type.as_str() {
            "instance_type" => {
                who.require_admin()?;
                (RunnerScope::Instance, Entry::instance(action))
            }
            "group_type" => {
                let id = req.group_id.ok_or(AppError::Missing("group_id"))?;
                let g = self.get_group(who, &id.to_string()).await?;
                self.authorize_namespace(who, &g, Action::Manage).await?;
                (RunnerScope::Group(g.id), Entry::group(action, &g))
            }
            "project_type" => {
                let id = req.project_id.ok_or(AppError::Missing("project_id"))?;
                let (p, _) = self.get_project(who, &id.to_string(), Action::Manage).await?;
                (RunnerScope::Project(p.id), Entry::project(action, &p))
            }
            other => {
                return Err(AppError::Invalid(
                    "runner_type",
                    format!("'{other}' is not instance_type, group_type or project_type"),
                ));
            }
        };
        let issued = self.issue_runner(scope, req).await?;
        let r = &issued.runner;
        self.audit(who, entry.target("Ci::Runner", r.id.get(), r.description.clone())).await;
        Ok(issued)
    }

    async fn issue_runner(&self, scope: RunnerScope, req: CreateRunner) -> Result<IssuedRunner> {
        let access_level = match req.access_level.as_deref() {
            None => RunnerAccessLevel::NotProtected,
            Some(s) => parse_access_level(s)?,
        };
        check_maximum_timeout(req.maximum_timeout)?;
        let token = format!("{RUNNER_TOKEN_PREFIX}{}", crate::auth::random_secret(32));
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
        let runner = self.store.create_runner(&new, self.clock.now()).await.map_err(tag_error)?;
        Ok(IssuedRunner { runner, token })
    }

    /// Administrators see every runner; others the runners of projects and groups they maintain.
    pub async fn get_runner(&self, who: &Principal, id: RunnerId) -> Result<Runner> {
        let runner = self.store.runner_by_id(id).await?.ok_or(AppError::NotFound("Runner"))?;
        self.authorize_runner(who, &runner).await?;
        Ok(self.ci.contacts.fresh(runner))
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

    /// `PUT /runners/:id`. Every held `jobs/request` is answered so that runners look again
    /// with the new settings (a paused runner gets nothing more).
    pub async fn update_runner(&self, who: &Principal, id: RunnerId, req: UpdateRunner) -> Result<Runner> {
        let runner = self.get_runner(who, id).await?;
        let access_level = req.access_level.as_deref().map(parse_access_level).transpose()?;
        check_maximum_timeout(req.maximum_timeout.flatten())?;
        if req.tags.is_some() || req.run_untagged.is_some() {
            let no_tags = req.tags.as_ref().map_or(runner.tags.is_empty(), Vec::is_empty);
            if no_tags && !req.run_untagged.unwrap_or(runner.run_untagged) {
                return Err(AppError::Invalid(
                    "tag_list",
                    "can not be empty when the runner is not allowed to pick untagged jobs".into(),
                ));
            }
        }
        let update = RunnerUpdate {
            description: req.description,
            tags: req.tags,
            run_untagged: req.run_untagged,
            locked: req.locked,
            paused: req.paused,
            access_level,
            maximum_timeout: req.maximum_timeout,
        };
        let updated = self.store.update_runner(runner.id, &update).await.map_err(tag_error)?;
        self.ci.bump();
        Ok(self.ci.contacts.fresh(updated))
    }

    /// `GET /runners/:id/jobs`: the jobs the runner took, newest first.
    pub async fn runner_jobs(
        &self,
        who: &Principal,
        id: RunnerId,
        statuses: &[JobStatus],
        page: Page,
    ) -> Result<Listed<Job>> {
        let runner = self.get_runner(who, id).await?;
        Ok(self.store.list_runner_jobs(runner.id, statuses, page).await?)
    }

    /// `GET /runners/all`: every runner (administrators only).
    pub async fn list_runners(
        &self,
        who: &Principal,
        runner_type: Option<&str>,
        filter: RunnerFilter,
        page: Page,
    ) -> Result<Listed<Runner>> {
        who.require_admin()?;
        self.list_visible_runners(who, runner_type, filter, page).await
    }

    /// `GET /runners`: the runners of the projects and groups the user maintains
    /// (administrators: all), by id, narrowed by `type` (`instance_type`, `group_type`,
    /// `project_type`) and the filter.
    pub async fn list_visible_runners(
        &self,
        who: &Principal,
        runner_type: Option<&str>,
        filter: RunnerFilter,
        page: Page,
    ) -> Result<Listed<Runner>> {
        let admin = who.user()?.is_admin;
        let kind = runner_type.map(parse_runner_type).transpose()?;
        if admin && kind.is_none() {
            let listed = self.store.list_runners(&filter, page).await?;
            let items = listed.items.into_iter().map(|r| self.ci.contacts.fresh(r)).collect();
            return Ok(Listed { items, total: listed.total });
        }
        // Runners are few: filter them all, deciding once per project or group.
        let mut allowed: HashMap<RunnerScope, bool> = HashMap::new();
        let mut out = Vec::new();
        for r in self.store.list_runners(&filter, Page::ALL).await?.items {
            if kind.is_some_and(|k| k != scope_kind(r.scope)) {
                continue;
            }
            if !admin {
                let ok = match allowed.get(&r.scope) {
                    Some(ok) => *ok,
                    None => {
                        let ok = match self.authorize_runner(who, &r).await {
                            Ok(()) => true,
                            Err(AppError::Internal(m)) => return Err(AppError::Internal(m)),
                            Err(_) => false,
                        };
                        allowed.insert(r.scope, ok);
                        ok
                    }
                };
                if !ok {
                    continue;
                }
            }
            out.push(self.ci.contacts.fresh(r));
        }
        let total = out.len() as i64;
        let offset = usize::try_from(page.offset).unwrap_or(0);
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        Ok(Listed { items: out.into_iter().skip(offset).take(limit).collect(), total })
    }
}

fn parse_access_level(s: &str) -> Result<RunnerAccessLevel> {
    RunnerAccessLevel::parse(s)
        .ok_or_else(|| AppError::Invalid("access_level", format!("'{s}' is not not_protected or ref_protected")))
}

fn check_maximum_timeout(t: Option<i64>) -> Result<()> {
    if t.is_some_and(|t| t < 600) {
        return Err(AppError::Invalid("maximum_timeout", "must be at least 600 seconds".into()));
    }
    Ok(())
}

/// The store refuses bad tags as `Invalid`.
fn tag_error(e: autogit_store::StoreError) -> AppError {
    match e {
        autogit_store::StoreError::Invalid(m) => AppError::Invalid("tag_list", m),
        other => other.into(),
    }
}

/// GitLab's `runner_type` spelling of a scope.
fn scope_kind(scope: RunnerScope) -> &'static str {
    match scope {
        RunnerScope::Instance => "instance_type",
        RunnerScope::Group(_) => "group_type",
        RunnerScope::Project(_) => "project_type",
    }
}

fn parse_runner_type(t: &str) -> Result<&'static str> {
    ["instance_type", "group_type", "project_type"]
        .into_iter()
        .find(|k| *k == t)
        .ok_or_else(|| AppError::Invalid("type", format!("'{t}' is not instance_type, group_type or project_type")))
}

/// Compares two secrets in time independent of where they differ: both are hashed to the same
/// length first, then every byte is compared.
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl System<'_> {
    /// Legacy registration (`POST /runners` with the server's registration token, research
    /// §1.3): an instance runner. `Forbidden` for a wrong token, or when the server has none
    /// (registration tokens disabled).
    pub async fn register_runner(
        &self,
        registration_token: &str,
        req: CreateRunner,
        seen: &RunnerSeen,
    ) -> Result<IssuedRunner> {
        let expected = &self.ci.settings.registration_token;
        if expected.is_empty() {
            return Err(AppError::Forbidden(Some(
                "runner registration with a registration token is disabled on this server; \
                 create the runner with POST /user/runners and use its glrt- token"
                    .into(),
            )));
        }
        if !same_secret(registration_token, expected) {
            return Err(AppError::Forbidden(Some("invalid registration token".into())));
        }
        let issued = self.issue_runner(RunnerScope::Instance, req).await?;
        let r = &issued.runner;
        let entry =
            Entry::instance(AuditAction::RunnerRegistered).target("Ci::Runner", r.id.get(), r.description.clone());
        self.audit(&Principal::registration_token(), entry).await;
        let now = self.clock.now();
        self.store.touch_runner(issued.runner.id, now, seen).await?;
        self.ci.contacts.note(issued.runner.id, now);
        Ok(issued)
    }

    /// The runner a token belongs to, recording that it was seen (in memory, and in the store
    /// when its stored contact is stale: `contacts`). `Forbidden` for an unknown token, as GitLab
    /// answers `403` to runners.
    pub async fn verify_runner(&self, token: &str, seen: &RunnerSeen) -> Result<Runner> {
        let runner = self.store.runner_by_token_digest(&token_digest(token)).await?.ok_or(AppError::Forbidden(None))?;
        let now = self.clock.now();
        if needs_write(&runner, now, seen) {
            self.store.touch_runner(runner.id, now, seen).await?;
        }
        self.ci.contacts.note(runner.id, now);
        Ok(runner)
    }

    /// `DELETE /runners` with the runner's own token.
    pub async fn unregister_runner(&self, token: &str) -> Result<()> {
        let runner = self.store.runner_by_token_digest(&token_digest(token)).await?.ok_or(AppError::Forbidden(None))?;
        self.store.delete_runner(runner.id).await?;
        self.ci.contacts.forget(runner.id);
        self.ci.drop_runner_waiters(runner.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("GR1348941abc", "GR1348941abc"));
        assert!(!same_secret("GR1348941abd", "GR1348941abc"));
        assert!(!same_secret("", "GR1348941abc"));
        assert!(!same_secret("GR1348941abc ", "GR1348941abc"));
    }
}
