//! Unit tests of the SSH provider's helpers.

use super::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn magic_packets() {
    let p = magic_packet("aa:bb:cc:dd:ee:0f").expect("colon form");
    assert_eq!(&p[..6], &[0xFF; 6]);
    for i in 0..16 {
        assert_eq!(&p[6 + i * 6..12 + i * 6], &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f]);
    }
    assert_eq!(magic_packet("AA-BB-CC-DD-EE-0F").ok(), Some(p));
    assert_eq!(magic_packet("aabbccddee0f").ok(), Some(p));
    for bad in [
        "",
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:ff:00",
        "aa:bb:cc:dd:ee:gg",
        "a:bb:cc:dd:ee:fff",
        "aa:bb-cc:dd:ee:ff",
        "+a:bb:cc:dd:ee:ff",
        "aabbccddeeff00",
        "ää:bb:cc:dd:ee",
    ] {
        assert!(matches!(magic_packet(bad), Err(FleetError::Config(_))), "{bad:?} accepted");
    }
}

#[test]
fn addresses() {
    assert_eq!(split_address("pc1"), ("pc1", None));
    assert_eq!(split_address("10.0.0.2:2222"), ("10.0.0.2", Some(2222)));
    assert_eq!(split_address("[fe80::1]:22"), ("fe80::1", Some(22)));
    assert_eq!(split_address("fe80::1"), ("fe80::1", None));
    assert_eq!(split_address("pc1:x"), ("pc1", None));
    assert_eq!(broadcast_addr(None).ok(), "255.255.255.255:9".parse().ok());
    assert_eq!(broadcast_addr(Some("10.1.2.255")).ok(), "10.1.2.255:9".parse().ok());
    assert!(broadcast_addr(Some("nope")).is_err());
}

#[test]
fn remote_dirs() {
    assert!(valid_remote_dir("~/.autogit-runner"));
    assert!(valid_remote_dir("/srv/runner"));
    assert!(valid_remote_dir("runner"));
    assert!(!valid_remote_dir("~root/x"));
    assert!(!valid_remote_dir("a b"));
    assert!(!valid_remote_dir("$(rm)"));
    assert!(!valid_remote_dir("-x"));
    assert!(!valid_remote_dir("a/~/b"));
    assert_eq!(scp_dir("~/.autogit-runner/"), ".autogit-runner");
    assert_eq!(scp_dir("~"), ".");
    assert_eq!(scp_dir("/srv/r"), "/srv/r");
    assert_eq!(remote_word("~/x/"), "~/x");
}

#[test]
fn the_start_script_quotes_arguments() {
    let l = Launch {
        name: "ci-1".into(),
        server_url: "http://h:1".into(),
        runner_token: "glrt-x'; rm -rf /".into(),
        runner_id: RunnerId::new(1),
        concurrent: 3,
        register_args: vec!["--tag-list".into(), "gpu, cuda".into()],
    };
    let s = start_script("~/.autogit-runner/", &l, 5);
    assert!(s.starts_with("cd ~/.autogit-runner ||"), "{s}");
    assert!(s.contains("'--token' 'glrt-x'\\''; rm -rf /' '--concurrent' '3' '--tag-list' 'gpu, cuda'"), "{s}");
    assert!(s.contains("stop 5"), "{s}");
}

#[tokio::test]
async fn init_checks_hosts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("autogit");
    std::fs::write(&bin, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let group = |hosts| SshGroup::new("g", bin.clone(), dir.path().join("state"), hosts, vec![]);
    assert!(matches!(group(vec![]).check_config(), Err(FleetError::Config(_))));
    let mut h = SshHost::new("pc1", "10.0.0.2:22", "ci");
    assert!(group(vec![h.clone()]).check_config().is_ok());
    assert!(matches!(group(vec![h.clone(), h.clone()]).check_config(), Err(FleetError::Config(_))));
    h.mac = Some("zz".into());
    assert!(matches!(group(vec![h.clone()]).check_config(), Err(FleetError::Config(_))));
    h.mac = None;
    h.remote_dir = "$HOME".into();
    assert!(matches!(group(vec![h.clone()]).check_config(), Err(FleetError::Config(_))));
    h.remote_dir = DEFAULT_REMOTE_DIR.to_string();
    h.address = "-oProxyCommand=x".into();
    assert!(matches!(group(vec![h]).check_config(), Err(FleetError::Config(_))));
}
