//! What a push asks for and what it did. Ref updates are recorded without server-side hooks: the
//! HTTP layer reads the command list before git does ([`read_receive_request`]), and after
//! `git receive-pack` has exited compares the refs with what was asked ([`applied_updates`]).

use crate::cmd::{MAX_LISTING, git_in, run_ok};
use crate::pktline::{PktError, ReceiveRequest, RefUpdate, parse_receive_request, validate_ref_name};
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

/// The subset of `updates` that took effect: the ref now points at `new`, or is gone for a
/// delete. Call it after receive-pack has exited. A concurrent push that set the same value would
/// also count; that is the price of not using hooks, and harmless for event recording.
pub async fn applied_updates(repo: &Path, updates: &[RefUpdate]) -> Result<Vec<RefUpdate>> {
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
    let applied = updates
        .iter()
        .filter(|u| validate_ref_name(&u.name).is_ok())
        .filter(|u| match current.get(&u.name) {
            None => u.is_delete(),
            Some(oid) => !u.is_delete() && *oid == u.new,
        })
        .cloned()
        .collect();
    Ok(applied)
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
