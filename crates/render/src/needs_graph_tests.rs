// Tests state their expectations by unwrapping; a panic is the failure report.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn job(name: &str, stage: usize, needs: Option<&[&str]>) -> GraphJob {
    GraphJob {
        name: name.to_owned(),
        stage,
        status: "success".to_owned(),
        href: format!("/g/p/-/jobs/{name}"),
        needs: needs.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
    }
}

const ELEMENTS: &[&str] = &["svg", "g", "a", "title", "rect", "text", "path"];
const ENTITIES: &[&str] = &["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"];

/// Checks that `s` is exactly one `<svg>` element whose every `<` opens or closes a known
/// element, tags nest properly, attribute values are double-quoted without raw `<`, every `&`
/// starts a known entity, and there are no `style`/`on*` attributes.
fn check_markup(s: &str) -> Result<(), String> {
    let entity_ok = |at: &str| ENTITIES.iter().any(|e| at.starts_with(e));
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = s;
    let mut first = true;
    while !rest.is_empty() {
        if !first && stack.is_empty() {
            return Err(format!("content after the root element: {rest:.40}"));
        }
        match rest.find(['<', '>', '&']) {
            None => return Err("text outside the root element".into()),
            Some(i) if i > 0 && first => return Err(format!("text before the root: {:.40}", &rest[..i])),
            Some(i) => {
                let at = &rest[i..];
                if at.starts_with('>') {
                    return Err(format!("raw '>' in text: {:.40}", &rest[..i]));
                }
                if let Some(after) = at.strip_prefix('&') {
                    if !entity_ok(at) {
                        return Err(format!("bare '&' in text: {at:.20}"));
                    }
                    rest = after;
                    continue;
                }
                let end = at.find('>').ok_or("unclosed tag")?;
                let tag = &at[1..end];
                rest = &at[end + 1..];
                if tag.contains('<') {
                    return Err(format!("'<' inside a tag: {tag:.40}"));
                }
                if let Some(name) = tag.strip_prefix('/') {
                    match stack.pop() {
                        Some(open) if open == name => {}
                        other => return Err(format!("</{name}> closes {other:?}")),
                    }
                    continue;
                }
                let (body, self_closing) = match tag.strip_suffix('/') {
                    Some(b) => (b, true),
                    None => (tag, false),
                };
                let name_end = body.find(' ').unwrap_or(body.len());
                let name = &body[..name_end];
                if !ELEMENTS.contains(&name) {
                    return Err(format!("unknown element <{name}>"));
                }
                if first && name != "svg" {
                    return Err(format!("root is <{name}>"));
                }
                first = false;
                check_attributes(&body[name_end..], &entity_ok)?;
                if !self_closing {
                    stack.push(name);
                }
            }
        }
    }
    if first || !stack.is_empty() {
        return Err(format!("unclosed elements: {stack:?}"));
    }
    Ok(())
}

fn check_attributes(mut attrs: &str, entity_ok: &dyn Fn(&str) -> bool) -> Result<(), String> {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return Ok(());
        }
        let eq = attrs.find("=\"").ok_or_else(|| format!("attribute without =\"…\": {attrs:.40}"))?;
        let name = &attrs[..eq];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':') {
            return Err(format!("bad attribute name {name:?}"));
        }
        if name == "style" || name.starts_with("on") {
            return Err(format!("forbidden attribute {name}"));
        }
        let value_start = eq + 2;
        let close = attrs[value_start..].find('"').ok_or("unterminated attribute value")? + value_start;
        let value = &attrs[value_start..close];
        for (i, c) in value.char_indices() {
            if c == '<' || (c == '&' && !entity_ok(&value[i..])) {
                return Err(format!("unescaped {c:?} in {name}={value:?}"));
            }
        }
        attrs = &attrs[close + 1..];
    }
}

/// The (x1, x2) of every edge's start and end.
fn edge_ends(svg: &str) -> Vec<(usize, usize)> {
    svg.split("<path class=\"edge\" d=\"M")
        .skip(1)
        .map(|rest| {
            let d = &rest[..rest.find('"').unwrap_or(rest.len())];
            let x1 = d.split(',').next().and_then(|x| x.parse().ok()).unwrap_or(usize::MAX);
            let last = d.rsplit(' ').next().unwrap_or("");
            let x2 = last.split(',').next().and_then(|x| x.parse().ok()).unwrap_or(0);
            (x1, x2)
        })
        .collect()
}

