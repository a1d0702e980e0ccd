//! Fetching a job's sources at its commit into a working copy. The shell executor's sandboxed
//! jobs fetch inside their sandbox; otherwise (the docker executor, a shell runner without a
//! sandbox) git runs on the runner host, which makes the working copy's `.git` hostile input: an
//! earlier job could have written `core.fsmonitor`, hooks or `core.worktree` there to run code as
//! the runner or to read its files. So every git the runner itself runs in a working copy gets
//! [`SAFE_CONFIG`] and no global or system configuration, and the fetch starts by rewriting the
//! repository's configuration, hooks and alternates from nothing (objects and refs are kept, so
//! later fetches stay incremental).

use crate::sandbox::JobSandbox;
use autogit_protocol::JobResponse;
use autogit_protocol::shell::quote;
use std::path::Path;
use tokio::process::Command;
use tokio::sync::mpsc;

/// Configuration given on git's command line, which wins over anything in the repository.
pub const SAFE_CONFIG: &[&str] = &[
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.untrackedCache=false",
    // A replace ref left in the working copy would make the checkout of the job's commit show
    // other contents.
    "-c",
    "core.useReplaceRefs=false",
    // The working copy may belong to the job's user while the runner is root.
    "-c",
    "safe.directory=*",
];

/// The file variable that holds the CA the server's certificate chains to (gitlab-runner's name),
/// set by the runner when it is configured with `tls-ca-file`.
pub const CA_VARIABLE: &str = "CI_SERVER_TLS_CA_FILE";

/// The CA certificate(s) the job's variables carry for the server, if any.
fn server_ca(job: &JobResponse) -> Option<&str> {
    job.variables.iter().rev().find(|v| v.key == CA_VARIABLE && v.file).map(|v| v.value.as_str())
}

