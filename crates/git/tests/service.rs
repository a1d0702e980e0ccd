//! The pack services driven through `spawn_rpc` + `pump` with real request bodies: hand-built
//! fetch requests, pushes built from `git pack-objects`, and a body captured from a real `git push`.

mod common;

use autogit_core::ProjectId;
use autogit_git::pktline::{DELIM, encode, flush, parse_receive_commands};
use autogit_git::{
    Error, PushIdentity, RefUpdate, RpcProcess, Service, advertise, applied_by, pump, read, read_receive_request,
    spawn_receive_pack, spawn_rpc,
};
use bytes::Bytes;
use common::{Fixture, ZERO, contains, git_cmd};
use std::path::Path;
use tokio::io::AsyncReadExt;

fn pkt(s: &str) -> Vec<u8> {
    encode(s.as_bytes()).expect("fits")
}

/// Sends `body` through a stateless-RPC child, reading stdout concurrently; returns stdout.
async fn rpc(repo: &Path, service: Service, protocol: Option<&str>, prefix: Bytes, body: &[u8]) -> Vec<u8> {
    run_rpc(spawn_rpc(repo, service, protocol).expect("spawn"), prefix, body).await
}

/// A push recorded as push record `record`.
async fn push_as(repo: &Path, record: i64, prefix: Bytes, body: &[u8]) -> Vec<u8> {
    run_rpc(spawn_receive_pack(repo, None, PushIdentity::for_record(record), None).expect("spawn"), prefix, body).await
}

async fn run_rpc(proc: RpcProcess, prefix: Bytes, body: &[u8]) -> Vec<u8> {
    let RpcProcess { stdin, mut stdout, child } = proc;
    let service = child.label();
    let reader = async {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).await.map(|_| out)
    };
    let (pumped, out) = tokio::join!(pump(prefix.clone(), body, stdin), reader);
    assert_eq!(pumped.expect("pump") as usize, prefix.len() + body.len());
    let exit = child.finish().await.expect("wait");
    assert!(exit.success(), "{service:?} failed: {}", exit.stderr);
    out.expect("stdout")
}

#[test]
fn service_names() {
    assert_eq!("git-upload-pack".parse::<Service>(), Ok(Service::UploadPack));
    assert_eq!("git-receive-pack".parse::<Service>(), Ok(Service::ReceivePack));
    assert!("git-upload-archive".parse::<Service>().is_err());
    assert_eq!(Service::ReceivePack.subcommand(), "receive-pack");
    assert_eq!(Service::UploadPack.result_content_type(), "application/x-git-upload-pack-result");
}

#[tokio::test]
async fn advertisement_v0_and_v2() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(1), "main").await.expect("create");
    let empty = advertise(&repo, Service::UploadPack, None).await.expect("advertise");
    assert!(empty.starts_with(b"001e# service=git-upload-pack\n0000"), "{}", String::from_utf8_lossy(&empty));
    assert!(contains(&empty, b"capabilities^{}"));

    f.write("a.txt", b"a\n");
    let tip = f.commit("first", 1_700_000_000);
    f.push_all(&repo);
    let v0 = advertise(&repo, Service::UploadPack, Some("version=1")).await.expect("advertise");
    assert!(v0.starts_with(b"001e# service=git-upload-pack\n0000"));
    assert!(contains(&v0, format!("{tip} refs/heads/main").as_bytes()));
    let rp = advertise(&repo, Service::ReceivePack, None).await.expect("advertise");
    assert!(rp.starts_with(b"001f# service=git-receive-pack\n0000") && contains(&rp, b"report-status"));

    let v2 = advertise(&repo, Service::UploadPack, Some("version=2")).await.expect("advertise v2");
    assert!(!contains(&v2, b"# service="), "{}", String::from_utf8_lossy(&v2));
    assert!(v2.starts_with(b"000eversion 2\n") && contains(&v2, b"ls-refs"));

    let bad = advertise(&repo, Service::UploadPack, Some("version=2\nX: y")).await;
    assert!(matches!(bad, Err(Error::Pkt(_))), "{bad:?}");
}

