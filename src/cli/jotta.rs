//! The `jotta` command: clap wiring and presentation for the terminal tools. Logic lives in `remote`
//! (and later `sync`); each subcommand here parses, calls, prints, and turns errors into one line.

use crate::remote::{ConnectOptions, HttpRemote};
use crate::remote::{Item, Remote, RemoteError, RemotePath, UnixTime, UploadRequest};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "jotta", version, about = "JottaCloud from the terminal: login, files, and the emulator")]
pub struct JottaArgs {
    /// Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts.
    #[arg(long, global = true, env = "JOTTA_ENDPOINT")]
    endpoint: Option<String>,
    /// Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse).
    #[arg(long, global = true, env = "JOTTA_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Log in with a personal login token (from the web UI: Settings > Security > Personal login token).
    /// Reads the token from stdin when not given.
    Login { token: Option<String> },
    /// List the account (`/`), a device, or a folder, e.g. `jotta ls /Jotta/Archive`.
    Ls {
        #[arg(default_value = "/")]
        path: String,
        /// Long format: size, modification time, md5.
        #[arg(short, long)]
        long: bool,
    },
    /// Upload a local file; a remote path ending in `/` keeps the local name.
    Put { local: PathBuf, remote: String },
    /// Download a file; the local file appears only once complete and verified.
    Get { remote: String, local: Option<PathBuf> },
    /// Show running mounts: pending uploads and bytes, failures with their reason, dedupe hits.
    Status {
        /// Print the raw status documents as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the protocol-faithful JottaCloud emulator (for tests, benchmarks and the demo).
    Emulator(super::emulator::EmulatorArgs),
    /// Back up a local folder to /Device/MountPoint/Folder as a one-way mirror: upload new and changed
    /// files, trash what was deleted locally, create and remove folders to match.
    Scan(ScanArgs),
}

#[derive(clap::Args, Debug)]
struct ScanArgs {
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

pub fn main() -> ExitCode {
    let args = JottaArgs::parse();
    if let Command::Emulator(a) = args.command {
        return super::emulator::run(a);
    }
    if let Command::Status { json } = args.command {
        return status(json);
    }
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jotta: cannot start the I/O runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Scan(a) = &args.command {
        return rt.block_on(scan(connect_options(&args), a));
    }
    match rt.block_on(dispatch(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jotta: {e}");
            ExitCode::FAILURE
        }
    }
}

fn connect_options(args: &JottaArgs) -> ConnectOptions {
    let mut o = ConnectOptions::default();
    if let Some(d) = &args.config_dir {
        o.config_dir = d.clone();
    }
    if args.endpoint.is_some() {
        o.endpoint = args.endpoint.clone();
    }
    o
}

async fn dispatch(args: JottaArgs) -> Result<(), String> {
    let opts = connect_options(&args);
    match &args.command {
        Command::Login { token } => {
            let token = match token {
                Some(t) => t.trim().to_string(),
                None => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| format!("cannot read the token from stdin: {e}"))?;
                    s.trim().to_string()
                }
            };
            if token.is_empty() {
                return Err("no login token given (pass it as an argument or on stdin)".into());
            }
            let account = crate::remote::auth::login(&token, args.endpoint.as_deref(), &opts.config_dir)
                .await
                .map_err(|e| e.to_string())?;
            println!("logged in as {} ({} devices)", account.username, account.devices.len());
            Ok(())
        }
        Command::Ls { path, long } => {
            let remote = HttpRemote::connect(opts).await.map_err(|e| e.to_string())?;
            ls(&remote, &parse_path(path)?, *long).await
        }
        Command::Put { local, remote } => {
            let client = HttpRemote::connect(opts).await.map_err(|e| e.to_string())?;
            put(&client, local, remote).await
        }
        Command::Get { remote, local } => {
            let client = HttpRemote::connect(opts).await.map_err(|e| e.to_string())?;
            get(&client, &parse_path(remote)?, local.as_deref()).await
        }
        Command::Emulator(_) | Command::Status { .. } | Command::Scan(_) => {
            unreachable!("handled before dispatch")
        }
    }
}

