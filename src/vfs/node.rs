//! The inode table: every name the kernel has seen gets a stable inode number for the life of the mount.
//! A node records where it lives (parent + name, so renames are cheap), what it is, its attributes as
//! last listed, and — for folders — the children of the last listing and when it was fetched.
//! Invariant: a (parent, lowercase name) pair maps to at most one live inode, matching the service's
//! case-insensitive namespace.
//!
//! Bounded: each node counts the kernel's references (lookups, minus what it forgot); past the size
//! limit, the least recently used folder listings whose children the kernel no longer references are
//! dropped (they are fetched again when needed). Nodes the kernel knows, files with local content and
//! folders not yet on the server (whose listing exists only here) are never dropped, so an inode number
//! the kernel holds always resolves.

use super::staging::LocalFile;
use crate::remote::{FileInfo, RemotePath, UnixTime};
use std::collections::HashMap;
use std::time::Instant;

pub const ROOT_INO: u64 = 1;

/// A listing used this recently is never dropped: an operation may be between fetching and reading it.
const RECENT: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InodeKind {
    /// The account root, listing devices.
    Account,
    /// A device, listing mount points.
    Device,
    /// A mount point or folder.
    Folder,
    File,
}

impl InodeKind {
    pub fn is_dir(self) -> bool {
        !matches!(self, InodeKind::File)
    }
}

/// What the service told us about a file's current revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub md5: Option<[u8; 16]>,
    /// The current revision's number; 0: not on the server (yet).
    pub revision: u32,
    pub uuid: Option<String>,
    /// Listed by a subtree listing (`subtree.rs`), which names neither the revision nor the uuid:
    /// `revision` is then 1, standing for "on the server", until the file's own document is read.
    pub brief: bool,
}

impl FileMeta {
    pub fn from_info(f: &FileInfo) -> Self {
        let md5 = f.md5().and_then(|h| {
            let mut out = [0u8; 16];
            hex::decode_to_slice(h, &mut out).ok().map(|_| out)
        });
        FileMeta {
            size: f.size(),
            md5,
            revision: f.current.as_ref().map(|r| r.number).unwrap_or(0),
            uuid: f.uuid.clone(),
            brief: false,
        }
    }

    /// A file as a subtree listing shows it: size and md5, on the server, revision and uuid unknown.
    pub fn brief(size: u64, md5: &str) -> Self {
        let mut hash = [0u8; 16];
        let md5 = hex::decode_to_slice(md5, &mut hash).ok().map(|_| hash);
        FileMeta { size, md5, revision: 1, uuid: None, brief: true }
    }

    pub fn md5_hex(&self) -> Option<String> {
        self.md5.map(hex::encode)
    }
}

#[derive(Debug)]
pub struct Inode {
    pub parent: u64,
    pub name: String,
    pub kind: InodeKind,
    /// Depth in the service's namespace: 0 account, 1 device, 2 mount point, 3+ inside one.
    pub depth: usize,
    pub mtime: UnixTime,
    /// Files only.
    pub file: Option<FileMeta>,
    /// Folders only: children as of `listed_at`.
    pub children: Option<Vec<u64>>,
    pub listed_at: Option<Instant>,
    /// When the attributes were last confirmed by the service.
    pub attr_at: Instant,
    /// Bumped whenever the content may have changed, so readers and the page cache can tell. For folders
    /// the content is the listing: bumped at every fetch and every change made here, so the kernel's
    /// cached directory (and the entries it created alongside) is dropped when ours was renewed.
    pub generation: u64,
    /// Files being written or waiting for upload: the local copy, which wins over what the server says.
    pub local: Option<Box<LocalFile>>,
    /// Folders made while the service was unreachable: the journal record that creates it on the server.
    /// Until then its listing is what this mount put in it, never fetched (see `pending_dirs.rs`).
    pub local_folder: Option<u64>,
    /// References the kernel holds (entries it was given, minus what it forgot).
    pub lookups: u64,
    /// Open file handles (readers and writers) on this node.
    pub handles: u32,
    /// Folders: how many of `children` are folders, kept with them. A folder's nlink and a walk's look
    /// for subfolders to fetch ahead read it at every getattr and opendir: counting 1,000 children each
    /// time cost a warm `find` half its speed.
    pub subfolders: u32,
    /// When this mount last changed the node (content, time or name): its ctime. Not kept by the
    /// service, so a node nobody changed here shows its mtime.
    pub changed_at: Option<UnixTime>,
    /// When this mount last put the node where it is or changed what the service holds of it (made,
    /// moved here, upload settled): a listing requested before then may not show it yet, and must not
    /// take it away or overwrite it (see `set_listing`).
    pub touched_at: Option<Instant>,
}

