//! JSON shapes of repository content (commits, branches, tags, tree entries) and push events,
//! as GitLab's API v4 returns them.

use super::time;
use autogit_app::store::PushEvent;
use autogit_git::read::{Branch, CommitInfo, Tag, TreeEntry};
use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::{Value, json};

pub fn date(d: &DateTime<FixedOffset>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, false)
}

pub fn commit_json(base: &str, full_path: &str, c: &CommitInfo) -> Value {
    json!({
        "id": c.id,
        "short_id": c.short_id,
        "created_at": date(&c.committed_date),
        "parent_ids": c.parent_ids,
        "title": c.title,
        "message": c.message,
        "author_name": c.author_name,
        "author_email": c.author_email,
        "authored_date": date(&c.authored_date),
        "committer_name": c.committer_name,
        "committer_email": c.committer_email,
        "committed_date": date(&c.committed_date),
        "trailers": {},
        "web_url": format!("{base}/{full_path}/-/commit/{}", c.id),
    })
}

pub fn branch_json(base: &str, full_path: &str, b: &Branch) -> Value {
    json!({
        "name": b.name,
        "merged": false,
        "protected": false,
        "default": b.default,
        "developers_can_push": true,
        "developers_can_merge": true,
        "can_push": true,
        "web_url": format!("{base}/{full_path}/-/tree/{}", b.name),
        "commit": commit_json(base, full_path, &b.commit),
    })
}

pub fn tag_json(base: &str, full_path: &str, t: &Tag) -> Value {
    json!({
        "name": t.name,
        "message": t.message,
        "target": t.target,
        "commit": t.commit.as_ref().map(|c| commit_json(base, full_path, c)),
        "release": Value::Null,
        "protected": false,
        "created_at": t.created_at.as_ref().map(date),
    })
}

pub fn entry_json(e: &TreeEntry) -> Value {
    json!({ "id": e.id, "name": e.name, "type": e.kind.as_str(), "path": e.path, "mode": e.mode })
}

fn is_zero(oid: &str) -> bool {
    oid.bytes().all(|b| b == b'0')
}

/// A push as GitLab's events API shows it. `commit_count` is unknown (not counted) and so `null`.
pub fn push_event(e: &PushEvent) -> Value {
    let (ref_type, short) = match e.ref_name.strip_prefix("refs/tags/") {
        Some(t) => ("tag", t),
        None => ("branch", e.ref_name.strip_prefix("refs/heads/").unwrap_or(&e.ref_name)),
    };
    let (action, action_name) = if is_zero(&e.before) {
        ("created", "pushed new")
    } else if is_zero(&e.after) {
        ("removed", "deleted")
    } else {
        ("pushed", "pushed to")
    };
    json!({
        "id": e.id,
        "project_id": e.project_id,
        "action_name": action_name,
        "target_id": Value::Null,
        "target_type": Value::Null,
        "target_title": Value::Null,
        "author_id": e.pusher_id,
        "created_at": time(e.created_at),
        "push_data": {
            "commit_count": Value::Null,
            "action": action,
            "ref_type": ref_type,
            "commit_from": (!is_zero(&e.before)).then_some(e.before.as_str()),
            "commit_to": (!is_zero(&e.after)).then_some(e.after.as_str()),
            "ref": short,
            "commit_title": Value::Null,
            "ref_count": Value::Null,
        },
    })
}
