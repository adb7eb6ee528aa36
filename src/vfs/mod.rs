//! The filesystem core, generic over `Remote`: namespace (inode table + listing cache with TTLs), open
//! handles with streaming read-ahead, statfs and extended attributes. It speaks in `FsResult`s and plain
//! structs; `crate::fuse` turns them into kernel replies. While the service is unreachable (`offline.rs`)
//! listings held answer from the cache, however old, and one never fetched fails at once.
//!
//! Lock order: `listing gate` (per folder) -> `table`. Never call the remote while holding `table`.

mod buffers;
mod clock;
mod commit;
mod edges;
pub mod error;
mod hasher;
pub mod journal;
pub mod kernel_names;
pub mod lifecycle;
pub mod links;
mod namespace;
pub mod node;
pub mod offline;
mod pending_dirs;
mod prefetch;
pub mod reader;
mod removals;
mod replies;
pub mod staging;
mod subtree;
#[doc(hidden)]
pub mod test_hold;
pub mod upload;
pub mod upload_queue;

pub use clock::Clock;
pub use error::{FsError, FsResult};
pub use node::{FileMeta, InodeKind, ROOT_INO};
pub use reader::{ReadAheadConfig, ReadReply};

use crate::remote::{Remote, RemotePath, UnixTime};
use journal::Journal;
use lifecycle::Stage;
use node::InodeTable;
use reader::FileReader;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use upload_queue::UploadQueue;

/// Whether a folder listing held in memory may answer (`IfStale`: fetch only past its TTL) or must be
/// fetched now (`Always`: the caller is about to act on the server's view, e.g. rmdir's emptiness check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    IfStale,
    Always,
}

/// How a file is opened: for reading, for writing its content, or for writing from empty (`O_TRUNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    Read,
    Write,
    WriteTruncated,
}

/// Whether a listing being applied was fetched ahead (`apply_listing`): such a listing is dropped when
/// the table has no room for it; one out of a subtree listing also when its folder changed here after
/// the request was sent (`subtree.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ahead {
    No,
    Folder,
    Subtree(subtree::Sent),
}

/// Give the buffers kept for reuse back to the system once reads have left theirs unused for
/// `reads_quiet`, and writes theirs for `writes_quiet`; the bytes freed.
pub fn release_idle_buffers(reads_quiet: std::time::Duration, writes_quiet: std::time::Duration) -> usize {
    reader::POOL.release_if_quiet(reads_quiet) + hasher::SPARE.release_if_quiet(writes_quiet)
}

/// An open file's handle, and whether the kernel may keep the pages it cached (true while the content is
/// unchanged since they were cached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    pub keep_cache: bool,
}

#[derive(Debug, Clone)]
pub struct VfsConfig {
    /// What the mount's root shows: `/` (devices) or a subtree such as `/Jotta/Archive`.
    pub root: RemotePath,
    /// How long a folder listing is trusted before it is fetched again; also the kernel's entry TTL.
    pub dir_ttl: Duration,
    /// The kernel's attribute TTL.
    pub attr_ttl: Duration,
    pub uid: u32,
    pub gid: u32,
    pub umask: u32,
    pub read_only: bool,
    pub read_ahead: ReadAheadConfig,
    /// Where this account's staging files and upload journal live; `None` makes the mount read-only.
    pub cache_root: Option<PathBuf>,
    /// How long a closed file waits before its upload starts (so rsync's temp-file dance is one upload).
    pub writeback_delay: Duration,
    /// Uploads in flight at once.
    pub upload_workers: usize,
    /// Names kept in memory before listings not used lately (and not held by the kernel) are dropped.
    pub cache_entries: usize,
    /// Reads bypass the kernel's page cache (`-o direct_io`): each read goes to the read-ahead buffers,
    /// which saves the page-cache fill on one-pass streaming but keeps nothing across opens.
    pub direct_io: bool,
    /// `-o links`: files named `NAME.rclonelink` show as symbolic links `NAME` (see `links.rs`).
    pub links: bool,
    /// What the cache lifetimes are measured with (tests pass time through it).
    pub clock: Clock,
    /// Folder listings fetched ahead in parallel when a folder is opened (`prefetch.rs`); 0: none.
    pub prefetch: usize,
}

