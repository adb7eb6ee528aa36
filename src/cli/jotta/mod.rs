//! The `jotta` command: clap wiring and presentation for the terminal tools. The logic lives in `sync`
//! (built on `remote`); each subcommand here parses, calls, prints, and turns errors into one line.
//! Exit codes: 0 success, 1 failure (or some files of a tree failed), 2 usage error, 130 stopped by
//! Ctrl-C/SIGTERM before a tree transfer or scan was done (or ending `status --watch`).
//!
//! Command groups: `account.rs` (login, logout, whoami, status), `files.rs` (ls, get, put, mkdir, rm,
//! mv, cp, cat, share, unshare), `history.rs` (trash, revisions), `backup.rs` (scan), `present.rs` (sizes,
//! times, summaries), `indexes.rs` (index, archive, sync).

/// `println!` for the tools' output. A stdout that went away (a pipe to `head` that closed) is no reason
/// to stop the work or to panic: from then on the output is dropped and the command finishes what it
/// does (a tree transfer cut by a closed pipe would be left half done).
macro_rules! say {
    () => {
        $crate::cli::jotta::say_line(format_args!(""))
    };
    ($($t:tt)*) => {
        $crate::cli::jotta::say_line(format_args!($($t)*))
    };
}

pub(crate) mod account;
mod backup;
mod files;
mod generate;
mod history;
mod indexes;
mod present;
mod progress;

use crate::remote::{ConnectOptions, HttpRemote, RemoteError, RemotePath};
use crate::sync::{paths, SyncError};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Kept here for callers of the earlier single-file `put` (tests hash with it).
pub use crate::sync::transfer::hash_file;
pub(crate) use generate::LocalOnly;

