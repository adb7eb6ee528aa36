//! The terminal tools' logic, built on `Remote` (never on `vfs`): the path rule of the command line
//! (`paths`), trees and single files in both directions (`transfer`, `download`), the trash (`trash`) and
//! old revisions (`revisions`), and the one-way backup mirror of `jotta scan` (`scan*`, `checksum_cache`,
//! `exclude`), and the seed's synchronisation by file indexes: the index and its format (`index`,
//! `index_build`, `index_diff`), offline archives (`archive`, `archive_remote`; applied to a local folder
//! by `archive_apply` and `staging`, to a remote one by `archive_apply_remote`) and online sync
//! (`online`). Presentation stays in `cli/`: these functions report what happened through `Event`s and
//! return typed errors whose one-line `Display` names the path and the cause.

pub mod archive;
pub mod archive_apply;
pub mod archive_apply_remote;
pub mod archive_remote;
pub mod case_renames;
pub mod checksum_cache;
pub mod download;
pub mod exclude;
pub mod index;
pub mod index_build;
pub mod index_diff;
pub mod links;
pub mod local_target;
pub mod online;
pub mod paths;
pub mod revisions;
pub mod scan;
pub mod scan_guard;
pub mod scan_local;
pub mod scan_report;
pub mod scan_run;
pub mod staging;
pub mod stop;
pub mod transfer;
pub mod trash;

use crate::remote::RemoteError;
use std::fmt;
use std::path::PathBuf;

/// Why a tool operation failed. `Usage` is the caller's mistake (exit code 2); the rest exit 1.
#[derive(Debug)]
pub enum SyncError {
    /// The service refused or failed; its message names the remote path.
    Remote(RemoteError),
    /// A local file or folder could not be read or written.
    Local { path: PathBuf, cause: String },
    /// The request makes no sense as given (a folder without `-r`, a path outside any mount point).
    Usage(String),
}

pub type SyncResult<T> = Result<T, SyncError>;

impl SyncError {
    pub fn local(path: impl Into<PathBuf>, cause: impl fmt::Display) -> Self {
        SyncError::Local { path: path.into(), cause: cause.to_string() }
    }

    pub fn is_usage(&self) -> bool {
        matches!(self, SyncError::Usage(_))
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Remote(e) => write!(f, "{e}"),
            // Names and causes may come from an archive or a server: a line break or an escape sequence
            // in them must not break the one-line message or drive the terminal.
            SyncError::Local { path, cause } => {
                write!(f, "{}: {}", printable(&path.display().to_string()), printable(cause))
            }
            SyncError::Usage(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for SyncError {}

/// `s` with control characters written as escapes (`\n`, `\u{1b}`): names shown one per line (by `ls`,
/// by the lines of a transfer) may hold any character but `/`, and a line break in one must not make two
/// lines of it, nor an escape sequence drive the terminal.
pub(crate) fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(char::is_control) {
        return s.into();
    }
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

impl From<RemoteError> for SyncError {
    fn from(e: RemoteError) -> Self {
        SyncError::Remote(e)
    }
}

/// A display of a long operation's advance (the terminal's progress bar, drawn by `cli`); bytes in
/// transit reach it through `remote::progress`, the rest through these calls.
pub trait ProgressView: Send + Sync {
    /// A new stage: `files` to handle, `bytes` to move (0 when the stage counts files only).
    fn stage(&self, what: &str, files: u64, bytes: u64);
    /// One more file compared (a stage that counts files).
    fn compared(&self);
    /// One more file done; `unsent` of its bytes did not travel (unchanged, deduplicated, resumed).
    fn file_done(&self, unsent: u64);
    /// Run `print` with the display out of its way.
    fn suspend(&self, print: &mut dyn FnMut());
    fn finish(&self);
}

/// One thing a tree operation did, for the caller to show as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Content sent (`bytes` actually travelled; fewer than `size` after a resume).
    Uploaded { path: String, size: u64, bytes: u64 },
    /// The server had the content already (md5 dedupe): nothing sent.
    Deduplicated { path: String, size: u64 },
    /// Identical on both sides: nothing done.
    Skipped { path: String, size: u64 },
    /// Same content, only the time differed: set with a metadata call.
    TimeSet { path: String, size: u64 },
    /// Bytes fetched (`bytes` travelled; fewer than `size` when a partial download was resumed).
    Downloaded { path: String, size: u64, bytes: u64 },
    /// A folder created.
    Created { path: String },
    /// Not a regular file or folder (symlink, socket, device): left alone.
    Ignored { path: String, why: String },
    /// This item failed; the rest went on.
    Failed { path: String, error: String },
    /// The work ahead, known once the trees are walked and listed: files to consider and their bytes
    /// (what a progress display measures against; no file is done by it).
    Planned { files: u64, bytes: u64 },
}

/// Totals of a tree operation; `failed > 0` means a partial result (exit code 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub transferred: u64,
    pub deduplicated: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
    /// Stopped by a signal before every file was started; the next run finishes the job.
    pub interrupted: bool,
}

impl Summary {
    pub fn add(&mut self, e: &Event) {
        match e {
            Event::Uploaded { bytes, .. } | Event::Downloaded { bytes, .. } => {
                self.transferred += 1;
                self.bytes += bytes;
            }
            Event::Deduplicated { .. } => self.deduplicated += 1,
            Event::Skipped { .. } | Event::TimeSet { .. } => self.skipped += 1,
            Event::Failed { .. } => self.failed += 1,
            Event::Created { .. } | Event::Ignored { .. } | Event::Planned { .. } => {}
        }
    }
}
