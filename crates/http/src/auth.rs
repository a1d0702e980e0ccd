//! Reads credentials from a request: `PRIVATE-TOKEN`, `Authorization: Bearer`, or HTTP Basic.

use autogit_app::Credentials;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;

/// Extracts credentials. A malformed `Authorization` header is an error rather than anonymous
/// access, so that a client bug does not silently downgrade to public-only results.
pub fn credentials(headers: &HeaderMap) -> Result<Credentials, &'static str> {
    if let Some(v) = headers.get("private-token") {
        let t = v.to_str().map_err(|_| "PRIVATE-TOKEN is not valid text")?.trim();
        return Ok(Credentials::Token(t.to_string()));
    }
    let Some(v) = headers.get(AUTHORIZATION) else { return Ok(Credentials::None) };
    let v = v.to_str().map_err(|_| "Authorization is not valid text")?.trim();
    let (scheme, rest) = v.split_once(' ').ok_or("Authorization header is malformed")?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Credentials::Token(rest.to_string()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw =
            base64::engine::general_purpose::STANDARD.decode(rest).map_err(|_| "Basic credentials are not base64")?;
        let text = String::from_utf8(raw).map_err(|_| "Basic credentials are not UTF-8")?;
        let (user, pass) = text.split_once(':').ok_or("Basic credentials lack a ':'")?;
        return Ok(Credentials::Basic { username: user.to_string(), password: pass.to_string() });
    }
    Err("unsupported Authorization scheme")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &'static str, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, v.parse().expect("header"));
        m
    }

    #[test]
    fn schemes() {
        assert!(matches!(credentials(&HeaderMap::new()), Ok(Credentials::None)));
        assert!(matches!(credentials(&h("private-token", "glpat-x")), Ok(Credentials::Token(t)) if t == "glpat-x"));
        assert!(matches!(credentials(&h("authorization", "Bearer abc")), Ok(Credentials::Token(t)) if t == "abc"));
        // "u:p:q" — the password may contain ':'
        assert!(matches!(credentials(&h("authorization", "Basic dTpwOnE=")),
            Ok(Credentials::Basic { username, password }) if username == "u" && password == "p:q"));
        assert!(credentials(&h("authorization", "Basic !!!")).is_err());
        assert!(credentials(&h("authorization", "Digest x")).is_err());
    }
}