#[tokio::test]
async fn upload_pack_serves_a_pack_v0_and_v2() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(1), "main").await.expect("create");
    f.write("src/lib.rs", b"fn main() {}\n");
    let tip = f.commit("first", 1_700_000_000);
    f.push_all(&repo);

    let body = [pkt(&format!("want {tip}\n")), flush().to_vec(), pkt("done\n")].concat();
    let out = rpc(&repo, Service::UploadPack, None, Bytes::new(), &body).await;
    assert!(out.starts_with(b"0008NAK\nPACK"), "{}", String::from_utf8_lossy(&out[..out.len().min(64)]));

    let ls = [pkt("command=ls-refs\n"), DELIM.to_vec(), pkt("symrefs\n"), flush().to_vec()].concat();
    let out = rpc(&repo, Service::UploadPack, Some("version=2"), Bytes::new(), &ls).await;
    assert!(contains(&out, format!("{tip} HEAD symref-target:refs/heads/main").as_bytes()));

    let fetch =
        [pkt("command=fetch\n"), DELIM.to_vec(), pkt(&format!("want {tip}\n")), pkt("done\n"), flush().to_vec()]
            .concat();
    let out = rpc(&repo, Service::UploadPack, Some("version=2"), Bytes::new(), &fetch).await;
    assert!(contains(&out, b"packfile\n") && contains(&out, b"PACK"));
}

#[tokio::test]
async fn receive_pack_applies_updates_and_reports_them() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(2), "main").await.expect("create");
    f.write("README", b"one\n");
    let c1 = f.commit("one", 1_700_000_000);

    // Create main and topic; the command list is read the way the HTTP layer reads it.
    let mut body = [
        pkt(&format!("{ZERO} {c1} refs/heads/main\0report-status object-format=sha1\n")),
        pkt(&format!("{ZERO} {c1} refs/heads/topic\n")),
        flush().to_vec(),
    ]
    .concat();
    body.extend(f.pack(&c1, None));
    let (req, prefix) = read_receive_request(&mut &body[..]).await.expect("commands");
    assert_eq!(req.updates.len(), 2);
    let out = push_as(&repo, 1, prefix.clone(), &body[prefix.len()..]).await;
    assert!(
        contains(&out, b"unpack ok") && contains(&out, b"ok refs/heads/main") && contains(&out, b"ok refs/heads/topic")
    );
    let first = PushIdentity::for_record(1);
    assert_eq!(applied_by(&repo, first, &req.updates).await.expect("applied"), [true, true]);
    assert_eq!(read::resolve(&repo, "main").await.expect("resolve"), Some(c1.clone()));

    // Fast-forward main, delete topic, and a stale update that git must refuse.
    f.write("README", b"two\n");
    let c2 = f.commit("two", 1_700_000_100);
    let mut body = [
        pkt(&format!("{c1} {c2} refs/heads/main\0report-status\n")),
        pkt(&format!("{c1} {ZERO} refs/heads/topic\n")),
        pkt(&format!("{c2} {c1} refs/heads/stale\n")),
        flush().to_vec(),
    ]
    .concat();
    body.extend(f.pack(&c2, Some(&c1)));
    let (updates, used) = parse_receive_commands(&body).expect("valid").expect("complete");
    let out = push_as(&repo, 2, Bytes::copy_from_slice(&body[..used]), &body[used..]).await;
    assert!(contains(&out, b"ng refs/heads/stale"), "{}", String::from_utf8_lossy(&out));
    let second = PushIdentity::for_record(2);
    assert_eq!(applied_by(&repo, second, &updates).await.expect("applied"), [true, true, false]);
    assert!(updates[1].is_delete());
    assert_eq!(read::resolve(&repo, "topic").await.expect("resolve"), None);
    // The first push's main update still reads as applied although main has moved on since.
    assert!(applied_by(&repo, first, &req.updates[..1]).await.expect("applied")[0]);
    let bogus = RefUpdate { old: ZERO.into(), new: c1.clone(), name: "-bad".into() };
    assert_eq!(applied_by(&repo, second, &[bogus]).await.expect("filtered"), [false]);
}

