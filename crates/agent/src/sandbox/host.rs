//! The host facts a sandbox is built from, and the file work around it: where the tools are,
//! which identity jobs get, which of the server's addresses are this host's own, the generated
//! `/etc` files, handing a job's files to its user, and measuring a build directory.

use super::plan::{INNER_HOME, INNER_UID, INNER_USER, Tools};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The programs of the chain, found in the usual system directories (never in a job-controlled
/// `PATH`). `Err` names what is missing and the Debian/Ubuntu package that has it.
pub fn find_tools() -> Result<Tools, String> {
    let find = |name: &str, package: &str| -> Result<PathBuf, String> {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"] {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
        Err(format!("`{name}` is not installed (package {package})"))
    };
    Ok(Tools {
        unshare: find("unshare", "util-linux")?,
        sh: find("sh", "dash")?,
        setpriv: find("setpriv", "util-linux")?,
        pasta: find("pasta", "passt")?,
        bwrap: find("bwrap", "bubblewrap")?,
        prlimit: find("prlimit", "util-linux")?,
    })
}

/// Whether this process runs as root (then jobs get uids of their own).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The ports of `urls` (the server as jobs and the runner reach it) whose host is this machine:
/// those become the only host ports the sandbox forwards, and their names resolve to loopback
/// inside. A remote server is reached through the network like any other host.
pub fn local_server_ports(urls: &[&str]) -> (Vec<u16>, Vec<String>) {
    let mut ports = Vec::new();
    let mut names = Vec::new();
    for url in urls {
        let Some((host, port)) = host_port(url) else { continue };
        let addrs: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs().map(Iterator::collect).unwrap_or_default();
        if addrs.iter().any(|a| is_local(a.ip())) {
            if !ports.contains(&port) {
                ports.push(port);
            }
            if host.parse::<IpAddr>().is_err() && !names.contains(&host) {
                names.push(host);
            }
        }
    }
    (ports, names)
}

/// `http(s)://host[:port]/…` → (host, port).
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, rest) = v6.split_once(']')?;
        (h.to_string(), rest.strip_prefix(':').map(str::parse).transpose().ok()?.unwrap_or(default))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (authority.to_string(), default),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

/// Loopback, or an address a socket on this host can bind to (one of its own).
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// The generated files of a job's `/etc`: a passwd and group that name the job's user only,
/// hosts with the server's names on loopback, resolv.conf pointing at pasta's DNS forwarder.
pub fn write_etc(dir: &Path, server_names: &[String]) -> io::Result<Vec<(PathBuf, PathBuf)>> {
    std::fs::create_dir_all(dir)?;
    let passwd = format!(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n{INNER_USER}:x:{INNER_UID}:{INNER_UID}:AutoGit job:{INNER_HOME}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    );
    let group = format!("root:x:0:\n{INNER_USER}:x:{INNER_UID}:\nnogroup:x:65534:\n");
    let mut hosts = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for name in server_names {
        hosts.push_str(&format!("127.0.0.1\t{name}\n"));
    }
    let resolv = format!("nameserver {}\n", super::plan::DNS_ADDRESS);
    let mut out = Vec::new();
    for (name, text) in [("passwd", passwd), ("group", group), ("hosts", hosts), ("resolv.conf", resolv)] {
        let p = dir.join(name);
        std::fs::write(&p, text)?;
        out.push((p, Path::new("/etc").join(name)));
    }
    Ok(out)
}

/// Hands everything below `dir` (and `dir`) that is not already theirs to `uid:gid`, without
/// following symlinks: what the runner wrote there as root (sources, caches, artifacts of
/// dependencies, file variables) becomes the job's.
pub fn adopt(dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.uid() != uid || meta.gid() != gid {
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid))?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// Bytes used below `dir` (allocated blocks, so sparse files count as what they hold), without
/// following symlinks.
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
        total = total.saturating_add(meta.blocks().saturating_mul(512));
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&p)
        {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
    total
}

/// The highest ancestor of `path` (below `/`) that others cannot traverse: a runner running as
/// root keeps its build directories below such private directories, which the job's user could
/// not reach; the sandbox covers that ancestor and shows only the job's directories in it.
pub fn private_ancestor(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = None;
    let mut cur = PathBuf::from("/");
    for part in path.components().skip(1) {
        cur.push(part);
        if cur == path {
            break;
        }
        match std::fs::metadata(&cur) {
            Ok(m) if m.permissions().mode() & 0o001 == 0 => {
                found = Some(cur.clone());
                break;
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_port() {
        assert_eq!(host_port("http://localhost:8080/x"), Some(("localhost".into(), 8080)));
        assert_eq!(host_port("https://git.example.com"), Some(("git.example.com".into(), 443)));
        assert_eq!(host_port("http://u:p@[::1]:9/"), Some(("::1".into(), 9)));
        assert_eq!(host_port("http://[::1]/"), Some(("::1".into(), 80)));
        assert_eq!(host_port("http://h:notaport/"), None);
        assert_eq!(host_port("ftp://h/"), None);
        assert_eq!(host_port("http:///"), None);
    }

    #[test]
    fn loopback_servers_are_forwarded_and_remote_ones_are_not() {
        let (ports, names) =
            local_server_ports(&["http://127.0.0.1:4000", "http://localhost:4001/", "http://192.0.2.200:4002"]);
        assert_eq!(ports, [4000, 4001]);
        assert_eq!(names, ["localhost"]);
    }

    #[test]
    fn adopt_and_usage_never_follow_symlinks() {
        let t = tempfile::tempdir().expect("tempdir");
        let outside = t.path().join("outside");
        std::fs::write(&outside, vec![0u8; 100_000]).expect("write");
        let dir = t.path().join("build");
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("sub/f"), vec![1u8; 10_000]).expect("write");
        std::os::unix::fs::symlink(&outside, dir.join("link")).expect("symlink");
        let used = disk_usage(&dir);
        assert!((10_000..100_000).contains(&used), "{used}");
        use std::os::unix::fs::MetadataExt;
        let me = std::fs::metadata(&dir).expect("meta");
        adopt(&dir, me.uid(), me.gid()).expect("adopt to the same owner");
        assert!(adopt(&t.path().join("missing"), 0, 0).is_ok());
    }

    #[test]
    fn private_ancestors_are_found_from_the_top() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().expect("tempdir");
        let data = t.path().join("data");
        let deep = data.join("a/b");
        std::fs::create_dir_all(&deep).expect("mkdir");
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(private_ancestor(&deep), Some(data.clone()));
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        assert_eq!(private_ancestor(&deep), None);
    }
}
