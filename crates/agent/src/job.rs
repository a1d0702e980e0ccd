//! One job on one slot: confirm it, run it with the executor while its trace is shipped and its
//! lease kept alive, then keep its final state on disk and deliver it ([`crate::report`]).
//!
//! An abort ([`Shutdown::abort`]) stops the executor as a cancel does (process groups killed,
//! containers removed) and the job is reported failed with `runner_system_failure`, as
//! gitlab-runner reports a job it was stopped in the middle of. Its abort state is on disk from
//! the moment of the abort, so a runner that must exit at once still reports it after a restart.

use crate::client::{Client, JobState, Patched};
use crate::pending::{PendingState, PendingStore};
use crate::report::{self, Delivery};
use crate::shell::{Outcome, Stages};
use crate::shutdown::Shutdown;
use crate::trace::TraceBuffer;
use crate::worker::{Executor, TRACE_INTERVAL, WorkerConfig};
use crate::{artifacts, cache};
use autogit_protocol::*;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Attempts at delivering a final state before the job's slot moves on (the state stays on
/// disk and is sent again every `pending_retry_seconds`).
pub const FINAL_UPDATE_ATTEMPTS: u32 = 3;
/// The longest one call on the abort path may take (or the request timeout, when shorter).
pub const ABORT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a job needs of its worker.
pub(crate) struct Slot<'a> {
    pub client: &'a Client,
    pub cfg: &'a WorkerConfig,
    pub executor: &'a Executor,
    pub shutdown: &'a Shutdown,
    pub kept: Option<&'a PendingStore>,
}

/// Caches and artifacts around the script, in gitlab-runner's order: restore the cache, then
/// download the dependencies' artifacts; after after_script, save the cache, then upload.
pub(crate) struct JobStages<'a> {
    client: &'a Client,
    job: &'a JobResponse,
    cache_dir: &'a Path,
}

impl Stages for JobStages<'_> {
    async fn before_script(&self, dir: &Path, out: &mpsc::Sender<Vec<u8>>) -> Result<(), Outcome> {
        cache::restore(self.job, self.cache_dir, dir, out).await;
        artifacts::download_dependencies(self.client, self.job, dir, out).await
    }

    async fn after_script(&self, dir: &Path, outcome: Outcome, out: &mpsc::Sender<Vec<u8>>) -> Outcome {
        if outcome == Outcome::Canceled {
            return outcome;
        }
        cache::save(self.job, self.cache_dir, dir, &outcome, out).await;
        artifacts::upload(self.client, self.job, dir, outcome, out).await
    }
}

pub(crate) fn update(token: &str, state: ReportedState) -> UpdateJobRequest {
    UpdateJobRequest {
        token: token.to_string(),
        state,
        failure_reason: None,
        exit_code: None,
        checksum: None,
        output: None,
        info: RunnerInfo::default(),
        gpu_usage: None,
    }
}

/// The trace line of a job the runner stopped (gitlab-runner's words, and why).
pub fn abort_line(why: &str) -> String {
    format!("\x1b[31;1mERROR: Job failed (system failure): aborted: {why} (the runner was stopped)\x1b[0;m\n")
}

/// `fut`, unless an abort comes first (`None`).
async fn unless_aborted<T>(shutdown: &Shutdown, fut: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        v = fut => Some(v),
        _ = shutdown.aborting() => None,
    }
}