/// `jotta scan`: checks that need no network (exit 2 when they fail), then the sync layer's runner.
async fn scan(opts: ConnectOptions, a: &ScanArgs) -> ExitCode {
    let usage = |e: String| {
        eprintln!("jotta: {e}");
        ExitCode::from(2)
    };
    let local = match std::fs::canonicalize(&a.local) {
        Ok(p) if p.is_dir() => p,
        Ok(_) => return usage(format!("{} is not a folder; scan backs up a folder", a.local.display())),
        Err(e) => return usage(format!("cannot scan {}: {e}", a.local.display())),
    };
    let target = match parse_path(&a.target) {
        Ok(t) if t.depth() >= 3 => t,
        Ok(t) => {
            return usage(format!("{t}: the target is a folder inside a mount point, e.g. /Jotta/Archive/pictures"))
        }
        Err(e) => return usage(e),
    };
    if let Err(e) = crate::sync::exclude::Excludes::new(&local, &a.exclude) {
        return usage(e);
    }
    let cache_base = crate::dirs::cache_dir();
    if let Err(e) = crate::sync::scan_guard::check_overlap(&cache_base, &local, &target) {
        return usage(e);
    }
    // A dry run changes nothing, so it may look while a real scan runs.
    let _lock = if a.dry_run {
        None
    } else {
        match crate::sync::scan_guard::lock_target(&cache_base, &target) {
            Ok(l) => Some(l),
            Err(e) => return usage(e),
        }
    };
    let remote = match HttpRemote::connect(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jotta: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scan = crate::sync::scan::ScanOptions {
        local,
        target,
        delete: !a.no_delete,
        checksum: !a.no_checksum,
        dry_run: a.dry_run,
        excludes: a.exclude.clone(),
        cache_base,
    };
    let watch = a.watch.then(|| std::time::Duration::from_secs(a.rescan));
    crate::sync::scan_run::run(&remote, crate::sync::scan_run::RunOptions { scan, json: a.json, watch }).await
}

fn parse_path(s: &str) -> Result<RemotePath, String> {
    RemotePath::parse(s).map_err(|e| format!("{e} in path '{s}'"))
}

fn when(t: Option<UnixTime>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".repeat(19))
}

async fn ls(remote: &HttpRemote, path: &RemotePath, long: bool) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let mut line = |kind: char, size: u64, t: Option<UnixTime>, md5: &str, name: &str| {
        let r = if long {
            writeln!(out, "{kind} {size:>14} {} {md5:<32} {name}", when(t))
        } else {
            writeln!(out, "{name}{}", if kind == 'd' { "/" } else { "" })
        };
        r.map_err(|e| format!("cannot write: {e}"))
    };
    match path.depth() {
        0 => {
            let account = remote.account().await.map_err(|e| e.to_string())?;
            for d in &account.devices {
                line('d', d.size, d.modified, "", &d.name)?;
            }
        }
        1 => {
            let dev = remote.device(path).await.map_err(|e| e.to_string())?;
            for mp in dev.mount_points.iter().filter(|m| m.deleted.is_none()) {
                line('d', mp.size, mp.modified, "", &mp.name)?;
            }
        }
        _ => match remote.stat(path).await.map_err(|e| e.to_string())? {
            Item::Folder(listing) => {
                if listing.deleted.is_some() {
                    return Err(RemoteError::NotFound(format!("{path} is in the trash")).to_string());
                }
                for f in listing.folders.iter().filter(|f| f.deleted.is_none()) {
                    line('d', 0, f.modified, "", &f.name)?;
                }
                for f in listing.files.iter().filter(|f| f.is_live()) {
                    line('-', f.size(), f.modified(), f.md5().unwrap_or(""), &f.name)?;
                }
            }
            Item::File(f) => line('-', f.size(), f.modified(), f.md5().unwrap_or(""), &f.name)?,
        },
    }
    Ok(())
}

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

fn mtime_of(meta: &std::fs::Metadata) -> Option<UnixTime> {
    meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs() as i64)
}

