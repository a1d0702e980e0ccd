//! git over SSH, served by `autogit serve` itself (russh; ADR 0014).
//!
//! `serve` accepts connections, applies the connection caps and the address lock, and runs one
//! russh session per connection (`session`). A client authenticates with a public key only: a
//! user's key acts as the user, a deploy key for its one project (app `ssh_keys`); the SSH user
//! name is ignored (always `git`). An exec request for `git-upload-pack`, `git-receive-pack` or
//! `git-upload-archive` on a repository path is authorized exactly as git over HTTP is
//! (`App::git_project`) and run by `git_exec`; pushes take the same recorded path
//! (`App::receive_pack`), so they start pipelines. Anything else is refused with a message.
//!
//! # Who is trusted
//! - The TCP peer address is the client's (the SSH port is not behind an HTTP proxy). At most
//!   `max_connections` connections, `max_connections_per_address` from one address (IPv6 by /64);
//!   beyond, connections are closed before the handshake. A connection that ends without
//!   authenticating counts one failure against the address limit shared with password sign-ins
//!   (`[auth.address]`); while the address is locked its connections are closed at once.
//! - Nothing the client sends reaches a shell: the command is parsed by
//!   `autogit_core::ssh_command`, and only `GIT_PROTOCOL` is taken from its environment.

mod git_exec;
mod host_key;
mod limits;
mod session;

pub use host_key::load_or_create_host_key;
pub use russh::keys::PrivateKey;

use autogit_app::App;
use autogit_core::conn_caps::ConnectionLimits;
use limits::RefusalLog;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How the SSH server is bounded (the server fills it from `[ssh]`).
#[derive(Debug, Clone)]
pub struct SshSettings {
    pub max_connections: usize,
    /// 0: no per-address cap.
    pub max_connections_per_address: usize,
    /// To authenticate, and the longest idle time after.
    pub timeout: Duration,
}

/// Serves SSH on `listener` until `shutdown`; sessions under way finish on their own (bounded by
/// the idle timeout).
pub async fn serve(
    listener: TcpListener,
    app: App,
    host_key: PrivateKey,
    settings: SshSettings,
    shutdown: CancellationToken,
) {
    let config = Arc::new(session::config(host_key, &settings));
    let limits = ConnectionLimits::new(settings.max_connections, settings.max_connections_per_address);
    let refusals = RefusalLog::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "ssh accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let Ok(slot) = limits.try_admit(peer.ip()) else {
            refusals.log(peer.ip(), "connection cap reached");
            continue;
        };
        match app.system().address_locked(peer.ip()).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                refusals.log(peer.ip(), "address locked after failed authentications");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "ssh: the address lock could not be read; refusing");
                continue;
            }
        }
        let _ = stream.set_nodelay(true);
        tokio::spawn(session::run(config.clone(), stream, peer, app.clone(), slot));
    }
}
