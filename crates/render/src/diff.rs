//! git's unified diff (`git diff`/`diff-tree -p` output) parsed into files, hunks and numbered
//! lines for the commit and compare pages. The text is untrusted (file names and contents are
//! whatever was pushed): the parser never panics, keeps no more than it was given, and leaves
//! escaping to the template (every string here is plain text).

use serde::Serialize;

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Deleted,
    Modified,
    Renamed,
    Copied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Context,
    Added,
    Removed,
    /// git's `\ No newline at end of file`.
    NoNewline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    pub kind: LineKind,
    pub old: Option<u32>,
    pub new: Option<u32>,
    /// The line without its `+`/`-`/` ` prefix, decoded lossily.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@ context` line.
    pub header: String,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// The path before (`None` for an added file).
    pub old_path: Option<String>,
    /// The path after (`None` for a deleted file).
    pub new_path: Option<String>,
    pub change: Change,
    pub binary: bool,
    pub old_mode: Option<String>,
    pub new_mode: Option<String>,
    pub additions: u32,
    pub deletions: u32,
    pub hunks: Vec<Hunk>,
}

impl FileDiff {
    /// The path to show and link: the new one, else the old one.
    pub fn path(&self) -> &str {
        self.new_path.as_deref().or(self.old_path.as_deref()).unwrap_or("")
    }
}

/// Totals of a diff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub files: usize,
    pub additions: u64,
    pub deletions: u64,
}

pub fn stats(files: &[FileDiff]) -> Stats {
    Stats {
        files: files.len(),
        additions: files.iter().map(|f| u64::from(f.additions)).sum(),
        deletions: files.iter().map(|f| u64::from(f.deletions)).sum(),
    }
}

/// Parses a patch. Lines outside any `diff --git` header are ignored.
pub fn parse(patch: &[u8]) -> Vec<FileDiff> {
    let text = String::from_utf8_lossy(patch);
    let mut files: Vec<FileDiff> = Vec::new();
    let (mut old_no, mut new_no) = (0u32, 0u32);
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix("diff --git ") {
            let (a, b) = header_paths(rest);
            files.push(FileDiff {
                old_path: a,
                new_path: b,
                change: Change::Modified,
                binary: false,
                old_mode: None,
                new_mode: None,
                additions: 0,
                deletions: 0,
                hunks: Vec::new(),
            });
            continue;
        }
        let Some(file) = files.last_mut() else { continue };
        if let Some(hunk) = file.hunks.last_mut() {
            let kind = match line.as_bytes().first() {
                Some(b'+') => Some(LineKind::Added),
                Some(b'-') => Some(LineKind::Removed),
                Some(b' ') => Some(LineKind::Context),
                Some(b'\\') => Some(LineKind::NoNewline),
                _ => None,
            };
            if let Some(kind) = kind {
                let text =
                    if kind == LineKind::NoNewline { line[1..].trim().to_string() } else { line[1..].to_string() };
                let (old, new) = match kind {
                    LineKind::Added => (None, Some(bump(&mut new_no))),
                    LineKind::Removed => (Some(bump(&mut old_no)), None),
                    LineKind::Context => (Some(bump(&mut old_no)), Some(bump(&mut new_no))),
                    LineKind::NoNewline => (None, None),
                };
                match kind {
                    LineKind::Added => file.additions = file.additions.saturating_add(1),
                    LineKind::Removed => file.deletions = file.deletions.saturating_add(1),
                    _ => {}
                }
                hunk.lines.push(DiffLine { kind, old, new, text });
                continue;
            }
        }
        if line.starts_with("@@ ") {
            let (o, n) = hunk_starts(line);
            old_no = o;
            new_no = n;
            file.hunks.push(Hunk { header: line.to_string(), lines: Vec::new() });
        } else if let Some(m) = line.strip_prefix("new file mode ") {
            file.change = Change::Added;
            file.new_mode = Some(m.to_string());
            file.old_path = None;
        } else if let Some(m) = line.strip_prefix("deleted file mode ") {
            file.change = Change::Deleted;
            file.old_mode = Some(m.to_string());
            file.new_path = None;
        } else if let Some(m) = line.strip_prefix("old mode ") {
            file.old_mode = Some(m.to_string());
        } else if let Some(m) = line.strip_prefix("new mode ") {
            file.new_mode = Some(m.to_string());
        } else if let Some(p) = line.strip_prefix("rename from ") {
            file.change = Change::Renamed;
            file.old_path = Some(unquote(p));
        } else if let Some(p) = line.strip_prefix("rename to ") {
            file.change = Change::Renamed;
            file.new_path = Some(unquote(p));
        } else if let Some(p) = line.strip_prefix("copy from ") {
            file.change = Change::Copied;
            file.old_path = Some(unquote(p));
        } else if let Some(p) = line.strip_prefix("copy to ") {
            file.change = Change::Copied;
            file.new_path = Some(unquote(p));
        } else if line.starts_with("Binary files ") || line == "GIT binary patch" {
            file.binary = true;
        } else if let Some(p) = line.strip_prefix("--- ") {
            if file.change != Change::Added {
                file.old_path = side(p, "a/").or(file.old_path.take());
            }
        } else if let Some(p) = line.strip_prefix("+++ ")
            && file.change != Change::Deleted
        {
            file.new_path = side(p, "b/").or(file.new_path.take());
        }
    }
    files
}

