//! The write side of the filesystem core: create, write, truncate, utimens, mkdir, rmdir, unlink, rename,
//! fsync and copy ranges. Content goes to a staging file; at flush (before `close()` returns) a durable
//! journal record is written; when the last writer closes, the upload is queued behind a short
//! write-back delay. Renames and deletes of files not yet uploaded never touch the network.
//!
//! Lock order: `table` -> `queue`. The remote is never called with `table` held.

use super::error::{FsError, FsResult};
use super::journal::JournalEntry;
use super::node::{FileMeta, NodeKind};
use super::staging::LocalFile;
use super::{lock, now, Attr, JottaFs};
use crate::remote::{path::validate_name, Remote, RemotePath, UnixTime};
use futures_util::StreamExt;
use std::time::Duration;

impl<R: Remote> JottaFs<R> {
    fn journal_or_ro(&self) -> FsResult<&super::journal::Journal> {
        self.journal.as_ref().ok_or_else(|| FsError::ReadOnly("the mount is read-only".into()))
    }

    /// Folders below a mount point (and mount points themselves) take new entries; the account root,
    /// devices and the mount-point lists do not.
    fn writable_folder(&self, ino: u64) -> FsResult<()> {
        self.journal_or_ro()?;
        let table = lock(&self.table);
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        match node.kind {
            NodeKind::Folder if node.depth >= 2 => Ok(()),
            NodeKind::File => Err(FsError::NotADirectory),
            _ => Err(FsError::ReadOnly("devices and the list of mount points cannot be changed here".into())),
        }
    }

    /// A new name must follow the service's rules and must not collide, in any letter case, with a
    /// sibling (the service is case-insensitive).
    fn check_new_name(&self, parent: u64, name: &str) -> FsResult<RemotePath> {
        if name.len() > 255 {
            return Err(FsError::NameTooLong);
        }
        if let Err(e) = validate_name(name) {
            log::warn!("refusing name: {e}");
            return Err(FsError::from(e));
        }
        self.writable_folder(parent)?;
        self.ensure_listing(parent, false)?;
        let table = lock(&self.table);
        if let Some(existing) = table.child(parent, name) {
            let shown = table.get(existing).map(|n| n.name.clone()).unwrap_or_default();
            if shown != name {
                log::info!("refusing '{name}': '{shown}' exists and JottaCloud names ignore letter case");
            }
            return Err(FsError::Exists);
        }
        table.path(parent).ok_or(FsError::NotFound)?.join(name).map_err(FsError::from)
    }

    /// Fail early when the account cannot take a file growing to `new_size` (capacity minus usage minus
    /// pending uploads; the file's own queued upload, if any, is already counted in the pending part).
    fn check_space(&self, ino: u64, new_size: u64) -> FsResult<()> {
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
        let s = self.statfs()?;
        let needed = new_size.saturating_sub(queued);
        if !s.unlimited && needed > s.free {
            return Err(FsError::NoSpace(format!(
                "JottaCloud account full: {} bytes free after pending uploads, this file needs {needed}",
                s.free
            )));
        }
        Ok(())
    }

