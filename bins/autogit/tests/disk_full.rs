//! A push into a full disk says so and leaves nothing behind. The server runs in a mount
//! namespace of its own with a small tmpfs over its repositories directory, which the test fills
//! to just the right level (through `nsenter`) for each way a push can meet a full disk:
//! refused at `info/refs`, refused before git starts because of the push's declared size, and
//! stopped while its pack streams in. Each time the client's stderr says "no space left on
//! device", the server logs it at error level, and no push record, event or pipeline remains,
//! with `git fsck` clean; once space is freed the same push works.
//!
//! Needs root (mounts) as the tests have here and in CI; where the mount cannot be made the test
//! fails with the reason rather than skipping.

mod common;

use common::{Backend, Server, backends, git, git_ok, work_repo};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const TMPFS_SIZE: &str = "24m";
/// `git.min_free_bytes` for the test server.
const MARGIN: u64 = 1 << 20;
const CI: &str = "test:\n  script:\n    - echo hello\n";

/// Runs the server in a new mount namespace with a tmpfs over `<data>/repositories`, its
/// stderr (the log) appended to `log`.
fn wrapper(data: &Path, log: &Path) -> Vec<String> {
    let script = format!(
        "set -e; repos=\"$1/repositories\"; log=\"$2\"; shift 2; mkdir -p \"$repos\"; \
         mount -t tmpfs -o size={TMPFS_SIZE},mode=0700 autogit-test-repos \"$repos\"; exec \"$@\" 2>>\"$log\""
    );
    ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", &script, "sh"]
        .iter()
        .map(|s| s.to_string())
        .chain([data.display().to_string(), log.display().to_string()])
        .collect()
}

/// Fails loudly (never skips) when this machine cannot give the server its own tmpfs.
fn assert_mounts_work() {
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("d=$(mktemp -d) && mount -t tmpfs -o size=1m autogit-probe \"$d\" && echo mounted")
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("mounted") => {}
        Ok(o) => panic!(
            "this test needs a private mount namespace with a tmpfs (run as root, with unshare(1) and \
             CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("this test needs unshare(1) from util-linux: {e}"),
    }
}

