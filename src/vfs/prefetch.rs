//! Folder listings fetched ahead. When the kernel opens a folder, the listings of its subfolders (and of
//! theirs, up to `MAX_LEVELS` down) are fetched in the background, several at once, so a walk (`find`,
//! `du`, `rsync -r`, a file manager's tree) finds them ready instead of paying one round trip per folder
//! in series. When a second subfolder of a folder is opened (a walk goes through it) and many of its
//! subfolders are not listed yet, its whole subtree is asked for in one request (`subtree.rs`), read only
//! as far as the cache has room; folder by folder fetching waits for that reply and then fetches only
//! what it did not bring.
//!
//! Bounds: `prefetch` listings in flight; at most `AHEAD_PER_SLOT` x that many fetched and not yet opened;
//! at most `MAX_QUEUED` folders waiting; none started while the inode table holds `ROOM` of
//! `cache_entries` or more, and one that arrives past that is dropped, so fetching ahead never pushes the
//! names the walk is using out of the cache. Listings fetched ahead and left unopened for `IDLE` mean the
//! walk went elsewhere or stopped: the queue is dropped.
//!
//! A listing the kernel asks for never waits behind these: it is fetched at once on the asking thread. A
//! prefetch only takes a folder's gate when it is free, so a kernel request for a folder whose prefetch is
//! in flight waits for that reply instead of sending its own. Replies are applied exactly as demanded ones
//! (`InodeTable::set_listing` with the time the request was sent), so a change made here meanwhile wins.

use super::node::{InodeKind, InodeTable};
use super::{lock, subtree, Ahead, JottaFs};
use crate::remote::Remote;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

/// How far below the folder the kernel opened listings are fetched ahead.
const MAX_LEVELS: u8 = 3;
/// Listings fetched ahead and not opened yet, per request in flight.
const AHEAD_PER_SLOT: usize = 16;
/// Folders waiting for a slot; the oldest wishes go first when there are more.
const MAX_QUEUED: usize = 16_384;
/// A listing fetched ahead and not opened for this long: nobody is walking there.
const IDLE: Duration = Duration::from_secs(10);
/// A folder's subtree is not asked for again within this long.
const ASK_AGAIN: Duration = Duration::from_secs(60);
/// Fraction of `cache_entries` (numerator, denominator) past which nothing is fetched ahead.
const ROOM: (usize, usize) = (3, 4);

#[derive(Default)]
struct State {
    /// Folders to list, most wanted first, with how many levels below an opened folder they are.
    queue: VecDeque<(u64, u8)>,
    queued: HashSet<u64>,
    /// Listings fetched ahead, not opened yet, with when they arrived.
    ahead: HashMap<u64, Instant>,
    /// Folders being fetched, and whether the kernel opened one meanwhile (a walk that caught up waits
    /// for that reply; the listing is then used, not ahead).
    flying: HashMap<u64, bool>,
    /// A folder whose whole subtree to list in one request (`subtree.rs`), the latest wish.
    tree: Option<u64>,
    /// The folder whose subtree listing is on its way: folder by folder fetching waits for it.
    tree_flying: Option<u64>,
    /// Folders whose subtree was asked for, when, and whether it proved larger than the cache had room
    /// for (then it is not asked for again; otherwise not within `ASK_AGAIN`).
    trees_asked: HashMap<u64, (Instant, bool)>,
    /// Per folder, the one subfolder the kernel opened so far: a second one means a walk.
    opened_below: HashMap<u64, u64>,
    /// The mount is ending: nothing more is started.
    stopped: bool,
}

/// The queue and its bounds; the requests themselves are `JottaFs::fetch_ahead`.
pub struct Prefetcher {
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    slots: usize,
}

impl Prefetcher {
    /// `slots` listings in flight at most; 0 turns fetching ahead off.
    pub fn new(slots: usize) -> Self {
        Prefetcher { state: Mutex::new(State::default()), wake: tokio::sync::Notify::new(), slots }
    }

