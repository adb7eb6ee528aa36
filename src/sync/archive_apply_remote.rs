//! Applying an offline-sync archive to a remote folder (`/Device/MountPoint/path`), in the phases of the
//! local apply (`archive_apply`), with the server's own atomicity taking the place of the rename:
//! 1. read the manifest and the index the archive was made against, refuse names JottaCloud cannot store
//!    (before any request that changes anything), index the remote folder (one listing) and check it still
//!    matches that index (refused with the list of drifted paths unless forced);
//! 2. extract every file the server does not already hold into a private work folder of the cache,
//!    verifying its size and md5 against the manifest: a truncated or corrupt archive stops here, before
//!    a single byte is sent;
//! 3. upload them (several in flight). JottaCloud shows a new version only once its upload completed with
//!    the promised md5: until then the old version (or nothing) stays visible, so no half-written file is
//!    ever seen. An upload that fails leaves at most an incomplete revision the next run resumes from;
//! 4. only when every upload succeeded: create the new folders, then move what the archive deletes to the
//!    trash (unless add-only; a folder that holds files the archive does not know is kept).
//!
//! Rerunning is safe: a file the server already has with the archive's size and md5 counts as applied,
//! both for the drift check and for the uploads.

use super::archive::{self, Manifest, ManifestFile, FILES_DIR};
use super::archive_apply::{broken, drift_by, read_head, Applied, ApplyError, ApplyOptions};
use super::index::{Entry, Index, Kind};
use super::index_build::index_remote_or_empty;
use super::staging::{self, describe, Promise};
use super::{SyncError, SyncResult};
use crate::remote::path::validate_name;
use crate::remote::ItemKind;
use crate::remote::{Remote, RemoteError, RemotePath, UploadRequest};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A remote target: the folder, and how many uploads run at once.
pub struct RemoteTarget {
    pub path: RemotePath,
    pub jobs: usize,
}

/// A file extracted and verified, waiting for its upload.
struct Ready {
    file: ManifestFile,
    local: PathBuf,
}

