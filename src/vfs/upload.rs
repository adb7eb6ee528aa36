//! The upload workers, recovery of an earlier run's journal, draining at unmount, and the status report.
//!
//! A worker takes a due record whose file has no open writer (or that fsync forced), uploads the staging
//! file to the file's current path (allocate with md5 first, so known content costs nothing), and only
//! then removes the journal record. Failures stay in the journal and are retried with backoff; a rename
//! or unlink that happened during the upload is applied on the server afterwards. Folder records (folders
//! made while the service was unreachable) are created by the same workers (`pending_dirs.rs`).
//!
//! While the service is unreachable (`offline.rs`) the workers take nothing but what fsync forces (which
//! then fails at once, as fsync must); when it answers again they go on where they were.

use super::journal::JournalEntry;
use super::lifecycle::Record;
use super::node::InodeTable;
use super::node::{FileMeta, InodeKind};
use super::offline::ServiceReport;
use super::staging::LocalFile;
use super::upload_queue::{PendingReport, QueueStats, Transfer};
use super::{lock, JottaFs};
use crate::remote::ItemKind;
use crate::remote::{Remote, RemoteError, RemotePath, UploadOutcome, UploadRequest};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Job {
    pub id: u64,
    pub ino: Option<u64>,
    pub path: RemotePath,
    pub entry: JournalEntry,
}

/// What `jotta status` shows for one running mount.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReport {
    pub pending: Vec<PendingReport>,
    pub pending_bytes: u64,
    pub stats: QueueStats,
    /// Bytes sent, the rate, and what is left with its ETA.
    pub transfer: Transfer,
    /// Names the mount holds in memory (bounded by `cache_entries`, plus what the kernel holds).
    pub cached_entries: usize,
    /// Whether JottaCloud answers (uploads wait while it does not).
    pub service: ServiceReport,
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(6)).min(Duration::from_secs(60))
}

impl<R: Remote> JottaFs<R> {
    /// Queue what an earlier run left in the journal (before anything is listed, so that every
    /// recovered file shows in its folder from the folder's first listing on).
    pub(super) fn recover_journal(&self) {
        let Some(journal) = &self.journal else { return };
        journal.sweep_orphans();
        let mut pending = journal.pending();
        // Two records of one path: the file was changed again while the upload of the earlier version
        // was in flight when the last run stopped. Only the later one (the higher id) stands for it.
        let mut newest: HashMap<String, u64> = HashMap::new();
        for e in pending.iter().filter(|e| !e.is_folder()) {
            let id = newest.entry(e.path.to_lowercase()).or_insert(e.id);
            *id = (*id).max(e.id);
        }
        pending.retain(|e| {
            let stands = e.is_folder() || newest.get(&e.path.to_lowercase()) == Some(&e.id);
            if !stands {
                log::debug!("journal record {:016x} of {} is superseded by a later one", e.id, e.path);
                journal.remove(e.id);
            }
            stands
        });
        if !pending.is_empty() {
            log::info!("resuming {} upload(s) left by an earlier run", pending.len());
        }
        for entry in pending {
            let parent = RemotePath::parse(&entry.path).ok().and_then(|p| p.parent()).map(|p| p.to_string());
            if let Some(parent) = parent {
                lock(&self.recovered).entry(parent.to_lowercase()).or_default().push(entry.clone());
            }
            self.queue.schedule(entry, None, Duration::ZERO);
        }
    }

    /// Start the upload workers.
    pub fn start_uploads(self: &Arc<Self>) {
        self.start_service_watch();
        if self.journal.is_none() {
            return;
        }
        for _ in 0..self.cfg.upload_workers.max(1) {
            let fs = self.clone();
            self.rt.spawn(async move { fs.upload_worker().await });
        }
    }

