//! What a push puts in the hooks' outbox: one delivery per hook that wants the event, with
//! GitLab's push or tag push payload (`Gitlab::DataBuilder::Push`), enqueued while the push is
//! settled and keyed by the push record and update, so a second pass over the same record (after
//! a crash) adds nothing.

use super::payload::{push_payload, uuid4};
use crate::{App, Result};
use autogit_core::protection::pattern_matches;
use autogit_git::read;
use autogit_store::{NewHookDelivery, Page, PushRecord, User};

/// Commits a push payload lists (GitLab's limit).
pub(crate) const MAX_PAYLOAD_COMMITS: usize = 20;

fn is_zero(oid: &str) -> bool {
    oid.bytes().all(|b| b == b'0')
}

impl App {
    /// Enqueues the push and tag push deliveries of a recorded push. Only the store failing is
    /// an error (the record is then settled again later); a repository that cannot be read gives
    /// payloads without commits.
    pub(crate) async fn enqueue_push_hooks(&self, record: &PushRecord) -> Result<()> {
        let Some(runtime) = self.webhooks.clone() else { return Ok(()) };
        let hooks = self.store.list_hooks(record.project_id, Page::ALL).await?.items;
        let now = self.clock.now();
        let hooks: Vec<_> = hooks.into_iter().filter(|h| !h.health.permanently_disabled).collect();
        if hooks.is_empty() {
            return Ok(());
        }
        let Some(project) = self.store.project_by_id(record.project_id).await? else { return Ok(()) };
        let user: Option<User> = match record.pusher_id {
            Some(id) => self.store.user_by_id(id).await?,
            None => None,
        };
        let repo = self.repos.path_for(project.id);
        let system = self.system();
        let branches = system.branch_policy(&project).await?;
        let tags = system.tag_policy(&project).await?;
        let mut deliveries = Vec::new();
        for u in record.updates.iter().filter(|u| u.applied) {
            let tag = u.ref_name.starts_with("refs/tags/");
            let branch = u.ref_name.strip_prefix("refs/heads/");
            let wanted: Vec<_> = hooks
                .iter()
                .filter(|h| if tag { h.events.tag_push } else { h.events.push && branch.is_some() })
                .filter(|h| match (&h.push_events_branch_filter, branch) {
                    (Some(f), Some(b)) => pattern_matches(f, b),
                    _ => true,
                })
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let (commits, total) = if tag || is_zero(&u.new) {
                (Vec::new(), 0)
            } else {
                let mut exclude: Vec<String> = Vec::new();
                if !is_zero(&u.old) {
                    exclude.push(u.old.clone());
                } else if let Some(default) = project.default_branch.as_deref().filter(|d| Some(*d) != branch) {
                    // A new branch: what it brings beyond the default branch, as GitLab lists it.
                    if let Ok(Some(b)) = read::branch(&repo, default).await {
                        exclude.push(b.commit.id);
                    }
                }
                let ex: Vec<&str> = exclude.iter().map(String::as_str).collect();
                match read::push_commits(&repo, &u.new, &ex, MAX_PAYLOAD_COMMITS).await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(project = project.id.get(), r#ref = %u.ref_name, error = %e, "push hook payload without commits");
                        (Vec::new(), 0)
                    }
                }
            };
            let checkout = if is_zero(&u.new) { None } else { read::resolve(&repo, &u.new).await.ok().flatten() };
            let protected = match branch {
                Some(b) => branches.is_protected(b),
                None => tags.is_protected(u.ref_name.trim_start_matches("refs/tags/")),
            };
            let payload = push_payload(&runtime, &project, user.as_ref(), u, tag, protected, checkout, &commits, total);
            let event = if tag { "tag_push" } else { "push" };
            for h in wanted {
                deliveries.push(NewHookDelivery {
                    hook_id: h.id,
                    event: event.into(),
                    payload: payload.clone(),
                    idempotency_key: uuid4(),
                    origin: Some((record.id, u.position)),
                });
            }
        }
        self.store.enqueue_deliveries(&deliveries, now).await?;
        if !deliveries.is_empty() {
            runtime.wake.notify_one();
        }
        Ok(())
    }
}
