//! `needs:` — parsing, resolution against the jobs that made it into the pipeline, and the
//! DAG checks (missing jobs, the 50-entry limit, cycles).

use std::collections::HashMap;

use crate::diagnostic::{Diags, Pos};
use crate::plan::{Job, Need};
use crate::values;
use crate::yaml::Node;

/// GitLab's default limit on `needs` entries per job.
pub const MAX_NEEDS: usize = 50;

/// One `needs` entry as written. `matrix` selects instances of a matrix job.
#[derive(Debug, Clone, PartialEq)]
pub struct NeedSpec {
    pub job: String,
    pub artifacts: bool,
    pub optional: bool,
    pub matrix: Option<Vec<Vec<(String, String)>>>,
    pub pos: Pos,
}

/// Parses `needs:`; nested lists (from `!reference`) are flattened.
pub fn parse(n: &Node, job: &str, d: &mut Diags) -> Vec<NeedSpec> {
    let Some(items) = n.as_seq() else {
        d.error(n.pos, format!("`{job}`: needs must be a list"));
        return Vec::new();
    };
    let flat: Vec<&Node> =
        items.iter().flat_map(|i| i.as_seq().map_or_else(|| vec![i], |s| s.iter().collect())).collect();
    let mut out = Vec::new();
    for i in flat {
        if let Some(name) = i.as_str() {
            out.push(NeedSpec { job: name.into(), artifacts: true, optional: false, matrix: None, pos: i.pos });
            continue;
        }
        let Some(m) = i.as_map() else {
            d.error(i.pos, format!("`{job}`: a needs entry must be a job name or a map"));
            continue;
        };
        if m.get("pipeline").is_some() || m.get("project").is_some() {
            d.error(i.pos, format!("`{job}`: needs:project and needs:pipeline are not supported yet"));
            continue;
        }
        crate::job_parts::check_keys(m, &["job", "artifacts", "optional", "parallel"], "needs", d);
        let Some(name) = m.get("job").and_then(|j| values::string(j, d, "needs:job")) else {
            d.error(i.pos, format!("`{job}`: a needs entry needs `job`"));
            continue;
        };
        let flag = |k: &str, d: &mut Diags, def: bool| m.get(k).and_then(|v| values::boolean(v, d, k)).unwrap_or(def);
        let artifacts = flag("artifacts", d, true);
        let optional = flag("optional", d, false);
        let matrix =
            m.get("parallel").and_then(Node::as_map).and_then(|p| p.get("matrix")).and_then(Node::as_seq).map(|rows| {
                rows.iter()
                    .filter_map(Node::as_map)
                    .map(|r| {
                        r.entries
                            .iter()
                            .map(|e| (e.key.clone(), e.value.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .collect()
            });
        out.push(NeedSpec { job: name, artifacts, optional, matrix, pos: i.pos });
    }
    if out.len() > MAX_NEEDS {
        d.error(n.pos, format!("`{job}`: needs has {} entries; the limit is {MAX_NEEDS}", out.len()));
    }
    out
}

/// A job of the pipeline before needs are resolved: its base name (before parallel
/// expansion) and matrix variables, to match `needs` entries.
pub struct Slot<'a> {
    pub base: &'a str,
    pub matrix: &'a [(String, String)],
}

/// Resolves the specs of job `who` against the pipeline's jobs (`slots[i]` describes `jobs[i]`).
/// `defined` says whether a missing name exists in the configuration at all (for the message).
pub fn resolve(
    who: &str,
    specs: &[NeedSpec],
    slots: &[Slot<'_>],
    names: &[String],
    defined: &dyn Fn(&str) -> bool,
    d: &mut Diags,
) -> Vec<Need> {
    let mut out = Vec::new();
    for s in specs {
        let hits: Vec<usize> = (0..slots.len())
            .filter(|&i| slots[i].base == s.job || names[i] == s.job)
            .filter(|&i| {
                s.matrix
                    .as_ref()
                    .is_none_or(|rows| rows.iter().any(|row| row.iter().all(|kv| slots[i].matrix.contains(kv))))
            })
            .collect();
        if hits.is_empty() {
            if !s.optional {
                let why = if defined(&s.job) {
                    "is not in this pipeline (excluded by rules, only or except)"
                } else {
                    "does not exist"
                };
                d.error(s.pos, format!("`{who}` needs `{}`, which {why}", s.job));
            }
            continue;
        }
        out.extend(hits.into_iter().map(|i| Need {
            job: names[i].clone(),
            artifacts: s.artifacts,
            optional: s.optional,
        }));
    }
    out
}

/// Reports every cycle in the needs graph once, naming its jobs.
pub fn check_cycles(jobs: &[Job], pos_of: &dyn Fn(usize) -> Pos, d: &mut Diags) {
    let index: HashMap<&str, usize> = jobs.iter().enumerate().map(|(i, j)| (j.name.as_str(), i)).collect();
    let edges: Vec<Vec<usize>> = jobs
        .iter()
        .map(|j| j.needs.iter().flatten().filter_map(|n| index.get(n.job.as_str()).copied()).collect())
        .collect();
    // Iterative three-colour DFS: 0 = new, 1 = on the stack, 2 = done.
    let mut colour = vec![0u8; jobs.len()];
    for start in 0..jobs.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                match colour[to] {
                    0 => {
                        colour[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|&(n, _)| n == to).unwrap_or(0);
                        let mut names: Vec<&str> = stack[from..].iter().map(|&(n, _)| jobs[n].name.as_str()).collect();
                        names.push(jobs[to].name.as_str());
                        d.error(pos_of(to), format!("needs cycle: {}", names.join(" -> ")));
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
}