    /// Queue folders to list, in the order given, ahead of what was queued before (a walk goes into the
    /// folder it just opened before it goes on to that folder's siblings).
    pub fn want(&self, folders: &[u64], level: u8) {
        if self.slots == 0 || folders.is_empty() || level > MAX_LEVELS {
            return;
        }
        let mut s = lock(&self.state);
        for &ino in folders.iter().rev() {
            if s.queued.insert(ino) {
                s.queue.push_front((ino, level));
            }
        }
        while s.queue.len() > MAX_QUEUED {
            if let Some((ino, _)) = s.queue.pop_back() {
                s.queued.remove(&ino);
            }
        }
        drop(s);
        self.wake.notify_one();
    }

    /// List the subtree below `ino` in one request, unless it proved too large before or was asked for
    /// lately.
    pub fn want_tree(&self, ino: u64) {
        if self.slots == 0 {
            return;
        }
        let mut s = lock(&self.state);
        if let Some((at, too_big)) = s.trees_asked.get(&ino) {
            if *too_big || at.elapsed() < ASK_AGAIN {
                return;
            }
        }
        if s.tree_flying != Some(ino) {
            s.tree = Some(ino);
            drop(s);
            self.wake.notify_one();
        }
    }

    /// The kernel opened `child`, a subfolder of `parent`: true when it is the second one opened there,
    /// the sign of a walk (`ls` of `parent` opens none; `find` opens them one after another).
    pub fn opened_below(&self, parent: u64, child: u64) -> bool {
        if self.slots == 0 {
            return false;
        }
        let mut s = lock(&self.state);
        match s.opened_below.get(&parent) {
            Some(first) if *first != child => {
                s.opened_below.remove(&parent);
                true
            }
            Some(_) => false,
            None => {
                if s.opened_below.len() >= MAX_QUEUED {
                    s.opened_below.clear();
                }
                s.opened_below.insert(parent, child);
                false
            }
        }
    }

    /// The subtree to list now, if one is wanted, none is on its way and the table has room.
    fn take_tree(&self, room: bool) -> Option<u64> {
        let mut s = lock(&self.state);
        if s.stopped || s.tree_flying.is_some() || !room {
            return None;
        }
        let ino = s.tree.take()?;
        s.tree_flying = Some(ino);
        // Bounded like the rest: a mount that met this many subtrees forgets the oldest marks.
        if s.trees_asked.len() >= MAX_QUEUED {
            s.trees_asked.clear();
        }
        s.trees_asked.insert(ino, (Instant::now(), false));
        Some(ino)
    }

    /// The subtree listing of `ino` ended; `fits`: false when it was larger than the cache had room for.
    fn tree_done(&self, ino: u64, fits: bool) {
        let mut s = lock(&self.state);
        s.tree_flying = None;
        if !fits {
            s.trees_asked.insert(ino, (Instant::now(), true));
        }
        drop(s);
        self.wake.notify_one();
    }

    /// The kernel opened a folder: a listing fetched ahead for it has served its purpose.
    pub fn opened(&self, ino: u64) {
        if self.slots == 0 {
            return;
        }
        let mut s = lock(&self.state);
        if let Some(opened) = s.flying.get_mut(&ino) {
            *opened = true;
        } else if s.ahead.remove(&ino).is_some() {
            drop(s);
            self.wake.notify_one();
        }
    }

    /// The folders to fetch now (each counted in flight until `done`). `room`: whether the inode table
    /// may grow.
    fn take(&self, room: bool) -> Vec<(u64, u8)> {
        let mut s = lock(&self.state);
        let before = s.ahead.len();
        s.ahead.retain(|_, at| at.elapsed() < IDLE);
        if s.ahead.len() < before {
            s.queue.clear();
            s.queued.clear();
        }
        let mut jobs = Vec::new();
        if s.stopped || !room || s.tree_flying.is_some() {
            return jobs;
        }
        let max_ahead = self.slots * AHEAD_PER_SLOT;
        while s.flying.len() < self.slots && s.ahead.len() + s.flying.len() < max_ahead {
            let Some((ino, level)) = s.queue.pop_front() else { break };
            s.queued.remove(&ino);
            if s.flying.contains_key(&ino) {
                continue;
            }
            s.flying.insert(ino, false);
            jobs.push((ino, level));
        }
        jobs
    }

