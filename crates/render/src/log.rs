//! CI job logs, as GitLab runners write them, to HTML: ANSI colours become classes, GitLab's
//! section markers become collapsible sections, everything else is escaped text.
//!
//! The renderer holds the raw bytes of a line until its newline arrives and then renders the
//! whole line, so the result never depends on how the trace was chunked, and the state kept
//! between lines is small (the SGR style and the open sections). That is what lets the server
//! resume a live log at [`LogRenderer::complete_offset`] by replaying the bytes before it.
//!
//! Within a line, a carriage return that more text follows (a progress bar) discards what the
//! line showed so far, as a terminal would overwrite it. Section markers
//! (`section_start:<ts>:<name>[options]\r` and `section_end:<ts>:<name>\r`, each followed by an
//! erase-line sequence) may sit anywhere in a line and split it: text before a marker is a line
//! of its own, text after a start marker is the section's header.

mod sequences;
mod sgr;

use crate::escape::push_html;
use sequences::{ESC, Esc, Mark, escape, marker};
use sgr::{Look, Sgr};
use std::fmt::Write as _;

/// Longer lines are cut into pieces of this many bytes, so memory stays bounded.
const MAX_LINE: usize = 1 << 20;
const MAX_DEPTH: usize = 32;

/// One rendered piece of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogItem {
    /// One complete line: escaped HTML (text and `<span class="...">` only), without the newline.
    Line(String),
    /// GitLab's `section_start`: `name` as written (validated: `[A-Za-z0-9_.-]`, ≤ 100 chars, else
    /// the marker is shown as plain text), `header` the escaped HTML of the text that follows the
    /// marker on the same line, `collapsed` from the `[collapsed=true]` option, `at` the unix
    /// timestamp in the marker.
    SectionStart { name: String, header: String, collapsed: bool, at: u64 },
    /// `section_end` of an open section (an end for a section that is not open is ignored; ending
    /// an outer section closes the inner ones first, emitting their ends).
    SectionEnd { name: String, at: u64 },
}

/// Renders a job trace incrementally; see the module documentation.
#[derive(Debug, Default, Clone)]
pub struct LogRenderer {
    /// Raw bytes of the line whose newline has not arrived yet.
    pending: Vec<u8>,
    fed: u64,
    complete: u64,
    style: Sgr,
    sections: Vec<String>,
    /// Where long lines are cut; 0 means [`MAX_LINE`]. Tests lower it to exercise cuts cheaply.
    line_limit: usize,
    /// The current line was cut: its rest shows as a line only if it has text.
    cut: bool,
}

/// Why a line is rendered now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Newline,
    /// The line reached the length limit: an unfinished sequence at its end waits for the next piece.
    Cut,
    /// The rest of a line already cut, or the partial line at the end: without visible text,
    /// it leaves no line behind.
    Rest,
}

impl LogRenderer {
    /// A renderer at the start of a trace.
    pub fn new() -> Self {
        Self::default()
    }

    #[cfg(test)]
    pub(crate) fn with_line_limit(limit: usize) -> Self {
        Self { line_limit: limit.max(1), ..Self::default() }
    }

