//! Reading a ref's reflog (`logs/<ref>` in the files backend, git's default) from its end, to
//! find the entry one push wrote. Lines are `<old> <new> <name> <<email>> <time> <tz>\t<message>`.
//!
//! The file is read backwards in growing windows: the entry sought is almost always among the
//! last few, and a busy branch's reflog grows by one line per push for as long as gc keeps it.

use crate::Result;
use crate::pktline::validate_ref_name;
use std::io::{ErrorKind, SeekFrom};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The first window read from the end of a reflog; each further one is 8 times larger.
const FIRST_WINDOW: u64 = 64 << 10;
/// The most of one reflog read into memory (about a million entries); an entry older than that
/// is reported as an error rather than as "not found", which would drop its push's events.
const MAX_WINDOW: u64 = 256 << 20;

/// What followed the entry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The `old` value of the next entry; `None` when the entry found is the last one.
    pub next_old: Option<String>,
}

/// One parsed reflog line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<'a> {
    old: &'a str,
    new: &'a str,
    email: &'a str,
}

fn parse(line: &str) -> Option<Entry<'_>> {
    let header = line.split_once('\t').map_or(line, |(h, _)| h);
    let mut parts = header.splitn(3, ' ');
    let (old, new, rest) = (parts.next()?, parts.next()?, parts.next()?);
    // `get`: in a damaged line the last `>` may come before the last `<`.
    let email = rest.get(rest.rfind('<')? + 1..rest.rfind('>')?)?;
    Some(Entry { old, new, email })
}

/// The last entry of `ref_name`'s reflog written by `email` with new value `new`, and the old
/// value of the entry after it. `None` when there is no such entry or no reflog; an invalid ref
/// name has none either.
pub(crate) async fn find_entry(repo: &Path, ref_name: &str, email: &str, new: &str) -> Result<Option<Found>> {
    if validate_ref_name(ref_name).is_err() {
        return Ok(None);
    }
    let path = repo.join("logs").join(ref_name);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let size = file.metadata().await?.len();
    let mut window = FIRST_WINDOW;
    loop {
        let start = size.saturating_sub(window);
        file.seek(SeekFrom::Start(start)).await?;
        let mut buf = Vec::with_capacity(usize::try_from(size - start).unwrap_or(0));
        (&mut file).take(size - start).read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf);
        let mut lines: Vec<&str> = text.lines().collect();
        if start > 0 && !lines.is_empty() {
            // The window began inside a line.
            lines.remove(0);
        }
        let entries: Vec<Entry<'_>> = lines.iter().filter_map(|l| parse(l)).collect();
        if let Some(i) = entries.iter().rposition(|e| e.email == email && e.new == new) {
            return Ok(Some(Found { next_old: entries.get(i + 1).map(|e| e.old.to_owned()) }));
        }
        if start == 0 {
            return Ok(None);
        }
        if window >= MAX_WINDOW {
            return Err(crate::Error::Parse(format!(
                "the reflog of {ref_name} is larger than {} MiB and its last {} MiB hold no entry of this push",
                size >> 20,
                MAX_WINDOW >> 20
            )));
        }
        window = window.saturating_mul(8).min(MAX_WINDOW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(old: char, new: char, email: &str) -> String {
        format!(
            "{} {} AutoGit <{email}> 1700000000 +0000\tpush\n",
            old.to_string().repeat(40),
            new.to_string().repeat(40)
        )
    }

    proptest::proptest! {
        /// Reflogs are files anyone with access to the repository could damage: any line parses
        /// or is skipped.
        #[test]
        fn any_line_parses_or_is_skipped(line in "[0a <>\t@.x]{0,48}|\\PC{0,80}") {
            let _ = parse(&line);
        }
    }

    #[test]
    fn parses_lines() {
        let l = line('0', 'a', "push-1@autogit.invalid");
        let e = parse(&l).expect("parses");
        assert_eq!((e.old.len(), &e.new[..1], e.email), (40, "a", "push-1@autogit.invalid"));
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse("a b x> <y 1 +0000\tdamaged"), None, "a damaged line is skipped, never a panic");
        assert_eq!(parse(""), None);
    }

    #[tokio::test]
    async fn finds_the_entry_and_what_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs/refs/heads");
        std::fs::create_dir_all(&logs).expect("mkdir");
        let mut text = String::new();
        // Enough filler that the first window starts inside the file.
        for _ in 0..2000 {
            text.push_str(&line('1', '2', "someone@else"));
        }
        text.push_str(&line('0', 'a', "push-7@autogit.invalid"));
        for _ in 0..1000 {
            text.push_str(&line('3', '4', "someone@else"));
        }
        text.push_str(&line('a', 'b', "push-8@autogit.invalid"));
        std::fs::write(logs.join("main"), text).expect("write");
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let find = |email: &'static str, new: String| {
            let repo = dir.path().to_path_buf();
            async move { find_entry(&repo, "refs/heads/main", email, &new).await.expect("reads") }
        };
        assert_eq!(find("push-7@autogit.invalid", a.clone()).await, Some(Found { next_old: Some("3".repeat(40)) }));
        assert_eq!(find("push-8@autogit.invalid", b.clone()).await, Some(Found { next_old: None }));
        assert_eq!(find("push-8@autogit.invalid", a.clone()).await, None, "the new value must match too");
        assert_eq!(find("push-9@autogit.invalid", b).await, None);
        assert_eq!(find_entry(dir.path(), "refs/heads/none", "x", &a).await.expect("reads"), None);
        assert_eq!(find_entry(dir.path(), "refs/../x", "x", &a).await.expect("reads"), None);
    }
}