/// The defaults a mount gets for what `-o` leaves unsaid. They are named so that the mount option table
/// (`crate::mount::option_table`) shows the very numbers used here: change one and `--help` follows.
impl VfsConfig {
    pub const DEFAULT_DIR_TTL: Duration = Duration::from_secs(30);
    pub const DEFAULT_ATTR_TTL: Duration = Duration::from_secs(30);
    pub const DEFAULT_UMASK: u32 = 0o022;
    pub const DEFAULT_WRITEBACK_DELAY: Duration = Duration::from_secs(2);
    pub const DEFAULT_UPLOAD_WORKERS: usize = 4;
    /// About 0.2 GiB at the measured ~800 bytes per entry; the kernel's own references come on top.
    pub const DEFAULT_CACHE_ENTRIES: usize = 250_000;
    pub const DEFAULT_PREFETCH: usize = 32;
}

impl Default for VfsConfig {
    fn default() -> Self {
        VfsConfig {
            root: RemotePath::root(),
            dir_ttl: Self::DEFAULT_DIR_TTL,
            attr_ttl: Self::DEFAULT_ATTR_TTL,
            uid: 0,
            gid: 0,
            umask: Self::DEFAULT_UMASK,
            read_only: false,
            read_ahead: ReadAheadConfig::default(),
            cache_root: None,
            writeback_delay: Self::DEFAULT_WRITEBACK_DELAY,
            upload_workers: Self::DEFAULT_UPLOAD_WORKERS,
            cache_entries: Self::DEFAULT_CACHE_ENTRIES,
            direct_io: false,
            links: false,
            clock: Clock::from_env(),
            prefetch: Self::DEFAULT_PREFETCH,
        }
    }
}

/// Attributes of one node as the kernel sees them (uid/gid come from the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: InodeKind,
    pub size: u64,
    pub mtime: UnixTime,
    pub ctime: UnixTime,
    pub perm: u16,
    pub nlink: u32,
    /// A file shown as a symbolic link (`-o links`): its content is the target, its size the target's.
    pub symlink: bool,
}

#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: String,
    pub attr: Attr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    pub total: u64,
    pub used: u64,
    pub free: u64,
    /// The plan has no limit; `total`/`free` are then a large made-up figure.
    pub unlimited: bool,
}

/// A handle's reader of the server's copy, and what it was made for: the content (size, md5) and the
/// table's rename count. A read that finds either changed (a server-side `cp` onto the file, its upload
/// settling, a rename of it or of a folder above it) gets a new reader, so an open descriptor follows
/// the file as it does on a local disk rather than reading a stale length or a path that is gone.
struct ReaderOf<R: Remote> {
    reader: Arc<FileReader<R>>,
    content: Content,
    moves: u64,
}

/// What a reader reads: the size and md5 of the file's content (no md5 while it is only local).
type Content = (u64, Option<[u8; 16]>);

/// The content a node shows: its local copy's size while it has one, else the server's figures.
fn content_of(node: &node::Inode) -> Content {
    match (&node.local, &node.file) {
        (Some(l), _) => (l.size, None),
        (None, Some(f)) => (f.size, f.md5),
        (None, None) => (0, None),
    }
}

/// An open file handle: the remote reader (used while the file has no local copy) and whether the
/// handle may write.
struct OpenFile<R: Remote> {
    ino: u64,
    reader: Mutex<ReaderOf<R>>,
    write: bool,
    /// Whether this write handle is counted among the writers of the file's local copy. A handle opened
    /// for writing (without O_TRUNC) on a file that has no local copy is counted only at its first
    /// write, which is when the copy is made: an open that never writes (`touch`, a program that opens
    /// read-write and only reads or locks) fetches nothing.
    counted: Mutex<bool>,
}

