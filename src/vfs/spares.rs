//! Empty files kept for reuse, so that a small file written through the mount costs the cache disk fewer
//! new files. Every new file asks the filesystem for a free inode, and ext4 without a journal (a common
//! VM disk) skips each inode freed in the last seconds (minutes, while its block is unwritten) one by
//! one, so a mount that created and deleted three files per small file (staging file, sealed record,
//! overlay) spent most of a `create()` in that search. Journal files on their way out (records, seals,
//! overlays, all in `trash/` by then) are emptied and kept in `spare/` instead, and new staging files,
//! overlays and temporary records are spares renamed into place: a rename allocates and frees nothing.
//! Seals stay new files: flushing a new file also makes its name durable, a rename's would need the
//! records folder flushed too, which costs a close more than the new file.
//!
//! Staging files are never kept: a reader or an upload may still hold one open after its name is gone,
//! and must never see another file's bytes appear in it. Journal files are only held open by the writer
//! that is filling them; `Writers` lets the thread that empties a file wait until every such writer that
//! may have opened it has finished, so nothing lands in a spare after it was emptied.
//!
//! A rename is durable by other means than a new file (see `journal.rs`): a staging file that came from
//! here has its folder flushed beside its content. Should a power cut leave a spare with a second name,
//! the spare's own name is dropped at the next mount and the file is left alone.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// Spares kept at most: a serial writer takes two per small file and gives two back, so few are needed;
/// the rest of a burst of removals is deleted as before.
const KEEP: usize = 256;

#[derive(Debug)]
pub struct Spares {
    dir: PathBuf,
    state: Mutex<Pool>,
}

#[derive(Debug, Default)]
struct Pool {
    free: Vec<PathBuf>,
    next: u64,
    /// Cleared when this filesystem refuses a rename that must not replace (then every file is new).
    usable: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rename `from` to `to` unless `to` exists.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are valid C strings that outlive the call.
    let rc =
        unsafe { libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_NOREPLACE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Spares {
    /// The spares under `dir` (created if needed), each checked empty and named only there.
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        fs::create_dir_all(&dir)?;
        let mut pool = Pool { usable: true, ..Pool::default() };
        for e in fs::read_dir(&dir)?.flatten() {
            let path = e.path();
            let number = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok());
            let meta = fs::symlink_metadata(&path);
            let keep = match (&number, &meta) {
                (Some(_), Ok(m)) if m.is_file() && m.nlink() == 1 && pool.free.len() < KEEP => {
                    m.len() == 0 || fs::OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(0)).is_ok()
                }
                _ => false,
            };
            if keep {
                pool.next = pool.next.max(number.unwrap_or(0) + 1);
                pool.free.push(path);
            } else if meta.is_ok_and(|m| !m.is_dir()) {
                // Only this name goes: a file that a power cut left named elsewhere too keeps that name.
                let _ = fs::remove_file(&path);
            }
        }
        Ok(Spares { dir, state: Mutex::new(pool) })
    }

    /// Put an empty file at `target`, which must not exist: true when a spare was renamed there. False
    /// when none was left (or `target` exists): the caller creates the file as usual.
    pub fn place(&self, target: &Path) -> bool {
        loop {
            let spare = {
                let mut pool = lock(&self.state);
                if !pool.usable {
                    return false;
                }
                match pool.free.pop() {
                    Some(s) => s,
                    None => return false,
                }
            };
            match rename_noreplace(&spare, target) {
                Ok(()) => return true,
                // Gone meanwhile (removed by hand): try the next.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let mut pool = lock(&self.state);
                    pool.free.push(spare);
                    if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::ENOSYS) {
                        log::debug!("the cache disk cannot rename without replacing; every file is created new");
                        pool.usable = false;
                    }
                    return false;
                }
            }
        }
    }

    /// Keep `path` (a journal file no longer needed, whose writers have all finished) as a spare, emptied;
    /// delete it when enough are kept or it cannot be emptied.
    pub fn keep(&self, path: &Path) {
        use std::os::unix::fs::MetadataExt;
        let number = {
            let mut pool = lock(&self.state);
            if !pool.usable || pool.free.len() >= KEEP {
                None
            } else {
                pool.next += 1;
                Some(pool.next)
            }
        };
        let kept = number.and_then(|n| {
            let f = fs::OpenOptions::new().write(true).open(path).ok()?;
            let meta = f.metadata().ok()?;
            if !meta.is_file() || meta.nlink() != 1 {
                return None;
            }
            f.set_len(0).ok()?;
            let spare = self.dir.join(n.to_string());
            fs::rename(path, &spare).ok()?;
            Some(spare)
        });
        match kept {
            Some(spare) => lock(&self.state).free.push(spare),
            None => {
                let _ = fs::remove_file(path);
            }
        }
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        lock(&self.state).free.len()
    }
}

