//! Namespace operations of the filesystem core: create, mkdir, unlink, rmdir and rename, with the
//! service's rules for names (case-insensitive, case-preserving) and what each does to a file's local
//! life (see `lifecycle.rs`). Renames and deletes of files not yet uploaded never touch the network.
//!
//! Lock order: `journal_lock` -> `table` -> `queue`. The remote is never called with `table` held.

use super::error::{FsError, FsResult};
use super::node::{FileMeta, InodeKind};
use super::staging::LocalFile;
use super::Refresh;
use super::{lock, now, Attr, JottaFs};
use crate::remote::{path::validate_name, Remote, RemotePath};
use crate::remote::{ItemKind, RemoteError};

impl<R: Remote> JottaFs<R> {
    /// Folders below a mount point (and mount points themselves) take new entries; the account root,
    /// devices and the mount-point lists do not.
    pub(super) fn writable_folder(&self, ino: u64) -> FsResult<()> {
        self.journal_or_ro()?;
        let table = lock(&self.table);
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        match node.kind {
            InodeKind::Folder if node.depth >= 2 => Ok(()),
            InodeKind::File => Err(FsError::NotADirectory),
            _ => Err(FsError::ReadOnly("devices and the list of mount points cannot be changed here".into())),
        }
    }

    /// A new name must follow the service's rules and must not collide, in any letter case, with a
    /// sibling (the service is case-insensitive).
    pub(super) fn check_new_name(&self, parent: u64, name: &str) -> FsResult<RemotePath> {
        if name.len() > 255 {
            return Err(FsError::NameTooLong);
        }
        if let Err(e) = validate_name(name) {
            log::warn!("refusing name: {e}");
            return Err(FsError::from(e));
        }
        self.writable_folder(parent)?;
        self.ensure_listing(parent, Refresh::IfStale)?;
        let table = lock(&self.table);
        if self.cfg.links && self.resolve(&table, parent, name).is_some_and(|i| table.child(parent, name) != Some(i)) {
            // A link shows under this name (-o links).
            return Err(FsError::Exists);
        }
        if let Some(existing) = table.child(parent, name) {
            let shown = table.get(existing).map(|n| n.name.clone()).unwrap_or_default();
            if shown != name {
                log::info!("refusing '{name}': '{shown}' exists and JottaCloud names ignore letter case");
            }
            return Err(FsError::Exists);
        }
        table.path(parent).ok_or(FsError::NotFound)?.join(name).map_err(FsError::from)
    }

