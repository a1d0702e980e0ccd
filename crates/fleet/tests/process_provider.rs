//! The process provider with real processes: a stand-in `autogit` script (tests/common) is
//! registered and run, signalled, adopted by a second provider and deleted.
#![allow(clippy::unwrap_used)]

mod common;

use autogit_fleet::process::ProcessGroup;
use autogit_fleet::{FleetError, Instance, InstanceGroup, State};
use common::{Reaper, eventually, launch, stand_in};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::path::Path;
use std::time::{Duration, Instant};

fn pid_of(state_dir: &Path, name: &str) -> i32 {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join(name).join("instance.json")).unwrap()).unwrap();
    json["pid"].as_i64().unwrap() as i32
}

fn group_exists(pgid: i32) -> bool {
    // A reaped group is gone (ESRCH); our own unreaped zombie leader would still answer, so
    // also require a live, non-zombie member.
    killpg(Pid::from_raw(pgid), None).is_ok()
        && std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read_to_string(e.path().join("stat")).ok().is_some_and(|s| {
                let rest = s.rsplit_once(')').map(|(_, r)| r.to_string()).unwrap_or_default();
                let f: Vec<&str> = rest.split_whitespace().collect();
                f.len() > 2 && f[2] == pgid.to_string() && f[0] != "Z"
            })
        })
}

