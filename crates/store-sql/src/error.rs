//! The one mapping from sqlx errors to [`StoreError`], and helpers for rows that fail to decode.
//!
//! Unique violations become `Conflict(field)`. The field is found from the violated index: its
//! name on PostgreSQL (`constraint()`), and the message on SQLite, which names expression indexes
//! (`index 'users_username_key'`) but plain column indexes by their columns (`tbl.col`); so each
//! entry below lists both spellings.

use autogit_store::StoreError;
use sqlx::error::ErrorKind;

/// (needles found in the constraint name or message, field reported in `Conflict`).
const UNIQUE_KEYS: &[(&[&str], &str)] = &[
    (&["users_username_key"], "username"),
    (&["users_email_key"], "email"),
    (&["namespaces_full_path_key", "namespaces.full_path_lower"], "path"),
    (&["namespaces_owner_key", "namespaces.owner_id"], "namespace"),
    (&["projects_path_key"], "path"),
    (&["members_source_user_key", "members.source_type"], "member"),
    (&["personal_access_tokens_digest_key", "personal_access_tokens.digest"], "digest"),
    (&["runners_token_digest_key", "runners.token_digest"], "token"),
    (&["jobs_token_digest_key", "jobs.token_digest"], "token"),
    (&["ci_variables_project_key", "ci_variables_group_key", "ci_variables.key"], "key"),
    (&["pipelines_project_iid_key", "pipelines.iid"], "iid"),
    (&["ci_job_artifacts_job_type_key", "ci_job_artifacts.job_id"], "file_type"),
    (&["ci_gpu_allocations_pkey", "ci_gpu_allocations.job_id"], "job"),
    (&["protected_branches_name_key", "protected_branches.project_id"], "name"),
    (&["protected_tags_name_key", "protected_tags.project_id"], "name"),
    (&["sessions_digest_key", "sessions.digest"], "digest"),
    (&["ssh_keys_fingerprint_key", "ssh_keys.fingerprint"], "fingerprint"),
    (&["external_identities_pkey", "external_identities.issuer"], "identity"),
    (&["external_identities_user_provider_key", "external_identities.user_id"], "provider"),
    (&["sign_in_attempts_pkey", "sign_in_attempts.digest"], "digest"),
];

/// Maps any sqlx error. Only constraint violations carry meaning for callers; everything else is
/// the backend failing, and its text is for logs.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) => match d.kind() {
            ErrorKind::UniqueViolation => {
                let haystack = format!("{} {}", d.constraint().unwrap_or_default(), d.message());
                let field = UNIQUE_KEYS
                    .iter()
                    .find(|(needles, _)| needles.iter().any(|n| haystack.contains(n)))
                    .map(|(_, field)| *field);
                match field {
                    Some(field) => StoreError::Conflict(field.to_string()),
                    None => {
                        tracing::warn!(error = %d, "unique violation on an index missing from UNIQUE_KEYS");
                        StoreError::Conflict("record".to_string())
                    }
                }
            }
            ErrorKind::ForeignKeyViolation => StoreError::Invalid("a referenced record does not exist".to_string()),
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => StoreError::Invalid(d.message().to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        },
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// A stored value that no longer parses (e.g. an unknown visibility): the database was changed
/// behind the store's back. Reported as unavailable because the caller cannot fix it.
pub(crate) fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("corrupt row: invalid {what} '{value}'"))
}

/// Renames the field of a `Conflict`, for writes where the clashing index means something more
/// specific to the caller (a personal namespace's path is the username).
pub(crate) fn conflict_as(field: &str) -> impl Fn(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(field.to_string()),
        other => other,
    }
}

/// `NotFound(what)` when an UPDATE or DELETE by id touched no row: the contract's rule for
/// methods that must change one record.
pub(crate) fn one_row(rows_affected: u64, what: &'static str) -> Result<(), StoreError> {
    if rows_affected == 0 { Err(StoreError::NotFound(what)) } else { Ok(()) }
}
