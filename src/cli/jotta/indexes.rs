//! `jotta index`, `jotta archive` and `jotta sync`: synchronisation by file indexes (online, offline,
//! timeline). Wiring and presentation only; the logic is `sync::index*`, `sync::archive*`, `sync::online`.
//! A side is a local folder, or a remote folder written `jotta:/Device/MountPoint/path`; the service is
//! contacted only when a side is remote.

use super::present::{event, human};
use super::{CmdResult, Failure};
use crate::remote::{ConnectOptions, HttpRemote};
use crate::sync::archive::{self, CreateOptions};
use crate::sync::archive_apply::{self, ApplyError, ApplyOptions};
use crate::sync::archive_apply_remote::{self, RemoteTarget};
use crate::sync::archive_remote::{create_from_remote, RemoteSource};
use crate::sync::index::Index;
use crate::sync::index_build::{self, LocalHashing, Side};
use crate::sync::index_diff::{diff, Compare};
use crate::sync::online::{self, Endpoint, Step, SyncOptions};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone, Copy)]
pub struct CompareArgs {
    /// Count a file as changed when its size or modification time differs (default: size only).
    #[arg(long, conflicts_with = "by_hash")]
    by_time: bool,
    /// Count a file as changed when its md5 differs (local md5s are computed where not cached).
    #[arg(long)]
    by_hash: bool,
}

