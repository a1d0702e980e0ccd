//! Members of a project or group: the list (inherited members read-only) and the add, change
//! and remove forms.

use super::*;
use crate::web::ui::val;

#[derive(Serialize)]
struct MemberRow {
    id: i64,
    username: String,
    name: String,
    access_level: i64,
    since: String,
    update: String,
    delete: String,
    error: Option<String>,
}

#[derive(Serialize)]
struct InheritedRow {
    username: String,
    name: String,
    role: &'static str,
    group: String,
    group_href: String,
}

pub(super) async fn members_ctx(
    s: &AppState,
    who: &Principal,
    subject: &Subject,
    retry: Option<&Retry>,
) -> Result<Value, AppError> {
    let action = format!("{}/{}", subject.forms, subject.members_word());
    let direct = s.app.list_members(who, subject.source(), Window::ALL).await?.items;
    let rows: Vec<MemberRow> = direct
        .iter()
        .map(|(m, u)| {
            let failed = Retry::for_target(retry, &u.id.to_string());
            let level =
                failed.and_then(|r| AccessLevel::parse(field(&r.fields, "access_level"))).unwrap_or(m.access_level);
            MemberRow {
                id: u.id.get(),
                username: u.username.clone(),
                name: u.name.clone(),
                access_level: level.value(),
                since: m.created_at.to_rfc3339(),
                update: format!("{action}/{}/update", u.id),
                delete: format!("{action}/{}/delete", u.id),
                error: failed.map(|r| r.error.clone()),
            }
        })
        .collect();
    let mut inherited = Vec::new();
    for group in &subject.ancestors {
        // A group above that the browser may not see lends no names to the page.
        let Ok(listed) = s.app.list_members(who, Source::Group(group), Window::ALL).await else { continue };
        for (m, u) in listed.items {
            inherited.push(InheritedRow {
                username: u.username,
                name: u.name,
                role: m.access_level.as_str(),
                group: group.clone(),
                group_href: format!("/groups/{}", crate::web::filters::path(group)),
            });
        }
    }
    let new = Retry::for_target(retry, "new");
    let new_level =
        new.and_then(|r| AccessLevel::parse(field(&r.fields, "access_level"))).unwrap_or(AccessLevel::Developer);
    let roles: Vec<Value> =
        AccessLevel::ALL.iter().map(|l| context! { value => l.value(), name => l.as_str() }).collect();
    Ok(context! {
        members => val(&rows),
        inherited => val(&inherited),
        roles => roles,
        add_action => action,
        new => context! {
            username => new.map(|r| field(&r.fields, "username").to_string()).unwrap_or_default(),
            access_level => new_level.value(),
        },
        new_error => new.map(|r| r.error.clone()),
    })
}

/// `<members word>` (add by username), `…/<user id>/update`, `…/<user id>/delete`.
pub(super) async fn post_members(
    s: &AppState,
    who: &Principal,
    subject: &Subject,
    tail: &str,
    fields: &[(String, String)],
) -> Outcome {
    let to = |what: &str| format!("{}?notice={what}", subject.page_of(Section::Members));
    let level = || {
        AccessLevel::parse(field(fields, "access_level").trim())
            .ok_or_else(|| AppError::Invalid("access_level", "does not have a valid value".into()))
    };
    if tail.is_empty() {
        let username = field(fields, "username").trim().trim_start_matches('@');
        let done = async {
            if username.is_empty() {
                return Err(AppError::Missing("username"));
            }
            let level = level()?;
            let user = s.app.get_user_by_username(who, username).await?;
            s.app.add_member(who, subject.source(), user.id, level).await
        }
        .await;
        return Outcome::of(Section::Members, "new", done, fields, to("added"));
    }
    let parsed = tail.split_once('/').and_then(|(id, verb)| Some((id.parse::<i64>().ok()?, verb)));
    let Some((id, verb)) = parsed else { return Outcome::Done(Page::error(AppError::NotFound("Member"))) };
    let user_id = autogit_core::UserId::new(id);
    let target = id.to_string();
    match verb {
        "update" => {
            let done = match level() {
                Ok(l) => s.app.update_member(who, subject.source(), user_id, l).await.map(|_| ()),
                Err(e) => Err(e),
            };
            Outcome::of(Section::Members, &target, done, fields, to("updated"))
        }
        "delete" => {
            let done = s.app.remove_member(who, subject.source(), user_id).await;
            Outcome::of(Section::Members, &target, done, fields, to("deleted"))
        }
        _ => Outcome::Done(Page::not_found()),
    }
}
