use super::*;
use std::io::Write;

fn put(root: &Path, rel: &str, mode: u32) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(&path, rel).expect("write");
    fs::set_permissions(&path, Permissions::from_mode(mode)).expect("chmod");
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    for f in ["out/bin/app", "out/bin/app.debug", "out/lib/x.so", "out/docs/readme.md"] {
        put(t.path(), f, 0o644);
    }
    for f in ["logs/a.log", "logs/sub/b.log", "src/main.rs", "top.log"] {
        put(t.path(), f, 0o644);
    }
    fs::set_permissions(t.path().join("out/bin/app"), Permissions::from_mode(0o755)).expect("chmod");
    symlink("/etc", t.path().join("etc-link")).expect("symlink");
    symlink("bin/app", t.path().join("out/app-link")).expect("symlink");
    t
}

#[test]
fn select_globs_with_double_star_and_exclude() {
    let t = tree();
    let sel = select(
        t.path(),
        &strings(&["out/", "**/*.log", "missing/*"]),
        &strings(&["out/**/*.debug", "out/docs"]),
        false,
    );
    let got: Vec<&str> = sel.entries.iter().map(String::as_str).collect();
    assert_eq!(
        got,
        [
            "logs/a.log",
            "logs/sub/b.log",
            "out",
            "out/app-link",
            "out/bin",
            "out/bin/app",
            "out/lib",
            "out/lib/x.so",
            "top.log"
        ]
    );
    let log = sel.log.join("\n");
    for line in [
        "out/: found 6 matching artifact files and directories",
        "**/*.log: found 3 matching artifact files and directories",
        "WARNING: missing/*: no matching files",
        "out/**/*.debug: excluded 1 files",
        "out/docs: excluded 1 files",
    ] {
        assert!(log.contains(line), "missing {line:?} in\n{log}");
    }
}

#[test]
fn single_star_stays_in_its_directory_and_paths_stay_inside() {
    let t = tree();
    let abs = t.path().join("top.log").display().to_string();
    let sel = select(t.path(), &strings(&["logs/*.log", &abs, "../x", "etc-link/passwd", "**/passwd"]), &[], false);
    let got: Vec<&str> = sel.entries.iter().map(String::as_str).collect();
    // Symlinks are archived as links and never looked through.
    assert_eq!(got, ["logs/a.log", "top.log"]);
    assert!(sel.log.iter().any(|l| l.contains("../x: not a subpath")), "{:?}", sel.log);
    let sel = select(t.path(), &strings(&["etc-link", "."]), &strings(&["out", "logs", "src", "top.log"]), false);
    assert_eq!(sel.entries.iter().map(String::as_str).collect::<Vec<_>>(), ["etc-link"]);
}

#[test]
fn zip_round_trip_keeps_modes_links_and_times() {
    let t = tree();
    let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    File::options().write(true).open(t.path().join("out/lib/x.so")).expect("open").set_modified(old).expect("mtime");
    let sel = select(t.path(), &strings(&["out"]), &[], false);
    let zip = tempfile::tempfile().expect("tempfile");
    assert_eq!(write_zip(t.path(), &sel.entries, zip.try_clone().expect("clone")).expect("zip"), 9);
    let dest = tempfile::tempdir().expect("tempdir");
    let (written, skipped) = extract(zip, dest.path()).expect("extract");
    assert_eq!((written, skipped.len()), (9, 0));
    let d = dest.path();
    let mode = |p: &str| fs::metadata(d.join(p)).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode("out/bin/app"), 0o755);
    assert_eq!(mode("out/lib/x.so"), 0o644);
    assert_eq!(fs::read_to_string(d.join("out/docs/readme.md")).expect("read"), "out/docs/readme.md");
    assert_eq!(fs::read_link(d.join("out/app-link")).expect("link"), Path::new("bin/app"));
    assert_eq!(fs::metadata(d.join("out/lib/x.so")).expect("meta").modified().expect("mtime"), old);
    // Extracting again over the same files works (cache restores do).
    let zip = tempfile::tempfile().expect("tempfile");
    write_zip(t.path(), &sel.entries, zip.try_clone().expect("clone")).expect("zip");
    extract(zip, d).expect("extract again");
}

