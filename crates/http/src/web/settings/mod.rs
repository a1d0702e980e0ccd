//! The settings sections groups and projects share (`variables`, `members`: each a list with
//! forms to add, change and remove), and a group's settings pages (`group`):
//! `/groups/<path>/-/settings/ci_cd` and `/groups/<path>/-/group_members`.
//!
//! # Addresses
//! GitLab's: the group page's wildcard route (`explore.rs`) hands a path with `/-/` to [`page`];
//! the forms post to `POST /groups/{*path}`, which shares the wildcard with that GET.
//!
//! # Who is trusted
//! Nobody beyond the session: every list and change goes through the use-cases the API uses,
//! which decide (Maintainer for variables and members, Owner for anything touching an Owner, a
//! group keeps an Owner). Pages and forms are also refused up front (`404`, as GitLab hides
//! settings) to whoever may not manage the group or project. A masked variable's value is
//! never sent to the browser: not in the list, not in its edit form, not in a form shown again
//! after an error.

use super::{Browser, CSRF_FIELD, Page, chrome, field};
use crate::state::AppState;
use autogit_app::store::{Namespace, Page as Window, Project};
use autogit_app::{AppError, Principal, Source};
use autogit_core::AccessLevel;
use autogit_core::access::{Action, decide};
use axum::http::StatusCode;
use minijinja::{Value, context};
use serde::Serialize;
use std::collections::HashMap;

/// Where a group's settings pages are served (GET); see the module's documentation.
pub(crate) const GROUP_PAGES: &str = "/groups";

mod group;
mod members;
mod variables;

pub(crate) use group::page;
pub(in crate::web) use group::routes;

/// A section of the settings that groups and projects share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Variables,
    Members,
}

/// Whose settings a section shows: a project or a group.
pub(crate) struct Subject {
    /// What the use-cases are asked about: a project's id, a group's full path.
    reference: String,
    is_group: bool,
    /// `<prefix>/-`, where the pages are (GET) and where the forms post to.
    pub pages: String,
    pub forms: String,
    /// The full paths of the groups above, whose members are inherited.
    ancestors: Vec<String>,
}

impl Subject {
    pub(crate) fn project(p: &Project) -> Subject {
        let base = format!("/{}/-", super::filters::path(&p.full_path));
        let ns = p.full_path.rsplit_once('/').map_or("", |(ns, _)| ns);
        let mut ancestors = prefixes(ns);
        if !ns.is_empty() {
            ancestors.push(ns.to_string());
        }
        Subject { reference: p.id.to_string(), is_group: false, pages: base.clone(), forms: base, ancestors }
    }

    fn group(g: &Namespace) -> Subject {
        let path = super::filters::path(&g.full_path);
        Subject {
            reference: g.full_path.clone(),
            is_group: true,
            pages: format!("{GROUP_PAGES}/{path}/-"),
            forms: format!("/groups/{path}/-"),
            ancestors: prefixes(&g.full_path),
        }
    }

    fn source(&self) -> Source<'_> {
        if self.is_group { Source::Group(&self.reference) } else { Source::Project(&self.reference) }
    }

    /// GitLab's word for the members page: `group_members` or `project_members`.
    pub(crate) fn members_word(&self) -> &'static str {
        if self.is_group { "group_members" } else { "project_members" }
    }

    pub(crate) fn page_of(&self, section: Section) -> String {
        match section {
            Section::Variables => format!("{}/settings/ci_cd", self.pages),
            Section::Members => format!("{}/{}", self.pages, self.members_word()),
        }
    }
}

/// `a/b/c` → `a`, `a/b` (the proper prefixes at `/`).
pub(super) fn prefixes(path: &str) -> Vec<String> {
    path.match_indices('/').map(|(i, _)| path[..i].to_string()).collect()
}

/// A form that failed: the message, the status it answers with and what was entered, to show
/// the form again.
pub(crate) struct Retry {
    pub section: Section,
    pub status: StatusCode,
    pub error: String,
    /// Which form: `new`, or the one of the variable (`key` and scope) or member (user id) it
    /// changes.
    target: String,
    /// The fields as entered, less the CSRF token.
    pub fields: Vec<(String, String)>,
}

impl Retry {
    /// A retry of `target`'s form, when [`retry_status`] has one for `e`.
    pub(crate) fn of(section: Section, target: &str, e: &AppError, fields: &[(String, String)]) -> Option<Retry> {
        let status = retry_status(e)?;
        let fields = fields.iter().filter(|(k, _)| k != CSRF_FIELD).cloned().collect();
        Some(Retry { section, status, error: message(e), target: target.to_string(), fields })
    }

    fn for_target<'a>(r: Option<&'a Retry>, target: &str) -> Option<&'a Retry> {
        r.filter(|r| r.target == target)
    }
}

/// The status of a form shown again after `e`, for the errors a person can act on; `None` for
/// the others (a missing project, a failure on our side), which get their error page.
pub(crate) fn retry_status(e: &AppError) -> Option<StatusCode> {
    Some(match e {
        AppError::Invalid(..) | AppError::Missing(_) => StatusCode::BAD_REQUEST,
        AppError::Conflict(..) => StatusCode::CONFLICT,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(what) if !matches!(*what, "Project" | "Group" | "Namespace") => StatusCode::NOT_FOUND,
        _ => return None,
    })
}

