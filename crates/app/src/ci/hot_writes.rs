//! The claim of a job and a runner's success report, written in batches with the others that
//! arrive meanwhile ([`super::batch`]; ADR 0012, step 4).

use super::batch::Batcher;
use crate::{App, Result};
use autogit_core::ci::JobStatus;
use autogit_store::{Claimed, Job, JobClaim, StoreError, TokenReport};
use chrono::{DateTime, Utc};
use std::future::Future;

/// What a batch answers each claim.
pub(crate) type ClaimAnswer = std::result::Result<Option<Claimed>, StoreError>;
/// What a batch answers each success report.
pub(crate) type ReportAnswer = std::result::Result<Option<Job>, StoreError>;

/// Writes `request` in a batch with `write`, which answers every request of a batch in order.
/// When a batch's statement fails (one claim's token conflict undoes all of it), each of its
/// requests is written again on its own, so that only the one at fault fails.
async fn write_batched<Q, T, W, Fut>(
    batcher: &Batcher<Q, std::result::Result<Option<T>, StoreError>>,
    request: Q,
    write: W,
) -> Result<Option<T>>
where
    Q: Clone + Send + 'static,
    T: Send + 'static,
    W: Fn(Vec<Q>) -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<Vec<Option<T>>, StoreError>> + Send + 'static,
{
    let answer = batcher
        .submit(request, move |requests| async move {
            match write(requests.clone()).await {
                Ok(answers) => answers.into_iter().map(Ok).collect(),
                Err(_) => {
                    let mut out = Vec::with_capacity(requests.len());
                    for r in requests {
                        out.push(write(vec![r]).await.map(|mut a| a.pop().flatten()));
                    }
                    out
                }
            }
        })
        .await;
    Ok(answer.unwrap_or_else(|| Err(StoreError::Unavailable("the batch that held this write failed".into())))?)
}

impl App {
    /// [`autogit_store::JobStore::assign_job`] in a batch; `None` also for a job that is gone.
    pub(crate) async fn claim_job(&self, claim: JobClaim, now: DateTime<Utc>) -> Result<Option<Claimed>> {
        let store = self.store.clone();
        write_batched(&self.ci.claims, claim, move |claims| {
            let store = store.clone();
            async move { store.assign_jobs(&claims, now).await }
        })
        .await
    }

    /// A runner's `success` report of job `report.job_id` with its token, in a batch: the job as
    /// left, or `None` when it does not hold that token (any more).
    pub(crate) async fn report_success(&self, report: TokenReport, now: DateTime<Utc>) -> Result<Option<Job>> {
        let store = self.store.clone();
        write_batched(&self.ci.reports, report, move |reports| {
            let store = store.clone();
            async move { store.finish_jobs_with_tokens(&reports, JobStatus::Success, now).await }
        })
        .await
    }
}
