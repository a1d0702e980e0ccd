//! GPU requirements of a job (research: gpu.md §6c), checked with the GPU crate's pure parser.
//!
//! Three ways to ask, in order of precedence:
//! 1. the `gpu:` keyword (also under `default:`, and merged by `extends` like any map): a number
//!    of GPUs of any vendor (`gpu: 2`), a compact string (`gpu: "nvidia:2,mem>=40GB,cc>=8.0"`),
//!    or a map with `count`, `vendor`, `memory`, `compute_capability`, `arch`, `model`,
//!    `same_model`, `numa` and `sharing` (only `exclusive`);
//! 2. the compact `GPU_REQUEST` variable (`parallel:matrix` > job, rules applied > global);
//! 3. GitLab-compatible tags: `gpu` among the tags asks for one exclusive GPU.
//!
//! A vendor tag (`nvidia`, `amd`, `intel`) supplies the vendor when the chosen form names none
//! (gpu.md: "default: from tags, else any"); a form that names a different vendor than the tags
//! or than `GPU_REQUEST` is an error. The plan keeps the request as its canonical compact string
//! ([`GpuRequest::to_compact`]), which the coordinator reads back with [`GpuRequest::parse`].

use autogit_gpu::model::Vendor;
use autogit_gpu::request::{Cmp, GpuRequest, Numa, parse_size, parse_version, split_cmp};

use crate::diagnostic::{Diags, Pos};
use crate::job_parts::check_keys;
use crate::yaml::{Map, Node, Value};

/// The most GPUs one job may ask for (a single host).
pub const MAX_GPUS: u32 = 16;

/// The variable holding the compact form.
pub const VARIABLE: &str = "GPU_REQUEST";

const FIELDS: &[&str] =
    &["count", "vendor", "memory", "compute_capability", "arch", "model", "same_model", "numa", "sharing"];

/// A job's `gpu:` keyword, read and checked.
#[derive(Debug, Clone)]
pub struct Keyword {
    pub request: GpuRequest,
    /// The keyword's value.
    pub pos: Pos,
    /// Where a vendor was named (the map's `vendor`, or the compact string).
    pub vendor_pos: Option<Pos>,
    /// Where `compute_capability` was given, if it was.
    pub cc_pos: Option<Pos>,
}

/// What one job spec says about GPUs, with the positions diagnostics need.
#[derive(Debug, Clone, Default)]
pub struct JobGpu {
    pub keyword: Option<Keyword>,
    /// `gpu:` was present but wrong (already reported): nothing more is said about this job.
    pub invalid: bool,
    /// The job-level `GPU_REQUEST` value, if written in the job's `variables`.
    pub variable_pos: Option<Pos>,
    /// Where `parallel:matrix` was written (a matrix may set `GPU_REQUEST`).
    pub matrix_pos: Pos,
    /// Each tag with its position.
    pub tags: Vec<(String, Pos)>,
}

impl JobGpu {
    /// Reads the GPU parts of a job map (defaults and `extends` already applied).
    pub fn read(name: &str, key_pos: Pos, m: &Map, d: &mut Diags) -> JobGpu {
        let mut g = JobGpu { matrix_pos: m.get("parallel").map_or(key_pos, |n| n.pos), ..JobGpu::default() };
        if let Some(n) = m.get("gpu") {
            match keyword(name, n, d) {
                Ok(k) => g.keyword = k,
                Err(()) => g.invalid = true,
            }
        }
        g.variable_pos = m.get("variables").and_then(|v| variable_pos(v, VARIABLE));
        if let Some(t) = m.get("tags") {
            collect_tags(t, &mut g.tags, 0);
        }
        g
    }
}

/// The position of variable `key`'s value in a `variables:` node (`{value: …}` form included).
pub fn variable_pos(vars: &Node, key: &str) -> Option<Pos> {
    let v = vars.as_map()?.get(key)?;
    Some(v.as_map().and_then(|m| m.get("value")).map_or(v.pos, |n| n.pos))
}

fn collect_tags(n: &Node, out: &mut Vec<(String, Pos)>, depth: usize) {
    match &n.value {
        Value::Plain(s) | Value::Str(s) => out.push((s.clone(), n.pos)),
        Value::Seq(items) if depth < 10 => items.iter().for_each(|i| collect_tags(i, out, depth + 1)),
        _ => {}
    }
}

