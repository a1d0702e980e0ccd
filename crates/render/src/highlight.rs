//! Syntax highlighting of repository files, one self-contained HTML fragment per line (so the
//! blob page can give every line its own number and anchor), with CSS classes only: the site's
//! Content-Security-Policy forbids inline styles, and the colours live in [`theme_css`].
//!
//! syntect with its bundled grammars and the pure-Rust regex engine. Its regex engine bounds
//! backtracking and reports an error instead of running away; on any error the rest of the file
//! is shown as plain text. Files beyond [`MAX_BYTES`] or [`MAX_LINES`] are not highlighted at
//! all (the page shows them plain), so one request's CPU stays bounded.

use crate::escape::push_html;
use syntect::html::{ClassStyle, css_for_theme_with_class_style, line_tokens_to_classed_spans};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

/// Largest file highlighted.
pub const MAX_BYTES: usize = 1 << 20;
/// Most lines highlighted.
pub const MAX_LINES: usize = 20_000;

const CLASSES: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// The grammars, loaded once (it takes tens of milliseconds; keep one per process).
pub struct Highlighter {
    syntaxes: SyntaxSet,
}

impl Default for Highlighter {
    fn default() -> Self {
        Highlighter::new()
    }
}

impl Highlighter {
    pub fn new() -> Highlighter {
        Highlighter { syntaxes: SyntaxSet::load_defaults_newlines() }
    }

    /// The grammar's name for `path` (by file name or extension, else by the first line), or
    /// `None` for plain text.
    pub fn language(&self, path: &str, text: &str) -> Option<&str> {
        self.syntax(path, text).map(|s| s.name.as_str())
    }

    fn syntax(&self, path: &str, text: &str) -> Option<&SyntaxReference> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = name.rsplit_once('.').map(|(_, e)| e);
        self.syntaxes
            .find_syntax_by_extension(name)
            .or_else(|| ext.and_then(|e| self.syntaxes.find_syntax_by_extension(e)))
            .or_else(|| text.lines().next().and_then(|l| self.syntaxes.find_syntax_by_first_line(l)))
            .filter(|s| s.name != "Plain Text")
    }

    /// `text` as one HTML fragment per line (without line ends). Plain escaped text when the
    /// language is unknown or the file is too big to highlight.
    pub fn lines(&self, path: &str, text: &str) -> Vec<String> {
        let syntax = match self.syntax(path, text) {
            Some(s) if text.len() <= MAX_BYTES && text.lines().count() <= MAX_LINES => s,
            _ => return plain_lines(text),
        };
        let mut state = ParseState::new(syntax);
        let mut stack = ScopeStack::new();
        let mut open: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let mut rest = LinesWithEndings::from(text);
        for line in rest.by_ref() {
            let body = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(line);
            let spans = state.parse_line(line, &self.syntaxes).ok().and_then(|ops| {
                line_tokens_to_classed_spans(body, clamp(&ops, body.len()).as_slice(), CLASSES, &mut stack).ok()
            });
            let Some((html, _)) = spans else {
                // The grammar gave up (e.g. the regex engine's backtracking bound): this line
                // and the rest are shown plain.
                out.push(plain(body));
                out.extend(plain_lines_of(rest));
                return out;
            };
            let mut full: String = open.concat();
            full.push_str(&html);
            track(&html, &mut open);
            full.extend(std::iter::repeat_n("</span>", open.len()));
            out.push(full);
        }
        out
    }
}

/// The stylesheet of the highlighting classes (a light theme).
pub fn theme_css() -> String {
    let themes = syntect::highlighting::ThemeSet::load_defaults();
    themes
        .themes
        .get("InspiredGitHub")
        .and_then(|t| css_for_theme_with_class_style(t, CLASSES).ok())
        .unwrap_or_default()
}

/// Scope operations at offsets past the line's body (its newline) move to its end.
fn clamp(ops: &[(usize, syntect::parsing::ScopeStackOp)], len: usize) -> Vec<(usize, syntect::parsing::ScopeStackOp)> {
    ops.iter().map(|(i, op)| ((*i).min(len), op.clone())).collect()
}

/// Follows the span tags of a line's HTML (syntect's own, well nested), so that the next line
/// reopens the ones still open.
fn track(html: &str, open: &mut Vec<String>) {
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("</span>") {
            open.pop();
            rest = r;
        } else if let Some(end) = rest.find('>') {
            open.push(rest[..=end].to_string());
            rest = &rest[end + 1..];
        } else {
            break;
        }
    }
}

fn plain(line: &str) -> String {
    let mut s = String::with_capacity(line.len());
    push_html(&mut s, line);
    s
}

/// `text` split into escaped lines, without highlighting.
pub fn plain_lines(text: &str) -> Vec<String> {
    plain_lines_of(LinesWithEndings::from(text))
}

fn plain_lines_of<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    lines.map(|l| plain(l.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(l))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_is_highlighted_with_classes_and_every_line_is_balanced() {
        let h = Highlighter::new();
        let src = "/* a\n   multi-line comment */\nfn main() {\n    let s = \"<script>\";\n}\n";
        let lines = h.lines("src/main.rs", src);
        assert_eq!(lines.len(), 5);
        assert_eq!(h.language("src/main.rs", src), Some("Rust"));
        for l in &lines {
            assert_eq!(l.matches("<span").count(), l.matches("</span>").count(), "{l}");
            assert!(!l.contains("style="), "{l}");
        }
        // The comment opened on line 1 is reopened on line 2.
        assert!(lines[1].contains("hl-comment"), "{}", lines[1]);
        assert!(lines[3].contains("&lt;script&gt;") && !lines[3].contains("<script"), "{}", lines[3]);
    }

    #[test]
    fn unknown_and_oversized_files_are_plain() {
        let h = Highlighter::new();
        assert_eq!(h.lines("notes.unknownext", "a <b>\nc"), vec!["a &lt;b&gt;", "c"]);
        let big = "x = 1\n".repeat(MAX_LINES + 1);
        let lines = h.lines("big.py", &big);
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert!(!lines[0].contains("<span"));
    }

    #[test]
    fn languages_come_from_names_extensions_and_first_lines() {
        let h = Highlighter::new();
        assert_eq!(h.language("Makefile", "all:\n"), Some("Makefile"));
        assert_eq!(h.language("ci/.gitlab-ci.yml", "a: 1\n"), Some("YAML"));
        assert_eq!(h.language("run", "#!/bin/bash\necho\n"), Some("Bourne Again Shell (bash)"));
    }

    #[test]
    fn the_theme_has_prefixed_classes() {
        let css = theme_css();
        assert!(css.contains(".hl-"), "{css}");
    }
}
