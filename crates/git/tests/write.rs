//! The server's own ref writes: applied only against the value they were decided on, traced in
//! the reflog under the push record's identity exactly as a push is (so `applied_by` reads them
//! alike), and annotated tags written as git itself checks them.

mod common;

use autogit_core::ProjectId;
use autogit_git::write::{Signature, update_ref, write_tag};
use autogit_git::{Error, PushIdentity, RefUpdate, applied_by};
use common::{Fixture, git};

const ZERO: &str = "0000000000000000000000000000000000000000";

#[tokio::test]
async fn ref_updates_apply_against_the_expected_value_and_read_back_as_applied() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(1), "main").await.expect("create");
    f.write("a.txt", b"a\n");
    let c1 = f.commit("one", 1_700_000_000);
    f.write("a.txt", b"b\n");
    let c2 = f.commit("two", 1_700_000_100);
    f.push_all(&repo);
    let ident = PushIdentity::for_record(41);
    let create = RefUpdate { name: "refs/heads/topic".into(), old: ZERO.into(), new: c1.clone() };
    update_ref(&repo, ident, &create, "branch: Created from main").await.expect("created");
    assert_eq!(applied_by(&repo, ident, std::slice::from_ref(&create)).await.expect("read"), [true]);
    assert_eq!(
        applied_by(&repo, PushIdentity::for_record(42), std::slice::from_ref(&create)).await.expect("read"),
        [false],
        "another record's identity did not make it"
    );

    // Decided on a value the ref no longer has: refused, nothing moves.
    let stale_create = RefUpdate { name: "refs/heads/topic".into(), old: ZERO.into(), new: c2.clone() };
    assert!(matches!(update_ref(&repo, ident, &stale_create, "x").await, Err(Error::RefMoved { .. })));
    let stale_move = RefUpdate { name: "refs/heads/topic".into(), old: c2.clone(), new: c2.clone() };
    assert!(matches!(update_ref(&repo, ident, &stale_move, "x").await, Err(Error::RefMoved { .. })));
    let stale_delete = RefUpdate { name: "refs/heads/topic".into(), old: c2.clone(), new: ZERO.into() };
    assert!(matches!(update_ref(&repo, ident, &stale_delete, "x").await, Err(Error::RefMoved { .. })));
    let repo_s = repo.to_str().expect("utf8");
    assert_eq!(git(&f.work, &["--git-dir", repo_s, "rev-parse", "refs/heads/topic"]).trim(), c1);

    let delete = RefUpdate { name: "refs/heads/topic".into(), old: c1.clone(), new: ZERO.into() };
    let ident2 = PushIdentity::for_record(43);
    update_ref(&repo, ident2, &delete, "branch: deleted").await.expect("deleted");
    assert_eq!(applied_by(&repo, ident2, std::slice::from_ref(&delete)).await.expect("read"), [true]);

    for bad in [
        RefUpdate { name: "refs/heads/a..b".into(), old: ZERO.into(), new: c1.clone() },
        RefUpdate { name: "refs/heads/x".into(), old: ZERO.into(), new: "--all".into() },
        RefUpdate { name: "refs/heads/x".into(), old: "HEAD".into(), new: c1.clone() },
    ] {
        assert!(matches!(update_ref(&repo, ident, &bad, "x").await, Err(Error::InvalidRef(_))), "{bad:?}");
    }
}

#[tokio::test]
async fn annotated_tags_carry_the_tagger_and_message_git_checks() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(2), "main").await.expect("create");
    f.write("a.txt", b"a\n");
    let c1 = f.commit("one", 1_700_000_000);
    f.push_all(&repo);
    let tagger = Signature { name: "Ann <evil>\nx".into(), email: "ann@example.com".into(), when: 1_700_000_500 };
    let id = write_tag(&repo, "v1.0", &c1, &tagger, "Release 1.0\n\nNotes.").await.expect("tag");
    let repo_s = repo.to_str().expect("utf8");
    let object = git(&f.work, &["--git-dir", repo_s, "cat-file", "-p", &id]);
    assert_eq!(
        object.trim_end(),
        format!(
            "object {c1}\ntype commit\ntag v1.0\ntagger Ann evilx <ann@example.com> 1700000500 +0000\n\nRelease 1.0\n\nNotes."
        )
    );
    assert!(write_tag(&repo, "bad name", &c1, &tagger, "m").await.is_err());
    assert!(write_tag(&repo, "v2", "--all", &tagger, "m").await.is_err());
}

