//! Inside a job's artifacts archive: its entries (names, sizes, kinds) read from the zip central
//! directory, and one entry's bytes inflated on the way out — GitLab's artifact browser and
//! `GET /projects/:id/jobs/:job_id/artifacts/*artifact_path`. The archive is read through the
//! blob port a block at a time ([`BlobReader`]); nothing is unpacked to disk.
//!
//! Trust: the archive is whatever a job of the project uploaded, so names are untrusted text
//! (shown escaped, never used as filesystem paths) and entries are served only as downloads or
//! inert text by the faces.

use super::blob_reader::BlobReader;
use super::blobs::key_of;
use crate::{App, AppError, Principal, Result};
use autogit_core::JobId;
use autogit_store::JobArtifact;
use autogit_store::blob::ByteStream;
use bytes::Bytes;
use std::io::{Read, Seek};
use tokio::sync::{mpsc, oneshot};
use zip::ZipArchive;

/// Bytes handed to the client per message while an entry is inflated.
const CHUNK: usize = 64 * 1024;
/// The largest central directory read: about 200,000 entries. The zip reader keeps every entry
/// in memory, so a bigger one (a project's job may upload any archive up to the artifact size
/// limit) is refused before it is parsed; such an archive is still downloadable whole.
pub const MAX_DIRECTORY_BYTES: u64 = 16 << 20;
/// The end-of-central-directory record's signature, and the span at the end of an archive it
/// can be in (the record, 22 bytes, plus a comment of up to 65,535).
const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const EOCD_SPAN: u64 = 22 + 65_535;

/// One entry of an archive, as its central directory records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// The path inside the archive, without a trailing `/` for directories.
    pub path: String,
    pub kind: EntryKind,
    /// Uncompressed bytes (0 for directories).
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
}

/// One entry on its way out.
pub struct ArchiveFile {
    pub path: String,
    pub size: u64,
    pub body: ByteStream<'static>,
}

impl std::fmt::Debug for ArchiveFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveFile").field("path", &self.path).field("size", &self.size).finish_non_exhaustive()
    }
}

/// The name an entry is listed and found by: `None` for names that could not name a place
/// inside the archive (absolute, `.`/`..` parts, NUL), which the archive browser leaves out.
pub fn entry_path(raw: &str) -> Option<&str> {
    let path = raw.strip_suffix('/').unwrap_or(raw);
    let fine = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    fine.then_some(path)
}

impl App {
    /// The entries of job `id`'s artifacts archive, in archive order, for those who may read
    /// the project's code (the same rule as downloading it).
    pub async fn job_artifact_entries(
        &self,
        who: &Principal,
        project_ref: &str,
        id: JobId,
    ) -> Result<Vec<ArchiveEntry>> {
        let record = self.browsable_archive(who, project_ref, id).await?;
        let reader = self.archive_reader(&record)?;
        tokio::task::spawn_blocking(move || list_entries(reader))
            .await
            .map_err(|e| AppError::Internal(format!("archive listing: {e}")))?
    }

    /// The bytes of the file `path` inside job `id`'s artifacts archive, inflated as they are
    /// sent. A directory, a symbolic link or a name the archive does not hold is `NotFound`.
    pub async fn job_artifact_file(
        &self,
        who: &Principal,
        project_ref: &str,
        id: JobId,
        path: &str,
    ) -> Result<ArchiveFile> {
        let record = self.browsable_archive(who, project_ref, id).await?;
        let wanted = entry_path(path).ok_or(AppError::NotFound("File"))?.to_string();
        let reader = self.archive_reader(&record)?;
        let (found_tx, found_rx) = oneshot::channel::<Result<u64>>();
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
        let name = wanted.clone();
        tokio::task::spawn_blocking(move || inflate(reader, &name, found_tx, tx));
        let size = found_rx.await.map_err(|_| AppError::Internal("archive reader stopped".into()))??;
        let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        Ok(ArchiveFile { path: wanted, size, body: Box::pin(body) })
    }

    /// The zip archive of a job the caller may read, or why not.
    async fn browsable_archive(&self, who: &Principal, project_ref: &str, id: JobId) -> Result<JobArtifact> {
        self.job_of_readable_project(who, project_ref, id).await?;
        let record = self.store.artifact(id, "archive").await?.ok_or(AppError::NotFound("Artifact"))?;
        if record.file_format != "zip" {
            return Err(AppError::Invalid(
                "artifacts",
                format!("the archive is {}: only zip archives can be browsed; download it instead", record.file_format),
            ));
        }
        Ok(record)
    }

    fn archive_reader(&self, record: &JobArtifact) -> Result<BlobReader> {
        let size = u64::try_from(record.size).map_err(|_| AppError::Internal("negative artifact size".into()))?;
        Ok(BlobReader::new(self.blobs.clone(), key_of(&record.storage_key)?, size, tokio::runtime::Handle::current()))
    }
}

/// The entries of a zip archive read from its central directory, in archive order, leaving out
/// names that point outside it ([`entry_path`]). Reads only the directory, never file data.
pub fn list_entries<R: Read + Seek>(mut reader: R) -> Result<Vec<ArchiveEntry>> {
    check_directory_size(&mut reader)?;
    let zip = ZipArchive::new(reader).map_err(unreadable)?;
    let mut entries = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let e = zip.by_index_data(i).map_err(unreadable)?;
        let Ok(name) = e.name() else { continue };
        let Some(path) = entry_path(&name) else { continue };
        let kind = if e.is_dir() {
            EntryKind::Directory
        } else if e.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::File
        };
        let size = if kind == EntryKind::Directory { 0 } else { e.size() };
        entries.push(ArchiveEntry { path: path.to_string(), kind, size });
    }
    Ok(entries)
}

