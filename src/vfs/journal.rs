//! The durable upload journal: one small JSON record per file waiting to reach JottaCloud, beside the
//! staging file that holds its bytes. A record is written (temp file, fsync, rename, fsync of the folder;
//! or sealed with the content, below) before `close()` returns, and removed only after the server confirmed the upload, so a `kill -9` or a
//! reboot in between loses nothing: the next mount of the same account finds the records and uploads them.
//!
//! Changes of metadata alone (a rename, a new mtime, the reason of a failure) go to an overlay beside the
//! record, written without fsync: like a rename on a local disk they survive a `kill -9` but may be lost
//! to a power cut, in which case the durable record still uploads the same content under its earlier name
//! and time. The overlay names the durable record it amends (`seq`), so a stale one is never applied, and
//! a torn one is ignored: it can never cost the content.
//!
//! Three kinds of record: a file (the default, and all records written before folders existed); a
//! folder made while the service was unreachable, which has no staging file and is created on the
//! server before anything below it (see `pending_dirs.rs`); and a name to remove from the server, left
//! there by a file that moved or went away while its upload was in flight (see `removals.rs`).
//!
//! Layout under the account's cache folder: `staging/<id>` (content), `journal/<id>.json` (record) and
//! `journal/<id>.meta` (overlay), `journal/<id>.sealed` (a small file's sealed record, below), `trash/`
//! (records on their way out).
//!
//! A small file's first record is *sealed*: the record and the file's content in one new file, written
//! once under its final name and flushed once, so a close waits for one flush instead of three (the
//! staging file, the record, the records folder). The staging file is then never flushed: after a power
//! cut the content comes back from the seal, whose md5 tells a whole one from one a crash cut short
//! (that one belonged to a close that had not returned). On ext4, XFS and btrfs, flushing a new file also
//! makes its name durable (their fsync commits the entry that created it); elsewhere the records folder
//! is flushed after it as well. Any later record of the same id is an ordinary one, and wins over the
//! seal once its sequence number is higher (the seal is withdrawn once that record and its content are
//! durable). Sequence numbers grow with the local copy's version, so two records of one id share one only
//! when they hold the same content (a close and an fsync of one file that raced); then the seal wins, as
//! only the seal is sure to have it. A seal of an earlier version (a flush sent mid-write by a forked
//! child's exec, cut off by a crash before it saw the close that overtook it) never wins over the close.
//!
//! Two costs are kept off the path of `close()`:
//! - Flushing the records folder is a group commit (`GroupSync`): a closer that arrives while a flush is
//!   running waits for the next one, which covers every record put in place meanwhile, so N concurrent
//!   closes cost one folder flush rather than N.
//! - Removing files is slow on some disks (a freed block may be discarded synchronously, as on an ext4
//!   mounted `discard` without a journal), and removals happen under the lock that closes need. So a
//!   record leaves its place by a rename into `trash/` (as lasting as the removal: a `kill -9` does not
//!   bring it back) and staging files, records in the trash and overlays are deleted by a thread of
//!   their own, which the drain at unmount waits for. Whatever it had not deleted when a mount was
//!   killed is swept at the next mount (a staging file with no record is an orphan).

use crate::remote::UnixTime;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};

/// What a record stands for.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A file whose content waits in the staging file of the same id.
    #[default]
    File,
    /// A folder to create on the server (no staging file; `size` 0, `md5` empty).
    Folder,
    /// A file name to remove from the server (no staging file; `size` 0, `md5` empty).
    Removal,
}

/// Files up to this size get a sealed first record (see the header); larger ones gain little, since
/// their own bytes dominate the flush.
pub const SEALED_MAX: u64 = 1 << 20;

