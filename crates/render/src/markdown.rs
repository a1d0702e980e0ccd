//! Markdown (READMEs, and later descriptions and comments) to sanitized HTML.
//!
//! pulldown-cmark renders CommonMark with GitLab's everyday extensions (tables, strikethrough,
//! task lists, footnotes); the HTML it emits, raw HTML blocks of the document included, then goes
//! through ammonia's allowlist, so what reaches the page has no script, no event handler, no
//! `style` (the site's Content-Security-Policy would refuse it anyway) and no `javascript:` URL.
//! Relative links are resolved the way GitLab resolves them in a repository: a link to a file
//! opens its blob page, an image loads from the raw path.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
use std::borrow::Cow;

/// Where a document's relative URLs point.
#[derive(Debug, Clone)]
pub struct Links {
    /// Prefix for links, e.g. `/group/project/-/blob/main/docs/` (ending in `/`).
    pub blob_base: String,
    /// Prefix for images, e.g. `/group/project/-/raw/main/docs/` (ending in `/`).
    pub raw_base: String,
}

/// Largest document rendered; a longer one is cut (a README is read whole into a page).
pub const MAX_MARKDOWN: usize = 1 << 20;

/// `text` as sanitized HTML.
pub fn to_html(text: &str, links: &Links) -> String {
    let text = cut(text, MAX_MARKDOWN);
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    opts.insert(Options::ENABLE_FOOTNOTES);
    let events = Parser::new_ext(text, opts).map(|e| match e {
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: rebase(dest_url, &links.blob_base), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: rebase(dest_url, &links.raw_base), title, id })
        }
        other => other,
    });
    let mut html = String::with_capacity(text.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    sanitize(&html, links)
}

/// The allowlist pass over HTML the document produced or contained.
fn sanitize(html: &str, links: &Links) -> String {
    let blob = links.blob_base.clone();
    let raw = links.raw_base.clone();
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer nofollow"))
        .id_prefix(Some("user-content-"))
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .add_tags(["input"])
        .attribute_filter(move |element, attribute, value| match (element, attribute) {
            ("input", "type") if value != "checkbox" => None,
            ("a", "href") => Some(rebase_str(value, &blob)),
            ("img", "src") => Some(rebase_str(value, &raw)),
            _ => Some(value.into()),
        })
        .clean(html)
        .to_string()
}

fn rebase<'a>(url: CowStr<'a>, base: &str) -> CowStr<'a> {
    match rebase_str(&url, base) {
        Cow::Borrowed(_) => url,
        Cow::Owned(s) => CowStr::from(s),
    }
}

/// A relative path (no scheme, not absolute, not a fragment) put under `base`; `./` dropped.
fn rebase_str<'a>(url: &'a str, base: &str) -> Cow<'a, str> {
    let has_scheme = url.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    });
    if url.is_empty() || has_scheme || url.starts_with(['/', '#', '?']) {
        return Cow::Borrowed(url);
    }
    Cow::Owned(format!("{base}{}", url.trim_start_matches("./")))
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links { blob_base: "/g/p/-/blob/main/".into(), raw_base: "/g/p/-/raw/main/".into() }
    }

    #[test]
    fn commonmark_with_tables_and_task_lists() {
        let html = to_html("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n~~old~~", &links());
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<td>1</td>"), "{html}");
        assert!(html.contains("<input disabled=\"\" type=\"checkbox\" checked=\"\">"), "{html}");
        assert!(html.contains("<del>old</del>"), "{html}");
    }

    #[test]
    fn scripts_handlers_styles_and_javascript_urls_are_removed() {
        let doc = "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n<p style=\"color:red\" onclick=\"x()\">hi</p>\n\n\
                   [a](javascript:alert(1)) <a href=\"JaVaScRiPt:alert(2)\">b</a> <iframe src=\"https://x\"></iframe>\n\n\
                   <input type=\"text\" value=\"x\"> <form action=\"/x\"><button>go</button></form>";
        let html = to_html(doc, &links()).to_ascii_lowercase();
        for bad in ["<script", "onerror", "onclick", "style=", "javascript:", "<iframe", "<form", "type=\"text\""] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("hi"));
    }

    #[test]
    fn relative_links_open_blob_pages_and_images_load_raw() {
        let html = to_html(
            "[doc](docs/a.md) [up](./b.md) [abs](/x) [frag](#s) [web](https://e.test/) ![i](img/logo.png)\n\n<img src=\"pic.png\">",
            &links(),
        );
        assert!(html.contains("href=\"/g/p/-/blob/main/docs/a.md\""), "{html}");
        assert!(html.contains("href=\"/g/p/-/blob/main/b.md\""), "{html}");
        assert!(html.contains("href=\"/x\""), "{html}");
        assert!(html.contains("href=\"#s\""), "{html}");
        assert!(html.contains("href=\"https://e.test/\" rel=\"noopener noreferrer nofollow\""), "{html}");
        assert!(html.contains("src=\"/g/p/-/raw/main/img/logo.png\""), "{html}");
        assert!(html.contains("src=\"/g/p/-/raw/main/pic.png\""), "{html}");
    }

    #[test]
    fn huge_documents_are_cut_at_a_character_boundary() {
        let doc = "é".repeat(MAX_MARKDOWN);
        let html = to_html(&doc, &links());
        assert!(html.len() < doc.len() + 100);
    }
}
