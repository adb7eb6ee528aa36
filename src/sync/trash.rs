//! The trash: list what is in it (top-level trashed items with their original paths), restore a file or
//! a folder to where it was, empty it.
//!
//! Restoring uses no restore API (none is known for token clients, protocol §5.9): a file is restored by
//! `cphash=true` on its original path with its size, md5 and times (§5.4), which the service answers by
//! bringing the trashed file back, history and all, without any byte sent. A folder is restored by
//! re-creating it and its subfolders and restoring each file it held the same way; its trashed shell, now
//! empty, stays in the trash until it is emptied.

use super::{Event, Summary, SyncError, SyncResult};
use crate::remote::{FileInfo, Item, Listing, Remote, RemoteError, RemotePath, UnixTime};

/// One top-level item in the trash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    /// Where it was (and where `restore` puts it back).
    pub path: RemotePath,
    pub is_folder: bool,
    pub deleted: Option<UnixTime>,
    pub size: u64,
    pub md5: Option<String>,
}

/// `/<user>/Jotta/Archive/docs` (the service's abspath) to `/Jotta/Archive/docs`.
fn account_relative(abspath: &str) -> Option<RemotePath> {
    let segs: Vec<String> = abspath.split('/').filter(|s| !s.is_empty()).skip(1).map(str::to_string).collect();
    RemotePath::from_segments(segs).ok()
}

pub async fn list<R: Remote>(remote: &R) -> SyncResult<Vec<TrashEntry>> {
    let listing = remote.trash().await?;
    let mut out = Vec::new();
    let place = |abspath: &Option<String>, name: &str| {
        abspath.as_deref().and_then(account_relative).and_then(|p| p.join(name).ok())
    };
    for f in &listing.folders {
        if let Some(path) = place(&f.abspath, &f.name) {
            out.push(TrashEntry { path, is_folder: true, deleted: f.deleted, size: 0, md5: None });
        }
    }
    for f in &listing.files {
        if let Some(path) = place(&f.abspath, &f.name) {
            let md5 = f.md5().map(str::to_string);
            out.push(TrashEntry { path, is_folder: false, deleted: f.deleted, size: f.size(), md5 });
        }
    }
    out.sort_by_key(|e| e.path.to_string());
    Ok(out)
}

/// Bring `path` (a trashed file or folder, named by where it was) back.
pub async fn restore<R: Remote>(remote: &R, path: &RemotePath, on: &(dyn Fn(&Event) + Sync)) -> SyncResult<Summary> {
    if path.depth() < 3 {
        return Err(SyncError::Usage(format!(
            "{path}: give the path of a trashed file or folder inside a mount point"
        )));
    }
    let mut summary = Summary::default();
    match remote.stat_including_trash(path).await? {
        Item::File(f) if f.deleted.is_none() => Err(not_in_trash(path, "file")),
        Item::Folder(l) if l.deleted.is_none() => Err(not_in_trash(path, "folder")),
        Item::File(f) => {
            restore_file(remote, path, &f).await?;
            let e = Event::Created { path: path.to_string() };
            summary.add(&e);
            on(&e);
            Ok(summary)
        }
        Item::Folder(l) => {
            // Read the whole trashed subtree before changing anything: once the first folder is re-created
            // it shadows the trashed one at the same path.
            let mut folders = vec![path.clone()];
            let mut files = Vec::new();
            collect(remote, path, l, &mut folders, &mut files).await?;
            for dir in &folders {
                let e = match remote.mkdir(dir).await {
                    Ok(()) => Event::Created { path: dir.to_string() },
                    Err(e) => Event::Failed { path: dir.to_string(), error: e.to_string() },
                };
                summary.add(&e);
                on(&e);
            }
            for (p, f) in &files {
                let e = match restore_file(remote, p, f).await {
                    Ok(()) => Event::Created { path: p.to_string() },
                    Err(e) => Event::Failed { path: p.to_string(), error: e.to_string() },
                };
                summary.add(&e);
                on(&e);
            }
            Ok(summary)
        }
    }
}

fn not_in_trash(path: &RemotePath, what: &str) -> SyncError {
    SyncError::Remote(RemoteError::AlreadyExists(format!(
        "{path} is a live {what}, not in the trash (see `jotta trash` for what can be restored)"
    )))
}

async fn collect<R: Remote>(
    remote: &R,
    at: &RemotePath,
    listing: Listing,
    folders: &mut Vec<RemotePath>,
    files: &mut Vec<(RemotePath, FileInfo)>,
) -> SyncResult<()> {
    let mut pending = vec![(at.clone(), listing)];
    while let Some((dir, l)) = pending.pop() {
        for f in l.files.into_iter().filter(|f| f.deleted.is_some() && f.md5().is_some()) {
            files.push((dir.join(&f.name)?, f));
        }
        for sub in l.folders.into_iter().filter(|f| f.deleted.is_some()) {
            let p = dir.join(&sub.name)?;
            match remote.stat_including_trash(&p).await? {
                Item::Folder(inner) => {
                    folders.push(p.clone());
                    pending.push((p, inner));
                }
                Item::File(_) => {}
            }
        }
    }
    Ok(())
}

async fn restore_file<R: Remote>(remote: &R, path: &RemotePath, f: &FileInfo) -> SyncResult<()> {
    let rev = f.current.as_ref().ok_or_else(|| {
        RemoteError::NotFound(format!("{path}: the trashed file has no complete revision to restore"))
    })?;
    let md5 = rev.md5.as_deref().ok_or_else(|| RemoteError::Protocol(format!("{path}: the trash lists no md5")))?;
    let modified = rev.modified.unwrap_or_else(crate::remote::time::now);
    let created = rev.created.unwrap_or(modified);
    remote.set_times(path, rev.size.unwrap_or(0), md5, created, modified).await?;
    Ok(())
}
