//! Commits: raw commit objects from `cat-file` parsed here, so there is no `--format` string
//! whose separators a commit message could imitate, and lists from `rev-list`.

use super::{normalize_path, resolve_with};
use crate::catfile::CatFile;
use crate::cmd::{MAX_LISTING, git_in, run_ok};
use crate::{Error, Result};
use chrono::{DateTime, FixedOffset, Offset, Utc};
use serde::Serialize;
use std::path::Path;

/// How much of a commit object is kept; a longer message is cut (a hostile multi-megabyte message
/// must not make branch listings expensive).
pub(crate) const MAX_COMMIT_SIZE: usize = 1 << 20;

/// The fields GitLab's commit JSON is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    pub id: String,
    /// The first 8 characters of `id`, as GitLab shows.
    pub short_id: String,
    /// The first line of `message`.
    pub title: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub authored_date: DateTime<FixedOffset>,
    pub committer_name: String,
    pub committer_email: String,
    pub committed_date: DateTime<FixedOffset>,
    pub parent_ids: Vec<String>,
}

/// One commit, by id or any revision; `None` when it doesn't name a commit.
pub async fn commit(repo: &Path, rev: &str) -> Result<Option<CommitInfo>> {
    let mut cat = CatFile::spawn(repo).await?;
    let Some(oid) = resolve_with(&mut cat, rev).await? else { return Ok(None) };
    load(&mut cat, &oid).await
}

/// A page of history from `rev` (HEAD when `None`), newest first, optionally limited to commits
/// touching `path`. Empty for a repository without commits or an unknown revision.
pub async fn commits(
    repo: &Path,
    rev: Option<&str>,
    path: Option<&str>,
    skip: usize,
    limit: usize,
) -> Result<Vec<CommitInfo>> {
    let path = normalize_path(path)?;
    let mut cat = CatFile::spawn(repo).await?;
    let Some(head) = resolve_with(&mut cat, rev.unwrap_or("HEAD")).await? else { return Ok(Vec::new()) };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut cmd = git_in(repo);
    cmd.args(["rev-list", &format!("--skip={skip}"), &format!("--max-count={limit}"), &head]);
    if let Some(p) = path {
        cmd.arg("--").arg(p);
    }
    let out = String::from_utf8_lossy(&run_ok(cmd, MAX_LISTING).await?).into_owned();
    let mut list = Vec::new();
    for oid in out.lines() {
        list.extend(load(&mut cat, oid).await?);
    }
    Ok(list)
}

/// How many commits [`commits`] would page through (for `X-Total`). Linear in history length.
pub async fn count_commits(repo: &Path, rev: Option<&str>, path: Option<&str>) -> Result<u64> {
    let path = normalize_path(path)?;
    let mut cat = CatFile::spawn(repo).await?;
    let Some(head) = resolve_with(&mut cat, rev.unwrap_or("HEAD")).await? else { return Ok(0) };
    let mut cmd = git_in(repo);
    cmd.args(["rev-list", "--count", &head]);
    if let Some(p) = path {
        cmd.arg("--").arg(p);
    }
    let out = run_ok(cmd, 1 << 10).await?;
    String::from_utf8_lossy(&out).trim().parse().map_err(|_| Error::Parse("rev-list --count".into()))
}

/// Reads and parses commit `oid`; `None` if it isn't a commit.
pub(crate) async fn load(cat: &mut CatFile, oid: &str) -> Result<Option<CommitInfo>> {
    match cat.contents(oid, MAX_COMMIT_SIZE).await? {
        Some((info, raw)) if info.kind == "commit" => Ok(Some(parse_commit(&info.oid, &raw))),
        _ => Ok(None),
    }
}