/// The environment of a git the runner runs: no system or global configuration.
pub fn safe_env() -> Vec<(String, String)> {
    let mut env = crate::shell::base_env();
    env.extend([
        ("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()),
        ("GIT_CONFIG_NOSYSTEM".to_string(), "1".to_string()),
        ("GIT_CONFIG_GLOBAL".to_string(), "/dev/null".to_string()),
        ("GIT_NO_REPLACE_OBJECTS".to_string(), "1".to_string()),
    ]);
    env
}

fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

/// Fetches `git_info.refspecs` (or the commit) from `git_info.repo_url` into `dir` and checks
/// out the commit, reusing the working copy of an earlier job when there is one. With `jail`,
/// every git runs inside the job's sandbox.
pub async fn fetch(
    git: &str,
    job: &JobResponse,
    dir: &Path,
    out: &mpsc::Sender<Vec<u8>>,
    jail: Option<&JobSandbox>,
) -> Result<(), String> {
    let g = &job.git_info;
    let _ = out
        .send(format!("\x1b[32;1mFetching changes for {} ({})\x1b[0;m\n", g.ref_name, short(&g.sha)).into_bytes())
        .await;
    tokio::fs::create_dir_all(dir).await.map_err(|e| e.to_string())?;
    reset_control_files(dir).await.map_err(|e| format!("resetting {}/.git: {e}", dir.display()))?;
    let mut fetch: Vec<String> = vec!["fetch".into(), "-q".into(), "--prune".into()];
    if g.depth > 0 {
        fetch.push(format!("--depth={}", g.depth));
    }
    fetch.push("origin".into());
    let refspecs = if g.refspecs.is_empty() { vec![g.sha.clone()] } else { g.refspecs.clone() };
    let ca = server_ca(job);
    match jail {
        // One sandbox for the whole fetch; the URL (it holds the job token) and the refs travel
        // in the environment, never on a command line (the CA too: the script writes it to a
        // file of the sandbox's own).
        Some(j) => {
            let env = [
                ("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()),
                ("GIT_NO_REPLACE_OBJECTS".to_string(), "1".to_string()),
                ("AUTOGIT_FETCH_URL".to_string(), g.repo_url.clone()),
                ("AUTOGIT_FETCH_REFSPECS".to_string(), refspecs.join(" ")),
                ("AUTOGIT_FETCH_SHA".to_string(), g.sha.clone()),
                ("AUTOGIT_FETCH_CA".to_string(), ca.unwrap_or("").to_string()),
            ];
            let (mut cmd, input) = j.command(&["bash".into(), "-c".into(), fetch_script(git, &fetch)], dir, &env);
            let out = crate::step::output_with_input(&mut cmd, input).await.map_err(|e| format!("running git: {e}"))?;
            if !out.status.success() {
                return Err(format!("git: {}", String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        None => {
            // The CA goes where the job's file variables go (`<dir>.tmp/`, written again with
            // the other variables before the scripts run), and git is told to trust it.
            let ca_file = match ca {
                Some(pem) => Some(write_ca(dir, pem).await.map_err(|e| format!("writing {CA_VARIABLE}: {e}"))?),
                None => None,
            };
            let run = |args: Vec<String>| run(git, dir, ca_file.as_deref(), args);
            run(vec!["init".into(), "-q".into()]).await?;
            // The URL carries the job token; it is set each time (the token changes per job).
            run(vec!["remote".into(), "add".into(), "origin".into(), g.repo_url.clone()]).await?;
            fetch.extend(refspecs);
            run(fetch).await?;
            run(vec!["checkout".into(), "-q".into(), "-f".into(), "--detach".into(), g.sha.clone()]).await?;
            run(vec!["clean".into(), "-q".into(), "-ffdx".into()]).await?;
        }
    }
    let _ = out.send(format!("Checked out {} as {}\n", short(&g.sha), g.ref_name).into_bytes()).await;
    Ok(())
}

/// Removes what of an existing `.git` could run code or point elsewhere: its configuration,
/// hooks, `info/` (attributes), alternates, replace refs, and a `.git` that is a file or a symlink. A `.git`
/// with a symlink anywhere inside (git would write objects through it, as the runner) goes
/// whole: the next fetch starts afresh.
async fn reset_control_files(dir: &Path) -> std::io::Result<()> {
    let git_dir = dir.join(".git");
    tokio::task::spawn_blocking(move || {
        let meta = match std::fs::symlink_metadata(&git_dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if !meta.is_dir() {
            return std::fs::remove_file(&git_dir);
        }
        if holds_symlink(&git_dir)? {
            return std::fs::remove_dir_all(&git_dir);
        }
        for rel in [
            "config",
            "hooks",
            "info",
            "objects/info/alternates",
            "objects/info/http-alternates",
            "commondir",
            "modules",
            "refs/replace",
        ] {
            let p = git_dir.join(rel);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p)?,
                Ok(_) => std::fs::remove_file(&p)?,
                Err(_) => {}
            }
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Whether a symlink is anywhere below `dir` (never following one).
fn holds_symlink(dir: &Path) -> std::io::Result<bool> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                return Ok(true);
            }
            if kind.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(false)
}

/// Writes the server's CA next to the working copy, for git on the host; its path.
async fn write_ca(dir: &Path, pem: &str) -> std::io::Result<std::path::PathBuf> {
    let tmp = dir.with_extension("tmp");
    tokio::fs::create_dir_all(&tmp).await?;
    let path = tmp.join(CA_VARIABLE);
    tokio::fs::write(&path, pem).await?;
    Ok(path)
}

/// The sandboxed fetch as one bash script: the steps of the host path, the data in
/// `AUTOGIT_FETCH_*` variables. Refspecs never contain whitespace, so word splitting is safe.
fn fetch_script(git: &str, fetch: &[String]) -> String {
    let safe: Vec<String> = SAFE_CONFIG.iter().map(|a| quote(a)).collect();
    let g = format!("{} {}", quote(git), safe.join(" "));
    let fetch: Vec<String> = fetch.iter().map(|a| quote(a)).collect();
    format!(
        "set -eu -o noglob\n\
         if [ -n \"$AUTOGIT_FETCH_CA\" ]; then ca=$(mktemp); printf '%s\\n' \"$AUTOGIT_FETCH_CA\" > \"$ca\"; \
         export GIT_SSL_CAINFO=\"$ca\"; fi\n{g} init -q\n{g} remote add origin \"$AUTOGIT_FETCH_URL\"\n\
         {g} {} $AUTOGIT_FETCH_REFSPECS\n{g} checkout -q -f --detach \"$AUTOGIT_FETCH_SHA\"\n{g} clean -q -ffdx\n",
        fetch.join(" ")
    )
}

async fn run(git: &str, dir: &Path, ca_file: Option<&Path>, args: Vec<String>) -> Result<(), String> {
    let mut cmd = Command::new(git);
    cmd.args(SAFE_CONFIG).args(&args).current_dir(dir).env_clear().envs(safe_env());
    if let Some(ca) = ca_file {
        cmd.env("GIT_SSL_CAINFO", ca);
    }
    let out = cmd.output().await.map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        // The URL (with the job token) may be in git's message; the trace buffer masks it.
        Err(format!(
            "git {}: {}",
            args.first().map(String::as_str).unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
