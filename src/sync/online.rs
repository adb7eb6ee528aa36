//! `jotta sync SRC DST`: make DST equal to SRC, either side a local folder or a remote folder. Both
//! sides are indexed (or DST is described by a given index: timeline sync), the indexes are diffed, and
//! only the difference moves: folders first, then files (several in flight for the network), then, unless
//! add-only, deletions (files, then folders deepest first). Files move through the existing engines:
//! `transfer::put_file` (md5 dedupe: content the server has costs nothing), `transfer::get_file`
//! (resumable, verified), `staging` for local copies, and the server-side copy between remote folders.

use super::case_renames;
use super::download::Expected;
use super::index::{Entry, Index, Kind};
use super::index_build::{index_local, index_remote_or_empty, LocalHashing, LocalIndex, REMOTE_PREFIX};
use super::index_diff::{diff, Compare, Diff};
use super::local_target;
use super::staging::{self, describe, Promise};
use super::transfer::{get_file, put_file, Known};
use super::{Event, SyncError, SyncResult};
use crate::remote::ItemKind;
use crate::remote::{Remote, RemotePath};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A resolved side of a sync.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Local(PathBuf),
    Remote(RemotePath),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Local(p) => write!(f, "{}", p.display()),
            Endpoint::Remote(p) => write!(f, "{REMOTE_PREFIX}{p}"),
        }
    }
}

pub struct SyncOptions {
    pub compare: Compare,
    /// Delete at DST what SRC does not have (off: add only).
    pub delete: bool,
    pub dry_run: bool,
    pub jobs: usize,
    /// Describe DST by this index instead of looking at it (timeline sync: a copy taken at t1).
    pub against: Option<Index>,
    /// Describe SRC by this index (a later snapshot); its files are still read from SRC.
    pub from: Option<Index>,
    pub cache_base: PathBuf,
}

/// One thing the sync did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A transfer engine's report (uploaded, deduplicated, downloaded, ...).
    Moved(Event),
    /// A local-to-local or server-side copy.
    Copied {
        path: String,
        size: u64,
    },
    CreatedFolder {
        path: String,
    },
    Deleted {
        path: String,
    },
    /// Left out of the sync with the reason (a symlink, a name JottaCloud cannot store, ...).
    Skipped {
        path: String,
        why: String,
    },
    Failed {
        path: String,
        error: String,
    },
    /// A name given SRC's letters on a remote DST (see `case_renames`).
    Renamed {
        from: String,
        to: String,
    },
    /// Dry run: what would happen to this path (`add`, `change`, `delete`, `rename`).
    Planned {
        action: &'static str,
        path: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Names given SRC's letters on the server (`Step::Renamed`).
    pub renamed: u64,
    /// Bytes that travelled (uploads after dedupe, downloads, local copies).
    pub bytes: u64,
}

fn side_index<'a>(idx: &'a Option<Index>, fallback: &'a Index) -> &'a Index {
    idx.as_ref().unwrap_or(fallback)
}

/// The index of one side, and the local entries the walk left out (each with its reason).
async fn index_of<R: Remote>(
    remote: Option<&R>,
    ep: &Endpoint,
    hashing: LocalHashing,
    cache: &Path,
) -> SyncResult<(Index, Vec<(String, String)>)> {
    match ep {
        Endpoint::Local(p) if !p.exists() => Ok((Index::new(format!("local:{}", p.display()), 0, Vec::new()), vec![])),
        Endpoint::Local(p) => {
            let LocalIndex { index, failed, skipped } = index_local(p, hashing, cache)?;
            if let Some((rel, why)) = failed.first() {
                return Err(SyncError::local(p.join(rel), why));
            }
            Ok((index, skipped))
        }
        Endpoint::Remote(p) => match remote {
            Some(r) => Ok((index_remote_or_empty(r, p).await?, vec![])),
            None => Err(SyncError::Usage("a remote side needs a login".into())),
        },
    }
}

