//! A job's artifacts archive in the browser, at GitLab's addresses:
//! `/-/jobs/<id>/artifacts/browse[/<dir>]` lists one directory of it and
//! `/-/jobs/<id>/artifacts/raw/<path>` serves one file the way the repository's raw view does
//! (text as `text/plain`, images by type, anything else as a download; sandboxed). The archive
//! itself is read by the app's use-cases, with the same access rule as its download.

use super::Proj;
use super::code::{is_text, untrusted_file_headers};
use crate::state::AppState;
use crate::web::filters::{path as url_path, size};
use crate::web::ui::val;
use crate::web::{Browser, Page};
use autogit_app::AppError;
use autogit_app::ci::{ArchiveEntry, EntryKind};
use autogit_core::JobId;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use minijinja::context;
use serde::Serialize;
use std::collections::BTreeMap;

/// A directory shows at most this many entries (an archive of a build tree can hold more).
const MAX_SHOWN: usize = 1000;
/// Files up to this size are read whole to decide whether they are text; larger ones download.
const MAX_INLINE: u64 = 10 * 1024 * 1024;

#[derive(Serialize, Debug, PartialEq, Eq)]
pub(super) struct Row {
    name: String,
    /// `tree`, `blob` or `symlink`.
    kind: &'static str,
    size: Option<String>,
    href: Option<String>,
}

/// The entries directly inside `dir` ("" for the top), directories first, each sorted by name;
/// `None` when the archive holds nothing at or under `dir`. Directories that the archive only
/// implies (a file `a/b/c` without entries `a/` and `a/b/`) are listed too.
pub(super) fn children(entries: &[ArchiveEntry], dir: &str, job_base: &str) -> Option<Vec<Row>> {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let mut dirs = BTreeMap::new();
    let mut files = BTreeMap::new();
    let mut exists = dir.is_empty();
    for e in entries {
        if e.path == dir && e.kind == EntryKind::Directory {
            exists = true;
            continue;
        }
        let Some(rest) = e.path.strip_prefix(&prefix) else { continue };
        exists = true;
        match rest.split_once('/') {
            Some((first, _)) => {
                dirs.insert(first.to_string(), ());
            }
            None if e.kind == EntryKind::Directory => {
                dirs.insert(rest.to_string(), ());
            }
            None => {
                files.insert(rest.to_string(), e);
            }
        }
    }
    if !exists {
        return None;
    }
    let dir_rows = dirs.into_keys().map(|name| Row {
        href: Some(format!("{job_base}/artifacts/browse/{}", url_path(&format!("{prefix}{name}")))),
        name,
        kind: "tree",
        size: None,
    });
    let file_rows = files.into_iter().map(|(name, e)| Row {
        href: (e.kind == EntryKind::File).then(|| format!("{job_base}/artifacts/raw/{}", url_path(&e.path))),
        kind: if e.kind == EntryKind::Symlink { "symlink" } else { "blob" },
        size: Some(size(i64::try_from(e.size).unwrap_or(i64::MAX))),
        name,
    });
    Some(dir_rows.chain(file_rows).collect())
}

