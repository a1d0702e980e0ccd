//! Fails when a server crate casts an id to or from a bare number (see ARCHITECTURE.md,
//! "crates/core", `id`).

use std::path::Path;

#[test]
fn server_crates_never_cast_ids() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let errors: Vec<String> =
        xtask::id_casts::CHECKED.iter().flat_map(|dir| xtask::id_casts::check_dir(&root.join(dir))).collect();
    assert!(errors.is_empty(), "id casts:\n{}", errors.join("\n"));
}

/// The checker must catch each shape of cast, or the test above proves nothing.
#[test]
fn checker_catches_id_casts() {
    let src = r#"
        fn a(job: &Job) -> u64 { job.id as u64 }
        impl X {
            fn b(&self, runner_id: i64) -> u64 { (runner_id) as u64 }
            fn c(&self, runner: u64) -> i64 { runner as i64 }
        }
        fn fine(bytes: &[u8], n: u32) -> i64 { bytes.len() as i64 + i64::from(n) + (n as i64) }
    "#;
    let errors = xtask::id_casts::check_source("fake.rs", src);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors[0].contains("fake.rs: fn a: `id as …`"), "{}", errors[0]);
    assert!(errors[1].contains("fn b: `runner_id as …`"), "{}", errors[1]);
    assert!(errors[2].contains("fn c: `runner as …`"), "{}", errors[2]);
}
