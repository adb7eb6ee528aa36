//! Content of files: opening for write, writing, truncating, utimens, copy ranges, and making content
//! durable. Content goes to a staging file; at flush (before `close()` returns) a durable journal record
//! is written; when the last writer closes, the upload is queued behind a short write-back delay.
//!
//! Lock order: `journal_lock` -> `table` -> `queue`. The remote is never called with `table` held.

use super::error::{FsError, FsResult};
use super::journal::{EntryKind, JournalEntry, SEALED_MAX};
use super::lifecycle::{Due, Record};
use super::node::{FileMeta, InodeKind};
use super::staging::LocalFile;
use super::{lock, now, Attr, JottaFs};
use crate::remote::{Remote, RemotePath, UnixTime};
use futures_util::StreamExt;
use std::time::Duration;

/// What a new local copy of a file starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LocalContent {
    /// The file's bytes on the server (downloaded, when it has any).
    FromServer,
    /// Nothing: it is about to be truncated to zero or overwritten whole.
    Empty,
}

/// Who asks for a local copy: a writer is counted (the copy cannot go while it writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opener {
    Writer,
    Other,
}

impl<R: Remote> JottaFs<R> {
    pub(super) fn journal_or_ro(&self) -> FsResult<&super::journal::Journal> {
        self.journal.as_ref().ok_or_else(|| FsError::ReadOnly("the mount is read-only".into()))
    }

    /// Fail early when the account cannot take a file growing to `new_size` (capacity minus usage minus
    /// pending uploads; the file's own queued upload, if any, is already counted in the pending part).
    pub(super) fn check_space(&self, ino: u64, new_size: u64) -> FsResult<()> {
        let (current, queued) = {
            let table = lock(&self.table);
            let local = table.get(ino).and_then(|n| n.local.as_ref());
            let current = local.map(|l| l.size).unwrap_or(0);
            let queued = local.map(|l| self.queue.queued_size(l.id)).unwrap_or(0);
            (current, queued)
        };
        if new_size <= current {
            return Ok(());
        }
        // Never a round trip here: the last known figures (see offline.rs); none known and the service
        // unreachable, the write is taken on trust.
        let Some(s) = self.space_for_write()? else { return Ok(()) };
        let needed = new_size.saturating_sub(queued);
        if !s.unlimited && needed > s.free {
            return Err(FsError::NoSpace(format!(
                "JottaCloud account full: {} bytes free after pending uploads, this file needs {needed}",
                s.free
            )));
        }
        Ok(())
    }

