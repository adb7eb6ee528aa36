//! A file's local life, as one state machine: the `Stage` of its local copy (the staging file a
//! `LocalFile` owns) and every transition between stages, here and nowhere else. The upload queue keeps
//! its own small phase per journal record (waiting / in flight, `upload_queue.rs`); this file owns what
//! the mount shows and promises for the file itself.
//!
//! | stage            | what is true                                                | close()/commit does           |
//! |------------------|-------------------------------------------------------------|-------------------------------|
//! | `Changed`        | content (or a time on an unflushed copy) changed since the  | md5, flush, durable record,   |
//! |                  | last durable record, or never recorded                      | queue the upload -> Recorded  |
//! | `Retimed`        | only the name or time changed; the content of the record is | overlay on the record         |
//! |                  | on the local disk                                           | -> Recorded { flushed: true } |
//! | `Recorded{f}`    | a durable record stands for exactly this content; `f`: the  | (f false) flush -> f true     |
//! |                  | content is durable too (the staging file flushed, or the    |                               |
//! |                  | record sealed with it); fsync records unflushed             |                               |
//! | `Clean`          | the copy equals what the server holds, nothing to record    | nothing                       |
//! | `Orphaned`       | unlinked or replaced while open: serves the open handles    | nothing, ever                 |
//! |                  | only; no record, never uploaded                             |                               |
//!
//! Transitions (method -> from => to):
//!
//! | event                                   | from                        | to                              |
//! |-----------------------------------------|-----------------------------|---------------------------------|
//! | `LocalFile::create` (create, O_TRUNC)    | -                           | `Changed`                       |
//! | fetched for writing (`fetched`)          | -                           | `Clean`                         |
//! | journal recovery (`LocalFile::reopen`)   | -                           | `Recorded { flushed: true }`    |
//! | `content_changed` (write, truncate)      | any but `Orphaned`          | `Changed`                       |
//! | `metadata_changed` (utimens, rename)     | `Recorded{true}`, `Retimed` | `Retimed`                       |
//! |                                          | `Recorded{false}`, `Clean`  | `Changed`                       |
//! | `recorded` (journal record written)      | `Changed`, `Retimed`        | `Recorded { flushed }`          |
//! | `flushed` (close after fsync)            | `Recorded{false}`           | `Recorded{true}`                |
//! | `uploaded_while_in_use` (settle)         | `Recorded`                  | `Clean` (record gone)           |
//! |                                          | `Changed`, `Retimed`        | `Changed` (record gone)         |
//! | `orphan` (unlink / replaced while open)  | any                         | `Orphaned` (records dropped)    |
//! | upload settled, no writer, `Recorded`    | `Recorded`                  | local copy dropped (on server)  |
//! | last handle closed                       | `Clean`, `Orphaned`         | local copy dropped              |
//!
//! A change of bytes that a durable record or an upload in flight stands for is made in a copy under a
//! new id (`commit.rs`, `with_local`), which `supersedes` the earlier record until it is recorded itself:
//! so a crash always finds what the last acknowledged close() promised.
//!
//! Lock order, for everything that drives these transitions: per-file gate -> `journal_lock` -> `table`
//! -> `queue`. Stages change only with `table` held; slow work (hashing, copying, flushing, journal
//! fsyncs, the network) happens with neither `table` nor `journal_lock` held.

use super::staging::LocalFile;

/// Where a local copy stands; see the module header for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Changed,
    Retimed,
    Recorded { flushed: bool },
    Clean,
    Orphaned,
}

/// The last durable journal record of a local copy's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub md5: String,
    pub size: u64,
}

/// What a commit must write for a copy in its current stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Nothing to record.
    Nothing,
    /// The record stands; only the staging file must still reach the local disk (close after fsync).
    Flush,
    /// A change of name or time on recorded, flushed content: an overlay of `record`.
    Overlay(Record),
    /// New content: md5, flush and a durable record.
    Full,
}

impl LocalFile {
    /// What committing this copy needs (`durable`: close(), which also owes the local flush).
    pub fn due(&self, durable: bool) -> Due {
        match (self.stage, &self.record) {
            (Stage::Changed, _) => Due::Full,
            (Stage::Retimed, Some(r)) => Due::Overlay(r.clone()),
            (Stage::Retimed, None) => Due::Full,
            (Stage::Recorded { flushed: false }, _) if durable => Due::Flush,
            _ => Due::Nothing,
        }
    }

    /// Whether the kernel's writers and readers are all that keep this copy (not a pending upload).
    pub fn is_orphaned(&self) -> bool {
        self.stage == Stage::Orphaned
    }