    /// Show recovered pending files in their folder, in the same table lock as the folder's listing, so
    /// no lookup ever sees the listing without them. A record whose upload is in flight is shown too
    /// (its local copy wins until the upload settles); one already uploaded is not needed any more,
    /// but a listing `asked` before that upload settled shows the file as it was: the upload's answer
    /// takes its place.
    pub(super) fn attach_recovered(
        &self,
        table: &mut InodeTable,
        folder: u64,
        path: &RemotePath,
        asked: Option<std::time::Instant>,
    ) {
        let mut new_folders = Vec::new();
        let Some(journal) = &self.journal else { return };
        let entries = match lock(&self.recovered).remove(&path.to_string().to_lowercase()) {
            Some(e) => e,
            None => return,
        };
        for entry in entries {
            let Some(name) = RemotePath::parse(&entry.path).ok().and_then(|p| p.name().map(str::to_string)) else {
                continue;
            };
            if !self.queue.contains(entry.id) {
                let settled = lock(&self.settled_unlisted).remove(&entry.id);
                if let Some((at, outcome)) = settled.filter(|(at, _)| asked.is_none_or(|asked| asked <= *at)) {
                    let meta = uploaded_meta(table_meta(table, folder, &name).as_ref(), &outcome);
                    let ino = table.upsert(folder, &name, InodeKind::File, entry.mtime, Some(meta));
                    if let Some(n) = table.get_mut(ino) {
                        n.generation += 1;
                        n.touched_at = Some(at);
                    }
                    table.add_child(folder, ino);
                }
                continue;
            }
            if entry.is_removal() {
                // The server's listing still has the old name: hidden at once, removed by the workers.
                let stale = table.child(folder, &name).filter(|i| {
                    table.get(*i).is_some_and(|n| n.kind == InodeKind::File && n.pending_record().is_none())
                });
                if let Some(ino) = stale {
                    table.detach(ino);
                }
                continue;
            }
            if entry.is_folder() {
                // Listed by the server already: it is there (the record's creation is a no-op then).
                if table.child(folder, &name).is_some() {
                    continue;
                }
                let ino = table.upsert(folder, &name, InodeKind::Folder, self.mounted_at, None);
                table.set_children(ino, Vec::new());
                if let Some(n) = table.get_mut(ino) {
                    n.local_folder = Some(entry.id);
                }
                table.add_child(folder, ino);
                self.queue.set_ino(entry.id, ino);
                new_folders.extend(table.path(ino).map(|p| (ino, p)));
                continue;
            }
            let staging = journal.staging_path(entry.id);
            let record = Record { seq: entry.seq, md5: entry.md5.clone(), size: entry.size };
            let local = match LocalFile::reopen(entry.id, &staging, entry.size, entry.mtime, record) {
                Ok(l) => l,
                Err(e) => {
                    log::error!("{}: cannot open its local copy {}: {e}", entry.path, staging.display());
                    continue;
                }
            };
            let meta = table_meta(table, folder, &name);
            let ino = table.upsert(folder, &name, InodeKind::File, entry.mtime, meta);
            if let Some(n) = table.get_mut(ino) {
                n.local = Some(Box::new(local));
                n.generation += 1;
            }
            table.add_child(folder, ino);
            self.queue.set_ino(entry.id, ino);
        }
        // What the journal holds below a recovered folder shows in it at once (it is never fetched).
        for (ino, path) in new_folders {
            self.attach_recovered(table, ino, &path, None);
        }
    }

