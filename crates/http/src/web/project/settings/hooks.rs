//! `<project>/-/hooks`: a project's webhooks (Settings → Webhooks), with a form to add one, a
//! test and a delete button each, and `<project>/-/hooks/<id>/hook_logs`: a hook's recent
//! deliveries with their answers and a re-send button. Everything goes through the use-cases of
//! `/projects/:id/hooks`, which decide who may (maintainers) and check the URL; a token is never
//! shown and a URL's password only as `*****`.

use super::general::Failed;
use super::{Proj, page_ctx};
use crate::state::AppState;
use crate::web::settings::{message, retry_status, ticked};
use crate::web::ui::val;
use crate::web::{Browser, Page, field};
use autogit_app::store::Page as Window;
use autogit_app::webhooks::HookSettings;
use axum::http::StatusCode;
use minijinja::{Value, context};

/// The deliveries a log page shows.
const LOG_PAGE: i64 = 50;

pub(super) async fn page(
    s: &AppState,
    browser: &Browser,
    chrome: Option<Value>,
    p: &Proj,
    failed: Option<Failed<'_>>,
    notice: Option<&str>,
) -> Page {
    let listed = match s.app.list_hooks(&p.who, &p.project.id.to_string(), Window::ALL).await {
        Ok(l) => l,
        Err(e) => return Page::error(e),
    };
    let now = s.app.system().now();
    let hooks: Vec<Value> = listed
        .items
        .iter()
        .map(|h| {
            let json = crate::dto::hook(h, now);
            let base = format!("{}/-/hooks/{}", p.base, h.hook.id);
            context! { hook => val(&json), test => format!("{base}/test"), delete => format!("{base}/delete"),
            logs => format!("{base}/hook_logs") }
        })
        .collect();
    let entered = |name: &str| failed.as_ref().map_or(String::new(), |(_, _, f)| field(f, name).to_string());
    let ctx = context! {
        hooks => hooks, notice => notice, action => format!("{}/-/hooks", p.base),
        error => failed.as_ref().map(|(_, e, _)| e.clone()),
        url => entered("url"), branch_filter => entered("push_events_branch_filter"),
        ..page_ctx(browser, chrome, p, "Webhooks", "hooks")
    };
    Page::render(failed.map_or(StatusCode::OK, |(st, _, _)| st), "settings_hooks.html", ctx)
}

/// `<project>/-/hooks/<id>/hook_logs`.
pub(super) async fn logs(s: &AppState, browser: &Browser, p: &Proj, id: i64, notice: Option<&str>) -> Page {
    let window = Window { offset: 0, limit: LOG_PAGE };
    let (hook, listed) = match s.app.hook_deliveries(&p.who, &p.project.id.to_string(), id, window).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let base = format!("{}/-/hooks/{id}/hook_logs", p.base);
    let entries: Vec<Value> = listed
        .items
        .iter()
        .map(|d| {
            let json = crate::dto::hook_delivery(&hook, d);
            let request = serde_json::to_string_pretty(&json["request_data"]).unwrap_or_default();
            let response = serde_json::to_string_pretty(&json["response_body"]).unwrap_or_default();
            context! { d => val(&json), request => request, response => response,
            resend => format!("{base}/{}/retry", d.id) }
        })
        .collect();
    let ctx = context! {
        entries => entries, url => hook.url, notice => notice, total => listed.total,
        ..page_ctx(browser, None, p, "Webhook deliveries", "hooks")
    };
    Page::render(StatusCode::OK, "hook_logs.html", ctx)
}

/// `POST <project>/-/hooks[/<id>/test|delete|hook_logs/<log>/retry]`; `None` when `rest` names
/// no form.
pub(super) async fn post(
    s: &AppState,
    browser: &Browser,
    chrome: Value,
    p: &Proj,
    rest: &str,
    fields: &[(String, String)],
) -> Option<Page> {
    let id = p.project.id.to_string();
    let back = |notice: &str| Page::redirect(&format!("{}/-/hooks?notice={notice}", p.base));
    let parts: Vec<&str> = rest.split('/').collect();
    let done = match parts.as_slice() {
        ["hooks"] => {
            let req = HookSettings {
                url: field(fields, "url").trim().to_string(),
                token: Some(field(fields, "token").to_string()).filter(|t| !t.is_empty()),
                push_events: Some(ticked(fields, "push_events")),
                tag_push_events: Some(ticked(fields, "tag_push_events")),
                push_events_branch_filter: Some(field(fields, "push_events_branch_filter").to_string()),
                enable_ssl_verification: Some(ticked(fields, "enable_ssl_verification")),
                ..HookSettings::default()
            };
            s.app.create_hook(&p.who, &id, req).await.map(|_| back("added"))
        }
        ["hooks", hook, "delete"] => {
            let hook = hook.parse().ok()?;
            s.app.delete_hook(&p.who, &id, hook).await.map(|()| back("deleted"))
        }
        ["hooks", hook, "test"] => {
            let hook = hook.parse().ok()?;
            s.app
                .test_hook(&p.who, &id, hook, "push_events")
                .await
                .map(|_| Page::redirect(&format!("{}/-/hooks/{hook}/hook_logs?notice=saved", p.base)))
        }
        ["hooks", hook, "hook_logs", log, "retry"] => {
            let (hook, log): (i64, i64) = (hook.parse().ok()?, log.parse().ok()?);
            s.app
                .resend_hook_delivery(&p.who, &id, hook, log)
                .await
                .map(|()| Page::redirect(&format!("{}/-/hooks/{hook}/hook_logs?notice=added", p.base)))
        }
        _ => return None,
    };
    Some(match done {
        Ok(page) => page,
        Err(e) => match retry_status(&e) {
            Some(status) if parts.len() == 1 => {
                page(s, browser, Some(chrome), p, Some((status, message(&e), fields)), None).await
            }
            _ => Page::error(e),
        },
    })
}
