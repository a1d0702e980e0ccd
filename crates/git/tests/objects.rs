//! The pooled object reader against git itself: snapshots, diffs and commits read by walking
//! objects through one `cat-file` process must equal what `git ls-tree -r`, `git diff
//! --name-only` and `git cat-file` say (run here, and through `read::commit`); and the pool's
//! process lifecycle (reuse, new objects and refs seen, a dead or half-read process replaced,
//! bounds).

mod common;

use autogit_core::ProjectId;
use autogit_git::objects::{ObjectPool, PoolLimits};
use autogit_git::read::{self, Snapshot};
use common::{Fixture, ZERO, git_cmd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A history whose steps cover what a diff can meet: files added, changed, removed; a mode
/// change; a directory replaced by a file and back; a symlink; a submodule moved; nested YAML.
async fn history() -> (Fixture, PathBuf, Vec<String>) {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(7), "main").await.expect("create");
    let mut commits = Vec::new();
    f.write(".gitlab-ci.yml", b"job:\n  script: [true]\n");
    f.write("ci/templates/build.yaml", b"build:\n  script: [make]\n");
    f.write("src/a/b/c.txt", b"c\n");
    f.write("src/a/d.txt", b"d\n");
    f.write("docs/readme.md", b"docs\n");
    f.write("run.sh", b"#!/bin/sh\n");
    commits.push(f.commit("one", 1_700_000_000));
    f.write("src/a/b/c.txt", b"c changed\n");
    std::fs::set_permissions(f.work.join("run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("docs/readme.md", f.work.join("link.yml")).expect("symlink");
    commits.push(f.commit("two", 1_700_000_100));
    std::fs::remove_dir_all(f.work.join("src/a/b")).expect("rm");
    f.write("src/a/b", b"now a file\n");
    f.write("new/deep/x.yml", b"x: 1\n");
    commits.push(f.commit("three", 1_700_000_200));
    std::fs::remove_file(f.work.join("src/a/b")).expect("rm");
    f.write("src/a/b/again.txt", b"a dir again\n");
    std::fs::remove_dir_all(f.work.join("docs")).expect("rm");
    f.git(&["add", "-A"]);
    f.git(&["update-index", "--add", "--cacheinfo", &format!("160000,{},vendor/sub", commits[0])]);
    commits.push(f.commit_staged("four", 1_700_000_300));
    f.git(&["update-index", "--cacheinfo", &format!("160000,{},vendor/sub", commits[1])]);
    commits.push(f.commit_staged("five", 1_700_000_400));
    f.push_all(&repo);
    (f, repo, commits)
}

/// git's stdout for `args` run in the bare repository.
fn git_out(repo: &Path, args: &[&str]) -> Vec<u8> {
    let out = git_cmd(repo).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The snapshot as git lists it: `ls-tree -r` for the blob paths, `cat-file blob` for the YAML
/// texts (every file here is far below the caps).
fn snapshot_by_git(repo: &Path, commit: &str, extra: &str) -> Option<Snapshot> {
    let listing = git_out(repo, &["ls-tree", "-r", "-z", "--format=%(objecttype) %(objectname)\t%(path)", commit]);
    let mut snap = Snapshot::default();
    for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let (meta, path) = record.split_once('\t').expect("ls-tree record");
        let (kind, id) = meta.split_once(' ').expect("ls-tree meta");
        if kind != "blob" {
            continue;
        }
        snap.paths.push(path.to_owned());
        if path.ends_with(".yml") || path.ends_with(".yaml") || path == extra {
            let text = String::from_utf8_lossy(&git_out(repo, &["cat-file", "blob", id])).into_owned();
            snap.yaml.insert(path.to_owned(), text);
        }
    }
    snap.paths.sort();
    Some(snap)
}

/// The paths two commits differ in, as `git diff --name-only --no-renames` lists them.
fn changed_by_git(repo: &Path, a: &str, b: &str) -> Vec<String> {
    let out = git_out(repo, &["diff", "--name-only", "-z", "--no-renames", a, b, "--"]);
    let mut paths: Vec<String> =
        out.split(|&b| b == 0).filter(|r| !r.is_empty()).map(|r| String::from_utf8_lossy(r).into_owned()).collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn snapshots_diffs_and_commits_equal_gits() {
    let (_f, repo, commits) = history().await;
    let pool = ObjectPool::default();
    let mut r = pool.reader(&repo).await.expect("reader");
    for c in &commits {
        let want = snapshot_by_git(&repo, c, ".gitlab-ci.yml");
        let got = r.snapshot(c, ".gitlab-ci.yml").await.expect("pooled snapshot");
        assert_eq!(got, want, "snapshot of {c}");
        let want = read::commit(&repo, c).await.expect("commit");
        assert_eq!(r.commit(c).await.expect("pooled commit"), want, "commit {c}");
    }
    for a in &commits {
        for b in &commits {
            let want = Some(changed_by_git(&repo, a, b));
            let got = r.changed_paths(a, b).await.expect("pooled diff");
            assert_eq!(got, want, "diff {a}..{b}");
        }
    }
    assert_eq!(r.changed_paths(ZERO, &commits[0]).await.expect("new branch"), None);
    assert_eq!(r.changed_paths(&"1".repeat(40), &commits[0]).await.expect("unknown"), None);
    assert_eq!(r.snapshot(&"1".repeat(40), ".gitlab-ci.yml").await.expect("unknown commit"), None);
    assert!(r.snapshot("--all", "x").await.is_err(), "options are refused");
    assert!(r.commit("a..b").await.is_err(), "ranges are refused");
    drop(r);
    assert_eq!(pool.spawned(), 1, "every read above used one process");
}

#[tokio::test]
async fn refs_files_and_cut_reads() {
    let (f, repo, commits) = history().await;
    f.git(&["tag", "v1", &commits[1]]);
    f.git_at(&["tag", "-a", "v2", "-m", "annotated", &commits[2]], 1_700_000_500);
    f.push_all(&repo);
    let pool = ObjectPool::default();
    let mut r = pool.reader(&repo).await.expect("reader");
    assert_eq!(r.branch_commit("main").await.expect("branch").as_deref(), commits.last().map(String::as_str));
    assert_eq!(r.branch_commit("nope").await.expect("no branch"), None);
    assert_eq!(r.tag_commit("v1").await.expect("tag").as_deref(), Some(commits[1].as_str()));
    assert_eq!(r.tag_commit("v2").await.expect("annotated tag peeled").as_deref(), Some(commits[2].as_str()));
    assert_eq!(r.branch_commit("a b").await.expect("invalid"), None, "an invalid ref name names nothing");
    assert_eq!(r.branch_commit("../x").await.expect("invalid"), None);
    let c = &commits[0];
    assert_eq!(r.file_at(c, "src/a/b/c.txt").await.expect("file").as_deref(), Some(&b"c\n"[..]));
    assert_eq!(r.file_at(c, "/src/a/d.txt/").await.expect("slashes trimmed").as_deref(), Some(&b"d\n"[..]));
    assert_eq!(r.file_at(c, "src/a").await.expect("a directory"), None);
    assert_eq!(r.file_at(c, "src/missing.txt").await.expect("missing"), None);
    assert_eq!(r.file_at(&commits[3], "vendor/sub").await.expect("a submodule"), None);
    assert!(r.file_at(c, "src/../etc").await.is_err(), "dot-dot segments are refused");
}

#[tokio::test]
async fn a_pooled_process_sees_later_pushes() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(8), "main").await.expect("create");
    f.write("a.txt", b"1\n");
    let first = f.commit("first", 1_700_000_000);
    f.push_all(&repo);
    let pool = ObjectPool::default();
    assert_eq!(pool.reader(&repo).await.expect("reader").branch_commit("main").await.expect("ref"), Some(first));
    // New loose objects, then a pack (as a large push leaves), and the moved ref.
    f.write("b.txt", b"2\n");
    let second = f.commit("second", 1_700_000_100);
    f.push_all(&repo);
    let mut r = pool.reader(&repo).await.expect("pooled again");
    assert_eq!(r.branch_commit("main").await.expect("moved ref").as_deref(), Some(second.as_str()));
    assert!(r.snapshot(&second, "x").await.expect("snapshot").is_some_and(|s| s.paths.contains(&"b.txt".into())));
    drop(r);
    f.write("c.txt", b"3\n");
    let third = f.commit("third", 1_700_000_200);
    f.push_all(&repo);
    // Everything moved into one new pack, the loose objects and old packs gone.
    common::git(&repo, &["repack", "-a", "-d", "-q"]);
    let mut r = pool.reader(&repo).await.expect("pooled after repack");
    assert_eq!(r.commit(&third).await.expect("repacked commit").map(|c| c.id), Some(third));
    drop(r);
    assert_eq!(pool.spawned(), 1, "one process served every read");
}

#[tokio::test]
async fn dead_and_half_read_processes_are_replaced() {
    let (_f, repo, commits) = history().await;
    let pool = ObjectPool::default();
    let mut r = pool.reader(&repo).await.expect("reader");
    assert!(r.commit(&commits[0]).await.expect("commit").is_some());
    drop(r);
    // A read abandoned half-way (its future dropped) must not leave a half-read answer behind.
    let mut r = pool.reader(&repo).await.expect("reader");
    let abandoned = tokio::time::timeout(Duration::from_nanos(1), r.snapshot(&commits[4], "x")).await;
    drop(r);
    if abandoned.is_err() {
        assert_eq!(pool.idle_count(), 0, "a process left mid-answer is not returned");
    }
    let mut r = pool.reader(&repo).await.expect("reader");
    assert!(r.snapshot(&commits[4], "x").await.expect("snapshot").is_some());
    drop(r);
    // A process killed while idle is noticed at checkout.
    let before = pool.spawned();
    kill_pool_processes(&repo);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut r = pool.reader(&repo).await.expect("reader after a kill");
    assert!(r.commit(&commits[1]).await.expect("commit").is_some());
    assert_eq!(pool.spawned(), before + 1, "the dead process was replaced");
}

/// Kills this test's `cat-file` processes (those whose `--git-dir` is `repo`).
fn kill_pool_processes(repo: &std::path::Path) {
    let needle = repo.to_str().expect("utf-8").to_owned();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("cat-file") && cmdline.contains(&needle) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
        }
    }
}