pub struct JottaFs<R: Remote> {
    remote: Arc<R>,
    rt: Handle,
    cfg: VfsConfig,
    mounted_at: UnixTime,
    table: Mutex<InodeTable>,
    /// One gate per folder, so concurrent lookups in a cold folder cost one listing, not one each.
    gates: Mutex<HashMap<u64, Arc<Mutex<()>>>>,
    handles: Mutex<HashMap<u64, Arc<OpenFile<R>>>>,
    next_fh: AtomicU64,
    /// Readers streaming now, sharing the read-ahead budget (`reader.rs`).
    streaming: reader::Streaming,
    /// Targets of links already read (`-o links`), with the content generation they were read at.
    link_targets: Mutex<HashMap<u64, (u64, Vec<u8>)>>,
    /// Content generation each inode had when the kernel last cached its pages.
    cached_generation: Mutex<HashMap<u64, u64>>,
    /// Whether the service answers, and the account figures last seen.
    service: offline::ServiceState,
    journal: Option<Journal>,
    /// Serialises every change to journal records (commit, repath, upload done, drop), so a record
    /// removed after its upload can never be written back by a late rename or commit.
    /// Lock order: `journal_lock` -> `table` -> `queue`.
    journal_lock: Mutex<()>,
    queue: UploadQueue,
    /// Journal records from an earlier run whose inode does not exist yet, by lowercase parent path.
    recovered: Mutex<HashMap<String, Vec<journal::JournalEntry>>>,
    /// Recovered records uploaded before their folder was listed, by id: when, and the server's answer.
    /// A listing asked before that moment shows the old file and must not stand for it (`upload.rs`).
    settled_unlisted: Mutex<HashMap<u64, (Instant, crate::remote::UploadOutcome)>>,
    /// Subfolder listings to fetch ahead of a walk.
    prefetch: prefetch::Prefetcher,
    /// Names the kernel is asked to let go of when the table is past its bound.
    kernel_names: kernel_names::KernelNames,
}

