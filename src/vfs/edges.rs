//! The edges of what the mount can hold, each with its own answer: `mknod` of a regular file makes an
//! empty file, while FIFOs, sockets and device nodes have no place on JottaCloud (`EPERM`); extended
//! attributes cannot be set (`EOPNOTSUPP`); the account root and devices carry no times (`EROFS`);
//! a truncate to a size the staging disk cannot hold is `EFBIG`, decided before the disk is touched.

use super::error::{FsError, FsResult};
use super::{lock, Attr, InodeKind, JottaFs};
use crate::remote::{Remote, UnixTime};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

impl<R: Remote> JottaFs<R> {
    /// `mknod`: a regular file is created empty and recorded like any closed file; anything else is
    /// refused, because the service stores only files and folders.
    pub fn mknod(&self, parent: u64, name: &str, mode: u32) -> FsResult<Attr> {
        let what = match mode & libc::S_IFMT {
            0 | libc::S_IFREG => {
                let (attr, fh) = self.create(parent, name)?;
                let recorded = self.flush(fh);
                self.release(fh)?;
                recorded?;
                return Ok(attr);
            }
            libc::S_IFIFO => "a FIFO",
            libc::S_IFSOCK => "a socket",
            libc::S_IFCHR | libc::S_IFBLK => "a device node",
            _ => "a special file",
        };
        Err(FsError::NotPermitted(format!("'{name}': JottaCloud cannot hold {what}, only files and folders")))
    }

    /// `setxattr`/`removexattr` are always refused: JottaCloud keeps no extended attributes, and the
    /// `user.jotta.*` ones are what the service reports, read-only. Returns the refusal.
    pub fn xattr_change_refused(&self) -> FsError {
        FsError::Unsupported(
            "JottaCloud keeps no extended attributes; user.jotta.* are read-only (getfattr -d -m user.jotta)",
        )
    }

    /// `setattr` as the kernel sends it: `times` says whether atime or mtime is being set. The refusals
    /// come first, then the change itself.
    pub fn change_attr(&self, ino: u64, size: Option<u64>, mtime: Option<UnixTime>, times: bool) -> FsResult<Attr> {
        if times {
            self.times_settable(ino)?;
        }
        if let Some(size) = size {
            self.staging_can_hold(ino, size)?;
        }
        self.setattr(ino, size, mtime)
    }

    /// The account root and devices are not folders of the service: they have no time to set.
    fn times_settable(&self, ino: u64) -> FsResult<()> {
        match lock(&self.table).get(ino).map(|n| n.kind).ok_or(FsError::NotFound)? {
            InodeKind::Account | InodeKind::Device => {
                Err(FsError::ReadOnly("the account root and devices carry no times".into()))
            }
            InodeKind::Folder | InodeKind::File => Ok(()),
        }
    }

    /// A file truncated to `size` must fit the staging disk: its local copy may be filled up to that
    /// size (the download of the current content, then the md5 pass and the upload read it all). A
    /// sparse staging file would accept any size and fail much later, so ask the disk now.
    pub(super) fn staging_can_hold(&self, ino: u64, size: u64) -> FsResult<()> {
        let Some(journal) = &self.journal else { return Ok(()) };
        let have = {
            let table = lock(&self.table);
            let Some(node) = table.get(ino).filter(|n| n.kind == InodeKind::File) else { return Ok(()) };
            node.local.as_ref().map(|l| l.size).unwrap_or(0)
        };
        if size <= have {
            return Ok(());
        }
        let Some(free) = free_bytes(journal.root()) else { return Ok(()) };
        if size - have > free {
            return Err(FsError::TooBig(format!(
                "a file of {size} bytes does not fit the cache disk ({} has {free} bytes free); free space \
                 there or choose a bigger disk with -o cache_dir",
                journal.root().display()
            )));
        }
        Ok(())
    }
}

/// Bytes an unprivileged writer may still use on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we pass; c is a valid NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}
