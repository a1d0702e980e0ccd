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
use crate::push_space_guard::{SpaceGuard, Stopped};
use crate::push_watch;
use crate::state::AppState;
use autogit_app::store::Project;
use autogit_app::{AppError, GitDenied, Principal, PushRefused};
use autogit_core::repo_path::{GitEndpoint, GitPath, PathError, parse_git_path};
use autogit_git::PushOutcome;
use autogit_git::hooks::ReceiveHooks;
use autogit_git::pktline::{self, ReceiveRequest, RefUpdate};
use autogit_git::service::{self, Service};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt, TryStreamExt};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
        && let Err(refused) = s.app.check_push_space(None)
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
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Tokens or an account password: git over HTTP is where passwords are accepted.
async fn authenticate(s: &AppState, headers: &HeaderMap, peer: IpAddr) -> Result<Principal, Response> {
    let creds = credentials(headers).map_err(|e| text(StatusCode::BAD_REQUEST, e))?;
    match s.app.authenticate_git(creds, peer).await {
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
    project_id: i64,
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
                tracing::error!(error = %e, project_id = self.project_id, "advertisement failed");
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
        let (guard, stopped) = match self.service {
            Service::ReceivePack => SpaceGuard::new(self.state.app.clone(), self.project_id),
            Service::UploadPack => None,
        }
        .map_or((None, Stopped::default()), |(g, s)| (Some(g), s));
        let body = limited(req.into_body().into_data_stream(), limit, received.clone(), guard);
        let mut reader = StreamReader::new(Box::pin(body));

        // For a push, read the command list first: it is needed to record what the push changed,
        // and a malformed one is answered with a clear 400 before git is even started.
        let (prefix, request) = match self.service {
            Service::ReceivePack => match read_commands(&mut reader).await {
                Ok(x) => x,
                Err(r) => return r,
            },
            Service::UploadPack => (Bytes::new(), ReceiveRequest::default()),
        };
        // Protected branches are enforced by the server's pre-receive hook (or no hook at all).
        let hooks = match self.service {
            Service::ReceivePack => {
                match receive_hooks(&self.state, &self.who, &self.project, &request.updates).await {
                    Ok(h) => Some(h),
                    Err(r) => return r,
                }
            }
            Service::UploadPack => None,
        };
        // A push is recorded before git may apply any of it (see autogit_app's push_record).
        let recorded = if request.updates.is_empty() {
            None
        } else {
            let pusher = self.who.actor.user_id();
            match self.state.app.begin_push(self.project_id, pusher, &request.updates, declared).await {
                Ok(r) => Some(r),
                Err(refused) => return refuse_push(&request, &refused, reader).await,
            }
        };
        let spawned = match &recorded {
            Some(r) => service::spawn_receive_pack(&self.repo, self.protocol.as_deref(), r.identity(), hooks.as_ref()),
            None => service::spawn_rpc_with(&self.repo, self.service, self.protocol.as_deref(), hooks.as_ref()),
        };
        let proc = match spawned {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "spawning git failed");
                if let Some(r) = recorded {
                    self.state.app.finish_push(r, &PushOutcome::default()).await;
                }
                return text(StatusCode::INTERNAL_SERVER_ERROR, "could not start git");
            }
        };
        let service::RpcProcess { stdin, stdout, child } = proc;
        let pump = tokio::spawn(service::pump(prefix, reader, stdin));

        let sent = Arc::new(AtomicU64::new(0));
        let sent_in_stream = sent.clone();
        let side_band = request.has_capability("side-band-64k") || request.has_capability("side-band");
        let (watch, feeder) = recorded.as_ref().map(|_| push_watch::watch(side_band)).unzip();
        // 64 KiB reads: the default 4 KiB would cut a large pack into tens of thousands of chunks.
        let stopped_out = stopped.clone();
        let out = ReaderStream::with_capacity(stdout, 64 * 1024)
            .inspect_ok(move |b| {
                sent_in_stream.fetch_add(b.len() as u64, Ordering::Relaxed);
                if let Some(f) = &feeder {
                    f.feed(b);
                }
            })
            // A push the space guard stopped gets the server's report instead of git's.
            .try_filter(move |_| std::future::ready(stopped_out.message().is_none()))
            .chain(futures_util::stream::once({
                let request = request.clone();
                async move {
                    let report =
                        stopped.message().and_then(|m| pktline::refusal_report(&request, "no space left on device", m));
                    Ok(Bytes::from(report.unwrap_or_default()))
                }
            }))
            .try_filter(|b| std::future::ready(!b.is_empty()));
        let kind = self.kind();
        let state = self.state.clone();
        let tasks = self.state.tasks.clone();
        let ct = self.service.result_content_type();
        // Runs after git exits (the response stream ends then); tracked so that graceful
        // shutdown waits for push recording.
        tasks.spawn(async move {
            let pumped = pump.await;
            let exit = child.finish().await;
            let ok = matches!(&exit, Ok(e) if e.success());
            if let Ok(Err(e)) = &pumped {
                tracing::info!(error = %e, kind, "request body ended early");
            }
            if let Ok(e) = &exit
                && !e.success()
                && recorded.is_none()
            {
                tracing::warn!(kind, stderr = %e.stderr, "git exited with failure");
            }
            state.metrics.git_op(kind, ok);
            let labels = crate::metrics::GitKindLabels { kind };
            state.metrics.git_bytes_received.get_or_create(&labels).inc_by(received.load(Ordering::Relaxed));
            state.metrics.git_bytes_sent.get_or_create(&labels).inc_by(sent.load(Ordering::Relaxed));
            if let (Some(r), Some(w)) = (recorded, watch) {
                let outcome = w.outcome(exit.ok()).await;
                state.app.finish_push(r, &outcome).await;
            }
        });
        ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(out)).into_response()
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

/// The hooks of one push (see `App::receive_hooks`); a refusal is answered before git starts.
async fn receive_hooks(
    s: &AppState,
    who: &Principal,
    project: &Project,
    updates: &[RefUpdate],
) -> Result<ReceiveHooks, Response> {
    s.app.receive_hooks(who, project, updates).await.map_err(|e| match e {
        AppError::Forbidden(msg) => text(StatusCode::FORBIDDEN, msg.unwrap_or_else(|| "forbidden".into())),
        AppError::Invalid(_, msg) => text(StatusCode::BAD_REQUEST, msg),
        e => {
            tracing::error!(error = %e, project_id = project.id, "push policy unavailable");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    })
}
