//! A blocking `Read + Seek` over one stored blob that fetches it through the blob-store port a
//! block at a time: what the zip reader needs to list an artifact archive's central directory
//! or inflate one entry without copying the whole archive. The store may be a local directory
//! or, later, an object store where each block is one ranged GET.
//!
//! It waits on the runtime (`Handle::block_on`), so it may only be used on a blocking thread
//! (`tokio::task::spawn_blocking`), never on a runtime worker.

use autogit_store::blob::{BlobKey, BlobStore};
use futures_util::StreamExt;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;
use tokio::runtime::Handle;

/// One fetch: large enough that reading a central directory or inflating a file takes few
/// round trips, small enough that a reader costs little memory.
const BLOCK: u64 = 256 * 1024;

pub(crate) struct BlobReader {
    blobs: Arc<dyn BlobStore>,
    key: BlobKey,
    size: u64,
    pos: u64,
    /// The bytes of `held` (a part of the blob), fetched last.
    held: Range<u64>,
    data: Vec<u8>,
    runtime: Handle,
}

impl BlobReader {
    /// A reader over the blob `key` of `size` bytes (the size the store reported).
    pub(crate) fn new(blobs: Arc<dyn BlobStore>, key: BlobKey, size: u64, runtime: Handle) -> BlobReader {
        BlobReader { blobs, key, size, pos: 0, held: 0..0, data: Vec::new(), runtime }
    }

    fn fetch(&mut self, range: Range<u64>) -> io::Result<()> {
        let (blobs, key) = (self.blobs.clone(), self.key.clone());
        let wanted = range.clone();
        let data = self.runtime.block_on(async move {
            let opened = blobs.open(&key, Some(wanted.clone())).await.map_err(io::Error::other)?;
            let mut out = Vec::with_capacity(usize::try_from(wanted.end - wanted.start).unwrap_or(0));
            let mut body = opened.body;
            while let Some(chunk) = body.next().await {
                out.extend_from_slice(&chunk?);
            }
            Ok::<_, io::Error>(out)
        })?;
        if data.len() as u64 != range.end - range.start {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stored blob is shorter than recorded"));
        }
        self.held = range;
        self.data = data;
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        if !self.held.contains(&self.pos) {
            self.fetch(self.pos..(self.pos + BLOCK).min(self.size))?;
        }
        let at = usize::try_from(self.pos - self.held.start).map_err(io::Error::other)?;
        let n = buf.len().min(self.data.len() - at);
        buf[..n].copy_from_slice(&self.data[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}
