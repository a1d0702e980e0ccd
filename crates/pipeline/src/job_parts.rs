//! Readers for the structured job keywords: `image`/`services`, `artifacts`, `cache`,
//! `retry`, `allow_failure`.

use crate::diagnostic::Diags;
use crate::duration::parse_seconds;
use crate::plan::{AllowFailure, Artifacts, Cache, Image, Retry};
use crate::values::{self, boolean, string, strings};
use crate::yaml::{Map, Node};

/// Reports keys of `m` outside `allowed` as errors naming `what`.
pub fn check_keys(m: &Map, allowed: &[&str], what: &str, d: &mut Diags) {
    for e in &m.entries {
        if !allowed.contains(&e.key.as_str()) {
            d.error(e.key_pos, format!("unknown keyword in {what}: `{}`", e.key));
        }
    }
}

/// `image: name` or `{name, entrypoint, pull_policy, docker}`; services add `alias`,
/// `command`, `variables`.
pub fn image(n: &Node, service: bool, d: &mut Diags) -> Option<Image> {
    let what = if service { "services" } else { "image" };
    let mut img = Image {
        name: String::new(),
        alias: None,
        entrypoint: None,
        command: None,
        pull_policy: Vec::new(),
        variables: Vec::new(),
        docker: None,
    };
    let Some(m) = n.as_map() else {
        img.name = string(n, d, what)?;
        return Some(img);
    };
    let allowed: &[&str] = if service {
        &["name", "alias", "entrypoint", "command", "variables", "pull_policy", "docker"]
    } else {
        &["name", "entrypoint", "pull_policy", "docker"]
    };
    check_keys(m, allowed, what, d);
    let Some(name) = m.get("name").and_then(|v| string(v, d, what)) else {
        d.error(n.pos, format!("{what} needs a `name`"));
        return None;
    };
    img.name = name;
    img.alias = m.get("alias").and_then(|v| string(v, d, "services:alias"));
    img.entrypoint = m.get("entrypoint").map(|v| strings(v, d, "entrypoint"));
    img.command = m.get("command").map(|v| strings(v, d, "command"));
    img.pull_policy = m.get("pull_policy").map(|v| strings(v, d, "pull_policy")).unwrap_or_default();
    img.variables = m.get("variables").map(|v| values::variables(v, d, "services:variables")).unwrap_or_default();
    img.docker = m.get("docker").map(Node::to_json);
    Some(img)
}

/// `allow_failure: bool` or `{exit_codes: N | [N...]}`.
pub fn allow_failure(n: &Node, d: &mut Diags) -> Option<AllowFailure> {
    if let Some(m) = n.as_map() {
        check_keys(m, &["exit_codes"], "allow_failure", d);
        let codes = m.get("exit_codes").map(|c| values::ints(c, d, "allow_failure:exit_codes")).unwrap_or_default();
        return Some(AllowFailure { allowed: false, exit_codes: codes });
    }
    boolean(n, d, "allow_failure").map(|allowed| AllowFailure { allowed, exit_codes: Vec::new() })
}

const RETRY_WHEN: &[&str] = &[
    "always",
    "unknown_failure",
    "script_failure",
    "api_failure",
    "stuck_or_timeout_failure",
    "runner_system_failure",
    "runner_unsupported",
    "stale_schedule",
    "job_execution_timeout",
    "archived_failure",
    "unmet_prerequisites",
    "scheduler_failure",
    "data_integrity_failure",
];

/// `retry: 0..2` or `{max, when, exit_codes}`.
pub fn retry(n: &Node, d: &mut Diags) -> Retry {
    let mut r = Retry { max: 0, when: Vec::new(), exit_codes: Vec::new() };
    let (max_node, m) = match n.as_map() {
        Some(m) => {
            check_keys(m, &["max", "when", "exit_codes"], "retry", d);
            (m.get("max"), Some(m))
        }
        None => (Some(n), None),
    };
    if let Some(mx) = max_node {
        match mx.as_int() {
            Some(v @ 0..=2) => r.max = v as u8,
            _ => d.error(mx.pos, "retry must be 0, 1 or 2 (or a map with `max`)"),
        }
    }
    if let Some(m) = m {
        if let Some(w) = m.get("when") {
            r.when = strings(w, d, "retry:when");
            for bad in r.when.iter().filter(|w| !RETRY_WHEN.contains(&w.as_str())) {
                d.error(w.pos, format!("retry:when `{bad}` is not one of: {}", RETRY_WHEN.join(", ")));
            }
        }
        r.exit_codes = m.get("exit_codes").map(|c| values::ints(c, d, "retry:exit_codes")).unwrap_or_default();
    }
    r
}

