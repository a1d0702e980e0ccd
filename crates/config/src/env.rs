//! The `AUTOGIT_*` environment layer: an explicit table from variable to config key, so every
//! variable is documented and typed, and a typo in a known prefix is reported instead of ignored.

use crate::ConfigError;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    /// Comma-separated in the variable, a TOML array of strings in the table.
    List,
    /// `true`/`false` (also `1`/`0`).
    Bool,
}

/// Every environment variable the server reads, with the key it sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("AUTOGIT_DATA_DIR", "data_dir"),
    ("AUTOGIT_LISTEN", "listen"),
    ("AUTOGIT_EXTERNAL_URL", "external_url"),
    ("AUTOGIT_ROOT_PASSWORD", "initial_root_password"),
    ("AUTOGIT_DATABASE_URL", "database.url"),
    ("AUTOGIT_DATABASE_SQLITE_SYNCHRONOUS", "database.sqlite_synchronous"),
    ("AUTOGIT_GIT_BINARY", "git.binary"),
    ("AUTOGIT_GIT_MAX_PUSH_BYTES", "git.max_push_bytes"),
    ("AUTOGIT_GIT_MAX_FETCH_REQUEST_BYTES", "git.max_fetch_request_bytes"),
    ("AUTOGIT_GIT_MIN_FREE_BYTES", "git.min_free_bytes"),
    ("AUTOGIT_LOG_LEVEL", "log.level"),
    ("AUTOGIT_LOG_FORMAT", "log.format"),
    ("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", "ci.builtin_runner_concurrent"),
    ("AUTOGIT_CI_LONG_POLL_SECONDS", "ci.long_poll_seconds"),
    ("AUTOGIT_CI_LEASE_TIMEOUT_SECONDS", "ci.lease_timeout_seconds"),
    ("AUTOGIT_CI_MAX_TRACE_BYTES", "ci.max_trace_bytes"),
    ("AUTOGIT_CI_MAX_ARTIFACTS_BYTES", "ci.max_artifacts_bytes"),
    ("AUTOGIT_CI_REGISTRATION_TOKEN", "ci.registration_token"),
    ("AUTOGIT_CI_BUILTIN_RUNNER_MODE", "ci.builtin_runner_mode"),
    ("AUTOGIT_CI_SANDBOX_MEMORY_MIB", "ci.sandbox.memory_mib"),
    ("AUTOGIT_CI_SANDBOX_MAX_PROCESSES", "ci.sandbox.max_processes"),
    ("AUTOGIT_CI_SANDBOX_DISK_MIB", "ci.sandbox.disk_mib"),
    ("AUTOGIT_CI_SANDBOX_TMP_MIB", "ci.sandbox.tmp_mib"),
    ("AUTOGIT_CI_SANDBOX_UID_BASE", "ci.sandbox.uid_base"),
    ("AUTOGIT_HTTP_HEADER_READ_TIMEOUT_SECONDS", "http.header_read_timeout_seconds"),
    ("AUTOGIT_HTTP_IDLE_TIMEOUT_SECONDS", "http.idle_timeout_seconds"),
    ("AUTOGIT_HTTP_MAX_CONNECTIONS", "http.max_connections"),
    ("AUTOGIT_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "http.max_connections_per_address"),
    ("AUTOGIT_HTTP_SHUTDOWN_TIMEOUT_SECONDS", "http.shutdown_timeout_seconds"),
    ("AUTOGIT_METRICS_ALLOWED_ADDRESSES", "metrics.allowed_addresses"),
    ("AUTOGIT_METRICS_TOKEN", "metrics.token"),
    ("AUTOGIT_TLS_CERT_FILE", "tls.cert_file"),
    ("AUTOGIT_TLS_KEY_FILE", "tls.key_file"),
    ("AUTOGIT_TLS_RELOAD_SECONDS", "tls.reload_seconds"),
    ("AUTOGIT_TLS_REDIRECT_LISTEN", "tls.redirect_listen"),
    ("AUTOGIT_TLS_CLIENT_CA_FILE", "tls.client_ca_file"),
    ("AUTOGIT_TLS_RUNNER_LISTEN", "tls.runner_listen"),
    ("AUTOGIT_TLS_REQUIRE_RUNNER_CERTIFICATES", "tls.require_runner_certificates"),
    ("AUTOGIT_SSH_LISTEN", "ssh.listen"),
    ("AUTOGIT_SSH_EXTERNAL_HOST", "ssh.external_host"),
    ("AUTOGIT_SSH_EXTERNAL_PORT", "ssh.external_port"),
    ("AUTOGIT_SSH_MAX_CONNECTIONS", "ssh.max_connections"),
    ("AUTOGIT_SSH_MAX_CONNECTIONS_PER_ADDRESS", "ssh.max_connections_per_address"),
    ("AUTOGIT_SSH_TIMEOUT_SECONDS", "ssh.timeout_seconds"),
    ("AUTOGIT_WEBHOOKS_TIMEOUT_SECONDS", "webhooks.timeout_seconds"),
    ("AUTOGIT_WEBHOOKS_BACKOFF_SECONDS", "webhooks.backoff_seconds"),
    ("AUTOGIT_AUTH_PASSWORD_CHECKS", "auth.password_checks"),
    ("AUTOGIT_AUTH_PASSWORD_QUEUE", "auth.password_queue"),
    ("AUTOGIT_AUTH_PASSWORD_QUEUE_WAIT_MS", "auth.password_queue_wait_ms"),
    ("AUTOGIT_AUTH_MAX_TRACKED_KEYS", "auth.max_tracked_keys"),
    ("AUTOGIT_AUTH_SESSION_EXPIRE_MINUTES", "auth.session_expire_minutes"),
    ("AUTOGIT_AUTH_SESSION_LIFETIME_MINUTES", "auth.session_lifetime_minutes"),
    ("AUTOGIT_AUTH_MAX_SESSIONS_PER_USER", "auth.max_sessions_per_user"),
    ("AUTOGIT_AUTH_PROXY_ENABLED", "auth.proxy.enabled"),
    ("AUTOGIT_AUTH_PROXY_TRUSTED_PROXIES", "auth.proxy.trusted_proxies"),
    ("AUTOGIT_AUTH_PROXY_AUTO_CREATE_USERS", "auth.proxy.auto_create_users"),
    ("AUTOGIT_AUTH_ADMIN_GROUPS", "auth.admin_groups"),
    ("AUTOGIT_AUTH_ACCOUNT_MAX_FAILURES", "auth.account.max_failures"),
    ("AUTOGIT_AUTH_ACCOUNT_WINDOW_SECONDS", "auth.account.window_seconds"),
    ("AUTOGIT_AUTH_ACCOUNT_LOCK_SECONDS", "auth.account.lock_seconds"),
    ("AUTOGIT_AUTH_ACCOUNT_MAX_LOCK_SECONDS", "auth.account.max_lock_seconds"),
    ("AUTOGIT_AUTH_ADDRESS_MAX_FAILURES", "auth.address.max_failures"),
    ("AUTOGIT_AUTH_ADDRESS_WINDOW_SECONDS", "auth.address.window_seconds"),
    ("AUTOGIT_AUTH_ADDRESS_LOCK_SECONDS", "auth.address.lock_seconds"),
    ("AUTOGIT_AUTH_ADDRESS_MAX_LOCK_SECONDS", "auth.address.max_lock_seconds"),
    ("AUTOGIT_SECRETS_KEY_FILE", "secrets.key_file"),
    ("AUTOGIT_SECRETS_KEY", "secrets.key"),
];

