//! A push over any git transport, from its command list to its consequences: the one call a
//! transport makes once it has read the client's ref updates ([`App::receive_pack`]) and the one
//! it makes once git has exited ([`FinishPush::finish`]). Between the two the transport only
//! moves bytes: the client's pack into git's stdin (counted from the first byte by a
//! [`SpaceGuard`](crate::push_space_guard::SpaceGuard) where the server keeps a free-space
//! reserve), git's output to the client (through [`ReceivingPush::report`], which watches git's
//! report).
//!
//! In order: the policy hooks (protected branches) are decided, the push is recorded durably
//! (`begin_push`: nothing is applied without a record), `git receive-pack` starts with the
//! record's identity and the hooks, and after it exits the applied updates become push events
//! and pipelines exactly once (`finish_push`).

use crate::push_watch::{self, Feeder, Watch};
use crate::{App, AppError, Principal, PushRefused, RecordedPush};
use autogit_core::UserId;
use autogit_git::pktline::ReceiveRequest;
use autogit_git::service::{self, RpcChild};
use autogit_git::{ExitInfo, PushOutcome};
use autogit_store::Project;
use tokio::process::{ChildStdin, ChildStdout};

/// What the transport read from the client before any pack data.
#[derive(Debug, Clone, Copy)]
pub struct PushStart<'a> {
    pub project: &'a Project,
    /// The command list (ref updates and capabilities).
    pub request: &'a ReceiveRequest,
    /// The pack size the client announced, if any (HTTP `Content-Length`).
    pub declared: Option<u64>,
    /// The client's `Git-Protocol` value, validated.
    pub protocol: Option<&'a str>,
}

/// Why a push did not start; answer it before (or instead of) running git.
#[derive(Debug)]
pub enum PushNotStarted {
    /// Refused for the whole push (no space, no record): answer with git's report format
    /// (`pktline::refusal_report`) so the client shows the reason against every ref.
    Refused(PushRefused),
    /// The pusher may not push here (`Forbidden`), or the updates are invalid (`Invalid`), or
    /// the policy could not be read.
    Denied(AppError),
    /// git could not be started.
    Git(autogit_git::Error),
}

/// A running `git receive-pack`: feed `stdin`, stream `stdout` to the client passing every chunk
/// to `report`, then call [`FinishPush::finish`] whatever happened.
pub struct ReceivingPush {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    /// Watches git's report on its way to the client (`None` for a push without updates).
    pub report: Option<Feeder>,
    pub finish: FinishPush,
}

/// The second call of a push: after git exits.
pub struct FinishPush {
    recorded: Option<RecordedPush>,
    child: RpcChild,
    watch: Option<Watch>,
}

impl App {
    /// Starts a push: hooks, durable record, then `git receive-pack --stateless-rpc` in the
    /// project's repository (the HTTP transport's mode; a push with no ref updates runs git
    /// without a record, as it can change nothing).
    pub async fn receive_pack(&self, who: &Principal, start: PushStart<'_>) -> Result<ReceivingPush, PushNotStarted> {
        let PushStart { project, request, declared, protocol } = start;
        let hooks = self.receive_hooks(who, project, &request.updates).await.map_err(PushNotStarted::Denied)?;
        let recorded = if request.updates.is_empty() {
            None
        } else {
            let pusher = who.actor.user_id();
            Some(
                self.system()
                    .begin_push(project.id, pusher.map(UserId::get), &request.updates, declared)
                    .await
                    .map_err(PushNotStarted::Refused)?,
            )
        };
        let repo = self.repos.path_for(project.id);
        let spawned = match &recorded {
            Some(r) => service::spawn_receive_pack(&repo, protocol, r.identity(), Some(&hooks)),
            None => service::spawn_rpc_with(&repo, service::Service::ReceivePack, protocol, Some(&hooks)),
        };
        let proc = match spawned {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, project_id = project.id.get(), "spawning git receive-pack failed");
                if let Some(r) = recorded {
                    self.system().finish_push(r, &PushOutcome::default()).await;
                }
                return Err(PushNotStarted::Git(e));
            }
        };
        let side_band = request.has_capability("side-band-64k") || request.has_capability("side-band");
        let (watch, report) = recorded.as_ref().map(|_| push_watch::watch(side_band)).unzip();
        Ok(ReceivingPush {
            stdin: proc.stdin,
            stdout: proc.stdout,
            report,
            finish: FinishPush { recorded, child: proc.child, watch },
        })
    }
}

impl FinishPush {
    /// Waits for git, then derives the push's events and pipelines from what it applied (see
    /// `finish_push`). Returns git's exit for the transport's logs and metrics.
    pub async fn finish(self, app: &App) -> Option<ExitInfo> {
        let exit = self.child.finish().await.ok();
        if let Some(e) = &exit
            && !e.success()
            && self.recorded.is_none()
        {
            tracing::warn!(stderr = %e.stderr, "git receive-pack exited with failure");
        }
        if let (Some(r), Some(w)) = (self.recorded, self.watch) {
            let outcome = w.outcome(exit.clone()).await;
            app.system().finish_push(r, &outcome).await;
        }
        exit
    }
}