/// `artifacts:`. `expire_in` is checked (a duration or `never`) and kept as written.
pub fn artifacts(n: &Node, d: &mut Diags) -> Option<Artifacts> {
    let Some(m) = n.as_map() else {
        d.error(n.pos, format!("artifacts must be a map, found {}", n.kind_name()));
        return None;
    };
    let allowed =
        ["paths", "exclude", "expire_in", "when", "name", "untracked", "reports", "expose_as", "public", "access"];
    check_keys(m, &allowed, "artifacts", d);
    let when = m.get("when").and_then(|w| string(w, d, "artifacts:when")).unwrap_or_else(|| "on_success".into());
    if !["on_success", "on_failure", "always"].contains(&when.as_str()) {
        d.error(
            m.get("when").map_or(n.pos, |w| w.pos),
            format!("artifacts:when `{when}` is not one of: on_success, on_failure, always"),
        );
    }
    let expire_in = m.get("expire_in").and_then(|e| string(e, d, "artifacts:expire_in"));
    if let Some(e) = &expire_in
        && e != "never"
        && parse_seconds(e).is_none()
    {
        d.error(m.get("expire_in").map_or(n.pos, |x| x.pos), format!("artifacts:expire_in `{e}` is not a duration"));
    }
    Some(Artifacts {
        paths: m.get("paths").map(|p| strings(p, d, "artifacts:paths")).unwrap_or_default(),
        exclude: m.get("exclude").map(|p| strings(p, d, "artifacts:exclude")).unwrap_or_default(),
        expire_in,
        when,
        name: m.get("name").and_then(|x| string(x, d, "artifacts:name")),
        untracked: m.get("untracked").and_then(|x| boolean(x, d, "artifacts:untracked")).unwrap_or(false),
        reports: m.get("reports").map(Node::to_json),
        expose_as: m.get("expose_as").and_then(|x| string(x, d, "artifacts:expose_as")),
    })
}

/// `cache:` — one map or a list of up to four.
pub fn caches(n: &Node, d: &mut Diags) -> Vec<Cache> {
    // Lists nested by `!reference` are flattened, as for scripts.
    let items: Vec<&Node> = match n.as_seq() {
        Some(s) => s.iter().flat_map(|i| i.as_seq().map_or_else(|| vec![i], |inner| inner.iter().collect())).collect(),
        None if n.is_null() => Vec::new(),
        None => vec![n],
    };
    if items.len() > 4 {
        d.error(n.pos, "cache: at most 4 caches per job");
    }
    items.into_iter().filter_map(|c| cache(c, d)).collect()
}

fn cache(n: &Node, d: &mut Diags) -> Option<Cache> {
    let Some(m) = n.as_map() else {
        d.error(n.pos, format!("cache must be a map, found {}", n.kind_name()));
        return None;
    };
    check_keys(m, &["key", "paths", "policy", "when", "untracked", "fallback_keys", "unprotect"], "cache", d);
    let mut c = Cache {
        key: Some("default".into()),
        key_files: Vec::new(),
        key_prefix: None,
        paths: m.get("paths").map(|p| strings(p, d, "cache:paths")).unwrap_or_default(),
        policy: m.get("policy").and_then(|p| string(p, d, "cache:policy")).unwrap_or_else(|| "pull-push".into()),
        when: m.get("when").and_then(|p| string(p, d, "cache:when")).unwrap_or_else(|| "on_success".into()),
        untracked: m.get("untracked").and_then(|x| boolean(x, d, "cache:untracked")).unwrap_or(false),
        fallback_keys: m.get("fallback_keys").map(|p| strings(p, d, "cache:fallback_keys")).unwrap_or_default(),
        unprotect: m.get("unprotect").and_then(|x| boolean(x, d, "cache:unprotect")).unwrap_or(false),
    };
    match m.get("key") {
        Some(k) if k.as_map().is_some() => {
            let km = k.as_map()?;
            check_keys(km, &["files", "prefix"], "cache:key", d);
            c.key = None;
            c.key_files = km.get("files").map(|f| strings(f, d, "cache:key:files")).unwrap_or_default();
            c.key_prefix = km.get("prefix").and_then(|p| string(p, d, "cache:key:prefix"));
        }
        Some(k) => c.key = string(k, d, "cache:key"),
        None => {}
    }
    let policy_ok = ["pull-push", "pull", "push"].contains(&c.policy.as_str()) || c.policy.starts_with('$');
    if !policy_ok {
        d.error(
            m.get("policy").map_or(n.pos, |p| p.pos),
            format!("cache:policy `{}` is not one of: pull-push, pull, push", c.policy),
        );
    }
    Some(c)
}
