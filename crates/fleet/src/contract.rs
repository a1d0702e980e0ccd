//! The provider contract: what the autoscaling coordinator may assume of every provider.

use autogit_core::RunnerId;
use std::collections::BTreeMap;

/// Where an instance is in its life. There is no `Deleted`: a deleted instance is simply no
/// longer reported by [`InstanceGroup::update`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Being created; counts against capacity but takes no jobs yet. A provider reports an
    /// instance stuck here past its creation timeout as [`State::TimedOut`].
    Creating,
    /// Up and (as far as the provider can tell) running its runner.
    Running,
    /// Being deleted by the provider or by someone else.
    Deleting,
    /// Put to sleep by [`InstanceGroup::suspend`]: no runner runs, the instance keeps its id,
    /// labels and runner, and [`InstanceGroup::resume`] brings it back (faster or cheaper than
    /// creating one: a sleeping desktop wakes in seconds and keeps its caches).
    Suspended,
    /// Broken, gone or stuck: it will never become healthy. It still exists as far as the
    /// provider's bookkeeping goes (a directory, a stopped container), so the coordinator must
    /// [`InstanceGroup::decrease`] it to free its resources and its slot.
    TimedOut,
}

/// One instance of a group, as [`InstanceGroup::update`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Instance {
    /// The instance id: the [`Launch::name`] it was started with.
    pub id: String,
    pub state: State,
    /// Unix ms
    pub created_at: i64,
    /// The AutoGit runner id this instance runs as (from its labels), if known.
    pub runner_id: Option<RunnerId>,
    pub labels: BTreeMap<String, String>,
}

/// What the coordinator gives a provider to start one instance.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Caller-chosen, unique: becomes the instance id (process) or the container name suffix.
    pub name: String,
    pub server_url: String,
    /// A fresh runner token for this instance only (glrt-…).
    pub runner_token: String,
    pub runner_id: RunnerId,
    pub concurrent: usize,
    /// Extra args for `autogit runner register`, e.g. ["--docker-image", "x"].
    pub register_args: Vec<String>,
}

/// What [`InstanceGroup::init`] reports about the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    /// Stable identity of the provider and group, e.g. `process/<group>` or `docker/<group>`.
    pub id: String,
    /// The most instances the group will hold; [`InstanceGroup::increase`] starts no more.
    pub max_size: usize,
    pub version: String,
    /// Whether [`InstanceGroup::suspend`] and [`InstanceGroup::resume`] work.
    pub can_suspend: bool,
}

/// How a provider call failed. The message is for people; the variant is for the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Transient (the engine or the filesystem did not answer): retry with backoff.
    #[error("{0}")]
    Unavailable(String),
    /// This call failed; the state of the instances it touched is unknown. Call
    /// [`InstanceGroup::update`] to learn it, and [`InstanceGroup::decrease`] what is left over.
    #[error("{0}")]
    Failed(String),
    /// It will not work until reconfigured (bad group or instance name, missing binary or
    /// image, unreadable certificates): retrying as-is is pointless.
    #[error("{0}")]
    Config(String),
    /// The provider does not offer this call (suspend/resume where
    /// [`ProviderInfo::can_suspend`] is false).
    #[error("{0}")]
    Unsupported(String),
}

