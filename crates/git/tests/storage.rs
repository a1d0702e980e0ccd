//! Repository storage on a real filesystem: hashed layout, atomic create, idempotent delete.

mod common;

use autogit_core::ProjectId;
use autogit_git::{Error, RepoStorage, read};
use common::git;
use tempfile::TempDir;

#[test]
fn hashed_paths_follow_gitlab_layout() {
    let s = RepoStorage::new("/srv/repos".into());
    // sha256("1") = 6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b
    let h = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";
    assert_eq!(s.path_for(ProjectId::new(1)), std::path::PathBuf::from(format!("/srv/repos/@hashed/6b/86/{h}.git")));
    assert_ne!(s.path_for(ProjectId::new(2)), s.path_for(ProjectId::new(1)));
}

#[tokio::test]
async fn create_configures_a_bare_repository() {
    let tmp = TempDir::new().expect("tempdir");
    let s = RepoStorage::new(tmp.path().join("repos"));
    assert!(!s.exists(ProjectId::new(7)));
    let path = s.create(ProjectId::new(7), "trunk").await.expect("create");
    assert_eq!(path, s.path_for(ProjectId::new(7)));
    assert!(s.exists(ProjectId::new(7)));
    assert_eq!(git(&path, &["rev-parse", "--is-bare-repository"]), "true");
    assert_eq!(git(&path, &["symbolic-ref", "HEAD"]), "refs/heads/trunk");
    assert_eq!(git(&path, &["config", "http.receivepack"]), "true");
    assert_eq!(git(&path, &["config", "core.logAllRefUpdates"]), "always");
    assert!(!path.join("hooks").exists(), "no sample hooks from a template");
    assert_eq!(read::default_branch(&path).await.expect("head"), Some("trunk".into()));
    assert!(read::is_empty(&path).await.expect("empty"));

    // No temporary directories are left beside it.
    let siblings: Vec<_> = std::fs::read_dir(path.parent().expect("parent")).expect("ls").collect();
    assert_eq!(siblings.len(), 1);

    assert!(matches!(s.create(ProjectId::new(7), "main").await, Err(Error::AlreadyExists(_))));
    s.set_default_branch(ProjectId::new(7), "dev").await.expect("set head");
    assert_eq!(read::default_branch(&path).await.expect("head"), Some("dev".into()));
}

#[tokio::test]
async fn create_rejects_bad_branch_names_and_leaves_nothing() {
    let tmp = TempDir::new().expect("tempdir");
    let s = RepoStorage::new(tmp.path().join("repos")).with_fsck_objects(true);
    for bad in ["", "a..b", "-x", "a b", "x.lock", "a/", "HEAD^"] {
        assert!(matches!(s.create(ProjectId::new(3), bad).await, Err(Error::InvalidRef(_))), "{bad:?}");
    }
    assert!(!s.exists(ProjectId::new(3)));
    let path = s.create(ProjectId::new(3), "main").await.expect("create");
    assert_eq!(git(&path, &["config", "receive.fsckObjects"]), "true");
}

#[tokio::test]
async fn concurrent_creates_make_one_repository() {
    let tmp = TempDir::new().expect("tempdir");
    let s = RepoStorage::new(tmp.path().join("repos"));
    let (a, b) = tokio::join!(s.create(ProjectId::new(9), "main"), s.create(ProjectId::new(9), "main"));
    assert!(a.is_ok() != b.is_ok(), "exactly one create wins: {a:?} {b:?}");
    let parent = s.path_for(ProjectId::new(9)).parent().expect("parent").to_owned();
    assert_eq!(std::fs::read_dir(parent).expect("ls").count(), 1);
}

#[tokio::test]
async fn delete_is_idempotent() {
    let tmp = TempDir::new().expect("tempdir");
    let s = RepoStorage::new(tmp.path().join("repos"));
    s.delete(ProjectId::new(5)).await.expect("missing is fine");
    s.create(ProjectId::new(5), "main").await.expect("create");
    s.delete(ProjectId::new(5)).await.expect("delete");
    assert!(!s.exists(ProjectId::new(5)) && !s.path_for(ProjectId::new(5)).exists());
    s.delete(ProjectId::new(5)).await.expect("again");
    assert_eq!(std::fs::read_dir(tmp.path().join("repos/@trash")).expect("trash").count(), 0);
    s.purge_trash().await.expect("purge");
    s.purge_trash().await.expect("purge twice");
    // The id can be reused afterwards.
    s.create(ProjectId::new(5), "main").await.expect("recreate");
}

#[tokio::test]
async fn check_probes_the_root() {
    let tmp = TempDir::new().expect("tempdir");
    let s = RepoStorage::new(tmp.path().join("repos"));
    assert!(s.check().await.is_err(), "missing root");
    s.ensure_root().await.expect("mkdir");
    s.check().await.expect("ready");
    assert_eq!(std::fs::read_dir(s.root()).expect("ls").count(), 0, "probe removed");
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    assert!(RepoStorage::new(file).check().await.is_err(), "not a directory");
}

#[tokio::test]
async fn has_branches_reads_loose_and_packed_refs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = RepoStorage::new(dir.path().to_path_buf());
    let repo = storage.create(ProjectId::new(42), "main").await.expect("create");
    assert!(!storage.has_branches(ProjectId::new(42)), "a new repository is empty");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("git");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let tree = git(&["mktree"]);
    let commit = git(&["commit-tree", &tree, "-m", "empty"]);
    git(&["update-ref", "refs/tags/v1", &commit]);
    assert!(!storage.has_branches(ProjectId::new(42)), "tags alone do not make a branch");
    git(&["update-ref", "refs/heads/feature/x", &commit]);
    assert!(storage.has_branches(ProjectId::new(42)), "a loose branch in a subdirectory");
    git(&["pack-refs", "--all"]);
    assert!(storage.has_branches(ProjectId::new(42)), "a packed branch");
    git(&["update-ref", "-d", "refs/heads/feature/x"]);
    assert!(!storage.has_branches(ProjectId::new(42)), "branch deleted");
}
