//! Artifact downloads as HTTP: the `Range` header of a request (one byte range; anything else
//! is ignored and the whole artifact served, as RFC 9110 allows) and the answer for an app's
//! [`ArtifactDownload`]: `200` with all of it, or `206` with `Content-Range`. A range outside the
//! artifact is the app's `RangeNotSatisfiable`, a `416` (see `error.rs`).

use autogit_app::ci::{ArchiveFile, ArtifactDownload, RangeRequest};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The one byte range a request asks for, if it asks for exactly one in a form we know.
pub(crate) fn range_of(headers: &HeaderMap) -> Option<RangeRequest> {
    let spec = headers.get(header::RANGE)?.to_str().ok()?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => Some(RangeRequest::Last(number(end)?)),
        (false, true) => Some(RangeRequest::From(number(start)?)),
        (false, false) => Some(RangeRequest::FromTo(number(start)?, number(end)?)),
        (true, true) => None,
    }
}

/// Streams the artifact (or the part asked for) out of the blob store.
pub(crate) fn respond(download: ArtifactDownload) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", download.filename.replace(['"', '\\', '\r', '\n'], "_"));
    let content_type = download.content_type.unwrap_or("application/octet-stream");
    let (status, length) = match &download.range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, download.size),
    };
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::ACCEPT_RANGES, "bytes".to_string()),
        ],
        Body::from_stream(download.body),
    )
        .into_response();
    if let Some(r) = &download.range
        && let Ok(value) = format!("bytes {}-{}/{}", r.start, r.end - 1, download.size).parse()
    {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

/// One file of an artifacts archive, as a download: its bytes are whatever the job wrote, so
/// they are never offered to the browser as a page of this site.
pub(crate) fn respond_entry(file: ArchiveFile) -> Response {
    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    let disposition = format!("attachment; filename=\"{}\"", name.replace(['"', '\\', '\r', '\n'], "_"));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, file.size.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        Body::from_stream(file.body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(value: &str) -> Option<RangeRequest> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, value.parse().expect("header value"));
        range_of(&headers)
    }

    #[test]
    fn one_byte_range_is_understood_and_anything_else_ignored() {
        assert_eq!(asked("bytes=0-99"), Some(RangeRequest::FromTo(0, 99)));
        assert_eq!(asked("bytes=100-"), Some(RangeRequest::From(100)));
        assert_eq!(asked("bytes=-20"), Some(RangeRequest::Last(20)));
        for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=a-b", "bytes=1"] {
            assert_eq!(asked(ignored), None, "{ignored}");
        }
        assert_eq!(range_of(&HeaderMap::new()), None);
    }
}