    /// Whether a durable record stands for this copy's current content and metadata.
    pub fn is_recorded(&self) -> bool {
        matches!(self.stage, Stage::Recorded { .. })
    }

    /// Whether the copy holds nothing the server lacks (it can be dropped once no handle uses it).
    pub fn is_clean(&self) -> bool {
        self.stage == Stage::Clean
    }

    /// Bytes changed.
    pub fn content_changed(&mut self) {
        if self.stage != Stage::Orphaned {
            self.stage = Stage::Changed;
        }
        self.version += 1;
    }

    /// A new time (or name) that only the record's metadata must learn.
    pub fn metadata_changed(&mut self) {
        self.stage = match self.stage {
            Stage::Recorded { flushed: true } | Stage::Retimed => Stage::Retimed,
            Stage::Orphaned => Stage::Orphaned,
            _ => Stage::Changed,
        };
        self.version += 1;
    }

    /// Fetched from the server for writing and not changed yet.
    pub fn fetched(&mut self) {
        self.stage = Stage::Clean;
    }

    /// A journal record now stands for this copy as of `version` (the caller checked it is current).
    pub fn recorded(&mut self, record: Record, flushed_now: bool) {
        if self.stage == Stage::Orphaned {
            return;
        }
        let flushed = flushed_now || matches!(self.stage, Stage::Retimed);
        self.stage = Stage::Recorded { flushed };
        self.record = Some(record);
    }

    /// The staging file reached the local disk after its record (close after fsync).
    pub fn flushed(&mut self) {
        if self.stage == (Stage::Recorded { flushed: false }) {
            self.stage = Stage::Recorded { flushed: true };
        }
    }

    /// The upload of this id finished while the copy is still open (or changed meanwhile): the record
    /// is removed, so what comes next must be recorded afresh and in full.
    pub fn uploaded_while_in_use(&mut self) {
        self.stage = match self.stage {
            Stage::Recorded { .. } | Stage::Clean => Stage::Clean,
            Stage::Orphaned => Stage::Orphaned,
            Stage::Changed | Stage::Retimed => Stage::Changed,
        };
        self.record = None;
    }

    /// Unlinked or replaced while open: the copy only serves its handles from now on. Returns the ids
    /// whose records must go (this copy's and the one it supersedes).
    pub fn orphan(&mut self) -> [Option<u64>; 2] {
        self.stage = Stage::Orphaned;
        self.record = None;
        [Some(self.id), self.supersedes.take()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (tempfile::TempDir, LocalFile) {
        let dir = tempfile::tempdir().unwrap();
        let f = LocalFile::create(7, &dir.path().join("s"), 0).unwrap();
        (dir, f)
    }

    fn rec(size: u64) -> Record {
        Record { seq: 1, md5: "m".into(), size }
    }

    #[test]
    fn a_new_file_is_recorded_in_full_then_retimed_by_overlay() {
        let (_d, mut f) = fresh();
        assert_eq!(f.due(true), Due::Full);
        f.recorded(rec(0), true);
        assert_eq!(f.due(true), Due::Nothing);
        f.metadata_changed();
        assert_eq!(f.due(true), Due::Overlay(rec(0)));
        f.recorded(rec(0), false);
        assert_eq!(f.stage, Stage::Recorded { flushed: true });
    }

    #[test]
    fn an_unflushed_record_owes_close_a_flush_and_a_new_time_a_full_record() {
        let (_d, mut f) = fresh();
        f.recorded(rec(0), false);
        assert_eq!(f.due(false), Due::Nothing);
        assert_eq!(f.due(true), Due::Flush);
        f.metadata_changed();
        assert_eq!(f.due(true), Due::Full);
    }

    #[test]
    fn an_orphan_is_never_recorded_whatever_happens_to_it() {
        let (_d, mut f) = fresh();
        f.supersedes = Some(3);
        f.recorded(rec(0), true);
        assert_eq!(f.orphan(), [Some(7), Some(3)]);
        f.recorded(rec(1), true);
        f.content_changed();
        f.metadata_changed();
        f.uploaded_while_in_use();
        assert!(f.is_orphaned());
        assert_eq!(f.due(true), Due::Nothing);
        assert_eq!(f.record, None);
    }

    #[test]
    fn an_upload_finishing_under_an_open_copy_leaves_it_clean_or_changed() {
        let (_d, mut f) = fresh();
        f.recorded(rec(0), true);
        f.uploaded_while_in_use();
        assert!(f.is_clean());
        assert_eq!(f.due(true), Due::Nothing);
        f.recorded(rec(0), true);
        f.metadata_changed();
        f.uploaded_while_in_use();
        assert_eq!(f.due(true), Due::Full);
    }
}
