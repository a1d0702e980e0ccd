//! A push is never acknowledged without its consequences. Every git transport (smart HTTP now,
//! SSH later) runs a push as:
//!
//! 1. [`System::begin_push`] before git starts: the free-space check, then the push record (the
//!    command list, the pusher, the time) written durably in the store. If it cannot be written
//!    the push is refused, so a client can never be told "ok" for a push the server does not know.
//! 2. git runs with the record's identity ([`RecordedPush::identity`]): every ref update it
//!    applies is logged in the ref's reflog under that identity.
//! 3. [`System::finish_push`] after git exits: which updates were applied is read back from the
//!    repository (`autogit_git::applied_by`), their push events are written, their pipelines
//!    created, and the record marked done. A push that applied nothing leaves nothing.
//!
//! After a crash, [`System::recover_pushes`] (at start-up, before serving) does step 3 for every
//! record that is not done. Exactly once holds because each step is one store transaction guarded
//! by the state it moves from (events with `received → recorded`, each pipeline with its update's
//! `pending → created`): a pass interrupted anywhere is finished by the next without repeating
//! what was committed. Done records are pruned after `PushSettings::record_retention`.

use crate::ci::PipelineRequest;
use crate::push_space::PushRefused;
use crate::{App, AppError, Result, System};
use autogit_core::{ProjectId, UserId};
use autogit_git::{PushIdentity, PushOutcome, RefUpdate};
use autogit_store::{NewPushRecord, Project, PushPipelineState, PushRecord, PushRecordState, PushUpdate, User};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Records that a finished push may still be settling; older ones are retried by maintenance.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// How often the request that carried a push tries to settle it before leaving it to recovery.
const LIVE_ATTEMPTS: u32 = 3;
/// Records read per page during recovery and maintenance.
const PAGE: i64 = 100;

/// The records whose push this process has begun and not yet finished with: their git may
/// still be applying ref updates, so maintenance must not read their outcome yet.
#[derive(Debug, Clone, Default)]
pub(crate) struct LivePushes(Arc<Mutex<HashSet<i64>>>);

impl LivePushes {
    fn hold(&self, record_id: i64) -> LivePush {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(record_id);
        LivePush { set: self.clone(), record_id }
    }

    fn contains(&self, record_id: i64) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).contains(&record_id)
    }
}

/// A record's place in [`LivePushes`], given up when its [`RecordedPush`] goes, on every path
/// (finished, or dropped with the task that ran its git, which dies with it).
#[derive(Debug)]
struct LivePush {
    set: LivePushes,
    record_id: i64,
}

impl Drop for LivePush {
    fn drop(&mut self) {
        self.set.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.record_id);
    }
}

/// A push whose record is written. Give git [`RecordedPush::identity`], then hand this to
/// [`System::finish_push`] once git has exited, whatever happened.
#[derive(Debug)]
pub struct RecordedPush {
    record_id: i64,
    project_id: ProjectId,
    _live: LivePush,
}

impl RecordedPush {
    /// The identity git must log this push's ref updates under.
    pub fn identity(&self) -> PushIdentity {
        PushIdentity::for_record(self.record_id)
    }

    pub fn record_id(&self) -> i64 {
        self.record_id
    }
}

/// What a recovery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Records turned into their events and pipelines.
    pub settled: usize,
    /// Records whose push applied nothing (removed).
    pub discarded: usize,
    /// Records left for later because something failed (logged).
    pub failed: usize,
}

enum Settled {
    Done,
    Discarded,
    /// Its pipelines could not all be decided; the record stays for a later pass.
    Pending,
}

impl App {
    async fn settle_push(&self, record_id: i64) -> Result<Settled> {
        match self.store.push_record(record_id).await? {
            Some(record) => self.settle(record).await,
            // Its project was deleted meanwhile.
            None => Ok(Settled::Discarded),
        }
    }

