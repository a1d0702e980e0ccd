//! Secret values at rest: CI/CD variable values today, and every later secret column (mirror
//! credentials, OIDC client secrets, webhook tokens) through the same two calls, [`seal`] and
//! [`open`].
//!
//! A sealed value is text, so it fits the `TEXT` columns the values had before:
//! `agsec:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, XChaCha20-Poly1305 with a random
//! 24-byte nonce (ADR 0009). The associated data is the format header plus a [`Binding`]: the
//! column and the row's identity (owner, key, scope…), so a sealed value copied into another row
//! or column by someone with write access to the database does not open there.
//!
//! Keys live in a [`Keyring`] (one current key that seals, older ones that still open) that the
//! caller reads from outside the database. **Architecture invariant:** pure — no I/O, no clock,
//! no randomness: keys and nonces are passed in, so every path is testable and fuzzable.

mod keyring;
mod seal;

pub use keyring::{KEY_LEN, Key, KeyId, Keyring, KeyringError};
pub use seal::{Binding, NONCE_LEN, OpenError, SEALED_PREFIX, Sealed, is_sealed, open, seal};
