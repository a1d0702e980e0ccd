//! Keys and the keyring: one current key that seals, older keys that only open, each known by an
//! id derived from the key itself (so a keyring cannot claim the wrong id for a key, and a value
//! names the key it needs without revealing anything about it).
//!
//! The keyring file is text, one key a line:
//!
//! ```text
//! autogit-keyring 1
//! current 1a2b3c4d <base64 of 32 bytes>
//! old 5e6f7a8b <base64 of 32 bytes>
//! ```
//!
//! `#` comments and blank lines are ignored. The environment form is shorter: one base64 key, or
//! several separated by commas, the first current.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;
use zeroize::Zeroizing;

/// Bytes in a key (XChaCha20-Poly1305 takes 256-bit keys).
pub const KEY_LEN: usize = 32;
/// The first line of a keyring file; the number is the format version.
const HEADER: &str = "autogit-keyring 1";
/// Domain separation for key ids: the id is a hash of the key under this label.
const ID_LABEL: &[u8] = b"autogit-secrets key id\0";

/// Four bytes of SHA-256 over the key, written as 8 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 4]);

impl KeyId {
    /// Parses exactly 8 lowercase hex digits.
    pub fn parse(s: &str) -> Option<KeyId> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let mut id = [0u8; 4];
        hex::decode_to_slice(s, &mut id).ok()?;
        Some(KeyId(id))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 256-bit key. Its bytes are wiped on drop and never printed.
#[derive(Clone)]
pub struct Key {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: KeyId,
}

impl Key {
    /// A key from 32 bytes the caller drew from a secure random source.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        let digest = Sha256::new().chain_update(ID_LABEL).chain_update(bytes).finalize();
        let id = KeyId([digest[0], digest[1], digest[2], digest[3]]);
        Key { bytes: Zeroizing::new(bytes), id }
    }

    /// A key from its base64 text (standard alphabet, padded or not, surrounding space ignored).
    pub fn from_base64(text: &str) -> Result<Key, KeyringError> {
        let t = text.trim().trim_end_matches('=');
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(t).map_err(|_| KeyringError::BadKey)?,
        );
        let bytes: [u8; KEY_LEN] = raw.as_slice().try_into().map_err(|_| KeyringError::BadKey)?;
        Ok(Key::from_bytes(bytes))
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(*self.bytes))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}, [redacted])", self.id)
    }
}

/// What is wrong with a keyring's text. Never quotes key material.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("the first line must be {HEADER:?}")]
    MissingHeader,
    #[error("line {0}: expected `current <id> <base64 key>` or `old <id> <base64 key>`")]
    BadLine(usize),
    #[error("line {0}: the key is not base64 of {KEY_LEN} bytes")]
    BadKeyAt(usize),
    #[error("a key must be base64 of {KEY_LEN} bytes")]
    BadKey,
    #[error("line {line}: the id {written} does not belong to its key (that key's id is {actual})")]
    WrongId { line: usize, written: String, actual: KeyId },
    #[error("key {0} is listed twice")]
    Duplicate(KeyId),
    #[error("no `current` key")]
    NoCurrent,
    #[error("more than one `current` key")]
    SeveralCurrent,
    #[error("no key given")]
    Empty,
}

/// The current key (which seals) and older keys (which still open what they sealed).
#[derive(Clone)]
pub struct Keyring {
    current: KeyId,
    keys: BTreeMap<KeyId, Key>,
}

impl Keyring {
    /// A keyring of one key.
    pub fn new(current: Key) -> Keyring {
        let id = current.id();
        Keyring { current: id, keys: BTreeMap::from([(id, current)]) }
    }

    pub fn current(&self) -> &Key {
        &self.keys[&self.current]
    }

    pub fn get(&self, id: KeyId) -> Option<&Key> {
        self.keys.get(&id)
    }