#[tokio::test]
async fn the_pool_is_bounded() {
    let (_f, repo, commits) = history().await;
    let limits = PoolLimits { max_busy: 2, max_idle: 1, idle_for: Duration::from_millis(200), ..PoolLimits::default() };
    let pool = ObjectPool::new(limits);
    let a = pool.reader(&repo).await.expect("first");
    let b = pool.reader(&repo).await.expect("second");
    // A third waits until one of the two is back.
    assert!(tokio::time::timeout(Duration::from_millis(100), pool.reader(&repo)).await.is_err());
    drop(a);
    drop(b);
    assert_eq!(pool.idle_count(), 1, "idle processes beyond max_idle are killed");
    let mut c = pool.reader(&repo).await.expect("third");
    assert!(c.commit(&commits[0]).await.expect("commit").is_some());
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    pool.evict_idle();
    assert_eq!(pool.idle_count(), 0, "an idle process is killed after idle_for");
    pool.reader(&repo).await.expect("fresh").commit(&commits[0]).await.expect("commit");
    pool.forget(&repo);
    assert_eq!(pool.idle_count(), 0, "forget kills the repository's idle processes");
}

#[tokio::test]
async fn a_process_is_not_reused_past_its_life() {
    let (_f, repo, commits) = history().await;
    let pool = ObjectPool::new(PoolLimits { max_life: Duration::from_millis(200), ..PoolLimits::default() });
    let mut r = pool.reader(&repo).await.expect("reader");
    assert!(r.commit(&commits[0]).await.expect("commit").is_some());
    drop(r);
    assert_eq!(pool.idle_count(), 1, "young: kept");
    let mut r = pool.reader(&repo).await.expect("reused");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(r.commit(&commits[1]).await.expect("commit").is_some(), "still serves while checked out");
    drop(r);
    assert_eq!(pool.idle_count(), 0, "past its life: not kept");
    assert_eq!(pool.spawned(), 1);
    pool.reader(&repo).await.expect("fresh").commit(&commits[0]).await.expect("commit");
    assert_eq!(pool.spawned(), 2, "a new process replaces it");
}
