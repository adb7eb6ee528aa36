//! An offline-sync archive whose source is a remote folder: the remote folder is indexed from one
//! listing (md5s included), only the new and changed files are fetched (resumable, md5-verified, with
//! the server's mtimes) into a local stand-in folder, and the archive is made from that with the remote
//! index as its `--from` index, so it holds exactly the server's bytes and names the remote source.

use super::archive::{create, CreateOptions, Created};
use super::download::{fetch, Expected, Version};
use super::index::Index;
use super::index_build::{index_remote, REMOTE_PREFIX};
use super::index_diff::{diff, Compare};
use super::{SyncError, SyncResult};
use crate::remote::{Remote, RemotePath};
use futures_util::StreamExt;
use std::path::PathBuf;

pub struct RemoteSource {
    pub path: RemotePath,
    /// Where the fetched files wait until they are archived (removed afterwards by the caller).
    pub workdir: PathBuf,
    pub jobs: usize,
}

#[allow(clippy::too_many_arguments)]
pub async fn create_from_remote<R: Remote>(
    remote: &R,
    src: &RemoteSource,
    against: Index,
    from: Option<Index>,
    compare: Compare,
    gzip: bool,
    output: PathBuf,
    cache_base: PathBuf,
) -> SyncResult<Created> {
    let newer = match from {
        Some(f) => f,
        None => index_remote(remote, &src.path).await?,
    };
    let d = diff(&against, &newer, compare).map_err(SyncError::Usage)?;
    std::fs::create_dir_all(&src.workdir).map_err(|e| SyncError::local(&src.workdir, e))?;
    let wanted: Vec<_> =
        d.added.iter().chain(&d.changed).filter(|p| !p.ends_with('/')).filter_map(|p| newer.get(p)).collect();
    let work = wanted.iter().map(|e| async move {
        let mut rp = src.path.clone();
        for seg in e.path.split('/') {
            rp = rp.join(seg)?;
        }
        let local = src.workdir.join(&e.path);
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent).map_err(|err| SyncError::local(parent, err))?;
        }
        let expect = Expected { size: e.size, md5: e.md5_hex(), modified: e.mtime };
        fetch(remote, &rp, Version::Current, &expect, &local).await.map(|_| ())
    });
    let mut results = futures_util::stream::iter(work).buffer_unordered(src.jobs.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    drop(results);
    drop(wanted);
    let opts = CreateOptions {
        source: src.workdir.clone(),
        against,
        from: Some(newer),
        compare,
        gzip,
        output,
        cache_base,
        source_label: Some(format!("{REMOTE_PREFIX}{}", src.path)),
    };
    tokio::task::spawn_blocking(move || create(&opts)).await.map_err(|e| SyncError::Usage(e.to_string()))?
}
