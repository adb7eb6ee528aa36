//! Applying an offline-sync archive to a local folder, in phases so that a failure changes nothing:
//! 1. read the manifest and the index the archive was made against, and check the target still matches
//!    that index (refused with the list of drifted paths unless forced);
//! 2. stage every file beside its target, verifying its size and md5, then flush the filesystem once (a truncated or corrupt archive, a
//!    full disk, a name the filesystem refuses: every staged file is removed and the target is as before);
//! 3. rename the staged files into place, create the new folders, then delete what the archive deletes.
//!
//! Rerunning is safe: a file that already has the archive's content (an earlier run got that far) counts
//! as applied, both for the drift check and for staging.

use super::archive::{self, check_manifest, Manifest, ManifestFile, AGAINST_NAME, FILES_DIR, MANIFEST_NAME};
use super::checksum_cache::hash_file;
use super::index::{Entry, Index, Kind};
use super::index_build::{index_local, LocalHashing};
use super::local_target;
use super::staging::{self, describe, Promise, Staged};
use super::{SyncError, SyncResult};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

pub struct ApplyOptions {
    pub archive: PathBuf,
    pub target: PathBuf,
    /// Delete what the archive says was deleted at the source (off: add only, local additions are kept).
    pub delete: bool,
    /// Apply even when the target drifted from the index the archive was made against.
    pub force: bool,
    pub dry_run: bool,
    pub cache_base: PathBuf,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub written: u64,
    pub bytes: u64,
    /// Files that already had the archive's content (a rerun).
    pub already: u64,
    pub folders: u64,
    pub deleted: u64,
    /// Folders the archive deletes that still hold files it does not know (kept).
    pub kept: Vec<String>,
}

/// Why an apply stopped.
#[derive(Debug)]
pub enum ApplyError {
    /// The target is no longer what the archive was made against: each drifted path and how.
    Drifted(Vec<(String, &'static str)>),
    Failed(SyncError),
}

impl From<SyncError> for ApplyError {
    fn from(e: SyncError) -> Self {
        ApplyError::Failed(e)
    }
}

pub(super) fn broken(archive: &Path, why: impl std::fmt::Display) -> SyncError {
    SyncError::local(archive, format!("{why}; the archive is damaged or incomplete, copy it again"))
}

pub fn apply(opts: &ApplyOptions) -> Result<Applied, ApplyError> {
    let target = match std::fs::canonicalize(&opts.target) {
        Ok(t) if t.is_dir() => t,
        Ok(t) => return Err(SyncError::Usage(format!("{}: the target must be a folder", t.display())).into()),
        Err(e) => return Err(SyncError::local(&opts.target, e).into()),
    };
    let mut tar = archive::open(&opts.archive)?;
    let (mut entries, manifest, against) = read_head(&mut tar, &opts.archive)?;
    check_name_lengths(&target, &manifest)?;
    // Nothing is written (or deleted) through a symbolic link inside the target: refused before any change.
    for f in &manifest.files {
        local_target::under(&target, &f.path, false)?;
    }
    for d in &manifest.folders {
        local_target::under(&target, d, true)?;
    }
    if opts.delete {
        for p in &manifest.delete {
            local_target::under(&target, p.trim_end_matches('/'), p.ends_with('/'))?;
        }
    }
    let now = index_local(&target, LocalHashing::CachedOnly, &opts.cache_base)?;
    if let Some((p, why)) = now.failed.first() {
        return Err(SyncError::local(target.join(p), why).into());
    }
    let drifted = drift(&target, &against, &manifest, &now.index, opts.delete);
    if !drifted.is_empty() && !opts.force {
        return Err(ApplyError::Drifted(drifted));
    }
    let mut done = Applied::default();
    if opts.dry_run {
        done.written = manifest.files.len() as u64;
        done.bytes = manifest.files.iter().map(|f| f.size).sum();
        done.folders = manifest.folders.len() as u64;
        done.deleted = if opts.delete { manifest.delete.len() as u64 } else { 0 };
        return Ok(done);
    }
    let staged = stage_all(&mut entries, &manifest, &target, &opts.archive, &mut done)?;
    // Every staged byte on disk before the first rename (dropping `staged` on failure removes them all).
    staging::sync_filesystem(&target).map_err(|e| SyncError::local(&target, describe(&e)))?;
    commit_all(staged)?;
    for f in &manifest.folders {
        let dir = target.join(f);
        std::fs::create_dir_all(&dir).map_err(|e| SyncError::local(&dir, describe(&e)))?;
        done.folders += 1;
    }
    if opts.delete {
        delete_all(&target, &manifest, &against, &mut done)?;
    }
    Ok(done)
}

/// The file entries of an archive still to be read.
pub(crate) type FileEntries<'a> = tar::Entries<'a, Box<dyn Read>>;

/// The archive's head: the file entries still to read, the checked manifest and the index it was made
/// against.
pub(crate) fn read_head<'a>(
    tar: &'a mut tar::Archive<Box<dyn Read>>,
    archive: &Path,
) -> SyncResult<(FileEntries<'a>, Manifest, Index)> {
    let mut entries = tar.entries().map_err(|e| broken(archive, e))?;
    let manifest: Manifest = {
        let mut e = next_named(&mut entries, MANIFEST_NAME, archive)?;
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).map_err(|e| broken(archive, e))?;
        serde_json::from_slice(&buf).map_err(|e| broken(archive, format!("unreadable manifest: {e}")))?
    };
    check_manifest(&manifest).map_err(|m| SyncError::local(archive, m))?;
    let against = {
        let mut e = next_named(&mut entries, AGAINST_NAME, archive)?;
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).map_err(|e| broken(archive, e))?;
        Index::decode(&buf).map_err(|e| broken(archive, format!("its copy of the target's {e}")))?
    };
    if against.fingerprint() != manifest.against.fingerprint {
        return Err(broken(archive, "its index does not match its manifest"));
    }
    Ok((entries, manifest, against))
}

