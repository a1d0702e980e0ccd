//! The SSH provider's pure helpers: the Wake-on-LAN magic packet, address and remote-path
//! checks, instance records on disk and error mapping.

use super::*;
pub(super) use crate::process::{blocking, io_err, tail};

/// The Wake-on-LAN magic packet for `mac`: six `0xFF` bytes, then the MAC sixteen times.
/// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` and `aabbccddeeff` (any case).
pub fn magic_packet(mac: &str) -> Result<[u8; 102], FleetError> {
    let bad = || FleetError::Config(format!("invalid MAC address {mac:?} (use aa:bb:cc:dd:ee:ff)"));
    let parts: Vec<&str> = if mac.contains(':') {
        mac.split(':').collect()
    } else if mac.contains('-') {
        mac.split('-').collect()
    } else if mac.len() == 12 && mac.is_ascii() {
        (0..6).map(|i| &mac[i * 2..i * 2 + 2]).collect()
    } else {
        return Err(bad());
    };
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut bytes = [0u8; 6];
    for (b, p) in bytes.iter_mut().zip(&parts) {
        if p.len() != 2 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    let mut packet = [0xFFu8; 102];
    for chunk in packet[6..].chunks_exact_mut(6) {
        chunk.copy_from_slice(&bytes);
    }
    Ok(packet)
}

/// Parses the broadcast target (`ip:port`, or `ip` meaning port 9).
pub(super) fn broadcast_addr(s: Option<&str>) -> Result<std::net::SocketAddr, FleetError> {
    let s = s.unwrap_or(DEFAULT_BROADCAST);
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    s.parse::<std::net::IpAddr>()
        .map(|ip| std::net::SocketAddr::new(ip, 9))
        .map_err(|_| FleetError::Config(format!("invalid broadcast address {s:?} (use ip:port)")))
}

/// `host:port` → (`host`, port); `[v6]:port` → (`v6`, port); a bare v6 address has no port.
pub(super) fn split_address(address: &str) -> (&str, Option<u16>) {
    if let Some(rest) = address.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (rest, None),
        };
    }
    match address.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, port.parse().ok()),
        _ => (address, None),
    }
}

pub(super) fn valid_remote_dir(dir: &str) -> bool {
    !dir.is_empty()
        && !dir.starts_with('-')
        && dir.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '~' | '-'))
        && dir.chars().skip(1).all(|c| c != '~')
        && (!dir.starts_with('~') || dir == "~" || dir.starts_with("~/"))
}

/// `remote_dir` as a shell word (it is checked to need no quoting; a leading `~` expands).
pub(super) fn remote_word(dir: &str) -> String {
    dir.trim_end_matches('/').to_string()
}

/// `remote_dir` as an `scp` path: relative to the home directory instead of `~`.
pub(super) fn scp_dir(dir: &str) -> String {
    match dir.strip_prefix('~') {
        Some(rest) => {
            let rest = rest.trim_start_matches('/').trim_end_matches('/');
            if rest.is_empty() { ".".to_string() } else { rest.to_string() }
        }
        None => dir.trim_end_matches('/').to_string(),
    }
}

pub(super) async fn local_sha256(path: &Path) -> Result<String, FleetError> {
    let out = Command::new("sha256sum")
        .arg(path)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| spawn_err("sha256sum", e))?;
    if !out.status.success() {
        return Err(FleetError::Config(format!("sha256sum {}: {}", path.display(), tail(&out.stderr))));
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| FleetError::Failed("sha256sum printed nothing".into()))
}

pub(super) fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false)
}

pub(super) fn read_record(path: &Path) -> Result<Option<Record>, String> {
    crate::record::read(path)
}

/// Creates the record; fails if the name is already in use.
pub(super) fn create_record(path: &Path, r: &Record) -> Result<(), FleetError> {
    crate::record::create(path, &r.name, r)
}

/// Rewrites the record atomically.
pub(super) fn write_record(path: &Path, r: &Record) -> Result<(), FleetError> {
    crate::record::write(path, r)
}

pub(super) fn remove_file(path: &Path) -> Result<(), FleetError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&format!("removing {}", path.display()), e)),
    }
}

pub(super) fn spawn_err(what: &str, e: std::io::Error) -> FleetError {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            FleetError::Config(format!("running {what}: {e}"))
        }
        _ => io_err(&format!("running {what}"), e),
    }
}
