//! The docker executor: each job gets its own bridge network, its services as sidecar
//! containers reachable by alias, and a build container from the job's image with the working
//! copy bind-mounted at `/builds/<project path>`. Sources are fetched on the host
//! ([`crate::sources`]), so job images need no git. Everything the executor creates carries the
//! label `autogit.runner=<system id>`, so that [`DockerExecutor::remove_stale`] can clean up what
//! a crashed runner left behind; normal runs remove their containers and network on every path.

use crate::script::{job_env, step_script};
use crate::shell::{AFTER_SCRIPT_TIMEOUT, NoStages, Outcome, Stages, step_timeout, write_files};
use autogit_gpu::handoff::ContainerGpus;
use autogit_protocol::{FailureReason, Image, JobResponse};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, EndpointSettings, NetworkCreateRequest, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod container;

pub use container::ContainerRules;
use container::merge_gpus;

const LABEL: &str = "autogit.runner";
const JOB_LABEL: &str = "autogit.job";
const MOUNT_ROOT: &str = "/builds";
const TMP_MOUNT: &str = "/autogit-tmp";

pub struct DockerExecutor {
    pub docker: Docker,
    pub builds_dir: PathBuf,
    pub git: String,
    /// The image for jobs that name none.
    pub default_image: String,
    /// Label value identifying this runner's containers and networks.
    pub system_id: String,
    /// Where GPUs are detected (`/`; a fixture tree in tests): the coordinator names the
    /// allocated GPUs by key, this host knows their UUIDs and device nodes.
    pub gpu_root: PathBuf,
    /// `linux/<arch>` for a runner configured for one architecture: job and service
    /// containers are created (and missing images pulled) for it, so that a multi-arch image
    /// resolves to that variant and a single-arch image of another one is refused by the engine.
    pub platform: Option<String>,
    /// What job and service containers may do and use (see [`ContainerRules`]).
    pub rules: ContainerRules,
}

/// What one job created, removed at the end whatever happened.
#[derive(Default)]
struct Created {
    containers: Vec<String>,
    network: Option<String>,
}

impl DockerExecutor {
    /// Connects to the local engine (`DOCKER_HOST` or the unix socket), agreeing on an API
    /// version the engine supports (Debian's 20.10 engine speaks 1.41).
    pub async fn connect(
        builds_dir: PathBuf,
        default_image: String,
        system_id: String,
    ) -> Result<Self, bollard::errors::Error> {
        let docker = Docker::connect_with_local_defaults()?.negotiate_version().await?;
        Ok(DockerExecutor {
            docker,
            builds_dir,
            git: "git".into(),
            default_image,
            system_id,
            gpu_root: "/".into(),
            platform: None,
            rules: ContainerRules::default(),
        })
    }

    fn labels(&self, job: i64) -> HashMap<String, String> {
        HashMap::from([(LABEL.to_string(), self.system_id.clone()), (JOB_LABEL.to_string(), job.to_string())])
    }

