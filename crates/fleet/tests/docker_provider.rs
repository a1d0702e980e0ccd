//! The docker provider against the real Docker engine (`scripts/test` and CI install and start
//! it), with a busybox image built locally (`scripts/docker-test-image`; no registry is reachable
//! here) and the stand-in `autogit` script (tests/common) bind-mounted as the runner binary.
//! Docker missing is a failure with a clear message, never a skip.
#![allow(clippy::unwrap_used)]

mod common;

use autogit_fleet::docker::DockerGroup;
use autogit_fleet::{FleetError, InstanceGroup, State};
use common::{eventually, launch, stand_in};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const IMAGE: &str = "autogit-test/busybox:2";

fn ensure_image() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/docker-test-image");
    let out = Command::new("bash").arg(script).arg(IMAGE).output().expect("bash runs");
    assert!(
        out.status.success(),
        "Docker is unavailable or the test image could not be built (needs a running Docker engine and \
         busybox-static; ./scripts/test installs and starts both): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker").args(args).output().expect("the docker CLI runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Removes every container of the group, whatever the test did.
struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let (_, ids) = docker(&["ps", "-aq", "--filter", &format!("label=autogit.group={}", self.0)]);
        for id in ids.split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
    }
}

async fn connect(group: &str, bin: &Path, max: usize) -> DockerGroup {
    match DockerGroup::connect(group, IMAGE.into(), bin.to_path_buf(), None, max).await {
        Ok(g) => g.with_grace(Duration::from_secs(5)),
        Err(e) => panic!("Docker engine unavailable (./scripts/test installs and starts it): {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_lifecycle_adoption_and_cleanup() {
    ensure_image();
    let tmp = tempfile::tempdir().unwrap();
    let bin = stand_in(tmp.path());
    // Unique per run: other test runs may share the engine.
    let group = format!("t{}", std::process::id());
    let _cleanup = Cleanup(group.clone());
    let fleet = connect(&group, &bin, 2).await;
    let info = fleet.init().await.unwrap();
    assert_eq!(info.id, format!("docker/{group}"));
    assert!(fleet.update().await.unwrap().is_empty());

    // increase 1 -> Running via update, with its labels; the runner really registered and runs.
    assert_eq!(fleet.increase(&[launch("a", "glrt-aaa", 21)]).await.unwrap(), 1);
    let list = fleet.update().await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let a = &list[0];
    assert_eq!((a.id.as_str(), a.state, a.runner_id), ("a", State::Running, Some(autogit_core::RunnerId::new(21))));
    assert_eq!(a.labels["autogit.group"], group);
    assert_eq!(a.labels["autogit.instance"], "a");
    let name_a = fleet.container_name("a");
    eventually(10, "the runner in a registered and runs", || {
        let name = name_a.clone();
        async move { docker(&["logs", &name]).1.contains("running with /tmp/r.toml") }
    })
    .await;
    let (ok, config) = docker(&["exec", &name_a, "cat", "/tmp/r.toml"]);
    assert!(ok && config.contains("token = \"glrt-aaa\"") && config.contains("--concurrent 2"), "{config}");
    let (_, env) = docker(&["exec", &name_a, "cat", "/proc/1/environ"]);
    assert!(!env.contains("glrt-aaa"), "the token is unset before the runner starts: {env}");
    assert!(fleet.heartbeat("a").await.unwrap());
    assert!(!fleet.heartbeat("ghost").await.unwrap());

    // A restarted coordinator (another DockerGroup) sees it.
    let restarted = connect(&group, &bin, 2).await;
    let seen = restarted.update().await.unwrap();
    assert_eq!(seen.iter().map(|i| (i.id.as_str(), i.state)).collect::<Vec<_>>(), [("a", State::Running)]);

    // An instance whose container exited (its register was refused) shows TimedOut.
    assert_eq!(fleet.increase(&[launch("b", "bad-token", 22)]).await.unwrap(), 1);
    eventually(10, "b reported TimedOut", || async {
        fleet.update().await.unwrap().iter().any(|i| i.id == "b" && i.state == State::TimedOut)
    })
    .await;
    assert!(!fleet.heartbeat("b").await.unwrap());
    // max_size 2 counts it until it is decreased; a name in use fails.
    assert_eq!(fleet.increase(&[launch("c", "glrt-ccc", 23)]).await.unwrap(), 0);
    let big = connect(&group, &bin, 5).await;
    assert!(matches!(big.increase(&[launch("a", "glrt-x", 24)]).await, Err(FleetError::Failed(_))));

    // decrease removes the containers (the runner stops on SIGTERM); unknown ids are fine.
    let gone = restarted.decrease(&["a".into(), "b".into(), "ghost".into()]).await.unwrap();
    assert_eq!(gone, ["a", "b", "ghost"]);
    assert!(fleet.update().await.unwrap().is_empty());
    let (exists, _) = docker(&["inspect", &name_a]);
    assert!(!exists, "container {name_a} removed");
    assert_eq!(fleet.decrease(&["a".into()]).await.unwrap(), ["a"]);

    // A container stopped out of band is TimedOut too, and decrease still removes it.
    assert_eq!(fleet.increase(&[launch("d", "glrt-ddd", 25)]).await.unwrap(), 1);
    let (ok, out) = docker(&["kill", &fleet.container_name("d")]);
    assert!(ok, "{out}");
    eventually(10, "d reported TimedOut", || async {
        fleet.update().await.unwrap().iter().any(|i| i.id == "d" && i.state == State::TimedOut)
    })
    .await;
    assert_eq!(fleet.decrease(&["d".into()]).await.unwrap(), ["d"]);
    assert!(fleet.update().await.unwrap().is_empty());
    fleet.shutdown().await.unwrap();
}

#[tokio::test]
async fn init_rejects_a_missing_image() {
    ensure_image();
    let tmp = tempfile::tempdir().unwrap();
    let bin = stand_in(tmp.path());
    let g = match DockerGroup::connect("tmissing", "autogit-test/no-such-image:0".into(), bin, None, 1).await {
        Ok(g) => g,
        Err(e) => panic!("Docker engine unavailable (./scripts/test installs and starts it): {e}"),
    };
    assert!(matches!(g.init().await, Err(FleetError::Config(_))));
    assert!(matches!(g.increase(&[launch("x", "glrt-x", 1)]).await, Err(FleetError::Config(_))));
}
