//! The smart-HTTP pack services, run as `git upload-pack` / `git receive-pack` children in
//! stateless-RPC mode, exactly as `git http-backend` runs them.
//!
//! Streaming is the point of this module: a request body is copied into the child's stdin and its
//! stdout is handed to the HTTP layer as a stream, so a multi-gigabyte push or clone flows through
//! with bounded memory. Only the ref advertisement (small) is returned as a whole.

use crate::cmd::{self, MAX_LISTING, git};
use crate::hooks::ReceiveHooks;
use crate::pktline::{self, protocol_version, validate_git_protocol};
use crate::push::PushIdentity;
use crate::{Error, Result};
use bytes::Bytes;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    /// `git-upload-pack` / `git-receive-pack`, as in URLs and `?service=`.
    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }

    /// The git subcommand: `upload-pack` / `receive-pack`.
    pub fn subcommand(self) -> &'static str {
        &self.name()[4..]
    }

    /// Content type of the `GET info/refs` response.
    pub fn advertisement_content_type(self) -> &'static str {
        match self {
            Service::UploadPack => "application/x-git-upload-pack-advertisement",
            Service::ReceivePack => "application/x-git-receive-pack-advertisement",
        }
    }

    /// Content type a client must send with the `POST` request.
    pub fn request_content_type(self) -> &'static str {
        match self {
            Service::UploadPack => "application/x-git-upload-pack-request",
            Service::ReceivePack => "application/x-git-receive-pack-request",
        }
    }

    /// Content type of the `POST` response.
    pub fn result_content_type(self) -> &'static str {
        match self {
            Service::UploadPack => "application/x-git-upload-pack-result",
            Service::ReceivePack => "application/x-git-receive-pack-result",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown git service {0:?}")]
pub struct UnknownService(pub String);

impl FromStr for Service {
    type Err = UnknownService;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "git-upload-pack" => Ok(Service::UploadPack),
            "git-receive-pack" => Ok(Service::ReceivePack),
            _ => Err(UnknownService(s.chars().take(64).collect())),
        }
    }
}

fn service_command(service: Service, protocol: Option<&str>, hooks: Option<&ReceiveHooks>) -> Result<Command> {
    let mut cmd = session_command(service, protocol, hooks)?;
    cmd.arg("--stateless-rpc");
    Ok(cmd)
}

/// `git <service>` with the server's options, before the mode flag and the repository.
fn session_command(service: Service, protocol: Option<&str>, hooks: Option<&ReceiveHooks>) -> Result<Command> {
    let mut cmd = git();
    if service == Service::ReceivePack {
        // Bare repositories keep no reflogs by default; every ref update must be logged so that
        // what a push applied can be read back, after a crash too (crate::push::applied_by).
        cmd.args(["-c", "core.logAllRefUpdates=always"]);
    }
    // On the command line, so it beats anything in the repository's own config: a receive-pack
    // runs the server's hooks or none (`/dev/null/<hook>` never exists), never a repository's.
    match hooks {
        Some(h) => {
            cmd.arg("-c").arg(h.config_arg()).envs(h.env.iter().map(|(k, v)| (k, v)));
        }
        None if service == Service::ReceivePack => {
            cmd.args(["-c", "core.hooksPath=/dev/null"]);
        }
        None => {}
    }
    cmd.arg(service.subcommand());
    if let Some(p) = protocol {
        // Re-validated here because the value lands in a child's environment.
        cmd.env("GIT_PROTOCOL", validate_git_protocol(p)?);
    }
    Ok(cmd)
}

/// The body of `GET info/refs?service=<service>`. For protocol v0/v1 it starts with the
/// `# service=…` packet and a flush; for v2 that header is omitted, as `git http-backend` does.
pub async fn advertise(repo: &Path, service: Service, protocol: Option<&str>) -> Result<Vec<u8>> {
    let refs = advertise_refs(repo, service, protocol).await?;
    let mut body = Vec::with_capacity(refs.len() + 64);
    if protocol_version(protocol) != 2 {
        pktline::encode_into(&mut body, format!("# service={}\n", service.name()).as_bytes())?;
        body.extend_from_slice(pktline::flush());
    }
    body.extend_from_slice(&refs);
    Ok(body)
}

/// A running stateless-RPC child. Destructure it: feed `stdin` (see [`pump`]), stream `stdout`
/// to the client, then call [`RpcChild::finish`]. Both must run concurrently: git may write
/// output before it has read all input, and a full pipe in either direction would block it.
pub struct RpcProcess {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub child: RpcChild,
}

/// The process half of an [`RpcProcess`]. Dropping it kills git (the client went away).
pub struct RpcChild {
    child: Child,
    stderr: JoinHandle<Vec<u8>>,
    label: &'static str,
}

/// How a stateless-RPC child ended.
#[derive(Debug, Clone)]
pub struct ExitInfo {
    pub status: ExitStatus,
    /// The first 64 KiB of stderr, lossily decoded.
    pub stderr: String,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// `Ok` on success, otherwise [`Error::GitFailed`] carrying stderr.
    pub fn into_result(self, cmd: &str) -> Result<()> {
        if self.success() { Ok(()) } else { Err(cmd::failed(cmd, self.status, self.stderr.as_bytes())) }
    }
}