    /// `name_reused_locked` taking `journal_lock` (only when a removal waits at all: it is rare). A
    /// removal of the name being carried out right now deletes whatever holds the name on the server
    /// when its request arrives, so what comes to the name here (a folder made there, a file moved there
    /// on the server) waits for it to end: its delete is bounded by the HTTP client's timeouts, and one
    /// that fails goes back to waiting, where this takes it.
    fn name_reused(&self, path: &RemotePath) -> bool {
        let folder = path.parent().map(|p| p.to_string()).unwrap_or_default();
        if self.queue.removals_in(&folder).is_empty() {
            return false;
        }
        let (key, mut reused) = (path.to_string(), false);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            {
                let _journal_guard = lock(&self.journal_lock);
                reused |= self.name_reused_locked(path);
                if !self.queue.removal_in_flight(&key) {
                    return reused;
                }
            }
            if std::time::Instant::now() > deadline {
                log::warn!("{path}: the removal of an earlier file of this name is still running; going on");
                return reused;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Whether the service no longer has `path` (asked after a move whose answer did not arrive).
    fn gone_on_server(&self, path: &RemotePath) -> bool {
        matches!(self.rt.block_on(self.remote.stat(path)), Err(RemoteError::NotFound(_)))
    }

    /// `journal_lock`, once no other change on the server holds `path` (`UploadQueue::claim_name`): the
    /// delete of a cancelled upload's leftover there takes a round trip.
    fn lock_when_name_free(&self, path: &RemotePath) -> std::sync::MutexGuard<'_, ()> {
        let key = path.to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let guard = lock(&self.journal_lock);
            if !self.queue.is_name_claimed(&key) {
                return guard;
            }
            drop(guard);
            if std::time::Instant::now() > deadline {
                log::warn!("{path}: a change of this name on JottaCloud is still running; going on");
                return lock(&self.journal_lock);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    pub fn create(&self, parent: u64, name: &str) -> FsResult<(Attr, u64)> {
        self.refuse_link_file_name(name)?;
        self.create_stored(parent, name)
    }

    /// `create` under the name the service will hold (a link's file, for `symlink`).
    pub(super) fn create_stored(&self, parent: u64, name: &str) -> FsResult<(Attr, u64)> {
        let path = self.check_new_name(parent, name)?;
        // The server may still hold an old file of this name (`removals.rs`): the new file's upload makes
        // its next revision, and until then the new file stands for it (an unlink removes it there too).
        let meta = FileMeta { revision: u32::from(self.name_reused(&path)), ..FileMeta::default() };
        let journal = self.journal_or_ro()?;
        let id = journal.new_id();
        let mut local = LocalFile::create(id, &journal.staging_path(id), now()).map_err(Self::local_io)?;
        local.writers = 1;
        let (ino, attr, moves) = {
            let mut table = lock(&self.table);
            let ino = table.upsert(parent, name, InodeKind::File, local.mtime, Some(meta));
            if let Some(n) = table.get_mut(ino) {
                n.local = Some(Box::new(local));
                n.changed_at = Some(now());
                n.handles += 1;
            }
            table.add_child(parent, ino);
            table.remember(ino);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            (ino, self.attr_of(ino, node), table.moves())
        };
        let fh = self.new_handle(ino, self.reader_of(path, (0, None), moves), true, true);
        Ok((attr, fh))
    }

    pub fn mkdir(&self, parent: u64, name: &str) -> FsResult<Attr> {
        let path = self.check_new_name(parent, name)?;
        self.name_reused(&path);
        // Unreachable service (or a parent not on the server yet): a local folder for now (pending_dirs.rs).
        if let Some(attr) = self.mkdir_or_record(parent, name, &path)? {
            return Ok(attr);
        }
        let mut table = lock(&self.table);
        let ino = table.upsert(parent, name, InodeKind::Folder, self.mounted_at, None);
        table.set_children(ino, Vec::new());
        table.add_child(parent, ino);
        table.remember(ino);
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        Ok(self.attr_of(ino, node))
    }

    pub(super) fn child_exact(&self, parent: u64, name: &str) -> FsResult<u64> {
        self.ensure_listing(parent, Refresh::IfStale)?;
        let table = lock(&self.table);
        let ino = table.child(parent, name).ok_or(FsError::NotFound)?;
        match table.get(ino) {
            Some(n) if n.name == name => Ok(ino),
            _ => Err(FsError::NotFound),
        }
    }

    /// Forget a file's pending upload (deleted or replaced); an upload in flight deletes its result.
    pub(super) fn drop_local(&self, ino: u64) {
        let _journal_guard = lock(&self.journal_lock);
        self.drop_local_locked(ino);
    }

    /// `drop_local` with `journal_lock` already held.
    pub(super) fn drop_local_locked(&self, ino: u64) {
        let local = lock(&self.table).get_mut(ino).and_then(|n| n.local.take());
        let mut ids: Vec<u64> =
            local.map(|l| [Some(l.id), l.supersedes]).unwrap_or_default().into_iter().flatten().collect();
        // The record a changed copy supersedes goes too, and an earlier version still in flight: they
        // stand for the same file (one that landed after the delete would bring it back).
        for id in self.queue.in_flight_of(ino) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let Some(journal) = &self.journal else { return };
        for id in ids {
            if self.queue.cancel(id) || !self.queue.contains(id) {
                journal.remove(id);
            } else {
                // In flight: its staging file is being read, its end removes it. The record goes now, so
                // a crash before that end cannot bring the file back.
                journal.remove_record(id);
            }
        }
    }

    /// A file leaves the namespace (unlinked, or replaced by a rename), with `journal_lock` held. While
    /// handles are open on it, it lives on as an orphan that only they see: its local copy stays, its
    /// records go, nothing of it is uploaded (POSIX: an unlinked open file keeps working until closed).
    pub(super) fn retire_locked(&self, ino: u64) {
        let mut table = lock(&self.table);
        let Some(node) = table.get_mut(ino) else { return };
        if node.handles == 0 || node.local.is_none() {
            drop(table);
            self.drop_local_locked(ino);
            lock(&self.table).detach(ino);
            return;
        }
        let (own, ids) = match node.local.as_mut() {
            Some(l) => (l.id, l.orphan()),
            None => return,
        };
        node.generation += 1;
        table.orphan(ino);
        drop(table);
        let mut ids: Vec<u64> = ids.into_iter().flatten().collect();
        for id in self.queue.in_flight_of(ino) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let Some(journal) = &self.journal else { return };
        for id in ids {
            let gone = self.queue.cancel(id) || !self.queue.contains(id);
            // The orphan's own staging file still serves its handles (it goes at the last close), and one
            // whose upload is in flight is being read (its end removes it). The records go now, so a crash
            // cannot bring the file back.
            if gone && id != own {
                journal.remove(id);
            } else {
                journal.remove_record(id);
            }
        }
    }

    /// Before a file open elsewhere leaves the namespace, make sure its handles have a copy of their
    /// own to go on with: the content a reader is streaming from the server is about to go to the trash
    /// or be replaced there. (Costs a download only for a file that is open and not local yet.)
    pub(super) fn keep_for_open_handles(&self, ino: u64) -> FsResult<()> {
        let needed = lock(&self.table).get(ino).is_some_and(|n| n.handles > 0 && n.local.is_none());
        if needed {
            log::debug!("inode {ino} is open while it leaves the namespace: keeping a copy for its handles");
            self.ensure_local(ino, super::commit::LocalContent::FromServer, super::commit::Opener::Other)?;
        }
        Ok(())
    }

    pub fn unlink(&self, parent: u64, name: &str) -> FsResult<()> {
        self.writable_folder(parent)?;
        // A link (-o links) goes as its file.
        let name = &self.stored_name(parent, name)?;
        let ino = self.child_exact(parent, name)?;
        let (path, kind) = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            (table.path(ino).ok_or(FsError::NotFound)?, node.kind)
        };
        if kind != InodeKind::File {
            return Err(FsError::IsADirectory);
        }
        self.keep_for_open_handles(ino)?;
        {
            // Decided under the journal lock, so an upload finishing right now cannot slip through: either
            // it finished before (and the file is on the server) or it sees the cancellation and deletes
            // what it made. A file with an upload in flight is left to that upload for the same reason.
            let _journal_guard = lock(&self.journal_lock);
            let still_local = lock(&self.table).get(ino).map(|n| !n.on_server()).unwrap_or(false);
            if still_local {
                // An upload in flight may land after this; a removal record hides it meanwhile.
                let in_flight = self.queue.is_ino_busy(ino);
                self.retire_locked(ino);
                if in_flight {
                    self.record_removal_locked(&path);
                }
                return Ok(());
            }
            if !self.queue.reserve_ino(ino) {
                self.retire_locked(ino);
                // The upload in flight may land after any delete sent now, and a listing or a crash before
                // its cancelled end removes it again would bring the name back: a removal record hides the
                // name and deletes it once that upload is over (removals.rs).
                self.record_removal_locked(&path);
                drop(_journal_guard);
                // The version already on the server goes now, not only once the upload ends.
                if let Err(e) = self.rt.block_on(self.remote.delete(&path, ItemKind::File)) {
                    if !matches!(e, crate::remote::RemoteError::NotFound(_)) {
                        log::info!("{path}: unlinked while an upload was in flight; removed later ({e})");
                    }
                }
                return Ok(());
            }
        }
        // Reserved: no upload of this file starts until it is gone from the table.
        let result = self.rt.block_on(self.remote.delete(&path, ItemKind::File));
        if result.is_ok() {
            let _journal_guard = lock(&self.journal_lock);
            self.retire_locked(ino);
        }
        self.queue.unreserve_ino(ino);
        Ok(result?)
    }

    pub fn rmdir(&self, parent: u64, name: &str) -> FsResult<()> {
        self.writable_folder(parent)?;
        let ino = self.child_exact(parent, name)?;
        let kind = lock(&self.table).get(ino).map(|n| n.kind).ok_or(FsError::NotFound)?;
        if kind != InodeKind::Folder {
            return Err(FsError::NotADirectory);
        }
        self.ensure_listing(ino, Refresh::Always)?;
        let path = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            if node.children.as_ref().map(|c| !c.is_empty()).unwrap_or(false) {
                return Err(FsError::NotEmpty);
            }
            table.path(ino).ok_or(FsError::NotFound)?
        };
        if !self.forget_pending_folder(ino) {
            self.rt.block_on(self.remote.delete(&path, ItemKind::Folder))?;
        }
        lock(&self.table).detach(ino);
        Ok(())
    }

    /// `rename` in the service's names (links.rs translates the kernel's).
    pub(super) fn rename_stored(&self, parent: u64, name: &str, new_parent: u64, new_name: &str) -> FsResult<()> {
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
        self.ensure_listing(new_parent, Refresh::IfStale)?;
        let (from, to, kind, src_on_server, target) = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            let from = table.path(ino).ok_or(FsError::NotFound)?;
            let to = table.path(new_parent).ok_or(FsError::NotFound)?.join(new_name)?;
            let target = table.child(new_parent, new_name).filter(|t| *t != ino);
            // The kernel checks these two before a filesystem sees the rename; the core answers the same
            // when it is driven directly: a folder cannot move into itself, and a rename onto a folder
            // above the source finds that folder not empty.
            if node.kind.is_dir() && table.is_within(new_parent, ino) {
                return Err(FsError::InvalidName(format!("'{name}' cannot move into itself")));
            }
            if target.is_some_and(|t| table.is_within(parent, t)) {
                return Err(FsError::NotEmpty);
            }
            if let Some(shown) = target.and_then(|t| table.get(t)).map(|t| t.name.as_str()).filter(|s| *s != new_name) {
                // Another file whose name differs only in letter case: for the service it is the same
                // name, so replacing it would silently lose a different file.
                log::info!("refusing rename to '{new_name}': '{shown}' exists and JottaCloud names ignore letter case");
                return Err(FsError::Exists);
            }
            (from, to, node.kind, node.on_server(), target)
        };
        let replaced = match target {
            Some(t) => self.clear_rename_target(kind, t, src_on_server)?,
            None => None,
        };
        let reused_before = self.name_reused(&to);
        if kind == InodeKind::File {
            // A file not on the server yet (or with an upload in flight) moves only here, decided under
            // the journal lock: the upload, when it finishes, sees the new path and moves its result
            // there; or it finished first, and then the file is on the server and takes the branch below.
            let _journal_guard = self.lock_when_name_free(&to);
            let still_local = lock(&self.table).get(ino).map(|n| !n.on_server()).unwrap_or(false);
            let reused = reused_before | self.name_reused_locked(&to);
            if still_local || !self.queue.reserve_ino(ino) {
                if self.queue.is_ino_busy(ino) || !still_local {
                    // The server keeps the old name until the upload in flight ends and moves it: if the
                    // daemon dies first, that name must still go (`removals.rs`).
                    self.record_removal_locked(&from);
                }
                self.move_in_table_locked(ino, new_parent, new_name);
                if let Some(revision) = replaced.or(reused.then_some(1)) {
                    // The service still holds the replaced file's version at this name until this
                    // file's upload makes the next revision there. Until then this node stands for that
                    // version: an unlink or a rename away must remove it from the service too, or it
                    // would come back at the next listing (or after a crash).
                    let mut table = lock(&self.table);
                    if let Some(node) = table.get_mut(ino) {
                        let meta = node.file.get_or_insert_with(FileMeta::default);
                        meta.revision = meta.revision.max(revision);
                    }
                }
                return Ok(());
            }
            // Reserved: no upload of this file starts (at the old path) until the table has the new one.
            // The name is claimed too: what a cancelled upload leaves at `to` (the replaced file's, in
            // flight) is deleted before this move or after the table shows it, never in between, when
            // the server holds this file there and the table does not say so yet.
            let claimed = self.queue.claim_name(&to.to_string());
            drop(_journal_guard);
            let mut result = self.rt.block_on(self.remote.rename(&from, &to, ItemKind::File));
            if matches!(result, Err(RemoteError::Transient(_) | RemoteError::Protocol(_))) && self.gone_on_server(&from)
            {
                // The answer was lost, not the move (a move is never retried): the table must show the
                // file where the server has it, or the name's cleanup below could take it for a leftover.
                log::warn!("{from}: the answer to its move to {to} was lost, but the move was made; going on");
                result = Ok(());
            }
            {
                let _journal_guard = lock(&self.journal_lock);
                if result.is_ok() {
                    self.move_in_table_locked(ino, new_parent, new_name);
                }
                if claimed {
                    self.queue.release_name(&to.to_string());
                }
            }
            self.queue.unreserve_ino(ino);
            return Ok(result?);
        }
        if self.move_pending_folder(ino, new_parent, new_name) {
            return Ok(());
        }
        self.rt.block_on(self.remote.rename(&from, &to, ItemKind::folder_if(kind != InodeKind::File)))?;
        let _journal_guard = lock(&self.journal_lock);
        // Files being uploaded below it moved along on the server.
        self.queue.folder_moved(&from.to_string(), &to.to_string());
        self.move_in_table_locked(ino, new_parent, new_name);
        Ok(())
    }