pub async fn sync<R: Remote>(
    remote: Option<&R>,
    src: &Endpoint,
    dst: &Endpoint,
    opts: &SyncOptions,
    on: &(dyn Fn(&Step) + Sync),
) -> SyncResult<SyncSummary> {
    if let Endpoint::Remote(p) = dst {
        if p.depth() < 3 {
            return Err(SyncError::Usage(format!(
                "{p}: sync into a folder inside a mount point, e.g. /Jotta/Archive/x"
            )));
        }
    }
    if let Endpoint::Local(p) = src {
        if !p.is_dir() {
            return Err(SyncError::Usage(format!("{}: the source must be an existing folder", p.display())));
        }
    }
    if overlap(src, dst) {
        // Making one side equal to the other when one holds the other would copy the tree into itself
        // or, with deletions, delete the source.
        return Err(SyncError::Usage(format!(
            "{src} and {dst} overlap (one is the other or inside it); sync between folders apart"
        )));
    }
    let hashing = if opts.compare == Compare::Hash { LocalHashing::All } else { LocalHashing::CachedOnly };
    let empty = Index::new(String::new(), 0, Vec::new());
    let (src_looked, skipped) = match opts.from {
        None => index_of(remote, src, hashing, &opts.cache_base).await?,
        Some(_) => (empty.clone(), vec![]),
    };
    let (dst_looked, _) = match opts.against {
        None => index_of(remote, dst, hashing, &opts.cache_base).await?,
        Some(_) => (empty, vec![]),
    };
    let (new, old) = (side_index(&opts.from, &src_looked), side_index(&opts.against, &dst_looked));
    let d = diff(old, new, opts.compare).map_err(SyncError::Usage)?;
    // Names in other letters are one name on the service: renamed there, not added and deleted.
    let (renames, d) = match dst {
        Endpoint::Remote(_) => case_renames::split(d, old, new, opts.compare).map_err(SyncError::Usage)?,
        Endpoint::Local(_) => (Vec::new(), d),
    };
    let mut sum = SyncSummary {
        unchanged: new.files().count() as u64
            - d.added.iter().chain(&d.changed).filter(|p| !p.ends_with('/')).count() as u64,
        ..SyncSummary::default()
    };
    let emit = |s: Step, sum: &mut SyncSummary| {
        match &s {
            Step::Failed { .. } => sum.failed += 1,
            Step::Deleted { .. } => sum.deleted += 1,
            Step::Renamed { .. } => sum.renamed += 1,
            Step::Copied { size, .. } => sum.bytes += size,
            Step::Moved(Event::Uploaded { bytes, .. }) | Step::Moved(Event::Downloaded { bytes, .. }) => {
                sum.bytes += bytes
            }
            Step::Moved(Event::Failed { .. }) => sum.failed += 1,
            _ => {}
        }
        on(&s);
    };
    for (path, why) in skipped {
        emit(Step::Skipped { path, why }, &mut sum);
    }
    if opts.dry_run {
        for r in &renames {
            emit(Step::Planned { action: "rename", path: format!("{} -> {}", r.from, r.to) }, &mut sum);
        }
        plan(&d, opts.delete, &mut sum, &mut |s, sum| emit(s, sum));
        return Ok(sum);
    }
    if let Endpoint::Local(p) = dst {
        std::fs::create_dir_all(p).map_err(|e| SyncError::local(p, describe(&e)))?;
    }
    if let (Endpoint::Remote(base), Some(r)) = (dst, remote) {
        // Parents first: a name below a renamed folder is found there by the service in any letters, and
        // is named with the folder's new letters (so the line shows where it is now).
        let mut done: HashMap<String, &str> = HashMap::new(); // renamed folders: lowercased old path -> new
        for rename in &renames {
            let is_folder = rename.to.ends_with('/');
            let (from, to) = (rename.from.trim_end_matches('/'), rename.to.trim_end_matches('/'));
            // The deepest renamed folder above it: its new path carries the letters of every level.
            // Compared by path parts, not bytes: lowercasing may change a name's length.
            let parts: Vec<&str> = from.split('/').collect();
            let moved = (1..parts.len()).rev().find_map(|n| {
                let new = done.get(&parts[..n].join("/").to_lowercase())?;
                Some(format!("{new}/{}", parts[n..].join("/")))
            });
            let from = moved.as_deref().unwrap_or(from);
            if is_folder {
                done.insert(from.to_lowercase(), to);
            }
            let paths = (remote_join(base, from), remote_join(base, to));
            let step = match paths {
                (Ok(from), Ok(to)) => match r.rename(&from, &to, ItemKind::folder_if(is_folder)).await {
                    Ok(()) => Step::Renamed { from: from.to_string(), to: to.to_string() },
                    Err(e) => Step::Failed { path: rename.to.clone(), error: e.to_string() },
                },
                (Err(e), _) | (_, Err(e)) => Step::Failed { path: rename.to.clone(), error: e.to_string() },
            };
            emit(step, &mut sum);
        }
    }
    // A name that changes kind (a file that became a folder, or the other way round) must be cleared
    // before its new kind can take it: those deletions (and whatever the old folder held) go first.
    let (clashing, d) = split_kind_changes(d);
    if opts.delete && !clashing.removed.is_empty() {
        for step in delete_removed(remote, dst, &clashing, &HashSet::new()).await {
            emit(step, &mut sum);
        }
    }
    // Folders, parents first (the diff is sorted, so a parent precedes its children).
    for f in d.added.iter().filter_map(|p| p.strip_suffix('/')) {
        let step = match make_folder(remote, dst, f).await {
            Ok(path) => Step::CreatedFolder { path },
            Err(e) => Step::Failed { path: f.to_string(), error: e.to_string() },
        };
        emit(step, &mut sum);
    }
    // Each file with whether it changes one DST has (else it is added there).
    let files: Vec<(&Entry, Option<&Entry>, bool)> = (d.added.iter().map(|p| (p, false)))
        .chain(d.changed.iter().map(|p| (p, true)))
        .filter(|(p, _)| !p.ends_with('/'))
        .filter_map(|(p, changes)| new.get(p).map(|e| (e, old.get(p).filter(|o| o.kind == Kind::File), changes)))
        .collect();
    let work = files.iter().map(|(e, before, changes)| async move {
        (*changes, move_file(remote, src, dst, e, *before, opts.from.is_some()).await)
    });
    let mut results = futures_util::stream::iter(work).buffer_unordered(opts.jobs.max(1));
    while let Some((changes, step)) = results.next().await {
        // A file that failed is counted as failed only, not also as added or changed.
        if !matches!(step, Step::Failed { .. } | Step::Moved(Event::Failed { .. })) {
            *(if changes { &mut sum.changed } else { &mut sum.added }) += 1;
        }
        emit(step, &mut sum);
    }
    if opts.delete {
        // A removed name that comes back with other case is the same name on JottaCloud: never delete it.
        let coming: HashSet<String> = d.added.iter().map(|p| p.trim_end_matches('/').to_lowercase()).collect();
        for step in delete_removed(remote, dst, &d, &coming).await {
            emit(step, &mut sum);
        }
    }
    Ok(sum)
}

