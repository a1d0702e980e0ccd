//! The server's host key: Ed25519, created on first start in `<dir>/ssh_host_ed25519_key`
//! (directory 0700, file 0600, OpenSSH format) and read back on every later start, so clients'
//! `known_hosts` entries stay valid.

use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

const FILE: &str = "ssh_host_ed25519_key";

/// Reads the host key in `dir`, creating it (and `dir`) when missing.
pub fn load_or_create_host_key(dir: &Path) -> std::io::Result<PrivateKey> {
    let path = dir.join(FILE);
    if path.exists() {
        return russh::keys::load_secret_key(&path, None)
            .map_err(|e| std::io::Error::other(format!("reading the SSH host key {}: {e}", path.display())));
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let seed: [u8; 32] = rand::random();
    let key = PrivateKey::new(KeypairData::Ed25519(Ed25519Keypair::from_seed(&seed)), "autogit host key")
        .map_err(|e| std::io::Error::other(format!("making an SSH host key: {e}")))?;
    let text =
        key.to_openssh(LineEnding::LF).map_err(|e| std::io::Error::other(format!("encoding the SSH host key: {e}")))?;
    // create_new: two servers starting on one data directory never overwrite each other's key.
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), fingerprint = %key.public_key().fingerprint(Default::default()), "created the SSH host key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_owner_only_and_read_back_unchanged() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let ssh = dir.path().join("ssh");
        let first = load_or_create_host_key(&ssh).expect("created");
        let second = load_or_create_host_key(&ssh).expect("read back");
        assert_eq!(first.public_key(), second.public_key());
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!((mode(&ssh), mode(&ssh.join(FILE))), (0o700, 0o600));
    }
}
