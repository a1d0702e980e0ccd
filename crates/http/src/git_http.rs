//! git smart HTTP: `GET …/info/refs?service=…`, `POST …/git-upload-pack`, `POST …/git-receive-pack`.
//!
//! AutoGit owns the HTTP, credentials, policy, limits and metrics; the pack exchange runs in a
//! `git … --stateless-rpc` child (ADR 0003). Bodies stream both ways: the request body (gzip
//! already decoded by the router's layer) is pumped into the child's stdin while its stdout is
//! the response body, so memory stays flat whatever the pack size. Error bodies are
//! `text/plain`, which git prints as `remote: …` lines.

// Early returns carry the finished error `Response`; it is built once per failed request, so its
// size on the error path does not matter.
#![allow(clippy::result_large_err)]

use crate::auth::credentials;
use crate::state::AppState;
use autogit_app::push_space_guard::{SpaceGuard, Stopped};
use autogit_app::push_watch::Feeder;
use autogit_app::store::Project;
use autogit_app::{AppError, GitDenied, Principal, PushNotStarted, PushRefused, PushStart, ReceivingPush};
use autogit_core::ProjectId;
use autogit_core::repo_path::{GitEndpoint, GitPath, PathError, parse_git_path};
use autogit_git::pktline::{self, ReceiveRequest};
use autogit_git::service::{self, Service};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt, TryStreamExt};
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::io::{ReaderStream, StreamReader};

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut body = msg.into();
    body.push('\n');
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn challenge() -> Response {
    let mut r =
        text(StatusCode::UNAUTHORIZED, "HTTP Basic: Access denied. Use a personal access token as the password.");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"AutoGit\""));
    r
}

fn not_found(full_path: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!(
            "The project '{full_path}' could not be found or you don't have permission to view it. \
             To push a new project, create it first (POST /api/v4/projects)."
        ),
    )
}

/// The router's fallback: git URLs are handled here, everything else is a JSON 404.
/// Whether a request path is one of git's smart HTTP endpoints (and not a page under a
/// project's `/-/`, such as the file view of a file named `info/refs`).
pub(crate) fn is_git_path(path: &str) -> bool {
    !path.contains("/-/") && ["/info/refs", "/git-upload-pack", "/git-receive-pack"].iter().any(|s| path.ends_with(s))
}

