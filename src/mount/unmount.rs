//! Ending our own mount on request: unmount it where it is still attached (plainly, lazily when busy),
//! and end the kernel connection when processes keep a detached mount alive, so that a stop request
//! always ends the FUSE session (and the daemon goes on to drain and exit).
//!
//! Invariant: only our own mount and our own connection are ever touched. The mount is recognised by
//! its device number, never by its path alone: after a lazy unmount another mount may sit on that path.
//! The connection is aborted only while our session still runs (the caller's promise), because the
//! kernel reuses a connection's number once it is gone.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where our mount is, and the device number that is its identity (`major:minor` in mountinfo; the
/// minor number is also the kernel's name for the FUSE connection under fusectl).
#[derive(Debug, Clone)]
pub struct OwnMount {
    path: PathBuf,
    dev: Option<String>,
}

impl OwnMount {
    /// Record the mount just made on `path` (call right after mounting, before anyone can stack
    /// another mount on top of it).
    pub fn find(path: &Path) -> Self {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        OwnMount { path: path.to_path_buf(), dev: dev_of(&info, path) }
    }

    /// The `major:minor` of the mount, as in /proc/self/mountinfo (for the kernel read-ahead knob).
    pub fn dev(&self) -> Option<&str> {
        self.dev.as_deref()
    }

    /// Whether our mount is still attached at its path.
    fn attached(&self) -> bool {
        let Some(dev) = &self.dev else { return super::checks::is_mounted(&self.path) };
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let attached = mounts(&info).any(|(d, p)| &d == dev && Path::new(&p) == self.path);
        attached
    }

    /// End the session: unmount where still attached; if processes keep the mount busy (or someone
    /// already detached it while they do), end the kernel connection so the session ends anyway. Those
    /// processes then get ENOTCONN; nothing a `close()` acknowledged is lost, it is in the journal.
    /// Call only while the session still runs.
    pub fn stop(&self) {
        if self.attached() {
            match plain_unmount(&self.path) {
                Ok(()) => {
                    log::info!("unmounted {}", self.path.display());
                    return;
                }
                Err(e) => log::info!("{} is busy ({e}); detaching it and ending the connection", self.path.display()),
            }
            if let Err(e) = lazy_unmount(&self.path) {
                log::warn!("cannot detach {}: {e}", self.path.display());
            }
        } else {
            log::info!("{} was detached but is still in use; ending the connection", self.path.display());
        }
        match self.abort_connection() {
            Ok(()) => log::info!("ended the FUSE connection of {}", self.path.display()),
            Err(e) => log::warn!(
                "cannot end the FUSE connection of {} ({e}); the daemon ends when the last process leaves \
                 the mount, or at once on a second SIGTERM/SIGINT",
                self.path.display()
            ),
        }
    }

    /// Abort our connection through fusectl (`/sys/fs/fuse/connections/N/abort`, writable by the
    /// mount's owner). Where fusectl is not mounted, root mounts a private instance for the moment.
    fn abort_connection(&self) -> Result<(), String> {
        let minor = self
            .dev
            .as_deref()
            .and_then(|d| d.split_once(':'))
            .map(|(_, m)| m.to_string())
            .ok_or("the mount's device number is unknown")?;
        let system = Path::new("/sys/fs/fuse/connections");
        if system.join(&minor).exists() {
            return write_abort(&system.join(&minor));
        }
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("fusectl is not mounted on /sys/fs/fuse/connections".into());
        }
        // A private mount point of our own for the moment (the pid keeps two daemons apart).
        let dir = std::env::temp_dir().join(format!("jottafuse-fusectl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        let target = cstring(&dir)?;
        // SAFETY: NUL-terminated strings that outlive the call; fusectl takes no data.
        let rc = unsafe { libc::mount(c"fusectl".as_ptr(), target.as_ptr(), c"fusectl".as_ptr(), 0, std::ptr::null()) };
        let result = if rc == 0 {
            let r = write_abort(&dir.join(&minor));
            // SAFETY: the path we just mounted on.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
            r
        } else {
            Err(format!("cannot mount fusectl: {}", std::io::Error::last_os_error()))
        };
        let _ = std::fs::remove_dir(&dir);
        result
    }
}

fn write_abort(conn: &Path) -> Result<(), String> {
    std::fs::write(conn.join("abort"), b"1").map_err(|e| format!("{}: {e}", conn.join("abort").display()))
}

fn cstring(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| format!("{} contains NUL", path.display()))
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Unmount unless busy: directly as root, through fusermount3 otherwise.
fn plain_unmount(path: &Path) -> std::io::Result<()> {
    if is_root() {
        let c = cstring(path).map_err(std::io::Error::other)?;
        // SAFETY: c is a valid NUL-terminated path.
        if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(e);
        }
    }
    fusermount(path, false)
}

/// Detach the mount now; it lives on for the processes still inside.
fn lazy_unmount(path: &Path) -> std::io::Result<()> {
    if is_root() {
        let c = cstring(path).map_err(std::io::Error::other)?;
        // SAFETY: c is a valid NUL-terminated path.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
            return Ok(());
        }
    }
    fusermount(path, true)
}

fn fusermount(path: &Path, lazy: bool) -> std::io::Result<()> {
    let mut cmd = Command::new("fusermount3");
    cmd.arg("-u").arg("-q");
    if lazy {
        cmd.arg("-z");
    }
    let out = cmd.arg("--").arg(path).output()?;
    if out.status.success() {
        Ok(())
    } else {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(std::io::Error::other(if why.is_empty() { format!("fusermount3 exited with {}", out.status) } else { why }))
    }
}

/// (device, mount point) of every mount in a mountinfo text, mount points unescaped.
fn mounts(info: &str) -> impl Iterator<Item = (String, String)> + '_ {
    info.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.len() > 4).then(|| (f[2].to_string(), super::checks::unescape(f[4])))
    })
}

/// The device of the topmost mount on `path` (the last one listed).
fn dev_of(info: &str, path: &Path) -> Option<String> {
    mounts(info).filter(|(_, p)| Path::new(p) == path).last().map(|(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/root rw
61 22 0:53 / /home/u/jotta\\040cloud rw,nosuid,nodev - fuse.jottafuse jotta:/ rw,user_id=0,group_id=0
75 61 0:60 / /home/u/jotta\\040cloud rw,nosuid,nodev - fuse.jottafuse jotta:/ rw,user_id=0,group_id=0
";

    #[test]
    fn the_topmost_mount_on_a_path_is_ours() {
        assert_eq!(dev_of(INFO, Path::new("/home/u/jotta cloud")).as_deref(), Some("0:60"));
        assert_eq!(dev_of(INFO, Path::new("/")).as_deref(), Some("0:21"));
        assert_eq!(dev_of(INFO, Path::new("/elsewhere")), None);
    }
}