impl CompareArgs {
    fn compare(&self) -> Compare {
        if self.by_hash {
            Compare::Hash
        } else if self.by_time {
            Compare::Time
        } else {
            Compare::Size
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum IndexAction {
    /// Write the index of a local folder or of a remote folder (`jotta:/Jotta/Archive/x`) to FILE.
    Create {
        /// The tree to index: a local folder or `jotta:/Device/MountPoint/path`.
        path: String,
        /// Where to write the index.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Local folders: compute every file's md5 (cached ones are always included). Remote folders
        /// always carry the server's md5s.
        #[arg(long)]
        md5: bool,
    },
    /// What was added, changed and removed going from OLD to NEW (folders end with `/`).
    Diff {
        /// The earlier index.
        old: PathBuf,
        /// The later index.
        new: PathBuf,
        #[command(flatten)]
        compare: CompareArgs,
        /// Print {"added": [...], "changed": [...], "removed": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Show what an index holds: its source, when it was taken, its entries.
    Show {
        /// The index file to show.
        file: PathBuf,
        /// List every entry (path, size, mtime, md5).
        #[arg(short, long)]
        long: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ArchiveAction {
    /// Pack every file of SOURCE that is new or changed against TARGET.idx, plus the deletions, into one
    /// tar file (gzipped with --gzip or a .gz/.tgz name).
    Create {
        /// A local folder or `jotta:/Device/MountPoint/path` (only its new and changed files are fetched).
        #[arg(long, value_name = "FOLDER")]
        source: String,
        /// The index of the copy to bring up to date.
        #[arg(long, value_name = "TARGET.idx")]
        against: PathBuf,
        /// Timeline: describe the source by this later index instead of walking it (its files must
        /// still be as indexed).
        #[arg(long, value_name = "LATER.idx")]
        from: Option<PathBuf>,
        /// Where to write the archive (`.gz`/`.tgz` compresses it).
        #[arg(short, long, value_name = "ARCHIVE")]
        output: PathBuf,
        #[arg(long)]
        gzip: bool,
        #[command(flatten)]
        compare: CompareArgs,
    },
    /// Bring TARGET up to date from ARCHIVE: checks TARGET still matches the index the archive was made
    /// against, verifies every file's md5, replaces files atomically; safe to run again.
    Apply {
        /// The archive made by `jotta archive create`.
        archive: PathBuf,
        /// The folder to bring up to date: a local folder or `jotta:/Device/MountPoint/path`.
        target: String,
        /// Add and update only; keep files the source deleted (and files added at the target).
        #[arg(long)]
        no_delete: bool,
        /// Apply even if TARGET changed since its index was taken.
        #[arg(long)]
        force: bool,
        /// Check and show what would be done; change nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// A local folder or `jotta:/Device/MountPoint/path`.
    src: String,
    /// A local folder or `jotta:/Device/MountPoint/path` (created if missing).
    dst: String,
    /// Add and update only; delete nothing at DST.
    #[arg(long)]
    no_delete: bool,
    #[command(flatten)]
    compare: CompareArgs,
    /// Show what would be done; change nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Timeline: take DST to be as this index says (a copy made when it was taken) instead of looking.
    #[arg(long, value_name = "TARGET.idx")]
    against: Option<PathBuf>,
    /// Timeline: describe SRC by this later index (its files must still be as indexed).
    #[arg(long, value_name = "LATER.idx")]
    from: Option<PathBuf>,
    /// Files in flight at once.
    #[arg(short, long, default_value_t = crate::sync::transfer::DEFAULT_JOBS)]
    jobs: usize,
}

fn load(path: &Path) -> Result<Index, Failure> {
    Index::load(path).map_err(Failure::Failed)
}

async fn connect(opts: &ConnectOptions) -> Result<HttpRemote, Failure> {
    Ok(HttpRemote::connect(opts.clone()).await?)
}

pub async fn index(opts: &ConnectOptions, quiet: bool, action: &IndexAction) -> CmdResult {
    match action {
        IndexAction::Create { path, output, md5 } => {
            let idx = match Side::parse(path) {
                Side::Local(p) => {
                    let hashing = if *md5 { LocalHashing::All } else { LocalHashing::CachedOnly };
                    let taken = index_build::index_local(&p, hashing, &crate::dirs::cache_dir())?;
                    for (p, why) in &taken.skipped {
                        eprintln!("jotta: skipped {}: {}", crate::sync::printable(p), crate::sync::printable(why));
                    }
                    for (p, why) in &taken.failed {
                        eprintln!("jotta: {p}: {why}");
                    }
                    if !taken.failed.is_empty() {
                        return Err(Failure::Failed(format!(
                            "{} entries could not be read; no index written",
                            taken.failed.len()
                        )));
                    }
                    taken.index
                }
                Side::Remote(p) => {
                    let remote = connect(opts).await?;
                    let rp = index_build::resolve(&remote, &p).await?;
                    index_build::index_remote(&remote, &rp).await?
                }
            };
            let t = std::time::Instant::now();
            let size = idx.save(output).map_err(|e| Failure::Failed(format!("{}: {e}", output.display())))?;
            // The bench reads this line: writing an index is measured apart from walking the tree.
            log::info!("index of {} entries written in {} ms", idx.entries.len(), t.elapsed().as_millis());
            if !quiet {
                let files = idx.files().count();
                say!(
                    "indexed {} ({files} files, {} folders, {} with md5) -> {} ({})",
                    idx.source,
                    idx.entries.len() - files,
                    idx.files().filter(|e| e.md5.is_some()).count(),
                    output.display(),
                    human(size)
                );
            }
            Ok(())
        }
        IndexAction::Diff { old, new, compare, json } => {
            let (a, b) = (load(old)?, load(new)?);
            let d = diff(&a, &b, compare.compare()).map_err(Failure::Usage)?;
            if *json {
                say!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
                return Ok(());
            }
            for (mark, list) in [("+", &d.added), ("~", &d.changed), ("-", &d.removed)] {
                if !quiet {
                    for p in list {
                        say!("{mark} {p}");
                    }
                }
            }
            say!(
                "{} added, {} changed, {} removed (compared by {})",
                d.added.len(),
                d.changed.len(),
                d.removed.len(),
                compare.compare().name()
            );
            Ok(())
        }
        IndexAction::Show { file, long } => {
            let t = std::time::Instant::now();
            let idx = load(file)?;
            log::info!("index of {} entries loaded in {} ms", idx.entries.len(), t.elapsed().as_millis());
            let files = idx.files().count();
            let bytes: u64 = idx.files().map(|e| e.size).sum();
            say!("source  {}", idx.source);
            say!("taken   {} UTC", super::present::when(Some(idx.taken)));
            say!(
                "entries {} ({files} files, {} folders), {}",
                idx.entries.len(),
                idx.entries.len() - files,
                human(bytes)
            );
            if *long {
                for e in &idx.entries {
                    let md5 = e.md5_hex().unwrap_or_else(|| "-".repeat(32));
                    say!(
                        "{:>12} {} {md5} {}",
                        e.size,
                        super::present::when(e.mtime),
                        crate::sync::index_diff::shown(e)
                    );
                }
            }
            Ok(())
        }
    }
}

pub async fn archive(opts: &ConnectOptions, quiet: bool, action: &ArchiveAction) -> CmdResult {
    match action {
        ArchiveAction::Create { source, against, from, output, gzip, compare } => {
            let gz_name = output.extension().is_some_and(|e| e == "gz" || e == "tgz");
            let gzip = *gzip || gz_name;
            let (against, from) = (load(against)?, from.as_deref().map(load).transpose()?);
            let cache_base = crate::dirs::cache_dir();
            let made = match Side::parse(source) {
                Side::Local(source) => {
                    let o = CreateOptions {
                        source,
                        against,
                        from,
                        compare: compare.compare(),
                        gzip,
                        output: output.clone(),
                        cache_base,
                        source_label: None,
                    };
                    crate::sync::stop::on_signals(|m| eprintln!("jotta: {m}"))
                        .map_err(|e| Failure::Failed(format!("cannot install signal handlers: {e}")))?;
                    let made = tokio::task::spawn_blocking(move || archive::create(&o))
                        .await
                        .map_err(|e| Failure::Failed(e.to_string()))?;
                    if made.is_err() && crate::sync::stop::requested() {
                        eprintln!("jotta: stopped; the partial archive was removed, run the command again");
                        return Err(Failure::Interrupted);
                    }
                    made?
                }
                Side::Remote(p) => {
                    let remote = connect(opts).await?;
                    let path = index_build::resolve(&remote, &p).await?;
                    let workdir = crate::sync::staging::beside(output, "jotta-fetch");
                    let src =
                        RemoteSource { path, workdir: workdir.clone(), jobs: crate::sync::transfer::DEFAULT_JOBS };
                    let made = create_from_remote(
                        &remote,
                        &src,
                        against,
                        from,
                        compare.compare(),
                        gzip,
                        output.clone(),
                        cache_base,
                    )
                    .await;
                    let _ = std::fs::remove_dir_all(&workdir);
                    made?
                }
            };
            if !quiet {
                for p in &made.diff.removed {
                    say!("delete {p}");
                }
            }
            say!(
                "archived {} file(s) ({}), {} new folder(s), {} deletion(s) -> {} ({})",
                made.files,
                human(made.bytes),
                made.folders,
                made.deletions,
                output.display(),
                human(made.archive_size)
            );
            Ok(())
        }
        ArchiveAction::Apply { archive, target, no_delete, force, dry_run } => {
            let side = Side::parse(target);
            let apply = ApplyOptions {
                archive: archive.clone(),
                target: PathBuf::from(target),
                delete: !no_delete,
                force: *force,
                dry_run: *dry_run,
                cache_base: crate::dirs::cache_dir(),
            };
            let done = match side {
                Side::Local(p) => {
                    let apply = ApplyOptions { target: p, ..apply };
                    tokio::task::spawn_blocking(move || archive_apply::apply(&apply))
                        .await
                        .map_err(|e| Failure::Failed(e.to_string()))?
                }
                Side::Remote(p) => {
                    let remote = connect(opts).await?;
                    let path = index_build::resolve_target(&remote, &p).await?;
                    let to = RemoteTarget { path, jobs: crate::sync::transfer::DEFAULT_JOBS };
                    archive_apply_remote::apply_remote(&remote, &to, &apply).await
                }
            };
            match done {
                Ok(a) => {
                    for f in &a.kept {
                        eprintln!("jotta: kept {f}/: it holds files the archive does not know");
                    }
                    let verb = if *dry_run { "would write" } else { "wrote" };
                    say!(
                        "{verb} {} file(s) ({}), {} already up to date, {} folder(s) created, {} deleted",
                        a.written,
                        human(a.bytes),
                        a.already,
                        a.folders,
                        a.deleted
                    );
                    Ok(())
                }
                Err(ApplyError::Drifted(paths)) => {
                    for (p, how) in paths.iter().take(20) {
                        eprintln!("jotta: {how}: {p}");
                    }
                    if paths.len() > 20 {
                        eprintln!("jotta: ... and {} more", paths.len() - 20);
                    }
                    Err(Failure::Failed(format!(
                        "{target}: {} path(s) changed since the index this archive was made against; nothing applied \
                         (--force applies anyway; or index the target again and make a new archive)",
                        paths.len()
                    )))
                }
                Err(ApplyError::Failed(e)) => Err(e.into()),
            }
        }
    }
}

pub async fn sync(opts: &ConnectOptions, quiet: bool, a: &SyncArgs) -> CmdResult {
    let (src, dst) = (Side::parse(&a.src), Side::parse(&a.dst));
    let remote = if src.is_remote() || dst.is_remote() { Some(connect(opts).await?) } else { None };
    let remote_ref = remote.as_ref();
    let endpoint = |s: Side, written: bool| async move {
        Ok::<_, Failure>(match (s, remote_ref) {
            (Side::Local(p), _) => Endpoint::Local(p),
            (Side::Remote(p), Some(r)) if written => Endpoint::Remote(index_build::resolve_target(r, &p).await?),
            (Side::Remote(p), Some(r)) => Endpoint::Remote(index_build::resolve(r, &p).await?),
            (Side::Remote(_), None) => unreachable!("connected when a side is remote"),
        })
    };
    let (src, dst) = (endpoint(src, false).await?, endpoint(dst, true).await?);
    let sync_opts = SyncOptions {
        compare: a.compare.compare(),
        delete: !a.no_delete,
        dry_run: a.dry_run,
        jobs: a.jobs,
        against: a.against.as_deref().map(load).transpose()?,
        from: a.from.as_deref().map(load).transpose()?,
        cache_base: crate::dirs::cache_dir(),
    };
    // Names may hold control characters (a local file's name): shown escaped, one line each.
    let p = |s: &str| crate::sync::printable(s).into_owned();
    let show = |s: &Step| match s {
        Step::Moved(e) => event(e, quiet),
        Step::Failed { path, error } => eprintln!("jotta: {}: {}", p(path), p(error)),
        Step::Skipped { path, why } => eprintln!("jotta: skipped {}: {}", p(path), p(why)),
        _ if quiet => {}
        Step::Copied { path, size } => say!("copied {} ({})", p(path), human(*size)),
        Step::CreatedFolder { path } => say!("created {}", p(path)),
        Step::Deleted { path } => say!("deleted {}", p(path)),
        Step::Renamed { from, to } => say!("renamed {} -> {}", p(from), p(to)),
        Step::Planned { action, path } => say!("would {action} {}", p(path)),
    };
    let sum = online::sync(remote.as_ref(), &src, &dst, &sync_opts, &show).await?;
    // Renames are rare (a name changed only in its letters): said only when there were some.
    let renamed = if sum.renamed > 0 { format!(", {} renamed", sum.renamed) } else { String::new() };
    say!(
        "{}{} added, {} changed, {} deleted, {} unchanged, {} failed{renamed}, {} transferred",
        if a.dry_run { "dry run: " } else { "" },
        sum.added,
        sum.changed,
        sum.deleted,
        sum.unchanged,
        sum.failed,
        human(sum.bytes)
    );
    if sum.failed > 0 {
        return Err(Failure::Partial);
    }
    Ok(())
}
