//! Writes the server makes itself, for the API's repository endpoints: a ref moved by one
//! `git update-ref` against the value it was decided on, annotated tag objects ([`tag`]),
//! commits built from file actions without a working tree ([`commit`]) and three-way tree
//! merges ([`merge`]).
//!
//! A ref update is signed with the identity of its push record ([`PushIdentity`]), so its reflog
//! entry is the same trail a push through receive-pack leaves: [`crate::applied_by`], the push
//! events and pipelines that follow, and crash recovery read API writes and pushes alike.

mod commit;
mod merge;
mod tag;

pub use commit::{ActionError, FileAction, NewCommit, commit_tree, write_commit};
pub use merge::{merge_trees, tree_of};
pub use tag::write_tag;

use crate::cmd::{git_in, run, spawn};
use crate::pktline::{is_valid_oid, is_zero_oid, validate_ref_name};
use crate::push::PushIdentity;
use crate::{Error, RefUpdate, Result};
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// The longest reflog, tag or commit message accepted.
const MAX_MESSAGE: usize = 64 * 1024;

/// Runs `cmd` with `input` on its stdin and returns its trimmed stdout; git's stderr in the error.
async fn run_with_input(mut cmd: tokio::process::Command, label: &str, input: &[u8]) -> Result<String> {
    cmd.stdin(Stdio::piped());
    let mut child = spawn(&mut cmd)?;
    let mut stdin = child.stdin.take().ok_or_else(|| Error::Parse(format!("{label} has no stdin")))?;
    // Written from its own task: a child that answers before reading all of its input must not
    // leave this writer blocked on a full pipe.
    let input = input.to_vec();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let out = child.wait_with_output().await?;
    let _ = writer.await;
    if !out.status.success() {
        return Err(Error::GitFailed {
            cmd: label.into(),
            status: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether `s` is an object id as git prints one.
fn is_object_id(s: &str) -> bool {
    is_valid_oid(s) && !is_zero_oid(s)
}

/// Applies `update` (create, move or delete `update.name`) only if the ref still holds
/// `update.old` (absent, for the zero id); [`Error::RefMoved`] otherwise, changing nothing.
pub async fn update_ref(repo: &Path, ident: PushIdentity, update: &RefUpdate, message: &str) -> Result<()> {
    validate_ref_name(&update.name).map_err(|_| Error::InvalidRef(update.name.clone()))?;
    for oid in [&update.old, &update.new] {
        if !is_valid_oid(oid) {
            return Err(Error::InvalidRef(oid.clone()));
        }
    }
    let message: String = message.chars().filter(|c| !c.is_control()).take(MAX_MESSAGE).collect();
    let mut cmd = git_in(repo);
    cmd.envs(ident.env()).args(["-c", "core.logAllRefUpdates=always", "update-ref", "-m", &message]);
    if is_zero_oid(&update.new) {
        cmd.args(["-d", &update.name, &update.old]);
    } else {
        cmd.args([&update.name, &update.new, &update.old]);
    }
    let out = run(cmd, 4096).await?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // git's words for a ref that is not at the expected value (or exists when it should not).
    if ["is at", "but expected", "reference already exists", "unable to resolve reference", "cannot lock ref"]
        .iter()
        .any(|w| stderr.contains(w))
    {
        return Err(Error::RefMoved { name: update.name.clone() });
    }
    Err(Error::GitFailed { cmd: "git update-ref".into(), status: out.status.code(), stderr: stderr.into_owned() })
}

/// Who made a tag or commit, and when (seconds since the epoch, UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
    pub when: i64,
}

impl Signature {
    /// git's `Name <email> <seconds> +0000`; angle brackets and line ends in the name or email
    /// are dropped (git refuses them in an object header).
    fn header(&self) -> String {
        format!("{} <{}> {} +0000", self.clean_name(), self.clean_email(), self.when)
    }

    fn clean_name(&self) -> String {
        clean(&self.name)
    }

    fn clean_email(&self) -> String {
        clean(&self.email)
    }
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '<' | '>' | '\n' | '\r' | '\0')).collect::<String>().trim().to_string()
}
