//! One SSH connection: public-key authentication, session channels, and the requests a git
//! client makes on them (`env GIT_PROTOCOL`, `exec`), plus the greeting of `ssh -T`.

use crate::git_exec;
use autogit_app::{App, Principal};
use autogit_core::conn_caps::Admission;
use autogit_core::ssh_command::parse_ssh_command;
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{Auth, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Session channels one connection may have open at once (git uses one).
const MAX_CHANNELS: usize = 4;
/// The longest `GIT_PROTOCOL` value kept.
const MAX_PROTOCOL_LEN: usize = 256;

pub(crate) fn config(host_key: PrivateKey, settings: &crate::SshSettings) -> russh::server::Config {
    russh::server::Config {
        keys: vec![host_key],
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        // Usernames are ignored and keys are public, so a rejection has nothing to hide in its
        // timing; a short pause still slows a client that cycles through many keys.
        auth_rejection_time: Duration::from_millis(100),
        auth_rejection_time_initial: Some(Duration::ZERO),
        max_auth_attempts: 6,
        inactivity_timeout: Some(settings.timeout),
        nodelay: true,
        ..Default::default()
    }
}

/// Runs one connection to its end; a connection that never authenticated counts one failure
/// against its address.
pub(crate) async fn run(
    config: Arc<russh::server::Config>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: App,
    slot: Admission,
) {
    let handler = Conn { app: app.clone(), peer, who: None, channels: HashMap::new(), protocol: HashMap::new() };
    let authenticated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handler = Tracked { inner: handler, authenticated: authenticated.clone() };
    match russh::server::run_stream(config, stream, handler).await {
        Ok(session) => {
            if let Err(e) = session.await {
                tracing::debug!(peer = %peer, error = %e, "ssh session ended with an error");
            }
        }
        Err(e) => tracing::debug!(peer = %peer, error = %e, "ssh handshake failed"),
    }
    if !authenticated.load(std::sync::atomic::Ordering::Relaxed)
        && let Err(e) = app.system().count_address_failure(peer.ip()).await
    {
        tracing::warn!(error = %e, "ssh: a failed authentication could not be counted");
    }
    drop(slot);
}

/// The handler, with a flag the accept side reads after the session ends.
struct Tracked {
    inner: Conn,
    authenticated: Arc<std::sync::atomic::AtomicBool>,
}

struct Conn {
    app: App,
    peer: SocketAddr,
    who: Option<Principal>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    protocol: HashMap<ChannelId, String>,
}

impl russh::server::Handler for Tracked {
    type Error = russh::Error;

    async fn auth_publickey(&mut self, _user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        let fingerprint = key.public_key.fingerprint(HashAlg::Sha256).to_string();
        match self.inner.app.system().ssh_principal(&fingerprint).await {
            Ok(Some(who)) => {
                tracing::debug!(peer = %self.inner.peer, %fingerprint, "ssh key accepted");
                self.inner.who = Some(who.from_address(self.inner.peer.ip()));
                self.authenticated.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(Auth::Accept)
            }
            Ok(None) => Ok(Auth::reject()),
            Err(e) => {
                tracing::warn!(error = %e, "ssh: key lookup failed");
                Ok(Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.inner.who.is_none() || self.inner.channels.len() >= MAX_CHANNELS {
            reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        }
        self.inner.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let valid = name == "GIT_PROTOCOL"
            && value.len() <= MAX_PROTOCOL_LEN
            && autogit_git::pktline::validate_git_protocol(value).is_ok();
        if valid {
            self.inner.protocol.insert(channel, value.to_string());
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pw: u32,
        _ph: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    /// `ssh -T git@host`: a greeting that tells the user their key works, as GitLab's does.
    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        let (Some(who), Some(ch)) = (&self.inner.who, self.inner.channels.remove(&channel)) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        let name = who.user.as_ref().map_or_else(String::new, |u| u.username.clone());
        let text = match who.deploy_project {
            Some(_) => {
                "Welcome to AutoGit! This deploy key opens one project over git; there is no shell.\n".to_string()
            }
            None => format!("Welcome to AutoGit, @{name}! There is no shell here: use git clone, fetch and push.\n"),
        };
        tokio::spawn(git_exec::finish_with(ch, text, 0));
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(who), Some(ch)) = (self.inner.who.clone(), self.inner.channels.remove(&channel)) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        let protocol = self.inner.protocol.remove(&channel);
        let command = parse_ssh_command(data);
        tokio::spawn(git_exec::run(self.inner.app.clone(), who, command, ch, protocol));
        Ok(())
    }
}
