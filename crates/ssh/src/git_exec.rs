//! Runs one git command for an SSH channel: the same authorization as git over HTTP, then the
//! bytes between the channel and git. Fetches and archives run git's own full-duplex session;
//! a push is advertised here, its command list read, then handed to the app's recorded push path
//! (`App::receive_pack`) exactly as over HTTP, so policy, events and pipelines are the same.

use autogit_app::{App, GitDenied, Principal, PushNotStarted, PushStart, ReceivingPush};
use autogit_core::ssh_command::{SshCommand, SshCommandError, SshService};
use autogit_git::service::{self, RpcProcess, Service};
use russh::server::Msg;
use russh::{Channel, ChannelReadHalf, ChannelWriteHalf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// git's exit code for a fatal error, also used for refusals.
const FATAL: u32 = 128;
/// How long a refused push's remaining input is read before the channel closes.
const DRAIN: Duration = Duration::from_secs(10);

type Writer = ChannelWriteHalf<Msg>;

/// Writes `text` to the client's stderr, then exits with `code`.
pub(crate) async fn finish_with(channel: Channel<Msg>, text: String, code: u32) {
    let (_, write) = channel.split();
    let _ = write.extended_data_bytes(1, text.into_bytes()).await;
    close(&write, code).await;
}

async fn close(write: &Writer, code: u32) {
    let _ = write.exit_status(code).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}

pub(crate) async fn run(
    app: App,
    who: Principal,
    command: Result<SshCommand, SshCommandError>,
    channel: Channel<Msg>,
    protocol: Option<String>,
) {
    let (mut read, write) = channel.split();
    let code = match exec(&app, &who, command, &mut read, &write, protocol.as_deref()).await {
        Ok(code) => code,
        Err(message) => {
            let _ = write.extended_data_bytes(1, format!("remote: {message}\n").into_bytes()).await;
            FATAL
        }
    };
    close(&write, code).await;
}

async fn exec(
    app: &App,
    who: &Principal,
    command: Result<SshCommand, SshCommandError>,
    read: &mut ChannelReadHalf,
    write: &Writer,
    protocol: Option<&str>,
) -> Result<u32, String> {
    let command = command.map_err(|e| format!("{e}. The command was refused."))?;
    let write_access = command.service == SshService::ReceivePack;
    let (project, repo) = app.git_project(who, &command.full_path, write_access).await.map_err(|e| match e {
        GitDenied::NotFound | GitDenied::Challenge => {
            "The project you were looking for could not be found or you don't have permission to view it.".to_string()
        }
        GitDenied::Forbidden(msg) => msg.to_string(),
        GitDenied::Other(e) => {
            tracing::error!(error = %e, "ssh: git access check failed");
            "internal error".to_string()
        }
    })?;
    match command.service {
        SshService::UploadPack => {
            let proc = service::spawn_upload_session(&repo, protocol).map_err(spawn_failed)?;
            Ok(duplex(proc, read, write).await)
        }
        SshService::UploadArchive => {
            let proc = service::spawn_archive_session(&repo).map_err(spawn_failed)?;
            Ok(duplex(proc, read, write).await)
        }
        SshService::ReceivePack => push(app, who, &project, &repo, read, write).await,
    }
}

fn spawn_failed(e: autogit_git::Error) -> String {
    tracing::error!(error = %e, "ssh: spawning git failed");
    "could not start git".to_string()
}

/// Bytes both ways between the channel and a git session until git exits; its stderr follows.
async fn duplex(proc: RpcProcess, read: &mut ChannelReadHalf, write: &Writer) -> u32 {
    let RpcProcess { mut stdin, mut stdout, child } = proc;
    let mut reader = read.make_reader();
    let to_git = async {
        let copied = tokio::io::copy(&mut reader, &mut stdin).await;
        let _ = stdin.shutdown().await;
        drop(stdin);
        copied
    };
    let mut out = write.make_writer();
    {
        // tokio's copy flushes `out` when git's output ends.
        let from_git = tokio::io::copy(&mut stdout, &mut out);
        tokio::pin!(to_git, from_git);
        let mut input_done = false;
        loop {
            tokio::select! {
                _ = &mut to_git, if !input_done => input_done = true,
                _ = &mut from_git => break,
            }
        }
    }
    exit_code(child.finish().await, write).await
}

/// A push: the advertisement, the command list, then the recorded push of the app.
async fn push(
    app: &App,
    who: &Principal,
    project: &autogit_app::store::Project,
    repo: &std::path::Path,
    read: &mut ChannelReadHalf,
    write: &Writer,
) -> Result<u32, String> {
    let refs = service::advertise_refs(repo, Service::ReceivePack, None).await.map_err(|e| {
        tracing::error!(error = %e, "ssh: advertising refs failed");
        "could not read the repository".to_string()
    })?;
    write.data_bytes(refs).await.map_err(|_| "the client went away".to_string())?;
    let mut reader = read.make_reader();
    let (request, prefix) = match autogit_git::read_receive_request(&mut reader).await {
        Ok(x) => x,
        // Nothing to push: the client hung up after the advertisement.
        Err(autogit_git::Error::Pkt(autogit_git::PktError::Truncated)) => return Ok(0),
        Err(e) => return Err(format!("malformed push: {e}")),
    };
    if request.updates.is_empty() {
        return Ok(0);
    }
    let start = PushStart { project, request: &request, declared: None, protocol: None };
    let ReceivingPush { stdin, mut stdout, report, finish, .. } = match app.receive_pack(who, start).await {
        Ok(p) => p,
        Err(PushNotStarted::Refused(refused)) => {
            let message = refused.message();
            match autogit_git::pktline::refusal_report(&request, refused.reason(), &message) {
                Some(body) => {
                    let _ = write.data_bytes(body).await;
                    let _ = tokio::time::timeout(DRAIN, tokio::io::copy(&mut reader, &mut tokio::io::sink())).await;
                    return Ok(0);
                }
                None => return Err(message),
            }
        }
        Err(PushNotStarted::Denied(autogit_app::AppError::Forbidden(msg))) => {
            return Err(msg.unwrap_or_else(|| "You are not allowed to push code to this project.".into()));
        }
        Err(PushNotStarted::Denied(e)) => {
            tracing::error!(error = %e, "ssh: push policy unavailable");
            return Err("internal error".into());
        }
        Err(PushNotStarted::Git(_)) => return Err("could not start git".into()),
    };
    {
        let to_git = service::pump(prefix, reader, stdin);
        let mut out = write.make_writer();
        let from_git = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = tokio::io::AsyncReadExt::read(&mut stdout, &mut buf).await?;
                if n == 0 {
                    return out.flush().await;
                }
                if let Some(f) = &report {
                    f.feed(&buf[..n]);
                }
                out.write_all(&buf[..n]).await?;
            }
        };
        tokio::pin!(to_git, from_git);
        let mut input_done = false;
        loop {
            tokio::select! {
                r = &mut to_git, if !input_done => {
                    input_done = true;
                    if let Err(e) = r {
                        tracing::info!(error = %e, "ssh: push input ended early");
                    }
                }
                _ = &mut from_git => break,
            }
        }
    }
    // The report watcher reads to the end of what it was fed: dropping its feeder says the end
    // came, before the watch's outcome is asked for.
    drop(report);
    Ok(match finish.finish(app).await {
        Some(exit) if exit.success() => 0,
        Some(exit) => {
            if !exit.stderr.trim().is_empty() {
                let _ = write.extended_data_bytes(1, exit.stderr.into_bytes()).await;
            }
            1
        }
        None => 1,
    })
}

async fn exit_code(exit: autogit_git::Result<autogit_git::service::ExitInfo>, write: &Writer) -> u32 {
    match exit {
        Ok(e) => {
            if !e.stderr.trim().is_empty() {
                let _ = write.extended_data_bytes(1, e.stderr.clone().into_bytes()).await;
            }
            e.status.code().map_or(FATAL, |c| u32::try_from(c).unwrap_or(FATAL))
        }
        Err(e) => {
            tracing::warn!(error = %e, "ssh: waiting for git failed");
            FATAL
        }
    }
}