    /// One prefetch ended; `fetched`: it brought a listing the kernel has not opened yet.
    fn done(&self, ino: u64, fetched: bool) {
        let mut s = lock(&self.state);
        let opened = s.flying.remove(&ino).unwrap_or(false);
        if fetched && !opened {
            s.ahead.insert(ino, Instant::now());
        }
        drop(s);
        self.wake.notify_one();
    }
}

impl Prefetcher {
    /// The mount is ending: start nothing more, and wait (up to `limit`) for the listings in flight. They
    /// run on blocking workers inside the runtime; one still waiting on the network when the runtime shuts
    /// down would find its timers gone and panic. True when none is left.
    pub fn stop(&self, limit: Duration) -> bool {
        let started = Instant::now();
        let mut s = lock(&self.state);
        s.stopped = true;
        s.queue.clear();
        s.queued.clear();
        s.tree = None;
        loop {
            if s.flying.is_empty() && s.tree_flying.is_none() {
                return true;
            }
            if started.elapsed() >= limit {
                return false;
            }
            drop(s);
            std::thread::sleep(Duration::from_millis(10));
            s = lock(&self.state);
        }
    }

    fn stopped(&self) -> bool {
        lock(&self.state).stopped
    }
}

/// Ends a subtree listing's turn when dropped, so a panic in it cannot stop fetching ahead for good.
struct TreeDone<'a> {
    prefetch: &'a Prefetcher,
    ino: u64,
    fits: bool,
}

impl Drop for TreeDone<'_> {
    fn drop(&mut self) {
        self.prefetch.tree_done(self.ino, self.fits);
    }
}

impl<R: Remote> JottaFs<R> {
    /// Whether the inode table has room for listings fetched ahead.
    pub(super) fn room_ahead(&self, table: &InodeTable) -> bool {
        self.entries_ahead(table) > 0
    }

    /// How many more names the table may take for listings fetched ahead (below `ROOM` of the bound).
    pub(super) fn entries_ahead(&self, table: &InodeTable) -> usize {
        (self.cfg.cache_entries * ROOM.0 / ROOM.1).saturating_sub(table.node_count())
    }

    fn prefetch_room(&self) -> bool {
        self.room_ahead(&lock(&self.table))
    }

    /// The subfolders of a listed folder whose listings are missing or stale, in listing order.
    pub(super) fn folders_to_list(&self, ino: u64) -> Vec<u64> {
        let table = lock(&self.table);
        let Some(children) = table.get(ino).filter(|n| n.subfolders > 0).and_then(|n| n.children.as_ref()) else {
            return Vec::new();
        };
        children.iter().copied().filter(|c| self.wants_listing(&table, *c)).collect()
    }

    /// The kernel opened `ino` (its listing is fresh): fetch its subfolders' listings ahead. When this is
    /// the second subfolder of its parent opened, a walk is going through the parent: its whole subtree
    /// is asked for in one request (`fetch_subtree` checks that enough of it is not listed yet).
    pub(super) fn prefetch_below(&self, ino: u64) {
        if self.prefetch.slots == 0 {
            return;
        }
        self.prefetch.opened(ino);
        let parent = lock(&self.table).get(ino).map(|n| n.parent).filter(|p| *p != ino);
        if let Some(parent) = parent {
            if self.prefetch.opened_below(parent, ino) {
                self.prefetch.want_tree(parent);
            }
        }
        self.prefetch.want(&self.folders_to_list(ino), 1);
    }

