//! A whole subtree's listings in one request. When the kernel opens a second subfolder of a folder with
//! many subfolders not listed yet, a walk (`find`, `du`, `rsync -r`) is going through it and will most
//! likely visit them all, and one `mode=liststream` request of the folder brings every listing below it:
//! at 20 ms a request, 10,000 folders cost one round trip instead of 10,000 / `prefetch` of them. (An `ls`
//! of the folder opens none of its subfolders, and costs no subtree.)
//!
//! Bounds: the reply is read only up to what the inode table has room for (`BYTES_PER_ENTRY` a free
//! entry, at most `MAX_BYTES`), and dropped past that; a folder whose subtree proved too large is not
//! asked again (`Prefetcher::too_big`), and the folder-by-folder fetching ahead takes over. Listings are
//! applied top down like listings fetched ahead (`apply_listing`, with the time the request was sent),
//! and the applying stops where the table runs out of room.
//!
//! What it does not tell: the subtree listing shows only completed files, with size, md5 and times but
//! neither revision nor uuid (`FileMeta::brief`; the xattrs ask for them when read), and no folder times
//! (a folder listing on the service has none either).

use super::node::{FileMeta, Inode, InodeKind, InodeTable};
use super::{lock, representable, Ahead, JottaFs};
use crate::remote::{Remote, RemotePath, Tree, TreeFile, UnixTime};
use std::collections::{HashMap, HashSet};
use std::sync::TryLockError;
use std::time::Instant;

/// Reply bytes allowed per entry the table has room for (a liststream file entry is ~200 bytes).
const BYTES_PER_ENTRY: usize = 256;
/// The most reply bytes read for one subtree, however much room the table has.
const MAX_BYTES: usize = 32 << 20;
/// Below this, a subtree listing is not worth trying: the room left is for the walk's own listings.
const MIN_BYTES: usize = 64 << 10;
/// A folder opened with at least this many subfolders not listed yet has its subtree listed at once.
pub(super) const MIN_FOLDERS: usize = 8;

/// When a subtree listing was sent, and each folder's generation then: what a folder changed here since
/// (`changed_here`) must keep, whatever the reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sent {
    /// `Instant::now()` when sent, compared with `touched_at` (set with the same clock).
    at: Instant,
    /// The mount's clock when sent, compared with `listed_at` (set with that clock).
    on_clock: Instant,
    /// The folder's generation when sent; None when the table did not hold it.
    generation: Option<u64>,
}

/// How a folder changed here since a subtree listing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    None,
    /// Its own listing is newer (fetched since), or its children changed here: the reply's listing of it
    /// is not applied; what is below it is judged folder by folder.
    Listing,
    /// It was made, moved or renamed here since: the reply's folder at that path is another one, and
    /// nothing of the reply at or below that path applies.
    Itself,
}

impl Sent {
    pub(super) fn changed_here(&self, n: &Inode) -> Change {
        if n.touched_at.is_some_and(|t| t >= self.at) {
            Change::Itself
        } else if n.listed_at.is_some_and(|t| t >= self.on_clock) || self.generation.is_some_and(|g| g != n.generation)
        {
            Change::Listing
        } else {
            Change::None
        }
    }
}

/// One folder of a subtree listing: its subfolders' names and its files.
#[derive(Default)]
struct Level {
    folders: Vec<String>,
    files: Vec<TreeFile>,
}

/// A subtree listing grouped by folder, keyed by the lowercased path relative to the listed folder
/// ("" is the listed folder itself).
fn by_folder(tree: Tree) -> HashMap<String, Level> {
    let mut levels: HashMap<String, Level> = HashMap::new();
    // Every folder is entered in its parent, its ancestors too: a reply may name a folder only as the
    // path of something below it, and a listing without it would take it away.
    fn enter(levels: &mut HashMap<String, Level>, folder: &str) {
        if folder.is_empty() || levels.contains_key(&folder.to_lowercase()) {
            return;
        }
        levels.insert(folder.to_lowercase(), Level::default());
        let (parent, name) = folder.rsplit_once('/').unwrap_or(("", folder));
        enter(levels, parent);
        levels.entry(parent.to_lowercase()).or_default().folders.push(name.to_string());
    }
    levels.insert(String::new(), Level::default());
    for folder in &tree.folders {
        enter(&mut levels, folder);
    }
    for file in tree.files {
        enter(&mut levels, &file.parent);
        if let Some(level) = levels.get_mut(&file.parent.to_lowercase()) {
            level.files.push(file);
        }
    }
    levels
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_lowercase()
    } else {
        format!("{parent}/{}", name.to_lowercase())
    }
}

