//! Layering, validation and redaction tests.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn example_is_the_defaults() {
    let (parsed, _) = Config::load(Some(("example.toml", EXAMPLE)), &[]).expect("example parses");
    assert_eq!(parsed, Config::default());
}

#[test]
fn every_env_var_is_documented_in_the_example() {
    for (var, _) in ENV_VARS {
        assert!(EXAMPLE.contains(var), "{var} missing from example.toml");
    }
}

#[test]
fn layers_apply_in_order() {
    let file = "listen = \"127.0.0.1:9000\"\n[database]\nurl = \"postgres://u:p@h/db\"\n[git]\nmax_push_bytes = 10\n";
    let (c, _) = Config::load(
        Some(("a.toml", file)),
        &env(&[("AUTOGIT_LISTEN", "127.0.0.1:9001"), ("AUTOGIT_GIT_MAX_PUSH_BYTES", "20"), ("PATH", "/bin")]),
    )
    .expect("valid");
    assert_eq!(c.listen, "127.0.0.1:9001", "env beats file");
    assert_eq!(c.git.max_push_bytes, 20);
    assert_eq!(c.database_url(), "postgres://u:p@h/db", "file beats default");
    assert_eq!(c.log.level, "info", "default kept");
}

#[test]
fn default_database_is_sqlite_in_data_dir() {
    let (c, _) = Config::load(None, &env(&[("AUTOGIT_DATA_DIR", "/srv/ag")])).expect("valid");
    assert_eq!(c.database_url(), "sqlite:///srv/ag/autogit.db");
}

#[test]
fn errors_name_the_problem() {
    let e = Config::load(Some(("a.toml", "lissen = 1\n")), &[]).expect_err("unknown key");
    assert!(e.to_string().contains("lissen"), "{e}");
    let (_, warnings) =
        Config::load(None, &env(&[("AUTOGIT_LISTN", "x"), ("AUTOGIT_CONFIG", "f")])).expect("warns only");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("AUTOGIT_LISTN"), "{warnings:?}");
    let e = Config::load(None, &env(&[("AUTOGIT_GIT_MAX_PUSH_BYTES", "lots")])).expect_err("not a number");
    assert!(e.to_string().contains("whole number"), "{e}");
    let e = Config::load(Some(("a.toml", "listen = \"nowhere\"")), &[]).expect_err("bad address");
    assert!(e.to_string().contains("nowhere"), "{e}");
    let e = Config::load(Some(("a.toml", "[database]\nurl = \"mysql://x\"")), &[]).expect_err("bad url");
    assert!(e.to_string().contains("database.url"), "{e}");
    assert!(Config::load(None, &env(&[("AUTOGIT_TEST_POSTGRES_URL", "x")])).is_ok(), "test variables are not config");
}

