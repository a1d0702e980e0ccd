//! `autogit admin …`: bootstrap and repair from a shell, working directly on the configured
//! database (safe while the server runs: SQLite is in WAL mode, PostgreSQL is concurrent).

use crate::setup;
use anyhow::{Context, Result, bail};
use autogit_app::{CreateToken, CreateUser};
use autogit_config::Config;
use clap::Subcommand;
use std::io::Read;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage personal access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Add a new secrets key and re-seal every secret value (CI/CD variables) with it; the old key
    /// stays for opening until `--drop-old`. Safe while the server runs.
    RotateKey {
        /// Remove the old keys (after re-sealing any value still under one) instead of adding a key.
        #[arg(long)]
        drop_old: bool,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Display name; defaults to the username.
        #[arg(long)]
        name: Option<String>,
        /// Password (visible in the process list; prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a personal access token and print it (only this once).
    Create {
        /// Username of the token's owner.
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: api, read_api, read_repository, write_repository.
        #[arg(long, value_delimiter = ',', default_value = "api")]
        scopes: Vec<String>,
        /// Last valid day is the day before this date (YYYY-MM-DD).
        #[arg(long)]
        expires_at: Option<chrono::NaiveDate>,
    },
}

pub async fn run(config: Config, command: AdminCommand) -> Result<()> {
    let app = setup::open_app(&config).await?;
    match command {
        AdminCommand::User {
            command: UserCommand::Create { username, email, name, password, password_stdin, admin },
        } => {
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).context("reading password from stdin")?;
                Some(s.trim_end_matches(['\n', '\r']).to_string())
            } else {
                password
            };
            let name = name.unwrap_or_else(|| username.clone());
            let u = app.system().insert_user(CreateUser { username, name, email, password, is_admin: admin }).await?;
            println!("created user {} (id {}){}", u.username, u.id, if u.is_admin { ", administrator" } else { "" });
        }
        AdminCommand::Token { command: TokenCommand::Create { user, name, scopes, expires_at } } => {
            let owner = match app.system().user_by_username(&user).await {
                Ok(u) => u,
                Err(_) => bail!("no user named {user:?}"),
            };
            let issued = app.system().insert_token(owner.id, CreateToken { name, scopes, expires_at }).await?;
            eprintln!("created token {} for {} with scopes {:?}", issued.token.id, owner.username, issued.token.scopes);
            println!("{}", issued.secret);
        }
        AdminCommand::RotateKey { drop_old } => crate::secrets_key::rotate(app, &config, drop_old).await?,
    }
    Ok(())
}
