use super::*;
use proptest::prelude::*;

fn render(bytes: &[u8]) -> Vec<LogItem> {
    let mut r = LogRenderer::new();
    let mut items = r.push(bytes);
    items.extend(r.finish());
    items
}

fn line(html: &str) -> LogItem {
    LogItem::Line(html.to_string())
}

/// The HTML of the single line `bytes` renders to.
fn one(bytes: &[u8]) -> String {
    match render(bytes).as_slice() {
        [LogItem::Line(html)] => html.clone(),
        other => panic!("expected one line from {bytes:?}, got {other:?}"),
    }
}

fn start(name: &str, header: &str, collapsed: bool, at: u64) -> LogItem {
    LogItem::SectionStart { name: name.to_string(), header: header.to_string(), collapsed, at }
}

fn end(name: &str, at: u64) -> LogItem {
    LogItem::SectionEnd { name: name.to_string(), at }
}

fn span(classes: &str, text: &str) -> String {
    format!("<span class=\"{classes}\">{text}</span>")
}

fn allowed_class(c: &str) -> bool {
    let colour = |n: &str| n.parse::<u8>().is_ok_and(|n| n < 16 && n.to_string().len() == 1 + usize::from(n >= 10));
    matches!(c, "sgr-bold" | "sgr-faint" | "sgr-italic" | "sgr-underline" | "sgr-strike" | "sgr-fg-bg" | "sgr-bg-fg")
        || c.strip_prefix("sgr-fg-").is_some_and(colour)
        || c.strip_prefix("sgr-bg-").is_some_and(colour)
}

/// The strict output check: escaped text and non-nested, non-empty `<span class="…">` with
/// known, distinct classes; nothing else.
fn check_html(html: &str) -> Result<(), String> {
    let mut rest = html;
    let mut in_span = false;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("<span class=\"") {
            let (classes, after) = after.split_once("\">").ok_or("unterminated span tag")?;
            let list: Vec<&str> = classes.split(' ').collect();
            if in_span || after.starts_with("</span>") {
                return Err(format!("nested or empty span in {html:?}"));
            }
            if let Some(bad) = list.iter().enumerate().find(|(k, c)| !allowed_class(c) || list[..*k].contains(c)) {
                return Err(format!("class {:?} in {html:?}", bad.1));
            }
            in_span = true;
            rest = after;
        } else if let Some(after) = rest.strip_prefix("</span>") {
            if !in_span {
                return Err(format!("stray </span> in {html:?}"));
            }
            in_span = false;
            rest = after;
        } else if c == '&' {
            let entity = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].into_iter().find(|e| rest.starts_with(e));
            rest = &rest[entity.ok_or_else(|| format!("bare & in {html:?}"))?.len()..];
        } else if matches!(c, '<' | '>' | '"' | '\'') || (c.is_control() && c != '\t') {
            return Err(format!("raw {c:?} in {html:?}"));
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    if in_span { Err(format!("unclosed span in {html:?}")) } else { Ok(()) }
}

fn check_items(items: &[LogItem]) -> Result<(), String> {
    for item in items {
        match item {
            LogItem::Line(html) | LogItem::SectionStart { header: html, .. } => check_html(html)?,
            LogItem::SectionEnd { .. } => {}
        }
    }
    Ok(())
}

#[test]
fn plain_text_has_no_span_and_markup_is_escaped() {
    assert_eq!(one(b"hello world\n"), "hello world");
    assert_eq!(one(b"<script>alert('x&y')</script>\n"), "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;");
    assert_eq!(render(b"\n\n"), vec![line(""), line("")]);
    assert_eq!(render(b"\x1b[0K\n"), vec![line("")], "a line of escapes is still a line");
}

#[test]
fn foreground_background_and_attributes() {
    assert_eq!(
        one(b"\x1b[31mred\x1b[0m \x1b[91mbright\x1b[39mplain"),
        span("sgr-fg-1", "red") + " " + &span("sgr-fg-9", "bright") + "plain"
    );
    assert_eq!(one(b"\x1b[1;42mx\x1b[49my"), span("sgr-bold sgr-bg-2", "x") + &span("sgr-bold", "y"));
    assert_eq!(one(b"\x1b[107;37mx"), span("sgr-fg-7 sgr-bg-15", "x"));
    assert_eq!(one(b"\x1b[1;2;3;4;9mall"), span("sgr-bold sgr-faint sgr-italic sgr-underline sgr-strike", "all"));
    assert_eq!(one(b"\x1b[4:0mx\x1b[4:3my"), "x".to_string() + &span("sgr-underline", "y"));
}