fn titles(svg: &str) -> Vec<String> {
    svg.split("<title>").skip(1).map(|rest| rest[..rest.find("</title>").unwrap_or(0)].to_owned()).collect()
}

// --- layering ---

#[test]
fn diamond() {
    let jobs =
        [job("a", 0, Some(&[])), job("b", 1, Some(&["a"])), job("c", 1, Some(&["a"])), job("d", 2, Some(&["b", "c"]))];
    assert_eq!(layers(&jobs), [0, 1, 1, 2]);
    let svg = needs_svg(&jobs);
    assert_eq!(svg.matches("<path class=\"edge\"").count(), 4);
    check_markup(&svg).unwrap();
}

#[test]
fn stage_order_chain() {
    let jobs = [job("build1", 0, None), job("build2", 0, None), job("test", 1, None), job("deploy", 2, None)];
    assert_eq!(layers(&jobs), [0, 0, 1, 2]);
    // Stage order is shown by the columns alone.
    assert!(!needs_svg(&jobs).contains("class=\"edge\""));
}

#[test]
fn needs_chain() {
    let jobs = [job("a", 0, Some(&[])), job("b", 0, Some(&["a"])), job("c", 0, Some(&["b"]))];
    assert_eq!(layers(&jobs), [0, 1, 2]);
}

#[test]
fn empty_needs_in_a_late_stage_starts_at_once() {
    let jobs = [job("a", 0, None), job("b", 1, None), job("lint", 2, Some(&[]))];
    assert_eq!(layers(&jobs), [0, 1, 0]);
}

#[test]
fn stage_order_jobs_come_after_needs_jobs_of_earlier_stages() {
    let jobs = [
        job("a", 0, None),
        job("b", 1, Some(&["a"])),
        job("c", 1, Some(&["b"])),
        job("quick", 2, Some(&["a"])),
        job("d", 2, None),
        job("e", 3, None),
    ];
    // d waits for everything of stages 0 and 1, c being the rightmost (column 2); e waits for
    // d and for quick.
    assert_eq!(layers(&jobs), [0, 1, 2, 1, 3, 4]);
}

#[test]
fn sparse_and_leading_empty_stages() {
    let jobs = [job("late", 7, None), job("first", 3, None), job("x", 3, None)];
    assert_eq!(layers(&jobs), [1, 0, 0]);
}

#[test]
fn unknown_needs_are_ignored() {
    let jobs = [job("a", 0, None), job("b", 1, Some(&["nope"])), job("c", 1, Some(&["a", "nope", "a"]))];
    assert_eq!(layers(&jobs), [0, 0, 1]);
    // The duplicate need draws one edge.
    assert_eq!(needs_svg(&jobs).matches("class=\"edge\"").count(), 1);
}

#[test]
fn duplicate_names_resolve_to_the_first() {
    let jobs = [job("a", 0, None), job("x", 1, None), job("a", 2, None), job("b", 3, Some(&["a"]))];
    assert_eq!(layers(&jobs), [0, 1, 2, 1]);
    let svg = needs_svg(&jobs);
    assert_eq!(svg.matches("<g class=\"node").count(), 4);
    assert_eq!(svg.matches("class=\"edge\"").count(), 1);
    check_markup(&svg).unwrap();
}

#[test]
fn cycles_terminate() {
    let two = [job("a", 0, Some(&["b"])), job("b", 0, Some(&["a"]))];
    let l = layers(&two);
    assert!(l == [1, 0] || l == [0, 1], "{l:?}");
    let svg = needs_svg(&two);
    check_markup(&svg).unwrap();
    // Only the forward half of the cycle is drawn.
    assert_eq!(svg.matches("class=\"edge\"").count(), 1);

    let own = [job("a", 0, Some(&["a"]))];
    assert_eq!(layers(&own), [0]);
    assert!(!needs_svg(&own).contains("class=\"edge\""));

    // Through stage order: a (stage 0) needs b, which waits for stage 0.
    let staged = [job("a", 0, Some(&["b"])), job("b", 1, None)];
    assert_eq!(layers(&staged).len(), 2);
    check_markup(&needs_svg(&staged)).unwrap();
}

