//! The filesystem adapter of the [`BlobStore`] port: a key `a/b/c` is the file `<root>/a/b/c`.
//!
//! A put streams into a temporary file in `<root>/.tmp/` (the same filesystem, and a name no
//! key can have), fsyncs it, renames it into place and fsyncs the directory: readers see the
//! old or the new file whole, and the rename that happens last wins. A put that fails or is
//! dropped removes its temporary file; `remove_leftovers` removes those a crash left. Directories are created 0700 and files 0600 (the data directory is owner-only).
//! No path is ever resolved through a symlink inside the tree (`tree`); objects are opened with
//! `O_NOFOLLOW`.

mod tree;

use async_trait::async_trait;
use autogit_store::blob::{BlobError, BlobKey, BlobMeta, BlobRead, BlobResult, BlobStore, ByteStream, check_range};
use futures_util::StreamExt;
use std::io::ErrorKind;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tree::{Place, unavailable};

const TMP_DIR: &str = ".tmp";

#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: Arc<PathBuf>,
}

impl FsBlobStore {
    /// The store rooted at `root`, created (0700) with its temporary directory if missing.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<FsBlobStore> {
        let root = root.into();
        std::fs::create_dir_all(root.parent().unwrap_or(Path::new("/")))?;
        tree::make_dir(&root)?;
        tree::make_dir(&root.join(TMP_DIR))?;
        Ok(FsBlobStore { root: Arc::new(root) })
    }

    /// Removes the temporary files of puts that a crash interrupted. Only for the process that
    /// owns the store, before it puts anything: another process's puts in flight would lose
    /// their temporary files.
    pub fn remove_leftovers(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join(TMP_DIR))? {
            std::fs::remove_file(entry?.path())?;
            removed += 1;
        }
        Ok(removed)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn blocking<T: Send + 'static>(
        &self,
        key: &BlobKey,
        f: impl FnOnce(&Path) -> BlobResult<T> + Send + 'static,
    ) -> BlobResult<T> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || f(&root)).await.map_err(|e| unavailable(key, "blob task", e))?
    }

    /// Streams `body` into a fresh temporary file; returns it (still to be renamed) and its size.
    async fn receive(
        &self,
        key: &BlobKey,
        mut body: ByteStream<'_>,
        limit: Option<u64>,
    ) -> BlobResult<(TempFile, u64)> {
        let temp = TempFile(self.root.join(TMP_DIR).join(format!("put-{:032x}", rand::random::<u128>())));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp.0)
            .await
            .map_err(|e| unavailable(key, "creating a temporary file", e))?;
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| BlobError::Source { key: key.to_string(), source })?;
            size += chunk.len() as u64;
            if let Some(limit) = limit.filter(|l| size > *l) {
                return Err(BlobError::TooLarge { key: key.to_string(), limit });
            }
            file.write_all(&chunk).await.map_err(|e| unavailable(key, "writing", e))?;
        }
        file.flush().await.map_err(|e| unavailable(key, "writing", e))?;
        file.sync_all().await.map_err(|e| unavailable(key, "syncing", e))?;
        Ok((temp, size))
    }
}

/// A temporary file that is removed unless it was renamed into place (also when the put
/// future is dropped midway).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Moves `temp` to `key`'s place: directories created on the way, an empty directory left at the
/// key's own place by earlier removals pruned, a key below a stored one refused.
fn place(root: &Path, key: &BlobKey, temp: &Path) -> BlobResult<()> {
    // A concurrent removal may prune a directory just created; try again then.
    for _ in 0..5 {
        let Place::Dir(dir) = tree::parent_of(root, key, true)? else {
            return Err(unavailable(key, "creating its directory", "missing after creation"));
        };
        let dest = dir.join(key.segments().last().unwrap_or_default());
        if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
            if let Some(stored) = tree::list(root, key)?.into_iter().next() {
                return Err(BlobError::Conflict { key: key.to_string(), stored: stored.to_string() });
            }
            let _ = std::fs::remove_dir_all(&dest);
        }
        match std::fs::rename(temp, &dest) {
            Ok(()) => {
                let synced = std::fs::File::open(&dir).and_then(|d| d.sync_all());
                return synced.map_err(|e| unavailable(key, "syncing the directory", e));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(unavailable(key, "moving into place", e)),
        }
    }
    Err(unavailable(key, "moving into place", "its directory kept disappearing"))
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &BlobKey, body: ByteStream<'_>, limit: Option<u64>) -> BlobResult<BlobMeta> {
        let (mut temp, size) = self.receive(key, body, limit).await?;
        let path = std::mem::take(&mut temp.0);
        let owned = key.clone();
        let moved = path.clone();
        let placed = self.blocking(key, move |root| place(root, &owned, &moved)).await;
        if placed.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        placed.map(|()| BlobMeta { size })
    }

    async fn open(&self, key: &BlobKey, range: Option<Range<u64>>) -> BlobResult<BlobRead> {
        let owned = key.clone();
        let path = self.blocking(key, move |root| tree::path_of(root, &owned)).await?;
        let path = path.ok_or_else(|| BlobError::NotFound(key.to_string()))?;
        let mut file = match tokio::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&path)
            .await
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(BlobError::NotFound(key.to_string())),
            Err(e) => return Err(unavailable(key, "opening", e)),
        };
        let m = file.metadata().await.map_err(|e| unavailable(key, "reading its size", e))?;
        if !m.is_file() {
            return Err(BlobError::NotFound(key.to_string()));
        }
        let range = check_range(key, range, m.len())?;
        file.seek(std::io::SeekFrom::Start(range.start)).await.map_err(|e| unavailable(key, "seeking", e))?;
        let body = tokio_util::io::ReaderStream::new(file.take(range.end - range.start));
        Ok(BlobRead { size: m.len(), range, body: Box::pin(body) })
    }

    async fn meta(&self, key: &BlobKey) -> BlobResult<Option<BlobMeta>> {
        let owned = key.clone();
        self.blocking(key, move |root| {
            let Some(path) = tree::path_of(root, &owned)? else { return Ok(None) };
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => Ok(Some(BlobMeta { size: m.len() })),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(unavailable(&owned, "reading its size", e)),
            }
        })
        .await
    }

    async fn remove(&self, key: &BlobKey) -> BlobResult<()> {
        let owned = key.clone();
        self.blocking(key, move |root| remove_one(root, &owned)).await
    }

    async fn list(&self, prefix: &BlobKey) -> BlobResult<Vec<BlobKey>> {
        let owned = prefix.clone();
        self.blocking(prefix, move |root| tree::list(root, &owned)).await
    }

    async fn remove_prefix(&self, prefix: &BlobKey) -> BlobResult<u64> {
        let owned = prefix.clone();
        self.blocking(prefix, move |root| {
            let mut removed = 0;
            for key in tree::list(root, &owned)? {
                remove_one(root, &key)?;
                removed += 1;
            }
            if let Some(path) = tree::path_of(root, &owned)? {
                tree::prune(root, path);
            }
            Ok(removed)
        })
        .await
    }
}

/// Removes one object (a symlink at its place is removed, never followed) and the directories
/// it leaves empty.
fn remove_one(root: &Path, key: &BlobKey) -> BlobResult<()> {
    let Some(path) = tree::path_of(root, key)? else { return Ok(()) };
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(unavailable(key, "removing", e)),
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(unavailable(key, "removing", e)),
    }
    if let Some(dir) = path.parent() {
        tree::prune(root, dir.to_path_buf());
    }
    Ok(())
}
