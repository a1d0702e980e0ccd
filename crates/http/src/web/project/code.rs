//! The code pages: project home (README and clone addresses), tree, file view and raw files.

use super::{Params, Proj, split_ref};
use crate::state::AppState;
use crate::web::filters::path as url_path;
use crate::web::ui::{highlighter, val};
use crate::web::{Browser, Page};
use autogit_app::AppError;
use autogit_git::read::{self, CommitInfo, EntryKind, TreeEntry};
use autogit_render::markdown;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// Entries a tree page lists.
const MAX_ENTRIES: usize = 1000;
/// Commits of history the last-commit walk of a tree page reads at most.
const LAST_COMMIT_WALK: usize = 10_000;
/// Last-commit answers kept (a commit id never changes, so an answer never goes stale).
const CACHE_ENTRIES: usize = 512;

type LastCommits = Arc<HashMap<String, CommitInfo>>;
/// (project id, commit id, directory) of a tree page.
type TreeKey = (i64, String, String);
static LAST_COMMITS: LazyLock<Mutex<HashMap<TreeKey, LastCommits>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The project's home: its description, clone addresses, the root of the default branch and
/// the README.
pub(super) async fn home(s: &AppState, browser: &Browser, p: &Proj) -> Page {
    let base = &s.config.external_url;
    let clone = context! {
        https => format!("{base}/{}.git", p.project.full_path),
        ssh => s.config.ssh_clone_base.as_ref().map(|b| format!("{b}{}.git", p.project.full_path)),
    };
    let mut ctx = vec![("clone", clone)];
    if !p.may_read_code() {
        let page =
            context! { ..p.ctx(browser, "Project", "code"), ..context! { clone => ctx.remove(0).1, empty => true } };
        return Page::render(StatusCode::OK, "project.html", page);
    }
    let repo = match s.app.readable_repository(&p.who, &p.project.full_path).await {
        Ok((_, repo)) => repo,
        Err(e) => return Page::error(e),
    };
    let refname = match read::default_branch(&repo).await {
        Ok(Some(b)) => b,
        Ok(None) => p.project.default_branch.clone().unwrap_or_else(|| "main".into()),
        Err(e) => return Page::error(e.into()),
    };
    let listing = match listing(s, p, &repo, &refname, "").await {
        Ok(Some(l)) => l,
        Ok(None) => {
            let page = context! { ..p.ctx(browser, "Project", "code"), ..context! { clone => ctx.remove(0).1, empty => true } };
            return Page::render(StatusCode::OK, "project.html", page);
        }
        Err(e) => return Page::error(e),
    };
    let readme = listing.entries.iter().find(|e| e.kind == "blob" && is_readme(&e.name)).map(|e| e.name.clone());
    let mut readme_html = None;
    if let Some(name) = &readme
        && let Ok(Some(f)) = read::file(&repo, &refname, name).await
    {
        let text = String::from_utf8_lossy(&f.content).into_owned();
        let links = markdown::Links {
            blob_base: format!("{}/-/blob/{}/", p.base, url_path(&refname)),
            raw_base: format!("{}/-/raw/{}/", p.base, url_path(&refname)),
        };
        let markdown = name.to_ascii_lowercase().ends_with(".md") || name.to_ascii_lowercase().ends_with(".markdown");
        readme_html = Some(if markdown {
            tokio::task::spawn_blocking(move || markdown::to_html(&text, &links)).await.unwrap_or_default()
        } else {
            format!("<pre>{}</pre>", autogit_render::escape::html(&text))
        });
    }
    let page = context! {
        ..p.ctx(browser, &p.project.name, "code"),
        ..context! {
            clone => ctx.remove(0).1, ref_name => refname.clone(), readme_name => readme.clone(), readme_html => readme_html,
            ..listing.into_ctx()
        }
    };
    Page::render(StatusCode::OK, "project.html", page)
}

fn is_readme(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "readme" || n.starts_with("readme.")
}

