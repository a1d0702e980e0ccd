//! JSON shape of a runner, as GitLab's `GET /runners/:id` returns it.

use super::time;
use autogit_app::store::{Runner, RunnerScope};
use autogit_core::runner_status::Connection;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The runner's connection at `now` (online within 2 hours of its last contact, as GitLab).
pub fn connection(r: &Runner, now: DateTime<Utc>) -> Connection {
    let age = |t: DateTime<Utc>| (now - t).num_seconds();
    Connection::of(r.contacted_at.map(age), age(r.created_at))
}

pub fn runner(r: &Runner, now: DateTime<Utc>) -> Value {
    let connection = connection(r, now);
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
        "online": connection == Connection::Online,
        "status": connection.rest_status(r.paused),
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

pub fn runners(rs: &[Runner], now: DateTime<Utc>) -> Vec<Value> {
    rs.iter().map(|r| runner(r, now)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use autogit_app::store::RunnerAccessLevel;
    use autogit_core::RunnerId;
    use chrono::TimeDelta;

    fn runner(created: DateTime<Utc>, contacted: Option<DateTime<Utc>>, paused: bool) -> Runner {
        Runner {
            id: RunnerId::new(1),
            description: "r".into(),
            token_digest: String::new(),
            scope: RunnerScope::Instance,
            tags: Vec::new(),
            run_untagged: true,
            locked: false,
            paused,
            access_level: RunnerAccessLevel::NotProtected,
            maximum_timeout: None,
            created_at: created,
            contacted_at: contacted,
            version: None,
            platform: None,
            architecture: None,
            executor: None,
        }
    }

    #[test]
    fn the_answer_says_online_only_within_two_hours_of_contact() {
        let now = Utc::now();
        let ago = |h: i64| now - TimeDelta::hours(h);
        let shown = |r: &Runner| (super::runner(r, now)["status"].clone(), super::runner(r, now)["online"].clone());
        let cases = [
            (runner(ago(5000), Some(ago(1)), false), ("online", true)),
            (runner(ago(5000), Some(ago(3)), false), ("offline", false)),
            (runner(ago(5000), Some(ago(3)), true), ("paused", false)),
            (runner(ago(5000), Some(ago(24 * 91)), false), ("stale", false)),
            (runner(ago(1), None, false), ("never_contacted", false)),
            (runner(ago(24 * 91), None, false), ("stale", false)),
        ];
        for (r, (status, online)) in cases {
            assert_eq!(shown(&r), (json!(status), json!(online)), "{r:?}");
        }
    }
}
