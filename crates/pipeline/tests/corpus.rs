//! The real-world corpus (`shared/ci-corpus`, 120 `.gitlab-ci.yml` files from public
//! repositories, never copied here): every file compiles without a panic for a push to
//! `main`, and every file produces no error except the ones listed in [`ALLOWED`],
//! whose errors must say "not supported".

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use autogit_pipeline::{Severity, compile, render_diagnostics};

/// Files that do not compile, each with a text its errors must contain and the reason.
/// Most use features AutoGit declares unsupported ("not supported"); a few need files the
/// corpus does not hold, and one is YAML that Ruby's Psych accepts but saphyr rejects.
const ALLOWED: &[(&str, &str, &str)] = &[
    ("002", "not supported", "include:template"),
    ("003", "not supported", "trigger (child pipelines)"),
    ("008", "not supported", "include:project; jobs extend its templates"),
    ("010", "not found", "include:local path `${CI_CONFIG_PATH}/...` names a file absent from the corpus"),
    ("024", "not found", "include:local file absent from the corpus"),
    ("036", "not supported", "include:project"),
    ("039", "not supported", "include:project/template, trigger"),
    ("041", "not supported", "include:project; jobs extend its templates"),
    ("044", "not supported", "include:project, include:component, include:inputs"),
    ("045", "not supported", "spec:inputs interpolation"),
    ("047", "not supported", "include:remote/project; jobs extend its templates"),
    ("051", "not supported", "trigger"),
    ("053", "not supported", "include:template"),
    ("061", "not supported", "trigger"),
    ("064", "not found", "include:local files absent from the corpus"),
    ("067", "unknown job or template", "templates defined in a file absent from the corpus"),
    ("068", "not supported", "include:project/component"),
    ("069", "not supported", "include:component"),
    ("070", "not supported", "trigger"),
    ("072", "not supported", "include:project"),
    ("094", "not supported", "trigger"),
    ("096", "not supported", "include:template"),
    ("098", "invalid YAML", "a quoted scalar continued less indented than its key: Psych accepts it, saphyr does not"),
    ("118", "not supported", "include:template"),
];

#[test]
fn corpus_compiles() {
    let corpus = common::corpus();
    assert!(corpus.len() >= 100, "corpus too small: {} files in {}", corpus.len(), common::corpus_dir().display());
    let mut problems = Vec::new();
    let mut planned = 0;
    for (num, input) in &corpus {
        let Ok(out) = catch_unwind(AssertUnwindSafe(|| compile(input))) else {
            problems.push(format!("{num}.yml: PANIC"));
            continue;
        };
        let errors: Vec<_> = out.diagnostics.iter().filter(|d| d.severity == Severity::Error).cloned().collect();
        let allowed = ALLOWED.iter().find(|(n, _, _)| n == num);
        match (errors.is_empty(), allowed) {
            (true, None) => planned += 1,
            (true, Some((_, _, why))) => {
                problems.push(format!("{num}.yml: on the allow-list ({why}) but compiles now"))
            }
            (false, Some((_, text, _))) if errors.iter().any(|e| e.message.contains(text)) => {}
            (false, _) => problems.push(format!("{num}.yml:\n{}", render_diagnostics(&errors))),
        }
    }
    let supported = corpus.len() - ALLOWED.iter().filter(|(_, t, _)| *t == "not supported").count();
    let ratio = planned as f64 / supported as f64;
    eprintln!(
        "corpus: {planned}/{} compiled to a plan or a filtered pipeline; {planned}/{supported} ({:.1}%) of those without unsupported features",
        corpus.len(),
        ratio * 100.0
    );
    assert!(problems.is_empty(), "{} corpus problems:\n{}", problems.len(), problems.join("\n"));
    assert!(ratio >= 0.9, "only {planned}/{supported} corpus files without unsupported features compiled");
}