    /// Whether a folder with `unlisted` subfolders not listed yet is worth a subtree listing.
    pub(super) fn subtree_worth_listing(&self, ino: u64, unlisted: usize) -> bool {
        unlisted >= subtree::MIN_FOLDERS && lock(&self.table).get(ino).is_some_and(|n| n.kind == InodeKind::Folder)
    }

    /// The mount is ending: fetch nothing more ahead, and let the listings in flight end first (for at
    /// most `limit`) so that none is cut by the runtime's shutdown.
    pub fn stop_fetching_ahead(&self, limit: Duration) {
        if !self.prefetch.stop(limit) {
            log::debug!("listings fetched ahead still in flight at the end; they are cut");
        }
    }

    /// Start the task that hands queued folders to blocking workers, `prefetch` at a time.
    pub fn start_prefetch(self: &Arc<Self>) {
        if self.prefetch.slots == 0 {
            return;
        }
        let fs = self.clone();
        self.rt.spawn(async move {
            loop {
                if let Some(ino) = fs.prefetch.take_tree(fs.prefetch_room()) {
                    let worker = fs.clone();
                    fs.rt.spawn_blocking(move || {
                        // Ended even if the fetch panics: folder by folder fetching waits for it.
                        let mut done = TreeDone { prefetch: &worker.prefetch, ino, fits: true };
                        done.fits = worker.fetch_subtree(ino);
                    });
                }
                let jobs = fs.prefetch.take(fs.prefetch_room());
                if jobs.is_empty() {
                    fs.prefetch.wake.notified().await;
                    continue;
                }
                for (ino, level) in jobs {
                    let worker = fs.clone();
                    fs.rt.spawn_blocking(move || {
                        let fetched = worker.fetch_ahead(ino, level);
                        worker.prefetch.done(ino, fetched);
                    });
                }
            }
        });
    }

    /// Fetch one folder's listing ahead, unless it is fresh, made here, or being fetched already; queue
    /// its subfolders one level further. True when a listing was applied.
    fn fetch_ahead(&self, ino: u64, level: u8) -> bool {
        let fresh = |fs: &Self| !fs.wants_listing(&lock(&fs.table), ino);
        if self.prefetch.stopped() || fresh(self) || self.service.is_unreachable() {
            return false;
        }
        let gate = self.gate(ino);
        let _g = match gate.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        if fresh(self) {
            return false;
        }
        let (path, kind) = {
            let table = lock(&self.table);
            match (table.get(ino), table.path(ino)) {
                (Some(n), Some(p)) => (p, n.kind),
                _ => return false,
            }
        };
        let asked = Instant::now();
        // As in `ensure_listing`: names whose removal is queued now stay hidden.
        let hidden = self.queue.removals_in(&path.to_string());
        let children = match self.fetch_children(&path, kind) {
            Ok(c) => c,
            Err(e) => {
                log::debug!("{path}: listing ahead failed: {e}");
                return false;
            }
        };
        match self.apply_listing(ino, &path, kind, children, (asked, hidden), Ahead::Folder) {
            Ok(true) => log::debug!("{path}: listing fetched ahead"),
            Ok(false) => {
                log::debug!("{path}: listing fetched ahead dropped, the cache is near its bound");
                return false;
            }
            Err(_) => return false,
        }
        self.prefetch.want(&self.folders_to_list(ino), level + 1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_opened_last_goes_first_in_listing_order() {
        let p = Prefetcher::new(2);
        p.want(&[10, 11, 12], 1);
        p.want(&[20, 21], 1);
        assert_eq!(p.take(true), vec![(20, 1), (21, 1)]);
        p.done(20, true);
        assert_eq!(p.take(true), vec![(10, 1)]);
    }

    #[test]
    fn a_stopped_prefetcher_starts_nothing_and_waits_for_what_is_in_flight() {
        let p = Arc::new(Prefetcher::new(2));
        p.want(&[1, 2, 3], 1);
        assert_eq!(p.take(true), vec![(1, 1), (2, 1)]);
        assert!(!p.stop(Duration::from_millis(20)), "two listings still in flight");
        p.done(1, true);
        let finisher = {
            let p = p.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                p.done(2, true);
            })
        };
        assert!(p.stop(Duration::from_secs(10)), "the last one ended");
        finisher.join().unwrap();
        p.want(&[4], 1);
        p.want_tree(5);
        assert!(p.take(true).is_empty() && p.take_tree(true).is_none(), "nothing starts after the stop");
    }

