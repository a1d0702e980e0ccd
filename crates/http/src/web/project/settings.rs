//! (being written)

use super::{Params, Proj};
use crate::state::AppState;
use crate::web::{Browser, Page};
use autogit_app::{AppError, Principal};

/// `GET <project>/-/settings/…` and `<project>/-/project_members`.
pub(super) async fn get(_s: &AppState, _browser: &Browser, _p: &Proj, _rest: &str, _q: &Params) -> Page {
    Page::error(AppError::NotFound("Page"))
}

/// `POST <project>/-/settings/…` and `<project>/-/project_members/…`; `form` is the whole
/// urlencoded body, already checked for the CSRF token.
pub(super) async fn post(_s: &AppState, _who: &Principal, _project_path: &str, _rest: &str, _form: &[(String, String)]) -> Page {
    Page::error(AppError::NotFound("Page"))
}
