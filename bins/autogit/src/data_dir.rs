//! The data directory is private to the user AutoGit runs as: the umask of `serve` and `admin`
//! is 077, so everything they create (and git, runner and job processes they start, which
//! inherit the umask)
//! is owner-only — directories 0700, files 0600, SQLite's `-wal`/`-shm` included; the key
//! directories are created 0700 explicitly as well.
//!
//! What already exists keeps its mode: an administrator may have opened a path to a backup
//! group on purpose, and a server that silently chmods its data directory would undo that at
//! every start. Instead `serve` checks the top entries at start and warns, naming each path that
//! group or others can reach and the `chmod` that closes it.

use anyhow::{Context, Result};
use autogit_config::Config;
use nix::sys::stat::{Mode, umask};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Subdirectories of the data directory that hold private data.
const PRIVATE_DIRS: [&str; 4] = ["repositories", "artifacts", "pools", "builds"];
/// Files in the data directory that hold secrets or private data.
const PRIVATE_FILES: [&str; 2] = ["initial_root_password", "builtin-runner.toml"];

/// Makes every file and directory this process (and its children) creates owner-only.
pub fn private_umask() {
    umask(Mode::from_bits_truncate(0o077));
}

/// Creates the data directory and its key subdirectories, mode 0700, where missing.
pub fn create(config: &Config) -> Result<()> {
    let root = &config.data_dir;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    for dir in std::iter::once(root.clone()).chain(PRIVATE_DIRS.iter().map(|d| root.join(d))) {
        builder.create(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// The embedded database's file, when the store is SQLite on a file.
fn sqlite_file(config: &Config) -> Option<PathBuf> {
    let url = config.database_url();
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// The paths whose modes are checked at start: the data directory, its key subdirectories, the
/// database files, the key file and the files holding secrets.
pub fn checked_paths(config: &Config) -> Vec<PathBuf> {
    let root = &config.data_dir;
    let mut out = vec![root.clone()];
    out.extend(PRIVATE_DIRS.iter().map(|d| root.join(d)));
    if let Some(db) = sqlite_file(config) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            out.push(PathBuf::from(name));
        }
    }
    if config.secrets.key.is_empty() {
        out.push(config.secrets.key_file(root));
    }
    out.extend(PRIVATE_FILES.iter().map(|f| root.join(f)));
    out
}

/// Each existing path of `paths` that group or others can access: (path, mode, the fix).
pub fn loose(paths: &[PathBuf]) -> Vec<(PathBuf, u32, String)> {
    let mut out = Vec::new();
    for p in paths {
        // Follows symlinks: what matters is who can read the data, wherever it lives.
        let Ok(meta) = std::fs::metadata(p) else { continue };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            let owner_only = if meta.is_dir() { "700" } else { "600" };
            out.push((p.clone(), mode, format!("chmod {owner_only} {}", shell_quote(p))));
        }
    }
    out
}

/// Logs a warning for every checked path that group or others can access.
pub fn warn_loose(config: &Config) {
    for (path, mode, fix) in loose(&checked_paths(config)) {
        tracing::warn!(
            path = %path.display(),
            mode = %format!("{mode:04o}"),
            fix = %fix,
            "group or other users can access this AutoGit data; AutoGit creates it owner-only but keeps the mode it \
             found. Run the fix unless that access is intended"
        );
    }
}

/// A path as one shell word.
fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+@:".contains(&b)) {
        s
    } else {
        autogit_protocol::shell::quote(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_modes_are_found_with_their_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let open_dir = dir.path().join("open dir");
        std::fs::create_dir(&open_dir).expect("mkdir");
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let open_file = dir.path().join("db");
        std::fs::write(&open_file, "x").expect("write");
        std::fs::set_permissions(&open_file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let closed = dir.path().join("key");
        std::fs::write(&closed, "x").expect("write");
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let missing = dir.path().join("missing");
        let found = loose(&[open_dir.clone(), open_file.clone(), closed, missing]);
        assert_eq!(
            found,
            vec![
                (open_dir.clone(), 0o755, format!("chmod 700 '{}'", open_dir.display())),
                (open_file.clone(), 0o640, format!("chmod 600 {}", open_file.display())),
            ]
        );
    }

    #[test]
    fn checked_paths_cover_the_database_files_and_the_key() {
        let config = Config { data_dir: PathBuf::from("/srv/ag"), ..Config::default() };
        let paths = checked_paths(&config);
        for want in ["/srv/ag", "/srv/ag/autogit.db-wal", "/srv/ag/secrets.key", "/srv/ag/repositories"] {
            assert!(paths.contains(&PathBuf::from(want)), "{want} in {paths:?}");
        }
        let mut pg = config.clone();
        pg.database.url = autogit_config::Secret::new("postgres://u@h/db");
        assert!(!checked_paths(&pg).iter().any(|p| p.to_string_lossy().contains("autogit.db")));
    }
}
