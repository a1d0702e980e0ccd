//! What a push asks for and what it did, without server-side hooks: the HTTP layer reads the
//! command list before git does ([`read_receive_request`]), git writes every ref update into the
//! ref's reflog under an identity unique to the push ([`PushIdentity`]), and [`applied_by`] reads
//! back which updates took effect — right after git exits, or after a crash.

use crate::cmd::{MAX_LISTING, git_in, run_ok};
use crate::pktline::{PktError, ReceiveRequest, RefUpdate, parse_receive_request, validate_ref_name};
use crate::reflog;
use crate::service::ExitInfo;
use crate::{Error, Result};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How many ref names go into one `git for-each-ref` command line.
const REFS_PER_COMMAND: usize = 256;

/// Reads a receive-pack request body until its command list is complete. Returns the parsed
/// request and every byte read so far (the command list and possibly the start of the pack):
/// pass those as the `prefix` of [`crate::service::pump`] so git sees the whole body.
pub async fn read_receive_request<R: AsyncRead + Unpin>(body: &mut R) -> Result<(ReceiveRequest, Bytes)> {
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        if let Some(req) = parse_receive_request(&buf)? {
            return Ok((req, buf.freeze()));
        }
        // parse_receive_request bounds how much it will wait for, so this buffer stays bounded.
        if body.read_buf(&mut buf).await? == 0 {
            return Err(PktError::Truncated.into());
        }
    }
}

/// How a `git receive-pack` run ended, as far as the server can see it: the process's exit
/// (`None` when it could not be waited for) and what its report to the client said.
#[derive(Debug, Clone, Default)]
pub struct PushOutcome {
    pub exit: Option<ExitInfo>,
    /// The report's `unpack` status: `ok`, or git's error; `None` when no report was seen.
    pub unpack: Option<String>,
    /// Text git sent the client on the side band (its unpacking child's errors among it).
    pub messages: String,
}

impl PushOutcome {
    /// Whether git failed: a failed exit, or a report that says the pack was not stored.
    pub fn failed(&self) -> bool {
        !self.exit.as_ref().is_some_and(ExitInfo::success) || self.unpack.as_deref().is_some_and(|u| u != "ok")
    }

    /// Everything git said about a failure, for logs: stderr, side-band text, unpack status.
    pub fn error_text(&self) -> String {
        let stderr = self.exit.as_ref().map_or("", |e| e.stderr.as_str());
        let parts = [stderr.trim(), self.messages.trim(), self.unpack.as_deref().unwrap_or("").trim()];
        parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("\n")
    }
}

/// The identity git writes into the reflog for the ref updates of one push record: an address
/// no other push uses, so that the record's reflog entries are told apart from every other push's
/// (a later push that moved the ref again, or an earlier one that made the same change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushIdentity {
    record_id: i64,
}

impl PushIdentity {
    pub fn for_record(record_id: i64) -> Self {
        Self { record_id }
    }

    fn email(self) -> String {
        format!("push-{}@autogit.invalid", self.record_id)
    }

    /// The environment `git receive-pack` gets ([`crate::service::spawn_receive_pack`] sets it):
    /// reflog entries are signed with the committer.
    pub fn env(self) -> [(&'static str, String); 2] {
        [("GIT_COMMITTER_NAME", format!("AutoGit push {}", self.record_id)), ("GIT_COMMITTER_EMAIL", self.email())]
    }
}

/// Whether each of `updates`, pushed through [`crate::service::spawn_receive_pack`] as `ident`,
/// took effect (one flag per update, in order). Call it once receive-pack has exited — or, after
/// a crash, whenever: the answer comes from the repository alone.
///
/// An update (not a delete) was applied when the ref's reflog holds the entry `old → new` that
/// git wrote under `ident`, and the ref then really held `new`: the next entry starts from
/// `new`, or, when it is the last one, the ref is at `new` now. So a later push that moved the
/// ref again does not hide it, and an earlier push that made the same change does not fake it.
/// A delete was applied when the ref is gone (git removes a deleted ref's reflog with it); a
/// delete followed by a re-creation before this is asked reads as not applied.
pub async fn applied_by(repo: &Path, ident: PushIdentity, updates: &[RefUpdate]) -> Result<Vec<bool>> {
    let current = current_values(repo, updates).await?;
    let email = ident.email();
    let mut applied = Vec::with_capacity(updates.len());
    for u in updates {
        let yes = if validate_ref_name(&u.name).is_err() {
            false
        } else if u.is_delete() {
            !current.contains_key(&u.name)
        } else {
            match reflog::find_entry(repo, &u.name, &email, &u.new).await? {
                None => false,
                Some(reflog::Found { next_old: Some(next_old) }) => next_old == u.new,
                Some(reflog::Found { next_old: None }) => current.get(&u.name) == Some(&u.new),
            }
        };
        applied.push(yes);
    }
    Ok(applied)
}

/// The current value of every validly named ref of `updates` that exists.
async fn current_values(repo: &Path, updates: &[RefUpdate]) -> Result<HashMap<String, String>> {
    // Names are re-validated: they become command-line arguments, and RefUpdate's fields are public.
    let mut names: Vec<&str> =
        updates.iter().map(|u| u.name.as_str()).filter(|n| validate_ref_name(n).is_ok()).collect();
    names.sort_unstable();
    names.dedup();
    let mut current: HashMap<String, String> = HashMap::new();
    for chunk in names.chunks(REFS_PER_COMMAND) {
        let mut cmd = git_in(repo);
        cmd.args(["for-each-ref", "--format=%(objectname) %(refname)", "--"]).args(chunk);
        let out = run_ok(cmd, MAX_LISTING).await?;
        for line in String::from_utf8_lossy(&out).lines() {
            let (oid, name) =
                line.split_once(' ').ok_or_else(|| Error::Parse(format!("for-each-ref line {line:?}")))?;
            // A pattern also matches refs below it (refs/heads/a matches refs/heads/a/b): keep exact names.
            if chunk.binary_search(&name).is_ok() {
                current.insert(name.to_owned(), oid.to_owned());
            }
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_command_list_in_small_chunks() {
        let mut body = crate::pktline::encode(
            format!("{} {} refs/heads/main\0report-status\n", "0".repeat(40), "a".repeat(40)).as_bytes(),
        )
        .expect("fits");
        body.extend_from_slice(b"0000PACKrest-of-pack");
        // A reader that yields 3 bytes at a time exercises the incomplete path.
        let (mut tx, mut rx) = tokio::io::duplex(3);
        let input = body.clone();
        let writer = tokio::spawn(async move { tokio::io::AsyncWriteExt::write_all(&mut tx, &input).await });
        let (req, read) = read_receive_request(&mut rx).await.expect("parses");
        assert_eq!(req.updates.len(), 1);
        assert!(req.has_capability("report-status"));
        assert_eq!(&read[..], &body[..read.len()]);
        assert!(read.len() >= req.consumed);
        drop(rx);
        let _ = writer.await;
    }

    #[tokio::test]
    async fn truncated_command_list_is_an_error() {
        let mut body: &[u8] = b"0010abc";
        assert!(matches!(read_receive_request(&mut body).await, Err(Error::Pkt(PktError::Truncated))));
        let mut empty: &[u8] = b"";
        assert!(matches!(read_receive_request(&mut empty).await, Err(Error::Pkt(PktError::Truncated))));
    }
}
