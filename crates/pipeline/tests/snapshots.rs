//! Snapshot tests: every `fixtures/<name>.yml` compiles to `fixtures/<name>.expected`
//! (diagnostics, `---`, then the plan as JSON). `UPDATE_SNAPSHOTS=1` rewrites them.

mod common;

use std::path::Path;

#[test]
fn fixtures_match_snapshots() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".yml") && !f.contains(".include."))
        .map(|f| f.trim_end_matches(".yml").to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 40, "expected at least 40 fixtures, found {}", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(dir.join(format!("{name}.yml"))).expect("fixture");
        let input = common::fixture_input(dir, name, &text);
        let got = common::render(&autogit_pipeline::compile(&input));
        let path = dir.join(format!("{name}.expected"));
        if update {
            std::fs::write(&path, &got).expect("write snapshot");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!("{name}: snapshot differs\n--- want\n{want}\n--- got\n{got}")),
            Err(_) => failures.push(format!("{name}: no {name}.expected (run with UPDATE_SNAPSHOTS=1)")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
