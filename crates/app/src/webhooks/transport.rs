//! The port through which hook deliveries leave the server: one HTTP POST.
//!
//! # Contract (the adapter must hold it; `autogit-webhook-client`'s tests check it)
//! - Only `http` and `https` URLs; user information in the URL (`user:pass@`) is sent as basic
//!   authentication and never appears in an error.
//! - Every address the host resolves to is checked with
//!   `autogit_core::webhook::check_address` **at connect time**, against `policy`; an IP-literal
//!   host is checked too. Refused addresses are never connected to; when none is left the answer
//!   is [`HookFailure::Blocked`] with the core's message.
//! - Redirects are not followed: a 3xx is an answer like any other.
//! - `timeout` bounds the whole exchange (connect, send, answer); running out is
//!   [`HookFailure::Timeout`].
//! - The answer's body is read up to [`MAX_RESPONSE_EXCERPT`] bytes (lossy UTF-8) and at most
//!   [`MAX_RESPONSE_HEADERS`] headers are kept; the rest is dropped unread.
//! - `verify_tls: false` accepts any server certificate (GitLab's `enable_ssl_verification`).

use async_trait::async_trait;
use autogit_core::webhook::OutboundPolicy;
use std::time::Duration;

/// How much of an answer's body is kept for the delivery log (GitLab keeps 8 KB).
pub const MAX_RESPONSE_EXCERPT: usize = 8 << 10;
/// How many of an answer's headers are kept (GitLab keeps 50).
pub const MAX_RESPONSE_HEADERS: usize = 50;

/// One delivery attempt.
#[derive(Debug, Clone)]
pub struct HookRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub verify_tls: bool,
    pub policy: OutboundPolicy,
    pub timeout: Duration,
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body_excerpt: String,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookFailure {
    /// Refused before connecting: the message names the host and address (never credentials).
    #[error("{0}")]
    Blocked(String),
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("{0}")]
    Network(String),
    #[error("the receiver did not answer in time")]
    Timeout,
}

#[async_trait]
pub trait HookTransport: Send + Sync {
    async fn post(&self, request: HookRequest) -> Result<HookResponse, HookFailure>;
}