fn bump(n: &mut u32) -> u32 {
    let v = *n;
    *n = n.saturating_add(1);
    v
}

/// The first old and new line numbers of `@@ -a[,b] +c[,d] @@`.
fn hunk_starts(line: &str) -> (u32, u32) {
    let mut old = 0;
    let mut new = 0;
    for word in line.split(' ').skip(1).take(2) {
        let num = |w: &str| w.split(',').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        if let Some(w) = word.strip_prefix('-') {
            old = num(w);
        } else if let Some(w) = word.strip_prefix('+') {
            new = num(w);
        }
    }
    (old, new)
}

/// A `---`/`+++` path: `/dev/null` is none; the `a/`/`b/` prefix is dropped.
fn side(p: &str, prefix: &str) -> Option<String> {
    let p = unquote(p.split('\t').next().unwrap_or(p));
    if p == "/dev/null" {
        return None;
    }
    Some(p.strip_prefix(prefix).map(str::to_string).unwrap_or(p))
}

/// The two paths of `diff --git a/X b/Y`. Unquoted paths with spaces are ambiguous; git writes
/// both halves equal unless the file was renamed or copied, and then `rename from/to` follow
/// and win.
fn header_paths(rest: &str) -> (Option<String>, Option<String>) {
    if rest.starts_with('"') || rest.ends_with('"') {
        let (a, b) = split_quoted(rest);
        return (a.map(|a| strip(&a, "a/")), b.map(|b| strip(&b, "b/")));
    }
    let n = rest.len().saturating_sub(5) / 2;
    if rest.len() == 2 * n + 5 && rest.is_char_boundary(n + 2) && rest.is_char_boundary(n + 3) {
        let (a, b) = (&rest[..n + 2], &rest[n + 3..]);
        if let (Some(x), Some(y)) = (a.strip_prefix("a/"), b.strip_prefix("b/"))
            && x == y
        {
            return (Some(x.to_string()), Some(y.to_string()));
        }
    }
    match rest.split_once(" b/") {
        Some((a, b)) => (Some(strip(a, "a/")), Some(b.to_string())),
        None => (None, None),
    }
}

fn strip(p: &str, prefix: &str) -> String {
    p.strip_prefix(prefix).unwrap_or(p).to_string()
}

/// Splits `"a/x y" "b/x y"`, `a/x "b/y z"` and the like.
fn split_quoted(rest: &str) -> (Option<String>, Option<String>) {
    let mut parts = Vec::new();
    let mut s = rest;
    while !s.is_empty() && parts.len() < 2 {
        s = s.trim_start();
        if s.starts_with('"') {
            let end = closing_quote(s).unwrap_or(s.len() - 1);
            parts.push(unquote(&s[..=end]));
            s = &s[end + 1..];
        } else {
            let end = s.find(' ').unwrap_or(s.len());
            parts.push(s[..end].to_string());
            s = &s[end..];
        }
    }
    let mut it = parts.into_iter();
    (it.next(), it.next())
}

/// The index of the quote that closes the one `s` starts with.
fn closing_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// git's C-style quoting (`"a\tb\303\251"`) undone; an unquoted path is returned as is.
pub fn unquote(p: &str) -> String {
    let Some(inner) = p.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else { return p.to_string() };
    let b = inner.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'3' if b.get(i..i + 2).is_some_and(|d| d.iter().all(|x| (b'0'..=b'7').contains(x))) => {
                let d = &b[i..i + 2];
                out.push((c - b'0') * 64 + (d[0] - b'0') * 8 + (d[1] - b'0'));
                i += 2;
            }
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
