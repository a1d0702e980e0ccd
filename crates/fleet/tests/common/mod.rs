//! What both provider tests share: a stand-in for the `autogit` binary, since no coordinator
//! runs here. It is a POSIX shell script (busybox's sh runs it inside containers) that behaves
//! like `autogit runner register` (checks the token's `glrt-` prefix, writes the config file
//! and the builds directory) and `autogit runner run` (runs until SIGQUIT or SIGTERM, then exits 0;
//! `--ignore-term` ignores both).
#![allow(dead_code, clippy::unwrap_used)]

use autogit_fleet::Launch;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const STAND_IN: &str = r#"#!/bin/sh
# Stand-in for `autogit runner register|run` (crates/fleet tests).
[ "$1" = runner ] || { echo "usage: autogit runner register|run" >&2; exit 2; }
cmd=$2
shift 2
all="$*"
cfg=""; token=""; url=""; builds=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runner-config) cfg=$2; shift 2 ;;
        --token) token=$2; shift 2 ;;
        --url) url=$2; shift 2 ;;
        --builds-dir) builds=$2; shift 2 ;;
        *) shift ;;
    esac
done
case "$cmd" in
register)
    case "$token" in
        glrt-hang*) exec sleep 60 ;;
        glrt-*) ;;
        *) echo "403 Forbidden: invalid runner token" >&2; exit 1 ;;
    esac
    mkdir -p "$builds"
    printf 'url = "%s"\ntoken = "%s"\nargs = "%s"\n' "$url" "$token" "$all" > "$cfg"
    echo "registered; configuration written to $cfg"
    ;;
run)
    [ -f "$cfg" ] || { echo "no runner config $cfg" >&2; exit 1; }
    if grep -q -- --ignore-term "$cfg"; then
        trap '' QUIT TERM
    else
        trap 'echo "stopping"; exit 0' QUIT TERM
    fi
    echo "running with $cfg"
    while :; do sleep 1; done
    ;;
*) echo "unknown runner command $cmd" >&2; exit 2 ;;
esac
"#;

/// Kills what a failed test left running below the state directory `state`: the process group
/// each instance record names — only while its leader is still that instance's runner (its
/// command line names the instance's directory). A pid from a record may by now belong to any
/// process: another test's runner, started as a group leader too.
pub struct Reaper(pub PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            let dir = e.path();
            let Ok(b) = std::fs::read(dir.join("instance.json")) else { continue };
            let Some(pid) = serde_json::from_slice::<serde_json::Value>(&b).ok().and_then(|v| v["pid"].as_i64()) else {
                continue;
            };
            let needle = dir.as_os_str().as_bytes();
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle));
            if ours {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::SIGKILL);
            }
        }
    }
}

/// Writes the stand-in `autogit` into `dir` and returns its path.
pub fn stand_in(dir: &Path) -> PathBuf {
    let path = dir.join("autogit");
    std::fs::write(&path, STAND_IN).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

pub fn launch(name: &str, token: &str, runner_id: i64) -> Launch {
    Launch {
        name: name.into(),
        server_url: "http://127.0.0.1:9".into(),
        runner_token: token.into(),
        runner_id: autogit_core::RunnerId::new(runner_id),
        concurrent: 2,
        register_args: vec![],
    }
}

/// Polls `check` every 100 ms until it holds or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
pub mod netns;