/// What a POST came to: a page (the redirect after a change, or an error page), or a form to
/// show again.
pub(crate) enum Outcome {
    Done(Page),
    Retry(Retry),
}

impl Outcome {
    fn of<T>(
        section: Section,
        target: &str,
        done: Result<T, AppError>,
        fields: &[(String, String)],
        to: String,
    ) -> Outcome {
        match done {
            Ok(_) => Outcome::Done(Page::redirect(&to)),
            Err(e) => match Retry::of(section, target, &e, fields) {
                Some(r) => Outcome::Retry(r),
                None => Outcome::Done(Page::error(e)),
            },
        }
    }
}

/// An error in words for the page: the field's name first, as GitLab's forms say it.
pub(crate) fn message(e: &AppError) -> String {
    let capital = |t: &str| {
        let mut c = t.chars();
        c.next().map(|first| first.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
    };
    let label = |f: &str| capital(&f.replace('_', " "));
    match e {
        AppError::Forbidden(Some(m)) => capital(m),
        AppError::Forbidden(None) => "You are not allowed to do this.".into(),
        AppError::NotFound(what) => format!("{what} not found."),
        AppError::Invalid(f, m) => format!("{} {m}", label(f)),
        AppError::Conflict(f, m) => format!("{} {m}", label(f)),
        AppError::Missing(f) => format!("{} is missing", label(f)),
        other => other.to_string(),
    }
}

/// Whether a checkbox was ticked.
pub(super) fn ticked(fields: &[(String, String)], name: &str) -> bool {
    fields.iter().any(|(k, v)| k == name && matches!(v.as_str(), "true" | "1" | "on"))
}

/// The layout's `chrome` for a page answered to a POST: the form's token has been checked equal
/// to the session's, so the page's forms carry it again.
pub(crate) fn chrome_after_post(who: &Principal, fields: &[(String, String)]) -> Value {
    context! { csrf => field(fields, CSRF_FIELD), ..chrome(&stand_in(who)) }
}

/// A browser for a POST's page, when only the principal is at hand (its CSRF token is taken
/// from the form, see [`chrome_after_post`]).
pub(crate) fn stand_in(who: &Principal) -> Browser {
    let peer = who.address.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    Browser { who: Some(who.clone()), secret: None, peer, secure: false }
}

/// The confirmation a page shows after a redirect (`?notice=`), in fixed words.
pub(crate) fn notice(q: &HashMap<String, String>) -> Option<&'static str> {
    Some(match q.get("notice")?.as_str() {
        "saved" => "Saved.",
        "added" => "Added.",
        "updated" => "Updated.",
        "deleted" => "Deleted.",
        _ => return None,
    })
}

/// A section's part of the page context (its records and forms, a failed form shown again).
pub(crate) async fn section_ctx(
    s: &AppState,
    who: &Principal,
    subject: &Subject,
    section: Section,
    retry: Option<&Retry>,
) -> Result<Value, AppError> {
    match section {
        Section::Variables => variables::variables_ctx(s, who, subject, retry).await,
        Section::Members => members::members_ctx(s, who, subject, retry).await,
    }
}

/// A POST of a shared section (`rest` is the part after `/-/`); `None` when it names none.
pub(crate) async fn post_section(
    s: &AppState,
    who: &Principal,
    subject: &Subject,
    rest: &str,
    fields: &[(String, String)],
) -> Option<Outcome> {
    let rest = rest.trim_end_matches('/');
    if let Some(tail) = rest.strip_prefix("settings/ci_cd/variables") {
        return Some(variables::post_variables(s, who, subject, tail.trim_start_matches('/'), fields).await);
    }
    let tail = rest.strip_prefix(subject.members_word())?;
    if !(tail.is_empty() || tail.starts_with('/')) {
        return None;
    }
    Some(members::post_members(s, who, subject, tail.trim_start_matches('/'), fields).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_are_the_prefixes() {
        assert_eq!(prefixes("a/b/c"), ["a", "a/b"]);
        assert!(prefixes("a").is_empty());
        assert!(prefixes("").is_empty());
    }

    #[test]
    fn errors_name_their_field() {
        let e = AppError::Invalid("value", "cannot be masked: it must be at least 8 characters long".into());
        assert_eq!(message(&e), "Value cannot be masked: it must be at least 8 characters long");
        let e = AppError::Forbidden(Some("a group must keep at least one owner".into()));
        assert_eq!(message(&e), "A group must keep at least one owner");
        assert_eq!(message(&AppError::Missing("access_level")), "Access level is missing");
        assert!(Retry::of(Section::Members, "new", &AppError::NotFound("Project"), &[]).is_none());
        assert!(Retry::of(Section::Members, "new", &AppError::Internal("x".into()), &[]).is_none());
    }

    #[test]
    fn an_entered_masked_value_is_not_kept() {
        let f = |masked: &str| {
            vec![
                ("key".to_string(), "K".to_string()),
                ("value".into(), "s3cr3t-value".into()),
                ("masked".into(), masked.into()),
            ]
        };
        assert_eq!(variables::VarForm::entered(&f("true")).value, "");
        assert_eq!(variables::VarForm::entered(&f("")).value, "s3cr3t-value");
    }

    #[test]
    fn sections_of_a_group() {
        assert_eq!(group::group_section("settings/ci_cd/"), Some(Section::Variables));
        assert_eq!(group::group_section("group_members"), Some(Section::Members));
        assert_eq!(group::group_section("settings/general"), None);
    }
}
