//! The upload queue: which journaled files wait for upload, when each may start (the write-back delay,
//! or a backoff after a failure), which are in flight, and the figures `jotta status` shows. Pure
//! bookkeeping: the workers that move bytes live in `upload.rs`.
//!
//! Folder records (folders made while the service was unreachable) wait here too. Invariant: nothing is
//! handed out while a folder record above it is pending, so the server gets each folder before what is
//! in it (and a parent folder before its subfolders).
//!
//! Lock order: the inode table before this queue's lock, never the other way round.

use super::journal::JournalEntry;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    InFlight,
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub entry: JournalEntry,
    /// The inode showing this file, if the mount has one (records recovered at start may not, yet).
    pub ino: Option<u64>,
    pub ready_at: Instant,
    pub attempts: u32,
    pub phase: Phase,
    /// Unlinked while in flight: delete what the upload made.
    pub cancelled: bool,
    /// A failure that no retry will cure (a name the service refuses); kept, not retried.
    pub stuck: bool,
    /// fsync asked for it: upload even while the file is still open for writing.
    pub forced: bool,
    /// The last attempt failed for a reason only the user can cure (account full, credentials gone):
    /// still retried while mounted, but unmount does not wait for it.
    pub blocked: bool,
    /// While in flight: where on the server the upload's file is (as spelt here; in lowercase it is this
    /// upload's entry in `Inner::busy_paths`). The upload starts there; a folder above it moved on the server carries it along (`folder_moved`), and so does a
    /// move of the file itself once its upload ended (`landed_at`).
    landing: Option<String>,
    /// `entry.path` in lowercase, kept with it: the checks that hold a record back compare paths
    /// case-insensitively, and folding the case of every waiting path at each look cost more than the
    /// uploads of small files themselves.
    key: String,
    /// Bytes the attempt in flight has handed to the network so far (bumped by the body stream, read
    /// by the status report; a fresh counter for each attempt).
    sent: Arc<AtomicU64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueStats {
    pub uploaded: u64,
    /// Folders made while the service was unreachable, created on the server since.
    pub folders_created: u64,
    pub deduplicated: u64,
    pub bytes_sent: u64,
    pub failures: u64,
}

#[derive(Default)]
struct Inner {
    pending: HashMap<u64, Pending>,
    /// The waiting records that may start (not stuck), by the time they may: the workers look here for
    /// work, so a look costs the few records it skips, not a pass over thousands waiting out their
    /// write-back delay. Changed only through `put`, `take` and `update`.
    by_time: BTreeSet<(Instant, u64)>,
    /// Inodes with an upload in flight: one upload per file at a time, so an older version can never
    /// land after a newer one.
    busy_inos: std::collections::HashSet<u64>,
    /// Lowercase paths with an upload in flight: one upload per path at a time too. A file replaced
    /// (renamed over, or unlinked and created again) is a new inode at the same path; an upload of the
    /// old one still in flight (say, retrying its connection through an outage) must land before the new
    /// one starts, never after it.
    busy_paths: std::collections::HashSet<String>,
    /// Lowercase paths the mount is changing on the server right now, outside the uploads: a move of a
    /// file onto one, or the delete of what a cancelled upload left there. The other waits, so the delete
    /// can never take the moved file for the leftover (`claim_name`).
    claimed_names: std::collections::HashSet<String>,
    /// Sum of `entry.size` over `pending`, kept up to date (the free-space check asks on every write).
    pending_bytes: u64,
    /// Lowercase paths of the pending folder records (how many records each), kept up to date.
    folders: HashMap<String, usize>,
    /// How many removal records are queued: lets every create and listing skip the look for them.
    removals: usize,
    stats: QueueStats,
    /// (when, bytes sent in all) as last seen by a report: the rate is taken over these.
    samples: VecDeque<(Instant, u64)>,
    /// (when, size) of files whose upload finished since the account's figures were last asked for, and
    /// their sum: they count against the account's space until figures fetched after them say what the
    /// service counts (`landed_bytes`, `figures_asked`). The free-space check of every write reads the sum.
    landed: VecDeque<(Instant, u64)>,
    landed_bytes: u64,
}

/// How long finished uploads are remembered at most (figures are fetched again every 30 s while writes
/// go on).
const LANDED_KEPT: Duration = Duration::from_secs(600);

/// How far the uploads have got, for `jotta status` and the drain at unmount.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Transfer {
    /// Bytes handed to the network since the mount started, attempts that failed included.
    pub sent: u64,
    /// Bytes per second over the last seconds (0 while nothing moves).
    pub rate: u64,
    /// Bytes of pending files not yet sent (in-flight uploads count what they have sent already; files
    /// stuck or blocked, which wait for the user, are left out).
    pub left: u64,
    /// Seconds until `left` is sent at `rate`; None while nothing moves.
    pub eta_secs: Option<u64>,
}

