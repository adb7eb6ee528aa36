//! Old versions of a file: list them (number, state, size, time, md5), fetch one, make one current.
//!
//! Making revision N current re-creates it as the newest revision from N's md5, size and times with
//! `cphash` (protocol §5.4): the service already holds those bytes, so nothing is uploaded, and the
//! versions in between stay in the history.

use super::download::{self, Expected, Version};
use super::{SyncError, SyncResult};
use crate::remote::{FileInfo, Item, Remote, RemoteError, RemotePath, RevisionInfo, RevisionState};
use std::path::Path;

/// The file's revisions, newest first: the current one, a newer failed attempt if any, and the older ones.
pub async fn list<R: Remote>(remote: &R, path: &RemotePath) -> SyncResult<Vec<RevisionInfo>> {
    let f = file(remote, path).await?;
    let mut all: Vec<RevisionInfo> =
        f.latest.iter().chain(f.current.iter()).chain(f.revisions.iter()).cloned().collect();
    all.sort_by_key(|r| std::cmp::Reverse(r.number));
    all.dedup_by_key(|r| r.number);
    Ok(all)
}

async fn file<R: Remote>(remote: &R, path: &RemotePath) -> SyncResult<FileInfo> {
    match remote.stat(path).await? {
        Item::File(f) => Ok(f),
        Item::Folder(_) => Err(SyncError::Usage(format!("{path} is a folder; revisions belong to files"))),
    }
}

fn completed(revs: &[RevisionInfo], path: &RemotePath, number: u32) -> SyncResult<RevisionInfo> {
    match revs.iter().find(|r| r.number == number) {
        Some(r) if r.state == RevisionState::Completed => Ok(r.clone()),
        Some(r) => Err(SyncError::Remote(RemoteError::NotFound(format!(
            "{path}: revision {number} is {} and has no content",
            r.state.as_str()
        )))),
        None => Err(SyncError::Remote(RemoteError::NotFound(format!(
            "{path} has no revision {number} (see `jotta revisions {path}`)"
        )))),
    }
}

/// Download revision `number` to `target`; returns the bytes fetched.
pub async fn get<R: Remote>(remote: &R, path: &RemotePath, number: u32, target: &Path) -> SyncResult<u64> {
    let revs = list(remote, path).await?;
    let rev = completed(&revs, path, number)?;
    let expect = Expected { size: rev.size.unwrap_or(0), md5: rev.md5.clone(), modified: rev.modified };
    download::fetch(remote, path, Version::Revision(number), &expect, target).await
}

/// Make revision `number` the current one; returns the new current revision.
pub async fn restore<R: Remote>(remote: &R, path: &RemotePath, number: u32) -> SyncResult<FileInfo> {
    let f = file(remote, path).await?;
    if f.current.as_ref().map(|r| r.number) == Some(number) {
        return Ok(f);
    }
    let revs = list(remote, path).await?;
    let rev = completed(&revs, path, number)?;
    let md5 =
        rev.md5.as_deref().ok_or_else(|| RemoteError::Protocol(format!("{path}: revision {number} has no md5")))?;
    let modified = rev.modified.unwrap_or_else(crate::remote::time::now);
    let created = rev.created.unwrap_or(modified);
    Ok(remote.set_times(path, rev.size.unwrap_or(0), md5, created, modified).await?)
}