fn vendor_name(v: Option<Vendor>) -> &'static str {
    match v {
        None => "any",
        Some(Vendor::Nvidia) => "nvidia",
        Some(Vendor::Amd) => "amd",
        Some(Vendor::Intel) => "intel",
    }
}

fn vendor_of(s: &str) -> Option<Option<Vendor>> {
    Some(match s.to_ascii_lowercase().as_str() {
        "any" => None,
        "nvidia" => Some(Vendor::Nvidia),
        "amd" => Some(Vendor::Amd),
        "intel" => Some(Vendor::Intel),
        _ => return None,
    })
}

fn at(p: Pos) -> String {
    format!("line {}:{}", p.line, p.col)
}

/// A count of GPUs: 1 to [`MAX_GPUS`].
fn count(name: &str, n: &Node, what: &str, d: &mut Diags) -> Result<u32, ()> {
    let text = n.as_str().unwrap_or_default();
    let value = n.as_int().or_else(|| {
        let t = text.trim();
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().unwrap_or(i64::MAX))
    });
    match value {
        Some(v) if v < 1 => d.error(n.pos, format!("`{name}`: {what} must be at least 1 GPU, found {v}")),
        Some(v) if v > i64::from(MAX_GPUS) => {
            d.error(n.pos, format!("`{name}`: {what} asks for {text} GPUs; at most {MAX_GPUS} fit one job"))
        }
        Some(v) => return Ok(v as u32),
        None => {
            let found = n.as_str().map_or_else(|| n.kind_name().to_string(), |s| format!("`{s}`"));
            d.error(n.pos, format!("`{name}`: {what} must be a whole number of GPUs, found {found}"))
        }
    }
    Err(())
}

/// Parses a compact string; an error names `what` and its text.
fn compact(name: &str, text: &str, pos: Pos, what: &str, d: &mut Diags) -> Result<GpuRequest, ()> {
    match GpuRequest::parse(text) {
        Ok(r) if r.count > MAX_GPUS => {
            d.error(
                pos,
                format!("`{name}`: {what} `{text}` asks for {} GPUs; at most {MAX_GPUS} fit one job", r.count),
            );
            Err(())
        }
        Ok(r) => Ok(r),
        Err(e) => {
            d.error(pos, format!("`{name}`: {what} `{text}`: {e}"));
            Err(())
        }
    }
}

/// Reads `gpu:`. `Ok(None)` for `gpu: null` (no requirement, e.g. to drop a default);
/// `Err` when it was wrong (reported).
pub fn keyword(name: &str, n: &Node, d: &mut Diags) -> Result<Option<Keyword>, ()> {
    let kw = |request, vendor_pos, cc_pos| Keyword { request, pos: n.pos, vendor_pos, cc_pos };
    match &n.value {
        Value::Null => Ok(None),
        Value::Map(m) => mapping(name, n.pos, m, d).map(Some),
        Value::Plain(_) if n.as_bool().is_some() => {
            let found = n.kind_name();
            d.error(
                n.pos,
                format!("`{name}`: gpu must be a number of GPUs, a GPU_REQUEST string or a map, found {found}"),
            );
            Err(())
        }
        Value::Plain(s) | Value::Str(s) => {
            let t = s.trim();
            if n.as_int().is_some() || t.parse::<f64>().is_ok() || t.bytes().all(|b| b.is_ascii_digit()) {
                let c = count(name, n, "gpu", d)?;
                return Ok(Some(kw(GpuRequest { count: c, ..GpuRequest::default() }, None, None)));
            }
            let r = compact(name, s, n.pos, "gpu", d)?;
            let cc = r.compute_capability.map(|_| n.pos);
            Ok(Some(kw(r, Some(n.pos), cc)))
        }
        Value::Seq(_) => {
            d.error(
                n.pos,
                format!("`{name}`: gpu must be a number of GPUs, a GPU_REQUEST string or a map, found a list"),
            );
            Err(())
        }
    }
}