/// Spawns `git <service> --stateless-rpc <repo>` with `GIT_PROTOCOL` set when given. A
/// receive-pack runs no hook at all: servers use [`spawn_rpc_with`] and their hooks.
/// The ref advertisement alone, as a session transport (SSH) sends it before reading the
/// client's request.
pub async fn advertise_refs(repo: &Path, service: Service, protocol: Option<&str>) -> Result<Vec<u8>> {
    let mut cmd = service_command(service, protocol, None)?;
    cmd.arg("--advertise-refs").arg(cmd::positional(repo)?);
    cmd::run_ok(cmd, MAX_LISTING).await
}

/// `git upload-pack <repo>` for a full-duplex session (SSH): it advertises, negotiates over as
/// many rounds as the client needs (protocol v0) or serves commands until the client hangs up
/// (v2), then exits. Pushes never run this way: they take the recorded path
/// ([`spawn_receive_pack`]) after their command list was read.
pub fn spawn_upload_session(repo: &Path, protocol: Option<&str>) -> Result<RpcProcess> {
    spawn(session_command(Service::UploadPack, protocol, None)?, repo, Service::UploadPack)
}

/// `git upload-archive <repo>` for a full-duplex session (`git archive --remote` over SSH). Only
/// reachable commits are archived (git's default `uploadArchive.allowUnreachable = false`).
pub fn spawn_archive_session(repo: &Path) -> Result<RpcProcess> {
    let mut cmd = git();
    cmd.args(["-c", "uploadarchive.allowUnreachable=false", "upload-archive"]);
    spawn(cmd, repo, Service::UploadPack)
}

pub fn spawn_rpc(repo: &Path, service: Service, protocol: Option<&str>) -> Result<RpcProcess> {
    spawn_rpc_with(repo, service, protocol, None)
}

/// As [`spawn_rpc`]; a receive-pack child runs exactly the server's `hooks` (see [`crate::hooks`]).
pub fn spawn_rpc_with(
    repo: &Path,
    service: Service,
    protocol: Option<&str>,
    hooks: Option<&ReceiveHooks>,
) -> Result<RpcProcess> {
    spawn(service_command(service, protocol, hooks)?, repo, service)
}

/// `git receive-pack --stateless-rpc <repo>` for the push recorded as `ident`, with the server's
/// `hooks`: its ref updates are logged under that identity, which is how
/// [`crate::push::applied_by`] finds them.
pub fn spawn_receive_pack(
    repo: &Path,
    protocol: Option<&str>,
    ident: PushIdentity,
    hooks: Option<&ReceiveHooks>,
) -> Result<RpcProcess> {
    let mut cmd = service_command(Service::ReceivePack, protocol, hooks)?;
    cmd.envs(ident.env());
    spawn(cmd, repo, Service::ReceivePack)
}

fn spawn(mut cmd: Command, repo: &Path, service: Service) -> Result<RpcProcess> {
    cmd.arg(cmd::positional(repo)?).stdin(Stdio::piped());
    let mut child = crate::cmd::spawn(&mut cmd)?;
    let missing = || Error::Parse("child pipes missing".into());
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = cmd::collect_stderr(child.stderr.take().ok_or_else(missing)?);
    Ok(RpcProcess { stdin, stdout, child: RpcChild { child, stderr, label: service.name() } })
}

impl RpcProcess {
    /// Closes both pipes and waits. Only for when stdout has been read to the end already:
    /// git killed by SIGPIPE on a dropped stdout reports failure.
    pub async fn finish(self) -> Result<ExitInfo> {
        drop(self.stdin);
        drop(self.stdout);
        self.child.finish().await
    }
}

impl RpcChild {
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// `git-upload-pack` / `git-receive-pack`, for messages.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Waits for the exit and collects stderr (which was read all along, so git never blocked on it).
    pub async fn finish(mut self) -> Result<ExitInfo> {
        let status = self.child.wait().await?;
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        Ok(ExitInfo { status, stderr: String::from_utf8_lossy(&stderr).into_owned() })
    }

    /// Kills the child now (e.g. on a request timeout) and reaps it.
    pub async fn kill(&mut self) -> Result<()> {
        Ok(self.child.kill().await?)
    }
}

/// Writes `prefix` (request bytes already read, e.g. by [`crate::push::read_receive_request`]),
/// then copies `body` into `stdin` in bounded chunks, then closes it so git sees end of input.
/// Returns the bytes written. A `BrokenPipe` error means git stopped reading early; its exit
/// status and stderr from [`RpcChild::finish`] say why.
pub async fn pump<R, W>(prefix: Bytes, mut body: R, mut stdin: W) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    stdin.write_all(&prefix).await?;
    let copied = tokio::io::copy(&mut body, &mut stdin).await?;
    stdin.shutdown().await?;
    Ok(prefix.len() as u64 + copied)
}
