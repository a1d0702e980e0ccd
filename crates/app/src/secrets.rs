//! Secret values at rest: the keyring the application seals with, and the passes over every
//! stored secret (seal what is still plain text, re-seal what an older key sealed, check that
//! everything opens).
//!
//! The store holds sealed text only; values are sealed here on the way in and opened on the way
//! out, bound to their row (`autogit_secrets::Binding`) so a value moved to another row does not
//! open. The binary reads the key material (a key file or the environment) and hands it over as a
//! [`Secrets`]; a [`KeyringSource`] lets a running server pick up a rotation done meanwhile by
//! `autogit admin rotate-key`. A new secret column gets a binding function like
//! [`variable_binding`] and its own walk in [`System::reseal_secrets`] (pipeline variables:
//! `pipeline_secrets`; hook URLs and tokens: `webhooks::secrets`).

use crate::{App, AppError, Result, System};
use autogit_secrets::{Binding, KeyId, Keyring, OpenError, Sealed, is_sealed};
use autogit_store::{CiVariable, VariableOwner};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Rows read per batch by the passes.
const BATCH: i64 = 200;
/// Compare-and-set retries for one value that keeps changing under a pass.
const SWAP_TRIES: usize = 5;
/// Failures listed in full; more are counted.
const MAX_LISTED: usize = 20;

/// Where the keyring comes from, read again when it may have changed.
pub trait KeyringSource: Send + Sync {
    /// The keyring, if its source changed since it was last read (`Ok(None)`: unchanged). Cheap
    /// enough to call before every seal (a file's metadata).
    fn changed(&self) -> std::result::Result<Option<Keyring>, String>;
    /// The keyring as its source holds it now.
    fn reload(&self) -> std::result::Result<Keyring, String>;
    /// Where the keys are, for messages: a path or a variable name. Never key material.
    fn describe(&self) -> String;
}

/// The keyring in use, and where to read it again.
pub struct Secrets {
    /// `None` in a process that was given no keys: sealing and opening then fail.
    keyring: RwLock<Option<Arc<Keyring>>>,
    source: Option<Arc<dyn KeyringSource>>,
}

impl Secrets {
    pub fn new(keyring: Keyring, source: Option<Arc<dyn KeyringSource>>) -> Secrets {
        Secrets { keyring: RwLock::new(Some(Arc::new(keyring))), source }
    }

    /// No keys: what an application has until the binary hands it its keyring, so that a path
    /// that forgot to fails loudly instead of sealing with a key nobody keeps.
    pub fn unavailable() -> Secrets {
        Secrets { keyring: RwLock::new(None), source: None }
    }

    /// The keyring in use; an error in a process that was given none.
    pub fn keyring(&self) -> Result<Arc<Keyring>> {
        self.keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| AppError::Internal("this process has no secrets keyring to seal or open values".into()))
    }

    /// Where the keys are, for messages.
    pub fn describe(&self) -> String {
        self.source.as_ref().map_or_else(|| "the in-memory keyring".to_string(), |s| s.describe())
    }

    fn replace(&self, ring: Keyring) {
        *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(ring));
    }

    /// Seals under the current key, after picking up a keyring that changed meanwhile (so that a
    /// rotation in progress never gets a value sealed with the key it is retiring).
    pub(crate) fn seal(&self, binding: &Binding, plain: &str) -> Result<String> {
        if let Some(source) = &self.source {
            match source.changed() {
                Ok(Some(ring)) => {
                    tracing::info!(keyring = ?ring, "secrets keyring changed; using its current key");
                    self.replace(ring);
                }
                Ok(None) => {}
                // The keyring changed and cannot be read: sealing with the key held now could
                // use one a rotation is about to remove.
                Err(e) => {
                    return Err(AppError::Internal(format!(
                        "the secrets keyring {} changed and cannot be read: {e}",
                        source.describe()
                    )));
                }
            }
        }
        Ok(autogit_secrets::seal(&*self.keyring()?, binding, plain, rand::random()))
    }

    /// Opens a sealed value; a key id the keyring lacks makes it read its source again first
    /// (another process may have rotated the key). The outer error: no keyring at all.
    pub(crate) fn open(&self, binding: &Binding, sealed: &str) -> Result<std::result::Result<String, OpenError>> {
        Ok(match autogit_secrets::open(&*self.keyring()?, binding, sealed) {
            Err(OpenError::UnknownKey(id)) => {
                let Some(source) = &self.source else { return Ok(Err(OpenError::UnknownKey(id))) };
                match source.reload() {
                    Ok(ring) => {
                        tracing::info!(keyring = ?ring, wanted = %id, "re-read the secrets keyring for an unknown key id");
                        self.replace(ring);
                    }
                    Err(e) => {
                        tracing::warn!(source = %source.describe(), error = %e, "cannot re-read the secrets keyring")
                    }
                }
                autogit_secrets::open(&*self.keyring()?, binding, sealed)
            }
            other => other,
        })
    }
}

