//! Project hooks, the API use-cases (`/projects/:id/hooks`): maintainers list, create, change and
//! delete them. A hook's URL (which may carry credentials) and its secret token are sealed at rest
//! (`autogit_secrets`), never logged, and never given back: answers show the URL with its password
//! replaced by `*****`, and no token at all.
//!
//! A URL is checked when it is saved: `http` or `https`, a host, no more than 2,000 characters,
//! and an address given literally (or `localhost`) must pass the instance's outbound policy. Host
//! names are checked again, on every address they resolve to, each time a delivery connects.

use crate::groups::to_result;
use crate::{App, AppError, Principal, Result, System};
use autogit_core::access::{Action, decide};
use autogit_core::protection::validate_pattern;
use autogit_core::webhook::{AllowEntry, OutboundPolicy, check_address};
use autogit_secrets::Binding;
use autogit_store::{HookEvents, Listed, NewProjectHook, Page, Project, ProjectHook, ProjectId, StoreError};
use std::net::IpAddr;

const MAX_URL: usize = 2000;
const MAX_TOKEN: usize = 255;
const REDACTED: &str = "*****";

/// `POST`/`PUT /projects/:id/hooks[/:hook_id]`: the hook's settings as given.
#[derive(Debug, Clone, Default)]
pub struct HookSettings {
    pub url: String,
    /// `None`: keep the stored token (on a change) or none (on creation); `Some("")` removes it.
    pub token: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub push_events: Option<bool>,
    pub tag_push_events: Option<bool>,
    pub push_events_branch_filter: Option<String>,
    pub enable_ssl_verification: Option<bool>,
}

/// A hook as answers show it: the stored record, its URL opened and redacted.
#[derive(Debug, Clone)]
pub struct ShownHook {
    pub hook: ProjectHook,
    pub url: String,
}

pub(crate) fn url_binding(project: ProjectId) -> Binding {
    Binding::column("project_hooks.url").part("project").part(project.to_string())
}

pub(crate) fn token_binding(project: ProjectId) -> Binding {
    Binding::column("project_hooks.token").part("project").part(project.to_string())
}

/// The URL with the password of its user information replaced, for answers and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(REDACTED));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(invalid URL)".into(),
    }
}

/// Checks a hook URL as it is saved (see the module's documentation).
pub(crate) fn check_hook_url(url: &str, policy: &OutboundPolicy) -> Result<()> {
    let invalid = |why: &str| AppError::Invalid("url", why.to_string());
    if url.len() > MAX_URL {
        return Err(invalid("is too long (maximum is 2000 characters)"));
    }
    let parsed = url::Url::parse(url).map_err(|_| invalid("is blocked: must be a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("is blocked: Only allowed schemes are http, https"));
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        _ => return Err(invalid("is blocked: must have a host")),
    };
    let literal: Option<IpAddr> = match parsed.host() {
        Some(url::Host::Ipv4(a)) => Some(a.into()),
        Some(url::Host::Ipv6(a)) => Some(a.into()),
        _ if host == "localhost" || host.ends_with(".localhost") => Some(IpAddr::from([127, 0, 0, 1])),
        _ => None,
    };
    if let Some(ip) = literal {
        check_address(&host, ip, policy).map_err(|e| AppError::Invalid("url", format!("is blocked: {e}")))?;
    }
    Ok(())
}

fn bounded(field: &'static str, value: Option<String>, max: usize) -> Result<Option<String>> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(AppError::Invalid(field, format!("is too long (maximum is {max} characters)")))
        }
        Some(v) if v.contains(['\r', '\n', '\0']) => Err(AppError::Invalid(field, "must be on one line".into())),
        other => Ok(other),
    }
}

impl App {
    async fn hooks_project(&self, who: &Principal, project_ref: &str) -> Result<Project> {
        let (project, level) = self.get_project(who, project_ref, Action::View).await?;
        who.user()?;
        to_result(decide(who.actor, project.visibility, level, Action::Manage), "Project")?;
        Ok(project)
    }

    pub(crate) fn shown(&self, hook: ProjectHook) -> Result<ShownHook> {
        let url = self.open_hook_url(&hook)?;
        Ok(ShownHook { url: redact_url(&url), hook })
    }

    pub(crate) fn open_hook_url(&self, hook: &ProjectHook) -> Result<String> {
        self.secrets
            .open(&url_binding(hook.project_id), &hook.url)?
            .map_err(|e| AppError::Internal(format!("the URL of hook {} does not open: {e}", hook.id)))
    }

    pub(crate) fn open_hook_token(&self, hook: &ProjectHook) -> Result<Option<String>> {
        let Some(sealed) = &hook.token else { return Ok(None) };
        let plain = self
            .secrets
            .open(&token_binding(hook.project_id), sealed)?
            .map_err(|e| AppError::Internal(format!("the token of hook {} does not open: {e}", hook.id)))?;
        Ok(Some(plain))
    }

    pub async fn list_hooks(&self, who: &Principal, project_ref: &str, page: Page) -> Result<Listed<ShownHook>> {
        let project = self.hooks_project(who, project_ref).await?;
        let listed = self.store.list_hooks(project.id, page).await?;
        let items = listed.items.into_iter().map(|h| self.shown(h)).collect::<Result<Vec<_>>>()?;
        Ok(Listed { items, total: listed.total })
    }