/// `{count, vendor, memory, compute_capability, arch, model, same_model, numa, sharing}`.
fn mapping(name: &str, pos: Pos, m: &Map, d: &mut Diags) -> Result<Keyword, ()> {
    // Any diagnostic added below means the map was wrong (past the diagnostics cap the plan is
    // dropped anyway, so a missed count there changes nothing).
    let before = d.list.len();
    check_keys(m, FIELDS, "gpu", d);
    let mut r = GpuRequest::default();
    let mut k = Keyword { request: GpuRequest::default(), pos, vendor_pos: None, cc_pos: None };
    let text = |n: &Node, field: &str, d: &mut Diags| match n.as_str() {
        Some(s) => Some(s.trim().to_string()),
        None => {
            d.error(n.pos, format!("`{name}`: gpu:{field} must be a string, found {}", n.kind_name()));
            None
        }
    };
    if let Some(n) = m.get("count") {
        r.count = count(name, n, "gpu:count", d).unwrap_or(1);
    }
    if let Some(n) = m.get("vendor")
        && let Some(s) = text(n, "vendor", d)
    {
        match vendor_of(&s) {
            Some(v) => (r.vendor, k.vendor_pos) = (v, Some(n.pos)),
            None => d.error(n.pos, format!("`{name}`: gpu:vendor `{s}` is not one of: nvidia, amd, intel, any")),
        }
    }
    if let Some(n) = m.get("memory")
        && let Some(s) = text(n, "memory", d)
    {
        // A bare size means "at least"; the canonical text has no spaces (`>= 40 GB` → `>=40GB`).
        let (c, size) = split_cmp(&s).unwrap_or((Cmp::Ge, s.as_str()));
        let size: String = size.split_whitespace().collect();
        match parse_size(&size) {
            Ok(bytes) => r.memory = Some((c, bytes, size)),
            Err(e) => d.error(n.pos, format!("`{name}`: gpu:memory `{s}`: {e}")),
        }
    }
    if let Some(n) = m.get("compute_capability")
        && let Some(s) = text(n, "compute_capability", d)
    {
        let (c, v) = split_cmp(&s).unwrap_or((Cmp::Ge, s.as_str()));
        match parse_version(v) {
            Ok(v) => (r.compute_capability, k.cc_pos) = (Some((c, v)), Some(n.pos)),
            Err(e) => d.error(n.pos, format!("`{name}`: gpu:compute_capability `{s}`: {e}")),
        }
    }
    if let Some(n) = m.get("arch") {
        let items: Vec<&Node> = n.as_seq().map_or_else(|| vec![n], |s| s.iter().collect());
        for i in items {
            match i.as_str().map(|s| s.trim().to_ascii_lowercase()) {
                Some(a) if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) => {
                    r.arch.push(a)
                }
                Some(a) => d.error(i.pos, format!("`{name}`: gpu:arch `{a}` is not an architecture name like gfx90a")),
                None => d.error(
                    i.pos,
                    format!("`{name}`: gpu:arch must be a name or a list of names, found {}", i.kind_name()),
                ),
            }
        }
    }
    if let Some(n) = m.get("model")
        && let Some(s) = text(n, "model", d)
    {
        if s.is_empty() || s.contains(',') {
            d.error(n.pos, format!("`{name}`: gpu:model `{s}` must be a non-empty glob without `,`"));
        } else {
            r.model = Some(s);
        }
    }
    if let Some(n) = m.get("same_model") {
        match n.as_bool() {
            Some(b) => r.same_model = b,
            None => d.error(n.pos, format!("`{name}`: gpu:same_model must be a boolean, found {}", n.kind_name())),
        }
    }
    if let Some(n) = m.get("numa")
        && let Some(s) = text(n, "numa", d)
    {
        match s.as_str() {
            "prefer" => r.numa = Numa::Prefer,
            "require" => r.numa = Numa::Require,
            "ignore" => r.numa = Numa::Ignore,
            _ => d.error(n.pos, format!("`{name}`: gpu:numa `{s}` is not one of: prefer, require, ignore")),
        }
    }
    if let Some(n) = m.get("sharing")
        && let Some(s) = text(n, "sharing", d)
        && s != "exclusive"
    {
        d.error(n.pos, format!("`{name}`: gpu:sharing `{s}` is not supported (only `exclusive`)"));
    }
    if d.list.len() > before {
        return Err(());
    }
    if let Err(e) = r.validate() {
        d.error(k.cc_pos.unwrap_or(pos), format!("`{name}`: gpu: {e}"));
        return Err(());
    }
    k.request = r;
    Ok(k)
}