#[tokio::test]
async fn commits_are_built_from_actions_without_a_work_tree() {
    use autogit_git::write::{ActionError, FileAction, NewCommit, write_commit};
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(3), "main").await.expect("create");
    f.write("a.txt", b"a\n");
    f.write("dir/b.txt", b"b\n");
    let c1 = f.commit("one", 1_700_000_000);
    f.push_all(&repo);
    let who = Signature { name: "Ann".into(), email: "ann@example.com".into(), when: 1_700_000_600 };
    let actions = [
        FileAction::Update { path: "a.txt".into(), content: b"A\n".to_vec(), executable: None },
        FileAction::Move { from: "dir/b.txt".into(), path: "c.txt".into(), content: None },
        FileAction::Create { path: "run.sh".into(), content: b"#!/bin/sh\n".to_vec(), executable: true },
        FileAction::Chmod { path: "a.txt".into(), executable: true },
    ];
    let new = NewCommit { parent: Some(&c1), actions: &actions, message: "two\n\nbody", author: &who, committer: &who };
    let id = write_commit(&repo, &new).await.expect("git").expect("applies");
    let repo_s = repo.to_str().expect("utf8");
    let tree = git(&f.work, &["--git-dir", repo_s, "ls-tree", "-r", &id]);
    let entries: Vec<(&str, &str)> =
        tree.lines().map(|l| (l.split(' ').next().unwrap_or(""), l.rsplit('\t').next().unwrap_or(""))).collect();
    assert_eq!(entries, [("100755", "a.txt"), ("100644", "c.txt"), ("100755", "run.sh")], "{tree}");
    assert_eq!(
        git(&f.work, &["--git-dir", repo_s, "log", "-1", "--format=%P|%an <%ae>|%at|%B", &id]).trim(),
        format!("{c1}|Ann <ann@example.com>|1700000600|two\n\nbody")
    );
    assert_eq!(git(&f.work, &["--git-dir", repo_s, "rev-parse", "refs/heads/main"]).trim(), c1, "no ref moved");

    // Actions that do not fit the tree name the path; nothing is left behind either way.
    for (action, want) in [
        (
            FileAction::Create { path: "a.txt".into(), content: vec![], executable: false },
            ActionError::Exists { path: "a.txt".into() },
        ),
        (FileAction::Delete { path: "nope".into() }, ActionError::Missing { path: "nope".into() }),
        (
            FileAction::Move { from: "a.txt".into(), path: "dir/b.txt".into(), content: None },
            ActionError::Exists { path: "dir/b.txt".into() },
        ),
    ] {
        let one = [action];
        let new = NewCommit { parent: Some(&c1), actions: &one, message: "m", author: &who, committer: &who };
        assert_eq!(write_commit(&repo, &new).await.expect("git"), Err(want));
    }
    let bad = [FileAction::Create { path: "x/../../y".into(), content: vec![], executable: false }];
    let new = NewCommit { parent: Some(&c1), actions: &bad, message: "m", author: &who, committer: &who };
    assert!(matches!(write_commit(&repo, &new).await.expect("git"), Err(ActionError::BadPath { .. })));
    let leftovers: Vec<_> = std::fs::read_dir(&repo)
        .expect("repo dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("index.autogit"))
        .collect();
    assert!(leftovers.is_empty(), "temporary index files are removed");

    // The first commit of an empty repository has no parent.
    let empty = f.storage.create(ProjectId::new(4), "main").await.expect("create");
    let first = [FileAction::Create { path: "README.md".into(), content: b"hi\n".to_vec(), executable: false }];
    let new = NewCommit { parent: None, actions: &first, message: "init", author: &who, committer: &who };
    let root = write_commit(&empty, &new).await.expect("git").expect("applies");
    let empty_s = empty.to_str().expect("utf8");
    assert_eq!(git(&f.work, &["--git-dir", empty_s, "log", "-1", "--format=%P", &root]).trim(), "");
}