impl Inode {
    /// Whether the service has (a completed revision of) this node: new files and folders made while
    /// the service was unreachable exist only here.
    pub fn on_server(&self) -> bool {
        match self.kind {
            InodeKind::File => self.file.as_ref().map(|f| f.revision > 0).unwrap_or(false),
            _ => self.local_folder.is_none(),
        }
    }

    /// The journal record this node waits on (a file's upload, a folder's creation), if any.
    pub fn pending_record(&self) -> Option<u64> {
        self.local.as_ref().map(|l| l.id).or(self.local_folder)
    }
}

#[derive(Debug)]
pub struct InodeTable {
    nodes: HashMap<u64, Inode>,
    by_name: HashMap<(u64, String), u64>,
    next: u64,
    root_path: RemotePath,
    /// Folders holding a listing, least recently used first, with when they were last used.
    listings: lru::LruCache<u64, Instant>,
    /// How many nodes to keep before old listings are dropped.
    max_nodes: usize,
    /// What listing and attribute ages are measured with (`listed_at`, `attr_at`, `listings`).
    clock: super::clock::Clock,
    /// Folders whose children's names the kernel was last asked to let go of, and when.
    kernel_asked: HashMap<u64, Instant>,
    /// Renames applied so far: a path worked out before a change of this count may be stale.
    moves: u64,
}

/// What `evict` did: the inodes gone, and per folder the children whose names the kernel should let go of.
#[derive(Debug, Default)]
pub struct Evicted {
    pub gone: Vec<u64>,
    pub let_go: Vec<(u64, Vec<u64>)>,
}

/// At most about this many names asked to be let go of per `evict`.
const LET_GO_BATCH: usize = 16_384;

fn key(name: &str) -> String {
    name.to_lowercase()
}

