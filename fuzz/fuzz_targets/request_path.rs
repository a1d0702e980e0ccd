//! Fuzzes request-path parsing on arbitrary UTF-8: git smart-HTTP URL paths and API `:id`
//! references. Besides "never panics", anything accepted must be free of traversal segments,
//! since accepted paths select repositories.

#![no_main]

use autogit_core::repo_path::{Ref, parse_git_path, parse_ref};
use libfuzzer_sys::fuzz_target;

fn no_traversal(path: &str) -> bool {
    path.split('/').all(|s| !s.is_empty() && s != "." && s != "..") && !path.contains(['%', '\\', '\0'])
}

fuzz_target!(|s: &str| {
    if let Ok(p) = parse_git_path(s) {
        assert!(no_traversal(&p.full_path()), "accepted {s:?}");
    }
    if let Ok(Ref::Path(p)) = parse_ref(s) {
        assert!(no_traversal(&p), "accepted {s:?}");
    }
});
