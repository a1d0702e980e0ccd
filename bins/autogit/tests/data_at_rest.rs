//! Data at rest: everything `autogit serve` (and the runner processes it starts) creates under
//! the data directory is owner-only; CI/CD variable values are sealed in the database (the
//! plain value is in no database file) while the API and jobs still get them; `autogit admin
//! rotate-key` re-seals them under a new key (`--drop-old` then removes the old one); a wrong or missing key is
//! refused at start with a message naming what cannot be opened; plain-text rows from before
//! are sealed at start.

mod common;

use common::ci::{trace, wait_for};
use common::job_api::{Ci, variable};
use common::{Backend, ROOT_PASSWORD, Server, backends};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every file and directory under `root` (symlinks excepted) that group or others can access.
///
/// A job's own working copy (`…/builds/<slot>/<project path>`) is the job's, not AutoGit's: the
/// job sandbox runs jobs with the usual umask 022 (as GitLab's runners do) inside a slot
/// directory that is owner-only, so only that slot directory itself is checked.
fn loose_entries(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            out.push(format!("{:o} {}", mode, p.display()));
        }
        let slot = p.parent().and_then(Path::file_name).is_some_and(|n| n == "builds");
        if meta.is_dir() && !slot {
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// The stored `ci_variables.value` column, read around the server.
fn stored_values(s: &Server) -> Vec<String> {
    s.db_rows("SELECT key || '=' || value FROM ci_variables ORDER BY id")
}

/// Whether the plain value appears anywhere the database keeps bytes: the SQLite files, or
/// every text column of PostgreSQL's variables table.
fn plain_in_database(s: &Server, plain: &str) -> bool {
    if s.database_url.is_some() {
        return stored_values(s).iter().any(|v| v.contains(plain));
    }
    ["autogit.db", "autogit.db-wal", "autogit.db-shm"].iter().any(|f| {
        let bytes = std::fs::read(s.data.path().join(f)).unwrap_or_default();
        bytes.windows(plain.len()).any(|w| w == plain.as_bytes())
    })
}

/// The key id of each stored value, `KEY=<id>`.
fn stored_key_ids(s: &Server) -> Vec<String> {
    stored_values(s)
        .iter()
        .map(|row| {
            let (key, value) = row.split_once('=').expect("key=value");
            let id = value.strip_prefix("agsec:v1:").and_then(|r| r.split(':').next()).unwrap_or("PLAIN");
            format!("{key}={id}")
        })
        .collect()
}

/// The key ids in the key file, current first.
fn keyring_ids(s: &Server) -> Vec<String> {
    let text = std::fs::read_to_string(s.data.path().join("secrets.key")).expect("key file");
    text.lines()
        .filter(|l| l.starts_with("current ") || l.starts_with("old "))
        .map(|l| l.split_whitespace().nth(1).expect("id").to_string())
        .collect()
}

fn project_variable(s: &Server, project: i64, key: &str) -> String {
    let v = s.get_json(&format!("/projects/{project}/variables/{key}"), &s.root_token);
    v["value"].as_str().expect("value").to_string()
}

/// Runs `autogit serve` on the server's data directory and database (stopped beforehand) with
/// extra environment, expecting it to refuse to start; returns its output.
fn serve_refused(s: &Server, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autogit"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.data.path())
        .env("AUTOGIT_ROOT_PASSWORD", ROOT_PASSWORD)
        .env("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(u) = &s.database_url {
        cmd.env("AUTOGIT_DATABASE_URL", u);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("autogit starts");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!("autogit serve kept running although it had to refuse");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success(), "serve must refuse: {}", String::from_utf8_lossy(&out.stdout));
    out
}

fn stop(s: &mut Server) {
    s.signal("TERM");
    s.wait();
}

#[test]
fn data_is_owner_only_and_variable_values_are_sealed() {
    for backend in backends() {
        let s = Server::start_with(backend, &[("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", "1")]);
        let plain = format!("s3cr3t-at-rest-{}-{backend:?}", std::process::id());
        let root = s.root_token.as_str();
        let group = s.post("/groups", root, &[("name", "Vault"), ("path", "vault")]);
        let gid = group["id"].to_string();
        s.post(&format!("/groups/{gid}/variables"), root, &[("key", "GROUP_SECRET"), ("value", &plain)]);
        let p = s.post("/projects", root, &[("name", "sealed"), ("namespace_id", &gid)]);
        let project = p["id"].as_i64().expect("id");
        s.post(&format!("/projects/{project}/variables"), root, &[("key", "DEPLOY_SECRET"), ("value", &plain)]);

        // The job checks the value without printing it (the trace is stored too): by its hash.
        let hash = hex(&Sha256::digest(plain.as_bytes()));
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            work.path().join(".gitlab-ci.yml"),
            format!(
                "build:\n  script:\n    - mkdir out && echo built > out/result\n    \
                 - test \"$(printf %s \"$DEPLOY_SECRET\" | sha256sum | cut -d' ' -f1)\" = {hash} && echo project-secret-ok\n    \
                 - test \"$(printf %s \"$GROUP_SECRET\" | sha256sum | cut -d' ' -f1)\" = {hash} && echo group-secret-ok\n  \
                 artifacts:\n    paths: [out/]\n"
            ),
        )
        .expect("write ci");
        let dir = work.path();
        common::git_ok(dir, &["init", "-q", "-b", "main"]);
        common::git_ok(dir, &["add", "-A"]);
        common::git_ok(dir, &["commit", "-q", "-m", "ci"]);
        common::git_ok(dir, &["push", "-q", &s.git_url("vault/sealed", root), "main"]);
        let job = wait_for("the job to succeed on the built-in runner", Duration::from_secs(120), || {
            let jobs = s.get_json(&format!("/projects/{project}/jobs"), root);
            match jobs.as_array().and_then(|a| a.first()) {
                Some(j) if j["status"] == "success" => Ok(j["id"].as_i64().expect("id")),
                Some(j) if j["status"] == "failed" => {
                    panic!("job failed: {}", trace(&s, project, j["id"].as_i64().expect("id")))
                }
                other => Err(format!("{other:?}")),
            }
        });
        let log = trace(&s, project, job);
        assert!(log.contains("project-secret-ok") && log.contains("group-secret-ok"), "{log}");
        let shown = s.get_json(&format!("/projects/{project}/jobs/{job}"), root);
        assert!(shown["artifacts_file"]["size"].as_u64() > Some(0), "artifacts kept: {shown}");

        // The API still answers the value to a maintainer.
        assert_eq!(project_variable(&s, project, "DEPLOY_SECRET"), plain);
        let g = s.get_json(&format!("/groups/{gid}/variables/GROUP_SECRET"), root);
        assert_eq!(g["value"], plain.as_str());
        // In the database: sealed, never the plain value.
        for row in stored_values(&s) {
            assert!(row.contains("=agsec:v1:"), "stored sealed: {row}");
        }
        assert!(!plain_in_database(&s, &plain), "the plain value is in the database files");

        let loose = loose_entries(s.data.path());
        assert!(loose.is_empty(), "group/other-accessible entries in the data directory:\n{}", loose.join("\n"));
        for must in ["secrets.key", "repositories", "artifacts", "pools/builtin"] {
            assert!(s.data.path().join(must).exists(), "{must} exists (and was walked)");
        }
        if backend == Backend::Sqlite {
            assert!(s.data.path().join("autogit.db-wal").exists(), "the WAL was walked");
        }
    }
}