fn now() -> UnixTime {
    chrono::Utc::now().timestamp()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another handler must not take the whole mount down with poisoned locks.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Names the kernel cannot carry are hidden (with a log line) rather than shown broken.
fn representable(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') || name.len() > 255)
}

impl<R: Remote> JottaFs<R> {
    /// Build the core. With a `cache_root` the journal is opened there (an unusable cache dir is an
    /// error: writes could not be made durable).
    pub fn new(remote: Arc<R>, rt: Handle, cfg: VfsConfig) -> std::io::Result<Self> {
        let root_kind = match cfg.root.depth() {
            0 => InodeKind::Account,
            1 => InodeKind::Device,
            _ => InodeKind::Folder,
        };
        let mounted_at = now();
        let cfg_prefetch = cfg.prefetch;
        let journal = match (&cfg.cache_root, cfg.read_only) {
            (Some(root), false) => Some(Journal::open(root)?),
            _ => None,
        };
        let fs = JottaFs {
            remote,
            rt,
            table: Mutex::new({
                let mut t = InodeTable::new(cfg.root.clone(), root_kind, mounted_at);
                t.set_max_nodes(cfg.cache_entries);
                t.set_clock(cfg.clock.clone());
                t
            }),
            cfg,
            mounted_at,
            gates: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            streaming: Default::default(),
            cached_generation: Mutex::new(HashMap::new()),
            link_targets: Mutex::new(HashMap::new()),
            service: offline::ServiceState::default(),
            journal,
            journal_lock: Mutex::new(()),
            queue: UploadQueue::default(),
            recovered: Mutex::new(HashMap::new()),
            settled_unlisted: Mutex::new(HashMap::new()),
            prefetch: prefetch::Prefetcher::new(cfg_prefetch),
            kernel_names: Default::default(),
        };
        fs.recover_journal();
        Ok(fs)
    }

    pub fn config(&self) -> &VfsConfig {
        &self.cfg
    }

    pub fn remote(&self) -> &Arc<R> {
        &self.remote
    }

    /// Check that the root exists and is a container, before the mount is offered to anyone.
    pub fn check_root(&self) -> FsResult<()> {
        self.ensure_listing(ROOT_INO, Refresh::Always)
    }

    /// Kernel attributes of a node: devices, mount-point lists and the account root are read-only.
    fn attr_of(&self, ino: u64, n: &node::Inode) -> Attr {
        let writable_dir = !self.cfg.read_only && n.kind == InodeKind::Folder && n.depth >= 2;
        let (size, perm, nlink) = match n.kind {
            InodeKind::File => {
                let size = match &n.local {
                    Some(l) => l.size,
                    None => n.file.as_ref().map(|f| f.size).unwrap_or(0),
                };
                let nlink = if n.local.as_ref().is_some_and(|l| l.is_orphaned()) { 0 } else { 1 };
                (size, if self.cfg.read_only { 0o444 } else { 0o666 }, nlink)
            }
            // Without the table only a folder known to be empty can be counted (see `attr_in`).
            _ => (
                0,
                if writable_dir { 0o777 } else { 0o555 },
                if n.children.as_ref().is_some_and(|c| c.is_empty()) { 2 } else { 1 },
            ),
        };
        let mtime = n.local.as_ref().map(|l| l.mtime).unwrap_or(n.mtime);
        let ctime = n.changed_at.unwrap_or(mtime);
        Attr { ino, kind: n.kind, size, mtime, ctime, perm: (perm & !self.cfg.umask) as u16, nlink, symlink: false }
    }

    /// `attr_of` with a folder's link count as on a local disk: 2 + its subfolders once its listing is
    /// known (kept with its children, `Inode::subfolders`); 1 before, the convention for "not counted"
    /// that tools such as `find` understand.
    fn attr_in(&self, table: &InodeTable, ino: u64, n: &node::Inode) -> Attr {
        let mut attr = self.attr_of(ino, n);
        if self.shows_as_link(table, n) {
            // Links carry no permissions of their own (lrwxrwxrwx), as on a local disk.
            attr.symlink = true;
            attr.perm = 0o777;
        }
        if n.kind.is_dir() && n.children.is_some() {
            attr.nlink = 2u32.saturating_add(n.subfolders);
        }
        attr
    }

    fn gate(&self, ino: u64) -> Arc<Mutex<()>> {
        lock(&self.gates).entry(ino).or_default().clone()
    }

    fn listing_fresh(&self, ino: u64) -> FsResult<bool> {
        let mut table = lock(&self.table);
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        if !node.kind.is_dir() {
            return Err(FsError::NotADirectory);
        }
        let fresh = node.listed_at.map(|t| self.cfg.clock.elapsed(t) < self.cfg.dir_ttl).unwrap_or(false);
        // Whoever asks is about to use the listing: keep it from being dropped meanwhile.
        table.touch_listing(ino);
        Ok(fresh)
    }

    /// Make sure a folder's children are known and fresh (one listing request when they are not). While
    /// the service is unreachable, a listing held is good enough (unless `Refresh::Always`), however old.
    fn ensure_listing(&self, ino: u64, refresh: Refresh) -> FsResult<()> {
        let force = refresh == Refresh::Always;
        if !force && self.listing_fresh(ino)? {
            return Ok(());
        }
        if self.local_only_listing(ino) {
            return Ok(());
        }
        let gate = self.gate(ino);
        let _g = lock(&gate);
        if !force && self.listing_fresh(ino)? {
            return Ok(());
        }
        let (path, kind) = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            (table.path(ino).ok_or(FsError::NotFound)?, node.kind)
        };
        let asked = Instant::now();
        // Names whose removal is queued now are hidden even if the removal lands while the listing is on
        // its way: the listing may have been taken before it landed (and show the name).
        let hidden = self.queue.removals_in(&path.to_string());
        let children = match self.fetch_children(&path, kind) {
            Ok(c) => c,
            Err(FsError::Unreachable(m)) if !force && self.has_listing(ino) => {
                log::debug!("{path}: serving the cached listing ({m})");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.apply_listing(ino, &path, kind, children, (asked, hidden), Ahead::No).map(|_| ())
    }

    /// Put a folder's fetched listing into the table: `asked` is when it was requested, with the names
    /// whose removal was queued then (`ensure_listing`). A listing fetched ahead is dropped instead
    /// (false) when the table has no room for it (`prefetch.rs`), or when the folder changed here since
    /// (`subtree.rs`).
    #[allow(clippy::type_complexity)]
    fn apply_listing(
        &self,
        ino: u64,
        path: &RemotePath,
        kind: InodeKind,
        children: Vec<(String, InodeKind, UnixTime, Option<FileMeta>)>,
        (asked, mut hidden): (Instant, std::collections::HashSet<String>),
        ahead: Ahead,
    ) -> FsResult<bool> {
        // Old names of files that moved away while their uploads were in flight, not yet removed from
        // the server (`removals.rs`): not shown.
        hidden.extend(self.queue.removals_in(&path.to_string()));
        let mut table = lock(&self.table);
        let Some(node) = table.get(ino) else { return Err(FsError::NotFound) };
        match ahead {
            Ahead::No => {}
            Ahead::Subtree(sent) if sent.changed_here(node) != subtree::Change::None => return Ok(false),
            Ahead::Folder | Ahead::Subtree(_) if !self.room_ahead(&table) => return Ok(false),
            Ahead::Folder | Ahead::Subtree(_) => {}
        }
        let entries = children
            .into_iter()
            .filter(|(name, kind, _, _)| {
                *kind != InodeKind::File || hidden.is_empty() || !hidden.contains(&name.to_lowercase())
            })
            .collect();
        table.set_listing(ino, entries, asked);
        if kind == InodeKind::Folder {
            self.attach_recovered(&mut table, ino, path, Some(asked));
        }
        self.evict_locked(&mut table);
        Ok(true)
    }

    fn has_listing(&self, ino: u64) -> bool {
        lock(&self.table).get(ino).is_some_and(|n| n.children.is_some())
    }

    /// The table, locked, with `folder`'s listing present and fresh (fetched again should a busy mount
    /// have dropped it between the fetch and the lock).
    fn listed(&self, folder: u64) -> FsResult<std::sync::MutexGuard<'_, InodeTable>> {
        for _ in 0..3 {
            self.ensure_listing(folder, Refresh::IfStale)?;
            let mut table = lock(&self.table);
            if table.get(folder).ok_or(FsError::NotFound)?.children.is_some() {
                table.touch_listing(folder);
                self.evict_locked(&mut table);
                return Ok(table);
            }
        }
        Err(FsError::Io("the folder listing keeps being dropped; raise -o cache_entries".into()))
    }

    /// Keep the table within its bound (see node.rs); called with the table locked, whenever names come
    /// in or references go.
    fn evict_locked(&self, table: &mut InodeTable) {
        if table.node_count() <= self.cfg.cache_entries {
            return;
        }
        let node::Evicted { gone, let_go } = table.evict();
        if !let_go.is_empty() {
            // The names as the kernel knows them (`-o links` shows `NAME.rclonelink` as `NAME`).
            let let_go: Vec<(u64, Vec<String>)> = let_go
                .into_iter()
                .map(|(folder, held)| {
                    let names =
                        held.iter().filter_map(|c| table.get(*c)).map(|n| self.shown_name(table, n).to_string());
                    (folder, names.collect())
                })
                .collect();
            let names: usize = let_go.iter().map(|(_, n)| n.len()).sum();
            if self.kernel_names.ask(let_go) {
                log::debug!("past cache_entries: asking the kernel to let go of {names} names");
            }
        }
        if !gone.is_empty() {
            log::debug!("dropped {} cached names of folders not used lately", gone.len());
            let mut cached = lock(&self.cached_generation);
            let mut gates = lock(&self.gates);
            let mut targets = lock(&self.link_targets);
            for g in &gone {
                cached.remove(g);
                targets.remove(g);
                gates.remove(g);
            }
        }
    }

    /// The kernel was handed these entries (readdirplus): it holds a reference to each.
    pub fn remember(&self, inos: &[u64]) {
        let mut table = lock(&self.table);
        for &i in inos {
            table.remember(i);
        }
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        let mut table = lock(&self.table);
        table.forget(ino, n);
        self.evict_locked(&mut table);
    }

    /// Children of a container as (name, kind, mtime, file meta), hidden entries already removed.
    #[allow(clippy::type_complexity)]
    fn fetch_children(
        &self,
        path: &RemotePath,
        kind: InodeKind,
    ) -> FsResult<Vec<(String, InodeKind, UnixTime, Option<FileMeta>)>> {
        let fallback = self.mounted_at;
        let mut out = Vec::new();
        match kind {
            InodeKind::Account => {
                let asked = std::time::Instant::now();
                let account = self.online(self.remote.account())?;
                self.figures_fetched(asked, offline::figures_of(&account));
                for d in account.devices {
                    out.push((d.name, InodeKind::Device, d.modified.unwrap_or(fallback), None));
                }
            }
            InodeKind::Device => {
                let dev = self.online(self.remote.device(path))?;
                for mp in dev.mount_points {
                    if mp.deleted.is_some() || crate::remote::path::is_pseudo_mount_point(&mp.name) {
                        continue;
                    }
                    out.push((mp.name, InodeKind::Folder, mp.modified.unwrap_or(fallback), None));
                }
            }
            InodeKind::Folder => {
                let listing = self.online(self.remote.list(path))?;
                if listing.deleted.is_some() {
                    return Err(FsError::NotFound);
                }
                for f in listing.folders {
                    if f.deleted.is_none() {
                        out.push((f.name, InodeKind::Folder, f.modified.unwrap_or(fallback), None));
                    }
                }
                for f in listing.files {
                    if f.is_live() {
                        let mtime = f.modified().or(f.current.as_ref().and_then(|r| r.updated)).unwrap_or(fallback);
                        let meta = FileMeta::from_info(&f);
                        out.push((f.name, InodeKind::File, mtime, Some(meta)));
                    }
                }
            }
            InodeKind::File => return Err(FsError::NotADirectory),
        }
        out.retain(|(name, ..)| {
            let ok = representable(name);
            if !ok {
                log::warn!("hiding '{}' in {path}: the name cannot be shown by the kernel", name.escape_default());
            }
            ok
        });
        Ok(out)
    }

    pub fn lookup(&self, parent: u64, name: &str) -> FsResult<Attr> {
        if name.len() > 255 {
            return Err(FsError::NameTooLong);
        }
        let mut table = self.listed(parent)?;
        // The service compares names case-insensitively, but a lookup must not answer for another
        // spelling: creating `A.txt` beside `a.txt` has to reach `create` and be refused there.
        let ino = self.resolve(&table, parent, name).ok_or(FsError::NotFound)?;
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        let attr = self.attr_in(&table, ino, node);
        // Counted under the same lock: from here the node cannot be dropped while the kernel holds it.
        table.remember(ino);
        Ok(attr)
    }

    /// Whether `lookup` would find `name` in `parent`, without counting a reference for the kernel (for
    /// `rename` with `RENAME_NOREPLACE`).
    pub fn name_taken(&self, parent: u64, name: &str) -> FsResult<bool> {
        let table = self.listed(parent)?;
        Ok(self.resolve(&table, parent, name).is_some())
    }

    pub fn getattr(&self, ino: u64) -> FsResult<Attr> {
        let (parent, stale) = {
            let table = lock(&self.table);
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            (node.parent, self.cfg.clock.elapsed(node.attr_at) >= self.cfg.attr_ttl)
        };
        if stale && ino != ROOT_INO {
            // One listing of the parent refreshes this node and all its siblings.
            self.ensure_listing(parent, Refresh::IfStale)?;
        }
        let table = lock(&self.table);
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        Ok(self.attr_in(&table, ino, node))
    }

    /// Open a folder: its listing is made fresh now, and the answer says whether the kernel may keep the
    /// directory it cached (true while the listing is the very one it cached from).
    pub fn opendir(&self, ino: u64) -> FsResult<bool> {
        if self.getattr(ino)?.kind == InodeKind::File {
            return Err(FsError::NotADirectory);
        }
        self.ensure_listing(ino, Refresh::IfStale)?;
        let generation = lock(&self.table).get(ino).ok_or(FsError::NotFound)?.generation;
        // A walk opens folders one after another: have the next ones' listings on their way.
        self.prefetch_below(ino);
        Ok(self.same_generation_cached(ino, generation))
    }

    /// Record that the kernel now caches `ino` as of `generation`; true when it already did.
    fn same_generation_cached(&self, ino: u64, generation: u64) -> bool {
        let mut cached = lock(&self.cached_generation);
        cached.insert(ino, generation) == Some(generation)
    }

    /// Every visible child of a folder, with attributes (for readdir and readdirplus alike).
    pub fn readdir(&self, ino: u64) -> FsResult<Vec<DirEntry>> {
        let table = self.listed(ino)?;
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        Ok(node
            .children
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .filter_map(|c| {
                table.get(*c).map(|n| DirEntry {
                    name: self.shown_name(&table, n).to_string(),
                    attr: self.attr_in(&table, *c, n),
                })
            })
            .collect())
    }

    /// Open a file. A writing handle gets a local copy at once when the open truncates or the file has
    /// one already; otherwise at its first write (see `OpenFile::counted`).
    pub fn open(&self, ino: u64, mode: OpenMode) -> FsResult<Opened> {
        let write = mode != OpenMode::Read;
        let counted = match mode {
            OpenMode::Read => false,
            OpenMode::WriteTruncated => {
                self.open_for_write(ino, true)?;
                true
            }
            OpenMode::Write => {
                self.journal_or_ro()?;
                let mut table = lock(&self.table);
                let local = table.get_mut(ino).ok_or(FsError::NotFound)?.local.as_mut();
                local.map(|l| l.writers += 1).is_some()
            }
        };
        let opened = self.open_counted(ino, write, counted);
        if opened.is_err() && counted {
            // The handle never came to be: its count goes again, as its close would have taken it.
            let _ = self.writer_closed(ino);
        }
        opened
    }

    fn open_counted(&self, ino: u64, write: bool, counted: bool) -> FsResult<Opened> {
        let (path, content, moves, generation) = {
            let mut table = lock(&self.table);
            let moves = table.moves();
            let path = table.path(ino).ok_or(FsError::NotFound)?;
            let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
            if node.kind.is_dir() {
                return Err(FsError::IsADirectory);
            }
            // Counted under the same lock the size is read under: an upload settling in between would
            // otherwise drop the local copy (no handle yet) and leave this handle a reader of the size
            // the node had before its upload (0 for a new file), reading nothing.
            node.handles += 1;
            (path, content_of(node), moves, node.generation)
        };
        // Tests hold an open here, the node read and the handle counted, while an upload settles.
        test_hold::wait("open");
        let keep_cache = !write && self.same_generation_cached(ino, generation);
        let reader = self.reader_of(path, content, moves);
        Ok(Opened { fh: self.new_handle(ino, reader, write, counted), keep_cache })
    }

    fn reader_of(&self, path: RemotePath, content: Content, moves: u64) -> ReaderOf<R> {
        let (remote, rt, cfg) = (self.remote.clone(), self.rt.clone(), self.cfg.read_ahead);
        let reader = FileReader::new(remote, rt, path, content.0, cfg, self.streaming.clone());
        ReaderOf { reader: Arc::new(reader), content, moves }
    }

    /// A handle on `ino`, already counted in the node's `handles` by the caller (under the table lock it
    /// read the node under); `counted`: already counted among the local copy's writers.
    fn new_handle(&self, ino: u64, reader: ReaderOf<R>, write: bool, counted: bool) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let file = OpenFile { ino, reader: Mutex::new(reader), write, counted: Mutex::new(counted) };
        lock(&self.handles).insert(fh, Arc::new(file));
        fh
    }

    fn handle(&self, fh: u64) -> FsResult<Arc<OpenFile<R>>> {
        lock(&self.handles).get(&fh).cloned().ok_or(FsError::BadHandle)
    }

    /// Close a handle. The last writer to close queues the upload (the journal record was written
    /// at flush, before close returned).
    pub fn release(&self, fh: u64) -> FsResult<()> {
        let Some(file) = lock(&self.handles).remove(&fh) else { return Ok(()) };
        let counted = file.write && *lock(&file.counted);
        let result = if counted { self.writer_closed(file.ino) } else { Ok(()) };
        self.handle_closed(file.ino);
        result
    }

    /// One handle less on `ino`. At the last one, a local copy that only served the handles goes: an
    /// orphan (unlinked or replaced while open) with its node, a clean copy (the server holds the same).
    fn handle_closed(&self, ino: u64) {
        let mut table = lock(&self.table);
        let Some(node) = table.get_mut(ino) else { return };
        node.handles = node.handles.saturating_sub(1);
        if node.handles > 0 {
            return;
        }
        let done = node.local.as_ref().filter(|l| l.writers == 0 && (l.is_orphaned() || l.is_clean())).map(|l| l.id);
        if let Some(id) = done {
            node.local = None;
            table.remove_orphan(ino);
            drop(table);
            if let Some(journal) = &self.journal {
                // An upload of this copy still in flight (cancelled when the file left the namespace)
                // reads the staging file: its end removes it instead. Under the journal lock, so the two
                // cannot both decide the other one does it.
                let _journal_guard = lock(&self.journal_lock);
                if !self.queue.contains(id) {
                    journal.remove(id);
                }
            }
        }
    }

    /// A file this mount uploaded knows no uuid (the upload's answer has none), nor does one listed by a
    /// subtree listing (nor its revision): asked for its xattrs, it asks the server once. Nothing changes
    /// when the server cannot tell.
    fn learn_uuid(&self, ino: u64) {
        let path = {
            let table = lock(&self.table);
            let Some(node) = table.get(ino) else { return };
            let unknown =
                node.local.is_none() && node.file.as_ref().is_some_and(|f| f.uuid.is_none() && f.revision > 0);
            if !unknown {
                return;
            }
            let Some(path) = table.path(ino) else { return };
            path
        };
        let Ok(crate::remote::Item::File(info)) = self.rt.block_on(self.remote.stat(&path)) else { return };
        let mut table = lock(&self.table);
        if let Some(f) = table.get_mut(ino).filter(|n| n.local.is_none()).and_then(|n| n.file.as_mut()) {
            if f.md5_hex().as_deref() == info.md5() {
                *f = FileMeta::from_info(&info);
            }
        }
    }

    /// `user.jotta.md5`, `user.jotta.revision`, `user.jotta.uuid` of a file; nothing for folders.
    pub fn xattrs(&self, ino: u64) -> FsResult<Vec<(&'static str, Vec<u8>)>> {
        self.learn_uuid(ino);
        let table = lock(&self.table);
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        let mut out = Vec::new();
        // A file waiting for upload shows the md5 of what it will upload (once recorded), not the
        // server's older one.
        let pending_md5 = node.local.as_ref().and_then(|l| match (l.stage, &l.record) {
            (Stage::Recorded { .. } | Stage::Retimed, Some(r)) => Some(Some(r.md5.clone())),
            (Stage::Clean | Stage::Orphaned, _) => None,
            _ => Some(None),
        });
        if let Some(f) = &node.file {
            if let Some(md5) = pending_md5.unwrap_or_else(|| f.md5_hex()) {
                out.push(("user.jotta.md5", md5.into_bytes()));
            }
            // A revision only stood for by a subtree listing is not shown as if it were known.
            if f.revision > 0 && !f.brief {
                out.push(("user.jotta.revision", f.revision.to_string().into_bytes()));
            }
            if let Some(uuid) = &f.uuid {
                out.push(("user.jotta.uuid", uuid.clone().into_bytes()));
            }
        }
        Ok(out)
    }
}