/// What a pass over the stored secrets found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SecretsPass {
    /// Values already sealed with the current key.
    pub current: u64,
    /// Plain-text values (from before values were sealed), sealed now (or to be, when checking).
    pub sealed_plain: u64,
    /// Values of an older key, re-sealed with the current one (or to be).
    pub resealed: u64,
    /// Values sealed per key id, as found before the pass changed anything.
    pub by_key: BTreeMap<KeyId, u64>,
    /// Values that do not open, each named (the first 20; `failed` counts them all).
    pub failures: Vec<String>,
    /// How many values do not open in all.
    pub failed: u64,
}

impl SecretsPass {
    pub(crate) fn record_failure(&mut self, message: String) {
        self.failed += 1;
        if self.failures.len() < MAX_LISTED {
            self.failures.push(message);
        }
    }

    pub(crate) fn tally_key(&mut self, key: Option<KeyId>) {
        if let Some(key) = key {
            *self.by_key.entry(key).or_default() += 1;
        }
    }

    pub(crate) fn tally_resealed(&mut self, stale: bool) {
        if stale {
            self.resealed += 1;
        } else {
            self.sealed_plain += 1;
        }
    }

    /// Adds what another walk found.
    pub(crate) fn merge(&mut self, other: SecretsPass) {
        self.current += other.current;
        self.sealed_plain += other.sealed_plain;
        self.resealed += other.resealed;
        for (key, n) in other.by_key {
            *self.by_key.entry(key).or_default() += n;
        }
        self.failed += other.failed;
        for f in other.failures {
            if self.failures.len() < MAX_LISTED {
                self.failures.push(f);
            }
        }
    }
}

/// A variable's binding: its column and the identity a value must not leave.
pub(crate) fn variable_binding(owner: VariableOwner, key: &str, scope: &str) -> Binding {
    let (kind, id) = match owner {
        VariableOwner::Project(id) => ("project", id.get()),
        VariableOwner::Group(id) => ("group", id.get()),
    };
    Binding::column("ci_variables.value").part(kind).part(id.to_string()).part(key).part(scope)
}

/// How a variable is named in messages (never with its value).
fn variable_name(v: &CiVariable) -> String {
    let owner = match v.owner {
        VariableOwner::Project(id) => format!("project {id}"),
        VariableOwner::Group(id) => format!("group {id}"),
    };
    format!("CI/CD variable {} (environment scope {:?}, id {}) of {owner}", v.key, v.environment_scope, v.id)
}

