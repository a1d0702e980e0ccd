//! Keyring parsing, rendering and rotation.

use super::*;
use proptest::prelude::*;

fn key(n: u8) -> Key {
    Key::from_bytes([n; KEY_LEN])
}

#[test]
fn ids_are_derived_from_the_key_and_stable() {
    assert_eq!(key(1).id(), key(1).id());
    assert_ne!(key(1).id(), key(2).id());
    let id = key(1).id().to_string();
    assert_eq!(id.len(), 8);
    assert_eq!(KeyId::parse(&id), Some(key(1).id()));
    for bad in ["", "1234567", "123456789", "ABCDEF12", "zzzzzzzz", "1234 678"] {
        assert_eq!(KeyId::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn render_and_parse_round_trip_and_never_print_keys() {
    let ring = Keyring::new(key(1)).rotated(key(2)).expect("new key");
    let text = ring.render();
    let back = Keyring::parse(&text).expect("parses");
    assert_eq!(back, ring);
    assert_eq!(back.current().id(), key(2).id());
    assert_eq!(back.ids(), vec![key(2).id(), key(1).id()]);
    let debug = format!("{ring:?} {:?}", ring.current());
    let b64 = STANDARD.encode([2u8; KEY_LEN]);
    assert!(text.contains(&b64));
    assert!(!debug.contains(&b64) && !debug.contains("2, 2, 2"), "{debug}");
}

#[test]
fn rotation_and_retirement() {
    let ring = Keyring::new(key(1));
    assert_eq!(ring.rotated(key(1)).err(), Some(KeyringError::Duplicate(key(1).id())));
    let rotated = ring.rotated(key(2)).expect("rotates");
    assert!(rotated.get(key(1).id()).is_some(), "the old key still opens");
    let retired = rotated.retired();
    assert_eq!(retired.ids(), vec![key(2).id()]);
    assert!(retired.get(key(1).id()).is_none());
}

#[test]
fn bad_keyring_files_name_the_problem() {
    let k1 = STANDARD.encode([1u8; KEY_LEN]);
    let id1 = key(1).id();
    let k2 = STANDARD.encode([2u8; KEY_LEN]);
    let id2 = key(2).id();
    let cases: Vec<(String, KeyringError)> = vec![
        (String::new(), KeyringError::MissingHeader),
        (format!("current {id1} {k1}\n"), KeyringError::MissingHeader),
        (format!("{HEADER}\n"), KeyringError::NoCurrent),
        (format!("{HEADER}\nold {id1} {k1}\n"), KeyringError::NoCurrent),
        (format!("{HEADER}\ncurrent {id1}\n"), KeyringError::BadLine(2)),
        (format!("{HEADER}\nnew {id1} {k1}\n"), KeyringError::BadLine(2)),
        (format!("{HEADER}\n\n# c\ncurrent {id1} notbase64!\n"), KeyringError::BadKeyAt(4)),
        (format!("{HEADER}\ncurrent {id1} {}\n", STANDARD.encode([1u8; 16])), KeyringError::BadKeyAt(2)),
        (
            format!("{HEADER}\ncurrent {id2} {k1}\n"),
            KeyringError::WrongId { line: 2, written: id2.to_string(), actual: id1 },
        ),
        (format!("{HEADER}\ncurrent {id1} {k1}\ncurrent {id2} {k2}\n"), KeyringError::SeveralCurrent),
        (format!("{HEADER}\ncurrent {id1} {k1}\nold {id1} {k1}\n"), KeyringError::Duplicate(id1)),
    ];
    for (text, want) in cases {
        let got = Keyring::parse(&text).expect_err(&text);
        assert_eq!(got, want, "{text:?}");
        assert!(!got.to_string().contains(&k1), "errors never quote keys");
    }
    let ok = format!("  # header comment\n\n{HEADER}\n  old {id1} {k1}  \ncurrent {id2} {k2}\n");
    assert_eq!(Keyring::parse(&ok).expect("comments and spacing").current().id(), id2);
}

#[test]
fn environment_key_lists() {
    let k1 = STANDARD.encode([1u8; KEY_LEN]);
    let k2 = STANDARD.encode([2u8; KEY_LEN]);
    let ring = Keyring::from_key_list(&format!(" {k2} , {k1}")).expect("two keys");
    assert_eq!(ring.ids(), vec![key(2).id(), key(1).id()]);
    let unpadded = k1.trim_end_matches('=');
    assert_eq!(Keyring::from_key_list(unpadded).expect("no padding").current().id(), key(1).id());
    assert_eq!(Keyring::from_key_list(""), Err(KeyringError::Empty));
    assert_eq!(Keyring::from_key_list("c2hvcnQ="), Err(KeyringError::BadKey));
    assert_eq!(Keyring::from_key_list(&format!("{k1},{k1}")), Err(KeyringError::Duplicate(key(1).id())));
}

proptest! {
    /// Any text either parses into a keyring that renders back to itself, or is refused; never a panic.
    #[test]
    fn parse_never_panics_and_accepted_keyrings_round_trip(text in "\\PC{0,300}") {
        if let Ok(ring) = Keyring::parse(&text) {
            prop_assert_eq!(Keyring::parse(&ring.render()).expect("renders parseable"), ring);
        }
        let _ = Keyring::from_key_list(&text);
    }

    #[test]
    fn generated_keyrings_round_trip(keys in proptest::collection::vec(any::<[u8; KEY_LEN]>(), 1..5)) {
        let mut ring = Keyring::new(Key::from_bytes(keys[0]));
        for k in &keys[1..] {
            if let Ok(r) = ring.rotated(Key::from_bytes(*k)) {
                ring = r;
            }
        }
        prop_assert_eq!(Keyring::parse(&ring.render()).expect("parses"), ring);
    }
}
