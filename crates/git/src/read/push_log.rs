//! The commits a push brought, as push webhooks describe them: the newest first (at most a
//! limit), each with the paths it added, modified and removed against its first parent, and how
//! many commits the push brought in all.

use super::commit::{CommitInfo, load};
use crate::catfile::CatFile;
use crate::cmd::{MAX_LISTING, git_in, run_ok};
use crate::{Error, Result};
use std::path::Path;

/// One commit of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushCommit {
    pub info: CommitInfo,
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
}

fn is_oid(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Commits reachable from `new` but from none of `exclude` (full object ids): the newest `limit`
/// with their changed paths, and the count of all of them.
pub async fn push_commits(repo: &Path, new: &str, exclude: &[&str], limit: usize) -> Result<(Vec<PushCommit>, u64)> {
    if let Some(bad) = std::iter::once(&new).chain(exclude).find(|o| !is_oid(o)) {
        return Err(Error::InvalidRef(bad.chars().take(80).collect()));
    }
    let negated: Vec<String> = exclude.iter().map(|o| format!("^{o}")).collect();
    let mut count = git_in(repo);
    count.args(["rev-list", "--count", new]).args(&negated);
    let total = String::from_utf8_lossy(&run_ok(count, 1 << 10).await?).trim().parse::<u64>().unwrap_or(0);
    if total == 0 || limit == 0 {
        return Ok((Vec::new(), total));
    }
    let mut list = git_in(repo);
    list.args(["rev-list", &format!("--max-count={limit}"), new]).args(&negated);
    let ids: Vec<String> =
        String::from_utf8_lossy(&run_ok(list, MAX_LISTING).await?).lines().map(str::to_owned).collect();
    let mut changes = git_in(repo);
    changes.args(["log", "--no-walk=unsorted", "--no-renames", "--name-status", "-z", "--format=%H"]).args(&ids);
    let raw = run_ok(changes, MAX_LISTING).await?;
    let mut cat = CatFile::spawn(repo).await?;
    let mut out: Vec<PushCommit> = Vec::with_capacity(ids.len());
    for (oid, added, modified, removed) in parse_name_status(&raw) {
        if let Some(info) = load(&mut cat, &oid).await? {
            out.push(PushCommit { info, added, modified, removed });
        }
    }
    Ok((out, total))
}

type Changes = (String, Vec<String>, Vec<String>, Vec<String>);

/// `git log -z --name-status --format=%H`: `<id>\0\n` then `<status>\0<path>\0` pairs, per
/// commit. A path is taken whole after its status, so no path can pass for a commit id.
fn parse_name_status(raw: &[u8]) -> Vec<Changes> {
    let text = String::from_utf8_lossy(raw);
    let mut tokens = text.split('\0');
    let mut out: Vec<Changes> = Vec::new();
    while let Some(token) = tokens.next() {
        let t = token.trim_start_matches('\n');
        if is_oid(t) {
            out.push((t.to_string(), Vec::new(), Vec::new(), Vec::new()));
            continue;
        }
        let (Some(current), Some(path)) = (out.last_mut(), tokens.next()) else { continue };
        match t.chars().next() {
            Some('A') => current.1.push(path.to_string()),
            Some('D') => current.3.push(path.to_string()),
            Some('M' | 'T') => current.2.push(path.to_string()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_is_read_per_commit() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let c = "c".repeat(40);
        // A path that looks like a commit id stays a path.
        let raw = format!("{a}\0\nD\0x\0{b}\0\nM\0x\0A\0{c}\0A\0new file\0{c}\0\n");
        let got = parse_name_status(raw.as_bytes());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (a, vec![], vec![], vec!["x".to_string()]));
        assert_eq!(got[1].1, vec![c.clone(), "new file".to_string()]);
        assert_eq!(got[1].2, vec!["x".to_string()]);
        assert_eq!(got[2], (c, vec![], vec![], vec![]), "a commit without changes");
    }
}
