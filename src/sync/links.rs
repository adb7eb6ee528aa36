//! Symbolic links for `put`, `get` and `scan` under `--links`, in rclone's convention
//! (`remote/rclonelink.rs`): a local link `NAME` is uploaded as the file `NAME.rclonelink` holding its
//! target; such a file comes back as the link. A link is never followed. Locally a link is replaced
//! atomically (made under a temporary name, then renamed over), so nothing half-made is left.

use super::{Event, SyncError, SyncResult};
use crate::remote::rclonelink::{check_target, MAX_TARGET};
use crate::remote::{Remote, RemotePath, UnixTime, UploadRequest};
use futures_util::StreamExt;
use md5::{Digest, Md5};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A local link ready to upload: the request reads its target from a temporary file that lives as
/// long as this value.
pub struct StagedLink {
    pub req: UploadRequest,
    _file: tempfile::NamedTempFile,
}

/// The target of the local link at `path`, as bytes.
pub fn target_of(path: &Path) -> std::io::Result<Vec<u8>> {
    Ok(std::fs::read_link(path)?.as_os_str().as_bytes().to_vec())
}

/// Stage the link at `path` for upload (its lstat mtime becomes the file's time).
pub fn stage(path: &Path) -> SyncResult<StagedLink> {
    let local = |e: std::io::Error| SyncError::local(path, e);
    let meta = std::fs::symlink_metadata(path).map_err(local)?;
    let target = target_of(path).map_err(local)?;
    let mut file = tempfile::NamedTempFile::new().map_err(local)?;
    file.write_all(&target).map_err(local)?;
    file.flush().map_err(local)?;
    let mtime = Some(std::os::unix::fs::MetadataExt::mtime(&meta));
    let req = UploadRequest {
        source: file.path().to_path_buf(),
        size: target.len() as u64,
        md5: hex::encode(Md5::digest(&target)),
        created: mtime,
        modified: mtime,
        uncached: false,
    };
    Ok(StagedLink { req, _file: file })
}

/// Make `local` a link to the content of the remote link file `path` (`size` bytes), unless it is one
/// already. An existing file or link there is replaced; a folder is not.
pub async fn fetch<R: Remote>(
    remote: &R,
    path: &RemotePath,
    size: u64,
    modified: Option<UnixTime>,
    local: &Path,
) -> Event {
    let shown = local.display().to_string();
    match fetch_inner(remote, path, size, modified, local).await {
        Ok(e) => e,
        Err(e) => Event::Failed { path: shown, error: e.to_string() },
    }
}

async fn fetch_inner<R: Remote>(
    remote: &R,
    path: &RemotePath,
    size: u64,
    modified: Option<UnixTime>,
    local: &Path,
) -> SyncResult<Event> {
    let shown = local.display().to_string();
    if size == 0 || size > MAX_TARGET as u64 {
        let why = format!("{path} holds {size} bytes: not a link target (1 to {MAX_TARGET} bytes)");
        return Err(SyncError::local(local, why));
    }
    let mut body = remote.download(path, None).await?;
    let mut target = Vec::with_capacity(size as usize);
    while let Some(piece) = body.next().await {
        target.extend_from_slice(&piece?);
        if target.len() > MAX_TARGET {
            let why = format!("{path}: the link target is longer than {MAX_TARGET} bytes");
            return Err(SyncError::local(local, why));
        }
    }
    check_target(&target).map_err(|why| SyncError::local(local, format!("{path}: {why}")))?;
    if target_of(local).is_ok_and(|t| t == target) {
        return Ok(Event::Skipped { path: shown, size });
    }
    if std::fs::symlink_metadata(local).is_ok_and(|m| m.is_dir()) {
        return Err(SyncError::local(local, "a folder is in the way of the link"));
    }
    let temp = temp_name(local);
    let _ = std::fs::remove_file(&temp);
    let os_target = std::ffi::OsStr::from_bytes(&target);
    std::os::unix::fs::symlink(os_target, &temp).map_err(|e| SyncError::local(local, e))?;
    if let Some(t) = modified {
        set_link_mtime(&temp, t);
    }
    if let Err(e) = std::fs::rename(&temp, local) {
        let _ = std::fs::remove_file(&temp);
        return Err(SyncError::local(local, e));
    }
    Ok(Event::Downloaded { path: shown, size, bytes: size })
}

/// Where a link is made before it is renamed into place.
fn temp_name(local: &Path) -> PathBuf {
    super::staging::beside(local, "jotta-link")
}

/// The link's own time (not its target's), as the server keeps it; best effort, as `cp -a` does.
fn set_link_mtime(link: &Path, t: UnixTime) {
    let Ok(c) = std::ffi::CString::new(link.as_os_str().as_bytes()) else { return };
    let ts = libc::timespec { tv_sec: t as libc::time_t, tv_nsec: 0 };
    let times = [ts, ts];
    // SAFETY: a valid NUL-terminated path and two timespecs, as utimensat expects.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if r != 0 {
        log::debug!("{}: cannot set the link's time: {}", link.display(), std::io::Error::last_os_error());
    }
}
