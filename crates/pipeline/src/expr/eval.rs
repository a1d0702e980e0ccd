//! Evaluation against a variable lookup, and GitLab `/re/flags` → `regex` conversion.

use regex::{Regex, RegexBuilder};

use super::parser::{CmpOp, Expr};

/// Largest compiled regex (bytes); GitLab uses RE2 for the same reason: untrusted patterns.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Builds a regex from GitLab's `/pattern/flags` parts. Flags: `i` (case-insensitive),
/// `m` (Ruby's multiline = dot matches newline), `x` (extended), `s` (same as `m`).
pub fn build_regex(pattern: &str, flags: &str) -> Result<Regex, String> {
    let mut b = RegexBuilder::new(pattern);
    b.size_limit(REGEX_SIZE_LIMIT).dfa_size_limit(REGEX_SIZE_LIMIT);
    for f in flags.chars() {
        match f {
            'i' => b.case_insensitive(true),
            'm' | 's' => b.dot_matches_new_line(true),
            'x' => b.ignore_whitespace(true),
            other => return Err(format!("unsupported regular expression flag `{other}`")),
        };
    }
    // The regex crate's messages span several lines (a caret diagram); a diagnostic is one.
    b.build().map_err(|e| {
        let text = e.to_string();
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        format!("invalid regular expression: {}", last.trim_start_matches("error: "))
    })
}

/// A value during evaluation.
enum V {
    Null,
    Str(String),
    Re(Regex),
}

impl V {
    fn truthy(&self) -> bool {
        match self {
            V::Null => false,
            V::Str(s) => !s.is_empty(),
            V::Re(_) => true,
        }
    }
}

/// Evaluates `e`; `var` returns a variable's value (`None` = undefined = null).
pub fn eval(e: &Expr, var: &dyn Fn(&str) -> Option<String>) -> bool {
    value(e, var).truthy()
}

fn value(e: &Expr, var: &dyn Fn(&str) -> Option<String>) -> V {
    match e {
        Expr::Var(n) => var(n).map_or(V::Null, V::Str),
        Expr::Str(s) => V::Str(s.clone()),
        Expr::Null => V::Null,
        Expr::Regex(r) => V::Re(r.clone()),
        Expr::And(a, b) => bool_v(eval(a, var) && eval(b, var)),
        Expr::Or(a, b) => bool_v(eval(a, var) || eval(b, var)),
        Expr::Cmp(op, a, b) => {
            let (l, r) = (value(a, var), value(b, var));
            bool_v(match op {
                CmpOp::Eq => equal(&l, &r),
                CmpOp::Ne => !equal(&l, &r),
                CmpOp::Match => matches(&l, &r),
                CmpOp::NoMatch => !matches(&l, &r),
            })
        }
    }
}

fn bool_v(b: bool) -> V {
    if b { V::Str("true".into()) } else { V::Null }
}

fn equal(l: &V, r: &V) -> bool {
    match (l, r) {
        (V::Null, V::Null) => true,
        (V::Str(a), V::Str(b)) => a == b,
        _ => false,
    }
}

/// GitLab matches `null` as the empty string; a variable on the right must hold `/re/flags`.
fn matches(l: &V, r: &V) -> bool {
    let text = match l {
        V::Str(s) => s.as_str(),
        _ => "",
    };
    match r {
        V::Re(re) => re.is_match(text),
        V::Str(s) => parse_slashed(s).and_then(|(p, f)| build_regex(&p, &f).ok()).is_some_and(|re| re.is_match(text)),
        V::Null => false,
    }
}

/// `/pattern/flags` in a variable's value → its parts.
fn parse_slashed(s: &str) -> Option<(String, String)> {
    let rest = s.strip_prefix('/')?;
    let end = rest.rfind('/')?;
    let flags = &rest[end + 1..];
    flags.chars().all(|c| c.is_ascii_alphabetic()).then(|| (rest[..end].replace("\\/", "/"), flags.to_string()))
}