/// `/-/tree/<ref>/<path>`.
pub(super) async fn tree(s: &AppState, browser: &Browser, p: &Proj, tail: &str) -> Page {
    let (repo, refname, path) = match locate(s, p, tail).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    match listing(s, p, &repo, &refname, &path).await {
        Ok(Some(l)) => {
            let title = if path.is_empty() { "Files".to_string() } else { path.clone() };
            let page = context! { ..p.ctx(browser, &title, "code"), ..context! { ref_name => refname.clone(), ..l.into_ctx() } };
            Page::render(StatusCode::OK, "tree.html", page)
        }
        Ok(None) => Page::error(AppError::NotFound("Tree")),
        Err(e) => Page::error(e),
    }
}

/// The repository, and `<ref>/<path>` split at the ref.
async fn locate(s: &AppState, p: &Proj, tail: &str) -> Result<(PathBuf, String, String), AppError> {
    let (_, repo) = s.app.readable_repository(&p.who, &p.project.full_path).await?;
    let names = read::ref_names(&repo).await?;
    let (r, path) = split_ref(&names, tail).ok_or(AppError::NotFound("Ref"))?;
    autogit_app::check_revision("ref", r)?;
    Ok((repo, r.to_string(), path.to_string()))
}

#[derive(Serialize)]
struct Entry {
    name: String,
    kind: &'static str,
    href: Option<String>,
    commit: Option<CommitView>,
}

/// A commit as pages show it.
#[derive(Serialize, Clone)]
pub(crate) struct CommitView {
    pub id: String,
    pub short_id: String,
    pub title: String,
    pub author_name: String,
    pub authored_date: String,
    pub parent_ids: Vec<String>,
    pub pipeline: Option<PipelineBadge>,
}

#[derive(Serialize, Clone)]
pub(crate) struct PipelineBadge {
    pub status: String,
    pub href: String,
}

pub(crate) fn commit_view(c: &CommitInfo) -> CommitView {
    CommitView {
        id: c.id.clone(),
        short_id: c.short_id.clone(),
        title: c.title.clone(),
        author_name: c.author_name.clone(),
        authored_date: c.authored_date.to_rfc3339(),
        parent_ids: c.parent_ids.clone(),
        pipeline: None,
    }
}

/// The newest pipeline of a commit, as a badge.
pub(crate) async fn pipeline_badge(s: &AppState, p: &Proj, sha: &str) -> Option<PipelineBadge> {
    let filter = autogit_app::store::PipelineFilter { sha: Some(sha.to_string()), ..Default::default() };
    let window = autogit_app::store::Page { offset: 0, limit: 1 };
    let listed = s.app.list_pipelines(&p.who, &p.project.id.to_string(), &filter, window).await.ok()?;
    listed.items.first().map(|pl| PipelineBadge {
        status: pl.status.as_str().to_string(),
        href: format!("{}/-/pipelines/{}", p.base, pl.id),
    })
}

struct Listing {
    entries: Vec<Entry>,
    cut: bool,
    crumbs: Vec<(String, String)>,
    parent: Option<String>,
    last: Option<CommitView>,
}

impl Listing {
    fn into_ctx(self) -> minijinja::Value {
        context! {
            entries => val(&self.entries), entries_cut => self.cut, parent => self.parent,
            crumbs => self.crumbs.iter().map(|(n, h)| context! { name => n, href => h }).collect::<Vec<_>>(),
            last_commit => val(&self.last),
        }
    }
}

