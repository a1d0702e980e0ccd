//! The SGR (Select Graphic Rendition) state of the terminal and the classes that show it.

use std::fmt::Write as _;

const BOLD: u8 = 1;
const FAINT: u8 = 2;
const ITALIC: u8 = 4;
const UNDERLINE: u8 = 8;
const STRIKE: u8 = 16;
const REVERSE: u8 = 32;
const FLAG_CLASSES: [(u8, &str); 5] = [
    (BOLD, "sgr-bold"),
    (FAINT, "sgr-faint"),
    (ITALIC, "sgr-italic"),
    (UNDERLINE, "sgr-underline"),
    (STRIKE, "sgr-strike"),
];

/// The xterm palette of the 16 standard colours, which 256-colour and RGB values are mapped to.
const PALETTE: [[u8; 3]; 16] = [
    [0, 0, 0],
    [205, 0, 0],
    [0, 205, 0],
    [205, 205, 0],
    [0, 0, 238],
    [205, 0, 205],
    [0, 205, 205],
    [229, 229, 229],
    [127, 127, 127],
    [255, 0, 0],
    [0, 255, 0],
    [255, 255, 0],
    [92, 92, 255],
    [255, 0, 255],
    [0, 255, 255],
    [255, 255, 255],
];

/// The graphic rendition state of the terminal; it carries across lines until reset.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sgr {
    flags: u8,
    fg: Option<u8>,
    bg: Option<u8>,
}

/// What a span shows: the SGR state with reverse video resolved. Colours: 0 default,
/// 1..=16 palette index + 1, [`SWAPPED`] the other side's default colour.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Look {
    flags: u8,
    fg: u8,
    bg: u8,
}
const SWAPPED: u8 = 17;

impl Sgr {
    /// The look of text written now.
    pub(super) fn look(&self) -> Look {
        let code = |c: Option<u8>, swapped| c.map_or(swapped, |n| n + 1);
        let reverse = self.flags & REVERSE != 0;
        let (fg, bg) = if reverse {
            (code(self.bg, SWAPPED), code(self.fg, SWAPPED))
        } else {
            (code(self.fg, 0), code(self.bg, 0))
        };
        Look { flags: self.flags & !REVERSE, fg, bg }
    }

    /// Applies the parameters of one SGR sequence (digits, `;` and `:` only).
    pub(super) fn apply(&mut self, params: &[u8]) {
        let mut fields = params.split(|&b| b == b';');
        while let Some(field) = fields.next() {
            let (sub, n) = sub_params(field);
            let code = sub[0];
            match code {
                0 => *self = Self::default(),
                1 => self.flags |= BOLD,
                2 => self.flags |= FAINT,
                3 => self.flags |= ITALIC,
                // `4:0` is "not underlined" in the sub-parameter form.
                4 if n > 1 && sub[1] == 0 => self.flags &= !UNDERLINE,
                4 => self.flags |= UNDERLINE,
                7 => self.flags |= REVERSE,
                9 => self.flags |= STRIKE,
                21 => self.flags &= !BOLD,
                22 => self.flags &= !(BOLD | FAINT),
                23 => self.flags &= !ITALIC,
                24 => self.flags &= !UNDERLINE,
                27 => self.flags &= !REVERSE,
                29 => self.flags &= !STRIKE,
                30..=37 => self.fg = Some((code - 30) as u8),
                39 => self.fg = None,
                40..=47 => self.bg = Some((code - 40) as u8),
                49 => self.bg = None,
                90..=97 => self.fg = Some((code - 82) as u8),
                100..=107 => self.bg = Some((code - 92) as u8),
                // 58 (underline colour) is not shown, but its arguments must not be read as codes.
                38 | 48 | 58 => {
                    let colour = if n > 1 { extended(&sub[1..n]) } else { extended_fields(&mut fields) };
                    match (code, colour) {
                        (38, Some(c)) => self.fg = Some(c),
                        (48, Some(c)) => self.bg = Some(c),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
}

/// Splits a parameter at `:`; empty sub-parameters are 0, huge ones saturate.
fn sub_params(field: &[u8]) -> ([u32; 8], usize) {
    let mut sub = [0u32; 8];
    let mut n = 0;
    for part in field.split(|&b| b == b':').take(8) {
        sub[n] = part.iter().fold(0u32, |v, &d| v.saturating_mul(10).saturating_add(u32::from(d.wrapping_sub(b'0'))));
        n += 1;
    }
    (sub, n.max(1))
}

/// `5:N` or `2:[colour space:]R:G:B`, from the sub-parameters of a 38/48.
fn extended(sub: &[u32]) -> Option<u8> {
    match sub {
        [5, n, ..] => indexed(*n),
        [2, _, r, g, b, ..] | [2, r, g, b] => rgb(*r, *g, *b),
        _ => None,
    }
}

/// `5;N` or `2;R;G;B`, taken from the parameters that follow a 38/48.
fn extended_fields<'a>(fields: &mut impl Iterator<Item = &'a [u8]>) -> Option<u8> {
    let mut next = || fields.next().map(|f| sub_params(f).0[0]);
    match next()? {
        5 => indexed(next()?),
        2 => {
            let (r, g, b) = (next()?, next()?, next()?);
            rgb(r, g, b)
        }
        _ => None,
    }
}

/// A 256-colour index as one of the 16: the 6×6×6 cube and the grey ramp by nearest colour.
fn indexed(n: u32) -> Option<u8> {
    const LEVELS: [u32; 6] = [0, 95, 135, 175, 215, 255];
    match n {
        0..=15 => Some(n as u8),
        16..=231 => {
            let c = n - 16;
            rgb(LEVELS[(c / 36) as usize], LEVELS[(c / 6 % 6) as usize], LEVELS[(c % 6) as usize])
        }
        232..=255 => {
            let v = 8 + 10 * (n - 232);
            rgb(v, v, v)
        }
        _ => None,
    }
}

/// The palette colour nearest to an RGB value (squared distance; ties to the lower index).
fn rgb(r: u32, g: u32, b: u32) -> Option<u8> {
    if r > 255 || g > 255 || b > 255 {
        return None;
    }
    let dist = |p: &[u8; 3]| [r, g, b].iter().zip(p).map(|(&x, &y)| (i64::from(x) - i64::from(y)).pow(2)).sum::<i64>();
    (0u8..16).zip(PALETTE.iter()).min_by_key(|(_, p)| dist(p)).map(|(i, _)| i)
}

impl Look {
    /// Appends the class names, space-separated; empty for the plain look.
    pub(super) fn push_classes(&self, out: &mut String) {
        let mut sep = "";
        for (bit, class) in FLAG_CLASSES {
            if self.flags & bit != 0 {
                out.push_str(sep);
                out.push_str(class);
                sep = " ";
            }
        }
        for (side, code, swapped) in [("fg", self.fg, "sgr-fg-bg"), ("bg", self.bg, "sgr-bg-fg")] {
            match code {
                0 => continue,
                SWAPPED => {
                    out.push_str(sep);
                    out.push_str(swapped);
                }
                n => {
                    let _ = write!(out, "{sep}sgr-{side}-{}", (n - 1) & 15);
                }
            }
            sep = " ";
        }
    }
}
