//! Branches and tags: `for-each-ref` lists them, one `cat-file` process reads the objects.

use super::commit::{CommitInfo, load, parse_ident};
use crate::catfile::CatFile;
use crate::cmd::{MAX_LISTING, git_in, run_ok};
use crate::pktline::validate_ref_name;
use crate::{Error, Result};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use std::path::Path;

/// Largest tag object read; a longer tag message is cut.
const MAX_TAG_SIZE: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branch {
    pub name: String,
    pub commit: CommitInfo,
    /// Whether HEAD points at this branch.
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub name: String,
    /// The tag object's id for an annotated tag, the tagged object's id for a lightweight one
    /// (GitLab's `target`).
    pub target: String,
    /// The annotation; `None` for a lightweight tag.
    pub message: Option<String>,
    /// The tagger's date of an annotated tag (GitLab's `created_at`).
    pub created_at: Option<DateTime<FixedOffset>>,
    /// The commit the tag peels to; `None` for a tag of a tree or blob.
    pub commit: Option<CommitInfo>,
}

/// One `for-each-ref` line.
struct RefLine {
    oid: String,
    kind: String,
    name: String,
}

/// Refs matching `pattern` (a prefix such as `refs/heads/`, or one full ref name), sorted by name.
async fn list_refs(repo: &Path, pattern: &str) -> Result<Vec<RefLine>> {
    let mut cmd = git_in(repo);
    cmd.args(["for-each-ref", "--format=%(objectname) %(objecttype) %(refname)", "--", pattern]);
    let out = run_ok(cmd, MAX_LISTING).await?;
    let text = String::from_utf8_lossy(&out);
    text.lines()
        .map(|line| {
            // Ref names contain no spaces (check-ref-format), so splitting twice is exact.
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(oid), Some(kind), Some(name)) => {
                    Ok(RefLine { oid: oid.into(), kind: kind.into(), name: name.into() })
                }
                _ => Err(Error::Parse(format!("for-each-ref line {line:?}"))),
            }
        })
        .collect()
}

/// The line for exactly `full_name`, if that ref exists. Invalid names simply don't exist.
async fn find_ref(repo: &Path, full_name: &str) -> Result<Option<RefLine>> {
    if validate_ref_name(full_name).is_err() {
        return Ok(None);
    }
    // A pattern also matches refs below it, hence the exact comparison.
    Ok(list_refs(repo, full_name).await?.into_iter().find(|r| r.name == full_name))
}

/// The short names of the branches whose history contains commit `oid` (a full object id),
/// sorted by name.
pub async fn branches_containing(repo: &Path, oid: &str) -> Result<Vec<String>> {
    if !matches!(oid.len(), 40 | 64) || !oid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidRef(oid.chars().take(80).collect()));
    }
    let mut cmd = git_in(repo);
    cmd.args(["for-each-ref", "--format=%(refname)", "--contains", oid, "--", "refs/heads/"]);
    let out = run_ok(cmd, MAX_LISTING).await?;
    Ok(String::from_utf8_lossy(&out).lines().filter_map(|l| l.strip_prefix("refs/heads/")).map(str::to_owned).collect())
}

/// The short names of every branch and tag (one `for-each-ref`, no object read): what a page
/// address like `/-/tree/feature/x/src` is split against.
pub async fn ref_names(repo: &Path) -> Result<Vec<String>> {
    let mut cmd = git_in(repo);
    cmd.args(["for-each-ref", "--format=%(refname)", "--", "refs/heads/", "refs/tags/"]);
    let out = run_ok(cmd, MAX_LISTING).await?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("refs/heads/").or_else(|| l.strip_prefix("refs/tags/")))
        .map(str::to_owned)
        .collect())
}

/// All branches with their head commits, sorted by name. Empty for an empty repository.
pub async fn branches(repo: &Path) -> Result<Vec<Branch>> {
    let default = super::default_branch(repo).await?;
    let mut cat = CatFile::spawn(repo).await?;
    let mut list = Vec::new();
    for r in list_refs(repo, "refs/heads/").await? {
        list.extend(to_branch(&mut cat, r, default.as_deref()).await?);
    }
    Ok(list)
}

/// One branch by short name (`main`, `feature/x`).
pub async fn branch(repo: &Path, name: &str) -> Result<Option<Branch>> {
    let Some(r) = find_ref(repo, &format!("refs/heads/{name}")).await? else { return Ok(None) };
    let default = super::default_branch(repo).await?;
    to_branch(&mut CatFile::spawn(repo).await?, r, default.as_deref()).await
}

async fn to_branch(cat: &mut CatFile, r: RefLine, default: Option<&str>) -> Result<Option<Branch>> {
    let Some(name) = r.name.strip_prefix("refs/heads/") else { return Ok(None) };
    // A branch pointing at a non-commit is possible (pushed by hand) and is skipped.
    let Some(commit) = load(cat, &r.oid).await? else { return Ok(None) };
    Ok(Some(Branch { default: default == Some(name), name: name.to_owned(), commit }))
}

/// All tags, sorted by name.
pub async fn tags(repo: &Path) -> Result<Vec<Tag>> {
    let mut cat = CatFile::spawn(repo).await?;
    let mut list = Vec::new();
    for r in list_refs(repo, "refs/tags/").await? {
        list.extend(to_tag(&mut cat, r).await?);
    }
    Ok(list)
}

/// One tag by short name (`v1.0`).
pub async fn tag(repo: &Path, name: &str) -> Result<Option<Tag>> {
    let Some(r) = find_ref(repo, &format!("refs/tags/{name}")).await? else { return Ok(None) };
    to_tag(&mut CatFile::spawn(repo).await?, r).await
}

async fn to_tag(cat: &mut CatFile, r: RefLine) -> Result<Option<Tag>> {
    let Some(name) = r.name.strip_prefix("refs/tags/") else { return Ok(None) };
    let (mut message, mut created_at) = (None, None);
    if r.kind == "tag"
        && let Some((_, raw)) = cat.contents(&r.oid, MAX_TAG_SIZE).await?
    {
        let text = String::from_utf8_lossy(&raw);
        let (headers, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        created_at = headers.lines().find_map(|l| l.strip_prefix("tagger ")).map(|t| parse_ident(t).2);
        message = Some(body.to_owned());
    }
    // ^{commit} peels through any chain of tags; tags of trees and blobs have no commit.
    let commit = load(cat, &format!("{}^{{commit}}", r.oid)).await?;
    Ok(Some(Tag { name: name.to_owned(), target: r.oid, message, created_at, commit }))
}
