//! Server-managed hooks for `git receive-pack`.
//!
//! Every push runs with `-c core.hooksPath=<dir>` on git's command line, which overrides any
//! `core.hooksPath` a repository's own config might set and stops git from looking in the
//! repository's `hooks/` directory: whatever sits in a repository, no hook of it ever runs. The
//! directory is one of two that the server creates at start, owner-only (0700), below its data
//! directory:
//! - `none/`: empty — pushes that no protection rule can refuse run without any hook;
//! - `policy/`: a `pre-receive` script that execs `<autogit> hook pre-receive`, which reads the
//!   push's policy from [`POLICY_ENV`] (set by the server, never by the client) and refuses
//!   updates of protected branches with GitLab's messages. It runs after the objects arrived and
//!   before any ref moves, so a refused push changes nothing.

use crate::{Error, Result};
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The environment variable that carries the push policy text to the pre-receive hook.
pub const POLICY_ENV: &str = "AUTOGIT_PUSH_POLICY";

/// The two hook directories; see the module docs.
#[derive(Debug, Clone)]
pub struct ServerHooks {
    none: PathBuf,
    policy: PathBuf,
}

/// How one receive-pack child runs hooks.
#[derive(Debug, Clone)]
pub struct ReceiveHooks {
    /// Becomes `core.hooksPath`.
    pub dir: PathBuf,
    /// Set in the child's environment (and so its hooks').
    pub env: Vec<(&'static str, String)>,
}

impl ReceiveHooks {
    /// `core.hooksPath=<dir>`, for `git -c`.
    pub(crate) fn config_arg(&self) -> OsString {
        let mut arg = OsString::from("core.hooksPath=");
        arg.push(&self.dir);
        arg
    }
}

fn refuse(what: &str, path: &Path) -> Error {
    Error::Io(std::io::Error::other(format!("{what}: {}", path.display())))
}

/// A directory of ours: created if missing, never a symlink, mode 0700, and owned by `uid`.
fn own_dir(path: &Path, uid: u32) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
            return Err(refuse("hook directory is not a plain directory", path));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::create_dir(path)?,
        Err(e) => return Err(e.into()),
    }
    if fs::symlink_metadata(path)?.uid() != uid {
        return Err(refuse("hook directory belongs to another user", path));
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Removes every entry of `dir` but `keep`.
fn clear(dir: &Path, keep: Option<&str>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if keep.is_some_and(|k| entry.file_name() == k) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() { fs::remove_dir_all(&path)? } else { fs::remove_file(&path)? }
    }
    Ok(())
}

/// `'…'` for sh, with `'` written as `'\''`.
fn sh_quote(path: &Path) -> Result<String> {
    let s = path.to_str().ok_or_else(|| refuse("the autogit binary's path is not UTF-8", path))?;
    if s.contains(['\n', '\0']) {
        return Err(refuse("the autogit binary's path contains a line break", path));
    }
    Ok(format!("'{}'", s.replace('\'', r"'\''")))
}

impl ServerHooks {
    /// Creates or repairs the hook directories below `dir` (its parent must exist), with a
    /// `pre-receive` that runs `binary hook pre-receive`. Blocking file I/O: call it at start-up.
    pub fn install(dir: &Path, binary: &Path) -> Result<ServerHooks> {
        if !binary.is_absolute() {
            return Err(refuse("the autogit binary's path must be absolute", binary));
        }
        // git resolves a relative core.hooksPath against each repository: the hook would not run.
        if !dir.is_absolute() {
            return Err(refuse("the hooks directory's path must be absolute", dir));
        }
        let script = format!(
            "#!/bin/sh\n# Written by `autogit serve` at every start: refuses pushes that protected branches forbid.\n\
             exec {} hook pre-receive\n",
            sh_quote(binary)?
        );
        if !dir.exists() {
            fs::create_dir(dir)?;
        }
        let uid = nix::unistd::geteuid().as_raw();
        own_dir(dir, uid)?;
        let hooks = ServerHooks { none: dir.join("none"), policy: dir.join("policy") };
        own_dir(&hooks.none, uid)?;
        clear(&hooks.none, None)?;
        own_dir(&hooks.policy, uid)?;
        clear(&hooks.policy, Some("pre-receive"))?;
        // Written beside and renamed over: a push running meanwhile sees the old or the new hook.
        let tmp = hooks.policy.join(format!(".pre-receive.{}", std::process::id()));
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o700).open(&tmp)?;
        f.write_all(script.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o500))?;
        fs::rename(&tmp, hooks.policy.join("pre-receive"))?;
        Ok(hooks)
    }

    /// Hooks for a push without a policy: none run.
    pub fn none(&self) -> ReceiveHooks {
        ReceiveHooks { dir: self.none.clone(), env: Vec::new() }
    }

    /// Hooks for a push decided by `policy_text` (`PushPolicy::encode`).
    pub fn with_policy(&self, policy_text: String) -> ReceiveHooks {
        ReceiveHooks { dir: self.policy.clone(), env: vec![(POLICY_ENV, policy_text)] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_owner_only_and_repairs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("hooks");
        let hooks = ServerHooks::install(&dir, Path::new("/usr/bin/it's autogit")).expect("installs");
        let script = fs::read_to_string(dir.join("policy/pre-receive")).expect("script");
        assert!(script.ends_with("exec '/usr/bin/it'\\''s autogit' hook pre-receive\n"), "{script}");
        for (path, mode) in [(&dir, 0o700), (&hooks.none, 0o700), (&hooks.policy, 0o700)] {
            assert_eq!(fs::metadata(path).expect("meta").permissions().mode() & 0o777, mode, "{}", path.display());
        }
        let hook_mode = fs::metadata(dir.join("policy/pre-receive")).expect("meta").permissions().mode() & 0o777;
        assert_eq!(hook_mode, 0o500);
        assert!(fs::read_dir(&hooks.none).expect("none").next().is_none());

        // Debris and loosened modes are repaired at the next start.
        fs::write(hooks.none.join("pre-receive"), "#!/bin/sh\nexit 0\n").expect("plant");
        fs::write(hooks.policy.join("post-receive"), "#!/bin/sh\nexit 0\n").expect("plant");
        fs::set_permissions(&hooks.policy, fs::Permissions::from_mode(0o777)).expect("chmod");
        ServerHooks::install(&dir, Path::new("/bin/autogit")).expect("reinstalls");
        assert!(fs::read_dir(&hooks.none).expect("none").next().is_none(), "none/ is emptied");
        assert!(!hooks.policy.join("post-receive").exists());
        assert_eq!(fs::metadata(&hooks.policy).expect("meta").permissions().mode() & 0o777, 0o700);
        assert!(fs::read_to_string(dir.join("policy/pre-receive")).expect("script").contains("'/bin/autogit'"));

        assert!(ServerHooks::install(&dir, Path::new("relative/autogit")).is_err());
        assert!(ServerHooks::install(Path::new("relative/hooks"), Path::new("/bin/autogit")).is_err());
        assert!(ServerHooks::install(&dir, Path::new("/bin/a\nb")).is_err());
    }

    #[test]
    fn refuses_a_symlinked_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("hooks");
        fs::create_dir(&dir).expect("mkdir");
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).expect("mkdir");
        std::os::unix::fs::symlink(&elsewhere, dir.join("policy")).expect("symlink");
        assert!(ServerHooks::install(&dir, Path::new("/bin/autogit")).is_err());
    }
}
