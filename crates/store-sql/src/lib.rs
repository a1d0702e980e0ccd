//! sqlx adapter for the AutoGit store ports: [`SqlStore`] implements every trait of
//! [`autogit_store::Store`] on SQLite (the embedded default) or PostgreSQL, chosen by URL.
//!
//! Layout: `db` holds the pool enum, the `with_db!` macro that expands one query body once per
//! backend, and connecting; `migrations` the embedded, append-only schema; `error` the only
//! mapping from sqlx errors to [`autogit_store::StoreError`]; `filter` the pieces list queries share
//! (access filter, search, paging); one module per aggregate holds its SQL, row structs and trait
//! impl. The same SQL text (with `$N` placeholders and `RETURNING`)
//! serves both backends; where it cannot, the code matches on the backend explicitly.
//!
//! No sqlx type appears in the public API: callers see [`SqlStore`] and the port traits only.

mod artifacts;
mod audit;
mod ci_codec;
mod ci_context;
mod ci_variables;
mod commit_statuses;
mod db;
mod error;
mod events;
mod filter;
mod hardware;
mod hooks;
mod identities;
mod job_batches;
mod job_rows;
mod jobs;
mod members;
mod migrations;
mod namespaces;
mod pipelines;
mod projects;
mod protected_branches;
mod protected_tags;
mod push_records;
mod runners;
mod sessions;
mod ssh_keys;
mod tokens;
mod traces;
mod users;

pub use db::{SqlStore, SqliteSync};