#[test]
fn resets() {
    assert_eq!(
        one(b"\x1b[1;31ma\x1b[mb\x1b[1;31mc\x1b[0md\x1b[1;31me\x1b[;mf"),
        span("sgr-bold sgr-fg-1", "a")
            + "b"
            + &span("sgr-bold sgr-fg-1", "c")
            + "d"
            + &span("sgr-bold sgr-fg-1", "e")
            + "f"
    );
    assert_eq!(
        one(b"\x1b[1;2ma\x1b[22mb\x1b[1mc\x1b[21md"),
        span("sgr-bold sgr-faint", "a") + "b" + &span("sgr-bold", "c") + "d"
    );
    assert_eq!(
        one(b"\x1b[3;4;9ma\x1b[23mb\x1b[24mc\x1b[29md"),
        span("sgr-italic sgr-underline sgr-strike", "a")
            + &span("sgr-underline sgr-strike", "b")
            + &span("sgr-strike", "c")
            + "d"
    );
}

#[test]
fn colours_of_256_and_24_bits_map_to_the_16() {
    let fg = |seq: &str| one(format!("\x1b[{seq}mx").as_bytes());
    assert_eq!(fg("38;5;3"), span("sgr-fg-3", "x"));
    assert_eq!(fg("38;5;12"), span("sgr-fg-12", "x"));
    assert_eq!(fg("38;5;196"), span("sgr-fg-9", "x"));
    assert_eq!(fg("38:5:46"), span("sgr-fg-10", "x"));
    assert_eq!(fg("38;5;21"), span("sgr-fg-4", "x"));
    assert_eq!(fg("38;5;232"), span("sgr-fg-0", "x"));
    assert_eq!(fg("38;5;255"), span("sgr-fg-7", "x"));
    assert_eq!(fg("38;5;244"), span("sgr-fg-8", "x"));
    assert_eq!(fg("48;5;226"), span("sgr-bg-11", "x"));
    assert_eq!(fg("38;5;256"), "x", "out of range is ignored");
    assert_eq!(fg("38;2;250;5;5"), span("sgr-fg-9", "x"));
    assert_eq!(fg("38;2;255;255;254"), span("sgr-fg-15", "x"));
    assert_eq!(fg("48:2::0:0:200"), span("sgr-bg-4", "x"));
    assert_eq!(fg("48:2:0:190:190"), span("sgr-bg-6", "x"));
    assert_eq!(fg("38;2;300;0;0"), "x");
    // The arguments of an extended colour are not codes of their own: 5 and 1 here are no blink and bold.
    assert_eq!(fg("58;5;1"), "x");
    assert_eq!(fg("38;2;1;1;1;4"), span("sgr-underline sgr-fg-0", "x"));
    assert_eq!(fg("5;53;31;999999999999"), span("sgr-fg-1", "x"), "unknown codes are ignored");
}

#[test]
fn reverse_swaps_colours() {
    assert_eq!(one(b"\x1b[7mx"), span("sgr-fg-bg sgr-bg-fg", "x"));
    assert_eq!(one(b"\x1b[31;7mx"), span("sgr-fg-bg sgr-bg-1", "x"));
    assert_eq!(one(b"\x1b[31;44;7mx\x1b[27my"), span("sgr-fg-4 sgr-bg-1", "x") + &span("sgr-fg-1 sgr-bg-4", "y"));
}

#[test]
fn adjacent_runs_of_one_look_share_a_span() {
    assert_eq!(one(b"\x1b[31ma\x1b[31mb\x1b[1m\x1b[22mc\x1b[0K\x1b[31md"), span("sgr-fg-1", "abcd"));
    assert_eq!(one(b"\x1b[7m\x1b[27mplain"), "plain", "no empty spans");
}

#[test]
fn style_carries_across_lines_and_pushes() {
    assert_eq!(
        render(b"\x1b[1mone\ntwo\x1b[0m\nthree\n"),
        vec![line(&span("sgr-bold", "one")), line(&span("sgr-bold", "two")), line("three")]
    );
    let mut r = LogRenderer::new();
    assert_eq!(r.push(b"\x1b[32mgo"), vec![]);
    assert_eq!(r.push(b"od\nnext\x1b"), vec![line(&span("sgr-fg-2", "good"))]);
    assert_eq!(r.push(b"[0m line\n"), vec![line(&(span("sgr-fg-2", "next") + " line"))]);
}

