//! Delivering a job's final state: the rest of its trace at the coordinator's offset, then the
//! final `PUT /jobs/:id`. What cannot be delivered stays in the [`PendingStore`] and is sent
//! again by [`resend_kept`] while the runner runs, and after it restarts.

use crate::client::{Client, Finished, Patched};
use crate::pending::{PendingState, PendingStore};
use crate::shutdown::Shutdown;
use std::time::Duration;

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The coordinator took the final state.
    Accepted,
    /// The coordinator no longer knows the job token (`403`/`404`): the job was failed when
    /// its lease ran out, was canceled, or had finished already.
    Gone { status: u16 },
    /// Refused for good (a `4xx` other than those): sending it again cannot help.
    Refused(String),
    /// Not delivered (unreachable, timed out, `5xx`): keep it and try again later.
    Undelivered(String),
}

impl Delivery {
    /// Whether the kept state has done its work and goes.
    pub fn is_final(&self) -> bool {
        !matches!(self, Delivery::Undelivered(_))
    }
}

/// Sends `state` once; every call is bounded by `timeout`.
pub async fn deliver(client: &Client, state: &PendingState, timeout: Duration) -> Delivery {
    match tokio::time::timeout(timeout, send_tail(client, state)).await {
        Err(_) => return Delivery::Undelivered(format!("the trace was not sent within {timeout:?}")),
        Ok(Err(d)) => return d,
        Ok(Ok(())) => {}
    }
    match tokio::time::timeout(timeout, client.finish_job(state.job_id, &state.update)).await {
        Err(_) => Delivery::Undelivered(format!("no answer within {timeout:?}")),
        Ok(Ok(Finished::Accepted)) => Delivery::Accepted,
        Ok(Ok(Finished::Gone { status })) => Delivery::Gone { status },
        Ok(Err(e)) if e.is_transient() => Delivery::Undelivered(error_chain(&e)),
        Ok(Err(e)) => Delivery::Refused(error_chain(&e)),
    }
}

