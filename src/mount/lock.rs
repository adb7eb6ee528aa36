//! One process per directory it owns: an account's journal and staging files (its folder under the
//! cache dir), the demo account's data. The owner holds an exclusive `flock` on `<dir>/lock` for its
//! whole life and describes itself beside it in `<dir>/owner.json` (pid, mount point, serving or
//! draining), so that a daemon turned away can say whom it waits for or why it refuses.
//!
//! Invariants: the lock dies with its process, `kill -9` included (the kernel drops it with the last
//! descriptor; ours is close-on-exec, so no helper program inherits it). The note is replaced whole
//! (temp file, rename), written only while its writer holds the lock, and read only while someone
//! else does; a note whose process is gone, or none at all, means the owner has not described itself
//! yet (it is read again for a moment) or is not known.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Mounted (or about to be): the directory is in use for as long as the mount is.
    Serving,
    /// Unmounted, finishing its uploads; it lets go when they are done (or left for the next mount).
    Draining,
}

/// Who holds a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub mountpoint: String,
    pub phase: Phase,
}

impl Owner {
    /// This process, serving `mountpoint`.
    pub fn me(mountpoint: &Path) -> Self {
        Owner { pid: std::process::id(), mountpoint: mountpoint.display().to_string(), phase: Phase::Serving }
    }
}

/// A held lock on a directory; released when dropped or when the process ends.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    note: PathBuf,
    owner: Owner,
}

impl DirLock {
    /// Take the lock on `dir` (created if missing) if it is free; otherwise say who holds it (None
    /// when the holder has not described itself).
    pub fn try_take(dir: &Path, me: &Owner) -> io::Result<Result<DirLock, Option<Owner>>> {
        let file = open_lock_file(dir)?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB)? {
            return Ok(Ok(DirLock::held(file, dir, me)?));
        }
        Ok(Err(holder(dir)))
    }

    /// Wait until `dir` is free, then take it.
    pub fn take(dir: &Path, me: &Owner) -> io::Result<DirLock> {
        let file = open_lock_file(dir)?;
        while !flock(&file, libc::LOCK_EX)? {}
        DirLock::held(file, dir, me)
    }

    fn held(file: File, dir: &Path, me: &Owner) -> io::Result<DirLock> {
        let lock = DirLock { _file: file, note: dir.join("owner.json"), owner: me.clone() };
        lock.write_note()?;
        Ok(lock)
    }

    /// Say that this owner has moved on to another phase (serving -> draining).
    pub fn set_phase(&mut self, phase: Phase) {
        self.owner.phase = phase;
        if let Err(e) = self.write_note() {
            log::warn!("cannot update {}: {e}", self.note.display());
        }
    }

    fn write_note(&self) -> io::Result<()> {
        let tmp = self.note.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.owner).map_err(io::Error::other)?)?;
        std::fs::rename(tmp, &self.note)
    }
}

fn open_lock_file(dir: &Path) -> io::Result<File> {
    std::fs::create_dir_all(dir)?;
    // Never truncated or replaced: the lock lives on this file's inode.
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dir.join("lock"))
}

/// flock; Ok(false) when it would block (LOCK_NB) or was interrupted by a signal.
fn flock(file: &File, op: i32) -> io::Result<bool> {
    // SAFETY: a descriptor we own for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => Ok(false),
        _ => Err(e),
    }
}

