//! The sealed text format and the AEAD around it.
//!
//! `agsec:v1:<key id>:<base64url without padding of nonce ‖ ciphertext ‖ tag>`. The associated
//! data covers the header (`agsec:v1:<key id>`) and the [`Binding`], each part length-prefixed so
//! that no two different bindings encode alike.

use crate::keyring::{KeyId, Keyring};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use thiserror::Error;

/// What every sealed value starts with. A value without it is plain text (from before values
/// were sealed).
pub const SEALED_PREFIX: &str = "agsec:";
/// The format version this code writes.
const VERSION: &str = "v1";
/// Bytes in an XChaCha20 nonce: large enough to draw at random for every value.
pub const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Domain separation of the associated data.
const AAD_LABEL: &[u8] = b"autogit-secret\0";

/// Where a sealed value belongs: the column, then the parts that identify its row. A value opens
/// only with the binding it was sealed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    parts: Vec<String>,
}

impl Binding {
    /// A binding to a column, written `table.column` (e.g. `ci_variables.value`).
    pub fn column(column: &str) -> Binding {
        Binding { parts: vec![column.to_string()] }
    }

    /// The same binding narrowed by one more identifying part.
    #[must_use]
    pub fn part(mut self, part: impl Into<String>) -> Binding {
        self.parts.push(part.into());
        self
    }

    fn aad(&self, key: KeyId) -> Vec<u8> {
        let mut out = Vec::from(AAD_LABEL);
        out.extend_from_slice(format!("{SEALED_PREFIX}{VERSION}:{key}").as_bytes());
        for p in &self.parts {
            out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(p.as_bytes());
        }
        out
    }
}

/// Why a value does not open. The messages never include the value.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("the value is not sealed (no `{SEALED_PREFIX}` prefix)")]
    NotSealed,
    #[error("the sealed value is malformed: {0}")]
    Malformed(&'static str),
    #[error("the sealed value has format version {0:?}, which this AutoGit does not know")]
    UnsupportedVersion(String),
    #[error("the value was sealed with key {0}, which is not in the keyring")]
    UnknownKey(KeyId),
    #[error(
        "the value does not authenticate under key {0}: the key differs, or the value was changed or moved from another row"
    )]
    Rejected(KeyId),
}

/// The parts of a sealed value's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key: KeyId,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl Sealed {
    /// Parses the text form without opening it. `NotSealed` when the prefix is missing.
    pub fn parse(text: &str) -> Result<Sealed, OpenError> {
        let rest = text.strip_prefix(SEALED_PREFIX).ok_or(OpenError::NotSealed)?;
        let (version, rest) = rest.split_once(':').ok_or(OpenError::Malformed("no version"))?;
        if version != VERSION {
            return Err(OpenError::UnsupportedVersion(version.chars().take(16).collect()));
        }
        let (id, body) = rest.split_once(':').ok_or(OpenError::Malformed("no key id"))?;
        let key = KeyId::parse(id).ok_or(OpenError::Malformed("the key id is not 8 lowercase hex digits"))?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| OpenError::Malformed("the body is not base64url"))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed("the body is too short"));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed("the nonce"))?;
        Ok(Sealed { key, nonce, ciphertext: ciphertext.to_vec() })
    }

    fn render(&self) -> String {
        let mut raw = Vec::with_capacity(NONCE_LEN + self.ciphertext.len());
        raw.extend_from_slice(&self.nonce);
        raw.extend_from_slice(&self.ciphertext);
        format!("{SEALED_PREFIX}{VERSION}:{}:{}", self.key, URL_SAFE_NO_PAD.encode(raw))
    }
}

/// Whether `value` is in the sealed format's namespace (it may still be malformed).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// Seals `plaintext` for `binding` under the keyring's current key. `nonce` must be fresh random
/// bytes for every call (24 bytes make random collisions negligible).
pub fn seal(keyring: &Keyring, binding: &Binding, plaintext: &str, nonce: [u8; NONCE_LEN]) -> String {
    let key = keyring.current();
    let cipher = XChaCha20Poly1305::new(&(*key.bytes()).into());
    let aad = binding.aad(key.id());
    let ciphertext = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: plaintext.as_bytes(), aad: &aad })
        .expect("XChaCha20-Poly1305 encrypts any message shorter than 256 GiB");
    Sealed { key: key.id(), nonce, ciphertext }.render()
}

/// Opens a sealed value that was sealed for `binding` with a key of the keyring.
pub fn open(keyring: &Keyring, binding: &Binding, sealed: &str) -> Result<String, OpenError> {
    let s = Sealed::parse(sealed)?;
    let key = keyring.get(s.key).ok_or(OpenError::UnknownKey(s.key))?;
    let cipher = XChaCha20Poly1305::new(&(*key.bytes()).into());
    let aad = binding.aad(s.key);
    let plain = cipher
        .decrypt(&XNonce::from(s.nonce), Payload { msg: &s.ciphertext, aad: &aad })
        .map_err(|_| OpenError::Rejected(s.key))?;
    // Only text is ever sealed, and the tag proves these bytes are what was sealed.
    String::from_utf8(plain).map_err(|_| OpenError::Malformed("the plaintext is not UTF-8"))
}

#[cfg(test)]
#[path = "seal_tests.rs"]
mod tests;