#[test]
fn long_chain_does_not_recurse_deeply() {
    let names: Vec<String> = (0..20_000).map(|i| format!("j{i}")).collect();
    let jobs: Vec<GraphJob> = (0..names.len())
        .map(|i| GraphJob {
            name: names[i].clone(),
            stage: 0,
            status: "created".into(),
            href: "/j".into(),
            // Listed last-first so the search has to go all the way down from the first root.
            needs: Some(if i + 1 < names.len() { vec![names[i + 1].clone()] } else { vec![] }),
        })
        .collect();
    let l = layers(&jobs);
    assert_eq!(l[0], names.len() - 1);
    assert_eq!(l[names.len() - 1], 0);
}

// --- markup ---

#[test]
fn empty_input() {
    let svg = needs_svg(&[]);
    check_markup(&svg).unwrap();
    assert!(svg.contains(">No jobs</text>"));
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"needs-graph\""));
}

#[test]
fn svg_header_and_size() {
    let jobs = [job("a", 0, None), job("b", 1, None), job("c", 1, None)];
    let svg = needs_svg(&jobs);
    // 2 columns of 180 with a 64 gap, 2 rows of 32 with a 16 gap, 16 margins.
    assert!(svg.starts_with(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"needs-graph\" viewBox=\"0 0 456 112\" \
         width=\"456\" height=\"112\" role=\"img\" aria-label=\"Job dependency graph\">"
    ));
    assert!(svg.ends_with("</svg>"));
    check_markup(&svg).unwrap();
}

#[test]
fn node_markup() {
    let svg = needs_svg(&[job("build", 0, None)]);
    assert!(svg.contains(
        "<a href=\"/g/p/-/jobs/build\"><g class=\"node status-success\"><title>build – passed</title><rect "
    ));
    assert!(svg.contains(">✓ build</text></g></a>"));
}

#[test]
fn text_and_href_are_escaped() {
    let mut j = job("<script>&\"x'", 0, None);
    j.href = "/g/p/-/jobs/1\" onmouseover=\"alert(1)".into();
    let svg = needs_svg(&[j]);
    check_markup(&svg).unwrap();
    assert!(!svg.contains("<script"));
    assert!(svg.contains("<title>&lt;script&gt;&amp;&quot;x&#39; – passed</title>"));
    assert!(svg.contains("✓ &lt;script&gt;&amp;&quot;x&#39;</text>"));
    assert!(svg.contains("href=\"/g/p/-/jobs/1&quot; onmouseover=&quot;alert(1)\""));
    assert!(!svg.contains("style="));
    assert!(!svg.contains("<style"));
}

#[test]
fn only_local_paths_are_linked() {
    for href in ["javascript:alert(1)", "//evil.example/x", "/\\evil.example", "/\t/evil.example", "", "https://x"] {
        let mut j = job("a", 0, None);
        j.href = href.into();
        let svg = needs_svg(&[j]);
        assert!(!svg.contains("<a "), "{href:?} was linked");
        check_markup(&svg).unwrap();
    }
}

#[test]
fn control_characters_are_replaced() {
    let svg = needs_svg(&[job("a\u{1}b\u{1b}[31m", 0, None)]);
    assert!(!svg.contains('\u{1}') && !svg.contains('\u{1b}'));
    assert!(svg.contains("a\u{FFFD}b\u{FFFD}[31m"));
}

#[test]
fn status_whitelist() {
    for &(status, label, glyph) in STATUSES {
        let mut j = job("a", 0, None);
        j.status = status.into();
        let svg = needs_svg(&[j]);
        assert!(svg.contains(&format!("class=\"node status-{status}\"")));
        assert!(svg.contains(&format!("<title>a – {label}</title>")));
        assert!(svg.contains(&format!(">{glyph} a</text>")));
        assert!(NEEDS_GRAPH_CSS.contains(&format!(".status-{status} rect")), "{status} has no colour");
    }
    for status in ["", "SUCCESS", "success\" onload=\"x", "weird status", "<b>"] {
        let mut j = job("a", 0, None);
        j.status = status.into();
        let svg = needs_svg(&[j]);
        assert!(svg.contains("class=\"node status-unknown\""), "{status:?}");
        assert!(svg.contains("<title>a – unknown</title>"));
        check_markup(&svg).unwrap();
    }
    assert!(NEEDS_GRAPH_CSS.contains(".status-unknown rect"));
    assert!(NEEDS_GRAPH_CSS.contains(".needs-graph .node rect"));
    assert!(NEEDS_GRAPH_CSS.contains(".needs-graph .edge"));
    assert!(NEEDS_GRAPH_CSS.contains(".needs-graph text"));
}

