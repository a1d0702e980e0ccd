//! Names and paths of users, groups and projects: what is valid, what is reserved.
//!
//! A *path* is one URL segment (`my-group`, `api.v2`); a *full path* joins a namespace chain and a
//! project with `/`. Paths are case-preserving but compared case-insensitively by the store, as in
//! GitLab. Because paths become URL segments and hashed disk locations are derived from ids, no path
//! ever reaches the filesystem; the rules here exist for URL sanity and to reject ambiguity.

use thiserror::Error;

/// The longest path segment accepted.
pub const MAX_PATH_LEN: usize = 255;
/// The deepest namespace nesting accepted (GitLab's limit is 20 levels).
pub const MAX_DEPTH: usize = 20;
/// The longest display name accepted.
pub const MAX_NAME_LEN: usize = 255;

/// Top-level paths that would collide with AutoGit's own routes.
const RESERVED_TOP_LEVEL: &[&str] = &[
    "-",
    ".well-known",
    "admin",
    "api",
    "assets",
    "dashboard",
    "explore",
    "favicon.ico",
    "groups",
    "health",
    "help",
    "login",
    "logout",
    "metrics",
    "oauth",
    "profile",
    "projects",
    "public",
    "readiness",
    "robots.txt",
    "runners",
    "search",
    "sign_in",
    "sign_up",
    "uploads",
    "users",
];

/// Project paths that would collide with routes below a project.
const RESERVED_PROJECT: &[&str] = &["-", "info", "git-upload-pack", "git-receive-pack", "objects", "HEAD"];

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("{what} can't be blank")]
    Empty { what: &'static str },
    #[error("{what} is too long (maximum is {max} characters)")]
    TooLong { what: &'static str, max: usize },
    #[error(
        "{what} '{value}' is invalid: it can contain only letters, digits, '_', '-' and '.', must start with a letter, digit or '_', and cannot end in '.', '.git' or '.atom' or contain consecutive special characters"
    )]
    Invalid { what: &'static str, value: String },
    #[error("{what} '{value}' is reserved")]
    Reserved { what: &'static str, value: String },
    #[error("namespace nesting is too deep (maximum is {MAX_DEPTH} levels)")]
    TooDeep,
}

fn is_special(c: char) -> bool {
    matches!(c, '_' | '-' | '.')
}

/// Validates one path segment (username, group path or project path).
pub fn validate_path(what: &'static str, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { what });
    }
    if value.len() > MAX_PATH_LEN {
        return Err(NameError::TooLong { what, max: MAX_PATH_LEN });
    }
    let invalid = || NameError::Invalid { what, value: value.to_string() };
    let mut chars = value.chars();
    let first = chars.next().ok_or_else(invalid)?;
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Err(invalid());
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || is_special(c)) {
        return Err(invalid());
    }
    let lower = value.to_ascii_lowercase();
    if lower.ends_with('.') || lower.ends_with(".git") || lower.ends_with(".atom") {
        return Err(invalid());
    }
    let bytes: Vec<char> = value.chars().collect();
    if bytes.windows(2).any(|w| is_special(w[0]) && is_special(w[1])) {
        return Err(invalid());
    }
    Ok(())
}

/// Validates a path that will sit at the top level (a username or a root group).
pub fn validate_top_level_path(what: &'static str, value: &str) -> Result<(), NameError> {
    validate_path(what, value)?;
    if RESERVED_TOP_LEVEL.iter().any(|r| r.eq_ignore_ascii_case(value)) {
        return Err(NameError::Reserved { what, value: value.to_string() });
    }
    Ok(())
}

/// Validates a project path.
pub fn validate_project_path(value: &str) -> Result<(), NameError> {
    validate_path("project path", value)?;
    if RESERVED_PROJECT.iter().any(|r| r.eq_ignore_ascii_case(value)) {
        return Err(NameError::Reserved { what: "project path", value: value.to_string() });
    }
    Ok(())
}

/// Validates a display name (project, group or user name): printable, no control characters,
/// starting with a letter, digit or '_'.
pub fn validate_display_name(what: &'static str, value: &str) -> Result<(), NameError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(NameError::Empty { what });
    }
    if value.chars().count() > MAX_NAME_LEN {
        return Err(NameError::TooLong { what, max: MAX_NAME_LEN });
    }
    let first = trimmed.chars().next().unwrap_or(' ');
    if !(first.is_alphanumeric() || first == '_') || value.chars().any(char::is_control) {
        return Err(NameError::Invalid { what, value: value.to_string() });
    }
    Ok(())
}

/// Derives a path from a display name, as GitLab does when only `name` is given:
/// lower-case, runs of other characters become one '-', no leading or trailing special characters.
pub fn path_from_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if c == '.' && !out.ends_with(is_special) && !out.is_empty() {
            out.push('.');
        } else if !out.ends_with(is_special) && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with(is_special) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in ["a", "my-group", "my_group", "Project.v2", "_x", "a1-b2.c3_d4"] {
            assert_eq!(validate_path("path", p), Ok(()), "{p}");
        }
    }

    #[test]
    fn invalid_paths() {
        for p in [
            "", "-a", ".a", "a.", "a.git", "A.GIT", "x.atom", "a..b", "a-.b", "a/b", "a b", "..", "%2e%2e", "é", "a\0b",
        ] {
            assert!(validate_path("path", p).is_err(), "{p:?} should be rejected");
        }
        assert!(validate_path("path", &"a".repeat(256)).is_err());
    }

    #[test]
    fn reserved() {
        assert!(matches!(validate_top_level_path("group path", "API"), Err(NameError::Reserved { .. })));
        assert!(validate_top_level_path("group path", "apis").is_ok());
        assert!(matches!(validate_project_path("info"), Err(NameError::Reserved { .. })));
    }

    #[test]
    fn display_names() {
        assert!(validate_display_name("name", "My Project (v2)").is_ok());
        assert!(validate_display_name("name", "   ").is_err());
        assert!(validate_display_name("name", "-x").is_err());
        assert!(validate_display_name("name", "a\nb").is_err());
    }

    #[test]
    fn derived_paths() {
        assert_eq!(path_from_name("My Project"), "my-project");
        assert_eq!(path_from_name("  Hello, World!  "), "hello-world");
        assert_eq!(path_from_name("v1.2 release"), "v1.2-release");
        assert_eq!(path_from_name("!!!"), "");
    }
}
