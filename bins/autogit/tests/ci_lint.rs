//! `autogit ci lint`: diagnostics with file:line:col, the plan for a valid file, local includes.

use std::process::Command;

fn lint(dir: &std::path::Path, file: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["ci", "lint", file, "--repo"])
        .arg(dir)
        .current_dir(dir)
        .output()
        .expect("runs")
}

#[test]
fn lint_reports_positions_and_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    std::fs::write(p.join("bad.yml"), "stages: [build, test]\nbuild:\n  stage: build\n  script: make\ntest:\n  needs: [build, nope]\n  script: [make test]\n  foo: 1\n")
        .expect("write");
    let out = lint(p, "bad.yml");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml:8:3: error: `test`: unknown keyword `foo`"), "{err}");
    assert!(err.contains("bad.yml:6:18: error: `test` needs `nope`"), "{err}");

    std::fs::create_dir_all(p.join("ci")).expect("mkdir");
    std::fs::write(p.join("ci/common.yml"), ".base:\n  image: alpine\n  script: [echo base]\n").expect("write");
    std::fs::write(p.join(".gitlab-ci.yml"), "include: ci/common.yml\nunit:\n  extends: .base\n  parallel: 2\n")
        .expect("write");
    let out = lint(p, ".gitlab-ci.yml");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the plan is JSON");
    let names: Vec<&str> = plan["jobs"].as_array().expect("jobs").iter().filter_map(|j| j["name"].as_str()).collect();
    assert_eq!(names, ["unit 1/2", "unit 2/2"]);
}
