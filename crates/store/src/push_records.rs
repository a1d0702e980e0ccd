//! The push outbox: a durable record of the ref updates a push asks for, written before git may
//! apply any of them, and turned into push events and pipelines exactly once — by the request
//! that carried the push, or by the start-up recovery after a crash.
//!
//! A record moves `Received` → `Recorded` → `Done`. Each step that has consequences is one
//! transaction guarded by the state it starts from, so a second pass over the same record (a
//! recovery after a crash in the middle of the first) finds the work done and writes nothing:
//! - `record_push_events`: `Received` → `Recorded`, with the push events of the applied updates;
//! - `create_push_pipeline`: an applied update's pipeline `Pending` → `Created`, with the
//!   pipeline and its jobs;
//! - `finish_push_record`: `Recorded` → `Done`, once no applied update's pipeline is pending.

use crate::{Job, NewJob, NewPipeline, Pipeline, PushEvent, Result};
use async_trait::async_trait;
use autogit_core::{PipelineId, ProjectId, UserId};
use chrono::{DateTime, Utc};

/// One ref update as the client asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushUpdate {
    /// Full ref name, e.g. `refs/heads/main`.
    pub ref_name: String,
    /// Hex object ids; all zeros for a created (`old`) or deleted (`new`) ref.
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPushRecord {
    pub project_id: ProjectId,
    pub pusher_id: Option<UserId>,
    /// At least one; numbered from 0 in this order.
    pub updates: Vec<PushUpdate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRecordState {
    /// Written before git ran: which updates were applied is not known yet.
    Received,
    /// The applied updates are known and their push events written.
    Recorded,
    /// Every applied update has its pipeline, or is known to get none.
    Done,
}

impl PushRecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            PushRecordState::Received => "received",
            PushRecordState::Recorded => "recorded",
            PushRecordState::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "received" => Some(PushRecordState::Received),
            "recorded" => Some(PushRecordState::Recorded),
            "done" => Some(PushRecordState::Done),
            _ => None,
        }
    }
}

/// Where an update stands with its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushPipelineState {
    /// Not decided yet (or not applied yet, while the record is `Received`).
    Pending,
    /// Created; the update holds its id (`None` once the pipeline was deleted).
    Created,
    /// None will be created: the update was not applied, deletes a ref, is not a branch or tag,
    /// or its commit has no CI file or rules filtered everything out.
    None,
}

impl PushPipelineState {
    pub fn as_str(self) -> &'static str {
        match self {
            PushPipelineState::Pending => "pending",
            PushPipelineState::Created => "created",
            PushPipelineState::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(PushPipelineState::Pending),
            "created" => Some(PushPipelineState::Created),
            "none" => Some(PushPipelineState::None),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecordUpdate {
    pub position: i32,
    pub ref_name: String,
    pub old: String,
    pub new: String,
    /// Whether git applied it; false until the record is `Recorded`.
    pub applied: bool,
    pub pipeline: PushPipelineState,
    pub pipeline_id: Option<PipelineId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecord {
    pub id: i64,
    pub project_id: ProjectId,
    pub pusher_id: Option<UserId>,
    pub state: PushRecordState,
    /// When the push arrived; its push events carry this time.
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// By position.
    pub updates: Vec<PushRecordUpdate>,
}

/// The push outbox. Deleting a project removes its records.
#[async_trait]
pub trait PushRecordStore: Send + Sync {
    /// Creates a `Received` record with its updates (positions 0, 1, … in the order given, each
    /// `Pending` and not applied) in one transaction. Invalid for a missing project or user, or
    /// an empty update list.
    async fn create_push_record(&self, new: &NewPushRecord, now: DateTime<Utc>) -> Result<PushRecord>;
    async fn push_record(&self, id: i64) -> Result<Option<PushRecord>>;
    /// Up to `limit` records that are not `Done`, with ids above `after_id`, oldest first.
    async fn unfinished_push_records(&self, after_id: i64, limit: i64) -> Result<Vec<PushRecord>>;
    /// `Received` → `Recorded` in one transaction: the updates at the `applied` positions are
    /// marked applied, the others get pipeline state `None`; one push event per applied update
    /// is written (by the pusher, at the record's `created_at`), and the project touched at
    /// `now`. Returns the events; `Ok(None)`, writing nothing, when the record is no longer
    /// `Received`. NotFound if missing; Invalid for a position the record does not have.
    async fn record_push_events(&self, id: i64, applied: &[i32], now: DateTime<Utc>) -> Result<Option<Vec<PushEvent>>>;
    /// Creates the pipeline with its jobs (as [`crate::PipelineStore::create_pipeline`]) for the
    /// update at `position`, and marks the update `Created` with the pipeline's id, in one
    /// transaction — if the record is `Recorded` and the update applied and `Pending`; otherwise
    /// `Ok(None)`, writing nothing. NotFound if the record has no such update.
    async fn create_push_pipeline(
        &self,
        id: i64,
        position: i32,
        new: &NewPipeline,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<Option<(Pipeline, Vec<Job>)>>;
    /// Marks that the update at `position` gets no pipeline: `Pending` → `None`. False (nothing
    /// changed) when it was not pending or does not exist.
    async fn skip_push_pipeline(&self, id: i64, position: i32) -> Result<bool>;
    /// `Recorded` → `Done` with `finished_at = now`, if no applied update's pipeline is still
    /// `Pending`. False (nothing changed) otherwise.
    async fn finish_push_record(&self, id: i64, now: DateTime<Utc>) -> Result<bool>;
    /// Deletes a record that is still `Received` (its push applied nothing). False otherwise.
    async fn discard_push_record(&self, id: i64) -> Result<bool>;
    /// Deletes `Done` records that finished before `before`; returns how many.
    async fn prune_push_records(&self, before: DateTime<Utc>) -> Result<u64>;
}
