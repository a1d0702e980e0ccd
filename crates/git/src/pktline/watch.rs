//! Reading a receive-pack response as it streams to the client, for what it says about the push:
//! the `unpack` status of its report and the text git sent on the progress and error bands.
//!
//! receive-pack exits successfully even when it could not store the pack (a full disk, say): it
//! reports the failure to the client only, and the errors of its unpacking child go to the side
//! band, not to its stderr. Watching the response is how the server learns the cause without
//! hooks. Bounded: at most one packet is buffered and [`MAX_MESSAGES`] bytes of text kept.

use super::{Decoder, Packet};

/// Text kept from the progress and error bands.
pub const MAX_MESSAGES: usize = 16 << 10;

#[derive(Debug, Default)]
pub struct ReportWatcher {
    outer: Decoder,
    /// The report's own pkt-lines, carried in band 1 when a side band was negotiated.
    inner: Option<Decoder>,
    unpack: Option<String>,
    messages: String,
    /// Undecodable output: stop reading rather than guess.
    broken: bool,
}

impl ReportWatcher {
    /// `side_band`: whether the client asked for `side-band` or `side-band-64k`.
    pub fn new(side_band: bool) -> Self {
        Self { inner: side_band.then(Decoder::new), ..Self::default() }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        self.outer.feed(bytes);
        loop {
            let data = match self.outer.next_packet() {
                Ok(Some(Packet::Data(d))) => d.to_vec(),
                Ok(Some(_)) => continue,
                Ok(None) => return,
                Err(_) => {
                    self.broken = true;
                    return;
                }
            };
            match (&mut self.inner, data.split_first()) {
                (None, _) => Self::report_line(&mut self.unpack, &data),
                (Some(inner), Some((1, rest))) => {
                    inner.feed(rest);
                    loop {
                        match inner.next_packet() {
                            Ok(Some(Packet::Data(line))) => Self::report_line(&mut self.unpack, line),
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(_) => {
                                self.broken = true;
                                return;
                            }
                        }
                    }
                }
                (Some(_), Some((2 | 3, text))) => {
                    let room = MAX_MESSAGES.saturating_sub(self.messages.len());
                    let text = String::from_utf8_lossy(&text[..text.len().min(room)]).into_owned();
                    self.messages.push_str(&text);
                }
                (Some(_), _) => {}
            }
        }
    }

    fn report_line(unpack: &mut Option<String>, line: &[u8]) {
        if unpack.is_none()
            && let Some(status) = line.strip_prefix(b"unpack ")
        {
            *unpack = Some(String::from_utf8_lossy(status).trim_end().to_owned());
        }
    }

    /// The `unpack` status of the report: `ok`, or git's error; `None` when no report was seen.
    pub fn unpack_status(&self) -> Option<&str> {
        self.unpack.as_deref()
    }

    /// What git said on the progress and error bands (its children's error messages among it).
    pub fn messages(&self) -> &str {
        &self.messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktline::{encode, flush};

    fn band(n: u8, data: &[u8]) -> Vec<u8> {
        encode(&[&[n][..], data].concat()).expect("fits")
    }

    #[test]
    fn side_band_report_fed_in_small_pieces() {
        let report = [encode(b"unpack unpack-objects abnormal exit\n").expect("fits"), flush().to_vec()].concat();
        let body = [
            band(2, b"fatal: unable to write loose object file: No space left on device\n"),
            band(1, &report[..5]),
            band(1, &report[5..]),
            flush().to_vec(),
        ]
        .concat();
        let mut w = ReportWatcher::new(true);
        for chunk in body.chunks(3) {
            w.feed(chunk);
        }
        assert_eq!(w.unpack_status(), Some("unpack-objects abnormal exit"));
        assert!(w.messages().contains("No space left on device"));
    }

    #[test]
    fn plain_report_and_garbage() {
        let mut w = ReportWatcher::new(false);
        w.feed(&[encode(b"unpack ok\n").expect("fits"), encode(b"ok refs/heads/main\n").expect("fits")].concat());
        assert_eq!(w.unpack_status(), Some("ok"));
        let mut bad = ReportWatcher::new(true);
        bad.feed(b"zzzz garbage");
        bad.feed(&band(1, b"0010unpack ok\n"));
        assert_eq!(bad.unpack_status(), None);
    }

    #[test]
    fn messages_are_bounded() {
        let mut w = ReportWatcher::new(true);
        for _ in 0..100 {
            w.feed(&band(2, &[b'x'; 1000]));
        }
        assert_eq!(w.messages().len(), MAX_MESSAGES);
    }
}
