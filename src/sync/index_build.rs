//! Taking an index of a tree: a local folder through the scanner's walker (same rules for what is a
//! file and which names JottaCloud can hold) with md5s from the scanner's checksum cache, or a remote
//! folder from one recursive listing (`list_tree`, one request) carrying the md5s the server already has.
//! Also `Side`, the command line's "local folder or remote path" for every index, archive and sync verb.

use super::checksum_cache::ChecksumCache;
use super::exclude::Excludes;
use super::index::{Entry, Index, Kind};
use super::{paths, scan_local, SyncError, SyncResult};
use crate::remote::{Remote, RemoteError, RemotePath, Tree};
use std::path::{Path, PathBuf};

/// The prefix that marks a remote path on the command line of the sync verbs, where a bare
/// `/Jotta/Archive/x` could as well be a local folder.
pub const REMOTE_PREFIX: &str = "jotta:";

/// One side of an index, archive or sync: a local folder, or a folder on JottaCloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Local(PathBuf),
    /// The path as typed (after the prefix); resolved with the account's devices when used.
    Remote(String),
}

impl Side {
    pub fn parse(arg: &str) -> Side {
        match arg.strip_prefix(REMOTE_PREFIX) {
            Some(rest) => Side::Remote(rest.to_string()),
            None => Side::Local(PathBuf::from(arg)),
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Side::Remote(_))
    }
}

/// Files this toolset leaves beside their targets while they are being written (a download's part, an
/// apply's staged file, an index or archive being saved, a link being made): not part of any tree.
const TRANSIENT: [&str; 4] = [".*.jotta-part", ".*.jotta-stage", ".*.jotta-tmp", ".*.jotta-link"];

/// How much md5 work a local index does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalHashing {
    /// Only md5s the checksum cache already holds for the file's current size and mtime: reads no content.
    CachedOnly,
    /// Every file's md5, reading the files the cache does not know (and remembering them there).
    All,
}

/// A local index and what the walk could not take in (each a line for the user).
pub struct LocalIndex {
    pub index: Index,
    pub skipped: Vec<(String, String)>,
    pub failed: Vec<(String, String)>,
}

/// Index the local folder `root` (which must exist).
pub fn index_local(root: &Path, hashing: LocalHashing, cache_base: &Path) -> SyncResult<LocalIndex> {
    let root = std::fs::canonicalize(root).map_err(|e| SyncError::local(root, e))?;
    if !root.is_dir() {
        return Err(SyncError::Usage(format!("{} is not a folder", root.display())));
    }
    let excludes = Excludes::new(&root, &TRANSIENT.map(String::from)).map_err(SyncError::Usage)?;
    let walked = scan_local::walk(&root, &excludes, false, false);
    let mut cache = ChecksumCache::open(cache_base, &root);
    let mut failed = walked.failed;
    let mut entries = Vec::with_capacity(walked.files.len() + walked.folders.len());
    for rel in walked.folders.into_values() {
        entries.push(Entry { path: rel, kind: Kind::Folder, size: 0, mtime: None, md5: None });
    }
    for f in walked.files.into_values() {
        let md5 = match hashing {
            LocalHashing::CachedOnly => cache.lookup(&f.path, &f.rel, f.stamp),
            LocalHashing::All => match cache.md5(&f.path, &f.rel, f.stamp) {
                Ok(m) => Some(m),
                Err(e) => {
                    failed.push((f.rel.clone(), format!("cannot read: {e}")));
                    continue;
                }
            },
        };
        let md5 = md5.and_then(|m| parse_md5(&m));
        entries.push(Entry { path: f.rel, kind: Kind::File, size: f.stamp.size, mtime: Some(f.stamp.mtime_sec), md5 });
    }
    if hashing == LocalHashing::All {
        if let Err(e) = cache.save() {
            log::warn!("{e}");
        }
    }
    let source = format!("local:{}", root.display());
    Ok(LocalIndex { index: Index::new(source, crate::remote::time::now(), entries), skipped: walked.skipped, failed })
}

/// Index the remote folder at `path` from one recursive listing.
pub async fn index_remote<R: Remote>(remote: &R, path: &RemotePath) -> SyncResult<Index> {
    if path.depth() < 2 {
        return Err(SyncError::Usage(format!("{path}: index a mount point or a folder, e.g. /Jotta/Archive/x")));
    }
    let tree = remote.list_tree(path).await?;
    Ok(index_of_tree(&path.to_string(), &tree))
}

/// The remote side, resolved with the path rule; a missing folder is an empty index (a sync target that
/// does not exist yet).
pub async fn index_remote_or_empty<R: Remote>(remote: &R, path: &RemotePath) -> SyncResult<Index> {
    match index_remote(remote, path).await {
        Err(SyncError::Remote(RemoteError::NotFound(_))) => {
            Ok(Index::new(format!("{REMOTE_PREFIX}{path}"), crate::remote::time::now(), Vec::new()))
        }
        other => other,
    }
}

pub fn index_of_tree(shown: &str, tree: &Tree) -> Index {
    let mut entries = Vec::with_capacity(tree.files.len() + tree.folders.len());
    for f in &tree.folders {
        let rel = f.trim_matches('/');
        if !rel.is_empty() {
            entries.push(Entry { path: rel.to_string(), kind: Kind::Folder, size: 0, mtime: None, md5: None });
        }
    }
    for f in &tree.files {
        let parent = f.parent.trim_matches('/');
        let path = if parent.is_empty() { f.name.clone() } else { format!("{parent}/{}", f.name) };
        entries.push(Entry { path, kind: Kind::File, size: f.size, mtime: f.modified, md5: parse_md5(&f.md5) });
    }
    Index::new(format!("{REMOTE_PREFIX}{shown}"), crate::remote::time::now(), entries)
}

pub fn parse_md5(hex_md5: &str) -> Option<[u8; 16]> {
    let raw = hex::decode(hex_md5.trim()).ok()?;
    raw.try_into().ok()
}

/// Resolve a remote side's path with the account's devices.
pub async fn resolve<R: Remote>(remote: &R, typed: &str) -> SyncResult<RemotePath> {
    paths::resolve_remote(remote, typed).await.map_err(|e| match e {
        RemoteError::InvalidName(m) => SyncError::Usage(format!("invalid path: {m}")),
        e => SyncError::Remote(e),
    })
}

/// `resolve` for a side that is written to: refused where the writing would create a mount point on the
/// built-in device (`paths::creates_mount_point`).
pub async fn resolve_target<R: Remote>(remote: &R, typed: &str) -> SyncResult<RemotePath> {
    let path = resolve(remote, typed).await?;
    match paths::creates_mount_point(remote, &path).await? {
        Some(why) => Err(SyncError::Usage(why)),
        None => Ok(path),
    }
}