fn next_named<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    name: &str,
    archive: &Path,
) -> SyncResult<tar::Entry<'a, R>> {
    let e = match entries.next() {
        Some(Ok(e)) => e,
        Some(Err(e)) => return Err(broken(archive, e)),
        None if name == MANIFEST_NAME => {
            return Err(SyncError::local(archive, "not a jotta archive (empty, or not a tar file)"))
        }
        None => return Err(broken(archive, format!("{name} is missing"))),
    };
    let path = e.path().map_err(|e| broken(archive, e))?.to_string_lossy().into_owned();
    if path != name {
        return Err(SyncError::local(archive, format!("not a jotta archive (it starts with '{path}', not {name})")));
    }
    Ok(e)
}

/// Every name the archive would create must fit the target filesystem's name length; checked before
/// anything is staged, because a staged file carries a shortened name and would fail only at its rename,
/// after other files were already in place.
fn check_name_lengths(root: &Path, m: &Manifest) -> SyncResult<()> {
    let max = staging::name_max(root).map_err(|e| SyncError::local(root, describe(&e)))?;
    let paths = m.files.iter().map(|f| f.path.as_str()).chain(m.folders.iter().map(String::as_str));
    for p in paths {
        if let Some(seg) = p.split('/').find(|seg| seg.len() > max) {
            return Err(SyncError::local(
                root.join(p),
                format!(
                    "the name '{}...' is {} bytes, longer than this filesystem takes ({max}); nothing was applied \
                     (rename it at the source and make a new archive)",
                    seg.chars().take(40).collect::<String>(),
                    seg.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Every path whose state in the target is neither the archived index's nor the archive's result.
fn drift(root: &Path, against: &Index, m: &Manifest, now: &Index, delete: bool) -> Vec<(String, &'static str)> {
    let applied = |f: &ManifestFile, cur: &Entry| f.size == cur.size && f.mtime == cur.mtime;
    drift_by(against, m, now, delete, &|e, cur| same(root, e, cur), &applied)
}

/// The drift rule for any kind of target: `same` says a file is still as indexed, `applied` that it
/// already holds the archive's version (an earlier run got that far).
pub(super) fn drift_by(
    against: &Index,
    m: &Manifest,
    now: &Index,
    delete: bool,
    same: &dyn Fn(&Entry, &Entry) -> bool,
    applied: &dyn Fn(&ManifestFile, &Entry) -> bool,
) -> Vec<(String, &'static str)> {
    let new: HashMap<&str, &ManifestFile> = m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let deleted: HashSet<&str> = m.delete.iter().map(String::as_str).collect();
    let applied = |cur: &Entry| new.get(cur.path.as_str()).is_some_and(|f| applied(f, cur));
    let mut out = Vec::new();
    for e in against.files() {
        match now.get(&e.path) {
            None if deleted.contains(e.path.as_str()) => {}
            None => out.push((e.path.clone(), "removed")),
            Some(cur) if cur.kind == Kind::Folder => out.push((e.path.clone(), "replaced by a folder")),
            Some(cur) if same(e, cur) || applied(cur) => {}
            Some(_) => out.push((e.path.clone(), "changed")),
        }
    }
    if delete {
        for cur in now.files().filter(|c| against.get(&c.path).is_none()) {
            if !applied(cur) {
                out.push((cur.path.clone(), "added"));
            }
        }
    }
    out
}

/// The indexed file and the one there now are the same: size and mtime agree, or (an index that carries
/// md5s, e.g. of a copy whose times were not kept) the content does.
fn same(root: &Path, indexed: &Entry, cur: &Entry) -> bool {
    if indexed.size != cur.size {
        return false;
    }
    if indexed.mtime.is_none() || indexed.mtime == cur.mtime {
        return true;
    }
    match indexed.md5 {
        Some(want) => {
            let got = cur.md5.map(hex::encode).or_else(|| hash_file(&root.join(&cur.path), cur.size).ok());
            got.is_some_and(|g| g == hex::encode(want))
        }
        None => false,
    }
}

/// Phase 2: every archived file staged and verified, or nothing (the `Staged` drop removes them).
fn stage_all<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    m: &Manifest,
    root: &Path,
    archive: &Path,
    done: &mut Applied,
) -> SyncResult<Vec<Staged>> {
    let mut made = Vec::new();
    let r = stage_entries(entries, m, root, archive, done, &mut made);
    if r.is_err() {
        // The staged files went with the error (dropped); the folders made for them go too.
        for d in made.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
    r
}

fn stage_entries<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    m: &Manifest,
    root: &Path,
    archive: &Path,
    done: &mut Applied,
    made: &mut Vec<PathBuf>,
) -> SyncResult<Vec<Staged>> {
    let want: HashMap<&str, &ManifestFile> = m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut seen = HashSet::new();
    let mut staged = Vec::new();
    for e in entries {
        let mut e = e.map_err(|e| broken(archive, e))?;
        let name = e.path().map_err(|e| broken(archive, e))?.to_string_lossy().into_owned();
        let Some(rel) = name.strip_prefix(FILES_DIR) else {
            return Err(broken(archive, format!("unexpected entry '{name}'")));
        };
        let Some(f) = want.get(rel) else {
            return Err(broken(archive, format!("'{rel}' is not in its manifest")));
        };
        if !seen.insert(rel.to_string()) {
            return Err(broken(archive, format!("'{rel}' appears twice")));
        }
        let dest = root.join(rel);
        if has_content(&dest, f) {
            done.already += 1;
            continue;
        }
        if let Some(parent) = dest.parent() {
            make_parents(root, parent, made)?;
        }
        let promise = Promise { size: f.size, md5: Some(f.md5.clone()), mtime: f.mtime, fsync: false };
        let s = staging::stage(&mut e, &dest, &promise).map_err(|err| {
            if err.content {
                broken(archive, err)
            } else {
                SyncError::local(err.target, err.cause)
            }
        })?;
        staged.push(s);
        done.written += 1;
        done.bytes += f.size;
    }
    let missing = m.files.len() - seen.len();
    if missing > 0 {
        return Err(broken(archive, format!("{missing} file(s) of its manifest are missing")));
    }
    Ok(staged)
}

/// Create the missing folders down to `dir`, remembering each one made (parents first).
fn make_parents(root: &Path, dir: &Path, made: &mut Vec<PathBuf>) -> SyncResult<()> {
    let mut missing = Vec::new();
    let mut d = dir;
    while d != root && std::fs::symlink_metadata(d).is_err() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    for m in missing.into_iter().rev() {
        std::fs::create_dir(&m).map_err(|e| SyncError::local(&m, describe(&e)))?;
        made.push(m);
    }
    // An existing non-folder in the way is named here rather than as a failed file create.
    if !dir.is_dir() {
        let mut d = dir;
        while let Some(p) = d.parent() {
            if std::fs::symlink_metadata(d).is_ok_and(|m| !m.is_dir()) {
                return Err(SyncError::local(
                    d,
                    "is a file where the archive needs a folder; move it away and run again",
                ));
            }
            d = p;
        }
        return Err(SyncError::local(dir, "cannot be made a folder"));
    }
    Ok(())
}

/// Already the archive's version (an earlier run put it there).
fn has_content(dest: &Path, f: &ManifestFile) -> bool {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_file() && m.len() == f.size => hash_file(dest, f.size).is_ok_and(|h| h == f.md5),
        _ => false,
    }
}

/// Phase 3a: the renames. Each is atomic; if one fails, the rest are dropped (and removed) and a rerun
/// finishes the job, counting the ones already in place.
fn commit_all(staged: Vec<Staged>) -> SyncResult<()> {
    let mut dirs = BTreeSet::new();
    for s in staged {
        if let Some(d) = s.target().parent() {
            dirs.insert(d.to_path_buf());
        }
        let t = s.target().to_path_buf();
        s.commit().map_err(|m| SyncError::local(t, m))?;
    }
    for d in dirs {
        staging::sync_dir(&d);
    }
    Ok(())
}

/// Phase 3b: deletions, files first, then folders deepest first; a folder that still holds files the
/// archive does not know (added at the target) is kept and reported.
fn delete_all(root: &Path, m: &Manifest, against: &Index, done: &mut Applied) -> SyncResult<()> {
    let mut folders = Vec::new();
    for p in &m.delete {
        match archive::delete_kind(p) {
            Kind::Folder => folders.push(p.trim_end_matches('/').to_string()),
            Kind::File => {
                let path = root.join(p);
                let is_file = std::fs::symlink_metadata(&path).map(|m| m.is_file()).unwrap_or(false);
                if is_file && against.get(p).is_some() {
                    std::fs::remove_file(&path).map_err(|e| SyncError::local(&path, describe(&e)))?;
                    done.deleted += 1;
                }
            }
        }
    }
    folders.sort_by_key(|f| std::cmp::Reverse(f.matches('/').count()));
    for f in folders {
        let path = root.join(&f);
        match std::fs::remove_dir(&path) {
            Ok(()) => done.deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) if path.is_dir() => done.kept.push(f),
            Err(e) => return Err(SyncError::local(&path, describe(&e))),
        }
    }
    Ok(())
}
