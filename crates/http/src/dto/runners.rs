//! JSON shape of a runner, as GitLab's `GET /runners/:id` returns it.

use super::time;
use autogit_app::store::{Runner, RunnerScope};
use serde_json::{Value, json};

pub fn runner(r: &Runner) -> Value {
    let runner_type = match r.scope {
        RunnerScope::Instance => "instance_type",
        RunnerScope::Group(_) => "group_type",
        RunnerScope::Project(_) => "project_type",
    };
    json!({
        "id": r.id,
        "description": r.description,
        "ip_address": Value::Null,
        "active": !r.paused,
        "paused": r.paused,
        "is_shared": matches!(r.scope, RunnerScope::Instance),
        "runner_type": runner_type,
        "name": "autogit-runner",
        "online": r.contacted_at.is_some(),
        "status": if r.paused { "paused" } else if r.contacted_at.is_some() { "online" } else { "never_contacted" },
        "tag_list": r.tags,
        "run_untagged": r.run_untagged,
        "locked": r.locked,
        "maximum_timeout": r.maximum_timeout,
        "access_level": r.access_level.as_str(),
        "version": r.version,
        "platform": r.platform,
        "architecture": r.architecture,
        "executor": r.executor,
        "contacted_at": r.contacted_at.map(time),
        "created_at": time(r.created_at),
    })
}