#[derive(Parser, Debug)]
#[command(name = "jotta", version, about = "JottaCloud from the terminal: account, files, trash, revisions, links")]
pub struct JottaArgs {
    /// Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts.
    #[arg(long, global = true, env = "JOTTA_ENDPOINT")]
    endpoint: Option<String>,
    /// Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse).
    #[arg(long, global = true, env = "JOTTA_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting
    /// proxy's, or `jotta emulator --tls`'s. Not saved by `login`: give it to every command (or set the env).
    #[arg(long, global = true, env = "JOTTA_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Print only errors and the final summary of tree transfers, not a line per file.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Log in with a personal login token (from the web UI: Settings > Security > Personal login token).
    /// Reads the token from stdin when not given.
    Login {
        /// The personal login token; it names its own service, so no --endpoint is needed.
        token: Option<String>,
    },
    /// Forget the saved login.
    Logout,
    /// Show the account: user, storage used of total, devices and their mount points.
    Whoami {
        /// Print JSON for scripts (sizes in bytes).
        #[arg(long)]
        json: bool,
    },
    /// List the account (`/`), a device, or a folder. Paths without a device mean /Jotta: `Archive/x`.
    Ls {
        /// What to list: `/`, a device (`/Jotta`), or a folder (`Archive/photos`).
        #[arg(default_value = "/")]
        path: String,
        /// Long format: size, modification time, md5.
        #[arg(short, long)]
        long: bool,
        /// Everything below the folder, with paths relative to it.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Show the folder's trashed entries instead of its live ones.
        #[arg(long)]
        deleted: bool,
        /// Print JSON (one array of entries) for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Upload a file, or a folder with -r. A remote path ending in `/` keeps the local name.
    Put {
        /// The local file, or folder with -r.
        local: PathBuf,
        /// Where it goes: a remote file path, or a folder ending in `/` to keep the local name.
        remote: String,
        /// Upload a folder and everything in it.
        #[arg(short, long)]
        recursive: bool,
        /// Files in flight at once.
        #[arg(short, long, default_value_t = crate::sync::transfer::DEFAULT_JOBS)]
        jobs: usize,
        /// No line per file; print the summary as JSON for scripts.
        #[arg(long)]
        json: bool,
        /// Upload symbolic links as NAME.rclonelink files holding their target (rclone's --links);
        /// without it they are skipped with a note.
        #[arg(short = 'l', long)]
        links: bool,
    },
    /// Download a file, or a folder with -r. Files appear only once complete and md5-verified; an
    /// interrupted download continues where it stopped when run again.
    Get {
        /// The remote file, or folder with -r.
        remote: String,
        /// Where it goes: a local folder, or the file's new name (default: the current folder).
        local: Option<PathBuf>,
        /// Download a folder and everything in it.
        #[arg(short, long)]
        recursive: bool,
        /// Files in flight at once.
        #[arg(short, long, default_value_t = crate::sync::transfer::DEFAULT_JOBS)]
        jobs: usize,
        /// No line per file; print the summary as JSON for scripts.
        #[arg(long)]
        json: bool,
        /// Turn NAME.rclonelink files back into symbolic links NAME (rclone's --links).
        #[arg(short = 'l', long)]
        links: bool,
    },
    /// Create a folder.
    Mkdir {
        /// The folder to create, inside a mount point (`Archive/new`).
        path: String,
        /// Create missing parents too; an existing folder is fine.
        #[arg(short, long)]
        parents: bool,
    },
    /// Move a file (or a folder with -r) to the trash.
    Rm {
        /// The file or folder to remove.
        path: String,
        /// Remove a folder and everything in it.
        #[arg(short, long)]
        recursive: bool,
        /// Delete for good instead of moving to the trash.
        #[arg(long)]
        permanent: bool,
    },
    /// Move or rename a file or folder on the server (into TO when TO is a folder).
    Mv {
        /// The file or folder to move.
        from: String,
        /// Its new path, or the folder to move it into.
        to: String,
    },
    /// Copy a file (or a folder with -r) on the server; no bytes travel.
    Cp {
        /// The file or folder to copy.
        from: String,
        /// The copy's path, or the folder to copy it into.
        to: String,
        /// Copy a folder and everything in it.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Write a file's content to stdout.
    Cat {
        /// The remote file to print.
        path: String,
    },
    /// Make a file public and print its link (fetchable without credentials).
    Share {
        /// The remote file to share.
        path: String,
    },
    /// Revoke a file's public link.
    Unshare {
        /// The shared remote file.
        path: String,
    },
    /// List the trash, or restore from it, or empty it.
    Trash {
        #[command(subcommand)]
        action: Option<TrashAction>,
        /// Print the listing as JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List the versions of a file, fetch one, or make one current.
    #[command(args_conflicts_with_subcommands = true)]
    Revisions {
        /// The remote file whose versions to list.
        path: Option<String>,
        #[command(subcommand)]
        action: Option<RevisionAction>,
        /// Print the listing as JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show running mounts: pending uploads and bytes, progress, rate and time left, failures with their reason, dedupe hits.
    Status {
        /// Print the raw status documents as JSON.
        #[arg(long)]
        json: bool,
        /// Refresh every second until Ctrl-C (in place on a terminal; exits 130).
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        _local: generate::LocalOnly,
    },
    /// Back up a local folder to /Device/MountPoint/Folder as a one-way mirror: upload new and changed
    /// files, trash what was deleted locally, create and remove folders to match.
    Scan(backup::ScanArgs),
    /// File indexes: what a local or remote tree holds (create), what changed between two (diff).
    Index {
        #[command(subcommand)]
        action: indexes::IndexAction,
    },
    /// Offline sync: pack the changes against a target's index into one file; apply it at the target.
    Archive {
        #[command(subcommand)]
        action: indexes::ArchiveAction,
    },
    /// Make DST equal to SRC (local folders or jotta:/Device/MountPoint/path); only differences move.
    Sync(indexes::SyncArgs),
    /// Run the protocol-faithful JottaCloud emulator (for tests, benchmarks and the demo).
    Emulator(super::emulator::EmulatorArgs),
    /// Print the shell completion script of `jotta` (e.g. `jotta completions bash > /etc/bash_completion.d/jotta`).
    Completions {
        /// The shell the script is for.
        shell: clap_complete::Shell,
        #[command(flatten)]
        _local: generate::LocalOnly,
    },
    /// Write the man pages and shell completions of both programs into DIR/man and DIR/completions
    /// (how contrib/man and contrib/completions are made: `jotta generate-docs contrib`).
    #[command(hide = true)]
    GenerateDocs {
        /// The folder to write into.
        dir: PathBuf,
        #[command(flatten)]
        _local: generate::LocalOnly,
    },
}

#[derive(Subcommand, Debug)]
enum TrashAction {
    /// Bring a trashed file or folder back to where it was (give the path it had).
    Restore {
        /// The path the file or folder had before it was trashed.
        path: String,
    },
    /// Delete everything in the trash for good.
    Empty,
}

#[derive(Subcommand, Debug)]
enum RevisionAction {
    /// Download revision N of a file to LOCAL.
    Get {
        /// The remote file.
        path: String,
        /// The revision number (as `jotta revisions PATH` lists them).
        number: u32,
        /// The local file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Make revision N the current version (no bytes are uploaded).
    Restore {
        /// The remote file.
        path: String,
        /// The revision number to make current.
        number: u32,
    },
}

/// How a command failed, and so its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Exit 2: the command line asks for something that cannot be done as given.
    Usage(String),
    /// Exit 1, with this line.
    Failed(String),
    /// Exit 1: some items of a tree failed; they were reported as they happened.
    Partial,
    /// Exit 130: stopped by Ctrl-C/SIGTERM before the job was done (said so already; run again).
    Interrupted,
}

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Self {
        if e.is_usage() {
            Failure::Usage(e.to_string())
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

impl From<RemoteError> for Failure {
    fn from(e: RemoteError) -> Self {
        Failure::Failed(e.to_string())
    }
}

pub(crate) type CmdResult = Result<(), Failure>;

pub fn main() -> ExitCode {
    let args = JottaArgs::parse();
    if let Command::Emulator(a) = args.command {
        return super::emulator::run(a);
    }
    if let Command::Status { json, watch, .. } = args.command {
        return account::status(json, watch);
    }
    if let Some(code) = generate::run(&args.command) {
        return code;
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
        return rt.block_on(backup::scan(connect_options(&args), a, args.quiet));
    }
    let result = match &args.command {
        Command::Index { action } => rt.block_on(indexes::index(&connect_options(&args), args.quiet, action)),
        Command::Archive { action } => rt.block_on(indexes::archive(&connect_options(&args), args.quiet, action)),
        Command::Sync(a) => rt.block_on(indexes::sync(&connect_options(&args), args.quiet, a)),
        _ => rt.block_on(dispatch(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("jotta: {}", present::one_line(&m));
            ExitCode::from(2)
        }
        Err(Failure::Failed(m)) => {
            eprintln!("jotta: {}", present::one_line(&m));
            ExitCode::from(1)
        }
        Err(Failure::Partial) => ExitCode::from(1),
        Err(Failure::Interrupted) => ExitCode::from(130),
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
    if let Some(ca) = args.ca_cert.as_ref().filter(|p| !p.as_os_str().is_empty()) {
        o.ca_cert = Some(ca.clone());
    }
    o
}

/// A connected client plus the path rule, for the commands that talk to the service.
pub(crate) struct Ctx {
    pub remote: HttpRemote,
    pub quiet: bool,
}

impl Ctx {
    pub async fn path(&self, input: &str) -> Result<RemotePath, Failure> {
        let path = paths::resolve_remote(&self.remote, input).await.map_err(|e| match e {
            RemoteError::InvalidName(m) => Failure::Usage(format!("invalid path: {m}")),
            e => Failure::Failed(e.to_string()),
        })?;
        if path.in_pseudo_mount_point() {
            let mp = path.segments()[..2].join("/");
            return Err(Failure::Usage(format!(
                "/{mp} cannot be opened: Latest, Links and Trash are search results the service lists beside \
                 the mount points, not folders (see `jotta trash` and `jotta share`)"
            )));
        }
        Ok(path)
    }

    /// A failure of making `path` that the service words as "already exists" when a folder above it is
    /// in fact a file: said as that (asked only on this error, one lookup per folder above).
    pub async fn explained(&self, path: &RemotePath, failure: Failure) -> Failure {
        let Failure::Failed(m) = &failure else { return failure };
        if !m.starts_with("already exists") {
            return failure;
        }
        let mut above = path.parent();
        while let Some(p) = above.filter(|p| p.depth() >= 3) {
            if let Ok(crate::remote::Item::File(_)) = crate::remote::Remote::stat(&self.remote, &p).await {
                return Failure::Failed(format!("{p} is a file, not a folder: nothing can be put inside it"));
            }
            above = p.parent();
        }
        failure
    }

    /// `path` for a command that writes below it: refused where the write would create a mount point
    /// on the built-in device (`paths::creates_mount_point`).
    pub async fn write_path(&self, input: &str) -> Result<RemotePath, Failure> {
        let path = self.path(input).await?;
        match paths::creates_mount_point(&self.remote, &path).await? {
            Some(why) => Err(Failure::Usage(why)),
            None => Ok(path),
        }
    }
}

async fn dispatch(args: JottaArgs) -> CmdResult {
    let opts = connect_options(&args);
    match &args.command {
        Command::Login { token } => return account::login(token.as_deref(), args.endpoint.as_deref(), &opts).await,
        Command::Logout => return account::logout(&opts),
        Command::Emulator(_)
        | Command::Status { .. }
        | Command::Scan(_)
        | Command::Index { .. }
        | Command::Archive { .. }
        | Command::Sync(_)
        | Command::Completions { .. }
        | Command::GenerateDocs { .. } => {
            unreachable!("handled before dispatch")
        }
        _ => {}
    }
    let remote = HttpRemote::connect(opts).await?;
    let ctx = Ctx { remote, quiet: args.quiet };
    match args.command {
        Command::Whoami { json } => account::whoami(&ctx, json).await,
        Command::Ls { path, long, recursive, deleted, json } => {
            files::ls(&ctx, &path, files::LsStyle { long, recursive, deleted, json }).await
        }
        Command::Put { local, remote, recursive, jobs, json, links } => {
            files::put(&ctx, &local, &remote, files::Tree { recursive, jobs, json, links }).await
        }
        Command::Get { remote, local, recursive, jobs, json, links } => {
            files::get(&ctx, &remote, local.as_deref(), files::Tree { recursive, jobs, json, links }).await
        }
        Command::Mkdir { path, parents } => files::mkdir(&ctx, &path, parents).await,
        Command::Rm { path, recursive, permanent } => files::rm(&ctx, &path, recursive, permanent).await,
        Command::Mv { from, to } => files::mv(&ctx, &from, &to).await,
        Command::Cp { from, to, recursive } => files::cp(&ctx, &from, &to, recursive).await,
        Command::Cat { path } => files::cat(&ctx, &path).await,
        Command::Share { path } => files::share(&ctx, &path, true).await,
        Command::Unshare { path } => files::share(&ctx, &path, false).await,
        Command::Trash { action: None, json } => history::trash_list(&ctx, json).await,
        Command::Trash { action: Some(TrashAction::Restore { path }), .. } => history::trash_restore(&ctx, &path).await,
        Command::Trash { action: Some(TrashAction::Empty), .. } => history::trash_empty(&ctx).await,
        Command::Revisions { action: Some(RevisionAction::Get { path, number, output }), .. } => {
            history::revision_get(&ctx, &path, number, &output).await
        }
        Command::Revisions { action: Some(RevisionAction::Restore { path, number }), .. } => {
            history::revision_restore(&ctx, &path, number).await
        }
        Command::Revisions { path: Some(path), action: None, json } => history::revisions(&ctx, &path, json).await,
        Command::Revisions { path: None, action: None, .. } => {
            Err(Failure::Usage("revisions: give a file path (jotta revisions /Jotta/Archive/file)".into()))
        }
        Command::Login { .. }
        | Command::Logout
        | Command::Emulator(_)
        | Command::Status { .. }
        | Command::Scan(_)
        | Command::Index { .. }
        | Command::Archive { .. }
        | Command::Sync(_)
        | Command::Completions { .. }
        | Command::GenerateDocs { .. } => {
            unreachable!("handled above")
        }
    }
}

/// Set once stdout refused a line (see `say!`).
static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn say_line(line: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    // Line-buffered: a line goes out (or fails) here.
    if writeln!(out, "{line}").is_err() {
        STDOUT_GONE.store(true, Ordering::Relaxed);
    }
}
