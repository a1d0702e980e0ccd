//! HTML snapshots of the main pages' templates, rendered with fixed values and the real
//! renderers of `autogit-render`, compared with `crates/http/tests/snapshots/<page>.html`. A
//! change to a template or a renderer shows up here as a diff to read and accept: rerun with
//! `AUTOGIT_UPDATE_SNAPSHOTS=1` to write the new snapshots.

use super::ui::{ui, val};
use autogit_render::{diff, log, needs_graph};
use minijinja::{Value, context};
use std::path::PathBuf;

fn chrome() -> Value {
    context! { user => context! { username => "ann", name => "Ann <A>", admin => false }, csrf => "TOKEN" }
}

fn project() -> Value {
    let tabs: Vec<Value> = [("code", "Repository", "/g/p"), ("pipelines", "Pipelines", "/g/p/-/pipelines")]
        .iter()
        .map(|(id, label, href)| context! { id => *id, label => *label, href => *href })
        .collect();
    context! {
        name => "p", path => "p", full_path => "g/p", namespace_path => "g", namespace_name => "g",
        visibility => "private", default_branch => "main", tabs => tabs,
    }
}

fn check(name: &str, ctx: Value) {
    let html = ui().render(&format!("{name}.html"), ctx).expect("renders");
    // The asset names carry a hash of the stylesheet, which changes with any CSS edit.
    let html = html.replace(&ui().css.name, "autogit-CSS.css").replace(&ui().js.name, "autogit-JS.js");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.html"));
    if std::env::var_os("AUTOGIT_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &html).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no snapshot {}; run with AUTOGIT_UPDATE_SNAPSHOTS=1", path.display()));
    if want != html {
        let line = want.lines().zip(html.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{name}.html differs from its snapshot at line {}:\n  was: {:?}\n  now: {:?}\n(AUTOGIT_UPDATE_SNAPSHOTS=1 accepts it)",
            line + 1,
            want.lines().nth(line),
            html.lines().nth(line)
        );
    }
}

#[test]
fn tree_page() {
    let commit = context! { id => "0123456789abcdef", short_id => "01234567", title => "Fix <b>", author_name => "Ann", authored_date => "2026-12-07T10:00:00+00:00" };
    let entries = vec![
        context! { name => "src", kind => "tree", href => "/g/p/-/tree/main/src", commit => commit.clone() },
        context! { name => "a \"b\".md", kind => "blob", href => "/g/p/-/blob/main/a%20%22b%22.md", commit => commit.clone() },
        context! { name => "vendor", kind => "commit" },
    ];
    check(
        "tree",
        context! {
            chrome => chrome(), title => "Files", project => project(), tab => "code", ref_name => "main",
            entries => entries, crumbs => Vec::<Value>::new(), last_commit => commit,
        },
    );
}

#[test]
fn blob_page() {
    let h = autogit_render::highlight::Highlighter::new();
    let lines = h.lines("x.rs", "fn main() {\n    let s = \"<&>\";\n}\n");
    let file = context! { name => "x.rs", path => "x.rs", size => 40, lines => 3, language => "Rust", binary => false, too_large => false };
    check(
        "blob",
        context! { chrome => chrome(), title => "x.rs", project => project(), tab => "code", ref_name => "main", file => file, lines_html => lines },
    );
}

#[test]
fn commit_page() {
    let patch =
        b"diff --git a/x.rs b/x.rs\nindex 1..2 100644\n--- a/x.rs\n+++ b/x.rs\n@@ -1,2 +1,2 @@\n a\n-<old>\n+<new>\n";
    let files = diff::parse(patch);
    let stats = diff::stats(&files);
    let rows: Vec<Value> =
        files.iter().map(|f| context! { path => f.path(), view => "/g/p/-/blob/abc/x.rs", ..val(f) }).collect();
    let commit = context! { id => "abc", short_id => "abc", title => "Change", author_name => "Ann", authored_date => "2026-12-07T10:00:00+00:00", parent_ids => vec!["def"] };
    check(
        "commit",
        context! {
            chrome => chrome(), title => "Change", project => project(), tab => "commits", commit => commit,
            body => "Why it changed.", files => rows, stats => val(&stats), truncated => false,
        },
    );
}

#[test]
fn pipeline_page() {
    let graph = needs_graph::needs_svg(&[
        needs_graph::GraphJob {
            name: "build".into(),
            stage: 0,
            status: "success".into(),
            href: "/g/p/-/jobs/1".into(),
            needs: Some(vec![]),
        },
        needs_graph::GraphJob {
            name: "test".into(),
            stage: 1,
            status: "running".into(),
            href: "/g/p/-/jobs/2".into(),
            needs: Some(vec!["build".into()]),
        },
    ]);
    let job = |id: u32, name: &str, status: &str| context! { name => name, status => status, href => format!("/g/p/-/jobs/{id}"), duration => 3, retryable => true };
    let stages = vec![
        context! { name => "build", status => "success", jobs => vec![job(1, "build", "success")] },
        context! { name => "test", status => "running", jobs => vec![job(2, "test", "running")] },
    ];
    let pipeline = context! { id => 7, status => "running", ref_name => "main", sha => "0123456789", source => "push", user => "ann", created_at => "2026-12-07T10:00:00+00:00", href => "/g/p/-/pipelines/7", cancelable => true };
    let ctx = |graph_html: &str| {
        context! {
            chrome => chrome(), title => "Pipeline #7", project => project(), tab => "pipelines",
            pipeline => pipeline.clone(), stages => stages.clone(), graph_html => graph_html, may_act => true,
        }
    };
    check("pipeline", ctx(""));
    check("pipeline_dag", ctx(&graph));
}

#[test]
fn job_page() {
    let trace = b"\x1b[0Ksection_start:1700000000:prep[collapsed=true]\r\x1b[0KPrepare\ninside\n\x1b[0Ksection_end:1700000002:prep\r\x1b[0K\n\x1b[31mred <b>\x1b[0m\n";
    let job = context! {
        id => 2, name => "test", status => "running", stage => "test", href => "/g/p/-/jobs/2", pipeline_id => 7,
        pipeline_href => "/g/p/-/pipelines/7", ref_name => "main", sha => "0123456789", duration => 5,
        runner => context! { id => 1, description => "gpu-box", executor => "shell", version => "0.1.0" },
        tags => vec!["gpu"], gpu_request => "1x nvidia", cancelable => true,
    };
    let gpus = vec![context! { id => "GPU-1", model => "NVIDIA A10", memory => "22.5 GiB" }];
    check(
        "job",
        context! {
            chrome => chrome(), title => "test", project => project(), tab => "pipelines", job => job, live => true,
            offset => trace.len(), open_sections => "[]", log_html => log::to_html(trace), gpus => gpus, may_act => true,
        },
    );
}
