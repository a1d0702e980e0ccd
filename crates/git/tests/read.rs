//! Repository reads against a repository built with the git CLI: several commits, a side
//! branch, lightweight and annotated tags, nested directories, an executable and a submodule.

mod common;

use autogit_core::ProjectId;
use autogit_git::read::{self, EntryKind};
use autogit_git::{Error, RepoStorage};
use common::Fixture;
use std::path::PathBuf;

struct Built {
    f: Fixture,
    repo: PathBuf,
    c1: String,
    c2: String,
    c3: String,
    feature: String,
}

async fn build() -> Built {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(10), "main").await.expect("create");
    f.write("README.md", b"hello\n");
    f.write("src/nested/deep/file.txt", b"deep\n");
    f.write("bin/run.sh", b"#!/bin/sh\n");
    std::fs::set_permissions(f.work.join("bin/run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let c1 = f.commit("Initial commit\n\nWith a body.", 1_700_000_000);
    f.git(&["tag", "v1.0"]);
    f.write("README.md", b"hello again\n");
    let c2 = f.commit("Update README", 1_700_000_100);
    f.git_at(&["tag", "-a", "v2.0", "-m", "Release 2.0"], 1_700_000_150);
    f.git_at(&["tag", "-a", "v2.0-nested", "-m", "Tag of a tag", "v2.0"], 1_700_000_160);
    f.write("src/lib.rs", b"pub fn f() {}\n");
    f.git(&["add", "-A"]);
    // A gitlink entry (submodule) without a .gitmodules: enough for tree listings.
    f.git(&["update-index", "--add", "--cacheinfo", &format!("160000,{c1},vendor/sub")]);
    let c3 = f.commit_staged("Add lib", 1_700_000_200);
    f.git(&["checkout", "-q", "-b", "feature", &c1]);
    f.write("feature.txt", b"feature\n");
    let feature = f.commit("Feature work", 1_700_000_300);
    f.git(&["checkout", "-q", "main"]);
    f.push_all(&repo);
    Built { f, repo, c1, c2, c3, feature }
}

#[tokio::test]
async fn branches_and_tags() {
    let b = build().await;
    let branches = read::branches(&b.repo).await.expect("branches");
    let names: Vec<_> = branches.iter().map(|br| (br.name.as_str(), br.commit.id.as_str(), br.default)).collect();
    assert_eq!(names, [("feature", b.feature.as_str(), false), ("main", b.c3.as_str(), true)]);
    assert_eq!(read::branch(&b.repo, "feature").await.expect("branch").map(|x| x.commit.id), Some(b.feature.clone()));
    assert_eq!(read::branch(&b.repo, "feat").await.expect("prefix is not a branch"), None);
    assert_eq!(read::branch(&b.repo, "../main").await.expect("invalid is absent"), None);

    let tags = read::tags(&b.repo).await.expect("tags");
    let v1 = &tags[0];
    assert_eq!(
        (v1.name.as_str(), v1.target.as_str(), &v1.message, v1.created_at),
        ("v1.0", b.c1.as_str(), &None, None)
    );
    assert_eq!(v1.commit.as_ref().map(|c| c.id.as_str()), Some(b.c1.as_str()));
    let v2 = &tags[1];
    assert_eq!((v2.name.as_str(), v2.message.as_deref()), ("v2.0", Some("Release 2.0\n")));
    assert_ne!(v2.target, b.c2, "annotated target is the tag object");
    assert_eq!(v2.created_at.map(|d| d.timestamp()), Some(1_700_000_150));
    assert_eq!(v2.commit.as_ref().map(|c| c.id.as_str()), Some(b.c2.as_str()));
    let nested = read::tag(&b.repo, "v2.0-nested").await.expect("tag").expect("exists");
    assert_eq!(nested.commit.map(|c| c.id), Some(b.c2.clone()));
    assert_eq!(read::tag(&b.repo, "v3").await.expect("tag"), None);
}

#[tokio::test]
async fn commits_and_history() {
    let b = build().await;
    let c = read::commit(&b.repo, &b.c1).await.expect("commit").expect("exists");
    assert_eq!((c.title.as_str(), c.message.as_str()), ("Initial commit", "Initial commit\n\nWith a body.\n"));
    assert_eq!((c.author_name.as_str(), c.author_email.as_str()), ("Ann Author", "ann@example.com"));
    assert_eq!((c.committer_name.as_str(), c.committer_email.as_str()), ("Carl Committer", "carl@example.com"));
    assert_eq!(c.authored_date.to_rfc3339(), "2023-11-15T00:13:20+02:00");
    assert_eq!((c.short_id.as_str(), c.parent_ids.len()), (&b.c1[..8], 0));
    assert_eq!(read::commit(&b.repo, "v2.0").await.expect("tag peels").map(|c| c.id), Some(b.c2.clone()));
    assert_eq!(read::commit(&b.repo, "main~1").await.expect("rev").map(|c| c.parent_ids), Some(vec![b.c1.clone()]));
    assert_eq!(read::commit(&b.repo, "nope").await.expect("missing"), None);
    assert!(matches!(read::commit(&b.repo, "--all").await, Err(Error::InvalidRef(_))));

    let ids = |v: Vec<read::CommitInfo>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let all = read::commits(&b.repo, None, None, 0, 100).await.expect("log");
    assert_eq!(ids(all), [b.c3.clone(), b.c2.clone(), b.c1.clone()]);
    assert_eq!(ids(read::commits(&b.repo, Some("main"), None, 1, 1).await.expect("page")), vec![b.c2.clone()]);
    assert_eq!(
        ids(read::commits(&b.repo, Some("feature"), None, 0, 10).await.expect("log")),
        [b.feature.clone(), b.c1.clone()]
    );
    let readme = read::commits(&b.repo, None, Some("README.md"), 0, 10).await.expect("path log");
    assert_eq!(ids(readme), [b.c2.clone(), b.c1.clone()]);
    assert_eq!(read::count_commits(&b.repo, None, None).await.expect("count"), 3);
    assert_eq!(read::count_commits(&b.repo, Some("main"), Some("src/lib.rs")).await.expect("count"), 1);
    assert_eq!(read::count_commits(&b.repo, Some("gone"), None).await.expect("count"), 0);
    assert!(read::commits(&b.repo, Some("missing"), None, 0, 10).await.expect("log").is_empty());
    // Pathspec magic is literal: no file is named like this, so nothing matches.
    assert!(read::commits(&b.repo, None, Some(":(exclude)README.md"), 0, 10).await.expect("log").is_empty());
}

#[tokio::test]
async fn trees() {
    let b = build().await;
    let root = read::tree(&b.repo, None, None, false).await.expect("tree").expect("root");
    let list: Vec<_> = root.iter().map(|e| (e.name.as_str(), e.kind, e.path.as_str(), e.mode.as_str())).collect();
    assert_eq!(
        list,
        [
            ("README.md", EntryKind::Blob, "README.md", "100644"),
            ("bin", EntryKind::Tree, "bin", "040000"),
            ("src", EntryKind::Tree, "src", "040000"),
            ("vendor", EntryKind::Tree, "vendor", "040000"),
        ]
    );
    let src = read::tree(&b.repo, Some("main"), Some("/src/"), false).await.expect("tree").expect("dir");
    assert_eq!(src.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["src/lib.rs", "src/nested"]);
    let deep = read::tree(&b.repo, Some(&b.c1), Some("src"), true).await.expect("tree").expect("dir");
    let paths: Vec<_> = deep.iter().map(|e| (e.path.as_str(), e.name.as_str())).collect();
    assert_eq!(
        paths,
        [("src/nested", "nested"), ("src/nested/deep", "deep"), ("src/nested/deep/file.txt", "file.txt")]
    );
    let vendor = read::tree(&b.repo, None, Some("vendor"), false).await.expect("tree").expect("dir");
    assert_eq!(
        (vendor[0].kind, vendor[0].id.as_str(), vendor[0].mode.as_str()),
        (EntryKind::Commit, b.c1.as_str(), "160000")
    );
    assert_eq!(read::tree(&b.repo, None, Some("README.md"), false).await.expect("file is no tree"), None);
    assert_eq!(read::tree(&b.repo, None, Some("nope"), false).await.expect("missing"), None);
    assert_eq!(read::tree(&b.repo, Some("nope"), None, false).await.expect("missing ref"), None);
    assert!(matches!(read::tree(&b.repo, None, Some("src/../.."), false).await, Err(Error::InvalidPath(_))));
}

#[tokio::test]
async fn files() {
    let b = build().await;
    let f = read::file(&b.repo, "main", "README.md").await.expect("file").expect("exists");
    assert_eq!((f.content.as_slice(), f.size, f.file_name.as_str()), (&b"hello again\n"[..], 12, "README.md"));
    assert_eq!((f.commit_id.as_str(), f.last_commit_id.as_str()), (b.c3.as_str(), b.c2.as_str()));
    assert_eq!(f.blob_id, b.f.git(&["rev-parse", "main:README.md"]));
    let old = read::file(&b.repo, "v1.0", "/src/nested/deep/file.txt").await.expect("file").expect("exists");
    assert_eq!(
        (old.content.as_slice(), old.file_path.as_str(), old.last_commit_id.as_str()),
        (&b"deep\n"[..], "src/nested/deep/file.txt", b.c1.as_str())
    );
    let script = read::file(&b.repo, "main", "bin/run.sh").await.expect("file").expect("exists");
    assert_eq!(script.mode, "100755");
    for (rev, path) in
        [("main", "src"), ("main", "vendor/sub"), ("main", "nope.txt"), ("nope", "README.md"), ("main", "")]
    {
        assert_eq!(read::file(&b.repo, rev, path).await.expect("absent"), None, "{rev}:{path}");
    }
}

#[tokio::test]
async fn large_blobs_are_refused() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(11), "main").await.expect("create");
    f.write("big.bin", &vec![0u8; read::MAX_BLOB_SIZE as usize + 1]);
    f.write("ok.bin", &vec![1u8; read::MAX_BLOB_SIZE as usize]);
    f.commit("big", 1_700_000_000);
    f.push_all(&repo);
    let err = read::file(&repo, "main", "big.bin").await;
    assert!(matches!(err, Err(Error::TooLarge { size, .. }) if size == read::MAX_BLOB_SIZE + 1), "{err:?}");
    let ok = read::file(&repo, "main", "ok.bin").await.expect("file").expect("exists");
    assert_eq!(ok.content.len() as u64, read::MAX_BLOB_SIZE);
}

#[tokio::test]
async fn empty_repository_reads_as_empty() {
    let tmp = tempfile::TempDir::new().expect("tempdir");
    let storage = RepoStorage::new(tmp.path().to_owned());
    let repo = storage.create(ProjectId::new(12), "main").await.expect("create");
    assert!(read::is_empty(&repo).await.expect("empty"));
    assert_eq!(read::default_branch(&repo).await.expect("head"), Some("main".into()));
    assert!(read::branches(&repo).await.expect("branches").is_empty());
    assert!(read::tags(&repo).await.expect("tags").is_empty());
    assert!(read::commits(&repo, None, None, 0, 20).await.expect("commits").is_empty());
    assert_eq!(read::count_commits(&repo, None, None).await.expect("count"), 0);
    assert_eq!(read::tree(&repo, None, None, true).await.expect("tree"), Some(vec![]));
    assert_eq!(read::resolve(&repo, "HEAD").await.expect("resolve"), None);
    assert_eq!(read::file(&repo, "main", "README.md").await.expect("file"), None);
}