impl InodeTable {
    /// `root_path` is what inode 1 shows: the account root, or a subtree given with `--root`.
    pub fn new(root_path: RemotePath, root_kind: InodeKind, now: UnixTime) -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT_INO,
            Inode {
                parent: ROOT_INO,
                name: String::new(),
                kind: root_kind,
                depth: root_path.depth(),
                mtime: now,
                file: None,
                children: None,
                listed_at: None,
                attr_at: Instant::now(),
                generation: 0,
                local: None,
                local_folder: None,
                lookups: 0,
                handles: 0,
                subfolders: 0,
                changed_at: None,
                touched_at: None,
            },
        );
        InodeTable {
            nodes,
            by_name: HashMap::new(),
            next: ROOT_INO + 1,
            root_path,
            listings: lru::LruCache::unbounded(),
            max_nodes: usize::MAX,
            clock: super::clock::Clock::default(),
            kernel_asked: HashMap::new(),
            moves: 0,
        }
    }

    /// How many renames the table has applied (see `moves`).
    pub fn moves(&self) -> u64 {
        self.moves
    }

    pub fn set_max_nodes(&mut self, max: usize) {
        self.max_nodes = max.max(1);
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The kernel was handed an entry for `ino` (lookup, create, readdirplus).
    pub fn remember(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.lookups += 1;
        }
    }

    /// Measure listing and attribute ages with `clock` (the mount's, which tests can move on).
    pub fn set_clock(&mut self, clock: super::clock::Clock) {
        self.clock = clock;
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.lookups = node.lookups.saturating_sub(n);
        }
    }

    /// A folder's listing was used: it is the last to be dropped.
    pub fn touch_listing(&mut self, ino: u64) {
        if let Some(at) = self.listings.get_mut(&ino) {
            *at = self.clock.now();
        }
    }

    /// Past the size limit, drop the least recently used listings that nothing depends on: children the
    /// kernel does not reference, with no local content and no listing of their own. Returns the inode
    /// numbers that are gone, and the children whose names the kernel should be asked to let go of
    /// (`kernel_names.rs`): those of listings held only because the kernel still references some of them.
    pub fn evict(&mut self) -> Evicted {
        let mut gone = Vec::new();
        let mut let_go: Vec<(u64, Vec<u64>)> = Vec::new();
        let mut let_go_names = 0;
        let mut tries = self.listings.len();
        while self.nodes.len() > self.max_nodes && tries > 0 {
            tries -= 1;
            let Some((folder, used)) = self.listings.pop_lru() else { break };
            if self.clock.elapsed(used) < RECENT {
                // Everything left was used just now (an operation may be reading it): keep it all.
                self.listings.put(folder, used);
                break;
            }
            let Some(children) = self.nodes.get(&folder).and_then(|n| n.children.clone()) else { continue };
            let free = |c: &u64| {
                self.nodes
                    .get(c)
                    .map(|n| n.lookups == 0 && n.pending_record().is_none() && n.children.is_none())
                    .unwrap_or(true)
            };
            let local_only = self.nodes.get(&folder).is_some_and(|f| f.local_folder.is_some());
            if folder == ROOT_INO || local_only || !children.iter().all(free) {
                if folder != ROOT_INO && !local_only && let_go_names < LET_GO_BATCH {
                    if let Some(names) = self.only_kernel_holds(folder, &children) {
                        let_go_names += names.len();
                        let_go.push((folder, names));
                    }
                }
                // Still in use: keep it, as if just used, and look further.
                self.listings.put(folder, self.clock.now());
                continue;
            }
            for c in children {
                self.detach(c);
                gone.push(c);
            }
            if let Some(f) = self.nodes.get_mut(&folder) {
                f.children = None;
                f.subfolders = 0;
                f.listed_at = None;
                f.generation += 1;
            }
            self.kernel_asked.remove(&folder);
        }
        Evicted { gone, let_go }
    }

    /// The children of `folder` the kernel references, when that is all that keeps its listing and the
    /// kernel was not asked about them lately. Only files not open: a folder's name may be a process's
    /// working folder (dropping it would break `getcwd`), and an open file's name shows in /proc.
    fn only_kernel_holds(&mut self, folder: u64, children: &[u64]) -> Option<Vec<u64>> {
        if self.kernel_asked.get(&folder).is_some_and(|at| self.clock.elapsed(*at) < RECENT) {
            return None;
        }
        let mut held = Vec::new();
        for c in children {
            let n = self.nodes.get(c)?;
            if n.pending_record().is_some() || n.children.is_some() {
                return None;
            }
            if n.lookups > 0 {
                if n.kind.is_dir() || n.handles > 0 {
                    return None;
                }
                held.push(*c);
            }
        }
        if held.is_empty() {
            return None;
        }
        // Bounded by the folders holding a listing: the mark goes with the listing.
        self.kernel_asked.insert(folder, self.clock.now());
        Some(held)
    }

    pub fn get(&self, ino: u64) -> Option<&Inode> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Inode> {
        self.nodes.get_mut(&ino)
    }

    pub fn child(&self, parent: u64, name: &str) -> Option<u64> {
        self.by_name.get(&(parent, key(name))).copied()
    }

    /// Insert or refresh a child; an existing inode keeps its number (and its listing if still a folder).
    pub fn upsert(&mut self, parent: u64, name: &str, kind: InodeKind, mtime: UnixTime, file: Option<FileMeta>) -> u64 {
        let now = self.clock.now();
        if let Some(ino) = self.child(parent, name) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                if node.kind == kind && node.local.is_some() {
                    // A file being written or uploaded: what this mount did wins over a listing that may
                    // have been taken half-way through an upload.
                    node.attr_at = now;
                    return ino;
                }
                if node.kind == kind {
                    if node.file != file || node.mtime != mtime {
                        node.generation += 1;
                    }
                    node.name = name.to_string();
                    node.mtime = mtime;
                    node.file = file;
                    node.attr_at = now;
                    return ino;
                }
            }
            // Same name, other kind (a file replaced by a folder): a new inode, the old one is forgotten.
            self.detach(ino);
        }
        let ino = self.next;
        self.next += 1;
        let depth = self.nodes.get(&parent).map(|p| p.depth + 1).unwrap_or(0);
        self.nodes.insert(
            ino,
            Inode {
                parent,
                name: name.to_string(),
                kind,
                depth,
                mtime,
                file,
                children: None,
                listed_at: None,
                attr_at: now,
                generation: 0,
                local: None,
                local_folder: None,
                lookups: 0,
                handles: 0,
                subfolders: 0,
                changed_at: None,
                touched_at: None,
            },
        );
        self.by_name.insert((parent, key(name)), ino);
        ino
    }

    /// Add a node made here (mkdir, create) to its parent's listing without waiting for a relisting.
    pub fn add_child(&mut self, parent: u64, ino: u64) {
        self.touch(ino);
        let is_dir = self.nodes.get(&ino).is_some_and(|n| n.kind.is_dir());
        if let Some(p) = self.nodes.get_mut(&parent) {
            if let Some(children) = p.children.as_mut() {
                if !children.contains(&ino) {
                    children.push(ino);
                    p.subfolders += u32::from(is_dir);
                    p.generation += 1;
                }
            }
        }
    }

    /// Take `ino` out of `parent`'s children (as held), keeping the count of subfolders.
    fn drop_child(&mut self, parent: u64, ino: u64, is_dir: bool) {
        if let Some(p) = self.nodes.get_mut(&parent) {
            if let Some(children) = p.children.as_mut() {
                let before = children.len();
                children.retain(|c| *c != ino);
                if is_dir {
                    let removed = u32::try_from(before - children.len()).unwrap_or(u32::MAX);
                    p.subfolders = p.subfolders.saturating_sub(removed);
                }
                p.generation += 1;
            }
        }
    }

    /// Note that this mount just changed the node (see `Inode::touched_at`).
    pub fn touch(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.touched_at = Some(Instant::now());
        }
    }

    /// Apply a folder's listing requested at `asked`: `entries` as `upsert` takes them. What this mount
    /// changed since `asked` wins over the listing (it may have been taken before that change reached
    /// the service): such a node is neither overwritten nor dropped.
    pub fn set_listing(
        &mut self,
        parent: u64,
        entries: Vec<(String, InodeKind, UnixTime, Option<FileMeta>)>,
        asked: Instant,
    ) {
        let newer = |t: &Self, ino: u64| t.nodes.get(&ino).and_then(|n| n.touched_at).is_some_and(|at| at >= asked);
        let mut inos = Vec::with_capacity(entries.len());
        for (name, kind, mtime, meta) in entries {
            match self.child(parent, &name) {
                Some(ino) if newer(self, ino) => inos.push(ino),
                _ => inos.push(self.upsert(parent, &name, kind, mtime, meta)),
            }
        }
        let listed: std::collections::HashSet<u64> = inos.iter().copied().collect();
        let recent: Vec<u64> = self
            .nodes
            .get(&parent)
            .and_then(|p| p.children.as_ref())
            .map(|c| c.iter().copied().filter(|c| !listed.contains(c) && newer(self, *c)).collect())
            .unwrap_or_default();
        inos.extend(recent);
        self.set_children(parent, inos);
    }

    /// Move a node to a new parent and name (rename); a node already there is detached first.
    pub fn rename(&mut self, ino: u64, new_parent: u64, new_name: &str) {
        if let Some(existing) = self.child(new_parent, new_name) {
            if existing != ino {
                self.detach(existing);
            }
        }
        let Some(node) = self.nodes.get(&ino) else { return };
        self.moves += 1;
        let (old_parent, old_key, is_dir) = (node.parent, key(&node.name), node.kind.is_dir());
        if self.by_name.get(&(old_parent, old_key.clone())) == Some(&ino) {
            self.by_name.remove(&(old_parent, old_key));
        }
        self.drop_child(old_parent, ino, is_dir);
        let depth = self.nodes.get(&new_parent).map(|p| p.depth + 1).unwrap_or(0);
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.parent = new_parent;
            node.name = new_name.to_string();
            node.depth = depth;
            node.changed_at = Some(chrono::Utc::now().timestamp());
            node.touched_at = Some(Instant::now());
        }
        self.by_name.insert((new_parent, key(new_name)), ino);
        self.add_child(new_parent, ino);
    }

    /// The generation of every folder held below `top` (`top` included): a listing taken before a change
    /// in one of them must not be applied to it afterwards (`subtree.rs`).
    pub fn folder_generations_below(&self, top: u64) -> std::collections::HashMap<u64, u64> {
        let mut out = std::collections::HashMap::new();
        let mut stack = vec![top];
        while let Some(i) = stack.pop() {
            if let Some(n) = self.nodes.get(&i).filter(|n| n.kind.is_dir()) {
                out.insert(i, n.generation);
                stack.extend(n.children.iter().flatten().copied());
            }
        }
        out
    }

    /// Inodes below a folder (recursively) that hold local content or wait to be created on the server.
    pub fn local_descendants(&self, ino: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut stack = vec![ino];
        while let Some(i) = stack.pop() {
            if let Some(n) = self.nodes.get(&i) {
                if n.pending_record().is_some() {
                    out.push(i);
                }
                stack.extend(n.children.iter().flatten().copied());
            }
        }
        out
    }

    /// Remove a node (and, recursively, what the table knows below it) from the namespace.
    pub fn detach(&mut self, ino: u64) {
        if ino == ROOT_INO {
            return;
        }
        if let Some(node) = self.nodes.remove(&ino) {
            self.listings.pop(&ino);
            self.kernel_asked.remove(&ino);
            let k = (node.parent, key(&node.name));
            if self.by_name.get(&k) == Some(&ino) {
                self.by_name.remove(&k);
            }
            self.drop_child(node.parent, ino, node.kind.is_dir());
            for c in node.children.unwrap_or_default() {
                self.detach(c);
            }
        }
    }

    /// Replace a folder's children with a fresh listing; children no longer listed are detached, except
    /// what exists only here so far (files written, not yet uploaded; folders not yet created).
    pub fn set_children(&mut self, parent: u64, mut children: Vec<u64>) {
        let old = self.nodes.get(&parent).and_then(|n| n.children.clone()).unwrap_or_default();
        let keep: std::collections::HashSet<u64> = children.iter().copied().collect();
        for c in old {
            if keep.contains(&c) {
                continue;
            }
            if self.nodes.get(&c).map(|n| n.pending_record().is_some()).unwrap_or(false) {
                children.push(c);
            } else {
                self.detach(c);
            }
        }
        let subfolders = children.iter().filter(|c| self.nodes.get(c).is_some_and(|n| n.kind.is_dir())).count();
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children = Some(children);
            p.subfolders = u32::try_from(subfolders).unwrap_or(u32::MAX);
            p.listed_at = Some(self.clock.now());
            p.generation += 1;
            self.listings.put(parent, self.clock.now());
        }
    }

    /// Take a file out of the namespace but keep its node: it was unlinked or replaced while open, and
    /// its handles still use it (`fstat`, reads, writes). Gone with `remove_orphan` at the last close.
    pub fn orphan(&mut self, ino: u64) {
        let Some(node) = self.nodes.get(&ino) else { return };
        let k = (node.parent, key(&node.name));
        let (parent, is_dir) = (node.parent, node.kind.is_dir());
        if self.by_name.get(&k) == Some(&ino) {
            self.by_name.remove(&k);
        }
        self.drop_child(parent, ino, is_dir);
    }

    /// Whether a node is still reachable by name (not orphaned).
    pub fn is_linked(&self, ino: u64) -> bool {
        ino == ROOT_INO
            || self.nodes.get(&ino).is_some_and(|n| self.by_name.get(&(n.parent, key(&n.name))) == Some(&ino))
    }

    /// Drop an orphaned node for good (its last handle closed).
    pub fn remove_orphan(&mut self, ino: u64) {
        if !self.is_linked(ino) {
            self.nodes.remove(&ino);
        }
    }

    /// The node shown at a service path, if the table knows it.
    pub fn find(&self, path: &RemotePath) -> Option<u64> {
        let root = self.root_path.segments();
        let segments = path.segments();
        if segments.len() < root.len() || !segments.iter().zip(root).all(|(a, b)| a.eq_ignore_ascii_case(b)) {
            return None;
        }
        let mut ino = ROOT_INO;
        for name in &segments[root.len()..] {
            ino = self.child(ino, name)?;
        }
        Some(ino)
    }

    /// Forget a folder's listing so the next access fetches it again.
    pub fn invalidate_listing(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.listed_at = None;
        }
    }

    /// Whether `ancestor` is `ino` or one of the folders above it.
    pub fn is_within(&self, mut ino: u64, ancestor: u64) -> bool {
        loop {
            if ino == ancestor {
                return true;
            }
            match self.nodes.get(&ino) {
                Some(n) if ino != ROOT_INO => ino = n.parent,
                _ => return false,
            }
        }
    }

    /// The service path of a node, rebuilt from the parent chain.
    pub fn path(&self, mut ino: u64) -> Option<RemotePath> {
        let mut names = Vec::new();
        while ino != ROOT_INO {
            let n = self.nodes.get(&ino)?;
            names.push(n.name.clone());
            ino = n.parent;
        }
        let mut segments = self.root_path.segments().to_vec();
        segments.extend(names.into_iter().rev());
        RemotePath::from_segments(segments).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_case_preserving() {
        let mut t = InodeTable::new(RemotePath::parse("/Jotta/Archive").unwrap(), InodeKind::Folder, 0);
        let a = t.upsert(ROOT_INO, "Docs", InodeKind::Folder, 0, None);
        assert_eq!(t.child(ROOT_INO, "docs"), Some(a));
        let again = t.upsert(ROOT_INO, "DOCS", InodeKind::Folder, 0, None);
        assert_eq!(a, again);
        assert_eq!(t.get(a).unwrap().name, "DOCS");
        let f = t.upsert(a, "x.txt", InodeKind::File, 5, Some(FileMeta::default()));
        assert_eq!(t.path(f).unwrap().to_string(), "/Jotta/Archive/DOCS/x.txt");
    }

    #[test]
    fn the_count_of_subfolders_follows_every_change_of_the_children() {
        let mut t = InodeTable::new(RemotePath::parse("/Jotta/Archive").unwrap(), InodeKind::Folder, 0);
        let counted = |t: &InodeTable, ino: u64| {
            let n = t.get(ino).unwrap();
            let dirs = n.children.iter().flatten().filter(|c| t.get(**c).is_some_and(|c| c.kind.is_dir())).count();
            assert_eq!(n.subfolders as usize, dirs, "kept and counted differ");
            dirs
        };
        let (d1, d2) = (
            t.upsert(ROOT_INO, "d1", InodeKind::Folder, 0, None),
            t.upsert(ROOT_INO, "d2", InodeKind::Folder, 0, None),
        );
        let f = t.upsert(ROOT_INO, "f", InodeKind::File, 0, Some(FileMeta::default()));
        t.set_children(ROOT_INO, vec![d1, d2, f]);
        assert_eq!(counted(&t, ROOT_INO), 2);
        t.set_children(d1, vec![]);
        let made = t.upsert(ROOT_INO, "new", InodeKind::Folder, 0, None);
        t.add_child(ROOT_INO, made);
        t.add_child(ROOT_INO, made);
        assert_eq!(counted(&t, ROOT_INO), 3, "mkdir, added once");
        t.rename(d2, d1, "moved");
        assert_eq!((counted(&t, ROOT_INO), counted(&t, d1)), (2, 1), "a folder moved into another");
        t.rename(f, d1, "f");
        assert_eq!((counted(&t, ROOT_INO), counted(&t, d1)), (2, 1), "a file moved counts nowhere");
        t.rename(made, ROOT_INO, "d1");
        assert_eq!(counted(&t, ROOT_INO), 1, "a folder renamed over another replaces it");
        t.detach(made);
        assert_eq!(counted(&t, ROOT_INO), 0);
    }

    #[test]
    fn relisting_detaches_vanished_children() {
        let mut t = InodeTable::new(RemotePath::root(), InodeKind::Account, 0);
        let a = t.upsert(ROOT_INO, "a", InodeKind::File, 0, Some(FileMeta::default()));
        let b = t.upsert(ROOT_INO, "b", InodeKind::File, 0, Some(FileMeta::default()));
        t.set_children(ROOT_INO, vec![a, b]);
        t.set_children(ROOT_INO, vec![b]);
        assert!(t.get(a).is_none());
        assert_eq!(t.child(ROOT_INO, "a"), None);
        assert_eq!(t.child(ROOT_INO, "b"), Some(b));
    }

    #[test]
    fn past_the_bound_names_only_the_kernel_holds_are_asked_back_then_dropped() {
        let mut t = InodeTable::new(RemotePath::parse("/Jotta/Archive").unwrap(), InodeKind::Folder, 0);
        let clock = super::super::clock::Clock::default();
        t.set_clock(clock.clone());
        t.set_max_nodes(4);
        let mut folders = Vec::new();
        for d in ["d1", "d2"] {
            let dir = t.upsert(ROOT_INO, d, InodeKind::Folder, 0, None);
            let files: Vec<u64> = ["a", "b", "c"]
                .iter()
                .map(|f| t.upsert(dir, f, InodeKind::File, 0, Some(FileMeta::default())))
                .collect();
            t.set_children(dir, files.clone());
            // The kernel was handed every name (readdirplus).
            files.iter().for_each(|f| t.remember(*f));
            folders.push((dir, files));
        }
        let d1 = folders[0].0;
        t.set_children(ROOT_INO, folders.iter().map(|(d, _)| *d).collect());
        assert!(t.evict().let_go.is_empty(), "recent listings are kept and nothing is asked");
        clock.advance(RECENT * 2);
        let e = t.evict();
        assert!(e.gone.is_empty(), "the kernel still holds them");
        let asked: Vec<(u64, Vec<u64>)> = e.let_go;
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(asked.contains(&(d1, folders[0].1.clone())));
        assert!(t.evict().let_go.is_empty(), "not asked again right away");
        // The kernel forgets d1's names, but keeps d2's file b in use.
        folders[0].1.iter().for_each(|f| t.forget(*f, 1));
        t.forget(folders[1].1[0], 1);
        t.forget(folders[1].1[2], 1);
        clock.advance(RECENT * 2);
        let e = t.evict();
        assert_eq!(e.gone.len(), 3, "d1's listing is dropped");
        assert!(t.get(d1).unwrap().children.is_none());
        assert_eq!(e.let_go, vec![(folders[1].0, vec![folders[1].1[1]])], "what is still held is asked for again");
        // A folder the kernel holds (maybe a working folder) or an open file is never asked back.
        let d2 = folders[1].0;
        t.get_mut(folders[1].1[1]).unwrap().handles = 1;
        clock.advance(RECENT * 2);
        assert!(t.evict().let_go.is_empty(), "an open file keeps its name");
        t.get_mut(folders[1].1[1]).unwrap().handles = 0;
        let sub = t.upsert(d2, "sub", InodeKind::Folder, 0, None);
        let mut children = folders[1].1.clone();
        children.push(sub);
        t.set_children(d2, children);
        t.remember(sub);
        clock.advance(RECENT * 2);
        assert!(t.evict().let_go.is_empty(), "a folder's name the kernel holds is not asked back");
    }

    #[test]
    fn changed_content_bumps_the_generation() {
        let mut t = InodeTable::new(RemotePath::root(), InodeKind::Account, 0);
        let meta = FileMeta { size: 1, ..Default::default() };
        let a = t.upsert(ROOT_INO, "a", InodeKind::File, 0, Some(meta.clone()));
        t.upsert(ROOT_INO, "a", InodeKind::File, 0, Some(meta));
        assert_eq!(t.get(a).unwrap().generation, 0);
        t.upsert(ROOT_INO, "a", InodeKind::File, 0, Some(FileMeta { size: 2, ..Default::default() }));
        assert_eq!(t.get(a).unwrap().generation, 1);
    }
}
