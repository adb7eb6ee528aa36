//! Folders made while JottaCloud is unreachable (and folders made inside those): a local folder at once,
//! shown, listable and usable as a parent, recorded durably in the journal (a folder record, which
//! survives `kill -9` like a file's) and created on the server by the upload workers before anything below
//! it (the queue holds back what lies under a folder record still pending). Until then its listing is
//! what this mount put in it and is never fetched: the server would answer "not found".
//!
//! | state     | event                                        | next                                   |
//! |-----------|----------------------------------------------|----------------------------------------|
//! | recorded  | mkdir (offline, or under a recorded folder)  | `local_folder` = record id, queued     |
//! | recorded  | rmdir (empty), or a folder renamed over it   | record dropped, no request             |
//! | recorded  | rename                                       | moved here, with the records below     |
//! | recorded  | a worker claims it                           | in flight (mkdir on the server)        |
//! | in flight | rmdir / a folder renamed over it             | waits for the creation, then as usual  |
//! | in flight | rename                                       | the worker moves it on the server after |
//! | in flight | created                                      | on the server: `local_folder` cleared   |
//!
//! Lock order: `journal_lock` -> `table` -> `queue`, as everywhere in the core. `local_folder` is set and
//! cleared only under `journal_lock`, so "is it on the server yet" has one answer at a time.

use super::error::{FsError, FsResult};
use super::journal::JournalEntry;
use super::node::InodeKind;
use super::upload::Job;
use super::{lock, now, Attr, JottaFs};
use crate::remote::ItemKind;
use crate::remote::{Remote, RemoteError, RemotePath};
use std::time::Duration;

impl<R: Remote> JottaFs<R> {
    /// mkdir's choice. None: the folder was created on the server now (the caller adds it to the table).
    /// Some: the service cannot be reached, or the parent is not on the server yet, so the folder is made
    /// here and recorded for the upload workers.
    pub(super) fn mkdir_or_record(&self, parent: u64, name: &str, path: &RemotePath) -> FsResult<Option<Attr>> {
        let parent_pending = lock(&self.table).get(parent).is_some_and(|p| p.local_folder.is_some());
        if !parent_pending {
            match self.online(self.remote.mkdir(path)) {
                Ok(()) => return Ok(None),
                Err(FsError::Unreachable(_)) => {
                    log::info!("{path}: made here while JottaCloud is unreachable; created there once it answers")
                }
                Err(e) => return Err(e),
            }
        }
        self.record_folder(parent, name, path).map(Some)
    }

    fn record_folder(&self, parent: u64, name: &str, path: &RemotePath) -> FsResult<Attr> {
        let journal = self.journal_or_ro()?;
        let entry = JournalEntry::folder(journal.new_id(), path.to_string(), now());
        let _journal_guard = lock(&self.journal_lock);
        // Durable before mkdir returns, like a file's record before close returns.
        journal.write(&entry).map_err(Self::local_io)?;
        let mut table = lock(&self.table);
        let ino = table.upsert(parent, name, InodeKind::Folder, self.mounted_at, None);
        table.set_children(ino, Vec::new());
        if let Some(n) = table.get_mut(ino) {
            n.local_folder = Some(entry.id);
        }
        table.add_child(parent, ino);
        table.remember(ino);
        let attr = self.attr_of(ino, table.get(ino).ok_or(FsError::NotFound)?);
        self.queue.schedule(entry, Some(ino), Duration::ZERO);
        Ok(attr)
    }

    /// A folder not on the server yet answers from what this mount put in it; true if `ino` is one. (A
    /// folder recovered from the journal gets its listing here, with what else the journal holds for it.)
    pub(super) fn local_only_listing(&self, ino: u64) -> bool {
        let mut table = lock(&self.table);
        let Some(node) = table.get(ino) else { return false };
        if node.local_folder.is_none() {
            return false;
        }
        if node.children.is_some() {
            table.touch_listing(ino);
            return true;
        }
        table.set_children(ino, Vec::new());
        if let Some(path) = table.path(ino) {
            self.attach_recovered(&mut table, ino, &path, None);
        }
        true
    }

    /// rmdir, or a folder renamed over this one: a folder whose creation has not started goes without a
    /// request (true). One being created is waited for, after which it is on the server and removed there
    /// like any other (false, as for a folder that was on the server all along).
    pub(super) fn forget_pending_folder(&self, ino: u64) -> bool {
        loop {
            let id = {
                let _journal_guard = lock(&self.journal_lock);
                let Some(id) = lock(&self.table).get(ino).and_then(|n| n.local_folder) else { return false };
                if self.queue.remove_if_waiting(id) || !self.queue.contains(id) {
                    if let Some(journal) = &self.journal {
                        journal.remove(id);
                    }
                    return true;
                }
                id
            };
            // In flight: one request, bounded by the HTTP client's timeouts. Created, the folder is on the
            // server; failed, the record waits again and goes above.
            self.queue.wait_not_in_flight(id, Duration::from_secs(300));
        }
    }

    /// rename of a folder not on the server yet: here only, with the records below it (true). One being
    /// created meanwhile is moved on the server by the worker when the creation is done.
    pub(super) fn move_pending_folder(&self, ino: u64, new_parent: u64, new_name: &str) -> bool {
        let _journal_guard = lock(&self.journal_lock);
        if lock(&self.table).get(ino).is_none_or(|n| n.local_folder.is_none()) {
            return false;
        }
        self.move_in_table_locked(ino, new_parent, new_name);
        true
    }

    /// An upload worker's part: create the folder, then settle.
    pub(super) async fn create_folder(&self, job: Job) {
        match self.remote.mkdir(&job.path).await {
            Ok(()) => self.folder_created(job).await,
            Err(e) => self.upload_failed(job, e),
        }
    }

    /// The folder exists on the server at `job.path`. If it was renamed meanwhile, move it there first;
    /// then, under the journal lock, it is on the server: the record goes and what waited below may start.
    async fn folder_created(&self, job: Job) {
        let Some(journal) = &self.journal else { return };
        let mut at = job.path.clone();
        for _ in 0..8 {
            let guard = lock(&self.journal_lock);
            let ino = self.queue.state_of(job.id).and_then(|s| s.1).or(job.ino);
            let target = ino.and_then(|i| {
                let table = lock(&self.table);
                table.get(i).filter(|n| n.local_folder == Some(job.id)).and_then(|_| table.path(i))
            });
            if let Some(to) = target.filter(|t| *t != at) {
                drop(guard);
                log::debug!("settle a folder's rename on the server: {at} -> {to}");
                match self.remote.rename(&at, &to, ItemKind::Folder).await {
                    Ok(()) => at = to,
                    // The record now names the new place: the next attempt creates the folder there (the
                    // one made at the old place stays, empty).
                    Err(e) => return self.upload_failed(job, e),
                }
                continue;
            }
            if let Some(i) = ino {
                let mut table = lock(&self.table);
                if let Some(n) = table.get_mut(i).filter(|n| n.local_folder == Some(job.id)) {
                    n.local_folder = None;
                }
            }
            self.queue.finished(job.id, false, 0);
            journal.remove(job.id);
            drop(guard);
            log::info!("created folder {at} on JottaCloud");
            // What waited for this folder may start now.
            self.queue.wake.notify_waiters();
            return;
        }
        self.upload_failed(job, RemoteError::Transient("the folder kept being renamed while it was created".into()));
    }
}
