//! One pass of `jotta scan`: a one-way mirror of a local folder into `/Device/MountPoint/Folder`.
//!
//! Order of a pass, so that an interrupted pass never loses a file: (1) walk the local tree (no content
//! read) and list the remote one in one request; (2) remote entries in the way of a local entry of the
//! other kind are trashed, missing folders created; (3) new and changed files are uploaded (md5 first, so
//! content the server has costs nothing); (4) only then is what vanished locally trashed. Excluded,
//! skipped and unreadable local paths protect their remote counterparts from (4). A stop request is
//! honoured between files: the files in flight finish, none is left half-visible on the server.

use super::checksum_cache::ChecksumCache;
use super::exclude::Excludes;
use super::scan_local::{walk, LocalFile};
use super::scan_report::ScanReport;
use crate::remote::ItemKind;
use crate::remote::{Remote, RemoteError, RemotePath, Tree, TreeFile, UploadRequest};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Uploads in flight at once: hides the request latency of small files without flooding the service.
const PARALLEL_UPLOADS: usize = 4;

#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The scanned folder, canonical.
    pub local: PathBuf,
    pub target: RemotePath,
    /// Trash remote files and folders that are gone locally (`--no-delete` turns it off).
    pub delete: bool,
    /// Compare md5s (default); false compares size and mtime only (`--no-checksum`).
    pub checksum: bool,
    pub dry_run: bool,
    pub excludes: Vec<String>,
    /// `$XDG_CACHE_HOME/jottafuse`: home of the checksum cache file.
    pub cache_base: PathBuf,
    /// Symbolic links are backed up as `NAME.rclonelink` files (`--links`); otherwise skipped.
    pub links: bool,
}

/// What the caller hears about each action as it happens (human output prints these lines).
pub trait ScanEvents {
    fn action(&mut self, what: &str, path: &str);
    fn skipped(&mut self, path: &str, reason: &str);
    fn failed(&mut self, path: &str, reason: &str);
    /// A new stage for a progress display: `files` to handle, `bytes` to send (0: the stage counts files).
    fn stage(&mut self, _what: &str, _files: u64, _bytes: u64) {}
    /// One more local file compared with the server.
    fn compared(&mut self) {}
    /// One more upload finished (or failed); `unsent` of its bytes did not travel.
    fn file_done(&mut self, _unsent: u64) {}
}

struct Upload {
    rel: String,
    req: UploadRequest,
    new: bool,
    /// A link's target, staged in a temporary file the request reads.
    _link: Option<super::links::StagedLink>,
}