/// The writers of journal files, counted by the epoch they started in, so that emptying a file can wait
/// for exactly those that may have had it open (see the header) without holding up any that start later.
#[derive(Debug, Default)]
pub struct Writers {
    state: Mutex<Epochs>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct Epochs {
    now: u64,
    /// Writers still at work, by the epoch they started in.
    active: BTreeMap<u64, usize>,
}

/// One writer at work; it counts until dropped.
pub struct Writing<'a> {
    writers: &'a Writers,
    epoch: u64,
}

impl Writers {
    /// Count a writer from before it opens its file until this is dropped.
    pub fn start(&self) -> Writing<'_> {
        let mut s = lock(&self.state);
        let epoch = s.now;
        *s.active.entry(epoch).or_default() += 1;
        Writing { writers: self, epoch }
    }

    /// Wait until every writer that started before this call has finished.
    pub fn wait_for_earlier(&self) {
        let mut s = lock(&self.state);
        let upto = s.now;
        s.now += 1;
        while s.active.keys().next().is_some_and(|e| *e <= upto) {
            s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.writers.state);
        if let Some(n) = s.active.get_mut(&self.epoch) {
            *n -= 1;
            if *n == 0 {
                s.active.remove(&self.epoch);
            }
        }
        self.writers.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn kept_files_come_back_empty_and_a_second_name_is_never_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::open(dir.path().join("spare")).unwrap();
        let old = dir.path().join("old");
        fs::write(&old, b"a record no longer needed").unwrap();
        spares.keep(&old);
        assert!(!old.exists());
        assert_eq!(spares.count(), 1);

        let new = dir.path().join("new");
        assert!(spares.place(&new), "the kept file is reused");
        assert_eq!(fs::read(&new).unwrap(), b"", "and comes back empty");
        assert!(!spares.place(&dir.path().join("more")), "none left: the caller creates");

        // Never over a file that exists.
        spares.keep(&new);
        let taken = dir.path().join("taken");
        fs::write(&taken, b"keep me").unwrap();
        assert!(!spares.place(&taken));
        assert_eq!(fs::read(&taken).unwrap(), b"keep me");
        assert_eq!(spares.count(), 1);

        // A file with a second name is deleted by this name only, never emptied.
        let linked = dir.path().join("linked");
        fs::write(&linked, b"content").unwrap();
        fs::hard_link(&linked, dir.path().join("other name")).unwrap();
        spares.keep(&linked);
        assert_eq!(fs::read(dir.path().join("other name")).unwrap(), b"content");
        assert_eq!(spares.count(), 1);

        // At the next open: a spare that holds bytes is emptied, one named elsewhere too is let go.
        let kept: Vec<PathBuf> = fs::read_dir(dir.path().join("spare")).unwrap().flatten().map(|e| e.path()).collect();
        fs::write(&kept[0], b"written after a crash").unwrap();
        fs::write(dir.path().join("spare/77"), b"x").unwrap();
        fs::hard_link(dir.path().join("spare/77"), dir.path().join("a record")).unwrap();
        let again = Spares::open(dir.path().join("spare")).unwrap();
        assert_eq!(again.count(), 1);
        assert_eq!(fs::read(&kept[0]).unwrap(), b"");
        assert_eq!(fs::read(dir.path().join("a record")).unwrap(), b"x");
    }

    #[test]
    fn waiting_for_earlier_writers_ignores_later_ones() {
        let writers = Arc::new(Writers::default());
        let early = writers.start();
        let (tx, rx) = std::sync::mpsc::channel();
        let w = writers.clone();
        let waiter = std::thread::spawn(move || {
            w.wait_for_earlier();
            tx.send(()).unwrap();
        });
        std::thread::sleep(Duration::from_millis(100));
        // A writer that starts after the wait began does not hold it up.
        let _late = loop {
            let late = writers.start();
            if late.epoch > early.epoch {
                break late;
            }
            drop(late);
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "still waiting for the early writer");
        drop(early);
        rx.recv_timeout(Duration::from_secs(5)).expect("done once the early writer finished");
        waiter.join().unwrap();
    }
}
