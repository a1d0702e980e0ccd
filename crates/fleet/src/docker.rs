//! The `docker` provider: each instance is a container running `autogit runner`.
//!
//! The container `autogit-<group>-<name>` runs a base image that has a shell (`sh`), with the
//! `autogit` binary bind-mounted read-only at `/usr/local/bin/autogit` and the host's network
//! (so that it reaches a coordinator on 127.0.0.1). Its command registers the runner with the
//! launch's token into `/tmp/r.toml` and then `exec`s `autogit runner run`, so the runner is the
//! container's main process: `docker stop` sends it SIGTERM (it stops its running jobs and reports
//! them failed; instances are stopped when idle), then SIGKILL after the grace period. The URL
//! and token travel as environment variables (`AUTOGIT_SERVER_URL`, `AUTOGIT_RUNNER_TOKEN`; the
//! token is unset before the runner starts), never in the command line.
//!
//! Every container carries the group's labels (`autogit.group`, `autogit.runner`,
//! `autogit.instance`) and is found by them alone, so a restarted coordinator adopts what an
//! earlier one left, and exited or stuck containers are reported [`State::TimedOut`] until
//! [`InstanceGroup::decrease`] removes them.
//!
//! **Jobs in containers of their own.** When a launch's `register_args` choose the docker
//! executor (`--docker-image …`, e.g. for an `arm64` pool whose jobs run under QEMU user
//! emulation), the instance's runner starts its job containers on the same engine: the engine's
//! socket is mounted at `/var/run/docker.sock`, and the runner's build directory is a directory
//! of the engine's host seen at the *same* path (`/tmp/autogit-pools/<group>/<name>`, the group's
//! directory being mounted), because the job containers bind-mount it by the runner's path. The
//! instance shell removes its directory when the runner stops. The socket gives the runner the engine's full power, as the
//! docker executor has on any host it runs on.
//!
//! The engine is the local one (the unix socket) or a remote one: `tcp://host:2376` with TLS
//! when `DOCKER_CERT_PATH` names a directory with `ca.pem`, `cert.pem` and `key.pem` (as the
//! docker CLI does), plain HTTP otherwise. On a remote engine the `autogit` binary path is a
//! path on *that* host.

