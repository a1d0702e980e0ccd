//! CI/CD variables of projects and groups (`/projects/:id/variables`, `/groups/:id/variables`).
//!
//! Everything, reading included, needs Maintainer on the owner (or an administrator), as in
//! GitLab: values are secrets. Validation follows GitLab's models: keys are letters, digits and
//! `_`; masked values are one line of at least 8 characters from the Base64 alphabet plus
//! `@ : . ~ -`; a key is unique per owner and environment scope.
//!
//! Values are sealed before they reach the store, bound to (owner, key, environment scope), and
//! opened on the way out (`crate::secrets`); a change of scope re-seals the value.

use crate::{App, AppError, Principal, Result, Source};
use autogit_core::access::Action;
use autogit_store::{CiVariable, Listed, NewVariable, Page, StoreError, VariableOwner, VariableUpdate};

/// The scope a variable applies to unless told otherwise: every environment.
pub const DEFAULT_ENVIRONMENT_SCOPE: &str = "*";
/// GitLab's limits on the fields of a variable.
pub const MAX_KEY_LEN: usize = 255;
pub const MAX_VALUE_LEN: usize = 10_000;
pub const MAX_SCOPE_LEN: usize = 255;
pub const MAX_DESCRIPTION_LEN: usize = 255;
/// The shortest value that may be masked.
pub const MIN_MASKED_LEN: usize = 8;
/// The types a variable may have.
pub const VARIABLE_TYPES: [&str; 2] = ["env_var", "file"];

/// GitLab's answer when a key exists in several scopes and the request named none.
const MULTIPLE_SCOPES: &str =
    "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'";

#[derive(Debug, Clone, Default)]
pub struct CreateVariable {
    pub key: String,
    pub value: String,
    /// `env_var` (the default) or `file`.
    pub variable_type: Option<String>,
    pub protected: bool,
    pub masked: bool,
    pub raw: bool,
    /// Defaults to `*`.
    pub environment_scope: Option<String>,
    pub description: Option<String>,
}

/// The fields that are `Some` are changed; the key is what the request addresses.
#[derive(Debug, Clone, Default)]
pub struct UpdateVariable {
    pub value: Option<String>,
    pub variable_type: Option<String>,
    pub protected: Option<bool>,
    pub masked: Option<bool>,
    pub raw: Option<bool>,
    pub environment_scope: Option<String>,
    pub description: Option<String>,
}

impl App {
    /// The owner a request addresses, once the principal is known to maintain it. Non-members of
    /// a private project or group get its `404`, members below Maintainer `403`.
    async fn variable_owner(&self, who: &Principal, source: Source<'_>) -> Result<VariableOwner> {
        who.user()?;
        match source {
            Source::Project(r) => {
                let (p, _) = self.get_project(who, r, Action::Manage).await?;
                Ok(VariableOwner::Project(p.id))
            }
            Source::Group(r) => {
                let g = self.get_group(who, r).await?;
                self.authorize_namespace(who, &g, Action::Manage).await?;
                Ok(VariableOwner::Group(g.id))
            }
        }
    }

    /// The owner's variables, by id.
    pub async fn list_variables(&self, who: &Principal, source: Source<'_>, page: Page) -> Result<Listed<CiVariable>> {
        let owner = self.variable_owner(who, source).await?;
        let listed = self.store.list_variables(owner, page).await?;
        let items = listed.items.into_iter().map(|v| self.open_variable(v)).collect::<Result<_>>()?;
        Ok(Listed { items, total: listed.total })
    }

    /// One variable; `scope` picks one when the key exists in several environment scopes
    /// (without it that is a `409`, as in GitLab).
    pub async fn get_variable(
        &self,
        who: &Principal,
        source: Source<'_>,
        key: &str,
        scope: Option<&str>,
    ) -> Result<CiVariable> {
        let owner = self.variable_owner(who, source).await?;
        self.find_variable(owner, key, scope).await
    }

    /// The variable with its value opened, or `404 Variable Not Found`.
    async fn find_variable(&self, owner: VariableOwner, key: &str, scope: Option<&str>) -> Result<CiVariable> {
        let v = self.find_sealed_variable(owner, key, scope).await?;
        self.open_variable(v)
    }

