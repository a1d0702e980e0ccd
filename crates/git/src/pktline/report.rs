//! A receive-pack result that refuses a whole push without running git, in the form git's own
//! report takes (`report-status`), so the client shows the reason as it shows git's:
//! `error: remote unpack failed: <reason>` and ` ! [remote rejected] <ref> (<reason>)`, plus the
//! longer message as `remote: …` lines when the client asked for a side band.

use super::{ReceiveRequest, encode_into, flush};

/// Band 1 carries the report, band 2 progress text the client prints as `remote: …`.
const BAND_DATA: u8 = 1;
const BAND_PROGRESS: u8 = 2;
/// Payload of one side-band packet (the band byte takes one of `MAX_PKT_DATA`); the 1000-byte
/// `side-band` limit applies when only that was asked for.
const SIDE_BAND_64K_DATA: usize = super::MAX_PKT_DATA - 1;
const SIDE_BAND_DATA: usize = 999 - 4;

/// The response body refusing every update of `req` with `reason` (one short line), preceded by
/// `message` on the progress band when a side band was negotiated. `None` when the client asked
/// for no report at all: answer with an HTTP error then.
pub fn refusal_report(req: &ReceiveRequest, reason: &str, message: &str) -> Option<Vec<u8>> {
    if !req.has_capability("report-status") && !req.has_capability("report-status-v2") {
        return None;
    }
    let reason = one_line(reason, 200);
    let mut report = Vec::new();
    // Cannot fail: every line is bounded far below a packet's size.
    encode_into(&mut report, format!("unpack {reason}\n").as_bytes()).ok()?;
    for u in &req.updates {
        encode_into(&mut report, format!("ng {} {reason}\n", u.name).as_bytes()).ok()?;
    }
    report.extend_from_slice(flush());
    let band_size = if req.has_capability("side-band-64k") {
        SIDE_BAND_64K_DATA
    } else if req.has_capability("side-band") {
        SIDE_BAND_DATA
    } else {
        return Some(report);
    };
    let mut out = Vec::new();
    let text = format!("{}\n", one_line(message, band_size - 1));
    band(&mut out, BAND_PROGRESS, text.as_bytes(), band_size)?;
    band(&mut out, BAND_DATA, &report, band_size)?;
    out.extend_from_slice(flush());
    Some(out)
}

fn band(out: &mut Vec<u8>, band: u8, data: &[u8], size: usize) -> Option<()> {
    for chunk in data.chunks(size) {
        let mut packet = Vec::with_capacity(chunk.len() + 1);
        packet.push(band);
        packet.extend_from_slice(chunk);
        encode_into(out, &packet).ok()?;
    }
    Some(())
}

/// `s` without line breaks, cut to `max` bytes on a character boundary.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut end = flat.len().min(max);
    while !flat.is_char_boundary(end) {
        end -= 1;
    }
    flat[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktline::{Decoder, Packet, RefUpdate};

    fn request(caps: &[&str], refs: usize) -> ReceiveRequest {
        ReceiveRequest {
            updates: (0..refs)
                .map(|i| RefUpdate { old: "0".repeat(40), new: "a".repeat(40), name: format!("refs/heads/b{i}") })
                .collect(),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }
    }

    fn packets(body: &[u8]) -> Vec<Vec<u8>> {
        let mut d = Decoder::new();
        d.feed(body);
        let mut out = Vec::new();
        while let Some(p) = d.next_packet().expect("well-formed") {
            out.push(match p {
                Packet::Data(data) => data.to_vec(),
                _ => b"<flush>".to_vec(),
            });
        }
        assert!(d.remaining().is_empty());
        out
    }

    #[test]
    fn plain_report() {
        let body = refusal_report(&request(&["report-status"], 2), "no space left on device", "x").expect("report");
        let p = packets(&body);
        assert_eq!(p[0], b"unpack no space left on device\n");
        assert_eq!(p[1], b"ng refs/heads/b0 no space left on device\n");
        assert_eq!(p[3], b"<flush>");
        assert!(refusal_report(&request(&[], 1), "r", "m").is_none(), "no report asked for");
    }

    #[test]
    fn side_band_report_carries_the_message() {
        let req = request(&["report-status", "side-band-64k"], 3000);
        let body = refusal_report(&req, "full", "no space left on device:\nthe server has 1 MiB").expect("report");
        let p = packets(&body);
        assert_eq!(p[0], b"\x02no space left on device: the server has 1 MiB\n");
        let inner: Vec<u8> = p[1..p.len() - 1].iter().flat_map(|d| d[1..].to_vec()).collect();
        assert!(p[1..p.len() - 1].iter().all(|d| d[0] == 1 && d.len() <= SIDE_BAND_64K_DATA + 1));
        let report = packets(&inner);
        assert_eq!(report.len(), 3002);
        assert_eq!(report[0], b"unpack full\n");
        assert_eq!(p.last().map(Vec::as_slice), Some(&b"<flush>"[..]));
    }
}