#[test]
fn a_data_directory_autogit_creates_is_owner_only() {
    let parent = tempfile::tempdir().expect("tempdir");
    let data = parent.path().join("new/data");
    let out = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .arg("--data-dir")
        .arg(&data)
        .args(["admin", "user", "create", "--username", "ann", "--email", "ann@example.com"])
        .args(["--password", "a-long-password"])
        .output()
        .expect("autogit runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let loose = loose_entries(parent.path().join("new").as_path());
    assert!(loose.is_empty(), "{}", loose.join("\n"));
    for must in ["repositories", "artifacts", "pools", "builds", "autogit.db"] {
        assert!(data.join(must).exists(), "{must} created (and walked)");
    }
}

#[test]
fn rotation_wrong_keys_and_plain_rows_from_before() {
    for backend in backends() {
        let mut ci = Ci::start(backend, &[]);
        let plain = "rotate-me-please-1234";
        let project = ci.project("rot", "probe:\n  script: [echo probe]\n");
        ci.s.post(
            &format!("/projects/{project}/variables"),
            &ci.s.root_token,
            &[("key", "API_SECRET"), ("value", plain)],
        );

        // A plain-text row from before values were sealed: written around the server, which
        // seals it at its next start.
        stop(&mut ci.s);
        ci.s.db_rows(&format!(
            "INSERT INTO ci_variables (project_id, key, value, variable_type, protected, masked, raw, \
                 environment_scope) VALUES ({project}, 'LEGACY', 'legacy-plain-value', 'env_var', false, false, \
                 false, '*')"
        ));
        assert!(stored_key_ids(&ci.s).contains(&"LEGACY=PLAIN".to_string()));
        ci.s.crash_and_restart();
        let first = keyring_ids(&ci.s);
        assert_eq!(first.len(), 1, "one key: {first:?}");
        let want = vec![format!("API_SECRET={}", first[0]), format!("LEGACY={}", first[0])];
        assert_eq!(stored_key_ids(&ci.s), want, "sealed at start with the current key");
        assert_eq!(project_variable(&ci.s, project, "LEGACY"), "legacy-plain-value");
        // (SQLite may keep the old row's bytes in a page's free space until it is reused: the
        // documentation says to VACUUM once after upgrading. The table itself holds no plain value.)
        assert!(stored_values(&ci.s).iter().all(|v| !v.contains("legacy-plain-value")), "sealed in the table");

        // Rotation while the server runs.
        let out = ci.s.autogit(&["admin", "rotate-key"]);
        assert!(out.status.success(), "rotate-key: {}", String::from_utf8_lossy(&out.stderr));
        let after = keyring_ids(&ci.s);
        assert_eq!(after.len(), 2, "a new current key, the old one kept for opening: {after:?}");
        assert_ne!(after[0], first[0], "a new key");
        assert_eq!(after[1], first[0], "the old key, kept");
        assert!(String::from_utf8_lossy(&out.stdout).contains(&after[0]), "{}", String::from_utf8_lossy(&out.stdout));
        let want = vec![format!("API_SECRET={}", after[0]), format!("LEGACY={}", after[0])];
        assert_eq!(stored_key_ids(&ci.s), want, "every value re-sealed with the new key");
        // The running server meets the new key id, reads the key file again and answers.
        assert_eq!(project_variable(&ci.s, project, "API_SECRET"), plain);
        assert_eq!(project_variable(&ci.s, project, "LEGACY"), "legacy-plain-value");
        // A job gets the values in its payload.
        let (_, token) = ci.runner(&[]);
        let job = ci.take(&token);
        assert_eq!(variable(&job, "API_SECRET")["value"], plain);
        assert_eq!(variable(&job, "LEGACY")["value"], "legacy-plain-value");
        // A value written now is sealed with the new key as well.
        ci.s.post(
            &format!("/projects/{project}/variables"),
            &ci.s.root_token,
            &[("key", "NEWER"), ("value", "n-value")],
        );
        assert!(stored_key_ids(&ci.s).contains(&format!("NEWER={}", after[0])));
        // Dropping the old key: every value is under the new one, and keeps opening.
        let out = ci.s.autogit(&["admin", "rotate-key", "--drop-old"]);
        assert!(out.status.success(), "rotate-key --drop-old: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(keyring_ids(&ci.s), vec![after[0].clone()], "the old key is removed");
        assert!(stored_key_ids(&ci.s).iter().all(|v| v.ends_with(&after[0])), "{:?}", stored_key_ids(&ci.s));
        assert_eq!(project_variable(&ci.s, project, "API_SECRET"), plain);

        stop(&mut ci.s);
        // A wrong key: refused, naming the variables and the key they need.
        let wrong = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
        let out = serve_refused(&ci.s, &[("AUTOGIT_SECRETS_KEY", wrong)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot be opened"), "{err}");
        assert!(err.contains("CI/CD variable API_SECRET") && err.contains(&after[0]), "{err}");
        assert!(!err.contains(plain) && !err.contains(wrong), "no secrets in the message: {err}");
        // A lost key file: no new key is made over values it could never open.
        let key_file = ci.s.data.path().join("secrets.key");
        let saved = std::fs::read(&key_file).expect("key file");
        std::fs::remove_file(&key_file).expect("remove");
        // A data directory opened to others is named with its fix, even when start is refused.
        std::fs::set_permissions(ci.s.data.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let out = serve_refused(&ci.s, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("does not exist, but the database holds values sealed with key(s)"), "{err}");
        assert!(err.contains(&after[0]), "{err}");
        assert!(!key_file.exists(), "no new key file");
        assert!(err.contains(&format!("chmod 700 {}", ci.s.data.path().display())), "{err}");
        // A damaged key file: its name and line.
        std::fs::write(&key_file, "autogit-keyring 1\ncurrent 00000000 not-a-key\n").expect("write");
        let out = serve_refused(&ci.s, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&key_file.display().to_string()) && err.contains("line 2"), "{err}");
        // The right key again: it starts and answers.
        std::fs::write(&key_file, saved).expect("restore");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::set_permissions(ci.s.data.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        ci.s.crash_and_restart();
        assert_eq!(project_variable(&ci.s, project, "API_SECRET"), plain);
    }
}

/// The stored `pipelines.variables` of every pipeline that has some, by id.
fn stored_pipeline_variables(s: &Server) -> Vec<String> {
    s.db_rows("SELECT variables FROM pipelines WHERE variables <> '[]' ORDER BY id")
}

/// Variables given when a pipeline is run are sealed as CI/CD variables are: in the database
/// only sealed, a plain row from before sealed at start, re-sealed by a rotation, opened for the
/// job (also after the old key is dropped).
#[test]
fn pipeline_variables_are_sealed_and_follow_rotation() {
    for backend in backends() {
        let mut ci = Ci::start(backend, &[]);
        let plain = "pipeline-run-secret-5678";
        let project = ci.project("pv", "probe:\n  script: [echo probe]\n");
        let (_, token) = ci.runner(&[]);
        ci.take(&token);
        let body = serde_json::json!({"ref": "main", "variables": [{"key": "RUN_SECRET", "value": plain}]});
        let r = ci.s.req(reqwest::Method::POST, &format!("/projects/{project}/pipeline"), &ci.s.root_token);
        let created: serde_json::Value = r.json(&body).send().expect("post").json().expect("json");
        let pipeline = created["id"].as_i64().unwrap_or_else(|| panic!("pipeline created: {created}"));
        let stored = stored_pipeline_variables(&ci.s);
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert!(stored[0].contains("RUN_SECRET") && stored[0].contains("agsec:v1:"), "sealed: {stored:?}");
        assert!(!stored[0].contains(plain), "no plain value in the table: {stored:?}");
        let job = ci.take(&token);
        assert_eq!(variable(&job, "RUN_SECRET")["value"], plain, "the job gets the value");
        assert_eq!(
            ci.update(job["id"].as_i64().expect("id"), job["token"].as_str().expect("t"), "failed").status(),
            200
        );

        // A plain row from before: sealed at the next start.
        stop(&mut ci.s);
        ci.s.db_rows(&format!(
            "UPDATE pipelines SET variables = '[[\"LEGACY_RUN\",\"legacy-run\"]]' WHERE id < {pipeline}"
        ));
        ci.s.crash_and_restart();
        let stored = stored_pipeline_variables(&ci.s);
        assert_eq!(stored.len(), 2, "{stored:?}");
        assert!(stored.iter().all(|v| v.contains("agsec:v1:") && !v.contains("legacy-run")), "{stored:?}");

        // Rotation re-seals them; after the old key is dropped the retried job still gets its value.
        for args in [&["admin", "rotate-key"][..], &["admin", "rotate-key", "--drop-old"]] {
            let out = ci.s.autogit(args);
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let key = keyring_ids(&ci.s);
        assert_eq!(key.len(), 1);
        assert!(stored_pipeline_variables(&ci.s).iter().all(|v| v.contains(&format!("agsec:v1:{}:", key[0]))));
        let id = job["id"].as_i64().expect("id");
        let r = ci.s.req(reqwest::Method::POST, &format!("/projects/{project}/jobs/{id}/retry"), &ci.s.root_token);
        assert_eq!(r.send().expect("retry").status(), 201);
        let (_, after_restart) = ci.runner(&[]);
        let again = ci.take(&after_restart);
        assert_eq!(variable(&again, "RUN_SECRET")["value"], plain, "opened with the new key");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
