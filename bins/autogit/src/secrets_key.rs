//! The keyring that seals secret values at rest, read from outside the database (ADR 0009):
//! `[secrets] key` (`AUTOGIT_SECRETS_KEY`), or the key file (`[secrets] key_file`, by default
//! `<data_dir>/secrets.key`), which `serve` creates owner-only with a new random key on first
//! start — unless the database already holds sealed values, which a new key could never open.
//!
//! The application gets the keyring with a [`KeyringSource`] so that a running server notices a
//! rotation made by `autogit admin rotate-key` (the file's size, mtime or inode changed, or a
//! value names a key id it lacks) and reads the file again.

use anyhow::{Context, Result, bail};
use autogit_app::App;
use autogit_app::secrets::{KeyringSource, Secrets, SecretsPass};
use autogit_config::Config;
use autogit_secrets::{KEY_LEN, Key, Keyring};
use rand::TryRngCore;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where the keys are, for messages about the environment form.
const ENV_NAME: &str = "AUTOGIT_SECRETS_KEY ([secrets] key)";

/// A new key from the operating system's random source.
pub fn new_key() -> Result<Key> {
    let mut bytes = [0u8; KEY_LEN];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).context("reading the system's random source for a new key")?;
    Ok(Key::from_bytes(bytes))
}

/// Reads and parses a keyring file; errors name the file and the line, never key material.
pub fn read_file(path: &Path) -> Result<Keyring> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading the secrets key file {}", path.display()))?,
    );
    Keyring::parse(&text).with_context(|| format!("secrets key file {}", path.display()))
}

/// Replaces the keyring file atomically (a new 0600 file renamed over the old), so that a crash
/// leaves either the old or the new keyring, never half of one.
pub fn write_file(path: &Path, ring: &Keyring) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{:08x}", rand::random::<u32>()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        // Rewritten by `admin rotate-key` (perhaps as root), the file must stay readable by the
        // server that owns it.
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::MetadataExt;
            std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()))?;
        }
        f.write_all(ring.render().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = written {
        std::fs::remove_file(&tmp).ok();
        return Err(e).with_context(|| format!("writing the secrets key file {}", path.display()));
    }
    Ok(())
}

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok(Stamp {
        len: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        ino: m.ino(),
    })
}

/// The key file, read again when it changed.
struct FileSource {
    path: PathBuf,
    seen: Mutex<Option<Stamp>>,
}

impl KeyringSource for FileSource {
    fn changed(&self) -> std::result::Result<Option<Keyring>, String> {
        let now = stamp(&self.path).map_err(|e| e.to_string())?;
        if *self.seen.lock().unwrap_or_else(|e| e.into_inner()) == Some(now) {
            return Ok(None);
        }
        self.reload().map(Some)
    }

    fn reload(&self) -> std::result::Result<Keyring, String> {
        let before = stamp(&self.path).ok();
        let ring = read_file(&self.path).map_err(|e| format!("{e:#}"))?;
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = before;
        Ok(ring)
    }

    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }
}

/// Keys given in the configuration: nothing to re-read.
struct FixedSource(Keyring);

impl KeyringSource for FixedSource {
    fn changed(&self) -> std::result::Result<Option<Keyring>, String> {
        Ok(None)
    }

    fn reload(&self) -> std::result::Result<Keyring, String> {
        Ok(self.0.clone())
    }

    fn describe(&self) -> String {
        ENV_NAME.to_string()
    }
}

/// The application with its keyring: from the configuration, or from the key file, which is
/// created on first start. Refuses to create a key file while the database holds sealed values.
pub async fn attach(app: App, config: &Config) -> Result<App> {
    if !config.secrets.key.is_empty() {
        let ring = Keyring::from_key_list(config.secrets.key.expose()).with_context(|| ENV_NAME.to_string())?;
        tracing::info!(keyring = ?ring, "secrets keyring from the configuration");
        let source = Arc::new(FixedSource(ring.clone()));
        return Ok(app.with_secrets(Secrets::new(ring, Some(source))));
    }
    let path = config.secrets.key_file(&config.data_dir);
    if !path.try_exists().with_context(|| format!("checking the secrets key file {}", path.display()))? {
        let ring = Keyring::new(new_key()?);
        let probe = app.clone().with_secrets(Secrets::new(ring.clone(), None));
        let found = probe.system().reseal_secrets(true).await.context("looking for sealed values")?;
        if !found.by_key.is_empty() {
            let ids: Vec<String> = found.by_key.keys().map(ToString::to_string).collect();
            bail!(
                "the secrets key file {} does not exist, but the database holds values sealed with key(s) {}. \
                 Restore the key file from a backup (or give the keys in AUTOGIT_SECRETS_KEY): a new key could \
                 never open those values",
                path.display(),
                ids.join(", ")
            );
        }
        write_file(&path, &ring)?;
        tracing::info!(path = %path.display(), key = %ring.current().id(), "created the secrets key file");
    }
    let ring = read_file(&path)?;
    let source = Arc::new(FileSource { path: path.clone(), seen: Mutex::new(stamp(&path).ok()) });
    tracing::info!(path = %path.display(), keyring = ?ring, "secrets keyring loaded");
    Ok(app.with_secrets(Secrets::new(ring, Some(source))))
}