    /// Feeds the next bytes of the trace; returns the items completed by them. A partial last
    /// line, an escape sequence or a UTF-8 character split across calls is kept for the next call.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<LogItem> {
        let limit = if self.line_limit == 0 { MAX_LINE } else { self.line_limit };
        let mut items = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            // The carry after a cut is shorter than a piece, so there is always room.
            let room = limit.saturating_sub(self.pending.len()).max(1);
            let window = &rest[..rest.len().min(room)];
            if let Some(k) = window.iter().position(|&b| b == b'\n') {
                let until = if std::mem::take(&mut self.cut) { Until::Rest } else { Until::Newline };
                if self.pending.is_empty() {
                    self.render_line(&rest[..k], until, &mut items);
                } else {
                    let mut line = std::mem::take(&mut self.pending);
                    line.extend_from_slice(&rest[..k]);
                    self.render_line(&line, until, &mut items);
                    line.clear();
                    self.pending = line;
                }
                self.fed += k as u64 + 1;
                self.complete = self.fed;
                rest = &rest[k + 1..];
            } else {
                self.pending.extend_from_slice(window);
                self.fed += window.len() as u64;
                rest = &rest[window.len()..];
                if self.pending.len() >= limit {
                    // Cut as soon as the piece is full, so that the bytes before `complete`
                    // alone decide every item emitted so far (resuming relies on it).
                    let piece = std::mem::take(&mut self.pending);
                    let used = self.render_line(&piece, Until::Cut, &mut items);
                    self.pending = piece.get(used..).unwrap_or_default().to_vec();
                    self.complete = self.fed;
                    self.cut = true;
                }
            }
        }
        items
    }

    /// Renders what is left (a last line without newline, if it shows any text) and closes
    /// nothing else: sections stay open. Call it once the trace is complete; bytes pushed
    /// afterwards start a new line, as if the partial line had ended with a newline.
    pub fn finish(&mut self) -> Vec<LogItem> {
        let mut items = Vec::new();
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.render_line(&line, Until::Rest, &mut items);
        }
        self.cut = false;
        self.complete = self.fed;
        items
    }

    /// Bytes consumed into complete items so far: the offset just after the last newline
    /// processed, or where the last piece of a line longer than 1 MiB was cut (with, in the
    /// renderer's state, the few bytes of a sequence split by the cut). A reader resumes there
    /// after rebuilding the state by feeding the bytes before it to a fresh renderer.
    pub fn complete_offset(&self) -> u64 {
        self.complete
    }

    /// The names of the sections open now, outermost first.
    pub fn open_sections(&self) -> Vec<String> {
        self.sections.clone()
    }

    /// Renders one line (or a piece of one, for [`Until::Cut`]); returns how many bytes it used,
    /// less than `line.len()` only when a cut piece ends inside a sequence.
    fn render_line(&mut self, line: &[u8], until: Until, items: &mut Vec<LogItem>) -> usize {
        let mut seg = Segment::default();
        let cut = until == Until::Cut;
        let mut used = line.len();
        let mut i = 0;
        while i < line.len() {
            // A sequence that starts a cut piece and runs to its end is longer than any real one.
            let last = !cut || i == 0;
            let b = line[i];
            if b == ESC {
                match escape(line, i, last) {
                    Esc::Incomplete => {
                        used = i;
                        break;
                    }
                    Esc::Sgr(from, to) => {
                        self.style.apply(&line[from..to]);
                        i = to + 1;
                    }
                    Esc::Skip(end) => i = end,
                    Esc::Lone => i += 1,
                }
                continue;
            }
            if b == b'\r' {
                if !std::mem::take(&mut seg.swallow_cr) {
                    seg.cr = true;
                }
                i += 1;
                continue;
            }
            if is_dropped(b) {
                i += 1;
                continue;
            }
            if b == b's' {
                match marker(line, i, last) {
                    Mark::Incomplete => {
                        used = i;
                        break;
                    }
                    Mark::Start { name, at, collapsed, end } if self.sections.len() < MAX_DEPTH => {
                        seg.flush(items);
                        self.sections.push(name.clone());
                        seg.header = Some((name, collapsed, at));
                        seg.had_marker = true;
                        i = end;
                        continue;
                    }
                    Mark::End { name, at, end } => {
                        seg.flush(items);
                        seg.had_marker = true;
                        if let Some(k) = self.sections.iter().rposition(|s| *s == name) {
                            items.extend(self.sections.drain(k..).rev().map(|name| LogItem::SectionEnd { name, at }));
                        }
                        i = end;
                        continue;
                    }
                    // Shown as text; its `\r` must not then wipe it as a carriage return would.
                    Mark::Start { .. } | Mark::Malformed => seg.swallow_cr = true,
                    Mark::None => {}
                }
            }
            let end = text_end(line, i, cut);
            // A character cut at the end of a piece waits for the next one, unless it starts the piece.
            let may_wait = cut && end == line.len() && (i > 0 || end > 3);
            if let Some(left) = seg.text(self.style.look(), &line[i..end], may_wait) {
                used = end - left;
                break;
            }
            i = end;
        }
        let blank = seg.html.is_empty() && seg.header.is_none() && !seg.had_marker;
        seg.flush(items);
        if blank && until == Until::Newline {
            items.push(LogItem::Line(String::new()));
        }
        used
    }
}

/// A whole log as an HTML fragment for a page without JavaScript: lines as
/// `<div class="log-line" id="L{n}"><a class="log-ln" href="#L{n}">{n}</a><span class="log-text">{html}</span></div>`
/// (n from 1, counting every line including section header lines), sections as
/// `<details class="log-section" data-section="{name}" open?><summary class="log-line" id="L{n}">…header line…<span class="log-duration">{mm:ss}</span></summary> … </details>`
/// (open unless collapsed; sections still open at the end are closed in the HTML; the duration
/// is shown only once the section ended). Meant to sit in an element of class `log`, styled by
/// [`LOG_CSS`].
pub fn to_html(trace: &[u8]) -> String {
    let mut renderer = LogRenderer::new();
    let mut items = renderer.push(trace);
    items.extend(renderer.finish());
    // A summary comes before its section's end, so the durations are found first.
    let mut durations = vec![None; items.len()];
    let mut starts = Vec::new();
    for (k, item) in items.iter().enumerate() {
        match item {
            LogItem::SectionStart { at, .. } => starts.push((k, *at)),
            LogItem::SectionEnd { at, .. } => {
                if let Some((s, began)) = starts.pop() {
                    durations[s] = Some(at.saturating_sub(began));
                }
            }
            LogItem::Line(_) => {}
        }
    }
    let mut out = String::with_capacity(trace.len() + trace.len() / 2);
    let mut n = 0u64;
    for (item, duration) in items.iter().zip(durations) {
        match item {
            LogItem::Line(html) => {
                n += 1;
                let _ = write!(out, "<div class=\"log-line\" id=\"L{n}\">");
                push_numbered(&mut out, n, html);
                out.push_str("</div>");
            }
            LogItem::SectionStart { name, header, collapsed, .. } => {
                n += 1;
                out.push_str("<details class=\"log-section\" data-section=\"");
                push_html(&mut out, name);
                out.push_str(if *collapsed { "\">" } else { "\" open>" });
                let _ = write!(out, "<summary class=\"log-line\" id=\"L{n}\">");
                push_numbered(&mut out, n, header);
                if let Some(d) = duration {
                    let _ = write!(out, "<span class=\"log-duration\">{:02}:{:02}</span>", d / 60, d % 60);
                }
                out.push_str("</summary>");
            }
            LogItem::SectionEnd { .. } => out.push_str("</details>"),
        }
    }
    for _ in starts {
        out.push_str("</details>");
    }
    out
}