/// A group of runner instances that a provider can create and delete: the provider contract.
///
/// # Labels and ownership
/// Every instance carries the labels `autogit.group=<group>`, `autogit.runner=<runner id>` and
/// `autogit.instance=<name>` ([`crate::GROUP_LABEL`], [`crate::RUNNER_LABEL`],
/// [`crate::INSTANCE_LABEL`]) on whatever the provider uses as its record (container labels,
/// the instance's `instance.json`). The provider finds its instances by the group label alone,
/// never by in-memory bookkeeping, so a restarted coordinator adopts what an earlier run left,
/// and an orphan (a runner whose coordinator crashed) is always visible to
/// [`InstanceGroup::update`] and so can be reaped.
///
/// # Concurrency
/// - [`update`](Self::update) and [`heartbeat`](Self::heartbeat) only observe: they may run
///   concurrently with any call, including each other. During a concurrent
///   [`increase`](Self::increase) an instance may be seen as [`State::Creating`], or not yet at
///   all; during a concurrent [`decrease`](Self::decrease), as running, deleting or gone.
/// - [`increase`](Self::increase), [`decrease`](Self::decrease), [`suspend`](Self::suspend) and
///   [`resume`](Self::resume) change the group: the caller serialises them per group (one at a
///   time, never two at once). Providers do not lock
///   against a second coordinator on the same group; run one coordinator per group.
///
/// # Idempotency and failure
/// - [`decrease`](Self::decrease) is idempotent: unknown or already-deleted ids are ignored and
///   reported as gone, and it is safe on an instance whose create failed half-way (a directory
///   without a process, a container that never started). After any error from `increase`, the
///   caller may `update` and `decrease` whatever it finds; nothing else is needed to clean up.
/// - [`increase`](Self::increase) is not idempotent: launch names are caller-chosen and must be
///   unique within the group; a name already in use fails that launch.
/// - An instance that died, or is stuck creating past the provider's timeout, is reported as
///   [`State::TimedOut`] until it is decreased: providers never silently drop what they
///   created, so nothing leaks.
/// - Errors: [`FleetError::Unavailable`] means retry later with backoff;
///   [`FleetError::Failed`] means this call failed and the touched instances' state is unknown
///   (reconcile with `update`); [`FleetError::Config`] means it will not work until
///   reconfigured. A call that did part of its work returns `Ok` with what it did (the count for
///   `increase`, the ids for `decrease`) and logs the rest; it returns `Err` only when it did
///   nothing.
#[async_trait::async_trait]
pub trait InstanceGroup: Send + Sync {
    /// Checks the configuration and that the backend answers; call once before anything else.
    /// Creates nothing and deletes nothing.
    async fn init(&self) -> Result<ProviderInfo, FleetError>;
    /// Every instance that carries this group's label, whatever created it (so that a restarted coordinator finds what an earlier run left).
    async fn update(&self) -> Result<Vec<Instance>, FleetError>;
    /// Starts up to `launches.len()` instances; returns how many were started (each one's id = its Launch name). Partial success is Ok(n).
    ///
    /// Never grows the group past [`ProviderInfo::max_size`] (counting every instance
    /// `update` would report); the launches beyond that are not started. Names are checked
    /// before anything starts (an invalid or repeated one is [`FleetError::Config`]). A launch
    /// that fails is cleaned up on the spot where possible; otherwise it shows as
    /// [`State::TimedOut`] and `decrease` removes it.
    async fn increase(&self, launches: &[Launch]) -> Result<usize, FleetError>;
    /// Deletes these instances; unknown ids are ignored (idempotent); safe after a failed or partial create. Returns the ids it deleted or found already gone.
    ///
    /// The runner is asked to stop first (it finishes the jobs it is running) and is killed
    /// after the provider's grace period. An id missing from the returned list was not
    /// confirmed deleted: retry it.
    async fn decrease(&self, ids: &[String]) -> Result<Vec<String>, FleetError>;
    /// Optional ([`ProviderInfo::can_suspend`]): stops these instances' runners as `decrease`
    /// does (running jobs finish first, then the grace period) and puts the instances to sleep
    /// without deleting them; they are reported as [`State::Suspended`] from then on. Returns
    /// the ids now suspended, those already suspended included; unknown ids are ignored. An
    /// instance that cannot be reached to stop its runner is not suspended (decrease it).
    /// Providers without it answer [`FleetError::Unsupported`].
    async fn suspend(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        let _ = ids;
        Err(FleetError::Unsupported("this provider cannot suspend instances".into()))
    }
    /// Optional: wakes suspended instances and starts their runners again, as the same runner
    /// (the coordinator keeps its record and token). Each is reported as [`State::Creating`]
    /// until its runner runs, and as [`State::TimedOut`] when it does not within the provider's
    /// creation timeout (then decrease it, as after a failed create). Returns the ids it
    /// resumed; ids that are not suspended are ignored.
    async fn resume(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        let _ = ids;
        Err(FleetError::Unsupported("this provider cannot resume instances".into()))
    }
    /// Whether the instance still exists and is healthy. An unknown id is `Ok(false)`.
    async fn heartbeat(&self, id: &str) -> Result<bool, FleetError>;
    /// Releases the provider's own resources; instances are NOT deleted (the coordinator decides).
    async fn shutdown(&self) -> Result<(), FleetError>;
}
