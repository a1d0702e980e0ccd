//! The sandbox's rules, read off the command line it builds.

use super::*;

fn tools() -> Tools {
    Tools {
        unshare: "/usr/bin/unshare".into(),
        sh: "/bin/sh".into(),
        setpriv: "/usr/bin/setpriv".into(),
        pasta: "/usr/bin/pasta".into(),
        bwrap: "/usr/bin/bwrap".into(),
        prlimit: "/usr/bin/prlimit".into(),
    }
}

fn plan() -> Plan {
    Plan {
        tools: tools(),
        run_as: None,
        cgroups: vec!["/sys/fs/cgroup/memory/j/cgroup.procs".into(), "/sys/fs/cgroup/pids/j/cgroup.procs".into()],
        files: vec!["/runner/etc/passwd".into()],
        reexpose: None,
        forward_ports: vec![8080],
        mounts: vec![
            Mount::ReadOnly("/usr".into()),
            Mount::Symlink { target: "usr/bin".into(), at: "/bin".into() },
            Mount::File { index: 0, at: "/etc/passwd".into() },
            Mount::Tmpfs { at: "/tmp".into(), bytes: 1 << 20 },
            Mount::Bind { from: "/b/0/g/p".into(), at: "/builds/g/p".into(), writable: true },
            Mount::Bind { from: "/b/0/g/p.tmp".into(), at: "/autogit-tmp".into(), writable: false },
            Mount::Hide("/etc/autogit".into()),
            Mount::HideFile("/etc/autogit.toml".into()),
        ],
        rlimits: Rlimits { processes: 100, file_bytes: 1 << 30 },
        hostname: "autogit-job".into(),
        cwd: "/builds/g/p".into(),
        env: vec![("SECRET".into(), "hunter2".into()), ("PATH".into(), "/evil".into())],
        command: vec!["bash".into(), "-c".into(), "make".into()],
    }
}

fn after<'a>(argv: &'a [String], program: &str) -> &'a [String] {
    let i = argv.iter().position(|a| a == program).unwrap_or_else(|| panic!("{program} in {argv:?}"));
    &argv[i + 1..]
}

fn has_seq(argv: &[String], seq: &[&str]) -> bool {
    argv.windows(seq.len()).any(|w| w.iter().zip(seq).all(|(a, b)| a == b))
}

#[test]
fn secrets_never_reach_the_command_line() {
    let p = plan();
    let argv = p.argv().join(" ");
    assert!(!argv.contains("hunter2"), "{argv}");
    assert!(!argv.contains("/evil"), "a job's PATH must not reach the outer links: {argv}");
    let stdin = p.stdin_args();
    assert!(stdin.starts_with(b"--clearenv\0"));
    let want = b"--setenv\0SECRET\0hunter2\0";
    assert!(stdin.windows(want.len()).any(|w| w == want));
}

#[test]
fn a_nul_in_a_variable_cannot_become_a_bwrap_option() {
    let mut p = plan();
    p.env = vec![("X".into(), "a\0--bind\0/\0/".into()), ("Y\0--bind".into(), "v".into()), ("A=B".into(), "v".into())];
    assert_eq!(p.stdin_args(), b"--clearenv\0");
}

#[test]
fn namespaces_and_privileges() {
    let argv = plan().argv();
    let bwrap = after(&argv, "/usr/bin/bwrap");
    for flag in
        ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
    {
        assert!(bwrap.contains(&flag.to_string()), "{flag}");
    }
    assert!(has_seq(bwrap, &["--args", "0"]));
    assert!(has_seq(bwrap, &["--cap-drop", "ALL"]));
    assert!(has_seq(bwrap, &["--uid", "1000", "--gid", "1000"]));
    assert!(
        !bwrap.contains(&"--share-net".to_string()) && !bwrap.contains(&"--unshare-net".to_string()),
        "pasta owns the network"
    );
    // Not root: no uid switch and no private mount namespace of the runner's.
    assert!(!argv.contains(&"/usr/bin/setpriv".to_string()));
    assert!(!argv.contains(&"/usr/bin/unshare".to_string()));
}

#[test]
fn the_network_forwards_only_the_server_ports() {
    let argv = plan().argv();
    let pasta = after(&argv, "/usr/bin/pasta");
    assert!(has_seq(pasta, &["--tcp-ports", "none"]), "nothing of the job is exposed on the host");
    assert!(has_seq(pasta, &["--udp-ports", "none"]));
    assert!(has_seq(pasta, &["--udp-ns", "none"]), "no UDP to the host's loopback");
    assert!(has_seq(pasta, &["--tcp-ns", "8080"]));
    assert!(pasta.contains(&"--no-map-gw".to_string()));
    let mut p = plan();
    p.forward_ports = vec![];
    assert!(has_seq(&p.argv(), &["--tcp-ns", "none"]));
    p.forward_ports = vec![80, 443];
    assert!(has_seq(&p.argv(), &["--tcp-ns", "80,443"]));
}

