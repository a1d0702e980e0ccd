//! A long-lived `git cat-file --batch-command` child for reading many objects with one process.
//!
//! Object names are sent on stdin, so a user-supplied revision can never be mistaken for an
//! option. `info` answers with the type and size only, which lets callers refuse an oversized blob
//! before any of it is read; `contents` keeps only a bounded prefix of the object in memory and
//! discards the rest. Requires git 2.36 (`--batch-command`).

use crate::cmd::{self, git_in};
use crate::{Error, Result};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// Type and size of an object, from the batch header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectInfo {
    pub oid: String,
    pub kind: String,
    pub size: u64,
}

pub(crate) struct CatFile {
    // Held for kill_on_drop: the child dies with this struct.
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl CatFile {
    pub async fn spawn(repo: &Path) -> Result<Self> {
        let mut cmd = git_in(repo);
        cmd.args(["cat-file", "--batch-command"]).stdin(std::process::Stdio::piped());
        let mut child = crate::cmd::spawn(&mut cmd)?;
        let broken = || Error::Parse("cat-file pipes missing".into());
        let stdin = child.stdin.take().ok_or_else(broken)?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(broken)?);
        if let Some(stderr) = child.stderr.take() {
            // Only drained, never shown: failures surface as missing objects or EOF.
            drop(cmd::collect_stderr(stderr));
        }
        Ok(Self { child, stdin, stdout })
    }

    /// Whether the process still runs (a pooled one may have been killed while it waited).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Type and size of `spec`, or `None` when it doesn't name an object.
    pub async fn info(&mut self, spec: &str) -> Result<Option<ObjectInfo>> {
        self.send("info", spec).await?;
        self.header().await
    }

    /// The object `spec` with at most `keep` bytes of its content; the rest is read and dropped.
    pub async fn contents(&mut self, spec: &str, keep: usize) -> Result<Option<(ObjectInfo, Vec<u8>)>> {
        self.send("contents", spec).await?;
        let Some(info) = self.header().await? else { return Ok(None) };
        let keep = info.size.min(u64::try_from(keep).unwrap_or(u64::MAX));
        let mut data = Vec::with_capacity(usize::try_from(keep).unwrap_or(0).min(1 << 20));
        (&mut self.stdout).take(keep).read_to_end(&mut data).await?;
        let rest = info.size - keep;
        let skipped = tokio::io::copy(&mut (&mut self.stdout).take(rest), &mut tokio::io::sink()).await?;
        let mut lf = [0u8; 1];
        self.stdout.read_exact(&mut lf).await?;
        if data.len() as u64 != keep || skipped != rest || lf != *b"\n" {
            return Err(Error::Parse("truncated cat-file output".into()));
        }
        Ok(Some((info, data)))
    }

    async fn send(&mut self, command: &str, spec: &str) -> Result<()> {
        // A newline would start a second command; callers validate, this is the last line of defence.
        if spec.contains(['\n', '\0']) {
            return Err(Error::InvalidRef(spec.to_owned()));
        }
        self.stdin.write_all(format!("{command} {spec}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn header(&mut self) -> Result<Option<ObjectInfo>> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line).await? == 0 {
            return Err(Error::Parse("cat-file exited early".into()));
        }
        let line = line.strip_suffix('\n').unwrap_or(&line);
        // "<oid> <type> <size>" for a hit; "<spec> missing" / "<spec> ambiguous" otherwise.
        if line.ends_with(" missing") || line.ends_with(" ambiguous") {
            return Ok(None);
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next().and_then(|s| s.parse().ok()), parts.next()) {
            (Some(oid), Some(kind), Some(size), None) => {
                Ok(Some(ObjectInfo { oid: oid.into(), kind: kind.into(), size }))
            }
            _ => Err(Error::Parse(format!("cat-file header {line:?}"))),
        }
    }
}