#[test]
fn long_names_are_truncated_in_the_box_only() {
    let name = "integration-tests-against-postgres-16-and-sqlite";
    let svg = needs_svg(&[job(name, 0, None)]);
    assert!(svg.contains(&format!("<title>{name} – passed</title>")));
    let text = svg.split("✓ ").nth(1).unwrap_or("");
    let text = &text[..text.find("</text>").unwrap_or(0)];
    assert!(text.ends_with('…'), "{text}");
    assert_eq!(text.chars().count(), NAME_UNITS);
    assert!(name.starts_with(text.trim_end_matches('…')));
    // Wide characters take two units each.
    let wide = truncate(&"构建".repeat(20), NAME_UNITS);
    assert_eq!(wide.chars().count(), 10);
    assert_eq!(truncate("short", NAME_UNITS), "short");
    assert_eq!(truncate(&"x".repeat(NAME_UNITS), NAME_UNITS), "x".repeat(NAME_UNITS));
}

#[test]
fn barycenter_untangles_a_crossing() {
    // Column 1 starts as [p, q] (pipeline order) but p needs the lower and q the upper job.
    let jobs = [
        job("top", 0, Some(&[])),
        job("bottom", 0, Some(&[])),
        job("p", 1, Some(&["bottom"])),
        job("q", 1, Some(&["top"])),
    ];
    let svg = needs_svg(&jobs);
    let q = svg.find("<title>q").unwrap_or(usize::MAX);
    let p = svg.find("<title>p").unwrap_or(0);
    assert!(q < p, "q should be drawn above p");
    let ends = edge_ends(&svg);
    assert_eq!(ends.len(), 2);
    // Parallel edges: both start and end on the same rows, so each path is a straight line.
    assert!(svg.contains("d=\"M196,32 C228,32 228,32 260,32\""), "{svg}");
    assert!(svg.contains("d=\"M196,80 C228,80 228,80 260,80\""), "{svg}");
}

// --- properties ---

/// A DAG: stages never decrease along the list and needs only name earlier jobs (or nothing
/// known), so neither needs nor stage order can close a cycle.
fn dag() -> impl Strategy<Value = Vec<GraphJob>> {
    prop::collection::vec(
        (0..2usize, any::<bool>(), prop::collection::vec(any::<usize>(), 0..5), "[a-z<>&\"' ]{0,30}", 0..14usize),
        1..40,
    )
    .prop_map(|specs| {
        let mut stage = 0;
        let mut jobs: Vec<GraphJob> = Vec::with_capacity(specs.len());
        for (i, (step, has_needs, picks, suffix, status)) in specs.into_iter().enumerate() {
            stage += step;
            let needs = has_needs.then(|| {
                picks
                    .iter()
                    .map(|p| if i == 0 || p % 7 == 0 { "missing".to_owned() } else { jobs[p % i].name.clone() })
                    .collect()
            });
            jobs.push(GraphJob {
                name: format!("{i}:{suffix}"),
                stage,
                status: STATUSES.get(status).map_or("bogus", |s| s.0).to_owned(),
                href: format!("/g/p/-/jobs/{i}"),
                needs,
            });
        }
        jobs
    })
}

/// Layers by definition, in list order (a topological order for [`dag`]).
fn reference_layers(jobs: &[GraphJob]) -> Vec<usize> {
    let mut col: Vec<usize> = Vec::with_capacity(jobs.len());
    for (i, j) in jobs.iter().enumerate() {
        let c = match &j.needs {
            Some(names) => names
                .iter()
                .filter_map(|n| jobs.iter().position(|k| &k.name == n))
                .map(|d| col[d] + 1)
                .max()
                .unwrap_or(0),
            None => (0..i).filter(|&k| jobs[k].stage < j.stage).map(|k| col[k] + 1).max().unwrap_or(0),
        };
        col.push(c);
    }
    col
}

