//! The operations whose answer may have to wait for the network: a read waiting for a download, an
//! fsync waiting for an upload. None of them waits on the calling (FUSE worker) thread: what is at hand
//! is answered at once; the rest is answered where the work completes (by the download that brings a
//! read's bytes, see `reader.rs`, or by a task on the runtime), so a hanging service holds only its own
//! callers, never the workers that `stat`, `ls` and cached reads need.
//!
//! Every reply is sent exactly once: each path below ends in one call of it, and a task that dies
//! drops it, which the FUSE adapter's reply objects answer with EIO. A wait is always bounded: a
//! download fails after the HTTP client's read timeout and the reader's retries, an fsync after its
//! upload's first failed attempt (the reason is logged) or `FSYNC_LIMIT`.

use super::error::{FsError, FsResult};
use super::node::{Inode, InodeTable};
use super::reader::{FileReader, ReadReply};
use super::{content_of, lock, JottaFs, OpenFile};
use crate::remote::Remote;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

/// The longest an fsync waits for its upload (the queue keeps retrying afterwards).
const FSYNC_LIMIT: Duration = Duration::from_secs(24 * 3600);

impl<R: Remote> JottaFs<R> {
    /// Read through a handle: from the local copy while there is one (read your own writes), else
    /// streamed from the service. The bytes go to `reply` without a copy when they are in memory.
    pub fn read_to(&self, fh: u64, offset: u64, size: u32, reply: impl ReadReply) {
        let file = match self.handle(fh) {
            Ok(f) => f,
            Err(e) => return reply(Err(e)),
        };
        let (local, reader) = {
            let table = lock(&self.table);
            let node = table.get(file.ino);
            match node.and_then(|n| n.local.as_ref()) {
                Some(l) => (Some((l.file.clone(), l.size)), None),
                None => (None, Some(self.current_reader(&table, &file, node))),
            }
        };
        if let Some((f, size_now)) = local {
            // A local disk read: answered here.
            let n = if offset >= size_now { 0 } else { (size as u64).min(size_now - offset) as usize };
            let mut buf = vec![0u8; n];
            return match f.read_exact_at(&mut buf, offset) {
                Ok(()) => reply(Ok(&buf)),
                Err(e) => reply(Err(FsError::Io(format!("reading the local copy: {e}")))),
            };
        }
        let Some(reader) = reader else { return };
        if let Some(waiting) = reader.read_now(offset, size, reply) {
            self.rt.spawn(async move { waiting.finish(&reader).await });
        }
    }

    /// The handle's reader of the server's copy, made anew when the file's content or path changed
    /// since it was made (see `ReaderOf`). Called with the table locked (`node`: the handle's inode).
    fn current_reader(&self, table: &InodeTable, file: &OpenFile<R>, node: Option<&Inode>) -> Arc<FileReader<R>> {
        let mut current = lock(&file.reader);
        let Some(node) = node else { return current.reader.clone() };
        let content = content_of(node);
        if current.content != content || current.moves != table.moves() {
            // A file no longer in the namespace (unlinked while open) keeps the reader it has.
            if let Some(path) = table.path(file.ino) {
                if current.content != content || &path != current.reader.path() {
                    log::debug!("{path}: an open handle's reader follows the file's new content or path");
                    *current = self.reader_of(path, content, table.moves());
                }
            }
            current.moves = table.moves();
        }
        current.reader.clone()
    }

    /// `read_to` into an owned buffer, for the core's own use (copying ranges). Blocks the calling
    /// thread while the bytes are downloaded: never call it from a runtime thread.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.read_to(fh, offset, size, move |r: FsResult<&[u8]>| {
            let _ = tx.send(r.map(<[u8]>::to_vec));
        });
        rx.recv().map_err(|_| FsError::Io("a read ended without an answer (the mount is stopping)".into()))?
    }

    /// fsync(): `done` gets the outcome once the content is on the server (or its upload failed). The
    /// content is recorded here; the wait for the upload happens in a task.
    pub fn fsync(self: &Arc<Self>, fh: u64, done: impl FnOnce(FsResult<()>) + Send + 'static) {
        let (id, since) = match self.fsync_start(fh) {
            Ok(Some(started)) => started,
            Ok(None) => return done(Ok(())),
            Err(e) => return done(Err(e)),
        };
        let fs = self.clone();
        self.rt.spawn(async move { done(fs.queue.wait_done(id, since, FSYNC_LIMIT).await.map_err(FsError::Io)) });
    }
}