fn find<'a>(list: &'a [Instance], id: &str) -> &'a Instance {
    list.iter().find(|i| i.id == id).unwrap_or_else(|| panic!("{id} not in {list:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_adoption_and_cleanup() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = stand_in(tmp.path());
    let state = tmp.path().join("state");
    let _reaper = Reaper(state.clone());
    let fleet = ProcessGroup::new("ci", bin.clone(), state.clone(), 3).with_grace(Duration::from_secs(5));

    let info = fleet.init().await.unwrap();
    assert_eq!((info.id.as_str(), info.max_size), ("process/ci", 3));
    assert!(fleet.update().await.unwrap().is_empty());

    // increase 2 -> 2 Running with their labels.
    let mut b = launch("b", "glrt-bbb", 12);
    b.register_args = vec!["--docker-image".into(), "busybox".into()];
    assert_eq!(fleet.increase(&[launch("a", "glrt-aaa", 11), b]).await.unwrap(), 2);
    let list = fleet.update().await.unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    for (id, runner) in [("a", 11), ("b", 12)] {
        let i = find(&list, id);
        assert_eq!(i.state, State::Running, "{i:?}");
        assert_eq!(i.runner_id, Some(autogit_core::RunnerId::new(runner)));
        assert_eq!(i.labels["autogit.group"], "ci");
        assert_eq!(i.labels["autogit.instance"], id);
        assert_eq!(i.labels["autogit.runner"], runner.to_string());
        assert!(i.created_at > 1_600_000_000_000);
    }
    // register got its arguments; the runner runs with the config register wrote.
    let config = std::fs::read_to_string(state.join("b/runner.toml")).unwrap();
    assert!(config.contains("token = \"glrt-bbb\""), "{config}");
    assert!(config.contains("--concurrent 2 --docker-image busybox"), "{config}");
    assert!(state.join("b/builds").is_dir());
    let b_dir = state.join("b");
    eventually(5, "runner b logs that it runs", || {
        let log = b_dir.join("runner.log");
        async move { std::fs::read_to_string(log).unwrap_or_default().contains("running with") }
    })
    .await;
    assert!(fleet.heartbeat("a").await.unwrap());
    assert!(!fleet.heartbeat("nope").await.unwrap());
    assert!(!fleet.heartbeat("../etc").await.unwrap());

    // A name in use, and the size limit.
    assert!(matches!(fleet.increase(&[launch("a", "glrt-x", 13)]).await, Err(FleetError::Failed(_))));
    let small = ProcessGroup::new("ci", bin.clone(), state.clone(), 2);
    assert_eq!(small.increase(&[launch("c", "glrt-ccc", 13)]).await.unwrap(), 0);
    assert!(!state.join("c").exists());
    assert!(matches!(fleet.increase(&[launch("../x", "glrt-x", 1)]).await, Err(FleetError::Config(_))));

    // SIGKILL a's runner out of band -> TimedOut (b untouched). Its `sleep` child lives on in the
    // process group for a moment: an orphan that decrease must still find and stop.
    let (pid_a, pid_b) = (pid_of(&state, "a"), pid_of(&state, "b"));
    kill(Pid::from_raw(pid_a), Signal::SIGKILL).unwrap();
    eventually(5, "a reported TimedOut", || async {
        find(&fleet.update().await.unwrap(), "a").state == State::TimedOut
    })
    .await;
    assert!(!fleet.heartbeat("a").await.unwrap());
    assert_eq!(find(&fleet.update().await.unwrap(), "b").state, State::Running);

    // A restarted coordinator: a new provider over the same state directory adopts both.
    drop(fleet);
    let fleet = ProcessGroup::new("ci", bin.clone(), state.clone(), 3).with_grace(Duration::from_secs(5));
    fleet.init().await.unwrap();
    let list = fleet.update().await.unwrap();
    assert_eq!(
        list.iter().map(|i| (i.id.as_str(), i.state)).collect::<Vec<_>>(),
        [("a", State::TimedOut), ("b", State::Running)]
    );
    // Another group sharing the directory sees none of them, and cannot delete them.
    let other = ProcessGroup::new("other", bin.clone(), state.clone(), 3);
    assert!(other.update().await.unwrap().is_empty());
    assert_eq!(other.decrease(&["b".into()]).await.unwrap(), ["b"]);
    assert!(fleet.heartbeat("b").await.unwrap());

    // decrease both (and an unknown id): gone, directories removed, processes gone.
    let started = Instant::now();
    let gone = fleet.decrease(&["a".into(), "b".into(), "ghost".into()]).await.unwrap();
    assert_eq!(gone, ["a", "b", "ghost"]);
    assert!(started.elapsed() < Duration::from_secs(4), "SIGQUIT should stop the stand-in at once");
    assert!(fleet.update().await.unwrap().is_empty());
    assert!(!state.join("a").exists() && !state.join("b").exists());
    eventually(5, "both process groups gone", || async { !group_exists(pid_a) && !group_exists(pid_b) }).await;

    // Idempotent.
    assert_eq!(fleet.decrease(&["a".into()]).await.unwrap(), ["a"]);
    assert_eq!(fleet.decrease(&[]).await.unwrap(), Vec::<String>::new());
    fleet.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_stuck_creates_leave_nothing_and_stubborn_runners_are_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = stand_in(tmp.path());
    let state = tmp.path().join("state");
    let _reaper = Reaper(state.clone());
    let fleet = ProcessGroup::new("g", bin.clone(), state.clone(), 5)
        .with_grace(Duration::from_secs(1))
        .with_create_timeout(Duration::from_secs(3));
    fleet.init().await.unwrap();

    // A rejected token: nothing started, nothing left behind; partial success is Ok(n).
    let err = fleet.increase(&[launch("bad", "not-a-runner-token", 1)]).await.unwrap_err();
    assert!(matches!(&err, FleetError::Failed(m) if m.contains("invalid runner token")), "{err:?}");
    assert!(!state.join("bad").exists());
    assert_eq!(fleet.increase(&[launch("bad", "nope", 1), launch("ok", "glrt-ok", 2)]).await.unwrap(), 1);
    assert_eq!(fleet.update().await.unwrap().iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["ok"]);

    // A register that hangs is Creating while it runs (update runs concurrently with increase),
    // then times out and is cleaned up.
    let hang = tokio::spawn({
        let (bin, state) = (bin.clone(), state.clone());
        async move {
            ProcessGroup::new("g", bin, state, 5)
                .with_create_timeout(Duration::from_secs(3))
                .increase(&[launch("slow", "glrt-hang", 3)])
                .await
        }
    });
    eventually(3, "slow reported Creating", || async {
        fleet.update().await.unwrap().iter().any(|i| i.id == "slow" && i.state == State::Creating)
    })
    .await;
    assert!(!fleet.heartbeat("slow").await.unwrap());
    let err = hang.await.unwrap().unwrap_err();
    assert!(matches!(&err, FleetError::Failed(m) if m.contains("took longer")), "{err:?}");
    assert!(!state.join("slow").exists());

    // A runner that ignores SIGQUIT and SIGTERM is SIGKILLed after a grace period after each.
    let mut stubborn = launch("stubborn", "glrt-st", 4);
    stubborn.register_args = vec!["--ignore-term".into()];
    assert_eq!(fleet.increase(&[stubborn]).await.unwrap(), 1);
    let pid = pid_of(&state, "stubborn");
    let log = state.join("stubborn/runner.log");
    eventually(5, "stubborn runs", || {
        let log = log.clone();
        async move { std::fs::read_to_string(log).unwrap_or_default().contains("running with") }
    })
    .await;
    let started = Instant::now();
    assert_eq!(fleet.decrease(&["stubborn".into(), "ok".into()]).await.unwrap(), ["stubborn", "ok"]);
    assert!(started.elapsed() >= Duration::from_secs(2), "a grace period after SIGQUIT and one after SIGTERM");
    eventually(5, "stubborn's group gone", || async { !group_exists(pid) }).await;
    assert!(fleet.update().await.unwrap().is_empty());
    assert!(std::fs::read_dir(&state).unwrap().next().is_none(), "state directory empty");
}

#[tokio::test]
async fn init_rejects_bad_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = ProcessGroup::new("g", tmp.path().join("no-such-autogit"), tmp.path().join("s"), 1);
    assert!(matches!(missing.init().await, Err(FleetError::Config(_))));
    let bin = stand_in(tmp.path());
    let bad_group = ProcessGroup::new("a/b", bin, tmp.path().join("s"), 1);
    assert!(matches!(bad_group.init().await, Err(FleetError::Config(_))));
}