#[test]
fn secrets_are_redacted() {
    let (c, _) = Config::load(
        None,
        &env(&[("AUTOGIT_DATABASE_URL", "postgres://u:hunter2@h/db"), ("AUTOGIT_ROOT_PASSWORD", "s3cret-pass")]),
    )
    .expect("valid");
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn secrets_key_source() {
    let (c, _) = Config::load(None, &env(&[("AUTOGIT_DATA_DIR", "/srv/ag")])).expect("valid");
    assert_eq!(c.secrets.key_file(&c.data_dir), std::path::Path::new("/srv/ag/secrets.key"), "default key file");
    let (c, _) = Config::load(None, &env(&[("AUTOGIT_SECRETS_KEY_FILE", "/etc/autogit/keys")])).expect("valid");
    assert_eq!(c.secrets.key_file(&c.data_dir), std::path::Path::new("/etc/autogit/keys"));
    let key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    let (c, _) = Config::load(None, &env(&[("AUTOGIT_SECRETS_KEY", key)])).expect("valid");
    assert_eq!(c.secrets.key.expose(), key);
    assert!(!format!("{c:?}").contains(key), "the key is redacted");
    let e = Config::load(Some(("a.toml", "[secrets]\nkey_file = \"/k\"\nkey = \"x\"\n")), &[]).expect_err("both");
    assert!(e.to_string().contains("secrets.key and secrets.key_file"), "{e}");
}

#[test]
fn pool_windows_are_checked() {
    let load = |w: &str| {
        let text = format!("[[ci.pools]]\nname = \"p\"\nwindows = [{w}]\n");
        Config::load(Some(("f.toml", &text)), &[])
    };
    let (c, _) = load(r#"{ days = [0, 4], from = "08:00", to = "18:30", min_idle = 3 }"#).expect("valid");
    assert_eq!(c.ci.pools[0].windows[0].minutes(), Ok((480, 1110)));
    for bad in [
        r#"{ from = "18:00", to = "08:00" }"#,
        r#"{ from = "8", to = "9:00" }"#,
        r#"{ from = "08:00", to = "25:00" }"#,
        r#"{ days = [7], from = "08:00", to = "09:00" }"#,
    ] {
        let e = load(bad).expect_err(bad).to_string();
        assert!(e.contains("ci.pools.p.windows[0]"), "{e}");
    }
}

#[test]
fn pool_architecture_and_gpu_profile_are_checked() {
    let load = |extra: &str| {
        let text = format!("[[ci.pools]]\nname = \"p\"\n{extra}");
        Config::load(Some(("c.toml", &text)), &[]).map(|(c, _)| c).map_err(|e| e.to_string())
    };
    let native = crate::pool::native_architecture();
    let foreign = if native == "riscv64" { "arm64" } else { "riscv64" };
    let c = load(&format!("architecture = \"{native}\"\n")).expect("native");
    assert_eq!(c.ci.pools[0].effective_architecture(), native);
    assert_eq!(load("").expect("default").ci.pools[0].effective_architecture(), native);
    let e = load(&format!("architecture = \"{foreign}\"\n")).expect_err("shell executor");
    assert!(e.contains("--docker-image") && e.contains(foreign), "{e}");
    load(&format!("architecture = \"{foreign}\"\nregister_args = [\"--docker-image\", \"i\"]\n"))
        .expect("docker executor");
    let e = load(&format!("provider = \"docker\"\ndocker_image = \"i\"\narchitecture = \"{foreign}\"\n"))
        .expect_err("docker provider, shell executor");
    assert!(e.contains("--docker-image"), "{e}");
    load(&format!(
        "provider = \"docker\"\ndocker_image = \"i\"\narchitecture = \"{foreign}\"\nregister_args = [\"--docker-image\", \"j\"]\n"
    ))
    .expect("docker provider, docker executor");
    assert!(load("architecture = \"linux/arm64\"\n").expect_err("slash").contains("not an architecture name"));

    let c = load("gpu = { count = 2, vendor = \"nvidia\", model = \"NVIDIA A10\", memory_mib = 24000, compute_capability = \"8.6\" }\n")
        .expect("gpu");
    let g = c.ci.pools[0].gpu.clone().expect("profile");
    assert_eq!((g.count, g.compute_capability_parts()), (2, Ok((8, 6))));
    for (bad, want) in [
        ("count = 0, vendor = \"nvidia\"", "count must be at least 1"),
        ("count = 1, vendor = \"nvidia\", compute_capability = \"8\"", "MAJOR.MINOR"),
    ] {
        let e = load(&format!("gpu = {{ {bad} }}\n")).expect_err(bad);
        assert!(e.contains("ci.pools.p.gpu") && e.contains(want), "{e}");
    }
    let e = load("gpu = { count = 1, vendor = \"matrox\" }\n").expect_err("unknown vendor");
    assert!(e.contains(r#"gpu.vendor = "matrox" is not one of "nvidia", "amd" or "intel""#), "{e}");
    let e = load("gpu = { count = 1 }\n").expect_err("no vendor");
    assert!(e.contains("vendor"), "{e}");
}

/// Every choice takes today's spellings from the file and from `AUTOGIT_*`, and an unknown one
/// is refused with the setting, the value and every allowed spelling.
#[test]
fn choices_keep_their_spellings_and_name_the_allowed_ones() {
    let file = |text: &str| Config::load(Some(("c.toml", text)), &[]).map(|(c, _)| c).map_err(|e| e.to_string());
    let vars = |k: &str, v: &str| Config::load(None, &env(&[(k, v)])).map(|(c, _)| c).map_err(|e| e.to_string());
    for (name, mode) in [("pool", BuiltinRunnerMode::Pool), ("in-process", BuiltinRunnerMode::InProcess)] {
        let c = file(&format!("[ci]\nbuiltin_runner_mode = \"{name}\"\n")).expect("file");
        assert_eq!(c.ci.builtin_runner_mode, mode);
        assert_eq!(vars("AUTOGIT_CI_BUILTIN_RUNNER_MODE", name).expect("env").ci.builtin_runner_mode, mode);
        assert_eq!(mode.to_string(), name);
    }
    for (name, sync) in [("normal", SqliteSynchronous::Normal), ("full", SqliteSynchronous::Full)] {
        let c = file(&format!("[database]\nsqlite_synchronous = \"{name}\"\n")).expect("file");
        assert_eq!(c.database.sqlite_synchronous, sync);
        assert_eq!(vars("AUTOGIT_DATABASE_SQLITE_SYNCHRONOUS", name).expect("env").database.sqlite_synchronous, sync);
    }
    let e = vars("AUTOGIT_DATABASE_SQLITE_SYNCHRONOUS", "off").expect_err("not a choice");
    assert!(e.contains("database.sqlite_synchronous") && e.contains("normal") && e.contains("full"), "{e}");
    for (name, format) in [("text", LogFormat::Text), ("json", LogFormat::Json)] {
        assert_eq!(file(&format!("[log]\nformat = \"{name}\"\n")).expect("file").log.format, format);
        assert_eq!(vars("AUTOGIT_LOG_FORMAT", name).expect("env").log.format, format);
    }
    let pools = "docker_image = \"i\"\nplugin_command = [\"p\"]\nssh_hosts = [{ name = \"h\" }]\n";
    for name in PoolProvider::NAMES {
        let c = file(&format!("[[ci.pools]]\nname = \"p\"\nprovider = \"{name}\"\n{pools}")).expect(name);
        assert_eq!(c.ci.pools[0].provider.as_str(), *name);
    }
    for name in GpuVendor::NAMES {
        let c = file(&format!("[[ci.pools]]\nname = \"p\"\ngpu = {{ count = 1, vendor = \"{name}\" }}\n")).expect(name);
        assert_eq!(c.ci.pools[0].gpu.as_ref().map(|g| g.vendor.as_str()), Some(*name));
    }

    let e = vars("AUTOGIT_CI_BUILTIN_RUNNER_MODE", "inprocess").expect_err("unknown mode");
    assert!(e.contains(r#"ci.builtin_runner_mode = "inprocess" is not one of "pool" or "in-process""#), "{e}");
    let e = file("[log]\nformat = \"JSON\"\n").expect_err("case matters");
    assert!(e.contains(r#"log.format = "JSON" is not one of "text" or "json""#), "{e}");
    let e = file("[[ci.pools]]\nname = \"p\"\nprovider = \"k8s\"\n").expect_err("unknown provider");
    assert!(e.contains(r#"provider = "k8s" is not one of "process", "docker", "ssh" or "plugin""#), "{e}");
}

#[test]
fn http_limits_are_checked() {
    let load = |text: &str| Config::load(Some(("h.toml", text)), &[]).map(|(c, _)| c).map_err(|e| e.to_string());
    let c = load("[http]\nmax_connections = 10\nmax_connections_per_address = 0\nshutdown_timeout_seconds = 0\n")
        .expect("0 turns the per-address cap off; 0 s closes at once on shutdown");
    assert_eq!((c.http.max_connections, c.http.max_connections_per_address), (10, 0));
    for (bad, want) in [
        ("header_read_timeout_seconds = 0", "http.header_read_timeout_seconds must be at least 1"),
        ("idle_timeout_seconds = 0", "http.idle_timeout_seconds must be at least 1"),
        ("max_connections = 0", "http.max_connections must be at least 1"),
        ("idle_timeout_seconds = 90000", "http.idle_timeout_seconds = 90000: at most 86400"),
        ("max_connections = 10\nmax_connections_per_address = 11", "above http.max_connections = 10"),
        ("header_read_timeout_seconds = -1", "header_read_timeout_seconds"),
        ("max_conections = 1", "max_conections"),
    ] {
        let e = load(&format!("[http]\n{bad}\n")).expect_err(bad);
        assert!(e.contains(want), "{bad}: {e}");
    }
    let e = Config::load(None, &env(&[("AUTOGIT_HTTP_MAX_CONNECTIONS", "many")])).expect_err("not a number");
    assert!(e.to_string().contains("AUTOGIT_HTTP_MAX_CONNECTIONS"), "{e}");
    let (c, _) = Config::load(None, &env(&[("AUTOGIT_HTTP_IDLE_TIMEOUT_SECONDS", "5")])).expect("valid");
    assert_eq!(c.http.idle_timeout_seconds, 5);
}

#[test]
fn metrics_access_is_checked() {
    let load = |text: &str| Config::load(Some(("m.toml", text)), &[]).map(|(c, _)| c).map_err(|e| e.to_string());
    let c = load("").expect("defaults");
    let loopback: Vec<(std::net::IpAddr, u8)> =
        vec![("127.0.0.0".parse().expect("ip"), 8), ("::1".parse().expect("ip"), 128)];
    assert_eq!(c.metrics.allowed_networks().expect("valid"), loopback, "loopback only by default");
    let e = load("[metrics]\nallowed_addresses = [\"127.0.0.1\", \"10.0.0.0/40\"]\n").expect_err("prefix");
    assert!(e.contains("metrics.allowed_addresses[1] = \"10.0.0.0/40\"") && e.contains("0 to 32"), "{e}");
    let e = load("[metrics]\ntoken = \"short\"\n").expect_err("short token");
    assert!(e.contains("metrics.token must be at least 16"), "{e}");
    let e = load("[metrics]\ntoken = \"a-long-enough-token \"\n").expect_err("space");
    assert!(e.contains("spaces"), "{e}");
    let (c, _) =
        Config::load(None, &env(&[("AUTOGIT_METRICS_TOKEN", "metrics-token-0123456789")])).expect("valid token");
    assert_eq!(c.metrics.token.expose(), "metrics-token-0123456789");
    assert!(!format!("{c:?}").contains("metrics-token-0123456789"), "the token is redacted");
}

#[test]
fn auth_limits_load_from_the_environment_and_are_checked() {
    let (c, _) = Config::load(
        Some(("a.toml", "[auth.account]\nmax_failures = 3\n")),
        &env(&[("AUTOGIT_AUTH_ACCOUNT_LOCK_SECONDS", "5"), ("AUTOGIT_AUTH_ADDRESS_MAX_FAILURES", "0")]),
    )
    .expect("valid");
    assert_eq!((c.auth.account.max_failures, c.auth.account.lock_seconds), (3, 5));
    assert_eq!(c.auth.address.max_failures, 0, "0 disables the address limit");
    assert_eq!(c.auth.account.window_seconds, 600, "defaults kept");
    let (c, _) = Config::load(Some(("a.toml", "[auth.address]\nwindow_seconds = 60\n")), &[]).expect("valid");
    assert_eq!((c.auth.address.max_failures, c.auth.address.window_seconds), (50, 60), "the address's own defaults");
    for (file, needle) in [
        ("[auth]\npassword_checks = 0\n", "auth.password_checks"),
        ("[auth.account]\nlock_seconds = 100\nmax_lock_seconds = 10\n", "auth.account.max_lock_seconds"),
        ("[auth.address]\nwindow_seconds = 0\n", "auth.address"),
        ("[auth.address]\nmax_failures = 2000000\n", "auth.address.max_failures"),
        ("[auth]\nmax_tracked_keys = 0\n", "auth.max_tracked_keys"),
        ("[auth.account]\nmax_fails = 3\n", "max_fails"),
    ] {
        let e = Config::load(Some(("a.toml", file)), &[]).expect_err(file);
        assert!(e.to_string().contains(needle), "{file}: {e}");
    }
    let e = Config::load(None, &env(&[("AUTOGIT_AUTH_PASSWORD_QUEUE", "many")])).expect_err("not a number");
    assert!(e.to_string().contains("AUTOGIT_AUTH_PASSWORD_QUEUE"), "{e}");
}
