//! The reads behind the web pages against git's own answers: each tree entry's last commit
//! (one walk) equals `git log -1 -- <entry>`; a commit's patch and a comparison equal what
//! `git show`/`git diff` print; ref names; a patch beyond the bound is cut at a line.

mod common;

use autogit_core::ProjectId;
use autogit_git::read;
use common::{Fixture, git};

#[tokio::test]
async fn last_commits_agree_with_git_log_per_entry() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(3), "main").await.expect("create");
    f.write("a.txt", b"a\n");
    f.write("dir/x.txt", b"x\n");
    f.write("dir/sub/y.txt", b"y\n");
    f.write("with space.txt", b"s\n");
    f.commit("one", 1_700_000_000);
    f.write("dir/x.txt", b"x2\n");
    let c2 = f.commit("two", 1_700_000_100);
    f.write("dir/sub/y.txt", b"y2\n");
    f.write("b.txt", b"b\n");
    let c3 = f.commit("three", 1_700_000_200);
    f.push_all(&repo);
    let repo_s = repo.to_str().expect("utf8");
    for (dir, names) in [(None, vec!["a.txt", "b.txt", "dir", "with space.txt"]), (Some("dir"), vec!["x.txt", "sub"])] {
        let names: Vec<String> = names.into_iter().map(String::from).collect();
        let got = read::last_commits(&repo, &c3, dir, &names, 1000).await.expect("walk");
        for n in &names {
            let path = dir.map_or(n.clone(), |d| format!("{d}/{n}"));
            let want = git(f.work.as_path(), &["--git-dir", repo_s, "log", "-1", "--format=%H", &c3, "--", &path]);
            assert_eq!(got.get(n).map(|c| c.id.as_str()), Some(want.trim()), "{path}");
        }
    }
    let bounded = read::last_commits(&repo, &c3, Some("dir"), &["x.txt".into()], 1).await.expect("walk");
    assert!(bounded.is_empty(), "x.txt last changed two commits back: beyond a walk of one");
    assert_eq!(read::last_commits(&repo, &c2, None, &["dir".into()], 10).await.expect("walk")["dir"].id, c2);
    assert!(read::last_commits(&repo, "main", None, &[], 10).await.is_err(), "only commit ids are walked");
    let mut names = read::ref_names(&repo).await.expect("refs");
    names.sort();
    assert_eq!(names, ["main"]);
}

#[tokio::test]
async fn patches_are_git_s_own_and_bounded() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(4), "main").await.expect("create");
    f.write("keep.txt", b"1\n2\n3\n");
    let c1 = f.commit("root", 1_700_000_000);
    f.write("keep.txt", b"1\ntwo\n3\n");
    f.write("new file.txt", b"new\n");
    let c2 = f.commit("change", 1_700_000_100);
    f.push_all(&repo);
    let (info, patch) = read::commit_patch(&repo, &c2).await.expect("patch").expect("a commit");
    assert_eq!(info.id, c2);
    let text = String::from_utf8(patch.text).expect("utf8");
    assert!(!patch.truncated && text.contains("-2\n+two\n") && text.contains("+++ b/new file.txt"), "{text}");
    let (_, root) = read::commit_patch(&repo, &c1).await.expect("patch").expect("root commit");
    assert!(String::from_utf8_lossy(&root.text).contains("new file mode"), "a root commit's patch adds its files");
    assert!(read::commit_patch(&repo, "nope").await.expect("absent").is_none());
    let (commits, cmp) = read::compare(&repo, &c1, &c2, 10).await.expect("compare").expect("both exist");
    assert_eq!(commits.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [c2.as_str()]);
    assert_eq!(cmp.text, text.as_bytes().get(text.find("diff --git").unwrap_or(0)..).unwrap_or_default());

    // Beyond MAX_PATCH the patch is cut at a whole line.
    let big: String = (0..200_000).map(|i| format!("line {i} of a big file\n")).collect();
    f.write("big.txt", big.as_bytes());
    let c3 = f.commit("big", 1_700_000_200);
    f.push_all(&repo);
    let (_, cut) = read::commit_patch(&repo, &c3).await.expect("patch").expect("commit");
    assert!(cut.truncated && cut.text.len() <= read::MAX_PATCH && cut.text.ends_with(b"\n"));
}