async fn put(remote: &HttpRemote, local: &Path, target: &str) -> Result<(), String> {
    let meta = std::fs::metadata(local).map_err(|e| format!("cannot read {}: {e}", local.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", local.display()));
    }
    let mut path = parse_path(target)?;
    if target.ends_with('/') {
        let name = local
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} has no usable file name", local.display()))?;
        path = path.join(name).map_err(|e| e.to_string())?;
    }
    if path.depth() < 3 {
        return Err(format!("{path}: files go inside a mount point, e.g. /Jotta/Archive/name"));
    }
    let (size, md5) = hash_file(local).map_err(|e| format!("cannot read {}: {e}", local.display()))?;
    let req =
        UploadRequest { source: local.to_path_buf(), size, md5, created: mtime_of(&meta), modified: mtime_of(&meta) };
    let outcome = remote.upload(&path, &req).await.map_err(|e| e.to_string())?;
    if outcome.deduplicated {
        println!("{path}: {size} bytes, already on JottaCloud (nothing sent)");
    } else {
        println!("{path}: {size} bytes uploaded ({} sent)", outcome.bytes_sent);
    }
    Ok(())
}

async fn get(remote: &HttpRemote, path: &RemotePath, local: Option<&Path>) -> Result<(), String> {
    let info = match remote.stat(path).await.map_err(|e| e.to_string())? {
        Item::File(f) if f.is_live() => f,
        Item::File(_) => return Err(format!("{path} has no complete revision to download")),
        Item::Folder(_) => return Err(format!("{path} is a folder")),
    };
    let target = match local {
        Some(l) if l.is_dir() => l.join(&info.name),
        Some(l) => l.to_path_buf(),
        None => PathBuf::from(&info.name),
    };
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.jotta-part", info.name));
    let result = async {
        // The partial download is the user's alone until it is complete and verified.
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)
        }
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        let mut stream = remote.download(path, None).await.map_err(|e| e.to_string())?;
        let mut h = Md5::new();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| e.to_string())?;
            h.update(&piece);
            file.write_all(&piece).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        }
        file.sync_all().map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        let got = hex::encode(h.finalize());
        if let Some(want) = info.md5() {
            if !want.eq_ignore_ascii_case(&got) {
                return Err(format!("{path}: downloaded md5 {got} differs from the server's {want}; try again"));
            }
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = 0o666 & !crate::private::current_umask();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &target).map_err(|e| format!("cannot write {}: {e}", target.display()))
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    println!("{} <- {path} ({} bytes)", target.display(), info.size());
    Ok(())
}

fn status(json: bool) -> ExitCode {
    let mounts = crate::mount::status::read_all(&crate::dirs::cache_dir());
    if json {
        println!("{}", serde_json::to_string_pretty(&mounts).unwrap_or_else(|_| "[]".into()));
        return ExitCode::SUCCESS;
    }
    if mounts.is_empty() {
        println!("no jottafuse mount is running (for this user's cache dir)");
        return ExitCode::SUCCESS;
    }
    for m in mounts {
        let r = &m.report;
        let n = |k: &str| r["stats"][k].as_u64().unwrap_or(0);
        let pending = r["pending"].as_array().cloned().unwrap_or_default();
        println!("{} ({}, pid {})", m.mountpoint, m.root, m.pid);
        println!(
            "  pending: {} file(s), {:.1} MiB; uploaded: {}; dedupe hits: {}; sent: {:.1} MiB; failed attempts: {}",
            pending.len(),
            r["pending_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
            n("uploaded"),
            n("deduplicated"),
            n("bytes_sent") as f64 / 1048576.0,
            n("failures"),
        );
        println!("  names cached in memory: {}", r["cached_entries"].as_u64().unwrap_or(0));
        for p in pending {
            let state = if p["in_flight"].as_bool().unwrap_or(false) { "uploading" } else { "waiting" };
            let err = p["last_error"].as_str().map(|e| format!(" (last error: {e})")).unwrap_or_default();
            println!(
                "    {state:9} {:>12} {}{err}",
                p["size"].as_u64().unwrap_or(0),
                p["path"].as_str().unwrap_or("?")
            );
        }
    }
    ExitCode::SUCCESS
}