    /// Removes containers and networks this runner created and did not clean up (a crash).
    pub async fn remove_stale(&self) -> Result<usize, bollard::errors::Error> {
        let filter = HashMap::from([("label".to_string(), vec![format!("{LABEL}={}", self.system_id)])]);
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filter).build()))
            .await?;
        let mut removed = 0;
        for c in containers.into_iter().filter_map(|c| c.id) {
            self.remove_container(&c).await;
            removed += 1;
        }
        let networks =
            self.docker.list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filter).build())).await?;
        for n in networks.into_iter().filter_map(|n| n.id) {
            let _ = self.docker.remove_network(&n).await;
            removed += 1;
        }
        Ok(removed)
    }

    async fn remove_container(&self, id: &str) {
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        if let Err(e) = self.docker.remove_container(id, Some(opts)).await {
            tracing::warn!(container = id, error = %e, "could not remove container");
        }
    }

    pub async fn run(&self, job: &JobResponse, out: mpsc::Sender<Vec<u8>>, cancel: CancellationToken) -> Outcome {
        self.run_with(job, out, cancel, &NoStages).await
    }

    /// [`Self::run`] with the worker's [`Stages`] around the script (run on the host directory).
    pub async fn run_with(
        &self,
        job: &JobResponse,
        out: mpsc::Sender<Vec<u8>>,
        cancel: CancellationToken,
        stages: &impl Stages,
    ) -> Outcome {
        let mut created = Created::default();
        let outcome = self.run_inner(job, &out, &cancel, &mut created, stages).await;
        for c in &created.containers {
            self.remove_container(c).await;
        }
        if let Some(n) = &created.network
            && let Err(e) = self.docker.remove_network(n).await
        {
            tracing::warn!(network = %n, error = %e, "could not remove network");
        }
        if outcome == Outcome::Success {
            let _ = out.send(b"\x1b[32;1mJob succeeded\x1b[0;m\n".to_vec()).await;
        }
        outcome
    }

    async fn run_inner(
        &self,
        job: &JobResponse,
        out: &mpsc::Sender<Vec<u8>>,
        cancel: &CancellationToken,
        created: &mut Created,
        stages: &impl Stages,
    ) -> Outcome {
        let say = |s: String| async move {
            let _ = out.send(s.into_bytes()).await;
        };
        let image =
            job.image.as_ref().map(|i| i.name.clone()).filter(|n| !n.is_empty()).unwrap_or(self.default_image.clone());
        say(format!("\x1b[0KRunning with autogit runner (docker executor), job {}, image {image}\n", job.id)).await;
        let rel = project_path(job);
        let host_dir = builds_root(&self.builds_dir, job).join(&rel);
        let host_tmp = host_dir.with_extension("tmp");
        if let Err(e) = crate::sources::fetch(&self.git, job, &host_dir, out, None).await {
            say(format!("\x1b[31;1mERROR: fetching sources failed: {e}\x1b[0;m\n")).await;
            return system_failure();
        }
        if let Err(outcome) = stages.before_script(&host_dir, out).await {
            return outcome;
        }
        let container_dir = format!("{MOUNT_ROOT}/{rel}");
        let mut env = job_env(&job.variables, Path::new(TMP_MOUNT));
        let host_files: Vec<(String, String)> = env
            .files
            .iter()
            .map(|(p, c)| {
                (host_tmp.join(Path::new(p).file_name().unwrap_or_default()).display().to_string(), c.clone())
            })
            .collect();
        if let Err(e) = tokio::fs::create_dir_all(&host_tmp).await.and(Ok(())) {
            say(format!("\x1b[31;1mERROR: {e}\x1b[0;m\n")).await;
            return system_failure();
        }
        if let Err(e) = write_files(&host_tmp, &host_files).await {
            say(format!("\x1b[31;1mERROR: preparing variables failed: {e}\x1b[0;m\n")).await;
            return system_failure();
        }
        env.vars.push(("CI_PROJECT_DIR".into(), container_dir.clone()));
        env.vars.push(("CI_BUILDS_DIR".into(), MOUNT_ROOT.into()));
        env.vars.push(("CI_SERVER".into(), "yes".into()));

        let network = format!("autogit-job-{}-{}", job.id, self.system_id);
        let req =
            NetworkCreateRequest { name: network.clone(), labels: Some(self.labels(job.id)), ..Default::default() };
        if let Err(e) = self.docker.create_network(req).await {
            say(format!("\x1b[31;1mERROR: creating the job network failed: {e}\x1b[0;m\n")).await;
            return system_failure();
        }
        created.network = Some(network.clone());
        for svc in &job.services {
            if let Err(reason) = self.start_service(job, svc, &network, &env.vars, out, created).await {
                return reason;
            }
        }
        if let Err(reason) = self.ensure_image(&image, out).await {
            return reason;
        }
        let binds =
            vec![format!("{}:{container_dir}", host_dir.display()), format!("{}:{TMP_MOUNT}", host_tmp.display())];
        let gpus = match self.allocated_gpus(job).await {
            Ok(g) => g,
            Err(msg) => return failure(out, msg),
        };
        let default_timeout = Duration::from_secs(job.runner_info.timeout.max(1) as u64);
        let mut outcome = Outcome::Success;
        for step in job.steps.iter().filter(|s| s.name != "after_script") {
            let spec = StepSpec {
                image: &image,
                script: &step.script,
                dir: &container_dir,
                binds: &binds,
                network: &network,
                gpus: &gpus,
            };
            let timeout = step_timeout(step, default_timeout);
            outcome = self.step(job, &spec, &env.vars, timeout, out, cancel, created).await;
            if outcome != Outcome::Success {
                break;
            }
        }
        if let Some(after) = job.steps.iter().find(|s| s.name == "after_script" && !s.script.is_empty()) {
            let mut vars = env.vars.clone();
            vars.push(("CI_JOB_STATUS".into(), outcome.job_status().into()));
            say("\x1b[32;1mRunning after_script\x1b[0;m\n".into()).await;
            let spec = StepSpec {
                image: &image,
                script: &after.script,
                dir: &container_dir,
                binds: &binds,
                network: &network,
                gpus: &gpus,
            };
            let timeout = step_timeout(after, AFTER_SCRIPT_TIMEOUT).min(AFTER_SCRIPT_TIMEOUT);
            let _ = self.step(job, &spec, &vars, timeout, out, &CancellationToken::new(), created).await;
        }
        let _ = tokio::fs::remove_dir_all(&host_tmp).await;
        stages.after_script(&host_dir, outcome, out).await
    }

    /// `if-not-present`: use a local image, pull only when it is missing.
    async fn ensure_image(&self, image: &str, out: &mpsc::Sender<Vec<u8>>) -> Result<(), Outcome> {
        if self.docker.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        let _ = out.send(format!("Pulling image {image}\n").into_bytes()).await;
        let mut opts = CreateImageOptionsBuilder::default().from_image(image);
        if let Some(p) = &self.platform {
            opts = opts.platform(p);
        }
        let mut pull = self.docker.create_image(Some(opts.build()), None, None);
        while let Some(r) = pull.next().await {
            if let Err(e) = r {
                let _ = out.send(format!("\x1b[31;1mERROR: pulling {image} failed: {e}\x1b[0;m\n").into_bytes()).await;
                return Err(Outcome::Failed { reason: FailureReason::ImagePullFailure, exit_code: None });
            }
        }
        Ok(())
    }

    async fn start_service(
        &self,
        job: &JobResponse,
        svc: &Image,
        network: &str,
        vars: &[(String, String)],
        out: &mpsc::Sender<Vec<u8>>,
        created: &mut Created,
    ) -> Result<(), Outcome> {
        self.ensure_image(&svc.name, out).await?;
        let aliases = service_aliases(svc);
        let mut env: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(svc.variables.iter().map(|v| format!("{}={}", v.key, v.value)));
        let body = ContainerCreateBody {
            image: Some(svc.name.clone()),
            env: Some(env),
            cmd: (!svc.command.is_empty()).then(|| svc.command.clone()),
            entrypoint: (!svc.entrypoint.is_empty()).then(|| svc.entrypoint.clone()),
            labels: Some(self.labels(job.id)),
            host_config: Some(self.rules.host_config(network, Vec::new())),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_string(),
                    EndpointSettings { aliases: Some(aliases.clone()), ..Default::default() },
                )])),
            }),
            ..Default::default()
        };
        let id = self.create(body).await.map_err(|e| failure(out, format!("creating service {}: {e}", svc.name)))?;
        created.containers.push(id.clone());
        self.docker
            .start_container(&id, None)
            .await
            .map_err(|e| failure(out, format!("starting service {}: {e}", svc.name)))?;
        let _ = out.send(format!("Started service {} as {}\n", svc.name, aliases.join(", ")).into_bytes()).await;
        Ok(())
    }

    async fn create(&self, body: ContainerCreateBody) -> Result<String, bollard::errors::Error> {
        let mut opts = CreateContainerOptionsBuilder::default();
        if let Some(p) = &self.platform {
            opts = opts.platform(p);
        }
        Ok(self.docker.create_container(Some(opts.build()), body).await?.id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        job: &JobResponse,
        spec: &StepSpec<'_>,
        vars: &[(String, String)],
        timeout: Duration,
        out: &mpsc::Sender<Vec<u8>>,
        cancel: &CancellationToken,
        created: &mut Created,
    ) -> Outcome {
        let body = ContainerCreateBody {
            image: Some(spec.image.to_string()),
            cmd: Some(vec!["sh".into(), "-c".into(), step_script(spec.script)]),
            entrypoint: Some(vec![]),
            env: Some(vars.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: Some(spec.dir.to_string()),
            labels: Some(self.labels(job.id)),
            host_config: Some(merge_gpus(self.rules.host_config(spec.network, spec.binds.to_vec()), spec.gpus)),
            ..Default::default()
        };
        let id = match self.create(body).await {
            Ok(id) => id,
            Err(e) => return failure(out, format!("creating the build container: {e}")),
        };
        created.containers.push(id.clone());
        if let Err(e) = self.docker.start_container(&id, None).await {
            return failure(out, format!("starting the build container: {e}"));
        }
        let logs =
            self.docker.logs(&id, Some(LogsOptionsBuilder::default().follow(true).stdout(true).stderr(true).build()));
        let forward = {
            let out = out.clone();
            async move {
                tokio::pin!(logs);
                while let Some(Ok(chunk)) = logs.next().await {
                    let bytes = match chunk {
                        LogOutput::StdOut { message }
                        | LogOutput::StdErr { message }
                        | LogOutput::Console { message } => message,
                        LogOutput::StdIn { .. } => continue,
                    };
                    if out.send(bytes.to_vec()).await.is_err() {
                        break;
                    }
                }
            }
        };
        let wait = async {
            let mut w = self.docker.wait_container(&id, None::<WaitContainerOptions>);
            match w.next().await {
                Some(Ok(r)) => Ok(r.status_code),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("the engine ended the wait".to_string()),
            }
        };
        let (end, ()) = tokio::join!(
            async {
                tokio::select! {
                    r = wait => match r {
                        Ok(0) => Outcome::Success,
                        Ok(code) => Outcome::Failed { reason: FailureReason::ScriptFailure, exit_code: Some(code as i32) },
                        Err(e) => failure(out, format!("waiting for the build container: {e}")),
                    },
                    _ = tokio::time::sleep(timeout) => {
                        self.kill(&id).await;
                        Outcome::Failed { reason: FailureReason::JobExecutionTimeout, exit_code: None }
                    },
                    _ = cancel.cancelled() => {
                        self.kill(&id).await;
                        Outcome::Canceled
                    },
                }
            },
            forward
        );
        match &end {
            Outcome::Failed { reason: FailureReason::ScriptFailure, exit_code: Some(c) } => {
                let _ = out.send(format!("\x1b[31;1mERROR: Job failed: exit code {c}\x1b[0;m\n").into_bytes()).await;
            }
            Outcome::Failed { reason: FailureReason::JobExecutionTimeout, .. } => {
                let _ = out
                    .send(
                        format!("\x1b[31;1mERROR: Job failed: execution took longer than {timeout:?}\x1b[0;m\n")
                            .into_bytes(),
                    )
                    .await;
            }
            Outcome::Canceled => {
                let _ = out.send(b"\x1b[31;1mERROR: Job was canceled\x1b[0;m\n".to_vec()).await;
            }
            _ => {}
        }
        end
    }

    async fn kill(&self, id: &str) {
        let _ = self
            .docker
            .kill_container(id, Some(KillContainerOptionsBuilder::default().signal("SIGKILL").build()))
            .await;
    }
}

struct StepSpec<'a> {
    image: &'a str,
    script: &'a [String],
    dir: &'a str,
    binds: &'a [String],
    network: &'a str,
    gpus: &'a ContainerGpus,
}

