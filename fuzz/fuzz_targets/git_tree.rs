//! Fuzzes the parser of git tree objects, which the coordinator reads from pushed repositories
//! (`autogit_git::objects::tree`). Beyond "never panics": every entry it returns has a non-empty
//! name without a slash and an object id of the asked length, in lower-case hex.

#![no_main]

use autogit_git::objects::tree::parse_tree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the id length (SHA-1's 20, SHA-256's 32, or anything else).
    let (oid_len, raw) = match data.split_first() {
        Some((&b, rest)) => (usize::from(b % 40), rest),
        None => return,
    };
    if let Ok(entries) = parse_tree(raw, oid_len) {
        for e in entries {
            assert!(!e.name.is_empty() && !e.name.contains('/'));
            assert_eq!(e.oid.len(), oid_len * 2);
            assert!(e.oid.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }
});