/// A directory's entries with their last commits; `None` when the ref or path is not a tree.
async fn listing(
    s: &AppState,
    p: &Proj,
    repo: &FsPath,
    refname: &str,
    path: &str,
) -> Result<Option<Listing>, AppError> {
    let dir = (!path.is_empty()).then_some(path);
    let Some(mut entries) = read::tree(repo, Some(refname), dir, false).await? else { return Ok(None) };
    let Some(commit) = read::resolve(repo, refname).await? else { return Ok(None) };
    // Directories first, then files, each by name (as GitLab lists them).
    entries.sort_by(|a, b| (a.kind != EntryKind::Tree, &a.name).cmp(&(b.kind != EntryKind::Tree, &b.name)));
    let cut = entries.len() > MAX_ENTRIES;
    entries.truncate(MAX_ENTRIES);
    let last = last_commits(p, repo, &commit, path, &entries).await?;
    let r = url_path(refname);
    let rows = entries
        .iter()
        .map(|e| Entry {
            name: e.name.clone(),
            kind: e.kind.as_str(),
            href: match e.kind {
                EntryKind::Tree => Some(format!("{}/-/tree/{r}/{}", p.base, url_path(&e.path))),
                EntryKind::Blob => Some(format!("{}/-/blob/{r}/{}", p.base, url_path(&e.path))),
                EntryKind::Commit => None,
            },
            commit: last.get(&e.name).map(commit_view),
        })
        .collect();
    let mut crumbs = Vec::new();
    let mut so_far = String::new();
    for seg in path.split('/').filter(|x| !x.is_empty()) {
        if !so_far.is_empty() {
            so_far.push('/');
        }
        so_far.push_str(seg);
        crumbs.push((seg.to_string(), format!("{}/-/tree/{r}/{}", p.base, url_path(&so_far))));
    }
    let parent = (!path.is_empty()).then(|| match path.rsplit_once('/') {
        Some((up, _)) => format!("{}/-/tree/{r}/{}", p.base, url_path(up)),
        None => format!("{}/-/tree/{r}", p.base),
    });
    let mut head = read::commit(repo, &commit).await?.map(|c| commit_view(&c));
    if let Some(h) = head.as_mut() {
        h.pipeline = pipeline_badge(s, p, &h.id).await;
    }
    Ok(Some(Listing { entries: rows, cut, crumbs, parent, last: head }))
}

/// Each entry's last commit: one history walk per (commit, directory), remembered.
async fn last_commits(
    p: &Proj,
    repo: &FsPath,
    commit: &str,
    dir: &str,
    entries: &[TreeEntry],
) -> Result<LastCommits, AppError> {
    let key = (p.project.id.get(), commit.to_string(), dir.to_string());
    if let Some(hit) = LAST_COMMITS.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(hit);
    }
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    let found =
        Arc::new(read::last_commits(repo, commit, (!dir.is_empty()).then_some(dir), &names, LAST_COMMIT_WALK).await?);
    if let Ok(mut m) = LAST_COMMITS.lock() {
        if m.len() >= CACHE_ENTRIES {
            m.clear();
        }
        m.insert(key, found.clone());
    }
    Ok(found)
}

/// Highlighted files kept, in bytes of HTML: a blob's id names its content, so an answer is
/// never stale, and a file read again (the common case: a link followed, a line range shared)
/// is not parsed again.
const HIGHLIGHT_CACHE_BYTES: usize = 8 << 20;

struct Highlighted {
    lines: Vec<String>,
    bytes: usize,
    /// The grammar's name; `None` for plain text.
    language: Option<String>,
    /// False for plain lines kept in place of a highlighting too large to keep.
    highlighted: bool,
}

type HighlightCache = Vec<((String, String), Arc<Highlighted>)>;
static HIGHLIGHTS: LazyLock<Mutex<HighlightCache>> = LazyLock::new(|| Mutex::new(Vec::new()));
/// Files being highlighted now, so that a second view during the work does not start it again.
static HIGHLIGHTING: LazyLock<Mutex<HashSet<(String, String)>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// How long a page waits for a file's first highlighting. A dense file of a few thousand lines
/// takes hundreds of milliseconds (the grammar's first load adds more); past this budget the page
/// shows the lines plain and the work goes on in the background, so the next view is highlighted.
/// GitLab does the same with a longer foreground timeout.
const HIGHLIGHT_BUDGET: Duration = Duration::from_millis(25);

