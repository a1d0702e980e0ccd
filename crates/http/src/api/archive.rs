//! `GET /projects/:id/repository/archive[.format]` (`sha` or the default branch, `path`):
//! `git archive` of one commit streamed to the client as `tar.gz` (the default), `tar` or `zip`,
//! below a top directory `<project>-<ref>-<sha>` as GitLab names it.

use super::repository::git_err;
use super::{Caller, Handler};
use crate::error::{ApiError, bad_param};
use crate::params::Params;
use crate::state::AppState;
use autogit_app::{AppError, check_revision};
use autogit_git::read::{self, ArchiveFormat};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use tokio_util::io::ReaderStream;

/// The handler of `/projects/:id/repository/{segment}` for segments that are not other
/// repository routes: `archive` or `archive.<format>`; anything else is the API's 404.
pub(super) async fn archive(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, segment)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let format = match segment.strip_prefix("archive") {
        Some("") => ArchiveFormat::TarGz,
        Some(ext) => match ext.strip_prefix('.').and_then(ArchiveFormat::parse) {
            Some(f) => f,
            None => {
                return Err(bad_param(
                    "format",
                    format!(
                        "{:?} is not one of tar.gz, tgz, gz, tar, zip",
                        ext.trim_start_matches('.').chars().take(20).collect::<String>()
                    ),
                ));
            }
        },
        None => return Err(ApiError(AppError::NotFound("Page"))),
    };
    let (project, repo) = s.app.readable_repository(&who, &id).await?;
    let rev = match p.str("sha")?.filter(|v| !v.is_empty()) {
        Some(r) => r,
        None => read::default_branch(&repo).await.map_err(git_err)?.ok_or(ApiError(AppError::NotFound("Commit")))?,
    };
    check_revision("sha", &rev)?;
    let commit = read::resolve(&repo, &rev).await.map_err(git_err)?.ok_or(ApiError(AppError::NotFound("Commit")))?;
    let safe_ref: String =
        rev.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    let name = format!("{}-{safe_ref}-{commit}", project.path);
    let path = p.str("path")?.filter(|v| !v.is_empty());
    let out = read::archive(&repo, &commit, format, &name, path.as_deref()).await.map_err(git_err)?;
    // The stream owns the child, so git stops when the client goes away.
    let child = out.child;
    let body = futures_util::stream::unfold((ReaderStream::new(out.stdout), child), |(mut stream, child)| async move {
        use futures_util::StreamExt;
        stream.next().await.map(|chunk| (chunk, (stream, child)))
    });
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.{}\"", format.extension())),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