impl DockerExecutor {
    /// The GPUs the coordinator allocated to this job, found in this host's inventory. An
    /// allocated GPU this host does not have is an error: running without it would be wrong.
    async fn allocated_gpus(&self, job: &JobResponse) -> Result<ContainerGpus, String> {
        let Some(keys) = job.variables.iter().rev().find(|v| v.key == "AUTOGIT_GPU_KEYS") else {
            return Ok(ContainerGpus::default());
        };
        let keys: Vec<String> =
            keys.value.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect();
        if keys.is_empty() {
            return Ok(ContainerGpus::default());
        }
        let root = self.gpu_root.clone();
        let inv = tokio::task::spawn_blocking(move || crate::inventory::detect_gpus(&root))
            .await
            .map_err(|e| format!("detecting GPUs: {e}"))?;
        let mut chosen = Vec::new();
        for k in &keys {
            match inv.gpus.iter().find(|g| g.key.to_string() == *k) {
                Some(g) => chosen.push(g.clone()),
                None => return Err(format!("the allocated GPU {k} is not on this host any more")),
            }
        }
        Ok(autogit_gpu::handoff::container(&chosen))
    }
}

fn system_failure() -> Outcome {
    Outcome::Failed { reason: FailureReason::RunnerSystemFailure, exit_code: None }
}

