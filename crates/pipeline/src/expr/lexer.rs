//! Tokens of the expression language.

use super::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Var(String),
    Str(String),
    /// Pattern (with `\/` already unescaped) and flags.
    Regex(String, String),
    Null,
    Eq,
    Ne,
    Match,
    NoMatch,
    And,
    Or,
    LParen,
    RParen,
}

/// Splits `src` into tokens.
pub fn lex(src: &str) -> Result<Vec<Tok>, ExprError> {
    let fail = |reason: &str| ExprError { expr: src.to_string(), reason: reason.to_string() };
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some((tok, len)) = operator(&chars[i..]) {
            out.push(tok);
            i += len;
            continue;
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '$' => {
                let braced = chars.get(i + 1) == Some(&'{');
                let start = if braced { i + 2 } else { i + 1 };
                let mut j = start;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if j == start {
                    return Err(fail("`$` without a variable name"));
                }
                let name: String = chars[start..j].iter().collect();
                if braced {
                    if chars.get(j) != Some(&'}') {
                        return Err(fail("unclosed `${`"));
                    }
                    j += 1;
                }
                out.push(Tok::Var(name));
                i = j;
            }
            '"' | '\'' => {
                let end = chars[i + 1..].iter().position(|&d| d == c).ok_or_else(|| fail("unterminated string"))?;
                out.push(Tok::Str(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '/' => {
                let mut j = i + 1;
                let mut pat = String::new();
                loop {
                    match chars.get(j) {
                        None => return Err(fail("unterminated regular expression")),
                        Some('\\') if chars.get(j + 1) == Some(&'/') => {
                            pat.push('/');
                            j += 2;
                        }
                        Some('\\') => {
                            pat.push('\\');
                            if let Some(&n) = chars.get(j + 1) {
                                pat.push(n);
                            }
                            j += 2;
                        }
                        Some('/') => break,
                        Some(&o) => {
                            pat.push(o);
                            j += 1;
                        }
                    }
                }
                j += 1;
                let fstart = j;
                while j < chars.len() && chars[j].is_ascii_alphabetic() {
                    j += 1;
                }
                out.push(Tok::Regex(pat, chars[fstart..j].iter().collect()));
                i = j;
            }
            _ if chars[i..].starts_with(&['n', 'u', 'l', 'l'])
                && !chars.get(i + 4).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') =>
            {
                out.push(Tok::Null);
                i += 4;
            }
            _ => return Err(fail(&format!("unexpected `{c}`"))),
        }
    }
    Ok(out)
}

/// Fixed-spelling tokens at the start of `rest`, with their length in chars.
fn operator(rest: &[char]) -> Option<(Tok, usize)> {
    let tok = match rest {
        ['=', '=', ..] => Tok::Eq,
        ['!', '=', ..] => Tok::Ne,
        ['=', '~', ..] => Tok::Match,
        ['!', '~', ..] => Tok::NoMatch,
        ['&', '&', ..] => Tok::And,
        ['|', '|', ..] => Tok::Or,
        ['(', ..] => return Some((Tok::LParen, 1)),
        [')', ..] => return Some((Tok::RParen, 1)),
        _ => return None,
    };
    Some((tok, 2))
}