pub async fn handle(State(s): State<AppState>, req: Request) -> Response {
    let gp = match parse_git_path(req.uri().path()) {
        Ok(gp) => gp,
        Err(PathError::NotGit) => return crate::error::unknown_path(),
        Err(e) => return text(StatusCode::NOT_FOUND, format!("invalid repository path: {e}")),
    };
    let (service, write) = match (req.method(), gp.endpoint) {
        (&Method::GET, GitEndpoint::InfoRefs) => match info_refs_service(req.uri().query()) {
            Ok(svc) => (svc, svc == Service::ReceivePack),
            Err(r) => return r,
        },
        (&Method::POST, GitEndpoint::UploadPack) => (Service::UploadPack, false),
        (&Method::POST, GitEndpoint::ReceivePack) => (Service::ReceivePack, true),
        _ => return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed for this git endpoint"),
    };
    let protocol = match req.headers().get("git-protocol").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => match pktline::validate_git_protocol(v) {
            Ok(p) => Some(p),
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("invalid Git-Protocol header: {e}")),
        },
        Some(Err(_)) => return text(StatusCode::BAD_REQUEST, "invalid Git-Protocol header: not text"),
    };
    let who = match authenticate(&s, req.headers(), peer_of(&req)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (project, repo) = match s.app.git_project(&who, &gp.full_path(), write).await {
        Ok(x) => x,
        Err(GitDenied::Challenge) => return challenge(),
        Err(GitDenied::NotFound) => return not_found(&gp.full_path()),
        Err(GitDenied::Forbidden(msg)) => return text(StatusCode::FORBIDDEN, msg),
        Err(GitDenied::Other(e)) => {
            tracing::error!(error = %e, "git access check failed");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    if service == Service::ReceivePack
        && gp.endpoint == GitEndpoint::InfoRefs
        && let Err(refused) = s.app.system().check_push_space(None)
    {
        return text(StatusCode::INSUFFICIENT_STORAGE, refused.message());
    }
    let ctx = Ctx { state: s, who, project_id: project.id, project, repo, service, protocol, path: gp };
    match ctx.path.endpoint {
        GitEndpoint::InfoRefs => ctx.advertise().await,
        _ => ctx.rpc(req).await,
    }
}

fn info_refs_service(query: Option<&str>) -> Result<Service, Response> {
    let svc = query.unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("service="));
    match svc {
        None => Err(text(StatusCode::BAD_REQUEST, "only the smart HTTP protocol is served: ?service= is required")),
        Some(name) => {
            name.parse::<Service>().map_err(|_| text(StatusCode::BAD_REQUEST, format!("unsupported service {name:?}")))
        }
    }
}

/// The client address: the connection's TCP peer, never a forwarding header. A request without
/// one (not served by `serve`) counts as one shared unknown address.
fn peer_of(req: &Request) -> IpAddr {
    crate::conn::peer_or_unknown(req.extensions())
}

/// Tokens or an account password: git over HTTP is where passwords are accepted.
async fn authenticate(s: &AppState, headers: &HeaderMap, peer: IpAddr) -> Result<Principal, Response> {
    let creds = credentials(headers).map_err(|e| text(StatusCode::BAD_REQUEST, e))?;
    match s.app.system().authenticate_git(creds, peer).await {
        Ok(p) => Ok(p),
        Err(e @ (AppError::SignInLocked(_) | AppError::PasswordChecksBusy(_))) => {
            let mut r = text(StatusCode::TOO_MANY_REQUESTS, e.to_string());
            if let Some(secs) = e.retry_after_secs() {
                r.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            Err(r)
        }
        Err(AppError::Internal(e)) => {
            tracing::error!(error = %e, "git authentication failed");
            Err(text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
        Err(_) => Err(challenge()),
    }
}

struct Ctx {
    state: AppState,
    who: Principal,
    project_id: ProjectId,
    project: Project,
    repo: PathBuf,
    service: Service,
    protocol: Option<String>,
    path: GitPath,
}

impl Ctx {
    fn kind(&self) -> &'static str {
        match (self.path.endpoint, self.service) {
            (GitEndpoint::InfoRefs, _) => "info_refs",
            (_, Service::UploadPack) => "upload_pack",
            (_, Service::ReceivePack) => "receive_pack",
        }
    }

    async fn advertise(self) -> Response {
        match service::advertise(&self.repo, self.service, self.protocol.as_deref()).await {
            Ok(body) => {
                self.state.metrics.git_op(self.kind(), true);
                let ct = self.service.advertisement_content_type();
                ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "no-cache")], body).into_response()
            }
            Err(e) => {
                self.state.metrics.git_op(self.kind(), false);
                tracing::error!(error = %e, project_id = self.project_id.get(), "advertisement failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, "could not read the repository")
            }
        }
    }

    async fn rpc(self, req: Request) -> Response {
        let expected = self.service.request_content_type();
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if ct != expected {
            return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("expected Content-Type {expected}"));
        }
        let limit = match self.service {
            Service::ReceivePack => self.state.config.max_push_bytes,
            Service::UploadPack => self.state.config.max_fetch_request_bytes,
        };
        let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        // Content-Length is the compressed size when gzip is used; the stream check below
        // enforces the limit on decoded bytes too.
        if limit > 0 && declared.is_some_and(|n| n > limit) {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than the limit of {limit} bytes"),
            );
        }
        let received = Arc::new(AtomicU64::new(0));
        let body = req.into_body().into_data_stream();
        match self.service {
            Service::ReceivePack => self.receive_pack(body, limit, declared, received).await,
            Service::UploadPack => self.upload_pack(body, limit, received).await,
        }
    }

    /// A fetch: the request streams into `git upload-pack`, its output back.
    async fn upload_pack(self, body: BodyStream, limit: u64, received: Arc<AtomicU64>) -> Response {
        let reader = StreamReader::new(Box::pin(limited(body, limit, received.clone(), None)));
        let proc = match service::spawn_rpc_with(&self.repo, self.service, self.protocol.as_deref(), None) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "spawning git failed");
                return text(StatusCode::INTERNAL_SERVER_ERROR, "could not start git");
            }
        };
        let service::RpcProcess { stdin, stdout, child } = proc;
        let pump = tokio::spawn(service::pump(Bytes::new(), reader, stdin));
        let sent = Arc::new(AtomicU64::new(0));
        let out = self.count_sent(stdout, sent.clone(), None);
        let (kind, state) = (self.kind(), self.state.clone());
        self.state.tasks.spawn(async move {
            let pumped = pump.await;
            let exit = child.finish().await;
            if let Ok(e) = &exit
                && !e.success()
            {
                tracing::warn!(kind, stderr = %e.stderr, "git exited with failure");
            }
            state.record_git_op(kind, matches!(&exit, Ok(e) if e.success()), &pumped, &received, &sent);
        });
        self.answer(out)
    }

    /// A push: the command list is read first (a malformed one is a clear 400 before git
    /// starts), then app records it and starts git (`App::receive_pack`); this side moves the
    /// bytes and hands git's exit back to app (`FinishPush`), which derives events and pipelines.
    async fn receive_pack(
        self,
        body: BodyStream,
        limit: u64,
        declared: Option<u64>,
        received: Arc<AtomicU64>,
    ) -> Response {
        let (guard, stopped) = SpaceGuard::new(self.state.app.clone(), self.project_id)
            .map_or((None, Stopped::default()), |(g, s)| (Some(g), s));
        let mut reader = StreamReader::new(Box::pin(limited(body, limit, received.clone(), guard)));
        let (prefix, request) = match read_commands(&mut reader).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let start =
            PushStart { project: &self.project, request: &request, declared, protocol: self.protocol.as_deref() };
        let push = match self.state.app.receive_pack(&self.who, start).await {
            Ok(p) => p,
            Err(PushNotStarted::Refused(refused)) => return refuse_push(&request, &refused, reader).await,
            Err(PushNotStarted::Denied(e)) => return denied(e, self.project_id),
            Err(PushNotStarted::Git(_)) => return text(StatusCode::INTERNAL_SERVER_ERROR, "could not start git"),
        };
        let ReceivingPush { stdin, stdout, report, finish, .. } = push;
        let pump = tokio::spawn(service::pump(prefix, reader, stdin));
        let sent = Arc::new(AtomicU64::new(0));
        let stopped_out = stopped.clone();
        let out = self
            .count_sent(stdout, sent.clone(), report)
            // A push the space guard stopped gets the server's report instead of git's.
            .try_filter(move |_| std::future::ready(stopped_out.message().is_none()))
            .chain(futures_util::stream::once(async move {
                let report =
                    stopped.message().and_then(|m| pktline::refusal_report(&request, "no space left on device", m));
                Ok(Bytes::from(report.unwrap_or_default()))
            }))
            .try_filter(|b| std::future::ready(!b.is_empty()));
        let (kind, state) = (self.kind(), self.state.clone());
        // Runs after git exits (the response stream ends then); tracked so that graceful
        // shutdown waits for push recording.
        self.state.tasks.spawn(async move {
            let pumped = pump.await;
            let exit = finish.finish(&state.app).await;
            state.record_git_op(kind, exit.as_ref().is_some_and(|e| e.success()), &pumped, &received, &sent);
        });
        self.answer(out)
    }

    /// git's output as the response body, counted (and shown to the push's report watcher).
    fn count_sent(
        &self,
        stdout: tokio::process::ChildStdout,
        sent: Arc<AtomicU64>,
        report: Option<Feeder>,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        // 64 KiB reads: the default 4 KiB would cut a large pack into tens of thousands of chunks.
        ReaderStream::with_capacity(stdout, 64 * 1024).inspect_ok(move |b| {
            sent.fetch_add(b.len() as u64, Ordering::Relaxed);
            if let Some(f) = &report {
                f.feed(b);
            }
        })
    }

    fn answer(&self, out: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> Response {
        let ct = self.service.result_content_type();
        ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(out)).into_response()
    }
}