#[test]
fn mounts_in_order_with_limits() {
    let argv = plan().argv();
    let bwrap = after(&argv, "/usr/bin/bwrap");
    let text = bwrap.join(" ");
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
    assert!(pos("--ro-bind /usr /usr") < pos("--bind /b/0/g/p /builds/g/p"));
    assert!(pos("--symlink usr/bin /bin") > 0);
    assert!(pos("--ro-bind-data 3 /etc/passwd") > 0, "the first generated file is fd 3");
    assert!(pos("--size 1048576 --tmpfs /tmp") > 0);
    assert!(pos("--ro-bind /b/0/g/p.tmp /autogit-tmp") > 0);
    assert!(pos("--tmpfs /etc/autogit") > pos("--ro-bind /usr /usr"), "hidden paths come after what they hide in");
    assert!(
        pos("--ro-bind /dev/null /etc/autogit.toml") > pos("--tmpfs /etc/autogit"),
        "a hidden file is covered by /dev/null"
    );
    assert!(has_seq(bwrap, &["--chdir", "/builds/g/p", "--"]));
    let limits = after(&argv, "/usr/bin/prlimit");
    assert!(has_seq(
        limits,
        &["--nproc=100:100", &format!("--fsize={0}:{0}", 1u64 << 30), "--core=0:0", "--", "bash", "-c", "make"]
    ));
}

#[test]
fn a_root_runner_switches_identity_and_reexposes_the_job_directories() {
    let mut p = plan();
    p.run_as = Some((1_900_000_000, 1_900_000_000));
    p.reexpose =
        Some(Reexpose { cover: "/data".into(), dirs: vec!["/data/b/0/g/p".into(), "/data/b/0/g/p.tmp".into()] });
    let argv = p.argv();
    assert_eq!(&argv[..5], ["/usr/bin/unshare", "--mount", "--propagation", "private", "--"]);
    assert_eq!(argv[5], "/bin/sh");
    let shim = &argv[7];
    // Positional parameters: cgroups, generated files, cover, dirs — then the command.
    let params = &argv[9..];
    assert_eq!(
        params[..6],
        [
            "/sys/fs/cgroup/memory/j/cgroup.procs",
            "/sys/fs/cgroup/pids/j/cgroup.procs",
            "/runner/etc/passwd",
            "/data",
            "/data/b/0/g/p",
            "/data/b/0/g/p.tmp"
        ]
    );
    assert_eq!(params[6], "/usr/bin/setpriv");
    assert!(has_seq(params, &["--reuid=1900000000", "--regid=1900000000", "--clear-groups", "/usr/bin/pasta"]));
    // The directories are opened before the cover hides them, then bound back from their fds.
    let open = shim.find("exec 4<\"$1\"").expect("dir fd");
    let cover = shim.find("mount -t tmpfs").expect("cover");
    let bind = shim.find("--bind /proc/self/fd/4 \"$d0\"").expect("bind back");
    assert!(open < cover && cover < bind, "{shim}");
    assert!(shim.contains("exec 4<&-") && shim.contains("exec 5<&-"), "dir fds are closed before the job starts");
}

#[test]
fn the_shim_interprets_no_data() {
    let s = shim(2, 3, Some(2));
    assert!(s.starts_with("set -e\numask 022\nexport PATH=/usr/local/sbin"));
    assert_eq!(s.matches("echo $$ > \"$1\"").count(), 2);
    assert!(s.contains("exec 3<\"$1\"") && s.contains("exec 5<\"$1\"") && s.contains("exec 6<\"$1\""));
    assert!(s.ends_with("exec \"$@\"\n"));
    // Only $1, $$, $@, $cover and $dN are ever expanded.
    let mut rest = s.clone();
    for known in ["$$", "$1", "$@", "$cover", "$d0", "$d1"] {
        rest = rest.replace(known, "");
    }
    assert!(!rest.contains('$'), "{rest}");
}

proptest::proptest! {
    /// Whatever a project member puts in a variable, bwrap reads back exactly `--clearenv` and
    /// `--setenv KEY VALUE` triples of the safe variables: nothing becomes an option of its own.
    #[test]
    fn variables_never_become_bwrap_options(vars in proptest::collection::vec(("[A-Za-z_=\\x00-]{0,6}", "[ -~\\x00]{0,12}"), 0..8)) {
        let mut p = plan();
        p.env = vars.clone();
        let bytes = p.stdin_args();
        let parts: Vec<&[u8]> = bytes.split(|b| *b == 0).collect();
        proptest::prop_assert_eq!(parts.last().copied(), Some(&b""[..]), "NUL-terminated");
        let parts = &parts[..parts.len() - 1];
        proptest::prop_assert_eq!(parts[0], b"--clearenv");
        let safe: Vec<&(String, String)> = vars.iter().filter(|(k, v)| env_safe(k, v)).collect();
        proptest::prop_assert_eq!(parts.len(), 1 + 3 * safe.len());
        for (i, (k, v)) in safe.iter().enumerate() {
            proptest::prop_assert_eq!(parts[1 + 3 * i], b"--setenv");
            proptest::prop_assert_eq!(parts[2 + 3 * i], k.as_bytes());
            proptest::prop_assert_eq!(parts[3 + 3 * i], v.as_bytes());
        }
    }
}
