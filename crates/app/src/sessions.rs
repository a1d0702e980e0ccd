//! Browser sessions: a password sign-in creates one, its opaque cookie authenticates browser
//! routes (never the API or git, which keep tokens), and it ends by sign-out, expiry, revocation
//! or the user's block.
//!
//! # Who is trusted
//! - The cookie's secret is 40 random alphanumerics (≈ 238 bits); only its SHA-256 is stored,
//!   so a database leak does not sign anyone in.
//! - A session expires after `idle` without a request and, whatever the activity, `lifetime`
//!   after sign-in. Activity is written at most once a minute (a page load is not a write).
//! - A user holds at most `max_per_user` sessions; a new one ends the least recently active.
//! - The CSRF token of a session is derived from its secret ([`csrf_token`]): a page can carry
//!   it without storing anything, a forged cross-site form cannot know it, and knowing it does
//!   not give the secret.
//! - A blocked user's sessions stop working at once (the state is read with the session).

use crate::audit::Entry;
use crate::auth::token_digest;
use crate::{App, AppError, Principal, Result, System};
use autogit_core::Actor;
use autogit_core::audit::AuditAction;
use autogit_store::sessions::MAX_USER_AGENT_LEN;
use autogit_store::{NewSession, Session, SessionStore, User, UserState};
use chrono::TimeDelta;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;

const SECRET_LEN: usize = 40;
/// Activity younger than this is not written again.
const TOUCH_INTERVAL: TimeDelta = TimeDelta::minutes(1);

/// How long sessions last and how many a user may hold (the server fills it from `[auth]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// A session without a request for this long is over (GitLab's "session duration").
    pub idle: TimeDelta,
    /// A session is over this long after sign-in, however active.
    pub lifetime: TimeDelta,
    /// Sessions per user; a new one ends the least recently active beyond this.
    pub max_per_user: u32,
}

impl Default for SessionSettings {
    /// The values of `autogit_config::AuthConfig::default()`.
    fn default() -> Self {
        SessionSettings { idle: TimeDelta::days(7), lifetime: TimeDelta::days(30), max_per_user: 100 }
    }
}

/// Where sessions live and how long they last.
pub(crate) struct Sessions {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) settings: SessionSettings,
}

/// A new session: the only moment its secret exists outside the browser.
pub struct IssuedSession {
    pub session: Session,
    pub secret: String,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession").field("session", &self.session).field("secret", &"[redacted]").finish()
    }
}

/// A browser's sign-in request.
pub struct SignIn<'a> {
    /// A username or an email address.
    pub login: &'a str,
    pub password: &'a str,
    pub user_agent: &'a str,
}

