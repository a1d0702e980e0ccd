//! JSON shape of an external commit status, as GitLab's `/statuses/:sha` and
//! `/repository/commits/:sha/statuses` return it.

use super::{time, user_basic};
use autogit_app::AuthoredStatus;
use serde_json::{Value, json};

pub fn commit_status(base: &str, (c, author): &AuthoredStatus) -> Value {
    json!({
        "id": c.id,
        "sha": c.key.sha,
        "ref": c.key.ref_name,
        "status": c.status.as_str(),
        "name": c.key.name,
        "target_url": c.target_url,
        "description": c.description,
        "coverage": c.coverage,
        "allow_failure": false,
        "created_at": time(c.created_at),
        "started_at": c.started_at.map(time),
        "finished_at": c.finished_at.map(time),
        "author": author.as_ref().map(|u| user_basic(base, u)),
        "pipeline_id": Value::Null,
    })
}