    pub(super) fn local_io(e: std::io::Error) -> FsError {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            FsError::NoSpace("the cache disk is full; free space there (nothing written so far is lost)".into())
        } else {
            FsError::Io(format!("staging file: {e}"))
        }
    }

    /// Make sure a file has a local copy (with the server's content, or empty), and count one more writer
    /// when `who` is one.
    pub(super) fn ensure_local(&self, ino: u64, content: LocalContent, who: Opener) -> FsResult<()> {
        let (fetch, writer) = (content == LocalContent::FromServer, who == Opener::Writer);
        let journal = self.journal_or_ro()?;
        let (path, size, on_server) = {
            let mut table = lock(&self.table);
            let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
            if node.kind != InodeKind::File {
                return Err(FsError::IsADirectory);
            }
            if let Some(l) = node.local.as_mut() {
                if writer {
                    l.writers += 1;
                }
                return Ok(());
            }
            let size = node.file.as_ref().map(|f| f.size).unwrap_or(0);
            let on_server = node.on_server();
            (table.path(ino).ok_or(FsError::NotFound)?, size, on_server)
        };
        let id = journal.new_id();
        let mut local = LocalFile::create(id, &journal.staging_path(id), now()).map_err(Self::local_io)?;
        if fetch && on_server && size > 0 {
            self.fetch_into_local(&path, &mut local)?;
        }
        let mut table = lock(&self.table);
        let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
        local.mtime = node.mtime;
        if fetch && on_server {
            local.fetched();
        }
        if let Some(existing) = node.local.as_mut() {
            // Someone else made a local copy meanwhile; use theirs.
            journal.remove(id);
            if writer {
                existing.writers += 1;
            }
            return Ok(());
        }
        if writer {
            local.writers = 1;
        }
        node.local = Some(Box::new(local));
        Ok(())
    }

    /// Download the whole current content into a fresh staging file (hashing as it arrives).
    pub(super) fn fetch_into_local(&self, path: &RemotePath, local: &mut LocalFile) -> FsResult<()> {
        self.rt.block_on(async {
            let mut stream = self.remote.download(path, None).await?;
            let mut offset = 0u64;
            while let Some(piece) = stream.next().await {
                let piece = piece?;
                local.write_at(offset, &piece).map_err(Self::local_io)?;
                offset += piece.len() as u64;
            }
            Ok::<(), FsError>(())
        })
    }

    pub(super) fn open_for_write(&self, ino: u64, truncate: bool) -> FsResult<()> {
        let content = if truncate { LocalContent::Empty } else { LocalContent::FromServer };
        self.ensure_local(ino, content, Opener::Writer)?;
        if truncate {
            self.with_local(ino, Some(0), |l| l.truncate(0))?;
        }
        Ok(())
    }

    /// Run a change on a file's local copy; `from` is the first byte it may alter (None: metadata only).
    /// The change goes to a duplicate under a new id when the bytes it alters are promised elsewhere:
    /// to an upload in flight (which keeps reading exactly the bytes it announced), or to a durable
    /// journal record (which keeps standing for the file until the changed copy is recorded).
    pub(super) fn with_local<T>(
        &self,
        ino: u64,
        from: Option<u64>,
        f: impl FnOnce(&mut LocalFile) -> std::io::Result<T>,
    ) -> FsResult<T> {
        self.journal_or_ro()?;
        let mut table = loop {
            let table = lock(&self.table);
            let local = table.get(ino).ok_or(FsError::NotFound)?.local.as_ref().ok_or(FsError::BadHandle)?;
            if !self.must_copy(local, from) {
                break table;
            }
            drop(table);
            self.copy_aside(ino, from)?;
        };
        let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
        let local = node.local.as_mut().ok_or(FsError::BadHandle)?;
        let out = f(local).map_err(Self::local_io)?;
        if from.is_none() {
            local.metadata_changed();
        }
        // Pages the kernel cached before this change are stale now: writes through write-only handles
        // bypass its cache (kernels since 6.6 drop the written range themselves; older ones do not).
        node.generation += 1;
        node.changed_at = Some(now());
        Ok(out)
    }

    /// Whether a change from byte `from` must go to a copy (see `with_local`). A change of the time
    /// alone (`from` None) never does: the bytes stay those of the record (an upload in flight sends
    /// them, and the new time follows as an overlay). A copy would be hashed afresh, and a staging file
    /// that a crash damaged would be given an md5 that blesses the damage.
    fn must_copy(&self, local: &LocalFile, from: Option<u64>) -> bool {
        let Some(from) = from else { return false };
        let recorded = local.record.as_ref().is_some_and(|r| from < r.size);
        recorded || self.queue.is_in_flight(local.id)
    }

    /// Copy a file's local copy under a new id, with neither `table` nor `journal_lock` held (a large
    /// pending file rewritten in place would otherwise freeze the whole mount for the copy's duration).
    /// The file's gate keeps two writers of the same file from copying at once; a copy that a change
    /// overtook is thrown away, and the caller looks again.
    fn copy_aside(&self, ino: u64, from: Option<u64>) -> FsResult<()> {
        let journal = self.journal_or_ro()?;
        let gate = self.gate(ino);
        let _gate = lock(&gate);
        let source = {
            let table = lock(&self.table);
            let local = table.get(ino).ok_or(FsError::NotFound)?.local.as_ref().ok_or(FsError::BadHandle)?;
            if !self.must_copy(local, from) {
                return Ok(());
            }
            (local.id, local.version, local.file.clone(), local.size, local.mtime)
        };
        let (old_id, version, file, size, mtime) = source;
        let id = journal.new_id();
        super::test_hold::wait("copy");
        let mut copy = LocalFile::copy_of(&file, size, id, &journal.staging_path(id), mtime).map_err(Self::local_io)?;
        let mut table = lock(&self.table);
        let current =
            table.get_mut(ino).and_then(|n| n.local.as_mut()).filter(|l| l.id == old_id && l.version == version);
        let Some(local) = current else {
            drop(table);
            journal.remove(id);
            return Ok(());
        };
        copy.writers = local.writers;
        // While an upload of the old id is in flight, that upload (settled as stale) stands for nothing
        // the user still needs; otherwise the old durable record stands until the copy is recorded.
        let in_flight = self.queue.is_in_flight(old_id);
        copy.supersedes = if in_flight { None } else { Some(old_id) }.or(local.supersedes);
        if local.is_orphaned() {
            copy.orphan();
        }
        **local = copy;
        Ok(())
    }

    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        let handle = self.handle(fh)?;
        if !handle.write {
            return Err(FsError::BadHandle);
        }
        let ino = handle.ino;
        self.count_writer(&handle)?;
        self.check_space(ino, offset + data.len() as u64)?;
        // Paced by the md5 of what was written before (with no lock held): see `wait_for_room`.
        super::hasher::wait_for_room(data.len());
        self.with_local(ino, Some(offset), |l| {
            l.write_at(offset, data)?;
            l.mtime = now();
            Ok(())
        })?;
        Ok(data.len() as u32)
    }

    /// fallocate(2) through a write handle: plain allocation (the file grows to cover the range) and
    /// `FALLOC_FL_KEEP_SIZE` (space reserved only). Punching holes, zeroing and collapsing ranges are
    /// refused: the service stores whole files, and no program needs them to work.
    pub fn fallocate(&self, fh: u64, offset: u64, len: u64, mode: i32) -> FsResult<()> {
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return Err(FsError::Unsupported("fallocate modes other than allocation (FALLOC_FL_KEEP_SIZE)"));
        }
        let keep_size = mode & libc::FALLOC_FL_KEEP_SIZE != 0;
        let handle = self.handle(fh)?;
        if !handle.write {
            return Err(FsError::BadHandle);
        }
        let ino = handle.ino;
        self.count_writer(&handle)?;
        let end = offset.checked_add(len).ok_or(FsError::TooBig("fallocate past the largest offset".into()))?;
        if !keep_size {
            self.check_space(ino, end)?;
            // As for a truncate: a staging disk without fallocate would take any size now, sparse.
            self.staging_can_hold(ino, end)?;
        }
        // No byte of the content changes: only a growth (zeros past the end) is a change of content,
        // so a copy promised elsewhere (a record, an upload in flight) is copied aside only for that.
        let size = lock(&self.table).get(ino).and_then(|n| n.local.as_ref().map(|l| l.size)).unwrap_or(0);
        let from = (!keep_size && end > size).then_some(size);
        self.with_local(ino, from, |l| {
            let before = l.size;
            l.allocate(offset, len, keep_size)?;
            if l.size != before {
                l.mtime = now();
            }
            Ok(())
        })
    }

    /// Before a handle's write: make sure the file has a local copy and the handle is counted among its
    /// writers. A handle opened on a file with no local copy fetches it here, at its first write; one
    /// whose copy was handed to the server (a whole-file server-side copy) takes it back. The handle's
    /// own lock makes two writes racing on it count it once.
    fn count_writer(&self, handle: &super::OpenFile<R>) -> FsResult<()> {
        let mut counted = lock(&handle.counted);
        let has_local = lock(&self.table).get(handle.ino).is_some_and(|n| n.local.is_some());
        if *counted && has_local {
            return Ok(());
        }
        self.ensure_local(handle.ino, LocalContent::FromServer, Opener::Writer)?;
        *counted = true;
        Ok(())
    }

    /// Make the current content durable: md5, then the journal record, before `close()` returns.
    pub fn commit(&self, ino: u64) -> FsResult<()> {
        self.commit_with(ino, true)
    }

    /// `durable: false` skips flushing the staging file to disk: for fsync, which waits for the server
    /// anyway, so the local flush would only double the work.
    ///
    /// The slow parts (flush, md5, the record's fsync, the folder's fsync, or a small file's seal) run with
    /// no lock held;
    /// `journal_lock` covers only checking that the content is still the one hashed, putting the record
    /// in place and the stage change, so a close never waits for another file's fsync.
    pub(super) fn commit_with(&self, ino: u64, durable: bool) -> FsResult<()> {
        let journal = self.journal_or_ro()?;
        loop {
            let (local, path, due) = {
                let table = lock(&self.table);
                let node = table.get(ino).ok_or(FsError::NotFound)?;
                let Some(l) = &node.local else { return Ok(()) };
                let due = l.due(durable);
                if due == Due::Nothing {
                    return Ok(());
                }
                (l.clone(), table.path(ino).ok_or(FsError::NotFound)?, due)
            };
            if due == Due::Flush {
                // Recorded already (by fsync, which skips the local flush) but not yet on disk: close()
                // must still make the content durable, unless the upload is done and the server holds it.
                if self.queue.contains(local.id) {
                    local.file.sync_data().map_err(Self::local_io)?;
                    let mut table = lock(&self.table);
                    if let Some(l) = table.get_mut(ino).and_then(|n| n.local.as_mut()) {
                        if l.id == local.id && l.version == local.version {
                            l.flushed();
                        }
                    }
                }
                return Ok(());
            }
            let (md5, seq, full) = match &due {
                // Content already durably recorded (only the time or name changed): an overlay is enough,
                // and the md5 is the record's (never a new pass over a staging file a crash may have hurt).
                Due::Overlay(r) => (r.md5.clone(), r.seq, false),
                _ => {
                    let md5 = local.md5().map_err(Self::local_io)?;
                    // Above the record it replaces, and above any record of an earlier version of this
                    // copy: two commits that overlap (a close racing the flush a forked child's exec sends
                    // mid-write) never share a number unless they hold the same content, so recovery takes
                    // the later content, never a seal of a prefix over the close that returned.
                    let prev = local.record.as_ref().map(|r| r.seq).unwrap_or(0);
                    (md5, prev + 1 + local.version, true)
                }
            };
            let mut entry = JournalEntry {
                id: local.id,
                path: path.to_string(),
                size: local.size,
                md5,
                mtime: local.mtime,
                last_error: None,
                seq,
                kind: EntryKind::File,
            };
            // A small file's first record is sealed: the record and the content in one new file, one
            // flush (see `journal.rs`). It lies in place at once; should the content change or the file go
            // before it takes effect below, it is withdrawn.
            let may_seal = full && durable && local.record.is_none() && local.size <= SEALED_MAX;
            let sealed = may_seal && journal.seal(&entry, &local.file).map_err(Self::local_io)?;
            // Otherwise the content's flush and the record's (written and flushed under its temporary
            // name) are independent: they run side by side, so a close waits for the slower of the two
            // rather than their sum. Both are done before the record is put in place.
            let prepared = if full && !sealed {
                let (content, record) = std::thread::scope(|s| {
                    let content = durable.then(|| s.spawn(|| local.file.sync_data()));
                    let record = journal.prepare(&entry);
                    let content =
                        content.map(|h| h.join().unwrap_or_else(|_| Err(std::io::Error::other("flush failed"))));
                    (content.unwrap_or(Ok(())), record)
                });
                let record = record.map_err(Self::local_io)?;
                if let Err(e) = content {
                    journal.discard(record);
                    return Err(Self::local_io(e));
                }
                Some(record)
            } else {
                None
            };
            let journal_guard = lock(&self.journal_lock);
            let mut table = lock(&self.table);
            let Some(node) = table.get(ino) else {
                drop(table);
                if sealed {
                    journal.unseal(local.id);
                }
                return Ok(());
            };
            let still =
                node.local.as_ref().is_some_and(|l| l.id == local.id && l.version == local.version && !l.is_orphaned());
            if !still {
                // Changed, dropped or unlinked while we hashed: look again (an unlinked copy owes nothing).
                drop(table);
                if let Some(p) = prepared {
                    journal.discard(p);
                }
                if sealed {
                    journal.unseal(local.id);
                }
                continue;
            }
            // Renamed meanwhile: the record goes to the path the file has now.
            let now_at = table.path(ino).map(|p| p.to_string()).unwrap_or_else(|| entry.path.clone());
            let moved = now_at != entry.path;
            entry.path = now_at;
            match prepared {
                Some(p) => {
                    journal.install(p).map_err(Self::local_io)?;
                    if moved {
                        journal.write_metadata(&entry).map_err(Self::local_io)?;
                    }
                }
                None if sealed && !moved => {}
                None => journal.write_metadata(&entry).map_err(Self::local_io)?,
            }
            let Some(l) = table.get_mut(ino).and_then(|n| n.local.as_mut()) else { return Ok(()) };
            let standing = Record { seq: entry.seq, md5: entry.md5.clone(), size: entry.size };
            l.recorded(standing.clone(), durable);
            let superseded = if full { l.supersedes.take() } else { None };
            let delay = if l.writers > 0 { Duration::from_secs(3600) } else { self.cfg.writeback_delay };
            let id = entry.id;
            self.queue.schedule(entry, Some(ino), delay);
            drop(table);
            if let Some(old) = superseded {
                // The changed copy is recorded now; the earlier record has nothing left to keep. (One in
                // flight finishes and is settled as stale.)
                if self.queue.cancel(old) || !self.queue.contains(old) {
                    journal.remove(old);
                }
            }
            drop(journal_guard);
            if sealed && superseded.is_none() {
                journal.sync_sealed().map_err(Self::local_io)?;
            } else if full {
                // Also makes the superseded record's removal durable: it must not come back beside this one.
                journal.sync_records().map_err(Self::local_io)?;
                if durable && !sealed && (local.record.is_some() || may_seal) {
                    // This record and its content are durable now: a seal of the id has nothing left to
                    // keep. That is a seal of the first content (replaced here), or one of the same content
                    // written by a close that raced this one (its seal was first, so this one wrote an
                    // ordinary record; both passed the check above, so both hold this version). Only
                    // while this record still stands: meanwhile the upload may have settled and a new
                    // first content been sealed under the same id, which must stay.
                    let _journal_guard = lock(&self.journal_lock);
                    let table = lock(&self.table);
                    let now = table.get(ino).and_then(|n| n.local.as_ref());
                    if now.is_some_and(|l| l.id == id && l.record.as_ref() == Some(&standing)) {
                        journal.unseal(id);
                    }
                }
            }
            return Ok(());
        }
    }

    /// fsyncdir(): returns once every change to the folder's entries is in the local journal or on the
    /// server. Files waiting for upload in it are recorded (as at close), the overlays that hold their
    /// new names and times are flushed, and the journal's own folders are flushed so that records removed
    /// (files deleted before their upload) stay removed. Changes of files already on the server were
    /// made there when they happened.
    pub fn fsyncdir(&self, ino: u64) -> FsResult<()> {
        let Some(journal) = &self.journal else { return Ok(()) };
        let pending: Vec<u64> = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            if !node.kind.is_dir() {
                return Err(FsError::NotADirectory);
            }
            node.children
                .iter()
                .flatten()
                .copied()
                .filter(|c| table.get(*c).is_some_and(|n| n.local.is_some()))
                .collect()
        };
        for child in pending {
            self.commit(child)?;
            let id = lock(&self.table).get(child).and_then(|n| n.local.as_ref().map(|l| l.id));
            if let Some(id) = id {
                journal.sync_overlay(id).map_err(Self::local_io)?;
            }
        }
        journal.sync_records().map_err(Self::local_io)?;
        journal.sync_staging().map_err(Self::local_io)
    }

    /// flush(): called for every close(); what it returns is what close() returns.
    pub fn flush(&self, fh: u64) -> FsResult<()> {
        let handle = self.handle(fh)?;
        if handle.write {
            self.commit(handle.ino)?;
        }
        Ok(())
    }

    /// The last writer has closed: the upload may start after the write-back delay.
    pub(super) fn writer_closed(&self, ino: u64) -> FsResult<()> {
        let id = {
            let mut table = lock(&self.table);
            let Some(l) = table.get_mut(ino).and_then(|n| n.local.as_mut()) else { return Ok(()) };
            l.writers = l.writers.saturating_sub(1);
            if l.writers > 0 {
                return Ok(());
            }
            l.id
        };
        self.commit(ino)?;
        if self.queue.contains(id) {
            self.queue.postpone(id, self.cfg.writeback_delay);
        }
        self.queue.wake.notify_one();
        Ok(())
    }

    /// fsync(), the local part: record the content and start its upload now. Returns the upload to wait
    /// for and its attempts so far (None: the server has the content already); `replies.rs` waits for
    /// it off the FUSE worker.
    pub(super) fn fsync_start(&self, fh: u64) -> FsResult<Option<(u64, u32)>> {
        let handle = self.handle(fh)?;
        self.commit_with(handle.ino, false)?;
        let id = lock(&self.table).get(handle.ino).and_then(|n| n.local.as_ref().map(|l| l.id));
        let Some(id) = id else { return Ok(None) };
        if !self.queue.contains(id) {
            return Ok(None);
        }
        // Counted before the upload is started, so the outcome of the attempt it starts is this fsync's
        // (a worker quick enough to fail it before the wait begins must not leave the wait hanging).
        let attempts = self.queue.attempts(id);
        self.queue.force(id);
        Ok(Some((id, attempts)))
    }

    /// setattr: size (truncate) and mtime (utimens) are honoured; mode and owner are accepted and
    /// ignored (JottaCloud stores neither, README says so).
    pub fn setattr(&self, ino: u64, size: Option<u64>, mtime: Option<UnixTime>) -> FsResult<Attr> {
        let kind = lock(&self.table).get(ino).map(|n| n.kind).ok_or(FsError::NotFound)?;
        if size.is_some() && kind != InodeKind::File {
            // truncate(2) of a folder, as the kernel answers it for a local one.
            return Err(FsError::IsADirectory);
        }
        if kind == InodeKind::File && (size.is_some() || mtime.is_some()) {
            self.journal_or_ro()?;
        }
        if let (Some(size), InodeKind::File) = (size, kind) {
            self.truncate_file(ino, size)?;
        }
        if let (Some(t), InodeKind::File) = (mtime, kind) {
            self.set_file_mtime(ino, t)?;
        }
        self.getattr(ino)
    }

    /// truncate: on the local copy, fetched first if there is none. The upload of a closed file may
    /// settle (and its local copy go) between the look and the change: then it is fetched again.
    fn truncate_file(&self, ino: u64, size: u64) -> FsResult<()> {
        for _ in 0..3 {
            let has_local = lock(&self.table).get(ino).map(|n| n.local.is_some()).unwrap_or(false);
            if !has_local {
                let content = if size > 0 { LocalContent::FromServer } else { LocalContent::Empty };
                self.ensure_local(ino, content, Opener::Other)?;
            }
            self.check_space(ino, size)?;
            let changed = self.with_local(ino, Some(size), |l| {
                l.truncate(size)?;
                l.mtime = now();
                Ok(())
            });
            match changed {
                Err(FsError::BadHandle) => continue,
                other => other?,
            }
            return self.commit_if_closed(ino);
        }
        Err(FsError::Io("the file kept changing between its local copy and the server; try again".into()))
    }

    pub(super) fn commit_if_closed(&self, ino: u64) -> FsResult<()> {
        let closed = lock(&self.table).get(ino).and_then(|n| n.local.as_ref().map(|l| l.writers == 0)).unwrap_or(false);
        if closed {
            self.commit(ino)?;
        }
        Ok(())
    }

    /// utimens: a pending file takes the time into its journal record; a file already on the server
    /// gets it with a metadata call (cphash), no bytes sent.
    pub(super) fn set_file_mtime(&self, ino: u64, t: UnixTime) -> FsResult<()> {
        // The upload of a closed file may settle (and its local copy go) between the look and the
        // change: then the time goes to the server instead, on the next round.
        for _ in 0..3 {
            let remote_call = {
                let table = lock(&self.table);
                let path = table.path(ino).ok_or(FsError::NotFound)?;
                let node = table.get(ino).ok_or(FsError::NotFound)?;
                // The time it has already (the kernel writes back the times of a written file, often
                // after its upload): nothing to record, no request. Only where that time is known to be
                // kept: recorded with the local copy, or set on the server by this mount lately (not a
                // listing's word, which another client may have overtaken).
                let kept = match &node.local {
                    Some(l) => l.mtime == t && l.due(true) == Due::Nothing,
                    None => node.mtime == t && node.touched_at.is_some_and(|at| at.elapsed() < self.cfg.dir_ttl),
                };
                if kept {
                    return Ok(());
                }
                node.local.is_none().then(|| (path, node.file.clone().unwrap_or_default()))
            };
            let Some((path, meta)) = remote_call else {
                let changed = self.with_local(ino, None, |l| {
                    l.mtime = t;
                    Ok(())
                });
                match changed {
                    Err(FsError::BadHandle) => continue,
                    other => other?,
                }
                return self.commit_if_closed(ino);
            };
            let md5 = meta.md5_hex().ok_or_else(|| FsError::Io(format!("{path}: the server gave no md5")))?;
            let info = self.rt.block_on(self.remote.set_times(&path, meta.size, &md5, t, t))?;
            let mut table = lock(&self.table);
            if let Some(node) = table.get_mut(ino) {
                node.mtime = info.modified().unwrap_or(t);
                node.file = Some(FileMeta::from_info(&info));
                node.changed_at = Some(now());
            }
            return Ok(());
        }
        Err(FsError::Io("the file kept changing between its local copy and the server; try again".into()))
    }

    /// copy_file_range: a whole file onto a new empty file is a server-side copy (no bytes travel);
    /// anything else is copied through the local copy like ordinary reads and writes.
    pub fn copy_range(&self, fh_in: u64, off_in: u64, fh_out: u64, off_out: u64, len: u64) -> FsResult<u64> {
        let src = self.handle(fh_in)?.ino;
        let dst = self.handle(fh_out)?.ino;
        let whole = {
            let table = lock(&self.table);
            let s = table.get(src).ok_or(FsError::NotFound)?;
            let d = table.get(dst).ok_or(FsError::NotFound)?;
            let s_size = s.file.as_ref().map(|f| f.size).unwrap_or(0);
            let d_fresh = !d.on_server() && d.local.as_ref().map(|l| l.size == 0).unwrap_or(false);
            let whole =
                off_in == 0 && off_out == 0 && len >= s_size && s_size > 0 && s.local.is_none() && s.on_server();
            (whole && d_fresh).then(|| (table.path(src), table.path(dst), s_size))
        };
        if let Some((Some(from), Some(to), size)) = whole {
            let copied = self.rt.block_on(self.remote.copy(&from, &to))?;
            // A copy is a file written now, as `cp` makes one on a local disk (`make` and the like go by
            // that); the service's copy keeps the source's time, so the copy's is set (no bytes travel).
            let t = now();
            let info = match FileMeta::from_info(&copied).md5_hex() {
                Some(md5) => match self.rt.block_on(self.remote.set_times(&to, size, &md5, t, t)) {
                    Ok(info) => info,
                    Err(e) => {
                        log::warn!("{to}: copied, but its time stays the source's: {e}");
                        copied
                    }
                },
                None => copied,
            };
            self.drop_local(dst);
            let mut table = lock(&self.table);
            if let Some(d) = table.get_mut(dst) {
                d.mtime = info.modified().unwrap_or(d.mtime);
                d.file = Some(FileMeta::from_info(&info));
            }
            return Ok(size);
        }
        let mut done = 0u64;
        while done < len {
            let piece = self.read(fh_in, off_in + done, (len - done).min(1 << 20) as u32)?;
            if piece.is_empty() {
                break;
            }
            self.write(fh_out, off_out + done, &piece)?;
            done += piece.len() as u64;
        }
        Ok(done)
    }
}