impl<R: Remote> JottaFs<R> {
    /// Whether `ino` is a folder of the service whose listing is missing or older than `dir_ttl`.
    pub(super) fn wants_listing(&self, table: &InodeTable, ino: u64) -> bool {
        table.get(ino).is_some_and(|n| {
            n.kind.is_dir()
                && n.local_folder.is_none()
                && n.listed_at.is_none_or(|t| self.cfg.clock.elapsed(t) >= self.cfg.dir_ttl)
        })
    }

    /// How many reply bytes a subtree listing may take now (0: none is worth trying).
    fn subtree_budget(&self, table: &InodeTable) -> usize {
        let bytes = self.entries_ahead(table).saturating_mul(BYTES_PER_ENTRY).min(MAX_BYTES);
        if bytes < MIN_BYTES {
            0
        } else {
            bytes
        }
    }

    /// List the subtree below `ino` in one request and apply every listing in it that is missing or
    /// stale. False when the reply was larger than the table has room for.
    pub(super) fn fetch_subtree(&self, ino: u64) -> bool {
        // Worth it only when enough of the folder is not listed yet (a walk may have listed it by now).
        if self.service.is_unreachable() || !self.subtree_worth_listing(ino, self.folders_to_list(ino).len()) {
            return true;
        }
        let (path, max_bytes) = {
            let table = lock(&self.table);
            match (table.get(ino), table.path(ino)) {
                (Some(n), Some(p)) if n.kind == InodeKind::Folder && n.local_folder.is_none() => {
                    (p, self.subtree_budget(&table))
                }
                _ => return true,
            }
        };
        if max_bytes == 0 {
            return true;
        }
        let asked = Instant::now();
        // As in `ensure_listing`: names whose removal is queued now stay hidden, at every depth.
        let hidden = self.queue.removals_below(&path.to_string());
        // A folder changed here while the reply is on its way keeps what it has (the reply may predate
        // the change); one not held now cannot change before its listing is applied.
        let before = lock(&self.table).folder_generations_below(ino);
        let sent_on_clock = self.cfg.clock.now();
        let tree = match self.rt.block_on(self.remote.list_tree_within(&path, max_bytes)) {
            Ok(Some(tree)) => tree,
            Ok(None) => {
                log::debug!("{path}: the subtree is larger than the cache has room for; listing folder by folder");
                // Never asked for again only when it did not fit the most ever allowed; with less room
                // now it may fit later.
                return max_bytes < MAX_BYTES;
            }
            Err(e) => {
                log::debug!("{path}: subtree listing failed: {e}");
                return true;
            }
        };
        // Tests hold the reply here to make changes the reply predates.
        super::test_hold::wait("subtree apply");
        let (folders, files) = (tree.folders.len(), tree.files.len());
        let applying = Instant::now();
        let sent = |generation| Sent { at: asked, on_clock: sent_on_clock, generation };
        let applied = self.apply_subtree(ino, &path, by_folder(tree), (&sent, &before), &hidden);
        log::debug!(
            "{path}: subtree of {folders} folders and {files} files listed in {:?}; {applied} listings applied in {:?}",
            applying - asked,
            applying.elapsed()
        );
        true
    }

    /// Apply a grouped subtree listing top down from `top`; returns how many listings were applied.
    fn apply_subtree(
        &self,
        top: u64,
        top_path: &RemotePath,
        mut levels: HashMap<String, Level>,
        (sent, before): (&dyn Fn(Option<u64>) -> Sent, &HashMap<u64, u64>),
        hidden: &HashSet<String>,
    ) -> usize {
        let mut applied = 0;
        let mut stack = vec![(top, top_path.clone(), String::new())];
        while let Some((ino, path, rel)) = stack.pop() {
            let Some(level) = levels.remove(&rel) else { continue };
            let subfolders: Vec<String> = level.folders.iter().filter(|n| representable(n)).cloned().collect();
            let here = sent(before.get(&ino).copied());
            let (change, wanted) = {
                let table = lock(&self.table);
                let Some(node) = table.get(ino) else { continue };
                (here.changed_here(node), self.wants_listing(&table, ino))
            };
            if change == Change::Itself {
                continue;
            }
            if change == Change::None && wanted {
                match self.apply_level(ino, &path, &rel, level, here, hidden) {
                    Some(true) => applied += 1,
                    // Dropped: the folder changed here meanwhile, or the table is out of room (then the
                    // rest would be dropped too).
                    Some(false) if !self.room_ahead(&lock(&self.table)) => return applied,
                    Some(false) | None => {}
                }
            }
            let table = lock(&self.table);
            for name in subfolders {
                let child = table.child(ino, &name).filter(|c| table.get(*c).is_some_and(|n| n.kind.is_dir()));
                if let (Some(child), Ok(child_path)) = (child, path.join(&name)) {
                    stack.push((child, child_path, join(&rel, &name)));
                }
            }
        }
        applied
    }

