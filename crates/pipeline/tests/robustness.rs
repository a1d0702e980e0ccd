//! Nothing panics and everything ends quickly: arbitrary text, and random mutations of the
//! real-world corpus files (bytes dropped, duplicated, swapped; lines re-indented).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use autogit_pipeline::{CompileInput, PipelineContext, compile};
use proptest::prelude::*;

fn input(text: String) -> CompileInput {
    CompileInput {
        path: ".gitlab-ci.yml".into(),
        text,
        files: BTreeMap::new(),
        context: PipelineContext::push("main", "main"),
    }
}

fn check(inp: &CompileInput) {
    let start = Instant::now();
    let _ = compile(inp);
    assert!(start.elapsed() < Duration::from_secs(5), "compile took {:?}", start.elapsed());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(s in "\\PC{0,400}") {
        check(&input(s));
    }

    #[test]
    fn yamlish_text(s in "([a-z]{1,4}: |- |  |\\[|\\]|\\{|\\}|&a |\\*a |<<: |!reference |\\$[A-Z]|\n){0,80}") {
        check(&input(s));
    }

    #[test]
    fn corpus_mutations(file in 0usize..120, edits in prop::collection::vec((0usize..100_000, 0u8..4, any::<char>()), 1..8)) {
        let corpus = common::corpus();
        let (_, mut inp) = corpus[file % corpus.len()].clone();
        let mut chars: Vec<char> = inp.text.chars().collect();
        for (at, kind, c) in edits {
            if chars.is_empty() { break; }
            let i = at % chars.len();
            match kind {
                0 => { chars.remove(i); }
                1 => chars.insert(i, c),
                2 => { let j = (i * 7 + 3) % chars.len(); chars.swap(i, j); }
                _ => { let seg: Vec<char> = chars[i..chars.len().min(i + 40)].to_vec(); chars.splice(i..i, seg); }
            }
        }
        inp.text = chars.into_iter().collect();
        check(&inp);
    }
}

#[test]
fn huge_file_is_refused_quickly() {
    let big =
        "job:\n  script:\n".to_string() + &"    - echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n".repeat(1_200_000);
    assert!(big.len() > 50 << 20);
    let start = Instant::now();
    let out = compile(&input(big));
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(out.plan.is_none());
    assert!(out.diagnostics[0].message.contains("file too large"));
}
