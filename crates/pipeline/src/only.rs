//! Legacy `only`/`except`. A list is `refs`; a map has `refs`, `variables`, `changes`,
//! `kubernetes`. `only` includes the job when every given key has a match; `except` excludes
//! it when every given key has a match. With neither (and no `rules`), GitLab uses
//! `only: [branches, tags]`.

use crate::diagnostic::Diags;
use crate::expr::{self, Expr};
use crate::input::RefKind;
use crate::rules::Facts;
use crate::values;
use crate::yaml::Node;

/// A parsed `only` or `except`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub refs: Option<Vec<String>>,
    pub variables: Option<Vec<Expr>>,
    pub changes: Option<Vec<String>>,
}

pub fn parse(node: &Node, what: &str, d: &mut Diags) -> Filter {
    let mut f = Filter::default();
    let Some(map) = node.as_map() else {
        f.refs = Some(values::strings(node, d, what));
        return f;
    };
    for e in &map.entries {
        match e.key.as_str() {
            "refs" => f.refs = Some(values::strings(&e.value, d, what)),
            "variables" => {
                let mut list = Vec::new();
                for text in values::strings(&e.value, d, what) {
                    match expr::parse(&text) {
                        Ok(x) => list.push(x),
                        Err(err) => d.error(e.value.pos, err.to_string()),
                    }
                }
                f.variables = Some(list);
            }
            "changes" => {
                let v = &e.value;
                let paths = match v.as_map().and_then(|m| m.get("paths")) {
                    Some(p) => p,
                    None => v,
                };
                f.changes = Some(values::strings(paths, d, what));
            }
            "kubernetes" => d.warning(e.key_pos, format!("{what}:kubernetes is not supported yet and is ignored")),
            other => d.error(e.key_pos, format!("unknown keyword in {what}: `{other}`")),
        }
    }
    f
}

/// The default `only` when a job has none of `only`, `except`, `rules`.
pub fn default_only() -> Filter {
    Filter { refs: Some(vec!["branches".into(), "tags".into()]), ..Filter::default() }
}

/// True when every key of the filter has a match.
pub fn matches(f: &Filter, facts: &Facts<'_>) -> bool {
    f.refs.as_ref().is_none_or(|r| r.iter().any(|p| ref_matches(p, facts)))
        && f.variables.as_ref().is_none_or(|v| v.iter().any(|e| facts.eval(e)))
        && f.changes.as_ref().is_none_or(|c| facts.changes(c))
}

fn ref_matches(pattern: &str, facts: &Facts<'_>) -> bool {
    let ctx = facts.ctx;
    let source = ctx.source.as_str();
    match pattern {
        "branches" => ctx.ref_kind == RefKind::Branch,
        "tags" => ctx.ref_kind == RefKind::Tag,
        "api" => source == "api",
        "web" => source == "web",
        "pushes" => source == "push",
        "schedules" => source == "schedule",
        "triggers" => source == "trigger",
        "pipelines" => source == "pipeline" || source == "parent_pipeline",
        "merge_requests" => source == "merge_request_event",
        "external" => source == "external",
        "external_pull_requests" => source == "external_pull_request_event",
        "chat" => source == "chat",
        _ => {
            // `project/path@ref` limits to one project: AutoGit compiles for one project, so
            // the part after `@` is the ref pattern.
            let p = pattern.rsplit_once('@').map_or(pattern, |(_, r)| r);
            match p.strip_prefix('/').and_then(|rest| rest.rfind('/').map(|end| (&rest[..end], &rest[end + 1..]))) {
                Some((re, flags)) => expr::build_regex(re, flags).is_ok_and(|r| r.is_match(&ctx.ref_name)),
                None => p == ctx.ref_name,
            }
        }
    }
}
