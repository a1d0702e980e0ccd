//! AutoGit use-cases: accounts, groups, projects, memberships, tokens, authorization decisions,
//! repository reads and push recording (the push outbox: `push_record`).
//!
//! [`App`] holds the ports (`Arc<dyn Store>`, repository storage, a clock) and never names an
//! adapter, nor hands them out. Two entry points, visibly apart:
//! - the public methods of [`App`] are user use-cases: each takes the acting [`Principal`] and
//!   applies the access policy of `autogit_core::access` before touching anything, so inbound
//!   layers (HTTP, the admin CLI, later SSH) cannot forget a check; the only other public items
//!   are the constructors and `with_*` builders, [`App::system`] and [`App::ci_settings`];
//! - [`System`] (from [`App::system`]) holds the trusted calls, made without a principal: see its
//!   documentation for who may make them.
//!
//! `xtask/tests/boundary.rs` keeps both rules true. Errors are [`AppError`]; the HTTP crate maps
//! them to statuses in one place.

mod audit;
mod auth;
pub mod ci;
mod clock;
mod commit_statuses;
mod error;
mod file_writes;
mod groups;
mod members;
mod oidc;
mod pick_commits;
mod pipeline_secrets;
mod projects;
mod protected_branches;
mod protected_tags;
mod push;
mod push_record;
mod push_space;
pub mod push_space_guard;
pub mod push_watch;
mod receive_pack;
mod ref_writes;
mod related;
mod repository;
pub mod secrets;
mod sessions;
mod ssh_keys;
mod sso;
mod system;
mod tokens;
mod users;
pub mod webhooks;

pub use auth::memory_counter::MemoryFailureCounter;
pub use auth::{Credentials, PasswordSettings, Principal};
pub use clock::{Clock, SystemClock};
pub use commit_statuses::{AuthoredStatus, StatusReport};
pub use error::AppError;
pub use file_writes::{CommitAction, CommitRequest, MAX_ACTIONS};
pub use groups::CreateGroup;
pub use members::Source;
pub use oidc::{
    IdentityProvider, OidcButton, OidcCallback, OidcClaims, OidcOutcome, OidcProvider, OidcRequest, OidcStarted,
    ProviderError,
};
pub use pick_commits::{Pick, PickRefused};
pub use projects::{CreateProject, UpdateProject};
pub use protected_branches::ProtectBranch;
pub use push::GitDenied;
pub use push_record::{RecordedPush, Recovered};
pub use push_space::{PushRefused, PushSettings};
pub use receive_pack::{FinishPush, PushNotStarted, PushStart, ReceivingPush};
pub use related::RunnerJob;
pub use repository::{check_branch_name, check_revision};
pub use sessions::{IssuedSession, SessionSettings, SignIn, csrf_token, same_token};
pub use ssh_keys::{AddKey, CheckedKey, check_public_key};
pub use sso::{SsoIdentity, SsoSettings};
pub use system::System;
pub use tokens::{CreateToken, IssuedToken};
pub use users::CreateUser;

pub use autogit_store as store;

use autogit_git::hooks::ServerHooks;
use autogit_git::storage::RepoStorage;
use autogit_store::{BlobStore, FailureCounter, SessionStore, Store};
use std::sync::Arc;

pub type Result<T> = std::result::Result<T, AppError>;

/// The application: ports plus policy.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    repos: Arc<RepoStorage>,
    clock: Arc<dyn Clock>,
    ci: Arc<ci::runtime::Runtime>,
    /// Where artifact and trace blobs live (none until `with_blobs`).
    blobs: Arc<dyn BlobStore>,
    passwords: Arc<auth::PasswordChecks>,
    /// Browser sessions: where they live (the store until `with_sessions`) and how long they last.
    sessions: Arc<sessions::Sessions>,
    /// How single sign-on identities become accounts and roles.
    sso: Arc<SsoSettings>,
    /// OpenID Connect providers, in configuration order.
    oidc: Arc<Vec<OidcProvider>>,
    /// The keyring that seals secret values at rest (none until `with_secrets`).
    secrets: Arc<secrets::Secrets>,
    push: Arc<PushSettings>,
    /// The push records whose git this process may still be running (see `push_record`).
    live_pushes: push_record::LivePushes,
    /// The server's receive-pack hooks; pushes are refused without them (see `receive_hooks`).
    push_hooks: Option<Arc<ServerHooks>>,
    /// Hook delivery (none until `with_webhooks`: then pushes enqueue nothing).
    webhooks: Option<Arc<webhooks::WebhookRuntime>>,
}

