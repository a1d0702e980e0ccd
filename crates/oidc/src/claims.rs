//! The claims AutoGit reads: the standard ones from the verified ID token, the configured
//! username and groups claims from its payload (any claim name an administrator picks), and
//! userinfo when the ID token lacks the groups.

use autogit_app::{OidcClaims, ProviderError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::CoreIdTokenClaims;
use serde_json::{Map, Value};

/// The most groups read from a claim, and the longest group name kept.
const MAX_GROUPS: usize = 256;
const MAX_GROUP_LEN: usize = 255;

pub(crate) type Claims = Map<String, Value>;

/// The payload of a compact JWS (its signature checked by the caller before it trusts it).
pub(crate) fn payload(jwt: &str) -> Result<Claims, String> {
    let mut parts = jwt.split('.');
    let (Some(_), Some(body), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("not a signed JWT (three dot-separated parts)".into());
    };
    let bytes = URL_SAFE_NO_PAD.decode(body.trim_end_matches('=')).map_err(|e| format!("base64: {e}"))?;
    match serde_json::from_slice(&bytes).map_err(|e| format!("JSON: {e}"))? {
        Value::Object(m) => Ok(m),
        _ => Err("not a JSON object".into()),
    }
}

/// The claims of a verified ID token.
pub(crate) fn read(
    verified: &CoreIdTokenClaims,
    payload: &Claims,
    username_claim: &str,
    groups_claim: &str,
) -> OidcClaims {
    OidcClaims {
        issuer: verified.issuer().as_str().to_string(),
        subject: verified.subject().as_str().to_string(),
        username: payload.get(username_claim).and_then(Value::as_str).map(str::to_string),
        email: verified.email().map(|e| e.as_str().to_string()),
        email_verified: verified.email_verified().unwrap_or(false),
        name: verified.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string()),
        groups: groups(payload, groups_claim),
    }
}

/// The groups in `claim`: a list of strings (others ignored) or one string.
pub(crate) fn groups(claims: &Claims, claim: &str) -> Vec<String> {
    let keep = |s: &str| !s.is_empty() && s.len() <= MAX_GROUP_LEN;
    match claims.get(claim) {
        Some(Value::Array(items)) => {
            items.iter().filter_map(Value::as_str).filter(|s| keep(s)).take(MAX_GROUPS).map(str::to_string).collect()
        }
        Some(Value::String(s)) if keep(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The userinfo answer for `access_token` (JSON; a signed userinfo answer is not read).
pub(crate) async fn userinfo(
    http: &reqwest::Client,
    endpoint: &str,
    access_token: &str,
    max: usize,
) -> Result<Claims, ProviderError> {
    let unavailable = |m: String| ProviderError::Unavailable(format!("userinfo at {endpoint}: {m}"));
    let mut resp = http
        .get(endpoint)
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(unavailable(format!("answered {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| unavailable(e.to_string()))? {
        if body.len() + chunk.len() > max {
            return Err(unavailable(format!("the answer is over {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(unavailable("the answer is not a JSON object".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(payload: &Value) -> String {
        format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(payload.to_string()))
    }

    #[test]
    fn payloads_are_read_and_malformed_ones_refused() {
        let p = payload(&jwt(&json!({"sub": "a", "groups": ["x"]}))).expect("payload");
        assert_eq!(p.get("sub"), Some(&json!("a")));
        for bad in ["", "a.b", "a.b.c.d", "a.%%%.c", &format!("a.{}.c", URL_SAFE_NO_PAD.encode("[1]"))] {
            assert!(payload(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn groups_take_lists_or_one_string_and_are_bounded() {
        let c = |v: Value| -> Claims { serde_json::from_value(json!({ "groups": v })).expect("map") };
        assert_eq!(groups(&c(json!(["dev", 3, "ops", ""])), "groups"), vec!["dev", "ops"]);
        assert_eq!(groups(&c(json!("admins")), "groups"), vec!["admins"]);
        assert!(groups(&c(json!({"a": 1})), "groups").is_empty());
        assert!(groups(&c(json!(["dev"])), "roles").is_empty());
        let many: Vec<String> = (0..1000).map(|i| format!("g{i}")).collect();
        assert_eq!(groups(&c(json!(many)), "groups").len(), MAX_GROUPS);
        assert!(groups(&c(json!(["x".repeat(300)])), "groups").is_empty());
    }
}
