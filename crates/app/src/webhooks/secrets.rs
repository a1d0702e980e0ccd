//! The hooks' part of `System::reseal_secrets`: every hook's sealed URL and token checked, and
//! unless only checking, plain text sealed and older keys' values re-sealed, with one
//! compare-and-set per hook (a hook changed meanwhile is read again).

use super::hooks::{token_binding, url_binding};
use crate::secrets::{Review, SecretsPass};
use crate::{App, Result};
use autogit_store::ProjectHook;

const BATCH: i64 = 200;
const SWAP_TRIES: usize = 5;

impl App {
    pub(crate) async fn reseal_hook_secrets(&self, check_only: bool, pass: &mut SecretsPass) -> Result<()> {
        let mut after = 0;
        loop {
            let batch = self.store.hooks_after(after, BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            for hook in batch {
                self.reseal_hook(hook, check_only, pass).await?;
            }
        }
        Ok(())
    }

    async fn reseal_hook(&self, mut hook: ProjectHook, check_only: bool, pass: &mut SecretsPass) -> Result<()> {
        for _ in 0..SWAP_TRIES {
            let mut found = SecretsPass::default();
            let mut next = |binding, value: &str, what: &str| -> Result<String> {
                let (key, review) = self.review_secret(&binding, value, check_only)?;
                found.tally_key(key);
                Ok(match review {
                    Review::Current => {
                        found.current += 1;
                        value.to_string()
                    }
                    Review::Failed(why) => {
                        found.record_failure(format!("the {what} of hook {}: {why}", hook.id));
                        value.to_string()
                    }
                    Review::Reseal { sealed, stale } => {
                        found.tally_resealed(stale);
                        sealed
                    }
                })
            };
            let url = next(url_binding(hook.project_id), &hook.url, "URL")?;
            let token = match &hook.token {
                Some(t) => Some(next(token_binding(hook.project_id), t, "token")?),
                None => None,
            };
            let changed = found.sealed_plain + found.resealed > 0;
            let old = (hook.url.as_str(), hook.token.as_deref());
            if check_only || !changed || self.store.swap_hook_secrets(hook.id, old, (&url, token.as_deref())).await? {
                pass.merge(found);
                return Ok(());
            }
            match self.store.hook(hook.project_id, hook.id).await? {
                Some(now) => hook = now,
                None => return Ok(()),
            }
        }
        pass.record_failure(format!(
            "hook {} changed {SWAP_TRIES} times while being re-sealed; run the pass again",
            hook.id
        ));
        Ok(())
    }
}