/// `/-/jobs/<id>/artifacts/browse[/<dir>]`.
pub(super) async fn browse(s: &AppState, browser: &Browser, p: &Proj, id: JobId, job_base: &str, dir: &str) -> Page {
    let project_ref = p.project.id.to_string();
    let (_, job) = match s.app.get_job(&p.who, &project_ref, id).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let entries = match s.app.job_artifact_entries(&p.who, &project_ref, id).await {
        Ok(e) => e,
        Err(e) => return Page::error(e),
    };
    let dir = dir.trim_matches('/');
    let Some(mut rows) = children(&entries, dir, job_base) else {
        return Page::error(AppError::NotFound("Directory"));
    };
    let cut = rows.len() > MAX_SHOWN;
    rows.truncate(MAX_SHOWN);
    let mut crumbs = Vec::new();
    let mut so_far = String::new();
    for part in dir.split('/').filter(|x| !x.is_empty()) {
        so_far = if so_far.is_empty() { part.to_string() } else { format!("{so_far}/{part}") };
        crumbs.push(context! { name => part, href => format!("{job_base}/artifacts/browse/{}", url_path(&so_far)) });
    }
    let parent = (!dir.is_empty()).then(|| match dir.rsplit_once('/') {
        Some((up, _)) => format!("{job_base}/artifacts/browse/{}", url_path(up)),
        None => format!("{job_base}/artifacts/browse"),
    });
    let ctx = context! {
        ..p.ctx(browser, &format!("Artifacts of {}", job.name), "pipelines"),
        ..context! {
            job => context! { id => job.id.get(), name => job.name.clone(), href => job_base },
            rows => val(&rows), crumbs => crumbs, parent => parent, cut => cut, total => entries.len(),
        }
    };
    Page::render(StatusCode::OK, "job_artifacts.html", ctx)
}

/// `/-/jobs/<id>/artifacts/raw/<path>`: one file of the archive, never run as this site's page.
pub(super) async fn raw(s: &AppState, p: &Proj, id: JobId, path: &str, download: bool) -> Response {
    let file = match s.app.job_artifact_file(&p.who, &p.project.id.to_string(), id, path).await {
        Ok(f) => f,
        Err(e) => return Page::error(e).into_response(),
    };
    let length = file.size;
    let (body, text) = if length <= MAX_INLINE {
        let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        let mut stream = file.body;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => bytes.extend_from_slice(&c),
                Err(e) => return Page::error(AppError::Internal(format!("artifact entry: {e}"))).into_response(),
            }
        }
        let text = is_text(&bytes);
        (Body::from(bytes), text)
    } else {
        (Body::from_stream(file.body), false)
    };
    let mut r = body.into_response();
    untrusted_file_headers(r.headers_mut(), &file.path, text, download);
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind, size: u64) -> ArchiveEntry {
        ArchiveEntry { path: path.into(), kind, size }
    }

    #[test]
    fn a_directory_lists_its_children_with_implied_directories_first() {
        let entries = vec![
            entry("report.txt", EntryKind::File, 10),
            entry("dist/app.js", EntryKind::File, 2048),
            entry("dist/css/site.css", EntryKind::File, 5),
            entry("empty", EntryKind::Directory, 0),
            entry("latest", EntryKind::Symlink, 6),
        ];
        let top = children(&entries, "", "/g/p/-/jobs/1").expect("top");
        let names: Vec<_> = top.iter().map(|r| (r.name.as_str(), r.kind)).collect();
        assert_eq!(names, [("dist", "tree"), ("empty", "tree"), ("latest", "symlink"), ("report.txt", "blob")]);
        assert_eq!(top[0].href.as_deref(), Some("/g/p/-/jobs/1/artifacts/browse/dist"));
        assert_eq!(top[3].href.as_deref(), Some("/g/p/-/jobs/1/artifacts/raw/report.txt"));
        assert_eq!(top[2].href, None, "a link's target is not served");

        let dist = children(&entries, "dist", "/j").expect("dist");
        assert_eq!(dist.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["css", "app.js"]);
        assert_eq!(dist[1].size.as_deref(), Some("2.0 KiB"));
        assert_eq!(children(&entries, "empty", "/j"), Some(vec![]), "an empty directory exists");
        assert_eq!(children(&entries, "missing", "/j"), None);
        assert_eq!(children(&entries, "dis", "/j"), None, "a prefix of a name is not a directory");
    }

    #[test]
    fn names_are_escaped_in_addresses() {
        let entries = vec![entry("a b/#x?.txt", EntryKind::File, 1)];
        let inner = children(&entries, "a b", "/j").expect("dir");
        assert_eq!(inner[0].href.as_deref(), Some("/j/artifacts/raw/a%20b/%23x%3F.txt"));
    }
}
