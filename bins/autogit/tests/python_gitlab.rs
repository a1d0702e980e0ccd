//! The API subset as python-gitlab uses it: python-gitlab itself drives a real server.
//! `scripts/test` installs python-gitlab; without it this test fails with that instruction.

mod common;

use common::{Server, backends};
use std::process::Command;

#[test]
fn python_gitlab_client_works_unmodified() {
    let probe = Command::new("python3")
        .args(["-c", "import gitlab; print(gitlab.__version__)"])
        .output()
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "python-gitlab is not installed: run `python3 -m pip install python-gitlab` (scripts/test does this)"
    );
    println!("python-gitlab {}", String::from_utf8_lossy(&probe.stdout).trim());
    for backend in backends() {
        let s = Server::start_on(backend);
        let work = tempfile::tempdir().expect("tempdir");
        let out = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_compat.py"))
            .args([&s.url, &s.root_token])
            .arg(work.path())
            .env("HOME", work.path())
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .expect("python3 runs");
        println!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "{backend:?}: python-gitlab checks failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
