//! The words of the audit log: what happened (`AuditAction`) and to what kind of record
//! (`AuditEntity`), spelled as the API answers them and as the store keeps them.
//!
//! An audit event says who did what, when and from where; it never holds a secret (no password,
//! token, session or key material: a token is named by its id and name, a key by its
//! fingerprint).

use crate::ci::{ParseError, gitlab_words};
use std::fmt;
use std::str::FromStr;

gitlab_words! {
    /// What an audit event records. The spelling is GitLab's `event_name` where GitLab has the
    /// event, else one in the same style.
    AuditAction ("audit action") {
        /// A browser signed in with a password (a session was created).
        UserSignedIn = "user_signed_in",
        /// A browser session ended by its user.
        UserSignedOut = "user_signed_out",
        /// A password sign-in was refused: wrong password, unknown user or a locked account.
        UserSignInFailed = "user_sign_in_failed",
        /// A user ended their other sessions, or one of them.
        UserSessionsRevoked = "user_sessions_revoked",
        UserCreated = "user_created",
        PersonalAccessTokenCreated = "personal_access_token_created",
        PersonalAccessTokenRevoked = "personal_access_token_revoked",
        MemberAdded = "member_created",
        MemberUpdated = "member_updated",
        MemberRemoved = "member_destroyed",
        ProjectCreated = "project_created",
        ProjectDeleted = "project_destroyed",
        ProjectVisibilityChanged = "project_visibility_level_updated",
        GroupCreated = "group_created",
        RunnerRegistered = "ci_runner_registered",
        SshKeyAdded = "user_ssh_key_added",
        SshKeyRemoved = "user_ssh_key_removed",
        DeployKeyAdded = "deploy_key_added",
        DeployKeyRemoved = "deploy_key_removed",
        /// An account was linked to an identity provider's subject (OpenID Connect).
        IdentityLinked = "user_identity_linked",
    }
}

gitlab_words! {
    /// The kind of record an audit event belongs to (GitLab's `entity_type`).
    AuditEntity ("audit entity type") {
        User = "User",
        Project = "Project",
        Group = "Group",
        /// The instance as a whole (GitLab's instance scope).
        Instance = "Gitlab::Audit::InstanceScope",
    }
}

impl AuditAction {
    /// The sentence an administrator reads for the event (GitLab's `custom_message`).
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            AuditAction::UserSignedIn => "Signed in with standard authentication",
            AuditAction::UserSignedOut => "Signed out",
            AuditAction::UserSignInFailed => "Failed to sign in with standard authentication",
            AuditAction::UserSessionsRevoked => "Revoked browser sessions",
            AuditAction::UserCreated => "User created",
            AuditAction::PersonalAccessTokenCreated => "Created personal access token",
            AuditAction::PersonalAccessTokenRevoked => "Revoked personal access token",
            AuditAction::MemberAdded => "Added member",
            AuditAction::MemberUpdated => "Changed member access level",
            AuditAction::MemberRemoved => "Removed member",
            AuditAction::ProjectCreated => "Project created",
            AuditAction::ProjectDeleted => "Project deleted",
            AuditAction::ProjectVisibilityChanged => "Changed visibility",
            AuditAction::GroupCreated => "Group created",
            AuditAction::RunnerRegistered => "Registered runner",
            AuditAction::SshKeyAdded => "Added SSH key",
            AuditAction::SshKeyRemoved => "Removed SSH key",
            AuditAction::DeployKeyAdded => "Added deploy key",
            AuditAction::DeployKeyRemoved => "Removed deploy key",
            AuditAction::IdentityLinked => "Linked an external identity",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_ones_are_named() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>().ok(), Some(*a));
            assert!(!a.message().is_empty());
        }
        for e in AuditEntity::ALL {
            assert_eq!(e.as_str().parse::<AuditEntity>().ok(), Some(*e));
        }
        let err = "user_hacked".parse::<AuditAction>().expect_err("unknown");
        assert!(err.to_string().contains("user_hacked"), "{err}");
    }
}
