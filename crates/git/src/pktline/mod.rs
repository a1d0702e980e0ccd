//! pkt-line framing, as specified in git's `gitprotocol-common(5)`: every packet starts with four
//! hex digits giving its total length including those four bytes; `0000` is a flush packet, `0001`
//! a delimiter and `0002` a response end (protocol v2). Lengths `0003` and anything above 65520
//! are malformed.
//!
//! Everything here is pure: no I/O, no allocation beyond the caller's buffers where avoidable. The
//! decoder takes untrusted bytes straight from HTTP request bodies, so every malformed input is a
//! typed [`PktError`] and nothing may panic (a fuzz target and a proptest check that).

mod commands;
mod protocol;
mod report;
mod watch;

pub use commands::{
    MAX_COMMAND_SECTION, ReceiveRequest, RefUpdate, is_valid_oid, is_zero_oid, parse_receive_commands,
    parse_receive_request, validate_ref_name,
};
pub use protocol::{protocol_version, validate_git_protocol};
pub use report::refusal_report;
pub use watch::ReportWatcher;

/// Largest packet, header included (`LARGE_PACKET_MAX` in git).
pub const MAX_PKT_LEN: usize = 65520;
/// Largest payload of one data packet.
pub const MAX_PKT_DATA: usize = MAX_PKT_LEN - 4;
pub const FLUSH: &[u8; 4] = b"0000";
pub const DELIM: &[u8; 4] = b"0001";
pub const RESPONSE_END: &[u8; 4] = b"0002";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PktError {
    #[error("invalid pkt-line length header {0:?}")]
    BadLength([u8; 4]),
    /// Lengths 1..=3 other than the special packets: `0003` can't hold a header.
    #[error("invalid pkt-line length {0}")]
    ReservedLength(usize),
    #[error("pkt-line of {0} bytes exceeds the maximum of {MAX_PKT_LEN}")]
    TooLong(usize),
    #[error("{0} bytes of data do not fit in one pkt-line (maximum {MAX_PKT_DATA})")]
    DataTooLong(usize),
    #[error("malformed ref update command: {0}")]
    BadCommand(String),
    #[error("invalid object id {0:?}")]
    BadOid(String),
    #[error("invalid ref name {0:?}")]
    BadRefName(String),
    #[error("push certificates are not supported")]
    PushCert,
    #[error("the ref update command list exceeds {MAX_COMMAND_SECTION} bytes")]
    CommandsTooLong,
    #[error("the request ended inside the ref update command list")]
    Truncated,
    #[error("unexpected {0} packet in the ref update command list")]
    Unexpected(&'static str),
    #[error("invalid Git-Protocol header: {0}")]
    BadProtocolHeader(&'static str),
}

/// One decoded packet. Data borrows from the buffer it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Data(&'a [u8]),
    Flush,
    Delim,
    ResponseEnd,
}

/// Encodes one data packet. Fails only when `data` is longer than [`MAX_PKT_DATA`].
pub fn encode(data: &[u8]) -> Result<Vec<u8>, PktError> {
    let mut out = Vec::with_capacity(data.len() + 4);
    encode_into(&mut out, data)?;
    Ok(out)
}

/// Appends one data packet to `out`.
pub fn encode_into(out: &mut Vec<u8>, data: &[u8]) -> Result<(), PktError> {
    if data.len() > MAX_PKT_DATA {
        return Err(PktError::DataTooLong(data.len()));
    }
    // Lower-case hex, as git writes it (readers accept both cases).
    out.extend_from_slice(format!("{:04x}", data.len() + 4).as_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// The flush packet, `0000`.
pub fn flush() -> &'static [u8] {
    FLUSH
}

/// An `ERR <message>` packet, which git clients print as `fatal: remote error: <message>`. The
/// message is cut (on a character boundary) so that this can never fail.
pub fn error_line(message: &str) -> Vec<u8> {
    let mut end = message.len().min(MAX_PKT_DATA - 5);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let line = format!("ERR {}\n", &message[..end]);
    // Can't fail: the length was bounded above.
    encode(line.as_bytes()).unwrap_or_default()
}

fn hex_digit(b: u8) -> Option<usize> {
    match b {
        b'0'..=b'9' => Some(usize::from(b - b'0')),
        b'a'..=b'f' => Some(usize::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(usize::from(b - b'A' + 10)),
        _ => None,
    }
}

/// Decodes the packet at the start of `buf`: `Ok(None)` when more bytes are needed, otherwise the
/// packet and how many bytes it took.
pub fn parse_one(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, PktError> {
    let Some(header) = buf.first_chunk::<4>() else { return Ok(None) };
    let mut len = 0usize;
    for &b in header {
        len = len * 16 + hex_digit(b).ok_or(PktError::BadLength(*header))?;
    }
    let packet = match len {
        0 => Packet::Flush,
        1 => Packet::Delim,
        2 => Packet::ResponseEnd,
        3 => return Err(PktError::ReservedLength(3)),
        n if n > MAX_PKT_LEN => return Err(PktError::TooLong(n)),
        n => match buf.get(4..n) {
            Some(data) => return Ok(Some((Packet::Data(data), n))),
            None => return Ok(None),
        },
    };
    Ok(Some((packet, 4)))
}

/// An incremental decoder: [`feed`](Decoder::feed) it bytes as they arrive and take packets out
/// with [`next_packet`](Decoder::next_packet). It buffers at most the unconsumed input.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        // Compact lazily here rather than in next_packet, so returned packets can borrow the buffer.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete packet, or `Ok(None)` when more input is needed. After an error the
    /// decoder stays at the bad packet: the stream can't be resynchronised.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, PktError> {
        let rest = &self.buf[self.pos..];
        match parse_one(rest)? {
            None => Ok(None),
            Some((packet, used)) => {
                self.pos += used;
                Ok(Some(packet))
            }
        }
    }

    /// Bytes fed but not yet decoded, e.g. the pack data that follows a command list.
    pub fn remaining(&self) -> &[u8] {
        &self.buf[self.pos..]
    }
}

#[cfg(test)]
mod tests;