impl App {
    /// The same application sealing with these secrets.
    #[must_use]
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Arc::new(secrets);
        self
    }

    pub(crate) fn seal_variable_value(
        &self,
        owner: VariableOwner,
        key: &str,
        scope: &str,
        plain: &str,
    ) -> Result<String> {
        self.secrets.seal(&variable_binding(owner, key, scope), plain)
    }

    /// The variable with its value opened. A value that does not open is an internal error that
    /// names the variable and why, never a wrong value.
    pub(crate) fn open_variable(&self, mut v: CiVariable) -> Result<CiVariable> {
        if !is_sealed(&v.value) {
            return Err(AppError::Internal(format!(
                "{} is stored unsealed; `autogit serve` seals such values at start",
                variable_name(&v)
            )));
        }
        let binding = variable_binding(v.owner, &v.key, &v.environment_scope);
        v.value = self
            .secrets
            .open(&binding, &v.value)?
            .map_err(|e| AppError::Internal(format!("{}: {e} ({})", variable_name(&v), self.secrets.describe())))?;
        Ok(v)
    }

    async fn reseal_variable(&self, mut v: CiVariable, check_only: bool, pass: &mut SecretsPass) -> Result<()> {
        for attempt in 0..SWAP_TRIES {
            let binding = variable_binding(v.owner, &v.key, &v.environment_scope);
            let (key, review) = self.review_secret(&binding, &v.value, check_only)?;
            if attempt == 0 {
                pass.tally_key(key);
            }
            match review {
                Review::Current => pass.current += 1,
                Review::Failed(why) => pass.record_failure(format!("{}: {why}", variable_name(&v))),
                Review::Reseal { sealed, stale } => {
                    if !check_only && !self.store.swap_variable_value(v.id, &v.value, &sealed).await? {
                        // Changed meanwhile: look at what is there now (or nothing, if deleted).
                        match self.store.variables_after(v.id - 1, 1).await?.pop() {
                            Some(now) if now.id == v.id => {
                                v = now;
                                continue;
                            }
                            _ => return Ok(()),
                        }
                    }
                    pass.tally_resealed(stale);
                }
            }
            return Ok(());
        }
        pass.record_failure(format!(
            "{}: changed {SWAP_TRIES} times while being re-sealed; run the pass again",
            variable_name(&v)
        ));
        Ok(())
    }

    /// What a pass makes of one stored value sealed under `binding`, and its key id when it is
    /// sealed. The value sealed anew is computed only when not `check_only`.
    pub(crate) fn review_secret(
        &self,
        binding: &Binding,
        value: &str,
        check_only: bool,
    ) -> Result<(Option<KeyId>, Review)> {
        let seal = |plain: &str| if check_only { Ok(value.to_string()) } else { self.secrets.seal(binding, plain) };
        if !is_sealed(value) {
            return Ok((None, Review::Reseal { sealed: seal(value)?, stale: false }));
        }
        let key = match Sealed::parse(value) {
            Ok(s) => s.key,
            Err(e) => return Ok((None, Review::Failed(e.to_string()))),
        };
        let review = match self.secrets.open(binding, value)? {
            Ok(_) if key == self.secrets.keyring()?.current().id() => Review::Current,
            Ok(plain) => Review::Reseal { sealed: seal(&plain)?, stale: true },
            Err(e) => Review::Failed(format!("{e} ({})", self.secrets.describe())),
        };
        Ok((Some(key), review))
    }
}

/// What a pass makes of one stored value.
pub(crate) enum Review {
    /// Sealed with the current key: left as it is.
    Current,
    /// Plain text (`stale: false`) or sealed with an older key (`stale: true`): `sealed` is the
    /// value sealed with the current key (the stored value itself when only checking).
    Reseal { sealed: String, stale: bool },
    /// It does not open: why (never the value).
    Failed(String),
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;

impl System<'_> {
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Walks every stored secret: checks that each opens with the keyring and, unless
    /// `check_only`, seals plain-text values and re-seals values of older keys with the current
    /// key. Each write is a compare-and-set on the value read, so a change made meanwhile (by a
    /// running server) is never lost: the value is read again and looked at anew. Idempotent.
    pub async fn reseal_secrets(&self, check_only: bool) -> Result<SecretsPass> {
        let mut pass = SecretsPass::default();
        let mut after = 0;
        loop {
            let batch = self.store.variables_after(after, BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            for v in batch {
                self.reseal_variable(v, check_only, &mut pass).await?;
            }
        }
        self.reseal_pipeline_variables(check_only, &mut pass).await?;
        self.reseal_hook_secrets(check_only, &mut pass).await?;
        Ok(pass)
    }
}
