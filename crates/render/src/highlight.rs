//! Syntax highlighting of repository files, one self-contained HTML fragment per line (so the
//! blob page can give every line its own number and anchor), with CSS classes only: the site's
//! Content-Security-Policy forbids inline styles, and the colours live in [`theme_css`].
//!
//! syntect's bundled grammars (oniguruma regexes) parse; the theme decides each token's
//! colour and font style, and a token gets the classes of that style (`h1f6feb`, `hb`, `hi`,
//! `hu`: colour, bold, italic, underline), so a line is flat `<span>`s with short class names
//! and no scope nesting to reopen. On a parse error the rest of the file is shown as plain
//! text. Files beyond [`MAX_BYTES`] or [`MAX_LINES`] are not highlighted at all (the page
//! shows them plain), so one request's CPU stays bounded.

use crate::escape::push_html;
use std::fmt::Write as _;
use syntect::highlighting::{
    FontStyle, HighlightIterator, HighlightState, Highlighter as Styler, Style, Theme, ThemeSet,
};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

/// Largest file highlighted.
pub const MAX_BYTES: usize = 1 << 20;
/// Most lines highlighted.
pub const MAX_LINES: usize = 20_000;
/// The bundled theme the colours come from.
const THEME: &str = "InspiredGitHub";

/// The grammars and the theme, loaded once (keep one per process).
pub struct Highlighter {
    syntaxes: SyntaxSet,
    theme: Theme,
}

impl Default for Highlighter {
    fn default() -> Self {
        Highlighter::new()
    }
}

fn theme() -> Theme {
    ThemeSet::load_defaults().themes.remove(THEME).unwrap_or_default()
}

impl Highlighter {
    pub fn new() -> Highlighter {
        Highlighter { syntaxes: SyntaxSet::load_defaults_newlines(), theme: theme() }
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
        let styler = Styler::new(&self.theme);
        let default = styler.get_default();
        let mut parse = ParseState::new(syntax);
        let mut state = HighlightState::new(&styler, ScopeStack::new());
        let mut out = Vec::new();
        let mut rest = LinesWithEndings::from(text);
        for line in rest.by_ref() {
            let Ok(ops) = parse.parse_line(line, &self.syntaxes) else {
                // The grammar failed on this line: it and the rest are shown plain.
                out.push(plain(body(line)));
                out.extend(plain_lines_of(rest));
                return out;
            };
            let mut html = String::with_capacity(line.len() * 2);
            for (style, piece) in HighlightIterator::new(&mut state, &ops, line, &styler) {
                let piece = piece.trim_end_matches(['\n', '\r']);
                if piece.is_empty() {
                    continue;
                }
                let classes = classes(style, default);
                if classes.is_empty() {
                    push_html(&mut html, piece);
                } else {
                    let _ = write!(html, "<span class=\"{classes}\">");
                    push_html(&mut html, piece);
                    html.push_str("</span>");
                }
            }
            out.push(html);
        }
        out
    }
}

/// The classes of a token's style; none for the theme's default text.
fn classes(style: Style, default: Style) -> String {
    let mut c = String::new();
    let fg = style.foreground;
    if fg != default.foreground {
        let _ = write!(c, "h{:02x}{:02x}{:02x}", fg.r, fg.g, fg.b);
    }
    for (flag, class) in [(FontStyle::BOLD, "hb"), (FontStyle::ITALIC, "hi"), (FontStyle::UNDERLINE, "hu")] {
        if style.font_style.contains(flag) {
            if !c.is_empty() {
                c.push(' ');
            }
            c.push_str(class);
        }
    }
    c
}

/// The stylesheet of the highlighting classes: one rule per colour the theme uses.
pub fn theme_css() -> String {
    let theme = theme();
    let mut colours: Vec<_> = theme.scopes.iter().filter_map(|item| item.style.foreground).collect();
    colours.sort_by_key(|c| (c.r, c.g, c.b));
    colours.dedup();
    let mut css = String::from(".hb{font-weight:600}.hi{font-style:italic}.hu{text-decoration:underline}\n");
    for c in colours {
        let _ = writeln!(css, ".h{0:02x}{1:02x}{2:02x}{{color:#{0:02x}{1:02x}{2:02x}}}", c.r, c.g, c.b);
    }
    css
}

fn body(line: &str) -> &str {
    line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(line)
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
    lines.map(|l| plain(body(l))).collect()
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
        // The comment opened on line 1 goes on, coloured, on line 2.
        assert_eq!(lines[0].split('"').nth(1), lines[1].split('"').nth(1), "{} / {}", lines[0], lines[1]);
        assert!(lines[1].starts_with("<span class=\"h"), "{}", lines[1]);
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
    fn every_class_a_file_uses_has_a_rule() {
        let css = theme_css();
        let h = Highlighter::new();
        let src = "// c\nfn main() { let x: u32 = 1 + \"s\".len() as u32; }\n#[derive(Debug)]\nstruct S;\n";
        for line in h.lines("a.rs", src) {
            for class in line.split("class=\"").skip(1).filter_map(|r| r.split('"').next()).flat_map(|c| c.split(' ')) {
                assert!(css.contains(&format!(".{class}{{")), "{class} has no rule in {css}");
            }
        }
    }
}