/// Variables with the prefix that belong to other tools (tests, scripts, the runner) or to the
/// command line (`AUTOGIT_CONFIG` names the file) and are not config keys.
const NOT_CONFIG_PREFIXES: &[&str] = &["AUTOGIT_TEST_", "AUTOGIT_BENCH_", "AUTOGIT_RUNNER_"];
const NOT_CONFIG: &[&str] = &["AUTOGIT_CONFIG", "AUTOGIT_BIN"];

/// Keys whose value is text although their section holds numbers.
const STR_KEYS: &[&str] = &["ci.registration_token", "ci.builtin_runner_mode"];
/// Keys whose value is a list of strings.
const LIST_KEYS: &[&str] = &["metrics.allowed_addresses", "auth.proxy.trusted_proxies", "auth.admin_groups"];

/// Keys whose value is a boolean.
const BOOL_KEYS: &[&str] = &["auth.proxy.enabled", "auth.proxy.auto_create_users", "tls.require_runner_certificates"];

fn kind_of(key: &str) -> Kind {
    if BOOL_KEYS.contains(&key) {
        Kind::Bool
    } else if STR_KEYS.contains(&key) {
        Kind::Str
    } else if LIST_KEYS.contains(&key) {
        Kind::List
    } else if key.starts_with("git.max_")
        || key.starts_with("git.min_")
        || key.starts_with("ci.")
        || key.starts_with("http.")
        || key.starts_with("auth.")
        || key == "tls.reload_seconds"
        || key.starts_with("webhooks.")
        || (key.starts_with("ssh.") && !matches!(key, "ssh.listen" | "ssh.external_host"))
    {
        Kind::Int
    } else {
        Kind::Str
    }
}