/// Parses a raw commit object. Lenient by design: objects pushed without `receive.fsckObjects`
/// may be odd, and one odd commit must not break a listing, so missing fields become empty.
pub(crate) fn parse_commit(oid: &str, raw: &[u8]) -> CommitInfo {
    let text = String::from_utf8_lossy(raw);
    let (headers, message) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut parent_ids = Vec::new();
    let (mut author, mut committer) = (None, None);
    // Continuation lines of multi-line headers (gpgsig, mergetag) start with a space and never
    // match these prefixes.
    for line in headers.lines() {
        if let Some(p) = line.strip_prefix("parent ") {
            parent_ids.push(p.to_owned());
        } else if let Some(a) = line.strip_prefix("author ") {
            author = Some(parse_ident(a));
        } else if let Some(c) = line.strip_prefix("committer ") {
            committer = Some(parse_ident(c));
        }
    }
    let (author_name, author_email, authored_date) = author.unwrap_or_else(empty_ident);
    let (committer_name, committer_email, committed_date) = committer.unwrap_or_else(empty_ident);
    CommitInfo {
        id: oid.to_owned(),
        short_id: oid.chars().take(8).collect(),
        title: message.lines().next().unwrap_or("").to_owned(),
        message: message.to_owned(),
        author_name,
        author_email,
        authored_date,
        committer_name,
        committer_email,
        committed_date,
        parent_ids,
    }
}

type Ident = (String, String, DateTime<FixedOffset>);

fn epoch() -> DateTime<FixedOffset> {
    DateTime::UNIX_EPOCH.fixed_offset()
}

fn empty_ident() -> Ident {
    (String::new(), String::new(), epoch())
}

/// Parses `Name <email> 1700000000 +0100`. git strips `<` and `>` from names and emails, so the
/// last `>` ends the email and the `<` before it starts it.
pub(crate) fn parse_ident(s: &str) -> Ident {
    let Some(gt) = s.rfind('>') else { return (s.trim().to_owned(), String::new(), epoch()) };
    let (name, email) = match s[..gt].rfind('<') {
        Some(lt) => (s[..lt].trim(), &s[lt + 1..gt]),
        None => (s[..gt].trim(), ""),
    };
    let mut when = s[gt + 1..].split_whitespace();
    let seconds = when.next().and_then(|t| t.parse::<i64>().ok());
    // A malformed zone still leaves a usable instant: show it in UTC.
    let tz = when.next().and_then(parse_tz).unwrap_or(Utc.fix());
    let date = seconds.and_then(|ts| DateTime::from_timestamp(ts, 0)).map(|d| d.with_timezone(&tz));
    (name.to_owned(), email.to_owned(), date.unwrap_or_else(epoch))
}

/// `+0130` / `-0800` to an offset; `None` when malformed or out of range.
fn parse_tz(tz: &str) -> Option<FixedOffset> {
    let sign = match tz.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = tz.get(1..).filter(|d| d.len() == 4 && d.bytes().all(|b| b.is_ascii_digit()))?;
    let (h, m): (i32, i32) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raw_commit_with_signature() {
        let raw = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent aaaa\nparent bbbb\n\
            author Ann Example <ann@example.com> 1700000000 +0130\ncommitter C <c@x> 1700000100 -0800\n\
            gpgsig -----BEGIN PGP SIGNATURE-----\n parent cccc\n -----END PGP SIGNATURE-----\n\nTitle line\n\nBody\n";
        let c = parse_commit("0123456789abcdef0123456789abcdef01234567", raw.as_bytes());
        assert_eq!(c.short_id, "01234567");
        assert_eq!(c.parent_ids, ["aaaa", "bbbb"]);
        assert_eq!((c.author_name.as_str(), c.author_email.as_str()), ("Ann Example", "ann@example.com"));
        assert_eq!(c.authored_date.to_rfc3339(), "2023-11-14T23:43:20+01:30");
        assert_eq!(c.committed_date.to_rfc3339(), "2023-11-14T14:15:00-08:00");
        assert_eq!((c.title.as_str(), c.message.as_str()), ("Title line", "Title line\n\nBody\n"));
    }

    #[test]
    fn tolerates_odd_commits() {
        let c = parse_commit("ab", b"tree x\nauthor <> 99999999999999999999 +9999\n");
        assert_eq!((c.author_name.as_str(), c.message.as_str(), c.authored_date), ("", "", epoch()));
        assert_eq!(c.committer_name, "");
        assert_eq!(parse_ident("No Email 5 +0000"), ("No Email 5 +0000".into(), String::new(), epoch()));
        assert_eq!(parse_ident("X <x> 60 junk").2.to_rfc3339(), "1970-01-01T00:01:00+00:00");
        assert_eq!(parse_tz("+2400"), None);
        assert_eq!(parse_tz("0100"), None);
        assert_eq!(parse_tz("+01"), None);
    }
}
