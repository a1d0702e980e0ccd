//! The shell scripts the SSH provider runs on its hosts (through `sh -s` or as an ssh command
//! line): starting, resuming and checking the runner.

use super::Launch;
use super::util::remote_word;
use autogit_protocol::shell::quote;

/// The script that (re)starts the runner in `remote_dir`: stops a leftover runner (TERM, `steps`
/// × 0.2 s, KILL), registers, then starts `autogit runner run` in its own session (`setsid`
/// where available) with its pid in `runner.pid`.
pub(super) fn start_script(remote_dir: &str, l: &Launch, steps: u128) -> String {
    let mut register = vec![
        "--url".to_string(),
        l.server_url.clone(),
        "--token".to_string(),
        l.runner_token.clone(),
        "--concurrent".to_string(),
        l.concurrent.to_string(),
    ];
    register.extend(l.register_args.iter().cloned());
    let register: Vec<String> = register.iter().map(|a| quote(a)).collect();
    format!(
        "{prelude}\
         rm -f runner.pid runner.toml\n\
         ./autogit runner register --runner-config \"$d/runner.toml\" --builds-dir \"$d/builds\" {register} \
           </dev/null >register.log 2>&1 || {{ cat register.log >&2; exit 1; }}\n\
         {RUN}",
        prelude = prelude(remote_dir, steps, ""),
        register = register.join(" "),
    )
}

/// The script that starts the runner again after [`SshGroup::suspend`](crate::InstanceGroup::suspend),
/// with the configuration its registration wrote (same runner, same token): stops a leftover
/// runner first, and fails (exit 4) when there is no configuration to start from.
pub(super) fn resume_script(remote_dir: &str, steps: u128) -> String {
    let check = "[ -f runner.toml ] || { echo \"no runner.toml in $d: nothing to resume\" >&2; exit 4; }\n";
    format!("{prelude}rm -f runner.pid\n{RUN}", prelude = prelude(remote_dir, steps, check))
}

/// Enters `remote_dir` (as `$d`, umask 077), defines `alive` and `stop`, runs `check`, then stops
/// whatever runner `runner.pid` still names (TERM, `steps` × 0.2 s, KILL).
fn prelude(remote_dir: &str, steps: u128, check: &str) -> String {
    format!(
        "cd {dir} || exit 1\n\
         umask 077\n\
         d=$(pwd)\n\
         {ALIVE_FN}\n\
         {STOP_FN}\n\
         {check}\
         if [ -f runner.pid ]; then p=$(cat runner.pid); stop {steps} || exit 1; fi\n",
        dir = remote_word(remote_dir),
    )
}

/// Starts `autogit runner run` from `$d/runner.toml` in its own session (`setsid` where
/// available), its pid in `runner.pid`.
const RUN: &str = "if command -v setsid >/dev/null 2>&1; then\n\
   setsid nohup ./autogit runner run --runner-config \"$d/runner.toml\" </dev/null >runner.log 2>&1 &\n\
 else\n\
   nohup ./autogit runner run --runner-config \"$d/runner.toml\" </dev/null >runner.log 2>&1 &\n\
 fi\n\
 echo $! > runner.pid\n";

/// Shell function `alive`: whether `$p` is a live runner (on Linux, one whose command line names
/// `runner.toml`, so a reused pid is not taken for it).
pub(super) const ALIVE_FN: &str = "alive() { [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null && { ! [ -r /proc/$p/cmdline ] || grep -q runner.toml /proc/$p/cmdline 2>/dev/null; }; }";
/// Shell function `stop STEPS`: TERM the runner's process group (or the pid), wait STEPS × 0.2 s,
/// then KILL; fails if it survives.
pub(super) const STOP_FN: &str = "stop() { alive || return 0; kill -TERM -- \"-$p\" 2>/dev/null || kill -TERM \"$p\" 2>/dev/null; i=0; while alive && [ $i -lt $1 ]; do sleep 0.2; i=$((i+1)); done; if alive; then kill -KILL -- \"-$p\" 2>/dev/null || kill -KILL \"$p\" 2>/dev/null; sleep 0.5; fi; ! alive; }";