impl EntryKind {
    fn is_file(&self) -> bool {
        *self == EntryKind::File
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: u64,
    /// Where the file must end up, as `/Device/MountPoint/...`.
    pub path: String,
    pub size: u64,
    pub md5: String,
    pub mtime: UnixTime,
    /// Why the last attempt failed, for `jotta status` (kept across restarts).
    #[serde(default)]
    pub last_error: Option<String>,
    /// Orders the durable records of this id (it grows at each one, and with the content's version); an
    /// overlay carries the one it amends.
    #[serde(default)]
    pub seq: u64,
    /// Absent in file records (and in every record of earlier versions), so they stay as they were.
    #[serde(default, skip_serializing_if = "EntryKind::is_file")]
    pub kind: EntryKind,
}

impl JournalEntry {
    /// The record of a folder to create at `path`.
    pub fn folder(id: u64, path: String, mtime: UnixTime) -> Self {
        JournalEntry { id, path, size: 0, md5: String::new(), mtime, last_error: None, seq: 1, kind: EntryKind::Folder }
    }

    /// The record of a name to remove from the server.
    pub fn removal(id: u64, path: String, mtime: UnixTime) -> Self {
        JournalEntry { kind: EntryKind::Removal, ..Self::folder(id, path, mtime) }
    }

    pub fn is_folder(&self) -> bool {
        self.kind == EntryKind::Folder
    }

    pub fn is_removal(&self) -> bool {
        self.kind == EntryKind::Removal
    }