    /// Move a node in the table and point the pending uploads below it at their new paths.
    /// Called with `journal_lock` held.
    pub(super) fn move_in_table_locked(&self, ino: u64, new_parent: u64, new_name: &str) {
        let moved = {
            let mut table = lock(&self.table);
            table.rename(ino, new_parent, new_name);
            table.local_descendants(ino)
        };
        self.repath_pending_locked(&moved);
    }

    /// Make room at a rename's target. An existing file the source replaces goes to the trash, except
    /// when the source is a new file not yet uploaded: then its upload becomes a new revision of the
    /// target instead (rsync's temp file renamed over the old version keeps the file's history), and the
    /// revision the service holds at that name is returned for the source to stand for until then.
    pub(super) fn clear_rename_target(
        &self,
        kind: InodeKind,
        target: u64,
        src_on_server: bool,
    ) -> FsResult<Option<u32>> {
        let (t_kind, t_path, t_on_server, t_empty, t_revision) = {
            let table = lock(&self.table);
            let t = table.get(target).ok_or(FsError::NotFound)?;
            let empty = t.children.as_ref().map(|c| c.is_empty());
            let revision = t.file.as_ref().map(|f| f.revision).unwrap_or(0);
            (t.kind, table.path(target).ok_or(FsError::NotFound)?, t.on_server(), empty, revision)
        };
        match (kind, t_kind) {
            (InodeKind::File, InodeKind::File) => {
                self.keep_for_open_handles(target)?;
                if t_on_server && src_on_server {
                    self.rt.block_on(self.remote.delete(&t_path, ItemKind::File))?;
                }
                let _journal_guard = lock(&self.journal_lock);
                self.retire_locked(target);
                Ok((t_on_server && !src_on_server).then_some(t_revision))
            }
            (InodeKind::File, _) => Err(FsError::IsADirectory),
            (_, InodeKind::File) => Err(FsError::NotADirectory),
            _ => {
                if t_empty != Some(true) {
                    self.ensure_listing(target, Refresh::Always)?;
                    let empty = lock(&self.table).get(target).and_then(|t| t.children.as_ref().map(|c| c.is_empty()));
                    if empty != Some(true) {
                        return Err(FsError::NotEmpty);
                    }
                }
                if !self.forget_pending_folder(target) {
                    self.rt.block_on(self.remote.delete(&t_path, ItemKind::Folder))?;
                }
                lock(&self.table).detach(target);
                Ok(None)
            }
        }
    }

    /// After a rename, pending uploads below it must land at the new place; rewrite their records.
    /// Called with `journal_lock` held.
    pub(super) fn repath_pending_locked(&self, inos: &[u64]) {
        let Some(journal) = &self.journal else { return };
        for &ino in inos {
            let found = {
                let table = lock(&self.table);
                let node = table.get(ino);
                // Every record of the file moves: its current one, the one a changed copy supersedes, and
                // one in flight. A crash leaves them all at the new name, where recovery keeps the newest.
                let ids: Vec<u64> = node
                    .and_then(|n| n.pending_record())
                    .into_iter()
                    .chain(node.and_then(|n| n.local.as_ref()).and_then(|l| l.supersedes))
                    .collect();
                table.path(ino).map(|p| (ids, p))
            };
            let Some((mut ids, path)) = found else { continue };
            for id in self.queue.in_flight_of(ino) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            for id in ids {
                if let Some(entry) = self.queue.set_path(id, &path.to_string()) {
                    if let Err(e) = journal.write_metadata(&entry) {
                        log::error!("cannot update the journal record of {path}: {e}");
                    }
                }
            }
        }
    }
}
