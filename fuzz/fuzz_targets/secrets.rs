//! Fuzzes the parsers of secrets at rest: the keyring file and the environment's key list (text
//! an administrator edits by hand), and sealed values (text read back from the database, which
//! someone with write access to it may have changed). Beyond "never panics": an accepted keyring
//! renders to text that parses back to the same keyring, and arbitrary text never opens as a
//! sealed value under a fixed key (a forgery by chance).

#![no_main]

use autogit_secrets::{Binding, Key, Keyring, Sealed, is_sealed, open, seal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(ring) = Keyring::parse(text) {
        let again = Keyring::parse(&ring.render()).expect("a rendered keyring parses");
        assert_eq!(again, ring, "render/parse round trip");
    }
    let _ = Keyring::from_key_list(text);

    let ring = Keyring::new(Key::from_bytes([7; 32]));
    let binding = Binding::column("ci_variables.value").part("project").part("1").part("K").part("*");
    let _ = Sealed::parse(text);
    if is_sealed(text) {
        assert!(open(&ring, &binding, text).is_err(), "arbitrary text opened");
    }
    // The input as a value: it seals and opens back to itself.
    let sealed = seal(&ring, &binding, text, [3; 24]);
    assert_eq!(open(&ring, &binding, &sealed).as_deref(), Ok(text));
});