#[test]
fn sequences_and_characters_split_byte_by_byte() {
    let trace = "\x1b[38;5;196mred é€😀\x1b[0m \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n\x1b[0Ksection_start:17:s[collapsed=true]\r\x1b[0Kh\n".as_bytes();
    let whole = render(trace);
    let mut r = LogRenderer::new();
    let mut items = Vec::new();
    for b in trace {
        items.extend(r.push(std::slice::from_ref(b)));
    }
    items.extend(r.finish());
    assert_eq!(items, whole);
    assert_eq!(whole, vec![line(&(span("sgr-fg-9", "red é€😀") + " link")), start("s", "h", true, 17)]);
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    assert_eq!(one(b"a\xffb\xc3(c\xe2\x82\n"), "a\u{fffd}b\u{fffd}(c\u{fffd}");
    assert_eq!(one(b"\xe2\x82"), "\u{fffd}", "an unfinished character at the very end");
    assert_eq!(one("x\u{85}y\u{9f}z".as_bytes()), "xyz", "C1 controls are dropped");
}

#[test]
fn other_sequences_and_controls_are_stripped() {
    assert_eq!(one(b"a\x1b[2Jb\x1b[?25lc\x1b[10;20Hd\x1b[38;5;1;?me"), "abcde");
    assert_eq!(one(b"\x1b]0;title\x07x\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\"), "xlink");
    assert_eq!(one(b"\x1b(B\x1b[mtput\x1b7\x1b8"), "tput");
    assert_eq!(one(b"a\x1b\x1b[31mb\x1b"), "a".to_string() + &span("sgr-fg-1", "b"));
    assert_eq!(one(b"a\x00b\x08c\td\x7fe\x07"), "abc\tde");
}

#[test]
fn broken_sequences_do_not_swallow_text() {
    let long = format!("\x1b[{}mX", "1;".repeat(40));
    assert_eq!(one(long.as_bytes()), format!("[{}mX", "1;".repeat(40)));
    let just_fits = format!("\x1b[{}m", "0".repeat(61));
    assert_eq!(one(format!("{just_fits}ok").as_bytes()), "ok");
    assert_eq!(one(b"\x1b]0;title without end\n"), "]0;title without end");
    assert_eq!(one(b"\x1b[31\n"), "[31");
    assert_eq!(one(b"\x1b[3\xc3\xa9m"), "[3\u{e9}m");
}

#[test]
fn carriage_return_keeps_the_last_progress() {
    assert_eq!(one(b"10%\r50%\r100%\n"), "100%");
    assert_eq!(one(b"\x1b[32m10%\r\x1b[1m20%\n"), span("sgr-bold sgr-fg-2", "20%"));
    assert_eq!(render(b"a\r\nb\r\n"), vec![line("a"), line("b")]);
    assert_eq!(one(b"done\r\r\n"), "done", "a return with nothing after it erases nothing");
}

#[test]
fn sections_nest_and_end_in_order() {
    let items = render(
        b"\x1b[0Ksection_start:100:outer\r\x1b[0KOuter\n\
          \x1b[0Ksection_start:101:inner[collapsed=true]\r\x1b[0K\x1b[1mInner\n\
          body\n\
          \x1b[0Ksection_end:103:inner\r\x1b[0K\n\
          \x1b[0Ksection_end:105:outer\r\x1b[0K\n",
    );
    assert_eq!(
        items,
        vec![
            start("outer", "Outer", false, 100),
            start("inner", &span("sgr-bold", "Inner"), true, 101),
            line(&span("sgr-bold", "body")),
            end("inner", 103),
            end("outer", 105),
        ]
    );
}

#[test]
fn section_options_and_unmatched_ends() {
    let mut r = LogRenderer::new();
    let items = r.push(b"section_start:1:a[foo=bar,collapsed=true]\r\x1b[0Kh\nsection_start:2:b[collapsed=false]\rh\n");
    assert_eq!(items, vec![start("a", "h", true, 1), start("b", "h", false, 2)]);
    assert_eq!(r.open_sections(), ["a", "b"]);
    assert_eq!(r.push(b"\x1b[0Ksection_end:3:nope\r\x1b[0K\n"), vec![], "an end of no open section is ignored");
    assert_eq!(r.push(b"section_end:4:a\r\x1b[0Kafter\n"), vec![end("b", 4), end("a", 4), line("after")]);
    assert!(r.open_sections().is_empty());
}

#[test]
fn markers_in_the_middle_of_lines() {
    assert_eq!(
        render(b"before\x1b[0Ksection_start:1:a\r\x1b[0Khead\x1b[0Ksection_end:2:a\r\x1b[0Ktail\n"),
        vec![line("before"), start("a", "head", false, 1), end("a", 2), line("tail")]
    );
    assert_eq!(render(b"section_start:1:a\r\x1b[0K\n"), vec![start("a", "", false, 1)]);
}

#[test]
fn malformed_markers_are_text() {
    assert_eq!(one(b"\x1b[0Ksection_start:abc:x\r\x1b[0Kh\n"), "section_start:abc:xh");
    assert_eq!(one(b"section_start:1:a/b\r\x1b[0Kh\n"), "section_start:1:a/b\rh".replace('\r', ""));
    assert_eq!(one(b"section_end:1:a[collapsed=true]\r\x1b[0K\n"), "section_end:1:a[collapsed=true]");
    assert_eq!(one(b"section_start:99999999999999999999:a\rh\n"), "section_start:99999999999999999999:ah");
    assert_eq!(one(b"section_start:1::\rh\n"), "section_start:1::h");
    assert_eq!(one(b"section_start:1:a[x y]\rh\n"), "section_start:1:a[x y]h");
    assert_eq!(one(b"section_start:1:a"), "section_start:1:a");
    assert_eq!(one(b"my section_started: yes\n"), "my section_started: yes");
    let long = "n".repeat(101);
    assert_eq!(one(format!("section_start:1:{long}\r\n").as_bytes()), format!("section_start:1:{long}"));
    let max = "n".repeat(100);
    assert_eq!(render(format!("section_start:1:{max}\r\n").as_bytes()), vec![start(&max, "", false, 1)]);
}

#[test]
fn nesting_deeper_than_32_is_text() {
    let trace: String = (0..33).map(|k| format!("section_start:{k}:s{k}\r\x1b[0Kh\n")).collect();
    let mut r = LogRenderer::new();
    let items = r.push(trace.as_bytes());
    assert_eq!(items.len(), 33);
    assert_eq!(items[31], start("s31", "h", false, 31));
    assert_eq!(items[32], line("section_start:32:s32h"));
    assert_eq!(r.open_sections().len(), 32);
}

/// The shape of a docker-executor trace as gitlab-runner writes it.
const RUNNER_TRACE: &[u8] = b"\x1b[0KRunning with gitlab-runner 16.6.1 (f5da3c5a)\x1b[0;m\n\
\x1b[0K  on docker-1 Xy12abCd, system ID: s_0123456789ab\x1b[0;m\n\
\x1b[0Ksection_start:1700000000:prepare_executor\r\x1b[0K\x1b[0K\x1b[36;1mPreparing the \"docker\" executor\x1b[0;m\x1b[0;m\n\
\x1b[0KUsing Docker executor with image alpine:3.19 ...\x1b[0;m\n\
section_end:1700000004:prepare_executor\r\x1b[0K\x1b[0Ksection_start:1700000004:get_sources\r\x1b[0K\x1b[0K\x1b[36;1mGetting source from Git repository\x1b[0;m\x1b[0;m\n\
\x1b[32;1mFetching changes with git depth set to 20...\x1b[0;m\n\
\n\
section_end:1700000007:get_sources\r\x1b[0K\x1b[0Ksection_start:1700000007:step_script\r\x1b[0K\x1b[0K\x1b[36;1mExecuting \"step_script\" stage of the job script\x1b[0;m\x1b[0;m\n\
\x1b[32;1m$ echo <hi>\x1b[0;m\n\
<hi>\n\
\x1b[0Ksection_end:1700000128:step_script\r\x1b[0K\x1b[0Ksection_start:1700000128:cleanup\r\x1b[0K\x1b[0K\x1b[36;1mCleaning up\x1b[0;m\x1b[0;m\n\
section_end:1700000129:cleanup\r\x1b[0K\x1b[32;1mJob succeeded\x1b[0;m\n";

#[test]
fn a_gitlab_runner_trace() {
    let cyan = |t: &str| span("sgr-bold sgr-fg-6", t);
    let green = |t: &str| span("sgr-bold sgr-fg-2", t);
    assert_eq!(
        render(RUNNER_TRACE),
        vec![
            line("Running with gitlab-runner 16.6.1 (f5da3c5a)"),
            line("  on docker-1 Xy12abCd, system ID: s_0123456789ab"),
            start("prepare_executor", &cyan("Preparing the &quot;docker&quot; executor"), false, 1_700_000_000),
            line("Using Docker executor with image alpine:3.19 ..."),
            end("prepare_executor", 1_700_000_004),
            start("get_sources", &cyan("Getting source from Git repository"), false, 1_700_000_004),
            line(&green("Fetching changes with git depth set to 20...")),
            line(""),
            end("get_sources", 1_700_000_007),
            start(
                "step_script",
                &cyan("Executing &quot;step_script&quot; stage of the job script"),
                false,
                1_700_000_007
            ),
            line(&green("$ echo &lt;hi&gt;")),
            line("&lt;hi&gt;"),
            end("step_script", 1_700_000_128),
            start("cleanup", &cyan("Cleaning up"), false, 1_700_000_128),
            end("cleanup", 1_700_000_129),
            line(&green("Job succeeded")),
        ]
    );
}

#[test]
fn whole_log_as_html() {
    let html = to_html(RUNNER_TRACE);
    assert!(html.starts_with(
        "<div class=\"log-line\" id=\"L1\"><a class=\"log-ln\" href=\"#L1\">1</a><span class=\"log-text\">Running with"
    ));
    assert!(html.contains(
        "<details class=\"log-section\" data-section=\"step_script\" open><summary class=\"log-line\" id=\"L8\"><a class=\"log-ln\" href=\"#L8\">8</a><span class=\"log-text\">"
    ));
    assert!(html.contains("</span><span class=\"log-duration\">02:01</span></summary>"));
    assert!(html.ends_with("id=\"L12\"><a class=\"log-ln\" href=\"#L12\">12</a><span class=\"log-text\"><span class=\"sgr-bold sgr-fg-2\">Job succeeded</span></span></div>"));
    assert_eq!(html.matches("<details").count(), 4);
    assert_eq!(html.matches("</details>").count(), 4);

    let open = to_html(b"section_start:5:a[collapsed=true]\r\x1b[0K<h>\nx\n");
    assert_eq!(
        open,
        "<details class=\"log-section\" data-section=\"a\"><summary class=\"log-line\" id=\"L1\"><a class=\"log-ln\" href=\"#L1\">1</a><span class=\"log-text\">&lt;h&gt;</span></summary>\
         <div class=\"log-line\" id=\"L2\"><a class=\"log-ln\" href=\"#L2\">2</a><span class=\"log-text\">x</span></div></details>",
        "a section still open is closed, without a duration"
    );
}

#[test]
fn long_lines_are_cut() {
    let mut trace = vec![b'a'; 2 * MAX_LINE + MAX_LINE / 2];
    trace.push(b'\n');
    let mut r = LogRenderer::new();
    let items = r.push(&trace[..MAX_LINE + 10]);
    assert_eq!(items, vec![line(&"a".repeat(MAX_LINE))]);
    assert_eq!(r.complete_offset(), MAX_LINE as u64);
    let lens: Vec<usize> =
        r.push(&trace[MAX_LINE + 10..]).iter().map(|i| if let LogItem::Line(h) = i { h.len() } else { 0 }).collect();
    assert_eq!(lens, [MAX_LINE, MAX_LINE / 2]);
    assert_eq!(r.complete_offset(), trace.len() as u64);
    let exact = [vec![b'b'; MAX_LINE], b"\n".to_vec()].concat();
    assert_eq!(render(&exact).len(), 1, "a line of exactly the limit gives one line");
}

#[test]
fn cut_pieces_keep_split_characters_and_sequences() {
    let mut r = LogRenderer::with_line_limit(8);
    assert_eq!(r.push("1234567é".as_bytes()), vec![line("1234567")]);
    assert_eq!(r.complete_offset(), 8, "the cut point, the first byte of é being kept");
    assert_eq!(
        r.push(b"\x1b[31mabcdefgh\n"),
        vec![line(&("é".to_string() + &span("sgr-fg-1", "a"))), line(&span("sgr-fg-1", "bcdefgh"))]
    );
    assert_eq!(r.push(b"abcdef\x1b[0mxy\n"), vec![line(&span("sgr-fg-1", "abcdef")), line("xy")]);
    assert_eq!(r.push(b"12345678\n\x1b[1m\n"), vec![line("12345678"), line("")], "no empty piece after a cut");
}

#[test]
fn finish_renders_the_partial_line_only() {
    let mut r = LogRenderer::new();
    assert_eq!(r.push(b"section_start:1:a\r\x1b[0Kh\nlast"), vec![start("a", "h", false, 1)]);
    assert_eq!(r.complete_offset(), 24);
    assert_eq!(r.finish(), vec![line("last")]);
    assert_eq!(r.complete_offset(), 28);
    assert_eq!(r.open_sections(), ["a"], "finish closes no section");
    assert_eq!(r.push(b"\x1b[0m"), vec![]);
    assert_eq!(r.finish(), vec![], "an invisible tail leaves no line");
    assert_eq!(r.push(b"more\n"), vec![line("more")]);
}

#[test]
fn the_stylesheet_defines_every_class() {
    let mut classes: Vec<String> =
        ["sgr-bold", "sgr-faint", "sgr-italic", "sgr-underline", "sgr-strike", "sgr-fg-bg", "sgr-bg-fg"]
            .map(String::from)
            .to_vec();
    classes.extend((0..16).flat_map(|n| [format!("sgr-fg-{n}"), format!("sgr-bg-{n}")]));
    classes.extend(["log", "log-line", "log-ln", "log-text", "log-section", "log-duration"].map(String::from));
    for class in classes {
        assert!(allowed_class(&class) || class.starts_with("log"));
        assert!(LOG_CSS.contains(&format!(".{class} ")), "{class} is not styled");
    }
}

#[test]
#[ignore = "timing; run with --release -- --ignored --nocapture"]
fn ten_megabytes_render_fast() {
    let mut trace = Vec::new();
    let mut k = 0u64;
    while trace.len() < 10 << 20 {
        trace.extend_from_slice(
            format!("\x1b[0Ksection_start:{k}:step_{k}[collapsed=true]\r\x1b[0K\x1b[36;1mStep {k}\x1b[0;m\n")
                .as_bytes(),
        );
        for j in 0..40 {
            trace.extend_from_slice(
                format!("\x1b[32;1m$ make target-{j}\x1b[0;m <built> in {j}.{k}s \u{2713} \x1b[38;5;208mwarn\x1b[0m\n")
                    .as_bytes(),
            );
            trace.extend_from_slice(
                b"downloading 10%\r20%\r\x1b[1m100%\x1b[22m done, plain text line of a typical length here\n",
            );
        }
        trace.extend_from_slice(format!("\x1b[0Ksection_end:{}:step_{k}\r\x1b[0K\n", k + 3).as_bytes());
        k += 1;
    }
    let began = std::time::Instant::now();
    let html = to_html(&trace);
    let took = began.elapsed();
    let began = std::time::Instant::now();
    let mut r = LogRenderer::new();
    let items: usize = trace.chunks(4096).map(|c| r.push(c).len()).sum();
    let pushed = began.elapsed();
    println!(
        "{} bytes: to_html {took:?} ({} bytes of HTML), push in 4 KiB chunks {pushed:?} ({items} items)",
        trace.len(),
        html.len()
    );
}

#[test]
#[ignore = "timing; run with --release -- --ignored --nocapture"]
fn hostile_ten_megabytes_render_fast() {
    let name = "n".repeat(100);
    let hostile: [(&str, Vec<u8>); 5] = [
        ("one line, no newline", "é<b>".repeat(2 << 20).into_bytes()),
        ("markers cut short", format!("section_end:12345678901234567890:{name}x").repeat(80_000).into_bytes()),
        ("unterminated OSC", format!("\x1b]8;;{}", "u".repeat(5000)).repeat(2000).into_bytes()),
        ("overlong CSI", format!("\x1b[{}m", "1;".repeat(40)).repeat(120_000).into_bytes()),
        ("progress bars", "\x1b[1m9%\r\x1b[m".repeat(900_000).into_bytes()),
    ];
    for (what, trace) in hostile {
        let began = std::time::Instant::now();
        let html = to_html(&trace);
        println!("{what}: {} bytes in {:?} ({} bytes of HTML)", trace.len(), began.elapsed(), html.len());
    }
}

/// Traces rich in what the renderer reacts to, mixed with arbitrary bytes.
fn trace() -> impl Strategy<Value = Vec<u8>> {
    let pieces: Vec<&'static [u8]> = vec![
        b"\x1b",
        b"[",
        b"]",
        b"m",
        b"K",
        b";",
        b":",
        b"1",
        b"3",
        b"38;5;",
        b"48:2:",
        b"7",
        b"0",
        b"\r",
        b"\n",
        b"\r\n",
        b"\x07",
        b"\x1b\\",
        b"s",
        b"section_start:",
        b"section_end:",
        b"12:",
        b"a",
        b"[collapsed=true]",
        b"\x1b[0K",
        b"section_start:9:a\r\x1b[0K",
        b"section_end:9:a\r\x1b[0K",
        b"section_start:8:b[collapsed=true]\r\x1b[0K",
        "é€😀".as_bytes(),
        b"\xe2\x82",
        b"\xff",
        b"<script>&\"'",
        b"\t",
        b"\x00",
        b"x y",
    ];
    let piece = prop_oneof![
        3 => prop::sample::select(pieces).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

/// Feeds `bytes` cut at the given points (taken modulo the length); returns the items and, after
/// each chunk, the complete offset and the number of items so far.
fn feed(mut r: LogRenderer, bytes: &[u8], cuts: &[usize]) -> (Vec<LogItem>, Vec<(u64, usize)>) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let (mut items, mut marks, mut at) = (Vec::new(), Vec::new(), 0);
    for p in points {
        items.extend(r.push(&bytes[at..p]));
        at = p;
        assert!(r.complete_offset() <= at as u64);
        marks.push((r.complete_offset(), items.len()));
    }
    items.extend(r.finish());
    (items, marks)
}

fn renderer(limit: usize) -> LogRenderer {
    if limit == 0 { LogRenderer::new() } else { LogRenderer::with_line_limit(limit) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Chunking never changes the items, with or without line cuts.
    #[test]
    fn chunking_does_not_matter(bytes in trace(), cuts in prop::collection::vec(any::<usize>(), 0..8), limit in prop_oneof![Just(0usize), 1usize..40]) {
        let (whole, _) = feed(renderer(limit), &bytes, &[]);
        let (chunked, _) = feed(renderer(limit), &bytes, &cuts);
        prop_assert_eq!(chunked, whole);
    }

    /// Whatever the bytes, the HTML holds only escaped text and the allowed spans.
    #[test]
    fn output_is_always_safe(bytes in prop_oneof![trace(), prop::collection::vec(any::<u8>(), 0..300)], limit in prop_oneof![Just(0usize), 1usize..40]) {
        let (items, _) = feed(renderer(limit), &bytes, &[]);
        prop_assert_eq!(check_items(&items), Ok(()));
        let html = to_html(&bytes);
        prop_assert_eq!(html.matches("<details").count(), html.matches("</details>").count());
    }

    /// The complete offset never passes the bytes fed and always follows a newline.
    #[test]
    fn complete_offset_is_a_line_boundary(bytes in trace(), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let (_, marks) = feed(LogRenderer::new(), &bytes, &cuts);
        for (offset, _) in marks {
            prop_assert!(offset == 0 || bytes[offset as usize - 1] == b'\n');
        }
    }

    /// A renderer rebuilt from the bytes before the complete offset goes on exactly as the
    /// continuous one, as the server does when it resumes a live log.
    #[test]
    fn rebuilding_at_the_complete_offset_resumes(bytes in trace(), cuts in prop::collection::vec(any::<usize>(), 1..6), limit in prop_oneof![Just(0usize), 1usize..40]) {
        let (all, marks) = feed(renderer(limit), &bytes, &cuts);
        for (offset, seen) in marks {
            let mut fresh = renderer(limit);
            let offset = offset as usize;
            prop_assert_eq!(fresh.push(&bytes[..offset]), all[..seen].to_vec());
            let mut rest = fresh.push(&bytes[offset..]);
            rest.extend(fresh.finish());
            prop_assert_eq!(rest, all[seen..].to_vec());
        }
    }
}
