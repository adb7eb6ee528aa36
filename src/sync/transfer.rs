//! Files and folder trees in both directions. `put` hashes first (allocate needs the md5, and identical
//! content then costs no bytes), skips files the server already holds with the same md5, size and mtime,
//! and only sets the time where just that differs; `get` fetches through `download` (resumable, verified)
//! and keeps the server's mtimes. Several files are in flight at once (`jobs`); one failing file is
//! reported and the rest go on (the summary's `failed` makes the exit code 1). With `links`, symbolic
//! links travel as `NAME.rclonelink` files (see `links.rs`); without, they are noted and left alone.

use super::download::{self, Expected, Version};
use super::links;
use super::{Event, Summary, SyncError, SyncResult};
use crate::remote::rclonelink::{link_file_name, link_stem};
use crate::remote::{Item, Remote, RemoteError, RemotePath, Tree, TreeFile, UnixTime, UploadRequest};
use futures_util::StreamExt;
use md5::{Digest, Md5};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Files in flight at once by default.
pub const DEFAULT_JOBS: usize = 4;

/// Size and md5 of a local file, read once in large blocks.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(h.finalize())))
}

pub fn mtime_of(meta: &std::fs::Metadata) -> Option<UnixTime> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.mtime())
}

/// The server's view of one file, for the skip decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub size: u64,
    pub md5: String,
    pub modified: Option<UnixTime>,
}

/// Upload one local file to `target`, unless `known` says the server has it already.
pub async fn put_file<R: Remote>(remote: &R, local: &Path, target: &RemotePath, known: Option<&Known>) -> Event {
    let shown = target.to_string();
    match put_file_inner(remote, local, target, known).await {
        Ok(e) => e,
        Err(e) => Event::Failed { path: shown, error: e.to_string() },
    }
}

async fn put_file_inner<R: Remote>(
    remote: &R,
    local: &Path,
    target: &RemotePath,
    known: Option<&Known>,
) -> SyncResult<Event> {
    let meta = std::fs::metadata(local).map_err(|e| SyncError::local(local, e))?;
    let mtime = mtime_of(&meta);
    let source = local.to_path_buf();
    let (size, md5) = tokio::task::spawn_blocking(move || hash_file(&source))
        .await
        .map_err(|e| SyncError::local(local, e))?
        .map_err(|e| SyncError::local(local, e))?;
    let req =
        UploadRequest { source: local.to_path_buf(), size, md5, created: mtime, modified: mtime, uncached: false };
    send(remote, req, target, known).await
}

/// Upload the local symbolic link `local` as the link file `target` (its name ends in `.rclonelink`).
pub async fn put_link<R: Remote>(remote: &R, local: &Path, target: &RemotePath, known: Option<&Known>) -> Event {
    let staged = match links::stage(local) {
        Ok(s) => s,
        Err(e) => return Event::Failed { path: target.to_string(), error: e.to_string() },
    };
    match send(remote, staged.req.clone(), target, known).await {
        Ok(e) => e,
        Err(e) => Event::Failed { path: target.to_string(), error: e.to_string() },
    }
}

/// Send what `req` describes, unless `known` says the server holds it already.
async fn send<R: Remote>(
    remote: &R,
    req: UploadRequest,
    target: &RemotePath,
    known: Option<&Known>,
) -> SyncResult<Event> {
    let path = target.to_string();
    let (size, md5, mtime) = (req.size, req.md5.clone(), req.modified);
    if let Some(k) = known.filter(|k| k.size == size && k.md5.eq_ignore_ascii_case(&md5)) {
        if k.modified == mtime {
            return Ok(Event::Skipped { path, size });
        }
        let t = mtime.unwrap_or_else(crate::remote::time::now);
        remote.set_times(target, size, &md5, t, t).await?;
        return Ok(Event::TimeSet { path, size });
    }
    let outcome = remote.upload(target, &req).await?;
    Ok(if outcome.deduplicated {
        Event::Deduplicated { path, size }
    } else {
        Event::Uploaded { path, size, bytes: outcome.bytes_sent }
    })
}

/// A local tree: folders and regular files relative to its root, the rest noted and left alone.
#[derive(Debug, Default)]
pub struct LocalTree {
    pub folders: Vec<String>,
    pub files: Vec<String>,
    /// Symbolic links (walked with `links`), by their local relative name.
    pub links: Vec<String>,
    pub ignored: Vec<(PathBuf, String)>,
    pub unreadable: Vec<(PathBuf, String)>,
    /// Sum of the files' sizes as walked (for progress; each upload stats its file again).
    pub bytes: u64,
}

