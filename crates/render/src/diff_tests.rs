use super::*;
use proptest::prelude::*;

const PATCH: &str = "diff --git a/src/lib.rs b/src/lib.rs
index 1111111..2222222 100644
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,4 +1,5 @@ fn top()
 fn a() {}
-fn b() {}
+fn b() { 1 }
+fn c() {}
 fn d() {}
 fn e() {}
\\ No newline at end of file
diff --git a/new file.txt b/new file.txt
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/new file.txt
@@ -0,0 +1 @@
+<script>hi</script>
diff --git a/gone.txt b/gone.txt
deleted file mode 100755
index 4444444..0000000
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/old name b/new name
similarity index 100%
rename from old name
rename to new name
diff --git a/logo.png b/logo.png
index 5555555..6666666 100644
Binary files a/logo.png and b/logo.png differ
diff --git \"a/t\\303\\251st\\tx\" \"b/t\\303\\251st\\tx\"
old mode 100644
new mode 100755
";

#[test]
fn a_patch_of_every_kind_of_change() {
    let files = parse(PATCH.as_bytes());
    assert_eq!(files.len(), 6);
    let f = &files[0];
    assert_eq!((f.path(), f.change, f.additions, f.deletions), ("src/lib.rs", Change::Modified, 2, 1));
    assert_eq!(f.hunks[0].header, "@@ -1,4 +1,5 @@ fn top()");
    let nums: Vec<_> = f.hunks[0].lines.iter().map(|l| (l.kind, l.old, l.new)).collect();
    assert_eq!(
        nums,
        vec![
            (LineKind::Context, Some(1), Some(1)),
            (LineKind::Removed, Some(2), None),
            (LineKind::Added, None, Some(2)),
            (LineKind::Added, None, Some(3)),
            (LineKind::Context, Some(3), Some(4)),
            (LineKind::Context, Some(4), Some(5)),
            (LineKind::NoNewline, None, None),
        ]
    );
    assert_eq!((files[1].old_path.as_deref(), files[1].path(), files[1].change), (None, "new file.txt", Change::Added));
    assert_eq!(files[1].hunks[0].lines[0].text, "<script>hi</script>");
    assert_eq!((files[2].new_path.as_deref(), files[2].path(), files[2].change), (None, "gone.txt", Change::Deleted));
    assert_eq!(files[2].old_mode.as_deref(), Some("100755"));
    assert_eq!(
        (files[3].old_path.as_deref(), files[3].new_path.as_deref(), files[3].change),
        (Some("old name"), Some("new name"), Change::Renamed)
    );
    assert!(files[4].binary && files[4].hunks.is_empty());
    assert_eq!(files[5].path(), "tést\tx");
    assert_eq!((files[5].old_mode.as_deref(), files[5].new_mode.as_deref()), (Some("100644"), Some("100755")));
    assert_eq!(stats(&files), Stats { files: 6, additions: 3, deletions: 2 });
}

#[test]
fn quoting_is_undone() {
    assert_eq!(unquote("\"a\\\"b\\\\c\\n\""), "a\"b\\c\n");
    assert_eq!(unquote("plain"), "plain");
    assert_eq!(unquote("\"trailing\\\""), "trailing\\");
}

proptest! {
    #[test]
    fn any_bytes_parse_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut patch = b"diff --git a/x b/x\n@@ -1 +1 @@\n".to_vec();
        patch.extend(bytes);
        let files = parse(&patch);
        prop_assert!(!files.is_empty());
    }

    #[test]
    fn line_numbers_count_up_per_side(ops in proptest::collection::vec(0u8..3, 0..200)) {
        let mut patch = String::from("diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -10,5 +20,5 @@\n");
        for op in &ops {
            patch.push_str(match op { 0 => " c\n", 1 => "+a\n", _ => "-r\n" });
        }
        let files = parse(patch.as_bytes());
        let lines = &files[0].hunks[0].lines;
        let olds: Vec<u32> = lines.iter().filter_map(|l| l.old).collect();
        let news: Vec<u32> = lines.iter().filter_map(|l| l.new).collect();
        prop_assert!(olds.iter().enumerate().all(|(i, n)| *n == 10 + i as u32));
        prop_assert!(news.iter().enumerate().all(|(i, n)| *n == 20 + i as u32));
    }
}