/// A zip with the given (name, symlink target or file contents) entries.
fn hostile(entries: &[(&str, Option<&str>, &str)]) -> File {
    let f = tempfile::tempfile().expect("tempfile");
    let mut z = ZipWriter::new(f.try_clone().expect("clone"));
    for (name, link, data) in entries {
        match link {
            Some(target) => z.add_symlink(*name, *target, SimpleFileOptions::default()).expect("link"),
            None => {
                z.start_file(*name, SimpleFileOptions::default()).expect("start");
                z.write_all(data.as_bytes()).expect("write");
            }
        }
    }
    z.finish().expect("finish");
    f
}

#[test]
fn zip_slip_is_refused() {
    let outer = tempfile::tempdir().expect("tempdir");
    let root = outer.path().join("project");
    for name in ["../evil", "a/../../evil", "/tmp/evil"] {
        let err = extract(hostile(&[(name, None, "x")]), &root).expect_err(name);
        assert!(matches!(err, ArchiveError::Unsafe(_)), "{name}: {err}");
    }
    assert!(!outer.path().join("evil").exists());
    // Links that leave the directory are skipped; links inside it are made.
    let zip = hostile(&[("esc", Some("../../etc"), ""), ("abs", Some("/etc"), ""), ("ok", Some("sub/../f"), "")]);
    let (written, skipped) = extract(zip, &root).expect("extract");
    assert_eq!((written, skipped), (1, vec!["esc".to_string(), "abs".to_string()]));
    // An existing symlink (say, from the repository) is never written through.
    fs::create_dir(outer.path().join("elsewhere")).expect("mkdir");
    symlink(outer.path().join("elsewhere"), root.join("sub")).expect("symlink");
    let err = extract(hostile(&[("sub/file", None, "x")]), &root).expect_err("through a symlink");
    assert!(matches!(err, ArchiveError::Unsafe(_)), "{err}");
    assert!(!outer.path().join("elsewhere/file").exists());
    // A symlink at the entry's own path is replaced, not followed.
    symlink(outer.path().join("elsewhere/target"), root.join("f")).expect("symlink");
    extract(hostile(&[("f", None, "mine")]), &root).expect("replace link");
    assert!(!outer.path().join("elsewhere/target").exists());
    assert_eq!(fs::read_to_string(root.join("f")).expect("read"), "mine");
}

#[test]
fn entry_names() {
    assert_eq!(safe_relative("./a//b/"), Some(PathBuf::from("a/b")));
    assert_eq!(safe_relative("a/.."), None);
    assert!(symlink_stays_inside(Path::new("a/b"), "../c"));
    assert!(!symlink_stays_inside(Path::new("a/b"), "../../c"));
    assert!(!symlink_stays_inside(Path::new("a"), "x/../../y"));
}

#[test]
fn untracked_takes_ignored_files_too() {
    let t = tempfile::tempdir().expect("tempdir");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git").args(args).current_dir(t.path()).output().expect("git");
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    };
    git(&["init", "-q"]);
    put(t.path(), ".gitignore", 0o644);
    fs::write(t.path().join(".gitignore"), "*.o\n").expect("write");
    put(t.path(), "tracked.c", 0o644);
    git(&["add", "."]);
    put(t.path(), "new/file.txt", 0o644);
    put(t.path(), "main.o", 0o644);
    let sel = select(t.path(), &[], &strings(&["*.txt"]), true);
    // `*.txt` does not cross directories, so `new/file.txt` stays.
    assert_eq!(sel.entries.iter().map(String::as_str).collect::<Vec<_>>(), ["main.o", "new/file.txt"]);
    assert!(sel.log.iter().any(|l| l == "untracked: found 2 files"), "{:?}", sel.log);
}