    /// The stored variable, value still sealed.
    async fn find_sealed_variable(&self, owner: VariableOwner, key: &str, scope: Option<&str>) -> Result<CiVariable> {
        self.store.variable(owner, key, scope).await.map_err(variable_error(key))?.ok_or(AppError::NotFound("Variable"))
    }

    pub async fn create_variable(
        &self,
        who: &Principal,
        source: Source<'_>,
        req: CreateVariable,
    ) -> Result<CiVariable> {
        let owner = self.variable_owner(who, source).await?;
        validate_key(&req.key)?;
        let variable_type = req.variable_type.unwrap_or_else(|| VARIABLE_TYPES[0].to_string());
        validate_type(&variable_type)?;
        validate_value(&req.value, req.masked)?;
        let environment_scope = req.environment_scope.unwrap_or_else(|| DEFAULT_ENVIRONMENT_SCOPE.to_string());
        validate_scope(&environment_scope)?;
        if let Some(d) = &req.description {
            validate_description(d)?;
        }
        let value = self.seal_variable_value(owner, &req.key, &environment_scope, &req.value)?;
        let new = NewVariable {
            owner,
            key: req.key,
            value,
            variable_type,
            protected: req.protected,
            masked: req.masked,
            raw: req.raw,
            environment_scope,
            description: req.description,
        };
        let created = self.store.create_variable(&new).await.map_err(variable_error(&new.key))?;
        self.open_variable(created)
    }

    /// Changes the variable `key` (in `scope`, when given). A new `environment_scope` moves it;
    /// the masking rules apply to the value and masked flag it ends up with.
    pub async fn update_variable(
        &self,
        who: &Principal,
        source: Source<'_>,
        key: &str,
        scope: Option<&str>,
        req: UpdateVariable,
    ) -> Result<CiVariable> {
        let owner = self.variable_owner(who, source).await?;
        let current = self.find_variable(owner, key, scope).await?;
        if let Some(t) = &req.variable_type {
            validate_type(t)?;
        }
        if let Some(s) = &req.environment_scope {
            validate_scope(s)?;
        }
        if let Some(d) = &req.description {
            validate_description(d)?;
        }
        let value = req.value.as_deref().unwrap_or(&current.value);
        validate_value(value, req.masked.unwrap_or(current.masked))?;
        // Sealed again on every update: the binding includes the scope, which may change, and a
        // fresh nonce makes the stored text change with each write (what re-sealing compares).
        let scope_after = req.environment_scope.as_deref().unwrap_or(&current.environment_scope);
        let sealed = self.seal_variable_value(owner, key, scope_after, value)?;
        let update = VariableUpdate {
            value: Some(sealed),
            variable_type: req.variable_type,
            protected: req.protected,
            masked: req.masked,
            raw: req.raw,
            environment_scope: req.environment_scope,
            description: req.description.map(Some),
        };
        let updated = self
            .store
            .update_variable(owner, key, Some(&current.environment_scope), &update)
            .await
            .map_err(variable_error(key))?;
        self.open_variable(updated)
    }

    pub async fn delete_variable(
        &self,
        who: &Principal,
        source: Source<'_>,
        key: &str,
        scope: Option<&str>,
    ) -> Result<()> {
        let owner = self.variable_owner(who, source).await?;
        self.store.delete_variable(owner, key, scope).await.map_err(variable_error(key))
    }
}

/// Store errors in GitLab's words: a missing variable is `404 Variable Not Found`, a taken
/// (key, scope) the `400` GitLab's uniqueness validation gives, an ambiguous key its `409`.
fn variable_error(key: &str) -> impl FnOnce(StoreError) -> AppError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => AppError::NotFound("Variable"),
        StoreError::Conflict(field) if field == "environment_scope" => {
            AppError::Conflict(field, MULTIPLE_SCOPES.to_string())
        }
        StoreError::Conflict(_) => AppError::Invalid("key", format!("({key}) has already been taken")),
        other => other.into(),
    }
}

/// `^[a-zA-Z0-9_]+$`, at most 255 characters.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(AppError::Invalid("key", "can't be blank".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(AppError::Invalid("key", format!("is too long (maximum is {MAX_KEY_LEN} characters)")));
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(AppError::Invalid("key", "can contain only letters, digits and '_'.".into()));
    }
    Ok(())
}

fn validate_type(t: &str) -> Result<()> {
    if VARIABLE_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(AppError::Invalid("variable_type", format!("'{t}' is not env_var or file")))
    }
}