/// The CSRF token of the session whose cookie holds `secret`.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"autogit csrf v1\0");
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// Compares two tokens in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl System<'_> {
    /// Signs a browser in with a password, within the limits of `auth::sign_in` (the same gate,
    /// lockout and equal work for unknown users as git over HTTP), and starts its session.
    pub async fn sign_in(&self, req: SignIn<'_>, peer: IpAddr) -> Result<(Principal, IssuedSession)> {
        let who = self.by_password(req.login, req.password, peer).await?.from_address(peer);
        let user = who.user()?.clone();
        self.start_session(who, &user, peer, req.user_agent, "password").await
    }

    /// Starts a session for `user`, signed in by `how` (for the audit log).
    pub(crate) async fn start_session(
        &self,
        who: Principal,
        user: &User,
        peer: IpAddr,
        user_agent: &str,
        how: &str,
    ) -> Result<(Principal, IssuedSession)> {
        let secret = crate::auth::random_secret(SECRET_LEN);
        let now = self.clock.now();
        let settings = &self.sessions.settings;
        let new = NewSession {
            user_id: user.id,
            digest: token_digest(&secret),
            ip_address: peer.to_canonical().to_string(),
            user_agent: cut(user_agent, MAX_USER_AGENT_LEN),
            expires_at: now + settings.idle.min(settings.lifetime),
        };
        let session = self.sessions.store.create_session(&new, settings.max_per_user, now).await?;
        let who = Principal { session_id: Some(session.id), ..who };
        let entry = Entry::user(AuditAction::UserSignedIn, user).target("ActiveSession", session.id, how);
        self.audit(&who, entry).await;
        Ok((who, IssuedSession { session, secret }))
    }

    /// The principal of a browser whose session cookie holds `secret`: `None` when there is no
    /// such session, it expired, or its user is blocked.
    pub async fn session_principal(&self, secret: &str, peer: IpAddr) -> Result<Option<Principal>> {
        let Some(session) = self.sessions.store.session_by_digest(&token_digest(secret)).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if session.expires_at <= now {
            return Ok(None);
        }
        let Some(user) = self.store.user_by_id(session.user_id).await? else { return Ok(None) };
        if user.state != UserState::Active {
            return Ok(None);
        }
        if now - session.last_active_at >= TOUCH_INTERVAL {
            let settings = &self.sessions.settings;
            let expires_at = (now + settings.idle).min(session.created_at + settings.lifetime);
            // Best effort: a failed touch must not fail the page.
            if let Err(e) = self.sessions.store.touch_session(session.id, now, expires_at).await {
                tracing::warn!(error = %e, session_id = session.id, "could not record session activity");
            }
        }
        Ok(Some(Principal {
            actor: Actor::User { id: user.id, admin: user.is_admin, external: user.external },
            user: Some(user),
            scopes: None,
            job_project: None,
            deploy_project: None,
            session_id: Some(session.id),
            address: Some(peer),
        }))
    }

    /// Deletes expired sessions (housekeeping); returns how many went.
    pub async fn sweep_sessions(&self) -> Result<u64> {
        Ok(self.sessions.store.delete_expired_sessions(self.clock.now()).await?)
    }
}

impl App {
    /// Ends the session the principal signed in with.
    pub async fn sign_out(&self, who: &Principal) -> Result<()> {
        let user = who.user()?;
        let id = who.session_id.ok_or(AppError::Unauthorized)?;
        match self.sessions.store.delete_session(user.id, id).await {
            Ok(()) | Err(autogit_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.audit(who, Entry::user(AuditAction::UserSignedOut, user)).await;
        Ok(())
    }

    /// The principal's own sessions, most recently active first.
    pub async fn list_sessions(&self, who: &Principal) -> Result<Vec<Session>> {
        let user = who.user()?;
        Ok(self.sessions.store.list_sessions(user.id).await?)
    }

    /// Ends one of the principal's own sessions.
    pub async fn revoke_session(&self, who: &Principal, id: i64) -> Result<()> {
        let user = who.user()?;
        self.sessions.store.delete_session(user.id, id).await.map_err(|e| match e {
            autogit_store::StoreError::NotFound(_) => AppError::NotFound("Session"),
            other => other.into(),
        })?;
        let entry = Entry::user(AuditAction::UserSessionsRevoked, user).target("ActiveSession", id, "one session");
        self.audit(who, entry).await;
        Ok(())
    }

    /// Ends every session of the principal but the one it uses now ("sign out everywhere
    /// else"); from a token, every session. Returns how many ended.
    pub async fn revoke_other_sessions(&self, who: &Principal) -> Result<u64> {
        let user = who.user()?;
        let ended = self.sessions.store.delete_user_sessions(user.id, who.session_id).await?;
        let entry =
            Entry::user(AuditAction::UserSessionsRevoked, user).target("ActiveSession", 0, format!("{ended} sessions"));
        self.audit(who, entry).await;
        Ok(ended)
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let (a, b) = (csrf_token("s1"), csrf_token("s2"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(same_token(&a, &csrf_token("s1")));
        assert!(!same_token(&a, &b) && !same_token(&a, "") && !same_token(&a, &a[..63]));
    }

    #[test]
    fn user_agents_are_cut_at_a_character_boundary() {
        assert_eq!(cut("abc", 2), "ab");
        assert_eq!(cut("é", 1), "");
        assert_eq!(cut(&"x".repeat(300), MAX_USER_AGENT_LEN).len(), MAX_USER_AGENT_LEN);
    }
}
