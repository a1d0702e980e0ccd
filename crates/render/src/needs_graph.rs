//! A pipeline's job graph (the pipeline page's "needs" view) as server-rendered SVG.
//!
//! The page must work without JavaScript and under a Content-Security-Policy that forbids inline
//! styles, so the layout is computed here and the markup carries only geometry and `status-*`
//! classes; colours come from [`NEEDS_GRAPH_CSS`] in the site's stylesheet.
//!
//! Layout: each job gets a column by longest path over its dependencies (explicit `needs`, or
//! "everything of the earlier stages" for jobs that follow stage order), then the order inside
//! each column is improved by a few barycenter sweeps to reduce edge crossings. All of it is
//! O(V + E) per pass with a fixed number of passes, so large pipelines stay cheap to render.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::escape::push_html;

/// One job of the pipeline as the graph shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphJob {
    pub name: String,
    /// Index of the job's stage in the pipeline's stage order.
    pub stage: usize,
    /// GitLab's job status spelling: created, pending, running, success, failed, canceled,
    /// skipped, manual, scheduled, waiting_for_resource, preparing.
    pub status: String,
    /// The job page's URL (already a path of this server, e.g. "/g/p/-/jobs/12"); escaped here.
    pub href: String,
    /// `Some(names)` when the job has `needs:` (possibly empty: starts at once); `None` when it
    /// follows stage order (waits for every job of earlier stages).
    pub needs: Option<Vec<String>>,
}