    async fn upload_worker(self: Arc<Self>) {
        loop {
            let offline = self.service.is_unreachable();
            let job = self
                .queue
                .due()
                .into_iter()
                .filter(|(id, _)| !offline || self.queue.is_forced(*id))
                .find_map(|(id, ino)| self.claim(id, ino));
            match job {
                Some(job) => self.run(job).await,
                None => {
                    // Offline, what is due waits for the service (which wakes the workers when it answers).
                    let wait = if offline { Duration::from_secs(1) } else { self.queue.next_due_in() };
                    tokio::select! {
                        _ = self.queue.wake.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// Take a due record unless its file is still open for writing (fsync overrides that). A record
    /// whose file has moved on to newer content (or was dropped) is stale: it is removed, never uploaded
    /// over the newer version.
    fn claim(&self, id: u64, ino: Option<u64>) -> Option<Job> {
        let mut path = None;
        let mut stale = false;
        let folder = self.queue.is_folder(id);
        if let (Some(ino), true) = (ino, folder) {
            // A folder record belongs to its node until the folder is created (or removed).
            let table = lock(&self.table);
            match table.get(ino) {
                Some(node) if node.local_folder == Some(id) => path = table.path(ino),
                _ => stale = true,
            }
        } else if let Some(ino) = ino {
            let table = lock(&self.table);
            if let Some(node) = table.get(ino) {
                match &node.local {
                    Some(l) if l.id == id => {
                        if l.writers > 0 && !self.queue.is_forced(id) {
                            self.queue.postpone(id, self.cfg.writeback_delay);
                            return None;
                        }
                        path = table.path(ino);
                    }
                    // The file is being changed in a copy: this record stands for it until the copy is
                    // recorded (then it is dropped); sending its older content meanwhile would be wasted.
                    Some(l) if l.supersedes == Some(id) => {
                        self.queue.postpone(id, self.cfg.writeback_delay);
                        return None;
                    }
                    _ => stale = true,
                }
            } else {
                // The file is gone from the table (unlinked, or an orphan whose last handle closed): a
                // record of it that is still here was cancelled in flight and then failed; it stands for
                // nothing now.
                stale = true;
            }
        }
        if stale {
            let _journal_guard = lock(&self.journal_lock);
            if self.queue.cancel(id) {
                if let Some(journal) = &self.journal {
                    journal.remove(id);
                }
            }
            return None;
        }
        let entry = self.queue.claim(id, path.as_ref().map(|p| p.to_string()).as_deref())?;
        let path = match path.or_else(|| RemotePath::parse(&entry.path).ok()) {
            Some(p) => p,
            None => {
                log::error!("journal record {id:016x} has an unusable path '{}'", entry.path);
                self.queue.failed(id, "unusable path in the journal", None, false);
                return None;
            }
        };
        log::debug!("claimed {id:016x} (inode {ino:?}) for {path}");
        Some(Job { id, ino, path, entry })
    }

    async fn run(&self, job: Job) {
        let Some(journal) = &self.journal else { return };
        if job.entry.is_folder() {
            return self.create_folder(job).await;
        }
        if job.entry.is_removal() {
            return self.remove_on_server(job).await;
        }
        let req = UploadRequest {
            source: journal.staging_path(job.id),
            size: job.entry.size,
            md5: job.entry.md5.clone(),
            created: Some(job.entry.mtime),
            modified: Some(job.entry.mtime),
            uncached: job.entry.size > super::staging::DIRECT_FROM,
        };
        // The body stream counts what it hands to the network into this job's entry (`jotta status`).
        let tally = self.queue.tally(job.id);
        match crate::remote::progress::counting(tally, self.remote.upload(&job.path, &req)).await {
            Ok(outcome) => self.uploaded(job, outcome).await,
            Err(e) => self.upload_failed(job, e),
        }
    }

    /// The bytes are on the server at `job.path`. If the file was renamed or deleted meanwhile, apply
    /// that on the server first (the file stays "in flight", so nothing else touches it), then settle
    /// the bookkeeping under the journal lock once the path is stable.
    async fn uploaded(&self, job: Job, outcome: UploadOutcome) {
        let Some(journal) = &self.journal else { return };
        let mut at = job.path.clone();
        let (mut looked_again, mut moves) = (0, 0);
        let name_wait_until = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while moves < 8 {
            let guard = lock(&self.journal_lock);
            // Where the file is on the server now: a folder above it may have moved meanwhile.
            if let Some(landing) = self.queue.landing(job.id).and_then(|l| RemotePath::parse(&l).ok()) {
                at = landing;
            }
            let (cancelled, ino) = self.queue.state_of(job.id).unwrap_or((false, job.ino));
            let ino = ino.or(job.ino);
            let target = ino.and_then(|i| lock(&self.table).path(i));
            if cancelled && self.queue.is_name_claimed(&at.to_string()) && std::time::Instant::now() < name_wait_until {
                // A file is being moved onto this name on the server: once the table shows it there,
                // what just landed is known to be this upload's leftover over it (below).
                drop(guard);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
            if cancelled {
                // Another file took this name meanwhile (a rename over this one) and may be on the server
                // there already: deleting would remove it, and what just landed is now its current version.
                // Its own content is made current again from its md5 (no bytes travel); one still waiting
                // for its upload goes after this one (one upload per path) and needs nothing.
                let taken = {
                    let table = lock(&self.table);
                    table.find(&at).filter(|i| Some(*i) != ino).map(|i| {
                        let node = table.get(i);
                        let remote_only =
                            node.filter(|n| n.local.is_none()).and_then(|n| n.file.clone().map(|f| (f, n.mtime)));
                        (i, remote_only)
                    })
                };
                // Nothing here holds the name: a move onto it now waits until the leftover is gone.
                let delete_claimed = taken.is_none() && self.queue.claim_name(&at.to_string());
                drop(guard);
                match taken {
                    Some((_, Some((meta, mtime)))) => {
                        let restored = match meta.md5_hex() {
                            Some(md5) => self.remote.set_times(&at, meta.size, &md5, mtime, mtime).await.map(|_| ()),
                            None => Err(RemoteError::NotFound(at.to_string())),
                        };
                        if let Err(e) = restored {
                            log::error!(
                                "{at}: an earlier version of the file it replaced landed on top of it; making it \
                                 current again failed: {e} (its content is in the file's revisions)"
                            );
                        }
                    }
                    Some((_, None)) => {}
                    None if delete_claimed => {
                        if let Err(e) = self.remote.delete(&at, ItemKind::File).await {
                            log::warn!("{at}: deleted while uploading, but removing it failed: {e}");
                        }
                        self.queue.release_name(&at.to_string());
                    }
                    None => log::warn!(
                        "{at}: deleted while uploading and left on JottaCloud: a move onto this name has not \
                         ended in 5 minutes (remove it with `jotta rm` if it is still there)"
                    ),
                }
                let _guard = lock(&self.journal_lock);
                self.queue.finished(job.id, outcome.deduplicated, outcome.bytes_sent);
                journal.remove(job.id);
                return;
            }
            if let Some(to) = target.filter(|t| *t != at) {
                drop(guard);
                moves += 1;
                log::debug!("settle rename on the server: {at} -> {to}");
                match self.remote.rename(&at, &to, ItemKind::File).await {
                    Ok(()) => {
                        let _guard = lock(&self.journal_lock);
                        self.queue.landed_at(job.id, &to.to_string());
                    }
                    // A folder above it being moved on the server right now carries it along; where
                    // to is known once that move returns.
                    Err(RemoteError::NotFound(_)) if looked_again < 3 => {
                        looked_again += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    Err(e) => {
                        // Not settled as uploaded: the record (now at the new name) is uploaded again,
                        // which costs no bytes while the server has the content. Before, the file was
                        // taken for moved, and the removal of its old name could delete the only copy.
                        log::warn!(
                            "{at}: renamed to {to} while uploading, but the move failed: {e}; uploading it there again"
                        );
                        return self.upload_failed(job, e);
                    }
                }
                continue;
            }
            self.settle(&job, ino, &outcome);
            drop(guard);
            log::info!(
                "uploaded {at} ({} bytes{})",
                job.entry.size,
                if outcome.deduplicated { ", already on the server: nothing sent" } else { "" }
            );
            return;
        }
        let _guard = lock(&self.journal_lock);
        let ino = self.queue.state_of(job.id).and_then(|s| s.1).or(job.ino);
        self.settle(&job, ino, &outcome);
    }

    /// Bookkeeping after an upload, with `journal_lock` held: the file is on the server now; its local
    /// copy goes unless it is in use or newer; the record goes.
    fn settle(&self, job: &Job, ino: Option<u64>, outcome: &UploadOutcome) {
        let Some(journal) = &self.journal else { return };
        // Under one table lock, as folder listings are applied: a listing is attached either before this
        // (the record still queued: its file has an inode now) or after it (the answer is kept).
        let (taken, ino) = {
            let table = lock(&self.table);
            let taken = self.queue.finished(job.id, outcome.deduplicated, outcome.bytes_sent);
            // A recovered record that settles before its folder was listed: the table may still show
            // the file as the server had it before; it must show what was just uploaded.
            let ino = ino.or_else(|| RemotePath::parse(&job.entry.path).ok().and_then(|p| table.find(&p)));
            if ino.is_none() && job.entry.has_content() {
                // Its folder is not listed yet, or its listing is on the way: one asked before now shows
                // the file as it was (`attach_recovered`).
                lock(&self.settled_unlisted).insert(job.id, (std::time::Instant::now(), outcome.clone()));
            }
            (taken, ino)
        };
        let mut staging_in_use = false;
        let mut recorded_again = false;
        if let Some(ino) = ino {
            let mut table = lock(&self.table);
            if let Some(node) = table.get_mut(ino) {
                node.file = Some(uploaded_meta(node.file.as_ref(), outcome));
                node.generation += 1;
                node.touched_at = Some(std::time::Instant::now());
                let handles = node.handles;
                match node.local.as_mut() {
                    // A new time was recorded (an overlay of this id) while the upload was in flight: the
                    // record stands and goes again (a metadata-only upload); nothing of it may go now.
                    Some(l) if l.id == job.id && l.is_recorded() && l.mtime != job.entry.mtime => {
                        recorded_again = true;
                    }
                    Some(l) if l.id == job.id && l.is_recorded() && l.writers == 0 && handles == 0 => {
                        node.mtime = job.entry.mtime;
                        node.local = None;
                    }
                    Some(l) if l.id == job.id => {
                        // Still open or changed again: the local copy stays, its record goes. What comes
                        // next must be recorded afresh (durably), not as an overlay of a removed record.
                        staging_in_use = true;
                        if l.is_recorded() {
                            node.mtime = job.entry.mtime;
                        }
                        l.uploaded_while_in_use();
                    }
                    _ => {}
                }
            }
        }
        if recorded_again {
            // The record scheduled while this upload ran replaced the queue's entry in place; it goes
            // again now (the bytes are on the server: only the metadata travels).
            if let Some(p) = taken {
                self.queue.schedule(p.entry, ino, Duration::ZERO);
            }
            return;
        }
        if staging_in_use {
            journal.remove_record(job.id);
        } else {
            journal.remove(job.id);
        }
    }

    pub(super) fn upload_failed(&self, job: Job, e: RemoteError) {
        self.note_failure(&e);
        {
            // Cancelled while in flight (the file was unlinked or replaced): nothing reached the server
            // that needs undoing, and nothing is to be retried. The record and its staging file go.
            let _journal_guard = lock(&self.journal_lock);
            if self.queue.state_of(job.id).is_some_and(|(cancelled, _)| cancelled) {
                log::debug!("{}: the upload failed after the file was dropped ({e}); nothing to retry", job.path);
                self.queue.forget_cancelled(job.id);
                if let Some(journal) = &self.journal {
                    journal.remove(job.id);
                }
                return;
            }
        }
        let attempts = self.queue.attempts(job.id);
        let blocked = matches!(
            e,
            RemoteError::QuotaExceeded(_)
                | RemoteError::Unauthorized(_)
                | RemoteError::Forbidden(_)
                | RemoteError::Config(_)
        );
        let retry_in = match &e {
            RemoteError::QuotaExceeded(_) => {
                log::error!(
                    "{}: the account is full; the file stays in the journal and is retried every minute \
                     (free space with `jotta trash empty` or a bigger plan)",
                    job.path
                );
                Some(Duration::from_secs(60))
            }
            RemoteError::Unauthorized(_) | RemoteError::Forbidden(_) | RemoteError::Config(_) => {
                log::error!("{}: {e}; the file stays in the journal and is retried every minute", job.path);
                Some(Duration::from_secs(60))
            }
            RemoteError::InvalidName(_) => {
                log::error!("{}: {e}; the service will not take this name; rename the file", job.path);
                None
            }
            RemoteError::Unreachable(_) => {
                // The workers wait for the service now; this goes out first thing when it answers.
                log::info!("{}: waits for JottaCloud to answer again ({e})", job.path);
                Some(Duration::from_secs(1))
            }
            _ => {
                log::warn!("{}: upload attempt {attempts} failed: {e}; retrying", job.path);
                Some(backoff(attempts))
            }
        };
        let mut retry_in = retry_in;
        if let RemoteError::Corrupt(_) = e {
            // Staging files never change under a record (changes go to a new copy), so a staging file
            // that no longer matches its md5 is damaged (a crash before it reached the disk): never send
            // it as the file's content. A match means the bytes were damaged on the way: send again.
            let damaged = super::staging::hash_file(&self.staging(job.id)).map(|m| m != job.entry.md5).unwrap_or(true);
            if damaged {
                log::error!(
                    "{}: the local copy waiting for upload is damaged (md5 differs from when it was written); \
                     it is kept in the journal and not uploaded",
                    job.path
                );
                retry_in = None;
            }
        }
        let staging_gone = || matches!(self.staging(job.id).try_exists(), Ok(false));
        if matches!(e, RemoteError::Io(_)) && job.entry.has_content() && self.journal.is_some() && staging_gone() {
            // The local copy went away under the mount (its cache dir was deleted): no retry can bring
            // the bytes back, so the record is not retried (and unmount does not wait for it).
            log::error!(
                "{}: its local copy {} is gone (was the cache dir removed?); it cannot be uploaded",
                job.path,
                self.staging(job.id).display()
            );
            retry_in = None;
        }
        let _journal_guard = lock(&self.journal_lock);
        if let Some(entry) = self.queue.failed(job.id, &e.to_string(), retry_in, blocked) {
            if let Some(journal) = &self.journal {
                let _ = journal.write_metadata(&entry);
            }
        }
    }

    fn staging(&self, id: u64) -> std::path::PathBuf {
        self.journal.as_ref().map(|j| j.staging_path(id)).unwrap_or_default()
    }

    /// The kernel connection is gone: every handle still open is closed now, as `release()` would
    /// close it. After a lazy unmount the kernel never sends the releases of handles that were open
    /// when the last process let go, and a file counted as open would never be uploaded. Returns how
    /// many handles were open.
    pub fn release_all(&self) -> usize {
        let open: Vec<u64> = lock(&self.handles).keys().copied().collect();
        for &fh in &open {
            if let Err(e) = self.release(fh) {
                log::error!("cannot record a file left open at unmount: {e}");
            }
        }
        open.len()
    }

    /// Record in the journal every file whose latest content is only in memory (changed since its last
    /// record), so that it survives the daemon.
    pub fn journal_all(&self) {
        let dirty = lock(&self.table).local_descendants(super::ROOT_INO);
        for ino in dirty {
            if let Err(e) = self.commit(ino) {
                log::error!("cannot record a file at unmount: {e}");
            }
        }
    }

    /// Unmount: record what is still dirty, then wait (at most `limit`, or until `stop` is set) for the
    /// queue to drain, logging progress. Returns how many uploads are left in the journal for the next
    /// mount.
    pub fn drain(&self, limit: Duration, stop: &AtomicBool) -> usize {
        self.journal_all();
        self.queue.hurry_all();
        // An unreachable service is looked at once more, then not waited for.
        let start = std::time::Instant::now();
        self.service.want_probe();
        let progress = |n: usize, t: &Transfer| {
            let line = format!("waiting for {n} upload(s) to reach JottaCloud: {}", drain_progress(t));
            log::info!("{line}");
            eprintln!("jottafuse: {line}");
        };
        let unreachable = || self.service.is_unreachable() && self.service.probed_since(start);
        let drained = self.queue.wait_empty(limit, progress, || stop.load(Ordering::SeqCst) || unreachable());
        let left = self.queue.report().0.len();
        if unreachable() && left > 0 {
            log::warn!("JottaCloud is unreachable: {left} upload(s) stay in the journal and go out at the next mount");
        } else if !drained || left > 0 {
            log::warn!("{left} upload(s) stay in the journal and continue at the next mount");
        }
        if let Some(journal) = &self.journal {
            journal.flush_deletions();
        }
        left
    }

    /// How many names (inodes) the mount holds in memory now: what `df -i` reports as used.
    pub fn entries_known(&self) -> usize {
        lock(&self.table).node_count()
    }

    /// Resolves when a record arrives in an empty upload queue (see `UploadQueue::first_pending`).
    pub async fn first_pending(&self) {
        self.queue.first_pending.notified().await
    }

    pub fn status(&self) -> StatusReport {
        let (pending, stats) = self.queue.report();
        let transfer = self.queue.transfer();
        let cached_entries = lock(&self.table).node_count();
        StatusReport {
            pending_bytes: pending.iter().map(|p| p.size).sum(),
            pending,
            stats,
            transfer,
            cached_entries,
            service: self.service.report(),
        }
    }
}

/// "X MiB left, Y MiB sent, Z MiB/s, about N s": the drain's countdown.
fn drain_progress(t: &Transfer) -> String {
    let mib = |b: u64| b as f64 / 1048576.0;
    let eta = match t.eta_secs {
        Some(s) => format!("about {s} s left"),
        None => "no bytes moving".to_string(),
    };
    format!("{:.1} MiB left, {:.1} MiB sent, {:.2} MiB/s, {eta}", mib(t.left), mib(t.sent), mib(t.rate))
}

/// What an upload made of a file the table knew as `before`. The upload's answer names neither the
/// revision nor the uuid: the upload made the next revision of what the node stood for (none when
/// identical content was already there), and an overwrite keeps the uuid. `xattrs` asks the server for
/// a uuid still unknown.
fn uploaded_meta(before: Option<&FileMeta>, outcome: &UploadOutcome) -> FileMeta {
    let mut meta = FileMeta::from_info(&outcome.file);
    if meta.revision == 0 {
        let prev = before.map(|f| f.revision).unwrap_or(0);
        let same = outcome.deduplicated && before.is_some_and(|f| f.md5 == meta.md5 && prev > 0);
        meta.revision = if same { prev } else { prev + 1 };
        // Counted from a revision that only stood for "on the server": still unknown.
        meta.brief = before.is_some_and(|f| f.brief);
    }
    if meta.uuid.is_none() {
        meta.uuid = before.and_then(|f| f.uuid.clone());
    }
    meta
}

/// Keep what the table knows of a file's server state when a recovered record is attached.
fn table_meta(table: &super::node::InodeTable, folder: u64, name: &str) -> Option<FileMeta> {
    table.child(folder, name).and_then(|i| table.get(i)).and_then(|n| n.file.clone()).or(Some(FileMeta::default()))
}
