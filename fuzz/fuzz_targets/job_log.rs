//! Fuzzes the job log renderer on arbitrary bytes, fed in two chunks split at the first byte's
//! value. Besides "never panics": the chunking changes nothing, and every rendered line and
//! section header is escaped text with only non-nested `<span class="…">` tags whose classes
//! come from the renderer's fixed set.

#![no_main]

use autogit_render::log::{LogItem, LogRenderer};
use libfuzzer_sys::fuzz_target;

fn allowed(class: &str) -> bool {
    let colour = |n: &str| (0..16).any(|k: u8| n == k.to_string());
    matches!(
        class,
        "sgr-bold" | "sgr-faint" | "sgr-italic" | "sgr-underline" | "sgr-strike" | "sgr-fg-bg" | "sgr-bg-fg"
    ) || class.strip_prefix("sgr-fg-").is_some_and(colour)
        || class.strip_prefix("sgr-bg-").is_some_and(colour)
}

fn is_safe(html: &str) -> bool {
    let mut rest = html;
    let mut in_span = false;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("<span class=\"") {
            let Some((classes, after)) = after.split_once("\">") else { return false };
            if in_span || !classes.split(' ').all(allowed) {
                return false;
            }
            in_span = true;
            rest = after;
        } else if let Some(after) = rest.strip_prefix("</span>") {
            if !in_span {
                return false;
            }
            in_span = false;
            rest = after;
        } else if c == '&' {
            let Some(entity) = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].into_iter().find(|e| rest.starts_with(e))
            else {
                return false;
            };
            rest = &rest[entity.len()..];
        } else if matches!(c, '<' | '>' | '"' | '\'') || (c.is_control() && c != '\t') {
            return false;
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    !in_span
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut chunked = LogRenderer::new();
    let mut items = chunked.push(&data[..split]);
    items.extend(chunked.push(&data[split..]));
    items.extend(chunked.finish());
    let mut whole = LogRenderer::new();
    let mut expected = whole.push(data);
    expected.extend(whole.finish());
    assert_eq!(items, expected, "chunking changed the items of {data:?}");
    for item in &items {
        if let LogItem::Line(html) | LogItem::SectionStart { header: html, .. } = item {
            assert!(is_safe(html), "unsafe html {html:?} from {data:?}");
        }
    }
});