/// Run one pass. `Err` only when the pass could not start (target unusable, root unreadable, server
/// unreachable); per-file trouble is counted in the report.
pub async fn scan_once<R: Remote>(
    remote: &R,
    opts: &ScanOptions,
    stop: &Arc<AtomicBool>,
    events: &mut dyn ScanEvents,
) -> Result<ScanReport, RemoteError> {
    let started = Instant::now();
    let mut report = ScanReport {
        local: opts.local.display().to_string(),
        target: opts.target.to_string(),
        dry_run: opts.dry_run,
        ..ScanReport::default()
    };
    std::fs::read_dir(&opts.local)
        .map_err(|e| RemoteError::Io(format!("cannot list the scanned folder {}: {e}", opts.local.display())))?;
    // The local walk and the remote listing overlap: one waits on the disk, the other on the server.
    let (root, patterns, checksums, links) = (opts.local.clone(), opts.excludes.clone(), opts.checksum, opts.links);
    let walking = tokio::task::spawn_blocking(move || {
        let r = Excludes::new(&root, &patterns).map(|excludes| (walk(&root, &excludes, checksums, links), excludes));
        log::debug!("scan: local walk done at {:?}", started.elapsed());
        r
    });
    let listed = remote.list_tree(&opts.target).await;
    log::debug!("scan: remote listing done at {:?}", started.elapsed());
    let (local, excludes) = walking
        .await
        .map_err(|e| RemoteError::Io(format!("the walk of {} stopped: {e}", opts.local.display())))?
        .map_err(RemoteError::Config)?;
    log::debug!("scan: walked {} files, {} folders in {:?}", local.files.len(), local.folders.len(), started.elapsed());
    for (rel, why) in &local.skipped {
        report.note(rel, why);
        events.skipped(rel, why);
    }
    for (rel, why) in &local.failed {
        report.fail(rel, why);
        events.failed(rel, why);
    }
    // Remote counterparts of anything we could not look at stay as they are.
    let protected: Vec<String> = local.skipped.iter().chain(&local.failed).map(|(rel, _)| rel.to_lowercase()).collect();
    let is_protected = |key: &str| {
        protected
            .iter()
            .any(|p| key == p || (key.starts_with(p.as_str()) && key.as_bytes().get(p.len()) == Some(&b'/')))
    };

    let tree = match listed {
        Ok(t) => t,
        Err(RemoteError::NotFound(_)) => {
            if !opts.dry_run {
                remote.mkdir(&opts.target).await?;
            }
            events.action("created", &opts.target.to_string());
            Tree::default()
        }
        Err(e) => return Err(e),
    };
    log::debug!("scan: remote tree of {} files listed at {:?}", tree.files.len(), started.elapsed());
    let remote_files: BTreeMap<String, &TreeFile> = tree.files.iter().map(|f| (key_of(f).to_lowercase(), f)).collect();
    let remote_folders: BTreeMap<String, &String> = tree.folders.iter().map(|f| (f.to_lowercase(), f)).collect();

    // (2) Folders: clear a same-named remote file, create what is missing (parents sort first).
    for (key, rel) in &local.folders {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if remote_files.contains_key(key) {
            trash(remote, opts, &mut report, events, rel, false).await;
        }
        if !remote_folders.contains_key(key) {
            let r: Result<(), RemoteError> = match opts.target_of(rel) {
                Ok(p) if !opts.dry_run => remote.mkdir(&p).await,
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => {
                    report.folders_created += 1;
                    events.action("mkdir", rel);
                }
                Err(e) => fail(&mut report, events, rel, &e.to_string()),
            }
        }
    }

    // (3) Decide file by file; the checksum cache means only new or changed files are read.
    let mut cache = ChecksumCache::open(&opts.cache_base, &opts.local);
    let mut uploads: Vec<Upload> = Vec::new();
    events.stage("comparing", local.files.len() as u64, 0);
    for (key, file) in &local.files {
        if stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            break;
        }
        events.compared();
        if remote_folders.contains_key(key) {
            trash(remote, opts, &mut report, events, &file.rel, true).await;
        }
        let theirs = remote_files.get(key).copied();
        // With checksums on, the walk has read each file's xattr already; without, it read none.
        // A link's "content" is its target: read it, it costs no more than the stat.
        let mine = |cache: &mut ChecksumCache, f: &LocalFile| match opts.checksum {
            _ if f.link => super::links::target_of(&f.path).map(|t| hex::encode(<md5::Md5 as md5::Digest>::digest(&t))),
            true => cache.md5_given(f.xattr.as_ref(), &f.path, &f.rel, f.stamp),
            false => cache.md5(&f.path, &f.rel, f.stamp),
        };
        let md5 = match theirs {
            Some(r) if !opts.checksum => {
                if r.size == file.stamp.size && r.modified == Some(file.stamp.mtime_sec) {
                    report.unchanged += 1;
                    continue;
                }
                mine(&mut cache, file)
            }
            Some(r) if r.size == file.stamp.size => match mine(&mut cache, file) {
                Ok(m) if m.eq_ignore_ascii_case(&r.md5) => {
                    report.unchanged += 1;
                    continue;
                }
                other => other,
            },
            _ => mine(&mut cache, file),
        };
        let md5 = match md5 {
            Ok(m) => m,
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "vanished during the scan".to_string()
                } else {
                    format!("cannot read: {e}")
                };
                fail(&mut report, events, &file.rel, &why);
                continue;
            }
        };
        let t = Some(file.stamp.mtime_sec);
        let (req, staged) = if file.link {
            match super::links::stage(&file.path) {
                Ok(s) => (s.req.clone(), Some(s)),
                Err(e) => {
                    fail(&mut report, events, &file.rel, &e.to_string());
                    continue;
                }
            }
        } else {
            (
                UploadRequest {
                    source: file.path.clone(),
                    size: file.stamp.size,
                    md5,
                    created: t,
                    modified: t,
                    uncached: false,
                },
                None,
            )
        };
        uploads.push(Upload { rel: file.rel.clone(), req, new: theirs.is_none(), _link: staged });
    }
    log::debug!("scan: {} files compared at {:?}", local.files.len(), started.elapsed());
    cache.retain(|rel| local.files.contains_key(&rel.to_lowercase()));
    report.hashed = cache.hashed;
    if let Err(e) = cache.save() {
        events.failed(&opts.local.display().to_string(), &e);
    }

    if opts.dry_run {
        for u in &uploads {
            report.uploaded += 1;
            report.bytes += u.req.size;
            events.action(if u.new { "upload (new)" } else { "upload (changed)" }, &u.rel);
        }
    } else {
        events.stage("uploading", uploads.len() as u64, uploads.iter().map(|u| u.req.size).sum());
        let mut done = futures_util::stream::iter(uploads.into_iter().map(|u| async move {
            if stop.load(Ordering::SeqCst) {
                return (u, None);
            }
            let r = match opts.target_of(&u.rel) {
                Ok(p) => remote.upload(&p, &u.req).await,
                Err(e) => Err(e),
            };
            (u, Some(r))
        }))
        .buffer_unordered(PARALLEL_UPLOADS);
        while let Some((u, r)) = done.next().await {
            match r {
                None => report.interrupted = true,
                Some(Ok(out)) => {
                    events.file_done(u.req.size.saturating_sub(out.bytes_sent));
                    report.bytes += out.bytes_sent;
                    if out.deduplicated {
                        report.deduped += 1;
                        events.action("deduped", &u.rel);
                    } else {
                        report.uploaded += 1;
                        events.action(if u.new { "uploaded (new)" } else { "uploaded (changed)" }, &u.rel);
                    }
                }
                Some(Err(e)) => {
                    events.file_done(0);
                    fail(&mut report, events, &u.rel, &e.to_string());
                }
            }
        }
    }

    // (4) What vanished locally goes to the trash, topmost folder only, after everything else is safe.
    if opts.delete && !report.interrupted && !stop.load(Ordering::SeqCst) {
        let gone_folder = |key: &str| !local.folders.contains_key(key) && !local.files.contains_key(key);
        let under_gone_folder = |key: &str| {
            let mut k = key;
            while let Some((parent, _)) = k.rsplit_once('/') {
                if remote_folders.contains_key(parent) && gone_folder(parent) {
                    return true;
                }
                k = parent;
            }
            false
        };
        let keep = |key: &str, rel: &str, is_dir: bool| is_protected(key) || excludes.excluded(rel, is_dir);
        for (key, rel) in &remote_folders {
            if gone_folder(key) && !under_gone_folder(key) && !keep(key, rel, true) {
                trash(remote, opts, &mut report, events, rel, true).await;
            }
        }
        for (key, f) in &remote_files {
            let rel = key_of(f);
            if !local.files.contains_key(key)
                && !local.folders.contains_key(key)
                && !under_gone_folder(key)
                && !keep(key, &rel, false)
            {
                trash(remote, opts, &mut report, events, &rel, false).await;
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

impl ScanOptions {
    fn target_of(&self, rel: &str) -> Result<RemotePath, RemoteError> {
        let mut p = self.target.clone();
        for seg in rel.split('/') {
            p = p.join(seg)?;
        }
        Ok(p)
    }
}

fn key_of(f: &TreeFile) -> String {
    if f.parent.is_empty() {
        f.name.clone()
    } else {
        format!("{}/{}", f.parent, f.name)
    }
}

fn fail(report: &mut ScanReport, events: &mut dyn ScanEvents, rel: &str, why: &str) {
    report.fail(rel, why);
    events.failed(rel, why);
}

async fn trash<R: Remote>(
    remote: &R,
    opts: &ScanOptions,
    report: &mut ScanReport,
    events: &mut dyn ScanEvents,
    rel: &str,
    is_folder: bool,
) {
    let r = match opts.target_of(rel) {
        Ok(_) if opts.dry_run => Ok(()),
        Ok(p) => remote.delete(&p, ItemKind::folder_if(is_folder)).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => {
            report.trashed += 1;
            events.action(if is_folder { "trashed folder" } else { "trashed" }, rel);
        }
        Err(e) => fail(report, events, rel, &e.to_string()),
    }
}