proptest! {
    #[test]
    fn dag_layout_properties(jobs in dag()) {
        let l = layers(&jobs);
        prop_assert_eq!(&l, &reference_layers(&jobs));
        let svg = needs_svg(&jobs);
        prop_assert!(check_markup(&svg).is_ok(), "{:?}\n{}", check_markup(&svg), svg);
        prop_assert!(!svg.contains("style="));

        // Every job exactly once as a node.
        prop_assert_eq!(svg.matches("<g class=\"node").count(), jobs.len());
        let mut got = titles(&svg);
        let mut want: Vec<String> = jobs
            .iter()
            .map(|j| {
                let label = STATUSES.iter().find(|s| s.0 == j.status).map_or("unknown", |s| s.1);
                format!("{} – {label}", crate::escape::html(&j.name))
            })
            .collect();
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);

        // Every resolved need is drawn, strictly left to right, and nothing else is.
        let mut expected = 0;
        for j in &jobs {
            if let Some(names) = &j.needs {
                let mut found: Vec<usize> = names.iter().filter_map(|n| jobs.iter().position(|k| &k.name == n)).collect();
                found.sort_unstable();
                found.dedup();
                expected += found.len();
                let me = jobs.iter().position(|k| k.name == j.name).unwrap_or(0);
                for d in found {
                    prop_assert!(l[d] < l[me]);
                }
            }
        }
        let ends = edge_ends(&svg);
        prop_assert_eq!(ends.len(), expected);
        for (x1, x2) in ends {
            prop_assert!(x1 < x2, "edge from x={} to x={}", x1, x2);
        }
    }

    #[test]
    fn arbitrary_needs_never_panic(
        specs in prop::collection::vec(
            (0..5usize, prop::option::of(prop::collection::vec(0..12usize, 0..6)), 0..12usize),
            0..40,
        )
    ) {
        let jobs: Vec<GraphJob> = specs
            .into_iter()
            .map(|(stage, needs, name)| GraphJob {
                name: format!("j{name}"),
                stage,
                status: "running".into(),
                href: "/x".into(),
                needs: needs.map(|v| v.into_iter().map(|n| format!("j{n}")).collect()),
            })
            .collect();
        let l = layers(&jobs);
        prop_assert_eq!(l.len(), jobs.len());
        let svg = needs_svg(&jobs);
        prop_assert!(check_markup(&svg).is_ok(), "{:?}", check_markup(&svg));
        prop_assert_eq!(svg.matches("<g class=\"node").count(), jobs.len());
        for (x1, x2) in edge_ends(&svg) {
            prop_assert!(x1 < x2);
        }
    }
}

/// Run with `cargo test --release -p autogit-render --lib needs_graph -- --ignored --nocapture`.
#[test]
#[ignore = "timing; meaningful in release builds only"]
fn timing_500_jobs_2000_edges() {
    // A fixed pseudo-random pipeline: 10 stages of 50 jobs, each job after the first stage
    // needing 4 jobs of earlier stages (and a few following stage order).
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let mut jobs: Vec<GraphJob> = Vec::new();
    let mut edges = 0;
    for i in 0..500 {
        let stage = i / 50;
        let needs = if stage == 0 || i % 25 == 0 {
            None
        } else {
            let v: Vec<String> = (0..4).map(|_| format!("job-{}", next() % (stage * 50))).collect();
            edges += v.len();
            Some(v)
        };
        jobs.push(GraphJob {
            name: format!("job-{i}"),
            stage,
            status: STATUSES[i % STATUSES.len()].0.to_owned(),
            href: format!("/g/p/-/jobs/{i}"),
            needs,
        });
    }
    // Top the needs up to 2000 edges on the last jobs.
    let mut k = 499;
    while edges < 2000 {
        if let Some(v) = jobs[k].needs.as_mut() {
            v.push(format!("job-{}", next() % 450));
            edges += 1;
        }
        k = if k == 50 { 499 } else { k - 1 };
    }
    let mut best = std::time::Duration::MAX;
    let mut len = 0;
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let svg = needs_svg(&jobs);
        best = best.min(t.elapsed());
        len = svg.len();
    }
    println!("500 jobs, {edges} needs: needs_svg best of 20 = {best:?} ({len} bytes)");
    if !cfg!(debug_assertions) {
        assert!(best < std::time::Duration::from_millis(10), "{best:?}");
    }
}

#[test]
fn the_markup_checker_catches_mistakes() {
    assert!(check_markup("<svg><g></g><rect x=\"1\"/></svg>").is_ok());
    for bad in [
        "<svg><b></b></svg>",
        "<svg><g></svg>",
        "<svg>a & b</svg>",
        "<svg>a > b</svg>",
        "<svg style=\"x\"></svg>",
        "<svg><g onclick=\"x\"></g></svg>",
        "<svg><g class=\"a<b\"></g></svg>",
        "<svg></svg><svg></svg>",
        "<g></g>",
        "x<svg></svg>",
    ] {
        assert!(check_markup(bad).is_err(), "{bad}");
    }
}
