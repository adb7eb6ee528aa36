//! `jotta scan`: the backup scanner's command line. The checks that need no network come first (a
//! mistake exits 2 before anything is asked of the service); the work is `sync::scan_run`.

use crate::remote::{ConnectOptions, HttpRemote};
use crate::sync::{exclude, paths, scan, scan_guard, scan_run};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// The local folder to back up.
    local: PathBuf,
    /// Where its mirror lives, e.g. /Jotta/Archive/pictures or /MyBox/backup/pictures (created if missing).
    target: String,
    /// Keep remote files and folders that were deleted locally.
    #[arg(long)]
    no_delete: bool,
    /// Compare size and modification time only, never md5 (faster; misses a change that keeps both).
    #[arg(long)]
    no_checksum: bool,
    /// Show what would be done; change nothing on JottaCloud.
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Leave out paths matching a gitignore-style PATTERN (repeatable): `*.tmp`, `/build`, `cache/`.
    #[arg(long, value_name = "PATTERN")]
    exclude: Vec<String>,
    /// Back up symbolic links as NAME.rclonelink files holding their target (rclone's --links); without
    /// it they are skipped with a note.
    #[arg(short = 'l', long)]
    links: bool,
    /// Print the summary as JSON (one document per pass; one line each under --watch).
    #[arg(long)]
    json: bool,
    /// Keep running: back up changes as they happen (inotify), with a full rescan every --rescan seconds.
    #[arg(long)]
    watch: bool,
    /// Seconds between safety-net full rescans under --watch.
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    rescan: u64,
}

pub async fn scan(opts: ConnectOptions, a: &ScanArgs, quiet: bool) -> ExitCode {
    let usage = |e: String| {
        eprintln!("jotta: {e}");
        ExitCode::from(2)
    };
    let failed = |e: String| {
        eprintln!("jotta: {e}");
        ExitCode::FAILURE
    };
    let local = match std::fs::canonicalize(&a.local) {
        Ok(p) if p.is_dir() => p,
        Ok(_) => return usage(format!("{} is not a folder; scan backs up a folder", a.local.display())),
        Err(e) => return usage(format!("cannot scan {}: {e}", a.local.display())),
    };
    if let Err(e) = crate::remote::RemotePath::parse(&a.target) {
        return usage(format!("{e} in path '{}'", a.target));
    }
    if let Err(e) = exclude::Excludes::new(&local, &a.exclude) {
        return usage(e);
    }
    let remote = match HttpRemote::connect(opts).await {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    // The path rule may need the account's devices (`/MyBox/...` against `Archive/...`).
    let target = match paths::resolve_remote(&remote, &a.target).await {
        Ok(t) if t.depth() >= 3 => t,
        Ok(t) => {
            return usage(format!("{t}: the target is a folder inside a mount point, e.g. /Jotta/Archive/pictures"))
        }
        Err(e) => return failed(e.to_string()),
    };
    match paths::creates_mount_point(&remote, &target).await {
        Ok(None) => {}
        Ok(Some(why)) => return usage(why),
        Err(e) => return failed(e.to_string()),
    }
    let cache_base = crate::dirs::cache_dir();
    if let Err(e) = scan_guard::check_overlap(&cache_base, &local, &target) {
        return usage(e);
    }
    // A dry run changes nothing, so it may look while a real scan runs.
    let _lock = if a.dry_run {
        None
    } else {
        match scan_guard::lock_target(&cache_base, &target) {
            Ok(l) => Some(l),
            Err(e) => return usage(e),
        }
    };
    let scan = scan::ScanOptions {
        local,
        target,
        delete: !a.no_delete,
        checksum: !a.no_checksum,
        dry_run: a.dry_run,
        excludes: a.exclude.clone(),
        cache_base,
        links: a.links,
    };
    let watch = a.watch.then(|| std::time::Duration::from_secs(a.rescan));
    let bar = super::progress::Bar::new(quiet);
    let view: std::sync::Arc<dyn crate::sync::ProgressView> = bar.clone();
    let run = scan_run::run(&remote, scan_run::RunOptions { scan, json: a.json, watch, quiet, progress: Some(view) });
    crate::remote::progress::counting(bar.tally(), run).await
}