/// The effective `GPU_REQUEST` of one job instance.
#[derive(Debug, Clone, Copy)]
pub struct Variable<'a> {
    pub text: &'a str,
    pub pos: Pos,
    /// The global one: its problems are the file's, not the job's (reported once, unnamed).
    pub global: bool,
}

/// The job's effective GPU request as the canonical compact string, `None` when it asks for no
/// GPU or when something is wrong (reported). `variable` is the effective `GPU_REQUEST`; an
/// empty one asks for nothing.
pub fn resolve(name: &str, g: &JobGpu, variable: Option<Variable<'_>>, d: &mut Diags) -> Option<String> {
    if g.invalid {
        return None;
    }
    let from_var = match variable.filter(|v| !v.text.trim().is_empty()) {
        Some(v) => {
            let mut local = Diags { files: d.files.clone(), list: Vec::new() };
            let r = compact(name, v.text, v.pos, VARIABLE, &mut local);
            for mut diag in local.list {
                if v.global {
                    diag.message = diag.message.replacen(&format!("`{name}`: "), "", 1);
                }
                d.list.push(diag);
            }
            Some((r.ok()?, v.pos))
        }
        None => None,
    };
    let tag_names: Vec<String> = g.tags.iter().map(|(t, _)| t.clone()).collect();
    let from_tags = GpuRequest::from_tags(&tag_names);
    // The chosen request and where its vendor (or the whole request) was written.
    let (mut req, source, source_pos) = match (&g.keyword, &from_var, from_tags) {
        (Some(k), _, _) => (k.request.clone(), "`gpu:`", k.vendor_pos.unwrap_or(k.pos)),
        (None, Some((r, pos)), _) => (r.clone(), VARIABLE, *pos),
        (None, None, Some(r)) => (r, "tags", g.tags.iter().find(|(t, _)| t == "gpu").map_or(g.matrix_pos, |t| t.1)),
        (None, None, None) => return None,
    };
    let mut ok = true;
    if let (Some(k), Some((v, vpos))) = (&g.keyword, &from_var)
        && let (Some(a), Some(b)) = (k.request.vendor, v.vendor)
        && a != b
    {
        d.error(
            source_pos,
            format!(
                "`{name}`: `gpu:` asks for {} GPUs but GPU_REQUEST ({}) asks for {}",
                vendor_name(Some(a)),
                at(*vpos),
                vendor_name(Some(b))
            ),
        );
        ok = false;
    }
    // Vendor tags: at most one vendor, and the same as the chosen form's.
    let vendor_tags: Vec<(Vendor, Pos)> =
        g.tags.iter().filter_map(|(t, p)| vendor_of(t).flatten().map(|v| (v, *p))).collect();
    if let Some(&(first, _)) = vendor_tags.first() {
        if let Some(&(other, p)) = vendor_tags.iter().find(|(v, _)| *v != first) {
            d.error(
                p,
                format!(
                    "`{name}`: tags name two GPU vendors, {} and {}",
                    vendor_name(Some(first)),
                    vendor_name(Some(other))
                ),
            );
            ok = false;
        } else if let Some(v) = req.vendor {
            if v != first && source != "tags" {
                d.error(
                    source_pos,
                    format!(
                        "`{name}`: {source} asks for {} GPUs but the tags ({}) ask for {}",
                        vendor_name(Some(v)),
                        at(vendor_tags[0].1),
                        vendor_name(Some(first))
                    ),
                );
                ok = false;
            }
        } else {
            req.vendor = Some(first);
            if let Err(e) = req.validate() {
                let pos = g.keyword.as_ref().and_then(|k| k.cc_pos).unwrap_or(source_pos);
                d.error(
                    pos,
                    format!(
                        "`{name}`: {e}, but the tags ({}) ask for {}",
                        at(vendor_tags[0].1),
                        vendor_name(Some(first))
                    ),
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let text = req.to_compact();
    if GpuRequest::parse(&text).as_ref() != Ok(&req) {
        d.error(source_pos, format!("`{name}`: this GPU request cannot be written as a GPU_REQUEST string (`{text}`)"));
        return None;
    }
    Some(text)
}