/// Walk `root` without following symlinks; parents come before their children. With `links`, symbolic
/// links are kept as such, except one whose stored name `NAME.rclonelink` a real entry beside it takes
/// (a failure naming both: neither may silently replace the other).
pub fn walk_local(root: &Path, with_links: bool) -> LocalTree {
    let mut tree = LocalTree::default();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() { root.to_path_buf() } else { root.join(&rel) };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                tree.unreadable.push((dir, e.to_string()));
                continue;
            }
        };
        let mut names: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        names.sort_by_key(|e| e.file_name());
        for entry in names {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tree.ignored.push((entry.path(), "the name is not UTF-8".into()));
                continue;
            };
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    tree.folders.push(child.clone());
                    stack.push(child);
                }
                Ok(t) if t.is_file() => {
                    tree.bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                    tree.files.push(child);
                }
                Ok(t) if t.is_symlink() && with_links => {
                    let stored = link_file_name(entry.file_name().to_str().unwrap_or_default());
                    if std::fs::symlink_metadata(dir.join(&stored)).is_ok() {
                        let why = format!("its stored name {stored} is taken by another entry beside it; rename one");
                        tree.unreadable.push((entry.path(), why));
                    } else {
                        tree.links.push(child);
                    }
                }
                Ok(t) if t.is_symlink() => {
                    tree.ignored.push((entry.path(), "symbolic link, not followed (--links keeps it)".into()))
                }
                Ok(_) => tree.ignored.push((entry.path(), "not a regular file or folder".into())),
                Err(e) => tree.unreadable.push((entry.path(), e.to_string())),
            }
        }
    }
    tree
}

fn join_rel(base: &RemotePath, rel: &str) -> Result<RemotePath, RemoteError> {
    let mut p = base.clone();
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        p = p.join(seg)?;
    }
    Ok(p)
}

fn rel_of(f: &TreeFile) -> String {
    if f.parent.is_empty() {
        f.name.clone()
    } else {
        format!("{}/{}", f.parent.trim_matches('/'), f.name)
    }
}

/// The server's tree below `path`, or an empty one when the folder does not exist yet.
async fn remote_tree<R: Remote>(remote: &R, path: &RemotePath) -> SyncResult<Tree> {
    match remote.list_tree(path).await {
        Ok(t) => Ok(t),
        Err(RemoteError::NotFound(_)) => Ok(Tree::default()),
        Err(e) => Err(e.into()),
    }
}

/// Upload the local folder `local` to become the remote folder `target` (created as needed); with
/// `with_links`, its symbolic links as `NAME.rclonelink` files.
pub async fn put_tree<R: Remote>(
    remote: &R,
    local: &Path,
    target: &RemotePath,
    jobs: usize,
    with_links: bool,
    on: &(dyn Fn(&Event) + Sync),
) -> SyncResult<Summary> {
    if target.depth() < 3 {
        return Err(SyncError::Usage(format!(
            "{target}: a folder goes inside a mount point, e.g. /Jotta/Archive/{}",
            local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "name".into())
        )));
    }
    let walked = {
        let root = local.to_path_buf();
        tokio::task::spawn_blocking(move || walk_local(&root, with_links))
            .await
            .map_err(|e| SyncError::local(local, e))?
    };
    let server = remote_tree(remote, target).await?;
    let mut summary = Summary::default();
    let emit = |e: Event, summary: &mut Summary| {
        summary.add(&e);
        on(&e);
    };
    let planned = (walked.files.len() + walked.links.len()) as u64;
    emit(Event::Planned { files: planned, bytes: walked.bytes }, &mut summary);
    for (p, why) in &walked.ignored {
        emit(Event::Ignored { path: p.display().to_string(), why: why.clone() }, &mut summary);
    }
    for (p, why) in &walked.unreadable {
        emit(Event::Failed { path: p.display().to_string(), error: why.clone() }, &mut summary);
    }
    let have_folders: std::collections::HashSet<String> =
        server.folders.iter().map(|f| f.trim_matches('/').to_lowercase()).collect();
    let known: HashMap<String, Known> = server
        .files
        .iter()
        .map(|f| (rel_of(f).to_lowercase(), Known { size: f.size, md5: f.md5.clone(), modified: f.modified }))
        .collect();
    // Folders first (empty ones included: uploads create only the parents of files).
    if server.folders.is_empty() && server.files.is_empty() {
        remote.mkdir(target).await?;
    }
    for rel in &walked.folders {
        if have_folders.contains(&rel.to_lowercase()) {
            continue;
        }
        let e = match join_rel(target, rel) {
            Ok(p) => match remote.mkdir(&p).await {
                Ok(()) => Event::Created { path: p.to_string() },
                Err(e) => Event::Failed { path: p.to_string(), error: e.to_string() },
            },
            Err(e) => Event::Failed { path: local.join(rel).display().to_string(), error: e.to_string() },
        };
        emit(e, &mut summary);
    }
    // (local name, stored name, is a link)
    let files = walked.files.iter().map(|rel| (rel, rel.clone(), false));
    let link_files = walked.links.iter().map(|rel| (rel, link_file_name(rel), true));
    let work = files.chain(link_files).map(|(rel, stored, is_link)| {
        let known = known.get(&stored.to_lowercase());
        let source = local.join(rel);
        async move {
            // A stop request (Ctrl-C) starts no new file; the ones in flight finish whole.
            if super::stop::requested() {
                return None;
            }
            Some(match join_rel(target, &stored) {
                Ok(p) if is_link => put_link(remote, &source, &p, known).await,
                Ok(p) => put_file(remote, &source, &p, known).await,
                Err(e) => Event::Failed { path: source.display().to_string(), error: e.to_string() },
            })
        }
    });
    let mut results = futures_util::stream::iter(work).buffer_unordered(jobs.max(1));
    while let Some(e) = results.next().await {
        match e {
            Some(e) => emit(e, &mut summary),
            None => summary.interrupted = true,
        }
    }
    Ok(summary)
}

