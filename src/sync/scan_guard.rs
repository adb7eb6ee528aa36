//! Scans that must not run: one whose target overlaps the scanned folder (a folder inside a jottafuse
//! mount that shows the target itself: the scan would upload its own uploads), and a second scan of the
//! same target while one runs (an flock on `$XDG_CACHE_HOME/jottafuse/scan/locks/<target>.lock`, released
//! by the kernel when the process ends however it ends).

use crate::remote::RemotePath;
use md5::{Digest, Md5};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Refuse a scan of `local` (canonical) to `target` when `local` lies in a running jottafuse mount
/// (of this user's cache dir) and its remote path and `target` contain one another.
pub fn check_overlap(cache_base: &Path, local: &Path, target: &RemotePath) -> Result<(), String> {
    for m in crate::mount::status::read_all(cache_base) {
        let mp = Path::new(&m.mountpoint);
        let Ok(rel) = local.strip_prefix(mp) else { continue };
        let mut shown = m.root.trim_end_matches('/').to_string();
        for c in rel.components() {
            shown.push('/');
            shown.push_str(&c.as_os_str().to_string_lossy());
        }
        let Ok(seen) = RemotePath::parse(&shown) else { continue };
        if target.starts_with(&seen) || seen.starts_with(target) {
            return Err(format!(
                "{} is {seen} on JottaCloud (through the mount at {}), which overlaps the target {target}; \
                 scan a local folder into a target outside it",
                local.display(),
                m.mountpoint
            ));
        }
    }
    Ok(())
}

/// Held for as long as the scan runs.
pub struct TargetLock {
    _file: std::fs::File,
}

pub fn lock_target(cache_base: &Path, target: &RemotePath) -> Result<TargetLock, String> {
    let dir = cache_base.join("scan").join("locks");
    crate::private::create_folder(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key = hex::encode(Md5::digest(target.to_string().to_lowercase().as_bytes()));
    let path = dir.join(format!("{key}.lock"));
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(&path)
    }
    .map_err(|e| format!("cannot open the scan lock {}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(format!(
            "another `jotta scan` into {target} is running (lock {}); wait for it or stop it first",
            path.display()
        ));
    }
    Ok(TargetLock { _file: file })
}