    /// Every key id, current first.
    pub fn ids(&self) -> Vec<KeyId> {
        let mut out = vec![self.current];
        out.extend(self.keys.keys().copied().filter(|id| *id != self.current));
        out
    }

    /// This keyring with `new` as its current key and every key it had kept for opening.
    /// `Duplicate` when `new` is already in it.
    pub fn rotated(&self, new: Key) -> Result<Keyring, KeyringError> {
        let id = new.id();
        if self.keys.contains_key(&id) {
            return Err(KeyringError::Duplicate(id));
        }
        let mut keys = self.keys.clone();
        keys.insert(id, new);
        Ok(Keyring { current: id, keys })
    }

    /// Only the current key: the older ones retired.
    #[must_use]
    pub fn retired(&self) -> Keyring {
        Keyring::new(self.current().clone())
    }

    /// The keyring file's text. Holds key material: the caller writes it owner-only.
    pub fn render(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        out.push_str(
            "# AutoGit secrets keyring. Keep it private (mode 0600) and back it up apart from the\n\
             # database: without it the encrypted values (CI/CD variables) cannot be read.\n\
             # `autogit admin rotate-key` adds a new current key; `--drop-old` removes the old ones.\n",
        );
        out.push_str(HEADER);
        out.push('\n');
        for id in self.ids() {
            let role = if id == self.current { "current" } else { "old" };
            let key = self.keys[&id].to_base64();
            out.push_str(&format!("{role} {id} {}\n", key.as_str()));
        }
        out
    }

    /// Parses the keyring file's text (see the module documentation).
    pub fn parse(text: &str) -> Result<Keyring, KeyringError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        match lines.next() {
            Some((_, l)) if l.split_whitespace().collect::<Vec<_>>().join(" ") == HEADER => {}
            _ => return Err(KeyringError::MissingHeader),
        }
        let mut current = None;
        let mut keys = BTreeMap::new();
        for (n, line) in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [role, written, b64] = fields[..] else { return Err(KeyringError::BadLine(n)) };
            if !matches!(role, "current" | "old") {
                return Err(KeyringError::BadLine(n));
            }
            let key = Key::from_base64(b64).map_err(|_| KeyringError::BadKeyAt(n))?;
            if KeyId::parse(written) != Some(key.id()) {
                return Err(KeyringError::WrongId {
                    line: n,
                    written: written.chars().take(16).collect(),
                    actual: key.id(),
                });
            }
            if role == "current" {
                if current.is_some() {
                    return Err(KeyringError::SeveralCurrent);
                }
                current = Some(key.id());
            }
            if keys.insert(key.id(), key.clone()).is_some() {
                return Err(KeyringError::Duplicate(key.id()));
            }
        }
        let current = current.ok_or(KeyringError::NoCurrent)?;
        Ok(Keyring { current, keys })
    }

    /// The environment form: base64 keys separated by commas, the first current.
    pub fn from_key_list(text: &str) -> Result<Keyring, KeyringError> {
        let mut parts = text.split(',').map(str::trim).filter(|p| !p.is_empty());
        let first = Key::from_base64(parts.next().ok_or(KeyringError::Empty)?)?;
        let mut ring = Keyring::new(first);
        for p in parts {
            let key = Key::from_base64(p)?;
            let id = key.id();
            if ring.keys.insert(id, key).is_some() {
                return Err(KeyringError::Duplicate(id));
            }
        }
        Ok(ring)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.ids().iter().map(KeyId::to_string).collect();
        write!(f, "Keyring(current {}, keys [{}])", self.current, ids.join(", "))
    }
}

impl PartialEq for Keyring {
    fn eq(&self, other: &Keyring) -> bool {
        self.current == other.current
            && self.keys.len() == other.keys.len()
            && self.keys.iter().all(|(id, k)| other.keys.get(id).is_some_and(|o| o.bytes() == k.bytes()))
    }
}

impl Eq for Keyring {}

#[cfg(test)]
#[path = "keyring_tests.rs"]
mod tests;
