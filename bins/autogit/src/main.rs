//! `autogit`: the one binary. This is the composition root: it reads configuration, chooses the
//! adapters (SQLite or PostgreSQL store, on-disk repositories, the system clock) and hands them to
//! the application and its inbound layers. No other crate chooses an adapter.

mod admin;
mod autoscaler;
mod builtin_runner;
mod ca;
mod ci;
mod data_dir;
mod gpu;
mod hook;
mod oidc;
mod pool;
mod runner;
mod secrets_key;
mod serve;
mod setup;
mod ssh;
mod traefik;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "autogit", version, about = "Self-hosted, GitLab-compatible git forge and CI")]
struct Cli {
    /// TOML configuration file (see `autogit config example`).
    #[arg(long, global = true, env = "AUTOGIT_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` from the file and AUTOGIT_DATA_DIR.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (git over HTTP, API v4).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:0 for a free port; overrides `listen`.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Administration that works directly on the data directory or database.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// CI configuration tools.
    Ci {
        #[command(subcommand)]
        command: ci::CiCommand,
    },
    /// The internal certificate authority (HTTPS certificates, runners' client certificates).
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// GPU Detector.
    Gpu {
        #[command(subcommand)]
        command: gpu::GpuCommand,
    },
    /// Autoscaled runner pools.
    Pool {
        #[command(subcommand)]
        command: pool::PoolCommand,
    },
    /// Run CI jobs for a server (the runner agent).
    Runner {
        #[command(subcommand)]
        command: runner::RunnerCommand,
    },
    /// Git hooks the server installs for itself (run by git, not by people).
    #[command(hide = true)]
    Hook {
        #[command(subcommand)]
        command: hook::HookCommand,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the CA (default in <data_dir>/ca); never replaces one.
    Init {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Issue a certificate signed by the CA: a server's (--dns/--ip) or a runner's (--client).
    Issue {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The certificate's subject; also the file names (<name>.crt, <name>.key).
        #[arg(long)]
        name: String,
        /// DNS names of a server certificate.
        #[arg(long)]
        dns: Vec<String>,
        /// Addresses of a server certificate.
        #[arg(long)]
        ip: Vec<std::net::IpAddr>,
        /// A client certificate (for `autogit runner register --tls-cert-file`).
        #[arg(long)]
        client: bool,
        #[arg(long, default_value_t = 90)]
        days: i64,
        /// Where the two files are written.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration with every default.
    Example,
    /// Print the effective configuration (secrets redacted).
    Show,
    /// Print Traefik's dynamic configuration for AutoGit behind Authelia (forward-auth on browser
    /// pages; git, API and runner paths around it), with the identity headers of `[auth.proxy]`.
    Traefik {
        /// The host name users reach AutoGit at.
        #[arg(long, default_value = "git.example.com")]
        host: String,
        /// Where Traefik reaches AutoGit.
        #[arg(long, default_value = "http://autogit:8080")]
        autogit_url: String,
        /// Authelia's forward-auth endpoint.
        #[arg(long, default_value = "http://authelia:9091/api/authz/forward-auth")]
        authelia_url: String,
        /// Traefik's entry point of the HTTPS port.
        #[arg(long, default_value = "websecure")]
        entrypoint: String,
    },
}

fn main() -> ExitCode {
    // HTTPS clients of this process (the runner's, `pool` and `gpu` commands) use ring, the
    // server's provider, rather than the aws-lc-rs one reqwest would otherwise pick.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    // Before anything is created: the data directory, its database, repositories and key file,
    // and whatever the processes started from here create (git, the runner processes of pools
    // and their jobs, which inherit the umask) are owner-only. A runner started on its own keeps
    // the umask it was given: its docker-executor jobs may run as another user in the container
    // and must still read the sources it checked out for them.
    if !matches!(cli.command, Command::Runner { .. }) {
        data_dir::private_umask();
    }
    let result = match cli.command {
        // Before any configuration or logging: a hook must start fast and print only its verdict.
        Command::Hook { command } => return hook::run(command),
        Command::Config { command: ConfigCommand::Example } => {
            print!("{}", autogit_config::EXAMPLE);
            Ok(())
        }
        Command::Config { command: ConfigCommand::Traefik { host, autogit_url, authelia_url, entrypoint } } => {
            setup::load_config(cli.config.as_deref(), cli.data_dir, None).map(|c| {
                let p = &c.auth.proxy;
                print!(
                    "{}",
                    traefik::config(&traefik::Traefik {
                        host: &host,
                        autogit_url: &autogit_url,
                        authelia_url: &authelia_url,
                        entrypoint: &entrypoint,
                        headers: [&p.user_header, &p.groups_header, &p.email_header, &p.name_header],
                    })
                );
            })
        }
        Command::Config { command: ConfigCommand::Show } => {
            setup::load_config(cli.config.as_deref(), cli.data_dir, None).map(|c| println!("{c:#?}"))
        }
        Command::Serve { listen } => setup::load_config(cli.config.as_deref(), cli.data_dir, listen)
            .and_then(|c| setup::runtime()?.block_on(serve::run(c, cli.config.clone()))),
        Command::Admin { command } => setup::load_config(cli.config.as_deref(), cli.data_dir, None)
            .and_then(|c| setup::runtime()?.block_on(admin::run(c, command))),
        Command::Ca { command } => setup::load_config(cli.config.as_deref(), cli.data_dir, None).and_then(|c| {
            let default_dir = c.data_dir.join("ca");
            match command {
                CaCommand::Init { dir } => ca::init(dir.as_deref().unwrap_or(&default_dir)),
                CaCommand::Issue { dir, name, dns, ip, client, days, out } => ca::issue(
                    dir.as_deref().unwrap_or(&default_dir),
                    &ca::Issue { name: &name, dns: &dns, ips: &ip, client, days, out: &out },
                ),
            }
        }),
        Command::Gpu { command } => gpu::run(command),
        Command::Pool { command } => pool::run(command),
        Command::Ci { command } => ci::run(command),
        Command::Runner { command } => {
            setup::init_runner_logging();
            setup::runtime().and_then(|rt| rt.block_on(runner::run(command)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