/// The file's lines as HTML and whether they are highlighted yet (`false`: plain, the
/// highlighting took longer than `budget` and is kept when done).
async fn highlighted(blob_id: &str, path: &str, text: String, budget: Duration) -> (Arc<Highlighted>, bool) {
    let ext = path.rsplit('/').next().unwrap_or(path).to_string();
    let key = (blob_id.to_string(), ext);
    if let Some(hit) = cached_highlight(&key) {
        return (hit, true);
    }
    let started = HIGHLIGHTING.lock().map(|mut busy| busy.insert(key.clone())).unwrap_or(false);
    if !started {
        return (plain(&text), false);
    }
    let (path, plain_text) = (path.to_string(), text.clone());
    // The grammars load on the first use, on this blocking thread too.
    let work = tokio::task::spawn_blocking(move || {
        let language = highlighter().language(&path, &text).map(str::to_string);
        let lines = highlighter().lines(&path, &text);
        let bytes = lines.iter().map(String::len).sum();
        let mut value = Arc::new(Highlighted { lines, bytes, language, highlighted: true });
        // A highlighting too large to keep is replaced by the plain lines, which are kept:
        // otherwise every view would be plain and start the same work again.
        if bytes > HIGHLIGHT_CACHE_BYTES / 2 {
            value = plain(&text);
        }
        if value.bytes <= HIGHLIGHT_CACHE_BYTES / 2
            && let Ok(mut cache) = HIGHLIGHTS.lock()
        {
            cache.push((key.clone(), value.clone()));
            while cache.iter().map(|(_, v)| v.bytes).sum::<usize>() > HIGHLIGHT_CACHE_BYTES {
                cache.remove(0);
            }
        }
        if let Ok(mut busy) = HIGHLIGHTING.lock() {
            busy.remove(&key);
        }
        value
    });
    match tokio::time::timeout(budget, work).await {
        Ok(Ok(value)) => (value, true),
        // Past the budget (the task goes on and fills the cache) or a failed task.
        _ => (plain(&plain_text), false),
    }
}

/// A kept highlighting of `key`, now the most recently used.
fn cached_highlight(key: &(String, String)) -> Option<Arc<Highlighted>> {
    let mut cache = HIGHLIGHTS.lock().ok()?;
    let i = cache.iter().position(|(k, _)| k == key)?;
    let hit = cache.remove(i);
    let value = hit.1.clone();
    cache.push(hit);
    Some(value)
}

fn plain(text: &str) -> Arc<Highlighted> {
    let lines = autogit_render::highlight::plain_lines(text);
    let bytes = lines.iter().map(String::len).sum();
    Arc::new(Highlighted { lines, bytes, language: None, highlighted: false })
}

#[derive(Serialize)]
struct FileView {
    name: String,
    path: String,
    size: u64,
    lines: usize,
    language: Option<String>,
    binary: bool,
    too_large: bool,
    plain_reason: Option<String>,
}

