//! Plain data the `Remote` trait speaks in: account, devices, listings, files and revisions.
//! Times are whole Unix seconds (the service keeps 1 s precision); `None` is the service's empty element.

use std::path::PathBuf;

/// Seconds since the Unix epoch, UTC.
pub type UnixTime = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The internal account name used in JFS URLs (not the e-mail address).
    pub username: String,
    pub account_type: String,
    /// Bytes the plan allows; `None` when unlimited (the service sends -1).
    pub capacity: Option<u64>,
    pub usage: u64,
    pub write_locked: bool,
    pub read_locked: bool,
    pub devices: Vec<DeviceInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: String,
    pub display_name: Option<String>,
    /// `JOTTA` for the built-in device, `WORKSTATION`, `LAPTOP`, ... for backup devices.
    pub device_type: String,
    pub sid: Option<String>,
    pub size: u64,
    pub modified: Option<UnixTime>,
}

impl DeviceInfo {
    pub fn is_builtin(&self) -> bool {
        self.device_type.eq_ignore_ascii_case("JOTTA")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPointInfo {
    pub name: String,
    pub size: u64,
    pub modified: Option<UnixTime>,
    /// Deleted mount points are still listed by the service, flagged.
    pub deleted: Option<UnixTime>,
}

/// `GET /jfs/<user>/<device>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceListing {
    pub device: DeviceInfo,
    pub mount_points: Vec<MountPointInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevisionState {
    Completed,
    Incomplete,
    Corrupt,
    /// States other clients name but nobody has seen (`ADDED`, `PROCESSING`).
    Other,
}

impl RevisionState {
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            "COMPLETED" => RevisionState::Completed,
            "INCOMPLETE" => RevisionState::Incomplete,
            "CORRUPT" => RevisionState::Corrupt,
            _ => RevisionState::Other,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            RevisionState::Completed => "COMPLETED",
            RevisionState::Incomplete => "INCOMPLETE",
            RevisionState::Corrupt => "CORRUPT",
            RevisionState::Other => "PROCESSING",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionInfo {
    pub number: u32,
    pub state: RevisionState,
    pub created: Option<UnixTime>,
    pub modified: Option<UnixTime>,
    pub updated: Option<UnixTime>,
    pub mime: Option<String>,
    /// Absent for INCOMPLETE/CORRUPT revisions in listings.
    pub size: Option<u64>,
    /// Lowercase hex (we normalise whatever case the server sends).
    pub md5: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub uuid: Option<String>,
    /// Set when the file is in the trash.
    pub deleted: Option<UnixTime>,
    /// The parent folder as an absolute JFS path (`/<user>/<device>/...`), when the document says it.
    pub abspath: Option<String>,
    /// Newest completed revision: what a download returns.
    pub current: Option<RevisionInfo>,
    /// A newer failed/in-progress attempt (INCOMPLETE or CORRUPT), if any.
    pub latest: Option<RevisionInfo>,
    /// Older revisions, newest first (single-file GET only).
    pub revisions: Vec<RevisionInfo>,
    /// Share secret when the file is publicly shared.
    pub public_uri: Option<String>,
}

impl FileInfo {
    /// A file that a normal tree shows: not deleted and with a completed revision.
    pub fn is_live(&self) -> bool {
        self.deleted.is_none() && self.current.as_ref().map(|r| r.state == RevisionState::Completed).unwrap_or(false)
    }

    pub fn size(&self) -> u64 {
        self.current.as_ref().and_then(|r| r.size).unwrap_or(0)
    }

    pub fn md5(&self) -> Option<&str> {
        self.current.as_ref().and_then(|r| r.md5.as_deref())
    }

    pub fn modified(&self) -> Option<UnixTime> {
        self.current.as_ref().and_then(|r| r.modified)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    pub name: String,
    pub deleted: Option<UnixTime>,
    pub abspath: Option<String>,
    /// Folders carry no time on the service; mount points listed as folders (trash) may.
    pub modified: Option<UnixTime>,
}

/// A folder or mount point listing (`GET` of a container). Deleted children are included, flagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub name: String,
    /// Set when the listed folder itself is in the trash.
    pub deleted: Option<UnixTime>,
    pub is_mount_point: bool,
    pub modified: Option<UnixTime>,
    pub folders: Vec<FolderEntry>,
    pub files: Vec<FileInfo>,
}

/// Whether a delete or move acts on a file or a folder: the service has a verb for each (`dl`/`dlDir`,
/// `mv`/`mvDir`), so the caller says which it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    File,
    Folder,
}

impl ItemKind {
    /// The kind of something known only as "is it a folder" (a journal record, a listing entry).
    pub fn folder_if(is_folder: bool) -> Self {
        if is_folder {
            ItemKind::Folder
        } else {
            ItemKind::File
        }
    }
}

/// What a plain `GET` of a path turned out to be.
// Both variants are plain data returned once per stat; boxing would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    File(FileInfo),
    Folder(Listing),
}

/// One entry of a recursive listing; `parent` is relative to the listed folder ("" for direct children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub parent: String,
    pub name: String,
    pub size: u64,
    pub md5: String,
    pub modified: Option<UnixTime>,
    pub created: Option<UnixTime>,
}

/// `mode=liststream`: every live folder (relative paths, "" excluded) and every live file below a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub folders: Vec<String>,
    pub files: Vec<TreeFile>,
}

/// What to upload: a local file whose size and md5 the caller already knows (the allocate call needs
/// the md5 before any byte is sent). The file is reopened for every attempt, so a retry or resume can seek.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub source: PathBuf,
    pub size: u64,
    pub md5: String,
    pub created: Option<UnixTime>,
    pub modified: Option<UnixTime>,
    /// Read the source without the page cache where the filesystem allows it: for a staging file the
    /// mount wrote that way (`direct_io.rs`), whose bytes are not in the cache to be read from.
    pub uncached: bool,
}

impl UploadRequest {
    /// What every client checks before it allocates: the md5 (lowercase, 32 hex digits), the source's
    /// size still the size that was hashed, and both times (a missing one from the other, else now).
    pub(crate) fn checked(&self, what: &str) -> super::RemoteResult<(String, UnixTime, UnixTime)> {
        use super::RemoteError;
        let md5 = self.md5.trim().to_ascii_lowercase();
        if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RemoteError::Io(format!("{what}: md5 '{}' is not 32 hex digits", self.md5)));
        }
        // The md5 was computed earlier; a file that changed size since cannot match it.
        let local_len = std::fs::metadata(&self.source)
            .map_err(|e| RemoteError::Io(format!("{what}: cannot read {}: {e}", self.source.display())))?
            .len();
        if local_len != self.size {
            return Err(RemoteError::Io(format!(
                "{what}: {} is now {local_len} bytes, not the {} that were hashed; it changed while queued",
                self.source.display(),
                self.size
            )));
        }
        let modified = self.modified.or(self.created).unwrap_or_else(super::time::now);
        Ok((md5, self.created.unwrap_or(modified), modified))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOutcome {
    /// True when allocate answered COMPLETED: the server had the content and no byte was sent.
    pub deduplicated: bool,
    /// Bytes actually sent in this call (after any resume position).
    pub bytes_sent: u64,
    /// Where the server said an earlier attempt had left off.
    pub resumed_from: u64,
    pub file: FileInfo,
}

/// Counts returned by `empty_trash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeCounts {
    pub folders: u64,
    pub files: u64,
}
