//! The ref update command list that opens a `git-receive-pack` request (`gitprotocol-pack(5)`,
//! "Reference Update Request"). The HTTP layer parses it before streaming the request to git, so
//! it can authorise each ref and, once git has exited, record which updates took effect.
//!
//! ```text
//! update-requests = *shallow ( command-list | push-cert )
//! shallow         = PKT-LINE("shallow" SP obj-id LF)
//! command-list    = PKT-LINE(command NUL capability-list) *PKT-LINE(command) flush-pkt
//! command         = old-id SP new-id SP refname
//! ```

use super::{Packet, PktError, parse_one};
use serde::Serialize;

/// The command list is buffered in memory, so it is bounded: 16 MiB is ~150k ref updates.
pub const MAX_COMMAND_SECTION: usize = 16 << 20;
/// The longest ref name accepted (git itself has no limit; 1 KiB is generous).
pub const MAX_REF_NAME: usize = 1024;

/// One `<old> <new> <refname>` command. An all-zero `old` creates the ref, an all-zero `new`
/// deletes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl RefUpdate {
    pub fn is_create(&self) -> bool {
        is_zero_oid(&self.old)
    }

    pub fn is_delete(&self) -> bool {
        is_zero_oid(&self.new)
    }

    /// The branch name when this updates `refs/heads/…`.
    pub fn branch(&self) -> Option<&str> {
        self.name.strip_prefix("refs/heads/")
    }

    /// The tag name when this updates `refs/tags/…`.
    pub fn tag(&self) -> Option<&str> {
        self.name.strip_prefix("refs/tags/")
    }
}

/// Everything before the pack: commands, capabilities and shallow lines, plus the number of bytes
/// they took (flush included), which is where the pack (if any) starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiveRequest {
    pub updates: Vec<RefUpdate>,
    pub capabilities: Vec<String>,
    pub shallow: Vec<String>,
    pub consumed: usize,
}

impl ReceiveRequest {
    /// Whether the client asked for `name` (either `name` or `name=<value>`).
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name || c.strip_prefix(name).is_some_and(|r| r.starts_with('=')))
    }
}

/// A lowercase hex SHA-1 (40) or SHA-256 (64) object id, as git sends them.
pub fn is_valid_oid(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn is_zero_oid(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == b'0')
}

/// Ref names as `git check-ref-format` would accept them below `refs/`, plus a length cap.
/// Stricter than strictly needed so that names are safe in logs, URLs and command lines.
pub fn validate_ref_name(name: &str) -> Result<(), PktError> {
    let bad = || Err(PktError::BadRefName(snippet(name)));
    if !name.starts_with("refs/") || name.len() > MAX_REF_NAME || name.ends_with('/') || name.ends_with('.') {
        return bad();
    }
    if name.contains("..") || name.contains("@{") || name.contains("//") {
        return bad();
    }
    if name.bytes().any(|b| b < 0x20 || b == 0x7f || b" ~^:?*[\\".contains(&b)) {
        return bad();
    }
    if name.split('/').any(|c| c.starts_with('.') || c.ends_with(".lock")) {
        return bad();
    }
    Ok(())
}

/// Parses the command list at the start of a receive-pack request body. `Ok(None)` means the
/// flush hasn't arrived yet: read more and call again with the whole buffer.
pub fn parse_receive_commands(buf: &[u8]) -> Result<Option<(Vec<RefUpdate>, usize)>, PktError> {
    Ok(parse_receive_request(buf)?.map(|r| (r.updates, r.consumed)))
}

/// Like [`parse_receive_commands`], also returning capabilities and shallow lines.
pub fn parse_receive_request(buf: &[u8]) -> Result<Option<ReceiveRequest>, PktError> {
    let mut req = ReceiveRequest::default();
    let mut pos = 0;
    loop {
        if pos > MAX_COMMAND_SECTION {
            return Err(PktError::CommandsTooLong);
        }
        let Some((packet, used)) = parse_one(&buf[pos..])? else { return Ok(None) };
        pos += used;
        let line = match packet {
            Packet::Flush => {
                req.consumed = pos;
                return Ok(Some(req));
            }
            Packet::Delim => return Err(PktError::Unexpected("delim")),
            Packet::ResponseEnd => return Err(PktError::Unexpected("response-end")),
            Packet::Data(d) => d.strip_suffix(b"\n").unwrap_or(d),
        };
        let first = req.updates.is_empty();
        if first && let Some(oid) = line.strip_prefix(b"shallow ") {
            req.shallow.push(parse_oid(oid)?);
            continue;
        }
        if first && line.starts_with(b"push-cert") {
            return Err(PktError::PushCert);
        }
        // Capabilities follow a NUL on the first command only.
        let (command, caps) = match line.iter().position(|&b| b == 0) {
            Some(i) if first => (&line[..i], Some(&line[i + 1..])),
            Some(_) => return Err(PktError::BadCommand("NUL after the first command".into())),
            None => (line, None),
        };
        req.updates.push(parse_command(command)?);
        if let Some(caps) = caps {
            let caps =
                std::str::from_utf8(caps).map_err(|_| PktError::BadCommand("capabilities are not UTF-8".into()))?;
            req.capabilities = caps.split(' ').filter(|c| !c.is_empty()).map(str::to_owned).collect();
        }
    }
}

fn parse_oid(raw: &[u8]) -> Result<String, PktError> {
    match std::str::from_utf8(raw) {
        Ok(s) if is_valid_oid(s) => Ok(s.to_owned()),
        _ => Err(PktError::BadOid(snippet(&String::from_utf8_lossy(raw)))),
    }
}

fn parse_command(line: &[u8]) -> Result<RefUpdate, PktError> {
    let text = std::str::from_utf8(line).map_err(|_| PktError::BadCommand("not UTF-8".into()))?;
    let mut parts = text.splitn(3, ' ');
    let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(PktError::BadCommand(snippet(text)));
    };
    let (old, new) = (parse_oid(old.as_bytes())?, parse_oid(new.as_bytes())?);
    if old.len() != new.len() {
        return Err(PktError::BadCommand("object ids of different hash algorithms".into()));
    }
    if is_zero_oid(&old) && is_zero_oid(&new) {
        return Err(PktError::BadCommand("both object ids are zero".into()));
    }
    validate_ref_name(name)?;
    Ok(RefUpdate { old, new, name: name.to_owned() })
}

/// The start of untrusted input, for error messages that end up in logs and responses.
fn snippet(s: &str) -> String {
    s.chars().take(80).collect()
}