/// The holder's note, once it names a live process (a holder that just took the lock may not have
/// written it yet, and one left by an earlier owner names a process that is gone).
fn holder(dir: &Path) -> Option<Owner> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let note = std::fs::read(dir.join("owner.json")).ok().and_then(|b| serde_json::from_slice::<Owner>(&b).ok());
        // SAFETY: kill with signal 0 only checks that the process exists.
        if let Some(o) = note.filter(|o| unsafe { libc::kill(o.pid as i32, 0) } == 0) {
            return Some(o);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The account's journal and staging folder for this daemon: refused while another daemon serves a
/// mount from it; waited for (saying so once, through `say`) while another only drains it.
pub fn own_account_dir(dir: &Path, me: &Owner, say: impl Fn(&str)) -> Result<DirLock, String> {
    let cannot = |e: io::Error| format!("cannot lock the cache folder {}: {e}", dir.display());
    match DirLock::try_take(dir, me).map_err(cannot)? {
        Ok(lock) => Ok(lock),
        Err(Some(other)) if other.phase == Phase::Draining => {
            say(&format!(
                "waiting for jottafuse pid {} (unmounted from {}) to finish uploading this account's \
                 files; this mount starts when it is done (stop it with `kill {}` to leave them to this mount)",
                other.pid, other.mountpoint, other.pid
            ));
            DirLock::take(dir, me).map_err(cannot)
        }
        Err(Some(other)) => Err(format!(
            "this account is already mounted by jottafuse pid {} on {}; use that mount, or unmount it first \
             (`fusermount3 -u {}`)",
            other.pid, other.mountpoint, other.mountpoint
        )),
        Err(None) => Err(format!(
            "the cache folder {} is in use by another jottafuse process; unmount the other mount of this \
             account first",
            dir.display()
        )),
    }
}

/// The demo account's data folder: refused while another demo daemon runs, serving or draining (two
/// emulators on one data folder would overwrite each other's store).
pub fn own_demo_dir(dir: &Path, me: &Owner) -> Result<DirLock, String> {
    match DirLock::try_take(dir, me).map_err(|e| format!("cannot lock the demo folder {}: {e}", dir.display()))? {
        Ok(lock) => Ok(lock),
        Err(Some(other)) if other.phase == Phase::Serving => Err(format!(
            "the demo account is already mounted by jottafuse pid {} on {}; use that mount, or unmount it \
             first (`fusermount3 -u {}`)",
            other.pid, other.mountpoint, other.mountpoint
        )),
        Err(Some(other)) => Err(format!(
            "the demo account is still in use by jottafuse pid {} (finishing its uploads after unmounting \
             {}); mount it again once that process has ended",
            other.pid, other.mountpoint
        )),
        Err(None) => Err(format!("the demo folder {} is in use by another jottafuse process", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn owner(mnt: &str) -> Owner {
        Owner::me(Path::new(mnt))
    }

    #[test]
    fn a_second_owner_is_told_who_holds_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::try_take(dir.path(), &owner("/mnt/one")).unwrap().expect("free at first");
        let other = DirLock::try_take(dir.path(), &owner("/mnt/two")).unwrap().expect_err("held");
        assert_eq!(other, Some(owner("/mnt/one")));
        drop(first);
        assert!(DirLock::try_take(dir.path(), &owner("/mnt/two")).unwrap().is_ok(), "free once dropped");
    }

    #[test]
    fn a_serving_account_is_refused_naming_the_pid_and_mount_point() {
        let dir = tempfile::tempdir().unwrap();
        let _first = own_account_dir(dir.path(), &owner("/mnt/one"), |_| {}).unwrap();
        let err = own_account_dir(dir.path(), &owner("/mnt/two"), |m| panic!("must not wait: {m}")).unwrap_err();
        assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("/mnt/one"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn a_draining_account_is_waited_for_saying_so_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = own_account_dir(dir.path(), &owner("/mnt/one"), |_| {}).unwrap();
        first.set_phase(Phase::Draining);
        let (said, heard) = mpsc::channel();
        let path = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            own_account_dir(&path, &owner("/mnt/two"), |m| said.send(m.to_string()).unwrap()).map(|_| ())
        });
        let message = heard.recv_timeout(Duration::from_secs(30)).expect("says it waits");
        assert!(message.contains("waiting") && message.contains("/mnt/one"), "{message}");
        assert!(!second.is_finished(), "waits while the first holds the folder");
        drop(first);
        second.join().unwrap().expect("takes the folder once the first is done");
        assert!(heard.try_recv().is_err(), "said once");
        let note: Owner = serde_json::from_slice(&std::fs::read(dir.path().join("owner.json")).unwrap()).unwrap();
        assert_eq!(note.mountpoint, "/mnt/two", "the new owner describes itself");
    }

    #[test]
    fn a_demo_folder_in_use_is_refused_in_either_phase() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = own_demo_dir(dir.path(), &owner("/mnt/demo")).unwrap();
        assert!(own_demo_dir(dir.path(), &owner("/mnt/b")).unwrap_err().contains("already mounted"));
        first.set_phase(Phase::Draining);
        assert!(own_demo_dir(dir.path(), &owner("/mnt/b")).unwrap_err().contains("still in use"));
        drop(first);
        assert!(own_demo_dir(dir.path(), &owner("/mnt/b")).is_ok());
    }
}