/// The removals that clear a name for an addition of the other kind (and everything below a folder so
/// removed), apart from the rest of the diff.
fn split_kind_changes(d: Diff) -> (Diff, Diff) {
    let added: HashSet<String> = d.added.iter().map(|p| p.to_lowercase()).collect();
    let twin = |p: &str| match p.strip_suffix('/') {
        Some(file) => file.to_lowercase(),
        None => format!("{}/", p.to_lowercase()),
    };
    let clearing: Vec<String> =
        d.removed.iter().filter(|p| added.contains(&twin(p))).map(|p| p.to_lowercase()).collect();
    let below = |p: &str| {
        let p = p.to_lowercase();
        clearing.iter().any(|c| p == *c || (c.ends_with('/') && p.starts_with(c.as_str())))
    };
    let (clashing, rest): (Vec<String>, Vec<String>) = d.removed.into_iter().partition(|p| below(p));
    (Diff { added: vec![], changed: vec![], removed: clashing }, Diff { removed: rest, ..d })
}

/// Whether the two sides are one folder, or one holds the other.
fn overlap(src: &Endpoint, dst: &Endpoint) -> bool {
    match (src, dst) {
        (Endpoint::Local(a), Endpoint::Local(b)) => {
            let (a, b) = (resolved(a), resolved(b));
            a.starts_with(&b) || b.starts_with(&a)
        }
        (Endpoint::Remote(a), Endpoint::Remote(b)) => {
            // JottaCloud names ignore letter case.
            let (a, b) = (a.to_string().to_lowercase(), b.to_string().to_lowercase());
            let inside = |x: &str, y: &str| x == y || x.strip_prefix(y).is_some_and(|rest| rest.starts_with('/'));
            inside(&a, &b) || inside(&b, &a)
        }
        _ => false,
    }
}