fn push_numbered(out: &mut String, n: u64, html: &str) {
    let _ = write!(out, "<a class=\"log-ln\" href=\"#L{n}\">{n}</a><span class=\"log-text\">");
    out.push_str(html);
    out.push_str("</span>");
}

/// The stylesheet for the classes this module emits. Colours are custom properties on `:root`
/// (`--log-bg`, `--log-fg`, `--log-muted`, `--log-mark`, `--log-c0` … `--log-c15`), so a theme
/// changes them without touching the rules.
pub const LOG_CSS: &str = include_str!("log/log.css");

/// C0 controls other than tab, and DEL: invisible, and not worth a placeholder.
fn is_dropped(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Where the text run starting at `i` ends: before the next control byte or possible marker.
fn text_end(line: &[u8], i: usize, cut: bool) -> usize {
    let mut j = i + 1;
    while j < line.len() {
        let b = line[j];
        if b == ESC || b == b'\r' || is_dropped(b) || (b == b's' && may_be_marker(&line[j..], cut)) {
            break;
        }
        j += 1;
    }
    j
}

/// Whether a marker may start here; at the end of a cut piece, its first bytes may be all there is.
fn may_be_marker(rest: &[u8], cut: bool) -> bool {
    rest.starts_with(b"section_") || (cut && b"section_".starts_with(rest))
}

/// The HTML of the line segment being built: a whole line, or the part before, between or
/// after section markers.
#[derive(Default)]
struct Segment {
    html: String,
    /// The look of the span open at the end of `html` (plain: none open).
    open: Look,
    /// A carriage return was seen: the next visible text replaces what the segment shows.
    cr: bool,
    swallow_cr: bool,
    header: Option<(String, bool, u64)>,
    had_marker: bool,
}

impl Segment {
    /// Decodes and appends text bytes; with `may_wait`, returns how many bytes at the end form
    /// an unfinished UTF-8 character, which are then left for the next piece.
    fn text(&mut self, look: Look, mut bytes: &[u8], may_wait: bool) -> Option<usize> {
        loop {
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    self.push(look, s);
                    return None;
                }
                Err(e) => {
                    let (valid, after) = bytes.split_at(e.valid_up_to());
                    self.push(look, std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        None if may_wait => return Some(after.len()),
                        None => {
                            self.push(look, "\u{fffd}");
                            return None;
                        }
                        Some(k) => {
                            self.push(look, "\u{fffd}");
                            bytes = after.get(k..).unwrap_or_default();
                        }
                    }
                }
            }
        }
    }

    fn push(&mut self, look: Look, s: &str) {
        // C1 controls are as invisible as C0 ones.
        for part in s.split(|c| ('\u{80}'..='\u{9f}').contains(&c)).filter(|p| !p.is_empty()) {
            if std::mem::take(&mut self.cr) {
                self.html.clear();
                self.open = Look::default();
            }
            if self.open != look {
                self.close_span();
                if look != Look::default() {
                    self.html.push_str("<span class=\"");
                    look.push_classes(&mut self.html);
                    self.html.push_str("\">");
                }
                self.open = look;
            }
            push_html(&mut self.html, part);
        }
    }

    fn close_span(&mut self) {
        if self.open != Look::default() {
            self.html.push_str("</span>");
            self.open = Look::default();
        }
    }

    /// Emits the segment: as a section header if a start marker opened it, else as a line if
    /// it shows any text.
    fn flush(&mut self, items: &mut Vec<LogItem>) {
        self.close_span();
        let html = std::mem::take(&mut self.html);
        self.cr = false;
        match self.header.take() {
            Some((name, collapsed, at)) => items.push(LogItem::SectionStart { name, header: html, collapsed, at }),
            None if !html.is_empty() => items.push(LogItem::Line(html)),
            None => {}
        }
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
