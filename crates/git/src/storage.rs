//! Bare repositories on disk, at hashed paths as GitLab lays them out:
//! `<root>/@hashed/<h[0..2]>/<h[2..4]>/<h>.git` with `h = hex(sha256(decimal project id))`.
//! Paths depend only on the id, so renaming or transferring a project never moves data, and no
//! user-chosen name ever reaches the filesystem.
//!
//! Creation and deletion are made atomic with renames: a repository is initialised in a temporary
//! directory beside its final place and renamed into it; deletion renames it into `@trash` first.
//! A crash therefore leaves either nothing, a complete repository, or debris in places nothing
//! reads (`.tmp-*` siblings, `@trash`), never a half-made repository at a live path.

use crate::cmd::{git, git_in, run_ok};
use crate::objects::{ObjectPool, ObjectReader};
use crate::pktline::validate_ref_name;
use crate::{Error, Result};
use autogit_core::ProjectId;
use sha2::{Digest, Sha256};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary names made by this process; the pid distinguishes processes.
static SEQ: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    format!("{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

#[derive(Debug, Clone)]
pub struct RepoStorage {
    root: PathBuf,
    fsck_objects: bool,
    /// Shared by clones: the long-lived object readers of the repositories below `root`.
    objects: ObjectPool,
}

impl RepoStorage {
    pub fn new(root: PathBuf) -> Self {
        Self { root, fsck_objects: false, objects: ObjectPool::default() }
    }

    /// A pooled object reader of the project's repository (see [`crate::objects`]).
    pub async fn reader(&self, project_id: ProjectId) -> Result<ObjectReader> {
        self.objects.reader(&self.path_for(project_id)).await
    }

    /// The pool behind [`RepoStorage::reader`] (for housekeeping: `evict_idle`).
    pub fn object_pool(&self) -> &ObjectPool {
        &self.objects
    }

    /// Sets `receive.fsckObjects` on repositories created from now on. Off by default, as in
    /// git and GitLab: checking every pushed object costs CPU on large pushes, and git already
    /// verifies pack integrity; turn it on to refuse malformed objects (e.g. bad dates or names).
    pub fn with_fsck_objects(mut self, on: bool) -> Self {
        self.fsck_objects = on;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The hashed directory of a project's repository (whether or not it exists).
    pub fn path_for(&self, project_id: ProjectId) -> PathBuf {
        let h = hex::encode(Sha256::digest(project_id.to_string().as_bytes()));
        self.root.join("@hashed").join(&h[0..2]).join(&h[2..4]).join(format!("{h}.git"))
    }

    pub fn exists(&self, project_id: ProjectId) -> bool {
        self.path_for(project_id).join("HEAD").is_file()
    }

    /// Whether the repository has at least one branch (GitLab's "not an empty repository"), read
    /// from the ref files directly: API lists ask this for every project on a page, and a git
    /// process per project would dominate their cost. Loose refs are files under `refs/heads/`;
    /// packed ones are lines ending in ` refs/heads/…` in `packed-refs`.
    pub fn has_branches(&self, project_id: ProjectId) -> bool {
        let repo = self.path_for(project_id);
        fn any_file(dir: &Path) -> bool {
            std::fs::read_dir(dir).is_ok_and(|rd| {
                rd.filter_map(|e| e.ok()).any(|e| {
                    let p = e.path();
                    if p.is_dir() { any_file(&p) } else { !p.to_string_lossy().ends_with(".lock") }
                })
            })
        }
        if any_file(&repo.join("refs/heads")) {
            return true;
        }
        std::fs::read_to_string(repo.join("packed-refs"))
            .is_ok_and(|text| text.lines().any(|l| !l.starts_with('#') && l.contains(" refs/heads/")))
    }

    /// Creates the root directory if it is missing (startup).
    pub async fn ensure_root(&self) -> Result<()> {
        Ok(tokio::fs::create_dir_all(&self.root).await?)
    }

    /// Readiness: the root exists, is a directory, and a file can be created in it.
    pub async fn check(&self) -> Result<()> {
        let meta = tokio::fs::metadata(&self.root).await?;
        if !meta.is_dir() {
            return Err(Error::InvalidPath(format!("{} is not a directory", self.root.display())));
        }
        let probe = self.root.join(format!(".probe-{}", unique_suffix()));
        tokio::fs::write(&probe, b"ok").await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }

    /// Bytes this process may still write on the filesystem that holds the repositories (what
    /// `df` shows as available: blocks reserved for root are not counted).
    // The field types are u32 on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    pub fn free_space(&self) -> Result<u64> {
        let st = nix::sys::statvfs::statvfs(&self.root).map_err(std::io::Error::from)?;
        Ok(u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size())))
    }

    /// Initialises an empty bare repository whose HEAD names `default_branch`.
    pub async fn create(&self, project_id: ProjectId, default_branch: &str) -> Result<PathBuf> {
        let head = branch_ref(default_branch)?;
        let target = self.path_for(project_id);
        if tokio::fs::try_exists(&target).await? {
            return Err(Error::AlreadyExists(target));
        }
        let parent = target.parent().ok_or_else(|| Error::InvalidPath(target.display().to_string()))?;
        tokio::fs::create_dir_all(parent).await?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = parent.join(format!(".tmp-{}-{name}", unique_suffix()));
        let made = self.init(&tmp, &head).await;
        let made = match made {
            // rename(2) refuses to replace a non-empty directory, so a concurrent create loses here.
            Ok(()) => tokio::fs::rename(&tmp, &target).await.map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty => Error::AlreadyExists(target.clone()),
                _ => e.into(),
            }),
            Err(e) => Err(e),
        };
        if let Err(e) = made {
            if let Err(cleanup) = tokio::fs::remove_dir_all(&tmp).await {
                tracing::warn!(path = %tmp.display(), error = %cleanup, "could not remove temporary repository");
            }
            return Err(e);
        }
        Ok(target)
    }

    async fn init(&self, dir: &Path, head: &str) -> Result<()> {
        let mut cmd = git();
        // An empty template: no sample hooks, and no hooks from a site-wide init.templateDir.
        // `--shared=umask`: a core.sharedRepository in the user's or system git config must not
        // open the repository to a group or everyone (the server's umask makes it owner-only).
        // The files ref backend whatever the user's git config prefers: push recording reads
        // the reflog files (reftable repositories keep none). Older gits ignore the setting.
        cmd.args(["-c", "init.defaultRefFormat=files"]);
        cmd.args(["init", "--bare", "--quiet", "--template=", "--shared=umask", "--"]).arg(dir);
        run_ok(cmd, 1 << 16).await?;
        let mut settings = vec![
            ("http.receivepack", "true"),
            // Pinned in the repository, where it beats any user or system setting for later writes.
            ("core.sharedRepository", "umask"),
            // Reflogs for every ref: cheap, and the only record of who moved a branch where.
            ("core.logAllRefUpdates", "always"),
        ];
        if self.fsck_objects {
            settings.push(("receive.fsckObjects", "true"));
        }
        for (key, value) in settings {
            let mut cmd = git_in(dir);
            cmd.args(["config", key, value]);
            run_ok(cmd, 1 << 16).await?;
        }
        set_head(dir, head).await
    }

    /// Points HEAD at another branch (which need not exist yet).
    pub async fn set_default_branch(&self, project_id: ProjectId, branch: &str) -> Result<()> {
        set_head(&self.path_for(project_id), &branch_ref(branch)?).await
    }

    /// Deletes a repository; a missing one is not an error. The rename into `@trash` is the
    /// atomic step: afterwards the project path is free even if the removal fails half-way.
    pub async fn delete(&self, project_id: ProjectId) -> Result<()> {
        let path = self.path_for(project_id);
        self.objects.forget(&path);
        let trash_dir = self.root.join("@trash");
        tokio::fs::create_dir_all(&trash_dir).await?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let trash = trash_dir.join(format!("{name}-{}", unique_suffix()));
        match tokio::fs::rename(&path, &trash).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = tokio::fs::remove_dir_all(&trash).await {
            tracing::warn!(path = %trash.display(), error = %e, "deleted repository left in trash");
        }
        Ok(())
    }

    /// Removes whatever an interrupted deletion left in `@trash`.
    pub async fn purge_trash(&self) -> Result<()> {
        match tokio::fs::remove_dir_all(self.root.join("@trash")).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// `refs/heads/<branch>` for a valid branch name (git also refuses branches starting with '-').
fn branch_ref(branch: &str) -> Result<String> {
    let full = format!("refs/heads/{branch}");
    if branch.starts_with('-') || validate_ref_name(&full).is_err() {
        return Err(Error::InvalidRef(branch.to_owned()));
    }
    Ok(full)
}

async fn set_head(repo: &Path, full_ref: &str) -> Result<()> {
    let mut cmd = git_in(repo);
    cmd.args(["symbolic-ref", "HEAD", full_ref]);
    run_ok(cmd, 1 << 16).await.map(drop)
}