/// A local path with links and `..` resolved as far as it exists (a DST not made yet resolves through its
/// nearest existing folder).
fn resolved(p: &Path) -> PathBuf {
    let absolute = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut rest = Vec::new();
    let mut at = absolute.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            return rest.iter().rev().fold(real, |acc, name| acc.join(name));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                at = parent;
            }
            _ => return absolute,
        }
    }
}

fn plan(d: &Diff, delete: bool, sum: &mut SyncSummary, emit: &mut dyn FnMut(Step, &mut SyncSummary)) {
    for p in &d.added {
        sum.added += u64::from(!p.ends_with('/'));
        emit(Step::Planned { action: "add", path: p.clone() }, sum);
    }
    for p in &d.changed {
        sum.changed += 1;
        emit(Step::Planned { action: "change", path: p.clone() }, sum);
    }
    if delete {
        for p in &d.removed {
            sum.deleted += 1;
            emit(Step::Planned { action: "delete", path: p.clone() }, sum);
        }
    }
}

fn remote_join(base: &RemotePath, rel: &str) -> SyncResult<RemotePath> {
    let mut p = base.clone();
    for seg in rel.split('/') {
        p = p.join(seg)?;
    }
    Ok(p)
}

async fn make_folder<R: Remote>(remote: Option<&R>, dst: &Endpoint, rel: &str) -> SyncResult<String> {
    match (dst, remote) {
        (Endpoint::Local(root), _) => {
            let p = local_target::under(root, rel, true)?;
            std::fs::create_dir_all(&p).map_err(|e| SyncError::local(&p, describe(&e)))?;
            Ok(p.display().to_string())
        }
        (Endpoint::Remote(root), Some(r)) => {
            let p = remote_join(root, rel)?;
            r.mkdir(&p).await?;
            Ok(p.to_string())
        }
        (Endpoint::Remote(_), None) => Err(SyncError::Usage("a remote side needs a login".into())),
    }
}

/// Move one file from SRC to DST by the engine that fits the pair of sides.
async fn move_file<R: Remote>(
    remote: Option<&R>,
    src: &Endpoint,
    dst: &Endpoint,
    e: &Entry,
    before: Option<&Entry>,
    timeline: bool,
) -> Step {
    let fail = |error: String| Step::Failed { path: e.path.clone(), error };
    match (src, dst, remote) {
        (Endpoint::Local(s), Endpoint::Local(d), _) => {
            let from = s.join(&e.path);
            let to = match local_target::under(d, &e.path, false) {
                Ok(p) => p,
                Err(err) => return fail(err.to_string()),
            };
            if timeline {
                if let Err(why) = still_as_indexed(&from, e) {
                    return fail(why);
                }
            }
            let r = tokio::task::spawn_blocking(move || copy_local(&from, &to)).await;
            match r {
                Ok(Ok(size)) => Step::Copied { path: e.path.clone(), size },
                Ok(Err(m)) => fail(m),
                Err(j) => fail(j.to_string()),
            }
        }
        (Endpoint::Local(s), Endpoint::Remote(d), Some(r)) => {
            let from = s.join(&e.path);
            if timeline {
                if let Err(why) = still_as_indexed(&from, e) {
                    return fail(why);
                }
            }
            let to = match remote_join(d, &e.path) {
                Ok(p) => p,
                Err(err) => return fail(err.to_string()),
            };
            let known = before.and_then(|b| b.md5_hex().map(|md5| Known { size: b.size, md5, modified: b.mtime }));
            Step::Moved(put_file(r, &from, &to, known.as_ref()).await)
        }
        (Endpoint::Remote(s), Endpoint::Local(d), Some(r)) => {
            let from = match remote_join(s, &e.path) {
                Ok(p) => p,
                Err(err) => return fail(err.to_string()),
            };
            let to = match local_target::under(d, &e.path, false) {
                Ok(p) => p,
                Err(err) => return fail(err.to_string()),
            };
            if let Some(parent) = to.parent() {
                if let Err(err) = std::fs::create_dir_all(parent) {
                    return fail(describe(&err));
                }
            }
            let expect = Expected { size: e.size, md5: e.md5_hex(), modified: e.mtime };
            Step::Moved(get_file(r, &from, &expect, &to).await)
        }
        (Endpoint::Remote(s), Endpoint::Remote(d), Some(r)) => {
            let (from, to) = match (remote_join(s, &e.path), remote_join(d, &e.path)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(err), _) | (_, Err(err)) => return fail(err.to_string()),
            };
            match r.copy(&from, &to).await {
                Ok(_) => Step::Copied { path: to.to_string(), size: 0 },
                Err(err) => fail(err.to_string()),
            }
        }
        (_, _, None) => fail("a remote side needs a login".into()),
    }
}

