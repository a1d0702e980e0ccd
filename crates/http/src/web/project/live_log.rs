//! `/-/jobs/<id>/trace_stream`: a running job's log as server-sent events.
//!
//! Each event `items` carries the log items (lines, section starts and ends) completed since
//! the last one, already escaped HTML, with the event id set to the byte offset just after the
//! last whole line sent. A browser that reconnects sends that id back (`Last-Event-ID`), and the
//! stream goes on from there: the renderer's state at that offset (colours, open sections) is
//! rebuilt by reading the bytes before it, so nothing is sent twice or lost. `end` says the job
//! finished, with its status. Appends wake the stream at once (the app's trace notifications);
//! a tick every second catches what a notification cannot say (a job that finished, the server
//! stopping: the stream then ends, and the browser reconnects to the next server).

use super::{Params, Proj};
use crate::state::AppState;
use crate::web::Page;
use autogit_app::Principal;
use autogit_core::JobId;
use autogit_render::log::{LogItem, LogRenderer};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;

/// Bytes read from the log per step.
const STEP: usize = 256 << 10;
/// The longest prefix read again to rebuild the renderer's state at a resumed offset; beyond
/// it the stream resumes without colours or sections carried over.
const MAX_REBUILD: u64 = 16 << 20;
/// How often a quiet stream looks at the job's status.
const TICK: Duration = Duration::from_secs(1);

struct Follow {
    s: AppState,
    who: Principal,
    project_ref: String,
    job: JobId,
    offset: u64,
    renderer: LogRenderer,
    updates: broadcast::Receiver<JobId>,
    done: bool,
}

pub(super) async fn stream(s: &AppState, p: &Proj, id: JobId, q: &Params, headers: &HeaderMap) -> Response {
    let project_ref = p.project.id.to_string();
    // Subscribe before the first read, so an append between the two is not missed.
    let updates = s.app.system().trace_updates();
    if let Err(e) = s.app.get_job(&p.who, &project_ref, id).await {
        return Page::error(e).into_response();
    }
    let resumed = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let start = resumed.or_else(|| q.get("offset").and_then(|v| v.parse().ok())).unwrap_or(0);
    let mut renderer = LogRenderer::new();
    if start > 0 && start <= MAX_REBUILD {
        let mut at = 0;
        while at < start {
            match s.app.job_trace_part(&p.who, &project_ref, id, at, STEP.min((start - at) as usize)).await {
                Ok((_, bytes)) if !bytes.is_empty() => {
                    at += bytes.len() as u64;
                    let _ = renderer.push(&bytes);
                }
                _ => break,
            }
        }
    }
    let follow = Follow {
        s: s.clone(),
        who: p.who.clone(),
        project_ref,
        job: id,
        offset: start,
        renderer,
        updates,
        done: false,
    };
    let mut r = Sse::new(events(follow)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    let h = r.headers_mut();
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    // Proxies such as nginx buffer answers unless told not to.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

fn events(follow: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(follow, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            if f.s.app.system().stopping() {
                return None;
            }
            let (job, bytes) = match f.s.app.job_trace_part(&f.who, &f.project_ref, f.job, f.offset, STEP).await {
                Ok(x) => x,
                // The job or the access went away: the stream ends.
                Err(_) => return None,
            };
            f.offset += bytes.len() as u64;
            let mut items = f.renderer.push(&bytes);
            let finished = job.status.is_finished() && f.offset >= u64::try_from(job.trace_size).unwrap_or(0);
            if finished {
                items.extend(f.renderer.finish());
            }
            if !items.is_empty() {
                let event =
                    Event::default().event("items").id(f.renderer.complete_offset().to_string()).data(encode(&items));
                if finished {
                    f.done = true;
                    let end = Event::default().event("end").data(job.status.as_str());
                    let both = stream::iter(vec![Ok(event), Ok(end)]);
                    return Some((both, f));
                }
                return Some((stream::iter(vec![Ok(event)]), f));
            }
            if finished {
                f.done = true;
                return Some((stream::iter(vec![Ok(Event::default().event("end").data(job.status.as_str()))]), f));
            }
            if !bytes.is_empty() {
                continue;
            }
            wait(&mut f).await;
        }
    })
    .flatten()
}

/// Until this job's log grows, or a tick passes.
async fn wait(f: &mut Follow) {
    let deadline = tokio::time::sleep(TICK);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            got = f.updates.recv() => match got {
                Ok(id) if id == f.job => return,
                Ok(_) => {}
                // Missed notifications: read the log again.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => { deadline.as_mut().await; return; }
            },
        }
    }
}

/// Items as the page's script reads them: `["l", html]`, `["s", name, header, collapsed, at]`,
/// `["e", name, at]`.
fn encode(items: &[LogItem]) -> String {
    let list: Vec<serde_json::Value> = items
        .iter()
        .map(|i| match i {
            LogItem::Line(html) => serde_json::json!(["l", html]),
            LogItem::SectionStart { name, header, collapsed, at } => {
                serde_json::json!(["s", name, header, collapsed, at])
            }
            LogItem::SectionEnd { name, at } => serde_json::json!(["e", name, at]),
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}
