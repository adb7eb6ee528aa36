//! Names left behind on the server. A file renamed (or unlinked) while its upload is in flight moves here
//! at once, but the server still has its old name until that upload ends and settles the move; if the
//! daemon dies before, or the delete of an unlinked file cannot reach the service, the old name would
//! come back at the next listing. An unlinked file's upload may also land after the unlink, and is
//! deleted only when it ends. So the old name gets a durable removal record in the journal: the upload
//! workers delete it on the server once nothing else writes to that name (uploads to one name go one at
//! a time), recovery hides it from listings at once, and using the name again here drops it.
//!
//! | event                                              | removal record of NAME                         |
//! |----------------------------------------------------|------------------------------------------------|
//! | rename NAME -> other, upload of the file in flight | written (durable) and queued                   |
//! | unlink NAME, an upload of the file in flight       | written (durable) and queued                   |
//! | create / mkdir / rename onto NAME here             | dropped (the new file or folder owns NAME)     |
//! | ... while a worker deletes NAME on the server      | that waits for the delete to end first         |
//! | a worker claims it, no upload to NAME in flight    | delete NAME on the server (gone already: done) |
//! | listing of NAME's folder while it waits            | NAME not shown (unless a local file holds it)  |
//!
//! Lock order as everywhere in the core: `journal_lock` -> `table` -> `queue`.

use super::journal::JournalEntry;
use super::upload::Job;
use super::{lock, now, JottaFs};
use crate::remote::ItemKind;
use crate::remote::{Remote, RemoteError, RemotePath};
use std::time::Duration;

impl<R: Remote> JottaFs<R> {
    /// Record that `path` must go from the server. Called with `journal_lock` held.
    pub(super) fn record_removal_locked(&self, path: &RemotePath) {
        let Some(journal) = &self.journal else { return };
        let entry = JournalEntry::removal(journal.new_id(), path.to_string(), now());
        if let Err(e) = journal.write(&entry) {
            log::error!("{path}: cannot record that its old name must go from JottaCloud: {e}");
            return;
        }
        log::debug!("{path}: removal recorded ({:016x})", entry.id);
        self.queue.schedule(entry, None, Duration::ZERO);
    }

    /// A name is used here again: a removal waiting for it must not delete what comes there next.
    /// Returns whether one waited (the server may still hold the old file there). Called with
    /// `journal_lock` held.
    pub(super) fn name_reused_locked(&self, path: &RemotePath) -> bool {
        let Some(journal) = &self.journal else { return false };
        let ids = self.queue.take_removals(&path.to_string());
        for id in &ids {
            journal.remove(*id);
        }
        !ids.is_empty()
    }

    /// The worker's part: delete the name on the server unless a file of this mount holds it again.
    pub(super) async fn remove_on_server(&self, job: Job) {
        let Some(journal) = &self.journal else { return };
        let held = {
            let table = lock(&self.table);
            // A folder there now, or a file of this mount waiting for its upload, owns the name.
            table
                .find(&job.path)
                .and_then(|i| table.get(i))
                .is_some_and(|n| n.kind.is_dir() || n.pending_record().is_some())
        };
        if !held {
            match self.remote.delete(&job.path, ItemKind::File).await {
                Ok(()) | Err(RemoteError::NotFound(_)) => {}
                Err(e) => return self.upload_failed(job, e),
            }
        }
        let _guard = lock(&self.journal_lock);
        {
            // What a listing fetched before the removal still shows of the old name goes with it.
            let mut table = lock(&self.table);
            let stale = table.find(&job.path).filter(|i| {
                table.get(*i).is_some_and(|n| n.kind == super::node::InodeKind::File && n.pending_record().is_none())
            });
            if let (false, Some(ino)) = (held, stale) {
                table.detach(ino);
            }
        }
        self.queue.finished(job.id, false, 0);
        journal.remove(job.id);
        log::info!("removed the old name {} from JottaCloud", job.path);
    }
}
