//! The forms that create a project (`/projects/new`, sent to `POST /projects`) and a group
//! (`/groups/new`, sent to `POST /groups`), at GitLab's paths. What is created, where, and who
//! may is decided by the use-cases the API uses (`create_project`, `create_group`); the forms
//! offer the namespaces the person may create in, and a refusal is shown above the form with
//! what was entered. `/groups/new` is a route of its own, ahead of the groups' pages
//! (`/groups/<path>`).

use super::user_settings::{MAX_NAME, capped, refusal};
use super::{Browser, Page, chrome, field, signed_in};
use crate::state::AppState;
use crate::web::CheckedForm;
use crate::web::ui::val;
use autogit_app::store::{AccessFilter, GroupFilter, Page as Window};
use autogit_app::{CreateGroup, CreateProject, Principal};
use autogit_core::access::{Action, decide};
use autogit_core::{Decision, NamespaceId, Visibility};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use minijinja::context;
use serde::{Deserialize, Serialize};

/// The longest description accepted (characters), as GitLab's.
const MAX_DESCRIPTION: usize = 2000;
/// Groups offered in a form's namespace list at most.
const MAX_GROUPS: i64 = 100;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/new", get(new_project))
        .route("/projects", get(|| async { Page::redirect("/dashboard/projects") }).post(create_project))
        .route("/groups/new", get(new_group))
        .route("/groups", get(|| async { Page::redirect("/explore/groups") }).post(create_group))
}

/// `?namespace_id=` / `?parent_id=`: the namespace to preselect.
#[derive(Deserialize, Default)]
struct Preselect {
    #[serde(default)]
    namespace_id: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
}

/// What a form was sent with, kept when it is refused.
#[derive(Serialize, Default)]
struct Values {
    name: String,
    path: String,
    /// The chosen namespace (project) or parent group (group) id; `""` for the personal
    /// namespace, or no parent.
    namespace_id: String,
    description: String,
    visibility: String,
}

/// A group offered as a place to create in.
#[derive(Serialize)]
struct Place {
    id: i64,
    full_path: String,
}

/// The groups the principal may `action` in (create a project or a subgroup), by the same
/// policy the use-cases apply; the use-case decides again on the one chosen.
async fn places(s: &AppState, who: &Principal, action: Action) -> Result<Vec<Place>, Page> {
    let filter =
        GroupFilter { access: AccessFilter { membership_only: true, ..Default::default() }, ..Default::default() };
    let groups = s.app.list_groups(who, filter, Window { offset: 0, limit: MAX_GROUPS }).await.map_err(Page::error)?;
    let mut out = Vec::new();
    for g in groups.items {
        let level = s.app.namespace_level(who, &g).await.map_err(Page::error)?;
        if decide(who.actor, g.visibility, level, action) == Decision::Allow {
            out.push(Place { id: g.id.get(), full_path: g.full_path });
        }
    }
    out.sort_by(|a, b| a.full_path.cmp(&b.full_path));
    Ok(out)
}

fn visibilities(chosen: &str) -> Vec<minijinja::Value> {
    let chosen = if Visibility::parse(chosen).is_some() { chosen } else { Visibility::Private.as_str() };
    Visibility::ALL
        .iter()
        .map(|v| {
            let words = match v {
                Visibility::Private => "Only members see it.",
                Visibility::Internal => "Every signed-in user sees it.",
                Visibility::Public => "Everyone sees it, signed in or not.",
            };
            context! { name => v.as_str(), words => words, checked => v.as_str() == chosen }
        })
        .collect()
}

/// The form's page: `template` with the places to create in, the values and the error.
async fn form_page(
    s: &AppState,
    browser: &Browser,
    who: &Principal,
    template: &str,
    status: StatusCode,
    values: Values,
    error: Option<String>,
) -> Page {
    let (action, title) = if template == "new_project.html" {
        (Action::CreateProject, "New project")
    } else {
        (Action::CreateSubgroup, "New group")
    };
    let places = match places(s, who, action).await {
        Ok(p) => p,
        Err(p) => return p,
    };
    let username = who.user.as_ref().map(|u| u.username.clone()).unwrap_or_default();
    let ctx = context! {
        chrome => chrome(browser), title => title, username => username,
        places => val(&places), visibilities => visibilities(&values.visibility),
        form => val(&values), error => error,
        max_name => MAX_NAME, max_description => MAX_DESCRIPTION,
    };
    Page::render(status, template, ctx)
}

async fn new_project(State(s): State<AppState>, browser: Browser, Query(q): Query<Preselect>) -> Page {
    let who = match signed_in(&browser) {
        Ok((who, _)) => who.clone(),
        Err(p) => return p,
    };
    let values = Values { namespace_id: q.namespace_id.unwrap_or_default(), ..Values::default() };
    form_page(&s, &browser, &who, "new_project.html", StatusCode::OK, values, None).await
}

async fn new_group(State(s): State<AppState>, browser: Browser, Query(q): Query<Preselect>) -> Page {
    let who = match signed_in(&browser) {
        Ok((who, _)) => who.clone(),
        Err(p) => return p,
    };
    let values = Values { namespace_id: q.parent_id.unwrap_or_default(), ..Values::default() };
    form_page(&s, &browser, &who, "new_group.html", StatusCode::OK, values, None).await
}