pub(crate) async fn run_job(slot: &Slot<'_>, mut job: JobResponse) {
    let (client, shutdown, id) = (slot.client, slot.shutdown, job.id);
    // A runner that trusts a CA of its own for the server hands it to the job, as gitlab-runner
    // does: the source fetch trusts it, and scripts find it in CI_SERVER_TLS_CA_FILE.
    if let Some(ca) = &slot.cfg.tls.ca_file {
        match tokio::fs::read_to_string(ca).await {
            Ok(pem) => job.variables.push(autogit_protocol::JobVariable {
                key: crate::sources::CA_VARIABLE.into(),
                value: pem,
                public: true,
                file: true,
                masked: false,
                raw: true,
            }),
            Err(e) => tracing::warn!(job = id, file = %ca.display(), error = %e, "cannot read tls-ca-file for the job"),
        }
    }
    // Two-phase commit: confirm before running; a refusal means the job is not ours any more.
    match unless_aborted(shutdown, client.update_job(id, &update(&job.token, ReportedState::Running))).await {
        Some(Ok(JobState::Abort)) => return,
        Some(Err(e)) => tracing::warn!(job = id, error = %e, "could not confirm the job; running it anyway"),
        Some(Ok(_)) | None => {}
    }
    shutdown.job_started(id);
    let mut secrets: Vec<String> = job.variables.iter().filter(|v| v.masked).map(|v| v.value.clone()).collect();
    secrets.push(job.token.clone());
    let mut trace = TraceBuffer::new(secrets, slot.cfg.output_limit);
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    let stages = JobStages { client, job: &job, cache_dir: &slot.cfg.cache_dir };
    let run = slot.executor.run(&job, tx, cancel.clone(), &stages);
    tokio::pin!(run);
    let mut shipped = 0u64;
    let mut tick = tokio::time::interval(TRACE_INTERVAL);
    let mut last_contact = tokio::time::Instant::now();
    // Telemetry of the NVIDIA GPUs the coordinator gave the job (by UUID), when NVML loads.
    let gpu_uuids: Vec<String> = job
        .variables
        .iter()
        .rev()
        .find(|v| v.key == "AUTOGIT_GPU_KEYS")
        .map(|v| v.value.split(',').filter(|k| k.starts_with("GPU-")).map(String::from).collect())
        .unwrap_or_default();
    let sampler = if gpu_uuids.is_empty() {
        None
    } else {
        tokio::task::spawn_blocking(autogit_gpu::telemetry::Sampler::open).await.ok().flatten()
    };
    let mut usage = autogit_gpu::telemetry::UsageAccumulator::default();
    // Who stopped the job: the coordinator (cancel; nothing to report) or this runner (abort).
    let (mut canceled, mut aborted) = (false, false);
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            Some(chunk) = rx.recv() => { trace.push(&chunk); }
            _ = shutdown.aborting(), if !aborted => {
                aborted = true;
                cancel.cancel();
                while let Ok(chunk) = rx.try_recv() {
                    trace.push(&chunk);
                }
                // Kept before the executor has even stopped: a runner told to exit at once
                // still has it to send after a restart.
                let line = abort_line(&shutdown.why());
                let mut full = trace.sent().to_vec();
                full.extend_from_slice(line.as_bytes());
                let state = final_state(&job, aborted_outcome(), &full, shipped, None);
                keep(slot, &state);
            }
            _ = tick.tick(), if !aborted => {
                if let Some(sampler) = &sampler {
                    usage.add(&sampler.sample(&gpu_uuids));
                }
                let state = unless_aborted(shutdown, async {
                    match ship(client, &job, &trace, &mut shipped).await {
                        Some(state) => Some(state),
                        // Nothing to send: still tell the coordinator the job is alive, or its
                        // lease runs out (gitlab-runner's `touchJob`).
                        None if last_contact.elapsed() >= client.update_interval() => {
                            client.update_job(id, &update(&job.token, ReportedState::Running)).await.ok()
                        }
                        None => None,
                    }
                })
                .await
                .flatten();
                if let Some(state) = state {
                    last_contact = tokio::time::Instant::now();
                    if state != JobState::Continue {
                        canceled = true;
                        cancel.cancel();
                    }
                }
            }
        }
    };
    while let Ok(chunk) = rx.try_recv() {
        trace.push(&chunk);
    }
    let outcome = match outcome {
        Outcome::Canceled if aborted && !canceled => {
            trace.push(abort_line(&shutdown.why()).as_bytes());
            aborted_outcome()
        }
        // Canceled by the coordinator: it knows, and the token no longer works.
        Outcome::Canceled => {
            forget(slot, id);
            return;
        }
        other => other,
    };
    trace.finish();
    let gpu_usage = (!usage.is_empty()).then(|| serde_json::to_value(usage.finish()).ok()).flatten();
    let state = final_state(&job, outcome, trace.sent(), shipped, gpu_usage);
    keep(slot, &state);
    let timeout = |s: &Shutdown| {
        if s.is_aborting() { client.request_timeout().min(ABORT_REQUEST_TIMEOUT) } else { client.request_timeout() }
    };
    for attempt in 1..=FINAL_UPDATE_ATTEMPTS {
        let delivery = report::deliver(client, &state, timeout(shutdown)).await;
        if let Delivery::Undelivered(why) = &delivery {
            let last = attempt == FINAL_UPDATE_ATTEMPTS || shutdown.is_aborting();
            tracing::warn!(job = id, attempt, why, kept = slot.kept.is_some(), "final state not delivered");
            if !last
                && unless_aborted(shutdown, tokio::time::sleep(Duration::from_secs(attempt.into()))).await.is_some()
            {
                continue;
            }
            if let Some(store) = slot.kept {
                tracing::warn!(job = id, file = %store.path_of(id).display(), "final state kept; it is sent again later");
            }
            break;
        }
        report::settle(slot.kept, &state, &delivery);
        break;
    }
    shutdown.job_ended(id);
}