fn failure(out: &mpsc::Sender<Vec<u8>>, msg: String) -> Outcome {
    let _ = out.try_send(format!("\x1b[31;1mERROR: {msg}\x1b[0;m\n").into_bytes());
    system_failure()
}

/// `project_full_path`, or the project id when the coordinator sent none or one that is not a
/// plain relative path (the working copy is `<builds dir>/<it>`: an absolute path or `..` would
/// put it, and the runner's writes there, anywhere on the host).
pub(crate) fn project_path(job: &JobResponse) -> String {
    let path = &job.job_info.project_full_path;
    if plain_relative(path) { path.clone() } else { job.job_info.project_id.to_string() }
}

/// The directory that holds the job's working copy on the host: the executor's builds directory,
/// or for a job of a protected ref its sibling `<builds dir>-protected`. A job of an unprotected
/// ref may leave anything in its working copy (objects under a known id with other contents,
/// replace refs, files git does not clean); a job that runs under protected variables never
/// starts from what such a job left (GitLab separates caches the same way).
pub(crate) fn builds_root(builds_dir: &Path, job: &JobResponse) -> PathBuf {
    if job.git_info.protected != Some(true) {
        return builds_dir.to_path_buf();
    }
    match builds_dir.file_name() {
        Some(name) => {
            let mut name = name.to_os_string();
            name.push("-protected");
            builds_dir.with_file_name(name)
        }
        None => builds_dir.join("protected"),
    }
}