/// The form's fields, capped (one character over a cap is kept, to be refused by name).
fn values(fields: &[(String, String)], place_field: &str) -> Values {
    let take = |name: &str, max: usize| field(fields, name).trim().chars().take(max + 1).collect::<String>();
    Values {
        name: take("name", MAX_NAME),
        path: take("path", MAX_NAME),
        namespace_id: take(place_field, 20),
        description: field(fields, "description").chars().take(MAX_DESCRIPTION + 1).collect(),
        visibility: take("visibility", 20),
    }
}

/// The checks made before the use-case: sizes, and the form's own choices read as the API
/// reads them (its words).
fn read(v: &Values, place_field: &'static str) -> Result<(Option<NamespaceId>, Option<Visibility>), String> {
    capped("name", &v.name, MAX_NAME)?;
    capped("path", &v.path, MAX_NAME)?;
    capped("description", &v.description, MAX_DESCRIPTION)?;
    let place = match v.namespace_id.as_str() {
        "" => None,
        id => Some(id.parse::<NamespaceId>().map_err(|_| format!("{place_field} is invalid"))?),
    };
    let visibility = match v.visibility.as_str() {
        "" => None,
        x => Some(Visibility::parse(x).ok_or_else(|| "visibility does not have a valid value".to_string())?),
    };
    Ok((place, visibility))
}

async fn create_project(State(s): State<AppState>, CheckedForm { browser, who, fields }: CheckedForm) -> Page {
    let v = values(&fields, "namespace_id");
    let refused = |status, v, m| form_page(&s, &browser, &who, "new_project.html", status, v, Some(m));
    let (namespace_id, visibility) = match read(&v, "namespace_id") {
        Ok(x) => x,
        Err(m) => return refused(StatusCode::BAD_REQUEST, v, m).await,
    };
    let req = CreateProject {
        name: Some(v.name.clone()).filter(|x| !x.is_empty()),
        path: Some(v.path.clone()).filter(|x| !x.is_empty()),
        namespace_id,
        description: v.description.clone(),
        visibility,
        default_branch: None,
    };
    match s.app.create_project(&who, req).await {
        Ok(p) => Page::redirect(&format!("/{}", super::filters::path(&p.full_path))),
        Err(e) => match refusal(e) {
            Ok((status, m)) => refused(status, v, m).await,
            Err(p) => p,
        },
    }
}

async fn create_group(State(s): State<AppState>, CheckedForm { browser, who, fields }: CheckedForm) -> Page {
    let v = values(&fields, "parent_id");
    let refused = |status, v, m| form_page(&s, &browser, &who, "new_group.html", status, v, Some(m));
    let (parent_id, visibility) = match read(&v, "parent_id") {
        Ok(x) => x,
        Err(m) => return refused(StatusCode::BAD_REQUEST, v, m).await,
    };
    if v.name.is_empty() {
        // As the API's `required("name")`.
        return refused(StatusCode::BAD_REQUEST, v, "name is missing".to_string()).await;
    }
    let req = CreateGroup {
        name: v.name.clone(),
        path: Some(v.path.clone()).filter(|x| !x.is_empty()),
        parent_id,
        visibility,
        description: v.description.clone(),
    };
    match s.app.create_group(&who, req).await {
        Ok(g) => Page::redirect(&format!("/groups/{}", super::filters::path(&g.full_path))),
        Err(e) => match refusal(e) {
            Ok((status, m)) => refused(status, v, m).await,
            Err(p) => p,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn form_choices_are_read_as_the_api_reads_them() {
        let v = values(&fields(&[("name", " App "), ("namespace_id", "7"), ("visibility", "public")]), "namespace_id");
        assert_eq!(v.name, "App");
        assert_eq!(read(&v, "namespace_id"), Ok((Some(NamespaceId::new(7)), Some(Visibility::Public))));
        let v = values(&fields(&[("name", "x"), ("namespace_id", "-1")]), "namespace_id");
        assert_eq!(read(&v, "namespace_id"), Err("namespace_id is invalid".to_string()));
        let v = values(&fields(&[("name", "x"), ("visibility", "secret")]), "namespace_id");
        assert_eq!(read(&v, "namespace_id"), Err("visibility does not have a valid value".to_string()));
        let long = "n".repeat(300);
        let v = values(&fields(&[("name", &long)]), "parent_id");
        assert_eq!(read(&v, "parent_id"), Err("name is too long (maximum is 255 characters)".to_string()));
    }

    #[test]
    fn private_is_chosen_unless_another_visibility_was() {
        let checked = |chosen: &str| {
            visibilities(chosen)
                .iter()
                .filter(|v| v.get_attr("checked").is_ok_and(|c| c.is_true()))
                .map(|v| v.get_attr("name").map(|n| n.to_string()).unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(checked(""), ["private"]);
        assert_eq!(checked("public"), ["public"]);
        assert_eq!(checked("bogus"), ["private"]);
    }
}
