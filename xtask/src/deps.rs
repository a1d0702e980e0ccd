//! The layering rules as data, and a checker over `cargo metadata` output.
//!
//! Two kinds of rule: which workspace crates each crate may depend on (normal and build
//! dependencies; dev-dependencies are free, tests may use anything), and which crates alone may
//! use a given external library (adapters alone know their libraries).

use serde_json::Value;

/// Every workspace crate and the workspace crates it may depend on. A crate missing from this
/// table is an error, so a new crate must be placed in a layer deliberately.
pub const LAYERS: &[(&str, &[&str])] = &[
    // L0: pure domain and configuration.
    ("autogit-core", &[]),
    ("autogit-config", &[]),
    // L1: wire types shared by the coordinator and the runner agent (serde only).
    ("autogit-protocol", &[]),
    // Runner side: the agent speaks only the wire protocol and never links server code.
    ("autogit-agent", &["autogit-protocol", "autogit-gpu"]),
    // GPU Detector: pure parsers plus one probe module that reads sysfs/procfs under a root.
    ("autogit-gpu", &[]),
    // Sealing of secret values at rest (AEAD, keyring, text format). Pure: keys and nonces are
    // passed in; the binary reads the key file, the app draws nonces.
    ("autogit-secrets", &[]),
    // CI compiler: .gitlab-ci.yml text + pipeline context -> plan. Pure (no I/O, clock, randomness).
    // It validates GPU requirements (`gpu:`, GPU_REQUEST, gpu tags) with the GPU crate's pure parser.
    ("autogit-pipeline", &["autogit-core", "autogit-gpu"]),
    // Runner Coordinator decision core: progression, queue/matching, leases, GPU allocation. Pure
    // (time is a parameter). It uses the GPU model and requirement matcher, both pure.
    ("autogit-scheduler", &["autogit-core", "autogit-gpu"]),
    // Page renderings (job logs, needs graphs, markdown, highlighting, diffs): pure functions
    // from text to escaped HTML/SVG, so that they can be fuzzed and snapshot-tested alone.
    ("autogit-render", &[]),
    // L2: ports.
    ("autogit-store", &["autogit-core"]),
    // L3: adapters.
    ("autogit-store-sql", &["autogit-core", "autogit-store"]),
    ("autogit-git", &["autogit-core"]),
    // Autoscaling providers (local runner processes, Docker containers, SSH hosts, plugins): they
    // know only their libraries (bollard, nix) and start `autogit runner` as a program, never link
    // it. The wire crate gives them the shell-word form the runner side writes (`shell::quote`).
    ("autogit-fleet", &["autogit-core", "autogit-protocol"]),
    // Blobs (job artifacts) in a directory tree; S3 later is another adapter of the same port.
    ("autogit-blob-fs", &["autogit-store"]),
    // L4: use-cases over ports only (never an adapter such as autogit-store-sql).
    // The coordinator's use-cases compile CI files, apply the scheduler's decisions and build the
    // runner API's job payloads, so the pure CI crates and the wire types are in reach here.
    (
        "autogit-app",
        &[
            "autogit-core",
            "autogit-store",
            "autogit-git",
            "autogit-pipeline",
            "autogit-scheduler",
            "autogit-protocol",
            "autogit-gpu",
            "autogit-secrets",
        ],
    ),
    // L5: inbound. No store, store adapter or blob adapter: records come through the app's
    // re-export (`autogit_app::store`), and no call of `App` or `System` returns a store, so the
    // HTTP face can only reach data through the use-cases (xtask/tests/boundary.rs).
    ("autogit-http", &["autogit-core", "autogit-app", "autogit-git", "autogit-protocol", "autogit-render"]),
    // The SSH face: the same rule as HTTP (use-cases and git's pack services, never a store).
    ("autogit-ssh", &["autogit-core", "autogit-app", "autogit-git"]),
    // OpenID Connect: an outbound adapter of the app's identity-provider port (it implements the
    // app's trait, so it sits beside the faces; it reaches no store).
    ("autogit-oidc", &["autogit-app"]),
    // Webhook delivery: an outbound adapter of the app's hook transport port (reqwest, with the
    // core's address check at connect time); it reaches no store.
    ("autogit-webhook-client", &["autogit-core", "autogit-app"]),
    // Roots.
    (
        "autogit",
        &[
            "autogit-core",
            "autogit-config",
            "autogit-store",
            "autogit-store-sql",
            "autogit-blob-fs",
            "autogit-git",
            "autogit-app",
            "autogit-http",
            "autogit-ssh",
            "autogit-oidc",
            "autogit-webhook-client",
            "autogit-protocol",
            "autogit-agent",
            "autogit-gpu",
            "autogit-pipeline",
            "autogit-fleet",
            "autogit-scheduler",
            "autogit-secrets",
        ],
    ),
    ("xtask", &[]),
    // Benchmarks: talk HTTP to a real `autogit serve` process, so they know only the wire types.
    ("autogit-bench-ci", &["autogit-protocol"]),
];

/// External libraries and the only workspace crates allowed to depend on them.
pub const WRAPPERS: &[(&str, &[&str])] = &[
    ("sqlx", &["autogit-store-sql"]),
    ("axum", &["autogit-http"]),
    ("tower", &["autogit-http"]),
    ("tower-http", &["autogit-http"]),
    ("hyper", &["autogit-http"]),
    ("hyper-util", &["autogit-http"]),
    ("prometheus-client", &["autogit-http"]),
    ("clap", &["autogit"]),
    ("tracing-subscriber", &["autogit"]),
    ("argon2", &["autogit-app"]),
    ("russh", &["autogit-ssh"]),
    // Reading users' public keys is a use-case's validation; the server side of SSH is russh's.
    ("ssh-key", &["autogit-app"]),
    ("openidconnect", &["autogit-oidc"]),
    ("minijinja", &["autogit-http"]),
    ("syntect", &["autogit-render"]),
    ("pulldown-cmark", &["autogit-render"]),
];

/// Libraries that do I/O and must not appear in the pure layer (L0).
pub const IO_LIBRARIES: &[&str] = &["tokio", "tokio-util", "sqlx", "axum", "reqwest", "futures-util", "rand"];
pub const PURE: &[&str] = &[
    "autogit-core",
    "autogit-config",
    "autogit-protocol",
    "autogit-pipeline",
    "autogit-scheduler",
    "autogit-secrets",
    "autogit-render",
];

/// Checks `cargo metadata --format-version 1` output; returns every violation found.
pub fn check(metadata: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    for pkg in packages.iter().filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id))) {
        let name = pkg["name"].as_str().unwrap_or("?");
        let Some((_, allowed)) = LAYERS.iter().find(|(n, _)| *n == name) else {
            errors.push(format!(
                "{name}: not placed in a layer (add it to xtask/src/deps.rs LAYERS and ARCHITECTURE.md)"
            ));
            continue;
        };
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            if dep["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep_name = dep["name"].as_str().unwrap_or("?");
            if LAYERS.iter().any(|(n, _)| *n == dep_name) && !allowed.contains(&dep_name) {
                errors.push(format!("{name} must not depend on {dep_name}"));
            }
            if let Some((_, owners)) = WRAPPERS.iter().find(|(lib, _)| *lib == dep_name)
                && !owners.contains(&name)
            {
                errors.push(format!("{name} must not use {dep_name} (only {owners:?} may)"));
            }
            if PURE.contains(&name) && IO_LIBRARIES.contains(&dep_name) {
                errors.push(format!("{name} is pure and must not use the I/O library {dep_name}"));
            }
        }
    }
    errors
}