fn aborted_outcome() -> Outcome {
    Outcome::Failed { reason: FailureReason::RunnerSystemFailure, exit_code: None }
}

/// The final state of a job whose whole (masked) trace is `sent`, of which the coordinator
/// has the first `shipped` bytes.
fn final_state(
    job: &JobResponse,
    outcome: Outcome,
    sent: &[u8],
    shipped: u64,
    gpu_usage: Option<serde_json::Value>,
) -> PendingState {
    let mut report = match outcome {
        Outcome::Failed { reason, exit_code } => {
            UpdateJobRequest { failure_reason: Some(reason), exit_code, ..update(&job.token, ReportedState::Failed) }
        }
        _ => update(&job.token, ReportedState::Success),
    };
    report.gpu_usage = gpu_usage;
    let checksum = trace_checksum(sent);
    report.checksum = Some(checksum.clone());
    report.output = Some(TraceSummary { checksum: Some(checksum), bytesize: Some(sent.len() as u64) });
    let from = (shipped as usize).min(sent.len());
    PendingState::new(job.id, report, from as u64, sent[from..].to_vec())
}

/// Puts a final state on disk before it is sent (written ahead, replacing an earlier one).
fn keep(slot: &Slot<'_>, state: &PendingState) {
    if let Some(store) = slot.kept
        && let Err(e) = store.save(state)
    {
        // Still sent from memory; only a restart before delivery loses it.
        tracing::error!(job = state.job_id, dir = %store.dir().display(), error = %e, "could not keep the final state on disk");
    }
    slot.shutdown.job_persisted(state.job_id);
}

fn forget(slot: &Slot<'_>, id: i64) {
    if let Some(store) = slot.kept {
        let _ = store.remove(id);
    }
    slot.shutdown.job_ended(id);
}

/// Sends what the server does not have yet; follows a `416` to the server's offset. `None`
/// when there was nothing to send (or the server could not be reached).
async fn ship(client: &Client, job: &JobResponse, trace: &TraceBuffer, shipped: &mut u64) -> Option<JobState> {
    let sent = trace.sent();
    let mut answered = None;
    for _ in 0..3 {
        let from = (*shipped as usize).min(sent.len());
        if from == sent.len() {
            return answered;
        }
        match client.patch_trace(job.id, &job.token, *shipped, sent[from..].to_vec()).await {
            Ok(Patched::Accepted { state }) => {
                *shipped = sent.len() as u64;
                return Some(state);
            }
            Ok(Patched::Resend { offset, state }) => {
                *shipped = offset;
                if state != JobState::Continue {
                    return Some(state);
                }
                answered = Some(state);
            }
            Err(e) => {
                tracing::warn!(job = job.id, error = %e, "trace update failed");
                return answered;
            }
        }
    }
    answered
}