/// How far back the rate looks: long enough to smooth chunky progress, short enough to follow changes.
const RATE_WINDOW: Duration = Duration::from_secs(5);

impl Pending {
    /// Where this record stands in `Inner::by_time`, if it is there.
    fn time_key(&self, id: u64) -> Option<(Instant, u64)> {
        (self.phase == Phase::Waiting && !self.stuck).then_some((self.ready_at, id))
    }
}

impl Inner {
    /// Drop the finished uploads, oldest first, while `gone` says so of their finishing time.
    fn forget_landed(&mut self, gone: impl Fn(Instant) -> bool) {
        while let Some(&(_, size)) = self.landed.front().filter(|(t, _)| gone(*t)) {
            self.landed.pop_front();
            self.landed_bytes -= size;
        }
    }

    fn put(&mut self, id: u64, p: Pending) {
        // The old record leaves first: were both at the same time, its removal would take the new one's
        // place in `by_time` with it.
        self.take(id);
        self.pending_bytes += p.entry.size;
        self.index(&p.entry, true);
        if let Some(key) = p.time_key(id) {
            self.by_time.insert(key);
        }
        self.pending.insert(id, p);
    }

    /// Change a record's phase, time or stuck mark (and anything else) with `by_time` kept in step.
    fn update<T>(&mut self, id: u64, change: impl FnOnce(&mut Pending) -> T) -> Option<T> {
        let p = self.pending.get_mut(&id)?;
        if let Some(key) = p.time_key(id) {
            self.by_time.remove(&key);
        }
        let out = change(p);
        if let Some(key) = p.time_key(id) {
            self.by_time.insert(key);
        }
        Some(out)
    }

    /// The waiting record that comes due first among those not held back: what idle workers sleep for.
    fn first_takeable(&self) -> Option<u64> {
        self.by_time.iter().map(|&(_, id)| id).find(|id| self.pending.get(id).is_some_and(|p| !self.held_back(p)))
    }

    /// Whether a waiting record must wait for something else first: an upload of the same file or path
    /// in flight, or a folder above it still to create.
    fn held_back(&self, p: &Pending) -> bool {
        p.ino.is_some_and(|i| self.busy_inos.contains(&i))
            || self.busy_paths.contains(&p.key)
            || self.below_pending_folder(&p.key)
    }

    /// Where the uploads stand now, given the bytes sent in all; notes a sample for the rate.
    fn transfer(&mut self, sent: u64) -> Transfer {
        let now = Instant::now();
        while self.samples.len() > 1 && self.samples.front().is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        self.samples.push_back((now, sent));
        let rate = match self.samples.front() {
            Some(&(t, first)) if now.duration_since(t) >= Duration::from_millis(500) => {
                (sent.saturating_sub(first) as f64 / now.duration_since(t).as_secs_f64()) as u64
            }
            _ => 0,
        };
        let left: u64 = self
            .pending
            .values()
            // What nothing but the user can move (stuck, blocked) is not counted: the drain does not
            // wait for it, and an ETA that includes it would never arrive.
            .filter(|p| !p.entry.is_folder() && !p.entry.is_removal() && !p.stuck && !p.blocked)
            .map(|p| {
                let done = if p.phase == Phase::InFlight { p.sent.load(Ordering::Relaxed) } else { 0 };
                p.entry.size.saturating_sub(done)
            })
            .sum();
        let eta_secs = (rate > 0).then(|| left.div_ceil(rate));
        Transfer { sent, rate, left, eta_secs }
    }

    fn take(&mut self, id: u64) -> Option<Pending> {
        let p = self.pending.remove(&id)?;
        self.pending_bytes -= p.entry.size;
        self.index(&p.entry, false);
        if let Some(key) = p.time_key(id) {
            self.by_time.remove(&key);
        }
        Some(p)
    }

    /// Count a folder record in (or out of) `folders`, a removal in `removals`; file records are not
    /// indexed.
    fn index(&mut self, entry: &JournalEntry, add: bool) {
        if entry.is_removal() {
            self.removals = if add { self.removals + 1 } else { self.removals.saturating_sub(1) };
            return;
        }
        if !entry.is_folder() {
            return;
        }
        let key = entry.path.to_lowercase();
        if add {
            *self.folders.entry(key).or_default() += 1;
        } else if let Some(n) = self.folders.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.folders.remove(&key);
            }
        }
    }

    /// Whether a folder above `lower` (a lowercase path: names compare case-insensitively, as on the
    /// service) still waits to be created.
    fn below_pending_folder(&self, lower: &str) -> bool {
        if self.folders.is_empty() {
            return false;
        }
        lower.char_indices().filter(|&(i, c)| c == '/' && i > 0).any(|(i, _)| self.folders.contains_key(&lower[..i]))
    }
}