/// The length limit always; the masking rules when the variable is (or becomes) masked.
pub fn validate_value(value: &str, masked: bool) -> Result<()> {
    if value.chars().count() > MAX_VALUE_LEN {
        return Err(AppError::Invalid("value", format!("is too long (maximum is {MAX_VALUE_LEN} characters)")));
    }
    if !masked {
        return Ok(());
    }
    if value.contains(['\n', '\r']) {
        return Err(AppError::Invalid("value", "cannot be masked: it must be a single line".into()));
    }
    if value.chars().count() < MIN_MASKED_LEN {
        return Err(AppError::Invalid(
            "value",
            format!("cannot be masked: it must be at least {MIN_MASKED_LEN} characters long"),
        ));
    }
    // The Base64 alphabet of RFC 4648 (both variants, so `+ / _ -` and `=` padding) plus `@ : . ~`.
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "+/=_-@:.~".contains(c)) {
        return Err(AppError::Invalid(
            "value",
            "cannot be masked: it may contain only the Base64 alphabet (RFC4648), plus '@', ':', '.', '~' and '-'"
                .into(),
        ));
    }
    Ok(())
}

/// GitLab's environment scope: letters, digits and `- _ / $ { } . *` and spaces.
fn validate_scope(scope: &str) -> Result<()> {
    if scope.is_empty() {
        return Err(AppError::Invalid("environment_scope", "can't be blank".into()));
    }
    if scope.len() > MAX_SCOPE_LEN {
        return Err(AppError::Invalid(
            "environment_scope",
            format!("is too long (maximum is {MAX_SCOPE_LEN} characters)"),
        ));
    }
    if !scope.chars().all(|c| c.is_ascii_alphanumeric() || "-_/${}. *".contains(c)) {
        return Err(AppError::Invalid(
            "environment_scope",
            "can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', '*' and spaces".into(),
        ));
    }
    Ok(())
}

fn validate_description(d: &str) -> Result<()> {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(AppError::Invalid(
            "description",
            format!("is too long (maximum is {MAX_DESCRIPTION_LEN} characters)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<()>) -> Option<(&'static str, String)> {
        match r {
            Ok(()) => None,
            Err(AppError::Invalid(f, m)) => Some((f, m)),
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }

    #[test]
    fn keys() {
        assert!(validate_key("DEPLOY_TOKEN_2").is_ok());
        assert!(validate_key(&"K".repeat(MAX_KEY_LEN)).is_ok());
        for bad in ["", "has-dash", "has space", "dot.ted", "ünï", "a/b"] {
            assert_eq!(field(validate_key(bad)).map(|(f, _)| f), Some("key"), "{bad:?}");
        }
        let (_, m) = field(validate_key(&"K".repeat(MAX_KEY_LEN + 1))).expect("too long");
        assert!(m.contains("too long"), "{m}");
    }

    #[test]
    fn masked_values() {
        assert!(validate_value("short", false).is_ok(), "unmasked values are free-form");
        assert!(validate_value("two\nlines", false).is_ok());
        assert!(validate_value("c2VjcmV0LXZhbHVl==", true).is_ok());
        assert!(validate_value("user@host:path.x~y-z_+/", true).is_ok());
        let (f, m) = field(validate_value("short", true)).expect("too short");
        assert_eq!(f, "value");
        assert!(m.contains("at least 8"), "{m}");
        let (_, m) = field(validate_value("line-one\nline-two", true)).expect("multi-line");
        assert!(m.contains("single line"), "{m}");
        let (_, m) = field(validate_value("has a space!", true)).expect("bad characters");
        assert!(m.contains("Base64"), "{m}");
        assert!(field(validate_value(&"x".repeat(MAX_VALUE_LEN + 1), false)).is_some());
    }

    #[test]
    fn scopes_and_types() {
        for ok in ["*", "production", "review/*", "staging ${CI}"] {
            assert!(validate_scope(ok).is_ok(), "{ok}");
        }
        assert!(validate_scope("").is_err());
        assert!(validate_scope("prod;rm").is_err());
        assert!(validate_type("env_var").is_ok() && validate_type("file").is_ok());
        assert_eq!(field(validate_type("secret")).map(|(f, _)| f), Some("variable_type"));
    }
}
