//! The pool of long-lived `git cat-file --batch-command` processes, per repository.
//!
//! Pipeline creation and job hand-out read a handful of objects of one commit each time; a
//! process per read (fork + exec + git's start-up) cost more than the reads. A process checked
//! out of the pool answers any number of reads and goes back when its [`ObjectReader`] is
//! dropped, unless it failed or was dropped in the middle of an answer (its pipe could hold the
//! rest of one, so it is killed instead).
//!
//! Bounds: at most `max_busy` processes are in use at once (further checkouts wait), at most
//! `max_idle` wait idle in all (the least recently used goes first), and an idle one older than
//! `idle_for` is killed at the next checkout or [`ObjectPool::evict_idle`], and none is reused
//! past `max_life` (a busy repository's process would otherwise keep the pack files `git gc`
//! deleted open, and their disk space taken, for as long as it is used). A new object written
//! by a push is visible to a pooled process (git re-scans the pack directory when an object is
//! missing; loose objects and refs are read from disk on every request).

use crate::Result;
use crate::catfile::{CatFile, ObjectInfo};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Sizes of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Processes in use at once, over all repositories.
    pub max_busy: usize,
    /// Idle processes kept, over all repositories.
    pub max_idle: usize,
    /// How long an idle process is kept.
    pub idle_for: Duration,
    /// How long a process is used at most, busy or not.
    pub max_life: Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits { max_busy: 16, max_idle: 8, idle_for: Duration::from_secs(60), max_life: Duration::from_secs(600) }
    }
}

struct Idle {
    repo: PathBuf,
    cat: CatFile,
    since: Instant,
    born: Instant,
}

struct Shared {
    limits: PoolLimits,
    busy: Arc<Semaphore>,
    /// Most recently returned last.
    idle: Mutex<VecDeque<Idle>>,
    /// Processes started, for tests and metrics.
    spawned: std::sync::atomic::AtomicU64,
}

/// Shared by clones; see the module documentation.
#[derive(Clone)]
pub struct ObjectPool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ObjectPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectPool").field("limits", &self.shared.limits).finish_non_exhaustive()
    }
}

impl Default for ObjectPool {
    fn default() -> Self {
        ObjectPool::new(PoolLimits::default())
    }
}

impl ObjectPool {
    pub fn new(limits: PoolLimits) -> ObjectPool {
        ObjectPool {
            shared: Arc::new(Shared {
                limits,
                busy: Arc::new(Semaphore::new(limits.max_busy.max(1))),
                idle: Mutex::new(VecDeque::new()),
                spawned: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// A reader of `repo`'s objects: an idle process of that repository, else a new one.
    pub async fn reader(&self, repo: &Path) -> Result<ObjectReader> {
        let permit =
            self.shared.busy.clone().acquire_owned().await.map_err(|_| crate::Error::Parse("pool closed".into()))?;
        self.evict_idle();
        while let Some((mut cat, born)) = self.take_idle(repo) {
            if cat.alive() {
                return Ok(self.wrap(repo, cat, born, permit));
            }
        }
        let cat = CatFile::spawn(repo).await?;
        self.shared.spawned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.wrap(repo, cat, Instant::now(), permit))
    }

    fn wrap(&self, repo: &Path, cat: CatFile, born: Instant, permit: OwnedSemaphorePermit) -> ObjectReader {
        let repo = repo.to_path_buf();
        ObjectReader { cat: Some(cat), repo, born, pool: self.clone(), _permit: permit, clean: true }
    }

    fn take_idle(&self, repo: &Path) -> Option<(CatFile, Instant)> {
        let mut idle = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let at = idle.iter().rposition(|i| i.repo == repo)?;
        idle.remove(at).map(|i| (i.cat, i.born))
    }

    fn give_back(&self, repo: PathBuf, cat: CatFile, born: Instant) {
        if born.elapsed() >= self.shared.limits.max_life {
            return; // killed with `cat`
        }
        let mut idle = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.push_back(Idle { repo, cat, since: Instant::now(), born });
        while idle.len() > self.shared.limits.max_idle {
            idle.pop_front();
        }
    }

    /// Kills idle processes older than the pool's `idle_for`.
    pub fn evict_idle(&self) {
        let limit = self.shared.limits.idle_for;
        let mut idle = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|i| i.since.elapsed() < limit);
    }

    /// Kills the idle processes of `repo` (it is being deleted).
    pub fn forget(&self, repo: &Path) {
        let mut idle = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|i| i.repo != repo);
    }

    /// Processes started so far.
    pub fn spawned(&self) -> u64 {
        self.shared.spawned.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Processes waiting idle now.
    pub fn idle_count(&self) -> usize {
        self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// One checked-out process. Its reads are in `objects::read`; dropping it returns the process
/// to the pool when every read it started completed without error (a read abandoned half-way,
/// its future dropped, leaves `clean` false and the process is killed).
pub struct ObjectReader {
    cat: Option<CatFile>,
    repo: PathBuf,
    /// When its process started (see `PoolLimits::max_life`).
    born: Instant,
    pool: ObjectPool,
    _permit: OwnedSemaphorePermit,
    /// False from the start of a read until it completed without error.
    clean: bool,
}

impl ObjectReader {
    /// Type and size of `spec` (an object id, or `<id>^{commit}`-style peeling).
    pub(crate) async fn info(&mut self, spec: &str) -> Result<Option<ObjectInfo>> {
        let out = { self.begin()?.info(spec).await };
        self.end(out)
    }

    /// The object `spec` with at most `keep` bytes of its content.
    pub(crate) async fn contents(&mut self, spec: &str, keep: usize) -> Result<Option<(ObjectInfo, Vec<u8>)>> {
        let out = { self.begin()?.contents(spec, keep).await };
        self.end(out)
    }

    fn begin(&mut self) -> Result<&mut CatFile> {
        self.clean = false;
        self.cat.as_mut().ok_or_else(|| crate::Error::Parse("object reader retired after an error".into()))
    }

    fn end<T>(&mut self, out: Result<T>) -> Result<T> {
        self.clean = out.is_ok();
        if !self.clean {
            self.cat = None;
        }
        out
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        if let (true, Some(cat)) = (self.clean, self.cat.take()) {
            self.pool.give_back(std::mem::take(&mut self.repo), cat, self.born);
        }
    }
}
