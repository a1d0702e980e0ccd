//! The `Git-Protocol` HTTP header. Clients use it to ask for protocol v2 (`version=2`); git's
//! HTTP backend hands it to upload-pack/receive-pack as the `GIT_PROTOCOL` environment variable.
//! Because it ends up in a child's environment, only a conservative grammar is let through:
//! colon-separated `key` or `key=value` items, keys of `[A-Za-z0-9._-]`, values of visible ASCII.

use super::PktError;

/// Longest header accepted; real clients send a dozen bytes.
pub const MAX_GIT_PROTOCOL_LEN: usize = 256;

/// Validates a `Git-Protocol` header value and returns it, ready to be passed as `GIT_PROTOCOL`.
pub fn validate_git_protocol(header: &str) -> Result<String, PktError> {
    let bad = |why| Err(PktError::BadProtocolHeader(why));
    if header.is_empty() {
        return bad("empty");
    }
    if header.len() > MAX_GIT_PROTOCOL_LEN {
        return bad("too long");
    }
    for item in header.split(':') {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        if key.is_empty() {
            return bad("empty key");
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return bad("invalid character in key");
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return bad("invalid character in value");
        }
    }
    Ok(header.to_owned())
}

/// The protocol version a `GIT_PROTOCOL` value asks for, decided as git does: the highest
/// recognised `version=<n>` item wins, unknown versions are ignored, and no item means v0.
pub fn protocol_version(git_protocol: Option<&str>) -> u8 {
    git_protocol
        .into_iter()
        .flat_map(|p| p.split(':'))
        .filter_map(|item| match item.strip_prefix("version=") {
            Some("0") => Some(0),
            Some("1") => Some(1),
            Some("2") => Some(2),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_headers() {
        for ok in ["version=2", "version=1", "version=2:object-format=sha256", "flag", "a.b_c-d=", "k=v:k2"] {
            assert_eq!(validate_git_protocol(ok).as_deref(), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn rejects_junk() {
        let long = "k=".to_owned() + &"v".repeat(300);
        for bad in ["", ":", "version=2:", "=2", "ver sion=2", "version=2 ", "k=v\n", "k=\u{e9}", "k\u{0}=1", &long] {
            assert!(validate_git_protocol(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(protocol_version(None), 0);
        assert_eq!(protocol_version(Some("version=2")), 2);
        assert_eq!(protocol_version(Some("version=1:version=2")), 2);
        assert_eq!(protocol_version(Some("version=2:version=1")), 2);
        assert_eq!(protocol_version(Some("version=3")), 0);
        assert_eq!(protocol_version(Some("foo=version=2")), 0);
    }
}
