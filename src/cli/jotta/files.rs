//! File commands: `ls`, `get`, `put`, `mkdir`, `rm`, `mv`, `cp`, `cat`, `share`, `unshare`.

use super::present::{self, when};
use super::progress::Bar;
use super::{CmdResult, Ctx, Failure};
use crate::remote::ItemKind;
use crate::remote::{FileInfo, Item, Remote, RemoteError, RemotePath, UnixTime};
use crate::sync::download::Expected;
use crate::sync::transfer::{self, Known};
use crate::sync::ProgressView;
use crate::sync::{Event, Summary};
use futures_util::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(super) struct LsStyle {
    pub long: bool,
    pub recursive: bool,
    pub deleted: bool,
    pub json: bool,
}

/// One line of `ls`.
struct Entry {
    name: String,
    folder: bool,
    size: u64,
    modified: Option<UnixTime>,
    md5: String,
    deleted: Option<UnixTime>,
}

impl Entry {
    fn file(name: String, f: &FileInfo) -> Self {
        let md5 = f.md5().unwrap_or("").to_string();
        Entry { name, folder: false, size: f.size(), modified: f.modified(), md5, deleted: f.deleted }
    }
    fn folder(name: String, modified: Option<UnixTime>, deleted: Option<UnixTime>) -> Self {
        Entry { name, folder: true, size: 0, modified, md5: String::new(), deleted }
    }
}

pub(super) async fn ls(ctx: &Ctx, input: &str, style: LsStyle) -> CmdResult {
    let path = ctx.path(input).await?;
    let r = &ctx.remote;
    let mut entries = Vec::new();
    match path.depth() {
        0 => {
            for d in r.account().await?.devices {
                let device = path.join(&d.name)?;
                entries.push(Entry { size: d.size, ..Entry::folder(d.name.clone(), d.modified, None) });
                if style.recursive {
                    mount_points(r, &device, &format!("{}/", d.name), &style, &mut entries).await?;
                }
            }
        }
        1 => mount_points(r, &path, "", &style, &mut entries).await?,
        _ => below(r, &path, "", &style, &mut entries).await?,
    }
    print_entries(&entries, &style)
}

/// The mount points of a device, and with `-R` what each holds, named from `prefix`.
async fn mount_points<R: Remote>(
    r: &R,
    device: &RemotePath,
    prefix: &str,
    style: &LsStyle,
    entries: &mut Vec<Entry>,
) -> Result<(), Failure> {
    for mp in r.device(device).await?.mount_points {
        // Latest, Links, Trash: search results the service lists among the mount points, not folders.
        if crate::remote::path::is_pseudo_mount_point(&mp.name) {
            continue;
        }
        let live = mp.deleted.is_none();
        let at = device.join(&mp.name)?;
        let name = format!("{prefix}{}", mp.name);
        if mp.deleted.is_some() == style.deleted {
            entries.push(Entry { size: mp.size, ..Entry::folder(name.clone(), mp.modified, mp.deleted) });
        }
        if style.recursive && live {
            below(r, &at, &format!("{name}/"), style, entries).await?;
        }
    }
    Ok(())
}

/// A file, or what a folder or mount point holds (all of it with `-R`), named from `prefix`.
async fn below<R: Remote>(
    r: &R,
    path: &RemotePath,
    prefix: &str,
    style: &LsStyle,
    entries: &mut Vec<Entry>,
) -> Result<(), Failure> {
    match r.stat(path).await? {
        Item::File(f) if !style.deleted => entries.push(Entry::file(format!("{prefix}{}", f.name), &f)),
        Item::File(_) => {}
        Item::Folder(_) if style.recursive && !style.deleted => {
            let tree = r.list_tree(path).await?;
            let first = entries.len();
            for f in tree.folders {
                entries.push(Entry::folder(format!("{prefix}{}", f.trim_matches('/')), None, None));
            }
            for f in tree.files {
                let name =
                    if f.parent.is_empty() { f.name } else { format!("{}/{}", f.parent.trim_matches('/'), f.name) };
                entries.push(Entry {
                    size: f.size,
                    modified: f.modified,
                    md5: f.md5,
                    folder: false,
                    ..Entry::folder(format!("{prefix}{name}"), None, None)
                });
            }
            entries[first..].sort_by(|a, b| a.name.cmp(&b.name));
        }
        Item::Folder(listing) => {
            let mut stack = vec![(String::new(), listing)];
            while let Some((rel, l)) = stack.pop() {
                for f in l.folders {
                    let name = format!("{rel}{}", f.name);
                    if f.deleted.is_some() == style.deleted {
                        entries.push(Entry::folder(format!("{prefix}{name}"), f.modified, f.deleted));
                    }
                    if style.recursive && f.deleted.is_none() {
                        let sub = path_under(path, &name)?;
                        stack.push((format!("{name}/"), r.list(&sub).await?));
                    }
                }
                for f in l.files {
                    let shown = if style.deleted { f.deleted.is_some() } else { f.is_live() };
                    if shown {
                        entries.push(Entry::file(format!("{prefix}{rel}{}", f.name), &f));
                    }
                }
            }
        }
    }
    Ok(())
}