    /// Brings a record as far as it can go from whatever state it is in.
    async fn settle(&self, mut record: PushRecord) -> Result<Settled> {
        if record.state == PushRecordState::Received {
            let repo = self.repos.path_for(record.project_id);
            let updates: Vec<RefUpdate> = record
                .updates
                .iter()
                .map(|u| RefUpdate { old: u.old.clone(), new: u.new.clone(), name: u.ref_name.clone() })
                .collect();
            let flags = autogit_git::applied_by(&repo, PushIdentity::for_record(record.id), &updates).await?;
            let applied: Vec<i32> =
                record.updates.iter().zip(&flags).filter(|(_, yes)| **yes).map(|(u, _)| u.position).collect();
            if applied.is_empty() {
                self.store.discard_push_record(record.id).await?;
                return Ok(Settled::Discarded);
            }
            // `None`: another pass recorded it first; either way it is recorded now.
            self.store.record_push_events(record.id, &applied, self.clock.now()).await?;
            match self.store.push_record(record.id).await? {
                Some(r) => record = r,
                None => return Ok(Settled::Discarded),
            }
        }
        if record.state == PushRecordState::Recorded {
            // Before the pipelines, so that a pass that fails there has enqueued them already;
            // enqueueing again is a no-op (keyed by record and update).
            self.enqueue_push_hooks(&record).await?;
            self.pipelines_for_record(&record).await?;
            if !self.store.finish_push_record(record.id, self.clock.now()).await? {
                return Ok(Settled::Pending);
            }
        }
        Ok(Settled::Done)
    }

