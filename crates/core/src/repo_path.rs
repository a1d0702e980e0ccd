//! Parsing of the request paths AutoGit resolves itself: git smart-HTTP URLs and API project/group
//! references. These take untrusted input, so they accept only the path alphabet of [`crate::name`]
//! and reject everything else (percent-escapes, `.`/`..` segments, empty segments, over-deep paths)
//! instead of trying to normalise it. A fuzz target drives [`parse_git_path`] and [`parse_ref`].

use crate::name::{self, MAX_DEPTH, NameError};
use thiserror::Error;

/// The git smart-HTTP endpoint a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitEndpoint {
    /// `GET …/info/refs?service=…`
    InfoRefs,
    /// `POST …/git-upload-pack`
    UploadPack,
    /// `POST …/git-receive-pack`
    ReceivePack,
}

/// A parsed git URL: which project (by full path, `.git` removed) and which endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitPath {
    pub namespace: String,
    pub project: String,
    pub endpoint: GitEndpoint,
}

impl GitPath {
    pub fn full_path(&self) -> String {
        format!("{}/{}", self.namespace, self.project)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("not a git endpoint")]
    NotGit,
    #[error("the path contains an empty, '.' or '..' segment")]
    Traversal,
    #[error(transparent)]
    Name(#[from] NameError),
}

/// Splits a full path (`a/b/c`) into validated segments.
pub fn split_full_path(path: &str) -> Result<Vec<&str>, PathError> {
    let segments: Vec<&str> = path.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(PathError::Traversal);
    }
    if segments.len() > MAX_DEPTH + 1 {
        return Err(NameError::TooDeep.into());
    }
    for s in &segments {
        name::validate_path("path", s)?;
    }
    Ok(segments)
}

/// Parses the URL path of a git smart-HTTP request, e.g. `/group/sub/project.git/info/refs`.
/// The `.git` suffix is optional, as with GitLab. Percent-escapes are rejected outright because
/// no valid path needs one.
pub fn parse_git_path(url_path: &str) -> Result<GitPath, PathError> {
    let rest = url_path.strip_prefix('/').ok_or(PathError::NotGit)?;
    let (repo, endpoint) = if let Some(r) = rest.strip_suffix("/info/refs") {
        (r, GitEndpoint::InfoRefs)
    } else if let Some(r) = rest.strip_suffix("/git-upload-pack") {
        (r, GitEndpoint::UploadPack)
    } else if let Some(r) = rest.strip_suffix("/git-receive-pack") {
        (r, GitEndpoint::ReceivePack)
    } else {
        return Err(PathError::NotGit);
    };
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let segments = split_full_path(repo)?;
    if segments.len() < 2 {
        return Err(PathError::NotGit);
    }
    let (project, ns) = segments.split_last().ok_or(PathError::NotGit)?;
    Ok(GitPath { namespace: ns.join("/"), project: project.to_string(), endpoint })
}

/// An API reference to a project or group: `:id` is a number or a (decoded) full path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Id(i64),
    Path(String),
}

/// Parses an already percent-decoded `:id` path parameter.
pub fn parse_ref(raw: &str) -> Result<Ref, PathError> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().map(Ref::Id).map_err(|_| PathError::Traversal);
    }
    split_full_path(raw)?;
    Ok(Ref::Path(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_paths() {
        let p = parse_git_path("/grp/sub/proj.git/info/refs").expect("valid");
        assert_eq!((p.namespace.as_str(), p.project.as_str(), p.endpoint), ("grp/sub", "proj", GitEndpoint::InfoRefs));
        let p = parse_git_path("/alice/proj/git-receive-pack").expect("valid without .git");
        assert_eq!((p.full_path().as_str(), p.endpoint), ("alice/proj", GitEndpoint::ReceivePack));
    }

    #[test]
    fn git_paths_rejected() {
        for bad in [
            "/proj.git/info/refs",
            "/../etc/passwd.git/info/refs",
            "/a/../b.git/info/refs",
            "/a/%2e%2e/b.git/info/refs",
            "/a/%2E%2E%2Fb.git/git-upload-pack",
            "/a//b.git/info/refs",
            "/a/./b.git/info/refs",
            "/a/b.git/objects/info/packs",
            "a/b.git/info/refs",
            "/a\\..\\b/c.git/info/refs",
        ] {
            assert!(parse_git_path(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn refs() {
        assert_eq!(parse_ref("42"), Ok(Ref::Id(42)));
        assert_eq!(parse_ref("g/p"), Ok(Ref::Path("g/p".into())));
        assert!(parse_ref("99999999999999999999999").is_err());
        assert!(parse_ref("g/../p").is_err());
        assert!(parse_ref("").is_err());
        let deep = vec!["a"; 30].join("/");
        assert_eq!(parse_ref(&deep), Err(PathError::Name(NameError::TooDeep)));
    }

    fn no_traversal(path: &str) -> bool {
        path.split('/').all(|s| !s.is_empty() && s != "." && s != "..") && !path.contains(['%', '\\', '\0'])
    }

    proptest::proptest! {
        /// The same property the `request_path` fuzz target checks, run on every `cargo test`:
        /// never panic, and accept nothing that could step outside a namespace.
        #[test]
        fn accepted_paths_never_traverse(s in "(/|[a-z]{1,3}|\\.|\\.\\.|%2e|%2F|\\.git|info/refs|git-upload-pack|\\\\){0,12}") {
            if let Ok(p) = parse_git_path(&s) {
                proptest::prop_assert!(no_traversal(&p.full_path()), "accepted {s:?}");
            }
            if let Ok(Ref::Path(p)) = parse_ref(&s) {
                proptest::prop_assert!(no_traversal(&p), "accepted {s:?}");
            }
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
            let _ = parse_git_path(&s);
            let _ = parse_ref(&s);
        }
    }
}