fn path_under(base: &RemotePath, rel: &str) -> Result<RemotePath, Failure> {
    let mut p = base.clone();
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        p = p.join(seg)?;
    }
    Ok(p)
}

fn print_entries(entries: &[Entry], style: &LsStyle) -> CmdResult {
    let mut out = std::io::stdout().lock();
    let fail = |e: std::io::Error| Failure::Failed(format!("cannot write to stdout: {e}"));
    if style.json {
        let docs: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name,
                    "type": if e.folder { "folder" } else { "file" },
                    "size": e.size,
                    "modified": e.modified,
                    "md5": if e.md5.is_empty() { None } else { Some(&e.md5) },
                    "deleted": e.deleted,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&docs).map_err(|e| Failure::Failed(e.to_string()))?;
        return writeln!(out, "{text}").map_err(fail);
    }
    for e in entries {
        let kind = if e.folder { 'd' } else { '-' };
        // One name per line, whatever it holds (`--json` gives names as they are).
        let name = crate::sync::printable(&e.name);
        let r = if style.long {
            let t = if style.deleted { e.deleted } else { e.modified };
            writeln!(out, "{kind} {:>14} {} {:<32} {name}", e.size, when(t), e.md5)
        } else {
            writeln!(out, "{name}{}", if e.folder { "/" } else { "" })
        };
        r.map_err(fail)?;
    }
    Ok(())
}

/// How `put` and `get` go about it.
pub(super) struct Tree {
    pub recursive: bool,
    pub jobs: usize,
    /// One JSON summary instead of a line per file.
    pub json: bool,
    /// Symbolic links travel as `NAME.rclonelink` files (rclone's `--links`).
    pub links: bool,
}

fn finish(verb: &str, s: &Summary, json: bool) -> CmdResult {
    if json {
        let mut doc = serde_json::to_value(s).unwrap_or_default();
        doc["action"] = verb.into();
        say!("{doc:#}");
    } else {
        say!("{}", present::summary(verb, s));
    }
    if s.interrupted {
        Err(Failure::Interrupted)
    } else if s.failed > 0 {
        Err(Failure::Partial)
    } else {
        Ok(())
    }
}

/// Run a tree transfer with a progress bar (on a terminal) and Ctrl-C stopping it between files.
async fn tree_transfer<F>(ctx: &Ctx, json: bool, run: impl FnOnce(Arc<Bar>) -> F) -> Result<Summary, Failure>
where
    F: std::future::Future<Output = crate::sync::SyncResult<Summary>>,
{
    crate::sync::stop::on_signals(|m| eprintln!("jotta: {m}"))
        .map_err(|e| Failure::Failed(format!("cannot install signal handlers: {e}")))?;
    let bar = Bar::new(ctx.quiet || json);
    let s = crate::remote::progress::counting(bar.tally(), run(bar.clone())).await;
    bar.finish();
    Ok(s?)
}