    /// Whether the record has content in a staging file (only files do).
    pub fn has_content(&self) -> bool {
        self.kind.is_file()
    }
}

/// A record written and flushed under a temporary name, waiting to be put in place.
#[derive(Debug)]
pub struct Prepared {
    tmp: PathBuf,
    id: u64,
}

#[derive(Debug, Clone)]
pub struct Journal {
    root: PathBuf,
    /// The last id handed out: ids grow with time, so of two records of one path the newer is the higher.
    last_id: std::sync::Arc<std::sync::atomic::AtomicU64>,
    records_sync: Arc<GroupSync>,
    reaper: Arc<Mutex<Sender<Reap>>>,
    /// Whether flushing a new record also makes its name durable (see the header).
    names_flush_with_file: bool,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether `dir` lies on a filesystem whose fsync of a new file also commits the entry that named it:
/// ext4 (whose magic ext2 and ext3 share; all three are mounted by the ext4 driver on current kernels),
/// XFS and btrfs.
fn names_flush_with_file(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const EXT4: u64 = 0xEF53;
    const XFS: u64 = 0x5846_5342;
    const BTRFS: u64 = 0x9123_683E;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    // SAFETY: statfs writes into the zeroed struct it is given; the path is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return false;
    }
    matches!(st.f_type as u64 & 0xffff_ffff, EXT4 | XFS | BTRFS)
}

/// A sealed record: the entry as JSON (which never holds a raw line break), one line break, the content.
fn encode_sealed(entry: &JournalEntry, content: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    out.reserve(content.len() + 1);
    out.push(b'\n');
    out.extend_from_slice(content);
    Ok(out)
}

/// A sealed record read back, when it is whole: the content has the size and md5 the entry names.
pub fn decode_sealed(bytes: &[u8]) -> Option<(JournalEntry, &[u8])> {
    use md5::{Digest, Md5};
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let entry: JournalEntry = serde_json::from_slice(&bytes[..split]).ok()?;
    let content = &bytes[split + 1..];
    let whole = entry.has_content()
        && content.len() as u64 == entry.size
        && entry.md5.eq_ignore_ascii_case(&hex::encode(Md5::digest(content)));
    whole.then_some((entry, content))
}

/// Where a recovered record was read from.
enum Found {
    Record(JournalEntry),
    Sealed(JournalEntry, Vec<u8>),
}

impl Found {
    fn entry(&self) -> &JournalEntry {
        match self {
            Found::Record(e) | Found::Sealed(e, _) => e,
        }
    }
}

/// One flush of a folder for every caller that asked before it started (see the header).
#[derive(Debug, Default)]
struct GroupSync {
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Callers so far; a caller's ticket is the count when it arrived.
    arrived: u64,
    /// Every caller with a ticket up to this is covered by a finished flush.
    covered: u64,
    running: bool,
}

impl GroupSync {
    fn sync(&self, flush: impl Fn() -> std::io::Result<()>) -> std::io::Result<()> {
        let lock = || self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = lock();
        s.arrived += 1;
        let ticket = s.arrived;
        while s.covered < ticket {
            if s.running {
                s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Lead a flush that covers everyone who arrived until now (their records are in place).
            s.running = true;
            let upto = s.arrived;
            drop(s);
            let result = flush();
            s = lock();
            s.running = false;
            if result.is_ok() {
                s.covered = s.covered.max(upto);
            }
            self.done.notify_all();
            // A failed flush is this caller's error; the others waiting try again themselves.
            result?;
        }
        Ok(())
    }
}

/// Work for the reaper thread.
enum Reap {
    Delete(PathBuf),
    /// Answer once everything sent before is deleted.
    Flush(Sender<()>),
}

/// The thread that deletes files no longer needed (see the header); should it be gone, the caller
/// deletes in place.
fn start_reaper() -> Sender<Reap> {
    let (tx, rx) = channel::<Reap>();
    let started = std::thread::Builder::new().name("journal-reaper".into()).spawn(move || {
        while let Ok(work) = rx.recv() {
            match work {
                Reap::Delete(path) => {
                    let _ = fs::remove_file(path);
                }
                Reap::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    if let Err(e) = started {
        log::warn!("cannot start the thread that deletes uploaded staging files ({e}); deleting in place");
    }
    tx
}

impl Journal {
    /// Open (creating if needed) the journal for one account under `root`.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(root.join("staging"))?;
        fs::create_dir_all(root.join("journal"))?;
        fs::create_dir_all(root.join("trash"))?;
        Ok(Journal {
            root: root.to_path_buf(),
            last_id: Default::default(),
            records_sync: Default::default(),
            reaper: Arc::new(Mutex::new(start_reaper())),
            names_flush_with_file: names_flush_with_file(&root.join("journal")),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn staging_path(&self, id: u64) -> PathBuf {
        self.root.join("staging").join(format!("{id:016x}"))
    }

    fn record_path(&self, id: u64) -> PathBuf {
        self.root.join("journal").join(format!("{id:016x}.json"))
    }

    fn overlay_path(&self, id: u64) -> PathBuf {
        self.root.join("journal").join(format!("{id:016x}.meta"))
    }

    fn sealed_path(&self, id: u64) -> PathBuf {
        self.root.join("journal").join(format!("{id:016x}.sealed"))
    }

    /// A fresh id that no staging file or record uses yet.
    /// A new record id: microseconds since the epoch, shifted to leave room, above every id handed out
    /// before (in this run, and in earlier runs as long as the clock does not go back). Recovery relies
    /// on the order: of two records left for one path, the higher id is the later version.
    pub fn new_id(&self) -> u64 {
        use std::sync::atomic::Ordering;
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        loop {
            let last = self.last_id.load(Ordering::SeqCst);
            let id = ((micros << 8) | (rand::random::<u64>() & 0xff)).max(last + 1) & (u64::MAX >> 1);
            if self.last_id.compare_exchange(last, id, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                continue;
            }
            let taken = [self.staging_path(id), self.record_path(id), self.sealed_path(id)];
            if !taken.iter().any(|p| p.exists()) {
                return id;
            }
        }
    }

    /// Durably record (or replace) an entry. When this returns Ok the record survives a crash.
    pub fn write(&self, entry: &JournalEntry) -> std::io::Result<()> {
        let prepared = self.prepare(entry)?;
        self.install(prepared)?;
        self.sync_records()
    }

    /// The slow half of a durable record: written and flushed under a temporary name of its own, so
    /// it can run with no lock held (nothing reads it until `install`).
    pub fn prepare(&self, entry: &JournalEntry) -> std::io::Result<Prepared> {
        let tmp = self.write_tmp(entry, "json", true)?;
        Ok(Prepared { tmp, id: entry.id })
    }

    /// Put a prepared record in place (a rename: cheap, atomic). Durable once `sync_records` returns.
    pub fn install(&self, prepared: Prepared) -> std::io::Result<()> {
        fs::rename(&prepared.tmp, self.record_path(prepared.id))?;
        // An overlay amends an older record; the new record already says everything it said.
        self.retire(self.overlay_path(prepared.id));
        Ok(())
    }

    /// Seal the first record of a small file (see the header): `content` must hold the bytes `entry`
    /// names. Ok(false) when this id has a seal already (two closes of one file at once), or the content
    /// is shorter than the entry says (truncated meanwhile): the caller writes an ordinary record instead.
    /// Once this and `sync_sealed` have returned, the record and the content survive a crash.
    pub fn seal(&self, entry: &JournalEntry, content: &File) -> std::io::Result<bool> {
        let path = self.sealed_path(entry.id);
        let mut f = match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e),
        };
        let written = (|| {
            let mut bytes = vec![0u8; entry.size as usize];
            std::os::unix::fs::FileExt::read_exact_at(content, &mut bytes, 0)?;
            f.write_all(&encode_sealed(entry, &bytes)?)?;
            super::test_hold::wait("seal");
            f.sync_all()
        })();
        match written {
            Ok(()) => Ok(true),
            // Another handle truncated the file meanwhile: the caller's check of the content's version
            // sends it round again.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                fs::remove_file(&path)?;
                Ok(false)
            }
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Make a seal's name durable where its own flush did not (see the header).
    pub fn sync_sealed(&self) -> std::io::Result<()> {
        if self.names_flush_with_file {
            return Ok(());
        }
        self.sync_records()
    }

    /// Withdraw a seal that never took effect (the content changed, or the file went, while it was
    /// written), so it is never recovered.
    pub fn unseal(&self, id: u64) {
        self.retire(self.sealed_path(id));
    }

    /// A prepared record that is no longer wanted (the content changed while it was written).
    pub fn discard(&self, prepared: Prepared) {
        self.delete_later(prepared.tmp);
    }

    /// Flush the records folder, so the renames of installed records survive a crash. Callers that come
    /// while a flush runs share the next one (group commit).
    pub fn sync_records(&self) -> std::io::Result<()> {
        super::test_hold::wait("journal fsync");
        let dir = self.root.join("journal");
        self.records_sync.sync(|| sync_dir(&dir))
    }

    /// Delete a file on the reaper thread (in place if that thread is gone).
    fn delete_later(&self, path: PathBuf) {
        let sent = self.reaper.lock().unwrap_or_else(|e| e.into_inner()).send(Reap::Delete(path));
        if let Err(std::sync::mpsc::SendError(Reap::Delete(path))) = sent {
            let _ = fs::remove_file(path);
        }
    }

    /// Wait until every deletion asked for so far is done (at unmount, so no uploaded file's copy is
    /// left behind in the cache).
    pub fn flush_deletions(&self) {
        let (tx, rx) = channel();
        if self.reaper.lock().unwrap_or_else(|e| e.into_inner()).send(Reap::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// Move a record or overlay out of the records folder at once (a rename: cheap, and lasting like a
    /// removal); its deletion follows on the reaper thread.
    fn retire(&self, path: PathBuf) {
        let Some(name) = path.file_name() else { return };
        let trash = self.root.join("trash").join(name);
        match fs::rename(&path, &trash) {
            Ok(()) => self.delete_later(trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Flush the overlay of a record, if it has one (fsyncdir: a rename then survives a power cut).
    pub fn sync_overlay(&self, id: u64) -> std::io::Result<()> {
        match File::open(self.overlay_path(id)) {
            Ok(f) => f.sync_all(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Flush the staging folder, so removals of staging files are durable too.
    pub fn sync_staging(&self) -> std::io::Result<()> {
        sync_dir(&self.root.join("staging"))
    }

    /// Record a change of metadata (path, mtime, last error) to an entry whose content is already
    /// durably recorded as `entry.seq`: no fsync (see the header for what a power cut may cost).
    ///
    /// Written over the overlay in place, in one write padded with blanks to at least the old length
    /// (JSON allows trailing blanks): a process killed at any point leaves either the old or the new
    /// overlay whole, and a file changed several times (rsync: close, set the time, rename) costs one
    /// overlay file, not a new file per change.
    pub fn write_metadata(&self, entry: &JournalEntry) -> std::io::Result<()> {
        let f = fs::OpenOptions::new().write(true).create(true).truncate(false).open(self.overlay_path(entry.id))?;
        let old_len = f.metadata()?.len() as usize;
        let mut text = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        if text.len() < old_len {
            text.resize(old_len, b' ');
        }
        std::os::unix::fs::FileExt::write_all_at(&f, &text, 0)
    }

    /// Write a record to a temporary file of its own (temp + rename makes every replacement whole).
    fn write_tmp(&self, entry: &JournalEntry, ext: &str, durable: bool) -> std::io::Result<PathBuf> {
        let tmp = self.root.join("journal").join(format!(".{:016x}.{ext}.{:08x}.tmp", entry.id, rand::random::<u32>()));
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(entry).map_err(std::io::Error::other)?)?;
        if durable {
            super::test_hold::wait("journal fsync");
            f.sync_all()?;
        }
        Ok(tmp)
    }

    /// Forget only the record (the staging file is still the file's local copy).
    pub fn remove_record(&self, id: u64) {
        // Records first: an overlay left alone is ignored, a record left without its overlay is not. The
        // seal before the ordinary record: should only the later record come back, it uploads content the
        // server already has, never an older one.
        self.retire(self.sealed_path(id));
        self.retire(self.record_path(id));
        self.retire(self.overlay_path(id));
    }

    /// Forget an entry and its staging file (after the server confirmed it, or when the file was deleted).
    /// Not flushed: a record that comes back after a power cut uploads content the server already has,
    /// which costs one dedupe hit and no bytes.
    pub fn remove(&self, id: u64) {
        self.remove_record(id);
        self.delete_later(self.staging_path(id));
    }

    /// The record's overlay, when it amends exactly this record and is whole.
    fn amended(&self, entry: JournalEntry) -> JournalEntry {
        let overlay =
            fs::read(self.overlay_path(entry.id)).ok().and_then(|b| serde_json::from_slice::<JournalEntry>(&b).ok());
        match overlay {
            Some(o) if o.id == entry.id && o.seq == entry.seq && o.md5 == entry.md5 && o.size == entry.size => o,
            _ => entry,
        }
    }

    /// Every record left by an earlier run, oldest first; unreadable records are reported and kept aside.
    /// A sealed record that stands puts its content back into the staging file (which was never flushed).
    pub fn pending(&self) -> Vec<JournalEntry> {
        let mut found: std::collections::HashMap<u64, Found> = Default::default();
        let Ok(dir) = fs::read_dir(self.root.join("journal")) else { return Vec::new() };
        for e in dir.flatten() {
            let p = e.path();
            let sealed = match p.extension().and_then(|x| x.to_str()) {
                Some("json") => false,
                Some("sealed") => true,
                _ => continue,
            };
            // A record lies under its own id's name, where `remove` looks for it: one that does not is
            // damaged (it would never go, and its removal would take another record's file).
            let named = |e: &JournalEntry| p.file_stem().and_then(|s| s.to_str()) == Some(&format!("{:016x}", e.id));
            let bytes = fs::read(&p).ok();
            let read = if sealed {
                bytes
                    .as_deref()
                    .and_then(decode_sealed)
                    .filter(|(e, _)| named(e))
                    .map(|(e, c)| Found::Sealed(e, c.to_vec()))
            } else {
                bytes.and_then(|b| serde_json::from_slice::<JournalEntry>(&b).ok()).filter(named).map(Found::Record)
            };
            let Some(read) = read else {
                let aside = p.with_extension(if sealed { "sealed.broken" } else { "broken" });
                if sealed {
                    log::warn!(
                        "incomplete or damaged journal record {} set aside as {} (one cut short by a crash \
                         belongs to a close() that had not returned)",
                        p.display(),
                        aside.display()
                    );
                } else {
                    log::error!("unreadable journal record {} moved to {}", p.display(), aside.display());
                }
                let _ = fs::rename(&p, aside);
                continue;
            };
            // Of a seal and an ordinary record of one id, the higher sequence number stands; at the same
            // one the seal, which holds the content (see the header).
            let rank = |f: &Found| (f.entry().seq, matches!(f, Found::Sealed(..)));
            let id = read.entry().id;
            if found.get(&id).is_none_or(|old| rank(&read) > rank(old)) {
                found.insert(id, read);
            }
        }
        let mut out = Vec::new();
        for (_, f) in found {
            let entry = match f {
                Found::Sealed(entry, content) => {
                    if let Err(e) = fs::write(self.staging_path(entry.id), &content) {
                        log::error!("cannot restore the staging file of {} from its journal record: {e}", entry.path);
                        continue;
                    }
                    entry
                }
                Found::Record(entry) if entry.has_content() && !self.staging_path(entry.id).exists() => {
                    log::error!(
                        "journal record {:016x} for {} has lost its staging file; the content cannot be recovered",
                        entry.id,
                        entry.path
                    );
                    continue;
                }
                Found::Record(entry) => entry,
            };
            out.push(self.amended(entry));
        }
        out.sort_by_key(|e| (e.mtime, e.id));
        out
    }

    /// Staging files with no record: left by writers that never closed before a crash. Removed (only at
    /// mount time, before any staging file is in use).
    pub fn sweep_orphans(&self) {
        let in_journal = |ext: &str| -> std::collections::HashSet<String> {
            fs::read_dir(self.root.join("journal"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
                .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
                .collect()
        };
        let mut records = in_journal("json");
        records.extend(in_journal("sealed"));
        // Records on their way out when the last run stopped.
        for e in fs::read_dir(self.root.join("trash")).into_iter().flatten().flatten() {
            let _ = fs::remove_file(e.path());
        }
        // Records being written when the last run stopped never took effect.
        for e in fs::read_dir(self.root.join("journal")).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
        for stem in in_journal("meta").difference(&records) {
            let _ = fs::remove_file(self.root.join("journal").join(format!("{stem}.meta")));
        }
        for e in fs::read_dir(self.root.join("staging")).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !records.contains(&name) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_broken_ones_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let id = j.new_id();
        fs::write(j.staging_path(id), b"data").unwrap();
        let e = JournalEntry {
            id,
            path: "/Jotta/Archive/a".into(),
            size: 4,
            md5: "x".into(),
            mtime: 5,
            last_error: None,
            seq: 1,
            kind: EntryKind::File,
        };
        j.write(&e).unwrap();
        fs::write(dir.path().join("journal/bad.json"), b"{not json").unwrap();
        let orphan = j.new_id();
        fs::write(j.staging_path(orphan), b"orphan").unwrap();
        let j2 = Journal::open(dir.path()).unwrap();
        assert_eq!(j2.pending(), vec![e]);
        assert!(dir.path().join("journal/bad.broken").exists());
        j2.sweep_orphans();
        assert!(!j2.staging_path(orphan).exists());
        assert!(j2.staging_path(id).exists());
        j2.remove(id);
        assert!(j2.pending().is_empty());
    }

    /// A file's entry for `content`, with a staging file that holds it.
    fn staged(j: &Journal, content: &[u8]) -> (JournalEntry, File) {
        use md5::{Digest, Md5};
        let id = j.new_id();
        fs::write(j.staging_path(id), content).unwrap();
        let e = JournalEntry {
            id,
            path: format!("/Jotta/Archive/{id:x}"),
            size: content.len() as u64,
            md5: hex::encode(Md5::digest(content)),
            mtime: 5,
            last_error: None,
            seq: 1,
            kind: EntryKind::File,
        };
        (e, File::open(j.staging_path(id)).unwrap())
    }

    #[test]
    fn sealed_records_bring_their_content_back_and_torn_ones_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let (whole, file) = staged(&j, b"small file");
        assert!(j.seal(&whole, &file).unwrap());
        j.sync_sealed().unwrap();
        assert!(!j.seal(&whole, &file).unwrap(), "an id is sealed once");
        let (shrunk, file) = staged(&j, b"truncated while it was sealed");
        // Truncated through another handle while the close seals it.
        fs::OpenOptions::new().write(true).open(j.staging_path(shrunk.id)).unwrap().set_len(4).unwrap();
        assert!(!j.seal(&shrunk, &file).unwrap(), "a content shorter than its entry is not sealed");
        assert!(!j.sealed_path(shrunk.id).exists());
        fs::remove_file(j.staging_path(shrunk.id)).unwrap();
        // The staging file was never flushed: a power cut may take it, or leave zeros in it.
        fs::remove_file(j.staging_path(whole.id)).unwrap();
        let (zeroed, file) = staged(&j, b"another one");
        assert!(j.seal(&zeroed, &file).unwrap());
        fs::write(j.staging_path(zeroed.id), [0u8; 11]).unwrap();
        // One cut short by a crash before its flush returned.
        let (torn, file) = staged(&j, b"cut short by a crash");
        assert!(j.seal(&torn, &file).unwrap());
        let bytes = fs::read(j.sealed_path(torn.id)).unwrap();
        fs::write(j.sealed_path(torn.id), &bytes[..bytes.len() - 3]).unwrap();
        // A withdrawn seal is never recovered.
        let (withdrawn, file) = staged(&j, b"changed meanwhile");
        assert!(j.seal(&withdrawn, &file).unwrap());
        j.unseal(withdrawn.id);

        j.sweep_orphans();
        assert!(j.staging_path(zeroed.id).exists(), "a sealed record's staging file is no orphan");
        let mut want = vec![whole.clone(), zeroed.clone()];
        want.sort_by_key(|e| (e.mtime, e.id));
        assert_eq!(j.pending(), want);
        assert_eq!(fs::read(j.staging_path(whole.id)).unwrap(), b"small file");
        assert_eq!(fs::read(j.staging_path(zeroed.id)).unwrap(), b"another one");
        assert!(dir.path().join(format!("journal/{:016x}.sealed.broken", torn.id)).exists());
        assert_eq!(j.pending(), want, "a second look reads the same");
        // A close and an fsync that raced: an ordinary record of the same content at the same sequence
        // number, whose staging file was never flushed. The seal stands, and brings the content back.
        j.write(&zeroed).unwrap();
        fs::remove_file(j.staging_path(zeroed.id)).unwrap();
        assert_eq!(j.pending(), want);
        assert_eq!(fs::read(j.staging_path(zeroed.id)).unwrap(), b"another one");

        // A later ordinary record of the same id stands over the seal; an overlay amends either.
        let grown = JournalEntry { size: 14, md5: "m2".into(), seq: 2, ..whole.clone() };
        j.write(&grown).unwrap();
        let renamed = JournalEntry { path: "/Jotta/Archive/renamed".into(), ..zeroed.clone() };
        j.write_metadata(&renamed).unwrap();
        let mut want = vec![grown, renamed];
        want.sort_by_key(|e| (e.mtime, e.id));
        assert_eq!(j.pending(), want);
        j.remove(whole.id);
        j.remove(zeroed.id);
        j.flush_deletions();
        assert!(j.pending().is_empty(), "removal takes the seal too");
    }

    #[test]
    fn closers_arriving_during_a_flush_share_the_next_one() {
        let sync = Arc::new(GroupSync::default());
        let flushes = Arc::new(std::sync::atomic::AtomicU32::new(0));
        const CLOSERS: u64 = 8;
        let threads: Vec<_> = (0..CLOSERS)
            .map(|_| {
                let (sync, flushes) = (sync.clone(), flushes.clone());
                std::thread::spawn(move || {
                    sync.sync(|| {
                        // The first flush lasts until every closer has arrived: all the others then wait
                        // for one more flush, which covers them all.
                        while sync.state.lock().unwrap().arrived < CLOSERS {
                            std::thread::yield_now();
                        }
                        flushes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Ok(())
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(flushes.load(std::sync::atomic::Ordering::SeqCst), 2, "{CLOSERS} closers, two flushes");
        // A failed flush is the error of the caller that led it; the next caller flushes again.
        let failing = GroupSync::default();
        assert!(failing.sync(|| Err(std::io::Error::other("disk gone"))).is_err());
        assert!(failing.sync(|| Ok(())).is_ok());
    }

    #[test]
    fn overlays_rewritten_in_place_read_whole_and_removals_leave_by_the_trash() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let id = j.new_id();
        fs::write(j.staging_path(id), b"data").unwrap();
        let base = JournalEntry {
            id,
            path: "/Jotta/Archive/.a-long-temporary-name.XXXXXX".into(),
            size: 4,
            md5: "m".into(),
            mtime: 5,
            last_error: None,
            seq: 1,
            kind: EntryKind::File,
        };
        j.write(&base).unwrap();
        let long = JournalEntry { mtime: 6, ..base.clone() };
        j.write_metadata(&long).unwrap();
        // A shorter overlay over a longer one: padded, so it parses whole.
        let short = JournalEntry { path: "/Jotta/Archive/a".into(), ..long };
        j.write_metadata(&short).unwrap();
        assert_eq!(j.pending(), vec![short]);
        j.remove(id);
        j.flush_deletions();
        assert!(j.pending().is_empty());
        assert!(!j.staging_path(id).exists());
        assert_eq!(fs::read_dir(dir.path().join("trash")).unwrap().count(), 0, "deleted by the reaper");
    }

    #[test]
    fn folder_records_need_no_staging_file_and_old_records_read_as_files() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let folder = JournalEntry::folder(j.new_id(), "/Jotta/Archive/new".into(), 5);
        j.write(&folder).unwrap();
        // A record as earlier versions wrote it: no `kind`.
        let old = j.new_id();
        fs::write(j.staging_path(old), b"data").unwrap();
        let text = format!(
            r#"{{"id":{old},"path":"/Jotta/Archive/new/a","size":4,"md5":"m","mtime":6,"last_error":null,"seq":1}}"#
        );
        fs::write(j.record_path(old), text).unwrap();
        let pending = j.pending();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0], folder);
        assert!(!pending[1].is_folder());
        assert_eq!(pending[1].path, "/Jotta/Archive/new/a");
        // File records are written as before, so an earlier version reads them too.
        let written = String::from_utf8(fs::read(j.record_path(folder.id)).unwrap()).unwrap();
        assert!(written.contains(r#""kind":"folder""#), "{written}");
        let file = JournalEntry { id: old, kind: EntryKind::File, ..pending[1].clone() };
        j.write(&file).unwrap();
        let written = String::from_utf8(fs::read(j.record_path(old)).unwrap()).unwrap();
        assert!(!written.contains("kind"), "{written}");
        j.sweep_orphans();
        assert_eq!(j.pending().len(), 2, "a folder record keeps no staging file and is no orphan");
    }

    #[test]
    fn metadata_overlays_amend_only_their_own_record() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let id = j.new_id();
        fs::write(j.staging_path(id), b"data").unwrap();
        let base = JournalEntry {
            id,
            path: "/Jotta/Archive/.a.tmp".into(),
            size: 4,
            md5: "m1".into(),
            mtime: 5,
            last_error: None,
            seq: 1,
            kind: EntryKind::File,
        };
        j.write(&base).unwrap();
        let renamed = JournalEntry { path: "/Jotta/Archive/a".into(), mtime: 7, ..base.clone() };
        j.write_metadata(&renamed).unwrap();
        assert_eq!(j.pending(), vec![renamed.clone()]);
        // A new durable record supersedes the overlay; a stale overlay that comes back is not applied.
        let rewritten = JournalEntry { md5: "m2".into(), seq: 2, ..renamed.clone() };
        j.write(&rewritten).unwrap();
        assert_eq!(j.pending(), vec![rewritten.clone()]);
        fs::write(j.overlay_path(id), serde_json::to_vec(&JournalEntry { path: "/old".into(), ..renamed }).unwrap())
            .unwrap();
        assert_eq!(j.pending(), vec![rewritten.clone()]);
        // A torn overlay costs nothing either.
        fs::write(j.overlay_path(id), b"{\"id\": 1, \"pa").unwrap();
        assert_eq!(j.pending(), vec![rewritten]);
        j.remove(id);
        assert!(j.pending().is_empty());
        assert!(!j.overlay_path(id).exists());
        // An overlay whose record is gone (a crash between the two removals) is swept at the next mount.
        fs::write(j.overlay_path(id), b"{}").unwrap();
        j.sweep_orphans();
        assert!(!j.overlay_path(id).exists());
    }
}
