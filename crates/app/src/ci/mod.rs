//! CI use-cases: the Runner Coordinator.
//!
//! - [`create`]: push or API → compiled plan → pipeline with all its jobs (one transaction).
//! - [`process`](self::process): after every job change, the scheduler's progression decides
//!   which jobs are queued, skipped or wait, and the pipeline's status, over the pipeline's
//!   in-memory view (`tracked`), updated job by job.
//! - [`runtime`]: the in-memory queue and long-poll waiters (an index over pending jobs).
//! - [`runner_api`]: hand-out (`jobs/request`), state reports, trace appends — authenticated by
//!   runner and job tokens.
//! - [`housekeeping`]: lease expiry, server-side timeouts, delayed jobs, the trace sweeps.
//! - `traces`: a finished job's log archived as one blob; reads from the blob or the store.
//! - [`pipelines`]: what users see and do (list, cancel, play, retry).
//! - [`predefined`], `vars`, `payload`, `spec`: variables and the job payload.
//! - [`variables`]: the CI/CD variables of projects and groups, as users manage them.

pub mod artifact_browse;
pub mod artifact_downloads;
pub mod artifacts;
mod batch;
mod blob_reader;
pub(crate) mod blobs;
mod contacts;
mod context_cache;
pub mod create;
pub mod fleet_view;
mod gpu_tags;
mod gpus;
mod hot_writes;
mod housekeeping;
mod payload;
pub mod pending_reason;
pub mod pipelines;
pub mod pool_demand;
pub mod pools;
pub mod predefined;
mod process;
mod reported_failure;
pub mod runner_api;
pub mod runners;
pub mod runtime;
mod spec;
pub mod stages;
mod traces;
mod tracked;
pub mod variables;
mod vars;

pub use artifact_browse::{ArchiveEntry, ArchiveFile, EntryKind};
pub use artifact_downloads::{ArtifactDownload, RangeRequest};
pub use artifacts::UploadMeta;
pub use create::{DEFAULT_CI_CONFIG_PATH, NotCreated, PipelineRequest};
pub use gpus::FleetRunner;
pub use runner_api::{JOB_TOKEN_PREFIX, JobAck, JobOffer, TraceAck};
pub use runtime::CiSettings;
pub use traces::JobTrace;