struct Lab {
    s: Server,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Lab {
    /// A command in the server's mount namespace, where the tmpfs is.
    fn ns(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.s.pid().to_string(), "-m", "--"])
            .args(args)
            .output()
            .expect("nsenter runs")
    }

    fn ns_ok(&self, args: &[&str]) -> String {
        let out = self.ns(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn repos(&self) -> String {
        self.s.data.path().join("repositories").display().to_string()
    }

    fn free(&self) -> u64 {
        let out = self.ns_ok(&["df", "-B1", "--output=avail", &self.repos()]);
        out.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("df output {out:?}"))
    }

    /// Fills the tmpfs until about `leave` bytes are free.
    fn leave_free(&self, leave: u64) {
        let filler = format!("{}/filler", self.repos());
        self.ns_ok(&["rm", "-f", &filler]);
        let free = self.free();
        assert!(free > leave, "tmpfs has only {free} bytes free");
        self.ns_ok(&["fallocate", "-l", &(free - leave).to_string(), &filler]);
        let now = self.free();
        assert!(now <= leave && now + (256 << 10) > leave, "asked for {leave} free, got {now}");
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The one repository's path inside the namespace.
    fn repo(&self) -> String {
        let out = self.ns_ok(&["find", &format!("{}/@hashed", self.repos()), "-name", "*.git", "-maxdepth", "3"]);
        out.lines().next().expect("the project's repository").to_string()
    }

    fn fsck(&self) {
        let repo = self.repo();
        let out = self.ns(&["git", "--git-dir", &repo, "fsck", "--strict", "--no-progress"]);
        assert!(
            out.status.success(),
            "git fsck: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The quarantine of a failed push is gone too.
        let incoming = self.ns_ok(&["find", &format!("{repo}/objects"), "-maxdepth", "1", "-name", "incoming-*"]);
        assert!(incoming.trim().is_empty(), "quarantine left behind: {incoming}");
    }

    fn sql_count(&self, query: &str) -> i64 {
        let rows = self.s.db_rows(query);
        rows.iter().filter_map(|l| l.trim().parse().ok()).next_back().unwrap_or_else(|| panic!("{query}: {rows:?}"))
    }

    fn events_for(&self, branch: &str) -> usize {
        let v = self.s.get_json("/projects/root%2Ffull/events?per_page=100", &self.s.root_token);
        v.as_array().map_or(0, |a| a.iter().filter(|e| e["push_data"]["ref"] == branch).count())
    }

    fn pipelines_for(&self, branch: &str) -> usize {
        let v = self.s.get_json(&format!("/projects/root%2Ffull/pipelines?ref={branch}"), &self.s.root_token);
        v.as_array().map_or(0, Vec::len)
    }

    /// After a refused or failed push: no record (once the server has settled it), no event,
    /// no pipeline, no ref, and a clean repository.
    fn nothing_left(&self, branch: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.sql_count("SELECT COUNT(*) FROM push_records WHERE state <> 'done'") > 0 {
            assert!(Instant::now() < deadline, "a failed push left its push record");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(self.events_for(branch), 0, "no push event for {branch}");
        assert_eq!(self.pipelines_for(branch), 0, "no pipeline for {branch}");
        let repo = self.repo();
        let refs = self.ns_ok(&["git", "--git-dir", &repo, "for-each-ref", &format!("refs/heads/{branch}")]);
        assert!(refs.trim().is_empty(), "{branch} must not exist: {refs}");
        self.fsck();
    }
}

/// `git push` that must fail for lack of space; returns its stderr.
fn push_refused(work: &Path, url: &str, branch: &str) -> String {
    let out = git(work, &["push", url, &format!("HEAD:refs/heads/{branch}")]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "push of {branch} into a full disk succeeded:\n{stderr}");
    assert!(stderr.to_lowercase().contains("no space left on device"), "client not told why:\n{stderr}");
    eprintln!("push of {branch} refused as expected:\n{stderr}");
    stderr
}

fn commit_random(work: &Path, name: &str, bytes: usize) {
    // Random bytes: incompressible, so the pack is as large as the file.
    let mut data = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut data);
    std::fs::write(work.join(name), data).expect("write");
    git_ok(work, &["add", "-A"]);
    git_ok(work, &["commit", "-q", "-m", &format!("add {name}")]);
}

fn check(backend: Backend) {
    let log_dir = tempfile::tempdir().expect("tempdir");
    let log = log_dir.path().join("server.log");
    let margin = MARGIN.to_string();
    let s = Server::start_wrapped(backend, &[("AUTOGIT_GIT_MIN_FREE_BYTES", &margin)], "127.0.0.1:0", |data| {
        wrapper(data, &log)
    });
    let lab = Lab { s, log, _log_dir: log_dir };
    lab.s.post("/projects", &lab.s.root_token, &[("name", "full")]);
    let url = lab.s.git_url("root/full", &lab.s.root_token);
    let (_t, work) = work_repo(1);
    std::fs::write(work.join(".gitlab-ci.yml"), CI).expect("write");
    git_ok(&work, &["add", "-A"]);
    git_ok(&work, &["commit", "-q", "-m", "ci"]);
    git_ok(&work, &["push", "-q", &url, "main"]);
    let mounted = lab.ns_ok(&["findmnt", "-n", "-o", "SOURCE", &lab.repos()]);
    assert_eq!(mounted.trim(), "autogit-test-repos", "the server's repositories are on the test tmpfs");

    // 1. Below the margin: refused at info/refs, before anything is sent.
    git_ok(&work, &["checkout", "-q", "-b", "one"]);
    commit_random(&work, "small.bin", 10 << 10);
    lab.leave_free(MARGIN / 2);
    let stderr = push_refused(&work, &url, "one");
    assert!(stderr.contains("remote: no space left on device"), "{stderr}");
    assert!(lab.server_log().contains("push refused: no space left on device"), "server log:\n{}", lab.server_log());
    lab.nothing_left("one");

    // 2. Above the margin but not with the push's declared size: refused before git starts,
    //    every ref rejected with the reason.
    git_ok(&work, &["checkout", "-q", "-b", "two"]);
    commit_random(&work, "medium.bin", 700 << 10);
    lab.leave_free(MARGIN + (400 << 10));
    let stderr = push_refused(&work, &url, "two");
    assert!(stderr.contains("[remote rejected] HEAD -> two (no space left on device)"), "{stderr}");
    lab.nothing_left("two");

    // 3. A push larger than the free space, sent without a declared size (chunked): git starts,
    //    and the server stops the push as soon as the free space falls below the reserve (the
    //    database shares the disk), every ref rejected with the reason; the cause is logged at
    //    error level.
    git_ok(&work, &["checkout", "-q", "-b", "three"]);
    commit_random(&work, "large.bin", 6 << 20);
    lab.leave_free(3 << 20);
    let stderr = push_refused(&work, &url, "three");
    assert!(stderr.contains("[remote rejected] HEAD -> three (no space left on device)"), "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lab.server_log().contains("push failed: no space left on device") {
        assert!(Instant::now() < deadline, "no error logged for git's ENOSPC:\n{}", lab.server_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = lab.server_log().lines().find(|l| l.contains("push failed: no space left")).map(str::to_owned);
    let line = line.expect("logged");
    assert!(line.contains("ERROR") && line.contains("project_id") && line.contains("free_bytes"), "{line}");
    eprintln!("server log: {line}");
    lab.nothing_left("three");

    // Space freed: the same pushes go through, with their events and pipelines.
    lab.ns_ok(&["rm", "-f", &format!("{}/filler", lab.repos())]);
    git_ok(&work, &["push", "-q", &url, "HEAD:refs/heads/three", "one", "two"]);
    for branch in ["one", "two", "three"] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while lab.events_for(branch) != 1 || lab.pipelines_for(branch) != 1 {
            assert!(Instant::now() < deadline, "{branch}: no event or pipeline after space was freed");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    lab.fsck();
}

#[test]
fn a_push_into_a_full_disk_says_so_and_leaves_nothing() {
    assert_mounts_work();
    for backend in backends() {
        check(backend);
    }
}
