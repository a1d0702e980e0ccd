//! `GET`/`PUT /application/settings`, the part AutoGit keeps: where outgoing hook requests may
//! go (GitLab's `allow_local_requests_from_web_hooks_and_services`,
//! `allow_local_requests_from_system_hooks`, `outbound_local_requests_allowlist`). Administrators
//! only.

use crate::{App, AppError, Principal, Result};
use autogit_core::webhook::AllowEntry;
use autogit_store::OutboundSettings;

/// A change: `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct OutboundChange {
    pub allow_local_requests_from_web_hooks_and_services: Option<bool>,
    pub allow_local_requests_from_system_hooks: Option<bool>,
    pub outbound_local_requests_allowlist: Option<Vec<String>>,
}

/// GitLab's limit on the allowlist.
const MAX_ALLOWLIST: usize = 1000;

impl App {
    pub async fn outbound_settings(&self, who: &Principal) -> Result<OutboundSettings> {
        who.require_admin()?;
        Ok(self.store.outbound_settings().await?)
    }

    pub async fn update_outbound_settings(&self, who: &Principal, change: OutboundChange) -> Result<OutboundSettings> {
        who.require_admin()?;
        let mut s = self.store.outbound_settings().await?;
        if let Some(v) = change.allow_local_requests_from_web_hooks_and_services {
            s.allow_local_requests_from_web_hooks_and_services = v;
        }
        if let Some(v) = change.allow_local_requests_from_system_hooks {
            s.allow_local_requests_from_system_hooks = v;
        }
        if let Some(list) = change.outbound_local_requests_allowlist {
            let list: Vec<String> = list
                .iter()
                .flat_map(|e| e.split([',', '\n', ';']))
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect();
            if list.len() > MAX_ALLOWLIST {
                return Err(AppError::Invalid(
                    "outbound_local_requests_allowlist",
                    format!("has more than {MAX_ALLOWLIST} entries"),
                ));
            }
            if let Some(bad) = list.iter().find(|e| AllowEntry::parse(e).is_none()) {
                return Err(AppError::Invalid(
                    "outbound_local_requests_allowlist",
                    format!(
                        "entry {:?} is not an IP address, a CIDR block or a host name",
                        bad.chars().take(80).collect::<String>()
                    ),
                ));
            }
            s.outbound_local_requests_allowlist = list;
        }
        self.store.set_outbound_settings(&s).await?;
        Ok(s)
    }
}