pub(super) async fn put(ctx: &Ctx, local: &Path, target: &str, how: Tree) -> CmdResult {
    let Tree { recursive, jobs, json, links } = how;
    let a_link = std::fs::symlink_metadata(local).is_ok_and(|m| m.file_type().is_symlink());
    if a_link && !links && std::fs::metadata(local).is_err() {
        // Followed, it leads nowhere: say what would upload it.
        return Err(Failure::Usage(format!(
            "{} is a symbolic link; --links uploads it as a .rclonelink file holding its target",
            local.display()
        )));
    }
    let is_link = links && a_link;
    let meta = match is_link {
        true => std::fs::symlink_metadata(local),
        false => std::fs::metadata(local),
    }
    .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", local.display())))?;
    let mut path = ctx.write_path(target).await?;
    if target.ends_with('/') {
        // A link is named by itself, not by what it points to.
        let own = if is_link { Some(local.to_path_buf()) } else { local.canonicalize().ok() };
        let name = own
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .ok_or_else(|| Failure::Usage(format!("{} has no usable name; give the remote name", local.display())))?;
        path = path.join(&name)?;
    }
    if meta.is_dir() {
        if !recursive {
            return Err(Failure::Usage(format!("{} is a folder; use put -r to upload it", local.display())));
        }
        let quiet = ctx.quiet || json;
        let at = &path;
        let s = tree_transfer(ctx, json, |bar| async move {
            transfer::put_tree(&ctx.remote, local, at, jobs, links, &|e| bar.event(e, quiet)).await
        })
        .await;
        return match s {
            Ok(s) => finish("uploaded", &s, json),
            Err(f) => Err(ctx.explained(&path, f).await),
        };
    }
    if is_link {
        let name = path.name().map(crate::remote::rclonelink::link_file_name).unwrap_or_default();
        let parent = path.parent().ok_or_else(|| Failure::Usage(format!("{path}: give a name for the link")))?;
        path = parent.join(&name)?;
    } else if !meta.is_file() {
        return Err(Failure::Usage(format!("{} is not a regular file or folder", local.display())));
    }
    if path.depth() < 3 {
        return Err(Failure::Usage(format!("{path}: files go inside a mount point, e.g. /Jotta/Archive/name")));
    }
    let known = match ctx.remote.stat(&path).await {
        Ok(Item::File(f)) if f.is_live() => {
            f.md5().map(|m| Known { size: f.size(), md5: m.to_string(), modified: f.modified() })
        }
        Ok(Item::Folder(_)) => {
            return Err(Failure::Failed(format!("{path} is a folder; end the remote path with / to upload into it")))
        }
        Ok(_) | Err(RemoteError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let bar = Bar::new(ctx.quiet || json);
    bar.stage("", 1, meta.len());
    let e = match is_link {
        true => transfer::put_link(&ctx.remote, local, &path, known.as_ref()).await,
        false => {
            let put = transfer::put_file(&ctx.remote, local, &path, known.as_ref());
            crate::remote::progress::counting(bar.tally(), put).await
        }
    };
    bar.finish();
    match e {
        Event::Failed { error, .. } => Err(ctx.explained(&path, Failure::Failed(error)).await),
        e if json => {
            let mut s = Summary::default();
            s.add(&e);
            finish("uploaded", &s, true)
        }
        e => {
            present::event(&e, false);
            Ok(())
        }
    }
}

pub(super) async fn get(ctx: &Ctx, input: &str, local: Option<&Path>, how: Tree) -> CmdResult {
    let Tree { recursive, jobs, json, links } = how;
    let path = ctx.path(input).await?;
    let item = transfer::what_is(&ctx.remote, &path).await?;
    let name = path.name().unwrap_or("download").to_string();
    let target = |name: &str| -> PathBuf {
        match local {
            Some(l) if l.is_dir() => l.join(name),
            Some(l) => l.to_path_buf(),
            None => PathBuf::from(name),
        }
    };
    match item {
        Item::Folder(_) if !recursive => Err(Failure::Usage(format!("{path} is a folder; use get -r to download it"))),
        Item::Folder(_) => {
            // Like `put -r`, the local path names the folder itself (created, or merged into when it exists).
            let to = local.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(&name));
            let quiet = ctx.quiet || json;
            let (path, to) = (&path, &to);
            let s = tree_transfer(ctx, json, |bar| async move {
                transfer::get_tree(&ctx.remote, path, to, jobs, links, &|e| bar.event(e, quiet)).await
            })
            .await?;
            finish("downloaded", &s, json)
        }
        Item::File(f) if !f.is_live() => Err(Failure::Failed(format!("{path} has no complete revision to download"))),
        Item::File(f) if links && crate::remote::rclonelink::link_stem(&f.name).is_some() => {
            let stem = crate::remote::rclonelink::link_stem(&f.name).unwrap_or_default();
            let to = target(stem);
            let e = crate::sync::links::fetch(&ctx.remote, &path, f.size(), f.modified(), &to).await;
            match e {
                Event::Failed { error, .. } => Err(Failure::Failed(error)),
                e if json => {
                    let mut s = Summary::default();
                    s.add(&e);
                    finish("downloaded", &s, true)
                }
                _ => {
                    say!("{} <- {path} (symbolic link)", to.display());
                    Ok(())
                }
            }
        }
        Item::File(f) => {
            let to = target(&f.name);
            // Checked before a byte travels: a download into a folder that is not there would fail only
            // at its end.
            if let Some(l) = local.filter(|l| !l.is_dir() && l.as_os_str().as_encoded_bytes().ends_with(b"/")) {
                return Err(Failure::Failed(format!("{}: no such folder; nothing was downloaded", l.display())));
            }
            let parent = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(Failure::Failed(format!("{}: no such folder; nothing was downloaded", parent.display())));
            }
            let bar = Bar::new(ctx.quiet || json);
            bar.stage("", 1, f.size());
            let expect = Expected::of(&f);
            let fetch =
                crate::sync::download::fetch(&ctx.remote, &path, crate::sync::download::Version::Current, &expect, &to);
            let bytes = crate::remote::progress::counting(bar.tally(), fetch).await;
            bar.finish();
            let bytes = bytes?;
            if json {
                let mut s = Summary::default();
                s.add(&Event::Downloaded { path: to.display().to_string(), size: f.size(), bytes });
                return finish("downloaded", &s, true);
            }
            say!("{} <- {path} ({} bytes, {bytes} fetched)", to.display(), f.size());
            Ok(())
        }
    }
}

