//! Fuzzes the CI compiler on arbitrary text: it must never panic, and an accepted
//! configuration must render. The input is split at the first NUL into the main file and
//! one `include:local` file (`ci/inc.yml`), so includes are exercised too.

#![no_main]

use std::collections::BTreeMap;

use autogit_pipeline::{CompileInput, PipelineContext, compile, render_diagnostics, render_plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (main, inc) = text.split_once('\0').unwrap_or((text, ""));
    let mut files = BTreeMap::new();
    files.insert("ci/inc.yml".to_string(), inc.to_string());
    let input = CompileInput {
        path: ".gitlab-ci.yml".into(),
        text: main.to_string(),
        files,
        context: PipelineContext::push("main", "main"),
    };
    let out = compile(&input);
    let _ = render_diagnostics(&out.diagnostics);
    if let Some(plan) = &out.plan {
        let _ = render_plan(plan);
    }
});