#[derive(Default)]
pub struct UploadQueue {
    inner: Mutex<Inner>,
    /// Signalled whenever an upload finishes or fails (drain waits on it).
    changed: Condvar,
    /// The same signal for tasks (an fsync's reply waits on it, on the runtime).
    settled: tokio::sync::Notify,
    /// Wakes the workers when something becomes ready.
    pub wake: tokio::sync::Notify,
    /// Signalled when a record arrives in an empty queue: the status file is rewritten at once, so
    /// `jotta status` does not say "nothing pending" for up to a second after a close.
    pub first_pending: tokio::sync::Notify,
    /// Bytes handed to the network by every upload attempt so far.
    all_sent: Arc<AtomicU64>,
}

/// One row of `jotta status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingReport {
    pub path: String,
    /// A folder to create, not a file to upload.
    pub folder: bool,
    /// An old name to remove from the server (`removals.rs`), not a file to upload.
    pub removal: bool,
    pub size: u64,
    pub attempts: u32,
    pub in_flight: bool,
    /// While in flight: bytes of this attempt handed to the network so far.
    pub bytes_sent: u64,
    pub last_error: Option<String>,
}

impl UploadQueue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add or replace a record; it may start after `delay`.
    pub fn schedule(&self, entry: JournalEntry, ino: Option<u64>, delay: Duration) {
        let mut inner = self.lock();
        let id = entry.id;
        if let Some(p) = inner.pending.get_mut(&id) {
            if p.phase == Phase::InFlight {
                // Never a second upload of the same record at once; the newer record waits its turn.
                let (old, new) = (p.entry.size, entry.size);
                p.key = entry.path.to_lowercase();
                p.entry = entry;
                inner.pending_bytes = inner.pending_bytes + new - old;
                return;
            }
        }
        let attempts = inner.pending.get(&id).map(|p| p.attempts).unwrap_or(0);
        // An fsync waits for this id: a newer record of it (another handle's close meanwhile) goes in
        // its place at once, or that fsync would wait for the delay of a file still open (an hour).
        let forced = inner.pending.get(&id).is_some_and(|p| p.forced);
        let first = inner.pending.is_empty();
        inner.put(
            id,
            Pending {
                key: entry.path.to_lowercase(),
                entry,
                ino,
                ready_at: Instant::now() + if forced { Duration::ZERO } else { delay },
                attempts,
                phase: Phase::Waiting,
                cancelled: false,
                stuck: false,
                forced,
                landing: None,
                blocked: false,
                sent: Arc::default(),
            },
        );
        // Idle workers sleep until the first record they could take is due; only a record that comes
        // before it changes when they must wake. (A record behind a delay, as every close of a rsync'd
        // file schedules, woke all of them for nothing: on two cores those wake-ups slowed the writer.)
        let sooner = inner.first_takeable() == Some(id);
        drop(inner);
        if first {
            self.first_pending.notify_one();
        }
        if sooner {
            self.wake.notify_waiters();
            self.wake.notify_one();
        }
    }

    /// Start the given waiting record now, open writers or not (fsync).
    pub fn force(&self, id: u64) {
        self.lock().update(id, |p| {
            p.ready_at = Instant::now();
            p.stuck = false;
            p.forced = true;
        });
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    pub fn is_folder(&self, id: u64) -> bool {
        self.lock().pending.get(&id).is_some_and(|p| p.entry.is_folder())
    }

    pub fn is_forced(&self, id: u64) -> bool {
        self.lock().pending.get(&id).map(|p| p.forced).unwrap_or(false)
    }

    pub fn hurry_all(&self) {
        let mut inner = self.lock();
        let now = Instant::now();
        let ids: Vec<u64> = inner.pending.keys().copied().collect();
        for id in ids {
            inner.update(id, |p| p.ready_at = now);
        }
        drop(inner);
        self.wake.notify_waiters();
    }

    /// A few waiting records that are due, earliest first, skipping those held back (a file with an
    /// upload in flight, a folder above still to create); the caller claims one with `claim`. Looks at
    /// the due records in order and stops at the first not due yet.
    pub fn due(&self) -> Vec<(u64, Option<u64>)> {
        const FEW: usize = 8;
        let now = Instant::now();
        let inner = self.lock();
        let mut due = Vec::with_capacity(FEW);
        for &(at, id) in &inner.by_time {
            if at > now || due.len() == FEW {
                break;
            }
            let Some(p) = inner.pending.get(&id) else { continue };
            if !inner.held_back(p) {
                due.push((id, p.ino));
            }
        }
        due
    }

    /// How long until the next waiting record is due (bounded, so workers re-check now and then).
    /// Records `due` holds back do not count: what they wait for wakes the workers when it is done.
    pub fn next_due_in(&self) -> Duration {
        let now = Instant::now();
        let inner = self.lock();
        inner
            .first_takeable()
            .and_then(|id| inner.pending.get(&id))
            .map(|p| p.ready_at.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
    }

    /// Mark a due record in flight, to be uploaded to `target` (its file's path now; None: the record's
    /// own path); returns its record, or None if someone else took it or that path is busy.
    pub fn claim(&self, id: u64, target: Option<&str>) -> Option<JournalEntry> {
        let mut inner = self.lock();
        let p = inner.pending.get(&id)?;
        let landing = target.unwrap_or(&p.entry.path).to_string();
        let key = landing.to_lowercase();
        if p.phase != Phase::Waiting || p.ino.map(|i| inner.busy_inos.contains(&i)).unwrap_or(false) {
            return None;
        }
        if inner.busy_paths.contains(&key) {
            return None;
        }
        let ino = p.ino;
        inner.busy_paths.insert(key);
        let entry = inner.update(id, |p| {
            p.phase = Phase::InFlight;
            p.attempts += 1;
            p.landing = Some(landing);
            p.sent = Arc::default();
            p.entry.clone()
        })?;
        if let Some(i) = ino {
            inner.busy_inos.insert(i);
        }
        Some(entry)
    }

    /// What an upload held while in flight is free again: its inode and its path (its landing).
    fn release(inner: &mut Inner, ino: Option<u64>, landing: Option<String>) {
        if let Some(i) = ino {
            inner.busy_inos.remove(&i);
        }
        if let Some(path) = landing {
            inner.busy_paths.remove(&path.to_lowercase());
        }
    }

    /// Keep uploads of a file from starting while the mount changes it on the server (rename, delete).
    /// False if an upload is in flight already.
    pub fn reserve_ino(&self, ino: u64) -> bool {
        self.lock().busy_inos.insert(ino)
    }

    pub fn unreserve_ino(&self, ino: u64) {
        self.lock().busy_inos.remove(&ino);
        self.wake.notify_one();
    }

    /// Claim `path` for a change on the server (a move onto it, or a delete of a leftover there); false
    /// while another such change holds it. Taken and checked under `journal_lock`, released after the
    /// server answered and the table shows the outcome.
    pub fn claim_name(&self, path: &str) -> bool {
        self.lock().claimed_names.insert(path.to_lowercase())
    }

    pub fn release_name(&self, path: &str) {
        self.lock().claimed_names.remove(&path.to_lowercase());
    }

    pub fn is_name_claimed(&self, path: &str) -> bool {
        self.lock().claimed_names.contains(&path.to_lowercase())
    }

    /// The records of `ino` with an upload in flight (an earlier version still on its way while the file
    /// is changed in a copy).
    pub fn in_flight_of(&self, ino: u64) -> Vec<u64> {
        let inner = self.lock();
        inner
            .pending
            .iter()
            .filter(|(_, p)| p.ino == Some(ino) && p.phase == Phase::InFlight)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Where the file of an upload in flight is on the server (see `Pending::landing`).
    pub fn landing(&self, id: u64) -> Option<String> {
        self.lock().pending.get(&id).and_then(|p| p.landing.clone())
    }

    /// The file of an upload in flight is at `path` on the server now.
    pub fn landed_at(&self, id: u64, path: &str) {
        let mut inner = self.lock();
        let key = path.to_lowercase();
        let Some(p) = inner.pending.get_mut(&id).filter(|p| p.phase == Phase::InFlight) else { return };
        let old = p.landing.replace(path.to_string());
        if let Some(old) = old {
            inner.busy_paths.remove(&old.to_lowercase());
        }
        inner.busy_paths.insert(key);
    }

    /// A folder moved from `from` to `to` on the server: the files of uploads in flight below it moved
    /// with it (the service moves a file being uploaded along with its folder).
    pub fn folder_moved(&self, from: &str, to: &str) {
        let moved: Vec<(u64, String)> = self
            .lock()
            .pending
            .iter()
            .filter_map(|(id, p)| {
                let landing = p.landing.as_deref()?;
                let below = landing.len() > from.len()
                    && landing.is_char_boundary(from.len())
                    && landing.as_bytes()[from.len()] == b'/'
                    && landing[..from.len()].to_lowercase() == from.to_lowercase();
                below.then(|| (*id, format!("{to}{}", &landing[from.len()..])))
            })
            .collect();
        for (id, path) in moved {
            self.landed_at(id, &path);
        }
    }

    /// Whether a file has an upload in flight right now.
    pub fn is_ino_busy(&self, ino: u64) -> bool {
        self.lock().busy_inos.contains(&ino)
    }

    /// Whether a record was cancelled while in flight, and the inode it belongs to.
    pub fn state_of(&self, id: u64) -> Option<(bool, Option<u64>)> {
        self.lock().pending.get(&id).map(|p| (p.cancelled, p.ino))
    }

    pub fn is_in_flight(&self, id: u64) -> bool {
        self.lock().pending.get(&id).map(|p| p.phase == Phase::InFlight).unwrap_or(false)
    }

    pub fn contains(&self, id: u64) -> bool {
        self.lock().pending.contains_key(&id)
    }

    /// Postpone a due record (its file is open for writing again).
    pub fn postpone(&self, id: u64, by: Duration) {
        self.lock().update(id, |p| p.ready_at = Instant::now() + by);
    }

    pub fn set_ino(&self, id: u64, ino: u64) {
        let mut inner = self.lock();
        let in_flight = match inner.pending.get_mut(&id) {
            Some(p) => {
                p.ino = Some(ino);
                p.phase == Phase::InFlight
            }
            None => false,
        };
        if in_flight {
            inner.busy_inos.insert(ino);
        }
    }

    /// Keep the record's target path current (renames before the upload).
    pub fn set_path(&self, id: u64, path: &str) -> Option<JournalEntry> {
        let mut inner = self.lock();
        let old = inner.pending.get(&id)?.entry.clone();
        inner.index(&old, false);
        let p = inner.pending.get_mut(&id)?;
        p.entry.path = path.to_string();
        p.key = path.to_lowercase();
        let entry = p.entry.clone();
        inner.index(&entry, true);
        Some(entry)
    }

    /// Drop a record only if it is waiting (not in flight); true if it is gone now. For a folder removed
    /// before its creation started: one whose creation is in flight is left to finish.
    pub fn remove_if_waiting(&self, id: u64) -> bool {
        let mut inner = self.lock();
        let waiting = inner.pending.get(&id).map(|p| p.phase == Phase::Waiting).unwrap_or(false);
        if waiting {
            inner.take(id);
        }
        drop(inner);
        if waiting {
            self.signal();
        }
        waiting
    }

    /// Drop a waiting record (the file was deleted or rewritten); an in-flight one is marked cancelled.
    /// Returns true if it was waiting (and so is gone now).
    pub fn cancel(&self, id: u64) -> bool {
        let mut inner = self.lock();
        let waiting = match inner.pending.get_mut(&id) {
            Some(p) if p.phase == Phase::Waiting => true,
            Some(p) => {
                p.cancelled = true;
                false
            }
            None => false,
        };
        if waiting {
            inner.take(id);
        }
        drop(inner);
        self.signal();
        waiting
    }

    /// Waiting removals of `path` (compared case-insensitively): taken out of the queue and returned, for
    /// their records to go (the name is used again here, see `removals.rs`).
    pub fn take_removals(&self, path: &str) -> Vec<u64> {
        let key = path.to_lowercase();
        let mut inner = self.lock();
        let ids: Vec<u64> = inner
            .pending
            .iter()
            .filter(|(_, p)| p.entry.is_removal() && p.phase == Phase::Waiting && p.key == key)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            inner.take(*id);
        }
        ids
    }

    /// Whether a removal of `path` (compared case-insensitively) is being carried out on the server now.
    pub fn removal_in_flight(&self, path: &str) -> bool {
        let key = path.to_lowercase();
        let inner = self.lock();
        inner.removals > 0
            && inner.pending.values().any(|p| p.entry.is_removal() && p.phase == Phase::InFlight && p.key == key)
    }

    /// The names (lowercase) directly in `folder` that a removal waits or runs for.
    pub fn removals_in(&self, folder: &str) -> std::collections::HashSet<String> {
        let mut names = self.removals_below(folder);
        names.retain(|name| !name.contains('/'));
        names
    }

    /// The paths (lowercase, relative to `folder`) at any depth below `folder` that a removal waits or
    /// runs for.
    pub fn removals_below(&self, folder: &str) -> std::collections::HashSet<String> {
        let inner = self.lock();
        if inner.removals == 0 {
            return Default::default();
        }
        let prefix = format!("{}/", folder.to_lowercase());
        inner
            .pending
            .values()
            .filter(|p| p.entry.is_removal())
            .filter_map(|p| p.key.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// The upload of `id` finished: forget it. Returns whether it had been cancelled meanwhile.
    pub fn finished(&self, id: u64, deduplicated: bool, bytes_sent: u64) -> Option<Pending> {
        let mut inner = self.lock();
        let mut p = inner.take(id);
        let (ino, path) = p.as_mut().map(|p| (p.ino, p.landing.take())).unwrap_or_default();
        Self::release(&mut inner, ino, path);
        if p.as_ref().is_some_and(|p| p.entry.is_folder()) {
            inner.stats.folders_created += 1;
        } else {
            inner.stats.uploaded += 1;
        }
        if let Some(p) = p.as_ref().filter(|p| p.entry.has_content()) {
            let now = Instant::now();
            inner.forget_landed(|t| now.duration_since(t) > LANDED_KEPT);
            inner.landed.push_back((now, p.entry.size));
            inner.landed_bytes += p.entry.size;
        }
        inner.stats.bytes_sent += bytes_sent;
        if deduplicated {
            inner.stats.deduplicated += 1;
        }
        drop(inner);
        self.signal();
        // A newer record of the same file may have been waiting for this one.
        self.wake.notify_one();
        p
    }

    /// An upload cancelled in flight has failed: forget it (nothing to retry, nothing to count).
    pub fn forget_cancelled(&self, id: u64) {
        let mut inner = self.lock();
        let mut p = inner.take(id);
        let (ino, path) = p.as_mut().map(|p| (p.ino, p.landing.take())).unwrap_or_default();
        Self::release(&mut inner, ino, path);
        drop(inner);
        self.signal();
        self.wake.notify_one();
    }

    /// The upload failed; retry after `retry_in` (None: stuck until someone hurries it). `blocked`
    /// marks a failure only the user can cure.
    pub fn failed(&self, id: u64, error: &str, retry_in: Option<Duration>, blocked: bool) -> Option<JournalEntry> {
        let mut inner = self.lock();
        inner.stats.failures += 1;
        let p = inner.pending.get_mut(&id)?;
        let (ino, path) = (p.ino, p.landing.take());
        Self::release(&mut inner, ino, path);
        let entry = inner.update(id, |p| {
            p.phase = Phase::Waiting;
            p.blocked = blocked;
            // fsync's wish is answered (with this failure); the record goes back to the usual order.
            p.forced = false;
            p.entry.last_error = Some(error.to_string());
            match retry_in {
                Some(d) => p.ready_at = Instant::now() + d,
                None => p.stuck = true,
            }
            p.entry.clone()
        })?;
        drop(inner);
        self.signal();
        Some(entry)
    }

    /// The byte counter for the attempt in flight of `id`: bumps its own figure and the total. Cheap
    /// enough for the body stream (two relaxed adds a chunk).
    pub fn tally(&self, id: u64) -> crate::remote::progress::Tally {
        let own = self.lock().pending.get(&id).map(|p| p.sent.clone()).unwrap_or_default();
        let all = self.all_sent.clone();
        Arc::new(move |n| {
            own.fetch_add(n, Ordering::Relaxed);
            all.fetch_add(n, Ordering::Relaxed);
        })
    }

    /// Where the uploads stand (also samples the rate).
    pub fn transfer(&self) -> Transfer {
        let sent = self.all_sent.load(Ordering::Relaxed);
        self.lock().transfer(sent)
    }

    pub fn attempts(&self, id: u64) -> u32 {
        self.lock().pending.get(&id).map(|p| p.attempts).unwrap_or(0)
    }

    fn signal(&self) {
        self.changed.notify_all();
        self.settled.notify_waiters();
    }

    /// Wait until `id` is no longer pending (Ok) or an attempt begun after the caller read
    /// `attempts(id) == since` failed (Err with the reason), at most `timeout`.
    pub async fn wait_done(&self, id: u64, since: u32, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.settled.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change between the look and the wait is not missed.
            changed.as_mut().enable();
            if let Some(outcome) = self.outcome(id, since) {
                return outcome;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err("timed out waiting for the upload".into());
            }
        }
    }

    fn outcome(&self, id: u64, since: u32) -> Option<Result<(), String>> {
        match self.lock().pending.get(&id) {
            None => Some(Ok(())),
            Some(p) if p.phase == Phase::Waiting && p.attempts > since => {
                Some(Err(p.entry.last_error.clone().unwrap_or_else(|| "upload failed".into())))
            }
            Some(p) if p.stuck => {
                Some(Err(p.entry.last_error.clone().unwrap_or_else(|| "upload cannot proceed".into())))
            }
            _ => None,
        }
    }

    /// Wait (at most `timeout`) until `id` is not in flight: done, failed (and waiting again) or gone.
    pub fn wait_not_in_flight(&self, id: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        while inner.pending.get(&id).is_some_and(|p| p.phase == Phase::InFlight) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            inner = self.changed.wait_timeout(inner, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Wait until nothing is pending, `timeout` passes or `give_up()` says so (checked about twice a
    /// second); `progress` is called about every two seconds.
    pub fn wait_empty(
        &self,
        timeout: Duration,
        mut progress: impl FnMut(usize, &Transfer),
        give_up: impl Fn() -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut last = Instant::now();
        let mut inner = self.lock();
        loop {
            let live = inner.pending.values().filter(|p| !p.stuck && !p.blocked).count();
            if live == 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || give_up() {
                return false;
            }
            if now.duration_since(last) >= Duration::from_secs(2) {
                let transfer = inner.transfer(self.all_sent.load(Ordering::Relaxed));
                progress(live, &transfer);
                last = now;
            }
            let wait = (deadline - now).min(Duration::from_millis(500));
            inner = self.changed.wait_timeout(inner, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Size recorded for a queued upload (0 if not queued).
    pub fn queued_size(&self, id: u64) -> u64 {
        self.lock().pending.get(&id).map(|p| p.entry.size).unwrap_or(0)
    }

    /// Bytes that will reach the account once the queue drains (for the free-space check).
    pub fn pending_bytes(&self) -> u64 {
        self.lock().pending_bytes
    }

    /// Bytes of files whose upload finished since the account's figures were last asked for (those
    /// figures do not count them yet).
    pub fn landed_bytes(&self) -> u64 {
        self.lock().landed_bytes
    }

    /// The account's figures were asked for at `t`: uploads that finished before are in them.
    pub fn figures_asked(&self, t: Instant) {
        self.lock().forget_landed(|at| at < t);
    }

    pub fn report(&self) -> (Vec<PendingReport>, QueueStats) {
        let inner = self.lock();
        let mut rows: Vec<PendingReport> = inner
            .pending
            .values()
            .map(|p| PendingReport {
                path: p.entry.path.clone(),
                folder: p.entry.is_folder(),
                removal: p.entry.is_removal(),
                size: p.entry.size,
                attempts: p.attempts,
                in_flight: p.phase == Phase::InFlight,
                bytes_sent: if p.phase == Phase::InFlight { p.sent.load(Ordering::Relaxed) } else { 0 },
                last_error: p.entry.last_error.clone(),
            })
            .collect();
        rows.sort_by(|a, b| a.path.cmp(&b.path));
        (rows, inner.stats.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, path: &str, folder: bool) -> JournalEntry {
        let mut e = JournalEntry::folder(id, path.into(), 0);
        if !folder {
            e.kind = super::super::journal::EntryKind::File;
            e.size = 1;
        }
        e
    }

    fn due_ids(q: &UploadQueue) -> Vec<u64> {
        let mut ids: Vec<u64> = q.due().into_iter().map(|(id, _)| id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn nothing_below_a_pending_folder_is_due_before_it() {
        let q = UploadQueue::default();
        q.schedule(record(1, "/Jotta/Archive/New", true), None, Duration::ZERO);
        q.schedule(record(2, "/Jotta/Archive/new/Sub", true), None, Duration::ZERO);
        q.schedule(record(3, "/Jotta/Archive/NEW/sub/f.txt", false), None, Duration::ZERO);
        q.schedule(record(4, "/Jotta/Archive/newer.txt", false), None, Duration::ZERO);
        q.schedule(record(5, "/Jotta/Archive/New", false), None, Duration::ZERO);
        // Names compare case-insensitively; a sibling sharing the prefix is not below it.
        assert_eq!(due_ids(&q), [1, 4, 5]);
        assert!(q.claim(1, None).is_some());
        // Held back while the folder is being created (and 5, a file at the same path, while it is busy).
        assert_eq!(due_ids(&q), [4]);
        q.finished(1, false, 0);
        assert_eq!(due_ids(&q), [2, 4, 5]);
        // A rename of the pending subfolder moves what it holds back.
        q.set_path(2, "/Jotta/Archive/new/Other");
        assert_eq!(due_ids(&q), [2, 3, 4, 5]);
        q.set_path(3, "/Jotta/Archive/new/other/f.txt");
        assert_eq!(due_ids(&q), [2, 4, 5]);
        assert!(q.remove_if_waiting(2));
        assert_eq!(due_ids(&q), [3, 4, 5]);
        assert_eq!(q.report().1.folders_created, 1);
    }

    #[test]
    fn a_record_an_fsync_waits_for_stays_due_when_recorded_again() {
        let q = UploadQueue::default();
        q.schedule(record(1, "/Jotta/Archive/a.txt", false), Some(7), Duration::from_secs(3600));
        q.force(1);
        // Another handle of the same file, still open for writing, closes after a change.
        q.schedule(record(1, "/Jotta/Archive/a.txt", false), Some(7), Duration::from_secs(3600));
        assert!(q.is_forced(1), "the fsync's wish stands");
        assert_eq!(due_ids(&q), [1]);
    }

    #[test]
    fn a_replaced_file_waits_for_the_upload_of_the_one_it_replaced() {
        let q = UploadQueue::default();
        // Inode 7 was renamed over (or unlinked and made again) by inode 9 while its upload was in flight.
        q.schedule(record(1, "/Jotta/Archive/a.txt", false), Some(7), Duration::ZERO);
        assert!(q.claim(1, None).is_some());
        q.schedule(record(2, "/Jotta/Archive/A.TXT", false), Some(9), Duration::ZERO);
        assert_eq!(due_ids(&q), Vec::<u64>::new(), "the newer content waits for the path");
        assert!(q.claim(2, None).is_none());
        q.failed(1, "no connection", Some(Duration::from_secs(60)), false);
        assert_eq!(due_ids(&q), [2], "a failed attempt frees the path");
        assert!(q.claim(2, Some("/Jotta/Archive/a.txt")).is_some());
        q.finished(2, false, 0);
        assert_eq!(due_ids(&q), Vec::<u64>::new());
    }

    /// `by_time` holds exactly the waiting records that are not stuck, each at its time.
    fn index_in_step(q: &UploadQueue) {
        let inner = q.lock();
        let expected: BTreeSet<(Instant, u64)> = inner.pending.iter().filter_map(|(id, p)| p.time_key(*id)).collect();
        assert_eq!(inner.by_time, expected);
    }

    #[test]
    fn records_come_due_in_the_order_of_their_time_and_leave_it_while_in_flight_or_stuck() {
        let q = UploadQueue::default();
        let file = |id, path: &str, ino, delay| q.schedule(record(id, path, false), Some(ino), delay);
        file(1, "/Jotta/Archive/one", 1, Duration::from_secs(3600));
        file(2, "/Jotta/Archive/two", 2, Duration::ZERO);
        file(3, "/Jotta/Archive/three", 3, Duration::ZERO);
        index_in_step(&q);
        assert_eq!(q.due().into_iter().map(|(id, _)| id).collect::<Vec<_>>(), [2, 3], "earliest first");
        assert!(q.next_due_in() == Duration::ZERO);
        // Rescheduled later (written again), it goes behind the others.
        file(2, "/Jotta/Archive/TWO", 2, Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(q.due().into_iter().map(|(id, _)| id).collect::<Vec<_>>(), [3, 2]);
        assert!(q.claim(3, None).is_some());
        index_in_step(&q);
        assert_eq!(due_ids(&q), [2]);
        // A failure with no retry leaves it stuck (never due) until forced.
        q.failed(3, "refused", None, false);
        index_in_step(&q);
        assert_eq!(due_ids(&q), [2]);
        q.force(3);
        assert_eq!(due_ids(&q), [2, 3]);
        q.postpone(2, Duration::from_secs(3600));
        assert_eq!(due_ids(&q), [3]);
        assert!(q.next_due_in() == Duration::ZERO);
        assert!(q.claim(3, None).is_some());
        assert!(q.next_due_in() > Duration::from_millis(500), "only later records wait");
        q.hurry_all();
        assert_eq!(due_ids(&q), [1, 2]);
        assert!(q.cancel(1));
        q.finished(3, false, 0);
        index_in_step(&q);
        // The renamed path is what a later record at the old name is checked against.
        assert!(q.claim(2, None).is_some());
        file(4, "/jotta/archive/two", 9, Duration::ZERO);
        assert_eq!(due_ids(&q), Vec::<u64>::new(), "the same path, case aside, is busy");
        q.finished(2, false, 0);
        assert_eq!(due_ids(&q), [4]);
        index_in_step(&q);
        // A record put again at the very same time (one clock tick) stays in the index.
        let same = q.lock().pending.get(&4).cloned().unwrap();
        q.lock().put(4, same);
        index_in_step(&q);
        assert_eq!(due_ids(&q), [4]);
    }

    #[test]
    fn only_a_record_due_before_the_others_wakes_the_idle_workers() {
        use futures_util::FutureExt;
        let q = UploadQueue::default();
        let woken = |q: &UploadQueue| q.wake.notified().now_or_never().is_some();
        q.schedule(record(1, "/Jotta/Archive/a", false), Some(1), Duration::from_secs(2));
        assert!(woken(&q), "the first record sets the time the workers sleep for");
        // Behind it (a write-back delay, as each close of a copied tree schedules): no one wakes.
        q.schedule(record(2, "/Jotta/Archive/b", false), Some(2), Duration::from_secs(3));
        assert!(!woken(&q));
        // Before it: the workers must wake to sleep for the sooner time.
        q.schedule(record(3, "/Jotta/Archive/c", false), Some(3), Duration::ZERO);
        assert!(woken(&q));
        // One held back (its path busy) that comes before the others does not wake them either.
        assert!(q.claim(3, None).is_some());
        q.schedule(record(4, "/Jotta/Archive/C", false), Some(4), Duration::ZERO);
        assert!(!woken(&q));
        assert_eq!(q.next_due_in().as_secs(), 1, "they sleep for record 1, not the held-back one");
    }

    #[test]
    fn only_a_record_arriving_in_an_empty_queue_asks_for_a_fresh_status_file() {
        use futures_util::FutureExt;
        let q = UploadQueue::default();
        let asked = |q: &UploadQueue| q.first_pending.notified().now_or_never().is_some();
        assert!(!asked(&q));
        q.schedule(record(1, "/Jotta/Archive/a", false), Some(1), Duration::from_secs(600));
        assert!(asked(&q), "a close after a quiet spell: `jotta status` must not say nothing is pending");
        q.schedule(record(2, "/Jotta/Archive/b", false), Some(2), Duration::from_secs(600));
        q.schedule(record(1, "/Jotta/Archive/a", false), Some(1), Duration::ZERO);
        assert!(!asked(&q), "more of a busy queue: the once-a-second rewrite shows it");
        assert!(q.cancel(1) && q.cancel(2));
        q.schedule(record(3, "/Jotta/Archive/c", false), Some(3), Duration::from_secs(600));
        assert!(asked(&q), "empty again, then a record");
    }
}
