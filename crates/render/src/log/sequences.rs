//! Recognizers for the byte sequences of a trace line that are not text: terminal escape
//! sequences and GitLab's section markers.

pub(super) const ESC: u8 = 0x1b;
/// A CSI sequence longer than this is taken for text, so a stray ESC cannot hide a line.
const MAX_CSI: usize = 64;
/// The same bound for OSC and the other string sequences; larger, since hyperlinks carry URLs.
const MAX_OSC: usize = 4096;
const MAX_NAME: usize = 100;
const MAX_OPTIONS: usize = 256;

/// What [`escape`] found.
#[derive(Clone, Copy)]
pub(super) enum Esc {
    /// The line ends inside the sequence.
    Incomplete,
    /// Not a well-formed sequence: only the ESC is dropped, what follows is text.
    Lone,
    /// A sequence without visible effect, ending before this index.
    Skip(usize),
    /// Select Graphic Rendition; its parameters lie between the indexes, `m` at the second.
    Sgr(usize, usize),
}

/// Recognizes the escape sequence at `line[i]` (an ESC). With `last`, the line has no more bytes.
pub(super) fn escape(line: &[u8], i: usize, last: bool) -> Esc {
    let short = if last { Esc::Lone } else { Esc::Incomplete };
    let Some(&kind) = line.get(i + 1) else { return short };
    match kind {
        b'[' => {
            let params = scan(line, i + 2, i + MAX_CSI, |b| (0x30..=0x3f).contains(&b));
            let end = scan(line, params, i + MAX_CSI, |b| (0x20..=0x2f).contains(&b));
            if end - i >= MAX_CSI {
                return Esc::Lone;
            }
            match line.get(end) {
                None => short,
                Some(b'm')
                    if params == end
                        && line[i + 2..end].iter().all(|&b| b.is_ascii_digit() || b == b';' || b == b':') =>
                {
                    Esc::Sgr(i + 2, end)
                }
                Some(0x40..=0x7e) => Esc::Skip(end + 1),
                Some(_) => Esc::Lone,
            }
        }
        // OSC, DCS, SOS, PM, APC: strings up to BEL or ST (ESC \); another ESC aborts them.
        b']' | b'P' | b'X' | b'^' | b'_' => {
            for j in i + 2..line.len().min(i + MAX_OSC) {
                match line[j] {
                    0x07 => return Esc::Skip(j + 1),
                    ESC => {
                        return match line.get(j + 1) {
                            Some(b'\\') => Esc::Skip(j + 2),
                            None if !last => Esc::Incomplete,
                            _ => Esc::Skip(j),
                        };
                    }
                    _ => {}
                }
            }
            if line.len() < i + MAX_OSC { short } else { Esc::Lone }
        }
        // nF sequences, such as the charset selection `ESC ( B` that `tput sgr0` writes.
        0x20..=0x2f => {
            let end = scan(line, i + 1, i + MAX_CSI, |b| (0x20..=0x2f).contains(&b));
            match line.get(end) {
                _ if end - i >= MAX_CSI => Esc::Lone,
                None => short,
                Some(0x30..=0x7e) => Esc::Skip(end + 1),
                Some(_) => Esc::Lone,
            }
        }
        0x30..=0x7e => Esc::Skip(i + 2),
        _ => Esc::Lone,
    }
}

/// The first index from `from` (but not past `bound`) whose byte fails `ok`.
fn scan(line: &[u8], from: usize, bound: usize, ok: impl Fn(u8) -> bool) -> usize {
    let stop = bound.min(line.len());
    let mut j = from;
    while j < stop && ok(line[j]) {
        j += 1;
    }
    j
}

/// What [`marker`] found.
pub(super) enum Mark {
    /// Not a marker at all.
    None,
    /// Starts like a marker but is not a valid one.
    Malformed,
    /// The line ends where a marker could still follow.
    Incomplete,
    Start {
        name: String,
        at: u64,
        collapsed: bool,
        end: usize,
    },
    End {
        name: String,
        at: u64,
        end: usize,
    },
}

/// Recognizes `section_start:<ts>:<name>[options]\r` or `section_end:<ts>:<name>\r` at
/// `line[i]`, with the erase-line sequence the runner writes after the `\r`.
pub(super) fn marker(line: &[u8], i: usize, last: bool) -> Mark {
    const START: &[u8] = b"section_start:";
    const END: &[u8] = b"section_end:";
    let rest = &line[i..];
    let short = || if last { Mark::Malformed } else { Mark::Incomplete };
    let (is_start, mut p) = if rest.starts_with(START) {
        (true, START.len())
    } else if rest.starts_with(END) {
        (false, END.len())
    } else if !last && (START.starts_with(rest) || END.starts_with(rest)) {
        return Mark::Incomplete;
    } else {
        return Mark::None;
    };
    let ts_end = scan(rest, p, p + 21, |b| b.is_ascii_digit());
    let Some(at) = std::str::from_utf8(&rest[p..ts_end]).ok().and_then(|s| s.parse::<u64>().ok()) else {
        return if ts_end == rest.len() && ts_end - p <= 20 { short() } else { Mark::Malformed };
    };
    match rest.get(ts_end) {
        None => return short(),
        Some(b':') => p = ts_end + 1,
        Some(_) => return Mark::Malformed,
    }
    let name_end = scan(rest, p, p + MAX_NAME + 1, |b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if name_end - p > MAX_NAME {
        return Mark::Malformed;
    }
    let name = String::from_utf8_lossy(&rest[p..name_end]).into_owned();
    p = name_end;
    let mut collapsed = false;
    if is_start && rest.get(p) == Some(&b'[') {
        let opt_end = scan(rest, p + 1, p + 2 + MAX_OPTIONS, |b| b.is_ascii_alphanumeric() || b"_.-=,".contains(&b));
        match rest.get(opt_end) {
            _ if opt_end - p > MAX_OPTIONS + 1 => return Mark::Malformed,
            None => return short(),
            Some(b']') => {}
            Some(_) => return Mark::Malformed,
        }
        collapsed = rest[p + 1..opt_end].split(|&b| b == b',').any(|kv| kv == b"collapsed=true");
        p = opt_end + 1;
    }
    match rest.get(p) {
        None => return short(),
        Some(b'\r') if !name.is_empty() => p += 1,
        Some(_) => return Mark::Malformed,
    }
    for tail in [&b"\x1b[0K"[..], b"\x1b[K"] {
        if rest[p..].starts_with(tail) {
            p += tail.len();
            break;
        }
        if !last && tail.starts_with(&rest[p..]) {
            return Mark::Incomplete;
        }
    }
    let end = i + p;
    if is_start { Mark::Start { name, at, collapsed, end } } else { Mark::End { name, at, end } }
}