/// In a timeline sync the files are read from SRC but described by a later index: they must still be
/// what that index says.
fn still_as_indexed(path: &Path, e: &Entry) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m =
        std::fs::metadata(path).map_err(|err| format!("{}: {err}; take a new index of the source", path.display()))?;
    if m.len() != e.size || Some(m.mtime()) != e.mtime {
        return Err(format!(
            "{}: changed since the --from index was taken; take a new index of the source",
            path.display()
        ));
    }
    Ok(())
}

fn copy_local(from: &Path, to: &Path) -> Result<u64, String> {
    use std::os::unix::fs::MetadataExt;
    let mut f = std::fs::File::open(from).map_err(|e| format!("{}: {e}", from.display()))?;
    let meta = f.metadata().map_err(|e| format!("{}: {e}", from.display()))?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {}", parent.display(), describe(&e)))?;
    }
    let promise = Promise { size: meta.len(), md5: None, mtime: Some(meta.mtime()), fsync: true };
    staging::stage(&mut f, to, &promise).map_err(|e| e.to_string())?.commit()?;
    Ok(meta.len())
}

async fn delete_removed<R: Remote>(
    remote: Option<&R>,
    dst: &Endpoint,
    d: &Diff,
    coming: &HashSet<String>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let removed: Vec<&String> =
        d.removed.iter().filter(|p| !coming.contains(&p.trim_end_matches('/').to_lowercase())).collect();
    match (dst, remote) {
        (Endpoint::Local(root), _) => {
            for p in removed.iter().filter(|p| !p.ends_with('/')) {
                let path = match local_target::under(root, p, false) {
                    Ok(path) => path,
                    Err(e) => {
                        steps.push(Step::Failed { path: (*p).clone(), error: e.to_string() });
                        continue;
                    }
                };
                steps.push(match std::fs::remove_file(&path) {
                    Ok(()) => Step::Deleted { path: (*p).clone() },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => Step::Failed { path: (*p).clone(), error: describe(&e) },
                });
            }
            let mut folders: Vec<&str> = removed.iter().filter_map(|p| p.strip_suffix('/')).collect();
            folders.sort_by_key(|f| std::cmp::Reverse(f.matches('/').count()));
            for f in folders {
                let path = match local_target::under(root, f, true) {
                    Ok(path) => path,
                    Err(e) => {
                        steps.push(Step::Failed { path: format!("{f}/"), error: e.to_string() });
                        continue;
                    }
                };
                steps.push(match std::fs::remove_dir(&path) {
                    Ok(()) => Step::Deleted { path: format!("{f}/") },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => Step::Failed { path: format!("{f}/"), error: describe(&e) },
                });
            }
        }
        (Endpoint::Remote(root), Some(r)) => {
            // Trashing a folder trashes what is in it: only the topmost removed paths are asked for.
            let folders: Vec<&str> = removed.iter().filter_map(|p| p.strip_suffix('/')).collect();
            let inside_removed = |p: &str| {
                folders.iter().any(|f| p.len() > f.len() && p.starts_with(f) && p.as_bytes()[f.len()] == b'/')
            };
            for p in removed.iter().filter(|p| !inside_removed(p.trim_end_matches('/'))) {
                let is_folder = p.ends_with('/');
                let rel = p.trim_end_matches('/');
                let step = match remote_join(root, rel) {
                    Ok(path) => match r.delete(&path, ItemKind::folder_if(is_folder)).await {
                        Ok(()) => Step::Deleted { path: (*p).clone() },
                        Err(e) => Step::Failed { path: (*p).clone(), error: e.to_string() },
                    },
                    Err(e) => Step::Failed { path: (*p).clone(), error: e.to_string() },
                };
                steps.push(step);
            }
        }
        (Endpoint::Remote(_), None) => {
            steps.push(Step::Failed { path: dst.to_string(), error: "a remote side needs a login".into() })
        }
    }
    steps
}