/// Failed sign-ins an [`App`] built by [`App::new`] remembers (accounts and addresses together).
const DEFAULT_TRACKED_KEYS: usize = 100_000;

impl App {
    pub fn new(store: Arc<dyn Store>, repos: RepoStorage, clock: Arc<dyn Clock>) -> Self {
        let epoch = clock.now().timestamp_millis() as u64;
        let ci = Arc::new(ci::runtime::Runtime::new(ci::CiSettings::default(), epoch));
        let passwords = Arc::new(auth::PasswordChecks::new(
            PasswordSettings::default(),
            Arc::new(MemoryFailureCounter::new(DEFAULT_TRACKED_KEYS)),
        ));
        let sessions = Arc::new(sessions::Sessions { store: store.clone(), settings: SessionSettings::default() });
        App {
            store,
            sessions,
            sso: Arc::new(SsoSettings::default()),
            oidc: Arc::new(Vec::new()),
            repos: Arc::new(repos),
            clock,
            ci,
            blobs: Arc::new(ci::blobs::NoBlobStore),
            passwords,
            secrets: Arc::new(secrets::Secrets::unavailable()),
            push: Arc::new(PushSettings::default()),
            live_pushes: push_record::LivePushes::default(),
            push_hooks: None,
            webhooks: None,
        }
    }

    /// The same application with these password-check limits, its failed sign-ins counted in
    /// `counter` (the composition root chooses the adapter).
    #[must_use]
    pub fn with_password_checks(mut self, settings: PasswordSettings, counter: Arc<dyn FailureCounter>) -> Self {
        self.passwords = Arc::new(auth::PasswordChecks::new(settings, counter));
        self
    }

    /// The same application with its browser sessions kept in `store` (the composition root
    /// chooses the adapter) and lasting as `settings` says.
    #[must_use]
    pub fn with_sessions(mut self, store: Arc<dyn SessionStore>, settings: SessionSettings) -> Self {
        self.sessions = Arc::new(sessions::Sessions { store, settings });
        self
    }

    /// The same application with these single sign-on rules.
    #[must_use]
    pub fn with_oidc_providers(mut self, providers: Vec<OidcProvider>) -> Self {
        self.oidc = Arc::new(providers);
        self
    }

    pub fn with_sso(mut self, settings: SsoSettings) -> Self {
        self.sso = Arc::new(settings);
        self
    }

    /// The same application with its artifact blobs kept in `blobs` (the composition root
    /// chooses the adapter).
    #[must_use]
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = blobs;
        self
    }

    /// The same application with these push settings.
    #[must_use]
    pub fn with_push_settings(mut self, settings: PushSettings) -> Self {
        self.push = Arc::new(settings);
        self
    }

    /// The same application with the server's receive-pack hooks installed (needed for pushes).
    #[must_use]
    pub fn with_push_hooks(mut self, hooks: ServerHooks) -> Self {
        self.push_hooks = Some(Arc::new(hooks));
        self
    }

    /// The same application with these coordinator settings (and a fresh, empty queue: call
    /// before serving).
    #[must_use]
    pub fn with_ci_settings(mut self, settings: ci::CiSettings) -> Self {
        let epoch = self.clock.now().timestamp_millis() as u64;
        self.ci = Arc::new(ci::runtime::Runtime::new(settings, epoch));
        self
    }

    /// The coordinator settings this application runs with.
    pub fn ci_settings(&self) -> &ci::CiSettings {
        &self.ci.settings
    }
}
