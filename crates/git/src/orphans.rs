//! Pushes a killed server left running. git children die with their handle, but a server killed
//! with SIGKILL runs no destructor: its `receive-pack` (and the `index-pack` under it) may still be
//! applying ref updates when the next server starts. Push recovery decides from the repository
//! whether a recorded push took effect, so it must wait until those processes are gone, or it
//! could drop the events of a push that lands a moment later.
//!
//! They are found in `/proc`: a process whose environment carries a push identity
//! ([`crate::PushIdentity::env`]) and whose working directory lies below the repository root
//! (git runs inside the repository). Processes of other users cannot be read and are not ours.

use std::path::Path;

/// The process ids of push processes working below `root`, this process excluded.
pub fn orphaned_push_processes(root: &Path) -> Vec<i32> {
    let Ok(root) = std::fs::canonicalize(root) else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id() as i32;
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me && is_push_below(*pid, &root))
        .collect()
}

fn is_push_below(pid: i32, root: &Path) -> bool {
    let proc = Path::new("/proc").join(pid.to_string());
    let Ok(cwd) = std::fs::read_link(proc.join("cwd")) else { return false };
    if !cwd.starts_with(root) {
        return false;
    }
    let Ok(environ) = std::fs::read(proc.join("environ")) else { return false };
    environ.split(|b| *b == 0).any(is_push_identity)
}

/// `GIT_COMMITTER_EMAIL=push-<record id>@autogit.invalid`.
fn is_push_identity(var: &[u8]) -> bool {
    let Some(email) = var.strip_prefix(b"GIT_COMMITTER_EMAIL=push-") else { return false };
    email.strip_suffix(b"@autogit.invalid").is_some_and(|id| !id.is_empty() && id.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn identities() {
        assert!(is_push_identity(b"GIT_COMMITTER_EMAIL=push-42@autogit.invalid"));
        for other in [&b"GIT_COMMITTER_EMAIL=ann@example.com"[..], b"GIT_COMMITTER_EMAIL=push-@autogit.invalid", b"X=1"]
        {
            assert!(!is_push_identity(other));
        }
    }

    #[test]
    fn finds_push_processes_below_the_root_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let repo = root.path().join("@hashed/ab/cd.git");
        std::fs::create_dir_all(&repo).expect("mkdir");
        let elsewhere = tempfile::tempdir().expect("tempdir");
        let spawn = |dir: &Path, email: &str| {
            Command::new("sleep").arg("30").current_dir(dir).env("GIT_COMMITTER_EMAIL", email).spawn().expect("sleep")
        };
        let mut push = spawn(&repo, "push-7@autogit.invalid");
        let mut other_dir = spawn(elsewhere.path(), "push-8@autogit.invalid");
        let mut not_a_push = spawn(&repo, "ann@example.com");
        let found = orphaned_push_processes(root.path());
        for c in [&mut push, &mut other_dir, &mut not_a_push] {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert_eq!(found, vec![push.id() as i32]);
        assert!(orphaned_push_processes(root.path()).is_empty(), "gone once they exit");
    }
}
