//! One file from the server to a local path, resumable. Invariants: the bytes go to `.NAME.jotta-part`
//! beside the target (mode 0600), which is kept when a download is interrupted, so the next attempt (in
//! this run after a dropped connection, or the next `jotta get`) asks only for the bytes after it; the
//! target appears by rename only once the whole file's md5 matches the server's, with the server's mtime.
//! A part left by other content fails that check and is fetched again from the start, once.

use super::{SyncError, SyncResult};
use crate::remote::{FileInfo, Remote, RemoteError, RemotePath, UnixTime};
use futures_util::StreamExt;
use md5::{Digest, Md5};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Attempts in one run when the connection drops mid-body; each resumes where the last one stopped.
const ATTEMPTS: u32 = 3;

/// What to fetch: the current revision, or an older one by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Current,
    Revision(u32),
}

/// What to expect of the bytes (from the file document or the revision listing).
#[derive(Debug, Clone)]
pub struct Expected {
    pub size: u64,
    pub md5: Option<String>,
    pub modified: Option<UnixTime>,
}

impl Expected {
    pub fn of(file: &FileInfo) -> Self {
        Expected { size: file.size(), md5: file.md5().map(str::to_string), modified: file.modified() }
    }
}

/// The partial download of `target`.
pub fn part_path(target: &Path) -> PathBuf {
    super::staging::beside(target, "jotta-part")
}

/// Fetch into `target`; returns the bytes that travelled (fewer than the size after a resume).
pub async fn fetch<R: Remote>(
    remote: &R,
    path: &RemotePath,
    version: Version,
    expect: &Expected,
    target: &Path,
) -> SyncResult<u64> {
    let part = part_path(target);
    let mut file = open_part(&part)?;
    let mut travelled = 0;
    let mut restarted = false;
    loop {
        let (have, mut hasher) = hash_prefix(&mut file, &part, expect.size)?;
        let resumed = have > 0;
        travelled += fill(remote, path, version, expect.size, &mut file, &part, have, &mut hasher).await?;
        let got = hex::encode(hasher.finalize());
        match &expect.md5 {
            Some(want) if !want.eq_ignore_ascii_case(&got) => {
                file.set_len(0).map_err(|e| SyncError::local(&part, e))?;
                if resumed && !restarted {
                    // The part held other content (the file changed on the server since): start over.
                    restarted = true;
                    continue;
                }
                drop(file);
                let _ = std::fs::remove_file(&part);
                return Err(SyncError::Remote(RemoteError::Transient(format!(
                    "{path}: downloaded md5 {got} differs from the server's {want}; try again"
                ))));
            }
            _ => break,
        }
    }
    file.sync_all().map_err(|e| SyncError::local(&part, e))?;
    if let Some(t) = expect.modified.and_then(|t| u64::try_from(t).ok()) {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t);
        file.set_modified(when).map_err(|e| SyncError::local(&part, e))?;
    }
    drop(file);
    use std::os::unix::fs::PermissionsExt;
    let mode = 0o666 & !crate::private::current_umask();
    std::fs::set_permissions(&part, std::fs::Permissions::from_mode(mode)).map_err(|e| SyncError::local(&part, e))?;
    std::fs::rename(&part, target).map_err(|e| SyncError::local(target, e))?;
    Ok(travelled)
}

fn open_part(part: &Path) -> SyncResult<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // The partial download is the user's alone until it is complete and verified.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(part)
        .map_err(|e| SyncError::local(part, e))
}

/// Hash what the part already holds (a part longer than the file is stale and dropped); leaves the
/// cursor at its end.
fn hash_prefix(file: &mut File, part: &Path, size: u64) -> SyncResult<(u64, Md5)> {
    let io = |e| SyncError::local(part, e);
    let len = file.metadata().map_err(io)?.len();
    if len > size {
        file.set_len(0).map_err(io)?;
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut have = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        have += n as u64;
    }
    Ok((have, h))
}

/// Append the bytes from `have` to `size`, resuming after dropped connections; returns bytes fetched.
#[allow(clippy::too_many_arguments)]
async fn fill<R: Remote>(
    remote: &R,
    path: &RemotePath,
    version: Version,
    size: u64,
    file: &mut File,
    part: &Path,
    mut have: u64,
    hasher: &mut Md5,
) -> SyncResult<u64> {
    let mut fetched = 0;
    let mut attempt = 0;
    let tally = crate::remote::progress::current();
    while have < size {
        attempt += 1;
        let range = Some(have..size);
        let stream = match version {
            Version::Current => remote.download(path, range).await,
            Version::Revision(n) => remote.download_revision(path, n, range).await,
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) if e.is_transient() && attempt < ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        };
        let mut failed = None;
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(bytes) => {
                    hasher.update(&bytes);
                    file.write_all(&bytes).map_err(|e| SyncError::local(part, e))?;
                    have += bytes.len() as u64;
                    fetched += bytes.len() as u64;
                    if let Some(t) = &tally {
                        t(bytes.len() as u64);
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // Keep what arrived: the next attempt (or the next run) starts after it.
        file.flush().map_err(|e| SyncError::local(part, e))?;
        match failed {
            Some(e) if e.is_transient() && attempt < ATTEMPTS => {
                log::info!("{path}: {e}; resuming at byte {have}");
            }
            Some(e) => return Err(e.into()),
            None if have < size => {
                return Err(SyncError::Remote(RemoteError::Transient(format!(
                    "{path}: the server sent {have} of {size} bytes; run the command again to resume"
                ))))
            }
            None => {}
        }
    }
    Ok(fetched)
}
