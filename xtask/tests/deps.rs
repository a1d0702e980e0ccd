//! Fails when a crate depends on one it must not (see ARCHITECTURE.md, "Layers").

use serde_json::{Value, json};
use std::process::Command;

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn workspace_follows_the_layer_rules() {
    let errors = xtask::deps::check(&metadata());
    assert!(errors.is_empty(), "dependency rule violations:\n{}", errors.join("\n"));
}

/// The checker itself must catch a bad edge, or the test above proves nothing.
#[test]
fn checker_catches_violations() {
    let fake = json!({
        "workspace_members": ["a", "b", "c", "d"],
        "packages": [
            {"id": "a", "name": "autogit-app", "dependencies": [
                {"name": "autogit-store-sql", "kind": null},
                {"name": "sqlx", "kind": null},
                {"name": "autogit-store-sql", "kind": "dev"}
            ]},
            {"id": "b", "name": "autogit-core", "dependencies": [{"name": "tokio", "kind": null}]},
            {"id": "c", "name": "autogit-new-thing", "dependencies": []},
            {"id": "d", "name": "autogit-http", "dependencies": [
                {"name": "autogit-store", "kind": null},
                {"name": "autogit-store-sql", "kind": null},
                {"name": "autogit-blob-fs", "kind": null}
            ]}
        ]
    });
    let errors = xtask::deps::check(&fake);
    assert_eq!(errors.len(), 7, "{errors:#?}");
    assert!(errors[0].contains("autogit-app must not depend on autogit-store-sql"));
    assert!(errors[1].contains("must not use sqlx"));
    assert!(errors[2].contains("pure"));
    assert!(errors[3].contains("not placed in a layer"));
    assert!(errors[4].contains("autogit-http must not depend on autogit-store"));
    assert!(errors[5].contains("autogit-http must not depend on autogit-store-sql"));
    assert!(errors[6].contains("autogit-http must not depend on autogit-blob-fs"));
}