    pub async fn get_hook(&self, who: &Principal, project_ref: &str, id: i64) -> Result<ShownHook> {
        let project = self.hooks_project(who, project_ref).await?;
        let hook = self.store.hook(project.id, id).await?.ok_or(AppError::NotFound("Hook"))?;
        self.shown(hook)
    }

    pub async fn create_hook(&self, who: &Principal, project_ref: &str, req: HookSettings) -> Result<ShownHook> {
        let project = self.hooks_project(who, project_ref).await?;
        let new = self.hook_record(&project, None, req).await?;
        let hook = self.store.create_hook(&new, self.clock.now()).await?;
        self.shown(hook)
    }

    /// Replaces the given settings and re-enables the hook (GitLab resets its failures on edit).
    pub async fn update_hook(
        &self,
        who: &Principal,
        project_ref: &str,
        id: i64,
        req: HookSettings,
    ) -> Result<ShownHook> {
        let project = self.hooks_project(who, project_ref).await?;
        let old = self.store.hook(project.id, id).await?.ok_or(AppError::NotFound("Hook"))?;
        let change = self.hook_record(&project, Some(&old), req).await?;
        match self.store.update_hook(id, &change).await {
            Err(StoreError::NotFound(_)) => Err(AppError::NotFound("Hook")),
            other => self.shown(other?),
        }
    }

    pub async fn delete_hook(&self, who: &Principal, project_ref: &str, id: i64) -> Result<()> {
        let project = self.hooks_project(who, project_ref).await?;
        match self.store.delete_hook(project.id, id).await {
            Err(StoreError::NotFound(_)) => Err(AppError::NotFound("Hook")),
            other => Ok(other?),
        }
    }

    /// The record to store: `req` over `old` (a change) or over GitLab's defaults (push events
    /// on, TLS verified), the URL checked and sealed.
    async fn hook_record(
        &self,
        project: &Project,
        old: Option<&ProjectHook>,
        req: HookSettings,
    ) -> Result<NewProjectHook> {
        let url = req.url.trim().to_string();
        let stored = old.map(|o| self.open_hook_url(o)).transpose()?;
        let url = match stored {
            // The redacted URL an answer showed, sent back unchanged: keep the stored one.
            Some(s) if url.is_empty() || url == redact_url(&s) => s,
            _ if url.is_empty() => return Err(AppError::Missing("url")),
            _ => url,
        };
        let policy = self.system().hook_policy().await?;
        check_hook_url(&url, &policy)?;
        let token = match bounded("token", req.token, MAX_TOKEN)? {
            Some(t) if t.is_empty() => None,
            Some(t) => Some(self.secrets.seal(&token_binding(project.id), &t)?),
            None => old.and_then(|o| o.token.clone()),
        };
        let filter = bounded("push_events_branch_filter", req.push_events_branch_filter, 255)?
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty());
        if let Some(f) = &filter {
            validate_pattern(f).map_err(|e| AppError::Invalid("push_events_branch_filter", e.to_string()))?;
        }
        let events = HookEvents {
            push: req.push_events.unwrap_or(old.is_none_or(|o| o.events.push)),
            tag_push: req.tag_push_events.unwrap_or(old.is_some_and(|o| o.events.tag_push)),
        };
        Ok(NewProjectHook {
            project_id: project.id,
            url: self.secrets.seal(&url_binding(project.id), &url)?,
            token,
            name: bounded("name", req.name, 255)?.or_else(|| old.map(|o| o.name.clone())).unwrap_or_default(),
            description: bounded("description", req.description, 2048)?
                .or_else(|| old.map(|o| o.description.clone()))
                .unwrap_or_default(),
            events,
            push_events_branch_filter: filter,
            enable_ssl_verification: req
                .enable_ssl_verification
                .unwrap_or(old.is_none_or(|o| o.enable_ssl_verification)),
        })
    }
}

impl System<'_> {
    /// Where project hooks may send: the instance's settings as the pure check reads them.
    pub async fn hook_policy(&self) -> Result<OutboundPolicy> {
        let s = self.store.outbound_settings().await?;
        Ok(OutboundPolicy {
            allow_local: s.allow_local_requests_from_web_hooks_and_services,
            allowlist: s.outbound_local_requests_allowlist.iter().filter_map(|e| AllowEntry::parse(e)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_as_they_are_saved() {
        let refuse = OutboundPolicy::default();
        for ok in ["https://hooks.example.com/x", "http://ci.example:8080/h?a=1", "https://u:p@example.com/"] {
            assert!(check_hook_url(ok, &refuse).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://10.0.0.1/",
            "ftp://example.com/",
            "javascript:alert(1)",
            "not a url",
            "http://",
            "https://:80/",
        ] {
            assert!(check_hook_url(bad, &refuse).is_err(), "{bad} accepted");
        }
        let local = OutboundPolicy { allow_local: true, allowlist: Vec::new() };
        assert!(check_hook_url("http://127.0.0.1:9000/", &local).is_ok());
        assert!(check_hook_url("http://169.254.169.254/", &local).is_err(), "metadata stays refused");
        let e = check_hook_url("http://169.254.169.254/", &refuse).expect_err("refused").to_string();
        assert!(e.contains("cloud metadata"), "{e}");
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("https://bot:s3cret@hooks.example.com/p?x=1"),
            "https://bot:*****@hooks.example.com/p?x=1"
        );
        assert_eq!(redact_url("https://hooks.example.com/p"), "https://hooks.example.com/p");
        assert!(!redact_url("https://:s3cret@h/").contains("s3cret"));
    }
}
