//! Shared helpers of the integration tests: fixture contexts and the corpus reader.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use autogit_pipeline::{CompileInput, Compiled, PipelineContext, RefKind, render_diagnostics, render_plan};

/// Builds the input of a fixture. Directives at the top of the file, one per line:
/// `#! branch: NAME`, `#! tag: NAME`, `#! default: NAME`, `#! source: web`,
/// `#! changed: a,b`, `#! files: a,b` (repository files for `exists`), `#! var: K=V`.
/// Files `<name>.include.<path with __ for />` beside it are the repository's other files.
pub fn fixture_input(dir: &Path, name: &str, text: &str) -> CompileInput {
    let mut ctx = PipelineContext::push("main", "main");
    for line in text.lines().take_while(|l| l.starts_with("#!")) {
        let Some((k, v)) = line[2..].split_once(':') else { continue };
        let v = v.trim();
        let list = || v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>();
        match k.trim() {
            "branch" => (ctx.ref_name, ctx.ref_kind) = (v.to_string(), RefKind::Branch),
            "tag" => (ctx.ref_name, ctx.ref_kind) = (v.to_string(), RefKind::Tag),
            "default" => ctx.default_branch = v.to_string(),
            "source" => ctx.source = v.to_string(),
            "changed" => ctx.changed_paths = Some(list()),
            "files" => ctx.repo_files = list(),
            "var" => {
                if let Some((a, b)) = v.split_once('=') {
                    ctx.variables.insert(a.to_string(), b.to_string());
                }
            }
            other => panic!("unknown fixture directive {other}"),
        }
    }
    let mut files = BTreeMap::new();
    let prefix = format!("{name}.include.");
    for entry in std::fs::read_dir(dir).expect("fixtures dir") {
        let p = entry.expect("entry").path();
        let fname = p.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
        if let Some(rest) = fname.strip_prefix(&prefix) {
            files.insert(rest.replace("__", "/"), std::fs::read_to_string(&p).expect("include"));
        }
    }
    CompileInput { path: ".gitlab-ci.yml".into(), text: text.to_string(), files, context: ctx }
}

/// The snapshot text: diagnostics, a separator, the plan (or `no plan`).
pub fn render(c: &Compiled) -> String {
    let plan = c.plan.as_ref().map_or_else(|| "no plan".to_string(), render_plan);
    format!("{}---\n{}\n", render_diagnostics(&c.diagnostics), plan)
}

/// Where the shared corpus lives (outside the repository).
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/ci-corpus"))
}

/// Every corpus main file as (number, input for a push to `main`).
pub fn corpus() -> Vec<(String, CompileInput)> {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("the CI corpus is missing: looked for {}/MANIFEST.tsv ({e})", dir.display()));
    let mut mains: Vec<(String, String)> = Vec::new();
    let mut includes: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, path) = (cols[0], cols[3]);
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let num = file[..3].to_string();
        if file.contains(".include.") {
            includes.entry(num).or_default().insert(path.to_string(), text);
        } else {
            mains.push((num, text));
        }
    }
    mains
        .into_iter()
        .map(|(num, text)| {
            let files = includes.remove(&num).unwrap_or_default();
            let mut ctx = PipelineContext::push("main", "main");
            ctx.repo_files = files.keys().cloned().chain([".gitlab-ci.yml".to_string()]).collect();
            (num, CompileInput { path: ".gitlab-ci.yml".into(), text, files, context: ctx })
        })
        .collect()
}
