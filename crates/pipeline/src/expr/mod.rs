//! GitLab's CI expression language (`rules:if`, `only:variables`, `workflow:rules:if`).
//!
//! `$VAR`, `${VAR}`, `'str'`, `"str"`, `null`, `/regex/flags`, `==`, `!=`, `=~`, `!~`, `&&`,
//! `||` and parentheses. `&&` binds tighter than `||`; comparisons bind tighter than both.
//! An undefined variable is `null`; a bare operand is true when it is a non-empty string.

mod eval;
mod lexer;
mod parser;

pub use eval::{build_regex, eval};
pub use parser::{Expr, parse};

/// A parse failure, reported by the caller with the position of the `if:` value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid expression `{expr}`: {reason}")]
pub struct ExprError {
    pub expr: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{eval, parse};

    fn run(src: &str, vars: &[(&str, &str)]) -> bool {
        let map: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let e = parse(src).unwrap_or_else(|err| panic!("{err}"));
        eval(&e, &|k| map.get(k).cloned())
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // true || (false && false) = true; (true || false) && false would be false.
        assert!(run("$A == '1' || $B == '1' && $C == '1'", &[("A", "1")]));
        assert!(!run("($A == '1' || $B == '1') && $C == '1'", &[("A", "1")]));
    }

    #[test]
    fn null_and_undefined() {
        assert!(run("$NOPE == null", &[]));
        assert!(!run("$SET == null", &[("SET", "")]));
        assert!(run("$SET == ''", &[("SET", "")]));
        assert!(!run("$NOPE == ''", &[]));
        assert!(!run("$NOPE", &[]));
        assert!(!run("$EMPTY", &[("EMPTY", "")]));
        assert!(run("$X", &[("X", "0")]));
        assert!(run("${X} != null", &[("X", "a")]));
    }

    #[test]
    fn regex_and_flags() {
        assert!(run("$B =~ /^release-\\d+$/", &[("B", "release-12")]));
        assert!(!run("$B =~ /^RELEASE/", &[("B", "release-12")]));
        assert!(run("$B =~ /^RELEASE/i", &[("B", "release-12")]));
        assert!(run("$B !~ /^main$/", &[("B", "dev")]));
        assert!(run("$M =~ /a.b/m", &[("M", "a\nb")]));
        assert!(run("$P =~ /a\\/b/", &[("P", "a/b")]));
        assert!(run("$B =~ $RE", &[("B", "v1.2"), ("RE", "/^v\\d/")]));
        // GitLab matches null as the empty string.
        assert!(run("$NOPE =~ /^$/", &[]));
    }

    #[test]
    fn errors() {
        for bad in ["$A ==", "($A == 'x'", "$A == 'x')", "'unterminated", "$A =~ 'str'", "/a/q", "$", "&& $A", "nul"] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
        let deep = format!("{}$A{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).is_err());
    }
}
