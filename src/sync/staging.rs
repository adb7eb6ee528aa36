//! Replacing local files atomically, in two steps: `stage` writes the new content beside the target
//! (`.NAME.jotta-stage`), checks its size and md5 against what was promised, fsyncs it and sets its
//! mtime; `Staged::commit` renames it over the target. Invariant: the target is either the old file or
//! the whole verified new one, never a mix; a staged file that is dropped uncommitted is removed, so a
//! failure leaves nothing half-written behind and a second run starts clean.

use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What the new content must be.
#[derive(Debug, Clone)]
pub struct Promise {
    pub size: u64,
    /// Lowercase hex; `None` skips the check (a plain copy whose source is read once anyway).
    pub md5: Option<String>,
    pub mtime: Option<i64>,
    /// fsync this file before `stage` returns. A caller staging many files passes false and calls
    /// `sync_filesystem` once before the first commit: the same guarantee for one flush instead of one
    /// per file.
    pub fsync: bool,
}

/// A verified new version waiting beside its target.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

pub fn stage_path(target: &Path) -> PathBuf {
    beside(target, "jotta-stage")
}

/// The hidden file the tools write beside `target` before it takes its place: `.NAME.EXT` in the same
/// folder (`jotta-stage`, `jotta-part` for a download, `jotta-tmp` for an index or an archive,
/// `jotta-link` for a link, `jotta-fetch` for the work folder of a remote index).
pub fn beside(target: &Path, ext: &str) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.join(side_name(&name, ext))
}

/// `.NAME.EXT`, kept within the 255 bytes a name may have: a name too long for the additions is cut and
/// told apart from other cut names by a piece of its md5 (a file whose own name is up to 255 bytes long
/// must still be stageable, downloadable, writable).
fn side_name(name: &str, ext: &str) -> String {
    const MAX: usize = 255;
    let whole = format!(".{name}.{ext}");
    if whole.len() <= MAX {
        return whole;
    }
    let tag = &hex::encode(Md5::digest(name.as_bytes()))[..8];
    let mut keep = MAX.saturating_sub(".~.".len() + ext.len() + tag.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!(".{}~{tag}.{ext}", &name[..keep])
}

/// Why staging failed: the new content was not what was promised (or could not be read), or the target
/// side could not take it (`content` false: full disk, a name the filesystem refuses, ...).
#[derive(Debug)]
pub struct StageError {
    pub target: PathBuf,
    pub cause: String,
    pub content: bool,
}

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.target.display(), self.cause)
    }
}

/// Write `content` beside `target` and verify it.
pub fn stage(content: &mut dyn Read, target: &Path, promise: &Promise) -> Result<Staged, StageError> {
    let tmp = stage_path(target);
    // From here on, dropping `staged` (on any error) removes the temporary file.
    let staged = Staged { tmp: tmp.clone(), target: target.to_path_buf(), committed: false };
    let err = |cause: String, content: bool| StageError { target: target.to_path_buf(), cause, content };
    let say = |e: std::io::Error| err(describe(&e), false);
    let mut f = std::fs::File::create(&tmp).map_err(say)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = content.read(&mut buf).map_err(|e| err(format!("reading the new content: {e}"), true))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).map_err(say)?;
        size += n as u64;
    }
    if size != promise.size {
        return Err(err(format!("the new content has {size} bytes, {} were promised", promise.size), true));
    }
    let got = hex::encode(h.finalize());
    if let Some(want) = &promise.md5 {
        if !want.eq_ignore_ascii_case(&got) {
            return Err(err(format!("the new content's md5 is {got}, {want} was promised"), true));
        }
    }
    if promise.fsync {
        f.sync_all().map_err(say)?;
    }
    if let Some(t) = promise.mtime.and_then(|t| u64::try_from(t).ok()) {
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t)).map_err(say)?;
    }
    Ok(staged)
}

impl Staged {
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Put the new version in place (one rename: atomic on the same filesystem).
    pub fn commit(mut self) -> Result<(), String> {
        std::fs::rename(&self.tmp, &self.target).map_err(|e| format!("{}: {}", self.target.display(), describe(&e)))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Flush everything written to the filesystem holding `dir` (syncfs), before staged files are committed.
pub fn sync_filesystem(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir)?;
    // SAFETY: a valid open descriptor for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The longest name, in bytes, the filesystem holding `dir` takes (statvfs `f_namemax`).
pub fn name_max(dir: &Path) -> std::io::Result<usize> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: `st` is plain data written by the call; `c` is a valid NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(usize::try_from(st.f_namemax).unwrap_or(usize::MAX))
}

/// fsync a folder so the renames in it survive a crash.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The OS error with the way out for the common cases.
pub fn describe(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => format!("{e}; free some space and run the command again"),
        Some(libc::ENAMETOOLONG) => format!("{e}; the name is too long for this filesystem"),
        Some(libc::EROFS) => format!("{e}; the target is read-only"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_promise_leaves_the_old_file_and_no_stage() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        std::fs::write(&target, b"old").unwrap();
        let md5 = hex::encode(Md5::digest(b"new"));
        let err =
            stage(&mut &b"nex"[..], &target, &Promise { size: 3, md5: Some(md5.clone()), mtime: None, fsync: true });
        assert!(err.unwrap_err().content);
        assert!(!stage_path(&target).exists());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        let s =
            stage(&mut &b"new"[..], &target, &Promise { size: 3, md5: Some(md5), mtime: Some(1_000_000), fsync: true })
                .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        s.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!stage_path(&target).exists());
    }

    #[test]
    fn the_longest_names_can_be_staged() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a".repeat(255), "é".repeat(127), "x".repeat(242)] {
            for ext in ["jotta-stage", "jotta-part", "jotta-tmp"] {
                let side = side_name(&name, ext);
                assert!(side.len() <= 255 && side.ends_with(&format!(".{ext}")) && side.starts_with('.'), "{side}");
            }
            let target = dir.path().join(&name);
            let s = stage(&mut &b"new"[..], &target, &Promise { size: 3, md5: None, mtime: None, fsync: false });
            s.unwrap().commit().unwrap();
            assert_eq!(std::fs::read(&target).unwrap(), b"new");
        }
        assert_ne!(
            side_name(&"a".repeat(255), "jotta-part"),
            side_name(&format!("{}b", "a".repeat(254)), "jotta-part")
        );
    }
}