type BodyStream = axum::body::BodyDataStream;

impl AppState {
    /// Metrics of one finished git exchange.
    fn record_git_op(
        &self,
        kind: &'static str,
        ok: bool,
        pumped: &Result<io::Result<u64>, tokio::task::JoinError>,
        received: &AtomicU64,
        sent: &AtomicU64,
    ) {
        if let Ok(Err(e)) = pumped {
            tracing::info!(error = %e, kind, "request body ended early");
        }
        self.metrics.git_op(kind, ok);
        let labels = crate::metrics::GitKindLabels { kind };
        self.metrics.git_bytes_received.get_or_create(&labels).inc_by(received.load(Ordering::Relaxed));
        self.metrics.git_bytes_sent.get_or_create(&labels).inc_by(sent.load(Ordering::Relaxed));
    }
}

/// A push the pusher may not make, or whose policy could not be read.
fn denied(e: AppError, project_id: ProjectId) -> Response {
    match e {
        AppError::Forbidden(msg) => text(StatusCode::FORBIDDEN, msg.unwrap_or_else(|| "forbidden".into())),
        AppError::Invalid(_, msg) => text(StatusCode::BAD_REQUEST, msg),
        e => {
            tracing::error!(error = %e, project_id = project_id.get(), "push policy unavailable");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// Reads the head of a receive-pack body until its command list is complete; a malformed or
/// oversized one is answered here, before git starts.
async fn read_commands<R: tokio::io::AsyncRead + Unpin>(reader: &mut R) -> Result<(Bytes, ReceiveRequest), Response> {
    match autogit_git::read_receive_request(reader).await {
        Ok((req, prefix)) => Ok((prefix, req)),
        Err(autogit_git::Error::Io(e)) if e.kind() == io::ErrorKind::FileTooLarge => {
            Err(text(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()))
        }
        Err(e) if e.is_client_error() => {
            Err(text(StatusCode::BAD_REQUEST, format!("malformed receive-pack request: {e}")))
        }
        Err(e) => Err(text(StatusCode::BAD_REQUEST, format!("could not read the request body: {e}"))),
    }
}

/// Counts request bytes and fails the stream once they pass `limit` (0 = none).
fn limited(
    body: impl Stream<Item = Result<Bytes, axum::Error>> + Send + 'static,
    limit: u64,
    counter: Arc<AtomicU64>,
    mut space: Option<SpaceGuard>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    body.map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        let total = counter.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        if limit > 0 && total > limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("request body exceeds the limit of {limit} bytes"),
            ));
        }
        // Read and dropped (the reader skips empty chunks): see `push_space_guard`.
        if space.as_mut().is_some_and(|g| g.stops_at(total)) {
            return Ok(Bytes::new());
        }
        Ok(chunk)
    })
}

/// Answers a push refused before git started, in git's own report format (so the client shows
/// the reason against every ref), after reading the rest of the body: a client still sending
/// would otherwise see a reset connection instead of the answer.
async fn refuse_push<R: tokio::io::AsyncRead + Unpin>(
    req: &ReceiveRequest,
    refused: &PushRefused,
    mut rest: R,
) -> Response {
    let message = refused.message();
    let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    match pktline::refusal_report(req, refused.reason(), &message) {
        Some(body) => (
            [(header::CONTENT_TYPE, Service::ReceivePack.result_content_type()), (header::CACHE_CONTROL, "no-cache")],
            body,
        )
            .into_response(),
        None => {
            let status = match refused {
                PushRefused::NoSpace { .. } => StatusCode::INSUFFICIENT_STORAGE,
                PushRefused::Unrecorded(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            text(status, message)
        }
    }
}