pub(super) async fn mkdir(ctx: &Ctx, input: &str, parents: bool) -> CmdResult {
    let path = ctx.write_path(input).await?;
    if path.depth() < 3 {
        return Err(Failure::Usage(format!("{path}: folders go inside a mount point, e.g. /Jotta/Archive/name")));
    }
    if !parents {
        if let Some(parent) = path.parent() {
            match ctx.remote.stat(&parent).await {
                Ok(Item::Folder(_)) => {}
                Ok(Item::File(_)) => return Err(RemoteError::NotADirectory(parent.to_string()).into()),
                Err(RemoteError::NotFound(_)) => {
                    return Err(Failure::Failed(format!("{parent} does not exist (mkdir -p creates parents)")))
                }
                Err(e) => return Err(e.into()),
            }
        }
        match ctx.remote.stat(&path).await {
            Ok(_) => return Err(RemoteError::AlreadyExists(path.to_string()).into()),
            Err(RemoteError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match ctx.remote.mkdir(&path).await {
        Ok(_) => Ok(()),
        Err(e) => Err(ctx.explained(&path, e.into()).await),
    }
}

pub(super) async fn rm(ctx: &Ctx, input: &str, recursive: bool, permanent: bool) -> CmdResult {
    let path = ctx.path(input).await?;
    if path.depth() < 3 {
        return Err(Failure::Usage(format!("{path}: only files and folders inside a mount point can be removed")));
    }
    let is_folder = match transfer::what_is(&ctx.remote, &path).await? {
        Item::Folder(_) if !recursive => {
            return Err(Failure::Usage(format!("{path} is a folder; use rm -r to remove it and what it holds")))
        }
        Item::Folder(_) => true,
        Item::File(_) => false,
    };
    if permanent {
        ctx.remote.delete_permanently(&path, ItemKind::folder_if(is_folder)).await?;
        say!("deleted {path} for good");
    } else {
        ctx.remote.delete(&path, ItemKind::folder_if(is_folder)).await?;
        say!("moved {path} to the trash (jotta trash restore '{path}' brings it back)");
    }
    Ok(())
}

/// Where `from` lands: inside `to` when `to` is an existing folder, else at `to`. `to` naming `from`
/// itself in other letters is a rename to those letters (JottaCloud's names ignore case, so the
/// "existing folder" found there is `from` itself).
async fn destination(ctx: &Ctx, from: &RemotePath, to: &str) -> Result<RemotePath, Failure> {
    let to = ctx.write_path(to).await?;
    let (shown, was) = (to.to_string(), from.to_string());
    if shown != was && shown.to_lowercase() == was.to_lowercase() {
        return Ok(to);
    }
    match ctx.remote.stat(&to).await {
        Ok(Item::Folder(_)) => Ok(to.join(from.name().unwrap_or_default())?),
        Ok(Item::File(_)) | Err(RemoteError::NotFound(_)) => Ok(to),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn mv(ctx: &Ctx, from: &str, to: &str) -> CmdResult {
    let from = ctx.path(from).await?;
    let is_folder = matches!(transfer::what_is(&ctx.remote, &from).await?, Item::Folder(_));
    let to = destination(ctx, &from, to).await?;
    let other_letters = to.depth() == from.depth() && to.starts_with(&from);
    if is_folder && to.starts_with(&from) && !other_letters {
        return Err(Failure::Usage(format!("cannot move {from} into itself ({to})")));
    }
    ctx.remote.rename(&from, &to, ItemKind::folder_if(is_folder)).await?;
    say!("{from} -> {to}");
    Ok(())
}

pub(super) async fn cp(ctx: &Ctx, from: &str, to: &str, recursive: bool) -> CmdResult {
    let from = ctx.path(from).await?;
    let item = transfer::what_is(&ctx.remote, &from).await?;
    let to = destination(ctx, &from, to).await?;
    if to.starts_with(&from) && to.depth() == from.depth() {
        return Err(Failure::Usage(format!("{to} is {from} itself on JottaCloud (names ignore letter case)")));
    }
    match item {
        Item::File(_) => {
            ctx.remote.copy(&from, &to).await?;
            say!("{from} -> {to}");
            Ok(())
        }
        Item::Folder(_) if !recursive => Err(Failure::Usage(format!("{from} is a folder; use cp -r to copy it"))),
        Item::Folder(_) => {
            if to.starts_with(&from) {
                return Err(Failure::Usage(format!("cannot copy {from} into itself ({to})")));
            }
            // The service copies files only: re-create the folders, copy each file server-side.
            let tree = ctx.remote.list_tree(&from).await?;
            ctx.remote.mkdir(&to).await?;
            let mut s = Summary::default();
            for rel in &tree.folders {
                let e = match path_under(&to, rel) {
                    Ok(p) => match ctx.remote.mkdir(&p).await {
                        Ok(()) => Event::Created { path: p.to_string() },
                        Err(e) => Event::Failed { path: p.to_string(), error: e.to_string() },
                    },
                    Err(_) => Event::Failed { path: rel.clone(), error: "invalid name".into() },
                };
                s.add(&e);
                present::event(&e, ctx.quiet);
            }
            let (from, to) = (&from, &to);
            let work = tree.files.iter().map(|f| async move {
                let rel = if f.parent.is_empty() { f.name.clone() } else { format!("{}/{}", f.parent, f.name) };
                match (path_under(from, &rel), path_under(to, &rel)) {
                    (Ok(a), Ok(b)) => match ctx.remote.copy(&a, &b).await {
                        Ok(_) => Event::Deduplicated { path: b.to_string(), size: f.size },
                        Err(e) => Event::Failed { path: b.to_string(), error: e.to_string() },
                    },
                    _ => Event::Failed { path: rel, error: "invalid name".into() },
                }
            });
            let mut results = futures_util::stream::iter(work).buffer_unordered(transfer::DEFAULT_JOBS);
            while let Some(e) = results.next().await {
                s.add(&e);
                present::event(&e, ctx.quiet);
            }
            finish("copied", &s, false)
        }
    }
}

pub(super) async fn cat(ctx: &Ctx, input: &str) -> CmdResult {
    let path = ctx.path(input).await?;
    if let Item::Folder(_) = transfer::what_is(&ctx.remote, &path).await? {
        return Err(Failure::Usage(format!("{path} is a folder")));
    }
    let mut stream = ctx.remote.download(&path, None).await?;
    let mut out = std::io::stdout().lock();
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        if let Err(e) = out.write_all(&piece) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(Failure::Failed(format!("cannot write to stdout: {e}")));
        }
    }
    out.flush().map_err(|e| Failure::Failed(format!("cannot write to stdout: {e}")))
}

pub(super) async fn share(ctx: &Ctx, input: &str, on: bool) -> CmdResult {
    let path = ctx.path(input).await?;
    if let Item::Folder(_) = transfer::what_is(&ctx.remote, &path).await? {
        return Err(Failure::Usage(format!("{path} is a folder; JottaCloud shares files only")));
    }
    if on {
        say!("{}", ctx.remote.share(&path).await?);
    } else {
        ctx.remote.unshare(&path).await?;
        say!("{path}: public link revoked");
    }
    Ok(())
}
