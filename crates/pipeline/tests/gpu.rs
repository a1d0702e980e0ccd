//! GPU requirements in the plan: the stored string is canonical and read back by the GPU
//! crate's parser, plans with and without it survive the coordinator's JSON round trip, and
//! any `gpu:` value gives either a request or a positioned error, never a panic.

use std::collections::BTreeMap;

use autogit_gpu::request::GpuRequest;
use autogit_pipeline::{CompileInput, Compiled, PipelineContext, Plan, Severity, compile, render_plan};
use proptest::prelude::*;

fn run(text: &str) -> Compiled {
    compile(&CompileInput {
        path: ".gitlab-ci.yml".into(),
        text: text.to_string(),
        files: BTreeMap::new(),
        context: PipelineContext::push("main", "main"),
    })
}

/// Every job's `gpu` parses, and is already the canonical form of what it parses to.
fn check_canonical(plan: &Plan) {
    for job in &plan.jobs {
        if let Some(g) = &job.gpu {
            let r = GpuRequest::parse(g).unwrap_or_else(|e| panic!("{}: {g}: {e}", job.name));
            assert_eq!(&r.to_compact(), g, "{}", job.name);
        }
    }
}

#[test]
fn stored_plan_round_trips_with_and_without_gpu() {
    let out = run("a:\n  gpu: {count: 2, vendor: nvidia, memory: '>=40GB'}\n  script: x\nb:\n  script: y\n");
    let plan = out.plan.expect("plan");
    assert_eq!(plan.jobs[0].gpu.as_deref(), Some("nvidia:2,mem>=40GB"));
    assert_eq!(plan.jobs[1].gpu, None);
    check_canonical(&plan);
    let json = render_plan(&plan);
    let back: Plan = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back, plan);
    // Plans stored before the field existed have no `gpu` key.
    assert!(!json.contains("\"gpu\": null"));
    let mut old: serde_json::Value = serde_json::from_str(&json).expect("json");
    old["jobs"][0].as_object_mut().expect("job").remove("gpu");
    let old: Plan = serde_json::from_value(old).expect("old plan");
    assert_eq!(old.jobs[0].gpu, None);
}

#[test]
fn the_fixtures_store_canonical_requests() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let mut seen = 0;
    for e in std::fs::read_dir(dir).expect("fixtures") {
        let p = e.expect("entry").path();
        let name = p.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
        if !(name.starts_with("gpu_") && name.ends_with(".yml")) {
            continue;
        }
        if let Some(plan) = run(&std::fs::read_to_string(&p).expect("read")).plan {
            check_canonical(&plan);
            seen += plan.jobs.iter().filter(|j| j.gpu.is_some()).count();
        }
    }
    assert!(seen >= 20, "only {seen} GPU jobs in the fixtures");
}

fn field() -> impl Strategy<Value = String> {
    let value = "[-a-zA-Z0-9 .*:,|<>=\"]{0,12}";
    prop_oneof![
        (0i64..40).prop_map(|n| format!("count: {n}")),
        value.prop_map(|v| format!("count: {v}")),
        prop_oneof![Just("nvidia"), Just("amd"), Just("intel"), Just("any"), Just("NVIDIA"), Just("tpu")]
            .prop_map(|v| format!("vendor: {v}")),
        ("(>=|<=|>|<|=)?", 0u32..200, "( ?)(GB|GiB|MB|MiB|TB|)").prop_map(|(c, n, u)| format!("memory: \"{c}{n}{u}\"")),
        value.prop_map(|v| format!("memory: '{v}'")),
        ("(>=|<|=)?", 0u32..12, 0u32..12).prop_map(|(c, a, b)| format!("compute_capability: \"{c}{a}.{b}\"")),
        value.prop_map(|v| format!("compute_capability: '{v}'")),
        "[a-zA-Z0-9|, ]{0,10}".prop_map(|v| format!("arch: '{v}'")),
        value.prop_map(|v| format!("model: '{v}'")),
        prop_oneof![Just("true"), Just("false"), Just("maybe")].prop_map(|v| format!("same_model: {v}")),
        prop_oneof![Just("prefer"), Just("require"), Just("ignore"), Just("x")].prop_map(|v| format!("numa: {v}")),
        prop_oneof![Just("exclusive"), Just("shared")].prop_map(|v| format!("sharing: {v}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A map of random fields (plus optional tags and GPU_REQUEST): a canonical request, or
    /// errors that all point at a line of the file.
    #[test]
    fn any_gpu_map_gives_a_request_or_positioned_errors(
        fields in prop::collection::vec(field(), 0..5),
        tags in prop::option::of(prop_oneof![Just("[gpu]"), Just("[gpu, nvidia]"), Just("[amd]"), Just("[gpu, intel, amd]")]),
        var in prop::option::of("[a-z:0-9,>=GBi.]{0,12}"),
    ) {
        let mut text = String::from("job:\n  script: x\n  gpu:\n");
        let mut keys = std::collections::BTreeSet::new();
        for f in &fields {
            // Duplicate keys are a YAML error of their own; keep one of each.
            if keys.insert(f.split(':').next().unwrap_or_default().to_string()) {
                text.push_str(&format!("    {f}\n"));
            }
        }
        if fields.is_empty() {
            text.push_str("    count: 1\n");
        }
        if let Some(t) = tags {
            text.push_str(&format!("  tags: {t}\n"));
        }
        if let Some(v) = var {
            text.push_str(&format!("  variables:\n    GPU_REQUEST: '{v}'\n"));
        }
        let out = run(&text);
        match &out.plan {
            Some(plan) => {
                check_canonical(plan);
                prop_assert!(plan.jobs[0].gpu.is_some(), "{}", text);
            }
            None => {
                let errors: Vec<_> = out.diagnostics.iter().filter(|d| d.severity == Severity::Error).collect();
                prop_assert!(!errors.is_empty(), "{}", text);
                prop_assert!(errors.iter().all(|d| d.line > 0 && d.column > 0), "{:?}\n{}", errors, text);
            }
        }
    }
}
