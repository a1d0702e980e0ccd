//! JSON shape of a file's changes (`diffs` of compare, a commit's `diff`), as GitLab's API v4
//! returns them: paths, modes, flags and the patch text from the first hunk on.

use autogit_render::diff::{Change, FileDiff, LineKind};
use serde_json::{Value, json};

/// git's mode of a regular file, assumed where a patch does not say (an unchanged mode).
const REGULAR: &str = "100644";

pub fn diff_json(f: &FileDiff) -> Value {
    let old_path = f.old_path.as_deref().or(f.new_path.as_deref()).unwrap_or_default();
    let new_path = f.new_path.as_deref().or(f.old_path.as_deref()).unwrap_or_default();
    let (a_mode, b_mode) = match f.change {
        Change::Added => ("0".to_string(), f.new_mode.clone().unwrap_or_else(|| REGULAR.into())),
        Change::Deleted => (f.old_mode.clone().unwrap_or_else(|| REGULAR.into()), "0".to_string()),
        _ => {
            let a = f.old_mode.clone().or_else(|| f.new_mode.clone()).unwrap_or_else(|| REGULAR.into());
            let b = f.new_mode.clone().unwrap_or_else(|| a.clone());
            (a, b)
        }
    };
    json!({
        "old_path": old_path,
        "new_path": new_path,
        "a_mode": a_mode,
        "b_mode": b_mode,
        "new_file": f.change == Change::Added,
        "renamed_file": f.change == Change::Renamed,
        "deleted_file": f.change == Change::Deleted,
        "diff": patch_text(f),
    })
}

/// The hunks as unified diff text (`@@ … @@` lines and prefixed lines); empty for a binary file
/// or a change of mode or name only.
fn patch_text(f: &FileDiff) -> String {
    let mut out = String::new();
    for h in &f.hunks {
        out.push_str(&h.header);
        out.push('\n');
        for l in &h.lines {
            match l.kind {
                LineKind::Context => out.push(' '),
                LineKind::Added => out.push('+'),
                LineKind::Removed => out.push('-'),
                LineKind::NoNewline => {
                    out.push_str("\\ No newline at end of file\n");
                    continue;
                }
            }
            out.push_str(&l.text);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modified_file_gives_its_hunks_back_as_text() {
        let patch = b"diff --git a/a.txt b/a.txt\nindex 1111111..2222222 100644\n--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n\\ No newline at end of file\n";
        let files = autogit_render::diff::parse(patch);
        let v = diff_json(&files[0]);
        assert_eq!(v["diff"], "@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n\\ No newline at end of file\n");
        assert_eq!(
            (v["old_path"].as_str(), v["a_mode"].as_str(), v["b_mode"].as_str()),
            (Some("a.txt"), Some("100644"), Some("100644"))
        );
        assert_eq!((v["new_file"].as_bool(), v["deleted_file"].as_bool()), (Some(false), Some(false)));
    }

    #[test]
    fn added_and_renamed_files_carry_their_flags() {
        let patch = b"diff --git a/n.sh b/n.sh\nnew file mode 100755\nindex 0000000..3333333\n--- /dev/null\n+++ b/n.sh\n@@ -0,0 +1 @@\n+x\ndiff --git a/o.txt b/p.txt\nsimilarity index 100%\nrename from o.txt\nrename to p.txt\n";
        let files = autogit_render::diff::parse(patch);
        let added = diff_json(&files[0]);
        assert_eq!(
            (added["new_file"].as_bool(), added["a_mode"].as_str(), added["b_mode"].as_str()),
            (Some(true), Some("0"), Some("100755"))
        );
        let renamed = diff_json(&files[1]);
        assert_eq!(
            (
                renamed["renamed_file"].as_bool(),
                renamed["old_path"].as_str(),
                renamed["new_path"].as_str(),
                renamed["diff"].as_str()
            ),
            (Some(true), Some("o.txt"), Some("p.txt"), Some(""))
        );
    }
}