/// Whether bytes are shown as text: valid UTF-8 without NUL in the first 8 KiB.
pub(super) fn is_text(bytes: &[u8]) -> bool {
    !bytes[..bytes.len().min(8000)].contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// `/-/blob/<ref>/<path>`: a file, highlighted, with line anchors.
pub(super) async fn blob(s: &AppState, browser: &Browser, p: &Proj, tail: &str) -> Page {
    let (repo, refname, path) = match locate(s, p, tail).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    let mut view = FileView {
        name: name.clone(),
        path: path.clone(),
        size: 0,
        lines: 0,
        language: None,
        binary: false,
        too_large: false,
        plain_reason: None,
    };
    let mut lines = Vec::new();
    match read::file(&repo, &refname, &path).await {
        Ok(Some(f)) => {
            view.size = f.size;
            if !is_text(&f.content) {
                view.binary = true;
            } else {
                let text = String::from_utf8_lossy(&f.content).into_owned();
                let (html, ready) = highlighted(&f.blob_id, &path, text.clone(), HIGHLIGHT_BUDGET).await;
                view.language = html.language.clone();
                view.lines = html.lines.len();
                if ready && !html.highlighted
                    || text.len() > autogit_render::highlight::MAX_BYTES
                    || html.lines.len() > autogit_render::highlight::MAX_LINES
                {
                    view.plain_reason = Some("The file is too large to highlight; it is shown as plain text.".into());
                } else if !ready {
                    view.plain_reason =
                        Some("Highlighting this file is still in progress; reload to see it highlighted.".into());
                }
                lines = html.lines.clone();
            }
        }
        Ok(None) => return Page::error(AppError::NotFound("File")),
        Err(autogit_git::Error::TooLarge { size, .. }) => {
            view.size = size;
            view.too_large = true;
        }
        Err(e) => return Page::error(e.into()),
    }
    let crumbs: Vec<_> = crumbs_of(p, &refname, &path);
    let page = context! {
        ..p.ctx(browser, &name, "code"),
        ..context! { ref_name => refname.clone(), file => val(&view), lines_html => lines, crumbs => crumbs }
    };
    Page::render(StatusCode::OK, "blob.html", page)
}

fn crumbs_of(p: &Proj, refname: &str, path: &str) -> Vec<minijinja::Value> {
    let r = url_path(refname);
    let segs: Vec<&str> = path.split('/').filter(|x| !x.is_empty()).collect();
    let mut out = Vec::new();
    for i in 0..segs.len() {
        let so_far = segs[..=i].join("/");
        let kind = if i + 1 == segs.len() { "blob" } else { "tree" };
        out.push(context! { name => segs[i], href => format!("{}/-/{kind}/{r}/{}", p.base, url_path(&so_far)) });
    }
    out
}

/// `/-/raw/<ref>/<path>`: the bytes, never run by the browser as this site's page: text as
/// `text/plain`, images by their type, anything else as a download; `nosniff` and a sandbox
/// policy on every answer. `?inline=false` always downloads.
pub(super) async fn raw(s: &AppState, p: &Proj, tail: &str, q: &Params) -> Response {
    let (repo, refname, path) = match locate(s, p, tail).await {
        Ok(x) => x,
        Err(e) => return Page::error(e).into_response(),
    };
    let f = match read::file(&repo, &refname, &path).await {
        Ok(Some(f)) => f,
        Ok(None) => return Page::error(AppError::NotFound("File")).into_response(),
        Err(e) => return Page::error(e.into()).into_response(),
    };
    let download = q.get("inline").is_some_and(|v| v == "false");
    let text = is_text(&f.content);
    let mut r = f.content.into_response();
    untrusted_file_headers(r.headers_mut(), &f.file_name, text, download);
    r
}

/// The headers of a file a user put somewhere (a repository, an artifacts archive) served at
/// this site's origin, so that no browser runs it as the site's own page: text as `text/plain`,
/// images by their type, anything else (or with `download`) as an attachment; `nosniff`, a
/// sandbox policy and no framing on every answer.
pub(super) fn untrusted_file_headers(h: &mut HeaderMap, file_name: &str, text: bool, download: bool) {
    let lower = file_name.to_ascii_lowercase();
    let image = [
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("ico", "image/x-icon"),
    ]
    .iter()
    .find(|(ext, _)| lower.ends_with(&format!(".{ext}")))
    .map(|(_, t)| *t);
    let (kind, attach) = match (image, text) {
        (Some(t), _) => (t, download),
        (None, true) => ("text/plain; charset=utf-8", download),
        (None, false) => ("application/octet-stream", true),
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if attach {
        let base = file_name.rsplit('/').next().unwrap_or(file_name);
        let safe: String =
            base.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
        let value = format!("attachment; filename=\"{safe}\"; filename*=UTF-8''{}", url_path(base));
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_first_highlighting_shows_plain_lines_then_the_kept_result() {
        let text: String = (0..400).map(|i| format!("fn f{i}() -> u32 {{ let x = \"<{i}>\"; {i} }}\n")).collect();
        // No time at all: the page gets the lines plain (escaped) and the work goes on.
        let (first, ready) = highlighted("blob-budget-test", "src/lib.rs", text.clone(), Duration::ZERO).await;
        assert!(!ready);
        assert_eq!(first.lines.len(), 400);
        assert!(first.lines[0].contains("&lt;0&gt;") && !first.lines[0].contains("<span"), "{}", first.lines[0]);
        // Once done it is kept: a later view is highlighted at once, whatever the budget.
        let mut done = None;
        for _ in 0..600 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (h, ready) = highlighted("blob-budget-test", "src/lib.rs", text.clone(), Duration::ZERO).await;
            if ready {
                done = Some(h);
                break;
            }
        }
        let done = done.expect("highlighting finished in the background");
        assert!(done.lines[0].contains("<span class=\"h"), "{}", done.lines[0]);
        assert_eq!(done.language.as_deref(), Some("Rust"));
        assert!(HIGHLIGHTING.lock().is_ok_and(|busy| busy.is_empty()), "nothing left marked as running");
    }
}
