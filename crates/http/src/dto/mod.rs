//! JSON shapes of the API, field for field as GitLab's API v4 returns them (the subset AutoGit
//! has), so that python-gitlab and similar clients parse them unmodified. Fields AutoGit has no
//! concept of yet are present with GitLab's neutral values (`null`, `false`, `[]`, `0`).

use autogit_app::store::{Member, Namespace, Project, Token, User};
use autogit_core::AccessLevel;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

mod commit_statuses;
mod diffs;
mod hooks;
mod pipelines;
mod protected_branches;
mod repository;
mod runners;
mod variables;
pub use commit_statuses::*;
pub use diffs::*;
pub use hooks::*;
pub use pipelines::*;
pub use protected_branches::*;
pub use repository::*;
pub use runners::*;
pub use variables::*;

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The short user shape used inside other objects.
pub fn user_basic(base: &str, u: &User) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "name": u.name,
        "state": u.state.as_str(),
        "locked": false,
        "avatar_url": Value::Null,
        "web_url": format!("{base}/{}", u.username),
    })
}

/// The full user shape; email and admin flag only for the user themself or administrators.
pub fn user(base: &str, u: &User, private: bool) -> Value {
    let mut v = user_basic(base, u);
    v["created_at"] = json!(time(u.created_at));
    v["bio"] = json!("");
    v["location"] = json!("");
    v["public_email"] = Value::Null;
    v["bot"] = json!(false);
    if private {
        v["email"] = json!(u.email);
        v["is_admin"] = json!(u.is_admin);
        v["external"] = json!(u.external);
        v["can_create_group"] = json!(!u.external || u.is_admin);
        v["can_create_project"] = json!(!u.external || u.is_admin);
        v["two_factor_enabled"] = json!(false);
    }
    v
}

/// Namespace chain of a project or group, root first, with the display names GitLab joins.
pub struct Chain<'a> {
    pub namespaces: &'a [Namespace],
}

impl Chain<'_> {
    fn human(&self) -> String {
        self.namespaces.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(" / ")
    }
}

pub fn namespace_short(base: &str, n: &Namespace) -> Value {
    json!({
        "id": n.id,
        "name": n.name,
        "path": n.path,
        "kind": n.kind.as_str(),
        "full_path": n.full_path,
        "parent_id": n.parent_id,
        "avatar_url": Value::Null,
        "web_url": format!("{base}/{}", n.full_path),
    })
}

pub fn group(base: &str, g: &Namespace, chain: &Chain<'_>) -> Value {
    json!({
        "id": g.id,
        "web_url": format!("{base}/groups/{}", g.full_path),
        "name": g.name,
        "path": g.path,
        "description": g.description,
        "visibility": g.visibility.as_str(),
        "share_with_group_lock": false,
        "require_two_factor_authentication": false,
        "two_factor_grace_period": 48,
        "project_creation_level": "developer",
        "auto_devops_enabled": Value::Null,
        "subgroup_creation_level": "maintainer",
        "emails_disabled": false,
        "emails_enabled": true,
        "mentions_disabled": Value::Null,
        "lfs_enabled": false,
        "default_branch": Value::Null,
        "avatar_url": Value::Null,
        "request_access_enabled": false,
        "full_name": chain.human(),
        "full_path": g.full_path,
        "created_at": time(g.created_at),
        "parent_id": g.parent_id,
    })
}

pub struct ProjectExtras<'a> {
    pub chain: Chain<'a>,
    pub owner: Option<&'a User>,
    pub empty_repo: bool,
    pub access_level: Option<AccessLevel>,
    /// The SSH clone URL's prefix (`git@host:` or `ssh://git@host:port/`), when SSH is served.
    pub ssh_base: Option<&'a str>,
}

pub fn project(base: &str, p: &Project, x: &ProjectExtras<'_>) -> Value {
    let ns = x.chain.namespaces.last();
    let mut v = json!({
        "id": p.id,
        "description": p.description,
        "name": p.name,
        "name_with_namespace": format!("{} / {}", x.chain.human(), p.name),
        "path": p.path,
        "path_with_namespace": p.full_path,
        "created_at": time(p.created_at),
        "default_branch": p.default_branch,
        "ci_config_path": p.ci_config_path,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": x.ssh_base.map(|b| format!("{b}{}.git", p.full_path)),
        "http_url_to_repo": format!("{base}/{}.git", p.full_path),
        "web_url": format!("{base}/{}", p.full_path),
        "readme_url": Value::Null,
        "avatar_url": Value::Null,
        "forks_count": 0,
        "star_count": 0,
        "last_activity_at": time(p.last_activity_at),
        "namespace": ns.map(|n| namespace_short(base, n)).unwrap_or(Value::Null),
        "visibility": p.visibility.as_str(),
        "empty_repo": x.empty_repo,
        "archived": false,
        "issues_enabled": false,
        "merge_requests_enabled": false,
        "jobs_enabled": false,
        "wiki_enabled": false,
        "snippets_enabled": false,
        "container_registry_enabled": false,
        "creator_id": x.owner.map(|u| u.id),
        "import_status": "none",
        "open_issues_count": 0,
        "_links": {
            "self": format!("{base}/api/v4/projects/{}", p.id),
            "repo_branches": format!("{base}/api/v4/projects/{}/repository/branches", p.id),
            "members": format!("{base}/api/v4/projects/{}/members", p.id),
        },
    });
    if let Some(owner) = x.owner {
        v["owner"] = user_basic(base, owner);
    }
    if let Some(level) = x.access_level {
        v["permissions"] = json!({
            "project_access": {"access_level": level.value(), "notification_level": 3},
            "group_access": Value::Null,
        });
    }
    v
}

pub fn member(base: &str, m: &Member, u: &User) -> Value {
    let mut v = user_basic(base, u);
    v["access_level"] = json!(m.access_level.value());
    v["created_at"] = json!(time(m.created_at));
    v["expires_at"] = Value::Null;
    v["membership_state"] = json!("active");
    v
}

pub fn token(t: &Token, today: chrono::NaiveDate) -> Value {
    let expired = t.expires_at.is_some_and(|d| d <= today);
    json!({
        "id": t.id,
        "name": t.name,
        "revoked": t.revoked,
        "created_at": time(t.created_at),
        "description": Value::Null,
        "scopes": t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "user_id": t.user_id,
        "last_used_at": t.last_used_at.map(time),
        "active": !t.revoked && !expired,
        "expires_at": t.expires_at.map(|d| d.to_string()),
    })
}