/// Applies the known variables to `table`. Returns a warning for each unknown `AUTOGIT_*`
/// variable: a typo should be visible, but scripts' own variables must not stop the server.
pub(crate) fn apply(table: &mut toml::Table, env: &[(String, String)]) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for (var, value) in env {
        if !var.starts_with("AUTOGIT_")
            || NOT_CONFIG.contains(&var.as_str())
            || NOT_CONFIG_PREFIXES.iter().any(|p| var.starts_with(p))
        {
            continue;
        }
        let Some((_, key)) = ENV_VARS.iter().find(|(v, _)| v == var) else {
            let known: Vec<&str> = ENV_VARS.iter().map(|(v, _)| *v).collect();
            warnings.push(format!(
                "environment variable {var} is not a setting and is ignored; known ones are {}",
                known.join(", ")
            ));
            continue;
        };
        let parsed = match kind_of(key) {
            Kind::Str => toml::Value::String(value.clone()),
            Kind::Int => value.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| ConfigError::Env {
                var: var.clone(),
                message: format!("expected a whole number, got {value:?}"),
            })?,
            Kind::Bool => match value.trim() {
                "true" | "1" => toml::Value::Boolean(true),
                "false" | "0" => toml::Value::Boolean(false),
                _ => {
                    return Err(ConfigError::Env {
                        var: var.clone(),
                        message: format!("expected true or false, got {value:?}"),
                    });
                }
            },
            Kind::List => toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| toml::Value::String(item.to_string()))
                    .collect(),
            ),
        };
        set(table, key, parsed);
    }
    Ok(warnings)
}

fn set(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or(dotted);
    let mut cur = table;
    for p in parts {
        let entry = cur.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => unreachable!("replaced by a table just above"),
        };
    }
    cur.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_token_is_text() {
        let mut table = toml::Table::new();
        let env = vec![
            ("AUTOGIT_CI_REGISTRATION_TOKEN".to_string(), "GR1348941secret".to_string()),
            ("AUTOGIT_CI_LONG_POLL_SECONDS".to_string(), "5".to_string()),
        ];
        apply(&mut table, &env).expect("applies");
        let ci = table["ci"].as_table().expect("ci table");
        assert_eq!(ci["registration_token"].as_str(), Some("GR1348941secret"));
        assert_eq!(ci["long_poll_seconds"].as_integer(), Some(5));
        let (c, _) = crate::Config::load(None, &env).expect("valid");
        assert_eq!(c.ci.registration_token.expose(), "GR1348941secret");
        assert!(!format!("{c:?}").contains("GR1348941secret"), "the token is redacted");
    }

    #[test]
    fn lists_are_comma_separated() {
        let env = |v: &str| vec![("AUTOGIT_METRICS_ALLOWED_ADDRESSES".to_string(), v.to_string())];
        let (c, _) = crate::Config::load(None, &env(" 10.0.0.0/8, ::1 ,,192.168.1.5")).expect("valid");
        assert_eq!(c.metrics.allowed_addresses, ["10.0.0.0/8", "::1", "192.168.1.5"]);
        let (c, _) = crate::Config::load(None, &env("")).expect("valid");
        assert!(c.metrics.allowed_addresses.is_empty(), "an empty variable allows no address");
        let e = crate::Config::load(None, &env("10.0.0.0/8,nowhere")).expect_err("bad entry");
        assert!(e.to_string().contains("metrics.allowed_addresses[1] = \"nowhere\""), "{e}");
    }
}