/// On a blocking thread: finds `name`, says its size (or why not) on `found`, then sends its
/// bytes until the end or until the receiver goes away.
fn inflate(
    reader: BlobReader,
    name: &str,
    found: oneshot::Sender<Result<u64>>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
) {
    let mut zip = match ZipArchive::new(reader) {
        Ok(z) => z,
        Err(e) => {
            let _ = found.send(Err(unreadable(e)));
            return;
        }
    };
    let index = (0..zip.len()).find(|&i| {
        zip.by_index_data(i)
            .is_ok_and(|e| e.is_file() && !e.is_symlink() && e.name().is_ok_and(|n| entry_path(&n) == Some(name)))
    });
    let Some(index) = index else {
        let _ = found.send(Err(AppError::NotFound("File")));
        return;
    };
    let mut file = match zip.by_index(index) {
        Ok(f) => f,
        Err(e) => {
            let _ = found.send(Err(unreadable(e)));
            return;
        }
    };
    if found.send(Ok(file.size())).is_err() {
        return;
    }
    let mut buf = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                    return;
                }
            }
            Err(e) => {
                // The length was promised: a broken entry ends the body early, which the client
                // sees as a truncated transfer rather than a whole-looking file.
                tracing::warn!(error = %e, "artifact entry could not be inflated");
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// Refuses an archive whose central directory is larger than [`MAX_DIRECTORY_BYTES`] (or is a
/// ZIP64 one, whose sizes this check does not read), from its end record alone.
fn check_directory_size<R: Read + Seek>(reader: &mut R) -> Result<()> {
    let size = reader.seek(std::io::SeekFrom::End(0)).map_err(|e| AppError::Internal(format!("archive: {e}")))?;
    let span = size.min(EOCD_SPAN);
    reader.seek(std::io::SeekFrom::Start(size - span)).map_err(|e| AppError::Internal(format!("archive: {e}")))?;
    let mut tail = Vec::with_capacity(span as usize);
    reader.take(span).read_to_end(&mut tail).map_err(|e| AppError::Internal(format!("archive: {e}")))?;
    reader.seek(std::io::SeekFrom::Start(0)).map_err(|e| AppError::Internal(format!("archive: {e}")))?;
    match directory_size(&tail) {
        // No end record: the zip reader says what is wrong.
        None => Ok(()),
        Some(bytes) if bytes <= MAX_DIRECTORY_BYTES => Ok(()),
        Some(_) => Err(AppError::Invalid(
            "artifacts",
            format!(
                "the archive's file list is larger than {} MiB and is not browsed; download the archive instead",
                MAX_DIRECTORY_BYTES >> 20
            ),
        )),
    }
}

/// The central directory's size in bytes as the last end record in `tail` states it;
/// `u64::MAX` for a ZIP64 archive (the 32-bit field holds its marker), `None` without a record.
pub fn directory_size(tail: &[u8]) -> Option<u64> {
    let at = tail.windows(4).rposition(|w| w == EOCD)?;
    let record = tail.get(at..at + 22)?;
    let bytes = u32::from_le_bytes([record[12], record[13], record[14], record[15]]);
    let entries = u16::from_le_bytes([record[10], record[11]]);
    if bytes == u32::MAX || entries == u16::MAX { Some(u64::MAX) } else { Some(u64::from(bytes)) }
}

fn unreadable(e: zip::result::ZipError) -> AppError {
    match e {
        zip::result::ZipError::Io(io) => AppError::Internal(format!("artifact archive could not be read: {io}")),
        other => AppError::Invalid("artifacts", format!("the archive cannot be read: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::entry_path;

    #[test]
    fn a_huge_file_list_is_refused_before_it_is_parsed() {
        use super::{MAX_DIRECTORY_BYTES, directory_size, list_entries};
        let end = |cd_bytes: u32, entries: u16| {
            let mut r = vec![0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0];
            r.extend(entries.to_le_bytes());
            r.extend(entries.to_le_bytes());
            r.extend(cd_bytes.to_le_bytes());
            r.extend(0u32.to_le_bytes());
            r.extend(0u16.to_le_bytes());
            r
        };
        assert_eq!(directory_size(&end(1234, 3)), Some(1234));
        assert_eq!(directory_size(&end(u32::MAX, 3)), Some(u64::MAX), "ZIP64 marker");
        assert_eq!(directory_size(&end(10, u16::MAX)), Some(u64::MAX), "ZIP64 marker");
        assert_eq!(directory_size(b"no record here"), None);
        let big = end(u32::try_from(MAX_DIRECTORY_BYTES + 1).unwrap_or(u32::MAX - 1), 5);
        let refused = list_entries(std::io::Cursor::new(big)).expect_err("refused");
        assert!(refused.to_string().contains("download the archive instead"), "{refused}");
    }

    #[test]
    fn only_names_inside_the_archive_are_listed() {
        assert_eq!(entry_path("dist/app.js"), Some("dist/app.js"));
        assert_eq!(entry_path("dist/"), Some("dist"));
        for outside in ["/etc/passwd", "../up", "a/../../b", "a//b", "./a", "", "/", "a\0b"] {
            assert_eq!(entry_path(outside), None, "{outside:?}");
        }
    }
}