/// A non-empty path of plain names only: no root, `.` or `..`.
fn plain_relative(path: &str) -> bool {
    !path.is_empty() && Path::new(path).components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// A service is reachable by its `alias` (comma- or space-separated, several allowed) and, as in
/// GitLab, by its image name without tag: `/` → `__` and `/` → `-`.
pub fn service_aliases(svc: &Image) -> Vec<String> {
    let mut aliases: Vec<String> = svc
        .alias
        .as_deref()
        .unwrap_or("")
        .split([',', ' '])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    let base = svc.name.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map(|(b, _)| b).unwrap_or(&svc.name);
    for derived in [base.replace('/', "__"), base.replace('/', "-")] {
        if !aliases.contains(&derived) {
            aliases.push(derived);
        }
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_path_never_leaves_the_builds_directory() {
        assert!(plain_relative("group/app") && plain_relative("a/b/c"));
        for bad in ["", "/etc", "../../etc", "group/../../x", "./x"] {
            assert!(!plain_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn protected_jobs_never_share_a_working_copy_with_unprotected_ones() {
        let mut job: JobResponse = serde_json::from_value(serde_json::json!({
            "id": 1, "token": "t", "allow_git_fetch": true, "job_info": {}, "git_info": {},
            "runner_info": {}, "variables": [], "steps": [], "image": null,
        }))
        .expect("job");
        let b = Path::new("/r/builds/0");
        assert_eq!(builds_root(b, &job), b, "no protection given");
        job.git_info.protected = Some(false);
        assert_eq!(builds_root(b, &job), b);
        job.git_info.protected = Some(true);
        assert_eq!(builds_root(b, &job), Path::new("/r/builds/0-protected"));
    }

    #[test]
    fn aliases_follow_gitlab() {
        let svc = Image {
            name: "registry.example.com/db/postgres:15".into(),
            alias: Some("db, pg".into()),
            ..Default::default()
        };
        assert_eq!(
            service_aliases(&svc),
            ["db", "pg", "registry.example.com__db__postgres", "registry.example.com-db-postgres"]
        );
        let svc = Image { name: "redis".into(), ..Default::default() };
        assert_eq!(service_aliases(&svc), ["redis"]);
    }
}
