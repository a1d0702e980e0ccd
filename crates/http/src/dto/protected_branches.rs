//! JSON shapes of protected branches and tags, as GitLab's `/projects/:id/protected_branches` and
//! `/protected_tags` return them
//! (Community Edition fields: no user or group access entries).

use autogit_app::store::{ProtectedBranch, ProtectedTag, RefAccess};
use serde_json::{Value, json};

fn access(a: &RefAccess, push: bool) -> Value {
    let mut v = json!({
        "id": a.id,
        "access_level": a.access_level.value(),
        "access_level_description": a.access_level.description(),
    });
    if push {
        // Push levels may name a deploy key in GitLab; AutoGit has none.
        v["deploy_key_id"] = Value::Null;
    }
    v
}

pub fn protected_branch(b: &ProtectedBranch) -> Value {
    json!({
        "id": b.id,
        "name": b.name,
        "push_access_levels": b.push_access_levels.iter().map(|a| access(a, true)).collect::<Vec<_>>(),
        "merge_access_levels": b.merge_access_levels.iter().map(|a| access(a, false)).collect::<Vec<_>>(),
        "allow_force_push": b.allow_force_push,
    })
}

/// GitLab's `/projects/:id/protected_tags` entry.
pub fn protected_tag(t: &ProtectedTag) -> Value {
    json!({
        "name": t.name,
        "create_access_levels": t.create_access_levels.iter().map(|a| access(a, false)).collect::<Vec<_>>(),
    })
}
