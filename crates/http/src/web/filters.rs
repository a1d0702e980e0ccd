//! Template filters: URL path escaping, dates, durations, sizes and status words.

use minijinja::{Environment, Value};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// What a path segment of a URL must escape (RFC 3986 `pchar` keeps the rest); `/` is kept
/// between segments by [`path`].
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']')
    .add(b'\'');

/// The filters take any value: a missing one (undefined or none) gives an empty string, so a
/// page with an absent field renders rather than fails.
pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("path", |v: Value| text(&v).map(|t| path(&t)).unwrap_or_default());
    env.add_filter("date", |v: Value| text(&v).map(|t| date(&t)).unwrap_or_default());
    env.add_filter("duration", |v: Value| number(&v).map(duration).unwrap_or_default());
    env.add_filter("size", |v: Value| number(&v).map(size).unwrap_or_default());
    env.add_filter("status_icon", |v: Value| text(&v).map(|t| status_icon(&t).to_string()).unwrap_or_default());
    env.add_filter("short", |v: Value| text(&v).map(|t| short(&t)).unwrap_or_default());
}

fn text(v: &Value) -> Option<String> {
    if v.is_undefined() || v.is_none() { None } else { Some(v.as_str().map_or_else(|| v.to_string(), str::to_string)) }
}

fn number(v: &Value) -> Option<i64> {
    i64::try_from(v.clone()).ok()
}

/// A repository path or ref for a URL: each segment percent-encoded, `/` kept.
pub(crate) fn path(s: &str) -> String {
    s.split('/').map(|seg| utf8_percent_encode(seg, SEGMENT).to_string()).collect::<Vec<_>>().join("/")
}

/// An RFC 3339 time as `2026-12-07 18:49 UTC` (the input when it does not parse).
fn date(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => s.to_string(),
    }
}

/// Seconds as `1h 2m 3s`.
pub(crate) fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec}s"),
        (h, m, sec) => format!("{h}h {m}m {sec}s"),
    }
}

/// Bytes as `1.5 KiB`.
pub(crate) fn size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    match b {
        b if b < 1024.0 => format!("{bytes} B"),
        b if b < 1024.0 * 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b if b < 1024.0 * 1024.0 * 1024.0 => format!("{:.1} MiB", b / 1024.0 / 1024.0),
        b => format!("{:.1} GiB", b / 1024.0 / 1024.0 / 1024.0),
    }
}

/// A text glyph for a CI status, shown beside its word so colour is never the only signal.
pub(crate) fn status_icon(status: &str) -> &'static str {
    match status {
        "success" => "✓",
        "failed" => "✗",
        "running" => "●",
        "pending" | "waiting_for_resource" | "preparing" => "◷",
        "canceled" | "canceling" => "⊘",
        "skipped" => "»",
        "manual" => "▶",
        "scheduled" => "⏲",
        "created" => "○",
        _ => "•",
    }
}

/// The first 8 characters of a commit id.
fn short(s: &str) -> String {
    s.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_slashes_and_escape_the_rest() {
        assert_eq!(path("src/a b/#x?.rs"), "src/a%20b/%23x%3F.rs");
        assert_eq!(path("feature/é"), "feature/%C3%A9");
        assert_eq!(path("\"><script>"), "%22%3E%3Cscript%3E");
    }

    #[test]
    fn words_for_numbers() {
        assert_eq!(duration(3723), "1h 2m 3s");
        assert_eq!(duration(61), "1m 1s");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(date("2026-12-07T18:49:00+01:00"), "2026-12-07 17:49 UTC");
    }
}