use crate::{
    FleetError, GROUP_LABEL, INSTANCE_LABEL, Instance, InstanceGroup, Launch, ProviderInfo, RUNNER_LABEL, State,
};
use autogit_protocol::shell::quote;
use bollard::models::{ContainerCreateBody, ContainerSummary, ContainerSummaryStateEnum, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::{API_DEFAULT_VERSION, Docker};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

/// Where the binary is mounted in every instance.
pub const AUTOGIT_IN_CONTAINER: &str = "/usr/local/bin/autogit";
const TIMEOUT_S: u64 = 120;

/// A group of runner containers on one Docker engine (see the module documentation).
pub struct DockerGroup {
    docker: Docker,
    group: String,
    image: String,
    autogit_bin: PathBuf,
    remote: bool,
    max_size: usize,
    grace: Duration,
    create_timeout: Duration,
}

impl DockerGroup {
    /// Connects to the engine and agrees on an API version. `image` is a local image with a
    /// shell (it is never pulled); `autogit_bin` is bind-mounted read-only at
    /// [`AUTOGIT_IN_CONTAINER`]; `docker_host` is `None` for the local socket, or `unix://…`,
    /// `tcp://…` / `https://…` (TLS from `DOCKER_CERT_PATH`) or `http://…`.
    pub async fn connect(
        group: &str,
        image: String,
        autogit_bin: PathBuf,
        docker_host: Option<String>,
        max_size: usize,
    ) -> Result<Self, FleetError> {
        let docker = match docker_host.as_deref() {
            None => Docker::connect_with_local_defaults().map_err(|e| FleetError::Config(format!("docker: {e}")))?,
            Some(host) => connect_host(host)?,
        };
        let docker = docker.negotiate_version().await.map_err(|e| {
            FleetError::Unavailable(format!("docker engine {}: {e}", docker_host.as_deref().unwrap_or("(local)")))
        })?;
        let autogit_bin = std::path::absolute(&autogit_bin).unwrap_or(autogit_bin);
        Ok(DockerGroup {
            docker,
            group: group.to_string(),
            image,
            autogit_bin,
            remote: docker_host.is_some_and(|h| !h.starts_with("unix://")),
            max_size,
            grace: Duration::from_secs(10),
            create_timeout: Duration::from_secs(300),
        })
    }

    /// How long `docker stop` waits after SIGTERM before SIGKILL. Default 10 s.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long a container may stay `created`/`restarting` before it is reported
    /// [`State::TimedOut`]. Default 5 min.
    pub fn with_create_timeout(mut self, timeout: Duration) -> Self {
        self.create_timeout = timeout;
        self
    }

    /// The container name of instance `name`.
    pub fn container_name(&self, name: &str) -> String {
        format!("autogit-{}-{name}", self.group)
    }

    /// Every container of this group, in any state.
    async fn containers(&self) -> Result<Vec<ContainerSummary>, FleetError> {
        let filter = HashMap::from([("label".to_string(), vec![format!("{GROUP_LABEL}={}", self.group)])]);
        self.docker
            .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filter).build()))
            .await
            .map_err(|e| engine_err("listing containers", e))
    }

    fn instance(&self, c: ContainerSummary) -> Instance {
        let labels: BTreeMap<String, String> = c.labels.unwrap_or_default().into_iter().collect();
        let created_at = c.created.unwrap_or(0).saturating_mul(1000);
        let stuck = crate::now_ms().saturating_sub(created_at) > self.create_timeout.as_millis() as i64;
        let state = match c.state {
            Some(ContainerSummaryStateEnum::RUNNING) => State::Running,
            Some(
                ContainerSummaryStateEnum::REMOVING
                | ContainerSummaryStateEnum::STOPPING
                | ContainerSummaryStateEnum::PAUSED,
            ) => State::Deleting,
            Some(ContainerSummaryStateEnum::EXITED | ContainerSummaryStateEnum::DEAD) => State::TimedOut,
            // created, restarting, or a state this client does not know.
            _ if stuck => State::TimedOut,
            _ => State::Creating,
        };
        let prefix = format!("/{}", self.container_name(""));
        let id = labels
            .get(INSTANCE_LABEL)
            .cloned()
            .or_else(|| c.names.iter().flatten().find_map(|n| n.strip_prefix(&prefix).map(str::to_string)))
            .or(c.id)
            .unwrap_or_default();
        Instance { id, state, created_at, runner_id: labels.get(RUNNER_LABEL).and_then(|v| v.parse().ok()), labels }
    }

    async fn launch(&self, l: &Launch) -> Result<(), FleetError> {
        let name = self.container_name(&l.name);
        let mut binds = vec![format!("{}:{AUTOGIT_IN_CONTAINER}:ro", self.autogit_bin.display())];
        let nested = nested_dir(&self.group, l);
        if nested.is_some() {
            // The group's directory, not the instance's: a mount point cannot be removed from
            // inside, and the instance removes its own directory when its runner stops.
            let shared = format!("{NESTED_ROOT}/{}", self.group);
            binds.push(format!("{ENGINE_SOCKET}:{ENGINE_SOCKET}"));
            binds.push(format!("{shared}:{shared}"));
        }
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: Some(vec![]),
            cmd: Some(vec!["sh".into(), "-c".into(), runner_script(l, nested.as_deref())]),
            env: Some(vec![
                format!("AUTOGIT_SERVER_URL={}", l.server_url),
                format!("AUTOGIT_RUNNER_TOKEN={}", l.runner_token),
            ]),
            labels: Some(crate::instance_labels(&self.group, l).into_iter().collect()),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some("host".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        let id = match self.docker.create_container(Some(opts), body).await {
            Ok(r) => r.id,
            Err(e) => {
                return Err(match status(&e) {
                    Some(404) => FleetError::Config(format!(
                        "image {} is not on the engine (it is never pulled; build or pull it first): {e}",
                        self.image
                    )),
                    Some(409) => FleetError::Failed(format!("container {name} already exists: {e}")),
                    _ => engine_err(&format!("creating {name}"), e),
                });
            }
        };
        if let Err(e) = self.docker.start_container(&id, None).await {
            self.remove(&id).await.ok();
            return Err(engine_err(&format!("starting {name}"), e));
        }
        tracing::info!(group = %self.group, instance = %l.name, container = %name, runner = l.runner_id.get(), "runner container started");
        Ok(())
    }

    /// Stops (grace, then SIGKILL) and removes one container; a missing one is fine.
    async fn remove(&self, container: &str) -> Result<(), FleetError> {
        let t = i32::try_from(self.grace.as_secs()).unwrap_or(i32::MAX);
        match self.docker.stop_container(container, Some(StopContainerOptionsBuilder::default().t(t).build())).await {
            Ok(()) => {}
            Err(e) if matches!(status(&e), Some(304)) => {} // already stopped
            Err(e) if matches!(status(&e), Some(404)) => return Ok(()),
            Err(e) => tracing::warn!(container, error = %e, "stopping the container failed; removing it by force"),
        }
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match self.docker.remove_container(container, Some(opts)).await {
            Ok(()) => Ok(()),
            // 409: a removal is already in progress.
            Err(e) if matches!(status(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(engine_err(&format!("removing {container}"), e)),
        }
    }
}

#[async_trait::async_trait]
impl InstanceGroup for DockerGroup {
    async fn init(&self) -> Result<ProviderInfo, FleetError> {
        crate::check_names(&self.group, &[])?;
        self.docker.ping().await.map_err(|e| FleetError::Unavailable(format!("docker engine: {e}")))?;
        if let Err(e) = self.docker.inspect_image(&self.image).await {
            return Err(match status(&e) {
                Some(404) => FleetError::Config(format!(
                    "image {} is not on the engine (it is never pulled; build or pull it first)",
                    self.image
                )),
                _ => engine_err(&format!("inspecting image {}", self.image), e),
            });
        }
        if !self.remote && !self.autogit_bin.is_file() {
            return Err(FleetError::Config(format!("autogit binary {} is not a file", self.autogit_bin.display())));
        }
        Ok(ProviderInfo {
            id: format!("docker/{}", self.group),
            max_size: self.max_size,
            version: env!("CARGO_PKG_VERSION").to_string(),
            can_suspend: false,
        })
    }

    async fn update(&self) -> Result<Vec<Instance>, FleetError> {
        let mut out: Vec<Instance> = self.containers().await?.into_iter().map(|c| self.instance(c)).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn increase(&self, launches: &[Launch]) -> Result<usize, FleetError> {
        crate::check_names(&self.group, launches)?;
        let room = self.max_size.saturating_sub(self.containers().await?.len());
        let launches = &launches[..launches.len().min(room)];
        let results = futures_util::future::join_all(launches.iter().map(|l| self.launch(l))).await;
        crate::process::finish_increase(&self.group, results)
    }

    async fn decrease(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        // Found by label, not by name: only this group's containers are ever touched.
        let all = self.containers().await?;
        let results = futures_util::future::join_all(ids.iter().map(|id| {
            let mine: Vec<String> =
                all.iter().filter(|c| self.instance((*c).clone()).id == *id).filter_map(|c| c.id.clone()).collect();
            async move {
                for c in mine {
                    self.remove(&c).await?;
                }
                tracing::info!(group = %self.group, instance = %id, "runner container deleted");
                Ok(())
            }
        }))
        .await;
        crate::process::finish_decrease(&self.group, ids, results)
    }

    async fn heartbeat(&self, id: &str) -> Result<bool, FleetError> {
        if !crate::valid_name(id) {
            return Ok(false);
        }
        match self.docker.inspect_container(&self.container_name(id), None::<InspectContainerOptions>).await {
            Ok(c) => {
                let mine = c.config.and_then(|c| c.labels).and_then(|l| l.get(GROUP_LABEL).cloned())
                    == Some(self.group.clone());
                Ok(mine && c.state.and_then(|s| s.running).unwrap_or(false))
            }
            Err(e) if matches!(status(&e), Some(404)) => Ok(false),
            Err(e) => Err(engine_err(&format!("inspecting {id}"), e)),
        }
    }

    async fn shutdown(&self) -> Result<(), FleetError> {
        // The client holds no engine-side resources; the containers stay up.
        Ok(())
    }
}

/// The engine's socket, where the docker executor of a nested runner finds it.
const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// Where on the engine's host the build directories of nested runners live.
const NESTED_ROOT: &str = "/tmp/autogit-pools";

/// The host directory shared with the job containers of an instance whose runner uses the docker
/// executor; `None` for the shell executor.
fn nested_dir(group: &str, l: &Launch) -> Option<String> {
    let docker_executor = l.register_args.iter().any(|a| a == "--docker-image" || a.starts_with("--docker-image="));
    // Group and launch names are checked (`check_names`): no `/`, `..` or `:`.
    docker_executor.then(|| format!("{NESTED_ROOT}/{group}/{}", l.name))
}

/// `register … && run`, with every caller-supplied argument single-quoted. With the shell
/// executor the runner is `exec`ed (it is the container's main process and gets `docker stop`'s
/// SIGTERM); with a shared build directory the shell stays, forwards SIGTERM, waits for the
/// runner to finish its jobs and removes the directory.
fn runner_script(l: &Launch, nested: Option<&str>) -> String {
    let extra: String = l.register_args.iter().map(|a| format!(" {}", quote(a))).collect();
    let builds = nested.map_or_else(|| "/builds".to_string(), |d| format!("{d}/builds"));
    let register = format!(
        "{AUTOGIT_IN_CONTAINER} runner register --url \"$AUTOGIT_SERVER_URL\" --token \"$AUTOGIT_RUNNER_TOKEN\" \
         --runner-config /tmp/r.toml --builds-dir {builds} --concurrent {}{extra} && unset AUTOGIT_RUNNER_TOKEN",
        l.concurrent
    );
    let run = format!("{AUTOGIT_IN_CONTAINER} runner run --runner-config /tmp/r.toml");
    match nested {
        None => format!("{register} && exec {run}"),
        Some(dir) => format!(
            "{register} && {{ {run} & p=$!; trap 'kill -TERM $p' TERM INT; wait $p; s=$?; \
             if kill -0 $p 2>/dev/null; then wait $p; s=$?; fi; rm -rf {dir}; exit $s; }}"
        ),
    }
}

fn connect_host(host: &str) -> Result<Docker, FleetError> {
    let config = |e: bollard::errors::Error| FleetError::Config(format!("docker host {host}: {e}"));
    if host.starts_with("unix://") {
        return Docker::connect_with_unix(host, TIMEOUT_S, API_DEFAULT_VERSION).map_err(config);
    }
    if host.starts_with("http://") {
        return Docker::connect_with_http(host, TIMEOUT_S, API_DEFAULT_VERSION).map_err(config);
    }
    if !(host.starts_with("tcp://") || host.starts_with("https://")) {
        return Err(FleetError::Config(format!("docker host {host}: expected unix://, tcp://, https:// or http://")));
    }
    match std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()).map(PathBuf::from) {
        Some(certs) => {
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                if !certs.join(f).is_file() {
                    return Err(FleetError::Config(format!("DOCKER_CERT_PATH {}: no {f}", certs.display())));
                }
            }
            Docker::connect_with_ssl(
                host,
                &certs.join("key.pem"),
                &certs.join("cert.pem"),
                &certs.join("ca.pem"),
                TIMEOUT_S,
                API_DEFAULT_VERSION,
            )
            .map_err(config)
        }
        None if host.starts_with("https://") => Err(FleetError::Config(format!(
            "docker host {host}: TLS needs DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem)"
        ))),
        None => Docker::connect_with_http(host, TIMEOUT_S, API_DEFAULT_VERSION).map_err(config),
    }
}

fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine answered with an error: this call failed. It did not answer: try again later.
fn engine_err(what: &str, e: bollard::errors::Error) -> FleetError {
    match status(&e) {
        Some(_) => FleetError::Failed(format!("{what}: {e}")),
        None => FleetError::Unavailable(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_quotes_extra_arguments_and_keeps_secrets_out() {
        let l = Launch {
            name: "a".into(),
            server_url: "http://127.0.0.1:1".into(),
            runner_token: "glrt-secret".into(),
            runner_id: autogit_core::RunnerId::new(3),
            concurrent: 2,
            register_args: vec!["--docker-image".into(), "it's".into()],
        };
        let dir = nested_dir("g", &l);
        assert_eq!(dir.as_deref(), Some("/tmp/autogit-pools/g/a"), "the docker executor shares a host directory");
        let s = runner_script(&l, dir.as_deref());
        assert!(!s.contains("glrt-secret") && !s.contains("127.0.0.1"));
        assert!(
            s.contains("--builds-dir /tmp/autogit-pools/g/a/builds --concurrent 2 '--docker-image' 'it'\\''s' &&"),
            "{s}"
        );
        assert!(s.contains("trap 'kill -TERM $p' TERM INT") && s.contains("rm -rf /tmp/autogit-pools/g/a;"), "{s}");

        let shell = Launch { register_args: vec!["--gpu-root".into(), "/x".into()], ..l };
        assert_eq!(nested_dir("g", &shell), None);
        let s = runner_script(&shell, None);
        assert!(s.contains("--builds-dir /builds"), "{s}");
        assert!(s.ends_with("exec /usr/local/bin/autogit runner run --runner-config /tmp/r.toml"), "{s}");
    }

    #[test]
    fn hosts() {
        assert!(matches!(connect_host("ssh://x"), Err(FleetError::Config(_))));
    }
}
