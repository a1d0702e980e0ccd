//! Path globs for `changes`, `exists` and `include:local` wildcards, the way GitLab uses
//! Ruby's `File.fnmatch` (pathname + dotmatch + extglob): `*` and `?` stay inside one path
//! segment, `**/` spans directories (also none), `[abc]` classes and `{a,b}` alternatives.
//!
//! Matching is a dynamic program over (pattern token, text position), so its time is
//! bounded by `pattern × text` whatever the pattern: no exponential backtracking.

/// Most `{a,b}` alternatives a pattern may expand to.
const MAX_ALTERNATIVES: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum T {
    Lit(char),
    Any,
    Star,
    /// `**` as a whole segment (or `**/`): any run of characters, slashes included.
    Globstar {
        slash: bool,
    },
    Class {
        neg: bool,
        items: Vec<(char, char)>,
    },
}

/// True when `path` matches `pattern`. A leading `/` or `./` on either is ignored.
pub fn matches(pattern: &str, path: &str) -> bool {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
    expand_braces(pattern).iter().any(|p| match_one(&tokens(p), &path.chars().collect::<Vec<_>>()))
}

/// True when the pattern has wildcard characters at all.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

fn expand_braces(p: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut rest = p;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
        let alts: Vec<&str> = rest[open + 1..close].split(',').collect();
        if out.len().saturating_mul(alts.len()) > MAX_ALTERNATIVES {
            break;
        }
        let prefix = &rest[..open];
        out = out.iter().flat_map(|o| alts.iter().map(move |a| format!("{o}{prefix}{a}"))).collect();
        rest = &rest[close + 1..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    out
}

fn tokens(p: &str) -> Vec<T> {
    let c: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '*' if c.get(i + 1) == Some(&'*') && (i == 0 || c[i - 1] == '/') => {
                let slash = c.get(i + 2) == Some(&'/');
                out.push(T::Globstar { slash });
                i += if slash { 3 } else { 2 };
            }
            '*' => {
                out.push(T::Star);
                i += 1;
            }
            '?' => {
                out.push(T::Any);
                i += 1;
            }
            '[' => match c[i + 1..].iter().position(|&x| x == ']') {
                Some(len) if len > 0 => {
                    let body = &c[i + 1..i + 1 + len];
                    let neg = matches!(body[0], '!' | '^');
                    let body = if neg { &body[1..] } else { body };
                    let mut items = Vec::new();
                    let mut j = 0;
                    while j < body.len() {
                        if j + 2 < body.len() && body[j + 1] == '-' {
                            items.push((body[j], body[j + 2]));
                            j += 3;
                        } else {
                            items.push((body[j], body[j]));
                            j += 1;
                        }
                    }
                    out.push(T::Class { neg, items });
                    i += len + 2;
                }
                _ => {
                    out.push(T::Lit('['));
                    i += 1;
                }
            },
            '\\' if i + 1 < c.len() => {
                out.push(T::Lit(c[i + 1]));
                i += 2;
            }
            ch => {
                out.push(T::Lit(ch));
                i += 1;
            }
        }
    }
    out
}

/// `ok[j]` after processing tokens `..k` = the first `j` chars can be matched by them.
fn match_one(p: &[T], s: &[char]) -> bool {
    let mut ok = vec![false; s.len() + 1];
    ok[0] = true;
    for t in p {
        let mut next = vec![false; s.len() + 1];
        for j in 0..=s.len() {
            if !ok[j] {
                continue;
            }
            match t {
                T::Lit(c) => {
                    if s.get(j) == Some(c) {
                        next[j + 1] = true;
                    }
                }
                T::Any => {
                    if s.get(j).is_some_and(|&c| c != '/') {
                        next[j + 1] = true;
                    }
                }
                T::Class { neg, items } => {
                    if let Some(&c) = s.get(j) {
                        let hit = items.iter().any(|&(a, b)| a <= c && c <= b);
                        if c != '/' && hit != *neg {
                            next[j + 1] = true;
                        }
                    }
                }
                T::Star => {
                    next[j] = true;
                    let mut k = j;
                    while k < s.len() && s[k] != '/' {
                        k += 1;
                        next[k] = true;
                    }
                }
                T::Globstar { slash } => {
                    // `**/` = zero or more whole directories; a bare `**` = anything.
                    next[j] = true;
                    for k in j + 1..=s.len() {
                        if !*slash || s[k - 1] == '/' {
                            next[k] = true;
                        }
                    }
                }
            }
        }
        ok = next;
        if !ok.iter().any(|&b| b) {
            return false;
        }
    }
    ok[s.len()]
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_stays_in_segment() {
        assert!(matches("*.md", "README.md"));
        assert!(!matches("*.md", "docs/README.md"));
        assert!(matches("docs/*", "docs/a.md"));
        assert!(matches("*.md", ".hidden.md"));
    }

    #[test]
    fn globstar_spans_directories() {
        assert!(matches("**/*.rs", "src/a/b.rs"));
        assert!(matches("**/*.rs", "b.rs"));
        assert!(matches("src/**/*.rs", "src/b.rs"));
        assert!(matches("src/**", "src/a/b/c"));
        assert!(!matches("src/**/*.rs", "lib/b.rs"));
    }

    #[test]
    fn classes_braces_question() {
        assert!(matches("file?.txt", "file1.txt"));
        assert!(matches("[a-c].txt", "b.txt"));
        assert!(!matches("[!a-c].txt", "b.txt"));
        assert!(matches("{src,lib}/**/*.{rs,toml}", "lib/x/Cargo.toml"));
        assert!(matches("/ci/a.yml", "ci/a.yml"));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let p = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = "a".repeat(2000);
        assert!(!matches(p, &s));
    }
}
