//! Pipeline variables at rest. The variables given when a pipeline is run (`POST
//! /projects/:id/pipeline` `variables`) often carry a secret, as CI/CD settings variables do:
//! their values are sealed like those (ADR 0009) on the way into the store and opened when a
//! job is handed out. A pipeline's id is not known while its variables are sealed (they are
//! written with it), so a value is bound to its column, project and key: it does not open in
//! another project or under another name.

use crate::secrets::{Review, SecretsPass};
use crate::{App, AppError, Result};
use autogit_core::ProjectId;
use autogit_secrets::{Binding, is_sealed};
use autogit_store::Pipeline;

/// Pipelines read per batch by the passes.
const BATCH: i64 = 200;
/// Compare-and-set retries for one pipeline whose variables keep changing under a pass.
const SWAP_TRIES: usize = 5;

fn binding(project_id: ProjectId, key: &str) -> Binding {
    Binding::column("pipelines.variables").part("project").part(project_id.to_string()).part(key)
}

fn name(p: &Pipeline, key: &str) -> String {
    format!("pipeline variable {key} of pipeline {} (project {})", p.id, p.project_id)
}

impl App {
    /// The variables of a new pipeline of `project_id`, values sealed.
    pub(crate) fn seal_pipeline_variables(
        &self,
        project_id: ProjectId,
        vars: &[(String, String)],
    ) -> Result<Vec<(String, String)>> {
        vars.iter().map(|(k, v)| Ok((k.clone(), self.secrets.seal(&binding(project_id, k), v)?))).collect()
    }

    /// A stored pipeline's variables, values opened. A value that does not open (or was stored
    /// unsealed) is an internal error that names it, never a wrong value.
    pub(crate) fn open_pipeline_variables(&self, p: &Pipeline) -> Result<Vec<(String, String)>> {
        p.variables
            .iter()
            .map(|(k, v)| {
                if !is_sealed(v) {
                    return Err(AppError::Internal(format!(
                        "{} is stored unsealed; `autogit serve` seals such values at start",
                        name(p, k)
                    )));
                }
                let plain = self
                    .secrets
                    .open(&binding(p.project_id, k), v)?
                    .map_err(|e| AppError::Internal(format!("{}: {e} ({})", name(p, k), self.secrets.describe())))?;
                Ok((k.clone(), plain))
            })
            .collect()
    }

    /// The pipelines' part of [`System::reseal_secrets`](crate::System::reseal_secrets): every
    /// stored pipeline variable checked, and unless `check_only` sealed (plain text) or re-sealed
    /// (an older key), one compare-and-set per pipeline.
    pub(crate) async fn reseal_pipeline_variables(&self, check_only: bool, pass: &mut SecretsPass) -> Result<()> {
        let mut after = None;
        loop {
            let batch = self.store.pipelines_with_variables_after(after, BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.id);
            for p in batch {
                self.reseal_pipeline(p, check_only, pass).await?;
            }
        }
        Ok(())
    }

    async fn reseal_pipeline(&self, mut p: Pipeline, check_only: bool, pass: &mut SecretsPass) -> Result<()> {
        for attempt in 0..SWAP_TRIES {
            let mut found = SecretsPass::default();
            let mut next = Vec::with_capacity(p.variables.len());
            for (k, v) in &p.variables {
                let (key, review) = self.review_secret(&binding(p.project_id, k), v, check_only)?;
                found.tally_key(key);
                let kept = match review {
                    Review::Current => {
                        found.current += 1;
                        v.clone()
                    }
                    Review::Failed(why) => {
                        found.record_failure(format!("{}: {why}", name(&p, k)));
                        v.clone()
                    }
                    Review::Reseal { sealed, stale } => {
                        found.tally_resealed(stale);
                        sealed
                    }
                };
                next.push((k.clone(), kept));
            }
            let changed = found.sealed_plain + found.resealed > 0;
            if check_only || !changed || self.store.swap_pipeline_variables(p.id, &p.variables, &next).await? {
                pass.merge(found);
                return Ok(());
            }
            // Changed meanwhile: look at what is there now (or nothing, if deleted).
            match self.store.pipeline_by_id(p.id).await? {
                Some(now) if attempt + 1 < SWAP_TRIES => p = now,
                Some(_) => break,
                None => return Ok(()),
            }
        }
        pass.record_failure(format!(
            "the variables of pipeline {} changed {SWAP_TRIES} times while being re-sealed; run the pass again",
            p.id
        ));
        Ok(())
    }
}
