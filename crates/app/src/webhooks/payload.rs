//! GitLab's webhook bodies (`Gitlab::DataBuilder::Push`, `Gitlab::HookData::ProjectBuilder`),
//! field for field, so receivers written for GitLab read them unchanged.

use super::WebhookRuntime;
use autogit_core::Visibility;
use autogit_git::read::PushCommit;
use autogit_store::{Project, PushRecordUpdate, User};
use serde_json::{Value, json};

/// A random (version 4) UUID, as GitLab's `X-Gitlab-Webhook-UUID` and `Idempotency-Key` are.
pub(crate) fn uuid4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// GitLab's `visibility_level`: 0 private, 10 internal, 20 public.
fn visibility_level(v: Visibility) -> i64 {
    match v {
        Visibility::Private => 0,
        Visibility::Internal => 10,
        Visibility::Public => 20,
    }
}

/// The `project` object of every hook payload.
pub(crate) fn project_json(rt: &WebhookRuntime, p: &Project) -> Value {
    let web_url = format!("{}/{}", rt.instance_url, p.full_path);
    let http_url = format!("{web_url}.git");
    let ssh_url = rt.ssh_clone_base.as_ref().map(|b| format!("{b}{}.git", p.full_path));
    let namespace = p.full_path.rsplit_once('/').map_or("", |(ns, _)| ns);
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "web_url": web_url,
        "avatar_url": Value::Null,
        "git_ssh_url": ssh_url,
        "git_http_url": http_url,
        "namespace": namespace.rsplit('/').next().unwrap_or(namespace),
        "visibility_level": visibility_level(p.visibility),
        "path_with_namespace": p.full_path,
        "default_branch": p.default_branch,
        "ci_config_path": p.ci_config_path,
        "homepage": web_url,
        "url": ssh_url.clone().unwrap_or_else(|| http_url.clone()),
        "ssh_url": ssh_url,
        "http_url": http_url,
    })
}

fn commit_json(web_url: &str, c: &PushCommit) -> Value {
    let i = &c.info;
    json!({
        "id": i.id,
        "message": i.message,
        "title": i.title,
        "timestamp": i.authored_date.to_rfc3339(),
        "url": format!("{web_url}/-/commit/{}", i.id),
        "author": {"name": i.author_name, "email": i.author_email},
        "added": c.added,
        "modified": c.modified,
        "removed": c.removed,
    })
}

/// The body of a push or tag push hook for one ref update.
#[allow(clippy::too_many_arguments)]
pub(crate) fn push_payload(
    rt: &WebhookRuntime,
    project: &Project,
    user: Option<&User>,
    u: &PushRecordUpdate,
    tag: bool,
    protected: bool,
    checkout_sha: Option<String>,
    commits: &[PushCommit],
    total: u64,
) -> String {
    let kind = if tag { "tag_push" } else { "push" };
    let proj = project_json(rt, project);
    let web_url = proj["web_url"].as_str().unwrap_or_default().to_string();
    let body = json!({
        "object_kind": kind,
        "event_name": kind,
        "before": u.old,
        "after": u.new,
        "ref": u.ref_name,
        "ref_protected": protected,
        "checkout_sha": checkout_sha,
        "message": Value::Null,
        "user_id": user.map(|u| u.id),
        "user_name": user.map(|u| u.name.clone()),
        "user_username": user.map(|u| u.username.clone()),
        // GitLab sends the public email, which AutoGit accounts do not have.
        "user_email": "",
        "user_avatar": Value::Null,
        "project_id": project.id,
        "project": proj,
        "commits": commits.iter().map(|c| commit_json(&web_url, c)).collect::<Vec<_>>(),
        "total_commits_count": total,
        "push_options": {},
        "repository": {
            "name": project.name,
            "url": proj["url"],
            "description": project.description,
            "homepage": web_url,
            "git_http_url": proj["git_http_url"],
            "git_ssh_url": proj["git_ssh_url"],
            "visibility_level": proj["visibility_level"],
        },
    });
    body.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let a = uuid4();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, uuid4());
    }
}