    fn local_io(e: std::io::Error) -> FsError {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            FsError::NoSpace("the cache disk is full; free space there (nothing written so far is lost)".into())
        } else {
            FsError::Io(format!("staging file: {e}"))
        }
    }

    pub fn create(&self, parent: u64, name: &str) -> FsResult<(Attr, u64)> {
        let path = self.check_new_name(parent, name)?;
        let journal = self.journal_or_ro()?;
        let id = journal.new_id();
        let mut local = LocalFile::create(id, &journal.staging_path(id), now()).map_err(Self::local_io)?;
        local.writers = 1;
        let (ino, attr) = {
            let mut table = lock(&self.table);
            let ino = table.upsert(parent, name, NodeKind::File, local.mtime, Some(FileMeta::default()));
            if let Some(n) = table.get_mut(ino) {
                n.local = Some(local);
            }
            table.add_child(parent, ino);
            table.remember(ino);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            (ino, self.attr_of(ino, node))
        };
        let fh = self.new_handle(ino, path, 0, true);
        Ok((attr, fh))
    }

    /// Make sure a file has a local copy (fetching its content from the service when asked), and count
    /// one more writer if `writer`.
    fn ensure_local(&self, ino: u64, fetch: bool, writer: bool) -> FsResult<()> {
        let journal = self.journal_or_ro()?;
        let (path, size, on_server) = {
            let mut table = lock(&self.table);
            let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
            if node.kind != NodeKind::File {
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
        local.dirty = !fetch || !on_server;
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
        node.local = Some(local);
        Ok(())
    }

    /// Download the whole current content into a fresh staging file (hashing as it arrives).
    fn fetch_into_local(&self, path: &RemotePath, local: &mut LocalFile) -> FsResult<()> {
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
        self.ensure_local(ino, !truncate, true)?;
        if truncate {
            self.with_local(ino, Some(0), |l| l.truncate(0))?;
        }
        Ok(())
    }

    /// Run a change on a file's local copy; `from` is the first byte it may alter (None: metadata only).
    /// The change goes to a duplicate under a new id when the bytes it alters are promised elsewhere:
    /// to an upload in flight (which keeps reading exactly the bytes it announced), or to a durable
    /// journal record (which keeps standing for the file until the changed copy is recorded).
    fn with_local<T>(
        &self,
        ino: u64,
        from: Option<u64>,
        f: impl FnOnce(&mut LocalFile) -> std::io::Result<T>,
    ) -> FsResult<T> {
        let journal = self.journal_or_ro()?;
        let mut table = lock(&self.table);
        let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
        let local = node.local.as_mut().ok_or(FsError::BadHandle)?;
        let in_flight = self.queue.is_in_flight(local.id);
        let recorded = local.queued && local.record_md5.is_some() && from.is_some_and(|f| f < local.record_size);
        if in_flight || recorded {
            let id = journal.new_id();
            let path = journal.staging_path(id);
            std::fs::copy(&local.path, &path).map_err(Self::local_io)?;
            let mut copy = LocalFile::reopen(id, &path, local.size, local.mtime, None).map_err(Self::local_io)?;
            copy.writers = local.writers;
            copy.dirty = true;
            copy.synced = false;
            copy.queued = false;
            copy.supersedes = if in_flight { None } else { Some(local.id) }.or(local.supersedes);
            *local = copy;
        }
        let out = f(local).map_err(Self::local_io)?;
        local.dirty = true;
        local.version += 1;
        // Pages the kernel cached before this change are stale now: writes through write-only handles
        // bypass its cache (kernels since 6.6 drop the written range themselves; older ones do not).
        node.generation += 1;
        Ok(out)
    }

    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        let handle = self.handle(fh)?;
        if !handle.write {
            return Err(FsError::BadHandle);
        }
        let ino = handle.ino;
        let needs_local = lock(&self.table).get(ino).map(|n| n.local.is_none()).unwrap_or(true);
        if needs_local {
            // The local copy was handed to the server (a whole-file server-side copy); take it back.
            self.ensure_local(ino, true, true)?;
        }
        self.check_space(ino, offset + data.len() as u64)?;
        self.with_local(ino, Some(offset), |l| {
            l.write_at(offset, data)?;
            l.mtime = now();
            Ok(())
        })?;
        Ok(data.len() as u32)
    }

    /// Make the current content durable: md5, then the journal record, before `close()` returns.
    pub fn commit(&self, ino: u64) -> FsResult<()> {
        self.commit_with(ino, true)
    }

    /// `durable: false` skips flushing the staging file to disk: for fsync, which waits for the server
    /// anyway, so the local flush would only double the work.
    fn commit_with(&self, ino: u64, durable: bool) -> FsResult<()> {
        let journal = self.journal_or_ro()?;
        loop {
            let snapshot = {
                let table = lock(&self.table);
                let node = table.get(ino).ok_or(FsError::NotFound)?;
                match &node.local {
                    Some(l) if l.dirty => (l.clone(), table.path(ino).ok_or(FsError::NotFound)?),
                    // Recorded already (by fsync, which skips the local flush) but not yet on disk: a
                    // close() must still make the content durable before it returns, unless the upload
                    // is done (it has left the queue) and the server holds it.
                    Some(l) if durable && l.queued && !l.synced && self.queue.contains(l.id) => {
                        let (file, version) = (l.file.clone(), l.version);
                        drop(table);
                        file.sync_data().map_err(Self::local_io)?;
                        let mut table = lock(&self.table);
                        if let Some(l) = table.get_mut(ino).and_then(|n| n.local.as_mut()) {
                            if l.version == version && !l.dirty && l.queued {
                                l.synced = true;
                            }
                        }
                        return Ok(());
                    }
                    _ => return Ok(()),
                }
            };
            let (local, path) = snapshot;
            if durable && !local.synced {
                local.file.sync_data().map_err(Self::local_io)?;
            }
            // Content already durably recorded (only the time or name changed): an overlay is enough,
            // and the md5 is the record's (never a new pass over a staging file a crash may have hurt).
            let metadata_only = local.synced && local.record_md5.is_some();
            let md5 = match (&local.record_md5, metadata_only) {
                (Some(m), true) => m.clone(),
                _ => local.md5().map_err(Self::local_io)?,
            };
            let _journal_guard = lock(&self.journal_lock);
            let current = {
                let table = lock(&self.table);
                table.get(ino).and_then(|n| n.local.as_ref().map(|l| (l.id, l.version, l.dirty)))
            };
            match current {
                None => return Ok(()),
                Some((id, version, dirty)) if id == local.id && version == local.version => {
                    if !dirty {
                        return Ok(());
                    }
                }
                Some(_) => continue, // changed while we hashed: record again
            }
            let path = lock(&self.table).path(ino).unwrap_or(path);
            let entry = JournalEntry {
                id: local.id,
                path: path.to_string(),
                size: local.size,
                md5,
                mtime: local.mtime,
                last_error: None,
                seq: if metadata_only { local.record_seq } else { local.record_seq + 1 },
            };
            if metadata_only {
                journal.write_metadata(&entry).map_err(Self::local_io)?;
            } else {
                journal.write(&entry).map_err(Self::local_io)?;
            }
            let mut table = lock(&self.table);
            let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
            let Some(l) = node.local.as_mut() else { return Ok(()) };
            if l.id != local.id || l.version != local.version {
                continue; // changed while we wrote the record: record again
            }
            l.dirty = false;
            l.queued = true;
            l.synced = l.synced || durable;
            l.record_seq = entry.seq;
            l.record_md5 = Some(entry.md5.clone());
            l.record_size = entry.size;
            let superseded = if metadata_only { None } else { l.supersedes.take() };
            let delay = if l.writers > 0 { Duration::from_secs(3600) } else { self.cfg.writeback_delay };
            self.queue.schedule(entry, Some(ino), delay);
            drop(table);
            if let Some(old) = superseded {
                // The changed copy is recorded now; the earlier record has nothing left to keep. (One in
                // flight finishes and is settled as stale.)
                if self.queue.cancel(old) || !self.queue.contains(old) {
                    journal.remove(old);
                }
            }
            return Ok(());
        }
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
        // Counted before the upload is started, so the outcome of the attempt it starts is this fsync's.
        let attempts = self.queue.attempts(id);
        self.queue.force(id);
        Ok(Some((id, attempts)))
    }

    /// setattr: size (truncate) and mtime (utimens) are honoured; mode and owner are accepted and
    /// ignored (JottaCloud stores neither, README says so).
    pub fn setattr(&self, ino: u64, size: Option<u64>, mtime: Option<UnixTime>) -> FsResult<Attr> {
        let kind = lock(&self.table).get(ino).map(|n| n.kind).ok_or(FsError::NotFound)?;
        if kind == NodeKind::File && (size.is_some() || mtime.is_some()) {
            self.journal_or_ro()?;
        }
        if let (Some(size), NodeKind::File) = (size, kind) {
            let has_local = lock(&self.table).get(ino).map(|n| n.local.is_some()).unwrap_or(false);
            if !has_local {
                self.ensure_local(ino, size > 0, false)?;
            }
            self.check_space(ino, size)?;
            self.with_local(ino, Some(size), |l| {
                l.truncate(size)?;
                l.mtime = now();
                Ok(())
            })?;
            self.commit_if_closed(ino)?;
        }
        if let (Some(t), NodeKind::File) = (mtime, kind) {
            self.set_file_mtime(ino, t)?;
        }
        self.getattr(ino)
    }

    fn commit_if_closed(&self, ino: u64) -> FsResult<()> {
        let closed = lock(&self.table).get(ino).and_then(|n| n.local.as_ref().map(|l| l.writers == 0)).unwrap_or(false);
        if closed {
            self.commit(ino)?;
        }
        Ok(())
    }

    /// utimens: a pending file takes the time into its journal record; a file already on the server
    /// gets it with a metadata call (cphash), no bytes sent.
    fn set_file_mtime(&self, ino: u64, t: UnixTime) -> FsResult<()> {
        let remote_call = {
            let mut table = lock(&self.table);
            let path = table.path(ino).ok_or(FsError::NotFound)?;
            let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
            match node.local.as_ref() {
                Some(_) => None,
                None => {
                    let meta = node.file.clone().unwrap_or_default();
                    Some((path, meta))
                }
            }
        };
        match remote_call {
            None => {
                self.with_local(ino, None, |l| {
                    l.mtime = t;
                    Ok(())
                })?;
                self.commit_if_closed(ino)
            }
            Some((path, meta)) => {
                let md5 = meta.md5_hex().ok_or_else(|| FsError::Io(format!("{path}: the server gave no md5")))?;
                let info = self.rt.block_on(self.remote.set_times(&path, meta.size, &md5, t, t))?;
                let mut table = lock(&self.table);
                if let Some(node) = table.get_mut(ino) {
                    node.mtime = info.modified().unwrap_or(t);
                    node.file = Some(FileMeta::from_info(&info));
                }
                Ok(())
            }
        }
    }

    pub fn mkdir(&self, parent: u64, name: &str) -> FsResult<Attr> {
        let path = self.check_new_name(parent, name)?;
        self.rt.block_on(self.remote.mkdir(&path))?;
        let mut table = lock(&self.table);
        let ino = table.upsert(parent, name, NodeKind::Folder, self.mounted_at, None);
        table.set_children(ino, Vec::new());
        table.add_child(parent, ino);
        table.remember(ino);
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        Ok(self.attr_of(ino, node))
    }

    fn child_exact(&self, parent: u64, name: &str) -> FsResult<u64> {
        self.ensure_listing(parent, false)?;
        let table = lock(&self.table);
        let ino = table.child(parent, name).ok_or(FsError::NotFound)?;
        match table.get(ino) {
            Some(n) if n.name == name => Ok(ino),
            _ => Err(FsError::NotFound),
        }
    }

    /// Forget a file's pending upload (deleted or replaced); an upload in flight deletes its result.
    fn drop_local(&self, ino: u64) {
        let _journal_guard = lock(&self.journal_lock);
        self.drop_local_locked(ino);
    }

    /// `drop_local` with `journal_lock` already held.
    fn drop_local_locked(&self, ino: u64) {
        let local = lock(&self.table).get_mut(ino).and_then(|n| n.local.take());
        let ids = local.map(|l| [Some(l.id), l.supersedes]).unwrap_or_default();
        let Some(journal) = &self.journal else { return };
        // The record a changed copy supersedes goes too: it stands for the same file.
        for id in ids.into_iter().flatten() {
            if self.queue.cancel(id) || !self.queue.contains(id) {
                journal.remove(id);
            }
        }
    }

    pub fn unlink(&self, parent: u64, name: &str) -> FsResult<()> {
        self.writable_folder(parent)?;
        let ino = self.child_exact(parent, name)?;
        let (path, kind) = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            (table.path(ino).ok_or(FsError::NotFound)?, node.kind)
        };
        if kind != NodeKind::File {
            return Err(FsError::IsADirectory);
        }
        {
            // Decided under the journal lock, so an upload finishing right now cannot slip through: either
            // it finished before (and the file is on the server) or it sees the cancellation and deletes
            // what it made. A file with an upload in flight is left to that upload for the same reason.
            let _journal_guard = lock(&self.journal_lock);
            let still_local = lock(&self.table).get(ino).map(|n| !n.on_server()).unwrap_or(false);
            if still_local || !self.queue.reserve_ino(ino) {
                self.drop_local_locked(ino);
                lock(&self.table).detach(ino);
                return Ok(());
            }
        }
        // Reserved: no upload of this file starts until it is gone from the table.
        let result = self.rt.block_on(self.remote.delete(&path, false));
        if result.is_ok() {
            self.drop_local(ino);
            lock(&self.table).detach(ino);
        }
        self.queue.unreserve_ino(ino);
        Ok(result?)
    }

    pub fn rmdir(&self, parent: u64, name: &str) -> FsResult<()> {
        self.writable_folder(parent)?;
        let ino = self.child_exact(parent, name)?;
        let kind = lock(&self.table).get(ino).map(|n| n.kind).ok_or(FsError::NotFound)?;
        if kind != NodeKind::Folder {
            return Err(FsError::NotADirectory);
        }
        self.ensure_listing(ino, true)?;
        let path = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            if node.children.as_ref().map(|c| !c.is_empty()).unwrap_or(false) {
                return Err(FsError::NotEmpty);
            }
            table.path(ino).ok_or(FsError::NotFound)?
        };
        self.rt.block_on(self.remote.delete(&path, true))?;
        lock(&self.table).detach(ino);
        Ok(())
    }

    pub fn rename(&self, parent: u64, name: &str, new_parent: u64, new_name: &str) -> FsResult<()> {
        self.writable_folder(parent)?;
        self.writable_folder(new_parent)?;
        if let Err(e) = validate_name(new_name) {
            log::warn!("refusing rename to '{new_name}': {e}");
            return Err(FsError::from(e));
        }
        let ino = self.child_exact(parent, name)?;
        if parent == new_parent && name == new_name {
            return Ok(());
        }
        self.ensure_listing(new_parent, false)?;
        let (from, to, kind, src_on_server, target) = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            let from = table.path(ino).ok_or(FsError::NotFound)?;
            let to = table.path(new_parent).ok_or(FsError::NotFound)?.join(new_name)?;
            let target = table.child(new_parent, new_name).filter(|t| *t != ino);
            (from, to, node.kind, node.on_server(), target)
        };
        if let Some(t) = target {
            self.clear_rename_target(kind, t, src_on_server)?;
        }
        if kind == NodeKind::File {
            // A file not on the server yet (or with an upload in flight) moves only here, decided under
            // the journal lock: the upload, when it finishes, sees the new path and moves its result
            // there; or it finished first, and then the file is on the server and takes the branch below.
            let _journal_guard = lock(&self.journal_lock);
            let still_local = lock(&self.table).get(ino).map(|n| !n.on_server()).unwrap_or(false);
            if still_local || !self.queue.reserve_ino(ino) {
                self.move_in_table_locked(ino, new_parent, new_name);
                return Ok(());
            }
            // Reserved: no upload of this file starts (at the old path) until the table has the new one.
            drop(_journal_guard);
            let result = self.rt.block_on(self.remote.rename(&from, &to, false));
            if result.is_ok() {
                let _journal_guard = lock(&self.journal_lock);
                self.move_in_table_locked(ino, new_parent, new_name);
            }
            self.queue.unreserve_ino(ino);
            return Ok(result?);
        }
        self.rt.block_on(self.remote.rename(&from, &to, kind != NodeKind::File))?;
        let _journal_guard = lock(&self.journal_lock);
        self.move_in_table_locked(ino, new_parent, new_name);
        Ok(())
    }

    /// Move a node in the table and point the pending uploads below it at their new paths.
    /// Called with `journal_lock` held.
    fn move_in_table_locked(&self, ino: u64, new_parent: u64, new_name: &str) {
        let moved = {
            let mut table = lock(&self.table);
            table.rename(ino, new_parent, new_name);
            table.local_descendants(ino)
        };
        self.repath_pending_locked(&moved);
    }

    /// Make room at a rename's target. An existing file the source replaces goes to the trash, except
    /// when the source is a new file not yet uploaded: then its upload becomes a new revision of the
    /// target instead (rsync's temp file renamed over the old version keeps the file's history).
    fn clear_rename_target(&self, kind: NodeKind, target: u64, src_on_server: bool) -> FsResult<()> {
        let (t_kind, t_path, t_on_server, t_empty) = {
            let table = lock(&self.table);
            let t = table.get(target).ok_or(FsError::NotFound)?;
            let empty = t.children.as_ref().map(|c| c.is_empty());
            (t.kind, table.path(target).ok_or(FsError::NotFound)?, t.on_server(), empty)
        };
        match (kind, t_kind) {
            (NodeKind::File, NodeKind::File) => {
                self.drop_local(target);
                if t_on_server && src_on_server {
                    self.rt.block_on(self.remote.delete(&t_path, false))?;
                }
                Ok(())
            }
            (NodeKind::File, _) => Err(FsError::IsADirectory),
            (_, NodeKind::File) => Err(FsError::NotADirectory),
            _ => {
                if t_empty != Some(true) {
                    self.ensure_listing(target, true)?;
                    let empty = lock(&self.table).get(target).and_then(|t| t.children.as_ref().map(|c| c.is_empty()));
                    if empty != Some(true) {
                        return Err(FsError::NotEmpty);
                    }
                }
                self.rt.block_on(self.remote.delete(&t_path, true))?;
                lock(&self.table).detach(target);
                Ok(())
            }
        }
    }

    /// After a rename, pending uploads below it must land at the new place; rewrite their records.
    /// Called with `journal_lock` held.
    fn repath_pending_locked(&self, inos: &[u64]) {
        let Some(journal) = &self.journal else { return };
        for &ino in inos {
            let found = {
                let table = lock(&self.table);
                table.get(ino).and_then(|n| n.local.as_ref().map(|l| l.id)).zip(table.path(ino))
            };
            if let Some((id, path)) = found {
                if let Some(entry) = self.queue.set_path(id, &path.to_string()) {
                    if let Err(e) = journal.write_metadata(&entry) {
                        log::error!("cannot update the journal record of {path}: {e}");
                    }
                }
            }
        }
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
            let info = self.rt.block_on(self.remote.copy(&from, &to))?;
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