pub async fn apply_remote<R: Remote>(
    remote: &R,
    target: &RemoteTarget,
    opts: &ApplyOptions,
) -> Result<Applied, ApplyError> {
    if target.path.depth() < 2 {
        return Err(SyncError::Usage(format!(
            "{}: apply into a mount point or a folder inside one, e.g. /Jotta/Archive/x",
            target.path
        ))
        .into());
    }
    let archive_path = opts.archive.clone();
    let head = archive_path.clone();
    let (manifest, against) = blocking(move || {
        let mut tar = archive::open(&head)?;
        read_head(&mut tar, &head).map(|(_, m, a)| (m, a))
    })
    .await?;
    check_names(&target.path, &manifest)?;
    let now = index_remote_or_empty(remote, &target.path).await?;
    let same = |indexed: &Entry, cur: &Entry| {
        indexed.size == cur.size
            && (indexed.mtime.is_none()
                || indexed.mtime == cur.mtime
                || (indexed.md5.is_some() && indexed.md5 == cur.md5))
    };
    let drifted = drift_by(&against, &manifest, &now, opts.delete, &same, &|f, cur| holds(cur, f));
    if !drifted.is_empty() && !opts.force {
        return Err(ApplyError::Drifted(drifted));
    }
    let mut done = Applied::default();
    let lacking: Vec<&ManifestFile> =
        manifest.files.iter().filter(|f| !now.get(&f.path).is_some_and(|c| holds(c, f))).collect();
    done.written = lacking.len() as u64;
    done.bytes = lacking.iter().map(|f| f.size).sum();
    done.already = (manifest.files.len() - lacking.len()) as u64;
    if opts.dry_run {
        done.folders = manifest.folders.len() as u64;
        done.deleted = if opts.delete { manifest.delete.len() as u64 } else { 0 };
        return Ok(done);
    }
    let skip: HashSet<String> = manifest
        .files
        .iter()
        .filter(|f| now.get(&f.path).is_some_and(|c| holds(c, f)))
        .map(|f| f.path.clone())
        .collect();
    let work = work_folder(&opts.cache_base);
    let result = async {
        let (w, a, checked) = (work.clone(), archive_path.clone(), manifest.clone());
        let ready = blocking(move || {
            let mut tar = archive::open(&a)?;
            let (entries, m, _) = read_head(&mut tar, &a)?;
            // Read a second time (the first read ended before the listing): it must be the same archive.
            if m != checked {
                return Err(SyncError::local(&a, "changed while it was being applied; run the command again"));
            }
            extract_all(entries, &m, &skip, &w, &a)
        })
        .await?;
        upload_all(remote, target, &ready).await?;
        for f in &manifest.folders {
            remote.mkdir(&join(&target.path, f)?).await?;
            done.folders += 1;
        }
        if opts.delete {
            trash_deleted(remote, &target.path, &manifest, &against, &now, &mut done).await?;
        }
        Ok::<_, SyncError>(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&work);
    result?;
    Ok(done)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> SyncResult<T> + Send + 'static) -> SyncResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| SyncError::Usage(e.to_string()))?
}

/// The server holds the archive's version of this file already.
fn holds(cur: &Entry, f: &ManifestFile) -> bool {
    cur.kind == Kind::File && cur.size == f.size && cur.md5_hex().is_some_and(|m| m.eq_ignore_ascii_case(&f.md5))
}

fn join(base: &RemotePath, rel: &str) -> SyncResult<RemotePath> {
    let mut p = base.clone();
    for seg in rel.split('/') {
        p = p.join(seg)?;
    }
    Ok(p)
}

/// Every name the archive would create must be one JottaCloud stores; one that is not stops the apply
/// before anything changes, naming the file.
fn check_names(root: &RemotePath, m: &Manifest) -> SyncResult<()> {
    let paths = m.files.iter().map(|f| f.path.as_str()).chain(m.folders.iter().map(String::as_str));
    for p in paths {
        for seg in p.split('/') {
            if let Err(RemoteError::InvalidName(why)) = validate_name(seg) {
                return Err(SyncError::local(
                    format!("{root}/{}", p.escape_default()),
                    format!(
                        "JottaCloud cannot store this name ({why}); nothing was applied (rename it at the \
                         source and make a new archive)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A private folder of the cache for this run's extracted files (removed when the run ends). What runs
/// that were killed left there (`PID-TIME` of a process that is gone) is removed first.
fn work_folder(cache_base: &Path) -> PathBuf {
    let all = cache_base.join("archive-apply");
    for e in std::fs::read_dir(&all).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split_once('-').and_then(|(pid, _)| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !crate::mount::status::is_alive(pid)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    all.join(format!("{}-{}", std::process::id(), crate::remote::time::now()))
}

/// Phase 2: every file the server lacks (not in `skip`), extracted and verified, or an error (nothing
/// sent yet).
fn extract_all<R: Read>(
    entries: tar::Entries<'_, R>,
    m: &Manifest,
    skip: &HashSet<String>,
    work: &Path,
    archive: &Path,
) -> SyncResult<Vec<Ready>> {
    crate::private::create_folder(work).map_err(|e| SyncError::local(work, describe(&e)))?;
    let want: HashMap<&str, &ManifestFile> = m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut seen = HashSet::new();
    let mut ready = Vec::new();
    for e in entries {
        let mut e = e.map_err(|e| broken(archive, e))?;
        let name = e.path().map_err(|e| broken(archive, e))?.to_string_lossy().into_owned();
        let Some(rel) = name.strip_prefix(FILES_DIR) else {
            return Err(broken(archive, format!("unexpected entry '{name}'")));
        };
        let Some(f) = want.get(rel).copied() else {
            return Err(broken(archive, format!("'{rel}' is not in its manifest")));
        };
        if !seen.insert(rel.to_string()) {
            return Err(broken(archive, format!("'{rel}' appears twice")));
        }
        if skip.contains(rel) {
            continue;
        }
        // Numbered, not named after the file: the local disk's name rules are not the target's.
        let local = work.join(ready.len().to_string());
        let promise = Promise { size: f.size, md5: Some(f.md5.clone()), mtime: f.mtime, fsync: false };
        let staged = staging::stage(&mut e, &local, &promise).map_err(|err| {
            if err.content {
                broken(archive, format!("{rel}: {}", err.cause))
            } else {
                SyncError::local(work, err.cause)
            }
        })?;
        staged.commit().map_err(|m| SyncError::local(work, m))?;
        ready.push(Ready { file: f.clone(), local });
    }
    let missing = m.files.len() - seen.len();
    if missing > 0 {
        return Err(broken(archive, format!("{missing} file(s) of its manifest are missing")));
    }
    Ok(ready)
}

/// Phase 3: the uploads, several in flight. Each file becomes visible only when its upload completes;
/// a failed one does not stop the others, and the first failure is returned once all have ended.
async fn upload_all<R: Remote>(remote: &R, target: &RemoteTarget, ready: &[Ready]) -> SyncResult<()> {
    let work = ready.iter().map(|r| async move {
        let to = join(&target.path, &r.file.path)?;
        let req = UploadRequest {
            source: r.local.clone(),
            size: r.file.size,
            md5: r.file.md5.clone(),
            created: r.file.mtime,
            modified: r.file.mtime,
            uncached: false,
        };
        remote.upload(&to, &req).await?;
        Ok::<_, SyncError>(())
    });
    let mut results = futures_util::stream::iter(work).buffer_unordered(target.jobs.max(1));
    let mut failed = Vec::new();
    while let Some(r) = results.next().await {
        if let Err(e) = r {
            // The error names the first failure; the others are in the log (-v).
            log::info!("{e}");
            failed.push(e);
        }
    }
    let n = failed.len();
    match failed.into_iter().next() {
        None => Ok(()),
        Some(first) => Err(SyncError::local(
            target.path.to_string(),
            format!(
                "{n} of {} upload(s) failed, the first: {first}; every file that reached the server is complete \
                 and nothing was deleted; run the command again to finish",
                ready.len()
            ),
        )),
    }
}

/// Phase 4b: to the trash, what the archive deletes. A file goes only if it was in the index the archive
/// was made against; a folder only if everything the server holds below it is deleted by the archive too
/// (trashing a folder trashes its content), otherwise it is kept and reported.
async fn trash_deleted<R: Remote>(
    remote: &R,
    root: &RemotePath,
    m: &Manifest,
    against: &Index,
    now: &Index,
    done: &mut Applied,
) -> SyncResult<()> {
    let deleting: HashSet<&str> = m.delete.iter().map(|p| p.trim_end_matches('/')).collect();
    let folders: Vec<&str> = m.delete.iter().filter_map(|p| p.strip_suffix('/')).collect();
    let below = |f: &str, p: &str| p.len() > f.len() && p.starts_with(f) && p.as_bytes()[f.len()] == b'/';
    let clean: Vec<&str> = folders
        .iter()
        .copied()
        .filter(|f| now.entries.iter().filter(|e| below(f, &e.path)).all(|e| deleting.contains(e.path.as_str())))
        .collect();
    for f in folders.iter().filter(|f| !clean.contains(f)) {
        if now.get(f).is_some() {
            done.kept.push(f.to_string());
        }
    }
    // Trashing the topmost clean folder takes everything below it along.
    let gone = |p: &str| clean.iter().any(|f| below(f, p));
    for p in &m.delete {
        let rel = p.trim_end_matches('/');
        if gone(rel) {
            continue;
        }
        let folder = archive::delete_kind(p) == Kind::Folder;
        let present = match now.get(rel) {
            Some(e) if folder => e.kind == Kind::Folder && clean.contains(&rel),
            Some(e) => e.kind == Kind::File && against.get(rel).is_some(),
            None => false,
        };
        if present {
            remote.delete(&join(root, rel)?, ItemKind::folder_if(folder)).await?;
            done.deleted += 1;
        }
    }
    Ok(())
}
