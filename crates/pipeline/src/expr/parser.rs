//! Recursive-descent parser: `or := and ('||' and)*`, `and := cmp ('&&' cmp)*`,
//! `cmp := operand (op operand)?`, `operand := '(' or ')' | $VAR | 'str' | /re/ | null`.

use regex::Regex;

use super::ExprError;
use super::eval::build_regex;
use super::lexer::{Tok, lex};

/// Parenthesis nesting allowed; deeper input is rejected instead of recursing further.
const MAX_DEPTH: usize = 64;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Match,
    NoMatch,
}

/// A parsed expression. Regex literals are compiled once, at parse time.
#[derive(Debug, Clone)]
pub enum Expr {
    Var(String),
    Str(String),
    Regex(Regex),
    Null,
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// Parses one expression.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let toks = lex(src)?;
    let mut p = P { toks: &toks, i: 0, src, depth: 0 };
    let e = p.or()?;
    if p.i != toks.len() {
        return Err(p.fail("unexpected trailing input"));
    }
    Ok(e)
}

struct P<'a> {
    toks: &'a [Tok],
    i: usize,
    src: &'a str,
    depth: usize,
}

impl P<'_> {
    fn fail(&self, reason: &str) -> ExprError {
        ExprError { expr: self.src.to_string(), reason: reason.to_string() }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.i += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.cmp()?;
        while self.peek() == Some(&Tok::And) {
            self.i += 1;
            left = Expr::And(Box::new(left), Box::new(self.cmp()?));
        }
        Ok(left)
    }

    fn cmp(&mut self) -> Result<Expr, ExprError> {
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Tok::Eq) => CmpOp::Eq,
            Some(Tok::Ne) => CmpOp::Ne,
            Some(Tok::Match) => CmpOp::Match,
            Some(Tok::NoMatch) => CmpOp::NoMatch,
            _ => return Ok(left),
        };
        self.i += 1;
        let right = self.operand()?;
        if matches!(op, CmpOp::Match | CmpOp::NoMatch) && !matches!(right, Expr::Regex(_) | Expr::Var(_)) {
            return Err(self.fail("the right side of `=~`/`!~` must be a /regex/ or a variable"));
        }
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn operand(&mut self) -> Result<Expr, ExprError> {
        let tok = self.peek().cloned().ok_or_else(|| self.fail("expected an operand"))?;
        self.i += 1;
        Ok(match tok {
            Tok::Var(v) => Expr::Var(v),
            Tok::Str(s) => Expr::Str(s),
            Tok::Null => Expr::Null,
            Tok::Regex(p, f) => Expr::Regex(build_regex(&p, &f).map_err(|r| self.fail(&r))?),
            Tok::LParen => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.fail("parentheses nested too deeply"));
                }
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.fail("missing `)`"));
                }
                self.i += 1;
                e
            }
            _ => return Err(self.fail("expected an operand")),
        })
    }
}