/// Download one file to `target`, skipping it when a local file of the same size and mtime is there.
pub async fn get_file<R: Remote>(remote: &R, path: &RemotePath, expect: &Expected, target: &Path) -> Event {
    let shown = target.display().to_string();
    if let Ok(meta) = std::fs::metadata(target) {
        if meta.is_file()
            && meta.len() == expect.size
            && expect.modified.is_some()
            && mtime_of(&meta) == expect.modified
        {
            return Event::Skipped { path: shown, size: expect.size };
        }
    }
    match download::fetch(remote, path, Version::Current, expect, target).await {
        Ok(bytes) => Event::Downloaded { path: shown, size: expect.size, bytes },
        Err(e) => Event::Failed { path: shown, error: e.to_string() },
    }
}

/// Download the remote folder `path` into the local folder `local` (created as needed); with
/// `with_links`, files `NAME.rclonelink` become symbolic links `NAME` (unless a real `NAME` is beside it).
pub async fn get_tree<R: Remote>(
    remote: &R,
    path: &RemotePath,
    local: &Path,
    jobs: usize,
    with_links: bool,
    on: &(dyn Fn(&Event) + Sync),
) -> SyncResult<Summary> {
    let tree = remote.list_tree(path).await?;
    let taken: std::collections::HashSet<String> = tree
        .files
        .iter()
        .map(|f| rel_of(f).to_lowercase())
        .chain(tree.folders.iter().map(|d| d.trim_matches('/').to_lowercase()))
        .collect();
    let mut summary = Summary::default();
    on(&Event::Planned { files: tree.files.len() as u64, bytes: tree.files.iter().map(|f| f.size).sum() });
    std::fs::create_dir_all(local).map_err(|e| SyncError::local(local, e))?;
    for rel in &tree.folders {
        let made = super::local_target::under(local, rel.trim_matches('/'), true)
            .and_then(|dir| std::fs::create_dir_all(&dir).map_err(|e| SyncError::local(dir, e)));
        if let Err(e) = made {
            let ev =
                Event::Failed { path: local.join(rel.trim_matches('/')).display().to_string(), error: e.to_string() };
            summary.add(&ev);
            on(&ev);
        }
    }
    let work = tree.files.iter().map(|f| {
        let rel = rel_of(f);
        let link_rel = link_stem(&rel).filter(|stem| with_links && !taken.contains(&stem.to_lowercase()));
        let shown = local.join(link_rel.unwrap_or(&rel)).display().to_string();
        let target = super::local_target::under(local, link_rel.unwrap_or(&rel), false);
        let is_link = link_rel.is_some();
        let expect = Expected { size: f.size, md5: Some(f.md5.clone()), modified: f.modified };
        async move {
            if super::stop::requested() {
                return None;
            }
            let target = match target {
                Ok(t) => t,
                Err(e) => return Some(Event::Failed { path: shown, error: e.to_string() }),
            };
            if let Some(parent) = target.parent() {
                if let Err(e) = std::fs::create_dir_all(parent) {
                    return Some(Event::Failed { path: target.display().to_string(), error: e.to_string() });
                }
            }
            Some(match join_rel(path, &rel) {
                Ok(p) if is_link => links::fetch(remote, &p, expect.size, expect.modified, &target).await,
                Ok(p) => get_file(remote, &p, &expect, &target).await,
                Err(e) => Event::Failed { path: target.display().to_string(), error: e.to_string() },
            })
        }
    });
    let mut results = futures_util::stream::iter(work).buffer_unordered(jobs.max(1));
    while let Some(e) = results.next().await {
        match e {
            Some(e) => {
                summary.add(&e);
                on(&e);
            }
            None => summary.interrupted = true,
        }
    }
    Ok(summary)
}

/// What lives at a path: a live file, or a live folder (mount points included).
pub async fn what_is<R: Remote>(remote: &R, path: &RemotePath) -> SyncResult<Item> {
    if path.depth() < 2 {
        return Err(SyncError::Usage(format!("{path}: a device or the account root holds no files")));
    }
    Ok(remote.stat(path).await?)
}