/// `serve`'s start-up pass: every stored secret must open (else refuse to start, naming each
/// one), then plain-text values from before sealing are sealed and values of older keys
/// re-sealed with the current key.
pub async fn seal_at_start(app: &App) -> Result<()> {
    let check = app.system().reseal_secrets(true).await.context("checking the stored secrets")?;
    refuse_failures(app, &check)?;
    let done = app.system().reseal_secrets(false).await.context("sealing the stored secrets")?;
    refuse_failures(app, &done)?;
    tracing::info!(
        current = done.current,
        sealed_plain = done.sealed_plain,
        resealed = done.resealed,
        "secret values at rest are sealed"
    );
    Ok(())
}

/// An error listing every value that does not open, and what to do.
pub fn refuse_failures(app: &App, pass: &SecretsPass) -> Result<()> {
    if pass.failed == 0 {
        return Ok(());
    }
    let mut msg = format!(
        "{} stored secret value(s) cannot be opened with {}:\n",
        pass.failed,
        app.system().secrets().describe()
    );
    for f in &pass.failures {
        msg.push_str(&format!("  - {f}\n"));
    }
    if pass.failed > pass.failures.len() as u64 {
        msg.push_str(&format!("  - … and {} more\n", pass.failed - pass.failures.len() as u64));
    }
    msg.push_str(
        "Give AutoGit the key file (or AUTOGIT_SECRETS_KEY) these values were sealed with, e.g. from a backup. \
         AutoGit will not start rather than hand out values it cannot vouch for.",
    );
    bail!(msg)
}

/// `autogit admin rotate-key`: a new current key and every value re-sealed with it; the old keys
/// stay in the key file for opening only. `--drop-old` (later, or at once where no server runs)
/// removes them after re-sealing any value still under one. Keeping them until then is what makes
/// the rotation safe while a server runs: a value that server sealed just before it saw the new
/// file still opens, and `--drop-old` re-seals it first.
pub async fn rotate(app: App, config: &Config, drop_old: bool) -> Result<()> {
    if !config.secrets.key.is_empty() {
        bail!(
            "the keys come from {ENV_NAME}, which AutoGit cannot rewrite. To rotate: put a new key \
             (`openssl rand -base64 32`) first in that comma-separated list, restart `autogit serve` (it re-seals \
             every value with the first key at start), then remove the old key"
        );
    }
    let path = config.secrets.key_file(&config.data_dir);
    if !path.try_exists().unwrap_or(false) {
        bail!("no secrets key file at {}: start `autogit serve` once to create it", path.display());
    }
    let old = read_file(&path)?;
    let app = app.with_secrets(Secrets::new(old.clone(), None));
    refuse_failures(&app, &app.system().reseal_secrets(true).await?)?;
    let ring = if drop_old {
        old.clone()
    } else {
        let ring = old.rotated(new_key()?).context("adding the new key")?;
        write_file(&path, &ring)?;
        ring
    };
    let app = app.with_secrets(Secrets::new(ring.clone(), None));
    let resealed = reseal_until_current(&app, &path).await?;
    if !drop_old {
        let kept: Vec<String> = old.ids().iter().map(ToString::to_string).collect();
        println!(
            "rotated the secrets key: new key {}, {resealed} value(s) re-sealed; old key(s) {} kept for opening in {}. \
             Once every running server has written with the new key (or restarted), run \
             `autogit admin rotate-key --drop-old` to remove them",
            ring.current().id(),
            kept.join(", "),
            path.display()
        );
        return Ok(());
    }
    let dropped: Vec<String> = ring.ids().iter().skip(1).map(ToString::to_string).collect();
    write_file(&path, &ring.retired())?;
    // A value sealed under an old key after the passes above (a write already in flight) is
    // re-sealed while this process still holds that key.
    let late = reseal_until_current(&app, &path).await?;
    println!(
        "secrets key {}: {} value(s) re-sealed, old key(s) {} removed from {}",
        ring.current().id(),
        resealed + late,
        if dropped.is_empty() { "(none)".to_string() } else { dropped.join(", ") },
        path.display()
    );
    Ok(())
}

/// Re-sealing passes until no value is under a key other than the current one (a server may
/// seal with an older key until it sees the rewritten file). Returns how many were re-sealed.
async fn reseal_until_current(app: &App, path: &Path) -> Result<u64> {
    let mut resealed = 0;
    for round in 1..=5 {
        let pass = app.system().reseal_secrets(false).await?;
        refuse_failures(app, &pass)
            .with_context(|| format!("{} keeps every key; run rotate-key again once fixed", path.display()))?;
        resealed += pass.resealed + pass.sealed_plain;
        let check = app.system().reseal_secrets(true).await?;
        if check.resealed == 0 && check.sealed_plain == 0 && check.failed == 0 {
            return Ok(resealed);
        }
        if round == 5 {
            bail!("values under old keys keep appearing; {} keeps every key: run rotate-key again", path.display());
        }
    }
    Ok(resealed)
}
