//! `autogit hook pre-receive` (hidden): the server's pre-receive hook for protected branches.
//!
//! `git receive-pack` runs it (through the script `autogit serve` installs, see
//! `autogit_git::hooks`) after the pushed objects arrived and before any ref moves, with the push's
//! policy in `AUTOGIT_PUSH_POLICY` and one `<old> <new> <ref>` line per update on stdin. Each update
//! is classified (create, delete, fast-forward or force: `git merge-base --is-ancestor`, for
//! protected branches only) and decided by `autogit_core::protection`; the first refusal is printed
//! as git shows GitLab's (`remote: GitLab: …`) and the whole push is declined. Anything it does not
//! understand declines the push too: this hook fails closed.

use autogit_core::protection::{PushPolicy, RefChange};
use autogit_git::hooks::POLICY_ENV;
use clap::Subcommand;
use std::io::BufRead;
use std::process::{Command, ExitCode};

#[derive(Subcommand)]
pub enum HookCommand {
    /// Decide a push from the policy in AUTOGIT_PUSH_POLICY and the updates on stdin.
    PreReceive,
}

pub fn run(command: HookCommand) -> ExitCode {
    match command {
        HookCommand::PreReceive => match pre_receive() {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("GitLab: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn is_oid(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn is_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

/// `Err` carries the message for the pusher.
fn pre_receive() -> Result<(), String> {
    let text = std::env::var(POLICY_ENV).map_err(|_| "The push policy is missing; the push is refused.".to_string())?;
    let policy = PushPolicy::decode(&text).map_err(|e| format!("The push could not be checked ({e})."))?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("The push could not be checked ({e})."))?;
        let mut fields = line.splitn(3, ' ');
        let (Some(old), Some(new), Some(refname)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("The push could not be checked (unexpected line {line:?})."));
        };
        if !is_oid(old) || !is_oid(new) {
            return Err("The push could not be checked (bad object id).".into());
        }
        let change = if is_zero(old) {
            RefChange::Create
        } else if is_zero(new) {
            RefChange::Delete
        } else if policy.branches.needs_ancestry(refname) {
            if is_ancestor(old, new)? { RefChange::FastForward } else { RefChange::Force }
        } else {
            // Not a protected branch: how it moves does not matter to the decision.
            RefChange::FastForward
        };
        policy.decide(refname, change).map_err(|refusal| refusal.message().to_string())?;
    }
    Ok(())
}

/// `git merge-base --is-ancestor`, in the repository and quarantine git set up for this hook
/// (inherited environment), so the pushed objects are visible.
fn is_ancestor(old: &str, new: &str) -> Result<bool, String> {
    let status = Command::new("git")
        .args(["merge-base", "--is-ancestor", old, new])
        .status()
        .map_err(|e| format!("The push could not be checked (git: {e})."))?;
    match status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err("The push could not be checked (git merge-base failed).".into()),
    }
}