    /// One folder's listing out of a subtree listing: Some(false) when it was dropped (no room, or the
    /// folder changed here since the request was `sent`), None when it was not applied (a request for
    /// the folder is on its way, or it went away).
    fn apply_level(
        &self,
        ino: u64,
        path: &RemotePath,
        rel: &str,
        level: Level,
        sent: Sent,
        hidden: &HashSet<String>,
    ) -> Option<bool> {
        let gate = self.gate(ino);
        let _g = match gate.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let prefix = if rel.is_empty() { String::new() } else { format!("{rel}/") };
        let here: HashSet<String> = hidden
            .iter()
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|n| !n.contains('/'))
            .map(str::to_string)
            .collect();
        let fallback = self.mounted_at;
        let mut children: Vec<(String, InodeKind, UnixTime, Option<FileMeta>)> = Vec::new();
        {
            // A subfolder keeps the time it has (the subtree listing has none for folders), and a file
            // whose size and md5 are unchanged keeps its revision and uuid (and so the kernel's pages).
            let table = lock(&self.table);
            let known = |name: &str| table.child(ino, name).and_then(|c| table.get(c));
            for name in level.folders {
                let mtime = known(&name).map(|n| n.mtime).unwrap_or(fallback);
                children.push((name, InodeKind::Folder, mtime, None));
            }
            for f in level.files {
                let brief = FileMeta::brief(f.size, &f.md5);
                let meta = match known(&f.name).and_then(|n| n.file.as_ref()) {
                    Some(had) if had.size == brief.size && had.md5 == brief.md5 && had.revision > 0 => had.clone(),
                    _ => brief,
                };
                children.push((f.name, InodeKind::File, f.modified.unwrap_or(fallback), Some(meta)));
            }
        }
        children.retain(|(name, ..)| representable(name));
        self.apply_listing(ino, path, InodeKind::Folder, children, (sent.at, here), Ahead::Subtree(sent)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(parent: &str, name: &str) -> TreeFile {
        TreeFile {
            parent: parent.into(),
            name: name.into(),
            size: 1,
            md5: String::new(),
            modified: None,
            created: None,
        }
    }

    #[test]
    fn a_subtree_is_grouped_by_folder_whatever_the_casing() {
        let tree = Tree {
            folders: vec!["A".into(), "A/b".into(), "c".into()],
            files: vec![file("", "top.txt"), file("a/B", "deep.txt"), file("A", "mid.txt")],
        };
        let levels = by_folder(tree);
        assert_eq!(levels[""].folders, ["A", "c"]);
        assert_eq!(levels[""].files[0].name, "top.txt");
        assert_eq!(levels["a"].folders, ["b"]);
        assert_eq!(levels["a"].files[0].name, "mid.txt");
        assert_eq!(levels["a/b"].files[0].name, "deep.txt");
        assert!(levels["c"].folders.is_empty() && levels["c"].files.is_empty(), "an empty folder is listed as empty");
        assert_eq!(join("", "X"), "x");
        assert_eq!(join("a", "B"), "a/b");
    }

    #[test]
    fn a_folder_named_only_in_a_path_is_still_entered_in_its_parent() {
        let tree = Tree { folders: vec!["a".into(), "a/b/c".into()], files: vec![file("x/y", "f.txt")] };
        let levels = by_folder(tree);
        assert_eq!(levels[""].folders, ["a", "x"]);
        assert_eq!(levels["a"].folders, ["b"], "b is named only in a/b/c");
        assert_eq!(levels["a/b"].folders, ["c"]);
        assert_eq!(levels["x"].folders, ["y"]);
        assert_eq!(levels["x/y"].files[0].name, "f.txt");
    }

    #[test]
    fn what_changed_here_after_the_request_was_sent_is_told_apart() {
        let mut t = InodeTable::new(RemotePath::parse("/Jotta/Archive").unwrap(), InodeKind::Folder, 0);
        let clock = super::super::clock::Clock::default();
        t.set_clock(clock.clone());
        let a = t.upsert(super::super::node::ROOT_INO, "a", InodeKind::Folder, 0, None);
        t.set_children(a, Vec::new());
        let generation = t.get(a).unwrap().generation;
        let sent = Sent { at: Instant::now(), on_clock: clock.now(), generation: Some(generation) };
        assert_eq!(sent.changed_here(t.get(a).unwrap()), Change::None);
        let f = t.upsert(a, "new.txt", InodeKind::File, 0, Some(FileMeta::default()));
        t.add_child(a, f);
        assert_eq!(sent.changed_here(t.get(a).unwrap()), Change::Listing, "a child made here");
        let later = Sent { generation: Some(t.get(a).unwrap().generation), ..sent };
        clock.advance(std::time::Duration::from_millis(5));
        t.set_children(a, vec![f]);
        assert_eq!(later.changed_here(t.get(a).unwrap()), Change::Listing, "listed again since");
        t.touch(a);
        assert_eq!(later.changed_here(t.get(a).unwrap()), Change::Itself, "moved or made here since");
    }
}
