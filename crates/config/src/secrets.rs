//! `[secrets]`: where the key that seals secret values at rest (CI/CD variable values) comes
//! from. The key is never in the database: a key file (by default `<data_dir>/secrets.key`,
//! created owner-only on first start) or the environment.

use crate::{ConfigError, Secret};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// The keyring file. Empty means `<data_dir>/secrets.key`. Created with a new random key
    /// (mode 0600) when missing and the database holds no sealed value; `autogit admin
    /// rotate-key` rewrites it.
    pub key_file: String,
    /// The keys themselves instead of a file: base64 of 32 bytes, or several separated by commas,
    /// the first one current (it seals; the others only open). Rotate by putting a new key first,
    /// restarting (values are re-sealed at start), then dropping the old one.
    pub key: Secret,
}

impl SecretsConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.key.is_empty() && !self.key_file.is_empty() {
            return Err(ConfigError::Invalid("secrets.key and secrets.key_file: set one of them, not both".into()));
        }
        Ok(())
    }

    /// The keyring file in use when no key is given directly.
    pub fn key_file(&self, data_dir: &Path) -> PathBuf {
        if self.key_file.is_empty() { data_dir.join("secrets.key") } else { PathBuf::from(&self.key_file) }
    }
}