/// A refused push whose change a later push then made reads as not applied (comparing the ref
/// with the requested value would say it was), and the later one as applied.
#[tokio::test]
async fn a_refused_push_is_not_credited_with_a_later_push() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(5), "main").await.expect("create");
    f.write("README", b"one\n");
    let c1 = f.commit("one", 1_700_000_000);
    f.push_all(&repo);
    f.write("README", b"two\n");
    let c2 = f.commit("two", 1_700_000_100);

    // Atomic: the stale update makes git refuse both.
    let mut body = [
        pkt(&format!("{c1} {c2} refs/heads/main\0report-status atomic\n")),
        pkt(&format!("{c2} {c1} refs/heads/stale\n")),
        flush().to_vec(),
    ]
    .concat();
    body.extend(f.pack(&c2, Some(&c1)));
    let (refused, used) = parse_receive_commands(&body).expect("valid").expect("complete");
    let out = push_as(&repo, 30, Bytes::copy_from_slice(&body[..used]), &body[used..]).await;
    assert!(contains(&out, b"ng refs/heads/main"), "{}", String::from_utf8_lossy(&out));

    let mut body = [pkt(&format!("{c1} {c2} refs/heads/main\0report-status\n")), flush().to_vec()].concat();
    body.extend(f.pack(&c2, Some(&c1)));
    let (accepted, used) = parse_receive_commands(&body).expect("valid").expect("complete");
    let out = push_as(&repo, 31, Bytes::copy_from_slice(&body[..used]), &body[used..]).await;
    assert!(contains(&out, b"ok refs/heads/main"), "{}", String::from_utf8_lossy(&out));

    assert_eq!(read::resolve(&repo, "main").await.expect("resolve"), Some(c2));
    let refused_applied = applied_by(&repo, PushIdentity::for_record(30), &refused).await.expect("applied");
    assert_eq!(refused_applied, [false, false]);
    assert_eq!(applied_by(&repo, PushIdentity::for_record(31), &accepted).await.expect("applied"), [true]);
}

/// A request body captured from a real `git push` (via a tee wrapper around receive-pack) parses
/// and, replayed through stateless RPC into another repository, performs the same push.
#[tokio::test]
async fn replays_a_captured_git_push() {
    let f = Fixture::new();
    let first = f.storage.create(ProjectId::new(3), "main").await.expect("create");
    let second = f.storage.create(ProjectId::new(4), "main").await.expect("create");
    f.write("dir/file.txt", b"content\n");
    let tip = f.commit("captured", 1_700_000_000);
    let capture = f.tmp.path().join("capture.bin");
    let wrapper = f.tmp.path().join("tee-receive-pack");
    std::fs::write(&wrapper, format!("#!/bin/sh\ntee '{}' | git receive-pack \"$@\"\n", capture.display()))
        .expect("write");
    assert!(std::process::Command::new("chmod").arg("+x").arg(&wrapper).status().expect("chmod").success());
    let status = git_cmd(&f.work)
        .args(["push", "-q", "--receive-pack"])
        .arg(&wrapper)
        .arg(&first)
        .arg("main")
        .status()
        .expect("push");
    assert!(status.success());
    let body = std::fs::read(&capture).expect("captured body");

    let (updates, used) = parse_receive_commands(&body).expect("valid").expect("complete");
    assert_eq!(updates, [RefUpdate { old: ZERO.into(), new: tip.clone(), name: "refs/heads/main".into() }]);
    assert!(body[used..].starts_with(b"PACK"));

    let out = push_as(&second, 3, Bytes::new(), &body).await;
    assert!(contains(&out, b"ok refs/heads/main"), "{}", String::from_utf8_lossy(&out));
    assert_eq!(applied_by(&second, PushIdentity::for_record(3), &updates).await.expect("applied"), [true]);
    assert_eq!(read::resolve(&second, "main").await.expect("resolve"), Some(tip));
}

#[tokio::test]
async fn failures_are_reported_with_stderr() {
    let f = Fixture::new();
    let missing = f.tmp.path().join("nope.git");
    let RpcProcess { stdin, stdout, child } = spawn_rpc(&missing, Service::UploadPack, None).expect("spawn");
    drop((stdin, stdout));
    let exit = child.finish().await.expect("wait");
    assert!(!exit.success() && exit.stderr.contains("nope.git"), "{}", exit.stderr);
    assert!(matches!(exit.into_result("git-upload-pack"), Err(Error::GitFailed { .. })));
    assert!(advertise(&missing, Service::ReceivePack, None).await.is_err());
}