    /// Creates the pipeline of every applied branch or tag update still pending, and moves on the
    /// ones an interrupted pass created but may not have processed. Returns the first failure
    /// that leaves an update pending (the store or git failing), after trying the others.
    async fn pipelines_for_record(&self, record: &PushRecord) -> Result<()> {
        let Some(project) = self.store.project_by_id(record.project_id).await? else { return Ok(()) };
        let user = match record.pusher_id {
            Some(id) => self.store.user_by_id(id).await?,
            None => None,
        };
        let mut failed = None;
        for u in record.updates.iter().filter(|u| u.applied) {
            match (u.pipeline, u.pipeline_id) {
                (PushPipelineState::Created, Some(id)) => {
                    // Processing is idempotent; a pass that crashed after creating it may not have.
                    if let Err(e) = self.system().process_pipeline(id).await {
                        tracing::warn!(pipeline = id.get(), error = %e, "processing a recovered pipeline failed");
                    }
                }
                (PushPipelineState::Pending, _) => {
                    let r = self.push_pipeline(&project, user.as_ref(), record.id, u.position, u).await;
                    if let Err(e) = r {
                        tracing::warn!(project = project.id.get(), r#ref = %u.ref_name, error = %e, "pipeline creation failed");
                        failed.get_or_insert(e);
                    }
                }
                _ => {}
            }
        }
        failed.map_or(Ok(()), Err)
    }

    async fn push_pipeline(
        &self,
        project: &Project,
        user: Option<&User>,
        record_id: i64,
        position: i32,
        u: &autogit_store::PushRecordUpdate,
    ) -> Result<()> {
        let target = if let Some(b) = u.ref_name.strip_prefix("refs/heads/") {
            Some((b, false))
        } else {
            u.ref_name.strip_prefix("refs/tags/").map(|t| (t, true))
        };
        let deleted = u.new.bytes().all(|b| b == b'0');
        let Some((ref_name, tag)) = target.filter(|_| !deleted) else {
            self.store.skip_push_pipeline(record_id, position).await?;
            return Ok(());
        };
        let req = PipelineRequest {
            ref_name: ref_name.into(),
            tag,
            sha: u.new.clone(),
            before_sha: u.old.clone(),
            source: "push".into(),
            user: user.cloned(),
            variables: Vec::new(),
        };
        match self.create_pipeline_claiming(project, &req, Some((record_id, position))).await {
            Ok(Ok(Some(p))) => {
                tracing::info!(project = project.id.get(), pipeline = p.id.get(), r#ref = ref_name, status = %p.status, "pipeline created");
            }
            Ok(Ok(None)) => {
                tracing::debug!(project = project.id.get(), r#ref = ref_name, "pipeline made by an earlier pass")
            }
            Ok(Err(why)) => {
                tracing::debug!(project = project.id.get(), r#ref = ref_name, ?why, "no pipeline");
                self.store.skip_push_pipeline(record_id, position).await?;
            }
            // The store or git failed: leave it pending for the next pass.
            Err(e @ AppError::Internal(_)) => return Err(e),
            // Something about this commit will not change (it is missing, say): none will come.
            Err(e) => {
                tracing::warn!(project = project.id.get(), r#ref = ref_name, error = %e, "no pipeline for this push");
                self.store.skip_push_pipeline(record_id, position).await?;
            }
        }
        Ok(())
    }
}

impl System<'_> {
    /// Step 1: refuses the push when the repositories' filesystem is too full for `declared`
    /// bytes, else writes its record. Call before git starts; on `Err` answer the client with
    /// [`PushRefused::message`] and do not start git.
    pub async fn begin_push(
        &self,
        project_id: ProjectId,
        pusher: Option<i64>,
        updates: &[RefUpdate],
        declared: Option<u64>,
    ) -> std::result::Result<RecordedPush, PushRefused> {
        self.check_push_space(declared)?;
        let new = NewPushRecord {
            project_id,
            pusher_id: pusher.map(UserId::new),
            updates: updates
                .iter()
                .map(|u| PushUpdate { ref_name: u.name.clone(), old: u.old.clone(), new: u.new.clone() })
                .collect(),
        };
        match self.store.create_push_record(&new, self.clock.now()).await {
            Ok(record) => {
                Ok(RecordedPush { record_id: record.id, project_id, _live: self.live_pushes.hold(record.id) })
            }
            Err(e) => {
                tracing::error!(project_id = project_id.get(), error = %e, "push refused: its record could not be written");
                Err(PushRefused::Unrecorded(e.into()))
            }
        }
    }

    /// Step 3, after git has exited, with what the server saw of its run. Failures are
    /// logged; a record that cannot be settled now is left to maintenance or the next start-up.
    pub async fn finish_push(&self, push: RecordedPush, outcome: &PushOutcome) {
        self.log_push_outcome(push.project_id, outcome);
        self.settle_now(push).await;
    }

    /// Step 3 for a record whose updates the server applied itself (the API's ref writes), or
    /// did not: its applied updates become events and pipelines, the rest are discarded.
    pub async fn settle_now(&self, push: RecordedPush) {
        for attempt in 1..=LIVE_ATTEMPTS {
            match self.settle_push(push.record_id).await {
                Ok(Settled::Done | Settled::Discarded) => return,
                Ok(Settled::Pending) => {}
                Err(e) => tracing::warn!(record = push.record_id, attempt, error = %e, "settling a push failed"),
            }
            if attempt < LIVE_ATTEMPTS {
                tokio::time::sleep(Duration::from_secs(u64::from(attempt * attempt))).await;
            }
        }
        tracing::error!(
            record = push.record_id,
            project_id = push.project_id.get(),
            "push left unsettled; its events and pipelines follow at the next retry or start-up"
        );
    }

    /// Start-up: settles every record that is not done. Run it before serving, when no push is
    /// in flight (a record still `received` is then known to be finished with by git).
    pub async fn recover_pushes(&self) -> Result<Recovered> {
        let mut out = Recovered::default();
        let mut after = 0;
        loop {
            let page = self.store.unfinished_push_records(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for record in page {
                match self.settle(record).await {
                    Ok(Settled::Done) => out.settled += 1,
                    Ok(Settled::Discarded) => out.discarded += 1,
                    Ok(Settled::Pending) => out.failed += 1,
                    Err(e) => {
                        tracing::error!(error = %e, "recovering a push failed");
                        out.failed += 1;
                    }
                }
            }
        }
        if out != Recovered::default() {
            tracing::info!(?out, "pushes recovered");
        }
        Ok(out)
    }

    /// Periodic: prunes old done records, and retries the ones a store hiccup left unsettled:
    /// recorded ones whose pipelines are still undecided, and received ones whose events could
    /// not be written. A received record is retried only once this process no longer runs its
    /// push (before, its git may still be applying updates).
    pub async fn maintain_push_records(&self) -> Result<()> {
        let now = self.clock.now();
        let retention = chrono::Duration::from_std(self.push.record_retention).unwrap_or(chrono::Duration::MAX);
        let pruned = self.store.prune_push_records(now - retention).await?;
        if pruned > 0 {
            tracing::debug!(pruned, "pruned finished push records");
        }
        let stale = now - chrono::Duration::from_std(RETRY_AFTER).unwrap_or_default();
        let mut after = 0;
        loop {
            let page = self.store.unfinished_push_records(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let settleable = |r: &PushRecord| match r.state {
                PushRecordState::Recorded => true,
                PushRecordState::Received => !self.live_pushes.contains(r.id),
                _ => false,
            };
            for record in page.into_iter().filter(|r| r.created_at < stale && settleable(r)) {
                let id = record.id;
                if let Err(e) = self.settle(record).await {
                    tracing::warn!(record = id, error = %e, "retrying a push record failed");
                }
            }
        }
        Ok(())
    }
}