/// Stylesheet rules for the graph, for the site's stylesheet (inline styles are not allowed by
/// the site's Content-Security-Policy). Colours are for a light background; every status also
/// has a glyph in the node's text, so colour is never the only signal.
pub const NEEDS_GRAPH_CSS: &str = "\
.needs-graph { font-family: system-ui, -apple-system, \"Segoe UI\", sans-serif; }
.needs-graph text { font-size: 13px; fill: #1f1f1f; }
.needs-graph .empty { fill: #626168; }
.needs-graph .edge { fill: none; stroke: #a4a3a8; stroke-width: 1.5; }
.needs-graph .node rect { fill: #ffffff; stroke: #bfbfc3; stroke-width: 1; }
.needs-graph a:hover .node rect, .needs-graph a:focus .node rect { stroke-width: 2.5; }
.needs-graph .status-success rect { fill: #ecf4ee; stroke: #108548; }
.needs-graph .status-success text { fill: #0a4020; }
.needs-graph .status-failed rect { fill: #fcf1ef; stroke: #dd2b0e; }
.needs-graph .status-failed text { fill: #8d1300; }
.needs-graph .status-running rect { fill: #e9f3fc; stroke: #1f75cb; }
.needs-graph .status-running text { fill: #0b4a8a; }
.needs-graph .status-pending rect, .needs-graph .status-waiting_for_resource rect, .needs-graph .status-preparing rect { fill: #fdf1dd; stroke: #ab6100; }
.needs-graph .status-pending text, .needs-graph .status-waiting_for_resource text, .needs-graph .status-preparing text { fill: #5c3500; }
.needs-graph .status-manual rect, .needs-graph .status-scheduled rect { fill: #f4f0ff; stroke: #6e49cb; }
.needs-graph .status-manual text, .needs-graph .status-scheduled text { fill: #3f2a80; }
.needs-graph .status-created rect, .needs-graph .status-canceled rect, .needs-graph .status-skipped rect, .needs-graph .status-unknown rect { fill: #f4f4f5; stroke: #737278; }
.needs-graph .status-created text, .needs-graph .status-canceled text, .needs-graph .status-skipped text, .needs-graph .status-unknown text { fill: #333238; }
";

/// Node box size and spacing, in SVG user units (CSS pixels at the natural size).
const NODE_W: usize = 180;
const NODE_H: usize = 32;
const COL_GAP: usize = 64;
const ROW_GAP: usize = 16;
const MARGIN: usize = 16;
/// Left padding of a node's label and its baseline offset from the node's top.
const TEXT_PAD: usize = 8;
const TEXT_BASELINE: usize = 21;
const FONT_SIZE: usize = 13;
/// Width budget for a job name in "narrow character" units: the node's inner width (164) over
/// an average 13px sans-serif glyph (~7.5) is ~21, less two for the status glyph and its space.
const NAME_UNITS: usize = 19;
/// Down+up barycenter sweep pairs. A handful settles most layouts; a fixed bound keeps the cost
/// linear in the pipeline's size.
const SWEEPS: usize = 4;

/// Whitelisted statuses: (GitLab spelling, label for people, glyph). The class name is
/// `status-{spelling}`; anything else renders as `unknown`, so the class attribute never
/// carries input text.
const STATUSES: &[(&str, &str, &str)] = &[
    ("created", "created", "○"),
    ("pending", "pending", "◷"),
    ("running", "running", "●"),
    ("success", "passed", "✓"),
    ("failed", "failed", "✗"),
    ("canceled", "canceled", "⊘"),
    ("skipped", "skipped", "»"),
    ("manual", "manual", "▶"),
    ("scheduled", "delayed", "⏲"),
    ("waiting_for_resource", "waiting for resource", "⧗"),
    ("preparing", "preparing", "◌"),
];
const UNKNOWN_STATUS: (&str, &str, &str) = ("unknown", "unknown", "?");

/// The columns (layers) each job lands in, same order as `jobs` — exposed for tests and for a
/// text/table fallback.
pub fn layers(jobs: &[GraphJob]) -> Vec<usize> {
    let needs = resolve_needs(jobs);
    assign_layers(jobs, &needs)
}

/// The SVG markup (one `<svg>` element) of the graph.
pub fn needs_svg(jobs: &[GraphJob]) -> String {
    if jobs.is_empty() {
        return empty_svg();
    }
    let layout = layout(jobs);
    let rows = layout.columns.iter().map(Vec::len).max().unwrap_or(0);
    let cols = layout.columns.len();
    let width = 2 * MARGIN + cols * NODE_W + cols.saturating_sub(1) * COL_GAP;
    let height = 2 * MARGIN + rows * NODE_H + rows.saturating_sub(1) * ROW_GAP;

    // Top-left corner of each job's node.
    let mut pos = vec![(0, 0); jobs.len()];
    for (c, column) in layout.columns.iter().enumerate() {
        for (r, &j) in column.iter().enumerate() {
            pos[j] = (MARGIN + c * (NODE_W + COL_GAP), MARGIN + r * (NODE_H + ROW_GAP));
        }
    }

    let mut out = String::with_capacity(256 + jobs.len() * 320 + layout.edges.len() * 80);
    svg_open(&mut out, width, height);
    // Edges first so the nodes paint over their ends; the group's fill keeps curves unfilled
    // even where the stylesheet is missing.
    if !layout.edges.is_empty() {
        out.push_str("<g class=\"edges\" fill=\"none\" stroke=\"#a4a3a8\">");
        for &(from, to) in &layout.edges {
            let (x1, y1) = (pos[from].0 + NODE_W, pos[from].1 + NODE_H / 2);
            let (x2, y2) = (pos[to].0, pos[to].1 + NODE_H / 2);
            // Horizontal tangents at both ends: the curve leaves and enters the nodes sideways.
            let bend = (x2.saturating_sub(x1)) / 2;
            let _ = write!(
                out,
                "<path class=\"edge\" d=\"M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}\"/>",
                x1 + bend,
                x2.saturating_sub(bend),
            );
        }
        out.push_str("</g>");
    }
    for column in &layout.columns {
        for &j in column {
            push_node(&mut out, &jobs[j], pos[j]);
        }
    }
    out.push_str("</svg>");
    out
}

/// The computed layout: columns of job indices top to bottom, and the edges to draw as
/// (needed job, needing job).
struct Layout {
    columns: Vec<Vec<usize>>,
    edges: Vec<(usize, usize)>,
}

fn layout(jobs: &[GraphJob]) -> Layout {
    let needs = resolve_needs(jobs);
    let layer = assign_layers(jobs, &needs);

    // Only explicit needs are drawn, and only when they point left: a back-reference can only
    // come from a cycle, which the layering already broke by ignoring it.
    let mut edges = Vec::new();
    let mut preds = vec![Vec::new(); jobs.len()];
    let mut succs = vec![Vec::new(); jobs.len()];
    for (j, resolved) in needs.iter().enumerate() {
        for &d in resolved.iter().flatten() {
            if layer[d] < layer[j] {
                edges.push((d, j));
                preds[j].push(d);
                succs[d].push(j);
            }
        }
    }

    // Start from stage order (then pipeline order), which is what people expect to read
    // top-down when there are no edges to untangle.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&j| jobs[j].stage);
    let cols = layer.iter().max().map_or(0, |&m| m + 1);
    let mut columns = vec![Vec::new(); cols];
    for j in order {
        columns[layer[j]].push(j);
    }
    reduce_crossings(&mut columns, &preds, &succs);
    Layout { columns, edges }
}

/// Each job's `needs` as job indices (sorted, deduplicated, unknown names dropped); `None` for
/// jobs that follow stage order. Duplicate job names resolve to the first job of that name.
fn resolve_needs(jobs: &[GraphJob]) -> Vec<Option<Vec<usize>>> {
    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        by_name.entry(job.name.as_str()).or_insert(i);
    }
    jobs.iter()
        .map(|job| {
            job.needs.as_ref().map(|names| {
                let mut v: Vec<usize> = names.iter().filter_map(|n| by_name.get(n.as_str()).copied()).collect();
                v.sort_unstable();
                v.dedup();
                v
            })
        })
        .collect()
}

/// Longest-path layering over the dependency graph, with cycles broken.
///
/// Stage order would need an edge from every job to every job of the earlier stages
/// (quadratic); instead one barrier node per distinct stage stands for "everything before this
/// stage": barrier k depends on barrier k-1 and on the jobs of stage k-1, and a stage-order job
/// of stage k depends on barrier k only. That keeps the graph at O(V + E + stages).
fn assign_layers(jobs: &[GraphJob], needs: &[Option<Vec<usize>>]) -> Vec<usize> {
    let n = jobs.len();
    let mut stages: Vec<usize> = jobs.iter().map(|j| j.stage).collect();
    stages.sort_unstable();
    stages.dedup();
    let rank = |stage: usize| stages.partition_point(|&s| s < stage);

    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(n + stages.len());
    for (job, resolved) in jobs.iter().zip(needs) {
        deps.push(match resolved {
            Some(v) => v.clone(),
            None => vec![n + rank(job.stage)],
        });
    }
    for k in 0..stages.len() {
        deps.push(if k == 0 { Vec::new() } else { vec![n + k - 1] });
    }
    for (i, job) in jobs.iter().enumerate() {
        let k = rank(job.stage);
        if k + 1 < stages.len() {
            deps[n + k + 1].push(i);
        }
    }
    longest_path(&deps, n)
}

/// For nodes `0..jobs` (jobs) and the rest (barriers), each job's column: one more than the
/// largest column among its dependencies, 0 without any. A barrier adds no column of its own.
///
/// Iterative depth-first search (no recursion, so deep chains cannot overflow the stack); a
/// dependency still open on the search stack closes a cycle and is treated as absent, so every
/// node and edge is visited a bounded number of times whatever the input.
fn longest_path(deps: &[Vec<usize>], jobs: usize) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state = vec![State::New; deps.len()];
    // For a job: its column + 1 (the columns it and its dependencies fill); for a barrier: the
    // columns its dependencies fill. Both are what a dependant's column starts from.
    let mut reach = vec![0usize; deps.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..jobs {
        if state[root] != State::New {
            continue;
        }
        state[root] = State::Open;
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            if let Some(&dep) = deps[node].get(next) {
                top.1 += 1;
                if state[dep] == State::New {
                    state[dep] = State::Open;
                    stack.push((dep, 0));
                }
            } else {
                stack.pop();
                let start =
                    deps[node].iter().filter(|&&d| state[d] == State::Done).map(|&d| reach[d]).max().unwrap_or(0);
                reach[node] = if node < jobs { start + 1 } else { start };
                state[node] = State::Done;
            }
        }
    }
    reach.truncate(jobs);
    reach.iter().map(|r| r.saturating_sub(1)).collect()
}

/// Reorders each column by the mean row of its neighbours (predecessors going right,
/// successors going left), a fixed number of times.
fn reduce_crossings(columns: &mut [Vec<usize>], preds: &[Vec<usize>], succs: &[Vec<usize>]) {
    let mut row = vec![0usize; preds.len()];
    for column in columns.iter() {
        for (r, &j) in column.iter().enumerate() {
            row[j] = r;
        }
    }
    let mut keyed: Vec<(f64, usize)> = Vec::new();
    for _ in 0..SWEEPS {
        for column in columns.iter_mut().skip(1) {
            sort_by_barycenter(column, preds, &mut row, &mut keyed);
        }
        for column in columns.iter_mut().rev().skip(1) {
            sort_by_barycenter(column, succs, &mut row, &mut keyed);
        }
    }
}

fn sort_by_barycenter(
    column: &mut [usize],
    neighbours: &[Vec<usize>],
    row: &mut [usize],
    keyed: &mut Vec<(f64, usize)>,
) {
    keyed.clear();
    keyed.extend(column.iter().map(|&j| {
        let ns = &neighbours[j];
        // A node without neighbours on this side keeps its place as its key, so unconnected
        // (stage-order) jobs do not all sink to one end.
        let key = if ns.is_empty() {
            row[j] as f64
        } else {
            ns.iter().map(|&m| row[m] as f64).sum::<f64>() / ns.len() as f64
        };
        (key, j)
    }));
    // Stable, so ties keep their current order and the result is deterministic.
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (r, (slot, &(_, j))) in column.iter_mut().zip(keyed.iter()).enumerate() {
        *slot = j;
        row[j] = r;
    }
}

fn svg_open(out: &mut String, width: usize, height: usize) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"needs-graph\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"Job dependency graph\">"
    );
}

fn empty_svg() -> String {
    let mut out = String::with_capacity(256);
    svg_open(&mut out, 200, 48);
    let _ = write!(out, "<text class=\"empty\" x=\"{MARGIN}\" y=\"29\" font-size=\"{FONT_SIZE}\">No jobs</text></svg>");
    out
}

fn push_node(out: &mut String, job: &GraphJob, (x, y): (usize, usize)) {
    let (class, label, glyph) = STATUSES.iter().copied().find(|(s, _, _)| *s == job.status).unwrap_or(UNKNOWN_STATUS);
    let linked = is_local_path(&job.href);
    if linked {
        out.push_str("<a href=\"");
        push_text(out, &job.href);
        out.push_str("\">");
    }
    let _ = write!(out, "<g class=\"node status-{class}\"><title>");
    push_text(out, &job.name);
    let _ = write!(out, " – {label}</title>");
    let _ = write!(
        out,
        "<rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"4\" fill=\"#fff\" stroke=\"#bfbfc3\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"{FONT_SIZE}\">{glyph} ",
        x + TEXT_PAD,
        y + TEXT_BASELINE,
    );
    push_text(out, &truncate(&job.name, NAME_UNITS));
    out.push_str("</text></g>");
    if linked {
        out.push_str("</a>");
    }
}

/// Whether `href` is a path on this server. Anything else (a `javascript:` URL, a
/// protocol-relative `//host`, `/\host` which browsers also read as a host) is not linked: the
/// caller promised a local path, and a link is the one place an SVG could run script.
fn is_local_path(href: &str) -> bool {
    let mut chars = href.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        // Browsers drop tabs and newlines from URLs, which could turn "/\t/host" into "//host".
        && !href.chars().any(char::is_control)
}

/// Escapes `s` as element content or attribute value, replacing characters that XML 1.0 does
/// not allow (most control characters), so the SVG also parses as a standalone document.
fn push_text(out: &mut String, s: &str) {
    let bad = |c: char| (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}');
    if s.chars().any(bad) {
        let clean: String = s.chars().map(|c| if bad(c) { '\u{FFFD}' } else { c }).collect();
        push_html(out, &clean);
    } else {
        push_html(out, s);
    }
}

/// `name` cut to at most `units` narrow-character units, ending in "…" when cut. Wide (East
/// Asian, emoji) characters count two units; the estimate only has to keep labels inside the
/// box, the full name is in the node's `<title>`.
fn truncate(name: &str, units: usize) -> String {
    let total: usize = name.chars().map(char_units).sum();
    if total <= units {
        return name.to_owned();
    }
    let mut out = String::new();
    let mut used = 1; // the ellipsis
    for c in name.chars() {
        used += char_units(c);
        if used > units {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

fn char_units(c: char) -> usize {
    match u32::from(c) {
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

#[cfg(test)]
#[path = "needs_graph_tests.rs"]
mod tests;