/// A push larger than any pipe buffer (and than git's in-memory unpack limit, so git keeps the
/// pack as a pack) flows through pump and stdout concurrently without deadlocking.
#[tokio::test]
async fn large_push_streams_through() {
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(5), "main").await.expect("create");
    // Incompressible content, so the pack is as large as the file.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..24 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    f.write("noise.bin", &noise);
    let tip = f.commit("noise", 1_700_000_000);
    let pack = f.pack(&tip, None);
    assert!(pack.len() > 24 << 20);
    let prefix =
        [pkt(&format!("{ZERO} {tip} refs/heads/main\0report-status side-band-64k\n")), flush().to_vec()].concat();
    let out = rpc(&repo, Service::ReceivePack, None, Bytes::from(prefix), &pack).await;
    assert!(contains(&out, b"ok refs/heads/main"), "{}", String::from_utf8_lossy(&out));
    let file = read::file(&repo, "main", "noise.bin").await;
    assert!(matches!(file, Err(Error::TooLarge { .. })), "{file:?}");
}

/// A receive-pack never runs a repository's own hooks (in `hooks/` or at its `core.hooksPath`):
/// without server hooks none run; with them, only the server's, with the environment given.
#[tokio::test]
async fn receive_pack_runs_only_the_servers_hooks() {
    use autogit_git::hooks::ServerHooks;
    use autogit_git::spawn_rpc_with;
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let repo = f.storage.create(ProjectId::new(3), "main").await.expect("create");
    let marker = f.tmp.path().join("repository-hook-ran");
    let planted = f.tmp.path().join("planted");
    for dir in [repo.join("hooks"), planted.clone()] {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let hook = dir.join("pre-receive");
        std::fs::write(&hook, format!("#!/bin/sh\ntouch '{}'\nexit 1\n", marker.display())).expect("plant");
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let planted_str = planted.to_string_lossy().into_owned();
    let set = git_cmd(&repo).args(["config", "core.hooksPath", &planted_str]).status().expect("git config");
    assert!(set.success());

    f.write("README", b"one\n");
    let c1 = f.commit("one", 1_700_000_000);
    let push = |name: &str| {
        let mut body = [pkt(&format!("{ZERO} {c1} refs/heads/{name}\0report-status\n")), flush().to_vec()].concat();
        body.extend(f.pack(&c1, None));
        body
    };
    let out = rpc(&repo, Service::ReceivePack, None, Bytes::new(), &push("plain")).await;
    assert!(contains(&out, b"ok refs/heads/plain"), "{}", String::from_utf8_lossy(&out));
    assert!(!marker.exists(), "the repository's hook ran");

    // The server's policy hook: here a script that records its environment and declines.
    let server = f.tmp.path().join("server-hooks");
    let hooks = ServerHooks::install(&server, Path::new("/bin/false")).expect("install");
    let seen = f.tmp.path().join("seen-policy");
    let script = server.join("policy/pre-receive");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(&script, format!("#!/bin/sh\nprintf %s \"$AUTOGIT_PUSH_POLICY\" > '{}'\nexit 1\n", seen.display()))
        .expect("write");
    let with = hooks.with_policy("the policy".into());
    let RpcProcess { stdin, mut stdout, child } =
        spawn_rpc_with(&repo, Service::ReceivePack, None, Some(&with)).expect("spawn");
    let body = push("guarded");
    let reader = async {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).await.map(|_| out)
    };
    let (_, out) = tokio::join!(pump(Bytes::new(), &body[..], stdin), reader);
    let _ = child.finish().await.expect("wait");
    let out = out.expect("stdout");
    assert!(contains(&out, b"ng refs/heads/guarded pre-receive hook declined"), "{}", String::from_utf8_lossy(&out));
    assert_eq!(std::fs::read_to_string(&seen).expect("the server's hook ran"), "the policy");
    assert!(!marker.exists(), "the repository's hook ran");
    assert_eq!(read::resolve(&repo, "guarded").await.expect("resolve"), None, "a declined push moves nothing");
}