    #[test]
    fn nothing_starts_without_room_in_the_cache() {
        let p = Prefetcher::new(4);
        p.want(&[1, 2, 3], 1);
        assert!(p.take(false).is_empty());
        assert_eq!(p.take(true).len(), 3);
    }

    #[test]
    fn listings_not_opened_yet_limit_how_far_ahead() {
        let p = Prefetcher::new(1);
        let folders: Vec<u64> = (1..=100).collect();
        p.want(&folders, 1);
        for i in 1..=AHEAD_PER_SLOT as u64 - 1 {
            assert_eq!(p.take(true), vec![(i, 1)]);
            p.done(i, true);
        }
        assert_eq!(p.take(true), vec![(AHEAD_PER_SLOT as u64, 1)]);
        p.done(AHEAD_PER_SLOT as u64, true);
        assert!(p.take(true).is_empty(), "{AHEAD_PER_SLOT} fetched and unopened: no more");
        p.opened(1);
        assert_eq!(p.take(true), vec![(AHEAD_PER_SLOT as u64 + 1, 1)]);
    }

    #[test]
    fn the_queue_and_its_depth_are_bounded() {
        let p = Prefetcher::new(1);
        p.want(&[1], MAX_LEVELS + 1);
        assert!(p.take(true).is_empty());
        let many: Vec<u64> = (0..MAX_QUEUED as u64 + 10).collect();
        p.want(&many, 1);
        assert_eq!(lock(&p.state).queue.len(), MAX_QUEUED);
        assert_eq!(lock(&p.state).queued.len(), MAX_QUEUED);
    }

    #[test]
    fn a_folder_opened_while_its_listing_is_on_its_way_is_not_counted_ahead() {
        let p = Prefetcher::new(1);
        p.want(&[1, 2], 1);
        assert_eq!(p.take(true), vec![(1, 1)]);
        p.opened(1);
        p.done(1, true);
        assert!(lock(&p.state).ahead.is_empty(), "the walk used it");
        assert_eq!(p.take(true), vec![(2, 1)]);
    }

    #[test]
    fn a_second_subfolder_opened_is_a_walk_and_a_subtree_is_asked_for_once() {
        let p = Prefetcher::new(2);
        assert!(!p.opened_below(1, 10), "one subfolder opened: maybe just a look");
        assert!(!p.opened_below(1, 10), "the same one again");
        assert!(p.opened_below(1, 11), "a second one: a walk");
        p.want_tree(1);
        assert_eq!(p.take_tree(false), None, "not without room");
        assert_eq!(p.take_tree(true), Some(1));
        p.want(&[5, 6], 1);
        assert!(p.take(true).is_empty(), "folder by folder waits for the subtree");
        p.want_tree(1);
        assert_eq!(p.take_tree(true), None, "one subtree at a time, and not the same twice");
        p.tree_done(1, true);
        assert_eq!(p.take(true), vec![(5, 1), (6, 1)]);
        p.want_tree(1);
        assert_eq!(p.take_tree(true), None, "asked for lately");
        p.want_tree(2);
        assert_eq!(p.take_tree(true), Some(2));
        p.tree_done(2, false);
        if let Some(long_ago) = Instant::now().checked_sub(ASK_AGAIN * 2) {
            lock(&p.state).trees_asked.get_mut(&2).unwrap().0 = long_ago;
        }
        p.want_tree(2);
        assert_eq!(p.take_tree(true), None, "too large: never again");
    }

    #[test]
    fn off_means_nothing_is_queued() {
        let p = Prefetcher::new(0);
        p.want(&[1, 2], 1);
        assert!(p.take(true).is_empty());
    }
}
