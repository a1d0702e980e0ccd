//! `autogit serve`'s SSH server when `[ssh] listen` is set: [`bind`] binds, reads or creates the
//! host key in `<data_dir>/ssh/` and names the clone URLs' prefix; [`start`] serves.

use anyhow::{Context, Result};
use autogit_app::App;
use autogit_config::Config;
use autogit_ssh::SshSettings;
use std::io::Write;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The SSH server started.
pub struct Started {
    pub task: tokio::task::JoinHandle<()>,
}

/// The SSH port bound and its host key read, not serving yet: the clone URLs' prefix is known
/// before the application that serves it is finished (its hooks name SSH clone URLs).
pub struct Bound {
    pub clone_base: String,
    listener: tokio::net::TcpListener,
    key: autogit_ssh::PrivateKey,
    settings: SshSettings,
}

/// Binds `[ssh] listen`; `None` when SSH is not served.
pub fn bind(config: &Config, external_url: &str) -> Result<Option<Bound>> {
    let s = &config.ssh;
    if s.listen.is_empty() {
        return Ok(None);
    }
    let listener = super::serve::bind(&s.listen).with_context(|| format!("binding the SSH port {}", s.listen))?;
    let addr = listener.local_addr()?;
    let key = autogit_ssh::load_or_create_host_key(&config.data_dir.join("ssh")).context("the SSH host key")?;
    let host = if s.external_host.is_empty() { host_of(external_url) } else { s.external_host.clone() };
    let port = if s.external_port == 0 { addr.port() } else { u16::try_from(s.external_port).unwrap_or(22) };
    let clone_base = clone_base(&host, port);
    let settings = SshSettings {
        max_connections: usize::try_from(s.max_connections).unwrap_or(usize::MAX),
        max_connections_per_address: usize::try_from(s.max_connections_per_address).unwrap_or(usize::MAX),
        timeout: Duration::from_secs(s.timeout_seconds),
    };
    Ok(Some(Bound { clone_base, listener, key, settings }))
}

/// Serves SSH on the bound port with the finished application.
pub fn start(bound: Bound, app: &App, shutdown: CancellationToken) -> Result<Started> {
    let addr = bound.listener.local_addr()?;
    let clone_base = &bound.clone_base;
    let task = tokio::spawn(autogit_ssh::serve(bound.listener, app.clone(), bound.key, bound.settings, shutdown));
    // Printed (not only logged) so that scripts and tests find the port of `:0`.
    println!("SSH server on {addr} (clone URLs {clone_base}<namespace>/<project>.git)");
    std::io::stdout().flush().ok();
    tracing::info!(%addr, "ssh listening");
    Ok(Started { task })
}

/// The host of a URL (`http://git.example.com:8080/x` → `git.example.com`, IPv6 in brackets).
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority.to_string(), |(h, _)| format!("{h}]"));
    }
    authority.split(':').next().unwrap_or("").to_string()
}

/// GitLab's forms: `git@host:` on port 22, `ssh://git@host:port/` elsewhere.
fn clone_base(host: &str, port: u16) -> String {
    if port == 22 { format!("git@{host}:") } else { format!("ssh://git@{host}:{port}/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls_as_gitlab_writes_them() {
        assert_eq!(host_of("https://git.example.com:8443/sub"), "git.example.com");
        assert_eq!(host_of("http://[::1]:8080"), "[::1]");
        assert_eq!(host_of("http://127.0.0.1:3000"), "127.0.0.1");
        assert_eq!(clone_base("git.example.com", 22), "git@git.example.com:");
        assert_eq!(clone_base("git.example.com", 2222), "ssh://git@git.example.com:2222/");
    }
}
