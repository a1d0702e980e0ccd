//! Sealing: round trips, tampering, bindings, keys, and bad input.

use super::*;
use crate::keyring::{KEY_LEN, Key};
use proptest::prelude::*;

fn ring(n: u8) -> Keyring {
    Keyring::new(Key::from_bytes([n; KEY_LEN]))
}

fn binding() -> Binding {
    Binding::column("ci_variables.value").part("project").part("7").part("TOKEN").part("*")
}

#[test]
fn round_trip_and_format() {
    let r = ring(1);
    let sealed = seal(&r, &binding(), "s3cr3t-value", [9; NONCE_LEN]);
    assert!(is_sealed(&sealed));
    assert!(sealed.starts_with(&format!("agsec:v1:{}:", r.current().id())), "{sealed}");
    assert!(!sealed.contains("s3cr3t"));
    assert_eq!(open(&r, &binding(), &sealed).as_deref(), Ok("s3cr3t-value"));
    assert_eq!(Sealed::parse(&sealed).expect("parses").key, r.current().id());
    assert_eq!(open(&r, &binding(), &seal(&r, &binding(), "", [0; NONCE_LEN])).as_deref(), Ok(""));
    let other_nonce = seal(&r, &binding(), "s3cr3t-value", [8; NONCE_LEN]);
    assert_ne!(sealed, other_nonce, "the nonce makes equal values differ");
}

#[test]
fn tampering_is_rejected() {
    let r = ring(1);
    let id = r.current().id();
    let sealed = seal(&r, &binding(), "value", [1; NONCE_LEN]);
    let (head, body) = sealed.rsplit_once(':').expect("has a body");
    let mut raw = URL_SAFE_NO_PAD.decode(body).expect("base64");
    for i in [0, NONCE_LEN, raw.len() - 1] {
        raw[i] ^= 1;
        let bad = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(open(&r, &binding(), &bad), Err(OpenError::Rejected(id)), "byte {i}");
        raw[i] ^= 1;
    }
    let truncated = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 1]));
    assert_eq!(open(&r, &binding(), &truncated), Err(OpenError::Rejected(id)));
}

#[test]
fn another_binding_does_not_open() {
    let r = ring(1);
    let id = r.current().id();
    let sealed = seal(&r, &binding(), "value", [1; NONCE_LEN]);
    let others = [
        Binding::column("ci_variables.value").part("project").part("8").part("TOKEN").part("*"),
        Binding::column("ci_variables.value").part("group").part("7").part("TOKEN").part("*"),
        Binding::column("ci_variables.value").part("project").part("7").part("OTHER").part("*"),
        Binding::column("ci_variables.value").part("project").part("7").part("TOKEN").part("production"),
        Binding::column("mirrors.password").part("project").part("7").part("TOKEN").part("*"),
        // Same bytes, different split: the length prefixes keep these apart.
        Binding::column("ci_variables.value").part("project").part("7").part("TOKEN*"),
        Binding::column("ci_variables.value").part("project").part("7T").part("OKEN").part("*"),
        Binding::column("ci_variables.value").part("project").part("7").part("TOKEN"),
    ];
    for b in others {
        assert_eq!(open(&r, &b, &sealed), Err(OpenError::Rejected(id)), "{b:?}");
    }
}

#[test]
fn keys_old_wrong_and_unknown() {
    let old = ring(1);
    let sealed = seal(&old, &binding(), "value", [1; NONCE_LEN]);
    let rotated = old.rotated(Key::from_bytes([2; KEY_LEN])).expect("rotates");
    assert_eq!(open(&rotated, &binding(), &sealed).as_deref(), Ok("value"), "old keys still open");
    let resealed = seal(&rotated, &binding(), "value", [2; NONCE_LEN]);
    assert_eq!(Sealed::parse(&resealed).expect("parses").key, rotated.current().id());
    let retired = rotated.retired();
    assert_eq!(open(&retired, &binding(), &sealed), Err(OpenError::UnknownKey(old.current().id())));
    assert_eq!(open(&retired, &binding(), &resealed).as_deref(), Ok("value"));
    // A keyring whose key claims the sealing key's id cannot exist (ids are derived), so a wrong
    // key shows up as an unknown id; a forged id header fails authentication.
    let forged = sealed.replace(&old.current().id().to_string(), &retired.current().id().to_string());
    assert_eq!(open(&retired, &binding(), &forged), Err(OpenError::Rejected(retired.current().id())));
}

#[test]
fn bad_input_is_a_clear_error() {
    let r = ring(1);
    let id = r.current().id();
    let body = URL_SAFE_NO_PAD.encode([0u8; NONCE_LEN + 16]);
    let cases: Vec<(String, OpenError)> = vec![
        ("plain value".into(), OpenError::NotSealed),
        (String::new(), OpenError::NotSealed),
        ("agsec:".into(), OpenError::Malformed("no version")),
        ("agsec:v2:abc".into(), OpenError::UnsupportedVersion("v2".into())),
        ("agsec:v1:".into(), OpenError::Malformed("no key id")),
        (format!("agsec:v1:XYZ:{body}"), OpenError::Malformed("the key id is not 8 lowercase hex digits")),
        (format!("agsec:v1:{id}:***"), OpenError::Malformed("the body is not base64url")),
        (format!("agsec:v1:{id}:{}", URL_SAFE_NO_PAD.encode([0u8; 39])), OpenError::Malformed("the body is too short")),
        (format!("agsec:v1:{id}:{body}"), OpenError::Rejected(id)),
        (format!("agsec:v1:{id}:{body}="), OpenError::Malformed("the body is not base64url")),
    ];
    for (text, want) in cases {
        assert_eq!(open(&r, &binding(), &text), Err(want), "{text:?}");
    }
}

proptest! {
    #[test]
    fn any_value_round_trips(value in "\\PC{0,200}", nonce in any::<[u8; NONCE_LEN]>(), key in any::<[u8; KEY_LEN]>()) {
        let r = Keyring::new(Key::from_bytes(key));
        let sealed = seal(&r, &binding(), &value, nonce);
        prop_assert_eq!(open(&r, &binding(), &sealed), Ok(value));
    }

    /// Arbitrary text never panics the parser or `open`, and never opens (no forgery by chance).
    #[test]
    fn arbitrary_text_never_opens(text in "(agsec:(v1:([0-9a-f]{8}:)?)?)?[A-Za-z0-9_:=-]{0,120}") {
        let r = ring(1);
        let _ = Sealed::parse(&text);
        prop_assert!(open(&r, &binding(), &text).is_err());
    }
}
