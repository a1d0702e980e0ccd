//! Fuzzes the SSH exec command parser on arbitrary bytes. Besides "never panics", anything
//! accepted names a repository path free of traversal segments and shell characters.

#![no_main]

use autogit_core::ssh_command::parse_ssh_command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = parse_ssh_command(data) {
        let p = &c.full_path;
        assert!(p.split('/').count() >= 2, "accepted {data:?}");
        assert!(p.split('/').all(|s| !s.is_empty() && s != "." && s != ".."), "accepted {data:?}");
        assert!(!p.contains(['\'', '"', ' ', ';', '$', '`', '\\', '\0', '%']), "accepted {data:?}");
    }
});