/// The trace bytes from the coordinator's size on. A gap (the coordinator has less than the
/// tail's start) cannot be filled any more: the state is sent without the rest of the trace.
async fn send_tail(client: &Client, state: &PendingState) -> Result<(), Delivery> {
    let (base, tail) = (state.trace_offset, &state.trace_tail[..]);
    let end = base + tail.len() as u64;
    let mut at = base;
    for _ in 0..3 {
        if at >= end {
            return Ok(());
        }
        let from = (at - base) as usize;
        match client.patch_trace(state.job_id, &state.update.token, at, tail[from..].to_vec()).await {
            Ok(Patched::Accepted { state: crate::client::JobState::Abort }) => {
                // 403/404: the token is no longer valid.
                return Err(Delivery::Gone { status: 403 });
            }
            Ok(Patched::Accepted { .. }) => return Ok(()),
            Ok(Patched::Resend { offset, .. }) if offset >= base => at = offset,
            Ok(Patched::Resend { offset, .. }) => {
                tracing::warn!(
                    job = state.job_id,
                    coordinator_has = offset,
                    kept_from = base,
                    "part of the trace is lost; sending the final state without the rest of it"
                );
                return Ok(());
            }
            Err(e) if e.is_transient() => return Err(Delivery::Undelivered(error_chain(&e))),
            Err(e) => {
                tracing::warn!(job = state.job_id, error = %error_chain(&e), "the trace tail was refused");
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Acts on a delivery: the kept file goes once the state did its work; says what happened.
pub fn settle(store: Option<&PendingStore>, state: &PendingState, delivery: &Delivery) {
    let (job, final_state) = (state.job_id, &state.update.state);
    match delivery {
        Delivery::Accepted => tracing::debug!(job, state = ?final_state, "final state delivered"),
        Delivery::Gone { status } => tracing::warn!(
            job,
            status,
            state = ?final_state,
            kept_at = %state.kept_at,
            "the coordinator no longer knows this job (failed when its lease ran out, or canceled); its final state is dropped"
        ),
        Delivery::Refused(why) => {
            tracing::error!(job, state = ?final_state, why, "the coordinator refused the final state; it is dropped")
        }
        Delivery::Undelivered(_) => return,
    }
    if let Some(store) = store
        && let Err(e) = store.remove(job)
    {
        tracing::error!(job, file = %store.path_of(job).display(), error = %e, "could not remove a delivered job state");
    }
}

/// Sends the kept states now and then every `every`, until the runner drains. States of jobs
/// still running in this process are left to them.
pub async fn resend_kept(client: &Client, store: &PendingStore, shutdown: &Shutdown, every: Duration) {
    loop {
        let running = shutdown.running();
        for state in store.load_all().into_iter().filter(|s| !running.contains(&s.job_id)) {
            if shutdown.is_draining() {
                return;
            }
            let delivery = tokio::select! {
                d = deliver(client, &state, client.request_timeout()) => d,
                _ = shutdown.draining() => return,
            };
            match &delivery {
                Delivery::Undelivered(why) => {
                    tracing::warn!(job = state.job_id, why, kept_at = %state.kept_at, retry_in = ?every, "a kept final state is still not delivered")
                }
                Delivery::Accepted => {
                    tracing::info!(job = state.job_id, state = ?state.update.state, kept_at = %state.kept_at, "kept final state delivered")
                }
                _ => {}
            }
            settle(Some(store), &state, &delivery);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.draining() => return,
        }
    }
}

/// An error with its causes (`connection refused` sits a few sources down in reqwest's).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use autogit_protocol::ReportedState;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn kept(tail: &[u8]) -> PendingState {
        let update = crate::job::update("glcbt-t", ReportedState::Success);
        PendingState::new(9, update, 7, tail.to_vec())
    }

    /// A coordinator that answers each connection with the next canned response (`None`:
    /// read the request and never answer) and returns the requests it read.
    async fn coordinator(answers: Vec<Option<&'static str>>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut held = Vec::new();
            for answer in answers {
                let (mut s, _) = listener.accept().await.expect("accept");
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Headers and the (small) body arrive together or shortly after.
                while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                seen.push(String::from_utf8_lossy(&got).to_string());
                match answer {
                    Some(head) => {
                        let r = format!("HTTP/1.1 {head}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
                        s.write_all(r.as_bytes()).await.expect("write");
                    }
                    None => held.push(s),
                }
            }
            if !held.is_empty() {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            seen
        });
        (url, server)
    }

    #[tokio::test]
    async fn the_tail_follows_the_coordinators_offset_then_the_state_is_taken() {
        let (url, server) =
            coordinator(vec![Some("416 Range Not Satisfiable\r\nRange: 0-10"), Some("202 Accepted"), Some("200 OK")])
                .await;
        let client = Client::new(&url).expect("client");
        assert_eq!(deliver(&client, &kept(b"abcdefghijkl"), Duration::from_secs(5)).await, Delivery::Accepted);
        let seen = server.await.expect("server");
        assert!(seen[0].starts_with("PATCH /api/v4/jobs/9/trace ") && seen[0].contains("7-18"), "{}", seen[0]);
        assert!(
            seen[1].contains("10-18") && seen[1].ends_with("defghijkl"),
            "from the coordinator's size: {}",
            seen[1]
        );
        assert!(seen[2].starts_with("PUT /api/v4/jobs/9 ") && seen[2].contains("\"state\":\"success\""), "{}", seen[2]);
    }

    #[tokio::test]
    async fn what_each_answer_means() {
        let client = |url: &str| Client::new(url).expect("client");
        for (answer, want) in
            [("403 Forbidden", Delivery::Gone { status: 403 }), ("404 Not Found", Delivery::Gone { status: 404 })]
        {
            let (url, _server) = coordinator(vec![Some(answer)]).await;
            assert_eq!(deliver(&client(&url), &kept(b""), Duration::from_secs(5)).await, want);
        }
        for (answer, is_final) in [
            ("500 Internal Server Error", false),
            ("502 Bad Gateway", false),
            ("202 Accepted", false),
            ("400 Bad Request", true),
        ] {
            let (url, _server) = coordinator(vec![Some(answer)]).await;
            let d = deliver(&client(&url), &kept(b""), Duration::from_secs(5)).await;
            assert_eq!(d.is_final(), is_final, "{answer}: {d:?}");
        }
        // A trace patch refused with 403: the job is gone; the state is not sent.
        let (url, server) = coordinator(vec![Some("403 Forbidden")]).await;
        assert!(matches!(deliver(&client(&url), &kept(b"x"), Duration::from_secs(5)).await, Delivery::Gone { .. }));
        assert_eq!(server.await.expect("server").len(), 1);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_or_is_gone_is_bounded() {
        let (url, _server) = coordinator(vec![None]).await;
        let started = std::time::Instant::now();
        let d = deliver(&Client::new(&url).expect("client"), &kept(b""), Duration::from_millis(300)).await;
        assert!(matches!(d, Delivery::Undelivered(_)), "{d:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
        let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
        let d = deliver(&Client::new(&format!("http://{port}")).expect("client"), &kept(b"t"), Duration::from_secs(5))
            .await;
        assert!(matches!(&d, Delivery::Undelivered(why) if why.contains("onnection refused")), "{d:?}");
    }

    #[tokio::test]
    async fn kept_states_are_sent_and_removed_or_kept_and_the_loop_ends_on_drain() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = PendingStore::new(tmp.path().join("p"));
        let (mut delivered, mut unreachable) = (kept(b""), kept(b""));
        (delivered.job_id, unreachable.job_id) = (1, 2);
        store.save(&delivered).expect("save");
        store.save(&unreachable).expect("save");
        let (url, server) = coordinator(vec![Some("200 OK"), Some("503 Service Unavailable")]).await;
        let client = Client::new(&url).expect("client");
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let looped = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            stop.drain();
        });
        tokio::time::timeout(Duration::from_secs(5), resend_kept(&client, &store, &shutdown, Duration::from_secs(60)))
            .await
            .expect("a drain ends the loop");
        looped.await.expect("drain");
        assert_eq!(server.await.expect("server").len(), 2);
        assert_eq!(store.load_all().iter().map(|s| s.job_id).collect::<Vec<_>>(), [2], "the undelivered one stays");
    }
}
